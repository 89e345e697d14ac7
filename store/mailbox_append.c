/* mailbox_append.c - staging messages and appending them to mailboxes.
 *
 * A stage is the one copy of an incoming message: written to
 * <partition>/stage./<temp name>, synced, hashed (SHA-1, the GUID), parsed
 * once with mime_parse() and encoded with mime_cache_encode().  Appending
 * it hard-links the stage file into each target mailbox on the same
 * partition (a copy elsewhere), so a message to fifty recipients is written
 * once.
 *
 * The engine (mb_append_commit) writes several mailboxes' new messages in
 * phases so that one multi-recipient or multi-message operation costs one
 * sync per file touched, not per message:
 *   1. every message file is linked or copied into its mailbox as "<uid>."
 *      (a stray file of that name, left by an append that crashed before
 *      its commit, is unlinked first: its UID was never made visible);
 *   2. each mailbox directory is fsynced (copies were fsynced as written);
 *   3. each mailbox's cache entries are written past the committed cache
 *      length and the cache is fdatasynced;
 *   4. each mailbox's records are written past num_records, then the index
 *      header (the commit point) and the index is fdatasynced.
 * Only then does the caller report success.  A crash before step 4 leaves
 * files and entries nobody references; after step 4 the message is
 * complete on disk.  Each mailbox (group) succeeds or fails as a whole.
 *
 * Callers take the exclusive locks (several mailboxes in uniqueid order),
 * check quotas before, and charge quotas and seen state after the commit. */
#include "mailbox_private.h"

#include "log.h"
#include "mboxname.h"
#include "mime.h"
#include "pool.h"
#include "quota.h"
#include "seqset.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct stage {
    struct store *store;
    char *partition;
    int dirfd;
    char name[64];
    int fd;
    uint64_t size;
    EVP_MD_CTX *sha;
    bool finished;
    bool failed;
    uint8_t guid[20];
    struct buf blob;
    uint32_t header_size;
    int64_t sentdate;
};

/* ------------------------------------------------------------------------
 * Stage
 */

#define STAGE_STALE_SECONDS (24 * 3600)

/* Remove stage files older than a day: leftovers of processes that died
 * while receiving a message.  Done by a process's first stage on each
 * partition (daemons are restarted now and then, so this runs often
 * enough and costs one directory read per process). */
static void mb_stage_sweep(int dirfd, const char *partition)
{
    static char swept[8][256];
    static unsigned nswept;

    for (unsigned i = 0; i < nswept; i++) {
        if (strcmp(swept[i], partition) == 0)
            return;
    }
    if (nswept < 8)
        str_copy(swept[nswept++], sizeof(swept[0]), partition);
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    time_t limit = time(NULL) - STAGE_STALE_SECONDS;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_mtime < limit && unlinkat(dirfd, de->d_name, 0) == 0)
            log_info("stage: removed stale %s", de->d_name);
    }
    closedir(d);
}

int stage_begin(struct store *store, const char *partition, struct stage **stage_r,
                const char **error_r)
{
    static unsigned counter;
    const char *part = partition != NULL ? partition : store_default_partition(store);
    const char *path = store_partition_path(store, part);
    struct buf dir = BUF_INIT;

    *stage_r = NULL;
    if (path == NULL)
        return mb_fail(error_r, STORE_ERR_NOTFOUND, "no partition \"%.64s\"", part);
    buf_printf(&dir, "%s/%s", path, MB_STAGE_DIR);
    if (mkdir(buf_cstr(&dir), 0750) < 0 && errno != EEXIST) {
        int r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "mkdir %s", buf_cstr(&dir));
        buf_free(&dir);
        return r;
    }
    struct stage *s = xcalloc(1, sizeof(*s));
    s->store = store;
    s->partition = xstrdup(part);
    s->fd = -1;
    s->dirfd = open(buf_cstr(&dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        int r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "open %s", buf_cstr(&dir));
        buf_free(&dir);
        stage_free(&s);
        return r;
    }
    buf_free(&dir);
    mb_stage_sweep(s->dirfd, path);
    for (int tries = 0; s->fd < 0; tries++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(s->name, sizeof(s->name), "%ld-%d-%u-%lx", (long)ts.tv_sec, (int)getpid(),
                 counter++, (unsigned long)ts.tv_nsec);
        s->fd = openat(s->dirfd, s->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (s->fd < 0 && (errno != EEXIST || tries > 100)) {
            int r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "create stage file");
            s->name[0] = '\0';
            stage_free(&s);
            return r;
        }
    }
    s->sha = EVP_MD_CTX_new();
    if (s->sha == NULL || EVP_DigestInit_ex(s->sha, EVP_sha1(), NULL) != 1)
        log_fatal("stage: cannot initialise SHA-1");
    *stage_r = s;
    return 0;
}

