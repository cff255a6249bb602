#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include "conntrack.h"
#include "array.h"
#include "log.h"

/* One thing to clean: flows of @proto to one of the frontends of @p that
 * were DNATed to @ep (stale endpoint), or, with ep == NULL, every flow to
 * those frontends (Service that got its first endpoints). */
struct target {
	const struct svc_port *p;
	const struct model_endpoint *ep;
};

struct work {
	struct target *v;	/* stale endpoints first (sorted), then frontends */
	size_t n, cap;
	size_t n_by_ep;
	struct nf_conntrack **del;
	size_t n_del, cap_del;
	int family;
	int err;
};

static bool connectionless(enum l4proto p)
{
	return p == L4_UDP || p == L4_SCTP;
}

static int add_target(struct work *w, const struct svc_port *p, const struct model_endpoint *ep)
{
	if (array_reserve(&w->v, &w->cap, w->n + 1, sizeof(*w->v), 16) < 0)
		return -ENOMEM;
	w->v[w->n].p = p;
	w->v[w->n].ep = ep;
	w->n++;
	return 0;
}

static bool has_endpoint(const struct svc_port *p, const struct model_endpoint *e)
{
	for (size_t i = 0; i < p->n_endpoints; i++)
		if (!ip_addr_cmp(&p->endpoints[i].addr, &e->addr) && p->endpoints[i].port == e->port)
			return true;
	return false;
}

static int collect_targets(struct work *w, const struct model *old, const struct model *new)
{
	int err = 0;

	/* endpoints of @old no longer used by the same ServicePort */
	for (size_t i = 0; i < old->n && !err; i++) {
		const struct svc_port *op = &old->ports[i];
		const struct svc_port *np;

		if (!connectionless(op->proto))
			continue;
		np = model_find(new, op->id);
		for (size_t j = 0; j < op->n_endpoints && !err; j++)
			if (!np || !has_endpoint(np, &op->endpoints[j]))
				err = add_target(w, op, &op->endpoints[j]);
	}
	/* ServicePorts that now have endpoints and had none */
	for (size_t i = 0; i < new->n && !err; i++) {
		const struct svc_port *np = &new->ports[i];
		const struct svc_port *op;

		if (!connectionless(np->proto) || !np->n_endpoints)
			continue;
		op = model_find(old, np->id);
		if (!op || !op->n_endpoints)
			err = add_target(w, np, NULL);
	}
	return err;
}

static bool addr_eq(const struct nf_conntrack *ct, int attr4, int attr6,
		    const struct ip_addr *a)
{
	if (a->family == AF_INET)
		return nfct_get_attr_u32(ct, attr4) == a->v4.s_addr;
	return !memcmp(nfct_get_attr(ct, attr6), &a->v6, 16);
}

/* Is @ct a flow to one of @p's frontends? */
static bool to_frontend(const struct nf_conntrack *ct, const struct svc_port *p)
{
	uint16_t dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));

	if (p->node_port && dport == p->node_port)
		return true;
	if (dport != p->port)
		return false;
	if (addr_eq(ct, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, &p->cluster_ip))
		return true;
	for (size_t i = 0; i < p->n_external; i++)
		if (addr_eq(ct, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, &p->external[i]))
			return true;
	return false;
}

/* Stale-endpoint targets sorted by (protocol, endpoint address, port), so a
 * flow finds the ones DNATed to its reply source by binary search: the cost
 * is flows x log(targets), not flows x targets (a deleted Service with
 * thousands of endpoints, a conntrack table with 100,000s of flows). */
static int target_cmp(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	int c;

	if (!x->ep || !y->ep)
		return (x->ep == NULL) - (y->ep == NULL);
	c = (int)l4proto_number(x->p->proto) - (int)l4proto_number(y->p->proto);
	if (c)
		return c;
	c = ip_addr_cmp(&x->ep->addr, &y->ep->addr);
	if (c)
		return c;
	return (int)x->ep->port - (int)y->ep->port;
}

