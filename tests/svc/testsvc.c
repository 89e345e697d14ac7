/* testsvc.c - a tiny line protocol over the real stream, TLS and SASL
 * modules, run under master by the end-to-end tests.
 *
 * SYNOPSIS
 *     testsvc [service options, see lib/service.h] [-t timeout_ms]
 *     (normally run by master: service-x: cmd="/path/testsvc [-s] [-t 2000]")
 *
 * DESCRIPTION
 *     Exercises lib/stream (line and literal limits, timeouts, STARTTLS),
 *     lib/tls (the server context from tls_server_cert/tls_server_key) and
 *     lib/saslserver (mechanisms from the instance's sasldb2) the way a
 *     daemon does, with a protocol small enough for Python tests to drive.
 *
 *     On connect: "* OK testsvc ready <pid>" (with -s, after the TLS
 *     handshake).  Then one untagged command per line (CRLF or LF, at most
 *     TESTSVC_LINE_MAX bytes), the first word matched without regard to
 *     case against testsvc_commands[]; every command answers one line,
 *     after "+ ..." continuation lines for AUTH and LITERAL:
 *         PID             -> "<pid>"
 *         UID             -> "<uid> <gid>" (effective ids)
 *         ECHO text       -> "text"
 *         CRASH           -> abort() (a child dying in the middle of a session)
 *         QUIT            -> "* BYE", connection closed
 *         CAPA            -> "CAPA[ STARTTLS][ AUTH=<mech>...]": STARTTLS
 *                            while TLS is configured and not active yet,
 *                            the mechanisms saslserver_mechs() offers now
 *         STARTTLS        -> "OK begin TLS", then the handshake (input the
 *                            client pipelined after the command is dropped);
 *                            "BAD TLS already active" / "NO TLS not configured"
 *         AUTH mech [ir]  -> a SASL exchange: challenges "+ <base64>", each
 *                            answered by one line of base64 ("*" cancels);
 *                            "OK authenticated as <user>", "NO ..." (bad
 *                            credentials, mechanism needs TLS or unknown),
 *                            "BAD ..." (bad base64, cancel, over-long)
 *         WHOAMI          -> "user=<user> authid=<authid> mech=<mech>", or
 *                            "NO not authenticated"
 *         LITERAL {n}     -> "+ go ahead", then n bytes and the rest of the
 *                            line (must be empty: just CRLF); answers
 *                            "OK <sha256 hex of the n bytes>".  n over
 *                            TESTSVC_LITERAL_MAX: "NO [TOOBIG] ..." without
 *                            reading anything; n not a number of at most
 *                            32 bits: "BAD ..."
 *     Errors: an over-long line "BAD line too long", a line holding a NUL
 *     "BAD NUL", anything else "BAD unknown command"; the session goes on
 *     after every BAD.  Waiting longer than the stream timeout (-t, in
 *     milliseconds, default TESTSVC_TIMEOUT_MS) for a command ends the
 *     session with "* BYE autologout".
 *
 *     TLS is optional: without tls_server_cert (master's own tests) STARTTLS
 *     is not offered, and -s connections are closed at once.  Plaintext mechanisms follow
 *     config "allowplaintext" as in every daemon.
 */
#include "buf.h"
#include "log.h"
#include "saslserver.h"
#include "service.h"
#include "str.h"
#include "stream.h"
#include "tls.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#define TESTSVC_LINE_MAX 1024
#define TESTSVC_LITERAL_MAX (1024 * 1024)
#define TESTSVC_TIMEOUT_MS (60 * 1000)
#define TESTSVC_TIMEOUT_MAX_MS (3600 * 1000)

static SSL_CTX *testsvc_tls_ctx;
static int testsvc_timeout_ms = TESTSVC_TIMEOUT_MS;
static bool testsvc_allow_plaintext;
static bool testsvc_sasl_ok;

struct testsvc_session {
    struct service_conn *conn;
    struct stream *stream;
    struct saslserver *sasl;   /* NULL when libsasl2 refused the connection */
    bool response_too_long;    /* the last SASL response line was over-long */
    bool done;
};

static void testsvc_reply(struct testsvc_session *s, const char *text)
{
    stream_puts(s->stream, text);
    stream_puts(s->stream, "\r\n");
    if (stream_flush(s->stream) < 0)
        s->done = true;
}

/* ---- the commands of master's tests ---- */

static void testsvc_cmd_pid(struct testsvc_session *s, const char *arg)
{
    (void)arg;
    char text[32];
    snprintf(text, sizeof(text), "%d", (int)getpid());
    testsvc_reply(s, text);
}

