/* tls.h - OpenSSL contexts for Roost's servers and clients.
 *
 * Every TLS connection Roost makes or accepts gets its SSL_CTX here, so the
 * policy is in one place: TLS 1.2 or 1.3 only, no compression, no
 * renegotiation, no session cache or tickets (preforked children share no
 * state, so resumption could not work anyway), a peer closing without
 * close_notify is an ordinary EOF (mail protocols frame their own data).
 *
 * Config keys read by tls_server_ctx_new():
 *   tls_server_cert            PEM certificate (and chain); required
 *   tls_server_key             PEM private key; default: tls_server_cert
 *   tls_versions               space-separated subset of "tls1_2 tls1_3"
 *   tls_ciphers                OpenSSL cipher list for TLS 1.2
 *   tls_prefer_server_ciphers  yes/no
 * and by tls_client_ctx_new_config(): tls_client_ca_file.
 *
 * Error messages point into a static buffer valid until the next tls_
 * call; they carry OpenSSL's own error text. */
#ifndef ROOST_TLS_H
#define ROOST_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

struct config;

#define TLS_DEFAULT_VERSIONS "tls1_2 tls1_3"
#define TLS_DEFAULT_CIPHERS "HIGH:!aNULL:!MD5:!RC4"

/* Everything a server context is built from. */
struct tls_server_settings {
    const char *cert_file;          /* required */
    const char *key_file;           /* NULL = cert_file */
    const char *versions;           /* NULL = TLS_DEFAULT_VERSIONS */
    const char *ciphers;            /* NULL = TLS_DEFAULT_CIPHERS */
    bool prefer_server_ciphers;
};

/* A server context from the config keys above.  Returns NULL with
 * *error_r set when a key is missing or bad, or a file cannot be loaded
 * or the key does not match the certificate. */
SSL_CTX *tls_server_ctx_new(const struct config *config, const char **error_r);
/* The same from explicit settings. */
SSL_CTX *tls_server_ctx_new_settings(const struct tls_server_settings *set,
                                     const char **error_r);
/* Certificate and key files with every other setting at its default (and
 * the server's cipher order preferred); for tests and tools. */
SSL_CTX *tls_server_ctx_new_files(const char *cert_file, const char *key_file,
                                  const char **error_r);

/* A client context (TLS 1.2+).  verify: the server certificate must chain
 * to cafile (NULL = the system's CA store) and, when the stream is given
 * a server name, match it; !verify: anything is accepted (cafile ignored).
 * Returns NULL with *error_r set. */
SSL_CTX *tls_client_ctx_new(const char *cafile, bool verify, const char **error_r);
/* tls_client_ctx_new() with cafile from the key tls_client_ca_file. */
SSL_CTX *tls_client_ctx_new_config(const struct config *config, bool verify,
                                   const char **error_r);

/* Parse a tls_versions value into OpenSSL min/max protocol versions.
 * Words other than tls1_2 and tls1_3 (tls1, tls1_1, ssl3 ...) are
 * refused; an empty list too.  Returns 0 or -1 with *error_r set. */
int tls_versions_parse(const char *versions, int *min_r, int *max_r, const char **error_r);

/* "what: <OpenSSL error queue text>" (or "what: unknown error" when the
 * queue is empty); empties the queue.  Static buffer. */
const char *tls_error_text(const char *what);

#endif
