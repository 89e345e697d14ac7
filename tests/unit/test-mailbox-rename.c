/* test-mailbox-rename.c - unit tests of rename and delete
 * (store/mailbox_rename.c, store/mailbox_create.c): a hierarchy inside one
 * user (no file moves), across partitions, RFC 3501's INBOX rename, a whole
 * user (quota root, subscriptions, seen state, private annotations, ACL,
 * directories), usage moving between quota roots (and a refused move
 * undone), deleting a mailbox under open handles, a damaged mailbox, and
 * deleting a whole user (with its records on other users' mailboxes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test-mailbox-fixture.h"

#include "annotate.h"
#include "mailbox_private.h"
#include "seen.h"
#include "subs.h"

static int setup(void **state)
{
    *state = mbt_setup(NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    mbt_teardown(*state);
    return 0;
}

static void create_on(struct mbt *t, const char *name, const char *partition)
{
    struct mailbox_create_options o;
    const char *error = NULL;
    memset(&o, 0, sizeof(o));
    o.partition = partition;
    if (mailbox_create(t->store, name, &o, &error) < 0)
        fail_msg("create %s: %s", name, error);
}

static bool exists(struct mbt *t, const char *name)
{
    struct mailbox *mb = NULL;
    const char *error = NULL;
    int r = mailbox_open(t->store, name, MAILBOX_READONLY, &mb, &error);
    mailbox_close(&mb);
    if (r < 0 && r != STORE_ERR_NOTFOUND)
        fail_msg("open %s: %s", name, error);
    return r == 0;
}

/* Fill name with n messages, return the handle closed. */
static void fill(struct mbt *t, const char *name, unsigned n)
{
    struct mailbox *mb = mbt_open(t, name, true);
    mbt_append_n(mb, n, 0);
    mailbox_close(&mb);
}

static void check_messages(struct mbt *t, const char *name, unsigned n)
{
    struct mailbox *mb = mbt_open(t, name, false);
    struct buf got = BUF_INIT, want = BUF_INIT;
    struct mailbox_counts c;
    const char *error = NULL;
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, n);
    for (unsigned i = 0; i < n; i++) {
        mbt_read_message(mb, i + 1, &got);
        mbt_message(&want, "test", i);
        assert_true(buf_equals_str(&got, buf_cstr(&want)));
    }
    /* roost.header carries the new name */
    assert_string_equal(mb->mh.name, name);
    mailbox_close(&mb);
    buf_free(&got);
    buf_free(&want);
}

static bool subscribed(struct mbt *t, const char *user, const char *name)
{
    const char *error = NULL;
    int r = subs_is_subscribed(t->store, NULL, user, name, &error);
    assert_true(r >= 0);
    return r == 1;
}

static void test_rename_hierarchy(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;

    mbt_create(t, "user.rob");
    mbt_create(t, "user.rob.A");
    mbt_create(t, "user.rob.A.B");
    mbt_create(t, "user.rob.A.B.C");
    mbt_create(t, "user.rob.AA");
    fill(t, "user.rob.A", 2);
    fill(t, "user.rob.A.B.C", 3);
    assert_int_equal(subs_add(t->store, NULL, "rob", "user.rob.A.B", &error), 0);
    struct mailbox *old = mbt_open(t, "user.rob.A.B.C", true);
    char oldpath[1024];
    snprintf(oldpath, sizeof(oldpath), "%s", mailbox_path(old));

    assert_int_equal(mailbox_rename(t->store, "user.rob.A", "user.rob.AA", NULL, false, &error),
                     STORE_ERR_EXISTS);
    assert_int_equal(mailbox_rename(t->store, "user.rob.A", "user.rob.A.B.X", NULL, false,
                                    &error), STORE_ERR_BADNAME);
    assert_int_equal(mailbox_rename(t->store, "user.rob.Q", "user.rob.R", NULL, false, &error),
                     STORE_ERR_NOTFOUND);
    assert_int_equal(mailbox_rename(t->store, "user.rob.A", "user.rob.X", NULL, false, &error), 0);
    assert_false(exists(t, "user.rob.A"));
    assert_false(exists(t, "user.rob.A.B.C"));
    assert_true(exists(t, "user.rob.X.B"));
    assert_true(exists(t, "user.rob.AA"));
    check_messages(t, "user.rob.X", 2);
    check_messages(t, "user.rob.X.B.C", 3);
    assert_true(subscribed(t, "rob", "user.rob.X.B"));
    assert_false(subscribed(t, "rob", "user.rob.A.B"));
    /* no file moved; an open handle goes on working */
    struct mailbox *now = mbt_open(t, "user.rob.X.B.C", true);
    assert_string_equal(mailbox_path(now), oldpath);
    mailbox_close(&now);
    assert_int_equal(mailbox_sync(old, &error), 0);
    mbt_append_n(old, 1, 0);
    mailbox_close(&old);
    now = mbt_open(t, "user.rob.X.B.C", false);
    assert_int_equal(mailbox_exists(now), 4);
    mailbox_close(&now);
}

