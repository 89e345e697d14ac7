/* seqset.c - IMAP sequence sets and UID sets as sorted, merged ranges.
 *
 * DESCRIPTION
 *   A set is an array of ranges kept sorted by low, with no two ranges
 *   overlapping or touching (1:3 and 4:5 are stored as 1:5), so that
 *   membership is a binary search and the text form is canonical.
 *
 *   Parsing follows RFC 3501 / RFC 9051 sequence-set strictly: nz-number
 *   (no leading zero, 1..4294967295), '*', "a:b" in either order, ','
 *   between items, nothing else (no spaces, no empty items).  Work is
 *   bounded whatever the input: a range is two numbers however wide
 *   ("1:4294967295" costs what "1:2" costs), items are collected and then
 *   sorted once (n log n), at most SEQSET_PARSE_ITEMS_MAX items are read
 *   and at most SEQSET_MAX_RANGES ranges may remain after merging.
 *
 *   '*' is kept as SEQSET_STAR (UINT32_MAX) until seqset_resolve(); a
 *   literal 4294967295 therefore reads as '*' (a server never has a larger
 *   number, so only a request for that exact number, which no mailbox
 *   holds, is answered differently).  Ranges are merged at parse time,
 *   also with ranges that end in '*': "1:3,4:*" is 1:* ("Servers MAY
 *   coalesce overlaps", RFC 3501 section 9).
 */
#include "seqset.h"

#include "buf.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

/* Items one parse reads before giving up (the text "1,2,3,..." may merge
 * into few ranges, but reading it is bounded too). */
#define SEQSET_PARSE_ITEMS_MAX (4 * SEQSET_MAX_RANGES)

void seqset_init(struct seqset *set)
{
    set->ranges = NULL;
    set->count = 0;
    set->alloc = 0;
}

void seqset_free(struct seqset *set)
{
    free(set->ranges);
    seqset_init(set);
}

static void seqset_reserve(struct seqset *set, size_t n)
{
    if (n <= set->alloc)
        return;
    size_t alloc = set->alloc < 8 ? 8 : set->alloc;
    while (alloc < n)
        alloc *= 2;
    set->ranges = xreallocarray(set->ranges, alloc, sizeof(*set->ranges));
    set->alloc = alloc;
}

static int seqset_range_cmp(const void *a, const void *b)
{
    const struct seqset_range *x = a, *y = b;

    if (x->low != y->low)
        return x->low < y->low ? -1 : 1;
    if (x->high != y->high)
        return x->high < y->high ? -1 : 1;
    return 0;
}

/* Sort and merge ranges that overlap or touch. */
static void seqset_normalize(struct seqset *set)
{
    size_t out = 0;

    if (set->count < 2)
        return;
    qsort(set->ranges, set->count, sizeof(*set->ranges), seqset_range_cmp);
    for (size_t i = 1; i < set->count; i++) {
        struct seqset_range *last = &set->ranges[out];
        const struct seqset_range *r = &set->ranges[i];
        if (last->high == UINT32_MAX || r->low <= last->high + 1) {
            if (r->high > last->high)
                last->high = r->high;
        } else {
            set->ranges[++out] = *r;
        }
    }
    set->count = out + 1;
}

/* One seq-number at text[*pos]: '*' or nz-number. */
static int seqset_parse_number(const char *text, size_t len, size_t *pos, uint32_t *n_r)
{
    size_t i = *pos;
    uint64_t n = 0;

    if (i >= len)
        return -1;
    if (text[i] == '*') {
        *n_r = SEQSET_STAR;
        *pos = i + 1;
        return 0;
    }
    if (text[i] < '1' || text[i] > '9')
        return -1;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        n = n * 10 + (uint64_t)(text[i] - '0');
        if (n > UINT32_MAX)
            return -1;
    }
    *n_r = (uint32_t)n;
    *pos = i;
    return 0;
}

int seqset_parse(const char *text, size_t len, struct seqset *set_r)
{
    size_t pos = 0;

    set_r->count = 0;
    if (text == NULL || len == 0)
        return -1;
    for (;;) {
        uint32_t low, high;

        if (seqset_parse_number(text, len, &pos, &low) < 0)
            goto fail;
        high = low;
        if (pos < len && text[pos] == ':') {
            pos++;
            if (seqset_parse_number(text, len, &pos, &high) < 0)
                goto fail;
        }
        if (set_r->count >= SEQSET_PARSE_ITEMS_MAX)
            goto fail;
        seqset_reserve(set_r, set_r->count + 1);
        set_r->ranges[set_r->count].low = low < high ? low : high;
        set_r->ranges[set_r->count].high = low < high ? high : low;
        set_r->count++;
        if (pos == len)
            break;
        if (text[pos] != ',')
            goto fail;
        pos++;
    }
    seqset_normalize(set_r);
    if (set_r->count > SEQSET_MAX_RANGES)
        goto fail;
    return 0;
fail:
    set_r->count = 0;
    return -1;
}

