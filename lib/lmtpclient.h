/* lmtpclient.h - the client side of LMTP (RFC 2033) and SMTP (RFC 5321).
 *
 * NAME
 *     lmtpclient - hand a message to an LMTP or SMTP server
 *
 * SYNOPSIS
 *     lmtpclient_connect("/run/roost/lmtp", LMTPCLIENT_LMTP, 30000, &c, &error);
 *     lmtpclient_hello(c, "host.example", &reply, &error);
 *     struct lmtpclient_rcpt rcpts[] = { { .address = "bob" } };
 *     struct lmtpclient_txn txn = { .from = "alice@example.com",
 *                                   .rcpts = rcpts, .nrcpts = 1 };
 *     if (lmtpclient_txn_begin(c, &txn, &error) == 1) {
 *         lmtpclient_txn_write(c, message, len);   // any number of times
 *         lmtpclient_txn_end(c, &txn, &error);
 *     }
 *     rcpts[0].reply.code ...                       // the outcome per recipient
 *     lmtpclient_quit(c); lmtpclient_free(&c);
 *
 * DESCRIPTION
 *     deliver uses this to give a message to lmtpd over its unix socket; the
 *     relay's SMTP client uses the same code for remote delivery.  The
 *     client works over a struct stream (lib/stream.h), so TLS (STARTTLS) and
 *     timeouts are the stream's.
 *
 *     Replies.  Every reply, single or multi-line, is read whole into a
 *     struct lmtpclient_reply: its code, the RFC 3463 enhanced status code
 *     when the server sent one ("5.1.1"), and its text (the lines joined by
 *     '\n', cut at LMTPCLIENT_TEXT_MAX bytes).  A reply that is not one
 *     ("hello", a code outside 200..599, lines with different codes, more
 *     than LMTPCLIENT_REPLY_LINES lines or a line over
 *     LMTPCLIENT_LINE_MAX bytes) is a protocol error: the function fails and
 *     the connection should be dropped.
 *
 *     Transactions.  lmtpclient_txn_begin() sends MAIL FROM, every RCPT TO
 *     and DATA, in one write when the server offers PIPELINING (RFC 2920),
 *     else one by one (stopping at a refused MAIL, and sending no DATA when
 *     no recipient was accepted).  The body then goes through
 *     lmtpclient_txn_write(), which makes it a valid DATA body whatever it
 *     holds: bare LF and bare CR become CRLF and lines starting with '.'
 *     are dot-stuffed; lmtpclient_txn_end() adds a final CRLF when the body
 *     lacks one, sends the terminating ".", and reads the outcome: with
 *     LMTP one reply per accepted recipient, in order (RFC 2033 4.2), with
 *     SMTP one reply that is copied to every accepted recipient.  After a
 *     transaction (whatever its outcome) the client is ready for the next
 *     one; after a failed begin it sends RSET itself.
 *
 * DIAGNOSTICS
 *     Functions return -1 with *error_r for a connection that failed (I/O
 *     error, timeout, closed, protocol error); the caller should then treat
 *     every recipient without a final reply as a temporary failure.  Server
 *     refusals are not errors: they are in the replies.  Error messages stay
 *     valid until the next call on the same client.
 */
#ifndef ROOST_LMTPCLIENT_H
#define ROOST_LMTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct saslclient_settings;
struct stream;
struct lmtpclient;

enum lmtpclient_proto {
    LMTPCLIENT_LMTP,   /* LHLO; one DATA reply per recipient */
    LMTPCLIENT_SMTP,   /* EHLO (HELO when refused); one DATA reply */
};

/* Longest reply line accepted (RFC 5321 asks for 512; be generous). */
#define LMTPCLIENT_LINE_MAX 4096
/* Most lines of one reply (an EHLO answer has one per extension). */
#define LMTPCLIENT_REPLY_LINES 100
/* How much of a reply's text is kept. */
#define LMTPCLIENT_TEXT_MAX 1024
/* Most extensions remembered from LHLO/EHLO. */
#define LMTPCLIENT_MAX_EXTENSIONS 64

struct lmtpclient_reply {
    int code;                              /* 200..599; 0 = none read */
    char status[16];                       /* "2.1.5", or "" when not sent */
    char text[LMTPCLIENT_TEXT_MAX];        /* the lines' text, '\n' between */
};

/* 2, 4 or 5 (the reply's class); 4 for "no reply" (code 0): a recipient
 * whose outcome is unknown must be retried. */
int lmtpclient_reply_class(const struct lmtpclient_reply *reply);
/* "550 5.1.1 text" style one-line rendering (newlines become "; ") into
 * out of outsize bytes, for logs and bounce texts. */
void lmtpclient_reply_format(const struct lmtpclient_reply *reply, char *out, size_t outsize);

/* Connect to address (a unix socket path or "host:port", as lib/net.h
 * takes them) with the stream timeout timeout_ms (also bounding the
 * connect), and read the server's greeting.  A greeting other than 220 is
 * refused (-1, its text in *error_r).  The client owns the socket. */
int lmtpclient_connect(const char *address, enum lmtpclient_proto proto, int timeout_ms,
                       struct lmtpclient **c_r, const char **error_r);
