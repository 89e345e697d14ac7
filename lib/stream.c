/* stream.c - a buffered connection, plain or TLS, with timeouts.
 *
 * NAME
 *     stream_new, stream_read_line, stream_read_exact, stream_write,
 *     stream_flush, stream_starttls ...
 *
 * DESCRIPTION
 *     One input buffer (STREAM_INPUT_SIZE bytes) and one output buffer (a
 *     struct buf) over an fd.  All I/O is non-blocking underneath
 *     (MSG_DONTWAIT on sockets, O_NONBLOCK on other fds) and every wait
 *     goes through poll() with the stream's timeout, so a peer that stops
 *     talking in the middle of a line, a TLS record or a handshake cannot
 *     hold a process forever.  TLS goes through OpenSSL with a small BIO of
 *     our own over the same send/recv calls (MSG_NOSIGNAL: no SIGPIPE).
 *
 *     Line reading never buffers more than max+1 bytes of a line: the rest
 *     of an over-long line is read and thrown away up to its LF.
 *
 * SECURITY
 *     Starting TLS drops every byte of input already buffered: bytes that a
 *     peer sent after STARTTLS in the same packet were sent in plaintext and
 *     must not be taken as if they came through TLS (CVE-2011-0411 and its
 *     relatives).  Renegotiation is refused by the contexts (tls.c).
 */
#include "stream.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#define STREAM_INPUT_SIZE (32 * 1024)

struct stream {
    int fd;
    bool close_fd;
    bool is_socket;
    bool restore_flags;     /* we set O_NONBLOCK on a non-socket fd */
    int saved_flags;
    int timeout_ms;

    char *in;
    size_t in_pos, in_len;
    bool eof;
    bool read_failed;

    struct buf out;
    bool write_failed;

    /* stream_read_line() state kept across a timeout */
    bool line_partial;
    bool line_too_long;
    size_t line_discarded;

    SSL *ssl;
    int sys_errno;          /* errno of the BIO's last failed call */
    char tls_info[160];

    char error[512];
};

static void stream_set_error(struct stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void stream_set_error(struct stream *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
}

static long long stream_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long stream_deadline(const struct stream *s)
{
    return s->timeout_ms > 0 ? stream_now_ms() + s->timeout_ms : 0;
}

struct stream *stream_new(int fd)
{
    struct stream *s = xcalloc(1, sizeof(*s));
    s->fd = fd;
    s->in = xmalloc(STREAM_INPUT_SIZE);
    buf_init(&s->out);

    int type;
    socklen_t len = sizeof(type);
    s->is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
    if (!s->is_socket) {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0 && (flags & O_NONBLOCK) == 0
            && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0) {
            s->restore_flags = true;
            s->saved_flags = flags;
        }
    }
    return s;
}

void stream_free(struct stream **sp)
{
    struct stream *s = *sp;
    if (s == NULL)
        return;
    *sp = NULL;
    if (s->ssl != NULL) {
        if (!s->write_failed) {
            /* close_notify, if it can go out without waiting */
            ERR_clear_error();
            (void)SSL_shutdown(s->ssl);
        }
        SSL_free(s->ssl);
        ERR_clear_error();
    }
    if (s->restore_flags)
        (void)fcntl(s->fd, F_SETFL, s->saved_flags);
    if (s->close_fd)
        close(s->fd);
    buf_free(&s->out);
    free(s->in);
    free(s);
}

void stream_set_close_fd(struct stream *s, bool close_fd)
{
    s->close_fd = close_fd;
}

int stream_fd(const struct stream *s)
{
    return s->fd;
}

