#!/usr/bin/env python3
"""Print a List of N Services with M endpoints each, for scale tests and
benchmarks. Every address is in 198.18.0.0/15: Service i's ClusterIP is
cluster_ip(i) (198.19.200.1 upwards, up to 13,750 Services), endpoint e
(counting over all Services) is endpoint_ip(e) (198.18.32.0 upwards, up to
100,000 endpoints). Usage: gen-services.py N M [--nodeport]"""
import json
import sys


def cluster_ip(i):
    return "198.19.%d.%d" % (200 + i // 250, i % 250 + 1)


def endpoint_ip(e):
    n = 8192 + e
    return "198.%d.%d.%d" % (18 + n // 65536, (n // 256) % 256, n % 256)


def main():
    n, m = int(sys.argv[1]), int(sys.argv[2])
    if n > 13750 or n * m > 100000:
        sys.exit("gen-services.py: at most 13750 Services and 100000 endpoints")
    nodeport = "--nodeport" in sys.argv
    items = []
    ep = 0
    for i in range(n):
        name = "svc-%d" % i
        cip = cluster_ip(i)
        port = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}
        spec = {"clusterIP": cip, "clusterIPs": [cip], "ports": [port], "type": "ClusterIP"}
        if nodeport and i < 2000:
            spec["type"] = "NodePort"
            port["nodePort"] = 30000 + i
        items.append({"kind": "Service", "apiVersion": "v1",
                      "metadata": {"namespace": "scale", "name": name}, "spec": spec})
        eps = []
        for _ in range(m):
            eps.append({"addresses": [endpoint_ip(ep)],
                        "conditions": {"ready": True}})
            ep += 1
        items.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                      "metadata": {"namespace": "scale", "name": name + "-1",
                                   "labels": {"kubernetes.io/service-name": name}},
                      "addressType": "IPv4",
                      "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
                      "endpoints": eps})
    json.dump({"kind": "List", "apiVersion": "v1", "items": items}, sys.stdout)


if __name__ == "__main__":
    main()
