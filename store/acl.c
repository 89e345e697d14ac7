/* acl.c - access control lists (RFC 4314): rights letters, the ACL text
 *         kept in the mailbox list, and the rights a user has.
 *
 * DESCRIPTION
 *   An ACL is the text "id1\trights1\tid2\trights2\t" (Cyrus's form).  The
 *   rights are the RFC 4314 letters "lrswipkxtea".  The obsolete RFC 2086
 *   letters are accepted on input as RFC 4314 section 2.1.1 allows, taking
 *   the first of its two readings (the one where "c" controls DELETE of a
 *   mailbox): "c" is "k" and "x", "d" is "t" and "e".
 *
 *   The rights of a user are computed as RFC 4314 section 2 says: the
 *   union of the rights of every identifier that applies ("anyone" always,
 *   the user's own entry, "anonymous" for an unauthenticated session)
 *   minus the union of the negative entries ("-id") that apply.  On top of
 *   that, admins from the config have every right, and the owner of a user
 *   mailbox keeps ACL_OWNER_IMPLICIT whatever the ACL says, so nobody can
 *   lock themselves out of their own mailboxes.
 *
 *   ACL text read from disk is trusted as little as anything else: the
 *   functions here never read past its end, skip empty identifiers and
 *   ignore letters they do not know in stored rights (a Cyrus ACL may hold
 *   its own extra rights); only acl_rights_parse() and acl_modify(), which
 *   see client input, refuse unknown letters.
 */
#include "acl.h"

#include "buf.h"
#include "mboxname.h"
#include "store.h"

#include <string.h>

/* Longest identifier acl_modify() accepts ("-" + a userid). */
#define ACL_IDENTIFIER_MAX (MBOXNAME_USERID_MAX + 1)

static const char acl_letters[] = "lrswipkxtea";

/* The mask of one letter, 0 when unknown. */
static uint32_t acl_letter_mask(char c)
{
    const char *p;

    switch (c) {
    case 'c':
        return ACL_CREATE | ACL_DELETEMBOX;
    case 'd':
        return ACL_DELETEMSG | ACL_EXPUNGE;
    case '\0':
        return 0;
    default:
        p = strchr(acl_letters, c);
        return p == NULL ? 0 : 1u << (p - acl_letters);
    }
}

static int acl_rights_parse_n(const char *text, size_t len, bool strict, uint32_t *mask_r)
{
    uint32_t mask = 0;

    for (size_t i = 0; i < len; i++) {
        uint32_t m = acl_letter_mask(text[i]);
        if (m == 0 && strict) {
            *mask_r = 0;
            return -1;
        }
        mask |= m;
    }
    *mask_r = mask;
    return 0;
}

int acl_rights_parse(const char *text, uint32_t *mask_r)
{
    return acl_rights_parse_n(text, strlen(text), true, mask_r);
}

void acl_rights_format(uint32_t mask, char *out, unsigned outsize)
{
    unsigned n = 0;

    if (outsize == 0)
        return;
    for (unsigned i = 0; acl_letters[i] != '\0' && n + 1 < outsize; i++) {
        if ((mask & (1u << i)) != 0)
            out[n++] = acl_letters[i];
    }
    out[n] = '\0';
}

/* Iteration over the raw text. */
struct acl_iter {
    const char *p;
};

struct acl_item {
    const char *id;
    size_t idlen;
    const char *rights;
    size_t rightslen;
};

/* The next entry with a non-empty identifier; false at the end. */
static bool acl_next(struct acl_iter *it, struct acl_item *item)
{
    while (it->p != NULL && *it->p != '\0') {
        const char *id = it->p;
        const char *tab = strchr(id, '\t');
        if (tab == NULL) {
            /* An identifier without rights: the text ends here. */
            it->p = NULL;
            return false;
        }
        const char *rights = tab + 1;
        size_t rightslen = strcspn(rights, "\t");
        it->p = rights[rightslen] == '\t' ? rights + rightslen + 1 : rights + rightslen;
        if (tab == id)
            continue;
        item->id = id;
        item->idlen = (size_t)(tab - id);
        item->rights = rights;
        item->rightslen = rightslen;
        return true;
    }
    return false;
}

static bool acl_item_is(const struct acl_item *item, const char *identifier)
{
    size_t len = strlen(identifier);
    return item->idlen == len && memcmp(item->id, identifier, len) == 0;
}

static uint32_t acl_item_mask(const struct acl_item *item)
{
    uint32_t mask;
    acl_rights_parse_n(item->rights, item->rightslen, false, &mask);
    return mask;
}

int acl_foreach(const char *acl_text, acl_entry_cb *cb, void *ctx)
{
    struct acl_iter it = { acl_text };
    struct acl_item item;
    struct buf id = BUF_INIT;
    int ret = 0;

    while (ret == 0 && acl_next(&it, &item)) {
        buf_reset(&id);
        buf_append(&id, item.id, item.idlen);
        ret = cb(buf_cstr(&id), acl_item_mask(&item), ctx);
    }
    buf_free(&id);
    return ret;
}

