#!/usr/bin/env bash
# The Docker platform's images, built offline (docs/docker.md).
#
# This machine and CI reach no image registry, so `FROM node:20-slim` (the Dockerfile, for users) cannot be built
# here. Instead this script makes the same image from what is already on the machine: a minimal root filesystem
# holding the local Node binary (and the shared libraries `ldd` says it needs) plus the built package (bin, dist,
# the oclif manifest and the production node_modules), then `docker import`s it as chaos-demo:local.
#
# The same image is the toolkit image of platform kubernetes (docs/kubernetes.md): its containers run
# `chaos k8s helper ...` and `chaos k8s helper-stop ...`, so the rootfs also has /usr/bin/chaos -> /app/bin/run.js
# (whose `#!/usr/bin/env node` needs /usr/bin/env), and util-linux's nsenter (a helper pod's flood) and fallocate
# (disk fill, mode fallocate), all copied from this machine with their libraries. There is still no shell.
#
# It also makes sure there is an engine to import into: Debian's docker.io is installed when docker is missing
# (by scripts/provision.sh, which holds the list of system packages), and dockerd is started in the background (without iptables rules, which this machine does not allow) when it
# does not answer. Run it from anywhere after `npm run build`; it is idempotent (an image built from the same
# inputs is kept).
#
#   scripts/docker-images.sh            # ensure engine + image
#   scripts/docker-images.sh --engine   # ensure the engine only
#   scripts/docker-images.sh --if-able  # as npm test's pretest: not root and no engine answering is said, not fatal
#   CHAOS_DOCKER_IMAGE=name:tag scripts/docker-images.sh
set -euo pipefail
SELF="$(readlink -f "$0")"
cd "$(dirname "$0")/.."

IMAGE="${CHAOS_DOCKER_IMAGE:-chaos-demo:local}"
SOCKET=/var/run/docker.sock
LOG=/var/log/chaos-dockerd.log

log() { echo "docker-images: $*"; }

IF_ABLE=0
if [ "${1:-}" = "--if-able" ]; then IF_ABLE=1; shift; fi
# without root no engine can be installed or started here: said, and the docker tests say what is missing
if [ "$IF_ABLE" = 1 ] && [ "$(id -u)" -ne 0 ] && ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  log "no Docker engine answers and this is not root: the docker tests will say so (as root: scripts/docker-images.sh)"
  exit 0
fi

# 1. The engine: the CLI and dockerd from Debian's docker.io, when missing.
bash scripts/provision.sh docker.io
command -v dockerd >/dev/null && command -v docker >/dev/null || { echo "docker-images: docker.io is not installed" >&2; exit 1; }

# 2. A running dockerd. --iptables=false --ip-masq=false: this machine refuses the NAT rules dockerd would add;
#    the toolkit needs none (it reaches containers through loopback-published ports and its own bridge).
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  # a dockerd that was just stopped may still be shutting down, or have left its pid file behind: dockerd refuses
  # to start beside either, so wait for the old one to go (at most 20 s) and remove a pid file no process owns
  PIDFILE=/var/run/docker.pid
  for _ in $(seq 1 40); do
    old="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [ -z "$old" ] || ! kill -0 "$old" 2>/dev/null; then break; fi
    sleep 0.5
  done
  old="$(cat "$PIDFILE" 2>/dev/null || true)"
  if [ -n "$old" ] && ! kill -0 "$old" 2>/dev/null; then rm -f "$PIDFILE"; fi
  log "starting dockerd (log: $LOG)"
  setsid nohup dockerd --iptables=false --ip-masq=false >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if [ -S "$SOCKET" ] && docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  docker version --format 'docker-images: dockerd {{.Server.Version}} is up' || { tail -20 "$LOG" >&2; exit 1; }
fi
[ "${1:-}" = "--engine" ] && exit 0

