/* test-mime.c - mime_parse(): part tree, offsets, sizes, lines, Content-*
 * fields, part numbering, header access, limits.
 *
 * Expected offsets are computed by hand in the comments next to each
 * check (the byte count of each line, CRLF = 2).  The messages of
 * tests/data/mime/ are checked against golden dumps (NAME.tree) that were
 * cross-checked with Python's email package: every leaf's body bytes
 * data[body_offset, +body_size) equal Python's payload, and every
 * multipart and message/rfc822 has the children Python finds (see
 * tests/data/mime/README).  Set MIME_GOLDEN_WRITE=1 to rewrite the golden
 * files after a deliberate change, and review the diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "charset.h"
#include "mime.h"
#include "pool.h"

#define DATA_DIR "tests/data/mime/"

static struct pool *pool;

static int setup(void **state)
{
    (void)state;
    pool = pool_create("test-mime", 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pool_destroy(&pool);
    charset_deinit();
    return 0;
}

static struct mime_part *parse(const char *msg)
{
    return mime_parse(msg, strlen(msg), pool);
}

static void check_part(const struct mime_part *p, uint64_t ho, uint64_t hs, uint64_t bo,
                       uint64_t bs, uint64_t lines, const char *type, const char *subtype)
{
    assert_non_null(p);
    assert_int_equal(p->header_offset, ho);
    assert_int_equal(p->header_size, hs);
    assert_int_equal(p->body_offset, bo);
    assert_int_equal(p->body_size, bs);
    assert_int_equal(p->body_lines, lines);
    assert_string_equal(p->type, type);
    assert_string_equal(p->subtype, subtype);
}

static const struct mime_part *find(const struct mime_part *root, const char *spec)
{
    unsigned path[32], n = 0;
    const char *s = spec;
    while (*s != '\0' && n < 32) {
        path[n++] = (unsigned)strtoul(s, (char **)&s, 10);
        if (*s == '.')
            s++;
    }
    return mime_part_find(root, path, n);
}

/* ---- hand-computed structures ---- */

static void test_simple(void **state)
{
    (void)state;
    /* "From: a@b\r\n" 11, "Subject: hi\r\n" 13, "\r\n" 2 = header 26;
     * body "line 1\r\nline 2\r\n" 16 bytes, 2 LF */
    const char *msg = "From: a@b\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\n";
    struct mime_part *r = parse(msg);
    check_part(r, 0, 26, 26, 16, 2, "text", "plain");
    assert_string_equal(r->encoding, "7bit");
    assert_string_equal(mime_param_get(r->type_params, "charset"), "us-ascii");
    assert_null(r->children);
    assert_int_equal(r->nchildren, 0);
    assert_non_null(r->envelope);
    assert_string_equal(r->envelope->subject, "hi");
    assert_null(r->envelope->date);
    assert_null(r->envelope->sender);   /* no defaulting to From here */
    assert_null(r->envelope->reply_to);
    assert_string_equal(r->envelope->from->mailbox, "a");
    assert_string_equal(r->envelope->from->host, "b");
    /* part 1 of a non-multipart message is the message itself */
    assert_ptr_equal(find(r, "1"), r);
    assert_null(find(r, "2"));
    assert_ptr_equal(find(r, ""), r);
    /* a last line without line end is not counted as a line */
    r = parse("Subject: x\r\n\r\nno newline");
    check_part(r, 0, 14, 14, 10, 0, "text", "plain");
}

static void test_multipart_offsets(void **state)
{
    (void)state;
    const char *msg =
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n" /*   0: 45 */
        "\r\n"                                              /*  45: 2 -> body 47 */
        "preamble\r\n"                                      /*  47: 10 */
        "--b\r\n"                                           /*  57: 5 */
        "Content-Type: text/plain\r\n"                      /*  62: 26 part 1 */
        "\r\n"                                              /*  88: 2 -> body 90 */
        "one\r\n"                                           /*  90: "one" 3, CRLF is the boundary's */
        "--b\r\n"                                           /*  95: 5 */
        "\r\n"                                              /* 100: part 2: empty header, 2 */
        "two\r\n"                                           /* 102: body "two\r\n" 5 */
        "\r\n"                                              /* 107: boundary's CRLF */
        "--b--\r\n"                                         /* 109: 7 */
        "epilogue\r\n";                                     /* 116: 10 -> 126 */
    struct mime_part *r = parse(msg);
    check_part(r, 0, 47, 47, 79, 11, "multipart", "mixed");
    assert_int_equal(r->nchildren, 2);
    assert_string_equal(mime_param_get(r->type_params, "BOUNDARY"), "b");
    assert_null(mime_param_get(r->type_params, "charset"));
    const struct mime_part *p1 = find(r, "1"), *p2 = find(r, "2");
    check_part(p1, 62, 28, 90, 3, 0, "text", "plain");
    check_part(p2, 100, 2, 102, 5, 1, "text", "plain");
    assert_ptr_equal(r->children, p1);
    assert_ptr_equal(p1->next, p2);
    assert_null(p2->next);
    assert_null(find(r, "3"));
    assert_null(find(r, "0"));
    assert_ptr_equal(find(r, "1.1"), p1);   /* a leaf's part 1 is itself */
    assert_null(p1->envelope);
}

