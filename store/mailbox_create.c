/* mailbox_create.c - creating and deleting mailboxes and whole users.
 *
 * Create: the directory and its three files are written and synced first
 * (under a fresh uniqueid, so no one else can be using that directory),
 * then one transaction checks the name is still free and adds the mailbox
 * list entry.  A crash in between leaves an unreferenced directory, never
 * a list entry without files.
 *
 * Delete: under the mailbox's exclusive lock, one transaction removes the
 * list entry, every user's seen state and the annotations of the mailbox
 * and takes its usage off its quota root; then the index is marked deleted
 * (open handles elsewhere get STORE_ERR_NOTFOUND at their next lock) and
 * the directory removed.  A crash after the transaction leaves an
 * unreferenced directory. */
#include "mailbox_private.h"

#include "acl.h"
#include "annotate.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "mboxlist.h"
#include "mboxname.h"
#include "pool.h"
#include "quota.h"
#include "seen.h"
#include "store.h"
#include "str.h"
#include "subs.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The nearest existing ancestor's entry (1) or none (0). */
static int mb_find_ancestor(struct store *store, const char *name, struct pool *pool,
                            struct mboxlist_entry *entry_r, const char **error_r)
{
    struct buf cur = BUF_INIT, parent = BUF_INIT;
    int r = 0;

    buf_append_str(&cur, name);
    while (mboxname_parent(buf_cstr(&cur), &parent)) {
        const char *err = NULL;
        r = mboxlist_lookup(store, NULL, buf_cstr(&parent), pool, entry_r, &err);
        if (r < 0) {
            r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s",
                        err != NULL ? err : "lookup failed");
            break;
        }
        if (r > 0 && entry_r->type == MBTYPE_EMAIL)
            break;
        r = 0;
        buf_reset(&cur);
        buf_append(&cur, parent.data, parent.len);
    }
    buf_free(&cur);
    buf_free(&parent);
    return r;
}

struct mb_create_ctx {
    struct store *store;
    const struct mboxlist_entry *entry;
    bool exists;
};

static int mb_create_txn_fn(struct kv_txn *txn, void *vctx, const char **error_r)
{
    struct mb_create_ctx *ctx = vctx;
    struct pool *pool = pool_create("create", 1024);
    struct mboxlist_entry old;

    ctx->exists = false;
    int r = mboxlist_lookup(ctx->store, txn, ctx->entry->name, pool, &old, error_r);
    pool_destroy(&pool);
    if (r < 0)
        return r;
    if (r > 0) {
        ctx->exists = true;
        *error_r = "mailbox exists";
        return -1;
    }
    return mboxlist_put(ctx->store, txn, ctx->entry, error_r);
}

