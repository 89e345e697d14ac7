/* reconstruct.h - rebuild mailboxes' metadata from their message files.
 *
 * SYNOPSIS
 *   struct reconstruct_options o = { .flags = RECONSTRUCT_RECURSIVE };
 *   reconstruct_mailbox(store, "user.bob", &o, &result, &error);
 *   reconstruct_run(store, names, n, &o, &summary, &error);    // the tool
 *
 * DESCRIPTION
 *   The message files ("<uid>.") of a mailbox are the truth; roost.index,
 *   roost.header and roost.cache.N are rebuilt from them.  What survives
 *   of the old metadata is kept: an old index record whose checksum (and
 *   UID order) is intact keeps its message's UID, flags, keywords, MODSEQ,
 *   INTERNALDATE and change time; UIDVALIDITY is kept when the old index
 *   header or roost.header can still be read (else a new one is chosen);
 *   keyword names come from the old roost.header when it is readable.
 *   Every message file is parsed again (lib/mime.h), hashed (SHA-1 GUID)
 *   and measured, so the cache and the sizes are always fresh.
 *
 *   A message file without an intact record is added as a new message
 *   (flags lost).  It keeps its file's UID when that UID can never have
 *   been shown to a client with other contents or as expunged (at or
 *   above the old UIDNEXT, in the place of a damaged or truncated record,
 *   or when the old index header is gone); otherwise (a stray file whose
 *   UID the intact index says is not in use) it gets a new UID above
 *   every existing one and the file is renamed.  Records whose file is
 *   gone are dropped.  A file that cannot be indexed at all (over the
 *   message or cache size limits) is renamed "<uid>.unindexed" so that no
 *   later cleanup removes it.
 *
 *   The rebuilt files are written with the store's own writers and its
 *   crash-safe protocol (docs/store-format.md): a new cache generation
 *   (synced), roost.index.NEW (locked before it is named, synced),
 *   roost.header (temp + fsync + rename), then the rename of the new index
 *   over roost.index is the commit; old cache generations are removed
 *   after it.  The mailbox's exclusive lock is held throughout (taken on
 *   the raw index file, since it may be damaged), so no other process
 *   sees a half-rebuilt mailbox.  Afterwards the governing quota root's
 *   usage is recounted (store/quota_recount.h).
 *
 *   With RECONSTRUCT_FIND the partitions are scanned for mailbox
 *   directories (named by uniqueid) that the mailbox list does not name
 *   (an interrupted create or delete) or names elsewhere (a crash inside
 *   a rename's window, docs/store-format.md): a directory whose list
 *   entry points to a missing directory is moved back where the list
 *   expects it; an unlisted one is inserted into the list under the name
 *   in its roost.header (when readable and consistent with where the
 *   directory lies) or else under "<owner's INBOX>.recovered-<uniqueid>"
 *   / "recovered-<uniqueid>".  Directories of deleted mailboxes (index
 *   marked deleted) and empty nameless ones are reported and left alone.
 *
 * ERRORS
 *   Functions return 0 or a store_error code (store.h) with *error_r.
 *   reconstruct_run() goes on after a mailbox fails and returns -1 at the
 *   end when any did (each failure is reported through note).
 */
#ifndef ROOST_RECONSTRUCT_H
#define ROOST_RECONSTRUCT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct store;

enum reconstruct_flags {
    RECONSTRUCT_RECURSIVE = 0x01,  /* -r: the named mailboxes and everything below */
    RECONSTRUCT_FIND = 0x02,       /* -f: scan partitions for unlisted mailboxes */
    RECONSTRUCT_NO_QUOTA = 0x04,   /* reconstruct_mailbox: leave the quota root alone */
};

