/* reconstruct.c - rebuild one mailbox's index, header and cache from its
 *                 message files.
 *
 * SYNOPSIS
 *   reconstruct_mailbox(store, "user.bob", &opts, &result, &error);
 *
 * DESCRIPTION
 *   Under the mailbox's exclusive lock (mb_lock_raw: the index may be too
 *   damaged for mb_lock), in this order:
 *     1. read what survives: the old index header and every record whose
 *        checksum and UID order are intact (the UIDs in the place of
 *        damaged or truncated records are remembered as "uncertain"), and
 *        the old roost.header (keyword names, UIDVALIDITY);
 *     2. list the message files "<uid>." and the cache generations;
 *     3. write a new cache generation and roost.index.NEW: every message
 *        file parsed, hashed and measured again, with flags, keywords,
 *        MODSEQ and dates from its intact old record; files without one are
 *        new messages (renamed to a new UID when their UID was certainly not
 *        in use, see reconstruct.h); records without a file are dropped;
 *     4. sync the cache, finish the index (header with recounted counts,
 *        fdatasync), write roost.header (temp + fsync + rename), rename the
 *        new index over roost.index (the commit), fsync the directory,
 *        remove the old cache generations;
 *     5. check that the mailbox opens, and recount its quota root.
 *   A crash before the commit leaves the old files in place (plus garbage
 *   the next cleanup removes); a crash after it leaves the new ones.
 *
 *   MODSEQs: a record that is new or whose file changed gets HIGHESTMODSEQ
 *   + 1, as does a rebuild that dropped records (DELETEDMODSEQ is raised to
 *   it, so QRESYNC clients resynchronise what they cannot be told).
 */
#include "reconstruct.h"

#include "mailbox_private.h"

#include "buf.h"
#include "log.h"
#include "mboxlist.h"
#include "pool.h"
#include "quota.h"
#include "quota_recount.h"
#include "seqset.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RC_UID_MAX (UINT32_MAX - 1)

struct rc {
    struct store *store;
    const struct reconstruct_options *opts;
    struct reconstruct_progress *progress;
    struct reconstruct_result *res;
    const struct mboxlist_entry *entry;
    int dirfd;
    int64_t now;

    /* what survives of the old metadata */
    bool have_ih;
    struct index_header ih;
    bool have_mh;
    struct mb_header mh;
    unsigned char *map;
    size_t map_len;
    uint32_t *pos;             /* positions of intact records, increasing UIDs */
    uint32_t npos;
    bool *used;                /* per intact record: it went into the new index */
    struct seqset uncertain;   /* UIDs whose records may have been lost */
    uint64_t max_modseq;

    /* the directory */
    uint32_t *files;           /* message file UIDs, sorted */
    size_t nfiles, files_alloc;
    uint32_t *cache_gens;      /* roost.cache.N files found */
    size_t ncache_gens, cache_gens_alloc;

    /* the new files */
    struct index_header nh;
    int cache_fd;
    uint32_t cache_gen;
    uint64_t cache_next;
    struct mb_index_writer w;
    bool writer_open;
    uint64_t new_modseq;
    bool changed;
    uint32_t max_kept_uid;
    struct buf blob;
};

