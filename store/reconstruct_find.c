/* reconstruct_find.c - reconstruct -f: mailbox directories the mailbox
 *                      list does not name where they lie.
 *
 * DESCRIPTION
 *   Every partition is walked at the depths where mailbox directories live
 *   (docs/store-format.md):
 *       <partition>/user/<local part>/<uniqueid>/
 *       <partition>/shared/<uniqueid>/
 *       <partition>/domain/<domain>/user/<local part>/<uniqueid>/
 *       <partition>/domain/<domain>/shared/<uniqueid>/
 *   and each directory named like a uniqueid (32 lowercase hex digits) is
 *   compared with the mailbox list (read once, sorted by uniqueid):
 *     - listed, and this is where the entry says it is: nothing to do;
 *     - listed elsewhere and the listed directory is missing: a crash in
 *       a rename's window (directory moved, list not yet changed); the
 *       directory is renamed back where the list expects it, and the
 *       list's name wins (reconstruct then rewrites roost.header);
 *     - listed elsewhere and the listed directory exists: a leftover copy
 *       (an interrupted move between partitions); reported, left alone;
 *     - not listed: an interrupted create or delete.  A directory whose
 *       index is marked deleted is reported and left alone; otherwise it
 *       is inserted into the list, named by its roost.header when that is
 *       readable, fits where the directory lies and is free, else
 *       "<owner's INBOX>.recovered-<uniqueid>" or "recovered-<uniqueid>"
 *       (in the directory's domain); its ACL is the header's copy, or the
 *       default a create would give.  A nameless directory without any
 *       message file is left alone.
 *   The insertion is one transaction that checks the name is still free,
 *   like mailbox_create()'s.
 */
#include "reconstruct.h"

#include "mailbox_private.h"

#include "acl.h"
#include "buf.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "mboxlist.h"
#include "mboxname.h"
#include "pool.h"
#include "quota_recount.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RF_RECOVERED "recovered-"

struct rf_listed {
    char *uniqueid;
    char *name;
    char *partition;
    uint32_t type;
};

struct rf_partition {
    char *name;
    char *path;
};

struct rf {
    struct store *store;
    const char *const *names;
    unsigned n;
    const struct reconstruct_options *opts;
    struct rf_listed *listed;
    size_t nlisted, listed_alloc;
    struct rf_partition *parts;
    size_t nparts;
    uint64_t fixed;
    unsigned errors;
};

