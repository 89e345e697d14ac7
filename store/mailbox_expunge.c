/* mailbox_expunge.c - expunging messages and cleaning expunged ones away.
 *
 * Expunge is in two steps so that every session can report it correctly:
 *   1. mailbox_expunge() marks the records MAILBOX_FLAG_EXPUNGED with a new
 *      MODSEQ and the time (files stay; quota usage drops at once).  Views
 *      see the mark and report EXPUNGE when their client may hear it.
 *   2. The cleanup, run by a READWRITE open once the oldest mark is older
 *      than expunge_cleanup_delay (or forced), writes a new index without
 *      the marked records (generation + 1) under an exclusive lock on both
 *      the old and the new file, renames it over roost.index (the commit),
 *      and unlinks the message files that the new index does not name.
 *      When more than half the cache is dead it is compacted into
 *      roost.cache.<N+1>, which the new index names.  A session whose view
 *      predates the cleanup notices the new generation and compares its
 *      UID list with the new index.
 * A crash before the rename leaves the old index intact (roost.index.NEW
 * and a new cache generation are garbage the next cleanup removes); after
 * it, leftover files are swept by the next cleanup. */
#include "mailbox_private.h"

#include "log.h"
#include "quota.h"
#include "seqset.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int mb_expunge_uids(struct mailbox *mb, const uint32_t *uids, unsigned n, uint64_t *bytes_r,
                    uint32_t *messages_r, const char **error_r)
{
    struct mb_rec_batch batch;
    int64_t now = (int64_t)time(NULL);
    uint64_t modseq = mb->hdr.highestmodseq + 1;
    struct index_header saved = mb->hdr;
    int r = 0;

    *bytes_r = 0;
    *messages_r = 0;
    if (mb->lock_type != MB_LOCK_EX)
        log_panic("mailbox %s: expunge without the write lock", mb->name);
    mb_rec_batch_init(&batch);
    uint32_t idx = 0;
    for (unsigned i = 0; i < n; i++) {
        struct mailbox_record rec;
        /* uids are increasing: search onwards from the last position */
        while (idx < mb->hdr.num_records && mb_record_uid(mb, idx) < uids[i])
            idx++;
        if (idx >= mb->hdr.num_records)
            break;
        if (mb_record_uid(mb, idx) != uids[i])
            continue;
        if ((r = mb_record_read(mb, idx, &rec, error_r)) < 0)
            goto fail;
        if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
            continue;
        if (*messages_r == 0 && (r = mb_index_set_dirty(mb, error_r)) < 0)
            goto fail;
        mb_counts_apply(&mb->hdr, &rec, -1);
        *bytes_r += rec.size;
        (*messages_r)++;
        rec.system_flags |= MAILBOX_FLAG_EXPUNGED;
        rec.modseq = modseq;
        rec.change_time = now;
        mb_counts_apply(&mb->hdr, &rec, 1);
        if ((r = mb_rec_batch_add(mb, &batch, idx, &rec, error_r)) < 0)
            goto fail;
    }
    if (*messages_r == 0)
        return 0;
    if ((r = mb_rec_batch_flush(mb, &batch, error_r)) < 0)
        goto fail;
    mb->hdr.highestmodseq = modseq;
    if (mb->hdr.first_expunge == 0)
        mb->hdr.first_expunge = now;
    if ((r = mb_index_commit(mb, error_r)) < 0)
        goto fail;
    return 0;
fail:
    /* records may be half rewritten: leave the header dirty so that the
     * next locker recounts */
    saved.flags |= INDEX_F_DIRTY;
    mb->hdr = saved;
    {
        const char *err2 = NULL;
        (void)mb_index_write_header(mb, &err2);
    }
    *bytes_r = 0;
    *messages_r = 0;
    return r;
}

