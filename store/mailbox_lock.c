/* mailbox_lock.c - taking a mailbox's lock and catching up with the disk.
 *
 * The lock is an OFD lock (fcntl F_OFD_SETLKW) on roost.index: shared for
 * readers, exclusive for writers, held for one operation.  OFD locks
 * belong to the open file, not the process, so two handles in one process
 * exclude each other like two processes do, and closing one descriptor
 * never drops another handle's lock.
 *
 * After the lock is granted we check that the file we locked is still the
 * one named roost.index (the cleanup renames a new index in; waiters on
 * the old file then reopen and lock again), re-read and check the index
 * header, extend the map when records were added, reload roost.header when
 * it was rewritten, reopen the cache when its generation changed, and
 * repair the counts when a writer died in the middle of an in-place
 * change (INDEX_F_DIRTY): an exclusive locker rewrites them, a shared one
 * recomputes them for itself. */
#include "mailbox_private.h"

#include "log.h"
#include "store.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mb_ofd_lock(int fd, short type, bool wait)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

static int mb_reopen_index(struct mailbox *mb, const char **error_r)
{
    int fd = openat(mb->dirfd, MB_INDEX_FILE, (mb->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        if (errno == ENOENT)
            return mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: the mailbox was deleted", mb->name);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: open roost.index", mb->name);
    }
    if (fstat(fd, &st) < 0) {
        close(fd);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fstat roost.index", mb->name);
    }
    mb_index_unmap(mb);
    if (mb->index_fd >= 0)
        close(mb->index_fd);
    mb->index_fd = fd;
    mb->index_dev = st.st_dev;
    mb->index_ino = st.st_ino;
    return 0;
}

static bool mb_stat_changed(const struct stat *a, const struct stat *b)
{
    return a->st_ino != b->st_ino || a->st_dev != b->st_dev || a->st_size != b->st_size ||
           a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

/* Lock held: bring mb up to date with the files. */
static int mb_lock_sync(struct mailbox *mb, const char **error_r)
{
    struct index_header h;
    const char *err = NULL;
    int r;

    if (mb->map == NULL) {
        mb->hdr.num_records = 0;
        if ((r = mb_index_map(mb, error_r)) < 0)
            return r;
    }
    if (mb->map_len < INDEX_HEADER_SIZE)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "%s: roost.index is truncated", mb->name);
    if ((r = mb_index_header_decode(mb->map, &h, &err)) < 0)
        return mb_fail(error_r, r, "%s: %s", mb->name, err);
    if ((h.flags & INDEX_F_DELETED) != 0)
        return mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: the mailbox was deleted", mb->name);
    if (mb->hdr.uidvalidity != 0 && h.uidvalidity != mb->hdr.uidvalidity)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "%s: UIDVALIDITY changed under us",
                       mb->name);
    mb->hdr = h;
    if ((r = mb_index_map(mb, error_r)) < 0)
        return r;

    struct stat st;
    if (fstatat(mb->dirfd, MB_HEADER_FILE, &st, 0) < 0) {
        if (errno == ENOENT)
            return mb_fail(error_r, STORE_ERR_CORRUPT, "%s: roost.header is missing", mb->name);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: stat roost.header", mb->name);
    }
    if (mb->mh.uniqueid == NULL || mb_stat_changed(&st, &mb->header_st)) {
        struct mb_header nh;
        if ((r = mb_header_read(mb->dirfd, &nh, &st, &err)) < 0)
            return mb_fail(error_r, r, "%s: %s", mb->name, err);
        mb_header_free(&mb->mh);
        mb->mh = nh;
        mb->header_st = st;
    }
    if (mb->mh.uidvalidity != mb->hdr.uidvalidity)
        return mb_fail(error_r, STORE_ERR_CORRUPT,
                       "%s: roost.header and roost.index disagree on UIDVALIDITY", mb->name);
    if ((r = mb_cache_open(mb, error_r)) < 0)
        return r;
    if (fstat(mb->cache_fd, &st) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fstat cache", mb->name);
    if ((uint64_t)st.st_size < mb->hdr.cache_used)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "%s: the cache file is truncated", mb->name);

    if ((mb->hdr.flags & INDEX_F_DIRTY) != 0) {
        /* a writer died while changing records in place */
        if ((r = mb_index_recount(mb, &mb->hdr, error_r)) < 0)
            return r;
        if (mb->lock_type == MB_LOCK_EX) {
            log_notice("mailbox %s: repaired counts after an interrupted change", mb->name);
            if ((r = mb_index_commit(mb, error_r)) < 0)
                return r;
        }
    }
    mb->cache_next = mb->hdr.cache_used;
    return 0;
}

