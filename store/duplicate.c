/* duplicate.c - duplicate-delivery records (deliver.db).
 *
 * DESCRIPTION
 *   Key: message-id NUL mailbox id (neither holds a NUL).  Value, format
 *   version 1 (9 bytes):
 *
 *     u8  version (1)
 *     i64 time of delivery, unix seconds, big-endian
 *
 *   The message-id comes from a message, so it is hostile: it must be
 *   1..DUPLICATE_ID_MAX bytes (longer ones are refused, the caller then
 *   just delivers).
 *
 *   duplicate_prune() walks the database without a transaction (so that
 *   lmtpd is never kept waiting), collecting up to DUPLICATE_PRUNE_BATCH
 *   expired keys at a time, and deletes each batch in one transaction that
 *   reads every record again and deletes it only if it is still expired (a
 *   delivery may have marked it again in between).  Damaged records are
 *   deleted too.
 */
#include "duplicate.h"

#include "buf.h"
#include "kv.h"
#include "log.h"
#include "store.h"

#include <string.h>

#define DUPLICATE_VERSION 1
#define DUPLICATE_RECORD_LEN 9
#define DUPLICATE_PRUNE_BATCH 512

static int duplicate_key(const char *message_id, const char *mailbox_id, struct buf *key,
                         const char **error_r)
{
    size_t mlen = message_id == NULL ? 0 : strlen(message_id);
    size_t blen = mailbox_id == NULL ? 0 : strlen(mailbox_id);

    buf_reset(key);
    if (mlen == 0 || mlen > DUPLICATE_ID_MAX) {
        *error_r = "duplicate: message-id empty or too long";
        return -1;
    }
    if (blen == 0 || blen > DUPLICATE_ID_MAX) {
        *error_r = "duplicate: mailbox id empty or too long";
        return -1;
    }
    buf_append(key, message_id, mlen);
    buf_append_char(key, '\0');
    buf_append(key, mailbox_id, blen);
    return 0;
}

/* 0 with the time, -1 when damaged. */
static int duplicate_decode(const void *val, size_t vallen, int64_t *when_r)
{
    const unsigned char *p = val;
    uint64_t u = 0;

    if (vallen != DUPLICATE_RECORD_LEN || p[0] != DUPLICATE_VERSION)
        return -1;
    for (unsigned i = 1; i < DUPLICATE_RECORD_LEN; i++)
        u = (u << 8) | p[i];
    *when_r = (int64_t)u;
    return 0;
}

int duplicate_check(struct store *store, const char *message_id, const char *mailbox_id,
                    time_t *when_r, const char **error_r)
{
    struct buf key = BUF_INIT, val = BUF_INIT;
    int64_t when;
    int ret;

    if ((ret = duplicate_key(message_id, mailbox_id, &key, error_r)) == 0) {
        ret = kv_get(store_db(store, "deliver"), NULL, key.data, key.len, &val, error_r);
        if (ret == 1) {
            if (duplicate_decode(val.data, val.len, &when) < 0) {
                log_error("deliver.db: damaged record for %s in %s", message_id, mailbox_id);
                *error_r = "deliver.db: damaged record";
                ret = -1;
            } else if (when_r != NULL) {
                *when_r = (time_t)when;
            }
        }
    }
    buf_free(&key);
    buf_free(&val);
    return ret;
}

int duplicate_mark(struct store *store, const char *message_id, const char *mailbox_id,
                   time_t when, const char **error_r)
{
    struct buf key = BUF_INIT;
    unsigned char rec[DUPLICATE_RECORD_LEN];
    uint64_t u = (uint64_t)(int64_t)when;
    int ret;

    rec[0] = DUPLICATE_VERSION;
    for (unsigned i = 0; i < 8; i++)
        rec[1 + i] = (unsigned char)(u >> (56 - 8 * i));
    if ((ret = duplicate_key(message_id, mailbox_id, &key, error_r)) == 0)
        ret = kv_put(store_db(store, "deliver"), NULL, key.data, key.len, rec, sizeof(rec),
                     error_r);
    buf_free(&key);
    return ret;
}

/* ---- pruning ---- */

struct duplicate_prune_ctx {
    struct kv_db *db;
    int64_t before;
    struct buf keys;       /* (size_t length, bytes) of each key */
    unsigned nkeys;
    uint64_t removed;      /* by the batch being deleted */
};

static bool duplicate_expired(const void *val, size_t vallen, int64_t before)
{
    int64_t when;

    if (duplicate_decode(val, vallen, &when) < 0) {
        log_warning("deliver.db: damaged record pruned");
        return true;
    }
    return when < before;
}

static int duplicate_prune_collect(const void *key, size_t keylen, const void *val,
                                   size_t vallen, void *ctx)
{
    struct duplicate_prune_ctx *pc = ctx;

    if (!duplicate_expired(val, vallen, pc->before))
        return 0;
    buf_append(&pc->keys, &keylen, sizeof(keylen));
    buf_append(&pc->keys, key, keylen);
    return ++pc->nkeys >= DUPLICATE_PRUNE_BATCH ? 1 : 0;
}

static int duplicate_prune_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct duplicate_prune_ctx *pc = ctx;
    struct buf val = BUF_INIT;
    int ret = 0;

    pc->removed = 0;
    for (size_t pos = 0; pos < pc->keys.len && ret >= 0;) {
        size_t keylen;
        const char *key;
        memcpy(&keylen, pc->keys.data + pos, sizeof(keylen));
        key = pc->keys.data + pos + sizeof(keylen);
        pos += sizeof(keylen) + keylen;
        ret = kv_get_for_update(pc->db, txn, key, keylen, &val, error_r);
        if (ret == 1 && duplicate_expired(val.data, val.len, pc->before)) {
            ret = kv_delete(pc->db, txn, key, keylen, error_r);
            if (ret == 1)
                pc->removed++;
        }
    }
    buf_free(&val);
    return ret < 0 ? ret : 0;
}

int duplicate_prune(struct store *store, time_t before, uint64_t *removed_r, const char **error_r)
{
    struct duplicate_prune_ctx pc = { store_db(store, "deliver"), (int64_t)before, BUF_INIT, 0,
                                      0 };
    uint64_t removed = 0;
    int ret;

    for (;;) {
        buf_reset(&pc.keys);
        pc.nkeys = 0;
        ret = kv_foreach_prefix(pc.db, NULL, NULL, 0, duplicate_prune_collect, &pc, error_r);
        if (ret < 0 || pc.nkeys == 0)
            break;
        ret = kv_transaction(store_kv(store), duplicate_prune_body, &pc, error_r);
        if (ret < 0)
            break;
        removed += pc.removed;
        /* A batch that was not full means the walk saw the whole database;
         * a full one starts again from the first key (the deleted ones are
         * gone, so the walk makes progress). */
        if (pc.nkeys < DUPLICATE_PRUNE_BATCH || pc.removed == 0)
            break;
    }
    if (ret == KV_DEADLOCK) {
        *error_r = "deliver.db: prune walk lost a deadlock (try again)";
        ret = -1;
    }
    buf_free(&pc.keys);
    if (removed_r != NULL)
        *removed_r = removed;
    return ret < 0 ? -1 : 0;
}
