/* annotate.c - mailbox and server annotations (annotations.db, RFC 5464).
 *
 * DESCRIPTION
 *   Key: mailbox uniqueid NUL entry NUL userid.  The mailbox id is "" for
 *   server annotations (the key then starts with NUL) and the userid is ""
 *   for shared values.  None of the three holds a NUL, so the prefix
 *   "id" NUL selects one mailbox and "id" NUL "/shared" its entries below
 *   /shared.  Value, format version 1:
 *
 *     u8  version (1)
 *     the value's bytes (0..ANNOTATE_VALUE_MAX, any bytes)
 *
 *   Entry names are checked as RFC 5464 section 3.2 describes them: a
 *   '/' then '/'-separated components of printable ASCII without '*' or
 *   '%', no empty component, no trailing '/', at most ANNOTATE_ENTRY_MAX
 *   bytes.
 *
 *   A user's private values are found by the last key component, so
 *   deleting or renaming a user (annotate_delete_user, annotate_rename_user)
 *   walks the whole database; it runs once per deleted or renamed user.
 *   Keys that do not hold exactly two NULs are damaged and left alone.
 */
#include "annotate.h"

#include "buf.h"
#include "kv.h"
#include "log.h"
#include "mboxname.h"
#include "store.h"

#include <string.h>

#define ANNOTATE_VERSION 1
#define ANNOTATE_MAILBOX_ID_MAX 64

static bool annotate_entry_valid(const char *entry)
{
    size_t len = strlen(entry);

    if (len < 2 || len > ANNOTATE_ENTRY_MAX || entry[0] != '/' || entry[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)entry[i];
        if (c <= 0x20 || c >= 0x7f || c == '*' || c == '%')
            return false;
        if (c == '/' && entry[i + 1] == '/')
            return false;
    }
    return true;
}

/* "mailbox_id NUL" (+ "entry NUL userid" when entry is not NULL). */
static int annotate_key(const char *mailbox_id, const char *entry, const char *userid,
                        struct buf *key, const char **error_r)
{
    size_t mlen = mailbox_id == NULL ? 0 : strlen(mailbox_id);

    buf_reset(key);
    if (mailbox_id == NULL || mlen > ANNOTATE_MAILBOX_ID_MAX) {
        *error_r = "annotate: bad mailbox id";
        return -1;
    }
    buf_append(key, mailbox_id, mlen);
    buf_append_char(key, '\0');
    if (entry == NULL)
        return 0;
    if (!annotate_entry_valid(entry)) {
        *error_r = "annotate: bad entry name";
        return -1;
    }
    if (userid == NULL || strlen(userid) > MBOXNAME_USERID_MAX) {
        *error_r = "annotate: bad userid";
        return -1;
    }
    buf_append_str(key, entry);
    buf_append_char(key, '\0');
    buf_append_str(key, userid);
    return 0;
}

int annotate_get(struct store *store, struct kv_txn *txn, const char *mailbox_id,
                 const char *entry, const char *userid, struct buf *value_r, const char **error_r)
{
    struct buf key = BUF_INIT, val = BUF_INIT;
    int ret;

    buf_reset(value_r);
    if (entry == NULL) {
        *error_r = "annotate: bad entry name";
        return -1;
    }
    if ((ret = annotate_key(mailbox_id, entry, userid, &key, error_r)) == 0) {
        ret = kv_get(store_db(store, "annotations"), txn, key.data, key.len, &val, error_r);
        if (ret == 1) {
            if (val.len < 1 || (unsigned char)val.data[0] != ANNOTATE_VERSION ||
                val.len - 1 > ANNOTATE_VALUE_MAX) {
                log_error("annotations.db: damaged record for %s on mailbox %s", entry,
                          mailbox_id);
                *error_r = store_error_fmt("annotations.db: damaged record for %s", entry);
                ret = -1;
            } else {
                buf_append(value_r, val.data + 1, val.len - 1);
            }
        }
    }
    buf_free(&key);
    buf_free(&val);
    return ret;
}

int annotate_set(struct store *store, struct kv_txn *txn, const char *mailbox_id,
                 const char *entry, const char *userid, const char *value, size_t len,
                 const char **error_r)
{
    struct buf key = BUF_INIT, val = BUF_INIT;
    struct kv_db *db = store_db(store, "annotations");
    int ret;

    if (entry == NULL) {
        *error_r = "annotate: bad entry name";
        return -1;
    }
    if (value != NULL && len > ANNOTATE_VALUE_MAX) {
        *error_r = "annotate: value too long";
        return -1;
    }
    if ((ret = annotate_key(mailbox_id, entry, userid, &key, error_r)) == 0) {
        if (value == NULL) {
            ret = kv_delete(db, txn, key.data, key.len, error_r);
            ret = ret < 0 ? ret : 0;
        } else {
            buf_append_char(&val, ANNOTATE_VERSION);
            buf_append(&val, value, len);
            ret = kv_put(db, txn, key.data, key.len, val.data, val.len, error_r);
        }
    }
    buf_free(&key);
    buf_free(&val);
    return ret;
}

struct annotate_foreach_ctx {
    size_t prefixlen;    /* of "mailbox_id NUL" */
    annotate_cb *cb;
    void *ctx;
    struct buf entry, userid, value;
};

