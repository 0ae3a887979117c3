#!/usr/bin/env bash
# Demo / smoke test: start etcd (or kine) and kube-apiserver on 127.0.0.1 with
# throw-away openssl certs, prove /readyz, a namespace list as an admin
# (O=system:masters), and a 403 for a ServiceAccount token without RBAC.
# Everything it starts is stopped and its temp dir removed on exit.
#   CHAOS_KUBE_STORAGE=etcd|kine (default etcd), CHAOS_KUBE_CACHE as for build.sh
#   KEEP_RUNNING=1  wait for Ctrl-C before tearing down (manual poking)
#   READY_TIMEOUT=90 seconds to wait for /readyz;  DEMO_LOG_DIR=dir  keep the logs there
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STORAGE="${CHAOS_KUBE_STORAGE:-etcd}"
eval "$("$HERE/build.sh" | grep -E '^[A-Z_]+=')"

T="$(mktemp -d /tmp/chaos-kube-demo.XXXXXX)"
PIDS=()
cleanup() {
  local rc=$?
  # apiserver first, then storage: a kube-apiserver whose etcd is already gone
  # hangs in graceful shutdown (a 2nd SIGTERM or SIGKILL ends it).
  local i p n
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    p=${PIDS[i]}
    kill "$p" 2>/dev/null || continue
    for ((n = 0; n < 100; n++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ "$rc" = 0 ] || { echo "--- apiserver log tail ---" >&2; tail -20 "$T/apiserver.log" >&2 2>/dev/null || true; }
  [ -z "${DEMO_LOG_DIR:-}" ] || { mkdir -p "$DEMO_LOG_DIR" && cp "$T"/*.log "$DEMO_LOG_DIR"/ 2>/dev/null || true; }
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {  # a loopback port nobody listens on
  local p
  while :; do
    p=$(( 20000 + RANDOM % 20000 ))
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}

# --- certificates (openssl only) ---
cd "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj "/CN=chaos-demo-ca" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=kube-apiserver" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile server.ext -out server.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=chaos-admin" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile client.ext -out admin.crt 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null

# --- storage ---
SPORT=$(free_port)
if [ "$STORAGE" = kine ]; then
  "$KINE" --listen-address "127.0.0.1:$SPORT" --endpoint "sqlite://$T/state.db?_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate" \
    --metrics-bind-address 0 > kine.log 2>&1 &
else
  PPORT=$(free_port)
  "$ETCD" --name demo --data-dir "$T/etcd" \
    --listen-client-urls "http://127.0.0.1:$SPORT" --advertise-client-urls "http://127.0.0.1:$SPORT" \
    --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-cluster "demo=http://127.0.0.1:$PPORT" --log-level warn > etcd.log 2>&1 &
fi
PIDS+=($!)

# --- kube-apiserver ---
PORT=$(free_port)
START=$(date +%s.%N)
"$KUBE_APISERVER" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT" \
  --etcd-servers="http://127.0.0.1:$SPORT" \
  --tls-cert-file=server.crt --tls-private-key-file=server.key \
  --client-ca-file=ca.crt \
  --service-account-key-file=sa.pub --service-account-signing-key-file=sa.key \
  --service-account-issuer=https://kubernetes.default.svc \
  --authorization-mode=Node,RBAC \
  --service-cluster-ip-range=10.0.0.0/24 \
  --endpoint-reconciler-type=none \
  --cert-dir="$T/certs" > apiserver.log 2>&1 &
PIDS+=($!)

K() { curl -sS --cacert ca.crt --cert admin.crt --key admin.key "$@"; }
URL="https://127.0.0.1:$PORT"
READY_TIMEOUT="${READY_TIMEOUT:-90}"
until [ "$(K -o /dev/null -w '%{http_code}' "$URL/readyz" 2>/dev/null)" = 200 ]; do
  kill -0 "${PIDS[1]}" 2>/dev/null || { echo "kube-apiserver exited" >&2; exit 1; }
  if [ "$(echo "$(date +%s.%N) - $START > $READY_TIMEOUT" | bc)" = 1 ]; then
    echo "not ready after ${READY_TIMEOUT}s:" >&2; K "$URL/readyz?verbose" | grep -v '^\[+\]' >&2; exit 1
  fi
  sleep 0.25
done
READY=$(echo "$(date +%s.%N) - $START" | bc)
echo "== ready after ${READY}s (storage: $STORAGE, port $PORT)"
K "$URL/readyz?verbose" | tail -3
K "$URL/version" | jq -c '{gitVersion, goVersion}'

echo "== namespaces (admin, O=system:masters)"
K "$URL/api/v1/namespaces" | jq -r '.items[].metadata.name' | tr '\n' ' '; echo

echo "== ServiceAccount without RBAC"
K -o /dev/null -X POST -H 'Content-Type: application/json' "$URL/api/v1/namespaces/default/serviceaccounts" \
  -d '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"chaos-demo"}}'
TOKEN=$(K -X POST -H 'Content-Type: application/json' \
  "$URL/api/v1/namespaces/default/serviceaccounts/chaos-demo/token" \
  -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}' | jq -r .status.token)
S() { curl -sS --cacert ca.crt -H "Authorization: Bearer $TOKEN" "$@"; }
echo -n "whoami: "; S -X POST -H 'Content-Type: application/json' "$URL/apis/authentication.k8s.io/v1/selfsubjectreviews" \
  -d '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' | jq -r .status.userInfo.username
CODE=$(S -o "$T/sa.json" -w '%{http_code}' "$URL/api/v1/namespaces")
echo "list namespaces as SA -> HTTP $CODE: $(jq -r .message "$T/sa.json")"
[ "$CODE" = 403 ] || { echo "expected 403" >&2; exit 1; }
echo "== OK"

if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo "curl --cacert $T/ca.crt --cert $T/admin.crt --key $T/admin.key $URL/api  (Ctrl-C to stop)"
  wait
fi
