/* HTTP endpoints on libmicrohttpd, external epoll mode (see health.h).
 *
 * Layout: we open and own every listening socket and put it in our epoll
 * set; accepted connections go to one of up to three MHD daemons started
 * with MHD_USE_NO_LISTEN_SOCKET (admin: /healthz /livez and maybe /metrics;
 * metrics: /metrics on its own address; svc: all health-check node ports).
 * Each daemon's own epoll fd is in our epoll set too, so the caller polls
 * one fd. Owning the listeners gives exact bind errors, dual-stack control,
 * and lets one MHD daemon serve any number of node ports (the port a
 * connection came in on, from getsockname(), picks the Service). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "health.h"
#include "log.h"

#define HEALTH_CONN_LIMIT	64	/* per admin daemon */
#define HEALTH_SVC_CONN_LIMIT	256	/* all node ports together: one per LB probe */
#define HEALTH_CONN_TIMEOUT_S	10
#define HEALTH_METRICS_MAX	256	/* samples asked from the metrics callback */
#define HEALTH_EVENTS_PER_RUN	32
#define HEALTH_ACCEPTS_PER_RUN	16	/* per listener; the rest waits a loop turn */

#define PATH_HEALTHZ	0x1u	/* /healthz and /livez */
#define PATH_METRICS	0x2u

/* What an event in our epoll set is: the low 32 bits are the fd. */
enum ev_kind { EV_DAEMON, EV_ADMIN, EV_SVC };

struct site {
	struct health *h;
	struct MHD_Daemon *d;
	int listen_fd;		/* -1 for the svc site: its listeners are per Service */
	unsigned paths;		/* PATH_*; 0 for the svc site */
};

struct hc_service {
	char *namespace, *name;
	uint16_t port;
	uint32_t local_endpoints;
	int fd;			/* listener, in h->epfd; -1 = failed to open */
	size_t order;		/* index in the caller's array, while syncing */
};

