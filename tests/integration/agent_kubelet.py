"""A protocol-level kubelet for the node agent's device plugin test.

It serves Registration on <dir>/kubelet.sock, starts the test API server
(tests/unit/sched/fake_apiserver.py) with this node's Node object, starts
`vxpu node agent` on the simulated driver against both, and drives the
plugin over its socket the way kubelet does: ListAndWatch (health changes),
GetDevicePluginOptions, GetPreferredAllocation, Allocate (for pods whose
allocation annotation and node allocation Lease this script writes, as the
scheduler does at bind), PreStartContainer, and a kubelet restart. On the API
server it checks what the agent writes: the Lease released and the pod's
bind phase, the Node's registration annotation, the Events on the pods of a
failed device. The messages come from the descriptor set built from
deviceplugin.proto.

usage: agent_kubelet.py BUILD_DIR WORK_DIR [ACCESS_LOG]
  ACCESS_LOG: where the API server records every request (for the deploy
  test, which derives the agent's RBAC from it)
"""
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

BUILD, WORK = sys.argv[1], sys.argv[2]
ACCESS_LOG = sys.argv[3] if len(sys.argv) > 3 else None
HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "unit", "sched", "fake_apiserver.py")
VXPU = os.path.join(BUILD, "vxpu")
PLUGIN_DIR = os.path.join(WORK, "device-plugins")
STATE = os.path.join(WORK, "state")
NODE = "sim-node"
LEASE_NS = "vxpu-system"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/%s/leases/vxpu-node-%s" % (LEASE_NS, NODE)
os.makedirs(PLUGIN_DIR, exist_ok=True)

fds = descriptor_pb2.FileDescriptorSet()
with open(os.path.join(BUILD, "src/kube/deviceplugin.desc"), "rb") as f:
    fds.ParseFromString(f.read())
pool = descriptor_pool.DescriptorPool()
for fd in fds.file:
    pool.Add(fd)
factory = message_factory.MessageFactory(pool)


def msg(name):
    return factory.GetPrototype(pool.FindMessageTypeByName("v1beta1." + name))


Empty, RegisterRequest = msg("Empty"), msg("RegisterRequest")
AllocateRequest, AllocateResponse = msg("AllocateRequest"), msg("AllocateResponse")
ListAndWatchResponse, DevicePluginOptions = msg("ListAndWatchResponse"), msg("DevicePluginOptions")
PreferredRequest, PreferredResponse = msg("PreferredAllocationRequest"), msg("PreferredAllocationResponse")
PreStartRequest, PreStartResponse = msg("PreStartContainerRequest"), msg("PreStartContainerResponse")

passes, fails = 0, 0


def check(what, ok, detail=""):
    global passes, fails
    if ok:
        passes += 1
    else:
        fails += 1
        print(f"FAIL: {what} {detail}", flush=True)


registrations = queue.Queue()