int mb_lock(struct mailbox *mb, bool exclusive, const char **error_r)
{
    if (mb->lock_type != 0)
        log_panic("mailbox %s: locked twice", mb->name);
    if (exclusive && mb->readonly)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: opened read-only", mb->name);
    if (mb->deleted)
        return mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: the mailbox was deleted", mb->name);

    for (int tries = 0;; tries++) {
        struct stat st;
        int r;

        if (tries > 100)
            return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: the index keeps being replaced",
                           mb->name);
        if (mb_ofd_lock(mb->index_fd, exclusive ? F_WRLCK : F_RDLCK, true) < 0)
            return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: lock roost.index", mb->name);
        if (fstatat(mb->dirfd, MB_INDEX_FILE, &st, 0) < 0) {
            int saved = errno;
            mb_ofd_lock(mb->index_fd, F_UNLCK, false);
            errno = saved;
            if (errno == ENOENT)
                return mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: the mailbox was deleted",
                               mb->name);
            return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: stat roost.index", mb->name);
        }
        if (st.st_ino == mb->index_ino && st.st_dev == mb->index_dev)
            break;
        /* replaced by a cleanup: follow it */
        mb_ofd_lock(mb->index_fd, F_UNLCK, false);
        if ((r = mb_reopen_index(mb, error_r)) < 0)
            return r;
    }
    mb->lock_type = exclusive ? MB_LOCK_EX : MB_LOCK_SH;
    int r = mb_lock_sync(mb, error_r);
    if (r < 0) {
        mb_unlock(mb);
        return r;
    }
    return 0;
}

void mb_unlock(struct mailbox *mb)
{
    if (mb->lock_type == 0)
        return;
    if (mb_ofd_lock(mb->index_fd, F_UNLCK, false) < 0)
        log_error("mailbox %s: unlock roost.index: %s", mb->name, strerror(errno));
    mb->lock_type = 0;
}

static int mb_cmp_uniqueid(const void *a, const void *b)
{
    const struct mailbox *x = *(struct mailbox *const *)a;
    const struct mailbox *y = *(struct mailbox *const *)b;
    return strcmp(x->uniqueid, y->uniqueid);
}

int mb_lock_many(struct mailbox **mbs, unsigned n, const char **error_r)
{
    struct mailbox **sorted = xcalloc(n > 0 ? n : 1, sizeof(*sorted));
    unsigned locked = 0;
    int r = 0;

    memcpy(sorted, mbs, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), mb_cmp_uniqueid);
    for (unsigned i = 0; i < n; i++) {
        if (i > 0 && sorted[i] == sorted[i - 1])
            continue;
        if (i > 0 && strcmp(sorted[i]->uniqueid, sorted[i - 1]->uniqueid) == 0) {
            r = mb_fail(error_r, STORE_ERR_INTERNAL,
                        "%s: two handles on one mailbox in one operation", sorted[i]->name);
            break;
        }
        if ((r = mb_lock(sorted[i], true, error_r)) < 0)
            break;
        locked = i + 1;
    }
    if (r < 0) {
        for (unsigned i = 0; i < locked; i++)
            mb_unlock(sorted[i]);
    }
    free(sorted);
    return r;
}

int mb_repair_counts(struct mailbox *mb, const char **error_r)
{
    int r;

    if (mb->readonly) {
        /* recount for ourselves; a writer repairs the file */
        if ((r = mb_lock(mb, false, error_r)) < 0)
            return r;
        r = mb_index_recount(mb, &mb->hdr, error_r);
        mb_unlock(mb);
        return r;
    }
    if ((r = mb_lock(mb, true, error_r)) < 0)
        return r;
    r = mb_index_recount(mb, &mb->hdr, error_r);
    if (r == 0) {
        log_notice("mailbox %s: repaired counts (records newer than the index header)",
                   mb->name);
        r = mb_index_commit(mb, error_r);
    }
    mb_unlock(mb);
    return r;
}

int mb_lock_raw(int dirfd, int *fd_r, const char **error_r)
{
    *fd_r = -1;
    for (int tries = 0; tries <= 100; tries++) {
        struct stat st, cur;
        int fd = openat(dirfd, MB_INDEX_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "open roost.index");
        if (mb_ofd_lock(fd, F_WRLCK, true) < 0 || fstat(fd, &st) < 0) {
            int r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "lock roost.index");
            close(fd);
            return r;
        }
        if (fstatat(dirfd, MB_INDEX_FILE, &cur, 0) == 0 && cur.st_ino == st.st_ino &&
            cur.st_dev == st.st_dev) {
            *fd_r = fd;
            return 0;
        }
        /* replaced (or removed) while we waited: lock the current one */
        close(fd);
    }
    return mb_fail(error_r, STORE_ERR_INTERNAL, "roost.index keeps being replaced");
}
