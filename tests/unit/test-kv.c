/* test-kv.c - unit tests of the key-value store (lib/kv.c, lib/kv_bdb.c).
 *
 * Each test makes its own environment under a fresh /tmp directory and
 * removes it.  Besides single-process behaviour (get/put/delete, binary
 * data and limits, prefix iteration, transactions) it forks processes to
 * check that concurrent transactions lose no update, that two processes
 * hammering the same record both get through, that a writer killed with
 * kill -9 loses no committed record once the environment is recovered,
 * that workers killed at random moments leave every transaction all or
 * nothing (after kv_env_check() and, when it asks, recovery), that a
 * process killed while holding locks delays the others only briefly, and
 * that on an environment that needs recovery every call fails at once and
 * nothing blocks (closing used to hang on the dead process's mutex).
 * Children never use cmocka: they report through their exit status or a
 * pipe and leave with _exit(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "kv.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    struct kv_env *env;
    struct kv_db *db;
};

static void rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *error = NULL;

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test-kv.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (kv_env_open(f->dir, KV_ENV_CREATE | KV_ENV_RECOVER, &f->env,
                    &error) < 0)
        fail_msg("kv_env_open: %s", error);
    if (kv_db_open(f->env, "test.db", &f->db, &error) < 0)
        fail_msg("kv_db_open: %s", error);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    kv_db_close(&f->db);
    kv_env_close(&f->env);
    rmtree(f->dir);
    free(f);
    return 0;
}

/* Reopen the environment and database (after closing them). */
static void reopen(struct fixture *f, unsigned flags)
{
    const char *error = NULL;

    kv_db_close(&f->db);
    kv_env_close(&f->env);
    if (kv_env_open(f->dir, flags, &f->env, &error) < 0)
        fail_msg("kv_env_open: %s", error);
    if (kv_db_open(f->env, "test.db", &f->db, &error) < 0)
        fail_msg("kv_db_open: %s", error);
}

static void put_str(struct kv_db *db, struct kv_txn *txn, const char *key,
                    const char *value)
{
    const char *error = NULL;

    if (kv_put(db, txn, key, strlen(key), value, strlen(value), &error) != 0)
        fail_msg("kv_put %s: %s", key, error);
}

/* Expect key to hold value (NULL: to be missing). */
static void check_str(struct kv_db *db, struct kv_txn *txn, const char *key,
                      const char *value)
{
    struct buf b = BUF_INIT;
    const char *error = NULL;
    int ret = kv_get(db, txn, key, strlen(key), &b, &error);

    if (ret < 0)
        fail_msg("kv_get %s: %s", key, error);
    if (value == NULL) {
        assert_int_equal(ret, 0);
        assert_int_equal(b.len, 0);
    } else {
        assert_int_equal(ret, 1);
        assert_int_equal(b.len, strlen(value));
        assert_memory_equal(b.data, value, b.len);
        assert_int_equal(b.data[b.len], '\0');
    }
    buf_free(&b);
}

static void test_put_get_delete(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;

    check_str(f->db, NULL, "missing", NULL);
    put_str(f->db, NULL, "alpha", "one");
    put_str(f->db, NULL, "beta", "two");
    check_str(f->db, NULL, "alpha", "one");
    check_str(f->db, NULL, "beta", "two");

    put_str(f->db, NULL, "alpha", "uno, overwritten with a longer value");
    check_str(f->db, NULL, "alpha", "uno, overwritten with a longer value");
    put_str(f->db, NULL, "alpha", "");
    check_str(f->db, NULL, "alpha", "");

    assert_int_equal(kv_delete(f->db, NULL, "alpha", 5, &error), 1);
    assert_int_equal(kv_delete(f->db, NULL, "alpha", 5, &error), 0);
    check_str(f->db, NULL, "alpha", NULL);
    check_str(f->db, NULL, "beta", "two");

    /* Survives closing and reopening, with or without recovery. */
    reopen(f, 0);
    check_str(f->db, NULL, "beta", "two");
    reopen(f, KV_ENV_RECOVER);
    check_str(f->db, NULL, "beta", "two");
    assert_int_equal(kv_env_checkpoint(f->env, &error), 0);
    assert_int_equal(kv_env_failchk(f->env, &error), 0);
    assert_false(kv_env_needs_recovery(f->env));
    assert_string_equal(kv_db_name(f->db), "test.db");
    assert_string_equal(kv_env_dir(f->env), f->dir);
}

