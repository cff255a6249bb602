#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kube/decode.h"

/* A watch line holds one object, and etcd stores objects of at most about
 * 1.5 MiB by default: a line near this cap is a broken stream, not an event.
 * Refusing it bounds the memory one line can make us allocate. */
#define EVENT_LINE_MAX			(16u << 20)

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

static const char *const event_type_names[] = {
	[EV_ADDED] = "ADDED",
	[EV_MODIFIED] = "MODIFIED",
	[EV_DELETED] = "DELETED",
	[EV_BOOKMARK] = "BOOKMARK",
	[EV_ERROR] = "ERROR",
};

static const char *const kind_names[] = {
	[K8S_SERVICE] = "Service",
	[K8S_ENDPOINT_SLICE] = "EndpointSlice",
	[K8S_ENDPOINTS] = "Endpoints",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int str_lookup(const char *const *names, size_t n, const char *s)
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

static void __attribute__((format(printf, 3, 4)))
msg_set(char *buf, size_t len, const char *fmt, ...)
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

static const char *json_type(const cJSON *v)
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
static const cJSON *field(const cJSON *obj, const char *key)
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
	const cJSON *v = field(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring)
		return dfail(c, where, key, "expected string, got %s", json_type(v));
	*out = v->valuestring;
	return 0;
}

static int get_obj(struct dctx *c, const cJSON *obj, const char *where,
		   const char *key, const cJSON **out)
{
	const cJSON *v = field(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsObject(v))
		return dfail(c, where, key, "expected object, got %s", json_type(v));
	*out = v;
	return 0;
}

/* *n is the element count (0 when unset). */
static int get_arr(struct dctx *c, const cJSON *obj, const char *where,
		   const char *key, const cJSON **out, size_t *n)
{
	const cJSON *v = field(obj, key);
	int size;

	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (!cJSON_IsArray(v))
		return dfail(c, where, key, "expected array, got %s", json_type(v));
	size = cJSON_GetArraySize(v);
	*out = v;
	*n = size > 0 ? (size_t)size : 0;
	return 0;
}

