/* kv_bdb.c - the Berkeley DB 5.3 backend of the key-value store.
 *
 * DESCRIPTION
 *   The only file of Roost that includes db.h.  One kv environment is one
 *   Berkeley DB environment (a directory holding the shared region files
 *   __db.NNN, the write-ahead log log.NNNNNNNNNN and one btree file per
 *   database) opened with transactions, locking, logging and a shared
 *   memory pool, so that any number of processes can use it at once.
 *
 *   Settings, all fixed here:
 *   - cache KV_BDB_CACHE bytes (the databases are small and hot);
 *   - every operation runs in a transaction (txn NULL: one of its own),
 *     and no transaction ever waits for a lock (DB_TXN_NOWAIT): a busy lock
 *     gives DB_LOCK_NOTGRANTED at once, reported as KV_DEADLOCK, and kv.c
 *     retries with a random backoff.  The deadlock detector (DB_LOCK_DEFAULT)
 *     stays configured as a safety net but never has a cycle to break;
 *   - commits fsync the log (durable), log files that no checkpoint needs
 *     any more are removed by themselves (DB_LOG_AUTO_REMOVE);
 *   - lock table and thread table sized for a few hundred processes.
 *
 * PROCESSES THAT DIE (kill -9, crash)
 *   A process that dies holding locks would make every other process that
 *   needs them wait forever: the deadlock detector only breaks cycles, and
 *   a dead holder waits for nothing.  Berkeley DB offers two cures:
 *
 *   DB_REGISTER makes every opener check a registry of processes and run
 *   recovery whenever one of them died without closing the environment.
 *   Recovery throws every live process out of the environment (they all get
 *   DB_RUNRECOVERY and must reopen), and it is triggered by any death, also
 *   by an imapd that crashed while idle holding no lock at all.  With
 *   hundreds of long-lived sessions that is far too disruptive, and it runs
 *   recovery from whatever process happens to open next, while master is
 *   meant to be the only one that recovers.
 *
 *   failchk (chosen here) tracks which process is inside the library
 *   (set_thread_count) and asks is_alive() about it (kill(pid, 0)).
 *   DB_ENV->failchk() aborts the transactions of dead processes and frees
 *   their locks; the environment stays usable and nobody else notices.  It
 *   runs at every open, every few retries of an operation that met a busy
 *   lock (so a dead holder costs the others a few milliseconds), and in
 *   kv_env_check(), which master calls after reaping a child that died
 *   abnormally.  Only when the dead process was in the middle of changing
 *   shared memory does failchk give up: then the environment is marked as
 *   needing recovery and every call fails until master stops all users and
 *   reopens it with KV_ENV_RECOVER.
 *
 *   Why never wait for a lock: a waiter sleeps on a process-shared pthread
 *   condition variable in the lock region.  If it is killed while waiting,
 *   failchk aborts its transaction, which destroys that condition variable,
 *   and glibc (2.25 and later) pthread_cond_destroy() waits for the dead
 *   waiter forever, holding the lock region: the whole environment hangs
 *   (seen with Debian 12's libdb 5.3).  Lock timeouts do not help either:
 *   5.3 only fails an expired wait when the deadlock detector runs again.
 *   With DB_TXN_NOWAIT no process ever sleeps on a lock, so failchk is safe
 *   at any time; the price is retrying instead of queueing under contention
 *   (kv.c's gate keeps that fair).
 *
 * AN ENVIRONMENT THAT NEEDS RECOVERY
 *   failchk's verdict (DB_RUNRECOVERY) is only an answer to the caller:
 *   Berkeley DB 5.3 does not mark the environment, so everybody else, this
 *   process included, would go on and, sooner or later, wait forever on the
 *   mutex the dead process held: DB->close() flushing the log
 *   (__log_flush), a commit, a page the dead process had latched.  So
 *   whenever this backend learns that the environment needs recovery
 *   (failchk, DB_RUNRECOVERY from any call, DB_EVENT_PANIC, or
 *   kv_env_set_needs_recovery()) it raises Berkeley DB's own panic flag in
 *   the shared region (set_flags(DB_PANIC_ENVIRONMENT), which takes no
 *   mutex).  From then on every Berkeley DB call, in every process, fails
 *   at its entry with DB_RUNRECOVERY before touching any shared mutex, and
 *   kv.c does not even call in (bdb_env_needs_recovery() reads the flag;
 *   see bdb_shared_panic() for the one case where reading it blocks).
 *   Ending handles then only frees our memory:
 *   - a database, cursor or transaction handle is not closed, committed or
 *     aborted at all (no log flush, no cache write-back, no lock release:
 *     recovery rolls back whatever was not committed);
 *   - the environment handle is closed, which on a panicked environment
 *     only closes its file descriptors and returns without freeing its
 *     memory, or the regions' mappings; it is then kept on a list
 *     (bdb_abandoned) so that it stays reachable (for leak checkers).  That
 *     is a bounded leak, one set of handles per environment that failed,
 *     in a process that is about to exit or (master) recovers once.
 *   DB_NOSYNC would not do: closing a database still takes the region
 *   mutexes (file registration, cache), and a dead process may hold any.
 *   What stays stuck are calls that were already waiting on the mutex when
 *   the verdict came: master kills those processes before recovering.
 *
 *   Caveats: a recycled pid makes a dead process look alive until that pid
 *   exits too.  A process that died holding a region mutex (inside the
 *   library) leaves everybody who needs that mutex stuck, failchk and new
 *   opens included: hence kv_env_check() runs failchk in a child with a
 *   deadline, and master recovers when it fails or hangs.  Crash tests
 *   (kill -9 at random moments) end in one of: nothing to do, failchk
 *   cleans up, failchk asks for recovery, or the check hangs; recovery
 *   always brought back a consistent environment.
 */