static void rc_note(struct rc *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rc_note(struct rc *rc, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_info("reconstruct %s: %s", rc->entry->name, text);
    if (rc->opts->note != NULL)
        rc->opts->note(rc->entry->name, text, rc->opts->ctx);
}

/* ------------------------------------------------------------------------
 * 1. What survives
 */

static uint32_t rc_old_uid(const struct rc *rc, uint32_t k)
{
    return mb_get32(rc->map + INDEX_HEADER_SIZE + (size_t)rc->pos[k] * INDEX_RECORD_SIZE);
}

/* The intact old record of uid: its position in pos[] or -1. */
static int64_t rc_old_find(const struct rc *rc, uint32_t uid)
{
    uint32_t lo = 0, hi = rc->npos;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t u = rc_old_uid(rc, mid);
        if (u == uid)
            return mid;
        if (u < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void rc_old_record(const struct rc *rc, uint32_t k, struct mailbox_record *r)
{
    if (mb_record_decode(rc->map + INDEX_HEADER_SIZE + (size_t)rc->pos[k] * INDEX_RECORD_SIZE,
                         r) < 0)
        log_panic("reconstruct: an intact record changed under the lock");
}

static int rc_read_index(struct rc *rc, int fd, const char **error_r)
{
    struct stat st;
    const char *err = NULL;

    if (fstat(fd, &st) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fstat roost.index",
                             rc->entry->name);
    if (st.st_size < INDEX_HEADER_SIZE) {
        rc_note(rc, "roost.index is missing or truncated: rebuilt from the message files");
        rc->res->index_damaged = true;
        return 0;
    }
    if ((uint64_t)st.st_size > SIZE_MAX)
        return mb_fail(error_r, STORE_ERR_LIMIT, "%s: roost.index too large", rc->entry->name);
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: mmap roost.index",
                             rc->entry->name);
    rc->map = p;
    rc->map_len = (size_t)st.st_size;
    if (mb_index_header_decode(rc->map, &rc->ih, &err) == 0) {
        rc->have_ih = true;
    } else {
        rc_note(rc, "%s: index header not used", err);
        rc->res->index_damaged = true;
    }

    uint64_t in_file = (rc->map_len - INDEX_HEADER_SIZE) / INDEX_RECORD_SIZE;
    uint64_t limit = in_file;
    if (rc->have_ih && rc->ih.num_records < limit)
        limit = rc->ih.num_records;   /* past it: an append that never committed */
    if (rc->have_ih && in_file < rc->ih.num_records)
        rc_note(rc, "roost.index is truncated: %llu of %u records left",
                (unsigned long long)in_file, rc->ih.num_records);
    if (limit > INDEX_MAX_RECORDS)
        limit = INDEX_MAX_RECORDS;
    rc->pos = xcalloc(limit > 0 ? limit : 1, sizeof(*rc->pos));
    uint32_t prev = 0, damaged = 0;
    bool gap = false;
    for (uint32_t i = 0; i < limit; i++) {
        struct mailbox_record r;
        const unsigned char *raw = rc->map + INDEX_HEADER_SIZE + (size_t)i * INDEX_RECORD_SIZE;
        if (mb_record_decode(raw, &r) < 0 || r.uid <= prev || r.uid > RC_UID_MAX ||
            (rc->have_ih && r.uid >= rc->ih.uidnext)) {
            damaged++;
            gap = true;
            continue;
        }
        if (gap && r.uid - 1 >= prev + 1)
            seqset_add_range(&rc->uncertain, prev + 1, r.uid - 1);
        gap = false;
        rc->pos[rc->npos++] = i;
        prev = r.uid;
        if (r.modseq > rc->max_modseq)
            rc->max_modseq = r.modseq;
    }
    if (rc->have_ih && (gap || in_file < rc->ih.num_records) && rc->ih.uidnext - 1 >= prev + 1)
        seqset_add_range(&rc->uncertain, prev + 1, rc->ih.uidnext - 1);
    if (damaged > 0)
        rc_note(rc, "%u damaged index record%s not used", damaged, damaged == 1 ? "" : "s");
    rc->used = xcalloc(rc->npos > 0 ? rc->npos : 1, sizeof(*rc->used));
    return 0;
}

static void rc_read_header(struct rc *rc)
{
    const char *err = NULL;

    if (mb_header_read(rc->dirfd, &rc->mh, NULL, &err) == 0) {
        rc->have_mh = true;
        if (strcmp(rc->mh.uniqueid, rc->entry->uniqueid) != 0)
            rc_note(rc, "roost.header named uniqueid %s; rewritten as %s", rc->mh.uniqueid,
                    rc->entry->uniqueid);
        return;
    }
    rc->res->header_damaged = true;
    rc_note(rc, "%s: rebuilt (keyword names are lost)", err);
}

/* UIDVALIDITY: the index header's, else roost.header's, else a new one. */
static void rc_choose_uidvalidity(struct rc *rc)
{
    struct reconstruct_result *res = rc->res;

    res->uidvalidity_kept = true;
    if (rc->have_ih) {
        res->uidvalidity = rc->ih.uidvalidity;
        if (rc->have_mh && rc->mh.uidvalidity != rc->ih.uidvalidity)
            rc_note(rc, "roost.header had UIDVALIDITY %u, the index %u: the index's kept",
                    rc->mh.uidvalidity, rc->ih.uidvalidity);
    } else if (rc->have_mh) {
        res->uidvalidity = rc->mh.uidvalidity;
    } else {
        res->uidvalidity = mb_new_uidvalidity(rc->store);
        res->uidvalidity_kept = false;
        rc_note(rc, "UIDVALIDITY lost: new UIDVALIDITY %u", res->uidvalidity);
    }
}

/* ------------------------------------------------------------------------
 * 2. The directory
 */

static bool rc_parse_number(const char *s, size_t len, uint64_t max, uint64_t *v_r)
{
    return len > 0 && len <= 10 && str_to_u64_n(s, len, max, v_r) == 0;
}

static int rc_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int rc_list_dir(struct rc *rc, const char **error_r)
{
    int fd = openat(rc->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

    if (d == NULL) {
        int r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: read the mailbox directory",
                              rc->entry->name);
        if (fd >= 0)
            close(fd);
        return r;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        uint64_t v;
        struct stat st;

        if (len >= 2 && n[len - 1] == '.' && rc_parse_number(n, len - 1, RC_UID_MAX, &v) &&
            v > 0) {
            if (fstatat(rc->dirfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                continue;
            if (rc->nfiles == rc->files_alloc) {
                rc->files_alloc = rc->files_alloc == 0 ? 256 : rc->files_alloc * 2;
                rc->files = xreallocarray(rc->files, rc->files_alloc, sizeof(*rc->files));
            }
            rc->files[rc->nfiles++] = (uint32_t)v;
        } else if (str_has_prefix(n, MB_CACHE_PREFIX) &&
                   rc_parse_number(n + strlen(MB_CACHE_PREFIX), len - strlen(MB_CACHE_PREFIX),
                                   UINT32_MAX, &v)) {
            if (rc->ncache_gens == rc->cache_gens_alloc) {
                rc->cache_gens_alloc = rc->cache_gens_alloc == 0 ? 4 : rc->cache_gens_alloc * 2;
                rc->cache_gens = xreallocarray(rc->cache_gens, rc->cache_gens_alloc,
                                               sizeof(*rc->cache_gens));
            }
            rc->cache_gens[rc->ncache_gens++] = (uint32_t)v;
        }
    }
    closedir(d);
    if (rc->nfiles > INDEX_MAX_RECORDS)
        return mb_fail(error_r, STORE_ERR_LIMIT, "%s: more message files than an index holds",
                       rc->entry->name);
    if (rc->nfiles > 0)
        qsort(rc->files, rc->nfiles, sizeof(*rc->files), rc_cmp_u32);
    return 0;
}

/* ------------------------------------------------------------------------
 * 3. The new index and cache
 */

/* May message file uid keep its UID (see reconstruct.h)? */
static bool rc_keeps_uid(const struct rc *rc, uint32_t uid)
{
    if (!rc->res->uidvalidity_kept || !rc->have_ih || uid >= rc->ih.uidnext)
        return true;
    return rc_old_find(rc, uid) >= 0 || seqset_contains(&rc->uncertain, uid);
}

/* Drop keyword bits without a name; true when some were dropped. */
static bool rc_mask_keywords(struct rc *rc, struct mailbox_keywords *kw)
{
    struct mailbox_keywords mask = { { 0, 0 } };
    unsigned n = rc->have_mh ? rc->mh.nkeywords : 0;
    bool lost;

    for (unsigned i = 0; i < n; i++)
        mask.bits[i / 64] |= (uint64_t)1 << (i % 64);
    lost = (kw->bits[0] & ~mask.bits[0]) != 0 || (kw->bits[1] & ~mask.bits[1]) != 0;
    if (lost)
        rc->res->keywords_lost = true;
    kw->bits[0] &= mask.bits[0];
    kw->bits[1] &= mask.bits[1];
    return lost;
}

/* A file that cannot be indexed: keep it out of every cleanup's way. */
static int rc_set_aside(struct rc *rc, const char *file, uint32_t uid, const char *why,
                        const char **error_r)
{
    char aside[32];

    snprintf(aside, sizeof(aside), "%u.unindexed", uid);
    if (renameat(rc->dirfd, file, rc->dirfd, aside) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: rename %s", rc->entry->name,
                             file);
    rc->res->unindexed++;
    rc_note(rc, "message file %s cannot be indexed (%s): renamed %s", file, why, aside);
    return 0;
}

/* Read, hash and parse message file uid into rec (content fields) and
 * rc->blob.  1 done, 0 set aside, or an error. */
static int rc_describe_file(struct rc *rc, uint32_t uid, struct mailbox_record *rec,
                            int64_t *mtime_r, const char **error_r)
{
    char file[16];
    struct stat st;
    const char *err = NULL;

    mb_message_name(uid, file);
    int fd = openat(rc->dirfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        int r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: open %s", rc->entry->name, file);
        if (fd >= 0)
            close(fd);
        return r;
    }
    *mtime_r = (int64_t)st.st_mtime;
    if ((uint64_t)st.st_size > MAILBOX_MESSAGE_MAX || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return rc_set_aside(rc, file, uid, "too large", error_r);
    }
    size_t len = (size_t)st.st_size;
    const char *data = "";
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: mmap %s", rc->entry->name,
                                  file);
            close(fd);
            return r;
        }
        data = map;
    }
    close(fd);
    int r = mb_message_describe(data, len, &rc->blob, rec, &err);
    if (r == 0)
        mb_sha1(data, len, rec->guid);
    if (map != NULL)
        munmap(map, len);
    if (r == STORE_ERR_LIMIT)
        return rc_set_aside(rc, file, uid, err, error_r);
    if (r < 0)
        return mb_fail(error_r, r, "%s: %s: %s", rc->entry->name, file, err);
    return 1;
}

/* Put message file `file_uid` into the new index as UID `uid`. */
static int rc_add_message(struct rc *rc, uint32_t file_uid, uint32_t uid, const char **error_r)
{
    struct mailbox_record rec;
    int64_t mtime = 0;
    const char *err = NULL;
    int r = rc_describe_file(rc, file_uid, &rec, &mtime, error_r);

    if (r <= 0)
        return r;
    if (uid != file_uid) {
        char from[16], to[16];
        mb_message_name(file_uid, from);
        mb_message_name(uid, to);
        if (linkat(rc->dirfd, from, rc->dirfd, to, 0) < 0 || unlinkat(rc->dirfd, from, 0) < 0)
            return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: rename %s to %s",
                                 rc->entry->name, from, to);
        rc->res->renumbered++;
        rc_note(rc, "message file %s (no record) added as new UID %u", from, uid);
    }
    rec.uid = uid;
    int64_t k = uid == file_uid ? rc_old_find(rc, uid) : -1;
    if (k >= 0) {
        struct mailbox_record old;
        rc_old_record(rc, (uint32_t)k, &old);
        rc->used[k] = true;
        rec.system_flags = old.system_flags;
        rec.internaldate = old.internaldate;
        rec.modseq = old.modseq;
        rec.change_time = old.change_time;
        rec.keywords = old.keywords;
        if (rc_mask_keywords(rc, &rec.keywords)) {
            /* its keywords changed: CONDSTORE clients must hear of it */
            rec.modseq = rc->new_modseq;
            rc->changed = true;
        }
        if (old.size != rec.size || memcmp(old.guid, rec.guid, sizeof(rec.guid)) != 0) {
            rc->res->changed++;
            rec.modseq = rc->new_modseq;
            rec.change_time = rc->now;
            rc->changed = true;
            rc_note(rc, "UID %u: the message file does not match its record (size %llu, "
                    "was %llu): record updated", uid, (unsigned long long)rec.size,
                    (unsigned long long)old.size);
        }
        rc->res->kept++;
        if (uid > rc->max_kept_uid)
            rc->max_kept_uid = uid;
    } else {
        rec.internaldate = mtime;
        rec.modseq = rc->new_modseq;
        rec.change_time = rc->now;
        rc->res->added++;
        rc->changed = true;
    }
    uint64_t off = rc->cache_next;
    r = mb_cache_write_entry(rc->cache_fd, off, uid, rc->blob.data, rc->blob.len,
                             &rc->cache_next, &err);
    if (r < 0)
        return mb_fail(error_r, r, "%s: %s", rc->entry->name, err);
    rec.cache_offset = off;
    rec.cache_len = (uint32_t)rc->blob.len;
    if ((r = mb_index_writer_add(&rc->w, &rec, error_r)) < 0)
        return r;
    rc->nh.num_records++;
    mb_counts_apply(&rc->nh, &rec, 1);
    if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0 &&
        (rc->nh.first_expunge == 0 || rec.change_time < rc->nh.first_expunge))
        rc->nh.first_expunge = rec.change_time > 0 ? rec.change_time : 1;
    if (uid >= rc->nh.uidnext)
        rc->nh.uidnext = uid + 1;
    return 0;
}

