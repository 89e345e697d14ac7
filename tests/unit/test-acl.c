/* test-acl.c - unit tests of access control lists (store/acl.c).
 *
 * One test per rule: rights letters (with the obsolete "c" and "d"), the
 * canonical text, acl_modify's "+", "-" and replace forms, damaged ACL
 * text, "anyone", "anonymous", negative rights, admins from the config and
 * the owner's implicit rights. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "acl.h"
#include "buf.h"
#include "config.h"
#include "store.h"
#include "test-store-fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return fixture_setup(state, "test-acl", NULL, "admins: cyrus  admin2\n");
}

static int teardown(void **state)
{
    return fixture_teardown(state);
}

static void test_rights_parse(void **state)
{
    uint32_t m;

    (void)state;
    assert_int_equal(acl_rights_parse("lrswipkxtea", &m), 0);
    assert_int_equal(m, ACL_ALL);
    assert_int_equal(acl_rights_parse("", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(acl_rights_parse("l", &m), 0);
    assert_int_equal(m, ACL_LOOKUP);
    assert_int_equal(acl_rights_parse("ae", &m), 0);
    assert_int_equal(m, ACL_ADMIN | ACL_EXPUNGE);
    /* RFC 4314 section 2.1.1: "c" is "k" and "x", "d" is "t" and "e". */
    assert_int_equal(acl_rights_parse("c", &m), 0);
    assert_int_equal(m, ACL_CREATE | ACL_DELETEMBOX);
    assert_int_equal(acl_rights_parse("d", &m), 0);
    assert_int_equal(m, ACL_DELETEMSG | ACL_EXPUNGE);
    assert_int_equal(acl_rights_parse("lrswicda", &m), 0);
    assert_int_equal(m, ACL_ALL & ~ACL_POST);
    /* Unknown letters, upper case, digits, spaces. */
    assert_int_equal(acl_rights_parse("lrq", &m), -1);
    assert_int_equal(acl_rights_parse("L", &m), -1);
    assert_int_equal(acl_rights_parse("0", &m), -1);
    assert_int_equal(acl_rights_parse("l r", &m), -1);
}

static void test_rights_format(void **state)
{
    char out[16];

    (void)state;
    acl_rights_format(ACL_ALL, out, sizeof(out));
    assert_string_equal(out, "lrswipkxtea");
    acl_rights_format(0, out, sizeof(out));
    assert_string_equal(out, "");
    acl_rights_format(ACL_ADMIN | ACL_LOOKUP | ACL_READ, out, sizeof(out));
    assert_string_equal(out, "lra");
    /* Bits outside ACL_ALL are ignored; a short buffer truncates. */
    acl_rights_format(0xffffffffu, out, sizeof(out));
    assert_string_equal(out, "lrswipkxtea");
    acl_rights_format(ACL_ALL, out, 4);
    assert_string_equal(out, "lrs");
    out[0] = 'z';
    acl_rights_format(ACL_ALL, out, 0);
    assert_int_equal(out[0], 'z');
}

