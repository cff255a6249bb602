/* Ruleset generation: golden nft text for a few models, and the shape of
 * the rules that carry the semantics (round-robin, reject, masquerade). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/socket.h>
#include "backend/backend.h"
#include "model.h"
#include "ruleset.h"
#include "helpers.h"

static const struct model_config mc = { .family = AF_INET, .node_name = "node-a" };

static struct ruleset_config default_rc(void)
{
	struct ruleset_config rc = {
		.family = AF_INET,
		.table = "kube-nftproxy",
		.masquerade_bit = 0x4000,
	};
	return rc;
}

static char *render(struct store *st, const struct ruleset_config *rc)
{
	struct model m;
	struct ruleset rs = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	assert_int_equal(model_build(&m, st, &mc), 0);
	assert_int_equal(ruleset_build(&rs, &m, rc), 0);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(ruleset_print(&rs, f), 0);
	fclose(f);
	ruleset_free(&rs);
	model_free(&m);
	return text;
}

/* Compare with tests/golden/@name; KNP_UPDATE_GOLDEN=1 rewrites it. */
static void expect_golden(const char *text, const char *name)
{
	const char *src = getenv("KNP_SRCDIR");
	char *path, *want;

	assert_true(asprintf(&path, "%s/tests/golden/%s", src ? src : ".", name) > 0);
	if (getenv("KNP_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(text, f);
		fclose(f);
	}
	want = slurp(path);
	if (!want)
		fail_msg("missing golden file %s (KNP_UPDATE_GOLDEN=1 writes it)", path);
	if (strcmp(want, text)) {
		fprintf(stderr, "--- %s\n+++ generated\n%s\n", path, text);
		fail_msg("output differs from %s", path);
	}
	free(want);
	free(path);
}

#define WEB_SVC \
	"{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web\"},\"spec\":{\"type\":\"NodePort\"," \
	"\"clusterIP\":\"198.19.0.10\",\"externalIPs\":[\"198.18.1.100\"],\"ports\":[" \
	"{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\",\"nodePort\":30080}]}}"
#define WEB_SLICE \
	"{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\"," \
	"\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\"," \
	"\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[" \
	"{\"addresses\":[\"198.18.2.11\"]},{\"addresses\":[\"198.18.2.12\"]}," \
	"{\"addresses\":[\"198.18.2.13\"]},{\"addresses\":[\"198.18.2.14\"],\"conditions\":{\"ready\":false}}]}"
#define DNS_SVC \
	"{\"metadata\":{\"namespace\":\"kube-system\",\"name\":\"dns\"},\"spec\":{" \
	"\"clusterIP\":\"198.19.0.53\",\"ports\":[{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53}," \
	"{\"name\":\"dns-tcp\",\"protocol\":\"TCP\",\"port\":53}]}}"

static void test_golden_nodeport_service_and_service_without_endpoints(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	char *text;

	put_json(st, K8S_SERVICE, WEB_SVC);
	put_json(st, K8S_ENDPOINT_SLICE, WEB_SLICE);
	put_json(st, K8S_SERVICE, DNS_SVC);
	text = render(st, &rc);
	expect_golden(text, "nodeport-and-no-endpoints.nft");
	free(text);
	store_free(st);
}

static void test_golden_cluster_cidr_and_nodeport_addresses(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	char *text;

	rc.n_cluster_cidrs = 2;
	assert_int_equal(ip_prefix_parse("198.18.0.0/16", &rc.cluster_cidrs[0]), 0);
	assert_int_equal(ip_prefix_parse("198.19.128.0/17", &rc.cluster_cidrs[1]), 0);
	rc.n_nodeport_cidrs = 1;
	assert_int_equal(ip_prefix_parse("198.18.1.0/24", &rc.nodeport_cidrs[0]), 0);
	put_json(st, K8S_SERVICE, WEB_SVC);
	put_json(st, K8S_ENDPOINT_SLICE, WEB_SLICE);
	text = render(st, &rc);
	expect_golden(text, "cluster-cidr-nodeport-addresses.nft");
	free(text);
	store_free(st);
}

static void test_golden_real_loadbalancer_fixture(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	char *text;

	put_fixture(st, K8S_SERVICE, "cilium/loadbalancer-class-service.json");
	put_fixture(st, K8S_ENDPOINT_SLICE, "cilium/loadbalancer-endpointslice-no-conditions.json");
	put_fixture(st, K8S_SERVICE, "cilium/dualstack-nodeport-service.json");
	put_fixture(st, K8S_ENDPOINT_SLICE, "cilium/dualstack-endpointslice-ipv4.json");
	put_fixture(st, K8S_ENDPOINT_SLICE, "cilium/dualstack-endpointslice-ipv6.json");
	text = render(st, &rc);
	expect_golden(text, "fixtures-loadbalancer-dualstack.nft");
	free(text);
	store_free(st);
}

static void test_golden_affinity_and_local_traffic_policies(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	char *text;

	rc.n_cluster_cidrs = 1;
	assert_int_equal(ip_prefix_parse("198.18.2.0/24", &rc.cluster_cidrs[0]), 0);
	put_json(st, K8S_SERVICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"sticky\"},\"spec\":{"
		 "\"clusterIP\":\"198.19.0.55\",\"sessionAffinity\":\"ClientIP\","
		 "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":60}},"
		 "\"ports\":[{\"name\":\"http\",\"port\":80}]}}");
	put_json(st, K8S_SERVICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"local\"},\"spec\":{"
		 "\"type\":\"LoadBalancer\",\"clusterIP\":\"198.19.0.56\","
		 "\"externalTrafficPolicy\":\"Local\",\"internalTrafficPolicy\":\"Local\","
		 "\"ports\":[{\"name\":\"http\",\"port\":80,\"nodePort\":30056}]},"
		 "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"198.18.3.100\"}]}}}");
	put_json(st, K8S_SERVICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"remote\"},\"spec\":{"
		 "\"type\":\"NodePort\",\"clusterIP\":\"198.19.0.57\","
		 "\"externalTrafficPolicy\":\"Local\","
		 "\"ports\":[{\"name\":\"http\",\"port\":80,\"nodePort\":30057}]}}");
	put_json(st, K8S_SERVICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"fw\"},\"spec\":{"
		 "\"type\":\"LoadBalancer\",\"clusterIP\":\"198.19.0.58\","
		 "\"loadBalancerSourceRanges\":[\"198.18.1.0/24\",\"2001:db8::/32\"],"
		 "\"ports\":[{\"name\":\"http\",\"port\":80,\"nodePort\":30058}]},"
		 "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"198.18.3.58\"}]}}}");
	for (int i = 0; i < 4; i++) {
		static const char *const names[] = { "sticky", "local", "remote", "fw" };
		char *json;

		assert_true(asprintf(&json,
			"{\"metadata\":{\"namespace\":\"shop\",\"name\":\"%s-1\","
			"\"labels\":{\"kubernetes.io/service-name\":\"%s\"}},\"addressType\":\"IPv4\","
			"\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":["
			"{\"addresses\":[\"198.18.2.11\"],\"nodeName\":\"%s\"},"
			"{\"addresses\":[\"198.18.2.12\"],\"nodeName\":\"node-b\"}]}",
			names[i], names[i], i == 2 ? "node-b" : "node-a") > 0);
		put_json(st, K8S_ENDPOINT_SLICE, json);
		free(json);
	}
	text = render(st, &rc);
	expect_golden(text, "affinity-and-local-policies.nft");
	/* loadBalancerSourceRanges: only the IPv4 range applies to table ip */
	assert_non_null(strstr(text, "chain fw-shop/fw/tcp/http {\n"
			       "\t\tip saddr 198.18.1.0/24 return\n\t\tdrop\n"));
	assert_non_null(strstr(text, "198.18.3.58 . tcp . 80 : goto fw-shop/fw/tcp/http"));
	/* eTP=Local with no endpoint on this node: external traffic drops */
	assert_non_null(strstr(text, "chain ext-shop/remote/tcp/http {\n"
			       "\t\tip saddr 198.18.2.0/24 goto svc-shop/remote/tcp/http\n"
			       "\t\tfib saddr type local jump mark-for-masquerade\n"
			       "\t\tfib saddr type local goto svc-shop/remote/tcp/http\n"
			       "\t\tdrop\n"));
	free(text);
	store_free(st);
}

