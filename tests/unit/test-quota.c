/* test-quota.c - unit tests of quota roots (store/quota.c).
 *
 * Limits and usage, the exact STORAGE arithmetic (KiB, rounded up) and
 * MESSAGE limits of quota_check, which root governs a mailbox (deepest
 * wins, never above a user's INBOX, never out of a domain), damaged
 * records, and concurrent updates from forked processes: the usage is
 * exact at the end, and check+add in one transaction never lets more in
 * than the limit.  Children never use cmocka: they report through their
 * exit status and leave with _exit(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "quota.h"
#include "store.h"
#include "test-store-fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int setup(void **state)
{
    return fixture_setup(state, "test-quota", NULL, NULL);
}

static int teardown(void **state)
{
    return fixture_teardown(state);
}

static void get_ok(struct fixture *f, const char *root, struct quota *q)
{
    const char *error;
    if (quota_get(f->store, NULL, root, q, &error) != 1)
        fail_msg("quota_get(%s) did not find it", root);
}

static void test_limits_and_usage(void **state)
{
    struct fixture *f = *state;
    struct quota q;
    const char *error;

    assert_int_equal(quota_get(f->store, NULL, "user.a", &q, &error), 0);
    assert_int_equal(quota_get(f->store, NULL, "", &q, &error), 0);
    assert_int_equal(quota_get(f->store, NULL, NULL, &q, &error), 0);
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", 100, -1, &error), 0);
    get_ok(f, "user.a", &q);
    assert_int_equal(q.limit_storage_kb, 100);
    assert_int_equal(q.limit_messages, -1);
    assert_int_equal(q.used_bytes, 0);
    assert_int_equal(q.used_messages, 0);

    assert_int_equal(quota_add_usage(f->store, NULL, "user.a", 5000, 3, &error), 0);
    assert_int_equal(quota_add_usage(f->store, NULL, "user.a", -1000, -1, &error), 0);
    get_ok(f, "user.a", &q);
    assert_int_equal(q.used_bytes, 4000);
    assert_int_equal(q.used_messages, 2);
    /* New limits keep the usage. */
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", -1, 10, &error), 0);
    get_ok(f, "user.a", &q);
    assert_int_equal(q.limit_storage_kb, -1);
    assert_int_equal(q.limit_messages, 10);
    assert_int_equal(q.used_bytes, 4000);
    /* Usage never goes below zero. */
    assert_int_equal(quota_add_usage(f->store, NULL, "user.a", -999999, -50, &error), 0);
    get_ok(f, "user.a", &q);
    assert_int_equal(q.used_bytes, 0);
    assert_int_equal(q.used_messages, 0);
    /* Recount. */
    assert_int_equal(quota_set_usage(f->store, NULL, "user.a", 123456, 78, &error), 0);
    get_ok(f, "user.a", &q);
    assert_int_equal(q.used_bytes, 123456);
    assert_int_equal(q.used_messages, 78);
    assert_int_equal(quota_set_usage(f->store, NULL, "user.a", -1, 0, &error), -1);
    /* Missing roots: usage changes are no-ops and create nothing. */
    assert_int_equal(quota_add_usage(f->store, NULL, "user.b", 10, 1, &error), 0);
    assert_int_equal(quota_set_usage(f->store, NULL, "user.b", 10, 1, &error), 0);
    assert_int_equal(quota_get(f->store, NULL, "user.b", &q, &error), 0);
    /* Refusals. */
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", -2, 0, &error), -1);
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", 0, -7, &error), -1);
    assert_int_equal(quota_set_limits(f->store, NULL, "user..a", 1, 1, &error), -1);
    assert_int_equal(quota_set_limits(f->store, NULL, "user", 1, 1, &error), -1);
    assert_int_equal(quota_set_limits(f->store, NULL, NULL, 1, 1, &error), -1);
    /* Delete. */
    assert_int_equal(quota_delete(f->store, NULL, "user.a", &error), 1);
    assert_int_equal(quota_delete(f->store, NULL, "user.a", &error), 0);
    assert_int_equal(quota_get(f->store, NULL, "user.a", &q, &error), 0);
}