static int annotate_foreach_record(const void *key, size_t keylen, const void *val,
                                   size_t vallen, void *ctx)
{
    struct annotate_foreach_ctx *fc = ctx;
    const char *p = (const char *)key + fc->prefixlen;
    size_t left = keylen - fc->prefixlen;
    const char *nul = memchr(p, '\0', left);
    const unsigned char *v = val;

    if (nul == NULL || memchr(nul + 1, '\0', left - (size_t)(nul + 1 - p)) != NULL ||
        vallen < 1 || v[0] != ANNOTATE_VERSION || vallen - 1 > ANNOTATE_VALUE_MAX) {
        log_error("annotations.db: damaged record skipped");
        return 0;
    }
    buf_reset(&fc->entry);
    buf_append(&fc->entry, p, (size_t)(nul - p));
    buf_reset(&fc->userid);
    buf_append(&fc->userid, nul + 1, left - (size_t)(nul + 1 - p));
    buf_reset(&fc->value);
    buf_append(&fc->value, v + 1, vallen - 1);
    int ret = fc->cb(buf_cstr(&fc->entry), buf_cstr(&fc->userid), buf_cstr(&fc->value),
                     fc->value.len, fc->ctx);
    return ret == KV_DEADLOCK ? KV_DEADLOCK : ret < 0 ? -1 : ret > 0 ? 1 : 0;
}

int annotate_foreach(struct store *store, struct kv_txn *txn, const char *mailbox_id,
                     const char *entry_prefix, annotate_cb *cb, void *ctx, const char **error_r)
{
    struct annotate_foreach_ctx fc = { 0, cb, ctx, BUF_INIT, BUF_INIT, BUF_INIT };
    struct buf prefix = BUF_INIT;
    int ret;

    if ((ret = annotate_key(mailbox_id, NULL, NULL, &prefix, error_r)) == 0) {
        fc.prefixlen = prefix.len;
        if (entry_prefix != NULL)
            buf_append_str(&prefix, entry_prefix);
        if (prefix.len > KV_KEY_MAX) {
            *error_r = "annotate: entry prefix too long";
            ret = -1;
        } else {
            ret = kv_foreach_prefix(store_db(store, "annotations"), txn, prefix.data,
                                    prefix.len, annotate_foreach_record, &fc, error_r);
        }
    }
    buf_free(&prefix);
    buf_free(&fc.entry);
    buf_free(&fc.userid);
    buf_free(&fc.value);
    return ret;
}

int annotate_delete_mailbox(struct store *store, struct kv_txn *txn, const char *mailbox_id,
                            const char **error_r)
{
    struct buf prefix = BUF_INIT;
    int ret;

    if ((ret = annotate_key(mailbox_id, NULL, NULL, &prefix, error_r)) == 0)
        ret = store_delete_matching(store, store_db(store, "annotations"), txn, prefix.data,
                                    prefix.len, NULL, NULL, NULL, error_r);
    buf_free(&prefix);
    return ret;
}

/* ---- a user's private values ---- */

/* The userid part of a whole key "mailbox_id NUL entry NUL userid": its
 * offset in the key, or 0 when the key is damaged (the userid part never
 * starts at 0). */
static size_t annotate_key_userid(const void *key, size_t keylen)
{
    const char *k = key;
    const char *nul1 = memchr(k, '\0', keylen);

    if (nul1 == NULL)
        return 0;
    size_t off = (size_t)(nul1 + 1 - k);
    const char *nul2 = memchr(nul1 + 1, '\0', keylen - off);
    if (nul2 == NULL)
        return 0;
    off = (size_t)(nul2 + 1 - k);
    if (memchr(nul2 + 1, '\0', keylen - off) != NULL)
        return 0;
    return off;
}

static bool annotate_key_is_user(const void *key, size_t keylen, const char *userid)
{
    size_t off = annotate_key_userid(key, keylen);
    size_t ulen = strlen(userid);

    return off != 0 && keylen - off == ulen && memcmp((const char *)key + off, userid, ulen) == 0;
}

static int annotate_userid_check(const char *userid, const char **error_r)
{
    size_t len = userid == NULL ? 0 : strlen(userid);

    if (len == 0 || len > MBOXNAME_USERID_MAX) {
        *error_r = "annotate: bad userid";
        return -1;
    }
    return 0;
}

static bool annotate_match_user(const void *key, size_t keylen, const void *val, size_t vallen,
                                void *ctx)
{
    (void)val;
    (void)vallen;
    return annotate_key_is_user(key, keylen, ctx);
}

int annotate_delete_user(struct store *store, struct kv_txn *txn, const char *userid,
                         const char **error_r)
{
    if (annotate_userid_check(userid, error_r) < 0)
        return -1;
    return store_delete_matching(store, store_db(store, "annotations"), txn, NULL, 0,
                                 annotate_match_user, (void *)userid, NULL, error_r);
}

/* "id NUL entry NUL olduser" -> "id NUL entry NUL newuser"; ctx holds
 * {olduserid, newuserid}. */
static int annotate_rename_rekey(const void *key, size_t keylen, struct buf *newkey_r, void *ctx,
                                 const char **error_r)
{
    const char *const *users = ctx;

    (void)error_r;
    if (!annotate_key_is_user(key, keylen, users[0]))
        return 0;
    buf_append(newkey_r, key, annotate_key_userid(key, keylen));
    buf_append_str(newkey_r, users[1]);
    return 1;
}

int annotate_rename_user(struct store *store, struct kv_txn *txn, const char *olduserid,
                         const char *newuserid, const char **error_r)
{
    const char *users[2] = { olduserid, newuserid };

    if (annotate_userid_check(olduserid, error_r) < 0 ||
        annotate_userid_check(newuserid, error_r) < 0)
        return -1;
    if (strcmp(olduserid, newuserid) == 0)
        return 0;
    return store_rekey_matching(store, store_db(store, "annotations"), txn, NULL, 0,
                                annotate_rename_rekey, (void *)users, error_r);
}
