/* saslserver.h - the server side of SASL authentication over Cyrus SASL.
 *
 * NAME
 *     saslserver - AUTHENTICATE / AUTH / LOGIN for every Roost daemon
 *
 * SYNOPSIS
 *     saslserver_global_init(config, "imapd", &error);   once per process
 *     saslserver_new("imap", NULL, local, remote, tls, ssf, allowplaintext, &s, &error);
 *     saslserver_mechs(s, "AUTH=", " AUTH=", "", &capability);
 *     switch (saslserver_exchange(s, mech, initial, &io, conn, &error)) ...
 *     saslserver_user(s)                                  the session's user
 *
 * DESCRIPTION
 *     libsasl2 does the mechanisms (PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5,
 *     SCRAM-*, ... whatever plugins are installed) and the password checks
 *     (sasl_pwcheck_method: auxprop with sasldb2, or saslauthd).  This module
 *     holds what Roost adds around it:
 *
 *     Options.  libsasl2's option OPTION is read from the config key
 *     "sasl_OPTION", as in Cyrus imapd.conf (sasl_pwcheck_method,
 *     sasl_mech_list, sasl_sasldb_path, sasl_auxprop_plugin,
 *     sasl_saslauthd_path, sasl_log_level ...); "sasl_PLUGIN_OPTION" is tried
 *     first for an option a plugin asks for.  Unset keys fall back to the
 *     defaults in the config key table (auxprop, sasldb, /etc/sasldb2).
 *
 *     Logging.  libsasl2's messages go to log.h: errors as errors, warnings
 *     as warnings, authentication failures as notices, notes as info, debug
 *     and trace as debug (libsasl2 only sends what sasl_log_level, default
 *     1 = errors, asks for).  Level 7 ("traces including passwords") is dropped
 *     whatever sasl_log_level says.  This module never logs a password or an
 *     exchange.
 *
 *     User names.  Every name a client gives (authentication id,
 *     authorization id, LOGIN/USER name) goes through saslserver_canon_name()
 *     before libsasl2 looks it up, so the name libsasl2 checks the password
 *     of is the name whose mailboxes the session gets.  The rules are
 *     written above that function.
 *
 *     Where sasldb finds a user.  sasldb2 keys are (user, realm), and a
 *     canonical name is looked up as follows (checked with the real
 *     saslpasswd2 and plugins):
 *       - "name" (no '@')      -> user "name" in realm server_fqdn, i.e. the
 *                                 server_fqdn given to saslserver_new(), or
 *                                 when that is NULL the host's fully
 *                                 qualified name as libsasl2 works it out.
 *       - "name@domain"        -> user "name" in realm "domain".
 *     `saslpasswd2 -c NAME` writes NAME in the realm of the host's fully
 *     qualified name (sasldblistusers2 shows NAME@HOST); `saslpasswd2 -u
 *     example.com -c NAME` writes NAME in realm example.com.  So users made
 *     with plain `saslpasswd2 -c NAME` log in as "NAME" when the daemon
 *     passes server_fqdn NULL (recommended), or passes a server_fqdn equal
 *     to the host name.  A daemon that passes config "servername" instead
 *     needs users made with `saslpasswd2 -u <servername> -c NAME`.  No
 *     user_realm is given to libsasl2 (an empty one breaks DIGEST-MD5, a
 *     set one would append "@realm" to every unqualified name).
 *
 *     Proxy authorization.  A client may ask to act as another user (the
 *     authorization id of PLAIN, DIGEST-MD5, SCRAM ...).  That is allowed
 *     only when the canonical authentication id is one of the words of
 *     config "admins" (exact, case-sensitive match, as Cyrus); otherwise
 *     the exchange fails (SASLSERVER_FAIL).  An authorization id equal to
 *     the authentication id is always fine.
 *
 *     Security layers.  Roost does not use SASL security layers (integrity
 *     or privacy wrapping after authentication): max_ssf is 0 and maxbufsize
 *     0, TLS is the only protection of the stream.  The TLS strength is
 *     given to libsasl2 as the external SSF.
 *
 *     Plaintext.  Without TLS and without allow_plaintext (config
 *     "allowplaintext"), SASL_SEC_NOPLAINTEXT is set: mechanisms that send
 *     the password in the clear (PLAIN, LOGIN) are neither listed nor
 *     accepted, and saslserver_check_plain() refuses.  With TLS they are
 *     allowed.
 *
 *     Limits.  A client response may be at most SASLSERVER_MAX_RESPONSE
 *     bytes of base64 and an exchange at most SASLSERVER_MAX_STEPS
 *     challenges; decoded responses (which may hold passwords) are wiped
 *     before their memory is freed.
 *
 * DIAGNOSTICS
 *     Functions return a result (or 0/-1) and a message through error_r
 *     that is meant for the log: it may contain the client's user name but
 *     never a password; it stays valid until the next call on the same
 *     struct saslserver (or its free).  What the client is told is the
 *     daemon's choice, made from the result code. */
