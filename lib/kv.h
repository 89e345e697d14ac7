/* kv.h - the server-wide key-value store: environments, databases,
 *        transactions.
 *
 * SYNOPSIS
 *   kv_env_open(dir, KV_ENV_CREATE, &env, &error);
 *   kv_db_open(env, "mailboxes.db", &db, &error);
 *   kv_transaction(env, update_fn, ctx, &error);   // fn calls kv_get/kv_put
 *   kv_db_close(&db); kv_env_close(&env);
 *
 * DESCRIPTION
 *   Server-wide databases (mailbox list, seen state, quotas, duplicate
 *   delivery records, annotations ...) are ordered maps from byte-string
 *   keys to byte-string values.  One environment is one directory (the
 *   config directory's db/ say) holding any number of named databases and
 *   the shared state (lock table, cache, write-ahead log) that lets many
 *   processes use them at once with serialisable transactions.
 *
 *   This header is the only way into the store: the backend (Berkeley DB
 *   today, kv_bdb.c, the only file that includes db.h) sits behind the
 *   struct kv_backend vtable at the end of this file, so another one (LMDB)
 *   can be added without touching callers.
 *
 *   Processes: open the environment after fork(), never use one handle in
 *   two processes (a handle inherited over fork may only be passed to
 *   kv_env_close(), which then just frees memory).  Master opens the
 *   environment once with KV_ENV_RECOVER before starting any other process
 *   that uses it; everybody else opens it without.
 *
 *   Concurrency: transactions are serialisable, with locks.  Nobody ever
 *   waits for a lock: when another transaction holds it, the kv call
 *   returns KV_DEADLOCK at once, and the transaction must be aborted and
 *   run again.  kv_transaction() does exactly that (with a random backoff,
 *   for at most the retry time), so callers normally write a function that
 *   does the reads and writes and hand it to kv_transaction().  Calls with
 *   txn NULL are single operations that retry by themselves.  A process that
 *   keeps losing takes a gate (a flock()ed file) that makes the others
 *   pause before their next transaction, so nobody starves.  (Why never
 *   wait for a lock: a process killed while waiting would make the
 *   clean-up of dead processes hang; see kv_bdb.c.)
 *
 *   Crashes: a commit survives kill -9 and power loss.  When a process
 *   dies, its unfinished transaction is rolled back by whoever notices
 *   (kv_env_failchk()); when it died inside the library, every user of the
 *   environment must stop and master recovers (see kv_env_failchk()).
 *
 *   Needing recovery: once the environment needs recovery (found by this
 *   process or any other), every kv call on it returns -1 at once with a
 *   message saying "needs recovery", and nothing blocks: kv_txn_commit(),
 *   kv_txn_abort(), kv_db_close() and kv_env_close() then only free this
 *   process's memory (the backend's own handles are kept, unreachable to
 *   callers, since closing them could wait forever on a mutex the dead
 *   process held); no log flush, no cache write-back.  Such a process
 *   should stop using the store and exit (master recovers and restarts
 *   it); a process that must go on (master) closes its handles and opens
 *   the environment again with KV_ENV_RECOVER.
 *
 * LIMITS
 *   Keys are 1..KV_KEY_MAX bytes (a mailbox name plus a prefix fits easily),
 *   values 0..KV_VALUE_MAX bytes; both are arbitrary bytes (NUL included).
 *   Anything read from disk beyond those limits is reported as corruption.
 *
 * DIAGNOSTICS
 *   Functions return -1 (or KV_DEADLOCK) with *error_r pointing to a message
 *   naming the database and the operation.  The message lives in a static
 *   buffer that stays valid until the next kv call (copy it to keep it).
 *   Messages the backend itself prints go to log_error().
 */
#ifndef ROOST_KV_H
#define ROOST_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct buf;
struct kv_env;
struct kv_db;
struct kv_txn;

