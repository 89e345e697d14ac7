/* pool.c - memory pools: a chain of blocks bump-allocated and freed at once. */
#include "pool.h"
#include "log.h"
#include "xmalloc.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pool_block {
    struct pool_block *next;
    size_t size;   /* usable bytes after the header */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct pool {
    char name[32];
    size_t block_size;
    size_t used_total;
    struct pool_block *blocks;  /* newest first */
    struct pool_block *first;   /* kept across pool_clear() */
};

#define POOL_ALIGN (alignof(max_align_t))

static struct pool_block *pool_block_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct pool_block))
        log_fatal("pool block size overflow");
    struct pool_block *b = xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct pool *pool_create(const char *name, size_t block_size)
{
    struct pool *p = xcalloc(1, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->block_size = block_size ? block_size : 8192;
    p->blocks = pool_block_new(p->block_size);
    p->first = p->blocks;
    return p;
}

void pool_destroy(struct pool **pool)
{
    struct pool *p = *pool;
    if (p == NULL)
        return;
    struct pool_block *b = p->blocks;
    while (b != NULL) {
        struct pool_block *next = b->next;
        free(b);
        b = next;
    }
    free(p);
    *pool = NULL;
}

void pool_clear(struct pool *p)
{
    /* Keep the first block (the one of block_size), free the rest. */
    struct pool_block *b = p->blocks;
    while (b != NULL) {
        struct pool_block *next = b->next;
        if (b != p->first)
            free(b);
        b = next;
    }
    p->first->next = NULL;
    p->first->used = 0;
    p->blocks = p->first;
    p->used_total = 0;
}

void *pool_alloc(struct pool *p, size_t size)
{
    if (size > SIZE_MAX - POOL_ALIGN)
        log_fatal("pool allocation overflow");
    size_t rounded = (size + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
    if (rounded == 0)
        rounded = POOL_ALIGN;
    struct pool_block *b = p->blocks;
    if (b->size - b->used < rounded) {
        size_t bsize = rounded > p->block_size ? rounded : p->block_size;
        struct pool_block *nb = pool_block_new(bsize);
        if (rounded > p->block_size) {
            /* A big one-off: put it behind the current block so the current
             * block's free space stays usable. */
            nb->next = b->next;
            b->next = nb;
            b = nb;
        } else {
            nb->next = b;
            p->blocks = nb;
            b = nb;
        }
    }
    void *ptr = b->data + b->used;
    b->used += rounded;
    p->used_total += rounded;
    memset(ptr, 0, size);
    return ptr;
}

void *pool_alloc_array(struct pool *p, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        log_fatal("pool array allocation overflow");
    return pool_alloc(p, n * size);
}

char *pool_strndup(struct pool *p, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = pool_alloc(p, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *pool_strdup(struct pool *p, const char *s)
{
    return pool_memdup(p, s, strlen(s) + 1);
}

void *pool_memdup(struct pool *p, const void *src, size_t n)
{
    void *d = pool_alloc(p, n);
    if (n > 0)
        memcpy(d, src, n);
    return d;
}

char *pool_printf(struct pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        log_panic("pool_printf: bad format");
    char *d = pool_alloc(p, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

size_t pool_used(const struct pool *p)
{
    return p->used_total;
}

const char *pool_name(const struct pool *p)
{
    return p->name;
}
