/* test-stream.c - unit tests for stream.c over socketpairs (plain text;
 * TLS is in test-tls.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct pair {
    int fd[2];          /* fd[0]: the stream's end, fd[1]: the test's peer */
    struct stream *s;
};

static void pair_open_type(struct pair *p, int type)
{
    assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, p->fd), 0);
    p->s = stream_new(p->fd[0]);
    assert_non_null(p->s);
    assert_int_equal(stream_fd(p->s), p->fd[0]);
}

static void pair_open(struct pair *p)
{
    pair_open_type(p, SOCK_STREAM);
}

static void pair_close(struct pair *p)
{
    stream_free(&p->s);
    assert_null(p->s);
    close(p->fd[0]);
    if (p->fd[1] >= 0)
        close(p->fd[1]);
}

static void peer_send(struct pair *p, const void *data, size_t len)
{
    assert_int_equal(send(p->fd[1], data, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void peer_sends(struct pair *p, const char *str)
{
    peer_send(p, str, strlen(str));
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fork a child that writes len bytes (fill, or the pattern when fill is 0:
 * byte i is pattern_byte(i)) to p's peer end, optionally followed by tail,
 * then exits.  The child closes the stream's end so that it sees EPIPE
 * when the test closes it. */
static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static pid_t spawn_writer(struct pair *p, size_t len, unsigned char fill, const char *tail)
{
    int fd = p->fd[1];
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p->fd[0]);
        static unsigned char chunk[65536];
        size_t off = 0;
        while (off < len) {
            size_t n = len - off < sizeof(chunk) ? len - off : sizeof(chunk);
            for (size_t i = 0; i < n; i++)
                chunk[i] = fill != 0 ? fill : pattern_byte(off + i);
            size_t done = 0;
            while (done < n) {
                ssize_t w = send(fd, chunk + done, n - done, MSG_NOSIGNAL);
                if (w <= 0)
                    _exit(1);
                done += (size_t)w;
            }
            off += n;
        }
        if (tail != NULL && send(fd, tail, strlen(tail), MSG_NOSIGNAL) != (ssize_t)strlen(tail))
            _exit(1);
        _exit(0);
    }
    return pid;
}

static void wait_child(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_lines(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct buf line = BUF_INIT;
    unsigned flags = 99;

    peer_sends(&p, "a001 NOOP\r\nbare lf\n\r\n\nlast\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_OK);
    assert_string_equal(line.data, "a001 NOOP");
    assert_int_equal(line.len, 9);
    assert_int_equal(flags, 0);
    /* the rest is buffered already */
    assert_int_equal(stream_input_pending(p.s), strlen("bare lf\n\r\n\nlast\r\n"));
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_OK);
    assert_string_equal(line.data, "bare lf");
    assert_int_equal(flags, STREAM_LINE_BARE_LF);
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_OK);
    assert_int_equal(line.len, 0);
    assert_int_equal(flags, 0);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_int_equal(line.len, 0);
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_OK);
    assert_string_equal(line.data, "last");
    assert_int_equal(stream_input_pending(p.s), 0);

    /* a line split over several packets */
    peer_sends(&p, "spl");
    peer_sends(&p, "it\r");
    peer_sends(&p, "\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_OK);
    assert_string_equal(line.data, "split");
    assert_int_equal(flags, 0);

    /* NUL and stray CR are reported, nothing is cut */
    peer_send(&p, "a\0b\r\n", 5);
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_OK);
    assert_int_equal(line.len, 3);
    assert_memory_equal(line.data, "a\0b", 3);
    assert_int_equal(flags, STREAM_LINE_NUL);
    peer_sends(&p, "x\ry\r\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_OK);
    assert_string_equal(line.data, "x\ry\r");
    assert_int_equal(flags, STREAM_LINE_CR);

    /* EOF: clean, and with an unterminated last line */
    peer_sends(&p, "partial");
    shutdown(p.fd[1], SHUT_WR);
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_EOF);
    assert_string_equal(line.data, "partial");
    assert_int_equal(stream_read_line(p.s, &line, 100, &flags), STREAM_EOF);
    assert_int_equal(line.len, 0);
    buf_free(&line);
    pair_close(&p);
}

static void test_line_max(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct buf line = BUF_INIT;
    unsigned flags;

    /* exactly max, with CRLF and with LF */
    peer_sends(&p, "12345\r\n12345\n");
    assert_int_equal(stream_read_line(p.s, &line, 5, &flags), STREAM_OK);
    assert_string_equal(line.data, "12345");
    assert_int_equal(stream_read_line(p.s, &line, 5, &flags), STREAM_OK);
    assert_string_equal(line.data, "12345");
    assert_int_equal(flags, STREAM_LINE_BARE_LF);

    /* max+1: refused, line holds the first max bytes, next line fine */
    peer_sends(&p, "123456\r\nnext\r\n1234\r\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 5, &flags), STREAM_TOO_LONG);
    assert_string_equal(line.data, "12345");
    assert_int_equal(stream_read_line(p.s, &line, 5, &flags), STREAM_OK);
    assert_string_equal(line.data, "next");
    /* "1234\r" is 5 bytes: fits, with a stray CR */
    assert_int_equal(stream_read_line(p.s, &line, 5, &flags), STREAM_OK);
    assert_string_equal(line.data, "1234\r");
    assert_int_equal(flags, STREAM_LINE_CR);
    peer_sends(&p, "123456\n");
    assert_int_equal(stream_read_line(p.s, &line, 5, &flags), STREAM_TOO_LONG);

    /* max 0: only empty lines */
    peer_sends(&p, "\r\nx\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 0, &flags), STREAM_OK);
    assert_int_equal(line.len, 0);
    assert_int_equal(stream_read_line(p.s, &line, 0, &flags), STREAM_TOO_LONG);

    /* a 300 KB line spanning many reads: bounded buffer, then recovery */
    pid_t pid = spawn_writer(&p, 300 * 1024, 'x', "\r\na002 LOGOUT\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 1000, &flags), STREAM_TOO_LONG);
    assert_int_equal(line.len, 1000);
    assert_true(line.alloc <= 4096);
    assert_int_equal(stream_read_line(p.s, &line, 1000, &flags), STREAM_OK);
    assert_string_equal(line.data, "a002 LOGOUT");
    wait_child(pid);
    buf_free(&line);
    pair_close(&p);
}

static void test_line_endless(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct buf line = BUF_INIT;
    /* a line that never ends: bounded work, then an error */
    pid_t pid = spawn_writer(&p, STREAM_LINE_DISCARD_MAX + 200 * 1024, 'y', NULL);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_ERROR);
    assert_int_equal(line.len, 100);
    assert_non_null(stream_error(p.s));
    assert_non_null(strstr(stream_error(p.s), "too long"));
    /* the stream stays failed */
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_ERROR);
    stream_free(&p.s);
    close(p.fd[0]);   /* the writer gets EPIPE and ends */
    close(p.fd[1]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    buf_free(&line);
}

static void test_exact_and_skip(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct buf line = BUF_INIT, out = BUF_INIT;

    peer_sends(&p, "a APPEND x {5}\r\nhello world\r\nb {3}\r\nabcNEXT\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "a APPEND x {5}");
    assert_int_equal(stream_read_exact(p.s, 5, &out), STREAM_OK);
    assert_string_equal(out.data, "hello");
    /* appends */
    assert_int_equal(stream_read_exact(p.s, 6, &out), STREAM_OK);
    assert_string_equal(out.data, "hello world");
    assert_int_equal(stream_read_exact(p.s, 0, &out), STREAM_OK);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_int_equal(line.len, 0);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_int_equal(stream_skip(p.s, 3), STREAM_OK);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "NEXT");

    /* a literal bigger than the input buffer, straight into out */
    size_t big = 200 * 1024;
    pid_t pid = spawn_writer(&p, big, 0, "tail\r\n");
    buf_reset(&out);
    assert_int_equal(stream_read_exact(p.s, big, &out), STREAM_OK);
    assert_int_equal(out.len, big);
    for (size_t i = 0; i < big; i++) {
        if ((unsigned char)out.data[i] != pattern_byte(i))
            fail_msg("byte %zu differs", i);
    }
    assert_int_equal(out.data[big], '\0');
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "tail");
    wait_child(pid);

    /* skipping a big refused literal */
    pid = spawn_writer(&p, big, 0, "after\r\n");
    assert_int_equal(stream_skip(p.s, big), STREAM_OK);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "after");
    wait_child(pid);

    /* EOF in the middle of a literal */
    peer_sends(&p, "abc");
    shutdown(p.fd[1], SHUT_WR);
    buf_reset(&out);
    assert_int_equal(stream_read_exact(p.s, 10, &out), STREAM_EOF);
    assert_string_equal(out.data, "abc");
    assert_int_equal(stream_skip(p.s, 1), STREAM_EOF);
    buf_free(&line);
    buf_free(&out);
    pair_close(&p);
}

static void test_chunked_read(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct buf line = BUF_INIT;

    /* a body after a line, read in chunks of several sizes */
    size_t big = 1024 * 1024 + 17;
    peer_sends(&p, "DATA 1048593\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    pid_t pid = spawn_writer(&p, big, 0, NULL);
    close(p.fd[1]);
    p.fd[1] = -1;
    static unsigned char chunk[100 * 1024];
    size_t got = 0;
    size_t sizes[] = { 1, 1000, sizeof(chunk), 4096, 40 * 1024 };
    for (unsigned i = 0; got < big; i++) {
        size_t want = sizes[i % 5];
        if (want > big - got)
            want = big - got;
        ssize_t r = stream_read(p.s, chunk, want);
        assert_true(r > 0 && (size_t)r <= want);
        for (ssize_t j = 0; j < r; j++) {
            if (chunk[j] != pattern_byte(got + (size_t)j))
                fail_msg("byte %zu differs", got + (size_t)j);
        }
        got += (size_t)r;
    }
    assert_int_equal(stream_read(p.s, chunk, sizeof(chunk)), STREAM_EOF);
    wait_child(pid);
    buf_free(&line);
    pair_close(&p);
}

static void test_timeout(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct buf line = BUF_INIT, out = BUF_INIT;
    stream_set_timeout(p.s, 100);
    assert_int_equal(stream_timeout(p.s), 100);

    long long t0 = now_ms();
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_TIMEOUT);
    long long took = now_ms() - t0;
    assert_true(took >= 90 && took < 2000);
    assert_non_null(strstr(stream_error(p.s), "timed out"));

    /* a timeout in the middle of a line: the next call continues it */
    peer_sends(&p, "par");
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_TIMEOUT);
    peer_sends(&p, "tial\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "partial");

    /* counted reads time out too, and the stream still works after */
    assert_int_equal(stream_read_exact(p.s, 4, &out), STREAM_TIMEOUT);
    unsigned char b[4];
    assert_int_equal(stream_read(p.s, b, sizeof(b)), STREAM_TIMEOUT);
    assert_int_equal(stream_skip(p.s, 1), STREAM_TIMEOUT);
    peer_sends(&p, "ok\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "ok");
    buf_free(&line);
    buf_free(&out);
    pair_close(&p);
}

static void test_output_one_write(void **state)
{
    (void)state;
    /* SOCK_SEQPACKET keeps the boundaries of every send(): the peer can
     * count the stream's write calls. */
    struct pair p;
    pair_open_type(&p, SOCK_SEQPACKET);
    char rbuf[70000];

    stream_puts(p.s, "* 1 EXISTS\r\n");
    stream_write(p.s, "* 0 RECENT\r\n", 12);
    stream_printf(p.s, "%s OK [%s] %d done\r\n", "a1", "READ-WRITE", 42);
    assert_int_equal(stream_output_pending(p.s), 12 + 12 + strlen("a1 OK [READ-WRITE] 42 done\r\n"));
    /* nothing sent yet */
    assert_int_equal(recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    assert_int_equal(stream_flush(p.s), 0);
    assert_int_equal(stream_output_pending(p.s), 0);
    ssize_t n = recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT);
    const char *want = "* 1 EXISTS\r\n* 0 RECENT\r\na1 OK [READ-WRITE] 42 done\r\n";
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(rbuf, want, strlen(want));
    /* and only one record */
    assert_int_equal(recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT), -1);
    /* flushing nothing writes nothing */
    assert_int_equal(stream_flush(p.s), 0);
    assert_int_equal(recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT), -1);
    pair_close(&p);
}