static void test_binary_and_limits(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    struct buf b = BUF_INIT;
    static const unsigned char key1[] = { 0x00, 0xff, 0x00, 'k', 0x80 };
    static const unsigned char val1[] = { 0x00, 0x00, 0x01, 0xfe, 0x00 };

    assert_int_equal(kv_put(f->db, NULL, key1, sizeof(key1), val1,
                            sizeof(val1), &error), 0);
    assert_int_equal(kv_get(f->db, NULL, key1, sizeof(key1), &b, &error), 1);
    assert_int_equal(b.len, sizeof(val1));
    assert_memory_equal(b.data, val1, sizeof(val1));
    /* A key that is a prefix of it is another key. */
    assert_int_equal(kv_get(f->db, NULL, key1, 3, &b, &error), 0);

    /* A big value: bigger than the buffer kv_get starts with. */
    size_t biglen = 300 * 1000;
    unsigned char *big = malloc(biglen);
    assert_non_null(big);
    for (size_t i = 0; i < biglen; i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
    assert_int_equal(kv_put(f->db, NULL, "big", 3, big, biglen, &error), 0);
    buf_reset(&b);
    buf_append(&b, "old contents", 12);
    assert_int_equal(kv_get(f->db, NULL, "big", 3, &b, &error), 1);
    assert_int_equal(b.len, biglen);
    assert_memory_equal(b.data, big, biglen);
    /* Reading a small value into the big buffer replaces it. */
    assert_int_equal(kv_get(f->db, NULL, key1, sizeof(key1), &b, &error), 1);
    assert_int_equal(b.len, sizeof(val1));
    free(big);

    /* Keys of the largest size work, bigger and empty ones do not. */
    char *key = malloc(KV_KEY_MAX + 1);
    assert_non_null(key);
    memset(key, 'x', KV_KEY_MAX + 1);
    assert_int_equal(kv_put(f->db, NULL, key, KV_KEY_MAX, "v", 1, &error), 0);
    assert_int_equal(kv_get(f->db, NULL, key, KV_KEY_MAX, &b, &error), 1);
    error = NULL;
    assert_int_equal(kv_put(f->db, NULL, key, KV_KEY_MAX + 1, "v", 1,
                            &error), -1);
    assert_non_null(strstr(error, "test.db"));
    assert_int_equal(kv_get(f->db, NULL, key, KV_KEY_MAX + 1, &b, &error),
                     -1);
    assert_int_equal(kv_delete(f->db, NULL, key, 0, &error), -1);
    assert_int_equal(kv_get(f->db, NULL, key, 0, &b, &error), -1);
    free(key);
    assert_int_equal(kv_put(f->db, NULL, "k", 1, "v", (size_t)KV_VALUE_MAX + 1,
                            &error), -1);

    /* Database names stay inside the environment directory. */
    struct kv_db *db2 = NULL;
    assert_int_equal(kv_db_open(f->env, "../evil.db", &db2, &error), -1);
    assert_int_equal(kv_db_open(f->env, "", &db2, &error), -1);
    assert_int_equal(kv_db_open(f->env, ".hidden", &db2, &error), -1);
    assert_int_equal(kv_db_open(f->env, "__db.001", &db2, &error), -1);
    assert_int_equal(kv_db_open(f->env, "a/b", &db2, &error), -1);
    assert_null(db2);
    /* Two databases are separate key spaces. */
    assert_int_equal(kv_db_open(f->env, "other.db", &db2, &error), 0);
    check_str(db2, NULL, "big", NULL);
    put_str(db2, NULL, "big", "small");
    check_str(db2, NULL, "big", "small");
    kv_db_close(&db2);
    assert_null(db2);

    buf_free(&b);
}

struct collect {
    char keys[16][16];
    size_t lens[16];
    char vals[16][16];
    unsigned count;
    unsigned stop_after;   /* 0 = never */
    bool fail;
};

static int collect_cb(const void *key, size_t keylen, const void *val,
                      size_t vallen, void *ctx)
{
    struct collect *c = ctx;

    if (c->fail)
        return -1;
    if (c->count >= 16 || keylen >= 16 || vallen >= 16)
        return -1;
    memcpy(c->keys[c->count], key, keylen);
    c->lens[c->count] = keylen;
    memcpy(c->vals[c->count], val, vallen);
    c->vals[c->count][vallen] = '\0';
    c->count++;
    return c->stop_after != 0 && c->count >= c->stop_after ? 1 : 0;
}

static void test_prefix_iteration(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    struct collect c;
    /* Inserted out of order; byte order is what counts. */
    static const char *const keys[] = {
        "b", "abd", "a", "ac", "abc", "ab", "ab\xff", "\xff\xff", "ab\x01",
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        put_str(f->db, NULL, keys[i], keys[i]);
    /* "ab\0" with an embedded NUL. */
    assert_int_equal(kv_put(f->db, NULL, "ab\0z", 4, "nul", 3, &error), 0);

    memset(&c, 0, sizeof(c));
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "ab", 2, collect_cb, &c,
                                       &error), 0);
    static const char *const want_ab[] = {
        "ab", "ab\0z", "ab\x01", "abc", "abd", "ab\xff",
    };
    static const size_t want_ab_len[] = { 2, 4, 3, 3, 3, 3 };
    assert_int_equal(c.count, 6);
    for (unsigned i = 0; i < 6; i++) {
        assert_int_equal(c.lens[i], want_ab_len[i]);
        assert_memory_equal(c.keys[i], want_ab[i], want_ab_len[i]);
    }
    assert_string_equal(c.vals[1], "nul");
    assert_string_equal(c.vals[3], "abc");

    /* Everything, in byte order. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(kv_foreach_prefix(f->db, NULL, NULL, 0, collect_cb, &c,
                                       &error), 0);
    assert_int_equal(c.count, 10);
    assert_memory_equal(c.keys[0], "a", 1);
    assert_memory_equal(c.keys[7], "ac", 2);
    assert_memory_equal(c.keys[8], "b", 1);
    assert_memory_equal(c.keys[9], "\xff\xff", 2);

    /* Early stop. */
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "ab", 2, collect_cb, &c,
                                       &error), 0);
    assert_int_equal(c.count, 2);

    /* A prefix after every key, one between keys, one matching one key. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "\xff\xff\xff", 3,
                                       collect_cb, &c, &error), 0);
    assert_int_equal(c.count, 0);
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "aa", 2, collect_cb, &c,
                                       &error), 0);
    assert_int_equal(c.count, 0);
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "\xff", 1, collect_cb,
                                       &c, &error), 0);
    assert_int_equal(c.count, 1);

    /* A failing callback fails the iteration with a message. */
    memset(&c, 0, sizeof(c));
    c.fail = true;
    error = NULL;
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "a", 1, collect_cb, &c,
                                       &error), -1);
    assert_non_null(error);
    assert_non_null(strstr(error, "test.db"));

    /* The same inside a transaction, which also sees its own writes. */
    struct kv_txn *txn;
    assert_int_equal(kv_txn_begin(f->env, &txn, &error), 0);
    put_str(f->db, txn, "abb", "new");
    assert_int_equal(kv_delete(f->db, txn, "abc", 3, &error), 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(kv_foreach_prefix(f->db, txn, "ab", 2, collect_cb, &c,
                                       &error), 0);
    assert_int_equal(c.count, 6);
    assert_memory_equal(c.keys[3], "abb", 3);
    assert_memory_equal(c.keys[4], "abd", 3);
    kv_txn_abort(txn);
    check_str(f->db, NULL, "abb", NULL);
    check_str(f->db, NULL, "abc", "abc");
}

