/* subs.c - mailbox subscriptions (subs.db).
 *
 * DESCRIPTION
 *   Key: userid NUL internal mailbox name (a userid holds no NUL, so the
 *   prefix "bob" NUL never matches a key of "bobby").  Value, format
 *   version 1: the single byte 1 (room for per-subscription data later;
 *   readers ignore the value).
 *
 *   A subscription names a mailbox by its internal name, which must be a
 *   valid name (mboxname_check) but need not exist.  subs_rename() walks
 *   every user's subscriptions (the whole database) in one transaction;
 *   subs_rename_user() reads one user's, then deletes them and writes them
 *   under the new userid, in one transaction.
 */
#include "subs.h"

#include "buf.h"
#include "kv.h"
#include "log.h"
#include "mboxname.h"
#include "store.h"

#include <string.h>

#define SUBS_VERSION 1

static int subs_key(const char *userid, const char *name, struct buf *key, const char **error_r)
{
    size_t ulen = userid == NULL ? 0 : strlen(userid);

    buf_reset(key);
    if (ulen == 0 || ulen > MBOXNAME_USERID_MAX) {
        *error_r = "subs: bad userid";
        return -1;
    }
    buf_append(key, userid, ulen);
    buf_append_char(key, '\0');
    if (name != NULL) {
        if (mboxname_check(name, error_r) < 0)
            return -1;
        buf_append_str(key, name);
    }
    return 0;
}

int subs_add(struct store *store, struct kv_txn *txn, const char *userid, const char *name,
             const char **error_r)
{
    struct buf key = BUF_INIT;
    const char version = SUBS_VERSION;
    int ret;

    if (name == NULL) {
        *error_r = "subs: no mailbox name";
        return -1;
    }
    if ((ret = subs_key(userid, name, &key, error_r)) == 0)
        ret = kv_put(store_db(store, "subs"), txn, key.data, key.len, &version, 1, error_r);
    buf_free(&key);
    return ret;
}

int subs_remove(struct store *store, struct kv_txn *txn, const char *userid, const char *name,
                const char **error_r)
{
    struct buf key = BUF_INIT;
    int ret;

    if (name == NULL) {
        *error_r = "subs: no mailbox name";
        return -1;
    }
    if ((ret = subs_key(userid, name, &key, error_r)) == 0)
        ret = kv_delete(store_db(store, "subs"), txn, key.data, key.len, error_r);
    buf_free(&key);
    return ret;
}

int subs_is_subscribed(struct store *store, struct kv_txn *txn, const char *userid,
                       const char *name, const char **error_r)
{
    struct buf key = BUF_INIT, val = BUF_INIT;
    int ret;

    if (name == NULL) {
        *error_r = "subs: no mailbox name";
        return -1;
    }
    if ((ret = subs_key(userid, name, &key, error_r)) == 0)
        ret = kv_get(store_db(store, "subs"), txn, key.data, key.len, &val, error_r);
    buf_free(&key);
    buf_free(&val);
    return ret;
}

struct subs_foreach_ctx {
    size_t prefixlen;
    subs_cb *cb;
    void *ctx;
    struct buf name;
};

static int subs_foreach_record(const void *key, size_t keylen, const void *val, size_t vallen,
                               void *ctx)
{
    struct subs_foreach_ctx *fc = ctx;
    const char *name = (const char *)key + fc->prefixlen;
    size_t len = keylen - fc->prefixlen;

    (void)val;
    (void)vallen;
    buf_reset(&fc->name);
    buf_append(&fc->name, name, len);
    if (len == 0 || memchr(name, '\0', len) != NULL) {
        log_error("subs.db: damaged key skipped");
        return 0;
    }
    int ret = fc->cb(buf_cstr(&fc->name), fc->ctx);
    return ret == KV_DEADLOCK ? KV_DEADLOCK : ret < 0 ? -1 : ret > 0 ? 1 : 0;
}

