#!/usr/bin/env python3
"""Fake Kubernetes apiserver for kube-nftproxy tests.

Speaks the real list/watch protocol (HTTP/1.1, chunked watch streams) for
Services and Endpoints (core/v1) and EndpointSlices (discovery.k8s.io/v1),
plus the discovery documents kubectl needs, plus a control interface for
tests under /control/.

Usage:
  fake-apiserver.py --port N [--address 127.0.0.1] [--load FILE ...]
                    [--no-endpointslices] [--bookmark-interval SECONDS]
                    [--port-file PATH] [--plain-chunks] [--token T]
                    [--tls-cert PEM --tls-key PEM]

Semantics (deliberately close to kube-apiserver):
  * one global integer resourceVersion, bumped by every create/update/delete;
  * LIST items carry no kind/apiVersion; GET/WATCH objects do;
  * limit/continue with consistent snapshots (continuation pages are served
    at the first page's resourceVersion); an expired token -> HTTP 410
    Status reason "Expired";
  * WATCH with resourceVersion ""/"0" sends synthetic ADDED for everything,
    then live events; with rv=X sends history after X; X older than the
    retained history (see /control/compact) -> one ERROR event (code 410,
    reason Expired) in a 200 response, then the stream ends;
  * label selectors apply to watches like the real watch cache does: an
    object that starts matching is sent as ADDED, one that stops matching
    as DELETED (previous state, event's resourceVersion);
  * watch output is deliberately chunked awkwardly (one event split across
    two chunks, several events and partial events in one chunk) unless
    --plain-chunks is given.

Control interface (same server; JSON bodies; answers JSON):
  POST /control/apply         body: object with kind (or a List) -> create or
                              replace; emits ADDED/MODIFIED.
  POST /control/delete        body: {"kind":K,"namespace":NS,"name":N};
                              emits DELETED. 404 if absent. With
                              "silent": true no event is sent and the history
                              is compacted (a delete the watch missed).
  POST /control/compact       bump the resourceVersion by one and drop the
                              history: every resourceVersion handed out before
                              (watch start, continue token) now gets 410.
  POST /control/close-watches end every open watch stream cleanly.
  POST /control/garbage       write one line of non-JSON on every open watch.
  POST /control/reset-stats   zero the request counters.
  POST /control/refuse-watches body {"count": N}: the next N WATCH requests
                              get 504 "Too large resource version".
  POST /control/token         body {"token": T}: API requests now need
                              "Authorization: Bearer T" (null: none).
  GET  /control/stats         request counters and object counts.
"""

import argparse
import base64
import copy
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# resource name -> (kind, apiVersion, group path prefix)
RESOURCES = {
    "services": ("Service", "v1", "/api/v1"),
    "endpoints": ("Endpoints", "v1", "/api/v1"),
    "endpointslices": ("EndpointSlice", "discovery.k8s.io/v1",
                       "/apis/discovery.k8s.io/v1"),
}
KIND_TO_RESOURCE = {v[0]: k for k, v in RESOURCES.items()}
LIST_KIND_TO_KIND = {v[0] + "List": v[0] for v in RESOURCES.values()}

ARGS = None


def log(msg):
    try:
        sys.stderr.write("fake-apiserver: %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_obj(code, reason, message, details=None):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {},
          "status": "Failure", "message": message, "reason": reason,
          "code": code}
    if details:
        st["details"] = details
    return st


# --------------------------------------------------------------------------
# label selectors

class SelectorError(Exception):
    pass


def split_selector(s):
    """Split on commas that are not inside parentheses."""
    terms, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


