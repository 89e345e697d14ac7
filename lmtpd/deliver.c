/* deliver.c - hand one message from stdin to lmtpd (Cyrus-compatible).
 *
 * NAME
 *     deliver - deliver a message to users' mailboxes
 *
 * SYNOPSIS
 *     deliver [-C config] [-e] [-r sender] [-m mailbox] [-a authuser] [-q]
 *             [user ...]  < message
 *
 * DESCRIPTION
 *     Reads a message on standard input and delivers it by speaking LMTP to
 *     lmtpd on the unix socket named by the config key lmtpsocket, as Cyrus
 *     deliver does (so an MTA's pipe transport such as Postfix's
 *       argv=deliver -e -r ${sender} -m ${extension} ${user}
 *     works unchanged).  The message may use LF or CRLF line ends; it is
 *     sent with CRLF and dot-stuffed.
 *
 *     -C config    the config file (default $ROOST_CONFIG, then
 *                  /etc/roost/imapd.conf)
 *     -r sender, -f sender   the envelope sender (MAIL FROM; lmtpd writes
 *                  it into Return-Path); default <>
 *     -m mailbox   deliver to the folder "mailbox" under each user's INBOX
 *                  (user+mailbox) when it exists and the poster may post
 *                  there, else to the INBOX; without users, to the shared
 *                  mailbox "mailbox" (+mailbox).  A leading "INBOX." is
 *                  ignored; an empty mailbox means the INBOX.
 *     -a authuser  the poster whose rights count for -m (MAIL AUTH=);
 *                  default anonymous
 *     -q           ignore quotas (RCPT IGNOREQUOTA)
 *     -e, -E age, -D  accepted for compatibility and ignored (duplicate
 *                  suppression is lmtpd's, config duplicatesuppression)
 *
 * EXIT STATUS (sysexits.h)
 *     0 every user got the message; 75 (EX_TEMPFAIL) some failure was
 *     temporary (lmtpd down, over quota, internal error): try again later;
 *     67 (EX_NOUSER) unknown user; 77 (EX_NOPERM) permission denied;
 *     65 (EX_DATAERR) the message or an address was refused; 64
 *     (EX_USAGE) bad command line.  Each failure is explained on stderr.
 */
#include "buf.h"
#include "config.h"
#include "lmtpclient.h"
#include "log.h"
#include "str.h"
#include "stream.h"
#include "xmalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_NOUSER_ 67
#define EX_TEMPFAIL_ 75
#define EX_NOPERM_ 77

/* Waits for lmtpd: connecting, and each reply (a big message takes a
 * while to sync). */
#define DELIVER_TIMEOUT_MS (300 * 1000)

static void usage(void)
{
    fprintf(stderr, "usage: deliver [-C config] [-e] [-r sender] [-m mailbox] [-a authuser] [-q] "
                    "[user ...] < message\n");
    exit(EX_USAGE_);
}

/* Read stdin to its end (the MTA wants its pipe drained). */
static void drain_stdin(void)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        return;
    }
}

/* The exit status one reply stands for. */
static int reply_status(const struct lmtpclient_reply *r)
{
    switch (lmtpclient_reply_class(r)) {
    case 2:
        return EX_OK_;
    case 5:
        if (strncmp(r->status, "5.1.1", 5) == 0 || (r->status[0] == '\0' && r->code == 550))
            return EX_NOUSER_;
        if (strncmp(r->status, "5.7.", 4) == 0)
            return EX_NOPERM_;
        return EX_DATAERR_;
    default:
        return EX_TEMPFAIL_;
    }
}

/* Temporary failures win (the MTA retries the whole message; lmtpd's
 * duplicate suppression keeps the users who got it from getting it
 * twice), then the first permanent one. */
