#!/bin/bash
# Protocol test for tests/fake-apiserver.py: paging with continue tokens,
# label selectors, watch semantics (MODIFIED/DELETED/BOOKMARK, 410 after
# compaction, timeoutSeconds, close-watches, garbage), awkward chunking,
# the discovery group switch, tables. Runs on 127.0.0.1 in the current
# network namespace; needs python3 and curl, not root.

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

knp_need_cmd python3 curl timeout
knp_trap_cleanup
knp_tmp

T=$KNP_TMP
cat >"$T/client.py" <<'PYEOF'
import http.client, json, socket, sys, time, urllib.parse

url = urllib.parse.urlsplit(sys.argv[1])
HOST, PORT = url.hostname, url.port
cmd = sys.argv[2]
args = sys.argv[3:]
SEL = "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name"

def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(HOST, PORT, timeout=5)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data.strip() else None

def q(**kw):
    return urllib.parse.urlencode(kw)

def svc(ns, name, ip, labels=None):
    md = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = labels
    return {"kind": "Service", "apiVersion": "v1", "metadata": md,
            "spec": {"clusterIP": ip, "ports": [{"port": 80, "protocol": "TCP"}]}}

class Watch:
    """Watch stream reader with an overall deadline."""
    def __init__(self, path, deadline=10):
        self.c = http.client.HTTPConnection(HOST, PORT, timeout=deadline)
        self.c.request("GET", path)
        self.r = self.c.getresponse()
        self.end = time.monotonic() + deadline
    def next(self):
        if time.monotonic() > self.end:
            raise TimeoutError("deadline")
        line = self.r.readline()
        if not line:
            return None
        try:
            return json.loads(line)
        except ValueError:
            return {"type": "GARBAGE", "raw": line.decode(errors="replace")}
    def until(self, pred):
        while True:
            ev = self.next()
            if ev is None or pred(ev):
                return ev
    def close(self):
        self.c.close()

def name_of(ev):
    return ev["object"].get("metadata", {}).get("name")

out = []
def say(*a):
    print(*a, flush=True)

if cmd == "setup":
    for s in [svc("ns-a", "svc1", "198.19.0.1"), svc("ns-a", "svc2", "198.19.0.2"),
              svc("ns-b", "svc3", "198.19.0.3"),
              svc("ns-a", "headless", "None", {"service.kubernetes.io/headless": ""}),
              svc("ns-b", "other-proxy", "198.19.0.9",
                  {"service.kubernetes.io/service-proxy-name": "foo"})]:
        st, _ = req("POST", "/control/apply", s)
        say("apply", s["metadata"]["name"], st)

elif cmd == "count":
    sel = args[0] if args else ""
    st, d = req("GET", "/api/v1/services?" + q(labelSelector=sel))
    say("status", st, "kind", d["kind"], "items", len(d["items"]),
        "itemkind", "kind" in d["items"][0] if d["items"] else "-")

elif cmd == "page":
    # page through with limit=1; mutate the store between pages
    names, rvs, pages, tok = [], [], 0, None
    while pages < 10:
        qs = {"limit": "1", "labelSelector": SEL}
        if tok:
            qs["continue"] = tok
        st, d = req("GET", "/api/v1/services?" + q(**qs))
        if st != 200:
            say("page-status", st); break
        pages += 1
        rvs.append(d["metadata"]["resourceVersion"])
        for it in d["items"]:
            names.append("%s/%s@%s" % (it["metadata"]["namespace"],
                                       it["metadata"]["name"],
                                       it["metadata"]["resourceVersion"]))
        if pages == 1:
            # change an item of a later page and add one that sorts last
            req("POST", "/control/apply", svc("ns-b", "svc3", "198.19.0.33"))
            req("POST", "/control/apply", svc("ns-z", "late", "198.19.0.44"))
        tok = d["metadata"].get("continue")
        if not tok:
            break
    say("pages", pages)
    say("rvs", " ".join(rvs))
    say("consistent", len(set(rvs)) == 1)
    say("names", " ".join(n.split("@")[0] for n in names))
    # after the list, the modified svc3 must have a newer RV than the listed one
    st, cur = req("GET", "/api/v1/namespaces/ns-b/services/svc3")
    listed = [n for n in names if n.startswith("ns-b/svc3@")]
    say("snapshot", bool(listed) and int(listed[0].split("@")[1]) < int(cur["metadata"]["resourceVersion"]))
    say("get-kind", cur.get("kind"), cur.get("apiVersion"))

