/* The gRPC server: HTTP/2 (nghttp2) connections carrying calls to a table of methods.
 *
 * A face registers services (a name and a method table); each method names its request
 * descriptor and callbacks. The server decodes requests, enforces limits, deadlines and
 * cancellation, and the handler answers through grpc_call_send/finish. Responses are produced
 * lazily under HTTP/2 flow control: a stream whose client stops reading stops asking its handler
 * for more (on_ready), and each call's queue is capped, so memory stays bounded.
 *
 * Lifetime: a call is valid from its first callback until on_close returns. on_close runs exactly
 * once per call that reached a handler: after the response was sent, or when the call was
 * cancelled (client reset, deadline, connection lost, server shutdown). It never runs inside
 * grpc_call_send or grpc_call_finish, so a handler may finish and keep its state until then. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/macro.h"
#include "grpc/wire.h"

struct grpc_server;
struct grpc_call;
struct net_conn;

enum grpc_kind {
    GRPC_UNARY,
    GRPC_SERVER_STREAM,
    GRPC_CLIENT_STREAM,
    GRPC_BIDI,
};

typedef void (*grpc_call_fn)(struct grpc_call *call);
typedef void (*grpc_message_fn)(struct grpc_call *call, const ProtobufCMessage *msg);

struct grpc_method {
    const char *name;                        /* "Ping": the path is /<service>/<name> */
    enum grpc_kind kind;                     /* streaming on either side */
    const ProtobufCMessageDescriptor *input; /* request type; decoding errors never reach us */
    /* Each request message, freed after the call returns. Unary and server-streaming methods
     * get exactly one, once the client has half-closed. */
    grpc_message_fn on_message;
    grpc_call_fn on_half_close; /* client- and bidi-streaming: no more requests will come */
    grpc_call_fn on_ready;      /* optional: the response queue drained; send more */
    grpc_call_fn on_close;      /* optional: the call is over; drop every reference to it */
};

struct grpc_service {
    const char *name;                  /* fully qualified: "drover.v1.Admin" */
    const struct grpc_method *methods; /* the method table */
    size_t n_methods;                  /* its length */
    /* protoc-c's, for the methods' response types (carried calls answer in JSON); optional */
    const ProtobufCServiceDescriptor *descriptor;
    /* The types its messages carry inside google.protobuf.Any (NULL-terminated), or NULL */
    const ProtobufCMessageDescriptor *const *any_types;
};

struct grpc_server_limits {
    uint32_t max_connections;        /* further connections are closed at accept */
    uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t max_header_list_size;   /* bytes of request headers per stream */
    uint32_t max_message_size;       /* bytes of one message, either way */
    uint32_t shutdown_timeout_ms;    /* graceful shutdown waits this long for calls in flight */
    uint32_t preface_timeout_ms;     /* a new connection's HTTP/2 preface must come by then */
    uint32_t idle_timeout_ms;        /* a connection without calls is closed after this quiet */
    uint32_t keepalive_ms;           /* one with calls is PINGed after this quiet... */
    uint32_t keepalive_timeout_ms;   /* ...and closed when nothing comes back this long (0 each:
                                        off) */
    uint32_t queue_budget;           /* bytes queued by every call together past which streams
                                        wait (unary answers never do); 0: 64 MiB */
};

struct grpc_server_stats {
    uint32_t open_connections; /* connections now */
    uint32_t active_calls;     /* calls not yet closed */
    uint64_t calls_total;      /* calls started since the server was made */
    uint64_t queued_bytes;     /* answers queued in every call, not yet taken by HTTP/2 */
};

/* Access control. authorize is asked once per call, when its method is known and before the
 * handler hears of it: GRPC_OK lets the call run; any other code ends it with that status and
 * the message written into msg. audit then hears how every call authorize saw ended (its final
 * status, GRPC_CANCELLED if it never got one; msg percent-encoded, may be NULL). */
struct grpc_auth_hooks {
    enum grpc_status_code (*authorize)(struct grpc_call *call, const char *service,
                                       const char *method, char *msg, size_t size, void *userdata);
    void (*audit)(struct grpc_call *call, enum grpc_status_code code, const char *msg,
                  void *userdata);
    void *userdata; /* both hooks' argument */
};

