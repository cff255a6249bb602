/* Store: slices merged per Service, deletes, relist diff; model decisions
 * on top of it (named ports, readiness, terminating fallback, skips). */
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/socket.h>
#include "model.h"
#include "helpers.h"

#define SVC_WEB \
	"{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web\"}," \
	"\"spec\":{\"clusterIP\":\"198.19.0.10\",\"ports\":[" \
	"{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\"}," \
	"{\"name\":\"metrics\",\"port\":9100,\"targetPort\":9100}]}}"

/* A slice with one port and @eps (a JSON array body). */
static char *slice_json(const char *name, const char *port_name, int port, const char *eps)
{
	char *s;

	assert_true(asprintf(&s,
		"{\"metadata\":{\"namespace\":\"shop\",\"name\":\"%s\","
		"\"labels\":{\"kubernetes.io/service-name\":\"web\"}},"
		"\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"%s\",\"port\":%d}],"
		"\"endpoints\":[%s]}", name, port_name, port, eps) > 0);
	return s;
}

static void put_slice(struct store *st, const char *name, const char *port_name, int port,
		      const char *eps)
{
	char *s = slice_json(name, port_name, port, eps);

	put_json(st, K8S_ENDPOINT_SLICE, s);
	free(s);
}

static const struct model_config mc = { .family = AF_INET, .node_name = "node-a" };

static const struct svc_port *find(const struct model *m, const char *id)
{
	const struct svc_port *p = model_find(m, id);

	if (!p)
		fail_msg("no service port %s", id);
	return p;
}

static void expect_endpoints(const struct svc_port *p, const char *const *want, size_t n)
{
	char buf[64];

	assert_int_equal(p->n_endpoints, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s:%u",
			 ip_addr_str(&p->endpoints[i].addr, buf + 32, 32), p->endpoints[i].port);
		assert_string_equal(buf, want[i]);
	}
}

static void test_slices_of_one_service_are_merged(void **state)
{
	struct store *st = store_new();
	struct model m;
	size_t n;

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_slice(st, "web-a", "http", 8080, "{\"addresses\":[\"198.18.2.11\"]}");
	put_slice(st, "web-b", "http", 8080,
		  "{\"addresses\":[\"198.18.2.13\"]},{\"addresses\":[\"198.18.2.12\"]}");
	store_service_slices(st, "shop", "web", &n);
	assert_int_equal(n, 2);
	assert_int_equal(model_build(&m, st, &mc), 0);
	expect_endpoints(find(&m, "shop/web/tcp/http"), (const char *[]){
		"198.18.2.11:8080", "198.18.2.12:8080", "198.18.2.13:8080" }, 3);
	model_free(&m);
	store_free(st);
}

static void test_target_port_comes_from_the_slice_port_with_the_service_port_name(void **state)
{
	struct store *st = store_new();
	struct model m;

	put_json(st, K8S_SERVICE, SVC_WEB);
	/* the Service says targetPort "web"; the slice resolves it to 8443 */
	put_slice(st, "web-a", "http", 8443, "{\"addresses\":[\"198.18.2.11\"]}");
	put_slice(st, "web-m", "metrics", 9100, "{\"addresses\":[\"198.18.2.11\"]}");
	assert_int_equal(model_build(&m, st, &mc), 0);
	assert_int_equal(m.n, 2);
	expect_endpoints(find(&m, "shop/web/tcp/http"), (const char *[]){ "198.18.2.11:8443" }, 1);
	expect_endpoints(find(&m, "shop/web/tcp/metrics"), (const char *[]){ "198.18.2.11:9100" }, 1);
	model_free(&m);
	store_free(st);
}

static void test_not_ready_endpoints_are_not_used(void **state)
{
	struct store *st = store_new();
	struct model m;

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_slice(st, "web-a", "http", 8080,
		  "{\"addresses\":[\"198.18.2.11\"],\"conditions\":{\"ready\":false}},"
		  "{\"addresses\":[\"198.18.2.12\"],\"conditions\":{\"ready\":true}}");
	assert_int_equal(model_build(&m, st, &mc), 0);
	expect_endpoints(find(&m, "shop/web/tcp/http"), (const char *[]){ "198.18.2.12:8080" }, 1);
	model_free(&m);
	store_free(st);
}

/* The model keeps ready and serving-terminating endpoints (flagged); not
 * serving ones are gone. Which receive traffic is the ruleset's choice. */
