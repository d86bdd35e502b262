/* The doors' transport: listening sockets and byte-stream connections on the libuv loop.
 * A connection reads into one buffer shared by all connections (the loop is single-threaded and
 * every read is handled before the next), writes by handing over heap buffers, reports how many
 * bytes are queued so protocols can apply back-pressure, and knows its peer's credentials.
 * TLS sits inside net_conn, invisible to the protocols above it; who the peer is (credentials,
 * address, certificate subject) is asked of the connection. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/buf.h"

struct net_conn;
struct net_listener;

struct net_conn_handler {
    /* Bytes from the peer; the pointer is valid only during the call. */
    void (*on_read)(struct net_conn *conn, const uint8_t *data, size_t len, void *userdata);
    /* The peer closed (error 0) or the connection failed (-errno). The owner must close it. */
    void (*on_end)(struct net_conn *conn, int error, void *userdata);
    /* Queued output went out; net_conn_pending() is lower than before. Optional. */
    void (*on_drain)(struct net_conn *conn, void *userdata);
};

/* Called for each accepted connection; the callee owns it and must set a handler or close it. */
typedef void (*net_accept_fn)(struct net_listener *l, struct net_conn *conn, void *userdata);

/* Binds a unix socket at path with the given mode and starts accepting. The parent directory
 * must exist. Returns -EADDRINUSE if a live server answers at path; a stale socket file is
 * replaced. */
int net_listen_unix(uv_loop_t *loop, const char *path, unsigned mode, net_accept_fn on_accept,
                    void *userdata, struct net_listener **ret);
/* "HOST:PORT" with a numeric IPv4 address, "[IPv6]:PORT", or "localhost:PORT" (127.0.0.1).
 * No name lookups: they would block. -EINVAL for anything else. */
int net_parse_addr(const char *s, struct sockaddr_storage *ret);
bool net_addr_is_loopback(const struct sockaddr *sa);
/* Binds a TCP socket and starts accepting; connections get TCP_NODELAY. Port 0 picks one
 * (net_listener_address tells which). */
int net_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr, net_accept_fn on_accept,
                   void *userdata, struct net_listener **ret);
/* ---- the descriptor reserve: connections never take the last descriptors ------------------ */

/* Told when the doors start refusing connections (low: fewer than the reserve of descriptors are
 * free) and when they accept again; free is how many are free now. */
typedef void (*net_fd_low_fn)(bool low, unsigned long free, void *userdata);
/* From now on every listener closes a new connection at accept while fewer than reserve
 * descriptors are free (as over a door's max_connections), so that a flood of idle connections
 * cannot keep droverd from spawning or answering. The count is /proc/self/fd's, taken at most
 * once a second and kept up to date by the connections opened and closed in between. 0 turns
 * it off (the default). */
void net_set_fd_reserve(unsigned reserve, net_fd_low_fn fn, void *userdata);

/* ---- handing a listener over to the next image (upgrade in place) ---- */

/* A duplicate (CLOEXEC) of the listening socket, for the image droverd is about to exec; from
 * then on closing the listener leaves the socket file in place, and connections that arrive after
 * the close wait in the socket's backlog for the next owner. */
int net_listener_dup(struct net_listener *l);
/* Listens on an already bound socket (a unix or TCP socket inherited across exec), as
 * net_listen_unix and net_listen_tcp would have. Takes fd, also on failure. */
int net_listen_fd(uv_loop_t *loop, int fd, net_accept_fn on_accept, void *userdata,
                  struct net_listener **ret);
/* The open listener of this loop bound at a unix socket path, or NULL (a door that keeps its
 * listener to itself, found for net_listener_dup). */
struct net_listener *net_listener_find(uv_loop_t *loop, const char *path);
/* ---- TLS (tls.c): OpenSSL on memory BIOs, inside the connection ---------------------------- */

struct net_tls;

struct net_tls_opts {
    const char *cert_path;   /* PEM certificate (chain) */
    const char *key_path;    /* PEM private key */
    bool generate;           /* neither file exists: make a self-signed pair first */
    const char *const *sans; /* with generate: names and addresses it is valid for */
    size_t n_sans;           /* their number */
    const char *alpn;        /* protocols offered, wire format ("\x08http/1.1"), or NULL */
    const char *client_ca;   /* PEM CAs: clients must present a certificate they signed (mTLS) */
};

/* A server context: TLS 1.2+, the certificate and key (generated when asked and missing:
 * ECDSA P-256, self-signed, valid from 5 minutes ago for 397 days, key file 0600). Files that
 * exist are used as they are, so a pinned certificate stays the same across restarts. -errno
 * with err filled. */
int net_tls_new(const struct net_tls_opts *o, struct net_tls **ret, char *err, size_t err_size);
void net_tls_free(struct net_tls *t);
/* Connections the listener accepts from now on speak TLS with t (which must outlive them). */
void net_listener_set_tls(struct net_listener *l, struct net_tls *t);

/* Where a listener listens: "127.0.0.1:50051", "[::1]:80", or a unix socket's path. */
int net_listener_address(const struct net_listener *l, char *out, size_t size);
/* Wraps an already connected stream socket (a socketpair end, an inherited fd). Takes fd. */
int net_conn_from_fd(uv_loop_t *loop, int fd, struct net_conn **ret);
/* Stops accepting and removes the socket file if it is still the one we bound. */
void net_listener_close(struct net_listener *l);
/* Whether something accepts connections at this unix socket path now. */
bool net_unix_alive(const char *path);

void net_conn_start(struct net_conn *c, const struct net_conn_handler *h, void *userdata);
/* Hands b's storage to the connection (b is left empty). -EPIPE once the connection is closing. */
int net_conn_write_buf(struct net_conn *c, struct buf *b);
size_t net_conn_pending(const struct net_conn *c);
void net_conn_pause(struct net_conn *c);
void net_conn_resume(struct net_conn *c);
/* Closes the connection; no handler runs after this returns, and memory goes when libuv is done
 * with the handle. Queued output is dropped unless flush is set, in which case the close waits
 * for it, for at most the linger time (a peer that never reads holds neither memory nor a
 * descriptor longer). */
void net_conn_close(struct net_conn *c, bool flush);
/* How long a flushing close waits for its peer to take the output (default 10 s); for tests. */
void net_set_linger_ms(uint32_t ms);
/* Closes any handle of a loop being torn down (for uv_walk): a connection still flushing is
 * closed with the callback that frees it; other handles are just closed. */
void net_handle_close(uv_handle_t *h);
/* The peer's credentials (SO_PEERCRED), read at accept; uid -1 on TCP. */
const struct ucred *net_conn_peer(const struct net_conn *c);
/* The peer's supplementary groups (SO_PEERGROUPS, unix sockets only): how many were written, or
 * -errno (-ERANGE when more than max). */
int net_conn_peer_groups(const struct net_conn *c, gid_t *out, size_t max);
bool net_conn_is_unix(const struct net_conn *c);
/* "127.0.0.1:40112", "[::1]:40112", or "unix:pid=N": for audit lines. */
void net_conn_peer_address(const struct net_conn *c, char *out, size_t size);
/* The verified client certificate's subject (RFC 2253: "CN=deployer,O=Acme") into out: 1 when
 * the connection is TLS with a client certificate its CA vouched for, 0 otherwise. */
int net_conn_tls_subject(const struct net_conn *c, char *out, size_t size);
