/* The HTTP door's routes: GET /healthz, GET /metrics (Prometheus) and GET /ws (socktop's agent
 * WebSocket).
 *
 * Every answer is made during the request: the metrics engine reads procfs synchronously. A
 * client that accepts gzip gets the metrics page compressed, as Prometheus asks for by default
 * (node_exporter does the same). Anything else is 404, a known path with another method 405. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/socktop.h"
#include "base/buf.h"
#include "grpc/wire.h"
#include "http1/http1.h"

struct api_web {
    struct api_host *host;   /* the core */
    struct socktop *socktop; /* /ws */
};

struct api_web *api_web_new(struct api_host *host, const struct socktop_opts *o)
{
    struct api_web *w = calloc(1, sizeof *w);
    if (!w || !(w->socktop = socktop_new(host, o))) {
        free(w);
        return NULL;
    }
    w->host = host;
    return w;
}

void api_web_free(struct api_web *w)
{
    if (!w)
        return;
    socktop_free(w->socktop);
    free(w);
}

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void metrics(struct http_request *req, struct api_host *h)
{
    struct buf page, gz;
    buf_init(&page, 0);
    buf_init(&gz, 0);
    int r = api_prometheus_render(h, &page);
    if (r < 0) {
        http_respond(req, 500, NULL, "text/plain", "cannot read the metrics\n", 24);
    } else if (http_request_accepts_gzip(req) && grpc_gzip(buf_head(&page), page.len, &gz) == 0) {
        http_respond(req, 200, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n", PROM_TYPE,
                     buf_head(&gz), gz.len);
    } else {
        http_respond(req, 200, "Vary: Accept-Encoding\r\n", PROM_TYPE, buf_head(&page), page.len);
    }
    buf_done(&page);
    buf_done(&gz);
}

void api_http_handle(struct http_request *req, void *userdata)
{
    struct api_web *w = userdata;
    const char *path = http_request_path(req), *method = http_request_method(req);
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool known = !strcmp(path, "/metrics") || !strcmp(path, "/healthz") || !strcmp(path, "/ws");

    if (known && !get)
        return http_respond(req, 405, "Allow: GET, HEAD\r\n", "text/plain", "method not allowed\n",
                            19);
    if (!strcmp(path, "/healthz"))
        return http_respond(req, 200, NULL, "text/plain", "ok\n", 3);
    if (!strcmp(path, "/metrics"))
        return metrics(req, w->host);
    if (!strcmp(path, "/ws")) {
        if (!http_request_is_websocket(req))
            return http_respond(req, 426, "Upgrade: websocket\r\n", "text/plain",
                                "/ws speaks WebSocket (socktop's agent protocol)\n", 48);
        return socktop_upgrade(w->socktop, req);
    }
    http_respond(req, 404, NULL, "text/plain", "not found\n", 10);
}
