/* fuzz-mime.c - libFuzzer target for lib/mime.h.
 *
 * The input is parsed as a message; the tree is checked against
 * invariants that must hold for any input (offsets inside the message,
 * children inside their parents and in order, body_lines equal to the LF
 * count of the body, limits), walked with mime_part_find(), its header
 * read with mime_header_get()/foreach (the cut header block must answer
 * like the whole message), encoded to the cache form and decoded back
 * (the trees must be equal).  The raw input is also fed to
 * mime_cache_decode(), mime_address_parse() and mime_date_parse().
 * Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mime.h"
#include "pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                \
    do {                                                                                        \
        if (!(x))                                                                               \
            abort();                                                                            \
    } while (0)

struct walk_ctx {
    const char *data;
    size_t size;
    unsigned nparts;
};

static uint64_t count_lf(const char *p, uint64_t n)
{
    uint64_t lf = 0;
    for (uint64_t i = 0; i < n; i++)
        lf += p[i] == '\n';
    return lf;
}

static void walk(struct walk_ctx *ctx, const struct mime_part *p, unsigned depth,
                 bool is_message)
{
    /* messages have their own envelope; other parts only share the one
     * of the message they encapsulate */
    if (is_message)
        CHECK(p->envelope != NULL);
    else
        CHECK(p->message != NULL ? p->envelope == p->message->envelope : p->envelope == NULL);
    CHECK(depth < MIME_MAX_DEPTH);
    CHECK(++ctx->nparts <= MIME_MAX_PARTS);
    CHECK(p->type != NULL && p->subtype != NULL && p->encoding != NULL);
    CHECK(p->header_offset + p->header_size == p->body_offset);
    CHECK(p->body_offset + p->body_size <= ctx->size);
    CHECK(p->body_lines == count_lf(ctx->data + p->body_offset, p->body_size));
    bool multipart = strcmp(p->type, "multipart") == 0;
    bool rfc822 = strcmp(p->type, "message") == 0 && strcmp(p->subtype, "rfc822") == 0;
    CHECK(multipart == (p->children != NULL));
    CHECK(rfc822 == (p->message != NULL));
    if (strcmp(p->type, "text") == 0)
        CHECK(mime_param_get(p->type_params, "charset") != NULL);
    if (p->message != NULL) {
        CHECK(p->message->header_offset == p->body_offset);
        CHECK(p->message->body_offset + p->message->body_size <= p->body_offset + p->body_size);
        walk(ctx, p->message, depth + 1, true);
    }
    uint64_t from = p->body_offset;
    unsigned n = 0;
    for (const struct mime_part *c = p->children; c != NULL; c = c->next, n++) {
        CHECK(c->header_offset >= from);
        from = c->body_offset + c->body_size;
        CHECK(from <= p->body_offset + p->body_size);
        walk(ctx, c, depth + 1, false);
    }
    CHECK(n == p->nchildren);
}

static int count_cb(const char *name, size_t namelen, const char *field, size_t fieldlen,
                    void *context)
{
    (void)name;
    unsigned *n = context;
    CHECK(namelen > 0 && namelen <= fieldlen && name == field);
    return ++*n > 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    struct pool *pool = pool_create("fuzz-mime", 0);

    struct mime_part *root = mime_parse(msg, size, pool);
    struct walk_ctx ctx = { msg, size, 0 };
    CHECK(root->header_offset == 0);
    CHECK(root->body_offset + root->body_size == size);
    walk(&ctx, root, 0, true);

    static const unsigned paths[][4] = {
        { 1 }, { 2 }, { 1, 1 }, { 1, 2 }, { 2, 1 }, { 1, 1, 1 }, { 3, 2, 1 }, { 1, 1, 1, 1 },
    };
    static const unsigned depths[] = { 1, 1, 2, 2, 2, 3, 3, 4 };
    for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        const struct mime_part *p = mime_part_find(root, paths[i], depths[i]);
        if (p != NULL)
            CHECK(p->body_offset + p->body_size <= size);
    }

    /* header access: the cut block answers like the whole message */
    static const char *const names[] = { "subject", "content-type", "from", "x" };
    struct buf v1 = BUF_INIT, v2 = BUF_INIT;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        bool f1 = mime_header_get(msg, size, names[i], &v1);
        bool f2 = mime_header_get(msg, (size_t)root->header_size, names[i], &v2);
        CHECK(f1 == f2);
        CHECK(v1.len == v2.len && (v1.len == 0 || memcmp(v1.data, v2.data, v1.len) == 0));
    }
    unsigned nfields = 0;
    mime_header_foreach(msg, (size_t)root->header_size, count_cb, &nfields);

    /* cache round trip */
    struct buf blob = BUF_INIT;
    mime_cache_encode(root, msg, size, &blob);
    struct mime_part *back = NULL;
    const char *header, *error;
    size_t hlen;
    CHECK(mime_cache_decode(blob.data, blob.len, pool, &back, &header, &hlen, &error) == 0);
    CHECK(mime_part_equal(root, back));
    CHECK(hlen == root->header_size && memcmp(header, msg, hlen) == 0);

    /* the raw input as a cache blob, an address list, a date */
    if (mime_cache_decode(msg, size, pool, &back, &header, &hlen, &error) == 0)
        CHECK(back->type != NULL && hlen == back->header_size && header >= msg &&
              header + hlen <= msg + size);
    char *s = malloc(size + 1);
    memcpy(s, msg, size);
    s[size] = '\0';
    for (const struct mime_address *a = mime_address_parse(s, pool); a != NULL; a = a->next)
        CHECK(a->mailbox != NULL || a->host == NULL);
    time_t t;
    int tz;
    if (mime_date_parse(s, &t, &tz) == 0)
        CHECK(tz > -6000 && tz < 6000);
    free(s);

    buf_free(&v1);
    buf_free(&v2);
    buf_free(&blob);
    pool_destroy(&pool);
    return 0;
}
