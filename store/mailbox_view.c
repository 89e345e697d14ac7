/* mailbox_view.c - what one session has told its client, and what changed
 * since.
 *
 * A view holds the session's message numbers (msn - 1 -> UID, increasing),
 * the index generation and number of records it has looked at, the
 * HIGHESTMODSEQ it has reported, its \Recent set and the UIDs it has seen
 * expunged but not yet reported.  mailbox_view_refresh():
 *   - same index generation: records past the ones already looked at are
 *     new messages (unless already expunged: never reported); when
 *     HIGHESTMODSEQ moved, the known records with a higher MODSEQ are flag
 *     changes or expunges;
 *   - new generation (a cleanup rewrote the index): the view's UIDs are
 *     merged with the new index; the ones missing are expunged;
 *   - expunges are reported (increasing UID, each msn as renumbered by the
 *     previous ones) only when allowed, otherwise kept pending so message
 *     numbers stay stable;
 *   - a READWRITE view claims the messages above the mailbox's \Recent
 *     mark (exclusive lock, header rewrite without sync: losing a claim in
 *     a crash only makes messages recent again).
 * Non-owners' \Seen comes from the seen database, reloaded on refresh;
 * messages whose \Seen changed there are reported as flag changes too. */
#include "mailbox_private.h"

#include "log.h"
#include "seen.h"
#include "seqset.h"
#include "store.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

struct mailbox_view {
    struct mailbox *mb;
    char *userid;
    bool owner, readonly;
    uint32_t *uids;
    uint32_t count, alloc;
    uint32_t generation;
    uint32_t known_records;
    uint32_t last_uid;
    uint64_t hms;
    struct seqset recent;
    uint32_t recent_count;
    struct seqset pending;        /* expunged, not reported yet */
    struct seqset seen;           /* non-owner */
    struct buf seen_text;
    unsigned nkeywords;
};

struct mb_view_change {
    uint32_t uid;
    uint32_t flags;
    struct mailbox_keywords kw;
    uint64_t modseq;
};

struct mb_changes {
    struct mb_view_change *v;
    size_t n, alloc;
};

static void mb_changes_add(struct mb_changes *c, const struct mailbox_record *rec)
{
    if (c->n == c->alloc) {
        c->alloc = c->alloc == 0 ? 32 : c->alloc * 2;
        c->v = xreallocarray(c->v, c->alloc, sizeof(*c->v));
    }
    struct mb_view_change *x = &c->v[c->n++];
    x->uid = rec->uid;
    x->flags = rec->system_flags & MAILBOX_SYSTEM_FLAGS;
    x->kw = rec->keywords;
    x->modseq = rec->modseq;
}

static void mb_view_push(struct mailbox_view *v, uint32_t uid)
{
    if (v->count == v->alloc) {
        v->alloc = v->alloc < 64 ? 64 : v->alloc * 2;
        v->uids = xreallocarray(v->uids, v->alloc, sizeof(*v->uids));
    }
    v->uids[v->count++] = uid;
}

static uint32_t mb_view_effective_flags(const struct mailbox_view *v, uint32_t uid,
                                        uint32_t flags)
{
    flags &= MAILBOX_SYSTEM_FLAGS;
    if (!v->owner)
        flags = (flags & ~MAILBOX_FLAG_SEEN) |
                (seqset_contains(&v->seen, uid) ? MAILBOX_FLAG_SEEN : 0);
    return flags;
}

/* Reload the non-owner's seen set; *changed_r when it differs. */
static int mb_view_load_seen(struct mailbox_view *v, bool *changed_r, const char **error_r)
{
    struct buf text = BUF_INIT;
    const char *err = NULL;

    *changed_r = false;
    if (v->owner)
        return 0;
    int r = seen_get(v->mb->store, NULL, v->userid, v->mb->uniqueid, &text, &err);
    if (r < 0) {
        buf_free(&text);
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: seen state: %s", v->mb->name,
                       err != NULL ? err : "failed");
    }
    if (text.len == v->seen_text.len &&
        (text.len == 0 || memcmp(text.data, v->seen_text.data, text.len) == 0)) {
        buf_free(&text);
        return 0;
    }
    seqset_free(&v->seen);
    seqset_init(&v->seen);
    if (text.len > 0 && seqset_parse(text.data, text.len, &v->seen) < 0) {
        seqset_free(&v->seen);
        seqset_init(&v->seen);
    }
    buf_free(&v->seen_text);
    v->seen_text = text;
    *changed_r = true;
    return 0;
}

