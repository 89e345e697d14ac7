/* charset.c - charset names, the converter cache, conversion and UTF-8.
 *
 * NAME
 *     charset - ICU converters behind charset_to_utf8/charset_from_utf8.
 *
 * DESCRIPTION
 *     A label is resolved to ICU's canonical converter name with
 *     ucnv_getAlias() (a lookup in ICU's alias table, no converter opened),
 *     then to the converter actually used for decoding (the Windows
 *     supersets listed in charset.h), then looked up in a small LRU cache
 *     of open converters.  UTF-8 and US-ASCII input never reach ICU's
 *     converters: UTF-8 is validated (and repaired) here, and US-ASCII
 *     is copied or handed to the unlabelled-text rule.
 *
 *     Conversion goes through ucnv_convertEx() with a dedicated UTF-8
 *     converter on the other side and a fixed pivot buffer, growing the
 *     output buffer when ICU reports it full, so input of any size
 *     converts without an intermediate UTF-16 copy.
 *
 *     Malformed input calls our to-Unicode callback, which writes U+FFFD
 *     (ICU's own substitute callback would write U+001A for some legacy
 *     code pages); an unpaired surrogate on the way out becomes U+FFFD
 *     through the UTF-8 converter's substitution character. */
#include "charset.h"
#include "charset_private.h"

#include <string.h>

#include <unicode/ucnv_cb.h>
#include <unicode/ustring.h>

#include "log.h"
#include "str.h"

#define CNV_CACHE_SIZE 8

struct cnv_slot {
    char name[UCNV_MAX_CONVERTER_NAME_LENGTH + 1]; /* ICU canonical name */
    UConverter *cnv;                               /* NULL: free slot */
    unsigned long used;                            /* LRU clock */
};

static struct cnv_slot cnv_cache[CNV_CACHE_SIZE];
static unsigned long cnv_clock;
static UConverter *utf8_cnv; /* the other side of every conversion */

/* Labels decoded with a superset charset (see charset.h for why).  This
 * only names converters: the mappings themselves are ICU's. */
static const struct {
    const char *label;
    const char *decode_as;
} decode_supersets[] = {
    { "iso-8859-1", "windows-1252" },
    { "iso-8859-9", "windows-1254" },
    { "gb2312", "gb18030" },
    { "gbk", "gb18030" },
    { "euc-kr", "windows-949" },
};
#define N_SUPERSETS (sizeof(decode_supersets) / sizeof(decode_supersets[0]))

/* Canonical names resolved once (pointers into ICU's alias data). */
static bool names_ready;
static const char *canon_utf8, *canon_ascii, *canon_cp1252;
static const char *canon_superset_from[N_SUPERSETS];
static const char *canon_superset_to[N_SUPERSETS];

static const UChar fffd = 0xfffd;

static bool name_syntax_ok(const char *name)
{
    size_t n = 0;

    for (const char *p = name; *p != '\0'; p++, n++) {
        char c = *p;

        if (n >= CHARSET_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
              c == ':' || c == '+'))
            return false;
    }
    return n > 0;
}

/* ICU's canonical name for a label, or NULL when ICU does not know it. */
static const char *canonical_name(const char *name)
{
    UErrorCode err = U_ZERO_ERROR;
    const char *canon;

    if (name == NULL || !name_syntax_ok(name))
        return NULL;
    canon = ucnv_getAlias(name, 0, &err);
    if (U_FAILURE(err) || canon == NULL || *canon == '\0')
        return NULL;
    return canon;
}

static void names_init(void)
{
    if (names_ready)
        return;
    canon_utf8 = canonical_name("utf-8");
    canon_ascii = canonical_name("us-ascii");
    canon_cp1252 = canonical_name("windows-1252");
    if (canon_utf8 == NULL || canon_ascii == NULL || canon_cp1252 == NULL)
        log_fatal("charset: ICU data is missing (no utf-8/us-ascii/windows-1252)");
    for (size_t i = 0; i < N_SUPERSETS; i++) {
        canon_superset_from[i] = canonical_name(decode_supersets[i].label);
        canon_superset_to[i] = canonical_name(decode_supersets[i].decode_as);
    }
    names_ready = true;
}