def parse_label_selector(s):
    """Returns a list of predicates on a labels dict."""
    preds = []
    if not s:
        return preds
    for t in split_selector(s):
        low = t.replace("\t", " ")
        if " notin " in low or " in " in low:
            neg = " notin " in low
            key, _, rest = low.partition(" notin " if neg else " in ")
            key = key.strip()
            rest = rest.strip()
            if not (rest.startswith("(") and rest.endswith(")")):
                raise SelectorError("bad set selector %r" % t)
            vals = {v.strip() for v in rest[1:-1].split(",") if v.strip()}
            if neg:
                preds.append(lambda L, k=key, v=vals: L.get(k) not in v)
            else:
                preds.append(lambda L, k=key, v=vals: k in L and L[k] in v)
        elif "!=" in t:
            k, v = t.split("!=", 1)
            preds.append(lambda L, k=k.strip(), v=v.strip(): L.get(k) != v)
        elif "==" in t:
            k, v = t.split("==", 1)
            preds.append(lambda L, k=k.strip(), v=v.strip(): L.get(k) == v)
        elif "=" in t:
            k, v = t.split("=", 1)
            preds.append(lambda L, k=k.strip(), v=v.strip(): L.get(k) == v)
        elif t.startswith("!"):
            preds.append(lambda L, k=t[1:].strip(): k not in L)
        else:
            preds.append(lambda L, k=t: k in L)
    return preds


def parse_field_selector(s):
    """Only metadata.name / metadata.namespace (=, ==, !=); others ignored."""
    preds = []
    if not s:
        return preds
    for t in split_selector(s):
        neg = "!=" in t
        if neg:
            k, v = t.split("!=", 1)
        elif "==" in t:
            k, v = t.split("==", 1)
        elif "=" in t:
            k, v = t.split("=", 1)
        else:
            continue
        k, v = k.strip(), v.strip()
        if k not in ("metadata.name", "metadata.namespace"):
            continue
        f = k.split(".")[1]
        if neg:
            preds.append(lambda m, f=f, v=v: m.get(f) != v)
        else:
            preds.append(lambda m, f=f, v=v: m.get(f) == v)
    return preds


class Filter:
    def __init__(self, resource, namespace, lsel, fsel):
        self.resource = resource
        self.kind = RESOURCES[resource][0]
        self.namespace = namespace
        self.lpreds = parse_label_selector(lsel)
        self.fpreds = parse_field_selector(fsel)

    def matches(self, kind, obj):
        if obj is None or kind != self.kind:
            return False
        md = obj.get("metadata") or {}
        if self.namespace is not None and md.get("namespace") != self.namespace:
            return False
        labels = md.get("labels") or {}
        return all(p(labels) for p in self.lpreds) and \
            all(p(md) for p in self.fpreds)


# --------------------------------------------------------------------------
# store

def obj_key(obj):
    md = obj.get("metadata") or {}
    return (md.get("namespace") or "", md.get("name") or "")


def with_type(kind, obj):
    res = KIND_TO_RESOURCE[kind]
    o = {"kind": kind, "apiVersion": RESOURCES[res][1], **{
        k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}}
    return o


def with_rv(obj, rv):
    o = dict(obj)
    md = dict(o.get("metadata") or {})
    md["resourceVersion"] = str(rv)
    o["metadata"] = md
    return o


class Event:
    __slots__ = ("rv", "type", "kind", "key", "obj", "prev")

    def __init__(self, rv, type_, kind, key, obj, prev):
        self.rv, self.type, self.kind = rv, type_, kind
        self.key, self.obj, self.prev = key, obj, prev


class Watcher:
    def __init__(self, flt, table, handler):
        self.flt = flt
        self.table = table
        self.queue = []         # list of (type, obj)
        self.closed = False     # close-watches requested
        self.garbage = 0        # garbage lines to send
        self.handler = handler


