/* test-seen-subs.c - unit tests of the per-user databases: seen state
 *                    (store/seen.c), subscriptions (store/subs.c),
 *                    duplicate-delivery records (store/duplicate.c) and
 *                    annotations (store/annotate.c).
 *
 * Round trips, refusals, damaged records, moving and deleting everything
 * of one user (a renamed or deleted user), and above all that the NUL
 * separated keys keep one user's (or one mailbox's) records apart from
 * another's whose name it prefixes ("bob" and "bobby", "m1" and "m10"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "annotate.h"
#include "buf.h"
#include "config.h"
#include "duplicate.h"
#include "kv.h"
#include "log.h"
#include "mboxname.h"
#include "seen.h"
#include "store.h"
#include "subs.h"
#include "test-store-fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return fixture_setup(state, "test-seen-subs", NULL, NULL);
}

static int teardown(void **state)
{
    return fixture_teardown(state);
}

static void put_raw(struct fixture *f, const char *db, const void *key, size_t keylen,
                    const void *val, size_t vallen)
{
    const char *error;
    if (kv_put(store_db(f->store, db), NULL, key, keylen, val, vallen, &error) < 0)
        fail_msg("kv_put: %s", error);
}

/* ---- seen ---- */

static void expect_seen(struct fixture *f, const char *user, const char *id, const char *set)
{
    struct buf b = BUF_INIT;
    const char *error;
    int ret = seen_get(f->store, NULL, user, id, &b, &error);

    if (set == NULL) {
        if (ret != 0)
            fail_msg("seen %s/%s: found \"%s\"", user, id, buf_cstr(&b));
        assert_int_equal(b.len, 0);
    } else if (ret != 1 || strcmp(buf_cstr(&b), set) != 0) {
        fail_msg("seen %s/%s: %d \"%s\", expected \"%s\"", user, id, ret, buf_cstr(&b), set);
    }
    buf_free(&b);
}

static void test_seen(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    const char *error;

    expect_seen(f, "bob", "m1", NULL);
    assert_int_equal(seen_set(f->store, NULL, "bob", "m1", "1:40,42", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "bobby", "m1", "7", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "bob", "m10", "1", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "alice", "m1", "", &error), 0);
    expect_seen(f, "bob", "m1", "1:40,42");
    expect_seen(f, "bobby", "m1", "7");
    expect_seen(f, "alice", "m1", "");
    expect_seen(f, "bo", "m1", NULL);
    expect_seen(f, "bob", "m", NULL);
    /* Replace. */
    assert_int_equal(seen_set(f->store, NULL, "bob", "m1", "1:41", &error), 0);
    expect_seen(f, "bob", "m1", "1:41");
    /* Refusals. */
    assert_int_equal(seen_set(f->store, NULL, "bob", "m1", "1:5,a", &error), -1);
    assert_int_equal(seen_set(f->store, NULL, "bob", "m1", "1 2", &error), -1);
    assert_int_equal(seen_set(f->store, NULL, "", "m1", "1", &error), -1);
    assert_int_equal(seen_set(f->store, NULL, NULL, "m1", "1", &error), -1);
    assert_int_equal(seen_set(f->store, NULL, "bob", "", "1", &error), -1);
    assert_int_equal(seen_set(f->store, NULL, "bob", NULL, "1", &error), -1);
    assert_int_equal(seen_get(f->store, NULL, "bob", NULL, &b, &error), -1);
    expect_seen(f, "bob", "m1", "1:41");
    /* One entry. */
    assert_int_equal(seen_delete(f->store, NULL, "bob", "m10", &error), 1);
    assert_int_equal(seen_delete(f->store, NULL, "bob", "m10", &error), 0);
    expect_seen(f, "bob", "m10", NULL);
    /* "bob" does not take "bobby" with him. */
    assert_int_equal(seen_set(f->store, NULL, "bob", "m10", "1", &error), 0);
    assert_int_equal(seen_delete_user(f->store, NULL, "bob", &error), 0);
    expect_seen(f, "bob", "m1", NULL);
    expect_seen(f, "bob", "m10", NULL);
    expect_seen(f, "bobby", "m1", "7");
    /* A mailbox, for every user; "m1" is not "m10". */
    assert_int_equal(seen_set(f->store, NULL, "bob", "m1", "1", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "bob", "m10", "1", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "carol", "xm1", "1", &error), 0);
    assert_int_equal(seen_delete_mailbox(f->store, NULL, "m1", &error), 0);
    expect_seen(f, "bob", "m1", NULL);
    expect_seen(f, "bobby", "m1", NULL);
    expect_seen(f, "alice", "m1", NULL);
    expect_seen(f, "bob", "m10", "1");
    expect_seen(f, "carol", "xm1", "1");
    assert_int_equal(seen_delete_mailbox(f->store, NULL, "", &error), -1);
    /* Damaged records. */
    put_raw(f, "seen", "dan\0m1", 6, "\002" "1:5", 4);
    put_raw(f, "seen", "dan\0m2", 6, "\001" "1:x", 4);
    put_raw(f, "seen", "dan\0m3", 6, "", 0);
    assert_int_equal(seen_get(f->store, NULL, "dan", "m1", &b, &error), -1);
    assert_int_equal(seen_get(f->store, NULL, "dan", "m2", &b, &error), -1);
    assert_int_equal(seen_get(f->store, NULL, "dan", "m3", &b, &error), -1);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

struct seen_txn_ctx {
    struct store *store;
    const char *rename_to;   /* NULL: delete bob's entries instead */
};

static int seen_txn_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct seen_txn_ctx *c = ctx;
    int ret;

    if (c->rename_to != NULL)
        ret = seen_rename_user(c->store, txn, "bob", c->rename_to, error_r);
    else
        ret = seen_delete_user(c->store, txn, "bob", error_r);
    if (ret < 0)
        return ret;
    if ((ret = seen_set(c->store, txn, "bob", "new", "9", error_r)) < 0)
        return ret;
    *error_r = "abort on purpose";
    return -1;
}

