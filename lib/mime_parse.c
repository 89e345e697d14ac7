/* mime_parse.c - one pass over a message into its MIME part tree.
 *
 * NAME
 *     mime_parse - build the tree FETCH BODYSTRUCTURE/ENVELOPE/BODY[...]
 *     and SEARCH need, once, at delivery.
 *
 * DESCRIPTION
 *     The message is read line by line, once (LF ends a line, CRLF counts
 *     as one line end, a bare CR is data).  A stack holds the open parts,
 *     outermost first; its index is the part's depth, and it never holds
 *     more than MIME_MAX_DEPTH parts, so nothing recurses.  Each open part
 *     is either reading its header or its body; an open multipart whose
 *     close delimiter has not been seen has an active boundary.
 *
 *     Header: a part's header runs to the empty line (included in
 *     header_size), or up to the first line that cannot be a header line
 *     (no "name:" and no leading blank: the body starts on that line, as
 *     Python's email package does with such mail), or up to a boundary
 *     line of an enclosing multipart (then without the line end before the
 *     boundary, which belongs to the boundary).  See mime_hline_classify().
 *
 *     Boundaries (RFC 2046 5.1.1): a line starting "--" followed by the
 *     boundary of an open multipart; as the RFC says, the rest of the line
 *     need not be empty, and when several open boundaries match, the
 *     longest one wins (then the innermost), which keeps nested boundaries
 *     that prefix each other apart.  A following "--" makes it the close
 *     delimiter.  The line end before the boundary line belongs to the
 *     boundary: a part ends where that line end starts, so neither the
 *     preamble (before the first delimiter) nor the epilogue (after the
 *     close delimiter) is in any child; both are in the multipart's body.
 *     A boundary of an outer multipart closes every part opened inside it
 *     (missing close delimiters); the end of the data closes everything.
 *
 *     Parts: Content-Type decides.  multipart/ with a usable boundary
 *     parameter opens a container; one that ends without any child (no
 *     boundary parameter, or its boundary never seen) gets a single
 *     text/plain child spanning its whole body, with an empty header, so
 *     that every multipart has at least one child as IMAP requires.
 *     message/rfc822 opens the encapsulated message on the part's body,
 *     whatever the transfer encoding (so part->message is never NULL for a
 *     message/rfc822 part).  The envelope BODYSTRUCTURE shows for a
 *     message/rfc822 part is part->message->envelope; part->envelope is the
 *     same pointer, except when the part is itself a message (the top level
 *     "Content-Type: message/rfc822", or one encapsulated in another
 *     message/rfc822): then part->envelope is that message's own (what
 *     FETCH ENVELOPE shows).
 *     A container that would go deeper than MIME_MAX_DEPTH levels or make
 *     the tree hold more than MIME_MAX_PARTS parts is turned into a
 *     text/plain leaf (type, subtype and parameters replaced).  Once
 *     MIME_MAX_PARTS parts exist, further delimiters are ignored: what
 *     follows them stays in the part before.
 *
 *     Defaults (RFC 2045/2046): text/plain, and charset=us-ascii added to
 *     every text/ type without a charset parameter; children of
 *     multipart/digest default to message/rfc822; an invalid Content-Type
 *     (no slash, empty type or subtype) is text/plain with whatever
 *     parameters could be read; transfer encoding "7bit".  The first
 *     occurrence of each field counts.  Field values are unfolded, with CR,
 *     LF and NUL bytes removed and blanks trimmed.
 *
 *     Sizes: body_size is in octets as stored.  body_lines is the number
 *     of LF bytes in the body (what Cyrus and Dovecot report as the line
 *     count: a last line without line end is not counted), set for every
 *     part (IMAP shows it for text/ and message/rfc822 parts only).
 *
 *     Envelope: the top-level message and every encapsulated message get
 *     one (raw, unfolded values; NULL for an absent field).  Sender and
 *     Reply-To are NOT defaulted to From here: RFC 3501 puts that in the
 *     ENVELOPE it sends, so IMAP rendering does it.
 *
 *     Cost: every line is looked at a bounded number of times (a line
 *     that ends a header is looked at again by the part it starts), each
 *     "--" line is compared with at most MIME_MAX_DEPTH boundaries of at
 *     most MIME_BOUNDARY_MAX bytes, and every header byte is parsed once:
 *     linear in the input. */
#include "mime.h"
#include "mime_private.h"

#include "log.h"
#include "pool.h"

#include <string.h>
#include <strings.h>

enum mp_state { MP_NONE, MP_PREAMBLE, MP_CHILD, MP_EPILOGUE };

