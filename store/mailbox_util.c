/* mailbox_util.c - small helpers of the mailbox module: error messages,
 * little-endian fields, checksums, durable file operations, UIDVALIDITY
 * allocation, and the glue to the quota and seen databases.
 *
 * Error messages are formatted into a few rotating thread-local buffers so
 * a message may quote the previous one (a kv error, say) and stays valid
 * until the next few mailbox calls of the thread. */
#include "mailbox_private.h"

#include "buf.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "mboxname.h"
#include "quota.h"
#include "seen.h"
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
#include <unistd.h>
#include <zlib.h>

#define MB_ERRBUFS 4
#define MB_ERRLEN 512

static _Thread_local char mb_errbuf[MB_ERRBUFS][MB_ERRLEN];
static _Thread_local unsigned mb_errnext;

static int mb_vfail(const char **error_r, int code, const char *suffix, const char *fmt,
                    va_list ap)
{
    char *out = mb_errbuf[mb_errnext++ % MB_ERRBUFS];
    int len = vsnprintf(out, MB_ERRLEN, fmt, ap);

    if (suffix != NULL && len >= 0 && len < MB_ERRLEN)
        snprintf(out + len, MB_ERRLEN - (size_t)len, ": %s", suffix);
    if (error_r != NULL)
        *error_r = out;
    return code;
}

int mb_fail(const char **error_r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mb_vfail(error_r, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int mb_fail_errno(const char **error_r, int code, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    mb_vfail(error_r, code, strerror(saved), fmt, ap);
    va_end(ap);
    errno = saved;
    return code;
}

void mb_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

void mb_put64(unsigned char *p, uint64_t v)
{
    mb_put32(p, (uint32_t)v);
    mb_put32(p + 4, (uint32_t)(v >> 32));
}

uint32_t mb_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t mb_get64(const unsigned char *p)
{
    return (uint64_t)mb_get32(p) | (uint64_t)mb_get32(p + 4) << 32;
}

uint32_t mb_crc32(const void *data, size_t len)
{
    return mb_crc32_update((uint32_t)crc32(0L, Z_NULL, 0), data, len);
}

uint32_t mb_crc32_update(uint32_t start, const void *data, size_t len)
{
    uLong crc = start;
    const unsigned char *p = data;

    while (len > 0) {
        uInt chunk = len > 1u << 30 ? 1u << 30 : (uInt)len;
        crc = crc32(crc, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return (uint32_t)crc;
}

int mb_fsync_dir(int dirfd, const char **error_r)
{
    if (fsync(dirfd) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "fsync of a mailbox directory");
    return 0;
}

int mb_pwrite_all(int fd, const void *data, size_t len, uint64_t offset)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

int mb_pread_all(int fd, void *data, size_t len, uint64_t offset)
{
    char *p = data;

    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ENODATA;   /* short file */
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

int mb_copy_file(int srcdirfd, const char *src, int dstdirfd, const char *dst,
                 const char **error_r)
{
    int in = openat(srcdirfd, src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "open %s", src);
    int out = openat(dstdirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (out < 0) {
        mb_fail_errno(error_r, STORE_ERR_INTERNAL, "create %s", dst);
        close(in);
        return STORE_ERR_INTERNAL;
    }
    char buf[65536];
    uint64_t off = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            mb_fail_errno(error_r, STORE_ERR_INTERNAL, "read %s", src);
            goto fail;
        }
        if (n == 0)
            break;
        if (mb_pwrite_all(out, buf, (size_t)n, off) < 0) {
            mb_fail_errno(error_r, STORE_ERR_INTERNAL, "write %s", dst);
            goto fail;
        }
        off += (uint64_t)n;
    }
    if (fdatasync(out) < 0) {
        mb_fail_errno(error_r, STORE_ERR_INTERNAL, "fsync %s", dst);
        goto fail;
    }
    close(in);
    close(out);
    return 0;
fail:
    close(in);
    close(out);
    unlinkat(dstdirfd, dst, 0);
    return STORE_ERR_INTERNAL;
}

static int mb_rmtree_at(int parentfd, const char *name, int depth, const char **error_r)
{
    if (depth > 16)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: directory tree too deep", name);
    int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTDIR || errno == ELOOP) {
            if (unlinkat(parentfd, name, 0) < 0 && errno != ENOENT)
                return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "unlink %s", name);
            return 0;
        }
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "open %s", name);
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "opendir %s", name);
    }
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
            if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                continue;
            if (errno != EISDIR && errno != EPERM) {
                if (errno == ENOENT)
                    continue;
                r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "unlink %s", de->d_name);
                break;
            }
            r = mb_rmtree_at(dirfd(d), de->d_name, depth + 1, error_r);
            if (r < 0)
                break;
        } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
            r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "unlink %s", de->d_name);
            break;
        }
    }
    closedir(d);
    if (r == 0 && unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "rmdir %s", name);
    return r;
}

