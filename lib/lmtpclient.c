/* lmtpclient.c - the client side of LMTP and SMTP (see lmtpclient.h).
 *
 * Replies are read line by line through the stream's bounded line reader;
 * the body of a transaction is normalised on the way out (CRLF line ends,
 * dot-stuffing) with a small state machine that survives being fed the
 * message in arbitrary pieces. */
#include "lmtpclient.h"

#include "buf.h"
#include "net.h"
#include "saslclient.h"
#include "str.h"
#include "stream.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lmtpclient {
    struct stream *stream;
    enum lmtpclient_proto proto;
    bool own_fd;
    int fd;
    char *ext[LMTPCLIENT_MAX_EXTENSIONS];   /* "SIZE 1000", "PIPELINING" ... */
    unsigned next;
    struct buf line;
    struct buf out;                         /* body output being built */
    bool line_start, pending_cr;            /* body normaliser state */
    char error[512];
};

int lmtpclient_reply_class(const struct lmtpclient_reply *reply)
{
    if (reply->code < 200 || reply->code > 599)
        return 4;
    return reply->code / 100;
}

void lmtpclient_reply_format(const struct lmtpclient_reply *reply, char *out, size_t outsize)
{
    struct buf b = BUF_INIT;

    if (reply->code == 0) {
        buf_append_str(&b, "(no reply)");
    } else {
        buf_printf(&b, "%d", reply->code);
        if (reply->status[0] != '\0')
            buf_printf(&b, " %s", reply->status);
        if (reply->text[0] != '\0')
            buf_append_char(&b, ' ');
        for (const char *p = reply->text; *p != '\0'; p++) {
            if (*p == '\n')
                buf_append_str(&b, "; ");
            else
                buf_append_char(&b, *p);
        }
    }
    str_copy(out, outsize, buf_cstr(&b));
    buf_free(&b);
}

static int lc_fail(struct lmtpclient *c, const char **error_r, const char *what)
{
    const char *why = stream_error(c->stream);
    snprintf(c->error, sizeof(c->error), "%s%s%s", what, why != NULL ? ": " : "",
             why != NULL ? why : "");
    *error_r = c->error;
    return -1;
}

static void lc_forget_extensions(struct lmtpclient *c)
{
    for (unsigned i = 0; i < c->next; i++) {
        free(c->ext[i]);
        c->ext[i] = NULL;
    }
    c->next = 0;
}

struct lmtpclient *lmtpclient_new(struct stream *stream, enum lmtpclient_proto proto)
{
    struct lmtpclient *c = xcalloc(1, sizeof(*c));
    c->stream = stream;
    c->proto = proto;
    c->fd = -1;
    buf_init(&c->line);
    buf_init(&c->out);
    return c;
}

void lmtpclient_free(struct lmtpclient **cp)
{
    struct lmtpclient *c = *cp;
    if (c == NULL)
        return;
    lc_forget_extensions(c);
    if (c->own_fd) {
        stream_free(&c->stream);
        close(c->fd);
    }
    buf_free(&c->line);
    buf_free(&c->out);
    free(c);
    *cp = NULL;
}

struct stream *lmtpclient_stream(struct lmtpclient *c)
{
    return c->stream;
}

/* The enhanced status code at the start of text ("2.1.5 "), when its class
 * matches the reply's: its length, else 0. */
static size_t lc_status_len(const char *text, int code)
{
    const char *p = text;
    if (p[0] != '0' + code / 100 || p[1] != '.')
        return 0;
    p += 2;
    for (int part = 0; part < 2; part++) {
        unsigned digits = 0;
        while (isdigit((unsigned char)*p) && digits < 4) {
            p++;
            digits++;
        }
        if (digits == 0 || digits > 3)
            return 0;
        if (part == 0) {
            if (*p != '.')
                return 0;
            p++;
        }
    }
    if (*p != '\0' && *p != ' ')
        return 0;
    return (size_t)(p - text);
}

/* Read one whole reply.  collect: remember the lines after the first as
 * extensions (LHLO/EHLO). */