elif cmd == "expired-continue":
    st, d = req("GET", "/api/v1/services?limit=1")
    tok = d["metadata"]["continue"]
    req("POST", "/control/compact")
    st, d = req("GET", "/api/v1/services?" + q(limit="1", **{"continue": tok}))
    say("status", st, "reason", d.get("reason"), "kind", d.get("kind"))

elif cmd == "watch":
    st, d = req("GET", "/api/v1/services?" + q(labelSelector=SEL))
    rv = d["metadata"]["resourceVersion"]
    w = Watch("/api/v1/services?" + q(watch="true", resourceVersion=rv,
                                      allowWatchBookmarks="true",
                                      labelSelector=SEL))
    time.sleep(0.2)
    req("POST", "/control/apply", svc("ns-a", "svc1", "198.19.0.11"))
    ev = w.until(lambda e: e["type"] != "BOOKMARK")
    say("event1", ev["type"], name_of(ev), ev["object"].get("kind"),
        ev["object"]["spec"]["clusterIP"])
    req("POST", "/control/delete", {"kind": "Service", "namespace": "ns-a", "name": "svc2"})
    ev = w.until(lambda e: e["type"] != "BOOKMARK")
    say("event2", ev["type"], name_of(ev))
    # an object that stops matching the selector is sent as DELETED
    req("POST", "/control/apply", svc("ns-a", "svc1", "198.19.0.11",
                                      {"service.kubernetes.io/headless": ""}))
    ev = w.until(lambda e: e["type"] != "BOOKMARK")
    say("event3", ev["type"], name_of(ev))
    # ... and one that starts matching as ADDED
    req("POST", "/control/apply", svc("ns-a", "svc1", "198.19.0.11"))
    ev = w.until(lambda e: e["type"] != "BOOKMARK")
    say("event4", ev["type"], name_of(ev))
    # label-filtered changes are not sent at all
    req("POST", "/control/apply", svc("ns-a", "headless", "None",
                                      {"service.kubernetes.io/headless": "x"}))
    ev = w.until(lambda e: True)
    say("event5", ev["type"], ev["object"].get("kind"))
    st, s = req("GET", "/control/stats")
    bm_rv = int(ev["object"]["metadata"]["resourceVersion"])
    say("bookmark-rv-current", bm_rv == int(s["resourceVersion"]))
    say("open-watches", s["openWatches"])
    w.close()

elif cmd == "watch-all":
    # rv=0: synthetic ADDED for every object, then live
    w = Watch("/api/v1/services?" + q(watch="1", resourceVersion="0"))
    st, d = req("GET", "/api/v1/services")
    want = len(d["items"])
    got = []
    while len(got) < want:
        ev = w.next()
        if ev is None:
            break
        got.append(ev["type"])
    say("initial", want, len(got), set(got) == {"ADDED"})
    w.close()

elif cmd == "watch-old":
    w = Watch("/api/v1/services?" + q(watch="true", resourceVersion=args[0]))
    ev = w.next()
    say("status", w.r.status)
    say("type", ev["type"], ev["object"].get("kind"), ev["object"].get("code"),
        ev["object"].get("reason"))
    say("message", ev["object"].get("message"))
    say("then-eof", w.next() is None)
    w.close()

elif cmd == "watch-timeout":
    t0 = time.monotonic()
    w = Watch("/api/v1/services?" + q(watch="true", timeoutSeconds="1",
                                      resourceVersion=args[0]), deadline=8)
    n = 0
    while w.next() is not None:
        n += 1
    dt = time.monotonic() - t0
    say("ended-after", "%.1f" % dt, "ok" if 0.8 <= dt < 4 else "bad")
    w.close()

elif cmd == "close-watches":
    w = Watch("/api/v1/services?" + q(watch="true", resourceVersion=args[0]), deadline=8)
    time.sleep(0.3)
    st, d = req("POST", "/control/close-watches")
    say("closed", d["closed"])
    while True:
        ev = w.next()
        if ev is None:
            break
    say("eof", True)
    w.close()

