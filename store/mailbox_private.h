/* mailbox_private.h - what the mailbox_*.c files share and nobody else uses.
 *
 * The on-disk layouts (little-endian, fixed offsets) are described in
 * docs/store-format.md; the encoders and decoders here are the only code
 * that knows the byte offsets.  Locking and syncing rules:
 *   - mb_lock() takes the OFD lock on roost.index, follows a replaced index
 *     (cleanup renames a new one in), re-reads and checks the index header,
 *     reloads roost.header when it changed and reopens the cache when its
 *     generation changed.  Everything that reads more than one record or
 *     writes anything runs between mb_lock() and mb_unlock().
 *   - A writer changes records in place only after setting INDEX_F_DIRTY in
 *     the header, and clears it with the commit; a later locker that finds
 *     it set recounts (the writer died in between).  Appended records sit
 *     past num_records until the header write makes them visible.
 */
#ifndef ROOST_MAILBOX_PRIVATE_H
#define ROOST_MAILBOX_PRIVATE_H

#include "buf.h"
#include "mailbox.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct pool;
struct seqset;

#define MB_HEADER_FILE "roost.header"
#define MB_INDEX_FILE "roost.index"
#define MB_INDEX_TMP_FILE "roost.index.NEW"
#define MB_HEADER_TMP_FILE "roost.header.NEW"
#define MB_CACHE_PREFIX "roost.cache."
#define MB_STAGE_DIR "stage."
#define MB_UIDVALIDITY_FILE "roost.uidvalidity"
#define MB_UIDVALIDITY_MAGIC "ROOSTUIDV"

/* roost.index */
#define INDEX_MAGIC "ROOSTIDX"
#define INDEX_VERSION 1
#define INDEX_HEADER_SIZE 128
#define INDEX_RECORD_SIZE 128
#define INDEX_MAX_RECORDS 50000000u

#define INDEX_F_DIRTY 0x1u     /* records may disagree with the counts */
#define INDEX_F_DELETED 0x2u   /* the mailbox was deleted: go away */

struct index_header {
    uint32_t generation;
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint64_t highestmodseq;
    uint32_t num_records;
    uint32_t recent_uid;
    uint32_t exists, deleted, unseen, answered, flagged;
    uint32_t expunged;          /* records marked, waiting for the cleanup */
    uint64_t quota_bytes;       /* sum of the sizes of the non-expunged */
    int64_t first_expunge;      /* oldest change_time of a marked record, 0 none */
    uint64_t deletedmodseq;     /* highest MODSEQ of a record cleaned away */
    uint64_t cache_used;        /* committed bytes of the cache file */
    uint32_t cache_generation;  /* which roost.cache.N */
    uint32_t flags;             /* INDEX_F_* */
};

/* roost.header */
#define HEADER_MAGIC "ROOSTHDR"
#define HEADER_VERSION 1
#define HEADER_MAX_SIZE (4 * 1024 * 1024)

struct mb_header {
    uint32_t uidvalidity;
    char *uniqueid;
    char *name;
    char *acl;
    char *quotaroot;
    unsigned nkeywords;
    char *keywords[MAILBOX_MAX_KEYWORDS];
};

/* roost.cache.N */
#define CACHE_MAGIC "ROOSTCAC"
#define CACHE_VERSION 1
#define CACHE_HEADER_SIZE 64
#define CACHE_ENTRY_HEADER 12     /* length, uid, crc */
#define CACHE_BLOB_MAX (16u * 1024 * 1024)

enum { MB_LOCK_NONE = 0, MB_LOCK_SH = 1, MB_LOCK_EX = 2 };

struct mailbox {
    struct store *store;
    struct pool *pool;
    char *name, *uniqueid, *partition, *path, *acl, *specialuse;
    bool readonly;
    bool deleted;              /* we deleted it ourselves */

    int dirfd;
    int index_fd;
    dev_t index_dev;
    ino_t index_ino;
    const unsigned char *map;
    size_t map_len;
    struct index_header hdr;   /* as of the last lock */
    int lock_type;             /* MB_LOCK_* */

    struct mb_header mh;
    struct stat header_st;     /* of the roost.header we read */

    int cache_fd;
    uint32_t cache_gen_open;   /* generation of cache_fd, 0 none */
    uint64_t cache_next;       /* writer: where the next entry goes */

    int watch_fd;
};

