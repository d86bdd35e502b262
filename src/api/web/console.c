/* The web console's files (web/: the page, its script and sheet, and what npm ci fetched into
 * web/node_modules), compiled into droverd and served at / under a strict
 * Content-Security-Policy: scripts and connections from this origin only, no inline script, no
 * framing. Each answer carries an ETag (a hash of the file, made once) and asks browsers to
 * check it (Cache-Control: no-cache), so an upgraded droverd is never served from a stale
 * cache and an unchanged file costs a 304; clients that take gzip get the file compressed once,
 * the first time it is asked for. The console itself only calls the Connect methods (connect.c)
 * with the visitor's token, which it keeps in sessionStorage: no cookie, so no CSRF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/web/web-internal.h"
#include "base/buf.h"
#include "base/gzip.h"
#include "base/macro.h"
#include "http1/http1.h"

/* xterm.js writes its theme into <style> elements it makes: styles may be inline, scripts not. */
#define SECURITY_HEADERS                                                                           \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; "                             \
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "                 \
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"             \
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"                          \
    "X-Frame-Options: DENY\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n"

#ifdef DROVER_CONSOLE
#define ASSET(sym)                                                                                 \
    extern const unsigned char sym[];                                                              \
    extern const size_t sym##_len;
ASSET(console_index_html)
ASSET(console_app_js)
ASSET(console_procs_js)
ASSET(console_containers_js)
ASSET(console_app_css)
ASSET(console_uplot_js)
ASSET(console_uplot_css)
ASSET(console_xterm_js)
ASSET(console_xterm_css)
ASSET(console_fit_js)

#define JS  "text/javascript; charset=utf-8"
#define CSS "text/css; charset=utf-8"
static const struct asset {
    const char *path;          /* where it is served */
    const char *type;          /* its Content-Type */
    const unsigned char *data; /* the file */
    const size_t *len;         /* its length */
} assets[] = {
    {"/", "text/html; charset=utf-8", console_index_html, &console_index_html_len},
    {"/app.js", JS, console_app_js, &console_app_js_len},
    {"/procs.js", JS, console_procs_js, &console_procs_js_len},
    {"/containers.js", JS, console_containers_js, &console_containers_js_len},
    {"/app.css", CSS, console_app_css, &console_app_css_len},
    {"/vendor/uPlot.iife.min.js", JS, console_uplot_js, &console_uplot_js_len},
    {"/vendor/uPlot.min.css", CSS, console_uplot_css, &console_uplot_css_len},
    {"/vendor/xterm.js", JS, console_xterm_js, &console_xterm_js_len},
    {"/vendor/xterm.css", CSS, console_xterm_css, &console_xterm_css_len},
    {"/vendor/addon-fit.js", JS, console_fit_js, &console_fit_js_len},
};
#define N_ASSETS ARRAY_SIZE(assets)
#else
struct asset {
    const char *path, *type;
    const unsigned char *data;
    const size_t *len;
};
static const struct asset *const assets = NULL;
#define N_ASSETS 0
#endif

struct console {
    char etag[N_ASSETS ? N_ASSETS : 1][24]; /* "\"<16 hex>\"", made at the first request */
    struct buf gz[N_ASSETS ? N_ASSETS : 1]; /* the gzipped file, made at the first request */
    bool gz_made[N_ASSETS ? N_ASSETS : 1];  /* tried (a failure serves the file plain) */
};

struct console *console_new(void)
{
    struct console *c = calloc(1, sizeof *c);
    for (size_t i = 0; c && i < N_ASSETS; i++)
        buf_init(&c->gz[i], 0);
    return c;
}

void console_free(struct console *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_ASSETS; i++)
        buf_done(&c->gz[i]);
    free(c);
}

bool console_has(const char *path)
{
    for (size_t i = 0; i < N_ASSETS; i++)
        if (!strcmp(assets[i].path, path))
            return true;
    return !strcmp(path, "/");
}

/* FNV-1a, 64 bits: a file's ETag. */
static void make_etag(const unsigned char *p, size_t n, char out[24])
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    snprintf(out, 24, "\"%016llx\"", (unsigned long long)h);
}

void console_serve(struct console *c, struct http_request *req)
{
    const char *path = http_request_path(req), *m = http_request_method(req);
    size_t i = 0;

    if (strcmp(m, "GET") && strcmp(m, "HEAD"))
        return http_respond(req, 405, "Allow: GET, HEAD\r\n", "text/plain", "method not allowed\n",
                            19);
    while (i < N_ASSETS && strcmp(assets[i].path, path))
        i++;
    if (i == N_ASSETS) {
        static const char why[] = "the console was not built: run `npm ci` in web/ (make does), "
                                  "then build again\n";
        return http_respond(req, 404, NULL, "text/plain", why, sizeof why - 1);
    }
    const struct asset *a = &assets[i];
    if (!c->etag[i][0])
        make_etag(a->data, *a->len, c->etag[i]);
    char head[1024];
    const char *inm = http_request_header(req, "If-None-Match");
    if (inm && strstr(inm, c->etag[i])) {
        snprintf(head, sizeof head, SECURITY_HEADERS "ETag: %s\r\n", c->etag[i]);
        return http_respond(req, 304, head, a->type, "", 0);
    }
    bool gz = http_request_accepts_gzip(req);
    if (gz && !c->gz_made[i]) {
        c->gz_made[i] = true;
        if (gzip_deflate(a->data, *a->len, &c->gz[i]) < 0)
            buf_reset(&c->gz[i], 0);
    }
    gz = gz && c->gz[i].len;
    snprintf(head, sizeof head, SECURITY_HEADERS "ETag: %s\r\n%s", c->etag[i],
             gz ? "Content-Encoding: gzip\r\n" : "");
    http_respond(req, 200, head, a->type, gz ? buf_head(&c->gz[i]) : a->data,
                 gz ? c->gz[i].len : *a->len);
}