class State:
    def __init__(self):
        self.token = None
        self.refuse_watches = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.rv = 100
        self.compact_rv = 100   # history holds every event with rv > this
        self.objects = {v[0]: {} for v in RESOURCES.values()}
        self.history = []
        self.watchers = set()
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"lists": 0, "watches": 0, "gets": 0,
                      "perResource": {r: {"lists": 0, "watches": 0, "gets": 0}
                                      for r in RESOURCES}}

    # -- mutation (caller holds no lock) --
    def apply(self, obj):
        kind = obj.get("kind")
        if kind not in KIND_TO_RESOURCE:
            raise ValueError("unsupported kind %r" % kind)
        obj = copy.deepcopy(obj)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            raise ValueError("metadata.name missing")
        if not md.get("namespace"):
            md["namespace"] = "default"
        key = obj_key(obj)
        with self.lock:
            store = self.objects[kind]
            prev = store.get(key)
            if prev is not None:
                pmd = prev["metadata"]
                md.setdefault("uid", pmd.get("uid"))
                md.setdefault("creationTimestamp", pmd.get("creationTimestamp"))
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now_rfc3339())
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            store[key] = obj
            ev = Event(self.rv, "MODIFIED" if prev is not None else "ADDED",
                       kind, key, obj, prev)
            self._record(ev)
            return ev.type, with_type(kind, obj)

    def delete(self, kind, namespace, name, silent=False):
        """silent: no watch event, and the history is compacted, as if the
        delete happened while a client's watch was down longer than the
        retained history (the client must relist to learn of it)."""
        with self.lock:
            store = self.objects.get(kind)
            if store is None:
                raise ValueError("unsupported kind %r" % kind)
            key = (namespace or "default", name)
            prev = store.pop(key, None)
            if prev is None:
                return None
            self.rv += 1
            final = with_rv(prev, self.rv)
            if silent:
                self.history = []
                self.compact_rv = self.rv
                self.cond.notify_all()
                return with_type(kind, final)
            ev = Event(self.rv, "DELETED", kind, key, final, prev)
            self._record(ev)
            return with_type(kind, final)

    def _record(self, ev):
        # lock held
        self.history.append(ev)
        for w in self.watchers:
            out = convert_event(w.flt, ev)
            if out is not None:
                w.queue.append(out)
        self.cond.notify_all()

    def compact(self):
        # Bump the resourceVersion (like a write to an unrelated key) so that
        # every resourceVersion handed out before this call is expired.
        with self.lock:
            self.rv += 1
            self.history = []
            self.compact_rv = self.rv
            self.cond.notify_all()
            return self.rv

    def snapshot(self, kind, at_rv):
        """Objects of kind as of resourceVersion at_rv (lock held).
        Requires at_rv >= compact_rv."""
        state = dict(self.objects[kind])
        for ev in reversed(self.history):
            if ev.rv <= at_rv:
                break
            if ev.kind != kind:
                continue
            if ev.type == "ADDED":
                state.pop(ev.key, None)
            else:
                state[ev.key] = ev.prev
        return state


def convert_event(flt, ev):
    """Translate a store event into what a watcher with filter flt sees."""
    cur_ok = ev.type != "DELETED" and flt.matches(ev.kind, ev.obj)
    old_ok = ev.prev is not None and flt.matches(ev.kind, ev.prev)
    if ev.type == "DELETED":
        return ("DELETED", ev.obj) if old_ok else None
    if cur_ok and old_ok:
        return ("MODIFIED", ev.obj)
    if cur_ok:
        return ("ADDED", ev.obj)
    if old_ok:
        return ("DELETED", with_rv(ev.prev, ev.rv))
    return None


STATE = State()


# --------------------------------------------------------------------------
# tables (kubectl's human-readable output)