/* Returned (instead of -1) when the operation needs a lock another
 * transaction holds (or lost a deadlock): abort the transaction and run it
 * again. */
#define KV_DEADLOCK (-2)

#define KV_KEY_MAX 4096
#define KV_VALUE_MAX (4 * 1024 * 1024)
/* Database names: 1..KV_NAME_MAX bytes of [A-Za-z0-9._-], not starting
 * with '.' or "__" (the backend's own files). */
#define KV_NAME_MAX 64

/* kv_env_open() flags */
enum kv_env_flags {
    /* Create the directory (mode 0700) and the environment if missing. */
    KV_ENV_CREATE = 0x01,
    /* Run normal recovery: replay the log after a crash and rebuild the
     * shared state.  Only while no other process uses the environment. */
    KV_ENV_RECOVER = 0x02,
};

/* Open the environment in dir.  Returns 0, or -1 with *error_r set (an
 * environment that needs recovery fails here until master recovers it). */
int kv_env_open(const char *dir, unsigned flags, struct kv_env **env_r,
                const char **error_r);
/* Close and set *env to NULL (no-op when NULL).  Every database handle and
 * transaction of this environment must be closed first (a bug otherwise).
 * In a process forked after the open, only frees the memory. */
void kv_env_close(struct kv_env **env);
/* Flush the cache and write a checkpoint, so that recovery has less log to
 * replay; log files no longer needed are removed.  Master calls this now
 * and then (every few minutes).  Returns 0 or -1. */
int kv_env_checkpoint(struct kv_env *env, const char **error_r);
/* Clean up after processes that died (kill -9, crash) while using the
 * environment: their unfinished transactions are aborted and their locks
 * released.  This runs by itself at open and now and then while an
 * operation retries a busy lock, so a dead lock holder delays the others by
 * a few milliseconds.  Returns 0, or -1 when a process died in the middle
 * of changing shared memory: then the environment is unusable
 * (kv_env_needs_recovery() is true; other processes may even be stuck on a
 * mutex the dead one held) and every process that uses it must be stopped
 * and the environment opened again with KV_ENV_RECOVER.  The verdict is
 * written into the environment's shared state, so that every other process
 * fails its next kv call at once instead of meeting that mutex.
 * Master's part: after reaping a child that died abnormally (signal, or
 * exit status 75 with a kv error), call kv_env_check() (this in a forked
 * process with a deadline, since in the worst case it blocks on such a
 * mutex too) and on -1 stop every child, recover, restart. */
int kv_env_failchk(struct kv_env *env, const char **error_r);
/* Master's failchk, safe against the worst case: in a forked process, open
 * the environment in dir and run kv_env_failchk(), giving up after
 * timeout_ms.  Returns 0 when the environment is fine (dead processes
 * cleaned up), -1 with *error_r set when it needs recovery, or the check
 * failed or hung (then stop every user and open with KV_ENV_RECOVER).
 * Does not disturb a SIGCHLD handler that reaps children. */
int kv_env_check(const char *dir, unsigned timeout_ms, const char **error_r);
/* True once the environment has failed in a way only recovery fixes,
 * whether this process or another one found out (see "Needing recovery"
 * above).  Cheap, and never blocks once the failure is known; but while
 * a process that died holding Berkeley DB's transaction mutex has not yet
 * been found out, this call can block like any other (reading the flag
 * takes that mutex).  A service process may ask after every command (master
 * kills and recovers it if it hangs); a process that must never hang uses
 * kv_env_check() instead. */
bool kv_env_needs_recovery(struct kv_env *env);
/* Declare the environment broken, for every process that uses it: from now
 * on every kv call on it, in any process, fails with "needs recovery" until
 * it is opened with KV_ENV_RECOVER.  For a process that found the shared
 * state inconsistent, and for tests.  Never blocks. */