static void test_rfc822(void **state)
{
    (void)state;
    const char *msg =
        "Content-Type: multipart/mixed; boundary=o\r\n" /*   0: 43 */
        "\r\n"                                          /*  43: 2 -> 45 */
        "--o\r\n"                                       /*  45: 5 */
        "Content-Type: message/rfc822\r\n"              /*  50: 30, part 1 */
        "\r\n"                                          /*  80: 2 -> body 82 */
        "Subject: inner\r\n"                            /*  82: 16, message header */
        "Content-Type: multipart/alternative; boundary=i\r\n" /* 98: 49 */
        "\r\n"                                          /* 147: 2 -> message body 149 */
        "--i\r\n"                                       /* 149: 5 */
        "\r\n"                                          /* 154: part 1.1 header 2 */
        "a\r\n"                                         /* 156: body "a" 1 */
        "--i\r\n"                                       /* 159: 5 */
        "Content-Type: text/html\r\n"                   /* 164: 25 part 1.2 */
        "\r\n"                                          /* 189: 2 -> 191 */
        "<b>\r\n"                                       /* 191: body "<b>" 3 */
        "--i--\r\n"                                     /* 196: 7 -> 203 */
        "--o--\r\n";                                    /* 203: boundary's CRLF at 201 */
    struct mime_part *r = parse(msg);
    check_part(r, 0, 45, 45, 165, 15, "multipart", "mixed");
    const struct mime_part *m = find(r, "1");
    /* the part's body ends at 201 (CRLF before --o--): 82..201 = 119 */
    check_part(m, 50, 32, 82, 119, 10, "message", "rfc822");
    assert_non_null(m->message);
    check_part(m->message, 82, 67, 149, 52, 7, "multipart", "alternative");
    assert_non_null(m->envelope);
    assert_ptr_equal(m->envelope, m->message->envelope);
    assert_string_equal(m->envelope->subject, "inner");
    check_part(find(r, "1.1"), 154, 2, 156, 1, 0, "text", "plain");
    check_part(find(r, "1.2"), 164, 27, 191, 3, 0, "text", "html");
    assert_ptr_equal(mime_part_child(m, 2), find(r, "1.2"));
    assert_null(find(r, "1.3"));
    assert_null(find(r, "2"));

    /* a message/rfc822 holding a single part: 1.1 is that message's body */
    r = parse("Content-Type: message/rfc822\r\n\r\nSubject: s\r\n\r\nbody\r\n");
    /* 0: 30+2 header; 32: "Subject: s\r\n" 12 + 2; 46: "body\r\n" 6 -> 52 */
    check_part(r, 0, 32, 32, 20, 3, "message", "rfc822");
    check_part(r->message, 32, 14, 46, 6, 1, "text", "plain");
    assert_ptr_equal(find(r, "1"), r);     /* the top level's part 1 is its body */
    assert_ptr_equal(find(r, "1.1"), r->message);
    /* the top level has its own envelope (FETCH ENVELOPE); BODYSTRUCTURE
     * shows the encapsulated message's */
    assert_ptr_not_equal(r->envelope, r->message->envelope);
    assert_null(r->envelope->subject);
    assert_string_equal(r->message->envelope->subject, "s");
}

