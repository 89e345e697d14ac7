/* test-mailbox-view.c - unit tests of session views (store/mailbox_view.c):
 * new messages and flag changes reported at refresh, expunges held back
 * while not allowed and then reported in message-number order with the
 * right numbers, a view older than a cleanup, \Recent given to exactly one
 * session, and \Seen of non-owners kept in the seen database. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test-mailbox-fixture.h"

#include "seen.h"

struct events {
    unsigned expunges;
    uint32_t exp_msn[16], exp_uid[16];
    unsigned exists_calls, recent_calls, keyword_calls;
    uint32_t exists, recent;
    unsigned flag_calls;
    uint32_t flag_msn[16], flag_uid[16], flag_flags[16];
    uint64_t flag_modseq[16];
};

static void ev_keywords(void *ctx)
{
    ((struct events *)ctx)->keyword_calls++;
}

static void ev_expunge(uint32_t msn, uint32_t uid, void *ctx)
{
    struct events *e = ctx;
    if (e->expunges < 16) {
        e->exp_msn[e->expunges] = msn;
        e->exp_uid[e->expunges] = uid;
    }
    e->expunges++;
}

static void ev_exists(uint32_t exists, void *ctx)
{
    struct events *e = ctx;
    e->exists_calls++;
    e->exists = exists;
}

static void ev_recent(uint32_t recent, void *ctx)
{
    struct events *e = ctx;
    e->recent_calls++;
    e->recent = recent;
}

static void ev_flags(uint32_t msn, uint32_t uid, uint32_t flags,
                     const struct mailbox_keywords *kw, uint64_t modseq, void *ctx)
{
    struct events *e = ctx;
    (void)kw;
    if (e->flag_calls < 16) {
        e->flag_msn[e->flag_calls] = msn;
        e->flag_uid[e->flag_calls] = uid;
        e->flag_flags[e->flag_calls] = flags;
        e->flag_modseq[e->flag_calls] = modseq;
    }
    e->flag_calls++;
}

static const struct mailbox_view_callbacks cbs = {
    ev_keywords, ev_expunge, ev_exists, ev_recent, ev_flags,
};

static void refresh(struct mailbox_view *v, bool allow, struct events *e)
{
    const char *error = NULL;
    memset(e, 0, sizeof(*e));
    if (mailbox_view_refresh(v, allow, &cbs, e, &error) < 0)
        fail_msg("refresh: %s", error);
}

static void store_flags(struct mailbox *mb, uint32_t low, uint32_t high,
                        enum mailbox_flags_op op, uint32_t flags, const char *userid)
{
    struct seqset set;
    const char *error = NULL;
    struct mailbox_flags_change ch = { .op = op, .system_flags = flags };
    seqset_init(&set);
    seqset_add_range(&set, low, high);
    if (mailbox_store_flags(mb, &set, &ch, userid, NULL, NULL, NULL, &error) < 0)
        fail_msg("store: %s", error);
    seqset_free(&set);
}

static void expunge_uids(struct mailbox *mb, const uint32_t *uids, unsigned n)
{
    struct seqset set;
    const char *error = NULL;
    seqset_init(&set);
    for (unsigned i = 0; i < n; i++)
        seqset_add(&set, uids[i]);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_DELETED };
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    assert_int_equal(mailbox_expunge(mb, &set, NULL, &error), 0);
    seqset_free(&set);
}

static int setup(void **state)
{
    *state = mbt_setup(NULL, 0);
    return 0;
}

static int setup_delay(void **state)
{
    *state = mbt_setup(NULL, 3600);
    return 0;
}

static int teardown(void **state)
{
    mbt_teardown(*state);
    return 0;
}

static void test_new_messages_and_flags(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct mailbox_view *v;
    struct events e;

    mbt_create(t, "user.amy");
    struct mailbox *a = mbt_open(t, "user.amy", true);
    struct mailbox *b = mbt_open(t, "user.amy", true);
    mbt_append_n(b, 1, 0);
    assert_int_equal(mailbox_view_open(a, NULL, 0, &v, &error), 0);
    assert_int_equal(mailbox_view_exists(v), 1);
    uint64_t hms = mailbox_view_highestmodseq(v);

    refresh(v, true, &e);
    assert_int_equal(e.exists_calls + e.flag_calls + e.expunges, 0);

    mbt_append_n(b, 2, 0);
    store_flags(b, 1, 1, MAILBOX_FLAGS_ADD, MAILBOX_FLAG_ANSWERED, NULL);
    static const char *const kw[] = { "Project" };
    struct seqset set;
    seqset_init(&set);
    seqset_add(&set, 3);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD, .keywords = kw, .nkeywords = 1 };
    assert_int_equal(mailbox_store_flags(b, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    seqset_free(&set);

    refresh(v, false, &e);
    assert_int_equal(e.exists_calls, 1);
    assert_int_equal(e.exists, 3);
    assert_int_equal(e.keyword_calls, 1);
    /* flag change of a known message; new messages are not FETCHed */
    assert_int_equal(e.flag_calls, 1);
    assert_int_equal(e.flag_msn[0], 1);
    assert_int_equal(e.flag_flags[0], MAILBOX_FLAG_ANSWERED);
    assert_true(mailbox_view_highestmodseq(v) > hms);
    assert_int_equal(mailbox_view_uid(v, 3), 3);
    assert_int_equal(mailbox_view_msn(v, 2), 2);
    assert_int_equal(mailbox_keyword_find(a, "project"), 0);

    /* a change to the new one is reported next time */
    store_flags(b, 3, 3, MAILBOX_FLAGS_ADD, MAILBOX_FLAG_SEEN, NULL);
    refresh(v, true, &e);
    assert_int_equal(e.flag_calls, 1);
    assert_int_equal(e.flag_msn[0], 3);
    assert_int_equal(e.flag_flags[0], MAILBOX_FLAG_SEEN);
    assert_int_equal(e.exists_calls, 0);
    assert_int_equal(mailbox_view_first_unseen(v), 1);

    struct seqset msns, uids;
    seqset_init(&msns);
    seqset_init(&uids);
    seqset_add_range(&msns, 2, 9);
    mailbox_view_msns_to_uids(v, &msns, &uids);
    assert_int_equal(seqset_cardinality(&uids), 2);
    assert_true(seqset_contains(&uids, 2) && seqset_contains(&uids, 3));
    seqset_free(&msns);
    seqset_free(&uids);

    mailbox_view_close(&v);
    mailbox_close(&a);
    mailbox_close(&b);
}

