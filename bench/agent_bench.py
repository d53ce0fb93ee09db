"""Allocate latency of the node agent against the test API server.

Starts the test API server (tests/unit/sched/fake_apiserver.py) and
`vxpu node agent` on the simulated driver (two cards, --listen none, no
monitor server), registers it with a minimal kubelet, then admits PODS pods
one after the other as the scheduler does at bind (the pod with its
vxpu.io/allocation annotation, the node's Lease naming it) and times each
kubelet Allocate from the gRPC call to its answer; the node holds LIVE
containers at a time (the pod LIVE pods back is deleted, and the agent
removes its region folder). The agent reads the pod
from its watch of the node's pods when that has it, else from the API
server; it prints how many came from the watch), and the agent's own view
of each call (from the request's arrival on its server thread to the answer),
which leaves out the Python client's share. Each answer is checked
(the pod's own memory limit) and the Lease must be released before the next
pod, as the scheduler waits for it. Prints the percentiles.

usage: agent_bench.py BUILD_DIR WORK_DIR [PODS]
"""
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

BUILD, WORK = sys.argv[1], sys.argv[2]
PODS = int(sys.argv[3]) if len(sys.argv) > 3 else 300
LIVE = 20  # containers on the node at a time
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FAKE = os.path.join(ROOT, "tests", "unit", "sched", "fake_apiserver.py")
PLUGIN_DIR = os.path.join(WORK, "device-plugins")
NODE, LEASE_NS = "bench-node", "vxpu-system"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/%s/leases/vxpu-node-%s" % (LEASE_NS, NODE)
os.makedirs(PLUGIN_DIR, exist_ok=True)

fds = descriptor_pb2.FileDescriptorSet()
with open(os.path.join(BUILD, "src/kube/deviceplugin.desc"), "rb") as f:
    fds.ParseFromString(f.read())
pool = descriptor_pool.DescriptorPool()
for fd in fds.file:
    pool.Add(fd)
factory = message_factory.MessageFactory(pool)
msg = lambda n: factory.GetPrototype(pool.FindMessageTypeByName("v1beta1." + n))
Empty, RegisterRequest = msg("Empty"), msg("RegisterRequest")
AllocateRequest, AllocateResponse = msg("AllocateRequest"), msg("AllocateResponse")
ListAndWatchResponse = msg("ListAndWatchResponse")

with open(os.path.join(WORK, "load.json"), "w") as f:
    json.dump({"nodes": [{"metadata": {"name": NODE}}]}, f)
fake = subprocess.Popen(["/usr/bin/python3", FAKE, "--lifetime", "600", "--load",
                         os.path.join(WORK, "load.json")], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, text=True)
port = int(fake.stdout.readline().split()[1])
with open(os.path.join(WORK, "kubeconfig"), "w") as f:
    f.write(f"""current-context: t
contexts: [{{name: t, context: {{cluster: c, user: u, namespace: {LEASE_NS}}}}}]
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
""")
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def api(method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")


registrations = queue.Queue()
kubelet = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
kubelet.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("v1beta1.Registration", {
    "Register": grpc.unary_unary_rpc_method_handler(
        lambda req, ctx: (registrations.put(req), Empty())[1],
        request_deserializer=RegisterRequest.FromString,
        response_serializer=Empty.SerializeToString)}),))
kubelet.add_insecure_port("unix:" + os.path.join(PLUGIN_DIR, "kubelet.sock"))
kubelet.start()
agent = subprocess.Popen(
    [os.path.join(BUILD, "vxpu"), "node", "agent", "--backend", "sim", "--plugin-dir", PLUGIN_DIR,
     "--kubeconfig", os.path.join(WORK, "kubeconfig"), "--state-dir", os.path.join(WORK, "state"),
     "--node", NODE, "--slices", "4", "--listen", "none"],
    stdout=open(os.path.join(WORK, "agent.log"), "w"), stderr=subprocess.STDOUT)