int subs_foreach(struct store *store, struct kv_txn *txn, const char *userid, subs_cb *cb,
                 void *ctx, const char **error_r)
{
    struct buf prefix = BUF_INIT;
    struct subs_foreach_ctx fc = { 0, cb, ctx, BUF_INIT };
    int ret;

    if ((ret = subs_key(userid, NULL, &prefix, error_r)) == 0) {
        fc.prefixlen = prefix.len;
        ret = kv_foreach_prefix(store_db(store, "subs"), txn, prefix.data, prefix.len,
                                subs_foreach_record, &fc, error_r);
    }
    buf_free(&prefix);
    buf_free(&fc.name);
    return ret;
}

int subs_delete_user(struct store *store, struct kv_txn *txn, const char *userid,
                     const char **error_r)
{
    struct buf prefix = BUF_INIT;
    int ret;

    if ((ret = subs_key(userid, NULL, &prefix, error_r)) == 0)
        ret = store_delete_matching(store, store_db(store, "subs"), txn, prefix.data,
                                    prefix.len, NULL, NULL, NULL, error_r);
    buf_free(&prefix);
    return ret;
}

/* ---- rename ---- */

struct subs_rename_ctx {
    struct store *store;
    const char *oldname, *newname;
    struct buf keys;     /* (size_t length, bytes) of each key to rename */
    struct buf newkeys;  /* the same for the new keys */
};

static int subs_rename_collect(const void *key, size_t keylen, const void *val, size_t vallen,
                               void *ctx)
{
    struct subs_rename_ctx *rc = ctx;
    const char *nul = memchr(key, '\0', keylen);
    size_t oldlen = strlen(rc->oldname);

    (void)val;
    (void)vallen;
    if (nul == NULL)
        return 0;
    const char *name = nul + 1;
    size_t len = keylen - (size_t)(name - (const char *)key);
    if (len < oldlen || memcmp(name, rc->oldname, oldlen) != 0 ||
        (len > oldlen && name[oldlen] != '.'))
        return 0;
    buf_append(&rc->keys, &keylen, sizeof(keylen));
    buf_append(&rc->keys, key, keylen);
    return 0;
}

static int subs_rename_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct subs_rename_ctx *rc = ctx;
    struct kv_db *db = store_db(rc->store, "subs");
    const char version = SUBS_VERSION;
    size_t oldlen = strlen(rc->oldname);
    int ret;

    buf_reset(&rc->keys);
    buf_reset(&rc->newkeys);
    ret = kv_foreach_prefix(db, txn, NULL, 0, subs_rename_collect, rc, error_r);
    if (ret < 0)
        return ret;
    /* First every new key (checked), then delete all the old ones and put
     * all the new ones: renaming "a" to "a.b" must not delete the "a.b"
     * that "a" just became. */
    for (size_t pos = 0; pos < rc->keys.len;) {
        size_t keylen, newlen;
        const char *key;
        memcpy(&keylen, rc->keys.data + pos, sizeof(keylen));
        key = rc->keys.data + pos + sizeof(keylen);
        pos += sizeof(keylen) + keylen;

        size_t userlen = strlen(key);   /* the key holds a NUL after the userid */
        const char *rest = key + userlen + 1 + oldlen;
        size_t restlen = keylen - userlen - 1 - oldlen;
        size_t start = rc->newkeys.len;
        newlen = userlen + 1 + strlen(rc->newname) + restlen;
        buf_append(&rc->newkeys, &newlen, sizeof(newlen));
        buf_append(&rc->newkeys, key, userlen + 1);
        buf_append_str(&rc->newkeys, rc->newname);
        buf_append(&rc->newkeys, rest, restlen);
        /* buf keeps a NUL after the data: the new name is a C string. */
        const char *newname = rc->newkeys.data + start + sizeof(newlen) + userlen + 1;
        if (mboxname_check(newname, error_r) < 0) {
            *error_r = store_error_fmt("subs: renamed subscription %s: %s", newname, *error_r);
            return -1;
        }
    }
    for (size_t pos = 0; pos < rc->keys.len;) {
        size_t keylen;
        memcpy(&keylen, rc->keys.data + pos, sizeof(keylen));
        if ((ret = kv_delete(db, txn, rc->keys.data + pos + sizeof(keylen), keylen,
                             error_r)) < 0)
            return ret;
        pos += sizeof(keylen) + keylen;
    }
    for (size_t pos = 0; pos < rc->newkeys.len;) {
        size_t keylen;
        memcpy(&keylen, rc->newkeys.data + pos, sizeof(keylen));
        if ((ret = kv_put(db, txn, rc->newkeys.data + pos + sizeof(keylen), keylen, &version, 1,
                          error_r)) < 0)
            return ret;
        pos += sizeof(keylen) + keylen;
    }
    return 0;
}

