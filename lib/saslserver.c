/* saslserver.c - the server side of SASL authentication over Cyrus SASL.
 *
 * NAME
 *     saslserver - libsasl2 set up the Roost way, and the one exchange loop
 *     every daemon's AUTHENTICATE / AUTH command runs
 *
 * DESCRIPTION
 *     Global callbacks (given to sasl_server_init): options from the config
 *     ("sasl_OPTION"), libsasl2's log lines into log.h.  Per-connection
 *     callbacks (given to sasl_server_new, with the struct saslserver as
 *     context): user-name canonicalisation (saslserver_canon_name) and the
 *     proxy policy (only admins may act as someone else).
 *
 *     Each exchange and each plaintext check runs on a fresh libsasl2
 *     connection, so a failed or cancelled attempt leaves nothing behind
 *     for the next one, and the SASL_SUCCESS_DATA flag can follow what the
 *     protocol supports.  See saslserver.h for the contracts and the rules
 *     on names and realms. */
#include "saslserver.h"

#include "config.h"
#include "log.h"
#include "str.h"
#include "xmalloc.h"

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The mechanism name saslserver_check_plain() reports. */
#define SASLSERVER_PLAINTEXT_MECH "PLAINTEXT"

struct saslserver {
    sasl_conn_t *conn;
    char *service;
    char *server_fqdn;   /* NULL: libsasl2 finds the host name */
    char *local_ipport;
    char *remote_ipport;
    bool tls_active;
    unsigned tls_ssf;
    bool allow_plaintext;
    bool authenticated;

    char *user;
    char *authid;
    char *mech;
    char *success_data;

    /* Why the last canonicalisation or authorization was refused ("" when
     * it was not): libsasl2 replaces our error detail with its own. */
    const char *refusal;
    char error[256];

    sasl_callback_t callbacks[3];
};

static struct {
    bool initialised;
    const struct config *config;
    bool virtdomains;
    char *defaultdomain;
    char *admins;
    char error[256];
} saslserver_global;

static sasl_callback_t saslserver_global_callbacks[3];