static void test_seen_txn(void **state)
{
    struct fixture *f = *state;
    struct seen_txn_ctx c = { f->store, NULL };
    const char *error;

    assert_int_equal(seen_set(f->store, NULL, "bob", "m1", "1", &error), 0);
    assert_int_equal(kv_transaction(store_kv(f->store), seen_txn_body, &c, &error), -1);
    /* Nothing of the aborted transaction stayed. */
    expect_seen(f, "bob", "m1", "1");
    expect_seen(f, "bob", "new", NULL);
}

/* A user renamed: bob's entries become carol's, nobody else's move
 * ("bobby" and "bo" are other users), an entry carol had for the same
 * mailbox is replaced, and an aborted transaction keeps everything. */
static void test_seen_rename_user(void **state)
{
    struct fixture *f = *state;
    struct seen_txn_ctx c = { f->store, NULL };
    const char *error;
    char longid[MBOXNAME_USERID_MAX + 2];

    assert_int_equal(seen_set(f->store, NULL, "bob", "m1", "1:40", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "bob", "m10", "", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "bobby", "m1", "7", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "bo", "m1", "8", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "carol", "m1", "99", &error), 0);
    assert_int_equal(seen_set(f->store, NULL, "carol", "m2", "3", &error), 0);

    assert_int_equal(seen_rename_user(f->store, NULL, "bob", "carol", &error), 0);
    expect_seen(f, "bob", "m1", NULL);
    expect_seen(f, "bob", "m10", NULL);
    expect_seen(f, "carol", "m1", "1:40");
    expect_seen(f, "carol", "m10", "");
    expect_seen(f, "carol", "m2", "3");
    expect_seen(f, "bobby", "m1", "7");
    expect_seen(f, "bo", "m1", "8");

    /* Nothing to move, the same user: fine, nothing changes. */
    assert_int_equal(seen_rename_user(f->store, NULL, "nobody", "bob", &error), 0);
    expect_seen(f, "bob", "m1", NULL);
    assert_int_equal(seen_rename_user(f->store, NULL, "carol", "carol", &error), 0);
    expect_seen(f, "carol", "m1", "1:40");
    /* Refusals. */
    memset(longid, 'u', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(seen_rename_user(f->store, NULL, "", "dan", &error), -1);
    assert_int_equal(seen_rename_user(f->store, NULL, "carol", "", &error), -1);
    assert_int_equal(seen_rename_user(f->store, NULL, NULL, "dan", &error), -1);
    assert_int_equal(seen_rename_user(f->store, NULL, "carol", NULL, &error), -1);
    assert_int_equal(seen_rename_user(f->store, NULL, "carol", longid, &error), -1);
    expect_seen(f, "carol", "m1", "1:40");

    /* Inside a transaction that aborts: nothing moved. */
    assert_int_equal(seen_set(f->store, NULL, "bob", "m1", "1", &error), 0);
    c.rename_to = "erin";
    assert_int_equal(kv_transaction(store_kv(f->store), seen_txn_body, &c, &error), -1);
    expect_seen(f, "bob", "m1", "1");
    expect_seen(f, "erin", "m1", NULL);
}

/* ---- subscriptions ---- */

struct list {
    char text[512];
};

static int list_cb(const char *name, void *ctx)
{
    struct list *l = ctx;
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof(l->text) - len, "%s;", name);
    return 0;
}

