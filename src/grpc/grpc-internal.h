/* What the files of the gRPC server share, private to src/grpc/: the server, connection and call
 * structs, and the few functions one file calls in another.
 *
 * server.c owns the server, its connections (one nghttp2 session each), the service registry and
 * shutdown; call.c owns a call's life from its stream's first HEADERS to its close, and the
 * response side (send queue, finishing, trailers); request.c owns the request side (headers,
 * metadata, method resolution, deframing and decoding) and the nghttp2 callbacks that feed it.
 *
 * A call lives on its connection's list from grpc_call_new (request HEADERS begin) until
 * grpc_call_free (stream closed, or connection closed); a connection lives on its server's list
 * from grpc_server_accept until it is closed. Neither is freed while an nghttp2 callback runs on
 * it: frees happen from nghttp2's stream-close callback or from top-level contexts. */
#pragma once

#include <nghttp2/nghttp2.h>
#include <string.h>

#include "base/list.h"
#include "grpc/grpc.h"

/* An nghttp2 header from a literal name and a NUL-terminated value. */
#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

/* In the flag byte of a frame in a call's queue (0 or 1 on the wire): the message is in its
 * carrier's encoding, written by the carrier's encode hook (call.c). Only carried calls have
 * such frames, and their queue never goes out on HTTP/2. */
#define GRPC_FRAME_CARRIED 0x80

struct metadata {
    char *key;   /* lowercase header name */
    char *value; /* NUL-terminated; -bin values decoded (and may contain NULs) */
    size_t len;  /* bytes in value */
};

struct service_entry {
    const struct grpc_service *svc; /* the face's table */
    void *userdata;                 /* the face's state */
};

struct gconn;

struct grpc_call {
    struct grpc_server *srv;             /* the server */
    struct gconn *conn;                  /* the HTTP/2 connection of this stream, or NULL: */
    const struct grpc_carrier *carrier;  /* ...what carries the call instead (carry.c) */
    void *carrier_io;                    /* the carrier's argument */
    void *door;                          /* what the door said, for the authorizer */
    struct net_conn *nc;                 /* the peer's connection */
    DLIST_LINK(grpc_call) dirty_link;    /* carried: in the server's list of calls to wake */
    int32_t stream_id;                   /* HTTP/2 stream */
    const struct grpc_method *method;    /* resolved when the request headers end */
    const struct service_entry *service; /* the method's service */
    char *path;                          /* :path */
    struct metadata *md;                 /* request metadata, in arrival order */
    size_t n_md;                         /* entries in md */
    size_t cap_md;                       /* room in md */
    size_t header_bytes;                 /* HPACK-accounted size of the request headers */
    enum grpc_status_code reject;        /* a header problem found while parsing, or OK */
    char *reject_msg;                    /* its message */
    bool bad_method;                     /* :method was not POST */
    bool bad_content_type;               /* content-type was not application/grpc[+...] */
    bool gzip;                           /* grpc-encoding: gzip */
    bool has_timeout;                    /* grpc-timeout was given */
    uint64_t timeout_ms;                 /* its value */
    struct grpc_deframer in;             /* request messages being assembled */
    uint32_t n_requests;                 /* messages received */
    ProtobufCMessage *request;           /* unary and server-streaming: held until half-close */
    struct buf out;                      /* framed responses nghttp2 has not taken yet */
    enum grpc_status_code status;        /* final status, once finished */
    char *status_msg;                    /* final message (percent-encoded when sent) */
    char *status_text;                   /* carried: the same decoded, for grpc_call_status */
    size_t taken;                        /* carried: bytes of out handed to the carrier */
    uv_timer_t *deadline;                /* armed for grpc-timeout; closed with the call */
    void *data;                          /* the handler's state */
    bool started;                        /* the method was resolved and the handler attached */
    bool response_started;               /* response HEADERS submitted with a data provider */
    bool finished;                       /* status set; no more messages */
    bool deferred;                       /* the data provider is waiting for output */
    bool handler_live;                   /* on_close not yet called */
    bool cancelled;                      /* ended by the client, a deadline or the server */
    bool ready_pending;                  /* on_ready should run at the next flush */
    bool starved;                        /* refused by the server's budget: wake it below it */
    bool audited;                        /* the authorizer saw it: the audit hook hears the end */
    char *principal;                     /* who the authorizer says the caller is, or NULL */
    char principal_buf[48];              /* holds it when it fits: no allocation per call */
    unsigned scopes;                     /* what the authorizer found the caller may do */
    DLIST_LINK(grpc_call) link;          /* in its connection's list, or the server's carried */
};

