/* acl.h - access control lists (RFC 4314).
 *
 * Rights: l r s w i p k x t e a (and the obsolete c and d, accepted on
 * input and mapped as RFC 4314 section 2.1.1 says, in its first reading:
 * "c" = "kx", "d" = "te"; output never uses them, a protocol layer that
 * must show "c"/"d" to old clients adds them).  An ACL is kept as text
 * "id1\trights1\tid2\trights2\t" (Cyrus's form); identifiers are userids,
 * "anyone", "anonymous", and "-id" for negative rights.  The owner of a
 * user mailbox always has implicit "lkxa" on their own mailboxes (so they
 * can never lock themselves out), admins from config have every right. */
#ifndef ROOST_ACL_H
#define ROOST_ACL_H

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct store;

enum acl_right {
    ACL_LOOKUP = 1u << 0,     /* l */
    ACL_READ = 1u << 1,       /* r */
    ACL_SEEN = 1u << 2,       /* s */
    ACL_WRITE = 1u << 3,      /* w */
    ACL_INSERT = 1u << 4,     /* i */
    ACL_POST = 1u << 5,       /* p */
    ACL_CREATE = 1u << 6,     /* k */
    ACL_DELETEMBOX = 1u << 7, /* x */
    ACL_DELETEMSG = 1u << 8,  /* t */
    ACL_EXPUNGE = 1u << 9,    /* e */
    ACL_ADMIN = 1u << 10,     /* a */
};
#define ACL_ALL 0x7ffu
#define ACL_OWNER_IMPLICIT (ACL_LOOKUP | ACL_CREATE | ACL_DELETEMBOX | ACL_ADMIN)
/* What a new user INBOX gives its owner. */
#define ACL_OWNER_DEFAULT ACL_ALL

/* "lrswipkxtea" style text <-> mask.  Unknown letters: -1. */
int acl_rights_parse(const char *text, uint32_t *mask_r);
/* Canonical text (RFC 4314 order "lrswipkxtea"), into out (>= 16 bytes). */
void acl_rights_format(uint32_t mask, char *out, unsigned outsize);

/* Change the rights of identifier in acl_text: mod is "+rights" (add),
 * "-rights" (remove) or "rights" (replace; "" removes the identifier).
 * Result in newacl_r.  Returns 0 or -1 (bad rights, bad identifier). */
int acl_modify(const char *acl_text, const char *identifier, const char *mod,
               struct buf *newacl_r, const char **error_r);
/* Remove identifier entirely; returns 1 removed, 0 not present. */
int acl_remove(const char *acl_text, const char *identifier, struct buf *newacl_r);
/* Iterate entries: cb(identifier, mask, ctx); stops when cb returns non-0
 * and returns that value (0 after the last entry).  Unknown letters in
 * stored rights are ignored, empty identifiers skipped. */
typedef int acl_entry_cb(const char *identifier, uint32_t rights, void *ctx);
int acl_foreach(const char *acl_text, acl_entry_cb *cb, void *ctx);

/* The rights userid has on mailbox internal_name with ACL acl_text:
 * admins everything; the owner's implicit rights; the union of "anyone"
 * and the user's own entry, minus the negative entries that apply.
 * userid NULL = anonymous. */
uint32_t acl_rights(const struct store *store, const char *acl_text, const char *internal_name,
                    const char *userid);
/* The one question: may userid do all of `needed` on this mailbox? */
bool acl_may(const struct store *store, const char *acl_text, const char *internal_name,
             const char *userid, uint32_t needed);

#endif
