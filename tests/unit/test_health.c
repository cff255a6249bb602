/* Health endpoints: /healthz and /livez verdicts, /metrics exposition,
 * health-check node ports following the synced Service set.
 *
 * The test is its own event loop: a blocking connect to 127.0.0.1 completes
 * in the kernel's backlog, then we poll health_fd() and the client socket
 * together, calling health_run(), until the server closes the connection.
 * Every wait is bounded by a deadline. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* strcasestr */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "health.h"

#define PERIOD_MS	1000
#define DEADLINE_MS	5000

struct fake_daemon {
	int64_t last_sync_ago_ms;	/* -1: never synced */
	int64_t clock_skew_ms;		/* added to the real wall clock */
	struct health_metric metrics[4];
	size_t n_metrics;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fake_status(void *ctx, struct health_status *out)
{
	struct fake_daemon *fd = ctx;

	out->now_unix_ms = wall_ms() + fd->clock_skew_ms;
	out->last_sync_unix_ms = fd->last_sync_ago_ms < 0 ? 0 :
				 out->now_unix_ms - fd->last_sync_ago_ms;
	out->sync_period_ms = PERIOD_MS;
	out->watching = true;
}

static size_t fake_metrics(void *ctx, struct health_metric *out, size_t max)
{
	struct fake_daemon *fd = ctx;
	size_t n = fd->n_metrics < max ? fd->n_metrics : max;

	memcpy(out, fd->metrics, n * sizeof(*out));
	return n;
}

/* A port free on all addresses right now (someone may still take it: the
 * callers retry on EADDRINUSE). */
static uint16_t free_port(void)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	socklen_t len = sizeof(sa);
	int zero = 0, fd;
	uint16_t port;

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin6_port);
	close(fd);
	return port;
}

/* Start with "127.0.0.1:P" for healthz and, unless @metrics_same, another
 * free port on 127.0.0.1 for metrics. */
static struct health *start(struct fake_daemon *fd, uint16_t *hport, uint16_t *mport,
			    bool metrics_same)
{
	char ha[32], ma[32];

	for (int attempt = 0; attempt < 5; attempt++) {
		struct health *h;

		*hport = free_port();
		*mport = metrics_same ? *hport : free_port();
		if (*mport == *hport && !metrics_same)
			continue;
		snprintf(ha, sizeof(ha), "127.0.0.1:%u", *hport);
		snprintf(ma, sizeof(ma), "127.0.0.1:%u", *mport);
		h = health_start(ha, ma, fake_status, fake_metrics, fd);
		if (h)
			return h;
		assert_int_equal(errno, EADDRINUSE);
	}
	fail_msg("no free ports");
	return NULL;
}

struct resp {
	int code;
	char head[2048];
	char body[8192];
};

/* Send @req to 127.0.0.1:@port and serve until the server closes. Returns
 * 0 (@r filled), or -errno of connect (ECONNREFUSED). */
static int http_raw(struct health *h, uint16_t port, const char *req, size_t req_len,
		    struct resp *r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char buf[16384], *sep;
	int64_t deadline = mono_ms() + DEADLINE_MS;
	size_t got = 0;
	int c, err;

	memset(r, 0, sizeof(*r));
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(c);
		return err;
	}
	assert_int_equal(send(c, req, req_len, MSG_NOSIGNAL), (ssize_t)req_len);
	for (;;) {
		struct pollfd p[2] = { { .fd = health_fd(h), .events = POLLIN },
				       { .fd = c, .events = POLLIN } };
		int t = health_timeout_ms(h);
		ssize_t n;

		if (mono_ms() > deadline)
			fail_msg("no complete answer within %d ms", DEADLINE_MS);
		if (t < 0 || t > 50)
			t = 50;
		assert_true(poll(p, 2, t) >= 0);
		health_run(h);
		if (!(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(c, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			break;	/* closed, or reset (garbage requests) */
		got += n;
		assert_true(got < sizeof(buf) - 1);
	}
	close(c);
	buf[got] = '\0';
	sep = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.%*d %d", &r->code) != 1 || !sep)
		return 0;	/* code stays 0: no HTTP answer */
	snprintf(r->head, sizeof(r->head), "%.*s", (int)(sep - buf), buf);
	snprintf(r->body, sizeof(r->body), "%s", sep + 4);
	return 0;
}

static int http(struct health *h, uint16_t port, const char *method, const char *path,
		struct resp *r)
{
	char req[256];
	int len = snprintf(req, sizeof(req),
			   "%s %s HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n",
			   method, path);

	return http_raw(h, port, req, len, r);
}

static void get_ok(struct health *h, uint16_t port, const char *path, struct resp *r)
{
	assert_int_equal(http(h, port, "GET", path, r), 0);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strcasestr(hay, needle))
		fail_msg("\"%s\" not in:\n%s", needle, hay);
}

/* ---- /healthz, /livez ---- */

static void test_healthz_ok_after_fresh_sync(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = PERIOD_MS };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct resp r;

	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 200);
	assert_contains(r.head, "Content-Type: application/json");
	assert_contains(r.head, "X-Content-Type-Options: nosniff");
	assert_contains(r.body, "\"lastUpdated\": \"20");
	assert_contains(r.body, "\"currentTime\": \"20");
	assert_contains(r.body, "Z\",\"nodeEligible\": true}");
	get_ok(h, hp, "/livez", &r);
	assert_int_equal(r.code, 200);
	health_stop(h);
}