static int lc_read_reply(struct lmtpclient *c, struct lmtpclient_reply *reply, bool collect,
                         const char **error_r)
{
    struct buf text = BUF_INIT;
    int code = 0;

    memset(reply, 0, sizeof(*reply));
    if (collect)
        lc_forget_extensions(c);
    for (unsigned n = 0;; n++) {
        unsigned flags = 0;
        int r = stream_read_line(c->stream, &c->line, LMTPCLIENT_LINE_MAX, &flags);
        if (r == STREAM_TOO_LONG) {
            buf_free(&text);
            snprintf(c->error, sizeof(c->error), "protocol error: reply line too long");
            *error_r = c->error;
            return -1;
        }
        if (r != STREAM_OK) {
            buf_free(&text);
            return lc_fail(c, error_r, r == STREAM_EOF ? "connection closed by the server"
                                       : r == STREAM_TIMEOUT ? "timed out waiting for a reply"
                                       : "reading a reply");
        }
        const char *l = c->line.data;
        bool bad = n >= LMTPCLIENT_REPLY_LINES || c->line.len < 3 || (flags & STREAM_LINE_NUL) ||
                   !isdigit((unsigned char)l[0]) || !isdigit((unsigned char)l[1]) ||
                   !isdigit((unsigned char)l[2]) ||
                   (c->line.len > 3 && l[3] != ' ' && l[3] != '-');
        int this_code = bad ? 0 : (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
        if (!bad && (this_code < 200 || this_code > 599 || (n > 0 && this_code != code)))
            bad = true;
        if (bad) {
            buf_free(&text);
            snprintf(c->error, sizeof(c->error), "protocol error: bad reply line \"%.80s\"",
                     buf_cstr(&c->line));
            *error_r = c->error;
            return -1;
        }
        code = this_code;
        const char *t = c->line.len > 4 ? l + 4 : "";
        size_t slen = lc_status_len(t, code);
        if (n == 0 && slen > 0 && slen < sizeof(reply->status)) {
            memcpy(reply->status, t, slen);
            reply->status[slen] = '\0';
        }
        if (slen > 0)
            t += slen + (t[slen] == ' ' ? 1 : 0);
        if (collect && n > 0 && c->next < LMTPCLIENT_MAX_EXTENSIONS)
            c->ext[c->next++] = xstrdup(t);
        if (n > 0)
            buf_append_char(&text, '\n');
        buf_append_str(&text, t);
        if (c->line.len <= 3 || l[3] == ' ')
            break;
    }
    reply->code = code;
    str_copy(reply->text, sizeof(reply->text), buf_cstr(&text));
    buf_free(&text);
    return 0;
}

int lmtpclient_greeting(struct lmtpclient *c, struct lmtpclient_reply *reply_r,
                        const char **error_r)
{
    return lc_read_reply(c, reply_r, false, error_r);
}

int lmtpclient_connect(const char *address, enum lmtpclient_proto proto, int timeout_ms,
                       struct lmtpclient **c_r, const char **error_r)
{
    struct lmtpclient_reply greeting;
    int fd = net_connect(address, timeout_ms, error_r);

    *c_r = NULL;
    if (fd < 0)
        return -1;
    net_set_nodelay(fd);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, timeout_ms);
    struct lmtpclient *c = lmtpclient_new(s, proto);
    c->own_fd = true;
    c->fd = fd;
    if (lc_read_reply(c, &greeting, false, error_r) < 0) {
        static char msg[600];
        snprintf(msg, sizeof(msg), "%s", *error_r);
        *error_r = msg;
        lmtpclient_free(&c);
        return -1;
    }
    if (greeting.code != 220) {
        static char msg[LMTPCLIENT_TEXT_MAX + 64];
        char line[LMTPCLIENT_TEXT_MAX + 32];
        lmtpclient_reply_format(&greeting, line, sizeof(line));
        snprintf(msg, sizeof(msg), "server refused the connection: %s", line);
        *error_r = msg;
        lmtpclient_free(&c);
        return -1;
    }
    *c_r = c;
    return 0;
}

