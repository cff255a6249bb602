/* Decoding of Services, EndpointSlices, Endpoints, watch events and lists:
 * real fixtures (KNP_FIXTURES) and hand-written bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "kube/decode.h"

/* ---- helpers ---- */

static const char *fixtures_dir(void)
{
	const char *d = getenv("KNP_FIXTURES");

	return d && *d ? d : "../shared/fixtures";
}

static char *read_path(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static char *read_fixture(const char *rel, size_t *len)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", fixtures_dir(), rel);
	return read_path(path, len);
}

static cJSON *load_json(const char *rel)
{
	size_t len;
	char *buf = read_fixture(rel, &len);
	cJSON *root = cJSON_ParseWithLength(buf, len);

	free(buf);
	if (!root)
		fail_msg("%s: not valid JSON", rel);
	return root;
}

static struct k8s_service *load_service(const char *rel)
{
	cJSON *root = load_json(rel);
	struct k8s_service *s;
	char err[256];
	int ret;

	ret = k8s_service_decode(root, &s, err, sizeof(err));
	cJSON_Delete(root);
	if (ret)
		fail_msg("%s: %d %s", rel, ret, err);
	return s;
}

static struct k8s_endpoint_slice *load_slice(const char *rel, bool legacy)
{
	cJSON *root = load_json(rel);
	struct k8s_endpoint_slice *s;
	char err[256];
	int ret;

	if (legacy)
		ret = k8s_endpoints_decode(root, &s, err, sizeof(err));
	else
		ret = k8s_endpoint_slice_decode(root, &s, err, sizeof(err));
	cJSON_Delete(root);
	if (ret)
		fail_msg("%s: %d %s", rel, ret, err);
	return s;
}

static void assert_ip(const struct ip_addr *a, const char *want)
{
	char buf[INET6_ADDRSTRLEN];

	assert_string_equal(ip_addr_str(a, buf, sizeof(buf)), want);
}

/* Decodes @json as @kind; returns the result, checks nothing leaks out. */
static int decode_str(enum k8s_kind kind, const char *json, char *err,
		      size_t errlen)
{
	struct k8s_object o;
	cJSON *root;
	int ret;

	root = cJSON_Parse(json);
	if (!root)
		fail_msg("test JSON does not parse: %s", json);
	ret = k8s_object_decode(kind, root, &o, err, errlen);
	cJSON_Delete(root);
	if (ret) {
		assert_null(o.service);
		assert_null(o.slice);
	}
	k8s_object_clear(&o);
	return ret;
}

static void assert_rejected(enum k8s_kind kind, const char *json,
			    const char *want)
{
	char err[256] = "";
	int ret = decode_str(kind, json, err, sizeof(err));

	if (ret != -EINVAL || !strstr(err, want))
		fail_msg("want -EINVAL with \"%s\", got %d \"%s\"\n  input: %s",
			 want, ret, err, json);
}

static void assert_accepted(enum k8s_kind kind, const char *json)
{
	char err[256] = "";
	int ret = decode_str(kind, json, err, sizeof(err));

	if (ret)
		fail_msg("want 0, got %d \"%s\"\n  input: %s", ret, err, json);
}

#define SVC(spec) \
	"{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"," \
	"\"namespace\":\"default\"},\"spec\":{" spec "}}"
#define SVC_IP(spec) SVC("\"clusterIP\":\"10.0.0.1\"," spec)
#define SLICE(body) \
	"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"web-x\"," \
	"\"namespace\":\"default\",\"labels\":" \
	"{\"kubernetes.io/service-name\":\"web\"}}," body "}"
#define EPS(subsets) \
	"{\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"web\"," \
	"\"namespace\":\"default\"},\"subsets\":" subsets "}"

static struct k8s_service *decode_service_ok(const char *json)
{
	struct k8s_service *s;
	char err[256];
	cJSON *root = cJSON_Parse(json);
	int ret;

	assert_non_null(root);
	ret = k8s_service_decode(root, &s, err, sizeof(err));
	cJSON_Delete(root);
	if (ret)
		fail_msg("want 0, got %d \"%s\"", ret, err);
	return s;
}

static int event_str(enum k8s_kind kind, const char *line, struct k8s_event *ev)
{
	return k8s_event_decode(kind, line, strlen(line), ev);
}

/* Collects list items. */
struct collect {
	struct k8s_object objs[16];
	size_t n;
	char last_err[256];
	char last_err_name[64];	/* "ns/name" of the last invalid item */
	size_t n_err;
};

static void collect_item(struct k8s_object *o, void *ctx)
{
	struct collect *c = ctx;

	if (c->n < 16)
		c->objs[c->n++] = *o;
	else
		k8s_object_clear(o);
}

static void collect_err(const char *msg, const char *ns, const char *name, void *ctx)
{
	struct collect *c = ctx;

	snprintf(c->last_err, sizeof(c->last_err), "%s", msg);
	snprintf(c->last_err_name, sizeof(c->last_err_name), "%s/%s",
		 ns ? ns : "-", name ? name : "-");
	c->n_err++;
}

static void collect_free(struct collect *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		k8s_object_clear(&c->objs[i]);
	c->n = 0;
}

static int list_fixture(enum k8s_kind kind, const char *rel, struct collect *c,
			struct k8s_list_result *res)
{
	size_t len;
	char *body = read_fixture(rel, &len);
	int ret;

	memset(c, 0, sizeof(*c));
	ret = k8s_list_decode(kind, body, len, collect_item, collect_err, c, res);
	free(body);
	return ret;
}

/* Calls @fn for each non-empty line of a fixture file. */
static size_t for_each_line(const char *buf, size_t len,
			    void (*fn)(const char *line, size_t n, void *ctx),
			    void *ctx)
{
	size_t start = 0, i, lines = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && buf[i] != '\n')
			continue;
		if (i > start) {
			fn(buf + start, i - start, ctx);
			lines++;
		}
		start = i + 1;
	}
	return lines;
}

/* Decoded events of a .jsonl fixture, in order. */
struct events {
	enum k8s_kind kind;
	struct k8s_event ev[16];
	size_t n;
};

static void events_add(const char *line, size_t len, void *ctx)
{
	struct events *e = ctx;
	int ret;

	assert_true(e->n < 16);
	ret = k8s_event_decode(e->kind, line, len, &e->ev[e->n]);
	if (ret)
		fail_msg("event %zu: %d %s", e->n, ret, e->ev[e->n].err_msg);
	e->n++;
}

static void events_load(struct events *e, enum k8s_kind kind, const char *rel)
{
	size_t len;
	char *buf = read_fixture(rel, &len);

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	for_each_line(buf, len, events_add, e);
	free(buf);
}

static void events_free(struct events *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		k8s_event_clear(&e->ev[i]);
}

/* ---- types.c ---- */

static void test_ip_addr_parse_accepts_v4_and_v6_only_without_prefix(void **state)
{
	struct ip_addr a, b;

	assert_int_equal(ip_addr_parse("10.0.0.1", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(ip_addr_parse("fd00::1", &b), 0);
	assert_int_equal(b.family, AF_INET6);
	assert_ip(&b, "fd00::1");
	assert_true(ip_addr_cmp(&a, &b) < 0);
	assert_int_equal(ip_addr_parse("10.0.0.1", &b), 0);
	assert_int_equal(ip_addr_cmp(&a, &b), 0);
	assert_int_equal(ip_addr_parse("10.0.0.2", &b), 0);
	assert_true(ip_addr_cmp(&a, &b) < 0);

	assert_int_equal(ip_addr_parse("", &a), -EINVAL);
	assert_int_equal(ip_addr_parse("1.2.3.4/24", &a), -EINVAL);
	assert_int_equal(ip_addr_parse("fd00::/64", &a), -EINVAL);
	assert_int_equal(ip_addr_parse("300.1.1.1", &a), -EINVAL);
	assert_int_equal(ip_addr_parse(" 10.0.0.1", &a), -EINVAL);
	assert_int_equal(ip_addr_parse("None", &a), -EINVAL);
	assert_int_equal(ip_addr_parse(NULL, &a), -EINVAL);
}

static void test_l4proto_names_and_numbers(void **state)
{
	assert_string_equal(l4proto_name(L4_TCP), "tcp");
	assert_string_equal(l4proto_name(L4_UDP), "udp");
	assert_string_equal(l4proto_name(L4_SCTP), "sctp");
	assert_int_equal(l4proto_number(L4_TCP), 6);
	assert_int_equal(l4proto_number(L4_UDP), 17);
	assert_int_equal(l4proto_number(L4_SCTP), 132);
}

/* ---- every fixture ---- */

struct walk {
	size_t files;
	size_t objects;		/* Services, slices, events decoded */
	size_t rejected;	/* expected rejections (Status, placeholders) */
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static const char *json_kind(const cJSON *obj)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "kind");

	return cJSON_IsString(k) ? k->valuestring : NULL;
}

static bool kind_of(const char *name, enum k8s_kind *out)
{
	if (!name)
		return false;
	if (!strcmp(name, "Service"))
		*out = K8S_SERVICE;
	else if (!strcmp(name, "EndpointSlice"))
		*out = K8S_ENDPOINT_SLICE;
	else if (!strcmp(name, "Endpoints"))
		*out = K8S_ENDPOINTS;
	else
		return false;
	return true;
}

static enum k8s_kind kind_from_filename(const char *path)
{
	if (strstr(path, "endpointslice"))
		return K8S_ENDPOINT_SLICE;
	if (strstr(path, "endpoints"))
		return K8S_ENDPOINTS;
	return K8S_SERVICE;
}

static void walk_list(const char *path, const char *body, size_t len,
		      const cJSON *root, struct walk *w)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
	const char *kind = json_kind(root);
	struct k8s_list_result res;
	enum k8s_kind k;
	struct collect c;
	char item_kind[64];
	int ret;

	snprintf(item_kind, sizeof(item_kind), "%.*s", (int)strlen(kind) - 4, kind);
	if (!kind_of(item_kind, &k) &&
	    !kind_of(json_kind(cJSON_GetArrayItem(items, 0)), &k))
		k = kind_from_filename(path);
	memset(&c, 0, sizeof(c));
	ret = k8s_list_decode(k, body, len, collect_item, collect_err, &c, &res);
	if (ret || res.invalid)
		fail_msg("%s: list: %d, %zu invalid, last: %s", path, ret,
			 res.invalid, c.last_err);
	assert_int_equal(res.items, cJSON_GetArraySize(items));
	assert_true(res.items > 0);
	assert_int_equal(c.n, res.items);
	w->objects += res.items;
	collect_free(&c);
	free(res.continue_token);
}