static int get_bool(struct dctx *c, const cJSON *obj, const char *where,
		    const char *key, bool dflt, bool *out)
{
	const cJSON *v = field(obj, key);

	*out = dflt;
	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return dfail(c, where, key, "expected boolean, got %s", json_type(v));
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
	const cJSON *v = field(obj, key);
	char num[32];
	double d;

	*out = dflt;
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return dfail(c, where, key, "expected integer, got %s", json_type(v));
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

/* @v is the value itself (an array element or a field); @family 0 = any. */
static int parse_ip(struct dctx *c, const cJSON *v, const char *where,
		    const char *key, int family, struct ip_addr *out)
{
	if (!cJSON_IsString(v) || !v->valuestring)
		return dfail(c, where, key, "expected IP address string, got %s",
			     json_type(v));
	if (ip_addr_parse(v->valuestring, out))
		return dfail(c, where, key, "invalid IP address \"%.64s\"",
			     v->valuestring);
	if (family && out->family != family)
		return dfail(c, where, key, "\"%.64s\" is not an %s address",
			     v->valuestring, family == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

static int parse_ip_list(struct dctx *c, const cJSON *obj, const char *where,
			 const char *key, struct ip_addr **out, size_t *n)
{
	const cJSON *arr, *v;
	char path[PATH_LEN];
	size_t len;
	int ret, i = 0;

	ret = get_arr(c, obj, where, key, &arr, &len);
	if (ret || !len)
		return ret;
	*out = calloc(len, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*n = len;
	cJSON_ArrayForEach(v, arr) {
		ret = parse_ip(c, v, path_idx(path, where, key, i), NULL, 0,
			       &(*out)[i]);
		if (ret)
			return ret;
		i++;
	}
	return 0;
}

/* spec.loadBalancerSourceRanges: CIDR strings. */
static int service_source_ranges(struct dctx *c, const cJSON *spec, struct k8s_service *s)
{
	const cJSON *arr, *v;
	char path[PATH_LEN];
	size_t len;
	int ret, i = 0;

	ret = get_arr(c, spec, "spec", "loadBalancerSourceRanges", &arr, &len);
	if (ret || !len)
		return ret;
	s->source_ranges = calloc(len, sizeof(*s->source_ranges));
	if (!s->source_ranges)
		return -ENOMEM;
	cJSON_ArrayForEach(v, arr) {
		path_idx(path, "spec", "loadBalancerSourceRanges", i);
		if (!cJSON_IsString(v))
			return dfail(c, path, NULL, "expected a string");
		if (ip_prefix_parse(v->valuestring, &s->source_ranges[i]))
			return dfail(c, path, NULL, "invalid CIDR \"%.64s\"", v->valuestring);
		s->n_source_ranges = ++i;
	}
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
	p = str_lookup(l4proto_names, ARRAY_SIZE(l4proto_names), s);
	if (p < 0)
		return dfail(c, where, "protocol",
			     "unknown protocol \"%.32s\" (TCP, UDP, SCTP)", s);
	*out = p;
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
			     json_type(obj));
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
	return field(m->labels, key) != NULL;
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
	i = str_lookup(svc_type_names, ARRAY_SIZE(svc_type_names), t);
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
	return parse_ip(c, field(spec, "clusterIP"), "spec", "clusterIP", 0,
			&s->cluster_ips[0]);
}

static int service_port(struct dctx *c, const cJSON *item, const char *where,
			struct k8s_service_port *p)
{
	const char *name;
	long v;
	int ret;

	if (!cJSON_IsObject(item))
		return dfail(c, where, NULL, "expected object, got %s",
			     json_type(item));
	ret = get_str(c, item, where, "name", &name);
	if (!ret)
		ret = dup_str(name ? name : "", &p->name);
	if (!ret)
		ret = parse_proto(c, item, where, &p->protocol);
	if (ret)
		return ret;
	if (!field(item, "port"))
		return dfail(c, where, "port", "missing");
	ret = get_int(c, item, where, "port", 1, 65535, 0, &v);
	if (ret)
		return ret;
	p->port = v;
	/* targetPort is the backend's business: endpoints carry real ports. */
	ret = get_int(c, item, where, "nodePort", 0, 65535, 0, &v);
	p->node_port = v;
	return ret;
}

static int service_ports(struct dctx *c, const cJSON *spec,
			 struct k8s_service *s)
{
	const cJSON *arr, *item;
	char path[PATH_LEN];
	size_t n;
	int ret, i = 0;

	ret = get_arr(c, spec, "spec", "ports", &arr, &n);
	if (ret || !n)
		return ret;
	s->ports = calloc(n, sizeof(*s->ports));
	if (!s->ports)
		return -ENOMEM;
	s->n_ports = n;
	cJSON_ArrayForEach(item, arr) {
		ret = service_port(c, item, path_idx(path, "spec", "ports", i),
				   &s->ports[i]);
		if (ret)
			return ret;
		i++;
	}
	return 0;
}

/* status.loadBalancer.ingress[].ip; hostname-only entries (AWS ELB) carry
 * nothing the proxy can match on and are skipped. */
static int service_lb_ips(struct dctx *c, const cJSON *obj,
			  struct k8s_service *s)
{
	const cJSON *status, *lb, *ingress, *item;
	char path[PATH_LEN];
	const char *ip;
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
		if (!cJSON_IsObject(item))
			return dfail(c, path, NULL, "expected object, got %s",
				     json_type(item));
		ret = get_str(c, item, path, "ip", &ip);
		if (ret)
			return ret;
		if (!ip || !*ip)
			continue;
		ret = parse_ip(c, field(item, "ip"), path, "ip", 0,
			       &s->lb_ips[s->n_lb_ips]);
		if (ret)
			return ret;
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
	i = str_lookup(policy_names, ARRAY_SIZE(policy_names), p);
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
	if (!ret)
		ret = service_ports(c, spec, s);
	if (!ret)
		ret = parse_ip_list(c, spec, "spec", "externalIPs",
				    &s->external_ips, &s->n_external_ips);
	if (!ret)
		ret = service_lb_ips(c, obj, s);
	if (!ret)
		ret = service_source_ranges(c, spec, s);
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

static void err_clear(char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
}

int k8s_service_decode(const cJSON *obj, struct k8s_service **out,
		       char *err, size_t errlen)
{
	struct dctx c = {
		.kind = kind_names[K8S_SERVICE], .err = err, .errlen = errlen,
	};
	struct k8s_service *s;
	int ret;

	*out = NULL;
	err_clear(err, errlen);
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

/* EndpointSlice ports and Endpoints subset ports; a port may be unset. */
static int endpoint_ports(struct dctx *c, const cJSON *obj, const char *where,
			  struct k8s_endpoint_slice *s)
{
	const cJSON *arr, *item;
	char path[PATH_LEN];
	const char *name;
	size_t n;
	long v;
	int ret, i = 0;

	ret = get_arr(c, obj, where, "ports", &arr, &n);
	if (ret || !n)
		return ret;
	s->ports = calloc(n, sizeof(*s->ports));
	if (!s->ports)
		return -ENOMEM;
	s->n_ports = n;
	cJSON_ArrayForEach(item, arr) {
		struct k8s_endpoint_port *p = &s->ports[i];

		path_idx(path, where, "ports", i++);
		if (!cJSON_IsObject(item))
			return dfail(c, path, NULL, "expected object, got %s",
				     json_type(item));
		ret = get_str(c, item, path, "name", &name);
		if (!ret)
			ret = dup_str(name ? name : "", &p->name);
		if (!ret)
			ret = parse_proto(c, item, path, &p->protocol);
		if (!ret)
			ret = get_int(c, item, path, "port", 1, 65535, 0, &v);
		if (ret)
			return ret;
		p->port = v;
	}
	return 0;
}

static int slice_endpoint(struct dctx *c, const cJSON *item, const char *where,
			  int family, struct k8s_endpoint *ep)
{
	const cJSON *addrs, *cond;
	char path[PATH_LEN];
	const char *node, *zone;
	size_t n;
	int ret;

	if (!cJSON_IsObject(item))
		return dfail(c, where, NULL, "expected object, got %s",
			     json_type(item));
	ret = get_arr(c, item, where, "addresses", &addrs, &n);
	if (ret)
		return ret;
	if (!n)
		return dfail(c, where, "addresses", "missing");
	/* The API says consumers use the first address only. */
	ret = parse_ip(c, cJSON_GetArrayItem(addrs, 0),
		       path_idx(path, where, "addresses", 0), NULL, family,
		       &ep->addr);
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
		ret = get_str(c, item, where, "nodeName", &node);
	if (!ret)
		ret = get_str(c, item, where, "zone", &zone);
	if (!ret)
		ret = dup_opt(node, &ep->node_name);
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
	const cJSON *arr, *item;
	char path[PATH_LEN];
	const char *svc;
	struct meta m;
	size_t n;
	int ret, i = 0;

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

	ret = get_arr(c, obj, "", "endpoints", &arr, &n);
	if (ret || !n)
		return ret;
	s->endpoints = calloc(n, sizeof(*s->endpoints));
	if (!s->endpoints)
		return -ENOMEM;
	s->n_endpoints = n;
	cJSON_ArrayForEach(item, arr) {
		ret = slice_endpoint(c, item, path_idx(path, "", "endpoints", i),
				     s->address_family, &s->endpoints[i]);
		if (ret)
			return ret;
		i++;
	}
	return 0;
}

int k8s_endpoint_slice_decode(const cJSON *obj, struct k8s_endpoint_slice **out,
			      char *err, size_t errlen)
{
	struct dctx c = {
		.kind = kind_names[K8S_ENDPOINT_SLICE], .err = err, .errlen = errlen,
	};
	struct k8s_endpoint_slice *s;
	int ret;

	*out = NULL;
	err_clear(err, errlen);
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
	const char *node;
	size_t n;
	int ret, i = 0;

	ret = get_arr(c, subset, where, key, &arr, &n);
	if (ret)
		return ret;
	cJSON_ArrayForEach(item, arr) {
		struct k8s_endpoint *ep = &s->endpoints[(*idx)++];

		path_idx(path, where, key, i++);
		if (!cJSON_IsObject(item))
			return dfail(c, path, NULL, "expected object, got %s",
				     json_type(item));
		if (!field(item, "ip"))
			return dfail(c, path, "ip", "missing");
		ret = parse_ip(c, field(item, "ip"), path, "ip",
			       s->address_family, &ep->addr);
		if (ret)
			return ret;
		s->address_family = ep->addr.family;
		ep->ready = ready;
		ep->serving = ready;
		ep->terminating = false;
		ret = get_str(c, item, path, "nodeName", &node);
		if (!ret)
			ret = dup_opt(node, &ep->node_name);
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

	if (!cJSON_IsObject(subset))
		return dfail(c, where, NULL, "expected object, got %s",
			     json_type(subset));
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
	struct dctx c = {
		.kind = kind_names[K8S_ENDPOINTS], .err = err, .errlen = errlen,
	};
	struct k8s_endpoint_slice *head = NULL;
	int ret;

	*out = NULL;
	err_clear(err, errlen);
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
	msg_set(err, errlen, "unknown kind %d", (int)kind);
	return -EINVAL;
}

/* cJSON may read one byte past the given length (cJSON#804), so parse a
 * NUL-terminated copy; bytes after the value must be whitespace only. */
static int json_parse(const char *data, size_t len, cJSON **out,
		      const char *what, char *err, size_t errlen)
{
	const char *end = NULL;
	char *buf;
	size_t off;

	*out = NULL;
	if (!data) {
		msg_set(err, errlen, "%s: no data", what);
		return -EINVAL;
	}
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, data, len);
	buf[len] = '\0';
	*out = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	off = end && end >= buf ? (size_t)(end - buf) : 0;
	if (!*out) {
		msg_set(err, errlen, "%s: malformed JSON near offset %zu",
			what, off);
		free(buf);
		return -EINVAL;
	}
	for (; off < len; off++) {
		if (!buf[off] || !strchr(" \t\r\n", buf[off])) {
			msg_set(err, errlen, "%s: trailing data at offset %zu",
				what, off);
			cJSON_Delete(*out);
			*out = NULL;
			free(buf);
			return -EINVAL;
		}
	}
	free(buf);
	return 0;
}

/* Copies @s into a fixed array; -EINVAL when it does not fit. */
static int copy_fixed(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return -EINVAL;
	memcpy(dst, s, n + 1);
	return 0;
}

/* The Status of an ERROR event. */
static int event_status(const cJSON *st, struct k8s_event *ev)
{
	const cJSON *code = field(st, "code");
	const cJSON *msg = field(st, "message");

	if (code && (!cJSON_IsNumber(code) || code->valuedouble < 0 ||
		     code->valuedouble > 999)) {
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: ERROR: object.code: expected HTTP status");
		return -EINVAL;
	}
	if (msg && !cJSON_IsString(msg)) {
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: ERROR: object.message: expected string, got %s",
			json_type(msg));
		return -EINVAL;
	}
	ev->code = code ? (int)code->valuedouble : 0;
	/* A long message is still worth logging, so truncate it. */
	msg_set(ev->err_msg, sizeof(ev->err_msg), "%s",
		msg ? msg->valuestring : "");
	return 0;
}

static const cJSON *meta_rv(const cJSON *obj)
{
	return field(field(obj, "metadata"), "resourceVersion");
}

/* A BOOKMARK only carries the resourceVersion to resume from: a truncated
 * or mistyped one would be worse than none. */
static int event_bookmark(const cJSON *obj, struct k8s_event *ev)
{
	const cJSON *rv = meta_rv(obj);

	if (!cJSON_IsString(rv) ||
	    copy_fixed(ev->resource_version, sizeof(ev->resource_version),
		       rv->valuestring)) {
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: BOOKMARK: object.metadata.resourceVersion: %s",
			rv ? "not a string of < 64 bytes" : "missing");
		return -EINVAL;
	}
	return 0;
}

static int event_object(enum k8s_kind kind, const cJSON *obj,
			struct k8s_event *ev)
{
	const cJSON *md = field(obj, "metadata");
	const cJSON *ns = field(md, "namespace");
	const cJSON *name = field(md, "name");
	const cJSON *rv = meta_rv(obj);
	int ret;

	/* Best effort: these name the object in logs even when it is bad. */
	if (cJSON_IsString(name) &&
	    !copy_fixed(ev->name, sizeof(ev->name), name->valuestring)) {
		if (!cJSON_IsString(ns) || !*ns->valuestring ||
		    copy_fixed(ev->namespace, sizeof(ev->namespace),
			       ns->valuestring))
			snprintf(ev->namespace, sizeof(ev->namespace), "default");
	}
	ret = k8s_object_decode(kind, obj, &ev->obj, ev->err_msg,
				sizeof(ev->err_msg));
	if (ret == -ENOMEM)
		return ret;
	/* An invalid object is still a valid event: the caller decides. */
	if (cJSON_IsString(rv) &&
	    copy_fixed(ev->resource_version, sizeof(ev->resource_version),
		       rv->valuestring) && !ret) {
		k8s_object_clear(&ev->obj);
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"%s %s/%s: metadata.resourceVersion: longer than %zu bytes",
			kind_names[kind], ev->namespace, ev->name,
			sizeof(ev->resource_version) - 1);
	}
	return 0;
}

static int event_decode(enum k8s_kind kind, const cJSON *root,
			struct k8s_event *ev)
{
	const cJSON *type, *obj;
	int t;

	if (!cJSON_IsObject(root)) {
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: expected a JSON object, got %s",
			json_type(root));
		return -EINVAL;
	}
	type = field(root, "type");
	obj = field(root, "object");
	if (!cJSON_IsString(type)) {
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: type: expected string, got %s",
			type ? json_type(type) : "nothing");
		return -EINVAL;
	}
	t = str_lookup(event_type_names, ARRAY_SIZE(event_type_names),
		       type->valuestring);
	if (t < 0) {
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: type: unknown \"%.32s\"", type->valuestring);
		return -EINVAL;
	}
	ev->type = t;
	if (!cJSON_IsObject(obj)) {
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: object: expected object, got %s",
			obj ? json_type(obj) : "nothing");
		return -EINVAL;
	}
	switch (ev->type) {
	case EV_ERROR:
		return event_status(obj, ev);
	case EV_BOOKMARK:
		return event_bookmark(obj, ev);
	default:
		return event_object(kind, obj, ev);
	}
}

