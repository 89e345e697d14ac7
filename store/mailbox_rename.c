/* mailbox_rename.c - RENAME: a mailbox and its hierarchy, a whole user,
 * a move between partitions, and RFC 3501's INBOX rename.
 *
 * The general case, for the mailbox and every mailbox below it:
 *   1. every mailbox is opened and locked exclusively (uniqueid order);
 *   2. files: nothing moves when the directory stays the same (same owner,
 *      same partition: the directory is named by uniqueid); a directory
 *      whose owner changes is moved with rename(2) (a whole user: the user
 *      directory once per partition); a move to another partition copies
 *      the directory (files synced);
 *   3. one transaction updates the mailbox list, moves quota roots named
 *      like renamed mailboxes, moves usage between roots when a mailbox
 *      changes root (checking the new root unless told not to), renames
 *      subscriptions, and for a whole user moves the user's own
 *      subscriptions, seen state and private annotations (everything
 *      keyed by userid) and ACL entries;
 *   4. roost.header gets the new name; copies left on the old partition are
 *      marked deleted and removed.
 * If the transaction fails, the file moves of step 2 are undone.  A crash
 * between 2 and 3 leaves directories where the list does not expect them
 * (reconstruct's job); the window is two rename(2) calls wide.
 *
 * INBOX rename (RFC 3501 6.3.5): a new mailbox is created and every
 * message of INBOX moved to it (new UIDs, flags kept); INBOX stays, empty,
 * and the folders below it stay where they are. */
#include "mailbox_private.h"

#include "acl.h"
#include "annotate.h"
#include "kv.h"
#include "log.h"
#include "mboxlist.h"
#include "mboxname.h"
#include "pool.h"
#include "quota.h"
#include "seen.h"
#include "seqset.h"
#include "store.h"
#include "str.h"
#include "subs.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum mb_rename_action { RN_NONE, RN_MOVE, RN_COPY };

struct mb_rename_item {
    char *oldname, *newname;
    char *partition, *newpartition;
    char *uniqueid, *acl, *newacl, *specialuse;
    uint64_t created;
    char *oldpath, *newpath;
    enum mb_rename_action action;
    bool moved;                 /* RN_MOVE done (by itself or with its user dir) */
    bool copied;                /* RN_COPY done */
    struct mailbox *mb;
    int64_t bytes, messages;
    char *oldroot, *newroot;    /* set by the transaction */
};

struct mb_rename {
    struct store *store;
    const char *old, *new;
    size_t oldlen;
    bool same_name;
    bool user_rename;
    char *olduser, *newuser;
    bool ignore_quota;
    struct mb_rename_item *items;
    size_t n, alloc;
    /* user directories renamed whole: pairs of paths */
    char **udirs;
    size_t nudirs;
    bool overquota;
};

static bool mb_under(const char *name, const char *top, size_t toplen)
{
    return strncmp(name, top, toplen) == 0 && (name[toplen] == '\0' || name[toplen] == '.');
}

static char *mb_renamed(const struct mb_rename *rn, const char *name)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, rn->new);
    buf_append_str(&b, name + rn->oldlen);
    return buf_release(&b);
}

static int mb_collect_cb(const struct mboxlist_entry *e, void *vctx)
{
    struct mb_rename *rn = vctx;

    if (!mb_under(e->name, rn->old, rn->oldlen) || e->type != MBTYPE_EMAIL)
        return 0;
    if (rn->n == rn->alloc) {
        rn->alloc = rn->alloc == 0 ? 8 : rn->alloc * 2;
        rn->items = xreallocarray(rn->items, rn->alloc, sizeof(*rn->items));
    }
    struct mb_rename_item *it = &rn->items[rn->n++];
    memset(it, 0, sizeof(*it));
    it->oldname = xstrdup(e->name);
    it->partition = xstrdup(e->partition);
    it->uniqueid = xstrdup(e->uniqueid);
    it->acl = xstrdup(e->acl != NULL ? e->acl : "");
    it->specialuse = xstrdup(e->specialuse != NULL ? e->specialuse : "");
    it->created = e->created;
    return 0;
}