void kv_env_set_needs_recovery(struct kv_env *env);
/* How long kv_transaction() and calls with txn NULL keep retrying when a
 * lock is busy before they give up with -1 (default KV_RETRY_MS, at most
 * KV_RETRY_MS_MAX; also at most KV_RETRY_TRIES tries).  For this handle. */
void kv_env_set_retry_time(struct kv_env *env, unsigned msecs);
#define KV_RETRY_MS 5000
#define KV_RETRY_MS_MAX 600000
#define KV_RETRY_TRIES 1000
const char *kv_env_dir(const struct kv_env *env);

/* Open (creating if missing) the database stored in file `name` inside the
 * environment directory.  Returns 0 or -1. */
int kv_db_open(struct kv_env *env, const char *name, struct kv_db **db_r,
               const char **error_r);
/* Close and set *db to NULL (no-op when NULL).  No transaction may be
 * using it. */
void kv_db_close(struct kv_db **db);
const char *kv_db_name(const struct kv_db *db);

/* Begin a transaction.  One process may have several open (a lock one
 * holds makes the other's calls return KV_DEADLOCK).  Returns 0 or -1. */
int kv_txn_begin(struct kv_env *env, struct kv_txn **txn_r,
                 const char **error_r);
/* Commit: the changes are durable (the log is fsynced) when this returns 0.
 * The handle is freed whatever happens; on -1 / KV_DEADLOCK nothing was
 * committed. */
int kv_txn_commit(struct kv_txn *txn, const char **error_r);
/* Throw away the transaction's changes and free the handle. */
void kv_txn_abort(struct kv_txn *txn);

/* Read key.  Returns 1 with the value in value_r (replacing its contents),
 * 0 when missing (value_r emptied), -1 or KV_DEADLOCK.  txn NULL: a single
 * read outside any transaction. */
int kv_get(struct kv_db *db, struct kv_txn *txn, const void *key,
           size_t keylen, struct buf *value_r, const char **error_r);
/* kv_get() taking a write lock at once: use it for read-modify-write in a
 * transaction (two transactions that both read first would both fail to
 * upgrade their read lock and retry). */
int kv_get_for_update(struct kv_db *db, struct kv_txn *txn, const void *key,
                      size_t keylen, struct buf *value_r,
                      const char **error_r);
/* Store value under key, replacing any old value.  txn NULL: committed on
 * its own, durably.  Returns 0, -1 or KV_DEADLOCK. */
int kv_put(struct kv_db *db, struct kv_txn *txn, const void *key,
           size_t keylen, const void *value, size_t valuelen,
           const char **error_r);
/* Delete key.  Returns 1 when deleted, 0 when there was none, -1 or
 * KV_DEADLOCK.  txn NULL: committed on its own. */
int kv_delete(struct kv_db *db, struct kv_txn *txn, const void *key,
              size_t keylen, const char **error_r);

/* Called for each record: return 0 to go on, 1 to stop (success), -1 to
 * fail, or KV_DEADLOCK when a kv call it made returned that.  On -1 the
 * iteration returns -1 with the message the callback set with
 * kv_error_set() (or passed up from a failing kv call), else
 * "callback failed".  key and val are only valid during the call. */
typedef int kv_foreach_fn(const void *key, size_t keylen, const void *val,
                          size_t vallen, void *ctx);
/* Call cb for every key starting with prefix (all keys when prefixlen is 0)
 * in ascending byte order.  Returns 0 (also when cb stopped it), -1 or
 * KV_DEADLOCK.  With txn NULL the iteration is not isolated from concurrent
 * writers and cb must not write to this database (the iteration's own read
 * lock would make the write fail as busy); a KV_DEADLOCK then is not
 * retried, since cb may already have seen some records.  Use a transaction
 * when either matters. */
int kv_foreach_prefix(struct kv_db *db, struct kv_txn *txn,
                      const void *prefix, size_t prefixlen,
                      kv_foreach_fn *cb, void *ctx, const char **error_r);

