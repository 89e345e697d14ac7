/* mailbox_index.c - roost.index: the header (commit point) and the
 * fixed-size records, their encoding, checksums and the read-only map.
 *
 * Layout (little-endian; docs/store-format.md has the table):
 *   header, 128 bytes: magic "ROOSTIDX", version, header and record sizes,
 *     generation, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, number of records,
 *     \Recent mark, counts, quota bytes, oldest pending expunge,
 *     DELETEDMODSEQ, committed cache length and generation, flags, CRC32.
 *   records, 128 bytes each, in increasing UID order: uid, flags, dates,
 *     size, modseq, cache offset/length, header size, change time, keyword
 *     bits, SHA-1, CRC32 of the record.
 * Records past num_records are leftovers of an append that did not commit;
 * they are never read and get overwritten by the next append.  The file is
 * never truncated in place (readers map it without locks between
 * operations); the cleanup writes a new file and renames it in. */
#include "mailbox_private.h"

#include "log.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* header offsets */
enum {
    IH_MAGIC = 0,
    IH_VERSION = 8,
    IH_HEADER_SIZE = 12,
    IH_RECORD_SIZE = 16,
    IH_GENERATION = 20,
    IH_UIDVALIDITY = 24,
    IH_UIDNEXT = 28,
    IH_HIGHESTMODSEQ = 32,
    IH_NUM_RECORDS = 40,
    IH_RECENT_UID = 44,
    IH_EXISTS = 48,
    IH_DELETED = 52,
    IH_UNSEEN = 56,
    IH_ANSWERED = 60,
    IH_FLAGGED = 64,
    IH_EXPUNGED = 68,
    IH_QUOTA_BYTES = 72,
    IH_FIRST_EXPUNGE = 80,
    IH_DELETEDMODSEQ = 88,
    IH_CACHE_USED = 96,
    IH_CACHE_GENERATION = 104,
    IH_FLAGS = 108,
    IH_CRC = 124,
};

/* record offsets */
enum {
    IR_UID = 0,
    IR_FLAGS = 4,
    IR_INTERNALDATE = 8,
    IR_SENTDATE = 16,
    IR_SIZE = 24,
    IR_MODSEQ = 32,
    IR_CACHE_OFFSET = 40,
    IR_CACHE_LEN = 48,
    IR_HEADER_SIZE = 52,
    IR_CHANGE_TIME = 56,
    IR_KEYWORDS = 64,
    IR_GUID = 80,
    IR_CRC = 124,
};

#define MB_KNOWN_FLAGS (MAILBOX_SYSTEM_FLAGS | MAILBOX_FLAG_EXPUNGED)

void mb_index_header_encode(const struct index_header *h, unsigned char out[INDEX_HEADER_SIZE])
{
    memset(out, 0, INDEX_HEADER_SIZE);
    memcpy(out + IH_MAGIC, INDEX_MAGIC, 8);
    mb_put32(out + IH_VERSION, INDEX_VERSION);
    mb_put32(out + IH_HEADER_SIZE, INDEX_HEADER_SIZE);
    mb_put32(out + IH_RECORD_SIZE, INDEX_RECORD_SIZE);
    mb_put32(out + IH_GENERATION, h->generation);
    mb_put32(out + IH_UIDVALIDITY, h->uidvalidity);
    mb_put32(out + IH_UIDNEXT, h->uidnext);
    mb_put64(out + IH_HIGHESTMODSEQ, h->highestmodseq);
    mb_put32(out + IH_NUM_RECORDS, h->num_records);
    mb_put32(out + IH_RECENT_UID, h->recent_uid);
    mb_put32(out + IH_EXISTS, h->exists);
    mb_put32(out + IH_DELETED, h->deleted);
    mb_put32(out + IH_UNSEEN, h->unseen);
    mb_put32(out + IH_ANSWERED, h->answered);
    mb_put32(out + IH_FLAGGED, h->flagged);
    mb_put32(out + IH_EXPUNGED, h->expunged);
    mb_put64(out + IH_QUOTA_BYTES, h->quota_bytes);
    mb_put64(out + IH_FIRST_EXPUNGE, (uint64_t)h->first_expunge);
    mb_put64(out + IH_DELETEDMODSEQ, h->deletedmodseq);
    mb_put64(out + IH_CACHE_USED, h->cache_used);
    mb_put32(out + IH_CACHE_GENERATION, h->cache_generation);
    mb_put32(out + IH_FLAGS, h->flags);
    mb_put32(out + IH_CRC, mb_crc32(out, IH_CRC));
}

