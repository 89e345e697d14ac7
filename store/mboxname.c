/* mboxname.c - mailbox names: checking internal names and userids, and
 *              converting between the internal and the external forms.
 *
 * DESCRIPTION
 *   Internal names ("example.com!user.test1.Sent") are what the mailbox
 *   list, the partitions and every other database use; external names
 *   ("INBOX/Sent") are what a client of one user sees, with the separator
 *   and the domain handling of the config (unixhierarchysep, virtdomains,
 *   defaultdomain).  See mboxname.h for the rules.
 *
 *   Every name from a client is hostile: it is checked byte by byte before
 *   it is converted, and the converted name is checked again with
 *   mboxname_check(), so that nothing a client sends can name a path
 *   outside a partition or a name no other function expects.
 *
 * DIAGNOSTICS
 *   Checks return STORE_ERR_BADNAME with a static message saying what is
 *   wrong with the name.
 */
#include "mboxname.h"

#include "buf.h"
#include "charset.h"
#include "config.h"
#include "store.h"
#include "str.h"

#include <string.h>
#include <strings.h>

#define MBOXNAME_DOMAIN_MAX 253
#define MBOXNAME_LABEL_MAX 63
/* External names may be a little longer than internal ones ("INBOX" versus
 * "user.NAME", "@domain"); the converted name is checked again anyway. */
#define MBOXNAME_EXTERNAL_MAX (MBOXNAME_MAX + MBOXNAME_USERID_MAX + 16)

static int mboxname_bad(const char **error_r, const char *msg)
{
    *error_r = msg;
    return STORE_ERR_BADNAME;
}

/* A domain: dot-separated labels of 1..63 letters, digits, '-' or '_';
 * lowercase_only for the internal form. */
static bool mboxname_domain_valid(const char *d, size_t len, bool lowercase_only)
{
    size_t label = 0;

    if (len == 0 || len > MBOXNAME_DOMAIN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = d[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              (!lowercase_only && c >= 'A' && c <= 'Z')))
            return false;
        if (++label > MBOXNAME_LABEL_MAX)
            return false;
    }
    return label > 0;
}

/* C0 controls, DEL, or (as UTF-8 0xC2 0x80..0x9F) a C1 control at s[i]. */
static bool mboxname_is_control(const unsigned char *s, size_t len, size_t i)
{
    if (s[i] < 0x20 || s[i] == 0x7f)
        return true;
    return s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f;
}

/* The local part of a userid: external (with '.') or internal ('^' in
 * place of '.') form. */
static int mboxname_check_userid_local(const char *s, size_t len, bool internal_form,
                                       const char **error_r)
{
    const unsigned char *u = (const unsigned char *)s;

    if (len == 0)
        return mboxname_bad(error_r, "empty userid");
    if (s[0] == '-')
        return mboxname_bad(error_r, "a userid cannot start with '-'");
    for (size_t i = 0; i < len; i++) {
        if (mboxname_is_control(u, len, i) || u[i] == ' ')
            return mboxname_bad(error_r, "control character or space in userid");
        if (strchr("!@/*%\"\\(){}[]<>,;:|", u[i]) != NULL)
            return mboxname_bad(error_r, "forbidden character in userid");
        if (u[i] == (internal_form ? '.' : '^'))
            return mboxname_bad(error_r, "forbidden character in userid");
    }
    char dot = internal_form ? '^' : '.';
    if ((len == 1 && s[0] == dot) || (len == 2 && s[0] == dot && s[1] == dot))
        return mboxname_bad(error_r, "userid cannot be \".\" or \"..\"");
    if ((len == 6 && memcmp(s, "anyone", 6) == 0) ||
        (len == 9 && memcmp(s, "anonymous", 9) == 0))
        return mboxname_bad(error_r, "\"anyone\" and \"anonymous\" are reserved identifiers");
    return 0;
}

int mboxname_check_userid(const char *userid, const char **error_r)
{
    size_t len;
    const char *at;

    if (userid == NULL || userid[0] == '\0')
        return mboxname_bad(error_r, "empty userid");
    len = strlen(userid);
    if (len > MBOXNAME_USERID_MAX)
        return mboxname_bad(error_r, "userid too long");
    if (!charset_utf8_valid(userid, len))
        return mboxname_bad(error_r, "userid is not valid UTF-8");
    at = strchr(userid, '@');
    if (at != NULL) {
        if (strchr(at + 1, '@') != NULL)
            return mboxname_bad(error_r, "more than one '@' in userid");
        if (!mboxname_domain_valid(at + 1, strlen(at + 1), false))
            return mboxname_bad(error_r, "bad domain in userid");
        len = (size_t)(at - userid);
    }
    return mboxname_check_userid_local(userid, len, false, error_r);
}