void stream_set_timeout(struct stream *s, int timeout_ms)
{
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

int stream_timeout(const struct stream *s)
{
    return s->timeout_ms;
}

const char *stream_error(const struct stream *s)
{
    return s->error[0] != '\0' ? s->error : NULL;
}

/* ---- the system calls ---- */

/* > 0 bytes, 0 EOF, -1 would block, -2 error (errno set). */
static ssize_t stream_sys_read(struct stream *s, void *dst, size_t n)
{
    ssize_t r;
    do {
        r = s->is_socket ? recv(s->fd, dst, n, MSG_DONTWAIT) : read(s->fd, dst, n);
    } while (r < 0 && errno == EINTR);
    if (r >= 0)
        return r;
    return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
}

/* >= 0 bytes written, -1 would block, -2 error (errno set). */
static ssize_t stream_sys_write(struct stream *s, const void *data, size_t n)
{
    ssize_t r;
    do {
        r = s->is_socket ? send(s->fd, data, n, MSG_DONTWAIT | MSG_NOSIGNAL)
                         : write(s->fd, data, n);
    } while (r < 0 && errno == EINTR);
    if (r >= 0)
        return r;
    return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
}

/* Wait for events until deadline (0 = forever): 1 ready (or hangup/error,
 * which the next I/O call reports), 0 timed out, -1 error. */
static int stream_poll(struct stream *s, short events, long long deadline)
{
    for (;;) {
        int wait = -1;
        if (deadline > 0) {
            long long left = deadline - stream_now_ms();
            if (left <= 0)
                return 0;
            wait = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd pfd = { .fd = s->fd, .events = events, .revents = 0 };
        int r = poll(&pfd, 1, wait);
        if (r > 0)
            return 1;
        if (r == 0)
            continue;
        if (errno == EINTR)
            continue;
        stream_set_error(s, "poll: %s", strerror(errno));
        return -1;
    }
}

/* ---- the TLS BIO: OpenSSL reads and writes through the calls above ---- */

static int stream_bio_write(BIO *b, const char *data, int len)
{
    struct stream *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    ssize_t r = stream_sys_write(s, data, (size_t)len);
    if (r >= 0)
        return (int)r;
    if (r == -1) {
        BIO_set_retry_write(b);
        return -1;
    }
    s->sys_errno = errno;
    return -1;
}

static int stream_bio_read(BIO *b, char *data, int len)
{
    struct stream *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    ssize_t r = stream_sys_read(s, data, (size_t)len);
    if (r >= 0)
        return (int)r;
    if (r == -1) {
        BIO_set_retry_read(b);
        return -1;
    }
    s->sys_errno = errno;
    return -1;
}

static int stream_bio_puts(BIO *b, const char *str)
{
    return stream_bio_write(b, str, (int)strlen(str));
}

static long stream_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int stream_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int stream_bio_destroy(BIO *b)
{
    (void)b;
    return 1;
}

static BIO_METHOD *stream_bio_method(void)
{
    static BIO_METHOD *method;
    if (method != NULL)
        return method;
    method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "roost stream");
    if (method == NULL || BIO_meth_set_write(method, stream_bio_write) != 1
        || BIO_meth_set_read(method, stream_bio_read) != 1
        || BIO_meth_set_puts(method, stream_bio_puts) != 1
        || BIO_meth_set_ctrl(method, stream_bio_ctrl) != 1
        || BIO_meth_set_create(method, stream_bio_create) != 1
        || BIO_meth_set_destroy(method, stream_bio_destroy) != 1)
        log_fatal("%s", tls_error_text("creating the stream BIO method"));
    return method;
}

/* An SSL call failed with err: write the reason into s->error. */
static void stream_tls_set_error(struct stream *s, int err, const char *what)
{
    if (err == SSL_ERROR_SYSCALL) {
        if (s->sys_errno != 0)
            stream_set_error(s, "TLS %s: %s", what, strerror(s->sys_errno));
        else
            stream_set_error(s, "TLS %s: connection closed", what);
        ERR_clear_error();
    } else if (err == SSL_ERROR_ZERO_RETURN) {
        stream_set_error(s, "TLS %s: connection closed", what);
    } else {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "TLS %s", what);
        stream_set_error(s, "%s", tls_error_text(prefix));
    }
}

/* ---- output ---- */

/* Send all of data, waiting within the timeout while the peer does not
 * read.  Returns 0 or -1 (write_failed set). */