static const char *subs_of(struct fixture *f, const char *user)
{
    static struct list l;
    const char *error;

    memset(&l, 0, sizeof(l));
    if (subs_foreach(f->store, NULL, user, list_cb, &l, &error) < 0)
        fail_msg("subs_foreach: %s", error);
    return l.text;
}

static void test_subs(void **state)
{
    struct fixture *f = *state;
    const char *error;

    assert_int_equal(subs_add(f->store, NULL, "bob", "user.bob.Sent", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "bob", "user.bob", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "bob", "shared.news", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "bob", "shared.news", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "bobby", "user.bobby", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "bobby", "user.bob.Sent", &error), 0);
    assert_string_equal(subs_of(f, "bob"), "shared.news;user.bob;user.bob.Sent;");
    assert_string_equal(subs_of(f, "bobby"), "user.bob.Sent;user.bobby;");
    assert_string_equal(subs_of(f, "bo"), "");
    assert_int_equal(subs_is_subscribed(f->store, NULL, "bob", "user.bob", &error), 1);
    assert_int_equal(subs_is_subscribed(f->store, NULL, "bobby", "user.bob", &error), 0);
    assert_int_equal(subs_is_subscribed(f->store, NULL, "bob", "user.bo", &error), 0);
    /* Refusals. */
    assert_int_equal(subs_add(f->store, NULL, "bob", "user..x", &error), -1);
    assert_int_equal(subs_add(f->store, NULL, "bob", "", &error), -1);
    assert_int_equal(subs_add(f->store, NULL, "bob", NULL, &error), -1);
    assert_int_equal(subs_add(f->store, NULL, "", "shared", &error), -1);
    assert_int_equal(subs_is_subscribed(f->store, NULL, "bob", "a*", &error), -1);
    /* Remove. */
    assert_int_equal(subs_remove(f->store, NULL, "bob", "shared.news", &error), 1);
    assert_int_equal(subs_remove(f->store, NULL, "bob", "shared.news", &error), 0);
    assert_string_equal(subs_of(f, "bob"), "user.bob;user.bob.Sent;");
    /* A user's subscriptions, not their prefix-sharing neighbour's. */
    assert_int_equal(subs_delete_user(f->store, NULL, "bob", &error), 0);
    assert_string_equal(subs_of(f, "bob"), "");
    assert_string_equal(subs_of(f, "bobby"), "user.bob.Sent;user.bobby;");
}

