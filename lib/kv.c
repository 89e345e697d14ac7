/* kv.c - the backend-independent half of the key-value store.
 *
 * DESCRIPTION
 *   Holds the handles callers see (struct kv_env, kv_db, kv_txn), checks
 *   every argument (key and value sizes, handles used after fork(), handles
 *   left open), retries single operations and whole transactions that met a
 *   busy lock, with a short randomised backoff for a bounded time (looking
 *   for dead lock holders now and then), and words the errors.  The
 *   backend behind struct kv_backend (kv_bdb.c) only talks to its library.
 *
 *   Error messages live in one static buffer (the processes are single
 *   threaded): a message stays valid until the next kv call.
 *
 *   An environment that needs recovery (kv.h) is refused here, before the
 *   backend is asked anything: every call checks kv_env_usable() first
 *   and fails with "needs recovery" without retrying; the calls that end
 *   a handle leave it to the backend, which then only frees memory.
 *
 * FAIRNESS
 *   Nobody waits for a lock (see kv_bdb.c), so a process that runs
 *   transactions back to back on the same pages would win every race and
 *   starve the others: their retries, however timed, nearly always find
 *   the lock busy.  The gate file (KV_GATE_FILE in the environment
 *   directory) evens that out with flock(), which the kernel drops when a
 *   process dies: a process that failed KV_GATE_AFTER tries of the same
 *   operation takes the gate exclusively (if nobody else has it) until the
 *   operation is over, and every process about to begin a transaction while
 *   holding none first checks the gate and, while somebody holds it,
 *   pauses (up to KV_GATE_WAIT_MS).  The starving process then only meets
 *   the transactions already under way, which are short.  Nobody pauses
 *   while holding a transaction, so the gate cannot deadlock.
 */
#include "kv.h"
#include "buf.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct kv_env {
    const struct kv_backend *backend;
    struct kv_env_impl *impl;
    char *dir;
    pid_t pid;           /* the process that opened it */
    unsigned open_dbs;
    unsigned open_txns;
    unsigned retry_ms;
    int gate_fd;
    bool gate_held;      /* we hold the gate exclusively */
    struct kv_env *next_abandoned;
};

struct kv_db {
    struct kv_env *env;
    struct kv_db_impl *impl;
    char *name;
    struct kv_db *next_abandoned;
};

struct kv_txn {
    struct kv_env *env;
    struct kv_txn_impl *impl;
};

/* While retrying, look for dead lock holders every this many tries. */
#define KV_FAILCHK_EVERY 4
/* See FAIRNESS above.  The name cannot clash with a database's. */
#define KV_GATE_FILE "__kv.gate"
#define KV_GATE_AFTER 3
#define KV_GATE_WAIT_MS 500

static char kv_error_buf[1024];
/* Bumped by every kv_error_set(), to see whether a callback set one. */
static unsigned long kv_error_gen;

/* Handles closed in a process forked after they were opened: the backend
 * state belongs to the parent and must not be touched, so it is kept
 * (reachable, for leak checkers) instead of closed. */
static struct kv_env *kv_abandoned_envs;
static struct kv_db *kv_abandoned_dbs;