/* One level of an internal name. */
static int mboxname_check_level(const char *s, size_t len, const char **error_r)
{
    const unsigned char *u = (const unsigned char *)s;

    if (len == 0)
        return mboxname_bad(error_r, "empty level in mailbox name");
    if ((len == 1 && s[0] == '^') || (len == 2 && s[0] == '^' && s[1] == '^'))
        return mboxname_bad(error_r, "\".\" and \"..\" are not valid mailbox name levels");
    for (size_t i = 0; i < len; i++) {
        if (mboxname_is_control(u, len, i))
            return mboxname_bad(error_r, "control character in mailbox name");
        switch (u[i]) {
        case '/':
            return mboxname_bad(error_r, "'/' in a mailbox name level");
        case '*':
        case '%':
            return mboxname_bad(error_r, "wildcard character in mailbox name");
        case '!':
            return mboxname_bad(error_r, "'!' in mailbox name");
        default:
            break;
        }
    }
    return 0;
}

int mboxname_check(const char *internal, const char **error_r)
{
    size_t len, nlevels = 0;
    const char *local, *level, *bang;
    bool user = false;
    int ret;

    if (internal == NULL || internal[0] == '\0')
        return mboxname_bad(error_r, "empty mailbox name");
    len = strlen(internal);
    if (len > MBOXNAME_MAX)
        return mboxname_bad(error_r, "mailbox name too long");
    if (!charset_utf8_valid(internal, len))
        return mboxname_bad(error_r, "mailbox name is not valid UTF-8");
    local = internal;
    bang = strchr(internal, '!');
    if (bang != NULL) {
        if (!mboxname_domain_valid(internal, (size_t)(bang - internal), true))
            return mboxname_bad(error_r, "bad domain in mailbox name");
        local = bang + 1;
    }
    level = local;
    for (const char *p = local;; p++) {
        if (*p != '.' && *p != '\0')
            continue;
        size_t llen = (size_t)(p - level);
        if ((ret = mboxname_check_level(level, llen, error_r)) < 0)
            return ret;
        nlevels++;
        if (nlevels == 1) {
            user = llen == 4 && memcmp(level, "user", 4) == 0;
            if (llen == 5 && strncasecmp(level, "inbox", 5) == 0)
                return mboxname_bad(error_r, "INBOX is not an internal top-level name");
        } else if (nlevels == 2 && user) {
            if ((ret = mboxname_check_userid_local(level, llen, true, error_r)) < 0)
                return ret;
        }
        if (*p == '\0')
            break;
        level = p + 1;
    }
    if (user && nlevels == 1)
        return mboxname_bad(error_r, "\"user\" alone is not a mailbox");
    return 0;
}

const char *mboxname_domain(const char *internal, size_t *len_r)
{
    const char *bang = strchr(internal, '!');
    size_t len = bang == NULL ? 0 : (size_t)(bang - internal);

    if (len_r != NULL)
        *len_r = len;
    return bang == NULL ? "" : internal;
}

const char *mboxname_local(const char *internal)
{
    const char *bang = strchr(internal, '!');
    return bang == NULL ? internal : bang + 1;
}

int mboxname_user_inbox(const char *userid, struct buf *internal_r, const char **error_r)
{
    const char *at;
    size_t locallen;
    int ret;

    buf_reset(internal_r);
    if ((ret = mboxname_check_userid(userid, error_r)) < 0)
        return ret;
    at = strchr(userid, '@');
    locallen = at == NULL ? strlen(userid) : (size_t)(at - userid);
    if (at != NULL) {
        for (const char *d = at + 1; *d != '\0'; d++)
            buf_append_char(internal_r, (*d >= 'A' && *d <= 'Z') ? (char)(*d - 'A' + 'a') : *d);
        buf_append_char(internal_r, '!');
    }
    buf_append_str(internal_r, "user.");
    for (size_t i = 0; i < locallen; i++)
        buf_append_char(internal_r, userid[i] == '.' ? '^' : userid[i]);
    if ((ret = mboxname_check(buf_cstr(internal_r), error_r)) < 0) {
        buf_reset(internal_r);
        return ret;
    }
    return 0;
}

bool mboxname_owner(const char *internal, struct buf *userid_r)
{
    const char *local = mboxname_local(internal);
    size_t domlen, len;
    const char *dom = mboxname_domain(internal, &domlen);

    buf_reset(userid_r);
    if (strncmp(local, "user.", 5) != 0)
        return false;
    local += 5;
    len = strcspn(local, ".");
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        buf_append_char(userid_r, local[i] == '^' ? '.' : local[i]);
    if (domlen > 0) {
        buf_append_char(userid_r, '@');
        buf_append(userid_r, dom, domlen);
    }
    return true;
}

