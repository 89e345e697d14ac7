/* master_kv.c - keep the Berkeley DB environment of configdirectory healthy.
 *
 * DESCRIPTION
 *     Every process that uses the server-wide databases shares one
 *     environment (lib/kv.h).  Master never keeps it open; it looks after
 *     it in three ways.
 *
 *     Recovery at startup: before any child runs, master opens the
 *     environment with KV_ENV_RECOVER and closes it again
 *     (master_kv_recover).
 *
 *     Checks after crashes: a child (of a service or a daemon) that died
 *     by a signal, or exited with status 75 (EX_TEMPFAIL, what log_fatal()
 *     and a failing kv call end with), may have died inside the library.
 *     Master then runs kv_env_check() (a forked process that runs failchk,
 *     with a deadline of MASTER_KV_CHECK_TIMEOUT_MS; master waits for it).
 *     Usually the check cleans up after the dead process and nothing else
 *     happens ("database check of DIR after ...: ok").  Checks are merged:
 *     at most one every MASTER_KV_CHECK_SPACING_MS.
 *
 *     When the check says the environment needs recovery (or hangs),
 *     every user must go: master stops spawning, sends SIGTERM to every
 *     child of every service (again every MASTER_TERM_REPEAT_MS), SIGKILL
 *     after MASTER_KV_STOP_GRACE_MS, waits until all are reaped, runs
 *     recovery, and then the normal spawning starts the services again.
 *     Listeners stay open meanwhile: connections wait in the listen queue.
 *     At most one recovery runs every MASTER_KV_RECOVER_SPACING_MS; a later
 *     one (or a failed one, tried again) waits with every child stopped.
 *     Each step is logged ("database recovery of DIR: ...").
 *
 *     Checkpoints: every kv_checkpoint_interval seconds master forks a
 *     short-lived helper that opens the environment, calls
 *     kv_env_checkpoint() and exits; master logs the outcome ("database
 *     checkpoint of DIR done").  A helper, not master itself: opening the
 *     environment runs failchk, which in the worst case blocks on a mutex
 *     of a dead process, and master must never hang; and no kv handle ever
 *     lives in master between events.  A helper running longer than
 *     MASTER_KV_CHECKPOINT_TIMEOUT_MS is killed; a helper that fails or
 *     dies is followed by a check.
 */
#include "master.h"

#include "kv.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* At exit, a running checkpoint gets this long to finish. */
#define MASTER_KV_SHUTDOWN_WAIT_MS 5000

static struct {
    char *dir;
    /* checks */
    bool check_pending;
    char check_reason[160];     /* what made the first pending check due */
    int64_t last_check_ms;
    /* recovery */
    bool recovering;
    bool killed;                /* SIGKILL sent to the children */
    bool delay_logged;
    int64_t stop_started_ms, term_sent_ms;
    int64_t last_recovery_ms;   /* 0: none since startup */
    /* checkpoints */
    int64_t interval_ms, next_checkpoint_ms;
    pid_t helper_pid;           /* 0: none running */
    int64_t helper_started_ms;
    bool helper_killed;
} master_kv;

void master_kv_init(const char *dir, int64_t checkpoint_interval_ms, int64_t now_ms)
{
    free(master_kv.dir);
    memset(&master_kv, 0, sizeof(master_kv));
    master_kv.dir = xstrdup(dir);
    master_kv.interval_ms = checkpoint_interval_ms;
    master_kv.next_checkpoint_ms = now_ms + checkpoint_interval_ms;
}

int master_kv_recover(const char **error_r)
{
    struct kv_env *env = NULL;
    static char errbuf[1024];
    const char *error;
    if (kv_env_open(master_kv.dir, KV_ENV_CREATE | KV_ENV_RECOVER, &env, &error) < 0) {
        snprintf(errbuf, sizeof(errbuf), "database recovery of %s failed: %s", master_kv.dir,
                 error);
        *error_r = errbuf;
        return -1;
    }
    kv_env_close(&env);
    return 0;
}

void master_kv_set_checkpoint_interval(int64_t interval_ms, int64_t now_ms)
{
    master_kv.interval_ms = interval_ms;
    if (now_ms + interval_ms < master_kv.next_checkpoint_ms)
        master_kv.next_checkpoint_ms = now_ms + interval_ms;
}