const char *saslserver_result_name(enum saslserver_result result)
{
    switch (result) {
    case SASLSERVER_OK:
        return "ok";
    case SASLSERVER_FAIL:
        return "fail";
    case SASLSERVER_CANCEL:
        return "cancel";
    case SASLSERVER_BADPROTO:
        return "badproto";
    case SASLSERVER_NOMECH:
        return "nomech";
    case SASLSERVER_TOOWEAK:
        return "tooweak";
    case SASLSERVER_IOERR:
        return "ioerr";
    case SASLSERVER_TEMPFAIL:
        return "tempfail";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* base64 and wiping */

static bool saslserver_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

int saslserver_base64_decode(const char *in, size_t in_len, struct buf *out,
                             const char **error_r)
{
    buf_reset(out);
    if (in_len == 0)
        return 0;
    if (in_len % 4 != 0 || in_len > UINT32_MAX / 2) {
        *error_r = "invalid base64 (bad length)";
        return -1;
    }
    size_t pad = 0;
    if (in[in_len - 1] == '=')
        pad++;
    if (in[in_len - 2] == '=')
        pad++;
    if (pad == 1 && in[in_len - 2] == '=') {
        *error_r = "invalid base64";
        return -1;
    }
    for (size_t i = 0; i < in_len - pad; i++) {
        if (!saslserver_b64_char((unsigned char)in[i])) {
            *error_r = "invalid base64 (bad character)";
            return -1;
        }
    }
    size_t max = in_len / 4 * 3;
    buf_reserve(out, max + 1);
    unsigned outlen = 0;
    int r = sasl_decode64(in, (unsigned)in_len, out->data, (unsigned)(max + 1), &outlen);
    if (r != SASL_OK || outlen > max) {
        buf_reset(out);
        *error_r = "invalid base64";
        return -1;
    }
    out->len = outlen;
    out->data[outlen] = '\0';
    return 0;
}

void saslserver_base64_encode(const void *data, size_t len, struct buf *out)
{
    buf_reset(out);
    if (len == 0) {
        buf_append_str(out, "");
        return;
    }
    if (len > UINT32_MAX / 2)
        log_panic("saslserver: base64 input too large");
    size_t max = (len + 2) / 3 * 4;
    buf_reserve(out, max + 1);
    unsigned outlen = 0;
    if (sasl_encode64(data, (unsigned)len, out->data, (unsigned)(max + 1), &outlen) != SASL_OK ||
        outlen > max)
        log_panic("saslserver: sasl_encode64 failed");
    out->len = outlen;
    out->data[outlen] = '\0';
}

void saslserver_buf_wipe(struct buf *b)
{
    if (b->data != NULL && b->alloc > 0)
        explicit_bzero(b->data, b->alloc);
    buf_free(b);
}

/* ------------------------------------------------------------------ */
/* user names */

/* Length of the valid UTF-8 sequence at p (at most n bytes) that is not a
 * control character (C0, DEL, C1) nor a space; 0 when there is none. */
static size_t saslserver_utf8_char(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return c > 0x20 && c != 0x7f ? 1 : 0;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        if (c == 0xc2)
            lo = 0xa0; /* U+0080..U+009F are C1 controls */
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return len;
}

static bool saslserver_domain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

/* Does domain[0..len) equal s (case-insensitive)?  NULL and "" never
 * match. */
static bool saslserver_domain_is(const char *domain, size_t len, const char *s)
{
    return s != NULL && *s != '\0' && strlen(s) == len && strncasecmp(domain, s, len) == 0;
}

int saslserver_canon_name(const char *name, size_t len, bool virtdomains,
                          const char *defaultdomain, const char *server_realm,
                          struct buf *out, const char **error_r)
{
    buf_reset(out);
    while (len > 0 && (name[0] == ' ' || name[0] == '\t')) {
        name++;
        len--;
    }
    while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
        len--;
    if (len == 0) {
        *error_r = "empty user name";
        return -1;
    }
    if (len > SASLSERVER_MAX_USER) {
        *error_r = "user name too long";
        return -1;
    }
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        size_t n = saslserver_utf8_char(p + i, len - i);
        if (n == 0) {
            *error_r = "user name with a space, a control character or invalid UTF-8";
            return -1;
        }
        i += n;
    }

    const char *at = memchr(name, '@', len);
    if (at == NULL) {
        buf_append(out, name, len);
        return 0;
    }
    size_t ulen = (size_t)(at - name);
    const char *domain = at + 1;
    size_t dlen = len - ulen - 1;
    if (memchr(domain, '@', dlen) != NULL) {
        *error_r = "user name with more than one '@'";
        return -1;
    }
    if (ulen == 0 || dlen == 0) {
        *error_r = "user name with an empty user or domain part";
        return -1;
    }
    if (domain[0] == '.' || domain[0] == '-') {
        *error_r = "user name with an invalid domain";
        return -1;
    }
    for (size_t i = 0; i < dlen; i++) {
        if (!saslserver_domain_char(domain[i]) ||
            (domain[i] == '.' && i + 1 < dlen && domain[i + 1] == '.')) {
            *error_r = "user name with an invalid domain";
            return -1;
        }
    }
    bool is_default = saslserver_domain_is(domain, dlen, defaultdomain);
    if (virtdomains) {
        buf_append(out, name, ulen);
        if (!is_default) {
            buf_append_char(out, '@');
            size_t start = out->len;
            buf_append(out, domain, dlen);
            str_lcase(out->data + start);
        }
        return 0;
    }
    if (is_default || saslserver_domain_is(domain, dlen, server_realm)) {
        buf_append(out, name, ulen);
        return 0;
    }
    *error_r = "user name with a domain, but virtdomains is off";
    return -1;
}

/* ------------------------------------------------------------------ */
/* libsasl2 callbacks */

static int saslserver_cb_getopt(void *context, const char *plugin_name, const char *option,
                                const char **result, unsigned *len)
{
    (void)context;
    const struct config *config = saslserver_global.config;
    if (config == NULL || option == NULL)
        return SASL_FAIL;
    char key[256];
    const char *value = NULL;
    int n;
    if (plugin_name != NULL && *plugin_name != '\0') {
        n = snprintf(key, sizeof(key), "sasl_%s_%s", plugin_name, option);
        if (n > 0 && (size_t)n < sizeof(key))
            value = config_lookup(config, key);
    }
    if (value == NULL) {
        n = snprintf(key, sizeof(key), "sasl_%s", option);
        if (n <= 0 || (size_t)n >= sizeof(key))
            return SASL_FAIL;
        value = config_lookup(config, key);
        if (value == NULL) {
            /* A key declared on its own (not only through the "sasl_"
             * prefix) may have a default in the table. */
            const struct config_key *k = config_key_find(key);
            if (k != NULL && strcmp(k->name, key) == 0)
                value = k->def;
        }
    }
    if (value == NULL)
        return SASL_FAIL;
    *result = value;
    if (len != NULL)
        *len = (unsigned)strlen(value);
    return SASL_OK;
}

static int saslserver_cb_log(void *context, int level, const char *message)
{
    (void)context;
    if (message == NULL)
        return SASL_OK;
    switch (level) {
    case SASL_LOG_ERR:
        log_error("sasl: %s", message);
        break;
    case SASL_LOG_FAIL:
        log_notice("sasl: %s", message);
        break;
    case SASL_LOG_WARN:
        log_warning("sasl: %s", message);
        break;
    case SASL_LOG_NOTE:
        log_info("sasl: %s", message);
        break;
    case SASL_LOG_DEBUG:
    case SASL_LOG_TRACE:
        log_debug("sasl: %s", message);
        break;
    default:
        /* SASL_LOG_PASS may hold passwords: never written. */
        break;
    }
    return SASL_OK;
}

static int saslserver_cb_canon(sasl_conn_t *conn, void *context, const char *in, unsigned inlen,
                               unsigned flags, const char *user_realm, char *out,
                               unsigned out_max, unsigned *out_len)
{
    (void)flags;
    (void)user_realm;
    struct saslserver *s = context;
    const void *fqdn = NULL;
    if (sasl_getprop(conn, SASL_SERVERFQDN, &fqdn) != SASL_OK)
        fqdn = NULL;
    struct buf name = BUF_INIT;
    const char *error;
    if (in == NULL ||
        saslserver_canon_name(in, inlen, saslserver_global.virtdomains,
                              saslserver_global.defaultdomain, fqdn, &name, &error) < 0) {
        if (in == NULL)
            error = "no user name";
        s->refusal = error;
        sasl_seterror(conn, SASL_NOLOG, "%s", error);
        buf_free(&name);
        return SASL_BADAUTH;
    }
    if (name.len >= out_max) {
        s->refusal = "user name too long";
        sasl_seterror(conn, SASL_NOLOG, "%s", s->refusal);
        buf_free(&name);
        return SASL_BUFOVER;
    }
    memcpy(out, name.data, name.len);
    out[name.len] = '\0';
    *out_len = (unsigned)name.len;
    buf_free(&name);
    return SASL_OK;
}

static bool saslserver_is_admin(const char *user, size_t len)
{
    const char *p = saslserver_global.admins;
    if (p == NULL || len == 0)
        return false;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t");
        if (n == len && memcmp(p, user, len) == 0)
            return true;
        p += n;
    }
    return false;
}

