/* lmtp_recipient.c - recipient addresses -> mailboxes, and quota checks.
 *
 * An LMTP recipient is one of (the same rules as Cyrus lmtpd):
 *   user[@domain]            the user's INBOX ("user.user");
 *   user+detail[@domain]     the user's folder "detail" (INBOX.detail in the
 *                            user's namespace) when it exists and the poster
 *                            has the 'p' right on it, else the INBOX;
 *   +mailbox[@domain]        a shared mailbox, when the poster has 'p';
 *   postuser+mailbox         the same, with config "postuser".
 * The poster is whoever the session can vouch for: the AUTH= identity of a
 * trusted session, the SASL user of an authenticated one, else anonymous,
 * which "anyone" entries match (Cyrus: an unauthenticated LMTP session
 * posts as anonymous).  A user's INBOX takes mail whatever its ACL.
 *
 * The domain: with virtdomains the userid is user@domain (the default
 * domain dropped, as at login); without, the domain is ignored (the MTA
 * decided the address is ours).  lmtp_downcase_rcpt lowercases the user
 * part (up to '+'), as Cyrus does by default.
 *
 * Autocreation (autocreate_inbox): a user's missing INBOX is created at
 * delivery, with autocreate_quota as its storage quota and the folders of
 * autocreate_inbox_folders ("Sent|Lists"), whose ACLs autocreate_acl can
 * extend ("Lists anyone p", several entries separated by '|').  The MTA is
 * trusted to deliver only to users that exist. */
#include "lmtpd.h"

#include "acl.h"
#include "log.h"
#include "mailbox.h"
#include "mboxlist.h"
#include "mboxname.h"
#include "pool.h"
#include "quota.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmtp_path_parse(const char *s, struct pool *pool, char **path_r, const char **rest_r,
                    const char **error_r)
{
    const char *p = s;

    while (*p == ' ')
        p++;
    if (*p != '<') {
        *error_r = "the address must be in angle brackets";
        return -1;
    }
    p++;
    if (*p == '@') {
        /* an obsolete source route "@a,@b:" (RFC 5321 4.1.2): skipped */
        while (*p != '\0' && *p != ':' && *p != '>' && *p != ' ')
            p++;
        if (*p != ':') {
            *error_r = "bad source route";
            return -1;
        }
        p++;
    }
    const char *start = p;
    bool quoted = false;
    for (;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0') {
            *error_r = "missing '>'";
            return -1;
        }
        if (c < 0x20 || c == 0x7f) {
            *error_r = "control character in the address";
            return -1;
        }
        if (quoted) {
            if (c == '\\' && p[1] != '\0')
                p++;
            else if (c == '"')
                quoted = false;
            continue;
        }
        if (c == '"') {
            quoted = true;
            continue;
        }
        if (c == '>')
            break;
        if (c == ' ' || c == '<') {
            *error_r = "bad character in the address";
            return -1;
        }
    }
    size_t len = (size_t)(p - start);
    if (len > LMTP_PATH_MAX) {
        *error_r = "address too long";
        return -1;
    }
    *path_r = pool_strndup(pool, start, len);
    *rest_r = p + 1;
    return 0;
}

/* The domain of a forward path: letters, digits, '-', '.', '_' or an
 * address literal. */
static bool lmtp_domain_ok(const char *d)
{
    if (d[0] == '\0' || strlen(d) > 255)
        return false;
    if (d[0] == '[')
        return d[strlen(d) - 1] == ']';
    for (const char *p = d; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    }
    return true;
}

int lmtp_address_parse(const struct lmtp_settings *set, const char *path, struct pool *pool,
                       struct lmtp_address *addr_r, struct lmtp_reply *reply_r)
{
    struct buf local = BUF_INIT, userid = BUF_INIT;
    const char *at = NULL, *err;
    bool quoted = false;
    int ret = -1;

