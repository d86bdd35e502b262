/* A PTY session over a WebSocket, for the console's terminal: GET /attach?session=ID on the HTTP
 * door, upgraded. The same attachment as the CLI's (AttachPty): the backlog on attach, steal,
 * detach, resize, input, and the session's end; only the framing differs, made for a
 * browser.
 *
 *   server → client  text {"attached": true, "position": N, "missed": M}, then the backlog and
 *                    every output byte as binary messages; text {"missed": N} when the client
 *                    fell a whole ring behind; a last text {"end": "exit" | "stolen" |
 *                    "detached" | "terminated" | "gone", "exitCode": N}, then the close.
 *   client → server  binary: keys for the program; text {"resize": {"rows": R, "cols": C}},
 *                    {"interrupt": true}, {"detach": true}.
 *
 * Query: session (its id), steal=1 (take it from another client), rows and cols (the window
 * at once). A browser cannot put a header on a WebSocket, so the token comes as ?token=; an
 * attachment needs scope control, as AttachPty does. Output is pulled from the session only
 * while less than OUT_HIGH waits on the connection: a terminal that does not read costs the
 * session's ring, nothing more. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/authz.h"
#include "api/web/web-internal.h"
#include "base/macro.h"
#include "http1/http1.h"
#include "net/net.h"
#include "session/session.h"

#define OUT_HIGH (256u << 10) /* bytes waiting on the connection before output waits */
#define CHUNK    (32u << 10)  /* the largest output message */
#define MAX_IN   (64u << 10)  /* the largest message a client may send */

struct web_attach {
    struct api_host *host; /* the core */
    struct ws_conn *ws;    /* once open */
    struct sess_attach *a; /* the attachment, once open, until its end */
    char id[128];          /* the session */
    bool steal;            /* take it from another client */
    uint16_t rows, cols;   /* the window to set at once, 0: keep */
};

static void send_json(struct web_attach *wa, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s)
        (void)ws_send(wa->ws, false, s, strlen(s));
    free(s);
    json_decref(j);
}

static const char *end_word(enum sess_end e)
{
    switch (e) {
    case SESS_END_EXIT:
    case SESS_END_EOF:
        return "exit";
    case SESS_END_STOLEN:
        return "stolen";
    case SESS_END_DETACHED:
        return "detached";
    case SESS_END_TERMINATED:
        return "terminated";
    default:
        return "gone";
    }
}

/* Output to pass on: as much as the connection takes. */
static void pump(struct web_attach *wa)
{
    while (wa->a && ws_pending(wa->ws) < OUT_HIGH) {
        struct sess_pull p;
        sess_attach_next(wa->a, CHUNK, &p);
        if (p.missed) {
            send_json(wa, json_pack("{s:I}", "missed", (json_int_t)p.missed));
            sess_attach_consume(wa->a, 0);
            continue;
        }
        if (p.len) {
            (void)ws_send(wa->ws, true, p.data, p.len);
            sess_attach_consume(wa->a, p.len);
            continue;
        }
        if (p.end != SESS_END_NONE) {
            send_json(wa, json_pack("{s:s,s:i}", "end", end_word(p.end), "exitCode", p.exit_code));
            sess_attach_close(wa->a);
            wa->a = NULL;
            ws_close(wa->ws, 1000, end_word(p.end));
        }
        return;
    }
}

static void on_ready(struct sess_attach *a, void *userdata)
{
    (void)a;
    pump(userdata);
}

static const struct sess_attach_ops attach_ops = {on_ready};

