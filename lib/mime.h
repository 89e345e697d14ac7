/* mime.h - RFC 5322 / MIME parsing into a part tree, and its cache form.
 *
 * mime_parse() walks a whole message once (at delivery/append time) and
 * builds the tree FETCH and SEARCH need: for every part the offsets and
 * sizes of its header and body within the message, its Content-* fields
 * and, for the message itself and every message/rfc822 part, the envelope
 * fields.  Offsets are byte offsets into the original message, so a FETCH
 * of BODY[1.2.MIME] or BODY[2.TEXT] is a seek into the message file.
 *
 * It never fails on bad input: malformed boundaries, missing CRLFs, bare
 * LFs, 8-bit and NUL bytes in headers, unterminated parts, absurd nesting
 * (bounded by MIME_MAX_DEPTH: deeper parts are treated as text/plain
 * leaves), huge lines and huge headers are all parsed into something sane,
 * the way Cyrus and Dovecot do for well-formed mail (RFC 2045/2046 defaults:
 * text/plain; charset=us-ascii, 7bit; message/rfc822 parts contain a
 * message; multipart/digest children default to message/rfc822).
 *
 * The cache form (mime_cache_encode/decode) is a versioned, self-checking
 * byte string the store keeps per message so FETCH never reparses; decode
 * treats it as hostile (it comes from disk). */
#ifndef ROOST_MIME_H
#define ROOST_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct pool;

#define MIME_MAX_DEPTH 64
#define MIME_MAX_PARTS 10000       /* per message; further parts are folded into their parent's body */
#define MIME_CACHE_VERSION 1

/* A parameter list: Content-Type / Content-Disposition parameters with
 * RFC 2231 continuations joined and decoded (value in UTF-8 when a charset
 * was given) and quotes removed. */
struct mime_param {
    const char *name;      /* as written, case preserved */
    const char *value;
    struct mime_param *next;
};

/* An address of an envelope list (RFC 3501 ENVELOPE address structure).
 * Group syntax gives a start marker (mailbox = group name, host NULL) and
 * an end marker (mailbox NULL, host NULL), as IMAP represents it.  Fields
 * are raw (not RFC 2047 decoded) as IMAP sends them; NULL = NIL. */
struct mime_address {
    const char *name;      /* display name (phrase), unquoted */
    const char *adl;       /* source route, usually NULL */
    const char *mailbox;   /* local part */
    const char *host;      /* domain */
    struct mime_address *next;
};

/* RFC 3501 ENVELOPE fields (raw header values, unfolded, NULL = absent).
 * Sender and Reply-To are NOT defaulted to From here (RFC 3501 asks for
 * that in the ENVELOPE sent): the IMAP rendering does it. */
struct mime_envelope {
    const char *date;
    const char *subject;
    struct mime_address *from, *sender, *reply_to, *to, *cc, *bcc;
    const char *in_reply_to;
    const char *message_id;
};

struct mime_part {
    /* Offsets into the message (for the top-level message: header_offset
     * is 0).  For a message/rfc822 part, its own header/body describe the
     * part as a whole and `message` describes the encapsulated message.
     * `envelope` of a message/rfc822 part is message->envelope (the one
     * BODYSTRUCTURE shows), except when the part is itself a message (the
     * top level, or a message encapsulated in a message/rfc822 part): then
     * it is that message's own envelope (the one FETCH ENVELOPE shows), and
     * BODYSTRUCTURE must use message->envelope. */
    uint64_t header_offset, header_size;  /* header including the empty line */
    uint64_t body_offset, body_size;
    uint64_t body_lines;                  /* lines of the body (text/ and message/ parts) */

    const char *type;                     /* lowercase, "text" by default */
    const char *subtype;                  /* lowercase, "plain" by default */
    struct mime_param *type_params;       /* charset=us-ascii default for text */
    const char *id;                       /* Content-ID */
    const char *description;              /* Content-Description */
    const char *encoding;                 /* lowercase, "7bit" by default */
    const char *md5;                      /* Content-MD5 */
    const char *disposition;              /* lowercase, NULL if none */
    struct mime_param *disposition_params;
    const char *language;                 /* Content-Language raw value */
    const char *location;                 /* Content-Location */

    struct mime_envelope *envelope;       /* top level and message/rfc822 only */
    struct mime_part *message;            /* message/rfc822: the encapsulated message */
    struct mime_part *children;           /* multipart: first child */
    struct mime_part *next;               /* next sibling */
    unsigned nchildren;
};

/* Parse data[0..len) (the exact bytes stored, normally CRLF).  Everything is
 * allocated from pool; the result refers to no byte of data (strings are
 * copied) so data may be unmapped afterwards.  Returns the root part. */
struct mime_part *mime_parse(const char *data, size_t len, struct pool *pool);

/* Child n (1-based) of a multipart part, or the part itself for n == 1 of a
 * non-multipart (RFC 3501 part numbering; a message/rfc822 part's children
 * are those of its encapsulated message's body).  NULL when absent. */
const struct mime_part *mime_part_child(const struct mime_part *part, unsigned n);
/* Resolve a part path like {1, 2, 3} (BODY[1.2.3]).  NULL when absent. */
const struct mime_part *mime_part_find(const struct mime_part *root, const unsigned *path,
                                       unsigned depth);
/* Value of a parameter (case-insensitive name), NULL when absent. */
const char *mime_param_get(const struct mime_param *params, const char *name);
/* Deep comparison of two trees (every field of every part, parameters,
 * envelopes, encapsulated messages, children); for tests and checks. */
bool mime_part_equal(const struct mime_part *a, const struct mime_part *b);

/* Header access on raw header bytes (a header block as stored, e.g. the
 * cached header of a message): find the first field called name
 * (case-insensitive) and return its unfolded value (CRLF+WSP joined, leading
 * spaces trimmed) in value_r; returns true if found.  Bounded and linear. */
bool mime_header_get(const char *header, size_t len, const char *name, struct buf *value_r);
/* Call cb for every field in order: cb(name, namelen, raw_field_start,
 * raw_field_len_including_crlf, ctx); stop when cb returns non-0. */
typedef int mime_header_cb(const char *name, size_t namelen, const char *field, size_t fieldlen,
                           void *ctx);
void mime_header_foreach(const char *header, size_t len, mime_header_cb *cb, void *ctx);

/* Parse an address list (From:, To: ...) into pool; never fails (junk
 * gives what can be salvaged, like Cyrus/Dovecot). */
struct mime_address *mime_address_parse(const char *value, struct pool *pool);

/* RFC 5322 date (with the obsolete forms: two-digit years, named zones,
 * missing seconds, missing day of week, extra junk) to UTC time and the
 * zone offset in minutes.  Returns 0 or -1 when no date can be read. */
int mime_date_parse(const char *value, time_t *time_r, int *tz_minutes_r);

/* The cache form of a parsed message: the part tree (offsets, Content-*
 * fields, envelopes) plus a copy of the top-level header block
 * data[0..root->header_size), so FETCH of headers and SEARCH on headers
 * never open the message file.  Appended to out. */
void mime_cache_encode(const struct mime_part *root, const char *data, size_t len,
                       struct buf *out);
/* Decode a cache blob (hostile: bounds-checked, depth-checked, checksum);
 * returns 0 with the tree in pool and the header block pointer/length into
 * the blob, or -1 with *error_r. */
int mime_cache_decode(const void *blob, size_t len, struct pool *pool, struct mime_part **root_r,
                      const char **header_r, size_t *header_len_r, const char **error_r);

#endif