const char *kv_error_set(const char *fmt, ...)
{
    char tmp[sizeof(kv_error_buf)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(kv_error_buf, tmp, sizeof(kv_error_buf));
    kv_error_gen++;
    return kv_error_buf;
}

static void kv_env_assert(const struct kv_env *env)
{
    if (env == NULL)
        log_panic("kv: NULL environment");
    if (env->pid != getpid())
        log_panic("kv: environment %s used in a process forked after "
                  "it was opened", env->dir);
}

/* -1 with the message when the environment needs recovery (this process
 * found out, or another one marked it): no call may enter the backend then,
 * since a dead process may hold a mutex the backend would wait on. */
static int kv_env_usable(struct kv_env *env, const char **error_r)
{
    if (!env->backend->env_needs_recovery(env->impl))
        return 0;
    *error_r = kv_error_set("kv: environment %s needs recovery", env->dir);
    return -1;
}

static void kv_db_check(const struct kv_db *db)
{
    if (db == NULL)
        log_panic("kv: NULL database");
    kv_env_assert(db->env);
}

static void kv_txn_check(const struct kv_db *db, const struct kv_txn *txn)
{
    if (txn != NULL && txn->env != db->env)
        log_panic("kv: %s: transaction from another environment", db->name);
}

static int kv_key_check(const struct kv_db *db, const void *key,
                        size_t keylen, const char **error_r)
{
    if (key == NULL || keylen == 0 || keylen > KV_KEY_MAX) {
        *error_r = kv_error_set("%s: key length %zu not in 1..%u",
                                db->name, key == NULL ? 0 : keylen,
                                (unsigned)KV_KEY_MAX);
        return -1;
    }
    return 0;
}

/* xorshift64*, seeded again in each process so that forked children do
 * not all back off in lockstep. */
static uint64_t kv_random(void)
{
    static pid_t seeded_pid;
    static uint64_t state;
    pid_t pid = getpid();

    if (seeded_pid != pid) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = ((uint64_t)pid * 0x9E3779B97F4A7C15ULL) ^
                ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec;
        if (state == 0)
            state = 1;
        seeded_pid = pid;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

/* Sleep before try number attempt (1, 2, ...): a random 0.1 ms up to
 * 2^attempt ms, at most 50 ms (attempt 0: up to 1 ms). */
static void kv_backoff(unsigned attempt)
{
    uint64_t max_us = attempt < 6 ? 1000u << attempt : 50000u;
    uint64_t us = 100 + kv_random() % max_us;
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t kv_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Before beginning a transaction: while another process holds the gate,
 * pause (not when this process holds a transaction or the gate itself). */
static void kv_gate_yield(struct kv_env *env)
{
    uint64_t start = 0;

    if (env->open_txns > 0 || env->gate_held)
        return;
    for (;;) {
        if (flock(env->gate_fd, LOCK_SH | LOCK_NB) == 0) {
            flock(env->gate_fd, LOCK_UN);
            return;
        }
        if (errno != EWOULDBLOCK && errno != EINTR)
            return;
        if (start == 0)
            start = kv_now_ms();
        else if (kv_now_ms() - start >= KV_GATE_WAIT_MS)
            return;
        struct timespec ts = { 0, 200 * 1000 };
        nanosleep(&ts, NULL);
    }
}

struct kv_retry {
    uint64_t start_ms;
    unsigned attempt;
    bool gate;           /* this operation took the gate */
};

static void kv_retry_init(struct kv_retry *r)
{
    r->start_ms = kv_now_ms();
    r->attempt = 0;
    r->gate = false;
}

/* After a KV_DEADLOCK: false when the time or tries are used up or the
 * environment is broken (with *error_r set), else pause and return true.
 * Every few tries, clean up after dead processes: one of them may hold the
 * lock.  After KV_GATE_AFTER tries, try to take the gate. */
static bool kv_retry_again(struct kv_env *env, struct kv_retry *r,
                           const char **error_r)
{
    const char *last = *error_r != NULL ? *error_r : "lock busy";

    if (kv_env_usable(env, error_r) < 0)
        return false;
    r->attempt++;
    if (r->attempt >= KV_RETRY_TRIES ||
        kv_now_ms() - r->start_ms >= env->retry_ms) {
        *error_r = kv_error_set("%s (gave up after %u tries)", last,
                                r->attempt);
        return false;
    }
    if (r->attempt % KV_FAILCHK_EVERY == 0 &&
        env->backend->env_failchk(env->impl, error_r) < 0)
        return false;
    if (r->attempt >= KV_GATE_AFTER && !env->gate_held &&
        env->open_txns == 0 && flock(env->gate_fd, LOCK_EX | LOCK_NB) == 0) {
        env->gate_held = true;
        r->gate = true;
    }
    kv_backoff(r->gate ? 0 : r->attempt);
    return true;
}

/* The operation is over: let go of the gate if it took it. */
static void kv_retry_done(struct kv_env *env, struct kv_retry *r)
{
    if (r->gate) {
        flock(env->gate_fd, LOCK_UN);
        env->gate_held = false;
        r->gate = false;
    }
}

static char *kv_path(const char *dir, const char *file)
{
    struct buf b = BUF_INIT;

    buf_printf(&b, "%s/%s", dir, file);
    return buf_release(&b);
}

int kv_env_open(const char *dir, unsigned flags, struct kv_env **env_r,
                const char **error_r)
{
    const struct kv_backend *backend = &kv_backend_bdb;
    struct kv_env_impl *impl;

    *env_r = NULL;
    if (dir == NULL || dir[0] == '\0') {
        *error_r = kv_error_set("kv: empty environment directory");
        return -1;
    }
    if ((flags & ~(unsigned)(KV_ENV_CREATE | KV_ENV_RECOVER)) != 0)
        log_panic("kv_env_open: unknown flags 0x%x", flags);
    if (backend->env_open(dir, flags, &impl, error_r) < 0)
        return -1;
    /* After the backend: it creates the directory. */
    char *gate_path = kv_path(dir, KV_GATE_FILE);
    int gate_fd = open(gate_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                       0600);
    if (gate_fd < 0) {
        *error_r = kv_error_set("kv: open %s: %s", gate_path,
                                strerror(errno));
        backend->env_close(impl);
        free(gate_path);
        return -1;
    }
    free(gate_path);

    struct kv_env *env = xcalloc(1, sizeof(*env));
    env->gate_fd = gate_fd;
    env->backend = backend;
    env->impl = impl;
    env->dir = xstrdup(dir);
    env->pid = getpid();
    env->retry_ms = KV_RETRY_MS;
    *env_r = env;
    return 0;
}

void kv_env_close(struct kv_env **envp)
{
    struct kv_env *env = *envp;

    if (env == NULL)
        return;
    *envp = NULL;
    if (env->pid != getpid()) {
        /* Drops this process's reference only, never the parent's lock. */
        close(env->gate_fd);
        env->gate_fd = -1;
        env->next_abandoned = kv_abandoned_envs;
        kv_abandoned_envs = env;
        return;
    }
    if (env->open_dbs != 0 || env->open_txns != 0)
        log_panic("kv: closing environment %s with %u databases and %u "
                  "transactions open", env->dir, env->open_dbs,
                  env->open_txns);
    env->backend->env_close(env->impl);
    close(env->gate_fd);
    free(env->dir);
    free(env);
}

int kv_env_checkpoint(struct kv_env *env, const char **error_r)
{
    kv_env_assert(env);
    if (kv_env_usable(env, error_r) < 0)
        return -1;
    return env->backend->env_checkpoint(env->impl, error_r);
}

int kv_env_failchk(struct kv_env *env, const char **error_r)
{
    kv_env_assert(env);
    if (kv_env_usable(env, error_r) < 0)
        return -1;
    return env->backend->env_failchk(env->impl, error_r);
}

int kv_env_check(const char *dir, unsigned timeout_ms, const char **error_r)
{
    int fds[2];
    char result = 'x';

    if (pipe2(fds, O_CLOEXEC) < 0) {
        *error_r = kv_error_set("kv: check %s: pipe: %s", dir,
                                strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *error_r = kv_error_set("kv: check %s: fork: %s", dir,
                                strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        struct kv_env *env;
        const char *error;
        char c = '0';

        close(fds[0]);
        if (kv_env_open(dir, 0, &env, &error) < 0 ||
            kv_env_failchk(env, &error) < 0) {
            c = '1';
            log_error("kv: check %s: %s", dir, error);
        } else {
            kv_env_close(&env);
        }
        if (write(fds[1], &c, 1) != 1)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);

    /* The answer, or EOF (died), or nothing before the deadline (hung). */
    if (timeout_ms > KV_RETRY_MS_MAX)
        timeout_ms = KV_RETRY_MS_MAX;
    uint64_t deadline = kv_now_ms() + timeout_ms;
    for (;;) {
        uint64_t now = kv_now_ms();
        struct pollfd pfd = { fds[0], POLLIN, 0 };
        int n = poll(&pfd, 1, now >= deadline ? 0 : (int)(deadline - now));
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0 && read(fds[0], &result, 1) != 1)
            result = 'x';
        break;
    }
    close(fds[0]);
    if (result == 'x')
        kill(pid, SIGKILL);
    /* Reap it, unless a SIGCHLD handler already did. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    switch (result) {
    case '0':
        return 0;
    case '1':
        *error_r = kv_error_set("kv: %s needs recovery", dir);
        return -1;
    default:
        *error_r = kv_error_set("kv: %s: check hung or died; the "
                                "environment needs recovery", dir);
        return -1;
    }
}

bool kv_env_needs_recovery(struct kv_env *env)
{
    kv_env_assert(env);
    return env->backend->env_needs_recovery(env->impl);
}

void kv_env_set_needs_recovery(struct kv_env *env)
{
    kv_env_assert(env);
    log_error("kv: %s: marked as needing recovery", env->dir);
    env->backend->env_set_needs_recovery(env->impl);
}

void kv_env_set_retry_time(struct kv_env *env, unsigned msecs)
{
    kv_env_assert(env);
    env->retry_ms = msecs < KV_RETRY_MS_MAX ? msecs : KV_RETRY_MS_MAX;
}

const char *kv_env_dir(const struct kv_env *env)
{
    return env->dir;
}

static bool kv_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > KV_NAME_MAX || name[0] == '.' ||
        strncmp(name, "__", 2) == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int kv_db_open(struct kv_env *env, const char *name, struct kv_db **db_r,
               const char **error_r)
{
    struct kv_db_impl *impl = NULL;
    struct kv_retry retry;
    int ret;

    kv_env_assert(env);
    *db_r = NULL;
    if (name == NULL || !kv_name_valid(name)) {
        *error_r = kv_error_set("kv: invalid database name \"%.*s\"",
                                KV_NAME_MAX, name == NULL ? "" : name);
        return -1;
    }
    if (kv_env_usable(env, error_r) < 0)
        return -1;
    /* Two processes creating the same file at once conflict. */
    kv_retry_init(&retry);
    *error_r = NULL;
    do {
        kv_gate_yield(env);
        ret = env->backend->db_open(env->impl, name, &impl, error_r);
    } while (ret == KV_DEADLOCK && kv_retry_again(env, &retry, error_r));
    kv_retry_done(env, &retry);
    if (ret < 0)
        return -1;

    struct kv_db *db = xcalloc(1, sizeof(*db));
    db->env = env;
    db->impl = impl;
    db->name = xstrdup(name);
    env->open_dbs++;
    *db_r = db;
    return 0;
}

void kv_db_close(struct kv_db **dbp)
{
    struct kv_db *db = *dbp;

    if (db == NULL)
        return;
    *dbp = NULL;
    if (db->env->pid != getpid()) {
        db->next_abandoned = kv_abandoned_dbs;
        kv_abandoned_dbs = db;
        return;
    }
    db->env->backend->db_close(db->impl);
    db->env->open_dbs--;
    free(db->name);
    free(db);
}

const char *kv_db_name(const struct kv_db *db)
{
    return db->name;
}

int kv_txn_begin(struct kv_env *env, struct kv_txn **txn_r,
                 const char **error_r)
{
    struct kv_txn_impl *impl;

    kv_env_assert(env);
    *txn_r = NULL;
    if (kv_env_usable(env, error_r) < 0)
        return -1;
    kv_gate_yield(env);
    if (env->backend->txn_begin(env->impl, &impl, error_r) < 0)
        return -1;
    struct kv_txn *txn = xcalloc(1, sizeof(*txn));
    txn->env = env;
    txn->impl = impl;
    env->open_txns++;
    *txn_r = txn;
    return 0;
}

int kv_txn_commit(struct kv_txn *txn, const char **error_r)
{
    if (txn == NULL)
        log_panic("kv_txn_commit: NULL transaction");
    struct kv_env *env = txn->env;
    kv_env_assert(env);
    int ret = env->backend->txn_commit(txn->impl, error_r);
    env->open_txns--;
    free(txn);
    return ret;
}

void kv_txn_abort(struct kv_txn *txn)
{
    if (txn == NULL)
        return;
    struct kv_env *env = txn->env;
    kv_env_assert(env);
    env->backend->txn_abort(txn->impl);
    env->open_txns--;
    free(txn);
}

static int kv_get_common(struct kv_db *db, struct kv_txn *txn,
                         const void *key, size_t keylen, bool for_update,
                         struct buf *value_r, const char **error_r)
{
    struct kv_retry retry;
    int ret;

    kv_db_check(db);
    kv_txn_check(db, txn);
    buf_reset(value_r);
    if (kv_key_check(db, key, keylen, error_r) < 0 ||
        kv_env_usable(db->env, error_r) < 0)
        return -1;
    if (txn != NULL)
        return db->env->backend->get(db->impl, txn->impl, key, keylen,
                                     for_update, value_r, error_r);
    kv_retry_init(&retry);
    do {
        kv_gate_yield(db->env);
        ret = db->env->backend->get(db->impl, NULL, key, keylen, false,
                                    value_r, error_r);
    } while (ret == KV_DEADLOCK && kv_retry_again(db->env, &retry, error_r));
    kv_retry_done(db->env, &retry);
    return ret == KV_DEADLOCK ? -1 : ret;
}

int kv_get(struct kv_db *db, struct kv_txn *txn, const void *key,
           size_t keylen, struct buf *value_r, const char **error_r)
{
    return kv_get_common(db, txn, key, keylen, false, value_r, error_r);
}

int kv_get_for_update(struct kv_db *db, struct kv_txn *txn, const void *key,
                      size_t keylen, struct buf *value_r,
                      const char **error_r)
{
    return kv_get_common(db, txn, key, keylen, true, value_r, error_r);
}

int kv_put(struct kv_db *db, struct kv_txn *txn, const void *key,
           size_t keylen, const void *value, size_t valuelen,
           const char **error_r)
{
    struct kv_retry retry;
    int ret;

    kv_db_check(db);
    kv_txn_check(db, txn);
    if (kv_key_check(db, key, keylen, error_r) < 0)
        return -1;
    if (valuelen > KV_VALUE_MAX || (value == NULL && valuelen != 0)) {
        *error_r = kv_error_set("%s: value length %zu over %u", db->name,
                                valuelen, (unsigned)KV_VALUE_MAX);
        return -1;
    }
    if (value == NULL)
        value = "";
    if (kv_env_usable(db->env, error_r) < 0)
        return -1;
    if (txn != NULL)
        return db->env->backend->put(db->impl, txn->impl, key, keylen,
                                     value, valuelen, error_r);
    kv_retry_init(&retry);
    do {
        kv_gate_yield(db->env);
        ret = db->env->backend->put(db->impl, NULL, key, keylen, value,
                                    valuelen, error_r);
    } while (ret == KV_DEADLOCK && kv_retry_again(db->env, &retry, error_r));
    kv_retry_done(db->env, &retry);
    return ret == KV_DEADLOCK ? -1 : ret;
}

int kv_delete(struct kv_db *db, struct kv_txn *txn, const void *key,
              size_t keylen, const char **error_r)
{
    struct kv_retry retry;
    int ret;

    kv_db_check(db);
    kv_txn_check(db, txn);
    if (kv_key_check(db, key, keylen, error_r) < 0 ||
        kv_env_usable(db->env, error_r) < 0)
        return -1;
    if (txn != NULL)
        return db->env->backend->del(db->impl, txn->impl, key, keylen,
                                     error_r);
    kv_retry_init(&retry);
    do {
        kv_gate_yield(db->env);
        ret = db->env->backend->del(db->impl, NULL, key, keylen, error_r);
    } while (ret == KV_DEADLOCK && kv_retry_again(db->env, &retry, error_r));
    kv_retry_done(db->env, &retry);
    return ret == KV_DEADLOCK ? -1 : ret;
}

struct kv_foreach_ctx {
    kv_foreach_fn *cb;
    void *ctx;
    const char *dbname;
    bool failed;        /* the callback returned -1 */
    bool message_set;   /* ... after calling kv_error_set() */
    bool deadlocked;    /* the callback returned KV_DEADLOCK */
};

static int kv_foreach_trampoline(const void *key, size_t keylen,
                                 const void *val, size_t vallen, void *ctx)
{
    struct kv_foreach_ctx *fc = ctx;
    unsigned long gen = kv_error_gen;
    int ret = fc->cb(key, keylen, val, vallen, fc->ctx);

    switch (ret) {
    case 0:
    case 1:
        return ret;
    case KV_DEADLOCK:
        fc->deadlocked = true;
        return ret;
    case -1:
        fc->failed = true;
        fc->message_set = kv_error_gen != gen;
        return -1;
    default:
        log_panic("kv: %s: iteration callback returned %d", fc->dbname, ret);
    }
}

int kv_foreach_prefix(struct kv_db *db, struct kv_txn *txn,
                      const void *prefix, size_t prefixlen,
                      kv_foreach_fn *cb, void *ctx, const char **error_r)
{
    struct kv_foreach_ctx fc = { cb, ctx, NULL, false, false, false };

    kv_db_check(db);
    kv_txn_check(db, txn);
    fc.dbname = db->name;
    if (prefixlen > KV_KEY_MAX || (prefix == NULL && prefixlen != 0)) {
        *error_r = kv_error_set("%s: prefix length %zu over %u", db->name,
                                prefixlen, (unsigned)KV_KEY_MAX);
        return -1;
    }
    if (prefix == NULL)
        prefix = "";
    if (kv_env_usable(db->env, error_r) < 0)
        return -1;
    int ret = db->env->backend->foreach_prefix(
        db->impl, txn == NULL ? NULL : txn->impl, prefix, prefixlen,
        kv_foreach_trampoline, &fc, error_r);
    if (ret < 0 && fc.failed) {
        *error_r = fc.message_set ? kv_error_buf :
                   kv_error_set("%s: iteration callback failed", db->name);
        return -1;
    }
    if (ret < 0 && fc.deadlocked) {
        *error_r = kv_error_set("%s: deadlock in iteration callback",
                                db->name);
        return KV_DEADLOCK;
    }
    return ret;
}

int kv_transaction(struct kv_env *env, kv_txn_fn *fn, void *ctx,
                   const char **error_r)
{
    struct kv_retry retry;
    int ret;

    kv_env_assert(env);
    kv_retry_init(&retry);
    for (;;) {
        struct kv_txn *txn;
        const char *fn_error = NULL;

        if (kv_txn_begin(env, &txn, error_r) < 0) {
            ret = -1;
            break;
        }
        ret = fn(txn, ctx, &fn_error);
        if (ret == 0) {
            ret = kv_txn_commit(txn, error_r);
            if (ret != KV_DEADLOCK)
                break;
        } else {
            if (ret != -1 && ret != KV_DEADLOCK)
                log_panic("kv_transaction: body returned %d", ret);
            kv_txn_abort(txn);
            if (ret == -1) {
                *error_r = fn_error != NULL ? fn_error :
                           kv_error_set("kv: transaction failed (no reason "
                                        "given)");
                break;
            }
            *error_r = fn_error;
        }
        if (!kv_retry_again(env, &retry, error_r)) {
            ret = -1;
            break;
        }
    }
    kv_retry_done(env, &retry);
    return ret < 0 ? -1 : 0;
}
