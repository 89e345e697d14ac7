/* mboxname.h - mailbox names: internal form, external form, validation.
 *
 * Internal names are Cyrus's: UTF-8, '.' separates levels, "user.NAME" is
 * NAME's INBOX and "user.NAME.Sent" one of their folders; anything not under
 * "user." is a shared mailbox ("shared.folder").  With virtdomains, a name
 * in a domain is prefixed "DOMAIN!" ("example.com!user.test1") and the
 * userid is "test1@example.com".  With unixhierarchysep clients see '/' as
 * the separator, and a '.' inside an external level is stored as '^'.
 *
 * External names (what a client sees, before any modified UTF-7 coding,
 * which the protocol layer does with lib/charset.h): the personal namespace
 * "INBOX" / "INBOX.Sent" (INBOX case-insensitive), other users "user.bob",
 * shared "shared.folder"; the separator is '.' or '/'.
 *
 * Hostile input: names with control characters (C0, DEL, C1), empty
 * levels, "." or ".." levels (internally "^" and "^^"), '/' in an internal
 * level, the LIST wildcards '*' and '%', '!' other than after the domain, a
 * leading/trailing separator, "user" alone, a top-level "INBOX" in internal
 * form, over MBOXNAME_MAX bytes or invalid UTF-8 are refused with
 * STORE_ERR_BADNAME.  With virtdomains an external name holds at most one
 * '@' (the "@domain" suffix), and with unixhierarchysep no '^'. */
#ifndef ROOST_MBOXNAME_H
#define ROOST_MBOXNAME_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct store;

#define MBOXNAME_MAX 490
#define MBOXNAME_USERID_MAX 255

/* Check an internal name.  Returns 0 or STORE_ERR_BADNAME. */
int mboxname_check(const char *internal, const char **error_r);
/* Check a userid ("test1" or "test1@example.com"); 0 or STORE_ERR_BADNAME. */
int mboxname_check_userid(const char *userid, const char **error_r);

/* The canonical form of a login userid for this store's config: with
 * virtdomains, "x@Example.COM" becomes "x@example.com"; "x@DEFAULTDOMAIN"
 * becomes "x" (whatever virtdomains says); without virtdomains any other
 * "@domain" is refused.  The result passes mboxname_check_userid().
 * Returns 0 or STORE_ERR_BADNAME. */
int mboxname_userid_canon(const struct store *store, const char *userid, struct buf *userid_r,
                          const char **error_r);

/* "user.test1" / "example.com!user.test1" for userid (a '.' in the userid
 * is stored as '^': "john.doe" -> "user.john^doe"; the domain is
 * lowercased).  Returns 0 or STORE_ERR_BADNAME. */
int mboxname_user_inbox(const char *userid, struct buf *internal_r, const char **error_r);
/* Userids: 1..MBOXNAME_USERID_MAX bytes of valid UTF-8, "local" or
 * "local@domain"; the local part has no control characters, spaces or any
 * of !@/^*%"\\(){}[]<>,;:| and is not "anyone", "anonymous", "." or ".."
 * nor starts with '-' (the ACL's special identifiers). */

/* The owner of a user mailbox ("test1", "test1@example.com") into userid_r;
 * returns false (userid_r emptied) for shared mailboxes. */
bool mboxname_owner(const char *internal, struct buf *userid_r);
/* True for "user.X" itself (the INBOX, not a folder under it). */
bool mboxname_is_user_inbox(const char *internal);
/* The domain part ("" when none; not NUL-terminated: its length goes to
 * *len_r) and the name without it. */
const char *mboxname_domain(const char *internal, size_t *len_r);
const char *mboxname_local(const char *internal);
/* Hierarchy separator clients see ('.' or '/'). */
char mboxname_separator(const struct store *store);

/* External -> internal for the session of userid (NULL before login or for
 * admins acting without a personal namespace).  Handles INBOX (any case),
 * "INBOX.x", "user.x", shared names, unixhierarchysep and the user's
 * domain.  Returns 0 or STORE_ERR_BADNAME. */
int mboxname_from_external(const struct store *store, const char *userid, const char *external,
                           struct buf *internal_r, const char **error_r);
/* Internal -> external for userid's session ("user.test1" seen by test1 is
 * "INBOX", "user.test1.Sent" is "INBOX.Sent"; a mailbox of another domain
 * is shown with "@domain" the way Cyrus does for admins). */
int mboxname_to_external(const struct store *store, const char *userid, const char *internal,
                         struct buf *external_r, const char **error_r);
/* The parent's internal name into parent_r; false for a top-level name
 * and for a user's INBOX ("user.X" has no parent: "user" is no mailbox). */
bool mboxname_parent(const char *internal, struct buf *parent_r);

#endif
