/* test-config.c - imapd.conf parsing: good, bad and unknown keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static void test_good_file(void **state)
{
    (void)state;
    const char *text =
        "# a comment\n"
        "\n"
        "configdirectory: /tmp/roost/config\n"
        "partition-default:   /tmp/roost/spool  \n"
        "partition-archive: /tmp/roost/archive\n"
        "admins: cyrus admin2\n"
        "allowplaintext: on\n"
        "unixhierarchysep: No\n"
        "virtdomains: userid\n"
        "timeout: 45\n"
        "sasl_pwcheck_method: auxprop\n"
        "sasl_saslauthd_path: /run/saslauthd/mux\n"
        "service-imap: cmd=\"imapd\" listen=\"127.0.0.1:1143\"\n"
        "timeout: 50\n"
        "servername:mail.example.com";
    struct config *cfg;
    const char *error = NULL;
    assert_int_equal(config_parse("test.conf", text, &cfg, &error), 0);
    assert_string_equal(config_str(cfg, "configdirectory"), "/tmp/roost/config");
    assert_string_equal(config_lookup(cfg, "partition-default"), "/tmp/roost/spool");
    assert_string_equal(config_lookup(cfg, "partition-archive"), "/tmp/roost/archive");
    assert_null(config_lookup(cfg, "partition-other"));
    assert_string_equal(config_str(cfg, "admins"), "cyrus admin2");
    assert_true(config_bool(cfg, "allowplaintext"));
    assert_false(config_bool(cfg, "unixhierarchysep"));
    assert_string_equal(config_str(cfg, "virtdomains"), "userid");
    assert_int_equal(config_int(cfg, "timeout"), 50); /* the last one wins */
    assert_string_equal(config_str(cfg, "servername"), "mail.example.com");
    assert_string_equal(config_lookup(cfg, "sasl_saslauthd_path"), "/run/saslauthd/mux");
    /* Defaults for what is not set. */
    assert_string_equal(config_str(cfg, "defaultpartition"), "default");
    assert_int_equal(config_int(cfg, "poptimeout"), 10);
    assert_true(config_bool(cfg, "duplicatesuppression"));
    assert_null(config_str(cfg, "defaultdomain"));
    assert_string_equal(config_file(cfg), "test.conf");
    config_free(&cfg);
    assert_null(cfg);
}

struct iter_ctx {
    int count;
    char keys[4][64];
};

static void iter_cb(const char *key, const char *value, void *ctx)
{
    struct iter_ctx *c = ctx;
    (void)value;
    if (c->count < 4)
        snprintf(c->keys[c->count], sizeof(c->keys[0]), "%s", key);
    c->count++;
}

static void test_iter_prefix(void **state)
{
    (void)state;
    struct config *cfg;
    const char *error;
    assert_int_equal(config_parse("t", "partition-b: /b\nadmins: x\npartition-a: /a\n", &cfg, &error), 0);
    struct iter_ctx ctx = {0};
    config_iter_prefix(cfg, "partition-", iter_cb, &ctx);
    assert_int_equal(ctx.count, 2);
    assert_string_equal(ctx.keys[0], "partition-b"); /* file order */
    assert_string_equal(ctx.keys[1], "partition-a");
    config_free(&cfg);
}

