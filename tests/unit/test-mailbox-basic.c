/* test-mailbox-basic.c - unit tests of one mailbox (store/mailbox_*.c):
 * create/open/append and byte-identical read back, the cache, multi-message
 * append atomicity, flags and keywords with MODSEQ, expunge and cleanup,
 * damaged metadata reported as STORE_ERR_CORRUPT (bit flips, truncation,
 * random damage: never a crash), leftovers of interrupted operations, and
 * the inotify watch.  Each test uses its own store under /tmp. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test-mailbox-fixture.h"

#include "mailbox_private.h"
#include "mime.h"
#include "pool.h"

#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <time.h>

static const char msg1[] =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.com>\r\n"
    "Subject: Lunch\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    "Message-ID: <lunch@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=XX\r\n"
    "\r\n"
    "--XX\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "Noon?\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "\x01\x02\x03\x00binary\r\n"
    "--XX--\r\n";

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

static void test_create_open_append_read(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct mailbox *mb;
    struct buf got = BUF_INIT, path = BUF_INIT;
    size_t len1 = sizeof(msg1) - 1;

    mbt_create(t, "user.bob");
    mbt_create(t, "user.bob.Sent");
    assert_int_equal(mailbox_create(t->store, "user.bob", NULL, &error), STORE_ERR_EXISTS);
    assert_int_equal(mailbox_create(t->store, "user..x", NULL, &error), STORE_ERR_BADNAME);
    assert_int_equal(mailbox_open(t->store, "user.nobody", MAILBOX_READONLY, &mb, &error),
                     STORE_ERR_NOTFOUND);
    assert_null(mb);

    mb = mbt_open(t, "user.bob", true);
    assert_string_equal(mailbox_acl(mb), "bob\tlrswipkxtea\t");
    assert_string_equal(mailbox_partition(mb), "default");
    /* <partition>/user/bob/<uniqueid> */
    buf_printf(&path, "%s/user/bob/%s", t->part1, mailbox_uniqueid(mb));
    assert_string_equal(mailbox_path(mb), buf_cstr(&path));
    assert_int_equal(mailbox_exists(mb), 0);
    assert_int_equal(mailbox_uidnext(mb), 1);
    uint64_t modseq0 = mailbox_highestmodseq(mb);
    assert_true(modseq0 >= 1);

    uint32_t uid = mbt_append(mb, msg1, len1, MAILBOX_FLAG_FLAGGED);
    assert_int_equal(uid, 1);
    assert_true(mailbox_highestmodseq(mb) > modseq0);
    mbt_read_message(mb, uid, &got);
    assert_int_equal(got.len, len1);
    assert_memory_equal(got.data, msg1, len1);

    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(mb, uid, &rec, &error), 1);
    assert_int_equal(rec.size, len1);
    assert_int_equal(rec.system_flags, MAILBOX_FLAG_FLAGGED);
    assert_int_equal(rec.sentdate, 760686745);
    assert_true(rec.internaldate > 0);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    assert_int_equal(EVP_Digest(msg1, len1, md, &mdlen, EVP_sha1(), NULL), 1);
    assert_memory_equal(rec.guid, md, 20);

    /* the cache carries the header block and the tree */
    struct buf blob = BUF_INIT;
    assert_int_equal(mailbox_cache_read(mb, &rec, &blob, &error), 0);
    struct pool *pool = pool_create("t", 0);
    struct mime_part *root;
    const char *hdr;
    size_t hdrlen;
    if (mime_cache_decode(blob.data, blob.len, pool, &root, &hdr, &hdrlen, &error) < 0)
        fail_msg("mime_cache_decode: %s", error);
    assert_int_equal(hdrlen, rec.header_size);
    assert_memory_equal(hdr, msg1, hdrlen);
    assert_string_equal(root->type, "multipart");
    assert_int_equal(root->nchildren, 2);
    assert_string_equal(root->envelope->subject, "Lunch");
    pool_destroy(&pool);
    buf_free(&blob);

    /* a second handle sees it; the counts */
    struct mailbox *ro = mbt_open(t, "user.bob", false);
    struct mailbox_counts c;
    assert_int_equal(mailbox_get_counts(ro, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 1);
    assert_int_equal(c.unseen, 1);
    assert_int_equal(c.flagged, 1);
    assert_int_equal(c.recent, 1);
    assert_int_equal(c.uidnext, 2);
    assert_int_equal(c.size, len1);
    /* a read-only handle may not write */
    assert_true(mailbox_append(ro, &(struct mailbox_append_msg){ .data = "x", .len = 1 }, 1,
                               NULL, 0, &(uint32_t){ 0 }, &(uint32_t){ 0 }, &error) < 0);
    mailbox_close(&ro);

    /* sub-mailbox inherits the ACL */
    struct mailbox *sent = mbt_open(t, "user.bob.Sent", false);
    assert_string_equal(mailbox_acl(sent), "bob\tlrswipkxtea\t");
    mailbox_close(&sent);

    /* the ACL copy in roost.header */
    assert_int_equal(mailbox_set_acl_copy(mb, "bob\tlrs\t", &error), 0);
    assert_string_equal(mailbox_acl(mb), "bob\tlrs\t");
    ro = mbt_open(t, "user.bob", false);
    assert_string_equal(ro->mh.acl, "bob\tlrs\t");
    mailbox_close(&ro);

    /* empty message */
    uid = mbt_append(mb, "", 0, 0);
    mbt_read_message(mb, uid, &got);
    assert_int_equal(got.len, 0);

    mailbox_close(&mb);
    buf_free(&got);
    buf_free(&path);
}

