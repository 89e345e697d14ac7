/* codec.c - base64, quoted-printable, RFC 2047 Q and hex.
 *
 * NAME
 *     codec - transfer encodings (see codec.h for the contracts).
 *
 * DESCRIPTION
 *     Plain byte loops, no tables beyond the 64-character base64 alphabet.
 *     Output goes through struct buf: space is reserved once per call from
 *     the input length (every decoder here shrinks its input, the encoders
 *     grow it by a known factor), then bytes are written in place. */
#include "codec.h"

#include <string.h>

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char hex_lower[] = "0123456789abcdef";

/* Write one byte at the end of b, whose space was reserved before. */
static inline void put_byte(struct buf *b, unsigned char c)
{
    b->data[b->len++] = (char)c;
}

static inline void terminate(struct buf *b)
{
    if (b->data != NULL)
        b->data[b->len] = '\0';
}

int codec_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void codec_hex_encode(const void *in, size_t len, struct buf *out)
{
    const unsigned char *p = in;
    char stage[256];
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        stage[n++] = hex_lower[p[i] >> 4];
        stage[n++] = hex_lower[p[i] & 0x0f];
        if (n == sizeof(stage)) {
            buf_append(out, stage, n);
            n = 0;
        }
    }
    buf_append(out, stage, n);
}

int codec_hex_decode(const char *in, size_t len, struct buf *out,
                     const char **error_r)
{
    if (len % 2 != 0) {
        *error_r = "odd number of hex digits";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (codec_hex_value((unsigned char)in[i]) < 0) {
            *error_r = "invalid hex digit";
            return -1;
        }
    }
    buf_reserve(out, len / 2);
    for (size_t i = 0; i < len; i += 2) {
        int hi = codec_hex_value((unsigned char)in[i]);
        int lo = codec_hex_value((unsigned char)in[i + 1]);
        put_byte(out, (unsigned char)(hi << 4 | lo));
    }
    terminate(out);
    return 0;
}

/* ---- base64 ---- */

static inline int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool codec_base64_is_char(int c)
{
    return c >= 0 && c <= 255 && base64_value((unsigned char)c) >= 0;
}

static void base64_quantum(const unsigned char *p, size_t n, char q[4])
{
    uint32_t v = (uint32_t)p[0] << 16;

    if (n > 1)
        v |= (uint32_t)p[1] << 8;
    if (n > 2)
        v |= p[2];
    q[0] = base64_alphabet[(v >> 18) & 63];
    q[1] = base64_alphabet[(v >> 12) & 63];
    q[2] = n > 1 ? base64_alphabet[(v >> 6) & 63] : '=';
    q[3] = n > 2 ? base64_alphabet[v & 63] : '=';
}

void codec_base64_encode(const void *in, size_t len, struct buf *out)
{
    const unsigned char *p = in;
    char stage[256];
    size_t n = 0;

    for (size_t i = 0; i < len; i += 3) {
        base64_quantum(p + i, len - i < 3 ? len - i : 3, stage + n);
        n += 4;
        if (n == sizeof(stage)) {
            buf_append(out, stage, n);
            n = 0;
        }
    }
    buf_append(out, stage, n);
}

void codec_base64_encode_lines(const void *in, size_t len, size_t line_len,
                               struct buf *out)
{
    const unsigned char *p = in;
    size_t per_line;

    line_len -= line_len % 4;
    if (line_len < 4)
        line_len = 4;
    per_line = line_len / 4 * 3; /* input bytes per line */
    for (size_t i = 0; i < len; i += per_line) {
        size_t n = len - i < per_line ? len - i : per_line;

        codec_base64_encode(p + i, n, out);
        buf_append(out, "\r\n", 2);
    }
}

int codec_base64_decode_strict(const char *in, size_t len, struct buf *out,
                               const char **error_r)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t pad = 0;

    if (len % 4 != 0) {
        *error_r = "base64 length is not a multiple of 4";
        return -1;
    }
    if (len > 0 && p[len - 1] == '=')
        pad = (len > 1 && p[len - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++) {
        if (base64_value(p[i]) < 0) {
            *error_r = p[i] == '=' ? "misplaced base64 padding"
                                   : "invalid base64 character";
            return -1;
        }
    }
    if (len > 0) {
        /* The last quantum's unused bits must be zero. */
        if (pad == 2 && (base64_value(p[len - 3]) & 0x0f) != 0) {
            *error_r = "non-canonical base64 padding bits";
            return -1;
        }
        if (pad == 1 && (base64_value(p[len - 2]) & 0x03) != 0) {
            *error_r = "non-canonical base64 padding bits";
            return -1;
        }
    }
    buf_reserve(out, len / 4 * 3);
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        size_t nchars = (i + 4 == len) ? 4 - pad : 4;

        for (size_t k = 0; k < 4; k++)
            v = v << 6 | (k < nchars ? (uint32_t)base64_value(p[i + k]) : 0);
        put_byte(out, (unsigned char)(v >> 16));
        if (nchars > 2)
            put_byte(out, (unsigned char)(v >> 8));
        if (nchars > 3)
            put_byte(out, (unsigned char)v);
    }
    terminate(out);
    return 0;
}

void codec_base64_init(struct codec_base64_state *st)
{
    st->acc = 0;
    st->nbits = 0;
    st->ended = false;
}

void codec_base64_decode_chunk(struct codec_base64_state *st, const void *in,
                               size_t len, struct buf *out)
{
    const unsigned char *p = in;
    uint32_t acc = st->acc;
    unsigned nbits = st->nbits;

    if (st->ended || len == 0)
        return;
    buf_reserve(out, len / 4 * 3 + 4);
    for (size_t i = 0; i < len; i++) {
        int v = base64_value(p[i]);

        if (v < 0) {
            if (p[i] == '=') {
                st->ended = true;
                break;
            }
            continue; /* CRLF, spaces, garbage */
        }
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            put_byte(out, (unsigned char)(acc >> nbits));
        }
    }
    st->acc = acc & ((1u << nbits) - 1);
    st->nbits = nbits;
    terminate(out);
}

