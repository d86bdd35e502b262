/* The doors' listeners: droverd's unix socket (with its admin lane), the gRPC TCP door (TLS
 * when configured), the HTTP door and the running-process socket; each taken over from the
 * previous image after an upgrade in place, else opened. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/authz.h"
#include "api/rp/rp.h"
#include "api/web/web.h"
#include "base/log.h"
#include "daemon/access.h"
#include "daemon/daemon-internal.h"
#include "daemon/upgrade.h"
#include "grpc/grpc.h"
#include "http1/http1.h"
#include "net/net.h"

void daemon_on_accept(struct net_listener *l, struct net_conn *conn, void *userdata)
{
    struct daemon *d = userdata;
    const struct ucred *peer = net_conn_peer(conn);
    (void)l;
    /* droverd's own user and root keep a lane of their own past the connection limit. */
    bool admin = peer && (peer->uid == 0 || peer->uid == getuid());
    grpc_server_accept_lane(d->grpc, conn, authz_door(d->authz, AUTHZ_DOOR_UNIX), admin);
}

static void on_tcp_accept(struct net_listener *l, struct net_conn *conn, void *userdata)
{
    struct daemon *d = userdata;
    (void)l;
    grpc_server_accept(d->grpc, conn, authz_door(d->authz, AUTHZ_DOOR_TCP));
}

/* Parses a door's address (the config key names it in errors). */
static int door_addr(const char *key, const char *addr, struct sockaddr_storage *ret)
{
    if (net_parse_addr(addr, ret) < 0)
        return log_error_errno(-EINVAL, "%s: '%s' is not HOST:PORT", key, addr);
    return 0;
}

/* Listens on a TCP door (on its socket from before an upgrade, if there is one) and says where. */
static int listen_door(struct daemon *d, enum upgrade_door door, const char *addr,
                       const struct sockaddr_storage *ss, net_accept_fn fn, const char *what,
                       struct net_listener **ret)
{
    char where[128];
    int r = upgrade_listen(d->upgrade, door, addr, fn, d, ret);
    if (r == 0)
        r = net_listen_tcp(&d->loop, (const struct sockaddr *)ss, fn, d, ret);
    if (r < 0)
        return log_error_errno(r, "cannot listen on '%s'", addr);
    if (net_listener_address(*ret, where, sizeof where) == 0)
        log_notice("%s on tcp %s", what, where);
    return 0;
}

/* The TCP door: TLS when a certificate is configured (mTLS with a client CA); plaintext only
 * when the configuration asks for it, and on a non-loopback address only when it says so
 * again, since anyone on the path could then read and forge calls. */
int daemon_listen_tcp(struct daemon *d)
{
    const struct config *c = &d->cfg;
    struct sockaddr_storage ss;
    bool tls = c->grpc_tls_cert != NULL;

    if (!c->grpc_tcp)
        return 0;
    if (door_addr("grpc_tcp", c->grpc_tcp, &ss) < 0)
        return -EINVAL;
    bool loopback = net_addr_is_loopback((struct sockaddr *)&ss);
    if (!tls && c->grpc_tls_client_ca)
        return log_error_errno(-EINVAL, "grpc_tls_client_ca needs TLS: set grpc_tls_cert (or "
                                        "grpc_tls: true)");
    if (!tls && !c->grpc_tcp_plaintext_remote && !(loopback && c->grpc_tcp_plaintext))
        return log_error_errno(
            -EPERM,
            loopback ? "grpc_tcp: no TLS certificate for '%s'; set grpc_tls_cert (or grpc_tls: "
                       "true), or grpc_tcp_plaintext: true to serve plaintext on loopback"
                     : "grpc_tcp: refusing plaintext gRPC on non-loopback '%s' (anyone on the "
                       "path could read and forge calls); set grpc_tls_cert (or grpc_tls: "
                       "true), or grpc_tcp_plaintext_remote: true if that is meant",
            c->grpc_tcp);
    if (tls && access_tls_new("grpc_tls", c->grpc_tls_cert, c->grpc_tls_key, c->grpc_tls,
                              c->grpc_tls_sans, "\x02h2", c->grpc_tls_client_ca, &d->grpc_tls) < 0)
        return -EINVAL;
    int r = listen_door(d, UPGRADE_TCP, c->grpc_tcp, &ss, on_tcp_accept,
                        !tls                    ? "gRPC (plaintext)"
                        : c->grpc_tls_client_ca ? "gRPC (mTLS)"
                                                : "gRPC (TLS)",
                        &d->tcp);
    if (r == 0 && tls)
        net_listener_set_tls(d->tcp, d->grpc_tls);
    if (r == 0 && !tls && c->grpc_tcp_anonymous)
        log_warning("grpc_tcp: plaintext, and callers without credentials get scope %s",
                    auth_scopes_name(c->grpc_tcp_anonymous));
    return r;
}