static void rc_report_progress(struct rc *rc)
{
    rc->progress->messages_done++;
    if (rc->opts->progress != NULL)
        rc->opts->progress(rc->progress, rc->opts->ctx);
}

/* Every message file into the new index: those keeping their UID first (in
 * order), then the renumbered ones above them. */
static int rc_add_messages(struct rc *rc, const char **error_r)
{
    uint32_t *later = xcalloc(rc->nfiles > 0 ? rc->nfiles : 1, sizeof(*later));
    size_t nlater = 0;
    int r = 0;

    for (size_t i = 0; i < rc->nfiles && r == 0; i++) {
        if (!rc_keeps_uid(rc, rc->files[i])) {
            later[nlater++] = rc->files[i];
            continue;
        }
        r = rc_add_message(rc, rc->files[i], rc->files[i], error_r);
        rc_report_progress(rc);
    }
    uint64_t next = rc->have_ih ? rc->ih.uidnext : 1;
    if (rc->nfiles > 0 && (uint64_t)rc->files[rc->nfiles - 1] + 1 > next)
        next = (uint64_t)rc->files[rc->nfiles - 1] + 1;
    for (size_t i = 0; i < nlater && r == 0; i++) {
        if (next > RC_UID_MAX) {
            r = mb_fail(error_r, STORE_ERR_LIMIT, "%s: UIDs exhausted", rc->entry->name);
            break;
        }
        r = rc_add_message(rc, later[i], (uint32_t)next++, error_r);
        rc_report_progress(rc);
    }
    free(later);
    return r;
}

