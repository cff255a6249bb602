#!/usr/bin/env python3
"""Print a List of N Services with M endpoints each (addresses in
198.18.0.0/15: ClusterIPs 198.19.x.y, endpoints 198.18.128.0/17), for
scale tests and benchmarks. Usage: gen-services.py N M [--nodeport]"""
import json
import sys


def main():
    n, m = int(sys.argv[1]), int(sys.argv[2])
    nodeport = "--nodeport" in sys.argv
    items = []
    ep = 0
    for i in range(n):
        name = "svc-%d" % i
        cip = "198.19.%d.%d" % (i // 250, i % 250 + 1)
        port = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}
        spec = {"clusterIP": cip, "clusterIPs": [cip], "ports": [port], "type": "ClusterIP"}
        if nodeport and i < 2000:
            spec["type"] = "NodePort"
            port["nodePort"] = 30000 + i
        items.append({"kind": "Service", "apiVersion": "v1",
                      "metadata": {"namespace": "scale", "name": name}, "spec": spec})
        eps = []
        for _ in range(m):
            eps.append({"addresses": ["198.18.%d.%d" % (128 + ep // 250, ep % 250 + 1)],
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