static void test_multiappend_atomic(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct buf m[3] = { BUF_INIT, BUF_INIT, BUF_INIT };
    struct mailbox_append_msg msgs[3];
    uint32_t uids[3], uidvalidity;

    mbt_create(t, "user.ann");
    struct mailbox *mb = mbt_open(t, "user.ann", true);
    memset(msgs, 0, sizeof(msgs));
    for (unsigned i = 0; i < 3; i++) {
        mbt_message(&m[i], "multi", i);
        msgs[i].data = m[i].data;
        msgs[i].len = m[i].len;
    }
    static const char *const kw1[] = { "$Important", "work" };
    msgs[1].keywords = kw1;
    msgs[1].nkeywords = 2;
    msgs[2].flags = MAILBOX_FLAG_SEEN | MAILBOX_FLAG_DRAFT;
    assert_int_equal(mailbox_append(mb, msgs, 3, NULL, 0, &uidvalidity, uids, &error), 0);
    assert_int_equal(uids[0], 1);
    assert_int_equal(uids[1], 2);
    assert_int_equal(uids[2], 3);
    assert_int_equal(uidvalidity, mailbox_uidvalidity(mb));
    assert_int_equal(mailbox_keyword_count(mb), 2);
    assert_int_equal(mailbox_keyword_find(mb, "WORK"), 1);
    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(mb, 2, &rec, &error), 1);
    assert_true(mailbox_keywords_has(&rec.keywords, 0));
    assert_true(mailbox_keywords_has(&rec.keywords, 1));
    assert_int_equal(mbt_flags(mb, 3), MAILBOX_FLAG_SEEN | MAILBOX_FLAG_DRAFT);

    /* one bad message: nothing of the batch lands */
    static const char *const bad[] = { "ok", "\\NotAKeyword" };
    msgs[2].keywords = bad;
    msgs[2].nkeywords = 2;
    uint64_t hms = mailbox_highestmodseq(mb);
    assert_int_equal(mailbox_append(mb, msgs, 3, NULL, 0, &uidvalidity, uids, &error),
                     STORE_ERR_BADNAME);
    struct mailbox_counts c;
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 3);
    assert_int_equal(c.uidnext, 4);
    assert_int_equal(c.highestmodseq, hms);
    char path[1024];
    snprintf(path, sizeof(path), "%s/4.", mailbox_path(mb));
    assert_int_equal(access(path, F_OK), -1);

    /* 128 keywords fit, the 129th is refused, with nothing written */
    char names[130][16];
    const char *kws[130];
    for (unsigned i = 0; i < 130; i++) {
        snprintf(names[i], sizeof(names[i]), "kw%u", i);
        kws[i] = names[i];
    }
    struct mailbox_append_msg one = { .data = m[0].data, .len = m[0].len, .keywords = kws,
                                      .nkeywords = 126 };
    assert_int_equal(mailbox_append(mb, &one, 1, NULL, 0, &uidvalidity, uids, &error), 0);
    assert_int_equal(mailbox_keyword_count(mb), 128);
    one.keywords = &kws[126];
    one.nkeywords = 1;
    assert_int_equal(mailbox_append(mb, &one, 1, NULL, 0, &uidvalidity, uids, &error),
                     STORE_ERR_LIMIT);
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 4);
    /* and through STORE */
    struct seqset set;
    seqset_init(&set);
    mbt_set_one(&set, 1, 1);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD, .keywords = &kws[127],
                                       .nkeywords = 1 };
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error),
                     STORE_ERR_LIMIT);
    seqset_free(&set);
    for (unsigned i = 0; i < 3; i++)
        buf_free(&m[i]);
    mailbox_close(&mb);
}

