/* imapd.h - what the files of imapd share.
 *
 * imapd serves the store over IMAP4rev1 (RFC 3501) with the extensions
 * listed in docs/imapd.md.  It is split by job:
 *
 *   imapd.c            main(), the service frame hooks, settings read once
 *   imap_session.c     the command loop: read a command, check the state,
 *                      dispatch, send the untagged updates and the tagged
 *                      reply; timeouts, BYE, the bad-command limit
 *   imap_auth.c        CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS, ID,
 *                      ENABLE, NOOP, LOGOUT
 *   imap_reader.c      the command parser: tokens, literals, limits
 *   imap_args.c        typed arguments: dates, flag lists, sequence sets
 *   imap_write.c       output: strings, quoting, literals, mailbox names
 *   imap_names.c       mailbox names between the wire and the store
 *   imap_mailboxes.c   CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 *                      STATUS, the ACL lookups other commands use
 *   imap_list.c        LIST, LSUB, NAMESPACE
 *   imap_select.c      SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE, CHECK,
 *                      the untagged updates of the selected mailbox
 *   imap_idle.c        IDLE
 *   imap_append.c      APPEND (MULTIAPPEND)
 *   imap_store.c       STORE
 *   imap_copy.c        COPY, MOVE
 *   imap_fetch*.c      FETCH: attribute parsing, ENVELOPE/BODYSTRUCTURE,
 *                      BODY[section]<partial>
 *   imap_search*.c     SEARCH: key parsing and evaluation
 *   imap_acl.c         SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS
 *   imap_quota.c       GETQUOTA, GETQUOTAROOT, SETQUOTA
 *
 * Every command handler has the type imap_handler: it parses its own
 * arguments from the reader (which stands right after the command name),
 * does its work through the store, writes its untagged responses to the
 * stream and sets the tagged result with imap_result().  The dispatcher
 * (imap_session.c) then sends the untagged updates of the selected
 * mailbox (imap_select_updates()) and the tagged line, so updates always
 * come before the tagged reply.  A handler may set a NO result before it
 * has read all its arguments: the dispatcher throws away whatever is left
 * of a command after its handler returns (imap_reader_skip_command). */
#ifndef ROOST_IMAPD_H
#define ROOST_IMAPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "mailbox.h"

struct config;
struct mailbox;
struct mailbox_view;
struct mboxlist_entry;
struct pool;
struct saslserver;
struct seqset;
struct service_conn;
struct store;
struct stream;

/* ---- limits ---- */

/* Longest line of a command (between literals), bytes without CRLF. */
#define IMAP_LINE_MAX (256 * 1024)
/* Longest literal accepted as a string argument (not an APPEND message). */
#define IMAP_ARG_LITERAL_MAX (4 * 1024 * 1024)
/* Most bytes of one command (lines and argument literals; APPEND message
 * literals are not counted: they go to a stage file and are bounded by
 * the message size limit). */
#define IMAP_COMMAND_MAX (16 * 1024 * 1024)
/* A non-synchronising literal over the limit is read and thrown away up to
 * this many bytes (so the connection stays in step); beyond it the
 * session ends with BYE (RFC 7888 allows that). */
#define IMAP_LITERAL_DISCARD_MAX (64 * 1024 * 1024)
/* Parenthesis nesting (SEARCH keys, FETCH lists). */
#define IMAP_NESTING_MAX 64
/* Longest tag. */
#define IMAP_TAG_MAX 256
/* Bad commands in a row before "* BYE Too many errors". */
#define IMAP_MAX_BAD 50
/* Failed logins before the connection is closed. */
#define IMAP_MAX_LOGIN_FAILURES 5

/* ---- results of the parser and of handlers ---- */

enum imap_result_code {
    IMAP_OK = 0,
    /* A syntax error: the dispatcher sends "tag BAD <reader error>", throws
     * the rest of the command away (imap_reader_skip_command) and goes on. */
    IMAP_BAD = -1,
    /* The connection is gone, timed out, or must be closed (a BYE has
     * been sent where possible): the session ends. */
    IMAP_IO = -2,
    /* A refusal found while parsing (SEARCH CHARSET unknown): the handler
     * answers "NO <reader error>". */
    IMAP_NO = -3,
};