static void walk_json(const char *path, struct walk *w)
{
	struct k8s_list_result res;
	struct k8s_object o;
	char err[256] = "";
	enum k8s_kind k;
	const char *kind;
	size_t len;
	char *body = read_path(path, &len);
	cJSON *root = cJSON_ParseWithLength(body, len);
	int ret;

	if (!root)
		fail_msg("%s: not valid JSON", path);
	kind = json_kind(root);
	if (kind && !strcmp(kind, "Status")) {
		ret = k8s_list_decode(K8S_SERVICE, body, len, NULL, NULL, NULL,
				      &res);
		assert_int_equal(ret, -EINVAL);
		w->rejected++;
	} else if (kind && ends_with(kind, "List")) {
		walk_list(path, body, len, root, w);
	} else {
		if (!kind_of(kind, &k))
			k = kind_from_filename(path);
		ret = k8s_object_decode(k, root, &o, err, sizeof(err));
		if (strstr(path, "k8sapi-roundtrip-")) {
			/* Placeholders like "typeValue" are not valid values. */
			if (ret != -EINVAL || strncmp(err, kind, strlen(kind)))
				fail_msg("%s: want rejection, got %d %s", path,
					 ret, err);
			w->rejected++;
		} else if (ret) {
			fail_msg("%s: %d %s", path, ret, err);
		} else {
			w->objects++;
		}
		k8s_object_clear(&o);
	}
	cJSON_Delete(root);
	free(body);
}

struct walk_lines {
	const char *path;
	struct walk *w;
};

static void walk_event(const char *line, size_t len, void *ctx)
{
	struct walk_lines *wl = ctx;
	cJSON *peek = cJSON_ParseWithLength(line, len);
	enum k8s_kind k;
	struct k8s_event ev;
	int ret;

	if (!peek)
		fail_msg("%s: line is not JSON", wl->path);
	if (!kind_of(json_kind(cJSON_GetObjectItemCaseSensitive(peek, "object")),
		     &k))
		k = kind_from_filename(wl->path);
	cJSON_Delete(peek);

	ret = k8s_event_decode(k, line, len, &ev);
	if (ret)
		fail_msg("%s: %d %s", wl->path, ret, ev.err_msg);
	if (ev.type <= EV_DELETED && !ev.obj.service && !ev.obj.slice)
		fail_msg("%s: %s/%s: %s", wl->path, ev.namespace, ev.name,
			 ev.err_msg);
	wl->w->objects++;
	k8s_event_clear(&ev);
}

static void walk_jsonl(const char *path, struct walk *w)
{
	struct walk_lines wl = { .path = path, .w = w };
	size_t len;
	char *buf = read_path(path, &len);

	assert_true(for_each_line(buf, len, walk_event, &wl) > 0);
	free(buf);
}

static void walk_dir(const char *dir, struct walk *w)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);

	if (!d)
		fail_msg("cannot open fixtures dir %s (set KNP_FIXTURES)", dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			walk_dir(path, w);
			continue;
		}
		if (ends_with(path, ".json"))
			walk_json(path, w);
		else if (ends_with(path, ".jsonl"))
			walk_jsonl(path, w);
		else
			continue;
		w->files++;
	}
	closedir(d);
}

static void test_every_fixture_decodes_or_is_rejected_as_expected(void **state)
{
	struct walk w = { 0 };

	walk_dir(fixtures_dir(), &w);
	print_message("fixtures: %zu files, %zu objects/events decoded, "
		      "%zu rejected as expected\n", w.files, w.objects,
		      w.rejected);
	assert_true(w.files >= 30);
	assert_true(w.objects >= 50);
	/* 2 Status bodies + 3 placeholder round-trip objects. */
	assert_int_equal(w.rejected, 5);
}

/* ---- Services ---- */

static void test_loadbalancer_service_keeps_cluster_ip_ports_and_ingress(void **state)
{
	struct k8s_service *s =
		load_service("linkerd-service-loadbalancer-gke-2016.json");
	static const struct { const char *name; uint16_t port, node; } want[] = {
		{ "external", 80, 32131 }, { "outgoing", 4140, 30735 },
		{ "incoming", 4141, 30261 }, { "admin", 9990, 31850 },
	};
	size_t i;

	assert_string_equal(s->namespace, "pythonsky");
	assert_string_equal(s->name, "l5d");
	assert_string_equal(s->resource_version, "11597494");
	assert_int_equal(s->type, SVC_LOAD_BALANCER);
	assert_false(s->headless);
	assert_int_equal(s->n_cluster_ips, 1);
	assert_ip(&s->cluster_ips[0], "10.199.242.33");
	assert_int_equal(s->n_ports, 4);
	for (i = 0; i < 4; i++) {
		assert_string_equal(s->ports[i].name, want[i].name);
		assert_int_equal(s->ports[i].protocol, L4_TCP);
		assert_int_equal(s->ports[i].port, want[i].port);
		assert_int_equal(s->ports[i].node_port, want[i].node);
	}
	assert_int_equal(s->n_lb_ips, 1);
	assert_ip(&s->lb_ips[0], "104.155.170.94");
	assert_int_equal(s->n_external_ips, 0);
	assert_int_equal(s->external_policy, POLICY_CLUSTER);
	assert_false(s->affinity_client_ip);
	assert_int_equal(s->health_check_node_port, 0);
	k8s_service_free(s);
}

static void test_servicelist_marks_cluster_ip_none_as_headless(void **state)
{
	static const struct { const char *name; bool headless; } want[] = {
		{ "hello", true }, { "l5d", false },
		{ "world", true }, { "world-v2", true },
	};
	struct k8s_list_result res;
	struct collect c;
	size_t i;

	assert_int_equal(list_fixture(K8S_SERVICE,
				      "linkerd-servicelist-gke-2016.json",
				      &c, &res), 0);
	assert_string_equal(res.resource_version, "11600623");
	assert_null(res.continue_token);
	assert_int_equal(res.items, 4);
	assert_int_equal(res.invalid, 0);
	assert_int_equal(c.n, 4);
	for (i = 0; i < 4; i++) {
		struct k8s_service *s = c.objs[i].service;

		assert_int_equal(c.objs[i].kind, K8S_SERVICE);
		assert_string_equal(s->name, want[i].name);
		assert_int_equal(s->headless, want[i].headless);
		assert_int_equal(s->n_cluster_ips, want[i].headless ? 0 : 1);
	}
	assert_int_equal(c.objs[0].service->ports[0].port, 7000);
	collect_free(&c);
}

static void test_clientip_affinity_without_config_defaults_to_10800(void **state)
{
	struct k8s_service *s =
		load_service("kubectl-recorded-service-kubernetes-clientip-2017.json");

	assert_string_equal(s->namespace, "default");
	assert_string_equal(s->name, "kubernetes");
	assert_true(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout, 10800);
	assert_ip(&s->cluster_ips[0], "10.0.0.1");
	assert_int_equal(s->n_ports, 1);
	assert_string_equal(s->ports[0].name, "https");
	assert_int_equal(s->ports[0].port, 443);
	k8s_service_free(s);
}