static void test_healthz_unavailable_after_stale_sync(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = 2 * PERIOD_MS + 1 };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct resp r;

	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 503);
	assert_contains(r.head, "Content-Type: application/json");
	assert_contains(r.body, "\"nodeEligible\": true");
	get_ok(h, hp, "/livez", &r);
	assert_int_equal(r.code, 503);

	fd.last_sync_ago_ms = 2 * PERIOD_MS - 100;	/* a sync came through */
	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 200);
	health_stop(h);
}

static void test_healthz_startup_grace_then_unavailable_without_sync(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = -1 };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct resp r;

	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 200);
	fd.clock_skew_ms = 3 * PERIOD_MS;	/* still no sync, grace is over */
	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 503);
	health_stop(h);
}

/* ---- /metrics ---- */

static void test_metrics_exposition_format(void **state)
{
	struct fake_daemon fd = {
		.last_sync_ago_ms = 0,
		.metrics = {
			{ "kubenftproxy_sync_total", "Syncs done.", false, 42 },
			{ "kubenftproxy_services", "Services\\known\nnow.", true, 0.25 },
			{ "bad name", "skipped", true, 1 },
		},
		.n_metrics = 3,
	};
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct resp r;

	get_ok(h, mp, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_contains(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
	assert_contains(r.head, "X-Content-Type-Options: nosniff");
	assert_contains(r.body, "# HELP kubenftproxy_sync_total Syncs done.\n"
				"# TYPE kubenftproxy_sync_total counter\n"
				"kubenftproxy_sync_total 42\n");
	assert_contains(r.body, "# HELP kubenftproxy_services Services\\\\known\\nnow.\n"
				"# TYPE kubenftproxy_services gauge\n"
				"kubenftproxy_services 0.25\n");
	assert_contains(r.body, "# TYPE kubenftproxy_last_sync_timestamp_seconds gauge\n"
				"kubenftproxy_last_sync_timestamp_seconds 1");
	assert_null(strstr(r.body, "bad name"));

	/* separate addresses: each serves only its own paths */
	get_ok(h, mp, "/healthz", &r);
	assert_int_equal(r.code, 404);
	get_ok(h, hp, "/metrics", &r);
	assert_int_equal(r.code, 404);
	health_stop(h);
}

static void test_same_address_serves_all_paths(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = 10 };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, true);
	struct resp r;

	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 200);
	get_ok(h, hp, "/livez", &r);
	assert_int_equal(r.code, 200);
	get_ok(h, hp, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_contains(r.body, "kubenftproxy_last_sync_timestamp_seconds");
	health_stop(h);
}

/* ---- robustness ---- */

static void test_unknown_path_404_and_other_methods_405(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = 10 };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct resp r;

	get_ok(h, hp, "/nope", &r);
	assert_int_equal(r.code, 404);
	assert_contains(r.head, "X-Content-Type-Options: nosniff");
	get_ok(h, hp, "/healthz/", &r);
	assert_int_equal(r.code, 404);
	assert_int_equal(http(h, hp, "POST", "/healthz", &r), 0);
	assert_int_equal(r.code, 405);
	assert_contains(r.head, "Allow: GET, HEAD");
	assert_int_equal(http(h, hp, "DELETE", "/metrics", &r), 0);
	assert_int_equal(r.code, 405);
	assert_int_equal(http(h, hp, "HEAD", "/healthz", &r), 0);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, "");
	get_ok(h, hp, "/healthz?verbose=1", &r);
	assert_int_equal(r.code, 200);
	health_stop(h);
}

#define JUNK_NUL "G\x00\xff\xfe garbage\r\n\r\n"

