/* str.c - bounded C-string helpers. */
#include "str.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

size_t str_copy(char *dst, size_t dstsize, const char *src)
{
    size_t len = strlen(src);
    if (dstsize > 0) {
        size_t n = len < dstsize ? len : dstsize - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

bool str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

bool str_equal_ci(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

char *str_lcase(char *s)
{
    for (char *p = s; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

char *str_ucase(char *s)
{
    for (char *p = s; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    return s;
}

char *str_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int str_to_u64_n(const char *s, size_t len, uint64_t max, uint64_t *value_r)
{
    if (len == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *value_r = v;
    return 0;
}

int str_to_u64(const char *s, uint64_t max, uint64_t *value_r)
{
    return str_to_u64_n(s, strlen(s), max, value_r);
}

int str_to_i64(const char *s, int64_t *value_r)
{
    uint64_t v;
    if (*s == '-') {
        if (str_to_u64(s + 1, (uint64_t)INT64_MAX + 1, &v) < 0)
            return -1;
        *value_r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        return 0;
    }
    if (str_to_u64(s, INT64_MAX, &v) < 0)
        return -1;
    *value_r = (int64_t)v;
    return 0;
}

bool str_is_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}