static int combine(int a, int b)
{
    if (a == EX_TEMPFAIL_ || b == EX_TEMPFAIL_)
        return EX_TEMPFAIL_;
    return a != EX_OK_ ? a : b;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *sender = "", *mailbox = NULL, *authuser = NULL;
    bool ignorequota = false;
    int c;

    while ((c = getopt(argc, argv, "C:eE:Dr:f:m:a:ql")) != -1) {
        switch (c) {
        case 'C': config_path = optarg; break;
        case 'e': case 'E': case 'D': break;
        case 'r': case 'f': sender = optarg; break;
        case 'm': mailbox = optarg; break;
        case 'a': authuser = optarg; break;
        case 'q': ignorequota = true; break;
        case 'l':
            fprintf(stderr, "deliver: -l (LMTP on stdin) is not supported; talk to lmtpd\n");
            return EX_USAGE_;
        default: usage();
        }
    }
    int nusers = argc - optind;
    char **users = argv + optind;
    if (mailbox != NULL) {
        if (strcasecmp(mailbox, "INBOX") == 0)
            mailbox = "";
        else if (strncasecmp(mailbox, "INBOX", 5) == 0 && (mailbox[5] == '.' || mailbox[5] == '/'))
            mailbox += 6;
    }
    if (nusers == 0 && (mailbox == NULL || mailbox[0] == '\0'))
        usage();

    signal(SIGPIPE, SIG_IGN);
    log_init("deliver");
    struct config *config;
    const char *err;
    if (config_load(config_path_resolve(config_path), &config, &err) < 0) {
        fprintf(stderr, "deliver: %s\n", err);
        drain_stdin();
        return EX_TEMPFAIL_;
    }

    /* strip <> around the sender, as MTAs sometimes pass it */
    struct buf from = BUF_INIT;
    size_t slen = strlen(sender);
    if (slen >= 2 && sender[0] == '<' && sender[slen - 1] == '>')
        buf_append(&from, sender + 1, slen - 2);
    else
        buf_append_str(&from, sender);

    /* the recipients: user, user+mailbox, user+mailbox@domain, +mailbox */
    unsigned n = nusers > 0 ? (unsigned)nusers : 1;
    struct lmtpclient_rcpt *rcpts = xcalloc(n, sizeof(*rcpts));
    char **addrs = xcalloc(n, sizeof(*addrs));
    for (unsigned i = 0; i < n; i++) {
        struct buf a = BUF_INIT;
        const char *user = nusers > 0 ? users[i] : "";
        const char *at = strrchr(user, '@');
        size_t ulen = at != NULL ? (size_t)(at - user) : strlen(user);
        buf_append(&a, user, ulen);
        if (mailbox != NULL && mailbox[0] != '\0')
            buf_printf(&a, "+%s", mailbox);
        if (at != NULL)
            buf_append_str(&a, at);
        addrs[i] = buf_release(&a);
        rcpts[i].address = addrs[i];
    }

    int status = EX_OK_;
    struct lmtpclient *lc = NULL;
    struct lmtpclient_reply reply;
    const char *socket_path = config_str(config, "lmtpsocket");
    char host[256] = "localhost";
    if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0' || strchr(host, ' '))
        str_copy(host, sizeof(host), "localhost");

    if (lmtpclient_connect(socket_path, LMTPCLIENT_LMTP, DELIVER_TIMEOUT_MS, &lc, &err) < 0) {
        fprintf(stderr, "deliver: cannot reach lmtpd at %s: %s\n", socket_path, err);
        drain_stdin();
        status = EX_TEMPFAIL_;
        goto out;
    }
    if (lmtpclient_hello(lc, host, &reply, &err) < 0 || reply.code != 250) {
        char line[LMTPCLIENT_TEXT_MAX + 32];
        lmtpclient_reply_format(&reply, line, sizeof(line));
        fprintf(stderr, "deliver: LHLO failed: %s\n", reply.code != 0 ? line : err);
        drain_stdin();
        status = EX_TEMPFAIL_;
        goto out;
    }

    struct buf params = BUF_INIT;
    if (lmtpclient_has_extension(lc, "8BITMIME"))
        buf_append_str(&params, "BODY=8BITMIME");
    if (authuser != NULL) {
        char x[1024];
        if (!lmtpclient_xtext(authuser, x, sizeof(x))) {
            fprintf(stderr, "deliver: -a: user name too long\n");
            drain_stdin();
            status = EX_USAGE_;
            buf_free(&params);
            goto out;
        }
        buf_printf(&params, "%sAUTH=%s", params.len > 0 ? " " : "", x);
    }
    for (unsigned i = 0; i < n; i++)
        rcpts[i].params = ignorequota ? "IGNOREQUOTA" : NULL;
    struct lmtpclient_txn txn = {
        .from = buf_cstr(&from),
        .mail_params = buf_cstr(&params),
        .rcpts = rcpts,
        .nrcpts = n,
    };
    int r = lmtpclient_txn_begin(lc, &txn, &err);
    if (r == 1) {
        char buf[65536];
        for (;;) {
            ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                /* never end a message we could not read: dropping the
                 * connection makes lmtpd throw it away */
                fprintf(stderr, "deliver: reading the message: %s\n", strerror(errno));
                status = EX_TEMPFAIL_;
                buf_free(&params);
                goto out_nodata;
            }
            if (got == 0)
                break;
            lmtpclient_txn_write(lc, buf, (size_t)got);
        }
        r = lmtpclient_txn_end(lc, &txn, &err) < 0 ? -1 : 0;
    } else {
        drain_stdin();
    }
    buf_free(&params);
    if (r < 0)
        fprintf(stderr, "deliver: %s\n", err);
    for (unsigned i = 0; i < n; i++) {
        const struct lmtpclient_reply *rr = &rcpts[i].reply;
        int st = reply_status(rr);
        if (st != EX_OK_) {
            char line[LMTPCLIENT_TEXT_MAX + 32];
            lmtpclient_reply_format(rr, line, sizeof(line));
            fprintf(stderr, "deliver: <%s>: %s\n", rcpts[i].address, line);
        }
        status = combine(status, st);
    }
    if (r >= 0)
        lmtpclient_quit(lc);
    goto out;
out_nodata:
    lmtpclient_free(&lc);   /* close without ending the DATA */
out:
    lmtpclient_free(&lc);
    for (unsigned i = 0; i < n; i++)
        free(addrs[i]);
    free(addrs);
    free(rcpts);
    buf_free(&from);
    config_free(&config);
    return status;
}
