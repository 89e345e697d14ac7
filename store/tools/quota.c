/* quota - report quota roots' limits and usage; recount and fix (-f).
 *
 * SYNOPSIS
 *   quota [-C config] [-f] [ROOT...]
 *   quota [-C config] -l STORAGE[,MESSAGES] ROOT...
 *
 * DESCRIPTION
 *   Prints every quota root (or only the ROOTs given and the roots below
 *   them) in Cyrus's columns: the STORAGE limit in KiB, the percentage
 *   used, the usage in KiB and the root's name.  A root without a STORAGE
 *   limit leaves the first two columns empty.  A root with a MESSAGE
 *   limit gets a second line, for the messages, marked "(messages)".
 *
 *      Quota   % Used     Used Root
 *      10240       12     1254 user.test1
 *                            0 user.test2
 *
 *   -f   first recount each root's usage from its mailboxes' index
 *        headers and store it when it differs (store/quota_recount.h),
 *        printing "ROOT: usage was B bytes in M messages, now B' in M'"
 *        for each root fixed.
 *
 *   -l   set the limits of each ROOT (creating it when it is new): STORAGE
 *        in KiB and MESSAGES, "none" (or -1) for no limit; MESSAGES left
 *        out means none.  A new root's usage is counted at once, and so
 *        is that of the root that governed its mailboxes before (their
 *        usage moves to the new root).  A Roost addition: Cyrus sets
 *        quotas with cyradm.
 *
 * EXIT STATUS
 *   0 done, 1 a root could not be read or recounted, 64 usage.
 */
#include "buf.h"
#include "config.h"
#include "log.h"
#include "mboxname.h"
#include "quota.h"
#include "quota_recount.h"
#include "store.h"
#include "str.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct report {
    char *const *roots;
    unsigned n;
    bool failed;
};

static int usage(void)
{
    fprintf(stderr, "usage: quota [-C config] [-f] [ROOT...]\n"
                    "       quota [-C config] -l STORAGE[,MESSAGES] ROOT...\n");
    return 64;
}

/* "none", "-1" or a number. */
static int parse_limit(const char *s, size_t len, int64_t *v_r)
{
    uint64_t v;

    if ((len == 4 && strncmp(s, "none", 4) == 0) || (len == 2 && strncmp(s, "-1", 2) == 0)) {
        *v_r = -1;
        return 0;
    }
    if (str_to_u64_n(s, len, INT64_MAX / 1024, &v) < 0)
        return -1;
    *v_r = (int64_t)v;
    return 0;
}

static int parse_limits(const char *arg, int64_t *storage_r, int64_t *messages_r)
{
    const char *comma = strchr(arg, ',');
    size_t len = comma != NULL ? (size_t)(comma - arg) : strlen(arg);

    *messages_r = -1;
    if (parse_limit(arg, len, storage_r) < 0)
        return -1;
    return comma == NULL ? 0 : parse_limit(comma + 1, strlen(comma + 1), messages_r);
}

/* Recount root (quietly, but say when it fails). */
static int recount(struct store *store, const char *root)
{
    struct quota_recount rc;
    const char *error = NULL;

    if (quota_recount_root(store, root, true, &rc, &error) < 0) {
        fprintf(stderr, "quota: %s: %s\n", root, error);
        return -1;
    }
    if (rc.unreadable > 0) {
        fprintf(stderr, "quota: %s: %u mailbox%s cannot be read (run reconstruct)\n", root,
                rc.unreadable, rc.unreadable == 1 ? "" : "es");
        return -1;
    }
    return 0;
}

