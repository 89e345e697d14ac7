/* mailbox_copy.c - COPY and MOVE between mailboxes (or within one).
 *
 * Both mailboxes are locked in uniqueid order (the source shared for a
 * copy, exclusive for a move; a mailbox copied into itself is locked once).
 * The sources' files are hard-linked into the destination when both are on
 * one partition (copied otherwise), their cache entries copied, and the
 * destination committed through the append engine with one sync per file.
 * For a move the sources are then marked expunged in the same locked
 * section, so a client never sees both or neither; a crash between the two
 * commits leaves the message in both mailboxes, never in none.
 *
 * Keywords are carried by name (the destination may number them
 * differently); \Seen is the acting user's, stored for that user in the
 * destination.  Quota: the destination's root is charged (and checked
 * first, unless MAILBOX_IGNORE_QUOTA); a move between mailboxes of one
 * quota root changes no usage. */
#include "mailbox_private.h"

#include "log.h"
#include "quota.h"
#include "seqset.h"
#include "store.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

void mailbox_copy_result_free(struct mailbox_copy_result *result)
{
    free(result->src_uids);
    free(result->dst_uids);
    memset(result, 0, sizeof(*result));
}

/* Resolve the keywords used by the sources in dst and fill map[src bit] =
 * dst bit.  dst locked exclusively. */
static int mb_map_keywords(struct mailbox *s, struct mailbox *dst,
                           const struct mailbox_keywords *used, int map[MAILBOX_MAX_KEYWORDS],
                           const char **error_r)
{
    const char *names[MAILBOX_MAX_KEYWORDS];
    unsigned n = 0;
    struct mailbox_keywords bits;

    for (unsigned i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
        map[i] = -1;
        if (mailbox_keywords_has(used, i) && i < s->mh.nkeywords)
            names[n++] = s->mh.keywords[i];
    }
    int r = mb_keywords_resolve(dst, names, n, &bits, error_r);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
        if (mailbox_keywords_has(used, i) && i < s->mh.nkeywords)
            map[i] = mailbox_keyword_find(dst, s->mh.keywords[i]);
    }
    return 0;
}