/* Old records that found no message file. */
static void rc_drop_missing(struct rc *rc)
{
    for (uint32_t k = 0; k < rc->npos; k++) {
        struct mailbox_record old;
        if (rc->used[k])
            continue;
        rc_old_record(rc, k, &old);
        if ((old.system_flags & MAILBOX_FLAG_EXPUNGED) != 0) {
            /* expunged and waiting for the cleanup: simply forgotten */
            if (old.modseq > rc->nh.deletedmodseq)
                rc->nh.deletedmodseq = old.modseq;
            continue;
        }
        rc->res->dropped++;
        rc->changed = true;
        rc->nh.deletedmodseq = rc->new_modseq;
        rc_note(rc, "UID %u: message file missing: record dropped", old.uid);
    }
}

static void rc_init_header(struct rc *rc)
{
    struct index_header *nh = &rc->nh;
    uint64_t base = rc->have_ih ? rc->ih.highestmodseq : 1;

    if (rc->max_modseq > base)
        base = rc->max_modseq;
    rc->new_modseq = base + 1;
    memset(nh, 0, sizeof(*nh));
    nh->generation = rc->have_ih ? rc->ih.generation + 1 : (uint32_t)rc->now;
    if (nh->generation == 0)
        nh->generation = 1;
    nh->uidvalidity = rc->res->uidvalidity;
    nh->uidnext = rc->have_ih ? rc->ih.uidnext : 1;
    nh->highestmodseq = base;
    nh->deletedmodseq = rc->have_ih ? rc->ih.deletedmodseq : 0;
    if (nh->deletedmodseq > base)
        nh->deletedmodseq = base;
    nh->cache_generation = rc->cache_gen;
    nh->cache_used = CACHE_HEADER_SIZE;
}

