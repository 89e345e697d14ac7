/* net.c - sockets: listening, connecting, addresses.
 *
 * NAME
 *     net_listen, net_connect, net_set_nodelay, net_describe,
 *     net_address_is_unix, net_local_port
 *
 * DESCRIPTION
 *     The one place that turns an address string from the config
 *     ("127.0.0.1:143", "[::1]:143", "*:143", "host:port", "/path") into a
 *     socket.  "*" listens on every IPv4 and IPv6 address through one
 *     dual-stack IPv6 socket (falling back to IPv4 alone when the host has
 *     no IPv6).  Every socket is close-on-exec.  Connecting uses a
 *     non-blocking connect() and poll() so that a timeout can be applied,
 *     then returns a blocking socket.
 *
 * DIAGNOSTICS
 *     Errors come back through error_r as text naming the address; the text
 *     lives in a static buffer valid until the next net_ call.
 */
#include "net.h"
#include "str.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char net_errbuf[512];

static const char *net_err(const char *address, const char *what, int err)
{
    if (err != 0)
        snprintf(net_errbuf, sizeof(net_errbuf), "%s: %s: %s", address, what, strerror(err));
    else
        snprintf(net_errbuf, sizeof(net_errbuf), "%s: %s", address, what);
    return net_errbuf;
}

bool net_address_is_unix(const char *address)
{
    return address != NULL && address[0] == '/';
}

/* Split "host:port", "[v6]:port" or "*:port" into host and port.  host is
 * "" for "*".  Returns -1 on a malformed address. */
static int net_split(const char *address, char *host, size_t host_size, char *port,
                     size_t port_size)
{
    const char *colon;
    size_t hlen;
    const char *hstart = address;

    if (address[0] == '[') {
        const char *end = strchr(address, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        hstart = address + 1;
        hlen = (size_t)(end - hstart);
        colon = end + 1;
        if (hlen == 0)
            return -1;
    } else {
        colon = strrchr(address, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - address);
        /* An unbracketed IPv6 literal is ambiguous: refuse it. */
        if (memchr(address, ':', hlen) != NULL)
            return -1;
    }
    if (hlen >= host_size)
        return -1;
    memcpy(host, hstart, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "*") == 0)
        host[0] = '\0';
    else if (hlen == 0)
        return -1;

    const char *p = colon + 1;
    uint64_t v;
    if (str_to_u64(p, 65535, &v) < 0)
        return -1;
    if (str_copy(port, port_size, p) >= port_size)
        return -1;
    return 0;
}

static int net_unix_addr(const char *path, struct sockaddr_un *sun, const char **error_r)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (str_copy(sun->sun_path, sizeof(sun->sun_path), path) >= sizeof(sun->sun_path)) {
        *error_r = net_err(path, "unix socket path too long", 0);
        return -1;
    }
    return 0;
}

/* A path that exists: unlink it when it is a socket nobody listens on. */
static int net_unix_remove_stale(const char *path, const struct sockaddr_un *sun,
                                 const char **error_r)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        *error_r = net_err(path, "lstat", errno);
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        *error_r = net_err(path, "exists and is not a socket", 0);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error_r = net_err(path, "socket", errno);
        return -1;
    }
    int r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    int err = errno;
    close(fd);
    if (r == 0) {
        *error_r = net_err(path, "another process is listening on this socket", 0);
        return -1;
    }
    if (err != ECONNREFUSED && err != ENOENT) {
        *error_r = net_err(path, "checking for a stale socket", err);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        *error_r = net_err(path, "unlink stale socket", errno);
        return -1;
    }
    return 0;
}

static int net_listen_unix(const char *path, int backlog, const char **error_r)
{
    struct sockaddr_un sun;
    if (net_unix_addr(path, &sun, error_r) < 0)
        return -1;
    if (net_unix_remove_stale(path, &sun, error_r) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error_r = net_err(path, "socket", errno);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        *error_r = net_err(path, "bind", errno);
        close(fd);
        return -1;
    }
    if (chmod(path, 0777) < 0) {
        *error_r = net_err(path, "chmod", errno);
        close(fd);
        unlink(path);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        *error_r = net_err(path, "listen", errno);
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

static int net_listen_ai(const struct addrinfo *ai, int backlog, bool dual_stack, int *err_r,
                         const char **what_r)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err_r = errno;
        *what_r = "socket";
        return -1;
    }
    int one = 1, zero = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
        /* "*" wants both families on one socket; an explicit IPv6
         * address wants IPv6 only. */
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? &zero : &one, sizeof(int));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        *err_r = errno;
        *what_r = "bind";
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        *err_r = errno;
        *what_r = "listen";
        close(fd);
        return -1;
    }
    return fd;
}