def human_age(ts):
    try:
        t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc)
    except Exception:
        return "<unknown>"
    s = int((datetime.now(timezone.utc) - t).total_seconds())
    if s < 0:
        s = 0
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60)
    if m < 180:
        return "%dm" % m
    h = m // 60
    if h < 8:
        return "%dh%dm" % (h, m % 60)
    if h < 48:
        return "%dh" % h
    d = h // 24
    if d < 8:
        return "%dd%dh" % (d, h % 24)
    if d < 365 * 2:
        return "%dd" % d
    return "%dy" % (d // 365)


def coldef(name, typ="string", fmt="", prio=0, desc=""):
    return {"name": name, "type": typ, "format": fmt,
            "description": desc or name, "priority": prio}


def table_columns(kind):
    name = coldef("Name", fmt="name",
                  desc="Name must be unique within a namespace.")
    age = coldef("Age", desc="CreationTimestamp is a timestamp representing "
                 "the server time when this object was created.")
    if kind == "Service":
        return [name, coldef("Type"), coldef("Cluster-IP"),
                coldef("External-IP"), coldef("Port(s)"), age,
                coldef("Selector", prio=1)]
    if kind == "Endpoints":
        return [name, coldef("Endpoints"), age]
    return [name, coldef("AddressType"), coldef("Ports"),
            coldef("Endpoints"), age]


def table_cells(kind, obj):
    md = obj.get("metadata") or {}
    age = human_age(md.get("creationTimestamp", ""))
    if kind == "Service":
        spec = obj.get("spec") or {}
        typ = spec.get("type", "ClusterIP")
        ext = spec.get("externalIPs") or []
        ing = ((obj.get("status") or {}).get("loadBalancer") or {}).get(
            "ingress") or []
        ext = ext + [i.get("ip") or i.get("hostname") for i in ing]
        if typ == "ExternalName":
            exts = spec.get("externalName", "<none>")
        elif ext:
            exts = ",".join(e for e in ext if e)
        elif typ == "LoadBalancer":
            exts = "<pending>"
        else:
            exts = "<none>"
        ports = []
        for p in spec.get("ports") or []:
            s = str(p.get("port"))
            if p.get("nodePort"):
                s += ":%s" % p["nodePort"]
            ports.append("%s/%s" % (s, p.get("protocol", "TCP")))
        sel = spec.get("selector") or {}
        sels = ",".join("%s=%s" % kv for kv in sorted(sel.items())) or "<none>"
        return [md.get("name"), typ, spec.get("clusterIP") or "<none>",
                exts, ",".join(ports) or "<none>", age, sels]
    if kind == "Endpoints":
        eps = []
        for ss in obj.get("subsets") or []:
            for a in ss.get("addresses") or []:
                for p in ss.get("ports") or [{}]:
                    eps.append("%s:%s" % (a.get("ip"), p.get("port", "")))
        s = ",".join(eps[:3]) or "<none>"
        if len(eps) > 3:
            s += " + %d more..." % (len(eps) - 3)
        return [md.get("name"), s, age]
    ports = ",".join(str(p.get("port")) for p in obj.get("ports") or []
                     if p.get("port") is not None) or "<unset>"
    addrs = [a for e in obj.get("endpoints") or []
             for a in e.get("addresses") or []]
    s = ",".join(addrs[:3]) or "<unset>"
    if len(addrs) > 3:
        s += " + %d more..." % (len(addrs) - 3)
    return [md.get("name"), obj.get("addressType", ""), ports, s, age]


def table_row(kind, obj, include):
    row = {"cells": table_cells(kind, obj)}
    if include == "None":
        pass
    elif include == "Object":
        row["object"] = with_type(kind, obj)
    else:
        row["object"] = {"kind": "PartialObjectMetadata",
                         "apiVersion": "meta.k8s.io/v1",
                         "metadata": obj.get("metadata") or {}}
    return row


def make_table(kind, objs, meta, include, columns=True):
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
         "columnDefinitions": table_columns(kind) if columns else [],
         "rows": [table_row(kind, o, include) for o in objs]}
    return t


# --------------------------------------------------------------------------
# discovery documents

def discovery_core():
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "services", "singularName": "service", "namespaced": True,
         "kind": "Service", "verbs": ["get", "list", "watch"],
         "shortNames": ["svc"], "categories": ["all"]},
        {"name": "endpoints", "singularName": "endpoints", "namespaced": True,
         "kind": "Endpoints", "verbs": ["get", "list", "watch"],
         "shortNames": ["ep"]},
    ]}


def discovery_discovery():
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": "discovery.k8s.io/v1", "resources": [
                {"name": "endpointslices", "singularName": "endpointslice",
                 "namespaced": True, "kind": "EndpointSlice",
                 "verbs": ["get", "list", "watch"]}]}


