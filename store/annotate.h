/* annotate.h - mailbox and server annotations / METADATA (RFC 5464).
 *
 * Entries like "/shared/comment", "/private/vendor/x", "/shared/vendor/cmu/
 * cyrus-imapd/expire" for a mailbox (by uniqueid) or for the server
 * (mailbox_id ""), shared (userid "") or private to one user. */
#ifndef ROOST_ANNOTATE_H
#define ROOST_ANNOTATE_H

#include <stddef.h>

struct buf;
struct kv_txn;
struct store;

#define ANNOTATE_VALUE_MAX (64 * 1024)
/* Entry names: "/" then "/"-separated components of printable ASCII
 * without '*' or '%', no empty component, no trailing '/'. */
#define ANNOTATE_ENTRY_MAX 1024

/* 1 found, 0 none, -1. */
int annotate_get(struct store *store, struct kv_txn *txn, const char *mailbox_id,
                 const char *entry, const char *userid, struct buf *value_r, const char **error_r);
/* value NULL deletes.  Values are bounded by ANNOTATE_VALUE_MAX.
 * 0 / -1 / KV_DEADLOCK. */
int annotate_set(struct store *store, struct kv_txn *txn, const char *mailbox_id,
                 const char *entry, const char *userid, const char *value, size_t len,
                 const char **error_r);
/* Every entry of a mailbox whose name starts with entry_prefix (NULL or
 * "": all), in (entry, userid) byte order; entry, userid and value are
 * NUL-terminated copies valid during the call.  cb: 0 go on, 1 stop,
 * -1 fail (or KV_DEADLOCK from a kv call it made in txn).  Damaged
 * records are logged and skipped. */
typedef int annotate_cb(const char *entry, const char *userid, const char *value, size_t len,
                        void *ctx);
int annotate_foreach(struct store *store, struct kv_txn *txn, const char *mailbox_id,
                     const char *entry_prefix, annotate_cb *cb, void *ctx, const char **error_r);
/* Drop every annotation of a mailbox (on delete).  0 / -1 / KV_DEADLOCK. */
int annotate_delete_mailbox(struct store *store, struct kv_txn *txn, const char *mailbox_id,
                            const char **error_r);
/* A user deleted: drop the user's private values (userid non-empty: the
 * shared ones, userid "", are never touched) on every mailbox and on the
 * server.  A walk over the whole database, in txn or (txn NULL) one
 * transaction of its own.  0 / -1 / KV_DEADLOCK. */
int annotate_delete_user(struct store *store, struct kv_txn *txn, const char *userid,
                         const char **error_r);
/* A user renamed (user.a -> user.b): every private value of olduserid, on
 * every mailbox and on the server, becomes newuserid's (replacing a value
 * newuserid had for the same mailbox and entry).  A walk over the whole
 * database; all or nothing.  Same userid: nothing to do.
 * 0 / -1 / KV_DEADLOCK. */
int annotate_rename_user(struct store *store, struct kv_txn *txn, const char *olduserid,
                         const char *newuserid, const char **error_r);

#endif
