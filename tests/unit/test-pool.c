/* test-pool.c - memory pools. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdalign.h>
#include <string.h>

#include "pool.h"

static void test_alloc_aligned_zeroed(void **state)
{
    (void)state;
    struct pool *p = pool_create("test", 256);
    for (int i = 1; i < 2000; i++) {
        unsigned char *q = pool_alloc(p, (size_t)(i % 97) + 1);
        assert_int_equal((uintptr_t)q % alignof(max_align_t), 0);
        for (int j = 0; j < (i % 97) + 1; j++)
            assert_int_equal(q[j], 0);
        memset(q, 0xff, (size_t)(i % 97) + 1);
    }
    assert_true(pool_used(p) > 2000);
    assert_string_equal(pool_name(p), "test");
    pool_destroy(&p);
    assert_null(p);
}

static void test_big_allocation_and_clear(void **state)
{
    (void)state;
    struct pool *p = pool_create("big", 128);
    char *small = pool_strdup(p, "small");
    char *big = pool_alloc(p, 100000);
    memset(big, 'x', 100000);
    char *after = pool_strdup(p, "after");
    assert_string_equal(small, "small");
    assert_string_equal(after, "after");
    pool_clear(p);
    assert_int_equal(pool_used(p), 0);
    /* Reuse after clear, many rounds: memory must not pile up (ASan/LSan). */
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 50; i++)
            pool_alloc(p, 100);
        pool_alloc(p, 5000);
        pool_clear(p);
    }
    pool_destroy(&p);
}

static void test_strings(void **state)
{
    (void)state;
    struct pool *p = pool_create("str", 0);
    assert_string_equal(pool_strndup(p, "abcdef", 3), "abc");
    assert_string_equal(pool_strndup(p, "ab", 10), "ab");
    assert_string_equal(pool_printf(p, "%s=%d", "n", 7), "n=7");
    int v[3] = {1, 2, 3};
    int *c = pool_memdup(p, v, sizeof(v));
    assert_int_equal(c[2], 3);
    int *arr = pool_alloc_array(p, 10, sizeof(int));
    arr[9] = 5;
    assert_int_equal(arr[0], 0);
    pool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_aligned_zeroed),
        cmocka_unit_test(test_big_allocation_and_clear),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