static bool acl_identifier_valid(const char *identifier)
{
    size_t len = strlen(identifier);
    const char *name = identifier[0] == '-' ? identifier + 1 : identifier;

    if (name[0] == '\0' || len > ACL_IDENTIFIER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)identifier[i];
        if (c < 0x20 || c == 0x7f || c == ' ')
            return false;
    }
    return true;
}

static void acl_append_entry(struct buf *out, const char *id, size_t idlen, uint32_t mask)
{
    char rights[16];

    acl_rights_format(mask, rights, sizeof(rights));
    buf_append(out, id, idlen);
    buf_append_char(out, '\t');
    buf_append_str(out, rights);
    buf_append_char(out, '\t');
}

int acl_modify(const char *acl_text, const char *identifier, const char *mod,
               struct buf *newacl_r, const char **error_r)
{
    struct acl_iter it = { acl_text };
    struct acl_item item;
    uint32_t mask, old = 0;
    char op = mod[0] == '+' || mod[0] == '-' ? mod[0] : '=';
    bool found = false;

    buf_reset(newacl_r);
    if (!acl_identifier_valid(identifier)) {
        *error_r = "bad ACL identifier";
        return -1;
    }
    if (acl_rights_parse(op == '=' ? mod : mod + 1, &mask) < 0) {
        *error_r = "unknown right in rights list";
        return -1;
    }
    /* The identifier's current rights (every entry of it, if repeated). */
    while (acl_next(&it, &item)) {
        if (acl_item_is(&item, identifier))
            old |= acl_item_mask(&item);
    }
    if (op == '+')
        mask |= old;
    else if (op == '-')
        mask = old & ~mask;

    it.p = acl_text;
    while (acl_next(&it, &item)) {
        if (!acl_item_is(&item, identifier)) {
            buf_append(newacl_r, item.id, item.idlen);
            buf_append_char(newacl_r, '\t');
            buf_append(newacl_r, item.rights, item.rightslen);
            buf_append_char(newacl_r, '\t');
        } else if (!found) {
            found = true;
            if (mask != 0)
                acl_append_entry(newacl_r, identifier, strlen(identifier), mask);
        }
    }
    if (!found && mask != 0)
        acl_append_entry(newacl_r, identifier, strlen(identifier), mask);
    return 0;
}

int acl_remove(const char *acl_text, const char *identifier, struct buf *newacl_r)
{
    struct acl_iter it = { acl_text };
    struct acl_item item;
    int found = 0;

    buf_reset(newacl_r);
    while (acl_next(&it, &item)) {
        if (acl_item_is(&item, identifier)) {
            found = 1;
            continue;
        }
        buf_append(newacl_r, item.id, item.idlen);
        buf_append_char(newacl_r, '\t');
        buf_append(newacl_r, item.rights, item.rightslen);
        buf_append_char(newacl_r, '\t');
    }
    return found;
}

/* Does identifier (without a leading '-') apply to userid (NULL:
 * anonymous)? */
static bool acl_applies(const char *id, size_t idlen, const char *userid)
{
    if (idlen == 6 && memcmp(id, "anyone", 6) == 0)
        return true;
    if (userid == NULL)
        return idlen == 9 && memcmp(id, "anonymous", 9) == 0;
    return idlen == strlen(userid) && memcmp(id, userid, idlen) == 0;
}

uint32_t acl_rights(const struct store *store, const char *acl_text, const char *internal_name,
                    const char *userid)
{
    struct acl_iter it = { acl_text };
    struct acl_item item;
    uint32_t pos = 0, neg = 0, rights;

    if (userid != NULL && userid[0] == '\0')
        userid = NULL;
    if (userid != NULL && store != NULL && store_is_admin(store, userid))
        return ACL_ALL;
    while (acl_next(&it, &item)) {
        if (item.id[0] == '-') {
            if (acl_applies(item.id + 1, item.idlen - 1, userid))
                neg |= acl_item_mask(&item);
        } else if (acl_applies(item.id, item.idlen, userid)) {
            pos |= acl_item_mask(&item);
        }
    }
    rights = pos & ~neg;
    if (userid != NULL && internal_name != NULL) {
        struct buf owner = BUF_INIT;
        if (mboxname_owner(internal_name, &owner) && strcmp(buf_cstr(&owner), userid) == 0)
            rights |= ACL_OWNER_IMPLICIT;
        buf_free(&owner);
    }
    return rights & ACL_ALL;
}

bool acl_may(const struct store *store, const char *acl_text, const char *internal_name,
             const char *userid, uint32_t needed)
{
    return (acl_rights(store, acl_text, internal_name, userid) & needed) == needed;
}