struct grpc_server *grpc_server_new(uv_loop_t *loop, const struct grpc_server_limits *limits);
void grpc_server_set_auth(struct grpc_server *s, const struct grpc_auth_hooks *h);
/* The service table must outlive the server; userdata is what grpc_call_service_data returns. */
int grpc_server_add_service(struct grpc_server *s, const struct grpc_service *svc, void *userdata);
/* Takes a freshly accepted connection (from any door); door is handed to the authorizer with
 * each of its calls (grpc_call_door). */
void grpc_server_accept(struct grpc_server *s, struct net_conn *conn, void *door);
/* The same for a connection of droverd's administrator (its own uid or root on the unix socket):
 * with admin, it is let in past max_connections, up to GRPC_ADMIN_LANE more, so that `drover
 * ping`, `status` and `shutdown` work while a flood holds every ordinary slot. */
#define GRPC_ADMIN_LANE 16
void grpc_server_accept_lane(struct grpc_server *s, struct net_conn *conn, void *door, bool admin);
/* Graceful shutdown: GOAWAY to every connection, calls in flight get up to shutdown_timeout_ms
 * to finish, then the rest are cancelled (UNAVAILABLE) and the connections closed. done runs
 * once no connection is left. */
void grpc_server_shutdown(struct grpc_server *s, void (*done)(void *userdata), void *userdata);
/* Ends every server-streaming and bidi call still open, now, with code and msg (streams that
 * would never end by themselves, when the server is about to go and its clients can come back:
 * an upgrade in place). Each handler hears on_close at once; what it queued goes out, then the
 * status, in trailers as any finish. Unary and client-streaming calls are left to end by
 * themselves. Returns how many calls it ended. */
unsigned grpc_server_end_streams(struct grpc_server *s, enum grpc_status_code code,
                                 const char *msg);
void grpc_server_free(struct grpc_server *s);
void grpc_server_get_stats(const struct grpc_server *s, struct grpc_server_stats *ret);
/* Registered service names, in registration order; NULL past the end. */
const char *grpc_server_service_name(const struct grpc_server *s, size_t i);
/* Registered services, in registration order; NULL past the end. */
const struct grpc_service *grpc_server_service_at(const struct grpc_server *s, size_t i);
bool grpc_server_has_service(const struct grpc_server *s, const char *name);

/* Queues one response message. -ENOBUFS when the call's queue is full, or, for a streaming
 * call, when every call's queues together are past the server's budget (wait for on_ready),
 * -EPIPE once the call is finished or cancelled, -EMSGSIZE for a message over the size cap (in
 * its encoding: a carried call's may be its carrier's). */
int grpc_call_send(struct grpc_call *call, const ProtobufCMessage *msg);
/* Sends the response headers now, before any message: a stream that may wait long for its first
 * one tells its client it is established (its initial metadata arrives). */
