/* mailbox.h - one mailbox on disk: its message files, index, cache and the
 *             changes sessions learn about.
 *
 * SYNOPSIS
 *   mailbox_create(store, "user.bob.Lists", NULL, &error);
 *   mailbox_open(store, "user.bob", MAILBOX_READWRITE, &mb, &error);
 *   mailbox_view_open(mb, "bob", 0, &view, &error);   // SELECT
 *   mailbox_append(mb, msgs, n, "bob", 0, &uidvalidity, uids, &error);
 *   mailbox_view_refresh(view, true, &callbacks, ctx, &error); // NOOP
 *   mailbox_view_close(&view); mailbox_close(&mb);
 *
 * DESCRIPTION
 *   A mailbox is a directory in a partition (the path comes from the
 *   mailbox list entry: <partition>/[domain/<d>/]user/<local>/<uniqueid>/ or
 *   <partition>/[domain/<d>/]shared/<uniqueid>/) holding one file per
 *   message ("<uid>.", the exact bytes received) and three metadata files:
 *   roost.header (names: uniqueid, mailbox name, UIDVALIDITY, keyword
 *   names, a copy of the ACL, quota root), roost.index (a checksummed
 *   header, the commit point of every change, and fixed-size checksummed
 *   records) and roost.cache.<N> (per message the lib/mime.h cache blob,
 *   so FETCH and SEARCH on headers never reparse a message).  The formats
 *   and the crash-safety argument are in docs/store-format.md.
 *
 *   Many processes may use one mailbox at once: readers take a shared lock
 *   on roost.index, writers an exclusive one, each only for the length of
 *   one operation.  A message is on disk (file, directory entry, cache,
 *   index) before an append returns success, so a caller acknowledges a
 *   delivery only after that.  kill -9 at any instant leaves a mailbox that
 *   opens cleanly; damaged metadata is reported as STORE_ERR_CORRUPT.
 *
 *   Every change bumps the mailbox's HIGHESTMODSEQ; each message records the
 *   MODSEQ of its last change (RFC 7162 CONDSTORE/QRESYNC).  Expunged
 *   messages stay in the index (marked) for expunge_cleanup_delay seconds
 *   so sessions can still report them, then a cleanup drops them.
 *
 * CONCURRENCY WITHIN A PROCESS
 *   A struct mailbox is one handle and is not thread-safe.  Two handles on
 *   the same mailbox in one process behave like two processes (the locks are
 *   OFD locks), so a process must not hold a lock through one handle while
 *   waiting on another.  The functions here take and release their locks
 *   themselves; callbacks are always called with no lock held.
 *
 * ERRORS
 *   Functions return 0 (or 1 for "found") on success, else -1
 *   (STORE_ERR_INTERNAL) or one of the store_error codes of store.h, with
 *   a human-readable *error_r that stays valid until the next call on the
 *   same handle (for functions without a handle: until the next mailbox_
 *   call of this thread).
 */
#ifndef ROOST_MAILBOX_H
#define ROOST_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct seqset;
struct store;

struct mailbox;
struct mailbox_view;
struct stage;

/* System flags (RFC 3501 2.3.2) as stored in a record. */
enum mailbox_flag {
    MAILBOX_FLAG_ANSWERED = 1u << 0,
    MAILBOX_FLAG_FLAGGED = 1u << 1,
    MAILBOX_FLAG_DELETED = 1u << 2,
    MAILBOX_FLAG_SEEN = 1u << 3,
    MAILBOX_FLAG_DRAFT = 1u << 4,
    /* Internal: the message is expunged and waits for the cleanup.  Never
     * accepted from callers. */
    MAILBOX_FLAG_EXPUNGED = 1u << 31,
};
#define MAILBOX_SYSTEM_FLAGS 0x1fu

#define MAILBOX_MAX_KEYWORDS 128
#define MAILBOX_KEYWORD_MAX_LEN 255
/* A message larger than this is refused with STORE_ERR_LIMIT. */
#define MAILBOX_MESSAGE_MAX ((uint64_t)4 * 1024 * 1024 * 1024 - 1)
/* How many messages one append or copy may carry. */
#define MAILBOX_BATCH_MAX 100000

/* 128 keyword bits: bit i is keyword i of the mailbox's keyword list. */
struct mailbox_keywords {
    uint64_t bits[2];
};

