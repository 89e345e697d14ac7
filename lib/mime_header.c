/* mime_header.c - header blocks: where they end, their fields, unfolding.
 *
 * NAME
 *     mime_header_get, mime_header_foreach - field access on raw header
 *     bytes (the cached header of a message, or a part's header).
 *
 * DESCRIPTION
 *     Lines end with LF (CRLF counts as one line end, a bare CR is data).
 *     A field is a line "name:" (name = printable ASCII without ':', blanks
 *     allowed before the colon as RFC 5322 obs-syntax does) plus the lines
 *     that start with a blank after it.  The block ends at the first empty
 *     line or at the first line that is neither a field nor a continuation
 *     (that line is the start of the body); continuation lines before the
 *     first field and a first line starting "From " (an mbox separator)
 *     are skipped.  mime_parse() uses the same rule (mime_hline_classify),
 *     so a header block it cut and the whole message give the same fields.
 *     Everything is a single pass over the bytes. */
#include "mime_private.h"

#include "buf.h"
#include "pool.h"

#include <string.h>
#include <strings.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

enum mime_hline mime_hline_classify(const char *line, size_t len, bool first, size_t *namelen_r,
                                    size_t *colon_r)
{
    if (len == 0)
        return MIME_HLINE_EMPTY;
    if (is_blank(line[0]))
        return MIME_HLINE_CONT;
    size_t i = 0;
    while (i < len && (unsigned char)line[i] > 32 && (unsigned char)line[i] < 127 &&
           line[i] != ':')
        i++;
    size_t namelen = i;
    while (i < len && is_blank(line[i]))
        i++;
    if (namelen > 0 && i < len && line[i] == ':') {
        if (namelen_r != NULL)
            *namelen_r = namelen;
        if (colon_r != NULL)
            *colon_r = i;
        return MIME_HLINE_FIELD;
    }
    if (first && len >= 5 && memcmp(line, "From ", 5) == 0)
        return MIME_HLINE_JUNK;
    return MIME_HLINE_BODY;
}

size_t mime_line_end(const char *data, size_t len, size_t pos, size_t *content_end_r)
{
    const char *nl = memchr(data + pos, '\n', len - pos);
    if (nl == NULL) {
        *content_end_r = len;
        return len;
    }
    size_t e = (size_t)(nl - data);
    *content_end_r = (e > pos && data[e - 1] == '\r') ? e - 1 : e;
    return e + 1;
}

char *mime_unfold_dup(struct pool *pool, const char *value, size_t len)
{
    while (len > 0 && (is_blank(*value) || *value == '\r' || *value == '\n' || *value == '\0')) {
        value++;
        len--;
    }
    char *out = pool_alloc(pool, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (c != '\r' && c != '\n' && c != '\0')
            out[n++] = c;
    }
    while (n > 0 && is_blank(out[n - 1]))
        n--;
    out[n] = '\0';
    return out;
}

void mime_header_foreach(const char *header, size_t len, mime_header_cb *cb, void *ctx)
{
    size_t pos = 0, field_start = 0, namelen = 0;
    bool in_field = false, first = true;

    while (pos < len) {
        size_t content_end, nlen = 0;
        size_t line_end = mime_line_end(header, len, pos, &content_end);
        enum mime_hline cls = mime_hline_classify(header + pos, content_end - pos, first, &nlen,
                                                  NULL);
        first = false;
        if (cls == MIME_HLINE_CONT) {
            pos = line_end;
            continue;
        }
        if (in_field && cb(header + field_start, namelen, header + field_start,
                           pos - field_start, ctx) != 0)
            return;
        in_field = false;
        if (cls == MIME_HLINE_EMPTY || cls == MIME_HLINE_BODY)
            return;
        if (cls == MIME_HLINE_FIELD) {
            in_field = true;
            field_start = pos;
            namelen = nlen;
        }
        pos = line_end;
    }
    if (in_field)
        (void)cb(header + field_start, namelen, header + field_start, pos - field_start, ctx);
}

struct header_get_ctx {
    const char *name;
    size_t namelen;
    struct buf *value;
    bool found;
};

static int header_get_cb(const char *name, size_t namelen, const char *field, size_t fieldlen,
                         void *context)
{
    struct header_get_ctx *ctx = context;
    if (namelen != ctx->namelen || strncasecmp(name, ctx->name, namelen) != 0)
        return 0;
    const char *colon = memchr(field + namelen, ':', fieldlen - namelen);
    size_t i = (size_t)(colon - field) + 1;   /* the classifier saw the colon */
    while (i < fieldlen && is_blank(field[i]))
        i++;
    /* A value that starts on a continuation line: skip the fold too. */
    while (i < fieldlen) {
        if (field[i] == '\r' && i + 1 < fieldlen && field[i + 1] == '\n')
            i += 2;
        else if (field[i] == '\n')
            i++;
        else if (is_blank(field[i]))
            i++;
        else
            break;
    }
    for (; i < fieldlen; i++) {
        char c = field[i];
        if (c == '\n')
            continue;
        if (c == '\r' && i + 1 < fieldlen && field[i + 1] == '\n')
            continue;
        buf_append_char(ctx->value, c);
    }
    ctx->found = true;
    return 1;
}

bool mime_header_get(const char *header, size_t len, const char *name, struct buf *value_r)
{
    struct header_get_ctx ctx = { name, strlen(name), value_r, false };
    buf_reset(value_r);
    mime_header_foreach(header, len, header_get_cb, &ctx);
    return ctx.found;
}
