/* mboxlist.c - the mailbox list (mailboxes.db): internal name -> entry.
 *
 * DESCRIPTION
 *   Key: the internal mailbox name (no NUL), so that a prefix walk gives a
 *   hierarchy in name order.  Value, format version 1 (all integers
 *   big-endian, see docs/store-format.md):
 *
 *     u8  version (1)
 *     u32 type (enum mbtype)
 *     u64 created (unix time)
 *     u32 length + bytes  partition   (1..MBOXLIST_PARTITION_MAX)
 *     u32 length + bytes  uniqueid    (32 lowercase hex digits)
 *     u32 length + bytes  acl         (0..MBOXLIST_ACL_MAX)
 *     u32 length + bytes  specialuse  (0..MBOXLIST_SPECIALUSE_MAX)
 *
 *   and nothing after.  A record read back is checked the same way it was
 *   checked when written: an unknown version, a length past the end or
 *   over its bound, a NUL inside a string or trailing bytes is reported as
 *   a damaged record (never trusted, never a crash).
 *
 *   Unique ids are 128 bits from /dev/urandom written as 32 hex digits.
 *
 * DIAGNOSTICS
 *   Errors name the mailbox; damaged records are also logged.
 */
#include "mboxlist.h"

#include "buf.h"
#include "kv.h"
#include "log.h"
#include "mboxname.h"
#include "pool.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define MBOXLIST_VERSION 1
#define MBOXLIST_PARTITION_MAX 64
#define MBOXLIST_UNIQUEID_LEN 32
#define MBOXLIST_UNIQUEID_MAX 64
#define MBOXLIST_ACL_MAX (64 * 1024)
#define MBOXLIST_SPECIALUSE_MAX 1024

static void mboxlist_put_u32(struct buf *b, uint32_t v)
{
    unsigned char c[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };
    buf_append(b, c, sizeof(c));
}

static void mboxlist_put_u64(struct buf *b, uint64_t v)
{
    mboxlist_put_u32(b, (uint32_t)(v >> 32));
    mboxlist_put_u32(b, (uint32_t)v);
}

static void mboxlist_put_str(struct buf *b, const char *s)
{
    size_t len = strlen(s);
    mboxlist_put_u32(b, (uint32_t)len);
    buf_append(b, s, len);
}

/* A cursor over a value being decoded. */
struct mboxlist_reader {
    const unsigned char *p;
    size_t left;
    bool bad;
};

static uint32_t mboxlist_get_u32(struct mboxlist_reader *r)
{
    if (r->bad || r->left < 4) {
        r->bad = true;
        return 0;
    }
    uint32_t v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
                 ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    r->left -= 4;
    return v;
}

static uint64_t mboxlist_get_u64(struct mboxlist_reader *r)
{
    uint64_t hi = mboxlist_get_u32(r);
    return (hi << 32) | mboxlist_get_u32(r);
}

/* A string of at most max bytes without NUL, copied into pool. */
static const char *mboxlist_get_str(struct mboxlist_reader *r, size_t max, struct pool *pool)
{
    uint32_t len = mboxlist_get_u32(r);

    if (r->bad || len > max || len > r->left || memchr(r->p, '\0', len) != NULL) {
        r->bad = true;
        return "";
    }
    const char *s = pool_strndup(pool, (const char *)r->p, len);
    r->p += len;
    r->left -= len;
    return s;
}

static bool mboxlist_uniqueid_valid(const char *id)
{
    size_t i;

    for (i = 0; id[i] != '\0'; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    }
    return i == MBOXLIST_UNIQUEID_LEN;
}

/* Decode val into *entry (strings from pool; entry->name is set by the
 * caller).  Returns 0 or -1 with *why set. */
static int mboxlist_decode(const void *val, size_t vallen, struct pool *pool,
                           struct mboxlist_entry *entry, const char **why)
{
    struct mboxlist_reader r = { val, vallen, false };

    if (vallen == 0) {
        *why = "empty record";
        return -1;
    }
    if (r.p[0] != MBOXLIST_VERSION) {
        *why = "unknown format version (written by a newer release?)";
        return -1;
    }
    r.p++;
    r.left--;
    entry->type = mboxlist_get_u32(&r);
    entry->created = mboxlist_get_u64(&r);
    entry->partition = mboxlist_get_str(&r, MBOXLIST_PARTITION_MAX, pool);
    entry->uniqueid = mboxlist_get_str(&r, MBOXLIST_UNIQUEID_MAX, pool);
    entry->acl = mboxlist_get_str(&r, MBOXLIST_ACL_MAX, pool);
    entry->specialuse = mboxlist_get_str(&r, MBOXLIST_SPECIALUSE_MAX, pool);
    if (r.bad) {
        *why = "truncated record or length out of bounds";
        return -1;
    }
    if (r.left != 0) {
        *why = "trailing bytes after the record";
        return -1;
    }
    if (entry->type > MBTYPE_RESERVED) {
        *why = "unknown mailbox type";
        return -1;
    }
    if (entry->partition[0] == '\0' || !mboxlist_uniqueid_valid(entry->uniqueid)) {
        *why = "bad partition or unique id";
        return -1;
    }
    return 0;
}

static const char *mboxlist_damaged(const char *name, const char *why)
{
    log_error("mailboxes.db: damaged record for %s: %s", name, why);
    return store_error_fmt("mailboxes.db: damaged record for %s: %s (run reconstruct)", name,
                           why);
}

