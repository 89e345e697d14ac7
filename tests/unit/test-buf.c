/* test-buf.c - the growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_append_and_cstr(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_string_equal(buf_cstr(&b), "");
    buf_append_str(&b, "hello");
    buf_append_char(&b, ' ');
    buf_append(&b, "world!!", 5);
    assert_int_equal(b.len, 11);
    assert_string_equal(buf_cstr(&b), "hello world");
    assert_true(buf_equals_str(&b, "hello world"));
    assert_false(buf_equals_str(&b, "hello"));
    buf_free(&b);
    assert_null(b.data);
}

static void test_binary_and_growth(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100000; i++) {
        char c = (char)(i % 256);
        buf_append(&b, &c, 1);
    }
    assert_int_equal(b.len, 100000);
    assert_true(b.alloc > b.len);
    assert_int_equal((unsigned char)b.data[255], 255);
    assert_int_equal(b.data[256], 0);
    assert_int_equal(b.data[b.len], '\0');
    buf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(buf_cstr(&b), "42-x");
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 4 + 2 + 999);
    assert_int_equal(b.data[b.len - 1], ']');
    buf_free(&b);
}

static void test_truncate_consume_reset_release(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append_str(&b, "abcdef");
    buf_truncate(&b, 10);
    assert_string_equal(buf_cstr(&b), "abcdef");
    buf_truncate(&b, 4);
    assert_string_equal(buf_cstr(&b), "abcd");
    buf_consume(&b, 1);
    assert_string_equal(buf_cstr(&b), "bcd");
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_cstr(&b), "");
    buf_append_str(&b, "keep");
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    buf_append_str(&b, "mine");
    char *s = buf_release(&b);
    assert_string_equal(s, "mine");
    assert_null(b.data);
    free(s);
    s = buf_release(&b);
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_cstr),
        cmocka_unit_test(test_binary_and_growth),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_truncate_consume_reset_release),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
