/* lmtp_session.c - the LMTP protocol (RFC 2033) of one connection.
 *
 * Commands (RFC 5321 syntax, LMTP rules):
 *   LHLO name        required first (and again after STARTTLS); HELO and
 *                    EHLO are refused: this is LMTP
 *   MAIL FROM:<a>    SIZE= (RFC 1870), BODY=7BIT|8BITMIME (RFC 6152),
 *                    AUTH= (RFC 4954: the poster, from trusted sessions)
 *   RCPT TO:<a>      IGNOREQUOTA (Cyrus); checked at once: unknown user
 *                    550 5.1.1, over quota 452 4.2.2 / 552 5.2.2, too many
 *                    recipients 452 4.5.3
 *   DATA, BDAT n [LAST]   the message (RFC 3030 CHUNKING for BDAT); after
 *                    it one reply per accepted recipient, in order
 *   RSET NOOP QUIT VRFY HELP, STARTTLS (TCP only), AUTH (when configured)
 * Out of order: 503 5.5.1; unknown command 500 5.5.1; syntax 501; line
 * too long 500 5.5.2; LMTP_MAX_ERRORS bad commands (without a MAIL, RCPT,
 * DATA or BDAT succeeding in between), or the idle
 * timeout (lmtp_timeout), end the connection with 421.
 *
 * Trust.  The unix socket is trusted (the local MTA and deliver use it),
 * and so is TCP when lmtp_auth is off or lmtpd runs with -a: there the
 * AUTH= parameter of MAIL names the poster whose 'p' right counts for
 * plus-addressed folders and shared mailboxes.  With lmtp_auth optional or
 * required, TCP clients may (must) log in with AUTH; the SASL user is then
 * the poster, and an admin's session is trusted.  Otherwise the poster is
 * anonymous. */
#include "lmtpd.h"

#include "log.h"
#include "mailbox.h"
#include "mboxname.h"
#include "pool.h"
#include "saslserver.h"
#include "service.h"
#include "store.h"
#include "str.h"
#include "stream.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lmtp_session {
    const struct lmtp_settings *set;
    struct service_conn *conn;
    struct stream *stream;
    struct lmtp_input in;
    struct buf line;
    char helo[256];
    bool greeted;
    bool trusted;
    bool must_auth;
    bool quit;
    unsigned errors;
    unsigned messages;
    struct saslserver *sasl;
    char *auth_user;
    /* the transaction */
    struct pool *pool;
    bool have_mail;
    const char *from;
    const char *poster;
    uint64_t declared_size;
    struct lmtp_rcpt *rcpts;
    unsigned nrcpts, rcpts_alloc;
    bool bdat_active;        /* a BDAT body is being received */
    bool bdat_failed;        /* a BDAT chunk was refused: RSET needed */
    struct lmtp_body body;
};

void lmtp_reply_set(struct lmtp_reply *reply, int code, const char *fmt, ...)
{
    va_list ap;
    reply->code = code;
    va_start(ap, fmt);
    vsnprintf(reply->text, sizeof(reply->text), fmt, ap);
    va_end(ap);
}