struct health {
	int epfd;
	struct site admin, metrics, svc;
	health_status_cb status;
	health_metrics_cb metrics_cb;
	void *ctx;
	int64_t start_unix_ms;
	struct hc_service *svcs;	/* sorted by port, ports unique */
	size_t n_svcs;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t ev_data(enum ev_kind kind, int fd)
{
	return (uint64_t)kind << 32 | (uint32_t)fd;
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t len;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	log_v(2, "health: microhttpd: %s", buf);
}

/* ---- listeners ---- */

static int listen_on(const struct sockaddr *sa, socklen_t len, bool dual_stack)
{
	int one = 1, zero = 0, fd, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? &zero : &one,
		       sizeof(int)) < 0)
		goto fail;
	if (bind(fd, sa, len) < 0 || listen(fd, 128) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

/* All addresses: [::] dual-stack, or 0.0.0.0 on a host without IPv6. */
static int listen_any(uint16_t port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd;

	fd = listen_on((struct sockaddr *)&s6, sizeof(s6), true);
	if (fd != -EAFNOSUPPORT && fd != -EADDRNOTAVAIL)
		return fd;
	return listen_on((struct sockaddr *)&s4, sizeof(s4), false);
}

/* "IP:PORT", "[IPv6]:PORT" or ":PORT" (any: family AF_UNSPEC). Returns 1,
 * 0 when disabled (NULL, "", "0"), or -EINVAL. */
static int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = s;
	size_t hlen;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s || !strcmp(s, "0"))
		return 0;
	colon = strrchr(s, ':');
	if (!colon || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -EINVAL;
	hlen = colon - s;
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		h = s + 1;
		hlen -= 2;
	} else if (memchr(s, ':', hlen)) {
		return -EINVAL;		/* IPv6 needs brackets */
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (!hlen) {
		ss->ss_family = AF_UNSPEC;
		s4->sin_port = htons(port);	/* same offset in every family */
		*len = 0;
	} else if (s == h && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
	} else if (s != h && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	return 1;
}

static int listen_addr(const struct sockaddr_storage *ss, socklen_t len)
{
	if (ss->ss_family == AF_UNSPEC)
		return listen_any(ntohs(((const struct sockaddr_in *)ss)->sin_port));
	return listen_on((const struct sockaddr *)ss, len, false);
}

/* ---- responses ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
			     char *body, size_t len)
{
	static char oom[] = "out of memory\n";
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (body) {
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (!r)
			free(body);
	} else {
		code = MHD_HTTP_INTERNAL_SERVER_ERROR;
		type = "text/plain; charset=utf-8";
		r = MHD_create_response_from_buffer(strlen(oom), oom, MHD_RESPMEM_PERSISTENT);
	}
	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    (code == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned code, const char *text)
{
	return reply(c, code, "text/plain; charset=utf-8", strdup(text), strlen(text));
}

/* Closes @f (an open_memstream() on @buf); the body (malloc'ed) or NULL
 * on any error. */
static char *stream_done(FILE *f, char **buf)
{
	bool bad = ferror(f);

	if (fclose(f) || bad) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void rfc3339(char *buf, size_t size, int64_t unix_ms)
{
	time_t t = (time_t)(unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "1970-01-01T00:00:00Z");
}

static enum MHD_Result serve_healthz(struct MHD_Connection *c, struct health *h)
{
	struct health_status st = { 0 };
	char last[40], now[40], *buf = NULL;
	int64_t since, limit;
	size_t len = 0;
	bool healthy;
	FILE *f;

	h->status(h->ctx, &st);
	since = st.last_sync_unix_ms ? st.last_sync_unix_ms : h->start_unix_ms;
	limit = 2 * (int64_t)st.sync_period_ms;
	healthy = st.now_unix_ms - since <= limit;
	rfc3339(last, sizeof(last), since);
	rfc3339(now, sizeof(now), st.now_unix_ms);

	f = open_memstream(&buf, &len);
	if (!f)
		return reply(c, 0, NULL, NULL, 0);
	fprintf(f, "{\"lastUpdated\": \"%s\",\"currentTime\": \"%s\",\"nodeEligible\": true}\n",
		last, now);
	buf = stream_done(f, &buf);
	if (!healthy)
		log_v(4, "health: unhealthy, last sync %s, now %s", last, now);
	return reply(c, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
		     "application/json", buf, len);
}

static bool metric_name_ok(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			return false;
	return true;
}

/* HELP text escaping of the exposition format: backslash and newline. */
static void help_str(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* Shortest of %.15g / %.17g that reads back exactly; Go's spellings of
 * the non-finite values. */
static void metric_value(FILE *f, double v)
{
	char buf[32];

	if (isnan(v)) {
		fputs("NaN", f);
	} else if (isinf(v)) {
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	} else {
		snprintf(buf, sizeof(buf), "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, sizeof(buf), "%.17g", v);
		fputs(buf, f);
	}
}

static void metric_write(FILE *f, const struct health_metric *m)
{
	fprintf(f, "# HELP %s ", m->name);
	help_str(f, m->help);
	fprintf(f, "\n# TYPE %s %s\n%s ", m->name, m->gauge ? "gauge" : "counter", m->name);
	metric_value(f, m->value);
	fputc('\n', f);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c, struct health *h)
{
	struct health_status st = { 0 };
	struct health_metric *m, last = {
		.name = "kubenftproxy_last_sync_timestamp_seconds",
		.help = "Wall clock (Unix seconds) of the last successful sync; 0 = none yet.",
		.gauge = true,
	};
	char *buf = NULL;
	size_t len = 0, n = 0;
	FILE *f;

	m = calloc(HEALTH_METRICS_MAX, sizeof(*m));
	if (!m)
		return reply(c, 0, NULL, NULL, 0);
	h->status(h->ctx, &st);
	last.value = st.last_sync_unix_ms / 1000.0;
	if (h->metrics_cb)
		n = h->metrics_cb(h->ctx, m, HEALTH_METRICS_MAX);
	if (n > HEALTH_METRICS_MAX)
		n = HEALTH_METRICS_MAX;

	f = open_memstream(&buf, &len);
	if (!f) {
		free(m);
		return reply(c, 0, NULL, NULL, 0);
	}
	for (size_t i = 0; i < n; i++) {
		if (metric_name_ok(m[i].name))
			metric_write(f, &m[i]);
		else
			log_v(2, "health: skipping metric with bad name \"%s\"",
			      m[i].name ? m[i].name : "(null)");
	}
	metric_write(f, &last);
	free(m);
	buf = stream_done(f, &buf);
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, len);
}

static int svc_cmp_port(const void *key, const void *elem)
{
	uint16_t port = *(const uint16_t *)key;
	const struct hc_service *s = elem;

	return (port > s->port) - (port < s->port);
}

static enum MHD_Result serve_service(struct MHD_Connection *c, struct health *h)
{
	const union MHD_ConnectionInfo *ci;
	const struct hc_service *s;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char *buf = NULL;
	size_t len = 0;
	uint16_t port;
	FILE *f;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) < 0)
		return MHD_NO;
	/* sin_port and sin6_port share their offset */
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	s = bsearch(&port, h->svcs, h->n_svcs, sizeof(*h->svcs), svc_cmp_port);
	if (!s || s->fd < 0)
		return MHD_NO;	/* the Service went away while this was queued */

	f = open_memstream(&buf, &len);
	if (!f)
		return reply(c, 0, NULL, NULL, 0);
	fputs("{\"service\":{\"namespace\":", f);
	json_str(f, s->namespace);
	fputs(",\"name\":", f);
	json_str(f, s->name);
	fprintf(f, "},\"localEndpoints\":%" PRIu32 ",\"serviceProxyHealthy\":true}\n",
		s->local_endpoints);
	buf = stream_done(f, &buf);
	return reply(c, s->local_endpoints ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
		     "application/json", buf, len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_ctx)
{
	static char seen;
	struct site *site = cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "405 method not allowed\n");
	if (!*req_ctx) {
		*req_ctx = &seen;	/* headers only so far */
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;	/* a GET with a body: ignore it */
		return MHD_YES;
	}
	if (!site->paths)
		return serve_service(c, site->h);
	if ((site->paths & PATH_HEALTHZ) && (!strcmp(url, "/healthz") || !strcmp(url, "/livez")))
		return serve_healthz(c, site->h);
	if ((site->paths & PATH_METRICS) && !strcmp(url, "/metrics"))
		return serve_metrics(c, site->h);
	return reply_text(c, MHD_HTTP_NOT_FOUND, "404 page not found\n");
}

/* ---- daemons and the event loop ---- */

static int epoll_add(struct health *h, enum ev_kind kind, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ev_data(kind, fd) };

	return epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int site_start(struct health *h, struct site *site, unsigned paths, unsigned limit)
{
	const union MHD_DaemonInfo *di;

	site->h = h;
	site->paths = paths;
	site->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG,
				   0, NULL, NULL, on_request, site,
				   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				   MHD_OPTION_CONNECTION_LIMIT, limit,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HEALTH_CONN_TIMEOUT_S,
				   MHD_OPTION_END);
	if (!site->d)
		return errno ? -errno : -ENOMEM;
	di = MHD_get_daemon_info(site->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di)
		return -EINVAL;
	return epoll_add(h, EV_DAEMON, di->epoll_fd);
}