int k8s_event_decode(enum k8s_kind kind, const char *line, size_t len,
		     struct k8s_event *ev)
{
	cJSON *root;
	int ret;

	memset(ev, 0, sizeof(*ev));
	ev->obj.kind = kind;
	if (len > EVENT_LINE_MAX) {
		msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: %zu bytes, more than the %u byte limit",
			len, EVENT_LINE_MAX);
		return -EINVAL;
	}
	ret = json_parse(line, len, &root, "watch event", ev->err_msg,
			 sizeof(ev->err_msg));
	if (ret)
		return ret;
	ret = event_decode(kind, root, ev);
	cJSON_Delete(root);
	if (ret)
		k8s_object_clear(&ev->obj);
	return ret;
}

void k8s_event_clear(struct k8s_event *ev)
{
	k8s_object_clear(&ev->obj);
}

/* Checks that @root is a List and reads its metadata into @res. */
static int list_header(enum k8s_kind want, const cJSON *root,
		       struct k8s_list_result *res, char *msg, size_t msglen)
{
	const cJSON *kind = field(root, "kind");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
	const cJSON *md = field(root, "metadata");
	const cJSON *rv = field(md, "resourceVersion");
	const cJSON *cont = field(md, "continue");
	size_t n = 0;

	if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "Status")) {
		const cJSON *code = field(root, "code");
		const cJSON *text = field(root, "message");

		msg_set(msg, msglen, "list: got a Status (code %d): %.200s",
			cJSON_IsNumber(code) ? code->valueint : 0,
			cJSON_IsString(text) ? text->valuestring : "");
		return -EINVAL;
	}
	if (kind && (!cJSON_IsString(kind) ||
		     (n = strlen(kind->valuestring)) < 4 ||
		     strcmp(kind->valuestring + n - 4, "List"))) {
		msg_set(msg, msglen, "list: kind: not a List");
		return -EINVAL;
	}
	/* "List" (kubectl) says nothing; "FooList" must match what we asked. */
	if (kind && n > 4 && (unsigned int)want < ARRAY_SIZE(kind_names) &&
	    (n - 4 != strlen(kind_names[want]) ||
	     strncmp(kind->valuestring, kind_names[want], n - 4))) {
		msg_set(msg, msglen, "list: kind: got %.32s, expected %sList",
			kind->valuestring, kind_names[want]);
		return -EINVAL;
	}
	if (!items || (!cJSON_IsNull(items) && !cJSON_IsArray(items))) {
		msg_set(msg, msglen, "list: items: %s",
			items ? "expected array" : "missing");
		return -EINVAL;
	}
	if ((md && !cJSON_IsObject(md)) || (rv && !cJSON_IsString(rv)) ||
	    (cont && !cJSON_IsString(cont))) {
		msg_set(msg, msglen, "list: metadata: wrong JSON type");
		return -EINVAL;
	}
	if (rv && copy_fixed(res->resource_version,
			     sizeof(res->resource_version), rv->valuestring)) {
		msg_set(msg, msglen, "list: metadata.resourceVersion: too long");
		return -EINVAL;
	}
	if (cont && *cont->valuestring) {
		res->continue_token = strdup(cont->valuestring);
		if (!res->continue_token)
			return -ENOMEM;
	}
	return 0;
}