    memset(addr_r, 0, sizeof(*addr_r));
    if (path[0] == '\0') {
        lmtp_reply_set(reply_r, 501, "5.1.3 The null address cannot receive mail");
        return -1;
    }
    /* the last '@' outside quotes splits local part and domain */
    for (const char *p = path; *p != '\0'; p++) {
        if (quoted && *p == '\\' && p[1] != '\0')
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == '@')
            at = p;
    }
    size_t locallen = at != NULL ? (size_t)(at - path) : strlen(path);
    if (at != NULL) {
        char *domain = pool_strdup(pool, at + 1);
        str_lcase(domain);
        if (!lmtp_domain_ok(domain)) {
            lmtp_reply_set(reply_r, 501, "5.1.3 Bad recipient address syntax");
            goto out;
        }
        addr_r->domain = domain;
    }
    /* unquote the local part */
    if (locallen >= 2 && path[0] == '"' && path[locallen - 1] == '"') {
        for (size_t i = 1; i + 1 < locallen; i++) {
            if (path[i] == '\\' && i + 2 < locallen)
                i++;
            buf_append_char(&local, path[i]);
        }
    } else {
        buf_append(&local, path, locallen);
    }
    if (local.len == 0 || memchr(local.data, '\0', local.len) != NULL) {
        lmtp_reply_set(reply_r, 501, "5.1.3 Bad recipient address syntax");
        goto out;
    }
    char *user = local.data;
    char *plus = strchr(user, '+');
    if (plus != NULL) {
        *plus = '\0';
        if (plus[1] != '\0')
            addr_r->detail = pool_strdup(pool, plus + 1);
    }
    /* "+mailbox" and "postuser+mailbox": a shared mailbox */
    if (plus != NULL &&
        (user[0] == '\0' || (set->postuser[0] != '\0' && strcmp(user, set->postuser) == 0))) {
        if (addr_r->detail == NULL) {
            lmtp_reply_set(reply_r, 550, "5.1.1 Mailbox unknown");
            goto out;
        }
        ret = 0;
        goto out;
    }
    if (set->downcase_rcpt)
        str_lcase(user);
    if (set->virtdomains && addr_r->domain != NULL) {
        struct buf full = BUF_INIT;
        buf_printf(&full, "%s@%s", user, addr_r->domain);
        int r = mboxname_userid_canon(set->store, buf_cstr(&full), &userid, &err);
        buf_free(&full);
        if (r < 0) {
            lmtp_reply_set(reply_r, 550, "5.1.1 User unknown");
            goto out;
        }
    } else {
        buf_append_str(&userid, user);
    }
    if (mboxname_check_userid(buf_cstr(&userid), &err) < 0) {
        lmtp_reply_set(reply_r, 550, "5.1.1 User unknown");
        goto out;
    }
    addr_r->userid = pool_strdup(pool, buf_cstr(&userid));
    ret = 0;
out:
    buf_free(&local);
    buf_free(&userid);
    return ret;
}

/* Look a mailbox up: 1 found and usable, 0 missing, -1 error (reply set). */
static int lmtp_lookup(const struct lmtp_settings *set, const char *name, struct pool *pool,
                       struct mboxlist_entry *entry, struct lmtp_reply *reply_r)
{
    const char *err;
    int r = mboxlist_lookup(set->store, NULL, name, pool, entry, &err);
    if (r < 0) {
        log_error("mailbox list lookup of %s: %s", name, err);
        lmtp_reply_set(reply_r, 451, "4.3.0 Internal error, try again later");
        return -1;
    }
    if (r > 0 && entry->type != MBTYPE_EMAIL) {
        lmtp_reply_set(reply_r, 451, "4.2.0 Mailbox busy, try again later");
        return -1;
    }
    return r;
}

/* Apply the autocreate_acl entries for folder to acl_text into acl_r.
 * Returns true when any applied. */
static bool lmtp_autocreate_acl(const struct lmtp_settings *set, const char *folder,
                                const char *acl_text, struct buf *acl_r)
{
    bool any = false;
    const char *err;

    buf_reset(acl_r);
    buf_append_str(acl_r, acl_text);
    if (set->autocreate_acl == NULL)
        return false;
    char *copy = xstrdup(set->autocreate_acl), *save = NULL;
    for (char *entry = strtok_r(copy, "|", &save); entry != NULL;
         entry = strtok_r(NULL, "|", &save)) {
        char *save2 = NULL;
        char *f = strtok_r(entry, " \t", &save2);
        char *ident = strtok_r(NULL, " \t", &save2);
        char *rights = strtok_r(NULL, " \t", &save2);
        if (f == NULL || ident == NULL || rights == NULL || strtok_r(NULL, " \t", &save2)) {
            log_warning("autocreate_acl: ignoring malformed entry");
            continue;
        }
        if (strcmp(f, folder) != 0)
            continue;
        struct buf next = BUF_INIT;
        if (acl_modify(buf_cstr(acl_r), ident, rights, &next, &err) < 0) {
            log_warning("autocreate_acl: %s %s %s: %s", f, ident, rights, err);
        } else {
            buf_reset(acl_r);
            buf_append(acl_r, next.data, next.len);
            any = true;
        }
        buf_free(&next);
    }
    free(copy);
    return any;
}