int stage_write(struct stage *s, const void *data, size_t len, const char **error_r)
{
    if (s->finished || s->failed)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "stage: write after finish or failure");
    if (len > MAILBOX_MESSAGE_MAX - s->size) {
        s->failed = true;
        return mb_fail(error_r, STORE_ERR_LIMIT, "message too large");
    }
    if (len == 0)
        return 0;
    if (mb_pwrite_all(s->fd, data, len, s->size) < 0) {
        s->failed = true;
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "write stage file");
    }
    if (EVP_DigestUpdate(s->sha, data, len) != 1)
        log_fatal("stage: SHA-1 update failed");
    s->size += len;
    return 0;
}

int stage_finish(struct stage *s, const char **error_r)
{
    unsigned int mdlen = 0;

    if (s->finished)
        return 0;
    if (s->failed)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "stage: an earlier write failed");
    if (fdatasync(s->fd) < 0) {
        s->failed = true;
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "fsync stage file");
    }
    if (EVP_DigestFinal_ex(s->sha, s->guid, &mdlen) != 1 || mdlen != 20)
        log_fatal("stage: SHA-1 final failed");

    const char *data = "";
    void *map = NULL;
    if (s->size > 0) {
        if (s->size > SIZE_MAX)
            return mb_fail(error_r, STORE_ERR_LIMIT, "message too large to parse");
        map = mmap(NULL, (size_t)s->size, PROT_READ, MAP_SHARED, s->fd, 0);
        if (map == MAP_FAILED) {
            s->failed = true;
            return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "mmap stage file");
        }
        data = map;
    }
    struct mailbox_record rec;
    buf_reset(&s->blob);
    int r = mb_message_describe(data, (size_t)s->size, &s->blob, &rec, error_r);
    if (map != NULL)
        munmap(map, (size_t)s->size);
    if (r < 0) {
        s->failed = true;
        return r;
    }
    s->header_size = rec.header_size;
    s->sentdate = rec.sentdate;
    s->finished = true;
    return 0;
}

int mb_message_describe(const char *data, size_t len, struct buf *blob_r,
                        struct mailbox_record *rec, const char **error_r)
{
    struct pool *pool = pool_create("message", 16384);
    struct mime_part *root = mime_parse(data, len, pool);

    memset(rec, 0, sizeof(*rec));
    buf_reset(blob_r);
    mime_cache_encode(root, data, len, blob_r);
    rec->size = len;
    rec->header_size = root->header_size > UINT32_MAX ? UINT32_MAX : (uint32_t)root->header_size;
    rec->sentdate = 0;
    if (root->envelope != NULL && root->envelope->date != NULL) {
        time_t t;
        int tz;
        if (mime_date_parse(root->envelope->date, &t, &tz) == 0)
            rec->sentdate = (int64_t)t;
    }
    pool_destroy(&pool);
    if (blob_r->len > CACHE_BLOB_MAX)
        return mb_fail(error_r, STORE_ERR_LIMIT, "message structure too large to cache");
    return 0;
}

