/* test-tls.c - unit tests for tls.c, tls_cert.c and the TLS side of
 * stream.c: real handshakes over socketpairs, the server in this process
 * and the client in a forked child (which reports through its exit code). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "stream.h"
#include "tls.h"
#include "tls_cert.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static char tmpdir[64];
static char certpath[128], keypath[128];
static SSL_CTX *server_ctx;

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_DFL);   /* the stream must never raise it */
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-tls-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(certpath, sizeof(certpath), "%s/cert.pem", tmpdir);
    snprintf(keypath, sizeof(keypath), "%s/key.pem", tmpdir);
    const char *error;
    if (tls_cert_generate(certpath, keypath, "localhost", 2, TLS_CERT_KEY_EC, false, &error) < 0) {
        fprintf(stderr, "tls_cert_generate: %s\n", error);
        return -1;
    }
    server_ctx = tls_server_ctx_new_files(certpath, keypath, &error);
    if (server_ctx == NULL) {
        fprintf(stderr, "tls_server_ctx_new_files: %s\n", error);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    SSL_CTX_free(server_ctx);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the client child ---- */

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "client: line %d: %s\n", __LINE__, #c);                \
            _exit(10);                                                             \
        }                                                                          \
    } while (0)

typedef int client_fn(int fd, const void *arg);

/* Run fn(fd) in a child over a socketpair; the server end goes to
 * *server_fd_r. */
static pid_t spawn_client(client_fn *fn, const void *arg, int *server_fd_r)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        int code = fn(fds[1], arg);
        _exit(code);
    }
    close(fds[1]);
    *server_fd_r = fds[0];
    return pid;
}

static int wait_client(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 13 + i / 509) & 0xff);
}

#define BIG (1024 * 1024 + 3)

/* A client that trusts our certificate (as its CA file) and checks the
 * name "localhost". */
static struct stream *client_connect(int fd, const char *servername, bool verify)
{
    const char *error;
    SSL_CTX *ctx = tls_client_ctx_new(verify ? certpath : NULL, verify, &error);
    CHECK(ctx != NULL);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    if (stream_starttls_client(s, ctx, servername, &error) < 0) {
        fprintf(stderr, "client handshake: %s\n", error);
        _exit(11);
    }
    SSL_CTX_free(ctx);   /* the SSL keeps its own reference */
    return s;
}

static int client_session(int fd, const void *arg)
{
    (void)arg;
    struct stream *s = client_connect(fd, "localhost", true);
    CHECK(stream_is_tls(s));
    struct buf line = BUF_INIT;
    stream_puts(s, "a1 NOOP\r\n");
    CHECK(stream_read_line(s, &line, 100, NULL) == STREAM_OK);
    CHECK(strcmp(line.data, "a1 OK done") == 0);

    /* a big upload with a literal, then a big download */
    stream_printf(s, "a2 APPEND {%d}\r\n", BIG);
    unsigned char *data = malloc(BIG);
    CHECK(data != NULL);
    for (size_t i = 0; i < BIG; i++)
        data[i] = pattern_byte(i);
    stream_write(s, data, BIG);
    stream_puts(s, "\r\n");
    CHECK(stream_flush(s) == 0);
    struct buf body = BUF_INIT;
    CHECK(stream_read_line(s, &line, 100, NULL) == STREAM_OK);
    CHECK(strcmp(line.data, "* BODY") == 0);
    CHECK(stream_read_exact(s, BIG, &body) == STREAM_OK);
    CHECK(memcmp(body.data, data, BIG) == 0);
    CHECK(stream_read_line(s, &line, 100, NULL) == STREAM_OK);
    CHECK(strcmp(line.data, "a2 OK") == 0);
    /* the server closes: a clean EOF */
    CHECK(stream_read_line(s, &line, 100, NULL) == STREAM_EOF);
    free(data);
    buf_free(&body);
    buf_free(&line);
    stream_free(&s);
    return 0;
}

