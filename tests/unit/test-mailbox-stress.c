/* test-mailbox-stress.c - many processes on one mailbox, and kill -9.
 *
 * Concurrency: four forked writers append (single and multi-message) and
 * set flags while two forked readers refresh views; afterwards every UID
 * is unique and increasing, every message is the one its writer appended,
 * no keyword set by any writer was lost, and the header counts agree with
 * a recount of the records.
 *
 * Crash: a forked writer appends (and flags, expunges, cleans up) in a
 * loop, reporting each acknowledged UID through a pipe, and is killed with
 * SIGKILL at a random moment; this is repeated for at least 200 rounds.
 * After each kill the mailbox must open cleanly, every acknowledged
 * message must be present and byte-identical, and no index record may
 * point to a missing file.
 *
 * Children open their own store after fork(), never call cmocka, and
 * report through their exit status and pipes; they leave with _exit().
 *
 * A hang is a failure with a message, not a silent alarm: the parent waits
 * for every child with a deadline, and the crash loop's runner writes the
 * step it is in (round, what it waits for) into shared memory; a step that
 * takes longer than STEP_DEADLINE_MS fails the test with that step and the
 * state and kernel wait channel of every process of the runner's group
 * (a writer blocked on a Berkeley DB mutex shows futex_wait...), then kills
 * them all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test-mailbox-fixture.h"

#include "kv.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define WRITERS 4
#define READERS 2
#define PER_WRITER 30
/* No step of either test comes near this (a round takes milliseconds, a
 * recovery well under a second, even under ASan on a loaded machine). */
#define STEP_DEADLINE_MS 30000

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "S futex_wait_queue" say: the state and kernel wait channel of pid, for
 * messages about a process that does not finish. */
static void proc_describe(pid_t pid, char *out, size_t outlen)
{
    char path[64], stat[512] = "", wchan[64] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(stat, sizeof(stat), f) == NULL)
            stat[0] = '\0';
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(wchan, sizeof(wchan), f) == NULL)
            wchan[0] = '\0';
        fclose(f);
    }
    /* the state is the field after the ")" that ends the command name */
    const char *paren = strrchr(stat, ')');
    snprintf(out, outlen, "state %c, waiting in %s",
             paren != NULL && paren[1] == ' ' ? paren[2] : '?',
             wchan[0] != '\0' ? wchan : "?");
}

/* Wait for pid until the monotonic clock reaches deadline: 0 with *status
 * when it ended, -1 when it is still running (not reaped). */
static int wait_until(pid_t pid, int *status, uint64_t deadline)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
        if (now_ms() >= deadline)
            return -1;
        usleep(10 * 1000);
    }
}

/* Something did not finish in time: say what every child is doing, then
 * kill and reap them all. */
static void kill_children(const pid_t *pids, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        char what[128];
        int status;
        if (waitpid(pids[i], &status, WNOHANG) != 0)
            continue;
        proc_describe(pids[i], what, sizeof(what));
        fprintf(stderr, "  pid %d still running: %s\n", (int)pids[i], what);
        kill(pids[i], SIGKILL);
        waitpid(pids[i], &status, 0);
    }
}

