#!/usr/bin/env bash
# timeout: 120
# `vxpu scheduler` end to end against the protocol-level test API server
# (tests/unit/sched/fake_apiserver.py, loopback only, with its stand-in node
# agent): usage and credential errors; readiness after the caches synced;
# kube-scheduler's extender calls with real Kubernetes JSON (filter by node
# names and by node objects, prioritize, bind) over the plain extender
# listener; the pod bound with its allocation annotation; malformed bodies,
# wrong types and bodies over the limit answered 400/413 while the server
# keeps serving; an AdmissionReview answered with a JSON Patch; /metrics
# through promtool; HTTPS with a certificate reloaded when its files
# change; a clean exit on SIGTERM.
source "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
SCRATCH=$(mktemp -d /tmp/vxpu-sched-test.XXXXXX)
unset VXPU_LOG KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
SCHED_PID=""
FAKE_PID=""

cleanup() {
	stop_pid "$SCHED_PID"
	exec 7>&- 2>/dev/null || true # the test API server exits when its stdin closes
	stop_pid "$FAKE_PID"
	rm -rf "$SCRATCH"
}
trap cleanup EXIT


# ---- the cluster: two nodes registered by the (simulated) node agent, pods ----
"$PY" - "$SCRATCH/load.json" <<'EOF'
import json, sys
def node(name, model, mib, n):
    reg = {"version": 1, "node": name, "updatedAt": "2026-11-28T11:47:49.123Z",
           "memoryScaling": 1, "computeScaling": 1,
           "devices": [{"id": "GPU-%s-%d" % (name, i), "index": i, "vendor": "nvidia",
                        "model": model, "memoryMiB": mib, "computeUnits": 0, "slices": 0,
                        "numa": 0, "healthy": True, "cordoned": False,
                        "memoryScaling": 0, "computeScaling": 0} for i in range(n)],
           "links": []}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name},
                         "annotations": {"vxpu.io/node-registration": json.dumps(reg, separators=(",", ":"))}},
            "spec": {}, "status": {"capacity": {"cpu": "64", "nvidia.com/gpu": str(n * 10)}}}
def pod(name, limits):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "team-a", "uid": "uid-" + name,
                         "annotations": {}},
            "spec": {"schedulerName": "vxpu-scheduler",
                     "containers": [{"name": "main", "image": "cuda",
                                     "resources": {"limits": limits}}]},
            "status": {"phase": "Pending"}}
load = {"nodes": [node("gpu-a", "NVIDIA A100-SXM4-80GB", 81920, 4),
                  node("gpu-b", "Tesla T4", 15360, 1)],
        "pods": [pod("train", {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "20k"})]}
json.dump(load, open(sys.argv[1], "w"))
EOF
printf 'test-token\n' >"$SCRATCH/token"
start_fake_apiserver --lifetime 110 --agent --token-file "$SCRATCH/token" --load "$SCRATCH/load.json"
cat >"$SCRATCH/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: test
clusters:
- name: fake
  cluster:
    server: http://127.0.0.1:$API_PORT
contexts:
- name: test
  context:
    cluster: fake
    user: sched
    namespace: vxpu-system
users:
- name: sched
  user:
    tokenFile: token
EOF

# ---- usage and credentials ---------------------------------------------------
expect_exit 2 "$VXPU" scheduler --bogus && expect_output 'unknown flag "--bogus"'
expect_exit 2 "$VXPU" scheduler --tls-cert x && expect_output "--tls-cert needs --tls-key"
expect_exit 2 "$VXPU" scheduler --lease-wait 0s && expect_output "between 1s and 600s"
expect_exit 2 "$VXPU" scheduler --device-policy best && expect_output 'expected binpack'
expect_exit 2 "$VXPU" scheduler --body-limit 1x && expect_output "--body-limit"
expect_exit 1 "$VXPU" scheduler --kubeconfig "$SCRATCH/none" && expect_output "$SCRATCH/none"
expect_exit 1 env -u KUBECONFIG "$VXPU" scheduler && expect_output "KUBERNETES_SERVICE_HOST"
expect_exit 0 "$VXPU" scheduler --help && expect_output "POST /filter, /prioritize, /bind"