static void test_transactions(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    struct kv_txn *txn;

    put_str(f->db, NULL, "stay", "before");

    /* Aborted: nothing of it is left. */
    assert_int_equal(kv_txn_begin(f->env, &txn, &error), 0);
    put_str(f->db, txn, "gone", "x");
    put_str(f->db, txn, "stay", "changed");
    assert_int_equal(kv_delete(f->db, txn, "stay", 4, &error), 1);
    check_str(f->db, txn, "gone", "x");
    check_str(f->db, txn, "stay", NULL);
    kv_txn_abort(txn);
    check_str(f->db, NULL, "gone", NULL);
    check_str(f->db, NULL, "stay", "before");

    /* Committed: all of it is there, also after reopening. */
    assert_int_equal(kv_txn_begin(f->env, &txn, &error), 0);
    put_str(f->db, txn, "new1", "1");
    put_str(f->db, txn, "new2", "2");
    put_str(f->db, txn, "stay", "after");
    assert_int_equal(kv_txn_commit(txn, &error), 0);
    reopen(f, 0);
    check_str(f->db, NULL, "new1", "1");
    check_str(f->db, NULL, "new2", "2");
    check_str(f->db, NULL, "stay", "after");
}

struct body_ctx {
    struct kv_db *db;
    int fail;
    unsigned runs;
};

static int body_write_then_maybe_fail(struct kv_txn *txn, void *ctx,
                                      const char **error_r)
{
    struct body_ctx *b = ctx;
    int ret;

    b->runs++;
    ret = kv_put(b->db, txn, "body", 4, "ran", 3, error_r);
    if (ret < 0)
        return ret;
    if (b->fail) {
        *error_r = "body refused";
        return -1;
    }
    return 0;
}

static void test_kv_transaction(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    struct body_ctx b = { f->db, 1, 0 };

    assert_int_equal(kv_transaction(f->env, body_write_then_maybe_fail, &b,
                                    &error), -1);
    assert_string_equal(error, "body refused");
    assert_int_equal(b.runs, 1);
    check_str(f->db, NULL, "body", NULL);

    b.fail = 0;
    assert_int_equal(kv_transaction(f->env, body_write_then_maybe_fail, &b,
                                    &error), 0);
    assert_int_equal(b.runs, 2);
    check_str(f->db, NULL, "body", "ran");
}

/* ---- several processes ---------------------------------------------- */

static void wait_exit0(pid_t pid)
{
    int status;

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}


#define WORKERS 4
#define WORKER_ROUNDS 100

struct worker_ctx {
    struct kv_db *db;
    unsigned id, round;
};

/* Add 1 to the decimal counter under key (for_update: lock it at once). */
static int bump(struct kv_db *db, struct kv_txn *txn, const char *key,
                bool for_update, const char **error_r)
{
    struct buf b = BUF_INIT;
    unsigned long n = 0;
    char num[32];
    int ret = for_update ?
              kv_get_for_update(db, txn, key, strlen(key), &b, error_r) :
              kv_get(db, txn, key, strlen(key), &b, error_r);

    if (ret == 1)
        n = strtoul(buf_cstr(&b), NULL, 10);
    buf_free(&b);
    if (ret < 0)
        return ret;
    int len = snprintf(num, sizeof(num), "%lu", n + 1);
    return kv_put(db, txn, key, strlen(key), num, (size_t)len, error_r);
}

static int worker_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct worker_ctx *w = ctx;
    char key[32];
    int ret;

    /* A plain read first: two workers that both read, then want to write,
     * block each other, which kv_transaction must absorb. */
    if ((ret = bump(w->db, txn, "counter-a", false, error_r)) < 0)
        return ret;
    snprintf(key, sizeof(key), "own-%u-%03u", w->id, w->round);
    if ((ret = kv_put(w->db, txn, key, strlen(key), key, strlen(key),
                      error_r)) < 0)
        return ret;
    return bump(w->db, txn, "counter-b", true, error_r);
}

/* Open the environment, then wait for go_fd to close so that all the
 * workers start at once. */
static _Noreturn void worker_main(const char *dir, unsigned id, int go_fd,
                                  unsigned rounds)
{
    struct kv_env *env;
    struct kv_db *db;
    const char *error;
    char c;

    if (kv_env_open(dir, 0, &env, &error) < 0 ||
        kv_db_open(env, "test.db", &db, &error) < 0) {
        fprintf(stderr, "worker %u: %s\n", id, error);
        _exit(2);
    }
    if (read(go_fd, &c, 1) != 0)
        _exit(5);
    for (unsigned i = 0; i < rounds; i++) {
        struct worker_ctx w = { db, id, i };
        if (kv_transaction(env, worker_body, &w, &error) < 0) {
            fprintf(stderr, "worker %u round %u: %s\n", id, i, error);
            _exit(3);
        }
    }
    kv_db_close(&db);
    kv_env_close(&env);
    _exit(0);
}

static int count_cb(const void *key, size_t keylen, const void *val,
                    size_t vallen, void *ctx)
{
    unsigned *n = ctx;

    if (keylen != vallen || memcmp(key, val, keylen) != 0)
        return -1;
    (*n)++;
    return 0;
}

