/* test-net.c - unit tests for net.c: listen, connect, describe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-net-XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static bool is_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

/* Accept one connection on lfd, connected from address. */
static void connect_pair(int lfd, const char *address, int *client_r, int *server_r)
{
    const char *error = NULL;
    int c = net_connect(address, 2000, &error);
    if (c < 0)
        fail_msg("connect %s: %s", address, error);
    int s = accept(lfd, NULL, NULL);
    assert_true(s >= 0);
    *client_r = c;
    *server_r = s;
}

static void test_tcp_v4(void **state)
{
    (void)state;
    const char *error = NULL;
    int lfd = net_listen("127.0.0.1:0", 16, &error);
    if (lfd < 0)
        fail_msg("listen: %s", error);
    assert_true(is_cloexec(lfd));
    int port = net_local_port(lfd);
    assert_true(port > 0 && port < 65536);

    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    int c, s;
    connect_pair(lfd, addr, &c, &s);
    assert_true(is_cloexec(c));
    /* net_connect hands back a blocking socket */
    assert_int_equal(fcntl(c, F_GETFL) & O_NONBLOCK, 0);

    char pip[64], lip[64];
    int pport = -1, lport = -1;
    assert_false(net_describe(s, pip, sizeof(pip), &pport, lip, sizeof(lip), &lport));
    assert_string_equal(pip, "127.0.0.1");
    assert_string_equal(lip, "127.0.0.1");
    assert_int_equal(lport, port);
    assert_int_equal(pport, net_local_port(c));

    net_set_nodelay(s);
    int one = 0;
    socklen_t len = sizeof(one);
    assert_int_equal(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, &len), 0);
    assert_true(one != 0);

    /* data flows */
    assert_int_equal(write(c, "hi", 2), 2);
    char b[4];
    assert_int_equal(read(s, b, sizeof(b)), 2);

    close(c);
    close(s);
    close(lfd);
}

static void test_tcp_v6(void **state)
{
    (void)state;
    const char *error = NULL;
    int lfd = net_listen("[::1]:0", 16, &error);
    if (lfd < 0) {
        /* A host without IPv6 loopback. */
        print_message("no IPv6: %s\n", error);
        skip();
    }
    int port = net_local_port(lfd);
    assert_true(port > 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "[::1]:%d", port);
    int c, s;
    connect_pair(lfd, addr, &c, &s);
    char pip[64], lip[64];
    int pport, lport;
    assert_false(net_describe(s, pip, sizeof(pip), &pport, lip, sizeof(lip), &lport));
    assert_string_equal(pip, "::1");
    assert_string_equal(lip, "::1");
    assert_int_equal(lport, port);

    /* an explicit IPv6 address is IPv6 only */
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    int c4 = net_connect(addr, 1000, &error);
    assert_true(c4 < 0);
    close(c);
    close(s);
    close(lfd);
}

static void test_tcp_any(void **state)
{
    (void)state;
    const char *error = NULL;
    int lfd = net_listen("*:0", 16, &error);
    if (lfd < 0)
        fail_msg("listen *: %s", error);
    int port = net_local_port(lfd);
    assert_true(port > 0);

    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    int c, s;
    connect_pair(lfd, addr, &c, &s);
    char pip[64];
    int pport;
    net_describe(s, pip, sizeof(pip), &pport, NULL, 0, NULL);
    /* IPv4-mapped addresses are shown as IPv4 */
    assert_string_equal(pip, "127.0.0.1");
    close(c);
    close(s);

    snprintf(addr, sizeof(addr), "[::1]:%d", port);
    int c6 = net_connect(addr, 1000, &error);
    if (c6 >= 0) {
        int s6 = accept(lfd, NULL, NULL);
        assert_true(s6 >= 0);
        net_describe(s6, pip, sizeof(pip), &pport, NULL, 0, NULL);
        assert_string_equal(pip, "::1");
        close(s6);
        close(c6);
    }
    close(lfd);

    /* localhost:port by name */
    lfd = net_listen("localhost:0", 4, &error);
    if (lfd < 0)
        fail_msg("listen localhost: %s", error);
    close(lfd);
}

