/* service.h - the frame every network daemon runs in.
 *
 * A service program's main() fills a struct service_def and calls
 * service_main().  It runs in one of three ways:
 *
 *  - under master (the normal case): master execs the program with the
 *    listening socket on fd SERVICE_LISTEN_FD and the write end of the
 *    service's status pipe on fd SERVICE_STATUS_FD, and the environment
 *    variable ROOST_SERVICE=<service name>.  The child accepts and serves
 *    one connection at a time, telling master through the status pipe when
 *    it is ready (waiting in accept) and when it is busy, and exits after
 *    -U uses (0 = no limit) or when master closes the listener.
 *  - in the foreground for debugging: "-L 127.0.0.1:1143" (or a unix socket
 *    path) binds that address itself and serves connections one after the
 *    other, logging to stderr.
 *  - inetd style: "-i" serves a single connection on stdin/stdout.
 *
 * Options handled here: -C config, -L address, -i, -s (implicit TLS: the
 * connection starts with a TLS handshake), -U max uses, -D (debug logging).
 * Any other option letters listed in def->extra_opts go to def->option.
 */
#ifndef ROOST_SERVICE_H
#define ROOST_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

#define SERVICE_LISTEN_FD 3
#define SERVICE_STATUS_FD 4

/* One message on the status pipe; written in one write() (atomic). */
#define SERVICE_STATUS_MAGIC 0x52535354u  /* "RSST" */
enum service_status {
    SERVICE_STATUS_READY = 1,    /* waiting in accept() */
    SERVICE_STATUS_BUSY = 2,     /* serving a connection */
    SERVICE_STATUS_EXITING = 3,  /* about to exit normally (max uses reached) */
};
struct service_status_msg {
    uint32_t magic;
    uint32_t status;
    int32_t pid;
};

struct service_conn {
    int fd;
    bool implicit_tls;        /* -s: start with a TLS handshake */
    bool is_unix;             /* a unix-domain socket */
    char peer_ip[64];         /* "" for unix sockets */
    int peer_port;
    char local_ip[64];
    int local_port;
};

struct service_def {
    const char *name;              /* for logs when ROOST_SERVICE is unset */
    const char *extra_opts;        /* getopt letters of the program's own */
    /* Called for each extra option before init; return -1 to fail. */
    int (*option)(int opt, const char *arg);
    /* Once per process after the config is loaded; return -1 (with a log
     * line) to exit.  argv holds the arguments left after the options. */
    int (*init)(struct config *config, int argc, char **argv);
    /* Serve one connection.  The frame closes conn->fd afterwards. */
    void (*serve)(struct service_conn *conn);
};

/* Parses the options, loads the config, sets up logging, calls init and
 * serves; returns the process exit status. */
int service_main(int argc, char **argv, const struct service_def *def);

/* The config of the running service (after service_main loaded it). */
struct config *service_config(void);
/* The service name (ROOST_SERVICE or def->name). */
const char *service_name(void);

/* Set up logging the way every Roost program does: name, level from
 * "loglevel", syslog when "syslog_facility" is set. */
void service_setup_logging(const struct config *config, const char *name);

#endif
