/* test-mboxlist.c - unit tests of the mailbox list (store/mboxlist.c) and
 *                   of store_open() itself (store/store.c).
 *
 * Round trips of entries, checks on what may be stored, prefix walks in
 * name order, transactions grouping several changes, unique ids, and
 * damaged records (hand-written bad values and random bytes) that must be
 * reported, never trusted and never crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "mboxlist.h"
#include "pool.h"
#include "store.h"
#include "test-store-fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int setup(void **state)
{
    fixture_setup(state, "test-mboxlist", "other/deep/dir", NULL);
    ((struct fixture *)*state)->pool = pool_create("test", 0);
    return 0;
}

static int teardown(void **state)
{
    return fixture_teardown(state);
}

static void make_entry(struct mboxlist_entry *e, const char *name, char uid[33])
{
    mboxlist_new_uniqueid(uid);
    memset(e, 0, sizeof(*e));
    e->name = name;
    e->partition = "default";
    e->uniqueid = uid;
    e->type = MBTYPE_EMAIL;
    e->acl = "anyone\tlr\t";
    e->specialuse = "";
    e->created = 1700000000;
}

static void test_store_open(void **state)
{
    struct fixture *f = *state;
    struct buf path = BUF_INIT, text = BUF_INIT;
    struct config *cfg;
    struct store *store;
    struct stat st;
    const char *error;

    assert_string_equal(store_default_partition(f->store), "default");
    buf_printf(&path, "%s/spool", f->dir);
    assert_string_equal(store_partition_path(f->store, "default"), buf_cstr(&path));
    assert_null(store_partition_path(f->store, "nosuch"));
    assert_null(store_partition_path(f->store, NULL));
    /* STORE_OPEN_CREATE made the partition directories, deep ones too. */
    assert_int_equal(stat(buf_cstr(&path), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    buf_reset(&path);
    buf_printf(&path, "%s/other/deep/dir", f->dir);
    assert_int_equal(stat(buf_cstr(&path), &st), 0);
    assert_non_null(store_kv(f->store));
    assert_non_null(store_db(f->store, "annotations"));
    assert_ptr_equal(store_config(f->store), f->config);

    /* A second handle without CREATE works on the existing environment. */
    assert_int_equal(store_open(f->config, 0, &store, &error), 0);
    store_close(&store);
    assert_null(store);
    store_close(&store);

    /* Configuration errors. */
    static const char *const bad[] = {
        "configdirectory: relative/dir\npartition-default: /tmp\n",
        "configdirectory: %s/c2\n",
        "configdirectory: %s/c2\npartition-default: relative\n",
        "configdirectory: %s/c2\npartition-default: /tmp\ndefaultpartition: other\n",
        "configdirectory: %s/c2\npartition-bad.name: /tmp\npartition-default: /tmp\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&text);
        buf_printf(&text, bad[i], f->dir);
        assert_int_equal(config_parse("bad.conf", buf_cstr(&text), &cfg, &error), 0);
        error = NULL;
        if (store_open(cfg, STORE_OPEN_CREATE, &store, &error) != -1)
            fail_msg("config %zu accepted", i);
        assert_non_null(error);
        assert_null(store);
        config_free(&cfg);
    }
    /* Without CREATE a missing environment is an error. */
    buf_reset(&text);
    buf_printf(&text, "configdirectory: %s/missing\npartition-default: %s/spool\n", f->dir,
               f->dir);
    assert_int_equal(config_parse("m.conf", buf_cstr(&text), &cfg, &error), 0);
    assert_int_equal(store_open(cfg, 0, &store, &error), -1);
    config_free(&cfg);
    buf_free(&path);
    buf_free(&text);
}

static void test_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct mboxlist_entry e, got;
    char uid[33];
    const char *error;

    make_entry(&e, "user.test1.Sent", uid);
    e.type = MBTYPE_RESERVED;
    e.specialuse = "\\Sent \\Archive";
    e.partition = "other";
    e.created = UINT64_MAX - 5;
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), 0);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "user.test1.Sent", f->pool, &got, &error),
                     1);
    assert_string_equal(got.name, "user.test1.Sent");
    assert_string_equal(got.partition, "other");
    assert_string_equal(got.uniqueid, uid);
    assert_int_equal(got.type, MBTYPE_RESERVED);
    assert_string_equal(got.acl, "anyone\tlr\t");
    assert_string_equal(got.specialuse, "\\Sent \\Archive");
    assert_true(got.created == UINT64_MAX - 5);

    /* Replace; NULL acl and specialuse are stored as "". */
    e.acl = NULL;
    e.specialuse = NULL;
    e.type = MBTYPE_EMAIL;
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), 0);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "user.test1.Sent", f->pool, &got, &error),
                     1);
    assert_string_equal(got.acl, "");
    assert_string_equal(got.specialuse, "");
    assert_int_equal(got.type, MBTYPE_EMAIL);

    /* Missing names, odd names. */
    assert_int_equal(mboxlist_lookup(f->store, NULL, "user.test1", f->pool, &got, &error), 0);
    assert_null(got.name);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "", f->pool, &got, &error), 0);
    assert_int_equal(mboxlist_lookup(f->store, NULL, NULL, f->pool, &got, &error), 0);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "user.test1.Sent.", f->pool, &got, &error),
                     0);

    assert_int_equal(mboxlist_delete(f->store, NULL, "user.test1.Sent", &error), 1);
    assert_int_equal(mboxlist_delete(f->store, NULL, "user.test1.Sent", &error), 0);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "user.test1.Sent", f->pool, &got, &error),
                     0);
    assert_int_equal(mboxlist_delete(f->store, NULL, "", &error), 0);
}