static void reply(struct lmtp_session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply(struct lmtp_session *s, int code, const char *fmt, ...)
{
    va_list ap;
    struct buf b = BUF_INIT;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    stream_printf(s->stream, "%d %s\r\n", code, buf_cstr(&b));
    buf_free(&b);
}

static void txn_reset(struct lmtp_session *s)
{
    if (s->bdat_active)
        lmtp_body_free(&s->body);
    s->bdat_active = false;
    s->bdat_failed = false;
    s->have_mail = false;
    s->from = NULL;
    s->poster = NULL;
    s->declared_size = 0;
    s->nrcpts = 0;
    pool_clear(s->pool);
}

/* ---- capabilities (the LHLO reply) ---- */

static bool cap_starttls(const struct lmtp_session *s)
{
    return s->set->tls_ctx != NULL && !s->conn->is_unix && !stream_is_tls(s->stream);
}

static bool cap_auth(const struct lmtp_session *s)
{
    return s->sasl != NULL && s->auth_user == NULL;
}

static const struct lmtp_capability {
    const char *name;
    const char *rfc;
    bool (*offered)(const struct lmtp_session *s);   /* NULL: always */
} lmtp_capabilities[] = {
    { "PIPELINING", "RFC 2920", NULL },
    { "ENHANCEDSTATUSCODES", "RFC 2034", NULL },
    { "8BITMIME", "RFC 6152", NULL },
    { "SIZE", "RFC 1870 (with the limit)", NULL },
    { "CHUNKING", "RFC 3030", NULL },
    { "STARTTLS", "RFC 3207", cap_starttls },
    { "AUTH", "RFC 4954 (with the mechanisms)", cap_auth },
    { "IGNOREQUOTA", "Cyrus lmtpd", NULL },
};
#define LMTP_NCAPS (sizeof(lmtp_capabilities) / sizeof(lmtp_capabilities[0]))

/* ---- SASL ---- */

static void sasl_setup(struct lmtp_session *s)
{
    const char *err;
    char local[96], remote[96];

    saslserver_free(&s->sasl);
    if (s->set->auth_mode == LMTP_AUTH_OFF || !s->set->sasl_ready || s->conn->is_unix ||
        s->auth_user != NULL)
        return;
    snprintf(local, sizeof(local), "%s;%d", s->conn->local_ip, s->conn->local_port);
    snprintf(remote, sizeof(remote), "%s;%d", s->conn->peer_ip, s->conn->peer_port);
    bool tls = stream_is_tls(s->stream);
    if (saslserver_new("lmtp", NULL, local, remote, tls, tls ? (unsigned)stream_tls_ssf(s->stream) : 0,
                       s->set->allow_plaintext, &s->sasl, &err) < 0) {
        log_error("SASL: %s", err);
        s->sasl = NULL;
    }
}

static int sasl_send(void *ctx, const char *base64)
{
    struct lmtp_session *s = ctx;
    stream_printf(s->stream, "334 %s\r\n", base64);
    return stream_flush(s->stream);
}

static int sasl_read(void *ctx, struct buf *base64_r)
{
    struct lmtp_session *s = ctx;
    unsigned flags;
    int r = lmtp_input_line(&s->in, SASLSERVER_MAX_RESPONSE + 2, base64_r, &flags);
    if (r != STREAM_OK)
        return -1;
    return 0;
}

/* ---- commands ---- */

static void cmd_lhlo(struct lmtp_session *s, const char *args)
{
    size_t o = 0;

    if (args[0] == '\0') {
        reply(s, 501, "5.5.4 Syntax: LHLO hostname");
        return;
    }
    /* keep a printable token for the Received field */
    for (const char *p = args; *p != '\0' && *p != ' ' && o + 1 < sizeof(s->helo); p++) {
        unsigned char c = (unsigned char)*p;
        s->helo[o++] = isalnum(c) || strchr(".-_:[]", c) != NULL ? (char)c : '_';
    }
    s->helo[o] = '\0';
    txn_reset(s);
    s->greeted = true;
    if (s->sasl == NULL)
        sasl_setup(s);

    /* the lines: the server's name, then each capability offered now */
    const char *lines[LMTP_NCAPS + 1];
    struct buf size = BUF_INIT, auth = BUF_INIT;
    size_t n = 0;
    lines[n++] = s->set->servername;
    for (size_t i = 0; i < LMTP_NCAPS; i++) {
        const struct lmtp_capability *cap = &lmtp_capabilities[i];
        if (cap->offered != NULL && !cap->offered(s))
            continue;
        if (strcmp(cap->name, "SIZE") == 0) {
            buf_printf(&size, "SIZE %llu", (unsigned long long)s->set->max_size);
            lines[n++] = buf_cstr(&size);
        } else if (strcmp(cap->name, "AUTH") == 0) {
            if (saslserver_mechs(s->sasl, "AUTH ", " ", "", &auth) > 0)
                lines[n++] = buf_cstr(&auth);
        } else {
            lines[n++] = cap->name;
        }
    }
    for (size_t i = 0; i < n; i++)
        stream_printf(s->stream, "250%c%s\r\n", i + 1 < n ? '-' : ' ', lines[i]);
    buf_free(&size);
    buf_free(&auth);
}

static void cmd_helo(struct lmtp_session *s, const char *args)
{
    (void)args;
    s->errors++;
    reply(s, 500, "5.5.1 This is LMTP: use LHLO");
}

/* Decode RFC 3461 xtext into out; false when malformed. */
static bool xtext_decode(const char *in, size_t len, struct buf *out)
{
    buf_reset(out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '+') {
            if (i + 2 >= len || !isxdigit((unsigned char)in[i + 1]) ||
                !isxdigit((unsigned char)in[i + 2]))
                return false;
            char hex[3] = { in[i + 1], in[i + 2], '\0' };
            unsigned long v = strtoul(hex, NULL, 16);
            if (v == 0)
                return false;
            buf_append_char(out, (char)v);
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return false;
        } else {
            buf_append_char(out, (char)c);
        }
    }
    return true;
}