/* Create userid's INBOX (named inbox), its quota and its folders.  0 when
 * the INBOX exists afterwards (made by us or by a concurrent delivery). */
static int lmtp_autocreate(const struct lmtp_settings *set, const char *userid,
                           const char *inbox, struct pool *pool)
{
    const char *err;
    int r = mailbox_create(set->store, inbox, NULL, &err);
    if (r == STORE_ERR_EXISTS)
        return 0;
    if (r < 0) {
        log_error("autocreate of %s failed: %s", inbox, err);
        return -1;
    }
    log_info("autocreated %s", inbox);
    if (set->autocreate_quota >= 0 &&
        quota_set_limits(set->store, NULL, inbox, set->autocreate_quota, -1, &err) < 0)
        log_error("autocreate of %s: cannot set its quota: %s", inbox, err);
    if (set->autocreate_folders == NULL || set->autocreate_folders[0] == '\0')
        return 0;

    struct mboxlist_entry entry;
    struct lmtp_reply dummy;
    if (lmtp_lookup(set, inbox, pool, &entry, &dummy) <= 0)
        return 0;
    char sep = mboxname_separator(set->store);
    char *list = xstrdup(set->autocreate_folders), *save = NULL;
    for (char *f = strtok_r(list, "|", &save); f != NULL; f = strtok_r(NULL, "|", &save)) {
        f = str_trim(f);
        if (f[0] == '\0')
            continue;
        struct buf ext = BUF_INIT, name = BUF_INIT, acl = BUF_INIT;
        buf_printf(&ext, "INBOX%c%s", sep, f);
        if (mboxname_from_external(set->store, userid, buf_cstr(&ext), &name, &err) < 0) {
            log_warning("autocreate_inbox_folders: bad folder \"%s\": %s", f, err);
        } else {
            struct mailbox_create_options opts = { 0 };
            if (lmtp_autocreate_acl(set, f, entry.acl, &acl))
                opts.acl = buf_cstr(&acl);
            r = mailbox_create(set->store, buf_cstr(&name), &opts, &err);
            if (r < 0 && r != STORE_ERR_EXISTS)
                log_warning("autocreate of %s failed: %s", buf_cstr(&name), err);
            else if (r == 0)
                log_info("autocreated %s", buf_cstr(&name));
        }
        buf_free(&ext);
        buf_free(&name);
        buf_free(&acl);
    }
    free(list);
    return 0;
}

static int lmtp_resolve_shared(const struct lmtp_settings *set, const struct lmtp_address *addr,
                               const char *poster, struct pool *pool,
                               struct lmtp_target *target_r, struct lmtp_reply *reply_r)
{
    struct buf ext = BUF_INIT, name = BUF_INIT, owner = BUF_INIT;
    struct mboxlist_entry entry;
    const char *err;
    int ret = -1;

    buf_append_str(&ext, addr->detail);
    if (set->virtdomains && addr->domain != NULL)
        buf_printf(&ext, "@%s", addr->domain);
    if (mboxname_from_external(set->store, NULL, buf_cstr(&ext), &name, &err) < 0 ||
        mboxname_owner(buf_cstr(&name), &owner)) {
        lmtp_reply_set(reply_r, 550, "5.1.1 Mailbox unknown");
        goto out;
    }
    int r = lmtp_lookup(set, buf_cstr(&name), pool, &entry, reply_r);
    if (r < 0)
        goto out;
    if (r == 0) {
        lmtp_reply_set(reply_r, 550, "5.1.1 Mailbox unknown");
        goto out;
    }
    if (!acl_may(set->store, entry.acl, entry.name, poster, ACL_POST)) {
        lmtp_reply_set(reply_r, 550, "5.7.1 Permission denied");
        goto out;
    }
    target_r->mailbox = pool_strdup(pool, entry.name);
    target_r->uniqueid = pool_strdup(pool, entry.uniqueid);
    ret = 0;
out:
    buf_free(&ext);
    buf_free(&name);
    buf_free(&owner);
    return ret;
}

int lmtp_recipient_resolve(const struct lmtp_settings *set, const struct lmtp_address *addr,
                           const char *poster, bool create, struct pool *pool,
                           struct lmtp_target *target_r, struct lmtp_reply *reply_r)
{
    struct buf inbox = BUF_INIT;
    struct mboxlist_entry entry;
    const char *err;
    int ret = -1, r;

