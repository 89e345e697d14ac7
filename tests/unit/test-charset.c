/* test-charset.c - conversion, folding, modified UTF-7, RFC 2047 (charset.h).
 *
 * The byte strings of the conversion vectors were produced on a Debian 12
 * machine with Python's codecs and checked against iconv (e.g.
 * printf 'Café' | iconv -f utf-8 -t iso-8859-1 | xxd); the expected folds
 * against Python's str.casefold() and unicodedata.normalize("NFC"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "buf.h"
#include "charset.h"

#define FFFD "\xef\xbf\xbd"

static void assert_buf(const struct buf *b, const char *expect, size_t len)
{
    if (b->len != len || (len > 0 && memcmp(b->data, expect, len) != 0))
        fail_msg("got \"%.*s\" (%zu bytes), expected \"%.*s\" (%zu bytes)",
                 (int)b->len, b->data ? b->data : "", b->len, (int)len, expect,
                 len);
    assert_true(b->data == NULL || b->data[b->len] == '\0');
}

#define ASSERT_BUF_STR(b, s) assert_buf((b), (s), strlen(s))

static const struct {
    const char *charset;
    const char *bytes;
    size_t len;
    const char *utf8;
} vectors[] = {
    /* Café déjà vu */
    { "iso-8859-1", "\x43\x61\x66\xe9\x20\x64\xe9\x6a\xe0\x20\x76\x75", 12,
      "\x43\x61\x66\xc3\xa9\x20\x64\xc3\xa9\x6a\xc3\xa0\x20\x76\x75" },
    /* “quote” €5 – ok */
    { "windows-1252", "\x93\x71\x75\x6f\x74\x65\x94\x20\x80\x35\x20\x96\x20\x6f\x6b", 15,
      "\xe2\x80\x9c\x71\x75\x6f\x74\x65\xe2\x80\x9d\x20\xe2\x82\xac\x35\x20\xe2\x80\x93\x20\x6f\x6b" },
    /* € œ Ÿ */
    { "iso-8859-15", "\xa4\x20\xbd\x20\xbe", 5, "\xe2\x82\xac\x20\xc5\x93\x20\xc5\xb8" },
    /* Zażółć gęślą jaźń */
    { "iso-8859-2", "\x5a\x61\xbf\xf3\xb3\xe6\x20\x67\xea\xb6\x6c\xb1\x20\x6a\x61\xbc\xf1", 17,
      "\x5a\x61\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87\x20\x67\xc4\x99\xc5\x9b\x6c\xc4\x85\x20\x6a\x61\xc5\xba\xc5\x84" },
    /* Привет, мир */
    { "koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4\x2c\x20\xcd\xc9\xd2", 11,
      "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\x2c\x20\xd0\xbc\xd0\xb8\xd1\x80" },
    /* Україна */
    { "koi8-u", "\xf5\xcb\xd2\xc1\xa7\xce\xc1", 7,
      "\xd0\xa3\xd0\xba\xd1\x80\xd0\xb0\xd1\x97\xd0\xbd\xd0\xb0" },
    /* Привет */
    { "windows-1251", "\xcf\xf0\xe8\xe2\xe5\xf2", 6, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
    /* Καλημέρα */
    { "iso-8859-7", "\xca\xe1\xeb\xe7\xec\xdd\xf1\xe1", 8,
      "\xce\x9a\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1" },
    /* 中文邮件 */
    { "gb2312", "\xd6\xd0\xce\xc4\xd3\xca\xbc\xfe", 8, "\xe4\xb8\xad\xe6\x96\x87\xe9\x82\xae\xe4\xbb\xb6" },
    { "gbk", "\xd6\xd0\xce\xc4\xd3\xca\xbc\xfe", 8, "\xe4\xb8\xad\xe6\x96\x87\xe9\x82\xae\xe4\xbb\xb6" },
    /* 中文😀 */
    { "gb18030", "\xd6\xd0\xce\xc4\x94\x39\xfc\x36", 8, "\xe4\xb8\xad\xe6\x96\x87\xf0\x9f\x98\x80" },
    /* 繁體中文 */
    { "big5", "\xc1\x63\xc5\xe9\xa4\xa4\xa4\xe5", 8, "\xe7\xb9\x81\xe9\xab\x94\xe4\xb8\xad\xe6\x96\x87" },
    /* 日本語テキスト */
    { "shift_jis", "\x93\xfa\x96\x7b\x8c\xea\x83\x65\x83\x4c\x83\x58\x83\x67", 14,
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88" },
    { "euc-jp", "\xc6\xfc\xcb\xdc\xb8\xec\xa5\xc6\xa5\xad\xa5\xb9\xa5\xc8", 14,
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88" },
    { "iso-2022-jp", "\x1b\x24\x42\x46\x7c\x4b\x5c\x38\x6c\x25\x46\x25\x2d\x25\x39\x25\x48\x1b\x28\x42", 20,
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88" },
    /* 한국어 */
    { "euc-kr", "\xc7\xd1\xb1\xb9\xbe\xee", 6, "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4" },
    /* héllo */
    { "utf-16le", "\x68\x00\xe9\x00\x6c\x00\x6c\x00\x6f\x00", 10, "\x68\xc3\xa9\x6c\x6c\x6f" },
    /* 日本 */
    { "utf-16be", "\x65\xe5\x67\x2c", 4, "\xe6\x97\xa5\xe6\x9c\xac" },
    /* Hi Mom -☺-! */
    { "utf-7", "\x48\x69\x20\x4d\x6f\x6d\x20\x2d\x2b\x4a\x6a\x6f\x2d\x2d\x21", 15,
      "\x48\x69\x20\x4d\x6f\x6d\x20\x2d\xe2\x98\xba\x2d\x21" },
    { "UTF8", "\x43\x61\x66\xc3\xa9", 5, "\x43\x61\x66\xc3\xa9" },
    { "us-ascii", "plain", 5, "plain" },
};
#define N_VECTORS (sizeof(vectors) / sizeof(vectors[0]))

static void test_known(void **state)
{
    static const char *const known[] = {
        "utf-8", "UTF8", "iso-8859-1", "latin1", "ISO_8859-1:1987", "windows-1252",
        "cp1252", "gb2312", "gbk", "gb18030", "big5", "shift_jis", "euc-jp",
        "iso-2022-jp", "koi8-r", "us-ascii", "ascii", "ANSI_X3.4-1968",
        "utf-16", "euc-kr", "ks_c_5601-1987", "utf-7", "IMAP-mailbox-name",
    };
    static const char *const unknown[] = {
        "", "x-unknown", "utf-8,swaplfnl", "utf 8", "\"utf-8\"", "utf-8\n",
        "x-user-defined",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (!charset_is_known(known[i]))
            fail_msg("%s should be known", known[i]);
    }
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        if (charset_is_known(unknown[i]))
            fail_msg("%s should be unknown", unknown[i]);
    }
}

static void test_to_utf8_vectors(void **state)
{
    (void)state;
    /* twice: more charsets than the cache holds, so the second round
     * reopens evicted converters */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N_VECTORS; i++) {
            struct buf b = BUF_INIT;
            const char *error = NULL;

            buf_append_str(&b, "<");
            if (charset_to_utf8(vectors[i].charset, vectors[i].bytes,
                                vectors[i].len, &b, &error) < 0)
                fail_msg("%s: %s", vectors[i].charset, error);
            buf_append_str(&b, ">");
            assert_int_equal(b.len, strlen(vectors[i].utf8) + 2);
            assert_memory_equal(b.data + 1, vectors[i].utf8, b.len - 2);
            buf_free(&b);
        }
    }
}

