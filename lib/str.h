/* str.h - bounded C-string helpers (no strcpy/sprintf anywhere else). */
#ifndef ROOST_STR_H
#define ROOST_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy src into dst of dstsize bytes, always NUL-terminated when
 * dstsize > 0; returns strlen(src) so truncation is len >= dstsize. */
size_t str_copy(char *dst, size_t dstsize, const char *src);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_prefix_ci(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
bool str_equal_ci(const char *a, const char *b);
/* ASCII lower/upper case in place; returns s. */
char *str_lcase(char *s);
char *str_ucase(char *s);
/* Strip leading and trailing ASCII whitespace in place; returns the start. */
char *str_trim(char *s);
/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow
 * past max.  Returns 0 or -1. */
int str_to_u64(const char *s, uint64_t max, uint64_t *value_r);
/* The same for the first len bytes of s (not NUL-terminated). */
int str_to_u64_n(const char *s, size_t len, uint64_t max, uint64_t *value_r);
/* Signed decimal with an optional leading '-'. */
int str_to_i64(const char *s, int64_t *value_r);
/* True when every byte of s is printable ASCII or >= 0x80 (no controls). */
bool str_is_printable(const char *s);

#endif
