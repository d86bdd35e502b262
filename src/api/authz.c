/* Access control for every door: identity, the scope table, audit (see authz.h).
 *
 * The scope table below is the whole policy: one row per gRPC method. A method added to a face
 * without a row here makes authz_install fail, so droverd refuses to start rather than serve
 * something nobody classified.
 *
 * Audit: control calls from the TCP door, and every refusal from any door, get one line when
 * the call ends: door, peer address, principal, method, final status. Lines go to the log
 * (notice) and, when configured, are appended to the audit file. Tokens never appear in them. */
#include "api/authz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/macro.h"
#include "grpc/grpc.h"
#include "net/net.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

#define R AUTH_READ
#define C AUTH_CONTROL
#define P AUTHZ_PUBLIC

static const struct scope_row {
    const char *service; /* fully qualified gRPC service */
    const char *method;  /* method name */
    int scope;           /* what the caller needs */
} scopes[] = {
    {"grpc.health.v1.Health", "Check", P},
    {"grpc.health.v1.Health", "Watch", P},
    {"grpc.reflection.v1.ServerReflection", "ServerReflectionInfo", R},
    {"grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo", R},

    {"drover.v1.Admin", "Ping", R},
    {"drover.v1.Admin", "PingStream", R},
    {"drover.v1.Admin", "Status", R},
    {"drover.v1.Admin", "Reload", C},
    {"drover.v1.Admin", "Shutdown", C},
    {"drover.v1.Admin", "Upgrade", C},
    {"drover.v1.Admin", "Events", R},

    {"orchestrator.v1.OrchestratorService", "CreateSession", C},
    {"orchestrator.v1.OrchestratorService", "GetSession", R},
    {"orchestrator.v1.OrchestratorService", "ListSessions", R},
    {"orchestrator.v1.OrchestratorService", "UpdateSession", C},
    {"orchestrator.v1.OrchestratorService", "CloseSession", C},
    {"orchestrator.v1.OrchestratorService", "SendMessage", C},
    {"orchestrator.v1.OrchestratorService", "StreamMessages", C},
    {"orchestrator.v1.OrchestratorService", "CreateContainer", C},
    {"orchestrator.v1.OrchestratorService", "GetContainer", R},
    {"orchestrator.v1.OrchestratorService", "ListContainers", R},
    {"orchestrator.v1.OrchestratorService", "StopContainer", C},
    {"orchestrator.v1.OrchestratorService", "RemoveContainer", C},
    {"orchestrator.v1.OrchestratorService", "SubscribeEvents", R},
    {"orchestrator.v1.OrchestratorService", "HealthCheck", R},
    {"orchestrator.v1.OrchestratorService", "GetStatus", R},
    /* Public at the door: an agent in a container calls them with its own token (Bearer
     * bah1.…), which the face checks against the agent; without one they need control. */
    {"agent.v1.AgentService", "Register", P},
    {"agent.v1.AgentService", "Unregister", P},
    {"agent.v1.AgentService", "Heartbeat", P},
    {"agent.v1.AgentService", "ExecuteTask", C},
    {"agent.v1.AgentService", "StreamTask", P},
    {"agent.v1.AgentService", "CancelTask", C},
    {"agent.v1.AgentService", "ListTasks", R},
    {"agent.v1.AgentService", "GetTaskStatus", R},
    {"agent.v1.AgentService", "StreamAgent", P},
    {"agent.v1.AgentService", "SendMessage", C},
    {"agent.v1.AgentService", "HealthCheck", R},
    {"agent.v1.AgentService", "GetStatus", R},
    {"agent.v1.AgentService", "GetCapabilities", R},
    {"gateway.v1.GatewayService", "CreateGatewaySession", C},
    {"gateway.v1.GatewayService", "GetGatewaySession", R},
    {"gateway.v1.GatewayService", "ListGatewaySessions", R},
    {"gateway.v1.GatewayService", "CloseGatewaySession", C},
    {"gateway.v1.GatewayService", "GatewaySendMessage", C},
    {"gateway.v1.GatewayService", "StreamChat", C},
    {"gateway.v1.GatewayService", "StreamResponses", R},
    {"gateway.v1.GatewayService", "SubscribeToEvents", R},
    {"gateway.v1.GatewayService", "HealthCheck", R},
    {"gateway.v1.GatewayService", "GetStatus", R},
    {"drover.v1.Containers", "Get", R},
    {"drover.v1.Containers", "List", R},
    {"drover.v1.Containers", "Logs", R},
    {"drover.v1.Containers", "Stats", R},
    {"drover.v1.Containers", "Wait", R},
    {"drover.v1.Containers", "Create", C},
    {"drover.v1.Containers", "Start", C},
    {"drover.v1.Containers", "Stop", C},
    {"drover.v1.Containers", "Remove", C},
    {"drover.v1.Containers", "Exec", C},
    {"drover.v1.Containers", "Attach", C},
    /* Served only to say they are not (UNIMPLEMENTED, why): read suffices to learn it. */
    {"llm.v1.LLMService", "StreamLLM", R},
    {"llm.v1.LLMService", "CompleteLLM", R},
    {"llm.v1.LLMService", "ListModels", R},
    {"llm.v1.LLMService", "GetCapabilities", R},
    {"llm.v1.LLMService", "HealthCheck", R},
    {"llm.v1.LLMService", "GetStatus", R},
    {"tool.v1.ToolService", "RegisterTool", R},
    {"tool.v1.ToolService", "UnregisterTool", R},
    {"tool.v1.ToolService", "UpdateTool", R},
    {"tool.v1.ToolService", "EnableTool", R},
    {"tool.v1.ToolService", "DisableTool", R},
    {"tool.v1.ToolService", "ListTools", R},
    {"tool.v1.ToolService", "GetTool", R},
    {"tool.v1.ToolService", "GetToolDefinition", R},
    {"tool.v1.ToolService", "ExecuteTool", R},
    {"tool.v1.ToolService", "StreamTool", R},
    {"tool.v1.ToolService", "CancelExecution", R},
    {"tool.v1.ToolService", "GetExecutionStatus", R},
    {"tool.v1.ToolService", "ListExecutions", R},
    {"tool.v1.ToolService", "HealthCheck", R},
    {"tool.v1.ToolService", "GetServiceStatus", R},
    {"tool.v1.ToolService", "GetStats", R},
    {"drover.v1.Agents", "ListAgents", R},
    {"drover.v1.Agents", "ListTasks", R},
    {"drover.v1.Images", "List", R},
    {"drover.v1.Images", "Get", R},
    {"drover.v1.Images", "Import", C},
    {"drover.v1.Images", "Remove", C},
    {"drover.v1.Images", "Prune", C},
    {"drover.v1.Services", "List", R},
    {"drover.v1.Services", "Get", R},
    {"drover.v1.Services", "Logs", R},
    {"drover.v1.Services", "Watch", R},
    {"drover.v1.Services", "Start", C},
    {"drover.v1.Services", "StartFile", C},
    {"drover.v1.Services", "Stop", C},
    {"drover.v1.Services", "Restart", C},
    {"drover.v1.Services", "Delete", C},
    {"drover.v1.Services", "Flush", C},
    {"drover.v1.Services", "Save", C},
    {"drover.v1.Services", "Resurrect", C},

    {"drover.v1.Processes", "ListActive", R},
    {"drover.v1.Processes", "ListByOriginator", R},
    {"drover.v1.Processes", "GetProcessTree", R},
    {"drover.v1.Processes", "Register", C},
    {"drover.v1.Processes", "Unregister", C},
    {"drover.v1.Processes", "SpawnDaemon", C},
    {"drover.v1.Processes", "KillZombies", C},
    {"drover.v1.Processes", "KillTree", C},

    {"drover.v1.Sessions", "ListPty", R},
    {"drover.v1.Sessions", "ListPipe", R},
    {"drover.v1.Sessions", "GetBacklog", R},
    {"drover.v1.Sessions", "GetTeeStatus", R},
    {"drover.v1.Sessions", "SpawnPty", C},
    {"drover.v1.Sessions", "SpawnPipe", C},
    {"drover.v1.Sessions", "AttachPty", C}, /* types into a terminal, may steal it */
    {"drover.v1.Sessions", "AttachPipe", C},
    {"drover.v1.Sessions", "DetachPty", C},
    {"drover.v1.Sessions", "DetachPipe", C},
    {"drover.v1.Sessions", "TerminatePty", C},
    {"drover.v1.Sessions", "TerminatePipe", C},
    {"drover.v1.Sessions", "WriteStdin", C},
    {"drover.v1.Sessions", "Send", C},
    {"drover.v1.Sessions", "PurgeExited", C},
    {"drover.v1.Sessions", "BulkTerminate", C},
    {"drover.v1.Sessions", "ResizePty", C},
    {"drover.v1.Sessions", "RegisterTee", C},
    {"drover.v1.Sessions", "UnregisterTee", C},

    {"drover.v1.Metrics", "Get", R},
    {"drover.v1.Metrics", "Watch", R},

    {"daemon.v1.DaemonService", "GetState", R},
    {"daemon.v1.DaemonService", "StreamState", R},
    {"daemon.v1.DaemonService", "ListProcesses", R},
    {"daemon.v1.DaemonService", "GetProcess", R},
    {"daemon.v1.DaemonService", "StreamProcessMetrics", R},
    {"daemon.v1.MetricsService", "GetSystemMetrics", R},
    {"daemon.v1.MetricsService", "StreamSystemMetrics", R},
    {"daemon.v1.MetricsService", "StreamProcessMetrics", R},
    {"daemon.v1.MetricsService", "StreamAllProcessMetrics", R},

    {"stratavore.v1.RunnerService", "CreateRunner", C},
    {"stratavore.v1.RunnerService", "GetRunner", R},
    {"stratavore.v1.RunnerService", "ListRunners", R},
    {"stratavore.v1.RunnerService", "UpdateRunner", C},
    {"stratavore.v1.RunnerService", "DeleteRunner", C},
    {"stratavore.v1.RunnerService", "StopRunner", C},
    {"stratavore.v1.RunnerService", "RestartRunner", C},
    {"stratavore.v1.RunnerService", "StreamRunnerEvents", R},
    /* Public at the door: a runner calls it with its own token (STRATAVORE_RUNNER_TOKEN), which
     * the face checks against the runner; without one it needs control. */
    {"stratavore.v1.RunnerService", "SendHeartbeat", P},
    {"stratavore.v1.ProjectService", "CreateProject", C},
    {"stratavore.v1.ProjectService", "GetProject", R},
    {"stratavore.v1.ProjectService", "ListProjects", R},
    {"stratavore.v1.ProjectService", "UpdateProject", C},
    {"stratavore.v1.ProjectService", "DeleteProject", C},
    {"stratavore.v1.SessionService", "CreateSession", C},
    {"stratavore.v1.SessionService", "GetSession", R},
    {"stratavore.v1.SessionService", "ListSessions", R},
    {"stratavore.v1.SessionService", "ResumeSession", C},
    {"stratavore.v1.SessionService", "GetSessionTranscript", R},
    {"stratavore.v1.DaemonService", "GetStatus", R},
    {"stratavore.v1.DaemonService", "GetMetrics", R},
    {"stratavore.v1.DaemonService", "HealthCheck", R},
    {"stratavore.v1.DaemonService", "Reconcile", C},
};