static void test_clientip_affinity_with_named_target_port(void **state)
{
	struct k8s_service *s =
		load_service("synthetic/service-clientip-named-targetport.json");

	assert_true(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout, 10800);
	assert_int_equal(s->n_ports, 2);
	assert_string_equal(s->ports[0].name, "http");
	assert_int_equal(s->ports[0].port, 80);
	assert_int_equal(s->ports[1].protocol, L4_UDP);
	assert_int_equal(s->ports[1].port, 53);
	assert_int_equal(s->internal_policy, POLICY_CLUSTER);
	k8s_service_free(s);
}

static void test_externalname_service_has_no_cluster_ip(void **state)
{
	struct k8s_service *s = load_service("synthetic/service-externalname.json");

	assert_int_equal(s->type, SVC_EXTERNAL_NAME);
	assert_int_equal(s->n_cluster_ips, 0);
	assert_null(s->cluster_ips);
	assert_false(s->headless);
	assert_int_equal(s->n_ports, 1);
	assert_int_equal(s->ports[0].port, 5432);
	k8s_service_free(s);
}

static void test_service_proxy_name_label_is_detected(void **state)
{
	struct k8s_service *s = load_service("synthetic/service-other-proxy.json");

	assert_true(s->label_proxy_name);
	assert_false(s->label_headless);
	assert_ip(&s->cluster_ips[0], "10.96.50.60");
	assert_string_equal(s->ports[0].name, "");
	k8s_service_free(s);

	s = load_service("cilium/graceful-termination-service.json");
	assert_false(s->label_proxy_name);
	k8s_service_free(s);
}

static void test_headless_label_is_detected(void **state)
{
	struct k8s_service *s = decode_service_ok(
		"{\"metadata\":{\"name\":\"a\",\"labels\":"
		"{\"service.kubernetes.io/headless\":\"\"}},"
		"\"spec\":{\"clusterIP\":\"10.0.0.1\"}}");

	assert_true(s->label_headless);
	assert_string_equal(s->namespace, "default");
	assert_string_equal(s->resource_version, "");
	assert_int_equal(s->n_ports, 0);
	k8s_service_free(s);
}

static void test_dualstack_service_has_both_cluster_ips(void **state)
{
	struct k8s_service *s = load_service("cilium/dualstack-nodeport-service.json");

	assert_int_equal(s->type, SVC_NODE_PORT);
	assert_int_equal(s->n_cluster_ips, 2);
	assert_ip(&s->cluster_ips[0], "10.96.207.99");
	assert_ip(&s->cluster_ips[1], "fd00:10:96::b050");
	assert_int_equal(s->n_ports, 2);
	assert_int_equal(s->ports[0].node_port, 30181);
	assert_int_equal(s->ports[1].protocol, L4_UDP);
	assert_int_equal(s->ports[1].port, 69);
	assert_int_equal(s->ports[1].node_port, 32757);
	k8s_service_free(s);
}

static void test_local_loadbalancer_keeps_policies_and_health_port(void **state)
{
	struct k8s_service *s =
		load_service("synthetic/service-loadbalancer-local-full.json");

	assert_string_equal(s->namespace, "prod");
	assert_int_equal(s->external_policy, POLICY_LOCAL);
	assert_int_equal(s->internal_policy, POLICY_CLUSTER);
	assert_int_equal(s->health_check_node_port, 32000);
	assert_int_equal(s->n_external_ips, 1);
	assert_ip(&s->external_ips[0], "192.0.2.10");
	assert_int_equal(s->n_lb_ips, 1);
	assert_ip(&s->lb_ips[0], "203.0.113.7");
	assert_int_equal(s->ports[0].port, 443);
	assert_int_equal(s->ports[0].node_port, 31443);
	k8s_service_free(s);

	s = load_service("cilium/trafficpolicy-local-loadbalancer-service.json");
	assert_int_equal(s->external_policy, POLICY_LOCAL);
	assert_int_equal(s->internal_policy, POLICY_LOCAL);
	assert_ip(&s->lb_ips[0], "1.1.1.1");
	k8s_service_free(s);
}

static void test_ingress_with_only_hostname_is_skipped(void **state)
{
	static const struct { const char *name; size_t lb; } want[] = {
		{ "sessions", 1 }, { "projects", 0 }, { "events", 0 }, { "auth", 0 },
	};
	struct k8s_list_result res;
	struct collect c;
	size_t i;

	assert_int_equal(list_fixture(K8S_SERVICE,
				      "linkerd-servicelist-named-targetport-2017.json",
				      &c, &res), 0);
	assert_int_equal(c.n, 4);
	for (i = 0; i < 4; i++) {
		struct k8s_service *s = c.objs[i].service;

		assert_string_equal(s->name, want[i].name);
		assert_int_equal(s->n_lb_ips, want[i].lb);
		/* "admin" has no targetPort at all */
		assert_int_equal(s->ports[1].port, 9990);
	}
	assert_ip(&c.objs[0].service->lb_ips[0], "35.184.61.229");
	assert_ip(&c.objs[3].service->cluster_ips[0], "10.199.240.10");
	collect_free(&c);
}

static void test_legacy_global_traffic_policy_means_cluster(void **state)
{
	struct k8s_service *s = decode_service_ok(SVC_IP(
		"\"externalTrafficPolicy\":\"Global\","
		"\"internalTrafficPolicy\":\"Local\""));

	assert_int_equal(s->external_policy, POLICY_CLUSTER);
	assert_int_equal(s->internal_policy, POLICY_LOCAL);
	k8s_service_free(s);
	assert_rejected(K8S_SERVICE, SVC_IP("\"internalTrafficPolicy\":\"Global\""),
			"spec.internalTrafficPolicy: unknown policy");
}

static void test_clusterips_preferred_and_none_is_headless(void **state)
{
	struct k8s_service *s = decode_service_ok(SVC(
		"\"clusterIP\":\"10.0.0.9\","
		"\"clusterIPs\":[\"fd00::9\",\"10.0.0.9\"]"));

	assert_int_equal(s->n_cluster_ips, 2);
	assert_ip(&s->cluster_ips[0], "fd00::9");
	k8s_service_free(s);

	s = decode_service_ok(SVC("\"clusterIP\":\"None\",\"clusterIPs\":[\"None\"]"));
	assert_true(s->headless);
	assert_int_equal(s->n_cluster_ips, 0);
	k8s_service_free(s);

	s = decode_service_ok(SVC("\"clusterIP\":\"\""));
	assert_true(s->headless);
	k8s_service_free(s);

	assert_rejected(K8S_SERVICE, SVC("\"clusterIPs\":[\"10.0.0.1\",\"bogus\"]"),
			"Service default/web: spec.clusterIPs[1]: invalid IP address \"bogus\"");
	assert_rejected(K8S_SERVICE, SVC("\"clusterIPs\":[\"None\",\"10.0.0.1\"]"),
			"spec.clusterIPs: \"None\" must be the only entry");
}

static void test_affinity_timeout_bounds(void **state)
{
	struct k8s_service *s = decode_service_ok(SVC_IP(
		"\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
		"{\"clientIP\":{\"timeoutSeconds\":86400}}"));

	assert_int_equal(s->affinity_timeout, 86400);
	k8s_service_free(s);

	s = decode_service_ok(SVC_IP(
		"\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
		"{\"clientIP\":{\"timeoutSeconds\":1}}"));
	assert_int_equal(s->affinity_timeout, 1);
	k8s_service_free(s);
}

static void test_affinity_timeout_zero_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, SVC_IP(
		"\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
		"{\"clientIP\":{\"timeoutSeconds\":0}}"),
		"Service default/web: spec.sessionAffinityConfig.clientIP."
		"timeoutSeconds: 0 out of range (1..86400)");
}

static void test_affinity_timeout_above_one_day_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, SVC_IP(
		"\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
		"{\"clientIP\":{\"timeoutSeconds\":86401}}"),
		"spec.sessionAffinityConfig.clientIP.timeoutSeconds: 86401 out "
		"of range (1..86400)");
	assert_rejected(K8S_SERVICE, SVC_IP(
		"\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
		"{\"clientIP\":{\"timeoutSeconds\":\"3h\"}}"),
		"spec.sessionAffinityConfig.clientIP.timeoutSeconds: expected "
		"integer, got string");
	assert_rejected(K8S_SERVICE, SVC_IP("\"sessionAffinity\":\"Cookie\""),
			"spec.sessionAffinity: unknown affinity \"Cookie\"");
}

static void test_service_port_zero_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":0}]"),
			"Service default/web: spec.ports[0].port: 0 out of range "
			"(1..65535)");
}

static void test_service_port_out_of_range_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":80},"
					    "{\"port\":70000}]"),
			"Service default/web: spec.ports[1].port: 70000 out of "
			"range (1..65535)");
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":-80}]"),
			"spec.ports[0].port: -80 out of range");
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":1e300}]"),
			"spec.ports[0].port: 1e+300 out of range");
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":1e999}]"),
			"spec.ports[0].port: inf out of range");
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":80,"
					    "\"nodePort\":65536}]"),
			"spec.ports[0].nodePort: 65536 out of range (0..65535)");
}

static void test_service_port_as_string_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":\"80\"}]"),
			"Service default/web: spec.ports[0].port: expected "
			"integer, got string");
}