static void test_implicit_tls(void **state)
{
    (void)state;
    int fd;
    pid_t pid = spawn_client(client_session, NULL, &fd);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    const char *error = NULL;
    if (stream_starttls(s, server_ctx, &error) < 0)
        fail_msg("handshake: %s", error);
    assert_true(stream_is_tls(s));
    assert_non_null(stream_tls_ssl(s));
    const char *info = stream_tls_info(s);
    assert_non_null(info);
    assert_non_null(strstr(info, "TLSv1.3 with cipher "));
    assert_string_equal(stream_tls_protocol(s), "TLSv1.3");
    assert_non_null(stream_tls_cipher(s));
    assert_true(stream_tls_ssf(s) >= 128);

    /* TLS a second time is refused */
    assert_int_equal(stream_starttls(s, server_ctx, &error), -1);

    struct buf line = BUF_INIT, body = BUF_INIT;
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "a1 NOOP");
    stream_puts(s, "a1 OK done\r\n");
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    char want[64];
    snprintf(want, sizeof(want), "a2 APPEND {%d}", BIG);
    assert_string_equal(line.data, want);
    assert_int_equal(stream_read_exact(s, BIG, &body), STREAM_OK);
    for (size_t i = 0; i < BIG; i++) {
        if ((unsigned char)body.data[i] != pattern_byte(i))
            fail_msg("byte %zu differs", i);
    }
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    assert_int_equal(line.len, 0);
    stream_puts(s, "* BODY\r\n");
    stream_write(s, body.data, body.len);
    stream_puts(s, "a2 OK\r\n");
    assert_int_equal(stream_flush(s), 0);
    stream_free(&s);
    close(fd);
    assert_int_equal(wait_client(pid), 0);
    buf_free(&line);
    buf_free(&body);
}

/* STARTTLS with a plaintext line pipelined behind it. */
static int client_starttls_inject(int fd, const void *arg)
{
    (void)arg;
    const char *cmd = "a STARTTLS\r\nb INJECTED\r\n";
    CHECK(send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) == (ssize_t)strlen(cmd));
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    struct buf line = BUF_INIT;
    CHECK(stream_read_line(s, &line, 100, NULL) == STREAM_OK);
    CHECK(strcmp(line.data, "a OK Begin TLS now") == 0);
    const char *error;
    SSL_CTX *ctx = tls_client_ctx_new(certpath, true, &error);
    CHECK(ctx != NULL);
    if (stream_starttls_client(s, ctx, "localhost", &error) < 0) {
        fprintf(stderr, "client handshake: %s\n", error);
        _exit(11);
    }
    stream_puts(s, "c CAPABILITY\r\n");
    CHECK(stream_read_line(s, &line, 100, NULL) == STREAM_OK);
    CHECK(strcmp(line.data, "c OK") == 0);
    buf_free(&line);
    stream_free(&s);
    SSL_CTX_free(ctx);
    return 0;
}

static void test_starttls_injection(void **state)
{
    (void)state;
    int fd;
    pid_t pid = spawn_client(client_starttls_inject, NULL, &fd);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    struct buf line = BUF_INIT;
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "a STARTTLS");
    /* the injected line arrived in the same packet */
    assert_int_equal(stream_input_pending(s), strlen("b INJECTED\r\n"));
    stream_puts(s, "a OK Begin TLS now\r\n");
    const char *error;
    if (stream_starttls(s, server_ctx, &error) < 0)
        fail_msg("handshake: %s", error);
    assert_true(stream_is_tls(s));
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    /* not "b INJECTED" */
    assert_string_equal(line.data, "c CAPABILITY");
    stream_puts(s, "c OK\r\n");
    assert_int_equal(stream_flush(s), 0);
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_EOF);
    stream_free(&s);
    close(fd);
    assert_int_equal(wait_client(pid), 0);
    buf_free(&line);
}

/* A TLS 1.1 client (security level 0 so that OpenSSL will send it). */
static int client_tls11(int fd, const void *arg)
{
    (void)arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    CHECK(ctx != NULL);
    SSL_CTX_set_security_level(ctx, 0);
    CHECK(SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0") == 1);
    CHECK(SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION) == 1);
    CHECK(SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION) == 1);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    const char *error;
    int r = stream_starttls_client(s, ctx, NULL, &error);
    stream_free(&s);
    SSL_CTX_free(ctx);
    return r < 0 ? 0 : 12;
}