static void testsvc_cmd_uid(struct testsvc_session *s, const char *arg)
{
    (void)arg;
    char text[64];
    snprintf(text, sizeof(text), "%u %u", (unsigned)geteuid(), (unsigned)getegid());
    testsvc_reply(s, text);
}

static void testsvc_cmd_echo(struct testsvc_session *s, const char *arg)
{
    testsvc_reply(s, arg);
}

static void testsvc_cmd_crash(struct testsvc_session *s, const char *arg)
{
    (void)s;
    (void)arg;
    abort();
}

static void testsvc_cmd_quit(struct testsvc_session *s, const char *arg)
{
    (void)arg;
    testsvc_reply(s, "* BYE");
    s->done = true;
}

/* ---- TLS ---- */

static int testsvc_start_tls(struct testsvc_session *s)
{
    const char *error;
    if (stream_starttls(s->stream, testsvc_tls_ctx, &error) < 0) {
        log_info("TLS handshake failed: %s", error);
        s->done = true;
        return -1;
    }
    log_debug("TLS: %s", stream_tls_info(s->stream));
    if (s->sasl != NULL && saslserver_set_tls(s->sasl, (unsigned)stream_tls_ssf(s->stream)) < 0)
        s->done = true;
    return 0;
}

static void testsvc_cmd_capa(struct testsvc_session *s, const char *arg)
{
    (void)arg;
    struct buf text = BUF_INIT;
    buf_append_str(&text, "CAPA");
    if (testsvc_tls_ctx != NULL && !stream_is_tls(s->stream))
        buf_append_str(&text, " STARTTLS");
    if (s->sasl != NULL)
        (void)saslserver_mechs(s->sasl, " AUTH=", " AUTH=", "", &text);
    testsvc_reply(s, buf_cstr(&text));
    buf_free(&text);
}

static void testsvc_cmd_starttls(struct testsvc_session *s, const char *arg)
{
    if (arg[0] != '\0') {
        testsvc_reply(s, "BAD STARTTLS takes no argument");
        return;
    }
    if (testsvc_tls_ctx == NULL) {
        testsvc_reply(s, "NO TLS not configured");
        return;
    }
    if (stream_is_tls(s->stream)) {
        testsvc_reply(s, "BAD TLS already active");
        return;
    }
    stream_puts(s->stream, "OK begin TLS\r\n");
    (void)testsvc_start_tls(s);
}

/* ---- SASL ---- */

static int testsvc_send_challenge(void *ctx, const char *base64)
{
    struct testsvc_session *s = ctx;
    stream_printf(s->stream, "+ %s\r\n", base64);
    return stream_flush(s->stream);
}

static int testsvc_read_response(void *ctx, struct buf *base64_r)
{
    struct testsvc_session *s = ctx;
    unsigned flags = 0;
    int r = stream_read_line(s->stream, base64_r, SASLSERVER_MAX_RESPONSE, &flags);
    if (r == STREAM_TOO_LONG)
        s->response_too_long = true;
    if (r != STREAM_OK)
        return -1;
    if ((flags & STREAM_LINE_NUL) != 0) {
        /* Not base64: make the decoder refuse it rather than see a
         * shorter string. */
        buf_reset(base64_r);
        buf_append_str(base64_r, "!");
    }
    return 0;
}