static int setup(void **state)
{
    *state = mbt_setup(NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    mbt_teardown(*state);
    return 0;
}

static struct store *child_store(struct mbt *t)
{
    struct store *store = NULL;
    const char *error = NULL;
    if (store_open(t->config, 0, &store, &error) < 0) {
        fprintf(stderr, "child: store_open: %s\n", error);
        _exit(2);
    }
    return store;
}

static void writer_message(struct buf *out, unsigned writer, unsigned n)
{
    buf_reset(out);
    buf_printf(out, "From: w%u@example.com\r\nSubject: writer %u message %u\r\n\r\n", writer,
               writer, n);
    for (unsigned i = 0; i < (n * 7 + writer) % 50; i++)
        buf_append_str(out, "some body text for the message\r\n");
}

static int writer_main(struct mbt *t, unsigned w, int report_fd)
{
    struct store *store = child_store(t);
    struct mailbox *mb = NULL;
    const char *error = NULL;
    struct buf msg[3] = { BUF_INIT, BUF_INIT, BUF_INIT };
    char kwname[16];
    const char *kw[1] = { kwname };
    struct seqset set;

    if (mailbox_open(store, "user.con", MAILBOX_READWRITE, &mb, &error) < 0) {
        fprintf(stderr, "writer %u: %s\n", w, error);
        _exit(3);
    }
    snprintf(kwname, sizeof(kwname), "k%u", w);
    seqset_init(&set);
    unsigned n = 0;
    while (n < PER_WRITER) {
        struct mailbox_append_msg m[3];
        uint32_t uids[3], uidv;
        unsigned batch = (n % 5 == 4 && n + 3 <= PER_WRITER) ? 3 : 1;
        memset(m, 0, sizeof(m));
        for (unsigned i = 0; i < batch; i++) {
            writer_message(&msg[i], w, n + i);
            m[i].data = msg[i].data;
            m[i].len = msg[i].len;
        }
        if (mailbox_append(mb, m, batch, NULL, 0, &uidv, uids, &error) < 0) {
            fprintf(stderr, "writer %u: append: %s\n", w, error);
            _exit(4);
        }
        /* our keyword on our messages, and \Flagged on everything so far */
        seqset_free(&set);
        seqset_init(&set);
        seqset_add_range(&set, uids[0], uids[batch - 1]);
        struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD, .keywords = kw,
                                           .nkeywords = 1 };
        if (mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error) < 0) {
            fprintf(stderr, "writer %u: store: %s\n", w, error);
            _exit(5);
        }
        seqset_free(&set);
        seqset_init(&set);
        seqset_add_range(&set, 1, uids[0]);
        struct mailbox_flags_change fl = { .op = w % 2 == 0 ? MAILBOX_FLAGS_ADD
                                                            : MAILBOX_FLAGS_REMOVE,
                                           .system_flags = MAILBOX_FLAG_FLAGGED };
        if (mailbox_store_flags(mb, &set, &fl, NULL, NULL, NULL, NULL, &error) < 0) {
            fprintf(stderr, "writer %u: store: %s\n", w, error);
            _exit(5);
        }
        n += batch;
    }
    /* the last word: a keyword on every message that exists now */
    snprintf(kwname, sizeof(kwname), "done%u", w);
    seqset_free(&set);
    seqset_init(&set);
    seqset_add_range(&set, 1, UINT32_MAX - 1);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD, .keywords = kw, .nkeywords = 1 };
    if (mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error) < 0)
        _exit(6);
    uint32_t last = mailbox_uidnext(mb) - 1;
    if (write(report_fd, &last, sizeof(last)) != (ssize_t)sizeof(last))
        _exit(7);
    return 0;
}

static int reader_main(struct mbt *t, const char *stopfile)
{
    struct store *store = child_store(t);
    struct mailbox *mb = NULL;
    struct mailbox_view *view = NULL;
    const char *error = NULL;
    struct buf blob = BUF_INIT;
    unsigned rounds = 0;

    if (mailbox_open(store, "user.con", MAILBOX_READONLY, &mb, &error) < 0 ||
        mailbox_view_open(mb, NULL, MAILBOX_VIEW_READONLY, &view, &error) < 0) {
        fprintf(stderr, "reader: %s\n", error);
        _exit(3);
    }
    for (;;) {
        bool last = access(stopfile, F_OK) == 0;
        if (mailbox_view_refresh(view, true, NULL, NULL, &error) < 0) {
            fprintf(stderr, "reader: refresh: %s\n", error);
            _exit(4);
        }
        uint32_t prev = 0, n = mailbox_view_exists(view);
        for (uint32_t msn = 1; msn <= n; msn++) {
            uint32_t uid = mailbox_view_uid(view, msn);
            struct mailbox_record rec;
            if (uid <= prev || mailbox_view_msn(view, uid) != msn) {
                fprintf(stderr, "reader: UIDs out of order at %u\n", msn);
                _exit(5);
            }
            prev = uid;
            if (mailbox_view_record(view, msn, &rec, &error) != 1 ||
                mailbox_cache_read(mb, &rec, &blob, &error) < 0) {
                fprintf(stderr, "reader: record %u: %s\n", uid, error);
                _exit(6);
            }
        }
        rounds++;
        if (last)
            break;
    }
    buf_free(&blob);
    return rounds > 0 ? 0 : 8;
}