static void test_expunge_held_back(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct mailbox_view *v;
    struct events e;

    mbt_create(t, "user.bea");
    struct mailbox *a = mbt_open(t, "user.bea", true);
    struct mailbox *b = mbt_open(t, "user.bea", true);
    mbt_append_n(b, 6, 0);
    assert_int_equal(mailbox_view_open(a, NULL, 0, &v, &error), 0);
    assert_int_equal(mailbox_view_exists(v), 6);

    expunge_uids(b, (const uint32_t[]){ 2, 4, 5 }, 3);
    mbt_append_n(b, 1, 0);   /* UID 7 */

    /* during FETCH/STORE/SEARCH: no EXPUNGE, numbers stay */
    refresh(v, false, &e);
    assert_int_equal(e.expunges, 0);
    assert_int_equal(e.exists, 7);
    assert_int_equal(mailbox_view_exists(v), 7);
    assert_int_equal(mailbox_view_uid(v, 4), 4);
    assert_true(mailbox_view_is_expunged(v, 4));
    assert_false(mailbox_view_is_expunged(v, 3));
    struct mailbox_record rec;
    assert_int_equal(mailbox_view_record(v, 4, &rec, &error), 1);
    assert_true(rec.system_flags & MAILBOX_FLAG_EXPUNGED);
    struct buf body = BUF_INIT;
    mbt_read_message(a, 4, &body);   /* still readable until the cleanup */
    buf_free(&body);
    refresh(v, false, &e);
    assert_int_equal(e.expunges, 0);

    /* then reported in order, each number as renumbered */
    refresh(v, true, &e);
    assert_int_equal(e.expunges, 3);
    assert_int_equal(e.exp_uid[0], 2);
    assert_int_equal(e.exp_msn[0], 2);
    assert_int_equal(e.exp_uid[1], 4);
    assert_int_equal(e.exp_msn[1], 3);
    assert_int_equal(e.exp_uid[2], 5);
    assert_int_equal(e.exp_msn[2], 3);
    assert_int_equal(e.exists, 4);
    assert_int_equal(mailbox_view_exists(v), 4);
    const uint32_t want[] = { 1, 3, 6, 7 };
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(mailbox_view_uid(v, i + 1), want[i]);
    refresh(v, true, &e);
    assert_int_equal(e.expunges, 0);

    /* a message appended and expunged between refreshes is never seen */
    mbt_append_n(b, 1, 0);   /* UID 8 */
    expunge_uids(b, (const uint32_t[]){ 8 }, 1);
    refresh(v, true, &e);
    assert_int_equal(e.expunges, 0);
    assert_int_equal(e.exists_calls, 0);
    assert_int_equal(mailbox_view_exists(v), 4);

    mailbox_view_close(&v);
    mailbox_close(&a);
    mailbox_close(&b);
}

