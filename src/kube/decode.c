/* Service, EndpointSlice and Endpoints objects: cJSON to types.h, every
 * field checked. The watch and list framing is in decode_stream.c. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kube/decode.h"
#include "log.h"
#include "kube/decode_priv.h"

/* core/v1 ClientIPConfig: default and maximum of timeoutSeconds. */
#define AFFINITY_TIMEOUT_DEFAULT	10800
#define AFFINITY_TIMEOUT_MAX		86400

#define PATH_LEN			128

/* Where a decoder is, for its error messages. */
struct dctx {
	const char *kind;	/* "Service", ... */
	const char *ns;		/* NULL until read */
	const char *name;
	char *err;
	size_t errlen;
};

/* The parts of metadata every decoder keeps; pointers into the cJSON tree. */
struct meta {
	const char *ns;
	const char *name;
	const char *rv;
	const cJSON *labels;
};

static const char *const svc_type_names[] = {
	[SVC_CLUSTER_IP] = "ClusterIP",
	[SVC_NODE_PORT] = "NodePort",
	[SVC_LOAD_BALANCER] = "LoadBalancer",
	[SVC_EXTERNAL_NAME] = "ExternalName",
};

static const char *const l4proto_names[] = {
	[L4_TCP] = "TCP",
	[L4_UDP] = "UDP",
	[L4_SCTP] = "SCTP",
};

static const char *const policy_names[] = {
	[POLICY_CLUSTER] = "Cluster",
	[POLICY_LOCAL] = "Local",
};

static const char *const kind_names[] = {
	[K8S_SERVICE] = "Service",
	[K8S_ENDPOINT_SLICE] = "EndpointSlice",
	[K8S_ENDPOINTS] = "Endpoints",
};

int decode_str_lookup(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -1;
}

/* Messages end up in logs: one line, no control characters from input. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

const char *decode_kind_name(enum k8s_kind kind)
{
	return (unsigned int)kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : NULL;
}

void decode_msg_set(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	sanitize(buf);
}

/* Writes "<Kind> <ns>/<name>: <where>.<key>: <message>"; returns -EINVAL. */
static int __attribute__((format(printf, 4, 5)))
dfail(struct dctx *c, const char *where, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || !c->errlen)
		return -EINVAL;
	n = snprintf(c->err, c->errlen, "%s %.63s/%.253s: %s%s%s%s", c->kind,
		     c->ns ? c->ns : "?", c->name ? c->name : "?", where,
		     *where && key ? "." : "", key ? key : "",
		     *where || key ? ": " : "");
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
		va_end(ap);
	}
	sanitize(c->err);
	return -EINVAL;
}

const char *decode_json_type(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "invalid value";
}

/* Paths only label messages: a truncated one is still a useful prefix. */
static const char *path_idx(char *buf, const char *where, const char *key, int i)
{
	if (snprintf(buf, PATH_LEN, "%s%s%s[%d]", where, *where ? "." : "",
		     key, i) >= PATH_LEN)
		buf[PATH_LEN - 1] = '\0';
	return buf;
}

static const char *path_join(char *buf, const char *where, const char *key)
{
	if (snprintf(buf, PATH_LEN, "%s%s%s", where, *where ? "." : "",
		     key) >= PATH_LEN)
		buf[PATH_LEN - 1] = '\0';
	return buf;
}

/* Kubernetes writes optional fields as absent or as null: both are "unset". */
const cJSON *decode_field(const cJSON *obj, const char *key)
{
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNull(v) ? NULL : v;
}

static int get_str(struct dctx *c, const cJSON *obj, const char *where,
		   const char *key, const char **out)
{
	const cJSON *v = decode_field(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring)
		return dfail(c, where, key, "expected string, got %s", decode_json_type(v));
	*out = v->valuestring;
	return 0;
}

static int get_obj(struct dctx *c, const cJSON *obj, const char *where,
		   const char *key, const cJSON **out)
{
	const cJSON *v = decode_field(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsObject(v))
		return dfail(c, where, key, "expected object, got %s", decode_json_type(v));
	*out = v;
	return 0;
}

