/* tls_cert.c - make a self-signed certificate for development instances.
 *
 * NAME
 *     tls_cert_generate, tls_cert_name_valid
 *
 * DESCRIPTION
 *     OpenSSL 3 key generation (EVP_EC_gen / EVP_RSA_gen) and an X.509 v3
 *     certificate signed by its own key.  Extensions: basicConstraints
 *     CA:FALSE (a server certificate, which browsers and mail clients want
 *     for an end entity), extendedKeyUsage serverAuth, a subject key
 *     identifier and the subjectAltName list described in tls_cert.h.  No
 *     keyUsage extension, so OpenSSL still treats the certificate as
 *     self-signed and a client can trust it by naming it as its CA file.
 *
 *     Files are written to "<path>.tmp.<pid>" (O_EXCL, the final mode from
 *     the start), fsynced, then linked into place (no overwrite) or renamed
 *     (overwrite).
 */
#include "tls_cert.h"
#include "str.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static char tls_cert_errbuf[1024];

static const char *tls_cert_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *tls_cert_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_cert_errbuf, sizeof(tls_cert_errbuf), fmt, ap);
    va_end(ap);
    return tls_cert_errbuf;
}

static const char *tls_cert_ossl_err(const char *what)
{
    return tls_cert_err("%s", tls_error_text(what));
}

static bool tls_cert_is_ip(const char *name)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

bool tls_cert_name_valid(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > 64)
        return false;
    if (tls_cert_is_ip(name))
        return true;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '-' || c == '_'))
            return false;
    }
    return name[0] != '.' && name[0] != '-';
}

static int tls_cert_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value,
                            const char **error_r)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (ext == NULL) {
        *error_r = tls_cert_ossl_err(OBJ_nid2sn(nid));
        return -1;
    }
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1) {
        *error_r = tls_cert_ossl_err(OBJ_nid2sn(nid));
        return -1;
    }
    return 0;
}

static X509 *tls_cert_make(EVP_PKEY *pkey, const char *name, unsigned days,
                           const char **error_r)
{
    X509 *x = X509_new();
    BIGNUM *bn = NULL;
    if (x == NULL) {
        *error_r = tls_cert_ossl_err("X509_new");
        return NULL;
    }
    if (X509_set_version(x, X509_VERSION_3) != 1)
        goto ossl_fail;

    /* A random positive 127-bit serial number. */
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        goto ossl_fail;
    rnd[0] &= 0x7f;
    rnd[0] |= 0x40;
    bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
        goto ossl_fail;

    /* Five minutes back, for clocks that are a little behind. */
    if (X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL
        || X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL)
        goto ossl_fail;
    if (X509_set_pubkey(x, pkey) != 1)
        goto ossl_fail;

    X509_NAME *subject = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                   (const unsigned char *)"Roost development instance", -1, -1,
                                   0) != 1
        || X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name,
                                      -1, -1, 0) != 1
        || X509_set_issuer_name(x, subject) != 1)
        goto ossl_fail;

    char san[256];
    const char *lname = str_equal_ci(name, "localhost") ? NULL : name;
    int n;
    if (lname == NULL || strcmp(name, "127.0.0.1") == 0 || strcmp(name, "::1") == 0)
        n = snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1");
    else
        n = snprintf(san, sizeof(san), "DNS:localhost,%s:%s,IP:127.0.0.1,IP:::1",
                     tls_cert_is_ip(name) ? "IP" : "DNS", name);
    if (n < 0 || (size_t)n >= sizeof(san)) {
        *error_r = "subjectAltName too long";
        goto fail;
    }

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (tls_cert_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", error_r) < 0
        || tls_cert_add_ext(x, &ctx, NID_ext_key_usage, "serverAuth", error_r) < 0
        || tls_cert_add_ext(x, &ctx, NID_subject_key_identifier, "hash", error_r) < 0
        || tls_cert_add_ext(x, &ctx, NID_subject_alt_name, san, error_r) < 0)
        goto fail;

    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto ossl_fail;
    BN_free(bn);
    return x;

ossl_fail:
    *error_r = tls_cert_ossl_err("making the certificate");
