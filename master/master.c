/* master.c - Roost's supervisor: startup, signals and the event loop.
 *
 * SYNOPSIS
 *     master [-C config] [-p pidfile] [-D]
 *
 * DESCRIPTION
 *     master reads the one imapd.conf-syntax config (-C, else $ROOST_CONFIG,
 *     else /etc/roost/imapd.conf), starts every service-NAME and daemon-NAME
 *     it defines (syntax: lib/svcdef.h) and keeps them running.  It
 *     stays in the foreground (run it under systemd or `make run`) and logs
 *     to stderr unless syslog_facility is set.  -D: debug logging.
 *
 *     Startup, in this order:
 *       1. load the config; any error ends master with the file and line;
 *       2. look up cyrus_user when running as root (missing: refuse);
 *       3. configdirectory: created (mode 0750, owned by cyrus_user when
 *          running as root) when missing, as long as its parent exists;
 *       4. parse the service definitions, check their programs;
 *       5. lock the pid file (-p, else master_pidfile): another live master
 *          holding it makes this one refuse to start;
 *       6. bind every listener;
 *       7. as root: become cyrus_user (initgroups, setgid, setuid);
 *       8. Berkeley DB recovery of the environment in configdirectory
 *          (kv_env_open with KV_ENV_RECOVER, then close), before any child
 *          runs;
 *       9. write the pid file, fork the first children, and log
 *          "master ready: N services".
 *
 *     Signals:
 *       SIGTERM, SIGINT  close the listeners, SIGTERM every child (again every
 *                        MASTER_TERM_REPEAT_MS), wait up to MASTER_SHUTDOWN_MS,
 *                        SIGKILL what is left, remove the pid file, log
 *                        "master exiting" and exit 0.
 *       SIGHUP           read the config again: removed services are stopped,
 *                        new ones started, changed ones restarted; unchanged
 *                        ones keep their listeners and children.  A config
 *                        that does not load (or a listener that cannot be
 *                        bound) is logged and the old configuration stays.
 *                        Listeners needing root cannot be added after the
 *                        drop; master_pidfile, cyrus_user and configdirectory
 *                        are only read at startup.
 *       SIGCHLD          children are reaped and replaced (master_children.c
 *                        has the spawning rules and the crash backoff).
 *                        After a death by a signal or exit status 75 the
 *                        database environment is checked, and recovered
 *                        (every child stopped first) when it needs it;
 *                        a checkpoint runs every kv_checkpoint_interval
 *                        seconds (master_kv.c).
 *     SIGPIPE is ignored.
 *
 * DEBUGGING ONE SERVICE
 *     Every service program can run alone in the foreground, without
 *     master, with the options of lib/service.h:
 *         build/bin/imapd -C var/imapd.conf -L 127.0.0.1:1143 -D
 *     binds that address itself and serves one connection after the other
 *     (easy to run under gdb or valgrind); -i serves one connection on
 *     stdin/stdout.
 *
 * EXIT STATUS
 *     0 after SIGTERM/SIGINT; 1 when startup fails (the reason is logged);
 *     64 for a usage error.
 */
#include "master.h"

#include "config.h"
#include "log.h"
#include "service.h"
#include "str.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long children get to exit after SIGTERM at shutdown. */
#define MASTER_SHUTDOWN_MS 5000
/* And after SIGKILL, before master gives up waiting. */
#define MASTER_KILL_WAIT_MS 2000

static volatile sig_atomic_t master_got_term, master_got_hup;
static int master_sigpipe[2] = {-1, -1};

static struct config *master_config;
static char master_config_path[PATH_MAX];
static char master_exe_dir[PATH_MAX];
static bool master_debug;

static void master_on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGTERM || sig == SIGINT)
        master_got_term = 1;
    else if (sig == SIGHUP)
        master_got_hup = 1;
    ssize_t n = write(master_sigpipe[1], "", 1);
    (void)n;
    errno = saved;
}

static void master_signals_setup(void)
{
    if (pipe2(master_sigpipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("pipe: %s", strerror(errno));
        exit(1);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = master_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void master_signals_drain(void)
{
    char buf[64];
    while (read(master_sigpipe[0], buf, sizeof(buf)) > 0)
        ;
}

static _Noreturn void master_startup_failed(void)
{
    master_kv_shutdown();
    master_services_free_all();
    master_pidfile_remove();
    config_free(&master_config);
    exit(1);
}

/* Where our own executable is: relative program names are found there. */
static void master_find_exe_dir(void)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0 || (size_t)n >= sizeof(path) - 1) {
        log_error("cannot find master's own executable (/proc/self/exe): %s",
                  n < 0 ? strerror(errno) : "path too long");
        master_startup_failed();
    }
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path)
        str_copy(master_exe_dir, sizeof(master_exe_dir), "/");
    else {
        *slash = '\0';
        str_copy(master_exe_dir, sizeof(master_exe_dir), path);
    }
}

/* configdirectory must be a directory; a missing one is created (only the
 * last component) and given to cyrus_user. */