int mb_index_header_decode(const unsigned char *in, struct index_header *h, const char **error_r)
{
    if (memcmp(in + IH_MAGIC, INDEX_MAGIC, 8) != 0)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.index: bad magic number");
    if (mb_get32(in + IH_CRC) != mb_crc32(in, IH_CRC))
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.index: header checksum mismatch");
    uint32_t version = mb_get32(in + IH_VERSION);
    if (version != INDEX_VERSION)
        return mb_fail(error_r, STORE_ERR_CORRUPT,
                       "roost.index: format version %u, this program knows %u", version,
                       INDEX_VERSION);
    if (mb_get32(in + IH_HEADER_SIZE) != INDEX_HEADER_SIZE ||
        mb_get32(in + IH_RECORD_SIZE) != INDEX_RECORD_SIZE)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.index: unexpected sizes");

    h->generation = mb_get32(in + IH_GENERATION);
    h->uidvalidity = mb_get32(in + IH_UIDVALIDITY);
    h->uidnext = mb_get32(in + IH_UIDNEXT);
    h->highestmodseq = mb_get64(in + IH_HIGHESTMODSEQ);
    h->num_records = mb_get32(in + IH_NUM_RECORDS);
    h->recent_uid = mb_get32(in + IH_RECENT_UID);
    h->exists = mb_get32(in + IH_EXISTS);
    h->deleted = mb_get32(in + IH_DELETED);
    h->unseen = mb_get32(in + IH_UNSEEN);
    h->answered = mb_get32(in + IH_ANSWERED);
    h->flagged = mb_get32(in + IH_FLAGGED);
    h->expunged = mb_get32(in + IH_EXPUNGED);
    h->quota_bytes = mb_get64(in + IH_QUOTA_BYTES);
    h->first_expunge = (int64_t)mb_get64(in + IH_FIRST_EXPUNGE);
    h->deletedmodseq = mb_get64(in + IH_DELETEDMODSEQ);
    h->cache_used = mb_get64(in + IH_CACHE_USED);
    h->cache_generation = mb_get32(in + IH_CACHE_GENERATION);
    h->flags = mb_get32(in + IH_FLAGS);

    /* a checksum that matches on nonsense is still nonsense */
    if (h->uidvalidity == 0 || h->uidnext == 0 || h->generation == 0 ||
        h->num_records > INDEX_MAX_RECORDS || h->num_records >= h->uidnext ||
        h->recent_uid >= h->uidnext || h->cache_generation == 0 ||
        h->cache_used < CACHE_HEADER_SIZE || h->highestmodseq == 0 ||
        (h->flags & ~(INDEX_F_DIRTY | INDEX_F_DELETED)) != 0)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.index: inconsistent header");
    if ((h->flags & INDEX_F_DIRTY) == 0 &&
        ((uint64_t)h->exists + h->expunged != h->num_records || h->deleted > h->exists ||
         h->unseen > h->exists || h->answered > h->exists || h->flagged > h->exists))
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.index: counts do not add up");
    return 0;
}

void mb_record_encode(const struct mailbox_record *r, unsigned char out[INDEX_RECORD_SIZE])
{
    memset(out, 0, INDEX_RECORD_SIZE);
    mb_put32(out + IR_UID, r->uid);
    mb_put32(out + IR_FLAGS, r->system_flags);
    mb_put64(out + IR_INTERNALDATE, (uint64_t)r->internaldate);
    mb_put64(out + IR_SENTDATE, (uint64_t)r->sentdate);
    mb_put64(out + IR_SIZE, r->size);
    mb_put64(out + IR_MODSEQ, r->modseq);
    mb_put64(out + IR_CACHE_OFFSET, r->cache_offset);
    mb_put32(out + IR_CACHE_LEN, r->cache_len);
    mb_put32(out + IR_HEADER_SIZE, r->header_size);
    mb_put64(out + IR_CHANGE_TIME, (uint64_t)r->change_time);
    mb_put64(out + IR_KEYWORDS, r->keywords.bits[0]);
    mb_put64(out + IR_KEYWORDS + 8, r->keywords.bits[1]);
    memcpy(out + IR_GUID, r->guid, 20);
    mb_put32(out + IR_CRC, mb_crc32(out, IR_CRC));
}