static void test_output_threshold(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    static char rbuf[STREAM_OUTPUT_FLUSH_SIZE * 2];
    char piece[1000];
    memset(piece, 'z', sizeof(piece));

    size_t written = 0;
    while (written + sizeof(piece) < STREAM_OUTPUT_FLUSH_SIZE) {
        stream_write(p.s, piece, sizeof(piece));
        written += sizeof(piece);
    }
    assert_int_equal(recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT), -1);
    /* crossing the threshold sends everything by itself */
    stream_write(p.s, piece, sizeof(piece));
    written += sizeof(piece);
    assert_int_equal(stream_output_pending(p.s), 0);
    size_t got = 0;
    while (got < written) {
        ssize_t n = recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_int_equal(got, written);
    pair_close(&p);
}

/* A child that reads everything from fd and exits with 0 when it counted
 * expect bytes of the pattern. */
static pid_t spawn_reader(struct pair *p, size_t expect)
{
    int fd = p->fd[1];
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p->fd[0]);
        static unsigned char b[65536];
        size_t got = 0;
        for (;;) {
            ssize_t n = recv(fd, b, sizeof(b), 0);
            if (n <= 0)
                break;
            for (ssize_t i = 0; i < n; i++) {
                if (b[i] != pattern_byte(got + (size_t)i))
                    _exit(2);
            }
            got += (size_t)n;
        }
        _exit(got == expect ? 0 : 3);
    }
    return pid;
}

