/* stream.h - a buffered connection, plain or TLS, with timeouts.
 *
 * Every daemon and client talks to its peer through one struct stream: it
 * reads lines with a hard length limit, counted bytes (literals, message
 * bodies) and buffers output until stream_flush().  TLS can be started at
 * any time (STARTTLS, or at once for implicit TLS ports) and is then used
 * for everything that follows.
 *
 * The fd stays the caller's: stream_free() does not close it unless
 * stream_set_close_fd() asked for that.  The stream does the I/O with
 * MSG_DONTWAIT/MSG_NOSIGNAL on sockets (a peer that went away is an error,
 * never SIGPIPE; the fd's own blocking mode is untouched); for an fd that
 * is not a socket (a pipe in inetd mode or for deliver) O_NONBLOCK is set
 * and restored by stream_free(), and writing to a closed pipe can raise
 * SIGPIPE (daemons ignore it).  Free the stream before closing the fd.
 *
 * Timeouts: every wait for the peer (input, output draining, a TLS
 * handshake) is bounded by the stream's timeout.  Before a read has to wait
 * for the peer, pending output is flushed, so a response written before
 * reading the next command always goes out; a client that pipelines gets
 * its responses batched.
 *
 * Read functions return the codes below; "timeout" is distinct so that the
 * daemon can say "* BYE Autologout" or "421" before closing. */
#ifndef ROOST_STREAM_H
#define ROOST_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "buf.h"

struct stream;

enum stream_result {
    STREAM_OK = 1,          /* a line / the bytes asked for */
    STREAM_EOF = 0,         /* the peer closed (cleanly or not) */
    STREAM_ERROR = -1,      /* I/O or TLS error: see stream_error() */
    STREAM_TIMEOUT = -2,    /* nothing arrived within the timeout */
    STREAM_TOO_LONG = -3,   /* stream_read_line only: line over max */
};

/* Flags stream_read_line() reports about the line it returns. */
#define STREAM_LINE_NUL 0x01     /* the line contains a NUL byte */
#define STREAM_LINE_BARE_LF 0x02 /* it ended in LF without CR */
#define STREAM_LINE_CR 0x04      /* a CR inside the line (not the CR of CRLF) */

/* Output is flushed automatically once this much is buffered. */
#define STREAM_OUTPUT_FLUSH_SIZE (64 * 1024)
/* How much of an over-long line stream_read_line() discards before it
 * gives up with STREAM_ERROR (bounded work for a line that never ends). */
#define STREAM_LINE_DISCARD_MAX (16 * 1024 * 1024)

/* A stream over a connected fd (a socket normally).  No timeout yet. */
struct stream *stream_new(int fd);
/* Free the stream, its TLS state (sending close_notify when it can without
 * waiting) and unflushed output (call stream_flush() first).  Closes the
 * fd only after stream_set_close_fd(s, true).  *s becomes NULL. */
void stream_free(struct stream **s);
void stream_set_close_fd(struct stream *s, bool close_fd);
int stream_fd(const struct stream *s);

/* Timeout in milliseconds for each wait for the peer; 0 = wait forever
 * (the default). */
void stream_set_timeout(struct stream *s, int timeout_ms);
int stream_timeout(const struct stream *s);

/* The last error as text ("Connection reset by peer", "TLS: ...",
 * "timed out"); NULL when nothing failed.  Valid until the next call. */
const char *stream_error(const struct stream *s);

/* ---- input ---- */

/* Read one line into line (reset first), without its CRLF or LF.  Lines of
 * more than max bytes (not counting the line end) are refused.
 * Returns:
 *   STREAM_OK: line->data/len hold it; *flags_r (may be NULL) says whether
 *     it holds NUL bytes (line->len counts them: compare with strlen),
 *     ended in a bare LF, or has a stray CR (SMTP uses both to refuse
 *     smuggling).
 *   STREAM_TOO_LONG: the whole line, up to and including its LF, has been
 *     read and discarded, so the next call gets the next line; line holds
 *     its first max bytes (enough to find an IMAP tag).
 *   STREAM_EOF: the peer closed; line holds an unterminated last line, if
 *     any.
 *   STREAM_TIMEOUT: the bytes of an unfinished line stay in line and the
 *     next call with the same line and max continues it.
 *   STREAM_ERROR: see stream_error(); also when an over-long line goes on
 *     for STREAM_LINE_DISCARD_MAX bytes without ending. */