/* *n is the element count (0 when unset). */
static int get_arr(struct dctx *c, const cJSON *obj, const char *where,
		   const char *key, const cJSON **out, size_t *n)
{
	const cJSON *v = decode_field(obj, key);
	int size;

	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (!cJSON_IsArray(v))
		return dfail(c, where, key, "expected array, got %s", decode_json_type(v));
	size = cJSON_GetArraySize(v);
	*out = v;
	*n = size > 0 ? (size_t)size : 0;
	return 0;
}

static int get_bool(struct dctx *c, const cJSON *obj, const char *where,
		    const char *key, bool dflt, bool *out)
{
	const cJSON *v = decode_field(obj, key);

	*out = dflt;
	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return dfail(c, where, key, "expected boolean, got %s", decode_json_type(v));
	*out = cJSON_IsTrue(v);
	return 0;
}

static void fmt_num(double d, char *buf, size_t len)
{
	if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
		snprintf(buf, len, "%lld", (long long)d);
	else
		snprintf(buf, len, "%g", d);
}

/* An integer in [min, max]; @dflt when unset. JSON numbers are doubles, so
 * 80.5, 1e300 and -1 all arrive here and must be refused explicitly. */
static int get_int(struct dctx *c, const cJSON *obj, const char *where,
		   const char *key, long min, long max, long dflt, long *out)
{
	const cJSON *v = decode_field(obj, key);
	char num[32];
	double d;

	*out = dflt;
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return dfail(c, where, key, "expected integer, got %s", decode_json_type(v));
	d = v->valuedouble;
	fmt_num(d, num, sizeof(num));
	if (isnan(d) || d < (double)min || d > (double)max)
		return dfail(c, where, key, "%s out of range (%ld..%ld)", num,
			     min, max);
	if (d != (double)(long)d)
		return dfail(c, where, key, "%s is not an integer", num);
	*out = (long)d;
	return 0;
}

static int dup_str(const char *s, char **out)
{
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* NULL stays NULL. */
static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	return s ? dup_str(s, out) : 0;
}

/* @v is an array element or a field found at @where. */
static int expect_object(struct dctx *c, const cJSON *v, const char *where)
{
	if (cJSON_IsObject(v))
		return 0;
	return dfail(c, where, NULL, "expected object, got %s",
		     decode_json_type(v));
}

/* Decodes one array element @item, found at @where, into @elem. */
typedef int (*item_fn)(struct dctx *c, const cJSON *item, const char *where,
		       void *elem, const void *arg);

/* The array @key of @obj into a new array *@out of *@n elements of @size
 * bytes, zeroed, then each filled by @fn(..., @arg); unset or empty leaves
 * *@out NULL and *@n 0. Both are set before the first element is decoded:
 * after an error the caller's usual free releases what was decoded. */
static int parse_array(struct dctx *c, const cJSON *obj, const char *where,
		       const char *key, size_t size, item_fn fn, const void *arg,
		       void **out, size_t *n)
{
	const cJSON *arr, *item;
	char path[PATH_LEN];
	size_t len;
	int ret, i = 0;

	*out = NULL;
	*n = 0;
	ret = get_arr(c, obj, where, key, &arr, &len);
	if (ret || !len)
		return ret;
	*out = calloc(len, size);
	if (!*out)
		return -ENOMEM;
	*n = len;
	cJSON_ArrayForEach(item, arr) {
		ret = fn(c, item, path_idx(path, where, key, i),
			 (char *)*out + (size_t)i * size, arg);
		if (ret)
			return ret;
		i++;
	}
	return 0;
}

