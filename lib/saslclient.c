/* saslclient.c - the client side of SASL authentication over Cyrus SASL.
 *
 * NAME
 *     saslclient - sasl_client_* with credentials from a struct, base64 in
 *     and out
 *
 * DESCRIPTION
 *     The callbacks answer libsasl2's questions (authentication name,
 *     authorization name, password) from the copied settings; anything
 *     else a mechanism asks (SASL_INTERACT) is an error, never a prompt.
 *     `complete` follows libsasl2's own verdict, so that saslclient_finish()
 *     can refuse a server that said "OK" before the mechanism was done (a
 *     SCRAM server that never proved it knows the password).  See
 *     saslclient.h for the contracts. */
#include "saslclient.h"

#include "buf.h"
#include "log.h"
#include "saslserver.h"
#include "str.h"
#include "xmalloc.h"

#include <sasl/sasl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct saslclient {
    sasl_conn_t *conn;
    char *authid;
    char *authzid;             /* "" when none */
    sasl_secret_t *secret;
    size_t secret_size;
    bool started;
    bool complete;             /* libsasl2 returned SASL_OK */
    char *mech;
    struct buf wire;           /* the last base64 output */
    char error[256];
    sasl_callback_t callbacks[4];
};

static bool saslclient_initialised;
static char saslclient_error[256];
static sasl_callback_t saslclient_global_callbacks[2];

static int saslclient_cb_log(void *context, int level, const char *message)
{
    (void)context;
    if (message == NULL)
        return SASL_OK;
    if (level == SASL_LOG_ERR)
        log_error("sasl client: %s", message);
    else if (level == SASL_LOG_WARN)
        log_warning("sasl client: %s", message);
    else if (level >= SASL_LOG_FAIL && level <= SASL_LOG_TRACE)
        log_debug("sasl client: %s", message);
    /* SASL_LOG_PASS may hold passwords: never written. */
    return SASL_OK;
}

int saslclient_global_init(const char **error_r)
{
    if (saslclient_initialised)
        return 0;
    saslclient_global_callbacks[0] = (sasl_callback_t){
        SASL_CB_LOG, (int (*)(void))(void (*)(void))saslclient_cb_log, NULL};
    saslclient_global_callbacks[1] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
    int r = sasl_client_init(saslclient_global_callbacks);
    if (r != SASL_OK) {
        snprintf(saslclient_error, sizeof(saslclient_error), "sasl_client_init: %s",
                 sasl_errstring(r, NULL, NULL));
        *error_r = saslclient_error;
        return -1;
    }
    saslclient_initialised = true;
    return 0;
}

void saslclient_global_deinit(void)
{
    if (!saslclient_initialised)
        return;
    sasl_client_done();
    saslclient_initialised = false;
}

static int saslclient_cb_simple(void *context, int id, const char **result, unsigned *len)
{
    struct saslclient *c = context;
    const char *value;
    switch (id) {
    case SASL_CB_AUTHNAME:
        value = c->authid;
        break;
    case SASL_CB_USER:
        value = c->authzid;
        break;
    default:
        return SASL_BADPARAM;
    }
    *result = value;
    if (len != NULL)
        *len = (unsigned)strlen(value);
    return SASL_OK;
}

static int saslclient_cb_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
    (void)conn;
    struct saslclient *c = context;
    if (id != SASL_CB_PASS || psecret == NULL)
        return SASL_BADPARAM;
    *psecret = c->secret;
    return SASL_OK;
}

static const char *saslclient_fail(struct saslclient *c, const char *what, int r)
{
    const char *detail = c->conn != NULL ? sasl_errdetail(c->conn) : NULL;
    if (detail == NULL)
        detail = sasl_errstring(r, NULL, NULL);
    snprintf(c->error, sizeof(c->error), "%s: %s", what, detail);
    return c->error;
}

int saslclient_new(const struct saslclient_settings *set, struct saslclient **c_r,
                   const char **error_r)
{
    if (!saslclient_initialised)
        log_panic("saslclient_new before saslclient_global_init");
    if (set->service == NULL || set->server_host == NULL || set->authid == NULL ||
        set->password == NULL)
        log_panic("saslclient_new: missing service, host, user or password");
    size_t plen = strlen(set->password);
    if (plen > SASLSERVER_MAX_PASSWORD) {
        *error_r = "password too long";
        return -1;
    }
    struct saslclient *c = xcalloc(1, sizeof(*c));
    c->authid = xstrdup(set->authid);
    c->authzid = xstrdup(set->authzid != NULL ? set->authzid : "");
    c->secret_size = sizeof(sasl_secret_t) + plen + 1;
    c->secret = xcalloc(1, c->secret_size);
    c->secret->len = (unsigned long)plen;
    memcpy(c->secret->data, set->password, plen);
    c->callbacks[0] = (sasl_callback_t){
        SASL_CB_AUTHNAME, (int (*)(void))(void (*)(void))saslclient_cb_simple, c};
    c->callbacks[1] = (sasl_callback_t){
        SASL_CB_USER, (int (*)(void))(void (*)(void))saslclient_cb_simple, c};
    c->callbacks[2] = (sasl_callback_t){
        SASL_CB_PASS, (int (*)(void))(void (*)(void))saslclient_cb_pass, c};
    c->callbacks[3] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};

    int r = sasl_client_new(set->service, set->server_host, set->local_ipport,
                            set->remote_ipport, c->callbacks, 0, &c->conn);
    if (r == SASL_OK) {
        sasl_security_properties_t props;
        memset(&props, 0, sizeof(props));
        props.min_ssf = 0;
        props.max_ssf = 0;     /* no SASL security layers */
        props.maxbufsize = 0;
        props.security_flags = SASL_SEC_NOANONYMOUS;
        if (set->tls_ssf == 0 && !set->allow_plaintext)
            props.security_flags |= SASL_SEC_NOPLAINTEXT;
        r = sasl_setprop(c->conn, SASL_SEC_PROPS, &props);
        if (r == SASL_OK) {
            sasl_ssf_t ext = set->tls_ssf;
            r = sasl_setprop(c->conn, SASL_SSF_EXTERNAL, &ext);
        }
    }
    if (r != SASL_OK) {
        snprintf(saslclient_error, sizeof(saslclient_error), "sasl_client_new: %s",
                 c->conn != NULL ? sasl_errdetail(c->conn) : sasl_errstring(r, NULL, NULL));
        *error_r = saslclient_error;
        saslclient_free(&c);
        return -1;
    }
    *c_r = c;
    return 0;
}

