#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include "array.h"
#include "backend/backend.h"
#include "conntrack.h"
#include "health.h"
#include "daemon.h"
#include "kube/client.h"
#include "log.h"
#include "model.h"
#include "ruleset.h"
#include "store.h"

#define DUMP_TIMEOUT_MS	30000

/* Dual-stack: each family has its own table, backend and committed state;
 * one family failing to sync does not hold back the other. */
static const int families[] = { AF_INET, AF_INET6 };
#define N_FAMILIES	2

struct family_state {
	int family;
	struct backend *backend;
	struct model committed;	/* the model of the last successful sync */
	bool need_full;
};

/* After a failed sync, wait at least this long before the next try. */
#define SYNC_RETRY_MS	1000
/* Every --sync-period the ruleset is rebuilt from the cache and the delta
 * (usually none) sent; once an hour the table is replaced whole, which also
 * repairs anything changed in the kernel behind our back (kube-proxy's
 * nftables mode resyncs on the same schedule). */
#define FULL_SYNC_PERIOD_MS	(3600 * 1000)

struct daemon {
	const struct config *cfg;
	struct store *store;
	struct kube_client *client;
	struct health *health;
	struct family_state fam[N_FAMILIES];
	bool dirty;		/* the store changed since the last sync */
	bool last_failed;	/* the last sync of some family failed */
	uint64_t last_sync_ms;	/* monotonic, start of the last sync attempt */
	uint64_t last_full_ms;
	int64_t last_ok_unix_ms;/* wall clock of the last successful sync */
	/* counters for /metrics */
	unsigned long syncs, sync_failures, conntrack_deleted;
	double last_sync_seconds;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_list_begin(void *ctx, enum k8s_kind kind)
{
	struct daemon *d = ctx;

	store_relist_begin(d->store, kind);
}

static void on_invalid(void *ctx, enum k8s_kind kind, const char *ns, const char *name)
{
	struct daemon *d = ctx;

	store_relist_keep(d->store, kind, ns, name);
}

static void on_list_end(void *ctx, enum k8s_kind kind)
{
	struct daemon *d = ctx;
	size_t gone = store_relist_end(d->store, kind);

	if (gone)
		log_v(2, "relist: %zu objects vanished while the watch was down", gone);
	d->dirty = true;
}

static void on_object(void *ctx, enum k8s_kind kind, enum k8s_event_type type,
		      struct k8s_object *o)
{
	struct daemon *d = ctx;
	int err;

	if (type == EV_DELETED) {
		err = store_object_delete(d->store, o);
		if (err == -ENOENT)
			err = 0;
		k8s_object_clear(o);
	} else {
		err = store_object_put(d->store, o);
	}
	if (err)
		log_err("store: %s", strerror(-err));
	d->dirty = true;
}

static void ruleset_config_of(const struct config *cfg, int family, struct ruleset_config *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->family = family;
	rc->table = cfg->table;
	rc->masquerade_bit = 1u << cfg->masquerade_bit;
	rc->masquerade_all = cfg->masquerade_all;
	for (size_t i = 0; i < cfg->n_cluster_cidrs; i++)
		if (cfg->cluster_cidrs[i].addr.family == family)
			rc->cluster_cidrs[rc->n_cluster_cidrs++] = cfg->cluster_cidrs[i];
	for (size_t i = 0; i < cfg->n_nodeport_cidrs; i++)
		if (cfg->nodeport_cidrs[i].addr.family == family)
			rc->nodeport_cidrs[rc->n_nodeport_cidrs++] = cfg->nodeport_cidrs[i];
}

/* Store -> model -> ruleset for @family. On success the caller owns both
 * (@m and @rs); on error neither holds anything. Returns 0 or -ENOMEM. */
static int build(const struct config *cfg, const struct store *st, int family,
		 struct model *m, struct ruleset *rs)
{
	struct model_config mc = { .family = family, .node_name = cfg->hostname };
	struct ruleset_config rc;
	int err;

