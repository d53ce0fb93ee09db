#!/usr/bin/env bash
# timeout: 120
# deploy/kubernetes renders offline (`kubectl kustomize`, base and the
# monitoring variant); every rendered object has the fields its kind
# requires; the pieces point at each other (the extender URL and the
# webhook at the Service and its ports, the CA file at the certificate's
# Secret, managedResources equal to the built-in vendor profiles'
# resources); and the RBAC of vxpu-scheduler grants exactly what the
# program uses: `vxpu scheduler` runs against the test API server through
# a bind, a bind rolled back, Events and its watches, every request it
# makes is recorded, turned into (API group, resource, verb), and the set
# must equal what the rendered Roles bound to its ServiceAccount allow. The
# same for vxpu-node-agent: `vxpu node agent` runs on the simulated driver
# against the test API server and a test kubelet (agent_kubelet.py:
# registration, Allocate, consumed and refused pods, a failed and recovered
# device with Events), and its requests must equal its DaemonSet's grants.
source "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
SCRATCH=$(mktemp -d /tmp/vxpu-deploy-test.XXXXXX)
unset VXPU_LOG KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
SCHED_PID=""
FAKE_PID=""
cleanup() {
	stop_pid "$SCHED_PID"
	exec 7>&- 2>/dev/null || true
	stop_pid "$FAKE_PID"
	rm -rf "$SCRATCH"
}
trap cleanup EXIT

if ! command -v kubectl >/dev/null 2>&1; then
	echo "note: kubectl not installed (Debian: kubernetes-client), manifests not rendered"
	finish
	exit 0
fi

# ---- render --------------------------------------------------------------------
if kubectl kustomize "$ROOT/deploy/kubernetes" >"$SCRATCH/base.yaml" 2>"$SCRATCH/err"; then
	pass
else
	failed "kubectl kustomize deploy/kubernetes: $(cat "$SCRATCH/err")"
fi
if kubectl kustomize "$ROOT/deploy/kubernetes/monitoring" >"$SCRATCH/monitoring.yaml" 2>"$SCRATCH/err"; then
	pass
else
	failed "kubectl kustomize deploy/kubernetes/monitoring: $(cat "$SCRATCH/err")"
fi
"$BUILD/tests/unit/sched/sched_resources" >"$SCRATCH/resources"

# ---- what every object needs, and how they fit together ----------------------------
cat >"$SCRATCH/check.py" <<'EOF'
import sys, yaml

problems = []
def need(cond, what):
    if not cond:
        problems.append(what)

def get(obj, path, default=None):
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration"}
REQUIRED = {
    "Deployment": ["spec.selector.matchLabels", "spec.template.metadata.labels",
                   "spec.template.spec.containers"],
    "DaemonSet": ["spec.selector.matchLabels", "spec.template.metadata.labels",
                  "spec.template.spec.containers"],
    "Service": ["spec.selector", "spec.ports"],
    "ServiceAccount": [],
    "Namespace": [],
    "ConfigMap": ["data"],
    "ClusterRole": ["rules"], "Role": ["rules"],
    "ClusterRoleBinding": ["roleRef.kind", "roleRef.name", "roleRef.apiGroup", "subjects"],
    "RoleBinding": ["roleRef.kind", "roleRef.name", "roleRef.apiGroup", "subjects"],
    "MutatingWebhookConfiguration": ["webhooks"],
    "Issuer": ["spec"],
    "Certificate": ["spec.secretName", "spec.issuerRef.name"],
    "ServiceMonitor": ["spec.selector", "spec.endpoints"],
    "PodMonitor": ["spec.selector", "spec.podMetricsEndpoints"],
}

