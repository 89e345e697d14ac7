/* quota.c - quota roots in quota.db: limits, usage, and which root governs
 *           a mailbox.
 *
 * DESCRIPTION
 *   Key: the quota root's internal mailbox name.  Value, format version 1
 *   (33 bytes, big-endian signed 64-bit integers):
 *
 *     u8  version (1)
 *     i64 limit_storage_kb   (-1 = none)
 *     i64 limit_messages     (-1 = none)
 *     i64 used_bytes         (>= 0)
 *     i64 used_messages      (>= 0)
 *
 *   Any other length, version or a value out of range is a damaged record.
 *
 *   Read-modify-write (limits, usage) happens inside one transaction with
 *   the record read for update, so concurrent deliveries never lose an
 *   update.  Usage never goes below zero: a negative delta larger than the
 *   usage leaves 0 (and logs the drift, which quota -f repairs).
 *
 *   The root of a mailbox is the deepest existing root on its path:
 *   "user.a.b.c", "user.a.b", "user.a" -- never above a user's INBOX, and
 *   never out of the mailbox's domain; shared names go up to their
 *   top-level name.
 *
 *   quota_check(): a delta that is not positive always fits (so expunging
 *   or moving out is never refused); else STORAGE compares the limit in KiB
 *   with (used_bytes + delta_bytes) rounded up to whole KiB, MESSAGE the
 *   limit with used_messages + delta_messages.
 */
#include "quota.h"

#include "buf.h"
#include "kv.h"
#include "log.h"
#include "mboxname.h"
#include "store.h"

#include <string.h>

#define QUOTA_VERSION 1
#define QUOTA_RECORD_LEN (1 + 4 * 8)

static void quota_encode(const struct quota *q, unsigned char out[QUOTA_RECORD_LEN])
{
    const int64_t v[4] = { q->limit_storage_kb, q->limit_messages, q->used_bytes,
                           q->used_messages };

    out[0] = QUOTA_VERSION;
    for (unsigned i = 0; i < 4; i++) {
        uint64_t u = (uint64_t)v[i];
        for (unsigned j = 0; j < 8; j++)
            out[1 + 8 * i + j] = (unsigned char)(u >> (56 - 8 * j));
    }
}

static int quota_decode(const struct buf *val, struct quota *q)
{
    const unsigned char *p = (const unsigned char *)val->data;
    int64_t v[4];

    if (val->len != QUOTA_RECORD_LEN || p[0] != QUOTA_VERSION)
        return -1;
    for (unsigned i = 0; i < 4; i++) {
        uint64_t u = 0;
        for (unsigned j = 0; j < 8; j++)
            u = (u << 8) | p[1 + 8 * i + j];
        v[i] = (int64_t)u;
    }
    if (v[0] < -1 || v[1] < -1 || v[2] < 0 || v[3] < 0)
        return -1;
    q->limit_storage_kb = v[0];
    q->limit_messages = v[1];
    q->used_bytes = v[2];
    q->used_messages = v[3];
    return 0;
}

static const char *quota_damaged(const char *root)
{
    log_error("quota.db: damaged record for %s", root);
    return store_error_fmt("quota.db: damaged record for %s (run quota -f)", root);
}

static bool quota_root_ok(const char *root)
{
    size_t len = root == NULL ? 0 : strlen(root);
    return len > 0 && len <= MBOXNAME_MAX;
}

/* Read root (for update when asked); 1 found, 0 none, -1, KV_DEADLOCK. */
static int quota_read(struct store *store, struct kv_txn *txn, const char *root,
                      bool for_update, struct quota *q_r, const char **error_r)
{
    struct buf val = BUF_INIT;
    struct kv_db *db = store_db(store, "quota");
    int ret;

    memset(q_r, 0, sizeof(*q_r));
    if (!quota_root_ok(root))
        return 0;
    ret = for_update ? kv_get_for_update(db, txn, root, strlen(root), &val, error_r)
                     : kv_get(db, txn, root, strlen(root), &val, error_r);
    if (ret == 1 && quota_decode(&val, q_r) < 0) {
        memset(q_r, 0, sizeof(*q_r));
        *error_r = quota_damaged(root);
        ret = -1;
    }
    buf_free(&val);
    return ret;
}

