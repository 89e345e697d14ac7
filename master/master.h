/* master.h - the pieces of master, the supervisor, and how they meet.
 *
 * NAME
 *     master - bind the listeners, prefork and restart the services
 *
 * DESCRIPTION
 *     master.c           main(): options, startup order, signals, poll loop,
 *                        shutdown
 *     master_services.c  service-NAME / daemon-NAME config values (parsed by
 *                        lib/svcdef.c) turned into struct master_service_def
 *     master_listen.c    opening and closing listening sockets
 *     master_children.c  the running services: pools of children, spawning
 *                        (fork + exec), reaping, the status pipes, backoff
 *     master_reload.c    applying a set of definitions: at startup and on
 *                        SIGHUP (keeping unchanged services untouched)
 *     master_kv.c        the health of the Berkeley DB environment: recovery,
 *                        checks after crashes, periodic checkpoints
 *     master_pidfile.c   the locked pid file
 *     master_privs.c     dropping root
 *
 *     A service with several listen addresses has one "pool" per address:
 *     a child gets exactly one listener on fd 3 (SERVICE_LISTEN_FD), so the
 *     children waiting in accept() are counted per address.  Each pool has
 *     its own status pipe (fd 4 in the children).  A daemon (daemon-NAME)
 *     is a service with one pool and no listener.
 */
#ifndef ROOST_MASTER_H
#define ROOST_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "service.h"

struct config;

/* ---- master_services.c ------------------------------------------------ */

enum master_kind {
    MASTER_KIND_SERVICE,   /* service-NAME: listeners, children accept */
    MASTER_KIND_DAEMON,    /* daemon-NAME: one long-lived process */
};

struct master_service_def {
    char *key;             /* "service-imap": for messages */
    char *name;            /* "imap": ROOST_SERVICE of the children */
    enum master_kind kind;
    /* What to execv(): argv[0] is the resolved program path, then
     * "-C" <config>, "-U" <maxfor> when maxfor > 0, then cmd's own
     * arguments; NULL-terminated. */
    char **argv;
    size_t argc;
    char **listen;         /* addresses, as written (services only) */
    size_t listen_count;
    int prefork;           /* children kept waiting in accept, per address */
    int maxchild;          /* bound on the service's children (all addresses) */
    int maxfor;            /* -U: connections per child, 0 = no limit */
};

struct master_service_defs {
    struct master_service_def *defs;
    size_t count;
};

/* Parse one definition (lib/svcdef.h has the syntax): key is
 * "service-NAME" or "daemon-NAME".  Relative program names are looked up in
 * exe_dir; config_path (absolute) is passed to the children with -C.  The
 * program is not checked here; ignored cyrus.conf options are logged.
 * Returns 0 or -1 with *error_r naming the key (valid until the next
 * call). */
int master_service_def_parse(const char *key, const char *value, const char *exe_dir,
                             const char *config_path, struct master_service_def *def_r,
                             const char **error_r);
void master_service_def_free(struct master_service_def *def);
/* True when two definitions would run the same way. */
bool master_service_def_equal(const struct master_service_def *a,
                              const struct master_service_def *b);

/* Every service-* and daemon-* key of config, parsed and checked (names
 * unique, programs executable).  Returns 0 or -1 with *error_r starting
 * with "file:line: key: " (valid until the next call). */
int master_service_defs_load(const struct config *config, const char *exe_dir,
                             const char *config_path, struct master_service_defs *defs_r,
                             const char **error_r);
void master_service_defs_free(struct master_service_defs *defs);

/* ---- master_listen.c --------------------------------------------------- */

#define MASTER_LISTEN_BACKLOG 128

/* Bind and listen on address (close-on-exec, blocking).  Returns the fd or
 * -1 with *error_r. */
int master_listen_open(const char *address, const char **error_r);
/* Close a listener; a unix socket's path is removed as well. */
void master_listen_close(int fd, const char *address);

/* ---- master_children.c ------------------------------------------------- */

/* Backoff: this many abnormal exits within the window stop the spawning of
 * that service for a delay that doubles each time, up to the maximum. */
#define MASTER_CRASH_LIMIT 5
#define MASTER_CRASH_WINDOW_MS 10000
#define MASTER_BACKOFF_FIRST_MS 1000
#define MASTER_BACKOFF_MAX_MS 30000
/* A service without abnormal exits for this long starts from the first
 * delay again. */