/* Rule i of an N-endpoint chain is "numgen inc mod (N-i) == 0 goto ep-i":
 * simulate the per-rule counters the kernel keeps and check that 3 * N
 * connections visit each endpoint exactly 3 times, in order. */
static void test_round_robin_chain_visits_endpoints_in_order(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	struct model m;
	struct ruleset rs = { 0 };
	const struct chain *svc;
	uint32_t counters[8] = { 0 };
	int hits[8] = { 0 };

	put_json(st, K8S_SERVICE, WEB_SVC);
	put_json(st, K8S_ENDPOINT_SLICE, WEB_SLICE);
	assert_int_equal(model_build(&m, st, &mc), 0);
	assert_int_equal(ruleset_build(&rs, &m, &rc), 0);
	svc = ruleset_chain(&rs, "svc-shop/web/tcp/http");
	assert_non_null(svc);
	assert_int_equal(svc->n_rules, 3);
	for (int conn = 0; conn < 9; conn++) {
		size_t r;

		for (r = 0; r < svc->n_rules; r++) {
			const struct stmt *s = &svc->rules[r].s[0];

			if (s->kind != ST_NUMGEN_EQ)
				break;	/* the last rule always matches */
			if (counters[r]++ % s->a == s->b)
				break;
		}
		assert_int_equal((int)r, conn % 3);
		hits[r]++;
	}
	assert_int_equal(hits[0], 3);
	assert_int_equal(hits[1], 3);
	assert_int_equal(hits[2], 3);
	ruleset_free(&rs);
	model_free(&m);
	store_free(st);
}

