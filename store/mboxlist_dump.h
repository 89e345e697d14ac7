/* mboxlist_dump.h - the mailbox list as text, and back (ctl_mboxlist -d/-u).
 *
 * One line per mailbox, seven fields separated by TAB, the ACL last:
 *
 *   NAME TYPE PARTITION UNIQUEID CREATED SPECIALUSE ACL
 *
 *   NAME        internal name ("user.test1", "example.com!user.x.Sent")
 *   TYPE        0 (a mailbox) or 1 (reserved: being created or renamed)
 *   PARTITION   partition name
 *   UNIQUEID    32 lowercase hex digits
 *   CREATED     unix time
 *   SPECIALUSE  "\Sent \Archive" or empty
 *   ACL         the rest of the line, in its stored form ("id<TAB>rights<TAB>"
 *               ..., so its own TABs stay as they are, as in Cyrus's dumps)
 *
 * In every field a backslash, CR, LF and any other control character are
 * written as "\\", "\r", "\n" and "\xHH" (and TAB as "\t" in the fields
 * before the ACL), so a dump loads back exactly; mailbox list values
 * normally contain none of them.
 */
#ifndef ROOST_MBOXLIST_DUMP_H
#define ROOST_MBOXLIST_DUMP_H

#include <stdint.h>
#include <stdio.h>

struct buf;
struct mboxlist_entry;
struct pool;
struct store;

/* Append the line of e (with the final "\n") to line_r. */
void mboxlist_dump_format(const struct mboxlist_entry *e, struct buf *line_r);
/* Parse one line (without its "\n"; a final "\r" is not allowed) into
 * *e_r, strings allocated from pool.  Checks the syntax only (numbers,
 * escapes, field count); mboxlist_put() checks the values.  0 or -1. */
int mboxlist_dump_parse(const char *line, size_t len, struct pool *pool,
                        struct mboxlist_entry *e_r, const char **error_r);

/* Write every entry whose partition is `partition` (NULL: every entry) to
 * out in name order; the number written into *count_r (may be NULL).
 * Returns 0 or -1 (database or write error). */
int mboxlist_dump(struct store *store, const char *partition, FILE *out, uint64_t *count_r,
                  const char **error_r);

/* Read a dump from in and put every entry into the mailbox list (an
 * existing entry of the same name is replaced), in transactions of up to
 * a thousand entries.  A bad line stops the load with an error naming its
 * number; the entries of earlier transactions stay.  The number loaded
 * goes into *count_r (may be NULL).  Returns 0 or -1. */
int mboxlist_dump_load(struct store *store, FILE *in, uint64_t *count_r, const char **error_r);

#endif