/* Is s safe to put on a command line (printable, no CR/LF)? */
static bool lc_clean(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

/* Send one command (buffered; flushed by the next read) and read its
 * reply. */
static int lc_command(struct lmtpclient *c, const char *cmd, struct lmtpclient_reply *reply_r,
                      bool collect, const char **error_r)
{
    struct lmtpclient_reply tmp;
    stream_puts(c->stream, cmd);
    stream_puts(c->stream, "\r\n");
    if (stream_flush(c->stream) < 0)
        return lc_fail(c, error_r, "sending a command");
    return lc_read_reply(c, reply_r != NULL ? reply_r : &tmp, collect, error_r);
}

int lmtpclient_hello(struct lmtpclient *c, const char *myname, struct lmtpclient_reply *reply_r,
                     const char **error_r)
{
    struct buf cmd = BUF_INIT;
    int r;

    if (myname == NULL || myname[0] == '\0' || !lc_clean(myname) || strchr(myname, ' ') != NULL) {
        *error_r = "bad client name for LHLO/EHLO";
        return -1;
    }
    lc_forget_extensions(c);
    buf_printf(&cmd, "%s %s", c->proto == LMTPCLIENT_LMTP ? "LHLO" : "EHLO", myname);
    r = lc_command(c, buf_cstr(&cmd), reply_r, true, error_r);
    if (r == 0 && c->proto == LMTPCLIENT_SMTP && lmtpclient_reply_class(reply_r) == 5) {
        buf_reset(&cmd);
        buf_printf(&cmd, "HELO %s", myname);
        lc_forget_extensions(c);
        r = lc_command(c, buf_cstr(&cmd), reply_r, false, error_r);
    }
    if (r == 0 && reply_r->code != 250)
        lc_forget_extensions(c);
    buf_free(&cmd);
    return r;
}

static const char *lc_find_ext(const struct lmtpclient *c, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < c->next; i++) {
        const char *e = c->ext[i];
        if (strncasecmp(e, name, n) == 0 && (e[n] == '\0' || e[n] == ' ' || e[n] == '='))
            return e[n] == '\0' ? e + n : e + n + 1;
    }
    return NULL;
}

bool lmtpclient_has_extension(const struct lmtpclient *c, const char *name)
{
    return lc_find_ext(c, name) != NULL;
}

const char *lmtpclient_extension_param(const struct lmtpclient *c, const char *name)
{
    return lc_find_ext(c, name);
}

int lmtpclient_starttls(struct lmtpclient *c, SSL_CTX *ctx, const char *servername,
                        struct lmtpclient_reply *reply_r, const char **error_r)
{
    if (lc_command(c, "STARTTLS", reply_r, false, error_r) < 0)
        return -1;
    if (reply_r->code != 220)
        return 0;
    lc_forget_extensions(c);
    const char *err;
    if (stream_starttls_client(c->stream, ctx, servername, &err) < 0) {
        snprintf(c->error, sizeof(c->error), "TLS handshake failed: %s", err);
        *error_r = c->error;
        return -1;
    }
    return 0;
}

int lmtpclient_auth(struct lmtpclient *c, const struct saslclient_settings *set,
                    struct lmtpclient_reply *reply_r, const char **error_r)
{
    struct saslclient *sasl = NULL;
    const char *mechs = lmtpclient_extension_param(c, "AUTH");
    const char *mech, *initial, *err;
    struct buf cmd = BUF_INIT;
    int ret = -1;

    memset(reply_r, 0, sizeof(*reply_r));
    if (mechs == NULL || mechs[0] == '\0') {
        *error_r = "the server offers no AUTH";
        return -1;
    }
    if (saslclient_global_init(&err) < 0 || saslclient_new(set, &sasl, &err) < 0 ||
        saslclient_start(sasl, mechs, true, &mech, &initial, &err) < 0) {
        snprintf(c->error, sizeof(c->error), "SASL: %s", err);
        *error_r = c->error;
        saslclient_free(&sasl);
        return -1;
    }
    buf_printf(&cmd, "AUTH %s", mech);
    if (initial != NULL)
        buf_printf(&cmd, " %s", initial);
    if (lc_command(c, buf_cstr(&cmd), reply_r, false, error_r) < 0)
        goto out;
    for (unsigned steps = 0; reply_r->code == 334; steps++) {
        const char *response;
        if (steps > 32 || saslclient_step(sasl, reply_r->text, &response, &err) < 0) {
            snprintf(c->error, sizeof(c->error), "SASL: %s",
                     steps > 32 ? "too many challenges" : err);
            struct lmtpclient_reply cancel;
            if (lc_command(c, "*", &cancel, false, error_r) == 0)
                *error_r = c->error;
            goto out;
        }
        if (lc_command(c, response, reply_r, false, error_r) < 0)
            goto out;
    }
    if (reply_r->code == 235 && saslclient_finish(sasl, NULL, &err) < 0) {
        snprintf(c->error, sizeof(c->error), "SASL: %s", err);
        *error_r = c->error;
        goto out;
    }
    ret = 0;
out:
    buf_free(&cmd);
    saslclient_free(&sasl);
    return ret;
}