/* KEP-1669: ready endpoints take the traffic; without one, the serving
 * terminating ones do; and the same holds separately for node-local
 * traffic (eTP=Local): a local terminating endpoint beats dropping. */
static void test_terminating_endpoints_are_a_fallback_for_cluster_and_local_traffic(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	char *text;

	put_json(st, K8S_SERVICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"lb\"},\"spec\":{"
		 "\"type\":\"NodePort\",\"clusterIP\":\"198.19.0.60\",\"externalTrafficPolicy\":\"Local\","
		 "\"ports\":[{\"name\":\"http\",\"port\":80,\"nodePort\":30060}]}}");
	put_json(st, K8S_ENDPOINT_SLICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"lb-1\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"lb\"}},\"addressType\":\"IPv4\","
		 "\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":["
		 "{\"addresses\":[\"198.18.2.11\"],\"nodeName\":\"node-a\","
		 "\"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":true}},"
		 "{\"addresses\":[\"198.18.2.12\"],\"nodeName\":\"node-b\"}]}");
	text = render(st, &rc);
	/* cluster traffic: the ready remote endpoint only */
	assert_non_null(strstr(text, "chain svc-shop/lb/tcp/http {\n"
			       "\t\tgoto ep-shop/lb/tcp/http/198.18.2.12/8080\n"));
	/* external traffic: no local ready endpoint, so the local terminating one */
	assert_non_null(strstr(text, "\t\tfib saddr type local goto svc-shop/lb/tcp/http\n"
			       "\t\tgoto ep-shop/lb/tcp/http/198.18.2.11/8080\n"));
	free(text);
	store_free(st);
}

/* Below RR_VMAP_MIN endpoints: one numgen rule per endpoint; from it on:
 * one rule with a verdict map over all of them, in endpoint order. */
static void test_large_services_balance_through_one_verdict_map(void **state)
{
	for (int n = RR_VMAP_MIN - 1; n <= RR_VMAP_MIN; n++) {
		struct store *st = store_new();
		struct ruleset_config rc = default_rc();
		struct ruleset rs = { 0 };
		const struct chain *svc;
		struct model m;
		char *eps = NULL, *json;
		size_t len = 0;
		FILE *f = open_memstream(&eps, &len);

		for (int i = 0; i < n; i++)
			fprintf(f, "%s{\"addresses\":[\"198.18.4.%d\"]}", i ? "," : "", i + 1);
		fclose(f);
		assert_true(asprintf(&json,
			"{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\","
			"\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
			"\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[%s]}", eps) > 0);
		put_json(st, K8S_SERVICE, WEB_SVC);
		put_json(st, K8S_ENDPOINT_SLICE, json);
		assert_int_equal(model_build(&m, st, &mc), 0);
		assert_int_equal(ruleset_build(&rs, &m, &rc), 0);
		svc = ruleset_chain(&rs, "svc-shop/web/tcp/http");
		if (n < RR_VMAP_MIN) {
			assert_int_equal(svc->n_rules, n);
			assert_int_equal(svc->rules[0].s[0].kind, ST_NUMGEN_EQ);
		} else {
			assert_int_equal(svc->n_rules, 1);
			assert_int_equal(svc->rules[0].s[0].kind, ST_NUMGEN_VMAP);
			assert_int_equal(svc->rules[0].s[0].a, n);
			assert_string_equal(svc->rules[0].s[0].names[0],
					    "ep-shop/web/tcp/http/198.18.4.1/8080");
		}
		ruleset_free(&rs);
		model_free(&m);
		store_free(st);
		free(json);
		free(eps);
	}
}

