#!/usr/bin/env bash
# Quick start, command 1: install what the demo line needs, build, and run it.
# The review page is then on http://127.0.0.1:8080 (Ctrl-C stops the line).
set -euo pipefail
export ONNXRUNTIME_NODE_INSTALL=skip   # its install script would otherwise download CUDA libraries
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npm ci --no-audit --no-fund
npm run build
exec node bin/visor.js run "$@"
