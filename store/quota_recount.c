/* quota_recount.c - recount quota roots' usage from the mailboxes.
 *
 * DESCRIPTION
 *   For a root R the mailboxes counted are R itself and every mailbox
 *   below it whose governing root (quota_find_root) is R, found with one
 *   prefix walk of the mailbox list.  Each is opened read-only and its
 *   index header's counts are added up (bytes of the messages not
 *   expunged, their number): the same figures the mailbox operations
 *   charge to the root, so a recount of a quiet root equals the stored
 *   usage.  The walk collects the names first and opens the mailboxes
 *   after it, so no database cursor is held while a mailbox is locked.
 *
 * DIAGNOSTICS
 *   A mailbox that cannot be opened (damaged: run reconstruct) is counted
 *   in unreadable and keeps its root from being fixed.
 */
#include "quota_recount.h"

#include "buf.h"
#include "mailbox.h"
#include "mboxlist.h"
#include "pool.h"
#include "store.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

bool quota_recount_covers(const char *root, const char *name)
{
    size_t len = strlen(root);

    return strncmp(name, root, len) == 0 && (name[len] == '\0' || name[len] == '.');
}

struct qr_names {
    const char *root;
    char **v;
    size_t n, alloc;
};

static int qr_collect(const struct mboxlist_entry *entry, void *vctx)
{
    struct qr_names *names = vctx;

    if (entry->type != MBTYPE_EMAIL || !quota_recount_covers(names->root, entry->name))
        return 0;
    if (names->n == names->alloc) {
        names->alloc = names->alloc == 0 ? 16 : names->alloc * 2;
        names->v = xreallocarray(names->v, names->alloc, sizeof(*names->v));
    }
    names->v[names->n++] = xstrdup(entry->name);
    return 0;
}

static void qr_names_free(struct qr_names *names)
{
    for (size_t i = 0; i < names->n; i++)
        free(names->v[i]);
    free(names->v);
    names->v = NULL;
    names->n = names->alloc = 0;
}

/* Is name still in the mailbox list (an error counts as yes)? */
static bool qr_still_listed(struct store *store, const char *name)
{
    struct pool *pool = pool_create("quota_recount", 1024);
    struct mboxlist_entry entry;
    const char *err = NULL;
    int r = mboxlist_lookup(store, NULL, name, pool, &entry, &err);

    pool_destroy(&pool);
    return r != 0;
}

int quota_recount_root(struct store *store, const char *root, bool fix,
                       struct quota_recount *rc_r, const char **error_r)
{
    struct qr_names names = { root, NULL, 0, 0 };
    struct buf governing = BUF_INIT;
    const char *err = NULL;
    int r;

    memset(rc_r, 0, sizeof(*rc_r));
    rc_r->root = root;
    r = quota_get(store, NULL, root, &rc_r->stored, &err);
    if (r < 0) {
        *error_r = store_error_fmt("quota root %s: %s", root, err != NULL ? err : "failed");
        return STORE_ERR_INTERNAL;
    }
    if (r == 0) {
        *error_r = store_error_fmt("%s: no such quota root", root);
        return STORE_ERR_NOTFOUND;
    }
    if (mboxlist_foreach(store, NULL, root, qr_collect, &names, &err) < 0) {
        *error_r = store_error_fmt("mailbox list: %s", err != NULL ? err : "walk failed");
        qr_names_free(&names);
        return STORE_ERR_INTERNAL;
    }
    r = 0;
    for (size_t i = 0; i < names.n && r == 0; i++) {
        struct mailbox *mb = NULL;
        struct mailbox_counts counts;

        /* a deeper root claims this one */
        int found = quota_find_root(store, NULL, names.v[i], &governing, &err);
        if (found < 0) {
            *error_r = store_error_fmt("quota root of %s: %s", names.v[i],
                                       err != NULL ? err : "failed");
            r = STORE_ERR_INTERNAL;
            break;
        }
        if (found == 0 || strcmp(buf_cstr(&governing), root) != 0)
            continue;
        int o = mailbox_open(store, names.v[i], MAILBOX_READONLY, &mb, &err);
        if (o == 0)
            o = mailbox_get_counts(mb, NULL, &counts, &err);
        mailbox_close(&mb);
        if (o < 0) {
            /* deleted meanwhile is fine; damaged or half-gone is not */
            if (o != STORE_ERR_NOTFOUND || qr_still_listed(store, names.v[i]))
                rc_r->unreadable++;
            continue;
        }
        rc_r->bytes += (int64_t)counts.size;
        rc_r->messages += counts.exists;
        rc_r->mailboxes++;
    }
    qr_names_free(&names);
    buf_free(&governing);
    if (r < 0)
        return r;
    if (fix && rc_r->unreadable == 0 &&
        (rc_r->bytes != rc_r->stored.used_bytes || rc_r->messages != rc_r->stored.used_messages)) {
        if (quota_set_usage(store, NULL, root, rc_r->bytes, rc_r->messages, &err) < 0) {
            *error_r = store_error_fmt("quota root %s: %s", root, err != NULL ? err : "failed");
            return STORE_ERR_INTERNAL;
        }
        rc_r->fixed = true;
    }
    return 0;
}

struct qr_roots {
    const char *const *wanted;
    unsigned nwanted;
    char **v;
    size_t n, alloc;
};

static int qr_collect_root(const char *root, const struct quota *q, void *vctx)
{
    struct qr_roots *roots = vctx;
    bool take = roots->nwanted == 0;

    (void)q;
    for (unsigned i = 0; i < roots->nwanted && !take; i++)
        take = quota_recount_covers(roots->wanted[i], root);
    if (!take)
        return 0;
    if (roots->n == roots->alloc) {
        roots->alloc = roots->alloc == 0 ? 16 : roots->alloc * 2;
        roots->v = xreallocarray(roots->v, roots->alloc, sizeof(*roots->v));
    }
    roots->v[roots->n++] = xstrdup(root);
    return 0;
}

int quota_recount_all(struct store *store, const char *const *wanted, unsigned n, bool fix,
                      quota_recount_cb *cb, void *ctx, const char **error_r)
{
    struct qr_roots roots = { wanted, n, NULL, 0, 0 };
    const char *err = NULL;
    unsigned failed = 0;

    if (quota_foreach(store, NULL, NULL, qr_collect_root, &roots, &err) < 0) {
        *error_r = store_error_fmt("quota.db: %s", err != NULL ? err : "walk failed");
        for (size_t i = 0; i < roots.n; i++)
            free(roots.v[i]);
        free(roots.v);
        return -1;
    }
    for (size_t i = 0; i < roots.n; i++) {
        struct quota_recount rc;
        err = NULL;
        int r = quota_recount_root(store, roots.v[i], fix, &rc, &err);
        if (r < 0 || rc.unreadable > 0)
            failed++;
        if (cb != NULL)
            cb(&rc, r < 0 ? err : NULL, ctx);
        free(roots.v[i]);
    }
    free(roots.v);
    if (failed > 0) {
        *error_r = store_error_fmt("%u quota root%s could not be recounted", failed,
                                   failed == 1 ? "" : "s");
        return -1;
    }
    return 0;
}