static void test_concurrent_processes(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    pid_t pids[WORKERS];
    int go[2];

    /* Children open their own handles; ours must not cross the fork. */
    kv_db_close(&f->db);
    kv_env_close(&f->env);
    assert_int_equal(pipe(go), 0);
    for (unsigned i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            worker_main(f->dir, i, go[0], WORKER_ROUNDS);
        }
    }
    close(go[0]);
    usleep(100 * 1000);
    close(go[1]);
    for (unsigned i = 0; i < WORKERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    reopen(f, 0);

    char want[32];
    snprintf(want, sizeof(want), "%u", WORKERS * WORKER_ROUNDS);
    check_str(f->db, NULL, "counter-a", want);
    check_str(f->db, NULL, "counter-b", want);
    unsigned n = 0;
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "own-", 4, count_cb, &n,
                                       &error), 0);
    assert_int_equal(n, WORKERS * WORKER_ROUNDS);
}

/* Crash injection: workers killed at random moments, some of them likely
 * inside Berkeley DB.  Afterwards, as master would: kv_env_check(), and
 * recovery when it says so; either way every transaction is all or
 * nothing (the two counters and the number of own keys agree). */
static void test_kill_workers(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    pid_t pids[WORKERS];
    int go[2];
    struct timespec ts;

    kv_db_close(&f->db);
    kv_env_close(&f->env);
    assert_int_equal(pipe(go), 0);
    for (unsigned i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            worker_main(f->dir, 100 + i, go[0], 1000000);
        }
    }
    close(go[0]);
    usleep(100 * 1000);
    close(go[1]);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    srand((unsigned)ts.tv_nsec);
    /* One after the other (the living may trip over the dead), each
     * reaped at once, as master does. */
    for (unsigned i = 0; i < WORKERS; i++) {
        usleep(20 * 1000 + (useconds_t)(rand() % 40000));
        kill(pids[i], SIGKILL);
        assert_int_equal(waitpid(pids[i], NULL, 0), pids[i]);
    }

    bool recovered = false;
    if (kv_env_check(f->dir, 3000, &error) < 0) {
        assert_non_null(strstr(error, "recovery"));
        if (kv_env_open(f->dir, KV_ENV_RECOVER, &f->env, &error) < 0)
            fail_msg("recover: %s", error);
        recovered = true;
    } else if (kv_env_open(f->dir, 0, &f->env, &error) < 0) {
        fail_msg("kv_env_open after a good check: %s", error);
    }
    if (kv_db_open(f->env, "test.db", &f->db, &error) < 0)
        fail_msg("kv_db_open (recovered %d): %s", recovered, error);

    struct buf a = BUF_INIT, b = BUF_INIT;
    unsigned n = 0;
    assert_int_equal(kv_get(f->db, NULL, "counter-a", 9, &a, &error), 1);
    assert_int_equal(kv_get(f->db, NULL, "counter-b", 9, &b, &error), 1);
    assert_string_equal(buf_cstr(&a), buf_cstr(&b));
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "own-", 4, count_cb, &n,
                                       &error), 0);
    assert_int_equal(strtoul(buf_cstr(&a), NULL, 10), n);
    assert_true(n > 0);
    buf_free(&a);
    buf_free(&b);
    put_str(f->db, NULL, "after", "works");
    check_str(f->db, NULL, "after", "works");
}

/* Two processes updating the same record back to back for a while: both
 * get through (without the gate, the one that loses the first race keeps
 * losing).  Each reports its count through fd. */
static _Noreturn void hog_main(const char *dir, int go_fd, int report_fd)
{
    struct kv_env *env;
    struct kv_db *db;
    const char *error;
    char c;
    struct timespec t0;
    uint32_t rounds = 0;

    if (kv_env_open(dir, 0, &env, &error) < 0 ||
        kv_db_open(env, "test.db", &db, &error) < 0)
        _exit(2);
    kv_env_set_retry_time(env, 1000);
    if (read(go_fd, &c, 1) != 0)
        _exit(3);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed(&t0) < 0.4) {
        struct worker_ctx w = { db, 200, rounds };
        if (kv_transaction(env, worker_body, &w, &error) < 0)
            break;
        rounds++;
    }
    if (write(report_fd, &rounds, sizeof(rounds)) != sizeof(rounds))
        _exit(4);
    kv_db_close(&db);
    kv_env_close(&env);
    _exit(0);
}

static void test_no_starvation(void **state)
{
    struct fixture *f = *state;
    int go[2], report[2];
    pid_t pids[2];

    kv_db_close(&f->db);
    kv_env_close(&f->env);
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(report), 0);
    for (unsigned i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            close(report[0]);
            hog_main(f->dir, go[0], report[1]);
        }
    }
    close(go[0]);
    close(report[1]);
    usleep(100 * 1000);
    close(go[1]);
    uint32_t rounds[2] = { 0, 0 };
    for (unsigned i = 0; i < 2; i++)
        assert_int_equal(read(report[0], &rounds[i], sizeof(rounds[i])),
                         sizeof(rounds[i]));
    close(report[0]);
    /* Roughly even (the loser used to get a handful out of thousands). */
    uint32_t lo = rounds[0] < rounds[1] ? rounds[0] : rounds[1];
    uint32_t hi = rounds[0] < rounds[1] ? rounds[1] : rounds[0];
    if (lo == 0 || lo * 5 < hi)
        fail_msg("unfair: %u and %u transactions", rounds[0], rounds[1]);
    for (unsigned i = 0; i < 2; i++)
        wait_exit0(pids[i]);
    reopen(f, 0);
}