int lmtpclient_noop(struct lmtpclient *c, struct lmtpclient_reply *reply_r, const char **error_r)
{
    return lc_command(c, "NOOP", reply_r, false, error_r);
}

int lmtpclient_rset(struct lmtpclient *c, struct lmtpclient_reply *reply_r, const char **error_r)
{
    return lc_command(c, "RSET", reply_r, false, error_r);
}

void lmtpclient_quit(struct lmtpclient *c)
{
    const char *err;
    struct lmtpclient_reply reply;
    if (c != NULL && !stream_write_failed(c->stream))
        (void)lc_command(c, "QUIT", &reply, false, &err);
}

bool lmtpclient_xtext(const char *s, char *out, size_t outsize)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p >= 33 && *p <= 126 && *p != '+' && *p != '=') {
            if (o + 1 >= outsize)
                return false;
            out[o++] = (char)*p;
        } else {
            if (o + 3 >= outsize)
                return false;
            out[o++] = '+';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (outsize == 0)
        return false;
    out[o] = '\0';
    return true;
}

/* ---- transactions ---- */

static void lc_copy_reply(struct lmtpclient_reply *dst, const struct lmtpclient_reply *src)
{
    memcpy(dst, src, sizeof(*dst));
}

static void lc_rset_quietly(struct lmtpclient *c)
{
    const char *err;
    struct lmtpclient_reply r;
    (void)lmtpclient_rset(c, &r, &err);
}

int lmtpclient_txn_begin(struct lmtpclient *c, struct lmtpclient_txn *txn, const char **error_r)
{
    bool pipelining = lmtpclient_has_extension(c, "PIPELINING");
    const char *from = txn->from != NULL ? txn->from : "";

    memset(&txn->mail_reply, 0, sizeof(txn->mail_reply));
    memset(&txn->data_reply, 0, sizeof(txn->data_reply));
    txn->accepted = 0;
    if (!lc_clean(from) || (txn->mail_params != NULL && !lc_clean(txn->mail_params))) {
        *error_r = "control character in the sender or its parameters";
        return -1;
    }
    if (txn->nrcpts == 0) {
        *error_r = "no recipients";
        return -1;
    }
    for (unsigned i = 0; i < txn->nrcpts; i++) {
        struct lmtpclient_rcpt *r = &txn->rcpts[i];
        memset(&r->rcpt_reply, 0, sizeof(r->rcpt_reply));
        memset(&r->reply, 0, sizeof(r->reply));
        if (r->address == NULL || r->address[0] == '\0' || !lc_clean(r->address) ||
            (r->params != NULL && !lc_clean(r->params))) {
            *error_r = "empty recipient or control character in a recipient";
            return -1;
        }
    }
    c->line_start = true;
    c->pending_cr = false;
    buf_reset(&c->out);

    stream_printf(c->stream, "MAIL FROM:<%s>%s%s\r\n", from,
                  txn->mail_params != NULL && txn->mail_params[0] != '\0' ? " " : "",
                  txn->mail_params != NULL ? txn->mail_params : "");
    if (pipelining) {
        for (unsigned i = 0; i < txn->nrcpts; i++) {
            const struct lmtpclient_rcpt *r = &txn->rcpts[i];
            stream_printf(c->stream, "RCPT TO:<%s>%s%s\r\n", r->address,
                          r->params != NULL && r->params[0] != '\0' ? " " : "",
                          r->params != NULL ? r->params : "");
        }
        stream_puts(c->stream, "DATA\r\n");
    }
    if (stream_flush(c->stream) < 0)
        return lc_fail(c, error_r, "sending MAIL FROM");
    if (lc_read_reply(c, &txn->mail_reply, false, error_r) < 0)
        return -1;
    bool mail_ok = lmtpclient_reply_class(&txn->mail_reply) == 2;
    if (!mail_ok && !pipelining) {
        for (unsigned i = 0; i < txn->nrcpts; i++)
            lc_copy_reply(&txn->rcpts[i].reply, &txn->mail_reply);
        lc_rset_quietly(c);
        return 0;
    }
    for (unsigned i = 0; i < txn->nrcpts; i++) {
        struct lmtpclient_rcpt *r = &txn->rcpts[i];
        if (!pipelining) {
            stream_printf(c->stream, "RCPT TO:<%s>%s%s\r\n", r->address,
                          r->params != NULL && r->params[0] != '\0' ? " " : "",
                          r->params != NULL ? r->params : "");
        }
        if (lc_read_reply(c, &r->rcpt_reply, false, error_r) < 0)
            return -1;
        if (lmtpclient_reply_class(&r->rcpt_reply) == 2 && mail_ok)
            txn->accepted++;
        else
            lc_copy_reply(&r->reply, mail_ok ? &r->rcpt_reply : &txn->mail_reply);
    }
    if (!pipelining) {
        if (txn->accepted == 0) {
            lc_rset_quietly(c);
            return 0;
        }
        stream_puts(c->stream, "DATA\r\n");
    }
    if (lc_read_reply(c, &txn->data_reply, false, error_r) < 0)
        return -1;
    if (txn->data_reply.code != 354) {
        for (unsigned i = 0; i < txn->nrcpts; i++) {
            struct lmtpclient_rcpt *r = &txn->rcpts[i];
            if (r->reply.code == 0)
                lc_copy_reply(&r->reply, &txn->data_reply);
        }
        lc_rset_quietly(c);
        return 0;
    }
    if (txn->accepted == 0) {
        /* The server wants a body although it accepted nobody: end it at
         * once.  SMTP answers it with one reply; an LMTP server owes none,
         * so its state is unknowable: give up on the connection. */
        stream_puts(c->stream, ".\r\n");
        if (c->proto == LMTPCLIENT_LMTP) {
            *error_r = "protocol error: DATA accepted without recipients";
            return -1;
        }
        struct lmtpclient_reply end;
        if (lc_read_reply(c, &end, false, error_r) < 0)
            return -1;
        return 0;
    }
    return 1;
}

