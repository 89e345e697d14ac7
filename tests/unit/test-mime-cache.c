/* test-mime-cache.c - mime_cache_encode/decode: round trips of every test
 * message, and hostile blobs (truncated, bit-flipped, crafted with a valid
 * checksum) that must give -1 without crashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "charset.h"
#include "mime.h"
#include "pool.h"

#define DATA_DIR "tests/data/mime/"

static struct pool *pool;

static int setup(void **state)
{
    (void)state;
    pool = pool_create("test-mime-cache", 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pool_destroy(&pool);
    charset_deinit();
    return 0;
}

static bool read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_append(out, tmp, n);
    fclose(f);
    return true;
}

/* Encode, decode, compare; returns the blob in out. */
static void round_trip(const char *data, size_t len, struct buf *out)
{
    struct mime_part *root = mime_parse(data, len, pool), *back = NULL;
    buf_reset(out);
    mime_cache_encode(root, data, len, out);
    const char *header, *error = NULL;
    size_t header_len;
    int ret = mime_cache_decode(out->data, out->len, pool, &back, &header, &header_len, &error);
    if (ret != 0)
        print_error("decode: %s\n", error);
    assert_int_equal(ret, 0);
    assert_true(mime_part_equal(root, back));
    assert_int_equal(header_len, root->header_size);
    assert_memory_equal(header, data, header_len);
    /* what the cached header answers is what the message answers */
    struct buf v1 = BUF_INIT, v2 = BUF_INIT;
    assert_int_equal(mime_header_get(header, header_len, "subject", &v1),
                     mime_header_get(data, len, "subject", &v2));
    assert_int_equal(v1.len, v2.len);
    if (v1.len > 0)
        assert_memory_equal(v1.data, v2.data, v1.len);
    buf_free(&v1);
    buf_free(&v2);
    /* encoding is deterministic: the decoded tree gives the same blob */
    struct buf again = BUF_INIT;
    mime_cache_encode(back, data, len, &again);
    assert_int_equal(again.len, out->len);
    assert_memory_equal(again.data, out->data, out->len);
    buf_free(&again);
}

static const char *const messages[] = {
    "simple", "alternative-in-mixed", "rfc822-attachment", "digest", "nested3",
    "rfc2231", "encoded-subject", "missing-headers", "bare-lf", "malformed-boundary",
    "no-blank-line", "preamble-epilogue", "no-boundary-param", "empty", "header-only",
    "nul-8bit", "obsolete", "continuation-first", "bad-content-type", "rfc822-base64",
};

static void test_round_trip_files(void **state)
{
    (void)state;
    struct buf blob = BUF_INIT;
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        char path[256];
        struct buf msg = BUF_INIT;
        snprintf(path, sizeof(path), DATA_DIR "%s.eml", messages[i]);
        assert_true(read_file(path, &msg));
        round_trip(msg.data != NULL ? msg.data : "", msg.len, &blob);
        buf_free(&msg);
    }
    buf_free(&blob);
}

static void test_round_trip_limits(void **state)
{
    (void)state;
    struct buf m = BUF_INIT, blob = BUF_INIT;
    /* deepest tree */
    for (int i = 0; i < 100; i++)
        buf_printf(&m, "Content-Type: multipart/mixed; boundary=\"b%03d\"\r\n\r\n--b%03d\r\n", i, i);
    round_trip(m.data, m.len, &blob);
    buf_reset(&m);
    for (int i = 0; i < 100; i++)
        buf_printf(&m, "Subject: %d\r\nContent-Type: message/rfc822\r\n\r\n", i);
    round_trip(m.data, m.len, &blob);
    /* most parts */
    buf_reset(&m);
    buf_append_str(&m, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < MIME_MAX_PARTS + 10; i++)
        buf_append_str(&m, "--b\r\n\r\n");
    round_trip(m.data, m.len, &blob);
    buf_free(&m);
    buf_free(&blob);
}

static void test_version_and_magic(void **state)
{
    (void)state;
    struct buf blob = BUF_INIT;
    const char *msg = "Subject: x\r\n\r\nbody\r\n";
    round_trip(msg, strlen(msg), &blob);
    struct mime_part *root;
    const char *header, *error;
    size_t hlen;
    assert_memory_equal(blob.data, "RMIM", 4);
    assert_int_equal((unsigned char)blob.data[4], MIME_CACHE_VERSION);
    blob.data[4] = MIME_CACHE_VERSION + 1;
    assert_int_equal(mime_cache_decode(blob.data, blob.len, pool, &root, &header, &hlen, &error),
                     -1);
    assert_non_null(strstr(error, "version"));
    blob.data[4] = MIME_CACHE_VERSION;
    blob.data[0] = 'X';
    assert_int_equal(mime_cache_decode(blob.data, blob.len, pool, &root, &header, &hlen, &error),
                     -1);
    assert_int_equal(mime_cache_decode("", 0, pool, &root, &header, &hlen, &error), -1);
    buf_free(&blob);
}