static void test_concurrent_writers_and_readers(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    char stopfile[128];
    pid_t writers[WRITERS], readers[READERS];
    int pipes[WRITERS][2];

    mbt_create(t, "user.con");
    snprintf(stopfile, sizeof(stopfile), "%s/stop", t->dir);
    for (unsigned r = 0; r < READERS; r++) {
        readers[r] = fork();
        assert_true(readers[r] >= 0);
        if (readers[r] == 0)
            _exit(reader_main(t, stopfile));
    }
    for (unsigned w = 0; w < WRITERS; w++) {
        assert_int_equal(pipe(pipes[w]), 0);
        writers[w] = fork();
        assert_true(writers[w] >= 0);
        if (writers[w] == 0) {
            close(pipes[w][0]);
            _exit(writer_main(t, w, pipes[w][1]));
        }
        close(pipes[w][1]);
    }
    pid_t all[READERS + WRITERS];
    memcpy(all, readers, sizeof(readers));
    memcpy(all + READERS, writers, sizeof(writers));
    uint64_t deadline = now_ms() + STEP_DEADLINE_MS;
    uint32_t done_upto[WRITERS];
    for (unsigned w = 0; w < WRITERS; w++) {
        int status;
        if (wait_until(writers[w], &status, deadline) < 0) {
            fprintf(stderr, "writer %u (pid %d) did not finish within %d s:\n", w,
                    (int)writers[w], STEP_DEADLINE_MS / 1000);
            kill_children(all, READERS + WRITERS);
            fail_msg("writer %u hung", w);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            kill_children(all, READERS + WRITERS);
            fail_msg("writer %u failed (status %d)", w, status);
        }
        assert_int_equal(read(pipes[w][0], &done_upto[w], sizeof(uint32_t)),
                         (ssize_t)sizeof(uint32_t));
        close(pipes[w][0]);
    }
    FILE *f = fopen(stopfile, "w");
    fclose(f);
    deadline = now_ms() + STEP_DEADLINE_MS;
    for (unsigned r = 0; r < READERS; r++) {
        int status;
        if (wait_until(readers[r], &status, deadline) < 0) {
            fprintf(stderr, "reader %u (pid %d) did not stop within %d s:\n", r,
                    (int)readers[r], STEP_DEADLINE_MS / 1000);
            kill_children(all, READERS + WRITERS);
            fail_msg("reader %u hung", r);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            kill_children(all, READERS + WRITERS);
            fail_msg("reader %u failed (status %d)", r, status);
        }
    }

    /* every message once, UIDs 1..N, keywords all there, counts right */
    struct mailbox *mb = mbt_open(t, "user.con", false);
    struct mailbox_view *view;
    assert_int_equal(mailbox_view_open(mb, NULL, MAILBOX_VIEW_READONLY, &view, &error), 0);
    uint32_t total = WRITERS * PER_WRITER;
    assert_int_equal(mailbox_view_exists(view), total);
    bool seen[WRITERS][PER_WRITER];
    memset(seen, 0, sizeof(seen));
    uint32_t flagged = 0;
    struct buf got = BUF_INIT, want = BUF_INIT;
    for (uint32_t msn = 1; msn <= total; msn++) {
        struct mailbox_record rec;
        assert_int_equal(mailbox_view_uid(view, msn), msn);
        assert_int_equal(mailbox_view_record(view, msn, &rec, &error), 1);
        mbt_read_message(mb, msn, &got);
        unsigned w, n;
        assert_int_equal(sscanf(got.data, "From: w%u@example.com\r\nSubject: writer %*u message %u",
                                &w, &n), 2);
        assert_true(w < WRITERS && n < PER_WRITER);
        assert_false(seen[w][n]);
        seen[w][n] = true;
        writer_message(&want, w, n);
        assert_true(buf_equals_str(&got, buf_cstr(&want)));
        char name[16];
        snprintf(name, sizeof(name), "k%u", w);
        int k = mailbox_keyword_find(mb, name);
        assert_true(k >= 0 && mailbox_keywords_has(&rec.keywords, (unsigned)k));
        for (unsigned x = 0; x < WRITERS; x++) {
            snprintf(name, sizeof(name), "done%u", x);
            k = mailbox_keyword_find(mb, name);
            if (msn <= done_upto[x])
                assert_true(k >= 0 && mailbox_keywords_has(&rec.keywords, (unsigned)k));
        }
        flagged += (rec.system_flags & MAILBOX_FLAG_FLAGGED) != 0;
    }
    struct mailbox_counts c;
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, total);
    assert_int_equal(c.uidnext, total + 1);
    assert_int_equal(c.unseen, total);
    assert_int_equal(c.flagged, flagged);
    buf_free(&got);
    buf_free(&want);
    mailbox_view_close(&view);
    mailbox_close(&mb);
}

