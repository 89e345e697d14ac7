/* test-mailbox-fixture.h - what the test-mailbox-*.c tests share: a store
 * in a fresh /tmp directory with two partitions ("default" and "other"),
 * built from a config text, and small helpers (all static inline, so each
 * test uses what it needs).  Include after cmocka.h. */
#ifndef ROOST_TEST_MAILBOX_FIXTURE_H
#define ROOST_TEST_MAILBOX_FIXTURE_H

#include "buf.h"
#include "config.h"
#include "log.h"
#include "mailbox.h"
#include "mboxlist.h"
#include "quota.h"
#include "seqset.h"
#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mbt {
    char dir[64];
    char configdir[128], part1[128], part2[128];
    struct config *config;
    struct store *store;
};

static inline void mbt_rmtree(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char sub[1024];
            struct stat st;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                mbt_rmtree(sub);
            else
                unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

/* Open the store of t (after fork, say). */
static inline void mbt_open_store(struct mbt *t, unsigned flags)
{
    const char *error = NULL;
    if (store_open(t->config, flags, &t->store, &error) < 0)
        fail_msg("store_open: %s", error);
}

/* extra: more config lines (may be NULL); delay: expunge_cleanup_delay. */
static inline struct mbt *mbt_setup(const char *extra, int delay)
{
    struct mbt *t = calloc(1, sizeof(*t));
    struct buf text = BUF_INIT;
    const char *error = NULL;

    assert_non_null(t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/test-mailbox.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->configdir, sizeof(t->configdir), "%s/config", t->dir);
    snprintf(t->part1, sizeof(t->part1), "%s/p1", t->dir);
    snprintf(t->part2, sizeof(t->part2), "%s/p2", t->dir);
    buf_printf(&text,
               "configdirectory: %s\npartition-default: %s\npartition-other: %s\n"
               "expunge_cleanup_delay: %d\nadmins: admin\n%s",
               t->configdir, t->part1, t->part2, delay, extra != NULL ? extra : "");
    if (config_parse("test-mailbox.conf", buf_cstr(&text), &t->config, &error) < 0)
        fail_msg("config_parse: %s", error);
    buf_free(&text);
    mbt_open_store(t, STORE_OPEN_CREATE);
    return t;
}

static inline void mbt_teardown(struct mbt *t)
{
    store_close(&t->store);
    config_free(&t->config);
    mbt_rmtree(t->dir);
    free(t);
}

static inline void mbt_create(struct mbt *t, const char *name)
{
    const char *error = NULL;
    if (mailbox_create(t->store, name, NULL, &error) < 0)
        fail_msg("mailbox_create %s: %s", name, error);
}

static inline struct mailbox *mbt_open(struct mbt *t, const char *name, bool rw)
{
    struct mailbox *mb = NULL;
    const char *error = NULL;
    if (mailbox_open(t->store, name, rw ? MAILBOX_READWRITE : MAILBOX_READONLY, &mb, &error) < 0)
        fail_msg("mailbox_open %s: %s", name, error);
    return mb;
}

/* A small message whose body names n. */
static inline void mbt_message(struct buf *out, const char *subject, unsigned n)
{
    buf_reset(out);
    buf_printf(out,
               "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\n"
               "Subject: %s %u\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
               "Message-ID: <%u.%s@example.com>\r\n\r\nHello number %u.\r\n",
               subject, n, n, subject, n);
}

/* Append one message (data) and return its UID. */
static inline uint32_t mbt_append(struct mailbox *mb, const char *data, size_t len,
                                  uint32_t flags)
{
    struct mailbox_append_msg msg;
    uint32_t uidvalidity = 0, uid = 0;
    const char *error = NULL;

    memset(&msg, 0, sizeof(msg));
    msg.data = data;
    msg.len = len;
    msg.flags = flags;
    if (mailbox_append(mb, &msg, 1, NULL, 0, &uidvalidity, &uid, &error) < 0)
        fail_msg("mailbox_append to %s: %s", mailbox_name(mb), error);
    assert_true(uidvalidity != 0);
    return uid;
}

static inline uint32_t mbt_append_n(struct mailbox *mb, unsigned n, uint32_t flags)
{
    struct buf msg = BUF_INIT;
    uint32_t uid = 0;
    for (unsigned i = 0; i < n; i++) {
        mbt_message(&msg, "test", i);
        uid = mbt_append(mb, msg.data, msg.len, flags);
    }
    buf_free(&msg);
    return uid;
}

/* Read message uid whole into out. */
static inline void mbt_read_message(struct mailbox *mb, uint32_t uid, struct buf *out)
{
    const char *data, *error = NULL;
    size_t len;
    if (mailbox_message_map(mb, uid, &data, &len, &error) < 0)
        fail_msg("mailbox_message_map %u: %s", uid, error);
    buf_reset(out);
    buf_append(out, data, len);
    mailbox_message_unmap(data, len);
}

static inline void mbt_set_one(struct seqset *set, uint32_t low, uint32_t high)
{
    seqset_free(set);
    seqset_init(set);
    seqset_add_range(set, low, high);
}

/* Flags of uid as stored (owner's view). */
static inline uint32_t mbt_flags(struct mailbox *mb, uint32_t uid)
{
    struct mailbox_record rec;
    const char *error = NULL;
    int r = mailbox_record_by_uid(mb, uid, &rec, &error);
    if (r != 1)
        fail_msg("record %u: %d %s", uid, r, error != NULL ? error : "");
    return rec.system_flags;
}

static inline struct stat mbt_stat_message(struct mailbox *mb, uint32_t uid)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%u.", mailbox_path(mb), uid);
    if (stat(path, &st) < 0)
        fail_msg("stat %s failed", path);
    return st;
}

static inline struct quota mbt_quota(struct mbt *t, const char *root)
{
    struct quota q;
    const char *error = NULL;
    memset(&q, 0, sizeof(q));
    if (quota_get(t->store, NULL, root, &q, &error) != 1)
        fail_msg("quota_get %s: %s", root, error != NULL ? error : "none");
    return q;
}

static inline void mbt_set_quota(struct mbt *t, const char *root, int64_t kb, int64_t msgs)
{
    const char *error = NULL;
    if (quota_set_limits(t->store, NULL, root, kb, msgs, &error) < 0)
        fail_msg("quota_set_limits: %s", error);
}

#endif
