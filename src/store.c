/* Object cache. Two hash tables keyed by "namespace/name" (services and
 * slices) and one index "namespace/service-name" -> slices of that Service. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "store.h"

struct entry {
	struct entry *next;
	char *key;
	void *val;		/* k8s_service, k8s_endpoint_slice, or struct slice_list */
	bool stale;
};

struct table {
	struct entry **buckets;
	size_t nbuckets;
	size_t count;
};

/* The slices of one Service. */
struct slice_list {
	size_t n, cap;
	const struct k8s_endpoint_slice **v;
};

struct store {
	struct table services;
	struct table slices;
	struct table by_service;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static char *make_key(const char *ns, const char *name)
{
	size_t a = strlen(ns), b = strlen(name);
	char *k = malloc(a + b + 2);

	if (!k)
		return NULL;
	memcpy(k, ns, a);
	k[a] = '/';
	memcpy(k + a + 1, name, b + 1);
	return k;
}

static int table_grow(struct table *t)
{
	size_t nb = t->nbuckets ? t->nbuckets * 2 : 64;
	struct entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			size_t j = hash_str(e->key) & (nb - 1);

			next = e->next;
			e->next = b[j];
			b[j] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

static struct entry **table_find(const struct table *t, const char *key)
{
	struct entry **pp;

	if (!t->nbuckets)
		return NULL;
	pp = &t->buckets[hash_str(key) & (t->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->key, key))
			return pp;
	return NULL;
}

/* Insert a new entry; @key is taken over. Returns it or NULL. */
static struct entry *table_insert(struct table *t, char *key, void *val)
{
	struct entry *e;
	size_t j;

	if (t->count >= t->nbuckets && table_grow(t) < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = key;
	e->val = val;
	j = hash_str(key) & (t->nbuckets - 1);
	e->next = t->buckets[j];
	t->buckets[j] = e;
	t->count++;
	return e;
}

static void *table_unlink(struct table *t, struct entry **pp)
{
	struct entry *e = *pp;
	void *val = e->val;

	*pp = e->next;
	free(e->key);
	free(e);
	t->count--;
	return val;
}

static void table_clear(struct table *t, void (*free_val)(void *))
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (free_val)
				free_val(e->val);
			free(e->key);
			free(e);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static void free_service(void *p) { k8s_service_free(p); }
static void free_slice(void *p) { k8s_endpoint_slice_free(p); }
static void free_list(void *p)
{
	struct slice_list *l = p;

	free(l->v);
	free(l);
}

struct store *store_new(void)
{
	return calloc(1, sizeof(struct store));
}

void store_free(struct store *st)
{
	if (!st)
		return;
	table_clear(&st->services, free_service);
	table_clear(&st->slices, free_slice);
	table_clear(&st->by_service, free_list);
	free(st);
}

int store_service_put(struct store *st, struct k8s_service *svc)
{
	char *key = make_key(svc->namespace, svc->name);
	struct entry **pp;

	if (!key) {
		k8s_service_free(svc);
		return -ENOMEM;
	}
	pp = table_find(&st->services, key);
	if (pp) {
		free(key);
		k8s_service_free((*pp)->val);
		(*pp)->val = svc;
		(*pp)->stale = false;
		return 0;
	}
	if (!table_insert(&st->services, key, svc)) {
		free(key);
		k8s_service_free(svc);
		return -ENOMEM;
	}
	return 0;
}

int store_service_delete(struct store *st, const char *ns, const char *name)
{
	char *key = make_key(ns, name);
	struct entry **pp;

	if (!key)
		return -ENOMEM;
	pp = table_find(&st->services, key);
	free(key);
	if (!pp)
		return -ENOENT;
	k8s_service_free(table_unlink(&st->services, pp));
	return 0;
}

/* The by-service index key of a slice; slices without the label are kept
 * but belong to no Service. */
static char *index_key(const struct k8s_endpoint_slice *s)
{
	if (!s->service_name)
		return NULL;
	return make_key(s->namespace, s->service_name);
}

static void index_remove(struct store *st, const struct k8s_endpoint_slice *s)
{
	char *key = index_key(s);
	struct entry **pp;
	struct slice_list *l;

	if (!key)
		return;
	pp = table_find(&st->by_service, key);
	free(key);
	if (!pp)
		return;
	l = (*pp)->val;
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i] == s) {
			l->v[i] = l->v[--l->n];
			break;
		}
	}
	if (!l->n)
		free_list(table_unlink(&st->by_service, pp));
}