static void test_output_big(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    size_t big = 3 * 1024 * 1024;
    unsigned char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = pattern_byte(i);
    pid_t pid = spawn_reader(&p, big);
    stream_set_timeout(p.s, 5000);
    /* small, then a big block straight through, then small again */
    stream_write(p.s, data, 10);
    stream_write(p.s, data + 10, big - 20);
    stream_write(p.s, data + big - 10, 10);
    assert_int_equal(stream_flush(p.s), 0);
    assert_false(stream_write_failed(p.s));
    shutdown(p.fd[0], SHUT_WR);
    wait_child(pid);
    free(data);
    pair_close(&p);
}

static void test_write_peer_closed(void **state)
{
    (void)state;
    /* the default SIGPIPE action would kill this test */
    signal(SIGPIPE, SIG_DFL);
    struct pair p;
    pair_open(&p);
    close(p.fd[1]);
    p.fd[1] = -1;
    stream_puts(p.s, "* BYE\r\n");
    assert_int_equal(stream_flush(p.s), -1);
    assert_true(stream_write_failed(p.s));
    assert_non_null(stream_error(p.s));
    /* remembered: later writes are dropped and flush keeps failing */
    stream_puts(p.s, "more\r\n");
    assert_int_equal(stream_output_pending(p.s), 0);
    assert_int_equal(stream_flush(p.s), -1);
    pair_close(&p);
}