static void master_kv_describe_status(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
    else if (WIFEXITED(status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, size, "ended with wait status 0x%x", (unsigned)status);
}

static bool master_kv_status_suspect(int status)
{
    return WIFSIGNALED(status) ||
           (WIFEXITED(status) && WEXITSTATUS(status) == MASTER_KV_EXIT_CHECK);
}

/* A check is due; reason says why (kept for the log when it is the first). */
static void master_kv_want_check(const char *what, pid_t pid, int status)
{
    if (master_kv.recovering || master_kv.dir == NULL)
        return;
    if (!master_kv.check_pending) {
        char how[64];
        master_kv_describe_status(status, how, sizeof(how));
        snprintf(master_kv.check_reason, sizeof(master_kv.check_reason), "%s %d %s", what,
                 (int)pid, how);
        master_kv.check_pending = true;
    }
}

void master_kv_child_died(const struct master_service *svc, pid_t pid, int status)
{
    if (!master_kv_status_suspect(status))
        return;
    char what[128];
    snprintf(what, sizeof(what), "%s %s: child",
             svc->def.kind == MASTER_KIND_DAEMON ? "daemon" : "service", svc->def.name);
    master_kv_want_check(what, pid, status);
}

bool master_kv_reaped(pid_t pid, int status, int64_t now_ms)
{
    if (master_kv.helper_pid <= 0 || pid != master_kv.helper_pid)
        return false;
    int64_t took = now_ms - master_kv.helper_started_ms;
    master_kv.helper_pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        log_info("database checkpoint of %s done (%lld ms)", master_kv.dir, (long long)took);
        return true;
    }
    char how[64];
    master_kv_describe_status(status, how, sizeof(how));
    if (master_kv.recovering) {
        /* Killed on purpose: recovery follows anyway. */
        log_debug("database checkpoint helper %d %s", (int)pid, how);
        return true;
    }
    log_error("database checkpoint of %s failed: helper %d %s after %lld ms", master_kv.dir,
              (int)pid, how, (long long)took);
    /* Whatever went wrong, the environment deserves a look. */
    master_kv_want_check("checkpoint helper", pid, status);
    return true;
}

/* In the forked helper: checkpoint and exit.  Never returns. */
static _Noreturn void master_kv_helper(pid_t master_pid)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Master gone: a new one recovers at startup, which needs us gone. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != master_pid)
        _exit(1);
    /* Master's descriptors (listeners above all) are none of our business;
     * syslog opens its socket again when it needs it. */
    closelog();
    if (close_range(3, ~0U, 0) < 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 ? max : 1024); fd++)
            close((int)fd);
    }
    struct kv_env *env;
    const char *error;
    if (kv_env_open(master_kv.dir, 0, &env, &error) < 0) {
        log_error("database checkpoint of %s: %s", master_kv.dir, error);
        _exit(1);
    }
    int ret = kv_env_checkpoint(env, &error);
    if (ret < 0)
        log_error("database checkpoint of %s: %s", master_kv.dir, error);
    kv_env_close(&env);
    _exit(ret < 0 ? 1 : 0);
}

static void master_kv_checkpoint_start(int64_t now_ms)
{
    pid_t master_pid = getpid();
    sigset_t all, saved;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0)
        master_kv_helper(master_pid);
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &saved, NULL);
    if (pid < 0) {
        log_error("database checkpoint of %s: fork: %s", master_kv.dir, strerror(fork_errno));
        return;
    }
    master_kv.helper_pid = pid;
    master_kv.helper_started_ms = now_ms;
    master_kv.helper_killed = false;
    log_debug("database checkpoint of %s: helper %d started", master_kv.dir, (int)pid);
}

static void master_kv_helper_kill(void)
{
    if (master_kv.helper_pid > 0 && !master_kv.helper_killed) {
        kill(master_kv.helper_pid, SIGKILL);
        master_kv.helper_killed = true;
    }
}

static void master_kv_recovery_begin(int64_t now_ms)
{
    unsigned n = master_children_count();
    log_error("database recovery of %s: stopping every child (%u running) and recovering the "
              "environment",
              master_kv.dir, n);
    master_kv.recovering = true;
    master_kv.killed = false;
    master_kv.delay_logged = false;
    master_kv.check_pending = false;
    master_kv.stop_started_ms = now_ms;
    master_kv.term_sent_ms = now_ms;
    master_children_signal_all(SIGTERM);
    master_kv_helper_kill();
}

static void master_kv_recovery_step(int64_t now_ms)
{
    unsigned n = master_children_count();
    if (n > 0 || master_kv.helper_pid > 0) {
        if (master_kv.killed)
            return;
        if (now_ms - master_kv.stop_started_ms >= MASTER_KV_STOP_GRACE_MS) {
            log_warning("database recovery of %s: %u children still running %d ms after "
                        "SIGTERM: sending SIGKILL",
                        master_kv.dir, n, MASTER_KV_STOP_GRACE_MS);
            master_children_signal_all(SIGKILL);
            master_kv_helper_kill();
            master_kv.killed = true;
        } else if (now_ms - master_kv.term_sent_ms >= MASTER_TERM_REPEAT_MS) {
            master_children_signal_all(SIGTERM);
            master_kv.term_sent_ms = now_ms;
        }
        return;
    }
    if (master_kv.last_recovery_ms != 0 &&
        now_ms - master_kv.last_recovery_ms < MASTER_KV_RECOVER_SPACING_MS) {
        if (!master_kv.delay_logged) {
            log_warning("database recovery of %s: the last one was %lld ms ago; waiting %lld ms "
                        "(at most one every %d s)",
                        master_kv.dir, (long long)(now_ms - master_kv.last_recovery_ms),
                        (long long)(master_kv.last_recovery_ms + MASTER_KV_RECOVER_SPACING_MS -
                                    now_ms),
                        MASTER_KV_RECOVER_SPACING_MS / 1000);
            master_kv.delay_logged = true;
        }
        return;
    }
    master_kv.last_recovery_ms = now_ms;
    const char *error;
    if (master_kv_recover(&error) < 0) {
        log_error("%s; every child stays stopped, trying again in %d s", error,
                  MASTER_KV_RECOVER_SPACING_MS / 1000);
        master_kv.delay_logged = true;
        return;
    }
    int64_t took = master_now_ms() - now_ms;
    log_warning("database recovery of %s done (%lld ms); starting the services again",
                master_kv.dir, (long long)took);
    master_kv.recovering = false;
    master_kv.check_pending = false;
}