static void test_garbage_requests_do_not_break_serving(void **state)
{
	static const char *const junk[] = {
		JUNK_NUL,
		"GET\r\n\r\n",
		"GET /healthz HTTP/9.9\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nContent-Length: -5\r\nHost: x\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		"Connection: close\r\n\r\nzz\r\n",
		"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		"Connection: close\r\n\r\nabc",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		"Connection: close\r\n\r\nabc",
	};
	struct fake_daemon fd = { .last_sync_ago_ms = 10 };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct resp r;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		size_t len = i == 0 ? sizeof(JUNK_NUL) - 1 : strlen(junk[i]);

		assert_int_equal(http_raw(h, hp, junk[i], len, &r), 0);
		assert_true(r.code == 0 || r.code == 200 || (r.code >= 400 && r.code < 600));
	}
	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 200);
	health_stop(h);
}

static void test_stalled_client_does_not_block_others(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = 10 };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(hp),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static const char partial[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
	struct resp r;
	int c = socket(AF_INET, SOCK_STREAM, 0), t;

	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(c, partial, sizeof(partial) - 1, 0), sizeof(partial) - 1);
	for (int i = 0; i < 10; i++) {
		struct pollfd p = { .fd = health_fd(h), .events = POLLIN };

		poll(&p, 1, 10);
		health_run(h);
	}
	/* the idle timeout of the half-sent request is now due some day */
	t = health_timeout_ms(h);
	assert_true(t >= 0 && t <= 10000);
	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 200);
	close(c);
	health_stop(h);
}

static void test_idle_needs_no_timeout(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = 10 };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);

	assert_true(health_fd(h) >= 0);
	assert_int_equal(health_timeout_ms(h), -1);
	health_run(h);		/* nothing ready: returns at once */
	health_stop(h);
}

/* ---- start errors ---- */

static void test_start_rejects_bad_addresses(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "::1:80",
		"[127.0.0.1]:80", "1.2.3.4.5:80", "localhost:80", "127.0.0.1:80x", "[::1:80",
		"127.0.0.1: 80", "127.0.0.1:-1",
	};
	struct fake_daemon fd = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(health_start(bad[i], NULL, fake_status, NULL, &fd));
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_null(health_start(NULL, bad[i], fake_status, NULL, &fd));
		assert_int_equal(errno, EINVAL);
	}
	errno = 0;
	assert_null(health_start(NULL, NULL, NULL, NULL, &fd));
	assert_int_equal(errno, EINVAL);
}

static void test_start_reports_address_in_use(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct fake_daemon fd = { 0 };
	char addr[32];
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	errno = 0;
	assert_null(health_start(addr, NULL, fake_status, NULL, &fd));
	assert_int_equal(errno, EADDRINUSE);
	errno = 0;
	assert_null(health_start(NULL, addr, fake_status, NULL, &fd));
	assert_int_equal(errno, EADDRINUSE);
	close(s);
}

static void test_disabled_addresses_still_serve_node_ports(void **state)
{
	struct fake_daemon fd = { 0 };
	struct health *h = health_start("0", "", fake_status, NULL, &fd);
	struct health_service svc = { "shop", "web", 0, 1 };
	struct resp r;
	int err = -EADDRINUSE;

	assert_non_null(h);
	for (int attempt = 0; attempt < 5 && err == -EADDRINUSE; attempt++) {
		svc.port = free_port();
		err = health_sync_services(h, &svc, 1);
	}
	assert_int_equal(err, 0);
	get_ok(h, svc.port, "/", &r);
	assert_int_equal(r.code, 200);
	health_stop(h);
}

/* ---- health-check node ports ---- */

/* Sync @v (ports picked free now), retrying the pick on EADDRINUSE. */
static void sync_fresh_ports(struct health *h, struct health_service *v, size_t n)
{
	int err = -EADDRINUSE;

	for (int attempt = 0; attempt < 5 && err == -EADDRINUSE; attempt++) {
		for (size_t i = 0; i < n; i++)
			do
				v[i].port = free_port();
			while (i && v[i].port == v[i - 1].port);
		err = health_sync_services(h, v, n);
	}
	assert_int_equal(err, 0);
}