/* -l: set the limits of each root; count a new root and the one it splits from. */
static int set_limits(struct store *store, char *const *roots, unsigned n, int64_t storage,
                      int64_t messages)
{
    struct buf before = BUF_INIT;
    const char *error = NULL;
    int ret = 0;

    for (unsigned i = 0; i < n; i++) {
        struct quota q;
        int exists = quota_get(store, NULL, roots[i], &q, &error);
        if (exists == 0 && quota_find_root(store, NULL, roots[i], &before, &error) < 0)
            exists = -1;
        if (exists < 0 || mboxname_check(roots[i], &error) < 0 ||
            quota_set_limits(store, NULL, roots[i], storage, messages, &error) < 0) {
            fprintf(stderr, "quota: %s: %s\n", roots[i], error);
            ret = -1;
            continue;
        }
        if (exists == 0) {
            if (recount(store, roots[i]) < 0)
                ret = -1;
            if (before.len > 0 && recount(store, buf_cstr(&before)) < 0)
                ret = -1;
        }
    }
    buf_free(&before);
    return ret;
}

static void print_row(int64_t limit, int64_t used, int64_t unit, const char *root,
                      const char *suffix)
{
    if (limit >= 0) {
        int64_t pct = limit > 0 ? (int64_t)((double)used * 100.0 / ((double)limit * unit)) : 0;
        printf(" %7lld %8lld", (long long)limit, (long long)pct);
    } else {
        printf("%17s", "");
    }
    printf(" %8lld %s%s\n", (long long)(used / unit), root, suffix);
}

static int print_root(const char *root, const struct quota *q, void *ctx)
{
    struct report *rep = ctx;
    bool take = rep->n == 0;

    for (unsigned i = 0; i < rep->n && !take; i++)
        take = quota_recount_covers(rep->roots[i], root);
    if (!take)
        return 0;
    print_row(q->limit_storage_kb, q->used_bytes, 1024, root, "");
    if (q->limit_messages >= 0)
        print_row(q->limit_messages, q->used_messages, 1, root, " (messages)");
    return 0;
}

static void print_fix(const struct quota_recount *rc, const char *error, void *ctx)
{
    struct report *rep = ctx;

    if (error != NULL) {
        fprintf(stderr, "quota: %s: %s\n", rc->root, error);
        rep->failed = true;
    } else if (rc->unreadable > 0) {
        fprintf(stderr, "quota: %s: %u mailbox%s cannot be read (run reconstruct); not fixed\n",
                rc->root, rc->unreadable, rc->unreadable == 1 ? "" : "es");
        rep->failed = true;
    } else if (rc->fixed) {
        printf("%s: usage was %lld bytes in %lld messages, now %lld bytes in %lld messages\n",
               rc->root, (long long)rc->stored.used_bytes, (long long)rc->stored.used_messages,
               (long long)rc->bytes, (long long)rc->messages);
    }
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL, *error = NULL, *limits = NULL;
    int64_t storage = -1, messages = -1;
    bool fix = false;
    int c;

    log_init("quota");
    log_set_level(LOG_LEVEL_WARNING);
    while ((c = getopt(argc, argv, "C:fl:")) != -1) {
        switch (c) {
        case 'C': cfgpath = optarg; break;
        case 'f': fix = true; break;
        case 'l': limits = optarg; break;
        default: return usage();
        }
    }
    if (limits != NULL && (fix || optind >= argc || parse_limits(limits, &storage, &messages) < 0))
        return usage();
    struct report rep = { argv + optind, (unsigned)(argc - optind), false };
    struct config *config = NULL;
    struct store *store = NULL;
    if (config_load(config_path_resolve(cfgpath), &config, &error) < 0 ||
        store_open(config, 0, &store, &error) < 0) {
        fprintf(stderr, "quota: %s\n", error);
        config_free(&config);
        return 1;
    }
    if (limits != NULL && set_limits(store, rep.roots, rep.n, storage, messages) < 0)
        rep.failed = true;
    if (fix)
        (void)quota_recount_all(store, (const char *const *)rep.roots, rep.n, true, print_fix,
                                &rep, &error);
    printf("   Quota   %% Used     Used Root\n");
    if (quota_foreach(store, NULL, NULL, print_root, &rep, &error) < 0) {
        fprintf(stderr, "quota: %s\n", error);
        rep.failed = true;
    }
    store_close(&store);
    config_free(&config);
    return rep.failed ? 1 : 0;
}
