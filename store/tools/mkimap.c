/* mkimap - create the config directory, databases and partitions.
 *
 * SYNOPSIS
 *   mkimap [-C config]
 *
 * DESCRIPTION
 *   Reads the config (-C, else $ROOST_CONFIG, else /etc/roost/imapd.conf)
 *   and creates what the store needs before any daemon starts: the
 *   configdirectory with the Berkeley DB environment and every server-wide
 *   database (store.h), and the directory of every partition-NAME.  What
 *   exists already is kept, so running it again is harmless.  Prints what
 *   it saw, one line each.
 *
 * EXIT STATUS
 *   0 done, 1 the store could not be created, 64 usage.
 */
#include "config.h"
#include "log.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void print_partition(const char *key, const char *value, void *ctx)
{
    (void)ctx;
    printf("partition %s: %s\n", key + sizeof("partition-") - 1, value);
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL, *error = NULL;
    struct config *config = NULL;
    struct store *store = NULL;
    int c;

    log_init("mkimap");
    while ((c = getopt(argc, argv, "C:")) != -1) {
        if (c != 'C') {
            fprintf(stderr, "usage: mkimap [-C config]\n");
            return 64;
        }
        cfgpath = optarg;
    }
    if (optind != argc) {
        fprintf(stderr, "usage: mkimap [-C config]\n");
        return 64;
    }
    cfgpath = config_path_resolve(cfgpath);
    if (config_load(cfgpath, &config, &error) < 0) {
        fprintf(stderr, "mkimap: %s\n", error);
        return 1;
    }
    printf("reading configuration file %s\n", cfgpath);
    if (store_open(config, STORE_OPEN_CREATE, &store, &error) < 0) {
        fprintf(stderr, "mkimap: %s\n", error);
        config_free(&config);
        return 1;
    }
    printf("configuration directory: %s\n", config_str(config, "configdirectory"));
    config_iter_prefix(config, "partition-", print_partition, NULL);
    printf("default partition: %s\n", store_default_partition(store));
    store_close(&store);
    config_free(&config);
    printf("done\n");
    return 0;
}
