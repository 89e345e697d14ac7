/* mbappend - append one message from stdin to a mailbox (debugging/admin).
 *
 * SYNOPSIS
 *   mbappend [-C config] [-c] [-q] [-F flag]... [-d unixtime] MAILBOX < message
 *
 * DESCRIPTION
 *   Like Cyrus's deliver without LMTP: the message on stdin is staged and
 *   appended to MAILBOX (an internal name: user.test1, example.com!user.x,
 *   shared.folder).  Bare LF line ends are turned into CRLF, as the store
 *   keeps messages.  Prints "MAILBOX: UIDVALIDITY v UID u" on success.
 *
 *   -c        create the mailbox first when it does not exist
 *   -q        ignore the quota (as an administrator)
 *   -F flag   a system flag (\Seen \Answered \Flagged \Deleted \Draft) or a
 *             keyword to set on the message; repeatable
 *   -d time   INTERNALDATE as unix time (default: now)
 *
 * EXIT STATUS
 *   0 appended, 1 failed, 64 usage, 75 over quota (try again later).
 */
#include "buf.h"
#include "config.h"
#include "log.h"
#include "mailbox.h"
#include "store.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MBAPPEND_MAX_FLAGS 64

static int usage(void)
{
    fprintf(stderr, "usage: mbappend [-C config] [-c] [-q] [-F flag]... [-d unixtime] "
                    "MAILBOX < message\n");
    return 64;
}

static uint32_t system_flag(const char *name)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } flags[] = {
        { "\\Answered", MAILBOX_FLAG_ANSWERED }, { "\\Flagged", MAILBOX_FLAG_FLAGGED },
        { "\\Deleted", MAILBOX_FLAG_DELETED },   { "\\Seen", MAILBOX_FLAG_SEEN },
        { "\\Draft", MAILBOX_FLAG_DRAFT },
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (strcasecmp(flags[i].name, name) == 0)
            return flags[i].bit;
    }
    return 0;
}

/* stdin into the stage, LF -> CRLF. */
static int stage_stdin(struct stage *stage, const char **error_r)
{
    char in[65536], out[2 * sizeof(in)];
    bool last_cr = false;
    size_t n;

    while ((n = fread(in, 1, sizeof(in), stdin)) > 0) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (in[i] == '\n' && !last_cr)
                out[k++] = '\r';
            out[k++] = in[i];
            last_cr = in[i] == '\r';
        }
        if (stage_write(stage, out, k, error_r) < 0)
            return -1;
    }
    if (ferror(stdin)) {
        *error_r = "read error on stdin";
        return -1;
    }
    return stage_finish(stage, error_r);
}

/* Open (or with create, create) name and append msg staged from stdin. */
static int append(struct store *store, const char *name, bool create,
                  struct mailbox_append_msg *msg, unsigned flags, const char **error_r)
{
    struct mailbox *mb = NULL;
    struct stage *stage = NULL;
    uint32_t uidvalidity = 0, uid = 0;
    int r = mailbox_open(store, name, MAILBOX_READWRITE, &mb, error_r);

    if (r == STORE_ERR_NOTFOUND && create) {
        r = mailbox_create(store, name, NULL, error_r);
        if (r == 0 || r == STORE_ERR_EXISTS)   /* or another process just made it */
            r = mailbox_open(store, name, MAILBOX_READWRITE, &mb, error_r);
    }
    if (r == 0)
        r = stage_begin(store, mailbox_partition(mb), &stage, error_r);
    if (r == 0 && (r = stage_stdin(stage, error_r)) == 0) {
        msg->stage = stage;
        r = mailbox_append(mb, msg, 1, NULL, flags, &uidvalidity, &uid, error_r);
    }
    if (r == 0)
        printf("%s: UIDVALIDITY %u UID %u\n", name, uidvalidity, uid);
    stage_free(&stage);
    mailbox_close(&mb);
    return r;
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL, *error = NULL;
    const char *keywords[MBAPPEND_MAX_FLAGS];
    struct mailbox_append_msg msg;
    bool create = false;
    unsigned flags = 0;
    int c;

    log_init("mbappend");
    log_set_level(LOG_LEVEL_WARNING);
    memset(&msg, 0, sizeof(msg));
    msg.keywords = keywords;
    while ((c = getopt(argc, argv, "C:cqF:d:")) != -1) {
        uint64_t v;
        switch (c) {
        case 'C': cfgpath = optarg; break;
        case 'c': create = true; break;
        case 'q': flags |= MAILBOX_IGNORE_QUOTA; break;
        case 'F':
            if (system_flag(optarg) != 0)
                msg.flags |= system_flag(optarg);
            else if (optarg[0] == '\\' || msg.nkeywords == MBAPPEND_MAX_FLAGS)
                return usage();
            else
                keywords[msg.nkeywords++] = optarg;
            break;
        case 'd':
            if (str_to_u64(optarg, INT32_MAX, &v) < 0)
                return usage();
            msg.internaldate = (time_t)v;
            break;
        default: return usage();
        }
    }
    if (optind + 1 != argc)
        return usage();
    const char *name = argv[optind];

    struct config *config = NULL;
    struct store *store = NULL;
    if (config_load(config_path_resolve(cfgpath), &config, &error) < 0 ||
        store_open(config, 0, &store, &error) < 0) {
        fprintf(stderr, "mbappend: %s\n", error);
        config_free(&config);
        return 1;
    }
    int r = append(store, name, create, &msg, flags, &error);
    if (r < 0)
        fprintf(stderr, "mbappend: %s\n", error != NULL ? error : "failed");
    store_close(&store);
    config_free(&config);
    return r == 0 ? 0 : r == STORE_ERR_OVERQUOTA ? 75 : 1;
}