static int saslserver_cb_authorize(sasl_conn_t *conn, void *context, const char *requested_user,
                                   unsigned rlen, const char *auth_identity, unsigned alen,
                                   const char *def_realm, unsigned urlen,
                                   struct propctx *propctx)
{
    (void)def_realm;
    (void)urlen;
    (void)propctx;
    struct saslserver *s = context;
    if (auth_identity == NULL || alen == 0) {
        s->refusal = "no authentication identity";
        sasl_seterror(conn, SASL_NOLOG, "%s", s->refusal);
        return SASL_NOAUTHZ;
    }
    if (requested_user == NULL || rlen == 0 ||
        (rlen == alen && memcmp(requested_user, auth_identity, alen) == 0))
        return SASL_OK;
    if (saslserver_is_admin(auth_identity, alen)) {
        log_notice("sasl: admin %.*s authorizes as %.*s", (int)alen, auth_identity, (int)rlen,
                   requested_user);
        return SASL_OK;
    }
    s->refusal = "authorization as another user refused (not an admin)";
    sasl_seterror(conn, SASL_NOLOG, "%s", s->refusal);
    return SASL_NOAUTHZ;
}

/* ------------------------------------------------------------------ */
/* global set-up */

int saslserver_global_init(const struct config *config, const char *appname,
                           const char **error_r)
{
    if (saslserver_global.initialised) {
        if (saslserver_global.config == config)
            return 0;
        *error_r = "SASL server already initialised with another config";
        return -1;
    }
    saslserver_global.config = config;
    const char *vd = config_str(config, "virtdomains");
    saslserver_global.virtdomains = vd != NULL && strcmp(vd, "off") != 0;
    const char *dd = config_str(config, "defaultdomain");
    saslserver_global.defaultdomain = dd != NULL && *dd != '\0' ? xstrdup(dd) : NULL;
    if (saslserver_global.defaultdomain != NULL)
        str_lcase(saslserver_global.defaultdomain);
    const char *admins = config_str(config, "admins");
    saslserver_global.admins = xstrdup(admins != NULL ? admins : "");

    saslserver_global_callbacks[0] = (sasl_callback_t){
        SASL_CB_GETOPT, (int (*)(void))(void (*)(void))saslserver_cb_getopt, NULL};
    saslserver_global_callbacks[1] = (sasl_callback_t){
        SASL_CB_LOG, (int (*)(void))(void (*)(void))saslserver_cb_log, NULL};
    saslserver_global_callbacks[2] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};

    int r = sasl_server_init(saslserver_global_callbacks, appname);
    if (r != SASL_OK) {
        snprintf(saslserver_global.error, sizeof(saslserver_global.error),
                 "sasl_server_init: %s", sasl_errstring(r, NULL, NULL));
        *error_r = saslserver_global.error;
        free(saslserver_global.defaultdomain);
        free(saslserver_global.admins);
        saslserver_global.defaultdomain = NULL;
        saslserver_global.admins = NULL;
        saslserver_global.config = NULL;
        return -1;
    }
    saslserver_global.initialised = true;
    return 0;
}