int stream_read_line(struct stream *s, struct buf *line, size_t max, unsigned *flags_r);

/* Append exactly n bytes to out (the caller bounds n: it is reserved in
 * out up front).  STREAM_OK, or STREAM_EOF when the peer closed first (out
 * then holds what came), STREAM_ERROR, STREAM_TIMEOUT. */
int stream_read_exact(struct stream *s, size_t n, struct buf *out);
/* Read and throw away exactly n bytes (a refused literal).  Same codes. */
int stream_skip(struct stream *s, size_t n);
/* Read at most n bytes into dst: whatever is buffered, else one wait for
 * the peer.  Returns the count (> 0), or STREAM_EOF, STREAM_ERROR,
 * STREAM_TIMEOUT.  For bodies too big for memory: loop into a file. */
ssize_t stream_read(struct stream *s, void *dst, size_t n);

/* Bytes already received (and decrypted) but not consumed yet. */
size_t stream_input_pending(const struct stream *s);

#define STREAM_WAIT_INPUT 1   /* the stream has input (or EOF/error) */
#define STREAM_WAIT_EXTRA 2   /* extra_fd is readable */
/* Wait until the stream has input or extra_fd (-1 = none; an inotify fd
 * for IMAP IDLE, say) is readable, for at most timeout_ms (-1 = forever,
 * 0 = just look; the stream's own timeout is not used).  Flushes pending
 * output first.  Returns a mask of STREAM_WAIT_INPUT / STREAM_WAIT_EXTRA,
 * 0 on timeout, or -1 (see stream_error()).  Buffered input counts at
 * once, without looking at the fds.  TLS: "input" may turn out to be a
 * TLS record carrying no data, so the read that follows can still wait. */
int stream_wait_readable(struct stream *s, int extra_fd, int timeout_ms);

/* ---- output ---- */

/* Buffer output; it goes out on stream_flush(), or by itself once
 * STREAM_OUTPUT_FLUSH_SIZE bytes are waiting (a large write goes straight
 * through).  Errors are remembered: after one, output is dropped and
 * stream_flush() returns -1. */
void stream_write(struct stream *s, const void *data, size_t len);
void stream_puts(struct stream *s, const char *str);
void stream_printf(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send everything buffered: one write() or SSL_write() for a normal
 * response; waits (within the timeout) while the peer does not read.
 * Returns 0, or -1 on an error now or earlier (see stream_error()). */
int stream_flush(struct stream *s);
/* Bytes buffered for output. */
size_t stream_output_pending(const struct stream *s);
/* True once a write failed (the peer is gone). */
bool stream_write_failed(const struct stream *s);

/* ---- TLS ---- */

/* Server side: flush pending output (the "OK Begin TLS" response) in
 * plaintext, DROP every byte of input already buffered (anything a client
 * pipelined after STARTTLS is a plaintext injection, RFC 3207/2595/9051),
 * then run the TLS handshake within the stream's timeout.  For implicit
 * TLS ports call it right after stream_new().  Returns 0, or -1 with
 * *error_r set (text valid while the stream lives); after a failure the
 * stream is unusable (every read and write fails) and the caller closes
 * the connection.  The caller must forget what it learned before TLS
 * (capabilities, EHLO) as the RFCs require. */
int stream_starttls(struct stream *s, SSL_CTX *ctx, const char **error_r);
/* Client side: the same (buffered input from the server is dropped too).
 * servername (may be NULL): sent as SNI when it is a host name, and checked
 * against the certificate when ctx verifies peers. */
int stream_starttls_client(struct stream *s, SSL_CTX *ctx, const char *servername,
                           const char **error_r);
bool stream_is_tls(const struct stream *s);
/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" for
 * Received headers and logs; NULL without TLS. */
const char *stream_tls_info(const struct stream *s);
/* Protocol ("TLSv1.3") and cipher name; NULL without TLS. */
const char *stream_tls_protocol(const struct stream *s);
const char *stream_tls_cipher(const struct stream *s);
/* Secret bits of the cipher (SASL's external SSF); 0 without TLS. */
int stream_tls_ssf(const struct stream *s);
/* The SSL object (peer certificate ...); NULL without TLS. */
SSL *stream_tls_ssl(const struct stream *s);

#endif
