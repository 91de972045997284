#!/usr/bin/env bash
# Builds the IoT Edge image (edge-manifest/Dockerfile) and starts it as edgeAgent would: the demo
# line with a data volume bound in, waits for /healthz, checks that inspections are stored, stops it
# with SIGTERM, and checks the exit code and the SQLite database. Then checks that the CPU image
# refuses the CUDA and TensorRT execution providers at start-up, and that a data folder the image's
# user cannot write stops it at start-up naming the database. Exits non-zero on any failure and
# leaves no container, mount or process behind. See docs/edge.md.
#
#   scripts/image.sh [--base IMAGE] [--tag NAME] [--build-only]
#
# --base IMAGE   the Dockerfile's BASE (e.g. node:24-bookworm-slim from a registry). Without it the
#                base is made here from Debian packages (mmdebstrap bookworm + the project's Node.js
#                from tools/node), imported with `podman import` and cached (see VISOR_IMAGE_CACHE).
# --tag NAME     the image to build (default localhost/visor:dev).
# --build-only   build and print the sizes, do not start it.
#
# Environment:
#   VISOR_IMAGE_ENGINE  podman (default) or docker.
#   VISOR_IMAGE_RUN     auto (default): `run` where the engine can start containers, else `chroot`
#                       (podman only, as root: the image's file system mounted with `podman mount`
#                       and its entrypoint run under `unshare --mount --pid --fork` + `chroot`).
#   VISOR_IMAGE_CACHE   folder for the local base's tarball, keyed on its inputs
#                       (default: $XDG_CACHE_HOME/visor-image or ~/.cache/visor-image).
#   VISOR_IMAGE_CA      a CA certificate file npm needs behind a TLS-inspecting proxy (default:
#                       NODE_EXTRA_CA_CERTS when set); passed as a build secret, never stored.
#   VISOR_IMAGE_MIRROR  apt sources (a URL, or a sources file) for the local base; default: this
#                       machine's Debian sources when it runs bookworm, else mmdebstrap's default.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bash scripts/system-deps.sh --image
use_project_node
# The base image carries the project's pinned Node.js (tools/node), even where the system's is new enough.
install_project_node always

engine=${VISOR_IMAGE_ENGINE:-podman}
run_mode=${VISOR_IMAGE_RUN:-auto}
tag=localhost/visor:dev
base=""
build_only=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --base) base=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    *) echo "image.sh: unknown argument $1 (see the top of scripts/image.sh)" >&2; exit 2 ;;
  esac
done
case $engine in podman | docker) ;; *) echo "image.sh: VISOR_IMAGE_ENGINE must be podman or docker, not $engine" >&2; exit 2 ;; esac
case $run_mode in auto | run | chroot) ;; *) echo "image.sh: VISOR_IMAGE_RUN must be auto, run or chroot, not $run_mode" >&2; exit 2 ;; esac
command -v "$engine" >/dev/null || { echo "image.sh: $engine is not installed (scripts/system-deps.sh --image installs podman)" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }
fail() { echo "image.sh: FAILED: $*" >&2; exit 1; }
started=$(date +%s)

# --- The base -------------------------------------------------------------------------------------

# A minimal Debian bookworm laid out as the official node image: node and npm in /usr/local, the
# user node (uid 1000), no documentation or locales. Its tag and tarball are keyed on everything
# that goes into it (this function's text, the Node.js and npm versions, the apt sources, the month:
# a base older than a month is made again so that it carries Debian's security updates).
make_local_base() {
  local out=$1 node_bin npm_dir
  node_bin=$(project_node_bin)/node
  npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  local mirror=()
  [[ -n $base_mirror ]] && mirror=("$base_mirror")
  # merged-usr hook: /usr merged without the usrmerge package (and the perl it needs), as Debian's own images.
  mmdebstrap --variant=minbase --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='mkdir -p "$1/usr/local/lib/node_modules" "$1/home/node"' \
    --customize-hook="copy-in $node_bin /usr/local/bin" \
    --customize-hook="copy-in $npm_dir /usr/local/lib/node_modules" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='echo "node:x:1000:1000::/home/node:/bin/bash" >>"$1/etc/passwd"' \
    --customize-hook='echo "node:*:19000:0:99999:7:::" >>"$1/etc/shadow"' \
    --customize-hook='echo "node:x:1000:" >>"$1/etc/group"' \
    --customize-hook='chown 1000:1000 "$1/home/node"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
    bookworm "$out" "${mirror[@]}"
}

