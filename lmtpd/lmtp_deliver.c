/* lmtp_deliver.c - one received message into every recipient's mailbox.
 *
 * After the body is staged (synced, hashed, parsed once), each recipient
 * is resolved again (mailboxes may have appeared, gone or been autocreated
 * since RCPT), checked against its quota with the real size and against
 * the duplicate-delivery records, and the message goes into all the
 * mailboxes in one mailbox_append_staged() call: hard links on the stage's
 * partition, and one sync per directory, cache and index for the whole
 * transaction.  Only after that call returns does any recipient get its
 * 250, so a reply the client sees is a message on disk; a recipient whose
 * mailbox failed gets a 451 and nothing of the message.
 *
 * Recipients that resolve to the same mailbox share one copy.  With
 * duplicatesuppression, a message whose Message-ID was delivered to the
 * same mailbox (by uniqueid) less than duplicatesuppression_period seconds
 * ago is acknowledged and not stored again; the record is written after a
 * successful delivery. */
#include "lmtpd.h"

#include "config.h"
#include "duplicate.h"
#include "log.h"
#include "mailbox.h"
#include "pool.h"
#include "store.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How often (seconds) the duplicate records are pruned, server-wide. */
#define LMTP_PRUNE_INTERVAL 3600

void lmtp_deliver(const struct lmtp_settings *set, struct lmtp_body *body, const char *poster,
                  struct lmtp_rcpt *rcpts, unsigned n, struct pool *pool)
{
    struct buf msgid = BUF_INIT;
    bool have_id = set->dup_suppression && lmtp_body_message_id(body, &msgid);
    uint64_t size = stage_size(body->stage);
    time_t now = time(NULL);
    struct mailbox_append_target *targets = xcalloc(n, sizeof(*targets));
    const char **target_uid = xcalloc(n, sizeof(*target_uid));
    int *which = xcalloc(n, sizeof(*which));
    unsigned nt = 0;
    const char *err;

    for (unsigned i = 0; i < n; i++) {
        struct lmtp_rcpt *r = &rcpts[i];
        struct lmtp_target t;
        which[i] = -1;
        if (lmtp_recipient_resolve(set, &r->addr, poster, true, pool, &t, &r->reply) < 0)
            continue;
        if (!r->ignorequota && lmtp_quota_check(set, t.mailbox, size, &r->reply) < 0)
            continue;
        for (unsigned j = 0; j < nt; j++) {
            if (strcmp(target_uid[j], t.uniqueid) == 0) {
                which[i] = (int)j;
                break;
            }
        }
        if (which[i] >= 0)
            continue;
        if (have_id) {
            time_t when = 0;
            int d = duplicate_check(set->store, buf_cstr(&msgid), t.uniqueid, &when, &err);
            if (d < 0) {
                log_warning("duplicate check failed (delivering anyway): %s", err);
            } else if (d > 0 && when <= now && now - when < set->dup_period) {
                log_info("duplicate suppressed: msgid=%s to=<%s> mailbox=%s",
                         buf_cstr(&msgid), r->path, t.mailbox);
                lmtp_reply_set(&r->reply, 250, "2.0.0 Ok: already delivered (duplicate)");
                continue;
            }
        }
        targets[nt].name = t.mailbox;
        target_uid[nt] = t.uniqueid;
        which[i] = (int)nt++;
    }

    if (nt > 0 &&
        mailbox_append_staged(set->store, body->stage, targets, nt, MAILBOX_IGNORE_QUOTA,
                              &err) < 0) {
        log_error("delivery failed: %s", err);
        for (unsigned j = 0; j < nt; j++) {
            targets[j].result = STORE_ERR_INTERNAL;
            snprintf(targets[j].error, sizeof(targets[j].error), "%s", err);
        }
    }
    for (unsigned j = 0; j < nt; j++) {
        if (targets[j].result == 0 && have_id &&
            duplicate_mark(set->store, buf_cstr(&msgid), target_uid[j], now, &err) < 0)
            log_warning("cannot record the delivery for duplicate suppression: %s", err);
    }

    for (unsigned i = 0; i < n; i++) {
        struct lmtp_rcpt *r = &rcpts[i];
        if (which[i] < 0)
            continue;
        const struct mailbox_append_target *t = &targets[which[i]];
        if (t->result == 0) {
            lmtp_reply_set(&r->reply, 250, "2.0.0 Ok: delivered as UID %u", t->uid);
            log_info("delivered: to=<%s> mailbox=%s uid=%u size=%llu msgid=%s", r->path,
                     t->name, t->uid, (unsigned long long)size,
                     have_id ? buf_cstr(&msgid) : "-");
            continue;
        }
        log_error("delivery to %s (<%s>) failed: %s", t->name, r->path, t->error);
        if (t->result == STORE_ERR_OVERQUOTA) {
            if (set->over_quota_perm)
                lmtp_reply_set(&r->reply, 552, "5.2.2 Mailbox is full (over quota)");
            else
                lmtp_reply_set(&r->reply, 452, "4.2.2 Mailbox is full (over quota)");
        } else if (t->result == STORE_ERR_LIMIT) {
            lmtp_reply_set(&r->reply, 552, "5.3.4 Message too big for the mailbox");
        } else {
            lmtp_reply_set(&r->reply, 451, "4.3.0 Internal error, try again later");
        }
    }
    free(targets);
    free(target_uid);
    free(which);
    buf_free(&msgid);
}

void lmtp_deliver_prune(const struct lmtp_settings *set)
{
    struct buf path = BUF_INIT;
    struct stat st;
    time_t now = time(NULL);
    const char *err;
    uint64_t removed = 0;

    if (!set->dup_suppression || set->store == NULL)
        return;
    buf_printf(&path, "%s/lmtpd.prune", config_str(set->config, "configdirectory"));
    if (stat(buf_cstr(&path), &st) == 0 && st.st_mtime <= now &&
        now - st.st_mtime < LMTP_PRUNE_INTERVAL)
        goto out;
    /* claim this round first, so that other processes do not start one */
    int fd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        log_warning("cannot write %s: %s", buf_cstr(&path), strerror(errno));
        goto out;
    }
    (void)futimens(fd, NULL);
    close(fd);
    if (duplicate_prune(set->store, now - set->dup_period, &removed, &err) < 0)
        log_warning("pruning duplicate-delivery records: %s", err);
    else if (removed > 0)
        log_info("pruned %llu expired duplicate-delivery records",
                 (unsigned long long)removed);
out:
    buf_free(&path);
}
