/* master_children.c - the running services and their children.
 *
 * DESCRIPTION
 *     Every service (struct master_service) has one pool per listen
 *     address (a daemon has one pool without a listener).  A pool's
 *     children each accept() on the pool's listener and tell master on the
 *     pool's status pipe when they are READY (waiting in accept) or BUSY
 *     (serving) or EXITING (done after -U uses).
 *
 *     Spawning (master_children_balance, after every event):
 *       - prefork=N: as long as fewer than N children of a pool are
 *         starting or ready, fork another.  So when a child turns BUSY a
 *         replacement is forked at once, and a child that exits is
 *         replaced.
 *       - prefork=0: when no child of the pool is starting or ready,
 *         master polls the listener itself; a waiting connection makes it
 *         fork one child, which then stays and serves later connections
 *         too (until -U or until it exits).
 *       - never more than maxchild children per service; when the limit
 *         holds a connection back a warning is logged (at most once a
 *         minute); the connection waits in the listen queue until a child
 *         is ready again.
 *       - a daemon is started again whenever it exits.
 *       - nothing is started while master_kv.c recovers the database
 *         environment (every child is stopped then).
 *
 *     Backoff: a child killed by a signal or exiting non-zero is logged
 *     (every exit of a daemon counts too).  MASTER_CRASH_LIMIT such exits
 *     within MASTER_CRASH_WINDOW_MS stop the spawning of that service for
 *     a delay starting at MASTER_BACKOFF_FIRST_MS and doubling up to
 *     MASTER_BACKOFF_MAX_MS; MASTER_BACKOFF_RESET_MS without a crash resets
 *     the delay.  Connections wait in the listen queue meanwhile.
 *
 *     A child runs with: fd 0 /dev/null, fd 1 and 2 master's stderr, fd 3
 *     the listener (closed for a daemon), fd 4 the write end of the pool's
 *     status pipe, nothing else; default signal dispositions, an empty
 *     signal mask, SIGTERM when master dies (PR_SET_PDEATHSIG), and
 *     ROOST_SERVICE=<name> added to master's environment.
 */
#include "master.h"

#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct master_service *master_services;

int64_t master_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct master_service *master_services_head(void)
{
    return master_services;
}

static const char *master_kind_word(const struct master_service *svc)
{
    return svc->def.kind == MASTER_KIND_DAEMON ? "daemon" : "service";
}

struct master_service *master_service_new(struct master_service_def *def, const char **error_r)
{
    struct master_service *svc = xcalloc(1, sizeof(*svc));
    svc->def = *def;
    memset(def, 0, sizeof(*def));
    svc->npools = svc->def.kind == MASTER_KIND_DAEMON ? 1 : svc->def.listen_count;
    svc->pools = xcalloc(svc->npools, sizeof(*svc->pools));
    for (size_t i = 0; i < svc->npools; i++) {
        struct master_pool *pool = &svc->pools[i];
        pool->service = svc;
        pool->address = svc->def.kind == MASTER_KIND_DAEMON ? NULL : svc->def.listen[i];
        pool->listen_fd = -1;
        pool->status_rd = pool->status_wr = -1;
    }
    for (size_t i = 0; i < svc->npools; i++) {
        struct master_pool *pool = &svc->pools[i];
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0) {
            static char msg[256];
            snprintf(msg, sizeof(msg), "%s: status pipe: %s", svc->def.key, strerror(errno));
            *error_r = msg;
            master_service_free(svc);
            return NULL;
        }
        /* Only master's end is non-blocking: a child must not lose a
         * message because master is slow to read. */
        int fl = fcntl(fds[0], F_GETFL);
        if (fl >= 0)
            fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
        pool->status_rd = fds[0];
        pool->status_wr = fds[1];
    }
    return svc;
}

void master_service_add(struct master_service *svc)
{
    struct master_service **p = &master_services;
    while (*p != NULL)
        p = &(*p)->next;
    svc->next = NULL;
    *p = svc;
}