static void test_model_keeps_serving_terminating_endpoints_flagged(void **state)
{
	struct store *st = store_new();
	const struct svc_port *p;
	struct model m;

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_slice(st, "web-a", "http", 8080,
		  "{\"addresses\":[\"198.18.2.11\"],\"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":true}},"
		  "{\"addresses\":[\"198.18.2.12\"],\"conditions\":{\"ready\":false,\"serving\":false,\"terminating\":true}}");
	put_slice(st, "web-b", "http", 8080, "{\"addresses\":[\"198.18.2.13\"]}");
	assert_int_equal(model_build(&m, st, &mc), 0);
	p = find(&m, "shop/web/tcp/http");
	expect_endpoints(p, (const char *[]){ "198.18.2.11:8080", "198.18.2.13:8080" }, 2);
	assert_false(p->endpoints[0].ready);
	assert_true(p->endpoints[1].ready);
	model_free(&m);
	store_free(st);
}

static void test_duplicate_endpoints_across_slices_are_merged(void **state)
{
	struct store *st = store_new();
	struct model m;

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_slice(st, "web-a", "http", 8080, "{\"addresses\":[\"198.18.2.11\"]}");
	put_slice(st, "web-b", "http", 8080, "{\"addresses\":[\"198.18.2.11\"]}");
	assert_int_equal(model_build(&m, st, &mc), 0);
	expect_endpoints(find(&m, "shop/web/tcp/http"), (const char *[]){ "198.18.2.11:8080" }, 1);
	model_free(&m);
	store_free(st);
}

static void test_deleting_a_slice_removes_its_endpoints(void **state)
{
	struct store *st = store_new();
	struct model m;

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_slice(st, "web-a", "http", 8080, "{\"addresses\":[\"198.18.2.11\"]}");
	put_slice(st, "web-b", "http", 8080, "{\"addresses\":[\"198.18.2.12\"]}");
	assert_int_equal(store_slice_delete(st, "shop", "web-a"), 0);
	assert_int_equal(store_slice_delete(st, "shop", "web-a"), -ENOENT);
	assert_int_equal(model_build(&m, st, &mc), 0);
	expect_endpoints(find(&m, "shop/web/tcp/http"), (const char *[]){ "198.18.2.12:8080" }, 1);
	model_free(&m);
	store_free(st);
}

static void test_replacing_a_slice_moves_it_between_services(void **state)
{
	struct store *st = store_new();
	size_t n;

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_slice(st, "web-a", "http", 8080, "{\"addresses\":[\"198.18.2.11\"]}");
	put_json(st, K8S_ENDPOINT_SLICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web-a\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"other\"}},"
		 "\"addressType\":\"IPv4\",\"endpoints\":[]}");
	store_service_slices(st, "shop", "web", &n);
	assert_int_equal(n, 0);
	store_service_slices(st, "shop", "other", &n);
	assert_int_equal(n, 1);
	assert_int_equal(store_slice_count(st), 1);
	store_free(st);
}

static void test_relist_deletes_objects_that_vanished(void **state)
{
	struct store *st = store_new();

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_json(st, K8S_SERVICE,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"gone\"},"
		 "\"spec\":{\"clusterIP\":\"198.19.0.11\",\"ports\":[{\"port\":80}]}}");
	put_slice(st, "web-a", "http", 8080, "{\"addresses\":[\"198.18.2.11\"]}");
	store_relist_begin(st, K8S_SERVICE);
	put_json(st, K8S_SERVICE, SVC_WEB);	/* only web is listed again */
	assert_int_equal(store_relist_end(st, K8S_SERVICE), 1);
	assert_null(store_service_get(st, "shop", "gone"));
	assert_non_null(store_service_get(st, "shop", "web"));
	/* a relist of Services leaves the slices alone */
	assert_int_equal(store_slice_count(st), 1);
	store_relist_begin(st, K8S_ENDPOINT_SLICE);
	assert_int_equal(store_relist_end(st, K8S_ENDPOINT_SLICE), 1);
	assert_int_equal(store_slice_count(st), 0);
	store_free(st);
}

static void test_relist_keeps_an_object_listed_in_an_invalid_state(void **state)
{
	struct store *st = store_new();

	put_json(st, K8S_SERVICE, SVC_WEB);
	store_relist_begin(st, K8S_SERVICE);
	/* web came back invalid: its last valid version stays */
	store_relist_keep(st, K8S_SERVICE, "shop", "web");
	store_relist_keep(st, K8S_SERVICE, "shop", "never-seen");
	assert_int_equal(store_relist_end(st, K8S_SERVICE), 0);
	assert_non_null(store_service_get(st, "shop", "web"));
	store_free(st);
}