static int stream_send_all(struct stream *s, const char *data, size_t len)
{
    long long deadline = 0;
    bool waiting = false;

    if (s->write_failed)
        return -1;
    while (len > 0) {
        size_t chunk = len > INT_MAX ? INT_MAX : len;
        short want = POLLOUT;
        if (s->ssl != NULL) {
            ERR_clear_error();
            s->sys_errno = 0;
            int w = SSL_write(s->ssl, data, (int)chunk);
            if (w > 0) {
                data += w;
                len -= (size_t)w;
                waiting = false;
                continue;
            }
            int err = SSL_get_error(s->ssl, w);
            if (err == SSL_ERROR_WANT_READ)
                want = POLLIN;
            else if (err != SSL_ERROR_WANT_WRITE) {
                stream_tls_set_error(s, err, "write");
                s->write_failed = true;
                return -1;
            }
        } else {
            ssize_t w = stream_sys_write(s, data, chunk);
            if (w > 0) {
                data += w;
                len -= (size_t)w;
                waiting = false;
                continue;
            }
            if (w == -2 || w == 0) {
                stream_set_error(s, "write: %s", w == 0 ? "nothing written" : strerror(errno));
                s->write_failed = true;
                return -1;
            }
        }
        if (!waiting) {
            waiting = true;
            deadline = stream_deadline(s);
        }
        int pr = stream_poll(s, want, deadline);
        if (pr == 0)
            stream_set_error(s, "write timed out");
        if (pr <= 0) {
            s->write_failed = true;
            return -1;
        }
    }
    return 0;
}

int stream_flush(struct stream *s)
{
    if (s->write_failed) {
        buf_reset(&s->out);
        return -1;
    }
    if (s->out.len == 0)
        return 0;
    int r = stream_send_all(s, s->out.data, s->out.len);
    buf_reset(&s->out);
    return r;
}

void stream_write(struct stream *s, const void *data, size_t len)
{
    if (s->write_failed || len == 0)
        return;
    if (len < STREAM_OUTPUT_FLUSH_SIZE) {
        buf_append(&s->out, data, len);
        if (s->out.len >= STREAM_OUTPUT_FLUSH_SIZE)
            (void)stream_flush(s);
        return;
    }
    /* A big block goes straight out after what is buffered. */
    if (stream_flush(s) == 0)
        (void)stream_send_all(s, data, len);
}

void stream_puts(struct stream *s, const char *str)
{
    stream_write(s, str, strlen(str));
}

void stream_printf(struct stream *s, const char *fmt, ...)
{
    va_list ap;
    if (s->write_failed)
        return;
    va_start(ap, fmt);
    buf_vprintf(&s->out, fmt, ap);
    va_end(ap);
    if (s->out.len >= STREAM_OUTPUT_FLUSH_SIZE)
        (void)stream_flush(s);
}

size_t stream_output_pending(const struct stream *s)
{
    return s->out.len;
}

bool stream_write_failed(const struct stream *s)
{
    return s->write_failed;
}

/* ---- input ---- */

/* Receive at most n bytes into dst, waiting within the timeout (pending
 * output is flushed before the first wait).  Returns the count, or
 * STREAM_EOF / STREAM_ERROR / STREAM_TIMEOUT. */
static ssize_t stream_recv(struct stream *s, void *dst, size_t n)
{
    long long deadline = 0;
    bool waiting = false;

    if (s->read_failed)
        return STREAM_ERROR;
    if (s->eof)
        return STREAM_EOF;
    if (n > INT_MAX)
        n = INT_MAX;
    for (;;) {
        short want = POLLIN;
        if (s->ssl != NULL) {
            ERR_clear_error();
            s->sys_errno = 0;
            int r = SSL_read(s->ssl, dst, (int)n);
            if (r > 0)
                return r;
            int err = SSL_get_error(s->ssl, r);
            if (err == SSL_ERROR_WANT_WRITE)
                want = POLLOUT;
            else if (err == SSL_ERROR_ZERO_RETURN
                     || (err == SSL_ERROR_SYSCALL && s->sys_errno == 0)) {
                ERR_clear_error();
                s->eof = true;
                return STREAM_EOF;
            } else if (err != SSL_ERROR_WANT_READ) {
                stream_tls_set_error(s, err, "read");
                s->read_failed = true;
                return STREAM_ERROR;
            }
        } else {
            ssize_t r = stream_sys_read(s, dst, n);
            if (r > 0)
                return r;
            if (r == 0) {
                s->eof = true;
                return STREAM_EOF;
            }
            if (r == -2) {
                stream_set_error(s, "read: %s", strerror(errno));
                s->read_failed = true;
                return STREAM_ERROR;
            }
        }
        if (!waiting) {
            /* About to wait for the peer: let our answer go out first. */
            if (s->out.len > 0)
                (void)stream_flush(s);
            waiting = true;
            deadline = stream_deadline(s);
        }
        int pr = stream_poll(s, want, deadline);
        if (pr == 0) {
            stream_set_error(s, "read timed out");
            return STREAM_TIMEOUT;
        }
        if (pr < 0) {
            s->read_failed = true;
            return STREAM_ERROR;
        }
    }
}

