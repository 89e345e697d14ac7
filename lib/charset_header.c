/* charset_header.c - RFC 2047 encoded-words in header values.
 *
 * NAME
 *     charset_header - charset_decode_header() (contract in charset.h).
 *
 * DESCRIPTION
 *     One pass over the unfolded value.  At each "=?" we try to parse an
 *     encoded-word:
 *
 *         "=?" charset ["*" language] "?" ("B" | "Q") "?" encoded-text "?="
 *
 *     where charset/language are RFC 2047 tokens and encoded-text is
 *     printable ASCII without "?" or space.  The parse never looks past
 *     the second "?" after the encoding letter, and a failed parse resumes
 *     one byte further on; the charset scans of successive attempts cannot
 *     overlap (a token cannot contain "="), nor can the text scans (text
 *     cannot contain "?"), so the whole decode is linear even on a value
 *     made only of "=?".  The RFC's 75-character limit on encoded-words is
 *     not enforced: real mail breaks it, and nothing here depends on it.
 *
 *     Decoded bytes of adjacent encoded-words in the same charset are
 *     collected and converted together; text outside encoded-words is
 *     collected and converted with the unlabelled-text rule.  Whitespace
 *     following an encoded-word is held until we know whether another
 *     encoded-word follows (then it is dropped) or not (then it is text). */
#include "charset.h"

#include <string.h>

#include "codec.h"
#include "str.h"

struct header_decoder {
    struct buf *out;
    struct buf raw;     /* pending text outside encoded-words */
    struct buf words;   /* pending decoded bytes of adjacent encoded-words */
    char words_charset[CHARSET_NAME_MAX + 1];
    struct buf scratch; /* one word's decoded bytes */
};

struct encoded_word {
    const char *charset; /* not NUL-terminated */
    size_t charset_len;
    char encoding;       /* 'B' or 'Q' */
    const char *text;
    size_t text_len;
    size_t total_len;    /* from "=?" to "?=" inclusive */
};

static bool token_char(unsigned char c)
{
    /* RFC 2047 token: CHAR except SPACE, CTLs and especials. */
    if (c <= 0x20 || c >= 0x7f)
        return false;
    return strchr("()<>@,;:\"/[]?.=", c) == NULL;
}

/* Parse an encoded-word at p (p[0..1] == "=?"). */
static bool parse_word(const char *p, size_t len, struct encoded_word *w)
{
    size_t i = 2, cs_end = 0;

    while (i < len && token_char((unsigned char)p[i])) {
        if (p[i] == '*' && cs_end == 0)
            cs_end = i; /* RFC 2231 language follows */
        i++;
    }
    if (cs_end == 0)
        cs_end = i;
    if (cs_end == 2 || cs_end - 2 > CHARSET_NAME_MAX)
        return false;
    if (i + 3 > len || p[i] != '?' || p[i + 2] != '?')
        return false;
    w->encoding = (char)(p[i + 1] & ~0x20);
    if (w->encoding != 'B' && w->encoding != 'Q')
        return false;
    w->charset = p + 2;
    w->charset_len = cs_end - 2;
    i += 3;
    w->text = p + i;
    while (i < len && p[i] != '?' && p[i] > 0x20 && p[i] < 0x7f)
        i++;
    if (i + 1 >= len || p[i] != '?' || p[i + 1] != '=')
        return false;
    w->text_len = (size_t)(p + i - w->text);
    w->total_len = i + 2;
    return true;
}

/* Decode a word's text into d->scratch; false when it is not decodable. */
static bool decode_word_text(struct header_decoder *d,
                             const struct encoded_word *w)
{
    buf_reset(&d->scratch);
    if (w->encoding == 'Q') {
        codec_q_decode(w->text, w->text_len, &d->scratch);
        return true;
    }
    for (size_t i = 0; i < w->text_len; i++) {
        unsigned char c = (unsigned char)w->text[i];

        if (c == '=') {
            /* padding: only "=" may follow */
            for (size_t k = i; k < w->text_len; k++) {
                if (w->text[k] != '=')
                    return false;
            }
            break;
        }
        if (!codec_base64_is_char(c))
            return false;
    }
    codec_base64_decode_mime(w->text, w->text_len, &d->scratch);
    return true;
}

static void flush_raw(struct header_decoder *d)
{
    if (d->raw.len > 0) {
        charset_8bit_to_utf8(d->raw.data, d->raw.len, d->out);
        buf_reset(&d->raw);
    }
}