static void test_to_utf8_errors(void **state)
{
    struct buf b = BUF_INIT;
    const char *error = NULL;

    (void)state;
    buf_append_str(&b, "keep");
    assert_int_equal(charset_to_utf8("x-unknown", "abc", 3, &b, &error), -1);
    assert_non_null(error);
    assert_int_equal(charset_to_utf8("", "abc", 3, &b, &error), -1);
    assert_int_equal(charset_to_utf8("utf-8,swaplfnl", "abc", 3, &b, &error), -1);
    ASSERT_BUF_STR(&b, "keep");

    /* empty input */
    assert_int_equal(charset_to_utf8("koi8-r", "", 0, &b, &error), 0);
    assert_int_equal(charset_to_utf8("koi8-r", NULL, 0, &b, &error), 0);
    assert_int_equal(charset_to_utf8("utf-8", NULL, 0, &b, &error), 0);
    assert_int_equal(charset_to_utf8("us-ascii", NULL, 0, &b, &error), 0);
    assert_int_equal(charset_from_utf8("koi8-r", NULL, 0, &b, &error), 0);
    assert_int_equal(charset_from_utf8("utf-8", NULL, 0, &b, &error), 0);
    assert_int_equal(charset_from_utf8("x-unknown", NULL, 0, &b, &error), -1);
    charset_8bit_to_utf8(NULL, 0, &b);
    charset_utf8_repair(NULL, 0, &b);
    charset_fold(NULL, 0, &b);
    assert_int_equal(charset_decode_header(NULL, 0, &b), 0);
    ASSERT_BUF_STR(&b, "keep");
    buf_free(&b);
}

