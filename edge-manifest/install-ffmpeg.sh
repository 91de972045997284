#!/bin/sh
# Installs the distribution's ffmpeg without what it never loads here. libavdevice links libGL,
# whose Debian/Ubuntu package pulls Mesa's GL drivers and with them LLVM and Z3 (165 MB on bookworm
# amd64); libGL loads a driver only when an OpenGL context is made, which Visor's ffmpeg (capture:
# decode and scale to raw frames) never does. They are removed with their dependants left in place,
# then every library ffmpeg links is checked to be there and ffmpeg is run once.
set -eu
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg
unused=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'libgl1-mesa-dri' 'libglx-mesa0' 'libllvm*' 'libz3-*' 'mesa-vulkan-drivers' 2>/dev/null | awk '$1 == "ii" { print $2 }' || true)
[ -z "$unused" ] || dpkg --purge --force-depends $unused
if ldd /usr/bin/ffmpeg | grep 'not found'; then echo "install-ffmpeg: ffmpeg lost a library" >&2; exit 1; fi
ffmpeg -hide_banner -version | head -1
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log