void master_service_free(struct master_service *svc)
{
    if (svc == NULL)
        return;
    for (size_t i = 0; i < svc->npools; i++) {
        struct master_pool *pool = &svc->pools[i];
        master_listen_close(pool->listen_fd, pool->address);
        if (pool->status_rd >= 0)
            close(pool->status_rd);
        if (pool->status_wr >= 0)
            close(pool->status_wr);
        struct master_child *c = pool->children;
        while (c != NULL) {
            struct master_child *next = c->next;
            free(c);
            c = next;
        }
    }
    free(svc->pools);
    master_service_def_free(&svc->def);
    free(svc);
}

static void master_service_unlink(struct master_service *svc)
{
    for (struct master_service **p = &master_services; *p != NULL; p = &(*p)->next) {
        if (*p == svc) {
            *p = svc->next;
            return;
        }
    }
}

struct master_service *master_service_find(const char *name)
{
    for (struct master_service *svc = master_services; svc != NULL; svc = svc->next) {
        if (!svc->draining && strcmp(svc->def.name, name) == 0)
            return svc;
    }
    return NULL;
}

static void master_service_signal(struct master_service *svc, int sig)
{
    for (size_t i = 0; i < svc->npools; i++) {
        for (struct master_child *c = svc->pools[i].children; c != NULL; c = c->next) {
            if (kill(c->pid, sig) < 0 && errno != ESRCH)
                log_error("kill %d: %s", (int)c->pid, strerror(errno));
            c->terminated = true;
        }
    }
}

void master_service_stop(struct master_service *svc, int64_t now_ms)
{
    for (size_t i = 0; i < svc->npools; i++) {
        struct master_pool *pool = &svc->pools[i];
        master_listen_close(pool->listen_fd, pool->address);
        pool->listen_fd = -1;
        pool->poll_listener = false;
    }
    master_service_signal(svc, SIGTERM);
    svc->draining = true;
    svc->draining_since_ms = now_ms;
    svc->term_sent_ms = now_ms;
    if (svc->nchildren == 0) {
        master_service_unlink(svc);
        master_service_free(svc);
    }
}

/* Put fd on target in the child, without close-on-exec. */
static int master_fd_to(int fd, int target)
{
    if (fd == target) {
        int fl = fcntl(fd, F_GETFD);
        return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    return dup2(fd, target) < 0 ? -1 : 0;
}

/* In the forked child: set up the descriptors and exec.  Never returns. */
static _Noreturn void master_child_exec(const struct master_pool *pool, pid_t master_pid)
{
    const struct master_service *svc = pool->service;
    /* Signals are blocked since before fork(): master's handlers must not
     * run here (a SIGTERM would be swallowed).  Defaults first, then
     * unblock, so a SIGTERM sent meanwhile kills us as it should. */
    static const int sigs[] = {SIGPIPE, SIGCHLD, SIGTERM, SIGINT,
                               SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Leave when master dies (kill -9 of master must not leave orphans
     * that keep the listeners). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid)
        _exit(0);

    /* Move our two descriptors out of the way of 0..4 first. */
    int lfd = -1, sfd;
    if (pool->listen_fd >= 0 && (lfd = fcntl(pool->listen_fd, F_DUPFD_CLOEXEC, 5)) < 0)
        goto fail;
    if ((sfd = fcntl(pool->status_wr, F_DUPFD_CLOEXEC, 5)) < 0)
        goto fail;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || master_fd_to(devnull, STDIN_FILENO) < 0)
        goto fail;
    if (fcntl(STDERR_FILENO, F_GETFD) >= 0 && master_fd_to(STDERR_FILENO, STDOUT_FILENO) < 0)
        goto fail;
    if (lfd >= 0) {
        if (master_fd_to(lfd, SERVICE_LISTEN_FD) < 0)
            goto fail;
    } else {
        close(SERVICE_LISTEN_FD);
    }
    if (master_fd_to(sfd, SERVICE_STATUS_FD) < 0)
        goto fail;
    if (close_range(SERVICE_STATUS_FD + 1, ~0U, 0) < 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = SERVICE_STATUS_FD + 1; fd < (max > 0 ? max : 1024); fd++)
            close((int)fd);
    }
    if (setenv("ROOST_SERVICE", svc->def.name, 1) < 0)
        goto fail;
    execv(svc->def.argv[0], svc->def.argv);
fail:
    log_error("%s %s: cannot run %s: %s", master_kind_word(svc), svc->def.name, svc->def.argv[0],
              strerror(errno));
    _exit(127);
}

