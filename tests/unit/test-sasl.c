/* test-sasl.c - saslserver and saslclient against the real libsasl2.
 *
 * A sasldb2 is made in a temporary directory with Debian's saslpasswd2,
 * then full exchanges run between saslserver and saslclient in this
 * process: the server's io callbacks hand each challenge to the client and
 * its response back.  libsasl2 can be initialised once per process, so
 * the group setup does it and the group teardown calls sasl_*_done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "saslclient.h"
#include "saslserver.h"

#define PW_TEST1 "secret"
#define PW_TEST1_EX "secret-ex"  /* test1@example.com */
#define PW_TEST2 "pw2"
#define PW_ADMIN "adminpw"

static char tmpdir[] = "/tmp/roost-test-sasl-XXXXXX";
static char dbpath[sizeof(tmpdir) + 16];
static struct config *cfg;
static bool have_scram1, have_scram256, have_digest;

/* echo PASSWORD | saslpasswd2 -p -f DB [-u REALM] -c USER */
static int saslpasswd(const char *user, const char *realm, const char *password)
{
    char cmd[512];
    int n;
    if (realm != NULL)
        n = snprintf(cmd, sizeof(cmd), "saslpasswd2 -p -f '%s' -u '%s' -c '%s'", dbpath, realm,
                     user);
    else
        n = snprintf(cmd, sizeof(cmd), "saslpasswd2 -p -f '%s' -c '%s'", dbpath, user);
    if (n < 0 || (size_t)n >= sizeof(cmd))
        return -1;
    FILE *p = popen(cmd, "w");
    if (p == NULL)
        return -1;
    fputs(password, p);
    int st = pclose(p);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static bool has_mech(const char *list, const char *mech)
{
    size_t n = strlen(mech);
    for (const char *p = list; (p = strstr(p, mech)) != NULL; p += n) {
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    }
    return false;
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test-sasl");
    log_set_level(LOG_LEVEL_ERROR);
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(dbpath, sizeof(dbpath), "%s/sasldb2", tmpdir);
    if (saslpasswd("test1", NULL, PW_TEST1) < 0 ||
        saslpasswd("test1", "example.com", PW_TEST1_EX) < 0 ||
        saslpasswd("test2", NULL, PW_TEST2) < 0 || saslpasswd("cyrusadm", NULL, PW_ADMIN) < 0) {
        fprintf(stderr, "saslpasswd2 failed (is sasl2-bin installed?)\n");
        return -1;
    }
    struct buf text = BUF_INIT;
    buf_printf(&text,
               "sasl_pwcheck_method: auxprop\n"
               "sasl_auxprop_plugin: sasldb\n"
               "sasl_sasldb_path: %s\n"
               "sasl_mech_list: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256\n"
               "admins: cyrusadm otheradmin\n"
               "virtdomains: userid\n"
               "defaultdomain: Dflt.Example\n",
               dbpath);
    const char *error = NULL;
    int r = config_parse("test-sasl.conf", buf_cstr(&text), &cfg, &error);
    buf_free(&text);
    if (r < 0) {
        fprintf(stderr, "config: %s\n", error);
        return -1;
    }
    if (saslserver_global_init(cfg, "roost-test", &error) < 0 ||
        saslclient_global_init(&error) < 0) {
        fprintf(stderr, "sasl init: %s\n", error);
        return -1;
    }
    /* What the installed plugins offer (libsasl2-modules). */
    struct saslserver *s;
    if (saslserver_new("imap", NULL, NULL, NULL, true, 256, false, &s, &error) < 0)
        return -1;
    struct buf mechs = BUF_INIT;
    if (saslserver_mechs(s, "", " ", "", &mechs) <= 0)
        return -1;
    have_scram1 = has_mech(buf_cstr(&mechs), "SCRAM-SHA-1");
    have_scram256 = has_mech(buf_cstr(&mechs), "SCRAM-SHA-256");
    have_digest = has_mech(buf_cstr(&mechs), "DIGEST-MD5");
    buf_free(&mechs);
    saslserver_free(&s);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    saslclient_global_deinit();
    saslserver_global_deinit();
    config_free(&cfg);
    unlink(dbpath);
    rmdir(tmpdir);
    return 0;
}

/* ------------------------------------------------------------------ */
/* the in-process "network" between server and client */

struct wire {
    struct saslclient *client;
    struct buf response;     /* what read_response returns next */
    const char *forced;      /* answer every challenge with this instead */
    int challenges;
    bool client_failed;
    bool send_fails;
    bool read_fails;
};

static int wire_send(void *ctx, const char *base64)
{
    struct wire *w = ctx;
    w->challenges++;
    if (w->send_fails)
        return -1;
    buf_reset(&w->response);
    if (w->forced != NULL) {
        buf_append_str(&w->response, w->forced);
        return 0;
    }
    const char *resp, *error;
    if (saslclient_step(w->client, base64, &resp, &error) < 0) {
        w->client_failed = true;
        resp = "*";
    }
    buf_append_str(&w->response, resp);
    return 0;
}

static int wire_read(void *ctx, struct buf *base64_r)
{
    struct wire *w = ctx;
    if (w->read_fails)
        return -1;
    buf_append(base64_r, buf_cstr(&w->response), w->response.len);
    return 0;
}

struct login {
    const char *mech;          /* the client's mechanism list */
    const char *authid;
    const char *authzid;
    const char *password;
    bool tls;
    bool allow_plaintext;
    bool initial;              /* SASL-IR */
    bool success_data;         /* the protocol carries success data */
    const char *forced;        /* see struct wire */
};

struct outcome {
    enum saslserver_result result;
    int challenges;
    bool client_finished;      /* saslclient_finish() agreed */
    char user[300], authid[300], mech[32];
    bool had_success_data;
};

static void run_login(const struct login *l, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    const char *error = NULL;
    struct saslserver *s;
    assert_int_equal(saslserver_new("imap", NULL, "127.0.0.1;143", "127.0.0.1;40000", l->tls,
                                    l->tls ? 256 : 0, l->allow_plaintext, &s, &error),
                     0);
    struct saslclient_settings set = {
        .service = "imap",
        .server_host = "localhost",
        .authid = l->authid,
        .authzid = l->authzid,
        .password = l->password,
        .tls_ssf = l->tls ? 256 : 0,
        .allow_plaintext = true,
    };
    struct wire w = {.forced = l->forced};
    assert_int_equal(saslclient_new(&set, &w.client, &error), 0);
    const char *mech, *initial;
    assert_int_equal(saslclient_start(w.client, l->mech, l->initial, &mech, &initial, &error), 0);
    struct saslserver_io io = {wire_send, wire_read, l->success_data};
    o->result = saslserver_exchange(s, mech, initial, &io, &w, &error);
    o->challenges = w.challenges;
    if (o->result == SASLSERVER_OK) {
        snprintf(o->user, sizeof(o->user), "%s", saslserver_user(s));
        snprintf(o->authid, sizeof(o->authid), "%s", saslserver_authid(s));
        snprintf(o->mech, sizeof(o->mech), "%s", saslserver_mech(s));
        const char *data = saslserver_success_data(s);
        o->had_success_data = data != NULL;
        if (!l->success_data)
            assert_null(data);
        o->client_finished = saslclient_finish(w.client, data, &error) == 0;
    } else {
        assert_non_null(error);
        assert_null(saslserver_user(s));
        assert_null(saslserver_authid(s));
    }
    buf_free(&w.response);
    saslclient_free(&w.client);
    assert_null(w.client);
    saslserver_free(&s);
    assert_null(s);
}

static void expect_ok(const struct login *l, const char *user, const char *authid)
{
    struct outcome o;
    run_login(l, &o);
    assert_int_equal(o.result, SASLSERVER_OK);
    assert_string_equal(o.user, user);
    assert_string_equal(o.authid, authid);
    assert_true(o.client_finished);
}

static void expect_result(const struct login *l, enum saslserver_result result)
{
    struct outcome o;
    run_login(l, &o);
    assert_string_equal(saslserver_result_name(o.result), saslserver_result_name(result));
}

/* ------------------------------------------------------------------ */
/* mechanisms */

static void test_plain(void **state)
{
    (void)state;
    struct login l = {.mech = "PLAIN", .authid = "test1", .password = PW_TEST1, .tls = true,
                      .initial = true};
    struct outcome o;
    run_login(&l, &o);
    assert_int_equal(o.result, SASLSERVER_OK);
    assert_string_equal(o.user, "test1");
    assert_string_equal(o.authid, "test1");
    assert_string_equal(o.mech, "PLAIN");
    assert_int_equal(o.challenges, 0);
    assert_true(o.client_finished);

    /* Without SASL-IR the server asks first with an empty challenge. */
    l.initial = false;
    run_login(&l, &o);
    assert_int_equal(o.result, SASLSERVER_OK);
    assert_int_equal(o.challenges, 1);

    l.password = "wrong";
    expect_result(&l, SASLSERVER_FAIL);
    l.initial = true;
    expect_result(&l, SASLSERVER_FAIL);
    l.authid = "nosuchuser";
    expect_result(&l, SASLSERVER_FAIL);
}

static void test_plain_domains(void **state)
{
    (void)state;
    /* virtdomains on: user@domain is its own user, with its own password. */
    struct login l = {.mech = "PLAIN", .authid = "test1@example.com", .password = PW_TEST1_EX,
                      .tls = true, .initial = true};
    expect_ok(&l, "test1@example.com", "test1@example.com");
    l.authid = "test1@EXAMPLE.com";
    expect_ok(&l, "test1@example.com", "test1@example.com");
    l.password = PW_TEST1;
    expect_result(&l, SASLSERVER_FAIL);
    /* The default domain is dropped: test1@dflt.example is test1. */
    l.authid = "test1@dflt.example";
    expect_ok(&l, "test1", "test1");
    /* Spaces around the name are trimmed. */
    l.authid = "  test1 ";
    expect_ok(&l, "test1", "test1");
    /* Names that break the rules never reach the password check. */
    l.authid = "te st1";
    expect_result(&l, SASLSERVER_FAIL);
    l.authid = "test1@@example.com";
    expect_result(&l, SASLSERVER_FAIL);
}

static void test_cram_md5(void **state)
{
    (void)state;
    /* Not a plaintext mechanism: fine without TLS. */
    struct login l = {.mech = "CRAM-MD5", .authid = "test1", .password = PW_TEST1,
                      .initial = true};
    struct outcome o;
    run_login(&l, &o);
    assert_int_equal(o.result, SASLSERVER_OK);
    assert_string_equal(o.user, "test1");
    assert_string_equal(o.mech, "CRAM-MD5");
    assert_int_equal(o.challenges, 1);
    assert_true(o.client_finished);

    l.authid = "test1@example.com";
    l.password = PW_TEST1_EX;
    expect_ok(&l, "test1@example.com", "test1@example.com");

    l.password = "wrong";
    expect_result(&l, SASLSERVER_FAIL);
    l.authid = "nosuchuser";
    expect_result(&l, SASLSERVER_FAIL);
}

static void test_login_mech(void **state)
{
    (void)state;
    struct login l = {.mech = "LOGIN", .authid = "test1", .password = PW_TEST1, .tls = true,
                      .initial = true};
    expect_ok(&l, "test1", "test1");
    l.initial = false;
    expect_ok(&l, "test1", "test1");
    l.password = "wrong";
    expect_result(&l, SASLSERVER_FAIL);
}

static void test_digest_md5(void **state)
{
    (void)state;
    if (!have_digest)
        skip();
    struct login l = {.mech = "DIGEST-MD5", .authid = "test1", .password = PW_TEST1};
    struct outcome o;
    /* rspauth as a last challenge ... */
    run_login(&l, &o);
    assert_int_equal(o.result, SASLSERVER_OK);
    assert_string_equal(o.user, "test1");
    assert_int_equal(o.challenges, 2);
    assert_false(o.had_success_data);
    assert_true(o.client_finished);
    /* ... or as success data. */
    l.success_data = true;
    run_login(&l, &o);
    assert_int_equal(o.result, SASLSERVER_OK);
    assert_int_equal(o.challenges, 1);
    assert_true(o.had_success_data);
    assert_true(o.client_finished);

    l.password = "wrong";
    expect_result(&l, SASLSERVER_FAIL);
}

static void scram(const char *mech)
{
    struct login l = {.mech = mech, .authid = "test1", .password = PW_TEST1, .initial = true,
                      .success_data = true};
    struct outcome o;
    run_login(&l, &o);
    assert_int_equal(o.result, SASLSERVER_OK);
    assert_string_equal(o.user, "test1");
    assert_string_equal(o.mech, mech);
    assert_int_equal(o.challenges, 1);
    assert_true(o.had_success_data);
    assert_true(o.client_finished);

    /* A protocol without success data: the server signature becomes one
     * more challenge, answered with an empty response. */
    l.success_data = false;
    run_login(&l, &o);
    assert_int_equal(o.result, SASLSERVER_OK);
    assert_int_equal(o.challenges, 2);
    assert_true(o.client_finished);

    l.authid = "test1@example.com";
    l.password = PW_TEST1_EX;
    expect_ok(&l, "test1@example.com", "test1@example.com");

    l.password = "wrong";
    expect_result(&l, SASLSERVER_FAIL);
}

static void test_scram_sha_1(void **state)
{
    (void)state;
    if (!have_scram1)
        skip();
    scram("SCRAM-SHA-1");
}

static void test_scram_sha_256(void **state)
{
    (void)state;
    if (!have_scram256)
        skip();
    scram("SCRAM-SHA-256");
}

/* A server that says OK without sending SCRAM's server signature is not
 * believed by the client. */
static void test_client_wants_server_proof(void **state)
{
    (void)state;
    const char *mech = have_scram256 ? "SCRAM-SHA-256" : have_digest ? "DIGEST-MD5" : NULL;
    if (mech == NULL)
        skip();
    const char *error = NULL;
    struct saslserver *s;
    assert_int_equal(saslserver_new("imap", NULL, NULL, NULL, true, 256, false, &s, &error), 0);
    struct saslclient_settings set = {.service = "imap", .server_host = "localhost",
                                      .authid = "test1", .password = PW_TEST1,
                                      .tls_ssf = 256};
    struct wire w = {0};
    assert_int_equal(saslclient_new(&set, &w.client, &error), 0);
    const char *chosen, *initial;
    assert_int_equal(saslclient_start(w.client, mech, true, &chosen, &initial, &error), 0);
    struct saslserver_io io = {wire_send, wire_read, true};
    assert_int_equal(saslserver_exchange(s, chosen, initial, &io, &w, &error), SASLSERVER_OK);
    assert_non_null(saslserver_success_data(s));
    assert_int_equal(saslclient_finish(w.client, NULL, &error), -1);
    /* Garbage instead of the signature is refused as well. */
    assert_int_equal(saslclient_finish(w.client, "AAAA", &error), -1);
    buf_free(&w.response);
    saslclient_free(&w.client);
    saslserver_free(&s);
}

/* ------------------------------------------------------------------ */
/* protocol details */

/* Run an exchange with a hand-made initial response and responses. */
static enum saslserver_result raw_exchange(const char *mech, const char *initial,
                                           const char *forced, bool tls, int *challenges_r)
{
    const char *error = NULL;
    struct saslserver *s;
    assert_int_equal(saslserver_new("imap", NULL, NULL, NULL, tls, tls ? 256 : 0, false, &s,
                                    &error),
                     0);
    struct wire w = {.forced = forced};
    buf_append_str(&w.response, "");
    struct saslserver_io io = {wire_send, wire_read, false};
    enum saslserver_result r = saslserver_exchange(s, mech, initial, &io, &w, &error);
    if (r != SASLSERVER_OK)
        assert_non_null(error);
    if (challenges_r != NULL)
        *challenges_r = w.challenges;
    buf_free(&w.response);
    saslserver_free(&s);
    return r;
}

static void test_initial_response(void **state)
{
    (void)state;
    /* "\0test1\0secret" */
    const char *good = "AHRlc3QxAHNlY3JldA==";
    assert_int_equal(raw_exchange("PLAIN", good, NULL, true, NULL), SASLSERVER_OK);
    assert_int_equal(raw_exchange("plain", good, NULL, true, NULL), SASLSERVER_OK);
    /* "=" is an empty initial response (RFC 4959): for PLAIN that is a
     * malformed message, not a request for a challenge. */
    int challenges = -1;
    enum saslserver_result r = raw_exchange("PLAIN", "=", NULL, true, &challenges);
    assert_true(r == SASLSERVER_BADPROTO || r == SASLSERVER_FAIL);
    assert_int_equal(challenges, 0);
    /* "" is not how an empty response is written. */
    assert_int_equal(raw_exchange("PLAIN", "", NULL, true, NULL), SASLSERVER_BADPROTO);
    /* Garbage base64. */
    assert_int_equal(raw_exchange("PLAIN", "!!!!", NULL, true, NULL), SASLSERVER_BADPROTO);
    assert_int_equal(raw_exchange("PLAIN", "AHRlc3QxAHNlY3JldA=", NULL, true, NULL),
                     SASLSERVER_BADPROTO);
    assert_int_equal(raw_exchange("PLAIN", "AHRl c3QxAHNlY3JldA==", NULL, true, NULL),
                     SASLSERVER_BADPROTO);
    /* Too long. */
    struct buf big = BUF_INIT;
    for (int i = 0; i < SASLSERVER_MAX_RESPONSE / 4 + 1; i++)
        buf_append_str(&big, "QUFB");
    assert_int_equal(raw_exchange("PLAIN", buf_cstr(&big), NULL, true, NULL),
                     SASLSERVER_BADPROTO);
    buf_free(&big);
}

static void test_cancel_and_garbage_responses(void **state)
{
    (void)state;
    int challenges = 0;
    assert_int_equal(raw_exchange("CRAM-MD5", NULL, "*", false, &challenges),
                     SASLSERVER_CANCEL);
    assert_int_equal(challenges, 1);
    assert_int_equal(raw_exchange("PLAIN", NULL, "*", true, NULL), SASLSERVER_CANCEL);
    assert_int_equal(raw_exchange("CRAM-MD5", NULL, "%%%%", false, NULL),
                     SASLSERVER_BADPROTO);
    assert_int_equal(raw_exchange("CRAM-MD5", NULL, "abc", false, NULL), SASLSERVER_BADPROTO);
    /* Valid base64 of a malformed CRAM-MD5 answer ("junk"). */
    enum saslserver_result r = raw_exchange("CRAM-MD5", NULL, "anVuaw==", false, NULL);
    assert_true(r == SASLSERVER_BADPROTO || r == SASLSERVER_FAIL);
    /* An over-long response. */
    struct buf big = BUF_INIT;
    for (int i = 0; i < SASLSERVER_MAX_RESPONSE / 4 + 1; i++)
        buf_append_str(&big, "QUFB");
    assert_int_equal(raw_exchange("CRAM-MD5", NULL, buf_cstr(&big), false, NULL),
                     SASLSERVER_BADPROTO);
    buf_free(&big);
}

static void test_unknown_mechanism(void **state)
{
    (void)state;
    assert_int_equal(raw_exchange("FOO-BAR", NULL, NULL, true, NULL), SASLSERVER_NOMECH);
    assert_int_equal(raw_exchange("", NULL, NULL, true, NULL), SASLSERVER_NOMECH);
    assert_int_equal(raw_exchange("PL AIN", NULL, NULL, true, NULL), SASLSERVER_NOMECH);
    assert_int_equal(raw_exchange("ABCDEFGHIJKLMNOPQRSTU", NULL, NULL, true, NULL),
                     SASLSERVER_NOMECH);
    /* Installed but not in sasl_mech_list, and never anonymous. */
    assert_int_equal(raw_exchange("ANONYMOUS", "=", NULL, true, NULL), SASLSERVER_NOMECH);
    assert_int_equal(raw_exchange("NTLM", NULL, NULL, true, NULL), SASLSERVER_NOMECH);
}

static void test_io_errors(void **state)
{
    (void)state;
    const char *error = NULL;
    struct saslserver *s;
    assert_int_equal(saslserver_new("imap", NULL, NULL, NULL, false, 0, false, &s, &error), 0);
    struct saslserver_io io = {wire_send, wire_read, false};
    struct wire w = {.forced = "", .send_fails = true};
    assert_int_equal(saslserver_exchange(s, "CRAM-MD5", NULL, &io, &w, &error),
                     SASLSERVER_IOERR);
    w.send_fails = false;
    w.read_fails = true;
    assert_int_equal(saslserver_exchange(s, "CRAM-MD5", NULL, &io, &w, &error),
                     SASLSERVER_IOERR);
    buf_free(&w.response);
    saslserver_free(&s);
}

/* ------------------------------------------------------------------ */
/* plaintext policy */

static void test_plaintext_policy(void **state)
{
    (void)state;
    const char *error = NULL;
    struct saslserver *s;
    assert_int_equal(saslserver_new("imap", NULL, NULL, NULL, false, 0, false, &s, &error), 0);
    assert_false(saslserver_plaintext_allowed(s));
    struct buf mechs = BUF_INIT;
    assert_true(saslserver_mechs(s, "AUTH=", " AUTH=", "", &mechs) > 0);
    assert_false(has_mech(buf_cstr(&mechs), "AUTH=PLAIN"));
    assert_false(has_mech(buf_cstr(&mechs), "AUTH=LOGIN"));
    assert_true(has_mech(buf_cstr(&mechs), "AUTH=CRAM-MD5"));
    assert_false(has_mech(buf_cstr(&mechs), "AUTH=ANONYMOUS"));
    assert_int_equal(strncmp(buf_cstr(&mechs), "AUTH=", 5), 0);

    struct saslserver_io io = {wire_send, wire_read, false};
    struct wire w = {.forced = "*"};
    assert_int_equal(saslserver_exchange(s, "PLAIN", "AHRlc3QxAHNlY3JldA==", &io, &w, &error),
                     SASLSERVER_TOOWEAK);
    assert_int_equal(saslserver_exchange(s, "LOGIN", NULL, &io, &w, &error),
                     SASLSERVER_TOOWEAK);
    assert_int_equal(saslserver_check_plain(s, "test1", PW_TEST1, &error), SASLSERVER_TOOWEAK);
    assert_null(saslserver_user(s));

    /* STARTTLS. */
    assert_int_equal(saslserver_set_tls(s, 256), 0);
    assert_true(saslserver_plaintext_allowed(s));
    buf_reset(&mechs);
    assert_true(saslserver_mechs(s, "", " ", "", &mechs) > 0);
    assert_true(has_mech(buf_cstr(&mechs), "PLAIN"));
    assert_true(has_mech(buf_cstr(&mechs), "LOGIN"));
    assert_int_equal(saslserver_exchange(s, "PLAIN", "AHRlc3QxAHNlY3JldA==", &io, &w, &error),
                     SASLSERVER_OK);
    assert_string_equal(saslserver_user(s), "test1");
    /* One login per connection. */
    assert_int_equal(saslserver_exchange(s, "PLAIN", "AHRlc3QxAHNlY3JldA==", &io, &w, &error),
                     SASLSERVER_FAIL);
    assert_int_equal(saslserver_check_plain(s, "test1", PW_TEST1, &error), SASLSERVER_FAIL);
    assert_string_equal(saslserver_user(s), "test1");
    saslserver_free(&s);

    /* allowplaintext: PLAIN without TLS. */
    assert_int_equal(saslserver_new("imap", NULL, NULL, NULL, false, 0, true, &s, &error), 0);
    buf_reset(&mechs);
    assert_true(saslserver_mechs(s, "", " ", "", &mechs) > 0);
    assert_true(has_mech(buf_cstr(&mechs), "PLAIN"));
    assert_int_equal(saslserver_exchange(s, "PLAIN", "AHRlc3QxAHNlY3JldA==", &io, &w, &error),
                     SASLSERVER_OK);
    saslserver_free(&s);
    buf_free(&mechs);
    buf_free(&w.response);
}

static void test_retry_after_failure(void **state)
{
    (void)state;
    const char *error = NULL;
    struct saslserver *s;
    assert_int_equal(saslserver_new("pop", NULL, NULL, NULL, true, 128, false, &s, &error), 0);
    struct saslserver_io io = {wire_send, wire_read, false};
    struct wire w = {.forced = "*"};
    /* "\0test1\0bad" */
    assert_int_equal(saslserver_exchange(s, "PLAIN", "AHRlc3QxAGJhZA==", &io, &w, &error),
                     SASLSERVER_FAIL);
    assert_int_equal(saslserver_exchange(s, "CRAM-MD5", NULL, &io, &w, &error),
                     SASLSERVER_CANCEL);
    assert_int_equal(saslserver_check_plain(s, "test1", "bad", &error), SASLSERVER_FAIL);
    assert_null(saslserver_user(s));
    assert_int_equal(saslserver_exchange(s, "PLAIN", "AHRlc3QxAHNlY3JldA==", &io, &w, &error),
                     SASLSERVER_OK);
    assert_string_equal(saslserver_user(s), "test1");
    assert_string_equal(saslserver_mech(s), "PLAIN");
    buf_free(&w.response);
    saslserver_free(&s);
}

/* ------------------------------------------------------------------ */
/* authorization identities */

static void test_admin_proxy(void **state)
{
    (void)state;
    struct login l = {.mech = "PLAIN", .authid = "cyrusadm", .authzid = "test1",
                      .password = PW_ADMIN, .tls = true, .initial = true};
    expect_ok(&l, "test1", "cyrusadm");
    /* The authorization id is canonicalised too. */
    l.authzid = "test1@dflt.example";
    expect_ok(&l, "test1", "cyrusadm");
    l.authzid = "test1@example.com";
    expect_ok(&l, "test1@example.com", "cyrusadm");
    /* A user that has no password of its own (only mailboxes). */
    l.authzid = "mailboxonly";
    expect_ok(&l, "mailboxonly", "cyrusadm");
    l.authzid = "bad user";
    expect_result(&l, SASLSERVER_FAIL);
    l.authzid = "test1";
    l.password = "wrong";
    expect_result(&l, SASLSERVER_FAIL);
    if (have_scram256) {
        struct login sl = {.mech = "SCRAM-SHA-256", .authid = "cyrusadm", .authzid = "test2",
                           .password = PW_ADMIN, .initial = true, .success_data = true};
        expect_ok(&sl, "test2", "cyrusadm");
    }

    /* Not an admin: refused, whatever the mechanism. */
    struct login n = {.mech = "PLAIN", .authid = "test2", .authzid = "test1",
                      .password = PW_TEST2, .tls = true, .initial = true};
    expect_result(&n, SASLSERVER_FAIL);
    n.authzid = "cyrusadm";
    expect_result(&n, SASLSERVER_FAIL);
    /* Asking for oneself is fine. */
    n.authzid = "test2";
    expect_ok(&n, "test2", "test2");
    if (have_digest) {
        struct login dl = {.mech = "DIGEST-MD5", .authid = "test2", .authzid = "test1",
                           .password = PW_TEST2};
        expect_result(&dl, SASLSERVER_FAIL);
    }
}

/* ------------------------------------------------------------------ */
/* saslserver_check_plain */

static void test_check_plain(void **state)
{
    (void)state;
    const char *error = NULL;
    struct saslserver *s;
    assert_int_equal(saslserver_new("imap", NULL, NULL, NULL, true, 256, false, &s, &error), 0);
    assert_int_equal(saslserver_check_plain(s, "test1", "wrong", &error), SASLSERVER_FAIL);
    assert_non_null(error);
    assert_null(strstr(error, "wrong"));
    assert_int_equal(saslserver_check_plain(s, "nosuchuser", PW_TEST1, &error),
                     SASLSERVER_FAIL);
    assert_int_equal(saslserver_check_plain(s, "test1", "", &error), SASLSERVER_FAIL);
    assert_int_equal(saslserver_check_plain(s, "", PW_TEST1, &error), SASLSERVER_FAIL);
    assert_int_equal(saslserver_check_plain(s, "te\x01st1", PW_TEST1, &error), SASLSERVER_FAIL);
    assert_int_equal(saslserver_check_plain(s, "test1@other.example", PW_TEST1, &error),
                     SASLSERVER_FAIL);
    assert_int_equal(saslserver_check_plain(s, "test1", PW_TEST1, &error), SASLSERVER_OK);
    assert_string_equal(saslserver_user(s), "test1");
    assert_string_equal(saslserver_authid(s), "test1");
    assert_string_equal(saslserver_mech(s), "PLAINTEXT");
    assert_null(saslserver_success_data(s));
    saslserver_free(&s);

    assert_int_equal(saslserver_new("imap", NULL, NULL, NULL, true, 256, false, &s, &error), 0);
    assert_int_equal(saslserver_check_plain(s, "test1@example.com", PW_TEST1_EX, &error),
                     SASLSERVER_OK);
    assert_string_equal(saslserver_user(s), "test1@example.com");
    saslserver_free(&s);

    assert_int_equal(saslserver_new("imap", NULL, NULL, NULL, true, 256, false, &s, &error), 0);
    assert_int_equal(saslserver_check_plain(s, "Test1@DFLT.example", PW_TEST1, &error),
                     SASLSERVER_FAIL); /* the user part keeps its case */
    assert_int_equal(saslserver_check_plain(s, "test1@DFLT.example", PW_TEST1, &error),
                     SASLSERVER_OK);
    assert_string_equal(saslserver_user(s), "test1");
    saslserver_free(&s);
}

/* ------------------------------------------------------------------ */
/* pure helpers */

static void canon_ok(const char *in, bool vd, const char *dd, const char *realm,
                     const char *expect)
{
    struct buf out = BUF_INIT;
    const char *error = NULL;
    assert_int_equal(saslserver_canon_name(in, strlen(in), vd, dd, realm, &out, &error), 0);
    assert_string_equal(buf_cstr(&out), expect);
    buf_free(&out);
}

static void canon_bad(const char *in, size_t len, bool vd, const char *dd, const char *realm)
{
    struct buf out = BUF_INIT;
    const char *error = NULL;
    assert_int_equal(saslserver_canon_name(in, len, vd, dd, realm, &out, &error), -1);
    assert_non_null(error);
    buf_free(&out);
}

static void test_canon_name(void **state)
{
    (void)state;
    /* virtdomains on */
    canon_ok("test1", true, "example.org", "host.example", "test1");
    canon_ok("Test1", true, NULL, NULL, "Test1");
    canon_ok(" \ttest1 \t", true, NULL, NULL, "test1");
    canon_ok("test1@Example.COM", true, NULL, NULL, "test1@example.com");
    canon_ok("Test1@Example.ORG", true, "example.org", NULL, "Test1");
    canon_ok("test1@host.example", true, "example.org", "host.example", "test1@host.example");
    canon_ok("test1@example.com", true, "", "", "test1@example.com");
    canon_ok("j\xc3\xb6rg@example.com", true, NULL, NULL, "j\xc3\xb6rg@example.com");
    canon_ok("a.b_c-d+e@sub.example-1.com", true, NULL, NULL, "a.b_c-d+e@sub.example-1.com");
    /* virtdomains off */
    canon_ok("test1", false, NULL, NULL, "test1");
    canon_ok("test1@example.org", false, "example.org", "host.example", "test1");
    canon_ok("test1@HOST.example", false, "example.org", "host.example", "test1");
    canon_bad("test1@example.com", 17, false, "example.org", "host.example");
    canon_bad("test1@example.com", 17, false, NULL, NULL);
    /* always refused */
    canon_bad("", 0, true, NULL, NULL);
    canon_bad("   ", 3, true, NULL, NULL);
    canon_bad("te st", 5, true, NULL, NULL);
    canon_bad("te\tst", 5, true, NULL, NULL);
    canon_bad("te\x7fst", 5, true, NULL, NULL);
    canon_bad("te\nst", 5, true, NULL, NULL);
    canon_bad("te\0st", 5, true, NULL, NULL);
    canon_bad("te\xc2\x85st", 6, true, NULL, NULL);    /* C1 control NEL */
    canon_bad("te\xc3st", 5, true, NULL, NULL);        /* truncated UTF-8 */
    canon_bad("te\xc0\xafst", 6, true, NULL, NULL);    /* overlong */
    canon_bad("te\xed\xa0\x80st", 7, true, NULL, NULL); /* surrogate */
    canon_bad("te\xff", 3, true, NULL, NULL);
    canon_bad("@example.com", 12, true, NULL, NULL);
    canon_bad("test1@", 6, true, NULL, NULL);
    canon_bad("a@b@c", 5, true, NULL, NULL);
    canon_bad("a@exa mple", 10, true, NULL, NULL);
    canon_bad("a@exa/mple", 10, true, NULL, NULL);
    canon_bad("a@.example", 10, true, NULL, NULL);
    canon_bad("a@exa..mple", 11, true, NULL, NULL);
    char longname[SASLSERVER_MAX_USER + 2];
    memset(longname, 'a', sizeof(longname));
    longname[SASLSERVER_MAX_USER + 1] = '\0';
    canon_bad(longname, SASLSERVER_MAX_USER + 1, true, NULL, NULL);
    longname[SASLSERVER_MAX_USER] = '\0';
    canon_ok(longname, true, NULL, NULL, longname);
    /* Only len bytes are read. */
    struct buf out = BUF_INIT;
    const char *error = NULL;
    assert_int_equal(saslserver_canon_name("test1garbage", 5, true, NULL, NULL, &out, &error), 0);
    assert_string_equal(buf_cstr(&out), "test1");
    buf_free(&out);
}

static void test_base64(void **state)
{
    (void)state;
    struct buf b = BUF_INIT, e = BUF_INIT;
    const char *error = NULL;
    assert_int_equal(saslserver_base64_decode("", 0, &b, &error), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(saslserver_base64_decode("AHRlc3QxAHNlY3JldA==", 20, &b, &error), 0);
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, "\0test1\0secret", 13);
    saslserver_base64_encode(b.data, b.len, &e);
    assert_string_equal(buf_cstr(&e), "AHRlc3QxAHNlY3JldA==");
    saslserver_base64_encode("", 0, &e);
    assert_string_equal(buf_cstr(&e), "");
    assert_int_equal(saslserver_base64_decode("QUJD", 4, &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "ABC");
    assert_int_equal(saslserver_base64_decode("QUI=", 4, &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "AB");
    assert_int_equal(saslserver_base64_decode("QQ==", 4, &b, &error), 0);
    assert_string_equal(buf_cstr(&b), "A");
    const char *bad[] = {"Q", "QQ", "QQ=", "QUJ", "Q===", "QU=I", "=QUI", "QU I", "QUJD\r\n",
                         "QUJ*", "QUJD====", "QQ==QUJD"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        error = NULL;
        assert_int_equal(saslserver_base64_decode(bad[i], strlen(bad[i]), &b, &error), -1);
        assert_non_null(error);
    }
    saslserver_buf_wipe(&b);
    assert_null(b.data);
    buf_free(&e);
}

static void test_setup_errors(void **state)
{
    (void)state;
    const char *error = NULL;
    /* Initialising again: the same config is fine, another is not. */
    assert_int_equal(saslserver_global_init(cfg, "roost-test", &error), 0);
    struct config *other;
    assert_int_equal(config_parse("other.conf", "admins: x\n", &other, &error), 0);
    error = NULL;
    assert_int_equal(saslserver_global_init(other, "roost-test", &error), -1);
    assert_non_null(error);
    config_free(&other);
    assert_int_equal(saslclient_global_init(&error), 0);

    /* Addresses libsasl2 cannot parse. */
    struct saslserver *s = NULL;
    error = NULL;
    assert_int_equal(saslserver_new("imap", NULL, "not an address", NULL, false, 0, false, &s,
                                    &error),
                     -1);
    assert_null(s);
    assert_non_null(error);
    const char *bad[] = {"1.2.3.4", "1.2.3.4;", "1.2.3.4;70000", "1.2.3;143", ";143",
                         "1.2.3.4;-1", "::1:143", "[::1];143"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(saslserver_new("imap", NULL, NULL, bad[i], false, 0, false, &s,
                                        &error),
                         -1);
    }
    assert_int_equal(saslserver_new("imap", "mail.example.org", "::1;143", "::1;40000", false, 0,
                                    false, &s, &error),
                     0);
    saslserver_free(&s);
    saslserver_free(&s); /* NULL-safe */
}

static void test_mech_list_format(void **state)
{
    (void)state;
    const char *error = NULL;
    struct saslserver *s;
    assert_int_equal(saslserver_new("smtp", NULL, NULL, NULL, true, 256, false, &s, &error), 0);
    struct buf plain = BUF_INIT, smtp = BUF_INIT;
    int n = saslserver_mechs(s, "", " ", "", &plain);
    assert_true(n >= 3);
    /* Appends, in the protocol's shape. */
    buf_append_str(&smtp, "250-");
    assert_int_equal(saslserver_mechs(s, "AUTH ", " ", "\r\n", &smtp), n);
    struct buf expect = BUF_INIT;
    buf_printf(&expect, "250-AUTH %s\r\n", buf_cstr(&plain));
    assert_string_equal(buf_cstr(&smtp), buf_cstr(&expect));
    /* Exactly the configured mechanisms that are installed, nothing else. */
    const char *list = buf_cstr(&plain);
    const char *known[] = {"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1",
                           "SCRAM-SHA-256"};
    int found = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        found += has_mech(list, known[i]);
    assert_int_equal(found, n);
    assert_true(has_mech(list, "PLAIN") && has_mech(list, "CRAM-MD5"));
    buf_free(&plain);
    buf_free(&smtp);
    buf_free(&expect);
    saslserver_free(&s);
}

static void test_result_names(void **state)
{
    (void)state;
    assert_string_equal(saslserver_result_name(SASLSERVER_OK), "ok");
    assert_string_equal(saslserver_result_name(SASLSERVER_TOOWEAK), "tooweak");
    assert_string_equal(saslserver_result_name((enum saslserver_result)99), "unknown");
}

static void test_client_errors(void **state)
{
    (void)state;
    const char *error = NULL;
    struct saslclient *c;
    struct saslclient_settings set = {.service = "imap", .server_host = "localhost",
                                      .authid = "test1", .password = PW_TEST1};
    assert_int_equal(saslclient_new(&set, &c, &error), 0);
    const char *mech, *initial;
    /* No TLS, no allow_plaintext: PLAIN alone is not usable. */
    assert_int_equal(saslclient_start(c, "PLAIN LOGIN", true, &mech, &initial, &error), -1);
    assert_non_null(error);
    saslclient_free(&c);

    assert_int_equal(saslclient_new(&set, &c, &error), 0);
    assert_int_equal(saslclient_start(c, "X-UNKNOWN", true, &mech, &initial, &error), -1);
    saslclient_free(&c);

    /* libsasl2 picks the strongest mechanism on offer. */
    set.tls_ssf = 256;
    assert_int_equal(saslclient_new(&set, &c, &error), 0);
    assert_int_equal(saslclient_start(c, "PLAIN CRAM-MD5", true, &mech, &initial, &error), 0);
    assert_string_equal(mech, "CRAM-MD5");
    assert_null(initial);
    const char *response;
    assert_int_equal(saslclient_step(c, "not base64!", &response, &error), -1);
    saslclient_free(&c);

    /* Initial responses only when allowed. */
    assert_int_equal(saslclient_new(&set, &c, &error), 0);
    assert_int_equal(saslclient_start(c, "PLAIN", false, &mech, &initial, &error), 0);
    assert_null(initial);
    assert_int_equal(saslclient_step(c, "", &response, &error), 0);
    assert_string_equal(response, "AHRlc3QxAHNlY3JldA==");
    assert_int_equal(saslclient_finish(c, NULL, &error), 0);
    saslclient_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_plain_domains),
        cmocka_unit_test(test_cram_md5),
        cmocka_unit_test(test_login_mech),
        cmocka_unit_test(test_digest_md5),
        cmocka_unit_test(test_scram_sha_1),
        cmocka_unit_test(test_scram_sha_256),
        cmocka_unit_test(test_client_wants_server_proof),
        cmocka_unit_test(test_initial_response),
        cmocka_unit_test(test_cancel_and_garbage_responses),
        cmocka_unit_test(test_unknown_mechanism),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_plaintext_policy),
        cmocka_unit_test(test_retry_after_failure),
        cmocka_unit_test(test_admin_proxy),
        cmocka_unit_test(test_check_plain),
        cmocka_unit_test(test_canon_name),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_result_names),
        cmocka_unit_test(test_setup_errors),
        cmocka_unit_test(test_mech_list_format),
        cmocka_unit_test(test_client_errors),
    };
    return cmocka_run_group_tests_name("sasl", tests, group_setup, group_teardown);
}