void seqset_resolve(struct seqset *set, uint32_t max)
{
    size_t out = 0;

    for (size_t i = 0; i < set->count; i++) {
        struct seqset_range r = set->ranges[i];
        if (r.low == SEQSET_STAR || r.high == SEQSET_STAR) {
            if (max == 0)
                continue;
            if (r.low == SEQSET_STAR)
                r.low = max;
            if (r.high == SEQSET_STAR)
                r.high = max;
            if (r.low > r.high) {
                uint32_t t = r.low;
                r.low = r.high;
                r.high = t;
            }
        }
        set->ranges[out++] = r;
    }
    set->count = out;
    seqset_normalize(set);
}

/* First index whose range ends at or after n (count when none). */
static size_t seqset_lower_bound(const struct seqset *set, uint32_t n)
{
    size_t lo = 0, hi = set->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->ranges[mid].high < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void seqset_add_range(struct seqset *set, uint32_t low, uint32_t high)
{
    size_t i, j;

    if (low > high) {
        uint32_t t = low;
        low = high;
        high = t;
    }
    if (high == 0)
        return;
    if (low == 0)
        low = 1;
    /* Ranges i..j-1 overlap or touch [low, high]. */
    i = seqset_lower_bound(set, low - 1);
    j = i;
    while (j < set->count && (high == UINT32_MAX || set->ranges[j].low <= high + 1))
        j++;
    if (i == j) {
        seqset_reserve(set, set->count + 1);
        memmove(&set->ranges[i + 1], &set->ranges[i], (set->count - i) * sizeof(*set->ranges));
        set->ranges[i].low = low;
        set->ranges[i].high = high;
        set->count++;
        return;
    }
    if (set->ranges[i].low < low)
        low = set->ranges[i].low;
    if (set->ranges[j - 1].high > high)
        high = set->ranges[j - 1].high;
    set->ranges[i].low = low;
    set->ranges[i].high = high;
    memmove(&set->ranges[i + 1], &set->ranges[j], (set->count - j) * sizeof(*set->ranges));
    set->count -= j - i - 1;
}

void seqset_add(struct seqset *set, uint32_t n)
{
    seqset_add_range(set, n, n);
}

void seqset_remove(struct seqset *set, uint32_t n)
{
    size_t i = seqset_lower_bound(set, n);
    struct seqset_range *r;

    if (i == set->count || set->ranges[i].low > n)
        return;
    r = &set->ranges[i];
    if (r->low == r->high) {
        memmove(r, r + 1, (set->count - i - 1) * sizeof(*r));
        set->count--;
    } else if (n == r->low) {
        r->low++;
    } else if (n == r->high) {
        r->high--;
    } else {
        uint32_t high = r->high;
        r->high = n - 1;
        seqset_reserve(set, set->count + 1);
        r = &set->ranges[i];
        memmove(r + 2, r + 1, (set->count - i - 1) * sizeof(*r));
        set->ranges[i + 1].low = n + 1;
        set->ranges[i + 1].high = high;
        set->count++;
    }
}

bool seqset_contains(const struct seqset *set, uint32_t n)
{
    size_t i = seqset_lower_bound(set, n);
    return i < set->count && set->ranges[i].low <= n;
}

bool seqset_is_empty(const struct seqset *set)
{
    return set->count == 0;
}

uint64_t seqset_cardinality(const struct seqset *set)
{
    uint64_t n = 0;

    for (size_t i = 0; i < set->count; i++)
        n += (uint64_t)set->ranges[i].high - set->ranges[i].low + 1;
    return n;
}

uint32_t seqset_first(const struct seqset *set)
{
    return set->count == 0 ? 0 : set->ranges[0].low;
}

uint32_t seqset_last(const struct seqset *set)
{
    return set->count == 0 ? 0 : set->ranges[set->count - 1].high;
}

static void seqset_format_number(struct buf *out, uint32_t n)
{
    if (n == SEQSET_STAR)
        buf_append_char(out, '*');
    else
        buf_printf(out, "%u", (unsigned)n);
}

void seqset_format(const struct seqset *set, struct buf *out)
{
    for (size_t i = 0; i < set->count; i++) {
        if (i > 0)
            buf_append_char(out, ',');
        seqset_format_number(out, set->ranges[i].low);
        if (set->ranges[i].high != set->ranges[i].low) {
            buf_append_char(out, ':');
            seqset_format_number(out, set->ranges[i].high);
        }
    }
}