static void flush_words(struct header_decoder *d)
{
    const char *error;

    if (d->words_charset[0] == '\0')
        return;
    /* The charset was checked when the first word was accepted. */
    if (charset_to_utf8(d->words_charset, d->words.data, d->words.len, d->out,
                        &error) < 0)
        charset_8bit_to_utf8(d->words.data, d->words.len, d->out);
    buf_reset(&d->words);
    d->words_charset[0] = '\0';
}

/* Handle a parsed word; false when it must be left as text. */
static bool take_word(struct header_decoder *d, const struct encoded_word *w)
{
    char charset[CHARSET_NAME_MAX + 1];

    memcpy(charset, w->charset, w->charset_len);
    charset[w->charset_len] = '\0';
    if (d->words_charset[0] != '\0' && str_equal_ci(charset, d->words_charset)) {
        if (!decode_word_text(d, w))
            return false;
    } else {
        if (!charset_is_known(charset) || !decode_word_text(d, w))
            return false;
        flush_words(d);
        str_copy(d->words_charset, sizeof(d->words_charset), charset);
    }
    buf_append(&d->words, d->scratch.data, d->scratch.len);
    return true;
}

/* Unfold: drop CRLF or LF when a space or tab follows. */
static void unfold(const char *value, size_t len, struct buf *u)
{
    size_t run = 0;

    buf_reserve(u, len);
    for (size_t i = 0; i < len; i++) {
        size_t eol = 0;

        if (value[i] == '\r' && i + 1 < len && value[i + 1] == '\n')
            eol = 2;
        else if (value[i] == '\n')
            eol = 1;
        if (eol > 0 && i + eol < len &&
            (value[i + eol] == ' ' || value[i + eol] == '\t')) {
            buf_append(u, value + run, i - run);
            run = i + eol;
            i += eol - 1;
        }
    }
    buf_append(u, value + run, len - run);
}

int charset_decode_header(const char *value, size_t len, struct buf *out_utf8)
{
    struct header_decoder d = { .out = out_utf8 };
    struct buf unfolded = BUF_INIT;
    size_t start_len = out_utf8->len;
    size_t held = 0;        /* start of whitespace held after a word */
    bool after_word = false;
    bool decoded_any = false;
    const char *p;
    size_t n, i = 0;

    if (len == 0)
        return 0;
    buf_init(&d.raw);
    buf_init(&d.words);
    buf_init(&d.scratch);
    d.words_charset[0] = '\0';

    unfold(value, len, &unfolded);
    p = unfolded.data != NULL ? unfolded.data : "";
    n = unfolded.len;

    while (i < n) {
        struct encoded_word w;

        if (p[i] == '=' && i + 1 < n && p[i + 1] == '?' &&
            parse_word(p + i, n - i, &w)) {
            bool was_after_word = after_word;

            if (take_word(&d, &w)) {
                /* Text before the first of a run of words goes out first;
                 * whitespace between two words is dropped. */
                if (!was_after_word)
                    flush_raw(&d);
                decoded_any = true;
                after_word = true;
                i += w.total_len;
                held = i;
                continue;
            }
            /* Undecodable: it is text, as is what was held before it. */
            if (was_after_word) {
                flush_words(&d);
                buf_append(&d.raw, p + held, i - held);
            }
            after_word = false;
            buf_append(&d.raw, p + i, w.total_len);
            i += w.total_len;
            continue;
        }
        if (after_word && (p[i] == ' ' || p[i] == '\t')) {
            i++;
            continue;
        }
        if (after_word) {
            flush_words(&d);
            buf_append(&d.raw, p + held, i - held);
            after_word = false;
        }
        buf_append_char(&d.raw, p[i]);
        i++;
    }
    flush_words(&d);
    if (after_word)
        buf_append(&d.raw, p + held, n - held);
    flush_raw(&d);

    /* Drop NUL bytes, raw or decoded. */
    if (out_utf8->len > start_len &&
        memchr(out_utf8->data + start_len, 0, out_utf8->len - start_len)) {
        size_t k = start_len;

        for (size_t j = start_len; j < out_utf8->len; j++) {
            if (out_utf8->data[j] != '\0')
                out_utf8->data[k++] = out_utf8->data[j];
        }
        buf_truncate(out_utf8, k);
    }

    buf_free(&unfolded);
    buf_free(&d.raw);
    buf_free(&d.words);
    buf_free(&d.scratch);
    return decoded_any ? 1 : 0;
}
