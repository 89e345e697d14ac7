/* test-mboxname.c - unit tests of mailbox naming (store/mboxname.c).
 *
 * Checks internal names and userids against the rules of mboxname.h (and a
 * long list of hostile names), the conversions between internal and
 * external names for the default namespace, unixhierarchysep and
 * virtdomains (with and without defaultdomain), and that every accepted
 * external name survives the round trip internal -> external -> internal.
 * Each configuration gets a store in a fresh temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "mboxname.h"
#include "store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    struct config *config;
    struct store *store;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The fixture open now, closed by the test or, when it fails half way,
 * by cleanup(). */
static struct fixture *open_fixture;

/* A store whose config is the temp dir lines plus extra. */
static void fixture_open(struct fixture *f, const char *extra)
{
    struct buf text = BUF_INIT;
    const char *error = NULL;

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test-mboxname.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    open_fixture = f;
    buf_printf(&text, "configdirectory: %s/config\npartition-default: %s/spool\n%s", f->dir,
               f->dir, extra);
    if (config_parse("test.conf", buf_cstr(&text), &f->config, &error) < 0)
        fail_msg("config_parse: %s", error);
    buf_free(&text);
    if (store_open(f->config, STORE_OPEN_CREATE, &f->store, &error) < 0)
        fail_msg("store_open: %s", error);
}

static void fixture_close(struct fixture *f)
{
    store_close(&f->store);
    config_free(&f->config);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    open_fixture = NULL;
}

static int cleanup(void **state)
{
    (void)state;
    if (open_fixture != NULL)
        fixture_close(open_fixture);
    return 0;
}

/* ---- internal names ---- */

static void test_check_valid(void **state)
{
    static const char *const good[] = {
        "user.test1", "user.test1.Sent", "user.test1.INBOX", "shared", "shared.folder",
        "example.com!user.test1", "example.com!shared.x", "localhost!user.a",
        "user.john^doe", "user.test1.a^b", "a b.c d", "Ünïcödé.ñandú", "user.test1.日本語",
        "user.x.a\"b", "shared.a@b", "user.test1.INBOXES", "INBOXES", "sub-domain.ex_1.org!a",
        "a!b",
    };
    const char *error = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (mboxname_check(good[i], &error) != 0)
            fail_msg("\"%s\" refused: %s", good[i], error);
    }
}

static void test_check_invalid(void **state)
{
    static const char *const bad[] = {
        "", "user", ".a", "a.", "a..b", "user..x", "a/b", "user.test1/..", "a*", "a%b",
        "a\001b", "a\tb", "a\x7f" "b", "a\xc2\x85" "b", "\xff", "a\xc0\xaf", "\xed\xa0\x80",
        "INBOX", "inbox", "Inbox.x", "Example.com!user.x", "!user.x", "a!b!c", "ex..com!user.x",
        "user.-x", "user.anyone", "user.anonymous", "user.^", "user.^^", "a.^^.b", "a.^",
        "user.a@b", "user.a!b.c!d", "Example!a", "example.com!user", "example.com!", "user.a b",
        "a!b.c!d",
        ".", "..", "user.x.", "x.com!.a",
    };
    const char *error = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        error = NULL;
        if (mboxname_check(bad[i], &error) != STORE_ERR_BADNAME)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_non_null(error);
    }
}

static void test_check_length(void **state)
{
    char name[MBOXNAME_MAX + 2];
    const char *error;

    (void)state;
    memset(name, 'a', sizeof(name));
    memcpy(name, "shared.", 7);
    name[MBOXNAME_MAX] = '\0';
    assert_int_equal(mboxname_check(name, &error), 0);
    name[MBOXNAME_MAX] = 'a';
    name[MBOXNAME_MAX + 1] = '\0';
    assert_int_equal(mboxname_check(name, &error), STORE_ERR_BADNAME);
}

