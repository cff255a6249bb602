/* HTTP endpoints: /healthz and /livez, /metrics, and the health-check node
 * ports of externalTrafficPolicy=Local Services (kube-proxy's healthcheck
 * servers, proxier_health.go and service_health.go).
 *
 * Built on libmicrohttpd in external-poll epoll mode, for the daemon's
 * single-threaded event loop: the module exposes one fd (health_fd()) and
 * the loop calls health_run() when it is readable or when
 * health_timeout_ms() has passed. No threads; no callback runs outside
 * health_run(). The module owns all its sockets (listeners are opened here,
 * with SO_REUSEADDR and CLOEXEC, and accepted connections are handed to
 * libmicrohttpd) and closes them in health_stop().
 *
 * Every response carries X-Content-Type-Options: nosniff. Only GET and HEAD
 * are served (others get 405). Connections are bounded in number and idle
 * time per server, so a flood or a slow client costs at most that. */
#ifndef KNP_HEALTH_H
#define KNP_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct health;

/* What the daemon reports; filled by the callback at each request. */
struct health_status {
	int64_t last_sync_unix_ms;	/* wall clock of the last successful sync; 0 = never */
	int64_t now_unix_ms;		/* wall clock now */
	uint32_t sync_period_ms;	/* --sync-period */
	bool watching;			/* apiserver lists done and watches open */
};
/* Called from health_run() for each /healthz, /livez and /metrics request;
 * @out is zeroed before the call and must be filled in full.
 *
 * Verdict: healthy when now - last_sync <= 2 x sync_period; before the first
 * sync (last_sync 0), healthy while now - (wall clock at health_start())
 * <= 2 x sync_period. A sync in the future (clock stepped back) counts as
 * fresh. @watching is not part of the verdict: like kube-proxy, we keep
 * serving (and stay live) with the last rules while the apiserver is away;
 * a stuck sync loop is what must fail the probe. */
typedef void (*health_status_cb)(void *ctx, struct health_status *out);

/* One Prometheus sample. */
struct health_metric {
	const char *name;	/* e.g. "kubenftproxy_sync_total" */
	const char *help;
	bool gauge;		/* false: counter */
	double value;
};
/* Fills up to @max metrics into @out, returns how many. The strings must
 * stay valid until the callback is called again or health_stop(); they are
 * copied into the response before health_run() returns. A metric whose name
 * is not a valid Prometheus name ([a-zA-Z_:][a-zA-Z0-9_:]*) is skipped. */
typedef size_t (*health_metrics_cb)(void *ctx, struct health_metric *out, size_t max);

/* Start serving /healthz and /livez on @healthz_addr and /metrics on @metrics_addr
 * (each "IP:PORT" or "[IPv6]:PORT" or ":PORT"= all addresses; NULL or "" or "0" = disabled;
 * the same address for both serves all three paths on one socket).
 * ":PORT" binds [::] dual-stack, or 0.0.0.0 where IPv6 is unavailable.
 * Port 0 is EINVAL (nobody could find the kernel's choice).
 * @status is required (EINVAL when NULL); @metrics may be NULL (then /metrics
 * has only the built-in gauge kubenftproxy_last_sync_timestamp_seconds).
 * @ctx is passed to both callbacks and is not owned.
 * A failure is logged here (with the address), so the caller need not.
 * Returns NULL with errno (EADDRINUSE, EINVAL for a bad address, ENOMEM;
 * or another socket errno such as EACCES or EADDRNOTAVAIL). */
struct health *health_start(const char *healthz_addr, const char *metrics_addr,
			    health_status_cb status, health_metrics_cb metrics, void *ctx);
/* Close every listener and connection (requests in flight are dropped) and
 * free @h. NULL is a no-op. */
void health_stop(struct health *h);
/* The one fd to poll for readability (an epoll fd owned by @h; level-
 * triggered; do not close it). Stable from health_start() to health_stop(). */
int health_fd(const struct health *h);
/* Milliseconds until health_run() must be called even without activity, or -1. */
int health_timeout_ms(const struct health *h);
/* Serve whatever is ready; never blocks. Calls the callbacks. Bounded work
 * per call (a burst of connections is accepted over several calls; the fd
 * stays readable meanwhile). */
void health_run(struct health *h);

/* Health-check node ports of externalTrafficPolicy=Local Services (the
 * Service's spec.healthCheckNodePort): cloud load balancers probe
 * http://NODE:PORT/ and send traffic only to nodes answering 200. */
struct health_service {
	const char *namespace, *name;
	uint16_t port;			/* healthCheckNodePort, host order */
	uint32_t local_endpoints;	/* usable endpoints on this node */
};
/* Make the served set equal to @v[0..n): open listeners for new ports, close
 * those no longer listed, update counts. Listens on all addresses (IPv4 and,
 * if available, IPv6 dual-stack). A port that cannot be opened is logged
 * (use the project's log.h: log_err / log_info / log_v) and skipped; returns
 * 0, or the first -errno while still applying the rest.
 *
 * Any path answers 200 when local_endpoints > 0, else 503, with body
 * {"service":{"namespace":"NS","name":"NAME"},"localEndpoints":N,
 * "serviceProxyHealthy":true}. A port listed twice keeps the first Service
 * (logged; not an error). Port 0 is skipped (-EINVAL). A listener kept
 * across calls is not reopened, so probes see no gap. The strings in @v are
 * copied. A port that failed to open is retried at the next call. -ENOMEM
 * before anything is applied leaves the served set as it was. */
int health_sync_services(struct health *h, const struct health_service *v, size_t n);

#endif
