/* config_keys.c - every configuration key Roost knows, declared once.
 *
 * Names follow Cyrus imapd.conf wherever the meaning is the same.  Keys that
 * end in '-' or '_' are prefixes ("partition-NAME", "sasl_OPTION").  The
 * reference page docs/config.md is generated from this table by
 * `roost-config --markdown`; a test fails when the two disagree. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define S(name, def, desc) {name, CONFIG_TYPE_STRING, def, 0, 0, NULL, desc}
#define B(name, def, desc) {name, CONFIG_TYPE_BOOL, def, 0, 0, NULL, desc}
#define I(name, def, min, max, desc) {name, CONFIG_TYPE_INT, def, min, max, NULL, desc}
#define E(name, def, values, desc) {name, CONFIG_TYPE_ENUM, def, 0, 0, values, desc}

const struct config_key config_keys[] = {
    /* Where things are. */
    S("configdirectory", "/var/lib/roost",
      "Directory of the server-wide databases (mailbox list, seen, quota ...) and the Berkeley DB environment."),
    S("partition-", NULL,
      "partition-NAME: directory of the mail partition NAME (partition-default is the usual one)."),
    S("defaultpartition", "default", "Partition new mailboxes go to when none is named."),
    S("master_pidfile", "/run/roost/master.pid", "Where master writes its process id."),
    S("lmtpsocket", "/run/roost/lmtp", "Unix socket of lmtpd (used by deliver)."),
    S("cyrus_user", "cyrus", "User master drops privileges to when started as root."),

    /* Services run by master. */
    S("service-",  NULL,
      "service-NAME: a network service run by master: cmd=\"PROGRAM ARGS\" listen=\"ADDR ...\" prefork=N maxchild=N maxfor=N."),
    S("daemon-", NULL,
      "daemon-NAME: a long-lived program run and restarted by master: cmd=\"PROGRAM ARGS\"."),
    I("kv_checkpoint_interval", "300", 1, 86400, "Seconds between Berkeley DB checkpoints run by master."),

    /* Identity, names and users. */
    S("servername", NULL, "Host name the server announces; defaults to the system host name."),
    S("admins", "", "Space-separated users with administrative rights on every mailbox."),
    B("unixhierarchysep", "no", "Use '/' instead of '.' as the hierarchy separator clients see."),
    E("virtdomains", "off", "off userid on",
      "Virtual domains: 'userid' takes the domain from user@domain logins, 'on' also from the server address."),
    S("defaultdomain", NULL, "Domain of users who log in without one when virtdomains is on."),

    /* Authentication. */
    B("allowplaintext", "no", "Allow plaintext passwords (LOGIN, USER/PASS, PLAIN) without TLS."),
    S("sasl_", NULL, "sasl_OPTION: passed to libsasl2 as its option OPTION (for example sasl_saslauthd_path)."),
    S("sasl_pwcheck_method", "auxprop", "How libsasl2 checks passwords: auxprop (sasldb2) or saslauthd."),
    S("sasl_auxprop_plugin", "sasldb", "libsasl2 auxprop plugin that holds the secrets."),
    S("sasl_sasldb_path", "/etc/sasldb2", "Path of the sasldb2 file with users and secrets."),
    S("sasl_mech_list", NULL, "Space-separated SASL mechanisms to offer; default: all the plugins provide."),

    /* TLS. */
    S("tls_server_cert", NULL, "PEM file with the server certificate (and chain)."),
    S("tls_server_key", NULL, "PEM file with the server's private key."),
    S("tls_client_ca_file", NULL, "PEM file of CAs trusted when Roost acts as a TLS client."),
    S("tls_versions", "tls1_2 tls1_3", "TLS protocol versions to allow (never below TLS 1.2)."),
    S("tls_ciphers", "HIGH:!aNULL:!MD5:!RC4", "OpenSSL cipher list for TLS 1.2."),
    B("tls_prefer_server_ciphers", "yes", "Prefer the server's cipher order."),

    /* Limits and timeouts. */
    I("maxmessagesize", "0", 0, INT64_MAX, "Largest message accepted, in bytes (0 = no limit)."),
    I("timeout", "30", 1, 10080, "IMAP idle timeout in minutes (RFC 3501 asks for at least 30)."),
    I("imap_preauth_timeout", "60", 1, 86400, "Seconds imapd waits for a command before login."),
    I("imap_idle_timeout", "7200", 1, 604800,
      "Seconds an IMAP session may stay in IDLE without a word from the client (clients re-issue IDLE every 29 minutes)."),
    I("poptimeout", "10", 1, 10080, "POP3 idle timeout in minutes."),

    /* Delivery. */
    B("duplicatesuppression", "yes", "Do not store the same Message-ID twice in one mailbox."),
    I("expunge_cleanup_delay", "3600", 0, 31536000,
      "Seconds an expunged message stays in the index and on disk so other sessions can report it; a later writer's open then removes it."),
    B("autocreate_inbox", "no", "Create a user's INBOX on first delivery or login."),
    I("autocreate_quota", "-1", -1, INT64_MAX, "Storage quota in KiB for autocreated users (-1 = none)."),

    /* Logging. */
    E("loglevel", "info", "debug info notice warning error", "Lowest level of log lines written."),
    S("syslog_facility", NULL, "Log to syslog with this facility (mail, local0 ...) instead of stderr."),

    /* lmtpd */
    E("lmtp_auth", "off", "off optional required",
      "LMTP AUTH on TCP: 'off' (not offered; TCP is trusted like the unix socket), 'optional' (offered) or 'required' (before MAIL)."),
    I("lmtp_timeout", "300", 1, 86400, "Seconds lmtpd waits for a command or message data before closing with 421."),
    I("lmtp_max_recipients", "1000", 1, 100000, "Most recipients of one LMTP transaction; more get 452 4.5.3."),
    B("lmtp_over_quota_perm_failure", "no", "Refuse over-quota recipients with 552 5.2.2 (permanent) instead of 452 4.2.2 (temporary)."),
    B("lmtp_strict_quota", "no", "Refuse a message that would take a mailbox over quota; by default only a mailbox already at its limit refuses."),
    B("lmtp_downcase_rcpt", "yes", "Lowercase the user part (up to '+') of LMTP recipient addresses."),
    I("duplicatesuppression_period", "259200", 1, INT64_MAX,
      "Seconds during which a Message-ID delivered to a mailbox is not stored there again (duplicatesuppression)."),
    S("postuser", NULL, "User name whose +detail addresses deliver to the shared mailbox 'detail' (\"+detail\" always does)."),
    S("autocreate_inbox_folders", NULL,
      "Folders created with an autocreated INBOX, separated by vertical bars (as in Cyrus)."),
    S("autocreate_acl", NULL,
      "Extra ACL entries of autocreated folders, 'folder identifier rights' (for example: Lists anyone p), several separated by vertical bars."),
};

const unsigned config_keys_count = sizeof(config_keys) / sizeof(config_keys[0]);