static void test_check_userid(void **state)
{
    static const char *const good[] = {
        "test1", "test1@example.com", "john.doe", "Test1@Example.COM", "a+b", "o'neil",
        "ünï", "x_y-z", "1",
    };
    static const char *const bad[] = {
        "", "a b", "a@b@c", "a@", "@b", "a^b", "anyone", "anonymous", "-x", ".", "..", "a/b",
        "a!b", "a\tb", "a*", "a%", "a:b", "a,b", "a(b", "x@bad..dom", "x@-/", "\xff",
        "a\"b", "a\\b",
    };
    char longid[MBOXNAME_USERID_MAX + 2];
    const char *error;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (mboxname_check_userid(good[i], &error) != 0)
            fail_msg("\"%s\" refused: %s", good[i], error);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mboxname_check_userid(bad[i], &error) != STORE_ERR_BADNAME)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    assert_int_equal(mboxname_check_userid(NULL, &error), STORE_ERR_BADNAME);
    memset(longid, 'u', sizeof(longid));
    longid[MBOXNAME_USERID_MAX] = '\0';
    assert_int_equal(mboxname_check_userid(longid, &error), 0);
    longid[MBOXNAME_USERID_MAX] = 'u';
    longid[MBOXNAME_USERID_MAX + 1] = '\0';
    assert_int_equal(mboxname_check_userid(longid, &error), STORE_ERR_BADNAME);
}