static bool same_name(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void to_u_fffd(const void *context, UConverterToUnicodeArgs *args,
                      const char *units, int32_t length,
                      UConverterCallbackReason reason, UErrorCode *err)
{
    (void)context;
    (void)units;
    (void)length;
    if (reason != UCNV_UNASSIGNED && reason != UCNV_ILLEGAL &&
        reason != UCNV_IRREGULAR)
        return; /* reset, close, clone: nothing to write */
    *err = U_ZERO_ERROR;
    ucnv_cbToUWriteUChars(args, &fffd, 1, 0, err);
}

static void set_to_u_fffd(UConverter *cnv)
{
    UErrorCode err = U_ZERO_ERROR;

    ucnv_setToUCallBack(cnv, to_u_fffd, NULL, NULL, NULL, &err);
    if (U_FAILURE(err))
        log_panic("charset: ucnv_setToUCallBack: %s", u_errorName(err));
}

static UConverter *open_converter(const char *canon)
{
    UErrorCode err = U_ZERO_ERROR;
    UConverter *cnv = ucnv_open(canon, &err);

    if (U_FAILURE(err)) {
        if (cnv != NULL)
            ucnv_close(cnv);
        return NULL;
    }
    set_to_u_fffd(cnv);
    return cnv;
}

static UConverter *get_utf8_cnv(void)
{
    if (utf8_cnv == NULL) {
        utf8_cnv = open_converter("UTF-8");
        if (utf8_cnv == NULL)
            log_fatal("charset: ICU cannot open a UTF-8 converter");
    } else {
        ucnv_reset(utf8_cnv);
    }
    return utf8_cnv;
}

/* The cached converter for an ICU canonical name. */
static UConverter *cnv_get_canonical(const char *canon, const char **error_r)
{
    struct cnv_slot *victim = &cnv_cache[0];

    if (strlen(canon) >= sizeof(victim->name)) {
        *error_r = "unknown charset";
        return NULL;
    }
    for (size_t i = 0; i < CNV_CACHE_SIZE; i++) {
        struct cnv_slot *s = &cnv_cache[i];

        if (s->cnv != NULL && strcmp(s->name, canon) == 0) {
            s->used = ++cnv_clock;
            ucnv_reset(s->cnv);
            set_to_u_fffd(s->cnv);
            return s->cnv;
        }
        if (victim->cnv != NULL && (s->cnv == NULL || s->used < victim->used))
            victim = s;
    }
    UConverter *cnv = open_converter(canon);
    if (cnv == NULL) {
        *error_r = "unknown charset";
        return NULL;
    }
    if (victim->cnv != NULL)
        ucnv_close(victim->cnv);
    str_copy(victim->name, sizeof(victim->name), canon);
    victim->cnv = cnv;
    victim->used = ++cnv_clock;
    return cnv;
}

UConverter *charset_cnv_get(const char *name, const char **error_r)
{
    const char *canon = canonical_name(name);

    if (canon == NULL) {
        *error_r = "unknown charset";
        return NULL;
    }
    return cnv_get_canonical(canon, error_r);
}

bool charset_is_known(const char *name)
{
    const char *error;

    return charset_cnv_get(name, &error) != NULL;
}

/* Run source -> target over all of in, appending to out.  Returns 0, or
 * -1 with *err_r set (out is then truncated back). */
static int convert(UConverter *target, UConverter *source, const void *in,
                   size_t len, struct buf *out, UErrorCode *err_r)
{
    UChar pivot[1024];
    UChar *pivot_source = pivot, *pivot_target = pivot;
    const char *src = len > 0 ? in : "";
    const char *src_limit = src + len;
    size_t orig_len = out->len;
    size_t room = len < 64 ? 128 : len + len / 2;
    UBool reset = true;

    for (;;) {
        UErrorCode err = U_ZERO_ERROR;
        char *dst, *dst_start;

        buf_reserve(out, room);
        dst_start = dst = out->data + out->len;
        ucnv_convertEx(target, source, &dst, dst_start + room, &src, src_limit,
                       pivot, &pivot_source, &pivot_target, pivot + 1024,
                       reset, true, &err);
        out->len += (size_t)(dst - dst_start);
        out->data[out->len] = '\0';
        reset = false;
        if (err == U_BUFFER_OVERFLOW_ERROR) {
            if (room > SIZE_MAX / 4)
                log_fatal("charset: conversion output too large");
            room *= 2;
            continue;
        }
        if (U_FAILURE(err)) {
            buf_truncate(out, orig_len);
            *err_r = err;
            return -1;
        }
        return 0;
    }
}

/* Decode with the converter of an ICU canonical name. */
static int decode_canonical(const char *canon, const void *in, size_t len,
                            struct buf *out, const char **error_r)
{
    UConverter *src = cnv_get_canonical(canon, error_r);
    UConverter *dst;
    UErrorCode err = U_ZERO_ERROR;

    if (src == NULL)
        return -1;
    dst = get_utf8_cnv();
    ucnv_setFromUCallBack(dst, UCNV_FROM_U_CALLBACK_SUBSTITUTE, NULL, NULL,
                          NULL, &err);
    if (convert(dst, src, in, len, out, &err) < 0) {
        *error_r = "charset conversion failed";
        return -1;
    }
    return 0;
}

static bool all_ascii(const unsigned char *p, size_t len)
{
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;

        memcpy(&w, p + i, 8);
        if ((w & UINT64_C(0x8080808080808080)) != 0)
            return false;
    }
    for (; i < len; i++) {
        if (p[i] >= 0x80)
            return false;
    }
    return true;
}

