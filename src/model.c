#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "array.h"
#include "model.h"

static void svc_port_free(struct svc_port *p)
{
	free(p->id);
	free(p->namespace);
	free(p->name);
	free(p->port_name);
	free(p->external);
	free(p->source_ranges);
	free(p->endpoints);
}

void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		svc_port_free(&m->ports[i]);
	free(m->ports);
	m->ports = NULL;
	m->n = 0;
}

static int endpoint_cmp(const void *a, const void *b)
{
	const struct model_endpoint *x = a, *y = b;
	int c = ip_addr_cmp(&x->addr, &y->addr);

	if (c)
		return c;
	return (int)x->port - (int)y->port;
}

static int port_cmp(const void *a, const void *b)
{
	const struct svc_port *x = a, *y = b;

	return strcmp(x->id, y->id);
}

/* The slice port that serves @sp, or NULL. */
static const struct k8s_endpoint_port *slice_port(const struct k8s_endpoint_slice *s,
						  const struct k8s_service_port *sp)
{
	for (size_t i = 0; i < s->n_ports; i++) {
		const struct k8s_endpoint_port *p = &s->ports[i];

		if (p->protocol == sp->protocol && !strcmp(p->name, sp->name) && p->port)
			return p;
	}
	return NULL;
}

/* Collect usable endpoints into @p. Two passes: ready ones, and if there is
 * none, serving-terminating ones. */
static int collect_endpoints(struct svc_port *p, const struct k8s_service_port *sp,
			     const struct k8s_endpoint_slice *const *slices, size_t n_slices,
			     const struct model_config *cfg)
{
	size_t cap = 0, n = 0;
	struct model_endpoint *v = NULL;

	for (size_t i = 0; i < n_slices; i++) {
		for (const struct k8s_endpoint_slice *s = slices[i]; s; s = s->next) {
			const struct k8s_endpoint_port *ep_port;

			if (s->address_family != cfg->family)
				continue;
			ep_port = slice_port(s, sp);
			if (!ep_port)
				continue;
			for (size_t j = 0; j < s->n_endpoints; j++) {
				const struct k8s_endpoint *e = &s->endpoints[j];

				if (!e->ready && !(e->serving && e->terminating))
					continue;
				if (array_reserve(&v, &cap, n + 1, sizeof(*v), 4) < 0) {
					free(v);
					return -ENOMEM;
				}
				v[n].addr = e->addr;
				v[n].port = ep_port->port;
				v[n].ready = e->ready;
				v[n].local = e->node_name && cfg->node_name &&
					!strcmp(e->node_name, cfg->node_name);
				n++;
			}
		}
	}
	if (n) {
		size_t k = 1;

		qsort(v, n, sizeof(*v), endpoint_cmp);
		for (size_t i = 1; i < n; i++) {	/* merge duplicates */
			if (endpoint_cmp(&v[i], &v[k - 1]))
				v[k++] = v[i];
			else	/* the same endpoint in two slices: ready wins */
				v[k - 1].ready |= v[i].ready;
		}
		n = k;
	}
	p->endpoints = v;
	p->n_endpoints = n;
	return 0;
}

static bool service_skipped(const struct k8s_service *s)
{
	return s->type == SVC_EXTERNAL_NAME || s->headless || s->label_headless ||
	       s->label_proxy_name;
}

static const struct ip_addr *family_ip(const struct ip_addr *v, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].family == family)
			return &v[i];
	return NULL;
}

static int add_externals(struct svc_port *p, const struct k8s_service *s, int family)
{
	size_t n = 0, total = s->n_external_ips + s->n_lb_ips;

	if (!total)
		return 0;
	p->external = calloc(total, sizeof(*p->external));
	if (!p->external)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_external_ips; i++)
		if (s->external_ips[i].family == family)
			p->external[n++] = s->external_ips[i];
	p->first_lb = n;
	for (size_t i = 0; i < s->n_lb_ips; i++)
		if (s->lb_ips[i].family == family)
			p->external[n++] = s->lb_ips[i];
	p->n_external = n;
	return 0;
}

