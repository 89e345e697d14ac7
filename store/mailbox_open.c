/* mailbox_open.c - finding a mailbox's directory, opening and closing a
 * handle, the accessors, counts and per-record access.
 *
 * Paths: <partition>/[domain/<domain>/]user/<local part>/<uniqueid> for a
 * user's mailboxes and <partition>/[domain/<domain>/]shared/<uniqueid> for
 * the others.  The uniqueid comes from the mailbox list, so renames inside
 * one user on one partition move no file.  Every component is checked to
 * be a plain name (no '/', not "." or ".."), since the mailbox list is
 * input like any other.
 *
 * A handle keeps the directory open (every file operation is relative to
 * it, so a rename of the directory underneath does not disturb it), the
 * index descriptor and its read-only map, and the cache descriptor. */
#include "mailbox_private.h"

#include "buf.h"
#include "log.h"
#include "mboxlist.h"
#include "mboxname.h"
#include "pool.h"
#include "seen.h"
#include "seqset.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool mb_component_ok(const char *s, size_t len)
{
    if (len == 0 || len > 255 || (len == 1 && s[0] == '.') ||
        (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '/' || (unsigned char)s[i] < 0x20)
            return false;
    }
    return true;
}

int mailbox_dir_path(struct store *store, const char *name, const char *partition,
                     const char *uniqueid, struct buf *path_r, const char **error_r)
{
    const char *part = store_partition_path(store, partition);
    struct buf owner = BUF_INIT;
    size_t dlen = 0;
    const char *domain = mboxname_domain(name, &dlen);

    buf_reset(path_r);
    if (part == NULL)
        return mb_fail(error_r, STORE_ERR_NOTFOUND, "no partition \"%.64s\"", partition);
    if (!mb_component_ok(uniqueid, strlen(uniqueid)) || strlen(uniqueid) > 64)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "%s: bad uniqueid in the mailbox list", name);
    buf_append_str(path_r, part);
    if (dlen > 0) {
        if (!mb_component_ok(domain, dlen))
            return mb_fail(error_r, STORE_ERR_BADNAME, "%s: bad domain", name);
        buf_append_str(path_r, "/domain/");
        buf_append(path_r, domain, dlen);
    }
    if (mboxname_owner(name, &owner)) {
        const char *uid = buf_cstr(&owner);
        const char *at = strchr(uid, '@');
        size_t llen = at != NULL ? (size_t)(at - uid) : strlen(uid);
        if (!mb_component_ok(uid, llen)) {
            buf_free(&owner);
            return mb_fail(error_r, STORE_ERR_BADNAME, "%s: bad user name", name);
        }
        buf_append_str(path_r, "/user/");
        buf_append(path_r, uid, llen);
    } else {
        buf_append_str(path_r, "/shared");
    }
    buf_free(&owner);
    buf_append_char(path_r, '/');
    buf_append_str(path_r, uniqueid);
    return 0;
}

int mb_open_entry(struct store *store, const char *name, const char *partition,
                  const char *uniqueid, const char *acl, const char *specialuse,
                  enum mailbox_open_mode mode, struct mailbox **mb_r, const char **error_r)
{
    struct mailbox *mb = xcalloc(1, sizeof(*mb));
    struct buf path = BUF_INIT;
    struct stat st;
    int r;

    mb->store = store;
    mb->pool = pool_create("mailbox", 1024);
    mb->name = pool_strdup(mb->pool, name);
    mb->uniqueid = pool_strdup(mb->pool, uniqueid);
    mb->partition = pool_strdup(mb->pool, partition);
    mb->acl = pool_strdup(mb->pool, acl != NULL ? acl : "");
    mb->specialuse = pool_strdup(mb->pool, specialuse != NULL ? specialuse : "");
    mb->readonly = mode == MAILBOX_READONLY;
    mb->dirfd = mb->index_fd = mb->cache_fd = mb->watch_fd = -1;

