/* lmtp_input.c - the LMTP session's input buffer.
 *
 * Commands are lines; a message body is a run of bytes whose end only the
 * body parser can find, and a pipelining client may have sent the next
 * commands right behind it.  So lmtpd keeps its own buffer over the
 * stream: lines come out of it (with the same limits and flags as
 * stream_read_line()), and the body parser takes bytes from it in big
 * blocks and gives back, untouched, whatever follows the body. */
#include "lmtpd.h"

#include "stream.h"
#include "xmalloc.h"

#include <string.h>

void lmtp_input_init(struct lmtp_input *in, struct stream *stream)
{
    memset(in, 0, sizeof(*in));
    in->stream = stream;
    in->data = xmalloc(LMTP_INPUT_SIZE);
}

void lmtp_input_free(struct lmtp_input *in)
{
    free(in->data);
    in->data = NULL;
}

size_t lmtp_input_peek(const struct lmtp_input *in, const char **p_r)
{
    *p_r = in->data + in->pos;
    return in->len - in->pos;
}

void lmtp_input_consume(struct lmtp_input *in, size_t n)
{
    if (n > in->len - in->pos)
        n = in->len - in->pos;
    in->pos += n;
    if (in->pos == in->len)
        in->pos = in->len = 0;
}

void lmtp_input_drop(struct lmtp_input *in)
{
    in->pos = in->len = 0;
    in->discarding = false;
    in->discarded = 0;
}

int lmtp_input_fill(struct lmtp_input *in)
{
    if (in->pos > 0) {
        memmove(in->data, in->data + in->pos, in->len - in->pos);
        in->len -= in->pos;
        in->pos = 0;
    }
    if (in->len == LMTP_INPUT_SIZE)
        return STREAM_OK;   /* full: the caller has work to do first */
    ssize_t n = stream_read(in->stream, in->data + in->len, LMTP_INPUT_SIZE - in->len);
    if (n <= 0)
        return (int)n;
    in->len += (size_t)n;
    return STREAM_OK;
}

int lmtp_input_line(struct lmtp_input *in, size_t max, struct buf *line, unsigned *flags_r)
{
    size_t scanned = 0;   /* bytes after pos known to hold no LF */

    buf_reset(line);
    if (flags_r != NULL)
        *flags_r = 0;
    for (;;) {
        const char *start = in->data + in->pos;
        size_t avail = in->len - in->pos;
        const char *lf = scanned < avail ? memchr(start + scanned, '\n', avail - scanned) : NULL;
        if (lf != NULL) {
            size_t len = (size_t)(lf - start);
            lmtp_input_consume(in, len + 1);
            if (in->discarding) {
                in->discarding = false;
                in->discarded = 0;
                return STREAM_TOO_LONG;
            }
            unsigned flags = 0;
            if (len > 0 && start[len - 1] == '\r')
                len--;
            else
                flags |= STREAM_LINE_BARE_LF;
            if (len > max) {
                buf_append(line, start, max);
                return STREAM_TOO_LONG;
            }
            if (memchr(start, '\0', len) != NULL)
                flags |= STREAM_LINE_NUL;
            if (memchr(start, '\r', len) != NULL)
                flags |= STREAM_LINE_CR;
            /* start stays valid: consume() moves nothing */
            buf_append(line, start, len);
            if (flags_r != NULL)
                *flags_r = flags;
            return STREAM_OK;
        }
        scanned = avail;
        if (in->discarding || avail > max + 1) {
            /* over-long: throw away what we have, keep looking for its end */
            if (!in->discarding)
                buf_append(line, start, max);
            in->discarding = true;
            in->discarded += avail;
            lmtp_input_consume(in, avail);
            scanned = 0;
            if (in->discarded > STREAM_LINE_DISCARD_MAX)
                return STREAM_ERROR;
        }
        int r = lmtp_input_fill(in);
        if (r != STREAM_OK)
            return r;
    }
}