fail:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

/* Write PEM data to a new temporary file next to path; the temporary name
 * goes to tmp.  Returns 0 or -1. */
static int tls_cert_write_tmp(const char *path, mode_t mode, EVP_PKEY *pkey, X509 *x,
                              char *tmp, size_t tmp_size, const char **error_r)
{
    int n = snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= tmp_size) {
        *error_r = tls_cert_err("%s: path too long", path);
        return -1;
    }
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        *error_r = tls_cert_err("%s: %s", tmp, strerror(errno));
        return -1;
    }
    /* The umask must not widen or narrow what we asked for. */
    (void)fchmod(fd, mode);
    BIO *bio = BIO_new_fd(fd, BIO_NOCLOSE);
    int ok = bio != NULL;
    if (ok)
        ok = pkey != NULL ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_bio_X509(bio, x);
    if (ok)
        ok = BIO_flush(bio) == 1;
    BIO_free(bio);
    if (!ok) {
        *error_r = tls_cert_ossl_err(tmp);
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        *error_r = tls_cert_err("%s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int tls_cert_install(const char *tmp, const char *path, bool overwrite,
                            const char **error_r)
{
    if (overwrite) {
        if (rename(tmp, path) < 0) {
            *error_r = tls_cert_err("rename %s to %s: %s", tmp, path, strerror(errno));
            unlink(tmp);
            return -1;
        }
        return 0;
    }
    if (link(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        *error_r = err == EEXIST ? tls_cert_err("%s already exists", path)
                                 : tls_cert_err("link %s to %s: %s", tmp, path, strerror(err));
        return -1;
    }
    unlink(tmp);
    return 0;
}

static bool tls_cert_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 || errno != ENOENT;
}

int tls_cert_generate(const char *certpath, const char *keypath, const char *name,
                      unsigned days, enum tls_cert_key_type type, bool overwrite,
                      const char **error_r)
{
    if (certpath == NULL || keypath == NULL || certpath[0] == '\0' || keypath[0] == '\0') {
        *error_r = "certificate and key paths are required";
        return -1;
    }
    if (strcmp(certpath, keypath) == 0) {
        *error_r = "the certificate and the key must be different files";
        return -1;
    }
    if (!tls_cert_name_valid(name)) {
        *error_r = tls_cert_err("bad certificate name \"%s\" (a host name or address)",
                                name != NULL ? name : "");
        return -1;
    }
    if (days < 1 || days > TLS_CERT_MAX_DAYS) {
        *error_r = tls_cert_err("validity must be 1 to %d days", TLS_CERT_MAX_DAYS);
        return -1;
    }
    if (!overwrite) {
        if (tls_cert_exists(certpath)) {
            *error_r = tls_cert_err("%s already exists", certpath);
            return -1;
        }
        if (tls_cert_exists(keypath)) {
            *error_r = tls_cert_err("%s already exists", keypath);
            return -1;
        }
    }

    ERR_clear_error();
    EVP_PKEY *pkey = type == TLS_CERT_KEY_RSA ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (pkey == NULL) {
        *error_r = tls_cert_ossl_err("generating the key");
        return -1;
    }
    X509 *x = tls_cert_make(pkey, name, days, error_r);
    if (x == NULL) {
        EVP_PKEY_free(pkey);
        return -1;
    }

    char keytmp[4200], certtmp[4200];
    int ret = -1;
    if (tls_cert_write_tmp(keypath, 0600, pkey, NULL, keytmp, sizeof(keytmp), error_r) < 0)
        goto out;
    if (tls_cert_write_tmp(certpath, 0644, NULL, x, certtmp, sizeof(certtmp), error_r) < 0) {
        unlink(keytmp);
        goto out;
    }
    if (tls_cert_install(keytmp, keypath, overwrite, error_r) < 0) {
        unlink(certtmp);
        goto out;
    }
    if (tls_cert_install(certtmp, certpath, overwrite, error_r) < 0) {
        /* Do not leave a key without its certificate. */
        unlink(keypath);
        goto out;
    }
    ret = 0;
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return ret;
}