/* A client over a connected stream the caller owns (and frees after
 * lmtpclient_free()).  No greeting is read: call lmtpclient_greeting(). */
struct lmtpclient *lmtpclient_new(struct stream *stream, enum lmtpclient_proto proto);
/* Read the greeting into reply_r: 0 (look at reply_r->code: 220 expected)
 * or -1. */
int lmtpclient_greeting(struct lmtpclient *c, struct lmtpclient_reply *reply_r,
                        const char **error_r);
/* Free (NULL-safe); closes the socket when lmtpclient_connect() made it. */
void lmtpclient_free(struct lmtpclient **c);
struct stream *lmtpclient_stream(struct lmtpclient *c);

/* LHLO (LMTP) or EHLO (SMTP, falling back to HELO when EHLO gets a 5xx)
 * with the client's name.  On a 250 the extensions are remembered
 * (replacing earlier ones).  Returns 0 (reply_r says whether the server
 * agreed) or -1. */
int lmtpclient_hello(struct lmtpclient *c, const char *myname, struct lmtpclient_reply *reply_r,
                     const char **error_r);
/* Did the last hello offer extension name (case-insensitive: "PIPELINING",
 * "SIZE", "STARTTLS", "AUTH" ...)? */
bool lmtpclient_has_extension(const struct lmtpclient *c, const char *name);
/* The parameters of extension name ("10240000" for "SIZE 10240000",
 * "PLAIN LOGIN" for AUTH), "" when it has none, NULL when not offered. */
const char *lmtpclient_extension_param(const struct lmtpclient *c, const char *name);

/* STARTTLS and the handshake (servername: SNI and, when ctx verifies,
 * the name checked).  0 with reply_r->code 220 when TLS is on (the caller
 * must say hello again: the extensions are forgotten), 0 with another code
 * when the server refused (the session goes on in plaintext), -1 when the
 * handshake or the connection failed. */
int lmtpclient_starttls(struct lmtpclient *c, SSL_CTX *ctx, const char *servername,
                        struct lmtpclient_reply *reply_r, const char **error_r);
/* AUTH (RFC 4954) with the mechanisms the server offered and the
 * credentials in set (lib/saslclient.h).  0 with reply_r->code 235 when
 * authenticated, 0 with another code when refused, -1 on a connection or
 * SASL failure (including a server that fails to prove itself). */
int lmtpclient_auth(struct lmtpclient *c, const struct saslclient_settings *set,
                    struct lmtpclient_reply *reply_r, const char **error_r);

/* Simple commands: 0 (reply in reply_r, may be NULL) or -1.  quit sends
 * QUIT and reads the reply when it can; it never fails. */
int lmtpclient_noop(struct lmtpclient *c, struct lmtpclient_reply *reply_r, const char **error_r);
int lmtpclient_rset(struct lmtpclient *c, struct lmtpclient_reply *reply_r, const char **error_r);
void lmtpclient_quit(struct lmtpclient *c);

/* ---- transactions ---- */

struct lmtpclient_rcpt {
    /* in */
    const char *address;      /* without angle brackets; "" is refused */
    const char *params;       /* "IGNOREQUOTA", "NOTIFY=NEVER" ... or NULL */
    /* out */
    struct lmtpclient_reply rcpt_reply;   /* to RCPT TO */
    struct lmtpclient_reply reply;        /* the outcome: rcpt_reply when the
                                             RCPT was refused, else the reply
                                             after the body (code 0: none
                                             came, the connection failed) */
};

struct lmtpclient_txn {
    /* in */
    const char *from;         /* reverse path without brackets; "" = <> */
    const char *mail_params;  /* "SIZE=123 BODY=8BITMIME AUTH=<>" ... or NULL */
    struct lmtpclient_rcpt *rcpts;
    unsigned nrcpts;
    /* out */
    struct lmtpclient_reply mail_reply;
    struct lmtpclient_reply data_reply;   /* to DATA (354 expected) */
    unsigned accepted;                    /* recipients RCPT accepted */
};

/* Start a transaction: MAIL, RCPT, DATA as described at the top.
 * Returns 1 when the server waits for the body, 0 when the transaction
 * ended before it (refused MAIL, no recipient accepted, DATA refused: every
 * recipient's reply is then set from what was refused, and RSET has been
 * sent), -1 when the connection failed.  Addresses and parameters with
 * control characters are refused with -1 before anything is sent. */
int lmtpclient_txn_begin(struct lmtpclient *c, struct lmtpclient_txn *txn, const char **error_r);
/* Send body bytes (after begin returned 1), normalised as described at the
 * top; the state carries over between calls, so the body may be cut
 * anywhere.  Write errors show in lmtpclient_txn_end(). */
void lmtpclient_txn_write(struct lmtpclient *c, const void *data, size_t len);
/* End the body and read the outcome into every accepted recipient's
 * reply.  Returns 0, or -1 when the connection failed (recipients whose
 * reply did not come keep code 0). */
int lmtpclient_txn_end(struct lmtpclient *c, struct lmtpclient_txn *txn, const char **error_r);

/* RFC 3461 xtext encoding of s (for AUTH=, ENVID=, ORCPT=) into out of
 * outsize bytes; returns false when it does not fit. */
bool lmtpclient_xtext(const char *s, char *out, size_t outsize);

#endif
