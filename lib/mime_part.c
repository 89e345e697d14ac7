/* mime_part.c - walking and comparing part trees.
 *
 * NAME
 *     mime_part_child, mime_part_find, mime_part_equal - RFC 3501 part
 *     numbers over the tree mime_parse() or mime_cache_decode() built.
 *
 * DESCRIPTION
 *     Part numbering (RFC 3501 6.4.5): the parts of a multipart are
 *     numbered from 1; a part that is not a multipart has only part 1,
 *     itself.  Descending into a message/rfc822 part means descending into
 *     the message it encapsulates: "3.1" of a message/rfc822 part 3 is
 *     part 1 of that message (its first child if it is a multipart, else
 *     its body).  The first number of a path is taken on the top-level
 *     message itself, even when that message is a message/rfc822: part 1
 *     of it is its body (the encapsulated message), as Dovecot does. */
#include "mime.h"

#include <string.h>

/* Part n of part itself (no descent into an encapsulated message). */
static const struct mime_part *nth(const struct mime_part *part, unsigned n)
{
    if (n == 0)
        return NULL;
    if (part->children == NULL)
        return n == 1 ? part : NULL;
    const struct mime_part *c = part->children;
    while (c != NULL && --n > 0)
        c = c->next;
    return c;
}

const struct mime_part *mime_part_child(const struct mime_part *part, unsigned n)
{
    if (part->message != NULL)
        part = part->message;
    return nth(part, n);
}

const struct mime_part *mime_part_find(const struct mime_part *root, const unsigned *path,
                                       unsigned depth)
{
    const struct mime_part *part = root;
    for (unsigned i = 0; i < depth && part != NULL; i++)
        part = i == 0 ? nth(part, path[i]) : mime_part_child(part, path[i]);
    return part;
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool params_equal(const struct mime_param *a, const struct mime_param *b)
{
    for (; a != NULL && b != NULL; a = a->next, b = b->next) {
        if (!str_eq(a->name, b->name) || !str_eq(a->value, b->value))
            return false;
    }
    return a == NULL && b == NULL;
}

static bool addresses_equal(const struct mime_address *a, const struct mime_address *b)
{
    for (; a != NULL && b != NULL; a = a->next, b = b->next) {
        if (!str_eq(a->name, b->name) || !str_eq(a->adl, b->adl) ||
            !str_eq(a->mailbox, b->mailbox) || !str_eq(a->host, b->host))
            return false;
    }
    return a == NULL && b == NULL;
}

static bool envelopes_equal(const struct mime_envelope *a, const struct mime_envelope *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return str_eq(a->date, b->date) && str_eq(a->subject, b->subject) &&
           addresses_equal(a->from, b->from) && addresses_equal(a->sender, b->sender) &&
           addresses_equal(a->reply_to, b->reply_to) && addresses_equal(a->to, b->to) &&
           addresses_equal(a->cc, b->cc) && addresses_equal(a->bcc, b->bcc) &&
           str_eq(a->in_reply_to, b->in_reply_to) && str_eq(a->message_id, b->message_id);
}

static bool part_equal(const struct mime_part *a, const struct mime_part *b, unsigned depth)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (depth > MIME_MAX_DEPTH)
        return false;
    if (a->header_offset != b->header_offset || a->header_size != b->header_size ||
        a->body_offset != b->body_offset || a->body_size != b->body_size ||
        a->body_lines != b->body_lines || a->nchildren != b->nchildren)
        return false;
    if (!str_eq(a->type, b->type) || !str_eq(a->subtype, b->subtype) ||
        !str_eq(a->id, b->id) || !str_eq(a->description, b->description) ||
        !str_eq(a->encoding, b->encoding) || !str_eq(a->md5, b->md5) ||
        !str_eq(a->disposition, b->disposition) || !str_eq(a->language, b->language) ||
        !str_eq(a->location, b->location))
        return false;
    if (!params_equal(a->type_params, b->type_params) ||
        !params_equal(a->disposition_params, b->disposition_params))
        return false;
    if (!envelopes_equal(a->envelope, b->envelope))
        return false;
    /* the sharing of the envelope with the encapsulated message, too */
    if ((a->message != NULL && a->envelope == a->message->envelope) !=
        (b->message != NULL && b->envelope == b->message->envelope))
        return false;
    if (!part_equal(a->message, b->message, depth + 1))
        return false;
    const struct mime_part *ca = a->children, *cb = b->children;
    for (; ca != NULL && cb != NULL; ca = ca->next, cb = cb->next) {
        if (!part_equal(ca, cb, depth + 1))
            return false;
    }
    return ca == NULL && cb == NULL;
}

bool mime_part_equal(const struct mime_part *a, const struct mime_part *b)
{
    return part_equal(a, b, 0);
}