static void master_check_configdir(const char *dir)
{
    struct stat st;
    if (dir == NULL || dir[0] != '/') {
        log_error("%s: configdirectory must be an absolute path", config_file(master_config));
        master_startup_failed();
    }
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            log_error("configdirectory %s is not a directory", dir);
            master_startup_failed();
        }
        return;
    }
    if (errno != ENOENT || mkdir(dir, 0750) < 0) {
        log_error("configdirectory %s: %s (create it, or its parent)", dir, strerror(errno));
        master_startup_failed();
    }
    uid_t uid;
    gid_t gid;
    master_privs_ids(&uid, &gid);
    if (geteuid() == 0 && chown(dir, uid, gid) < 0) {
        log_error("configdirectory %s: chown: %s", dir, strerror(errno));
        master_startup_failed();
    }
    log_info("created configdirectory %s", dir);
}

/* kv_checkpoint_interval, in milliseconds. */
static int64_t master_checkpoint_interval_ms(void)
{
    return config_int(master_config, "kv_checkpoint_interval") * 1000;
}

static void master_reload(void)
{
    struct config *config;
    struct master_service_defs defs;
    const char *error, *summary;

    log_info("SIGHUP: reading %s again", master_config_path);
    if (config_load(master_config_path, &config, &error) < 0) {
        log_error("reload failed, keeping the old configuration: %s", error);
        return;
    }
    if (master_service_defs_load(config, master_exe_dir, master_config_path, &defs, &error) < 0) {
        log_error("reload failed, keeping the old configuration: %s", error);
        config_free(&config);
        return;
    }
    if (master_apply(&defs, &summary, &error) < 0) {
        log_error("reload failed, keeping the old configuration: %s", error);
        config_free(&config);
        return;
    }
    config_free(&master_config);
    master_config = config;
    service_setup_logging(master_config, "master");
    if (master_debug)
        log_set_level(LOG_LEVEL_DEBUG);
    master_kv_set_checkpoint_interval(master_checkpoint_interval_ms(), master_now_ms());
    log_info("reloaded: %s", summary);
}

struct master_pollset {
    struct pollfd *fds;
    struct master_pool **pools;   /* NULL for the signal pipe */
    bool *is_listener;
    size_t count, alloc;
};

static void master_pollset_add(struct master_pollset *ps, int fd, struct master_pool *pool,
                               bool is_listener)
{
    if (ps->count == ps->alloc) {
        ps->alloc = ps->alloc == 0 ? 16 : ps->alloc * 2;
        ps->fds = xreallocarray(ps->fds, ps->alloc, sizeof(*ps->fds));
        ps->pools = xreallocarray(ps->pools, ps->alloc, sizeof(*ps->pools));
        ps->is_listener = xreallocarray(ps->is_listener, ps->alloc, sizeof(*ps->is_listener));
    }
    ps->fds[ps->count] = (struct pollfd){.fd = fd, .events = POLLIN};
    ps->pools[ps->count] = pool;
    ps->is_listener[ps->count] = is_listener;
    ps->count++;
}

static void master_pollset_build(struct master_pollset *ps)
{
    ps->count = 0;
    master_pollset_add(ps, master_sigpipe[0], NULL, false);
    for (struct master_service *svc = master_services_head(); svc != NULL; svc = svc->next) {
        for (size_t i = 0; i < svc->npools; i++) {
            struct master_pool *pool = &svc->pools[i];
            master_pollset_add(ps, pool->status_rd, pool, false);
            if (pool->poll_listener && pool->listen_fd >= 0)
                master_pollset_add(ps, pool->listen_fd, pool, true);
        }
    }
}

static int master_poll_timeout(int64_t wait_ms)
{
    if (wait_ms < 0)
        return -1;
    return wait_ms > INT_MAX ? INT_MAX : (int)wait_ms;
}

