#!/usr/bin/env bash
# Quick start, command 2: install what the tests need and run the whole suite.
set -euo pipefail
export ONNXRUNTIME_NODE_INSTALL=skip   # its install script would otherwise download CUDA libraries
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh --test
npm ci --no-audit --no-fund
npm run build
npm run typecheck
npm test