static void testsvc_cmd_auth(struct testsvc_session *s, const char *arg)
{
    if (s->sasl == NULL) {
        testsvc_reply(s, "NO SASL unavailable");
        return;
    }
    if (saslserver_user(s->sasl) != NULL) {
        testsvc_reply(s, "BAD already authenticated");
        return;
    }
    char mech[64];
    const char *sp = strchr(arg, ' ');
    size_t mech_len = sp != NULL ? (size_t)(sp - arg) : strlen(arg);
    if (mech_len == 0 || mech_len >= sizeof(mech)) {
        testsvc_reply(s, "BAD AUTH needs a mechanism");
        return;
    }
    memcpy(mech, arg, mech_len);
    mech[mech_len] = '\0';
    const char *initial = sp != NULL ? sp + 1 : NULL;

    static const struct saslserver_io io = {
        .send_challenge = testsvc_send_challenge,
        .read_response = testsvc_read_response,
        .success_data = false,
    };
    const char *error = NULL;
    s->response_too_long = false;
    enum saslserver_result r = saslserver_exchange(s->sasl, mech, initial, &io, s, &error);
    if (r != SASLSERVER_OK)
        log_notice("AUTH %s: %s: %s", mech, saslserver_result_name(r), error);
    switch (r) {
    case SASLSERVER_OK: {
        struct buf text = BUF_INIT;
        buf_printf(&text, "OK authenticated as %s", saslserver_user(s->sasl));
        log_info("login: %s as %s (%s)", saslserver_authid(s->sasl), saslserver_user(s->sasl),
                 saslserver_mech(s->sasl));
        testsvc_reply(s, buf_cstr(&text));
        buf_free(&text);
        break;
    }
    case SASLSERVER_FAIL: testsvc_reply(s, "NO authentication failed"); break;
    case SASLSERVER_CANCEL: testsvc_reply(s, "BAD authentication cancelled"); break;
    case SASLSERVER_BADPROTO: testsvc_reply(s, "BAD invalid SASL exchange"); break;
    case SASLSERVER_NOMECH: testsvc_reply(s, "NO unsupported mechanism"); break;
    case SASLSERVER_TOOWEAK: testsvc_reply(s, "NO [PRIVACYREQUIRED] TLS required"); break;
    case SASLSERVER_TEMPFAIL: testsvc_reply(s, "NO [UNAVAILABLE] try again later"); break;
    case SASLSERVER_IOERR:
        if (s->response_too_long)
            testsvc_reply(s, "BAD response too long");
        else
            s->done = true;
        break;
    }
}

static void testsvc_cmd_whoami(struct testsvc_session *s, const char *arg)
{
    (void)arg;
    if (s->sasl == NULL || saslserver_user(s->sasl) == NULL) {
        testsvc_reply(s, "NO not authenticated");
        return;
    }
    struct buf text = BUF_INIT;
    buf_printf(&text, "user=%s authid=%s mech=%s", saslserver_user(s->sasl),
               saslserver_authid(s->sasl), saslserver_mech(s->sasl));
    testsvc_reply(s, buf_cstr(&text));
    buf_free(&text);
}

/* ---- literals ---- */

static void testsvc_cmd_literal(struct testsvc_session *s, const char *arg)
{
    size_t len = strlen(arg);
    uint64_t n;
    if (len < 3 || arg[0] != '{' || arg[len - 1] != '}' ||
        str_to_u64_n(arg + 1, len - 2, UINT32_MAX, &n) < 0) {
        testsvc_reply(s, "BAD LITERAL needs {n} with n < 2^32");
        return;
    }
    if (n > TESTSVC_LITERAL_MAX) {
        testsvc_reply(s, "NO [TOOBIG] literal too big");
        return;
    }
    stream_puts(s->stream, "+ go ahead\r\n");
    struct buf data = BUF_INIT;
    struct buf rest = BUF_INIT;
    int r = stream_read_exact(s->stream, (size_t)n, &data);
    if (r == STREAM_OK)
        r = stream_read_line(s->stream, &rest, TESTSVC_LINE_MAX, NULL);
    if (r == STREAM_TOO_LONG || (r == STREAM_OK && rest.len != 0)) {
        testsvc_reply(s, "BAD junk after the literal");
    } else if (r != STREAM_OK) {
        if (r == STREAM_TIMEOUT)
            testsvc_reply(s, "* BYE autologout");
        s->done = true;
    } else {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        if (EVP_Digest(data.data != NULL ? data.data : "", data.len, md, &md_len, EVP_sha256(),
                       NULL) != 1) {
            testsvc_reply(s, "NO digest failed");
        } else {
            struct buf text = BUF_INIT;
            buf_append_str(&text, "OK ");
            for (unsigned i = 0; i < md_len; i++)
                buf_printf(&text, "%02x", md[i]);
            testsvc_reply(s, buf_cstr(&text));
            buf_free(&text);
        }
    }
    buf_free(&data);
    buf_free(&rest);
}

static const struct testsvc_command {
    const char *name;
    void (*run)(struct testsvc_session *s, const char *arg);
} testsvc_commands[] = {
    {"PID", testsvc_cmd_pid},
    {"UID", testsvc_cmd_uid},
    {"ECHO", testsvc_cmd_echo},
    {"CRASH", testsvc_cmd_crash},
    {"QUIT", testsvc_cmd_quit},
    {"CAPA", testsvc_cmd_capa},
    {"STARTTLS", testsvc_cmd_starttls},
    {"AUTH", testsvc_cmd_auth},
    {"WHOAMI", testsvc_cmd_whoami},
    {"LITERAL", testsvc_cmd_literal},
};

