/* Model -> ruleset description. See ruleset.h for the layout. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "log.h"
#include "array.h"
#include "ruleset.h"

/* Base chain priorities: kube-proxy's documented contract (filter at
 * dstnat-10, nat at dstnat and srcnat), from nft's named priorities. */
#define PRIO_DSTNAT	(-100)
#define PRIO_SRCNAT	100
#define PRIO_FILTER	(PRIO_DSTNAT - 10)

static const char *const map_names[MAP_COUNT] = {
	[MAP_SERVICE_IPS] = "service-ips",
	[MAP_SERVICE_NODEPORTS] = "service-nodeports",
	[MAP_NO_ENDPOINT_SERVICES] = "no-endpoint-services",
	[MAP_NO_ENDPOINT_NODEPORTS] = "no-endpoint-nodeports",
	[MAP_FIREWALL_IPS] = "firewall-ips",
	[SET_CLUSTER_IPS] = "cluster-ips",
};

#define CH_MARK_MASQ	"mark-for-masquerade"
#define CH_REJECT	"reject-chain"
#define CH_OFF_CLUSTER	"masquerade-off-cluster"

const char *family_name(int family)
{
	return family == AF_INET6 ? "ip6" : "ip";
}

static void chain_free(struct chain *c)
{
	for (size_t i = 0; i < c->n_rules; i++)
		free(c->rules[i].s);
	free(c->rules);
	free(c->name);
	free(c);
}

void ruleset_free(struct ruleset *rs)
{
	for (size_t i = 0; i < rs->n_chains; i++)
		chain_free(rs->chains[i]);
	free(rs->chains);
	for (int i = 0; i < MAP_COUNT; i++)
		free(rs->maps[i].elems);
	for (size_t i = 0; i < rs->n_sets; i++)
		free(rs->sets[i].name);
	free(rs->sets);
	for (size_t i = 0; i < rs->n_blobs; i++)
		free(rs->blobs[i]);
	free(rs->blobs);
	free(rs->table);
	memset(rs, 0, sizeof(*rs));
}

static struct chain *chain_add(struct ruleset *rs, char *name)
{
	struct chain *c;

	if (!name)
		return NULL;
	if (array_reserve(&rs->chains, &rs->cap_chains, rs->n_chains + 1,
			  sizeof(*rs->chains), 64) < 0) {
		free(name);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		free(name);
		return NULL;
	}
	c->name = name;
	rs->chains[rs->n_chains++] = c;
	return c;
}

static struct chain *base_chain_add(struct ruleset *rs, const char *name,
				    enum chain_hook hook, bool nat, int prio)
{
	struct chain *c = chain_add(rs, strdup(name));

	if (c) {
		c->hook = hook;
		c->nat = nat;
		c->priority = prio;
	}
	return c;
}

/* Append a rule of @n statements copied from @s. */
static int rule_add(struct chain *c, const struct stmt *s, size_t n)
{
	struct rule *r;

	if (array_reserve(&c->rules, &c->cap_rules, c->n_rules + 1, sizeof(*c->rules), 2) < 0)
		return -ENOMEM;
	r = &c->rules[c->n_rules];
	r->s = malloc(n * sizeof(*s));
	if (!r->s)
		return -ENOMEM;
	memcpy(r->s, s, n * sizeof(*s));
	r->n = n;
	c->n_rules++;
	return 0;
}

#define RULE(c, ...) ({							\
	const struct stmt __s[] = { __VA_ARGS__ };			\
	rule_add((c), __s, sizeof(__s) / sizeof(__s[0]));		\
})

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static int elem_add(struct map *m, const struct ip_addr *ip, uint8_t proto,
		    uint16_t port, const char *chain)
{
	struct map_elem *e;

	if (array_reserve(&m->elems, &m->cap, m->n + 1, sizeof(*m->elems), 64) < 0)
		return -ENOMEM;
	e = &m->elems[m->n++];
	memset(e, 0, sizeof(*e));
	if (ip)
		e->ip = *ip;
	e->proto = proto;
	e->port = port;
	e->chain = chain;
	return 0;
}

/* NodePorts answer on local addresses, never on loopback (we do not set
 * route_localnet), and with --nodeport-addresses only inside those CIDRs. */
