/* mailbox_flags.c - STORE: setting and clearing flags and keywords.
 *
 * Records are rewritten in place under the exclusive lock: the header is
 * marked dirty first, the changed records get the operation's new MODSEQ,
 * then the header (counts, HIGHESTMODSEQ, dirty cleared) is written and the
 * index synced once for the whole operation.
 *
 * \Seen is per user: the owner's (and a NULL userid's) lives in the record;
 * any other user's in the seen database (seen.h) by mailbox uniqueid.  A
 * change of a non-owner's \Seen still gives the record a new MODSEQ, so
 * that CONDSTORE clients and other sessions of that user notice it.
 * Callbacks run after the commit with no lock held. */
#include "mailbox_private.h"

#include "log.h"
#include "seen.h"
#include "seqset.h"
#include "store.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mb_flag_result {
    uint32_t uid;
    uint32_t flags;
    struct mailbox_keywords kw;
    uint64_t modseq;
    bool changed;
};

/* Load userid's seen set on mb (empty when none or unreadable). */
int mb_seen_load(struct mailbox *mb, const char *userid, struct seqset *seen_r,
                 const char **error_r)
{
    struct buf text = BUF_INIT;
    const char *err = NULL;

    seqset_init(seen_r);
    int r = seen_get(mb->store, NULL, userid, mb->uniqueid, &text, &err);
    if (r < 0) {
        buf_free(&text);
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: seen state of %s: %s", mb->name,
                       userid, err != NULL ? err : "failed");
    }
    if (text.len > 0 && seqset_parse(text.data, text.len, seen_r) < 0) {
        log_warning("mailbox %s: damaged seen state of %s ignored", mb->name, userid);
        seqset_free(seen_r);
        seqset_init(seen_r);
    }
    buf_free(&text);
    return 0;
}

