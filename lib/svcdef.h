/* svcdef.h - the service-NAME / daemon-NAME definitions of the config.
 *
 * SYNOPSIS
 *     service-imap: cmd="imapd" listen="127.0.0.1:1143" prefork=1 maxchild=100 maxfor=250
 *     service-imaps: cmd="imapd -s" listen="127.0.0.1:1993 [::1]:1993" prefork=1
 *     daemon-qmgr: cmd="qmgr"
 *
 *     struct svcdef def;
 *     if (svcdef_parse("service-imap", value, &def, &error) < 0) ...
 *     ... def.cmd, def.listen, def.prefork ...
 *     svcdef_free(&def);
 *
 * DESCRIPTION
 *     The value of such a key is a list of name=value words, close to
 *     cyrus.conf's SERVICES lines.  Words are split on blanks (space, tab);
 *     a double quoted part of a word may hold blanks, and inside quotes a
 *     backslash takes the next character literally (\" and \\).  Outside
 *     quotes a backslash is an ordinary character.
 *
 *     cmd       (required) program and arguments, split into words again
 *               the same way (cmd="x \"a b\"" gives x and "a b").
 *     listen    (services: required) 1..SVCDEF_LISTEN_MAX addresses
 *               separated by blanks, each given once: "host:port",
 *               "[v6]:port", "*:port" or a unix socket path.  Only their
 *               length and characters are checked here; binding says the
 *               rest.
 *     prefork   0..SVCDEF_PREFORK_MAX children waiting in accept() per
 *               address (default 0: on demand).
 *     maxchild  1..SVCDEF_MAXCHILD_MAX children of the service over all its
 *               addresses, or -1 (the default) for SVCDEF_MAXCHILD_DEFAULT;
 *               prefork times the number of addresses must fit in it.
 *     maxfor    0..SVCDEF_MAXFOR_MAX connections per child (0: no limit).
 *     babysit, maxfds, proto: cyrus.conf options with no meaning for Roost,
 *               accepted and listed in def->ignored so the caller can warn.
 *
 *     Daemons (daemon-NAME) take only cmd (and the ignored ones).  An
 *     option given twice, an unknown option, a word without '=', a number
 *     out of range or with anything but digits is an error.
 *
 *     This module only parses: it looks nothing up (program paths, the
 *     addresses) and logs nothing, so that it can be unit tested and
 *     fuzzed.  master (master/master_services.c) turns a definition into
 *     what it runs.
 *
 * LIMITS
 *     Values are at most SVCDEF_VALUE_MAX bytes, a split gives at most
 *     SVCDEF_WORDS_MAX words, and no word may hold a control character.
 *
 * DIAGNOSTICS
 *     Every error names the key ("service-imap: unknown option ...");
 *     pieces of the value quoted in a message are cut short and their
 *     control characters replaced.
 */
#ifndef ROOST_SVCDEF_H
#define ROOST_SVCDEF_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

enum svcdef_kind {
    SVCDEF_SERVICE,   /* service-NAME: listeners, children accept */
    SVCDEF_DAEMON,    /* daemon-NAME: one long-lived process */
};

#define SVCDEF_NAME_MAX 64
#define SVCDEF_LISTEN_MAX 16
#define SVCDEF_ADDRESS_MAX 512
#define SVCDEF_PREFORK_MAX 1000
#define SVCDEF_MAXCHILD_MAX 100000
#define SVCDEF_MAXCHILD_DEFAULT 100
#define SVCDEF_MAXFOR_MAX 1000000000
#define SVCDEF_VALUE_MAX 8192
#define SVCDEF_WORDS_MAX 256
/* Ignored cyrus.conf options there are. */
#define SVCDEF_IGNORED_MAX 3

struct svcdef {
    enum svcdef_kind kind;
    char *name;            /* "imap" of "service-imap" */
    char **cmd;            /* cmd's words, NULL-terminated; cmd[0] the
                            * program as written (never empty) */
    size_t cmd_count;      /* >= 1 */
    char **listen;         /* addresses as written, NULL-terminated (an
                            * empty array for a daemon) */
    size_t listen_count;   /* services: 1..SVCDEF_LISTEN_MAX; daemons: 0 */
    int prefork;           /* daemons: 0 */
    int maxchild;          /* -1 resolved: services 1..SVCDEF_MAXCHILD_MAX,
                            * daemons 1 */
    int maxfor;            /* daemons: 0 */
    /* The ignored options present, in the order given (names from a
     * static table). */
    const char *ignored[SVCDEF_IGNORED_MAX];
    size_t ignored_count;
};

/* Split text into words as described above.  Returns 0 with a
 * NULL-terminated allocated array (free with svcdef_words_free) of *count_r
 * words, or -1 with *error_r (unterminated quote, too long, too many words,
 * a control character).  The message is static, without a key. */
int svcdef_words_split(const char *text, char ***words_r, size_t *count_r,
                       const char **error_r);
/* Free such an array (NULL is fine). */
void svcdef_words_free(char **words);

/* True when key is a service-NAME or daemon-NAME key (of any name). */
bool svcdef_key_is_def(const char *key);

/* Parse the definition value of key ("service-NAME" or "daemon-NAME").
 * Returns 0 with *def_r filled (free with svcdef_free), or -1 with
 * *error_r naming the key; *def_r is then zeroed.  The message lives in a
 * static buffer valid until the next call. */
int svcdef_parse(const char *key, const char *value, struct svcdef *def_r,
                 const char **error_r);
/* Free what def holds and zero it (a zeroed def is fine). */
void svcdef_free(struct svcdef *def);

/* Write def as a value that svcdef_parse() turns back into an equal
 * definition (every option written out, quoted where needed; the ignored
 * options are left out).  Appends to out. */
void svcdef_format(const struct svcdef *def, struct buf *out);
/* True when a and b define the same thing (ignored options aside). */
bool svcdef_equal(const struct svcdef *a, const struct svcdef *b);

#endif