/* A handle inherited over fork is only freed by the child's close. */
static void test_close_after_fork(void **state)
{
    struct fixture *f = *state;
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        kv_db_close(&f->db);
        kv_env_close(&f->env);
        _exit(f->env == NULL && f->db == NULL ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    put_str(f->db, NULL, "parent", "still works");
    check_str(f->db, NULL, "parent", "still works");
}

/* ---- kill -9 -------------------------------------------------------- */

struct writer_ctx {
    struct kv_db *db;
    unsigned n;
    char value[1500];
};

static int writer_body(struct kv_txn *txn, void *ctx, const char **error_r)
{
    struct writer_ctx *w = ctx;
    char key[32];
    int ret;

    /* Two records per transaction: after recovery both or neither. */
    snprintf(key, sizeof(key), "r%06u", w->n);
    ret = kv_put(w->db, txn, key, strlen(key), w->value, sizeof(w->value),
                 error_r);
    if (ret < 0)
        return ret;
    snprintf(key, sizeof(key), "s%06u", w->n);
    return kv_put(w->db, txn, key, strlen(key), w->value, sizeof(w->value),
                  error_r);
}

static _Noreturn void writer_main(const char *dir, int report_fd)
{
    struct kv_env *env;
    struct kv_db *db;
    const char *error;
    static struct writer_ctx w;

    if (kv_env_open(dir, 0, &env, &error) < 0 ||
        kv_db_open(env, "test.db", &db, &error) < 0) {
        fprintf(stderr, "writer: %s\n", error);
        _exit(2);
    }
    w.db = db;
    memset(w.value, 'v', sizeof(w.value));
    for (w.n = 0; w.n < 100000; w.n++) {
        if (kv_transaction(env, writer_body, &w, &error) < 0) {
            fprintf(stderr, "writer: %s\n", error);
            _exit(3);
        }
        uint32_t n = w.n;
        if (write(report_fd, &n, sizeof(n)) != sizeof(n))
            _exit(4);
    }
    _exit(5);
}

static void test_kill9_recovery(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    int fds[2];
    uint32_t n, reported = 0;
    bool any = false;

    kv_db_close(&f->db);
    kv_env_close(&f->env);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        writer_main(f->dir, fds[1]);
    }
    close(fds[1]);
    /* Let it commit a few dozen transactions, then kill it mid-loop. */
    while (reported < 40 && read(fds[0], &n, sizeof(n)) == sizeof(n)) {
        assert_int_equal(n, reported);
        reported = n + 1;
        any = true;
    }
    assert_true(any);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    /* Reports written before the kill are still in the pipe. */
    while (read(fds[0], &n, sizeof(n)) == sizeof(n)) {
        assert_int_equal(n, reported);
        reported = n + 1;
    }
    close(fds[0]);

    /* What master does at start. */
    if (kv_env_open(f->dir, KV_ENV_RECOVER, &f->env, &error) < 0)
        fail_msg("recover: %s", error);
    if (kv_db_open(f->env, "test.db", &f->db, &error) < 0)
        fail_msg("kv_db_open: %s", error);

    struct buf b = BUF_INIT;
    char key[32];
    for (uint32_t i = 0; i < reported + 2; i++) {
        snprintf(key, sizeof(key), "r%06u", i);
        int r = kv_get(f->db, NULL, key, strlen(key), &b, &error);
        assert_true(r >= 0);
        if (i < reported) {
            assert_int_equal(r, 1);
            assert_int_equal(b.len, 1500);
        }
        snprintf(key, sizeof(key), "s%06u", i);
        int s = kv_get(f->db, NULL, key, strlen(key), &b, &error);
        assert_int_equal(s, r);
    }
    buf_free(&b);
    /* And it works. */
    put_str(f->db, NULL, "after", "recovery");
    reopen(f, 0);
    check_str(f->db, NULL, "after", "recovery");
}

/* A child that opens the environment, puts "held" in a transaction it
 * keeps open, reports through fd and sleeps until killed. */
static pid_t fork_lock_holder(const char *dir)
{
    int fds[2];
    char c;

    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct kv_env *env;
        struct kv_db *db;
        struct kv_txn *txn;
        const char *error;
        close(fds[0]);
        if (kv_env_open(dir, 0, &env, &error) < 0 ||
            kv_db_open(env, "test.db", &db, &error) < 0 ||
            kv_txn_begin(env, &txn, &error) < 0 ||
            kv_put(db, txn, "held", 4, "child", 5, &error) < 0)
            _exit(2);
        if (write(fds[1], "x", 1) != 1)
            _exit(3);
        pause();
        _exit(4);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    return pid;
}

/* A live process holds a write lock: nobody waits for it, calls fail with
 * KV_DEADLOCK at once and the retrying ones give up after the retry time;
 * once the holder is killed, the next retry cleans up and goes through. */
static void test_busy_lock(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    struct kv_txn *txn;
    struct buf b = BUF_INIT;
    struct timespec t0;

    put_str(f->db, NULL, "held", "before");
    pid_t holder = fork_lock_holder(f->dir);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kv_txn_begin(f->env, &txn, &error), 0);
    assert_int_equal(kv_put(f->db, txn, "held", 4, "parent", 6, &error),
                     KV_DEADLOCK);
    assert_non_null(strstr(error, "test.db"));
    assert_int_equal(kv_get(f->db, txn, "held", 4, &b, &error), KV_DEADLOCK);
    kv_txn_abort(txn);
    assert_true(elapsed(&t0) < 0.5);

    kv_env_set_retry_time(f->env, 300);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct body_ctx body = { f->db, 0, 0 };
    error = NULL;
    assert_int_equal(kv_transaction(f->env, body_write_then_maybe_fail, &body,
                                    &error), -1);
    assert_non_null(strstr(error, "busy"));
    assert_true(body.runs >= 3);
    assert_int_equal(kv_get(f->db, NULL, "held", 4, &b, &error), -1);
    double t = elapsed(&t0);
    assert_true(t >= 0.5 && t < 2.0);

    kill(holder, SIGKILL);
    assert_int_equal(waitpid(holder, NULL, 0), holder);
    kv_env_set_retry_time(f->env, KV_RETRY_MS);
    assert_int_equal(kv_transaction(f->env, body_write_then_maybe_fail, &body,
                                    &error), 0);
    check_str(f->db, NULL, "held", "before");
    check_str(f->db, NULL, "body", "ran");
    buf_free(&b);
}

