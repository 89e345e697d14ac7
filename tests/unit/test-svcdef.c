/* test-svcdef.c - service-NAME / daemon-NAME definitions (lib/svcdef.h):
 * word splitting and quoting, every option, every error, hostile values,
 * and the format -> parse round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "svcdef.h"

/* ---- word splitting ---------------------------------------------------- */

static void expect_words(const char *text, size_t n, const char *const *want)
{
    char **words;
    size_t count;
    const char *error = NULL;
    if (svcdef_words_split(text, &words, &count, &error) < 0)
        fail_msg("split of [%s] failed: %s", text, error);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(words[i], want[i]);
    assert_null(words[n]);
    svcdef_words_free(words);
}

static void expect_split_error(const char *text, const char *fragment)
{
    char **words = (char **)1;
    size_t count;
    const char *error = NULL;
    assert_int_equal(svcdef_words_split(text, &words, &count, &error), -1);
    assert_non_null(error);
    if (strstr(error, fragment) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", error, fragment);
}

static void test_words_split(void **state)
{
    (void)state;
    expect_words("", 0, NULL);
    expect_words(" \t ", 0, NULL);
    expect_words("a", 1, (const char *const[]){"a"});
    expect_words("  a \tbb\t  ccc  ", 3, (const char *const[]){"a", "bb", "ccc"});
    /* quotes hold blanks and disappear */
    expect_words("cmd=\"imapd -s\" x", 2, (const char *const[]){"cmd=imapd -s", "x"});
    expect_words("a\"b c\"d \"e\"", 2, (const char *const[]){"ab cd", "e"});
    /* an empty quoted word is a word */
    expect_words("\"\" x \"\"", 3, (const char *const[]){"", "x", ""});
    /* backslash escapes inside quotes only */
    expect_words("\"a\\\"b\" \"c\\\\d\" \"\\x\"", 3,
                 (const char *const[]){"a\"b", "c\\d", "x"});
    expect_words("a\\b c\\", 2, (const char *const[]){"a\\b", "c\\"});
    /* UTF-8 is fine */
    expect_words("/srv/ma\xc3\xafl", 1, (const char *const[]){"/srv/ma\xc3\xafl"});

    expect_split_error("\"open", "unterminated");
    expect_split_error("a \"b c", "unterminated");
    expect_split_error("\"trailing\\", "unterminated");
    expect_split_error("a\rb", "control");
    expect_split_error("\"a\x01\"", "control");
    expect_split_error("x\x7f", "control");
    /* a tab inside quotes is a control character in the word */
    expect_split_error("\"a\tb\"", "control");
}

static void test_words_limits(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    for (int i = 0; i < SVCDEF_WORDS_MAX; i++)
        buf_append_str(&b, "w ");
    char **words;
    size_t count;
    const char *error;
    assert_int_equal(svcdef_words_split(buf_cstr(&b), &words, &count, &error), 0);
    assert_int_equal(count, SVCDEF_WORDS_MAX);
    svcdef_words_free(words);
    buf_append_str(&b, "one-more");
    expect_split_error(buf_cstr(&b), "more than 256 words");

    buf_reset(&b);
    for (int i = 0; i < SVCDEF_VALUE_MAX; i++)
        buf_append_char(&b, 'x');
    assert_int_equal(svcdef_words_split(buf_cstr(&b), &words, &count, &error), 0);
    assert_int_equal(count, 1);
    assert_int_equal(strlen(words[0]), SVCDEF_VALUE_MAX);
    svcdef_words_free(words);
    buf_append_char(&b, 'x');
    expect_split_error(buf_cstr(&b), "longer than");
    buf_free(&b);
}

/* ---- parsing ----------------------------------------------------------- */

static void parse_ok(const char *key, const char *value, struct svcdef *def)
{
    const char *error = NULL;
    if (svcdef_parse(key, value, def, &error) < 0)
        fail_msg("%s: [%s] failed: %s", key, value, error);
}

static void expect_parse_error(const char *key, const char *value, const char *fragment)
{
    struct svcdef def;
    const char *error = NULL;
    assert_int_equal(svcdef_parse(key, value, &def, &error), -1);
    assert_non_null(error);
    if (strstr(error, fragment) == NULL)
        fail_msg("%s: [%s]: error \"%s\" does not contain \"%s\"", key, value, error, fragment);
    /* def is zeroed: freeing it is harmless */
    assert_null(def.name);
    assert_null(def.cmd);
    assert_null(def.listen);
    svcdef_free(&def);
}

static void test_service_full(void **state)
{
    (void)state;
    struct svcdef def;
    parse_ok("service-imaps",
             "cmd=\"imapd -s \\\"a b\\\" -x\" listen=\"127.0.0.1:1993 [::1]:1993 /run/imaps\" "
             "prefork=2 maxchild=50 maxfor=250",
             &def);
    assert_int_equal(def.kind, SVCDEF_SERVICE);
    assert_string_equal(def.name, "imaps");
    assert_int_equal(def.cmd_count, 4);
    assert_string_equal(def.cmd[0], "imapd");
    assert_string_equal(def.cmd[1], "-s");
    assert_string_equal(def.cmd[2], "a b");
    assert_string_equal(def.cmd[3], "-x");
    assert_null(def.cmd[4]);
    assert_int_equal(def.listen_count, 3);
    assert_string_equal(def.listen[0], "127.0.0.1:1993");
    assert_string_equal(def.listen[1], "[::1]:1993");
    assert_string_equal(def.listen[2], "/run/imaps");
    assert_null(def.listen[3]);
    assert_int_equal(def.prefork, 2);
    assert_int_equal(def.maxchild, 50);
    assert_int_equal(def.maxfor, 250);
    assert_int_equal(def.ignored_count, 0);
    svcdef_free(&def);
    assert_null(def.name);
    svcdef_free(&def); /* twice is fine */
}

static void test_service_defaults(void **state)
{
    (void)state;
    struct svcdef def;
    /* order does not matter; unquoted values; extra blanks */
    parse_ok("service-imap", "  listen=127.0.0.1:1143\tcmd=imapd  ", &def);
    assert_string_equal(def.name, "imap");
    assert_int_equal(def.cmd_count, 1);
    assert_string_equal(def.cmd[0], "imapd");
    assert_int_equal(def.listen_count, 1);
    assert_int_equal(def.prefork, 0);
    assert_int_equal(def.maxchild, SVCDEF_MAXCHILD_DEFAULT);
    assert_int_equal(def.maxfor, 0);
    svcdef_free(&def);

    parse_ok("service-x.y_z-1", "cmd=/usr/lib/x listen=*:1 maxchild=-1 prefork=0 maxfor=0", &def);
    assert_string_equal(def.name, "x.y_z-1");
    assert_string_equal(def.cmd[0], "/usr/lib/x");
    assert_int_equal(def.maxchild, SVCDEF_MAXCHILD_DEFAULT);
    svcdef_free(&def);

    /* limits are inclusive; leading zeros are digits */
    parse_ok("service-big",
             "cmd=x listen=a:1 prefork=1000 maxchild=100000 maxfor=1000000000", &def);
    assert_int_equal(def.prefork, SVCDEF_PREFORK_MAX);
    assert_int_equal(def.maxchild, SVCDEF_MAXCHILD_MAX);
    assert_int_equal(def.maxfor, SVCDEF_MAXFOR_MAX);
    svcdef_free(&def);
    parse_ok("service-z", "cmd=x listen=a:1 prefork=007", &def);
    assert_int_equal(def.prefork, 7);
    svcdef_free(&def);

    /* prefork on every address must fit maxchild: exactly is fine */
    parse_ok("service-fit", "cmd=x listen=\"a:1 b:1\" prefork=3 maxchild=6", &def);
    svcdef_free(&def);
}

static void test_daemon(void **state)
{
    (void)state;
    struct svcdef def;
    parse_ok("daemon-qmgr", "cmd=\"qmgr -v\"", &def);
    assert_int_equal(def.kind, SVCDEF_DAEMON);
    assert_string_equal(def.name, "qmgr");
    assert_int_equal(def.cmd_count, 2);
    assert_string_equal(def.cmd[1], "-v");
    assert_int_equal(def.listen_count, 0);
    assert_non_null(def.listen);
    assert_null(def.listen[0]);
    assert_int_equal(def.prefork, 0);
    assert_int_equal(def.maxchild, 1);
    assert_int_equal(def.maxfor, 0);
    svcdef_free(&def);

    expect_parse_error("daemon-q", "cmd=q listen=a:1", "daemon-q: option \"listen\" is only for");
    expect_parse_error("daemon-q", "cmd=q prefork=1", "only for service-NAME");
    expect_parse_error("daemon-q", "cmd=q maxchild=1", "only for service-NAME");
    expect_parse_error("daemon-q", "cmd=q maxfor=1", "only for service-NAME");
    expect_parse_error("daemon-q", "", "daemon-q: cmd=\"PROGRAM ARGS\" is missing");
}

static void test_ignored_options(void **state)
{
    (void)state;
    struct svcdef def;
    parse_ok("service-pop3", "proto=tcp cmd=pop3d listen=a:110 babysit=1 maxfds=256", &def);
    assert_int_equal(def.ignored_count, 3);
    assert_string_equal(def.ignored[0], "proto");
    assert_string_equal(def.ignored[1], "babysit");
    assert_string_equal(def.ignored[2], "maxfds");
    svcdef_free(&def);
    parse_ok("daemon-d", "cmd=d babysit=yes", &def);
    assert_int_equal(def.ignored_count, 1);
    svcdef_free(&def);
    expect_parse_error("daemon-d", "cmd=d babysit=1 babysit=1", "\"babysit\" given twice");
}

static void test_key_errors(void **state)
{
    (void)state;
    assert_true(svcdef_key_is_def("service-imap"));
    assert_true(svcdef_key_is_def("daemon-x"));
    assert_true(svcdef_key_is_def("service-"));
    assert_false(svcdef_key_is_def("services-imap"));
    assert_false(svcdef_key_is_def("admins"));

    expect_parse_error("admins", "cmd=x", "admins: not a service-NAME or daemon-NAME key");
    expect_parse_error("service-", "cmd=x listen=a:1", "service-: the name after");
    expect_parse_error("daemon-", "cmd=x", "daemon-: the name after");
    expect_parse_error("service-a/b", "cmd=x listen=a:1", "the name after");
    expect_parse_error("service-a b", "cmd=x listen=a:1", "the name after");
    char key[128];
    snprintf(key, sizeof(key), "service-%065d", 0);
    expect_parse_error(key, "cmd=x listen=a:1", "1 to 64 letters");
    snprintf(key, sizeof(key), "service-%064d", 0);
    struct svcdef def;
    parse_ok(key, "cmd=x listen=a:1", &def);
    assert_int_equal(strlen(def.name), SVCDEF_NAME_MAX);
    svcdef_free(&def);
}

static void test_option_errors(void **state)
{
    (void)state;
    expect_parse_error("service-a", "cmd=x listen=a:1 prefork", "service-a: expected name=value, found \"prefork\"");
    expect_parse_error("service-a", "cmd=x =1 listen=a:1", "expected name=value, found \"=1\"");
    expect_parse_error("service-a", "cmd=x listen=a:1 colour=red",
                       "service-a: unknown option \"colour\" (known: cmd, listen");
    expect_parse_error("service-a", "CMD=x listen=a:1", "unknown option \"CMD\"");
    expect_parse_error("service-a", "cmd=x cmd=y listen=a:1", "option \"cmd\" given twice");
    expect_parse_error("service-a", "cmd=x listen=a:1 listen=b:1", "\"listen\" given twice");
    expect_parse_error("service-a", "listen=a:1", "service-a: cmd=\"PROGRAM ARGS\" is missing");
    expect_parse_error("service-a", "cmd= listen=a:1", "service-a: cmd is empty");
    expect_parse_error("service-a", "cmd=\"  \" listen=a:1", "cmd is empty");
    expect_parse_error("service-a", "cmd=\"\\\"\\\" x\" listen=a:1", "cmd is empty");
    expect_parse_error("service-a", "cmd=\"x \\\"y\" listen=a:1", "service-a: cmd: unterminated");
    expect_parse_error("service-a", "cmd=\"x listen=a:1", "service-a: unterminated double quote");
    expect_parse_error("service-a", "cmd=x", "service-a: listen=\"ADDRESS ...\" is missing");
    expect_parse_error("service-a", "cmd=x listen=", "listen needs 1 to 16 addresses");
    expect_parse_error("service-a", "cmd=x listen=\" \"", "listen needs 1 to 16 addresses");
    expect_parse_error("service-a", "cmd=x listen=\"a:1 b:1 a:1\"", "address a:1 given twice");
    expect_parse_error("service-a", "cmd=x listen=\"\\\"\\\"\"", "bad address");
    expect_parse_error("service-a", "cmd=x listen=\"a:1 \\\"b\"", "service-a: listen: unterminated");
}

static void test_number_errors(void **state)
{
    (void)state;
    static const char *const bad_prefork[] = {
        "lots", "-1", "+1", "", "1001", "1e3", "0x10", "1.5", "99999999999999999999999",
        "\" 1\"", "\"1 \"",
    };
    for (size_t i = 0; i < sizeof(bad_prefork) / sizeof(bad_prefork[0]); i++) {
        char value[128];
        snprintf(value, sizeof(value), "cmd=x listen=a:1 prefork=%s", bad_prefork[i]);
        expect_parse_error("service-a", value,
                           "service-a: prefork=\"");
        expect_parse_error("service-a", value, "expected a number from 0 to 1000");
    }
    expect_parse_error("service-a", "cmd=x listen=a:1 maxchild=0", "from 1 to 100000 or -1");
    expect_parse_error("service-a", "cmd=x listen=a:1 maxchild=-2", "maxchild=\"-2\"");
    expect_parse_error("service-a", "cmd=x listen=a:1 maxchild=100001", "maxchild=");
    expect_parse_error("service-a", "cmd=x listen=a:1 maxfor=1000000001", "maxfor=");
    expect_parse_error("service-a", "cmd=x listen=a:1 maxfor=-1", "maxfor=\"-1\"");
    expect_parse_error("service-a", "cmd=x listen=\"a:1 b:1\" prefork=3 maxchild=5",
                       "prefork=3 on 2 address(es) needs more than maxchild=5 children");
    expect_parse_error("service-a", "cmd=x listen=a:1 prefork=101",
                       "needs more than maxchild=100");
}

static void test_listen_limits(void **state)
{
    (void)state;
    struct buf v = BUF_INIT;
    buf_append_str(&v, "cmd=x maxchild=-1 listen=\"");
    for (int i = 0; i < SVCDEF_LISTEN_MAX; i++)
        buf_printf(&v, "127.0.0.1:%d ", 1000 + i);
    buf_append_str(&v, "\"");
    struct svcdef def;
    parse_ok("service-many", buf_cstr(&v), &def);
    assert_int_equal(def.listen_count, SVCDEF_LISTEN_MAX);
    svcdef_free(&def);

    buf_reset(&v);
    buf_append_str(&v, "cmd=x listen=\"");
    for (int i = 0; i <= SVCDEF_LISTEN_MAX; i++)
        buf_printf(&v, "127.0.0.1:%d ", 1000 + i);
    buf_append_str(&v, "\"");
    expect_parse_error("service-many", buf_cstr(&v), "listen needs 1 to 16 addresses");

    /* address length: SVCDEF_ADDRESS_MAX is fine, one more is not */
    buf_reset(&v);
    buf_append_str(&v, "cmd=x listen=/");
    for (int i = 1; i < SVCDEF_ADDRESS_MAX; i++)
        buf_append_char(&v, 'p');
    parse_ok("service-long", buf_cstr(&v), &def);
    assert_int_equal(strlen(def.listen[0]), SVCDEF_ADDRESS_MAX);
    svcdef_free(&def);
    buf_append_char(&v, 'p');
    expect_parse_error("service-long", buf_cstr(&v), "service-long: listen: bad address \"/ppp");
    buf_free(&v);
}

/* Hostile values: errors stay short and printable, nothing overflows. */
static void test_hostile_values(void **state)
{
    (void)state;
    struct buf v = BUF_INIT;
    struct svcdef def;
    const char *error;

    /* a huge unknown option name is cut short in the message */
    for (int i = 0; i < 5000; i++)
        buf_append_char(&v, 'A');
    buf_append_str(&v, "=1 cmd=x listen=a:1");
    assert_int_equal(svcdef_parse("service-h", buf_cstr(&v), &def, &error), -1);
    assert_non_null(strstr(error, "service-h: unknown option \"AAAA"));
    assert_non_null(strstr(error, "...\""));
    assert_true(strlen(error) < 200);

    /* a huge word without '=' */
    buf_reset(&v);
    for (int i = 0; i < 8000; i++)
        buf_append_char(&v, 'B');
    assert_int_equal(svcdef_parse("service-h", buf_cstr(&v), &def, &error), -1);
    assert_non_null(strstr(error, "expected name=value"));
    assert_true(strlen(error) < 200);

    /* a huge number */
    buf_reset(&v);
    buf_append_str(&v, "cmd=x listen=a:1 prefork=");
    for (int i = 0; i < 4000; i++)
        buf_append_char(&v, '9');
    assert_int_equal(svcdef_parse("service-h", buf_cstr(&v), &def, &error), -1);
    assert_non_null(strstr(error, "prefork=\"999"));
    assert_true(strlen(error) < 200);

    /* quotes in shown text are replaced: the message stays unambiguous */
    expect_parse_error("service-h", "\"a\\\"b\"=1 cmd=x listen=a:1", "unknown option \"a?b\"");

    /* a hostile key */
    buf_reset(&v);
    buf_append_str(&v, "service-");
    for (int i = 0; i < 3000; i++)
        buf_append_char(&v, '%');
    assert_int_equal(svcdef_parse(buf_cstr(&v), "cmd=x listen=a:1", &def, &error), -1);
    assert_true(strlen(error) < 300);
    assert_non_null(strstr(error, "service-%%%"));

    /* too long a value as a whole */
    buf_reset(&v);
    buf_append_str(&v, "cmd=x listen=a:1 ");
    while (v.len <= SVCDEF_VALUE_MAX)
        buf_append_str(&v, "babysit=1 ");
    expect_parse_error("service-h", buf_cstr(&v), "service-h: longer than 8192 bytes");

    /* many words in cmd: 256 fit, 257 do not */
    buf_reset(&v);
    buf_append_str(&v, "listen=a:1 cmd=\"");
    for (int i = 0; i < SVCDEF_WORDS_MAX; i++)
        buf_append_str(&v, "a ");
    buf_append_str(&v, "\"");
    parse_ok("service-h", buf_cstr(&v), &def);
    assert_int_equal(def.cmd_count, SVCDEF_WORDS_MAX);
    svcdef_free(&def);
    buf_truncate(&v, v.len - 1);
    buf_append_str(&v, "a\"");
    expect_parse_error("service-h", buf_cstr(&v), "service-h: cmd: more than 256 words");

    /* control characters anywhere */
    expect_parse_error("service-h", "cmd=\"x\x1b[31m\" listen=a:1", "control character");
    expect_parse_error("service-h", "cmd=x listen=a:1\r", "control character");
    buf_free(&v);
}

/* ---- format and equality ----------------------------------------------- */

static void roundtrip(const char *key, const char *value)
{
    struct svcdef a, b;
    struct buf out = BUF_INIT;
    const char *error = NULL;
    parse_ok(key, value, &a);
    svcdef_format(&a, &out);
    if (svcdef_parse(key, buf_cstr(&out), &b, &error) < 0)
        fail_msg("%s: formatted [%s] does not parse: %s", key, buf_cstr(&out), error);
    if (!svcdef_equal(&a, &b))
        fail_msg("%s: [%s] -> [%s] differs", key, value, buf_cstr(&out));
    svcdef_free(&a);
    svcdef_free(&b);
    buf_free(&out);
}

static void test_format_roundtrip(void **state)
{
    (void)state;
    struct svcdef def;
    struct buf out = BUF_INIT;
    parse_ok("service-imap", "cmd=imapd listen=127.0.0.1:1143 prefork=1", &def);
    svcdef_format(&def, &out);
    assert_string_equal(buf_cstr(&out),
                        "cmd=\"imapd\" listen=\"127.0.0.1:1143\" prefork=1 maxchild=100 maxfor=0");
    svcdef_free(&def);
    buf_reset(&out);
    parse_ok("daemon-d", "cmd=\"d -x\" babysit=1", &def);
    svcdef_format(&def, &out);
    assert_string_equal(buf_cstr(&out), "cmd=\"d -x\"");
    svcdef_free(&def);
    buf_free(&out);

    roundtrip("service-a", "cmd=\"imapd -s \\\"a b\\\" \\\"\\\" c\\\\d\" "
                           "listen=\"a:1 /x\\\\y\" maxfor=3");
    roundtrip("service-b", "cmd=x\\y listen=\"[::1]:143\" prefork=5 maxchild=10");
    roundtrip("daemon-c", "cmd=\"\\\"only one quoted word\\\"\"");
    roundtrip("daemon-d", "cmd=\"a\\\\\" proto=x");
}

/* Words no config would hold, formatted and parsed back. */
static void test_format_nasty_words(void **state)
{
    (void)state;
    char *cmd[] = {"prog", "a b", "", "c\\d", "e\"f", "\\", "\"", "x=y", "'q'", NULL};
    char *listen[] = {"/a b", "\\\"", NULL};
    struct svcdef def = {
        .kind = SVCDEF_SERVICE,
        .name = "n",
        .cmd = cmd,
        .cmd_count = 9,
        .listen = listen,
        .listen_count = 2,
        .prefork = 3,
        .maxchild = 6,
        .maxfor = 9,
    };
    struct buf out = BUF_INIT;
    svcdef_format(&def, &out);
    struct svcdef back;
    const char *error = NULL;
    if (svcdef_parse("service-n", buf_cstr(&out), &back, &error) < 0)
        fail_msg("[%s] does not parse: %s", buf_cstr(&out), error);
    assert_true(svcdef_equal(&def, &back));
    svcdef_free(&back);
    buf_free(&out);
}

static void test_equal(void **state)
{
    (void)state;
    struct svcdef a, b;
    parse_ok("service-a", "cmd=\"x y\" listen=a:1 prefork=1", &a);
    parse_ok("service-a", "prefork=1 listen=\"a:1\" cmd=\"x  y\" babysit=1", &b);
    assert_true(svcdef_equal(&a, &b));
    svcdef_free(&b);
    parse_ok("service-a", "cmd=\"x y\" listen=a:1 prefork=2", &b);
    assert_false(svcdef_equal(&a, &b));
    svcdef_free(&b);
    parse_ok("service-a", "cmd=\"x z\" listen=a:1 prefork=1", &b);
    assert_false(svcdef_equal(&a, &b));
    svcdef_free(&b);
    parse_ok("service-a", "cmd=\"x y\" listen=\"a:1 b:1\" prefork=1", &b);
    assert_false(svcdef_equal(&a, &b));
    svcdef_free(&b);
    parse_ok("service-b", "cmd=\"x y\" listen=a:1 prefork=1", &b);
    assert_false(svcdef_equal(&a, &b));
    svcdef_free(&b);
    svcdef_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_split),
        cmocka_unit_test(test_words_limits),
        cmocka_unit_test(test_service_full),
        cmocka_unit_test(test_service_defaults),
        cmocka_unit_test(test_daemon),
        cmocka_unit_test(test_ignored_options),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_number_errors),
        cmocka_unit_test(test_listen_limits),
        cmocka_unit_test(test_hostile_values),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_format_nasty_words),
        cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests_name("svcdef", tests, NULL, NULL);
}
