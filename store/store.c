/* store.c - the store handle: the kv environment, the server-wide
 *           databases, the partitions and the admins.
 *
 * SYNOPSIS
 *   store_open(config, STORE_OPEN_CREATE, &store, &error);   // mkimap
 *   store_open(config, 0, &store, &error);                   // daemons
 *   store_db(store, "mailboxes") ... store_close(&store);
 *
 * DESCRIPTION
 *   One struct store per process, opened after fork().  It opens the
 *   Berkeley DB environment (lib/kv.h) in the config's configdirectory and
 *   every database listed in store.h, and reads the partitions
 *   ("partition-NAME: /dir"), "defaultpartition" and "admins" once.
 *   Recovery of the environment is master's job: store_open() never asks
 *   for it.  With STORE_OPEN_CREATE the config directory, the environment
 *   and the partition directories are created when missing.
 *
 *   It also holds the small helpers the other store modules share: running
 *   a body in the caller's transaction or a new one, deleting the records
 *   under a key prefix, and a static buffer for formatted error messages.
 *
 * DIAGNOSTICS
 *   store_open() fails with a message naming the config key or directory
 *   at fault.
 */
#include "store.h"

#include "buf.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "str.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STORE_PARTITION_NAME_MAX 64
#define STORE_DIR_MODE 0750

/* The databases of store.h, by short name and file. */
static const struct {
    const char *name;
    const char *file;
} store_databases[] = {
    { "mailboxes", "mailboxes.db" },
    { "quota", "quota.db" },
    { "seen", "seen.db" },
    { "subs", "subs.db" },
    { "deliver", "deliver.db" },
    { "annotations", "annotations.db" },
};
#define STORE_NDBS (sizeof(store_databases) / sizeof(store_databases[0]))

struct store_partition {
    char *name;
    char *path;
};

struct store {
    const struct config *config;
    struct kv_env *env;
    struct kv_db *dbs[STORE_NDBS];
    struct store_partition *partitions;
    size_t npartitions;
    char *default_partition;
    char **admins;
    size_t nadmins;
};

static char store_error_buf[1024];

const char *store_error_fmt(const char *fmt, ...)
{
    char tmp[sizeof(store_error_buf)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(store_error_buf, tmp, sizeof(store_error_buf));
    return store_error_buf;
}

/* mkdir -p path (absolute); existing directories are fine. */
static int store_mkdirs(const char *path, const char **error_r)
{
    struct buf b = BUF_INIT;
    const char *p = path;
    int ret = 0;

    while (ret == 0) {
        const char *slash = strchr(p + 1, '/');
        size_t len = slash == NULL ? strlen(path) : (size_t)(slash - path);

        buf_reset(&b);
        buf_append(&b, path, len);
        if (b.len > 0 && mkdir(buf_cstr(&b), STORE_DIR_MODE) < 0 && errno != EEXIST) {
            *error_r = store_error_fmt("store: mkdir %s: %s", buf_cstr(&b), strerror(errno));
            ret = -1;
        }
        if (slash == NULL)
            break;
        p = slash;
    }
    if (ret == 0) {
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
            *error_r = store_error_fmt("store: %s is not a directory", path);
            ret = -1;
        }
    }
    buf_free(&b);
    return ret;
}

static bool store_partition_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > STORE_PARTITION_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

struct store_partition_ctx {
    struct store *store;
    const char *error;
};

static void store_partition_cb(const char *key, const char *value, void *ctx)
{
    struct store_partition_ctx *pc = ctx;
    struct store *store = pc->store;
    const char *name = key + strlen("partition-");

    if (pc->error != NULL)
        return;
    if (!store_partition_name_valid(name)) {
        pc->error = store_error_fmt("store: config key %s: bad partition name", key);
        return;
    }
    if (value == NULL || value[0] != '/') {
        pc->error = store_error_fmt("store: config key %s: the partition directory must be "
                                    "an absolute path", key);
        return;
    }
    for (size_t i = 0; i < store->npartitions; i++) {
        if (strcmp(store->partitions[i].name, name) == 0) {
            pc->error = store_error_fmt("store: partition %s is configured twice", name);
            return;
        }
    }
    store->partitions = xreallocarray(store->partitions, store->npartitions + 1,
                                      sizeof(*store->partitions));
    store->partitions[store->npartitions].name = xstrdup(name);
    store->partitions[store->npartitions].path = xstrdup(value);
    store->npartitions++;
}

static void store_read_admins(struct store *store)
{
    const char *p = config_str(store->config, "admins");

    if (p == NULL)
        return;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        store->admins = xreallocarray(store->admins, store->nadmins + 1,
                                      sizeof(*store->admins));
        store->admins[store->nadmins++] = xstrndup(p, len);
        p += len;
    }
}