static void test_check_storage(void **state)
{
    struct fixture *f = *state;
    const char *error;

    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", 1, -1, &error), 0);
    /* 1 KiB: 1024 bytes fit, 1025 do not. */
    assert_int_equal(quota_check(f->store, NULL, "user.a", 1024, 1, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 1025, 1, &error),
                     STORE_ERR_OVERQUOTA);
    assert_non_null(strstr(error, "STORAGE"));
    assert_int_equal(quota_set_usage(f->store, NULL, "user.a", 1000, 1, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 24, 1, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 25, 1, &error), STORE_ERR_OVERQUOTA);
    /* Not positive deltas always fit, even over quota. */
    assert_int_equal(quota_set_usage(f->store, NULL, "user.a", 5000, 1, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 0, 0, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", -100, 0, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", -100, -1, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 0, 1, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 1, 0, &error), STORE_ERR_OVERQUOTA);
    /* Limit 0: nothing more goes in. */
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", 0, -1, &error), 0);
    assert_int_equal(quota_set_usage(f->store, NULL, "user.a", 0, 0, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 1, 0, &error), STORE_ERR_OVERQUOTA);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 0, 5, &error), 0);
    /* Large numbers: 4 TiB limit, exact at the edge; no overflow. */
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", 4LL << 30, -1, &error), 0);
    assert_int_equal(quota_set_usage(f->store, NULL, "user.a", (4LL << 40) - 1, 0, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 1, 0, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 2, 0, &error), STORE_ERR_OVERQUOTA);
    assert_int_equal(quota_set_usage(f->store, NULL, "user.a", INT64_MAX - 10, 0, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", 100, 0, &error),
                     STORE_ERR_OVERQUOTA);
    assert_int_equal(quota_check(f->store, NULL, "user.a", INT64_MAX, 0, &error),
                     STORE_ERR_OVERQUOTA);
    /* No limit at all. */
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", -1, -1, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "user.a", INT64_MAX, INT64_MAX, &error), 0);
    /* No root: fits. */
    assert_int_equal(quota_check(f->store, NULL, "user.none", INT64_MAX, 1, &error), 0);
}

static void test_check_messages(void **state)
{
    struct fixture *f = *state;
    const char *error;

    assert_int_equal(quota_set_limits(f->store, NULL, "shared", -1, 2, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "shared", 100, 2, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "shared", 100, 3, &error), STORE_ERR_OVERQUOTA);
    assert_non_null(strstr(error, "MESSAGE"));
    assert_int_equal(quota_add_usage(f->store, NULL, "shared", 100, 2, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "shared", 1, 1, &error), STORE_ERR_OVERQUOTA);
    assert_int_equal(quota_check(f->store, NULL, "shared", 1, 0, &error), 0);
    assert_int_equal(quota_check(f->store, NULL, "shared", -1, -1, &error), 0);
    /* Negative bytes with positive messages: messages still checked. */
    assert_int_equal(quota_check(f->store, NULL, "shared", -500, 1, &error),
                     STORE_ERR_OVERQUOTA);
}

static void expect_root(struct fixture *f, const char *name, const char *root)
{
    struct buf b = BUF_INIT;
    const char *error = NULL;
    int ret = quota_find_root(f->store, NULL, name, &b, &error);

    if (root == NULL) {
        if (ret != 0)
            fail_msg("%s: found root \"%s\" (%d)", name, buf_cstr(&b), ret);
        assert_int_equal(b.len, 0);
    } else if (ret != 1 || strcmp(buf_cstr(&b), root) != 0) {
        fail_msg("%s: root \"%s\" (%d), expected %s", name, buf_cstr(&b), ret, root);
    }
    buf_free(&b);
}

static void put_raw_quota(struct fixture *f, const char *key)
{
    unsigned char rec[33] = { 1 };
    const char *error;

    memset(rec + 1, 0xff, 16);   /* limits -1 */
    assert_int_equal(kv_put(store_db(f->store, "quota"), NULL, key, strlen(key), rec,
                            sizeof(rec), &error),
                     0);
}

