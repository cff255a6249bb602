#!/bin/bash
# Real clients against tests/fake-apiserver.py: kubectl (discovery, list,
# tables, chunked lists, watch) and, when installed, the python kubernetes
# client (list + watch stream). Runs on 127.0.0.1 in the current network
# namespace. Skips (77) when neither kubectl nor python3-kubernetes exists.

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

knp_need_cmd python3 curl timeout
knp_trap_cleanup
knp_tmp
T=$KNP_TMP

KUBECTL=${KUBECTL:-$(command -v kubectl)}
PYK=
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import kubernetes' 2>/dev/null; then
		PYK=$p
		break
	fi
done
if [ -z "$KUBECTL" ] && [ -z "$PYK" ]; then
	echo "SKIP: neither kubectl nor the python kubernetes client (python3-kubernetes) is installed" >&2
	exit 77
fi

knp_check "fake apiserver starts" knp_start_apiserver || knp_done

# fixture objects
knp_apply_json "$(knp_service ns-a svc1 198.19.0.1 80)"
knp_apply_json "$(knp_service ns-a svc2 198.19.0.2 53 --udp)"
knp_apply_json "$(knp_service ns-b svc3 198.19.0.3 443 --nodeport 30443)"
knp_apply_json "$(knp_service ns-b headless None 80 --label service.kubernetes.io/headless=)"
knp_apply_json "$(knp_slice ns-a svc1-abcde svc1 8080 198.18.2.11 198.18.2.12)"
knp_apply_json "$(knp_slice ns-b svc3-fghij svc3 8443 198.18.2.13)"
knp_apply_json '{"kind":"Endpoints","metadata":{"name":"svc1","namespace":"ns-a"},"subsets":[{"addresses":[{"ip":"198.18.2.11"}],"ports":[{"port":8080}]}]}'

# an isolated kubeconfig/home/cache for kubectl
export HOME="$T/home"
mkdir -p "$HOME"
export KUBECONFIG="$T/kubeconfig"
cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: $APISERVER_URL
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: ns-a
current-context: fake
users:
- name: fake
  user: {}
EOF

if [ -n "$KUBECTL" ]; then
	k() { timeout 20 "$KUBECTL" --request-timeout=10s "$@"; }

	k get svc -A -o json >"$T/svc.json" 2>"$T/svc.err"
	knp_check "kubectl get svc -A -o json" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted("%s/%s" % (i["metadata"]["namespace"], i["metadata"]["name"]) for i in d["items"])