#include "kv.h"
#include "buf.h"
#include "log.h"
#include "xmalloc.h"

#include <db.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KV_BDB_CACHE (8 * 1024 * 1024)
/* Processes (threads of control) the environment tracks for failchk;
 * entries of dead ones are reused. */
#define KV_BDB_THREADS 1024
#define KV_BDB_LOCKERS 10000
#define KV_BDB_LOCKS 20000
#define KV_BDB_OBJECTS 20000
#define KV_BDB_FILE_MODE 0600

struct kv_env_impl {
    DB_ENV *dbenv;
    char *dir;
    bool panicked;       /* needs recovery, and the shared flag is up */
    struct kv_env_impl *next_abandoned;
};

struct kv_db_impl {
    struct kv_env_impl *env;
    DB *db;
    char *name;
};

struct kv_txn_impl {
    struct kv_env_impl *env;
    DB_TXN *txn;
};

/* Environments closed while they needed recovery: Berkeley DB kept their
 * memory (see above); kept reachable here, never touched again. */
static struct kv_env_impl *bdb_abandoned;

static void bdb_errcall(const DB_ENV *dbenv, const char *prefix,
                        const char *msg)
{
    (void)dbenv;
    log_error("kv: %s%s%s", prefix != NULL ? prefix : "",
              prefix != NULL ? ": " : "", msg);
}

/* For the handles of an environment given up on: its complaints about
 * handles left open and about the panic were said once already. */
static void bdb_errcall_quiet(const DB_ENV *dbenv, const char *prefix,
                              const char *msg)
{
    (void)dbenv;
    (void)prefix;
    (void)msg;
}

static void bdb_msgcall(const DB_ENV *dbenv, const char *msg)
{
    (void)dbenv;
    log_info("kv: %s", msg);
}

static void bdb_event(DB_ENV *dbenv, u_int32_t event, void *info)
{
    struct kv_env_impl *env = dbenv->app_private;

    (void)info;
    switch (event) {
    case DB_EVENT_PANIC:
        /* The shared flag is up already (that is what sends the event). */
        if (env != NULL && !env->panicked) {
            env->panicked = true;
            log_error("kv: %s: environment failed and needs recovery",
                      env->dir);
        }
        break;
    case DB_EVENT_WRITE_FAILED:
        log_error("kv: %s: a write failed", env != NULL ? env->dir : "?");
        break;
    default:
        break;
    }
}

/* For failchk: is the process that owns a thread slot still there?  Our
 * processes are single threaded, so the thread id does not matter. */
static int bdb_isalive(DB_ENV *dbenv, pid_t pid, db_threadid_t tid,
                       u_int32_t flags)
{
    (void)dbenv;
    (void)tid;
    (void)flags;
    if (pid == getpid())
        return 1;
    if (kill(pid, 0) == 0 || errno == EPERM)
        return 1;
    return 0;
}