int mb_rmtree(const char *path, const char **error_r)
{
    return mb_rmtree_at(AT_FDCWD, path, 0, error_r);
}

int mb_mkdir_p(const char *path, const char **error_r)
{
    struct buf b = BUF_INIT;
    size_t len = strlen(path);
    int r = 0;

    buf_append(&b, path, len);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && b.data[i] != '/')
            continue;
        char saved = b.data[i];
        b.data[i] = '\0';
        if (mkdir(b.data, 0750) == 0) {
            /* make the new entry durable in its parent */
            char *slash = strrchr(b.data, '/');
            if (slash != NULL && slash != b.data) {
                *slash = '\0';
                int pfd = open(b.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pfd >= 0) {
                    (void)fsync(pfd);
                    close(pfd);
                }
                *slash = '/';
            }
        } else if (errno != EEXIST) {
            r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "mkdir %s", b.data);
            b.data[i] = saved;
            break;
        }
        b.data[i] = saved;
    }
    buf_free(&b);
    return r;
}

void mb_message_name(uint32_t uid, char out[16])
{
    snprintf(out, 16, "%u.", uid);
}

uint32_t mb_new_uidvalidity(struct store *store)
{
    static uint32_t last_local;
    uint32_t now = (uint32_t)time(NULL);
    uint32_t value = now > last_local ? now : last_local + 1;
    const char *dir = config_str(store_config(store), "configdirectory");
    struct buf path = BUF_INIT;

    buf_printf(&path, "%s/%s", dir, MB_UIDVALIDITY_FILE);
    int fd = open(buf_cstr(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd >= 0) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        while (fcntl(fd, F_OFD_SETLKW, &fl) < 0 && errno == EINTR)
            ;
        /* "ROOSTUIDV 1 <last value>\n": magic, format version, value */
        char text[64] = "";
        ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
        uint64_t stored = 0;
        if (n > 0) {
            text[n] = '\0';
            char *nl = strchr(text, '\n');
            if (nl != NULL)
                *nl = '\0';
            if (!str_has_prefix(text, MB_UIDVALIDITY_MAGIC " 1 ") ||
                str_to_u64(text + strlen(MB_UIDVALIDITY_MAGIC " 1 "), UINT32_MAX, &stored) < 0) {
                log_warning("mailbox: %s is damaged; UIDVALIDITY from the clock",
                            buf_cstr(&path));
                stored = 0;
            }
        }
        if (stored >= value)
            value = (uint32_t)stored + 1;
        if (value == 0)
            value = 1;
        int len = snprintf(text, sizeof(text), "%s 1 %u\n", MB_UIDVALIDITY_MAGIC, value);
        /* in place, never truncated: the value only grows, so does the text */
        if (mb_pwrite_all(fd, text, (size_t)len, 0) == 0)
            (void)fdatasync(fd);
        close(fd);   /* releases the OFD lock */
    } else {
        log_warning("mailbox: cannot open %s: %s (UIDVALIDITY from the clock only)",
                    buf_cstr(&path), strerror(errno));
    }
    buf_free(&path);
    last_local = value;
    return value;
}

int64_t mb_cleanup_delay(struct store *store)
{
    return config_int(store_config(store), "expunge_cleanup_delay");
}