int mailbox_copy(struct mailbox *src, const struct seqset *uids, struct mailbox *dst,
                 const char *userid, unsigned flags, struct mailbox_copy_result *result_r,
                 const char **error_r)
{
    bool move = (flags & MAILBOX_MOVE) != 0;
    bool same = strcmp(src->uniqueid, dst->uniqueid) == 0;
    struct mailbox *s = same ? dst : src;
    bool src_owner = mb_is_owner(src, userid), dst_owner = mb_is_owner(dst, userid);
    struct seqset seen, seen_add;
    struct buf srcroot = BUF_INIT, dstroot = BUF_INIT;
    struct mailbox_record *recs = NULL;
    struct mb_append_item *items = NULL;
    size_t count = 0, alloc = 0;
    uint64_t bytes = 0;
    bool have_src_root, have_dst_root;
    int r;

    memset(result_r, 0, sizeof(*result_r));
    seqset_init(&seen);
    seqset_init(&seen_add);
    if (dst->readonly || (move && src->readonly))
        return mb_fail(error_r, STORE_ERR_INTERNAL, "%s: opened read-only",
                       dst->readonly ? dst->name : src->name);
    if (!src_owner && (r = mb_seen_load(src, userid, &seen, error_r)) < 0)
        goto out;
    if ((r = mb_quota_root(src->store, src->name, &srcroot, error_r)) < 0)
        goto out;
    have_src_root = r > 0;
    if ((r = mb_quota_root(dst->store, dst->name, &dstroot, error_r)) < 0)
        goto out;
    have_dst_root = r > 0;
    /* a move inside one quota root changes no usage */
    bool charge = !(move && have_src_root == have_dst_root &&
                    (!have_src_root || strcmp(buf_cstr(&srcroot), buf_cstr(&dstroot)) == 0));

    /* lock */
    if (same) {
        r = mb_lock(dst, true, error_r);
    } else {
        bool src_first = strcmp(src->uniqueid, dst->uniqueid) < 0;
        struct mailbox *first = src_first ? src : dst, *second = src_first ? dst : src;
        r = mb_lock(first, first == dst || move, error_r);
        if (r == 0 && (r = mb_lock(second, second == dst || move, error_r)) < 0)
            mb_unlock(first);
    }
    if (r < 0)
        goto out;

    /* the sources */
    struct mailbox_keywords used = { { 0, 0 } };
    for (size_t k = 0; k < uids->count && r == 0; k++) {
        uint32_t high = uids->ranges[k].high;
        for (uint32_t i = mb_index_lower_bound(s, uids->ranges[k].low);
             i < s->hdr.num_records; i++) {
            struct mailbox_record rec;
            if (mb_record_uid(s, i) > high)
                break;
            if ((r = mb_record_read(s, i, &rec, error_r)) < 0)
                break;
            if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
                continue;
            if (count == alloc) {
                alloc = alloc == 0 ? 64 : alloc * 2;
                recs = xreallocarray(recs, alloc, sizeof(*recs));
            }
            if (count >= MAILBOX_BATCH_MAX) {
                r = mb_fail(error_r, STORE_ERR_LIMIT, "too many messages in one copy");
                break;
            }
            recs[count++] = rec;
            bytes += rec.size;
            used.bits[0] |= rec.keywords.bits[0];
            used.bits[1] |= rec.keywords.bits[1];
        }
    }
    if (r < 0 || count == 0)
        goto unlock;

    if (charge && have_dst_root && (flags & MAILBOX_IGNORE_QUOTA) == 0) {
        const char *err = NULL;
        r = quota_check(dst->store, NULL, buf_cstr(&dstroot), (int64_t)bytes, (int64_t)count,
                        &err);
        if (r == STORE_ERR_OVERQUOTA) {
            r = mb_fail(error_r, r, "%s: over quota", dst->name);
            goto unlock;
        }
        if (r < 0) {
            r = mb_fail(error_r, STORE_ERR_INTERNAL, "%s: quota: %s", dst->name,
                        err != NULL ? err : "check failed");
            goto unlock;
        }
    }
    int map[MAILBOX_MAX_KEYWORDS];
    if ((r = mb_map_keywords(s, dst, &used, map, error_r)) < 0)
        goto unlock;

    items = xcalloc(count, sizeof(*items));
    for (size_t i = 0; i < count; i++) {
        struct mb_append_item *it = &items[i];
        const struct mailbox_record *rec = &recs[i];
        it->src_dirfd = s->dirfd;
        mb_message_name(rec->uid, it->src_file);
        it->src_same_fs = strcmp(src->partition, dst->partition) == 0;
        it->blob_fd = s->cache_fd;
        it->blob_rec = *rec;
        it->rec = *rec;
        bool eff_seen = src_owner ? (rec->system_flags & MAILBOX_FLAG_SEEN) != 0
                                  : seqset_contains(&seen, rec->uid);
        it->rec.system_flags = rec->system_flags & MAILBOX_SYSTEM_FLAGS & ~MAILBOX_FLAG_SEEN;
        if (dst_owner && eff_seen)
            it->rec.system_flags |= MAILBOX_FLAG_SEEN;
        memset(&it->rec.keywords, 0, sizeof(it->rec.keywords));
        for (unsigned b = 0; b < MAILBOX_MAX_KEYWORDS; b++) {
            if (mailbox_keywords_has(&rec->keywords, b) && map[b] >= 0)
                it->rec.keywords.bits[map[b] / 64] |= (uint64_t)1 << (map[b] % 64);
        }
    }
    struct mb_append_group g = { .mb = dst, .items = items, .n = (unsigned)count };
    mb_append_commit(&g, 1);
    if (g.result < 0) {
        r = mb_fail(error_r, g.result, "%s", g.error);
        goto unlock;
    }
    result_r->uidvalidity = dst->hdr.uidvalidity;
    result_r->count = (unsigned)count;
    result_r->src_uids = xcalloc(count, sizeof(uint32_t));
    result_r->dst_uids = xcalloc(count, sizeof(uint32_t));
    for (size_t i = 0; i < count; i++) {
        result_r->src_uids[i] = recs[i].uid;
        result_r->dst_uids[i] = items[i].uid;
        bool eff_seen = src_owner ? (recs[i].system_flags & MAILBOX_FLAG_SEEN) != 0
                                  : seqset_contains(&seen, recs[i].uid);
        if (!dst_owner && eff_seen)
            seqset_add(&seen_add, items[i].uid);
    }
    if (move) {
        uint64_t xbytes;
        uint32_t xmsgs;
        if ((r = mb_expunge_uids(s, result_r->src_uids, (unsigned)count, &xbytes, &xmsgs,
                                 error_r)) < 0)
            log_error("mailbox %s: moved messages copied to %s but not expunged: %s", s->name,
                      dst->name, *error_r);
    }
unlock:
    mb_unlock(dst);
    if (!same)
        mb_unlock(src);
    if (result_r->count > 0 && charge) {
        if (have_dst_root)
            mb_quota_charge(dst->store, buf_cstr(&dstroot), (int64_t)bytes, (int64_t)count);
        if (move && r == 0 && have_src_root)
            mb_quota_charge(src->store, buf_cstr(&srcroot), -(int64_t)bytes, -(int64_t)count);
    }
    if (r == 0 && !seqset_is_empty(&seen_add)) {
        const char *err = NULL;
        if (mb_seen_update(dst->store, userid, dst->uniqueid, &seen_add, NULL, &err) < 0)
            log_warning("mailbox %s: \\Seen of copied messages not recorded: %s", dst->name,
                        err);
    }
out:
    if (r < 0 && result_r->count > 0 && !move)
        mailbox_copy_result_free(result_r);
    free(recs);
    free(items);
    seqset_free(&seen);
    seqset_free(&seen_add);
    buf_free(&srcroot);
    buf_free(&dstroot);
    return r;
}