#undef R
#undef C
#undef P

#define T(name) RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_##name

/* The running-process door's request types that only read (lists, status, logs, backlogs);
 * every other type, attaches included, needs control. */
static const int rp_read_types[] = {
    T(LIST_ACTIVE),
    T(LIST_BY_ORIGINATOR),
    T(GET_PROCESS_TREE),
    T(PING),
    T(STATUS),
    T(SERVICE_LIST),
    T(SERVICE_DESCRIBE),
    T(SERVICE_LOGS),
    T(LIST_PTY_SESSIONS),
    T(LIST_PIPE_SESSIONS),
    T(GET_SESSION_BACKLOG),
    T(GET_SESSION_TEE_STATUS),
};

#undef T

unsigned authz_rp_scope(int type)
{
    for (size_t i = 0; i < ARRAY_SIZE(rp_read_types); i++)
        if (rp_read_types[i] == type)
            return AUTH_READ;
    return AUTH_CONTROL;
}

struct authz_door_state {
    enum authz_door_kind kind; /* which door */
    struct authz *z;           /* back to the policy */
};

struct authz {
    struct authz_opts o;                        /* as configured; audit_file not kept */
    struct auth *auth;                          /* bearer credentials, or NULL */
    struct authz_door_state doors[AUTHZ_DOORS]; /* the values handed to grpc_server_accept */
    int audit_fd;                               /* the audit file (O_APPEND), or -1 */
};