static inline bool mailbox_keywords_has(const struct mailbox_keywords *kw, unsigned i)
{
    return i < MAILBOX_MAX_KEYWORDS && (kw->bits[i / 64] >> (i % 64) & 1) != 0;
}

/* One message's index record (a checked copy of the on-disk record). */
struct mailbox_record {
    uint32_t uid;
    uint32_t system_flags;     /* enum mailbox_flag; \Seen is the owner's */
    int64_t internaldate;      /* unix time (UTC) */
    int64_t sentdate;          /* from the Date: header, 0 when unreadable */
    uint64_t size;             /* bytes of the message file */
    uint32_t header_size;      /* bytes of the top-level header (with the empty line) */
    uint64_t modseq;           /* MODSEQ of the last change */
    int64_t change_time;       /* unix time of the last change (expunge time) */
    struct mailbox_keywords keywords;
    uint8_t guid[20];          /* SHA-1 of the message bytes */
    uint64_t cache_offset;     /* entry in the cache file */
    uint32_t cache_len;        /* length of the cache blob */
};

/* ------------------------------------------------------------------------
 * Creating, deleting, renaming
 */

struct mailbox_create_options {
    const char *partition;    /* NULL: the parent's, else defaultpartition */
    const char *acl;          /* NULL: default (see mailbox_create) */
    const char *specialuse;   /* "\\Sent" ... or NULL */
    uint32_t uidvalidity;     /* 0: choose (time-based, strictly increasing) */
    const char *uniqueid;     /* NULL: a fresh one (tools may give one) */
};

/* Create mailbox `name` (internal form; checked with mboxname_check) with
 * an empty index.  ACL when opts->acl is NULL: a user INBOX gives its owner
 * ACL_OWNER_DEFAULT; any other mailbox inherits the ACL of its nearest
 * existing ancestor; a top-level shared mailbox without one gets an empty
 * ACL (admins only).  opts may be NULL.  STORE_ERR_EXISTS when the name is
 * taken, STORE_ERR_BADNAME, STORE_ERR_NOTFOUND for an unknown partition.
 * The files exist (and are synced) before the mailbox list names them; a
 * crash in between leaves only an unreferenced directory. */
int mailbox_create(struct store *store, const char *name,
                   const struct mailbox_create_options *opts, const char **error_r);

/* Delete one mailbox (not its children): the mailbox list entry, every
 * user's seen state and the annotations of the mailbox, its usage from its
 * quota root (a quota root named like the mailbox stays), then its files.
 * Open handles on it get STORE_ERR_NOTFOUND from their next operation.  A
 * mailbox whose metadata is damaged can still be deleted. */
int mailbox_delete(struct store *store, const char *name, const char **error_r);

/* Delete a user: every mailbox of the user (INBOX and below), the user's
 * seen state, subscriptions and quota roots, annotations of those
 * mailboxes, the user's private annotations on other mailboxes and on the
 * server, and the user's directories on every partition. */
int mailbox_delete_user(struct store *store, const char *userid, const char **error_r);

/* Rename oldname and every mailbox below it to newname (RFC 3501 RENAME).
 *   - The target (and every renamed name) must not exist: STORE_ERR_EXISTS;
 *     newname may not be below oldname: STORE_ERR_BADNAME.
 *   - Renaming a user's INBOX to a name of the same user follows RFC 3501:
 *     INBOX's messages move to a new mailbox of that name (new UIDs), INBOX
 *     stays (empty) and the folders below INBOX do not move.
 *   - Renaming a user's INBOX to another user's INBOX ("user.a" to
 *     "user.b") renames the whole user: every mailbox, the quota roots,
 *     the user's subscriptions, seen state on others' mailboxes and private
 *     annotations; the user directory is moved with one
 *     rename(2) per partition.  Any other rename of an INBOX is refused.
 *   - newpartition (NULL: stay where they are) moves the mailboxes to that
 *     partition: files are copied, then the old ones removed.
 *   - Usage moves between quota roots when the governing root changes; the
 *     target root is checked (STORE_ERR_OVERQUOTA) unless ignore_quota.
 *   - Subscriptions to the renamed names follow them.
 * Renaming inside one user on one partition moves no file. */
int mailbox_rename(struct store *store, const char *oldname, const char *newname,
                   const char *newpartition, bool ignore_quota, const char **error_r);

/* Rewrite the copy of the ACL kept in roost.header (for reconstruct); the
 * mailbox list holds the ACL that counts. */
int mailbox_set_acl_copy(struct mailbox *mb, const char *acl, const char **error_r);

