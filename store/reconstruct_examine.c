/* reconstruct_examine.c - mbexamine: print what is on disk for a mailbox.
 *
 * DESCRIPTION
 *   For debugging: the mailbox list entry, roost.header, the index header
 *   and every record (or one UID or message number), each with its cache
 *   entry summarised.  Everything is read tolerantly, the way reconstruct
 *   reads it, so a damaged mailbox can be examined: a part that fails its
 *   checks is printed as damaged with the reason, and the rest goes on.
 *   A shared lock on roost.index (when it can be opened) keeps writers out
 *   while the records are printed.
 *
 * OUTPUT
 *   Sections "Mailbox list entry:", "roost.header:", "Index header:" and
 *   "Records:"; each record is three or four lines:
 *       000001> UID:1 INTERNALDATE:... SENTDATE:... SIZE:... HEADERSIZE:...
 *             > FLAGS:(\Seen) KEYWORDS:(...) MODSEQ:2 CHANGED:...
 *             > GUID:<40 hex> CACHE:<offset>+<length>
 *             > ENVELOPE: ... (the cached Date, Subject, From, Message-ID)
 */
#include "reconstruct.h"

#include "mailbox_private.h"

#include "buf.h"
#include "mboxlist.h"
#include "mime.h"
#include "pool.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct rx {
    FILE *out;
    const struct reconstruct_examine_options *o;
    const struct mb_header *mh;   /* NULL when unreadable */
    int dirfd;
    int cache_fd;
    struct pool *pool;
};

static void rx_time(FILE *out, const char *label, int64_t t)
{
    char text[64] = "-";
    time_t tt = (time_t)t;
    struct tm tm;

    if (t != 0 && gmtime_r(&tt, &tm) != NULL)
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(out, "%s:%lld(%s)", label, (long long)t, text);
}

/* A string from disk: TAB (the ACL's separator) shown as a space, other
 * control characters as '?'. */
static void rx_str(FILE *out, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c == '\t' ? ' ' : c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

static void rx_print_entry(struct rx *x, const struct mboxlist_entry *e, const char *path)
{
    fprintf(x->out, "Mailbox list entry:\n  Name: ");
    rx_str(x->out, e->name);
    fprintf(x->out, "\n  Partition: %s\n  Path: %s\n  Unique ID: %s\n  Type: %s\n  ACL: ",
            e->partition, path, e->uniqueid, e->type == MBTYPE_EMAIL ? "email" : "reserved");
    rx_str(x->out, e->acl);
    fprintf(x->out, "\n  Special-use: ");
    rx_str(x->out, e->specialuse);
    fprintf(x->out, "\n  ");
    rx_time(x->out, "Created", (int64_t)e->created);
    fprintf(x->out, "\n");
}

static void rx_print_header(struct rx *x, const struct mb_header *h)
{
    fprintf(x->out, "roost.header:\n  UIDVALIDITY: %u\n  Unique ID: ", h->uidvalidity);
    rx_str(x->out, h->uniqueid);
    fprintf(x->out, "\n  Name: ");
    rx_str(x->out, h->name);
    fprintf(x->out, "\n  ACL copy: ");
    rx_str(x->out, h->acl);
    fprintf(x->out, "\n  Quota root: ");
    rx_str(x->out, h->quotaroot);
    fprintf(x->out, "\n  Keywords (%u):", h->nkeywords);
    for (unsigned i = 0; i < h->nkeywords; i++) {
        fputc(' ', x->out);
        rx_str(x->out, h->keywords[i]);
    }
    fprintf(x->out, "\n");
}

static void rx_print_index_header(struct rx *x, const struct index_header *h)
{
    FILE *out = x->out;

    fprintf(out, "Index header:\n");
    fprintf(out, "  Generation: %u  Cache generation: %u  Cache used: %llu bytes\n",
            h->generation, h->cache_generation, (unsigned long long)h->cache_used);
    fprintf(out, "  UIDVALIDITY: %u  UIDNEXT: %u  Recent mark: %u\n", h->uidvalidity,
            h->uidnext, h->recent_uid);
    fprintf(out, "  HIGHESTMODSEQ: %llu  DELETEDMODSEQ: %llu\n",
            (unsigned long long)h->highestmodseq, (unsigned long long)h->deletedmodseq);
    fprintf(out, "  Records: %u  Exists: %u  Expunged: %u\n", h->num_records, h->exists,
            h->expunged);
    fprintf(out, "  Deleted: %u  Unseen: %u  Answered: %u  Flagged: %u\n", h->deleted,
            h->unseen, h->answered, h->flagged);
    fprintf(out, "  Quota usage: %llu bytes  ", (unsigned long long)h->quota_bytes);
    rx_time(out, "Oldest expunge", h->first_expunge);
    fprintf(out, "\n  Flags:%s%s\n", (h->flags & INDEX_F_DIRTY) != 0 ? " dirty" : "",
            (h->flags & INDEX_F_DELETED) != 0 ? " deleted" : "");
}

static void rx_print_flags(struct rx *x, const struct mailbox_record *r)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        { MAILBOX_FLAG_ANSWERED, "\\Answered" }, { MAILBOX_FLAG_FLAGGED, "\\Flagged" },
        { MAILBOX_FLAG_DELETED, "\\Deleted" },   { MAILBOX_FLAG_SEEN, "\\Seen" },
        { MAILBOX_FLAG_DRAFT, "\\Draft" },       { MAILBOX_FLAG_EXPUNGED, "EXPUNGED" },
    };
    bool first = true;

    fprintf(x->out, "FLAGS:(");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((r->system_flags & names[i].bit) != 0) {
            fprintf(x->out, "%s%s", first ? "" : " ", names[i].name);
            first = false;
        }
    }
    fprintf(x->out, ") KEYWORDS:(");
    first = true;
    for (unsigned i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
        if (!mailbox_keywords_has(&r->keywords, i))
            continue;
        if (!first)
            fputc(' ', x->out);
        if (x->mh != NULL && i < x->mh->nkeywords)
            rx_str(x->out, x->mh->keywords[i]);
        else
            fprintf(x->out, "#%u", i);
        first = false;
    }
    fprintf(x->out, ")");
}

