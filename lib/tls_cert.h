/* tls_cert.h - make a self-signed certificate for development instances.
 *
 * roost-mkcert and the TLS unit tests create their certificates here: a
 * fresh key (EC P-256 or RSA 2048), a self-signed X.509 v3 certificate
 * whose CN is the given name and whose subjectAltName holds DNS:localhost,
 * DNS:<name> (or IP:<name> for an address), IP:127.0.0.1 and IP:::1,
 * signed with SHA-256.  Not for production: real deployments point
 * tls_server_cert/tls_server_key at a CA-issued certificate. */
#ifndef ROOST_TLS_CERT_H
#define ROOST_TLS_CERT_H

#include <stdbool.h>

enum tls_cert_key_type {
    TLS_CERT_KEY_EC,    /* P-256 (the default) */
    TLS_CERT_KEY_RSA,   /* 2048 bits */
};

#define TLS_CERT_MAX_DAYS 36500

/* True for a name usable as CN and in subjectAltName: 1-64 characters of
 * letters, digits, '.', '-', '_' (host names), or an IPv4/IPv6 address. */
bool tls_cert_name_valid(const char *name);

/* Write the key (PEM PKCS#8, mode 0600) to keypath and the certificate
 * (PEM, mode 0644) to certpath, valid for days (1..TLS_CERT_MAX_DAYS) from
 * now.  Each file is written to a temporary name in its directory, synced
 * and moved into place, so a crash leaves no half file.  When overwrite is
 * false, an existing certpath or keypath is an error and nothing is
 * written.  Returns 0, or -1 with *error_r set (static buffer). */
int tls_cert_generate(const char *certpath, const char *keypath, const char *name,
                      unsigned days, enum tls_cert_key_type type, bool overwrite,
                      const char **error_r);

#endif