static void expect_error(const char *text, const char *fragment)
{
    struct config *cfg = NULL;
    const char *error = NULL;
    assert_int_equal(config_parse("bad.conf", text, &cfg, &error), -1);
    assert_null(cfg);
    assert_non_null(error);
    if (strstr(error, fragment) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", error, fragment);
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_error("admins: a\ntimeout: soon\n", "bad.conf:2: bad value for timeout");
    expect_error("timeout: 0\n", "out of range");
    expect_error("timeout: 99999999999999999999\n", "bad.conf:1:");
    expect_error("\n\nallowplaintext: maybe\n", "bad.conf:3:");
    expect_error("virtdomains: sometimes\n", "must be one of");
    expect_error("just some words\n", "bad.conf:1: expected");
    expect_error(": value\n", "bad key");
    expect_error("two words: value\n", "bad key");
}

static void test_unknown_key_is_warning(void **state)
{
    (void)state;
    struct config *cfg;
    const char *error;
    assert_int_equal(config_parse("u.conf", "no_such_key: 1\nadmins: me\n", &cfg, &error), 0);
    assert_string_equal(config_lookup(cfg, "no_such_key"), "1");
    assert_string_equal(config_str(cfg, "admins"), "me");
    config_free(&cfg);
}

static void test_load_file_and_path(void **state)
{
    (void)state;
    char path[] = "/tmp/roost-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "loglevel: debug\nmaxmessagesize: 1048576\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct config *cfg;
    const char *error;
    assert_int_equal(config_load(path, &cfg, &error), 0);
    assert_int_equal(config_int(cfg, "maxmessagesize"), 1048576);
    assert_string_equal(config_str(cfg, "loglevel"), "debug");
    config_free(&cfg);
    unlink(path);
    assert_int_equal(config_load(path, &cfg, &error), -1);
    assert_non_null(strstr(error, "cannot open"));

    assert_string_equal(config_path_resolve("/x.conf"), "/x.conf");
    setenv("ROOST_CONFIG", "/env.conf", 1);
    assert_string_equal(config_path_resolve(NULL), "/env.conf");
    unsetenv("ROOST_CONFIG");
    assert_string_equal(config_path_resolve(NULL), CONFIG_DEFAULT_PATH);
}

static void test_key_line(void **state)
{
    (void)state;
    struct config *cfg;
    const char *error;
    const char *text =
        "# comment\n"
        "admins: a\n"
        "\n"
        "service-imap: cmd=\"imapd\" listen=\"127.0.0.1:1143\"\n"
        "timeout: 40\n"
        "no_such_key: 1\n"
        "timeout: 45\n"
        "servername: last line without newline";
    assert_int_equal(config_parse("lines.conf", text, &cfg, &error), 0);
    assert_int_equal(config_key_line(cfg, "admins"), 2);
    assert_int_equal(config_key_line(cfg, "service-imap"), 4);
    assert_int_equal(config_key_line(cfg, "timeout"), 7); /* the one that wins */
    assert_int_equal(config_key_line(cfg, "no_such_key"), 6);
    assert_int_equal(config_key_line(cfg, "servername"), 8);
    /* Unset, a default only, or a prefix: 0. */
    assert_int_equal(config_key_line(cfg, "configdirectory"), 0);
    assert_int_equal(config_key_line(cfg, "service-pop3"), 0);
    assert_int_equal(config_key_line(cfg, "service-"), 0);
    config_free(&cfg);

    assert_int_equal(config_parse("empty.conf", "", &cfg, &error), 0);
    assert_int_equal(config_key_line(cfg, "admins"), 0);
    config_free(&cfg);
}

static void test_key_table(void **state)
{
    (void)state;
    assert_non_null(config_key_find("partition-default"));
    assert_null(config_key_find("partition-"));
    assert_non_null(config_key_find("sasl_whatever"));
    assert_non_null(config_key_find("sasl_pwcheck_method"));
    assert_null(config_key_find("bogus"));
    /* Every default must pass its own type check. */
    for (unsigned i = 0; i < config_keys_count; i++) {
        const char *reason;
        if (config_keys[i].def != NULL && config_value_check(&config_keys[i], config_keys[i].def, &reason) < 0)
            fail_msg("default of %s is invalid: %s", config_keys[i].name, reason);
        assert_non_null(config_keys[i].desc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_iter_prefix),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_unknown_key_is_warning),
        cmocka_unit_test(test_load_file_and_path),
        cmocka_unit_test(test_key_line),
        cmocka_unit_test(test_key_table),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