static void test_rename_partition(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;

    mbt_create(t, "shared.proj");
    mbt_create(t, "shared.proj.sub");
    fill(t, "shared.proj", 3);
    fill(t, "shared.proj.sub", 1);
    struct mailbox *old = mbt_open(t, "shared.proj", false);
    uint32_t uidvalidity = mailbox_uidvalidity(old);
    char oldpath[1024];
    snprintf(oldpath, sizeof(oldpath), "%s", mailbox_path(old));

    /* to another partition under the same name, then renamed and moved */
    assert_int_equal(mailbox_rename(t->store, "shared.proj", "shared.proj", "other", false,
                                    &error), 0);
    struct mailbox *mb = mbt_open(t, "shared.proj", false);
    assert_string_equal(mailbox_partition(mb), "other");
    assert_true(strncmp(mailbox_path(mb), t->part2, strlen(t->part2)) == 0);
    assert_int_equal(mailbox_uidvalidity(mb), uidvalidity);
    mailbox_close(&mb);
    assert_int_equal(access(oldpath, F_OK), -1);
    check_messages(t, "shared.proj", 3);
    check_messages(t, "shared.proj.sub", 1);
    /* the handle on the old copy learns it is gone */
    assert_int_equal(mailbox_sync(old, &error), STORE_ERR_NOTFOUND);
    mailbox_close(&old);

    assert_int_equal(mailbox_rename(t->store, "shared.proj", "shared.new", "default", false,
                                    &error), 0);
    check_messages(t, "shared.new", 3);
    check_messages(t, "shared.new.sub", 1);
    mb = mbt_open(t, "shared.new.sub", true);
    assert_string_equal(mailbox_partition(mb), "default");
    mbt_append_n(mb, 1, 0);
    mailbox_close(&mb);
    assert_int_equal(mailbox_rename(t->store, "shared.new", "shared.x", "nowhere", false,
                                    &error), STORE_ERR_NOTFOUND);
}