void saslserver_global_deinit(void)
{
    if (!saslserver_global.initialised)
        return;
    sasl_server_done();
    free(saslserver_global.defaultdomain);
    free(saslserver_global.admins);
    saslserver_global.defaultdomain = NULL;
    saslserver_global.admins = NULL;
    saslserver_global.config = NULL;
    saslserver_global.initialised = false;
}

/* ------------------------------------------------------------------ */
/* connections */

bool saslserver_plaintext_allowed(const struct saslserver *s)
{
    return s->tls_active || s->allow_plaintext;
}

static const char *saslserver_set_error(struct saslserver *s, const char *what, int r)
{
    const char *detail = s->conn != NULL ? sasl_errdetail(s->conn) : sasl_errstring(r, NULL, NULL);
    if (s->refusal != NULL)
        detail = s->refusal;
    snprintf(s->error, sizeof(s->error), "%s: %s", what, detail != NULL ? detail : "?");
    return s->error;
}

static int saslserver_apply_props(sasl_conn_t *conn, bool plaintext, bool tls, unsigned ssf)
{
    sasl_security_properties_t props;
    memset(&props, 0, sizeof(props));
    props.min_ssf = 0;
    props.max_ssf = 0;     /* no SASL security layers */
    props.maxbufsize = 0;
    props.security_flags = SASL_SEC_NOANONYMOUS | (plaintext ? 0 : SASL_SEC_NOPLAINTEXT);
    int r = sasl_setprop(conn, SASL_SEC_PROPS, &props);
    if (r != SASL_OK)
        return r;
    sasl_ssf_t ext = tls ? (sasl_ssf_t)ssf : 0;
    r = sasl_setprop(conn, SASL_SSF_EXTERNAL, &ext);
    if (r != SASL_OK)
        return r;
    return SASL_OK;
}

