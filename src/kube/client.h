/* The apiserver client: LIST (paginated) then WATCH for each resource, on
 * one libcurl multi handle driven by the daemon's event loop.
 *
 * Protocol (Kubernetes API concepts, "Efficient detection of changes"):
 *   LIST  GET <path>?limit=500&labelSelector=..[&continue=TOKEN]
 *   WATCH GET <path>?watch=true&resourceVersion=RV&allowWatchBookmarks=true
 *         &timeoutSeconds=T&labelSelector=..  -> newline-delimited JSON events
 *         over a chunked response; an event may span chunks and a chunk may
 *         hold several events.
 *   A watch that ends normally resumes from the last resourceVersion seen
 *   (BOOKMARKs advance it); 410 Gone/Expired (as HTTP status or as an ERROR
 *   event) triggers a relist; other failures back off (jittered
 *   exponential, 0.5 s doubling to 30 s) and keep the cache and the rules.
 *   EndpointSlices fall back to v1 Endpoints when the server answers 404
 *   for the discovery.k8s.io/v1 resource.
 */
#ifndef KNP_KUBE_CLIENT_H
#define KNP_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>
#include "config.h"
#include "kube/decode.h"

/* kube-proxy's selector: skip Services (and their slices) that another
 * proxy implements, and headless ones. */
#define PROXY_LABEL_SELECTOR \
	"!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name"

/* Callbacks into the daemon. @kind is K8S_SERVICE, K8S_ENDPOINT_SLICE or
 * K8S_ENDPOINTS. object() takes ownership of @o's pointers. */
struct kube_handler {
	void (*list_begin)(void *ctx, enum k8s_kind kind);
	/* An object of a LIST that failed validation: the cache keeps its last
	 * valid version rather than treating it as deleted. */
	void (*invalid)(void *ctx, enum k8s_kind kind, const char *ns, const char *name);
	void (*object)(void *ctx, enum k8s_kind kind, enum k8s_event_type type,
		       struct k8s_object *o);
	void (*list_end)(void *ctx, enum k8s_kind kind);
	void *ctx;
};

/* Counters (for logs and /metrics). */
struct kube_stats {
	unsigned long lists;		/* LIST requests completed */
	unsigned long relists;		/* relists after 410 */
	unsigned long watches;		/* WATCH requests started */
	unsigned long events;		/* watch events applied */
	unsigned long invalid_objects;	/* objects skipped by validation */
	unsigned long invalid_lines;	/* watch lines that were not events */
	unsigned long http_errors;	/* failed requests (transport or status) */
};

struct kube_client;

/* @cfg must outlive the client. Returns NULL on allocation failure. */
struct kube_client *kube_client_new(const struct config *cfg, const struct kube_handler *h);
void kube_client_free(struct kube_client *c);

/* Start listing and watching Services and EndpointSlices. Returns 0 or -errno. */
int kube_client_start(struct kube_client *c);

/* Wait for network activity, one of @extra's fds, or @timeout_ms
 * (milliseconds; the client shortens it for its own timers). Returns 0 or
 * -errno. */
int kube_client_poll(struct kube_client *c, struct curl_waitfd *extra,
		     unsigned int n_extra, int timeout_ms);
/* Run transfers and timers; calls the handler. Returns 0 or -errno. */
int kube_client_perform(struct kube_client *c);

/* true once every resource completed its first full LIST. */
bool kube_client_synced(const struct kube_client *c);
/* Milliseconds since the last successful response from the apiserver. */
long kube_client_idle_ms(const struct kube_client *c);
const struct kube_stats *kube_client_stats(const struct kube_client *c);
/* The last failure that retrying will not fix by itself (401/403, TLS
 * verification, bad client certificate), or NULL; cleared by a success.
 * The daemon keeps retrying (credentials rotate); `dump` gives up at once. */
const char *kube_client_fatal(const struct kube_client *c);

#endif