void charset_8bit_to_utf8(const void *s, size_t len, struct buf *out)
{
    const char *error;

    if (len == 0)
        return;
    if (charset_utf8_valid(s, len)) {
        buf_append(out, s, len);
        return;
    }
    names_init();
    if (decode_canonical(canon_cp1252, s, len, out, &error) < 0)
        log_fatal("charset: cannot decode windows-1252: %s", error);
}

int charset_to_utf8(const char *charset, const void *in, size_t len,
                    struct buf *out, const char **error_r)
{
    const char *canon = canonical_name(charset);

    if (canon == NULL) {
        *error_r = "unknown charset";
        return -1;
    }
    names_init();
    if (same_name(canon, canon_utf8)) {
        charset_utf8_repair(in, len, out);
        return 0;
    }
    if (same_name(canon, canon_ascii)) {
        if (all_ascii(in, len))
            buf_append(out, in, len);
        else
            charset_8bit_to_utf8(in, len, out);
        return 0;
    }
    for (size_t i = 0; i < N_SUPERSETS; i++) {
        if (same_name(canon, canon_superset_from[i]) &&
            canon_superset_to[i] != NULL) {
            canon = canon_superset_to[i];
            break;
        }
    }
    return decode_canonical(canon, in, len, out, error_r);
}

int charset_from_utf8(const char *charset, const char *utf8, size_t len,
                      struct buf *out, const char **error_r)
{
    const char *canon = canonical_name(charset);
    UConverter *dst, *src;
    UErrorCode err = U_ZERO_ERROR;

    if (canon == NULL) {
        *error_r = "unknown charset";
        return -1;
    }
    if (!charset_utf8_valid(utf8, len)) {
        *error_r = "invalid UTF-8";
        return -1;
    }
    names_init();
    if (same_name(canon, canon_utf8)) {
        if (len > 0)
            buf_append(out, utf8, len);
        return 0;
    }
    dst = cnv_get_canonical(canon, error_r);
    if (dst == NULL)
        return -1;
    if (len == 0)
        return 0;
    ucnv_setFromUCallBack(dst, UCNV_FROM_U_CALLBACK_STOP, NULL, NULL, NULL,
                          &err);
    src = get_utf8_cnv();
    if (convert(dst, src, utf8, len, out, &err) < 0) {
        *error_r = (err == U_INVALID_CHAR_FOUND || err == U_ILLEGAL_CHAR_FOUND)
                       ? "character not representable in the charset"
                       : "charset conversion failed";
        return -1;
    }
    return 0;
}

bool charset_utf8_valid(const void *s, size_t len)
{
    const unsigned char *p = s;
    size_t i = 0;

    while (i < len) {
        uint32_t cp;

        if (p[i] < 0x80) {
            /* ASCII runs, eight bytes at a time */
            for (; i + 8 <= len; i += 8) {
                uint64_t w;

                memcpy(&w, p + i, 8);
                if ((w & UINT64_C(0x8080808080808080)) != 0)
                    break;
            }
            while (i < len && p[i] < 0x80)
                i++;
            continue;
        }
        i += charset_utf8_next(p + i, len - i, &cp);
        if (cp == CHARSET_UTF8_INVALID)
            return false;
    }
    return true;
}

void charset_utf8_repair(const void *s, size_t len, struct buf *out)
{
    const unsigned char *p = s;
    size_t i = 0, run = 0; /* p[run..i) is valid and not yet appended */

    if (len == 0)
        return;
    buf_reserve(out, len);
    while (i < len) {
        uint32_t cp;
        size_t n;

        if (p[i] < 0x80) {
            i++;
            continue;
        }
        n = charset_utf8_next(p + i, len - i, &cp);
        if (cp == CHARSET_UTF8_INVALID) {
            buf_append(out, p + run, i - run);
            buf_append(out, "\xef\xbf\xbd", 3);
            run = i + n;
        }
        i += n;
    }
    buf_append(out, p + run, i - run);
}

void charset_deinit(void)
{
    for (size_t i = 0; i < CNV_CACHE_SIZE; i++) {
        if (cnv_cache[i].cnv != NULL)
            ucnv_close(cnv_cache[i].cnv);
        cnv_cache[i].cnv = NULL;
        cnv_cache[i].name[0] = '\0';
        cnv_cache[i].used = 0;
    }
    cnv_clock = 0;
    if (utf8_cnv != NULL)
        ucnv_close(utf8_cnv);
    utf8_cnv = NULL;
    names_ready = false;
    charset_fold_deinit();
}