int mailbox_store_flags(struct mailbox *mb, const struct seqset *uids,
                        const struct mailbox_flags_change *change, const char *userid,
                        mailbox_flags_cb *cb, void *ctx, struct seqset *modified_r,
                        const char **error_r)
{
    bool owner = mb_is_owner(mb, userid);
    uint32_t sys = change->system_flags & MAILBOX_SYSTEM_FLAGS;
    uint32_t maskable = owner ? MAILBOX_SYSTEM_FLAGS : MAILBOX_SYSTEM_FLAGS & ~MAILBOX_FLAG_SEEN;
    struct seqset seen, seen_add, seen_del;
    struct mailbox_keywords kwbits;
    struct mb_flag_result *res = NULL;
    size_t nres = 0, ares = 0;
    struct mb_rec_batch batch;
    int64_t now = (int64_t)time(NULL);
    bool dirty = false;
    int r;

    if (mb->readonly)
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: opened read-only", mb->name);
    seqset_init(&seen);
    seqset_init(&seen_add);
    seqset_init(&seen_del);
    if (!owner && (r = mb_seen_load(mb, userid, &seen, error_r)) < 0)
        return r;
    if ((r = mb_lock(mb, true, error_r)) < 0)
        goto out;
    r = mb_keywords_resolve(mb, change->keywords, change->nkeywords, &kwbits, error_r);
    if (r < 0) {
        mb_unlock(mb);
        goto out;
    }
    uint64_t modseq = mb->hdr.highestmodseq + 1;
    struct index_header saved = mb->hdr;
    mb_rec_batch_init(&batch);
    for (size_t k = 0; k < uids->count && r == 0; k++) {
        uint32_t high = uids->ranges[k].high;
        for (uint32_t i = mb_index_lower_bound(mb, uids->ranges[k].low);
             i < mb->hdr.num_records; i++) {
            struct mailbox_record rec;
            if (mb_record_uid(mb, i) > high)
                break;
            if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
                break;
            if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
                continue;
            if (change->conditional && rec.modseq > change->unchangedsince) {
                if (modified_r != NULL)
                    seqset_add(modified_r, rec.uid);
                continue;
            }
            uint32_t flags = rec.system_flags;
            struct mailbox_keywords kw = rec.keywords;
            bool seen_before = owner ? (flags & MAILBOX_FLAG_SEEN) != 0
                                     : seqset_contains(&seen, rec.uid);
            bool seen_after = seen_before;
            switch (change->op) {
            case MAILBOX_FLAGS_ADD:
                flags |= sys & maskable;
                kw.bits[0] |= kwbits.bits[0];
                kw.bits[1] |= kwbits.bits[1];
                if (sys & MAILBOX_FLAG_SEEN)
                    seen_after = true;
                break;
            case MAILBOX_FLAGS_REMOVE:
                flags &= ~(sys & maskable);
                kw.bits[0] &= ~kwbits.bits[0];
                kw.bits[1] &= ~kwbits.bits[1];
                if (sys & MAILBOX_FLAG_SEEN)
                    seen_after = false;
                break;
            case MAILBOX_FLAGS_REPLACE:
                flags = (flags & ~maskable) | (sys & maskable);
                kw = kwbits;
                seen_after = (sys & MAILBOX_FLAG_SEEN) != 0;
                break;
            }
            if (owner)
                seen_after = (flags & MAILBOX_FLAG_SEEN) != 0;
            bool changed = flags != rec.system_flags || kw.bits[0] != rec.keywords.bits[0] ||
                           kw.bits[1] != rec.keywords.bits[1] || seen_after != seen_before;
            if (changed) {
                if (!dirty && (r = mb_index_set_dirty(mb, error_r)) < 0)
                    break;
                dirty = true;
                mb_counts_apply(&mb->hdr, &rec, -1);
                rec.system_flags = flags;
                rec.keywords = kw;
                rec.modseq = modseq;
                rec.change_time = now;
                mb_counts_apply(&mb->hdr, &rec, 1);
                if ((r = mb_rec_batch_add(mb, &batch, i, &rec, error_r)) < 0)
                    break;
                if (!owner && seen_after != seen_before)
                    seqset_add(seen_after ? &seen_add : &seen_del, rec.uid);
            }
            if (nres == ares) {
                ares = ares == 0 ? 64 : ares * 2;
                res = xreallocarray(res, ares, sizeof(*res));
            }
            struct mb_flag_result *fr = &res[nres++];
            fr->uid = rec.uid;
            fr->flags = owner ? rec.system_flags
                              : (rec.system_flags & ~MAILBOX_FLAG_SEEN) |
                                    (seen_after ? MAILBOX_FLAG_SEEN : 0);
            fr->kw = rec.keywords;
            fr->modseq = rec.modseq;
            fr->changed = changed;
        }
    }
    if (r == 0 && dirty) {
        if ((r = mb_rec_batch_flush(mb, &batch, error_r)) == 0) {
            mb->hdr.highestmodseq = modseq;
            r = mb_index_commit(mb, error_r);
        }
    }
    if (r < 0 && dirty) {
        /* leave it dirty: the next locker recounts from the records */
        const char *err2 = NULL;
        saved.flags |= INDEX_F_DIRTY;
        mb->hdr = saved;
        (void)mb_index_write_header(mb, &err2);
    }
    mb_unlock(mb);
    if (r < 0)
        goto out;
    if (!owner && (r = mb_seen_update(mb->store, userid, mb->uniqueid, &seen_add, &seen_del,
                                      error_r)) < 0)
        goto out;
    if (cb != NULL) {
        for (size_t i = 0; i < nres; i++) {
            if (cb(res[i].uid, res[i].flags, &res[i].kw, res[i].modseq, res[i].changed, ctx) != 0)
                break;
        }
    }
out:
    free(res);
    seqset_free(&seen);
    seqset_free(&seen_add);
    seqset_free(&seen_del);
    return r;
}