int mb_record_decode(const unsigned char *in, struct mailbox_record *r)
{
    if (mb_get32(in + IR_CRC) != mb_crc32(in, IR_CRC))
        return -1;
    r->uid = mb_get32(in + IR_UID);
    r->system_flags = mb_get32(in + IR_FLAGS);
    r->internaldate = (int64_t)mb_get64(in + IR_INTERNALDATE);
    r->sentdate = (int64_t)mb_get64(in + IR_SENTDATE);
    r->size = mb_get64(in + IR_SIZE);
    r->modseq = mb_get64(in + IR_MODSEQ);
    r->cache_offset = mb_get64(in + IR_CACHE_OFFSET);
    r->cache_len = mb_get32(in + IR_CACHE_LEN);
    r->header_size = mb_get32(in + IR_HEADER_SIZE);
    r->change_time = (int64_t)mb_get64(in + IR_CHANGE_TIME);
    r->keywords.bits[0] = mb_get64(in + IR_KEYWORDS);
    r->keywords.bits[1] = mb_get64(in + IR_KEYWORDS + 8);
    memcpy(r->guid, in + IR_GUID, 20);
    if (r->uid == 0 || (r->system_flags & ~MB_KNOWN_FLAGS) != 0 || r->modseq == 0 ||
        r->size > MAILBOX_MESSAGE_MAX || r->cache_len > CACHE_BLOB_MAX ||
        r->cache_offset < CACHE_HEADER_SIZE)
        return -1;
    return 0;
}

int mb_record_read(struct mailbox *mb, uint32_t idx, struct mailbox_record *r,
                   const char **error_r)
{
    unsigned char raw[INDEX_RECORD_SIZE];
    size_t off = INDEX_HEADER_SIZE + (size_t)idx * INDEX_RECORD_SIZE;

    if (idx >= mb->hdr.num_records || off + INDEX_RECORD_SIZE > mb->map_len)
        log_panic("mailbox %s: record %u read beyond the index (%u records)", mb->name, idx,
                  mb->hdr.num_records);
    memcpy(raw, mb->map + off, INDEX_RECORD_SIZE);
    if (mb_record_decode(raw, r) == 0) {
        if (idx > 0 && r->uid <= mb_record_uid(mb, idx - 1))
            return mb_fail(error_r, STORE_ERR_CORRUPT,
                           "%s: roost.index: record %u out of UID order", mb->name, idx);
        if (r->uid >= mb->hdr.uidnext)
            return mb_fail(error_r, STORE_ERR_CORRUPT,
                           "%s: roost.index: record %u has UID %u >= UIDNEXT", mb->name, idx,
                           r->uid);
        return 0;
    }
    if (mb->lock_type == 0)
        return -2;   /* maybe a writer was rewriting it: retry under a lock */
    return mb_fail(error_r, STORE_ERR_CORRUPT, "%s: roost.index: record %u is damaged",
                   mb->name, idx);
}

uint32_t mb_record_uid(const struct mailbox *mb, uint32_t idx)
{
    return mb_get32(mb->map + INDEX_HEADER_SIZE + (size_t)idx * INDEX_RECORD_SIZE + IR_UID);
}