assert names == ["ns-a/svc1", "ns-a/svc2", "ns-b/headless", "ns-b/svc3"], names
assert all(i["kind"] == "Service" for i in d["items"]), "kubectl fills in kind"' "$T/svc.json"

	k get svc -A >"$T/svc.txt" 2>&1
	knp_check "kubectl get svc -A prints a table" sh -c "
		grep -q '^NAMESPACE *NAME *TYPE *CLUSTER-IP *EXTERNAL-IP *PORT(S) *AGE' '$T/svc.txt' &&
		grep -q '^ns-a *svc1 *ClusterIP *198.19.0.1 *<none> *80/TCP ' '$T/svc.txt' &&
		grep -q '^ns-a *svc2 *ClusterIP *198.19.0.2 *<none> *53/UDP ' '$T/svc.txt' &&
		grep -q '^ns-b *svc3 *NodePort *198.19.0.3 *<none> *443:30443/TCP ' '$T/svc.txt' &&
		grep -q '^ns-b *headless *ClusterIP *None ' '$T/svc.txt'"

	k get endpointslices -A >"$T/eps.txt" 2>&1
	knp_check "kubectl get endpointslices -A" sh -c "
		grep -q '^ns-a *svc1-abcde *IPv4 *8080 *198.18.2.11,198.18.2.12 ' '$T/eps.txt' &&
		grep -q '^ns-b *svc3-fghij *IPv4 *8443 *198.18.2.13 ' '$T/eps.txt'"

	k get ep >"$T/ep.txt" 2>&1
	knp_check "kubectl get ep (namespace from kubeconfig)" grep -q '^svc1 *198.18.2.11:8080 ' "$T/ep.txt"

	out=$(k get svc svc3 -n ns-b -o jsonpath='{.spec.clusterIP} {.spec.ports[0].nodePort}' 2>&1)
	knp_check "kubectl get one object (jsonpath)" test "$out" = "198.19.0.3 30443"

	k get svc -A --chunk-size=1 -o name >"$T/chunked.txt" 2>&1
	knp_check "kubectl pages with --chunk-size=1 (continue tokens)" test \
		"$(tr '\n' ' ' <"$T/chunked.txt")" = "service/svc1 service/svc2 service/headless service/svc3 "

	k get svc -A -l '!service.kubernetes.io/headless' -o name >"$T/sel.txt" 2>&1
	knp_check "kubectl label selector" test \
		"$(tr '\n' ' ' <"$T/sel.txt")" = "service/svc1 service/svc2 service/svc3 "

	out=$(k get svc nope 2>&1)
	knp_check "kubectl reports NotFound" grep -q 'NotFound\|not found' <<<"$out"

	# --- watch (-o name) ---
	stats_watches() {
		curl -sf "$APISERVER_URL/control/stats" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["perResource"]["services"]["openWatches"])'
	}
	watch_open() { [ "$(stats_watches)" -ge "$1" ]; }
	log_has() { grep -q -- "$2" "$T/$1.log"; }

	knp_bg "" watch-name timeout 10 "$KUBECTL" get svc -A --watch -o name
	w1=$KNP_LAST_PID
	knp_bg "" watch-events timeout 10 "$KUBECTL" get svc -A --watch --output-watch-events
	w2=$KNP_LAST_PID
	knp_check "kubectl watches are open" knp_wait_for watch_open 2
	knp_apply_json "$(knp_service ns-c brand-new 198.19.0.7 8080)"
	knp_apply_json "$(knp_service ns-a svc1 198.19.0.1 81)"
	knp_delete Service ns-a svc2
	knp_check "kubectl watch -o name shows the new service" knp_wait_for log_has watch-name '^service/brand-new$'
	knp_check "kubectl watch shows ADDED row (Table watch)" \
		knp_wait_for log_has watch-events '^ADDED *ns-c *brand-new *ClusterIP *198.19.0.7 '
	knp_check "kubectl watch shows MODIFIED row" \
		knp_wait_for log_has watch-events '^MODIFIED *ns-a *svc1 .* 81/TCP '
	knp_check "kubectl watch shows DELETED row" \
		knp_wait_for log_has watch-events '^DELETED *ns-a *svc2 '
	knp_kill "$w1" "$w2"
	knp_check "no watch left open" knp_wait_for watch_open 0
	knp_check "kubectl watch output has no errors" sh -c "! grep -qi 'error\|unable' '$T/watch-name.log' '$T/watch-events.log'"
else
	echo "# kubectl not found: kubectl checks skipped"
fi

if [ -n "$PYK" ]; then
	cat >"$T/pyk.py" <<'PYEOF'
import sys, threading, time, json, urllib.request
from kubernetes import client, config, watch

url = sys.argv[1]
cfg = client.Configuration()
cfg.host = url
api = client.CoreV1Api(client.ApiClient(cfg))
disc = client.DiscoveryV1Api(client.ApiClient(cfg))

svcs = api.list_service_for_all_namespaces(timeout_seconds=5)
print("list", " ".join(sorted("%s/%s" % (s.metadata.namespace, s.metadata.name)
                               for s in svcs.items)))
rv = svcs.metadata.resource_version
slices = disc.list_endpoint_slice_for_all_namespaces()
print("slices", " ".join(sorted(s.metadata.name for s in slices.items)))

def poke():
    time.sleep(0.5)
    body = json.dumps({"kind": "Service", "metadata": {"name": "from-python",
            "namespace": "ns-p"}, "spec": {"clusterIP": "198.19.0.77",
            "ports": [{"port": 80, "protocol": "TCP"}]}}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/control/apply",
                                                  data=body), timeout=5).read()

threading.Thread(target=poke, daemon=True).start()
w = watch.Watch()
seen = []
t0 = time.monotonic()
for ev in w.stream(api.list_service_for_all_namespaces, resource_version=rv,
                   timeout_seconds=3):
    seen.append("%s %s %s" % (ev["type"], ev["object"].metadata.name,
                             ev["object"].spec.cluster_ip))
    if ev["object"].metadata.name == "from-python":
        w.stop()
    if time.monotonic() - t0 > 8:
        break
print("watch", "; ".join(seen))
PYEOF
	timeout 20 "$PYK" "$T/pyk.py" "$APISERVER_URL" >"$T/pyk.out" 2>&1
	knp_check "python kubernetes: list_service_for_all_namespaces" grep -q '^list .*ns-a/svc1' "$T/pyk.out"
	knp_check "python kubernetes: list endpointslices" grep -q '^slices .*svc1-abcde' "$T/pyk.out"
	knp_check "python kubernetes: watch stream sees ADDED" grep -q '^watch .*ADDED from-python 198.19.0.77' "$T/pyk.out" ||
		sed 's/^/#   /' "$T/pyk.out"
else
	echo "# python kubernetes client not installed: python checks skipped"
fi

knp_done