static void mb_rename_free(struct mb_rename *rn)
{
    for (size_t i = 0; i < rn->n; i++) {
        struct mb_rename_item *it = &rn->items[i];
        if (it->mb != NULL) {
            mb_unlock(it->mb);
            mailbox_close(&it->mb);
        }
        free(it->oldname);
        free(it->newname);
        free(it->partition);
        free(it->newpartition);
        free(it->uniqueid);
        free(it->acl);
        free(it->newacl);
        free(it->specialuse);
        free(it->oldpath);
        free(it->newpath);
        free(it->oldroot);
        free(it->newroot);
    }
    free(rn->items);
    for (size_t i = 0; i < rn->nudirs * 2; i++)
        free(rn->udirs[i]);
    free(rn->udirs);
    free(rn->olduser);
    free(rn->newuser);
}

static char *mb_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
}

/* The ACL with olduser's entry given to newuser. */
struct mb_acl_find {
    const char *id;
    uint32_t rights;
    bool found;
};

static int mb_acl_find_cb(const char *identifier, uint32_t rights, void *vctx)
{
    struct mb_acl_find *f = vctx;
    if (strcmp(identifier, f->id) == 0) {
        f->rights = rights;
        f->found = true;
        return 1;
    }
    return 0;
}

static char *mb_acl_rename(const char *acl, const char *olduser, const char *newuser)
{
    struct mb_acl_find f = { olduser, 0, false };
    struct buf tmp = BUF_INIT, out = BUF_INIT;
    const char *err = NULL;

    acl_foreach(acl, mb_acl_find_cb, &f);
    if (!f.found)
        return xstrdup(acl);
    char rights[32];
    acl_rights_format(f.rights, rights, sizeof(rights));
    acl_remove(acl, olduser, &tmp);
    if (acl_modify(buf_cstr(&tmp), newuser, rights, &out, &err) < 0) {
        buf_free(&out);
        return buf_release(&tmp);
    }
    buf_free(&tmp);
    return buf_release(&out);
}

/* ---- the transaction ---- */

struct mb_root_move {
    char *from, *to;
};

struct mb_roots {
    const char *old;
    size_t oldlen;
    char **v;
    size_t n, alloc;
};

static int mb_roots_cb(const char *root, const struct quota *q, void *vctx)
{
    struct mb_roots *r = vctx;
    (void)q;
    if (!mb_under(root, r->old, r->oldlen))
        return 0;
    if (r->n == r->alloc) {
        r->alloc = r->alloc == 0 ? 4 : r->alloc * 2;
        r->v = xreallocarray(r->v, r->alloc, sizeof(char *));
    }
    r->v[r->n++] = xstrdup(root);
    return 0;
}

static void mb_roots_free(struct mb_roots *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = r->alloc = 0;
}

static bool mb_str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static int mb_find_root_txn(struct store *store, struct kv_txn *txn, const char *name,
                            char **root_r, const char **error_r)
{
    struct buf b = BUF_INIT;
    free(*root_r);
    *root_r = NULL;
    int r = quota_find_root(store, txn, name, &b, error_r);
    if (r > 0)
        *root_r = buf_release(&b);
    buf_free(&b);
    return r < 0 ? r : 0;
}