void mb_sha1(const void *data, size_t len, uint8_t out[20])
{
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, out, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        log_fatal("SHA-1 failed");
}

int stage_from_data(struct store *store, const char *partition, const void *data, size_t len,
                    struct stage **stage_r, const char **error_r)
{
    int r = stage_begin(store, partition, stage_r, error_r);
    if (r == 0)
        r = stage_write(*stage_r, data, len, error_r);
    if (r == 0)
        r = stage_finish(*stage_r, error_r);
    if (r < 0)
        stage_free(stage_r);
    return r;
}

uint64_t stage_size(const struct stage *s) { return s->size; }
const uint8_t *stage_guid(const struct stage *s) { return s->guid; }
const char *stage_partition(const struct stage *s) { return s->partition; }
int mb_stage_dirfd(const struct stage *s) { return s->dirfd; }
const char *mb_stage_filename(const struct stage *s) { return s->name; }

const void *mb_stage_blob(const struct stage *s, size_t *len_r)
{
    *len_r = s->blob.len;
    return s->blob.data;
}

void mb_stage_fill_record(const struct stage *s, struct mailbox_record *rec)
{
    rec->size = s->size;
    rec->header_size = s->header_size;
    rec->sentdate = s->sentdate;
    memcpy(rec->guid, s->guid, 20);
}

void stage_free(struct stage **sp)
{
    struct stage *s = *sp;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->dirfd >= 0) {
        if (s->name[0] != '\0')
            unlinkat(s->dirfd, s->name, 0);
        close(s->dirfd);
    }
    if (s->sha != NULL)
        EVP_MD_CTX_free(s->sha);
    buf_free(&s->blob);
    free(s->partition);
    free(s);
    *sp = NULL;
}

/* ------------------------------------------------------------------------
 * Engine
 */

static void mb_group_fail(struct mb_append_group *g, int code, const char *err)
{
    if (g->result == 0) {
        g->result = code < 0 ? code : STORE_ERR_INTERNAL;
        snprintf(g->error, sizeof(g->error), "%s", err != NULL ? err : "append failed");
    }
}

/* Remove the message files phase 1 created for a failed group. */
static void mb_group_unlink(struct mb_append_group *g, unsigned upto)
{
    for (unsigned i = 0; i < upto; i++) {
        char name[16];
        if (g->items[i].uid == 0)
            continue;
        mb_message_name(g->items[i].uid, name);
        unlinkat(g->mb->dirfd, name, 0);
        g->items[i].uid = 0;
    }
}

static int mb_place_file(struct mailbox *mb, struct mb_append_item *it, uint32_t uid,
                         bool *copied_r, const char **error_r)
{
    char name[16];

    mb_message_name(uid, name);
    *copied_r = false;
    /* a leftover of an append that never committed this UID */
    if (unlinkat(mb->dirfd, name, 0) == 0)
        log_notice("mailbox %s: removed stray message file %s", mb->name, name);
    else if (errno != ENOENT)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: unlink stray %s", mb->name,
                             name);
    if (it->src_same_fs) {
        if (linkat(it->src_dirfd, it->src_file, mb->dirfd, name, 0) == 0)
            return 0;
        if (errno != EXDEV && errno != EMLINK && errno != EPERM && errno != ENOTSUP)
            return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: link %s", mb->name, name);
    }
    const char *err = NULL;
    if (mb_copy_file(it->src_dirfd, it->src_file, mb->dirfd, name, &err) < 0)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: %s", mb->name, err);
    *copied_r = true;
    return 0;
}