# 3. The image, from a rootfs made of local parts.
[ -f dist/commands/workload.js ] || { echo "docker-images: dist/ is missing: run npm run build first" >&2; exit 1; }
NODE="$(readlink -f "$(command -v node)")"
# the other programs the image runs, at /usr/bin/NAME: env (the shebang of bin/run.js, i.e. of `chaos`), for
# `chaos k8s helper` util-linux's nsenter and fallocate, and for `chaos workload --spawn` (an API that shells out)
# perl, its spawner, and true, the program it runs (with perl-base's modules, below)
TOOLS=(env nsenter fallocate perl true)
PERL_MODULES=/usr/lib/x86_64-linux-gnu/perl-base
[ -d "$PERL_MODULES" ] || { echo "docker-images: $PERL_MODULES is missing on this machine (perl-base is Essential on Debian)" >&2; exit 1; }
TOOL_PATHS=()
for tool in "${TOOLS[@]}"; do
  # type -P: the program on PATH, not a shell builtin of the same name (true)
  path="$(type -P "$tool" || true)"
  [ -n "$path" ] || { echo "docker-images: $tool is missing on this machine (apt-get install coreutils util-linux)" >&2; exit 1; }
  TOOL_PATHS+=("$(readlink -f "$path")")
done
# what the image is made of, this script included: rebuilt only when one of these changes
INPUTS="$( (sha256sum <"$SELF"; sha256sum "$NODE" "${TOOL_PATHS[@]}" package.json package-lock.json oclif.manifest.json; find bin dist -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
if [ "$(docker image inspect --format '{{index .Config.Labels "chaos.inputs"}}' "$IMAGE" 2>/dev/null || true)" = "$INPUTS" ]; then
  log "$IMAGE is up to date (inputs $INPUTS)"
  exit 0
fi

ROOT="$(mktemp -d /tmp/chaos-rootfs.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{usr/bin,tmp,etc,app,proc,sys,dev}
# merged /usr, as Debian's: /bin/true is /usr/bin/true
ln -s usr/bin "$ROOT/bin"
chmod 1777 "$ROOT/tmp"
# a program at /usr/bin/NAME, with the dynamic loader and every library it links against at the paths ldd names
# (symlinks resolved; a library two programs share is copied once)
install_program() {
  cp "$1" "$ROOT/usr/bin/$2"
  for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
    [ -e "$ROOT$lib" ] && continue
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
  done
}
install_program "$NODE" node
for i in "${!TOOLS[@]}"; do install_program "${TOOL_PATHS[$i]}" "${TOOLS[$i]}"; done
mkdir -p "$ROOT$(dirname "$PERL_MODULES")" && cp -r "$PERL_MODULES" "$ROOT$PERL_MODULES"
echo 'root:x:0:0:root:/root:/bin/false' >"$ROOT/etc/passwd"
echo 'root:x:0:' >"$ROOT/etc/group"
mkdir -p "$ROOT/root"

cp -r bin dist package.json oclif.manifest.json "$ROOT/app/"
[ -d schema ] && cp -r schema "$ROOT/app/"
# `chaos` on PATH, as the kubernetes platform runs it (and the Dockerfile's /usr/local/bin/chaos)
chmod 755 "$ROOT/app/bin/run.js"
ln -s /app/bin/run.js "$ROOT/usr/bin/chaos"
# production dependencies only (the dev tools are ten times their size): the list npm itself resolves
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | while read -r dir; do
  rel="${dir#"$PWD"/}"
  case "$rel" in node_modules/*) ;; *) continue ;; esac
  mkdir -p "$ROOT/app/$(dirname "$rel")"
  [ -e "$ROOT/app/$rel" ] || cp -r "$dir" "$ROOT/app/$rel"
done

log "importing $IMAGE ($(du -sh "$ROOT" | cut -f1) rootfs)"
tar -C "$ROOT" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV HOME=/root' \
  --change 'WORKDIR /app' \
  --change 'CMD ["node", "/app/bin/run.js", "workload", "--port", "8080", "--host", "0.0.0.0"]' \
  --change 'EXPOSE 8080' \
  --change "LABEL chaos.inputs=$INPUTS" \
  --change 'LABEL org.opencontainers.image.title=chaos-demo' \
  - "$IMAGE" >/dev/null
# the image this one replaced, now untagged (dangling): ours to remove, and only ours
docker image prune -f --filter label=org.opencontainers.image.title=chaos-demo >/dev/null
log "built $IMAGE: $(docker image inspect --format '{{.Id}} {{.Size}} bytes' "$IMAGE")"