# start_sched LOG ARGS... : sets SCHED_PID, PORT (main listener), EXT (extender).
start_sched() {
	local log=$1
	shift
	# The default ledger goes to a scratch home, not the machine's.
	VXPU_LOG=info VXPU_HOME="$SCRATCH/home" "$VXPU" scheduler --kubeconfig "$SCRATCH/kubeconfig" \
		--listen 127.0.0.1:0 "$@" 2>"$log" &
	SCHED_PID=$!
	PORT=""
	for _ in $(seq 1 100); do
		PORT=$(sed -n 's/.*msg=serving address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
		EXT=$(sed -n 's/.*msg=serving .*extender=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
		MET=$(sed -n 's/.*msg=serving .*metrics=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
		[ -n "$PORT" ] && break
		kill -0 "$SCHED_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$PORT" ]; then
		failed "vxpu scheduler $* did not start:"
		cat "$log"
		return 1
	fi
	pass
}

# post URL FILE|-DATA : sets STATUS and BODY
post() {
	local url=$1 data=$2
	shift 2
	STATUS=$(curl -sS --max-time 20 -o "$SCRATCH/body" -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "$data" "$@" "$url" 2>&1) ||
		STATUS="000"
	BODY=$(cat "$SCRATCH/body" 2>/dev/null || true)
}
get() {
	STATUS=$(curl -sS --max-time 20 -o "$SCRATCH/body" -w '%{http_code}' "$@" 2>&1) || STATUS="000"
	BODY=$(cat "$SCRATCH/body" 2>/dev/null || true)
}
api() { # the test API server, as the scheduler sees it
	curl -sS --max-time 10 -H "Authorization: Bearer test-token" "http://127.0.0.1:$API_PORT$1"
}
json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

start_sched "$SCRATCH/sched.log" --extender-listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
	--body-limit 64KiB
EXT_URL="http://127.0.0.1:$EXT"
for _ in $(seq 1 100); do
	get "http://127.0.0.1:$PORT/readyz"
	[ "$STATUS" = 200 ] && break
	sleep 0.1
done
same "readyz after the caches synced" "$STATUS" 200
same "the default ledger is the single-machine one" \
	"$(grep -c "ledger=$SCRATCH/home/vxpu.db" "$SCRATCH/sched.log")" 1
get "$EXT_URL/healthz"
same "healthz" "$STATUS" 200
get "http://127.0.0.1:$MET/readyz"
same "readyz on the metrics listener" "$STATUS" 200
post "http://127.0.0.1:$MET/bind" '{}'
same "no bind on the metrics listener" "$STATUS" 404

# ---- filter / prioritize / bind as kube-scheduler sends them -----------------
POD=$(api /api/v1/namespaces/team-a/pods/train)
printf '{"Pod":%s,"Nodes":null,"NodeNames":["gpu-a","gpu-b","gpu-x"]}' "$POD" >"$SCRATCH/args"
post "$EXT_URL/filter" "@$SCRATCH/args"
same "filter status" "$STATUS" 200
same "filter feasible" "$(json 'd["NodeNames"]' <<<"$BODY")" "['gpu-a']"
same "filter reason" "$(json 'd["FailedNodes"]["gpu-b"]' <<<"$BODY")" "1/1 insufficient memory"
same "filter unknown node" "$(json 'd["FailedAndUnresolvableNodes"]["gpu-x"]' <<<"$BODY")" \
	"node is not known to vxpu"

NODES=$(api /api/v1/nodes)
"$PY" - "$SCRATCH/objargs" "$POD" "$NODES" <<'EOF'
import json, sys
pod, nodes = json.loads(sys.argv[2]), json.loads(sys.argv[3])
json.dump({"Pod": pod, "Nodes": {"kind": "NodeList", "apiVersion": "v1", "metadata": {},
                                 "items": nodes["items"]}, "NodeNames": None}, open(sys.argv[1], "w"))
EOF
post "$EXT_URL/filter" "@$SCRATCH/objargs"
same "filter with node objects" "$(json '[n["metadata"]["name"] for n in d["Nodes"]["items"]]' <<<"$BODY")" "['gpu-a']"

printf '{"Pod":%s,"NodeNames":["gpu-a"]}' "$POD" >"$SCRATCH/pargs"
post "$EXT_URL/prioritize" "@$SCRATCH/pargs"
same "prioritize" "$BODY" '[{"Host":"gpu-a","Score":10}]'

post "$EXT_URL/bind" '{"PodName":"train","PodNamespace":"team-a","PodUID":"uid-train","Node":"gpu-a"}'
same "bind status" "$STATUS" 200
same "bind result" "$BODY" '{"Error":""}'
BOUND=$(api /api/v1/namespaces/team-a/pods/train)
same "pod bound" "$(json 'd["spec"]["nodeName"]' <<<"$BOUND")" gpu-a
has "allocation annotation" "$(json 'd["metadata"]["annotations"]["vxpu.io/allocation"]' <<<"$BOUND")" \
	'"memoryMiB":20000'
post "$EXT_URL/bind" '{"PodName":"nope","PodNamespace":"team-a","PodUID":"u","Node":"gpu-a"}'
has "bind of a missing pod" "$BODY" 'cannot read pod team-a/nope'

# ---- malformed requests: 400 with a message, 413 over the limit, still serving
post "$EXT_URL/filter" '{'
same "truncated JSON" "$STATUS" 400
has "truncated JSON message" "$BODY" "invalid JSON"
post "$EXT_URL/filter" '{"Pod":{"metadata":{"name":"p"},"spec":{"containers":[]}},"NodeNames":[7]}'
same "wrong type" "$STATUS" 400
has "wrong type message" "$BODY" "NodeNames[0]: expected a node name, got 7"
post "$EXT_URL/bind" '{"PodName":"p","PodNamespace":"n","PodUID":"u","Node":"x","Extra":1}'
has "unknown field" "$BODY" 'unknown field \"Extra\"'
head -c 70000 /dev/zero | tr '\0' ' ' >"$SCRATCH/big"
post "$EXT_URL/filter" "@$SCRATCH/big"
same "body over the limit" "$STATUS" 413
get "$EXT_URL/healthz"
same "still serving" "$STATUS" 200

# ---- admission ------------------------------------------------------------------
cat >"$SCRATCH/review" <<'EOF'
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"r-1",
 "kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"team-a","operation":"CREATE",
 "object":{"metadata":{"name":"nb"},"spec":{"schedulerName":"default-scheduler",
 "containers":[{"name":"main","resources":{"limits":{"nvidia.com/gpumem":"4Gi"}}}]}}}}