    if ((r = mailbox_dir_path(store, name, partition, uniqueid, &path, error_r)) < 0)
        goto fail;
    mb->path = pool_strdup(mb->pool, buf_cstr(&path));
    mb->dirfd = open(mb->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mb->dirfd < 0) {
        r = errno == ENOENT ? mb_fail(error_r, STORE_ERR_NOTFOUND,
                                      "%s: the mailbox directory is missing", name)
                            : mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: open %s", name,
                                            mb->path);
        goto fail;
    }
    mb->index_fd = openat(mb->dirfd, MB_INDEX_FILE,
                          (mb->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (mb->index_fd < 0) {
        r = errno == ENOENT ? mb_fail(error_r, STORE_ERR_CORRUPT, "%s: roost.index is missing",
                                      name)
                            : mb_fail_errno(error_r, STORE_ERR_INTERNAL,
                                            "%s: open roost.index", name);
        goto fail;
    }
    if (fstat(mb->index_fd, &st) < 0) {
        r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fstat roost.index", name);
        goto fail;
    }
    mb->index_dev = st.st_dev;
    mb->index_ino = st.st_ino;
    if ((r = mb_lock(mb, false, error_r)) < 0)
        goto fail;
    if (strcmp(mb->mh.uniqueid, mb->uniqueid) != 0) {
        mb_unlock(mb);
        r = mb_fail(error_r, STORE_ERR_CORRUPT,
                    "%s: roost.header belongs to another mailbox (%s)", name, mb->mh.uniqueid);
        goto fail;
    }
    mb_unlock(mb);
    if (!mb->readonly && (r = mb_cleanup_if_due(mb, error_r)) < 0)
        goto fail;
    buf_free(&path);
    *mb_r = mb;
    return 0;
fail:
    buf_free(&path);
    mailbox_close(&mb);
    *mb_r = NULL;
    return r;
}

int mailbox_open(struct store *store, const char *name, enum mailbox_open_mode mode,
                 struct mailbox **mb_r, const char **error_r)
{
    struct pool *pool = pool_create("mailbox_open", 1024);
    struct mboxlist_entry entry;
    const char *err = NULL;
    int r;

    *mb_r = NULL;
    r = mboxlist_lookup(store, NULL, name, pool, &entry, &err);
    if (r < 0)
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "%s: mailbox list: %s", name,
                    err != NULL ? err : "lookup failed");
    else if (r == 0 || entry.type != MBTYPE_EMAIL)
        r = mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: no such mailbox", name);
    else
        r = mb_open_entry(store, entry.name, entry.partition, entry.uniqueid, entry.acl,
                          entry.specialuse, mode, mb_r, error_r);
    pool_destroy(&pool);
    return r;
}

void mailbox_close(struct mailbox **mbp)
{
    struct mailbox *mb = *mbp;

    if (mb == NULL)
        return;
    mb_unlock(mb);
    mb_index_unmap(mb);
    if (mb->index_fd >= 0)
        close(mb->index_fd);
    if (mb->cache_fd >= 0)
        close(mb->cache_fd);
    if (mb->watch_fd >= 0)
        close(mb->watch_fd);
    if (mb->dirfd >= 0)
        close(mb->dirfd);
    mb_header_free(&mb->mh);
    pool_destroy(&mb->pool);
    free(mb);
    *mbp = NULL;
}

int mb_mark_deleted(struct mailbox *mb, const char **error_r)
{
    mb->hdr.flags |= INDEX_F_DELETED;
    int r = mb_index_write_header(mb, error_r);
    if (r == 0 && fdatasync(mb->index_fd) < 0)
        r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fsync roost.index", mb->name);
    return r;
}

const char *mailbox_name(const struct mailbox *mb) { return mb->name; }
const char *mailbox_uniqueid(const struct mailbox *mb) { return mb->uniqueid; }
const char *mailbox_partition(const struct mailbox *mb) { return mb->partition; }
const char *mailbox_path(const struct mailbox *mb) { return mb->path; }
const char *mailbox_acl(const struct mailbox *mb) { return mb->acl; }
const char *mailbox_specialuse(const struct mailbox *mb) { return mb->specialuse; }
struct store *mailbox_store(const struct mailbox *mb) { return mb->store; }
bool mailbox_is_readonly(const struct mailbox *mb) { return mb->readonly; }
uint32_t mailbox_uidvalidity(const struct mailbox *mb) { return mb->hdr.uidvalidity; }
uint32_t mailbox_uidnext(const struct mailbox *mb) { return mb->hdr.uidnext; }
uint64_t mailbox_highestmodseq(const struct mailbox *mb) { return mb->hdr.highestmodseq; }
uint32_t mailbox_exists(const struct mailbox *mb) { return mb->hdr.exists; }

