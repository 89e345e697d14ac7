/* lmtp_data.c - receiving one message (DATA or BDAT) into a stage.
 *
 * The message is written once, as it arrives, into a stage of the store
 * (store/mailbox.h), after the trace fields lmtpd adds (Return-Path,
 * Received).  On the way it is normalised:
 *   - every line ends in CRLF: a bare LF becomes CRLF, and so does a bare
 *     CR (RFC 5322 allows CR and LF only as a pair; IMAP clients choke on
 *     anything else);
 *   - DATA only: a '.' starting a line is removed (RFC 5321 4.5.2), and
 *     the line "." (ended by CRLF, or by a bare LF from a sloppy client)
 *     ends the message.  The CRLF before it belongs to the message.
 * The first LMTP_HEADER_KEEP bytes of the header are kept aside for the
 * Message-ID (duplicate suppression).
 *
 * A message over the size limit or holding a NUL byte is not stored: the
 * stage is dropped at once and the rest of the body is read and thrown
 * away, so the session can answer every recipient and go on.  The parser
 * is a small state machine fed in blocks of any size; the common case (the
 * middle of a line) copies whole spans. */
#include "lmtpd.h"

#include "log.h"
#include "mailbox.h"
#include "mime.h"
#include "stream.h"

#include <string.h>

/* Normalised bytes collected before each write to the stage. */
#define LMTP_BODY_WRITE_SIZE (256 * 1024)
#define LMTP_MESSAGE_ID_MAX 1024

enum {
    BODY_LINE_START,   /* at the start of a line */
    BODY_TEXT,         /* inside a line */
    BODY_CR,           /* after a CR whose LF has not come yet */
    BODY_DOT,          /* DATA: a line started with '.', dropped */
    BODY_DOT_CR,       /* DATA: ".\r" at the start of a line */
};

static void body_fail(struct lmtp_body *b, enum lmtp_body_failure why)
{
    if (b->failure != LMTP_BODY_OK)
        return;
    b->failure = why;
    stage_free(&b->stage);
    buf_free(&b->out);
}

void lmtp_body_begin(struct lmtp_body *b, const struct lmtp_settings *set, const char *prefix,
                     size_t prefix_len)
{
    const char *err;

    memset(b, 0, sizeof(*b));
    b->set = set;
    b->state = BODY_LINE_START;
    buf_init(&b->out);
    buf_init(&b->header);
    if (set->store == NULL) {
        b->failure = LMTP_BODY_INTERNAL;
        return;
    }
    if (stage_begin(set->store, NULL, &b->stage, &err) < 0) {
        log_error("cannot stage a message: %s", err);
        b->failure = LMTP_BODY_INTERNAL;
        return;
    }
    if (stage_write(b->stage, prefix, prefix_len, &err) < 0) {
        log_error("cannot stage a message: %s", err);
        body_fail(b, LMTP_BODY_INTERNAL);
    }
}

/* Keep the start of the header; note when the empty line that ends it has
 * gone by. */
static void body_keep_header(struct lmtp_body *b, const char *data, size_t len)
{
    if (b->header_done)
        return;
    size_t old = b->header.len;
    size_t take = len < LMTP_HEADER_KEEP - old ? len : LMTP_HEADER_KEEP - old;
    buf_append(&b->header, data, take);
    if (b->header.len >= 2 && memcmp(b->header.data, "\r\n", 2) == 0) {
        b->header_done = true;   /* no header at all */
        return;
    }
    size_t from = old >= 3 ? old - 3 : 0;
    if (b->header.len >= 4 && memmem(b->header.data + from, b->header.len - from, "\r\n\r\n", 4))
        b->header_done = true;
    else if (b->header.len >= LMTP_HEADER_KEEP)
        b->header_done = true;   /* an absurd header: keep its start */
}

static void body_flush(struct lmtp_body *b)
{
    const char *err;

    if (b->out.len == 0 || b->failure != LMTP_BODY_OK)
        return;
    body_keep_header(b, b->out.data, b->out.len);
    if (stage_write(b->stage, b->out.data, b->out.len, &err) < 0) {
        log_error("cannot stage a message: %s", err);
        body_fail(b, LMTP_BODY_INTERNAL);
        return;
    }
    buf_reset(&b->out);
}

static void body_emit(struct lmtp_body *b, const char *data, size_t len)
{
    b->size += len;
    if (b->failure != LMTP_BODY_OK)
        return;
    if (b->size > b->set->max_size) {
        body_fail(b, LMTP_BODY_TOO_BIG);
        return;
    }
    buf_append(&b->out, data, len);
    if (b->out.len >= LMTP_BODY_WRITE_SIZE)
        body_flush(b);
}

