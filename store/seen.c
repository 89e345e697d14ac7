/* seen.c - seen state of users on mailboxes they do not own (seen.db).
 *
 * DESCRIPTION
 *   Key: userid NUL uniqueid (a userid holds no NUL, so "bob" NUL never
 *   prefixes a key of "bobby").  Value, format version 1:
 *
 *     u8  version (1)
 *     the UID set in lib/seqset.h text form ("1:40,42"), no NUL; may be
 *     empty.
 *
 *   Only the bytes "0123456789:," are accepted, on write and on read (a
 *   record with anything else is damaged).  The set is not parsed here:
 *   its users do that with seqset_parse().
 *
 *   Forgetting a mailbox (seen_delete_mailbox) walks the whole database,
 *   since the key starts with the userid; it runs once per deleted mailbox.
 *   Renaming a user (seen_rename_user) reads the user's records, then
 *   deletes them and writes them under the new userid, in one transaction.
 */
#include "seen.h"

#include "buf.h"
#include "kv.h"
#include "log.h"
#include "mboxname.h"
#include "store.h"

#include <string.h>

#define SEEN_VERSION 1
#define SEEN_UNIQUEID_MAX 64

static int seen_key(const char *userid, const char *uniqueid, struct buf *key,
                    const char **error_r)
{
    size_t ulen = userid == NULL ? 0 : strlen(userid);

    buf_reset(key);
    if (ulen == 0 || ulen > MBOXNAME_USERID_MAX) {
        *error_r = "seen: bad userid";
        return -1;
    }
    buf_append(key, userid, ulen);
    buf_append_char(key, '\0');
    if (uniqueid != NULL) {
        size_t ilen = strlen(uniqueid);
        if (ilen == 0 || ilen > SEEN_UNIQUEID_MAX) {
            *error_r = "seen: bad mailbox unique id";
            return -1;
        }
        buf_append(key, uniqueid, ilen);
    }
    return 0;
}

static bool seen_set_text_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == ':' || s[i] == ','))
            return false;
    }
    return true;
}

int seen_get(struct store *store, struct kv_txn *txn, const char *userid, const char *uniqueid,
             struct buf *uidset_r, const char **error_r)
{
    struct buf key = BUF_INIT, val = BUF_INIT;
    int ret;

    buf_reset(uidset_r);
    if (uniqueid == NULL) {
        *error_r = "seen: bad mailbox unique id";
        return -1;
    }
    if ((ret = seen_key(userid, uniqueid, &key, error_r)) == 0) {
        ret = kv_get(store_db(store, "seen"), txn, key.data, key.len, &val, error_r);
        if (ret == 1) {
            if (val.len < 1 || (unsigned char)val.data[0] != SEEN_VERSION ||
                !seen_set_text_valid(val.data + 1, val.len - 1)) {
                log_error("seen.db: damaged record for %s on %s", userid, uniqueid);
                *error_r = store_error_fmt("seen.db: damaged record for %s on %s", userid,
                                           uniqueid);
                ret = -1;
            } else {
                buf_append(uidset_r, val.data + 1, val.len - 1);
            }
        }
    }
    buf_free(&key);
    buf_free(&val);
    return ret;
}

int seen_set(struct store *store, struct kv_txn *txn, const char *userid, const char *uniqueid,
             const char *uidset, const char **error_r)
{
    struct buf key = BUF_INIT, val = BUF_INIT;
    size_t len = uidset == NULL ? 0 : strlen(uidset);
    int ret;

    if (uniqueid == NULL) {
        *error_r = "seen: bad mailbox unique id";
        return -1;
    }
    if (!seen_set_text_valid(uidset == NULL ? "" : uidset, len) || len >= KV_VALUE_MAX) {
        *error_r = "seen: bad UID set";
        return -1;
    }
    if ((ret = seen_key(userid, uniqueid, &key, error_r)) == 0) {
        buf_append_char(&val, SEEN_VERSION);
        buf_append(&val, uidset == NULL ? "" : uidset, len);
        ret = kv_put(store_db(store, "seen"), txn, key.data, key.len, val.data, val.len,
                     error_r);
    }
    buf_free(&key);
    buf_free(&val);
    return ret;
}

