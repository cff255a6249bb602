/* Model -> ruleset description. See ruleset.h for the layout. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
};

#define CH_MARK_MASQ	"mark-for-masquerade"
#define CH_REJECT	"reject-chain"

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
	free(rs->table);
	memset(rs, 0, sizeof(*rs));
}

static struct chain *chain_add(struct ruleset *rs, char *name)
{
	struct chain *c;

	if (!name)
		return NULL;
	if (rs->n_chains == rs->cap_chains) {
		size_t cap = rs->cap_chains ? rs->cap_chains * 2 : 64;
		struct chain **v = realloc(rs->chains, cap * sizeof(*v));

		if (!v) {
			free(name);
			return NULL;
		}
		rs->chains = v;
		rs->cap_chains = cap;
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

	if (c->n_rules == c->cap_rules) {
		size_t cap = c->cap_rules ? c->cap_rules * 2 : 2;
		struct rule *v = realloc(c->rules, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->rules = v;
		c->cap_rules = cap;
	}
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

	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct map_elem *v = realloc(m->elems, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->elems = v;
		m->cap = cap;
	}
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
			    { .kind = ST_DADDR_PREFIX, .ip = cfg->nodeport_cidrs[i].ip,
			      .a = cfg->nodeport_cidrs[i].len },
			    { .kind = ST_PORT_VMAP, .name = map });
	return err;
}

static int build_fixed(struct ruleset *rs, const struct ruleset_config *cfg)
{
	struct chain *c, *check, *svcs, *masq, *mark, *rej;
	const char *const *mn = map_names;
	int err = 0;

	check = chain_add(rs, strdup("endpoints-check"));
	svcs = chain_add(rs, strdup("services"));
	masq = chain_add(rs, strdup("masquerading"));
	mark = chain_add(rs, strdup(CH_MARK_MASQ));
	rej = chain_add(rs, strdup(CH_REJECT));
	if (!check || !svcs || !masq || !mark || !rej)
		return -ENOMEM;

	c = base_chain_add(rs, "filter-prerouting", HOOK_PREROUTING, false, PRIO_FILTER);
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_CT_STATE_NEW }, { .kind = ST_JUMP, .name = check->name });
	c = base_chain_add(rs, "filter-output", HOOK_OUTPUT, false, PRIO_FILTER);
	err |= !c ? -ENOMEM : RULE(c, { .kind = ST_CT_STATE_NEW }, { .kind = ST_JUMP, .name = check->name });
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
	rs->n_fixed = rs->n_chains;
	return err ? -ENOMEM : 0;
}

static const char *chain_name_of(const struct ruleset *rs, const char *name)
{
	const struct chain *c = ruleset_chain(rs, name);

	return c ? c->name : NULL;
}

/* ep- chains and the svc- chain of one ServicePort. */
static int build_service_chains(struct ruleset *rs, const struct svc_port *p,
				const struct ruleset_config *cfg, struct chain **svc_out)
{
	const char *mark = chain_name_of(rs, CH_MARK_MASQ);
	struct chain *svc, *ep;
	const char **ep_names;
	char buf[INET6_ADDRSTRLEN];
	int err = 0;

	ep_names = calloc(p->n_endpoints, sizeof(*ep_names));
	if (!ep_names)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_endpoints; i++) {
		const struct model_endpoint *e = &p->endpoints[i];

		ep = chain_add(rs, xasprintf("ep-%s/%s/%u", p->id,
					     ip_addr_str(&e->addr, buf, sizeof(buf)), e->port));
		if (!ep) {
			free(ep_names);
			return -ENOMEM;
		}
		ep_names[i] = ep->name;
		/* hairpin: an endpoint reaching itself through the Service */
		err |= RULE(ep, { .kind = ST_SADDR_EQ, .ip = e->addr },
			    { .kind = ST_JUMP, .name = mark });
		err |= RULE(ep, { .kind = ST_L4PROTO_EQ, .a = l4proto_number(p->proto) },
			    { .kind = ST_DNAT, .ip = e->addr, .a = e->port });
	}
	svc = chain_add(rs, xasprintf("svc-%s", p->id));
	if (!svc) {
		free(ep_names);
		return -ENOMEM;
	}
	if (cfg->masquerade_all)
		err |= RULE(svc, { .kind = ST_JUMP, .name = mark });
	else if (cfg->cluster_cidr.family == cfg->family)
		err |= RULE(svc, { .kind = ST_DADDR_EQ, .ip = p->cluster_ip },
			    { .kind = ST_SADDR_NOT_PREFIX, .ip = cfg->cluster_cidr,
			      .a = cfg->cluster_cidr_len },
			    { .kind = ST_JUMP, .name = mark });
	for (size_t i = 0; i + 1 < p->n_endpoints; i++)
		err |= RULE(svc, { .kind = ST_NUMGEN_EQ, .a = p->n_endpoints - i, .b = 0 },
			    { .kind = ST_GOTO, .name = ep_names[i] });
	err |= RULE(svc, { .kind = ST_GOTO, .name = ep_names[p->n_endpoints - 1] });
	free(ep_names);
	*svc_out = svc;
	return err ? -ENOMEM : 0;
}

