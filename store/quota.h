/* quota.h - quota roots: limits and usage (RFC 9208 STORAGE and MESSAGE).
 *
 * A quota root is a mailbox name ("user.test1"); it governs that mailbox and
 * every mailbox below it, unless a deeper root exists (the deepest root on
 * the name's path wins, as in Cyrus).  Limits: STORAGE in KiB, MESSAGE in
 * messages, -1 = no limit.  Usage: bytes and messages, changed by the
 * mailbox operations in the same step that changes the mailbox, and
 * recountable (quota -f) from the mailboxes themselves. */
#ifndef ROOST_QUOTA_H
#define ROOST_QUOTA_H

#include <stdint.h>

struct buf;
struct kv_txn;
struct store;

struct quota {
    int64_t limit_storage_kb;   /* -1 = none */
    int64_t limit_messages;     /* -1 = none */
    int64_t used_bytes;
    int64_t used_messages;
};

/* 1 found (q_r filled), 0 no such root, -1 / KV_DEADLOCK. */
int quota_get(struct store *store, struct kv_txn *txn, const char *root, struct quota *q_r,
              const char **error_r);
/* Create the root if missing (usage 0, to be recounted by the caller when
 * mailboxes already exist below it) and set its limits. */
int quota_set_limits(struct store *store, struct kv_txn *txn, const char *root,
                     int64_t storage_kb, int64_t messages, const char **error_r);
/* Overwrite the usage (recount); missing root: no-op (0). */
int quota_set_usage(struct store *store, struct kv_txn *txn, const char *root,
                    int64_t used_bytes, int64_t used_messages, const char **error_r);
/* 1 deleted, 0 none, -1. */
int quota_delete(struct store *store, struct kv_txn *txn, const char *root, const char **error_r);
/* The root governing mailbox internal_name into root_r: 1 found, 0 none,
 * -1 (bad name, database) / KV_DEADLOCK.  The deepest existing root among
 * the name and its ancestors, never above "[domain!]user.X" for a user's
 * mailboxes and never outside the name's domain. */
int quota_find_root(struct store *store, struct kv_txn *txn, const char *internal_name,
                    struct buf *root_r, const char **error_r);
/* Would adding delta_bytes / delta_messages to root exceed a limit?
 * 0 fits, STORE_ERR_OVERQUOTA, -1 / KV_DEADLOCK.  A delta <= 0 always fits
 * (each of the two is checked only when positive); STORAGE compares the
 * limit with (used_bytes + delta_bytes) rounded up to whole KiB; no such
 * root: fits.  In a txn the record is read for update, so that the check
 * and the quota_add_usage() that follows are atomic. */
int quota_check(struct store *store, struct kv_txn *txn, const char *root, int64_t delta_bytes,
                int64_t delta_messages, const char **error_r);
/* Add (or with negative deltas remove) usage; missing root: no-op.  Usage
 * never goes below 0 (the drift is logged). */
int quota_add_usage(struct store *store, struct kv_txn *txn, const char *root,
                    int64_t delta_bytes, int64_t delta_messages, const char **error_r);
/* Every root starting with prefix, in name order; cb returns 0 to go on,
 * 1 to stop, -1 to fail (or KV_DEADLOCK from a kv call it made in txn).
 * Damaged records are logged and skipped. */
typedef int quota_cb(const char *root, const struct quota *q, void *ctx);
int quota_foreach(struct store *store, struct kv_txn *txn, const char *prefix, quota_cb *cb,
                  void *ctx, const char **error_r);

#endif