static void test_service_port_must_be_whole_number(void **state)
{
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":80.5}]"),
			"spec.ports[0].port: 80.5 is not an integer");
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"name\":\"x\"}]"),
			"spec.ports[0].port: missing");
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":null}]"),
			"spec.ports[0].port: missing");
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[80]"),
			"spec.ports[0]: expected object, got number");
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":{\"port\":80}"),
			"spec.ports: expected array, got object");
}

static void test_service_unknown_protocol_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":80,"
					    "\"protocol\":\"ICMP\"}]"),
			"Service default/web: spec.ports[0].protocol: unknown "
			"protocol \"ICMP\"");
	/* the API's enum is case sensitive */
	assert_rejected(K8S_SERVICE, SVC_IP("\"ports\":[{\"port\":80,"
					    "\"protocol\":\"tcp\"}]"),
			"spec.ports[0].protocol");
}

static void test_service_invalid_cluster_ip_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, SVC("\"clusterIP\":\"300.1.1.1\""),
			"Service default/web: spec.clusterIP: invalid IP address "
			"\"300.1.1.1\"");
	assert_rejected(K8S_SERVICE, SVC("\"clusterIP\":17"),
			"spec.clusterIP: expected string, got number");
	assert_rejected(K8S_SERVICE, SVC_IP("\"externalIPs\":[\"1.2.3\"]"),
			"spec.externalIPs[0]: invalid IP address");
}

static void test_service_cluster_ip_with_prefix_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, SVC("\"clusterIP\":\"1.2.3.4/24\""),
			"spec.clusterIP: invalid IP address \"1.2.3.4/24\"");
}

/* A bad IP written into status by a load-balancer controller costs that
 * entry only; ipMode Proxy entries are not programmed (KEP-1860). */
static void test_service_bad_or_proxy_mode_ingress_ips_are_skipped(void **state)
{
	struct k8s_object o;
	char err[256];
	cJSON *root = cJSON_Parse(
		"{\"metadata\":{\"name\":\"web\"},\"spec\":{},"
		"\"status\":{\"loadBalancer\":{\"ingress\":["
		"{\"hostname\":\"a.example\"},{\"ip\":\"1.2.3.400\"},"
		"{\"ip\":\"198.18.3.7\",\"ipMode\":\"Proxy\"},"
		"{\"ip\":\"198.18.3.8\",\"ipMode\":\"VIP\"}]}}}");

	assert_int_equal(k8s_object_decode(K8S_SERVICE, root, &o, err, sizeof(err)), 0);
	cJSON_Delete(root);
	assert_int_equal(o.service->n_lb_ips, 1);
	assert_ip(&o.service->lb_ips[0], "198.18.3.8");
	k8s_object_clear(&o);
}

static void test_service_missing_name_is_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, "{\"metadata\":{\"namespace\":\"prod\"},"
			"\"spec\":{}}", "Service prod/?: metadata.name: missing");
	assert_rejected(K8S_SERVICE, "{\"spec\":{}}",
			"Service default/?: metadata.name: missing");
	assert_rejected(K8S_SERVICE, "{\"metadata\":{\"name\":42}}",
			"metadata.name: expected string, got number");
	assert_rejected(K8S_SERVICE, "{\"metadata\":[]}",
			"Service ?/?: metadata: expected object, got array");
}

static void test_service_wrong_json_types_are_rejected(void **state)
{
	assert_rejected(K8S_SERVICE, "[]", "Service ?/?: expected a JSON object, got array");
	assert_rejected(K8S_SERVICE, "\"web\"", "expected a JSON object, got string");
	assert_rejected(K8S_SERVICE, "{\"metadata\":{\"name\":\"web\"},\"spec\":\"x\"}",
			"Service default/web: spec: expected object, got string");
	assert_rejected(K8S_SERVICE, "{\"metadata\":{\"name\":\"web\",\"labels\":\"x\"}}",
			"metadata.labels: expected object, got string");
	assert_rejected(K8S_SERVICE, SVC("\"type\":\"Magic\""),
			"spec.type: unknown type \"Magic\"");
	assert_rejected(K8S_SERVICE, SVC("\"type\":1"),
			"spec.type: expected string, got number");
	assert_rejected(K8S_SERVICE, SVC_IP("\"healthCheckNodePort\":true"),
			"spec.healthCheckNodePort: expected integer, got boolean");
	assert_rejected(K8S_SERVICE, SVC_IP("\"externalIPs\":\"1.2.3.4\""),
			"spec.externalIPs: expected array, got string");
	assert_rejected(K8S_SERVICE, "{\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"a\"}}",
			"kind: expected Service, got \"Endpoints\"");
}

static void test_error_message_has_no_control_characters(void **state)
{
	char err[256];

	assert_int_equal(decode_str(K8S_SERVICE,
				    SVC("\"clusterIP\":\"1.2.3.4\\nINJECTED\""),
				    err, sizeof(err)), -EINVAL);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "1.2.3.4?INJECTED"));

	/* a tiny buffer is filled, not overrun */
	assert_int_equal(decode_str(K8S_SERVICE, "[]", err, 8), -EINVAL);
	assert_string_equal(err, "Service");
	assert_int_equal(decode_str(K8S_SERVICE, "[]", NULL, 0), -EINVAL);
}

/* ---- EndpointSlices ---- */

static void test_terminating_endpoint_is_serving_but_not_ready(void **state)
{
	struct k8s_endpoint_slice *s =
		load_slice("website-endpointslice-terminating-gke.json", false);

	assert_string_equal(s->namespace, "default");
	assert_string_equal(s->name, "nginx-service-6tjbr");
	assert_string_equal(s->service_name, "nginx-service");
	assert_string_equal(s->resource_version, "");
	assert_int_equal(s->address_family, AF_INET);
	assert_int_equal(s->n_ports, 1);
	assert_string_equal(s->ports[0].name, "");
	assert_int_equal(s->ports[0].port, 80);
	assert_int_equal(s->ports[0].protocol, L4_TCP);
	assert_int_equal(s->n_endpoints, 2);
	assert_ip(&s->endpoints[0].addr, "10.12.1.201");
	assert_false(s->endpoints[0].ready);
	assert_true(s->endpoints[0].serving);
	assert_true(s->endpoints[0].terminating);
	assert_string_equal(s->endpoints[0].zone, "us-central1-c");
	assert_string_equal(s->endpoints[0].node_name,
			    "gke-main-default-pool-dca1511c-d17b");
	assert_ip(&s->endpoints[1].addr, "10.12.1.202");
	assert_true(s->endpoints[1].ready);
	assert_true(s->endpoints[1].serving);
	assert_false(s->endpoints[1].terminating);
	assert_null(s->next);
	k8s_endpoint_slice_free(s);

	s = load_slice("cilium/graceful-termination-endpointslice-1-terminating.json",
		       false);
	assert_string_equal(s->namespace, "test");
	assert_false(s->endpoints[0].ready);
	assert_true(s->endpoints[0].serving);
	assert_true(s->endpoints[0].terminating);
	assert_null(s->endpoints[0].zone);
	assert_int_equal(s->ports[0].port, 8081);
	k8s_endpoint_slice_free(s);
}

static void test_ipv6_slice_parses_ipv6_addresses(void **state)
{
	struct k8s_endpoint_slice *s =
		load_slice("cilium/dualstack-endpointslice-ipv6.json", false);

	assert_int_equal(s->address_family, AF_INET6);
	assert_string_equal(s->service_name, "echo-dualstack");
	assert_string_equal(s->resource_version, "798");
	assert_int_equal(s->n_endpoints, 2);
	assert_ip(&s->endpoints[0].addr, "fd00:10:244:2::a314");
	assert_ip(&s->endpoints[1].addr, "fd00:10:244:1::247e");
	assert_string_equal(s->endpoints[0].node_name, "dual-stack-worker2");
	assert_int_equal(s->n_ports, 2);
	assert_string_equal(s->ports[1].name, "tftp");
	assert_int_equal(s->ports[1].protocol, L4_UDP);
	assert_int_equal(s->ports[1].port, 69);
	k8s_endpoint_slice_free(s);
}

static void test_slice_without_conditions_is_ready_and_serving(void **state)
{
	struct k8s_endpoint_slice *s =
		load_slice("cilium/loadbalancer-endpointslice-no-conditions.json",
			   false);
	size_t i;

	assert_int_equal(s->n_endpoints, 2);
	for (i = 0; i < 2; i++) {
		assert_true(s->endpoints[i].ready);
		assert_true(s->endpoints[i].serving);
		assert_false(s->endpoints[i].terminating);
	}
	assert_string_equal(s->endpoints[1].node_name, "nodeport-worker2");
	k8s_endpoint_slice_free(s);
}

