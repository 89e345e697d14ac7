/* subs.h - mailbox subscriptions (IMAP SUBSCRIBE/LSUB), per user, by
 * internal name (a subscription may name a mailbox that does not exist). */
#ifndef ROOST_SUBS_H
#define ROOST_SUBS_H

struct kv_txn;
struct store;

/* name: a valid internal name (mboxname_check).  0 / -1 / KV_DEADLOCK. */
int subs_add(struct store *store, struct kv_txn *txn, const char *userid, const char *name,
             const char **error_r);
/* 1 removed, 0 was not subscribed, -1. */
int subs_remove(struct store *store, struct kv_txn *txn, const char *userid, const char *name,
                const char **error_r);
/* 1 / 0 / -1. */
int subs_is_subscribed(struct store *store, struct kv_txn *txn, const char *userid,
                       const char *name, const char **error_r);
/* Every subscription of userid in name order; cb returns 0 to go on, 1 to
 * stop, -1 to fail (or KV_DEADLOCK from a kv call it made in txn). */
typedef int subs_cb(const char *name, void *ctx);
int subs_foreach(struct store *store, struct kv_txn *txn, const char *userid, subs_cb *cb,
                 void *ctx, const char **error_r);
int subs_delete_user(struct store *store, struct kv_txn *txn, const char *userid,
                     const char **error_r);
/* Rename every user's subscription to oldname (and below) to newname: a
 * walk over the whole database in one transaction; -1 (nothing changed)
 * when a renamed name would be invalid (too long).  0 / -1 / KV_DEADLOCK. */
int subs_rename(struct store *store, struct kv_txn *txn, const char *oldname, const char *newname,
                const char **error_r);
/* A user renamed (user.a -> user.b): every subscription of olduserid
 * becomes newuserid's (added to any newuserid has); the names stay as they
 * are (subs_rename() renames those).  All or nothing, in txn or (txn NULL)
 * one transaction of its own.  Same userid: nothing to do.
 * 0 / -1 (bad userid, database) / KV_DEADLOCK. */
int subs_rename_user(struct store *store, struct kv_txn *txn, const char *olduserid,
                     const char *newuserid, const char **error_r);

#endif
