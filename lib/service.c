/* service.c - the frame every network daemon runs in (see service.h).
 *
 * Under master: accept on fd 3, report READY/BUSY/EXITING on fd 4, serve
 * one connection at a time, exit after -U uses or when the listener goes
 * away.  By hand: -L ADDRESS binds and serves in the foreground, -i serves
 * stdin/stdout once. */
#include "service.h"
#include "log.h"
#include "net.h"
#include "str.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct config *service_cfg;
static char service_name_buf[64];
static volatile sig_atomic_t service_stop;
/* Set while blocked in accept(): a SIGTERM arriving just before accept()
 * blocks would otherwise go unnoticed, so the handler exits directly
 * (nothing is in progress then). */
static volatile sig_atomic_t service_in_accept;

struct config *service_config(void)
{
    return service_cfg;
}

const char *service_name(void)
{
    return service_name_buf;
}

void service_setup_logging(const struct config *config, const char *name)
{
    log_init(name);
    enum log_level level;
    if (log_level_parse(config_str(config, "loglevel"), &level) == 0)
        log_set_level(level);
    const char *facility = config_str(config, "syslog_facility");
    if (facility != NULL && facility[0] != '\0' && log_use_syslog(facility) < 0)
        log_warning("unknown syslog_facility \"%s\", logging to stderr", facility);
}

static void service_report(enum service_status status)
{
    struct service_status_msg msg = {
        .magic = SERVICE_STATUS_MAGIC,
        .status = (uint32_t)status,
        .pid = (int32_t)getpid(),
    };
    /* One write of a few bytes to a pipe is atomic; master may be gone,
     * in which case EPIPE is fine (SIGPIPE is ignored). */
    ssize_t n = write(SERVICE_STATUS_FD, &msg, sizeof(msg));
    (void)n;
}

static void service_on_term(int sig)
{
    (void)sig;
    service_stop = 1;
    if (service_in_accept)
        _exit(0);
}

static void service_fill_conn(struct service_conn *conn, int fd, bool implicit_tls)
{
    memset(conn, 0, sizeof(*conn));
    conn->fd = fd;
    conn->implicit_tls = implicit_tls;
    conn->is_unix = net_describe(fd, conn->peer_ip, sizeof(conn->peer_ip), &conn->peer_port,
                                 conn->local_ip, sizeof(conn->local_ip), &conn->local_port);
}

static void service_serve_fd(const struct service_def *def, int fd, bool implicit_tls)
{
    struct service_conn conn;
    service_fill_conn(&conn, fd, implicit_tls);
    net_set_nodelay(fd);
    log_new_session();
    if (conn.is_unix)
        log_debug("connection on unix socket");
    else
        log_debug("connection from %s:%d", conn.peer_ip, conn.peer_port);
    def->serve(&conn);
    close(fd);
    log_set_session(NULL);
}

/* accept() on listen_fd until max_uses connections are served (0 = no
 * limit) or a stop is requested. */
static int service_accept_loop(const struct service_def *def, int listen_fd, bool under_master,
                               unsigned long max_uses, bool implicit_tls)
{
    unsigned long uses = 0;
    while (!service_stop && (max_uses == 0 || uses < max_uses)) {
        if (under_master)
            service_report(SERVICE_STATUS_READY);
        service_in_accept = 1;
        if (service_stop) {
            service_in_accept = 0;
            break;
        }
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        service_in_accept = 0;
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK) {
                /* master closed the listener: nothing more to do. */
                break;
            }
            if (errno == EMFILE || errno == ENFILE) {
                log_error("accept: %s", strerror(errno));
                sleep(1);
                continue;
            }
            log_error("accept: %s", strerror(errno));
            return 75;
        }
        if (under_master)
            service_report(SERVICE_STATUS_BUSY);
        uses++;
        service_serve_fd(def, fd, implicit_tls);
    }
    if (under_master)
        service_report(SERVICE_STATUS_EXITING);
    return 0;
}

static void service_usage(const char *prog, const struct service_def *def)
{
    fprintf(stderr,
            "usage: %s [-C config] [-L address | -i] [-s] [-U uses] [-D]%s%s\n"
            "  -C config   configuration file (default: $ROOST_CONFIG or " CONFIG_DEFAULT_PATH ")\n"
            "  -L address  serve in the foreground on address (host:port or /unix/path)\n"
            "  -i          serve one connection on stdin/stdout\n"
            "  -s          connections start with TLS (imaps, pop3s, smtps)\n"
            "  -U uses     exit after this many connections\n"
            "  -D          debug logging\n",
            prog, def->extra_opts != NULL ? " [program options]" : "", "");
}

int service_main(int argc, char **argv, const struct service_def *def)
{
    const char *config_opt = NULL, *listen_addr = NULL;
    bool inetd = false, implicit_tls = false, debug = false;
    unsigned long max_uses = 0;

    char optstring[64];
    snprintf(optstring, sizeof(optstring), "C:L:isU:D%s",
             def->extra_opts != NULL ? def->extra_opts : "");
    int c;
    while ((c = getopt(argc, argv, optstring)) != -1) {
        switch (c) {
        case 'C': config_opt = optarg; break;
        case 'L': listen_addr = optarg; break;
        case 'i': inetd = true; break;
        case 's': implicit_tls = true; break;
        case 'D': debug = true; break;
        case 'U': {
            uint64_t v;
            if (str_to_u64(optarg, 1000000000, &v) < 0) {
                fprintf(stderr, "%s: bad -U value\n", argv[0]);
                return 64;
            }
            max_uses = (unsigned long)v;
            break;
        }
        case '?':
            service_usage(argv[0], def);
            return 64;
        default:
            if (def->option == NULL || def->option(c, optarg) < 0) {
                service_usage(argv[0], def);
                return 64;
            }
        }
    }

    const char *env_name = getenv("ROOST_SERVICE");
    bool under_master = env_name != NULL && env_name[0] != '\0' && listen_addr == NULL && !inetd;
    snprintf(service_name_buf, sizeof(service_name_buf), "%s",
             env_name != NULL && env_name[0] != '\0' ? env_name : def->name);
    log_init(service_name_buf);

    const char *path = config_path_resolve(config_opt);
    const char *error;
    if (config_load(path, &service_cfg, &error) < 0) {
        log_error("%s", error);
        return 75;
    }
    service_setup_logging(service_cfg, service_name_buf);
    if (debug)
        log_set_level(LOG_LEVEL_DEBUG);

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = service_on_term;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocked accept() returns EINTR and the loop ends. */
    sigaction(SIGTERM, &sa, NULL);

    if (def->init != NULL && def->init(service_cfg, argc - optind, argv + optind) < 0)
        return 75;

    int ret;
    if (inetd) {
        /* stdin and stdout are the same socket under inetd; with a pipe pair
         * only fd 0 is read and written, which is what socket users need. */
        service_serve_fd(def, dup(STDIN_FILENO), implicit_tls);
        ret = 0;
    } else if (listen_addr != NULL) {
        int fd = net_listen(listen_addr, 64, &error);
        if (fd < 0) {
            log_error("%s", error);
            return 75;
        }
        log_info("serving in the foreground on %s", listen_addr);
        ret = service_accept_loop(def, fd, false, max_uses, implicit_tls);
        close(fd);
    } else if (under_master) {
        ret = service_accept_loop(def, SERVICE_LISTEN_FD, true, max_uses, implicit_tls);
    } else {
        log_error("not started by master: use -L address to serve in the foreground, or -i");
        ret = 64;
    }
    config_free(&service_cfg);
    return ret;
}