static void test_boundary_edge_cases(void **state)
{
    (void)state;
    /* A boundary interrupting a part header: the CRLF before it belongs to
     * the boundary, so the header is 24 bytes without line end. */
    const char *msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n" /* 0..45 */
                      "--b\r\n"                                           /* 45 */
                      "Content-Type: text/html\r\n"                       /* 50: 23+2 */
                      "--b--\r\n";                                        /* 75 */
    struct mime_part *r = parse(msg);
    check_part(find(r, "1"), 50, 23, 73, 0, 0, "text", "html");

    /* Two delimiters in a row: an empty part between them. */
    r = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\nx\r\n--b--\r\n");
    assert_int_equal(r->nchildren, 2);
    check_part(find(r, "1"), 50, 0, 50, 0, 0, "text", "plain");
    /* part 2 at 55: "x" is not a header line, so the body starts at once */
    check_part(find(r, "2"), 55, 0, 55, 1, 0, "text", "plain");

    /* Trailing blanks and junk after the boundary still make a delimiter
     * (RFC 2046: only the beginning of the line must match). */
    r = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b  \r\n\r\nx\r\n--b-- junk\r\n");
    assert_int_equal(r->nchildren, 1);
    check_part(find(r, "1"), 52, 2, 54, 1, 0, "text", "plain");

    /* The body of the last part, without close delimiter, runs to the end
     * with its line end (no boundary owns it). */
    r = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nlast\r\n");
    check_part(find(r, "1"), 50, 2, 52, 6, 1, "text", "plain");
    check_part(r, 0, 45, 45, 13, 3, "multipart", "mixed");

    /* Boundary never seen: one text/plain child spanning the whole body. */
    r = parse("Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts\r\n");
    assert_int_equal(r->nchildren, 1);
    check_part(find(r, "1"), 46, 0, 46, 10, 1, "text", "plain");
    assert_string_equal(mime_param_get(find(r, "1")->type_params, "charset"), "us-ascii");

    /* A close delimiter before any delimiter: no child either. */
    r = parse("Content-Type: multipart/mixed; boundary=zz\r\n\r\npre\r\n--zz--\r\n");
    assert_int_equal(r->nchildren, 1);
    check_part(find(r, "1"), 46, 0, 46, 13, 2, "text", "plain");

    /* Nested boundaries that prefix each other, in both orders: the
     * longest match wins. */
    r = parse("Content-Type: multipart/mixed; boundary=ab\r\n\r\n"
              "--ab\r\nContent-Type: multipart/mixed; boundary=abcd\r\n\r\n"
              "--abcd\r\n\r\nin1\r\n--abcd\r\n\r\nin2\r\n--abcd--\r\n"
              "--ab\r\n\r\nout2\r\n--ab--\r\n");
    assert_int_equal(r->nchildren, 2);
    assert_int_equal(find(r, "1")->nchildren, 2);
    assert_int_equal(find(r, "1.2")->body_size, 3);
    assert_int_equal(find(r, "2")->body_size, 4);
    r = parse("Content-Type: multipart/mixed; boundary=abcd\r\n\r\n"
              "--abcd\r\nContent-Type: multipart/mixed; boundary=ab\r\n\r\n"
              "--ab\r\n\r\nin1\r\n--ab\r\n\r\nin2\r\n"
              "--abcd\r\n\r\nout2\r\n--abcd--\r\n");
    assert_int_equal(r->nchildren, 2);
    assert_int_equal(find(r, "1")->nchildren, 2);
    assert_int_equal(find(r, "1.2")->body_size, 3);
    assert_int_equal(find(r, "2")->body_size, 4);

    /* A part whose empty line is right before the outer boundary: the
     * header keeps its empty line and the container ends after it. */
    r = parse("Content-Type: multipart/mixed; boundary=o\r\n\r\n"          /* 0..45 */
              "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n"   /* 45: 5 + 43 + 2 */
              "--i\r\nContent-Type: text/plain\r\n\r\n"                    /* 95: 5, 100: 28 */
              "--o--\r\n");                                                /* 128 */
    check_part(find(r, "1"), 50, 45, 95, 33, 3, "multipart", "mixed");
    check_part(find(r, "1.1"), 100, 28, 128, 0, 0, "text", "plain");
}

static void test_bare_lf_and_cr(void **state)
{
    (void)state;
    const char *msg = "Content-Type: multipart/mixed; boundary=b\n" /*  0: 42 */
                      "\n"                                          /* 42: 1 -> 43 */
                      "--b\n"                                       /* 43: 4 */
                      "Content-Type: text/plain\n"                  /* 47: 25 */
                      "\n"                                          /* 72 -> 73 */
                      "l1\nl2\n"                                    /* 73: 6, LF before --b is the boundary's */
                      "--b--\n";                                    /* 79 */
    struct mime_part *r = parse(msg);
    check_part(r, 0, 43, 43, 42, 6, "multipart", "mixed");
    check_part(find(r, "1"), 47, 26, 73, 5, 1, "text", "plain");

    /* A bare CR is data, not a line end: the header is one line of 21
     * bytes (CRs are dropped from the value), "body" is not a header line. */
    r = parse("Subject: a\rFrom: b\r\r\nbody\r\n");
    check_part(r, 0, 21, 21, 6, 1, "text", "plain");
    assert_string_equal(r->envelope->subject, "aFrom: b");
}

