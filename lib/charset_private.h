/* charset_private.h - shared between the charset_*.c files, nobody else.
 *
 * The converter cache and UTF-8 stepping used by charset.c,
 * charset_fold.c, charset_mutf7.c and charset_header.c.  Other modules use
 * charset.h and never see ICU. */
#ifndef ROOST_CHARSET_PRIVATE_H
#define ROOST_CHARSET_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <unicode/ucnv.h>

#define CHARSET_UTF8_INVALID UINT32_MAX

/* Decode one UTF-8 character at p (len > 0 bytes available).  Returns the
 * number of bytes it takes, always >= 1; *cp_r is the code point, or
 * CHARSET_UTF8_INVALID when those bytes are a maximal invalid subpart
 * (Unicode 3.9, "U+FFFD substitution of maximal subparts"). */
static inline size_t charset_utf8_next(const unsigned char *p, size_t len,
                                       uint32_t *cp_r)
{
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    size_t need;
    uint32_t cp;

    if (c < 0x80) {
        *cp_r = c;
        return 1;
    }
    if (c < 0xc2) {
        *cp_r = CHARSET_UTF8_INVALID;
        return 1;
    } else if (c < 0xe0) {
        need = 1;
        cp = c & 0x1f;
    } else if (c < 0xf0) {
        need = 2;
        cp = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c < 0xf5) {
        need = 3;
        cp = c & 0x07;
        if (c == 0xf0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        *cp_r = CHARSET_UTF8_INVALID;
        return 1;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= len || p[k] < lo || p[k] > hi) {
            *cp_r = CHARSET_UTF8_INVALID;
            return k;
        }
        lo = 0x80;
        hi = 0xbf;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    *cp_r = cp;
    return need + 1;
}

/* The cached ICU converter for a charset label (or an ICU name such as
 * "IMAP-mailbox-name"), reset to its initial state, or NULL with *error_r
 * set for an unknown charset.  The pointer stays valid until the next
 * charset_cnv_get() (which may evict it) or charset_deinit(); callers set
 * the callbacks they need (the to-Unicode one defaults to writing U+FFFD). */
UConverter *charset_cnv_get(const char *name, const char **error_r);

/* Free charset_fold.c's scratch memory (called by charset_deinit()). */
void charset_fold_deinit(void);

#endif
