/* test-reconstruct.c - unit tests of store/reconstruct*.c and
 * store/quota_recount.c: a mailbox is damaged on purpose (truncated index,
 * deleted cache, flipped bits in index, header and cache, a stray message
 * file, a missing message file, a deleted header or index) and rebuilt;
 * UIDs, flags, keywords and UIDVALIDITY must be kept where they survive,
 * and the counts, the cache and the quota usage afterwards must equal a
 * recount from the records and files.  reconstruct -f must find unlisted
 * mailbox directories and one left behind by a rename's crash window.
 * Each test uses its own store under /tmp. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test-mailbox-fixture.h"

#include "mime.h"
#include "pool.h"
#include "quota_recount.h"
#include "reconstruct.h"

#include <errno.h>
#include <time.h>
#include <zlib.h>

#define ROOT "user.bob"
#define NMSG 6

/* What we expect of each message. */
struct want {
    uint32_t uid;
    uint32_t flags;
    bool keyword;             /* has keyword "$Label1" */
    uint64_t modseq;
    int64_t internaldate;
    uint8_t guid[20];
};

static int setup(void **state)
{
    *state = mbt_setup(NULL, 3600);
    return 0;
}

static int teardown(void **state)
{
    mbt_teardown(*state);
    return 0;
}

/* user.bob with NMSG messages: flags vary, odd ones have a keyword; quota
 * root user.bob.  Returns the records as stored into want[NMSG]. */
static uint32_t make_mailbox(struct mbt *t, const char *name, struct want *want)
{
    static const char *const kw[] = { "$Label1" };
    struct buf msg = BUF_INIT;
    const char *error = NULL;
    uint32_t uidvalidity = 0;

    mbt_create(t, name);
    struct mailbox *mb = mbt_open(t, name, true);
    for (unsigned i = 0; i < NMSG; i++) {
        struct mailbox_append_msg m;
        uint32_t uid = 0;
        memset(&m, 0, sizeof(m));
        mbt_message(&msg, "rc", i);
        m.data = msg.data;
        m.len = msg.len;
        m.internaldate = 1000000 + i;
        m.flags = i % 3 == 0 ? MAILBOX_FLAG_SEEN : i % 3 == 1 ? MAILBOX_FLAG_FLAGGED
                                                              : MAILBOX_FLAG_ANSWERED;
        m.keywords = i % 2 == 1 ? kw : NULL;
        m.nkeywords = i % 2 == 1 ? 1 : 0;
        assert_int_equal(mailbox_append(mb, &m, 1, NULL, 0, &uidvalidity, &uid, &error), 0);
        assert_int_equal(uid, i + 1);
    }
    for (unsigned i = 0; want != NULL && i < NMSG; i++) {
        struct mailbox_record r;
        assert_int_equal(mailbox_record_by_uid(mb, i + 1, &r, &error), 1);
        want[i].uid = r.uid;
        want[i].flags = r.system_flags;
        want[i].keyword = mailbox_keywords_has(&r.keywords, 0);
        want[i].modseq = r.modseq;
        want[i].internaldate = r.internaldate;
        memcpy(want[i].guid, r.guid, 20);
    }
    mailbox_close(&mb);
    buf_free(&msg);
    return uidvalidity;
}

/* Every record of name, in UID order, into recs (at most max). */
struct rec_list {
    struct mailbox_record r[64];
    unsigned n;
};

static int collect_cb(const struct mailbox_record *r, void *ctx)
{
    struct rec_list *l = ctx;
    if (l->n < 64)
        l->r[l->n++] = *r;
    return 0;
}

/* The mailbox opens; its counts, cache and files agree with its records;
 * its quota root's stored usage equals a recount.  Returns the records. */
static void check_consistent(struct mbt *t, const char *name, const char *root,
                             struct rec_list *l)
{
    struct mailbox *mb = mbt_open(t, name, false);
    struct mailbox_counts c;
    const char *error = NULL;
    uint32_t exists = 0, deleted = 0, unseen = 0, answered = 0, flagged = 0;
    uint64_t size = 0;