static int nodeport_rules(struct chain *c, const char *map, const struct ruleset_config *cfg)
{
	int err = 0;

	if (!cfg->n_nodeport_cidrs)
		return RULE(c, { .kind = ST_FIB_DADDR_LOCAL }, { .kind = ST_DADDR_NOT_LOOPBACK },
			    { .kind = ST_PORT_VMAP, .name = map });
	for (size_t i = 0; i < cfg->n_nodeport_cidrs; i++)
		err |= RULE(c, { .kind = ST_FIB_DADDR_LOCAL }, { .kind = ST_DADDR_NOT_LOOPBACK },
			    { .kind = ST_DADDR_PREFIX, .ip = cfg->nodeport_cidrs[i].addr,
			      .a = cfg->nodeport_cidrs[i].len },
			    { .kind = ST_PORT_VMAP, .name = map });
	return err;
}

static int build_fixed(struct ruleset *rs, const struct ruleset_config *cfg)
{
	struct chain *c, *check, *fw, *svcs, *masq, *mark, *rej;
	const char *const *mn = map_names;
	int err = 0;

	check = chain_add(rs, strdup("endpoints-check"));
	fw = chain_add(rs, strdup("firewall-check"));
	svcs = chain_add(rs, strdup("services"));
	masq = chain_add(rs, strdup("masquerading"));
	mark = chain_add(rs, strdup(CH_MARK_MASQ));
	rej = chain_add(rs, strdup(CH_REJECT));
	if (!check || !fw || !svcs || !masq || !mark || !rej)
		return -ENOMEM;

	c = base_chain_add(rs, "filter-prerouting", HOOK_PREROUTING, false, PRIO_FILTER);
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_CT_STATE_NEW }, { .kind = ST_JUMP, .name = fw->name });
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_CT_STATE_NEW }, { .kind = ST_JUMP, .name = check->name });
	c = base_chain_add(rs, "filter-output", HOOK_OUTPUT, false, PRIO_FILTER);
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_CT_STATE_NEW }, { .kind = ST_JUMP, .name = fw->name });
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_CT_STATE_NEW }, { .kind = ST_JUMP, .name = check->name });
	err |= RULE(fw, { .kind = ST_DADDR_VMAP, .name = mn[MAP_FIREWALL_IPS] });
	/* after DNAT: still addressed to a ClusterIP means no ServicePort
	 * matched the port; refuse it rather than route it on */
	c = chain_add(rs, strdup("cluster-ips-check"));
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_DADDR_IN_SET, .name = mn[SET_CLUSTER_IPS] },
				   { .kind = ST_REJECT });
	if (c) {
		const char *cic = c->name;

		c = base_chain_add(rs, "filter-forward", HOOK_FORWARD, false, PRIO_FILTER);
		err |= !c ? -ENOMEM : RULE(c, { .kind = ST_CT_STATE_NEW }, { .kind = ST_JUMP, .name = cic });
		c = base_chain_add(rs, "filter-output-post-dnat", HOOK_OUTPUT, false, PRIO_DSTNAT + 10);
		err |= !c ? -ENOMEM : RULE(c, { .kind = ST_CT_STATE_NEW }, { .kind = ST_JUMP, .name = cic });
	}
	c = base_chain_add(rs, "nat-prerouting", HOOK_PREROUTING, true, PRIO_DSTNAT);
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_JUMP, .name = svcs->name });
	c = base_chain_add(rs, "nat-output", HOOK_OUTPUT, true, PRIO_DSTNAT);
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_JUMP, .name = svcs->name });
	c = base_chain_add(rs, "nat-postrouting", HOOK_POSTROUTING, true, PRIO_SRCNAT);
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_JUMP, .name = masq->name });

	err |= RULE(check, { .kind = ST_DADDR_VMAP, .name = mn[MAP_NO_ENDPOINT_SERVICES] });
	err |= nodeport_rules(check, mn[MAP_NO_ENDPOINT_NODEPORTS], cfg);
	err |= RULE(svcs, { .kind = ST_DADDR_VMAP, .name = mn[MAP_SERVICE_IPS] });
	err |= nodeport_rules(svcs, mn[MAP_SERVICE_NODEPORTS], cfg);
	err |= RULE(masq, { .kind = ST_MARK_UNSET, .a = cfg->masquerade_bit },
		    { .kind = ST_RETURN });
	err |= RULE(masq, { .kind = ST_MARK_XOR, .a = cfg->masquerade_bit });
	err |= RULE(masq, { .kind = ST_MASQUERADE });
	err |= RULE(mark, { .kind = ST_MARK_OR, .a = cfg->masquerade_bit });
	err |= RULE(rej, { .kind = ST_REJECT });
	if (cfg->n_cluster_cidrs && !cfg->masquerade_all) {
		/* jumped to by every Service chain: traffic that reached it from
		 * outside the pod ranges is masqueraded, so replies come back
		 * through this node (the ext- paths have marked theirs already) */
		c = chain_add(rs, strdup(CH_OFF_CLUSTER));
		if (!c)
			return -ENOMEM;
		for (size_t i = 0; i < cfg->n_cluster_cidrs; i++)
			err |= RULE(c, { .kind = ST_SADDR_PREFIX, .ip = cfg->cluster_cidrs[i].addr,
					 .a = cfg->cluster_cidrs[i].len }, { .kind = ST_RETURN });
		err |= RULE(c, { .kind = ST_GOTO, .name = mark->name });
	}
	rs->n_fixed = rs->n_chains;
	return err ? -ENOMEM : 0;
}