/* The directory of a mailbox from its list entry fields. */
int mailbox_dir_path(struct store *store, const char *name, const char *partition,
                     const char *uniqueid, struct buf *path_r, const char **error_r);

/* ------------------------------------------------------------------------
 * Opening
 */

enum mailbox_open_mode {
    MAILBOX_READONLY,    /* EXAMINE, STATUS, FETCH without side effects */
    MAILBOX_READWRITE,   /* anything that changes the mailbox */
};

/* Open mailbox `name`: look it up in the mailbox list, open and check its
 * metadata (STORE_ERR_CORRUPT when damaged), map the index.  Opening in
 * READWRITE mode also runs the expunge cleanup when it is due.  No lock is
 * held when this returns.  STORE_ERR_NOTFOUND when there is no such
 * mailbox. */
int mailbox_open(struct store *store, const char *name, enum mailbox_open_mode mode,
                 struct mailbox **mb_r, const char **error_r);
/* Close and set *mb to NULL (no-op for NULL).  Views must be closed first. */
void mailbox_close(struct mailbox **mb);

/* Fields as of the open (name, uniqueid, partition, path, acl, specialuse
 * come from the mailbox list entry read at open). */
const char *mailbox_name(const struct mailbox *mb);
const char *mailbox_uniqueid(const struct mailbox *mb);
const char *mailbox_partition(const struct mailbox *mb);
const char *mailbox_path(const struct mailbox *mb);
const char *mailbox_acl(const struct mailbox *mb);
const char *mailbox_specialuse(const struct mailbox *mb);
struct store *mailbox_store(const struct mailbox *mb);
bool mailbox_is_readonly(const struct mailbox *mb);

/* Fields as of the last operation on the handle (mailbox_sync refreshes). */
uint32_t mailbox_uidvalidity(const struct mailbox *mb);
uint32_t mailbox_uidnext(const struct mailbox *mb);
uint64_t mailbox_highestmodseq(const struct mailbox *mb);
uint32_t mailbox_exists(const struct mailbox *mb);

/* Re-read the index header (shared lock held for the call only).  Returns
 * 0, STORE_ERR_NOTFOUND (deleted meanwhile) or STORE_ERR_CORRUPT. */
int mailbox_sync(struct mailbox *mb, const char **error_r);

struct mailbox_counts {
    uint32_t exists;           /* messages (not expunged) */
    uint32_t recent;           /* with UID above the \Recent mark */
    uint32_t unseen;           /* without \Seen for the given user */
    uint32_t deleted, answered, flagged;
    uint32_t uidnext, uidvalidity;
    uint64_t highestmodseq;
    uint64_t deletedmodseq;    /* highest MODSEQ of an expunge the cleanup forgot
                                  (QRESYNC: VANISHED is exact only above it) */
    uint64_t size;             /* bytes of the messages (quota usage) */
};
/* Current counts (STATUS, SELECT).  unseen is for userid: the owner's (and
 * userid NULL's) come from the index header, other users' need a walk of
 * the records against their seen state.  Cheap: no record is read for the
 * owner. */
int mailbox_get_counts(struct mailbox *mb, const char *userid, struct mailbox_counts *counts_r,
                       const char **error_r);

/* Keywords of the mailbox (as of the last operation): their number and
 * name i; find returns the index of name (case-insensitive) or -1. */
unsigned mailbox_keyword_count(const struct mailbox *mb);
const char *mailbox_keyword_name(const struct mailbox *mb, unsigned i);
int mailbox_keyword_find(const struct mailbox *mb, const char *name);

/* ------------------------------------------------------------------------
 * Records, cache and message files
 */

/* The record of uid: 1 found (record_r filled; expunged records are found,
 * with MAILBOX_FLAG_EXPUNGED), 0 not in the index, STORE_ERR_CORRUPT. */
int mailbox_record_by_uid(struct mailbox *mb, uint32_t uid, struct mailbox_record *record_r,
                          const char **error_r);
/* Call cb for every record in UID order (expunged ones included) under a
 * shared lock: the callback must not call back into mb and must be quick.
 * cb returns 0 to go on, 1 to stop, -1 to fail. */
typedef int mailbox_record_cb(const struct mailbox_record *record, void *ctx);
int mailbox_foreach_record(struct mailbox *mb, mailbox_record_cb *cb, void *ctx,
                           const char **error_r);