/* ---- settings (imapd.c), read once per process ---- */

struct imap_settings {
    const struct config *config;
    struct store *store;
    SSL_CTX *tls_ctx;             /* NULL: no STARTTLS, no IMAPS */
    char servername[256];
    uint64_t max_message;         /* largest APPEND message, bytes */
    int timeout_ms;               /* authenticated, between commands ("timeout") */
    int preauth_timeout_ms;       /* before login ("imap_preauth_timeout") */
    int idle_timeout_ms;          /* in IDLE ("imap_idle_timeout") */
    bool allow_plaintext;
    bool sasl_ready;              /* saslserver_global_init() worked */
    bool virtdomains;
    char sep;                     /* hierarchy separator clients see: '.' or '/' */
};

/* ---- the session ---- */

enum imap_state {
    IMAP_STATE_NOTAUTH = 0x1,
    IMAP_STATE_AUTH = 0x2,
    IMAP_STATE_SELECTED = 0x4,
    IMAP_STATE_LOGOUT = 0x8,
};
#define IMAP_STATE_ANY (IMAP_STATE_NOTAUTH | IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define IMAP_STATE_AUTHED (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

/* The command parser's state (imap_reader.c).  One per session. */
struct imap_reader {
    struct stream *stream;
    struct buf line;          /* the current line of the command, no CRLF */
    size_t pos;               /* next byte of line to parse */
    uint64_t total;           /* bytes of this command so far */
    unsigned depth;           /* parenthesis nesting, for callers that track it */
    const char *error;        /* why the last call returned IMAP_BAD */
    bool toobig;              /* ... and that was a size limit ([TOOBIG]) */
    int timeout_ms;           /* wait for the first line of a command */
};

/* The mailbox the session has selected (imap_select.c). */
struct imap_selected {
    struct mailbox *mb;
    struct mailbox_view *view;
    char *name;               /* internal name */
    bool readonly;            /* EXAMINE, or no right to change anything */
    uint32_t rights;          /* acl.h rights of the session's user */
    unsigned keywords_sent;   /* keywords announced in FLAGS so far */
};

struct imap_session {
    const struct imap_settings *set;
    struct service_conn *conn;
    struct stream *stream;
    struct imap_reader reader;
    enum imap_state state;
    struct saslserver *sasl;  /* NULL when SASL is unavailable */
    char *userid;             /* canonical user after login (authorization id) */
    char *authid;             /* who authenticated (differs for an admin proxy) */
    bool is_admin;            /* userid is in "admins" */
    struct imap_selected *sel;/* non-NULL in IMAP_STATE_SELECTED */
    unsigned bad_count;       /* BAD replies in a row */
    unsigned login_failures;
    bool idling;              /* inside IDLE */
};

/* One command being executed. */
struct imap_command {
    const char *tag;
    const char *name;         /* uppercase command name; for "UID FETCH" it is "FETCH" */
    bool uid;                 /* the UID prefix was given */
    struct pool *pool;        /* freed after the command */
    /* The tagged reply imap_result() set: status "OK"/"NO"/"BAD" and text
     * (with a leading "[CODE] " where there is one).  status NULL: the
     * handler has already sent the tagged line itself (LOGOUT). */
    const char *status;
    struct buf text;
    /* Untagged EXPUNGE may be sent before the tagged reply (false for
     * FETCH, STORE and SEARCH without UID: RFC 3501 7.4.1). */
    bool allow_expunge;
};

typedef int imap_handler(struct imap_session *s, struct imap_command *c);

/* ---- imap_session.c ---- */

/* Serve one connection (the service frame's serve hook). */
void imap_session_run(const struct imap_settings *set, struct service_conn *conn);
/* Set the tagged reply of c (status "OK", "NO" or "BAD"; printf-style text
 * with its response code, e.g. "[TRYCREATE] No such mailbox"). */