static void rf_note(struct rf *rf, const char *mailbox, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rf_note(struct rf *rf, const char *mailbox, const char *fmt, ...)
{
    char text[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_info("reconstruct -f %s: %s", mailbox, text);
    if (rf->opts->note != NULL)
        rf->opts->note(mailbox, text, rf->opts->ctx);
}

static bool rf_in_scope(const struct rf *rf, const char *name)
{
    if (rf->n == 0)
        return true;
    for (unsigned i = 0; i < rf->n; i++) {
        if (strcmp(rf->names[i], name) == 0)
            return true;
        if ((rf->opts->flags & RECONSTRUCT_RECURSIVE) != 0 &&
            quota_recount_covers(rf->names[i], name))
            return true;
    }
    return false;
}

static bool rf_is_uniqueid(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return i == 32;
}

/* ------------------------------------------------------------------------
 * The list, by uniqueid
 */

static int rf_collect(const struct mboxlist_entry *e, void *vctx)
{
    struct rf *rf = vctx;

    if (rf->nlisted == rf->listed_alloc) {
        rf->listed_alloc = rf->listed_alloc == 0 ? 256 : rf->listed_alloc * 2;
        rf->listed = xreallocarray(rf->listed, rf->listed_alloc, sizeof(*rf->listed));
    }
    struct rf_listed *l = &rf->listed[rf->nlisted++];
    l->uniqueid = xstrdup(e->uniqueid);
    l->name = xstrdup(e->name);
    l->partition = xstrdup(e->partition);
    l->type = e->type;
    return 0;
}

static int rf_cmp_listed(const void *a, const void *b)
{
    return strcmp(((const struct rf_listed *)a)->uniqueid, ((const struct rf_listed *)b)->uniqueid);
}

static const struct rf_listed *rf_lookup(const struct rf *rf, const char *uniqueid)
{
    struct rf_listed key = { (char *)uniqueid, NULL, NULL, 0 };

    if (rf->nlisted == 0)
        return NULL;
    return bsearch(&key, rf->listed, rf->nlisted, sizeof(*rf->listed), rf_cmp_listed);
}

static void rf_partition_cb(const char *key, const char *value, void *vctx)
{
    struct rf *rf = vctx;
    const char *name = key + strlen("partition-");
    const char *path = store_partition_path(rf->store, name);

    (void)value;
    if (path == NULL)
        return;
    rf->parts = xreallocarray(rf->parts, rf->nparts + 1, sizeof(*rf->parts));
    rf->parts[rf->nparts].name = xstrdup(name);
    rf->parts[rf->nparts].path = xstrdup(path);
    rf->nparts++;
}

static void rf_free(struct rf *rf)
{
    for (size_t i = 0; i < rf->nlisted; i++) {
        free(rf->listed[i].uniqueid);
        free(rf->listed[i].name);
        free(rf->listed[i].partition);
    }
    free(rf->listed);
    for (size_t i = 0; i < rf->nparts; i++) {
        free(rf->parts[i].name);
        free(rf->parts[i].path);
    }
    free(rf->parts);
}

/* ------------------------------------------------------------------------
 * A directory the list names elsewhere
 */

static bool rf_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void rf_fsync_parent(const char *path)
{
    struct buf b = BUF_INIT;
    const char *slash = strrchr(path, '/');

    if (slash != NULL && slash != path) {
        buf_append(&b, path, (size_t)(slash - path));
        int fd = open(buf_cstr(&b), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
    }
    buf_free(&b);
}

static void rf_listed_elsewhere(struct rf *rf, const struct rf_listed *l, const char *dirpath,
                                const char *expected)
{
    const char *err = NULL;

    if (!rf_in_scope(rf, l->name))
        return;
    if (l->type != MBTYPE_EMAIL) {
        rf_note(rf, l->name, "directory %s belongs to a mailbox being created or renamed; "
                "left alone", dirpath);
        return;
    }
    if (rf_is_dir(expected)) {
        rf_note(rf, l->name, "%s is a leftover copy (the mailbox is %s); left alone", dirpath,
                expected);
        return;
    }
    struct buf parent = BUF_INIT;
    const char *slash = strrchr(expected, '/');
    buf_append(&parent, expected, (size_t)(slash - expected));
    int r = mb_mkdir_p(buf_cstr(&parent), &err);
    buf_free(&parent);
    if (r == 0 && rename(dirpath, expected) < 0) {
        r = -1;
        err = store_error_fmt("rename: %s", strerror(errno));
    }
    if (r < 0) {
        rf_note(rf, l->name, "found at %s, but cannot move it to %s: %s", dirpath, expected,
                err);
        rf->errors++;
        return;
    }
    rf_fsync_parent(expected);
    rf_fsync_parent(dirpath);
    rf_note(rf, l->name, "directory found at %s (an interrupted rename): moved back to %s",
            dirpath, expected);
    rf->fixed++;
}

/* ------------------------------------------------------------------------
 * A directory the list does not name
 */

struct rf_insert_ctx {
    struct store *store;
    const struct mboxlist_entry *entry;
    bool taken;
};

static int rf_insert_txn(struct kv_txn *txn, void *vctx, const char **error_r)
{
    struct rf_insert_ctx *ctx = vctx;
    struct pool *pool = pool_create("reconstruct", 1024);
    struct mboxlist_entry old;
    int r = mboxlist_lookup(ctx->store, txn, ctx->entry->name, pool, &old, error_r);

    pool_destroy(&pool);
    ctx->taken = r > 0;
    if (r != 0) {
        if (r > 0)
            *error_r = "the name is taken";
        return r > 0 ? -1 : r;
    }
    return mboxlist_put(ctx->store, txn, ctx->entry, error_r);
}

/* The ACL a create of name would give (no header copy to go by). */
static void rf_default_acl(struct store *store, const char *name, struct buf *acl_r)
{
    struct pool *pool = pool_create("reconstruct", 1024);
    struct buf cur = BUF_INIT, parent = BUF_INIT, owner = BUF_INIT;

    buf_reset(acl_r);
    if (mboxname_is_user_inbox(name) && mboxname_owner(name, &owner)) {
        char rights[32];
        acl_rights_format(ACL_OWNER_DEFAULT, rights, sizeof(rights));
        buf_printf(acl_r, "%s\t%s\t", buf_cstr(&owner), rights);
    } else {
        buf_append_str(&cur, name);
        while (mboxname_parent(buf_cstr(&cur), &parent)) {
            struct mboxlist_entry e;
            const char *err = NULL;
            if (mboxlist_lookup(store, NULL, buf_cstr(&parent), pool, &e, &err) > 0 &&
                e.type == MBTYPE_EMAIL) {
                buf_append_str(acl_r, e.acl != NULL ? e.acl : "");
                break;
            }
            buf_reset(&cur);
            buf_append(&cur, parent.data, parent.len);
        }
    }
    buf_free(&cur);
    buf_free(&parent);
    buf_free(&owner);
    pool_destroy(&pool);
}

/* Does name's directory on partition lie at dirpath? */
static bool rf_name_fits(struct rf *rf, const char *name, const char *partition,
                         const char *uniqueid, const char *dirpath)
{
    struct buf path = BUF_INIT;
    const char *err = NULL;
    bool ok = mboxname_check(name, &err) == 0 &&
              mailbox_dir_path(rf->store, name, partition, uniqueid, &path, &err) == 0 &&
              strcmp(buf_cstr(&path), dirpath) == 0;

    buf_free(&path);
    return ok;
}

/* "<owner's INBOX>.recovered-<uniqueid>" or "[domain!]recovered-<uniqueid>". */
static bool rf_fallback_name(const char *domain, const char *local, const char *uniqueid,
                             struct buf *name_r)
{
    const char *err = NULL;

    buf_reset(name_r);
    if (local != NULL) {
        struct buf userid = BUF_INIT;
        buf_append_str(&userid, local);
        if (domain != NULL)
            buf_printf(&userid, "@%s", domain);
        int r = mboxname_user_inbox(buf_cstr(&userid), name_r, &err);
        buf_free(&userid);
        if (r < 0)
            return false;
        buf_printf(name_r, ".%s%s", RF_RECOVERED, uniqueid);
    } else {
        if (domain != NULL)
            buf_printf(name_r, "%s!", domain);
        buf_printf(name_r, "%s%s", RF_RECOVERED, uniqueid);
    }
    return mboxname_check(buf_cstr(name_r), &err) == 0;
}

/* Does the directory hold a message file? */
static bool rf_has_messages(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    bool found = false;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        found = len >= 2 && de->d_name[len - 1] == '.' &&
                strspn(de->d_name, "0123456789") == len - 1;
    }
    closedir(d);
    return found;
}

/* Is the directory's index marked deleted (a delete that committed)? */
static bool rf_marked_deleted(int dirfd)
{
    unsigned char raw[INDEX_HEADER_SIZE];
    struct index_header h;
    const char *err = NULL;
    int fd = openat(dirfd, MB_INDEX_FILE, O_RDONLY | O_CLOEXEC);
    bool deleted = false;

    if (fd < 0)
        return false;
    if (mb_pread_all(fd, raw, sizeof(raw), 0) == 0 && mb_index_header_decode(raw, &h, &err) == 0)
        deleted = (h.flags & INDEX_F_DELETED) != 0;
    close(fd);
    return deleted;
}

static int rf_insert(struct rf *rf, const char *name, const char *partition,
                     const char *uniqueid, const char *acl, bool *taken_r, const char **error_r)
{
    struct mboxlist_entry e;
    struct rf_insert_ctx ctx = { rf->store, &e, false };

    memset(&e, 0, sizeof(e));
    e.name = name;
    e.partition = partition;
    e.uniqueid = uniqueid;
    e.type = MBTYPE_EMAIL;
    e.acl = acl;
    e.specialuse = "";
    e.created = (uint64_t)time(NULL);
    int r = kv_transaction(store_kv(rf->store), rf_insert_txn, &ctx, error_r);
    *taken_r = ctx.taken;
    return r;
}

static void rf_unlisted(struct rf *rf, const struct rf_partition *part, const char *dirpath,
                        const char *domain, const char *local, const char *uniqueid)
{
    struct mb_header h;
    struct buf name = BUF_INIT, acl = BUF_INIT;
    const char *err = NULL;
    bool have_header = false, taken = false;
    int dirfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    memset(&h, 0, sizeof(h));
    if (dirfd < 0)
        return;
    if (rf_marked_deleted(dirfd)) {
        rf_note(rf, uniqueid, "%s holds a deleted mailbox; left alone", dirpath);
        goto out;
    }
    have_header = mb_header_read(dirfd, &h, NULL, &err) == 0;
    if (!have_header && !rf_has_messages(dirfd)) {
        rf_note(rf, uniqueid, "%s has neither a readable roost.header nor messages; left alone",
                dirpath);
        goto out;
    }
    bool from_header = have_header && rf_name_fits(rf, h.name, part->name, uniqueid, dirpath);
    if (from_header)
        buf_append_str(&name, h.name);
    else if (!rf_fallback_name(domain, local, uniqueid, &name) ||
             !rf_name_fits(rf, buf_cstr(&name), part->name, uniqueid, dirpath)) {
        rf_note(rf, uniqueid, "%s: no usable name for it; left alone", dirpath);
        rf->errors++;
        goto out;
    }
    if (!rf_in_scope(rf, buf_cstr(&name)))
        goto out;
    if (have_header)
        buf_append_str(&acl, h.acl);
    else
        rf_default_acl(rf->store, buf_cstr(&name), &acl);
    int r = rf_insert(rf, buf_cstr(&name), part->name, uniqueid, buf_cstr(&acl), &taken, &err);
    if (r < 0 && taken && from_header) {
        /* the name went to another mailbox meanwhile: keep this one apart */
        rf_note(rf, buf_cstr(&name), "%s also claims this name", dirpath);
        if (rf_fallback_name(domain, local, uniqueid, &name) &&
            rf_name_fits(rf, buf_cstr(&name), part->name, uniqueid, dirpath) &&
            rf_in_scope(rf, buf_cstr(&name)))
            r = rf_insert(rf, buf_cstr(&name), part->name, uniqueid, buf_cstr(&acl), &taken,
                          &err);
    }
    if (r < 0) {
        rf_note(rf, buf_cstr(&name), "unlisted mailbox at %s not inserted: %s", dirpath,
                err != NULL ? err : "failed");
        rf->errors++;
        goto out;
    }
    rf_note(rf, buf_cstr(&name), "unlisted mailbox found at %s: inserted into the mailbox list",
            dirpath);
    rf->fixed++;
out:
    mb_header_free(&h);
    buf_free(&name);
    buf_free(&acl);
    close(dirfd);
}

/* ------------------------------------------------------------------------
 * The walk
 */

static void rf_candidate(struct rf *rf, const struct rf_partition *part, const char *dirpath,
                         const char *domain, const char *local, const char *uniqueid)
{
    const struct rf_listed *l = rf_lookup(rf, uniqueid);

    if (l == NULL) {
        rf_unlisted(rf, part, dirpath, domain, local, uniqueid);
        return;
    }
    struct buf expected = BUF_INIT;
    const char *err = NULL;
    if (mailbox_dir_path(rf->store, l->name, l->partition, l->uniqueid, &expected, &err) < 0) {
        if (rf_in_scope(rf, l->name)) {
            rf_note(rf, l->name, "%s", err);
            rf->errors++;
        }
    } else if (strcmp(buf_cstr(&expected), dirpath) != 0) {
        rf_listed_elsewhere(rf, l, dirpath, buf_cstr(&expected));
    }
    buf_free(&expected);
}

/* Call fn for every subdirectory of path (not starting with '.'). */
typedef void rf_dir_fn(struct rf *rf, const char *path, const char *entry, void *ctx);

static void rf_each_dir(struct rf *rf, const char *path, rf_dir_fn *fn, void *ctx)
{
    DIR *d = opendir(path);
    struct buf sub = BUF_INIT;

    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        buf_reset(&sub);
        buf_printf(&sub, "%s/%s", path, de->d_name);
        if (rf_is_dir(buf_cstr(&sub)))
            fn(rf, buf_cstr(&sub), de->d_name, ctx);
    }
    closedir(d);
    buf_free(&sub);
}

struct rf_where {
    const struct rf_partition *part;
    const char *domain;
    const char *local;
};

static void rf_mailbox_dir(struct rf *rf, const char *path, const char *entry, void *ctx)
{
    const struct rf_where *w = ctx;

    if (rf_is_uniqueid(entry))
        rf_candidate(rf, w->part, path, w->domain, w->local, entry);
}

static void rf_user_dir(struct rf *rf, const char *path, const char *entry, void *ctx)
{
    const struct rf_where *w = ctx;
    struct rf_where sub = { w->part, w->domain, entry };

    rf_each_dir(rf, path, rf_mailbox_dir, &sub);
}

/* <base>/user/<local>/<uniqueid> and <base>/shared/<uniqueid> */
static void rf_scan_base(struct rf *rf, const struct rf_partition *part, const char *base,
                         const char *domain)
{
    struct buf p = BUF_INIT;
    struct rf_where w = { part, domain, NULL };

    buf_printf(&p, "%s/user", base);
    rf_each_dir(rf, buf_cstr(&p), rf_user_dir, &w);
    buf_reset(&p);
    buf_printf(&p, "%s/shared", base);
    rf_each_dir(rf, buf_cstr(&p), rf_mailbox_dir, &w);
    buf_free(&p);
}

static void rf_domain_dir(struct rf *rf, const char *path, const char *entry, void *ctx)
{
    rf_scan_base(rf, ctx, path, entry);
}

int reconstruct_find(struct store *store, const char *const *names, unsigned n,
                     const struct reconstruct_options *opts, uint64_t *fixed_r,
                     const char **error_r)
{
    static const struct reconstruct_options defaults;
    struct rf rf;
    const char *err = NULL;
    int r = 0;

    memset(&rf, 0, sizeof(rf));
    rf.store = store;
    rf.names = names;
    rf.n = n;
    rf.opts = opts != NULL ? opts : &defaults;
    if (mboxlist_foreach(store, NULL, NULL, rf_collect, &rf, &err) < 0) {
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s",
                    err != NULL ? err : "walk failed");
        goto out;
    }
    if (rf.nlisted > 0)
        qsort(rf.listed, rf.nlisted, sizeof(*rf.listed), rf_cmp_listed);
    config_iter_prefix(store_config(store), "partition-", rf_partition_cb, &rf);
    for (size_t i = 0; i < rf.nparts; i++) {
        struct buf dom = BUF_INIT;
        rf_scan_base(&rf, &rf.parts[i], rf.parts[i].path, NULL);
        buf_printf(&dom, "%s/domain", rf.parts[i].path);
        rf_each_dir(&rf, buf_cstr(&dom), rf_domain_dir, &rf.parts[i]);
        buf_free(&dom);
    }
    if (rf.errors > 0)
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "%u mailbox director%s could not be fixed",
                    rf.errors, rf.errors == 1 ? "y" : "ies");
out:
    if (fixed_r != NULL)
        *fixed_r = rf.fixed;
    rf_free(&rf);
    return r;
}
