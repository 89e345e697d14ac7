/* mime_cache.c - the cache form of a parsed message (store format).
 *
 * NAME
 *     mime_cache_encode, mime_cache_decode - the per-message blob the store
 *     keeps so that FETCH ENVELOPE/BODYSTRUCTURE/BODY[HEADER...] and
 *     SEARCH on headers never reparse or open the message file.
 *
 * FORMAT (version 1)
 *     All multi-byte fixed-size integers are little-endian.  "varint" is
 *     an unsigned LEB128 integer (7 bits per byte, low bits first, high bit
 *     set on every byte but the last; at most 10 bytes, values up to
 *     2^64-1).  "nstr" is a nullable string: varint L, where L = 0 means
 *     NULL and L > 0 is followed by L-1 bytes of string (no NUL byte, at
 *     most MIME_CACHE_STRING_MAX bytes, no terminator).
 *
 *     offset  size  field
 *     0       4     magic "RMIM" (0x52 0x4d 0x49 0x4d)
 *     4       1     version: MIME_CACHE_VERSION (1)
 *     5       1     flags: 0 (any other value is rejected)
 *     6       4     N: length of the payload in bytes (uint32)
 *     10      4     CRC-32 (zlib crc32, the ISO-HDLC/IEEE one) of the payload
 *     14      N     payload; nothing may follow it
 *
 *     payload:
 *       varint  H              length of the header block
 *       H bytes                the top-level header, data[0..H), including
 *                              its empty line (H = root header_size)
 *       varint  P              number of part records that follow (1..MIME_MAX_PARTS)
 *       part                   the root part; parts nest in pre-order
 *
 *     part:
 *       varint  flags          bit 0: an envelope record follows
 *                              bit 1: the envelope is the encapsulated
 *                                     message's (message/rfc822 part;
 *                                     needs bit 2, excludes bit 0)
 *                              bit 2: an encapsulated message follows
 *                              other bits: 0
 *       varint  header_offset, header_size, body_offset, body_size, body_lines
 *       nstr    type, subtype, encoding (never NULL), id, description, md5,
 *               disposition, language, location
 *       params  type_params
 *       params  disposition_params
 *       [envelope]             if flags bit 0
 *       varint  C              number of children (0 when bit 2 is set)
 *       [part]                 the encapsulated message, if flags bit 2
 *       C x part               the children, in order
 *
 *     params:   varint count, then count x (nstr name, nstr value), never NULL
 *     envelope: nstr date, nstr subject, addresses from, sender, reply_to,
 *               to, cc, bcc, nstr in_reply_to, nstr message_id
 *     addresses: varint count, then count x (nstr name, nstr adl,
 *               nstr mailbox, nstr host)
 *
 *     Decoding checks, besides bounds: magic, version, flags, length, CRC;
 *     depth below MIME_MAX_DEPTH (root = 0); at most MIME_MAX_PARTS parts
 *     and exactly P; body_offset = header_offset + header_size without
 *     overflow; the root at offset 0 with header_size = H; every child
 *     and encapsulated message inside its parent's body, children in order
 *     and not overlapping.  A blob of another version is rejected (the
 *     caller reparses the message and writes a new blob).
 *
 * DESCRIPTION
 *     The encoder recurses at most MIME_MAX_DEPTH levels (a deeper tree is
 *     a bug: log_panic); so does the decoder, which checks the depth
 *     before recursing. */
#include "mime.h"

#include "buf.h"
#include "log.h"
#include "pool.h"

#include <string.h>
#include <zlib.h>

#define CACHE_MAGIC "RMIM"
#define CACHE_HDR_SIZE 14
#define MIME_CACHE_STRING_MAX (16u * 1024 * 1024)

#define PF_ENVELOPE 1u
#define PF_ENVELOPE_SHARED 2u
#define PF_MESSAGE 4u

/* ---- encoding ---- */

static void put_varint(struct buf *out, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            b[n] |= 0x80;
        n++;
    } while (v != 0);
    buf_append(out, b, n);
}

static void put_nstr(struct buf *out, const char *s)
{
    if (s == NULL) {
        put_varint(out, 0);
        return;
    }
    size_t len = strlen(s);
    if (len > MIME_CACHE_STRING_MAX)
        len = MIME_CACHE_STRING_MAX;   /* cannot come from mime_parse() of sane sizes */
    put_varint(out, (uint64_t)len + 1);
    buf_append(out, s, len);
}

