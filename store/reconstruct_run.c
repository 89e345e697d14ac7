/* reconstruct_run.c - the reconstruct tool's whole run: the partition
 *                     scan, every mailbox, then each quota root once.
 *
 * DESCRIPTION
 *   The mailboxes are collected first (every one, or the named ones and
 *   with RECONSTRUCT_RECURSIVE those below them, sorted and without
 *   duplicates), then rebuilt one by one with RECONSTRUCT_NO_QUOTA, and
 *   each quota root that governs one of them is recounted once at the end
 *   (a user with many folders costs one recount, not one per folder).  A
 *   mailbox that fails is reported through the note callback and the run
 *   goes on.
 */
#include "reconstruct.h"

#include "mailbox_private.h"

#include "buf.h"
#include "mboxlist.h"
#include "pool.h"
#include "quota_recount.h"
#include "store.h"
#include "xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rc_list {
    char **v;
    size_t n, alloc;
    const char *under;         /* collect: names covered by this one */
};

static void rc_list_add(struct rc_list *l, const char *s)
{
    if (l->n == l->alloc) {
        l->alloc = l->alloc == 0 ? 64 : l->alloc * 2;
        l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
    }
    l->v[l->n++] = xstrdup(s);
}

static void rc_list_free(struct rc_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int rc_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates. */
static void rc_list_unique(struct rc_list *l)
{
    size_t k = 0;

    if (l->n == 0)
        return;
    qsort(l->v, l->n, sizeof(*l->v), rc_cmp_str);
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->v[i], l->v[k]) == 0)
            free(l->v[i]);
        else
            l->v[++k] = l->v[i];
    }
    l->n = k + 1;
}

static int rc_collect(const struct mboxlist_entry *entry, void *vctx)
{
    struct rc_list *l = vctx;

    if (entry->type == MBTYPE_EMAIL &&
        (l->under == NULL || quota_recount_covers(l->under, entry->name)))
        rc_list_add(l, entry->name);
    return 0;
}

static void rc_run_note(const struct reconstruct_options *opts, const char *mailbox,
                        const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void rc_run_note(const struct reconstruct_options *opts, const char *mailbox,
                        const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (opts->note != NULL)
        opts->note(mailbox, text, opts->ctx);
}

/* The mailboxes the run covers, into targets. */
static int rc_targets(struct store *store, const char *const *names, unsigned n,
                      const struct reconstruct_options *opts, struct rc_list *targets,
                      uint64_t *failed_r, const char **error_r)
{
    struct pool *pool = pool_create("reconstruct", 1024);
    const char *err = NULL;
    int r = 0;

    if (n == 0 && mboxlist_foreach(store, NULL, NULL, rc_collect, targets, &err) < 0)
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
    for (unsigned i = 0; i < n && r == 0; i++) {
        struct mboxlist_entry entry;
        int found = mboxlist_lookup(store, NULL, names[i], pool, &entry, &err);
        if (found > 0 && entry.type == MBTYPE_EMAIL) {
            rc_list_add(targets, names[i]);
        } else if ((opts->flags & RECONSTRUCT_RECURSIVE) == 0) {
            rc_run_note(opts, names[i], "%s", found < 0 ? err : "no such mailbox");
            (*failed_r)++;
        }
        if ((opts->flags & RECONSTRUCT_RECURSIVE) != 0) {
            size_t before = targets->n;
            targets->under = names[i];
            if (mboxlist_foreach(store, NULL, names[i], rc_collect, targets, &err) < 0)
                r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
            targets->under = NULL;
            if (r == 0 && targets->n == before) {
                rc_run_note(opts, names[i], "no such mailbox");
                (*failed_r)++;
            }
        }
        pool_clear(pool);
    }
    rc_list_unique(targets);
    pool_destroy(&pool);
    return r;
}

int reconstruct_run(struct store *store, const char *const *names, unsigned n,
                    const struct reconstruct_options *opts, struct reconstruct_summary *sum_r,
                    const char **error_r)
{
    struct reconstruct_summary sum;
    struct reconstruct_options one = *opts;
    struct rc_list targets = { NULL, 0, 0, NULL }, roots = { NULL, 0, 0, NULL };
    struct buf root = BUF_INIT;
    const char *err = NULL;
    int r = 0;

    memset(&sum, 0, sizeof(sum));
    if ((opts->flags & RECONSTRUCT_FIND) != 0 &&
        reconstruct_find(store, names, n, opts, &sum.found, &err) < 0) {
        rc_run_note(opts, "*", "partition scan: %s", err);
        sum.failed++;
    }
    if ((r = rc_targets(store, names, n, opts, &targets, &sum.failed, error_r)) < 0)
        goto out;

    one.flags |= RECONSTRUCT_NO_QUOTA;
    for (size_t i = 0; i < targets.n; i++) {
        struct reconstruct_result res;

        one.mailbox_no = i + 1;
        one.mailbox_total = targets.n;
        if (reconstruct_mailbox(store, targets.v[i], &one, &res, &err) < 0) {
            rc_run_note(opts, targets.v[i], "not rebuilt: %s", err);
            sum.failed++;
            continue;
        }
        sum.mailboxes++;
        sum.messages += res.messages;
        rc_run_note(opts, targets.v[i], "rebuilt: %u message%s (%u kept, %u added, %u dropped)",
                    res.messages, res.messages == 1 ? "" : "s", res.kept, res.added,
                    res.dropped);
        if (mb_quota_root(store, targets.v[i], &root, &err) > 0)
            rc_list_add(&roots, buf_cstr(&root));
    }

    rc_list_unique(&roots);
    for (size_t i = 0; i < roots.n; i++) {
        struct quota_recount qr;
        if (quota_recount_root(store, roots.v[i], true, &qr, &err) < 0) {
            rc_run_note(opts, roots.v[i], "quota root not recounted: %s", err);
            sum.failed++;
            continue;
        }
        sum.roots++;
        if (qr.fixed)
            rc_run_note(opts, roots.v[i],
                        "quota usage was %lld bytes in %lld messages, now %lld in %lld",
                        (long long)qr.stored.used_bytes, (long long)qr.stored.used_messages,
                        (long long)qr.bytes, (long long)qr.messages);
        else if (qr.unreadable > 0)
            rc_run_note(opts, roots.v[i], "quota usage not fixed: %u mailbox%s cannot be read",
                        qr.unreadable, qr.unreadable == 1 ? "" : "es");
    }
    if (sum.failed > 0)
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "%llu problem%s could not be fixed",
                    (unsigned long long)sum.failed, sum.failed == 1 ? "" : "s");
out:
    if (sum_r != NULL)
        *sum_r = sum;
    rc_list_free(&targets);
    rc_list_free(&roots);
    buf_free(&root);
    return r;
}