void mb_append_commit(struct mb_append_group *groups, unsigned ngroups)
{
    int64_t now = (int64_t)time(NULL);
    const char *err = NULL;
    struct buf scratch = BUF_INIT;

    /* 1. message files */
    for (unsigned g = 0; g < ngroups; g++) {
        struct mb_append_group *gr = &groups[g];
        struct mailbox *mb = gr->mb;
        if (gr->result != 0)
            continue;
        if (mb->lock_type != MB_LOCK_EX)
            log_panic("mailbox %s: append without the write lock", mb->name);
        if ((uint64_t)mb->hdr.uidnext + gr->n >= UINT32_MAX ||
            (uint64_t)mb->hdr.num_records + gr->n > INDEX_MAX_RECORDS) {
            mb_group_fail(gr, STORE_ERR_LIMIT, "the mailbox is full (UIDs exhausted)");
            continue;
        }
        for (unsigned i = 0; i < gr->n; i++)
            gr->items[i].uid = 0;
        for (unsigned i = 0; i < gr->n; i++) {
            bool copied;
            uint32_t uid = mb->hdr.uidnext + i;
            int r = mb_place_file(mb, &gr->items[i], uid, &copied, &err);
            if (r < 0) {
                mb_group_fail(gr, r, err);
                mb_group_unlink(gr, i);
                break;
            }
            gr->items[i].uid = uid;
        }
    }
    /* 2. directory entries */
    for (unsigned g = 0; g < ngroups; g++) {
        struct mb_append_group *gr = &groups[g];
        if (gr->result != 0)
            continue;
        int r = mb_fsync_dir(gr->mb->dirfd, &err);
        if (r < 0) {
            mb_group_fail(gr, r, err);
            mb_group_unlink(gr, gr->n);
        }
    }
    /* 3. cache entries */
    for (unsigned g = 0; g < ngroups; g++) {
        struct mb_append_group *gr = &groups[g];
        struct mailbox *mb = gr->mb;
        int r = 0;
        if (gr->result != 0)
            continue;
        mb->cache_next = mb->hdr.cache_used;
        for (unsigned i = 0; i < gr->n && r == 0; i++) {
            struct mb_append_item *it = &gr->items[i];
            const void *blob = it->blob;
            size_t len = it->blob_len;
            if (it->blob_fd >= 0) {
                r = mb_cache_read_fd(it->blob_fd, &it->blob_rec, &scratch, &err);
                if (r < 0)
                    break;
                blob = scratch.data;
                len = scratch.len;
            }
            r = mb_cache_append(mb, it->uid, blob, len, &it->rec.cache_offset, &err);
            it->rec.cache_len = (uint32_t)len;
        }
        if (r == 0)
            r = mb_cache_sync(mb, &err);
        if (r < 0) {
            mb_group_fail(gr, r, err);
            mb_group_unlink(gr, gr->n);
        }
    }
    /* 4. records and the commit */
    for (unsigned g = 0; g < ngroups; g++) {
        struct mb_append_group *gr = &groups[g];
        struct mailbox *mb = gr->mb;
        if (gr->result != 0)
            continue;
        struct index_header saved = mb->hdr;
        struct mailbox_record *recs = xcalloc(gr->n, sizeof(*recs));
        uint64_t modseq = mb->hdr.highestmodseq + 1;
        for (unsigned i = 0; i < gr->n; i++) {
            recs[i] = gr->items[i].rec;
            recs[i].uid = gr->items[i].uid;
            recs[i].modseq = modseq;
            recs[i].change_time = now;
            recs[i].system_flags &= MAILBOX_SYSTEM_FLAGS;
            mb_counts_apply(&mb->hdr, &recs[i], 1);
        }
        int r = mb_index_write_records(mb, mb->hdr.num_records, recs, gr->n, &err);
        if (r == 0) {
            mb->hdr.num_records += gr->n;
            mb->hdr.uidnext += gr->n;
            mb->hdr.highestmodseq = modseq;
            mb->hdr.cache_used = mb->cache_next;
            r = mb_index_commit(mb, &err);
        }
        free(recs);
        if (r < 0) {
            /* the header may or may not have reached the disk: put the old
             * one back so that the files we remove are not referenced */
            mb->hdr = saved;
            const char *err2 = NULL;
            (void)mb_index_write_header(mb, &err2);
            mb_group_fail(gr, r, err);
            mb_group_unlink(gr, gr->n);
        }
    }
    buf_free(&scratch);
}