void imap_result(struct imap_command *c, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Turn a store error code (store.h) into the tagged NO with the RFC 5530
 * response code that fits: NOTFOUND -> [NONEXISTENT], EXISTS ->
 * [ALREADYEXISTS], OVERQUOTA -> [OVERQUOTA], PERMISSION -> [NOPERM],
 * BADNAME -> [CANNOT], LIMIT -> [LIMIT], CORRUPT -> [CORRUPTION], others
 * [SERVERBUG]; the store's message is logged and a short text sent. */
void imap_result_store_error(struct imap_command *c, int store_error, const char *error);
/* The capability list for the session's current state, without the
 * leading "CAPABILITY " (for the CAPABILITY response and [CAPABILITY ...]
 * codes). */
void imap_capability_string(const struct imap_session *s, struct buf *out);
/* Send "* BYE text" and flush (the caller then ends the session). */
void imap_bye(struct imap_session *s, const char *text);

/* ---- imap_auth.c ---- */
imap_handler imap_cmd_capability, imap_cmd_noop, imap_cmd_logout, imap_cmd_starttls,
    imap_cmd_authenticate, imap_cmd_login, imap_cmd_id, imap_cmd_enable;

/* ---- imap_reader.c: tokens ----
 *
 * Every function returns IMAP_OK, IMAP_BAD (reader->error says why;
 * reader->toobig for size limits) or IMAP_IO (connection gone or timed
 * out; stream_error() says more).  Functions that read a token stop right
 * after it; none of them skips spaces except where said. */

void imap_reader_init(struct imap_reader *r, struct stream *stream);
void imap_reader_free(struct imap_reader *r);
/* Read the first line of the next command (waiting at most r->timeout_ms;
 * IMAP_IO with *timed_out_r true on timeout) and parse the tag and the
 * command name (an atom, uppercased into name_r).  Empty lines are
 * skipped.  IMAP_BAD with tag_r set when a tag could be read ("*" when
 * not). */
int imap_reader_begin(struct imap_reader *r, struct buf *tag_r, struct buf *name_r,
                      bool *timed_out_r);
/* Throw away the rest of the current command after an error: the rest
 * of the line, and any non-synchronising literal (with the line after it)
 * the client will send anyway.  A synchronising literal is not asked for.
 * IMAP_OK or IMAP_IO (a literal over IMAP_LITERAL_DISCARD_MAX). */
int imap_reader_skip_command(struct imap_reader *r);
/* The next byte without consuming it, or -1 at the end of the command. */
int imap_reader_peek(const struct imap_reader *r);
/* Consume the byte c (IMAP_BAD when the next byte is something else). */
int imap_arg_char(struct imap_reader *r, char c);
/* Exactly one SP. */
int imap_arg_sp(struct imap_reader *r);
/* The end of the command (IMAP_BAD "Unexpected extra arguments" when more
 * follows). */
int imap_arg_eol(struct imap_reader *r);
/* atom (RFC 3501 ATOM-CHAR; ']' allowed where extra_chars says: pass
 * "]" for flags-like contexts or NULL) into out (reset first). */
int imap_arg_atom(struct imap_reader *r, const char *extra_chars, struct buf *out);
/* string = quoted / literal; astring = atom (with ']') / string; nstring =
 * string / NIL (is_nil_r set).  Literals: "{N}" (a "+ go ahead"
 * continuation is sent) or "{N+}" at the end of a line, N up to
 * IMAP_ARG_LITERAL_MAX.  out is reset first and may receive NUL bytes only
 * from literals (out->len counts them). */
int imap_arg_string(struct imap_reader *r, struct buf *out);
int imap_arg_astring(struct imap_reader *r, struct buf *out);
int imap_arg_nstring(struct imap_reader *r, struct buf *out, bool *is_nil_r);
/* A number (RFC 3501 number: 0..4294967295) / nz-number / number64. */
int imap_arg_number(struct imap_reader *r, uint32_t *n_r);
int imap_arg_nz_number(struct imap_reader *r, uint32_t *n_r);
int imap_arg_number64(struct imap_reader *r, uint64_t *n_r);
/* The message literal of APPEND: "{N}" or "{N+}" ending the line.
 * Returns IMAP_OK with *size_r and *sync_r (no continuation sent yet),
 * IMAP_BAD when there is no literal here or N does not parse (r->toobig
 * for a number over 2^63).  The caller then either refuses (a sync
 * literal: just reply NO; a non-sync one: imap_reader_literal_skip) or
 * calls imap_reader_continue() for a sync literal, reads exactly *size_r
 * bytes with imap_reader_literal_read() and finally
 * imap_reader_literal_done() to read the line that follows. */
int imap_arg_literal_begin(struct imap_reader *r, uint64_t *size_r, bool *sync_r);
int imap_reader_continue(struct imap_reader *r);
/* Up to n bytes of the literal into dst: the count (> 0) or IMAP_IO. */
long imap_reader_literal_read(struct imap_reader *r, void *dst, size_t n);
int imap_reader_literal_skip(struct imap_reader *r, uint64_t size);
int imap_reader_literal_done(struct imap_reader *r);
/* Read one raw line outside any command (IDLE's "DONE", SASL responses),
 * at most max bytes, waiting at most timeout_ms (-1: the stream's).
 * IMAP_OK, IMAP_BAD (too long: discarded) or IMAP_IO. */
int imap_reader_raw_line(struct imap_reader *r, size_t max, int timeout_ms, struct buf *out);

/* ---- imap_args.c: typed arguments ---- */

/* sequence-set (or '$' is refused: no SEARCHRES) into set (unresolved '*'). */
int imap_arg_seqset(struct imap_reader *r, struct seqset *set);
/* date "1-Feb-1994" / "\"1-Feb-1994\"" (SEARCH): the UTC midnight of that
 * day into *t_r (dates are compared as calendar days). */
int imap_arg_date(struct imap_reader *r, time_t *t_r);
/* date-time "\"17-Jul-1996 02:44:25 -0700\"" (APPEND) into UTC time. */
int imap_arg_datetime(struct imap_reader *r, time_t *t_r);
/* A flag list "(\Seen $Forwarded)" (also a single flag without
 * parentheses when allow_single, as STORE accepts).  System flags into
 * *system_r (MAILBOX_FLAG_*), keywords into keywords_r (pool strings,
 * *nkeywords_r of them).  \Recent: refused with IMAP_BAD unless
 * allow_recent (SEARCH-like contexts); \* refused.  Keywords must be atoms
 * of at most MAILBOX_KEYWORD_MAX_LEN bytes. */
int imap_arg_flags(struct imap_reader *r, bool allow_single, struct pool *pool,
                   uint32_t *system_r, const char ***keywords_r, unsigned *nkeywords_r);
/* A mailbox argument (astring, modified UTF-7, INBOX any case) into its
 * internal name for the session's user.  IMAP_BAD for bad syntax; a name
 * that is well-formed IMAP but not a valid mailbox name gives IMAP_OK with
 * *bad_name_r set (callers answer NO [CANNOT] or NO [NONEXISTENT]). */
int imap_arg_mailbox(struct imap_session *s, struct imap_reader *r, struct buf *internal_r,
                     bool *bad_name_r);

/* ---- imap_write.c: output ---- */

/* The shortest correct form of a string: an atom is never used (servers
 * send strings quoted or as literals): quoted when it has only printable
 * 7-bit characters without CR/LF ('"' and '\' escaped), else a literal. */
void imap_write_string(struct stream *st, const char *data, size_t len);
/* NIL for NULL, else imap_write_string(). */
void imap_write_nstring(struct stream *st, const char *str);
/* astring: an atom when it is one (and not "NIL"), else a string. */
void imap_write_astring(struct stream *st, const char *data, size_t len);
/* Always a literal "{N}\r\n<bytes>" (message bodies). */
void imap_write_literal(struct stream *st, const char *data, size_t len);
/* INTERNALDATE form "\"17-Jul-1996 09:44:25 +0000\"" (UTC). */
void imap_write_datetime(struct stream *st, time_t t);
/* The flag list "(\Seen \Flagged $label)" of a message; recent adds
 * \Recent; keyword names come from mb. */
void imap_write_flags(struct stream *st, const struct mailbox *mb, uint32_t system_flags,
                      const struct mailbox_keywords *keywords, bool recent);

/* ---- imap_names.c ---- */

/* Internal name -> what the client sees (external, modified UTF-7) for
 * the session's user, appended to out.  -1 when it cannot be shown. */
int imap_name_to_wire(const struct imap_session *s, const char *internal, struct buf *out);
/* The external name, written as an astring (quoted when needed). */
void imap_write_mailbox(struct imap_session *s, const char *internal);
/* Wire name (modified UTF-7 external) -> internal name; 0 or
 * STORE_ERR_BADNAME with *error_r. */
int imap_name_from_wire(const struct imap_session *s, const char *wire, struct buf *internal_r,
                        const char **error_r);

/* ---- imap_mailboxes.c ---- */
imap_handler imap_cmd_create, imap_cmd_delete, imap_cmd_rename, imap_cmd_subscribe,
    imap_cmd_unsubscribe, imap_cmd_status;

/* Look up a mailbox for the session: the entry (strings from pool) and
 * the session user's rights.  Returns 1 found, 0 not found (also when the
 * user has none of the rights "l", "r", "i" or "a": mailboxes a user
 * cannot see do not exist for them, RFC 4314 section 4), -1 internal
 * error with *error_r. */
int imap_mailbox_lookup(struct imap_session *s, const char *internal, struct pool *pool,
                        struct mboxlist_entry *entry_r, uint32_t *rights_r,
                        const char **error_r);

/* ---- imap_list.c ---- */
imap_handler imap_cmd_list, imap_cmd_lsub, imap_cmd_namespace;

/* ---- imap_select.c ---- */
imap_handler imap_cmd_select, imap_cmd_examine, imap_cmd_close, imap_cmd_unselect,
    imap_cmd_expunge, imap_cmd_check;
/* Send what changed in the selected mailbox since the last call (EXISTS,
 * RECENT, EXPUNGE when allow_expunge, FETCH FLAGS), as every command and
 * IDLE do.  No-op when nothing is selected.  Returns IMAP_OK, or IMAP_IO
 * after "* BYE" when the mailbox was deleted or damaged under the
 * session. */
int imap_select_updates(struct imap_session *s, bool allow_expunge);
/* Leave the selected state (no expunge); no-op when nothing is selected. */
void imap_select_leave(struct imap_session *s);
/* The UIDs in the view that set (parsed, unresolved) names: message
 * numbers, or UIDs when uid is true ('*' is the last message / the
 * highest UID; UIDs not in the view are dropped).  For message numbers
 * out of range *bad_r is set (the caller answers BAD "Invalid message
 * number" per RFC 3501 when the set has no valid member; Cyrus and Dovecot
 * do the same). */
void imap_select_uids(struct imap_session *s, struct seqset *set, bool uid, struct seqset *uids_r,
                      bool *bad_r);
/* Remember that this session already reported the flags of uid at modseq
 * (STORE's own FETCH responses), so that the next update does not repeat
 * them. */
void imap_select_reported(struct imap_session *s, uint32_t uid, uint64_t modseq);

/* ---- imap_idle.c ---- */
imap_handler imap_cmd_idle;

/* ---- imap_append.c, imap_store.c, imap_copy.c ---- */
imap_handler imap_cmd_append, imap_cmd_store, imap_cmd_copy, imap_cmd_move;

/* ---- imap_fetch*.c ---- */
imap_handler imap_cmd_fetch;
/* Parse the fetch attributes (after "FETCH set SP") into an opaque spec
 * allocated from pool (used by the fuzzer and by FETCH). */
struct imap_fetch_spec;
int imap_fetch_parse(struct imap_reader *r, struct pool *pool, struct imap_fetch_spec **spec_r);

/* ---- imap_search*.c ---- */
imap_handler imap_cmd_search;
/* Parse "[CHARSET x SP] search-keys" up to the end of the command into
 * an opaque tree from pool.  IMAP_NO with r->error "[BADCHARSET (US-ASCII
 * UTF-8)] Unknown charset" for a charset ICU does not know. */
struct imap_search;
int imap_search_parse(struct imap_reader *r, struct pool *pool, struct imap_search **search_r);

/* ---- imap_acl.c, imap_quota.c ---- */
imap_handler imap_cmd_setacl, imap_cmd_deleteacl, imap_cmd_getacl, imap_cmd_listrights,
    imap_cmd_myrights, imap_cmd_getquota, imap_cmd_getquotaroot, imap_cmd_setquota;

#endif