static void test_no_separator(void **state)
{
    (void)state;
    /* The first line that cannot be a header line starts the body. */
    struct mime_part *r = parse("From: a@b\r\nSubject: s\r\nHello there\r\nmore\r\n");
    check_part(r, 0, 23, 23, 19, 2, "text", "plain");
    assert_string_equal(r->envelope->subject, "s");
    /* Only headers, no line end at the end. */
    r = parse("From: a@b\r\nSubject: s");
    check_part(r, 0, 21, 21, 0, 0, "text", "plain");
    assert_string_equal(r->envelope->subject, "s");
    /* Nothing at all. */
    r = mime_parse("", 0, pool);
    check_part(r, 0, 0, 0, 0, 0, "text", "plain");
    assert_non_null(r->envelope);
    assert_null(r->envelope->subject);
    /* Only an empty line. */
    r = parse("\r\n");
    check_part(r, 0, 2, 2, 0, 0, "text", "plain");
    /* No header at all: the body starts at 0. */
    r = parse("just text\r\n");
    check_part(r, 0, 0, 0, 11, 1, "text", "plain");
    /* A continuation line first, an mbox From_ line first. */
    r = parse(" cont\r\nSubject: s\r\n\r\nb");
    check_part(r, 0, 21, 21, 1, 0, "text", "plain");
    assert_string_equal(r->envelope->subject, "s");
    r = parse("From someone Mon Jan  1 00:00:00 2024\r\nSubject: s\r\n\r\nb");
    check_part(r, 0, 53, 53, 1, 0, "text", "plain");
    assert_string_equal(r->envelope->subject, "s");
    /* ... but not at the top of a MIME part: there it is body text */
    r = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nFrom me: hi\r\n--b--\r\n");
    check_part(find(r, "1"), 50, 0, 50, 11, 0, "text", "plain");
    /* Obsolete blanks before the colon; folded values. */
    r = parse("Subject  : a\r\n  b\r\n\tc\r\n\r\n");
    assert_string_equal(r->envelope->subject, "a  b\tc");
}

static void test_digest(void **state)
{
    (void)state;
    struct mime_part *r = parse("Content-Type: multipart/digest; boundary=d\r\n\r\n"
                                "--d\r\n\r\nSubject: one\r\n\r\nb1\r\n"
                                "--d\r\nContent-Type: text/plain\r\n\r\nb2\r\n"
                                "--d\r\nContent-Type: multipart/mixed; boundary=e\r\n\r\n"
                                "--e\r\n\r\nx\r\n--e--\r\n"
                                "--d--\r\n");
    assert_int_equal(r->nchildren, 3);
    const struct mime_part *c1 = find(r, "1");
    assert_string_equal(c1->type, "message");
    assert_string_equal(c1->subtype, "rfc822");
    assert_null(c1->type_params);
    assert_string_equal(c1->envelope->subject, "one");
    assert_string_equal(find(r, "2")->type, "text");
    /* the default applies to the digest's own children only */
    assert_string_equal(find(r, "3.1")->type, "text");
}