/* Get more bytes into the input buffer: STREAM_OK or a failure code. */
static int stream_fill(struct stream *s)
{
    if (s->in_pos == s->in_len) {
        s->in_pos = 0;
        s->in_len = 0;
    } else if (s->in_len == STREAM_INPUT_SIZE) {
        memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
        s->in_len -= s->in_pos;
        s->in_pos = 0;
    }
    ssize_t r = stream_recv(s, s->in + s->in_len, STREAM_INPUT_SIZE - s->in_len);
    if (r <= 0)
        return (int)r;
    s->in_len += (size_t)r;
    return STREAM_OK;
}

int stream_read_line(struct stream *s, struct buf *line, size_t max, unsigned *flags_r)
{
    if (flags_r != NULL)
        *flags_r = 0;
    if (max > SIZE_MAX / 2)
        max = SIZE_MAX / 2;
    if (!s->line_partial) {
        buf_reset(line);
        s->line_too_long = false;
        s->line_discarded = 0;
        s->line_partial = true;
    }
    buf_reserve(line, 0);   /* line->data is never NULL below */

    for (;;) {
        size_t avail = s->in_len - s->in_pos;
        if (avail == 0) {
            int r = stream_fill(s);
            if (r == STREAM_OK)
                continue;
            if (r == STREAM_TIMEOUT)
                return r;   /* the partial line stays for the next call */
            s->line_partial = false;
            buf_truncate(line, max);
            return r;
        }
        const char *p = s->in + s->in_pos;
        const char *lf = memchr(p, '\n', avail);
        size_t n = lf != NULL ? (size_t)(lf - p) : avail;

        /* Keep at most max+1 bytes: max of text plus the CR of CRLF. */
        if (!s->line_too_long) {
            size_t room = max + 1 - line->len;
            if (n <= room) {
                buf_append(line, p, n);
            } else {
                buf_append(line, p, room);
                s->line_too_long = true;
                s->line_discarded = n - room;
            }
        } else {
            s->line_discarded += n;
        }
        s->in_pos += n;
        if (s->line_too_long && s->line_discarded > STREAM_LINE_DISCARD_MAX) {
            s->line_partial = false;
            s->read_failed = true;
            buf_truncate(line, max);
            stream_set_error(s, "line too long (more than %zu bytes without an end)",
                             (size_t)STREAM_LINE_DISCARD_MAX);
            return STREAM_ERROR;
        }
        if (lf == NULL)
            continue;

        s->in_pos++;    /* the LF */
        s->line_partial = false;
        unsigned flags = 0;
        if (!s->line_too_long) {
            if (line->len > 0 && line->data[line->len - 1] == '\r')
                buf_truncate(line, line->len - 1);
            else
                flags |= STREAM_LINE_BARE_LF;
            if (line->len > max)
                s->line_too_long = true;
        }
        if (s->line_too_long) {
            buf_truncate(line, max);
            return STREAM_TOO_LONG;
        }
        if (line->len > 0) {
            if (memchr(line->data, '\0', line->len) != NULL)
                flags |= STREAM_LINE_NUL;
            if (memchr(line->data, '\r', line->len) != NULL)
                flags |= STREAM_LINE_CR;
        }
        if (flags_r != NULL)
            *flags_r = flags;
        return STREAM_OK;
    }
}