static void test_modify(void **state)
{
    struct buf acl = BUF_INIT, out = BUF_INIT;
    const char *error;

    (void)state;
    assert_int_equal(acl_modify("", "bob", "lr", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "bob\tlr\t");
    buf_append_str(&acl, "anyone\tlr\tbob\tlr\t");
    /* "+" adds, keeping the entry's place. */
    assert_int_equal(acl_modify(buf_cstr(&acl), "bob", "+sw", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "anyone\tlr\tbob\tlrsw\t");
    /* "-" removes. */
    assert_int_equal(acl_modify(buf_cstr(&acl), "anyone", "-r", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "anyone\tl\tbob\tlr\t");
    /* A bare list replaces, in canonical order, obsolete letters mapped. */
    assert_int_equal(acl_modify(buf_cstr(&acl), "bob", "acd", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "anyone\tlr\tbob\tkxtea\t");
    /* "" or removing every right drops the identifier. */
    assert_int_equal(acl_modify(buf_cstr(&acl), "bob", "", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "anyone\tlr\t");
    assert_int_equal(acl_modify(buf_cstr(&acl), "bob", "-lr", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "anyone\tlr\t");
    /* "-" on a missing identifier: nothing to add. */
    assert_int_equal(acl_modify(buf_cstr(&acl), "carol", "-lr", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), buf_cstr(&acl));
    /* New identifiers go to the end; negative identifiers are fine. */
    assert_int_equal(acl_modify(buf_cstr(&acl), "-carol", "+w", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "anyone\tlr\tbob\tlr\t-carol\tw\t");
    /* Duplicated entries collapse into the first. */
    assert_int_equal(acl_modify("bob\tl\tx\tr\tbob\tr\t", "bob", "+s", &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "bob\tlrs\tx\tr\t");
    /* Refusals. */
    assert_int_equal(acl_modify(buf_cstr(&acl), "bob", "+lq", &out, &error), -1);
    assert_non_null(error);
    assert_int_equal(acl_modify(buf_cstr(&acl), "", "lr", &out, &error), -1);
    assert_int_equal(acl_modify(buf_cstr(&acl), "-", "lr", &out, &error), -1);
    assert_int_equal(acl_modify(buf_cstr(&acl), "a\tb", "lr", &out, &error), -1);
    assert_int_equal(acl_modify(buf_cstr(&acl), "a b", "lr", &out, &error), -1);
    assert_int_equal(acl_modify(buf_cstr(&acl), "a\nb", "lr", &out, &error), -1);
    buf_free(&acl);
    buf_free(&out);
}

static void test_remove(void **state)
{
    struct buf out = BUF_INIT;

    (void)state;
    assert_int_equal(acl_remove("anyone\tlr\tbob\tlr\t", "bob", &out), 1);
    assert_string_equal(buf_cstr(&out), "anyone\tlr\t");
    assert_int_equal(acl_remove("anyone\tlr\tbob\tlr\t", "bo", &out), 0);
    assert_string_equal(buf_cstr(&out), "anyone\tlr\tbob\tlr\t");
    assert_int_equal(acl_remove("", "bob", &out), 0);
    assert_string_equal(buf_cstr(&out), "");
    buf_free(&out);
}

struct collected {
    char text[256];
    int stop_after;
    int seen;
};

static int collect_cb(const char *identifier, uint32_t rights, void *ctx)
{
    struct collected *c = ctx;
    char r[16];
    size_t len = strlen(c->text);

    acl_rights_format(rights, r, sizeof(r));
    snprintf(c->text + len, sizeof(c->text) - len, "%s=%s;", identifier, r);
    return ++c->seen == c->stop_after ? 7 : 0;
}

static void test_foreach_and_damage(void **state)
{
    struct collected c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(acl_foreach("anyone\tlr\t-bob\tw\tbob\tlrswipkxtea\t", collect_cb, &c), 0);
    assert_string_equal(c.text, "anyone=lr;-bob=w;bob=lrswipkxtea;");
    /* The callback's non-zero value stops the walk and is returned. */
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    assert_int_equal(acl_foreach("a\tl\tb\tr\t", collect_cb, &c), 7);
    assert_string_equal(c.text, "a=l;");
    /* Damaged text: missing final tab, empty identifiers, an identifier
     * without rights, unknown letters (a Cyrus ACL may have its own). */
    memset(&c, 0, sizeof(c));
    assert_int_equal(acl_foreach("a\tlr", collect_cb, &c), 0);
    assert_string_equal(c.text, "a=lr;");
    memset(&c, 0, sizeof(c));
    assert_int_equal(acl_foreach("\tlr\t\t\tb\tr\tdangling", collect_cb, &c), 0);
    assert_string_equal(c.text, "b=r;");
    memset(&c, 0, sizeof(c));
    assert_int_equal(acl_foreach("a\tlrz9\tb\t\t", collect_cb, &c), 0);
    assert_string_equal(c.text, "a=lr;b=;");
    memset(&c, 0, sizeof(c));
    assert_int_equal(acl_foreach("", collect_cb, &c), 0);
    assert_int_equal(acl_foreach("\t\t\t", collect_cb, &c), 0);
    assert_int_equal(c.seen, 0);
}

static void test_anyone_and_user(void **state)
{
    struct fixture *f = *state;
    const char *acl = "anyone\tlr\tbob\tlrsw\tcarol\ti\t";

    assert_int_equal(acl_rights(f->store, acl, "shared.x", "bob"),
                     ACL_LOOKUP | ACL_READ | ACL_SEEN | ACL_WRITE);
    assert_int_equal(acl_rights(f->store, acl, "shared.x", "carol"),
                     ACL_LOOKUP | ACL_READ | ACL_INSERT);
    assert_int_equal(acl_rights(f->store, acl, "shared.x", "dave"), ACL_LOOKUP | ACL_READ);
    /* Identifiers match exactly: "bobby" is not "bob". */
    assert_int_equal(acl_rights(f->store, acl, "shared.x", "bobby"), ACL_LOOKUP | ACL_READ);
    assert_int_equal(acl_rights(f->store, acl, "shared.x", "bo"), ACL_LOOKUP | ACL_READ);
    assert_int_equal(acl_rights(f->store, "", "shared.x", "bob"), 0);
    assert_int_equal(acl_rights(f->store, NULL, "shared.x", "bob"), 0);
    assert_true(acl_may(f->store, acl, "shared.x", "bob", ACL_READ | ACL_WRITE));
    assert_false(acl_may(f->store, acl, "shared.x", "bob", ACL_READ | ACL_INSERT));
    assert_true(acl_may(f->store, acl, "shared.x", "bob", 0));
}

static void test_anonymous(void **state)
{
    struct fixture *f = *state;
    const char *acl = "anyone\tl\tanonymous\tr\tbob\tw\t";

    /* The anonymous session gets "anyone" and "anonymous". */
    assert_int_equal(acl_rights(f->store, acl, "shared.x", NULL), ACL_LOOKUP | ACL_READ);
    assert_int_equal(acl_rights(f->store, acl, "shared.x", ""), ACL_LOOKUP | ACL_READ);
    /* A logged-in user is not "anonymous". */
    assert_int_equal(acl_rights(f->store, acl, "shared.x", "bob"), ACL_LOOKUP | ACL_WRITE);
    assert_int_equal(acl_rights(f->store, acl, "shared.x", "dave"), ACL_LOOKUP);
    /* "-anonymous" takes from anonymous only; "-anyone" from everybody. */
    assert_int_equal(acl_rights(f->store, "anyone\tlr\t-anonymous\tr\t", "shared.x", NULL),
                     ACL_LOOKUP);
    assert_int_equal(acl_rights(f->store, "anyone\tlr\t-anonymous\tr\t", "shared.x", "bob"),
                     ACL_LOOKUP | ACL_READ);
    /* Anonymous never owns anything. */
    assert_int_equal(acl_rights(f->store, "", "user.anonymous", NULL), 0);
}

static void test_negative(void **state)
{
    struct fixture *f = *state;

    /* Negative rights remove from the union, whatever the order. */
    assert_int_equal(acl_rights(f->store, "-bob\tw\tanyone\tlrw\tbob\ts\t", "shared.x", "bob"),
                     ACL_LOOKUP | ACL_READ | ACL_SEEN);
    assert_int_equal(acl_rights(f->store, "anyone\tlrw\t-anyone\tw\t", "shared.x", "bob"),
                     ACL_LOOKUP | ACL_READ);
    assert_int_equal(acl_rights(f->store, "bob\tlrswipkxtea\t-bob\tlrswipkxtea\t", "shared.x",
                                "bob"),
                     0);
    /* "-bob" does not touch "bobby". */
    assert_int_equal(acl_rights(f->store, "anyone\tlr\t-bob\tr\t", "shared.x", "bobby"),
                     ACL_LOOKUP | ACL_READ);
}

static void test_admins(void **state)
{
    struct fixture *f = *state;

    assert_true(store_is_admin(f->store, "cyrus"));
    assert_true(store_is_admin(f->store, "admin2"));
    assert_false(store_is_admin(f->store, "cyru"));
    assert_false(store_is_admin(f->store, NULL));
    assert_false(store_is_admin(f->store, ""));
    /* Admins have everything, even against negative entries. */
    assert_int_equal(acl_rights(f->store, "", "user.bob", "cyrus"), ACL_ALL);
    assert_int_equal(acl_rights(f->store, "-cyrus\tlrswipkxtea\t-anyone\tlrswipkxtea\t",
                                "shared.x", "admin2"),
                     ACL_ALL);
    /* Without a store nobody is an admin. */
    assert_int_equal(acl_rights(NULL, "", "shared.x", "cyrus"), 0);
}

static void test_owner(void **state)
{
    struct fixture *f = *state;
    const char *lockout = "-bob\tlrswipkxtea\t";

    /* The owner can never lose lookup, create, delete and admin. */
    assert_int_equal(acl_rights(f->store, lockout, "user.bob", "bob"), ACL_OWNER_IMPLICIT);
    assert_int_equal(acl_rights(f->store, lockout, "user.bob.Sent.2024", "bob"),
                     ACL_OWNER_IMPLICIT);
    assert_int_equal(acl_rights(f->store, "", "user.bob", "bob"), ACL_OWNER_IMPLICIT);
    assert_int_equal(acl_rights(f->store, "bob\tlrswipkxtea\t", "user.bob", "bob"), ACL_ALL);
    assert_true(acl_may(f->store, "", "user.bob.x", "bob", ACL_ADMIN | ACL_LOOKUP));
    assert_false(acl_may(f->store, "", "user.bob.x", "bob", ACL_READ));
    /* Not another user's, nor a shared mailbox, nor a prefix of the name. */
    assert_int_equal(acl_rights(f->store, "", "user.bobby", "bob"), 0);
    assert_int_equal(acl_rights(f->store, "", "user.bob", "bobby"), 0);
    assert_int_equal(acl_rights(f->store, "", "shared.bob", "bob"), 0);
    assert_int_equal(acl_rights(f->store, "", "user.alice", "bob"), 0);
    /* Domains: the owner is the full userid. */
    assert_int_equal(acl_rights(f->store, "", "example.com!user.bob", "bob@example.com"),
                     ACL_OWNER_IMPLICIT);
    assert_int_equal(acl_rights(f->store, "", "example.com!user.bob", "bob"), 0);
    assert_int_equal(acl_rights(f->store, "", "user.bob", "bob@example.com"), 0);
    /* A '.' in the userid is '^' in the name. */
    assert_int_equal(acl_rights(f->store, "", "user.john^doe.x", "john.doe"),
                     ACL_OWNER_IMPLICIT);
    /* No name: no owner. */
    assert_int_equal(acl_rights(f->store, "", NULL, "bob"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rights_parse),
        cmocka_unit_test(test_rights_format),
        cmocka_unit_test(test_modify),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_foreach_and_damage),
        cmocka_unit_test_setup_teardown(test_anyone_and_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anonymous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
