/* The node-local proxy state: one struct svc_port per ServicePort that gets
 * rules, with its frontends and usable endpoints, derived from the store.
 *
 * The model is rebuilt from the store at each sync (cheap next to the
 * kernel work) and owns all its memory; model_free() releases it. */
#ifndef KNP_MODEL_H
#define KNP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kube/types.h"
#include "store.h"

/* One endpoint a ServicePort may send to. */
struct model_endpoint {
	struct ip_addr addr;
	uint16_t port;		/* host order */
	bool ready;		/* else serving and terminating (a fallback) */
	bool local;		/* nodeName equals this node's name */
};

/* One ServicePort of one Service.
 * id is "namespace/name/proto/portname" (portname may be empty): unique,
 * stable, and a valid nftables identifier for the names Kubernetes allows. */
struct svc_port {
	char *id;
	char *namespace;
	char *name;
	char *port_name;
	enum l4proto proto;
	uint16_t port;			/* ServicePort.port, host order */
	uint16_t node_port;		/* 0 when none */
	struct ip_addr cluster_ip;	/* of the model's family */
	size_t n_external;		/* externalIPs then LoadBalancer ingress IPs */
	struct ip_addr *external;
	size_t first_lb;		/* external[first_lb..] are LoadBalancer IPs */
	size_t n_source_ranges;		/* loadBalancerSourceRanges of the family */
	struct ip_prefix *source_ranges;
	enum traffic_policy external_policy;
	enum traffic_policy internal_policy;
	bool affinity_client_ip;
	uint32_t affinity_timeout;	/* seconds */
	uint16_t health_check_node_port;/* the Service's, 0 when none */
	size_t n_endpoints;		/* endpoints, sorted by address, port */
	struct model_endpoint *endpoints;
};

/* What the model needs to know about this node. */
struct model_config {
	int family;			/* AF_INET or AF_INET6 */
	const char *node_name;		/* --hostname-override or hostname */
};

/* svc_ports sorted by id. */
struct model {
	size_t n;
	struct svc_port *ports;
};

/* Build @m from @st. @m must be zeroed or freed. Returns 0 or -ENOMEM (then
 * @m is empty). Rules (kube-proxy's, see the Service and EndpointSlice API
 * docs): ExternalName and headless Services, and Services labelled
 * service.kubernetes.io/headless or service-proxy-name get no rules;
 * endpoints come from every slice of the Service's family whose port has the
 * ServicePort's name and protocol (the target port is the slice's port);
 * the model keeps those ready and those serving-and-terminating (marked
 * ready = false); which of them receive traffic is the ruleset's choice
 * (KEP-1669: ready ones, else serving-terminating ones, separately for
 * cluster-wide and for node-local traffic); duplicates across slices are
 * merged. */
int model_build(struct model *m, const struct store *st, const struct model_config *cfg);
void model_free(struct model *m);

/* Binary search by id; NULL when absent. */
const struct svc_port *model_find(const struct model *m, const char *id);

#endif
