/* test-codec.c - base64, quoted-printable, Q and hex (lib/codec.h).
 *
 * Vectors from RFC 4648 section 10 and RFC 2045; the streaming decoders are
 * checked against their one-shot forms for every chunk size and for every
 * split point of inputs built around the awkward cases ("=\r\n", "=4",
 * trailing whitespace, padding). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "codec.h"

static void assert_buf(const struct buf *b, const char *expect, size_t len)
{
    assert_int_equal(b->len, len);
    if (len > 0)
        assert_memory_equal(b->data, expect, len);
    assert_true(b->data == NULL || b->data[b->len] == '\0');
}

#define ASSERT_BUF_STR(b, s) assert_buf((b), (s), sizeof(s) - 1)

static const struct {
    const char *plain;
    const char *b64;
} rfc4648[] = {
    { "", "" },         { "f", "Zg==" },         { "fo", "Zm8=" },
    { "foo", "Zm9v" },  { "foob", "Zm9vYg==" },  { "fooba", "Zm9vYmE=" },
    { "foobar", "Zm9vYmFy" },
};

static void test_base64_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        struct buf b = BUF_INIT;

        codec_base64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain), &b);
        assert_buf(&b, rfc4648[i].b64, strlen(rfc4648[i].b64));
        buf_free(&b);
    }

    /* binary, and longer than the staging area */
    unsigned char bin[1000];
    struct buf enc = BUF_INIT, dec = BUF_INIT;
    const char *error;

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i * 7 + 3);
    codec_base64_encode(bin, sizeof(bin), &enc);
    assert_int_equal(enc.len, 1336);
    assert_int_equal(codec_base64_decode_strict(enc.data, enc.len, &dec, &error), 0);
    assert_buf(&dec, (const char *)bin, sizeof(bin));
    buf_free(&enc);
    buf_free(&dec);
}

static void test_base64_encode_lines(void **state)
{
    struct buf b = BUF_INIT;
    unsigned char bin[100];

    (void)state;
    memset(bin, 0xff, sizeof(bin));
    codec_base64_encode_lines(bin, sizeof(bin), 76, &b);
    /* 57 bytes -> 76 chars, then 43 bytes -> 60 chars */
    assert_int_equal(b.len, 76 + 2 + 60 + 2);
    assert_memory_equal(b.data + 76, "\r\n", 2);
    assert_memory_equal(b.data + 76 + 2 + 60, "\r\n", 2);
    assert_null(memchr(b.data, '\r', 76));
    buf_reset(&b);
    codec_base64_encode_lines("", 0, 76, &b);
    assert_int_equal(b.len, 0);
    codec_base64_encode_lines("foobar", 6, 1, &b); /* at least 4 per line */
    ASSERT_BUF_STR(&b, "Zm9v\r\nYmFy\r\n");
    buf_free(&b);
}

static void test_base64_strict(void **state)
{
    static const char *const bad[] = {
        "Zg=",       /* length */
        "Zg",        /* no padding */
        "Z===",      /* too much padding */
        "Zm9v\r\n",  /* whitespace */
        "Zm9v Zm9v", /* whitespace */
        "Zh==",      /* non-zero padding bits */
        "Zm9=",      /* non-zero padding bits */
        "Zg==Zg==",  /* padding in the middle */
        "Zm=v",      /* padding in the middle */
        "Zm9!",      /* bad character */
        "Zm9v\x80\x80\x80\x80",
        "====",
    };
    const char *error;
    struct buf b = BUF_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        buf_reset(&b);
        assert_int_equal(codec_base64_decode_strict(rfc4648[i].b64,
                                                    strlen(rfc4648[i].b64),
                                                    &b, &error), 0);
        assert_buf(&b, rfc4648[i].plain, strlen(rfc4648[i].plain));
    }
    buf_reset(&b);
    buf_append_str(&b, "keep");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        error = NULL;
        assert_int_equal(codec_base64_decode_strict(bad[i], strlen(bad[i]), &b,
                                                    &error), -1);
        assert_non_null(error);
        ASSERT_BUF_STR(&b, "keep"); /* untouched on error */
    }
    buf_free(&b);
}

