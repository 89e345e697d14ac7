/* lmtpd.h - what the files of lmtpd share.
 *
 * lmtpd is split by job:
 *   lmtpd.c          main(), the service frame hooks, the settings read once
 *                    per process from the config
 *   lmtp_session.c   the protocol: commands, their order, replies
 *   lmtp_input.c     the session's input buffer: command lines and raw bytes
 *   lmtp_data.c      receiving a message (DATA or BDAT) into a stage
 *   lmtp_recipient.c recipient addresses -> users and mailboxes (plus
 *                    addressing, shared folders, autocreation), quota checks
 *   lmtp_deliver.c   one staged message into every recipient's mailbox
 * The protocol is described in docs/lmtpd.md. */
#ifndef ROOST_LMTPD_H
#define ROOST_LMTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"

struct config;
struct pool;
struct service_conn;
struct stage;
struct store;
struct stream;

/* Longest command line (RFC 4954 lets an AUTH line reach 12288 octets). */
#define LMTP_LINE_MAX 12288
/* Longest reverse or forward path, brackets excluded (RFC 5321 4.5.3.1.3
 * says 256; a little slack for source routes and quoting). */
#define LMTP_PATH_MAX 512
/* Bad commands (counted until a MAIL, RCPT, DATA or BDAT succeeds) before
 * the connection is closed with 421. */
#define LMTP_MAX_ERRORS 50

enum lmtp_auth_mode {
    LMTP_AUTH_OFF,        /* AUTH not offered */
    LMTP_AUTH_OPTIONAL,   /* offered on TCP; sessions may stay anonymous */
    LMTP_AUTH_REQUIRED,   /* TCP sessions must authenticate before MAIL */
};

/* Read once per process (lmtpd.c). */
struct lmtp_settings {
    const struct config *config;
    struct store *store;             /* NULL while the store cannot be opened */
    SSL_CTX *tls_ctx;                /* NULL: no STARTTLS */
    char servername[256];
    uint64_t max_size;               /* largest message, bytes */
    unsigned max_rcpts;
    int timeout_ms;
    enum lmtp_auth_mode auth_mode;
    bool sasl_ready;                 /* saslserver_global_init() worked */
    bool allow_plaintext;
    bool preauth_tcp;                /* -a: TCP sessions are trusted */
    bool over_quota_perm;            /* 552 5.2.2 instead of 452 4.2.2 */
    bool strict_quota;
    bool downcase_rcpt;
    bool virtdomains;
    bool dup_suppression;
    int64_t dup_period;              /* seconds */
    bool autocreate;
    int64_t autocreate_quota;        /* KiB, -1 none */
    const char *autocreate_folders;  /* "Sent|Lists" or NULL */
    const char *autocreate_acl;      /* "Lists anyone p|..." or NULL */
    const char *postuser;            /* "" = the "+mailbox" form only */
};