rc = 1
try:
    reg = registrations.get(timeout=30)
    ch = grpc.insecure_channel("unix:" + os.path.join(PLUGIN_DIR, reg.endpoint))
    allocate = ch.unary_unary("/v1beta1.DevicePlugin/Allocate",
                              request_serializer=AllocateRequest.SerializeToString,
                              response_deserializer=AllocateResponse.FromString)
    first = next(ch.unary_stream("/v1beta1.DevicePlugin/ListAndWatch",
                                 request_serializer=Empty.SerializeToString,
                                 response_deserializer=ListAndWatchResponse.FromString)(Empty(), timeout=10))
    cards = sorted({d.ID.split("::")[0] for d in first.devices})
    lease_rv = None
    lat = []
    for i in range(PODS):
        pod, card = f"bench-{i}", i % len(cards)
        ann = {"version": 1, "node": NODE, "namespace": "team-a", "pod": pod, "project": "",
               "allocatedAt": "2026-11-28T11:47:49.000Z", "nodePolicy": "binpack",
               "devicePolicy": "binpack", "cpuMilli": 0, "memoryMiB": 0,
               "containers": [{"name": "main", "kind": "app", "priority": 0, "devices": [
                   {"id": cards[card], "index": card, "vendor": "nvidia", "model": "VXPU-SIM 16GB",
                    "memoryMiB": 1000 + i, "computeUnits": 0, "computePercent": 0,
                    "template": "", "exclusive": False}]}]}
        st, obj = api("POST", "/api/v1/namespaces/team-a/pods", {
            "metadata": {"name": pod, "annotations": {"vxpu.io/allocation": json.dumps(ann)}},
            "spec": {"nodeName": NODE, "containers": [{"name": "main"}]}})
        uid = obj["metadata"]["uid"]
        lease = {"metadata": {"name": "vxpu-node-" + NODE, "annotations": {
                     "vxpu.io/pod": "team-a/" + pod, "vxpu.io/pod-uid": uid}},
                 "spec": {"holderIdentity": uid, "leaseDurationSeconds": 60}}
        st, cur = api("GET", LEASE)
        if st == 404:
            api("POST", LEASE.rsplit("/", 1)[0], lease)
        else:
            lease["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            assert api("PUT", LEASE, lease)[0] == 200
        req = AllocateRequest()
        req.container_requests.add().devices_ids.append(f"{cards[card]}::{i % 4}")
        t0 = time.perf_counter()
        resp = allocate(req, timeout=10)
        lat.append((time.perf_counter() - t0) * 1000)
        env = dict(resp.container_responses[0].envs)
        assert env["VXPU_MEMORY_LIMIT_0"] == f"{1000 + i}MiB", env
        # A node runs a bounded number of containers: the pod LIVE pods back
        # is deleted, and the agent removes its region folder (its host-PID
        # pass and the monitor read every region folder each pass).
        if i >= LIVE:
            api("DELETE", f"/api/v1/namespaces/team-a/pods/bench-{i - LIVE}")
        for _ in range(1000):  # the scheduler waits for the release
            if api("GET", LEASE)[1]["spec"]["holderIdentity"] == "":
                break
            time.sleep(0.001)
        else:
            raise SystemExit(f"lease not released after pod {pod}")
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(round(p / 100 * len(lat))) - 1)]
    print(f"agent: Allocate over {PODS} pods against the test API server: "
          f"p50 {pct(50):.2f} ms, p90 {pct(90):.2f} ms, p99 {pct(99):.2f} ms, "
          f"max {lat[-1]:.2f} ms (target p99 <= 5 ms)", flush=True)
    rc = 0
finally:
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=10)
    kubelet.stop(None)
    fake.stdin.close()
    fake.wait(timeout=10)
for line in open(os.path.join(WORK, "agent.log")):
    if "msg=allocations" in line:  # how many pods the agent's watch had already
        print("agent: " + line.split("counts=", 1)[1].strip().strip('"'), flush=True)
    if 'msg="allocate times"' in line:  # inside the agent, without the gRPC client
        print("agent: inside the plugin: " + line.split("latency=", 1)[1].strip().strip('"'),
              flush=True)
sys.exit(rc)