static void test_base64_lenient(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "Zm9v\r\nYmFy", "foobar" },
        { "Zm 9v*Ym&Fy\r\n", "foobar" },      /* garbage skipped */
        { "Zm9vYg==garbage", "foob" },        /* stops at "=" */
        { "Zm9vYg=\r\n=", "foob" },
        { "Zm9vYg", "foob" },                 /* missing padding */
        { "Zm9vY", "foo" },                   /* 6 stray bits dropped */
        { "=Zm9v", "" },
        { "", "" },
        { "\r\n\r\n", "" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = BUF_INIT;

        codec_base64_decode_mime(cases[i].in, strlen(cases[i].in), &b);
        assert_buf(&b, cases[i].out, strlen(cases[i].out));
        buf_free(&b);
    }
}

static void test_base64_streaming(void **state)
{
    unsigned char bin[778]; /* 778 % 3 == 1: ends in "==" */
    struct buf enc = BUF_INIT, whole = BUF_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i * 131 + (i >> 3));
    codec_base64_encode_lines(bin, sizeof(bin), 76, &enc);
    buf_append_str(&enc, "\r\n--boundary junk after the padding\r\n");
    codec_base64_decode_mime(enc.data, enc.len, &whole);
    assert_buf(&whole, (const char *)bin, sizeof(bin));

    for (size_t chunk = 1; chunk <= 80; chunk++) {
        struct codec_base64_state st;
        struct buf b = BUF_INIT;

        codec_base64_init(&st);
        for (size_t off = 0; off < enc.len; off += chunk) {
            size_t n = enc.len - off < chunk ? enc.len - off : chunk;

            codec_base64_decode_chunk(&st, enc.data + off, n, &b);
        }
        assert_buf(&b, whole.data, whole.len);
        buf_free(&b);
    }

    /* padding seen in one chunk ends the data for the next ones */
    struct codec_base64_state st = { 0, 0, false };
    struct buf b = BUF_INIT;

    codec_base64_decode_chunk(&st, "Zm9vYg", 6, &b);
    codec_base64_decode_chunk(&st, "=", 1, &b);
    codec_base64_decode_chunk(&st, "=Zm9v", 5, &b);
    ASSERT_BUF_STR(&b, "foob");
    buf_free(&b);
    buf_free(&enc);
    buf_free(&whole);
}

static const struct {
    const char *in, *out;
} qp_cases[] = {
    { "a=3Db", "a=b" },
    { "a=3db", "a=b" },                    /* lowercase hex */
    { "abc=\r\ndef", "abcdef" },           /* soft break */
    { "abc=\ndef", "abcdef" },             /* soft break, bare LF */
    { "abc= \t \r\ndef", "abcdef" },       /* soft break, transport spaces */
    { "abc=\rdef", "abcdef" },             /* soft break, bare CR */
    { "=\r\n", "" },
    { "=4", "=4" },                        /* incomplete escape at the end */
    { "a=4", "a=4" },
    { "=4\r\nx", "=4\r\nx" },
    { "=G1", "=G1" },                      /* bad escape kept */
    { "=4G", "=4G" },
    { "==41", "=A" },
    { "=4=41", "=4A" },
    { "a=", "a" },                         /* "=" at the very end */
    { "a= ", "a" },
    { "= x", "= x" },                      /* not a soft break */
    { "abc  \r\ndef", "abc\r\ndef" },      /* trailing whitespace deleted */
    { "abc \t\ndef", "abc\ndef" },
    { "abc  ", "abc" },
    { "a b\tc", "a b\tc" },
    { "line1\r\nline2\r\n", "line1\r\nline2\r\n" },
    { "=E9t=E9", "\xe9t\xe9" },
    { "", "" },
};

static void test_qp(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(qp_cases) / sizeof(qp_cases[0]); i++) {
        struct buf b = BUF_INIT;

        codec_qp_decode(qp_cases[i].in, strlen(qp_cases[i].in), &b);
        assert_buf(&b, qp_cases[i].out, strlen(qp_cases[i].out));
        buf_free(&b);
    }

    struct buf nul = BUF_INIT; /* a NUL byte is ordinary data */

    codec_qp_decode("=00x", 4, &nul);
    assert_buf(&nul, "\0x", 2);
    buf_free(&nul);
}