/* Whether Berkeley DB's panic flag is up in the shared region (raised by
 * this process or another).
 *
 * What DB_ENV->get_flags() does in 5.3 (read from the library's code):
 * it reads the flag from the region first, without a mutex, and when it
 * is up sets DB_PANIC_ENVIRONMENT in the result *and returns
 * DB_RUNRECOVERY* (its entry check, which also sends DB_EVENT_PANIC), so
 * the bit counts whatever it returns.  When the flag is not up, it goes
 * on to take the transaction region's mutex (to report a hot backup in
 * progress): if a process died holding that mutex and nobody has raised
 * the flag yet, this blocks for good -- as would the next transaction
 * anyway.  Only a check from another process with a deadline
 * (kv_env_check()) finds that case out; a process that must not hang
 * (master, a test playing master) never asks here after a crash. */
static bool bdb_shared_panic(struct kv_env_impl *env)
{
    u_int32_t flags = 0;
    int ret = env->dbenv->get_flags(env->dbenv, &flags);

    return (flags & DB_PANIC_ENVIRONMENT) != 0 || ret == DB_RUNRECOVERY;
}

/* The environment needs recovery: remember it and raise the shared flag,
 * so that every process fails its next call at once (see above). */
static void bdb_set_panicked(struct kv_env_impl *env)
{
    if (env->panicked)
        return;
    env->panicked = true;
    if (!bdb_shared_panic(env))
        (void)env->dbenv->set_flags(env->dbenv, DB_PANIC_ENVIRONMENT, 1);
}

static bool bdb_env_needs_recovery(struct kv_env_impl *env)
{
    if (!env->panicked && bdb_shared_panic(env))
        env->panicked = true;
    return env->panicked;
}

static void bdb_env_set_needs_recovery(struct kv_env_impl *env)
{
    bdb_set_panicked(env);
}

/* Turn a Berkeley DB error into our return value and message. */
static int bdb_fail(struct kv_env_impl *env, const char *what,
                    const char *where, int ret, const char **error_r)
{
    switch (ret) {
    case DB_LOCK_DEADLOCK:
        *error_r = kv_error_set("%s: %s: deadlock", where, what);
        return KV_DEADLOCK;
    case DB_LOCK_NOTGRANTED:
        *error_r = kv_error_set("%s: %s: lock busy", where, what);
        return KV_DEADLOCK;
    case DB_RUNRECOVERY:
        bdb_set_panicked(env);
        *error_r = kv_error_set("%s: %s: environment %s needs recovery",
                                where, what, env->dir);
        return -1;
    default:
        *error_r = kv_error_set("%s: %s: %s", where, what, db_strerror(ret));
        return -1;
    }
}

static int bdb_failchk(struct kv_env_impl *env, const char **error_r)
{
    int ret = env->dbenv->failchk(env->dbenv, 0);

    if (ret == 0)
        return 0;
    if (ret == DB_RUNRECOVERY)
        bdb_set_panicked(env);
    *error_r = kv_error_set("%s: failchk: %s%s", env->dir, db_strerror(ret),
                            ret == DB_RUNRECOVERY ?
                            " (a process died inside Berkeley DB; the "
                            "environment needs recovery)" : "");
    return -1;
}

/* Close an environment that needs recovery without waiting for anything:
 * with the panic flag up, DB_ENV->close() only closes the file descriptors
 * and keeps the memory, which stays reachable from bdb_abandoned. */
static void bdb_env_abandon(struct kv_env_impl *env)
{
    bdb_set_panicked(env);
    log_error("kv: %s: needs recovery; its handles are abandoned", env->dir);
    env->dbenv->set_errcall(env->dbenv, bdb_errcall_quiet);
    (void)env->dbenv->close(env->dbenv, 0);
    env->next_abandoned = bdb_abandoned;
    bdb_abandoned = env;
}