static int admin_open(struct health *h, struct site *site, const char *what, const char *addr,
		      const struct sockaddr_storage *ss, socklen_t len, unsigned paths)
{
	int err;

	site->listen_fd = listen_addr(ss, len);
	if (site->listen_fd < 0) {
		err = site->listen_fd;
		log_err("health: cannot listen on %s address %s: %s", what, addr, strerror(-err));
		return err;
	}
	err = epoll_add(h, EV_ADMIN, site->listen_fd);
	if (!err)
		err = site_start(h, site, paths, HEALTH_CONN_LIMIT);
	if (err)
		log_err("health: cannot serve %s on %s: %s", what, addr, strerror(-err));
	else
		log_info("health: serving %s on %s", what, addr);
	return err;
}

static void site_stop(struct site *site)
{
	if (site->d)
		MHD_stop_daemon(site->d);
	if (site->listen_fd >= 0)
		close(site->listen_fd);
	site->d = NULL;
	site->listen_fd = -1;
}

static void svc_free(struct hc_service *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->namespace);
	free(s->name);
}

/* One descriptor held in reserve: out of descriptors (EMFILE), a pending
 * connection would keep the listener readable and the event loop spinning;
 * the reserve lets us accept it and close it at once instead. */
static int spare_fd = -1;

void health_stop(struct health *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_svcs; i++)
		svc_free(&h->svcs[i]);
	free(h->svcs);
	site_stop(&h->admin);
	site_stop(&h->metrics);
	site_stop(&h->svc);
	if (h->epfd >= 0)
		close(h->epfd);
	if (spare_fd >= 0) {
		close(spare_fd);
		spare_fd = -1;
	}
	free(h);
}