static void test_rename_inbox(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;

    mbt_create(t, "user.sue");
    mbt_create(t, "user.sue.Work");
    mbt_set_quota(t, "user.sue", -1, -1);
    fill(t, "user.sue", 3);
    fill(t, "user.sue.Work", 1);
    struct mailbox *inbox = mbt_open(t, "user.sue", true);
    struct seqset set;
    seqset_init(&set);
    seqset_add(&set, 2);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_FLAGGED };
    assert_int_equal(mailbox_store_flags(inbox, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    seqset_free(&set);
    struct mailbox_view *view;
    assert_int_equal(mailbox_view_open(inbox, NULL, 0, &view, &error), 0);
    struct quota before = mbt_quota(t, "user.sue");

    assert_int_equal(mailbox_rename(t->store, "user.sue", "user.bob.x", NULL, false, &error),
                     STORE_ERR_BADNAME);
    if (mailbox_rename(t->store, "user.sue", "user.sue.Old", NULL, false, &error) < 0)
        fail_msg("rename: %s", error);
    check_messages(t, "user.sue.Old", 3);
    struct mailbox *moved = mbt_open(t, "user.sue.Old", false);
    assert_int_equal(mbt_flags(moved, 2), MAILBOX_FLAG_FLAGGED);
    mailbox_close(&moved);
    /* INBOX stays, empty; its children stay */
    struct mailbox_counts c;
    assert_int_equal(mailbox_get_counts(inbox, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 0);
    assert_true(exists(t, "user.sue.Work"));
    assert_false(exists(t, "user.sue.Old.Work"));
    /* a session on INBOX sees the messages go */
    assert_int_equal(mailbox_view_refresh(view, true, NULL, NULL, &error), 0);
    assert_int_equal(mailbox_view_exists(view), 0);
    mailbox_view_close(&view);
    mailbox_close(&inbox);
    struct quota after = mbt_quota(t, "user.sue");
    assert_int_equal(after.used_bytes, before.used_bytes);
    assert_int_equal(after.used_messages, before.used_messages);
}

static void test_rename_user(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    char path[1024];

    mbt_create(t, "user.tom");
    mbt_create(t, "user.tom.A");
    create_on(t, "user.tom.Far", "other");
    mbt_create(t, "user.tim2");
    mbt_set_quota(t, "user.tom", 1000, -1);
    fill(t, "user.tom", 2);
    fill(t, "user.tom.A", 1);
    fill(t, "user.tom.Far", 1);
    assert_int_equal(subs_add(t->store, NULL, "tom", "user.tom.A", &error), 0);
    assert_int_equal(subs_add(t->store, NULL, "tom", "shared.x", &error), 0);
    assert_int_equal(subs_add(t->store, NULL, "ann", "user.tom.A", &error), 0);
    /* tom's records keyed by userid: seen state and a private annotation
     * on ann's mailbox, a private server annotation; ann's seen state on
     * tom's folder (keyed by its uniqueid, which the rename keeps) */
    mbt_create(t, "user.ann");
    struct mailbox *mb = mbt_open(t, "user.ann", false);
    char annid[64], aid[64];
    snprintf(annid, sizeof(annid), "%s", mailbox_uniqueid(mb));
    mailbox_close(&mb);
    mb = mbt_open(t, "user.tom.A", false);
    snprintf(aid, sizeof(aid), "%s", mailbox_uniqueid(mb));
    mailbox_close(&mb);
    assert_int_equal(seen_set(t->store, NULL, "tom", annid, "1:2", &error), 0);
    assert_int_equal(seen_set(t->store, NULL, "ann", aid, "1", &error), 0);
    assert_int_equal(annotate_set(t->store, NULL, annid, "/private/comment", "tom", "t", 1,
                                  &error),
                     0);
    assert_int_equal(annotate_set(t->store, NULL, "", "/private/motd", "tom", "s", 1, &error), 0);
    struct quota q0 = mbt_quota(t, "user.tom");
    assert_int_equal(q0.used_messages, 4);

    assert_int_equal(mailbox_rename(t->store, "user.tom", "user.tim2", NULL, false, &error),
                     STORE_ERR_EXISTS);
    assert_int_equal(mailbox_rename(t->store, "user.tom", "user.tim", NULL, false, &error), 0);
    assert_false(exists(t, "user.tom"));
    assert_false(exists(t, "user.tom.A"));
    check_messages(t, "user.tim", 2);
    check_messages(t, "user.tim.A", 1);
    check_messages(t, "user.tim.Far", 1);
    mb = mbt_open(t, "user.tim", false);
    assert_string_equal(mailbox_acl(mb), "tim\tlrswipkxtea\t");
    snprintf(path, sizeof(path), "%s/user/tim/%s", t->part1, mailbox_uniqueid(mb));
    assert_string_equal(mailbox_path(mb), path);
    mailbox_close(&mb);
    snprintf(path, sizeof(path), "%s/user/tom", t->part1);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/user/tom", t->part2);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/user/tim", t->part2);
    assert_int_equal(access(path, F_OK), 0);

    struct quota q1 = mbt_quota(t, "user.tim");
    assert_int_equal(q1.limit_storage_kb, 1000);
    assert_int_equal(q1.used_bytes, q0.used_bytes);
    assert_int_equal(q1.used_messages, 4);
    struct quota none;
    assert_int_equal(quota_get(t->store, NULL, "user.tom", &none, &error), 0);
    assert_true(subscribed(t, "tim", "user.tim.A"));
    assert_true(subscribed(t, "tim", "shared.x"));
    assert_false(subscribed(t, "tom", "shared.x"));
    assert_true(subscribed(t, "ann", "user.tim.A"));
    struct buf text = BUF_INIT;
    assert_int_equal(seen_get(t->store, NULL, "tim", annid, &text, &error), 1);
    assert_true(buf_equals_str(&text, "1:2"));
    assert_int_equal(seen_get(t->store, NULL, "tom", annid, &text, &error), 0);
    assert_int_equal(seen_get(t->store, NULL, "ann", aid, &text, &error), 1);
    assert_int_equal(annotate_get(t->store, NULL, annid, "/private/comment", "tim", &text, &error),
                     1);
    assert_true(buf_equals_str(&text, "t"));
    assert_int_equal(annotate_get(t->store, NULL, annid, "/private/comment", "tom", &text, &error),
                     0);
    assert_int_equal(annotate_get(t->store, NULL, "", "/private/motd", "tim", &text, &error), 1);
    assert_int_equal(annotate_get(t->store, NULL, "", "/private/motd", "tom", &text, &error), 0);
    buf_free(&text);
    /* delivery goes on */
    mb = mbt_open(t, "user.tim.A", true);
    mbt_append_n(mb, 1, 0);
    mailbox_close(&mb);
    assert_int_equal(mbt_quota(t, "user.tim").used_messages, 5);
}

static void test_rename_between_roots(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;

    mbt_create(t, "user.ann");
    mbt_create(t, "user.ann.box");
    mbt_create(t, "user.ben");
    mbt_set_quota(t, "user.ann", -1, -1);
    mbt_set_quota(t, "user.ben", -1, 2);
    fill(t, "user.ann.box", 3);
    struct quota a0 = mbt_quota(t, "user.ann");

    /* too big for ben: refused and undone */
    assert_int_equal(mailbox_rename(t->store, "user.ann.box", "user.ben.box", NULL, false,
                                    &error), STORE_ERR_OVERQUOTA);
    assert_true(exists(t, "user.ann.box"));
    assert_false(exists(t, "user.ben.box"));
    check_messages(t, "user.ann.box", 3);
    assert_int_equal(mbt_quota(t, "user.ann").used_messages, 3);

    mbt_set_quota(t, "user.ben", -1, 10);
    assert_int_equal(mailbox_rename(t->store, "user.ann.box", "user.ben.box", NULL, false,
                                    &error), 0);
    check_messages(t, "user.ben.box", 3);
    struct quota a1 = mbt_quota(t, "user.ann"), b1 = mbt_quota(t, "user.ben");
    assert_int_equal(a1.used_messages, 0);
    assert_int_equal(a1.used_bytes, 0);
    assert_int_equal(b1.used_messages, 3);
    assert_int_equal(b1.used_bytes, a0.used_bytes);
    struct mailbox *mb = mbt_open(t, "user.ben.box", false);
    char want[1024];
    snprintf(want, sizeof(want), "%s/user/ben/%s", t->part1, mailbox_uniqueid(mb));
    assert_string_equal(mailbox_path(mb), want);
    mailbox_close(&mb);
}

static void test_delete(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;

    mbt_create(t, "shared.gone");
    fill(t, "shared.gone", 2);
    struct mailbox *mb = mbt_open(t, "shared.gone", true);
    uint32_t first_uidvalidity = mailbox_uidvalidity(mb);
    struct mailbox_view *view;
    assert_int_equal(mailbox_view_open(mb, NULL, 0, &view, &error), 0);
    char path[1024];
    snprintf(path, sizeof(path), "%s", mailbox_path(mb));
    assert_int_equal(mailbox_delete(t->store, "shared.gone", &error), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_false(exists(t, "shared.gone"));
    assert_int_equal(mailbox_view_refresh(view, true, NULL, NULL, &error), STORE_ERR_NOTFOUND);
    assert_int_equal(mailbox_sync(mb, &error), STORE_ERR_NOTFOUND);
    assert_int_equal(mailbox_append(mb, &(struct mailbox_append_msg){ .data = "x", .len = 1 },
                                    1, NULL, 0, &(uint32_t){ 0 }, &(uint32_t){ 0 }, &error),
                     STORE_ERR_NOTFOUND);
    mailbox_view_close(&view);
    mailbox_close(&mb);

    /* a damaged mailbox can be deleted */
    mbt_create(t, "shared.bad");
    mb = mbt_open(t, "shared.bad", true);
    snprintf(path, sizeof(path), "%s/roost.index", mailbox_path(mb));
    mailbox_close(&mb);
    assert_int_equal(truncate(path, 7), 0);
    assert_int_equal(mailbox_open(t->store, "shared.bad", MAILBOX_READONLY, &mb, &error),
                     STORE_ERR_CORRUPT);
    assert_int_equal(mailbox_delete(t->store, "shared.bad", &error), 0);
    assert_false(exists(t, "shared.bad"));
    /* and the name can be used again, with a greater UIDVALIDITY */
    mbt_create(t, "shared.gone");
    mb = mbt_open(t, "shared.gone", false);
    assert_int_equal(mailbox_exists(mb), 0);
    assert_true(mailbox_uidvalidity(mb) > first_uidvalidity);
    mailbox_close(&mb);
}

static void test_delete_user(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    char path[1024];
    struct buf text = BUF_INIT;

    mbt_create(t, "user.uma");
    mbt_create(t, "user.uma.Lists");
    create_on(t, "user.uma.Far", "other");
    mbt_create(t, "user.umax");
    mbt_create(t, "user.vic");
    mbt_set_quota(t, "user.uma", -1, -1);
    mbt_set_quota(t, "user.umax", -1, -1);
    fill(t, "user.uma", 2);
    fill(t, "user.umax", 1);
    struct mailbox *mb = mbt_open(t, "user.uma.Lists", false);
    char listid[64];
    snprintf(listid, sizeof(listid), "%s", mailbox_uniqueid(mb));
    mailbox_close(&mb);
    mb = mbt_open(t, "user.vic", false);
    char vicid[64];
    snprintf(vicid, sizeof(vicid), "%s", mailbox_uniqueid(mb));
    mailbox_close(&mb);
    assert_int_equal(seen_set(t->store, NULL, "uma", vicid, "1:3", &error), 0);
    assert_int_equal(seen_set(t->store, NULL, "vic", listid, "1", &error), 0);
    assert_int_equal(subs_add(t->store, NULL, "uma", "user.uma.Lists", &error), 0);
    assert_int_equal(annotate_set(t->store, NULL, listid, "/shared/comment", "", "hi", 2, &error),
                     0);
    /* uma's private values on vic's mailbox and on the server; vic's and
     * umax's stay */
    assert_int_equal(annotate_set(t->store, NULL, vicid, "/private/comment", "uma", "u", 1,
                                  &error),
                     0);
    assert_int_equal(annotate_set(t->store, NULL, "", "/private/motd", "uma", "u", 1, &error), 0);
    assert_int_equal(annotate_set(t->store, NULL, vicid, "/private/comment", "vic", "v", 1,
                                  &error),
                     0);
    assert_int_equal(annotate_set(t->store, NULL, "", "/private/motd", "umax", "x", 1, &error),
                     0);

    assert_int_equal(mailbox_delete_user(t->store, "uma", &error), 0);
    assert_false(exists(t, "user.uma"));
    assert_false(exists(t, "user.uma.Lists"));
    assert_false(exists(t, "user.uma.Far"));
    assert_true(exists(t, "user.umax"));
    assert_true(exists(t, "user.vic"));
    struct quota q;
    assert_int_equal(quota_get(t->store, NULL, "user.uma", &q, &error), 0);
    assert_int_equal(mbt_quota(t, "user.umax").used_messages, 1);
    assert_int_equal(seen_get(t->store, NULL, "uma", vicid, &text, &error), 0);
    assert_int_equal(seen_get(t->store, NULL, "vic", listid, &text, &error), 0);
    assert_false(subscribed(t, "uma", "user.uma.Lists"));
    assert_int_equal(annotate_get(t->store, NULL, listid, "/shared/comment", "", &text, &error),
                     0);
    assert_int_equal(annotate_get(t->store, NULL, vicid, "/private/comment", "uma", &text, &error),
                     0);
    assert_int_equal(annotate_get(t->store, NULL, "", "/private/motd", "uma", &text, &error), 0);
    assert_int_equal(annotate_get(t->store, NULL, vicid, "/private/comment", "vic", &text, &error),
                     1);
    assert_int_equal(annotate_get(t->store, NULL, "", "/private/motd", "umax", &text, &error), 1);
    snprintf(path, sizeof(path), "%s/user/uma", t->part1);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/user/uma", t->part2);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/user/umax", t->part1);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(mailbox_delete_user(t->store, "../x", &error), STORE_ERR_BADNAME);
    buf_free(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rename_hierarchy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_partition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_inbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_between_roots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_user, setup, teardown),
    };
    log_init("test-mailbox-rename");
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