int stream_read_exact(struct stream *s, size_t n, struct buf *out)
{
    s->line_partial = false;
    buf_reserve(out, n);
    while (n > 0) {
        size_t avail = s->in_len - s->in_pos;
        if (avail > 0) {
            size_t take = avail < n ? avail : n;
            buf_append(out, s->in + s->in_pos, take);
            s->in_pos += take;
            n -= take;
            continue;
        }
        if (n >= STREAM_INPUT_SIZE) {
            /* Straight into the caller's buffer (room reserved above). */
            ssize_t r = stream_recv(s, out->data + out->len, n);
            if (r <= 0)
                return (int)r;
            out->len += (size_t)r;
            out->data[out->len] = '\0';
            n -= (size_t)r;
            continue;
        }
        int r = stream_fill(s);
        if (r != STREAM_OK)
            return r;
    }
    return STREAM_OK;
}

int stream_skip(struct stream *s, size_t n)
{
    s->line_partial = false;
    while (n > 0) {
        size_t avail = s->in_len - s->in_pos;
        if (avail > 0) {
            size_t take = avail < n ? avail : n;
            s->in_pos += take;
            n -= take;
            continue;
        }
        int r = stream_fill(s);
        if (r != STREAM_OK)
            return r;
    }
    return STREAM_OK;
}

ssize_t stream_read(struct stream *s, void *dst, size_t n)
{
    if (n == 0)
        log_panic("stream_read: zero-length read");
    s->line_partial = false;
    if (s->in_len == s->in_pos) {
        if (n >= STREAM_INPUT_SIZE)
            return stream_recv(s, dst, n);
        int r = stream_fill(s);
        if (r != STREAM_OK)
            return r;
    }
    size_t avail = s->in_len - s->in_pos;
    size_t take = avail < n ? avail : n;
    memcpy(dst, s->in + s->in_pos, take);
    s->in_pos += take;
    return (ssize_t)take;
}

size_t stream_input_pending(const struct stream *s)
{
    size_t n = s->in_len - s->in_pos;
    if (s->ssl != NULL) {
        int p = SSL_pending(s->ssl);
        if (p > 0)
            n += (size_t)p;
    }
    return n;
}

int stream_wait_readable(struct stream *s, int extra_fd, int timeout_ms)
{
    if (stream_input_pending(s) > 0 || s->eof || s->read_failed)
        return STREAM_WAIT_INPUT;
    if (s->out.len > 0)
        (void)stream_flush(s);

    long long deadline = timeout_ms > 0 ? stream_now_ms() + timeout_ms : 0;
    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = s->fd, .events = POLLIN, .revents = 0 },
            { .fd = extra_fd, .events = POLLIN, .revents = 0 },
        };
        int wait = -1;
        if (timeout_ms == 0) {
            wait = 0;
        } else if (timeout_ms > 0) {
            long long left = deadline - stream_now_ms();
            wait = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
        }
        int r = poll(pfd, extra_fd >= 0 ? 2 : 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            stream_set_error(s, "poll: %s", strerror(errno));
            return -1;
        }
        if (r == 0) {
            if (wait != 0 && timeout_ms > 0 && deadline - stream_now_ms() > 0)
                continue;
            return 0;
        }
        if (extra_fd >= 0 && (pfd[1].revents & POLLNVAL) != 0) {
            stream_set_error(s, "poll: fd %d is not open", extra_fd);
            return -1;
        }
        int mask = 0;
        if (pfd[0].revents != 0)
            mask |= STREAM_WAIT_INPUT;
        if (extra_fd >= 0 && pfd[1].revents != 0)
            mask |= STREAM_WAIT_EXTRA;
        return mask;
    }
}

/* ---- TLS ---- */

static bool stream_is_ip_literal(const char *name)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

static int stream_tls_fail(struct stream *s, SSL *ssl, const char **error_r)
{
    SSL_free(ssl);
    ERR_clear_error();
    s->read_failed = true;
    s->write_failed = true;
    *error_r = s->error;
    return -1;
}