def start_kubelet():
    def register(req, ctx):
        registrations.put(req)
        return Empty()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler("v1beta1.Registration", {
        "Register": grpc.unary_unary_rpc_method_handler(
            register, request_deserializer=RegisterRequest.FromString,
            response_serializer=Empty.SerializeToString)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("unix:" + os.path.join(PLUGIN_DIR, "kubelet.sock"))
    server.start()
    return server


def connect(endpoint):
    ch = grpc.insecure_channel("unix:" + os.path.join(PLUGIN_DIR, endpoint))
    call = lambda m, req, resp: ch.unary_unary(
        "/v1beta1.DevicePlugin/" + m, request_serializer=req.SerializeToString,
        response_deserializer=resp.FromString)
    rpc = {
        "options": call("GetDevicePluginOptions", Empty, DevicePluginOptions),
        "preferred": call("GetPreferredAllocation", PreferredRequest, PreferredResponse),
        "allocate": call("Allocate", AllocateRequest, AllocateResponse),
        "prestart": call("PreStartContainer", PreStartRequest, PreStartResponse),
        "watch": ch.unary_stream("/v1beta1.DevicePlugin/ListAndWatch",
                                 request_serializer=Empty.SerializeToString,
                                 response_deserializer=ListAndWatchResponse.FromString),
    }
    return ch, rpc


def sim(*args):
    subprocess.run([VXPU, "sim", *args], check=True, stdout=subprocess.DEVNULL)


# The API server, with this node's Node object (the agent patches it).
with open(os.path.join(WORK, "load.json"), "w") as f:
    json.dump({"nodes": [{"metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}}}]}, f)
fake_args = ["/usr/bin/python3", FAKE, "--lifetime", "200", "--load", os.path.join(WORK, "load.json")]
if ACCESS_LOG:
    fake_args += ["--access-log", ACCESS_LOG]
fake = subprocess.Popen(fake_args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=open(os.path.join(WORK, "fake.err"), "w"), text=True)
API_PORT = int(fake.stdout.readline().split()[1])
with open(os.path.join(WORK, "kubeconfig"), "w") as f:
    f.write(f"""current-context: t
contexts: [{{name: t, context: {{cluster: c, user: u, namespace: {LEASE_NS}}}}}]
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{API_PORT}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
""")
api_conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=10)


def api(method, path, body=None, ctype="application/json"):
    """The test's own API calls, marked so that the deploy test can tell
    them from the agent's in the access log."""
    data = json.dumps(body) if body is not None else None
    path += ("&" if "?" in path else "?") + "client=test-kubelet"
    api_conn.request(method, path, body=data, headers={"Content-Type": ctype} if data else {})
    r = api_conn.getresponse()
    out = json.loads(r.read() or b"null")
    return r.status, out


kubelet = start_kubelet()
agent = subprocess.Popen(
    [VXPU, "node", "agent", "--backend", "sim", "--plugin-dir", PLUGIN_DIR,
     "--kubeconfig", os.path.join(WORK, "kubeconfig"), "--state-dir", STATE, "--slices", "4",
     "--node", NODE, "--recover-after", "500ms", "--probe-interval", "50ms", "--heartbeat", "2s",
     "--listen", "127.0.0.1:0", "--interval", "50ms"],
    stdout=open(os.path.join(WORK, "agent.log"), "w"), stderr=subprocess.STDOUT)

try:
    reg = registrations.get(timeout=20)
    check("register version", reg.version == "v1beta1", reg.version)
    check("register resource", reg.resource_name == "nvidia.com/gpu", reg.resource_name)
    check("register endpoint", reg.endpoint == "vxpu-nvidia.com-gpu.sock", reg.endpoint)
    check("register options", reg.options.get_preferred_allocation_available
          and not reg.options.pre_start_required)
    ch, rpc = connect(reg.endpoint)

    opts = rpc["options"](Empty(), timeout=5)
    check("options", opts.get_preferred_allocation_available and not opts.pre_start_required)

    # ListAndWatch: 2 simulated cards x 4 slices, all healthy.
    lists = queue.Queue()
    stream = rpc["watch"](Empty())
    def follow():
        try:
            for r in stream:
                lists.put((time.monotonic(), r))
        except grpc.RpcError:
            pass  # the plugin restarts with kubelet: this stream ends there

    threading.Thread(target=follow, daemon=True).start()
    _, first = lists.get(timeout=5)
    ids = [d.ID for d in first.devices]
    cards = []
    for i in ids:
        if i.split("::")[0] not in cards:
            cards.append(i.split("::")[0])
    check("8 virtual devices", len(ids) == 8, ids)
    check("2 cards", len(cards) == 2, cards)
    check("all healthy", all(d.health == "Healthy" for d in first.devices))
    check("ids", ids[:4] == [f"{cards[0]}::{k}" for k in range(4)], ids)

    def health_of(resp, card):
        return {d.health for d in resp.devices if d.ID.startswith(card + "::")}

    def registration():
        st, node = api("GET", "/api/v1/nodes/" + NODE)
        text = node["metadata"].get("annotations", {}).get("vxpu.io/node-registration")
        return json.loads(text) if text else None

    reg_doc = None
    for _ in range(100):
        reg_doc = registration()
        if reg_doc:
            break
        time.sleep(0.05)
    check("node registration on the Node", reg_doc and reg_doc["version"] == 1
          and reg_doc["node"] == NODE and [d["id"] for d in reg_doc["devices"]] == cards
          and all(d.get("healthy", True) for d in reg_doc["devices"]), reg_doc)
    # The heartbeat (--heartbeat 2s) writes it again without a change.
    t0 = time.monotonic()
    first_at = reg_doc["updatedAt"]
    while time.monotonic() - t0 < 8 and registration()["updatedAt"] == first_at:
        time.sleep(0.1)
    beat = time.monotonic() - t0
    print(f"registration heartbeat (--heartbeat 2s) after {beat:.1f} s", flush=True)
    check("registration heartbeat within 2 s (a loaded machine: 5 s)",
          registration()["updatedAt"] != first_at and beat < 5, f"{beat:.1f} s")

    # Preferred allocation keeps a container's slices on one card.
    pr = PreferredRequest()
    cr = pr.container_requests.add()
    cr.available_deviceIDs.extend([f"{cards[0]}::0", f"{cards[1]}::0", f"{cards[0]}::1", f"{cards[1]}::1"])
    cr.must_include_deviceIDs.append(f"{cards[1]}::0")
    cr.allocation_size = 2
    presp = rpc["preferred"](pr, timeout=5)
    check("preferred", list(presp.container_responses[0].deviceIDs) == [f"{cards[1]}::0", f"{cards[1]}::1"],
          presp)
    rpc["prestart"](PreStartRequest(), timeout=5)
    check("prestart", True)

    def annotation(pod, mib, pct, card=0, prio=0):
        return {"version": 1, "node": "sim-node", "namespace": "team-a", "pod": pod, "project": "",
                "allocatedAt": "2026-11-28T11:47:49.000Z", "nodePolicy": "binpack",
                "devicePolicy": "topology", "cpuMilli": 0, "memoryMiB": 0,
                "containers": [{"name": "main", "kind": "app", "priority": prio, "devices": [
                    {"id": cards[card], "index": card, "vendor": "nvidia", "model": "VXPU-SIM 16GB",
                     "memoryMiB": mib, "computeUnits": pct, "computePercent": pct, "template": "",
                     "exclusive": False}]}]}

    uids = {}

    def admit(pod, text):
        """What bind does: the pod with its annotation, bound here, holding the lease."""
        st, obj = api("POST", "/api/v1/namespaces/team-a/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": "team-a", "annotations": {
                "vxpu.io/allocation": text, "vxpu.io/bind-phase": "allocating"}},
            "spec": {"nodeName": NODE, "containers": [{"name": "main", "image": "x"}]},
            "status": {"phase": "Pending"}})
        assert st == 201, obj
        uid = uids[pod] = obj["metadata"]["uid"]
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "vxpu-node-" + NODE, "namespace": LEASE_NS,
                              "annotations": {"vxpu.io/pod": "team-a/" + pod, "vxpu.io/pod-uid": uid}},
                 "spec": {"holderIdentity": uid, "leaseDurationSeconds": 60}}
        st, cur = api("GET", LEASE)
        if st == 404:
            st, _ = api("POST", LEASE.rsplit("/", 1)[0], lease)
            assert st == 201
        else:
            lease["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            st, _ = api("PUT", LEASE, lease)
            assert st == 200

    def lease_holder():
        return api("GET", LEASE)[1]["spec"]["holderIdentity"]

    def consumed(pod, want="success"):
        """The Lease released and the bind phase written (right after the answer)."""
        for _ in range(200):
            if lease_holder() == "" and phase(pod) == want:
                return True
            time.sleep(0.005)
        return False

    def phase(pod):
        return api("GET", "/api/v1/namespaces/team-a/pods/" + pod)[1]["metadata"]["annotations"].get(
            "vxpu.io/bind-phase")

    def allocate(*ids):
        req = AllocateRequest()
        req.container_requests.add().devices_ids.extend(ids)
        return rpc["allocate"](req, timeout=5)

    # One pod: the exact environment, mounts and device nodes.
    admit("infer-0", json.dumps(annotation("infer-0", 4096, 30)))
    resp = allocate(f"{cards[0]}::2")
    c = resp.container_responses[0]
    want_env = {"CUDA_VISIBLE_DEVICES": cards[0], "NVIDIA_VISIBLE_DEVICES": cards[0],
                "VXPU_MEMORY_LIMIT_0": "4096MiB", "VXPU_CORE_LIMIT_0": "30",
                "VXPU_PRIORITY": "high", "VXPU_REGION": "/var/run/vxpu/region",
                "VXPU_DEVICE_DIR": "/var/run/vxpu-devices"}
    check("env", dict(c.envs) == want_env, dict(c.envs))
    mounts = [(m.container_path, m.host_path, m.read_only) for m in c.mounts]
    check("mounts", mounts == [
        ("/etc/ld.so.preload", STATE + "/lib/ld.so.preload", True),
        ("/usr/local/vxpu/libvxpu.so", STATE + "/lib/libvxpu.so", True),
        ("/var/run/vxpu", STATE + "/containers/team-a_infer-0_main", False),
        ("/var/run/vxpu-devices", STATE + "/devices", False)], mounts)
    # What the mounts point at exists: the library, the preload file naming
    # it, and the container's managed region with its limit and device.
    with open(os.path.join(BUILD, "libvxpu.so"), "rb") as a, open(STATE + "/lib/libvxpu.so", "rb") as b:
        check("libvxpu.so installed", a.read() == b.read())
    with open(STATE + "/lib/ld.so.preload") as f:
        check("ld.so.preload", f.read() == "/usr/local/vxpu/libvxpu.so\n")
    region = STATE + "/containers/team-a_infer-0_main/region"
    shown = json.loads(subprocess.run([VXPU, "region", "show", "--json", region], check=True,
                                      capture_output=True, text=True).stdout)
    with open(STATE + "/containers/team-a_infer-0_main/pod-uid") as f:
        check("the region folder names its pod's uid", f.read() == uids["infer-0"])
    check("region limit and device", shown["devices"][0]["limit_bytes"] == 4096 << 20
          and shown["devices"][0]["uuid"] == cards[0], shown["devices"])

    # A process of the container (libvxpu.so preloaded, the region above):
    # the agent records its host PID in its slot within about a second.
    probe = os.path.join(BUILD, "limiter-tests/limiter_probe")
    ldd = subprocess.run(["ldd", probe], capture_output=True, text=True).stdout
    preload = " ".join([l.split()[2] for l in ldd.splitlines() if "libasan" in l]
                       + [os.path.join(BUILD, "libvxpu.so")])
    holder = subprocess.Popen([probe, "hold", str(8 << 20)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "LD_PRELOAD": preload, "VXPU_REGION": region})
    line = holder.stdout.readline()
    check("container process holds memory", "held=1" in line, line)
    host_pid = None
    for _ in range(60):
        shown = json.loads(subprocess.run([VXPU, "region", "show", "--json", region], check=True,
                                          capture_output=True, text=True).stdout)
        host_pid = shown["processes"][0]["host_pid"] if shown["processes"] else None
        if host_pid:
            break
        time.sleep(0.1)
    check("host PID recorded by the agent", host_pid == holder.pid, f"{host_pid} vs {holder.pid}")
    # The monitor runs in the agent: /metrics shows that container.
    address = None
    for line in open(os.path.join(WORK, "agent.log")):
        if "msg=monitor address=" in line:
            address = line.split("address=")[1].split()[0]
    check("the agent runs the monitor", address is not None)
    if address:
        mconn = http.client.HTTPConnection(*address.rsplit(":", 1), timeout=5)
        text = ""
        for _ in range(40):
            mconn.request("GET", "/metrics")
            text = mconn.getresponse().read().decode()
            if 'pod="infer-0"' in text:
                break
            time.sleep(0.05)
        check("/metrics of the agent names the container", 'namespace="team-a"' in text
              and 'pod="infer-0"' in text and 'container="main"' in text, text[:2000])
        mconn.request("GET", "/healthz")
        check("/healthz of the agent", mconn.getresponse().status == 200)
        mconn.close()
    holder.stdin.close()
    holder.wait(timeout=10)
    devs = [(d.container_path, d.host_path, d.permissions) for d in c.devices]
    check("device nodes", devs == [(p, p, "rw") for p in
                                   ["/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0", "/dev/nvidiactl"]], devs)
    check("lease released and bind phase success", consumed("infer-0"), (lease_holder(), phase("infer-0")))
    again = allocate(f"{cards[0]}::2")
    check("a retried Allocate gets the same answer",
          again.SerializeToString(deterministic=True) == resp.SerializeToString(deterministic=True))

    # 20 pods in a row, each its own limits, same virtual ID reused by kubelet.
    lat = []
    for i in range(20):
        pod = f"batch-{i}"
        admit(pod, json.dumps(annotation(pod, 1000 + i, 0, card=i % 2, prio=i % 2)))
        t0 = time.monotonic()
        r = allocate(f"{cards[i % 2]}::0")
        lat.append((time.monotonic() - t0) * 1000)
        env = dict(r.container_responses[0].envs)
        ok = (env.get("VXPU_MEMORY_LIMIT_0") == f"{1000 + i}MiB"
              and env.get("CUDA_VISIBLE_DEVICES") == cards[i % 2]
              and env.get("VXPU_PRIORITY") == ("high", "low")[i % 2]
              and "VXPU_CORE_LIMIT_0" not in env
              and r.container_responses[0].mounts[2].host_path.endswith(f"team-a_{pod}_main"))
        check(f"pod {i}", ok, env)
        check(f"pod {i} consumed", consumed(pod), (lease_holder(), phase(pod)))
    lat.sort()
    print(f"Allocate latency over 20 pods: median {lat[10]:.2f} ms, max {lat[-1]:.2f} ms", flush=True)

    # XID 79 on card 1: unhealthy within 1 s in ListAndWatch and on the Node,
    # a Warning Event on every pod with an allocation there; back after the
    # quiet time, with a Normal Event.
    while not lists.empty():
        lists.get()
    t0 = time.monotonic()
    sim("xid", "1", "79")
    t, resp = lists.get(timeout=5)
    ms = (t - t0) * 1000
    for _ in range(100):
        if registration()["devices"][1].get("healthy", True) is False:
            break
        time.sleep(0.01)
    reg_ms = (time.monotonic() - t0) * 1000
    print(f"XID 79 -> Unhealthy in ListAndWatch after {ms:.0f} ms", flush=True)
    print(f"XID 79 -> unhealthy in the Node's registration after {reg_ms:.0f} ms", flush=True)
    check("XID 79 within 1 s", ms < 1000, f"{ms:.0f} ms")
    check("card 1 unhealthy", health_of(resp, cards[1]) == {"Unhealthy"})
    check("card 0 still healthy", health_of(resp, cards[0]) == {"Healthy"})
    check("registration shows card 1 unhealthy within 1 s",
          registration()["devices"][1].get("healthy", True) is False and reg_ms < 1000)
    on_card1 = {f"batch-{i}" for i in range(20) if i % 2 == 1}

    def events(reason):
        st, lst = api("GET", "/api/v1/namespaces/team-a/events")
        return [e for e in lst["items"] if e.get("reason") == reason]

    warned = []
    for _ in range(100):
        warned = events("DeviceUnhealthy")
        if len(warned) >= len(on_card1):
            break
        time.sleep(0.02)
    ev_ms = (time.monotonic() - t0) * 1000
    print(f"XID 79 -> {len(warned)} DeviceUnhealthy Events after {ev_ms:.0f} ms", flush=True)
    check("a Warning Event on each pod of card 1",
          {e["involvedObject"]["name"] for e in warned} == on_card1
          and all(e["type"] == "Warning" and e["involvedObject"]["uid"] == uids[e["involvedObject"]["name"]]
                  for e in warned), [e["involvedObject"]["name"] for e in warned])
    check("the Event names the device and the reason", warned and cards[1] in warned[0]["message"]
          and "index 1" in warned[0]["message"] and "critical XID 79" in warned[0]["message"],
          warned[0]["message"] if warned else None)
    _, resp = lists.get(timeout=5)
    check("card 1 recovered", health_of(resp, cards[1]) == {"Healthy"})
    for _ in range(100):
        if registration()["devices"][1].get("healthy", True) is True and \
                len(events("DeviceRecovered")) >= len(on_card1):
            break
        time.sleep(0.02)
    check("registration shows card 1 healthy again", registration()["devices"][1].get("healthy", True))
    check("a Normal Event on each pod of card 1 when it recovers",
          {e["involvedObject"]["name"] for e in events("DeviceRecovered")} == on_card1)
    # An application XID changes nothing.
    sim("xid", "0", "13")
    try:
        lists.get(timeout=0.7)
        check("XID 13 sends no list", False)
    except queue.Empty:
        check("XID 13 sends no list", True)


    # A pod that is deleted takes its containers' region folders with it;
    # one that finished too; the others stay.
    folder = STATE + "/containers/team-a_batch-0_main"
    check("batch-0's region folder exists", os.path.isdir(folder))
    api("DELETE", "/api/v1/namespaces/team-a/pods/batch-0")
    st, p2 = api("GET", "/api/v1/namespaces/team-a/pods/batch-2")
    p2["status"] = {"phase": "Succeeded"}
    api("PUT", "/api/v1/namespaces/team-a/pods/batch-2", p2)
    for _ in range(100):
        if not os.path.exists(folder) and not os.path.exists(STATE + "/containers/team-a_batch-2_main"):
            break
        time.sleep(0.02)
    check("a deleted pod's region folder is removed", not os.path.exists(folder))
    check("a finished pod's region folder is removed",
          not os.path.exists(STATE + "/containers/team-a_batch-2_main"))
    check("the other pods' region folders stay", os.path.isdir(STATE + "/containers/team-a_batch-4_main"))

    # Errors: a malformed annotation, no lease.
    admit("broken", json.dumps(annotation("broken", 0, 0)).replace('"memoryMiB": 0, "computeUnits"',
                                                                    '"memoryMiB": "4GiB", "computeUnits"'))
    try:
        allocate(f"{cards[0]}::3")
        check("malformed annotation refused", False)
    except grpc.RpcError as e:
        print("malformed:", e.details(), flush=True)
        check("malformed annotation refused", e.code() == grpc.StatusCode.FAILED_PRECONDITION
              and "pod team-a/broken: allocation annotation:" in e.details()
              and "memoryMiB" in e.details(), e.details())
    # kubelet rejects that pod: its bind phase is failed and the node is free.
    check("malformed: bind phase failed, lease released", consumed("broken", "failed"),
          (phase("broken"), lease_holder()))
    try:
        allocate(f"{cards[0]}::3")
        check("malformed: a retry gets the same error", False)
    except grpc.RpcError as e:
        check("malformed: a retry gets the same error", "pod team-a/broken: allocation annotation:" in e.details(),
              e.details())
    try:
        allocate(f"{cards[0]}::1")
        check("no lease refused", False)
    except grpc.RpcError as e:
        check("no lease refused", "no pod holds this node's allocation lease vxpu-system/vxpu-node-sim-node"
              in e.details(), e.details())

    # kubelet restarts: its folder is cleared, the plugin registers again.
    ch.close()
    kubelet.stop(None).wait()
    for name in os.listdir(PLUGIN_DIR):
        os.unlink(os.path.join(PLUGIN_DIR, name))
    kubelet = start_kubelet()
    reg = registrations.get(timeout=10)
    check("registered again after the restart", reg.resource_name == "nvidia.com/gpu")
    ch, rpc = connect(reg.endpoint)
    again = next(rpc["watch"](Empty(), timeout=5))
    check("ListAndWatch after the restart", len(again.devices) == 8)
    ch.close()
finally:
    agent.send_signal(signal.SIGTERM)
    try:
        rc = agent.wait(timeout=10)
    except subprocess.TimeoutExpired:
        agent.kill()
        rc = "killed"
    check("the agent stops on SIGTERM", rc == 0, f"rc {rc}")
    kubelet.stop(None)
    fake.stdin.close()
    fake.wait(timeout=10)
    print(open(os.path.join(WORK, "agent.log")).read(), flush=True)

print(f"{passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
