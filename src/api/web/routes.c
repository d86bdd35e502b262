/* The HTTP door's routes: GET /healthz, GET /metrics (Prometheus), GET /ws (socktop's agent
 * WebSocket), POST /<package>.<Service>/<Method>: every gRPC method over the Connect protocol
 * (connect.c), the web console's files at / (console.c) and its terminals' WebSocket, GET
 * /attach (attach.c).
 *
 * Every answer is made during the request: the metrics engine reads procfs synchronously. A
 * client that accepts gzip gets the metrics page compressed, as Prometheus asks for by default
 * (node_exporter does the same). Anything else is 404, a known path with another method 405. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "base/macro.h"
#include "api/web/web-internal.h"
#include "api/authz.h"
#include "api/web/socktop-internal.h"
#include "net/net.h"
#include "base/gzip.h"
#include "base/buf.h"
#include "grpc/wire.h"
#include "http1/http1.h"

#define JWT_BUF 8200 /* a ?token= as long as the longest JWT we accept */

struct api_web {
    struct api_host *host;   /* the core */
    struct socktop *socktop; /* /ws */
    char *socktop_token;     /* /ws accepts ?token= this (socktop's own scheme), or NULL */
    bool require_token;      /* /metrics and /ws need a credential with scope read */
    /* The /metrics page of this loop turn (and its gzip, made when first asked): a scraper
     * flood renders it once per turn, not once per request. */
    struct buf page, gz;
    uint64_t page_turn; /* uv_now when rendered; 0: none */
    bool page_ok, gz_made, gz_ok;
    struct connect_types *types; /* for Connect's JSON: made at the first call */
    struct console *console;     /* the web console's files */
};

struct api_host *connect_host(struct api_web *w)
{
    return w->host;
}

const struct pbjson_types *connect_types(struct api_web *w)
{
    if (!w->types)
        w->types = connect_types_new(w->host->grpc);
    return connect_types_of(w->types);
}

struct api_web *api_web_new(struct api_host *host, const struct api_web_opts *o)
{
    struct api_web *w = calloc(1, sizeof *w);
    if (!w || !(w->socktop = socktop_new(host, &o->socktop)) || !(w->console = console_new()) ||
        (o->socktop_token && *o->socktop_token && !(w->socktop_token = strdup(o->socktop_token)))) {
        api_web_free(w);
        return NULL;
    }
    w->host = host;
    w->require_token = o->require_token;
    buf_init(&w->page, 0);
    buf_init(&w->gz, 0);
    return w;
}

void api_web_free(struct api_web *w)
{
    if (!w)
        return;
    socktop_free(w->socktop);
    connect_types_free(w->types);
    console_free(w->console);
    free(w->socktop_token);
    buf_done(&w->page);
    buf_done(&w->gz);
    free(w);
}

/* The credential of a request: `Authorization: Bearer …`, else ?token=. */
static const char *credential(struct http_request *req, char *buf, size_t size)
{
    const char *a = http_request_header(req, "Authorization");
    if (a && !strncasecmp(a, "Bearer ", 7))
        return a + 7;
    return http_request_query(req, "token", buf, size);
}

/* Whether a request may have its page: when a credential is needed (http_auth, or socktop's
 * token on /ws) it must be socktop's token (on /ws) or a bearer token with scope read. A
 * refusal is answered (401, or 403 for a token without read) and audited. */
static bool allowed(struct api_web *w, struct http_request *req, bool ws)
{
    char buf[JWT_BUF];
    const char *given = credential(req, buf, sizeof buf);
    bool need = w->require_token || (ws && w->socktop_token);

    if (!need)
        return true;
    if (given && ws && w->socktop_token) {
        size_t n = strlen(w->socktop_token);
        /* Constant time: how much of a guess matched must not show in the answer's timing. */
        if (strlen(given) == n && mem_equal_ct(given, w->socktop_token, n))
            return true;
    }
    return web_bearer_allows(w->host, req, given, AUTH_READ);
}