static void test_absent_serving_condition_reads_as_serving(void **state)
{
	struct k8s_object o;
	char err[256];
	cJSON *root = cJSON_Parse(SLICE(
		"\"addressType\":\"IPv4\",\"endpoints\":["
		"{\"addresses\":[\"10.1.0.1\"],\"conditions\":{\"ready\":false}},"
		"{\"addresses\":[\"10.1.0.2\",\"10.1.0.3\"],\"conditions\":{}}]"));

	assert_int_equal(k8s_object_decode(K8S_ENDPOINT_SLICE, root, &o, err,
					   sizeof(err)), 0);
	cJSON_Delete(root);
	assert_false(o.slice->endpoints[0].ready);
	assert_true(o.slice->endpoints[0].serving);
	assert_true(o.slice->endpoints[1].ready);
	assert_true(o.slice->endpoints[1].serving);
	assert_ip(&o.slice->endpoints[1].addr, "10.1.0.2");
	assert_int_equal(o.slice->n_ports, 0);
	k8s_object_clear(&o);
}

static void test_topology_slices_in_plain_list_keep_zones(void **state)
{
	struct k8s_list_result res;
	struct collect c;

	assert_int_equal(list_fixture(K8S_ENDPOINT_SLICE,
				      "cilium/topology-aware-endpointslices.json",
				      &c, &res), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(res.resource_version, "");
	assert_string_equal(c.objs[0].slice->endpoints[0].zone, "foo");
	assert_string_equal(c.objs[1].slice->endpoints[0].zone, "quux");
	assert_string_equal(c.objs[1].slice->service_name, "echo");
	collect_free(&c);
}

static void test_slice_port_may_be_unset(void **state)
{
	struct k8s_object o;
	char err[256];
	cJSON *root = cJSON_Parse(SLICE(
		"\"addressType\":\"IPv4\",\"ports\":[{\"port\":null},{}],"
		"\"endpoints\":null"));

	assert_int_equal(k8s_object_decode(K8S_ENDPOINT_SLICE, root, &o, err,
					   sizeof(err)), 0);
	cJSON_Delete(root);
	assert_int_equal(o.slice->n_ports, 2);
	assert_int_equal(o.slice->ports[0].port, 0);
	assert_string_equal(o.slice->ports[1].name, "");
	assert_int_equal(o.slice->ports[1].protocol, L4_TCP);
	assert_int_equal(o.slice->n_endpoints, 0);
	k8s_object_clear(&o);

	assert_accepted(K8S_ENDPOINT_SLICE, SLICE("\"addressType\":\"IPv6\","
						  "\"ports\":null"));
	assert_rejected(K8S_ENDPOINT_SLICE,
			SLICE("\"addressType\":\"IPv4\",\"ports\":[{\"port\":70000}]"),
			"EndpointSlice default/web-x: ports[0].port: 70000 out of "
			"range (1..65535)");
	assert_rejected(K8S_ENDPOINT_SLICE,
			SLICE("\"addressType\":\"IPv4\",\"ports\":[{\"port\":\"80\"}]"),
			"ports[0].port: expected integer, got string");
}

static void test_slice_with_invalid_address_is_rejected_whole(void **state)
{
	assert_rejected(K8S_ENDPOINT_SLICE, SLICE(
		"\"addressType\":\"IPv4\",\"endpoints\":["
		"{\"addresses\":[\"10.1.0.1\"]},{\"addresses\":[\"300.1.1.1\"]}]"),
		"EndpointSlice default/web-x: endpoints[1].addresses[0]: "
		"invalid IP address \"300.1.1.1\"");
	assert_rejected(K8S_ENDPOINT_SLICE, SLICE(
		"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"fd00::1\"]}]"),
		"endpoints[0].addresses[0]: \"fd00::1\" is not an IPv4 address");
	assert_rejected(K8S_ENDPOINT_SLICE, SLICE(
		"\"addressType\":\"IPv6\",\"endpoints\":[{\"addresses\":[\"10.0.0.1\"]}]"),
		"is not an IPv6 address");
	assert_rejected(K8S_ENDPOINT_SLICE, SLICE(
		"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[]}]"),
		"endpoints[0].addresses: missing");
	assert_rejected(K8S_ENDPOINT_SLICE, SLICE(
		"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[7]}]"),
		"endpoints[0].addresses[0]: expected IP address string, got number");
	assert_rejected(K8S_ENDPOINT_SLICE, SLICE(
		"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],"
		"\"conditions\":{\"ready\":\"yes\"}}]"),
		"endpoints[0].conditions.ready: expected boolean, got string");
	assert_rejected(K8S_ENDPOINT_SLICE, SLICE(
		"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],"
		"\"nodeName\":1}]"),
		"endpoints[0].nodeName: expected string, got number");
}

static void test_slice_address_type_is_required(void **state)
{
	struct k8s_object o;
	char err[256];
	cJSON *root = cJSON_Parse(SLICE(
		"\"addressType\":\"FQDN\",\"ports\":[{\"port\":443}],"
		"\"endpoints\":[{\"addresses\":[\"db.example.com\"]}]"));

	/* FQDN endpoints are DNS names: not parsed, not an error */
	assert_int_equal(k8s_object_decode(K8S_ENDPOINT_SLICE, root, &o, err,
					   sizeof(err)), 0);
	cJSON_Delete(root);
	assert_int_equal(o.slice->address_family, 0);
	assert_int_equal(o.slice->n_endpoints, 0);
	assert_int_equal(o.slice->ports[0].port, 443);
	k8s_object_clear(&o);

	assert_rejected(K8S_ENDPOINT_SLICE, SLICE("\"endpoints\":[]"),
			"EndpointSlice default/web-x: addressType: missing");
	assert_rejected(K8S_ENDPOINT_SLICE, SLICE("\"addressType\":\"ipv4\""),
			"addressType: unknown type \"ipv4\"");
	assert_rejected(K8S_ENDPOINT_SLICE,
			"{\"metadata\":{\"name\":\"a\",\"labels\":"
			"{\"kubernetes.io/service-name\":5}},\"addressType\":\"IPv4\"}",
			"metadata.labels.kubernetes.io/service-name: expected string");
}

/* ---- legacy Endpoints ---- */

static void test_not_ready_addresses_are_neither_ready_nor_serving(void **state)
{
	struct k8s_endpoint_slice *s =
		load_slice("synthetic/endpoints-notready-multiport.json", true);

	assert_string_equal(s->namespace, "default");
	assert_string_equal(s->name, "sticky");
	assert_string_equal(s->service_name, "sticky");
	assert_string_equal(s->resource_version, "2006");
	assert_int_equal(s->address_family, AF_INET);
	assert_int_equal(s->n_ports, 2);
	assert_string_equal(s->ports[0].name, "http");
	assert_int_equal(s->ports[0].port, 8080);
	assert_string_equal(s->ports[1].name, "dns");
	assert_int_equal(s->ports[1].protocol, L4_UDP);
	assert_int_equal(s->ports[1].port, 5353);
	assert_int_equal(s->n_endpoints, 2);
	assert_ip(&s->endpoints[0].addr, "10.244.1.5");
	assert_true(s->endpoints[0].ready);
	assert_true(s->endpoints[0].serving);
	assert_string_equal(s->endpoints[0].node_name, "node-a");
	assert_ip(&s->endpoints[1].addr, "10.244.2.6");
	assert_false(s->endpoints[1].ready);
	assert_false(s->endpoints[1].serving);
	assert_false(s->endpoints[1].terminating);
	assert_string_equal(s->endpoints[1].node_name, "node-b");
	assert_null(s->endpoints[1].zone);
	assert_null(s->next);
	k8s_endpoint_slice_free(s);
}

static void test_endpoints_with_null_subsets_is_one_empty_slice(void **state)
{
	struct k8s_endpoint_slice *s =
		load_slice("linkerd-endpoints-subsets-null.json", true);

	assert_string_equal(s->namespace, "srv");
	assert_string_equal(s->name, "empty-subset");
	assert_string_equal(s->service_name, "empty-subset");
	assert_string_equal(s->resource_version, "5962619");
	assert_int_equal(s->address_family, AF_INET);
	assert_int_equal(s->n_endpoints, 0);
	assert_int_equal(s->n_ports, 0);
	assert_null(s->next);
	k8s_endpoint_slice_free(s);
}

static void test_endpoints_list_keeps_item_with_null_subsets(void **state)
{
	struct k8s_list_result res;
	struct collect c;

	assert_int_equal(list_fixture(K8S_ENDPOINTS, "linkerd-endpointslist-2015.json",
				      &c, &res), 0);
	assert_int_equal(res.items, 3);
	assert_string_equal(res.resource_version, "17575669");
	assert_int_equal(c.objs[0].kind, K8S_ENDPOINTS);
	assert_string_equal(c.objs[0].slice->name, "accounts");
	assert_ip(&c.objs[0].slice->endpoints[0].addr, "10.248.9.109");
	assert_string_equal(c.objs[0].slice->ports[0].name, "josh");
	assert_null(c.objs[0].slice->endpoints[0].node_name);
	assert_string_equal(c.objs[2].slice->name, "empty-subset");
	assert_int_equal(c.objs[2].slice->n_endpoints, 0);
	collect_free(&c);
}

static void test_endpoints_subsets_become_linked_slices(void **state)
{
	struct k8s_object o;
	char err[256];
	cJSON *root = cJSON_Parse(EPS(
		"[{\"addresses\":[{\"ip\":\"10.0.0.1\"}],\"ports\":[{\"port\":80}]},"
		"{\"notReadyAddresses\":[{\"ip\":\"fd00::2\",\"nodeName\":\"n\"}],"
		"\"ports\":[{\"port\":81,\"protocol\":\"SCTP\"}]},"
		"{\"ports\":[{\"port\":82}]}]"));
	struct k8s_endpoint_slice *s;

	assert_int_equal(k8s_object_decode(K8S_ENDPOINTS, root, &o, err,
					   sizeof(err)), 0);
	cJSON_Delete(root);
	s = o.slice;
	assert_int_equal(s->address_family, AF_INET);
	assert_int_equal(s->ports[0].port, 80);
	s = s->next;
	assert_non_null(s);
	assert_string_equal(s->name, "web");
	assert_int_equal(s->address_family, AF_INET6);
	assert_false(s->endpoints[0].ready);
	assert_int_equal(s->ports[0].protocol, L4_SCTP);
	s = s->next;
	assert_non_null(s);
	assert_int_equal(s->address_family, AF_INET);
	assert_int_equal(s->n_endpoints, 0);
	assert_null(s->next);
	k8s_object_clear(&o);

	assert_accepted(K8S_ENDPOINTS, EPS("[]"));
}

static void test_endpoints_bad_address_rejects_object(void **state)
{
	assert_rejected(K8S_ENDPOINTS, EPS(
		"[{\"addresses\":[{\"ip\":\"10.0.0.1\"}]},"
		"{\"notReadyAddresses\":[{\"ip\":\"10.0.0.300\"}]}]"),
		"Endpoints default/web: subsets[1].notReadyAddresses[0].ip: "
		"invalid IP address \"10.0.0.300\"");
	assert_rejected(K8S_ENDPOINTS, EPS("[{\"addresses\":[{\"ip\":\"10.0.0.1\"},"
					   "{\"ip\":\"fd00::1\"}]}]"),
			"subsets[0].addresses[1].ip: \"fd00::1\" is not an IPv4 address");
	assert_rejected(K8S_ENDPOINTS, EPS("[{\"addresses\":[{\"hostname\":\"a\"}]}]"),
			"subsets[0].addresses[0].ip: missing");
	assert_rejected(K8S_ENDPOINTS, EPS("[{\"ports\":[{\"port\":0}]}]"),
			"subsets[0].ports[0].port: 0 out of range");
	assert_rejected(K8S_ENDPOINTS, EPS("{}"),
			"subsets: expected array, got object");
	assert_rejected(K8S_ENDPOINTS, EPS("[1]"),
			"subsets[0]: expected object, got number");
}

/* ---- watch events ---- */

static void test_watch_error_410_carries_code_and_message(void **state)
{
	struct events e;

	events_load(&e, K8S_SERVICE, "linkerd-watch-error-410.jsonl");
	assert_int_equal(e.n, 2);
	/* etcd2-era Status without code */
	assert_int_equal(e.ev[0].type, EV_ERROR);
	assert_int_equal(e.ev[0].code, 0);
	assert_non_null(strstr(e.ev[0].err_msg, "outdated and cleared"));
	assert_int_equal(e.ev[1].type, EV_ERROR);
	assert_int_equal(e.ev[1].code, 410);
	assert_string_equal(e.ev[1].err_msg,
			    "too old resource version: 62033480 (62353773)");
	assert_null(e.ev[1].obj.service);
	events_free(&e);

	events_load(&e, K8S_ENDPOINT_SLICE, "synthetic/watch-error-410-expired.jsonl");
	assert_int_equal(e.n, 1);
	assert_int_equal(e.ev[0].type, EV_ERROR);
	assert_int_equal(e.ev[0].code, 410);
	assert_string_equal(e.ev[0].err_msg, "too old resource version: 3001 (3050)");
	events_free(&e);
}

static void test_streaming_list_bookmarks_carry_resource_version(void **state)
{
	static const struct { enum k8s_event_type type; const char *rv; } want[] = {
		{ EV_ADDED, "3001" }, { EV_BOOKMARK, "3001" },
		{ EV_MODIFIED, "3005" }, { EV_BOOKMARK, "3100" },
		{ EV_DELETED, "3101" },
	};
	struct events e;
	size_t i;

	events_load(&e, K8S_SERVICE, "synthetic/watch-streaming-list-services.jsonl");
	assert_int_equal(e.n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(e.ev[i].type, want[i].type);
		assert_string_equal(e.ev[i].resource_version, want[i].rv);
		if (want[i].type == EV_BOOKMARK) {
			assert_null(e.ev[i].obj.service);
			assert_string_equal(e.ev[i].name, "");
		} else {
			assert_non_null(e.ev[i].obj.service);
			assert_string_equal(e.ev[i].name, "a");
			assert_string_equal(e.ev[i].namespace, "default");
		}
	}
	assert_ip(&e.ev[0].obj.service->cluster_ips[0], "10.96.0.10");
	events_free(&e);
}

static void test_watch_services_follow_port_and_ingress_changes(void **state)
{
	struct events e;

	events_load(&e, K8S_SERVICE, "linkerd-watch-services-gke-2016.jsonl");
	assert_int_equal(e.n, 5);
	assert_int_equal(e.ev[0].type, EV_MODIFIED);
	assert_int_equal(e.ev[0].obj.service->n_ports, 5);
	assert_int_equal(e.ev[1].obj.service->n_ports, 4);
	assert_ip(&e.ev[1].obj.service->lb_ips[0], "104.155.170.95");
	assert_ip(&e.ev[2].obj.service->lb_ips[0], "104.155.170.94");
	assert_int_equal(e.ev[3].type, EV_ADDED);
	assert_string_equal(e.ev[3].name, "foo");
	assert_int_equal(e.ev[4].type, EV_DELETED);
	assert_string_equal(e.ev[4].resource_version, "11624509");
	assert_int_equal(e.ev[4].obj.service->ports[4].port, 9991);
	events_free(&e);
}

static void test_watch_endpoints_scale_to_empty_subsets_and_back(void **state)
{
	struct events e;

	events_load(&e, K8S_ENDPOINTS, "linkerd-watch-endpoints-gke-2017.jsonl");
	assert_int_equal(e.n, 6);
	assert_int_equal(e.ev[0].obj.slice->n_endpoints, 3);
	assert_string_equal(e.ev[0].obj.slice->endpoints[2].node_name,
			    "gke-hosted-n1-standard-32-pool-3-c58b8cde-jpvz");
	assert_int_equal(e.ev[1].obj.slice->n_endpoints, 2);
	assert_int_equal(e.ev[2].obj.slice->n_endpoints, 0);
	assert_null(e.ev[2].obj.slice->next);
	assert_int_equal(e.ev[3].obj.slice->n_endpoints, 1);
	assert_ip(&e.ev[5].obj.slice->endpoints[1].addr, "10.196.5.88");
	events_free(&e);
}

static void test_watch_endpoints_unnamed_port_udp_and_not_ready(void **state)
{
	struct events e;
	size_t i;

	events_load(&e, K8S_ENDPOINTS, "linkerd-watch-endpoints-gke-2015.jsonl");
	assert_int_equal(e.n, 4);
	assert_string_equal(e.ev[1].obj.slice->ports[0].name, "");
	assert_int_equal(e.ev[1].obj.slice->ports[0].port, 443);
	assert_int_equal(e.ev[2].obj.slice->ports[1].protocol, L4_UDP);
	assert_int_equal(e.ev[2].obj.slice->ports[1].port, 53);
	assert_int_equal(e.ev[3].obj.slice->n_endpoints, 3);
	for (i = 0; i < 3; i++)
		assert_false(e.ev[3].obj.slice->endpoints[i].ready);
	events_free(&e);
}

static void raw_event(const char *line, size_t len, void *ctx)
{
	struct events *e = ctx;

	events_add(line, len, e);
}

static void test_raw_http_watch_body_decodes_after_headers(void **state)
{
	struct events e;
	size_t len;
	char *buf = read_fixture("raw-watch-services-http-2021.txt", &len);
	char *body = strstr(buf, "\n\n");

	assert_non_null(body);
	body += 2;
	memset(&e, 0, sizeof(e));
	e.kind = K8S_SERVICE;
	for_each_line(body, len - (size_t)(body - buf), raw_event, &e);
	free(buf);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.ev[0].name, "coredns");
	assert_string_equal(e.ev[0].namespace, "kube-system");
	assert_int_equal(e.ev[0].obj.service->n_ports, 3);
	assert_int_equal(e.ev[0].obj.service->ports[0].protocol, L4_UDP);
	assert_ip(&e.ev[1].obj.service->cluster_ips[0], "10.247.0.1");
	events_free(&e);
}