static void test_find_root(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    const char *error;

    expect_root(f, "user.a.b.c", NULL);
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", 10, 10, &error), 0);
    expect_root(f, "user.a", "user.a");
    expect_root(f, "user.a.b.c", "user.a");
    expect_root(f, "user.ab", NULL);
    expect_root(f, "user.ab.c", NULL);
    /* The deepest root wins. */
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a.b", 10, 10, &error), 0);
    expect_root(f, "user.a.b.c", "user.a.b");
    expect_root(f, "user.a.b", "user.a.b");
    expect_root(f, "user.a.bx", "user.a");
    expect_root(f, "user.a.c", "user.a");
    /* Shared mailboxes go up to their top level. */
    assert_int_equal(quota_set_limits(f->store, NULL, "shared", 10, 10, &error), 0);
    expect_root(f, "shared.x.y", "shared");
    expect_root(f, "sharedx.y", NULL);
    /* Never above a user's INBOX, even with a (hand-made) record there. */
    put_raw_quota(f, "user");
    expect_root(f, "user.z.y", NULL);
    /* Domains: never out of the domain, never into the default one. */
    expect_root(f, "example.com!user.a.x", NULL);
    put_raw_quota(f, "example.com");
    put_raw_quota(f, "example.com!");
    put_raw_quota(f, "example.com!user");
    expect_root(f, "example.com!shared.x", NULL);
    expect_root(f, "example.com!user.a.x", NULL);
    assert_int_equal(quota_set_limits(f->store, NULL, "example.com!user.a", 1, 1, &error), 0);
    expect_root(f, "example.com!user.a.x", "example.com!user.a");
    expect_root(f, "user.a.x", "user.a");
    /* Bad names. */
    assert_int_equal(quota_find_root(f->store, NULL, "user..a", &b, &error), -1);
    assert_int_equal(quota_find_root(f->store, NULL, NULL, &b, &error), -1);
    buf_free(&b);
}

struct roots {
    char text[256];
};

static int roots_cb(const char *root, const struct quota *q, void *ctx)
{
    struct roots *r = ctx;
    size_t len = strlen(r->text);

    snprintf(r->text + len, sizeof(r->text) - len, "%s=%lld;", root, (long long)q->used_bytes);
    return 0;
}

static void test_foreach_and_damage(void **state)
{
    struct fixture *f = *state;
    struct roots r;
    struct quota q;
    const char *error;
    unsigned char bad[33];

    assert_int_equal(quota_set_limits(f->store, NULL, "user.b", 1, 1, &error), 0);
    assert_int_equal(quota_set_limits(f->store, NULL, "user.a", 1, 1, &error), 0);
    assert_int_equal(quota_set_limits(f->store, NULL, "shared", 1, 1, &error), 0);
    assert_int_equal(quota_add_usage(f->store, NULL, "user.a", 7, 1, &error), 0);
    /* Damaged: wrong length, wrong version, negative usage. */
    memset(bad, 0, sizeof(bad));
    bad[0] = 1;
    assert_int_equal(kv_put(store_db(f->store, "quota"), NULL, "user.c", 6, bad, 20, &error), 0);
    bad[0] = 2;
    assert_int_equal(kv_put(store_db(f->store, "quota"), NULL, "user.d", 6, bad, 33, &error), 0);
    bad[0] = 1;
    bad[17] = 0xff;
    assert_int_equal(kv_put(store_db(f->store, "quota"), NULL, "user.e", 6, bad, 33, &error), 0);
    assert_int_equal(quota_get(f->store, NULL, "user.c", &q, &error), -1);
    assert_non_null(strstr(error, "damaged"));
    assert_int_equal(quota_get(f->store, NULL, "user.d", &q, &error), -1);
    assert_int_equal(quota_get(f->store, NULL, "user.e", &q, &error), -1);
    assert_int_equal(quota_check(f->store, NULL, "user.e", 1, 1, &error), -1);
    assert_int_equal(quota_add_usage(f->store, NULL, "user.e", 1, 1, &error), -1);
    /* set_limits rewrites nothing it cannot read. */
    assert_int_equal(quota_set_limits(f->store, NULL, "user.e", 1, 1, &error), -1);

    memset(&r, 0, sizeof(r));
    assert_int_equal(quota_foreach(f->store, NULL, "", roots_cb, &r, &error), 0);
    assert_string_equal(r.text, "shared=0;user.a=7;user.b=0;");
    memset(&r, 0, sizeof(r));
    assert_int_equal(quota_foreach(f->store, NULL, "user.", roots_cb, &r, &error), 0);
    assert_string_equal(r.text, "user.a=7;user.b=0;");
}

/* quota_check and quota_add_usage in one transaction, the way an append
 * does it; STORE_ERR_OVERQUOTA kept in the ctx. */
struct deliver_ctx {
    struct store *store;
    const char *root;
    int64_t bytes;
    int result;
};

