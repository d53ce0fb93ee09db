"""A protocol-level kubelet for the node agent's device plugin test.

It serves Registration on <dir>/kubelet.sock, starts `vxpu node plugin` on
the simulated driver, and drives the plugin over its socket the way kubelet
does: ListAndWatch (health changes), GetDevicePluginOptions,
GetPreferredAllocation, Allocate (for pods whose allocation annotation and
lease this script writes), PreStartContainer, and a kubelet restart. The
messages come from the descriptor set built from deviceplugin.proto.

usage: agent_kubelet.py BUILD_DIR WORK_DIR
"""
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
VXPU = os.path.join(BUILD, "vxpu")
PLUGIN_DIR = os.path.join(WORK, "device-plugins")
ALLOC_DIR = os.path.join(WORK, "allocations")
STATE = os.path.join(WORK, "state")
os.makedirs(PLUGIN_DIR, exist_ok=True)
os.makedirs(ALLOC_DIR, exist_ok=True)

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


kubelet = start_kubelet()
agent = subprocess.Popen(
    [VXPU, "node", "plugin", "--backend", "sim", "--plugin-dir", PLUGIN_DIR,
     "--allocations", ALLOC_DIR, "--state-dir", STATE, "--slices", "4", "--node", "sim-node", "--recover-after", "500ms",
     "--probe-interval", "50ms"],
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
        with open(STATE + "/node-registration.json") as f:
            return json.load(f)

    reg_doc = registration()
    check("node registration", reg_doc["version"] == 1 and reg_doc["node"] == "sim-node"
          and [d["id"] for d in reg_doc["devices"]] == cards
          and all(d.get("healthy", True) for d in reg_doc["devices"]), reg_doc)

    # XID 79 on card 1: unhealthy within 1 s, back after the quiet time.
    t0 = time.monotonic()
    sim("xid", "1", "79")
    t, resp = lists.get(timeout=5)
    ms = (t - t0) * 1000
    for _ in range(50):
        if registration()["devices"][1].get("healthy", True) is False:
            break
        time.sleep(0.02)
    reg_ms = (time.monotonic() - t0) * 1000
    print(f"XID 79 -> unhealthy in the node registration after {reg_ms:.0f} ms", flush=True)
    check("registration shows card 1 unhealthy within 1 s",
          registration()["devices"][1].get("healthy", True) is False and reg_ms < 1000)
    print(f"XID 79 -> Unhealthy in ListAndWatch after {ms:.0f} ms", flush=True)
    check("XID 79 within 1 s", ms < 1000, f"{ms:.0f} ms")
    check("card 1 unhealthy", health_of(resp, cards[1]) == {"Unhealthy"})
    check("card 0 still healthy", health_of(resp, cards[0]) == {"Healthy"})
    _, resp = lists.get(timeout=5)
    check("card 1 recovered", health_of(resp, cards[1]) == {"Healthy"})
    # An application XID changes nothing.
    sim("xid", "0", "13")
    try:
        lists.get(timeout=0.7)
        check("XID 13 sends no list", False)
    except queue.Empty:
        check("XID 13 sends no list", True)

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

    def admit(pod, text):
        with open(os.path.join(ALLOC_DIR, f"team-a_{pod}.json"), "w") as f:
            f.write(text)
        with open(os.path.join(ALLOC_DIR, "lease"), "w") as f:
            f.write(f"team-a/{pod}\n")

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
    holder.stdin.close()
    holder.wait(timeout=10)
    devs = [(d.container_path, d.host_path, d.permissions) for d in c.devices]
    check("device nodes", devs == [(p, p, "rw") for p in
                                   ["/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0", "/dev/nvidiactl"]], devs)
    check("lease released", not os.path.exists(os.path.join(ALLOC_DIR, "lease")))
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
    lat.sort()
    print(f"Allocate latency over 20 pods: median {lat[10]:.2f} ms, max {lat[-1]:.2f} ms", flush=True)

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
    os.unlink(os.path.join(ALLOC_DIR, "lease"))
    try:
        allocate(f"{cards[0]}::1")
        check("no lease refused", False)
    except grpc.RpcError as e:
        check("no lease refused", "no pod holds this node's allocation lease" in e.details(), e.details())

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
    print(open(os.path.join(WORK, "agent.log")).read(), flush=True)

print(f"{passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