static void test_content_fields(void **state)
{
    (void)state;
    struct mime_part *r = parse(
        "Content-Type: (comment) Text / HTML (more) ; CharSet = \"UTF-8\" (c);\r\n"
        " Name=\"a \\\"quoted\\\" name\"; junk; =novalue; x=unquoted/v=1;\r\n"
        "Content-Transfer-Encoding:  QUOTED-PRINTABLE (why)\r\n"
        "Content-ID: <id@x>\r\n"
        "Content-Description: a\r\n description\r\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
        "Content-Disposition: ATTACHMENT; filename=\"f.txt\"; size=42\r\n"
        "Content-Language: en, fr\r\n"
        "Content-Location: http://example.com/x\r\n"
        "Content-Type: image/gif\r\n"
        "\r\n");
    assert_string_equal(r->type, "text");
    assert_string_equal(r->subtype, "html");
    const struct mime_param *p = r->type_params;
    assert_string_equal(p->name, "CharSet");
    assert_string_equal(p->value, "UTF-8");
    p = p->next;
    assert_string_equal(p->name, "Name");
    assert_string_equal(p->value, "a \"quoted\" name");
    p = p->next;
    assert_string_equal(p->name, "x");
    assert_string_equal(p->value, "unquoted/v=1");
    assert_null(p->next);
    assert_string_equal(r->encoding, "quoted-printable");
    assert_string_equal(r->id, "<id@x>");
    assert_string_equal(r->description, "a description");
    assert_string_equal(r->md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
    assert_string_equal(r->disposition, "attachment");
    assert_string_equal(mime_param_get(r->disposition_params, "FILENAME"), "f.txt");
    assert_string_equal(mime_param_get(r->disposition_params, "size"), "42");
    assert_string_equal(r->language, "en, fr");
    assert_string_equal(r->location, "http://example.com/x");

    /* Invalid types fall back to text/plain (keeping what parameters could
     * be read); a text type gets charset=us-ascii by default. */
    static const char *const invalid[] = {
        "Content-Type: text\r\n\r\n", "Content-Type: /plain\r\n\r\n",
        "Content-Type: text/\r\n\r\n", "Content-Type:\r\n\r\n",
        "Content-Type: ;charset=x\r\n\r\n", "Content-Type: (only a comment)\r\n\r\n",
        "Content-Type: t\xc3\xa9xt/plain\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        r = parse(invalid[i]);
        assert_string_equal(r->type, "text");
        assert_string_equal(r->subtype, "plain");
        assert_non_null(mime_param_get(r->type_params, "charset"));
    }
    r = parse("Content-Type: text; charset=utf-8\r\n\r\n");
    assert_string_equal(mime_param_get(r->type_params, "charset"), "utf-8");
    r = parse("Content-Type: text/x-custom\r\n\r\n");
    assert_string_equal(mime_param_get(r->type_params, "charset"), "us-ascii");
    r = parse("Content-Type: application/octet-stream\r\n\r\n");
    assert_null(r->type_params);
    r = parse("Content-Transfer-Encoding:\r\nContent-Disposition: ; filename=x\r\n\r\n");
    assert_string_equal(r->encoding, "7bit");
    assert_null(r->disposition);
    assert_null(r->disposition_params);
    /* Unterminated quote and comment. */
    r = parse("Content-Type: text/plain; name=\"abc\r\n\r\n");
    assert_string_equal(mime_param_get(r->type_params, "name"), "abc");
    r = parse("Content-Type: text/plain (unterminated; name=x\r\n\r\n");
    assert_string_equal(r->subtype, "plain");
    assert_null(mime_param_get(r->type_params, "name"));
}

static void test_rfc2231(void **state)
{
    (void)state;
    struct mime_part *r = parse(
        "Content-Type: application/x-stuff;\r\n"
        " title*2=\"three\"; title*0*=us-ascii'en'This%20is%20;\r\n"
        " title*1*=%2A%2A%2Afun%2A%2A%2A%20; other=1\r\n"
        "Content-Disposition: attachment; filename=\"plain.txt\";\r\n"
        " filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt\r\n\r\n");
    const struct mime_param *p = r->type_params;
    assert_string_equal(p->name, "title");
    assert_string_equal(p->value, "This is ***fun*** three");
    assert_string_equal(p->next->name, "other");
    assert_null(p->next->next);
    /* filename* replaces the plain filename, at the first one's place */
    p = r->disposition_params;
    assert_string_equal(p->name, "filename");
    assert_string_equal(p->value, "\xe6\x97\xa5\xe6\x9c\xac.txt");
    assert_null(p->next);

    /* charset conversion, unknown charset, no charset, invalid escapes */
    r = parse("Content-Type: text/plain; a*=iso-8859-1''caf%E9; b*=x-unknown''%C3%A9;"
              " c*=''%41%42; d*=utf-8''%zz%4; e*0=lit%41; e*1=\"q\"; f*=noquotes%41\r\n\r\n");
    assert_string_equal(mime_param_get(r->type_params, "a"), "caf\xc3\xa9");
    assert_string_equal(mime_param_get(r->type_params, "b"), "\xc3\xa9");
    assert_string_equal(mime_param_get(r->type_params, "c"), "AB");
    assert_string_equal(mime_param_get(r->type_params, "d"), "%zz%4");
    assert_string_equal(mime_param_get(r->type_params, "e"), "lit%41q");
    assert_string_equal(mime_param_get(r->type_params, "f"), "noquotesA");
    /* %00 is dropped; sections out of range stay plain parameters */
    r = parse("Content-Type: text/plain; a*=utf-8''x%00y; b*1000=z; c*x=w\r\n\r\n");
    assert_string_equal(mime_param_get(r->type_params, "a"), "xy");
    assert_string_equal(mime_param_get(r->type_params, "b*1000"), "z");
    assert_string_equal(mime_param_get(r->type_params, "c*x"), "w");
    /* a boundary given in RFC 2231 form works */
    r = parse("Content-Type: multipart/mixed; boundary*0=ab; boundary*1=cd\r\n\r\n"
              "--abcd\r\n\r\nx\r\n--abcd--\r\n");
    assert_string_equal(mime_param_get(r->type_params, "boundary"), "abcd");
    assert_int_equal(find(r, "1")->body_size, 1);
}

/* ---- header access ---- */

struct collect {
    struct buf names;
    unsigned stop_after;
    unsigned count;
};

static int collect_cb(const char *name, size_t namelen, const char *field, size_t fieldlen,
                      void *context)
{
    struct collect *c = context;
    assert_ptr_equal(name, field);
    assert_true(fieldlen >= namelen);
    buf_append(&c->names, name, namelen);
    buf_printf(&c->names, "(%zu) ", fieldlen);
    return ++c->count == c->stop_after;
}

static void test_header_access(void **state)
{
    (void)state;
    const char *h = " lead\r\n"          /* skipped */
                    "Subject: first\r\n" /* 16 */
                    "X-Folded: a\r\n"    /* 13 + 5 + 4 = 22 */
                    "  b\r\n"
                    "\tc\r\n"
                    "SUBJECT: second\r\n" /* 17 */
                    "Empty:\r\n"          /* 8 */
                    "Pre:\r\n"            /* 6 + 8 = 14 */
                    " value\r\n"
                    "\r\n"
                    "Body: not a header\r\n";
    size_t len = strlen(h);
    struct buf v = BUF_INIT;
    assert_true(mime_header_get(h, len, "subject", &v));
    assert_string_equal(buf_cstr(&v), "first");
    assert_true(mime_header_get(h, len, "x-folded", &v));
    assert_string_equal(buf_cstr(&v), "a  b\tc");
    assert_true(mime_header_get(h, len, "Empty", &v));
    assert_int_equal(v.len, 0);
    assert_true(mime_header_get(h, len, "pre", &v));
    assert_string_equal(buf_cstr(&v), "value");
    assert_false(mime_header_get(h, len, "Body", &v));
    assert_false(mime_header_get(h, len, "Subj", &v));
    assert_false(mime_header_get(h, len, "", &v));
    /* binary values come back as they are */
    assert_true(mime_header_get("X: a\0b\r\n", 8, "x", &v));
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.data, "a\0b", 3);
    /* no line end at the end; LF only */
    assert_true(mime_header_get("A: 1\nB: 2\n 3", 12, "b", &v));
    assert_string_equal(buf_cstr(&v), "2 3");

    struct collect c = { BUF_INIT, 0, 0 };
    mime_header_foreach(h, len, collect_cb, &c);
    assert_string_equal(buf_cstr(&c.names),
                        "Subject(16) X-Folded(22) SUBJECT(17) Empty(8) Pre(14) ");
    buf_reset(&c.names);
    c.count = 0;
    c.stop_after = 2;
    mime_header_foreach(h, len, collect_cb, &c);
    assert_string_equal(buf_cstr(&c.names), "Subject(16) X-Folded(22) ");
    buf_free(&c.names);

    /* the same fields from a whole message as from its cut header */
    const char *msg = "A: 1\r\nB: 2\r\nnot a header\r\nC: 3\r\n";
    struct mime_part *r = parse(msg);
    assert_int_equal(r->header_size, 12);
    assert_false(mime_header_get(msg, strlen(msg), "C", &v));
    assert_true(mime_header_get(msg, (size_t)r->header_size, "B", &v));
    assert_string_equal(buf_cstr(&v), "2");
    buf_free(&v);
}