struct health *health_start(const char *healthz_addr, const char *metrics_addr,
			    health_status_cb status, health_metrics_cb metrics, void *ctx)
{
	struct sockaddr_storage hs, ms;
	socklen_t hl = 0, ml = 0;
	struct health *h;
	int hon, mon, err;

	hon = addr_parse(healthz_addr, &hs, &hl);
	mon = addr_parse(metrics_addr, &ms, &ml);
	if (hon < 0 || mon < 0 || !status) {
		log_err("health: bad address: healthz \"%s\", metrics \"%s\"",
			healthz_addr ? healthz_addr : "", metrics_addr ? metrics_addr : "");
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->admin.listen_fd = h->metrics.listen_fd = h->svc.listen_fd = -1;
	h->status = status;
	h->metrics_cb = metrics;
	h->ctx = ctx;
	h->start_unix_ms = wall_ms();
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		err = -errno;
		goto fail;
	}
	if (hon && mon && hl == ml && !memcmp(&hs, &ms, sizeof(hs))) {
		err = admin_open(h, &h->admin, "/healthz, /livez and /metrics", healthz_addr,
				 &hs, hl, PATH_HEALTHZ | PATH_METRICS);
		mon = 0;
	} else if (hon) {
		err = admin_open(h, &h->admin, "/healthz and /livez", healthz_addr, &hs, hl,
				 PATH_HEALTHZ);
	} else {
		err = 0;
	}
	if (!err && mon)
		err = admin_open(h, &h->metrics, "/metrics", metrics_addr, &ms, ml, PATH_METRICS);
	if (!err)
		err = site_start(h, &h->svc, 0, HEALTH_SVC_CONN_LIMIT);
	if (err)
		goto fail;
	return h;
fail:
	health_stop(h);
	errno = -err;
	return NULL;
}

int health_fd(const struct health *h)
{
	return h->epfd;
}

static void timeout_min(struct MHD_Daemon *d, MHD_UNSIGNED_LONG_LONG *best)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (d && MHD_get_timeout(d, &t) == MHD_YES && t < *best)
		*best = t;
}

int health_timeout_ms(const struct health *h)
{
	MHD_UNSIGNED_LONG_LONG best = ULLONG_MAX;

	timeout_min(h->admin.d, &best);
	timeout_min(h->metrics.d, &best);
	timeout_min(h->svc.d, &best);
	if (best == ULLONG_MAX)
		return -1;
	return best > INT_MAX ? INT_MAX : (int)best;
}

static struct site *site_of_listener(struct health *h, enum ev_kind kind, int fd)
{
	if (kind == EV_SVC)
		return &h->svc;
	if (fd == h->admin.listen_fd)
		return &h->admin;
	if (fd == h->metrics.listen_fd)
		return &h->metrics;
	return NULL;
}

static void shed_connection(int fd)
{
	int c;

	if (spare_fd < 0)
		return;
	close(spare_fd);
	c = accept(fd, NULL, NULL);
	if (c >= 0)
		close(c);
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_warn("health: out of file descriptors: a connection was closed unserved");
}

static void accept_some(struct site *site, int fd)
{
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < HEALTH_ACCEPTS_PER_RUN; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0 && (errno == EMFILE || errno == ENFILE)) {
			shed_connection(fd);
			continue;
		}
		if (c < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_v(2, "health: accept: %s", strerror(errno));
			return;
		}
		/* on failure (at the connection limit) MHD has closed @c */
		if (MHD_add_connection(site->d, c, (struct sockaddr *)&ss, len) != MHD_YES)
			log_v(2, "health: connection dropped: %s", strerror(errno));
	}
}