unsigned mailbox_keyword_count(const struct mailbox *mb)
{
    return mb->mh.nkeywords;
}

const char *mailbox_keyword_name(const struct mailbox *mb, unsigned i)
{
    return i < mb->mh.nkeywords ? mb->mh.keywords[i] : NULL;
}

int mailbox_keyword_find(const struct mailbox *mb, const char *name)
{
    for (unsigned i = 0; i < mb->mh.nkeywords; i++) {
        if (strcasecmp(mb->mh.keywords[i], name) == 0)
            return (int)i;
    }
    return -1;
}

int mailbox_sync(struct mailbox *mb, const char **error_r)
{
    int r = mb_lock(mb, false, error_r);
    if (r == 0)
        mb_unlock(mb);
    return r;
}

/* Shared lock held: count the non-expunged records from index position
 * start on, and those not in seen (when seen != NULL). */
static int mb_count_tail(struct mailbox *mb, uint32_t start, const struct seqset *seen,
                         uint32_t *count_r, uint32_t *unseen_r, const char **error_r)
{
    *count_r = 0;
    if (unseen_r != NULL)
        *unseen_r = 0;
    for (uint32_t i = start; i < mb->hdr.num_records; i++) {
        struct mailbox_record rec;
        int r = mb_record_read(mb, i, &rec, error_r);
        if (r < 0)
            return r;
        if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
            continue;
        (*count_r)++;
        if (unseen_r != NULL && !seqset_contains(seen, rec.uid))
            (*unseen_r)++;
    }
    return 0;
}

int mailbox_get_counts(struct mailbox *mb, const char *userid, struct mailbox_counts *counts_r,
                       const char **error_r)
{
    struct seqset seen;
    bool owner = mb_is_owner(mb, userid);
    int r;

    memset(counts_r, 0, sizeof(*counts_r));
    seqset_init(&seen);
    if (!owner) {
        struct buf text = BUF_INIT;
        const char *err = NULL;
        r = seen_get(mb->store, NULL, userid, mb->uniqueid, &text, &err);
        if (r < 0) {
            buf_free(&text);
            return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: seen state: %s", mb->name,
                           err != NULL ? err : "failed");
        }
        if (text.len > 0 && seqset_parse(text.data, text.len, &seen) < 0) {
            seqset_free(&seen);
            seqset_init(&seen);
        }
        buf_free(&text);
    }
    if ((r = mb_lock(mb, false, error_r)) < 0) {
        seqset_free(&seen);
        return r;
    }
    const struct index_header *h = &mb->hdr;
    counts_r->exists = h->exists;
    counts_r->unseen = h->unseen;
    counts_r->deleted = h->deleted;
    counts_r->answered = h->answered;
    counts_r->flagged = h->flagged;
    counts_r->uidnext = h->uidnext;
    counts_r->uidvalidity = h->uidvalidity;
    counts_r->highestmodseq = h->highestmodseq;
    counts_r->deletedmodseq = h->deletedmodseq;
    counts_r->size = h->quota_bytes;
    uint32_t dummy;
    r = mb_count_tail(mb, mb_index_lower_bound(mb, h->recent_uid + 1), NULL, &counts_r->recent,
                      NULL, error_r);
    if (r == 0 && !owner)
        r = mb_count_tail(mb, 0, &seen, &dummy, &counts_r->unseen, error_r);
    mb_unlock(mb);
    seqset_free(&seen);
    return r;
}

/* Find uid's record without a lock (retrying under one when a record was
 * being rewritten).  1 found, 0 absent, error. */