/* A new libsasl2 connection with the given plaintext policy; NULL with
 * the libsasl2 code in *r_r. */
static sasl_conn_t *saslserver_conn_new(struct saslserver *s, bool plaintext, unsigned flags,
                                        int *r_r)
{
    sasl_conn_t *conn = NULL;
    int r = sasl_server_new(s->service, s->server_fqdn, NULL, s->local_ipport, s->remote_ipport,
                            s->callbacks, flags, &conn);
    if (r == SASL_OK)
        r = saslserver_apply_props(conn, plaintext, s->tls_active, s->tls_ssf);
    if (r != SASL_OK) {
        if (conn != NULL)
            sasl_dispose(&conn);
        *r_r = r;
        return NULL;
    }
    return conn;
}

/* Replace s->conn by a fresh connection; 0 or -1 with *error_r. */
static int saslserver_reopen(struct saslserver *s, unsigned flags, const char **error_r)
{
    if (s->conn != NULL)
        sasl_dispose(&s->conn);
    s->refusal = NULL;
    int r;
    s->conn = saslserver_conn_new(s, saslserver_plaintext_allowed(s), flags, &r);
    if (s->conn == NULL) {
        snprintf(s->error, sizeof(s->error), "sasl_server_new: %s",
                 sasl_errstring(r, NULL, NULL));
        *error_r = s->error;
        return -1;
    }
    return 0;
}

/* "1.2.3.4;143" or "::1;143", as libsasl2 wants them.  Checked here
 * because libsasl2 leaks memory when it refuses one. */
static bool saslserver_ipport_ok(const char *ipport)
{
    const char *semi = strrchr(ipport, ';');
    if (semi == NULL || semi == ipport || (size_t)(semi - ipport) >= INET6_ADDRSTRLEN)
        return false;
    char addr[INET6_ADDRSTRLEN];
    memcpy(addr, ipport, (size_t)(semi - ipport));
    addr[semi - ipport] = '\0';
    unsigned char bin[sizeof(struct in6_addr)];
    uint64_t port;
    if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
        return false;
    return str_to_u64(semi + 1, 65535, &port) == 0;
}

int saslserver_new(const char *service, const char *server_fqdn, const char *local_ipport,
                   const char *remote_ipport, bool tls_active, unsigned tls_ssf,
                   bool allow_plaintext, struct saslserver **s_r, const char **error_r)
{
    if (!saslserver_global.initialised)
        log_panic("saslserver_new before saslserver_global_init");
    if ((local_ipport != NULL && !saslserver_ipport_ok(local_ipport)) ||
        (remote_ipport != NULL && !saslserver_ipport_ok(remote_ipport))) {
        *error_r = "invalid address (\"IP;PORT\" expected)";
        return -1;
    }
    struct saslserver *s = xcalloc(1, sizeof(*s));
    s->service = xstrdup(service);
    s->server_fqdn = server_fqdn != NULL && *server_fqdn != '\0' ? xstrdup(server_fqdn) : NULL;
    s->local_ipport = local_ipport != NULL ? xstrdup(local_ipport) : NULL;
    s->remote_ipport = remote_ipport != NULL ? xstrdup(remote_ipport) : NULL;
    s->tls_active = tls_active;
    s->tls_ssf = tls_ssf;
    s->allow_plaintext = allow_plaintext;
    s->callbacks[0] = (sasl_callback_t){
        SASL_CB_CANON_USER, (int (*)(void))(void (*)(void))saslserver_cb_canon, s};
    s->callbacks[1] = (sasl_callback_t){
        SASL_CB_PROXY_POLICY, (int (*)(void))(void (*)(void))saslserver_cb_authorize, s};
    s->callbacks[2] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
    if (saslserver_reopen(s, 0, error_r) < 0) {
        /* error_r points into s: keep a copy that outlives it. */
        str_copy(saslserver_global.error, sizeof(saslserver_global.error), *error_r);
        *error_r = saslserver_global.error;
        saslserver_free(&s);
        return -1;
    }
    *s_r = s;
    return 0;
}