static int store_read_config(struct store *store, const char **error_r)
{
    struct store_partition_ctx pc = { store, NULL };
    const char *def;

    config_iter_prefix(store->config, "partition-", store_partition_cb, &pc);
    if (pc.error != NULL) {
        *error_r = pc.error;
        return -1;
    }
    def = config_str(store->config, "defaultpartition");
    if (def == NULL || def[0] == '\0') {
        *error_r = "store: defaultpartition is empty";
        return -1;
    }
    if (store_partition_path(store, def) == NULL) {
        *error_r = store_error_fmt("store: defaultpartition is %s but partition-%s is not set",
                                   def, def);
        return -1;
    }
    store->default_partition = xstrdup(def);
    store_read_admins(store);
    return 0;
}

int store_open(const struct config *config, unsigned flags, struct store **store_r,
               const char **error_r)
{
    struct store *store = xcalloc(1, sizeof(*store));
    const char *dir = config_str(config, "configdirectory");

    *store_r = NULL;
    store->config = config;
    if (dir == NULL || dir[0] != '/') {
        *error_r = "store: configdirectory must be an absolute path";
        goto fail;
    }
    if (store_read_config(store, error_r) < 0)
        goto fail;
    if ((flags & STORE_OPEN_CREATE) != 0) {
        if (store_mkdirs(dir, error_r) < 0)
            goto fail;
        for (size_t i = 0; i < store->npartitions; i++) {
            if (store_mkdirs(store->partitions[i].path, error_r) < 0)
                goto fail;
        }
    }
    if (kv_env_open(dir, (flags & STORE_OPEN_CREATE) != 0 ? KV_ENV_CREATE : 0, &store->env,
                    error_r) < 0) {
        *error_r = store_error_fmt("store: %s", *error_r);
        goto fail;
    }
    for (size_t i = 0; i < STORE_NDBS; i++) {
        if (kv_db_open(store->env, store_databases[i].file, &store->dbs[i], error_r) < 0) {
            *error_r = store_error_fmt("store: %s", *error_r);
            goto fail;
        }
    }
    *store_r = store;
    return 0;
fail:
    store_close(&store);
    return -1;
}

void store_close(struct store **storep)
{
    struct store *store = *storep;

    if (store == NULL)
        return;
    *storep = NULL;
    for (size_t i = 0; i < STORE_NDBS; i++)
        kv_db_close(&store->dbs[i]);
    kv_env_close(&store->env);
    for (size_t i = 0; i < store->npartitions; i++) {
        free(store->partitions[i].name);
        free(store->partitions[i].path);
    }
    free(store->partitions);
    for (size_t i = 0; i < store->nadmins; i++)
        free(store->admins[i]);
    free(store->admins);
    free(store->default_partition);
    free(store);
}

const struct config *store_config(const struct store *store)
{
    return store->config;
}

struct kv_env *store_kv(const struct store *store)
{
    return store->env;
}

struct kv_db *store_db(const struct store *store, const char *name)
{
    for (size_t i = 0; i < STORE_NDBS; i++) {
        if (strcmp(store_databases[i].name, name) == 0)
            return store->dbs[i];
    }
    log_panic("store: no database named \"%s\"", name);
}

const char *store_partition_path(const struct store *store, const char *partition)
{
    if (partition == NULL)
        return NULL;
    for (size_t i = 0; i < store->npartitions; i++) {
        if (strcmp(store->partitions[i].name, partition) == 0)
            return store->partitions[i].path;
    }
    return NULL;
}

const char *store_default_partition(const struct store *store)
{
    return store->default_partition;
}

bool store_is_admin(const struct store *store, const char *userid)
{
    if (userid == NULL || userid[0] == '\0')
        return false;
    for (size_t i = 0; i < store->nadmins; i++) {
        if (strcmp(store->admins[i], userid) == 0)
            return true;
    }
    return false;
}

int store_txn_run(struct store *store, struct kv_txn *txn, store_txn_fn *fn, void *ctx,
                  const char **error_r)
{
    if (txn != NULL)
        return fn(txn, ctx, error_r);
    return kv_transaction(store->env, fn, ctx, error_r);
}

/* ---- deleting by prefix ---- */

struct store_delete_ctx {
    struct kv_db *db;
    const void *prefix;
    size_t prefixlen;
    store_match_fn *match;
    void *match_ctx;
    struct buf keys;      /* (size_t length, bytes) of each key to delete */
    uint64_t count;
};

static int store_delete_collect(const void *key, size_t keylen, const void *val, size_t vallen,
                                void *ctx)
{
    struct store_delete_ctx *dc = ctx;

    if (dc->match != NULL && !dc->match(key, keylen, val, vallen, dc->match_ctx))
        return 0;
    buf_append(&dc->keys, &keylen, sizeof(keylen));
    buf_append(&dc->keys, key, keylen);
    return 0;
}