#define MASTER_BACKOFF_RESET_MS 60000
/* Children of a stopped service that ignore SIGTERM this long get SIGKILL. */
#define MASTER_STOP_TIMEOUT_MS 5000
/* Until then SIGTERM is sent again this often: a child that got the first
 * one just before blocking in accept() wakes up with EINTR on the next. */
#define MASTER_TERM_REPEAT_MS 500
/* A maxchild warning is repeated at most this often. */
#define MASTER_MAXCHILD_WARN_MS 60000

enum master_child_state {
    MASTER_CHILD_STARTING,   /* forked, has not said READY yet */
    MASTER_CHILD_READY,      /* waiting in accept() */
    MASTER_CHILD_BUSY,       /* serving a connection */
    MASTER_CHILD_EXITING,    /* said EXITING (max uses reached) */
};

struct master_service;

struct master_child {
    struct master_child *next;
    pid_t pid;
    enum master_child_state state;
    bool terminated;          /* master sent it SIGTERM/SIGKILL */
    int64_t started_ms;
};

struct master_pool {
    struct master_service *service;
    char *address;            /* NULL for a daemon */
    int listen_fd;            /* -1 for a daemon or once closed */
    int status_rd, status_wr; /* the status pipe */
    unsigned char carry[sizeof(struct service_status_msg)];
    size_t carry_len;
    struct master_child *children;
    unsigned nchildren;
    bool poll_listener;       /* on-demand: spawn when a connection waits */
    /* reload planning (master_reload.c) */
    struct master_pool *transfer_from; /* take this pool's listener */
    bool claimed;             /* a new pool takes this one's listener */
};

struct master_service {
    struct master_service *next;
    struct master_service_def def;
    struct master_pool *pools;
    size_t npools;
    unsigned nchildren;       /* over every pool */
    bool draining;            /* removed or replaced: waits for its children */
    int64_t draining_since_ms;
    int64_t term_sent_ms;
    bool drain_killed;        /* SIGKILL sent after MASTER_STOP_TIMEOUT_MS */
    bool kept;                /* reload planning: equal in the new config */
    /* backoff */
    int64_t crash_ms[MASTER_CRASH_LIMIT];
    unsigned crash_next;
    int64_t last_crash_ms;
    int64_t backoff_until_ms;
    int64_t backoff_delay_ms;
    int64_t maxchild_warned_ms;
};

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t master_now_ms(void);

/* The list of services: active ones and draining ones. */
struct master_service *master_services_head(void);

/* A new service (not yet in the list) for def, which it takes over (def is
 * zeroed).  Its pools get their status pipes; listeners are left to the
 * caller (master_reload.c).  Returns NULL with *error_r. */
struct master_service *master_service_new(struct master_service_def *def, const char **error_r);
/* Put svc at the end of the list. */
void master_service_add(struct master_service *svc);
/* Stop a service: close its listeners, SIGTERM its children, and drop it
 * from the list once they are gone (at once when it has none). */
void master_service_stop(struct master_service *svc, int64_t now_ms);
/* Free a service that was never added (reload failed). */
void master_service_free(struct master_service *svc);
/* The active (not draining) service of that name, or NULL. */
struct master_service *master_service_find(const char *name);

/* Fork as many children as the services want now (prefork, daemons,
 * replacements), respecting maxchild and backoff.  Sets pool->poll_listener
 * for on-demand spawning. */
void master_children_balance(int64_t now_ms);
/* A connection waits on pool's listener and nobody accepts: spawn one. */
void master_pool_on_demand(struct master_pool *pool, int64_t now_ms);
/* Read what the children wrote on pool's status pipe. */
void master_pool_read_status(struct master_pool *pool);
/* waitpid() every exited child, log abnormal exits, update backoff. */
void master_children_reap(int64_t now_ms);
/* How long until a backoff ends (-1: none pending). */
int64_t master_children_next_timer_ms(int64_t now_ms);
/* Signal every child of every service (sets their terminated flag). */
void master_children_signal_all(int sig);
/* Number of live children. */
unsigned master_children_count(void);
/* Close every listener (shutdown). */
void master_services_close_listeners(void);
/* Free every service (at exit, once no children are left). */
void master_services_free_all(void);