uint32_t mb_index_lower_bound(const struct mailbox *mb, uint32_t uid)
{
    uint32_t lo = 0, hi = mb->hdr.num_records;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (mb_record_uid(mb, mid) < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void mb_index_unmap(struct mailbox *mb)
{
    if (mb->map != NULL)
        munmap((void *)mb->map, mb->map_len);
    mb->map = NULL;
    mb->map_len = 0;
}

int mb_index_map(struct mailbox *mb, const char **error_r)
{
    size_t need = INDEX_HEADER_SIZE + (size_t)mb->hdr.num_records * INDEX_RECORD_SIZE;
    struct stat st;

    if (mb->map != NULL && mb->map_len >= need)
        return 0;
    if (fstat(mb->index_fd, &st) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fstat roost.index", mb->name);
    if ((uint64_t)st.st_size < need)
        return mb_fail(error_r, STORE_ERR_CORRUPT,
                       "%s: roost.index is truncated (%lld bytes, %u records expected)",
                       mb->name, (long long)st.st_size, mb->hdr.num_records);
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, mb->index_fd, 0);
    if (p == MAP_FAILED)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: mmap roost.index", mb->name);
    mb_index_unmap(mb);
    mb->map = p;
    mb->map_len = (size_t)st.st_size;
    return 0;
}

int mb_index_write_header(struct mailbox *mb, const char **error_r)
{
    unsigned char raw[INDEX_HEADER_SIZE];

    mb_index_header_encode(&mb->hdr, raw);
    if (mb_pwrite_all(mb->index_fd, raw, sizeof(raw), 0) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: write roost.index header",
                             mb->name);
    return 0;
}

int mb_index_write_records(struct mailbox *mb, uint32_t idx, const struct mailbox_record *recs,
                           unsigned n, const char **error_r)
{
    unsigned char chunk[64 * INDEX_RECORD_SIZE];

    while (n > 0) {
        unsigned k = n > 64 ? 64 : n;
        for (unsigned i = 0; i < k; i++)
            mb_record_encode(&recs[i], chunk + (size_t)i * INDEX_RECORD_SIZE);
        uint64_t off = INDEX_HEADER_SIZE + (uint64_t)idx * INDEX_RECORD_SIZE;
        if (mb_pwrite_all(mb->index_fd, chunk, (size_t)k * INDEX_RECORD_SIZE, off) < 0)
            return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: write roost.index records",
                                 mb->name);
        recs += k;
        idx += k;
        n -= k;
    }
    return 0;
}

int mb_index_set_dirty(struct mailbox *mb, const char **error_r)
{
    if ((mb->hdr.flags & INDEX_F_DIRTY) != 0)
        return 0;
    mb->hdr.flags |= INDEX_F_DIRTY;
    return mb_index_write_header(mb, error_r);
}

int mb_index_commit(struct mailbox *mb, const char **error_r)
{
    mb->hdr.flags &= ~INDEX_F_DIRTY;
    int r = mb_index_write_header(mb, error_r);
    if (r < 0)
        return r;
    if (fdatasync(mb->index_fd) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fsync roost.index", mb->name);
    return mb_index_map(mb, error_r);
}

void mb_counts_apply(struct index_header *h, const struct mailbox_record *r, int sign)
{
    uint32_t d = (uint32_t)sign;   /* 1 or 0xffffffff: wraps as intended */

    if ((r->system_flags & MAILBOX_FLAG_EXPUNGED) != 0) {
        h->expunged += d;
        return;
    }
    h->exists += d;
    if (r->system_flags & MAILBOX_FLAG_DELETED)
        h->deleted += d;
    if ((r->system_flags & MAILBOX_FLAG_SEEN) == 0)
        h->unseen += d;
    if (r->system_flags & MAILBOX_FLAG_ANSWERED)
        h->answered += d;
    if (r->system_flags & MAILBOX_FLAG_FLAGGED)
        h->flagged += d;
    if (sign > 0)
        h->quota_bytes += r->size;
    else
        h->quota_bytes -= r->size;
}

int mb_index_recount(struct mailbox *mb, struct index_header *h, const char **error_r)
{
    h->exists = h->deleted = h->unseen = h->answered = h->flagged = h->expunged = 0;
    h->quota_bytes = 0;
    h->first_expunge = 0;
    for (uint32_t i = 0; i < h->num_records; i++) {
        struct mailbox_record r;
        int ret = mb_record_read(mb, i, &r, error_r);
        if (ret < 0)
            return ret == -2 ? mb_fail(error_r, STORE_ERR_CORRUPT, "%s: damaged record %u",
                                       mb->name, i)
                             : ret;
        mb_counts_apply(h, &r, 1);
        if (r.modseq > h->highestmodseq)
            h->highestmodseq = r.modseq;
        if ((r.system_flags & MAILBOX_FLAG_EXPUNGED) != 0 &&
            (h->first_expunge == 0 || r.change_time < h->first_expunge))
            h->first_expunge = r.change_time > 0 ? r.change_time : 1;
    }
    return 0;
}

int mb_index_create_file(int dirfd, const char *name, const struct index_header *h,
                         const struct mailbox_record *recs, uint32_t n, int *fd_r,
                         const char **error_r)
{
    unsigned char raw[INDEX_HEADER_SIZE];
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

    if (fd < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "create %s", name);
    mb_index_header_encode(h, raw);
    if (mb_pwrite_all(fd, raw, sizeof(raw), 0) < 0)
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char rec[INDEX_RECORD_SIZE];
        mb_record_encode(&recs[i], rec);
        if (mb_pwrite_all(fd, rec, sizeof(rec),
                          INDEX_HEADER_SIZE + (uint64_t)i * INDEX_RECORD_SIZE) < 0)
            goto fail;
    }
    if (fdatasync(fd) < 0)
        goto fail;
    if (fd_r != NULL)
        *fd_r = fd;
    else
        close(fd);
    return 0;
fail:
    mb_fail_errno(error_r, STORE_ERR_INTERNAL, "write %s", name);
    close(fd);
    unlinkat(dirfd, name, 0);
    return STORE_ERR_INTERNAL;
}

void mb_rec_batch_init(struct mb_rec_batch *b)
{
    b->start = 0;
    b->n = 0;
}

int mb_rec_batch_flush(struct mailbox *mb, struct mb_rec_batch *b, const char **error_r)
{
    int r = 0;

    if (b->n > 0)
        r = mb_index_write_records(mb, b->start, b->recs, b->n, error_r);
    b->n = 0;
    return r;
}

int mb_rec_batch_add(struct mailbox *mb, struct mb_rec_batch *b, uint32_t idx,
                     const struct mailbox_record *rec, const char **error_r)
{
    if (b->n > 0 && (idx != b->start + b->n || b->n == MB_REC_BATCH)) {
        int r = mb_rec_batch_flush(mb, b, error_r);
        if (r < 0)
            return r;
    }
    if (b->n == 0)
        b->start = idx;
    b->recs[b->n++] = *rec;
    return 0;
}

int mb_index_writer_begin(struct mb_index_writer *w, int dirfd, const char *name,
                          const char **error_r)
{
    struct flock fl;

    memset(w, 0, sizeof(*w));
    w->dirfd = dirfd;
    w->name = name;
    w->fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (w->fd < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "create %s", name);
    /* nobody knows the new file yet: lock it before it gets its real name */
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(w->fd, F_OFD_SETLK, &fl) < 0) {
        int r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "lock %s", name);
        mb_index_writer_abort(w);
        return r;
    }
    return 0;
}