static void rc_finish_header(struct rc *rc)
{
    struct index_header *nh = &rc->nh;

    if (rc->changed)
        nh->highestmodseq = rc->new_modseq;
    nh->recent_uid = rc->have_ih ? rc->ih.recent_uid : rc->max_kept_uid;
    if (nh->recent_uid >= nh->uidnext)
        nh->recent_uid = nh->uidnext - 1;
    nh->cache_used = rc->cache_next;
    nh->flags = 0;
}

static uint32_t rc_new_cache_generation(const struct rc *rc)
{
    uint32_t g = rc->have_ih ? rc->ih.cache_generation : 0;

    for (size_t i = 0; i < rc->ncache_gens; i++) {
        if (rc->cache_gens[i] > g)
            g = rc->cache_gens[i];
    }
    return g == UINT32_MAX ? 1 : g + 1;
}

/* ------------------------------------------------------------------------
 * 4. Commit
 */

static int rc_write_header(struct rc *rc, const char **error_r)
{
    struct mb_header h;
    struct buf root = BUF_INIT;
    const char *err = NULL;
    int r = mb_quota_root(rc->store, rc->entry->name, &root, &err);

    if (r < 0) {
        buf_free(&root);
        return mb_fail(error_r, r, "%s", err);
    }
    memset(&h, 0, sizeof(h));
    h.uidvalidity = rc->res->uidvalidity;
    h.uniqueid = (char *)rc->entry->uniqueid;
    h.name = (char *)rc->entry->name;
    h.acl = (char *)(rc->entry->acl != NULL ? rc->entry->acl : "");
    h.quotaroot = (char *)buf_cstr(&root);
    if (rc->have_mh) {
        h.nkeywords = rc->mh.nkeywords;
        memcpy(h.keywords, rc->mh.keywords, sizeof(h.keywords));
    }
    r = mb_header_write(rc->dirfd, &h, &err);
    buf_free(&root);
    if (r < 0)
        return mb_fail(error_r, r, "%s: %s", rc->entry->name, err);
    return 0;
}