static int quota_write(struct store *store, struct kv_txn *txn, const char *root,
                       const struct quota *q, const char **error_r)
{
    unsigned char rec[QUOTA_RECORD_LEN];

    quota_encode(q, rec);
    return kv_put(store_db(store, "quota"), txn, root, strlen(root), rec, sizeof(rec), error_r);
}

int quota_get(struct store *store, struct kv_txn *txn, const char *root, struct quota *q_r,
              const char **error_r)
{
    return quota_read(store, txn, root, false, q_r, error_r);
}

/* ---- read-modify-write bodies ---- */

enum quota_op { QUOTA_OP_LIMITS, QUOTA_OP_USAGE_SET, QUOTA_OP_USAGE_ADD };

struct quota_update {
    struct store *store;
    const char *root;
    enum quota_op op;
    int64_t a, b;
};

static int64_t quota_add_clamped(const char *root, const char *what, int64_t used,
                                 int64_t delta)
{
    int64_t sum;

    if (__builtin_add_overflow(used, delta, &sum))
        sum = delta > 0 ? INT64_MAX : 0;
    if (sum < 0) {
        log_warning("quota %s: %s usage would go below zero (%lld%+lld): left at 0", root,
                    what, (long long)used, (long long)delta);
        sum = 0;
    }
    return sum;
}

static int quota_update_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct quota_update *u = ctx;
    struct quota q;
    int ret = quota_read(u->store, txn, u->root, true, &q, error_r);

    if (ret < 0)
        return ret;
    switch (u->op) {
    case QUOTA_OP_LIMITS:
        if (ret == 0)
            memset(&q, 0, sizeof(q));
        q.limit_storage_kb = u->a;
        q.limit_messages = u->b;
        break;
    case QUOTA_OP_USAGE_SET:
        if (ret == 0)
            return 0;
        q.used_bytes = u->a;
        q.used_messages = u->b;
        break;
    case QUOTA_OP_USAGE_ADD:
        if (ret == 0)
            return 0;
        q.used_bytes = quota_add_clamped(u->root, "storage", q.used_bytes, u->a);
        q.used_messages = quota_add_clamped(u->root, "message", q.used_messages, u->b);
        break;
    }
    return quota_write(u->store, txn, u->root, &q, error_r);
}

int quota_set_limits(struct store *store, struct kv_txn *txn, const char *root,
                     int64_t storage_kb, int64_t messages, const char **error_r)
{
    struct quota_update u = { store, root, QUOTA_OP_LIMITS, storage_kb, messages };

    if (root == NULL || mboxname_check(root, error_r) < 0) {
        if (root == NULL)
            *error_r = "quota: no root";
        return -1;
    }
    if (storage_kb < -1 || messages < -1) {
        *error_r = "quota: a limit is -1 (none) or at least 0";
        return -1;
    }
    return store_txn_run(store, txn, quota_update_body, &u, error_r);
}

int quota_set_usage(struct store *store, struct kv_txn *txn, const char *root,
                    int64_t used_bytes, int64_t used_messages, const char **error_r)
{
    struct quota_update u = { store, root, QUOTA_OP_USAGE_SET, used_bytes, used_messages };

    if (used_bytes < 0 || used_messages < 0) {
        *error_r = "quota: usage cannot be negative";
        return -1;
    }
    if (!quota_root_ok(root))
        return 0;
    return store_txn_run(store, txn, quota_update_body, &u, error_r);
}

int quota_add_usage(struct store *store, struct kv_txn *txn, const char *root,
                    int64_t delta_bytes, int64_t delta_messages, const char **error_r)
{
    struct quota_update u = { store, root, QUOTA_OP_USAGE_ADD, delta_bytes, delta_messages };

    if (!quota_root_ok(root) || (delta_bytes == 0 && delta_messages == 0))
        return 0;
    return store_txn_run(store, txn, quota_update_body, &u, error_r);
}