static void test_event_with_invalid_object_is_kept_with_reason(void **state)
{
	struct k8s_event ev;

	assert_int_equal(event_str(K8S_SERVICE,
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"web\","
		"\"namespace\":\"prod\",\"resourceVersion\":\"7\"},"
		"\"spec\":{\"ports\":[{\"port\":70000}]}}}", &ev), 0);
	assert_int_equal(ev.type, EV_ADDED);
	assert_null(ev.obj.service);
	assert_string_equal(ev.namespace, "prod");
	assert_string_equal(ev.name, "web");
	assert_string_equal(ev.resource_version, "7");
	assert_non_null(strstr(ev.err_msg, "Service prod/web: spec.ports[0].port: "
				"70000 out of range"));
	k8s_event_clear(&ev);

	/* an object of another kind in the stream */
	assert_int_equal(event_str(K8S_SERVICE,
		"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Endpoints\","
		"\"metadata\":{\"name\":\"web\"}}}", &ev), 0);
	assert_null(ev.obj.service);
	assert_string_equal(ev.namespace, "default");
	assert_non_null(strstr(ev.err_msg, "kind: expected Service"));
	k8s_event_clear(&ev);

	/* a resourceVersion that would not round-trip invalidates the object */
	assert_int_equal(event_str(K8S_SERVICE,
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"web\","
		"\"resourceVersion\":\"1234567890123456789012345678901234567890"
		"12345678901234567890123456789\"}}}", &ev), 0);
	assert_null(ev.obj.service);
	assert_string_equal(ev.resource_version, "");
	assert_string_equal(ev.err_msg, "Service default/web: "
			    "metadata.resourceVersion: longer than 63 bytes");
	k8s_event_clear(&ev);

	assert_int_equal(event_str(K8S_SERVICE,
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"web\","
		"\"resourceVersion\":12}}}", &ev), 0);
	assert_null(ev.obj.service);
	assert_non_null(strstr(ev.err_msg, "metadata.resourceVersion: expected string"));
	k8s_event_clear(&ev);

	assert_int_equal(event_str(K8S_ENDPOINT_SLICE,
		"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":7}}}",
		&ev), 0);
	assert_null(ev.obj.slice);
	assert_string_equal(ev.name, "");
	assert_non_null(strstr(ev.err_msg, "metadata.name: expected string"));
	k8s_event_clear(&ev);
}

