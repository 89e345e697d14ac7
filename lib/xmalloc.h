/* xmalloc.h - allocation that either succeeds or does not return.
 *
 * Out of memory is a broken environment: the process logs a fatal message
 * and exits (master restarts it).  Sizes are overflow-checked. */
#ifndef ROOST_XMALLOC_H
#define ROOST_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
/* Zeroed array of n elements; fatal on n * size overflow. */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
/* realloc of an array of n elements; fatal on overflow. */
void *xreallocarray(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