static void check_decode(const char *charset, const char *in, size_t len,
                         const char *expect)
{
    struct buf b = BUF_INIT;
    const char *error = NULL;

    if (charset_to_utf8(charset, in, len, &b, &error) < 0)
        fail_msg("%s: %s", charset, error);
    ASSERT_BUF_STR(&b, expect);
    buf_free(&b);
}

static void test_malformed(void **state)
{
    (void)state;
    /* UTF-8: one U+FFFD per maximal invalid subpart */
    check_decode("utf-8", "a\xe2\x82z", 4, "a" FFFD "z");
    check_decode("utf-8", "\xf0\x9f\x98", 3, FFFD);
    check_decode("utf-8", "\xed\xa0\x80", 3, FFFD FFFD FFFD); /* surrogate */
    check_decode("utf-8", "\xc0\xaf", 2, FFFD FFFD);          /* overlong */
    check_decode("utf-8", "\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    check_decode("utf-8", "\xff", 1, FFFD);
    /* legacy charsets */
    check_decode("shift_jis", "a\x93", 2, "a" FFFD);         /* truncated */
    check_decode("euc-jp", "\xa1z", 2, FFFD "z");
    check_decode("iso-2022-jp", "\x1b\x24\x42\x7f\x7f\x1b\x28\x42" "a", 9, FFFD "a");
    check_decode("utf-16le", "a\0\0\xd8" "b\0", 6, "a" FFFD "b"); /* lone surrogate */
    check_decode("utf-16le", "a\0b", 3, "a" FFFD);            /* odd length */
    check_decode("big5", "a\xa1", 2, "a" FFFD);              /* truncated */
    check_decode("gb18030", "\x81\x30", 2, FFFD);
}

static void test_lenient_labels(void **state)
{
    (void)state;
    /* us-ascii with 8-bit bytes: UTF-8 when valid, else windows-1252 */
    check_decode("us-ascii", "caf\xc3\xa9", 5, "caf\xc3\xa9");
    check_decode("ascii", "caf\xe9 \x80", 6, "caf\xc3\xa9 \xe2\x82\xac");
    check_decode("us-ascii", "a\x1b" "b", 3, "a\x1b" "b");
    /* iso-8859-1 is decoded as windows-1252 */
    check_decode("iso-8859-1", "\x80\x93x\x94", 4, "\xe2\x82\xac\xe2\x80\x9cx\xe2\x80\x9d");
    /* gb2312/gbk as gb18030: a four-byte gb18030 sequence (😀) */
    check_decode("gb2312", "\x94\x39\xfc\x36", 4, "\xf0\x9f\x98\x80");
    /* euc-kr as windows-949: 똠 (a UHC extension, 0x8c 0x63) */
    check_decode("euc-kr", "\x8c\x63", 2, "\xeb\x98\xa0");

    struct buf b = BUF_INIT;

    charset_8bit_to_utf8("na\xc3\xafve", 6, &b);
    ASSERT_BUF_STR(&b, "na\xc3\xafve");
    buf_reset(&b);
    charset_8bit_to_utf8("na\xefve", 5, &b);
    ASSERT_BUF_STR(&b, "na\xc3\xafve");
    buf_free(&b);
}

static void test_from_utf8(void **state)
{
    static const char *const exact[] = {
        "iso-8859-2", "koi8-r", "windows-1251", "iso-8859-7", "gb2312", "big5",
        "shift_jis", "euc-jp", "iso-2022-jp", "euc-kr", "utf-16le", "utf-16be",
        "iso-8859-1", "UTF8",
    };
    struct buf b = BUF_INIT;
    const char *error;

    (void)state;
    /* exact bytes for the charsets whose encoders are unambiguous */
    for (size_t k = 0; k < sizeof(exact) / sizeof(exact[0]); k++) {
        for (size_t i = 0; i < N_VECTORS; i++) {
            if (strcmp(vectors[i].charset, exact[k]) != 0)
                continue;
            buf_reset(&b);
            if (charset_from_utf8(vectors[i].charset, vectors[i].utf8,
                                  strlen(vectors[i].utf8), &b, &error) < 0)
                fail_msg("%s: %s", vectors[i].charset, error);
            assert_buf(&b, vectors[i].bytes, vectors[i].len);
        }
    }
    /* round trips for all */
    for (size_t i = 0; i < N_VECTORS; i++) {
        struct buf back = BUF_INIT;

        buf_reset(&b);
        assert_int_equal(charset_from_utf8(vectors[i].charset, vectors[i].utf8,
                                           strlen(vectors[i].utf8), &b, &error), 0);
        assert_int_equal(charset_to_utf8(vectors[i].charset, b.data, b.len,
                                         &back, &error), 0);
        ASSERT_BUF_STR(&back, vectors[i].utf8);
        buf_free(&back);
    }

    /* strict: unknown charset, unmappable character, invalid UTF-8 */
    buf_reset(&b);
    buf_append_str(&b, "keep");
    assert_int_equal(charset_from_utf8("x-unknown", "a", 1, &b, &error), -1);
    assert_int_equal(charset_from_utf8("iso-8859-1", "\xe6\x97\xa5", 3, &b, &error), -1);
    assert_non_null(error);
    assert_int_equal(charset_from_utf8("us-ascii", "caf\xc3\xa9", 5, &b, &error), -1);
    assert_int_equal(charset_from_utf8("koi8-r", "\xff", 1, &b, &error), -1);
    assert_int_equal(charset_from_utf8("utf-8", "\xc0\xaf", 2, &b, &error), -1);
    ASSERT_BUF_STR(&b, "keep");
    buf_free(&b);
}

static void test_big_conversion(void **state)
{
    /* bigger than any first guess of the output size: 3 bytes out per byte in */
    size_t n = 300000;
    struct buf in = BUF_INIT, out = BUF_INIT;
    const char *error;

    (void)state;
    for (size_t i = 0; i < n; i++)
        buf_append_char(&in, (char)0x80); /* € in windows-1252 */
    assert_int_equal(charset_to_utf8("windows-1252", in.data, in.len, &out, &error), 0);
    assert_int_equal(out.len, 3 * n);
    for (size_t i = 0; i < n; i += 997)
        assert_memory_equal(out.data + 3 * i, "\xe2\x82\xac", 3);
    buf_free(&in);
    buf_free(&out);
}

static void test_utf8_valid(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        bool valid;
    } cases[] = {
        { "", 0, true },
        { "plain ascii text longer than eight", 34, true },
        { "a\0b", 3, true },
        { "\xc3\xa9", 2, true },
        { "\xe2\x82\xac", 3, true },
        { "\xf0\x9f\x98\x80", 4, true },
        { "\xf4\x8f\xbf\xbf", 4, true },  /* U+10FFFF */
        { "\xef\xbf\xbd", 3, true },
        { "\xc3", 1, false },
        { "\xc0\x80", 2, false },         /* overlong NUL */
        { "\xe0\x80\xaf", 3, false },     /* overlong */
        { "\xed\xa0\x80", 3, false },     /* surrogate */
        { "\xf4\x90\x80\x80", 4, false }, /* > U+10FFFF */
        { "\xf5\x80\x80\x80", 4, false },
        { "\x80", 1, false },
        { "abcdefgh\xff", 9, false },
        { "abcdefghijklmnop\xe2\x82", 18, false },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (charset_utf8_valid(cases[i].s, cases[i].len) != cases[i].valid)
            fail_msg("case %zu", i);
    }

    struct buf b = BUF_INIT;

    charset_utf8_repair("ok\xc3\xa9\xff\xe2\x82z\xed\xa0\x80", 11, &b);
    ASSERT_BUF_STR(&b, "ok\xc3\xa9" FFFD FFFD "z" FFFD FFFD FFFD);
    assert_true(charset_utf8_valid(b.data, b.len));
    buf_free(&b);
}