static const char *chain_name_of(const struct ruleset *rs, const char *name)
{
	const struct chain *c = ruleset_chain(rs, name);

	return c ? c->name : NULL;
}

/* Balance over the endpoints @idx[0..n) of @p at the end of chain @c:
 * affinity first (a client known to an endpoint's set goes back to it),
 * then strict round-robin; no endpoint: drop. */
/* Keep @p (malloc'd) with the ruleset; NULL on allocation failure. */
static void *blob_keep(struct ruleset *rs, void *p)
{
	if (!p || array_reserve(&rs->blobs, &rs->cap_blobs, rs->n_blobs + 1,
				sizeof(*rs->blobs), 16) < 0) {
		free(p);
		return NULL;
	}
	rs->blobs[rs->n_blobs++] = p;
	return p;
}

static int add_balancing(struct ruleset *rs, struct chain *c, const struct svc_port *p,
			 const char *const *ep_names, const char *const *aff_names,
			 const size_t *idx, size_t n)
{
	int err = 0;

	if (!n)
		return RULE(c, { .kind = ST_DROP });
	for (size_t i = 0; p->affinity_client_ip && i < n; i++)
		err |= RULE(c, { .kind = ST_SADDR_IN_SET, .name = aff_names[idx[i]] },
			    { .kind = ST_GOTO, .name = ep_names[idx[i]] });
	if (n >= RR_VMAP_MIN) {
		const char **targets = blob_keep(rs, malloc(n * sizeof(*targets)));

		if (!targets)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			targets[i] = ep_names[idx[i]];
		return err | RULE(c, { .kind = ST_NUMGEN_VMAP, .a = n, .names = targets });
	}
	for (size_t i = 0; i + 1 < n; i++)
		err |= RULE(c, { .kind = ST_NUMGEN_EQ, .a = n - i, .b = 0 },
			    { .kind = ST_GOTO, .name = ep_names[idx[i]] });
	err |= RULE(c, { .kind = ST_GOTO, .name = ep_names[idx[n - 1]] });
	return err;
}

static const char *set_add(struct ruleset *rs, char *name, uint32_t timeout)
{
	if (!name)
		return NULL;
	if (array_reserve(&rs->sets, &rs->cap_sets, rs->n_sets + 1, sizeof(*rs->sets), 16) < 0) {
		free(name);
		return NULL;
	}
	rs->sets[rs->n_sets].name = name;
	rs->sets[rs->n_sets].timeout = timeout;
	return rs->sets[rs->n_sets++].name;
}

/* An address as it may appear in a chain or set name: nft identifiers
 * allow letters, digits and / - _ . only, so IPv6's ':' becomes '.'. */
static const char *name_addr(const struct ip_addr *a, char *buf, size_t len)
{
	ip_addr_str(a, buf, len);
	for (char *c = buf; *c; c++)
		if (*c == ':')
			*c = '.';
	return buf;
}

/* The endpoints that receive traffic, as indexes into p->endpoints, in
 * @out; returns how many. Cluster-wide (@local false) or on this node only:
 * the ready ones, or when there is none, the serving-terminating ones, so a
 * rollout drains to terminating pods rather than dropping (KEP-1669). */
static size_t pick_endpoints(const struct svc_port *p, bool local, size_t *out)
{
	size_t n = 0;

	for (int pass = 0; pass < 2 && !n; pass++)
		for (size_t i = 0; i < p->n_endpoints; i++)
			if ((!local || p->endpoints[i].local) &&
			    p->endpoints[i].ready == (pass == 0))
				out[n++] = i;
	return n;
}