static void test_cleanup_with_old_view(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct mailbox_view *v;
    struct events e;

    mbt_create(t, "user.cat");
    struct mailbox *a = mbt_open(t, "user.cat", false);
    struct mailbox *b = mbt_open(t, "user.cat", true);
    mbt_append_n(b, 5, 0);
    assert_int_equal(mailbox_view_open(a, NULL, MAILBOX_VIEW_READONLY, &v, &error), 0);
    expunge_uids(b, (const uint32_t[]){ 1, 3 }, 2);
    store_flags(b, 5, 5, MAILBOX_FLAGS_ADD, MAILBOX_FLAG_FLAGGED, NULL);
    mailbox_close(&b);
    /* a writer's open runs the cleanup (delay 0) */
    b = mbt_open(t, "user.cat", true);
    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(b, 1, &rec, &error), 0);
    char path[1024];
    snprintf(path, sizeof(path), "%s/1.", mailbox_path(b));
    assert_int_equal(access(path, F_OK), -1);
    mbt_append_n(b, 1, 0);   /* UID 6 */

    /* held back across the cleanup: the record is gone */
    refresh(v, false, &e);
    assert_int_equal(e.expunges, 0);
    assert_int_equal(mailbox_view_exists(v), 6);
    assert_int_equal(mailbox_view_record(v, 1, &rec, &error), 0);
    assert_int_equal(mailbox_view_record(v, 2, &rec, &error), 1);
    assert_int_equal(e.flag_calls, 1);
    assert_int_equal(e.flag_uid[0], 5);
    assert_int_equal(e.flag_msn[0], 5);

    refresh(v, true, &e);
    assert_int_equal(e.expunges, 2);
    assert_int_equal(e.exp_msn[0], 1);
    assert_int_equal(e.exp_uid[0], 1);
    assert_int_equal(e.exp_msn[1], 2);
    assert_int_equal(e.exp_uid[1], 3);
    assert_int_equal(mailbox_view_exists(v), 4);
    assert_int_equal(mailbox_view_uid(v, 1), 2);
    assert_int_equal(mailbox_view_uid(v, 4), 6);
    struct buf body = BUF_INIT, want = BUF_INIT;
    mbt_read_message(a, 4, &body);
    mbt_message(&want, "test", 3);
    assert_true(buf_equals_str(&body, buf_cstr(&want)));
    buf_free(&body);
    buf_free(&want);

    mailbox_view_close(&v);
    mailbox_close(&a);
    mailbox_close(&b);
}

