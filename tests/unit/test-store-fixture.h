/* test-store-fixture.h - the set-up the store-level unit tests share
 * (test-quota, test-seen-subs, test-acl, test-mboxlist): a fresh /tmp
 * directory, a config with configdirectory DIR/config and
 * partition-default DIR/spool inside it (plus optional lines), a store
 * opened with STORE_OPEN_CREATE, and a teardown that closes everything
 * and removes the directory.  All functions are static inline, so a test
 * uses only what it needs without -Wunused-function.  Include after
 * cmocka.h.  (The mailbox tests have their own, test-mailbox-fixture.h.) */
#ifndef ROOST_TEST_STORE_FIXTURE_H
#define ROOST_TEST_STORE_FIXTURE_H

#include "buf.h"
#include "config.h"
#include "pool.h"
#include "store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

struct fixture {
    char dir[64];
    struct config *config;
    struct store *store;
    struct pool *pool; /* the test's own; NULL unless it makes one; freed by teardown */
};

static inline int fixture_rm_entry(const char *path, const struct stat *st, int flag,
                                   struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove dir and everything below it (best effort). */
static inline void fixture_rmtree(const char *dir)
{
    nftw(dir, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Make the fixture in *state: a directory /tmp/NAME.XXXXXX, the config
 * "configdirectory: DIR/config", "partition-default: DIR/spool", then
 * "partition-other: DIR/OTHER_PARTITION" if other_partition is not NULL,
 * then the lines of extra (may be NULL; each line ends with "\n"), and a
 * store opened with STORE_OPEN_CREATE.  Fails the test on any error.
 * Returns 0, so a cmocka setup can return its result. */
static inline int fixture_setup(void **state, const char *name, const char *other_partition,
                                const char *extra)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct buf text = BUF_INIT;
    const char *error = NULL;

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/%s.XXXXXX", name);
    assert_non_null(mkdtemp(f->dir));
    buf_printf(&text, "configdirectory: %s/config\npartition-default: %s/spool\n", f->dir,
               f->dir);
    if (other_partition != NULL)
        buf_printf(&text, "partition-other: %s/%s\n", f->dir, other_partition);
    if (extra != NULL)
        buf_append_str(&text, extra);
    if (config_parse("test.conf", buf_cstr(&text), &f->config, &error) < 0)
        fail_msg("config_parse: %s", error);
    buf_free(&text);
    if (store_open(f->config, STORE_OPEN_CREATE, &f->store, &error) < 0)
        fail_msg("store_open: %s", error);
    *state = f;
    return 0;
}

/* Undo fixture_setup: the pool (if any), the store, the config, the
 * directory.  Has the cmocka teardown signature; returns 0. */
static inline int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    if (f->pool != NULL)
        pool_destroy(&f->pool);
    store_close(&f->store);
    config_free(&f->config);
    fixture_rmtree(f->dir);
    free(f);
    return 0;
}

#endif
