/* libdrover-client: gRPC calls to droverd over its unix socket or a TCP door (TLS, tokens), for
 * the drover CLI, benchmarks and tools. Blocking I/O with poll(2): the caller drives it with
 * drover_client_poll or drover_client_wait. Calls of every kind (unary, client/server/bidi
 * streaming) run concurrently on one connection; each reports messages and its final status through
 * callbacks. Shares the message framing code with the server (src/grpc/wire.h). */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

struct drover_client;
struct drover_call;

struct drover_status {
    int code;          /* gRPC status code */
    char message[512]; /* grpc-message, decoded */
};

/* A response message; it is freed when the callback returns. */
typedef void (*drover_message_fn)(struct drover_call *call, const ProtobufCMessage *msg,
                                  void *userdata);
/* The call is over; st is its final status. */
typedef void (*drover_done_fn)(struct drover_call *call, const struct drover_status *st,
                               void *userdata);

/* Where a client connects: droverd's unix socket, or a TCP door (TLS unless plaintext). */
struct drover_target {
    const char *socket_path; /* when host is NULL */
    const char *host;        /* "HOST:PORT" or "[V6]:PORT": a TCP door */
    bool plaintext;          /* h2c, without TLS (a loopback door with grpc_tcp_plaintext) */
    const char *tls_ca;      /* PEM CAs, or the server's pinned certificate; NULL: the system's */
    const char *cert, *key;  /* mTLS: the client's certificate and key, or NULL */
    const char *token;       /* sent as "authorization: Bearer TOKEN" with every call, or NULL */
};
/* Connects (a TCP connect and TLS handshake within 10 s). -errno with err (if not NULL) saying
 * why: nobody listening, a name that does not resolve, an untrusted certificate, ... */
int drover_client_open(const struct drover_target *t, struct drover_client **ret, char *err,
                       size_t err_size);
/* Connects to droverd's socket. -errno from connect(2) when nobody answers. */
int drover_client_connect(const char *socket_path, struct drover_client **ret);
void drover_client_free(struct drover_client *c);

/* Starts a call to path ("/drover.v1.Admin/Ping"); responses decode as resp. timeout_ms 0 is no
 * deadline. NULL on out-of-memory or a dead connection. */
struct drover_call *drover_call_start(struct drover_client *c, const char *path,
                                      const ProtobufCMessageDescriptor *resp,
                                      drover_message_fn on_message, drover_done_fn on_done,
                                      void *userdata, uint64_t timeout_ms);
/* Request metadata: a header a call sends besides the ones every call has. */
struct drover_header {
    const char *name;  /* lowercase */
    const char *value; /* printable ASCII */
};
/* drover_call_start with n metadata headers (copied). */
struct drover_call *drover_call_start_md(struct drover_client *c, const char *path,
                                         const ProtobufCMessageDescriptor *resp,
                                         drover_message_fn on_message, drover_done_fn on_done,
                                         void *userdata, uint64_t timeout_ms,
                                         const struct drover_header *md, size_t n);
int drover_call_send(struct drover_call *call, const ProtobufCMessage *msg);
/* No more requests: END_STREAM once queued messages are out. */
int drover_call_close_send(struct drover_call *call);
bool drover_call_done(const struct drover_call *call);
const struct drover_status *drover_call_status(const struct drover_call *call);
/* Frees the call, cancelling it (RST_STREAM) if it is still running. */
void drover_call_free(struct drover_call *call);

/* One round of I/O, waiting at most timeout_ms (-1: until something happens). Returns
 * -ECONNRESET once the connection is gone (every call then ends UNAVAILABLE). */
int drover_client_poll(struct drover_client *c, int timeout_ms);
/* For callers that poll other descriptors too: the connection's fd and the events it waits
 * for (POLLIN, and POLLOUT while output is queued). -ECONNRESET once the connection is gone. */
struct pollfd;
int drover_client_pollfd(struct drover_client *c, struct pollfd *ret);
/* The fd that drover_client_pollfd gave was polled with these revents: reads what arrived and
 * writes what waits, without polling again. */
int drover_client_ready(struct drover_client *c, short revents);
/* Polls until call is done. */
int drover_client_wait(struct drover_client *c, struct drover_call *call);

/* A whole unary call. On status OK, *ret_resp is the response (free it with
 * protobuf_c_message_free_unpacked). Returns 0 when the call completed (whatever its status)
 * and -errno when the connection failed. */
int drover_client_unary(struct drover_client *c, const char *path, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp, ProtobufCMessage **ret_resp,
                        struct drover_status *ret_status, uint64_t timeout_ms);

/* ---- resuming streams after droverd went away for a moment ---- */

/* What droverd tells the streams it ends to upgrade in place (it answers again right away). */
#define DROVER_UPGRADE_MESSAGE "droverd is upgrading in place; reconnect"
#define DROVER_RESUME_MS       30000 /* how long a resuming client waits for droverd to answer */

/* A client whose streams can go on from where they were (drover logs -f, drover attach): when a
 * call ends for droverd's upgrade, or its connection drops (droverd restarting), it connects
 * again and resumes, for DROVER_RESUME_MS at most until droverd answers again. */
struct drover_resume {
    uint64_t deadline_ms; /* mono_ms() past which it gives up; 0 while droverd answers */
    unsigned attempts;    /* connections made since droverd last answered */
};

/* Whether a call that ended with st is to resume: the upgrade's message or a lost connection,
 * within the bound since droverd last answered (its clock starts now). */
bool drover_resume_wanted(struct drover_resume *r, const struct drover_status *st);
/* Replaces *c with a new connection to t (the old one is freed, with every call on it),
 * pausing between attempts that got no answer, until one is accepted: -errno from the last
 * attempt once the bound passed. A connection droverd has not accepted yet waits in its socket's
 * backlog, as during an upgrade's exec. */
int drover_resume_connect(struct drover_resume *r, const struct drover_target *t,
                          struct drover_client **c);
/* droverd answered a resumed call: the next interruption has a bound of its own. */
void drover_resume_answered(struct drover_resume *r);