struct flag_results {
    unsigned calls, changed;
    uint32_t last_flags;
    uint64_t last_modseq;
};

static int flags_cb(uint32_t uid, uint32_t flags, const struct mailbox_keywords *kw,
                    uint64_t modseq, bool changed, void *ctx)
{
    struct flag_results *fr = ctx;
    (void)uid;
    (void)kw;
    fr->calls++;
    fr->changed += changed;
    fr->last_flags = flags;
    fr->last_modseq = modseq;
    return 0;
}

static void test_flags_keywords_modseq(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct seqset set, modified;
    struct flag_results fr;
    struct mailbox_counts c;

    mbt_create(t, "user.fay");
    struct mailbox *mb = mbt_open(t, "user.fay", true);
    mbt_append_n(mb, 5, 0);
    seqset_init(&set);
    seqset_init(&modified);
    uint64_t last = mailbox_highestmodseq(mb);

    mbt_set_one(&set, 2, 4);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_SEEN | MAILBOX_FLAG_FLAGGED };
    memset(&fr, 0, sizeof(fr));
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, flags_cb, &fr, NULL, &error), 0);
    assert_int_equal(fr.calls, 3);
    assert_int_equal(fr.changed, 3);
    assert_true(fr.last_modseq > last);
    assert_int_equal(mailbox_highestmodseq(mb), fr.last_modseq);
    last = fr.last_modseq;
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.unseen, 2);
    assert_int_equal(c.flagged, 3);

    /* no change: no new MODSEQ */
    memset(&fr, 0, sizeof(fr));
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, flags_cb, &fr, NULL, &error), 0);
    assert_int_equal(fr.calls, 3);
    assert_int_equal(fr.changed, 0);
    assert_int_equal(mailbox_highestmodseq(mb), last);

    /* remove, replace, keywords; every change increases MODSEQ */
    ch.op = MAILBOX_FLAGS_REMOVE;
    ch.system_flags = MAILBOX_FLAG_FLAGGED;
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    assert_true(mailbox_highestmodseq(mb) > last);
    last = mailbox_highestmodseq(mb);
    assert_int_equal(mbt_flags(mb, 3), MAILBOX_FLAG_SEEN);
    static const char *const kw[] = { "$Label1" };
    ch.op = MAILBOX_FLAGS_REPLACE;
    ch.system_flags = MAILBOX_FLAG_ANSWERED;
    ch.keywords = kw;
    ch.nkeywords = 1;
    mbt_set_one(&set, 3, 3);
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    assert_true(mailbox_highestmodseq(mb) > last);
    assert_int_equal(mbt_flags(mb, 3), MAILBOX_FLAG_ANSWERED);
    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(mb, 3, &rec, &error), 1);
    assert_int_equal(rec.modseq, mailbox_highestmodseq(mb));
    assert_true(mailbox_keywords_has(&rec.keywords, 0));
    assert_string_equal(mailbox_keyword_name(mb, 0), "$Label1");

    /* CONDSTORE: UNCHANGEDSINCE older than message 3's MODSEQ fails for it */
    ch.op = MAILBOX_FLAGS_ADD;
    ch.system_flags = MAILBOX_FLAG_DELETED;
    ch.nkeywords = 0;
    ch.conditional = true;
    ch.unchangedsince = rec.modseq - 1;
    mbt_set_one(&set, 1, 5);
    memset(&fr, 0, sizeof(fr));
    assert_int_equal(
        mailbox_store_flags(mb, &set, &ch, NULL, flags_cb, &fr, &modified, &error), 0);
    assert_int_equal(fr.calls, 4);
    assert_true(seqset_contains(&modified, 3));
    assert_int_equal(seqset_cardinality(&modified), 1);
    assert_int_equal(mbt_flags(mb, 3), MAILBOX_FLAG_ANSWERED);
    assert_true(mbt_flags(mb, 1) & MAILBOX_FLAG_DELETED);
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.deleted, 4);
    assert_int_equal(c.answered, 1);

    seqset_free(&set);
    seqset_free(&modified);
    mailbox_close(&mb);
}