static void test_put_checks(void **state)
{
    struct fixture *f = *state;
    struct mboxlist_entry e;
    char uid[33], longacl[70 * 1024];
    const char *error;

    make_entry(&e, "user..bad", uid);
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.name = NULL;
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.name = "user.ok";
    e.uniqueid = "0123456789ABCDEF0123456789abcdef";
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.uniqueid = "0123456789abcdef";
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.uniqueid = NULL;
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.uniqueid = uid;
    e.partition = "";
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.partition = NULL;
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.partition = "default";
    e.type = 2;
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.type = MBTYPE_EMAIL;
    memset(longacl, 'a', sizeof(longacl) - 1);
    longacl[sizeof(longacl) - 1] = '\0';
    e.acl = longacl;
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), -1);
    e.acl = "";
    assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), 0);
}

struct names {
    char text[512];
    int stop_at;
    int count;
    int fail;
};

static int names_cb(const struct mboxlist_entry *entry, void *ctx)
{
    struct names *n = ctx;
    size_t len = strlen(n->text);

    snprintf(n->text + len, sizeof(n->text) - len, "%s;", entry->name);
    n->count++;
    if (n->fail)
        return -1;
    return n->count == n->stop_at ? 1 : 0;
}

static void test_foreach(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {
        "user.b", "user.a.b", "user.ab", "shared", "user.a", "example.com!user.a", "user.a.c",
    };
    struct mboxlist_entry e;
    struct names n;
    char uid[33];
    const char *error;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        make_entry(&e, names[i], uid);
        assert_int_equal(mboxlist_put(f->store, NULL, &e, &error), 0);
    }
    memset(&n, 0, sizeof(n));
    assert_int_equal(mboxlist_foreach(f->store, NULL, "", names_cb, &n, &error), 0);
    assert_string_equal(n.text,
                        "example.com!user.a;shared;user.a;user.a.b;user.a.c;user.ab;user.b;");
    memset(&n, 0, sizeof(n));
    assert_int_equal(mboxlist_foreach(f->store, NULL, NULL, names_cb, &n, &error), 0);
    assert_int_equal(n.count, 7);
    memset(&n, 0, sizeof(n));
    assert_int_equal(mboxlist_foreach(f->store, NULL, "user.a", names_cb, &n, &error), 0);
    assert_string_equal(n.text, "user.a;user.a.b;user.a.c;user.ab;");
    memset(&n, 0, sizeof(n));
    assert_int_equal(mboxlist_foreach(f->store, NULL, "user.a.", names_cb, &n, &error), 0);
    assert_string_equal(n.text, "user.a.b;user.a.c;");
    memset(&n, 0, sizeof(n));
    assert_int_equal(mboxlist_foreach(f->store, NULL, "nothing", names_cb, &n, &error), 0);
    assert_int_equal(n.count, 0);
    /* Stop early, fail. */
    memset(&n, 0, sizeof(n));
    n.stop_at = 2;
    assert_int_equal(mboxlist_foreach(f->store, NULL, "", names_cb, &n, &error), 0);
    assert_int_equal(n.count, 2);
    memset(&n, 0, sizeof(n));
    n.fail = 1;
    error = NULL;
    assert_int_equal(mboxlist_foreach(f->store, NULL, "", names_cb, &n, &error), -1);
    assert_non_null(error);
    assert_int_equal(n.count, 1);
}