static void test_tls11_refused(void **state)
{
    (void)state;
    int fd;
    pid_t pid = spawn_client(client_tls11, NULL, &fd);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    const char *error = NULL;
    assert_int_equal(stream_starttls(s, server_ctx, &error), -1);
    assert_non_null(error);
    print_message("TLS 1.1 refused: %s\n", error);
    assert_non_null(strstr(error, "protocol"));
    assert_false(stream_is_tls(s));
    /* the stream is unusable afterwards */
    struct buf line = BUF_INIT;
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_ERROR);
    stream_puts(s, "x\r\n");
    assert_int_equal(stream_flush(s), -1);
    stream_free(&s);
    close(fd);
    assert_int_equal(wait_client(pid), 0);
    buf_free(&line);
}

/* The client checks a name the certificate does not have: it must fail. */
static int client_wrong_name(int fd, const void *arg)
{
    const char *name = arg;
    const char *error;
    SSL_CTX *ctx = tls_client_ctx_new(certpath, true, &error);
    CHECK(ctx != NULL);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    int r = stream_starttls_client(s, ctx, name, &error);
    if (r == 0)
        return 13;
    CHECK(strstr(error, "certificate") != NULL);
    stream_free(&s);
    SSL_CTX_free(ctx);
    return 0;
}

/* No CA file: the system store does not know our certificate. */
static int client_untrusted(int fd, const void *arg)
{
    (void)arg;
    const char *error;
    SSL_CTX *ctx = tls_client_ctx_new(NULL, true, &error);
    CHECK(ctx != NULL);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    int r = stream_starttls_client(s, ctx, "localhost", &error);
    stream_free(&s);
    SSL_CTX_free(ctx);
    return r < 0 ? 0 : 14;
}

/* Names the certificate does have, checked: IP and DNS. */
static int client_good_name(int fd, const void *arg)
{
    struct stream *s = client_connect(fd, arg, true);
    stream_puts(s, "hi\r\n");
    CHECK(stream_flush(s) == 0);
    stream_free(&s);
    return 0;
}

static void run_server_expect(client_fn *fn, const void *arg, bool ok)
{
    int fd;
    pid_t pid = spawn_client(fn, arg, &fd);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    const char *error = NULL;
    int r = stream_starttls(s, server_ctx, &error);
    if (ok) {
        if (r < 0)
            fail_msg("handshake: %s", error);
        struct buf line = BUF_INIT;
        assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
        assert_string_equal(line.data, "hi");
        buf_free(&line);
    } else if (r == 0) {
        /* TLS 1.3: the server may finish before the client refuses; the
         * client's alert then shows up as a read error or EOF. */
        struct buf line = BUF_INIT;
        assert_true(stream_read_line(s, &line, 100, NULL) <= 0);
        buf_free(&line);
    }
    stream_free(&s);
    close(fd);
    assert_int_equal(wait_client(pid), 0);
}

static void test_verify(void **state)
{
    (void)state;
    run_server_expect(client_good_name, "localhost", true);
    run_server_expect(client_good_name, "127.0.0.1", true);
    run_server_expect(client_good_name, "::1", true);
    run_server_expect(client_wrong_name, "mail.example.com", false);
    run_server_expect(client_wrong_name, "10.0.0.1", false);
    run_server_expect(client_untrusted, NULL, false);
    /* no verification: anything goes */
    run_server_expect(client_good_name, NULL, true);
}

static void test_handshake_timeout(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    struct stream *s = stream_new(fds[0]);
    stream_set_timeout(s, 150);
    /* a client that sends half a ClientHello and stops */
    assert_int_equal(write(fds[1], "\x16\x03\x01\x02\x00\x01", 6), 6);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *error = NULL;
    assert_int_equal(stream_starttls(s, server_ctx, &error), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 140 && ms < 3000);
    assert_non_null(strstr(error, "timed out"));
    stream_free(&s);

    /* a peer that closes during the handshake */
    s = stream_new(fds[0]);
    close(fds[1]);
    assert_int_equal(stream_starttls(s, server_ctx, &error), -1);
    print_message("closed during handshake: %s\n", error);
    stream_free(&s);
    close(fds[0]);
}

/* A client that closes the TCP connection without close_notify. */
static int client_abrupt(int fd, const void *arg)
{
    (void)arg;
    struct stream *s = client_connect(fd, NULL, false);
    stream_puts(s, "line\r\n");
    CHECK(stream_flush(s) == 0);
    /* no stream_free: the process ends and the kernel closes the fd */
    return 0;
}

