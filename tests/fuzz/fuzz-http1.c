/* Fuzz target: raw bytes from a client into the HTTP/1.1 server over a socketpair on a real libuv
 * loop, with a handler that reads every part of each request (path, query, headers) and answers,
 * or upgrades to a WebSocket that echoes each message (so what follows is WebSocket frames).
 * Whatever the bytes, nothing may crash or leak and the connection must come down cleanly. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "fuzz.h"
#include "http1/http1.h"
#include "net/net.h"

static void echo(struct ws_conn *ws, bool binary, const uint8_t *data, size_t len, void *userdata)
{
    (void)userdata;
    if (len && data[0] == 'q')
        ws_close(ws, 1000, "bye");
    else
        (void)ws_send(ws, binary, data, len);
}

static const struct ws_handler echo_handler = {echo, NULL};

static void handle(struct http_request *req, void *userdata)
{
    char q[64];
    (void)userdata;
    if (http_request_is_websocket(req)) {
        (void)http_upgrade_websocket(req, &echo_handler, NULL, 4096);
        return;
    }
    const char *path = http_request_path(req), *tok = http_request_query(req, "token", q, sizeof q);
    const char *host = http_request_header(req, "Host");
    size_t n = strlen(path) + (tok ? strlen(tok) : 0) + (host ? strlen(host) : 0);
    if (http_request_accepts_gzip(req))
        n++;
    http_respond(req, n % 2 ? 200 : 404, "X-Fuzz: 1\r\n", "text/plain", path, strlen(path));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_limits lim = {4, 2048, 4096, 1000, 1000};
    uv_loop_t loop;
    int sv[2];

    if (size > 1 << 16 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    struct http_server *srv = http_server_new(&loop, &lim, handle, NULL);
    struct net_conn *conn;
    if (net_conn_from_fd(&loop, sv[0], &conn) == 0)
        http_server_accept(srv, conn);
    fuzz_feed(&loop, sv[1], data, size);
    http_server_free(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}