static void rx_print_cache(struct rx *x, const struct mailbox_record *r)
{
    struct buf blob = BUF_INIT;
    struct mime_part *root = NULL;
    const char *header = NULL, *err = NULL;
    size_t header_len = 0;

    fprintf(x->out, "      > ");
    if (x->cache_fd < 0) {
        fprintf(x->out, "CACHE: not readable\n");
        return;
    }
    pool_clear(x->pool);
    if (mb_cache_read_fd(x->cache_fd, r, &blob, &err) < 0 ||
        mime_cache_decode(blob.data, blob.len, x->pool, &root, &header, &header_len, &err) < 0) {
        fprintf(x->out, "CACHE: damaged: %s\n", err);
        buf_free(&blob);
        return;
    }
    fprintf(x->out, "BODY:%s/%s", root->type, root->subtype);
    if (root->nchildren > 0)
        fprintf(x->out, "(%u parts)", root->nchildren);
    if (root->envelope != NULL) {
        const struct mime_envelope *e = root->envelope;
        fprintf(x->out, " DATE:\"");
        rx_str(x->out, e->date);
        fprintf(x->out, "\" SUBJECT:\"");
        rx_str(x->out, e->subject);
        fprintf(x->out, "\" FROM:");
        if (e->from != NULL && e->from->mailbox != NULL) {
            rx_str(x->out, e->from->mailbox);
            fputc('@', x->out);
            rx_str(x->out, e->from->host);
        }
        fprintf(x->out, " MESSAGE-ID:");
        rx_str(x->out, e->message_id);
    }
    fprintf(x->out, "\n");
    buf_free(&blob);
}

static void rx_print_record(struct rx *x, uint32_t msn, const struct mailbox_record *r)
{
    FILE *out = x->out;

    fprintf(out, "%06u> UID:%u ", msn, r->uid);
    rx_time(out, "INTERNALDATE", r->internaldate);
    fputc(' ', out);
    rx_time(out, "SENTDATE", r->sentdate);
    fprintf(out, " SIZE:%llu HEADERSIZE:%u\n      > ", (unsigned long long)r->size,
            r->header_size);
    rx_print_flags(x, r);
    fprintf(out, " MODSEQ:%llu ", (unsigned long long)r->modseq);
    rx_time(out, "CHANGED", r->change_time);
    fprintf(out, "\n      > GUID:");
    for (size_t i = 0; i < sizeof(r->guid); i++)
        fprintf(out, "%02x", r->guid[i]);
    fprintf(out, " CACHE:%llu+%u\n", (unsigned long long)r->cache_offset, r->cache_len);
    if (x->o->cache)
        rx_print_cache(x, r);
}