/* ---- kill -9 ---- */

#define CRASH_ROUNDS 200
#define MAX_ACKED 20000

static void crash_message(struct buf *out, unsigned round, unsigned seq)
{
    buf_reset(out);
    buf_printf(out, "Subject: round %u seq %u\r\nX-Pad: ", round, seq);
    unsigned pad = (round * 131 + seq * 71) % 3000;
    for (unsigned i = 0; i < pad; i++)
        buf_append_char(out, (char)('a' + (i + seq) % 26));
    buf_append_str(out, "\r\n\r\nbody\r\n");
}

static void report(int fd, char kind, uint32_t uid, unsigned seq)
{
    char line[64];
    int len = snprintf(line, sizeof(line), "%c %u %u\n", kind, uid, seq);
    if (write(fd, line, (size_t)len) != len)
        _exit(9);
}

static int crasher_main(struct mbt *t, unsigned round, int fd)
{
    struct store *store = child_store(t);
    struct mailbox *mb = NULL;
    const char *error = NULL;
    struct buf msg[3] = { BUF_INIT, BUF_INIT, BUF_INIT };
    struct seqset set;
    uint32_t last = 0;

    if (mailbox_open(store, "user.crash", MAILBOX_READWRITE, &mb, &error) < 0) {
        fprintf(stderr, "crasher: open: %s\n", error);
        _exit(3);
    }
    report(fd, 'R', 0, 0);
    seqset_init(&set);
    for (unsigned seq = 0;; ) {
        struct mailbox_append_msg m[3];
        uint32_t uids[3], uidv;
        unsigned batch = seq % 5 == 3 ? 3 : 1;
        memset(m, 0, sizeof(m));
        for (unsigned i = 0; i < batch; i++) {
            crash_message(&msg[i], round, seq + i);
            m[i].data = msg[i].data;
            m[i].len = msg[i].len;
        }
        if (mailbox_append(mb, m, batch, NULL, 0, &uidv, uids, &error) < 0) {
            fprintf(stderr, "crasher: append: %s\n", error);
            _exit(4);
        }
        for (unsigned i = 0; i < batch; i++)
            report(fd, 'A', uids[i], seq + i);
        last = uids[batch - 1];
        seq += batch;
        seqset_free(&set);
        seqset_init(&set);
        if (seq % 4 == 0) {
            seqset_add_range(&set, last > 5 ? last - 5 : 1, last);
            struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                               .system_flags = MAILBOX_FLAG_SEEN };
            if (mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error) < 0)
                _exit(5);
        } else if (seq % 7 == 0) {
            report(fd, 'E', last, 0);
            seqset_add(&set, last);
            struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                               .system_flags = MAILBOX_FLAG_DELETED };
            if (mailbox_store_flags(mb, &set, &ch, NULL, NULL, NULL, NULL, &error) < 0 ||
                mailbox_expunge(mb, &set, NULL, &error) < 0)
                _exit(6);
        } else if (seq % 11 == 0) {
            if (mailbox_cleanup(mb, true, &error) < 0)
                _exit(7);
        }
    }
}

/* The crash loop runs in a forked runner, which plays master
 * (master/master_kv.c): after reaping each killed writer it asks
 * kv_env_check() -- failchk in a forked process with a deadline -- and,
 * when that says the environment needs recovery or hangs, recovers it.
 *
 * Never in the runner itself: a writer killed while holding one of
 * Berkeley DB's shared-region mutexes (inside a commit, say) leaves every
 * call that needs that mutex blocked for good, and until somebody raises
 * the panic flag that includes failchk and even kv_env_needs_recovery()
 * (DB_ENV->get_flags takes the transaction region's mutex).  The runner
 * used to run kv_env_failchk() on its own handle and, about one run in six
 * under load, sat in pthread_mutex_lock() until the alarm.  So after a
 * failed check the runner's handles are abandoned untouched (it _exit()s,
 * nothing is leaked to a leak checker), the environment is recovered --
 * nobody else uses it then: the writer and the check's process are reaped
 * -- and the store is opened again.  The mailbox files are what this test
 * is about; the databases have their own crash test in test-kv.  The
 * runner reports failures on stderr and exits non-zero; it leaves with
 * _exit(). */
