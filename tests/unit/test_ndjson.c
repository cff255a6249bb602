/* Watch stream framing: lines across and within chunks, limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>
#include "kube/ndjson.h"

struct seen {
	char lines[8][64];
	size_t n;
	int stop_at;	/* return -ECANCELED on this line (1-based), 0 = never */
};

static int collect(void *ctx, const char *line, size_t len)
{
	struct seen *s = ctx;

	assert_true(s->n < 8 && len < 64);
	memcpy(s->lines[s->n], line, len);
	s->lines[s->n][len] = '\0';
	s->n++;
	return (int)s->n == s->stop_at ? -ECANCELED : 0;
}

static void test_an_event_split_across_chunks_is_one_line(void **state)
{
	struct ndjson nd = { .max_line = 1024 };
	struct seen s = { 0 };

	assert_int_equal(ndjson_feed(&nd, "{\"type\":\"ADD", 12, collect, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(ndjson_feed(&nd, "ED\"}", 4, collect, &s), 0);
	assert_int_equal(ndjson_feed(&nd, "\n", 1, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.lines[0], "{\"type\":\"ADDED\"}");
	ndjson_free(&nd);
}

static void test_several_events_and_a_partial_one_in_one_chunk(void **state)
{
	static const char chunk[] = "a\nbb\n\nccc";
	struct ndjson nd = { .max_line = 1024 };
	struct seen s = { 0 };

	assert_int_equal(ndjson_feed(&nd, chunk, strlen(chunk), collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.lines[0], "a");
	assert_string_equal(s.lines[1], "bb");
	assert_string_equal(s.lines[2], "");
	assert_int_equal(ndjson_feed(&nd, "c\r\n", 3, collect, &s), 0);
	assert_string_equal(s.lines[3], "cccc\r");
	ndjson_free(&nd);
}

static void test_a_line_over_the_limit_is_refused_whole_or_in_parts(void **state)
{
	struct ndjson nd = { .max_line = 4 };
	struct seen s = { 0 };

	assert_int_equal(ndjson_feed(&nd, "12345\n", 6, collect, &s), -E2BIG);
	ndjson_reset(&nd);
	assert_int_equal(ndjson_feed(&nd, "123", 3, collect, &s), 0);
	assert_int_equal(ndjson_feed(&nd, "45", 2, collect, &s), -E2BIG);
	ndjson_reset(&nd);
	assert_int_equal(ndjson_feed(&nd, "1234\n", 5, collect, &s), 0);
	assert_int_equal(s.n, 1);
	ndjson_free(&nd);
}

static void test_the_callback_can_stop_the_stream(void **state)
{
	struct ndjson nd = { .max_line = 64 };
	struct seen s = { .stop_at = 2 };

	assert_int_equal(ndjson_feed(&nd, "a\nb\nc\n", 6, collect, &s), -ECANCELED);
	assert_int_equal(s.n, 2);
	ndjson_free(&nd);
}

static void test_reset_drops_the_partial_line(void **state)
{
	struct ndjson nd = { .max_line = 64 };
	struct seen s = { 0 };

	assert_int_equal(ndjson_feed(&nd, "half", 4, collect, &s), 0);
	ndjson_reset(&nd);
	assert_int_equal(ndjson_feed(&nd, "new\n", 4, collect, &s), 0);
	assert_string_equal(s.lines[0], "new");
	ndjson_free(&nd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_event_split_across_chunks_is_one_line),
		cmocka_unit_test(test_several_events_and_a_partial_one_in_one_chunk),
		cmocka_unit_test(test_a_line_over_the_limit_is_refused_whole_or_in_parts),
		cmocka_unit_test(test_the_callback_can_stop_the_stream),
		cmocka_unit_test(test_reset_drops_the_partial_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
