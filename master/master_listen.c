/* master_listen.c - master's listening sockets.
 *
 * DESCRIPTION
 *     Listeners are bound by master, before it drops root, with
 *     net_listen() (close-on-exec, blocking, SO_REUSEADDR; a stale unix
 *     socket is replaced).  Children get a listener as fd 3 and accept()
 *     on it themselves; master only polls it when a service spawns its
 *     children on demand (prefork=0).  Closing a unix listener removes its
 *     path, so that clients see "connection refused" at once.
 */
#include "master.h"

#include "log.h"
#include "net.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int master_listen_open(const char *address, const char **error_r)
{
    return net_listen(address, MASTER_LISTEN_BACKLOG, error_r);
}

void master_listen_close(int fd, const char *address)
{
    if (fd < 0)
        return;
    close(fd);
    if (address != NULL && net_address_is_unix(address)) {
        /* After dropping root the directory may not let us: harmless, the
         * next net_listen() replaces a stale socket. */
        if (unlink(address) < 0 && errno != ENOENT)
            log_debug("cannot remove %s: %s", address, strerror(errno));
    }
}
