/* saslclient.h - the client side of SASL authentication over Cyrus SASL.
 *
 * NAME
 *     saslclient - log in to an IMAP or SMTP server (cyradm, the relay's
 *     SMTP client)
 *
 * SYNOPSIS
 *     saslclient_global_init(&error);                         once per process
 *     struct saslclient_settings set = { .service = "imap", .server_host = host,
 *         .authid = "cyrus", .password = pw, .tls_ssf = 256 };
 *     saslclient_new(&set, &c, &error);
 *     saslclient_start(c, "PLAIN SCRAM-SHA-256", true, &mech, &initial, &error);
 *     send "AUTHENTICATE mech initial"; then for every "+ challenge":
 *         saslclient_step(c, challenge, &response, &error); send response
 *     on success: saslclient_finish(c, success_data_or_NULL, &error);
 *
 * DESCRIPTION
 *     A thin wrapper over sasl_client_*: the user name, authorization id and
 *     password come from the settings through callbacks, so the library
 *     never prompts (a mechanism that wants to ask anything else fails).
 *     Strings in and out are base64 as on the wire, without the protocol's
 *     framing.  No SASL security layer is negotiated (max_ssf 0), as on
 *     the server side; TLS strength is given as the external SSF.  The
 *     password is wiped from memory when the client is freed. */
#ifndef ROOST_SASLCLIENT_H
#define ROOST_SASLCLIENT_H

#include <stdbool.h>

struct saslclient;

struct saslclient_settings {
    const char *service;       /* "imap", "smtp", ... */
    const char *server_host;   /* the server's host name (DIGEST-MD5, GSSAPI) */
    const char *authid;        /* who logs in */
    const char *authzid;       /* act as this user; NULL or "" = authid */
    const char *password;
    const char *local_ipport;  /* "1.2.3.4;5678" or NULL */
    const char *remote_ipport; /* "1.2.3.4;143" or NULL */
    unsigned tls_ssf;          /* TLS strength in bits, 0 = no TLS */
    bool allow_plaintext;      /* use PLAIN/LOGIN even without TLS */
};

/* sasl_client_init, once per process (a second call does nothing).
 * Returns 0 or -1 with *error_r. */
int saslclient_global_init(const char **error_r);
/* sasl_client_done at process exit; no struct saslclient may be alive. */
void saslclient_global_deinit(void);

/* A client for one login; the settings' strings are copied.  service,
 * server_host, authid and password are required.  Returns 0 or -1 with
 * *error_r (valid until the next call of this module). */
int saslclient_new(const struct saslclient_settings *set, struct saslclient **c_r,
                   const char **error_r);
/* Free (NULL-safe, wipes the password) and set *c to NULL. */
void saslclient_free(struct saslclient **c);

/* Choose a mechanism from mechlist (the server's mechanisms separated by
 * spaces, e.g. from "AUTH=" capabilities or the EHLO AUTH line; libsasl2
 * picks the strongest it can do) and start it.  *mech_r is its name.
 * When initial_allowed (SASL-IR, SMTP AUTH), *initial_r is the initial
 * response to send with the command: base64, "=" for an empty one, or NULL
 * when the mechanism has none; when !initial_allowed, *initial_r is NULL
 * and the first response comes from saslclient_step() on the server's
 * first (possibly empty) challenge.  Strings are valid until the next call
 * on c.  Returns 0, or -1 with *error_r (no common mechanism ...). */
int saslclient_start(struct saslclient *c, const char *mechlist, bool initial_allowed,
                     const char **mech_r, const char **initial_r, const char **error_r);

/* The server sent challenge (base64, may be ""): *response_r is the
 * response to send (base64, may be "").  Returns 0, or -1 with *error_r
 * (bad base64, the server failed to prove itself ...); on -1 the caller
 * cancels with "*". */
int saslclient_step(struct saslclient *c, const char *challenge, const char **response_r,
                    const char **error_r);

/* The server said the login succeeded, with success_data (base64 additional
 * data, e.g. SCRAM's server signature in IMAP's OK), or NULL when it sent
 * none.  Returns 0 when the mechanism agrees it is complete (for SCRAM and
 * DIGEST-MD5 this means the server proved it knows the password), or -1
 * with *error_r: then the caller should not trust the connection. */
int saslclient_finish(struct saslclient *c, const char *success_data, const char **error_r);

#endif