static void test_eof_without_close_notify(void **state)
{
    (void)state;
    int fd;
    pid_t pid = spawn_client(client_abrupt, NULL, &fd);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    const char *error;
    if (stream_starttls(s, server_ctx, &error) < 0)
        fail_msg("handshake: %s", error);
    struct buf line = BUF_INIT;
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "line");
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_EOF);
    assert_int_equal(wait_client(pid), 0);
    /* writing to a peer that is gone: an error, not SIGPIPE */
    char big[8192];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 8; i++)
        stream_write(s, big, sizeof(big));
    assert_int_equal(stream_flush(s), -1);
    assert_true(stream_write_failed(s));
    stream_free(&s);
    close(fd);
    buf_free(&line);
}

/* Two lines in one TLS record: the second is pending after the first. */
static int client_two_lines(int fd, const void *arg)
{
    (void)arg;
    struct stream *s = client_connect(fd, NULL, false);
    stream_puts(s, "one\r\ntwo\r\n");
    CHECK(stream_flush(s) == 0);
    struct buf line = BUF_INIT;
    CHECK(stream_read_line(s, &line, 100, NULL) == STREAM_EOF);
    buf_free(&line);
    stream_free(&s);
    return 0;
}

static void test_tls_wait_readable(void **state)
{
    (void)state;
    int fd;
    pid_t pid = spawn_client(client_two_lines, NULL, &fd);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    const char *error;
    if (stream_starttls(s, server_ctx, &error) < 0)
        fail_msg("handshake: %s", error);
    assert_int_equal(stream_wait_readable(s, -1, 5000), STREAM_WAIT_INPUT);
    struct buf line = BUF_INIT;
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "one");
    assert_true(stream_input_pending(s) > 0);
    assert_int_equal(stream_wait_readable(s, -1, 0), STREAM_WAIT_INPUT);
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "two");
    assert_int_equal(stream_wait_readable(s, -1, 0), 0);
    stream_free(&s);   /* sends close_notify: the client sees EOF */
    close(fd);
    assert_int_equal(wait_client(pid), 0);
    buf_free(&line);
}

/* TLS 1.2 only server. */
static int client_plain_hi(int fd, const void *arg)
{
    (void)arg;
    struct stream *s = client_connect(fd, "localhost", true);
    CHECK(strcmp(stream_tls_protocol(s), "TLSv1.2") == 0);
    stream_puts(s, "hi\r\n");
    CHECK(stream_flush(s) == 0);
    stream_free(&s);
    return 0;
}

static void test_tls12_only(void **state)
{
    (void)state;
    struct tls_server_settings set = {
        .cert_file = certpath,
        .key_file = keypath,
        .versions = "tls1_2",
        .ciphers = "ECDHE+AESGCM",
        .prefer_server_ciphers = true,
    };
    const char *error;
    SSL_CTX *ctx = tls_server_ctx_new_settings(&set, &error);
    if (ctx == NULL)
        fail_msg("ctx: %s", error);
    int fd;
    pid_t pid = spawn_client(client_plain_hi, NULL, &fd);
    struct stream *s = stream_new(fd);
    stream_set_timeout(s, 5000);
    if (stream_starttls(s, ctx, &error) < 0)
        fail_msg("handshake: %s", error);
    assert_string_equal(stream_tls_protocol(s), "TLSv1.2");
    assert_non_null(strstr(stream_tls_info(s), "ECDHE-ECDSA-AES"));
    struct buf line = BUF_INIT;
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "hi");
    stream_free(&s);
    close(fd);
    assert_int_equal(wait_client(pid), 0);
    SSL_CTX_free(ctx);
    buf_free(&line);
}