static void test_node_ports_answer_by_local_endpoints(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = 10 };
	struct health_service v[2] = { { "shop", "web", 0, 2 }, { "shop", "db", 0, 0 } };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct resp r;

	sync_fresh_ports(h, v, 2);
	get_ok(h, v[0].port, "/", &r);
	assert_int_equal(r.code, 200);
	assert_contains(r.head, "Content-Type: application/json");
	assert_contains(r.head, "X-Content-Type-Options: nosniff");
	assert_string_equal(r.body, "{\"service\":{\"namespace\":\"shop\",\"name\":\"web\"},"
				    "\"localEndpoints\":2,\"serviceProxyHealthy\":true}\n");
	get_ok(h, v[1].port, "/anything/at/all", &r);
	assert_int_equal(r.code, 503);
	assert_contains(r.body, "\"name\":\"db\"},\"localEndpoints\":0,");
	assert_int_equal(http(h, v[1].port, "PUT", "/", &r), 0);
	assert_int_equal(r.code, 405);
	health_stop(h);
}

static void test_node_ports_follow_resync(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = 10 };
	struct health_service v[2] = { { "shop", "web", 0, 1 }, { "shop", "db", 0, 0 } };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct resp r;

	sync_fresh_ports(h, v, 2);
	get_ok(h, v[1].port, "/", &r);
	assert_int_equal(r.code, 503);

	/* db got a local endpoint, web got none */
	v[0].local_endpoints = 0;
	v[1].local_endpoints = 3;
	assert_int_equal(health_sync_services(h, v, 2), 0);
	get_ok(h, v[1].port, "/", &r);
	assert_int_equal(r.code, 200);
	assert_contains(r.body, "\"localEndpoints\":3,");
	get_ok(h, v[0].port, "/", &r);
	assert_int_equal(r.code, 503);

	/* web is no longer ETP=Local: its port closes, db's stays */
	assert_int_equal(health_sync_services(h, &v[1], 1), 0);
	assert_int_equal(http(h, v[0].port, "GET", "/", &r), -ECONNREFUSED);
	get_ok(h, v[1].port, "/", &r);
	assert_int_equal(r.code, 200);

	/* and nothing at all */
	assert_int_equal(health_sync_services(h, NULL, 0), 0);
	assert_int_equal(http(h, v[1].port, "GET", "/", &r), -ECONNREFUSED);
	health_stop(h);
}

static void test_node_port_shared_by_two_services_keeps_first(void **state)
{
	struct fake_daemon fd = { 0 };
	struct health_service v[2] = { { "shop", "web", 0, 1 }, { "shop", "dup", 0, 0 } };
	struct health *h = health_start(NULL, NULL, fake_status, NULL, &fd);
	struct resp r;

	assert_non_null(h);
	sync_fresh_ports(h, v, 1);
	v[1].port = v[0].port;
	assert_int_equal(health_sync_services(h, v, 2), 0);
	get_ok(h, v[0].port, "/", &r);
	assert_int_equal(r.code, 200);
	assert_contains(r.body, "\"name\":\"web\"");
	health_stop(h);
}

static void test_node_port_in_use_is_skipped_and_reported(void **state)
{
	struct fake_daemon fd = { .last_sync_ago_ms = 10 };
	uint16_t hp, mp;
	struct health *h = start(&fd, &hp, &mp, false);
	struct health_service v[2] = { { "shop", "web", 0, 1 }, { "shop", "db", 0, 1 } };
	struct resp r;

	sync_fresh_ports(h, &v[1], 1);
	v[0].port = hp;		/* taken by our own /healthz listener */
	assert_int_equal(health_sync_services(h, v, 2), -EADDRINUSE);
	get_ok(h, v[1].port, "/", &r);
	assert_int_equal(r.code, 200);
	get_ok(h, hp, "/healthz", &r);
	assert_int_equal(r.code, 200);
	health_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthz_ok_after_fresh_sync),
		cmocka_unit_test(test_healthz_unavailable_after_stale_sync),
		cmocka_unit_test(test_healthz_startup_grace_then_unavailable_without_sync),
		cmocka_unit_test(test_metrics_exposition_format),
		cmocka_unit_test(test_same_address_serves_all_paths),
		cmocka_unit_test(test_unknown_path_404_and_other_methods_405),
		cmocka_unit_test(test_garbage_requests_do_not_break_serving),
		cmocka_unit_test(test_stalled_client_does_not_block_others),
		cmocka_unit_test(test_idle_needs_no_timeout),
		cmocka_unit_test(test_start_rejects_bad_addresses),
		cmocka_unit_test(test_start_reports_address_in_use),
		cmocka_unit_test(test_disabled_addresses_still_serve_node_ports),
		cmocka_unit_test(test_node_ports_answer_by_local_endpoints),
		cmocka_unit_test(test_node_ports_follow_resync),
		cmocka_unit_test(test_node_port_shared_by_two_services_keeps_first),
		cmocka_unit_test(test_node_port_in_use_is_skipped_and_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
