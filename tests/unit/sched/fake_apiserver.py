#!/usr/bin/python3
"""A protocol-level stand-in for the Kubernetes API server, for tests.

It speaks the parts of the API that vxpu's scheduler uses, with the
server's concurrency rules:

  - objects: Nodes, Pods (with the pods/binding subresource),
    ResourceQuotas, Events (core/v1) and Leases (coordination.k8s.io/v1);
  - GET (object, list with limit/continue and fieldSelector
    metadata.name= / spec.nodeName=, watch with resourceVersion, bookmarks
    and timeoutSeconds), POST (create; 409 AlreadyExists), PUT (409 when
    metadata.resourceVersion is not the current one), PATCH (merge and
    strategic merge, which it treats as a merge, and JSON Patch; a merge
    patch naming metadata.resourceVersion is a precondition: 409 when it is
    not the current one), DELETE;
  - one resourceVersion counter for everything; watches replay the events
    after the version asked for, and answer an ERROR event with code 410
    when that version left the kept history (--history, /__compact);
  - bearer tokens: with --token-file, every request must carry the file's
    current content (the file is read again on every request, so a test
    can rotate it), else 401;
  - TLS with --tls-cert/--tls-key, client certificates with --client-ca.

Control endpoints (no authentication) for fault injection and checks:
  POST /__faults  {"status": 500|429|..., "drop": true, "count": N,
                   "match": "substring of METHOD PATH"}: the next N matching
                   requests get that status (a Status body, Retry-After: 0
                   for 429) or have their connection closed unanswered;
                  {"clear": true} forgets the faults not yet used
  POST /__compact forget the event history (watches from before get 410)
  GET  /__stats   request counts by method and the current version
  POST /__stop    exit

--agent stands in for vxpu's node agent: when a pod is bound, the Lease
"vxpu-node-<node>" it holds is released (holderIdentity cleared) as the
agent does once kubelet's Allocate consumed the allocation, and the pod's
vxpu.io/bind-phase becomes "success".

--access-log FILE records every API request (not the control endpoints) as
"METHOD PATH?QUERY", for tests that derive what a client uses.

The server listens on 127.0.0.1 only, prints "PORT <n>" when ready, and
exits when its standard input closes or after --lifetime seconds.
"""

import argparse
import base64
import bisect
import copy
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

GROUPS = {
    "/api/v1": {"nodes": False, "pods": True, "resourcequotas": True, "events": True},
    "/apis/coordination.k8s.io/v1": {"leases": True},
}
KINDS = {"nodes": "Node", "pods": "Pod", "resourcequotas": "ResourceQuota",
         "events": "Event", "leases": "Lease"}