/* A decoded tree must be walkable without surprises. */
static void walk(const struct mime_part *p, unsigned depth)
{
    assert_true(depth < MIME_MAX_DEPTH);
    assert_non_null(p->type);
    assert_non_null(p->subtype);
    assert_non_null(p->encoding);
    assert_true(p->header_offset + p->header_size == p->body_offset);
    if (p->message != NULL)
        walk(p->message, depth + 1);
    unsigned n = 0;
    for (const struct mime_part *c = p->children; c != NULL; c = c->next, n++)
        walk(c, depth + 1);
    assert_int_equal(n, p->nchildren);
}

static void test_truncated_and_flipped(void **state)
{
    (void)state;
    struct buf msg = BUF_INIT, blob = BUF_INIT;
    assert_true(read_file(DATA_DIR "rfc822-attachment.eml", &msg));
    round_trip(msg.data, msg.len, &blob);
    struct mime_part *root;
    const char *header, *error;
    size_t hlen;

    for (size_t n = 0; n < blob.len; n++) {
        char *copy = malloc(n + 1);   /* exact size: ASan sees overreads */
        memcpy(copy, blob.data, n);
        assert_int_equal(mime_cache_decode(copy, n, pool, &root, &header, &hlen, &error), -1);
        free(copy);
    }
    /* every single-bit flip is caught (by the checksum at least) */
    for (size_t i = 0; i < blob.len * 8; i++) {
        blob.data[i / 8] ^= (char)(1 << (i % 8));
        assert_int_equal(
            mime_cache_decode(blob.data, blob.len, pool, &root, &header, &hlen, &error), -1);
        blob.data[i / 8] ^= (char)(1 << (i % 8));
    }
    /* flips behind a recomputed checksum reach the structure checks: any
     * result is fine, but no crash, and a success must be a sane tree */
    for (size_t i = 14 * 8; i < blob.len * 8; i++) {
        blob.data[i / 8] ^= (char)(1 << (i % 8));
        uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)blob.data + 14, (uInt)(blob.len - 14));
        char saved[4];
        memcpy(saved, blob.data + 10, 4);
        for (int k = 0; k < 4; k++)
            blob.data[10 + k] = (char)(crc >> (8 * k));
        if (mime_cache_decode(blob.data, blob.len, pool, &root, &header, &hlen, &error) == 0)
            walk(root, 0);
        memcpy(blob.data + 10, saved, 4);
        blob.data[i / 8] ^= (char)(1 << (i % 8));
    }
    buf_free(&msg);
    buf_free(&blob);
}

/* ---- crafted blobs ---- */

static void put_varint(struct buf *b, uint64_t v)
{
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            c |= 0x80;
        buf_append_char(b, (char)c);
    } while (v != 0);
}

static void put_str(struct buf *b, const char *s)
{
    if (s == NULL) {
        put_varint(b, 0);
        return;
    }
    put_varint(b, strlen(s) + 1);
    buf_append_str(b, s);
}

/* A minimal part record: flags, offsets, strings, no params/children. */
static void put_part(struct buf *b, unsigned flags, uint64_t ho, uint64_t hs, uint64_t bo,
                     uint64_t bs, uint64_t nchildren)
{
    put_varint(b, flags);
    put_varint(b, ho);
    put_varint(b, hs);
    put_varint(b, bo);
    put_varint(b, bs);
    put_varint(b, 0);
    put_str(b, "text");
    put_str(b, "plain");
    put_str(b, "7bit");
    for (int i = 0; i < 6; i++)
        put_str(b, NULL);
    put_varint(b, 0);
    put_varint(b, 0);
    put_varint(b, nchildren);
}

static int decode_payload(const struct buf *payload, const char **error_r)
{
    struct buf blob = BUF_INIT;
    buf_append(&blob, "RMIM", 4);
    buf_append_char(&blob, MIME_CACHE_VERSION);
    buf_append_char(&blob, 0);
    uint32_t n = (uint32_t)payload->len;
    uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)payload->data, (uInt)payload->len);
    for (int k = 0; k < 4; k++)
        buf_append_char(&blob, (char)(n >> (8 * k)));
    for (int k = 0; k < 4; k++)
        buf_append_char(&blob, (char)(crc >> (8 * k)));
    buf_append(&blob, payload->data, payload->len);
    struct mime_part *root;
    const char *header;
    size_t hlen;
    int ret = mime_cache_decode(blob.data, blob.len, pool, &root, &header, &hlen, error_r);
    if (ret == 0)
        walk(root, 0);
    buf_free(&blob);
    return ret;
}

static void expect(const struct buf *payload, int want, const char *error_part)
{
    const char *error = NULL;
    int ret = decode_payload(payload, &error);
    if (ret != want || (error_part != NULL && (error == NULL || strstr(error, error_part) == NULL))) {
        print_error("decode gave %d (%s), want %d (%s)\n", ret, error != NULL ? error : "-",
                    want, error_part != NULL ? error_part : "-");
        fail();
    }
}

