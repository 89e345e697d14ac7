/* charset_mutf7.c - IMAP modified UTF-7 mailbox names (RFC 3501 5.1.3).
 *
 * NAME
 *     charset_mutf7 - mailbox names between the wire and UTF-8.
 *
 * DESCRIPTION
 *     The conversion itself is ICU's "IMAP-mailbox-name" converter.  ICU
 *     decodes leniently (it accepts "&AKM-&AKM-", unpaired surrogates and
 *     U+0000), and a mailbox name comes from a possibly hostile client, so
 *     decoding adds three checks of its own: a syntax pass over the bytes
 *     (printable ASCII, terminated "&" runs of modified base64), a pass
 *     over the UTF-16 result (no controls, no unpaired surrogates), and a
 *     canonical-form check: the result is encoded again and must give back
 *     exactly the input.  That last check rejects every alternative
 *     spelling at once (encoded printable ASCII, split runs, non-zero
 *     padding bits, over-long runs), so that one mailbox has exactly one
 *     name on the wire. */
#include "charset.h"
#include "charset_private.h"

#include <stdlib.h>
#include <string.h>

#include <unicode/utf16.h>
#include <unicode/ustring.h>

#include "xmalloc.h"

static bool mbase64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == ',';
}

static UConverter *mutf7_cnv(const char **error_r)
{
    UConverter *cnv = charset_cnv_get("IMAP-mailbox-name", error_r);
    UErrorCode err = U_ZERO_ERROR;

    if (cnv == NULL)
        return NULL;
    ucnv_setToUCallBack(cnv, UCNV_TO_U_CALLBACK_STOP, NULL, NULL, NULL, &err);
    ucnv_setFromUCallBack(cnv, UCNV_FROM_U_CALLBACK_STOP, NULL, NULL, NULL,
                          &err);
    if (U_FAILURE(err)) {
        *error_r = "cannot set up the modified UTF-7 converter";
        return NULL;
    }
    return cnv;
}

/* Modified UTF-7 of u[0..n), NUL-terminated, in a new allocation. */
static char *encode_utf16(UConverter *cnv, const UChar *u, int32_t n,
                          int32_t *len_r, const char **error_r)
{
    UErrorCode err = U_ZERO_ERROR;
    int32_t len = ucnv_fromUChars(cnv, NULL, 0, u, n, &err);
    char *s;

    if (err != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(err)) {
        *error_r = "mailbox name cannot be encoded";
        return NULL;
    }
    s = xmalloc((size_t)len + 1);
    err = U_ZERO_ERROR;
    len = ucnv_fromUChars(cnv, s, len + 1, u, n, &err);
    if (U_FAILURE(err)) {
        free(s);
        *error_r = "mailbox name cannot be encoded";
        return NULL;
    }
    s[len] = '\0';
    *len_r = len;
    return s;
}

static int check_syntax(const unsigned char *s, size_t len,
                        const char **error_r)
{
    bool shifted = false;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];

        if (c < 0x20 || c > 0x7e) {
            *error_r = "mailbox name has a byte that is not printable ASCII";
            return -1;
        }
        if (!shifted) {
            if (c == '&')
                shifted = true;
        } else if (c == '-') {
            shifted = false;
        } else if (!mbase64_char(c)) {
            *error_r = "invalid modified base64 in mailbox name";
            return -1;
        }
    }
    if (shifted) {
        *error_r = "unterminated &-sequence in mailbox name";
        return -1;
    }
    return 0;
}

static int check_utf16(const UChar *u, int32_t n, const char **error_r)
{
    for (int32_t i = 0; i < n; i++) {
        UChar c = u[i];

        if (c < 0x20 || c == 0x7f) {
            *error_r = "control character in mailbox name";
            return -1;
        }
        if (U16_IS_LEAD(c) && i + 1 < n && U16_IS_TRAIL(u[i + 1])) {
            i++;
        } else if (U16_IS_SURROGATE(c)) {
            *error_r = "unpaired surrogate in mailbox name";
            return -1;
        }
    }
    return 0;
}

int charset_mutf7_to_utf8(const char *mutf7, struct buf *out,
                          const char **error_r)
{
    size_t len = strnlen(mutf7, CHARSET_MAILBOX_NAME_MAX + 1);
    UConverter *cnv;
    UChar *u = NULL;
    char *again = NULL;
    int32_t n16, n8, again_len;
    UErrorCode err = U_ZERO_ERROR;
    int ret = -1;

    if (len > CHARSET_MAILBOX_NAME_MAX) {
        *error_r = "mailbox name too long";
        return -1;
    }
    if (check_syntax((const unsigned char *)mutf7, len, error_r) < 0)
        return -1;
    if ((cnv = mutf7_cnv(error_r)) == NULL)
        return -1;

    /* Every input byte gives at most one UTF-16 unit. */
    u = xcalloc(len + 1, sizeof(UChar));
    n16 = ucnv_toUChars(cnv, u, (int32_t)len + 1, mutf7, (int32_t)len, &err);
    if (U_FAILURE(err)) {
        *error_r = "invalid modified UTF-7 in mailbox name";
        goto out;
    }
    if (check_utf16(u, n16, error_r) < 0)
        goto out;
    again = encode_utf16(cnv, u, n16, &again_len, error_r);
    if (again == NULL)
        goto out;
    if ((size_t)again_len != len || memcmp(again, mutf7, len) != 0) {
        *error_r = "non-canonical modified UTF-7 in mailbox name";
        goto out;
    }

    err = U_ZERO_ERROR;
    u_strToUTF8(NULL, 0, &n8, u, n16, &err);
    if (err != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(err)) {
        *error_r = "invalid modified UTF-7 in mailbox name";
        goto out;
    }
    buf_reserve(out, (size_t)n8);
    err = U_ZERO_ERROR;
    u_strToUTF8(out->data + out->len, n8 + 1, &n8, u, n16, &err);
    if (U_FAILURE(err)) {
        *error_r = "invalid modified UTF-7 in mailbox name";
        goto out;
    }
    out->len += (size_t)n8;
    out->data[out->len] = '\0';
    ret = 0;
out:
    free(u);
    free(again);
    return ret;
}

int charset_utf8_to_mutf7(const char *utf8, struct buf *out,
                          const char **error_r)
{
    size_t len = strnlen(utf8, CHARSET_MAILBOX_NAME_MAX + 1);
    UConverter *cnv;
    UChar *u;
    char *s;
    int32_t n16, n7;
    UErrorCode err = U_ZERO_ERROR;

    if (len > CHARSET_MAILBOX_NAME_MAX) {
        *error_r = "mailbox name too long";
        return -1;
    }
    if (!charset_utf8_valid(utf8, len)) {
        *error_r = "invalid UTF-8 in mailbox name";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)utf8[i];

        if (c < 0x20 || c == 0x7f) {
            *error_r = "control character in mailbox name";
            return -1;
        }
    }
    if ((cnv = mutf7_cnv(error_r)) == NULL)
        return -1;
    /* Every UTF-8 byte gives at most one UTF-16 unit. */
    u = xcalloc(len + 1, sizeof(UChar));
    u_strFromUTF8(u, (int32_t)len + 1, &n16, utf8, (int32_t)len, &err);
    if (U_FAILURE(err)) {
        free(u);
        *error_r = "invalid UTF-8 in mailbox name";
        return -1;
    }
    s = encode_utf16(cnv, u, n16, &n7, error_r);
    free(u);
    if (s == NULL)
        return -1;
    buf_append(out, s, (size_t)n7);
    free(s);
    return 0;
}