/* ------------------------------------------------------------------------
 * mailbox_append: IMAP APPEND and MULTIAPPEND
 */

int mailbox_append(struct mailbox *mb, const struct mailbox_append_msg *msgs, unsigned n,
                   const char *userid, unsigned flags, uint32_t *uidvalidity_r,
                   uint32_t *uids_r, const char **error_r)
{
    struct stage **own = NULL;
    struct mb_append_item *items = NULL;
    struct buf root = BUF_INIT;
    struct seqset seen_add;
    bool have_root = false;
    bool owner = mb_is_owner(mb, userid);
    uint64_t total = 0;
    int64_t now = (int64_t)time(NULL);
    int r = 0;

    seqset_init(&seen_add);
    if (n == 0)
        return 0;
    if (n > MAILBOX_BATCH_MAX)
        return mb_fail(error_r, STORE_ERR_LIMIT, "too many messages in one append");
    if (mb->readonly)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: opened read-only", mb->name);

    own = xcalloc(n, sizeof(*own));
    items = xcalloc(n, sizeof(*items));
    for (unsigned i = 0; i < n; i++) {
        const struct stage *st = msgs[i].stage;
        if (st == NULL) {
            r = stage_from_data(mb->store, mb->partition, msgs[i].data, msgs[i].len, &own[i],
                                error_r);
            if (r < 0)
                goto out;
            st = own[i];
        } else if (!st->finished) {
            r = mb_fail(error_r, STORE_ERR_INTERNAL, "append of an unfinished stage");
            goto out;
        }
        struct mb_append_item *it = &items[i];
        it->src_dirfd = st->dirfd;
        str_copy(it->src_file, sizeof(it->src_file), st->name);
        it->src_same_fs = strcmp(st->partition, mb->partition) == 0;
        it->blob = st->blob.data;
        it->blob_len = st->blob.len;
        it->blob_fd = -1;
        mb_stage_fill_record(st, &it->rec);
        it->rec.internaldate = msgs[i].internaldate != 0 ? (int64_t)msgs[i].internaldate : now;
        it->rec.system_flags = msgs[i].flags & MAILBOX_SYSTEM_FLAGS;
        if (!owner)
            it->rec.system_flags &= ~MAILBOX_FLAG_SEEN;
        total += st->size;
    }

    if ((r = mb_quota_root(mb->store, mb->name, &root, error_r)) < 0)
        goto out;
    have_root = r > 0;
    r = 0;
    if (have_root && (flags & MAILBOX_IGNORE_QUOTA) == 0) {
        const char *err = NULL;
        r = quota_check(mb->store, NULL, buf_cstr(&root), (int64_t)total, n, &err);
        if (r == STORE_ERR_OVERQUOTA) {
            r = mb_fail(error_r, STORE_ERR_OVERQUOTA, "%s: over quota", mb->name);
            goto out;
        }
        if (r < 0) {
            r = mb_fail(error_r, STORE_ERR_INTERNAL, "%s: quota: %s", mb->name,
                        err != NULL ? err : "check failed");
            goto out;
        }
    }

    if ((r = mb_lock(mb, true, error_r)) < 0)
        goto out;
    for (unsigned i = 0; i < n && r == 0; i++)
        r = mb_keywords_resolve(mb, msgs[i].keywords, msgs[i].nkeywords, &items[i].rec.keywords,
                                error_r);
    if (r == 0) {
        struct mb_append_group g = { .mb = mb, .items = items, .n = n };
        mb_append_commit(&g, 1);
        r = g.result;
        if (r < 0)
            mb_fail(error_r, r, "%s", g.error);
    }
    mb_unlock(mb);
    if (r < 0)
        goto out;

    for (unsigned i = 0; i < n; i++) {
        uids_r[i] = items[i].uid;
        if (!owner && (msgs[i].flags & MAILBOX_FLAG_SEEN) != 0)
            seqset_add(&seen_add, items[i].uid);
    }
    *uidvalidity_r = mb->hdr.uidvalidity;
    if (have_root)
        mb_quota_charge(mb->store, buf_cstr(&root), (int64_t)total, n);
    if (!seqset_is_empty(&seen_add)) {
        const char *err = NULL;
        if (mb_seen_update(mb->store, userid, mb->uniqueid, &seen_add, NULL, &err) < 0)
            log_warning("mailbox %s: \\Seen of appended messages not recorded: %s", mb->name,
                        err);
    }
out:
    for (unsigned i = 0; i < n; i++)
        stage_free(&own[i]);
    free(own);
    free(items);
    buf_free(&root);
    seqset_free(&seen_add);
    return r;
}

