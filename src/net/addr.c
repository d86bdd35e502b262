/* Who is at either end of a connection or listener: addresses parsed and printed, loopback,
 * the peer's address, groups and certificate subject. */
#include "net/net-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int net_parse_addr(const char *s, struct sockaddr_storage *ret)
{
    char host[256];
    const char *colon, *port;
    unsigned long p;
    char *end;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return -EINVAL;
        snprintf(host, sizeof host, "%.*s", (int)(close - s - 1), s + 1);
        port = close + 2;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host || memchr(s, ':', (size_t)(colon - s)))
            return -EINVAL;
        snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
        port = colon + 1;
    }
    errno = 0;
    p = strtoul(port, &end, 10);
    if (!*port || *end || errno || p > 65535 || *port == '-' || *port == '+')
        return -EINVAL;
    /* Numeric addresses only, and "localhost": resolving a name would block the loop, and a
     * name that changes its address under a running daemon is a surprise nobody wants. */
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    memset(ret, 0, sizeof *ret);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ret;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ret;
    if (uv_ip4_addr(host, (int)p, v4) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)p, v6) == 0)
        return 0;
    return -EINVAL;
}

bool net_addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* "1.2.3.4:80" or "[::1]:80". */
static void format_addr(const struct sockaddr_storage *ss, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "";

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(out, size, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(out, size, "%s:%u", ip, ntohs(a->sin_port));
    }
}

int net_listener_address(const struct net_listener *l, char *out, size_t size)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    if (l->h.handle.type != UV_TCP) {
        snprintf(out, size, "%s", l->path ? l->path : "");
        return 0;
    }
    int r = uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len);
    if (r < 0)
        return r;
    format_addr(&ss, out, size);
    return 0;
}

int net_conn_tls_subject(const struct net_conn *c, char *out, size_t size)
{
    return c->tls ? tls_conn_subject(c->tls, out, size) : 0;
}

bool net_conn_is_unix(const struct net_conn *c)
{
    return c->h.handle.type != UV_TCP;
}

void net_conn_peer_address(const struct net_conn *c, char *out, size_t size)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    if (net_conn_is_unix(c))
        snprintf(out, size, "unix:pid=%d", (int)c->peer.pid);
    else if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
        format_addr(&ss, out, size);
    else
        snprintf(out, size, "tcp:?");
}

int net_conn_peer_groups(const struct net_conn *c, gid_t *out, size_t max)
{
    uv_os_fd_t fd;
    socklen_t len = (socklen_t)(max * sizeof *out);

    if (!net_conn_is_unix(c) || uv_fileno(&c->h.handle, &fd) < 0)
        return -ENOTSOCK;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out, &len) < 0)
        return -errno;
    return (int)(len / sizeof *out);
}