/* With a delay, a writer's open does not clean up too early. */
static void test_cleanup_delay(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;

    mbt_create(t, "user.dot");
    struct mailbox *b = mbt_open(t, "user.dot", true);
    mbt_append_n(b, 2, 0);
    expunge_uids(b, (const uint32_t[]){ 1 }, 1);
    mailbox_close(&b);
    b = mbt_open(t, "user.dot", true);
    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(b, 1, &rec, &error), 1);
    assert_int_equal(mailbox_cleanup(b, false, &error), 0);
    assert_int_equal(mailbox_record_by_uid(b, 1, &rec, &error), 1);
    assert_int_equal(mailbox_cleanup(b, true, &error), 1);
    assert_int_equal(mailbox_record_by_uid(b, 1, &rec, &error), 0);
    mailbox_close(&b);
}

static void test_recent_one_session(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct mailbox_view *va, *vb, *vc;
    struct events e;

    mbt_create(t, "user.eli");
    struct mailbox *w = mbt_open(t, "user.eli", true);
    mbt_append_n(w, 3, 0);
    struct mailbox *a = mbt_open(t, "user.eli", true);
    struct mailbox *b = mbt_open(t, "user.eli", true);
    struct mailbox *c = mbt_open(t, "user.eli", false);

    /* EXAMINE first: sees them recent, claims nothing */
    assert_int_equal(mailbox_view_open(c, NULL, MAILBOX_VIEW_READONLY, &vc, &error), 0);
    assert_int_equal(mailbox_view_recent(vc), 3);
    assert_int_equal(mailbox_view_open(a, NULL, 0, &va, &error), 0);
    assert_int_equal(mailbox_view_recent(va), 3);
    assert_true(mailbox_view_is_recent(va, 2));
    assert_int_equal(mailbox_view_open(b, NULL, 0, &vb, &error), 0);
    assert_int_equal(mailbox_view_recent(vb), 0);
    struct mailbox_counts counts;
    assert_int_equal(mailbox_get_counts(w, NULL, &counts, &error), 0);
    assert_int_equal(counts.recent, 0);

    mbt_append_n(w, 2, 0);
    refresh(vb, true, &e);
    assert_int_equal(e.exists, 5);
    assert_int_equal(e.recent, 2);
    assert_int_equal(mailbox_view_recent(vb), 2);
    refresh(va, true, &e);
    assert_int_equal(e.exists, 5);
    assert_int_equal(mailbox_view_recent(va), 3);
    assert_false(mailbox_view_is_recent(va, 4));
    refresh(vc, true, &e);
    assert_int_equal(mailbox_view_recent(vc), 3);

    /* expunging a recent message lowers RECENT */
    expunge_uids(w, (const uint32_t[]){ 4 }, 1);
    refresh(vb, true, &e);
    assert_int_equal(e.expunges, 1);
    assert_int_equal(mailbox_view_recent(vb), 1);
    assert_int_equal(e.recent, 1);

    mailbox_view_close(&va);
    mailbox_view_close(&vb);
    mailbox_view_close(&vc);
    mailbox_close(&a);
    mailbox_close(&b);
    mailbox_close(&c);
    mailbox_close(&w);
}