/* One chain per endpoint that receives traffic (hairpin mark, affinity
 * update, DNAT); fills @ep_names and, with affinity, @aff_names. */
static int build_endpoint_chains(struct ruleset *rs, const struct svc_port *p,
				 const size_t *all, size_t n_all, const size_t *local,
				 size_t n_local, const char **ep_names, const char **aff_names)
{
	const char *mark = chain_name_of(rs, CH_MARK_MASQ);
	char buf[INET6_ADDRSTRLEN];
	int err = 0;

	for (size_t k = 0; k < n_all + n_local; k++) {
		size_t i = k < n_all ? all[k] : local[k - n_all];
		const struct model_endpoint *e = &p->endpoints[i];
		const char *addr;
		struct chain *ep;

		if (ep_names[i])	/* in both sets */
			continue;
		addr = name_addr(&e->addr, buf, sizeof(buf));
		ep = chain_add(rs, xasprintf("ep-%s/%s/%u", p->id, addr, e->port));
		if (!ep)
			return -ENOMEM;
		ep_names[i] = ep->name;
		/* hairpin: an endpoint reaching itself through the Service */
		err |= RULE(ep, { .kind = ST_SADDR_EQ, .ip = e->addr },
			    { .kind = ST_JUMP, .name = mark });
		if (p->affinity_client_ip) {
			aff_names[i] = set_add(rs, xasprintf("aff-%s/%s/%u", p->id, addr, e->port),
					       p->affinity_timeout);
			if (!aff_names[i])
				return -ENOMEM;
			err |= RULE(ep, { .kind = ST_SET_UPDATE_SADDR, .name = aff_names[i] });
		}
		err |= RULE(ep, { .kind = ST_L4PROTO_EQ, .a = l4proto_number(p->proto) },
			    { .kind = ST_DNAT, .ip = e->addr, .a = e->port });
	}
	return err ? -ENOMEM : 0;
}

/* ext- chain: external traffic (NodePort, externalIPs, LoadBalancer IPs). */
static int build_external_chain(struct ruleset *rs, const struct svc_port *p,
				const struct ruleset_config *cfg, const struct chain *svc,
				const char *const *ep_names, const char *const *aff_names,
				const size_t *all, size_t n_all, const size_t *local,
				size_t n_local, struct chain **out)
{
	const char *mark = chain_name_of(rs, CH_MARK_MASQ);
	struct chain *ext = chain_add(rs, xasprintf("ext-%s", p->id));
	const char *cluster = svc->name;
	int err = 0;

	if (!ext)
		return -ENOMEM;
	*out = ext;
	if (p->external_policy == POLICY_CLUSTER) {
		/* masqueraded, so replies come back through this node */
		err |= RULE(ext, { .kind = ST_JUMP, .name = mark });
		if (p->internal_policy == POLICY_CLUSTER)
			err |= RULE(ext, { .kind = ST_GOTO, .name = svc->name });
		else
			err |= add_balancing(rs, ext, p, ep_names, aff_names, all, n_all);
		return err ? -ENOMEM : 0;
	}
	/* eTP=Local: pods and the node itself are cluster traffic and reach
	 * every endpoint (kube-proxy's short-circuit; with iTP=Local too, so
	 * svc- would not do: a chain over all endpoints); others keep their
	 * source address and only reach endpoints on this node */
	if (p->internal_policy == POLICY_LOCAL) {
		struct chain *cl = chain_add(rs, xasprintf("cluster-%s", p->id));

		if (!cl)
			return -ENOMEM;
		err |= add_balancing(rs, cl, p, ep_names, aff_names, all, n_all);
		cluster = cl->name;
	}
	for (size_t i = 0; i < cfg->n_cluster_cidrs; i++)
		err |= RULE(ext, { .kind = ST_SADDR_PREFIX, .ip = cfg->cluster_cidrs[i].addr,
				   .a = cfg->cluster_cidrs[i].len },
			    { .kind = ST_GOTO, .name = cluster });
	err |= RULE(ext, { .kind = ST_FIB_SADDR_LOCAL }, { .kind = ST_JUMP, .name = mark });
	err |= RULE(ext, { .kind = ST_FIB_SADDR_LOCAL }, { .kind = ST_GOTO, .name = cluster });
	err |= add_balancing(rs, ext, p, ep_names, aff_names, local, n_local);
	return err ? -ENOMEM : 0;
}