struct two_ctx {
    struct store *store;
    bool fail;
};

static int two_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct two_ctx *c = ctx;
    struct mboxlist_entry e;
    char uid[33];
    int ret;

    make_entry(&e, "shared.one", uid);
    if ((ret = mboxlist_put(c->store, txn, &e, error_r)) < 0)
        return ret;
    make_entry(&e, "shared.two", uid);
    if ((ret = mboxlist_put(c->store, txn, &e, error_r)) < 0)
        return ret;
    if (c->fail) {
        *error_r = "test: abort";
        return -1;
    }
    return 0;
}

static void test_transaction(void **state)
{
    struct fixture *f = *state;
    struct two_ctx c = { f->store, true };
    struct mboxlist_entry got;
    const char *error;

    assert_int_equal(kv_transaction(store_kv(f->store), two_body, &c, &error), -1);
    assert_string_equal(error, "test: abort");
    assert_int_equal(mboxlist_lookup(f->store, NULL, "shared.one", f->pool, &got, &error), 0);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "shared.two", f->pool, &got, &error), 0);
    c.fail = false;
    assert_int_equal(kv_transaction(store_kv(f->store), two_body, &c, &error), 0);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "shared.one", f->pool, &got, &error), 1);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "shared.two", f->pool, &got, &error), 1);
}

/* The version-1 layout, written by hand. */
static void raw_u32(struct buf *b, uint32_t v)
{
    unsigned char c[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };
    buf_append(b, c, 4);
}

static void raw_str(struct buf *b, const char *s, size_t len)
{
    raw_u32(b, (uint32_t)len);
    buf_append(b, s, len);
}

static void raw_record(struct buf *b, uint8_t version, uint32_t type, const char *uid)
{
    buf_reset(b);
    buf_append_char(b, (char)version);
    raw_u32(b, type);
    raw_u32(b, 0);
    raw_u32(b, 1700000000);
    raw_str(b, "default", 7);
    raw_str(b, uid, strlen(uid));
    raw_str(b, "anyone\tlr\t", 10);
    raw_str(b, "", 0);
}

static void put_raw(struct fixture *f, const char *name, const struct buf *val)
{
    const char *error;
    if (kv_put(store_db(f->store, "mailboxes"), NULL, name, strlen(name), val->data, val->len,
               &error) < 0)
        fail_msg("kv_put: %s", error);
}

static void expect_damaged(struct fixture *f, const char *name)
{
    struct mboxlist_entry got;
    const char *error = NULL;

    if (mboxlist_lookup(f->store, NULL, name, f->pool, &got, &error) != -1)
        fail_msg("damaged record %s accepted", name);
    assert_non_null(strstr(error, "damaged"));
    assert_null(got.name);
}