/* The body of a transaction: do the reads and writes with txn and return
 * 0 to commit, -1 (with *error_r set) to abort, or KV_DEADLOCK whenever a kv
 * call returned it (pass it up unchanged).  It may run several times, so it
 * must not have side effects outside the store (or must undo them at the
 * start). */
typedef int kv_txn_fn(struct kv_txn *txn, void *ctx, const char **error_r);
/* Run fn in a new transaction and commit it; on KV_DEADLOCK abort and run
 * it again after a short random pause (0.1 ms growing to at most 50 ms),
 * for at most the retry time.  Returns 0 when committed, -1 when fn failed
 * (its message) or the store did, or when the locks stayed busy. */
int kv_transaction(struct kv_env *env, kv_txn_fn *fn, void *ctx,
                   const char **error_r);

/* ------------------------------------------------------------------------
 * Backend interface: only kv.c and the backends (kv_bdb.c ...) use what
 * follows.  kv.c checks arguments (sizes, NULLs, handle use after fork) and
 * does the retrying; a backend only talks to its library.  Each backend
 * defines the three implementation structs in its own file.
 */
struct kv_env_impl;
struct kv_db_impl;
struct kv_txn_impl;

struct kv_backend {
    const char *name;
    int (*env_open)(const char *dir, unsigned flags,
                    struct kv_env_impl **env_r, const char **error_r);
    void (*env_close)(struct kv_env_impl *env);
    int (*env_checkpoint)(struct kv_env_impl *env, const char **error_r);
    /* failchk: on "needs recovery", also mark the shared state so that
     * the other processes learn it at their next call. */
    int (*env_failchk)(struct kv_env_impl *env, const char **error_r);
    /* needs_recovery: also true when another process marked it; never
     * blocks.  set_needs_recovery: mark it, for every process. */
    bool (*env_needs_recovery)(struct kv_env_impl *env);
    void (*env_set_needs_recovery)(struct kv_env_impl *env);
    /* Once needs_recovery is true, env_close, db_close, txn_commit (which
     * then fails) and txn_abort must not block: they free what they can
     * without waiting and keep the rest (a leak bounded by one set of
     * handles per environment opened); kv.c makes every other call fail
     * before it reaches the backend. */
    int (*db_open)(struct kv_env_impl *env, const char *name,
                   struct kv_db_impl **db_r, const char **error_r);
    void (*db_close)(struct kv_db_impl *db);
    int (*txn_begin)(struct kv_env_impl *env, struct kv_txn_impl **txn_r,
                     const char **error_r);
    int (*txn_commit)(struct kv_txn_impl *txn, const char **error_r);
    void (*txn_abort)(struct kv_txn_impl *txn);
    /* Every operation: txn NULL means a transaction of its own; a busy
     * lock or a deadlock gives KV_DEADLOCK, never a wait.
     * get: for_update takes a write lock for the read.
     * foreach_prefix: when cb returns -1 or KV_DEADLOCK, stop and return
     * that value without touching *error_r (kv.c words the message). */
    int (*get)(struct kv_db_impl *db, struct kv_txn_impl *txn,
               const void *key, size_t keylen, bool for_update,
               struct buf *value_r, const char **error_r);
    int (*put)(struct kv_db_impl *db, struct kv_txn_impl *txn,
               const void *key, size_t keylen, const void *value,
               size_t valuelen, const char **error_r);
    int (*del)(struct kv_db_impl *db, struct kv_txn_impl *txn,
               const void *key, size_t keylen, const char **error_r);
    int (*foreach_prefix)(struct kv_db_impl *db, struct kv_txn_impl *txn,
                          const void *prefix, size_t prefixlen,
                          kv_foreach_fn *cb, void *ctx, const char **error_r);
};

extern const struct kv_backend kv_backend_bdb;

/* Format an error message into the module's static buffer and return it
 * (the arguments may point into that buffer). */
const char *kv_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