static void test_versions_parse(void **state)
{
    (void)state;
    int min = 0, max = 0;
    const char *error;
    assert_int_equal(tls_versions_parse(NULL, &min, &max, &error), 0);
    assert_int_equal(min, TLS1_2_VERSION);
    assert_int_equal(max, TLS1_3_VERSION);
    assert_int_equal(tls_versions_parse("tls1_3", &min, &max, &error), 0);
    assert_int_equal(min, TLS1_3_VERSION);
    assert_int_equal(max, TLS1_3_VERSION);
    assert_int_equal(tls_versions_parse("  tls1_2  ", &min, &max, &error), 0);
    assert_int_equal(min, TLS1_2_VERSION);
    assert_int_equal(max, TLS1_2_VERSION);
    assert_int_equal(tls_versions_parse("tls1_3 tls1_2", &min, &max, &error), 0);
    assert_int_equal(min, TLS1_2_VERSION);
    assert_int_equal(max, TLS1_3_VERSION);
    assert_int_equal(tls_versions_parse("tls1_1 tls1_2", &min, &max, &error), -1);
    assert_non_null(strstr(error, "tls1_1"));
    assert_int_equal(tls_versions_parse("ssl3", &min, &max, &error), -1);
    assert_int_equal(tls_versions_parse("tls1_22", &min, &max, &error), -1);
    assert_int_equal(tls_versions_parse("", &min, &max, &error), -1);
    assert_int_equal(tls_versions_parse("   ", &min, &max, &error), -1);
}

static void test_config_ctx(void **state)
{
    (void)state;
    char text[1024];
    struct config *config = NULL;
    const char *error = NULL;
    SSL_CTX *ctx;

    snprintf(text, sizeof(text),
             "tls_server_cert: %s\ntls_server_key: %s\ntls_versions: tls1_3\n"
             "tls_prefer_server_ciphers: no\n",
             certpath, keypath);
    if (config_parse("test.conf", text, &config, &error) < 0)
        fail_msg("config: %s", error);
    ctx = tls_server_ctx_new(config, &error);
    if (ctx == NULL)
        fail_msg("ctx: %s", error);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE, 0);
    assert_true((SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION) != 0);
    assert_true((SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION) != 0);
    SSL_CTX_free(ctx);
    config_free(&config);

    /* a client context from the config */
    snprintf(text, sizeof(text), "tls_client_ca_file: %s\n", certpath);
    assert_int_equal(config_parse("test.conf", text, &config, &error), 0);
    ctx = tls_client_ctx_new_config(config, true, &error);
    assert_non_null(ctx);
    SSL_CTX_free(ctx);
    config_free(&config);

    /* no certificate configured */
    assert_int_equal(config_parse("test.conf", "", &config, &error), 0);
    assert_null(tls_server_ctx_new(config, &error));
    assert_non_null(strstr(error, "tls_server_cert"));
    config_free(&config);

    /* a version below TLS 1.2 */
    snprintf(text, sizeof(text), "tls_server_cert: %s\ntls_server_key: %s\ntls_versions: tls1_1\n",
             certpath, keypath);
    assert_int_equal(config_parse("test.conf", text, &config, &error), 0);
    assert_null(tls_server_ctx_new(config, &error));
    assert_non_null(strstr(error, "tls1_1"));
    config_free(&config);

    /* a cipher list OpenSSL cannot use */
    snprintf(text, sizeof(text), "tls_server_cert: %s\ntls_server_key: %s\ntls_ciphers: NOPE\n",
             certpath, keypath);
    assert_int_equal(config_parse("test.conf", text, &config, &error), 0);
    assert_null(tls_server_ctx_new(config, &error));
    assert_non_null(strstr(error, "tls_ciphers"));
    config_free(&config);
}

static void test_ctx_errors(void **state)
{
    (void)state;
    const char *error = NULL;
    char path[160], path2[160];

    snprintf(path, sizeof(path), "%s/missing.pem", tmpdir);
    assert_null(tls_server_ctx_new_files(path, keypath, &error));
    assert_non_null(strstr(error, "missing.pem"));
    assert_null(tls_server_ctx_new_files(certpath, path, &error));
    assert_null(tls_server_ctx_new_files(NULL, NULL, &error));
    assert_null(tls_client_ctx_new(path, true, &error));
    assert_non_null(strstr(error, "missing.pem"));
    /* a CA file is ignored when nothing is verified */
    SSL_CTX *ctx = tls_client_ctx_new(path, false, &error);
    assert_non_null(ctx);
    SSL_CTX_free(ctx);

    /* a key that belongs to another certificate */
    snprintf(path, sizeof(path), "%s/other-cert.pem", tmpdir);
    snprintf(path2, sizeof(path2), "%s/other-key.pem", tmpdir);
    assert_int_equal(tls_cert_generate(path, path2, "other", 1, TLS_CERT_KEY_EC, false, &error), 0);
    assert_null(tls_server_ctx_new_files(certpath, path2, &error));
    print_message("mismatch: %s\n", error);
    assert_non_null(error);
    unlink(path);
    unlink(path2);

    /* key and certificate in one file: key_file NULL */
    snprintf(path, sizeof(path), "%s/both.pem", tmpdir);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s'", certpath, keypath, path);
    assert_int_equal(system(cmd), 0);
    ctx = tls_server_ctx_new_files(path, NULL, &error);
    if (ctx == NULL)
        fail_msg("both: %s", error);
    SSL_CTX_free(ctx);
    unlink(path);
}

