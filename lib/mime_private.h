/* mime_private.h - helpers shared by the mime_*.c files (not a public API).
 *
 * NAME
 *     mime_private - header line classification, value unfolding and the
 *     structured-field (Content-Type, Content-Disposition) parsers that
 *     mime_parse.c, mime_header.c and the tests of lib/mime.h share.
 *
 * DESCRIPTION
 *     A header block is a sequence of lines ended by LF (a CR right before
 *     the LF is part of the line end; a bare CR is an ordinary byte).  It
 *     ends at the first empty line (which belongs to the header) or at the
 *     first line that cannot be part of a header (which begins the body):
 *     that rule is mime_hline_classify(), used both by mime_parse() to find
 *     where a header stops and by mime_header_foreach() so that both always
 *     agree on which bytes are header fields. */
#ifndef ROOST_MIME_PRIVATE_H
#define ROOST_MIME_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "mime.h"

struct pool;

/* Longest boundary parameter honoured (RFC 2046 allows 70 bytes); a longer
 * one is ignored (the multipart then has no boundary). */
#define MIME_BOUNDARY_MAX 256
/* Parameters kept per Content-Type / Content-Disposition field. */
#define MIME_MAX_PARAMS 128
/* Addresses kept per address list (group markers included); the rest of
 * a longer list is dropped (a group left open still gets its end marker). */
#define MIME_MAX_ADDRESSES 10000
/* Highest RFC 2231 section number honoured (name*999). */
#define MIME_MAX_SECTION 999

enum mime_hline {
    MIME_HLINE_FIELD,   /* "Name:" ... starts a field */
    MIME_HLINE_CONT,    /* starts with SP or HT: continues the previous field */
    MIME_HLINE_JUNK,    /* part of the header but no field ("From " first line) */
    MIME_HLINE_EMPTY,   /* the empty line that ends a header */
    MIME_HLINE_BODY,    /* not a header line: the body begins here */
};

/* Classify one line of len bytes (without its line end).  first: it is
 * the first line of the header block.  For a field, *namelen_r is the
 * length of the name (trailing blanks before the colon excluded) and
 * *colon_r the offset of the colon. */
enum mime_hline mime_hline_classify(const char *line, size_t len, bool first, size_t *namelen_r,
                                    size_t *colon_r);

/* Find the end of the line that starts at pos: returns the offset just
 * past its LF (or len), with *content_end_r the end of its content (the
 * CR of a CRLF excluded). */
size_t mime_line_end(const char *data, size_t len, size_t pos, size_t *content_end_r);

/* A copy of value[0..len) in pool with every CR, LF and NUL removed (this
 * unfolds a field) and leading and trailing blanks trimmed. */
char *mime_unfold_dup(struct pool *pool, const char *value, size_t len);

/* Skip blanks, CR, LF and (nested) RFC 822 comments; returns the first
 * other byte (or the terminating NUL). */
const char *mime_skip_cfws(const char *p);

/* Parse a Content-Type value (unfolded, NUL-terminated).  Returns false
 * when no valid type/subtype is present (*type_r and *subtype_r are then
 * NULL); parameters are parsed either way. */
bool mime_content_type_parse(const char *value, struct pool *pool, const char **type_r,
                             const char **subtype_r, struct mime_param **params_r);
/* Parse a Content-Disposition value; *disposition_r is NULL when there is
 * no disposition type (parameters are then dropped too). */
void mime_disposition_parse(const char *value, struct pool *pool, const char **disposition_r,
                            struct mime_param **params_r);
/* Parse the parameter list that follows a ';' (p points anywhere in a
 * value: everything up to the first ';' is skipped), joining and decoding
 * RFC 2231 continuations. */
struct mime_param *mime_params_parse(const char *p, struct pool *pool);

#endif