static int deliver_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct deliver_ctx *d = ctx;
    int ret;

    d->result = 0;
    ret = quota_check(d->store, txn, d->root, d->bytes, 1, error_r);
    if (ret == STORE_ERR_OVERQUOTA) {
        d->result = ret;
        return -1;
    }
    if (ret < 0)
        return ret;
    return quota_add_usage(d->store, txn, d->root, d->bytes, 1, error_r);
}

static void test_transaction(void **state)
{
    struct fixture *f = *state;
    struct deliver_ctx d = { f->store, "user.t", 600, 0 };
    struct quota q;
    const char *error;

    assert_int_equal(quota_set_limits(f->store, NULL, "user.t", 1, -1, &error), 0);
    assert_int_equal(kv_transaction(store_kv(f->store), deliver_body, &d, &error), 0);
    assert_int_equal(kv_transaction(store_kv(f->store), deliver_body, &d, &error), -1);
    assert_int_equal(d.result, STORE_ERR_OVERQUOTA);
    get_ok(f, "user.t", &q);
    assert_int_equal(q.used_bytes, 600);
    assert_int_equal(q.used_messages, 1);
}

#define CHILDREN 4
#define ROUNDS 150

static void wait_children(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %d failed (status %d)", i, status);
    }
}

/* Several processes add and remove usage at once: nothing is lost. */
static void test_concurrent_usage(void **state)
{
    struct fixture *f = *state;
    pid_t pids[CHILDREN];
    struct quota q;
    const char *error;

    assert_int_equal(quota_set_limits(f->store, NULL, "user.c", -1, -1, &error), 0);
    for (int i = 0; i < CHILDREN; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct store *store;
            int rc = 0;
            if (store_open(f->config, 0, &store, &error) < 0)
                _exit(2);
            for (int k = 0; k < ROUNDS && rc == 0; k++) {
                if (quota_add_usage(store, NULL, "user.c", 1000 + i, 1, &error) < 0)
                    rc = 3;
                if (k % 3 == 0 && quota_add_usage(store, NULL, "user.c", -7, 0, &error) < 0)
                    rc = 4;
            }
            store_close(&store);
            _exit(rc);
        }
    }
    wait_children(pids, CHILDREN);
    get_ok(f, "user.c", &q);
    int64_t expect = 0;
    for (int i = 0; i < CHILDREN; i++)
        expect += (int64_t)ROUNDS * (1000 + i) - 7 * ((ROUNDS + 2) / 3);
    assert_int_equal(q.used_bytes, expect);
    assert_int_equal(q.used_messages, CHILDREN * ROUNDS);
}

/* Several processes deliver against a MESSAGE limit with check+add in one
 * transaction: exactly the limit gets in. */
static void test_concurrent_limit(void **state)
{
    struct fixture *f = *state;
    pid_t pids[CHILDREN];
    int pipes[CHILDREN][2];
    struct quota q;
    const char *error;
    const int limit = 250;
    int accepted = 0;

    assert_int_equal(quota_set_limits(f->store, NULL, "user.l", -1, limit, &error), 0);
    for (int i = 0; i < CHILDREN; i++) {
        assert_int_equal(pipe(pipes[i]), 0);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct store *store;
            int ok = 0, rc = 0;
            close(pipes[i][0]);
            if (store_open(f->config, 0, &store, &error) < 0)
                _exit(2);
            for (int k = 0; k < ROUNDS && rc == 0; k++) {
                struct deliver_ctx d = { store, "user.l", 10, 0 };
                if (kv_transaction(store_kv(store), deliver_body, &d, &error) == 0)
                    ok++;
                else if (d.result != STORE_ERR_OVERQUOTA)
                    rc = 3;
            }
            store_close(&store);
            if (write(pipes[i][1], &ok, sizeof(ok)) != (ssize_t)sizeof(ok))
                rc = 5;
            _exit(rc);
        }
        close(pipes[i][1]);
    }
    wait_children(pids, CHILDREN);
    for (int i = 0; i < CHILDREN; i++) {
        int ok = 0;
        assert_int_equal(read(pipes[i][0], &ok, sizeof(ok)), sizeof(ok));
        close(pipes[i][0]);
        accepted += ok;
    }
    get_ok(f, "user.l", &q);
    assert_int_equal(accepted, limit);
    assert_int_equal(q.used_messages, limit);
    assert_int_equal(q.used_bytes, 10 * limit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limits_and_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach_and_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_limit, setup, teardown),
    };
    log_set_level(LOG_LEVEL_FATAL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