/* The cache blob of a record (mime_cache_decode() it) into blob_r.
 * Returns 0 or STORE_ERR_CORRUPT (checksum, length or UID mismatch). */
int mailbox_cache_read(struct mailbox *mb, const struct mailbox_record *record,
                       struct buf *blob_r, const char **error_r);
/* Open the message file of uid read-only: fd and size.  STORE_ERR_NOTFOUND
 * when the message is gone (expunged and cleaned up). */
int mailbox_message_open(struct mailbox *mb, uint32_t uid, int *fd_r, uint64_t *size_r,
                         const char **error_r);
/* Map the message file of uid read-only (an empty message gives a non-NULL
 * pointer and 0).  Unmap with mailbox_message_unmap(). */
int mailbox_message_map(struct mailbox *mb, uint32_t uid, const char **data_r, size_t *len_r,
                        const char **error_r);
void mailbox_message_unmap(const char *data, size_t len);

/* ------------------------------------------------------------------------
 * Staging and appending
 *
 * A stage is one message written once to <partition>/stage./ (a temporary
 * name), synced, hashed (SHA-1 = the message GUID) and parsed once into its
 * cache form.  It can then go into any number of mailboxes: hard links
 * into mailboxes on the stage's partition, copies elsewhere.  The stage
 * file is removed by stage_free().
 */

/* Begin a stage on partition (NULL: defaultpartition). */
int stage_begin(struct store *store, const char *partition, struct stage **stage_r,
                const char **error_r);
/* Add bytes (the exact message, CRLF line ends).  STORE_ERR_LIMIT past
 * MAILBOX_MESSAGE_MAX. */
int stage_write(struct stage *stage, const void *data, size_t len, const char **error_r);
/* Sync the file, compute the GUID, parse and encode the cache blob.  After
 * this the stage is read-only. */
int stage_finish(struct stage *stage, const char **error_r);
/* stage_begin + stage_write + stage_finish. */
int stage_from_data(struct store *store, const char *partition, const void *data, size_t len,
                    struct stage **stage_r, const char **error_r);
uint64_t stage_size(const struct stage *stage);
const uint8_t *stage_guid(const struct stage *stage);   /* 20 bytes, after finish */
const char *stage_partition(const struct stage *stage);
/* Remove the stage file and free (no-op for NULL). */
void stage_free(struct stage **stage);

/* mailbox_append / mailbox_append_staged / mailbox_copy flags */
enum mailbox_change_flags {
    MAILBOX_IGNORE_QUOTA = 0x01,  /* LMTP IGNOREQUOTA, deliver -q, admin tools */
    MAILBOX_MOVE = 0x02,          /* mailbox_copy: expunge the sources (MOVE) */
};

/* One message of an IMAP APPEND / MULTIAPPEND. */
struct mailbox_append_msg {
    struct stage *stage;      /* a finished stage, or NULL to use data/len */
    const void *data;
    size_t len;
    time_t internaldate;      /* 0: now */
    uint32_t flags;           /* system flags (MAILBOX_SYSTEM_FLAGS) */
    const char *const *keywords;
    unsigned nkeywords;
};

/* Append n messages to mb atomically: all of them or none.  userid is the
 * acting user (\Seen of a non-owner goes to the seen state; NULL acts as the
 * owner).  Quota: the governing root is checked for the total first
 * (STORE_ERR_OVERQUOTA, nothing written) unless MAILBOX_IGNORE_QUOTA, and
 * charged after the commit.  STORE_ERR_LIMIT for the 129th keyword.
 * On success *uidvalidity_r and uids_r[0..n) (the new UIDs, increasing)
 * are set (APPENDUID). */
int mailbox_append(struct mailbox *mb, const struct mailbox_append_msg *msgs, unsigned n,
                   const char *userid, unsigned flags, uint32_t *uidvalidity_r,
                   uint32_t *uids_r, const char **error_r);

/* One target of a staged delivery (LMTP to several recipients, deliver). */
struct mailbox_append_target {
    /* in */
    struct mailbox *mb;       /* an open READWRITE handle, or NULL and: */
    const char *name;         /* the mailbox to open for this delivery */
    time_t internaldate;      /* 0: now */
    uint32_t flags;
    const char *const *keywords;
    unsigned nkeywords;
    const char *userid;       /* acting user for \Seen; NULL = owner */
    /* out */
    int result;               /* 0 or a store_error (OVERQUOTA, NOTFOUND ...) */
    char error[160];          /* why, when result != 0 */
    uint32_t uidvalidity, uid;
};
/* Deliver the staged message into every target.  Targets fail one by one
 * (result/error per target); those that succeed are committed together:
 * the locks are taken in uniqueid order, files linked (same partition) or
 * copied, then one sync per directory, cache and index.  A target listed
 * twice gets two copies.  Returns 0 when every target was handled (look at
 * the results), -1 when nothing could be done. */