/* ---- limits ---- */

static unsigned tree_depth(const struct mime_part *p)
{
    unsigned d = 0;
    if (p->message != NULL)
        d = tree_depth(p->message);
    for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
        unsigned cd = tree_depth(c);
        if (cd > d)
            d = cd;
    }
    return d + 1;
}

static unsigned tree_count(const struct mime_part *p)
{
    unsigned n = 1;
    if (p->message != NULL)
        n += tree_count(p->message);
    for (const struct mime_part *c = p->children; c != NULL; c = c->next)
        n += tree_count(c);
    return n;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    struct buf m = BUF_INIT;
    for (int i = 0; i < 200; i++)
        buf_printf(&m, "Content-Type: multipart/mixed; boundary=\"b%03d\"\r\n\r\n--b%03d\r\n", i,
                   i);   /* b6 would be a prefix of b63: a delimiter of b6 */
    buf_append_str(&m, "\r\ninnermost\r\n");
    struct mime_part *r = mime_parse(m.data, m.len, pool);
    assert_int_equal(tree_depth(r), MIME_MAX_DEPTH);
    /* the deepest level is a text/plain leaf holding the rest */
    const struct mime_part *p = r;
    while (p->children != NULL)
        p = p->children;
    assert_string_equal(p->type, "text");
    assert_string_equal(p->subtype, "plain");
    assert_int_equal(p->body_offset + p->body_size, m.len);

    /* the same with message/rfc822 inside message/rfc822 */
    buf_reset(&m);
    for (int i = 0; i < 500; i++)
        buf_append_str(&m, "Content-Type: message/rfc822\r\n\r\n");
    buf_append_str(&m, "Subject: deep\r\n\r\nbody\r\n");
    r = mime_parse(m.data, m.len, pool);
    assert_int_equal(tree_depth(r), MIME_MAX_DEPTH);
    buf_free(&m);
}

static void test_many_parts(void **state)
{
    (void)state;
    struct buf m = BUF_INIT;
    buf_append_str(&m, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < MIME_MAX_PARTS + 500; i++)
        buf_printf(&m, "--b\r\n\r\n%d\r\n", i);
    buf_append_str(&m, "--b--\r\n");
    struct mime_part *r = mime_parse(m.data, m.len, pool);
    assert_int_equal(tree_count(r), MIME_MAX_PARTS);
    assert_int_equal(r->nchildren, MIME_MAX_PARTS - 1);
    /* the last child took in the rest, up to the close delimiter */
    const struct mime_part *last = find(r, "9999");
    assert_non_null(last);
    assert_int_equal(last->body_offset + last->body_size, m.len - 9);
    assert_null(find(r, "10000"));

    /* a container that would exceed the limit becomes a leaf */
    buf_reset(&m);
    buf_append_str(&m, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < MIME_MAX_PARTS - 2; i++)
        buf_append_str(&m, "--b\r\n\r\n");
    buf_append_str(&m, "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n");
    buf_append_str(&m, "--b--\r\n");
    r = mime_parse(m.data, m.len, pool);
    assert_int_equal(tree_count(r), MIME_MAX_PARTS);
    last = find(r, "9999");
    assert_string_equal(last->type, "text");
    assert_null(mime_param_get(last->type_params, "boundary"));
    buf_free(&m);
}