static void test_subs_rename(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {
        "user.bob.a", "user.bob.a.b", "user.bob.ab", "user.bob.x", "user.bob",
    };
    char longname[MBOXNAME_MAX];
    const char *error;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(subs_add(f->store, NULL, "bob", names[i], &error), 0);
        assert_int_equal(subs_add(f->store, NULL, "alice", names[i], &error), 0);
    }
    assert_int_equal(subs_rename(f->store, NULL, "user.bob.a", "user.bob.z", &error), 0);
    assert_string_equal(subs_of(f, "bob"), "user.bob;user.bob.ab;user.bob.x;user.bob.z;"
                                           "user.bob.z.b;");
    assert_string_equal(subs_of(f, "alice"), subs_of(f, "bob"));
    /* Into its own child: "shared.a" becomes "shared.a.b", which the old
     * "shared.a.b" becomes "shared.a.b.b". */
    assert_int_equal(subs_add(f->store, NULL, "carol", "shared.a", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "carol", "shared.a.b", &error), 0);
    assert_int_equal(subs_rename(f->store, NULL, "shared.a", "shared.a.b", &error), 0);
    assert_string_equal(subs_of(f, "carol"), "shared.a.b;shared.a.b.b;");
    /* Nothing to rename, same name, bad names. */
    assert_int_equal(subs_rename(f->store, NULL, "shared.none", "shared.x", &error), 0);
    assert_int_equal(subs_rename(f->store, NULL, "shared.a.b", "shared.a.b", &error), 0);
    assert_int_equal(subs_rename(f->store, NULL, "shared..a", "shared.x", &error), -1);
    assert_int_equal(subs_rename(f->store, NULL, "shared.a.b", "shared/x", &error), -1);
    /* A new name that would be too long for a child: nothing changes. */
    memset(longname, 'z', sizeof(longname) - 1);
    memcpy(longname, "shared.", 7);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(subs_rename(f->store, NULL, "shared.a.b", longname, &error), -1);
    assert_non_null(error);
    assert_string_equal(subs_of(f, "carol"), "shared.a.b;shared.a.b.b;");
}


/* A user renamed: bob's subscriptions join carol's, names unchanged;
 * "bobby" keeps his. */
static void test_subs_rename_user(void **state)
{
    struct fixture *f = *state;
    const char *error;

    assert_int_equal(subs_add(f->store, NULL, "bob", "user.bob", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "bob", "shared.news", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "bobby", "user.bobby", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "carol", "shared.news", &error), 0);
    assert_int_equal(subs_add(f->store, NULL, "carol", "shared.carol", &error), 0);

    assert_int_equal(subs_rename_user(f->store, NULL, "bob", "carol", &error), 0);
    assert_string_equal(subs_of(f, "bob"), "");
    assert_string_equal(subs_of(f, "carol"), "shared.carol;shared.news;user.bob;");
    assert_string_equal(subs_of(f, "bobby"), "user.bobby;");

    assert_int_equal(subs_rename_user(f->store, NULL, "nobody", "bob", &error), 0);
    assert_string_equal(subs_of(f, "bob"), "");
    assert_int_equal(subs_rename_user(f->store, NULL, "carol", "carol", &error), 0);
    assert_string_equal(subs_of(f, "carol"), "shared.carol;shared.news;user.bob;");
    assert_int_equal(subs_rename_user(f->store, NULL, "carol", "", &error), -1);
    assert_int_equal(subs_rename_user(f->store, NULL, NULL, "dan", &error), -1);
    assert_string_equal(subs_of(f, "carol"), "shared.carol;shared.news;user.bob;");
}

/* ---- duplicate delivery ---- */

static void test_duplicate(void **state)
{
    struct fixture *f = *state;
    char longid[DUPLICATE_ID_MAX + 2];
    time_t when = 0;
    const char *error;

    assert_int_equal(duplicate_check(f->store, "<a@b>", "m1", &when, &error), 0);
    assert_int_equal(duplicate_mark(f->store, "<a@b>", "m1", 1700000000, &error), 0);
    assert_int_equal(duplicate_check(f->store, "<a@b>", "m1", &when, &error), 1);
    assert_int_equal(when, 1700000000);
    assert_int_equal(duplicate_check(f->store, "<a@b>", "m1", NULL, &error), 1);
    assert_int_equal(duplicate_check(f->store, "<a@b>", "m10", NULL, &error), 0);
    assert_int_equal(duplicate_check(f->store, "<a@b", "m1", NULL, &error), 0);
    /* Again: the time moves. */
    assert_int_equal(duplicate_mark(f->store, "<a@b>", "m1", 1700000100, &error), 0);
    assert_int_equal(duplicate_check(f->store, "<a@b>", "m1", &when, &error), 1);
    assert_int_equal(when, 1700000100);
    /* Hostile ids. */
    memset(longid, 'x', sizeof(longid));
    longid[DUPLICATE_ID_MAX] = '\0';
    assert_int_equal(duplicate_mark(f->store, longid, "m1", 1, &error), 0);
    longid[DUPLICATE_ID_MAX] = 'x';
    longid[DUPLICATE_ID_MAX + 1] = '\0';
    assert_int_equal(duplicate_mark(f->store, longid, "m1", 1, &error), -1);
    assert_int_equal(duplicate_check(f->store, longid, "m1", NULL, &error), -1);
    assert_int_equal(duplicate_check(f->store, "", "m1", NULL, &error), -1);
    assert_int_equal(duplicate_check(f->store, NULL, "m1", NULL, &error), -1);
    assert_int_equal(duplicate_check(f->store, "<a@b>", "", NULL, &error), -1);
    /* Damaged. */
    put_raw(f, "deliver", "<d>\0m1", 6, "\001abc", 4);
    assert_int_equal(duplicate_check(f->store, "<d>", "m1", NULL, &error), -1);
}