static void test_unix(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/sock", tmpdir);
    assert_true(net_address_is_unix(path));
    assert_false(net_address_is_unix("127.0.0.1:1"));

    const char *error = NULL;
    int lfd = net_listen(path, 16, &error);
    if (lfd < 0)
        fail_msg("listen: %s", error);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0777);
    assert_int_equal(net_local_port(lfd), -1);

    /* a second listener on a live socket is refused */
    assert_true(net_listen(path, 16, &error) < 0);
    assert_non_null(strstr(error, "listening"));

    int c, s;
    connect_pair(lfd, path, &c, &s);
    char pip[64] = "x", lip[64] = "x";
    int pport = -1, lport = -1;
    assert_true(net_describe(s, pip, sizeof(pip), &pport, lip, sizeof(lip), &lport));
    assert_string_equal(pip, "");
    assert_string_equal(lip, "");
    assert_int_equal(pport, 0);
    assert_int_equal(lport, 0);
    net_set_nodelay(s);   /* harmless */
    close(c);
    close(s);
    close(lfd);

    /* the socket file stays behind: a stale socket is replaced */
    assert_int_equal(stat(path, &st), 0);
    lfd = net_listen(path, 16, &error);
    if (lfd < 0)
        fail_msg("relisten: %s", error);
    close(lfd);
    unlink(path);

    /* a regular file is never removed */
    snprintf(path, sizeof(path), "%s/file", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_true(net_listen(path, 16, &error) < 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(path);

    /* too long for sun_path */
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    assert_true(net_listen(longpath, 16, &error) < 0);
    assert_true(net_connect(longpath, 100, &error) < 0);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_unix_connect_timeout(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/full", tmpdir);
    const char *error = NULL;
    int lfd = net_listen(path, 0, &error);
    assert_true(lfd >= 0);
    /* With backlog 0 the queue is full after a connection or two; fill it
     * without accepting, then the next connect must time out. */
    int fds[8];
    int n = 0;
    long long t0 = 0;
    int r = 0;
    for (n = 0; n < 8; n++) {
        t0 = now_ms();
        r = net_connect(path, 200, &error);
        if (r < 0)
            break;
        fds[n] = r;
    }
    assert_true(r < 0);
    assert_non_null(strstr(error, "timed out"));
    long long took = now_ms() - t0;
    assert_true(took >= 150 && took < 2000);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(lfd);
    unlink(path);
}

static void test_connect_refused(void **state)
{
    (void)state;
    const char *error = NULL;
    /* a port that was just free */
    int lfd = net_listen("127.0.0.1:0", 1, &error);
    assert_true(lfd >= 0);
    int port = net_local_port(lfd);
    close(lfd);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_true(net_connect(addr, 1000, &error) < 0);
    assert_non_null(strstr(error, "refused"));

    char path[128];
    snprintf(path, sizeof(path), "%s/nothing", tmpdir);
    assert_true(net_connect(path, 1000, &error) < 0);
}

static void test_bad_addresses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "nocolon", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:12a",
        "[::1", "[::1]", "[]:1", "::1:143", ":143", "[::1]143", "127.0.0.1: 1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *error = NULL;
        int fd = net_listen(bad[i], 1, &error);
        if (fd >= 0)
            fail_msg("listen accepted \"%s\"", bad[i]);
        assert_non_null(error);
        error = NULL;
        fd = net_connect(bad[i], 100, &error);
        if (fd >= 0)
            fail_msg("connect accepted \"%s\"", bad[i]);
        assert_non_null(error);
    }
    const char *error = NULL;
    assert_true(net_connect("*:143", 100, &error) < 0);
    assert_true(net_listen("no-such-host.invalid:143", 1, &error) < 0);
}

static void test_in_use(void **state)
{
    (void)state;
    const char *error = NULL;
    int lfd = net_listen("127.0.0.1:0", 1, &error);
    assert_true(lfd >= 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", net_local_port(lfd));
    assert_true(net_listen(addr, 1, &error) < 0);
    assert_non_null(strstr(error, addr));
    close(lfd);
}

static void test_describe_not_socket(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    char pip[64] = "x", lip[64] = "x";
    int pport = 5, lport = 5;
    assert_false(net_describe(p[0], pip, sizeof(pip), &pport, lip, sizeof(lip), &lport));
    assert_string_equal(pip, "");
    assert_int_equal(pport, 0);
    assert_int_equal(net_local_port(p[0]), -1);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_v4),
        cmocka_unit_test(test_tcp_v6),
        cmocka_unit_test(test_tcp_any),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_unix_connect_timeout),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_in_use),
        cmocka_unit_test(test_describe_not_socket),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