static void master_spawn(struct master_pool *pool, int64_t now_ms)
{
    struct master_service *svc = pool->service;
    pid_t master_pid = getpid();
    sigset_t all, saved;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0)
        master_child_exec(pool, master_pid);
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &saved, NULL);
    if (pid < 0) {
        errno = fork_errno;
        log_error("%s %s: fork: %s; trying again in %d ms", master_kind_word(svc), svc->def.name,
                  strerror(errno), MASTER_BACKOFF_FIRST_MS);
        svc->backoff_until_ms = now_ms + MASTER_BACKOFF_FIRST_MS;
        return;
    }
    struct master_child *c = xcalloc(1, sizeof(*c));
    c->pid = pid;
    c->state = MASTER_CHILD_STARTING;
    c->started_ms = now_ms;
    c->next = pool->children;
    pool->children = c;
    pool->nchildren++;
    svc->nchildren++;
    log_debug("%s %s: started child %d", master_kind_word(svc), svc->def.name, (int)pid);
}

static unsigned master_pool_available(const struct master_pool *pool)
{
    unsigned n = 0;
    for (const struct master_child *c = pool->children; c != NULL; c = c->next) {
        if (c->state == MASTER_CHILD_STARTING || c->state == MASTER_CHILD_READY)
            n++;
    }
    return n;
}

static void master_maxchild_warn(struct master_service *svc, int64_t now_ms)
{
    if (svc->maxchild_warned_ms != 0 && now_ms - svc->maxchild_warned_ms < MASTER_MAXCHILD_WARN_MS)
        return;
    svc->maxchild_warned_ms = now_ms;
    log_warning("service %s: maxchild=%d reached, all children busy; new connections wait",
                svc->def.name, svc->def.maxchild);
}

static void master_service_balance(struct master_service *svc, int64_t now_ms)
{
    for (size_t i = 0; i < svc->npools; i++)
        svc->pools[i].poll_listener = false;
    if (now_ms < svc->backoff_until_ms)
        return;
    for (size_t i = 0; i < svc->npools; i++) {
        struct master_pool *pool = &svc->pools[i];
        if (svc->def.kind == MASTER_KIND_DAEMON) {
            if (pool->nchildren == 0)
                master_spawn(pool, now_ms);
            continue;
        }
        if (pool->listen_fd < 0)
            continue;
        unsigned avail = master_pool_available(pool);
        while (avail < (unsigned)svc->def.prefork) {
            if (svc->nchildren >= (unsigned)svc->def.maxchild) {
                master_maxchild_warn(svc, now_ms);
                break;
            }
            master_spawn(pool, now_ms);
            if (now_ms < svc->backoff_until_ms)
                return;
            avail++;
        }
        if (avail == 0) {
            if (svc->nchildren < (unsigned)svc->def.maxchild)
                pool->poll_listener = true;
            else
                master_maxchild_warn(svc, now_ms);
        }
    }
}

void master_children_balance(int64_t now_ms)
{
    struct master_service *next;
    bool paused = master_kv_recovering();
    for (struct master_service *svc = master_services; svc != NULL; svc = next) {
        next = svc->next;
        if (!svc->draining && paused) {
            /* Database recovery: nobody starts, connections wait. */
            for (size_t i = 0; i < svc->npools; i++)
                svc->pools[i].poll_listener = false;
        } else if (!svc->draining) {
            master_service_balance(svc, now_ms);
        } else if (svc->drain_killed) {
            continue;
        } else if (now_ms - svc->draining_since_ms >= MASTER_STOP_TIMEOUT_MS) {
            log_warning("%s %s: %u children still running after SIGTERM; sending SIGKILL",
                        master_kind_word(svc), svc->def.name, svc->nchildren);
            master_service_signal(svc, SIGKILL);
            svc->drain_killed = true;
        } else if (now_ms - svc->term_sent_ms >= MASTER_TERM_REPEAT_MS) {
            master_service_signal(svc, SIGTERM);
            svc->term_sent_ms = now_ms;
        }
    }
}