static void put_params(struct buf *out, const struct mime_param *p)
{
    uint64_t n = 0;
    for (const struct mime_param *q = p; q != NULL; q = q->next)
        n++;
    put_varint(out, n);
    for (; p != NULL; p = p->next) {
        put_nstr(out, p->name != NULL ? p->name : "");
        put_nstr(out, p->value != NULL ? p->value : "");
    }
}

static void put_addresses(struct buf *out, const struct mime_address *a)
{
    uint64_t n = 0;
    for (const struct mime_address *q = a; q != NULL; q = q->next)
        n++;
    put_varint(out, n);
    for (; a != NULL; a = a->next) {
        put_nstr(out, a->name);
        put_nstr(out, a->adl);
        put_nstr(out, a->mailbox);
        put_nstr(out, a->host);
    }
}

static void put_envelope(struct buf *out, const struct mime_envelope *env)
{
    put_nstr(out, env->date);
    put_nstr(out, env->subject);
    put_addresses(out, env->from);
    put_addresses(out, env->sender);
    put_addresses(out, env->reply_to);
    put_addresses(out, env->to);
    put_addresses(out, env->cc);
    put_addresses(out, env->bcc);
    put_nstr(out, env->in_reply_to);
    put_nstr(out, env->message_id);
}

static uint64_t count_parts(const struct mime_part *part, unsigned depth)
{
    if (depth >= MIME_MAX_DEPTH)
        log_panic("mime_cache_encode: tree deeper than MIME_MAX_DEPTH");
    uint64_t n = 1;
    if (part->message != NULL)
        n += count_parts(part->message, depth + 1);
    for (const struct mime_part *c = part->children; c != NULL; c = c->next)
        n += count_parts(c, depth + 1);
    return n;
}

static void put_part(struct buf *out, const struct mime_part *part)
{
    unsigned flags = 0;
    if (part->message != NULL) {
        flags |= PF_MESSAGE;
        if (part->envelope != NULL && part->envelope == part->message->envelope)
            flags |= PF_ENVELOPE_SHARED;
    }
    if (part->envelope != NULL && (flags & PF_ENVELOPE_SHARED) == 0)
        flags |= PF_ENVELOPE;
    put_varint(out, flags);
    put_varint(out, part->header_offset);
    put_varint(out, part->header_size);
    put_varint(out, part->body_offset);
    put_varint(out, part->body_size);
    put_varint(out, part->body_lines);
    put_nstr(out, part->type != NULL ? part->type : "text");
    put_nstr(out, part->subtype != NULL ? part->subtype : "plain");
    put_nstr(out, part->encoding != NULL ? part->encoding : "7bit");
    put_nstr(out, part->id);
    put_nstr(out, part->description);
    put_nstr(out, part->md5);
    put_nstr(out, part->disposition);
    put_nstr(out, part->language);
    put_nstr(out, part->location);
    put_params(out, part->type_params);
    put_params(out, part->disposition_params);
    if ((flags & PF_ENVELOPE) != 0)
        put_envelope(out, part->envelope);
    uint64_t nchildren = 0;
    if (part->message == NULL) {
        for (const struct mime_part *c = part->children; c != NULL; c = c->next)
            nchildren++;
    }
    put_varint(out, nchildren);
    if (part->message != NULL)
        put_part(out, part->message);
    else {
        for (const struct mime_part *c = part->children; c != NULL; c = c->next)
            put_part(out, c);
    }
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

void mime_cache_encode(const struct mime_part *root, const char *data, size_t len,
                       struct buf *out)
{
    if (root->header_offset != 0 || root->header_size > len)
        log_panic("mime_cache_encode: root header outside the message");
    if (root->message != NULL && root->children != NULL)
        log_panic("mime_cache_encode: part with both children and a message");
    size_t start = out->len;
    unsigned char hdr[CACHE_HDR_SIZE] = { 'R', 'M', 'I', 'M', MIME_CACHE_VERSION, 0 };
    buf_append(out, hdr, sizeof(hdr));
    size_t payload = out->len;
    put_varint(out, root->header_size);
    buf_append(out, data, (size_t)root->header_size);
    put_varint(out, count_parts(root, 0));
    put_part(out, root);
    size_t n = out->len - payload;
    if (n > UINT32_MAX)
        log_panic("mime_cache_encode: cache form over 4 GiB");
    unsigned char *h = (unsigned char *)out->data + start;
    put_u32(h + 6, (uint32_t)n);
    put_u32(h + 10, (uint32_t)crc32(0L, (const Bytef *)out->data + payload, (uInt)n));
}

/* ---- decoding ---- */

struct reader {
    const unsigned char *p, *end;
    struct pool *pool;
    uint64_t nparts, declared;
    const char *error;
};

static bool fail(struct reader *r, const char *error)
{
    if (r->error == NULL)
        r->error = error;
    return false;
}

static bool get_varint(struct reader *r, uint64_t *v_r)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (r->p >= r->end)
            return fail(r, "truncated");
        unsigned char b = *r->p++;
        if (shift == 63 && b > 1)
            return fail(r, "number overflow");   /* also: more than 10 bytes */
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v_r = v;
            return true;
        }
    }
}

