/* charset_fold.c - the comparison form of text for SEARCH and SORT.
 *
 * NAME
 *     charset_fold - NFC, full case folding, NFC (see charset.h).
 *
 * DESCRIPTION
 *     Folding runs over every message at search time, and most mail text
 *     is ASCII, so the input is cut into ASCII runs, lowercased here
 *     without ICU, and non-ASCII segments, which go through ICU in UTF-16:
 *     NFC, U+0130 -> "i", u_strFoldCase(U_FOLD_CASE_DEFAULT), NFC again,
 *     back to UTF-8.
 *
 *     Where a cut is made matters for normalization: "e" + U+0301 must
 *     reach ICU together.  A segment therefore starts with the ASCII
 *     character before the first non-ASCII byte (the only ASCII character
 *     that can combine with what follows it) and ends just before an
 *     ASCII byte (no ASCII character combines with what precedes it).
 *     Short ASCII runs inside non-ASCII text (spaces between Cyrillic
 *     words) stay in the segment to avoid calling ICU once per word.  A
 *     long segment is split before a character that has a normalization
 *     boundary before it and does not change under case folding, so the
 *     result is the same as folding the whole text at once, with bounded
 *     scratch memory; only pathological input (megabytes without such a
 *     character) is cut anywhere.
 *
 *     Scratch UTF-16 buffers are kept between calls (a process folds many
 *     messages) and freed by charset_deinit(). */
#include "charset.h"
#include "charset_private.h"

#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "log.h"
#include "xmalloc.h"

/* Split non-ASCII segments longer than this at a safe character. */
#define FOLD_SEGMENT_MAX 16384
/* Split anywhere past this (pathological input only). */
#define FOLD_SEGMENT_HARD_MAX (4u * 1024 * 1024)
/* An ASCII run this long ends a non-ASCII segment. */
#define FOLD_ASCII_RUN_SPLIT 32
/* Scratch buffers grown past this are freed after use. */
#define FOLD_SCRATCH_KEEP (256 * 1024)

struct ubuf {
    UChar *p;
    int32_t cap;
};

static struct ubuf scratch[2];
static const UNormalizer2 *nfc;

void charset_fold_deinit(void)
{
    for (size_t i = 0; i < 2; i++) {
        free(scratch[i].p);
        scratch[i].p = NULL;
        scratch[i].cap = 0;
    }
}

static void ubuf_need(struct ubuf *u, int32_t n)
{
    if (n < 0)
        log_panic("charset_fold: negative length");
    if (u->cap >= n)
        return;
    int32_t cap = u->cap < 256 ? 256 : u->cap;
    while (cap < n)
        cap = cap > INT32_MAX / 2 ? INT32_MAX : cap * 2;
    u->p = xreallocarray(u->p, (size_t)cap, sizeof(UChar));
    u->cap = cap;
}

static const UNormalizer2 *nfc_get(void)
{
    if (nfc == NULL) {
        UErrorCode err = U_ZERO_ERROR;

        nfc = unorm2_getNFCInstance(&err);
        if (U_FAILURE(err))
            log_fatal("charset: ICU has no NFC data: %s", u_errorName(err));
    }
    return nfc;
}

static void swap(struct ubuf **a, struct ubuf **b)
{
    struct ubuf *t = *a;

    *a = *b;
    *b = t;
}

/* NFC of (*cur)->p[0..n); the result ends up in *cur. */
static int32_t nfc_step(struct ubuf **cur, struct ubuf **spare, int32_t n)
{
    UErrorCode err = U_ZERO_ERROR;

    if (unorm2_spanQuickCheckYes(nfc, (*cur)->p, n, &err) == n &&
        U_SUCCESS(err))
        return n;
    for (;;) {
        int32_t m;

        err = U_ZERO_ERROR;
        m = unorm2_normalize(nfc, (*cur)->p, n, (*spare)->p, (*spare)->cap,
                             &err);
        if (err == U_BUFFER_OVERFLOW_ERROR ||
            err == U_STRING_NOT_TERMINATED_WARNING) {
            ubuf_need(*spare, m + 1);
            continue;
        }
        if (U_FAILURE(err))
            log_panic("charset_fold: unorm2_normalize: %s", u_errorName(err));
        swap(cur, spare);
        return m;
    }
}

static int32_t fold_step(struct ubuf **cur, struct ubuf **spare, int32_t n)
{
    for (;;) {
        UErrorCode err = U_ZERO_ERROR;
        int32_t m = u_strFoldCase((*spare)->p, (*spare)->cap, (*cur)->p, n,
                                  U_FOLD_CASE_DEFAULT, &err);

        if (err == U_BUFFER_OVERFLOW_ERROR ||
            err == U_STRING_NOT_TERMINATED_WARNING) {
            ubuf_need(*spare, m + 1);
            continue;
        }
        if (U_FAILURE(err))
            log_panic("charset_fold: u_strFoldCase: %s", u_errorName(err));
        swap(cur, spare);
        return m;
    }
}