static int mb_index_writer_flush(struct mb_index_writer *w, const char **error_r)
{
    if (w->inchunk == 0)
        return 0;
    uint64_t off = INDEX_HEADER_SIZE + (uint64_t)(w->count - w->inchunk) * INDEX_RECORD_SIZE;
    if (mb_pwrite_all(w->fd, w->chunk, (size_t)w->inchunk * INDEX_RECORD_SIZE, off) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "write %s", w->name);
    w->inchunk = 0;
    return 0;
}

int mb_index_writer_add(struct mb_index_writer *w, const struct mailbox_record *r,
                        const char **error_r)
{
    if (w->count >= INDEX_MAX_RECORDS)
        return mb_fail(error_r, STORE_ERR_LIMIT, "%s: too many records", w->name);
    mb_record_encode(r, w->chunk + (size_t)w->inchunk * INDEX_RECORD_SIZE);
    w->inchunk++;
    w->count++;
    if (w->inchunk == MB_INDEX_WRITER_CHUNK)
        return mb_index_writer_flush(w, error_r);
    return 0;
}

int mb_index_writer_finish(struct mb_index_writer *w, const struct index_header *h,
                           const char **error_r)
{
    unsigned char raw[INDEX_HEADER_SIZE];
    int r;

    if (h->num_records != w->count)
        log_panic("index writer %s: header names %u records, %u written", w->name,
                  h->num_records, w->count);
    if ((r = mb_index_writer_flush(w, error_r)) < 0)
        return r;
    mb_index_header_encode(h, raw);
    if (mb_pwrite_all(w->fd, raw, sizeof(raw), 0) < 0 || fdatasync(w->fd) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "write %s", w->name);
    return 0;
}

void mb_index_writer_abort(struct mb_index_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        unlinkat(w->dirfd, w->name, 0);
    }
    w->fd = -1;
}