static bool get_nstr(struct reader *r, const char **s_r)
{
    uint64_t l;
    if (!get_varint(r, &l))
        return false;
    if (l == 0) {
        *s_r = NULL;
        return true;
    }
    l--;
    if (l > MIME_CACHE_STRING_MAX)
        return fail(r, "string too long");
    if (l > (uint64_t)(r->end - r->p))
        return fail(r, "truncated string");
    if (memchr(r->p, '\0', (size_t)l) != NULL)
        return fail(r, "NUL in string");
    *s_r = pool_strndup(r->pool, (const char *)r->p, (size_t)l);
    r->p += l;
    return true;
}

static bool get_str(struct reader *r, const char **s_r)
{
    if (!get_nstr(r, s_r))
        return false;
    return *s_r != NULL || fail(r, "missing string");
}

static bool get_params(struct reader *r, struct mime_param **params_r)
{
    uint64_t n;
    if (!get_varint(r, &n))
        return false;
    if (n > (uint64_t)(r->end - r->p) / 2)
        return fail(r, "bad parameter count");
    struct mime_param **tail = params_r;
    *tail = NULL;
    for (uint64_t i = 0; i < n; i++) {
        struct mime_param *p = pool_alloc(r->pool, sizeof(*p));
        if (!get_str(r, &p->name) || !get_str(r, &p->value))
            return false;
        *tail = p;
        tail = &p->next;
    }
    return true;
}

static bool get_addresses(struct reader *r, struct mime_address **list_r)
{
    uint64_t n;
    if (!get_varint(r, &n))
        return false;
    if (n > (uint64_t)(r->end - r->p) / 4)
        return fail(r, "bad address count");
    struct mime_address **tail = list_r;
    *tail = NULL;
    for (uint64_t i = 0; i < n; i++) {
        struct mime_address *a = pool_alloc(r->pool, sizeof(*a));
        if (!get_nstr(r, &a->name) || !get_nstr(r, &a->adl) || !get_nstr(r, &a->mailbox) ||
            !get_nstr(r, &a->host))
            return false;
        *tail = a;
        tail = &a->next;
    }
    return true;
}

static bool get_envelope(struct reader *r, struct mime_envelope **env_r)
{
    struct mime_envelope *env = pool_alloc(r->pool, sizeof(*env));
    *env_r = env;
    return get_nstr(r, &env->date) && get_nstr(r, &env->subject) &&
           get_addresses(r, &env->from) && get_addresses(r, &env->sender) &&
           get_addresses(r, &env->reply_to) && get_addresses(r, &env->to) &&
           get_addresses(r, &env->cc) && get_addresses(r, &env->bcc) &&
           get_nstr(r, &env->in_reply_to) && get_nstr(r, &env->message_id);
}

static uint64_t part_end(const struct mime_part *p)
{
    return p->body_offset + p->body_size;   /* checked not to overflow */
}

/* inner lies within the body of outer, starting at or after from */
static bool inside(const struct mime_part *outer, const struct mime_part *inner, uint64_t from)
{
    return inner->header_offset >= from && inner->header_offset >= outer->body_offset &&
           part_end(inner) <= part_end(outer);
}

