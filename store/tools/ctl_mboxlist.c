/* ctl_mboxlist - dump the mailbox list as text, or load such a dump.
 *
 * SYNOPSIS
 *   ctl_mboxlist [-C config] -d [-p partition] > dump
 *   ctl_mboxlist [-C config] -u < dump
 *
 * DESCRIPTION
 *   -d   write every mailbox list entry (only those on `partition` with
 *        -p) to stdout, one line each in name order: NAME, TYPE,
 *        PARTITION, UNIQUEID, CREATED, SPECIALUSE and the ACL, separated
 *        by TABs (store/mboxlist_dump.h has the exact format).
 *   -u   read such lines from stdin and put each entry into the mailbox
 *        list (replacing an entry of the same name), so that -d | -u
 *        copies a list exactly, into a fresh config directory (made by
 *        mkimap) too.  Only the list is written: the mailboxes' files are
 *        not touched.
 *
 * EXIT STATUS
 *   0 done, 1 failed (the message names the line for -u), 64 usage.
 */
#include "config.h"
#include "log.h"
#include "mboxlist_dump.h"
#include "store.h"

#include <stdio.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: ctl_mboxlist [-C config] -d [-p partition]\n"
                    "       ctl_mboxlist [-C config] -u < dump\n");
    return 64;
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL, *partition = NULL, *error = NULL;
    int mode = 0, c;

    log_init("ctl_mboxlist");
    log_set_level(LOG_LEVEL_WARNING);
    while ((c = getopt(argc, argv, "C:dup:")) != -1) {
        switch (c) {
        case 'C': cfgpath = optarg; break;
        case 'd':
        case 'u':
            if (mode != 0)
                return usage();
            mode = c;
            break;
        case 'p': partition = optarg; break;
        default: return usage();
        }
    }
    if (mode == 0 || optind != argc || (partition != NULL && mode != 'd'))
        return usage();

    struct config *config = NULL;
    struct store *store = NULL;
    if (config_load(config_path_resolve(cfgpath), &config, &error) < 0 ||
        store_open(config, 0, &store, &error) < 0) {
        fprintf(stderr, "ctl_mboxlist: %s\n", error);
        config_free(&config);
        return 1;
    }
    uint64_t count = 0;
    int r = mode == 'd' ? mboxlist_dump(store, partition, stdout, &count, &error)
                        : mboxlist_dump_load(store, stdin, &count, &error);
    if (r < 0)
        fprintf(stderr, "ctl_mboxlist: %s (%llu entries %s)\n", error,
                (unsigned long long)count, mode == 'd' ? "written" : "loaded");
    store_close(&store);
    config_free(&config);
    return r < 0 ? 1 : 0;
}
