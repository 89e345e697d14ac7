/* mailbox_header.c - roost.header: the names of a mailbox.
 *
 * What rarely changes and has variable length: the uniqueid, the mailbox
 * name (for reconstruct; the mailbox list is authoritative), UIDVALIDITY
 * (also in the index header; the two must agree), a copy of the ACL, the
 * quota root name (informational: enforcement asks quota_find_root) and
 * the user-defined keyword names, whose positions are the keyword bits of
 * the index records.  Rewritten whole: temp file, fsync, rename, fsync of
 * the directory, under the mailbox's exclusive lock.
 *
 * Layout (little-endian): "ROOSTHDR", u32 version, u32 total length,
 * u32 UIDVALIDITY, u32 keyword count, then length-prefixed (u32) strings:
 * uniqueid, name, acl, quotaroot, keyword 0..n-1; then u32 CRC32 of all
 * that precedes it.  Keyword names: 1..255 bytes, printable, no space, not
 * starting with '\'; compared case-insensitively (RFC 3501 flags). */
#include "mailbox_private.h"

#include "pool.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void mb_header_free(struct mb_header *h)
{
    free(h->uniqueid);
    free(h->name);
    free(h->acl);
    free(h->quotaroot);
    for (unsigned i = 0; i < h->nkeywords; i++)
        free(h->keywords[i]);
    memset(h, 0, sizeof(*h));
}

void mb_header_copy(struct mb_header *dst, const struct mb_header *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->uidvalidity = src->uidvalidity;
    dst->uniqueid = xstrdup(src->uniqueid != NULL ? src->uniqueid : "");
    dst->name = xstrdup(src->name != NULL ? src->name : "");
    dst->acl = xstrdup(src->acl != NULL ? src->acl : "");
    dst->quotaroot = xstrdup(src->quotaroot != NULL ? src->quotaroot : "");
    dst->nkeywords = src->nkeywords;
    for (unsigned i = 0; i < src->nkeywords; i++)
        dst->keywords[i] = xstrdup(src->keywords[i]);
}

static bool mb_keyword_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > MAILBOX_KEYWORD_MAX_LEN || name[0] == '\\')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == 0x7f || c == '(' || c == ')' || c == '{' || c == '%' ||
            c == '*' || c == '"' || c == '\\' || c == ']')
            return false;
    }
    return true;
}

static void mb_put_string(struct buf *b, const char *s)
{
    unsigned char len[4];
    size_t n = s != NULL ? strlen(s) : 0;

    mb_put32(len, (uint32_t)n);
    buf_append(b, len, 4);
    if (n > 0)
        buf_append(b, s, n);
}

static int mb_get_string(const unsigned char *data, size_t len, size_t *pos, size_t max,
                         char **out)
{
    if (len - *pos < 4)
        return -1;
    uint32_t n = mb_get32(data + *pos);
    *pos += 4;
    if (n > max || len - *pos < n || memchr(data + *pos, '\0', n) != NULL)
        return -1;
    *out = xstrndup((const char *)data + *pos, n);
    *pos += n;
    return 0;
}

static bool mb_uniqueid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static int mb_header_parse(const unsigned char *data, size_t len, struct mb_header *h,
                           const char **error_r)
{
    memset(h, 0, sizeof(*h));
    if (len < 28 || memcmp(data, HEADER_MAGIC, 8) != 0)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.header: bad magic number");
    if (mb_get32(data + len - 4) != mb_crc32(data, len - 4))
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.header: checksum mismatch");
    uint32_t version = mb_get32(data + 8);
    if (version != HEADER_VERSION)
        return mb_fail(error_r, STORE_ERR_CORRUPT,
                       "roost.header: format version %u, this program knows %u", version,
                       HEADER_VERSION);
    if (mb_get32(data + 12) != len)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.header: length mismatch");
    h->uidvalidity = mb_get32(data + 16);
    uint32_t nkw = mb_get32(data + 20);
    if (nkw > MAILBOX_MAX_KEYWORDS || h->uidvalidity == 0)
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.header: inconsistent fields");
    size_t pos = 24, end = len - 4;
    if (mb_get_string(data, end, &pos, 64, &h->uniqueid) < 0 ||
        mb_get_string(data, end, &pos, 4096, &h->name) < 0 ||
        mb_get_string(data, end, &pos, HEADER_MAX_SIZE, &h->acl) < 0 ||
        mb_get_string(data, end, &pos, 4096, &h->quotaroot) < 0)
        goto bad;
    for (uint32_t i = 0; i < nkw; i++) {
        if (mb_get_string(data, end, &pos, MAILBOX_KEYWORD_MAX_LEN, &h->keywords[i]) < 0)
            goto bad;
        h->nkeywords = i + 1;
        if (!mb_keyword_valid(h->keywords[i]))
            goto bad;
    }
    if (pos != end || !mb_uniqueid_valid(h->uniqueid))
        goto bad;
    return 0;
bad:
    mb_header_free(h);
    return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.header: malformed fields");
}

int mb_header_read(int dirfd, struct mb_header *h, struct stat *st_r, const char **error_r)
{
    int fd = openat(dirfd, MB_HEADER_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.header is missing");
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "open roost.header");
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "fstat roost.header");
    }
    if (st.st_size < 28 || st.st_size > HEADER_MAX_SIZE) {
        close(fd);
        return mb_fail(error_r, STORE_ERR_CORRUPT, "roost.header has an impossible size");
    }
    size_t len = (size_t)st.st_size;
    unsigned char *data = xmalloc(len);
    if (mb_pread_all(fd, data, len, 0) < 0) {
        int code = errno == ENODATA ? STORE_ERR_CORRUPT : STORE_ERR_INTERNAL;
        mb_fail_errno(error_r, code, "read roost.header");
        close(fd);
        free(data);
        return code;
    }
    close(fd);
    int r = mb_header_parse(data, len, h, error_r);
    free(data);
    if (r == 0 && st_r != NULL)
        *st_r = st;
    return r;
}

