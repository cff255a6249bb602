/* Shared helpers for the unit tests: objects from inline JSON or fixture
 * files, put into a store. */
#ifndef KNP_TEST_HELPERS_H
#define KNP_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>
#include "kube/decode.h"
#include "store.h"

/* Decode @json as an object of @kind and put it into @st; fails the test
 * when it does not decode. */
static inline void put_json(struct store *st, enum k8s_kind kind, const char *json)
{
	char err[256] = "";
	cJSON *j = cJSON_Parse(json);
	struct k8s_object o;

	assert_non_null(j);
	if (k8s_object_decode(kind, j, &o, err, sizeof(err)) < 0)
		fail_msg("decode: %s", err);
	cJSON_Delete(j);
	assert_int_equal(store_object_put(st, &o), 0);
}

static inline char *fixture_path(const char *name)
{
	const char *dir = getenv("KNP_FIXTURES");
	char *p;

	if (!dir)
		dir = "../shared/fixtures";
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

static inline char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n + 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Put the fixture file @name (one object) into @st as @kind. */
static inline void put_fixture(struct store *st, enum k8s_kind kind, const char *name)
{
	char *path = fixture_path(name);
	char *json = slurp(path);

	if (!json)
		fail_msg("cannot read fixture %s", path);
	put_json(st, kind, json);
	free(json);
	free(path);
}

#endif
