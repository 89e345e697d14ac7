/* mbexamine - print a mailbox's header and index records, for debugging.
 *
 * SYNOPSIS
 *   mbexamine [-C config] [-q] [-u uid | -s msn] MAILBOX...
 *
 * DESCRIPTION
 *   For each MAILBOX (an internal name) prints its mailbox list entry,
 *   roost.header, the index header and every index record with a summary
 *   of its cache entry (reconstruct_examine() in store/reconstruct.h has
 *   the format).  The files are read tolerantly: a damaged mailbox is
 *   printed as far as it can be, with what is damaged and why.
 *
 *   -u uid   only the record of this UID
 *   -s msn   only the record of this message number
 *   -q       quick: leave out the cache entries
 *
 * EXIT STATUS
 *   0 printed, 1 a mailbox could not be examined, 64 usage.
 */
#include "config.h"
#include "log.h"
#include "reconstruct.h"
#include "store.h"
#include "str.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: mbexamine [-C config] [-q] [-u uid | -s msn] MAILBOX...\n");
    return 64;
}

int main(int argc, char **argv)
{
    struct reconstruct_examine_options o = { 0, 0, true };
    const char *cfgpath = NULL, *error = NULL;
    uint64_t v;
    int c;

    log_init("mbexamine");
    log_set_level(LOG_LEVEL_WARNING);
    while ((c = getopt(argc, argv, "C:qu:s:")) != -1) {
        switch (c) {
        case 'C': cfgpath = optarg; break;
        case 'q': o.cache = false; break;
        case 'u':
        case 's':
            if (str_to_u64(optarg, UINT32_MAX - 1, &v) < 0 || v == 0)
                return usage();
            if (c == 'u')
                o.uid = (uint32_t)v;
            else
                o.msn = (uint32_t)v;
            break;
        default: return usage();
        }
    }
    if (optind >= argc || (o.uid != 0 && o.msn != 0))
        return usage();

    struct config *config = NULL;
    struct store *store = NULL;
    if (config_load(config_path_resolve(cfgpath), &config, &error) < 0 ||
        store_open(config, 0, &store, &error) < 0) {
        fprintf(stderr, "mbexamine: %s\n", error);
        config_free(&config);
        return 1;
    }
    int ret = 0;
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            printf("\n");
        if (reconstruct_examine(store, argv[i], &o, stdout, &error) < 0) {
            fflush(stdout);
            fprintf(stderr, "mbexamine: %s\n", error);
            ret = 1;
        }
    }
    store_close(&store);
    config_free(&config);
    return ret;
}
