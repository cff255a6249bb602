#!/usr/bin/env python3
"""Print, in nft syntax, the rule layout kube-proxy's nftables mode uses for
N Services x M endpoints (same addresses as tests/gen-services.py): one
chain per Service and per endpoint, an anonymous `numgen random mod M vmap`
per Service, a service-ips verdict map. Used as the baseline of
bench/sync-bench.sh, loaded with nft -f. Usage: kube-proxy-layout.py N M"""
import os
import sys

import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "gen_services", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                 "gen-services.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def main():
    n, m = int(sys.argv[1]), int(sys.argv[2])
    out = ["add table ip kube-proxy-bench", "delete table ip kube-proxy-bench",
           "table ip kube-proxy-bench {",
           "\tchain mark-for-masquerade {\n\t\tmeta mark set meta mark | 0x4000\n\t}",
           "\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
           "\t\tjump services\n\t}",
           "\tchain services {\n\t\tip daddr . meta l4proto . th dport vmap @service-ips\n\t}"]
    elems = []
    ep = 0
    for i in range(n):
        cip = gen.cluster_ip(i)
        svc = "service-%08X-scale/svc-%d/tcp/http" % (i, i)
        vmap = []
        chains = []
        for j in range(m):
            ip = gen.endpoint_ip(ep)
            ep += 1
            epc = "endpoint-%08X-scale/svc-%d/tcp/http__%s/8080" % (ep, i, ip)
            chains.append("\tchain %s {\n\t\tip saddr %s jump mark-for-masquerade\n"
                          "\t\tmeta l4proto tcp dnat to %s:8080\n\t}" % (epc, ip, ip))
            vmap.append("%d : goto %s" % (j, epc))
        out.extend(chains)
        out.append("\tchain %s {\n\t\tip daddr %s tcp dport 80 ip saddr != 198.18.0.0/15 "
                   "jump mark-for-masquerade\n\t\tnumgen random mod %d vmap { %s }\n\t}"
                   % (svc, cip, m, ", ".join(vmap)))
        elems.append("%s . tcp . 80 : goto %s" % (cip, svc))
    out.append("\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
               "\t\telements = { %s }\n\t}" % ",\n\t\t\t".join(elems))
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