	ruleset_config_of(cfg, family, &rc);
	memset(rs, 0, sizeof(*rs));
	err = model_build(m, st, &mc);
	if (err)
		return err;
	err = ruleset_build(rs, m, &rc);
	if (err)
		model_free(m);
	return err;
}

/* Sync one family; @full asks for a full replacement, which the family
 * also does on its own after a failure. Returns 0 or -errno (then its next
 * sync is full); *has_services tells whether the family had anything to
 * program, so that a family with nothing (an IPv4-only cluster's ip6)
 * failing does not make the node unhealthy. */
static int sync_family(struct daemon *d, struct family_state *f, bool full, bool *has_services)
{
	struct backend *b = f->backend;
	struct ruleset rs;
	struct model m;
	uint64_t t0 = now_ms();
	int err;

	*has_services = true;
	err = build(d->cfg, d->store, f->family, &m, &rs);
	if (err) {
		log_err("sync %s: building the ruleset: %s", family_name(f->family), strerror(-err));
		f->need_full = true;
		return err;
	}
	*has_services = m.n > 0;
	full = full || f->need_full;
	err = b->ops->sync(b, &rs, full);
	if (err) {
		log_err("sync %s: %s backend: %s; the kernel keeps the previous rules, next sync is full",
			family_name(f->family), b->ops->name, strerror(-err));
		ruleset_free(&rs);
		model_free(&m);
		f->need_full = true;
		return err;
	}
	f->need_full = false;
	log_v(2, "sync %s: %s, %zu service ports, %zu messages, %zu bytes, %llu ms",
	      family_name(f->family), b->stats.last_full ? "full" : "partial", m.n,
	      b->stats.last_messages, b->stats.last_bytes,
	      (unsigned long long)(now_ms() - t0));
	if (b->ops->programs_kernel) {
		int n = conntrack_reconcile(&f->committed, &m, f->family);

		if (n > 0)
			d->conntrack_deleted += n;
	}
	model_free(&f->committed);
	f->committed = m;
	return 0;
}

static bool any_need_full(const struct daemon *d)
{
	for (int i = 0; i < N_FAMILIES; i++)
		if (d->fam[i].need_full)
			return true;
	return false;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The health-check node ports of eTP=Local Services: 200 while the Service
 * has an endpoint on this node (in either family). */
static void update_health_services(struct daemon *d)
{
	struct health_service *v = NULL;
	size_t n = 0, cap = 0;

	if (!d->health)
		return;
	for (int f = 0; f < N_FAMILIES; f++) {
		const struct model *m = &d->fam[f].committed;

		for (size_t i = 0; i < m->n; i++) {
			const struct svc_port *p = &m->ports[i];
			uint32_t local = 0;
			size_t j;

			if (!p->health_check_node_port)
				continue;
			/* ready ones only: a node whose pods all terminate
			 * answers 503 so load balancers drain it (KEP-1669) */
			for (j = 0; j < p->n_endpoints; j++)
				local += p->endpoints[j].local && p->endpoints[j].ready;
			for (j = 0; j < n; j++)
				if (v[j].port == p->health_check_node_port &&
				    !strcmp(v[j].namespace, p->namespace) && !strcmp(v[j].name, p->name))
					break;
			if (j < n) {
				if (local > v[j].local_endpoints)
					v[j].local_endpoints = local;
				continue;
			}
			if (array_reserve(&v, &cap, n + 1, sizeof(*v), 8) < 0) {
				free(v);
				return;
			}
			v[n].namespace = p->namespace;
			v[n].name = p->name;
			v[n].port = p->health_check_node_port;
			v[n].local_endpoints = local;
			n++;
		}
	}
	health_sync_services(d->health, v, n);
	free(v);
}

/* Returns -EPERM when the kernel refused us outright (no CAP_NET_ADMIN):
 * retrying cannot help. Otherwise 0; failures are retried. */
static int sync_now(struct daemon *d, bool full)
{
	bool ok = true;
	uint64_t t0 = now_ms();

	d->last_sync_ms = t0;
	full = full || any_need_full(d);	/* for the record: a full one happened */
	for (int i = 0; i < N_FAMILIES; i++) {
		bool has_services;
		int err = sync_family(d, &d->fam[i], full, &has_services);

		if (err == -EPERM)
			return err;
		if (err < 0) {
			d->last_failed = true;
			d->sync_failures++;
			if (has_services)
				ok = false;
		}
	}
	d->dirty = false;	/* a failed family retries through need_full */
	if (!any_need_full(d))
		d->last_failed = false;
	d->last_sync_seconds = (now_ms() - t0) / 1000.0;
	update_health_services(d);
	if (!ok)
		return 0;
	if (!d->syncs)	/* systemd Type=notify: ready once the rules are in */
		sd_notify(0, "READY=1\nSTATUS=rules programmed");
	d->syncs++;
	d->last_ok_unix_ms = wall_ms();
	if (full) {
		d->last_full_ms = d->last_sync_ms;
		/* a full sync builds a batch as large as the table: hand that
		 * memory back rather than keep it as the process's RSS */
		malloc_trim(0);
	}
	return 0;
}

static void health_status_of(void *ctx, struct health_status *out)
{
	struct daemon *d = ctx;

	out->last_sync_unix_ms = d->last_ok_unix_ms;
	out->now_unix_ms = wall_ms();
	out->sync_period_ms = d->cfg->sync_period_ms;
	out->watching = kube_client_synced(d->client);
}

static size_t health_metrics_of(void *ctx, struct health_metric *out, size_t max)
{
	struct daemon *d = ctx;
	const struct kube_stats *ks = kube_client_stats(d->client);
	size_t ports = 0, endpoints = 0, n = 0;

	for (int f = 0; f < N_FAMILIES; f++) {
		ports += d->fam[f].committed.n;
		for (size_t i = 0; i < d->fam[f].committed.n; i++)
			endpoints += d->fam[f].committed.ports[i].n_endpoints;
	}
#define METRIC(nm, hp, g, v) do {					\
		if (n < max)						\
			out[n++] = (struct health_metric){ nm, hp, g, (double)(v) }; \
	} while (0)
	METRIC("kubenftproxy_sync_total", "Successful syncs of the rules.", false, d->syncs);
	METRIC("kubenftproxy_sync_failures_total", "Syncs the kernel refused (rules left as they were).",
	       false, d->sync_failures);
	METRIC("kubenftproxy_sync_duration_seconds", "Duration of the last sync.", true,
	       d->last_sync_seconds);
	METRIC("kubenftproxy_service_ports", "ServicePorts programmed (both families).", true, ports);
	METRIC("kubenftproxy_endpoints", "Endpoints programmed (both families).", true, endpoints);
	METRIC("kubenftproxy_conntrack_deleted_total", "Stale UDP/SCTP flows deleted.", false,
	       d->conntrack_deleted);
	METRIC("kubenftproxy_apiserver_lists_total", "Completed LISTs.", false, ks->lists);
	METRIC("kubenftproxy_apiserver_relists_total", "Relists after 410 Gone.", false, ks->relists);
	METRIC("kubenftproxy_apiserver_watches_total", "WATCH requests.", false, ks->watches);
	METRIC("kubenftproxy_apiserver_events_total", "Watch events applied.", false, ks->events);
	METRIC("kubenftproxy_invalid_objects_total", "Objects skipped by validation.", false,
	       ks->invalid_objects);
	METRIC("kubenftproxy_invalid_watch_lines_total", "Watch lines that were not events.",
	       false, ks->invalid_lines);
	METRIC("kubenftproxy_apiserver_errors_total", "Failed apiserver requests.", false,
	       ks->http_errors);
#undef METRIC
	return n;
}

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int daemon_init(struct daemon *d, const struct config *cfg)
{
	static const struct kube_handler h0 = {
		.list_begin = on_list_begin,
		.invalid = on_invalid,
		.object = on_object,
		.list_end = on_list_end,
	};
	struct kube_handler h = h0;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	for (int i = 0; i < N_FAMILIES; i++) {
		d->fam[i].family = families[i];
		d->fam[i].need_full = true;
	}
	d->store = store_new();
	h.ctx = d;
	d->client = kube_client_new(cfg, &h);
	if (!d->store || !d->client)
		return -ENOMEM;
	return 0;
}

static void daemon_fini(struct daemon *d)
{
	health_stop(d->health);
	kube_client_free(d->client);
	store_free(d->store);
	for (int i = 0; i < N_FAMILIES; i++) {
		model_free(&d->fam[i].committed);
		backend_destroy(d->fam[i].backend);
	}
}

/* Milliseconds until the next sync is due, or -1 when nothing is due. */
static long next_sync_in(const struct daemon *d, uint64_t now)
{
	const struct config *cfg = d->cfg;
	uint64_t due;

	if (!kube_client_synced(d->client))
		return -1;
	if (d->dirty || any_need_full(d)) {
		due = d->last_sync_ms + cfg->min_sync_period_ms;
		if (d->last_failed && cfg->min_sync_period_ms < SYNC_RETRY_MS)
			due = d->last_sync_ms + SYNC_RETRY_MS;
		if (!d->last_sync_ms)
			due = now;
	} else {
		due = d->last_sync_ms + cfg->sync_period_ms;
	}
	return due > now ? (long)(due - now) : 0;
}

int daemon_run(const struct config *cfg)
{
	struct daemon d;
	struct curl_waitfd wfd[2];
	int sfd, status = 0;
	bool stop = false;

	if (daemon_init(&d, cfg) < 0) {
		log_err("out of memory");
		daemon_fini(&d);
		return 1;
	}
	for (int i = 0; i < N_FAMILIES; i++) {
		d.fam[i].backend = backend_create(cfg->proxy_mode, families[i], cfg->table);
		if (!d.fam[i].backend) {
			log_err("backend %s: %s", cfg->proxy_mode,
				errno == ENOENT ? "unknown --proxy-mode" : strerror(errno));
			daemon_fini(&d);
			return 1;
		}
	}
	sfd = signal_fd();
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		daemon_fini(&d);
		return 1;
	}
	log_info("kube-nftproxy %s: node %s, apiserver %s, backend %s, tables ip and ip6 %s",
		 PACKAGE_VERSION, cfg->hostname, cfg->api.server, cfg->proxy_mode, cfg->table);
	/* health and metrics are a convenience: without them the proxy runs */
	d.health = health_start(cfg->healthz_addr, cfg->metrics_addr, health_status_of,
				health_metrics_of, &d);
	kube_client_start(d.client);
	wfd[0].fd = sfd;
	wfd[0].events = CURL_WAIT_POLLIN;
	wfd[1].fd = d.health ? health_fd(d.health) : -1;
	wfd[1].events = CURL_WAIT_POLLIN;
	while (!stop) {
		uint64_t now = now_ms();
		long due = next_sync_in(&d, now);
		int timeout = due < 0 ? 1000 : (int)due;
		struct signalfd_siginfo si;

		if (d.health) {
			int ht = health_timeout_ms(d.health);

			if (ht >= 0 && ht < timeout)
				timeout = ht;
		}
		wfd[0].revents = wfd[1].revents = 0;
		if (kube_client_poll(d.client, wfd, d.health ? 2 : 1, timeout) < 0) {
			log_err("poll failed");
			status = 1;
			break;
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				for (int i = 0; i < N_FAMILIES; i++)
					d.fam[i].need_full = true;	/* resync now */
				continue;
			}
			log_info("signal %u: exiting; the rules stay in place", si.ssi_signo);
			stop = true;
		}
		if (stop)
			break;
		if (d.health)
			health_run(d.health);
		kube_client_perform(d.client);
		now = now_ms();
		due = next_sync_in(&d, now);
		if (due == 0) {
			/* hourly, even under steady churn; a family that failed
			 * replaces its table on its own (need_full) */
			bool full = now >= d.last_full_ms + FULL_SYNC_PERIOD_MS;

			if (sync_now(&d, full) == -EPERM) {
				log_err("the kernel refused to let us program nftables: kube-nftproxy needs CAP_NET_ADMIN (run it as root or grant the capability)");
				status = 1;
				break;
			}
		}
	}
	sd_notify(0, "STOPPING=1");
	close(sfd);
	daemon_fini(&d);
	return status;
}