    memset(target_r, 0, sizeof(*target_r));
    if (set->store == NULL) {
        lmtp_reply_set(reply_r, 451, "4.3.0 Mail store unavailable, try again later");
        return -1;
    }
    if (addr->userid == NULL)
        return lmtp_resolve_shared(set, addr, poster, pool, target_r, reply_r);

    if (mboxname_user_inbox(addr->userid, &inbox, &err) < 0) {
        lmtp_reply_set(reply_r, 550, "5.1.1 User unknown");
        goto out;
    }
    r = lmtp_lookup(set, buf_cstr(&inbox), pool, &entry, reply_r);
    if (r < 0)
        goto out;
    if (r == 0) {
        if (!set->autocreate) {
            lmtp_reply_set(reply_r, 550, "5.1.1 User unknown");
            goto out;
        }
        if (!create) {
            target_r->mailbox = pool_strdup(pool, buf_cstr(&inbox));
            ret = 0;
            goto out;
        }
        if (lmtp_autocreate(set, addr->userid, buf_cstr(&inbox), pool) < 0) {
            lmtp_reply_set(reply_r, 451, "4.3.0 Cannot create the mailbox, try again later");
            goto out;
        }
        r = lmtp_lookup(set, buf_cstr(&inbox), pool, &entry, reply_r);
        if (r < 0)
            goto out;
        if (r == 0) {
            lmtp_reply_set(reply_r, 451, "4.3.0 Mailbox vanished, try again later");
            goto out;
        }
    }
    target_r->mailbox = pool_strdup(pool, entry.name);
    target_r->uniqueid = pool_strdup(pool, entry.uniqueid);

    if (addr->detail != NULL) {
        struct buf ext = BUF_INIT, folder = BUF_INIT;
        struct mboxlist_entry fentry;
        buf_printf(&ext, "INBOX%c%s", mboxname_separator(set->store), addr->detail);
        if (mboxname_from_external(set->store, addr->userid, buf_cstr(&ext), &folder, &err) == 0) {
            r = lmtp_lookup(set, buf_cstr(&folder), pool, &fentry, reply_r);
            if (r > 0 && acl_may(set->store, fentry.acl, fentry.name, poster, ACL_POST)) {
                target_r->mailbox = pool_strdup(pool, fentry.name);
                target_r->uniqueid = pool_strdup(pool, fentry.uniqueid);
            }
            /* a folder that is missing, busy or closed to the poster:
             * the INBOX takes the message */
        }
        buf_free(&ext);
        buf_free(&folder);
    }
    ret = 0;
out:
    buf_free(&inbox);
    return ret;
}

static void lmtp_over_quota(const struct lmtp_settings *set, struct lmtp_reply *reply_r)
{
    if (set->over_quota_perm)
        lmtp_reply_set(reply_r, 552, "5.2.2 Mailbox is full (over quota)");
    else
        lmtp_reply_set(reply_r, 452, "4.2.2 Mailbox is full (over quota)");
}

int lmtp_quota_check(const struct lmtp_settings *set, const char *mailbox, uint64_t size,
                     struct lmtp_reply *reply_r)
{
    struct buf root = BUF_INIT;
    struct quota q;
    const char *err;
    int ret = -1;

    int r = quota_find_root(set->store, NULL, mailbox, &root, &err);
    if (r == 0) {
        ret = 0;
        goto out;
    }
    if (r < 0)
        goto fail;
    if (set->strict_quota && size > 0) {
        r = quota_check(set->store, NULL, buf_cstr(&root), (int64_t)size, 1, &err);
        if (r == STORE_ERR_OVERQUOTA) {
            lmtp_over_quota(set, reply_r);
            goto out;
        }
        if (r < 0)
            goto fail;
        ret = 0;
        goto out;
    }
    r = quota_get(set->store, NULL, buf_cstr(&root), &q, &err);
    if (r < 0)
        goto fail;
    if (r > 0 && ((q.limit_storage_kb >= 0 && q.used_bytes >= q.limit_storage_kb * 1024) ||
                  (q.limit_messages >= 0 && q.used_messages >= q.limit_messages))) {
        lmtp_over_quota(set, reply_r);
        goto out;
    }
    ret = 0;
    goto out;
fail:
    log_error("quota check for %s: %s", mailbox, err);
    lmtp_reply_set(reply_r, 451, "4.3.0 Internal error, try again later");
out:
    buf_free(&root);
    return ret;
}