/* A process killed while holding a write lock in an open transaction is
 * cleaned up by whoever comes next: a retrying operation, master's
 * kv_env_failchk(), or the next open. */
static void test_dead_lock_holder(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    struct timespec t0;
    struct kv_txn *txn;

    put_str(f->db, NULL, "held", "before");
    pid_t holder = fork_lock_holder(f->dir);
    kill(holder, SIGKILL);
    assert_int_equal(waitpid(holder, NULL, 0), holder);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct body_ctx b = { f->db, 0, 0 };
    if (kv_transaction(f->env, body_write_then_maybe_fail, &b, &error) < 0)
        fail_msg("kv_transaction: %s", error);
    assert_true(elapsed(&t0) < 1.0);
    check_str(f->db, NULL, "held", "before");
    check_str(f->db, NULL, "body", "ran");

    /* Master reaps a dead child and calls failchk: the lock is free. */
    holder = fork_lock_holder(f->dir);
    kill(holder, SIGKILL);
    assert_int_equal(waitpid(holder, NULL, 0), holder);
    assert_int_equal(kv_env_check(f->dir, 5000, &error), 0);
    assert_int_equal(kv_env_failchk(f->env, &error), 0);
    assert_false(kv_env_needs_recovery(f->env));
    assert_int_equal(kv_txn_begin(f->env, &txn, &error), 0);
    assert_int_equal(kv_put(f->db, txn, "held", 4, "mine", 4, &error), 0);
    assert_int_equal(kv_txn_commit(txn, &error), 0);
    check_str(f->db, NULL, "held", "mine");

    /* Or the next process that opens the environment. */
    holder = fork_lock_holder(f->dir);
    kill(holder, SIGKILL);
    assert_int_equal(waitpid(holder, NULL, 0), holder);
    kv_db_close(&f->db);
    kv_env_close(&f->env);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct kv_env *env;
        struct kv_db *db;
        struct kv_txn *t;
        if (kv_env_open(f->dir, 0, &env, &error) < 0 ||
            kv_db_open(env, "test.db", &db, &error) < 0 ||
            kv_txn_begin(env, &t, &error) < 0 ||
            kv_put(db, t, "held", 4, "next", 4, &error) != 0 ||
            kv_txn_commit(t, &error) != 0)
            _exit(2);
        kv_db_close(&db);
        kv_env_close(&env);
        _exit(0);
    }
    wait_exit0(pid);
    reopen(f, 0);
    check_str(f->db, NULL, "held", "next");
}

/* ---- an environment that needs recovery ------------------------------ */

/* Expect a kv call to fail with -1 and a "needs recovery" message in
 * error. */
static void check_needs_recovery(int ret, const char *error, const char *what)
{
    if (ret != -1 || error == NULL || strstr(error, "needs recovery") == NULL)
        fail_msg("%s on an environment that needs recovery: %d (%s)", what,
                 ret, error != NULL ? error : "no message");
}
#define EXPECT_NEEDS_RECOVERY(call)                                  \
    do {                                                             \
        error = NULL;                                                \
        int ret_ = (call);                                           \
        check_needs_recovery(ret_, error, #call);                    \
    } while (0)

/* Read one byte from fd within ms milliseconds: the byte, or -1 (timeout,
 * end of file). */
static int read_byte_within(int fd, unsigned ms)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    unsigned char c;

    if (poll(&pfd, 1, (int)ms) != 1 || read(fd, &c, 1) != 1)
        return -1;
    return c;
}

/* Another process with handles opened before the environment was marked
 * as needing recovery: reports 'o' once open, waits for a byte on go_fd,
 * then expects to learn it at once (exit 0) or exits with a code. */
static _Noreturn void bystander_main(const char *dir, int go_fd,
                                     int report_fd)
{
    struct kv_env *env;
    struct kv_db *db;
    struct buf b = BUF_INIT;
    const char *error = NULL;
    char c;

    if (kv_env_open(dir, 0, &env, &error) < 0 ||
        kv_db_open(env, "test.db", &db, &error) < 0)
        _exit(2);
    if (write(report_fd, "o", 1) != 1 || read(go_fd, &c, 1) != 1)
        _exit(3);
    if (!kv_env_needs_recovery(env))
        _exit(4);
    error = NULL;
    if (kv_get(db, NULL, "kept", 4, &b, &error) != -1 || error == NULL ||
        strstr(error, "needs recovery") == NULL)
        _exit(5);
    kv_db_close(&db);
    kv_env_close(&env);
    _exit(0);
}

/* Marked as needing recovery (what failchk does when a process died
 * inside Berkeley DB): every call fails at once with a message saying so,
 * in this process and in the others; transactions, databases and the
 * environment close without blocking (and, under ASan, without a leak
 * report); master's check agrees, a plain open refuses, and recovery
 * brings back everything committed before. */