static void test_write_timeout(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    stream_set_timeout(p.s, 100);
    /* the peer never reads: the socket buffer fills, then a timeout */
    static char junk[256 * 1024];
    memset(junk, 'j', sizeof(junk));
    for (int i = 0; i < 64 && !stream_write_failed(p.s); i++)
        stream_write(p.s, junk, sizeof(junk));
    assert_true(stream_write_failed(p.s));
    assert_non_null(strstr(stream_error(p.s), "timed out"));
    pair_close(&p);
}

static void test_flush_before_wait(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct buf line = BUF_INIT;
    char rbuf[100];
    stream_set_timeout(p.s, 50);

    /* buffered input: no wait, so no flush (pipelined answers batch up) */
    peer_sends(&p, "a\r\nb\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    stream_puts(p.s, "A\r\n");
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_int_equal(recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT), -1);
    stream_puts(p.s, "B\r\n");
    /* about to wait: the answers go out */
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_TIMEOUT);
    ssize_t n = recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT);
    assert_int_equal(n, 6);
    assert_memory_equal(rbuf, "A\r\nB\r\n", 6);
    buf_free(&line);
    pair_close(&p);
}

static void test_wait_readable(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct buf line = BUF_INIT;
    int extra[2];
    assert_int_equal(pipe(extra), 0);
    char rbuf[16];

    long long t0 = now_ms();
    assert_int_equal(stream_wait_readable(p.s, extra[0], 80), 0);
    assert_true(now_ms() - t0 >= 70);
    assert_int_equal(stream_wait_readable(p.s, -1, 0), 0);

    assert_int_equal(write(extra[1], "x", 1), 1);
    assert_int_equal(stream_wait_readable(p.s, extra[0], 1000), STREAM_WAIT_EXTRA);
    assert_int_equal(read(extra[0], rbuf, 1), 1);

    /* pending output is flushed before waiting ("+ idling") */
    stream_puts(p.s, "+ idling\r\n");
    peer_sends(&p, "DONE\r\nNEXT\r\n");
    assert_int_equal(stream_wait_readable(p.s, extra[0], -1), STREAM_WAIT_INPUT);
    assert_int_equal(recv(p.fd[1], rbuf, sizeof(rbuf), MSG_DONTWAIT), 10);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "DONE");
    /* NEXT is buffered: ready at once, even with the extra fd readable */
    assert_int_equal(write(extra[1], "y", 1), 1);
    assert_int_equal(stream_wait_readable(p.s, extra[0], 0), STREAM_WAIT_INPUT);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_OK);
    assert_int_equal(stream_wait_readable(p.s, extra[0], 0), STREAM_WAIT_EXTRA);
    peer_sends(&p, "z");
    assert_int_equal(stream_wait_readable(p.s, extra[0], 0),
                     STREAM_WAIT_INPUT | STREAM_WAIT_EXTRA);

    /* a closed peer counts as input (the read then reports EOF) */
    close(p.fd[1]);
    p.fd[1] = -1;
    assert_int_equal(read(extra[0], rbuf, 1), 1);
    assert_int_equal(stream_read_line(p.s, &line, 100, NULL), STREAM_EOF);
    assert_int_equal(stream_wait_readable(p.s, extra[0], 1000), STREAM_WAIT_INPUT);
    close(extra[0]);
    close(extra[1]);
    buf_free(&line);
    pair_close(&p);
}

