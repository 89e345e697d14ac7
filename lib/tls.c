/* tls.c - OpenSSL contexts for Roost's servers and clients.
 *
 * NAME
 *     tls_server_ctx_new, tls_client_ctx_new and friends
 *
 * DESCRIPTION
 *     Builds SSL_CTX objects with one policy (see tls.h): TLS 1.2 minimum,
 *     no compression, no renegotiation, no session cache or tickets, an
 *     unexpected EOF treated as EOF.  The handshake and the I/O live in
 *     stream.c; this file only decides what a context allows.
 *
 * DIAGNOSTICS
 *     OpenSSL's error queue is turned into text with ERR_error_string_n and
 *     returned through error_r (static buffer).
 */
#include "tls.h"
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static char tls_errbuf[1024];

const char *tls_error_text(const char *what)
{
    size_t off = 0;
    unsigned long e;
    unsigned count = 0;
    int n = snprintf(tls_errbuf, sizeof(tls_errbuf), "%s: ", what);
    if (n < 0)
        n = 0;
    off = (size_t)n < sizeof(tls_errbuf) ? (size_t)n : sizeof(tls_errbuf) - 1;
    while ((e = ERR_get_error()) != 0) {
        /* Keep the first three: the earliest is usually the cause. */
        if (count++ >= 3)
            continue;
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        n = snprintf(tls_errbuf + off, sizeof(tls_errbuf) - off, "%s%s", count > 1 ? "; " : "",
                     one);
        if (n > 0)
            off += (size_t)n < sizeof(tls_errbuf) - off ? (size_t)n : sizeof(tls_errbuf) - off - 1;
    }
    if (count == 0)
        snprintf(tls_errbuf + off, sizeof(tls_errbuf) - off, "unknown error");
    return tls_errbuf;
}

static const char *tls_err_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *tls_err_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_errbuf, sizeof(tls_errbuf), fmt, ap);
    va_end(ap);
    return tls_errbuf;
}

int tls_versions_parse(const char *versions, int *min_r, int *max_r, const char **error_r)
{
    bool v12 = false, v13 = false;
    const char *p = versions != NULL ? versions : TLS_DEFAULT_VERSIONS;

    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, " \t,");
        if (len == 6 && strncmp(p, "tls1_2", 6) == 0)
            v12 = true;
        else if (len == 6 && strncmp(p, "tls1_3", 6) == 0)
            v13 = true;
        else {
            char word[32];
            size_t wl = len < sizeof(word) - 1 ? len : sizeof(word) - 1;
            memcpy(word, p, wl);
            word[wl] = '\0';
            *error_r = tls_err_msg("tls_versions: unsupported version \"%s\" "
                                   "(allowed: tls1_2 tls1_3)", word);
            return -1;
        }
        p += len;
    }
    if (!v12 && !v13) {
        *error_r = "tls_versions: no protocol version enabled";
        return -1;
    }
    *min_r = v12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    *max_r = v13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    return 0;
}

/* The options every Roost context has. */
static void tls_ctx_common(SSL_CTX *ctx)
{
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                                 | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
}

SSL_CTX *tls_server_ctx_new_settings(const struct tls_server_settings *set,
                                     const char **error_r)
{
    int min, max;
    if (set->cert_file == NULL || set->cert_file[0] == '\0') {
        *error_r = "tls_server_cert is not set";
        return NULL;
    }
    if (tls_versions_parse(set->versions, &min, &max, error_r) < 0)
        return NULL;
    const char *key = set->key_file != NULL && set->key_file[0] != '\0' ? set->key_file
                                                                          : set->cert_file;
    const char *ciphers = set->ciphers != NULL && set->ciphers[0] != '\0' ? set->ciphers
                                                                           : TLS_DEFAULT_CIPHERS;

    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        *error_r = tls_error_text("SSL_CTX_new");
        return NULL;
    }
    tls_ctx_common(ctx);
    if (set->prefer_server_ciphers)
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1
        || SSL_CTX_set_max_proto_version(ctx, max) != 1) {
        *error_r = tls_error_text("setting the TLS versions");
        goto fail;
    }
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        snprintf(tls_errbuf, sizeof(tls_errbuf), "tls_ciphers: no usable cipher in \"%s\"",
                 ciphers);
        ERR_clear_error();
        *error_r = tls_errbuf;
        goto fail;
    }
    SSL_CTX_set_dh_auto(ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, set->cert_file) != 1) {
        char what[600];
        snprintf(what, sizeof(what), "loading certificate %s", set->cert_file);
        *error_r = tls_error_text(what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        char what[600];
        snprintf(what, sizeof(what), "loading private key %s", key);
        *error_r = tls_error_text(what);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        char what[600];
        snprintf(what, sizeof(what), "private key %s does not match certificate", key);
        *error_r = tls_error_text(what);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_server_ctx_new(const struct config *config, const char **error_r)
{
    struct tls_server_settings set = {
        .cert_file = config_str(config, "tls_server_cert"),
        .key_file = config_str(config, "tls_server_key"),
        .versions = config_str(config, "tls_versions"),
        .ciphers = config_str(config, "tls_ciphers"),
        .prefer_server_ciphers = config_bool(config, "tls_prefer_server_ciphers"),
    };
    return tls_server_ctx_new_settings(&set, error_r);
}

SSL_CTX *tls_server_ctx_new_files(const char *cert_file, const char *key_file,
                                  const char **error_r)
{
    struct tls_server_settings set = {
        .cert_file = cert_file,
        .key_file = key_file,
        .prefer_server_ciphers = true,
    };
    return tls_server_ctx_new_settings(&set, error_r);
}

SSL_CTX *tls_client_ctx_new(const char *cafile, bool verify, const char **error_r)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        *error_r = tls_error_text("SSL_CTX_new");
        return NULL;
    }
    tls_ctx_common(ctx);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        *error_r = tls_error_text("setting the TLS versions");
        goto fail;
    }
    if (verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (cafile != NULL && cafile[0] != '\0') {
            if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
                char what[600];
                snprintf(what, sizeof(what), "loading CA file %s", cafile);
                *error_r = tls_error_text(what);
                goto fail;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            *error_r = tls_error_text("loading the system CA store");
            goto fail;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_client_ctx_new_config(const struct config *config, bool verify,
                                   const char **error_r)
{
    return tls_client_ctx_new(config_str(config, "tls_client_ca_file"), verify, error_r);
}