/* Runs until SIGTERM/SIGINT and every child is gone. */
static void master_loop(void)
{
    struct master_pollset ps = {0};
    bool stopping = false, killed = false;
    int64_t deadline = 0, term_sent = 0;

    for (;;) {
        int64_t now = master_now_ms();
        if (master_got_term && !stopping) {
            stopping = true;
            log_info("master stopping: %u children to stop", master_children_count());
            master_services_close_listeners();
            master_children_signal_all(SIGTERM);
            deadline = now + MASTER_SHUTDOWN_MS;
            term_sent = now;
        }
        if (master_got_hup) {
            master_got_hup = 0;
            if (!stopping)
                master_reload();
        }
        master_children_reap(now);

        int64_t wait_ms;
        if (stopping) {
            if (master_children_count() == 0)
                break;
            if (now >= deadline) {
                if (killed) {
                    log_error("%u children did not die after SIGKILL; exiting anyway",
                              master_children_count());
                    break;
                }
                log_warning("%u children still running %d ms after SIGTERM: sending SIGKILL",
                            master_children_count(), MASTER_SHUTDOWN_MS);
                master_children_signal_all(SIGKILL);
                killed = true;
                deadline = now + MASTER_KILL_WAIT_MS;
            } else if (!killed && now - term_sent >= MASTER_TERM_REPEAT_MS) {
                master_children_signal_all(SIGTERM);
                term_sent = now;
            }
            wait_ms = deadline - now;
            if (!killed && term_sent + MASTER_TERM_REPEAT_MS - now < wait_ms)
                wait_ms = term_sent + MASTER_TERM_REPEAT_MS - now;
        } else {
            master_kv_tick(now);
            now = master_now_ms();
            master_children_balance(now);
            wait_ms = master_children_next_timer_ms(now);
            int64_t kv_wait = master_kv_next_timer_ms(now);
            if (kv_wait >= 0 && (wait_ms < 0 || kv_wait < wait_ms))
                wait_ms = kv_wait;
        }

        master_pollset_build(&ps);
        int rc = poll(ps.fds, ps.count, master_poll_timeout(wait_ms));
        if (rc < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            continue;
        }
        now = master_now_ms();
        for (size_t i = 0; rc > 0 && i < ps.count; i++) {
            if (ps.fds[i].revents == 0)
                continue;
            if (ps.pools[i] == NULL)
                master_signals_drain();
            else if (ps.is_listener[i])
                master_pool_on_demand(ps.pools[i], now);
            else
                master_pool_read_status(ps.pools[i]);
        }
    }
    free(ps.fds);
    free(ps.pools);
    free(ps.is_listener);
}

static void master_usage(void)
{
    fprintf(stderr,
            "usage: master [-C config] [-p pidfile] [-D]\n"
            "  -C config   configuration file (default: $ROOST_CONFIG or " CONFIG_DEFAULT_PATH ")\n"
            "  -p pidfile  pid file (default: the master_pidfile key)\n"
            "  -D          debug logging\n");
}

int main(int argc, char **argv)
{
    const char *config_opt = NULL, *pidfile_opt = NULL, *error;
    int c;

    log_init("master");
    while ((c = getopt(argc, argv, "C:p:Dh")) != -1) {
        switch (c) {
        case 'C': config_opt = optarg; break;
        case 'p': pidfile_opt = optarg; break;
        case 'D': master_debug = true; break;
        default:
            master_usage();
            return 64;
        }
    }
    if (optind != argc) {
        master_usage();
        return 64;
    }
    if (master_debug)
        log_set_level(LOG_LEVEL_DEBUG);

    /* 1. the config */
    const char *path = config_path_resolve(config_opt);
    if (config_load(path, &master_config, &error) < 0) {
        log_error("%s", error);
        return 1;
    }
    if (realpath(path, master_config_path) == NULL) {
        log_error("%s: %s", path, strerror(errno));
        master_startup_failed();
    }
    service_setup_logging(master_config, "master");
    if (master_debug)
        log_set_level(LOG_LEVEL_DEBUG);
    master_find_exe_dir();

    /* 2, 3. configdirectory and the user to become */
    if (master_privs_prepare(config_str(master_config, "cyrus_user"), &error) < 0) {
        log_error("%s", error);
        master_startup_failed();
    }
    const char *configdir = config_str(master_config, "configdirectory");
    master_check_configdir(configdir);

    /* 4. the services */
    struct master_service_defs defs;
    if (master_service_defs_load(master_config, master_exe_dir, master_config_path, &defs,
                                 &error) < 0) {
        log_error("%s", error);
        master_startup_failed();
    }

    /* 5. the pid file */
    const char *pidfile = pidfile_opt != NULL ? pidfile_opt
                                              : config_str(master_config, "master_pidfile");
    if (pidfile != NULL && pidfile[0] != '\0' && master_pidfile_lock(pidfile, &error) < 0) {
        log_error("%s", error);
        master_service_defs_free(&defs);
        config_free(&master_config);
        return 1;
    }

    /* 6. the listeners */
    master_signals_setup();
    const char *summary;
    if (master_apply(&defs, &summary, &error) < 0) {
        log_error("%s", error);
        master_startup_failed();
    }

    /* 7, 8, 9 */
    if (master_privs_drop(&error) < 0) {
        log_error("dropping root: %s", error);
        master_startup_failed();
    }
    master_kv_init(configdir, master_checkpoint_interval_ms(), master_now_ms());
    if (master_kv_recover(&error) < 0) {
        log_error("%s", error);
        master_startup_failed();
    }
    log_debug("database environment in %s recovered", configdir);
    if (master_pidfile_write(&error) < 0) {
        log_error("%s", error);
        master_startup_failed();
    }
    master_children_balance(master_now_ms());
    log_info("master ready: %u services", master_active_count());

    master_loop();

    master_kv_shutdown();
    master_services_free_all();
    master_pidfile_remove();
    config_free(&master_config);
    close(master_sigpipe[0]);
    close(master_sigpipe[1]);
    log_info("master exiting");
    return 0;
}