local_base() {
  [[ $engine == podman ]] || fail "a base made here needs podman (podman import); with docker pass --base node:24-bookworm-slim"
  command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed (scripts/system-deps.sh --image installs it)"
  base_mirror=${VISOR_IMAGE_MIRROR:-}
  if [[ -z $base_mirror && -f /etc/os-release ]] && (. /etc/os-release && [[ ${VERSION_CODENAME:-} == bookworm ]]); then
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
      [[ -s $f ]] && grep -qE '^(deb |URIs:)' "$f" && { base_mirror=$f; break; }
    done
  fi
  local node_bin key cache tarball
  node_bin=$(project_node_bin)/node
  key=$({
    declare -f make_local_base
    "$node_bin" --version
    npm --version
    dpkg --print-architecture
    [[ -f $base_mirror ]] && cat "$base_mirror" || echo "$base_mirror"
    date +%Y-%m
  } | sha256sum | cut -c1-12)
  base=localhost/visor-base:bookworm-node$("$node_bin" --version | tr -d v)-$key
  if podman image exists "$base"; then
    echo "base $base (already in podman's store)"
    return
  fi
  cache=${VISOR_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/visor-image}
  tarball=$cache/visor-base-$key.tar
  mkdir -p "$cache"
  if [[ ! -s $tarball ]]; then
    echo "making the base with mmdebstrap (Debian bookworm minbase + Node.js $("$node_bin" --version)) into $tarball"
    make_local_base "$tarball.part"
    mv "$tarball.part" "$tarball"
    # Older bases of this cache are of no further use.
    find "$cache" -maxdepth 1 -name 'visor-base-*.tar' ! -name "visor-base-$key.tar" -delete
  else
    echo "base tarball from the cache: $tarball"
  fi
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' "$tarball" "$base" >/dev/null
  echo "base $base"
}

step "base"
if [[ -z $base ]]; then local_base; else echo "base $base (given)"; fi

# --- Build ----------------------------------------------------------------------------------------

step "build $tag"
build_started=$(date +%s)
# Behind a TLS-inspecting proxy npm needs its CA: VISOR_IMAGE_CA, else the one Node.js is given here.
build_flags=(--target cpu -f edge-manifest/Dockerfile --build-arg "BASE=$base" -t "$tag")
ca=${VISOR_IMAGE_CA:-${NODE_EXTRA_CA_CERTS:-}}
[[ -n $ca ]] && build_flags+=(--secret "id=ca,src=$ca")
if [[ $engine == podman ]]; then
  # docker format: the OCI format has no HEALTHCHECK, and IoT Edge (moby) reads it.
  podman build --isolation chroot --format docker --layers --ignorefile edge-manifest/Dockerfile.dockerignore "${build_flags[@]}" .
else
  docker build "${build_flags[@]}" .
fi
echo "built in $(($(date +%s) - build_started)) s"

step "size of $tag (uncompressed)"
"$engine" history --format '{{.Size}}\t{{.CreatedBy}}' "$tag" | cut -c1-150
total=$("$engine" image inspect --format '{{.Size}}' "$tag")
echo "total: $((total / 1000000)) MB"

[[ $build_only -eq 1 ]] && { echo "build + sizes in $(($(date +%s) - started)) s"; exit 0; }

# --- Start and stop it ----------------------------------------------------------------------------