/* @v is the value itself (an array element or a field); @family 0 = any. */
static int parse_ip(struct dctx *c, const cJSON *v, const char *where,
		    const char *key, int family, struct ip_addr *out)
{
	if (!cJSON_IsString(v) || !v->valuestring)
		return dfail(c, where, key, "expected IP address string, got %s",
			     decode_json_type(v));
	if (ip_addr_parse(v->valuestring, out))
		return dfail(c, where, key, "invalid IP address \"%.64s\"",
			     v->valuestring);
	if (family && out->family != family)
		return dfail(c, where, key, "\"%.64s\" is not an %s address",
			     v->valuestring, family == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

/* An item_fn for struct ip_addr; @arg: NULL, or the int family wanted. */
static int ip_item(struct dctx *c, const cJSON *item, const char *where,
		   void *elem, const void *arg)
{
	const int *family = arg;

	return parse_ip(c, item, where, NULL, family ? *family : 0, elem);
}

static int parse_ip_list(struct dctx *c, const cJSON *obj, const char *where,
			 const char *key, struct ip_addr **out, size_t *n)
{
	void *ips;
	int ret;

	ret = parse_array(c, obj, where, key, sizeof(**out), ip_item, NULL,
			  &ips, n);
	*out = ips;
	return ret;
}

/* spec.loadBalancerSourceRanges[]: CIDR strings. */
static int source_range(struct dctx *c, const cJSON *item, const char *where,
			void *elem, const void *arg)
{
	(void)arg;
	if (!cJSON_IsString(item))
		return dfail(c, where, NULL, "expected a string");
	if (ip_prefix_parse(item->valuestring, elem))
		return dfail(c, where, NULL, "invalid CIDR \"%.64s\"",
			     item->valuestring);
	return 0;
}

static int parse_proto(struct dctx *c, const cJSON *obj, const char *where,
		       enum l4proto *out)
{
	const char *s;
	int ret, p;

	*out = L4_TCP;
	ret = get_str(c, obj, where, "protocol", &s);
	if (ret || !s)
		return ret;
	p = decode_str_lookup(l4proto_names, ARRAY_SIZE(l4proto_names), s);
	if (p < 0)
		return dfail(c, where, "protocol",
			     "unknown protocol \"%.32s\" (TCP, UDP, SCTP)", s);
	*out = p;
	return 0;
}

/* What a ServicePort and an EndpointPort share: name ("" when unset),
 * protocol (TCP when unset) and port in 1..65535 (0 when unset). */
static int port_common(struct dctx *c, const cJSON *item, const char *where,
		       char **name, enum l4proto *proto, uint16_t *port)
{
	const char *s;
	long v;
	int ret;

	ret = expect_object(c, item, where);
	if (!ret)
		ret = get_str(c, item, where, "name", &s);
	if (!ret)
		ret = dup_str(s ? s : "", name);
	if (!ret)
		ret = parse_proto(c, item, where, proto);
	if (!ret)
		ret = get_int(c, item, where, "port", 1, 65535, 0, &v);
	if (ret)
		return ret;
	*port = v;
	return 0;
}

static int meta_parse(struct dctx *c, const cJSON *obj, struct meta *m)
{
	const cJSON *md;
	const char *kind;
	int ret;

	memset(m, 0, sizeof(*m));
	if (!cJSON_IsObject(obj))
		return dfail(c, "", NULL, "expected a JSON object, got %s",
			     decode_json_type(obj));
	/* List items may omit kind; when present it must match. */
	ret = get_str(c, obj, "", "kind", &kind);
	if (ret)
		return ret;
	if (kind && strcmp(kind, c->kind))
		return dfail(c, "", "kind", "expected %s, got \"%.32s\"",
			     c->kind, kind);
	ret = get_obj(c, obj, "", "metadata", &md);
	if (!ret)
		ret = get_str(c, md, "metadata", "namespace", &m->ns);
	if (ret)
		return ret;
	if (!m->ns || !*m->ns)
		m->ns = "default";
	c->ns = m->ns;
	ret = get_str(c, md, "metadata", "name", &m->name);
	if (ret)
		return ret;
	if (!m->name || !*m->name)
		return dfail(c, "metadata", "name", "missing");
	c->name = m->name;
	ret = get_str(c, md, "metadata", "resourceVersion", &m->rv);
	if (ret)
		return ret;
	if (!m->rv)
		m->rv = "";
	return get_obj(c, md, "metadata", "labels", &m->labels);
}

static bool has_label(const struct meta *m, const char *key)
{
	return decode_field(m->labels, key) != NULL;
}

/* ---- Service ---- */

static int service_type(struct dctx *c, const cJSON *spec,
			struct k8s_service *s)
{
	const char *t;
	int ret, i;

	s->type = SVC_CLUSTER_IP;
	ret = get_str(c, spec, "spec", "type", &t);
	if (ret || !t)
		return ret;
	i = decode_str_lookup(svc_type_names, ARRAY_SIZE(svc_type_names), t);
	if (i < 0)
		return dfail(c, "spec", "type", "unknown type \"%.32s\"", t);
	s->type = i;
	return 0;
}

static int service_cluster_ips(struct dctx *c, const cJSON *spec,
			       struct k8s_service *s)
{
	const cJSON *ips, *first;
	const char *ip;
	size_t n;
	int ret;

	ret = get_arr(c, spec, "spec", "clusterIPs", &ips, &n);
	if (!ret)
		ret = get_str(c, spec, "spec", "clusterIP", &ip);
	if (ret)
		return ret;

	if (n) {
		first = cJSON_GetArrayItem(ips, 0);
		if (cJSON_IsString(first) && !strcmp(first->valuestring, "None")) {
			if (n > 1)
				return dfail(c, "spec", "clusterIPs",
					     "\"None\" must be the only entry");
			s->headless = true;
			return 0;
		}
		return parse_ip_list(c, spec, "spec", "clusterIPs",
				     &s->cluster_ips, &s->n_cluster_ips);
	}

	/* An ExternalName Service has no cluster IP by design; any other
	 * type without one cannot be proxied either, like "None". */
	if (!ip || !*ip) {
		s->headless = s->type != SVC_EXTERNAL_NAME;
		return 0;
	}
	if (!strcmp(ip, "None")) {
		s->headless = true;
		return 0;
	}
	s->cluster_ips = calloc(1, sizeof(*s->cluster_ips));
	if (!s->cluster_ips)
		return -ENOMEM;
	s->n_cluster_ips = 1;
	return parse_ip(c, decode_field(spec, "clusterIP"), "spec", "clusterIP", 0,
			&s->cluster_ips[0]);
}

/* An item_fn for struct k8s_service_port: unlike an endpoint's, its port
 * is required. */
static int service_port(struct dctx *c, const cJSON *item, const char *where,
			void *elem, const void *arg)
{
	struct k8s_service_port *p = elem;
	long v;
	int ret;

	(void)arg;
	ret = port_common(c, item, where, &p->name, &p->protocol, &p->port);
	if (ret)
		return ret;
	if (!p->port)
		return dfail(c, where, "port", "missing");
	/* targetPort is the backend's business: endpoints carry real ports. */
	ret = get_int(c, item, where, "nodePort", 0, 65535, 0, &v);
	p->node_port = v;
	return ret;
}

/* status.loadBalancer.ingress[].ip; hostname-only entries (AWS ELB) carry
 * nothing the proxy can match on and are skipped. */
static int service_lb_ips(struct dctx *c, const cJSON *obj,
			  struct k8s_service *s)
{
	const cJSON *status, *lb, *ingress, *item;
	char path[PATH_LEN];
	const char *ip, *mode;
	size_t n;
	int ret, i = 0;

	ret = get_obj(c, obj, "", "status", &status);
	if (!ret)
		ret = get_obj(c, status, "status", "loadBalancer", &lb);
	if (!ret)
		ret = get_arr(c, lb, "status.loadBalancer", "ingress", &ingress, &n);
	if (ret || !n)
		return ret;
	s->lb_ips = calloc(n, sizeof(*s->lb_ips));
	if (!s->lb_ips)
		return -ENOMEM;
	cJSON_ArrayForEach(item, ingress) {
		path_idx(path, "status.loadBalancer", "ingress", i++);
		ret = expect_object(c, item, path);
		if (!ret)
			ret = get_str(c, item, path, "ip", &ip);
		if (ret)
			return ret;
		if (!ret)
			ret = get_str(c, item, path, "ipMode", &mode);
		if (ret)
			return ret;
		/* hostname-only entries have no IP; ipMode Proxy means the load
		 * balancer proxies to the node and must not be short-circuited
		 * (KEP-1860): kube-proxy programs neither */
		if (!ip || !*ip || (mode && !strcmp(mode, "Proxy")))
			continue;
		/* a bad IP written by a load-balancer controller costs that
		 * entry, not the Service (as kube-proxy skips it) */
		if (ip_addr_parse(ip, &s->lb_ips[s->n_lb_ips])) {
			log_warn("Service %s/%s: %s.ip: invalid IP address \"%.64s\": ignored",
				 s->namespace, s->name, path, ip);
			continue;
		}
		s->n_lb_ips++;
	}
	if (!s->n_lb_ips) {
		free(s->lb_ips);
		s->lb_ips = NULL;
	}
	return 0;
}

static int service_policy(struct dctx *c, const cJSON *spec, const char *key,
			  enum traffic_policy *out)
{
	const char *p;
	int ret, i;

	*out = POLICY_CLUSTER;
	ret = get_str(c, spec, "spec", key, &p);
	if (ret || !p)
		return ret;
	/* "Global" is the pre-1.14 spelling of "Cluster". */
	if (!strcmp(key, "externalTrafficPolicy") && !strcmp(p, "Global"))
		return 0;
	i = decode_str_lookup(policy_names, ARRAY_SIZE(policy_names), p);
	if (i < 0)
		return dfail(c, "spec", key, "unknown policy \"%.32s\"", p);
	*out = i;
	return 0;
}

static int service_affinity(struct dctx *c, const cJSON *spec,
			    struct k8s_service *s)
{
	const char *path = "spec.sessionAffinityConfig.clientIP";
	const cJSON *cfg, *cip;
	const char *a;
	long timeout;
	int ret;

	ret = get_str(c, spec, "spec", "sessionAffinity", &a);
	if (ret || !a || !*a || !strcmp(a, "None"))
		return ret;
	if (strcmp(a, "ClientIP"))
		return dfail(c, "spec", "sessionAffinity",
			     "unknown affinity \"%.32s\"", a);
	s->affinity_client_ip = true;
	/* Servers before 1.7 send ClientIP without sessionAffinityConfig. */
	ret = get_obj(c, spec, "spec", "sessionAffinityConfig", &cfg);
	if (!ret)
		ret = get_obj(c, cfg, "spec.sessionAffinityConfig", "clientIP",
			      &cip);
	if (!ret)
		ret = get_int(c, cip, path, "timeoutSeconds", 1,
			      AFFINITY_TIMEOUT_MAX, AFFINITY_TIMEOUT_DEFAULT,
			      &timeout);
	if (ret)
		return ret;
	s->affinity_timeout = timeout;
	return 0;
}

static int service_parse(struct dctx *c, const cJSON *obj,
			 struct k8s_service *s)
{
	void *ports, *ranges;
	const cJSON *spec;
	struct meta m;
	long hc;
	int ret;

	ret = meta_parse(c, obj, &m);
	if (!ret)
		ret = dup_str(m.ns, &s->namespace);
	if (!ret)
		ret = dup_str(m.name, &s->name);
	if (!ret)
		ret = dup_str(m.rv, &s->resource_version);
	if (ret)
		return ret;
	s->label_headless = has_label(&m, "service.kubernetes.io/headless");
	s->label_proxy_name = has_label(&m,
					"service.kubernetes.io/service-proxy-name");

	ret = get_obj(c, obj, "", "spec", &spec);
	if (!ret)
		ret = service_type(c, spec, s);
	if (!ret)
		ret = service_cluster_ips(c, spec, s);
	if (!ret) {
		ret = parse_array(c, spec, "spec", "ports", sizeof(*s->ports),
				  service_port, NULL, &ports, &s->n_ports);
		s->ports = ports;
	}
	if (!ret)
		ret = parse_ip_list(c, spec, "spec", "externalIPs",
				    &s->external_ips, &s->n_external_ips);
	if (!ret)
		ret = service_lb_ips(c, obj, s);
	if (!ret) {
		ret = parse_array(c, spec, "spec", "loadBalancerSourceRanges",
				  sizeof(*s->source_ranges), source_range, NULL,
				  &ranges, &s->n_source_ranges);
		s->source_ranges = ranges;
	}
	if (!ret)
		ret = service_policy(c, spec, "externalTrafficPolicy",
				     &s->external_policy);
	if (!ret)
		ret = service_policy(c, spec, "internalTrafficPolicy",
				     &s->internal_policy);
	if (!ret)
		ret = service_affinity(c, spec, s);
	if (!ret)
		ret = get_int(c, spec, "spec", "healthCheckNodePort", 0, 65535,
			      0, &hc);
	if (ret)
		return ret;
	s->health_check_node_port = hc;
	return 0;
}

/* A decoder's context, with @err cleared for the new object. */
static struct dctx dctx_start(enum k8s_kind kind, char *err, size_t errlen)
{
	struct dctx c = {
		.kind = kind_names[kind], .err = err, .errlen = errlen,
	};

	if (err && errlen)
		err[0] = '\0';
	return c;
}

int k8s_service_decode(const cJSON *obj, struct k8s_service **out,
		       char *err, size_t errlen)
{
	struct dctx c = dctx_start(K8S_SERVICE, err, errlen);
	struct k8s_service *s;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = service_parse(&c, obj, s);
	if (ret) {
		k8s_service_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* ---- EndpointSlice and Endpoints ---- */

static int endpoint_port(struct dctx *c, const cJSON *item, const char *where,
			 void *elem, const void *arg)
{
	struct k8s_endpoint_port *p = elem;

	(void)arg;
	return port_common(c, item, where, &p->name, &p->protocol, &p->port);
}

/* EndpointSlice ports and Endpoints subset ports; a port may be unset. */
static int endpoint_ports(struct dctx *c, const cJSON *obj, const char *where,
			  struct k8s_endpoint_slice *s)
{
	void *ports;
	int ret;

	ret = parse_array(c, obj, where, "ports", sizeof(*s->ports),
			  endpoint_port, NULL, &ports, &s->n_ports);
	s->ports = ports;
	return ret;
}

/* nodeName, in an EndpointSlice endpoint or an Endpoints address alike. */
static int endpoint_node(struct dctx *c, const cJSON *item, const char *where,
			 struct k8s_endpoint *ep)
{
	const char *node;
	int ret;

	ret = get_str(c, item, where, "nodeName", &node);
	return ret ? ret : dup_opt(node, &ep->node_name);
}

/* An item_fn for an EndpointSlice's endpoints; @arg: the slice's family. */
static int slice_endpoint(struct dctx *c, const cJSON *item, const char *where,
			  void *elem, const void *arg)
{
	struct k8s_endpoint *ep = elem;
	const cJSON *addrs, *cond;
	char path[PATH_LEN];
	const char *zone;
	size_t n;
	int ret;

	ret = expect_object(c, item, where);
	if (!ret)
		ret = get_arr(c, item, where, "addresses", &addrs, &n);
	if (ret)
		return ret;
	if (!n)
		return dfail(c, where, "addresses", "missing");
	/* The API says consumers use the first address only. */
	ret = ip_item(c, cJSON_GetArrayItem(addrs, 0),
		      path_idx(path, where, "addresses", 0), &ep->addr, arg);
	if (!ret)
		ret = get_obj(c, item, where, "conditions", &cond);
	path_join(path, where, "conditions");
	if (!ret)
		ret = get_bool(c, cond, path, "ready", true, &ep->ready);
	if (!ret)
		/* EndpointConditions: a nil serving is to be read as serving */
		ret = get_bool(c, cond, path, "serving", true, &ep->serving);
	if (!ret)
		ret = get_bool(c, cond, path, "terminating", false,
			       &ep->terminating);
	if (!ret)
		ret = endpoint_node(c, item, where, ep);
	if (!ret)
		ret = get_str(c, item, where, "zone", &zone);
	if (!ret)
		ret = dup_opt(zone, &ep->zone);
	return ret;
}

static int slice_address_type(struct dctx *c, const cJSON *obj,
			      struct k8s_endpoint_slice *s)
{
	const char *t;
	int ret;

	ret = get_str(c, obj, "", "addressType", &t);
	if (ret)
		return ret;
	if (!t)
		return dfail(c, "", "addressType", "missing");
	if (!strcmp(t, "IPv4"))
		s->address_family = AF_INET;
	else if (!strcmp(t, "IPv6"))
		s->address_family = AF_INET6;
	else if (!strcmp(t, "FQDN"))
		s->address_family = 0;
	else
		return dfail(c, "", "addressType", "unknown type \"%.32s\"", t);
	return 0;
}

static int slice_parse(struct dctx *c, const cJSON *obj,
		       struct k8s_endpoint_slice *s)
{
	const char *svc;
	void *endpoints;
	struct meta m;
	int family, ret;

	ret = meta_parse(c, obj, &m);
	if (!ret)
		ret = get_str(c, m.labels, "metadata.labels",
			      "kubernetes.io/service-name", &svc);
	if (!ret)
		ret = dup_str(m.ns, &s->namespace);
	if (!ret)
		ret = dup_str(m.name, &s->name);
	if (!ret)
		ret = dup_str(m.rv, &s->resource_version);
	if (!ret)
		ret = dup_opt(svc, &s->service_name);
	if (!ret)
		ret = slice_address_type(c, obj, s);
	if (!ret)
		ret = endpoint_ports(c, obj, "", s);
	/* FQDN slices are for DNS, not for the proxy: endpoints stay empty. */
	if (ret || !s->address_family)
		return ret;

	family = s->address_family;
	ret = parse_array(c, obj, "", "endpoints", sizeof(*s->endpoints),
			  slice_endpoint, &family, &endpoints, &s->n_endpoints);
	s->endpoints = endpoints;
	return ret;
}

int k8s_endpoint_slice_decode(const cJSON *obj, struct k8s_endpoint_slice **out,
			      char *err, size_t errlen)
{
	struct dctx c = dctx_start(K8S_ENDPOINT_SLICE, err, errlen);
	struct k8s_endpoint_slice *s;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = slice_parse(&c, obj, s);
	if (ret) {
		k8s_endpoint_slice_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* addresses[] or notReadyAddresses[] of one subset, appended at *idx. The
 * first address fixes the slice's family; a subset mixing families would
 * not fit the one-family-per-slice model and is refused. */
static int subset_addresses(struct dctx *c, const cJSON *subset,
			    const char *where, const char *key, bool ready,
			    struct k8s_endpoint_slice *s, size_t *idx)
{
	const cJSON *arr, *item;
	char path[PATH_LEN];
	size_t n;
	int ret, i = 0;

	ret = get_arr(c, subset, where, key, &arr, &n);
	if (ret)
		return ret;
	cJSON_ArrayForEach(item, arr) {
		struct k8s_endpoint *ep = &s->endpoints[(*idx)++];

		path_idx(path, where, key, i++);
		ret = expect_object(c, item, path);
		if (ret)
			return ret;
		if (!decode_field(item, "ip"))
			return dfail(c, path, "ip", "missing");
		ret = parse_ip(c, decode_field(item, "ip"), path, "ip",
			       s->address_family, &ep->addr);
		if (ret)
			return ret;
		s->address_family = ep->addr.family;
		ep->ready = ready;
		ep->serving = ready;
		ep->terminating = false;
		ret = endpoint_node(c, item, path, ep);
		if (ret)
			return ret;
	}
	return 0;
}

static int subset_count(struct dctx *c, const cJSON *subset, const char *where,
			size_t *total)
{
	const cJSON *arr;
	size_t a, b;
	int ret;

	ret = get_arr(c, subset, where, "addresses", &arr, &a);
	if (!ret)
		ret = get_arr(c, subset, where, "notReadyAddresses", &arr, &b);
	*total = ret ? 0 : a + b;
	return ret;
}

static int subset_new(const struct meta *m, struct k8s_endpoint_slice **out)
{
	struct k8s_endpoint_slice *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*out = s;
	ret = dup_str(m->ns, &s->namespace);
	if (!ret)
		ret = dup_str(m->name, &s->name);
	if (!ret)
		ret = dup_str(m->name, &s->service_name);
	if (!ret)
		ret = dup_str(m->rv, &s->resource_version);
	return ret;
}

static int subset_parse(struct dctx *c, const cJSON *subset, const char *where,
			struct k8s_endpoint_slice *s)
{
	size_t n, idx = 0;
	int ret;

	ret = expect_object(c, subset, where);
	if (!ret)
		ret = endpoint_ports(c, subset, where, s);
	if (!ret)
		ret = subset_count(c, subset, where, &n);
	if (ret)
		return ret;
	if (n) {
		s->endpoints = calloc(n, sizeof(*s->endpoints));
		if (!s->endpoints)
			return -ENOMEM;
		s->n_endpoints = n;
	}
	ret = subset_addresses(c, subset, where, "addresses", true, s, &idx);
	if (!ret)
		ret = subset_addresses(c, subset, where, "notReadyAddresses",
				       false, s, &idx);
	if (!s->address_family)
		s->address_family = AF_INET;
	return ret;
}

static int endpoints_parse(struct dctx *c, const cJSON *obj,
			   struct k8s_endpoint_slice **head)
{
	struct k8s_endpoint_slice **tail = head;
	const cJSON *subsets, *subset;
	char path[PATH_LEN];
	struct meta m;
	size_t n;
	int ret, i = 0;

	ret = meta_parse(c, obj, &m);
	if (!ret)
		ret = get_arr(c, obj, "", "subsets", &subsets, &n);
	if (ret)
		return ret;
	if (!n) {
		ret = subset_new(&m, head);
		if (*head)
			(*head)->address_family = AF_INET;
		return ret;
	}
	cJSON_ArrayForEach(subset, subsets) {
		ret = subset_new(&m, tail);
		if (!ret)
			ret = subset_parse(c, subset,
					   path_idx(path, "", "subsets", i++),
					   *tail);
		if (ret)
			return ret;
		tail = &(*tail)->next;
	}
	return 0;
}

int k8s_endpoints_decode(const cJSON *obj, struct k8s_endpoint_slice **out,
			 char *err, size_t errlen)
{
	struct dctx c = dctx_start(K8S_ENDPOINTS, err, errlen);
	struct k8s_endpoint_slice *head = NULL;
	int ret;

	*out = NULL;
	ret = endpoints_parse(&c, obj, &head);
	if (ret) {
		k8s_endpoint_slice_free(head);
		return ret;
	}
	*out = head;
	return 0;
}

/* ---- any kind, events, lists ---- */

void k8s_object_clear(struct k8s_object *o)
{
	k8s_service_free(o->service);
	k8s_endpoint_slice_free(o->slice);
	o->service = NULL;
	o->slice = NULL;
}

int k8s_object_decode(enum k8s_kind kind, const cJSON *obj, struct k8s_object *out,
		      char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->kind = kind;
	switch (kind) {
	case K8S_SERVICE:
		return k8s_service_decode(obj, &out->service, err, errlen);
	case K8S_ENDPOINT_SLICE:
		return k8s_endpoint_slice_decode(obj, &out->slice, err, errlen);
	case K8S_ENDPOINTS:
		return k8s_endpoints_decode(obj, &out->slice, err, errlen);
	}
	decode_msg_set(err, errlen, "unknown kind %d", (int)kind);
	return -EINVAL;
}