/* loadBalancerSourceRanges: new connections to the LoadBalancer IPs from
 * outside the ranges are dropped (filter, before NAT); others return. */
static int build_firewall(struct ruleset *rs, const struct svc_port *p)
{
	struct chain *fw = chain_add(rs, xasprintf("fw-%s", p->id));
	uint8_t proto = l4proto_number(p->proto);
	int err = 0;

	if (!fw)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_source_ranges; i++)
		err |= RULE(fw, { .kind = ST_SADDR_PREFIX, .ip = p->source_ranges[i].addr,
				  .a = p->source_ranges[i].len }, { .kind = ST_RETURN });
	err |= RULE(fw, { .kind = ST_DROP });
	for (size_t i = p->first_lb; i < p->n_external; i++)
		err |= elem_add(&rs->maps[MAP_FIREWALL_IPS], &p->external[i], proto, p->port,
				fw->name);
	return err ? -ENOMEM : 0;
}

static int add_no_endpoint_elems(struct ruleset *rs, const struct svc_port *p)
{
	const char *rej = chain_name_of(rs, CH_REJECT);
	uint8_t proto = l4proto_number(p->proto);
	int err = 0;

	err |= elem_add(&rs->maps[MAP_NO_ENDPOINT_SERVICES], &p->cluster_ip, proto, p->port, rej);
	for (size_t i = 0; i < p->n_external; i++)
		err |= elem_add(&rs->maps[MAP_NO_ENDPOINT_SERVICES], &p->external[i], proto,
				p->port, rej);
	if (p->node_port)
		err |= elem_add(&rs->maps[MAP_NO_ENDPOINT_NODEPORTS], NULL, proto, p->node_port, rej);
	return err ? -ENOMEM : 0;
}

static int build_port(struct ruleset *rs, const struct svc_port *p,
		      const struct ruleset_config *cfg)
{
	const char *mark = chain_name_of(rs, CH_MARK_MASQ);
	uint8_t proto = l4proto_number(p->proto);
	const char **ep_names = NULL, **aff_names = NULL;
	size_t *all = NULL, *local = NULL, n_all, n_local;
	struct chain *svc, *ext;
	int err = -ENOMEM;

	if (elem_add(&rs->maps[SET_CLUSTER_IPS], &p->cluster_ip, 0, 0, NULL) < 0)
		return -ENOMEM;
	if (!p->n_endpoints)
		return add_no_endpoint_elems(rs, p);
	ep_names = calloc(p->n_endpoints, sizeof(*ep_names));
	aff_names = calloc(p->n_endpoints, sizeof(*aff_names));
	all = calloc(p->n_endpoints, sizeof(*all));
	local = calloc(p->n_endpoints, sizeof(*local));
	if (!ep_names || !aff_names || !all || !local)
		goto out;
	n_all = pick_endpoints(p, false, all);
	n_local = pick_endpoints(p, true, local);
	err = build_endpoint_chains(rs, p, all, n_all, local, n_local, ep_names, aff_names);
	if (err)
		goto out;
	err = -ENOMEM;
	svc = chain_add(rs, xasprintf("svc-%s", p->id));
	if (!svc)
		goto out;
	err = 0;
	if (cfg->masquerade_all)
		err |= RULE(svc, { .kind = ST_JUMP, .name = mark });
	else if (cfg->n_cluster_cidrs)
		err |= RULE(svc, { .kind = ST_JUMP, .name = chain_name_of(rs, CH_OFF_CLUSTER) });
	if (p->internal_policy == POLICY_LOCAL)
		err |= add_balancing(rs, svc, p, ep_names, aff_names, local, n_local);
	else
		err |= add_balancing(rs, svc, p, ep_names, aff_names, all, n_all);
	err |= elem_add(&rs->maps[MAP_SERVICE_IPS], &p->cluster_ip, proto, p->port, svc->name);
	if (err || (!p->node_port && !p->n_external))
		goto out;
	err = build_external_chain(rs, p, cfg, svc, ep_names, aff_names, all, n_all, local,
				   n_local, &ext);
	if (err)
		goto out;
	for (size_t i = 0; i < p->n_external; i++)
		err |= elem_add(&rs->maps[MAP_SERVICE_IPS], &p->external[i], proto, p->port,
				ext->name);
	if (!err && p->n_source_ranges && p->first_lb < p->n_external)
		err = build_firewall(rs, p);
	if (p->node_port)
		err |= elem_add(&rs->maps[MAP_SERVICE_NODEPORTS], NULL, proto, p->node_port,
				ext->name);
out:
	free(ep_names);
	free(aff_names);
	free(all);
	free(local);
	return err ? -ENOMEM : 0;
}