    memset(l, 0, sizeof(*l));
    assert_int_equal(mailbox_foreach_record(mb, collect_cb, l, &error), 0);
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    for (unsigned i = 0; i < l->n; i++) {
        const struct mailbox_record *r = &l->r[i];
        struct buf blob = BUF_INIT, body = BUF_INIT;
        struct pool *pool = pool_create("test", 4096);
        struct mime_part *part;
        const char *hdr;
        size_t hdrlen;

        assert_true(r->modseq <= c.highestmodseq);
        assert_true(r->uid < c.uidnext);
        assert_int_equal(mailbox_cache_read(mb, r, &blob, &error), 0);
        assert_int_equal(mime_cache_decode(blob.data, blob.len, pool, &part, &hdr, &hdrlen,
                                           &error), 0);
        assert_int_equal(hdrlen, r->header_size);
        mbt_read_message(mb, r->uid, &body);
        assert_int_equal(body.len, r->size);
        buf_free(&blob);
        buf_free(&body);
        pool_destroy(&pool);
        if ((r->system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
            continue;
        exists++;
        size += r->size;
        deleted += (r->system_flags & MAILBOX_FLAG_DELETED) != 0;
        unseen += (r->system_flags & MAILBOX_FLAG_SEEN) == 0;
        answered += (r->system_flags & MAILBOX_FLAG_ANSWERED) != 0;
        flagged += (r->system_flags & MAILBOX_FLAG_FLAGGED) != 0;
    }
    assert_int_equal(c.exists, exists);
    assert_int_equal(c.deleted, deleted);
    assert_int_equal(c.unseen, unseen);
    assert_int_equal(c.answered, answered);
    assert_int_equal(c.flagged, flagged);
    assert_int_equal(c.size, size);
    mailbox_close(&mb);
    if (root != NULL) {
        struct quota_recount rc;
        assert_int_equal(quota_recount_root(t->store, root, false, &rc, &error), 0);
        assert_int_equal(rc.unreadable, 0);
        assert_int_equal(rc.stored.used_bytes, rc.bytes);
        assert_int_equal(rc.stored.used_messages, rc.messages);
    }
}

static uint32_t uidvalidity_of(struct mbt *t, const char *name)
{
    struct mailbox *mb = mbt_open(t, name, false);
    uint32_t v = mailbox_uidvalidity(mb);
    mailbox_close(&mb);
    return v;
}

static void rebuild(struct mbt *t, const char *name, struct reconstruct_result *res)
{
    const char *error = NULL;
    if (reconstruct_mailbox(t->store, name, NULL, res, &error) < 0)
        fail_msg("reconstruct %s: %s", name, error);
}

static const struct mailbox_record *find_uid(const struct rec_list *l, uint32_t uid)
{
    for (unsigned i = 0; i < l->n; i++) {
        if (l->r[i].uid == uid)
            return &l->r[i];
    }
    return NULL;
}

/* The record of want survived exactly (flags, keyword, modseq, date);
 * without keywords (their names were lost) a record that had one has a
 * new MODSEQ. */
static void assert_kept(const struct rec_list *l, const struct want *w, bool keywords)
{
    const struct mailbox_record *r = find_uid(l, w->uid);
    assert_non_null(r);
    assert_int_equal(r->system_flags, w->flags);
    if (keywords || !w->keyword)
        assert_int_equal(r->modseq, w->modseq);
    else
        assert_true(r->modseq > w->modseq);
    assert_int_equal(r->internaldate, w->internaldate);
    assert_memory_equal(r->guid, w->guid, 20);
    if (keywords)
        assert_int_equal(mailbox_keywords_has(&r->keywords, 0), w->keyword);
    else
        assert_false(mailbox_keywords_has(&r->keywords, 0));
}

static void open_fails(struct mbt *t, const char *name)
{
    struct mailbox *mb = NULL;
    const char *error = NULL;
    assert_true(mailbox_open(t->store, name, MAILBOX_READONLY, &mb, &error) < 0);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static void write_file(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    close(fd);
}

/* Set up user.bob with a quota root; the directory path into dir. */
static uint32_t prepare(struct mbt *t, struct want *want, char *dir, size_t dirlen)
{
    uint32_t uv = make_mailbox(t, ROOT, want);
    mbt_set_quota(t, ROOT, 100000, -1);
    const char *error = NULL;
    struct quota_recount rc;
    assert_int_equal(quota_recount_root(t->store, ROOT, true, &rc, &error), 0);
    struct mailbox *mb = mbt_open(t, ROOT, false);
    snprintf(dir, dirlen, "%s", mailbox_path(mb));
    mailbox_close(&mb);
    return uv;
}

/* ------------------------------------------------------------------------ */

static void test_intact(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_result res;
    struct rec_list l;
    char dir[512];

    uint32_t uv = prepare(t, want, dir, sizeof(dir));
    struct mailbox *before = mbt_open(t, ROOT, true);   /* an open handle follows */
    uint64_t hms = mailbox_highestmodseq(before);
    rebuild(t, ROOT, &res);
    assert_int_equal(res.messages, NMSG);
    assert_int_equal(res.kept, NMSG);
    assert_int_equal(res.added + res.dropped + res.changed, 0);
    assert_true(res.uidvalidity_kept);
    check_consistent(t, ROOT, ROOT, &l);
    for (unsigned i = 0; i < NMSG; i++)
        assert_kept(&l, &want[i], true);
    assert_int_equal(uidvalidity_of(t, ROOT), uv);
    const char *error = NULL;
    assert_int_equal(mailbox_sync(before, &error), 0);
    assert_int_equal(mailbox_highestmodseq(before), hms);
    assert_int_equal(mbt_append_n(before, 1, 0), NMSG + 1);
    mailbox_close(&before);
    check_consistent(t, ROOT, ROOT, &l);
    /* the old cache generation is gone */
    char path[1024];
    snprintf(path, sizeof(path), "%s/roost.cache.1", dir);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_truncated_index(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_result res;
    struct rec_list l;
    char dir[512], path[1024];

    uint32_t uv = prepare(t, want, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/roost.index", dir);
    assert_int_equal(truncate(path, 128 + 2 * 128 + 50), 0);
    open_fails(t, ROOT);
    rebuild(t, ROOT, &res);
    assert_int_equal(res.kept, 2);
    assert_int_equal(res.added, NMSG - 2);
    assert_int_equal(res.renumbered, 0);    /* their records were lost, not removed */
    check_consistent(t, ROOT, ROOT, &l);
    assert_int_equal(l.n, NMSG);
    assert_kept(&l, &want[0], true);
    assert_kept(&l, &want[1], true);
    for (unsigned i = 2; i < NMSG; i++) {
        const struct mailbox_record *r = find_uid(&l, i + 1);
        assert_non_null(r);
        assert_int_equal(r->system_flags, 0);   /* lost */
        assert_memory_equal(r->guid, want[i].guid, 20);
    }
    assert_int_equal(uidvalidity_of(t, ROOT), uv);
}

static void test_deleted_cache(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_result res;
    struct rec_list l;
    char dir[512], path[1024];

    uint32_t uv = prepare(t, want, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/roost.cache.1", dir);
    assert_int_equal(unlink(path), 0);
    open_fails(t, ROOT);
    rebuild(t, ROOT, &res);
    assert_int_equal(res.kept, NMSG);
    check_consistent(t, ROOT, ROOT, &l);
    for (unsigned i = 0; i < NMSG; i++)
        assert_kept(&l, &want[i], true);
    assert_int_equal(uidvalidity_of(t, ROOT), uv);
}

static void test_flipped_bits(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_result res;
    struct rec_list l;
    char dir[512], path[1024];

    uint32_t uv = prepare(t, want, dir, sizeof(dir));
    /* record 3 (UID 4) of the index, and a cache entry's blob */
    snprintf(path, sizeof(path), "%s/roost.index", dir);
    flip_byte(path, 128 + 3 * 128 + 9);
    snprintf(path, sizeof(path), "%s/roost.cache.1", dir);
    flip_byte(path, 64 + 12 + 20);
    rebuild(t, ROOT, &res);
    assert_int_equal(res.kept, NMSG - 1);
    assert_int_equal(res.added, 1);
    assert_int_equal(res.renumbered, 0);
    check_consistent(t, ROOT, ROOT, &l);
    for (unsigned i = 0; i < NMSG; i++) {
        if (i != 3)
            assert_kept(&l, &want[i], true);
    }
    assert_int_equal(find_uid(&l, 4)->system_flags, 0);
    assert_int_equal(uidvalidity_of(t, ROOT), uv);

    /* the index header: UIDVALIDITY comes from roost.header then */
    snprintf(path, sizeof(path), "%s/roost.index", dir);
    flip_byte(path, 30);
    open_fails(t, ROOT);
    rebuild(t, ROOT, &res);
    assert_true(res.index_damaged);
    assert_true(res.uidvalidity_kept);
    assert_int_equal(res.kept, NMSG);
    check_consistent(t, ROOT, ROOT, &l);
    assert_int_equal(uidvalidity_of(t, ROOT), uv);

    /* roost.header: keyword names are lost, the rest stays */
    snprintf(path, sizeof(path), "%s/roost.header", dir);
    flip_byte(path, 26);
    open_fails(t, ROOT);
    rebuild(t, ROOT, &res);
    assert_true(res.header_damaged);
    assert_true(res.keywords_lost);
    check_consistent(t, ROOT, ROOT, &l);
    for (unsigned i = 0; i < NMSG; i++) {
        if (i != 3)
            assert_kept(&l, &want[i], false);
    }
    assert_int_equal(uidvalidity_of(t, ROOT), uv);
    struct mailbox *mb = mbt_open(t, ROOT, false);
    assert_int_equal(mailbox_keyword_count(mb), 0);
    mailbox_close(&mb);
}

static void test_stray_file(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_result res;
    struct rec_list l;
    struct seqset set;
    const char *error = NULL;
    char dir[512], path[1024];

    uint32_t uv = prepare(t, want, dir, sizeof(dir));
    /* UID 2 expunged and cleaned away, then a file of that name appears */
    struct mailbox *mb = mbt_open(t, ROOT, true);
    seqset_init(&set);
    mbt_set_one(&set, 2, 2);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_DELETED };
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    assert_int_equal(mailbox_expunge(mb, &set, NULL, &error), 0);
    assert_int_equal(mailbox_cleanup(mb, true, &error), 1);
    mailbox_close(&mb);
    seqset_free(&set);
    snprintf(path, sizeof(path), "%s/2.", dir);
    write_file(path, "Subject: stray\r\n\r\nI was left behind.\r\n");
    /* and one above UIDNEXT (an append that never committed) */
    snprintf(path, sizeof(path), "%s/10.", dir);
    write_file(path, "Subject: late\r\n\r\nNever acknowledged.\r\n");

    rebuild(t, ROOT, &res);
    assert_int_equal(res.added, 2);
    assert_int_equal(res.renumbered, 1);
    check_consistent(t, ROOT, ROOT, &l);
    assert_int_equal(l.n, NMSG + 1);
    assert_null(find_uid(&l, 2));             /* never reused */
    assert_non_null(find_uid(&l, 10));        /* nobody saw it: kept */
    assert_non_null(find_uid(&l, 11));        /* the stray, renumbered */
    snprintf(path, sizeof(path), "%s/2.", dir);
    assert_int_equal(access(path, F_OK), -1);
    for (unsigned i = 0; i < NMSG; i++) {
        if (i != 1)
            assert_kept(&l, &want[i], true);
    }
    assert_int_equal(uidvalidity_of(t, ROOT), uv);
    mb = mbt_open(t, ROOT, false);
    assert_int_equal(mailbox_uidnext(mb), 12);
    mailbox_close(&mb);
}

struct seen_notes {
    unsigned notes, progress;
    bool dropped_note;
    uint32_t last_done, total;
};

static void note_cb(const char *mailbox, const char *text, void *ctx)
{
    struct seen_notes *s = ctx;
    assert_string_equal(mailbox, ROOT);
    s->notes++;
    if (strstr(text, "UID 3: message file missing") != NULL)
        s->dropped_note = true;
}

static void progress_cb(const struct reconstruct_progress *p, void *ctx)
{
    struct seen_notes *s = ctx;
    assert_string_equal(p->mailbox, ROOT);
    assert_int_equal(p->mailbox_no, 1);
    assert_int_equal(p->mailbox_total, 1);
    assert_true(p->messages_done > s->last_done);
    s->last_done = p->messages_done;
    s->total = p->messages_total;
    s->progress++;
}

static void test_missing_file(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_result res;
    struct rec_list l;
    struct mailbox_counts before, after;
    const char *error = NULL;
    char dir[512], path[1024];

    uint32_t uv = prepare(t, want, dir, sizeof(dir));
    struct mailbox *mb = mbt_open(t, ROOT, false);
    assert_int_equal(mailbox_get_counts(mb, NULL, &before, &error), 0);
    mailbox_close(&mb);
    snprintf(path, sizeof(path), "%s/3.", dir);
    assert_int_equal(unlink(path), 0);
    struct seen_notes seen = { 0, 0, false, 0, 0 };
    struct reconstruct_options o = { .note = note_cb, .progress = progress_cb, .ctx = &seen };
    assert_int_equal(reconstruct_mailbox(t->store, ROOT, &o, &res, &error), 0);
    assert_true(seen.dropped_note);
    assert_int_equal(seen.progress, NMSG - 1);
    assert_int_equal(seen.total, NMSG - 1);
    assert_int_equal(res.dropped, 1);
    check_consistent(t, ROOT, ROOT, &l);
    assert_int_equal(l.n, NMSG - 1);
    assert_null(find_uid(&l, 3));
    mb = mbt_open(t, ROOT, false);
    assert_int_equal(mailbox_get_counts(mb, NULL, &after, &error), 0);
    mailbox_close(&mb);
    assert_int_equal(after.exists, before.exists - 1);
    assert_true(after.highestmodseq > before.highestmodseq);
    assert_int_equal(after.deletedmodseq, after.highestmodseq);
    assert_int_equal(after.uidnext, before.uidnext);
    assert_int_equal(mbt_quota(t, ROOT).used_messages, NMSG - 1);
    assert_int_equal(uidvalidity_of(t, ROOT), uv);
}

static void test_deleted_header_and_index(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_result res;
    struct rec_list l;
    char dir[512], path[1024];

    uint32_t uv = prepare(t, want, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/roost.header", dir);
    assert_int_equal(unlink(path), 0);
    open_fails(t, ROOT);
    rebuild(t, ROOT, &res);
    assert_true(res.header_damaged);
    assert_true(res.uidvalidity_kept);
    check_consistent(t, ROOT, ROOT, &l);
    for (unsigned i = 0; i < NMSG; i++)
        assert_kept(&l, &want[i], false);
    assert_int_equal(uidvalidity_of(t, ROOT), uv);

    /* the index too, now: UIDVALIDITY from the rebuilt header, UIDs kept */
    snprintf(path, sizeof(path), "%s/roost.index", dir);
    assert_int_equal(unlink(path), 0);
    rebuild(t, ROOT, &res);
    assert_true(res.index_damaged);
    assert_int_equal(res.added, NMSG);
    assert_int_equal(res.renumbered, 0);
    check_consistent(t, ROOT, ROOT, &l);
    for (unsigned i = 0; i < NMSG; i++)
        assert_memory_equal(find_uid(&l, i + 1)->guid, want[i].guid, 20);
    assert_int_equal(uidvalidity_of(t, ROOT), uv);

    /* both: a new UIDVALIDITY */
    snprintf(path, sizeof(path), "%s/roost.header", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/roost.index", dir);
    assert_int_equal(unlink(path), 0);
    rebuild(t, ROOT, &res);
    assert_false(res.uidvalidity_kept);
    check_consistent(t, ROOT, ROOT, &l);
    assert_int_equal(l.n, NMSG);
    assert_true(uidvalidity_of(t, ROOT) > uv);
}

static void test_expunged_and_garbage(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_result res;
    struct rec_list l;
    struct seqset set;
    const char *error = NULL;
    char dir[512], path[1024];

    prepare(t, want, dir, sizeof(dir));
    struct mailbox *mb = mbt_open(t, ROOT, true);
    seqset_init(&set);
    mbt_set_one(&set, 5, 5);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_DELETED };
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    assert_int_equal(mailbox_expunge(mb, &set, NULL, &error), 0);
    mailbox_close(&mb);
    seqset_free(&set);
    /* garbage: a header rewrite that never finished, a non-message file */
    snprintf(path, sizeof(path), "%s/roost.header.NEW", dir);
    write_file(path, "junk");
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    write_file(path, "not a message");

    rebuild(t, ROOT, &res);
    assert_int_equal(res.kept, NMSG);
    check_consistent(t, ROOT, ROOT, &l);
    assert_true(find_uid(&l, 5)->system_flags & MAILBOX_FLAG_EXPUNGED);
    assert_int_equal(mbt_quota(t, ROOT).used_messages, NMSG - 1);
    /* the cleanup still works on the rebuilt mailbox */
    mb = mbt_open(t, ROOT, true);
    assert_int_equal(mailbox_cleanup(mb, true, &error), 1);
    mailbox_close(&mb);
    check_consistent(t, ROOT, ROOT, &l);
    assert_int_equal(l.n, NMSG - 1);
}

/* reconstruct_run: -r over a hierarchy, and the quota root fixed once. */
static void test_run_recursive_quota(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct reconstruct_summary sum;
    struct rec_list l;
    const char *error = NULL;
    char dir[512];

    prepare(t, want, dir, sizeof(dir));
    make_mailbox(t, ROOT ".Sent", NULL);
    make_mailbox(t, ROOT ".Sent.Old", NULL);
    make_mailbox(t, "user.bobby", NULL);
    /* usage off, as after a crash between a commit and the usage update */
    assert_int_equal(quota_set_usage(t->store, NULL, ROOT, 5, 1, &error), 0);

    struct reconstruct_options o = { .flags = RECONSTRUCT_RECURSIVE };
    const char *names[] = { ROOT };
    assert_int_equal(reconstruct_run(t->store, names, 1, &o, &sum, &error), 0);
    assert_int_equal(sum.mailboxes, 3);         /* not user.bobby */
    assert_int_equal(sum.messages, 3 * NMSG);
    assert_int_equal(sum.roots, 1);
    assert_int_equal(mbt_quota(t, ROOT).used_messages, 3 * NMSG);
    check_consistent(t, ROOT ".Sent.Old", ROOT, &l);

    /* a mailbox that is not there is an error, the others still go */
    const char *bad[] = { "user.nobody", ROOT };
    o.flags = 0;
    assert_true(reconstruct_run(t->store, bad, 2, &o, &sum, &error) < 0);
    assert_int_equal(sum.mailboxes, 1);
    assert_int_equal(sum.failed, 1);

    /* quota_recount_all without fix only reports */
    assert_int_equal(quota_set_usage(t->store, NULL, ROOT, 5, 1, &error), 0);
    assert_int_equal(quota_recount_all(t->store, NULL, 0, false, NULL, NULL, &error), 0);
    assert_int_equal(mbt_quota(t, ROOT).used_bytes, 5);
    assert_int_equal(quota_recount_all(t->store, NULL, 0, true, NULL, NULL, &error), 0);
    assert_int_equal(mbt_quota(t, ROOT).used_messages, 3 * NMSG);
}

/* -f: a directory the list lost, with and without its roost.header, and
 * one moved by a rename that crashed before the list changed. */
static void test_find(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct rec_list l;
    const char *error = NULL;
    char dir[512], path[1024], uniqueid[64];
    uint64_t fixed = 0;

    prepare(t, want, dir, sizeof(dir));
    make_mailbox(t, ROOT ".Lost", want);
    make_mailbox(t, ROOT ".Nameless", NULL);
    struct mailbox *mb = mbt_open(t, ROOT ".Nameless", false);
    snprintf(uniqueid, sizeof(uniqueid), "%s", mailbox_uniqueid(mb));
    snprintf(path, sizeof(path), "%s/roost.header", mailbox_path(mb));
    mailbox_close(&mb);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mboxlist_delete(t->store, NULL, ROOT ".Lost", &error), 1);
    assert_int_equal(mboxlist_delete(t->store, NULL, ROOT ".Nameless", &error), 1);
    /* a deleted mailbox's leftover directory stays deleted */
    make_mailbox(t, ROOT ".Gone", NULL);
    mb = mbt_open(t, ROOT ".Gone", false);
    snprintf(path, sizeof(path), "%s", mailbox_path(mb));
    mailbox_close(&mb);
    char keep[1024];
    snprintf(keep, sizeof(keep), "%s.keep", path);
    assert_int_equal(rename(path, keep), 0);
    assert_int_equal(mailbox_delete(t->store, ROOT ".Gone", &error), 0);
    assert_int_equal(rename(keep, path), 0);

    struct reconstruct_options o = { .flags = 0 };
    assert_int_equal(reconstruct_find(t->store, NULL, 0, &o, &fixed, &error), 0);
    assert_int_equal(fixed, 3);
    char recovered[256];
    snprintf(recovered, sizeof(recovered), ROOT ".recovered-%s", uniqueid);
    struct reconstruct_result res;
    rebuild(t, recovered, &res);
    check_consistent(t, ROOT ".Lost", ROOT, &l);
    for (unsigned i = 0; i < NMSG; i++)
        assert_kept(&l, &want[i], true);
    check_consistent(t, recovered, ROOT, &l);
    assert_int_equal(l.n, NMSG);
    /* .Gone had no deleted mark (its index was elsewhere during the
     * delete), so it is back too */
    check_consistent(t, ROOT ".Gone", ROOT, &l);
    /* a second scan finds nothing */
    assert_int_equal(reconstruct_find(t->store, NULL, 0, &o, &fixed, &error), 0);
    assert_int_equal(fixed, 0);
}

static void test_find_deleted_and_rename_window(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    char from[1024], to[1024], uniqueid[64];

    make_mailbox(t, "user.alice.Box", NULL);
    make_mailbox(t, "user.alice.Dead", NULL);
    struct mailbox *mb = mbt_open(t, "user.alice.Box", false);
    snprintf(uniqueid, sizeof(uniqueid), "%s", mailbox_uniqueid(mb));
    snprintf(from, sizeof(from), "%s", mailbox_path(mb));
    mailbox_close(&mb);
    /* the rename moved the directory to user/carol, then crashed */
    snprintf(to, sizeof(to), "%s/user/carol", t->part1);
    assert_int_equal(mkdir(to, 0750), 0);
    snprintf(to, sizeof(to), "%s/user/carol/%s", t->part1, uniqueid);
    assert_int_equal(rename(from, to), 0);
    open_fails(t, "user.alice.Box");

    /* a delete that committed but left the directory: marked deleted */
    mb = mbt_open(t, "user.alice.Dead", false);
    char dead[1024], keep[1100], index[1200];
    snprintf(dead, sizeof(dead), "%s", mailbox_path(mb));
    mailbox_close(&mb);
    snprintf(keep, sizeof(keep), "%s.keep", dead);
    assert_int_equal(rename(dead, keep), 0);
    assert_int_equal(mailbox_delete(t->store, "user.alice.Dead", &error), 0);
    snprintf(index, sizeof(index), "%s/roost.index", keep);
    {
        /* set INDEX_F_DELETED (offset 108) and fix the header CRC */
        int fd = open(index, O_RDWR);
        unsigned char h[128];
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, h, 128, 0), 128);
        h[108] |= 2;
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), h, 124);
        h[124] = (unsigned char)crc;
        h[125] = (unsigned char)(crc >> 8);
        h[126] = (unsigned char)(crc >> 16);
        h[127] = (unsigned char)(crc >> 24);
        assert_int_equal(pwrite(fd, h, 128, 0), 128);
        close(fd);
    }
    assert_int_equal(rename(keep, dead), 0);

    struct reconstruct_options o = { .flags = RECONSTRUCT_FIND };
    struct reconstruct_summary sum;
    assert_int_equal(reconstruct_run(t->store, NULL, 0, &o, &sum, &error), 0);
    assert_int_equal(sum.found, 1);
    assert_int_equal(access(from, F_OK), 0);
    assert_int_equal(access(to, F_OK), -1);
    struct rec_list l;
    check_consistent(t, "user.alice.Box", NULL, &l);
    assert_int_equal(l.n, NMSG);
    open_fails(t, "user.alice.Dead");
    assert_int_equal(access(dead, F_OK), 0);   /* left alone */
}

/* Hostile garbage in every metadata file: never a crash, always a mailbox
 * that opens afterwards with every message. */
static void test_random_damage(void **state)
{
    struct mbt *t = *state;
    struct want want[NMSG];
    struct rec_list l;
    char dir[512], path[1024];
    const char *files[] = { "roost.index", "roost.header", "roost.cache.1" };

    prepare(t, want, dir, sizeof(dir));
    srand(7);
    for (int round = 0; round < 30; round++) {
        struct reconstruct_result res;
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, files[round % 3]);
        if (stat(path, &st) < 0) {
            /* the cache generation moved on */
            DIR *d = opendir(dir);
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (strncmp(de->d_name, "roost.cache.", 12) == 0)
                    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            }
            closedir(d);
            assert_int_equal(stat(path, &st), 0);
        }
        for (int k = 0; k < 1 + round % 4; k++)
            flip_byte(path, rand() % st.st_size);
        rebuild(t, ROOT, &res);
        check_consistent(t, ROOT, ROOT, &l);
        assert_int_equal(l.n, NMSG);
        for (unsigned i = 0; i < NMSG; i++)
            assert_memory_equal(find_uid(&l, i + 1)->guid, want[i].guid, 20);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stray_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_header_and_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expunged_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_recursive_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_deleted_and_rename_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_damage, setup, teardown),
    };
    log_init("test-reconstruct");
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
