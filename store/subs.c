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
    const char *oldname, *newname;
};

/* "user NUL oldname[.rest]" -> "user NUL newname[.rest]", for every user. */
static int subs_rename_rekey(const void *key, size_t keylen, struct buf *newkey_r, void *ctx,
                             const char **error_r)
{
    const struct subs_rename_ctx *rc = ctx;
    const char *nul = memchr(key, '\0', keylen);
    size_t oldlen = strlen(rc->oldname);

    if (nul == NULL)
        return 0;
    const char *name = nul + 1;
    size_t len = keylen - (size_t)(name - (const char *)key);
    if (len < oldlen || memcmp(name, rc->oldname, oldlen) != 0 ||
        (len > oldlen && name[oldlen] != '.'))
        return 0;
    size_t userlen = (size_t)(name - (const char *)key);   /* with its NUL */
    buf_append(newkey_r, key, userlen);
    buf_append_str(newkey_r, rc->newname);
    buf_append(newkey_r, name + oldlen, len - oldlen);
    /* buf keeps a NUL after the data: the new name is a C string. */
    const char *newname = newkey_r->data + userlen;
    if (mboxname_check(newname, error_r) < 0) {
        *error_r = store_error_fmt("subs: renamed subscription %s: %s", newname, *error_r);
        return -1;
    }
    return 1;
}

int subs_rename(struct store *store, struct kv_txn *txn, const char *oldname, const char *newname,
                const char **error_r)
{
    struct subs_rename_ctx rc = { oldname, newname };

    if (oldname == NULL || newname == NULL || mboxname_check(oldname, error_r) < 0 ||
        mboxname_check(newname, error_r) < 0) {
        if (oldname == NULL || newname == NULL)
            *error_r = "subs: no mailbox name";
        return -1;
    }
    if (strcmp(oldname, newname) == 0)
        return 0;
    return store_rekey_matching(store, store_db(store, "subs"), txn, NULL, 0, subs_rename_rekey,
                                &rc, error_r);
}

/* ---- renaming a user ---- */

struct subs_rename_user_ctx {
    const struct buf *oldprefix, *newprefix;
};

/* "olduser NUL name" -> "newuser NUL name" */
static int subs_rename_user_rekey(const void *key, size_t keylen, struct buf *newkey_r,
                                  void *ctx, const char **error_r)
{
    const struct subs_rename_user_ctx *rc = ctx;

    (void)error_r;
    buf_append(newkey_r, rc->newprefix->data, rc->newprefix->len);
    buf_append(newkey_r, (const char *)key + rc->oldprefix->len, keylen - rc->oldprefix->len);
    return 1;
}

int subs_rename_user(struct store *store, struct kv_txn *txn, const char *olduserid,
                     const char *newuserid, const char **error_r)
{
    struct buf oldprefix = BUF_INIT, newprefix = BUF_INIT;
    struct subs_rename_user_ctx rc = { &oldprefix, &newprefix };
    int ret;

    if ((ret = subs_key(olduserid, NULL, &oldprefix, error_r)) == 0 &&
        (ret = subs_key(newuserid, NULL, &newprefix, error_r)) == 0 &&
        strcmp(olduserid, newuserid) != 0)
        ret = store_rekey_matching(store, store_db(store, "subs"), txn, oldprefix.data,
                                   oldprefix.len, subs_rename_user_rekey, &rc, error_r);
    buf_free(&oldprefix);
    buf_free(&newprefix);
    return ret;
}
