/* codec.h - base64, quoted-printable, RFC 2047 Q and hex, in plain C.
 *
 * NAME
 *     codec - the transfer encodings of mail and of the protocols.
 *
 * DESCRIPTION
 *     Two kinds of decoders live here, on purpose:
 *
 *     - lenient decoders for message content (MIME bodies, RFC 2047 words),
 *       which never fail: real mail is full of broken encodings and the
 *       best effort is what a reader wants.  The MIME body decoders are
 *       streaming: a small state struct carries what a chunk boundary cut
 *       (a half quantum, a pending "=" or trailing whitespace), so a large
 *       body can be decoded in pieces and the result equals the one-shot
 *       decode whatever the chunk boundaries are.
 *     - strict decoders for protocol use (SASL, AUTHENTICATE, URLAUTH
 *       tokens ...), which return -1 on anything that is not the canonical
 *       form.
 *
 *     Every decoder appends to a struct buf (never resets it) and works on
 *     counted bytes (NUL bytes are ordinary data).  Nothing here knows about
 *     charsets: decoded bytes are handed to charset.h.
 *
 * DIAGNOSTICS
 *     Strict decoders return -1 and set *error_r to a static message; the
 *     buffer is then left as it was before the call. */
#ifndef ROOST_CODEC_H
#define ROOST_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- hex ---- */

/* The value 0..15 of the hex digit c (either case), or -1. */
int codec_hex_value(int c);
/* Append 2*len lowercase hex digits. */
void codec_hex_encode(const void *in, size_t len, struct buf *out);
/* Strict: an even number of hex digits (either case), nothing else.
 * Returns 0, or -1 with *error_r set (out unchanged). */
int codec_hex_decode(const char *in, size_t len, struct buf *out,
                     const char **error_r);

/* ---- base64 (RFC 4648 alphabet "A-Za-z0-9+/", "=" padding) ---- */

/* Append the padded base64 form of in, on one line. */
void codec_base64_encode(const void *in, size_t len, struct buf *out);
/* The same, broken into lines of at most line_len characters (rounded
 * down to a multiple of 4, at least 4), each ending in CRLF, as a MIME
 * body wants (RFC 2045: 76).  Empty input appends nothing. */
void codec_base64_encode_lines(const void *in, size_t len, size_t line_len,
                               struct buf *out);

/* Strict decoding for protocol use: length a multiple of 4, only alphabet
 * characters, "=" only as the final one or two characters, and the unused
 * bits of the last quantum zero (the canonical encoding).  No whitespace.
 * Empty input decodes to nothing.  Returns 0, or -1 with *error_r set
 * (out unchanged). */
int codec_base64_decode_strict(const char *in, size_t len, struct buf *out,
                               const char **error_r);

/* Lenient streaming decoder for MIME bodies (RFC 2045 6.8): characters
 * outside the alphabet (CRLF, spaces, garbage) are skipped, and the first
 * "=" ends the data: everything after it, in this and later chunks, is
 * ignored.  A final partial quantum yields the whole bytes it holds
 * (missing padding is tolerated).  Zero-initialise the state, or call
 * codec_base64_init(); no finishing call is needed. */
struct codec_base64_state {
    uint32_t acc;     /* pending bits, right-aligned */
    unsigned nbits;   /* how many (0..14) */
    bool ended;       /* a "=" was seen */
};
void codec_base64_init(struct codec_base64_state *st);
void codec_base64_decode_chunk(struct codec_base64_state *st, const void *in,
                               size_t len, struct buf *out);
/* One-shot form of the lenient decoder. */
void codec_base64_decode_mime(const void *in, size_t len, struct buf *out);
/* True when c is in the base64 alphabet (not "="). */
bool codec_base64_is_char(int c);

/* ---- quoted-printable (RFC 2045 6.7) ---- */

/* Lenient streaming decoder: "=XX" (hex digits in either case) is the byte
 * XX; "=" at a line end, optionally followed by spaces or tabs (added in
 * transport), is a soft line break (CRLF, bare LF and bare CR line ends
 * alike); whitespace at the end of a line is deleted (RFC 2045 rule 3:
 * transport added it); a "=" not followed by two hex digits or a line end
 * is kept literally ("=4" stays "=4", "=G1" stays "=G1").  Hard line
 * breaks are copied as they are.  A run of more than CODEC_QP_PEND_MAX
 * spaces is passed on rather than held, so the state stays small.
 * Zero-initialise the state or call codec_qp_init(); call
 * codec_qp_decode_finish() after the last chunk: it flushes what was held
 * (a "=" at the very end is a soft break; trailing whitespace at the very
 * end is deleted) and resets the state for reuse. */
#define CODEC_QP_PEND_MAX 64
struct codec_qp_state {
    int state;                               /* private */
    size_t npend;
    unsigned char pend[CODEC_QP_PEND_MAX];   /* held bytes */
};
void codec_qp_init(struct codec_qp_state *st);
void codec_qp_decode_chunk(struct codec_qp_state *st, const void *in,
                           size_t len, struct buf *out);
void codec_qp_decode_finish(struct codec_qp_state *st, struct buf *out);
/* One-shot form. */
void codec_qp_decode(const void *in, size_t len, struct buf *out);

/* ---- RFC 2047 "Q" encoding (4.2) ---- */

/* Decode the encoded-text of a Q encoded-word: "_" is a space (0x20),
 * "=XX" (either case) is the byte XX, a bad "=" is kept literally,
 * everything else is itself.  Never fails. */
void codec_q_decode(const char *in, size_t len, struct buf *out);

#endif