static void test_damaged(void **state)
{
    struct fixture *f = *state;
    static const char uid[] = "00112233445566778899aabbccddeeff";
    struct buf v = BUF_INIT;
    struct mboxlist_entry got;
    struct names n;
    const char *error;

    /* The hand-written layout is the documented one. */
    raw_record(&v, 1, 0, uid);
    put_raw(f, "shared.good", &v);
    assert_int_equal(mboxlist_lookup(f->store, NULL, "shared.good", f->pool, &got, &error), 1);
    assert_string_equal(got.uniqueid, uid);
    assert_string_equal(got.partition, "default");
    assert_int_equal(got.created, 1700000000);

    buf_reset(&v);
    put_raw(f, "shared.empty", &v);
    expect_damaged(f, "shared.empty");
    raw_record(&v, 2, 0, uid);
    put_raw(f, "shared.v2", &v);
    expect_damaged(f, "shared.v2");
    raw_record(&v, 0, 0, uid);
    put_raw(f, "shared.v0", &v);
    expect_damaged(f, "shared.v0");
    raw_record(&v, 1, 9, uid);
    put_raw(f, "shared.type", &v);
    expect_damaged(f, "shared.type");
    raw_record(&v, 1, 0, "00112233445566778899AABBCCDDEEFF");
    put_raw(f, "shared.uid", &v);
    expect_damaged(f, "shared.uid");
    raw_record(&v, 1, 0, uid);
    buf_truncate(&v, v.len - 3);
    put_raw(f, "shared.short", &v);
    expect_damaged(f, "shared.short");
    raw_record(&v, 1, 0, uid);
    buf_append_char(&v, 'x');
    put_raw(f, "shared.long", &v);
    expect_damaged(f, "shared.long");
    /* A length far past the end. */
    buf_reset(&v);
    buf_append_char(&v, 1);
    raw_u32(&v, 0);
    raw_u32(&v, 0);
    raw_u32(&v, 0);
    raw_u32(&v, 0xffffffffu);
    buf_append_str(&v, "default");
    put_raw(f, "shared.huge", &v);
    expect_damaged(f, "shared.huge");
    /* A NUL inside a string. */
    buf_reset(&v);
    buf_append_char(&v, 1);
    raw_u32(&v, 0);
    raw_u32(&v, 0);
    raw_u32(&v, 0);
    raw_str(&v, "def\0ult", 7);
    raw_str(&v, uid, 32);
    raw_str(&v, "", 0);
    raw_str(&v, "", 0);
    put_raw(f, "shared.nul", &v);
    expect_damaged(f, "shared.nul");

    /* The walk skips damaged records and shows the good one. */
    memset(&n, 0, sizeof(n));
    assert_int_equal(mboxlist_foreach(f->store, NULL, "shared.", names_cb, &n, &error), 0);
    assert_string_equal(n.text, "shared.good;");
    buf_free(&v);
}

/* Random values (mostly starting with the right version byte): never a
 * crash, never an entry that does not pass the checks. */
static void test_random_values(void **state)
{
    struct fixture *f = *state;
    struct buf v = BUF_INIT, good = BUF_INIT;
    struct mboxlist_entry got;
    uint64_t seed = 42;
    const char *error;

    raw_record(&good, 1, 0, "00112233445566778899aabbccddeeff");
    for (int i = 0; i < 3000; i++) {
        buf_reset(&v);
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        if (i % 2 == 0) {
            /* A good record with a few bytes changed or cut. */
            buf_append(&v, good.data, good.len);
            for (int k = 0; k < 3; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                v.data[(seed >> 33) % v.len] = (char)(seed >> 56);
            }
            buf_truncate(&v, (seed >> 20) % (v.len + 1));
        } else {
            size_t len = (seed >> 33) % 80;
            buf_append_char(&v, 1);
            for (size_t k = 0; k < len; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                buf_append_char(&v, (char)(seed >> 56));
            }
        }
        put_raw(f, "shared.fuzz", &v);
        pool_clear(f->pool);
        int ret = mboxlist_lookup(f->store, NULL, "shared.fuzz", f->pool, &got, &error);
        assert_true(ret == 1 || ret == -1);
        if (ret == 1) {
            assert_int_equal(strlen(got.uniqueid), 32);
            assert_true(got.type <= MBTYPE_RESERVED);
            assert_true(got.partition[0] != '\0');
        }
    }
    buf_free(&v);
    buf_free(&good);
}

static void test_uniqueid(void **state)
{
    char ids[200][33];

    (void)state;
    for (int i = 0; i < 200; i++) {
        mboxlist_new_uniqueid(ids[i]);
        assert_int_equal(strlen(ids[i]), 32);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 32);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_values, setup, teardown),
        cmocka_unit_test(test_uniqueid),
    };
    log_set_level(LOG_LEVEL_FATAL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