static void qp_check_splits(const char *in, size_t len)
{
    struct buf whole = BUF_INIT;

    codec_qp_decode(in, len, &whole);
    /* every single split point, then every chunk size */
    for (size_t cut = 0; cut <= len; cut++) {
        struct codec_qp_state st;
        struct buf b = BUF_INIT;

        codec_qp_init(&st);
        codec_qp_decode_chunk(&st, in, cut, &b);
        codec_qp_decode_chunk(&st, in + cut, len - cut, &b);
        codec_qp_decode_finish(&st, &b);
        assert_buf(&b, whole.data, whole.len);
        buf_free(&b);
    }
    for (size_t chunk = 1; chunk <= 9; chunk++) {
        struct codec_qp_state st;
        struct buf b = BUF_INIT;

        codec_qp_init(&st);
        for (size_t off = 0; off < len; off += chunk)
            codec_qp_decode_chunk(&st, in + off, len - off < chunk ? len - off : chunk, &b);
        codec_qp_decode_finish(&st, &b);
        assert_buf(&b, whole.data, whole.len);
        buf_free(&b);
    }
    buf_free(&whole);
}

static void test_qp_streaming(void **state)
{
    static const char text[] =
        "Caf=C3=A9 au lait=\r\n, s'il vous pla=C3=AEt.  \r\n"
        "Soft = \t\r\nbreak, bad =4 and =G1 and =\r\n"
        "trailing\t \t\nbare LF=\nbare CR=\rend == =3d=3D=";
    char spaces[200];

    (void)state;
    for (size_t i = 0; i < sizeof(qp_cases) / sizeof(qp_cases[0]); i++)
        qp_check_splits(qp_cases[i].in, strlen(qp_cases[i].in));
    qp_check_splits(text, sizeof(text) - 1);

    /* a run of whitespace longer than the held state */
    memset(spaces, ' ', sizeof(spaces));
    memcpy(spaces, "x", 1);
    memcpy(spaces + sizeof(spaces) - 3, "\r\ny", 3);
    qp_check_splits(spaces, sizeof(spaces));
    spaces[0] = '=';
    qp_check_splits(spaces, sizeof(spaces));

    /* the state is reusable after finish */
    struct codec_qp_state st;
    struct buf b = BUF_INIT;

    codec_qp_init(&st);
    codec_qp_decode_chunk(&st, "ab=4", 4, &b);
    codec_qp_decode_finish(&st, &b);
    codec_qp_decode_chunk(&st, "1", 1, &b);
    codec_qp_decode_finish(&st, &b);
    ASSERT_BUF_STR(&b, "ab=41");
    buf_free(&b);
}

static void test_q(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "a_b=3F=3d", "a b?=" },
        { "Keld_J=F8rn_Simonsen", "Keld J\xf8rn Simonsen" },
        { "=4", "=4" },
        { "=zz", "=zz" },
        { "x=", "x=" },
        { "__", "  " },
        { "", "" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = BUF_INIT;

        codec_q_decode(cases[i].in, strlen(cases[i].in), &b);
        assert_buf(&b, cases[i].out, strlen(cases[i].out));
        buf_free(&b);
    }
}

static void test_hex(void **state)
{
    struct buf b = BUF_INIT;
    const char *error;
    unsigned char all[256];

    (void)state;
    assert_int_equal(codec_hex_value('0'), 0);
    assert_int_equal(codec_hex_value('a'), 10);
    assert_int_equal(codec_hex_value('F'), 15);
    assert_int_equal(codec_hex_value('g'), -1);
    assert_int_equal(codec_hex_value(-1), -1);
    assert_int_equal(codec_hex_value(0x130), -1);

    codec_hex_encode("\x01\xab\xff", 3, &b);
    ASSERT_BUF_STR(&b, "01abff");
    buf_reset(&b);
    assert_int_equal(codec_hex_decode("01ABff", 6, &b, &error), 0);
    ASSERT_BUF_STR(&b, "\x01\xab\xff");
    assert_int_equal(codec_hex_decode("abc", 3, &b, &error), -1);
    assert_int_equal(codec_hex_decode("0g", 2, &b, &error), -1);
    ASSERT_BUF_STR(&b, "\x01\xab\xff");

    for (size_t i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    buf_reset(&b);
    codec_hex_encode(all, sizeof(all), &b);
    assert_int_equal(b.len, 512);
    struct buf back = BUF_INIT;
    assert_int_equal(codec_hex_decode(b.data, b.len, &back, &error), 0);
    assert_buf(&back, (const char *)all, sizeof(all));
    buf_free(&back);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_encode),
        cmocka_unit_test(test_base64_encode_lines),
        cmocka_unit_test(test_base64_strict),
        cmocka_unit_test(test_base64_lenient),
        cmocka_unit_test(test_base64_streaming),
        cmocka_unit_test(test_qp),
        cmocka_unit_test(test_qp_streaming),
        cmocka_unit_test(test_q),
        cmocka_unit_test(test_hex),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