int grpc_call_send_headers(struct grpc_call *call);
/* The same for a message already serialized (one encoding sent to many calls). */
int grpc_call_send_packed(struct grpc_call *call, const uint8_t *bytes, size_t len);
/* Whether the queue has room for more; when false, on_ready will follow. */
bool grpc_call_writable(struct grpc_call *call);
/* Ends the call with a status and a printf-style message (may be NULL). Idempotent. */
void grpc_call_finish(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
    _printf_(3, 4);
void grpc_call_finishv(struct grpc_call *call, enum grpc_status_code code, const char *fmt,
                       va_list ap) _printf_(3, 0);
/* grpc_call_send + grpc_call_finish(OK), for unary answers. */
void grpc_call_reply(struct grpc_call *call, const ProtobufCMessage *msg);

bool grpc_call_finished(const struct grpc_call *call);
void *grpc_call_service_data(const struct grpc_call *call);
void grpc_call_set_data(struct grpc_call *call, void *data);
void *grpc_call_get_data(const struct grpc_call *call);
/* A request header by lowercase name; -bin values come decoded, with their length in ret_len. */
const char *grpc_call_metadata(const struct grpc_call *call, const char *key, size_t *ret_len);
const char *grpc_call_path(const struct grpc_call *call);
const struct ucred *grpc_call_peer(const struct grpc_call *call);
struct net_conn *grpc_call_conn(const struct grpc_call *call);
void *grpc_call_door(const struct grpc_call *call);
/* Who the caller is, as the authorizer found (for handlers and audit lines); NULL if unknown. */
void grpc_call_set_principal(struct grpc_call *call, const char *name);
const char *grpc_call_principal(const struct grpc_call *call);
/* The scope bits the authorizer found (for a handler whose method is public but whose answer
 * depends on who asks); 0 when unknown. */
void grpc_call_set_scopes(struct grpc_call *call, unsigned scopes);
unsigned grpc_call_scopes(const struct grpc_call *call);

/* ---- calls that come another way (carry.c) ----
 *
 * A carrier brings calls that did not come on an HTTP/2 stream: the Connect protocol on the
 * HTTP/1.1 door. The server resolves, authorizes and runs them as any other (the same
 * handlers, limits, deadlines and audit); the carrier gives the request messages and takes the
 * responses and the status. */

struct grpc_carrier {
    /* Responses wait (grpc_call_take_response), or the call finished (grpc_call_status): take
     * what is there. From the loop, never inside a handler's call. */
    void (*wake)(struct grpc_call *call, void *io);
    /* Optional: appends a response message to out in the carrier's own encoding (JSON).
     * grpc_call_send calls it instead of packing the message, so that the carrier does not
     * unpack again what was just packed; its bytes are what the queue, the budget and the
     * message size cap count (out refuses more with -ENOBUFS). Any other error, with the reason
     * in err, finishes the call (INTERNAL) and grpc_call_send says -EPIPE. Messages queued
     * packed (grpc_call_send_packed) still come packed. */
    int (*encode)(struct grpc_call *call, void *io, const ProtobufCMessage *msg, struct buf *out,
                  char *err, size_t size);
};

struct grpc_carried {
    const char *path;            /* "/drover.v1.Services/List" */
    uint64_t timeout_ms;         /* the deadline, from now; 0: none */
    void *door;                  /* what the door says, for the authorizer (grpc_call_door) */
    struct net_conn *conn;       /* the peer's connection (grpc_call_peer, grpc_call_conn) */
    const char *const *metadata; /* lowercase name and value pairs, NULL-terminated, or NULL */
};

/* Starts a call. NULL, with the status in *code and msg, when it ends at once (an unknown
 * method, a refusal, out of memory): the carrier answers that itself. */
struct grpc_call *grpc_server_carry(struct grpc_server *s, const struct grpc_carried *how,
                                    const struct grpc_carrier *carrier, void *io,
                                    enum grpc_status_code *code, char *msg, size_t size);
const struct grpc_method *grpc_call_method(const struct grpc_call *call);
/* The method's response type, from its service's descriptor; NULL when the service has none. */
const ProtobufCMessageDescriptor *grpc_call_output_type(const struct grpc_call *call);
/* Gives one request message of the method's input type (taken); with last, the client sends
 * no more (a unary call runs then). */
void grpc_call_give(struct grpc_call *call, ProtobufCMessage *msg, bool last);
/* The next response, valid until the next take or the release: in the carrier's encoding when
 * its encode hook wrote it (*ret_encoded true), else a packed message. false when none waits. */
bool grpc_call_take_response(struct grpc_call *call, const uint8_t **ret, size_t *ret_len,
                             bool *ret_encoded);
/* Once the call finished and no response waits: true, with its code and message (NULL when
 * none). */
bool grpc_call_status(struct grpc_call *call, enum grpc_status_code *code, const char **msg);
/* The carrier is done with the call (answered, or its client went): an unfinished call is
 * cancelled; the call is freed. */
void grpc_call_release(struct grpc_call *call);

/* ---- the server's own services ---- */

/* grpc.health.v1.Health (health.c). Every registered service, and "" for the whole server, is
 * SERVING until grpc_health_shutdown. */
struct health;
struct health *grpc_health_new(struct grpc_server *s);
int grpc_health_register(struct grpc_server *s, struct health *h);
/* NOT_SERVING to every watcher, then their streams end (UNAVAILABLE). */
void grpc_health_shutdown(struct health *h);
/* name (a short one: "orchestrator") is answered as service is: known when service is
 * registered. -1 without memory. */
int grpc_health_alias(struct health *h, const char *name, const char *service);
void grpc_health_free(struct health *h);

/* grpc.reflection.v1 and v1alpha ServerReflection (reflection.c), answering from set: a
 * serialized FileDescriptorSet of every file served, imports included, that outlives the
 * server. */
struct reflection;
struct reflection *grpc_reflection_new(struct grpc_server *s, const uint8_t *set, size_t len);
int grpc_reflection_register(struct grpc_server *s, struct reflection *rf);
void grpc_reflection_free(struct reflection *rf);