/* Fold a valid UTF-8 segment through ICU. */
static void fold_icu(const unsigned char *s, size_t len, struct buf *out)
{
    struct ubuf *cur = &scratch[0], *spare = &scratch[1];
    UErrorCode err = U_ZERO_ERROR;
    int32_t n;

    nfc_get();
    ubuf_need(cur, (int32_t)len + 1);
    u_strFromUTF8(cur->p, cur->cap, &n, (const char *)s, (int32_t)len, &err);
    if (U_FAILURE(err))
        log_panic("charset_fold: u_strFromUTF8: %s", u_errorName(err));

    n = nfc_step(&cur, &spare, n);
    for (int32_t i = 0; i < n; i++) {
        if (cur->p[i] == 0x0130)
            cur->p[i] = 'i'; /* see charset.h: Turkish capital dotted I */
    }
    n = fold_step(&cur, &spare, n);
    n = nfc_step(&cur, &spare, n);

    /* Back to UTF-8: at most 3 bytes per UTF-16 unit. */
    size_t room = (size_t)n * 3;
    int32_t n8;

    buf_reserve(out, room);
    err = U_ZERO_ERROR;
    u_strToUTF8(out->data + out->len, (int32_t)room + 1, &n8, cur->p, n, &err);
    if (U_FAILURE(err))
        log_panic("charset_fold: u_strToUTF8: %s", u_errorName(err));
    out->len += (size_t)n8;
    out->data[out->len] = '\0';

    for (size_t i = 0; i < 2; i++) {
        if (scratch[i].cap > FOLD_SCRATCH_KEEP) {
            free(scratch[i].p);
            scratch[i].p = NULL;
            scratch[i].cap = 0;
        }
    }
}

static void append_lower_ascii(const unsigned char *p, size_t n,
                               struct buf *out)
{
    char *d;

    if (n == 0)
        return;
    buf_reserve(out, n);
    d = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];

        d[i] = (char)((unsigned)(c - 'A') < 26u ? c | 0x20 : c);
    }
    out->len += n;
    out->data[out->len] = '\0';
}

/* True when a long segment may be cut just before cp. */
static bool safe_split_before(uint32_t cp)
{
    return unorm2_hasBoundaryBefore(nfc, (UChar32)cp) &&
           !u_hasBinaryProperty((UChar32)cp, UCHAR_CHANGES_WHEN_CASEFOLDED);
}

static void fold_valid(const unsigned char *s, size_t len, struct buf *out)
{
    size_t i = 0;

    nfc_get();
    while (i < len) {
        size_t start = i, seg, j;

        while (i < len && s[i] < 0x80)
            i++;
        if (i == len) {
            append_lower_ascii(s + start, len - start, out);
            break;
        }
        /* s[i] starts a non-ASCII character; the ASCII one before it may
         * combine with it, so it goes to ICU too. */
        seg = i > start ? i - 1 : i;
        append_lower_ascii(s + start, seg - start, out);

        j = i;
        while (j < len) {
            if (s[j] < 0x80) {
                size_t k = j;

                while (k < len && s[k] < 0x80 && k - j < FOLD_ASCII_RUN_SPLIT)
                    k++;
                if (k == len || k - j >= FOLD_ASCII_RUN_SPLIT ||
                    j - seg >= FOLD_SEGMENT_MAX)
                    break; /* cutting before an ASCII byte is always safe */
                j = k;
                continue;
            }
            uint32_t cp;
            size_t n = charset_utf8_next(s + j, len - j, &cp);

            if (j - seg >= FOLD_SEGMENT_HARD_MAX ||
                (j - seg >= FOLD_SEGMENT_MAX && safe_split_before(cp)))
                break;
            j += n;
        }
        fold_icu(s + seg, j - seg, out);
        i = j;
    }
}

void charset_fold(const char *utf8, size_t len, struct buf *out)
{
    if (charset_utf8_valid(utf8, len)) {
        fold_valid((const unsigned char *)utf8, len, out);
    } else {
        struct buf fixed = BUF_INIT;

        charset_utf8_repair(utf8, len, &fixed);
        fold_valid((const unsigned char *)fixed.data, fixed.len, out);
        buf_free(&fixed);
    }
}

bool charset_fold_contains(const char *haystack_folded, size_t hlen,
                           const char *needle_folded, size_t nlen)
{
    if (nlen == 0)
        return true;
    if (nlen > hlen)
        return false;
    return memmem(haystack_folded, hlen, needle_folded, nlen) != NULL;
}