static void saslserver_clear_result(struct saslserver *s)
{
    free(s->user);
    free(s->authid);
    free(s->mech);
    free(s->success_data);
    s->user = s->authid = s->mech = s->success_data = NULL;
}

void saslserver_free(struct saslserver **sp)
{
    struct saslserver *s = *sp;
    if (s == NULL)
        return;
    if (s->conn != NULL)
        sasl_dispose(&s->conn);
    saslserver_clear_result(s);
    free(s->service);
    free(s->server_fqdn);
    free(s->local_ipport);
    free(s->remote_ipport);
    free(s);
    *sp = NULL;
}

int saslserver_set_tls(struct saslserver *s, unsigned ssf)
{
    s->tls_active = true;
    s->tls_ssf = ssf;
    int r = saslserver_apply_props(s->conn, true, true, ssf);
    if (r != SASL_OK) {
        log_error("sasl: cannot set TLS properties: %s", sasl_errstring(r, NULL, NULL));
        return -1;
    }
    return 0;
}

/* The mechanisms of conn, space-separated, in out; -1 on error. */
static int saslserver_list(sasl_conn_t *conn, const char *prefix, const char *sep,
                           const char *suffix, struct buf *out)
{
    const char *list = NULL;
    unsigned plen = 0;
    int count = 0;
    int r = sasl_listmech(conn, NULL, prefix, sep, suffix, &list, &plen, &count);
    if (r == SASL_NOMECH || (r == SASL_OK && count <= 0))
        return 0;
    if (r != SASL_OK || list == NULL)
        return -1;
    buf_append(out, list, plen);
    return count;
}

int saslserver_mechs(struct saslserver *s, const char *prefix, const char *sep,
                     const char *suffix, struct buf *out)
{
    int n = saslserver_list(s->conn, prefix, sep, suffix, out);
    if (n < 0)
        log_error("sasl: cannot list mechanisms: %s", sasl_errdetail(s->conn));
    return n;
}

/* Would mech be offered if plaintext were allowed (i.e. did it fail only
 * for want of TLS)? */