def check(path, expect_monitor):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    kinds = {}
    for d in docs:
        kind = d.get("kind")
        name = get(d, "metadata.name")
        where = "%s %s" % (kind, name)
        need(d.get("apiVersion"), where + ": apiVersion")
        need(name, where + ": metadata.name")
        need(kind in REQUIRED, where + ": a kind the test does not know")
        if kind in CLUSTER_SCOPED:
            need(not get(d, "metadata.namespace"), where + ": cluster-scoped with a namespace")
        else:
            need(get(d, "metadata.namespace"), where + ": metadata.namespace")
        for field in REQUIRED.get(kind, []):
            need(get(d, field) not in (None, "", [], {}), where + ": " + field)
        kinds.setdefault(kind, {})[(get(d, "metadata.namespace"), name)] = d
        if kind in ("Deployment", "DaemonSet"):
            sel = get(d, "spec.selector.matchLabels")
            labels = get(d, "spec.template.metadata.labels")
            need(all(labels.get(k) == v for k, v in sel.items()), where + ": selector does not match the template")
            for c in get(d, "spec.template.spec.containers", []):
                need(c.get("name") and c.get("image"), where + ": container name and image")
            mounts = set(v["name"] for v in get(d, "spec.template.spec.volumes", []))
            for c in get(d, "spec.template.spec.containers", []):
                for m in c.get("volumeMounts", []):
                    need(m["name"] in mounts, where + ": mount of a volume not declared: " + m["name"])
            sa = get(d, "spec.template.spec.serviceAccountName")
            need(("vxpu-system", sa) in kinds.get("ServiceAccount", {}) or any(
                get(x, "kind") == "ServiceAccount" and get(x, "metadata.name") == sa for x in docs),
                where + ": service account " + str(sa))
        if kind in ("ClusterRole", "Role"):
            for r in d["rules"]:
                need("apiGroups" in r and r.get("resources") and r.get("verbs"), where + ": rule fields")
        if kind in ("ClusterRoleBinding", "RoleBinding"):
            for s in d["subjects"]:
                need(s.get("kind") and s.get("name"), where + ": subject fields")
                if s.get("kind") == "ServiceAccount":
                    need(s.get("namespace"), where + ": service account subject namespace")
        if kind == "MutatingWebhookConfiguration":
            for w in d["webhooks"]:
                for f in ("name", "clientConfig", "admissionReviewVersions", "sideEffects", "rules"):
                    need(f in w, where + ": webhooks[]." + f)
                need("v1" in w.get("admissionReviewVersions", []), where + ": must speak v1")
    need(("ServiceMonitor" in kinds) == expect_monitor, path + ": ServiceMonitor presence")
    need(("PodMonitor" in kinds) == expect_monitor, path + ": PodMonitor presence")
    return docs, kinds

docs, kinds = check(sys.argv[1], False)
check(sys.argv[2], True)

svc = kinds["Service"][("vxpu-system", "vxpu-scheduler")]
ports = {p["port"]: p for p in svc["spec"]["ports"]}
sched = kinds["Deployment"][("vxpu-system", "vxpu-scheduler")]
ctr = sched["spec"]["template"]["spec"]["containers"][0]
cports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
args = ctr["args"]
need(args[0] == "scheduler", "vxpu-scheduler runs `vxpu scheduler`")
need("--listen=0.0.0.0:%d" % cports[ports[443]["targetPort"]] in args,
     "the Service's 443 reaches --listen")
need("--metrics-listen=0.0.0.0:%d" % cports["metrics"] in args, "metrics port is --metrics-listen")
need(all(get(sched, "spec.template.metadata.labels").get(k) == v
         for k, v in svc["spec"]["selector"].items()), "the Service selects vxpu-scheduler")

# The extender configuration kube-scheduler reads.
cm = kinds["ConfigMap"][("vxpu-system", "vxpu-kube-scheduler")]
cfg = yaml.safe_load(cm["data"]["config.yaml"])
need(cfg["apiVersion"] == "kubescheduler.config.k8s.io/v1" and cfg["kind"] == "KubeSchedulerConfiguration",
     "KubeSchedulerConfiguration v1")
need([p["schedulerName"] for p in cfg["profiles"]] == ["vxpu-scheduler"], "profile vxpu-scheduler")
need("--scheduler-name=vxpu-scheduler" in args, "the webhook sets the profile's name")
ext = cfg["extenders"][0]
need(ext["urlPrefix"] == "https://vxpu-scheduler.vxpu-system.svc:443", "extender URL is the Service")
for verb, route in (("filterVerb", "filter"), ("prioritizeVerb", "prioritize"), ("bindVerb", "bind")):
    need(ext.get(verb) == route, "extender " + verb)
