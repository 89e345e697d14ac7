/* buf.h - the one growable byte buffer.
 *
 * data is always NUL-terminated (the NUL is not counted in len), so a buffer
 * holding text can be used as a C string; it may also hold binary bytes.
 * Growth is overflow-checked and allocation failure is fatal. */
#ifndef ROOST_BUF_H
#define ROOST_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data;   /* NULL until the first append */
    size_t len;
    size_t alloc;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Make room for at least extra more bytes (plus the NUL). */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Shorten to len bytes (no-op when already shorter). */
void buf_truncate(struct buf *b, size_t len);
/* Drop the first n bytes (all of them when n >= len). */
void buf_consume(struct buf *b, size_t n);
/* The contents as a C string; "" for an empty buffer. */
const char *buf_cstr(const struct buf *b);
/* Hand the allocated string to the caller (never NULL); the buffer is reset. */
char *buf_release(struct buf *b);
bool buf_equals_str(const struct buf *b, const char *s);

#endif
