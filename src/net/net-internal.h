/* What the files of src/net share: the listener and connection structs, the raw write, and
 * the TLS layer's hooks (tls.c), which sit between the socket and the connection's owner. */
#pragma once

#include "base/buf.h"

#include <stdbool.h>

#include "net/net.h"

#define READ_BUF_SIZE (64 * 1024)

/* A libuv stream of either family. */
union net_handle {
    uv_handle_t handle; /* common header */
    uv_stream_t stream; /* common stream part */
    uv_pipe_t pipe;     /* unix socket */
    uv_tcp_t tcp;       /* TCP */
};

/* Both structs start with their handle and then a magic number, so that a handle found by
 * uv_walk can be told apart whatever it belongs to. */
struct net_listener {
    union net_handle h; /* the listening handle */
    uint32_t magic;     /* NET_LISTENER_MAGIC */
    char *path;         /* socket path, for unlinking */
    dev_t dev;          /* device and inode of the socket we bound: we unlink only our own */
    ino_t ino;
    net_accept_fn on_accept; /* owner's callback */
    void *userdata;          /* owner's argument */
    uint8_t *read_buf;       /* shared by this listener's connections, allocated on first read */
    unsigned n_conns;        /* open connections, so the last one frees read_buf */
    bool closed;             /* net_listener_close was called */
    bool handle_gone;        /* the listening handle's close callback ran (or there is none) */
    struct net_tls *tls;     /* connections speak TLS with this (not owned), or NULL */
    uint64_t turn;           /* the loop turn (uv_now) accepts are counted in */
    unsigned turn_accepts;   /* connections accepted in it */
    uv_timer_t *resume;      /* accepts again next turn, after a turn's worth (or NULL) */
    bool resume_gone;        /* its close callback ran */
};

struct net_conn {
    union net_handle h;                     /* the connection's handle */
    uint32_t magic;                         /* NET_CONN_MAGIC: net_handle_close knows us */
    uv_shutdown_t shutdown_req;             /* used by a flushing close */
    struct net_listener *listener;          /* shares its read buffer; NULL once it is gone */
    const struct net_conn_handler *handler; /* owner's callbacks, NULL once closing */
    void *userdata;                         /* owner's argument */
    size_t pending;                         /* bytes handed to us and not yet written */
    bool writing;                           /* a uv_write is in flight */
    struct buf queued;                      /* what came meanwhile: one write once it is done */
    struct ucred peer;                      /* SO_PEERCRED at accept */
    bool uncounted;                         /* its descriptor is closed: no longer counted */
    bool reading;                           /* uv_read_start is in effect */
    bool paused;                            /* the owner asked us not to read */
    bool closing;                           /* net_conn_close was called */
    bool ended;                             /* on_end was called (EOF, or a read or write error) */
    struct tls_conn *tls;                   /* TLS state, or NULL for plaintext */
    struct net_linger *linger;              /* bounds a flushing close, while one waits */
};

/* The timer of a flushing close: its handle first (net_handle_close knows it by that and the
 * magic); it frees itself when closed. */
struct net_linger {
    uv_timer_t timer;
    uint32_t magic; /* NET_LINGER_MAGIC */
    struct net_conn *conn;
};

#define NET_CONN_MAGIC     0x6e636f6eu
#define NET_LISTENER_MAGIC 0x6e6c736eu
#define NET_LINGER_MAGIC   0x6e6c6e67u

/* Writes ciphertext (or plaintext without TLS) to the socket; takes b's storage. */
int net_raw_write(struct net_conn *c, struct buf *b);

/* tls.c */
struct tls_conn;
/* TLS for a newly accepted connection of a TLS listener. */
struct tls_conn *tls_conn_new(struct net_tls *t);
void tls_conn_free(struct tls_conn *t);
/* Bytes from the socket: decrypted and handed to the owner's on_read; -errno on a TLS error
 * (the caller ends the connection). */
int tls_conn_recv(struct net_conn *c, const uint8_t *data, size_t len);
/* Plaintext from the owner: encrypted and written (queued until the handshake is done). */
int tls_conn_send(struct net_conn *c, struct buf *b);
/* Plaintext queued before the handshake finished. */
size_t tls_conn_queued(const struct net_conn *c);
/* Queues close_notify before a flushing close. */
void tls_conn_shutdown(struct net_conn *c);
/* See net_conn_tls_subject. */
int tls_conn_subject(const struct tls_conn *t, char *out, size_t size);
