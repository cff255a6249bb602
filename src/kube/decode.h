/* JSON (cJSON) to the structs of types.h, with validation of every field
 * the proxy uses.
 *
 * Errors: every function returns 0 or a negative errno:
 *   -EINVAL   the JSON is not valid, or a field is invalid (bad IP, port 0 or
 *             > 65535, unknown protocol, missing name). @err (if not NULL)
 *             receives one line naming namespace/name and the field, e.g.
 *             "Service default/web: spec.ports[1].port: 70000 out of range".
 *   -ENOMEM   allocation failed.
 * On error *out is left NULL and nothing is leaked.
 */
#ifndef KNP_KUBE_DECODE_H
#define KNP_KUBE_DECODE_H

#include <stddef.h>
#include <cJSON.h>
#include "kube/types.h"

/* Which resource a list or watch stream carries. */
enum k8s_kind {
	K8S_SERVICE = 0,
	K8S_ENDPOINT_SLICE,
	K8S_ENDPOINTS,		/* legacy core/v1 Endpoints */
};

/* One decoded object of any kind; exactly one pointer is set. Caller owns. */
struct k8s_object {
	enum k8s_kind kind;
	struct k8s_service *service;
	struct k8s_endpoint_slice *slice;	/* also for K8S_ENDPOINTS */
};

void k8s_object_clear(struct k8s_object *o);

/* Decode one object of @kind from a parsed JSON object. */
int k8s_service_decode(const cJSON *obj, struct k8s_service **out,
		       char *err, size_t errlen);
int k8s_endpoint_slice_decode(const cJSON *obj, struct k8s_endpoint_slice **out,
			      char *err, size_t errlen);
/* Legacy Endpoints: one k8s_endpoint_slice per subset, linked by next, each
 * with name = service_name = the Endpoints name. An Endpoints with no
 * subsets (null or []) yields one slice with no endpoints. */
int k8s_endpoints_decode(const cJSON *obj, struct k8s_endpoint_slice **out,
			 char *err, size_t errlen);
int k8s_object_decode(enum k8s_kind kind, const cJSON *obj, struct k8s_object *out,
		      char *err, size_t errlen);

/* Watch event types (meta/v1 WatchEvent). */
enum k8s_event_type {
	EV_ADDED = 0,
	EV_MODIFIED,
	EV_DELETED,
	EV_BOOKMARK,
	EV_ERROR,
};

/* A decoded watch event. For ADDED/MODIFIED/DELETED obj holds the object
 * (which may have failed to decode: then obj pointers are NULL, err_msg says
 * why, and namespace/name are filled when they could be read). For
 * BOOKMARK only resource_version is set. For ERROR, code holds the Status
 * code (e.g. 410; 0 when absent) and err_msg the Status message. */
struct k8s_event {
	enum k8s_event_type type;
	struct k8s_object obj;
	char resource_version[64];	/* object's metadata.resourceVersion */
	int code;
	char namespace[254];
	char name[254];
	char err_msg[256];
};

/* Decode one line of a watch stream (@len bytes, not NUL-terminated).
 * Returns 0 when the event envelope is valid (even if the object inside is
 * not: see above), -EINVAL for a line that is not a watch event. Caller
 * releases with k8s_event_clear(). */
int k8s_event_decode(enum k8s_kind kind, const char *line, size_t len,
		     struct k8s_event *ev);
void k8s_event_clear(struct k8s_event *ev);

/* Called for each item of a list; the callee takes ownership of @o's
 * pointers. Items that fail to decode are not passed; they are counted in
 * k8s_list_result.invalid and reported through @err_cb (may be NULL) with
 * their metadata.namespace and metadata.name when those are readable
 * strings (else NULL), so a relist can keep the last valid version of an
 * object that still exists. A body that is not a List is reported once
 * with ns = name = NULL. */
typedef void (*k8s_item_cb)(struct k8s_object *o, void *ctx);
typedef void (*k8s_err_cb)(const char *msg, const char *ns, const char *name, void *ctx);

struct k8s_list_result {
	char resource_version[64];	/* metadata.resourceVersion */
	char *continue_token;		/* metadata.continue; NULL if none; caller frees */
	size_t items;			/* items decoded and passed to cb */
	size_t invalid;			/* items skipped */
};

/* Decode a List response body (@len bytes). Returns 0, -EINVAL when the body
 * is not a List (e.g. a Status), -ENOMEM. */
int k8s_list_decode(enum k8s_kind kind, const char *body, size_t len,
		    k8s_item_cb cb, k8s_err_cb err_cb, void *ctx,
		    struct k8s_list_result *res);

#endif
