/* The object cache: Services and EndpointSlices by namespace/name, and the
 * slices of each Service.
 *
 * The store owns every object put into it (and frees it when replaced,
 * deleted or at store_free()). It does no validation: objects come from
 * kube/decode, already checked. Not thread-safe (the daemon is single
 * threaded). */
#ifndef KNP_STORE_H
#define KNP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include "kube/types.h"
#include "kube/decode.h"

struct store;

/* Returns NULL on allocation failure. */
struct store *store_new(void);
void store_free(struct store *st);

/* Insert or replace. Takes ownership of @svc / @slice in every case (frees
 * it on error). Returns 0 or -ENOMEM. */
int store_service_put(struct store *st, struct k8s_service *svc);
int store_slice_put(struct store *st, struct k8s_endpoint_slice *slice);
/* Remove and free; returns 0, or -ENOENT when absent. */
int store_service_delete(struct store *st, const char *ns, const char *name);
int store_slice_delete(struct store *st, const char *ns, const char *name);

/* Put/delete driven by a decoded watch object (takes ownership of o's
 * pointers). */
int store_object_put(struct store *st, struct k8s_object *o);
int store_object_delete(struct store *st, const struct k8s_object *o);

/* Relist: store_relist_begin() marks every object of @kind stale; each put
 * afterwards marks its object fresh; store_relist_end() deletes the stale
 * ones (objects that vanished while the watch was down) and returns how many
 * it deleted. K8S_ENDPOINTS and K8S_ENDPOINT_SLICE share one table. */
void store_relist_begin(struct store *st, enum k8s_kind kind);
size_t store_relist_end(struct store *st, enum k8s_kind kind);
/* During a relist: keep the object @ns/@name of @kind (listed but invalid)
 * as it is. No effect when absent. */
void store_relist_keep(struct store *st, enum k8s_kind kind, const char *ns,
		       const char *name);

size_t store_service_count(const struct store *st);
size_t store_slice_count(const struct store *st);

/* Every Service, in no particular order. Returns a malloc'd array the caller
 * frees (the pointers stay owned by the store); *n gets the count. NULL with
 * *n = 0 when empty or on allocation failure. */
const struct k8s_service **store_services(const struct store *st, size_t *n);

/* The slices labelled kubernetes.io/service-name=@name in @ns (legacy
 * Endpoints appear as one slice chain named @name). Returns a pointer into
 * the store valid until the next put/delete; *n gets the count. */
const struct k8s_endpoint_slice *const *store_service_slices(const struct store *st,
		const char *ns, const char *name, size_t *n);

const struct k8s_service *store_service_get(const struct store *st,
		const char *ns, const char *name);

#endif
