/* The one description of what we program: tables, chains, rules and maps,
 * built from the model. Every backend renders this same description (the
 * text backend as nft syntax, the nftables backend as libnftnl objects), so
 * the two cannot drift apart.
 *
 * Layout (see DESIGN.md §4 and the closing notes):
 *   base chains  filter-prerouting/filter-output (filter, dstnat-10): new
 *                connections to a Service without endpoints -> reject
 *                nat-prerouting/nat-output (nat, dstnat) -> services
 *                nat-postrouting (nat, srcnat) -> masquerading
 *   maps         service-ips        daddr . l4proto . dport : goto svc-/ext-
 *                service-nodeports  l4proto . dport : goto ext-
 *                no-endpoint-services, no-endpoint-nodeports : goto reject-chain
 *                firewall-ips       LB IP . l4proto . port : goto fw-ID
 *                cluster-ips (set)  every ClusterIP: a new connection still
 *                                   addressed to one after DNAT (a port no
 *                                   ServicePort has) is rejected, from
 *                                   filter-forward and filter-output-post-dnat
 *                (loadBalancerSourceRanges: fw-ID returns for an allowed
 *                source and drops the rest, before any NAT)
 *   per ServicePort  svc-ID (cluster traffic), ext-ID (external traffic:
 *                NodePort, externalIPs, LoadBalancer), ep-ID/ADDR/PORT (one
 *                per endpoint: hairpin mark + DNAT).
 *   Policies: internalTrafficPolicy Local balances cluster traffic over
 *   the endpoints on this node only; externalTrafficPolicy Local does the
 *   same for external traffic, without masquerade (the client's address is
 *   kept), except traffic from pods (--cluster-cidr) and from this node,
 *   which is cluster traffic. No usable endpoint for a policy: drop.
 *   sessionAffinity ClientIP: a set aff-ID/ADDR/PORT per endpoint holds the
 *   clients it served (timeout = timeoutSeconds, refreshed by each new
 *   connection); the balancing chain first sends a known client back to its
 *   endpoint.
 *   Round-robin: rule i of the svc- chain is "numgen inc mod (N-i) == 0 goto
 *   ep-i". Each numgen expression has its own counter that only advances
 *   when the rule is reached, so N connections visit ep-0 .. ep-N-1 in
 *   order: strict per-ServicePort round-robin with no set per Service
 *   (sets are what the kernel charges for, DESIGN.md §4). From
 *   RR_VMAP_MIN endpoints on, the walk would cost too much per new
 *   connection: one "numgen inc mod N vmap { ... }" rule instead (one
 *   anonymous map for such a large Service, still strict round-robin).
 *
 * Memory: a struct ruleset owns every chain, rule, map and string in it.
 */
#ifndef KNP_RULESET_H
#define KNP_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kube/types.h"
#include "model.h"

/* One statement of a rule. Which fields are used depends on the kind. */
enum stmt_kind {
	ST_CT_STATE_NEW,	/* ct state new */
	ST_DADDR_VMAP,		/* ip daddr . meta l4proto . th dport vmap @name */
	ST_PORT_VMAP,		/* meta l4proto . th dport vmap @name */
	ST_FIB_DADDR_LOCAL,	/* fib daddr type local */
	ST_DADDR_NOT_LOOPBACK,	/* ip daddr != 127.0.0.0/8 (::1 for ip6) */
	ST_DADDR_EQ,		/* ip daddr == ip */
	ST_SADDR_EQ,		/* ip saddr == ip */
	ST_SADDR_NOT_PREFIX,	/* ip saddr != ip/a */
	ST_DADDR_PREFIX,	/* ip daddr ip/a */
	ST_SADDR_PREFIX,	/* ip saddr ip/a */
	ST_FIB_SADDR_LOCAL,	/* fib saddr type local */
	ST_SADDR_IN_SET,	/* ip saddr @name */
	ST_DADDR_IN_SET,	/* ip daddr @name */
	ST_SET_UPDATE_SADDR,	/* update @name { ip saddr } */
	ST_MARK_UNSET,		/* meta mark & a == 0 */
	ST_MARK_OR,		/* meta mark set meta mark | a */
	ST_MARK_XOR,		/* meta mark set meta mark ^ a */
	ST_NUMGEN_EQ,		/* numgen inc mod a == b */
	ST_NUMGEN_VMAP,		/* numgen inc mod a vmap { i : goto names[i] } (anonymous) */
	ST_L4PROTO_EQ,		/* meta l4proto a (IANA number) */
	ST_DNAT,		/* dnat to ip:a (a = port, host order) */
	ST_MASQUERADE,		/* masquerade fully-random */
	ST_REJECT,		/* reject (ICMP port unreachable) */
	ST_JUMP,		/* jump name */
	ST_GOTO,		/* goto name */
	ST_RETURN,		/* return */
	ST_DROP,		/* drop */
};