static void test_crafted(void **state)
{
    (void)state;
    struct buf p = BUF_INIT;

    /* the smallest valid blob: empty header, one part */
    put_varint(&p, 0);
    put_varint(&p, 1);
    put_part(&p, 0, 0, 0, 0, 0, 0);
    expect(&p, 0, NULL);

    /* trailing bytes */
    buf_append_char(&p, 0);
    expect(&p, -1, "trailing");

    /* header block longer than the payload, part count 0 or too big */
    buf_reset(&p);
    put_varint(&p, 1000);
    expect(&p, -1, "truncated");
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 0);
    expect(&p, -1, "part count");
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, MIME_MAX_PARTS + 1);
    expect(&p, -1, "part count");

    /* root header size not matching the header block */
    buf_reset(&p);
    put_varint(&p, 2);
    buf_append_str(&p, "\r\n");
    put_varint(&p, 1);
    put_part(&p, 0, 0, 0, 0, 0, 0);
    expect(&p, -1, "header block");

    /* offsets that do not add up, or overflow */
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 1);
    put_part(&p, 0, 0, 0, 5, 0, 0);
    expect(&p, -1, "offsets");
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 1);
    put_part(&p, 0, 0, 1, 1, UINT64_MAX, 0);
    expect(&p, -1, "offsets");

    /* a varint of 11 bytes, and one overflowing 64 bits */
    buf_reset(&p);
    put_varint(&p, 0);
    buf_append(&p, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    expect(&p, -1, "overflow");
    buf_reset(&p);
    put_varint(&p, 0);
    buf_append(&p, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
    expect(&p, -1, "overflow");

    /* a string longer than what is left, a NUL in a string */
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 1);
    for (int i = 0; i < 6; i++)
        put_varint(&p, 0);
    put_varint(&p, 1u << 30);
    expect(&p, -1, "string");
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 1);
    for (int i = 0; i < 6; i++)
        put_varint(&p, 0);
    put_varint(&p, 3);
    buf_append(&p, "a\0", 2);
    expect(&p, -1, "NUL");

    /* unknown flags, shared envelope without a message */
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 1);
    put_part(&p, 8, 0, 0, 0, 0, 0);
    expect(&p, -1, "flags");
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 1);
    put_part(&p, 2, 0, 0, 0, 0, 0);
    expect(&p, -1, "envelope");

    /* more children than parts, a child outside its parent, overlapping
     * children */
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 2);
    put_part(&p, 0, 0, 0, 0, 10, 5);
    expect(&p, -1, "child count");
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 2);
    put_part(&p, 0, 0, 0, 0, 10, 1);
    put_part(&p, 0, 5, 0, 5, 6, 0);
    expect(&p, -1, "outside");
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 3);
    put_part(&p, 0, 0, 0, 0, 10, 2);
    put_part(&p, 0, 2, 0, 2, 4, 0);
    put_part(&p, 0, 5, 0, 5, 4, 0);
    expect(&p, -1, "outside");
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 3);
    put_part(&p, 0, 0, 0, 0, 10, 2);
    put_part(&p, 0, 2, 0, 2, 4, 0);
    put_part(&p, 0, 6, 0, 6, 4, 0);
    expect(&p, 0, NULL);

    /* too deep: a chain of MIME_MAX_DEPTH + 1 encapsulated messages */
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, MIME_MAX_DEPTH + 1);
    for (int i = 0; i <= MIME_MAX_DEPTH; i++)
        put_part(&p, i < MIME_MAX_DEPTH ? 4 : 0, 0, 0, 0, 0, 0);
    expect(&p, -1, "deep");
    /* exactly MIME_MAX_DEPTH levels is fine */
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, MIME_MAX_DEPTH);
    for (int i = 0; i < MIME_MAX_DEPTH; i++)
        put_part(&p, i < MIME_MAX_DEPTH - 1 ? 4 : 0, 0, 0, 0, 0, 0);
    expect(&p, 0, NULL);

    /* a huge parameter count with nothing behind it */
    buf_reset(&p);
    put_varint(&p, 0);
    put_varint(&p, 1);
    put_varint(&p, 0);
    for (int i = 0; i < 5; i++)
        put_varint(&p, 0);
    put_str(&p, "text");
    put_str(&p, "plain");
    put_str(&p, "7bit");
    for (int i = 0; i < 6; i++)
        put_str(&p, NULL);
    put_varint(&p, UINT64_MAX);
    expect(&p, -1, "parameter count");

    /* random payloads behind a valid checksum never crash */
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        buf_reset(&p);
        size_t n = (size_t)(round % 200);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* small numbers are more interesting than random bytes */
            unsigned char c = (unsigned char)(seed >> 16);
            buf_append_char(&p, (char)(c < 0xc0 ? c % 8 : c));
        }
        const char *error;
        (void)decode_payload(&p, &error);
        pool_clear(pool);
    }
    buf_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_files),
        cmocka_unit_test(test_round_trip_limits),
        cmocka_unit_test(test_version_and_magic),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_crafted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
