/* seen.h - per-user seen state for mailboxes the user does not own.
 *
 * The owner's \Seen flag lives in the mailbox index (it is tracked with
 * MODSEQ like every other flag); other users' \Seen on a mailbox is kept
 * here as a UID set in lib/seqset.h text form ("1:40,42"), keyed by userid
 * and the mailbox's uniqueid (so it survives renames). */
#ifndef ROOST_SEEN_H
#define ROOST_SEEN_H

struct buf;
struct kv_txn;
struct store;

/* 1 found, 0 none (uidset_r emptied), -1 / KV_DEADLOCK. */
int seen_get(struct store *store, struct kv_txn *txn, const char *userid, const char *uniqueid,
             struct buf *uidset_r, const char **error_r);
/* uidset: lib/seqset.h text ("" allowed); only digits, ':' and ','.
 * 0 / -1 / KV_DEADLOCK. */
int seen_set(struct store *store, struct kv_txn *txn, const char *userid, const char *uniqueid,
             const char *uidset, const char **error_r);
/* Forget one user's entry for one mailbox (1 deleted, 0 none), all of a
 * user's entries, or every user's entry for a mailbox (a walk over the
 * whole database); the last two return 0 / -1 / KV_DEADLOCK. */
int seen_delete(struct store *store, struct kv_txn *txn, const char *userid, const char *uniqueid,
                const char **error_r);
int seen_delete_user(struct store *store, struct kv_txn *txn, const char *userid,
                     const char **error_r);
int seen_delete_mailbox(struct store *store, struct kv_txn *txn, const char *uniqueid,
                        const char **error_r);
/* A user renamed (user.a -> user.b): every entry of olduserid becomes
 * newuserid's, replacing an entry newuserid had for the same mailbox
 * (there should be none: the new user is new).  All or nothing, in txn or
 * (txn NULL) one transaction of its own.  Same userid: nothing to do.
 * 0 / -1 (bad userid, database) / KV_DEADLOCK. */
int seen_rename_user(struct store *store, struct kv_txn *txn, const char *olduserid,
                     const char *newuserid, const char **error_r);

#endif