struct stmt {
	enum stmt_kind kind;
	uint32_t a, b;
	struct ip_addr ip;
	const char *name;	/* map or chain name; points into the ruleset */
	const char *const *names;	/* ST_NUMGEN_VMAP: a targets; owned by the ruleset */
};

struct rule {
	uint8_t n;
	struct stmt *s;
};

enum chain_hook {
	HOOK_NONE = 0,		/* regular chain */
	HOOK_PREROUTING,
	HOOK_OUTPUT,
	HOOK_POSTROUTING,
	HOOK_FORWARD,
};

struct chain {
	char *name;
	enum chain_hook hook;
	bool nat;		/* type nat (else filter) */
	int priority;
	size_t n_rules, cap_rules;
	struct rule *rules;
	/* after ruleset_compact(): rules freed, their digest kept */
	bool compacted;
	uint64_t digest;
};

/* A dynamic set of client addresses: sessionAffinity ClientIP, one per
 * endpoint of a ServicePort that asks for it. */
struct addr_set {
	char *name;
	uint32_t timeout;	/* seconds */
};

enum map_kind {
	MAP_ADDR_PROTO_PORT,	/* ipv4_addr . inet_proto . inet_service : verdict */
	MAP_PROTO_PORT,		/* inet_proto . inet_service : verdict */
	MAP_ADDR,		/* a plain set of ipv4_addr: no data, chain NULL */
};

struct map_elem {
	struct ip_addr ip;	/* MAP_ADDR_PROTO_PORT only */
	uint8_t proto;		/* IANA number */
	uint16_t port;		/* host order */
	const char *chain;	/* goto target (NULL in a MAP_ADDR set); points into the ruleset */
};

struct map {
	const char *name;
	enum map_kind kind;
	size_t n, cap;
	struct map_elem *elems;	/* sorted by key after ruleset_build */
};

enum {
	MAP_SERVICE_IPS = 0,
	MAP_SERVICE_NODEPORTS,
	MAP_NO_ENDPOINT_SERVICES,
	MAP_NO_ENDPOINT_NODEPORTS,
	MAP_FIREWALL_IPS,
	SET_CLUSTER_IPS,
	MAP_COUNT,
};

/* Options that shape the ruleset (from struct config). */
struct ruleset_config {
	int family;			/* AF_INET or AF_INET6 */
	const char *table;		/* table name, default "kube-nftproxy" */
	uint32_t masquerade_bit;	/* e.g. 0x4000 */
	bool masquerade_all;
	/* --cluster-cidr of this family: traffic to a ClusterIP from outside
	 * them is masqueraded; none given: no such masquerade */
	size_t n_cluster_cidrs;
	struct ip_prefix cluster_cidrs[8];
	/* --nodeport-addresses of this family; none = every local address */
	size_t n_nodeport_cidrs;
	struct ip_prefix nodeport_cidrs[16];
};

struct ruleset {
	int family;
	char *table;
	size_t n_chains, cap_chains;
	struct chain **chains;	/* fixed chains first, then per-ServicePort chains */
	size_t n_fixed;		/* how many of chains[] are the fixed ones */
	struct map maps[MAP_COUNT];
	size_t n_sets, cap_sets;
	struct addr_set *sets;	/* sorted by name after ruleset_build */
	size_t n_blobs, cap_blobs;
	void **blobs;		/* arrays stmts point to (ST_NUMGEN_VMAP targets) */
};

/* Endpoints from which a balancing chain uses one verdict map. */
#define RR_VMAP_MIN	32

/* Build the ruleset for @m. @rs must be zeroed. Returns 0 or -ENOMEM (then
 * @rs is freed). */
int ruleset_build(struct ruleset *rs, const struct model *m, const struct ruleset_config *cfg);
void ruleset_free(struct ruleset *rs);

/* Chain lookup by name (binary search over the per-ServicePort chains,
 * linear over the fixed ones). NULL when absent. */
const struct chain *ruleset_chain(const struct ruleset *rs, const char *name);

/* Set lookup by name; NULL when absent. */
const struct addr_set *ruleset_set(const struct ruleset *rs, const char *name);

/* Replace the rules of every chain by a 64-bit digest of them: what a
 * backend keeps of a committed ruleset, to compare the next one against, at
 * a fraction of the memory. Chain, map and set names stay valid. */
void ruleset_compact(struct ruleset *rs);

/* true when both chains hold the same rules (either may be compacted). */
bool chain_rules_equal(const struct chain *a, const struct chain *b);

/* Key order of map elements: memcmp-like. Compares keys only. */
int map_elem_cmp(const struct map_elem *a, const struct map_elem *b);

/* "ip" or "ip6". */
const char *family_name(int family);

#endif