static void test_duplicate_prune(void **state)
{
    struct fixture *f = *state;
    char id[64];
    uint64_t removed = 99;
    const char *error;

    /* More records than one prune batch, in shuffled time order. */
    for (int i = 0; i < 1500; i++) {
        snprintf(id, sizeof(id), "<%d@example.com>", i);
        assert_int_equal(duplicate_mark(f->store, id, "m1", (time_t)((i * 7919) % 1500), &error),
                         0);
    }
    put_raw(f, "deliver", "<damaged>\0m1", 12, "\002", 1);
    assert_int_equal(duplicate_prune(f->store, 1200, &removed, &error), 0);
    assert_int_equal(removed, 1201);
    for (int i = 0; i < 1500; i++) {
        time_t when;
        snprintf(id, sizeof(id), "<%d@example.com>", i);
        int ret = duplicate_check(f->store, id, "m1", &when, &error);
        if ((i * 7919) % 1500 < 1200)
            assert_int_equal(ret, 0);
        else
            assert_int_equal(ret, 1);
    }
    assert_int_equal(duplicate_prune(f->store, 1200, &removed, &error), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(duplicate_prune(f->store, 1500, NULL, &error), 0);
    assert_int_equal(duplicate_check(f->store, "<1499@example.com>", "m1", NULL, &error), 0);
}

/* ---- annotations ---- */

struct annots {
    char text[1024];
    int stop_at, count;
};

static int annots_cb(const char *entry, const char *userid, const char *value, size_t len,
                     void *ctx)
{
    struct annots *a = ctx;
    size_t used = strlen(a->text);

    snprintf(a->text + used, sizeof(a->text) - used, "%s[%s]=%.*s;", entry, userid, (int)len,
             value);
    return ++a->count == a->stop_at ? 1 : 0;
}

static const char *annots_of(struct fixture *f, const char *mbox, const char *prefix)
{
    static struct annots a;
    const char *error;

    memset(&a, 0, sizeof(a));
    if (annotate_foreach(f->store, NULL, mbox, prefix, annots_cb, &a, &error) < 0)
        fail_msg("annotate_foreach: %s", error);
    return a.text;
}

static void test_annotate(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    static char big[ANNOTATE_VALUE_MAX + 1];
    struct annots a;
    const char *error;

    assert_int_equal(annotate_get(f->store, NULL, "m1", "/shared/comment", "", &b, &error), 0);
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/shared/comment", "", "hello", 5,
                                  &error),
                     0);
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/private/comment", "bob", "mine", 4,
                                  &error),
                     0);
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/private/comment", "bobby", "his", 3,
                                  &error),
                     0);
    assert_int_equal(annotate_set(f->store, NULL, "m10", "/shared/comment", "", "other", 5,
                                  &error),
                     0);
    assert_int_equal(annotate_set(f->store, NULL, "", "/shared/motd", "", "server", 6, &error),
                     0);
    /* Binary values, empty values. */
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/shared/vendor/x/bin", "", "a\0b", 3,
                                  &error),
                     0);
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/shared/vendor/x/empty", "", "", 0,
                                  &error),
                     0);

    assert_int_equal(annotate_get(f->store, NULL, "m1", "/shared/comment", "", &b, &error), 1);
    assert_true(buf_equals_str(&b, "hello"));
    assert_int_equal(annotate_get(f->store, NULL, "m1", "/private/comment", "bob", &b, &error),
                     1);
    assert_true(buf_equals_str(&b, "mine"));
    assert_int_equal(annotate_get(f->store, NULL, "m1", "/private/comment", "bo", &b, &error),
                     0);
    assert_int_equal(annotate_get(f->store, NULL, "m1", "/shared/vendor/x/bin", "", &b, &error),
                     1);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 3);
    assert_int_equal(annotate_get(f->store, NULL, "", "/shared/motd", "", &b, &error), 1);
    assert_true(buf_equals_str(&b, "server"));
    assert_int_equal(annotate_get(f->store, NULL, "m1", "/shared/motd", "", &b, &error), 0);

    /* Walks: per mailbox, by entry prefix; "m1" is not "m10" nor the
     * server. */
    assert_string_equal(annots_of(f, "m1", NULL),
                        "/private/comment[bob]=mine;/private/comment[bobby]=his;"
                        "/shared/comment[]=hello;/shared/vendor/x/bin[]=a;"
                        "/shared/vendor/x/empty[]=;");
    assert_string_equal(annots_of(f, "m1", "/private"),
                        "/private/comment[bob]=mine;/private/comment[bobby]=his;");
    assert_string_equal(annots_of(f, "m10", ""), "/shared/comment[]=other;");
    assert_string_equal(annots_of(f, "", ""), "/shared/motd[]=server;");
    assert_string_equal(annots_of(f, "m", ""), "");
    memset(&a, 0, sizeof(a));
    a.stop_at = 1;
    assert_int_equal(annotate_foreach(f->store, NULL, "m1", "", annots_cb, &a, &error), 0);
    assert_int_equal(a.count, 1);

    /* Delete one, then the mailbox. */
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/private/comment", "bob", NULL, 0,
                                  &error),
                     0);
    assert_int_equal(annotate_get(f->store, NULL, "m1", "/private/comment", "bob", &b, &error),
                     0);
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/private/comment", "bob", NULL, 0,
                                  &error),
                     0);
    assert_int_equal(annotate_delete_mailbox(f->store, NULL, "m1", &error), 0);
    assert_string_equal(annots_of(f, "m1", ""), "");
    assert_string_equal(annots_of(f, "m10", ""), "/shared/comment[]=other;");
    assert_string_equal(annots_of(f, "", ""), "/shared/motd[]=server;");

    /* Refusals. */
    static const char *const bad[] = {
        "", "x", "/", "/a/", "//a", "/a//b", "/a*", "/a%", "/a b", "/a\001", "/a\x80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (annotate_set(f->store, NULL, "m1", bad[i], "", "v", 1, &error) != -1)
            fail_msg("entry \"%s\" accepted", bad[i]);
    }
    assert_int_equal(annotate_set(f->store, NULL, "m1", NULL, "", "v", 1, &error), -1);
    assert_int_equal(annotate_set(f->store, NULL, NULL, "/a", "", "v", 1, &error), -1);
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/a", NULL, "v", 1, &error), -1);
    memset(big, 'v', sizeof(big));
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/a", "", big, sizeof(big), &error), -1);
    assert_int_equal(annotate_set(f->store, NULL, "m1", "/a", "", big, sizeof(big) - 1, &error),
                     0);

    /* Damaged records: get fails, the walk skips them. */
    put_raw(f, "annotations", "m2\0/a\0", 6, "\002x", 2);
    put_raw(f, "annotations", "m2\0/b", 5, "\001x", 2);
    put_raw(f, "annotations", "m2\0/c\0u\0v", 9, "\001x", 2);
    put_raw(f, "annotations", "m2\0/d\0", 6, "\001ok", 3);
    assert_int_equal(annotate_get(f->store, NULL, "m2", "/a", "", &b, &error), -1);
    assert_string_equal(annots_of(f, "m2", ""), "/d[]=ok;");
    buf_free(&b);
}