/* Ranges of another family do not apply (kube-proxy filters them per
 * family too): none left means no firewall for this family. */
static int add_source_ranges(struct svc_port *p, const struct k8s_service *s, int family)
{
	size_t n = 0;

	if (!s->n_source_ranges)
		return 0;
	p->source_ranges = calloc(s->n_source_ranges, sizeof(*p->source_ranges));
	if (!p->source_ranges)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_source_ranges; i++)
		if (s->source_ranges[i].addr.family == family)
			p->source_ranges[n++] = s->source_ranges[i];
	p->n_source_ranges = n;
	return 0;
}

static int build_port(struct svc_port *p, const struct k8s_service *s,
		      const struct k8s_service_port *sp, const struct ip_addr *cip,
		      const struct store *st, const struct model_config *cfg)
{
	const struct k8s_endpoint_slice *const *slices;
	size_t n_slices;
	int len;

	memset(p, 0, sizeof(*p));
	len = snprintf(NULL, 0, "%s/%s/%s/%s", s->namespace, s->name,
		       l4proto_name(sp->protocol), sp->name);
	p->id = malloc(len + 1);
	p->namespace = strdup(s->namespace);
	p->name = strdup(s->name);
	p->port_name = strdup(sp->name);
	if (!p->id || !p->namespace || !p->name || !p->port_name)
		return -ENOMEM;
	snprintf(p->id, len + 1, "%s/%s/%s/%s", s->namespace, s->name,
		 l4proto_name(sp->protocol), sp->name);
	p->proto = sp->protocol;
	p->port = sp->port;
	if (s->type == SVC_NODE_PORT || s->type == SVC_LOAD_BALANCER)
		p->node_port = sp->node_port;
	p->cluster_ip = *cip;
	p->external_policy = s->external_policy;
	p->internal_policy = s->internal_policy;
	p->affinity_client_ip = s->affinity_client_ip;
	p->affinity_timeout = s->affinity_timeout;
	if (s->external_policy == POLICY_LOCAL &&
	    (s->type == SVC_LOAD_BALANCER || s->type == SVC_NODE_PORT))
		p->health_check_node_port = s->health_check_node_port;
	if (add_externals(p, s, cfg->family) < 0 || add_source_ranges(p, s, cfg->family) < 0)
		return -ENOMEM;
	slices = store_service_slices(st, s->namespace, s->name, &n_slices);
	return collect_endpoints(p, sp, slices, n_slices, cfg);
}

int model_build(struct model *m, const struct store *st, const struct model_config *cfg)
{
	const struct k8s_service **svcs;
	size_t n_svcs, cap = 0;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	svcs = store_services(st, &n_svcs);
	if (!svcs && store_service_count(st))
		return -ENOMEM;
	for (size_t i = 0; i < n_svcs; i++)
		if (!service_skipped(svcs[i]))
			cap += svcs[i]->n_ports;
	if (cap) {
		m->ports = calloc(cap, sizeof(*m->ports));
		if (!m->ports) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n_svcs; i++) {
		const struct k8s_service *s = svcs[i];
		const struct ip_addr *cip;

		if (service_skipped(s))
			continue;
		cip = family_ip(s->cluster_ips, s->n_cluster_ips, cfg->family);
		if (!cip)
			continue;
		for (size_t j = 0; j < s->n_ports; j++) {
			ret = build_port(&m->ports[m->n], s, &s->ports[j], cip, st, cfg);
			m->n++;
			if (ret < 0)
				goto out;
		}
	}
	if (m->n)
		qsort(m->ports, m->n, sizeof(*m->ports), port_cmp);
out:
	free(svcs);
	if (ret < 0)
		model_free(m);
	return ret;
}

const struct svc_port *model_find(const struct model *m, const char *id)
{
	struct svc_port key = { .id = (char *)id };

	if (!m->n)
		return NULL;
	return bsearch(&key, m->ports, m->n, sizeof(key), port_cmp);
}