static int build_port(struct ruleset *rs, const struct svc_port *p,
		      const struct ruleset_config *cfg)
{
	const char *mark = chain_name_of(rs, CH_MARK_MASQ);
	const char *rej = chain_name_of(rs, CH_REJECT);
	uint8_t proto = l4proto_number(p->proto);
	bool external = p->node_port || p->n_external;
	struct chain *svc = NULL, *ext = NULL;
	const char *ext_target;
	int err = 0;

	if (!p->n_endpoints) {
		err |= elem_add(&rs->maps[MAP_NO_ENDPOINT_SERVICES], &p->cluster_ip,
				proto, p->port, rej);
		for (size_t i = 0; i < p->n_external; i++)
			err |= elem_add(&rs->maps[MAP_NO_ENDPOINT_SERVICES],
					&p->external[i], proto, p->port, rej);
		if (p->node_port)
			err |= elem_add(&rs->maps[MAP_NO_ENDPOINT_NODEPORTS], NULL,
					proto, p->node_port, rej);
		return err ? -ENOMEM : 0;
	}
	err = build_service_chains(rs, p, cfg, &svc);
	if (err)
		return err;
	err |= elem_add(&rs->maps[MAP_SERVICE_IPS], &p->cluster_ip, proto, p->port,
			svc->name);
	if (!external)
		return err ? -ENOMEM : 0;

	/* external traffic (eTP=Cluster) is masqueraded so replies come back
	 * through this node */
	ext = chain_add(rs, xasprintf("ext-%s", p->id));
	if (!ext)
		return -ENOMEM;
	err |= RULE(ext, { .kind = ST_JUMP, .name = mark });
	err |= RULE(ext, { .kind = ST_GOTO, .name = svc->name });
	ext_target = ext->name;
	for (size_t i = 0; i < p->n_external; i++)
		err |= elem_add(&rs->maps[MAP_SERVICE_IPS], &p->external[i], proto,
				p->port, ext_target);
	if (p->node_port)
		err |= elem_add(&rs->maps[MAP_SERVICE_NODEPORTS], NULL, proto,
				p->node_port, ext_target);
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

/* Sort a map and drop duplicate keys (two Services claiming the same
 * externalIP:port or NodePort): the first one added, that is the lowest
 * ServicePort id, keeps the key. Returns 0 or -ENOMEM. */
static int map_finish(struct map *m)
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
	m->elems[0] = t[0].e;
	for (size_t i = 1; i < m->n; i++)
		if (map_elem_cmp(&t[i].e, &m->elems[k - 1]))
			m->elems[k++] = t[i].e;
	m->n = k;
	free(t);
	return 0;
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
	for (int i = 0; i < MAP_COUNT; i++) {
		if (map_finish(&rs->maps[i]) < 0) {
			ruleset_free(rs);
			return -ENOMEM;
		}
	}
	return 0;
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
	if (!a->name || !b->name)
		return a->name == b->name;
	return !strcmp(a->name, b->name);
}

bool chain_rules_equal(const struct chain *a, const struct chain *b)
{
	if (a->n_rules != b->n_rules || a->hook != b->hook)
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