static int mb_find_record(struct mailbox *mb, uint32_t uid, struct mailbox_record *rec,
                          const char **error_r)
{
    if (mb->map == NULL)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: not open", mb->name);
    uint32_t idx = mb_index_lower_bound(mb, uid);
    int r;
    if (idx >= mb->hdr.num_records || mb_record_uid(mb, idx) != uid) {
        if (uid < mb->hdr.uidnext)
            return 0;
        /* appended since this handle last looked: catch up */
        r = -2;
    } else {
        r = mb_record_read(mb, idx, rec, error_r);
    }
    if (r == -2) {
        if ((r = mb_lock(mb, false, error_r)) < 0)
            return r;
        idx = mb_index_lower_bound(mb, uid);
        if (idx >= mb->hdr.num_records || mb_record_uid(mb, idx) != uid)
            r = 0;
        else
            r = mb_record_read(mb, idx, rec, error_r) == 0 ? 1 : STORE_ERR_CORRUPT;
        mb_unlock(mb);
        return r;
    }
    return r < 0 ? r : 1;
}

int mailbox_record_by_uid(struct mailbox *mb, uint32_t uid, struct mailbox_record *record_r,
                          const char **error_r)
{
    if (mb->lock_type != 0) {
        uint32_t idx = mb_index_lower_bound(mb, uid);
        if (idx >= mb->hdr.num_records || mb_record_uid(mb, idx) != uid)
            return 0;
        int r = mb_record_read(mb, idx, record_r, error_r);
        return r < 0 ? r : 1;
    }
    return mb_find_record(mb, uid, record_r, error_r);
}

int mailbox_foreach_record(struct mailbox *mb, mailbox_record_cb *cb, void *ctx,
                           const char **error_r)
{
    int r = mb_lock(mb, false, error_r);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < mb->hdr.num_records; i++) {
        struct mailbox_record rec;
        if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
            break;
        int c = cb(&rec, ctx);
        if (c < 0) {
            r = mb_fail(error_r, STORE_ERR_INTERNAL, "%s: record callback failed", mb->name);
            break;
        }
        if (c > 0)
            break;
    }
    mb_unlock(mb);
    return r < 0 ? r : 0;
}

int mailbox_cache_read(struct mailbox *mb, const struct mailbox_record *record,
                       struct buf *blob_r, const char **error_r)
{
    const char *err = NULL;

    if (mb->cache_fd < 0)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: cache not open", mb->name);
    int r = mb_cache_read_fd(mb->cache_fd, record, blob_r, &err);
    if (r < 0)
        return mb_fail(error_r, r, "%s: %s", mb->name, err);
    return 0;
}

int mailbox_message_open(struct mailbox *mb, uint32_t uid, int *fd_r, uint64_t *size_r,
                         const char **error_r)
{
    char name[16];
    struct stat st;

    mb_message_name(uid, name);
    int fd = openat(mb->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: message %u is gone", mb->name, uid);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: open message %u", mb->name, uid);
    }
    if (fstat(fd, &st) < 0) {
        close(fd);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fstat message %u", mb->name,
                             uid);
    }
    *fd_r = fd;
    *size_r = (uint64_t)st.st_size;
    return 0;
}

static const char mb_empty_message[1] = "";

int mailbox_message_map(struct mailbox *mb, uint32_t uid, const char **data_r, size_t *len_r,
                        const char **error_r)
{
    int fd;
    uint64_t size;
    int r = mailbox_message_open(mb, uid, &fd, &size, error_r);

    if (r < 0)
        return r;
    if (size == 0) {
        close(fd);
        *data_r = mb_empty_message;
        *len_r = 0;
        return 0;
    }
    if (size > SIZE_MAX) {
        close(fd);
        return mb_fail(error_r, STORE_ERR_LIMIT, "%s: message %u too large to map", mb->name,
                       uid);
    }
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: mmap message %u", mb->name, uid);
    *data_r = p;
    *len_r = (size_t)size;
    return 0;
}

void mailbox_message_unmap(const char *data, size_t len)
{
    if (data != NULL && len > 0)
        munmap((void *)data, len);
}
