/* quota_recount.h - recount quota usage from the mailboxes (quota -f).
 *
 * The usage kept in quota.db is changed after each mailbox commit, so a
 * crash between the two (or a damaged mailbox rebuilt by reconstruct) can
 * leave it off.  A recount sums, for every mailbox a root governs (the
 * root itself and the mailboxes below it that no deeper root claims), the
 * byte count and message count in the mailbox's index header, and can
 * write the result over the stored usage.  It reads index headers only.
 *
 * A recount that runs while messages are being delivered may be off by
 * the operations that commit during it (their usage is charged after the
 * commit); run it again on a quiet root when that matters.
 */
#ifndef ROOST_QUOTA_RECOUNT_H
#define ROOST_QUOTA_RECOUNT_H

#include "quota.h"

#include <stdbool.h>
#include <stdint.h>

struct store;

struct quota_recount {
    const char *root;
    struct quota stored;      /* limits and usage as stored before the recount */
    int64_t bytes;            /* counted */
    int64_t messages;
    uint32_t mailboxes;       /* mailboxes counted */
    uint32_t unreadable;      /* mailboxes that could not be opened (not counted) */
    bool fixed;               /* the stored usage was rewritten */
};

/* Recount root (which must exist: STORE_ERR_NOTFOUND otherwise).  With
 * fix, the counted usage replaces the stored one when they differ and
 * every governed mailbox could be read (a damaged mailbox is reported in
 * rc_r->unreadable and the root left alone: run reconstruct first).
 * rc_r->root points to root. */
int quota_recount_root(struct store *store, const char *root, bool fix,
                       struct quota_recount *rc_r, const char **error_r);

/* Recount every root that is one of roots[0..n) or below one of them
 * (n == 0: every root), calling cb after each (cb may be NULL).  Returns 0,
 * or -1 when a root could not be recounted (the others still are). */
typedef void quota_recount_cb(const struct quota_recount *rc, const char *error, void *ctx);
int quota_recount_all(struct store *store, const char *const *roots, unsigned n, bool fix,
                      quota_recount_cb *cb, void *ctx, const char **error_r);

/* True when name is root itself or a mailbox below it ("user.a" covers
 * "user.a" and "user.a.b", not "user.ab"). */
bool quota_recount_covers(const char *root, const char *name);

#endif