need(ext.get("nodeCacheCapable") is True and ext.get("enableHTTPS") is True, "extender options")
managed = [m["name"] for m in ext["managedResources"]]
need(all(m["ignoredByScheduler"] for m in ext["managedResources"]), "ignoredByScheduler")
want = open(sys.argv[3]).read().split()
need(managed == want, "managedResources differ from the vendor profiles: %s" %
     sorted(set(managed) ^ set(want)))
ks = kinds["Deployment"][("vxpu-system", "vxpu-kube-scheduler")]
kctr = ks["spec"]["template"]["spec"]["containers"][0]
need("--config=/etc/vxpu/config/config.yaml" in kctr["command"], "kube-scheduler reads the ConfigMap")
vols = {v["name"]: v for v in ks["spec"]["template"]["spec"]["volumes"]}
mounts = {m["mountPath"]: m["name"] for m in kctr["volumeMounts"]}
need(vols[mounts["/etc/vxpu/config"]]["configMap"]["name"] == "vxpu-kube-scheduler", "config volume")
need(vols[mounts["/etc/vxpu/tls"]]["secret"]["secretName"] ==
     kinds["Certificate"][("vxpu-system", "vxpu-scheduler-tls")]["spec"]["secretName"],
     "the CA comes from the serving certificate's Secret")
need(ext["tlsConfig"]["caFile"].startswith("/etc/vxpu/tls/"), "caFile under the mounted Secret")
lead = cfg["leaderElection"]
roles = kinds["Role"]
need(any(lead["resourceName"] in r.get("resourceNames", []) for r in
         roles[("vxpu-system", "vxpu-kube-scheduler-election")]["rules"]), "election lease is allowed")

hook = kinds["MutatingWebhookConfiguration"][(None, "vxpu-scheduler")]["webhooks"][0]
svcref = hook["clientConfig"]["service"]
need((svcref["namespace"], svcref["name"]) == ("vxpu-system", "vxpu-scheduler") and
     svcref["port"] in ports and svcref["path"] == "/admit", "webhook points at /admit on the Service")
need(hook["objectSelector"]["matchExpressions"][0]["key"] == "vxpu.io/webhook", "opt-out label")

# The node agent's DaemonSet: `vxpu node agent` with the node from the
# downward API, kubelet's plugin folder and the state folder at the paths
# its flags name (the state folder at the same path as on the host: kubelet
# mounts those host paths into the containers), the host's PIDs.
ds = kinds["DaemonSet"][("vxpu-system", "vxpu-node-agent")]
pod = ds["spec"]["template"]["spec"]
actr = pod["containers"][0]
aargs = actr["args"]
need(aargs[:2] == ["node", "agent"], "vxpu-node-agent runs `vxpu node agent`")
need("--node=$(NODE_NAME)" in aargs and any(
    e["name"] == "NODE_NAME" and get(e, "valueFrom.fieldRef.fieldPath") == "spec.nodeName"
    for e in actr.get("env", [])), "the node name comes from the downward API")
need("--in-cluster" in aargs and "--lease-namespace=vxpu-system" in aargs,
     "the agent uses its service account and the scheduler's lease namespace")
need(pod.get("hostPID") is True, "host PIDs need the host's PID namespace")
aports = {p["name"]: p["containerPort"] for p in actr.get("ports", [])}
need("--listen=0.0.0.0:%d" % aports.get("metrics", 0) in aargs, "the agent's metrics port is --listen")
need(get(actr, "livenessProbe.httpGet.path") == "/healthz", "the agent's liveness is /healthz")
avols = {v["name"]: v for v in pod["volumes"]}
amounts = {m["mountPath"]: m["name"] for m in actr["volumeMounts"]}
for flag in ("--plugin-dir", "--state-dir"):
    path = [a.split("=", 1)[1] for a in aargs if a.startswith(flag + "=")]
    need(path and path[0] in amounts and
         get(avols[amounts[path[0]]], "hostPath.path") == path[0],
         flag + " is a hostPath mounted at the same path")