def discovery_groups():
    groups = []
    if not ARGS.no_endpointslices:
        gv = {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}
        groups.append({"name": "discovery.k8s.io", "versions": [gv],
                       "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def version_doc():
    return {"major": "1", "minor": "30", "gitVersion": "v1.30.0",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2024-04-17T00:00:00Z",
            "goVersion": "go1.22.2", "compiler": "gc",
            "platform": "linux/amd64"}


# --------------------------------------------------------------------------
# continue tokens

def encode_continue(rv, last_key):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv,
                      "start": "%s/%s\x00" % last_key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(tok):
    pad = "=" * (-len(tok) % 4)
    d = json.loads(base64.urlsafe_b64decode(tok + pad))
    start = d["start"].rstrip("\x00")
    ns, _, name = start.partition("/")
    return int(d["rv"]), (ns, name)


# --------------------------------------------------------------------------
# HTTP

class ClientGone(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver/1.0"

    # -- logging: one line per request --
    def log_message(self, fmt, *args):
        log(fmt % args)

    def log_request(self, code="-", size="-"):
        log("%s %s %s" % (self.command, self.path,
                          int(code) if isinstance(code, int) else code))

    # -- plumbing --
    def send_json(self, code, obj, ctype="application/json"):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_status(self, code, reason, message, details=None):
        self.send_json(code, status_obj(code, reason, message, details))

    def not_found(self):
        self.send_status(404, "NotFound", "the server could not find the "
                         "requested resource")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, ClientGone,
                socket.timeout):
            self.close_connection = True

    def do_HEAD(self):
        self.do_GET()

    def authorized(self):
        """--token: API requests need "Authorization: Bearer TOKEN"."""
        want = STATE.token
        if not want:
            return True
        return self.headers.get("Authorization", "") == "Bearer " + want

    def do_GET(self):
        u = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query,
                                           keep_blank_values=True).items()}
        path = u.path.rstrip("/") or "/"
        parts = path.strip("/").split("/") if path != "/" else []
        try:
            if not path.startswith("/control") and not self.authorized():
                return self.send_status(401, "Unauthorized", "Unauthorized")
            if path == "/version":
                return self.send_json(200, version_doc())
            if path in ("/healthz", "/livez", "/readyz"):
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if path == "/api":
                host = "%s:%d" % self.server.server_address[:2]
                return self.send_json(200, {
                    "kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
            if path == "/apis":
                return self.send_json(200, discovery_groups())
            if path == "/api/v1":
                return self.send_json(200, discovery_core())
            if path == "/control/stats":
                return self.send_json(200, self.stats_doc())
            # resource paths
            if parts[:2] == ["api", "v1"]:
                rest = parts[2:]
                group_ok = True
                core = True
            elif parts[:3] == ["apis", "discovery.k8s.io", "v1"]:
                rest = parts[3:]
                group_ok = not ARGS.no_endpointslices
                core = False
            else:
                return self.not_found()
            if not group_ok:
                return self.not_found()
            if not rest:
                return self.send_json(200, discovery_discovery())
            ns = None
            if rest[0] == "namespaces" and len(rest) >= 3:
                ns = rest[1]
                rest = rest[2:]
            if len(rest) not in (1, 2) or rest[0] not in RESOURCES or \
                    (rest[0] == "endpointslices") == core:
                return self.not_found()
            resource = rest[0]
            if len(rest) == 2:
                if ns is None:
                    return self.not_found()
                return self.do_get_one(resource, ns, rest[1])
            watch = q.get("watch", "").lower() in ("true", "1")
            try:
                flt = Filter(resource, ns, q.get("labelSelector", ""),
                             q.get("fieldSelector", ""))
            except SelectorError as e:
                return self.send_status(400, "BadRequest", str(e))
            if watch:
                return self.do_watch(resource, flt, q)
            return self.do_list(resource, flt, q)
        except (BrokenPipeError, ConnectionResetError, ClientGone):
            raise
        except Exception as e:  # keep serving
            log("internal error on %s: %r" % (self.path, e))
            try:
                self.send_status(500, "InternalError", repr(e))
            except Exception:
                pass

    def stats_doc(self):
        with STATE.lock:
            doc = copy.deepcopy(STATE.stats)
            doc["resourceVersion"] = str(STATE.rv)
            doc["compactedResourceVersion"] = str(STATE.compact_rv)
            doc["historyLength"] = len(STATE.history)
            doc["openWatches"] = len(STATE.watchers)
            for r, (kind, _, _) in RESOURCES.items():
                pr = doc["perResource"][r]
                pr["objects"] = len(STATE.objects[kind])
                pr["openWatches"] = sum(1 for w in STATE.watchers
                                        if w.flt.resource == r)
            return doc

    def count(self, what, resource):
        key = {"get": "gets", "list": "lists", "watch": "watches"}[what]
        STATE.stats[key] += 1
        STATE.stats["perResource"][resource][key] += 1

    def do_get_one(self, resource, ns, name):
        kind = RESOURCES[resource][0]
        with STATE.lock:
            self.count("get", resource)
            obj = STATE.objects[kind].get((ns, name))
        if obj is None:
            return self.send_status(
                404, "NotFound", '%s "%s" not found' % (resource, name),
                {"name": name, "kind": resource})
        if self.wants_table():
            return self.send_json(
                200, make_table(kind, [obj], {"resourceVersion":
                                              obj["metadata"]
                                              ["resourceVersion"]},
                                self.include_object()))
        self.send_json(200, with_type(kind, obj))

    def include_object(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        return (q.get("includeObject") or ["PartialObjectMetadata"])[-1]

    def do_list(self, resource, flt, q):
        kind, apiver, _ = RESOURCES[resource]
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            return self.send_status(400, "BadRequest", "invalid limit")
        cont = q.get("continue", "")
        with STATE.lock:
            self.count("list", resource)
            if cont:
                try:
                    list_rv, after = decode_continue(cont)
                except Exception:
                    return self.send_status(400, "BadRequest",
                                            "continue key is not valid")
                if list_rv < STATE.compact_rv:
                    return self.send_status(
                        410, "Expired",
                        "The provided continue parameter is too old to "
                        "display a consistent list result. You can start a "
                        "new list without the continue parameter, or use "
                        "the continue token in this response to retrieve "
                        "the remainder of the results. Continuing with the "
                        "provided token results in an inconsistent list - "
                        "objects that were created, modified, or deleted "
                        "between the time the first chunk was returned and "
                        "now may show up in the list.")
                objs = STATE.snapshot(kind, list_rv)
            else:
                list_rv, after = STATE.rv, None
                objs = dict(STATE.objects[kind])
        keys = sorted(k for k, o in objs.items() if flt.matches(kind, o))
        if after is not None:
            keys = [k for k in keys if k > after]
        meta = {"resourceVersion": str(list_rv)}
        if limit > 0 and len(keys) > limit:
            meta["continue"] = encode_continue(list_rv, keys[limit - 1])
            meta["remainingItemCount"] = len(keys) - limit
            keys = keys[:limit]
        items = [objs[k] for k in keys]
        if self.wants_table():
            return self.send_json(200, make_table(kind, items, meta,
                                                  self.include_object()))
        self.send_json(200, {"kind": kind + "List", "apiVersion": apiver,
                             "metadata": meta, "items": items})

    # -- watch --
    def write_chunk(self, data):
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def write_lines(self, lines):
        """Write event lines with deliberately awkward chunk boundaries.

        A per-stream counter rotates through three patterns, one step per
        event: two events in one chunk; one event split across two chunks;
        one event plus the first half of the next in one chunk (the rest in
        the following chunk). A short pause after a chunk that ends mid-line
        makes the client's read() see the partial line on its own."""
        if ARGS.plain_chunks:
            self.write_chunk(b"".join(lines))
            return
        chunks = []
        i = 0
        while i < len(lines):
            mode = self.seq % 3
            self.seq += 1
            ln = lines[i]
            if mode == 0 and i + 1 < len(lines):
                chunks.append(ln + lines[i + 1])
                i += 2
            elif mode == 2 and i + 1 < len(lines):
                nxt = lines[i + 1]
                h = max(1, len(nxt) // 2)
                chunks.append(ln + nxt[:h])
                chunks.append(nxt[h:])
                i += 2
            else:
                h = max(1, len(ln) // 2)
                chunks.append(ln[:h])
                chunks.append(ln[h:])
                i += 1
        for c in chunks:
            self.write_chunk(c)
            if not c.endswith(b"\n"):
                time.sleep(0.002)

    def client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if r:
                d = self.connection.recv(1, socket.MSG_PEEK)
                return d == b""
        except (OSError, ValueError):
            return True
        return False

    def encode_event(self, w, kind, typ, obj):
        if w.table:
            o = make_table(kind, [obj], {"resourceVersion": obj["metadata"]
                                         .get("resourceVersion", "")},
                           self.include_object(), columns=not self.sent_cols)
            self.sent_cols = True
        else:
            o = with_type(kind, obj)
        return (json.dumps({"type": typ, "object": o}) + "\n").encode()

    def do_watch(self, resource, flt, q):
        kind, apiver, _ = RESOURCES[resource]
        rv_param = q.get("resourceVersion", "")
        with STATE.lock:
            refuse = STATE.refuse_watches > 0
            if refuse:
                STATE.refuse_watches -= 1
                self.count("watch", resource)
        if refuse:
            # as kube-apiserver answers a watch from a resourceVersion it
            # does not have yet (e.g. after an etcd restore)
            return self.send_status(504, "Timeout", "Too large resource version: %s, current: %d"
                                    % (rv_param, STATE.rv))
        bookmarks = q.get("allowWatchBookmarks", "").lower() in ("true", "1")
        try:
            tmo = int(q.get("timeoutSeconds") or 0)
        except ValueError:
            return self.send_status(400, "BadRequest", "invalid timeoutSeconds")
        self.seq = 0
        self.sent_cols = False
        w = Watcher(flt, self.wants_table(), self)
        expired = None
        with STATE.lock:
            self.count("watch", resource)
            if rv_param in ("", "0"):
                for k in sorted(STATE.objects[kind]):
                    o = STATE.objects[kind][k]
                    if flt.matches(kind, o):
                        w.queue.append(("ADDED", o))
            else:
                try:
                    start = int(rv_param)
                except ValueError:
                    return self.send_status(
                        400, "BadRequest",
                        "invalid resource version: %s" % rv_param)
                if start < STATE.compact_rv:
                    expired = "too old resource version: %d (%d)" % (
                        start, STATE.compact_rv + 1)
                else:
                    for ev in STATE.history:
                        if ev.rv > start:
                            out = convert_event(flt, ev)
                            if out is not None:
                                w.queue.append(out)
            if expired is None:
                STATE.watchers.add(w)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            if expired is not None:
                ev = {"type": "ERROR", "object": status_obj(
                    410, "Expired", expired)}
                self.write_lines([(json.dumps(ev) + "\n").encode()])
                self.wfile.write(b"0\r\n\r\n")
                return
            self.watch_loop(w, kind, apiver, bookmarks, tmo)
        finally:
            with STATE.lock:
                STATE.watchers.discard(w)

    def watch_loop(self, w, kind, apiver, bookmarks, tmo):
        deadline = time.monotonic() + tmo if tmo > 0 else None
        interval = ARGS.bookmark_interval
        next_bm = time.monotonic() + interval
        why = "?"
        while True:
            with STATE.lock:
                while True:
                    now = time.monotonic()
                    if w.queue or w.closed or w.garbage:
                        break
                    if deadline is not None and now >= deadline:
                        break
                    if bookmarks and now >= next_bm:
                        break
                    wake = now + 0.2
                    if deadline is not None:
                        wake = min(wake, deadline)
                    if bookmarks:
                        wake = min(wake, next_bm)
                    STATE.cond.wait(max(0.0, wake - now))
                    if self.client_gone():
                        raise ClientGone()
                pending, w.queue = w.queue, []
                garbage, w.garbage = w.garbage, 0
                closed = w.closed
                cur_rv = STATE.rv
            lines = [self.encode_event(w, kind, t, o) for t, o in pending]
            if lines:
                self.write_lines(lines)
            for _ in range(garbage):
                self.write_chunk(b"this is not json {{{ garbage\n")
            now = time.monotonic()
            if bookmarks and now >= next_bm:
                if not pending:
                    bm = {"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": apiver,
                        "metadata": {"resourceVersion": str(cur_rv)}}}
                    self.write_lines([(json.dumps(bm) + "\n").encode()])
                next_bm = now + interval
            if closed:
                why = "closed by control"
                break
            if deadline is not None and now >= deadline:
                why = "timeoutSeconds"
                break
        self.wfile.write(b"0\r\n\r\n")
        log("watch %s ended (%s)" % (self.path, why))

    # -- control --
    def do_POST(self):
        u = urlsplit(self.path)
        path = u.path.rstrip("/")
        try:
            body = self.read_body()
            if path == "/control/apply":
                try:
                    obj = json.loads(body or b"null")
                except ValueError as e:
                    return self.send_status(400, "BadRequest",
                                            "bad JSON: %s" % e)
                try:
                    objs = expand_objects(obj)
                    results = []
                    for o in objs:
                        typ, stored = STATE.apply(o)
                        results.append(stored)
                except (ValueError, AttributeError, TypeError) as e:
                    return self.send_status(400, "BadRequest", str(e))
                if len(results) == 1:
                    return self.send_json(200, results[0])
                return self.send_json(200, {"kind": "List",
                                            "apiVersion": "v1",
                                            "items": results})
            if path == "/control/delete":
                try:
                    d = json.loads(body or b"null")
                    kind = d["kind"]
                    ns = d.get("namespace") or "default"
                    name = d["name"]
                    gone = STATE.delete(kind, ns, name,
                                        silent=bool(d.get("silent")))
                except (ValueError, KeyError, TypeError) as e:
                    return self.send_status(400, "BadRequest", repr(e))
                if gone is None:
                    return self.send_status(404, "NotFound",
                                            '%s "%s/%s" not found' %
                                            (kind, ns, name))
                return self.send_json(200, gone)
            if path == "/control/compact":
                rv = STATE.compact()
                return self.send_json(200, {"compactedResourceVersion":
                                            str(rv)})
            if path == "/control/close-watches":
                with STATE.lock:
                    n = len(STATE.watchers)
                    for w in STATE.watchers:
                        w.closed = True
                    STATE.cond.notify_all()
                return self.send_json(200, {"closed": n})
            if path == "/control/garbage":
                with STATE.lock:
                    n = len(STATE.watchers)
                    for w in STATE.watchers:
                        w.garbage += 1
                    STATE.cond.notify_all()
                return self.send_json(200, {"sent": n})
            if path == "/control/refuse-watches":
                d = json.loads(body or b"{}")
                with STATE.lock:
                    STATE.refuse_watches = int(d.get("count", 1))
                return self.send_json(200, {})
            if path == "/control/token":
                d = json.loads(body or b"{}")
                with STATE.lock:
                    STATE.token = d.get("token") or None
                return self.send_json(200, {})
            if path == "/control/reset-stats":
                with STATE.lock:
                    STATE.reset_stats()
                return self.send_json(200, {})
            return self.not_found()
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as e:
            log("internal error on %s: %r" % (self.path, e))
            self.send_status(500, "InternalError", repr(e))

    def do_PUT(self):
        self.read_body()
        self.send_status(405, "MethodNotAllowed",
                         "the server does not allow this method")

    do_DELETE = do_PUT
    do_PATCH = do_PUT


def expand_objects(obj):
    """One object or a List -> list of objects with kind set."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    kind = obj.get("kind", "")
    if kind == "List" or kind.endswith("List") or "items" in obj:
        item_kind = LIST_KIND_TO_KIND.get(kind)
        out = []
        for it in obj.get("items") or []:
            it = dict(it)
            if not it.get("kind"):
                if not item_kind:
                    raise ValueError("List item without kind")
                it["kind"] = item_kind
            out.append(it)
        return out
    return [obj]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError,
                            ClientGone)):
            return
        log("error serving %s: %r" % (client_address, exc))


def main():
    global ARGS
    ap = argparse.ArgumentParser(description="fake Kubernetes apiserver")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--load", nargs="+", action="extend", default=[],
                    metavar="FILE")
    ap.add_argument("--no-endpointslices", action="store_true")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--port-file")
    ap.add_argument("--token", help="require this bearer token on API requests")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="... and this key (PEM)")
    ap.add_argument("--plain-chunks", action="store_true",
                    help="one chunk per write (no deliberate splitting)")
    ARGS = ap.parse_args()
    if ARGS.bookmark_interval <= 0:
        ap.error("--bookmark-interval must be > 0")

    for f in ARGS.load:
        try:
            with open(f) as fh:
                doc = json.load(fh)
            objs = expand_objects(doc)
            for o in objs:
                if o.get("kind") == "EndpointSlice" and ARGS.no_endpointslices:
                    continue
                STATE.apply(o)
            log("loaded %d object(s) from %s" % (len(objs), f))
        except (OSError, ValueError) as e:
            log("cannot load %s: %s" % (f, e))
            sys.exit(2)

    if ":" in ARGS.address:
        Server.address_family = socket.AF_INET6
    STATE.token = ARGS.token
    srv = Server((ARGS.address, ARGS.port), Handler)
    if ARGS.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    if ARGS.port_file:
        tmp = ARGS.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.rename(tmp, ARGS.port_file)

    def on_term(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)
    log("listening on %s:%d (rv %d)" % (ARGS.address, port, STATE.rv))
    try:
        srv.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