static void rc_remove_old_caches(struct rc *rc)
{
    for (size_t i = 0; i < rc->ncache_gens; i++) {
        char name[32];
        if (rc->cache_gens[i] == rc->cache_gen)
            continue;
        mb_cache_name(rc->cache_gens[i], name);
        if (unlinkat(rc->dirfd, name, 0) < 0 && errno != ENOENT)
            log_warning("reconstruct %s: cannot remove %s: %s", rc->entry->name, name,
                        strerror(errno));
    }
    const char *err = NULL;
    (void)mb_fsync_dir(rc->dirfd, &err);
}

static int rc_build_and_commit(struct rc *rc, const char **error_r)
{
    const char *err = NULL;
    int r;

    rc->cache_gen = rc_new_cache_generation(rc);
    if ((r = mb_cache_create(rc->dirfd, rc->cache_gen, &rc->cache_fd, &err)) < 0)
        return mb_fail(error_r, r, "%s: %s", rc->entry->name, err);
    rc->cache_next = CACHE_HEADER_SIZE;
    if ((r = mb_index_writer_begin(&rc->w, rc->dirfd, MB_INDEX_TMP_FILE, &err)) < 0)
        return mb_fail(error_r, r, "%s: %s", rc->entry->name, err);
    rc->writer_open = true;
    rc_init_header(rc);
    if ((r = rc_add_messages(rc, error_r)) < 0)
        return r;
    rc_drop_missing(rc);
    rc_finish_header(rc);
    if (fdatasync(rc->cache_fd) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fsync the new cache",
                             rc->entry->name);
    if ((r = mb_fsync_dir(rc->dirfd, &err)) < 0)   /* renamed message files */
        return mb_fail(error_r, r, "%s: %s", rc->entry->name, err);
    if ((r = mb_index_writer_finish(&rc->w, &rc->nh, &err)) < 0)
        return mb_fail(error_r, r, "%s: %s", rc->entry->name, err);
    if ((r = rc_write_header(rc, error_r)) < 0)
        return r;
    /* the commit */
    if (renameat(rc->dirfd, MB_INDEX_TMP_FILE, rc->dirfd, MB_INDEX_FILE) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: rename the new index",
                             rc->entry->name);
    rc->writer_open = false;   /* w.fd now is roost.index, still locked */
    if ((r = mb_fsync_dir(rc->dirfd, &err)) < 0)
        log_warning("reconstruct %s: %s", rc->entry->name, err);
    rc_remove_old_caches(rc);
    return 0;
}

