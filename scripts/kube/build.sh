#!/usr/bin/env bash
# Build (or reuse) kube-apiserver plus its storage (etcd by default, or kine), and
# cAdvisor (scripts/kube/cadvisor: google/cadvisor/lib embedded as the kubelet does),
# from the Go module proxy only. Idempotent: binaries are cached per version under
#   ${CHAOS_KUBE_CACHE:-/var/cache/chaos-kube}/<k8s-version>/
# and rebuilt only when the Go version, go.mod/go.sum (cadvisor: also main.go) or build flags change.
#
# Usage:
#   scripts/kube/build.sh            # build/reuse; prints KUBE_APISERVER=..., ETCD=... (or KINE=...), CADVISOR=...
#   scripts/kube/build.sh cadvisor   # build/reuse cAdvisor only; prints CADVISOR=...
#   scripts/kube/build.sh --update   # regenerate apiserver/go.mod+go.sum for $K8S_VERSION (dev only)
#
# Env:
#   CHAOS_KUBE_CACHE    cache root (default /var/cache/chaos-kube)
#   CHAOS_KUBE_STORAGE  etcd (default; pure Go, ~1 min extra) or kine (CGO_ENABLED=0 build, modernc SQLite)
#   K8S_VERSION         only with --update (default: the one apiserver/go.mod requires)
# Output: last lines on stdout are KEY=/path lines, so `eval "$(scripts/kube/build.sh | grep =)"` works.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${CHAOS_KUBE_CACHE:-/var/cache/chaos-kube}"
STORAGE="${CHAOS_KUBE_STORAGE:-etcd}"
export GOFLAGS="-trimpath -buildvcs=false -mod=readonly"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
LDFLAGS="-s -w"

log() { echo "[kube-build $(date +%H:%M:%S)] $*" >&2; }
modver() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

# --update: derive the replace list from k8s.io/kubernetes's own go.mod (every
# "k8s.io/X => ./staging/..." becomes "k8s.io/X => k8s.io/X v0.<minor>.<patch>").
regen_apiserver_mod() {
  local dir="$HERE/apiserver" v="${K8S_VERSION:-}"
  [ -n "$v" ] || v="$(modver "$dir" k8s.io/kubernetes)"
  local staging="v0.${v#v1.}"
  log "regenerating $dir/go.mod for k8s.io/kubernetes $v (staging modules $staging)"
  ( cd "$dir"
    export GOFLAGS="-trimpath -buildvcs=false -mod=mod"
    printf 'module chaos.local/kube/apiserver\n\ngo %s\n' "$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')" > go.mod
    : > go.sum
    local gomod
    gomod="$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
    local godebug
    godebug="$(sed -n 's/^godebug \(.*\)$/\1/p' "$gomod")"
    go mod edit -require="k8s.io/kubernetes@$v"
    [ -z "$godebug" ] || go mod edit -godebug="$godebug"
    local p
    for p in $(awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod"); do
      go mod edit -replace="$p=$p@$staging"
    done
    go mod tidy
  )
}

if [ "${1:-}" = "--update" ]; then regen_apiserver_mod; exit 0; fi

K8S_VERSION="$(modver "$HERE/apiserver" k8s.io/kubernetes)"
GOVER="$(go env GOVERSION)"
OUT="$CACHE_ROOT/$K8S_VERSION"
mkdir -p "$OUT"

# build <name> <module dir> <package> <cgo 0|1> [extra ldflags]
build() {
  local name="$1" dir="$2" pkg="$3" cgo="$4" ldflags="$LDFLAGS ${5:-}"
  local key
  # a module with a main of its own (cadvisor/main.go) is rebuilt when that changes too
  key="$( { echo "$GOVER $pkg cgo=$cgo ldflags=$ldflags GOFLAGS=$GOFLAGS"; cat "$dir/go.mod" "$dir/go.sum"; [ ! -f "$dir/main.go" ] || cat "$dir/main.go"; } | sha256sum | cut -c1-16)"
  if [ -x "$OUT/$name" ] && [ "$(cat "$OUT/$name.key" 2>/dev/null)" = "$key" ]; then
    log "reusing $OUT/$name"
    return 0
  fi
  local t0 t1 t2
  t0=$(date +%s)
  log "downloading modules for $pkg"
  (cd "$dir" && go list -deps "$pkg" >/dev/null)
  t1=$(date +%s)
  log "building $pkg (download took $((t1 - t0))s)"
  (cd "$dir" && CGO_ENABLED="$cgo" nice -n 10 go build -ldflags="$ldflags" -o "$OUT/.$name.$$.tmp" "$pkg")
  mv -f "$OUT/.$name.$$.tmp" "$OUT/$name"
  echo "$key" > "$OUT/$name.key"
  t2=$(date +%s)
  log "built $OUT/$name in $((t2 - t1))s ($(du -h "$OUT/$name" | cut -f1))"
}

# cAdvisor v0.61.1 (github.com/google/cadvisor and .../lib; the upstream cmd module is not on the proxy, so
# scripts/kube/cadvisor/main.go is ours). Small: ~1 min cold, nothing to do warm.
build cadvisor "$HERE/cadvisor" chaos.local/kube/cadvisor 0
if [ "${1:-}" = "cadvisor" ]; then echo "CADVISOR=$OUT/cadvisor"; exit 0; fi

# what kubernetes' hack/lib/version.sh stamps, so /version reports the real release
K8S_X=""
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_X+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
build kube-apiserver "$HERE/apiserver" k8s.io/kubernetes/cmd/kube-apiserver 0 "$K8S_X"
case "$STORAGE" in
  etcd) build etcd "$HERE/etcd" go.etcd.io/etcd/server/v3 0 ;;
  kine) build kine "$HERE/kine" github.com/k3s-io/kine 0 ;;
  *) echo "CHAOS_KUBE_STORAGE must be etcd or kine, not '$STORAGE'" >&2; exit 2 ;;
esac

echo "KUBE_APISERVER=$OUT/kube-apiserver"
case "$STORAGE" in
  etcd) echo "ETCD=$OUT/etcd" ;;
  kine) echo "KINE=$OUT/kine" ;;
esac
echo "CADVISOR=$OUT/cadvisor"