#ifndef ROOST_SASLSERVER_H
#define ROOST_SASLSERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct config;
struct saslserver;

/* Longest canonical user name, in bytes. */
#define SASLSERVER_MAX_USER 255
/* Longest client response accepted, in base64 bytes (the initial response
 * included). */
#define SASLSERVER_MAX_RESPONSE 16384
/* Most challenges one exchange may send before it is given up. */
#define SASLSERVER_MAX_STEPS 16
/* Longest password saslserver_check_plain() accepts. */
#define SASLSERVER_MAX_PASSWORD 1024

enum saslserver_result {
    SASLSERVER_OK = 0,   /* authenticated: see saslserver_user() */
    SASLSERVER_FAIL,     /* bad credentials, unknown user, or authorization
                            refused: NO / 535 / -ERR */
    SASLSERVER_CANCEL,   /* the client sent "*" */
    SASLSERVER_BADPROTO, /* bad base64, response too long, too many steps,
                            a malformed mechanism message */
    SASLSERVER_NOMECH,   /* unknown, disabled or badly named mechanism */
    SASLSERVER_TOOWEAK,  /* the mechanism (or LOGIN) needs TLS first */
    SASLSERVER_IOERR,    /* send_challenge/read_response failed */
    SASLSERVER_TEMPFAIL, /* the password backend failed (sasldb unreadable,
                            saslauthd down ...): try again later */
};

/* A short fixed name for a result ("ok", "fail", "cancel" ...), for logs. */
const char *saslserver_result_name(enum saslserver_result result);

/* Set up libsasl2 for this process: call once, before saslserver_new().
 * config must stay alive (and unchanged) as long as the process uses
 * SASL: options are read from it when libsasl2 asks.  appname names the
 * program to libsasl2 (its logs and its own <appname>.conf file).  Reads
 * "virtdomains", "defaultdomain" and "admins".  A second call with the same
 * config does nothing; with another config it fails. */
int saslserver_global_init(const struct config *config, const char *appname,
                           const char **error_r);
/* Release libsasl2's server side (sasl_server_done) at process exit; no
 * struct saslserver may be alive. */
void saslserver_global_deinit(void);

/* One connection's SASL state.
 *   service        "imap", "pop", "lmtp", "smtp" (the GSSAPI/DIGEST-MD5
 *                  service name)
 *   server_fqdn    NULL (recommended: the host's name as libsasl2 finds
 *                  it, which is also the sasldb realm of unqualified users,
 *                  see above) or a name
 *   local_ipport,  "1.2.3.4;143" / "::1;143" as libsasl2 wants them, or
 *   remote_ipport  NULL when unknown (a unix socket)
 *   tls_active     TLS is on (from the first byte, or after STARTTLS)
 *   tls_ssf        its strength in bits (e.g. 256), ignored without TLS
 *   allow_plaintext  config "allowplaintext": plaintext mechanisms allowed
 *                  without TLS
 * Returns 0, or -1 with *error_r for an address that is not "IP;PORT" or
 * when libsasl2 refuses.  Needs saslserver_global_init(). */
int saslserver_new(const char *service, const char *server_fqdn, const char *local_ipport,
                   const char *remote_ipport, bool tls_active, unsigned tls_ssf,
                   bool allow_plaintext, struct saslserver **s_r, const char **error_r);
/* Free (NULL-safe) and set *s to NULL. */
void saslserver_free(struct saslserver **s);

/* TLS was started (STARTTLS) with strength ssf: plaintext mechanisms are
 * allowed from now on and the external SSF is set.  Returns 0, or -1 (logged)
 * when libsasl2 refuses, after which the daemon should end the session. */
int saslserver_set_tls(struct saslserver *s, unsigned ssf);
/* May a password be sent in the clear now (TLS on, or allow_plaintext)?
 * Daemons use it for LOGINDISABLED, "AUTH" without PLAIN, POP3 USER ... */
bool saslserver_plaintext_allowed(const struct saslserver *s);

/* Append the mechanisms that may be used now to out, as
 * prefix MECH1 sep MECH2 ... suffix (IMAP: "AUTH=", " AUTH=", "";
 * SMTP: "AUTH ", " ", "").  Nothing at all (not even prefix and suffix)
 * is appended when no mechanism is available.  Returns the number of
 * mechanisms (>= 0), or -1 (logged; nothing appended). */
int saslserver_mechs(struct saslserver *s, const char *prefix, const char *sep,
                     const char *suffix, struct buf *out);

/* How an exchange talks to the client.  Strings are base64 exactly as on
 * the wire, without the protocol's framing ("+ ", "334 ", CRLF). */