void saslclient_free(struct saslclient **cp)
{
    struct saslclient *c = *cp;
    if (c == NULL)
        return;
    if (c->conn != NULL)
        sasl_dispose(&c->conn);
    if (c->secret != NULL)
        explicit_bzero(c->secret, c->secret_size);
    free(c->secret);
    free(c->authid);
    free(c->authzid);
    free(c->mech);
    saslserver_buf_wipe(&c->wire);
    free(c);
    *cp = NULL;
}

int saslclient_start(struct saslclient *c, const char *mechlist, bool initial_allowed,
                     const char **mech_r, const char **initial_r, const char **error_r)
{
    if (c->started) {
        *error_r = "SASL client already started";
        return -1;
    }
    sasl_interact_t *prompts = NULL;
    const char *out = NULL;
    unsigned outlen = 0;
    const char *mech = NULL;
    int r = sasl_client_start(c->conn, mechlist, &prompts, initial_allowed ? &out : NULL,
                              &outlen, &mech);
    if (r == SASL_INTERACT) {
        *error_r = "the mechanism needs information the client does not have";
        return -1;
    }
    if (r != SASL_OK && r != SASL_CONTINUE) {
        *error_r = saslclient_fail(c, "no usable mechanism", r);
        return -1;
    }
    c->started = true;
    c->complete = r == SASL_OK;
    free(c->mech);
    c->mech = xstrdup(mech != NULL ? mech : "?");
    *mech_r = c->mech;
    *initial_r = NULL;
    if (initial_allowed && out != NULL) {
        if (outlen == 0) {
            buf_reset(&c->wire);
            buf_append_str(&c->wire, "=");
        } else {
            saslserver_base64_encode(out, outlen, &c->wire);
        }
        *initial_r = buf_cstr(&c->wire);
    }
    return 0;
}

/* One sasl_client_step with the base64 data from the server; the base64
 * output in c->wire.  Returns the libsasl2 code, or SASL_BADPROT with
 * *error_r for bad base64. */
static int saslclient_step_raw(struct saslclient *c, const char *b64, const char **error_r)
{
    struct buf in = BUF_INIT;
    const char *decode_error;
    if (saslserver_base64_decode(b64, strlen(b64), &in, &decode_error) < 0) {
        snprintf(c->error, sizeof(c->error), "bad challenge from the server: %s", decode_error);
        *error_r = c->error;
        buf_free(&in);
        return SASL_BADPROT;
    }
    sasl_interact_t *prompts = NULL;
    const char *out = NULL;
    unsigned outlen = 0;
    int r = sasl_client_step(c->conn, in.len > 0 ? in.data : "", (unsigned)in.len, &prompts,
                             &out, &outlen);
    buf_free(&in);
    if (r == SASL_INTERACT) {
        *error_r = "the mechanism needs information the client does not have";
        return r;
    }
    if (r != SASL_OK && r != SASL_CONTINUE) {
        *error_r = saslclient_fail(c, "authentication step failed", r);
        return r;
    }
    c->complete = r == SASL_OK;
    saslserver_base64_encode(out, out != NULL ? outlen : 0, &c->wire);
    return r;
}

int saslclient_step(struct saslclient *c, const char *challenge, const char **response_r,
                    const char **error_r)
{
    if (!c->started) {
        *error_r = "SASL client not started";
        return -1;
    }
    int r = saslclient_step_raw(c, challenge, error_r);
    if (r != SASL_OK && r != SASL_CONTINUE)
        return -1;
    *response_r = buf_cstr(&c->wire);
    return 0;
}

int saslclient_finish(struct saslclient *c, const char *success_data, const char **error_r)
{
    if (!c->started) {
        *error_r = "SASL client not started";
        return -1;
    }
    if (success_data != NULL && *success_data != '\0') {
        if (c->complete) {
            *error_r = "unexpected success data from the server";
            return -1;
        }
        int r = saslclient_step_raw(c, success_data, error_r);
        if (r == SASL_CONTINUE) {
            *error_r = "the server's success data did not complete the mechanism";
            return -1;
        }
        if (r != SASL_OK)
            return -1;
        if (c->wire.len > 0) {
            *error_r = "the mechanism wants to send more after the server's success";
            return -1;
        }
        return 0;
    }
    if (c->complete)
        return 0;
    *error_r = "the server reported success before the mechanism completed";
    return -1;
}