/* The records of an index file of len bytes mapped at map. */
static void rx_print_records(struct rx *x, const unsigned char *map, size_t len,
                             const struct index_header *h)
{
    uint64_t in_file = (len - INDEX_HEADER_SIZE) / INDEX_RECORD_SIZE;
    uint64_t n = h != NULL ? h->num_records : in_file;

    fprintf(x->out, "Records:\n");
    if (n > in_file) {
        fprintf(x->out, "  (the file holds only %llu of %llu records)\n",
                (unsigned long long)in_file, (unsigned long long)n);
        n = in_file;
    }
    uint32_t msn = 0, prev = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct mailbox_record r;
        const unsigned char *raw = map + INDEX_HEADER_SIZE + i * INDEX_RECORD_SIZE;
        bool ok = mb_record_decode(raw, &r) == 0;
        if (ok && (r.system_flags & MAILBOX_FLAG_EXPUNGED) == 0)
            msn++;
        if (x->o->uid != 0 && (!ok || r.uid != x->o->uid))
            continue;
        if (x->o->msn != 0 && (!ok || msn != x->o->msn || (r.system_flags &
                                                             MAILBOX_FLAG_EXPUNGED) != 0))
            continue;
        if (!ok) {
            fprintf(x->out, "record %llu: damaged (checksum or field check failed; UID field "
                    "%u)\n", (unsigned long long)i, mb_get32(raw));
            continue;
        }
        if (r.uid <= prev)
            fprintf(x->out, "record %llu: UID %u out of order\n", (unsigned long long)i, r.uid);
        prev = r.uid;
        rx_print_record(x, (r.system_flags & MAILBOX_FLAG_EXPUNGED) != 0 ? 0 : msn, &r);
    }
}

static void rx_examine_index(struct rx *x, int fd)
{
    struct stat st;
    struct index_header h;
    const char *err = NULL;
    bool have_h = false;

    if (fstat(fd, &st) < 0 || st.st_size < INDEX_HEADER_SIZE) {
        fprintf(x->out, "Index header: roost.index is truncated (%lld bytes)\n",
                (long long)st.st_size);
        return;
    }
    size_t len = (size_t)st.st_size;
    unsigned char *map = NULL;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        fprintf(x->out, "Index header: cannot map roost.index: %s\n", strerror(errno));
        return;
    }
    map = p;
    if (mb_index_header_decode(map, &h, &err) == 0) {
        have_h = true;
        rx_print_index_header(x, &h);
    } else {
        fprintf(x->out, "Index header: damaged: %s\n", err);
    }
    if (have_h) {
        char name[32];
        mb_cache_name(h.cache_generation, name);
        x->cache_fd = openat(x->dirfd, name, O_RDONLY | O_CLOEXEC);
    }
    rx_print_records(x, map, len, have_h ? &h : NULL);
    munmap(map, len);
}

int reconstruct_examine(struct store *store, const char *name,
                        const struct reconstruct_examine_options *o, FILE *out,
                        const char **error_r)
{
    struct pool *pool = pool_create("mbexamine", 4096);
    struct mboxlist_entry entry;
    struct buf path = BUF_INIT;
    struct mb_header mh;
    const char *err = NULL;
    struct rx x = { out, o, NULL, -1, -1, pool_create("mbexamine-cache", 16384) };
    int r;

    memset(&mh, 0, sizeof(mh));
    r = mboxlist_lookup(store, NULL, name, pool, &entry, &err);
    if (r <= 0) {
        r = r == 0 ? mb_fail(error_r, STORE_ERR_NOTFOUND, "%s: no such mailbox", name)
                   : mb_fail(error_r, STORE_ERR_INTERNAL, "%s: mailbox list: %s", name, err);
        goto out;
    }
    if ((r = mailbox_dir_path(store, entry.name, entry.partition, entry.uniqueid, &path,
                              error_r)) < 0)
        goto out;
    rx_print_entry(&x, &entry, buf_cstr(&path));
    x.dirfd = open(buf_cstr(&path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (x.dirfd < 0) {
        r = mb_fail_errno(error_r, errno == ENOENT ? STORE_ERR_NOTFOUND : STORE_ERR_INTERNAL,
                          "%s: open %s", name, buf_cstr(&path));
        goto out;
    }
    int fd = openat(x.dirfd, MB_INDEX_FILE, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct flock fl;
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_RDLCK;
        fl.l_whence = SEEK_SET;
        while (fcntl(fd, F_OFD_SETLKW, &fl) < 0 && errno == EINTR)
            ;
    }
    if (mb_header_read(x.dirfd, &mh, NULL, &err) == 0) {
        x.mh = &mh;
        rx_print_header(&x, &mh);
    } else {
        fprintf(out, "roost.header: damaged: %s\n", err);
    }
    if (fd >= 0) {
        rx_examine_index(&x, fd);
        close(fd);   /* releases the lock */
    } else {
        fprintf(out, "Index header: cannot open roost.index: %s\n", strerror(errno));
    }
    r = 0;
out:
    if (x.cache_fd >= 0)
        close(x.cache_fd);
    if (x.dirfd >= 0)
        close(x.dirfd);
    mb_header_free(&mh);
    buf_free(&path);
    pool_destroy(&x.pool);
    pool_destroy(&pool);
    return r;
}