static void test_expunge_and_cleanup(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct seqset set, expunged;
    struct mailbox_counts c;

    mbt_create(t, "user.gus");
    struct mailbox *mb = mbt_open(t, "user.gus", true);
    mbt_append_n(mb, 6, 0);
    seqset_init(&set);
    seqset_init(&expunged);
    mbt_set_one(&set, 2, 5);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_DELETED };
    assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
    uint64_t before = mailbox_highestmodseq(mb);

    /* UID EXPUNGE of 4:9 takes only 4 and 5 */
    mbt_set_one(&set, 4, 9);
    assert_int_equal(mailbox_expunge(mb, &set, &expunged, &error), 0);
    assert_int_equal(seqset_cardinality(&expunged), 2);
    assert_true(seqset_contains(&expunged, 4) && seqset_contains(&expunged, 5));
    assert_true(mailbox_highestmodseq(mb) > before);
    assert_true(mbt_flags(mb, 4) & MAILBOX_FLAG_EXPUNGED);
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 4);
    assert_int_equal(c.deleted, 2);
    /* files stay until the cleanup */
    mbt_stat_message(mb, 4);

    /* EXPUNGE of everything \Deleted */
    seqset_free(&expunged);
    seqset_init(&expunged);
    assert_int_equal(mailbox_expunge(mb, NULL, &expunged, &error), 0);
    assert_int_equal(seqset_cardinality(&expunged), 2);
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 2);
    assert_int_equal(c.deleted, 0);

    /* cleanup: records and files go, the index gets a new generation */
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.deletedmodseq, 0);
    uint64_t expunge_modseq = c.highestmodseq;
    assert_int_equal(mailbox_cleanup(mb, true, &error), 4);
    char path[1024];
    snprintf(path, sizeof(path), "%s/4.", mailbox_path(mb));
    assert_int_equal(access(path, F_OK), -1);
    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(mb, 4, &rec, &error), 0);
    assert_int_equal(mailbox_record_by_uid(mb, 6, &rec, &error), 1);
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 2);
    assert_int_equal(c.uidnext, 7);
    assert_int_equal(c.deletedmodseq, expunge_modseq);
    /* the other files are fine and appends go on */
    struct buf got = BUF_INIT, want = BUF_INIT;
    mbt_read_message(mb, 6, &got);
    mbt_message(&want, "test", 5);
    assert_true(buf_equals_str(&got, buf_cstr(&want)));
    assert_int_equal(mbt_append_n(mb, 1, 0), 7);
    buf_free(&got);
    buf_free(&want);
    seqset_free(&set);
    seqset_free(&expunged);
    mailbox_close(&mb);
}

/* ---- damage ---- */

static void flip_bit(const char *path, off_t off, int bit)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= (unsigned char)(1u << bit);
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static void save_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    char b[4096];
    size_t n;
    assert_non_null(f);
    buf_reset(out);
    while ((n = fread(b, 1, sizeof(b), f)) > 0)
        buf_append(out, b, n);
    fclose(f);
}

static void restore_file(const char *path, const struct buf *in)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(in->data, 1, in->len, f), in->len);
    fclose(f);
}

/* Open, view, read every record and cache entry: 0 or STORE_ERR_CORRUPT,
 * nothing else, never a crash. */
static int exercise(struct mbt *t, const char *name)
{
    struct mailbox *mb = NULL;
    struct mailbox_view *view = NULL;
    const char *error = NULL;
    int r = mailbox_open(t->store, name, MAILBOX_READWRITE, &mb, &error);
    if (r < 0)
        return r;
    r = mailbox_view_open(mb, NULL, 0, &view, &error);
    for (uint32_t msn = 1; r == 0 && msn <= mailbox_view_exists(view); msn++) {
        struct mailbox_record rec;
        struct buf blob = BUF_INIT;
        int f = mailbox_view_record(view, msn, &rec, &error);
        if (f < 0)
            r = f;
        else if (f > 0 && (f = mailbox_cache_read(mb, &rec, &blob, &error)) < 0)
            r = f;
        buf_free(&blob);
    }
    mailbox_view_close(&view);
    mailbox_close(&mb);
    return r;
}