static void testsvc_command(struct testsvc_session *s, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg != NULL)
        *arg++ = '\0';
    else
        arg = line + strlen(line);
    for (size_t i = 0; i < sizeof(testsvc_commands) / sizeof(testsvc_commands[0]); i++) {
        if (strcasecmp(line, testsvc_commands[i].name) == 0) {
            testsvc_commands[i].run(s, arg);
            return;
        }
    }
    testsvc_reply(s, "BAD unknown command");
}

/* "1.2.3.4;143" for libsasl2, or "" for a unix socket. */
static void testsvc_ipport(char *out, size_t size, const char *ip, int port)
{
    if (ip[0] == '\0')
        out[0] = '\0';
    else
        snprintf(out, size, "%s;%d", ip, port);
}

/* Master stops a busy child with SIGTERM; the stream retries its waits
 * after a signal, so while a session runs SIGTERM just ends the process
 * (nothing of a test session needs saving). */
static void testsvc_on_term(int sig)
{
    (void)sig;
    _exit(0);
}

static void testsvc_serve(struct service_conn *conn)
{
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = testsvc_on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_sa);

    struct testsvc_session s = {.conn = conn};
    s.stream = stream_new(conn->fd);
    stream_set_timeout(s.stream, testsvc_timeout_ms);

    if (testsvc_sasl_ok) {
        char local[96], remote[96];
        const char *error;
        testsvc_ipport(local, sizeof(local), conn->local_ip, conn->local_port);
        testsvc_ipport(remote, sizeof(remote), conn->peer_ip, conn->peer_port);
        if (saslserver_new("imap", NULL, local[0] != '\0' ? local : NULL,
                           remote[0] != '\0' ? remote : NULL, false, 0, testsvc_allow_plaintext,
                           &s.sasl, &error) < 0) {
            log_error("SASL: %s", error);
            s.sasl = NULL;
        }
    }

    if (conn->implicit_tls && testsvc_tls_ctx == NULL) {
        log_error("-s (implicit TLS) needs tls_server_cert");
        s.done = true;
    } else if (conn->implicit_tls) {
        (void)testsvc_start_tls(&s);
    }
    if (!s.done) {
        char greeting[64];
        snprintf(greeting, sizeof(greeting), "* OK testsvc ready %d", (int)getpid());
        testsvc_reply(&s, greeting);
    }

    struct buf line = BUF_INIT;
    while (!s.done) {
        unsigned flags = 0;
        int r = stream_read_line(s.stream, &line, TESTSVC_LINE_MAX, &flags);
        if (r == STREAM_TOO_LONG) {
            testsvc_reply(&s, "BAD line too long");
        } else if (r == STREAM_TIMEOUT) {
            testsvc_reply(&s, "* BYE autologout");
            break;
        } else if (r == STREAM_EOF) {
            break;
        } else if (r != STREAM_OK) {
            log_info("connection: %s", stream_error(s.stream));
            break;
        } else if ((flags & STREAM_LINE_NUL) != 0) {
            testsvc_reply(&s, "BAD NUL");
        } else {
            static char empty[1];
            testsvc_command(&s, line.data != NULL ? line.data : empty);
        }
    }
    /* The command line may have held an AUTH initial response. */
    saslserver_buf_wipe(&line);
    saslserver_free(&s.sasl);
    (void)stream_flush(s.stream);
    stream_free(&s.stream);
    sigaction(SIGTERM, &old_sa, NULL);
}

static int testsvc_option(int opt, const char *arg)
{
    uint64_t v;
    if (opt != 't' || str_to_u64(arg, TESTSVC_TIMEOUT_MAX_MS, &v) < 0 || v == 0) {
        fprintf(stderr, "testsvc: -t needs a timeout in milliseconds (1..%d)\n",
                TESTSVC_TIMEOUT_MAX_MS);
        return -1;
    }
    testsvc_timeout_ms = (int)v;
    return 0;
}

static int testsvc_init(struct config *config, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const char *error;
    const char *cert = config_str(config, "tls_server_cert");
    if (cert != NULL && cert[0] != '\0') {
        testsvc_tls_ctx = tls_server_ctx_new(config, &error);
        if (testsvc_tls_ctx == NULL) {
            log_error("TLS: %s", error);
            return -1;
        }
    }
    testsvc_allow_plaintext = config_bool(config, "allowplaintext");
    if (saslserver_global_init(config, "testsvc", &error) < 0)
        log_error("SASL: %s (no AUTH)", error);
    else
        testsvc_sasl_ok = true;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct service_def def = {
        .name = "testsvc",
        .extra_opts = "t:",
        .option = testsvc_option,
        .init = testsvc_init,
        .serve = testsvc_serve,
    };
    return service_main(argc, argv, &def);
}
