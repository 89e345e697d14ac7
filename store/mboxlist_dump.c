/* mboxlist_dump.c - the mailbox list as text lines, and loading them back.
 *
 * DESCRIPTION
 *   The line format is in mboxlist_dump.h.  Dumping walks mailboxes.db in
 *   name order (without a transaction: a dump taken while mailboxes are
 *   created shows each entry as it was when the walk passed it).  Loading
 *   reads a line at a time (bounded: a line longer than the largest entry
 *   can be is refused), parses it, and puts the entries in batches of
 *   MBOXLIST_DUMP_BATCH per transaction, so a dump of a million mailboxes
 *   neither holds one huge transaction nor commits a million times.
 *
 * DIAGNOSTICS
 *   Errors name the line number of the dump.
 */
#include "mboxlist_dump.h"

#include "buf.h"
#include "kv.h"
#include "mboxlist.h"
#include "pool.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MBOXLIST_DUMP_FIELDS 7
#define MBOXLIST_DUMP_BATCH 1000
/* longer than any valid entry: name, partition, ACL and special-use at
 * their limits, every byte escaped */
#define MBOXLIST_DUMP_LINE_MAX (4 * (490 + 64 + 64 + 65536 + 1024) + 256)

static void mboxlist_dump_escape(struct buf *b, const char *s, bool keep_tab)
{
    static const char hex[] = "0123456789abcdef";

    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\')
            buf_append_str(b, "\\\\");
        else if (c == '\t' && keep_tab)
            buf_append_char(b, '\t');
        else if (c == '\t')
            buf_append_str(b, "\\t");
        else if (c == '\n')
            buf_append_str(b, "\\n");
        else if (c == '\r')
            buf_append_str(b, "\\r");
        else if (c < 0x20 || c == 0x7f) {
            char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
            buf_append(b, esc, 4);
        } else
            buf_append_char(b, (char)c);
    }
}

void mboxlist_dump_format(const struct mboxlist_entry *e, struct buf *line_r)
{
    mboxlist_dump_escape(line_r, e->name, false);
    buf_printf(line_r, "\t%u\t", e->type);
    mboxlist_dump_escape(line_r, e->partition, false);
    buf_append_char(line_r, '\t');
    mboxlist_dump_escape(line_r, e->uniqueid, false);
    buf_printf(line_r, "\t%llu\t", (unsigned long long)e->created);
    mboxlist_dump_escape(line_r, e->specialuse, false);
    buf_append_char(line_r, '\t');
    mboxlist_dump_escape(line_r, e->acl, true);
    buf_append_char(line_r, '\n');
}