int mailbox_create(struct store *store, const char *name,
                   const struct mailbox_create_options *opts, const char **error_r)
{
    static const struct mailbox_create_options defaults;
    struct pool *pool = pool_create("mailbox_create", 1024);
    struct mboxlist_entry entry, anc;
    struct buf path = BUF_INIT, acl = BUF_INIT, owner = BUF_INIT, root = BUF_INIT;
    char uniqueid[33];
    const char *err = NULL;
    int dirfd = -1;
    bool made_dir = false;
    int r;

    if (opts == NULL)
        opts = &defaults;
    if ((r = mboxname_check(name, &err)) < 0) {
        r = mb_fail(error_r, STORE_ERR_BADNAME, "%s", err != NULL ? err : "bad name");
        goto out;
    }
    r = mboxlist_lookup(store, NULL, name, pool, &entry, &err);
    if (r < 0) {
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
        goto out;
    }
    if (r > 0) {
        r = mb_fail(error_r, STORE_ERR_EXISTS, "%s: mailbox exists", name);
        goto out;
    }
    if ((r = mb_find_ancestor(store, name, pool, &anc, error_r)) < 0)
        goto out;
    bool have_anc = r > 0;

    /* partition, ACL, identifiers */
    const char *partition = opts->partition;
    if (partition == NULL)
        partition = have_anc ? anc.partition : store_default_partition(store);
    if (store_partition_path(store, partition) == NULL) {
        r = mb_fail(error_r, STORE_ERR_NOTFOUND, "no partition \"%.64s\"", partition);
        goto out;
    }
    if (opts->acl != NULL) {
        buf_append_str(&acl, opts->acl);
    } else if (mboxname_is_user_inbox(name) && mboxname_owner(name, &owner)) {
        char rights[32];
        acl_rights_format(ACL_OWNER_DEFAULT, rights, sizeof(rights));
        buf_printf(&acl, "%s\t%s\t", buf_cstr(&owner), rights);
    } else if (have_anc) {
        buf_append_str(&acl, anc.acl);
    }
    if (opts->uniqueid != NULL) {
        if (str_copy(uniqueid, sizeof(uniqueid), opts->uniqueid) >= sizeof(uniqueid)) {
            r = mb_fail(error_r, STORE_ERR_BADNAME, "uniqueid too long");
            goto out;
        }
    } else {
        mboxlist_new_uniqueid(uniqueid);
    }
    uint32_t uidvalidity = opts->uidvalidity != 0 ? opts->uidvalidity : mb_new_uidvalidity(store);
    if ((r = mb_quota_root(store, name, &root, error_r)) < 0)
        goto out;

    /* files first */
    if ((r = mailbox_dir_path(store, name, partition, uniqueid, &path, error_r)) < 0)
        goto out;
    {
        char *slash = strrchr(path.data, '/');
        *slash = '\0';
        r = mb_mkdir_p(path.data, error_r);
        *slash = '/';
        if (r < 0)
            goto out;
    }
    if (mkdir(buf_cstr(&path), 0750) < 0) {
        r = mb_fail_errno(error_r, errno == EEXIST ? STORE_ERR_EXISTS : STORE_ERR_INTERNAL,
                          "mkdir %s", buf_cstr(&path));
        goto out;
    }
    made_dir = true;
    dirfd = open(buf_cstr(&path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "open %s", buf_cstr(&path));
        goto out;
    }
    struct mb_header mh;
    memset(&mh, 0, sizeof(mh));
    mh.uidvalidity = uidvalidity;
    mh.uniqueid = uniqueid;
    mh.name = (char *)name;
    mh.acl = acl.data != NULL ? acl.data : (char *)"";
    mh.quotaroot = root.data != NULL ? root.data : (char *)"";
    struct index_header ih;
    memset(&ih, 0, sizeof(ih));
    ih.generation = 1;
    ih.uidvalidity = uidvalidity;
    ih.uidnext = 1;
    ih.highestmodseq = 1;
    ih.cache_generation = 1;
    ih.cache_used = CACHE_HEADER_SIZE;
    if ((r = mb_cache_create(dirfd, 1, NULL, error_r)) < 0 ||
        (r = mb_index_create_file(dirfd, MB_INDEX_FILE, &ih, NULL, 0, NULL, error_r)) < 0 ||
        (r = mb_header_write(dirfd, &mh, error_r)) < 0)
        goto out;
    {
        /* the mailbox directory's own entry in its parent */
        char *slash = strrchr(path.data, '/');
        *slash = '\0';
        int pfd = open(path.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *slash = '/';
        if (pfd >= 0) {
            (void)fsync(pfd);
            close(pfd);
        }
    }

    /* then the list */
    struct mboxlist_entry ne;
    memset(&ne, 0, sizeof(ne));
    ne.name = name;
    ne.partition = partition;
    ne.uniqueid = uniqueid;
    ne.type = MBTYPE_EMAIL;
    ne.acl = buf_cstr(&acl);
    ne.specialuse = opts->specialuse != NULL ? opts->specialuse : "";
    ne.created = (uint64_t)time(NULL);
    struct mb_create_ctx ctx = { store, &ne, false };
    if (kv_transaction(store_kv(store), mb_create_txn_fn, &ctx, &err) < 0) {
        r = ctx.exists ? mb_fail(error_r, STORE_ERR_EXISTS, "%s: mailbox exists", name)
                       : mb_fail(error_r, STORE_ERR_INTERNAL, "%s: mailbox list: %s", name,
                                 err != NULL ? err : "failed");
        goto out;
    }
    made_dir = false;
    r = 0;
out:
    if (dirfd >= 0)
        close(dirfd);
    if (made_dir) {
        const char *err2 = NULL;
        (void)mb_rmtree(buf_cstr(&path), &err2);
    }
    buf_free(&path);
    buf_free(&acl);
    buf_free(&owner);
    buf_free(&root);
    pool_destroy(&pool);
    return r;
}

/* ------------------------------------------------------------------------
 * Delete
 */

struct mb_delete_ctx {
    struct store *store;
    const char *name;
    const char *uniqueid;
    const char *root;          /* NULL: no usage change */
    int64_t bytes, messages;
    bool missing;
};

static int mb_delete_txn_fn(struct kv_txn *txn, void *vctx, const char **error_r)
{
    struct mb_delete_ctx *ctx = vctx;
    int r;

    ctx->missing = false;
    r = mboxlist_delete(ctx->store, txn, ctx->name, error_r);
    if (r < 0)
        return r;
    if (r == 0) {
        ctx->missing = true;
        *error_r = "no such mailbox";
        return -1;
    }
    if ((r = seen_delete_mailbox(ctx->store, txn, ctx->uniqueid, error_r)) < 0)
        return r;
    if ((r = annotate_delete_mailbox(ctx->store, txn, ctx->uniqueid, error_r)) < 0)
        return r;
    if (ctx->root != NULL && (ctx->bytes != 0 || ctx->messages != 0) &&
        (r = quota_add_usage(ctx->store, txn, ctx->root, -ctx->bytes, -ctx->messages,
                             error_r)) < 0)
        return r;
    return 0;
}

int mailbox_delete(struct store *store, const char *name, const char **error_r)
{
    struct pool *pool = pool_create("mailbox_delete", 1024);
    struct mboxlist_entry entry;
    struct mailbox *mb = NULL;
    struct buf root = BUF_INIT, path = BUF_INIT;
    const char *err = NULL;
    bool locked = false;
    int r;

    r = mboxlist_lookup(store, NULL, name, pool, &entry, &err);
    if (r < 0) {
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
        goto out;
    }
    if (r == 0) {
        r = mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: no such mailbox", name);
        goto out;
    }
    if ((r = mailbox_dir_path(store, name, entry.partition, entry.uniqueid, &path, error_r)) < 0 &&
        r != STORE_ERR_NOTFOUND)
        goto out;
    /* a damaged or half-gone mailbox can still be deleted */
    r = mb_open_entry(store, name, entry.partition, entry.uniqueid, entry.acl, entry.specialuse,
                      MAILBOX_READWRITE, &mb, &err);
    if (r == 0) {
        if (mb_lock(mb, true, &err) == 0)
            locked = true;
        else
            log_warning("mailbox %s: deleting without its usage: %s", name, err);
    } else {
        log_warning("mailbox %s: deleting without its usage: %s", name, err);
    }
    if ((r = mb_quota_root(store, name, &root, error_r)) < 0)
        goto out;
    struct mb_delete_ctx ctx = {
        .store = store, .name = name, .uniqueid = entry.uniqueid,
        .root = r > 0 && locked ? buf_cstr(&root) : NULL,
        .bytes = locked ? (int64_t)mb->hdr.quota_bytes : 0,
        .messages = locked ? (int64_t)mb->hdr.exists : 0,
    };
    if (kv_transaction(store_kv(store), mb_delete_txn_fn, &ctx, &err) < 0) {
        r = ctx.missing ? mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: no such mailbox", name)
                        : mb_fail(error_r, STORE_ERR_INTERNAL, "%s: %s", name,
                                  err != NULL ? err : "delete failed");
        goto out;
    }
    if (locked) {
        if (mb_mark_deleted(mb, &err) < 0)
            log_warning("mailbox %s: %s", name, err);
        mb->deleted = true;
    }
    r = 0;
    if (path.len > 0 && mb_rmtree(buf_cstr(&path), &err) < 0)
        log_warning("mailbox %s: files left behind: %s", name, err);
out:
    if (mb != NULL) {
        mb_unlock(mb);
        mailbox_close(&mb);
    }
    buf_free(&root);
    buf_free(&path);
    pool_destroy(&pool);
    return r;
}

/* ------------------------------------------------------------------------
 * Delete a user
 */

struct mb_names {
    char **v;
    size_t n, alloc;
    const char *inbox;
    size_t inbox_len;
};

static void mb_names_add(struct mb_names *names, const char *s)
{
    if (names->n == names->alloc) {
        names->alloc = names->alloc == 0 ? 16 : names->alloc * 2;
        names->v = xreallocarray(names->v, names->alloc, sizeof(char *));
    }
    names->v[names->n++] = xstrdup(s);
}

static void mb_names_free(struct mb_names *names)
{
    for (size_t i = 0; i < names->n; i++)
        free(names->v[i]);
    free(names->v);
    names->v = NULL;
    names->n = names->alloc = 0;
}

/* Is name the inbox or below it? */
static bool mb_under(const char *name, const char *top, size_t toplen)
{
    return strncmp(name, top, toplen) == 0 && (name[toplen] == '\0' || name[toplen] == '.');
}

static int mb_collect_mailbox(const struct mboxlist_entry *entry, void *vctx)
{
    struct mb_names *names = vctx;
    if (mb_under(entry->name, names->inbox, names->inbox_len))
        mb_names_add(names, entry->name);
    return 0;
}

static int mb_collect_root(const char *root, const struct quota *q, void *vctx)
{
    struct mb_names *names = vctx;
    (void)q;
    if (mb_under(root, names->inbox, names->inbox_len))
        mb_names_add(names, root);
    return 0;
}

struct mb_deluser_ctx {
    struct store *store;
    const char *userid;
    const char *inbox;
};

static int mb_deluser_txn_fn(struct kv_txn *txn, void *vctx, const char **error_r)
{
    struct mb_deluser_ctx *ctx = vctx;
    struct mb_names roots = { NULL, 0, 0, ctx->inbox, strlen(ctx->inbox) };
    int r;

    if ((r = seen_delete_user(ctx->store, txn, ctx->userid, error_r)) < 0)
        return r;
    if ((r = subs_delete_user(ctx->store, txn, ctx->userid, error_r)) < 0)
        return r;
    /* private values on other users' mailboxes and on the server (those
     * on the user's own mailboxes went with the mailboxes) */
    if ((r = annotate_delete_user(ctx->store, txn, ctx->userid, error_r)) < 0)
        return r;
    r = quota_foreach(ctx->store, txn, ctx->inbox, mb_collect_root, &roots, error_r);
    for (size_t i = 0; r >= 0 && i < roots.n; i++)
        r = quota_delete(ctx->store, txn, roots.v[i], error_r);
    mb_names_free(&roots);
    return r < 0 ? r : 0;
}

struct mb_partition_list {
    struct buf *dirs;
    const char *domain;
    size_t domain_len;
    const char *local;
    size_t local_len;
};

static void mb_userdir_cb(const char *key, const char *value, void *vctx)
{
    struct mb_partition_list *pl = vctx;
    (void)key;
    struct buf *b = pl->dirs;
    buf_append_str(b, value);
    if (pl->domain_len > 0) {
        buf_append_str(b, "/domain/");
        buf_append(b, pl->domain, pl->domain_len);
    }
    buf_append_str(b, "/user/");
    buf_append(b, pl->local, pl->local_len);
    buf_append_char(b, '\0');
}

int mailbox_delete_user(struct store *store, const char *userid, const char **error_r)
{
    struct buf inbox = BUF_INIT, dirs = BUF_INIT;
    struct mb_names names = { NULL, 0, 0, NULL, 0 };
    const char *err = NULL;
    int r;

    if (mboxname_check_userid(userid, &err) < 0)
        return mb_fail(error_r, STORE_ERR_BADNAME, "%s", err != NULL ? err : "bad userid");
    if (mboxname_user_inbox(userid, &inbox, &err) < 0)
        return mb_fail(error_r, STORE_ERR_BADNAME, "%s", err != NULL ? err : "bad userid");
    names.inbox = buf_cstr(&inbox);
    names.inbox_len = inbox.len;
    if (mboxlist_foreach(store, NULL, names.inbox, mb_collect_mailbox, &names, &err) < 0) {
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
        goto out;
    }
    /* deepest first, so a failure leaves a consistent hierarchy */
    for (size_t i = names.n; i-- > 0;) {
        r = mailbox_delete(store, names.v[i], &err);
        if (r < 0 && r != STORE_ERR_NOTFOUND) {
            r = mb_fail(error_r, r, "%s", err);
            goto out;
        }
    }
    struct mb_deluser_ctx ctx = { store, userid, names.inbox };
    if (kv_transaction(store_kv(store), mb_deluser_txn_fn, &ctx, &err) < 0) {
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "%s: %s", userid, err);
        goto out;
    }
    /* the user's directories on every partition */
    {
        struct buf owner = BUF_INIT;
        size_t dlen = 0;
        const char *dom = mboxname_domain(names.inbox, &dlen);
        mboxname_owner(names.inbox, &owner);
        const char *o = buf_cstr(&owner);
        const char *at = strchr(o, '@');
        struct mb_partition_list pl = { &dirs, dom, dlen, o,
                                        at != NULL ? (size_t)(at - o) : strlen(o) };
        bool safe = pl.local_len > 0 && memchr(o, '/', pl.local_len) == NULL &&
                    !(pl.local_len <= 2 && strspn(o, ".") >= pl.local_len) &&
                    (dlen == 0 || (memchr(dom, '/', dlen) == NULL && dom[0] != '.'));
        if (safe)
            config_iter_prefix(store_config(store), "partition-", mb_userdir_cb, &pl);
        buf_free(&owner);
        for (size_t pos = 0; pos < dirs.len; pos += strlen(dirs.data + pos) + 1) {
            if (mb_rmtree(dirs.data + pos, &err) < 0)
                log_warning("delete user %s: %s", userid, err);
        }
    }
    r = 0;
out:
    mb_names_free(&names);
    buf_free(&inbox);
    buf_free(&dirs);
    return r;
}