/* After a failure: remove what was written and not committed. */
static void rc_abort(struct rc *rc)
{
    if (rc->writer_open)
        mb_index_writer_abort(&rc->w);
    rc->writer_open = false;
    if (rc->cache_fd >= 0 && rc->cache_gen != 0) {
        char name[32];
        mb_cache_name(rc->cache_gen, name);
        unlinkat(rc->dirfd, name, 0);
    }
}

static void rc_free(struct rc *rc)
{
    if (rc->w.fd >= 0)
        close(rc->w.fd);
    if (rc->cache_fd >= 0)
        close(rc->cache_fd);
    if (rc->map != NULL)
        munmap(rc->map, rc->map_len);
    mb_header_free(&rc->mh);
    seqset_free(&rc->uncertain);
    free(rc->pos);
    free(rc->used);
    free(rc->files);
    free(rc->cache_gens);
    buf_free(&rc->blob);
}

/* ------------------------------------------------------------------------
 * 5. Check and quota
 */

static void rc_fix_quota(struct rc *rc)
{
    struct buf root = BUF_INIT;
    struct quota_recount qr;
    const char *err = NULL;

    int r = mb_quota_root(rc->store, rc->entry->name, &root, &err);
    if (r > 0)
        r = quota_recount_root(rc->store, buf_cstr(&root), true, &qr, &err);
    if (r < 0)
        rc_note(rc, "quota root not recounted: %s", err);
    else if (r == 0 && root.len > 0 && qr.fixed)
        rc_note(rc, "quota root %s: usage was %lld bytes in %lld messages, now %lld in %lld",
                buf_cstr(&root), (long long)qr.stored.used_bytes,
                (long long)qr.stored.used_messages, (long long)qr.bytes,
                (long long)qr.messages);
    else if (r == 0 && root.len > 0 && qr.unreadable > 0)
        rc_note(rc, "quota root %s not fixed: %u mailbox%s under it cannot be read",
                buf_cstr(&root), qr.unreadable, qr.unreadable == 1 ? "" : "es");
    buf_free(&root);
}

