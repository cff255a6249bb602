#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include "backend/backend.h"
#include "conntrack.h"
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

struct daemon {
	const struct config *cfg;
	struct store *store;
	struct kube_client *client;
	struct family_state fam[N_FAMILIES];
	bool dirty;		/* the store changed since the last sync */
	uint64_t last_sync_ms;
	uint64_t last_full_ms;
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
	for (size_t i = 0; i < cfg->n_cluster_cidrs; i++) {
		if (cfg->cluster_cidrs[i].addr.family == rc->family) {
			rc->cluster_cidr = cfg->cluster_cidrs[i].addr;
			rc->cluster_cidr_len = cfg->cluster_cidrs[i].len;
			break;
		}
	}
	rc->n_nodeport_cidrs = 0;
	for (size_t i = 0; i < cfg->n_nodeport_cidrs && rc->n_nodeport_cidrs < 16; i++) {
		if (cfg->nodeport_cidrs[i].addr.family != rc->family)
			continue;
		rc->nodeport_cidrs[rc->n_nodeport_cidrs].ip = cfg->nodeport_cidrs[i].addr;
		rc->nodeport_cidrs[rc->n_nodeport_cidrs].len = cfg->nodeport_cidrs[i].len;
		rc->n_nodeport_cidrs++;
	}
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

/* Sync one family. Returns 0 or -errno (then its next sync is full). */
static int sync_family(struct daemon *d, struct family_state *f, bool full)
{
	struct backend *b = f->backend;
	struct ruleset rs;
	struct model m;
	uint64_t t0 = now_ms();
	int err;

	err = build(d->cfg, d->store, f->family, &m, &rs);
	if (err) {
		log_err("sync %s: building the ruleset: %s", family_name(f->family), strerror(-err));
		f->need_full = true;
		return err;
	}
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
	if (b->ops->programs_kernel)
		conntrack_reconcile(&f->committed, &m, f->family);
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

static void sync_now(struct daemon *d, bool full)
{
	bool ok = true;

	d->last_sync_ms = now_ms();
	for (int i = 0; i < N_FAMILIES; i++)
		if (sync_family(d, &d->fam[i], full) < 0)
			ok = false;
	d->dirty = false;	/* a failed family retries through need_full */
	if (full && ok)
		d->last_full_ms = d->last_sync_ms;
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
		if (!d->last_sync_ms)
			due = now;
	} else {
		due = d->last_full_ms + cfg->sync_period_ms;
	}
	return due > now ? (long)(due - now) : 0;
}

int daemon_run(const struct config *cfg)
{
	struct daemon d;
	struct curl_waitfd wfd;
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
	kube_client_start(d.client);
	wfd.fd = sfd;
	wfd.events = CURL_WAIT_POLLIN;
	while (!stop) {
		uint64_t now = now_ms();
		long due = next_sync_in(&d, now);
		struct signalfd_siginfo si;

		wfd.revents = 0;
		if (kube_client_poll(d.client, &wfd, 1, due < 0 ? 1000 : (int)due) < 0) {
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
		kube_client_perform(d.client);
		now = now_ms();
		due = next_sync_in(&d, now);
		if (due == 0) {
			bool full = any_need_full(&d) || (!d.dirty &&
				    now >= d.last_full_ms + cfg->sync_period_ms);

			sync_now(&d, full);
		}
	}
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
		log_info("deleted table %s %s", family_name(families[i]), cfg->table);
	}
	return status;
}