static void assert_event_rejected(const char *line, size_t len, const char *want)
{
	struct k8s_event ev;
	int ret = k8s_event_decode(K8S_SERVICE, line, len, &ev);

	if (ret != -EINVAL || !strstr(ev.err_msg, want))
		fail_msg("want -EINVAL with \"%s\", got %d \"%s\"", want, ret,
			 ev.err_msg);
	assert_null(ev.obj.service);
	k8s_event_clear(&ev);
}

#define EVENT_REJECTED(s, want) assert_event_rejected(s, strlen(s), want)

static void test_malformed_event_lines_are_rejected(void **state)
{
	EVENT_REJECTED("", "malformed JSON");
	EVENT_REJECTED("{\"type\":\"ADDED\",", "malformed JSON");
	EVENT_REJECTED("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}",
		       "malformed JSON");
	EVENT_REJECTED("not json", "malformed JSON");
	EVENT_REJECTED("[{\"type\":\"ADDED\"}]", "expected a JSON object, got array");
	EVENT_REJECTED("{\"type\":\"ADDED\",\"object\":{}} {\"x\":1}", "trailing data");
	EVENT_REJECTED("{\"type\":\"UPSERTED\",\"object\":{}}",
		       "type: unknown \"UPSERTED\"");
	EVENT_REJECTED("{\"object\":{}}", "type: expected string, got nothing");
	EVENT_REJECTED("{\"type\":1,\"object\":{}}", "type: expected string, got number");
	EVENT_REJECTED("{\"type\":\"ADDED\",\"object\":[]}",
		       "object: expected object, got array");
	EVENT_REJECTED("{\"type\":\"ADDED\"}", "object: expected object, got nothing");
	EVENT_REJECTED("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
		       "BOOKMARK: object.metadata.resourceVersion: missing");
	EVENT_REJECTED("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
		       "{\"resourceVersion\":1}}}", "resourceVersion");
	EVENT_REJECTED("{\"type\":\"ERROR\",\"object\":{\"code\":\"410\"}}",
		       "object.code");
	EVENT_REJECTED("{\"type\":\"ERROR\",\"object\":{\"code\":410,\"message\":5}}",
		       "object.message: expected string");
}

static void test_event_line_needs_no_terminating_nul(void **state)
{
	static const char src[] = "{\"type\":\"BOOKMARK\",\"object\":"
				  "{\"metadata\":{\"resourceVersion\":\"42\"}}}\r\n";
	size_t len = sizeof(src) - 1;
	char *exact = malloc(len);	/* no NUL: ASan flags any over-read */
	struct k8s_event ev;

	assert_non_null(exact);
	memcpy(exact, src, len);
	assert_int_equal(k8s_event_decode(K8S_SERVICE, exact, len, &ev), 0);
	assert_int_equal(ev.type, EV_BOOKMARK);
	assert_string_equal(ev.resource_version, "42");
	k8s_event_clear(&ev);
	/* cut inside the string */
	assert_int_equal(k8s_event_decode(K8S_SERVICE, exact, 60, &ev), -EINVAL);
	free(exact);
}

static void test_event_line_over_16_mib_is_rejected(void **state)
{
	size_t len = (16u << 20) + 1;
	char *big = malloc(len);
	struct k8s_event ev;

	assert_non_null(big);
	memset(big, ' ', len);
	memcpy(big, "{\"type\":\"ERROR\",\"object\":{}}", 28);
	assert_int_equal(k8s_event_decode(K8S_SERVICE, big, len, &ev), -EINVAL);
	assert_non_null(strstr(ev.err_msg, "limit"));
	/* at the limit it is parsed */
	assert_int_equal(k8s_event_decode(K8S_SERVICE, big, len - 1, &ev), 0);
	assert_int_equal(ev.type, EV_ERROR);
	k8s_event_clear(&ev);
	free(big);
}

/* ---- lists ---- */

static void test_status_body_is_not_a_list(void **state)
{
	struct k8s_list_result res;
	struct collect c;

	assert_int_equal(list_fixture(K8S_SERVICE, "linkerd-status-404.json",
				      &c, &res), -EINVAL);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.n_err, 1);
	assert_non_null(strstr(c.last_err, "404"));
	assert_non_null(strstr(c.last_err, "services \"foo\" not found"));
	assert_null(res.continue_token);

	assert_int_equal(list_fixture(K8S_SERVICE,
				      "kubectl-recorded-status-422-invalid.json",
				      &c, &res), -EINVAL);
	assert_non_null(strstr(c.last_err, "422"));
}

static int list_str(const char *body, struct collect *c,
		    struct k8s_list_result *res)
{
	memset(c, 0, sizeof(*c));
	return k8s_list_decode(K8S_SERVICE, body, strlen(body), collect_item,
			       collect_err, c, res);
}

static void test_list_skips_invalid_items_and_keeps_continue(void **state)
{
	struct k8s_list_result res;
	struct collect c;

	assert_int_equal(list_str(
		"{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"9\","
		"\"continue\":\"abc\"},\"items\":["
		"{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\"}},"
		"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"clusterIP\":\"10.0.0.x\"}},"
		"{\"metadata\":{\"name\":\"c\"},\"spec\":{\"clusterIP\":\"10.0.0.3\"}}]}",
		&c, &res), 0);
	assert_int_equal(res.items, 2);
	assert_int_equal(res.invalid, 1);
	assert_string_equal(res.resource_version, "9");
	assert_string_equal(res.continue_token, "abc");
	assert_int_equal(c.n_err, 1);
	assert_string_equal(c.last_err, "Service default/b: spec.clusterIP: "
			    "invalid IP address \"10.0.0.x\"");
	/* the invalid item is named, so a relist can keep its last valid state */
	assert_string_equal(c.last_err_name, "default/b");
	assert_string_equal(c.objs[1].service->name, "c");
	collect_free(&c);
	free(res.continue_token);
}

static void test_list_with_null_items_is_empty(void **state)
{
	static const char nokind[] = "{\"items\":[{\"metadata\":{\"name\":\"a\"}}]}";
	struct k8s_list_result res;
	struct collect c;

	assert_int_equal(list_str("{\"kind\":\"ServiceList\",\"metadata\":"
				  "{\"resourceVersion\":\"5\",\"continue\":\"\"},"
				  "\"items\":null}", &c, &res), 0);
	assert_int_equal(res.items, 0);
	assert_string_equal(res.resource_version, "5");
	assert_null(res.continue_token);

	/* no result struct, no callbacks: objects are freed internally */
	assert_int_equal(k8s_list_decode(K8S_SERVICE, nokind, strlen(nokind),
					 NULL, NULL, NULL, NULL), 0);
}