static void check_fold(const char *in, const char *expect)
{
    struct buf b = BUF_INIT;

    buf_append_str(&b, "[");
    charset_fold(in, strlen(in), &b);
    buf_append_str(&b, "]");
    if (b.len != strlen(expect) + 2 || memcmp(b.data + 1, expect, b.len - 2) != 0)
        fail_msg("fold(%s) = %s, expected [%s]", in, b.data, expect);
    buf_free(&b);
}

static void test_fold(void **state)
{
    (void)state;
    check_fold("", "");
    check_fold("Hello WORLD 123 @[]^_`{}~", "hello world 123 @[]^_`{}~");
    /* German sharp s, small and capital */
    check_fold("Straße", "strasse");
    check_fold("STRAẞE", "strasse");
    check_fold("STRASSE", "strasse");
    /* Greek sigma in all three forms */
    check_fold("ΣΊΣΥΦΟΣ", "σίσυφοσ");
    check_fold("σίσυφος", "σίσυφοσ");
    /* Turkish: İ -> i, ı stays, I -> i */
    check_fold("İstanbul", "istanbul");
    check_fold("ISTANBUL", "istanbul");
    check_fold("ılık", "ılık");
    /* Cyrillic */
    check_fold("ПРИВЕТ Ёлка", "привет ёлка");
    /* canonical equivalence: decomposed and precomposed é, É */
    check_fold("e\xcc\x81", "\xc3\xa9");
    check_fold("E\xcc\x81t\xc3\x89", "\xc3\xa9t\xc3\xa9");
    check_fold("cafe\xcc\x81 CAF\xc3\x89", "caf\xc3\xa9 caf\xc3\xa9");
    /* special foldings */
    check_fold("\xe2\x84\xaa", "k");          /* KELVIN SIGN */
    check_fold("\xef\xac\x81", "fi");         /* fi ligature */
    check_fold("\xe1\xbe\xbc", "\xce\xb1\xce\xb9"); /* ᾼ */
    check_fold("\xe2\x84\xab", "\xc3\xa5");   /* ANGSTROM SIGN */
    check_fold("x\xef\xbc\xa1", "x\xef\xbd\x81"); /* fullwidth A: no NFKC */
    /* invalid UTF-8 */
    check_fold("A\xff" "B", "a" FFFD "b");
    check_fold("\xc3", FFFD);
}