int mailbox_expunge(struct mailbox *mb, const struct seqset *uids, struct seqset *expunged_r,
                    const char **error_r)
{
    uint32_t *list = NULL;
    unsigned count = 0, alloc = 0;
    uint64_t bytes = 0;
    uint32_t messages = 0;
    struct buf root = BUF_INIT;
    int r;

    if (mb->readonly)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: opened read-only", mb->name);
    if ((r = mb_quota_root(mb->store, mb->name, &root, error_r)) < 0)
        return r;
    bool have_root = r > 0;
    if ((r = mb_lock(mb, true, error_r)) < 0)
        goto out;
    size_t nranges = uids != NULL ? uids->count : 1;
    for (size_t k = 0; k < nranges && r == 0; k++) {
        uint32_t low = uids != NULL ? uids->ranges[k].low : 1;
        uint32_t high = uids != NULL ? uids->ranges[k].high : UINT32_MAX;
        for (uint32_t i = mb_index_lower_bound(mb, low); i < mb->hdr.num_records; i++) {
            struct mailbox_record rec;
            if (mb_record_uid(mb, i) > high)
                break;
            if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
                break;
            if ((rec.system_flags & (MAILBOX_FLAG_EXPUNGED | MAILBOX_FLAG_DELETED)) !=
                MAILBOX_FLAG_DELETED)
                continue;
            if (count == alloc) {
                alloc = alloc == 0 ? 64 : alloc * 2;
                list = xreallocarray(list, alloc, sizeof(*list));
            }
            list[count++] = rec.uid;
        }
    }
    if (r == 0 && count > 0)
        r = mb_expunge_uids(mb, list, count, &bytes, &messages, error_r);
    mb_unlock(mb);
    if (r < 0)
        goto out;
    if (have_root)
        mb_quota_charge(mb->store, buf_cstr(&root), -(int64_t)bytes, -(int64_t)messages);
    if (expunged_r != NULL) {
        for (unsigned i = 0; i < count; i++)
            seqset_add(expunged_r, list[i]);
    }
out:
    free(list);
    buf_free(&root);
    return r;
}

/* Is name "<digits>." ?  UID into uid_r. */
static bool mb_parse_message_name(const char *name, uint32_t *uid_r)
{
    size_t len = strlen(name);
    uint64_t v;

    if (len < 2 || len > 11 || name[len - 1] != '.')
        return false;
    if (str_to_u64_n(name, len - 1, UINT32_MAX, &v) < 0 || v == 0)
        return false;
    *uid_r = (uint32_t)v;
    return true;
}

/* Remove message files the index does not name, stale temporary files and
 * caches of other generations.  Exclusive lock held. */
static void mb_sweep(struct mailbox *mb)
{
    int fd = openat(mb->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    char current[32];
    mb_cache_name(mb->hdr.cache_generation, current);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint32_t uid;
        bool drop = false;
        if (mb_parse_message_name(de->d_name, &uid)) {
            uint32_t idx = mb_index_lower_bound(mb, uid);
            drop = idx >= mb->hdr.num_records || mb_record_uid(mb, idx) != uid;
        } else if (str_has_prefix(de->d_name, MB_CACHE_PREFIX)) {
            drop = strcmp(de->d_name, current) != 0;
        } else if (strcmp(de->d_name, MB_HEADER_TMP_FILE) == 0 ||
                   strcmp(de->d_name, MB_INDEX_TMP_FILE) == 0) {
            drop = true;
        }
        if (drop && unlinkat(mb->dirfd, de->d_name, 0) < 0 && errno != ENOENT)
            log_warning("mailbox %s: cannot remove %s: %s", mb->name, de->d_name,
                        strerror(errno));
    }
    closedir(d);
}

static size_t mb_cache_entry_size(uint32_t len)
{
    size_t n = CACHE_ENTRY_HEADER + (size_t)len;
    return n + (8 - n % 8) % 8;
}