static int stream_tls_start(struct stream *s, SSL_CTX *ctx, bool server, const char *servername,
                            const char **error_r)
{
    if (s->ssl != NULL) {
        stream_set_error(s, "TLS is already active");
        *error_r = s->error;
        return -1;
    }
    if (stream_flush(s) < 0 || s->read_failed) {
        if (s->error[0] == '\0')
            stream_set_error(s, "the connection failed before TLS");
        *error_r = s->error;
        return -1;
    }
    /* Whatever arrived in plaintext before the handshake is dropped. */
    size_t dropped = s->in_len - s->in_pos;
    s->in_pos = 0;
    s->in_len = 0;
    s->line_partial = false;
    if (dropped > 0)
        log_warning("TLS: dropped %zu bytes of plaintext %s sent before the handshake",
                    dropped, server ? "the client" : "the server");
    if (s->eof) {
        stream_set_error(s, "connection closed before the TLS handshake");
        s->read_failed = true;
        s->write_failed = true;
        *error_r = s->error;
        return -1;
    }

    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) {
        stream_set_error(s, "%s", tls_error_text("SSL_new"));
        *error_r = s->error;
        return -1;
    }
    BIO *bio = BIO_new(stream_bio_method());
    if (bio == NULL) {
        stream_set_error(s, "%s", tls_error_text("BIO_new"));
        return stream_tls_fail(s, ssl, error_r);
    }
    BIO_set_data(bio, s);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    if (server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        if (servername != NULL && servername[0] != '\0') {
            bool ip = stream_is_ip_literal(servername);
            if (!ip && SSL_set_tlsext_host_name(ssl, servername) != 1) {
                stream_set_error(s, "%s", tls_error_text("setting the TLS server name"));
                return stream_tls_fail(s, ssl, error_r);
            }
            if ((SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0) {
                int ok;
                if (ip) {
                    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), servername);
                } else {
                    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                    ok = SSL_set1_host(ssl, servername);
                }
                if (ok != 1) {
                    stream_set_error(s, "%s", tls_error_text("setting the name to verify"));
                    return stream_tls_fail(s, ssl, error_r);
                }
            }
        }
    }

    long long deadline = stream_deadline(s);
    for (;;) {
        ERR_clear_error();
        s->sys_errno = 0;
        int r = SSL_do_handshake(ssl);
        if (r == 1)
            break;
        int err = SSL_get_error(ssl, r);
        short want;
        if (err == SSL_ERROR_WANT_READ) {
            want = POLLIN;
        } else if (err == SSL_ERROR_WANT_WRITE) {
            want = POLLOUT;
        } else {
            long vr = SSL_get_verify_result(ssl);
            stream_tls_set_error(s, err, "handshake");
            if (!server && vr != X509_V_OK) {
                size_t len = strlen(s->error);
                snprintf(s->error + len, sizeof(s->error) - len, " (certificate: %s)",
                         X509_verify_cert_error_string(vr));
            }
            return stream_tls_fail(s, ssl, error_r);
        }
        int pr = stream_poll(s, want, deadline);
        if (pr == 0)
            stream_set_error(s, "TLS handshake timed out");
        if (pr <= 0)
            return stream_tls_fail(s, ssl, error_r);
    }

    s->ssl = ssl;
    int alg_bits = 0;
    int bits = SSL_get_cipher_bits(ssl, &alg_bits);
    snprintf(s->tls_info, sizeof(s->tls_info), "%s with cipher %s (%d/%d bits)",
             SSL_get_version(ssl), SSL_get_cipher_name(ssl), bits, alg_bits);
    return 0;
}

int stream_starttls(struct stream *s, SSL_CTX *ctx, const char **error_r)
{
    return stream_tls_start(s, ctx, true, NULL, error_r);
}

int stream_starttls_client(struct stream *s, SSL_CTX *ctx, const char *servername,
                           const char **error_r)
{
    return stream_tls_start(s, ctx, false, servername, error_r);
}

bool stream_is_tls(const struct stream *s)
{
    return s->ssl != NULL;
}

const char *stream_tls_info(const struct stream *s)
{
    return s->ssl != NULL ? s->tls_info : NULL;
}

const char *stream_tls_protocol(const struct stream *s)
{
    return s->ssl != NULL ? SSL_get_version(s->ssl) : NULL;
}

const char *stream_tls_cipher(const struct stream *s)
{
    return s->ssl != NULL ? SSL_get_cipher_name(s->ssl) : NULL;
}

int stream_tls_ssf(const struct stream *s)
{
    return s->ssl != NULL ? SSL_get_cipher_bits(s->ssl, NULL) : 0;
}

SSL *stream_tls_ssl(const struct stream *s)
{
    return s->ssl;
}
