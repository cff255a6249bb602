/* LIST + WATCH state machine per resource on one curl multi handle. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "kube/client.h"
#include "array.h"
#include "kube/ndjson.h"
#include "log.h"

#define LIST_PAGE_SIZE		500
#define MAX_BODY		(512u << 20)	/* a LIST body larger than this is refused */
#define MAX_LINE		(16u << 20)	/* one watch event */
#define BACKOFF_MIN_MS		500
#define BACKOFF_MAX_MS		30000
#define WATCH_TIMEOUT_MIN_S	300		/* client-go's minWatchTimeout: 5 min.. */
#define LIST_TIMEOUT_MS		60000
#define CONNECT_TIMEOUT_MS	5000
#define WATCH_FAILURES_RELIST	3	/* refused watches in a row before a relist */

enum wstate { W_IDLE, W_LIST, W_WATCH, W_BACKOFF };

/* Why the current transfer was aborted by us. */
enum abort_reason { AB_NONE, AB_RELIST, AB_BAD_LINE, AB_TOO_BIG, AB_ERROR_EVENT };

struct watcher {
	struct kube_client *c;
	enum k8s_kind kind;
	const char *path;
	enum wstate state;
	enum wstate after_backoff;	/* W_LIST or W_WATCH */
	CURL *easy;
	struct curl_slist *headers;
	char *buf;			/* a LIST body, or an error response */
	size_t len, cap;
	struct ndjson lines;		/* a WATCH body */
	char rv[64];
	char *cont;
	bool synced;
	bool got_data;
	enum abort_reason abort;
	unsigned int backoff_ms;
	unsigned int watch_failures;	/* consecutive refused watches */
	uint64_t due_ms;
	uint64_t started_ms;
};

