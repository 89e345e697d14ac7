/* mboxlist.h - the mailbox list: internal name -> where and what.
 *
 * One record per mailbox in mailboxes.db (key: the internal name, so a
 * prefix walk finds a hierarchy in name order).  Creation, deletion and
 * renaming of the mailbox itself (files, index) is mailbox.h's job; this
 * module only keeps the list. */
#ifndef ROOST_MBOXLIST_H
#define ROOST_MBOXLIST_H

#include <stdint.h>

struct kv_txn;
struct pool;
struct store;

enum mbtype {
    MBTYPE_EMAIL = 0,
    MBTYPE_RESERVED = 1,    /* being created or renamed: not yet usable */
};

struct mboxlist_entry {
    const char *name;        /* internal name */
    const char *partition;
    const char *uniqueid;    /* 32 hex characters, never reused */
    uint32_t type;           /* enum mbtype */
    const char *acl;         /* acl.h text form */
    const char *specialuse;  /* "\\Sent \\Archive" or "" */
    uint64_t created;        /* unix time of creation */
};

/* Look name up; strings of *entry_r are allocated from pool.  Returns 1
 * found, 0 not found, -1 (or KV_DEADLOCK inside a txn).  A damaged record
 * (see docs/store-format.md) is -1 with a message saying so. */
int mboxlist_lookup(struct store *store, struct kv_txn *txn, const char *name,
                    struct pool *pool, struct mboxlist_entry *entry_r, const char **error_r);
/* Insert or replace.  0 / -1 / KV_DEADLOCK.  The entry is checked: a
 * valid name (mboxname_check), a partition, a 32-hex-digit uniqueid, a
 * known type; acl and specialuse may be NULL (stored as ""). */
int mboxlist_put(struct store *store, struct kv_txn *txn, const struct mboxlist_entry *entry,
                 const char **error_r);
/* 1 deleted, 0 none, -1 / KV_DEADLOCK. */
int mboxlist_delete(struct store *store, struct kv_txn *txn, const char *name,
                    const char **error_r);
/* Every entry whose name starts with prefix, in name order.  cb returns 0
 * to go on, 1 to stop, -1 to fail.  The entry's strings are valid during
 * the call only.  A damaged record is logged and skipped (mboxlist_lookup
 * reports it as an error), so that one bad record hides no other mailbox.
 * With txn NULL, cb must not write to mailboxes.db (lib/kv.h); with a txn
 * it may also return KV_DEADLOCK when a kv call it made returned that. */
typedef int mboxlist_cb(const struct mboxlist_entry *entry, void *ctx);
int mboxlist_foreach(struct store *store, struct kv_txn *txn, const char *prefix,
                     mboxlist_cb *cb, void *ctx, const char **error_r);
/* A fresh unique id (32 lowercase hex characters from /dev/urandom). */
void mboxlist_new_uniqueid(char out[33]);

#endif