static void on_http_accept(struct net_listener *l, struct net_conn *conn, void *userdata)
{
    struct daemon *d = userdata;
    (void)l;
    http_server_accept(d->http, conn);
}

/* The HTTP door: pages (metrics, health), socktop's WebSocket and Connect calls, each under the
 * same scopes as the gRPC doors, so any address is allowed. */
int daemon_listen_http(struct daemon *d)
{
    struct sockaddr_storage ss;

    if (!d->cfg.http)
        return 0;
    if (door_addr("http", d->cfg.http, &ss) < 0)
        return -EINVAL;
    struct api_web_opts wo = {
        .socktop = d->cfg.socktop,
        .socktop_token = d->cfg.socktop_token,
        .require_token = d->cfg.http_auth,
    };
    d->web = api_web_new(&d->host, &wo);
    d->http =
        d->web ? http_server_new(&d->loop, &d->cfg.http_limits, api_http_handle, d->web) : NULL;
    if (!d->http)
        return log_error_errno(-ENOMEM, "cannot set up the HTTP door");
    d->host.http = d->http;
    if (d->cfg.http_tls &&
        access_tls_new("http_tls", d->cfg.http_tls_cert, d->cfg.http_tls_key, true,
                       d->cfg.http_tls_sans, "\x08http/1.1", NULL, &d->http_tls) < 0)
        return -EINVAL;
    int r = listen_door(d, UPGRADE_HTTP, d->cfg.http, &ss, on_http_accept,
                        d->http_tls ? "HTTPS (/metrics, /healthz, /ws, Connect)"
                                    : "HTTP (/metrics, /healthz, /ws, Connect)",
                        &d->http_l);
    if (r == 0 && d->http_tls)
        net_listener_set_tls(d->http_l, d->http_tls);
    return r;
}

/* ---- upgrade in place (daemon/upgrade.c does the work) ---- */

static void on_rp_accept(struct net_listener *l, struct net_conn *conn, void *userdata)
{
    struct daemon *d = userdata;
    (void)l;
    api_rp_accept(d->rp, conn);
}

/* The running-process door. On its socket from before an upgrade the listener is ours and the
 * door takes the connections it accepts; otherwise the door listens itself (and checks that
 * the socket's directory is private, as upstream does). */
int daemon_listen_rp(struct daemon *d)
{
    int r = upgrade_listen(d->upgrade, UPGRADE_RP, d->cfg.rp_socket, on_rp_accept, d, &d->rp_l);

    if (r > 0 && (d->rp = api_rp_new(&d->host, &d->cfg.rp)))
        return 0;
    net_listener_close(d->rp_l);
    d->rp_l = NULL;
    return api_rp_listen(&d->host, d->cfg.rp_socket, &d->cfg.rp, &d->rp);
}

/* The drain before an upgrade's exec: each door hands its listening socket over and closes its
 * connections gracefully (GOAWAY on gRPC, whose streams end at once), calling upgrade_door_done
 * when it has; session clients hear that droverd is going. Services and sessions run on. */