struct kube_client {
	const struct config *cfg;
	struct kube_handler h;
	CURLM *multi;
	struct watcher w[2];	/* Services, EndpointSlices (or Endpoints) */
	struct kube_stats stats;
	char fatal[256];
	uint64_t last_ok_ms;
	unsigned int rng;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *kind_name(enum k8s_kind k)
{
	switch (k) {
	case K8S_SERVICE: return "Services";
	case K8S_ENDPOINT_SLICE: return "EndpointSlices";
	case K8S_ENDPOINTS: return "Endpoints";
	}
	return "?";
}

static const char *kind_path(enum k8s_kind k)
{
	switch (k) {
	case K8S_SERVICE: return "/api/v1/services";
	case K8S_ENDPOINT_SLICE: return "/apis/discovery.k8s.io/v1/endpointslices";
	case K8S_ENDPOINTS: return "/api/v1/endpoints";
	}
	return "/";
}

static bool buf_append(struct watcher *w, const char *p, size_t n)
{
	if (array_reserve(&w->buf, &w->cap, w->len + n + 1, 1, 16384) < 0)
		return false;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	w->buf[w->len] = '\0';
	return true;
}

/* A stub object carrying only namespace/name, to delete an object whose
 * DELETED event did not validate. */
static int stub_object(enum k8s_kind kind, const char *ns, const char *name,
		       struct k8s_object *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	if (kind == K8S_SERVICE) {
		o->service = calloc(1, sizeof(*o->service));
		if (!o->service)
			return -ENOMEM;
		o->service->namespace = strdup(ns);
		o->service->name = strdup(name);
		if (!o->service->namespace || !o->service->name) {
			k8s_object_clear(o);
			return -ENOMEM;
		}
	} else {
		o->slice = calloc(1, sizeof(*o->slice));
		if (!o->slice)
			return -ENOMEM;
		o->slice->namespace = strdup(ns);
		o->slice->name = strdup(name);
		if (!o->slice->namespace || !o->slice->name) {
			k8s_object_clear(o);
			return -ENOMEM;
		}
	}
	return 0;
}

/* One line of a watch stream. Returns false to abort the stream. */
static bool watch_line(struct watcher *w, const char *line, size_t len)
{
	struct kube_client *c = w->c;
	struct k8s_event ev;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (!len)
		return true;
	if (k8s_event_decode(w->kind, line, len, &ev) < 0) {
		c->stats.invalid_lines++;
		log_err("watch %s: a line that is not a watch event (%zu bytes: %.60s%s); restarting the watch from resourceVersion %s",
			kind_name(w->kind), len, line, len > 60 ? "..." : "", w->rv);
		w->abort = AB_BAD_LINE;
		return false;
	}
	switch (ev.type) {
	case EV_ERROR:
		if (ev.code == 410) {
			log_info("watch %s: resourceVersion %s expired (410): relisting",
				 kind_name(w->kind), w->rv);
			w->abort = AB_RELIST;
		} else {
			log_err("watch %s: ERROR event %d: %s", kind_name(w->kind), ev.code,
				ev.err_msg);
			w->abort = AB_ERROR_EVENT;
		}
		k8s_event_clear(&ev);
		return false;
	case EV_BOOKMARK:
		break;
	case EV_ADDED:
	case EV_MODIFIED:
	case EV_DELETED:
		if (!ev.obj.service && !ev.obj.slice) {
			c->stats.invalid_objects++;
			log_err("watch %s: skipping invalid object: %s", kind_name(w->kind),
				ev.err_msg);
			if (ev.type == EV_DELETED && ev.name[0] &&
			    !stub_object(w->kind, ev.namespace[0] ? ev.namespace : "default",
					 ev.name, &ev.obj))
				c->h.object(c->h.ctx, w->kind, ev.type, &ev.obj);
			break;
		}
		c->stats.events++;
		c->h.object(c->h.ctx, w->kind, ev.type, &ev.obj);
		break;
	}
	if (ev.resource_version[0])
		snprintf(w->rv, sizeof(w->rv), "%s", ev.resource_version);
	k8s_event_clear(&ev);
	return true;
}

static int watch_line_cb(void *ctx, const char *line, size_t len)
{
	return watch_line(ctx, line, len) ? 0 : -ECANCELED;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct watcher *w = ud;
	size_t n = size * nmemb;
	long code = 0;

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
	if (w->state == W_LIST || code != 200) {
		if (w->len + n > MAX_BODY) {
			log_err("list %s: response larger than %u MiB: refused",
				kind_name(w->kind), MAX_BODY >> 20);
			w->abort = AB_TOO_BIG;
			return 0;
		}
		return buf_append(w, ptr, n) ? n : 0;
	}
	w->got_data = true;
	w->c->last_ok_ms = now_ms();
	switch (ndjson_feed(&w->lines, ptr, n, watch_line_cb, w)) {
	case 0:
		return n;
	case -E2BIG:
		w->c->stats.invalid_lines++;
		log_err("watch %s: an event longer than %u MiB: restarting the watch",
			kind_name(w->kind), MAX_LINE >> 20);
		w->abort = AB_TOO_BIG;
		return 0;
	default:	/* out of memory, or watch_line() stopped the stream */
		return 0;
	}
}

static char *read_token(const struct api_config *a)
{
	if (a->token_file) {
		char *t = config_read_file(a->token_file, NULL);

		if (t) {
			size_t n = strlen(t);

			while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
				t[--n] = '\0';
			return t;
		}
		log_err("token file %s: %s", a->token_file, strerror(errno));
	}
	return a->token ? strdup(a->token) : NULL;
}

static void set_tls(CURL *e, const struct api_config *a)
{
	if (a->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (a->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, a->ca_file);
	if (a->ca_data) {
		struct curl_blob blob = { a->ca_data, a->ca_data_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (a->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, a->cert_file);
	if (a->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, a->key_file);
	if (a->cert_data) {
		struct curl_blob blob = { a->cert_data, a->cert_data_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (a->key_data) {
		struct curl_blob blob = { a->key_data, a->key_data_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

static void transfer_end(struct watcher *w)
{
	if (w->easy) {
		curl_multi_remove_handle(w->c->multi, w->easy);
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
	}
	curl_slist_free_all(w->headers);
	w->headers = NULL;
	w->len = 0;
	ndjson_reset(&w->lines);
	w->abort = AB_NONE;
	w->got_data = false;
}

static int request(struct watcher *w, bool watch)
{
	struct kube_client *c = w->c;
	const struct api_config *a = &c->cfg->api;
	char *sel = NULL, *cont = NULL, *token, *url = NULL;
	int ret;

	transfer_end(w);
	w->easy = curl_easy_init();
	if (!w->easy)
		return -ENOMEM;
	sel = curl_easy_escape(w->easy, PROXY_LABEL_SELECTOR, 0);
	if (watch) {
		unsigned int timeout = WATCH_TIMEOUT_MIN_S + rand_r(&c->rng) % WATCH_TIMEOUT_MIN_S;

		ret = asprintf(&url, "%s%s?watch=true&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u&labelSelector=%s",
			       a->server, w->path, w->rv, timeout, sel);
	} else {
		if (w->cont)
			cont = curl_easy_escape(w->easy, w->cont, 0);
		ret = asprintf(&url, "%s%s?limit=%d&labelSelector=%s%s%s", a->server, w->path,
			       LIST_PAGE_SIZE, sel, cont ? "&continue=" : "", cont ? cont : "");
	}
	curl_free(sel);
	curl_free(cont);
	if (ret < 0)
		return -ENOMEM;
	w->headers = curl_slist_append(NULL, "Accept: application/json");
	token = read_token(a);
	if (token) {
		char *hdr;

		if (asprintf(&hdr, "Authorization: Bearer %s", token) >= 0) {
			w->headers = curl_slist_append(w->headers, hdr);
			free(hdr);
		}
		free(token);
	}
	curl_easy_setopt(w->easy, CURLOPT_URL, url);
	curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(w->easy, CURLOPT_USERAGENT, "kube-nftproxy/" PACKAGE_VERSION);
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->easy, CURLOPT_PRIVATE, w);
	curl_easy_setopt(w->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(w->easy, CURLOPT_ACCEPT_ENCODING, "");
	if (!watch)
		curl_easy_setopt(w->easy, CURLOPT_TIMEOUT_MS, (long)LIST_TIMEOUT_MS);
	set_tls(w->easy, a);
	log_v(5, "GET %s", url);
	free(url);
	w->state = watch ? W_WATCH : W_LIST;
	w->started_ms = now_ms();
	if (watch)
		c->stats.watches++;
	if (curl_multi_add_handle(c->multi, w->easy) != CURLM_OK)
		return -ENOMEM;
	return 0;
}

static bool tls_failure(CURLcode r)
{
	return r == CURLE_PEER_FAILED_VERIFICATION || r == CURLE_SSL_CERTPROBLEM ||
	       r == CURLE_SSL_CACERT_BADFILE || r == CURLE_SSL_CONNECT_ERROR ||
	       r == CURLE_SSL_ISSUER_ERROR;
}

static void backoff(struct watcher *w, enum wstate then)
{
	unsigned int d = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_MIN_MS;

	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	w->backoff_ms = d;
	/* jitter: 75%..125% so many nodes do not retry in step */
	d = d * 3 / 4 + rand_r(&w->c->rng) % (d / 2 + 1);
	transfer_end(w);
	w->state = W_BACKOFF;
	w->after_backoff = then;
	w->due_ms = now_ms() + d;
	log_v(2, "%s: retrying in %u ms", kind_name(w->kind), d);
}

static void start_list(struct watcher *w)
{
	free(w->cont);
	w->cont = NULL;
	if (request(w, false) < 0)
		backoff(w, W_LIST);
}

static void start_watch(struct watcher *w)
{
	if (request(w, true) < 0)
		backoff(w, W_WATCH);
}


static void list_item(struct k8s_object *o, void *ctx)
{
	struct watcher *w = ctx;

	w->c->h.object(w->c->h.ctx, w->kind, EV_ADDED, o);
}

static void list_err(const char *msg, const char *ns, const char *name, void *ctx)
{
	struct watcher *w = ctx;

	if (!name) {	/* the whole body: logged by list_done */
		return;
	}
	w->c->stats.invalid_objects++;
	log_err("list %s: skipping invalid object: %s", kind_name(w->kind), msg);
	if (w->c->h.invalid)
		w->c->h.invalid(w->c->h.ctx, w->kind, ns, name);
}

static void list_done(struct watcher *w, long code)
{
	struct kube_client *c = w->c;
	struct k8s_list_result res = { 0 };
	bool first = !w->cont;

	if (code == 410 && w->cont) {	/* continue token expired: start over */
		log_info("list %s: continue token expired: listing again", kind_name(w->kind));
		start_list(w);
		return;
	}
	if (code == 404 && w->kind == K8S_ENDPOINT_SLICE) {
		log_info("the apiserver does not serve discovery.k8s.io/v1 EndpointSlices: using v1 Endpoints");
		w->kind = K8S_ENDPOINTS;
		w->path = kind_path(w->kind);
		start_list(w);
		return;
	}
	if (code != 200) {
		c->stats.http_errors++;
		log_err("list %s: HTTP %ld: %.200s", kind_name(w->kind), code, w->len ? w->buf : "");
		if (code == 401 || code == 403)
			snprintf(c->fatal, sizeof(c->fatal), "the apiserver answers HTTP %ld to LIST %s: check the credentials and RBAC",
				 code, w->path);
		backoff(w, W_LIST);
		return;
	}
	if (first)
		c->h.list_begin(c->h.ctx, w->kind);
	if (k8s_list_decode(w->kind, w->buf ? w->buf : "", w->len, list_item, list_err, w, &res) < 0) {
		c->stats.http_errors++;
		log_err("list %s: the response is not a List: %.200s", kind_name(w->kind),
			w->len ? w->buf : "");
		free(res.continue_token);
		backoff(w, W_LIST);
		return;
	}
	c->last_ok_ms = now_ms();
	c->fatal[0] = '\0';
	w->backoff_ms = 0;
	snprintf(w->rv, sizeof(w->rv), "%s", res.resource_version);
	free(w->cont);
	w->cont = res.continue_token;
	if (w->cont && *w->cont) {
		if (request(w, false) < 0)
			backoff(w, W_LIST);
		return;
	}
	free(w->cont);
	w->cont = NULL;
	c->stats.lists++;
	log_v(2, "list %s: done at resourceVersion %s", kind_name(w->kind), w->rv);
	c->h.list_end(c->h.ctx, w->kind);
	w->synced = true;
	start_watch(w);
}

static void watch_done(struct watcher *w, CURLcode res, long code)
{
	struct kube_client *c = w->c;
	bool lively = w->got_data || now_ms() - w->started_ms > 1000;

	if (w->abort == AB_RELIST || code == 410) {
		c->stats.relists++;
		if (code == 410)
			log_info("watch %s: HTTP 410: relisting", kind_name(w->kind));
		start_list(w);
		return;
	}
	if (w->abort == AB_BAD_LINE || w->abort == AB_TOO_BIG) {
		/* the stream is corrupt; what was applied before it is fine.
		 * Back off: the same line may come again from the same
		 * resourceVersion, and must not be replayed in a tight loop */
		backoff(w, W_WATCH);
		return;
	}
	if (w->abort == AB_ERROR_EVENT || (res == CURLE_OK && code != 200) || res != CURLE_OK) {
		c->stats.http_errors++;
		if (res != CURLE_OK)
			log_err("watch %s: %s", kind_name(w->kind), curl_easy_strerror(res));
		else if (code != 200)
			log_err("watch %s: HTTP %ld: %.200s", kind_name(w->kind), code,
				w->len ? w->buf : "");
		/* a watch the server keeps refusing (e.g. 504 "Too large
		 * resource version" after an etcd restore) will not heal from
		 * the same resourceVersion: relist, as client-go does */
		if (res == CURLE_OK && ++w->watch_failures >= WATCH_FAILURES_RELIST) {
			log_info("watch %s: refused %u times from resourceVersion %s: relisting",
				 kind_name(w->kind), w->watch_failures, w->rv);
			w->watch_failures = 0;
			c->stats.relists++;
			backoff(w, W_LIST);
			return;
		}
		backoff(w, W_WATCH);
		return;
	}
	w->watch_failures = 0;
	/* a normal end (timeoutSeconds, apiserver restart): resume */
	log_v(3, "watch %s: closed; resuming from resourceVersion %s", kind_name(w->kind), w->rv);
	if (lively) {
		w->backoff_ms = 0;
		start_watch(w);
	} else {
		backoff(w, W_WATCH);
	}
}

struct kube_client *kube_client_new(const struct config *cfg, const struct kube_handler *h)
{
	struct kube_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cfg = cfg;
	c->h = *h;
	c->rng = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	c->multi = curl_multi_init();
	if (!c->multi) {
		free(c);
		return NULL;
	}
	c->w[0].kind = K8S_SERVICE;
	c->w[1].kind = K8S_ENDPOINT_SLICE;
	for (int i = 0; i < 2; i++) {
		c->w[i].c = c;
		c->w[i].path = kind_path(c->w[i].kind);
		c->w[i].lines.max_line = MAX_LINE;
	}
	c->last_ok_ms = now_ms();
	return c;
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < 2; i++) {
		transfer_end(&c->w[i]);
		free(c->w[i].buf);
		ndjson_free(&c->w[i].lines);
		free(c->w[i].cont);
	}
	curl_multi_cleanup(c->multi);
	free(c);
}

int kube_client_start(struct kube_client *c)
{
	for (int i = 0; i < 2; i++)
		start_list(&c->w[i]);
	return 0;
}

int kube_client_poll(struct kube_client *c, struct curl_waitfd *extra,
		     unsigned int n_extra, int timeout_ms)
{
	uint64_t now = now_ms();

	for (int i = 0; i < 2; i++) {
		if (c->w[i].state == W_BACKOFF) {
			long d = c->w[i].due_ms > now ? (long)(c->w[i].due_ms - now) : 0;

			if (timeout_ms < 0 || d < timeout_ms)
				timeout_ms = d;
		}
	}
	if (timeout_ms < 0)
		timeout_ms = 1000;
	if (curl_multi_poll(c->multi, extra, n_extra, timeout_ms, NULL) != CURLM_OK)
		return -EIO;
	return 0;
}

int kube_client_perform(struct kube_client *c)
{
	CURLMsg *msg;
	int running, left;
	uint64_t now;

	curl_multi_perform(c->multi, &running);
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		struct watcher *w = NULL;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&w);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (!w)
			continue;
		if (w->state == W_LIST) {
			if (msg->data.result != CURLE_OK) {
				c->stats.http_errors++;
				log_err("list %s: %s", kind_name(w->kind),
					w->abort == AB_TOO_BIG ? "response too large" :
					curl_easy_strerror(msg->data.result));
				if (tls_failure(msg->data.result))
					snprintf(c->fatal, sizeof(c->fatal), "TLS with %s: %s",
						 c->cfg->api.server, curl_easy_strerror(msg->data.result));
				backoff(w, W_LIST);
			} else {
				list_done(w, code);
			}
		} else if (w->state == W_WATCH) {
			watch_done(w, msg->data.result, code);
		}
	}
	now = now_ms();
	for (int i = 0; i < 2; i++) {
		struct watcher *w = &c->w[i];

		if (w->state == W_BACKOFF && now >= w->due_ms) {
			if (w->after_backoff == W_WATCH)
				start_watch(w);
			else
				start_list(w);
		}
	}
	return 0;
}

bool kube_client_synced(const struct kube_client *c)
{
	return c->w[0].synced && c->w[1].synced;
}

long kube_client_idle_ms(const struct kube_client *c)
{
	return (long)(now_ms() - c->last_ok_ms);
}

const struct kube_stats *kube_client_stats(const struct kube_client *c)
{
	return &c->stats;
}

const char *kube_client_fatal(const struct kube_client *c)
{
	return c->fatal[0] ? c->fatal : NULL;
}