static void test_user_inbox(void **state)
{
    struct buf b = BUF_INIT;
    const char *error;

    (void)state;
    assert_int_equal(mboxname_user_inbox("test1", &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "user.test1");
    assert_int_equal(mboxname_user_inbox("test1@Example.COM", &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "example.com!user.test1");
    assert_int_equal(mboxname_user_inbox("john.doe", &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "user.john^doe");
    assert_int_equal(mboxname_user_inbox("a b", &b, &error), STORE_ERR_BADNAME);
    assert_int_equal(b.len, 0);
    assert_int_equal(mboxname_user_inbox("anyone", &b, &error), STORE_ERR_BADNAME);
    buf_free(&b);
}

static void test_owner_and_parts(void **state)
{
    struct buf b = BUF_INIT;
    size_t len;
    const char *d;

    (void)state;
    assert_true(mboxname_owner("user.test1.Sent", &b));
    assert_string_equal(buf_cstr(&b), "test1");
    assert_true(mboxname_owner("user.test1", &b));
    assert_string_equal(buf_cstr(&b), "test1");
    assert_true(mboxname_owner("example.com!user.test1.a.b", &b));
    assert_string_equal(buf_cstr(&b), "test1@example.com");
    assert_true(mboxname_owner("user.john^doe.x", &b));
    assert_string_equal(buf_cstr(&b), "john.doe");
    assert_false(mboxname_owner("shared.x", &b));
    assert_int_equal(b.len, 0);
    assert_false(mboxname_owner("example.com!shared", &b));
    assert_false(mboxname_owner("users.x", &b));

    assert_true(mboxname_is_user_inbox("user.test1"));
    assert_true(mboxname_is_user_inbox("example.com!user.test1"));
    assert_false(mboxname_is_user_inbox("user.test1.Sent"));
    assert_false(mboxname_is_user_inbox("shared"));
    assert_false(mboxname_is_user_inbox("shared.user"));

    d = mboxname_domain("example.com!user.x", &len);
    assert_int_equal(len, 11);
    assert_memory_equal(d, "example.com", 11);
    d = mboxname_domain("user.x", &len);
    assert_int_equal(len, 0);
    assert_string_equal(d, "");
    assert_string_equal(mboxname_local("example.com!user.x"), "user.x");
    assert_string_equal(mboxname_local("user.x"), "user.x");

    assert_true(mboxname_parent("user.test1.Sent", &b));
    assert_string_equal(buf_cstr(&b), "user.test1");
    assert_true(mboxname_parent("user.test1.a.b", &b));
    assert_string_equal(buf_cstr(&b), "user.test1.a");
    assert_false(mboxname_parent("user.test1", &b));
    assert_false(mboxname_parent("shared", &b));
    assert_true(mboxname_parent("example.com!shared.x", &b));
    assert_string_equal(buf_cstr(&b), "example.com!shared");
    assert_false(mboxname_parent("example.com!shared", &b));
    assert_false(mboxname_parent("example.com!user.x", &b));
    buf_free(&b);
}

/* ---- conversions ---- */

struct conv {
    const char *userid;
    const char *from;
    const char *to;   /* NULL: STORE_ERR_BADNAME expected */
};

static void run_from_external(struct store *store, const struct conv *c, size_t n)
{
    struct buf b = BUF_INIT;
    const char *error = NULL;

    for (size_t i = 0; i < n; i++) {
        int ret = mboxname_from_external(store, c[i].userid, c[i].from, &b, &error);
        if (c[i].to == NULL) {
            if (ret != STORE_ERR_BADNAME)
                fail_msg("%s: \"%s\" accepted as \"%s\"", c[i].userid ? c[i].userid : "(none)",
                         c[i].from, buf_cstr(&b));
            assert_int_equal(b.len, 0);
        } else {
            if (ret != 0)
                fail_msg("%s: \"%s\" refused: %s", c[i].userid ? c[i].userid : "(none)",
                         c[i].from, error);
            if (strcmp(buf_cstr(&b), c[i].to) != 0)
                fail_msg("%s: \"%s\" gave \"%s\", expected \"%s\"",
                         c[i].userid ? c[i].userid : "(none)", c[i].from, buf_cstr(&b),
                         c[i].to);
        }
    }
    buf_free(&b);
}

static void run_to_external(struct store *store, const struct conv *c, size_t n)
{
    struct buf b = BUF_INIT;
    const char *error = NULL;

    for (size_t i = 0; i < n; i++) {
        int ret = mboxname_to_external(store, c[i].userid, c[i].from, &b, &error);
        if (c[i].to == NULL) {
            if (ret != STORE_ERR_BADNAME)
                fail_msg("%s: \"%s\" shown as \"%s\"", c[i].userid ? c[i].userid : "(none)",
                         c[i].from, buf_cstr(&b));
        } else {
            if (ret != 0)
                fail_msg("%s: \"%s\" refused: %s", c[i].userid ? c[i].userid : "(none)",
                         c[i].from, error);
            if (strcmp(buf_cstr(&b), c[i].to) != 0)
                fail_msg("%s: \"%s\" shown as \"%s\", expected \"%s\"",
                         c[i].userid ? c[i].userid : "(none)", c[i].from, buf_cstr(&b),
                         c[i].to);
        }
    }
    buf_free(&b);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_default_namespace(void **state)
{
    static const struct conv from[] = {
        { "test1", "INBOX", "user.test1" },
        { "test1", "inbox", "user.test1" },
        { "test1", "InBoX", "user.test1" },
        { "test1", "INBOX.Sent", "user.test1.Sent" },
        { "test1", "inbox.Sent", "user.test1.Sent" },
        { "test1", "INBOX.inbox", "user.test1.inbox" },
        { "test1", "INBOX.a^b", "user.test1.a^b" },
        { "test1", "INBOX.Ünï", "user.test1.Ünï" },
        { "test1", "user.test1", "user.test1" },
        { "test1", "user.test1.Sent", "user.test1.Sent" },
        { "test1", "user.bob", "user.bob" },
        { "test1", "user.bob.Sent", "user.bob.Sent" },
        { "test1", "shared.folder", "shared.folder" },
        { "test1", "shared", "shared" },
        { "test1", "INBOXES", "INBOXES" },
        { "test1", "a@b", "a@b" },
        { NULL, "user.bob", "user.bob" },
        { NULL, "shared.x", "shared.x" },
        { NULL, "INBOX", NULL },
        { NULL, "inbox.x", NULL },
        { "test1", "INBOX/Sent", NULL },
        { "test1", "INBOX.", NULL },
        { "test1", ".INBOX", NULL },
        { "test1", "INBOX..x", NULL },
        { "test1", "", NULL },
        { "test1", ".", NULL },
        { "test1", "..", NULL },
        { "test1", "a*b", NULL },
        { "test1", "a%", NULL },
        { "test1", "INBOX.a\r\nb", NULL },
        { "test1", "INBOX.\x01", NULL },
        { "test1", "INBOX.\xc3", NULL },
        { "test1", "user", NULL },
        { "test1", "user.", NULL },
        { "test1", "user.anyone", NULL },
        { "test1", "user.-x", NULL },
        { "test1", "a!b", NULL },
        { "test1", "x.com!user.a", NULL },
        { "test1", "user.a!b", NULL },
        { NULL, "example.com!user.a", NULL },
        { "test1@example.com", "INBOX", NULL },   /* virtdomains off */
        { "a b", "INBOX", NULL },
    };
    static const struct conv to[] = {
        { "test1", "user.test1", "INBOX" },
        { "test1", "user.test1.Sent", "INBOX.Sent" },
        { "test1", "user.test1.a.b", "INBOX.a.b" },
        { "test1", "user.test1.a^b", "INBOX.a^b" },
        { "test1", "user.test10", "user.test10" },
        { "test1", "user.test1x.Sent", "user.test1x.Sent" },
        { "test1", "user.bob", "user.bob" },
        { "test1", "shared.x", "shared.x" },
        { NULL, "user.test1", "user.test1" },
        { NULL, "example.com!user.bob", "user.bob@example.com" },
        { "test1", "user..x", NULL },
        { "test1", "INBOX", NULL },
        { "test1", "a/b", NULL },
    };
    struct fixture f;

    (void)state;
    fixture_open(&f, "");
    assert_int_equal(mboxname_separator(f.store), '.');
    run_from_external(f.store, from, N(from));
    run_to_external(f.store, to, N(to));
    fixture_close(&f);
}

static void test_unixhierarchysep(void **state)
{
    static const struct conv from[] = {
        { "test1", "INBOX", "user.test1" },
        { "test1", "Inbox/Sent", "user.test1.Sent" },
        { "test1", "INBOX/a.b", "user.test1.a^b" },
        { "test1", "INBOX/a.b/c", "user.test1.a^b.c" },
        { "test1", "user/bob", "user.bob" },
        { "test1", "user/john.doe/Sent", "user.john^doe.Sent" },
        { "test1", "shared/folder", "shared.folder" },
        { "test1", "INBOX.Sent", "INBOX^Sent" },   /* a top-level shared name */
        { "john.doe", "INBOX", "user.john^doe" },
        { "john.doe", "INBOX/x", "user.john^doe.x" },
        { "test1", "INBOX/./x", NULL },
        { "test1", "INBOX/../x", NULL },
        { "test1", "INBOX/.", NULL },
        { "test1", "INBOX/..", NULL },
        { "test1", "../x", NULL },
        { "test1", "INBOX/a^b", NULL },
        { "test1", "INBOX//x", NULL },
        { "test1", "/INBOX", NULL },
        { "test1", "INBOX/", NULL },
        { "test1", "/", NULL },
        { "test1", "user/.", NULL },
        { "test1", "user/..", NULL },
    };
    static const struct conv to[] = {
        { "test1", "user.test1", "INBOX" },
        { "test1", "user.test1.Sent", "INBOX/Sent" },
        { "test1", "user.test1.a^b.c", "INBOX/a.b/c" },
        { "test1", "user.john^doe.Sent", "user/john.doe/Sent" },
        { "john.doe", "user.john^doe.Sent", "INBOX/Sent" },
        { "test1", "INBOX^Sent", "INBOX.Sent" },
        { "test1", "shared.a.b", "shared/a/b" },
    };
    struct fixture f;

    (void)state;
    fixture_open(&f, "unixhierarchysep: yes\n");
    assert_int_equal(mboxname_separator(f.store), '/');
    run_from_external(f.store, from, N(from));
    run_to_external(f.store, to, N(to));
    fixture_close(&f);
}

static void test_virtdomains(void **state)
{
    static const struct conv from[] = {
        { "test1@example.com", "INBOX", "example.com!user.test1" },
        { "test1@Example.COM", "INBOX", "example.com!user.test1" },
        { "test1@example.com", "INBOX.Sent", "example.com!user.test1.Sent" },
        { "test1@example.com", "user.bob", "example.com!user.bob" },
        { "test1@example.com", "shared.x", "example.com!shared.x" },
        { "test1@example.com", "user.bob@other.net", "other.net!user.bob" },
        { "test1@example.com", "user.bob@OTHER.net", "other.net!user.bob" },
        { "test1@example.com", "user.bob@example.org", "user.bob" },   /* defaultdomain */
        { "test1@example.com", "INBOX@example.com", "example.com!user.test1" },
        { "test1@example.com", "INBOX.x@example.com", "example.com!user.test1.x" },
        { "test1@EXAMPLE.ORG", "INBOX", "user.test1" },
        { "test1@example.org", "INBOX.Sent", "user.test1.Sent" },
        { "test1", "INBOX", "user.test1" },
        { "test1", "user.bob@example.com", "example.com!user.bob" },
        { NULL, "user.bob@example.com", "example.com!user.bob" },
        { NULL, "user.bob", "user.bob" },
        { "test1@example.com", "INBOX@other.net", NULL },
        { "test1@example.com", "a@b@c", NULL },
        { "test1@example.com", "x@", NULL },
        { "test1@example.com", "@example.com", NULL },
        { "test1@example.com", "x@bad..dom", NULL },
        { "test1@example.com", "x@a/b", NULL },
        { "test1@example.com", "INBOX.a@b.x@c", NULL },
        { "a@b@c", "INBOX", NULL },
    };
    static const struct conv to[] = {
        { "test1@example.com", "example.com!user.test1", "INBOX" },
        { "test1@example.com", "example.com!user.test1.Sent", "INBOX.Sent" },
        { "test1@example.com", "example.com!user.bob", "user.bob" },
        { "test1@example.com", "example.com!shared", "shared" },
        { "test1@example.com", "other.net!user.bob", "user.bob@other.net" },
        { "test1@example.com", "user.bob", "user.bob@example.org" },
        { "test1@example.org", "user.test1", "INBOX" },
        { "test1", "user.test1.x", "INBOX.x" },
        { "test1", "example.com!user.test1", "user.test1@example.com" },
        { NULL, "example.com!user.bob.x", "user.bob.x@example.com" },
        { NULL, "user.bob", "user.bob" },
    };
    struct fixture f;

    (void)state;
    fixture_open(&f, "virtdomains: userid\ndefaultdomain: example.org\n");
    run_from_external(f.store, from, N(from));
    run_to_external(f.store, to, N(to));
    fixture_close(&f);
}

static void test_virtdomains_no_defaultdomain(void **state)
{
    static const struct conv to[] = {
        { "test1@example.com", "user.bob", NULL },   /* unreachable from the user's domain */
        { "test1@example.com", "example.com!user.bob", "user/bob" },
        { "test1", "user.bob", "user/bob" },
    };
    static const struct conv from[] = {
        { "test1@example.com", "user/bob", "example.com!user.bob" },
        { "test1", "user/bob", "user.bob" },
        { "test1", "example.com!user/bob", NULL },
        { "test1", "user/bob@example.com", "example.com!user.bob" },
    };
    struct fixture f;

    (void)state;
    fixture_open(&f, "virtdomains: on\nunixhierarchysep: yes\n");
    run_to_external(f.store, to, N(to));
    run_from_external(f.store, from, N(from));
    fixture_close(&f);
}

static void test_userid_canon(void **state)
{
    struct fixture f;
    struct buf b = BUF_INIT;
    const char *error;

    (void)state;
    fixture_open(&f, "defaultdomain: example.org\n");
    assert_int_equal(mboxname_userid_canon(f.store, "test1", &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "test1");
    assert_int_equal(mboxname_userid_canon(f.store, "test1@Example.ORG", &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "test1");
    assert_int_equal(mboxname_userid_canon(f.store, "test1@other.net", &b, &error),
                     STORE_ERR_BADNAME);
    assert_int_equal(b.len, 0);
    assert_int_equal(mboxname_userid_canon(f.store, "", &b, &error), STORE_ERR_BADNAME);
    assert_int_equal(mboxname_userid_canon(f.store, NULL, &b, &error), STORE_ERR_BADNAME);
    fixture_close(&f);

    fixture_open(&f, "virtdomains: userid\n");
    assert_int_equal(mboxname_userid_canon(f.store, "Test1@Other.NET", &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "Test1@other.net");
    assert_int_equal(mboxname_userid_canon(f.store, "t@x@y", &b, &error), STORE_ERR_BADNAME);
    fixture_close(&f);
    buf_free(&b);
}

/* Every internal name shown to a user reads back as itself. */
static void test_round_trip(void **state)
{
    static const char *const configs[] = {
        "",
        "unixhierarchysep: yes\n",
        "virtdomains: userid\ndefaultdomain: example.org\n",
        "virtdomains: userid\nunixhierarchysep: yes\ndefaultdomain: example.org\n",
    };
    static const char *const users[] = {
        NULL, "test1", "bob", "john.doe", "test1@example.org", "test1@example.com",
    };
    static const char *const names[] = {
        "user.test1", "user.test1.Sent", "user.test1.a^b.c", "user.bob", "user.john^doe",
        "user.john^doe.x.y", "shared", "shared.a b", "shared.Ünï.日本", "INBOXES", "INBOX^x",
        "example.com!user.test1", "example.com!user.test1.Sent", "example.com!shared.x",
        "other.net!user.bob.Trash",
    };
    struct buf ext = BUF_INIT, back = BUF_INIT;
    const char *error;

    (void)state;
    for (size_t c = 0; c < N(configs); c++) {
        struct fixture f;
        fixture_open(&f, configs[c]);
        bool vd = strstr(configs[c], "virtdomains") != NULL;
        for (size_t u = 0; u < N(users); u++) {
            if (!vd && users[u] != NULL && strchr(users[u], '@') != NULL &&
                strstr(users[u], "example.org") == NULL)
                continue;
            if (!vd && users[u] != NULL && strstr(users[u], "example.org") != NULL)
                continue;
            for (size_t n = 0; n < N(names); n++) {
                if (!vd && strchr(names[n], '!') != NULL)
                    continue;
                int ret = mboxname_to_external(f.store, users[u], names[n], &ext, &error);
                if (ret != 0)
                    fail_msg("config %zu, %s: to_external(%s): %s", c,
                             users[u] ? users[u] : "(none)", names[n], error);
                ret = mboxname_from_external(f.store, users[u], buf_cstr(&ext), &back, &error);
                if (ret != 0 || strcmp(buf_cstr(&back), names[n]) != 0)
                    fail_msg("config %zu, %s: %s -> %s -> %s (%s)", c,
                             users[u] ? users[u] : "(none)", names[n], buf_cstr(&ext),
                             buf_cstr(&back), ret != 0 ? error : "wrong name");
            }
        }
        fixture_close(&f);
    }
    buf_free(&ext);
    buf_free(&back);
}

/* Random hostile names: no crash, anything accepted is a valid internal
 * name that reads back the same way. */
static void test_hostile_random(void **state)
{
    static const char *const pieces[] = {
        "INBOX", "inbox", "user", "a", "Bob", ".", "/", "^", "@", "!", "*", "%", "\001", "\x7f",
        "\xc3\xa9", "\xff", "\xc2\x85", "..", "example.com", " ", "\"", "anyone", "-",
    };
    static const char *const configs[] = {
        "", "unixhierarchysep: yes\n", "virtdomains: userid\ndefaultdomain: example.org\n",
    };
    struct buf name = BUF_INIT, in = BUF_INIT, ext = BUF_INIT, back = BUF_INIT;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    const char *error;

    (void)state;
    for (size_t c = 0; c < N(configs); c++) {
        struct fixture f;
        fixture_open(&f, configs[c]);
        for (int i = 0; i < 20000; i++) {
            buf_reset(&name);
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            unsigned n = 1 + (unsigned)(seed % 8);
            for (unsigned k = 0; k < n; k++)
                buf_append_str(&name, pieces[(seed >> (8 + 5 * k)) % N(pieces)]);
            const char *user = (seed >> 60) % 2 ? "test1" : NULL;
            if (mboxname_from_external(f.store, user, buf_cstr(&name), &in, &error) != 0) {
                assert_int_equal(in.len, 0);
                continue;
            }
            if (mboxname_check(buf_cstr(&in), &error) != 0)
                fail_msg("\"%s\" gave invalid \"%s\"", buf_cstr(&name), buf_cstr(&in));
            if (mboxname_to_external(f.store, user, buf_cstr(&in), &ext, &error) != 0)
                fail_msg("\"%s\" -> \"%s\" cannot be shown: %s", buf_cstr(&name),
                         buf_cstr(&in), error);
            if (mboxname_from_external(f.store, user, buf_cstr(&ext), &back, &error) != 0 ||
                !buf_equals_str(&back, buf_cstr(&in)))
                fail_msg("\"%s\" -> \"%s\" -> \"%s\" -> \"%s\"", buf_cstr(&name),
                         buf_cstr(&in), buf_cstr(&ext), buf_cstr(&back));
        }
        fixture_close(&f);
    }
    buf_free(&name);
    buf_free(&in);
    buf_free(&ext);
    buf_free(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_check_valid, cleanup),
        cmocka_unit_test_teardown(test_check_invalid, cleanup),
        cmocka_unit_test_teardown(test_check_length, cleanup),
        cmocka_unit_test_teardown(test_check_userid, cleanup),
        cmocka_unit_test_teardown(test_user_inbox, cleanup),
        cmocka_unit_test_teardown(test_owner_and_parts, cleanup),
        cmocka_unit_test_teardown(test_default_namespace, cleanup),
        cmocka_unit_test_teardown(test_unixhierarchysep, cleanup),
        cmocka_unit_test_teardown(test_virtdomains, cleanup),
        cmocka_unit_test_teardown(test_virtdomains_no_defaultdomain, cleanup),
        cmocka_unit_test_teardown(test_userid_canon, cleanup),
        cmocka_unit_test_teardown(test_round_trip, cleanup),
        cmocka_unit_test_teardown(test_hostile_random, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