/* One reply line: code and "x.y.z text". */
struct lmtp_reply {
    int code;
    char text[240];
};
void lmtp_reply_set(struct lmtp_reply *reply, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- lmtp_session.c ---- */

/* Serve one connection (the service frame's serve hook). */
void lmtp_session_run(const struct lmtp_settings *set, struct service_conn *conn);

/* ---- lmtp_input.c ---- */

/* The session's input: the stream's bytes in a buffer of our own, so that
 * a message body can be read in big blocks without eating the commands a
 * client pipelined after it. */
#define LMTP_INPUT_SIZE (256 * 1024)
struct lmtp_input {
    struct stream *stream;
    char *data;               /* LMTP_INPUT_SIZE bytes; [pos, len) unread */
    size_t pos, len;
    bool discarding;          /* inside an over-long line */
    uint64_t discarded;
};
void lmtp_input_init(struct lmtp_input *in, struct stream *stream);
void lmtp_input_free(struct lmtp_input *in);
/* Read one line (without its CRLF or LF) of at most max bytes
 * (max <= LMTP_INPUT_SIZE - 2) into line.  Returns the stream.h codes:
 * STREAM_OK (flags as stream_read_line() gives them), STREAM_TOO_LONG (the
 * line was read to its end and thrown away), STREAM_EOF, STREAM_TIMEOUT,
 * STREAM_ERROR (also for a line that goes on past STREAM_LINE_DISCARD_MAX
 * bytes). */
int lmtp_input_line(struct lmtp_input *in, size_t max, struct buf *line, unsigned *flags_r);
/* Unread bytes: their address into *p_r and their count (0 when none). */
size_t lmtp_input_peek(const struct lmtp_input *in, const char **p_r);
void lmtp_input_consume(struct lmtp_input *in, size_t n);
/* Wait for more bytes: STREAM_OK, STREAM_EOF, STREAM_TIMEOUT, STREAM_ERROR. */
int lmtp_input_fill(struct lmtp_input *in);
/* Forget every unread byte (before STARTTLS: pipelined plaintext). */
void lmtp_input_drop(struct lmtp_input *in);

/* ---- lmtp_data.c ---- */

enum lmtp_body_failure {
    LMTP_BODY_OK,
    LMTP_BODY_TOO_BIG,        /* 552 5.3.4 */
    LMTP_BODY_NUL,            /* 554 5.6.0 */
    LMTP_BODY_INTERNAL,       /* 451 4.3.0 */
};

/* A message being received: normalised (CRLF line ends, dots unstuffed
 * for DATA) straight into a stage, with its header kept aside to find the
 * Message-ID.  After a failure the rest of the body is still read (the
 * protocol needs that) but thrown away. */
#define LMTP_HEADER_KEEP (64 * 1024)
struct lmtp_body {
    const struct lmtp_settings *set;
    struct stage *stage;
    enum lmtp_body_failure failure;
    uint64_t size;            /* message bytes after normalisation */
    int state;
    struct buf out;           /* normalised bytes not yet in the stage */
    struct buf header;        /* the first LMTP_HEADER_KEEP bytes of the header */
    bool header_done;
    bool finished;
};
/* Start: a stage on the default partition holding prefix (the Return-Path
 * and Received fields).  Failures show in b->failure. */
void lmtp_body_begin(struct lmtp_body *b, const struct lmtp_settings *set, const char *prefix,
                     size_t prefix_len);
/* DATA: read up to and including the terminating "." line.  STREAM_OK at
 * the end of the body, else STREAM_EOF / STREAM_TIMEOUT / STREAM_ERROR. */
int lmtp_body_read_data(struct lmtp_body *b, struct lmtp_input *in);
/* BDAT: read exactly n bytes of the body (no dot handling).  STREAM_OK or
 * the same errors. */
int lmtp_body_read_chunk(struct lmtp_body *b, struct lmtp_input *in, uint64_t n);
/* The body is complete: sync and parse the stage (stage_finish). */
void lmtp_body_finish(struct lmtp_body *b);
/* The message's Message-ID (unfolded, trimmed) into out; false when it has
 * none or one over 1024 bytes. */
bool lmtp_body_message_id(const struct lmtp_body *b, struct buf *out);
/* Release everything (the stage file goes away). */
void lmtp_body_free(struct lmtp_body *b);

/* ---- lmtp_recipient.c ---- */

/* A recipient address taken apart. */
struct lmtp_address {
    char *userid;             /* canonical userid; NULL for a shared mailbox */
    char *detail;             /* user form: the folder after '+' (NULL: none);
                                 shared form: the mailbox name */
    char *domain;             /* lowercased domain, NULL when none */
};

/* Parse a path as it follows "FROM:" / "TO:" (spaces before '<' are
 * tolerated): "<>", "<local@domain>", "<@route:local@domain>", quoted
 * local parts.  *path_r (allocated from pool) is the address without
 * brackets or route, *rest_r points after '>'.  Returns 0 or -1 with a
 * reason. */
int lmtp_path_parse(const char *s, struct pool *pool, char **path_r, const char **rest_r,
                    const char **error_r);

/* Take a forward path apart: local part, '+' detail, domain; downcase the
 * user part when lmtp_downcase_rcpt; canonical userid (virtdomains);
 * the "+mailbox" / "postuser+mailbox" shared form.  Returns 0, or -1 with
 * reply set (550 5.1.1 for names that cannot be users). */
int lmtp_address_parse(const struct lmtp_settings *set, const char *path, struct pool *pool,
                       struct lmtp_address *addr_r, struct lmtp_reply *reply_r);

/* Where a recipient's mail goes. */
struct lmtp_target {
    char *mailbox;            /* internal name */
    char *uniqueid;           /* NULL when the INBOX is still to be created */
};
/* Resolve addr for poster (the identity whose 'p' right counts for folders
 * and shared mailboxes; NULL = anonymous): the folder named by the detail
 * when it exists and poster may post there, else the user's INBOX.  With
 * create (at delivery time) a missing INBOX is created when
 * autocreate_inbox is on; without it a missing INBOX that would be
 * created counts as found.  Returns 0, or -1 with reply set (550 5.1.1
 * unknown, 550 5.7.1 no right, 451 4.3.0 internal). */
int lmtp_recipient_resolve(const struct lmtp_settings *set, const struct lmtp_address *addr,
                           const char *poster, bool create, struct pool *pool,
                           struct lmtp_target *target_r, struct lmtp_reply *reply_r);
/* Would a message of size bytes (0: not known yet) fit the quota governing
 * mailbox?  Without lmtp_strict_quota (or without a size) the mailbox only
 * has to be under its limits, as in Cyrus.  Returns 0, or -1 with reply set
 * (452 4.2.2, or 552 5.2.2 with lmtp_over_quota_perm_failure; 451 on
 * errors). */
int lmtp_quota_check(const struct lmtp_settings *set, const char *mailbox, uint64_t size,
                     struct lmtp_reply *reply_r);

/* ---- lmtp_deliver.c ---- */

/* One accepted recipient of a transaction. */
struct lmtp_rcpt {
    const char *path;         /* as given in RCPT TO */
    struct lmtp_address addr;
    bool ignorequota;
    struct lmtp_reply reply;  /* the outcome after the body */
};

/* Deliver the finished stage of body to every recipient and set each
 * one's reply: 250 when the message is in the mailbox (or was there
 * already: duplicate suppression), else why not.  Nothing is reported
 * before every mailbox has been written and synced. */
void lmtp_deliver(const struct lmtp_settings *set, struct lmtp_body *body, const char *poster,
                  struct lmtp_rcpt *rcpts, unsigned n, struct pool *pool);

/* Remove expired duplicate-delivery records now and then (at most once an
 * hour for the whole server, tracked by a stamp file in configdirectory). */
void lmtp_deliver_prune(const struct lmtp_settings *set);

#endif