/* Feed len bytes; dots: DATA rules.  Returns the bytes consumed: all of
 * them, or up to and including the end of the "." line (*ended set). */
static size_t body_feed(struct lmtp_body *b, const char *data, size_t len, bool dots,
                        bool *ended)
{
    const char *p = data, *end = data + len;

    *ended = false;
    while (p < end) {
        char c = *p;
        switch (b->state) {
        case BODY_LINE_START:
            if (dots && c == '.') {
                b->state = BODY_DOT;
                p++;
                continue;
            }
            b->state = BODY_TEXT;
            continue;
        case BODY_TEXT: {
            if (c == '\r') {
                b->state = BODY_CR;
                p++;
                continue;
            }
            if (c == '\n') {
                body_emit(b, "\r\n", 2);
                b->state = BODY_LINE_START;
                p++;
                continue;
            }
            const char *q = p;
            while (q < end && *q != '\r' && *q != '\n')
                q++;
            if (b->failure == LMTP_BODY_OK && memchr(p, '\0', (size_t)(q - p)) != NULL)
                body_fail(b, LMTP_BODY_NUL);
            body_emit(b, p, (size_t)(q - p));
            p = q;
            continue;
        }
        case BODY_CR:
            body_emit(b, "\r\n", 2);
            b->state = BODY_LINE_START;
            if (c == '\n')
                p++;
            continue;   /* a bare CR ended a line: look at c again */
        case BODY_DOT:
            if (c == '\r') {
                b->state = BODY_DOT_CR;
                p++;
                continue;
            }
            if (c == '\n') {
                *ended = true;
                return (size_t)(p + 1 - data);
            }
            b->state = BODY_TEXT;   /* the dot was stuffing */
            continue;
        case BODY_DOT_CR:
            if (c == '\n') {
                *ended = true;
                return (size_t)(p + 1 - data);
            }
            b->state = BODY_CR;     /* ".\r" + something: a line "\r..." */
            continue;
        }
    }
    return len;
}

int lmtp_body_read_data(struct lmtp_body *b, struct lmtp_input *in)
{
    for (;;) {
        const char *p;
        size_t avail = lmtp_input_peek(in, &p);
        if (avail == 0) {
            int r = lmtp_input_fill(in);
            if (r != STREAM_OK)
                return r;
            continue;
        }
        bool ended;
        size_t used = body_feed(b, p, avail, true, &ended);
        lmtp_input_consume(in, used);
        if (ended)
            return STREAM_OK;
    }
}

int lmtp_body_read_chunk(struct lmtp_body *b, struct lmtp_input *in, uint64_t n)
{
    while (n > 0) {
        const char *p;
        size_t avail = lmtp_input_peek(in, &p);
        if (avail == 0) {
            int r = lmtp_input_fill(in);
            if (r != STREAM_OK)
                return r;
            continue;
        }
        size_t take = avail < n ? avail : (size_t)n;
        bool ended;
        (void)body_feed(b, p, take, false, &ended);
        lmtp_input_consume(in, take);
        n -= take;
    }
    return STREAM_OK;
}

void lmtp_body_finish(struct lmtp_body *b)
{
    const char *err;

    if (b->state == BODY_CR) {
        /* BDAT: the body ended on a CR */
        body_emit(b, "\r\n", 2);
        b->state = BODY_LINE_START;
    }
    body_flush(b);
    if (b->failure != LMTP_BODY_OK)
        return;
    if (stage_finish(b->stage, &err) < 0) {
        log_error("cannot stage a message: %s", err);
        body_fail(b, LMTP_BODY_INTERNAL);
        return;
    }
    b->finished = true;
}

bool lmtp_body_message_id(const struct lmtp_body *b, struct buf *out)
{
    buf_reset(out);
    if (b->header.len == 0 ||
        !mime_header_get(b->header.data, b->header.len, "Message-ID", out))
        return false;
    /* trim trailing white space */
    while (out->len > 0 &&
           (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
        buf_truncate(out, out->len - 1);
    return out->len > 0 && out->len <= LMTP_MESSAGE_ID_MAX &&
           memchr(out->data, '\0', out->len) == NULL;
}

void lmtp_body_free(struct lmtp_body *b)
{
    stage_free(&b->stage);
    buf_free(&b->out);
    buf_free(&b->header);
}