/* Exclusive lock held: claim the messages above the \Recent mark up to the
 * view's last UID. */
static int mb_view_claim(struct mailbox_view *v, const char **error_r)
{
    struct mailbox *mb = v->mb;

    if (mb->hdr.recent_uid >= v->last_uid)
        return 0;
    uint32_t low = mb->hdr.recent_uid + 1, high = v->last_uid;
    seqset_add_range(&v->recent, low, high);
    for (uint32_t i = 0; i < v->count; i++) {
        if (v->uids[i] >= low && v->uids[i] <= high)
            v->recent_count++;
    }
    mb->hdr.recent_uid = high;
    return mb_index_write_header(mb, error_r);
}

static int mb_view_claim_locked_ex(struct mailbox_view *v, const char **error_r)
{
    int r = mb_lock(v->mb, true, error_r);
    if (r < 0)
        return r;
    r = mb_view_claim(v, error_r);
    mb_unlock(v->mb);
    return r;
}

int mailbox_view_open(struct mailbox *mb, const char *userid, unsigned flags,
                      struct mailbox_view **view_r, const char **error_r)
{
    struct mailbox_view *v = xcalloc(1, sizeof(*v));
    bool changed;
    int r;

    *view_r = NULL;
    v->mb = mb;
    v->userid = userid != NULL ? xstrdup(userid) : NULL;
    v->owner = mb_is_owner(mb, userid);
    v->readonly = (flags & MAILBOX_VIEW_READONLY) != 0 || mb->readonly;
    seqset_init(&v->recent);
    seqset_init(&v->pending);
    seqset_init(&v->seen);
    if ((r = mb_view_load_seen(v, &changed, error_r)) < 0)
        goto fail;
    if ((r = mb_lock(mb, false, error_r)) < 0)
        goto fail;
    uint64_t max_modseq = 0;
    for (uint32_t i = 0; i < mb->hdr.num_records; i++) {
        struct mailbox_record rec;
        if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
            break;
        if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) == 0)
            mb_view_push(v, rec.uid);
        if (rec.modseq > max_modseq)
            max_modseq = rec.modseq;
    }
    v->generation = mb->hdr.generation;
    v->known_records = mb->hdr.num_records;
    v->last_uid = mb->hdr.uidnext - 1;
    v->hms = mb->hdr.highestmodseq;
    v->nkeywords = mb->mh.nkeywords;
    uint32_t recent_uid = mb->hdr.recent_uid;
    bool stale = max_modseq > mb->hdr.highestmodseq;
    mb_unlock(mb);
    if (r < 0)
        goto fail;
    if (stale) {
        /* records newer than the header: an in-place change whose header
         * write was lost (power failure); the counts are stale */
        if ((r = mb_repair_counts(mb, error_r)) < 0)
            goto fail;
        v->hms = max_modseq > mb->hdr.highestmodseq ? max_modseq : mb->hdr.highestmodseq;
    }
    if (v->readonly) {
        if (recent_uid < v->last_uid) {
            seqset_add_range(&v->recent, recent_uid + 1, v->last_uid);
            for (uint32_t i = 0; i < v->count; i++)
                v->recent_count += v->uids[i] > recent_uid;
        }
    } else if (recent_uid < v->last_uid && (r = mb_view_claim_locked_ex(v, error_r)) < 0) {
        goto fail;
    }
    *view_r = v;
    return 0;
fail:
    mailbox_view_close(&v);
    return r;
}

void mailbox_view_close(struct mailbox_view **vp)
{
    struct mailbox_view *v = *vp;

    if (v == NULL)
        return;
    free(v->userid);
    free(v->uids);
    seqset_free(&v->recent);
    seqset_free(&v->pending);
    seqset_free(&v->seen);
    buf_free(&v->seen_text);
    free(v);
    *vp = NULL;
}