int k8s_list_decode(enum k8s_kind kind, const char *body, size_t len,
		    k8s_item_cb cb, k8s_err_cb err_cb, void *ctx,
		    struct k8s_list_result *res)
{
	struct k8s_list_result r;
	const cJSON *item;
	struct k8s_object o;
	char msg[256];
	cJSON *root;
	int ret;

	memset(&r, 0, sizeof(r));
	if (res)
		memset(res, 0, sizeof(*res));
	msg[0] = '\0';
	ret = json_parse(body, len, &root, "list", msg, sizeof(msg));
	if (!ret && !cJSON_IsObject(root)) {
		msg_set(msg, sizeof(msg), "list: expected a JSON object, got %s",
			json_type(root));
		ret = -EINVAL;
	}
	if (!ret)
		ret = list_header(kind, root, &r, msg, sizeof(msg));
	if (ret)
		goto out;

	cJSON_ArrayForEach(item, field(root, "items")) {
		ret = k8s_object_decode(kind, item, &o, msg, sizeof(msg));
		if (ret == -ENOMEM)
			goto out;
		if (ret) {
			const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
			const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");

			r.invalid++;
			if (err_cb)
				err_cb(msg, cJSON_IsString(ns) ? ns->valuestring : "default",
				       cJSON_IsString(name) ? name->valuestring : NULL, ctx);
			continue;
		}
		r.items++;
		if (cb)
			cb(&o, ctx);
		else
			k8s_object_clear(&o);
	}
	ret = 0;
out:
	cJSON_Delete(root);
	if (ret) {
		/* Body-level failures are logged like item failures, once,
		 * here where the reason is known. */
		if (ret == -EINVAL && err_cb && msg[0])
			err_cb(msg, NULL, NULL, ctx);
		free(r.continue_token);
		return ret;
	}
	if (res)
		*res = r;
	else
		free(r.continue_token);
	return 0;
}