static void test_headless_externalname_and_other_proxy_services_get_no_ports(void **state)
{
	struct store *st = store_new();
	struct model m;

	put_json(st, K8S_SERVICE,
		 "{\"metadata\":{\"namespace\":\"a\",\"name\":\"headless\"},"
		 "\"spec\":{\"clusterIP\":\"None\",\"ports\":[{\"port\":80}]}}");
	put_fixture(st, K8S_SERVICE, "synthetic/service-externalname.json");
	put_fixture(st, K8S_SERVICE, "synthetic/service-other-proxy.json");
	assert_int_equal(store_service_count(st), 3);
	assert_int_equal(model_build(&m, st, &mc), 0);
	assert_int_equal(m.n, 0);
	model_free(&m);
	store_free(st);
}

static void test_legacy_endpoints_feed_the_model(void **state)
{
	struct store *st = store_new();
	struct model m;

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_json(st, K8S_ENDPOINTS,
		 "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"web\"},\"subsets\":["
		 "{\"addresses\":[{\"ip\":\"198.18.2.11\"}],\"notReadyAddresses\":[{\"ip\":\"198.18.2.14\"}],"
		 "\"ports\":[{\"name\":\"http\",\"port\":8080}]},"
		 "{\"addresses\":[{\"ip\":\"198.18.2.12\"}],\"ports\":[{\"name\":\"metrics\",\"port\":9100}]}]}");
	assert_int_equal(model_build(&m, st, &mc), 0);
	expect_endpoints(find(&m, "shop/web/tcp/http"), (const char *[]){ "198.18.2.11:8080" }, 1);
	expect_endpoints(find(&m, "shop/web/tcp/metrics"), (const char *[]){ "198.18.2.12:9100" }, 1);
	model_free(&m);
	store_free(st);
}

static void test_endpoint_on_this_node_is_marked_local(void **state)
{
	struct store *st = store_new();
	struct model m;

	put_json(st, K8S_SERVICE, SVC_WEB);
	put_slice(st, "web-a", "http", 8080,
		  "{\"addresses\":[\"198.18.2.11\"],\"nodeName\":\"node-a\"},"
		  "{\"addresses\":[\"198.18.2.12\"],\"nodeName\":\"node-b\"}");
	assert_int_equal(model_build(&m, st, &mc), 0);
	assert_true(find(&m, "shop/web/tcp/http")->endpoints[0].local);
	assert_false(find(&m, "shop/web/tcp/http")->endpoints[1].local);
	model_free(&m);
	store_free(st);
}

static void test_ipv6_slices_do_not_feed_an_ipv4_model(void **state)
{
	struct store *st = store_new();
	struct model m;

	put_fixture(st, K8S_SERVICE, "cilium/dualstack-nodeport-service.json");
	put_fixture(st, K8S_ENDPOINT_SLICE, "cilium/dualstack-endpointslice-ipv4.json");
	put_fixture(st, K8S_ENDPOINT_SLICE, "cilium/dualstack-endpointslice-ipv6.json");
	assert_int_equal(model_build(&m, st, &mc), 0);
	assert_true(m.n > 0);
	for (size_t i = 0; i < m.n; i++) {
		assert_int_equal(m.ports[i].cluster_ip.family, AF_INET);
		for (size_t j = 0; j < m.ports[i].n_endpoints; j++)
			assert_int_equal(m.ports[i].endpoints[j].addr.family, AF_INET);
	}
	model_free(&m);
	store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slices_of_one_service_are_merged),
		cmocka_unit_test(test_target_port_comes_from_the_slice_port_with_the_service_port_name),
		cmocka_unit_test(test_not_ready_endpoints_are_not_used),
		cmocka_unit_test(test_model_keeps_serving_terminating_endpoints_flagged),
		cmocka_unit_test(test_duplicate_endpoints_across_slices_are_merged),
		cmocka_unit_test(test_deleting_a_slice_removes_its_endpoints),
		cmocka_unit_test(test_replacing_a_slice_moves_it_between_services),
		cmocka_unit_test(test_relist_deletes_objects_that_vanished),
		cmocka_unit_test(test_relist_keeps_an_object_listed_in_an_invalid_state),
		cmocka_unit_test(test_headless_externalname_and_other_proxy_services_get_no_ports),
		cmocka_unit_test(test_legacy_endpoints_feed_the_model),
		cmocka_unit_test(test_endpoint_on_this_node_is_marked_local),
		cmocka_unit_test(test_ipv6_slices_do_not_feed_an_ipv4_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
