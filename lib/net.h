/* net.h - sockets: listening, connecting, addresses.
 *
 * Addresses are written the way the config writes them:
 *   "127.0.0.1:1143", "[::1]:1143", "*:143" (all IPv4 and IPv6),
 *   "localhost:2424", or an absolute path "/var/run/lmtp" for a unix socket. */
#ifndef ROOST_NET_H
#define ROOST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Bind and listen (SO_REUSEADDR, close-on-exec, blocking).  A unix socket
 * path is unlinked first if a stale socket is there, and made mode 0777
 * (access is controlled by the directory).  Returns the fd, or -1 with
 * *error_r set. */
int net_listen(const char *address, int backlog, const char **error_r);
/* Connect (blocking, with a timeout in milliseconds, 0 = none).  Returns the
 * fd or -1 with *error_r set. */
int net_connect(const char *address, int timeout_ms, const char **error_r);
/* TCP_NODELAY on TCP sockets (no-op on unix sockets). */
void net_set_nodelay(int fd);
/* Fill ip/port of the peer and local end; "" and 0 for unix sockets.
 * Returns true when fd is a unix-domain socket. */
bool net_describe(int fd, char *peer_ip, size_t peer_ip_size, int *peer_port, char *local_ip,
                  size_t local_ip_size, int *local_port);
/* True for an address string that names a unix socket. */
bool net_address_is_unix(const char *address);
/* The local TCP port of a socket (after binding to port 0, say); -1 for a
 * unix socket or an fd that is not a socket. */
int net_local_port(int fd);

#endif