static void test_pipe_fd(void **state)
{
    (void)state;
    /* a non-socket fd (inetd mode, deliver's stdin) */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct stream *s = stream_new(fds[0]);
    stream_set_timeout(s, 50);
    struct buf line = BUF_INIT;
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_TIMEOUT);
    assert_int_equal(write(fds[1], "hello\n", 6), 6);
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_OK);
    assert_string_equal(line.data, "hello");
    close(fds[1]);
    assert_int_equal(stream_read_line(s, &line, 100, NULL), STREAM_EOF);
    stream_free(&s);
    /* the fd's blocking mode is given back */
    assert_int_equal(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
    /* and the fd was not closed */
    assert_true(fcntl(fds[0], F_GETFD) >= 0);
    close(fds[0]);
    buf_free(&line);
}

static void test_close_fd(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    struct stream *s = stream_new(fds[0]);
    stream_set_close_fd(s, true);
    assert_false(stream_is_tls(s));
    assert_null(stream_tls_info(s));
    assert_int_equal(stream_tls_ssf(s), 0);
    assert_null(stream_error(s));
    stream_free(&s);
    stream_free(&s);   /* NULL is fine */
    assert_int_equal(fcntl(fds[0], F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_line_max),
        cmocka_unit_test(test_line_endless),
        cmocka_unit_test(test_exact_and_skip),
        cmocka_unit_test(test_chunked_read),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_output_one_write),
        cmocka_unit_test(test_output_threshold),
        cmocka_unit_test(test_output_big),
        cmocka_unit_test(test_write_peer_closed),
        cmocka_unit_test(test_write_timeout),
        cmocka_unit_test(test_flush_before_wait),
        cmocka_unit_test(test_wait_readable),
        cmocka_unit_test(test_pipe_fd),
        cmocka_unit_test(test_close_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
