/* test-str.c - bounded string helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "str.h"

static void test_copy(void **state)
{
    (void)state;
    char d[5];
    assert_int_equal(str_copy(d, sizeof(d), "abc"), 3);
    assert_string_equal(d, "abc");
    assert_int_equal(str_copy(d, sizeof(d), "abcdefgh"), 8);
    assert_string_equal(d, "abcd");
    assert_int_equal(str_copy(d, 0, "x"), 1);
}

static void test_numbers(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(str_to_u64("0", UINT64_MAX, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(str_to_u64("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(str_to_u64("18446744073709551616", UINT64_MAX, &v), -1);
    assert_int_equal(str_to_u64("4294967296", UINT32_MAX, &v), -1);
    assert_int_equal(str_to_u64("4294967295", UINT32_MAX, &v), 0);
    assert_int_equal(str_to_u64("", UINT64_MAX, &v), -1);
    assert_int_equal(str_to_u64("+1", UINT64_MAX, &v), -1);
    assert_int_equal(str_to_u64(" 1", UINT64_MAX, &v), -1);
    assert_int_equal(str_to_u64("1x", UINT64_MAX, &v), -1);
    assert_int_equal(str_to_u64_n("123abc", 3, 1000, &v), 0);
    assert_int_equal(v, 123);
    int64_t s;
    assert_int_equal(str_to_i64("-1", &s), 0);
    assert_int_equal(s, -1);
    assert_int_equal(str_to_i64("-9223372036854775808", &s), 0);
    assert_true(s == INT64_MIN);
    assert_int_equal(str_to_i64("9223372036854775808", &s), -1);
    assert_int_equal(str_to_i64("-", &s), -1);
}

static void test_case_and_trim(void **state)
{
    (void)state;
    char a[] = "  MiXeD\t\r\n";
    char *t = str_trim(a);
    assert_string_equal(t, "MiXeD");
    assert_string_equal(str_lcase(t), "mixed");
    assert_string_equal(str_ucase(t), "MIXED");
    assert_true(str_equal_ci("Inbox", "INBOX"));
    assert_true(str_has_prefix("partition-default", "partition-"));
    assert_false(str_has_prefix("part", "partition-"));
    assert_true(str_has_prefix_ci("USER.test", "user."));
    assert_true(str_has_suffix("mail.example.com", ".com"));
    assert_false(str_has_suffix("om", ".com"));
    assert_true(str_is_printable("h\xc3\xa9llo"));
    assert_false(str_is_printable("a\x01"));
    assert_false(str_is_printable("a\x7f"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_case_and_trim),
    };
    return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