bool mboxname_is_user_inbox(const char *internal)
{
    const char *local = mboxname_local(internal);

    return strncmp(local, "user.", 5) == 0 && local[5] != '\0' &&
           strchr(local + 5, '.') == NULL;
}

bool mboxname_parent(const char *internal, struct buf *parent_r)
{
    const char *local = mboxname_local(internal);
    const char *dot = strrchr(local, '.');

    buf_reset(parent_r);
    if (dot == NULL || mboxname_is_user_inbox(internal))
        return false;
    buf_append(parent_r, internal, (size_t)(dot - internal));
    return true;
}

char mboxname_separator(const struct store *store)
{
    return config_bool(store_config(store), "unixhierarchysep") ? '/' : '.';
}

static bool mboxname_virtdomains(const struct store *store)
{
    const char *v = config_str(store_config(store), "virtdomains");
    return v != NULL && strcmp(v, "off") != 0;
}

/* The configured defaultdomain, NULL when unset or empty. */
static const char *mboxname_defaultdomain(const struct store *store)
{
    const char *d = config_str(store_config(store), "defaultdomain");
    return d == NULL || d[0] == '\0' ? NULL : d;
}

static void mboxname_append_lower(struct buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf_append_char(b, (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i]);
}

int mboxname_userid_canon(const struct store *store, const char *userid, struct buf *userid_r,
                          const char **error_r)
{
    const char *at, *defdom = mboxname_defaultdomain(store);
    int ret;

    buf_reset(userid_r);
    if (userid == NULL || userid[0] == '\0')
        return mboxname_bad(error_r, "empty userid");
    if (strlen(userid) > MBOXNAME_USERID_MAX)
        return mboxname_bad(error_r, "userid too long");
    at = strrchr(userid, '@');
    if (at == NULL) {
        buf_append_str(userid_r, userid);
    } else if (defdom != NULL && strcasecmp(at + 1, defdom) == 0) {
        buf_append(userid_r, userid, (size_t)(at - userid));
    } else if (!mboxname_virtdomains(store)) {
        return mboxname_bad(error_r, "userid with a domain, but virtdomains is off");
    } else {
        buf_append(userid_r, userid, (size_t)(at - userid) + 1);
        mboxname_append_lower(userid_r, at + 1, strlen(at + 1));
    }
    if ((ret = mboxname_check_userid(buf_cstr(userid_r), error_r)) < 0) {
        buf_reset(userid_r);
        return ret;
    }
    return 0;
}

/* The domain of a canonical userid ("" when none). */
static const char *mboxname_userid_domain(const char *userid)
{
    const char *at = userid == NULL ? NULL : strchr(userid, '@');
    return at == NULL ? "" : at + 1;
}

/* Append the internal form of one external level. */
static int mboxname_level_from_external(const char *s, size_t len, char sep, struct buf *out,
                                        const char **error_r)
{
    if (len == 0)
        return mboxname_bad(error_r, "empty level in mailbox name");
    if (sep == '/') {
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return mboxname_bad(error_r, "\".\" and \"..\" are not valid mailbox name levels");
        if (memchr(s, '^', len) != NULL)
            return mboxname_bad(error_r, "'^' in mailbox name");
        for (size_t i = 0; i < len; i++)
            buf_append_char(out, s[i] == '.' ? '^' : s[i]);
    } else {
        if (memchr(s, '/', len) != NULL)
            return mboxname_bad(error_r, "'/' in mailbox name");
        buf_append(out, s, len);
    }
    return 0;
}

int mboxname_from_external(const struct store *store, const char *userid, const char *external,
                           struct buf *internal_r, const char **error_r)
{
    struct buf canon = BUF_INIT, dom = BUF_INIT;
    char sep = mboxname_separator(store);
    const char *userdom = "", *defdom = mboxname_defaultdomain(store);
    size_t len, namelen;
    bool explicit_domain = false;
    int ret = 0;

    buf_reset(internal_r);
    if (external == NULL || external[0] == '\0')
        return mboxname_bad(error_r, "empty mailbox name");
    len = strlen(external);
    if (len > MBOXNAME_EXTERNAL_MAX)
        return mboxname_bad(error_r, "mailbox name too long");
    if (!charset_utf8_valid(external, len))
        return mboxname_bad(error_r, "mailbox name is not valid UTF-8");
    for (size_t i = 0; i < len; i++) {
        if (mboxname_is_control((const unsigned char *)external, len, i))
            return mboxname_bad(error_r, "control character in mailbox name");
    }
    /* '!' is the internal domain separator: a client never names one. */
    if (strchr(external, '!') != NULL)
        return mboxname_bad(error_r, "'!' in mailbox name");
    if (userid != NULL) {
        if ((ret = mboxname_userid_canon(store, userid, &canon, error_r)) < 0)
            goto out;
        userdom = mboxname_userid_domain(buf_cstr(&canon));
    }