static void on_open(struct ws_conn *ws, void *userdata)
{
    struct web_attach *wa = userdata;
    struct session *s = wa->host->sessions ? sess_find(wa->host->sessions, wa->id) : NULL;
    uint8_t *backlog = NULL;
    size_t len = 0;
    uint64_t missed = 0;

    wa->ws = ws;
    int r =
        s ? sess_attach(s, SESS_OUT, wa->steal, &attach_ops, wa, &wa->a, &backlog, &len, &missed)
          : -ENOENT;
    if (r < 0) {
        const char *why = r == -ENOENT     ? "no such session"
                          : r == -EALREADY ? "another client is attached (steal=1 takes it)"
                          : r == -ESRCH    ? "the session has exited"
                                           : "cannot attach";
        send_json(wa, json_pack("{s:s}", "error", why));
        ws_close(ws, 1008, why);
        return;
    }
    if (wa->rows || wa->cols)
        (void)sess_resize(s, wa->rows, wa->cols);
    (void)sess_attach_describe(wa->a, true, "xterm-256color", NULL, 0);
    send_json(wa,
              json_pack("{s:b,s:I,s:I}", "attached", 1, "position",
                        (json_int_t)(sess_attach_pos(wa->a) - len), "missed", (json_int_t)missed));
    if (len)
        (void)ws_send(ws, true, backlog, len);
    free(backlog);
    pump(wa);
}

static void on_message(struct ws_conn *ws, bool binary, const uint8_t *data, size_t len,
                       void *userdata)
{
    struct web_attach *wa = userdata;
    struct session *s = wa->a ? sess_attach_session(wa->a) : NULL;
    if (!s)
        return;
    if (binary) {
        if (len && sess_write(s, data, len, NULL) < 0)
            send_json(wa, json_pack("{s:s}", "error", "the session takes no more input now"));
        return;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)data, len, 0, &je), *rs = json_object_get(j, "resize");
    if (json_is_object(rs)) {
        json_int_t rows = json_integer_value(json_object_get(rs, "rows"));
        json_int_t cols = json_integer_value(json_object_get(rs, "cols"));
        if (rows > 0 && rows <= UINT16_MAX && cols > 0 && cols <= UINT16_MAX)
            (void)sess_resize(s, (uint16_t)rows, (uint16_t)cols);
    } else if (json_is_true(json_object_get(j, "interrupt"))) {
        (void)sess_interrupt(s);
    } else if (json_is_true(json_object_get(j, "detach"))) {
        send_json(wa, json_pack("{s:s,s:i}", "end", "detached", "exitCode", 0));
        sess_attach_close(wa->a);
        wa->a = NULL;
        ws_close(ws, 1000, "detached");
    } else {
        send_json(wa, json_pack("{s:s}", "error", "unknown message (resize, interrupt, detach)"));
    }
    json_decref(j);
}

static void on_drain(struct ws_conn *ws, void *userdata)
{
    (void)ws;
    pump(userdata);
}

static void on_close(struct ws_conn *ws, void *userdata)
{
    struct web_attach *wa = userdata;
    (void)ws;
    if (wa->a)
        sess_attach_close(wa->a);
    free(wa);
}

static const struct ws_handler handler = {on_message, on_close, on_open, on_drain};

void attach_handle(struct api_host *host, struct http_request *req)
{
    char id[128], num[16];
    struct web_attach *wa;

    char buf[8200];
    const char *auth = http_request_header(req, "Authorization");
    const char *given = auth && !strncasecmp(auth, "Bearer ", 7)
                            ? auth + 7
                            : http_request_query(req, "token", buf, sizeof buf);
    if (!web_bearer_allows(host, req, given, AUTH_CONTROL))
        return;
    if (!http_request_is_websocket(req))
        return http_respond(req, 426, "Upgrade: websocket\r\n", "text/plain",
                            "/attach speaks WebSocket\n", 25);
    if (!http_request_query(req, "session", id, sizeof id) || !*id)
        return http_respond(req, 400, NULL, "text/plain", "?session= is required\n", 22);
    if (!(wa = calloc(1, sizeof *wa)))
        return http_respond(req, 503, NULL, "text/plain", "out of memory\n", 14);
    wa->host = host;
    snprintf(wa->id, sizeof wa->id, "%s", id);
    wa->steal = http_request_query(req, "steal", num, sizeof num) && !strcmp(num, "1");
    if (http_request_query(req, "rows", num, sizeof num))
        wa->rows = (uint16_t)MIN(strtoul(num, NULL, 10), UINT16_MAX);
    if (http_request_query(req, "cols", num, sizeof num))
        wa->cols = (uint16_t)MIN(strtoul(num, NULL, 10), UINT16_MAX);
    if (http_upgrade_websocket(req, &handler, wa, MAX_IN) < 0)
        free(wa);
}