int seen_delete(struct store *store, struct kv_txn *txn, const char *userid, const char *uniqueid,
                const char **error_r)
{
    struct buf key = BUF_INIT;
    int ret;

    if (uniqueid == NULL) {
        *error_r = "seen: bad mailbox unique id";
        return -1;
    }
    if ((ret = seen_key(userid, uniqueid, &key, error_r)) == 0)
        ret = kv_delete(store_db(store, "seen"), txn, key.data, key.len, error_r);
    buf_free(&key);
    return ret;
}

int seen_delete_user(struct store *store, struct kv_txn *txn, const char *userid,
                     const char **error_r)
{
    struct buf prefix = BUF_INIT;
    int ret;

    if ((ret = seen_key(userid, NULL, &prefix, error_r)) == 0)
        ret = store_delete_matching(store, store_db(store, "seen"), txn, prefix.data,
                                    prefix.len, NULL, NULL, NULL, error_r);
    buf_free(&prefix);
    return ret;
}

/* Keys "userid NUL uniqueid" whose uniqueid is the one in ctx. */
static bool seen_match_mailbox(const void *key, size_t keylen, const void *val, size_t vallen,
                               void *ctx)
{
    const char *uniqueid = ctx;
    const char *nul = memchr(key, '\0', keylen);
    size_t ilen = strlen(uniqueid);

    (void)val;
    (void)vallen;
    if (nul == NULL)
        return false;
    size_t rest = keylen - (size_t)(nul + 1 - (const char *)key);
    return rest == ilen && memcmp(nul + 1, uniqueid, ilen) == 0;
}

int seen_delete_mailbox(struct store *store, struct kv_txn *txn, const char *uniqueid,
                        const char **error_r)
{
    size_t len = uniqueid == NULL ? 0 : strlen(uniqueid);

    if (len == 0 || len > SEEN_UNIQUEID_MAX) {
        *error_r = "seen: bad mailbox unique id";
        return -1;
    }
    return store_delete_matching(store, store_db(store, "seen"), txn, NULL, 0,
                                 seen_match_mailbox, (void *)uniqueid, NULL, error_r);
}

/* ---- renaming a user ---- */

struct seen_rename_ctx {
    const struct buf *oldprefix, *newprefix;
};

/* "olduser NUL uniqueid" -> "newuser NUL uniqueid" */
static int seen_rename_rekey(const void *key, size_t keylen, struct buf *newkey_r, void *ctx,
                             const char **error_r)
{
    const struct seen_rename_ctx *rc = ctx;

    (void)error_r;
    buf_append(newkey_r, rc->newprefix->data, rc->newprefix->len);
    buf_append(newkey_r, (const char *)key + rc->oldprefix->len, keylen - rc->oldprefix->len);
    return 1;
}

int seen_rename_user(struct store *store, struct kv_txn *txn, const char *olduserid,
                     const char *newuserid, const char **error_r)
{
    struct buf oldprefix = BUF_INIT, newprefix = BUF_INIT;
    struct seen_rename_ctx rc = { &oldprefix, &newprefix };
    int ret;

    if ((ret = seen_key(olduserid, NULL, &oldprefix, error_r)) == 0 &&
        (ret = seen_key(newuserid, NULL, &newprefix, error_r)) == 0 &&
        strcmp(olduserid, newuserid) != 0)
        ret = store_rekey_matching(store, store_db(store, "seen"), txn, oldprefix.data,
                                   oldprefix.len, seen_rename_rekey, &rc, error_r);
    buf_free(&oldprefix);
    buf_free(&newprefix);
    return ret;
}