#define RFAIL(...)                                                                            \
    do {                                                                                      \
        fprintf(stderr, "crash test: " __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                                  \
        _exit(1);                                                                             \
    } while (0)

/* The check's deadline.  A check takes 5-30 ms here (ASan, several runs at
 * once); one that is still going after this is stuck on a mutex of the
 * dead writer.  Shorter than master's (MASTER_KV_CHECK_TIMEOUT_MS): a
 * check wrongly taken for hung only costs one more recovery. */
#define CHECK_TIMEOUT_MS 1000

struct crash_stats {
    unsigned rounds, acked, alive, recoveries, hung_checks;
};

/* What the runner is doing, in memory shared with the test process, which
 * fails the test with it when one step takes over STEP_DEADLINE_MS. */
struct crash_progress {
    uint64_t since_ms;    /* when the step began (atomic) */
    unsigned round;
    char step[200];
};
static struct crash_progress *progress;

__attribute__((format(printf, 2, 3)))
static void step(unsigned round, const char *fmt, ...)
{
    va_list ap;
    progress->round = round;
    va_start(ap, fmt);
    vsnprintf(progress->step, sizeof(progress->step), fmt, ap);
    va_end(ap);
    __atomic_store_n(&progress->since_ms, now_ms(), __ATOMIC_RELEASE);
}

static void recover(struct mbt *t, struct store **store, struct crash_stats *st,
                    unsigned round)
{
    const char *error = NULL;
    struct kv_env *env = NULL;
    char why[160];

    step(round, "database check (kv_env_check, %d ms deadline)", CHECK_TIMEOUT_MS);
    if (kv_env_check(t->configdir, CHECK_TIMEOUT_MS, &error) == 0)
        return;
    if (strstr(error, "hung") != NULL)
        st->hung_checks++;
    snprintf(why, sizeof(why), "%s", error);
    *store = NULL;   /* abandoned, see above */
    step(round, "database recovery (after: %s)", why);
    if (kv_env_open(t->configdir, KV_ENV_RECOVER, &env, &error) < 0)
        RFAIL("round %u: recovery (after: %s): %s", round, why, error);
    kv_env_close(&env);
    step(round, "opening the store after recovery");
    *store = child_store(t);
    st->recoveries++;
}

struct acked {
    uint32_t uid;
    unsigned round, seq;
    bool maybe_expunged;
};

static int file_check_cb(const struct mailbox_record *rec, void *ctx)
{
    struct mailbox *mb = ctx;
    int fd;
    uint64_t size;
    const char *error = NULL;
    if ((rec->system_flags & MAILBOX_FLAG_EXPUNGED) != 0)
        return 0;
    if (mailbox_message_open(mb, rec->uid, &fd, &size, &error) < 0)
        RFAIL("record %u points to a missing file: %s", rec->uid, error);
    close(fd);
    if (size != rec->size)
        RFAIL("record %u: size %llu, file %llu", rec->uid, (unsigned long long)rec->size,
              (unsigned long long)size);
    return 0;
}

static void verify_crash_state(struct store *store, struct acked *acked, unsigned nacked,
                               bool full, bool readwrite)
{
    struct mailbox *mb = NULL;
    const char *error = NULL;
    struct buf want = BUF_INIT;

    if (mailbox_open(store, "user.crash", readwrite ? MAILBOX_READWRITE : MAILBOX_READONLY,
                     &mb, &error) < 0)
        RFAIL("the mailbox does not open after kill -9: %s", error);
    for (unsigned i = 0; i < nacked; i++) {
        struct mailbox_record rec;
        int r = mailbox_record_by_uid(mb, acked[i].uid, &rec, &error);
        if (r < 0)
            RFAIL("UID %u: %s", acked[i].uid, error);
        bool present = r == 1 && (rec.system_flags & MAILBOX_FLAG_EXPUNGED) == 0;
        if (!present) {
            if (!acked[i].maybe_expunged)
                RFAIL("acknowledged UID %u is lost", acked[i].uid);
            continue;
        }
        if (!full && i + 20 < nacked)
            continue;   /* the old ones were checked in earlier rounds */
        const char *data;
        size_t len;
        if (mailbox_message_map(mb, acked[i].uid, &data, &len, &error) < 0)
            RFAIL("UID %u: %s", acked[i].uid, error);
        crash_message(&want, acked[i].round, acked[i].seq);
        if (len != want.len || memcmp(data, want.data, len) != 0)
            RFAIL("UID %u differs from what was acknowledged", acked[i].uid);
        mailbox_message_unmap(data, len);
    }
    if (full) {
        struct mailbox_counts c;
        struct mailbox_view *view;
        if (mailbox_foreach_record(mb, file_check_cb, mb, &error) < 0 ||
            mailbox_get_counts(mb, NULL, &c, &error) < 0 ||
            mailbox_view_open(mb, NULL, MAILBOX_VIEW_READONLY, &view, &error) < 0)
            RFAIL("%s", error);
        if (c.exists != mailbox_view_exists(view))
            RFAIL("counts say %u messages, the records %u", c.exists,
                  mailbox_view_exists(view));
        mailbox_view_close(&view);
    }
    buf_free(&want);
    mailbox_close(&mb);
}

static int runner_main(struct mbt *t, int statfd)
{
    step(0, "opening the store");
    struct store *store = child_store(t);
    struct acked *acked = calloc(MAX_ACKED, sizeof(*acked));
    struct crash_stats st = { 0, 0, 0, 0, 0 };
    unsigned nacked = 0, retries = 0;

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (unsigned round = 0; round < CRASH_ROUNDS; round++) {
        int p[2];
        if (pipe(p) < 0)
            RFAIL("pipe");
        step(round, "starting a writer");
        pid_t pid = fork();
        if (pid < 0)
            RFAIL("fork");
        if (pid == 0) {
            close(p[0]);
            close(statfd);
            _exit(crasher_main(t, round, p[1]));
        }
        close(p[1]);
        /* mostly kill while it works; sometimes while it starts */
        bool started = true;
        if (round % 10 != 0) {
            char c;
            step(round, "waiting for writer %d to open the mailbox", (int)pid);
            started = read(p[0], &c, 1) == 1;
        }
        if (started)
            usleep((useconds_t)(rand() % 12000));
        step(round, "killing and reaping writer %d", (int)pid);
        kill(pid, SIGKILL);
        int status;
        if (waitpid(pid, &status, 0) != pid)
            RFAIL("waitpid");
        if (!started || (WIFEXITED(status) && WEXITSTATUS(status) == 2)) {
            /* it could not open the store: recover and run the round again */
            close(p[0]);
            recover(t, &store, &st, round);
            if (++retries > 20)
                RFAIL("writers keep failing to start");
            round--;
            continue;
        }
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            RFAIL("round %u: the writer exited by itself (status %d)", round, status);

        /* what it acknowledged */
        step(round, "reading what writer %d acknowledged", (int)pid);
        FILE *f = fdopen(p[0], "r");
        char line[128];
        while (fgets(line, sizeof(line), f) != NULL) {
            char kind;
            unsigned uid, seq;
            if (sscanf(line, "%c %u %u", &kind, &uid, &seq) != 3 || strchr(line, '\n') == NULL)
                continue;   /* a line cut by the kill was never complete */
            if (kind == 'A') {
                if (nacked >= MAX_ACKED)
                    RFAIL("too many messages");
                acked[nacked++] = (struct acked){ uid, round, seq, false };
            } else if (kind == 'E') {
                for (unsigned i = nacked; i-- > 0;) {
                    if (acked[i].uid == uid) {
                        acked[i].maybe_expunged = true;
                        break;
                    }
                }
            }
        }
        fclose(f);
        recover(t, &store, &st, round);
        step(round, "verifying the mailbox after the kill");
        verify_crash_state(store, acked, nacked, round % 10 == 9, round % 3 == 2);
        st.rounds++;
    }
    step(CRASH_ROUNDS, "verifying the mailbox at the end");
    verify_crash_state(store, acked, nacked, true, true);
    st.acked = nacked;
    for (unsigned i = 0; i < nacked; i++)
        st.alive += !acked[i].maybe_expunged;
    if (write(statfd, &st, sizeof(st)) != (ssize_t)sizeof(st))
        RFAIL("report");
    return 0;
}

/* The runner (process group pgid) has been in one step for too long: say
 * which, and what each process of the group is doing. */
static void crash_hang_report(pid_t pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *de;

    fprintf(stderr, "crash test: round %u: no progress for %d s in step: %s\n",
            progress->round, STEP_DEADLINE_MS / 1000, progress->step);
    while (d != NULL && (de = readdir(d)) != NULL) {
        char path[300], line[512], what[128];
        FILE *f;
        int pid = atoi(de->d_name);
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        bool got = fgets(line, sizeof(line), f) != NULL;
        fclose(f);
        /* after "pid (comm) ": state ppid pgrp */
        const char *paren = got ? strrchr(line, ')') : NULL;
        int ppid, pgrp;
        char state;
        if (paren == NULL || sscanf(paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3 ||
            pgrp != (int)pgid)
            continue;
        proc_describe(pid, what, sizeof(what));
        fprintf(stderr, "  pid %d%s (parent %d): %s\n", pid,
                pid == (int)pgid ? " (runner)" : "", ppid, what);
    }
    if (d != NULL)
        closedir(d);
    fprintf(stderr, "  (futex_...: blocked on a mutex, most likely one of Berkeley DB's "
                    "held by a killed writer; killing them all)\n");
}

static void test_kill_9(void **state)
{
    struct mbt *t = *state;
    struct timespec start, now;
    struct crash_stats st;
    const char *error = NULL;
    int p[2];

    mbt_create(t, "user.crash");
    /* nobody but the runner and its writers uses the databases meanwhile */
    store_close(&t->store);
    progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(progress != MAP_FAILED);
    memset(progress, 0, sizeof(*progress));
    progress->since_ms = now_ms();
    snprintf(progress->step, sizeof(progress->step), "starting the runner");
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(pipe(p), 0);
    pid_t runner = fork();
    assert_true(runner >= 0);
    if (runner == 0) {
        /* its own process group, so that a hang kills it with its children */
        setpgid(0, 0);
        close(p[0]);
        _exit(runner_main(t, p[1]));
    }
    setpgid(runner, runner);   /* either of the two calls wins the race */
    close(p[1]);
    int status;
    bool hung = false;
    for (;;) {
        uint64_t since = __atomic_load_n(&progress->since_ms, __ATOMIC_ACQUIRE);
        if (wait_until(runner, &status, since + STEP_DEADLINE_MS) == 0)
            break;
        if (__atomic_load_n(&progress->since_ms, __ATOMIC_ACQUIRE) != since)
            continue;   /* it moved on meanwhile */
        hung = true;
        crash_hang_report(runner);
        kill(-runner, SIGKILL);
        assert_int_equal(waitpid(runner, &status, 0), runner);
        break;
    }
    bool ok = !hung && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
              read(p[0], &st, sizeof(st)) == (ssize_t)sizeof(st);
    close(p[0]);
    clock_gettime(CLOCK_MONOTONIC, &now);

    /* what master does at start: recover, then everybody opens */
    struct kv_env *env = NULL;
    if (kv_env_open(t->configdir, KV_ENV_RECOVER, &env, &error) < 0)
        fail_msg("recovery: %s", error);
    kv_env_close(&env);
    mbt_open_store(t, 0);
    if (hung)
        fail_msg("the crash test hung in round %u: %s", progress->round, progress->step);
    if (!ok)
        fail_msg("the crash test failed (runner status %d)", status);
    munmap(progress, sizeof(*progress));
    progress = NULL;
    double secs = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
    print_message("kill -9: %u rounds, %u acknowledged messages (%u never expunged) in %.2f s"
                  " (%u database recoveries, %u after a check that hung)\n", st.rounds,
                  st.acked, st.alive, secs, st.recoveries, st.hung_checks);
    assert_true(st.rounds >= CRASH_ROUNDS);
    /* and the mailbox is fine for a normal process too */
    struct mailbox *mb = mbt_open(t, "user.crash", true);
    mbt_append_n(mb, 1, 0);
    mailbox_close(&mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_writers_and_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_9, setup, teardown),
    };
    alarm(240);   /* a hang is a failure, not a stuck test run */
    log_init("test-mailbox-stress");
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
