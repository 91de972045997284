#!/usr/bin/env bash
# Installs the system packages Visor needs from Debian: ffmpeg (capture) and, with
# --test, chromium (UI tests). Skips apt when everything is already there.
set -euo pipefail
packages=(ffmpeg)
[[ "${1:-}" == "--test" ]] && packages+=(chromium)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