void master_pool_on_demand(struct master_pool *pool, int64_t now_ms)
{
    struct master_service *svc = pool->service;
    if (svc->draining || master_kv_recovering() || pool->listen_fd < 0 ||
        now_ms < svc->backoff_until_ms ||
        master_pool_available(pool) > 0 || svc->nchildren >= (unsigned)svc->def.maxchild)
        return;
    master_spawn(pool, now_ms);
    pool->poll_listener = false;
}

static struct master_child *master_pool_find_child(struct master_pool *pool, pid_t pid)
{
    for (struct master_child *c = pool->children; c != NULL; c = c->next) {
        if (c->pid == pid)
            return c;
    }
    return NULL;
}

static void master_pool_status_msg(struct master_pool *pool, const struct service_status_msg *msg)
{
    struct master_service *svc = pool->service;
    struct master_child *c = master_pool_find_child(pool, (pid_t)msg->pid);
    if (c == NULL) {
        /* Already reaped, or not ours: nothing to count. */
        log_debug("%s: status from unknown pid %d", svc->def.name, (int)msg->pid);
        return;
    }
    switch (msg->status) {
    case SERVICE_STATUS_READY:
        c->state = MASTER_CHILD_READY;
        break;
    case SERVICE_STATUS_BUSY:
        c->state = MASTER_CHILD_BUSY;
        break;
    case SERVICE_STATUS_EXITING:
        c->state = MASTER_CHILD_EXITING;
        break;
    default:
        log_warning("%s: child %d sent unknown status %u", svc->def.name, (int)msg->pid,
                    (unsigned)msg->status);
        break;
    }
}

void master_pool_read_status(struct master_pool *pool)
{
    const size_t msize = sizeof(struct service_status_msg);
    unsigned char buf[sizeof(struct service_status_msg) * 64];
    for (;;) {
        memcpy(buf, pool->carry, pool->carry_len);
        ssize_t n = read(pool->status_rd, buf + pool->carry_len, sizeof(buf) - pool->carry_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_error("%s: reading the status pipe: %s", pool->service->def.name,
                          strerror(errno));
            return;
        }
        if (n == 0)
            return;
        size_t total = pool->carry_len + (size_t)n, off = 0;
        pool->carry_len = 0;
        for (; off + msize <= total; off += msize) {
            struct service_status_msg msg;
            memcpy(&msg, buf + off, msize);
            if (msg.magic != SERVICE_STATUS_MAGIC) {
                log_warning("%s: garbage on the status pipe, dropping %zu bytes",
                            pool->service->def.name, total - off);
                off = total;
                break;
            }
            master_pool_status_msg(pool, &msg);
        }
        if (off < total) {
            pool->carry_len = total - off;
            memcpy(pool->carry, buf + off, pool->carry_len);
        }
    }
}

/* An abnormal exit: remember it and start a backoff when there were too
 * many of them lately. */
static void master_service_crashed(struct master_service *svc, int64_t now_ms)
{
    if (svc->last_crash_ms != 0 && now_ms - svc->last_crash_ms > MASTER_BACKOFF_RESET_MS)
        svc->backoff_delay_ms = 0;
    svc->last_crash_ms = now_ms;
    svc->crash_ms[svc->crash_next] = now_ms;
    svc->crash_next = (svc->crash_next + 1) % MASTER_CRASH_LIMIT;
    unsigned recent = 0;
    for (unsigned i = 0; i < MASTER_CRASH_LIMIT; i++) {
        if (svc->crash_ms[i] != 0 && now_ms - svc->crash_ms[i] < MASTER_CRASH_WINDOW_MS)
            recent++;
    }
    if (recent < MASTER_CRASH_LIMIT)
        return;
    if (svc->backoff_delay_ms == 0)
        svc->backoff_delay_ms = MASTER_BACKOFF_FIRST_MS;
    else if (svc->backoff_delay_ms * 2 <= MASTER_BACKOFF_MAX_MS)
        svc->backoff_delay_ms *= 2;
    else
        svc->backoff_delay_ms = MASTER_BACKOFF_MAX_MS;
    svc->backoff_until_ms = now_ms + svc->backoff_delay_ms;
    memset(svc->crash_ms, 0, sizeof(svc->crash_ms));
    log_warning("%s %s: %d abnormal exits within %d s, backing off: no new child for %lld ms",
                master_kind_word(svc), svc->def.name, MASTER_CRASH_LIMIT,
                MASTER_CRASH_WINDOW_MS / 1000, (long long)svc->backoff_delay_ms);
}