static void test_cert_generate(void **state)
{
    (void)state;
    char cert[160], key[160];
    const char *error = NULL;
    snprintf(cert, sizeof(cert), "%s/g-cert.pem", tmpdir);
    snprintf(key, sizeof(key), "%s/g-key.pem", tmpdir);

    mode_t old = umask(0);
    int r = tls_cert_generate(cert, key, "mail.example.org", 30, TLS_CERT_KEY_RSA, false, &error);
    umask(old);
    if (r < 0)
        fail_msg("generate: %s", error);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(cert, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* the certificate says what it should */
    FILE *f = fopen(cert, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    assert_int_equal(X509_check_host(x, "mail.example.org", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
    assert_int_equal(X509_check_host(x, "other.example.org", 0, 0, NULL), 0);
    EVP_PKEY *pk = X509_get0_pubkey(x);
    assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(pk), 2048);
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
    assert_true(days >= 29 && days <= 30);
    assert_int_equal(X509_check_ca(x), 0);
    X509_free(x);

    /* no overwrite without the flag; nothing changed */
    struct stat before;
    assert_int_equal(stat(key, &before), 0);
    assert_int_equal(tls_cert_generate(cert, key, "localhost", 1, TLS_CERT_KEY_EC, false, &error),
                     -1);
    assert_non_null(strstr(error, "exists"));
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_ino, before.st_ino);
    /* only the key exists: still refused, and no certificate appears */
    unlink(cert);
    assert_int_equal(tls_cert_generate(cert, key, "localhost", 1, TLS_CERT_KEY_EC, false, &error),
                     -1);
    assert_int_equal(stat(cert, &st), -1);
    /* with overwrite */
    assert_int_equal(tls_cert_generate(cert, key, "localhost", 1, TLS_CERT_KEY_EC, true, &error), 0);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    SSL_CTX *ctx = tls_server_ctx_new_files(cert, key, &error);
    assert_non_null(ctx);
    SSL_CTX_free(ctx);

    /* bad arguments */
    assert_int_equal(tls_cert_generate(cert, key, "bad name", 1, TLS_CERT_KEY_EC, true, &error), -1);
    assert_int_equal(tls_cert_generate(cert, key, "a,DNS:evil", 1, TLS_CERT_KEY_EC, true, &error),
                     -1);
    assert_int_equal(tls_cert_generate(cert, key, "", 1, TLS_CERT_KEY_EC, true, &error), -1);
    assert_int_equal(tls_cert_generate(cert, key, "localhost", 0, TLS_CERT_KEY_EC, true, &error),
                     -1);
    assert_int_equal(tls_cert_generate(cert, cert, "localhost", 1, TLS_CERT_KEY_EC, true, &error),
                     -1);
    char nodir[160];
    snprintf(nodir, sizeof(nodir), "%s/no/such/dir/c.pem", tmpdir);
    assert_int_equal(tls_cert_generate(nodir, key, "localhost", 1, TLS_CERT_KEY_EC, true, &error),
                     -1);
    assert_true(tls_cert_name_valid("::1"));
    assert_true(tls_cert_name_valid("host-1.example_x.org"));
    assert_false(tls_cert_name_valid("-x"));
    assert_false(tls_cert_name_valid(NULL));
    unlink(cert);
    unlink(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_implicit_tls),
        cmocka_unit_test(test_starttls_injection),
        cmocka_unit_test(test_tls11_refused),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_eof_without_close_notify),
        cmocka_unit_test(test_tls_wait_readable),
        cmocka_unit_test(test_tls12_only),
        cmocka_unit_test(test_versions_parse),
        cmocka_unit_test(test_config_ctx),
        cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_cert_generate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