static void test_nonowner_seen(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct mailbox_view *vbob, *valice, *valice2;
    struct events e;
    struct mailbox_counts c;

    mbt_create(t, "user.bob");
    struct mailbox *bob = mbt_open(t, "user.bob", true);
    struct mailbox *alice = mbt_open(t, "user.bob", true);
    struct mailbox *alice2 = mbt_open(t, "user.bob", false);
    mbt_append_n(bob, 4, 0);
    assert_int_equal(mailbox_view_open(bob, "bob", 0, &vbob, &error), 0);
    assert_int_equal(mailbox_view_open(alice, "alice", 0, &valice, &error), 0);
    assert_int_equal(mailbox_view_open(alice2, "alice", 0, &valice2, &error), 0);

    /* alice marks 1:2 seen: only for her */
    store_flags(alice, 1, 2, MAILBOX_FLAGS_ADD, MAILBOX_FLAG_SEEN, "alice");
    assert_int_equal(mbt_flags(bob, 1) & MAILBOX_FLAG_SEEN, 0);
    struct buf text = BUF_INIT;
    assert_int_equal(seen_get(t->store, NULL, "alice", mailbox_uniqueid(bob), &text, &error), 1);
    assert_string_equal(buf_cstr(&text), "1:2");
    assert_int_equal(mailbox_get_counts(bob, "bob", &c, &error), 0);
    assert_int_equal(c.unseen, 4);
    assert_int_equal(mailbox_get_counts(bob, "alice", &c, &error), 0);
    assert_int_equal(c.unseen, 2);

    /* bob marks 3 seen: not for alice */
    store_flags(bob, 3, 3, MAILBOX_FLAGS_ADD, MAILBOX_FLAG_SEEN, "bob");
    assert_int_equal(mailbox_get_counts(bob, "alice", &c, &error), 0);
    assert_int_equal(c.unseen, 2);
    assert_int_equal(mailbox_get_counts(bob, NULL, &c, &error), 0);
    assert_int_equal(c.unseen, 3);

    /* a view's \Seen for a non-owner is as of its last refresh */
    struct mailbox_record rec;
    refresh(valice, true, &e);
    assert_int_equal(mailbox_view_record(valice, 1, &rec, &error), 1);
    assert_true(rec.system_flags & MAILBOX_FLAG_SEEN);
    assert_int_equal(mailbox_view_record(valice, 3, &rec, &error), 1);
    assert_false(rec.system_flags & MAILBOX_FLAG_SEEN);
    assert_int_equal(mailbox_view_record(vbob, 1, &rec, &error), 1);
    assert_false(rec.system_flags & MAILBOX_FLAG_SEEN);
    assert_int_equal(mailbox_view_first_unseen(valice), 3);

    /* alice's other session learns her change; bob's sees his own 3 */
    refresh(valice2, true, &e);
    bool saw1 = false, saw3 = false;
    for (unsigned i = 0; i < e.flag_calls; i++) {
        if (e.flag_uid[i] == 1) {
            saw1 = true;
            assert_true(e.flag_flags[i] & MAILBOX_FLAG_SEEN);
        }
        if (e.flag_uid[i] == 3) {
            saw3 = true;
            assert_false(e.flag_flags[i] & MAILBOX_FLAG_SEEN);
        }
    }
    assert_true(saw1 && saw3);
    refresh(vbob, true, &e);
    for (unsigned i = 0; i < e.flag_calls; i++)
        assert_int_equal(e.flag_flags[i] & MAILBOX_FLAG_SEEN,
                         e.flag_uid[i] == 3 ? MAILBOX_FLAG_SEEN : 0);

    /* -\Seen, and APPEND with \Seen by alice */
    store_flags(alice, 2, 2, MAILBOX_FLAGS_REMOVE, MAILBOX_FLAG_SEEN, "alice");
    struct mailbox_append_msg m = { .data = "Subject: x\r\n\r\nx\r\n", .len = 17,
                                    .flags = MAILBOX_FLAG_SEEN };
    uint32_t uidv, uid;
    assert_int_equal(mailbox_append(alice, &m, 1, "alice", 0, &uidv, &uid, &error), 0);
    assert_int_equal(seen_get(t->store, NULL, "alice", mailbox_uniqueid(bob), &text, &error), 1);
    assert_string_equal(buf_cstr(&text), "1,5");
    assert_int_equal(mbt_flags(bob, 5) & MAILBOX_FLAG_SEEN, 0);
    buf_free(&text);

    mailbox_view_close(&vbob);
    mailbox_view_close(&valice);
    mailbox_view_close(&valice2);
    mailbox_close(&bob);
    mailbox_close(&alice);
    mailbox_close(&alice2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_messages_and_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expunge_held_back, setup_delay, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_with_old_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_delay, setup_delay, teardown),
        cmocka_unit_test_setup_teardown(test_recent_one_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonowner_seen, setup, teardown),
    };
    log_init("test-mailbox-view");
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