static void test_fold_long(void **state)
{
    struct buf in = BUF_INIT, expect = BUF_INIT, out = BUF_INIT;

    (void)state;
    /* Long non-ASCII text (segments are cut inside it) */
    for (int i = 0; i < 5000; i++) {
        buf_append_str(&in, "ПРИВЕТ");
        buf_append_str(&expect, "привет");
    }
    charset_fold(in.data, in.len, &out);
    assert_buf(&out, expect.data, expect.len);

    /* Long lowercase text with a few capitals: cut at characters that
     * folding leaves alone */
    buf_reset(&in);
    buf_reset(&expect);
    buf_reset(&out);
    for (int i = 0; i < 5000; i++) {
        buf_append_str(&in, i % 97 == 0 ? "\xce\xa3\xcc\x81" : "\xd0\xbf\xd1\x80\xd0\xb8");
        buf_append_str(&expect, i % 97 == 0 ? "\xcf\x83\xcc\x81" : "\xd0\xbf\xd1\x80\xd0\xb8");
    }
    charset_fold(in.data, in.len, &out);
    assert_buf(&out, expect.data, expect.len);

    /* decomposed é repeated: every ASCII "e" is followed by a combining
     * mark, so cuts must keep them together */
    buf_reset(&in);
    buf_reset(&expect);
    buf_reset(&out);
    for (int i = 0; i < 20000; i++) {
        buf_append_str(&in, "E\xcc\x81");
        buf_append_str(&expect, "\xc3\xa9");
    }
    charset_fold(in.data, in.len, &out);
    assert_buf(&out, expect.data, expect.len);

    /* mixed ASCII and non-ASCII, long ASCII runs */
    buf_reset(&in);
    buf_reset(&expect);
    buf_reset(&out);
    for (int i = 0; i < 3000; i++) {
        buf_append_str(&in, "The QUICK brown fox jumps over the lazy DOG, Stra\xc3\x9f" "e! ");
        buf_append_str(&expect, "the quick brown fox jumps over the lazy dog, strasse! ");
    }
    charset_fold(in.data, in.len, &out);
    assert_buf(&out, expect.data, expect.len);

    buf_free(&in);
    buf_free(&expect);
    buf_free(&out);
}