void health_run(struct health *h)
{
	struct epoll_event ev[HEALTH_EVENTS_PER_RUN];
	int n = epoll_wait(h->epfd, ev, HEALTH_EVENTS_PER_RUN, 0);

	for (int i = 0; i < n; i++) {
		enum ev_kind kind = ev[i].data.u64 >> 32;
		int fd = (int)(uint32_t)ev[i].data.u64;
		struct site *site;

		if (kind == EV_DAEMON)
			continue;
		site = site_of_listener(h, kind, fd);
		if (site)
			accept_some(site, fd);
	}
	/* Cheap when idle (one epoll_wait(0) each), and MHD also has timers
	 * (idle connections) that no fd reports. */
	if (h->admin.d)
		MHD_run(h->admin.d);
	if (h->metrics.d)
		MHD_run(h->metrics.d);
	if (h->svc.d)
		MHD_run(h->svc.d);
}

/* ---- health-check node ports ---- */

static int svc_cmp_sync(const void *a, const void *b)
{
	const struct hc_service *x = a, *y = b;

	if (x->port != y->port)
		return (x->port > y->port) - (x->port < y->port);
	return (x->order > y->order) - (x->order < y->order);
}

static int svc_open(struct health *h, struct hc_service *s)
{
	int err;

	s->fd = listen_any(s->port);
	if (s->fd < 0) {
		err = s->fd;
		s->fd = -1;
	} else {
		err = epoll_add(h, EV_SVC, s->fd);
		if (err) {
			close(s->fd);
			s->fd = -1;
		}
	}
	if (err)
		log_err("health: cannot open health check node port %u of service %s/%s: %s",
			s->port, s->namespace, s->name, strerror(-err));
	else
		log_v(2, "health: health check node port %u open for service %s/%s",
		      s->port, s->namespace, s->name);
	return err;
}

/* Fill @out (sorted by port, first of each port kept) from @v. Returns the
 * count, or -ENOMEM (nothing to free then). */
static ssize_t svc_build(const struct health_service *v, size_t n, struct hc_service *out)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		out[i] = (struct hc_service){ .port = v[i].port, .order = i, .fd = -1,
					      .local_endpoints = v[i].local_endpoints };
	qsort(out, n, sizeof(*out), svc_cmp_sync);
	for (size_t i = 0; i < n; i++) {
		const struct health_service *src = &v[out[i].order];

		if (m && out[m - 1].port == out[i].port) {
			const struct health_service *kept = &v[out[m - 1].order];

			log_err("health: service %s/%s wants health check node port %u, "
				"already used by %s/%s; ignored", src->namespace, src->name,
				src->port, kept->namespace, kept->name);
			continue;
		}
		out[m] = out[i];
		out[m].namespace = strdup(src->namespace ? src->namespace : "");
		out[m].name = strdup(src->name ? src->name : "");
		m++;
		if (!out[m - 1].namespace || !out[m - 1].name) {
			for (size_t j = 0; j < m; j++) {
				free(out[j].namespace);
				free(out[j].name);
			}
			return -ENOMEM;
		}
	}
	return m;
}

int health_sync_services(struct health *h, const struct health_service *v, size_t n)
{
	struct hc_service *next;
	size_t i = 0, j = 0;
	ssize_t m;
	int ret = 0, err;

	next = calloc(n ? n : 1, sizeof(*next));
	if (!next)
		return -ENOMEM;
	m = svc_build(v, n, next);
	if (m < 0) {
		free(next);
		return m;
	}
	/* merge by port: keep listeners of ports in both, open new, close gone */
	while (i < h->n_svcs || j < (size_t)m) {
		struct hc_service *old = i < h->n_svcs ? &h->svcs[i] : NULL;
		struct hc_service *nw = j < (size_t)m ? &next[j] : NULL;

		if (old && (!nw || old->port < nw->port)) {
			if (old->fd >= 0)
				log_v(2, "health: health check node port %u closed", old->port);
			svc_free(old);
			i++;
			continue;
		}
		if (old && old->port == nw->port) {
			nw->fd = old->fd;
			old->fd = -1;
			svc_free(old);
			i++;
		}
		if (nw->fd < 0 && nw->port == 0) {
			log_err("health: service %s/%s has health check node port 0; ignored",
				nw->namespace, nw->name);
			err = -EINVAL;
		} else {
			err = nw->fd < 0 ? svc_open(h, nw) : 0;
		}
		if (err && !ret)
			ret = err;
		j++;
	}
	free(h->svcs);
	h->svcs = next;
	h->n_svcs = m;
	return ret;
}