/* ---- master_reload.c --------------------------------------------------- */

/* Make the running services match defs (which is consumed): start the new
 * ones, stop the removed ones, restart the changed ones, leave the equal
 * ones alone.  Every new listener is bound first; when one fails nothing
 * changes and -1 is returned with *error_r.  Returns 0 and counts in
 * *summary_r (a static string) on success. */
int master_apply(struct master_service_defs *defs, const char **summary_r, const char **error_r);
/* Number of active services. */
unsigned master_active_count(void);

/* ---- master_kv.c ------------------------------------------------------- */

/* kv_env_check() gives up on a hung check after this long. */
#define MASTER_KV_CHECK_TIMEOUT_MS 5000
/* Checks after abnormal exits run at most this often (later ones are
 * merged into one). */
#define MASTER_KV_CHECK_SPACING_MS 1000
/* At most one recovery this often: a later one waits (children stay
 * stopped meanwhile). */
#define MASTER_KV_RECOVER_SPACING_MS 5000
/* Children that ignore SIGTERM this long when stopped for a recovery get
 * SIGKILL. */
#define MASTER_KV_STOP_GRACE_MS 2000
/* A checkpoint helper still running after this long is killed. */
#define MASTER_KV_CHECKPOINT_TIMEOUT_MS 60000
/* The exit status (EX_TEMPFAIL, log_fatal()) after which the environment
 * is checked, as after a death by a signal. */
#define MASTER_KV_EXIT_CHECK 75

/* The environment is in dir (copied); a checkpoint every interval_ms from
 * now on. */
void master_kv_init(const char *dir, int64_t checkpoint_interval_ms, int64_t now_ms);
/* Berkeley DB recovery of the environment (kv_env_open with KV_ENV_CREATE |
 * KV_ENV_RECOVER, then close), only while nobody else uses it.  Returns 0
 * or -1 with *error_r. */
int master_kv_recover(const char **error_r);
/* A new interval (SIGHUP). */
void master_kv_set_checkpoint_interval(int64_t interval_ms, int64_t now_ms);
/* A child of svc was reaped with status: after a death by a signal or exit
 * status MASTER_KV_EXIT_CHECK, a check of the environment is due. */
void master_kv_child_died(const struct master_service *svc, pid_t pid, int status);
/* pid was reaped: true when it was master_kv's own checkpoint helper. */
bool master_kv_reaped(pid_t pid, int status, int64_t now_ms);
/* The work due now: a check (kv_env_check, blocking for at most
 * MASTER_KV_CHECK_TIMEOUT_MS), the steps of a recovery (stop every child,
 * recover, let the services start again), a checkpoint (in a forked
 * helper).  Not called while master shuts down. */
void master_kv_tick(int64_t now_ms);
/* True while a recovery is under way: no child may be started. */
bool master_kv_recovering(void);
/* How long until master_kv_tick() has something to do (-1: nothing
 * planned; a reaped child wakes master anyway). */
int64_t master_kv_next_timer_ms(int64_t now_ms);
/* At exit, once every child is gone: let a running checkpoint finish (or
 * kill it after a while) and free what master_kv holds. */
void master_kv_shutdown(void);

/* ---- master_pidfile.c -------------------------------------------------- */

/* Open and lock path (created 0644).  Returns 0, or -1 with *error_r (also
 * when another live master holds it, naming its pid). */
int master_pidfile_lock(const char *path, const char **error_r);
/* Write our pid into the locked file.  Returns 0 or -1. */
int master_pidfile_write(const char **error_r);
/* Remove the file (or empty it when the directory does not let us). */
void master_pidfile_remove(void);

/* ---- master_privs.c ---------------------------------------------------- */

/* When running as root: look user up now (refusing when missing).
 * Returns 0 or -1 with *error_r; a no-op when not root. */
int master_privs_prepare(const char *user, const char **error_r);
/* Become the prepared user (initgroups, setgid, setuid) and check that
 * root cannot be regained.  No-op when not root or when the user is root. */
int master_privs_drop(const char **error_r);
/* The prepared uid/gid (or our own when not root), for chown. */
void master_privs_ids(uid_t *uid_r, gid_t *gid_r);

#endif