/* ------------------------------------------------------------------------
 * mailbox_append_staged: one message, many mailboxes
 */

struct mb_target_slot {
    struct mailbox_append_target *t;
    struct mailbox *mb;
    bool opened;               /* we opened mb and close it */
    char *root;                /* quota root, NULL none */
    unsigned group, item;
};

static int mb_slot_cmp(const void *a, const void *b)
{
    const struct mb_target_slot *x = a, *y = b;
    if (x->mb == NULL || y->mb == NULL)
        return (x->mb == NULL) - (y->mb == NULL);
    return strcmp(x->mb->uniqueid, y->mb->uniqueid);
}

static void mb_target_fail(struct mailbox_append_target *t, int code, const char *error)
{
    t->result = code < 0 ? code : STORE_ERR_INTERNAL;
    snprintf(t->error, sizeof(t->error), "%s", error != NULL ? error : "failed");
}

int mailbox_append_staged(struct store *store, struct stage *stage,
                          struct mailbox_append_target *targets, unsigned n, unsigned flags,
                          const char **error_r)
{
    struct mb_target_slot *slots;
    struct mb_append_group *groups;
    struct mb_append_item *items;
    unsigned ngroups = 0;
    int64_t now = (int64_t)time(NULL);
    const char *err = NULL;

    if (stage == NULL || !stage->finished)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "delivery of an unfinished stage");
    if (n == 0)
        return 0;
    if (n > MAILBOX_BATCH_MAX)
        return mb_fail(error_r, STORE_ERR_LIMIT, "too many targets");
    slots = xcalloc(n, sizeof(*slots));
    groups = xcalloc(n, sizeof(*groups));
    items = xcalloc(n, sizeof(*items));

    /* open and check quota, target by target */
    for (unsigned i = 0; i < n; i++) {
        struct mailbox_append_target *t = &targets[i];
        struct mb_target_slot *s = &slots[i];
        t->result = 0;
        t->error[0] = '\0';
        t->uid = t->uidvalidity = 0;
        s->t = t;
        s->mb = t->mb;
        if (s->mb == NULL) {
            int r = mailbox_open(store, t->name != NULL ? t->name : "", MAILBOX_READWRITE,
                                 &s->mb, &err);
            if (r < 0) {
                mb_target_fail(t, r, err);
                continue;
            }
            s->opened = true;
        } else if (s->mb->readonly) {
            mb_target_fail(t, STORE_ERR_INTERNAL, "mailbox opened read-only");
            s->mb = NULL;
            continue;
        }
        struct buf root = BUF_INIT;
        int r = mb_quota_root(store, s->mb->name, &root, &err);
        if (r < 0) {
            mb_target_fail(t, r, err);
        } else if (r > 0) {
            s->root = buf_release(&root);
            if ((flags & MAILBOX_IGNORE_QUOTA) == 0) {
                r = quota_check(store, NULL, s->root, (int64_t)stage->size, 1, &err);
                if (r == STORE_ERR_OVERQUOTA)
                    mb_target_fail(t, r, "over quota");
                else if (r < 0)
                    mb_target_fail(t, STORE_ERR_INTERNAL, err);
            }
        }
        buf_free(&root);
    }

    /* group by mailbox, in uniqueid order (the lock order); the items of
     * one group are contiguous because the slots are sorted */
    qsort(slots, n, sizeof(*slots), mb_slot_cmp);
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        struct mb_target_slot *s = &slots[i];
        if (s->mb == NULL || s->t->result != 0)
            continue;
        struct mb_append_group *g;
        if (ngroups > 0 && strcmp(groups[ngroups - 1].mb->uniqueid, s->mb->uniqueid) == 0) {
            g = &groups[ngroups - 1];
        } else {
            g = &groups[ngroups++];
            g->mb = s->mb;
            g->items = &items[k];
            g->n = 0;
        }
        struct mb_append_item *it = &items[k];
        it->src_dirfd = stage->dirfd;
        str_copy(it->src_file, sizeof(it->src_file), stage->name);
        it->src_same_fs = strcmp(stage->partition, g->mb->partition) == 0;
        it->blob = stage->blob.data;
        it->blob_len = stage->blob.len;
        it->blob_fd = -1;
        mb_stage_fill_record(stage, &it->rec);
        it->rec.internaldate = s->t->internaldate != 0 ? (int64_t)s->t->internaldate : now;
        it->rec.system_flags = s->t->flags & MAILBOX_SYSTEM_FLAGS;
        s->group = (unsigned)(g - groups);
        s->item = k++;
        g->n++;
    }

    /* lock in order; resolve keywords and \Seen per target */
    for (unsigned g = 0; g < ngroups; g++) {
        int r = mb_lock(groups[g].mb, true, &err);
        if (r < 0)
            mb_group_fail(&groups[g], r, err);
    }
    for (unsigned i = 0; i < n; i++) {
        struct mb_target_slot *s = &slots[i];
        if (s->mb == NULL || s->t->result != 0)
            continue;
        struct mb_append_group *g = &groups[s->group];
        struct mb_append_item *it = &items[s->item];
        if (g->result != 0)
            continue;
        if (!mb_is_owner(g->mb, s->t->userid))
            it->rec.system_flags &= ~MAILBOX_FLAG_SEEN;
        int r = mb_keywords_resolve(g->mb, s->t->keywords, s->t->nkeywords, &it->rec.keywords,
                                    &err);
        if (r < 0)
            mb_group_fail(g, r, err);
    }
    mb_append_commit(groups, ngroups);
    for (unsigned g = 0; g < ngroups; g++)
        mb_unlock(groups[g].mb);

    /* results, quota, seen */
    for (unsigned i = 0; i < n; i++) {
        struct mb_target_slot *s = &slots[i];
        if (s->mb == NULL || s->t->result != 0)
            continue;
        struct mb_append_group *g = &groups[s->group];
        struct mb_append_item *it = &items[s->item];
        if (g->result != 0) {
            mb_target_fail(s->t, g->result, g->error);
            continue;
        }
        s->t->uid = it->uid;
        s->t->uidvalidity = g->mb->hdr.uidvalidity;
        if (s->root != NULL)
            mb_quota_charge(store, s->root, (int64_t)stage->size, 1);
        if (!mb_is_owner(g->mb, s->t->userid) && (s->t->flags & MAILBOX_FLAG_SEEN) != 0) {
            struct seqset add;
            seqset_init(&add);
            seqset_add(&add, it->uid);
            if (mb_seen_update(store, s->t->userid, g->mb->uniqueid, &add, NULL, &err) < 0)
                log_warning("mailbox %s: \\Seen of a delivered message not recorded: %s",
                            g->mb->name, err);
            seqset_free(&add);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (slots[i].opened)
            mailbox_close(&slots[i].mb);
        free(slots[i].root);
    }
    free(slots);
    free(groups);
    free(items);
    return 0;
}
