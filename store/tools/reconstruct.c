/* reconstruct - rebuild mailboxes' index, header and cache from their
 *               message files.
 *
 * SYNOPSIS
 *   reconstruct [-C config] [-r] [-f] [MAILBOX...]
 *
 * DESCRIPTION
 *   Rebuilds each MAILBOX (an internal name: user.test1,
 *   example.com!user.x.Sent), or every mailbox when none is named, as
 *   store/reconstruct.h describes: every message file is parsed again;
 *   UIDs, flags, keywords, MODSEQs and dates are kept from index records
 *   that are still intact, UIDVALIDITY when it can still be read; message
 *   files missing from the index are added, records whose file is gone are
 *   dropped; the counts and the quota roots' usage are recounted.
 *
 *   -r   also every mailbox below each MAILBOX
 *   -f   first scan the partitions for mailbox directories the mailbox
 *        list does not name (an interrupted create, delete or rename) and
 *        put them back into the list
 *
 *   Prints one line per mailbox rebuilt and one per problem found or
 *   fixed ("NAME: what") on stdout; on runs longer than a second, a
 *   progress line on stderr every second.
 *
 * EXIT STATUS
 *   0 every mailbox rebuilt, 1 some could not be, 64 usage.
 */
#include "config.h"
#include "log.h"
#include "reconstruct.h"
#include "store.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

struct progress_clock {
    struct timespec start, last;
};

static int usage(void)
{
    fprintf(stderr, "usage: reconstruct [-C config] [-r] [-f] [MAILBOX...]\n");
    return 64;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void note(const char *mailbox, const char *text, void *ctx)
{
    (void)ctx;
    printf("%s: %s\n", mailbox, text);
    fflush(stdout);
}

/* At most one line a second, and none during the first second. */
static void progress(const struct reconstruct_progress *p, void *ctx)
{
    struct progress_clock *clock = ctx;
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (seconds_between(&clock->start, &now) < 1.0 || seconds_between(&clock->last, &now) < 1.0)
        return;
    clock->last = now;
    fprintf(stderr, "reconstruct: mailbox %llu of %llu (%s): message %u of %u\n",
            (unsigned long long)p->mailbox_no, (unsigned long long)p->mailbox_total,
            p->mailbox, p->messages_done, p->messages_total);
}

int main(int argc, char **argv)
{
    struct progress_clock clock;
    struct reconstruct_options opts = { .note = note, .progress = progress, .ctx = &clock };
    const char *cfgpath = NULL, *error = NULL;
    int c;

    log_init("reconstruct");
    log_set_level(LOG_LEVEL_WARNING);
    while ((c = getopt(argc, argv, "C:rf")) != -1) {
        switch (c) {
        case 'C': cfgpath = optarg; break;
        case 'r': opts.flags |= RECONSTRUCT_RECURSIVE; break;
        case 'f': opts.flags |= RECONSTRUCT_FIND; break;
        default: return usage();
        }
    }
    struct config *config = NULL;
    struct store *store = NULL;
    if (config_load(config_path_resolve(cfgpath), &config, &error) < 0 ||
        store_open(config, 0, &store, &error) < 0) {
        fprintf(stderr, "reconstruct: %s\n", error);
        config_free(&config);
        return 1;
    }
    struct reconstruct_summary sum;
    clock_gettime(CLOCK_MONOTONIC, &clock.start);
    clock.last = clock.start;
    int r = reconstruct_run(store, (const char *const *)argv + optind, (unsigned)(argc - optind),
                            &opts, &sum, &error);
    fprintf(stderr, "reconstruct: %llu mailbox%s rebuilt (%llu message%s)%s%s\n",
            (unsigned long long)sum.mailboxes, sum.mailboxes == 1 ? "" : "es",
            (unsigned long long)sum.messages, sum.messages == 1 ? "" : "s", r < 0 ? "; " : "",
            r < 0 ? error : "");
    store_close(&store);
    config_free(&config);
    return r < 0 ? 1 : 0;
}