static void test_service_without_endpoints_is_rejected_not_dnatted(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	struct model m;
	struct ruleset rs = { 0 };

	put_json(st, K8S_SERVICE, DNS_SVC);
	assert_int_equal(model_build(&m, st, &mc), 0);
	assert_int_equal(ruleset_build(&rs, &m, &rc), 0);
	assert_int_equal(rs.maps[MAP_SERVICE_IPS].n, 0);
	assert_int_equal(rs.maps[MAP_NO_ENDPOINT_SERVICES].n, 2);
	assert_string_equal(rs.maps[MAP_NO_ENDPOINT_SERVICES].elems[0].chain, "reject-chain");
	assert_null(ruleset_chain(&rs, "svc-kube-system/dns/udp/dns"));
	ruleset_free(&rs);
	model_free(&m);
	store_free(st);
}

static void test_two_services_claiming_one_nodeport_keep_one_element(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	struct model m;
	struct ruleset rs = { 0 };

	put_json(st, K8S_SERVICE, WEB_SVC);
	put_json(st, K8S_ENDPOINT_SLICE, WEB_SLICE);
	put_json(st, K8S_SERVICE,
		 "{\"metadata\":{\"namespace\":\"zzz\",\"name\":\"web\"},\"spec\":{\"type\":\"NodePort\","
		 "\"clusterIP\":\"198.19.0.20\",\"ports\":[{\"name\":\"http\",\"port\":80,\"nodePort\":30080}]}}");
	put_json(st, K8S_ENDPOINT_SLICE,
		 "{\"metadata\":{\"namespace\":\"zzz\",\"name\":\"web-1\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
		 "\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[{\"addresses\":[\"198.18.2.21\"]}]}");
	assert_int_equal(model_build(&m, st, &mc), 0);
	assert_int_equal(ruleset_build(&rs, &m, &rc), 0);
	assert_int_equal(rs.maps[MAP_SERVICE_NODEPORTS].n, 1);
	assert_string_equal(rs.maps[MAP_SERVICE_NODEPORTS].elems[0].chain, "ext-shop/web/tcp/http");
	ruleset_free(&rs);
	model_free(&m);
	store_free(st);
}

static void test_unchanged_chains_compare_equal_and_changed_ones_do_not(void **state)
{
	struct store *st = store_new();
	struct ruleset_config rc = default_rc();
	struct model m1, m2;
	struct ruleset a = { 0 }, b = { 0 };

	put_json(st, K8S_SERVICE, WEB_SVC);
	put_json(st, K8S_ENDPOINT_SLICE, WEB_SLICE);
	assert_int_equal(model_build(&m1, st, &mc), 0);
	assert_int_equal(ruleset_build(&a, &m1, &rc), 0);
	put_json(st, K8S_ENDPOINT_SLICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-1\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
		 "\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[{\"addresses\":[\"198.18.2.11\"]}]}");
	assert_int_equal(model_build(&m2, st, &mc), 0);
	assert_int_equal(ruleset_build(&b, &m2, &rc), 0);
	assert_true(chain_rules_equal(ruleset_chain(&a, "ext-shop/web/tcp/http"),
				      ruleset_chain(&b, "ext-shop/web/tcp/http")));
	assert_false(chain_rules_equal(ruleset_chain(&a, "svc-shop/web/tcp/http"),
				       ruleset_chain(&b, "svc-shop/web/tcp/http")));
	assert_null(ruleset_chain(&b, "ep-shop/web/tcp/http/198.18.2.12/8080"));
	ruleset_free(&a);
	ruleset_free(&b);
	model_free(&m1);
	model_free(&m2);
	store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_nodeport_service_and_service_without_endpoints),
		cmocka_unit_test(test_golden_cluster_cidr_and_nodeport_addresses),
		cmocka_unit_test(test_golden_real_loadbalancer_fixture),
		cmocka_unit_test(test_golden_affinity_and_local_traffic_policies),
		cmocka_unit_test(test_round_robin_chain_visits_endpoints_in_order),
		cmocka_unit_test(test_terminating_endpoints_are_a_fallback_for_cluster_and_local_traffic),
		cmocka_unit_test(test_large_services_balance_through_one_verdict_map),
		cmocka_unit_test(test_service_without_endpoints_is_rejected_not_dnatted),
		cmocka_unit_test(test_two_services_claiming_one_nodeport_keep_one_element),
		cmocka_unit_test(test_unchanged_chains_compare_equal_and_changed_ones_do_not),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