bool mb_is_owner(const struct mailbox *mb, const char *userid)
{
    if (userid == NULL)
        return true;
    struct buf owner = BUF_INIT;
    bool r = mboxname_owner(mb->name, &owner) && strcmp(buf_cstr(&owner), userid) == 0;
    buf_free(&owner);
    return r;
}

int mb_quota_root(struct store *store, const char *name, struct buf *root_r,
                  const char **error_r)
{
    const char *err = NULL;
    int r = quota_find_root(store, NULL, name, root_r, &err);
    if (r < 0)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "quota root of %s: %s", name,
                       err != NULL ? err : "failed");
    return r > 0 ? 1 : 0;
}

void mb_quota_charge(struct store *store, const char *root, int64_t bytes, int64_t messages)
{
    const char *err = NULL;

    if (root == NULL || *root == '\0' || (bytes == 0 && messages == 0))
        return;
    if (quota_add_usage(store, NULL, root, bytes, messages, &err) < 0)
        log_warning("mailbox: quota usage of %s not updated (%+lld bytes, %+lld messages): %s"
                    " (run quota -f)", root, (long long)bytes, (long long)messages,
                    err != NULL ? err : "failed");
}

/* (a ∪ add) \ remove on sorted range lists, into out. */
static void mb_seqset_merge(const struct seqset *a, const struct seqset *add,
                            const struct seqset *remove, struct seqset *out)
{
    struct seqset tmp;

    seqset_init(&tmp);
    for (size_t i = 0; i < a->count; i++)
        seqset_add_range(&tmp, a->ranges[i].low, a->ranges[i].high);
    if (add != NULL) {
        for (size_t i = 0; i < add->count; i++)
            seqset_add_range(&tmp, add->ranges[i].low, add->ranges[i].high);
    }
    size_t j = 0;
    for (size_t i = 0; i < tmp.count; i++) {
        uint32_t low = tmp.ranges[i].low, high = tmp.ranges[i].high;
        while (remove != NULL && j < remove->count && remove->ranges[j].high < low)
            j++;
        size_t k = j;
        while (low <= high) {
            if (remove == NULL || k >= remove->count || remove->ranges[k].low > high) {
                seqset_add_range(out, low, high);
                break;
            }
            const struct seqset_range *rr = &remove->ranges[k];
            if (rr->low > low)
                seqset_add_range(out, low, rr->low - 1);
            if (rr->high >= high)
                break;
            low = rr->high + 1;
            k++;
        }
    }
    seqset_free(&tmp);
}

struct mb_seen_ctx {
    struct store *store;
    const char *userid, *uniqueid;
    const struct seqset *add, *remove;
};

static int mb_seen_txn(struct kv_txn *txn, void *vctx, const char **error_r)
{
    struct mb_seen_ctx *ctx = vctx;
    struct buf text = BUF_INIT;
    struct seqset old, merged;
    int r;

    seqset_init(&old);
    seqset_init(&merged);
    r = seen_get(ctx->store, txn, ctx->userid, ctx->uniqueid, &text, error_r);
    if (r < 0)
        goto out;
    /* a damaged entry is replaced rather than trusted */
    if (text.len > 0 && seqset_parse(text.data, text.len, &old) < 0) {
        seqset_free(&old);
        seqset_init(&old);
    }
    mb_seqset_merge(&old, ctx->add, ctx->remove, &merged);
    buf_reset(&text);
    seqset_format(&merged, &text);
    r = seen_set(ctx->store, txn, ctx->userid, ctx->uniqueid, buf_cstr(&text), error_r);
out:
    seqset_free(&old);
    seqset_free(&merged);
    buf_free(&text);
    return r;
}

int mb_seen_update(struct store *store, const char *userid, const char *uniqueid,
                   const struct seqset *add, const struct seqset *remove, const char **error_r)
{
    struct mb_seen_ctx ctx = { store, userid, uniqueid, add, remove };
    const char *err = NULL;

    if ((add == NULL || seqset_is_empty(add)) && (remove == NULL || seqset_is_empty(remove)))
        return 0;
    int r = kv_transaction(store_kv(store), mb_seen_txn, &ctx, &err);
    if (r < 0)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "seen state of %s: %s", userid,
                       err != NULL ? err : "failed");
    return 0;
}