int daemon_dump(const struct config *cfg, FILE *out)
{
	struct daemon d;
	struct ruleset rs;
	struct model m;
	uint64_t deadline = now_ms() + DUMP_TIMEOUT_MS;
	int err = 0;

	if (daemon_init(&d, cfg) < 0) {
		daemon_fini(&d);
		return 1;
	}
	kube_client_start(d.client);
	while (!kube_client_synced(d.client)) {
		if (now_ms() >= deadline) {
			log_err("dump: no complete list from %s within %d s", cfg->api.server,
				DUMP_TIMEOUT_MS / 1000);
			daemon_fini(&d);
			return 1;
		}
		kube_client_poll(d.client, NULL, 0, 200);
		kube_client_perform(d.client);
		if (kube_client_fatal(d.client)) {
			log_err("dump: %s", kube_client_fatal(d.client));
			daemon_fini(&d);
			return 1;
		}
	}
	for (int i = 0; !err && i < N_FAMILIES; i++) {
		err = build(cfg, d.store, families[i], &m, &rs);
		if (!err) {
			err = ruleset_print(&rs, out);
			ruleset_free(&rs);
			model_free(&m);
		}
	}
	daemon_fini(&d);
	if (err) {
		log_err("dump: %s", strerror(-err));
		return 1;
	}
	return fflush(out) ? 1 : 0;
}

int daemon_cleanup(const struct config *cfg)
{
	int status = 0;

	for (int i = 0; i < N_FAMILIES; i++) {
		struct backend *b = backend_create("nftables", families[i], cfg->table);
		int err;

		if (!b) {
			log_err("cleanup: %s", strerror(errno));
			return 1;
		}
		err = b->ops->cleanup(b);
		backend_destroy(b);
		if (err) {
			log_err("cleanup: table %s %s: %s", family_name(families[i]), cfg->table,
				strerror(-err));
			status = 1;
			continue;
		}
		log_info("table %s %s removed (or was not there)", family_name(families[i]), cfg->table);
	}
	return status;
}
