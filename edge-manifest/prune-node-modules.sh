#!/bin/sh
# Run in the image's build stage after `npm prune --omit=dev`: removes what the module never loads
# on this platform, so the image carries one platform's native binaries and no sources to compile.
#   onnxruntime-node: bin/napi-v6/<os>/<arch>; keep linux/<this arch> (the package ships win32,
#   darwin and both linux arches: 290 MB, of which linux/x64 is 45 MB).
#   better-sqlite3: prebuilds/<os>-<arch>.node; keep linux-<this arch>; deps/ is SQLite's source.
#   Source maps and TypeScript declarations, which only tools read (about 60 MB).
set -eu
arch=$(node -p process.arch)
cd "${1:-node_modules}"
ort=onnxruntime-node/bin/napi-v6
[ -d "$ort/linux/$arch" ] || { echo "prune: $ort/linux/$arch is missing: onnxruntime-node has no binary for linux/$arch" >&2; exit 1; }
find "$ort" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} +
if [ -d better-sqlite3/prebuilds ]; then
  [ -f "better-sqlite3/prebuilds/linux-$arch.node" ] || { echo "prune: better-sqlite3 has no prebuild for linux-$arch" >&2; exit 1; }
  find better-sqlite3/prebuilds -mindepth 1 ! -name "linux-$arch.node" -exec rm -rf {} +
  rm -rf better-sqlite3/deps better-sqlite3/src
fi
find . -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