int mb_header_write(int dirfd, const struct mb_header *h, const char **error_r)
{
    struct buf b = BUF_INIT;
    unsigned char word[4];
    int r = 0;

    buf_append(&b, HEADER_MAGIC, 8);
    mb_put32(word, HEADER_VERSION);
    buf_append(&b, word, 4);
    buf_append(&b, "\0\0\0\0", 4);     /* total length, patched below */
    mb_put32(word, h->uidvalidity);
    buf_append(&b, word, 4);
    mb_put32(word, h->nkeywords);
    buf_append(&b, word, 4);
    mb_put_string(&b, h->uniqueid);
    mb_put_string(&b, h->name);
    mb_put_string(&b, h->acl);
    mb_put_string(&b, h->quotaroot);
    for (unsigned i = 0; i < h->nkeywords; i++)
        mb_put_string(&b, h->keywords[i]);
    if (b.len + 4 > HEADER_MAX_SIZE) {
        buf_free(&b);
        return mb_fail(error_r, STORE_ERR_LIMIT, "roost.header would be too large");
    }
    mb_put32((unsigned char *)b.data + 12, (uint32_t)(b.len + 4));
    mb_put32(word, mb_crc32(b.data, b.len));
    buf_append(&b, word, 4);

    int fd = openat(dirfd, MB_HEADER_TMP_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        buf_free(&b);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "create %s", MB_HEADER_TMP_FILE);
    }
    if (mb_pwrite_all(fd, b.data, b.len, 0) < 0 || fdatasync(fd) < 0) {
        r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "write %s", MB_HEADER_TMP_FILE);
        close(fd);
        unlinkat(dirfd, MB_HEADER_TMP_FILE, 0);
        buf_free(&b);
        return r;
    }
    close(fd);
    buf_free(&b);
    if (renameat(dirfd, MB_HEADER_TMP_FILE, dirfd, MB_HEADER_FILE) < 0) {
        r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "rename %s", MB_HEADER_TMP_FILE);
        unlinkat(dirfd, MB_HEADER_TMP_FILE, 0);
        return r;
    }
    return mb_fsync_dir(dirfd, error_r);
}

static int mb_keyword_index(const struct mb_header *h, const char *name)
{
    for (unsigned i = 0; i < h->nkeywords; i++) {
        if (strcasecmp(h->keywords[i], name) == 0)
            return (int)i;
    }
    return -1;
}

int mb_keywords_resolve(struct mailbox *mb, const char *const *names, unsigned n,
                        struct mailbox_keywords *bits_r, const char **error_r)
{
    struct mb_header newh;
    bool changed = false;
    int r = 0;

    memset(bits_r, 0, sizeof(*bits_r));
    if (n == 0)
        return 0;
    if (mb->lock_type != MB_LOCK_EX)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: keywords need the write lock",
                       mb->name);
    mb_header_copy(&newh, &mb->mh);
    for (unsigned i = 0; i < n; i++) {
        if (names[i] == NULL || !mb_keyword_valid(names[i])) {
            r = mb_fail(error_r, STORE_ERR_BADNAME, "invalid keyword \"%.64s\"",
                        names[i] != NULL ? names[i] : "");
            goto out;
        }
        int k = mb_keyword_index(&newh, names[i]);
        if (k < 0) {
            if (newh.nkeywords >= MAILBOX_MAX_KEYWORDS) {
                r = mb_fail(error_r, STORE_ERR_LIMIT,
                            "%s: too many keywords (at most %d per mailbox)", mb->name,
                            MAILBOX_MAX_KEYWORDS);
                goto out;
            }
            k = (int)newh.nkeywords;
            newh.keywords[newh.nkeywords++] = xstrdup(names[i]);
            changed = true;
        }
        bits_r->bits[k / 64] |= (uint64_t)1 << (k % 64);
    }
    if (changed) {
        r = mb_header_write(mb->dirfd, &newh, error_r);
        if (r < 0)
            goto out;
        struct stat st;
        if (fstatat(mb->dirfd, MB_HEADER_FILE, &st, 0) == 0)
            mb->header_st = st;
        else
            memset(&mb->header_st, 0, sizeof(mb->header_st));
        mb_header_free(&mb->mh);
        mb->mh = newh;
        return 0;
    }
out:
    mb_header_free(&newh);
    return r;
}

int mailbox_set_acl_copy(struct mailbox *mb, const char *acl, const char **error_r)
{
    struct mb_header nh;
    struct stat st;
    int r;

    if ((r = mb_lock(mb, true, error_r)) < 0)
        return r;
    mb_header_copy(&nh, &mb->mh);
    free(nh.acl);
    nh.acl = xstrdup(acl != NULL ? acl : "");
    r = mb_header_write(mb->dirfd, &nh, error_r);
    if (r == 0) {
        if (fstatat(mb->dirfd, MB_HEADER_FILE, &st, 0) == 0)
            mb->header_st = st;
        mb_header_free(&mb->mh);
        mb->mh = nh;
        mb->acl = pool_strdup(mb->pool, acl != NULL ? acl : "");
    } else {
        mb_header_free(&nh);
    }
    mb_unlock(mb);
    return r;
}