void codec_base64_decode_mime(const void *in, size_t len, struct buf *out)
{
    struct codec_base64_state st;

    codec_base64_init(&st);
    codec_base64_decode_chunk(&st, in, len, out);
}

/* ---- quoted-printable ---- */

enum qp_state {
    QP_TEXT = 0, /* nothing held */
    QP_WS,       /* holding a run of spaces/tabs: trailing if a line end follows */
    QP_EQ,       /* holding "=" */
    QP_EQ_HEX,   /* holding "=X" */
    QP_EQ_WS,    /* holding "=" and spaces/tabs: a soft break if a line end follows */
    QP_EQ_CR,    /* soft break "=" CR seen: swallow one LF */
};

void codec_qp_init(struct codec_qp_state *st)
{
    st->state = QP_TEXT;
    st->npend = 0;
}

static void qp_flush_pending(struct codec_qp_state *st, struct buf *out)
{
    buf_append(out, st->pend, st->npend);
    st->npend = 0;
    st->state = QP_TEXT;
}

static void qp_hold(struct codec_qp_state *st, unsigned char c)
{
    st->pend[st->npend++] = c;
}

void codec_qp_decode_chunk(struct codec_qp_state *st, const void *in,
                           size_t len, struct buf *out)
{
    const unsigned char *p = in;
    size_t i = 0;

    buf_reserve(out, len + CODEC_QP_PEND_MAX);
    while (i < len) {
        unsigned char c = p[i];

        switch (st->state) {
        case QP_TEXT:
            if (c == '=') {
                qp_hold(st, c);
                st->state = QP_EQ;
            } else if (c == ' ' || c == '\t') {
                qp_hold(st, c);
                st->state = QP_WS;
            } else {
                buf_append_char(out, (char)c);
            }
            i++;
            break;
        case QP_WS:
            if (c == ' ' || c == '\t') {
                if (st->npend == CODEC_QP_PEND_MAX) {
                    qp_flush_pending(st, out);
                    st->state = QP_WS;
                }
                qp_hold(st, c);
                i++;
            } else if (c == '\r' || c == '\n') {
                st->npend = 0; /* trailing whitespace: transport added it */
                st->state = QP_TEXT;
            } else {
                qp_flush_pending(st, out);
            }
            break;
        case QP_EQ:
            if (codec_hex_value(c) >= 0) {
                qp_hold(st, c);
                st->state = QP_EQ_HEX;
                i++;
            } else if (c == '\n') {
                st->npend = 0;
                st->state = QP_TEXT; /* soft break */
                i++;
            } else if (c == '\r') {
                st->npend = 0;
                st->state = QP_EQ_CR;
                i++;
            } else if (c == ' ' || c == '\t') {
                qp_hold(st, c);
                st->state = QP_EQ_WS;
                i++;
            } else {
                qp_flush_pending(st, out); /* a lone "=" stays literal */
            }
            break;
        case QP_EQ_HEX:
            if (codec_hex_value(c) >= 0) {
                buf_append_char(out, (char)(codec_hex_value(st->pend[1]) << 4 |
                                            codec_hex_value(c)));
                st->npend = 0;
                st->state = QP_TEXT;
                i++;
            } else {
                qp_flush_pending(st, out); /* "=4" followed by a non-digit */
            }
            break;
        case QP_EQ_WS:
            if (c == ' ' || c == '\t') {
                if (st->npend == CODEC_QP_PEND_MAX) {
                    qp_flush_pending(st, out);
                    st->state = QP_WS;
                }
                qp_hold(st, c);
                i++;
            } else if (c == '\n') {
                st->npend = 0;
                st->state = QP_TEXT;
                i++;
            } else if (c == '\r') {
                st->npend = 0;
                st->state = QP_EQ_CR;
                i++;
            } else {
                /* "= x": not a soft break; "=" is literal, the spaces too */
                qp_flush_pending(st, out);
            }
            break;
        case QP_EQ_CR:
            st->state = QP_TEXT;
            if (c == '\n')
                i++;
            /* else: bare CR ended the soft break; c is ordinary text */
            break;
        }
    }
    terminate(out);
}

void codec_qp_decode_finish(struct codec_qp_state *st, struct buf *out)
{
    switch (st->state) {
    case QP_EQ_HEX:
        qp_flush_pending(st, out); /* "=4" at the very end */
        break;
    default:
        /* "=" or "= " at the end is a soft break; trailing whitespace at
         * the end is deleted like at any line end. */
        break;
    }
    codec_qp_init(st);
    terminate(out);
}

void codec_qp_decode(const void *in, size_t len, struct buf *out)
{
    struct codec_qp_state st;

    codec_qp_init(&st);
    codec_qp_decode_chunk(&st, in, len, out);
    codec_qp_decode_finish(&st, out);
}

/* ---- RFC 2047 Q ---- */

void codec_q_decode(const char *in, size_t len, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)in;

    buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '_') {
            put_byte(out, ' ');
        } else if (p[i] == '=' && i + 2 < len && codec_hex_value(p[i + 1]) >= 0 &&
                   codec_hex_value(p[i + 2]) >= 0) {
            put_byte(out, (unsigned char)(codec_hex_value(p[i + 1]) << 4 |
                                          codec_hex_value(p[i + 2])));
            i += 2;
        } else {
            put_byte(out, p[i]);
        }
    }
    terminate(out);
}