/* ---- errors (mailbox_util.c) ----
 * Format a message into a small rotating thread-local buffer, set *error_r
 * and return code. */
int mb_fail(const char **error_r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with ": strerror(errno)" appended. */
int mb_fail_errno(const char **error_r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- little-endian fields and checksums (mailbox_util.c) ---- */
void mb_put32(unsigned char *p, uint32_t v);
void mb_put64(unsigned char *p, uint64_t v);
uint32_t mb_get32(const unsigned char *p);
uint64_t mb_get64(const unsigned char *p);
uint32_t mb_crc32(const void *data, size_t len);
uint32_t mb_crc32_update(uint32_t crc, const void *data, size_t len);

/* ---- files (mailbox_util.c) ---- */
int mb_fsync_dir(int dirfd, const char **error_r);
/* Write all of len bytes at offset (EINTR and short writes handled). */
int mb_pwrite_all(int fd, const void *data, size_t len, uint64_t offset);
int mb_pread_all(int fd, void *data, size_t len, uint64_t offset);
/* Copy file srcdirfd/src to dstdirfd/dst (O_EXCL), fsynced. */
int mb_copy_file(int srcdirfd, const char *src, int dstdirfd, const char *dst,
                 const char **error_r);
/* Remove a directory tree (depth bounded); ENOENT is success. */
int mb_rmtree(const char *path, const char **error_r);
/* mkdir -p with mode 0750; fsyncs each directory it creates the parent of. */
int mb_mkdir_p(const char *path, const char **error_r);
/* "123." for uid into out. */
void mb_message_name(uint32_t uid, char out[16]);
/* A fresh UIDVALIDITY: max(now, last + 1), kept in configdirectory. */
uint32_t mb_new_uidvalidity(struct store *store);
/* expunge_cleanup_delay in seconds. */
int64_t mb_cleanup_delay(struct store *store);
/* Is userid the owner of the mailbox (or NULL, which acts as the owner)? */
bool mb_is_owner(const struct mailbox *mb, const char *userid);
/* The quota root of mailbox name into root_r: 1 found, 0 none, -1. */
int mb_quota_root(struct store *store, const char *name, struct buf *root_r,
                  const char **error_r);
/* Apply a quota delta to a root outside any other transaction (after a
 * commit); failures are logged, not returned: usage is recountable. */
void mb_quota_charge(struct store *store, const char *root, int64_t bytes, int64_t messages);
/* Add (set) or remove uids from userid's seen state on uniqueid. */
int mb_seen_update(struct store *store, const char *userid, const char *uniqueid,
                   const struct seqset *add, const struct seqset *remove, const char **error_r);

/* userid's seen set on mb (empty when none) (mailbox_flags.c). */
int mb_seen_load(struct mailbox *mb, const char *userid, struct seqset *seen_r,
                 const char **error_r);

/* ---- roost.header (mailbox_header.c) ---- */
int mb_header_read(int dirfd, struct mb_header *h, struct stat *st_r, const char **error_r);
/* Write whole (temp + fsync + rename + fsync dir). */
int mb_header_write(int dirfd, const struct mb_header *h, const char **error_r);
void mb_header_free(struct mb_header *h);
void mb_header_copy(struct mb_header *dst, const struct mb_header *src);
/* Resolve keyword names to bits for mb (exclusive lock held), adding new
 * names to roost.header.  STORE_ERR_LIMIT past 128, STORE_ERR_BADNAME for
 * an unusable name. */
int mb_keywords_resolve(struct mailbox *mb, const char *const *names, unsigned n,
                        struct mailbox_keywords *bits_r, const char **error_r);

/* ---- roost.index (mailbox_index.c) ---- */
void mb_index_header_encode(const struct index_header *h, unsigned char out[INDEX_HEADER_SIZE]);
int mb_index_header_decode(const unsigned char *in, struct index_header *h, const char **error_r);
void mb_record_encode(const struct mailbox_record *r, unsigned char out[INDEX_RECORD_SIZE]);
/* 0, or -1 when the checksum does not match. */
int mb_record_decode(const unsigned char *in, struct mailbox_record *r);
/* Record idx (< hdr.num_records) from the map; retried under a shared lock
 * when the checksum fails unlocked (a writer was rewriting it). */
int mb_record_read(struct mailbox *mb, uint32_t idx, struct mailbox_record *r,
                   const char **error_r);
/* Raw UID of record idx (no checksum: UIDs of committed records never
 * change within one index file). */
uint32_t mb_record_uid(const struct mailbox *mb, uint32_t idx);
/* Position of the first record with UID >= uid (num_records when none). */
uint32_t mb_index_lower_bound(const struct mailbox *mb, uint32_t uid);
/* Make the map cover the whole committed index. */
int mb_index_map(struct mailbox *mb, const char **error_r);
void mb_index_unmap(struct mailbox *mb);
/* pwrite the header (checksummed) / records; no sync. */
int mb_index_write_header(struct mailbox *mb, const char **error_r);
int mb_index_write_records(struct mailbox *mb, uint32_t idx, const struct mailbox_record *recs,
                           unsigned n, const char **error_r);
/* Rewrites of committed records, gathered into runs of neighbours. */
#define MB_REC_BATCH 64
struct mb_rec_batch {
    uint32_t start;
    unsigned n;
    struct mailbox_record recs[MB_REC_BATCH];
};
void mb_rec_batch_init(struct mb_rec_batch *b);
int mb_rec_batch_add(struct mailbox *mb, struct mb_rec_batch *b, uint32_t idx,
                     const struct mailbox_record *rec, const char **error_r);
int mb_rec_batch_flush(struct mailbox *mb, struct mb_rec_batch *b, const char **error_r);
/* Mark the header dirty before rewriting committed records. */
int mb_index_set_dirty(struct mailbox *mb, const char **error_r);
/* Commit: clear dirty, write the header, fdatasync the index. */
int mb_index_commit(struct mailbox *mb, const char **error_r);
/* Add (sign 1) or remove (-1) a record from the header counts. */
void mb_counts_apply(struct index_header *h, const struct mailbox_record *r, int sign);
/* Recount every count from the records (dirty recovery). */
int mb_index_recount(struct mailbox *mb, struct index_header *h, const char **error_r);
/* Write a complete new index file (header + records) to dirfd/name,
 * fsynced; used by create and cleanup.  fd_r (if not NULL) keeps it open. */
int mb_index_create_file(int dirfd, const char *name, const struct index_header *h,
                         const struct mailbox_record *recs, uint32_t n, int *fd_r,
                         const char **error_r);

/* A complete index file written record by record (cleanup, reconstruct):
 * created under a temporary name (MB_INDEX_TMP_FILE) and locked exclusively
 * before anybody can know it, records added in increasing UID order, the
 * header written last and the file fdatasynced.  The caller then renames
 * it over roost.index (the commit) and keeps w->fd, which holds the lock. */
#define MB_INDEX_WRITER_CHUNK 64
struct mb_index_writer {
    int dirfd;
    const char *name;
    int fd;
    uint32_t count;            /* records added so far */
    unsigned inchunk;
    unsigned char chunk[MB_INDEX_WRITER_CHUNK * INDEX_RECORD_SIZE];
};
int mb_index_writer_begin(struct mb_index_writer *w, int dirfd, const char *name,
                          const char **error_r);
int mb_index_writer_add(struct mb_index_writer *w, const struct mailbox_record *r,
                        const char **error_r);
/* Write the remaining records and h (h->num_records must be the number of
 * records added), then fdatasync. */
int mb_index_writer_finish(struct mb_index_writer *w, const struct index_header *h,
                           const char **error_r);
/* Close and remove the temporary file (after a failure); no-op when done. */
void mb_index_writer_abort(struct mb_index_writer *w);

/* ---- roost.cache.N (mailbox_cache.c) ---- */
void mb_cache_name(uint32_t generation, char out[32]);
/* Create an empty cache file (header only), fsynced; fd_r keeps it open. */
int mb_cache_create(int dirfd, uint32_t generation, int *fd_r, const char **error_r);
/* Open the cache of hdr.cache_generation if not open already. */
int mb_cache_open(struct mailbox *mb, const char **error_r);
/* Write one entry (header, blob, padding) at offset of the cache file fd;
 * where the next entry goes into *next_r. */
int mb_cache_write_entry(int fd, uint64_t offset, uint32_t uid, const void *blob, size_t len,
                         uint64_t *next_r, const char **error_r);
/* Writer: append an entry at mb->cache_next; offset into offset_r. */
int mb_cache_append(struct mailbox *mb, uint32_t uid, const void *blob, size_t len,
                    uint64_t *offset_r, const char **error_r);
int mb_cache_sync(struct mailbox *mb, const char **error_r);
/* Read and check the entry of a record from any cache fd. */
int mb_cache_read_fd(int fd, const struct mailbox_record *r, struct buf *blob_r,
                     const char **error_r);

/* ---- locking (mailbox_lock.c) ---- */
int mb_lock(struct mailbox *mb, bool exclusive, const char **error_r);
void mb_unlock(struct mailbox *mb);
/* Lock several mailboxes exclusively in uniqueid order (duplicates are
 * locked once); on failure nothing stays locked. */
int mb_lock_many(struct mailbox **mbs, unsigned n, const char **error_r);
/* Recount the header from the records (exclusive lock taken here; a
 * read-only handle only recounts for itself). */
int mb_repair_counts(struct mailbox *mb, const char **error_r);
/* Open roost.index of the mailbox directory dirfd (creating an empty one
 * when it is missing) and take the exclusive OFD lock on it without reading
 * it, following a replacement like mb_lock() does: for reconstruct, which
 * must exclude every other user of a mailbox whose index may be damaged.
 * *fd_r holds the lock until it is closed. */
int mb_lock_raw(int dirfd, int *fd_r, const char **error_r);
/* Cleanup check done at open (READWRITE). */
int mb_cleanup_if_due(struct mailbox *mb, const char **error_r);
/* Cleanup body, exclusive lock held. */
int mb_cleanup_locked(struct mailbox *mb, bool force, const char **error_r);

/* ---- open (mailbox_open.c) ---- */
/* Open by explicit entry fields (used by open, create, rename, delete). */
int mb_open_entry(struct store *store, const char *name, const char *partition,
                  const char *uniqueid, const char *acl, const char *specialuse,
                  enum mailbox_open_mode mode, struct mailbox **mb_r, const char **error_r);
/* Mark the index deleted (exclusive lock held) so other handles go away. */
int mb_mark_deleted(struct mailbox *mb, const char **error_r);

/* ---- append engine (mailbox_append.c) ---- */
struct mb_append_item {
    /* where the bytes come from: a file to link or copy */
    int src_dirfd;
    char src_file[64];
    bool src_same_fs;          /* same partition: try a hard link */
    /* the cache blob: in memory, or read from a cache fd by record */
    const void *blob;
    size_t blob_len;
    int blob_fd;               /* >= 0: read via mb_cache_read_fd(blob_fd, &blob_rec) */
    struct mailbox_record blob_rec;
    /* the record fields to store (uid, modseq, cache fields are set here) */
    struct mailbox_record rec;
    /* out */
    uint32_t uid;
};

struct mb_append_group {
    struct mailbox *mb;        /* locked exclusively by the caller */
    struct mb_append_item *items;
    unsigned n;
    int result;                /* out: 0 or error */
    char error[200];
};
/* Write every group's messages and commit each group (see the header
 * comment of mailbox_append.c for the order).  Groups fail independently. */
void mb_append_commit(struct mb_append_group *groups, unsigned ngroups);

/* ---- message contents (mailbox_append.c) ---- */
/* Parse a message (the exact bytes of its file) into its cache blob
 * (blob_r, replaced) and the record fields that depend only on the bytes:
 * size, header_size, sentdate (the rest of *rec is zeroed; the GUID is
 * not computed here).  STORE_ERR_LIMIT when the blob would exceed
 * CACHE_BLOB_MAX.  Used by stage_finish() and reconstruct. */
int mb_message_describe(const char *data, size_t len, struct buf *blob_r,
                        struct mailbox_record *rec, const char **error_r);
/* SHA-1 of data (the message GUID). */
void mb_sha1(const void *data, size_t len, uint8_t out[20]);

/* ---- stage (mailbox_append.c) ---- */
int mb_stage_dirfd(const struct stage *stage);
const char *mb_stage_filename(const struct stage *stage);
const void *mb_stage_blob(const struct stage *stage, size_t *len_r);
void mb_stage_fill_record(const struct stage *stage, struct mailbox_record *rec);

/* ---- expunge (mailbox_expunge.c) ---- */
/* Mark the records of uids expunged (exclusive lock held; commit done
 * here).  bytes/messages removed into the _r's. */
int mb_expunge_uids(struct mailbox *mb, const uint32_t *uids, unsigned n, uint64_t *bytes_r,
                    uint32_t *messages_r, const char **error_r);

#endif