static void test_needs_recovery(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    struct kv_db *db2 = NULL;
    struct kv_txn *txn1, *txn2, *txn3;
    struct buf b = BUF_INIT;
    struct collect c;
    struct timespec t0;
    int go[2], report[2];

    put_str(f->db, NULL, "kept", "committed");
    assert_int_equal(kv_db_open(f->env, "other.db", &db2, &error), 0);
    put_str(db2, NULL, "other", "committed");
    assert_int_equal(kv_txn_begin(f->env, &txn1, &error), 0);
    put_str(f->db, txn1, "lost1", "never committed");
    assert_int_equal(kv_txn_begin(f->env, &txn2, &error), 0);
    put_str(db2, txn2, "lost2", "never committed");

    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(report), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        close(report[0]);
        bystander_main(f->dir, go[0], report[1]);
    }
    close(go[0]);
    close(report[1]);
    assert_int_equal(read_byte_within(report[0], 5000), 'o');
    close(report[0]);

    assert_false(kv_env_needs_recovery(f->env));
    kv_env_set_needs_recovery(f->env);
    /* With the default retry time, a call that retried would take 5 s. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(kv_env_needs_recovery(f->env));
    EXPECT_NEEDS_RECOVERY(kv_get(f->db, NULL, "kept", 4, &b, &error));
    assert_int_equal(b.len, 0);
    EXPECT_NEEDS_RECOVERY(kv_get(f->db, txn1, "kept", 4, &b, &error));
    EXPECT_NEEDS_RECOVERY(kv_get_for_update(db2, txn2, "other", 5, &b,
                                            &error));
    EXPECT_NEEDS_RECOVERY(kv_put(f->db, NULL, "k", 1, "v", 1, &error));
    EXPECT_NEEDS_RECOVERY(kv_put(f->db, txn1, "k", 1, "v", 1, &error));
    EXPECT_NEEDS_RECOVERY(kv_delete(f->db, NULL, "kept", 4, &error));
    memset(&c, 0, sizeof(c));
    EXPECT_NEEDS_RECOVERY(kv_foreach_prefix(f->db, NULL, NULL, 0,
                                            collect_cb, &c, &error));
    assert_int_equal(c.count, 0);
    txn3 = NULL;
    EXPECT_NEEDS_RECOVERY(kv_txn_begin(f->env, &txn3, &error));
    assert_null(txn3);
    struct body_ctx body = { f->db, 0, 0 };
    EXPECT_NEEDS_RECOVERY(kv_transaction(f->env, body_write_then_maybe_fail,
                                         &body, &error));
    assert_int_equal(body.runs, 0);
    struct kv_db *db3 = NULL;
    EXPECT_NEEDS_RECOVERY(kv_db_open(f->env, "third.db", &db3, &error));
    assert_null(db3);
    EXPECT_NEEDS_RECOVERY(kv_env_checkpoint(f->env, &error));
    EXPECT_NEEDS_RECOVERY(kv_env_failchk(f->env, &error));

    /* Ending the handles: nothing committed, nothing waits. */
    EXPECT_NEEDS_RECOVERY(kv_txn_commit(txn1, &error));
    kv_txn_abort(txn2);
    kv_db_close(&db2);
    kv_db_close(&f->db);
    kv_env_close(&f->env);
    assert_null(db2);
    assert_null(f->env);
    if (elapsed(&t0) > 1.0)
        fail_msg("calls on an environment that needs recovery took %.1f s",
                 elapsed(&t0));

    /* The other process learns it at its next call. */
    assert_int_equal(write(go[1], "g", 1), 1);
    close(go[1]);
    wait_exit0(pid);

    /* Master's check agrees; a plain open refuses. */
    error = NULL;
    assert_int_equal(kv_env_check(f->dir, 3000, &error), -1);
    assert_non_null(strstr(error, "recovery"));
    error = NULL;
    assert_int_equal(kv_env_open(f->dir, 0, &f->env, &error), -1);
    assert_null(f->env);
    assert_non_null(strstr(error, "needs recovery"));

    /* Recovery: committed data is there, the rest is not, and it works. */
    reopen(f, KV_ENV_RECOVER);
    assert_false(kv_env_needs_recovery(f->env));
    check_str(f->db, NULL, "kept", "committed");
    check_str(f->db, NULL, "lost1", NULL);
    assert_int_equal(kv_db_open(f->env, "other.db", &db2, &error), 0);
    check_str(db2, NULL, "other", "committed");
    check_str(db2, NULL, "lost2", NULL);
    kv_db_close(&db2);
    put_str(f->db, NULL, "after", "recovery");
    check_str(f->db, NULL, "after", "recovery");
    buf_free(&b);
}

/* The probe of test_death_in_library: opens the environment (recovering
 * it: nobody else uses it yet), reports 'o', waits for a byte on go_fd
 * (a writer has just been killed), runs failchk.  Environment fine:
 * reports 'n', closes, exits 0.  Needs recovery: reports 'r', then expects
 * every kv call to fail with "needs recovery" (reports 'c', else exits
 * with a code), closes its handles, reports 'd', exits 0.  The parent times
 * each step: before the fix, closing hung forever in __log_flush on the
 * mutex of the dead writer. */
static _Noreturn void probe_main(const char *dir, int go_fd, int report_fd)
{
    struct kv_env *env;
    struct kv_db *db;
    struct kv_txn *txn = NULL;
    struct buf b = BUF_INIT;
    const char *error = NULL;
    char c;

    if (kv_env_open(dir, KV_ENV_RECOVER, &env, &error) < 0 ||
        kv_db_open(env, "test.db", &db, &error) < 0) {
        fprintf(stderr, "probe: %s\n", error);
        _exit(2);
    }
    if (write(report_fd, "o", 1) != 1 || read(go_fd, &c, 1) != 1)
        _exit(3);
    if (kv_env_failchk(env, &error) == 0 && !kv_env_needs_recovery(env)) {
        kv_db_close(&db);
        kv_env_close(&env);
        _exit(write(report_fd, "n", 1) == 1 ? 0 : 4);
    }
    if (write(report_fd, "r", 1) != 1 || !kv_env_needs_recovery(env))
        _exit(5);
#define PROBE_EXPECT(call, code)                                     \
    do {                                                             \
        error = NULL;                                                \
        if ((call) != -1 || error == NULL ||                         \
            strstr(error, "needs recovery") == NULL)                 \
            _exit(code);                                             \
    } while (0)
    PROBE_EXPECT(kv_get(db, NULL, "r000000", 7, &b, &error), 10);
    PROBE_EXPECT(kv_put(db, NULL, "probe", 5, "x", 1, &error), 11);
    PROBE_EXPECT(kv_txn_begin(env, &txn, &error), 12);
    PROBE_EXPECT(kv_env_checkpoint(env, &error), 13);
#undef PROBE_EXPECT
    if (write(report_fd, "c", 1) != 1)
        _exit(6);
    kv_db_close(&db);
    kv_env_close(&env);
    _exit(write(report_fd, "d", 1) == 1 ? 0 : 7);
}