static bool saslserver_mech_needs_tls(struct saslserver *s, const char *mech)
{
    if (saslserver_plaintext_allowed(s))
        return false;
    int r;
    sasl_conn_t *conn = saslserver_conn_new(s, true, 0, &r);
    if (conn == NULL)
        return false;
    struct buf list = BUF_INIT;
    bool found = false;
    if (saslserver_list(conn, "", " ", "", &list) > 0) {
        const char *p = buf_cstr(&list);
        size_t mlen = strlen(mech);
        while (*p != '\0' && !found) {
            size_t n = strcspn(p, " ");
            found = n == mlen && strncasecmp(p, mech, n) == 0;
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    buf_free(&list);
    sasl_dispose(&conn);
    return found;
}

static bool saslserver_mech_name_ok(const char *mech)
{
    size_t len = strlen(mech);
    if (len == 0 || len > SASL_MECHNAMEMAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = mech[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static enum saslserver_result saslserver_map(int r)
{
    switch (r) {
    case SASL_OK:
        return SASLSERVER_OK;
    case SASL_NOMECH:
        return SASLSERVER_NOMECH;
    case SASL_TOOWEAK:
    case SASL_ENCRYPT:
        return SASLSERVER_TOOWEAK;
    case SASL_BADPROT:
    case SASL_BADPARAM:
    case SASL_BUFOVER:
        return SASLSERVER_BADPROTO;
    case SASL_NOMEM:
    case SASL_TRYAGAIN:
    case SASL_UNAVAIL:
    case SASL_FAIL:
        return SASLSERVER_TEMPFAIL;
    default:
        /* BADAUTH, NOAUTHZ, NOUSER, NOVERIFY, EXPIRED, DISABLED, TRANS,
         * WRONGMECH, BADVERS, NOUSERPASS ... */
        return SASLSERVER_FAIL;
    }
}

/* Save the identities of a successful authentication. */
static int saslserver_succeed(struct saslserver *s, const char *mech_default,
                              const char **error_r)
{
    const void *user = NULL, *authid = NULL, *mech = NULL;
    if (sasl_getprop(s->conn, SASL_USERNAME, &user) != SASL_OK || user == NULL ||
        *(const char *)user == '\0') {
        *error_r = "authenticated, but libsasl2 gives no user name";
        return -1;
    }
    if (sasl_getprop(s->conn, SASL_AUTHUSER, &authid) != SASL_OK || authid == NULL ||
        *(const char *)authid == '\0')
        authid = user;
    if (mech_default == NULL &&
        (sasl_getprop(s->conn, SASL_MECHNAME, &mech) != SASL_OK || mech == NULL))
        mech = "?";
    s->user = xstrdup(user);
    s->authid = xstrdup(authid);
    s->mech = xstrdup(mech_default != NULL ? mech_default : (const char *)mech);
    s->authenticated = true;
    return 0;
}

enum saslserver_result saslserver_exchange(struct saslserver *s, const char *mech,
                                           const char *initial_response,
                                           const struct saslserver_io *io, void *io_ctx,
                                           const char **error_r)
{
    if (s->authenticated) {
        *error_r = "already authenticated";
        return SASLSERVER_FAIL;
    }
    saslserver_clear_result(s);
    if (mech == NULL || !saslserver_mech_name_ok(mech)) {
        *error_r = "invalid mechanism name";
        return SASLSERVER_NOMECH;
    }
    if (saslserver_reopen(s, io->success_data ? SASL_SUCCESS_DATA : 0, error_r) < 0)
        return SASLSERVER_TEMPFAIL;

    enum saslserver_result result;
    struct buf in = BUF_INIT;    /* decoded client data */
    struct buf wire = BUF_INIT;  /* base64 from / to the client */
    const char *decode_error;
    const char *clientin = NULL;
    unsigned clientinlen = 0;
    /* Room enough up front that no buffer holding a response (maybe a
     * password) is ever moved by realloc and left unwiped behind. */
    buf_reserve(&in, SASLSERVER_MAX_RESPONSE / 4 * 3 + 8);
    buf_reserve(&wire, SASLSERVER_MAX_RESPONSE + 8);

    if (initial_response != NULL) {
        size_t ilen = strlen(initial_response);
        if (ilen > SASLSERVER_MAX_RESPONSE) {
            *error_r = "initial response too long";
            result = SASLSERVER_BADPROTO;
            goto out;
        }
        if (strcmp(initial_response, "=") == 0) {
            clientin = "";
        } else if (ilen == 0) {
            *error_r = "empty initial response (\"=\" expected)";
            result = SASLSERVER_BADPROTO;
            goto out;
        } else if (saslserver_base64_decode(initial_response, ilen, &in, &decode_error) < 0) {
            *error_r = decode_error;
            result = SASLSERVER_BADPROTO;
            goto out;
        } else {
            clientin = buf_cstr(&in);
            clientinlen = (unsigned)in.len;
        }
    }

    const char *serverout = NULL;
    unsigned serveroutlen = 0;
    int r = sasl_server_start(s->conn, mech, clientin, clientinlen, &serverout, &serveroutlen);
    unsigned steps = 0;
    while (r == SASL_CONTINUE) {
        if (++steps > SASLSERVER_MAX_STEPS) {
            *error_r = "too many SASL steps";
            result = SASLSERVER_BADPROTO;
            goto out;
        }
        saslserver_base64_encode(serverout, serverout != NULL ? serveroutlen : 0, &wire);
        if (io->send_challenge(io_ctx, buf_cstr(&wire)) < 0) {
            *error_r = "connection lost while sending a challenge";
            result = SASLSERVER_IOERR;
            goto out;
        }
        buf_reset(&wire);
        if (io->read_response(io_ctx, &wire) < 0) {
            *error_r = "connection lost while reading a response";
            result = SASLSERVER_IOERR;
            goto out;
        }
        if (buf_equals_str(&wire, "*")) {
            *error_r = "cancelled by the client";
            result = SASLSERVER_CANCEL;
            goto out;
        }
        if (wire.len > SASLSERVER_MAX_RESPONSE) {
            *error_r = "response too long";
            result = SASLSERVER_BADPROTO;
            goto out;
        }
        if (saslserver_base64_decode(wire.data != NULL ? wire.data : "", wire.len, &in,
                                     &decode_error) < 0) {
            *error_r = decode_error;
            result = SASLSERVER_BADPROTO;
            goto out;
        }
        /* libsasl2 leaves these untouched on some paths (the step after a
         * final message it sent as a challenge). */
        serverout = NULL;
        serveroutlen = 0;
        r = sasl_server_step(s->conn, buf_cstr(&in), (unsigned)in.len, &serverout,
                             &serveroutlen);
    }

    if (r != SASL_OK) {
        result = saslserver_map(r);
        if ((result == SASLSERVER_NOMECH || result == SASLSERVER_TOOWEAK) &&
            saslserver_mech_needs_tls(s, mech)) {
            result = SASLSERVER_TOOWEAK;
            *error_r = "mechanism not allowed without TLS";
            goto out;
        }
        *error_r = saslserver_set_error(s, "authentication failed", r);
        goto out;
    }
    if (saslserver_succeed(s, NULL, error_r) < 0) {
        result = SASLSERVER_TEMPFAIL;
        goto out;
    }
    /* Without SASL_SUCCESS_DATA libsasl2 has already sent the final data
     * as a challenge. */
    if (io->success_data && serverout != NULL && serveroutlen > 0) {
        /* A fresh buffer: wire's memory still holds client responses. */
        struct buf data = BUF_INIT;
        saslserver_base64_encode(serverout, serveroutlen, &data);
        s->success_data = buf_release(&data);
    }
    result = SASLSERVER_OK;
out:
    saslserver_buf_wipe(&in);
    saslserver_buf_wipe(&wire);
    return result;
}

enum saslserver_result saslserver_check_plain(struct saslserver *s, const char *user,
                                              const char *password, const char **error_r)
{
    if (s->authenticated) {
        *error_r = "already authenticated";
        return SASLSERVER_FAIL;
    }
    saslserver_clear_result(s);
    if (!saslserver_plaintext_allowed(s)) {
        *error_r = "plaintext password refused without TLS";
        return SASLSERVER_TOOWEAK;
    }
    size_t ulen = strlen(user), plen = strlen(password);
    if (ulen == 0 || ulen > SASLSERVER_MAX_USER + 64) {
        *error_r = ulen == 0 ? "empty user name" : "user name too long";
        return SASLSERVER_FAIL;
    }
    if (plen == 0 || plen > SASLSERVER_MAX_PASSWORD) {
        *error_r = plen == 0 ? "empty password" : "password too long";
        return SASLSERVER_FAIL;
    }
    if (saslserver_reopen(s, 0, error_r) < 0)
        return SASLSERVER_TEMPFAIL;
    int r = sasl_checkpass(s->conn, user, (unsigned)ulen, password, (unsigned)plen);
    if (r != SASL_OK) {
        enum saslserver_result result = saslserver_map(r);
        /* A malformed name or password is a failed login, nothing else. */
        if (result == SASLSERVER_BADPROTO || result == SASLSERVER_NOMECH ||
            result == SASLSERVER_TOOWEAK)
            result = SASLSERVER_FAIL;
        *error_r = saslserver_set_error(s, "password check failed", r);
        return result;
    }
    if (saslserver_succeed(s, SASLSERVER_PLAINTEXT_MECH, error_r) < 0)
        return SASLSERVER_TEMPFAIL;
    return SASLSERVER_OK;
}

const char *saslserver_user(const struct saslserver *s)
{
    return s->authenticated ? s->user : NULL;
}

const char *saslserver_authid(const struct saslserver *s)
{
    return s->authenticated ? s->authid : NULL;
}

const char *saslserver_mech(const struct saslserver *s)
{
    return s->authenticated ? s->mech : NULL;
}

const char *saslserver_success_data(const struct saslserver *s)
{
    return s->authenticated ? s->success_data : NULL;
}