static void test_huge_lines(void **state)
{
    (void)state;
    size_t n = 1024 * 1024;
    struct buf m = BUF_INIT;
    buf_append_str(&m, "Subject: ");
    for (size_t i = 0; i < n; i++)
        buf_append_char(&m, 'x');
    buf_append_str(&m, "\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--");
    for (size_t i = 0; i < n; i++)
        buf_append_char(&m, 'b');
    buf_append_str(&m, "\r\n--b\r\n\r\n");
    for (size_t i = 0; i < n; i++)
        buf_append_char(&m, '-');
    buf_append_str(&m, "\r\n--b--\r\n");
    clock_t t0 = clock();
    struct mime_part *r = mime_parse(m.data, m.len, pool);
    assert_int_equal(strlen(r->envelope->subject), n);
    /* "--bbbb..." matches boundary "b" as a prefix (RFC 2046) */
    assert_int_equal(r->nchildren, 2);
    assert_int_equal(find(r, "2")->body_size, n);
    /* many short "--" lines against many open boundaries stay linear */
    buf_reset(&m);
    for (int i = 0; i < MIME_MAX_DEPTH; i++)
        buf_printf(&m, "Content-Type: multipart/mixed; boundary=\"%0200d\"\r\n\r\n--%0200d\r\n", i, i);
    /* each line shares 199 bytes with every one of the 64 boundaries */
    for (int i = 0; i < 20000; i++)
        buf_printf(&m, "--%0199dx\r\n", 0);
    r = mime_parse(m.data, m.len, pool);
    assert_int_equal(tree_depth(r), MIME_MAX_DEPTH);
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
    buf_free(&m);
}

/* ---- golden files ---- */

static void dump_str(struct buf *out, const char *s)
{
    if (s == NULL) {
        buf_append_str(out, "NIL");
        return;
    }
    buf_append_char(out, '"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            buf_printf(out, "\\x%02x", c);
        else
            buf_append_char(out, (char)c);
    }
    buf_append_char(out, '"');
}

static void dump_params(struct buf *out, const char *what, const struct mime_param *p)
{
    for (; p != NULL; p = p->next) {
        buf_printf(out, " %s:", what);
        dump_str(out, p->name);
        buf_append_char(out, '=');
        dump_str(out, p->value);
    }
}

static void dump_addresses(struct buf *out, const char *what, const struct mime_address *a)
{
    buf_printf(out, "  %s:", what);
    if (a == NULL)
        buf_append_str(out, " NIL");
    for (; a != NULL; a = a->next) {
        buf_append_str(out, " (");
        dump_str(out, a->name);
        buf_append_char(out, ' ');
        dump_str(out, a->adl);
        buf_append_char(out, ' ');
        dump_str(out, a->mailbox);
        buf_append_char(out, ' ');
        dump_str(out, a->host);
        buf_append_char(out, ')');
    }
    buf_append_char(out, '\n');
}