static void test_corruption_detected(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct buf idx = BUF_INIT, hdr = BUF_INIT, cache = BUF_INIT;
    char ipath[1024], hpath[1024], cpath[1024];

    mbt_create(t, "user.dan");
    struct mailbox *mb = mbt_open(t, "user.dan", true);
    mbt_append_n(mb, 4, 0);
    snprintf(ipath, sizeof(ipath), "%s/roost.index", mailbox_path(mb));
    snprintf(hpath, sizeof(hpath), "%s/roost.header", mailbox_path(mb));
    snprintf(cpath, sizeof(cpath), "%s/roost.cache.1", mailbox_path(mb));
    mailbox_close(&mb);
    save_file(ipath, &idx);
    save_file(hpath, &hdr);
    save_file(cpath, &cache);
    assert_int_equal(exercise(t, "user.dan"), 0);

    /* index header bit flip */
    flip_bit(ipath, 30, 2);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    restore_file(ipath, &idx);
    /* a record bit flip */
    flip_bit(ipath, INDEX_HEADER_SIZE + INDEX_RECORD_SIZE + 9, 5);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    mb = mbt_open(t, "user.dan", false);
    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(mb, 2, &rec, &error), STORE_ERR_CORRUPT);
    assert_int_equal(mailbox_record_by_uid(mb, 1, &rec, &error), 1);
    mailbox_close(&mb);
    restore_file(ipath, &idx);
    /* truncated index */
    assert_int_equal(truncate(ipath, (off_t)idx.len - 10), 0);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    assert_int_equal(truncate(ipath, 50), 0);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    restore_file(ipath, &idx);
    /* a valid checksum on a newer version is still refused */
    {
        unsigned char raw[INDEX_HEADER_SIZE];
        memcpy(raw, idx.data, sizeof(raw));
        mb_put32(raw + 8, 99);
        mb_put32(raw + 124, mb_crc32(raw, 124));
        struct buf v = BUF_INIT;
        buf_append(&v, idx.data, idx.len);
        memcpy(v.data, raw, sizeof(raw));
        restore_file(ipath, &v);
        buf_free(&v);
        assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
        restore_file(ipath, &idx);
    }
    /* roost.header */
    flip_bit(hpath, 40, 0);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    restore_file(hpath, &hdr);
    assert_int_equal(truncate(hpath, 20), 0);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    unlink(hpath);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    restore_file(hpath, &hdr);
    /* cache entry */
    flip_bit(cpath, CACHE_HEADER_SIZE + 40, 1);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    restore_file(cpath, &cache);
    assert_int_equal(truncate(cpath, CACHE_HEADER_SIZE + 8), 0);
    assert_int_equal(exercise(t, "user.dan"), STORE_ERR_CORRUPT);
    restore_file(cpath, &cache);
    assert_int_equal(exercise(t, "user.dan"), 0);

    /* random single and multiple bit flips anywhere: detected or harmless */
    srand(12345);
    const char *paths[3] = { ipath, hpath, cpath };
    const struct buf *orig[3] = { &idx, &hdr, &cache };
    for (int round = 0; round < 300; round++) {
        int which = rand() % 3;
        int flips = 1 + rand() % 3;
        for (int k = 0; k < flips; k++)
            flip_bit(paths[which], rand() % (int)orig[which]->len, rand() % 8);
        int r = exercise(t, "user.dan");
        if (r != 0 && r != STORE_ERR_CORRUPT)
            fail_msg("round %d: unexpected result %d", round, r);
        restore_file(paths[which], orig[which]);
    }
    buf_free(&idx);
    buf_free(&hdr);
    buf_free(&cache);
}

/* Leftovers of interrupted operations: a message file and records past
 * the commit, a dirty header with wrong counts. */