int mb_cleanup_locked(struct mailbox *mb, bool force, const char **error_r)
{
    int64_t now = (int64_t)time(NULL);
    int64_t delay = force ? 0 : mb_cleanup_delay(mb->store);
    struct index_header nh;
    uint32_t drop = 0;
    uint64_t live_cache = 0;
    int r;

    if (mb->lock_type != MB_LOCK_EX)
        log_panic("mailbox %s: cleanup without the write lock", mb->name);
    if (mb->hdr.expunged == 0)
        return 0;
    if (!force && (mb->hdr.first_expunge == 0 || now - mb->hdr.first_expunge < delay))
        return 0;

    /* what goes, and how much of the cache stays alive */
    for (uint32_t i = 0; i < mb->hdr.num_records; i++) {
        struct mailbox_record rec;
        if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
            return r;
        if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0 && rec.change_time + delay <= now)
            drop++;
        else
            live_cache += mb_cache_entry_size(rec.cache_len);
    }
    if (drop == 0)
        return 0;
    bool compact = live_cache * 2 < mb->hdr.cache_used - CACHE_HEADER_SIZE;

    nh = mb->hdr;
    nh.generation = mb->hdr.generation + 1;
    nh.num_records = 0;
    nh.expunged = 0;
    nh.first_expunge = 0;
    nh.flags = 0;
    int newcache = -1;
    uint64_t newcache_next = CACHE_HEADER_SIZE;
    if (compact) {
        nh.cache_generation = mb->hdr.cache_generation + 1;
        if ((r = mb_cache_create(mb->dirfd, nh.cache_generation, &newcache, error_r)) < 0)
            return r;
    }
    struct mb_index_writer w;
    if ((r = mb_index_writer_begin(&w, mb->dirfd, MB_INDEX_TMP_FILE, error_r)) < 0)
        goto fail_cache;

    struct buf blob = BUF_INIT;
    for (uint32_t i = 0; i < mb->hdr.num_records; i++) {
        struct mailbox_record rec;
        if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
            break;
        bool expunged = (rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0;
        if (expunged && rec.change_time + delay <= now) {
            if (rec.modseq > nh.deletedmodseq)
                nh.deletedmodseq = rec.modseq;
            continue;
        }
        if (expunged) {
            nh.expunged++;
            if (nh.first_expunge == 0 || rec.change_time < nh.first_expunge)
                nh.first_expunge = rec.change_time > 0 ? rec.change_time : 1;
        }
        if (compact) {
            const char *err = NULL;
            uint64_t off = newcache_next;
            if ((r = mb_cache_read_fd(mb->cache_fd, &rec, &blob, &err)) < 0 ||
                (r = mb_cache_write_entry(newcache, off, rec.uid, blob.data, blob.len,
                                          &newcache_next, &err)) < 0) {
                r = mb_fail(error_r, r, "%s: %s", mb->name, err);
                break;
            }
            rec.cache_offset = off;
        }
        if ((r = mb_index_writer_add(&w, &rec, error_r)) < 0)
            break;
        nh.num_records++;
    }
    buf_free(&blob);
    if (r < 0)
        goto fail_index;
    if (compact) {
        nh.cache_used = newcache_next;
        if (fdatasync(newcache) < 0) {
            r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fsync new cache", mb->name);
            goto fail_index;
        }
    }
    if ((r = mb_index_writer_finish(&w, &nh, error_r)) < 0)
        goto fail_index;
    /* the commit */
    if (renameat(mb->dirfd, MB_INDEX_TMP_FILE, mb->dirfd, MB_INDEX_FILE) < 0) {
        r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: rename new index", mb->name);
        goto fail_index;
    }
    {
        const char *err = NULL;
        if (mb_fsync_dir(mb->dirfd, &err) < 0)
            log_warning("mailbox %s: %s", mb->name, err);
    }

    /* switch the handle to the new index (its lock is already ours) */
    struct stat st;
    if (fstat(w.fd, &st) < 0)
        memset(&st, 0, sizeof(st));
    {
        struct flock fl;
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_UNLCK;
        fl.l_whence = SEEK_SET;
        (void)fcntl(mb->index_fd, F_OFD_SETLK, &fl);
    }
    mb_index_unmap(mb);
    close(mb->index_fd);
    mb->index_fd = w.fd;
    mb->index_dev = st.st_dev;
    mb->index_ino = st.st_ino;
    mb->hdr = nh;
    if (compact) {
        close(mb->cache_fd);
        mb->cache_fd = newcache;
        mb->cache_gen_open = nh.cache_generation;
    }
    mb->cache_next = mb->hdr.cache_used;
    if ((r = mb_index_map(mb, error_r)) < 0)
        return r;
    mb_sweep(mb);
    {
        const char *err = NULL;
        (void)mb_fsync_dir(mb->dirfd, &err);
    }
    return (int)drop;

fail_index:
    mb_index_writer_abort(&w);
fail_cache:
    if (newcache >= 0) {
        char name[32];
        close(newcache);
        mb_cache_name(nh.cache_generation, name);
        unlinkat(mb->dirfd, name, 0);
    }
    mb->cache_next = mb->hdr.cache_used;
    return r;
}

int mb_cleanup_if_due(struct mailbox *mb, const char **error_r)
{
    int64_t now = (int64_t)time(NULL);

    if (mb->hdr.expunged == 0 || mb->hdr.first_expunge == 0 ||
        now - mb->hdr.first_expunge < mb_cleanup_delay(mb->store))
        return 0;
    int r = mb_lock(mb, true, error_r);
    if (r < 0)
        return r;
    r = mb_cleanup_locked(mb, false, error_r);
    mb_unlock(mb);
    return r < 0 ? r : 0;
}

int mailbox_cleanup(struct mailbox *mb, bool force, const char **error_r)
{
    if (mb->readonly)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: opened read-only", mb->name);
    int r = mb_lock(mb, true, error_r);
    if (r < 0)
        return r;
    r = mb_cleanup_locked(mb, force, error_r);
    mb_unlock(mb);
    return r;
}