int authz_method_scope(const char *service, const char *method)
{
    for (size_t i = 0; i < ARRAY_SIZE(scopes); i++)
        if (!strcmp(scopes[i].method, method) && !strcmp(scopes[i].service, service))
            return scopes[i].scope;
    return -ENOENT;
}

int authz_new(const struct authz_opts *o, struct auth *auth, struct authz **ret, char *err,
              size_t err_size)
{
    struct authz *z = calloc(1, sizeof *z);
    if (!z)
        return -ENOMEM;
    z->o = *o;
    z->o.audit_file = NULL;
    z->audit_fd = -1;
    for (int i = 0; i < AUTHZ_DOORS; i++)
        z->doors[i] = (struct authz_door_state){.kind = (enum authz_door_kind)i, .z = z};
    if (o->audit_file) {
        z->audit_fd = open(o->audit_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (z->audit_fd < 0) {
            int r = -errno;
            snprintf(err, err_size, "cannot open audit_file '%s': %s", o->audit_file, strerror(-r));
            free(z);
            return r;
        }
    }
    z->auth = auth;
    *ret = z;
    return 0;
}

void authz_free(struct authz *z)
{
    if (!z)
        return;
    if (z->audit_fd >= 0)
        close(z->audit_fd);
    auth_free(z->auth);
    free(z);
}

void authz_set_auth(struct authz *z, struct auth *auth)
{
    auth_free(z->auth);
    z->auth = auth;
}

void *authz_door(struct authz *z, enum authz_door_kind kind)
{
    return &z->doors[kind];
}

bool authz_has_bearer(const struct authz *z)
{
    return auth_has_bearer(z->auth);
}

int authz_bearer(const struct authz *z, const char *token, size_t len, struct auth_principal *ret,
                 char *err, size_t err_size)
{
    return auth_bearer(z->auth, token, len, (int64_t)time(NULL), ret, err, err_size);
}

/* ---- identity ---------------------------------------------------------------------------- */

static bool in_group(const struct net_conn *c, gid_t gid)
{
    gid_t groups[256];
    if (net_conn_peer(c)->gid == gid)
        return true;
    int n = net_conn_peer_groups(c, groups, ARRAY_SIZE(groups));
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

/* "uid:N", as snprintf would write it; every call on the unix socket names its caller so. */
static void uid_name(uid_t uid, char *out, size_t size)
{
    char digits[12], *d = digits + sizeof digits;
    unsigned v = (unsigned)uid;
    *--d = '\0';
    do
        *--d = (char)('0' + v % 10);
    while (v /= 10);
    size_t n = (size_t)(digits + sizeof digits - 1 - d);
    if (size < 4 + n + 1) {
        snprintf(out, size, "uid:%s", d);
        return;
    }
    memcpy(out, "uid:", 4);
    memcpy(out + 4, d, n + 1);
}

unsigned authz_peer_scopes(const struct authz *z, const struct net_conn *c, char *who, size_t size)
{
    const struct ucred *p = net_conn_peer(c);

    uid_name(p->uid, who, size);
    if (!net_conn_is_unix(c) || p->uid == (uid_t)-1)
        return 0;
    if (p->uid == 0 || p->uid == z->o.own_uid)
        return AUTH_SCOPES_ALL;
    if (z->o.read_group != (gid_t)-1 && in_group(c, z->o.read_group))
        return AUTH_READ;
    return 0;
}

/* The caller of a call: its principal, its scopes, and whether it showed any credential. */
struct caller {
    struct auth_principal p; /* name and scopes */
    bool credential;         /* a token, a certificate or acceptable peer credentials */
    bool known_uid;          /* a unix peer (refusals name its uid) */
};

/* Whether a bearer token is one droverd handed a program it started (a Stratavore runner, an
 * agent in a baaaht container), and its principal's name then. */
static bool own_token(const char *t, size_t len, char *name, size_t size)
{
    static const char *const kinds[][2] = {{AUTHZ_RUNNER_TOKEN_PREFIX, "runner-token"},
                                           {AUTHZ_AGENT_TOKEN_PREFIX, "agent-token"}};
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (len > strlen(kinds[i][0]) && !strncmp(t, kinds[i][0], strlen(kinds[i][0]))) {
            snprintf(name, size, "%s", kinds[i][1]);
            return true;
        }
    return false;
}

/* The `authorization` metadata: -EACCES with msg for a malformed or invalid one, 0 with
 * ret->credential unset when there is none. */
static int bearer_of(const struct authz *z, struct grpc_call *call, struct caller *ret, char *msg,
                     size_t size)
{
    size_t len;
    const char *v = grpc_call_metadata(call, "authorization", &len);
    char why[256];
    struct auth_principal tp;

    if (!v)
        return 0;
    if (len < 7 || strncasecmp(v, "Bearer ", 7)) {
        snprintf(msg, size, "authorization metadata must be 'Bearer TOKEN'");
        return -EACCES;
    }
    if (own_token(v + 7, len - 7, ret->p.name, sizeof ret->p.name)) {
        /* A runner's or an agent's own credential: no scope; the methods that take it check
         * it. */
        ret->credential = true;
        return 0;
    }
    if (authz_bearer(z, v + 7, len - 7, &tp, why, sizeof why) < 0) {
        snprintf(msg, size, "invalid bearer token: %s", why);
        return -EACCES;
    }
    ret->p.scopes |= tp.scopes;
    snprintf(ret->p.name, sizeof ret->p.name, "%s", tp.name);
    ret->credential = true;
    return 0;
}

static int identify(const struct authz_door_state *d, struct grpc_call *call, struct caller *ret,
                    char *msg, size_t size)
{
    const struct authz *z = d->z;
    struct net_conn *c = grpc_call_conn(call);
    char subject[128];

    *ret = (struct caller){.p.scopes = 0};
    if (d->kind == AUTHZ_DOOR_UNIX) {
        ret->p.scopes = authz_peer_scopes(z, c, ret->p.name, sizeof ret->p.name);
        ret->credential = ret->p.scopes != 0;
        ret->known_uid = true;
    } else if (net_conn_tls_subject(c, subject, sizeof subject) > 0) {
        snprintf(ret->p.name, sizeof ret->p.name, "cert:%s", subject);
        ret->p.scopes = z->o.cert_scopes;
        ret->credential = true;
    } else {
        snprintf(ret->p.name, sizeof ret->p.name, "anonymous");
        ret->p.scopes = d->kind == AUTHZ_DOOR_HTTP ? z->o.http_anonymous : z->o.tcp_anonymous;
    }
    return bearer_of(z, call, ret, msg, size);
}

/* ---- the gRPC hooks ---------------------------------------------------------------------- */

static bool baaaht_package(const char *service)
{
    static const char *const pkgs[] = {"orchestrator.v1.", "agent.v1.", "gateway.v1.",
                                       "llm.v1.",          "tool.v1.",  "grpc.health.v1."};
    for (size_t i = 0; i < ARRAY_SIZE(pkgs); i++)
        if (!strncmp(service, pkgs[i], strlen(pkgs[i])))
            return true;
    return false;
}

/* baaaht's socket: its packages only; trusted peers pass, anyone else shows a bearer token, and
 * refusals are upstream's (its interceptor's checks, in its order and words). */
static enum grpc_status_code authorize_baaaht(const struct authz_door_state *d,
                                              struct grpc_call *call, const char *service,
                                              const char *method, char *msg, size_t size)
{
    const struct authz *z = d->z;
    struct net_conn *c = grpc_call_conn(call);
    const struct ucred *p = net_conn_peer(c);
    char who[64];
    size_t len;

    if (!baaaht_package(service))
        return snprintf(msg, size,
                        "this socket serves baaaht's API only (orchestrator.v1, "
                        "agent.v1, gateway.v1, llm.v1, tool.v1)"),
               GRPC_UNIMPLEMENTED;
    snprintf(who, sizeof who, "uid:%u", (unsigned)p->uid);
    if (!z->o.baaaht_bearer && p->uid != (uid_t)-1 &&
        (p->uid == 0 || p->uid == z->o.own_uid ||
         (z->o.baaaht_group != (gid_t)-1 && in_group(c, z->o.baaaht_group)))) {
        grpc_call_set_principal(call, who);
        grpc_call_set_scopes(call, AUTH_SCOPES_ALL);
        return GRPC_OK;
    }
    const char *v = grpc_call_metadata(call, "authorization", &len);
    struct auth_principal tp;
    char why[256];
    if (!v)
        return snprintf(msg, size, "PERMISSION: no authorization token provided"),
               GRPC_UNAUTHENTICATED;
    if (len < 7 || strncmp(v, "Bearer ", 7))
        return snprintf(msg, size, "PERMISSION: authorization token must start with \"Bearer \""),
               GRPC_UNAUTHENTICATED;
    if (len == 7)
        return snprintf(msg, size, "PERMISSION: empty authorization token"), GRPC_UNAUTHENTICATED;
    int need = authz_method_scope(service, method);
    if (own_token(v + 7, len - 7, who, sizeof who)) { /* an agent's own: the face checks it */
        grpc_call_set_principal(call, who);
        if (need == AUTHZ_PUBLIC && strcmp(service, "grpc.health.v1.Health"))
            return GRPC_OK;
        return snprintf(msg, size,
                        "an agent's own token serves Register, Heartbeat, StreamAgent, "
                        "StreamTask and Unregister only"),
               GRPC_PERMISSION_DENIED;
    }
    if (authz_bearer(z, v + 7, len - 7, &tp, why, sizeof why) < 0) {
        grpc_call_set_principal(call, "invalid-token");
        return snprintf(msg, size, "invalid authentication token"), GRPC_UNAUTHENTICATED;
    }
    grpc_call_set_principal(call, tp.name);
    grpc_call_set_scopes(call, tp.scopes);
    if (need == AUTHZ_PUBLIC && !strcmp(service, "agent.v1.AgentService"))
        return GRPC_OK; /* the face asks for control, or the agent's own token */
    if (need == AUTHZ_PUBLIC)
        need = AUTH_READ; /* health too: upstream checks every method */
    if (need < 0)
        return snprintf(msg, size, "/%s/%s has no scope in droverd's table", service, method),
               GRPC_PERMISSION_DENIED;
    if ((tp.scopes & (unsigned)need) == (unsigned)need)
        return GRPC_OK;
    snprintf(msg, size, "%s has scope %s; /%s/%s needs %s", tp.name, auth_scopes_name(tp.scopes),
             service, method, need == AUTH_CONTROL ? "control" : "read");
    return GRPC_PERMISSION_DENIED;
}

static enum grpc_status_code authorize(struct grpc_call *call, const char *service,
                                       const char *method, char *msg, size_t size, void *userdata)
{
    const struct authz_door_state *d = grpc_call_door(call);
    struct caller who;
    int need = authz_method_scope(service, method);
    (void)userdata;

    if (!d) /* a connection no door vouched for (none in droverd) */
        return snprintf(msg, size, "connection without a door"), GRPC_PERMISSION_DENIED;
    if (d->kind == AUTHZ_DOOR_BAAAHT)
        return authorize_baaaht(d, call, service, method, msg, size);
    if (identify(d, call, &who, msg, size) < 0) {
        grpc_call_set_principal(call, "invalid-token");
        return GRPC_UNAUTHENTICATED;
    }
    grpc_call_set_principal(call, who.p.name);
    grpc_call_set_scopes(call, who.p.scopes);
    if (need == AUTHZ_PUBLIC)
        return GRPC_OK;
    if (need < 0)
        return snprintf(msg, size, "/%s/%s has no scope in droverd's table", service, method),
               GRPC_PERMISSION_DENIED;
    if ((who.p.scopes & (unsigned)need) == (unsigned)need)
        return GRPC_OK;
    const char *want = need == AUTH_CONTROL ? "control" : "read";
    if (!who.credential && who.known_uid)
        snprintf(msg, size, "%s may not use this socket (only uid %u and root%s)", who.p.name,
                 (unsigned)d->z->o.own_uid,
                 d->z->o.read_group != (gid_t)-1 ? ", or the read group for read calls" : "");
    else if (!who.credential)
        snprintf(msg, size,
                 "credentials required: 'authorization: Bearer TOKEN' or a client "
                 "certificate (/%s/%s needs scope %s)",
                 service, method, want);
    else
        snprintf(msg, size, "%s has scope %s; /%s/%s needs %s", who.p.name,
                 auth_scopes_name(who.p.scopes), service, method, want);
    return who.credential || who.known_uid ? GRPC_PERMISSION_DENIED : GRPC_UNAUTHENTICATED;
}

void authz_audit(struct authz *z, const char *door, const char *peer, const char *who,
                 const char *what, const char *result)
{
    char line[1024], stamp[40];
    struct timespec ts;
    struct tm tm;

    log_notice("audit: door=%s peer=%s who=%s call=%s result=%s", door, peer, who, what, result);
    if (z->audit_fd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(line, sizeof line, "%s.%03ldZ door=%s peer=%s who=%s call=%s result=%s\n",
                     stamp, ts.tv_nsec / 1000000, door, peer, who, what, result);
    if (n > (int)sizeof line - 1) {
        n = (int)sizeof line;
        line[n - 1] = '\n';
    }
    if (write(z->audit_fd, line, (size_t)n) < 0)
        log_warning("cannot write the audit file: %m");
}

static void audit(struct grpc_call *call, enum grpc_status_code code, const char *msg,
                  void *userdata)
{
    const struct authz_door_state *d = grpc_call_door(call);
    const char *path = grpc_call_path(call), *slash = path ? strchr(path + 1, '/') : NULL;
    char peer[128], service[256], result[600];
    bool denied = code == GRPC_UNAUTHENTICATED || code == GRPC_PERMISSION_DENIED;
    (void)userdata;

    /* Only refusals, and control calls over TCP, are audited: the rest leave at once. */
    if (!d || !slash || (size_t)(slash - path) > sizeof service ||
        (!denied && d->kind != AUTHZ_DOOR_TCP && d->kind != AUTHZ_DOOR_HTTP))
        return;
    snprintf(service, sizeof service, "%.*s", (int)(slash - path - 1), path + 1);
    bool control = authz_method_scope(service, slash + 1) == AUTH_CONTROL;
    if (!denied && !(control && (d->kind == AUTHZ_DOOR_TCP || d->kind == AUTHZ_DOOR_HTTP)))
        return;
    net_conn_peer_address(grpc_call_conn(call), peer, sizeof peer);
    snprintf(result, sizeof result, "%s%s%s%s", grpc_status_name(code), msg && *msg ? " (" : "",
             msg && *msg ? msg : "", msg && *msg ? ")" : "");
    const char *who = grpc_call_principal(call);
    authz_audit(d->z,
                d->kind == AUTHZ_DOOR_TCP      ? "tcp"
                : d->kind == AUTHZ_DOOR_HTTP   ? "http"
                : d->kind == AUTHZ_DOOR_BAAAHT ? "baaaht"
                                               : "unix",
                peer, who ? who : "?", path, result);
}

int authz_install(struct authz *z, struct grpc_server *s, char *err, size_t err_size)
{
    const struct grpc_service *svc;

    for (size_t i = 0; (svc = grpc_server_service_at(s, i)); i++)
        for (size_t j = 0; j < svc->n_methods; j++)
            if (authz_method_scope(svc->name, svc->methods[j].name) == -ENOENT) {
                snprintf(err, err_size, "/%s/%s has no row in the scope table (api/authz.c)",
                         svc->name, svc->methods[j].name);
                return -EINVAL;
            }
    grpc_server_set_auth(s, &(struct grpc_auth_hooks){authorize, audit, z});
    return 0;
}