int mboxlist_lookup(struct store *store, struct kv_txn *txn, const char *name,
                    struct pool *pool, struct mboxlist_entry *entry_r, const char **error_r)
{
    struct buf val = BUF_INIT;
    size_t len = name == NULL ? 0 : strlen(name);
    const char *why;
    int ret;

    memset(entry_r, 0, sizeof(*entry_r));
    if (len == 0 || len > MBOXNAME_MAX)
        return 0;
    ret = kv_get(store_db(store, "mailboxes"), txn, name, len, &val, error_r);
    if (ret == 1) {
        if (mboxlist_decode(val.data, val.len, pool, entry_r, &why) < 0) {
            memset(entry_r, 0, sizeof(*entry_r));
            *error_r = mboxlist_damaged(name, why);
            ret = -1;
        } else {
            entry_r->name = pool_strdup(pool, name);
        }
    }
    buf_free(&val);
    return ret;
}

int mboxlist_put(struct store *store, struct kv_txn *txn, const struct mboxlist_entry *entry,
                 const char **error_r)
{
    struct buf val = BUF_INIT;
    const char *acl = entry->acl == NULL ? "" : entry->acl;
    const char *specialuse = entry->specialuse == NULL ? "" : entry->specialuse;
    int ret;

    if (entry->name == NULL || mboxname_check(entry->name, error_r) < 0) {
        if (entry->name == NULL)
            *error_r = "mboxlist: no mailbox name";
        return -1;
    }
    if (entry->partition == NULL || entry->partition[0] == '\0' ||
        strlen(entry->partition) > MBOXLIST_PARTITION_MAX) {
        *error_r = "mboxlist: bad partition name";
        return -1;
    }
    if (entry->uniqueid == NULL || !mboxlist_uniqueid_valid(entry->uniqueid)) {
        *error_r = "mboxlist: the unique id must be 32 lowercase hex digits";
        return -1;
    }
    if (entry->type > MBTYPE_RESERVED) {
        *error_r = "mboxlist: unknown mailbox type";
        return -1;
    }
    if (strlen(acl) > MBOXLIST_ACL_MAX || strlen(specialuse) > MBOXLIST_SPECIALUSE_MAX) {
        *error_r = "mboxlist: ACL or special-use too long";
        return -1;
    }
    buf_append_char(&val, MBOXLIST_VERSION);
    mboxlist_put_u32(&val, entry->type);
    mboxlist_put_u64(&val, entry->created);
    mboxlist_put_str(&val, entry->partition);
    mboxlist_put_str(&val, entry->uniqueid);
    mboxlist_put_str(&val, acl);
    mboxlist_put_str(&val, specialuse);
    ret = kv_put(store_db(store, "mailboxes"), txn, entry->name, strlen(entry->name), val.data,
                 val.len, error_r);
    buf_free(&val);
    return ret;
}

int mboxlist_delete(struct store *store, struct kv_txn *txn, const char *name,
                    const char **error_r)
{
    size_t len = name == NULL ? 0 : strlen(name);

    if (len == 0 || len > MBOXNAME_MAX)
        return 0;
    return kv_delete(store_db(store, "mailboxes"), txn, name, len, error_r);
}

struct mboxlist_foreach_ctx {
    mboxlist_cb *cb;
    void *ctx;
    struct pool *pool;
    struct buf name;
};

static int mboxlist_foreach_record(const void *key, size_t keylen, const void *val,
                                   size_t vallen, void *ctx)
{
    struct mboxlist_foreach_ctx *fc = ctx;
    struct mboxlist_entry entry;
    const char *why;
    int ret;

    pool_clear(fc->pool);
    buf_reset(&fc->name);
    buf_append(&fc->name, key, keylen);
    memset(&entry, 0, sizeof(entry));
    if (keylen > MBOXNAME_MAX || memchr(key, '\0', keylen) != NULL) {
        log_error("mailboxes.db: record with a bad key (%zu bytes) skipped", keylen);
        return 0;
    }
    if (mboxlist_decode(val, vallen, fc->pool, &entry, &why) < 0) {
        /* One damaged record must not hide every other mailbox. */
        mboxlist_damaged(buf_cstr(&fc->name), why);
        return 0;
    }
    entry.name = buf_cstr(&fc->name);
    ret = fc->cb(&entry, fc->ctx);
    return ret == KV_DEADLOCK ? KV_DEADLOCK : ret < 0 ? -1 : ret > 0 ? 1 : 0;
}

int mboxlist_foreach(struct store *store, struct kv_txn *txn, const char *prefix,
                     mboxlist_cb *cb, void *ctx, const char **error_r)
{
    struct mboxlist_foreach_ctx fc = { cb, ctx, pool_create("mboxlist_foreach", 0), BUF_INIT };
    size_t len = prefix == NULL ? 0 : strlen(prefix);
    int ret;

    ret = kv_foreach_prefix(store_db(store, "mailboxes"), txn, prefix, len,
                            mboxlist_foreach_record, &fc, error_r);
    pool_destroy(&fc.pool);
    buf_free(&fc.name);
    return ret;
}

void mboxlist_new_uniqueid(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        log_fatal("mboxlist: open /dev/urandom: %s", strerror(errno));
    while (got < sizeof(raw)) {
        ssize_t n = read(fd, raw + got, sizeof(raw) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            log_fatal("mboxlist: read /dev/urandom: %s", n < 0 ? strerror(errno) : "EOF");
        got += (size_t)n;
    }
    close(fd);
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0x0f];
    }
    out[32] = '\0';
}
