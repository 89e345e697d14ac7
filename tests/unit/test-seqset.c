/* test-seqset.c - unit tests of IMAP sequence sets (lib/seqset.c).
 *
 * Parsing against RFC 3501 syntax (valid and invalid forms), canonical
 * formatting, '*' resolution, the bounds on hostile input (huge lists,
 * huge ranges), and the set operations checked against a plain bitmap
 * model under random add/remove sequences. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "seqset.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Parse text and return its canonical form (static buffer), or "ERROR". */
static const char *canon(const char *text)
{
    static char out[256];
    struct seqset set;
    struct buf b = BUF_INIT;

    seqset_init(&set);
    if (seqset_parse(text, strlen(text), &set) < 0) {
        assert_true(seqset_is_empty(&set));
        seqset_free(&set);
        return "ERROR";
    }
    seqset_format(&set, &b);
    snprintf(out, sizeof(out), "%s", buf_cstr(&b));
    buf_free(&b);
    seqset_free(&set);
    return out;
}

/* The invariants of a set: sorted, each low <= high, none touching. */
static void check_invariants(const struct seqset *set)
{
    for (size_t i = 0; i < set->count; i++) {
        assert_true(set->ranges[i].low >= 1);
        assert_true(set->ranges[i].low <= set->ranges[i].high);
        if (i > 0)
            assert_true((uint64_t)set->ranges[i - 1].high + 1 < set->ranges[i].low);
    }
}

