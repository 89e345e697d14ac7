/* lmtpd.c - the LMTP server: main() and its settings.
 *
 * NAME
 *     lmtpd - deliver mail into the store over LMTP (RFC 2033)
 *
 * SYNOPSIS
 *     lmtpd [-C config] [-a] [-U uses] [-D]          under master
 *     lmtpd [-C config] [-a] -L /path/or/host:port   in the foreground
 *     lmtpd [-C config] [-a] -i                       one session on stdin
 *
 * DESCRIPTION
 *     Run by master on a unix socket (service-lmtpunix, the socket deliver
 *     and a local MTA use; config lmtpsocket names it for deliver) and on
 *     TCP (service-lmtp).  -a preauthorizes TCP sessions, as Cyrus lmtpd -a
 *     does: they are trusted like the unix socket and never asked to log
 *     in.  Each process opens the store once and serves one connection at
 *     a time (lmtp_session.c).  The protocol and the keys it reads are
 *     described in docs/lmtpd.md.
 *
 * DIAGNOSTICS
 *     A store that cannot be opened, or a database environment that fails
 *     during a session, ends the process with status 75 (after the session:
 *     its recipients got 451), so that master checks and recovers the
 *     environment and starts lmtpd again.
 */
#include "lmtpd.h"

#include "config.h"
#include "kv.h"
#include "log.h"
#include "mailbox.h"
#include "saslserver.h"
#include "service.h"
#include "store.h"
#include "str.h"
#include "tls.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct lmtp_settings lmtp_settings;
static bool lmtpd_opt_preauth;

static int lmtpd_option(int opt, const char *arg)
{
    (void)arg;
    if (opt == 'a') {
        lmtpd_opt_preauth = true;
        return 0;
    }
    return -1;
}

static int lmtpd_init(struct config *config, int argc, char **argv)
{
    struct lmtp_settings *set = &lmtp_settings;
    const char *err;

    (void)argv;
    if (argc > 0) {
        log_error("unexpected arguments");
        return -1;
    }
    memset(set, 0, sizeof(*set));
    set->config = config;
    const char *servername = config_str(config, "servername");
    if (servername != NULL && servername[0] != '\0')
        str_copy(set->servername, sizeof(set->servername), servername);
    else if (gethostname(set->servername, sizeof(set->servername) - 1) < 0 ||
             set->servername[0] == '\0')
        str_copy(set->servername, sizeof(set->servername), "localhost");

    int64_t max = config_int(config, "maxmessagesize");
    set->max_size = max <= 0 || (uint64_t)max > MAILBOX_MESSAGE_MAX - 65536
                        ? MAILBOX_MESSAGE_MAX - 65536   /* room for the trace fields */
                        : (uint64_t)max;
    set->max_rcpts = (unsigned)config_int(config, "lmtp_max_recipients");
    set->timeout_ms = (int)config_int(config, "lmtp_timeout") * 1000;
    const char *auth = config_str(config, "lmtp_auth");
    set->auth_mode = strcmp(auth, "required") == 0   ? LMTP_AUTH_REQUIRED
                     : strcmp(auth, "optional") == 0 ? LMTP_AUTH_OPTIONAL
                                                     : LMTP_AUTH_OFF;
    set->allow_plaintext = config_bool(config, "allowplaintext");
    set->preauth_tcp = lmtpd_opt_preauth;
    set->over_quota_perm = config_bool(config, "lmtp_over_quota_perm_failure");
    set->strict_quota = config_bool(config, "lmtp_strict_quota");
    set->downcase_rcpt = config_bool(config, "lmtp_downcase_rcpt");
    set->virtdomains = strcmp(config_str(config, "virtdomains"), "off") != 0;
    set->dup_suppression = config_bool(config, "duplicatesuppression");
    set->dup_period = config_int(config, "duplicatesuppression_period");
    set->autocreate = config_bool(config, "autocreate_inbox");
    set->autocreate_quota = config_int(config, "autocreate_quota");
    set->autocreate_folders = config_str(config, "autocreate_inbox_folders");
    set->autocreate_acl = config_str(config, "autocreate_acl");
    const char *postuser = config_str(config, "postuser");
    set->postuser = postuser != NULL ? postuser : "";

    if (config_str(config, "tls_server_cert") != NULL) {
        set->tls_ctx = tls_server_ctx_new(config, &err);
        if (set->tls_ctx == NULL)
            log_error("TLS disabled: %s", err);
    }
    if (set->auth_mode != LMTP_AUTH_OFF) {
        if (saslserver_global_init(config, "lmtpd", &err) < 0)
            log_error("AUTH disabled: %s", err);
        else
            set->sasl_ready = true;
    }
    /* A store that cannot be opened is a broken environment: exit 75, so
     * that master checks the database environment (recovering it when a
     * process died inside it) and starts lmtpd again, while the MTA keeps
     * the mail and retries. */
    if (store_open(config, 0, &set->store, &err) < 0) {
        log_error("cannot open the store: %s", err);
        return -1;
    }
    return 0;
}

static void lmtpd_serve(struct service_conn *conn)
{
    lmtp_session_run(&lmtp_settings, conn);
    /* the client is done: let it go before any housekeeping */
    (void)shutdown(conn->fd, SHUT_RDWR);
    if (kv_env_needs_recovery(store_kv(lmtp_settings.store)))
        log_fatal("the database environment needs recovery: exiting so that master recovers it");
    lmtp_deliver_prune(&lmtp_settings);
}

int main(int argc, char **argv)
{
    static const struct service_def def = {
        .name = "lmtpd",
        .extra_opts = "a",
        .option = lmtpd_option,
        .init = lmtpd_init,
        .serve = lmtpd_serve,
    };
    int ret = service_main(argc, argv, &def);
    store_close(&lmtp_settings.store);
    if (lmtp_settings.tls_ctx != NULL)
        SSL_CTX_free(lmtp_settings.tls_ctx);
    if (lmtp_settings.sasl_ready)
        saslserver_global_deinit();
    return ret;
}