/* Move the normalised output to the stream once enough is gathered. */
static void lc_out_flush(struct lmtpclient *c, bool force)
{
    if (c->out.len > 0 && (force || c->out.len >= 65536)) {
        stream_write(c->stream, c->out.data, c->out.len);
        buf_reset(&c->out);
    }
}

void lmtpclient_txn_write(struct lmtpclient *c, const void *data, size_t len)
{
    const char *p = data, *end = p + len;

    while (p < end) {
        if (c->pending_cr) {
            c->pending_cr = false;
            buf_append(&c->out, "\r\n", 2);
            c->line_start = true;
            if (*p == '\n') {
                p++;
                continue;
            }
        }
        if (*p == '\r') {
            c->pending_cr = true;
            p++;
            continue;
        }
        if (*p == '\n') {
            buf_append(&c->out, "\r\n", 2);
            c->line_start = true;
            p++;
            continue;
        }
        if (c->line_start && *p == '.')
            buf_append_char(&c->out, '.');
        /* the rest of the line, up to the next CR or LF */
        const char *q = p;
        while (q < end && *q != '\r' && *q != '\n')
            q++;
        buf_append(&c->out, p, (size_t)(q - p));
        c->line_start = false;
        p = q;
        lc_out_flush(c, false);
    }
    lc_out_flush(c, false);
}

int lmtpclient_txn_end(struct lmtpclient *c, struct lmtpclient_txn *txn, const char **error_r)
{
    if (c->pending_cr) {
        buf_append(&c->out, "\r\n", 2);
        c->pending_cr = false;
        c->line_start = true;
    }
    if (!c->line_start)
        buf_append(&c->out, "\r\n", 2);
    buf_append(&c->out, ".\r\n", 3);
    lc_out_flush(c, true);
    if (stream_flush(c->stream) < 0)
        return lc_fail(c, error_r, "sending the message");
    if (c->proto == LMTPCLIENT_SMTP) {
        struct lmtpclient_reply reply;
        if (lc_read_reply(c, &reply, false, error_r) < 0)
            return -1;
        for (unsigned i = 0; i < txn->nrcpts; i++) {
            if (txn->rcpts[i].reply.code == 0)
                lc_copy_reply(&txn->rcpts[i].reply, &reply);
        }
        return 0;
    }
    for (unsigned i = 0; i < txn->nrcpts; i++) {
        struct lmtpclient_rcpt *r = &txn->rcpts[i];
        if (r->reply.code != 0)
            continue;   /* refused at RCPT */
        if (lc_read_reply(c, &r->reply, false, error_r) < 0)
            return -1;
    }
    return 0;
}