static void master_kv_run_check(void)
{
    const char *error;
    int64_t t0 = master_now_ms();
    master_kv.check_pending = false;
    master_kv.last_check_ms = t0;
    if (kv_env_check(master_kv.dir, MASTER_KV_CHECK_TIMEOUT_MS, &error) == 0) {
        log_info("database check of %s after %s: ok (%lld ms)", master_kv.dir,
                 master_kv.check_reason, (long long)(master_now_ms() - t0));
        return;
    }
    log_error("database check of %s after %s failed: %s", master_kv.dir, master_kv.check_reason,
              error);
    master_kv_recovery_begin(master_now_ms());
}

void master_kv_tick(int64_t now_ms)
{
    if (master_kv.dir == NULL)
        return;
    if (master_kv.helper_pid > 0 && !master_kv.helper_killed &&
        now_ms - master_kv.helper_started_ms >= MASTER_KV_CHECKPOINT_TIMEOUT_MS) {
        log_error("database checkpoint of %s: helper %d still running after %d s: killing it",
                  master_kv.dir, (int)master_kv.helper_pid, MASTER_KV_CHECKPOINT_TIMEOUT_MS / 1000);
        master_kv_helper_kill();
    }
    if (!master_kv.recovering && master_kv.check_pending &&
        now_ms - master_kv.last_check_ms >= MASTER_KV_CHECK_SPACING_MS) {
        master_kv_run_check();
        now_ms = master_now_ms();
    }
    if (master_kv.recovering) {
        master_kv_recovery_step(now_ms);
        return;
    }
    if (master_kv.helper_pid == 0 && now_ms >= master_kv.next_checkpoint_ms) {
        master_kv.next_checkpoint_ms = now_ms + master_kv.interval_ms;
        master_kv_checkpoint_start(now_ms);
    }
}

bool master_kv_recovering(void)
{
    return master_kv.recovering;
}

static void master_kv_min(int64_t *best, int64_t at, int64_t now_ms)
{
    int64_t wait = at > now_ms ? at - now_ms : 0;
    if (*best < 0 || wait < *best)
        *best = wait;
}

int64_t master_kv_next_timer_ms(int64_t now_ms)
{
    int64_t best = -1;
    if (master_kv.dir == NULL)
        return -1;
    if (master_kv.recovering) {
        if (master_children_count() > 0 || master_kv.helper_pid > 0) {
            if (!master_kv.killed) {
                master_kv_min(&best, master_kv.term_sent_ms + MASTER_TERM_REPEAT_MS, now_ms);
                master_kv_min(&best, master_kv.stop_started_ms + MASTER_KV_STOP_GRACE_MS, now_ms);
            }
        } else {
            master_kv_min(&best, master_kv.last_recovery_ms + MASTER_KV_RECOVER_SPACING_MS,
                          now_ms);
        }
        return best;
    }
    if (master_kv.check_pending)
        master_kv_min(&best, master_kv.last_check_ms + MASTER_KV_CHECK_SPACING_MS, now_ms);
    if (master_kv.helper_pid > 0) {
        if (!master_kv.helper_killed)
            master_kv_min(&best, master_kv.helper_started_ms + MASTER_KV_CHECKPOINT_TIMEOUT_MS,
                          now_ms);
    } else {
        master_kv_min(&best, master_kv.next_checkpoint_ms, now_ms);
    }
    return best;
}

void master_kv_shutdown(void)
{
    if (master_kv.helper_pid > 0) {
        int64_t deadline = master_now_ms() + MASTER_KV_SHUTDOWN_WAIT_MS;
        for (;;) {
            int status;
            pid_t r = waitpid(master_kv.helper_pid, &status, WNOHANG);
            if (r == master_kv.helper_pid || (r < 0 && errno != EINTR))
                break;
            if (r == 0 && master_now_ms() >= deadline) {
                log_warning("database checkpoint of %s still running at exit: killing it",
                            master_kv.dir);
                kill(master_kv.helper_pid, SIGKILL);
                while (waitpid(master_kv.helper_pid, &status, 0) < 0 && errno == EINTR)
                    ;
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        master_kv.helper_pid = 0;
    }
    free(master_kv.dir);
    master_kv.dir = NULL;
}
