/* Length-prefixed frames: a 4-byte big-endian payload length, then the payload. The
 * running-process IPC frames every message this way. The helpers at the top are pure code,
 * shared by droverd's door, the compatibility client and the fuzzers; below them, a server of
 * such frames on the loop (framed.c), which knows nothing of what the frames carry. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <protobuf-c/protobuf-c.h>

#include "base/buf.h"

#define LENFRAME_HEADER 4

/* Looks at the bytes at p: 1 when a whole frame (header + *ret_len payload bytes) is there, 0
 * when more bytes are needed, -EMSGSIZE when the announced length is over max (the stream cannot
 * be resynchronised after that). *ret_len is set whenever the header is complete. */
int lenframe_next(const uint8_t *p, size_t len, uint32_t max, uint32_t *ret_len);
/* Appends the header for a payload of len bytes. */
int lenframe_append_header(struct buf *b, uint32_t len);
/* Appends a whole frame: the header, then msg packed. -EMSGSIZE past 4 GiB, -ENOBUFS/-ENOMEM
 * when b cannot take it (b is then as it was). */
int lenframe_append_message(struct buf *b, const ProtobufCMessage *msg);

/* ---- a server of framed connections (framed.c) ---------------------------------------------
 *
 * It accepts on a unix socket, or takes connections handed to it, and hands each connection's
 * frames to its owner one at a time, in order. What it enforces for every connection:
 * max_connections (a connection past it is still handed over, marked refused, for the owner to
 * answer once and close), an idle timeout, a cap on the frame size, and back-pressure: frames
 * stop being handed over while out_high bytes of output wait for the peer, and the socket stops
 * being read while that lasts or a whole frame's worth of input is buffered. A peer that never
 * reads costs the mark and no more.
 *
 * on_frame is never called from inside another of the connection's callbacks, and closing from
 * inside one is safe: the close happens when the outermost callback returns, after the output
 * queued so far is written, and never while the connection is held (a held connection owes its
 * peer an answer). on_close then runs exactly once; after it, the connection must not be used.
 * Functions called on a connection from outside its callbacks (a timer answering a held
 * request, a session with new output) act at once: lenframe_conn_release, _resume, _pause and
 * _close may run the connection's callbacks, on_close included, before they return, so the
 * caller must not touch its state for the connection afterwards. */

struct lenframe_server;
struct lenframe_conn;
struct net_conn;

struct lenframe_limits {
    uint32_t max_frame;       /* payload cap: a larger announced frame goes to on_oversize */
    uint32_t max_connections; /* connections past this many are refused (lenframe_conn_refused) */
    uint32_t idle_timeout_ms; /* a connection with no frame for this long is closed; 0: never */
    uint32_t refused_idle_ms; /* the same for a refused connection */
    uint32_t out_high;        /* stop handing frames over while this much output waits */
};

/* on_frame's answer when it cannot take the frame now: the frame stays buffered and is handed
 * over again once the owner resumes the connection. The owner pauses it first (resumed before
 * on_frame returns, the frame is handed straight back). */
#define LENFRAME_LATER 1

struct lenframe_handler {
    /* A new connection. userdata is the server's; the owner may give the connection its own
     * (lenframe_conn_set_data), which the other callbacks then get. -errno closes it at once,
     * without on_close. */
    int (*on_open)(struct lenframe_conn *c, void *userdata);
    /* One whole frame; p is valid only during the call. 0, or LENFRAME_LATER. */
    int (*on_frame)(struct lenframe_conn *c, const uint8_t *p, uint32_t len, void *data);
    /* The next frame announces len bytes, over max_frame: nothing after it can be read. The
     * owner may write an answer; the connection then closes. Optional. */
    void (*on_oversize)(struct lenframe_conn *c, uint32_t len, void *data);
    /* Streaming connections only: output went out, lenframe_conn_pending is lower. */
    void (*on_drain)(struct lenframe_conn *c, void *data);
    /* The server is shutting down: a last word to the peer, if any. The connection closes once
     * it is no longer held. Optional. */
    void (*on_shutdown)(struct lenframe_conn *c, void *data);
    /* The connection is gone (closed by anyone, the peer, an error or the idle timer). */
    void (*on_close)(struct lenframe_conn *c, void *data);
};

/* How lenframe_server_listen makes its socket. */
struct lenframe_listen_opts {
    unsigned mode;    /* the socket file's mode (0600) */
    bool private_dir; /* the socket's directory must be ours with mode 0700 exactly: made so if
                         missing; anything else refuses (the permissions keep others out) */
    const char *what; /* what the socket is, for error messages ("running-process socket") */
};

/* NULL only on out-of-memory. h and userdata must outlive the server. */
struct lenframe_server *lenframe_server_new(uv_loop_t *loop, const struct lenframe_limits *lim,
                                            const struct lenframe_handler *h, void *userdata);
/* Listens on a unix socket at path. -errno with err filled (without strerror). */
int lenframe_server_listen(struct lenframe_server *s, const char *path,
                           const struct lenframe_listen_opts *o, char *err, size_t err_size);
/* Serves a connection made elsewhere (a socketpair end from tests and fuzzers). */
void lenframe_server_accept(struct lenframe_server *s, struct net_conn *conn);
/* Stops listening (the socket file goes), tells every connection (on_shutdown), closes each once
 * it is no longer held and its output is written, then runs done. */
void lenframe_server_shutdown(struct lenframe_server *s, void (*done)(void *userdata),
                              void *userdata);
/* Closes every connection now (output dropped; on_close runs for each) and frees the server.
 * Not from inside its callbacks. */
void lenframe_server_free(struct lenframe_server *s);

void lenframe_conn_set_data(struct lenframe_conn *c, void *data);
/* The socket, for who the peer is. */
struct net_conn *lenframe_conn_net(const struct lenframe_conn *c);
/* Accepted past max_connections: not counted, and idle only refused_idle_ms. */
bool lenframe_conn_refused(const struct lenframe_conn *c);
/* Queues b's whole frames (its storage is taken; b is left empty). An error means the bytes
 * are lost: the owner should close rather than let the peer wait for them. */
int lenframe_conn_write(struct lenframe_conn *c, struct buf *b);
/* Queues msg as one frame. */
int lenframe_conn_send(struct lenframe_conn *c, const ProtobufCMessage *msg);
/* Output bytes not yet written to the peer. */
size_t lenframe_conn_pending(const struct lenframe_conn *c);
/* Holds the connection while the frame just handed over waits for an answer: no frame is handed
 * over, no idle timeout runs and no close happens until lenframe_conn_release. */
void lenframe_conn_hold(struct lenframe_conn *c);
void lenframe_conn_release(struct lenframe_conn *c);
/* The connection becomes a stream for the rest of its life: no idle timeout, frames handed over
 * whatever the output backlog, and on_drain as output goes out. */
void lenframe_conn_stream(struct lenframe_conn *c);
/* Stops handing frames over and reading, until lenframe_conn_resume. A peer that ends its side
 * while paused is closed without the rest of its frames. */
void lenframe_conn_pause(struct lenframe_conn *c);
void lenframe_conn_resume(struct lenframe_conn *c);
/* Closes the connection once it is not held, after its queued output is written. */
void lenframe_conn_close(struct lenframe_conn *c);