elif cmd == "garbage":
    w = Watch("/api/v1/services?" + q(watch="true", resourceVersion=args[0]), deadline=8)
    time.sleep(0.3)
    st, d = req("POST", "/control/garbage")
    ev = w.next()
    say("sent", d["sent"], "got", ev["type"] if ev else None)
    w.close()

elif cmd == "chunks":
    # raw HTTP: check the chunk framing and that events are split/merged
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(b"GET /api/v1/services?watch=true&resourceVersion=0&timeoutSeconds=2 "
              b"HTTP/1.1\r\nHost: x\r\n\r\n")
    f = s.makefile("rb")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += f.readline()
    chunks = []
    while True:
        n = int(f.readline().strip(), 16)
        if n == 0:
            f.readline()
            break
        chunks.append(f.read(n))
        assert f.read(2) == b"\r\n"
    data = b"".join(chunks)
    lines = data.split(b"\n")
    ok = lines[-1] == b"" and all(json.loads(l)["type"] == "ADDED" for l in lines[:-1])
    say("chunked", b"Transfer-Encoding: chunked" in head)
    say("events", len(lines) - 1, "valid", ok)
    say("split", any(not c.endswith(b"\n") for c in chunks))
    say("merged", any(c.count(b"\n") >= 2 for c in chunks))
    s.close()