static int rc_mailbox(struct rc *rc, const char **error_r)
{
    struct buf path = BUF_INIT;
    const struct mboxlist_entry *e = rc->entry;
    int lockfd = -1;
    int r;

    if ((r = mailbox_dir_path(rc->store, e->name, e->partition, e->uniqueid, &path,
                              error_r)) < 0)
        goto out;
    rc->dirfd = open(buf_cstr(&path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rc->dirfd < 0) {
        r = errno == ENOENT
                ? mb_fail(error_r, STORE_ERR_NOTFOUND,
                          "%s: the mailbox directory %s is missing (reconstruct -f looks for it)",
                          e->name, buf_cstr(&path))
                : mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: open %s", e->name,
                                buf_cstr(&path));
        goto out;
    }
    const char *err = NULL;
    if ((r = mb_lock_raw(rc->dirfd, &lockfd, &err)) < 0) {
        r = mb_fail(error_r, r, "%s: %s", e->name, err);
        goto out;
    }
    if ((r = rc_read_index(rc, lockfd, error_r)) < 0)
        goto out;
    rc_read_header(rc);
    rc_choose_uidvalidity(rc);
    if ((r = rc_list_dir(rc, error_r)) < 0)
        goto out;
    rc->progress->messages_total = rc->nfiles > UINT32_MAX ? UINT32_MAX : (uint32_t)rc->nfiles;
    rc->progress->messages_done = 0;
    r = rc_build_and_commit(rc, error_r);
    if (r < 0)
        rc_abort(rc);
    rc->res->messages = rc->nh.num_records;
out:
    /* closing the descriptors releases the locks */
    if (rc->w.fd >= 0 && !rc->writer_open)
        close(rc->w.fd);
    rc->w.fd = -1;
    if (lockfd >= 0)
        close(lockfd);
    buf_free(&path);
    return r;
}

int reconstruct_mailbox(struct store *store, const char *name,
                        const struct reconstruct_options *opts,
                        struct reconstruct_result *result_r, const char **error_r)
{
    static const struct reconstruct_options defaults;
    struct reconstruct_progress progress;
    struct reconstruct_result res;
    struct pool *pool = pool_create("reconstruct", 1024);
    struct mboxlist_entry entry;
    const char *err = NULL;
    struct rc rc;
    int r;

    if (opts == NULL)
        opts = &defaults;
    memset(&res, 0, sizeof(res));
    memset(&progress, 0, sizeof(progress));
    progress.mailbox = name;
    progress.mailbox_no = opts->mailbox_no != 0 ? opts->mailbox_no : 1;
    progress.mailbox_total = opts->mailbox_total != 0 ? opts->mailbox_total : 1;
    r = mboxlist_lookup(store, NULL, name, pool, &entry, &err);
    if (r < 0) {
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "%s: mailbox list: %s", name,
                    err != NULL ? err : "lookup failed");
        goto out;
    }
    if (r == 0 || entry.type != MBTYPE_EMAIL) {
        r = mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: %s", name,
                    r == 0 ? "no such mailbox" : "being created or renamed");
        goto out;
    }
    memset(&rc, 0, sizeof(rc));
    rc.store = store;
    rc.opts = opts;
    rc.progress = &progress;
    rc.res = &res;
    rc.entry = &entry;
    rc.dirfd = rc.cache_fd = rc.w.fd = -1;
    rc.now = (int64_t)time(NULL);
    seqset_init(&rc.uncertain);
    r = rc_mailbox(&rc, error_r);
    if (rc.dirfd >= 0)
        close(rc.dirfd);
    rc.dirfd = -1;
    if (r == 0) {
        /* the rebuilt mailbox must open like any other */
        struct mailbox *mb = NULL;
        if ((r = mailbox_open(store, name, MAILBOX_READONLY, &mb, &err)) < 0)
            r = mb_fail(error_r, r, "%s: rebuilt, but it does not open: %s", name, err);
        mailbox_close(&mb);
    }
    if (r == 0 && (opts->flags & RECONSTRUCT_NO_QUOTA) == 0)
        rc_fix_quota(&rc);
    rc_free(&rc);
out:
    if (result_r != NULL)
        *result_r = res;
    pool_destroy(&pool);
    return r;
}