static int store_delete_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct store_delete_ctx *dc = ctx;
    int ret;

    buf_reset(&dc->keys);
    dc->count = 0;
    ret = kv_foreach_prefix(dc->db, txn, dc->prefix, dc->prefixlen, store_delete_collect, dc,
                            error_r);
    if (ret < 0)
        return ret;
    for (size_t pos = 0; pos < dc->keys.len;) {
        size_t keylen;
        memcpy(&keylen, dc->keys.data + pos, sizeof(keylen));
        pos += sizeof(keylen);
        ret = kv_delete(dc->db, txn, dc->keys.data + pos, keylen, error_r);
        if (ret < 0)
            return ret;
        dc->count += (uint64_t)ret;
        pos += keylen;
    }
    return 0;
}

int store_delete_matching(struct store *store, struct kv_db *db, struct kv_txn *txn,
                          const void *prefix, size_t prefixlen, store_match_fn *match,
                          void *ctx, uint64_t *count_r, const char **error_r)
{
    struct store_delete_ctx dc = { db, prefix, prefixlen, match, ctx, BUF_INIT, 0 };
    int ret = store_txn_run(store, txn, store_delete_body, &dc, error_r);

    buf_free(&dc.keys);
    if (count_r != NULL)
        *count_r = ret == 0 ? dc.count : 0;
    return ret;
}

/* ---- moving records to new keys ---- */

struct store_rekey_ctx {
    struct kv_db *db;
    const void *prefix;
    size_t prefixlen;
    store_rekey_fn *rekey;
    void *rekey_ctx;
    /* (size_t keylen, key, size_t vallen, value, size_t newlen, newkey) each */
    struct buf records;
    struct buf newkey;
    const char *error;    /* set when rekey failed */
};

static void store_rekey_append(struct buf *b, const void *data, size_t len)
{
    buf_append(b, &len, sizeof(len));
    buf_append(b, data, len);
}

static const char *store_rekey_next(const struct buf *b, size_t *pos, size_t *len_r)
{
    memcpy(len_r, b->data + *pos, sizeof(*len_r));
    const char *data = b->data + *pos + sizeof(*len_r);
    *pos += sizeof(*len_r) + *len_r;
    return data;
}

static int store_rekey_collect(const void *key, size_t keylen, const void *val, size_t vallen,
                               void *ctx)
{
    struct store_rekey_ctx *rc = ctx;

    buf_reset(&rc->newkey);
    int r = rc->rekey(key, keylen, &rc->newkey, rc->rekey_ctx, &rc->error);
    if (r < 0)
        return 1;   /* stop; the body reports rc->error */
    if (r == 0)
        return 0;
    if (rc->newkey.len == 0 || rc->newkey.len > KV_KEY_MAX) {
        rc->error = store_error_fmt("%s: renamed key too long", kv_db_name(rc->db));
        return 1;
    }
    store_rekey_append(&rc->records, key, keylen);
    store_rekey_append(&rc->records, val, vallen);
    store_rekey_append(&rc->records, rc->newkey.data, rc->newkey.len);
    return 0;
}

static int store_rekey_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct store_rekey_ctx *rc = ctx;
    size_t keylen, vallen, newlen;
    int ret;

    buf_reset(&rc->records);
    rc->error = NULL;
    ret = kv_foreach_prefix(rc->db, txn, rc->prefix, rc->prefixlen, store_rekey_collect, rc,
                            error_r);
    if (ret < 0)
        return ret;
    if (rc->error != NULL) {
        *error_r = rc->error;
        return -1;
    }
    for (size_t pos = 0; pos < rc->records.len;) {
        const char *key = store_rekey_next(&rc->records, &pos, &keylen);
        store_rekey_next(&rc->records, &pos, &vallen);
        store_rekey_next(&rc->records, &pos, &newlen);
        if ((ret = kv_delete(rc->db, txn, key, keylen, error_r)) < 0)
            return ret;
    }
    for (size_t pos = 0; pos < rc->records.len;) {
        store_rekey_next(&rc->records, &pos, &keylen);
        const char *val = store_rekey_next(&rc->records, &pos, &vallen);
        const char *newkey = store_rekey_next(&rc->records, &pos, &newlen);
        if ((ret = kv_put(rc->db, txn, newkey, newlen, val, vallen, error_r)) < 0)
            return ret;
    }
    return 0;
}

int store_rekey_matching(struct store *store, struct kv_db *db, struct kv_txn *txn,
                         const void *prefix, size_t prefixlen, store_rekey_fn *rekey, void *ctx,
                         const char **error_r)
{
    struct store_rekey_ctx rc = { db, prefix, prefixlen, rekey, ctx, BUF_INIT, BUF_INIT, NULL };
    int ret = store_txn_run(store, txn, store_rekey_body, &rc, error_r);

    buf_free(&rc.records);
    buf_free(&rc.newkey);
    return ret;
}
