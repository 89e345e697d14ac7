/* test-mime-address.c - mime_address_parse(): RFC 5322 address lists as
 * IMAP ENVELOPE address structures, obsolete syntax, groups, junk.
 * Each case is written as the list IMAP would send: (name adl mailbox
 * host) per address, NIL for NULL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "buf.h"
#include "mime.h"
#include "pool.h"

static struct pool *pool;

static int setup(void **state)
{
    (void)state;
    pool = pool_create("test-mime-address", 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pool_destroy(&pool);
    return 0;
}

static void put(struct buf *b, const char *s)
{
    if (s == NULL)
        buf_append_str(b, "NIL");
    else
        buf_printf(b, "\"%s\"", s);
}

static const char *render(const char *value)
{
    struct buf b = BUF_INIT;
    const struct mime_address *a = mime_address_parse(value, pool);
    if (a == NULL)
        buf_append_str(&b, "NIL");
    for (; a != NULL; a = a->next) {
        buf_append_char(&b, '(');
        put(&b, a->name);
        buf_append_char(&b, ' ');
        put(&b, a->adl);
        buf_append_char(&b, ' ');
        put(&b, a->mailbox);
        buf_append_char(&b, ' ');
        put(&b, a->host);
        buf_append_char(&b, ')');
    }
    const char *s = pool_strdup(pool, buf_cstr(&b));
    buf_free(&b);
    return s;
}

#define CHECK(value, expect) assert_string_equal(render(value), expect)

static void test_common(void **state)
{
    (void)state;
    CHECK("jdoe@example.com", "(NIL NIL \"jdoe\" \"example.com\")");
    CHECK("John Doe <jdoe@example.com>", "(\"John Doe\" NIL \"jdoe\" \"example.com\")");
    CHECK("\"Doe, John\" <jdoe@example.com>, other@x.y",
          "(\"Doe, John\" NIL \"jdoe\" \"example.com\")(NIL NIL \"other\" \"x.y\")");
    CHECK("<jdoe@example.com>", "(NIL NIL \"jdoe\" \"example.com\")");
    CHECK("Joe Q. Public <john.q.public@example.com>",
          "(\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")");
    CHECK("\"Joe \\\"Q\\\" Public\" <j@x>", "(\"Joe \"Q\" Public\" NIL \"j\" \"x\")");
    /* encoded-words stay raw, 8-bit bytes too */
    CHECK("=?utf-8?q?J=C3=B6rg?= <j@x>", "(\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x\")");
    CHECK("J\xc3\xb6rg <j@x>", "(\"J\xc3\xb6rg\" NIL \"j\" \"x\")");
    CHECK("\"john doe\"@example.com", "(NIL NIL \"john doe\" \"example.com\")");
    CHECK("user@[192.0.2.1]", "(NIL NIL \"user\" \"[192.0.2.1]\")");
    CHECK("", "NIL");
    CHECK("   ", "NIL");
    CHECK("(only a comment)", "NIL");
}

static void test_groups(void **state)
{
    (void)state;
    /* RFC 5322 A.1.3 */
    CHECK("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
          "(NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")"
          "(NIL NIL \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" \"one.test\")"
          "(NIL NIL NIL NIL)");
    CHECK("undisclosed-recipients:;",
          "(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)");
    CHECK("Undisclosed recipients: ;",
          "(NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)");
    CHECK("g: a@b, c@d; e@f",
          "(NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")(NIL NIL NIL NIL)"
          "(NIL NIL \"e\" \"f\")");
    /* unterminated, nested (flattened), stray ';' */
    CHECK("g: a@b", "(NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL)");
    CHECK("g1: a@b, g2: c@d;;",
          "(NIL NIL \"g1\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")(NIL NIL NIL NIL)");
    CHECK("; a@b ;", "(NIL NIL \"a\" \"b\")");
    CHECK(":;", "(NIL NIL \"\" NIL)(NIL NIL NIL NIL)");
}