/* What happened to one mailbox. */
struct reconstruct_result {
    uint32_t messages;       /* records in the rebuilt index */
    uint32_t kept;           /* records that kept UID and flags from the old index */
    uint32_t added;          /* message files without an intact record (flags lost) */
    uint32_t renumbered;     /* of those, given a new UID */
    uint32_t dropped;        /* records dropped: their message file is gone */
    uint32_t changed;        /* kept records whose file differs from the record */
    uint32_t unindexed;      /* files renamed "<uid>.unindexed" */
    uint32_t uidvalidity;
    bool uidvalidity_kept;
    bool index_damaged;      /* the old index header was unreadable */
    bool header_damaged;     /* the old roost.header was unreadable */
    bool keywords_lost;      /* records had keywords whose names were lost */
};

/* Progress of a long run, reported at every message (the caller decides
 * how often to show it). */
struct reconstruct_progress {
    const char *mailbox;
    uint64_t mailbox_no, mailbox_total;   /* 1-based position in the run */
    uint32_t messages_done, messages_total;
};

typedef void reconstruct_note_fn(const char *mailbox, const char *text, void *ctx);
typedef void reconstruct_progress_fn(const struct reconstruct_progress *p, void *ctx);

struct reconstruct_options {
    unsigned flags;                       /* enum reconstruct_flags */
    reconstruct_note_fn *note;            /* what was found and fixed (may be NULL) */
    reconstruct_progress_fn *progress;    /* may be NULL */
    void *ctx;
    /* reconstruct_mailbox() as part of a longer run: its position, for
     * the progress reports (0: "1 of 1") */
    uint64_t mailbox_no, mailbox_total;
};

/* Rebuild mailbox `name` (internal name, listed in the mailbox list) from
 * its message files as described above; result_r (may be NULL) says what
 * was kept and what changed.  Unless RECONSTRUCT_NO_QUOTA, the usage of
 * the governing quota root is recounted afterwards.  STORE_ERR_NOTFOUND
 * when the mailbox is not listed or its directory is missing. */
int reconstruct_mailbox(struct store *store, const char *name,
                        const struct reconstruct_options *opts,
                        struct reconstruct_result *result_r, const char **error_r);

/* Scan every partition for mailbox directories the list does not name
 * where they lie, and fix the list or the directory as described above.
 * names[0..n) limit the fixes to those mailboxes (and, with
 * RECONSTRUCT_RECURSIVE, the ones below them); n == 0: all.  The number of
 * mailboxes inserted or moved back goes to *fixed_r (may be NULL). */
int reconstruct_find(struct store *store, const char *const *names, unsigned n,
                     const struct reconstruct_options *opts, uint64_t *fixed_r,
                     const char **error_r);

struct reconstruct_summary {
    uint64_t mailboxes;      /* rebuilt */
    uint64_t failed;         /* could not be rebuilt */
    uint64_t messages;       /* records in the rebuilt indexes */
    uint64_t found;          /* fixed by the partition scan (RECONSTRUCT_FIND) */
    uint64_t roots;          /* quota roots recounted */
};

/* The reconstruct tool: optionally the partition scan (RECONSTRUCT_FIND),
 * then every named mailbox (with RECONSTRUCT_RECURSIVE also those below;
 * n == 0: every mailbox), then one recount of each quota root involved. */
int reconstruct_run(struct store *store, const char *const *names, unsigned n,
                    const struct reconstruct_options *opts, struct reconstruct_summary *sum_r,
                    const char **error_r);

/* mbexamine: print to out what is on disk for mailbox name: its list
 * entry, roost.header, the index header and the records (with their cache
 * entries summarised when cache is set), or only the record of uid or of
 * message number msn (0: all).  Read tolerantly: damaged parts are printed
 * as such (the format is in reconstruct_examine.c).  Returns 0, or
 * STORE_ERR_NOTFOUND / an error when the mailbox cannot be found. */
struct reconstruct_examine_options {
    uint32_t uid;
    uint32_t msn;
    bool cache;
};
int reconstruct_examine(struct store *store, const char *name,
                        const struct reconstruct_examine_options *o, FILE *out,
                        const char **error_r);

#endif