static void test_leftovers(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    struct buf got = BUF_INIT, want = BUF_INIT;
    char path[1024];

    mbt_create(t, "user.eve");
    struct mailbox *mb = mbt_open(t, "user.eve", true);
    mbt_append_n(mb, 2, 0);
    /* a stray file for UID 3 and garbage records and cache past the end */
    snprintf(path, sizeof(path), "%s/3.", mailbox_path(mb));
    FILE *f = fopen(path, "w");
    fputs("junk from a crash", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/roost.index", mailbox_path(mb));
    int fd = open(path, O_WRONLY | O_APPEND);
    char junk[INDEX_RECORD_SIZE * 2];
    memset(junk, 0xa5, sizeof(junk));
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    snprintf(path, sizeof(path), "%s/roost.cache.1", mailbox_path(mb));
    fd = open(path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, junk, 100), 100);
    close(fd);
    mailbox_close(&mb);

    mb = mbt_open(t, "user.eve", true);
    assert_int_equal(mailbox_exists(mb), 2);
    mbt_message(&want, "fresh", 3);
    uint32_t uid = mbt_append(mb, want.data, want.len, 0);
    assert_int_equal(uid, 3);
    mbt_read_message(mb, uid, &got);
    assert_true(buf_equals_str(&got, buf_cstr(&want)));
    struct mailbox_record rec;
    assert_int_equal(mailbox_record_by_uid(mb, 3, &rec, &error), 1);
    struct buf blob = BUF_INIT;
    assert_int_equal(mailbox_cache_read(mb, &rec, &blob, &error), 0);
    buf_free(&blob);

    /* a writer that died while rewriting records: dirty header, stale counts */
    {
        struct index_header h;
        unsigned char raw[INDEX_HEADER_SIZE];
        snprintf(path, sizeof(path), "%s/roost.index", mailbox_path(mb));
        fd = open(path, O_RDWR);
        assert_int_equal(pread(fd, raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
        assert_int_equal(mb_index_header_decode(raw, &h, &error), 0);
        h.flags |= INDEX_F_DIRTY;
        h.unseen = 0;
        h.exists = 77;
        h.highestmodseq = 2;
        mb_index_header_encode(&h, raw);
        assert_int_equal(pwrite(fd, raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
        close(fd);
    }
    mailbox_close(&mb);
    struct mailbox *ro = mbt_open(t, "user.eve", false);
    struct mailbox_view *view;
    assert_int_equal(mailbox_view_open(ro, NULL, 0, &view, &error), 0);
    mailbox_view_close(&view);
    struct mailbox_counts c;
    assert_int_equal(mailbox_get_counts(ro, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 3);
    assert_int_equal(c.unseen, 3);
    assert_true(c.highestmodseq >= 4);
    mailbox_close(&ro);
    mb = mbt_open(t, "user.eve", true);
    {
        /* a power loss: the records of a STORE reached the disk, the header
         * (and its dirty mark) did not */
        struct index_header h;
        unsigned char raw[INDEX_HEADER_SIZE];
        struct seqset set;
        seqset_init(&set);
        seqset_add_range(&set, 1, 3);
        /* any exclusive locker writes the repaired header of the case above */
        assert_int_equal(mailbox_cleanup(mb, false, &error), 0);
        snprintf(path, sizeof(path), "%s/roost.index", mailbox_path(mb));
        fd = open(path, O_RDWR);
        assert_int_equal(pread(fd, raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
        struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                           .system_flags = MAILBOX_FLAG_SEEN };
        assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
        assert_int_equal(pwrite(fd, raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
        close(fd);
        assert_int_equal(mb_index_header_decode(raw, &h, &error), 0);
        assert_int_equal(h.unseen, 3);
        seqset_free(&set);
        mailbox_close(&mb);
        mb = mbt_open(t, "user.eve", true);
        struct mailbox_view *v2;
        assert_int_equal(mailbox_view_open(mb, NULL, 0, &v2, &error), 0);
        assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
        assert_int_equal(c.unseen, 0);
        assert_true(mailbox_view_highestmodseq(v2) == c.highestmodseq);
        mailbox_view_close(&v2);
        seqset_init(&set);
        seqset_add_range(&set, 1, 3);
        ch.op = MAILBOX_FLAGS_REMOVE;
        assert_int_equal(mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error), 0);
        seqset_free(&set);
    }
    assert_int_equal(mailbox_append(mb, &(struct mailbox_append_msg){ .data = "a", .len = 1 },
                                    1, NULL, 0, &(uint32_t){ 0 }, &(uint32_t){ 0 }, &error),
                     0);
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, 4);
    assert_int_equal(c.unseen, 4);
    mailbox_close(&mb);
    buf_free(&got);
    buf_free(&want);
}

static void test_watch(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;

    mbt_create(t, "shared.news");
    struct mailbox *idle = mbt_open(t, "shared.news", false);
    struct mailbox *writer = mbt_open(t, "shared.news", true);
    int fd = mailbox_watch_fd(idle, &error);
    assert_true(fd >= 0);
    assert_int_equal(mailbox_watch_fd(idle, &error), fd);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 0), 0);
    mbt_append_n(writer, 1, 0);
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_true(mailbox_watch_drain(idle));
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(mailbox_sync(idle, &error), 0);
    assert_int_equal(mailbox_exists(idle), 1);
    /* shared mailboxes live under shared/ */
    char want[1024];
    snprintf(want, sizeof(want), "%s/shared/%s", t->part1, mailbox_uniqueid(idle));
    assert_string_equal(mailbox_path(idle), want);
    mailbox_close(&writer);
    mailbox_close(&idle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open_append_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiappend_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_keywords_modseq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expunge_and_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
    };
    log_init("test-mailbox-basic");
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
