#!/usr/bin/env bash
# Quick start, command 1: install what the demo line needs, build, and run it.
# The review page is then on http://127.0.0.1:8080 (Ctrl-C stops the line).
# A second start skips every install and build step whose inputs did not change.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bash scripts/system-deps.sh
use_project_node
install_npm_packages
build_if_changed
exec node bin/visor.js run "$@"