int mailbox_append_staged(struct store *store, struct stage *stage,
                          struct mailbox_append_target *targets, unsigned n, unsigned flags,
                          const char **error_r);

/* ------------------------------------------------------------------------
 * Copy, move, flags, expunge
 */

struct mailbox_copy_result {
    uint32_t uidvalidity;     /* of the destination */
    unsigned count;
    uint32_t *src_uids;       /* increasing; dst_uids[i] is the copy of src_uids[i] */
    uint32_t *dst_uids;
};
void mailbox_copy_result_free(struct mailbox_copy_result *result);

/* Copy the messages of src whose UIDs are in uids (expunged ones are
 * skipped) to dst (a READWRITE handle; may be src itself), keeping their
 * flags (the acting user's \Seen), keywords and INTERNALDATE; files are
 * hard-linked when both are on one partition.  With MAILBOX_MOVE the
 * sources are then expunged (src must be READWRITE).  Quota of dst's root
 * is checked (not for a move inside one root) unless MAILBOX_IGNORE_QUOTA.
 * result_r: COPYUID data (count 0 when nothing matched). */
int mailbox_copy(struct mailbox *src, const struct seqset *uids, struct mailbox *dst,
                 const char *userid, unsigned flags, struct mailbox_copy_result *result_r,
                 const char **error_r);

enum mailbox_flags_op {
    MAILBOX_FLAGS_ADD,        /* +FLAGS */
    MAILBOX_FLAGS_REMOVE,     /* -FLAGS */
    MAILBOX_FLAGS_REPLACE,    /* FLAGS */
};

struct mailbox_flags_change {
    enum mailbox_flags_op op;
    uint32_t system_flags;    /* MAILBOX_SYSTEM_FLAGS */
    const char *const *keywords;
    unsigned nkeywords;
    bool conditional;         /* CONDSTORE UNCHANGEDSINCE given ... */
    uint64_t unchangedsince;  /* ... with this value (0 is valid) */
};

/* Per message of the set (not expunged), after the change is committed, in
 * UID order: the flags now (the acting user's \Seen), the keywords, the
 * message's MODSEQ and whether this call changed it.  Return 0 to go on. */
typedef int mailbox_flags_cb(uint32_t uid, uint32_t system_flags,
                             const struct mailbox_keywords *keywords, uint64_t modseq,
                             bool changed, void *ctx);

/* STORE: change flags and keywords of the messages whose UIDs are in uids,
 * for userid (\Seen of a non-owner lives in the seen state; NULL acts as
 * the owner).  Every changed message gets the operation's new MODSEQ.
 * With conditional, messages whose MODSEQ is above unchangedsince are not
 * changed (nor reported to cb)
 * and their UIDs are added to modified_r (if not NULL; RFC 7162 MODIFIED).
 * A new keyword name is added to the mailbox; STORE_ERR_LIMIT for the
 * 129th.  cb may be NULL. */
int mailbox_store_flags(struct mailbox *mb, const struct seqset *uids,
                        const struct mailbox_flags_change *change, const char *userid,
                        mailbox_flags_cb *cb, void *ctx, struct seqset *modified_r,
                        const char **error_r);

/* Expunge every message with \Deleted (uids NULL), or only those also in
 * uids (UID EXPUNGE).  The records are marked (the files stay until the
 * cleanup) and the quota usage drops at once.  expunged_r (if not NULL)
 * gets the UIDs expunged. */
int mailbox_expunge(struct mailbox *mb, const struct seqset *uids, struct seqset *expunged_r,
                    const char **error_r);

/* Drop expunged records older than expunge_cleanup_delay (all of them with
 * force) and unlink their files: the index is rewritten (new generation)
 * and the cache compacted when more than half of it is dead.  mailbox_open
 * in READWRITE mode calls this when due.  Returns the number of records
 * removed or an error. */
int mailbox_cleanup(struct mailbox *mb, bool force, const char **error_r);