struct entity {
    struct mime_part *part;
    uint64_t body_lf;          /* LFs before body_offset */
    bool header_done;
    bool first_line;           /* no header line read yet */
    bool digest_child;         /* default type message/rfc822 */
    bool is_message;           /* gets an envelope */
    enum mp_state mp;          /* multipart container state */
    bool digest;               /* a multipart/digest container */
    const char *boundary;      /* NULL: none (never matches) */
    size_t blen;
    struct mime_part *last_child;
    size_t min_end;            /* the end of its last closed child */
};

struct parser {
    const char *data;
    size_t len;
    struct pool *pool;
    struct entity st[MIME_MAX_DEPTH];
    unsigned n;                /* open parts on the stack */
    unsigned nparts;           /* parts created */
    unsigned nactive;          /* open multiparts with an active boundary */
    uint64_t lf;               /* LFs before line_start */
    size_t line_start;
};

/* LF count before pos; pos is line_start or inside the line end just
 * before it (the only positions the parser asks about). */
static uint64_t lf_at(const struct parser *p, size_t pos)
{
    return pos < p->line_start ? p->lf - 1 : p->lf;
}

static size_t eol_before(const struct parser *p, size_t pos)
{
    if (pos == 0 || p->data[pos - 1] != '\n')
        return 0;
    return pos >= 2 && p->data[pos - 2] == '\r' ? 2 : 1;
}

static struct mime_part *new_part(struct parser *p)
{
    p->nparts++;
    return pool_alloc(p->pool, sizeof(struct mime_part));
}

static struct entity *push(struct parser *p, struct mime_part *part, size_t offset)
{
    if (p->n >= MIME_MAX_DEPTH)
        log_panic("mime_parse: stack overflow");
    struct entity *e = &p->st[p->n++];
    memset(e, 0, sizeof(*e));
    e->part = part;
    e->first_line = true;
    part->header_offset = offset;
    return e;
}

static struct mime_param *charset_default(struct parser *p)
{
    struct mime_param *mp = pool_alloc(p->pool, sizeof(*mp));
    mp->name = "charset";
    mp->value = "us-ascii";
    return mp;
}

/* ---- header fields ---- */

enum field {
    F_CONTENT_TYPE, F_CTE, F_CONTENT_ID, F_CONTENT_DESCRIPTION, F_CONTENT_MD5,
    F_CONTENT_DISPOSITION, F_CONTENT_LANGUAGE, F_CONTENT_LOCATION,
    F_FIRST_ENVELOPE,
    F_DATE = F_FIRST_ENVELOPE, F_SUBJECT, F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC, F_BCC,
    F_IN_REPLY_TO, F_MESSAGE_ID,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "content-type", "content-transfer-encoding", "content-id", "content-description",
    "content-md5", "content-disposition", "content-language", "content-location",
    "date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
    "in-reply-to", "message-id",
};

struct fields_ctx {
    bool want_envelope;
    const char *value[F_COUNT];   /* start of the value (after the colon) */
    size_t len[F_COUNT];
    bool seen[F_COUNT];
};

static int field_cb(const char *name, size_t namelen, const char *field, size_t fieldlen,
                    void *context)
{
    struct fields_ctx *ctx = context;
    unsigned last = ctx->want_envelope ? F_COUNT : F_FIRST_ENVELOPE;
    for (unsigned i = 0; i < last; i++) {
        if (ctx->seen[i] || strlen(field_names[i]) != namelen ||
            strncasecmp(name, field_names[i], namelen) != 0)
            continue;
        const char *colon = memchr(field + namelen, ':', fieldlen - namelen);
        ctx->seen[i] = true;
        ctx->value[i] = colon + 1;
        ctx->len[i] = fieldlen - (size_t)(colon + 1 - field);
        break;
    }
    return 0;
}

static const char *field_value(struct parser *p, const struct fields_ctx *f, enum field i)
{
    return f->seen[i] ? mime_unfold_dup(p->pool, f->value[i], f->len[i]) : NULL;
}

static struct mime_address *field_addresses(struct parser *p, const struct fields_ctx *f,
                                            enum field i)
{
    const char *v = field_value(p, f, i);
    return v != NULL ? mime_address_parse(v, p->pool) : NULL;
}

static const char *encoding_of(struct parser *p, const char *value)
{
    if (value == NULL)
        return "7bit";
    const char *s = mime_skip_cfws(value), *e = s;
    while ((unsigned char)*e > 32 && (unsigned char)*e < 127 && *e != '(' && *e != ';')
        e++;
    if (e == s)
        return "7bit";
    char *enc = pool_strndup(p->pool, s, (size_t)(e - s));
    for (char *c = enc; *c != '\0'; c++) {
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    }
    return enc;
}