int map_elem_cmp(const struct map_elem *a, const struct map_elem *b)
{
	int c = ip_addr_cmp(&a->ip, &b->ip);

	if (c)
		return c;
	if (a->proto != b->proto)
		return (int)a->proto - (int)b->proto;
	return (int)a->port - (int)b->port;
}

static int chain_qcmp(const void *a, const void *b)
{
	const struct chain *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

struct tagged_elem {
	struct map_elem e;
	size_t idx;
};

static int tagged_qcmp(const void *a, const void *b)
{
	const struct tagged_elem *x = a, *y = b;
	int c = map_elem_cmp(&x->e, &y->e);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Conflicts are reported when they change, not at every sync (the daemon
 * rebuilds the ruleset every --sync-period): a digest of the last build's
 * conflicts per family and map. */
static uint64_t reported_conflicts[2][MAP_COUNT];

static uint64_t digest_str(uint64_t h, const char *s)
{
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Log the keys of sorted @t claimed by two targets, unless the same set of
 * conflicts was logged last time. */
static void report_conflicts(const struct map *m, const struct tagged_elem *t, size_t n,
			     uint64_t *reported)
{
	uint64_t digest = 1469598103934665603ULL;
	size_t first = 0;
	bool any = false;

	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 1; i < n; i++) {
			char buf[INET6_ADDRSTRLEN] = "";

			if (map_elem_cmp(&t[i].e, &t[first].e)) {
				first = i;
				continue;
			}
			if (!t[i].e.chain || !strcmp(t[i].e.chain, t[first].e.chain))
				continue;	/* the same entry twice: a ClusterIP of 2 ports */
			if (pass == 0) {
				digest = digest_str(digest_str(digest, t[first].e.chain), t[i].e.chain);
				any = true;
				continue;
			}
			if (t[i].e.ip.family)
				ip_addr_str(&t[i].e.ip, buf, sizeof(buf));
			log_warn("%s: %s%s%u/%u is claimed twice: %s keeps it, %s gets none",
				 m->name, buf, *buf ? ":" : "", t[i].e.port, t[i].e.proto,
				 t[first].e.chain, t[i].e.chain);
		}
		if (pass == 0 && (!any || digest == *reported)) {
			*reported = any ? digest : 0;
			return;
		}
		first = 0;
	}
	*reported = digest;
}

/* Sort a map and drop duplicate keys (two Services claiming the same
 * externalIP:port or NodePort): the first one added, that is the lowest
 * ServicePort id, keeps the key. Returns 0 or -ENOMEM. */
static int map_finish(struct map *m, int family, int index)
{
	struct tagged_elem *t;
	size_t k = 1;

	if (m->n < 2)
		return 0;
	t = malloc(m->n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		t[i].e = m->elems[i];
		t[i].idx = i;
	}
	qsort(t, m->n, sizeof(*t), tagged_qcmp);
	report_conflicts(m, t, m->n, &reported_conflicts[family == AF_INET6][index]);
	m->elems[0] = t[0].e;
	for (size_t i = 1; i < m->n; i++)
		if (map_elem_cmp(&t[i].e, &m->elems[k - 1]))
			m->elems[k++] = t[i].e;
	m->n = k;
	free(t);
	return 0;
}

static int set_qcmp(const void *a, const void *b)
{
	const struct addr_set *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int ruleset_build(struct ruleset *rs, const struct model *m, const struct ruleset_config *cfg)
{
	int err;

	rs->family = cfg->family;
	rs->table = strdup(cfg->table);
	if (!rs->table)
		return -ENOMEM;
	for (int i = 0; i < MAP_COUNT; i++) {
		rs->maps[i].name = map_names[i];
		rs->maps[i].kind = (i == MAP_SERVICE_NODEPORTS ||
				    i == MAP_NO_ENDPOINT_NODEPORTS) ?
			MAP_PROTO_PORT : MAP_ADDR_PROTO_PORT;
		if (i == SET_CLUSTER_IPS)
			rs->maps[i].kind = MAP_ADDR;
	}
	err = build_fixed(rs, cfg);
	for (size_t i = 0; !err && i < m->n; i++)
		err = build_port(rs, &m->ports[i], cfg);
	if (err) {
		ruleset_free(rs);
		return err;
	}
	qsort(rs->chains + rs->n_fixed, rs->n_chains - rs->n_fixed,
	      sizeof(*rs->chains), chain_qcmp);
	if (rs->n_sets)
		qsort(rs->sets, rs->n_sets, sizeof(*rs->sets), set_qcmp);
	for (int i = 0; i < MAP_COUNT; i++) {
		if (map_finish(&rs->maps[i], rs->family, i) < 0) {
			ruleset_free(rs);
			return -ENOMEM;
		}
	}
	return 0;
}

const struct addr_set *ruleset_set(const struct ruleset *rs, const char *name)
{
	struct addr_set key = { .name = (char *)name };

	if (!rs->n_sets)
		return NULL;
	return bsearch(&key, rs->sets, rs->n_sets, sizeof(key), set_qcmp);
}

const struct chain *ruleset_chain(const struct ruleset *rs, const char *name)
{
	size_t lo, hi;

	for (size_t i = 0; i < rs->n_fixed; i++)
		if (!strcmp(rs->chains[i]->name, name))
			return rs->chains[i];
	lo = rs->n_fixed;
	hi = rs->n_chains;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(rs->chains[mid]->name, name);

		if (!c)
			return rs->chains[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool stmt_equal(const struct stmt *a, const struct stmt *b)
{
	if (a->kind != b->kind || a->a != b->a || a->b != b->b)
		return false;
	if (ip_addr_cmp(&a->ip, &b->ip))
		return false;
	if (a->kind == ST_NUMGEN_VMAP) {
		for (uint32_t i = 0; i < a->a; i++)
			if (strcmp(a->names[i], b->names[i]))
				return false;
		return true;
	}
	if (!a->name || !b->name)
		return a->name == b->name;
	return !strcmp(a->name, b->name);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--) {
		h ^= *c++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* FNV-1a over every field that reaches the kernel. */
static uint64_t chain_digest(const struct chain *c)
{
	uint64_t h = 1469598103934665603ULL;

	if (c->compacted)
		return c->digest;
	h = fnv(h, &c->n_rules, sizeof(c->n_rules));
	for (size_t i = 0; i < c->n_rules; i++) {
		h = fnv(h, &c->rules[i].n, sizeof(c->rules[i].n));
		for (size_t j = 0; j < c->rules[i].n; j++) {
			const struct stmt *st = &c->rules[i].s[j];
			uint32_t kind = st->kind;

			h = fnv(h, &kind, sizeof(kind));
			h = fnv(h, &st->a, sizeof(st->a));
			h = fnv(h, &st->b, sizeof(st->b));
			h = fnv(h, &st->ip.family, 1);
			h = fnv(h, st->ip.bytes, sizeof(st->ip.bytes));
			if (st->name)
				h = fnv(h, st->name, strlen(st->name) + 1);
			for (uint32_t k = 0; st->kind == ST_NUMGEN_VMAP && k < st->a; k++)
				h = fnv(h, st->names[k], strlen(st->names[k]) + 1);
		}
	}
	return h;
}

void ruleset_compact(struct ruleset *rs)
{
	for (size_t i = 0; i < rs->n_chains; i++) {
		struct chain *c = rs->chains[i];

		if (c->compacted)
			continue;
		c->digest = chain_digest(c);
		for (size_t j = 0; j < c->n_rules; j++)
			free(c->rules[j].s);
		free(c->rules);
		c->rules = NULL;
		c->n_rules = c->cap_rules = 0;
		c->compacted = true;
	}
}

bool chain_rules_equal(const struct chain *a, const struct chain *b)
{
	if (a->hook != b->hook)
		return false;
	if (a->compacted || b->compacted)
		return chain_digest(a) == chain_digest(b);
	if (a->n_rules != b->n_rules)
		return false;
	for (size_t i = 0; i < a->n_rules; i++) {
		if (a->rules[i].n != b->rules[i].n)
			return false;
		for (size_t j = 0; j < a->rules[i].n; j++)
			if (!stmt_equal(&a->rules[i].s[j], &b->rules[i].s[j]))
				return false;
	}
	return true;
}
