/* test-mailbox-copy.c - unit tests of COPY/MOVE (store/mailbox_copy.c),
 * staged multi-mailbox delivery (store/mailbox_append.c) and quota
 * enforcement with exact usage through append, copy, move, expunge and
 * delete.  Hard links are checked by inode; partition "other" gets copies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test-mailbox-fixture.h"

#include <time.h>

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

static void assert_same_bytes(struct mailbox *a, uint32_t ua, struct mailbox *b, uint32_t ub)
{
    struct buf x = BUF_INIT, y = BUF_INIT;
    mbt_read_message(a, ua, &x);
    mbt_read_message(b, ub, &y);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.data, y.data, x.len);
    buf_free(&x);
    buf_free(&y);
}

static void test_copy_and_move(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct mailbox_copy_result res;
    struct seqset set;

    mbt_create(t, "user.kim");
    mbt_create(t, "user.kim.Archive");
    create_on(t, "user.kim.Far", "other");
    struct mailbox *src = mbt_open(t, "user.kim", true);
    struct mailbox *dst = mbt_open(t, "user.kim.Archive", true);
    struct mailbox *far = mbt_open(t, "user.kim.Far", true);
    mbt_append_n(src, 4, 0);
    seqset_init(&set);
    /* flags and a keyword on 2 */
    static const char *const kw[] = { "zzz", "Important" };
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_SEEN | MAILBOX_FLAG_FLAGGED,
                                       .keywords = kw, .nkeywords = 2 };
    mbt_set_one(&set, 2, 2);
    assert_int_equal(mailbox_store_flags(src, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    /* dst numbers keywords differently */
    static const char *const other[] = { "Important" };
    ch.keywords = other;
    ch.nkeywords = 1;
    ch.system_flags = 0;
    mbt_append_n(dst, 1, 0);
    mbt_set_one(&set, 1, 1);
    assert_int_equal(mailbox_store_flags(dst, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);

    mbt_set_one(&set, 2, 3);
    assert_int_equal(mailbox_copy(src, &set, dst, NULL, 0, &res, &error), 0);
    assert_int_equal(res.count, 2);
    assert_int_equal(res.uidvalidity, mailbox_uidvalidity(dst));
    assert_int_equal(res.src_uids[0], 2);
    assert_int_equal(res.src_uids[1], 3);
    assert_int_equal(res.dst_uids[0], 2);
    assert_int_equal(res.dst_uids[1], 3);
    mailbox_copy_result_free(&res);
    /* hard links, flags and keywords by name */
    assert_int_equal(mbt_stat_message(src, 2).st_ino, mbt_stat_message(dst, 2).st_ino);
    assert_same_bytes(src, 3, dst, 3);
    assert_int_equal(mbt_flags(dst, 2), MAILBOX_FLAG_SEEN | MAILBOX_FLAG_FLAGGED);
    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(dst, 2, &rec, &error), 1);
    int imp = mailbox_keyword_find(dst, "important"), z = mailbox_keyword_find(dst, "zzz");
    assert_int_equal(imp, 0);
    assert_int_equal(z, 1);
    assert_true(mailbox_keywords_has(&rec.keywords, 0) && mailbox_keywords_has(&rec.keywords, 1));
    struct buf blob = BUF_INIT;
    assert_int_equal(mailbox_cache_read(dst, &rec, &blob, &error), 0);
    buf_free(&blob);

    /* MOVE: the source is expunged */
    mbt_set_one(&set, 1, 1);
    assert_int_equal(mailbox_copy(src, &set, dst, NULL, MAILBOX_MOVE, &res, &error), 0);
    assert_int_equal(res.count, 1);
    assert_int_equal(res.dst_uids[0], 4);
    mailbox_copy_result_free(&res);
    assert_true(mbt_flags(src, 1) & MAILBOX_FLAG_EXPUNGED);
    struct mailbox_counts c;
    assert_int_equal(mailbox_get_counts(src, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 3);
    /* expunged sources are skipped */
    assert_int_equal(mailbox_copy(src, &set, dst, NULL, 0, &res, &error), 0);
    assert_int_equal(res.count, 0);

    /* into itself */
    mbt_set_one(&set, 4, 4);
    assert_int_equal(mailbox_copy(src, &set, src, NULL, 0, &res, &error), 0);
    assert_int_equal(res.count, 1);
    assert_int_equal(res.dst_uids[0], 5);
    mailbox_copy_result_free(&res);
    assert_int_equal(mbt_stat_message(src, 4).st_ino, mbt_stat_message(src, 5).st_ino);
    /* move into itself: a new UID, the old one expunged */
    assert_int_equal(mailbox_copy(src, &set, src, NULL, MAILBOX_MOVE, &res, &error), 0);
    assert_int_equal(res.dst_uids[0], 6);
    mailbox_copy_result_free(&res);
    assert_true(mbt_flags(src, 4) & MAILBOX_FLAG_EXPUNGED);

    /* another partition: a copy, not a link */
    mbt_set_one(&set, 2, 3);
    assert_int_equal(mailbox_copy(src, &set, far, NULL, MAILBOX_MOVE, &res, &error), 0);
    assert_int_equal(res.count, 2);
    assert_true(mbt_stat_message(far, 1).st_ino != mbt_stat_message(dst, 2).st_ino);
    assert_same_bytes(far, 1, dst, 2);
    assert_same_bytes(far, 2, dst, 3);
    mailbox_copy_result_free(&res);

    /* a read-only destination is refused */
    struct mailbox *ro = mbt_open(t, "user.kim.Archive", false);
    mbt_set_one(&set, 5, 5);
    assert_true(mailbox_copy(src, &set, ro, NULL, 0, &res, &error) < 0);
    mailbox_close(&ro);

    seqset_free(&set);
    mailbox_close(&src);
    mailbox_close(&dst);
    mailbox_close(&far);
}

static void test_staged_delivery(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct stage *stage;
    struct buf msg = BUF_INIT;

    mbt_create(t, "user.a");
    mbt_create(t, "user.b");
    create_on(t, "user.c", "other");
    mbt_create(t, "user.q");
    mbt_set_quota(t, "user.q", 0, -1);
    /* a stale stage file of a dead process goes with the first stage */
    char stale[1024];
    snprintf(stale, sizeof(stale), "%s/stage.", t->part1);
    mkdir(stale, 0750);
    snprintf(stale, sizeof(stale), "%s/stage./123-dead", t->part1);
    FILE *sf = fopen(stale, "w");
    fputs("half a message", sf);
    fclose(sf);
    struct timespec old[2] = { { time(NULL) - 3 * 86400, 0 }, { time(NULL) - 3 * 86400, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, stale, old, 0), 0);
    mbt_message(&msg, "staged", 1);
    assert_int_equal(stage_from_data(t->store, NULL, msg.data, msg.len, &stage, &error), 0);
    assert_int_equal(stage_size(stage), msg.len);
    assert_int_equal(access(stale, F_OK), -1);

    struct mailbox_append_target tg[6];
    memset(tg, 0, sizeof(tg));
    tg[0].name = "user.b";
    tg[1].name = "user.a";
    tg[2].name = "user.c";
    tg[3].name = "user.missing";
    tg[4].name = "user.a";
    tg[4].flags = MAILBOX_FLAG_FLAGGED;
    tg[5].name = "user.q";
    assert_int_equal(mailbox_append_staged(t->store, stage, tg, 6, 0, &error), 0);
    assert_int_equal(tg[0].result, 0);
    assert_int_equal(tg[1].result, 0);
    assert_int_equal(tg[2].result, 0);
    assert_int_equal(tg[3].result, STORE_ERR_NOTFOUND);
    assert_true(tg[3].error[0] != '\0');
    assert_int_equal(tg[4].result, 0);
    assert_int_equal(tg[5].result, STORE_ERR_OVERQUOTA);
    assert_int_equal(tg[0].uid, 1);
    /* user.a got two copies */
    assert_true((tg[1].uid == 1 && tg[4].uid == 2) || (tg[1].uid == 2 && tg[4].uid == 1));

    struct mailbox *a = mbt_open(t, "user.a", false), *b = mbt_open(t, "user.b", false);
    struct mailbox *c = mbt_open(t, "user.c", false), *q = mbt_open(t, "user.q", false);
    assert_int_equal(tg[1].uidvalidity, mailbox_uidvalidity(a));
    struct stat sa = mbt_stat_message(a, 1), sb = mbt_stat_message(b, 1);
    struct stat sc = mbt_stat_message(c, 1);
    assert_int_equal(sa.st_ino, sb.st_ino);
    assert_true(sc.st_ino != sa.st_ino);
    assert_int_equal(mbt_flags(a, tg[4].uid), MAILBOX_FLAG_FLAGGED);
    assert_int_equal(mbt_flags(a, tg[1].uid), 0);
    assert_same_bytes(a, 1, c, 1);
    struct buf got = BUF_INIT;
    mbt_read_message(b, 1, &got);
    assert_true(buf_equals_str(&got, buf_cstr(&msg)));
    assert_int_equal(mailbox_exists(q), 0);
    buf_free(&got);

    /* the stage goes, the messages stay */
    stage_free(&stage);
    assert_null(stage);
    mbt_read_message(a, 2, &got);
    assert_int_equal(got.len, msg.len);
    buf_free(&got);
    struct mailbox_counts cnt;
    assert_int_equal(mailbox_get_counts(a, NULL, &cnt, &error), 0);
    assert_int_equal(cnt.exists, 2);

    /* the same stage through IMAP APPEND of a prepared stage, streamed */
    assert_int_equal(stage_begin(t->store, "other", &stage, &error), 0);
    assert_int_equal(stage_write(stage, msg.data, 10, &error), 0);
    assert_int_equal(stage_write(stage, msg.data + 10, msg.len - 10, &error), 0);
    assert_int_equal(stage_finish(stage, &error), 0);
    struct mailbox *cw = mbt_open(t, "user.c", true);
    struct mailbox_append_msg m = { .stage = stage };
    uint32_t uidv, uid;
    assert_int_equal(mailbox_append(cw, &m, 1, NULL, 0, &uidv, &uid, &error), 0);
    assert_int_equal(uid, 2);
    assert_same_bytes(cw, 1, cw, 2);
    stage_free(&stage);
    mailbox_close(&cw);

    mailbox_close(&a);
    mailbox_close(&b);
    mailbox_close(&c);
    mailbox_close(&q);
    buf_free(&msg);
}

static void assert_usage(struct mbt *t, const char *root, int64_t bytes, int64_t msgs)
{
    struct quota q = mbt_quota(t, root);
    if (q.used_bytes != bytes || q.used_messages != msgs)
        fail_msg("%s: usage %lld bytes %lld messages, expected %lld %lld", root,
                 (long long)q.used_bytes, (long long)q.used_messages, (long long)bytes,
                 (long long)msgs);
}

static void test_quota(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct buf big = BUF_INIT;
    uint32_t uidv, uid;
    struct seqset set;
    struct mailbox_copy_result res;

    mbt_create(t, "user.ned");
    mbt_create(t, "user.ned.Sub");
    mbt_create(t, "user.ola");
    mbt_set_quota(t, "user.ned", 2, 10);      /* 2 KiB, 10 messages */
    mbt_set_quota(t, "user.ola", -1, -1);
    struct mailbox *ned = mbt_open(t, "user.ned", true);
    struct mailbox *sub = mbt_open(t, "user.ned.Sub", true);
    struct mailbox *ola = mbt_open(t, "user.ola", true);
    seqset_init(&set);

    buf_printf(&big, "Subject: big\r\n\r\n");
    while (big.len < 700)
        buf_append_str(&big, "0123456789\r\n");
    int64_t sz = (int64_t)big.len;
    struct mailbox_append_msg m = { .data = big.data, .len = big.len };
    assert_int_equal(mailbox_append(ned, &m, 1, NULL, 0, &uidv, &uid, &error), 0);
    assert_int_equal(mailbox_append(sub, &m, 1, NULL, 0, &uidv, &uid, &error), 0);
    assert_usage(t, "user.ned", 2 * sz, 2);
    /* the third would exceed 2 KiB: refused, nothing written */
    assert_int_equal(mailbox_append(ned, &m, 1, NULL, 0, &uidv, &uid, &error),
                     STORE_ERR_OVERQUOTA);
    assert_int_equal(mailbox_uidnext(ned), 2);
    char path[1024];
    snprintf(path, sizeof(path), "%s/2.", mailbox_path(ned));
    assert_int_equal(access(path, F_OK), -1);
    assert_usage(t, "user.ned", 2 * sz, 2);
    /* unless told to ignore the quota */
    assert_int_equal(mailbox_append(ned, &m, 1, NULL, MAILBOX_IGNORE_QUOTA, &uidv, &uid, &error),
                     0);
    assert_usage(t, "user.ned", 3 * sz, 3);

    /* copy into the full root is refused; a move inside it is free */
    mbt_set_one(&set, 1, 1);
    assert_int_equal(mailbox_append(ola, &m, 1, NULL, 0, &uidv, &uid, &error), 0);
    assert_int_equal(mailbox_copy(ola, &set, ned, NULL, 0, &res, &error), STORE_ERR_OVERQUOTA);
    assert_int_equal(mailbox_exists(ned), 2);
    assert_int_equal(mailbox_copy(ned, &set, sub, NULL, MAILBOX_MOVE, &res, &error), 0);
    mailbox_copy_result_free(&res);
    assert_usage(t, "user.ned", 3 * sz, 3);
    /* a move out of the root frees it */
    mbt_set_one(&set, 1, 2);
    assert_int_equal(mailbox_copy(sub, &set, ola, NULL, MAILBOX_MOVE, &res, &error), 0);
    assert_int_equal(res.count, 2);
    mailbox_copy_result_free(&res);
    assert_usage(t, "user.ned", 1 * sz, 1);
    assert_usage(t, "user.ola", 3 * sz, 3);
    /* copy charges */
    mbt_set_one(&set, 1, 1);
    assert_int_equal(mailbox_copy(ola, &set, sub, NULL, 0, &res, &error), 0);
    mailbox_copy_result_free(&res);
    assert_usage(t, "user.ned", 2 * sz, 2);
    /* expunge frees at once */
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_DELETED };
    mbt_set_one(&set, 1, UINT32_MAX - 1);
    assert_int_equal(mailbox_store_flags(ned, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    assert_int_equal(mailbox_expunge(ned, NULL, NULL, &error), 0);
    assert_usage(t, "user.ned", 1 * sz, 1);
    /* the message limit */
    mbt_set_quota(t, "user.ned", -1, 2);
    struct mailbox_append_msg two[2] = { { .data = "a", .len = 1 }, { .data = "b", .len = 1 } };
    uint32_t uids[2];
    assert_int_equal(mailbox_append(ned, two, 2, NULL, 0, &uidv, uids, &error),
                     STORE_ERR_OVERQUOTA);
    assert_int_equal(mailbox_append(ned, two, 1, NULL, 0, &uidv, uids, &error), 0);
    assert_usage(t, "user.ned", 1 * sz + 1, 2);
    /* staged delivery over the message limit */
    struct stage *stage;
    assert_int_equal(stage_from_data(t->store, NULL, "x", 1, &stage, &error), 0);
    struct mailbox_append_target tg = { .name = "user.ned" };
    assert_int_equal(mailbox_append_staged(t->store, stage, &tg, 1, 0, &error), 0);
    assert_int_equal(tg.result, STORE_ERR_OVERQUOTA);
    assert_int_equal(mailbox_append_staged(t->store, stage, &tg, 1, MAILBOX_IGNORE_QUOTA,
                                           &error), 0);
    assert_int_equal(tg.result, 0);
    stage_free(&stage);
    assert_usage(t, "user.ned", 1 * sz + 2, 3);

    /* deleting a mailbox gives its usage back */
    mailbox_close(&sub);
    assert_int_equal(mailbox_delete(t->store, "user.ned.Sub", &error), 0);
    assert_usage(t, "user.ned", 2, 2);
    assert_int_equal(mailbox_delete(t->store, "user.ned.Sub", &error), STORE_ERR_NOTFOUND);

    seqset_free(&set);
    buf_free(&big);
    mailbox_close(&ned);
    mailbox_close(&ola);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_and_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staged_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
    };
    log_init("test-mailbox-copy");
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