static void test_non_list_bodies_are_rejected(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"kind\":\"Service\",\"items\":[]}",
		"{\"kind\":\"ServiceList\"}",
		"{\"kind\":\"ServiceList\",\"items\":{}}",
		"{\"kind\":7,\"items\":[]}",
		"{\"kind\":\"ServiceList\",\"metadata\":[],\"items\":[]}",
		"{\"kind\":\"ServiceList\",\"metadata\":{\"continue\":1},\"items\":[]}",
		"{\"kind\":\"ServiceList\",\"items\":[",
		"{\"kind\":\"EndpointsList\",\"items\":[]}",
		"{\"kind\":\"ServiceListList\",\"items\":[]}",
		"",
	};
	struct k8s_list_result res;
	struct collect c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (list_str(bad[i], &c, &res) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(c.n_err, 1);
		assert_true(strncmp(c.last_err, "list: ", 6) == 0);
		assert_null(res.continue_token);
	}
}

/* ---- robustness ---- */

static void test_deeply_nested_garbage_is_rejected(void **state)
{
	size_t depth = 100000, i;
	char *s = malloc(2 * depth + 1);
	char *obj = malloc(2 * 500 + 200);
	struct k8s_event ev;
	char *p;

	assert_non_null(s);
	assert_non_null(obj);
	for (i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth + i] = ']';
	}
	assert_int_equal(k8s_event_decode(K8S_SERVICE, s, 2 * depth, &ev), -EINVAL);
	free(s);

	/* nesting cJSON accepts, in a field we read */
	p = obj + sprintf(obj, "{\"type\":\"ADDED\",\"object\":{\"metadata\":"
			  "{\"name\":\"x\",\"labels\":");
	for (i = 0; i < 500; i++)
		*p++ = '[';
	for (i = 0; i < 500; i++)
		*p++ = ']';
	p += sprintf(p, "}}}");
	assert_int_equal(k8s_event_decode(K8S_SERVICE, obj, (size_t)(p - obj), &ev), 0);
	assert_null(ev.obj.service);
	assert_non_null(strstr(ev.err_msg, "metadata.labels: expected object"));
	k8s_event_clear(&ev);
	free(obj);
}

/* Every prefix and many single-byte mutations of real lines: the decoder
 * returns 0 or -EINVAL, never crashes or leaks (run under ASan/valgrind). */
static void mutate_line(enum k8s_kind kind, const char *line, size_t len)
{
	static const char subst[] = { '"', '1', '-', '{', ']', ':', 'x', '\0' };
	char *buf = malloc(len);
	struct k8s_event ev;
	size_t i, j;
	int ret;

	assert_non_null(buf);
	for (i = 0; i < len; i++) {
		ret = k8s_event_decode(kind, line, i, &ev);
		assert_int_equal(ret, -EINVAL);
		k8s_event_clear(&ev);
	}
	for (i = 0; i < len; i++) {
		for (j = 0; j < sizeof(subst); j++) {
			memcpy(buf, line, len);
			buf[i] = subst[j];
			ret = k8s_event_decode(kind, buf, len, &ev);
			assert_true(ret == 0 || ret == -EINVAL);
			k8s_event_clear(&ev);
		}
	}
	free(buf);
}

static void test_truncated_and_mutated_events_never_crash(void **state)
{
	cJSON *slice = load_json("website-endpointslice-terminating-gke.json");
	cJSON *ev = cJSON_CreateObject();
	char *line;
	size_t len;
	char *buf = read_fixture("synthetic/watch-streaming-list-services.jsonl",
				 &len);

	*strchr(buf, '\n') = '\0';
	mutate_line(K8S_SERVICE, buf, strlen(buf));
	free(buf);

	assert_non_null(ev);
	cJSON_AddStringToObject(ev, "type", "MODIFIED");
	cJSON_AddItemToObject(ev, "object", slice);
	line = cJSON_PrintUnformatted(ev);
	assert_non_null(line);
	mutate_line(K8S_ENDPOINT_SLICE, line, strlen(line));
	cJSON_free(line);
	cJSON_Delete(ev);

	buf = read_fixture("synthetic/endpoints-notready-multiport.json", &len);
	ev = cJSON_Parse("{\"type\":\"ADDED\"}");
	cJSON_AddItemToObject(ev, "object", cJSON_Parse(buf));
	free(buf);
	line = cJSON_PrintUnformatted(ev);
	mutate_line(K8S_ENDPOINTS, line, strlen(line));
	cJSON_free(line);
	cJSON_Delete(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_addr_parse_accepts_v4_and_v6_only_without_prefix),
		cmocka_unit_test(test_l4proto_names_and_numbers),
		cmocka_unit_test(test_every_fixture_decodes_or_is_rejected_as_expected),
		cmocka_unit_test(test_loadbalancer_service_keeps_cluster_ip_ports_and_ingress),
		cmocka_unit_test(test_servicelist_marks_cluster_ip_none_as_headless),
		cmocka_unit_test(test_clientip_affinity_without_config_defaults_to_10800),
		cmocka_unit_test(test_clientip_affinity_with_named_target_port),
		cmocka_unit_test(test_externalname_service_has_no_cluster_ip),
		cmocka_unit_test(test_service_proxy_name_label_is_detected),
		cmocka_unit_test(test_headless_label_is_detected),
		cmocka_unit_test(test_dualstack_service_has_both_cluster_ips),
		cmocka_unit_test(test_local_loadbalancer_keeps_policies_and_health_port),
		cmocka_unit_test(test_ingress_with_only_hostname_is_skipped),
		cmocka_unit_test(test_legacy_global_traffic_policy_means_cluster),
		cmocka_unit_test(test_clusterips_preferred_and_none_is_headless),
		cmocka_unit_test(test_affinity_timeout_bounds),
		cmocka_unit_test(test_affinity_timeout_zero_is_rejected),
		cmocka_unit_test(test_affinity_timeout_above_one_day_is_rejected),
		cmocka_unit_test(test_service_port_zero_is_rejected),
		cmocka_unit_test(test_service_port_out_of_range_is_rejected),
		cmocka_unit_test(test_service_port_as_string_is_rejected),
		cmocka_unit_test(test_service_port_must_be_whole_number),
		cmocka_unit_test(test_service_unknown_protocol_is_rejected),
		cmocka_unit_test(test_service_invalid_cluster_ip_is_rejected),
		cmocka_unit_test(test_service_cluster_ip_with_prefix_is_rejected),
		cmocka_unit_test(test_service_bad_or_proxy_mode_ingress_ips_are_skipped),
		cmocka_unit_test(test_service_missing_name_is_rejected),
		cmocka_unit_test(test_service_wrong_json_types_are_rejected),
		cmocka_unit_test(test_error_message_has_no_control_characters),
		cmocka_unit_test(test_terminating_endpoint_is_serving_but_not_ready),
		cmocka_unit_test(test_ipv6_slice_parses_ipv6_addresses),
		cmocka_unit_test(test_slice_without_conditions_is_ready_and_serving),
		cmocka_unit_test(test_absent_serving_condition_reads_as_serving),
		cmocka_unit_test(test_topology_slices_in_plain_list_keep_zones),
		cmocka_unit_test(test_slice_port_may_be_unset),
		cmocka_unit_test(test_slice_with_invalid_address_is_rejected_whole),
		cmocka_unit_test(test_slice_address_type_is_required),
		cmocka_unit_test(test_not_ready_addresses_are_neither_ready_nor_serving),
		cmocka_unit_test(test_endpoints_with_null_subsets_is_one_empty_slice),
		cmocka_unit_test(test_endpoints_list_keeps_item_with_null_subsets),
		cmocka_unit_test(test_endpoints_subsets_become_linked_slices),
		cmocka_unit_test(test_endpoints_bad_address_rejects_object),
		cmocka_unit_test(test_watch_error_410_carries_code_and_message),
		cmocka_unit_test(test_streaming_list_bookmarks_carry_resource_version),
		cmocka_unit_test(test_watch_services_follow_port_and_ingress_changes),
		cmocka_unit_test(test_watch_endpoints_scale_to_empty_subsets_and_back),
		cmocka_unit_test(test_watch_endpoints_unnamed_port_udp_and_not_ready),
		cmocka_unit_test(test_raw_http_watch_body_decodes_after_headers),
		cmocka_unit_test(test_event_with_invalid_object_is_kept_with_reason),
		cmocka_unit_test(test_malformed_event_lines_are_rejected),
		cmocka_unit_test(test_event_line_needs_no_terminating_nul),
		cmocka_unit_test(test_event_line_over_16_mib_is_rejected),
		cmocka_unit_test(test_status_body_is_not_a_list),
		cmocka_unit_test(test_list_skips_invalid_items_and_keeps_continue),
		cmocka_unit_test(test_list_with_null_items_is_empty),
		cmocka_unit_test(test_non_list_bodies_are_rejected),
		cmocka_unit_test(test_deeply_nested_garbage_is_rejected),
		cmocka_unit_test(test_truncated_and_mutated_events_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