static bool fold_contains(const char *hay, const char *needle)
{
    struct buf h = BUF_INIT, n = BUF_INIT;
    bool found;

    charset_fold(hay, strlen(hay), &h);
    charset_fold(needle, strlen(needle), &n);
    found = charset_fold_contains(h.data, h.len, n.data, n.len);
    buf_free(&h);
    buf_free(&n);
    return found;
}

static void test_fold_contains(void **state)
{
    (void)state;
    assert_true(fold_contains("Hello World", "WORLD"));
    assert_true(fold_contains("Hello World", ""));
    assert_true(fold_contains("", ""));
    assert_false(fold_contains("", "a"));
    assert_false(fold_contains("Hello", "Hello World"));
    assert_true(fold_contains("Grüße aus der STRASSE", "straße"));
    assert_true(fold_contains("Grüße aus der STRASSE", "GRÜSSE"));
    assert_true(fold_contains("ΟΔΥΣΣΕΥΣ", "οδυσσευς"));
    assert_true(fold_contains("Visit İstanbul", "istanbul"));
    assert_true(fold_contains("cafe\xcc\x81", "CAF\xc3\x89"));
    assert_false(fold_contains("resume", "r\xc3\xa9sum\xc3\xa9"));
}

static void check_mutf7_pair(const char *mutf7, const char *utf8)
{
    struct buf b = BUF_INIT;
    const char *error = NULL;

    if (charset_mutf7_to_utf8(mutf7, &b, &error) < 0)
        fail_msg("decode %s: %s", mutf7, error);
    ASSERT_BUF_STR(&b, utf8);
    buf_reset(&b);
    if (charset_utf8_to_mutf7(utf8, &b, &error) < 0)
        fail_msg("encode %s: %s", utf8, error);
    ASSERT_BUF_STR(&b, mutf7);
    buf_free(&b);
}

static void test_mutf7(void **state)
{
    (void)state;
    check_mutf7_pair("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語");
    check_mutf7_pair("&-", "&");
    check_mutf7_pair("a&-b&-&-", "a&b&&");
    check_mutf7_pair("", "");
    check_mutf7_pair("INBOX.Sent Items", "INBOX.Sent Items");
    check_mutf7_pair("Entw&APw-rfe", "Entwürfe");
    check_mutf7_pair("&2D3eAQ-", "\xf0\x9f\x98\x81");            /* 😁 */
    check_mutf7_pair("&AKMAow-", "££");
    check_mutf7_pair("&BB8EQAQ4BDIENQRC-", "Привет");
}

static void test_mutf7_reject(void **state)
{
    static const char *const bad[] = {
        "&",              /* unterminated */
        "abc&U,BTFw",     /* unterminated */
        "a\x80",          /* 8-bit byte */
        "caf\xc3\xa9",    /* raw UTF-8 */
        "a\tb",           /* control byte */
        "a\x7f",
        "&AGE-",          /* 'a' must be plain */
        "&ACY-",          /* '&' must be "&-" */
        "&AH4-",          /* '~' must be plain */
        "&ACA-",          /* ' ' must be plain */
        "&AKM-&AKM-",     /* two runs where one is canonical */
        "&U,BTF2-",       /* non-zero padding bits */
        "&AK-",           /* bits that make no character */
        "&AKMA-",         /* left-over bits */
        "&2D0-",          /* lone high surrogate */
        "&3gE-",          /* lone low surrogate */
        "&2D3YPQ-",       /* two high surrogates */
        "&AAA-",          /* U+0000 */
        "&AAE-",          /* U+0001 */
        "&AH8-",          /* U+007F */
        "&U,BTFw!-",      /* not modified base64 */
        "&U/BTFw-",       /* '/' is ',' in modified base64 */
        "&U,BTFw=-",      /* no padding in modified base64 */
        "&ZeVnLIqeAC8-",  /* '/' inside a run */
    };
    struct buf b = BUF_INIT;

    (void)state;
    buf_append_str(&b, "keep");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *error = NULL;

        if (charset_mutf7_to_utf8(bad[i], &b, &error) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(error);
        ASSERT_BUF_STR(&b, "keep");
    }

    static const char *const bad_utf8[] = {
        "\xff", "a\xc0\xaf", "\xed\xa0\x80", "caf\xc3", "a\x01" "b", "tab\there",
    };
    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        const char *error = NULL;

        if (charset_utf8_to_mutf7(bad_utf8[i], &b, &error) != -1)
            fail_msg("encoded bad UTF-8 #%zu", i);
        assert_non_null(error);
        ASSERT_BUF_STR(&b, "keep");
    }

    /* too long */
    struct buf longname = BUF_INIT;
    const char *error;

    for (size_t i = 0; i <= CHARSET_MAILBOX_NAME_MAX; i++)
        buf_append_char(&longname, 'x');
    assert_int_equal(charset_mutf7_to_utf8(longname.data, &b, &error), -1);
    assert_int_equal(charset_utf8_to_mutf7(longname.data, &b, &error), -1);
    buf_truncate(&longname, CHARSET_MAILBOX_NAME_MAX);
    buf_reset(&b);
    assert_int_equal(charset_mutf7_to_utf8(longname.data, &b, &error), 0);
    assert_int_equal(b.len, CHARSET_MAILBOX_NAME_MAX);
    buf_free(&longname);
    buf_free(&b);
}

