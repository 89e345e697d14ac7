/* xmalloc.c - allocation that either succeeds or does not return. */
#include "xmalloc.h"
#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void xmalloc_oom(size_t size)
{
    log_fatal("out of memory allocating %zu bytes", size);
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        xmalloc_oom(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        xmalloc_oom(SIZE_MAX);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        xmalloc_oom(n * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        xmalloc_oom(size);
    return p;
}

void *xreallocarray(void *ptr, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        xmalloc_oom(SIZE_MAX);
    return xrealloc(ptr, n * size);
}

char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s) + 1);
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *xmemdup(const void *p, size_t n)
{
    void *q = xmalloc(n);
    if (n > 0)
        memcpy(q, p, n);
    return q;
}