/* Lock held: scan for changes since the view's state. */
static int mb_view_scan(struct mailbox_view *v, struct mb_changes *changes, uint32_t **newuids,
                        uint32_t *nnew, const char **error_r)
{
    struct mailbox *mb = v->mb;
    uint32_t nalloc = 0;
    uint32_t start_new;
    int r = 0;

    *newuids = NULL;
    *nnew = 0;
    if (mb->hdr.generation != v->generation) {
        /* merge the view's UIDs with the rewritten index */
        uint32_t i = 0;
        for (uint32_t j = 0; j < v->count; j++) {
            uint32_t u = v->uids[j];
            while (i < mb->hdr.num_records && mb_record_uid(mb, i) < u)
                i++;
            if (i >= mb->hdr.num_records || mb_record_uid(mb, i) != u) {
                seqset_add(&v->pending, u);
                continue;
            }
            struct mailbox_record rec;
            if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
                return r;
            if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
                seqset_add(&v->pending, u);
            else if (rec.modseq > v->hms && !seqset_contains(&v->pending, u))
                mb_changes_add(changes, &rec);
        }
        start_new = mb_index_lower_bound(mb, v->last_uid + 1);
    } else {
        if (mb->hdr.highestmodseq > v->hms) {
            uint32_t j = 0;
            for (uint32_t i = 0; i < v->known_records && i < mb->hdr.num_records; i++) {
                struct mailbox_record rec;
                uint32_t u = mb_record_uid(mb, i);
                while (j < v->count && v->uids[j] < u)
                    j++;
                if (j >= v->count)
                    break;
                if (v->uids[j] != u)
                    continue;
                if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
                    return r;
                if (rec.modseq <= v->hms || seqset_contains(&v->pending, u))
                    continue;
                if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
                    seqset_add(&v->pending, u);
                else
                    mb_changes_add(changes, &rec);
            }
        }
        start_new = v->known_records;
    }
    for (uint32_t i = start_new; i < mb->hdr.num_records; i++) {
        struct mailbox_record rec;
        if (mb_record_uid(mb, i) <= v->last_uid)
            continue;
        if ((r = mb_record_read(mb, i, &rec, error_r)) < 0)
            return r;
        if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
            continue;
        if (*nnew == nalloc) {
            nalloc = nalloc == 0 ? 32 : nalloc * 2;
            *newuids = xreallocarray(*newuids, nalloc, sizeof(**newuids));
        }
        (*newuids)[(*nnew)++] = rec.uid;
    }
    v->generation = mb->hdr.generation;
    v->known_records = mb->hdr.num_records;
    v->hms = mb->hdr.highestmodseq;
    v->last_uid = mb->hdr.uidnext - 1;
    return 0;
}

int mailbox_view_refresh(struct mailbox_view *v, bool allow_expunge,
                         const struct mailbox_view_callbacks *cb, void *ctx,
                         const char **error_r)
{
    static const struct mailbox_view_callbacks none;
    struct mailbox *mb = v->mb;
    struct mb_changes changes = { NULL, 0, 0 };
    uint32_t *newuids = NULL, nnew = 0;
    uint32_t old_count = v->count, old_recent = v->recent_count;
    bool seen_changed;
    struct seqset old_seen;
    int r;

    if (cb == NULL)
        cb = &none;
    seqset_init(&old_seen);
    if (!v->owner) {
        /* keep the old set to find the messages whose \Seen changed */
        for (size_t i = 0; i < v->seen.count; i++)
            seqset_add_range(&old_seen, v->seen.ranges[i].low, v->seen.ranges[i].high);
    }
    if ((r = mb_view_load_seen(v, &seen_changed, error_r)) < 0)
        goto out;
    if ((r = mb_lock(mb, false, error_r)) < 0)
        goto out;
    r = mb_view_scan(v, &changes, &newuids, &nnew, error_r);
    uint32_t recent_uid = mb->hdr.recent_uid;
    mb_unlock(mb);
    if (r < 0)
        goto out;

    if (mb->mh.nkeywords != v->nkeywords) {
        v->nkeywords = mb->mh.nkeywords;
        if (cb->keywords != NULL)
            cb->keywords(ctx);
    }

    /* expunges */
    if (allow_expunge && !seqset_is_empty(&v->pending)) {
        uint32_t j = 0;
        for (uint32_t i = 0; i < v->count; i++) {
            uint32_t u = v->uids[i];
            if (seqset_contains(&v->pending, u)) {
                if (seqset_contains(&v->recent, u))
                    v->recent_count--;
                if (cb->expunge != NULL)
                    cb->expunge(j + 1, u, ctx);
                continue;
            }
            v->uids[j++] = u;
        }
        v->count = j;
        seqset_free(&v->pending);
        seqset_init(&v->pending);
    }

    /* new messages */
    for (uint32_t i = 0; i < nnew; i++) {
        mb_view_push(v, newuids[i]);
        if (v->readonly && newuids[i] > recent_uid) {
            seqset_add(&v->recent, newuids[i]);
            v->recent_count++;
        }
    }
    if (!v->readonly && recent_uid < v->last_uid && (r = mb_view_claim_locked_ex(v, error_r)) < 0)
        goto out;
    if (v->count != old_count || nnew > 0) {
        if (cb->exists != NULL)
            cb->exists(v->count, ctx);
    }
    if (v->recent_count != old_recent || nnew > 0) {
        if (cb->recent != NULL)
            cb->recent(v->recent_count, ctx);
    }

    /* flag changes: from the index, then \Seen changes from the seen db */
    if (seen_changed) {
        for (uint32_t i = 0; i < v->count; i++) {
            uint32_t u = v->uids[i];
            if (seqset_contains(&old_seen, u) == seqset_contains(&v->seen, u) ||
                seqset_contains(&v->pending, u))
                continue;
            bool listed = false;
            for (size_t k = 0; k < changes.n && !listed; k++)
                listed = changes.v[k].uid == u;
            if (listed)
                continue;
            struct mailbox_record rec;
            int f = mailbox_record_by_uid(mb, u, &rec, error_r);
            if (f < 0) {
                r = f;
                goto out;
            }
            if (f > 0 && (rec.system_flags & MAILBOX_FLAG_EXPUNGED) == 0)
                mb_changes_add(&changes, &rec);
        }
    }
    if (cb->flags != NULL) {
        for (size_t k = 0; k < changes.n; k++) {
            const struct mb_view_change *c = &changes.v[k];
            uint32_t msn = mailbox_view_msn(v, c->uid);
            if (msn == 0)
                continue;
            cb->flags(msn, c->uid, mb_view_effective_flags(v, c->uid, c->flags), &c->kw,
                      c->modseq, ctx);
        }
    }
out:
    free(changes.v);
    free(newuids);
    seqset_free(&old_seen);
    return r;
}