static int mb_rename_txn(struct kv_txn *txn, void *vctx, const char **error_r)
{
    struct mb_rename *rn = vctx;
    struct store *store = rn->store;
    struct mb_roots roots = { rn->old, rn->oldlen, NULL, 0, 0 };
    int r = 0;

    rn->overquota = false;
    for (size_t i = 0; i < rn->n && r == 0; i++)
        r = mb_find_root_txn(store, txn, rn->items[i].oldname, &rn->items[i].oldroot, error_r);
    if (r < 0)
        goto out;

    /* quota roots named like renamed mailboxes move with them */
    if (!rn->same_name) {
        if ((r = quota_foreach(store, txn, rn->old, mb_roots_cb, &roots, error_r)) < 0)
            goto out;
        for (size_t i = 0; i < roots.n; i++) {
            struct quota q;
            char *to = mb_renamed(rn, roots.v[i]);
            r = quota_get(store, txn, roots.v[i], &q, error_r);
            if (r > 0) {
                r = quota_set_limits(store, txn, to, q.limit_storage_kb, q.limit_messages,
                                     error_r);
                if (r >= 0)
                    r = quota_set_usage(store, txn, to, q.used_bytes, q.used_messages, error_r);
                if (r >= 0)
                    r = quota_delete(store, txn, roots.v[i], error_r);
            }
            free(to);
            if (r < 0)
                goto out;
            r = 0;
        }
    }
    for (size_t i = 0; i < rn->n && r == 0; i++)
        r = mb_find_root_txn(store, txn, rn->items[i].newname, &rn->items[i].newroot, error_r);
    if (r < 0)
        goto out;

    /* usage follows a mailbox into another root */
    for (size_t i = 0; i < rn->n; i++) {
        struct mb_rename_item *it = &rn->items[i];
        char *from = NULL;
        if (it->oldroot != NULL)
            from = mb_under(it->oldroot, rn->old, rn->oldlen) && !rn->same_name
                       ? mb_renamed(rn, it->oldroot)
                       : xstrdup(it->oldroot);
        if (mb_str_eq(from, it->newroot) || (it->bytes == 0 && it->messages == 0)) {
            free(from);
            continue;
        }
        if (from != NULL)
            r = quota_add_usage(store, txn, from, -it->bytes, -it->messages, error_r);
        free(from);
        if (r < 0)
            goto out;
        if (it->newroot != NULL) {
            if (!rn->ignore_quota) {
                r = quota_check(store, txn, it->newroot, it->bytes, it->messages, error_r);
                if (r == STORE_ERR_OVERQUOTA) {
                    rn->overquota = true;
                    *error_r = "over quota";
                    r = -1;
                }
                if (r < 0)
                    goto out;
            }
            if ((r = quota_add_usage(store, txn, it->newroot, it->bytes, it->messages,
                                     error_r)) < 0)
                goto out;
        }
    }

    /* the list */
    for (size_t i = 0; i < rn->n; i++) {
        struct mb_rename_item *it = &rn->items[i];
        struct mboxlist_entry e;
        memset(&e, 0, sizeof(e));
        e.name = it->newname;
        e.partition = it->newpartition;
        e.uniqueid = it->uniqueid;
        e.type = MBTYPE_EMAIL;
        e.acl = it->newacl;
        e.specialuse = it->specialuse;
        e.created = it->created;
        if (!rn->same_name && (r = mboxlist_delete(store, txn, it->oldname, error_r)) < 0)
            goto out;
        if ((r = mboxlist_put(store, txn, &e, error_r)) < 0)
            goto out;
    }

    if (!rn->same_name && (r = subs_rename(store, txn, rn->old, rn->new, error_r)) < 0)
        goto out;
    /* the user's own records, keyed by userid: subscriptions (their names
     * were renamed just above), seen state on other users' mailboxes,
     * private annotations */
    if (rn->user_rename) {
        if ((r = subs_rename_user(store, txn, rn->olduser, rn->newuser, error_r)) < 0 ||
            (r = seen_rename_user(store, txn, rn->olduser, rn->newuser, error_r)) < 0 ||
            (r = annotate_rename_user(store, txn, rn->olduser, rn->newuser, error_r)) < 0)
            goto out;
    }
    r = 0;
out:
    mb_roots_free(&roots);
    /* a kv_transaction body returns 0, -1 or KV_DEADLOCK only (store.h) */
    return r == 0 || r == KV_DEADLOCK ? r : -1;
}

/* ---- files ---- */

