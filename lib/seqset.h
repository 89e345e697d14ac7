/* seqset.h - IMAP sequence sets and UID sets ("1:5,7,10:*").
 *
 * Parsed into sorted, merged ranges; bounded (SEQSET_MAX_RANGES) so a
 * hostile "1,3,5,7,..." of a megabyte cannot make work quadratic.  '*' is
 * kept symbolic until resolved against the mailbox (seqset_resolve). */
#ifndef ROOST_SEQSET_H
#define ROOST_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define SEQSET_MAX_RANGES 65536
#define SEQSET_STAR UINT32_MAX   /* '*' before resolution */

struct seqset_range {
    uint32_t low, high;   /* low <= high */
};

struct seqset {
    struct seqset_range *ranges;  /* sorted, non-overlapping, non-adjacent */
    size_t count, alloc;
};

void seqset_init(struct seqset *set);
void seqset_free(struct seqset *set);
/* Parse IMAP syntax (RFC 3501 sequence-set: numbers >= 1, ':' ranges in any
 * order, ',' lists, '*').  Returns 0 or -1 (bad syntax, 0, too many).
 * set_r (initialised) is replaced; emptied on failure.  A literal
 * 4294967295 reads as '*'; ranges are merged, also into ranges ending in
 * '*' ("1:3,4:*" is 1:*). */
int seqset_parse(const char *text, size_t len, struct seqset *set_r);
/* Replace '*' by max (the largest UID or message number; with max 0 every
 * range that needed '*' becomes empty per RFC). */
void seqset_resolve(struct seqset *set, uint32_t max);
/* Add (in either order; 0 is never a member and is ignored). */
void seqset_add_range(struct seqset *set, uint32_t low, uint32_t high);
void seqset_add(struct seqset *set, uint32_t n);
void seqset_remove(struct seqset *set, uint32_t n);
bool seqset_contains(const struct seqset *set, uint32_t n);
bool seqset_is_empty(const struct seqset *set);
uint64_t seqset_cardinality(const struct seqset *set);
/* Smallest / largest member, 0 when empty. */
uint32_t seqset_first(const struct seqset *set);
uint32_t seqset_last(const struct seqset *set);
/* Canonical text ("1:5,7", unresolved '*' as "*") appended to out;
 * nothing for the empty set. */
void seqset_format(const struct seqset *set, struct buf *out);

#endif