int net_listen(const char *address, int backlog, const char **error_r)
{
    if (address == NULL || address[0] == '\0') {
        *error_r = "empty listen address";
        return -1;
    }
    if (net_address_is_unix(address))
        return net_listen_unix(address, backlog, error_r);

    char host[256], port[16];
    if (net_split(address, host, sizeof(host), port, sizeof(port)) < 0) {
        *error_r = net_err(address, "bad address (expected host:port, [v6]:port or *:port)", 0);
        return -1;
    }

    int err = 0;
    const char *what = "no usable address";
    if (host[0] == '\0') {
        /* Every address: dual-stack IPv6 first, then IPv4 alone. */
        struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                                  .ai_socktype = SOCK_STREAM };
        static const int families[] = { AF_INET6, AF_INET };
        for (size_t i = 0; i < 2; i++) {
            struct addrinfo *res = NULL;
            hints.ai_family = families[i];
            int gr = getaddrinfo(NULL, port, &hints, &res);
            if (gr != 0)
                continue;
            int fd = net_listen_ai(res, backlog, true, &err, &what);
            freeaddrinfo(res);
            if (fd >= 0)
                return fd;
            /* Only fall back to IPv4 when IPv6 itself is missing. */
            if (families[i] == AF_INET6 && err != EAFNOSUPPORT && err != EADDRNOTAVAIL
                && err != EPROTONOSUPPORT)
                break;
        }
        *error_r = net_err(address, what, err);
        return -1;
    }

    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG,
                              .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
    struct addrinfo *res = NULL;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr == EAI_ADDRFAMILY || gr == EAI_NONAME || gr == EAI_FAIL || gr == EAI_NODATA) {
        /* AI_ADDRCONFIG hides ::1 on hosts with only loopback IPv6. */
        hints.ai_flags &= ~AI_ADDRCONFIG;
        gr = getaddrinfo(host, port, &hints, &res);
    }
    if (gr != 0) {
        *error_r = net_err(address, gai_strerror(gr), 0);
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = net_listen_ai(ai, backlog, false, &err, &what);
        if (fd >= 0) {
            freeaddrinfo(res);
            return fd;
        }
    }
    freeaddrinfo(res);
    *error_r = net_err(address, what, err);
    return -1;
}

static long long net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int net_connect_unix(const char *path, int timeout_ms, const char **error_r)
{
    struct sockaddr_un sun;
    if (net_unix_addr(path, &sun, error_r) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error_r = net_err(path, "socket", errno);
        return -1;
    }
    /* A unix connect blocks only while the listener's backlog is full;
     * Linux bounds that wait by the send timeout. */
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    if (timeout_ms > 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int r;
    do {
        r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        int err = errno;
        close(fd);
        if (err == EAGAIN || err == EINPROGRESS)
            *error_r = net_err(path, "connect timed out", 0);
        else
            *error_r = net_err(path, "connect", err);
        return -1;
    }
    struct timeval zero = { 0, 0 };
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
    return fd;
}

/* One non-blocking connect attempt bounded by deadline (0 = none).
 * Returns the fd, or -1 with *err_r (ETIMEDOUT for a timeout). */
static int net_connect_ai(const struct addrinfo *ai, long long deadline, int *err_r)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    if (fd < 0) {
        *err_r = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            *err_r = errno;
            close(fd);
            return -1;
        }
        for (;;) {
            int wait = -1;
            if (deadline > 0) {
                long long left = deadline - net_now_ms();
                if (left <= 0) {
                    *err_r = ETIMEDOUT;
                    close(fd);
                    return -1;
                }
                wait = left > 1000000000 ? 1000000000 : (int)left;
            }
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            int pr = poll(&pfd, 1, wait);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr < 0) {
                *err_r = errno;
                close(fd);
                return -1;
            }
            if (pr > 0)
                break;
        }
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr != 0) {
            *err_r = soerr;
            close(fd);
            return -1;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        *err_r = errno;
        close(fd);
        return -1;
    }
    return fd;
}

int net_connect(const char *address, int timeout_ms, const char **error_r)
{
    if (address == NULL || address[0] == '\0') {
        *error_r = "empty address";
        return -1;
    }
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (net_address_is_unix(address))
        return net_connect_unix(address, timeout_ms, error_r);

    char host[256], port[16];
    if (net_split(address, host, sizeof(host), port, sizeof(port)) < 0 || host[0] == '\0') {
        *error_r = net_err(address, "bad address (expected host:port or [v6]:port)", 0);
        return -1;
    }
    struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM,
                              .ai_family = AF_UNSPEC };
    struct addrinfo *res = NULL;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr != 0) {
        *error_r = net_err(address, gai_strerror(gr), 0);
        return -1;
    }
    long long deadline = timeout_ms > 0 ? net_now_ms() + timeout_ms : 0;
    int err = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = net_connect_ai(ai, deadline, &err);
        if (fd >= 0) {
            freeaddrinfo(res);
            return fd;
        }
        if (err == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    *error_r = err == ETIMEDOUT ? net_err(address, "connect timed out", 0)
                                : net_err(address, "connect", err);
    return -1;
}

void net_set_nodelay(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        return;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Write the address as text; IPv4-mapped IPv6 addresses (from the
 * dual-stack "*" listener) are shown as plain IPv4. */
static void net_format(const struct sockaddr_storage *ss, char *ip, size_t ip_size, int *port)
{
    char tmp[INET6_ADDRSTRLEN];
    tmp[0] = '\0';
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, tmp, sizeof(tmp));
        *port = ntohs(sin->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], tmp, sizeof(tmp));
        else
            inet_ntop(AF_INET6, &sin6->sin6_addr, tmp, sizeof(tmp));
        *port = ntohs(sin6->sin6_port);
    }
    if (ip != NULL && ip_size > 0)
        str_copy(ip, ip_size, tmp);
}

bool net_describe(int fd, char *peer_ip, size_t peer_ip_size, int *peer_port, char *local_ip,
                  size_t local_ip_size, int *local_port)
{
    struct sockaddr_storage peer, local;
    socklen_t plen = sizeof(peer), llen = sizeof(local);
    int dummy;

    memset(&peer, 0, sizeof(peer));
    memset(&local, 0, sizeof(local));
    if (peer_port == NULL)
        peer_port = &dummy;
    if (local_port == NULL)
        local_port = &dummy;
    if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0)
        local.ss_family = AF_UNSPEC;
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
        peer.ss_family = AF_UNSPEC;
    net_format(&peer, peer_ip, peer_ip_size, peer_port);
    net_format(&local, local_ip, local_ip_size, local_port);
    return local.ss_family == AF_UNIX;
}

int net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int port;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        return -1;
    net_format(&ss, NULL, 0, &port);
    return port;
}