/* ------------------------------------------------------------------------
 * Views: what one session has told its client
 *
 * A view holds the message sequence numbers the session knows (msn ->
 * UID), the HIGHESTMODSEQ it has reported and its \Recent set.  At a
 * command boundary mailbox_view_refresh() reports what changed since:
 * expunges (only when allow_expunge: during FETCH, STORE and SEARCH they
 * are held back so numbers stay stable, RFC 3501 7.4.1), new messages
 * and flag changes.  \Recent: a READWRITE view claims every message above
 * the mailbox's \Recent mark at open and refresh (recent to exactly one
 * session); a READONLY view (EXAMINE) claims nothing and sees the messages
 * above the mark as recent.
 */

enum mailbox_view_flags {
    MAILBOX_VIEW_READONLY = 0x01,   /* EXAMINE: never claims \Recent */
};

struct mailbox_view_callbacks {
    /* The keyword list grew (send FLAGS/PERMANENTFLAGS first). */
    void (*keywords)(void *ctx);
    /* Message msn (its number at the time of this call) is gone; called
     * in increasing UID order, each number as renumbered by the previous
     * calls (RFC 3501 7.4.1). */
    void (*expunge)(uint32_t msn, uint32_t uid, void *ctx);
    /* EXISTS / RECENT changed (after the expunges, before flag changes). */
    void (*exists)(uint32_t exists, void *ctx);
    void (*recent)(uint32_t recent, void *ctx);
    /* Flags of message msn changed (for this view's user). */
    void (*flags)(uint32_t msn, uint32_t uid, uint32_t system_flags,
                  const struct mailbox_keywords *keywords, uint64_t modseq, void *ctx);
};

/* Open a view of mb for userid (NULL: the owner's flags).  The view knows
 * every current message.  mb must outlive the view. */
int mailbox_view_open(struct mailbox *mb, const char *userid, unsigned flags,
                      struct mailbox_view **view_r, const char **error_r);
void mailbox_view_close(struct mailbox_view **view);

/* Learn what changed and report it through cb (any member may be NULL).
 * Returns 0, STORE_ERR_NOTFOUND (mailbox deleted), STORE_ERR_CORRUPT. */
int mailbox_view_refresh(struct mailbox_view *view, bool allow_expunge,
                         const struct mailbox_view_callbacks *cb, void *ctx,
                         const char **error_r);

struct mailbox *mailbox_view_mailbox(const struct mailbox_view *view);
uint32_t mailbox_view_exists(const struct mailbox_view *view);
uint32_t mailbox_view_recent(const struct mailbox_view *view);
uint64_t mailbox_view_highestmodseq(const struct mailbox_view *view);
/* UID of message msn (1-based), 0 when out of range. */
uint32_t mailbox_view_uid(const struct mailbox_view *view, uint32_t msn);
/* Message number of uid, 0 when the view does not hold it. */
uint32_t mailbox_view_msn(const struct mailbox_view *view, uint32_t uid);
bool mailbox_view_is_recent(const struct mailbox_view *view, uint32_t uid);
/* Is uid expunged (seen by this view but held back)? */
bool mailbox_view_is_expunged(const struct mailbox_view *view, uint32_t uid);
/* The record of message msn: 1 found, 0 gone (expunged and cleaned up),
 * or an error.  record_r->system_flags carry this view's user's \Seen (for
 * a non-owner: as of the view's last refresh; flags, keywords and MODSEQ
 * are read from the index now). */
int mailbox_view_record(struct mailbox_view *view, uint32_t msn,
                        struct mailbox_record *record_r, const char **error_r);
/* The first message without \Seen for the view's user (SELECT's [UNSEEN
 * n]), 0 when none. */
uint32_t mailbox_view_first_unseen(struct mailbox_view *view);
/* Convert a set of message numbers to UIDs ('*' already resolved);
 * numbers beyond the view are ignored. */
void mailbox_view_msns_to_uids(const struct mailbox_view *view, const struct seqset *msns,
                               struct seqset *uids_r);

/* ------------------------------------------------------------------------
 * Waiting for changes (IDLE)
 */

/* A descriptor that becomes readable when any process changes the mailbox
 * (inotify on its directory's metadata files).  Owned by mb; after it wakes,
 * call mailbox_watch_drain() and then refresh the view.  -1 on error. */
int mailbox_watch_fd(struct mailbox *mb, const char **error_r);
/* Consume pending events; returns true when one concerned the metadata. */
bool mailbox_watch_drain(struct mailbox *mb);

#endif
