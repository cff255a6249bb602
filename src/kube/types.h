/* Kubernetes API objects as kube-nftproxy uses them.
 *
 * Only the fields the proxy needs are kept. Every struct here is owned by
 * whoever holds the pointer returned by its decoder and is released with the
 * matching *_free() function, which frees the whole tree (strings, arrays).
 * Ports are host byte order. Addresses are kept in network byte order inside
 * struct ip_addr.
 */
#ifndef KNP_KUBE_TYPES_H
#define KNP_KUBE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

/* An IPv4 or IPv6 address. family is AF_INET or AF_INET6; the bytes are in
 * network byte order (as inet_pton writes them). */
struct ip_addr {
	uint8_t family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16];
	};
};

/* An address prefix (CIDR): address with host bits cleared, length in bits. */
struct ip_prefix {
	struct ip_addr addr;
	uint8_t len;
};

/* "198.18.0.0/15" or "2001:db8::/32" (surrounding blanks allowed, as the
 * API accepts in loadBalancerSourceRanges) -> @out with host bits cleared.
 * Returns 0 or -EINVAL. */
int ip_prefix_parse(const char *s, struct ip_prefix *out);

/* Parse a textual address (no prefix) into @out. Returns 0, or -EINVAL. */
int ip_addr_parse(const char *s, struct ip_addr *out);
/* Format @a into @buf (at least INET6_ADDRSTRLEN bytes). Returns @buf. */
const char *ip_addr_str(const struct ip_addr *a, char *buf, size_t len);
/* Total order on addresses: family first, then bytes. memcmp-like result. */
int ip_addr_cmp(const struct ip_addr *a, const struct ip_addr *b);

/* Layer-4 protocols a ServicePort may use (core/v1 Protocol). */
enum l4proto {
	L4_TCP = 0,
	L4_UDP,
	L4_SCTP,
};

/* Returns "tcp", "udp" or "sctp". */
const char *l4proto_name(enum l4proto p);
/* IANA protocol number: 6, 17 or 132. */
uint8_t l4proto_number(enum l4proto p);

/* core/v1 ServiceType. */
enum svc_type {
	SVC_CLUSTER_IP = 0,
	SVC_NODE_PORT,
	SVC_LOAD_BALANCER,
	SVC_EXTERNAL_NAME,
};

/* spec.externalTrafficPolicy / spec.internalTrafficPolicy. */
enum traffic_policy {
	POLICY_CLUSTER = 0,
	POLICY_LOCAL,
};

/* One entry of spec.ports. */
struct k8s_service_port {
	char *name;		/* "" when unnamed; never NULL */
	enum l4proto protocol;	/* default TCP */
	uint16_t port;		/* 1..65535, host order */
	uint16_t node_port;	/* 0 when none, host order */
};

/* A core/v1 Service. */
struct k8s_service {
	char *namespace;
	char *name;
	char *resource_version;		/* metadata.resourceVersion, "" if absent */
	enum svc_type type;
	bool headless;			/* spec.clusterIP == "None" */
	/* spec.clusterIPs (or spec.clusterIP when clusterIPs is absent) */
	size_t n_cluster_ips;
	struct ip_addr *cluster_ips;
	size_t n_ports;
	struct k8s_service_port *ports;
	size_t n_external_ips;		/* spec.externalIPs */
	struct ip_addr *external_ips;
	size_t n_lb_ips;		/* status.loadBalancer.ingress[].ip */
	struct ip_addr *lb_ips;
	size_t n_source_ranges;		/* spec.loadBalancerSourceRanges */
	struct ip_prefix *source_ranges;
	enum traffic_policy external_policy;
	enum traffic_policy internal_policy;
	bool affinity_client_ip;	/* spec.sessionAffinity == ClientIP */
	uint32_t affinity_timeout;	/* seconds; default 10800, max 86400 */
	uint16_t health_check_node_port;/* 0 when none */
	/* labels that tell kube-proxy to skip the Service */
	bool label_headless;		/* service.kubernetes.io/headless */
	bool label_proxy_name;		/* service.kubernetes.io/service-proxy-name */
};

/* One entry of an EndpointSlice's ports. */
struct k8s_endpoint_port {
	char *name;		/* "" when unnamed; never NULL */
	enum l4proto protocol;
	uint16_t port;		/* 1..65535 host order; 0 = unset (port unusable) */
};

/* One endpoint: the first of its addresses (the API says consumers use the
 * first one). Conditions default as the API documents: ready and serving
 * are true when absent, terminating false. */
struct k8s_endpoint {
	struct ip_addr addr;
	bool ready;
	bool serving;
	bool terminating;
	char *node_name;	/* NULL when absent */
	char *zone;		/* NULL when absent */
};

/* A discovery.k8s.io/v1 EndpointSlice, or one subset of a legacy v1
 * Endpoints object converted to the same shape (then name equals the
 * Service name and @next links the other subsets of the same object). */
struct k8s_endpoint_slice {
	char *namespace;
	char *name;
	char *service_name;	/* label kubernetes.io/service-name; NULL if absent */
	char *resource_version;
	uint8_t address_family;	/* AF_INET, AF_INET6, or 0 for FQDN (ignored) */
	size_t n_ports;
	struct k8s_endpoint_port *ports;
	size_t n_endpoints;
	struct k8s_endpoint *endpoints;
	struct k8s_endpoint_slice *next;	/* legacy Endpoints subsets only */
};

void k8s_service_free(struct k8s_service *s);
/* Frees @s and every slice linked through next. */
void k8s_endpoint_slice_free(struct k8s_endpoint_slice *s);

#endif