int quota_delete(struct store *store, struct kv_txn *txn, const char *root, const char **error_r)
{
    if (!quota_root_ok(root))
        return 0;
    return kv_delete(store_db(store, "quota"), txn, root, strlen(root), error_r);
}

int quota_find_root(struct store *store, struct kv_txn *txn, const char *internal_name,
                    struct buf *root_r, const char **error_r)
{
    const char *local;
    size_t minlen, len;
    int ret;

    buf_reset(root_r);
    if (internal_name == NULL || mboxname_check(internal_name, error_r) < 0) {
        if (internal_name == NULL)
            *error_r = "quota: no mailbox name";
        return -1;
    }
    /* The shortest candidate: "[dom!]user.X" or "[dom!]top". */
    local = mboxname_local(internal_name);
    minlen = (size_t)(local - internal_name);
    if (strncmp(local, "user.", 5) == 0)
        minlen += 5 + strcspn(local + 5, ".");
    else
        minlen += strcspn(local, ".");

    len = strlen(internal_name);
    buf_append(root_r, internal_name, len);
    for (;;) {
        struct quota q;
        buf_truncate(root_r, len);
        ret = quota_read(store, txn, buf_cstr(root_r), false, &q, error_r);
        if (ret != 0)
            break;
        if (len <= minlen)
            break;
        while (len > minlen && internal_name[len - 1] != '.')
            len--;
        if (len > minlen)
            len--;   /* drop the '.' itself */
    }
    if (ret != 1)
        buf_reset(root_r);
    return ret;
}

int quota_check(struct store *store, struct kv_txn *txn, const char *root, int64_t delta_bytes,
                int64_t delta_messages, const char **error_r)
{
    struct quota q;
    int ret;

    if (delta_bytes <= 0 && delta_messages <= 0)
        return 0;
    /* In a transaction the caller goes on to add the usage: read for update
     * so that two deliveries cannot both pass the check. */
    ret = quota_read(store, txn, root, txn != NULL, &q, error_r);
    if (ret <= 0)
        return ret;
    if (delta_bytes > 0 && q.limit_storage_kb >= 0) {
        int64_t total;
        if (__builtin_add_overflow(q.used_bytes, delta_bytes, &total)) {
            *error_r = "over quota (STORAGE)";
            return STORE_ERR_OVERQUOTA;
        }
        int64_t kb = total / 1024 + (total % 1024 != 0);
        if (kb > q.limit_storage_kb) {
            *error_r = "over quota (STORAGE)";
            return STORE_ERR_OVERQUOTA;
        }
    }
    if (delta_messages > 0 && q.limit_messages >= 0) {
        int64_t total;
        if (__builtin_add_overflow(q.used_messages, delta_messages, &total) ||
            total > q.limit_messages) {
            *error_r = "over quota (MESSAGE)";
            return STORE_ERR_OVERQUOTA;
        }
    }
    return 0;
}

struct quota_foreach_ctx {
    quota_cb *cb;
    void *ctx;
    struct buf root;
};

static int quota_foreach_record(const void *key, size_t keylen, const void *val, size_t vallen,
                                void *ctx)
{
    struct quota_foreach_ctx *fc = ctx;
    struct buf v = { (char *)val, vallen, vallen };
    struct quota q;

    buf_reset(&fc->root);
    buf_append(&fc->root, key, keylen);
    if (memchr(key, '\0', keylen) != NULL || quota_decode(&v, &q) < 0) {
        quota_damaged(buf_cstr(&fc->root));
        return 0;
    }
    int ret = fc->cb(buf_cstr(&fc->root), &q, fc->ctx);
    return ret == KV_DEADLOCK ? KV_DEADLOCK : ret < 0 ? -1 : ret > 0 ? 1 : 0;
}

int quota_foreach(struct store *store, struct kv_txn *txn, const char *prefix, quota_cb *cb,
                  void *ctx, const char **error_r)
{
    struct quota_foreach_ctx fc = { cb, ctx, BUF_INIT };
    int ret = kv_foreach_prefix(store_db(store, "quota"), txn, prefix,
                                prefix == NULL ? 0 : strlen(prefix), quota_foreach_record, &fc,
                                error_r);
    buf_free(&fc.root);
    return ret;
}