static int bdb_env_configure(DB_ENV *dbenv, const char **error_r)
{
    int ret;
    const char *what;

#define BDB_SET(call) \
    do { what = #call; if ((ret = dbenv->call) != 0) goto fail; } while (0)
    BDB_SET(set_cachesize(dbenv, 0, KV_BDB_CACHE, 1));
    BDB_SET(set_lk_detect(dbenv, DB_LOCK_DEFAULT));
    BDB_SET(set_lk_max_lockers(dbenv, KV_BDB_LOCKERS));
    BDB_SET(set_lk_max_locks(dbenv, KV_BDB_LOCKS));
    BDB_SET(set_lk_max_objects(dbenv, KV_BDB_OBJECTS));
    BDB_SET(set_thread_count(dbenv, KV_BDB_THREADS));
    BDB_SET(set_isalive(dbenv, bdb_isalive));
    BDB_SET(set_event_notify(dbenv, bdb_event));
    BDB_SET(log_set_config(dbenv, DB_LOG_AUTO_REMOVE, 1));
    BDB_SET(set_flags(dbenv, DB_AUTO_COMMIT | DB_TXN_NOWAIT |
                      DB_TIME_NOTGRANTED, 1));
#undef BDB_SET
    return 0;
fail:
    *error_r = kv_error_set("kv: %s: %s", what, db_strerror(ret));
    return -1;
}

static int bdb_env_open(const char *dir, unsigned flags,
                        struct kv_env_impl **env_r, const char **error_r)
{
    DB_ENV *dbenv;
    u_int32_t oflags = DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
                       DB_INIT_MPOOL;
    int ret;

    if ((flags & KV_ENV_CREATE) != 0 && mkdir(dir, 0700) < 0 &&
        errno != EEXIST) {
        *error_r = kv_error_set("kv: mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    if ((flags & (KV_ENV_CREATE | KV_ENV_RECOVER)) != 0)
        oflags |= DB_CREATE;
    if ((flags & KV_ENV_RECOVER) != 0)
        oflags |= DB_RECOVER;

    if ((ret = db_env_create(&dbenv, 0)) != 0) {
        *error_r = kv_error_set("kv: %s: db_env_create: %s", dir,
                                db_strerror(ret));
        return -1;
    }
    struct kv_env_impl *env = xcalloc(1, sizeof(*env));
    env->dbenv = dbenv;
    env->dir = xstrdup(dir);
    dbenv->app_private = env;
    dbenv->set_errcall(dbenv, bdb_errcall);
    dbenv->set_errpfx(dbenv, env->dir);
    dbenv->set_msgcall(dbenv, bdb_msgcall);

    if (bdb_env_configure(dbenv, error_r) < 0)
        goto fail;
    if ((ret = dbenv->open(dbenv, dir, oflags, KV_BDB_FILE_MODE)) != 0) {
        if (ret == DB_RUNRECOVERY || ret == DB_VERSION_MISMATCH)
            *error_r = kv_error_set("kv: open environment %s: %s (needs "
                                    "recovery)", dir, db_strerror(ret));
        else
            *error_r = kv_error_set("kv: open environment %s: %s", dir,
                                    db_strerror(ret));
        goto fail;
    }
    /* Clean up after processes that died since the last look (recovery
     * has just rebuilt everything, no need then). */
    if ((flags & KV_ENV_RECOVER) == 0 && bdb_failchk(env, error_r) < 0)
        goto fail;
    *env_r = env;
    return 0;

fail:
    if (env->panicked) {
        bdb_env_abandon(env);
        return -1;
    }
    dbenv->close(dbenv, 0);
    free(env->dir);
    free(env);
    return -1;
}

static void bdb_env_close(struct kv_env_impl *env)
{
    if (bdb_env_needs_recovery(env)) {
        bdb_env_abandon(env);
        return;
    }
    int ret = env->dbenv->close(env->dbenv, 0);

    if (ret == DB_RUNRECOVERY) {
        /* Another process raised the flag just now: Berkeley DB kept the
         * handle (or freed it; we never look at it again). */
        env->next_abandoned = bdb_abandoned;
        bdb_abandoned = env;
        return;
    }
    if (ret != 0)
        log_error("kv: %s: close environment: %s", env->dir,
                  db_strerror(ret));
    free(env->dir);
    free(env);
}

static int bdb_env_checkpoint(struct kv_env_impl *env, const char **error_r)
{
    int ret = env->dbenv->txn_checkpoint(env->dbenv, 0, 0, 0);

    if (ret != 0) {
        (void)bdb_fail(env, "checkpoint", env->dir, ret, error_r);
        return -1;
    }
    return 0;
}

static int bdb_db_open(struct kv_env_impl *env, const char *name,
                       struct kv_db_impl **db_r, const char **error_r)
{
    DB *db;
    DB_TXN *txn;
    int ret;

    if ((ret = db_create(&db, env->dbenv, 0)) != 0)
        return bdb_fail(env, "db_create", name, ret, error_r);
    struct kv_db_impl *impl = xcalloc(1, sizeof(*impl));
    impl->env = env;
    impl->db = db;
    impl->name = xstrdup(name);

    ret = env->dbenv->txn_begin(env->dbenv, NULL, &txn, DB_TXN_NOWAIT);
    if (ret != 0) {
        ret = bdb_fail(env, "open: begin", name, ret, error_r);
        goto fail;
    }
    ret = db->open(db, txn, name, NULL, DB_BTREE, DB_CREATE,
                   KV_BDB_FILE_MODE);
    if (ret != 0) {
        txn->abort(txn);
        ret = bdb_fail(env, "open", name, ret, error_r);
        goto fail;
    }
    if ((ret = txn->commit(txn, 0)) != 0) {
        ret = bdb_fail(env, "open: commit", name, ret, error_r);
        goto fail;
    }
    *db_r = impl;
    return 0;

fail:
    db->close(db, 0);
    free(impl->name);
    free(impl);
    return ret;
}

/* Needs recovery: the handle stays open (reachable from the environment's
 * list of databases), see above. */
static void bdb_db_close(struct kv_db_impl *impl)
{
    if (bdb_env_needs_recovery(impl->env)) {
        free(impl->name);
        free(impl);
        return;
    }
    int ret = impl->db->close(impl->db, 0);

    if (ret != 0)
        log_error("kv: %s: close: %s", impl->name, db_strerror(ret));
    free(impl->name);
    free(impl);
}

static int bdb_txn_begin(struct kv_env_impl *env, struct kv_txn_impl **txn_r,
                         const char **error_r)
{
    DB_TXN *txn;
    int ret = env->dbenv->txn_begin(env->dbenv, NULL, &txn, DB_TXN_NOWAIT);

    if (ret != 0) {
        (void)bdb_fail(env, "begin transaction", env->dir, ret, error_r);
        return -1;
    }
    struct kv_txn_impl *impl = xcalloc(1, sizeof(*impl));
    impl->env = env;
    impl->txn = txn;
    *txn_r = impl;
    return 0;
}

static int bdb_txn_commit(struct kv_txn_impl *impl, const char **error_r)
{
    struct kv_env_impl *env = impl->env;

    if (bdb_env_needs_recovery(env)) {
        free(impl);
        *error_r = kv_error_set("%s: commit: environment needs recovery "
                                "(nothing committed)", env->dir);
        return -1;
    }
    int ret = impl->txn->commit(impl->txn, 0);

    free(impl);
    if (ret != 0)
        return bdb_fail(env, "commit", env->dir, ret, error_r);
    return 0;
}

static void bdb_txn_abort(struct kv_txn_impl *impl)
{
    if (bdb_env_needs_recovery(impl->env)) {
        free(impl);
        return;
    }
    int ret = impl->txn->abort(impl->txn);

    if (ret != 0) {
        if (ret == DB_RUNRECOVERY)
            bdb_set_panicked(impl->env);
        log_error("kv: %s: abort: %s", impl->env->dir, db_strerror(ret));
    }
    free(impl);
}

/* The transaction an operation runs in: the caller's, or (txn NULL) a new
 * one of its own, which never waits either. */
static int bdb_op_begin(struct kv_db_impl *db, struct kv_txn_impl *txn,
                        u_int32_t flags, DB_TXN **txn_r, const char **error_r)
{
    int ret;

    if (txn != NULL) {
        *txn_r = txn->txn;
        return 0;
    }
    ret = db->env->dbenv->txn_begin(db->env->dbenv, NULL, txn_r,
                                    DB_TXN_NOWAIT | flags);
    if (ret != 0)
        return bdb_fail(db->env, "begin", db->name, ret, error_r);
    return 0;
}

/* End what bdb_op_begin() started: the own transaction is committed when
 * result >= 0 and aborted otherwise.  Returns result or the commit's
 * failure. */
static int bdb_op_end(struct kv_db_impl *db, struct kv_txn_impl *txn,
                      DB_TXN *own, int result, const char **error_r)
{
    int ret;

    if (txn != NULL)
        return result;
    if (bdb_env_needs_recovery(db->env)) {
        if (result >= 0)
            result = bdb_fail(db->env, "commit", db->name, DB_RUNRECOVERY,
                              error_r);
        return result;
    }
    if (result < 0) {
        if ((ret = own->abort(own)) != 0) {
            if (ret == DB_RUNRECOVERY)
                bdb_set_panicked(db->env);
            log_error("kv: %s: abort: %s", db->name, db_strerror(ret));
        }
        return result;
    }
    if ((ret = own->commit(own, 0)) != 0)
        return bdb_fail(db->env, "commit", db->name, ret, error_r);
    return result;
}

static void bdb_dbt_in(DBT *dbt, const void *data, size_t len)
{
    memset(dbt, 0, sizeof(*dbt));
    dbt->data = (void *)data;   /* only read by Berkeley DB */
    dbt->size = (u_int32_t)len;
}

static int bdb_get_in(struct kv_db_impl *db, DB_TXN *txn, const void *key,
                      size_t keylen, bool for_update, struct buf *value_r,
                      const char **error_r)
{
    DBT k, d;
    size_t want = 0;
    int ret;

    bdb_dbt_in(&k, key, keylen);
    /* Read into the buffer's own memory; when too small we learn the size
     * and read again. */
    for (int i = 0; i < 3; i++) {
        buf_reserve(value_r, want);
        memset(&d, 0, sizeof(d));
        d.data = value_r->data;
        d.ulen = value_r->alloc - 1 > UINT32_MAX ? UINT32_MAX :
                 (u_int32_t)(value_r->alloc - 1);
        d.flags = DB_DBT_USERMEM;
        ret = db->db->get(db->db, txn, &k, &d, for_update ? DB_RMW : 0);
        if (ret != DB_BUFFER_SMALL)
            break;
        if (d.size > KV_VALUE_MAX)
            break;
        want = d.size;
    }
    if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY)
        return 0;
    if ((ret == 0 || ret == DB_BUFFER_SMALL) && d.size > KV_VALUE_MAX) {
        *error_r = kv_error_set("%s: get: stored value of %u bytes over the "
                                "limit (corrupt database?)", db->name, d.size);
        return -1;
    }
    if (ret != 0)
        return bdb_fail(db->env, "get", db->name, ret, error_r);
    value_r->len = d.size;
    value_r->data[d.size] = '\0';
    return 1;
}

static int bdb_get(struct kv_db_impl *db, struct kv_txn_impl *txn,
                   const void *key, size_t keylen, bool for_update,
                   struct buf *value_r, const char **error_r)
{
    DB_TXN *t;
    int ret = bdb_op_begin(db, txn, DB_READ_COMMITTED, &t, error_r);

    if (ret < 0)
        return ret;
    ret = bdb_get_in(db, t, key, keylen, for_update, value_r, error_r);
    ret = bdb_op_end(db, txn, t, ret, error_r);
    if (ret <= 0)
        buf_reset(value_r);
    return ret;
}

static int bdb_put(struct kv_db_impl *db, struct kv_txn_impl *txn,
                   const void *key, size_t keylen, const void *value,
                   size_t valuelen, const char **error_r)
{
    DB_TXN *t;
    DBT k, d;
    int ret = bdb_op_begin(db, txn, 0, &t, error_r);

    if (ret < 0)
        return ret;
    bdb_dbt_in(&k, key, keylen);
    bdb_dbt_in(&d, value, valuelen);
    ret = db->db->put(db->db, t, &k, &d, 0);
    if (ret != 0)
        ret = bdb_fail(db->env, "put", db->name, ret, error_r);
    return bdb_op_end(db, txn, t, ret, error_r);
}

static int bdb_del(struct kv_db_impl *db, struct kv_txn_impl *txn,
                   const void *key, size_t keylen, const char **error_r)
{
    DB_TXN *t;
    DBT k;
    int ret = bdb_op_begin(db, txn, 0, &t, error_r);

    if (ret < 0)
        return ret;
    bdb_dbt_in(&k, key, keylen);
    ret = db->db->del(db->db, t, &k, 0);
    if (ret == 0)
        ret = 1;
    else if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY)
        ret = 0;
    else
        ret = bdb_fail(db->env, "delete", db->name, ret, error_r);
    return bdb_op_end(db, txn, t, ret, error_r);
}

static int bdb_foreach_in(struct kv_db_impl *db, DB_TXN *txn,
                          u_int32_t cursor_flags, const void *prefix,
                          size_t prefixlen, kv_foreach_fn *cb, void *ctx,
                          const char **error_r)
{
    DBC *cursor;
    DBT k, d;
    int ret, result = 0;

    ret = db->db->cursor(db->db, txn, &cursor, cursor_flags);
    if (ret != 0)
        return bdb_fail(db->env, "cursor", db->name, ret, error_r);

    /* Berkeley DB reallocates both (with realloc()) to fit each record. */
    memset(&k, 0, sizeof(k));
    memset(&d, 0, sizeof(d));
    k.flags = DB_DBT_REALLOC;
    d.flags = DB_DBT_REALLOC;
    if (prefixlen > 0) {
        k.data = xmemdup(prefix, prefixlen);
        k.size = (u_int32_t)prefixlen;
        ret = cursor->get(cursor, &k, &d, DB_SET_RANGE);
    } else {
        ret = cursor->get(cursor, &k, &d, DB_FIRST);
    }
    while (ret == 0) {
        if (k.size > KV_KEY_MAX || d.size > KV_VALUE_MAX) {
            *error_r = kv_error_set("%s: record of %u+%u bytes over the "
                                    "limit (corrupt database?)", db->name,
                                    k.size, d.size);
            result = -1;
            break;
        }
        if (k.size < prefixlen || memcmp(k.data, prefix, prefixlen) != 0)
            break;
        int cbret = cb(k.data, k.size, d.data, d.size, ctx);
        if (cbret != 0) {
            /* 1: stop; -1, KV_DEADLOCK: passed up for kv.c to word. */
            result = cbret == 1 ? 0 : cbret;
            break;
        }
        ret = cursor->get(cursor, &k, &d, DB_NEXT);
    }
    if (ret != 0 && ret != DB_NOTFOUND)
        result = bdb_fail(db->env, "iterate", db->name, ret, error_r);
    /* Needs recovery: the cursor stays with its database, see above. */
    if (!bdb_env_needs_recovery(db->env)) {
        ret = cursor->close(cursor);
        if (ret != 0 && result == 0)
            result = bdb_fail(db->env, "close cursor", db->name, ret,
                              error_r);
    } else if (result == 0) {
        result = bdb_fail(db->env, "iterate", db->name, DB_RUNRECOVERY,
                          error_r);
    }
    free(k.data);
    free(d.data);
    return result;
}

static int bdb_foreach_prefix(struct kv_db_impl *db, struct kv_txn_impl *txn,
                              const void *prefix, size_t prefixlen,
                              kv_foreach_fn *cb, void *ctx,
                              const char **error_r)
{
    DB_TXN *t;
    /* Outside a caller's transaction, let go of each page once past it. */
    u_int32_t flags = txn == NULL ? DB_READ_COMMITTED : 0;
    int ret = bdb_op_begin(db, txn, flags, &t, error_r);

    if (ret < 0)
        return ret;
    ret = bdb_foreach_in(db, t, flags, prefix, prefixlen, cb, ctx, error_r);
    return bdb_op_end(db, txn, t, ret, error_r);
}

const struct kv_backend kv_backend_bdb = {
    .name = "berkeleydb",
    .env_open = bdb_env_open,
    .env_close = bdb_env_close,
    .env_checkpoint = bdb_env_checkpoint,
    .env_failchk = bdb_failchk,
    .env_needs_recovery = bdb_env_needs_recovery,
    .env_set_needs_recovery = bdb_env_set_needs_recovery,
    .db_open = bdb_db_open,
    .db_close = bdb_db_close,
    .txn_begin = bdb_txn_begin,
    .txn_commit = bdb_txn_commit,
    .txn_abort = bdb_txn_abort,
    .get = bdb_get,
    .put = bdb_put,
    .del = bdb_del,
    .foreach_prefix = bdb_foreach_prefix,
};