EOF
post "http://127.0.0.1:$PORT/admit" "@$SCRATCH/review"
same "admit status" "$STATUS" 200
same "admitted" "$(json 'd["response"]["allowed"]' <<<"$BODY")" True
PATCH=$(json 'd["response"]["patch"]' <<<"$BODY" | base64 -d)
has "patch adds the device count" "$PATCH" '"path":"/spec/containers/0/resources/limits/nvidia.com~1gpu","value":"1"'
has "patch sets the scheduler" "$PATCH" '"value":"vxpu-scheduler"'
sed 's/"4Gi"/"0"/' "$SCRATCH/review" >"$SCRATCH/review0"
post "http://127.0.0.1:$PORT/admit" "@$SCRATCH/review0"
same "denied" "$(json 'd["response"]["allowed"]' <<<"$BODY")" False
has "denial message" "$(json 'd["response"]["status"]["message"]' <<<"$BODY")" "device memory must be above 0"

# ---- metrics -----------------------------------------------------------------------
get "http://127.0.0.1:$PORT/metrics"
same "metrics status" "$STATUS" 200
has "bind histogram" "$BODY" 'vxpu_scheduler_request_duration_seconds_count{verb="bind"} 3'
has "allocated memory" "$BODY" 'vxpu_scheduler_device_memory_allocated_bytes{device="GPU-gpu-a-0"'
if printf '%s\n' "$BODY" | promtool check metrics >"$SCRATCH/promtool" 2>&1; then
	pass
else
	failed "promtool check metrics: $(cat "$SCRATCH/promtool")"
fi

# ---- a clean stop ----------------------------------------------------------------
kill -TERM "$SCHED_PID"
for _ in $(seq 1 100); do kill -0 "$SCHED_PID" 2>/dev/null || break; sleep 0.1; done
set +e
wait "$SCHED_PID"
same "exit on SIGTERM" "$?" 0
set -e
SCHED_PID=""

# ---- HTTPS with a certificate renewed in place ---------------------------------------
if command -v openssl >/dev/null 2>&1; then
	mkcert() { # DIR : a CA and a server certificate for 127.0.0.1
		mkdir -p "$1"
		(cd "$1" &&
			openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key \
				-out ca.crt &&
			openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout tls.key -out tls.csr &&
			printf 'subjectAltName=IP:127.0.0.1\n' >ext &&
			openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
				-extfile ext -out tls.crt) >/dev/null 2>&1
	}
	mkcert "$SCRATCH/one"
	mkcert "$SCRATCH/two"
	cp "$SCRATCH/one/tls.crt" "$SCRATCH/one/tls.key" "$SCRATCH/"
	start_sched "$SCRATCH/tls.log" --tls-cert "$SCRATCH/tls.crt" --tls-key "$SCRATCH/tls.key"
	get --cacert "$SCRATCH/one/ca.crt" "https://127.0.0.1:$PORT/healthz"
	same "https" "$STATUS" 200
	cp "$SCRATCH/two/tls.key" "$SCRATCH/tls.key.new"
	cp "$SCRATCH/two/tls.crt" "$SCRATCH/tls.crt.new"
	mv "$SCRATCH/tls.key.new" "$SCRATCH/tls.key"
	mv "$SCRATCH/tls.crt.new" "$SCRATCH/tls.crt"
	for _ in $(seq 1 100); do
		grep -q 'msg="certificate reloaded"' "$SCRATCH/tls.log" && break
		sleep 0.1
	done
	has "certificate reloaded" "$(cat "$SCRATCH/tls.log")" 'msg="certificate reloaded"'
	get --cacert "$SCRATCH/two/ca.crt" "https://127.0.0.1:$PORT/healthz"
	same "https with the renewed certificate" "$STATUS" 200
	stop_pid "$SCHED_PID"
	SCHED_PID=""
else
	echo "note: openssl not installed, HTTPS not tested"
fi

finish
