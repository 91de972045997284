#!/usr/bin/env bash
# Installs what Visor needs outside npm: Node.js 24 under tools/node when the system's node is
# older, and Debian's ffmpeg (capture) and, with --test, chromium (UI tests), a C compiler
# (the power-loss test builds a small LD_PRELOAD library) and mosquitto (the MQTT broker the
# station tests start), and with --image what scripts/image.sh needs to build and start the
# IoT Edge image (podman, mmdebstrap, sqlite3). Skips each step when it is already done.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
install_project_node
packages=(ffmpeg)
for flag in "$@"; do
  case $flag in
    --test) packages+=(chromium gcc libc6-dev mosquitto) ;;
    --image) packages+=(podman mmdebstrap sqlite3) ;;
    *) echo "system-deps.sh: unknown flag $flag (--test, --image)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