static int mboxlist_dump_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescape s[0..len) into pool; NULL on a bad escape or a NUL. */
static const char *mboxlist_dump_unescape(const char *s, size_t len, struct pool *pool)
{
    struct buf b = BUF_INIT;
    const char *ret = NULL;

    buf_reserve(&b, len);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\0')
            goto out;
        if (c != '\\') {
            buf_append_char(&b, c);
            continue;
        }
        if (++i >= len)
            goto out;
        switch (s[i]) {
        case '\\': buf_append_char(&b, '\\'); break;
        case 't': buf_append_char(&b, '\t'); break;
        case 'n': buf_append_char(&b, '\n'); break;
        case 'r': buf_append_char(&b, '\r'); break;
        case 'x': {
            int hi = i + 2 < len ? mboxlist_dump_hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? mboxlist_dump_hexval(s[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                goto out;
            buf_append_char(&b, (char)(hi << 4 | lo));
            i += 2;
            break;
        }
        default:
            goto out;
        }
    }
    ret = pool_strndup(pool, b.data != NULL ? b.data : "", b.len);
out:
    buf_free(&b);
    return ret;
}

int mboxlist_dump_parse(const char *line, size_t len, struct pool *pool,
                        struct mboxlist_entry *e_r, const char **error_r)
{
    const char *field[MBOXLIST_DUMP_FIELDS];
    size_t flen[MBOXLIST_DUMP_FIELDS];
    size_t start = 0;
    uint64_t v;

    memset(e_r, 0, sizeof(*e_r));
    for (unsigned f = 0; f < MBOXLIST_DUMP_FIELDS; f++) {
        const char *tab = f + 1 < MBOXLIST_DUMP_FIELDS
                              ? memchr(line + start, '\t', len - start)
                              : NULL;
        size_t end = tab != NULL ? (size_t)(tab - line) : len;
        if (f + 1 < MBOXLIST_DUMP_FIELDS && tab == NULL) {
            *error_r = "too few fields (7 TAB-separated fields expected)";
            return -1;
        }
        field[f] = line + start;
        flen[f] = end - start;
        start = end + 1;
    }
    const char *text[MBOXLIST_DUMP_FIELDS];
    for (unsigned f = 0; f < MBOXLIST_DUMP_FIELDS; f++) {
        text[f] = mboxlist_dump_unescape(field[f], flen[f], pool);
        if (text[f] == NULL) {
            *error_r = "bad backslash escape or NUL byte";
            return -1;
        }
    }
    if (str_to_u64(text[1], 1, &v) < 0) {
        *error_r = "bad type (0 or 1 expected)";
        return -1;
    }
    e_r->type = (uint32_t)v;
    if (str_to_u64(text[4], UINT64_MAX, &v) < 0) {
        *error_r = "bad creation time";
        return -1;
    }
    e_r->created = v;
    e_r->name = text[0];
    e_r->partition = text[2];
    e_r->uniqueid = text[3];
    e_r->specialuse = text[5];
    e_r->acl = text[6];
    return 0;
}

struct mboxlist_dump_ctx {
    FILE *out;
    const char *partition;
    struct buf line;
    uint64_t count;
    bool write_failed;
};

static int mboxlist_dump_cb(const struct mboxlist_entry *e, void *vctx)
{
    struct mboxlist_dump_ctx *ctx = vctx;

    if (ctx->partition != NULL && strcmp(ctx->partition, e->partition) != 0)
        return 0;
    buf_reset(&ctx->line);
    mboxlist_dump_format(e, &ctx->line);
    if (fwrite(ctx->line.data, 1, ctx->line.len, ctx->out) != ctx->line.len) {
        ctx->write_failed = true;
        return -1;
    }
    ctx->count++;
    return 0;
}

int mboxlist_dump(struct store *store, const char *partition, FILE *out, uint64_t *count_r,
                  const char **error_r)
{
    struct mboxlist_dump_ctx ctx = { out, partition, BUF_INIT, 0, false };
    const char *err = NULL;
    int r = mboxlist_foreach(store, NULL, NULL, mboxlist_dump_cb, &ctx, &err);

    if (r == 0 && fflush(out) != 0)
        ctx.write_failed = true;
    if (ctx.write_failed)
        *error_r = store_error_fmt("write: %s", strerror(errno));
    else if (r < 0)
        *error_r = store_error_fmt("mailbox list: %s", err != NULL ? err : "walk failed");
    buf_free(&ctx.line);
    if (count_r != NULL)
        *count_r = ctx.count;
    return ctx.write_failed || r < 0 ? -1 : 0;
}

/* ---- load ---- */

struct mboxlist_load_batch {
    struct store *store;
    struct mboxlist_entry entries[MBOXLIST_DUMP_BATCH];
    unsigned n;
    uint64_t first_line;
    uint64_t bad_line;        /* line of the entry mboxlist_put refused */
};

static int mboxlist_load_txn(struct kv_txn *txn, void *vctx, const char **error_r)
{
    struct mboxlist_load_batch *b = vctx;

    for (unsigned i = 0; i < b->n; i++) {
        int r = mboxlist_put(b->store, txn, &b->entries[i], error_r);
        if (r < 0) {
            if (r != KV_DEADLOCK)
                b->bad_line = b->first_line + i;
            return r;
        }
    }
    return 0;
}

static int mboxlist_load_flush(struct mboxlist_load_batch *b, uint64_t *count,
                               const char **error_r)
{
    const char *err = NULL;

    if (b->n == 0)
        return 0;
    b->bad_line = 0;
    if (kv_transaction(store_kv(b->store), mboxlist_load_txn, b, &err) < 0) {
        if (b->bad_line != 0)
            *error_r = store_error_fmt("line %llu: %s", (unsigned long long)b->bad_line,
                                       err != NULL ? err : "refused");
        else
            *error_r = store_error_fmt("mailbox list: %s", err != NULL ? err : "failed");
        return -1;
    }
    *count += b->n;
    b->n = 0;
    return 0;
}

/* Read one line into line_r (without "\n"); 1 read, 0 end, -1 error. */
static int mboxlist_load_line(FILE *in, struct buf *line_r, const char **error_r)
{
    int c;

    buf_reset(line_r);
    while ((c = getc(in)) != EOF) {
        if (c == '\n')
            return 1;
        if (line_r->len >= MBOXLIST_DUMP_LINE_MAX) {
            *error_r = "line too long";
            return -1;
        }
        buf_append_char(line_r, (char)c);
    }
    if (ferror(in)) {
        *error_r = store_error_fmt("read: %s", strerror(errno));
        return -1;
    }
    if (line_r->len > 0) {
        *error_r = "the last line has no newline (truncated dump?)";
        return -1;
    }
    return 0;
}

int mboxlist_dump_load(struct store *store, FILE *in, uint64_t *count_r, const char **error_r)
{
    /* a thousand entries: not on the stack */
    struct mboxlist_load_batch *batch = xcalloc(1, sizeof(*batch));
    struct pool *pool = pool_create("mboxlist_load", 65536);
    struct buf line = BUF_INIT;
    uint64_t lineno = 0, count = 0;
    const char *err = NULL;
    int r;

    batch->store = store;
    while ((r = mboxlist_load_line(in, &line, &err)) > 0) {
        lineno++;
        if (batch->n == 0)
            batch->first_line = lineno;
        if (mboxlist_dump_parse(buf_cstr(&line), line.len, pool, &batch->entries[batch->n],
                                &err) < 0) {
            *error_r = store_error_fmt("line %llu: %s", (unsigned long long)lineno, err);
            break;
        }
        if (++batch->n == MBOXLIST_DUMP_BATCH) {
            if (mboxlist_load_flush(batch, &count, error_r) < 0)
                break;
            pool_clear(pool);
        }
    }
    if (r < 0)
        *error_r = store_error_fmt("line %llu: %s", (unsigned long long)lineno + 1, err);
    else if (r == 0)
        r = mboxlist_load_flush(batch, &count, error_r);
    else
        r = -1;
    buf_free(&line);
    pool_destroy(&pool);
    free(batch);
    if (count_r != NULL)
        *count_r = count;
    return r < 0 ? -1 : 0;
}
