/* store.h - the message store as a whole: one handle per process.
 *
 * store_open() opens the Berkeley DB environment in configdirectory (through
 * lib/kv.h) and the server-wide databases, and knows the partitions.  Every
 * store call takes this handle.  The store knows nothing of protocols: it
 * never formats a response; daemons turn its results into IMAP/POP3/LMTP.
 *
 * Databases (files in configdirectory, see docs/store-format.md):
 *   mailboxes.db    internal mailbox name -> mboxlist entry  (mboxlist.h)
 *   quota.db        quota root -> limits and usage           (quota.h)
 *   seen.db         userid NUL uniqueid -> seen UID set      (seen.h)
 *   subs.db         userid NUL mailbox name -> version byte  (subs.h)
 *   deliver.db      message-id NUL mailbox -> time           (duplicate.h)
 *   annotations.db  uniqueid NUL entry NUL userid -> value    (annotate.h)
 * Every value starts with a format version byte (docs/store-format.md).
 *
 * Transactions: the database functions of the store modules take an
 * optional struct kv_txn *.  With txn NULL each call is one committed
 * operation (retried on deadlock); with a txn they may return KV_DEADLOCK,
 * which the caller's kv_transaction() body passes up unchanged.  A body
 * must return only 0, -1 or KV_DEADLOCK: turn the other STORE_ERR_* codes
 * (STORE_ERR_OVERQUOTA ...) into -1 and keep the code in the body's ctx.
 */
#ifndef ROOST_STORE_H
#define ROOST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct kv_env;
struct kv_db;
struct kv_txn;

struct store;

/* Error codes shared by the store modules (returned instead of plain -1
 * where callers must tell the cases apart; *error_r is always set). */
enum store_error {
    STORE_ERR_INTERNAL = -1,     /* I/O, database, corruption */
    STORE_ERR_NOTFOUND = -3,     /* no such mailbox / record */
    STORE_ERR_EXISTS = -4,       /* mailbox already exists */
    STORE_ERR_OVERQUOTA = -5,    /* the change would exceed a quota */
    STORE_ERR_BADNAME = -6,      /* invalid mailbox name */
    STORE_ERR_PERMISSION = -7,   /* ACL refuses (for the helpers that check) */
    STORE_ERR_LIMIT = -8,        /* a fixed limit (128 keywords, sizes ...) */
    STORE_ERR_CORRUPT = -9,      /* damaged metadata: run reconstruct */
};

/* Open the store described by config (configdirectory, partition-*,
 * unixhierarchysep, virtdomains, admins ...).  flags: STORE_OPEN_CREATE
 * creates the config directory, databases and partition directories
 * (mkimap does that).  Returns 0 or -1. */
#define STORE_OPEN_CREATE 0x01
int store_open(const struct config *config, unsigned flags, struct store **store_r,
               const char **error_r);
void store_close(struct store **store);

const struct config *store_config(const struct store *store);
struct kv_env *store_kv(const struct store *store);
/* The named database handle ("mailboxes", "quota", "seen", "subs",
 * "deliver", "annotations"); the store modules use these. */
struct kv_db *store_db(const struct store *store, const char *name);

/* Directory of a partition, NULL when the config has no such partition. */
const char *store_partition_path(const struct store *store, const char *partition);
/* The partition new mailboxes go to (config defaultpartition). */
const char *store_default_partition(const struct store *store);
/* True when userid is listed in the config's "admins". */
bool store_is_admin(const struct store *store, const char *userid);

/* ---- for the store modules (not for daemons) ---- */

/* Run fn in txn when txn is not NULL (returning what fn returns: 0, -1 or
 * KV_DEADLOCK), else in a new kv_transaction() on the store's environment
 * (retried on deadlock; returns 0 or -1). */
typedef int store_txn_fn(struct kv_txn *txn, void *ctx, const char **error_r);
int store_txn_run(struct store *store, struct kv_txn *txn, store_txn_fn *fn, void *ctx,
                  const char **error_r);
/* Delete every record of db whose key starts with prefix (prefixlen 0:
 * every record) and for which match returns true (match NULL: all), in
 * txn or, with txn NULL, in one new transaction.  The number deleted goes
 * to *count_r when not NULL.  Returns 0, -1 or (with a txn) KV_DEADLOCK. */
typedef bool store_match_fn(const void *key, size_t keylen, const void *val, size_t vallen,
                            void *ctx);
int store_delete_matching(struct store *store, struct kv_db *db, struct kv_txn *txn,
                          const void *prefix, size_t prefixlen, store_match_fn *match,
                          void *ctx, uint64_t *count_r, const char **error_r);
/* Give the records of db whose key starts with prefix (prefixlen 0: every
 * record) new keys, keeping their values: rekey appends a record's new key
 * to newkey_r and returns 1, returns 0 to leave the record alone, or -1
 * with *error_r set.  Every old key is deleted before any new one is
 * written, so a new key may equal another record's old key (renaming "a"
 * to "a.b" also moves the old "a.b").  In txn or, with txn NULL, one new
 * transaction.  Returns 0, -1 or (with a txn) KV_DEADLOCK. */
typedef int store_rekey_fn(const void *key, size_t keylen, struct buf *newkey_r, void *ctx,
                           const char **error_r);
int store_rekey_matching(struct store *store, struct kv_db *db, struct kv_txn *txn,
                         const void *prefix, size_t prefixlen, store_rekey_fn *rekey, void *ctx,
                         const char **error_r);
/* Format a message into the store's static buffer and return it: valid
 * until the next store_error_fmt() (the arguments may point into it). */
const char *store_error_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