struct mailbox *mailbox_view_mailbox(const struct mailbox_view *v) { return v->mb; }
uint32_t mailbox_view_exists(const struct mailbox_view *v) { return v->count; }
uint32_t mailbox_view_recent(const struct mailbox_view *v) { return v->recent_count; }
uint64_t mailbox_view_highestmodseq(const struct mailbox_view *v) { return v->hms; }

uint32_t mailbox_view_uid(const struct mailbox_view *v, uint32_t msn)
{
    return msn >= 1 && msn <= v->count ? v->uids[msn - 1] : 0;
}

uint32_t mailbox_view_msn(const struct mailbox_view *v, uint32_t uid)
{
    uint32_t lo = 0, hi = v->count;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v->uids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->count && v->uids[lo] == uid ? lo + 1 : 0;
}

bool mailbox_view_is_recent(const struct mailbox_view *v, uint32_t uid)
{
    return seqset_contains(&v->recent, uid) && mailbox_view_msn(v, uid) != 0;
}

bool mailbox_view_is_expunged(const struct mailbox_view *v, uint32_t uid)
{
    return seqset_contains(&v->pending, uid);
}

int mailbox_view_record(struct mailbox_view *v, uint32_t msn, struct mailbox_record *record_r,
                        const char **error_r)
{
    uint32_t uid = mailbox_view_uid(v, msn);

    if (uid == 0)
        return 0;
    int r = mailbox_record_by_uid(v->mb, uid, record_r, error_r);
    if (r <= 0)
        return r;
    record_r->system_flags =
        mb_view_effective_flags(v, uid, record_r->system_flags) |
        (record_r->system_flags & MAILBOX_FLAG_EXPUNGED);
    return 1;
}

uint32_t mailbox_view_first_unseen(struct mailbox_view *v)
{
    for (uint32_t i = 0; i < v->count; i++) {
        struct mailbox_record rec;
        const char *err = NULL;
        if (mailbox_record_by_uid(v->mb, v->uids[i], &rec, &err) <= 0)
            continue;
        if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
            continue;
        if ((mb_view_effective_flags(v, rec.uid, rec.system_flags) & MAILBOX_FLAG_SEEN) == 0)
            return i + 1;
    }
    return 0;
}

void mailbox_view_msns_to_uids(const struct mailbox_view *v, const struct seqset *msns,
                               struct seqset *uids_r)
{
    for (size_t k = 0; k < msns->count; k++) {
        uint32_t low = msns->ranges[k].low, high = msns->ranges[k].high;
        if (low > v->count)
            break;
        if (high > v->count)
            high = v->count;
        for (uint32_t m = low; m <= high; m++)
            seqset_add(uids_r, v->uids[m - 1]);
    }
}