static void check_header(const char *in, const char *expect, int ret)
{
    struct buf b = BUF_INIT;
    int r;

    buf_append_str(&b, "[");
    r = charset_decode_header(in, strlen(in), &b);
    buf_append_str(&b, "]");
    if (b.len != strlen(expect) + 2 || memcmp(b.data + 1, expect, b.len - 2) != 0)
        fail_msg("decode(%s) = %s, expected [%s]", in, b.data, expect);
    assert_int_equal(r, ret);
    assert_true(charset_utf8_valid(b.data, b.len));
    buf_free(&b);
}

static void test_rfc2047_examples(void **state)
{
    (void)state;
    /* RFC 2047 section 8 */
    check_header("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>",
                 "Keith Moore <moore@cs.utk.edu>", 1);
    check_header("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>",
                 "Keld J\xc3\xb8rn Simonsen <keld@dkuug.dk>", 1);
    check_header("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
                 "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>", 1);
    check_header("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
                 "    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
                 "If you can read this you understand the example.", 1);
    check_header("Nathaniel Borenstein <nsb@thumper.bellcore.com>\r\n"
                 "    (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)",
                 "Nathaniel Borenstein <nsb@thumper.bellcore.com>    ("
                 "\xd7\x9d\xd7\x95\xd7\x9c\xd7\xa9\x20\xd7\x9f\xd7\x91\x20"
                 "\xd7\x99\xd7\x9c\xd7\x98\xd7\xa4\xd7\xa0)", 1);
    /* the whitespace table of section 8 */
    check_header("(=?ISO-8859-1?Q?a?=)", "(a)", 1);
    check_header("(=?ISO-8859-1?Q?a?= b)", "(a b)", 1);
    check_header("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)", 1);
    check_header("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)", 1);
    check_header("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)", 1);
    check_header("(=?ISO-8859-1?Q?a_b?=)", "(a b)", 1);
    check_header("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)", 1);
    check_header("(a =?ISO-8859-1?Q?b?=)", "(a b)", 1);
}

