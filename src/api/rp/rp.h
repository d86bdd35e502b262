/* running-process's daemon IPC: 4-byte big-endian framed DaemonRequest/DaemonResponse on a unix
 * socket (created with mode 0600 in a directory that must be exactly 0700 and ours). */
#pragma once

#include <stdint.h>

struct api_host;
struct net_conn;
struct rp_server;

struct rp_limits {
    uint32_t max_connections; /* further connections are closed at accept */
    uint32_t idle_timeout_ms; /* a connection waiting this long for a request is closed */
};
int api_rp_listen(struct api_host *host, const char *path, const struct rp_limits *lim,
                  struct rp_server **ret);
/* A door without a socket of its own, fed connections with api_rp_accept (tests, fuzzers). */
struct rp_server *api_rp_new(struct api_host *host, const struct rp_limits *lim);
void api_rp_accept(struct rp_server *s, struct net_conn *conn);
/* Stops accepting (the socket file goes), lets requests in flight answer, closes connections
 * once their replies are written, then runs done. */
void api_rp_shutdown(struct rp_server *s, void (*done)(void *userdata), void *userdata);
void api_rp_free(struct rp_server *s);