/* The next space-separated parameter of args into name/value (value NULL
 * when there is no '='); returns false at the end. */
static bool next_param(const char **args, char *name, size_t namesize, const char **value_r,
                       size_t *valuelen_r)
{
    const char *p = *args;
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return false;
    const char *end = p;
    while (*end != '\0' && *end != ' ')
        end++;
    const char *eq = memchr(p, '=', (size_t)(end - p));
    size_t nlen = (size_t)((eq != NULL ? eq : end) - p);
    if (nlen >= namesize)
        nlen = namesize - 1;
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    *value_r = eq != NULL ? eq + 1 : NULL;
    *valuelen_r = eq != NULL ? (size_t)(end - eq - 1) : 0;
    *args = end;
    return true;
}

static void cmd_mail(struct lmtp_session *s, const char *args)
{
    char *path;
    const char *rest, *err;
    char name[32];
    const char *value;
    size_t vlen;
    const char *poster = s->auth_user;
    struct buf authid = BUF_INIT;
    uint64_t size = 0;

    if (!s->greeted) {
        reply(s, 503, "5.5.1 Send LHLO first");
        return;
    }
    if (s->have_mail) {
        reply(s, 503, "5.5.1 Nested MAIL command");
        return;
    }
    if (s->must_auth && s->auth_user == NULL) {
        reply(s, 530, "5.7.0 Authentication required");
        return;
    }
    if (strncasecmp(args, "FROM:", 5) != 0) {
        s->errors++;
        reply(s, 501, "5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    if (lmtp_path_parse(args + 5, s->pool, &path, &rest, &err) < 0) {
        s->errors++;
        reply(s, 501, "5.1.7 Bad sender address syntax: %s", err);
        return;
    }
    while (next_param(&rest, name, sizeof(name), &value, &vlen)) {
        if (strcasecmp(name, "SIZE") == 0 && value != NULL) {
            if (str_to_u64_n(value, vlen, UINT64_MAX, &size) < 0) {
                reply(s, 501, "5.5.4 Bad SIZE value");
                goto out;
            }
            if (size > s->set->max_size) {
                reply(s, 552, "5.3.4 Message size exceeds fixed limit of %llu bytes",
                      (unsigned long long)s->set->max_size);
                goto out;
            }
        } else if (strcasecmp(name, "BODY") == 0 && value != NULL) {
            if (!(vlen == 4 && strncasecmp(value, "7BIT", 4) == 0) &&
                !(vlen == 8 && strncasecmp(value, "8BITMIME", 8) == 0)) {
                reply(s, 501, "5.5.4 Unrecognized BODY type");
                goto out;
            }
        } else if (strcasecmp(name, "AUTH") == 0 && value != NULL) {
            if (!xtext_decode(value, vlen, &authid)) {
                reply(s, 501, "5.5.4 Bad AUTH parameter");
                goto out;
            }
            if (s->trusted) {
                struct buf canon = BUF_INIT;
                if (strcmp(buf_cstr(&authid), "<>") == 0)
                    poster = NULL;
                else if (s->set->store != NULL &&
                         mboxname_userid_canon(s->set->store, buf_cstr(&authid), &canon,
                                               &err) == 0)
                    poster = pool_strdup(s->pool, buf_cstr(&canon));
                else
                    poster = NULL;   /* not a user we know how to name */
                buf_free(&canon);
            }
            /* RFC 4954 5: from an untrusted client the parameter is
             * ignored (the authenticated user stays the poster) */
        } else {
            reply(s, 555, "5.5.4 Unsupported parameter %s", name);
            goto out;
        }
    }
    s->have_mail = true;
    s->from = path;
    s->poster = poster;
    s->declared_size = size;
    s->errors = 0;
    reply(s, 250, "2.1.0 Ok");
out:
    buf_free(&authid);
}

static void cmd_rcpt(struct lmtp_session *s, const char *args)
{
    char *path;
    const char *rest, *err;
    char name[32];
    const char *value;
    size_t vlen;
    bool ignorequota = false;
    struct lmtp_reply r;
    struct lmtp_address addr;
    struct lmtp_target target;

    if (!s->have_mail) {
        reply(s, 503, "5.5.1 Need MAIL command");
        return;
    }
    if (s->bdat_active || s->bdat_failed) {
        reply(s, 503, "5.5.1 RCPT not allowed now");
        return;
    }
    if (strncasecmp(args, "TO:", 3) != 0) {
        s->errors++;
        reply(s, 501, "5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    if (lmtp_path_parse(args + 3, s->pool, &path, &rest, &err) < 0) {
        s->errors++;
        reply(s, 501, "5.1.3 Bad recipient address syntax: %s", err);
        return;
    }
    while (next_param(&rest, name, sizeof(name), &value, &vlen)) {
        if (strcasecmp(name, "IGNOREQUOTA") == 0 && value == NULL) {
            ignorequota = true;
        } else {
            reply(s, 555, "5.5.4 Unsupported parameter %s", name);
            return;
        }
    }
    if (s->nrcpts >= s->set->max_rcpts) {
        reply(s, 452, "4.5.3 Too many recipients");
        return;
    }
    s->errors = 0;
    if (lmtp_address_parse(s->set, path, s->pool, &addr, &r) < 0 ||
        lmtp_recipient_resolve(s->set, &addr, s->poster, false, s->pool, &target, &r) < 0 ||
        (!ignorequota && target.uniqueid != NULL &&
         lmtp_quota_check(s->set, target.mailbox, s->set->strict_quota ? s->declared_size : 0,
                          &r) < 0)) {
        log_info("recipient <%s> refused: %d %s", path, r.code, r.text);
        reply(s, r.code, "%s", r.text);
        return;
    }
    if (s->nrcpts == s->rcpts_alloc) {
        s->rcpts_alloc = s->rcpts_alloc == 0 ? 8 : s->rcpts_alloc * 2;
        s->rcpts = xreallocarray(s->rcpts, s->rcpts_alloc, sizeof(*s->rcpts));
    }
    struct lmtp_rcpt *rc = &s->rcpts[s->nrcpts++];
    memset(rc, 0, sizeof(*rc));
    rc->path = path;
    rc->addr = addr;
    rc->ignorequota = ignorequota;
    reply(s, 250, "2.1.5 Ok");
}

/* The trace fields put before the message. */
static void trace_fields(struct lmtp_session *s, struct buf *out)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    const char *proto = stream_is_tls(s->stream) ? (s->auth_user != NULL ? "LMTPSA" : "LMTPS")
                                                 : (s->auth_user != NULL ? "LMTPA" : "LMTP");

    localtime_r(&now, &tm);
    if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
        str_copy(date, sizeof(date), "Thu, 01 Jan 1970 00:00:00 +0000");
    buf_printf(out, "Return-Path: <%s>\r\n", s->from);
    buf_printf(out, "Received: from %s (%s%s%s)\r\n", s->helo[0] != '\0' ? s->helo : "unknown",
               s->conn->is_unix ? "unix socket" : "[", s->conn->is_unix ? "" : s->conn->peer_ip,
               s->conn->is_unix ? "" : "]");
    buf_printf(out, "\tby %s (Roost lmtpd) with %s id %s-%u", s->set->servername, proto,
               log_session() != NULL ? log_session() : "-", s->messages);
    if (s->nrcpts == 1)
        buf_printf(out, "\r\n\tfor <%s>", s->rcpts[0].path);
    buf_printf(out, ";\r\n\t%s\r\n", date);
}

static void body_start(struct lmtp_session *s)
{
    struct buf prefix = BUF_INIT;
    s->messages++;
    trace_fields(s, &prefix);
    lmtp_body_begin(&s->body, s->set, prefix.data, prefix.len);
    buf_free(&prefix);
}

/* The body is complete: deliver and answer each recipient. */
static void body_done(struct lmtp_session *s)
{
    lmtp_body_finish(&s->body);
    for (unsigned i = 0; i < s->nrcpts; i++) {
        struct lmtp_reply *r = &s->rcpts[i].reply;
        switch (s->body.failure) {
        case LMTP_BODY_TOO_BIG:
            lmtp_reply_set(r, 552, "5.3.4 Message size exceeds fixed limit of %llu bytes",
                           (unsigned long long)s->set->max_size);
            break;
        case LMTP_BODY_NUL:
            lmtp_reply_set(r, 554, "5.6.0 Message contains NUL characters");
            break;
        case LMTP_BODY_INTERNAL:
            lmtp_reply_set(r, 451, "4.3.0 Internal error, try again later");
            break;
        case LMTP_BODY_OK:
            break;
        }
    }
    if (s->body.failure == LMTP_BODY_OK)
        lmtp_deliver(s->set, &s->body, s->poster, s->rcpts, s->nrcpts, s->pool);
    else
        log_info("message from <%s> refused: %s", s->from,
                 s->body.failure == LMTP_BODY_TOO_BIG ? "too big"
                 : s->body.failure == LMTP_BODY_NUL ? "NUL characters" : "internal error");
    for (unsigned i = 0; i < s->nrcpts; i++)
        reply(s, s->rcpts[i].reply.code, "%s", s->rcpts[i].reply.text);
    lmtp_body_free(&s->body);
    s->bdat_active = false;
    txn_reset(s);
}

/* A read of the body failed: say why (timeout) and end the session. */
static void body_read_failed(struct lmtp_session *s, int r)
{
    if (r == STREAM_TIMEOUT) {
        reply(s, 421, "4.4.2 %s Timeout while receiving the message, closing connection",
              s->set->servername);
        log_info("timeout while receiving a message");
    } else if (r == STREAM_ERROR) {
        log_info("connection failed while receiving a message: %s",
                 stream_error(s->stream) != NULL ? stream_error(s->stream) : "?");
    } else {
        log_info("connection closed while receiving a message");
    }
    s->quit = true;
}

static void cmd_data(struct lmtp_session *s, const char *args)
{
    if (args[0] != '\0') {
        s->errors++;
        reply(s, 501, "5.5.4 Syntax: DATA");
        return;
    }
    if (!s->have_mail) {
        reply(s, 503, "5.5.1 Need MAIL command");
        return;
    }
    if (s->bdat_active || s->bdat_failed) {
        reply(s, 503, "5.5.1 DATA not allowed after BDAT");
        return;
    }
    if (s->nrcpts == 0) {
        reply(s, 503, "5.5.1 No valid recipients");
        return;
    }
    s->errors = 0;
    reply(s, 354, "Go ahead, end with <CRLF>.<CRLF>");
    body_start(s);
    int r = lmtp_body_read_data(&s->body, &s->in);
    if (r != STREAM_OK) {
        lmtp_body_free(&s->body);
        txn_reset(s);
        body_read_failed(s, r);
        return;
    }
    body_done(s);
}

/* Read and throw away n bytes (a refused BDAT chunk). */
static int skip_bytes(struct lmtp_session *s, uint64_t n)
{
    while (n > 0) {
        const char *p;
        size_t avail = lmtp_input_peek(&s->in, &p);
        if (avail == 0) {
            int r = lmtp_input_fill(&s->in);
            if (r != STREAM_OK)
                return r;
            continue;
        }
        size_t take = avail < n ? avail : (size_t)n;
        lmtp_input_consume(&s->in, take);
        n -= take;
    }
    return STREAM_OK;
}

static void cmd_bdat(struct lmtp_session *s, const char *args)
{
    const char *sp = strchr(args, ' ');
    size_t numlen = sp != NULL ? (size_t)(sp - args) : strlen(args);
    uint64_t n;
    bool last = false;

    if (str_to_u64_n(args, numlen, UINT64_MAX, &n) < 0) {
        /* the chunk's length is unknown, so its bytes cannot be skipped:
         * they will arrive as (bad) commands */
        s->errors++;
        reply(s, 501, "5.5.4 Syntax: BDAT size [LAST]");
        return;
    }
    if (sp != NULL) {
        if (strcasecmp(sp + 1, "LAST") != 0) {
            s->errors++;
            int r = skip_bytes(s, n);
            if (r != STREAM_OK)
                body_read_failed(s, r);
            else
                reply(s, 501, "5.5.4 Syntax: BDAT size [LAST]");
            return;
        }
        last = true;
    }
    const char *refuse = !s->have_mail ? "5.5.1 Need MAIL command"
                         : s->nrcpts == 0 ? "5.5.1 No valid recipients"
                         : s->bdat_failed ? "5.5.1 Transaction failed, send RSET"
                         : NULL;
    if (refuse != NULL) {
        int r = skip_bytes(s, n);
        if (r != STREAM_OK) {
            body_read_failed(s, r);
            return;
        }
        reply(s, 503, "%s", refuse);
        return;
    }
    s->errors = 0;
    if (!s->bdat_active) {
        body_start(s);
        s->bdat_active = true;
    }
    int r = lmtp_body_read_chunk(&s->body, &s->in, n);
    if (r != STREAM_OK) {
        txn_reset(s);
        body_read_failed(s, r);
        return;
    }
    if (last) {
        body_done(s);
        return;
    }
    if (s->body.failure == LMTP_BODY_TOO_BIG) {
        /* RFC 3030 4.2: refuse the chunk; the client must RSET */
        lmtp_body_free(&s->body);
        s->bdat_active = false;
        s->bdat_failed = true;
        reply(s, 552, "5.3.4 Message size exceeds fixed limit of %llu bytes",
              (unsigned long long)s->set->max_size);
        return;
    }
    reply(s, 250, "2.0.0 %llu octets received", (unsigned long long)n);
}

static void cmd_rset(struct lmtp_session *s, const char *args)
{
    if (args[0] != '\0') {
        s->errors++;
        reply(s, 501, "5.5.4 Syntax: RSET");
        return;
    }
    txn_reset(s);
    reply(s, 250, "2.0.0 Ok");
}

static void cmd_noop(struct lmtp_session *s, const char *args)
{
    (void)args;
    reply(s, 250, "2.0.0 Ok");
}

static void cmd_quit(struct lmtp_session *s, const char *args)
{
    (void)args;
    reply(s, 221, "2.0.0 %s Bye", s->set->servername);
    s->quit = true;
}

static void cmd_vrfy(struct lmtp_session *s, const char *args)
{
    (void)args;
    reply(s, 252, "2.5.0 Cannot VRFY; send the message and RCPT will tell");
}

static void cmd_help(struct lmtp_session *s, const char *args)
{
    (void)args;
    reply(s, 214, "2.0.0 LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH (RFC 2033)");
}

static void cmd_starttls(struct lmtp_session *s, const char *args)
{
    const char *err;

    if (!cap_starttls(s)) {
        reply(s, 454, "4.7.0 TLS not available");
        return;
    }
    if (args[0] != '\0') {
        s->errors++;
        reply(s, 501, "5.5.4 Syntax: STARTTLS");
        return;
    }
    if (s->have_mail) {
        reply(s, 503, "5.5.1 STARTTLS not allowed in a transaction");
        return;
    }
    reply(s, 220, "2.0.0 Ready to start TLS");
    lmtp_input_drop(&s->in);
    if (stream_starttls(s->stream, s->set->tls_ctx, &err) < 0) {
        log_info("STARTTLS failed: %s", err);
        s->quit = true;
        return;
    }
    /* RFC 3207 4.2: forget everything learned before TLS */
    txn_reset(s);
    s->greeted = false;
    s->helo[0] = '\0';
    saslserver_free(&s->sasl);
}

static void cmd_auth(struct lmtp_session *s, const char *args)
{
    char mech[64];
    const char *err;

    if (s->auth_user != NULL) {
        reply(s, 503, "5.5.1 Already authenticated");
        return;
    }
    if (!s->greeted) {
        reply(s, 503, "5.5.1 Send LHLO first");
        return;
    }
    if (!cap_auth(s)) {
        reply(s, 502, "5.5.1 AUTH not available");
        return;
    }
    if (s->have_mail) {
        reply(s, 503, "5.5.1 AUTH not allowed in a transaction");
        return;
    }
    size_t mlen = strcspn(args, " ");
    if (mlen == 0 || mlen >= sizeof(mech)) {
        s->errors++;
        reply(s, 501, "5.5.4 Syntax: AUTH mechanism [initial-response]");
        return;
    }
    memcpy(mech, args, mlen);
    mech[mlen] = '\0';
    const char *initial = args[mlen] == ' ' ? args + mlen + 1 : NULL;
    struct saslserver_io io = { sasl_send, sasl_read, false };
    enum saslserver_result r = saslserver_exchange(s->sasl, mech, initial, &io, s, &err);
    switch (r) {
    case SASLSERVER_OK:
        s->auth_user = xstrdup(saslserver_user(s->sasl));
        if (s->set->store != NULL && store_is_admin(s->set->store, s->auth_user))
            s->trusted = true;
        log_notice("login: %s %s%s", s->auth_user, saslserver_mech(s->sasl),
                   stream_is_tls(s->stream) ? "+TLS" : "");
        reply(s, 235, "2.7.0 Authentication successful");
        return;
    case SASLSERVER_FAIL:
        log_notice("badlogin: %s", err);
        reply(s, 535, "5.7.8 Authentication credentials invalid");
        return;
    case SASLSERVER_CANCEL:
        reply(s, 501, "5.0.0 Authentication cancelled");
        return;
    case SASLSERVER_BADPROTO:
        reply(s, 501, "5.5.2 Bad authentication exchange");
        return;
    case SASLSERVER_NOMECH:
        reply(s, 504, "5.5.4 Unrecognized authentication type");
        return;
    case SASLSERVER_TOOWEAK:
        reply(s, 538, "5.7.11 Encryption required for requested authentication mechanism");
        return;
    case SASLSERVER_TEMPFAIL:
        log_error("authentication backend: %s", err);
        reply(s, 454, "4.7.0 Temporary authentication failure");
        return;
    case SASLSERVER_IOERR:
        s->quit = true;
        return;
    }
}

static const struct lmtp_command {
    const char *name;
    void (*run)(struct lmtp_session *s, const char *args);
} lmtp_commands[] = {
    { "LHLO", cmd_lhlo },         /* RFC 2033 4.1 */
    { "MAIL", cmd_mail },         /* RFC 5321 4.1.1.2 */
    { "RCPT", cmd_rcpt },         /* RFC 5321 4.1.1.3 */
    { "DATA", cmd_data },         /* RFC 2033 4.2 */
    { "BDAT", cmd_bdat },         /* RFC 3030 */
    { "RSET", cmd_rset },
    { "NOOP", cmd_noop },
    { "QUIT", cmd_quit },
    { "VRFY", cmd_vrfy },
    { "HELP", cmd_help },
    { "STARTTLS", cmd_starttls }, /* RFC 3207 */
    { "AUTH", cmd_auth },         /* RFC 4954 */
    { "HELO", cmd_helo },
    { "EHLO", cmd_helo },
};

static void dispatch(struct lmtp_session *s, char *line)
{
    size_t vlen = strcspn(line, " ");
    const char *args = line[vlen] == ' ' ? line + vlen + 1 : line + vlen;

    for (size_t i = 0; i < sizeof(lmtp_commands) / sizeof(lmtp_commands[0]); i++) {
        if (strlen(lmtp_commands[i].name) == vlen &&
            strncasecmp(lmtp_commands[i].name, line, vlen) == 0) {
            lmtp_commands[i].run(s, args);
            return;
        }
    }
    s->errors++;
    reply(s, 500, "5.5.1 Unknown command");
}

void lmtp_session_run(const struct lmtp_settings *set, struct service_conn *conn)
{
    struct lmtp_session session, *s = &session;
    const char *err;

    memset(s, 0, sizeof(*s));
    s->set = set;
    s->conn = conn;
    s->stream = stream_new(conn->fd);
    stream_set_timeout(s->stream, set->timeout_ms);
    lmtp_input_init(&s->in, s->stream);
    buf_init(&s->line);
    s->pool = pool_create("lmtp transaction", 8192);
    s->trusted = conn->is_unix || set->preauth_tcp || set->auth_mode == LMTP_AUTH_OFF;
    s->must_auth = !conn->is_unix && !set->preauth_tcp && set->auth_mode == LMTP_AUTH_REQUIRED;

    if (conn->implicit_tls) {
        if (set->tls_ctx == NULL) {
            log_error("implicit TLS asked for (-s) but TLS is not configured");
            goto out;
        }
        if (stream_starttls(s->stream, set->tls_ctx, &err) < 0) {
            log_info("TLS handshake failed: %s", err);
            goto out;
        }
    }
    if (set->store == NULL) {
        reply(s, 421, "4.3.2 %s Mail store unavailable, try again later", set->servername);
        (void)stream_flush(s->stream);
        goto out;
    }
    reply(s, 220, "%s LMTP Roost ready", set->servername);

    while (!s->quit) {
        unsigned flags = 0;
        int r = lmtp_input_line(&s->in, LMTP_LINE_MAX, &s->line, &flags);
        if (r == STREAM_TIMEOUT) {
            reply(s, 421, "4.4.2 %s Idle timeout, closing connection", set->servername);
            log_info("idle timeout");
            break;
        }
        if (r == STREAM_EOF)
            break;
        if (r == STREAM_ERROR) {
            const char *why = stream_error(s->stream);
            if (why != NULL)
                log_info("connection failed: %s", why);
            break;
        }
        if (r == STREAM_TOO_LONG) {
            s->errors++;
            reply(s, 500, "5.5.2 Line too long");
        } else if ((flags & STREAM_LINE_NUL) != 0 || (flags & STREAM_LINE_CR) != 0) {
            s->errors++;
            reply(s, 500, "5.5.2 Syntax error: control character in command");
        } else {
            dispatch(s, s->line.data != NULL ? s->line.data : (char *)"");
        }
        if (s->errors >= LMTP_MAX_ERRORS) {
            reply(s, 421, "4.7.0 %s Too many errors, closing connection", set->servername);
            log_info("too many bad commands, closing");
            break;
        }
        if (stream_write_failed(s->stream))
            break;
    }
    (void)stream_flush(s->stream);
out:
    txn_reset(s);
    saslserver_free(&s->sasl);
    free(s->auth_user);
    free(s->rcpts);
    pool_destroy(&s->pool);
    buf_free(&s->line);
    lmtp_input_free(&s->in);
    stream_free(&s->stream);
}