static bool matches(const struct nf_conntrack *ct, const struct target *t)
{
	if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != l4proto_number(t->p->proto))
		return false;
	if (!to_frontend(ct, t->p))
		return false;
	if (!t->ep)
		return true;
	/* DNATed to the endpoint: the reply comes from it */
	return addr_eq(ct, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, &t->ep->addr) &&
	       ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC)) == t->ep->port;
}

/* The reply source of @ct as a key target (with a scratch endpoint). */
static bool flow_key(const struct nf_conntrack *ct, int family, struct svc_port *p,
		     struct model_endpoint *ep, struct target *key)
{
	uint8_t proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);

	memset(p, 0, sizeof(*p));
	memset(ep, 0, sizeof(*ep));
	if (proto == 17)
		p->proto = L4_UDP;
	else if (proto == 132)
		p->proto = L4_SCTP;
	else
		return false;
	ep->addr.family = family;
	if (family == AF_INET)
		ep->addr.v4.s_addr = nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC);
	else
		memcpy(&ep->addr.v6, nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), 16);
	ep->port = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
	key->p = p;
	key->ep = ep;
	return true;
}

/* First index in [0, n) whose target is not before @key. */
static size_t lower_bound(const struct target *v, size_t n, const struct target *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (target_cmp(&v[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool flow_is_stale(const struct work *w, const struct nf_conntrack *ct)
{
	struct model_endpoint ep;
	struct svc_port p;
	struct target key;

	/* the few Services that just got endpoints: every flow to them */
	for (size_t i = w->n_by_ep; i < w->n; i++)
		if (matches(ct, &w->v[i]))
			return true;
	if (!w->n_by_ep || !flow_key(ct, w->family, &p, &ep, &key))
		return false;
	for (size_t i = lower_bound(w->v, w->n_by_ep, &key);
	     i < w->n_by_ep && !target_cmp(&w->v[i], &key); i++)
		if (matches(ct, &w->v[i]))
			return true;
	return false;
}

static int on_flow(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct work *w = data;

	if (flow_is_stale(w, ct)) {
		if (array_reserve(&w->del, &w->cap_del, w->n_del + 1, sizeof(*w->del), 16) < 0) {
			w->err = -ENOMEM;
			return NFCT_CB_STOP;
		}
		w->del[w->n_del] = nfct_clone(ct);
		if (w->del[w->n_del])
			w->n_del++;
	}
	return NFCT_CB_CONTINUE;
}

int conntrack_reconcile(const struct model *old, const struct model *new, int family)
{
	struct work w = { .family = family };
	struct nfct_handle *h = NULL;
	uint32_t fam = family;
	int deleted = 0, err;

	err = collect_targets(&w, old, new);
	if (err || !w.n)
		goto out;
	qsort(w.v, w.n, sizeof(*w.v), target_cmp);	/* ep == NULL sorts last */
	while (w.n_by_ep < w.n && w.v[w.n_by_ep].ep)
		w.n_by_ep++;
	h = nfct_open(CONNTRACK, 0);
	if (!h) {
		err = -errno;
		log_err("conntrack: %s", strerror(errno));
		goto out;
	}
	nfct_callback_register(h, NFCT_T_ALL, on_flow, &w);
	if (nfct_query(h, NFCT_Q_DUMP, &fam) < 0) {
		err = -errno;
		log_err("conntrack: reading the table: %s", strerror(errno));
		goto out;
	}
	nfct_callback_unregister(h);
	for (size_t i = 0; i < w.n_del; i++) {
		if (nfct_query(h, NFCT_Q_DESTROY, w.del[i]) == 0)
			deleted++;
		else if (errno != ENOENT)	/* already gone is fine */
			log_err("conntrack: deleting a flow: %s", strerror(errno));
	}
	log_v(2, "conntrack: %zu stale UDP/SCTP targets, %d flows deleted", w.n, deleted);
out:
	if (h)
		nfct_close(h);
	for (size_t i = 0; i < w.n_del; i++)
		nfct_destroy(w.del[i]);
	free(w.del);
	free(w.v);
	if (!err && w.err)
		err = w.err;
	return err ? err : deleted;
}