int subs_rename(struct store *store, struct kv_txn *txn, const char *oldname, const char *newname,
                const char **error_r)
{
    struct subs_rename_ctx rc = { store, oldname, newname, BUF_INIT, BUF_INIT };
    int ret;

    if (oldname == NULL || newname == NULL || mboxname_check(oldname, error_r) < 0 ||
        mboxname_check(newname, error_r) < 0) {
        if (oldname == NULL || newname == NULL)
            *error_r = "subs: no mailbox name";
        return -1;
    }
    if (strcmp(oldname, newname) == 0)
        return 0;
    ret = store_txn_run(store, txn, subs_rename_body, &rc, error_r);
    buf_free(&rc.keys);
    buf_free(&rc.newkeys);
    return ret;
}

/* ---- renaming a user ---- */

struct subs_rename_user_ctx {
    struct store *store;
    const struct buf *oldprefix, *newprefix;
    struct buf keys;     /* (size_t length, bytes) of each key to move */
};

static int subs_rename_user_collect(const void *key, size_t keylen, const void *val,
                                    size_t vallen, void *ctx)
{
    struct subs_rename_user_ctx *rc = ctx;

    (void)val;
    (void)vallen;
    buf_append(&rc->keys, &keylen, sizeof(keylen));
    buf_append(&rc->keys, key, keylen);
    return 0;
}

static int subs_rename_user_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct subs_rename_user_ctx *rc = ctx;
    struct kv_db *db = store_db(rc->store, "subs");
    const char version = SUBS_VERSION;
    struct buf newkey = BUF_INIT;
    int ret;

    buf_reset(&rc->keys);
    ret = kv_foreach_prefix(db, txn, rc->oldprefix->data, rc->oldprefix->len,
                            subs_rename_user_collect, rc, error_r);
    for (size_t pos = 0; ret >= 0 && pos < rc->keys.len;) {
        size_t keylen;
        const char *key;
        memcpy(&keylen, rc->keys.data + pos, sizeof(keylen));
        key = rc->keys.data + pos + sizeof(keylen);
        pos += sizeof(keylen) + keylen;

        /* "olduser NUL name" -> "newuser NUL name" */
        buf_reset(&newkey);
        buf_append(&newkey, rc->newprefix->data, rc->newprefix->len);
        buf_append(&newkey, key + rc->oldprefix->len, keylen - rc->oldprefix->len);
        if (newkey.len > KV_KEY_MAX) {
            *error_r = "subs: renamed key too long";
            ret = -1;
            break;
        }
        ret = kv_delete(db, txn, key, keylen, error_r);
        if (ret >= 0)
            ret = kv_put(db, txn, newkey.data, newkey.len, &version, 1, error_r);
    }
    buf_free(&newkey);
    return ret < 0 ? ret : 0;
}

int subs_rename_user(struct store *store, struct kv_txn *txn, const char *olduserid,
                     const char *newuserid, const char **error_r)
{
    struct buf oldprefix = BUF_INIT, newprefix = BUF_INIT;
    struct subs_rename_user_ctx rc = { store, &oldprefix, &newprefix, BUF_INIT };
    int ret;

    if ((ret = subs_key(olduserid, NULL, &oldprefix, error_r)) == 0 &&
        (ret = subs_key(newuserid, NULL, &newprefix, error_r)) == 0 &&
        strcmp(olduserid, newuserid) != 0)
        ret = store_txn_run(store, txn, subs_rename_user_body, &rc, error_r);
    buf_free(&oldprefix);
    buf_free(&newprefix);
    buf_free(&rc.keys);
    return ret;
}