static int count_any_cb(const void *key, size_t keylen, const void *val,
                        size_t vallen, void *ctx)
{
    unsigned *n = ctx;

    (void)key;
    (void)keylen;
    (void)val;
    (void)vallen;
    (*n)++;
    return 0;
}

/* The real thing: a process holds its handles while a writer is killed
 * at a random moment; when the writer died inside Berkeley DB (failchk
 * says so; most kills land in a commit's fsync, holding the log's flush
 * mutex), the process's kv calls fail at once and its closes return.
 * Attempts repeat (about 40 ms each) until one hits that case, for at
 * most a few seconds.  A failchk that hangs (the dead writer held a
 * mutex failchk needs: master's kv_env_check() has a deadline for that)
 * just starts another attempt. */
static void test_death_in_library(void **state)
{
    struct fixture *f = *state;
    const char *error = NULL;
    struct timespec t0, ts;
    unsigned attempts = 0, clean = 0, hung_failchk = 0;
    bool hit = false;

    kv_db_close(&f->db);
    kv_env_close(&f->env);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    srand((unsigned)ts.tv_nsec ^ (unsigned)getpid());
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!hit && elapsed(&t0) < 5.0) {
        int go[2], report[2], wfd[2];
        uint32_t n = 0;

        attempts++;
        assert_int_equal(pipe(go), 0);
        assert_int_equal(pipe(report), 0);
        pid_t probe = fork();
        assert_true(probe >= 0);
        if (probe == 0) {
            close(go[1]);
            close(report[0]);
            probe_main(f->dir, go[0], report[1]);
        }
        close(go[0]);
        close(report[1]);
        if (read_byte_within(report[0], 5000) != 'o')
            fail_msg("attempt %u: the probe did not open the environment",
                     attempts);

        assert_int_equal(pipe(wfd), 0);
        pid_t writer = fork();
        assert_true(writer >= 0);
        if (writer == 0) {
            close(wfd[0]);
            close(go[1]);
            close(report[0]);
            writer_main(f->dir, wfd[1]);
        }
        close(wfd[1]);
        /* A few commits in, then at a random moment. */
        uint32_t want = 2 + (uint32_t)(rand() % 10);
        for (uint32_t i = 0; i < want; i++)
            if (read(wfd[0], &n, sizeof(n)) != sizeof(n))
                fail_msg("attempt %u: the writer stopped", attempts);
        usleep((useconds_t)(rand() % 3000));
        kill(writer, SIGKILL);
        assert_int_equal(waitpid(writer, NULL, 0), writer);
        close(wfd[0]);

        assert_int_equal(write(go[1], "g", 1), 1);
        close(go[1]);
        int r = read_byte_within(report[0], 2000);
        if (r == 'n') {
            clean++;
            close(report[0]);
            wait_exit0(probe);
            continue;
        }
        if (r != 'r') {
            hung_failchk++;
            kill(probe, SIGKILL);
            assert_int_equal(waitpid(probe, NULL, 0), probe);
            close(report[0]);
            continue;
        }
        hit = true;
        r = read_byte_within(report[0], 2000);
        if (r != 'c') {
            kill(probe, SIGKILL);
            waitpid(probe, NULL, 0);
            fail_msg("kv calls on an environment that needs recovery hung "
                     "or did not say so (%d)", r);
        }
        r = read_byte_within(report[0], 2000);
        if (r != 'd') {
            kill(probe, SIGKILL);
            waitpid(probe, NULL, 0);
            fail_msg("closing the handles of an environment that needs "
                     "recovery hung (%d)", r);
        }
        close(report[0]);
        wait_exit0(probe);
    }
    if (!hit)
        fprintf(stderr, "test_death_in_library: no kill landed inside "
                "Berkeley DB in %u attempts (%u clean, %u failchk hung); "
                "nothing checked\n", attempts, clean, hung_failchk);

    /* As master: nobody uses it any more, recover; every writer
     * transaction is all or nothing. */
    if (kv_env_open(f->dir, KV_ENV_RECOVER, &f->env, &error) < 0)
        fail_msg("recover: %s", error);
    if (kv_db_open(f->env, "test.db", &f->db, &error) < 0)
        fail_msg("kv_db_open: %s", error);
    unsigned nr = 0, ns = 0;
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "r", 1, count_any_cb,
                                       &nr, &error), 0);
    assert_int_equal(kv_foreach_prefix(f->db, NULL, "s", 1, count_any_cb,
                                       &ns, &error), 0);
    assert_int_equal(nr, ns);
    assert_true(nr > 0);
    put_str(f->db, NULL, "after", "works");
    check_str(f->db, NULL, "after", "works");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_and_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prefix_iteration, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_after_fork, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_processes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kill9_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_starvation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_lock_holder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_needs_recovery, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_death_in_library, setup,
                                        teardown),
    };

    log_init("test-kv");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