bool web_bearer_allows(struct api_host *host, struct http_request *req, const char *given,
                       unsigned scope)
{
    char why[256] = "", peer[64], body[96];
    struct auth_principal p;
    const char *word = scope == AUTH_CONTROL ? "control" : "read";
    int r = given && authz_has_bearer(host->authz)
                ? authz_bearer(host->authz, given, strlen(given), &p, why, sizeof why)
                : -EACCES;
    if (r == 0 && (p.scopes & scope))
        return true;
    net_conn_peer_address(http_request_conn(req), peer, sizeof peer);
    if (r == 0) {
        snprintf(why, sizeof why, "%s has no scope %s", p.name, word);
        authz_audit(host->authz, "http", peer, p.name, http_request_path(req), why);
        int n = snprintf(body, sizeof body, "this token has no scope %s\n", word);
        http_respond(req, 403, NULL, "text/plain", body, (size_t)n);
        return false;
    }
    authz_audit(host->authz, "http", peer, "anonymous", http_request_path(req),
                given ? why : "no credential");
    int n =
        snprintf(body, sizeof body,
                 "a valid token is required (scope %s; Authorization: Bearer, or ?token=)\n", word);
    http_respond(req, 401, "WWW-Authenticate: Bearer\r\n", "text/plain", body, (size_t)n);
    return false;
}

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void metrics(struct http_request *req, struct api_web *w)
{
    uint64_t turn = uv_now(w->host->loop) + 1; /* 0 stays "none" */
    if (w->page_turn != turn) {                /* a new turn: the page anew */
        buf_reset(&w->page, 1 << 20);
        buf_reset(&w->gz, 1 << 20);
        w->page_ok = api_prometheus_render(w->host, &w->page) >= 0;
        w->gz_made = false;
        w->page_turn = turn;
    }
    if (!w->page_ok) {
        http_respond(req, 500, NULL, "text/plain", "cannot read the metrics\n", 24);
        return;
    }
    if (http_request_accepts_gzip(req) && !w->gz_made) {
        w->gz_ok = gzip_deflate(buf_head(&w->page), w->page.len, &w->gz) == 0;
        w->gz_made = true;
    }
    if (http_request_accepts_gzip(req) && w->gz_ok)
        http_respond(req, 200, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n", PROM_TYPE,
                     buf_head(&w->gz), w->gz.len);
    else
        http_respond(req, 200, "Vary: Accept-Encoding\r\n", PROM_TYPE, buf_head(&w->page),
                     w->page.len);
}

void api_http_handle(struct http_request *req, void *userdata)
{
    struct api_web *w = userdata;
    const char *path = http_request_path(req), *method = http_request_method(req);
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool known = !strcmp(path, "/metrics") || !strcmp(path, "/healthz") || !strcmp(path, "/ws");

    if (!known && connect_path(path))
        return connect_handle(w, req);
    if (known && !get)
        return http_respond(req, 405, "Allow: GET, HEAD\r\n", "text/plain", "method not allowed\n",
                            19);
    if (!strcmp(path, "/healthz"))
        return http_respond(req, 200, NULL, "text/plain", "ok\n", 3);
    if (!strcmp(path, "/metrics"))
        return allowed(w, req, false) ? metrics(req, w) : (void)0;
    if (!strcmp(path, "/ws")) {
        if (!allowed(w, req, true))
            return;
        if (!http_request_is_websocket(req))
            return http_respond(req, 426, "Upgrade: websocket\r\n", "text/plain",
                                "/ws speaks WebSocket (socktop's agent protocol)\n", 48);
        return socktop_upgrade(w->socktop, req);
    }
    if (!strcmp(path, "/attach"))
        return attach_handle(w->host, req);
    if (console_has(path))
        return console_serve(w->console, req);
    http_respond(req, 404, NULL, "text/plain", "not found\n", 10);
}