static void test_parse_valid(void **state)
{
    static const char *const cases[][2] = {
        { "1", "1" },
        { "1:5", "1:5" },
        { "5:1", "1:5" },
        { "1,3,5", "1,3,5" },
        { "3,1,2", "1:3" },
        { "1:3,2:6", "1:6" },
        { "1:3,4:6", "1:6" },
        { "1:3,5:6", "1:3,5:6" },
        { "10:20,1:2,15:30", "1:2,10:30" },
        { "7,7,7", "7" },
        { "*", "*" },
        { "1:*", "1:*" },
        { "*:1", "1:*" },
        { "5,*", "5,*" },
        { "*,5", "5,*" },
        { "4294967294", "4294967294" },
        { "4294967295", "*" },
        { "1:4294967295", "1:*" },
        { "4294967294:*", "4294967294:*" },
        { "1:3,4:*", "1:*" },
        { "100000", "100000" },
        { "2:3,1", "1:3" },
        { "1,2,3,4,5,6,7,8,9,10", "1:10" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = canon(cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("\"%s\" gave \"%s\", expected \"%s\"", cases[i][0], got, cases[i][1]);
    }
}

static void test_parse_invalid(void **state)
{
    static const char *const bad[] = {
        "0", "0:5", "5:0", "01", "007", "1,", ",1", "1,,2", "1:", ":1", "1:2:3", "a", "1 ",
        " 1", "1;2", "1.2", "4294967296", "99999999999999999999", "1:*:2", "**", "*1", "1*",
        "-1", "+1", "1:-2", "1, 2", "1:4294967296", "$", "()", "1\n",
    };
    struct seqset set;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (strcmp(canon(bad[i]), "ERROR") != 0)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    seqset_init(&set);
    assert_int_equal(seqset_parse("", 0, &set), -1);
    assert_int_equal(seqset_parse("1\0002", 3, &set), -1);
    /* A failed parse leaves the set empty even when it held ranges. */
    assert_int_equal(seqset_parse("1:5", 3, &set), 0);
    assert_int_equal(seqset_parse("1:5,", 4, &set), -1);
    assert_true(seqset_is_empty(&set));
    /* len is honoured: the text need not be NUL-terminated. */
    assert_int_equal(seqset_parse("12,34", 2, &set), 0);
    assert_int_equal(seqset_first(&set), 12);
    assert_int_equal(seqset_last(&set), 12);
    seqset_free(&set);
}

/* A list of n numbers start, start+step, ... */
static void make_list(struct buf *b, unsigned n, unsigned start, unsigned step)
{
    buf_reset(b);
    for (unsigned i = 0; i < n; i++)
        buf_printf(b, i == 0 ? "%u" : ",%u", start + i * step);
}

static void test_hostile_sizes(void **state)
{
    struct seqset set;
    struct buf b = BUF_INIT;
    clock_t t0 = clock();

    (void)state;
    seqset_init(&set);
    /* 100k separate numbers: more ranges than allowed. */
    make_list(&b, 100000, 1, 2);
    assert_int_equal(seqset_parse(b.data, b.len, &set), -1);
    assert_true(seqset_is_empty(&set));
    /* Exactly SEQSET_MAX_RANGES ranges is fine, one more is not. */
    make_list(&b, SEQSET_MAX_RANGES, 1, 2);
    assert_int_equal(seqset_parse(b.data, b.len, &set), 0);
    assert_int_equal(set.count, SEQSET_MAX_RANGES);
    assert_true(seqset_contains(&set, 2 * SEQSET_MAX_RANGES - 1));
    assert_false(seqset_contains(&set, 2 * SEQSET_MAX_RANGES - 2));
    make_list(&b, SEQSET_MAX_RANGES + 1, 1, 2);
    assert_int_equal(seqset_parse(b.data, b.len, &set), -1);
    /* 100k consecutive numbers merge into one range: accepted. */
    make_list(&b, 100000, 1, 1);
    assert_int_equal(seqset_parse(b.data, b.len, &set), 0);
    assert_int_equal(set.count, 1);
    assert_int_equal(seqset_cardinality(&set), 100000);
    /* But reading is bounded too: a million items is refused. */
    make_list(&b, 1000000, 1, 1);
    assert_int_equal(seqset_parse(b.data, b.len, &set), -1);
    /* Huge ranges cost nothing. */
    assert_int_equal(seqset_parse("1:4294967294", 12, &set), 0);
    assert_int_equal(seqset_cardinality(&set), 4294967294ULL);
    assert_true(seqset_contains(&set, 4000000000u));
    seqset_resolve(&set, 10);
    assert_int_equal(seqset_last(&set), 4294967294u);
    assert_int_equal(seqset_parse("1:4294967295", 12, &set), 0);
    seqset_resolve(&set, 10);
    assert_int_equal(seqset_cardinality(&set), 10);
    /* Many overlapping huge ranges. */
    buf_reset(&b);
    for (unsigned i = 0; i < 50000; i++)
        buf_printf(&b, i == 0 ? "%u:4000000000" : ",%u:4000000000", i + 1);
    assert_int_equal(seqset_parse(b.data, b.len, &set), 0);
    assert_int_equal(set.count, 1);
    assert_int_equal(seqset_cardinality(&set), 4000000000ULL);
    /* All of it in well under a couple of seconds even under ASan. */
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
    seqset_free(&set);
    buf_free(&b);
}

static const char *resolved(const char *text, uint32_t max)
{
    static char out[256];
    struct seqset set;
    struct buf b = BUF_INIT;

    seqset_init(&set);
    assert_int_equal(seqset_parse(text, strlen(text), &set), 0);
    seqset_resolve(&set, max);
    check_invariants(&set);
    seqset_format(&set, &b);
    snprintf(out, sizeof(out), "%s", buf_cstr(&b));
    buf_free(&b);
    seqset_free(&set);
    return out;
}

static void test_resolve(void **state)
{
    (void)state;
    assert_string_equal(resolved("1:*", 10), "1:10");
    assert_string_equal(resolved("5:*", 3), "3:5");
    assert_string_equal(resolved("*", 7), "7");
    assert_string_equal(resolved("*", 0), "");
    assert_string_equal(resolved("1:*", 0), "");
    assert_string_equal(resolved("1,*", 0), "1");
    assert_string_equal(resolved("*:4", 10), "4:10");
    assert_string_equal(resolved("1:3,10:*", 5), "1:3,5:10");
    assert_string_equal(resolved("2,*", 3), "2:3");
    assert_string_equal(resolved("1:3,7", 100), "1:3,7");
    assert_string_equal(resolved("8,*", 4), "4,8");
    assert_string_equal(resolved("*", 4294967294u), "4294967294");
}

static void test_operations(void **state)
{
    struct seqset set;
    struct buf b = BUF_INIT;

    (void)state;
    seqset_init(&set);
    assert_true(seqset_is_empty(&set));
    assert_int_equal(seqset_first(&set), 0);
    assert_int_equal(seqset_last(&set), 0);
    assert_int_equal(seqset_cardinality(&set), 0);
    assert_false(seqset_contains(&set, 1));
    seqset_format(&set, &b);
    assert_string_equal(buf_cstr(&b), "");

    seqset_add(&set, 0);
    assert_true(seqset_is_empty(&set));
    seqset_add_range(&set, 0, 0);
    assert_true(seqset_is_empty(&set));
    seqset_add_range(&set, 0, 2);
    seqset_add_range(&set, 9, 5);
    seqset_add(&set, 4);
    check_invariants(&set);
    buf_reset(&b);
    seqset_format(&set, &b);
    assert_string_equal(buf_cstr(&b), "1:2,4:9");
    seqset_add(&set, 3);
    buf_reset(&b);
    seqset_format(&set, &b);
    assert_string_equal(buf_cstr(&b), "1:9");
    seqset_remove(&set, 5);
    seqset_remove(&set, 1);
    seqset_remove(&set, 9);
    seqset_remove(&set, 100);
    buf_reset(&b);
    seqset_format(&set, &b);
    assert_string_equal(buf_cstr(&b), "2:4,6:8");
    assert_int_equal(seqset_cardinality(&set), 6);
    assert_int_equal(seqset_first(&set), 2);
    assert_int_equal(seqset_last(&set), 8);

    /* The top of the number space. */
    seqset_add_range(&set, UINT32_MAX - 1, UINT32_MAX);
    seqset_add(&set, UINT32_MAX - 2);
    check_invariants(&set);
    assert_int_equal(seqset_last(&set), UINT32_MAX);
    seqset_remove(&set, UINT32_MAX);
    assert_int_equal(seqset_last(&set), UINT32_MAX - 1);
    seqset_add_range(&set, 1, UINT32_MAX);
    assert_int_equal(set.count, 1);
    assert_int_equal(seqset_cardinality(&set), UINT32_MAX);
    seqset_remove(&set, 1000);
    assert_int_equal(set.count, 2);
    assert_int_equal(seqset_cardinality(&set), UINT32_MAX - 1ULL);
    buf_free(&b);
    seqset_free(&set);
}

/* Random adds and removes against a bitmap over 1..N. */
static void test_random_model(void **state)
{
    enum { N = 300 };
    bool model[N + 2];
    struct seqset set, reparsed;
    struct buf b = BUF_INIT, b2 = BUF_INIT;
    uint64_t seed = 12345;

    (void)state;
    seqset_init(&set);
    seqset_init(&reparsed);
    memset(model, 0, sizeof(model));
    for (int step = 0; step < 20000; step++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t a = 1 + (uint32_t)((seed >> 33) % N);
        uint32_t c = 1 + (uint32_t)((seed >> 13) % N);
        unsigned op = (unsigned)(seed >> 60) % 4;
        if (op == 0) {
            seqset_add_range(&set, a, c);
            for (uint32_t i = a < c ? a : c; i <= (a < c ? c : a); i++)
                model[i] = true;
        } else if (op == 1) {
            seqset_add(&set, a);
            model[a] = true;
        } else {
            seqset_remove(&set, a);
            model[a] = false;
        }
        check_invariants(&set);
        uint64_t card = 0;
        uint32_t first = 0, last = 0;
        for (uint32_t i = 1; i <= N; i++) {
            if (seqset_contains(&set, i) != model[i])
                fail_msg("step %d: contains(%u) wrong", step, i);
            if (model[i]) {
                card++;
                if (first == 0)
                    first = i;
                last = i;
            }
        }
        assert_false(seqset_contains(&set, 0));
        assert_false(seqset_contains(&set, N + 1));
        assert_int_equal(seqset_cardinality(&set), card);
        assert_int_equal(seqset_first(&set), first);
        assert_int_equal(seqset_last(&set), last);
        if (step % 50 == 0 && !seqset_is_empty(&set)) {
            /* The text form reads back as the same set. */
            buf_reset(&b);
            seqset_format(&set, &b);
            assert_int_equal(seqset_parse(b.data, b.len, &reparsed), 0);
            buf_reset(&b2);
            seqset_format(&reparsed, &b2);
            assert_string_equal(buf_cstr(&b), buf_cstr(&b2));
            assert_int_equal(reparsed.count, set.count);
        }
    }
    buf_free(&b);
    buf_free(&b2);
    seqset_free(&set);
    seqset_free(&reparsed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_hostile_sizes),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