static void test_rfc2047_more(void **state)
{
    (void)state;
    check_header("plain text", "plain text", 0);
    check_header("", "", 0);
    check_header("=?utf-8?q?hello_world?=", "hello world", 1);
    check_header("=?UTF-8?Q?=E2=82=AC_5?=", "\xe2\x82\xac 5", 1);
    check_header("=?utf-8?b?4oKs?=", "\xe2\x82\xac", 1);
    check_header("=?utf-8?B?4oKs?=x", "\xe2\x82\xacx", 1);
    check_header("x=?utf-8?B?4oKs?=", "x\xe2\x82\xac", 1);
    /* ISO-2022-JP and GB2312 */
    check_header("=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 1);
    check_header("=?gb2312?B?1tDOxA==?= test", "\xe4\xb8\xad\xe6\x96\x87 test", 1);
    /* RFC 2231 language */
    check_header("=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore", 1);
    check_header("=?utf-8*de-DE?Q?Gr=C3=BC=C3=9Fe?=", "Gr\xc3\xbc\xc3\x9f" "e", 1);
    /* undecodable words stay */
    check_header("=?x-unknown?Q?abc?= def", "=?x-unknown?Q?abc?= def", 0);
    check_header("=?utf-8?X?abc?=", "=?utf-8?X?abc?=", 0);
    check_header("=?utf-8?B?!!!!?=", "=?utf-8?B?!!!!?=", 0);
    check_header("=?utf-8?B?4oKs=x?=", "=?utf-8?B?4oKs=x?=", 0);
    check_header("=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=", 0);
    check_header("=??Q?abc?=", "=??Q?abc?=", 0);
    check_header("=?utf-8?Q?abc", "=?utf-8?Q?abc", 0);
    check_header("=?utf-8?Q?a?= =?x-unknown?Q?b?= =?utf-8?Q?c?=",
                 "a =?x-unknown?Q?b?= c", 1);
    /* a character split across two words in the same charset */
    check_header("=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=", "\xc3\xa9", 1);
    check_header("=?UTF-8?B?w6nD?= =?utf-8?B?qQ==?=", "\xc3\xa9\xc3\xa9", 1);
    check_header("=?utf-8?Q?=C3?= x", FFFD " x", 1);
    /* trailing whitespace after the last word is kept */
    check_header("=?utf-8?Q?a?=  ", "a  ", 1);
    /* raw 8-bit text */
    check_header("Caf\xc3\xa9 =?utf-8?q?ok?=", "Caf\xc3\xa9 ok", 1);
    check_header("Caf\xe9", "Caf\xc3\xa9", 0);
    check_header("Caf\xe9 \x80", "Caf\xc3\xa9 \xe2\x82\xac", 0);
    /* us-ascii label with 8-bit contents */
    check_header("=?us-ascii?Q?caf=E9?=", "caf\xc3\xa9", 1);
    /* unfolding */
    check_header("Subject\r\n line\r\n\tend", "Subject line\tend", 0);
    check_header("a\n b", "a b", 0);
    check_header("a\r\nb", "a\r\nb", 0);
    /* NUL bytes are dropped */
    check_header("=?utf-8?Q?a=00b?=", "ab", 1);
    /* malformed UTF-8 in a word */
    check_header("=?utf-8?Q?a=FFb?=", "a" FFFD "b", 1);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hostile(const char *unit, size_t total)
{
    size_t ulen = strlen(unit);
    struct buf in = BUF_INIT, out = BUF_INIT;
    double t0;

    while (in.len + ulen <= total)
        buf_append(&in, unit, ulen);
    t0 = now();
    charset_decode_header(in.data, in.len, &out);
    if (now() - t0 > 5.0)
        fail_msg("decoding 1 MB of \"%s\" took %.1f s", unit, now() - t0);
    assert_true(out.len > 0);
    buf_free(&in);
    buf_free(&out);
}

static void test_rfc2047_hostile(void **state)
{
    (void)state;
    /* Each is 1 MB; a quadratic decoder would take hours. */
    hostile("=?", 1 << 20);
    hostile("=?utf-8?q?", 1 << 20);
    hostile("=?a?q?", 1 << 20);
    hostile("=?a?q?=", 1 << 20);
    hostile("=?utf-8?q?a?= ", 1 << 20);
    hostile("=?utf-8?b?QQ==?==?koi8-r?q?=F0?=", 1 << 20);
    hostile("=?x-unknown?q?a?= ", 1 << 20);
    hostile("aaaaaaaaaaaaaaaaaaaa", 1 << 20);

    /* the one-unit case is exact: nothing decodes, everything stays */
    struct buf in = BUF_INIT, out = BUF_INIT;

    for (int i = 0; i < (1 << 19); i++)
        buf_append(&in, "=?", 2);
    assert_int_equal(charset_decode_header(in.data, in.len, &out), 0);
    assert_buf(&out, in.data, in.len);
    buf_free(&in);
    buf_free(&out);
}

static int teardown(void **state)
{
    (void)state;
    charset_deinit();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_to_utf8_vectors),
        cmocka_unit_test(test_to_utf8_errors),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_lenient_labels),
        cmocka_unit_test(test_from_utf8),
        cmocka_unit_test(test_big_conversion),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_fold_long),
        cmocka_unit_test(test_fold_contains),
        cmocka_unit_test(test_mutf7),
        cmocka_unit_test(test_mutf7_reject),
        cmocka_unit_test(test_rfc2047_examples),
        cmocka_unit_test(test_rfc2047_more),
        cmocka_unit_test(test_rfc2047_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