static void demote_to_text(struct parser *p, struct mime_part *part)
{
    part->type = "text";
    part->subtype = "plain";
    part->type_params = charset_default(p);
}

/* The header of the top part ends at header_end (the body starts there):
 * read its fields and, for a container, open what it contains. */
static void finish_header(struct parser *p, size_t header_end)
{
    unsigned depth = p->n - 1;
    struct entity *e = &p->st[depth];
    struct mime_part *part = e->part;

    part->header_size = header_end - part->header_offset;
    part->body_offset = header_end;
    e->body_lf = lf_at(p, header_end);
    e->header_done = true;

    struct fields_ctx f;
    memset(&f, 0, sizeof(f));
    f.want_envelope = e->is_message;
    mime_header_foreach(p->data + part->header_offset, (size_t)part->header_size, field_cb, &f);

    const char *ct = field_value(p, &f, F_CONTENT_TYPE);
    bool valid = false;
    if (ct != NULL)
        valid = mime_content_type_parse(ct, p->pool, &part->type, &part->subtype,
                                        &part->type_params);
    if (!valid) {
        if (e->digest_child) {
            part->type = "message";
            part->subtype = "rfc822";
        } else {
            part->type = "text";
            part->subtype = "plain";
        }
    }
    part->encoding = encoding_of(p, field_value(p, &f, F_CTE));
    part->id = field_value(p, &f, F_CONTENT_ID);
    part->description = field_value(p, &f, F_CONTENT_DESCRIPTION);
    part->md5 = field_value(p, &f, F_CONTENT_MD5);
    part->language = field_value(p, &f, F_CONTENT_LANGUAGE);
    part->location = field_value(p, &f, F_CONTENT_LOCATION);
    const char *disp = field_value(p, &f, F_CONTENT_DISPOSITION);
    if (disp != NULL)
        mime_disposition_parse(disp, p->pool, &part->disposition, &part->disposition_params);

    if (e->is_message) {
        struct mime_envelope *env = pool_alloc(p->pool, sizeof(*env));
        env->date = field_value(p, &f, F_DATE);
        env->subject = field_value(p, &f, F_SUBJECT);
        env->from = field_addresses(p, &f, F_FROM);
        env->sender = field_addresses(p, &f, F_SENDER);
        env->reply_to = field_addresses(p, &f, F_REPLY_TO);
        env->to = field_addresses(p, &f, F_TO);
        env->cc = field_addresses(p, &f, F_CC);
        env->bcc = field_addresses(p, &f, F_BCC);
        env->in_reply_to = field_value(p, &f, F_IN_REPLY_TO);
        env->message_id = field_value(p, &f, F_MESSAGE_ID);
        part->envelope = env;
        /* the message/rfc822 part shares it, unless it is itself a
         * message with an envelope of its own */
        struct mime_part *container = depth > 0 ? p->st[depth - 1].part : NULL;
        if (container != NULL && container->message == part && container->envelope == NULL)
            container->envelope = env;
    }

    bool room = depth + 1 < MIME_MAX_DEPTH && p->nparts < MIME_MAX_PARTS;
    if (strcmp(part->type, "multipart") == 0) {
        if (!room) {
            demote_to_text(p, part);
        } else {
            e->mp = MP_PREAMBLE;
            e->digest = strcmp(part->subtype, "digest") == 0;
            const char *b = mime_param_get(part->type_params, "boundary");
            if (b != NULL && b[0] != '\0' && strlen(b) <= MIME_BOUNDARY_MAX) {
                e->boundary = b;
                e->blen = strlen(b);
                p->nactive++;
            }
        }
    } else if (strcmp(part->type, "message") == 0 && strcmp(part->subtype, "rfc822") == 0) {
        if (!room) {
            demote_to_text(p, part);
        } else {
            struct mime_part *msg = new_part(p);
            part->message = msg;
            struct entity *m = push(p, msg, header_end);
            m->is_message = true;
            /* its body_lf is set when its header is done */
        }
    }
    if (strcmp(part->type, "text") == 0 && mime_param_get(part->type_params, "charset") == NULL) {
        struct mime_param **tail = &part->type_params;
        while (*tail != NULL)
            tail = &(*tail)->next;
        *tail = charset_default(p);
    }
}