# What each ServiceAccount may do: (group, resource, verb, namespace or "*").
def grants(account, where):
    allowed = set()
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for (ns, name), b in kinds.get(kind, {}).items():
            if not any(s.get("kind") == "ServiceAccount" and s["name"] == account and
                       s["namespace"] == "vxpu-system" for s in b["subjects"]):
                continue
            role = (kinds["ClusterRole"] if b["roleRef"]["kind"] == "ClusterRole" else kinds["Role"]).get(
                (None if b["roleRef"]["kind"] == "ClusterRole" else ns, b["roleRef"]["name"]))
            need(role is not None, kind + " " + name + ": role not in the manifests")
            for r in (role or {}).get("rules", []):
                need("resourceNames" not in r, account + "'s rules name no objects")
                for g in r["apiGroups"]:
                    for res in r["resources"]:
                        for v in r["verbs"]:
                            allowed.add((g, res, v, ns if kind == "RoleBinding" else "*"))
    with open(where, "w") as out:
        for a in sorted(allowed):  # the core group "" is written "core"
            out.write(" ".join((a[0] or "core",) + a[1:]) + "\n")

grants("vxpu-scheduler", sys.argv[4])
grants("vxpu-node-agent", sys.argv[5])
for p in problems:
    print("PROBLEM: " + p)
sys.exit(1 if problems else 0)
EOF
if "$PY" "$SCRATCH/check.py" "$SCRATCH/base.yaml" "$SCRATCH/monitoring.yaml" \
	"$SCRATCH/resources" "$SCRATCH/allowed" "$SCRATCH/allowed-agent" >"$SCRATCH/check.out" 2>&1; then
	pass
else
	failed "rendered manifests: $(cat "$SCRATCH/check.out")"
fi

# ---- what the program uses --------------------------------------------------------
"$PY" - "$SCRATCH/load.json" <<'EOF'
import json, sys
reg = {"version": 1, "node": "gpu-a", "updatedAt": "2026-11-28T11:47:49.123Z",
       "devices": [{"id": "GPU-a-0", "index": 0, "vendor": "nvidia", "model": "Tesla T4",
                    "memoryMiB": 15360}]}
def pod(name):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "team-a", "uid": "uid-" + name},
            "spec": {"containers": [{"name": "main", "resources": {"limits": {
                "nvidia.com/gpu": "1", "nvidia.com/gpumem": "4000"}}}]},
            "status": {"phase": "Pending"}}
json.dump({"nodes": [{"metadata": {"name": "gpu-a", "annotations": {
               "vxpu.io/node-registration": json.dumps(reg)}}}],
           "pods": [pod("p1"), pod("p2")],
           "resourcequotas": [{"metadata": {"name": "q", "namespace": "team-a"},
                               "spec": {"hard": {"limits.nvidia.com/gpumem": "100000"}}}]},
          open(sys.argv[1], "w"))
EOF
start_fake_apiserver --lifetime 110 --agent --load "$SCRATCH/load.json" --access-log "$SCRATCH/access"
cat >"$SCRATCH/kubeconfig" <<EOF
current-context: t
contexts: [{name: t, context: {cluster: c, user: u, namespace: vxpu-system}}]
clusters: [{name: c, cluster: {server: "http://127.0.0.1:$API_PORT"}}]
users: [{name: u, user: {token: t}}]
EOF
VXPU_LOG=info "$VXPU" scheduler --kubeconfig "$SCRATCH/kubeconfig" --listen 127.0.0.1:0 \
	--lease-namespace vxpu-system --no-ledger 2>"$SCRATCH/sched.log" &
SCHED_PID=$!
PORT=$(wait_for "$SCRATCH/sched.log" 's/.*msg=serving address=127\.0\.0\.1:\([0-9]*\).*/\1/p') ||
	{ echo "vxpu scheduler did not start"; cat "$SCRATCH/sched.log"; exit 1; }
