#!/usr/bin/env bash
# Quick start, command 2: install what the tests need and run the whole suite.
# The datasets the tests read are found by datasets/index.ts, or fetched (npm run datasets).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bash scripts/system-deps.sh --test
use_project_node
echo "Node.js $(node --version)"
install_npm_packages
npm run -s datasets -- ensure
build_if_changed
npm run typecheck
npm test
