# Sourced by demo.sh, test.sh and system-deps.sh: the Node.js the project runs on, and set-up
# steps that are skipped when nothing changed since they last ran.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_MAJOR=24
# onnxruntime-node's install script would download CUDA libraries; package.json's allowScripts
# already skips it on npm 11, this covers older npm.
export ONNXRUNTIME_NODE_INSTALL=skip

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# The bin folder of the project's own Node.js (tools/node, from the npm registry's official binaries).
project_node_bin() {
  local arch
  case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "Visor needs Node.js $NODE_MAJOR; there is no package of it for $(uname -m): install it yourself" >&2; return 1 ;;
  esac
  echo "$root/tools/node/node_modules/node-linux-$arch/bin"
}

# Installs Node.js 24 under tools/node when the system's node is older (never over the system's);
# with "always", whatever the system has (the image carries the project's pinned Node.js).
install_project_node() {
  [[ ${1:-} != always && $(node_major) -ge $NODE_MAJOR ]] && return 0
  local bin
  bin=$(project_node_bin) || return 1
  [[ -x $bin/node ]] && return 0
  echo "Installing Node.js $NODE_MAJOR under tools/node (the system's is $(node --version 2>/dev/null || echo missing))"
  (cd "$root/tools/node" && npm ci --no-audit --no-fund --loglevel=error)
}

# Puts the project's Node.js first on PATH when the system's is older.
use_project_node() {
  [[ $(node_major) -ge $NODE_MAJOR ]] && return 0
  install_project_node
  PATH="$(project_node_bin):$PATH"
  export PATH
}

# npm ci, unless node_modules was installed from this lockfile with this Node.js ABI.
install_npm_packages() {
  local stamp="$root/node_modules/.visor-installed"
  local want
  want="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1) abi-$(node -p process.versions.modules) $(uname -m)"
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return 0; fi
  (cd "$root" && npm ci --no-audit --no-fund)
  echo "$want" >"$stamp"
}

# npm run build, unless dist/ is newer than every source it is built from.
build_if_changed() {
  local stamp="$root/dist/.visor-built"
  if [[ -f $stamp && -z $(find "$root/src" "$root/tsconfig.json" "$root/tsconfig.build.json" "$root/package-lock.json" -newer "$stamp" -print -quit) ]]; then
    return 0
  fi
  (cd "$root" && npm run build)
  touch "$stamp"
}