struct saslserver_io {
    /* Send a challenge; base64 may be "" (an empty challenge).  Returns 0,
     * or -1 when the connection is gone. */
    int (*send_challenge)(void *ctx, const char *base64);
    /* Read the client's next response line into *base64_r (reset first,
     * without CRLF).  "*" cancels.  Returns 0, or -1 when the connection is
     * gone (or the line was over-long: the daemon's line reader decides). */
    int (*read_response)(void *ctx, struct buf *base64_r);
    /* The protocol can carry "additional data with success" (RFC 4422
     * 3.6) in its success reply: then the mechanism's final server message
     * (SCRAM's server signature, DIGEST-MD5's rspauth) is not sent as a
     * challenge but returned by saslserver_success_data() for the daemon
     * to put in its reply.  When false, libsasl2 sends it as one more
     * challenge and expects an empty response. */
    bool success_data;
};

/* Run one SASL exchange with mechanism mech (case-insensitive).
 * initial_response is the client's initial response as sent (SASL-IR,
 * "AUTH PLAIN xxx"): base64, "=" for an empty one (RFC 4959), or NULL when
 * the client sent none.  Sends challenges and reads responses through io
 * until libsasl2 decides.  On SASLSERVER_OK, saslserver_user(),
 * saslserver_authid(), saslserver_mech() and saslserver_success_data() are
 * set; afterwards further exchanges fail (one login per connection).
 * After any other result the client may try again with a new exchange.
 * *error_r is set for every result but SASLSERVER_OK. */
enum saslserver_result saslserver_exchange(struct saslserver *s, const char *mech,
                                           const char *initial_response,
                                           const struct saslserver_io *io, void *io_ctx,
                                           const char **error_r);

/* A user name and password from IMAP LOGIN, POP3 USER/PASS, the SMTP
 * "AUTH LOGIN" fallback ...: checked with sasl_checkpass (so
 * sasl_pwcheck_method applies), after the same name canonicalisation.
 * Returns SASLSERVER_OK (saslserver_user() set), SASLSERVER_FAIL,
 * SASLSERVER_TOOWEAK when saslserver_plaintext_allowed() is false (the
 * daemon should have refused already; checked again here), or
 * SASLSERVER_TEMPFAIL. */
enum saslserver_result saslserver_check_plain(struct saslserver *s, const char *user,
                                              const char *password, const char **error_r);

/* After SASLSERVER_OK (else NULL): the canonical authorization identity, the
 * user whose mailboxes the session uses. */
const char *saslserver_user(const struct saslserver *s);
/* After SASLSERVER_OK (else NULL): the canonical authentication identity,
 * who proved it; differs from saslserver_user() only for an admin acting as
 * another user. */
const char *saslserver_authid(const struct saslserver *s);
/* After SASLSERVER_OK (else NULL): the mechanism used ("PLAIN", "CRAM-MD5"
 * ...; "LOGIN" style plaintext via saslserver_check_plain() gives
 * "PLAINTEXT"). */
const char *saslserver_mech(const struct saslserver *s);
/* After SASLSERVER_OK with io->success_data: the base64 additional data to
 * send with the success reply, or NULL when the mechanism has none. */
const char *saslserver_success_data(const struct saslserver *s);

/* Strict base64 (RFC 4648 alphabet, '=' padding, length a multiple of 4,
 * no whitespace) as SASL uses it on the wire; "" decodes to nothing.
 * Decodes in[0..in_len) into out (reset first; NUL-terminated) and returns
 * 0, or -1 with *error_r.  The caller wipes out when it may hold a
 * secret. */
int saslserver_base64_decode(const char *in, size_t in_len, struct buf *out,
                             const char **error_r);
/* Encode data into out (reset first); len 0 gives "". */
void saslserver_base64_encode(const void *data, size_t len, struct buf *out);
/* Overwrite all of b's memory, then free it (for buffers that held
 * passwords or SASL responses). */
void saslserver_buf_wipe(struct buf *b);

/* Roost's user-name rules, applied to every name from a client:
 *   - leading and trailing spaces and tabs are removed;
 *   - the result must be 1..SASLSERVER_MAX_USER bytes of valid UTF-8 with
 *     no control characters, no space and no NUL;
 *   - at most one '@'; "user@domain" needs a non-empty user and a domain of
 *     letters, digits, '-', '_' and '.'; the domain is lowercased (domain
 *     names are case-insensitive), the user part keeps its case (as Cyrus:
 *     "Test1" and "test1" are different users);
 *   - virtdomains on ("userid" or "on"; deriving the domain from the
 *     server address, the extra of "on", is not done here): "user@domain" stays
 *     "user@domain", except that a domain equal to defaultdomain
 *     (case-insensitive) is dropped: "user@defaultdomain" -> "user"; a
 *     name without '@' stays as it is (a user of the default domain);
 *   - virtdomains off: there are no domains, so "user@domain" becomes
 *     "user" when domain is defaultdomain or server_realm (the name the
 *     unqualified users' sasldb realm is), and is refused otherwise.
 * defaultdomain and server_realm may be NULL or "".  Writes the canonical
 * name to out (reset first) and returns 0, or returns -1 with *error_r
 * (a fixed message that does not repeat the name). */
int saslserver_canon_name(const char *name, size_t len, bool virtdomains,
                          const char *defaultdomain, const char *server_realm,
                          struct buf *out, const char **error_r);

#endif
