/* The HTTP door's routes: GET /healthz and GET /metrics (Prometheus).
 *
 * Every answer is made during the request: the metrics engine reads procfs synchronously. A
 * client that accepts gzip gets the metrics page compressed, as Prometheus asks for by default
 * (node_exporter does the same). Anything else is 404, a known path with another method 405. */
#include <string.h>

#include "api/api.h"
#include "base/buf.h"
#include "grpc/wire.h"
#include "http1/http1.h"

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
    struct api_host *h = userdata;
    const char *path = http_request_path(req), *method = http_request_method(req);
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool known = !strcmp(path, "/metrics") || !strcmp(path, "/healthz");

    if (known && !get)
        return http_respond(req, 405, "Allow: GET, HEAD\r\n", "text/plain",
                            "method not allowed\n", 19);
    if (!strcmp(path, "/healthz"))
        return http_respond(req, 200, NULL, "text/plain", "ok\n", 3);
    if (!strcmp(path, "/metrics"))
        return metrics(req, h);
    http_respond(req, 404, NULL, "text/plain", "not found\n", 10);
}