/* Copy every regular file of srcfd into a new directory dstpath. */
static int mb_copy_dir(int srcfd, const char *dstpath, const char **error_r)
{
    int r = 0;

    if (mkdir(dstpath, 0750) < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "mkdir %s", dstpath);
    int dstfd = open(dstpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dstfd < 0)
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "open %s", dstpath);
    int fd = openat(srcfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        close(dstfd);
        return mb_fail_errno(error_r, STORE_ERR_INTERNAL, "read directory");
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (str_has_suffix(de->d_name, ".NEW"))
            continue;
        if (fstatat(srcfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if ((r = mb_copy_file(srcfd, de->d_name, dstfd, de->d_name, error_r)) < 0)
            break;
    }
    closedir(d);
    if (r == 0)
        r = mb_fsync_dir(dstfd, error_r);
    close(dstfd);
    return r;
}

static void mb_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Step 2.  On failure, what was done is undone by mb_rename_undo. */
static int mb_rename_files(struct mb_rename *rn, const char **error_r)
{
    int r;

    /* a whole user on one partition: move the user directory once */
    if (rn->user_rename) {
        for (size_t i = 0; i < rn->n; i++) {
            struct mb_rename_item *it = &rn->items[i];
            if (it->action != RN_MOVE || it->moved)
                continue;
            char *from = mb_dirname(it->oldpath), *to = mb_dirname(it->newpath);
            struct stat st;
            bool ok = false;
            if (stat(to, &st) < 0 && errno == ENOENT) {
                char *toparent = mb_dirname(to);
                if (mb_mkdir_p(toparent, error_r) == 0 && rename(from, to) == 0) {
                    ok = true;
                    mb_fsync_path(toparent);
                    char *fromparent = mb_dirname(from);
                    mb_fsync_path(fromparent);
                    free(fromparent);
                }
                free(toparent);
            }
            if (ok) {
                rn->udirs = xreallocarray(rn->udirs, (rn->nudirs + 1) * 2, sizeof(char *));
                rn->udirs[rn->nudirs * 2] = from;
                rn->udirs[rn->nudirs * 2 + 1] = to;
                rn->nudirs++;
                for (size_t j = 0; j < rn->n; j++) {
                    struct mb_rename_item *o = &rn->items[j];
                    char *od = mb_dirname(o->oldpath);
                    if (o->action == RN_MOVE && !o->moved && strcmp(od, from) == 0)
                        o->moved = true;
                    free(od);
                }
            } else {
                free(from);
                free(to);
            }
        }
    }
    for (size_t i = 0; i < rn->n; i++) {
        struct mb_rename_item *it = &rn->items[i];
        if (it->action == RN_MOVE && !it->moved) {
            char *parent = mb_dirname(it->newpath);
            r = mb_mkdir_p(parent, error_r);
            if (r == 0 && rename(it->oldpath, it->newpath) < 0)
                r = mb_fail_errno(error_r, STORE_ERR_INTERNAL, "rename %s", it->oldpath);
            if (r == 0) {
                it->moved = true;
                mb_fsync_path(parent);
                char *oparent = mb_dirname(it->oldpath);
                mb_fsync_path(oparent);
                free(oparent);
            }
            free(parent);
            if (r < 0)
                return r;
        } else if (it->action == RN_COPY) {
            char *parent = mb_dirname(it->newpath);
            r = mb_mkdir_p(parent, error_r);
            if (r == 0)
                r = mb_copy_dir(it->mb->dirfd, it->newpath, error_r);
            if (r == 0)
                mb_fsync_path(parent);
            free(parent);
            if (r < 0) {
                const char *err2 = NULL;
                (void)mb_rmtree(it->newpath, &err2);
                return r;
            }
            it->copied = true;
        }
    }
    return 0;
}

static void mb_rename_undo(struct mb_rename *rn)
{
    for (size_t i = 0; i < rn->n; i++) {
        struct mb_rename_item *it = &rn->items[i];
        const char *err = NULL;
        if (it->copied && mb_rmtree(it->newpath, &err) < 0)
            log_error("rename %s: cannot remove the copy: %s", rn->old, err);
        it->copied = false;
    }
    for (size_t i = 0; i < rn->n; i++) {
        struct mb_rename_item *it = &rn->items[i];
        bool in_udir = false;
        for (size_t k = 0; k < rn->nudirs && !in_udir; k++) {
            char *od = mb_dirname(it->oldpath);
            in_udir = strcmp(od, rn->udirs[k * 2]) == 0;
            free(od);
        }
        if (it->moved && !in_udir && rename(it->newpath, it->oldpath) < 0)
            log_error("rename %s: cannot move %s back: %s", rn->old, it->newpath,
                      strerror(errno));
        it->moved = false;
    }
    for (size_t k = 0; k < rn->nudirs; k++) {
        if (rename(rn->udirs[k * 2 + 1], rn->udirs[k * 2]) < 0)
            log_error("rename %s: cannot move %s back: %s", rn->old, rn->udirs[k * 2 + 1],
                      strerror(errno));
    }
}

/* ---- INBOX ---- */

static int mb_uid_collect(const struct mailbox_record *rec, void *ctx)
{
    if ((rec->system_flags & MAILBOX_FLAG_EXPUNGED) == 0)
        seqset_add(ctx, rec->uid);
    return 0;
}

static int mb_rename_inbox(struct store *store, const char *inbox, const char *newname,
                           const char *newpartition, const char **error_r)
{
    struct mailbox *src = NULL, *dst = NULL;
    struct seqset all;
    const char *err = NULL;
    int r;

    seqset_init(&all);
    if ((r = mailbox_open(store, inbox, MAILBOX_READWRITE, &src, error_r)) < 0)
        return r;
    struct mailbox_create_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.partition = newpartition != NULL ? newpartition : src->partition;
    opts.acl = src->acl;
    if ((r = mailbox_create(store, newname, &opts, error_r)) < 0)
        goto out;
    if ((r = mailbox_open(store, newname, MAILBOX_READWRITE, &dst, error_r)) < 0)
        goto out;
    if ((r = mailbox_foreach_record(src, mb_uid_collect, &all, error_r)) < 0)
        goto undo;
    /* in slices, so a huge INBOX never needs one huge batch */
    size_t k = 0;
    while (k < all.count) {
        struct seqset slice;
        uint64_t members = 0;
        seqset_init(&slice);
        while (k < all.count && members < MAILBOX_BATCH_MAX / 2) {
            uint32_t low = all.ranges[k].low, high = all.ranges[k].high;
            uint64_t room = MAILBOX_BATCH_MAX / 2 - members;
            if ((uint64_t)high - low + 1 > room) {
                seqset_add_range(&slice, low, (uint32_t)(low + room - 1));
                all.ranges[k].low = (uint32_t)(low + room);
                members += room;
                break;
            }
            seqset_add_range(&slice, low, high);
            members += (uint64_t)high - low + 1;
            k++;
        }
        struct mailbox_copy_result res;
        r = mailbox_copy(src, &slice, dst, NULL, MAILBOX_MOVE | MAILBOX_IGNORE_QUOTA, &res,
                         error_r);
        seqset_free(&slice);
        mailbox_copy_result_free(&res);
        if (r < 0)
            goto undo;
    }
    r = 0;
    goto out;
undo:
    /* nothing moved yet only when the first slice failed; keep what moved */
    if (mailbox_exists(dst) == 0) {
        mailbox_close(&dst);
        (void)mailbox_delete(store, newname, &err);
    }
out:
    mailbox_close(&dst);
    mailbox_close(&src);
    seqset_free(&all);
    return r;
}

/* ---- entry point ---- */

int mailbox_rename(struct store *store, const char *oldname, const char *newname,
                   const char *newpartition, bool ignore_quota, const char **error_r)
{
    struct mb_rename rn;
    struct buf owner_old = BUF_INIT, owner_new = BUF_INIT, path = BUF_INIT;
    struct pool *pool = pool_create("rename", 1024);
    struct mboxlist_entry entry;
    const char *err = NULL;
    int r;

    memset(&rn, 0, sizeof(rn));
    rn.store = store;
    rn.old = oldname;
    rn.new = newname;
    rn.oldlen = strlen(oldname);
    rn.same_name = strcmp(oldname, newname) == 0;
    rn.ignore_quota = ignore_quota;

    if (mboxname_check(oldname, &err) < 0 || mboxname_check(newname, &err) < 0) {
        r = mb_fail(error_r, STORE_ERR_BADNAME, "%s", err != NULL ? err : "bad name");
        goto out;
    }
    if (newpartition != NULL && store_partition_path(store, newpartition) == NULL) {
        r = mb_fail(error_r, STORE_ERR_NOTFOUND, "no partition \"%.64s\"", newpartition);
        goto out;
    }
    if (rn.same_name && newpartition == NULL) {
        r = mb_fail(error_r, STORE_ERR_EXISTS, "%s: renaming a mailbox to itself", oldname);
        goto out;
    }
    r = mboxlist_lookup(store, NULL, oldname, pool, &entry, &err);
    if (r < 0) {
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
        goto out;
    }
    if (r == 0 || entry.type != MBTYPE_EMAIL) {
        r = mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: no such mailbox", oldname);
        goto out;
    }
    if (!rn.same_name) {
        r = mboxlist_lookup(store, NULL, newname, pool, &entry, &err);
        if (r < 0) {
            r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
            goto out;
        }
        if (r > 0) {
            r = mb_fail(error_r, STORE_ERR_EXISTS, "%s: mailbox exists", newname);
            goto out;
        }
    }
    bool old_is_user = mboxname_owner(oldname, &owner_old);
    bool new_is_user = mboxname_owner(newname, &owner_new);
    if (mboxname_is_user_inbox(oldname) && !rn.same_name) {
        if (mboxname_is_user_inbox(newname)) {
            rn.user_rename = true;
            rn.olduser = xstrdup(buf_cstr(&owner_old));
            rn.newuser = xstrdup(buf_cstr(&owner_new));
        } else if (new_is_user && strcmp(buf_cstr(&owner_old), buf_cstr(&owner_new)) == 0) {
            r = mb_rename_inbox(store, oldname, newname, newpartition, error_r);
            goto out;
        } else {
            r = mb_fail(error_r, STORE_ERR_BADNAME,
                        "%s: an INBOX can only become another user's INBOX", oldname);
            goto out;
        }
    }
    (void)old_is_user;
    /* (an INBOX may move below itself: its children stay behind) */
    if (!rn.same_name && mb_under(newname, oldname, rn.oldlen)) {
        r = mb_fail(error_r, STORE_ERR_BADNAME, "cannot rename %s below itself", oldname);
        goto out;
    }

    /* everything to rename, checked */
    if (mboxlist_foreach(store, NULL, oldname, mb_collect_cb, &rn, &err) < 0) {
        r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
        goto out;
    }
    for (size_t i = 0; i < rn.n; i++) {
        struct mb_rename_item *it = &rn.items[i];
        it->newname = mb_renamed(&rn, it->oldname);
        if (mboxname_check(it->newname, &err) < 0) {
            r = mb_fail(error_r, STORE_ERR_BADNAME, "%s: %s", it->newname, err);
            goto out;
        }
        if (!rn.same_name) {
            r = mboxlist_lookup(store, NULL, it->newname, pool, &entry, &err);
            if (r < 0) {
                r = mb_fail(error_r, STORE_ERR_INTERNAL, "mailbox list: %s", err);
                goto out;
            }
            if (r > 0) {
                r = mb_fail(error_r, STORE_ERR_EXISTS, "%s: mailbox exists", it->newname);
                goto out;
            }
        }
        it->newpartition = xstrdup(newpartition != NULL ? newpartition : it->partition);
        it->newacl = rn.user_rename ? mb_acl_rename(it->acl, rn.olduser, rn.newuser)
                                    : xstrdup(it->acl);
        r = mb_open_entry(store, it->oldname, it->partition, it->uniqueid, it->acl,
                          it->specialuse, MAILBOX_READWRITE, &it->mb, error_r);
        if (r < 0)
            goto out;
        it->oldpath = xstrdup(it->mb->path);
        if ((r = mailbox_dir_path(store, it->newname, it->newpartition, it->uniqueid, &path,
                                  error_r)) < 0)
            goto out;
        it->newpath = xstrdup(buf_cstr(&path));
        if (strcmp(it->partition, it->newpartition) != 0)
            it->action = RN_COPY;
        else if (strcmp(it->oldpath, it->newpath) != 0)
            it->action = RN_MOVE;
        else
            it->action = RN_NONE;
    }
    if (rn.n == 0) {
        r = mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: no such mailbox", oldname);
        goto out;
    }
    {
        struct mailbox **mbs = xcalloc(rn.n, sizeof(*mbs));
        for (size_t i = 0; i < rn.n; i++)
            mbs[i] = rn.items[i].mb;
        r = mb_lock_many(mbs, (unsigned)rn.n, error_r);
        free(mbs);
        if (r < 0)
            goto out;
    }
    for (size_t i = 0; i < rn.n; i++) {
        rn.items[i].bytes = (int64_t)rn.items[i].mb->hdr.quota_bytes;
        rn.items[i].messages = (int64_t)rn.items[i].mb->hdr.exists;
    }

    if ((r = mb_rename_files(&rn, error_r)) < 0) {
        mb_rename_undo(&rn);
        goto out;
    }
    if (kv_transaction(store_kv(store), mb_rename_txn, &rn, &err) < 0) {
        r = rn.overquota ? mb_fail(error_r, STORE_ERR_OVERQUOTA, "%s: over quota", newname)
                         : mb_fail(error_r, STORE_ERR_INTERNAL, "rename %s: %s", oldname,
                                   err != NULL ? err : "failed");
        mb_rename_undo(&rn);
        goto out;
    }

    /* step 4: names in the headers, old copies away */
    for (size_t i = 0; i < rn.n; i++) {
        struct mb_rename_item *it = &rn.items[i];
        struct mb_header nh;
        mb_header_copy(&nh, &it->mb->mh);
        free(nh.name);
        nh.name = xstrdup(it->newname);
        free(nh.acl);
        nh.acl = xstrdup(it->newacl);
        free(nh.quotaroot);
        nh.quotaroot = xstrdup(it->newroot != NULL ? it->newroot : "");
        int dfd = it->action == RN_COPY
                      ? open(it->newpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                      : it->mb->dirfd;
        if (dfd < 0 || mb_header_write(dfd, &nh, &err) < 0)
            log_warning("rename %s: roost.header of %s keeps the old name: %s", oldname,
                        it->newname, dfd < 0 ? strerror(errno) : err);
        if (it->action == RN_COPY && dfd >= 0)
            close(dfd);
        mb_header_free(&nh);
        if (it->action == RN_COPY) {
            if (mb_mark_deleted(it->mb, &err) < 0)
                log_warning("rename %s: %s", oldname, err);
            it->mb->deleted = true;
            if (mb_rmtree(it->oldpath, &err) < 0)
                log_warning("rename %s: old copy left behind: %s", oldname, err);
        }
    }
    if (rn.user_rename) {
        /* user directories left empty on partitions where nothing moved whole */
        for (size_t i = 0; i < rn.n; i++) {
            char *od = mb_dirname(rn.items[i].oldpath);
            (void)rmdir(od);
            free(od);
        }
    }
    r = 0;
out:
    mb_rename_free(&rn);
    buf_free(&owner_old);
    buf_free(&owner_new);
    buf_free(&path);
    pool_destroy(&pool);
    return r;
}