/* Whether the raw key is in annotations.db. */
static bool raw_exists(struct fixture *f, const char *db, const void *key, size_t keylen)
{
    struct buf b = BUF_INIT;
    const char *error;
    int ret = kv_get(store_db(f->store, db), NULL, key, keylen, &b, &error);

    buf_free(&b);
    if (ret < 0)
        fail_msg("kv_get: %s", error);
    return ret == 1;
}

/* A user's private values on every mailbox and on the server: renamed,
 * then deleted; shared values, other users' ("bobby", "bo") and damaged
 * keys are never touched. */
static void test_annotate_user(void **state)
{
    struct fixture *f = *state;
    const char *error;

    static const struct {
        const char *mbox, *entry, *user, *value;
    } set[] = {
        { "m1", "/private/comment", "bob", "b1" },
        { "m10", "/private/comment", "bob", "b10" },
        { "m10", "/private/vendor/x", "bob", "bx" },
        { "", "/private/motd", "bob", "bs" },
        { "m1", "/private/comment", "bobby", "by" },
        { "m1", "/private/comment", "bo", "bo" },
        { "m1", "/shared/comment", "", "shared" },
        { "m10", "/private/vendor/x", "carol", "cx" },
        { "m2", "/private/comment", "carol", "c2" },
    };
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
        if (annotate_set(f->store, NULL, set[i].mbox, set[i].entry, set[i].user, set[i].value,
                         strlen(set[i].value), &error) != 0)
            fail_msg("annotate_set: %s", error);
    }
    /* Damaged keys that end in "bob" or "carol". */
    put_raw(f, "annotations", "m3\0bob", 6, "\001x", 2);
    put_raw(f, "annotations", "m3\0/a\0x\0bob", 11, "\001x", 2);
    put_raw(f, "annotations", "m3\0/a\0x\0carol", 13, "\001x", 2);

    assert_int_equal(annotate_rename_user(f->store, NULL, "bob", "carol", &error), 0);
    assert_string_equal(annots_of(f, "m1", ""), "/private/comment[bo]=bo;"
                                                "/private/comment[bobby]=by;"
                                                "/private/comment[carol]=b1;"
                                                "/shared/comment[]=shared;");
    /* carol's own value for the same entry was replaced by bob's */
    assert_string_equal(annots_of(f, "m10", ""), "/private/comment[carol]=b10;"
                                                 "/private/vendor/x[carol]=bx;");
    assert_string_equal(annots_of(f, "", ""), "/private/motd[carol]=bs;");
    assert_string_equal(annots_of(f, "m2", ""), "/private/comment[carol]=c2;");
    assert_true(raw_exists(f, "annotations", "m3\0bob", 6));
    assert_true(raw_exists(f, "annotations", "m3\0/a\0x\0bob", 11));

    /* Nothing to move, the same user, refusals. */
    assert_int_equal(annotate_rename_user(f->store, NULL, "bob", "dan", &error), 0);
    assert_int_equal(annotate_rename_user(f->store, NULL, "carol", "carol", &error), 0);
    assert_int_equal(annotate_rename_user(f->store, NULL, "carol", "", &error), -1);
    assert_int_equal(annotate_rename_user(f->store, NULL, "", "dan", &error), -1);
    assert_int_equal(annotate_rename_user(f->store, NULL, NULL, "dan", &error), -1);
    assert_string_equal(annots_of(f, "m2", ""), "/private/comment[carol]=c2;");

    /* Delete: carol's values go everywhere, the rest stays. */
    assert_int_equal(annotate_delete_user(f->store, NULL, "carol", &error), 0);
    assert_string_equal(annots_of(f, "m1", ""), "/private/comment[bo]=bo;"
                                                "/private/comment[bobby]=by;"
                                                "/shared/comment[]=shared;");
    assert_string_equal(annots_of(f, "m10", ""), "");
    assert_string_equal(annots_of(f, "m2", ""), "");
    assert_string_equal(annots_of(f, "", ""), "");
    assert_true(raw_exists(f, "annotations", "m3\0/a\0x\0carol", 13));
    /* "" is nobody: the shared values are not a user's. */
    assert_int_equal(annotate_delete_user(f->store, NULL, "", &error), -1);
    assert_int_equal(annotate_delete_user(f->store, NULL, NULL, &error), -1);
    assert_int_equal(annotate_delete_user(f->store, NULL, "nobody", &error), 0);
    assert_string_equal(annots_of(f, "m1", ""), "/private/comment[bo]=bo;"
                                                "/private/comment[bobby]=by;"
                                                "/shared/comment[]=shared;");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seen_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seen_rename_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subs_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subs_rename_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotate_user, setup, teardown),
    };
    log_set_level(LOG_LEVEL_FATAL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