struct gconn {
    struct grpc_server *srv;      /* owner */
    struct net_conn *nc;          /* transport */
    nghttp2_session *h2;          /* HTTP/2 state */
    struct buf out;               /* frames from nghttp2 not yet handed to the socket */
    struct grpc_call *calls;      /* streams with a call */
    unsigned n_calls;             /* length of calls */
    unsigned n_ready;             /* calls with ready_pending set */
    DLIST_LINK(gconn) link;       /* in the server's list */
    void *door;                   /* what the door said at accept, for the authorizer */
    DLIST_LINK(gconn) dirty_link; /* in the server's list to flush from the idle handle */
    bool in_recv;                 /* inside mem_recv: the end of the read flushes */
    bool closing;                 /* being freed: nothing may mark it dirty again */
    bool preface_seen;            /* the peer's first frame came (its SETTINGS) */
    uint64_t born_ms;             /* accepted at (mono_ms) */
    uint64_t last_rx_ms;          /* bytes last came from the peer (mono_ms) */
    uint64_t ping_sent_ms;        /* a keepalive PING went out then, unanswered; 0: none */
};

/* alive.c: a connection was accepted; the peer sent something. */
void grpc_alive_accepted(struct grpc_server *s, struct gconn *c);
void grpc_alive_heard(struct gconn *c);
/* Closes a connection now (its calls end). */
void grpc_conn_close(struct gconn *c);

struct grpc_server {
    uv_loop_t *loop;                /* the daemon's loop */
    struct grpc_server_limits lim;  /* limits for every connection */
    struct service_entry *services; /* registered services */
    size_t n_services;              /* entries in services */
    size_t cap_services;            /* room in services */
    struct gconn *conns;            /* open connections */
    struct gconn *dirty;            /* connections to flush */
    struct grpc_call *carried;      /* calls a carrier brought (carry.c) */
    struct grpc_call *dirty_calls;  /* of them, those whose carrier has something to take */
    struct grpc_server_stats stats; /* counters for Status */
    struct grpc_auth_hooks auth;    /* access control and audit, or all NULL */
    uv_idle_t idle;                 /* runs flushes requested outside a read */
    uv_timer_t shutdown_timer;      /* bounds a graceful shutdown */
    uv_timer_t alive_timer;         /* the nearest preface, idle or keepalive deadline (alive.c) */
    bool shutting_down;             /* GOAWAY sent; the server closes when calls end */
    void (*done)(void *userdata);   /* called once the last connection is gone */
    void *done_userdata;            /* its argument */
    int handles_open;               /* embedded handles not yet closed by grpc_server_free */
    size_t queued;                  /* bytes in every call's queue together */
    size_t n_starved;               /* streaming calls the budget refused, waiting for room */
};

/* server.c */

/* Asks for c to be flushed from the server's idle handle; a no-op inside a read, whose end
 * flushes anyway. Calls use it after queueing output from outside an nghttp2 callback. */
void grpc_conn_mark_dirty(struct gconn *c);
/* Finishes a graceful shutdown once no connection and no carried call is left. */
void grpc_server_maybe_done(struct grpc_server *s);
/* The registered service named by the len bytes at name, or NULL. */
const struct service_entry *grpc_server_find_service(const struct grpc_server *s, const char *name,
                                                     size_t len);

/* call.c */

/* Asks for a call's output to be taken: its connection flushed, or its carrier woken, from the
 * server's idle handle. */
void grpc_call_mark_dirty(struct grpc_call *call);

/* n bytes of the call's queue went out (to nghttp2, or to its carrier): dropped, counted off
 * the server's budget (waking calls it held back), and the handler asked for more below the
 * low mark. */
void grpc_call_took(struct grpc_call *call, size_t n);
/* A call for a new stream, on c's list and counted; NULL on out-of-memory. */
struct grpc_call *grpc_call_new(struct gconn *c, int32_t stream_id);
/* Ends the call for good: the audit hook and on_close hear of it, then it is unlinked and freed.
 * Only from the stream-close callback or when its connection closes. */
void grpc_call_free(struct grpc_call *call);
/* The server ends a call on its own (bad request, deadline, shutdown): the handler is told
 * through on_close, then the status goes out. */
void grpc_call_abort(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
    _printf_(3, 4);

/* request.c */

/* Finds call->path's method, asks the authorizer, arms the deadline and attaches the handler;
 * false when the call was finished instead (unknown method, refused). */
bool grpc_call_resolve(struct grpc_call *call);
/* A request header becomes metadata (-bin values decoded: bad base64 sets call->reject). */
int grpc_call_add_metadata(struct grpc_call *call, const uint8_t *name, size_t namelen,
                           const uint8_t *value, size_t valuelen);

/* Installs the callbacks through which nghttp2 hands us a connection's streams: request headers,
 * DATA, the end of frames and stream closes. */
void grpc_request_set_callbacks(nghttp2_session_callbacks *cbs);
/* Delivers one request message (taken) to the handler, as if it came in a DATA frame; false
 * when the call ended. */
bool grpc_call_take_request(struct grpc_call *call, ProtobufCMessage *msg);
/* The client sent its last request message. */
void grpc_call_half_close(struct grpc_call *call);

/* carry.c */

/* Wakes the carriers of the calls marked dirty (the server's idle handle). */
void grpc_carried_flush(struct grpc_server *s);
/* Ends every carried call (code, msg) and wakes its carrier now: shutdown's end, free. */
void grpc_carried_end_all(struct grpc_server *s, enum grpc_status_code code, const char *msg);