static bool get_part(struct reader *r, unsigned depth, struct mime_part **part_r)
{
    if (depth >= MIME_MAX_DEPTH)
        return fail(r, "tree too deep");
    if (++r->nparts > r->declared)
        return fail(r, "more parts than declared");
    struct mime_part *part = pool_alloc(r->pool, sizeof(*part));
    *part_r = part;
    uint64_t flags, nchildren;
    if (!get_varint(r, &flags))
        return false;
    if ((flags & ~(uint64_t)(PF_ENVELOPE | PF_ENVELOPE_SHARED | PF_MESSAGE)) != 0)
        return fail(r, "unknown part flags");
    if ((flags & PF_ENVELOPE_SHARED) != 0 &&
        ((flags & PF_MESSAGE) == 0 || (flags & PF_ENVELOPE) != 0))
        return fail(r, "bad envelope flags");
    if (!get_varint(r, &part->header_offset) || !get_varint(r, &part->header_size) ||
        !get_varint(r, &part->body_offset) || !get_varint(r, &part->body_size) ||
        !get_varint(r, &part->body_lines))
        return false;
    if (part->header_offset > UINT64_MAX - part->header_size ||
        part->header_offset + part->header_size != part->body_offset ||
        part->body_offset > UINT64_MAX - part->body_size)
        return fail(r, "bad part offsets");
    if (part->body_lines > part->body_size)
        return fail(r, "bad line count");
    if (!get_str(r, &part->type) || !get_str(r, &part->subtype) ||
        !get_str(r, &part->encoding) || !get_nstr(r, &part->id) ||
        !get_nstr(r, &part->description) || !get_nstr(r, &part->md5) ||
        !get_nstr(r, &part->disposition) || !get_nstr(r, &part->language) ||
        !get_nstr(r, &part->location) || !get_params(r, &part->type_params) ||
        !get_params(r, &part->disposition_params))
        return false;
    if ((flags & PF_ENVELOPE) != 0 && !get_envelope(r, &part->envelope))
        return false;
    if (!get_varint(r, &nchildren))
        return false;
    if (nchildren > r->declared - r->nparts ||
        (nchildren > 0 && (flags & PF_MESSAGE) != 0))
        return fail(r, "bad child count");
    if ((flags & PF_MESSAGE) != 0) {
        if (!get_part(r, depth + 1, &part->message))
            return false;
        if (!inside(part, part->message, 0))
            return fail(r, "message outside its part");
        if ((flags & PF_ENVELOPE_SHARED) != 0)
            part->envelope = part->message->envelope;
    }
    struct mime_part **tail = &part->children;
    uint64_t from = 0;
    for (uint64_t i = 0; i < nchildren; i++) {
        if (!get_part(r, depth + 1, tail))
            return false;
        if (!inside(part, *tail, from))
            return fail(r, "child outside its parent");
        from = part_end(*tail);
        tail = &(*tail)->next;
    }
    part->nchildren = (unsigned)nchildren;
    return true;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int mime_cache_decode(const void *blob, size_t len, struct pool *pool, struct mime_part **root_r,
                      const char **header_r, size_t *header_len_r, const char **error_r)
{
    const unsigned char *b = blob;
    if (len < CACHE_HDR_SIZE || memcmp(b, CACHE_MAGIC, 4) != 0) {
        *error_r = "mime cache: bad magic";
        return -1;
    }
    if (b[4] != MIME_CACHE_VERSION) {
        *error_r = "mime cache: unsupported version";
        return -1;
    }
    if (b[5] != 0) {
        *error_r = "mime cache: unknown flags";
        return -1;
    }
    uint32_t n = get_u32(b + 6);
    if (n != len - CACHE_HDR_SIZE) {
        *error_r = "mime cache: bad length";
        return -1;
    }
    if ((uint32_t)crc32(0L, b + CACHE_HDR_SIZE, (uInt)n) != get_u32(b + 10)) {
        *error_r = "mime cache: checksum mismatch";
        return -1;
    }

    struct reader r = { .p = b + CACHE_HDR_SIZE, .end = b + len, .pool = pool };
    uint64_t hlen;
    struct mime_part *root = NULL;
    if (!get_varint(&r, &hlen))
        goto fail;
    if (hlen > (uint64_t)(r.end - r.p)) {
        fail(&r, "truncated header");
        goto fail;
    }
    const char *header = (const char *)r.p;
    r.p += hlen;
    if (!get_varint(&r, &r.declared))
        goto fail;
    if (r.declared == 0 || r.declared > MIME_MAX_PARTS) {
        fail(&r, "bad part count");
        goto fail;
    }
    if (!get_part(&r, 0, &root))
        goto fail;
    if (r.nparts != r.declared) {
        fail(&r, "fewer parts than declared");
        goto fail;
    }
    if (r.p != r.end) {
        fail(&r, "trailing bytes");
        goto fail;
    }
    if (root->header_offset != 0 || root->header_size != hlen) {
        fail(&r, "header block does not match the root part");
        goto fail;
    }
    *root_r = root;
    *header_r = header;
    *header_len_r = (size_t)hlen;
    return 0;
fail:
    *error_r = r.error != NULL ? r.error : "mime cache: corrupt";
    return -1;
}
