/* Who may do what, through which door: the one place where callers are identified (peer
 * credentials, client certificates, bearer tokens), where every gRPC method's scope is written
 * down, and where audit lines are written.
 *
 * Identity by door:
 *   unix socket  SO_PEERCRED: droverd's own uid and root get every scope, members of the
 *                configured read group get read; anyone else none.
 *   TCP          a verified client certificate (mTLS) gets cert_scopes; no credential at all
 *                gets tcp_anonymous (none unless configured).
 *   HTTP         calls over the Connect protocol: as TCP, but no credential gets
 *                http_anonymous (none when http_auth is on).
 *   baaaht       baaaht's own socket serves baaaht's packages (and health) only. Peers with
 *                droverd's uid, root, or in baaaht_group pass by their credentials (baaaht's
 *                own clients send no token: upstream never installed its check), unless
 *                baaaht_bearer; anyone else shows a bearer token, refused with upstream's
 *                words (UNAUTHENTICATED) on every method, health included.
 * A bearer token (`authorization: Bearer …`) adds its scopes on either door. A call without the
 * scope its method needs ends UNAUTHENTICATED when the caller showed no credential (or a bad
 * one), PERMISSION_DENIED when it is known but not allowed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "auth/auth.h"

struct authz;
struct grpc_server;
struct net_conn;

enum authz_door_kind {
    AUTHZ_DOOR_UNIX,   /* the gRPC unix socket */
    AUTHZ_DOOR_TCP,    /* gRPC over TCP (TLS or plaintext) */
    AUTHZ_DOOR_BAAAHT, /* baaaht's socket: its API only, upstream's bearer rules */
    AUTHZ_DOOR_HTTP,   /* the HTTP door's Connect calls */
    AUTHZ_DOORS,
};

#define AUTHZ_PUBLIC 0 /* a method anyone who reaches the door may call (health checks) */
/* Bearer tokens droverd hands its Stratavore runners start so: they carry no scope, and only
 * SendHeartbeat (for that runner) accepts them. */
#define AUTHZ_RUNNER_TOKEN_PREFIX "svr1."
/* Bearer tokens droverd hands the containers of baaaht's sessions (BAAAHT_CONTAINER_TOKEN): no
 * scope either; agent.v1's Register, Heartbeat, StreamAgent, StreamTask and Unregister accept
 * them, for the agent that registered with the token only (the face checks). */
#define AUTHZ_AGENT_TOKEN_PREFIX "bah1."

struct authz_opts {
    uid_t own_uid;          /* droverd's user: every scope on unix sockets (root too) */
    gid_t read_group;       /* members get read on unix sockets; (gid_t)-1: no such group */
    unsigned tcp_anonymous; /* scopes of a TCP caller without any credential */
    unsigned http_anonymous; /* the same on the HTTP door (Connect calls) */
    unsigned cert_scopes;   /* scopes of a TCP caller with a verified client certificate */
    const char *audit_file; /* audit lines are appended here as well as logged, or NULL */
    gid_t baaaht_group;     /* members pass on baaaht's socket; (gid_t)-1: none */
    bool baaaht_bearer;     /* baaaht's socket asks everyone for a bearer token */
};

/* Takes auth (may be NULL: no bearer tokens). -errno with err filled. */
int authz_new(const struct authz_opts *o, struct auth *auth, struct authz **ret, char *err,
              size_t err_size);
void authz_free(struct authz *z);
/* Swaps in new credential sources (a reload); takes auth and frees the old ones. */
void authz_set_auth(struct authz *z, struct auth *auth);
/* Hooks every call of s. -EINVAL, naming it in err, if a registered method has no scope in the
 * table: a method nobody classified must not run. */
int authz_install(struct authz *z, struct grpc_server *s, char *err, size_t err_size);
/* The value to hand grpc_server_accept for a connection of this door. */
void *authz_door(struct authz *z, enum authz_door_kind kind);

/* What a method needs: AUTH_READ, AUTH_CONTROL or AUTHZ_PUBLIC; -ENOENT if it is not in the
 * table. */
int authz_method_scope(const char *service, const char *method);
/* What a running-process request type needs: AUTH_READ or AUTH_CONTROL. */
unsigned authz_rp_scope(int type);
/* Scopes a unix-socket peer has by its credentials alone; who gets "uid:N". */
unsigned authz_peer_scopes(const struct authz *z, const struct net_conn *c, char *who, size_t size);
/* A bearer token from a non-gRPC door (HTTP). -EACCES with err when it is not valid. */
int authz_bearer(const struct authz *z, const char *token, size_t len, struct auth_principal *ret,
                 char *err, size_t err_size);
bool authz_has_bearer(const struct authz *z);
/* Writes an audit line: door, peer, who, what was asked, and how it ended. */
void authz_audit(struct authz *z, const char *door, const char *peer, const char *who,
                 const char *what, const char *result);