static int index_add(struct store *st, const struct k8s_endpoint_slice *s)
{
	char *key = index_key(s);
	struct entry **pp;
	struct slice_list *l;

	if (!key)
		return s->service_name ? -ENOMEM : 0;
	pp = table_find(&st->by_service, key);
	if (pp) {
		free(key);
		l = (*pp)->val;
	} else {
		l = calloc(1, sizeof(*l));
		if (!l || !table_insert(&st->by_service, key, l)) {
			free(l);
			free(key);
			return -ENOMEM;
		}
	}
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v), 2) < 0)
		return -ENOMEM;
	l->v[l->n++] = s;
	return 0;
}

int store_slice_put(struct store *st, struct k8s_endpoint_slice *slice)
{
	char *key = make_key(slice->namespace, slice->name);
	struct entry **pp;
	struct entry *e;

	if (!key) {
		k8s_endpoint_slice_free(slice);
		return -ENOMEM;
	}
	pp = table_find(&st->slices, key);
	if (pp) {
		free(key);
		e = *pp;
		index_remove(st, e->val);
		k8s_endpoint_slice_free(e->val);
		e->val = slice;
		e->stale = false;
	} else if (!table_insert(&st->slices, key, slice)) {
		free(key);
		k8s_endpoint_slice_free(slice);
		return -ENOMEM;
	}
	return index_add(st, slice);
}

int store_slice_delete(struct store *st, const char *ns, const char *name)
{
	char *key = make_key(ns, name);
	struct entry **pp;

	if (!key)
		return -ENOMEM;
	pp = table_find(&st->slices, key);
	free(key);
	if (!pp)
		return -ENOENT;
	index_remove(st, (*pp)->val);
	k8s_endpoint_slice_free(table_unlink(&st->slices, pp));
	return 0;
}

int store_object_put(struct store *st, struct k8s_object *o)
{
	int ret;

	if (o->service)
		ret = store_service_put(st, o->service);
	else if (o->slice)
		ret = store_slice_put(st, o->slice);
	else
		ret = -EINVAL;
	o->service = NULL;
	o->slice = NULL;
	return ret;
}

int store_object_delete(struct store *st, const struct k8s_object *o)
{
	if (o->service)
		return store_service_delete(st, o->service->namespace, o->service->name);
	if (o->slice)
		return store_slice_delete(st, o->slice->namespace, o->slice->name);
	return -EINVAL;
}

static struct table *kind_table(struct store *st, enum k8s_kind kind)
{
	return kind == K8S_SERVICE ? &st->services : &st->slices;
}

void store_relist_begin(struct store *st, enum k8s_kind kind)
{
	struct table *t = kind_table(st, kind);

	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct entry *e = t->buckets[i]; e; e = e->next)
			e->stale = true;
}

size_t store_relist_end(struct store *st, enum k8s_kind kind)
{
	struct table *t = kind_table(st, kind);
	size_t n = 0;

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct entry **pp = &t->buckets[i];

		while (*pp) {
			if (!(*pp)->stale) {
				pp = &(*pp)->next;
				continue;
			}
			if (kind == K8S_SERVICE) {
				k8s_service_free(table_unlink(t, pp));
			} else {
				index_remove(st, (*pp)->val);
				k8s_endpoint_slice_free(table_unlink(t, pp));
			}
			n++;
		}
	}
	return n;
}

void store_relist_keep(struct store *st, enum k8s_kind kind, const char *ns,
		       const char *name)
{
	char *key = make_key(ns, name);
	struct entry **pp;

	if (!key)
		return;
	pp = table_find(kind_table(st, kind), key);
	free(key);
	if (pp)
		(*pp)->stale = false;
}

size_t store_service_count(const struct store *st)
{
	return st->services.count;
}

size_t store_slice_count(const struct store *st)
{
	return st->slices.count;
}

const struct k8s_service **store_services(const struct store *st, size_t *n)
{
	const struct k8s_service **v;
	size_t k = 0;

	*n = 0;
	if (!st->services.count)
		return NULL;
	v = malloc(st->services.count * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < st->services.nbuckets; i++)
		for (struct entry *e = st->services.buckets[i]; e; e = e->next)
			v[k++] = e->val;
	*n = k;
	return v;
}

const struct k8s_endpoint_slice *const *store_service_slices(const struct store *st,
		const char *ns, const char *name, size_t *n)
{
	char *key = make_key(ns, name);
	struct entry **pp;
	struct slice_list *l;

	*n = 0;
	if (!key)
		return NULL;
	pp = table_find(&st->by_service, key);
	free(key);
	if (!pp)
		return NULL;
	l = (*pp)->val;
	*n = l->n;
	return l->v;
}

const struct k8s_service *store_service_get(const struct store *st,
		const char *ns, const char *name)
{
	char *key = make_key(ns, name);
	struct entry **pp;

	if (!key)
		return NULL;
	pp = table_find(&st->services, key);
	free(key);
	return pp ? (*pp)->val : NULL;
}
