/* mailbox_cache.c - roost.cache.N: the pre-parsed form of every message.
 *
 * Append-only.  A 64-byte header ("ROOSTCAC", version, generation, CRC32)
 * then entries: u32 blob length, u32 UID, u32 CRC32 of (UID bytes + blob),
 * the lib/mime.h cache blob, zero padding to a multiple of 8.  An index
 * record names its entry by offset and length; the index header says how
 * many bytes are committed (cache_used): bytes past that are the leftovers
 * of an append that did not commit and are overwritten by the next one.
 *
 * N is the cache generation named by the index header.  The cleanup may
 * compact the cache into generation N+1: it writes the new file, then the
 * new index naming it is renamed in (the commit), then the old file is
 * unlinked; a crash at any point leaves the index naming a complete file. */
#include "mailbox_private.h"

#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void mb_cache_name(uint32_t generation, char out[32])
{
    snprintf(out, 32, "%s%u", MB_CACHE_PREFIX, generation);
}

static void mb_cache_header_encode(uint32_t generation, unsigned char out[CACHE_HEADER_SIZE])
{
    memset(out, 0, CACHE_HEADER_SIZE);
    memcpy(out, CACHE_MAGIC, 8);
    mb_put32(out + 8, CACHE_VERSION);
    mb_put32(out + 12, generation);
    mb_put32(out + CACHE_HEADER_SIZE - 4, mb_crc32(out, CACHE_HEADER_SIZE - 4));
}

int mb_cache_create(int dirfd, uint32_t generation, int *fd_r, const char **error_r)
{
    char name[32];
    unsigned char hdr[CACHE_HEADER_SIZE];

    mb_cache_name(generation, name);
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "create %s", name);
    mb_cache_header_encode(generation, hdr);
    if (mb_pwrite_all(fd, hdr, sizeof(hdr), 0) < 0 || fdatasync(fd) < 0) {
        mb_fail_errno(error_r, STORE_ERR_INTERNAL, "write %s", name);
        close(fd);
        unlinkat(dirfd, name, 0);
        return STORE_ERR_INTERNAL;
    }
    if (fd_r != NULL)
        *fd_r = fd;
    else
        close(fd);
    return 0;
}

int mb_cache_open(struct mailbox *mb, const char **error_r)
{
    char name[32];
    unsigned char hdr[CACHE_HEADER_SIZE];

    if (mb->cache_fd >= 0 && mb->cache_gen_open == mb->hdr.cache_generation)
        return 0;
    if (mb->cache_fd >= 0)
        close(mb->cache_fd);
    mb->cache_fd = -1;
    mb->cache_gen_open = 0;
    mb_cache_name(mb->hdr.cache_generation, name);
    int fd = openat(mb->dirfd, name, (mb->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return mb_fail(error_r, STORE_ERR_CORRUPT, "%s: %s is missing", mb->name, name);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: open %s", mb->name, name);
    }
    if (mb_pread_all(fd, hdr, sizeof(hdr), 0) < 0) {
        int code = errno == ENODATA ? STORE_ERR_CORRUPT : STORE_ERR_INTERNAL;
        mb_fail_errno(error_r, code, "%s: read %s", mb->name, name);
        close(fd);
        return code;
    }
    if (memcmp(hdr, CACHE_MAGIC, 8) != 0 ||
        mb_get32(hdr + CACHE_HEADER_SIZE - 4) != mb_crc32(hdr, CACHE_HEADER_SIZE - 4) ||
        mb_get32(hdr + 8) != CACHE_VERSION || mb_get32(hdr + 12) != mb->hdr.cache_generation) {
        close(fd);
        return mb_fail(error_r, STORE_ERR_CORRUPT, "%s: %s has a bad header", mb->name, name);
    }
    mb->cache_fd = fd;
    mb->cache_gen_open = mb->hdr.cache_generation;
    return 0;
}

int mb_cache_write_entry(int fd, uint64_t offset, uint32_t uid, const void *blob, size_t len,
                         uint64_t *next_r, const char **error_r)
{
    unsigned char eh[CACHE_ENTRY_HEADER];
    static const unsigned char zeros[8];
    struct buf b = BUF_INIT;

    if (len > CACHE_BLOB_MAX)
        return mb_fail(error_r, STORE_ERR_LIMIT, "cache entry of UID %u too large", uid);
    mb_put32(eh, (uint32_t)len);
    mb_put32(eh + 4, uid);
    uint32_t crc = mb_crc32(eh + 4, 4);
    crc = mb_crc32_update(crc, blob, len);
    mb_put32(eh + 8, crc);
    buf_append(&b, eh, sizeof(eh));
    buf_append(&b, blob, len);
    size_t pad = (8 - b.len % 8) % 8;
    buf_append(&b, zeros, pad);
    if (mb_pwrite_all(fd, b.data, b.len, offset) < 0) {
        buf_free(&b);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "write cache entry of UID %u", uid);
    }
    *next_r = offset + b.len;
    buf_free(&b);
    return 0;
}

int mb_cache_append(struct mailbox *mb, uint32_t uid, const void *blob, size_t len,
                    uint64_t *offset_r, const char **error_r)
{
    const char *err = NULL;
    uint64_t off = mb->cache_next;
    int r = mb_cache_write_entry(mb->cache_fd, off, uid, blob, len, &mb->cache_next, &err);

    if (r < 0)
        return mb_fail(error_r, r, "%s: %s", mb->name, err);
    *offset_r = off;
    return 0;
}

int mb_cache_sync(struct mailbox *mb, const char **error_r)
{
    if (fdatasync(mb->cache_fd) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: fsync cache", mb->name);
    return 0;
}

int mb_cache_read_fd(int fd, const struct mailbox_record *r, struct buf *blob_r,
                     const char **error_r)
{
    unsigned char eh[CACHE_ENTRY_HEADER];

    buf_reset(blob_r);
    if (mb_pread_all(fd, eh, sizeof(eh), r->cache_offset) < 0)
        return mb_fail_errno(error_r, errno == ENODATA ? STORE_ERR_CORRUPT : STORE_ERR_INTERNAL,
                             "cache entry of UID %u", r->uid);
    uint32_t len = mb_get32(eh), uid = mb_get32(eh + 4);
    if (len != r->cache_len || uid != r->uid || len > CACHE_BLOB_MAX)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "cache entry of UID %u does not match",
                       r->uid);
    buf_reserve(blob_r, len);
    if (len > 0 && mb_pread_all(fd, blob_r->data, len, r->cache_offset + sizeof(eh)) < 0)
        return mb_fail_errno(error_r, errno == ENODATA ? STORE_ERR_CORRUPT : STORE_ERR_INTERNAL,
                             "cache entry of UID %u", r->uid);
    blob_r->len = len;
    blob_r->data[len] = '\0';
    uint32_t crc = mb_crc32(eh + 4, 4);
    crc = mb_crc32_update(crc, blob_r->data, len);
    if (crc != mb_get32(eh + 8)) {
        buf_reset(blob_r);
        return mb_fail(error_r, STORE_ERR_CORRUPT, "cache entry of UID %u: checksum mismatch",
                       r->uid);
    }
    return 0;
}