static void master_child_exited(struct master_pool *pool, struct master_child *c, int status,
                                int64_t now_ms)
{
    struct master_service *svc = pool->service;
    const char *kind = master_kind_word(svc);
    bool abnormal = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
    if (c->terminated) {
        log_debug("%s %s: child %d stopped", kind, svc->def.name, (int)c->pid);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        log_warning("%s %s: child %d killed by signal %d (%s)%s", kind, svc->def.name,
                    (int)c->pid, sig, strsignal(sig), WCOREDUMP(status) ? ", core dumped" : "");
    } else if (abnormal) {
        log_warning("%s %s: child %d exited with status %d", kind, svc->def.name, (int)c->pid,
                    WEXITSTATUS(status));
    } else if (svc->def.kind == MASTER_KIND_DAEMON) {
        log_info("daemon %s: process %d exited; starting it again", svc->def.name, (int)c->pid);
    } else {
        log_debug("service %s: child %d exited", svc->def.name, (int)c->pid);
    }
    /* A daemon is not supposed to exit at all: every exit counts, so that
     * one exiting at once is not restarted in a tight loop. */
    if (!c->terminated && !svc->draining && (abnormal || svc->def.kind == MASTER_KIND_DAEMON))
        master_service_crashed(svc, now_ms);
    /* It may have died inside the database library (master_kv.c). */
    master_kv_child_died(svc, c->pid, status);
}

void master_children_reap(int64_t now_ms)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        if (master_kv_reaped(pid, status, now_ms))
            continue;
        bool found = false;
        for (struct master_service *svc = master_services; svc != NULL && !found;
             svc = svc->next) {
            for (size_t i = 0; i < svc->npools && !found; i++) {
                struct master_pool *pool = &svc->pools[i];
                for (struct master_child **p = &pool->children; *p != NULL; p = &(*p)->next) {
                    struct master_child *c = *p;
                    if (c->pid != pid)
                        continue;
                    *p = c->next;
                    pool->nchildren--;
                    svc->nchildren--;
                    master_child_exited(pool, c, status, now_ms);
                    free(c);
                    found = true;
                    break;
                }
            }
            if (found && svc->draining && svc->nchildren == 0) {
                log_debug("%s %s: stopped", master_kind_word(svc), svc->def.name);
                master_service_unlink(svc);
                master_service_free(svc);
                break;
            }
        }
        if (!found)
            log_debug("reaped unknown process %d", (int)pid);
    }
}

int64_t master_children_next_timer_ms(int64_t now_ms)
{
    int64_t best = -1;
    for (struct master_service *svc = master_services; svc != NULL; svc = svc->next) {
        int64_t at;
        if (!svc->draining && svc->backoff_until_ms > now_ms)
            at = svc->backoff_until_ms;
        else if (svc->draining && !svc->drain_killed)
            at = svc->term_sent_ms + MASTER_TERM_REPEAT_MS;
        else
            continue;
        int64_t wait = at > now_ms ? at - now_ms : 0;
        if (best < 0 || wait < best)
            best = wait;
    }
    return best;
}

void master_children_signal_all(int sig)
{
    for (struct master_service *svc = master_services; svc != NULL; svc = svc->next)
        master_service_signal(svc, sig);
}

unsigned master_children_count(void)
{
    unsigned n = 0;
    for (struct master_service *svc = master_services; svc != NULL; svc = svc->next)
        n += svc->nchildren;
    return n;
}

void master_services_close_listeners(void)
{
    for (struct master_service *svc = master_services; svc != NULL; svc = svc->next) {
        for (size_t i = 0; i < svc->npools; i++) {
            master_listen_close(svc->pools[i].listen_fd, svc->pools[i].address);
            svc->pools[i].listen_fd = -1;
            svc->pools[i].poll_listener = false;
        }
    }
}

void master_services_free_all(void)
{
    while (master_services != NULL) {
        struct master_service *svc = master_services;
        master_services = svc->next;
        master_service_free(svc);
    }
}