    /* The domain: "@domain" at the end with virtdomains, else the user's. */
    namelen = len;
    buf_append_str(&dom, userdom);
    if (mboxname_virtdomains(store)) {
        const char *at = strchr(external, '@');
        if (at != NULL) {
            if (strchr(at + 1, '@') != NULL) {
                ret = mboxname_bad(error_r, "more than one '@' in mailbox name");
                goto out;
            }
            if (!mboxname_domain_valid(at + 1, strlen(at + 1), false)) {
                ret = mboxname_bad(error_r, "bad domain in mailbox name");
                goto out;
            }
            buf_reset(&dom);
            if (defdom == NULL || strcasecmp(at + 1, defdom) != 0)
                mboxname_append_lower(&dom, at + 1, strlen(at + 1));
            namelen = (size_t)(at - external);
            explicit_domain = true;
        }
    }

    /* The first level decides the namespace. */
    size_t first = 0;
    while (first < namelen && external[first] != sep)
        first++;
    if (first == 5 && strncasecmp(external, "INBOX", 5) == 0) {
        if (userid == NULL) {
            ret = mboxname_bad(error_r, "no personal namespace (INBOX) here");
            goto out;
        }
        if (explicit_domain && strcmp(buf_cstr(&dom), userdom) != 0) {
            ret = mboxname_bad(error_r, "INBOX of another domain");
            goto out;
        }
        if ((ret = mboxname_user_inbox(buf_cstr(&canon), internal_r, error_r)) < 0)
            goto out;
    } else {
        if (dom.len > 0) {
            buf_append(internal_r, dom.data, dom.len);
            buf_append_char(internal_r, '!');
        }
        if ((ret = mboxname_level_from_external(external, first, sep, internal_r, error_r)) < 0)
            goto out;
    }
    /* The other levels. */
    for (size_t pos = first; pos < namelen;) {
        size_t start = pos + 1, end = start;   /* external[pos] is sep */
        while (end < namelen && external[end] != sep)
            end++;
        buf_append_char(internal_r, '.');
        if ((ret = mboxname_level_from_external(external + start, end - start, sep, internal_r,
                                                error_r)) < 0)
            goto out;
        pos = end;
    }
    ret = mboxname_check(buf_cstr(internal_r), error_r);
out:
    if (ret < 0)
        buf_reset(internal_r);
    buf_free(&canon);
    buf_free(&dom);
    return ret;
}

/* Append the external form of (part of) an internal local name. */
static void mboxname_local_to_external(const char *s, char sep, struct buf *out)
{
    for (; *s != '\0'; s++) {
        if (*s == '.')
            buf_append_char(out, sep);
        else if (*s == '^' && sep == '/')
            buf_append_char(out, '.');
        else
            buf_append_char(out, *s);
    }
}

int mboxname_to_external(const struct store *store, const char *userid, const char *internal,
                         struct buf *external_r, const char **error_r)
{
    struct buf canon = BUF_INIT, inbox = BUF_INIT;
    char sep = mboxname_separator(store);
    const char *userdom = "";
    int ret;

    buf_reset(external_r);
    if ((ret = mboxname_check(internal, error_r)) < 0)
        return ret;
    if (userid != NULL) {
        if ((ret = mboxname_userid_canon(store, userid, &canon, error_r)) < 0 ||
            (ret = mboxname_user_inbox(buf_cstr(&canon), &inbox, error_r)) < 0)
            goto out;
        userdom = mboxname_userid_domain(buf_cstr(&canon));
        if (strcmp(internal, buf_cstr(&inbox)) == 0) {
            buf_append_str(external_r, "INBOX");
            goto out;
        }
        if (strncmp(internal, inbox.data, inbox.len) == 0 && internal[inbox.len] == '.') {
            buf_append_str(external_r, "INBOX");
            buf_append_char(external_r, sep);
            mboxname_local_to_external(internal + inbox.len + 1, sep, external_r);
            goto out;
        }
    }
    size_t domlen;
    const char *dom = mboxname_domain(internal, &domlen);
    mboxname_local_to_external(mboxname_local(internal), sep, external_r);
    if (domlen != strlen(userdom) || memcmp(dom, userdom, domlen) != 0) {
        if (domlen > 0) {
            buf_append_char(external_r, '@');
            buf_append(external_r, dom, domlen);
        } else {
            const char *defdom = mboxname_defaultdomain(store);
            if (defdom == NULL) {
                ret = mboxname_bad(error_r, "mailbox outside this user's domain");
                goto out;
            }
            buf_append_char(external_r, '@');
            buf_append_str(external_r, defdom);
        }
    }
out:
    if (ret < 0)
        buf_reset(external_r);
    buf_free(&canon);
    buf_free(&inbox);
    return ret;
}