/* Close the top part at end (clamped to where it starts). */
static void close_top(struct parser *p, size_t end)
{
    struct entity *e = &p->st[p->n - 1];
    struct mime_part *part = e->part;

    if (!e->header_done) {
        unsigned before = p->n;
        finish_header(p, end > part->header_offset ? end : (size_t)part->header_offset);
        if (p->n != before)
            return;   /* an encapsulated message opened: close it first */
    }
    /* A part never ends before its last child: when a child's header took
     * the line end before the boundary (its empty line), so does its
     * container, as in Dovecot where a container's size is the sum of its
     * children's. */
    size_t bend = end > part->body_offset ? end : (size_t)part->body_offset;
    if (bend < e->min_end)
        bend = e->min_end;
    part->body_size = bend - part->body_offset;
    part->body_lines = bend > part->body_offset ? lf_at(p, bend) - e->body_lf : 0;
    if (e->mp != MP_NONE) {
        if (e->boundary != NULL && e->mp != MP_EPILOGUE)
            p->nactive--;
        if (part->nchildren == 0) {
            /* room was checked when the container opened */
            struct mime_part *c = new_part(p);
            c->header_offset = part->body_offset;
            c->body_offset = part->body_offset;
            c->body_size = part->body_size;
            c->body_lines = part->body_lines;
            c->type = "text";
            c->subtype = "plain";
            c->type_params = charset_default(p);
            c->encoding = "7bit";
            part->children = c;
            part->nchildren = 1;
        }
    }
    if (p->n >= 2 && p->st[p->n - 2].min_end < bend)
        p->st[p->n - 2].min_end = bend;
    p->n--;
}

/* A "--" line: the index of the open multipart whose boundary it is (the
 * longest match, then the innermost), or -1. */
static int boundary_find(const struct parser *p, const char *line, size_t len, bool *close_r)
{
    int best = -1;
    size_t bestlen = 0;
    for (unsigned i = p->n; i-- > 0;) {
        const struct entity *e = &p->st[i];
        if (e->boundary == NULL || e->mp == MP_EPILOGUE || !e->header_done)
            continue;
        if (e->blen <= len - 2 && memcmp(line + 2, e->boundary, e->blen) == 0 &&
            (best < 0 || e->blen > bestlen)) {
            best = (int)i;
            bestlen = e->blen;
        }
    }
    if (best >= 0)
        *close_r = len - 2 - bestlen >= 2 && line[2 + bestlen] == '-' &&
                   line[3 + bestlen] == '-';
    return best;
}

/* Handle a boundary line [ls, le); false when it is to be read as data. */
static bool boundary_line(struct parser *p, size_t ls, size_t content_end, size_t le)
{
    bool close = false;
    int k = boundary_find(p, p->data + ls, content_end - ls, &close);
    if (k < 0)
        return false;
    if (!close && p->nparts >= MIME_MAX_PARTS)
        return false;
    size_t end = ls - eol_before(p, ls);
    while (p->n > (unsigned)k + 1)
        close_top(p, end);
    struct entity *e = &p->st[k];
    if (close) {
        e->mp = MP_EPILOGUE;
        p->nactive--;
        return true;
    }
    e->mp = MP_CHILD;
    struct mime_part *c = new_part(p);
    if (e->last_child == NULL)
        e->part->children = c;
    else
        e->last_child->next = c;
    e->last_child = c;
    e->part->nchildren++;
    bool digest = e->digest;
    struct entity *ce = push(p, c, le);
    ce->digest_child = digest;
    return true;
}

struct mime_part *mime_parse(const char *data, size_t len, struct pool *pool)
{
    struct parser p = { .data = data, .len = len, .pool = pool };
    struct mime_part *root = new_part(&p);
    push(&p, root, 0)->is_message = true;

    size_t pos = 0;
    while (pos < len) {
        size_t content_end;
        size_t ls = pos;
        size_t le = mime_line_end(data, len, pos, &content_end);
        unsigned has_lf = le > ls && data[le - 1] == '\n';
        p.line_start = ls;

        if (p.nactive > 0 && content_end - ls >= 2 && data[ls] == '-' && data[ls + 1] == '-' &&
            boundary_line(&p, ls, content_end, le)) {
            pos = le;
            p.lf += has_lf;
            continue;
        }
        struct entity *e = &p.st[p.n - 1];
        if (!e->header_done) {
            /* an mbox "From " line is skipped at the top of messages only */
            enum mime_hline cls = mime_hline_classify(data + ls, content_end - ls,
                                                      e->first_line && e->is_message, NULL,
                                                      NULL);
            e->first_line = false;
            if (cls == MIME_HLINE_EMPTY) {
                pos = le;
                p.lf += has_lf;
                p.line_start = pos;
                finish_header(&p, pos);
                continue;
            }
            if (cls == MIME_HLINE_BODY) {
                finish_header(&p, ls);   /* and read this line again as body */
                continue;
            }
        }
        pos = le;
        p.lf += has_lf;
    }
    p.line_start = len;
    while (p.n > 0)
        close_top(&p, len);
    return root;
}