static void dump_tree(struct buf *out, const struct mime_part *p, const char *path)
{
    buf_printf(out, "[%s] %s/%s header=%llu+%llu body=%llu+%llu lines=%llu encoding=%s\n",
               path, p->type, p->subtype, (unsigned long long)p->header_offset,
               (unsigned long long)p->header_size, (unsigned long long)p->body_offset,
               (unsigned long long)p->body_size, (unsigned long long)p->body_lines, p->encoding);
    buf_append_str(out, " ");
    dump_params(out, "param", p->type_params);
    buf_append_str(out, " id=");
    dump_str(out, p->id);
    buf_append_str(out, " description=");
    dump_str(out, p->description);
    buf_append_str(out, " md5=");
    dump_str(out, p->md5);
    buf_append_str(out, " disposition=");
    dump_str(out, p->disposition);
    dump_params(out, "dparam", p->disposition_params);
    buf_append_str(out, " language=");
    dump_str(out, p->language);
    buf_append_str(out, " location=");
    dump_str(out, p->location);
    buf_append_char(out, '\n');
    if (p->envelope != NULL && (p->message == NULL || p->envelope != p->message->envelope)) {
        const struct mime_envelope *e = p->envelope;
        buf_append_str(out, "  date=");
        dump_str(out, e->date);
        buf_append_str(out, "\n  subject=");
        dump_str(out, e->subject);
        buf_append_char(out, '\n');
        dump_addresses(out, "from", e->from);
        dump_addresses(out, "sender", e->sender);
        dump_addresses(out, "reply-to", e->reply_to);
        dump_addresses(out, "to", e->to);
        dump_addresses(out, "cc", e->cc);
        dump_addresses(out, "bcc", e->bcc);
        buf_append_str(out, "  in-reply-to=");
        dump_str(out, e->in_reply_to);
        buf_append_str(out, "\n  message-id=");
        dump_str(out, e->message_id);
        buf_append_char(out, '\n');
    }
    char sub[256];
    if (p->message != NULL) {
        snprintf(sub, sizeof(sub), "%s%smessage", path, path[0] != '\0' ? "." : "");
        dump_tree(out, p->message, sub);
    }
    unsigned i = 1;
    for (const struct mime_part *c = p->children; c != NULL; c = c->next, i++) {
        snprintf(sub, sizeof(sub), "%s%s%u", path, path[0] != '\0' ? "." : "", i);
        dump_tree(out, c, sub);
    }
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

static const char *const golden_messages[] = {
    "simple", "alternative-in-mixed", "rfc822-attachment", "digest", "nested3",
    "rfc2231", "encoded-subject", "missing-headers", "bare-lf", "malformed-boundary",
    "no-blank-line", "preamble-epilogue", "no-boundary-param", "empty", "header-only",
    "nul-8bit", "obsolete", "continuation-first", "bad-content-type", "rfc822-base64",
};

static void test_golden(void **state)
{
    (void)state;
    bool write = getenv("MIME_GOLDEN_WRITE") != NULL;
    for (size_t i = 0; i < sizeof(golden_messages) / sizeof(golden_messages[0]); i++) {
        char path[256];
        struct buf msg = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
        snprintf(path, sizeof(path), DATA_DIR "%s.eml", golden_messages[i]);
        assert_true(read_file(path, &msg));
        struct mime_part *r = mime_parse(msg.data != NULL ? msg.data : "", msg.len, pool);
        dump_tree(&got, r, "");
        snprintf(path, sizeof(path), DATA_DIR "%s.tree", golden_messages[i]);
        if (write) {
            FILE *f = fopen(path, "wb");
            assert_non_null(f);
            fwrite(got.data, 1, got.len, f);
            fclose(f);
        } else {
            assert_true(read_file(path, &want));
            if (!buf_equals_str(&want, buf_cstr(&got))) {
                print_error("%s differs from its golden dump; got:\n%s", golden_messages[i],
                            buf_cstr(&got));
                fail();
            }
        }
        buf_free(&msg);
        buf_free(&want);
        buf_free(&got);
    }
}

/* Spot checks on the golden messages that say what the dumps mean. */
static void test_golden_spot_checks(void **state)
{
    (void)state;
    struct buf msg = BUF_INIT;
    assert_true(read_file(DATA_DIR "alternative-in-mixed.eml", &msg));
    struct mime_part *r = mime_parse(msg.data, msg.len, pool);
    /* BODY[1.2] is the HTML alternative; its bytes end before the CRLF
     * that precedes "--alt-boundary--" */
    const struct mime_part *html = find(r, "1.2");
    assert_string_equal(html->subtype, "html");
    const char *b = msg.data + html->body_offset;
    assert_memory_equal(b, "<p>Please", 9);
    assert_memory_equal(b + html->body_size - 16, "<p>Thanks.</p>\r\n", 16);
    assert_memory_equal(b + html->body_size, "\r\n--alt-boundary--", 18);
    /* BODY[1.2.MIME] starts right after the delimiter line */
    assert_memory_equal(msg.data + html->header_offset - 16, "--alt-boundary\r\n", 16);
    assert_memory_equal(msg.data + html->body_offset - 4, "\r\n\r\n", 4);
    /* the envelope */
    const struct mime_envelope *e = r->envelope;
    assert_string_equal(e->from->name, "Carol Q. Sender");
    assert_string_equal(e->to->next->name, "Eve, Ops");
    assert_string_equal(e->cc->mailbox, "undisclosed-recipients");
    assert_null(e->cc->host);
    assert_null(e->cc->next->mailbox);
    assert_null(e->cc->next->host);
    assert_string_equal(e->in_reply_to, "<prev@example.com>");
    buf_free(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_multipart_offsets),
        cmocka_unit_test(test_rfc822),
        cmocka_unit_test(test_boundary_edge_cases),
        cmocka_unit_test(test_bare_lf_and_cr),
        cmocka_unit_test(test_no_separator),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_content_fields),
        cmocka_unit_test(test_rfc2231),
        cmocka_unit_test(test_header_access),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_many_parts),
        cmocka_unit_test(test_huge_lines),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_golden_spot_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