for _ in $(seq 1 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && break
	sleep 0.1
done
bind() {
	curl -sS --max-time 20 -H 'Content-Type: application/json' \
		--data-binary "{\"PodName\":\"$1\",\"PodNamespace\":\"team-a\",\"PodUID\":\"uid-$1\",\"Node\":\"gpu-a\"}" \
		"http://127.0.0.1:$PORT/bind"
}
control() { curl -sS --max-time 5 --data-binary "$2" "http://127.0.0.1:$API_PORT$1" >/dev/null; }
OUT=$(bind p1)
if [ "$OUT" = '{"Error":""}' ]; then pass; else failed "bind p1: $OUT"; fi
# A Binding refused: the annotation is taken back and the lease given back.
control /__faults '{"status":500,"count":100,"match":"/binding"}'
OUT=$(bind p2)
if [[ "$OUT" == *500* ]]; then pass; else failed "bind p2 should fail: $OUT"; fi
control /__faults '{"clear":true}'
for _ in $(seq 1 50); do # the Events poster runs on its own thread
	grep -q '^POST /api/v1/namespaces/team-a/events' "$SCRATCH/access" && break
	sleep 0.1
done
stop_pid "$SCHED_PID"
SCHED_PID=""

cat >"$SCRATCH/used.py" <<'EOF'
import sys, urllib.parse
used = set()
for line in open(sys.argv[1]):
    if "client=test-kubelet" in line:
        continue  # the test kubelet's own calls (agent_kubelet.py), not the agent's
    method, target = line.split(" ", 1)
    url = urllib.parse.urlsplit(target.strip())
    query = dict(urllib.parse.parse_qsl(url.query))
    parts = url.path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        group, rest = parts[1], parts[3:]
    ns = "*"
    if rest[0] == "namespaces" and len(rest) > 2:
        ns, rest = rest[1], rest[2:]
    resource = rest[0] + ("/" + rest[2] if len(rest) > 2 else "")
    named = len(rest) > 1
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
    if method == "GET":
        verb = "get" if named else ("watch" if query.get("watch") in ("1", "true") else "list")
    used.add((group, resource, verb, ns))
with open(sys.argv[2], "w") as out:
    for u in sorted(used):
        out.write(" ".join((u[0] or "core",) + u[1:]) + "\n")
EOF
"$PY" "$SCRATCH/used.py" "$SCRATCH/access" "$SCRATCH/used"
# A request to a namespaced object is covered by a ClusterRole ("*") or by a
# Role of that namespace; the comparison maps each use to the grant that
# covers it and the other way round, so both extra and missing grants fail.
cat >"$SCRATCH/compare.py" <<'EOF'
import sys
used = [tuple(l.split()) for l in open(sys.argv[1])]
allowed = set(tuple(l.split()) for l in open(sys.argv[2]))
def cover(u):
    g, r, v, ns = u
    if (g, r, v, "*") in allowed:
        return (g, r, v, "*")
    if ns != "*" and (g, r, v, ns) in allowed:
        return (g, r, v, ns)
    return None
missing = [u for u in used if cover(u) is None]
needed = set(cover(u) for u in used if cover(u))
extra = sorted(allowed - needed)
for m in missing:
    print("used but not granted: " + " ".join(m))
for e in extra:
    print("granted but never used: " + " ".join(e))
print("uses: " + ", ".join(" ".join(u) for u in used))
sys.exit(1 if missing or extra else 0)
EOF
if "$PY" "$SCRATCH/compare.py" "$SCRATCH/used" "$SCRATCH/allowed" >"$SCRATCH/rbac.out" 2>&1; then
	pass
else
	failed "RBAC of vxpu-scheduler differs from what it uses: $(cat "$SCRATCH/rbac.out")"
fi

# ---- what the node agent uses ------------------------------------------------------
if /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then
	mkdir -p "$SCRATCH/agent"
	if VXPU_SIM_STATE=/dev/shm/vxpu-it-deploy-agent-$$ "$PY" "$HERE/agent_kubelet.py" "$BUILD" \
		"$SCRATCH/agent" "$SCRATCH/agent-access" >"$SCRATCH/agent.out" 2>&1; then
		pass
	else
		failed "the node agent's run against the test API server: $(tail -40 "$SCRATCH/agent.out")"
	fi
	rm -f /dev/shm/vxpu-it-deploy-agent-$$
	"$PY" "$SCRATCH/used.py" "$SCRATCH/agent-access" "$SCRATCH/used-agent"
	if "$PY" "$SCRATCH/compare.py" "$SCRATCH/used-agent" "$SCRATCH/allowed-agent" >"$SCRATCH/rbac-agent.out" 2>&1; then
		pass
	else
		failed "RBAC of vxpu-node-agent differs from what it uses: $(cat "$SCRATCH/rbac-agent.out")"
	fi
else
	failed "/usr/bin/python3 lacks grpc (python3-grpcio) or protobuf (python3-protobuf)"
fi

finish