inspect() { "$engine" image inspect --format "$1" "$tag"; }
mapfile -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t entrypoint < <(inspect '{{range .Config.Entrypoint}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t healthcheck < <(inspect '{{if .Config.Healthcheck}}{{range .Config.Healthcheck.Test}}{{println .}}{{end}}{{end}}' | sed '/^$/d')
image_user=$(inspect '{{.Config.User}}')
workdir=$(inspect '{{.Config.WorkingDir}}')
[[ ${healthcheck[0]:-} == CMD ]] || fail "the image has no HEALTHCHECK (built in OCI format?)"
healthcheck=("${healthcheck[@]:1}")
[[ $image_user =~ ^[0-9]+:[0-9]+$ ]] || fail "the image's USER should be numeric uid:gid, is '$image_user'"

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
fixtures=$PWD/test/fixtures/elpv
workspace=$(mktemp -d "${TMPDIR:-/tmp}/visor-image.XXXXXX")
data=$workspace/data
mkdir -p "$data"
# The image's user owns the data volume (docs/edge.md: the host folder must be owned by uid 1000).
if [[ $engine == podman && $(id -u) -ne 0 ]]; then podman unshare chown "$image_user" "$data"
elif [[ $(id -u) -ne 0 ]]; then sudo chown "$image_user" "$data"
else chown "$image_user" "$data"; fi
# What the line needs besides the image's own environment: the demo config's camera, a free port.
line_env=(VISOR_REVIEW__PORT="$port")
line_cmd=(run --config config/demo.yaml)

if [[ $run_mode == auto ]]; then
  if [[ $engine == docker ]]; then run_mode=run
  elif probe=$(podman run --rm --no-healthcheck --entrypoint /bin/true "$tag" 2>&1); then run_mode=run
  else
    echo "podman run does not work here, running the image's file system under unshare + chroot instead:"
    echo "$probe" | sed 's/^/  /' | tail -3
    run_mode=chroot
  fi
fi
[[ $run_mode == chroot && $engine != podman ]] && fail "VISOR_IMAGE_RUN=chroot needs podman (podman mount)"
[[ $run_mode == chroot && $(id -u) -ne 0 ]] && fail "VISOR_IMAGE_RUN=chroot needs root (mount, chroot)"

container="" mnt="" line_pid="" init_pid="" line_rc=""
cleanup() {
  local rc=$?
  set +e
  # Stop a line still running first: chroot, by killing its namespace's init; run, by removing
  # its container (which ends the attached start).
  [[ -n $init_pid ]] && kill -KILL "$init_pid" 2>/dev/null
  [[ -n $container && -z $mnt ]] && "$engine" rm -f "$container" >/dev/null 2>&1
  [[ -n $line_pid ]] && wait "$line_pid" 2>/dev/null
  if [[ -n $container && -n $mnt ]]; then
    podman umount "$container" >/dev/null
    podman rm -f "$container" >/dev/null 2>&1
  fi
  [[ -n $mnt ]] && grep -qF " $mnt " /proc/self/mountinfo && { echo "image.sh: $mnt is still mounted" >&2; rc=1; }
  rm -rf "$workspace"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log=$workspace/line.log
# Starts the line in the background; sets line_pid (what to wait for) and init_pid (what to signal).
start_line() {
  local env=("${image_env[@]}" "${line_env[@]}" "$@")
  : >"$log"
  if [[ $run_mode == run ]]; then
    local flags=(--user "$image_user" --read-only --tmpfs /tmp -v "$data:/var/lib/visor" -v "$fixtures:$workdir/test/fixtures/elpv:ro"
      -p "127.0.0.1:$port:$port" -e VISOR_REVIEW__HOST=0.0.0.0)
    for e in "${line_env[@]}" "$@"; do flags+=(-e "$e"); done
    container=$("$engine" create --name "visor-image-check-$$" "${flags[@]}" "$tag" "${line_cmd[@]}")
    "$engine" start -a "$container" >"$log" 2>&1 &
    line_pid=$!
    init_pid=""
  else
    # No healthcheck timer: podman would set one up through systemd; run_healthcheck runs it here.
    container=$(podman create --no-healthcheck --name "visor-image-check-$$" "$tag")
    mnt=$(podman mount "$container")
    # A private mount namespace (its mounts vanish with it) and a PID namespace whose init is the
    # entrypoint, as in a container: /dev, /sys and /proc, the data volume, the demo camera, /tmp.
    unshare --mount --pid --fork --kill-child --mount-proc="$mnt/proc" bash -c '
      set -e
      mnt=$1 data=$2 fixtures=$3 workdir=$4 user=$5; shift 5
      mount --rbind /dev "$mnt/dev"
      mount --rbind -o ro /sys "$mnt/sys"
      mount --bind "$data" "$mnt/var/lib/visor"
      mkdir -p "$mnt$workdir/test/fixtures/elpv"
      mount --bind -o ro "$fixtures" "$mnt$workdir/test/fixtures/elpv"
      mount -t tmpfs -o nosuid,nodev tmpfs "$mnt/tmp"
      # The image itself read-only, as the Kubernetes manifest runs it: only the volume and /tmp are written.
      mount -o remount,bind,ro "$mnt"
      exec chroot --userspec="$user" "$mnt" /bin/sh -c "cd \"\$0\" && exec env -i \"\$@\"" "$workdir" "$@"
    ' image-run "$mnt" "$data" "$fixtures" "$workdir" "$image_user" "${env[@]}" "${entrypoint[@]}" "${line_cmd[@]}" >"$log" 2>&1 &
    line_pid=$!
    local i
    for i in $(seq 100); do
      init_pid=$(cat "/proc/$line_pid/task/$line_pid/children" 2>/dev/null | awk '{print $1}')
      [[ -n $init_pid ]] && break
      sleep 0.1
    done
    [[ -n $init_pid ]] || fail "the entrypoint did not start: $(cat "$log")"
  fi
}

# Waits for the line to exit (at most $1 s) and removes its container; sets line_rc. Returns 1 on timeout.
wait_line() {
  local i
  for i in $(seq $(($1 * 10))); do
    kill -0 "$line_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$line_pid" 2>/dev/null && return 1
  line_rc=0
  wait "$line_pid" || line_rc=$?
  line_pid="" init_pid=""
  if [[ $run_mode == run ]]; then
    line_rc=$("$engine" inspect --format '{{.State.ExitCode}}' "$container")
    "$engine" rm -f "$container" >/dev/null
  else
    podman umount "$container" >/dev/null
    podman rm -f "$container" >/dev/null
    mnt=""
  fi
  container=""
}

# Runs the image's HEALTHCHECK command beside the running line, as the engine would.
run_healthcheck() {
  if [[ $run_mode == run ]]; then
    "$engine" exec "$container" "${healthcheck[@]}"
  else
    nsenter --target "$init_pid" --mount --pid --root --wd -S "${image_user%:*}" -G "${image_user#*:}" \
      env -i "${image_env[@]}" "${line_env[@]}" "${healthcheck[@]}"
  fi
}

show_log() { echo "--- the line's output (last 40 lines):"; tail -40 "$log"; }
db=$data/visor.db
query() { sqlite3 -readonly "$db" "$1" 2>/dev/null; }

step "start the line ($run_mode): ${entrypoint[*]} ${line_cmd[*]}, data volume on /var/lib/visor"
start_line
line_started=$(date +%s)
health=""
for _ in $(seq 240); do
  kill -0 "$line_pid" 2>/dev/null || { show_log; fail "the line exited before /healthz answered"; }
  health=$(node -e "fetch('http://127.0.0.1:$port/healthz').then(async r=>console.log(r.status, await r.text()),()=>{})")
  [[ $health == 200* ]] && break
  sleep 0.5
done
[[ $health == 200* ]] || { show_log; fail "/healthz did not answer 200 within 120 s (last: ${health:-no answer})"; }
echo "/healthz: $health" | cut -c1-300
run_healthcheck || { show_log; fail "the image's HEALTHCHECK command failed while /healthz answered 200"; }
echo "HEALTHCHECK command: exit 0"

for _ in $(seq 120); do
  [[ $(query 'SELECT count(*) FROM inspections WHERE image_path IS NOT NULL') -ge 2 ]] 2>/dev/null && break
  sleep 0.5
done
row=$(query "SELECT id, camera_id, verdict, round(score, 3), model_name || ' ' || model_version, image_path FROM inspections WHERE image_path IS NOT NULL ORDER BY id LIMIT 1")
[[ -n $row ]] || { show_log; fail "no inspection with an image was stored within 60 s"; }
echo "stored inspection: $row"
image=$data/${row##*|}
[[ -s $image ]] || fail "the stored inspection's image $image is missing"
[[ $(stat -c %u "$image") == "${image_user%:*}" ]] || fail "the image file is not owned by the image's user"

step "stop it with SIGTERM"
stored=$(query 'SELECT count(*) FROM inspections')
log_seconds=$(($(date +%s) - line_started))
echo "the line logged $(wc -c <"$log") bytes in ${log_seconds} s (demo: 1 camera at 2 fps, log level info)"
if [[ $run_mode == run ]]; then "$engine" kill --signal TERM "$container" >/dev/null; else kill -TERM "$init_pid"; fi
wait_line 60 || { show_log; fail "the line did not exit within 60 s of SIGTERM"; }
[[ $line_rc == 0 ]] || { show_log; fail "exit code $line_rc after SIGTERM, expected 0"; }
echo "exit code 0"
[[ ! -e $db-wal ]] || fail "$db-wal is left: the database was not closed cleanly"
integrity=$(sqlite3 "$db" 'PRAGMA integrity_check')
[[ $integrity == ok ]] || fail "PRAGMA integrity_check: $integrity"
after=$(sqlite3 "$db" 'SELECT count(*) FROM inspections')
[[ $after -ge $stored ]] || fail "inspections went from $stored to $after"
echo "database intact (integrity_check: ok), $after inspections stored"

step "the CPU image refuses GPU execution providers at start-up"
for provider in cuda tensorrt; do
  start_line "VISOR_MODEL__EXECUTION_PROVIDERS=[\"$provider\"]"
  wait_line 120 || { show_log; fail "with $provider the line did not exit within 120 s"; }
  [[ $line_rc == 2 ]] || { show_log; fail "with $provider: exit code $line_rc, expected 2"; }
  message=$(grep -m1 '^visor: cannot start' "$log") || { show_log; fail "with $provider: no start-up error on stderr"; }
  [[ $message == *"execution provider \"$provider\""* ]] || { show_log; fail "with $provider: the message does not name the provider: $message"; }
  echo "$provider: exit 2, $message" | cut -c1-300
done

step "a data folder the image's user cannot write stops it at start-up"
data=$workspace/data-not-owned
mkdir -p "$data"
start_line
wait_line 120 || { show_log; fail "with a root-owned data folder the line did not exit within 120 s"; }
message=$(grep -m1 '^visor: cannot start' "$log") || { show_log; fail "root-owned data folder: no start-up error on stderr"; }
# Exit code 1 (a runtime failure: the database cannot be opened), per the CLI's exit-code scheme.
[[ $line_rc == 1 && $message == *"/var/lib/visor/visor.db"* ]] || { show_log; fail "root-owned data folder: exit $line_rc, $message"; }
echo "exit 1, $message"

echo
echo "image.sh: OK: built, started, stored inspections, stopped cleanly ($run_mode) in $(($(date +%s) - started)) s"