elif cmd == "table":
    st, d = req("GET", "/api/v1/services",
                headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    say("kind", d["kind"], "cols", ",".join(c["name"] for c in d["columnDefinitions"]),
        "rows", len(d["rows"]), "obj", d["rows"][0]["object"]["kind"])
PYEOF

py() { timeout 30 python3 "$T/client.py" "$APISERVER_URL" "$@"; }
has() { grep -qx -- "$2" "$T/$1.out" || { echo "# $1.out:"; sed 's/^/#   /' "$T/$1.out"; return 1; }; }

knp_check "fake apiserver starts" knp_start_apiserver --bookmark-interval 0.3
[ -n "$APISERVER_URL" ] || knp_done

knp_check "/version answers" sh -c "curl -sf '$APISERVER_URL/version' | grep -q gitVersion"
knp_check "/apis lists discovery.k8s.io" sh -c "curl -sf '$APISERVER_URL/apis' | grep -q 'discovery.k8s.io/v1'"
knp_check "/api/v1 lists services with shortName svc" sh -c "curl -sf '$APISERVER_URL/api/v1' | grep -q '\"svc\"'"

py setup >"$T/setup.out" 2>&1
knp_check "objects applied" test "$(grep -c ' 200$' "$T/setup.out")" = 5

py count >"$T/count.out" 2>&1
knp_check "unfiltered list has 5 items without kind" has count "status 200 kind ServiceList items 5 itemkind False"
py count '!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name' >"$T/count2.out" 2>&1
knp_check "labelSelector filters labelled services" has count2 "status 200 kind ServiceList items 3 itemkind False"
py count 'service.kubernetes.io/service-proxy-name=foo' >"$T/count3.out" 2>&1
knp_check "labelSelector key=value" has count3 "status 200 kind ServiceList items 1 itemkind False"
py count 'service.kubernetes.io/service-proxy-name!=foo' >"$T/count4.out" 2>&1
knp_check "labelSelector key!=value" has count4 "status 200 kind ServiceList items 4 itemkind False"

py page >"$T/page.out" 2>&1
knp_check "limit=1 pages through 3 services" has page "pages 3"
knp_check "every page carries the first page's RV" has page "consistent True"
knp_check "pages in namespace/name order, snapshot excludes later add" has page "names ns-a/svc1 ns-a/svc2 ns-b/svc3"
knp_check "continuation pages serve the snapshot" has page "snapshot True"
knp_check "GET one object has kind/apiVersion" has page "get-kind Service v1"

py watch >"$T/watch.out" 2>&1
knp_check "watch from list RV sees MODIFIED" has watch "event1 MODIFIED svc1 Service 198.19.0.11"
knp_check "watch sees DELETED" has watch "event2 DELETED svc2"
knp_check "object leaving the selector is DELETED" has watch "event3 DELETED svc1"
knp_check "object entering the selector is ADDED" has watch "event4 ADDED svc1"
knp_check "bookmarks arrive, filtered events do not" has watch "event5 BOOKMARK Service"
knp_check "bookmark carries the current RV" has watch "bookmark-rv-current True"

py watch-all >"$T/watchall.out" 2>&1
knp_check "watch rv=0 sends synthetic ADDED for all" grep -q "^initial \([0-9]*\) \1 True$" "$T/watchall.out"

py chunks >"$T/chunks.out" 2>&1
knp_check "watch is chunked" has chunks "chunked True"
knp_check "reassembled stream is valid JSON lines" grep -q "^events [1-9][0-9]* valid True$" "$T/chunks.out"
knp_check "an event is split across chunks" has chunks "split True"
knp_check "several events share a chunk" has chunks "merged True"

py table >"$T/table.out" 2>&1
knp_check "Accept as=Table gives a Table" grep -q "^kind Table cols Name,Type,Cluster-IP,External-IP,Port(s),Age,Selector rows [1-9][0-9]* obj PartialObjectMetadata$" "$T/table.out"

rv_now=$(curl -sf "$APISERVER_URL/api/v1/services" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
py watch-timeout "$rv_now" >"$T/timeout.out" 2>&1
knp_check "watch with timeoutSeconds=1 ends by itself" grep -q "^ended-after .* ok$" "$T/timeout.out"
py close-watches "$rv_now" >"$T/close.out" 2>&1
knp_check "/control/close-watches ends open watches" sh -c "grep -qx 'closed 1' '$T/close.out' && grep -qx 'eof True' '$T/close.out'"
py garbage "$rv_now" >"$T/garbage.out" 2>&1
knp_check "/control/garbage sends a non-JSON line" has garbage "sent 1 got GARBAGE"

old_rv=$((rv_now - 3))
compact_rv=$(curl -sf -X POST "$APISERVER_URL/control/compact" | python3 -c 'import json,sys; print(json.load(sys.stdin)["compactedResourceVersion"])')
py watch-old "$old_rv" >"$T/old.out" 2>&1
knp_check "watch from compacted RV: HTTP 200" has old "status 200"
knp_check "watch from compacted RV: ERROR 410 Expired" has old "type ERROR Status 410 Expired"
knp_check "410 message is 'too old resource version'" grep -q "^message too old resource version: $old_rv (" "$T/old.out"
knp_check "stream ends after the ERROR event" has old "then-eof True"
py watch-old "$rv_now" >"$T/old2.out" 2>&1
knp_check "watch from the last RV before compaction: 410 too" has old2 "type ERROR Status 410 Expired"
py watch-timeout "$compact_rv" >"$T/timeout2.out" 2>&1
knp_check "watch from the compaction point still works" grep -q "^ended-after .* ok$" "$T/timeout2.out"

py expired-continue >"$T/cont.out" 2>&1
knp_check "expired continue token gives 410 Expired" has cont "status 410 reason Expired kind Status"

knp_check "endpointslices served" sh -c "curl -sf -o /dev/null '$APISERVER_URL/apis/discovery.k8s.io/v1/endpointslices'"
knp_check "unknown object is a 404 Status" sh -c "curl -s '$APISERVER_URL/api/v1/namespaces/x/services/nope' | grep -q '\"reason\": \"NotFound\"'"

curl -sf "$APISERVER_URL/control/stats" >"$T/stats.json"
knp_check "stats count LISTs and WATCHes, no open watch left" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["lists"] >= 8 and s["watches"] >= 7, s
assert s["perResource"]["services"]["lists"] >= 8, s
assert s["perResource"]["endpointslices"]["lists"] == 1, s
assert s["openWatches"] == 0, s' "$T/stats.json"

# a second server without the discovery.k8s.io group
first_url=$APISERVER_URL
knp_check "server with --no-endpointslices starts" knp_start_apiserver --no-endpointslices
code=$(curl -s -o "$T/404.json" -w '%{http_code}' "$APISERVER_URL/apis/discovery.k8s.io/v1/endpointslices")
knp_check "--no-endpointslices: endpointslices 404" test "$code" = 404
knp_check "--no-endpointslices: 404 body is a NotFound Status" grep -q '"reason": "NotFound"' "$T/404.json"
knp_check "--no-endpointslices: /apis has no groups" sh -c "curl -sf '$APISERVER_URL/apis' | grep -q '\"groups\": \[\]'"
knp_check "first server still serves endpointslices" sh -c "curl -sf -o /dev/null '$first_url/apis/discovery.k8s.io/v1/endpointslices'"

knp_done