class Store:
    def __init__(self, history):
        self.lock = threading.Condition()
        self.objects = {}  # resource -> {(ns, name): obj}
        self.version = 1
        # (version, resource, type, obj, line), by version: obj a private copy
        # for field selectors, line the watch event already encoded.
        self.events = []
        self.versions = []  # the events' versions, for bisect
        self.history = history
        self.oldest = 1  # watches from a version below this get 410
        self.faults = []
        self.counts = {}
        self.agent = False

    def bump(self):
        self.version += 1
        return str(self.version)

    def record(self, resource, etype, obj):
        # One encoding per event (not one copy plus one per watcher).
        line = (json.dumps({"type": etype, "object": obj}) + "\n").encode()
        self.events.append((self.version, resource, etype, json.loads(line)["object"], line))
        self.versions.append(self.version)
        if len(self.events) > self.history:
            drop = len(self.events) - self.history
            self.oldest = self.events[drop - 1][0] + 1
            del self.events[:drop]
            del self.versions[:drop]
        self.lock.notify_all()


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def merge(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge(target.get(k), v)
    return target


def pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError("bad JSON pointer " + path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    for op in ops:
        toks = pointer(op["path"])
        parent = doc
        for t in toks[:-1]:
            parent = parent[int(t)] if isinstance(parent, list) else parent[t]
        last = toks[-1]
        kind = op["op"]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(idx, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[idx] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[idx]
            elif kind == "test":
                if parent[idx] != op["value"]:
                    raise KeyError("test failed")
            else:
                raise ValueError("op " + kind)
        else:
            if kind in ("add", "replace"):
                if kind == "replace" and last not in parent:
                    raise KeyError(op["path"])
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            elif kind == "test":
                if parent.get(last) != op["value"]:
                    raise KeyError("test failed")
            else:
                raise ValueError("op " + kind)
    return doc


def parse_path(path):
    """-> (resource, namespace, name, subresource) or None."""
    for prefix, resources in GROUPS.items():
        if not path.startswith(prefix + "/"):
            continue
        parts = path[len(prefix) + 1:].split("/")
        ns = None
        if parts[0] == "namespaces" and len(parts) >= 3:
            ns = parts[1]
            parts = parts[2:]
        if not parts or parts[0] not in resources:
            return None
        resource = parts[0]
        if resources[resource] is False and ns is not None:
            return None
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        if len(parts) > 3:
            return None
        return resource, ns, name, sub
    return None


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def selected(obj, ns, selector):
    meta = obj.get("metadata", {})
    if ns is not None and meta.get("namespace") != ns:
        return False
    for term in [t for t in selector.split(",") if t]:
        key, _, want = term.partition("=")
        if key == "spec.nodeName":
            got = obj.get("spec", {}).get("nodeName", "")
        elif key == "metadata.name":
            got = meta.get("name")
        elif key == "metadata.namespace":
            got = meta.get("namespace")
        else:
            raise ValueError("field selector " + key)
        if got != want:
            return False
    return True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"
    # Headers and body go out in two writes: without this, Nagle's algorithm
    # holds the body until the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    # -- plumbing --
    def send_json(self, code, body, extra=None):
        data = json.dumps(body).encode()
        if getattr(self, "deferred", None) is not None:
            # Encoded now (under the store lock, if held), written once the
            # handler returned and released it: socket writes never hold up
            # the other requests.
            self.deferred.append((code, data, extra))
            return
        self.write_json(code, data, extra)

    def write_json(self, code, data, extra=None):
        # Status line, headers and body in one write, without http.server's
        # send_response (a date, a log call and a second write per reply):
        # this server is what limits the bind benchmark.
        head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
            code, self.responses.get(code, ("",))[0], len(data))
        for k, v in (extra or {}).items():
            head += "%s: %s\r\n" % (k, v)
        self.wfile.write(head.encode("latin-1") + b"\r\n" + data)

    def fail(self, code, reason, message):
        self.send_json(code, status(code, reason, message))

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def fault(self):
        st = self.server.store
        what = self.command + " " + self.path
        with st.lock:
            st.counts[self.command] = st.counts.get(self.command, 0) + 1
            for f in st.faults:
                if f["count"] > 0 and f.get("match", "") in what:
                    f["count"] -= 1
                    return dict(f)
        return None

    def authorized(self):
        tf = self.server.token_file
        if not tf:
            return True
        with open(tf) as fh:
            token = fh.read().strip()
        return self.headers.get("Authorization") == "Bearer " + token

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError):
            self.close_connection = True

    def dispatch(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        streaming = self.command == "GET" and query.get("watch", [""])[0] in ("1", "true")
        self.deferred = None if streaming else []
        try:
            return self.dispatch_now()
        finally:
            replies, self.deferred = self.deferred, None
            for code, data, extra in replies or []:
                self.write_json(code, data, extra)

    def dispatch_now(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        path = url.path
        st = self.server.store
        if path.startswith("/__"):
            return self.control(path)
        if self.server.access_log:
            with st.lock:
                self.server.access_log.write("%s %s\n" % (self.command, self.path))
                self.server.access_log.flush()
        f = self.fault()
        if f:
            self.body()
            if f.get("drop"):
                self.close_connection = True
                self.connection.shutdown(2)
                return
            code = f.get("status", 500)
            extra = {"Retry-After": "0"} if code == 429 else None
            return self.send_json(code, status(code, "Injected", "injected fault"), extra)
        if not self.authorized():
            self.body()
            return self.fail(401, "Unauthorized", "Unauthorized")
        target = parse_path(path)
        if not target:
            self.body()
            return self.fail(404, "NotFound", "the server could not find the requested resource")
        resource, ns, name, sub = target
        try:
            if self.command == "GET":
                if name:
                    return self.get(resource, ns, name)
                if query.get("watch") in ("1", "true"):
                    return self.watch(resource, ns, query)
                return self.list(resource, ns, query)
            raw = self.body()
            doc = json.loads(raw) if raw else None
            if self.command == "POST" and sub == "binding":
                return self.bind(ns, name, doc)
            if sub is not None:
                return self.fail(404, "NotFound", "no such subresource")
            if self.command == "POST" and not name:
                return self.create(resource, ns, doc)
            if self.command == "PUT" and name:
                return self.replace(resource, ns, name, doc)
            if self.command == "PATCH" and name:
                return self.patch(resource, ns, name, doc)
            if self.command == "DELETE" and name:
                return self.delete(resource, ns, name)
            return self.fail(405, "MethodNotAllowed", self.command + " " + path)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            return self.fail(400, "BadRequest", str(e))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = dispatch

    def control(self, path):
        st = self.server.store
        raw = self.body()
        if path == "/__faults":
            f = json.loads(raw)
            f.setdefault("count", 1)
            with st.lock:
                if f.get("clear"):
                    st.faults.clear()
                else:
                    st.faults.append(f)
            return self.send_json(200, {})
        if path == "/__compact":
            with st.lock:
                st.events.clear()
                st.versions.clear()
                st.oldest = st.version + 1
            return self.send_json(200, {"version": st.version})
        if path == "/__stats":
            with st.lock:
                return self.send_json(200, {"counts": st.counts, "version": st.version})
        if path == "/__stop":
            self.send_json(200, {})
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return None
        return self.fail(404, "NotFound", path)

    # -- verbs --
    def table(self, resource):
        return self.server.store.objects.setdefault(resource, {})

    def get(self, resource, ns, name):
        st = self.server.store
        with st.lock:
            obj = self.table(resource).get((ns, name))
            if obj is None:
                return self.fail(404, "NotFound", '%s "%s" not found' % (resource, name))
            return self.send_json(200, obj)

    def list(self, resource, ns, query):
        st = self.server.store
        selector = query.get("fieldSelector", "")
        with st.lock:
            items = [o for (_, _), o in sorted(self.table(resource).items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
                     if selected(o, ns, selector)]
            cont = query.get("continue")
            if cont:
                start, rv = json.loads(base64.b64decode(cont))
                if rv < st.oldest:
                    return self.fail(410, "Expired", "the continue token is too old")
            else:
                start, rv = 0, st.version
            limit = int(query.get("limit") or 0)
            page = items[start:start + limit] if limit else items[start:]
            meta = {"resourceVersion": str(rv)}
            if limit and start + limit < len(items):
                meta["continue"] = base64.b64encode(json.dumps([start + limit, rv]).encode()).decode()
            return self.send_json(200, {"kind": KINDS[resource] + "List", "apiVersion": "v1",
                                        "metadata": meta, "items": page})

    def chunk(self, obj):
        self.chunk_line((json.dumps(obj) + "\n").encode())

    def chunk_line(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, resource, ns, query):
        st = self.server.store
        selector = query.get("fieldSelector", "")
        timeout = float(query.get("timeoutSeconds") or 30)
        deadline = time.time() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        since = int(query.get("resourceVersion") or st.version)
        try:
            with st.lock:
                expired = since + 1 < st.oldest
                oldest = st.oldest
            if expired:
                self.chunk({"type": "ERROR", "object": status(
                    410, "Expired", "too old resource version: %d (%d)" % (since, oldest - 1))})
                self.wfile.write(b"0\r\n\r\n")
                return None
            # Events are picked under the lock and written after it is
            # released (recorded objects are copies nobody changes), so a
            # slow watcher never holds up the other requests.
            while not self.server.stopping:
                with st.lock:
                    start = bisect.bisect_right(st.versions, since)
                    batch = []
                    for version, res, etype, obj, line in st.events[start:]:
                        since = version
                        if res == resource and selected(obj, ns, selector):
                            batch.append(line)
                    left = deadline - time.time()
                    if not batch and left > 0:
                        st.lock.wait(min(left, 0.5))
                for line in batch:
                    self.chunk_line(line)
                if deadline - time.time() <= 0:
                    break
            if query.get("allowWatchBookmarks") == "true":
                # Every event up to since was looked at (and sent if selected).
                self.chunk({"type": "BOOKMARK", "object": {
                    "kind": KINDS[resource], "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(since)}}})
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, ssl.SSLError):
            self.close_connection = True
        return None

    def create(self, resource, ns, doc):
        st = self.server.store
        meta = doc.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            return self.fail(422, "Invalid", "metadata.name: Required value")
        if GROUPS["/api/v1"].get(resource, True) and resource != "nodes":
            meta["namespace"] = ns
        with st.lock:
            table = self.table(resource)
            if (ns, name) in table:
                return self.fail(409, "AlreadyExists", '%s "%s" already exists' % (resource, name))
            meta["uid"] = str(uuid.uuid4())
            meta["resourceVersion"] = st.bump()
            meta["creationTimestamp"] = now_rfc3339()
            doc.setdefault("kind", KINDS[resource])
            table[(ns, name)] = doc
            st.record(resource, "ADDED", doc)
            return self.send_json(201, doc)

    def replace(self, resource, ns, name, doc):
        st = self.server.store
        with st.lock:
            table = self.table(resource)
            cur = table.get((ns, name))
            if cur is None:
                return self.fail(404, "NotFound", '%s "%s" not found' % (resource, name))
            rv = doc.get("metadata", {}).get("resourceVersion")
            if rv != cur["metadata"]["resourceVersion"]:
                return self.fail(409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please apply your changes to the latest version and try again" % (resource, name))
            doc["metadata"]["uid"] = cur["metadata"]["uid"]
            doc["metadata"]["resourceVersion"] = st.bump()
            table[(ns, name)] = doc
            st.record(resource, "MODIFIED", doc)
            return self.send_json(200, doc)

    def patch(self, resource, ns, name, doc):
        st = self.server.store
        ctype = self.headers.get("Content-Type", "")
        with st.lock:
            table = self.table(resource)
            cur = table.get((ns, name))
            if cur is None:
                return self.fail(404, "NotFound", '%s "%s" not found' % (resource, name))
            new = copy.deepcopy(cur)
            if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                rv = (doc.get("metadata") or {}).get("resourceVersion")
                if rv is not None and rv != cur["metadata"]["resourceVersion"]:
                    return self.fail(409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please apply your changes to the latest version and try again" % (resource, name))
                new = merge(new, doc)
            elif ctype == "application/json-patch+json":
                try:
                    new = json_patch(new, doc)
                except KeyError as e:
                    return self.fail(422, "Invalid", "json patch: " + str(e))
            else:
                return self.fail(415, "UnsupportedMediaType", ctype)
            new["metadata"]["uid"] = cur["metadata"]["uid"]
            new["metadata"]["resourceVersion"] = st.bump()
            table[(ns, name)] = new
            st.record(resource, "MODIFIED", new)
            return self.send_json(200, new)

    def delete(self, resource, ns, name):
        st = self.server.store
        with st.lock:
            table = self.table(resource)
            cur = table.pop((ns, name), None)
            if cur is None:
                return self.fail(404, "NotFound", '%s "%s" not found' % (resource, name))
            cur["metadata"]["resourceVersion"] = st.bump()
            st.record(resource, "DELETED", cur)
            return self.send_json(200, cur)

    def bind(self, ns, name, doc):
        st = self.server.store
        with st.lock:
            pod = self.table("pods").get((ns, name))
            if pod is None:
                return self.fail(404, "NotFound", 'pods "%s" not found' % name)
            uid = (doc.get("metadata") or {}).get("uid")
            if uid and uid != pod["metadata"]["uid"]:
                return self.fail(409, "Conflict", "binding uid %s is not the pod's" % uid)
            if pod.get("spec", {}).get("nodeName"):
                return self.fail(409, "Conflict", 'pod %s is already assigned to node "%s"' % (name, pod["spec"]["nodeName"]))
            node = doc["target"]["name"]
            pod["spec"]["nodeName"] = node
            pod["metadata"]["resourceVersion"] = st.bump()
            st.record("pods", "MODIFIED", pod)
            if st.agent:
                self.agent_allocate(pod, node)
            return self.send_json(201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201})

    def agent_allocate(self, pod, node):
        """The node agent's Allocate: consume the allocation, free the node's lease."""
        st = self.server.store
        ann = pod["metadata"].setdefault("annotations", {})
        if "vxpu.io/allocation" not in ann:
            return
        for (lns, lname), lease in self.table("leases").items():
            if lname != "vxpu-node-" + node:
                continue
            if lease.get("spec", {}).get("holderIdentity") == pod["metadata"]["uid"]:
                lease["spec"]["holderIdentity"] = ""
                lease["metadata"]["resourceVersion"] = st.bump()
                st.record("leases", "MODIFIED", lease)
        ann["vxpu.io/bind-phase"] = "success"
        pod["metadata"]["resourceVersion"] = st.bump()
        st.record("pods", "MODIFIED", pod)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    stopping = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    ap.add_argument("--history", type=int, default=100000)
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--agent", action="store_true")
    ap.add_argument("--load", help="a JSON file: {resource: [objects]} created at start")
    ap.add_argument("--access-log", help="write each API request as 'METHOD PATH' to this file")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.store = Store(args.history)
    srv.store.agent = args.agent
    srv.token_file = args.token_file
    srv.access_log = open(args.access_log, "a") if args.access_log else None
    if args.load:
        with open(args.load) as fh:
            initial = json.load(fh)
        for resource, objs in initial.items():
            for o in objs:
                meta = o.setdefault("metadata", {})
                meta.setdefault("uid", str(uuid.uuid4()))
                meta["resourceVersion"] = srv.store.bump()
                srv.store.objects.setdefault(resource, {})[(meta.get("namespace"), meta["name"])] = o
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            ctx.load_verify_locations(args.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

    def watchdog():
        deadline = time.time() + args.lifetime
        while time.time() < deadline:
            time.sleep(0.2)
        os._exit(3)

    def stdin_closed():
        try:
            sys.stdin.read()
        finally:
            os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    threading.Thread(target=stdin_closed, daemon=True).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.stopping = True
        with srv.store.lock:
            srv.store.lock.notify_all()
    os._exit(0)


if __name__ == "__main__":
    main()