static void test_obsolete(void **state)
{
    (void)state;
    /* RFC 5322 A.5 and A.6 */
    CHECK("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
          "(\"Pete\" NIL \"pete\" \"silly.test\")");
    CHECK("Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
          "(\"Mary Smith\" \"@node.test\" \"mary\" \"example.net\")"
          "(NIL NIL \"jdoe\" \"test.example\")");
    CHECK("<@route1.example,@route2.example:joe@example.org>",
          "(NIL \"@route1.example,@route2.example\" \"joe\" \"example.org\")");
    CHECK("John Doe <jdoe@machine(comment).  example>",
          "(\"John Doe\" NIL \"jdoe\" \"machine.example\")");
    CHECK("Mary Smith\r\n  \r\n     <mary@example.net>",
          "(\"Mary Smith\" NIL \"mary\" \"example.net\")");
    CHECK("john . q . public @ example . com",
          "(NIL NIL \"john.q.public\" \"example.com\")");
    /* a comment stands in for a missing display name */
    CHECK("user@host (Real Name)", "(\"Real Name\" NIL \"user\" \"host\")");
    CHECK("(Real Name) user@host", "(\"Real Name\" NIL \"user\" \"host\")");
    CHECK("<user@host> (Real Name), b@c (B)",
          "(\"Real Name\" NIL \"user\" \"host\")(\"B\" NIL \"b\" \"c\")");
    CHECK("Name <user@host> (ignored)", "(\"Name\" NIL \"user\" \"host\")");
}

static void test_junk(void **state)
{
    (void)state;
    /* missing domain: host "" (NIL would mean a group) */
    CHECK("localonly", "(NIL NIL \"localonly\" \"\")");
    CHECK("<localonly>", "(NIL NIL \"localonly\" \"\")");
    CHECK("user@", "(NIL NIL \"user\" \"\")");
    CHECK("<>", "(NIL NIL \"\" \"\")");
    CHECK("Name <>", "(\"Name\" NIL \"\" \"\")");
    /* missing commas, missing angle brackets */
    CHECK("a@b c@d", "(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")");
    CHECK("<a@b> <c@d>", "(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")");
    CHECK("\"Name\" user@host", "(\"Name\" NIL \"user\" \"host\")");
    CHECK("John Doe jdoe@example.com", "(\"John Doe\" NIL \"jdoe\" \"example.com\")");
    CHECK("Name <a@b", "(\"Name\" NIL \"a\" \"b\")");
    CHECK("Name <a@b junk> c@d", "(\"Name\" NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")");
    /* unterminated quote and comment, stray specials */
    CHECK("\"unterminated <a@b>", "(NIL NIL \"unterminated <a@b>\" \"\")");
    CHECK("a@b (unterminated", "(\"unterminated\" NIL \"a\" \"b\")");
    CHECK(",,, a@b ,,,", "(NIL NIL \"a\" \"b\")");
    CHECK(">>> @@@ a@b", "(NIL NIL \"a\" \"b\")");
    CHECK("@example.com", "(NIL NIL \"example.com\" \"\")");
    CHECK("[", "(NIL NIL \"[\" \"\")");
    CHECK(")))", "NIL");
}

static void test_big(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    for (int i = 0; i < 20000; i++)
        buf_printf(&b, "\"User %d\" <user%d@example.com>, ", i, i);
    clock_t t0 = clock();
    unsigned n = 0;
    for (const struct mime_address *a = mime_address_parse(buf_cstr(&b), pool); a != NULL;
         a = a->next)
        n++;
    assert_int_equal(n, 10000);   /* MIME_MAX_ADDRESSES */
    /* a group cut by the limit still ends with its end marker */
    buf_reset(&b);
    buf_append_str(&b, "g: ");
    for (int i = 0; i < 20000; i++)
        buf_append_str(&b, "a@b, ");
    const struct mime_address *a = mime_address_parse(buf_cstr(&b), pool);
    assert_null(a->host);
    assert_string_equal(a->mailbox, "g");
    for (n = 1; a->next != NULL; a = a->next)
        n++;
    assert_int_equal(n, 10001);
    assert_null(a->mailbox);
    assert_null(a->host);
    /* pathological inputs are linear too */
    buf_reset(&b);
    for (int i = 0; i < 200000; i++)
        buf_append_str(&b, "<@a,");
    (void)mime_address_parse(buf_cstr(&b), pool);
    buf_reset(&b);
    for (int i = 0; i < 200000; i++)
        buf_append_str(&b, "a ");
    (void)mime_address_parse(buf_cstr(&b), pool);
    buf_reset(&b);
    for (int i = 0; i < 200000; i++)
        buf_append_str(&b, "g:");
    (void)mime_address_parse(buf_cstr(&b), pool);
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_obsolete),
        cmocka_unit_test(test_junk),
        cmocka_unit_test(test_big),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
