/* pool.h - memory pools: many small allocations freed in one go.
 *
 * One pool per connection and one per command: a command's parse tree and
 * temporary strings come from its pool, which is cleared when the command
 * ends.  Allocation failure is fatal; sizes are overflow-checked.  Memory is
 * aligned for any type. */
#ifndef ROOST_POOL_H
#define ROOST_POOL_H

#include <stdarg.h>
#include <stddef.h>

struct pool;

/* block_size: the size of each chunk (0 = 8 KiB); bigger requests get a
 * chunk of their own. */
struct pool *pool_create(const char *name, size_t block_size);
/* Free everything and set *pool to NULL. */
void pool_destroy(struct pool **pool);
/* Free every allocation at once, keeping the first block for reuse. */
void pool_clear(struct pool *pool);

void *pool_alloc(struct pool *pool, size_t size);   /* zeroed */
void *pool_alloc_array(struct pool *pool, size_t n, size_t size);
char *pool_strdup(struct pool *pool, const char *s);
char *pool_strndup(struct pool *pool, const char *s, size_t n);
void *pool_memdup(struct pool *pool, const void *p, size_t n);
char *pool_printf(struct pool *pool, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes handed out since the last clear (for per-command limits). */
size_t pool_used(const struct pool *pool);
const char *pool_name(const struct pool *pool);

#endif
