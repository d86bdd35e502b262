/* running-process-daemon's command line (upstream's bin/daemon.rs), served by droverd:
 *
 *   start [--scope S] [--socket-path P] [--db-path D] [--service N]   run in the foreground
 *   stop | ping | status | list [--json] [--originator T] | tree PID | kill PID
 *   kill-zombies [--dry-run]
 *
 * `start` runs droverd with the running-process door at upstream's path (daemon.sock, or
 * daemon-S.sock with a scope, in $XDG_RUNTIME_DIR/running-process/ else
 * /tmp/running-process-$UID/) and the database at upstream's path; droverd's own gRPC socket
 * goes beside the running-process one. The other commands are a small blocking client of that
 * socket, with upstream's 30 s deadline. */
#include "daemon/compat.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/paths.h"
#include "base/time-util.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "net/lenframe.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

#define RPC_TIMEOUT_MS 30000
#define MAX_REPLY      (16u << 20) /* upstream's client cap */

struct opts {
    const char *scope;       /* --scope */
    const char *socket_path; /* --socket-path */
    const char *db_path;     /* --db-path */
    const char *originator;  /* --originator (list) */
    bool json;               /* --json */
    bool dry_run;            /* --dry-run */
    const char *operand;     /* PID for tree and kill */
};

static int usage(void)
{
    fprintf(stderr,
            "Usage: running-process-daemon COMMAND [OPTIONS]\n"
            "droverd speaking running-process's daemon command line.\n\n"
            "  start [--scope S] [--socket-path P] [--db-path D]   serve in the foreground\n"
            "  stop                                              ask the daemon to shut down\n"
            "  ping | status                                     check the daemon\n"
            "  list [--json] [--originator TOOL]                 tracked processes\n"
            "  tree PID | kill PID | kill-zombies [--dry-run]     process operations\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "--scope")         ? &o->scope
                              : !strcmp(a, "--socket-path") ? &o->socket_path
                              : !strcmp(a, "--db-path")     ? &o->db_path
                              : !strcmp(a, "--originator")  ? &o->originator
                              : !strcmp(a, "--service")     ? &(const char *){NULL}
                                                            : NULL;
        if (target) {
            if (i + 1 >= argc) {
                fprintf(stderr, "running-process-daemon: %s needs a value\n", a);
                return -1;
            }
            *target = argv[++i];
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--dry-run")) {
            o->dry_run = true;
        } else if (a[0] != '-' && !o->operand) {
            o->operand = a;
        } else {
            fprintf(stderr, "running-process-daemon: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    return 0;
}

static char *socket_path(const struct opts *o)
{
    return o->socket_path ? strdup(o->socket_path) : paths_rp_socket(o->scope);
}

/* ---- start ---- */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash != path ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

static int start(const struct opts *o)
{
    static struct config_flag flags[5];
    static char *rp, *db, *grpc_sock, *state;
    size_t n = 0;

    rp = socket_path(o);
    db = o->db_path ? strdup(o->db_path) : paths_rp_db(o->scope);
    state = db ? dir_of(db) : NULL;
    char *rp_dir = rp ? dir_of(rp) : NULL;
    if (!rp || !db || !state || !rp_dir ||
        asprintf(&grpc_sock, "%s/drover%s%s.sock", rp_dir, o->scope ? "-" : "",
                 o->scope ? o->scope : "") < 0)
        return 1;
    free(rp_dir);
    flags[n++] = (struct config_flag){config_option_find("rp_socket"), rp};
    flags[n++] = (struct config_flag){config_option_find("db_path"), db};
    flags[n++] = (struct config_flag){config_option_find("state_dir"), state};
    flags[n++] = (struct config_flag){config_option_find("socket"), grpc_sock};
    return daemon_main(NULL, flags, n, o->scope);
}

/* ---- the client ---- */

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

/* Reads or writes exactly n bytes before the deadline. */
static int io_all(int fd, void *p, size_t n, bool writing, uint64_t deadline)
{
    for (size_t done = 0; done < n;) {
        int64_t left = (int64_t)(deadline - mono_ms());
        struct pollfd pfd = {fd, writing ? POLLOUT : POLLIN, 0};
        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return -errno;
        ssize_t k = writing ? send(fd, (char *)p + done, n - done, MSG_NOSIGNAL)
                            : recv(fd, (char *)p + done, n - done, 0);
        if (k == 0)
            return -ECONNRESET;
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        if (k > 0)
            done += (size_t)k;
    }
    return 0;
}

/* One request, one response. */
static int call(const char *path, RunningProcess__Daemon__V1__DaemonRequest *req,
                RunningProcess__Daemon__V1__DaemonResponse **ret, int *ret_fd)
{
    uint64_t deadline = mono_ms() + RPC_TIMEOUT_MS;
    _cleanup_close_ int fd = connect_to(path);
    struct buf out;
    uint8_t hdr[LENFRAME_HEADER];
    uint32_t n;
    int r;

    if (fd < 0)
        return fd;
    req->id = 1;
    req->protocol_version = 1;
    req->client_name = "running-process-daemon";
    buf_init(&out, 0);
    if ((r = lenframe_append_message(&out, &req->base)) < 0) {
        buf_done(&out);
        return r;
    }
    r = io_all(fd, buf_head(&out), out.len, true, deadline);
    buf_done(&out);
    if (r < 0 || (r = io_all(fd, hdr, sizeof hdr, false, deadline)) < 0)
        return r;
    if (lenframe_next(hdr, sizeof hdr, MAX_REPLY, &n) < 0)
        return -EMSGSIZE;
    _cleanup_free_ uint8_t *body = malloc(n ? n : 1);
    if (!body)
        return -ENOMEM;
    if ((r = io_all(fd, body, n, false, deadline)) < 0)
        return r;
    *ret = running_process__daemon__v1__daemon_response__unpack(NULL, n, body);
    if (!*ret)
        return -EBADMSG;
    if (ret_fd)
        *ret_fd = TAKE_FD(fd);
    return 0;
}

/* The payload field of a request or a reply: the protocol numbers each after its request type. */
static ProtobufCMessage **payload(const ProtobufCMessageDescriptor *d, void *m,
                                  RunningProcess__Daemon__V1__RequestType type)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, (unsigned)type);
    return (ProtobufCMessage **)((char *)m + f->offset);
}

static void done(RunningProcess__Daemon__V1__DaemonResponse *r)
{
    running_process__daemon__v1__daemon_response__free_unpacked(r, NULL);
}

/* Sends a request of type with msg as its payload (NULL: none) and checks the reply's code;
 * prints what went wrong. With ret_fd, the connection stays open for the caller (who closes
 * it). */
static RunningProcess__Daemon__V1__DaemonResponse *
request(const struct opts *o, RunningProcess__Daemon__V1__RequestType type,
        const ProtobufCMessage *msg, int *ret_fd)
{
    RunningProcess__Daemon__V1__DaemonRequest req =
        RUNNING_PROCESS__DAEMON__V1__DAEMON_REQUEST__INIT;
    _cleanup_free_ char *path = socket_path(o);
    RunningProcess__Daemon__V1__DaemonResponse *resp = NULL;

    req.type = type;
    if (msg)
        *payload(&running_process__daemon__v1__daemon_request__descriptor, &req, type) =
            (ProtobufCMessage *)msg;
    int r = path ? call(path, &req, &resp, ret_fd) : -ENOMEM;
    if (r < 0) {
        fprintf(stderr, "running-process-daemon: no daemon answers at %s (%s)\n", path ? path : "?",
                strerror(-r));
        return NULL;
    }
    if (resp->code != 0) {
        fprintf(stderr, "running-process-daemon: %s\n", resp->message);
        done(resp);
        if (ret_fd)
            close(*ret_fd);
        return NULL;
    }
    return resp;
}

/* The path of the commands that print what the daemon answers: the request, its answer checked
 * (a reply without the payload of its type is a failure too), printed by print. Returns the
 * exit status. */
static int
ask(const struct opts *o, RunningProcess__Daemon__V1__RequestType type, const ProtobufCMessage *msg,
    void (*print)(const struct opts *o, const RunningProcess__Daemon__V1__DaemonResponse *r))
{
    RunningProcess__Daemon__V1__DaemonResponse *r = request(o, type, msg, NULL);
    if (!r)
        return 1;
    bool answered = *payload(&running_process__daemon__v1__daemon_response__descriptor, r, type);
    if (answered)
        print(o, r);
    done(r);
    return answered ? 0 : 1;
}

static int cmd_ping(const struct opts *o)
{
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    RunningProcess__Daemon__V1__DaemonResponse *r =
        request(o, RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_PING, NULL, NULL);
    if (!r)
        return 1;
    printf("pong (%.3f ms)\n", (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6);
    done(r);
    return 0;
}

static int cmd_stop(const struct opts *o)
{
    int fd = -1;
    RunningProcess__Daemon__V1__DaemonResponse *r =
        request(o, RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_SHUTDOWN, NULL, &fd);
    if (!r)
        return 1;
    done(r);
    /* The reply comes first. The daemon closes this connection after it has removed its
     * socket: end of file here means it has let go. */
    struct pollfd pfd = {fd, POLLIN, 0};
    char byte;
    while (poll(&pfd, 1, 10000) > 0 && read(fd, &byte, 1) > 0)
        ;
    close(fd);
    printf("daemon stopped\n");
    return 0;
}

static void print_status(const struct opts *o, const RunningProcess__Daemon__V1__DaemonResponse *r)
{
    const RunningProcess__Daemon__V1__StatusResponse *s = r->status;
    (void)o;
    printf("version:           %s\nuptime:            %llu s\ntracked processes: %u\n"
           "connections:       %u\nsocket:            %s\ndatabase:          %s\n"
           "scope:             %s\nscope cwd:         %s\nemergency reserve: %s\n",
           s->version, (unsigned long long)s->uptime_seconds, s->tracked_process_count,
           s->active_connections, s->socket_path, s->db_path, s->scope, s->scope_cwd,
           s->emergency_reserve);
}

static int cmd_status(const struct opts *o)
{
    return ask(o, RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_STATUS, NULL,
               print_status);
}

static const char *state_name(int s)
{
    static const char *const names[] = {"unknown", "alive", "dead", "zombie"};
    return s >= 0 && s < 4 ? names[s] : "unknown";
}

static void print_list(const struct opts *o, const RunningProcess__Daemon__V1__DaemonResponse *r)
{
    RunningProcess__Daemon__V1__TrackedProcess **rows =
        o->originator ? r->list_by_originator->processes : r->list_active->processes;
    size_t n = o->originator ? r->list_by_originator->n_processes : r->list_active->n_processes;

    if (o->json) {
        json_t *a = json_array();
        for (size_t k = 0; a && k < n; k++) {
            const RunningProcess__Daemon__V1__TrackedProcess *p = rows[k];
            json_array_append_new(
                a, json_pack("{s:i, s:f, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:b, s:s, s:f}", "pid",
                             (int)p->pid, "created_at", p->created_at, "kind", p->kind, "command",
                             p->command, "cwd", p->cwd, "originator", p->originator, "containment",
                             p->containment, "registered_at", p->registered_at, "uptime_seconds",
                             p->uptime_seconds, "parent_alive", p->parent_alive, "state",
                             state_name(p->state), "last_validated_at", p->last_validated_at));
        }
        json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(a);
    } else if (n == 0) {
        printf("no tracked processes\n");
    } else {
        for (size_t k = 0; k < n; k++)
            printf("%-8u %-7s %-20s %s\n", rows[k]->pid, state_name(rows[k]->state),
                   rows[k]->originator[0] ? rows[k]->originator : "-", rows[k]->command);
    }
}

static int cmd_list(const struct opts *o)
{
    RunningProcess__Daemon__V1__ListByOriginatorRequest by =
        RUNNING_PROCESS__DAEMON__V1__LIST_BY_ORIGINATOR_REQUEST__INIT;

    if (!o->originator)
        return ask(o, RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_LIST_ACTIVE, NULL,
                   print_list);
    by.tool = (char *)o->originator;
    return ask(o, RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_LIST_BY_ORIGINATOR,
               &by.base, print_list);
}

static int need_pid(const struct opts *o, uint32_t *ret)
{
    char *end;
    unsigned long v = o->operand ? strtoul(o->operand, &end, 10) : 0;
    if (!o->operand || *end || v == 0 || v > INT32_MAX) {
        fprintf(stderr, "running-process-daemon: a process id is needed\n");
        return -1;
    }
    *ret = (uint32_t)v;
    return 0;
}

static void print_tree(const struct opts *o, const RunningProcess__Daemon__V1__DaemonResponse *r)
{
    (void)o;
    printf("%s\n", r->get_process_tree->tree_display);
}

static int cmd_tree(const struct opts *o)
{
    RunningProcess__Daemon__V1__GetProcessTreeRequest req =
        RUNNING_PROCESS__DAEMON__V1__GET_PROCESS_TREE_REQUEST__INIT;
    if (need_pid(o, &req.pid) < 0)
        return 2;
    return ask(o, RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_GET_PROCESS_TREE,
               &req.base, print_tree);
}

static void print_killed(const struct opts *o, const RunningProcess__Daemon__V1__DaemonResponse *r)
{
    (void)o;
    printf("killed %u processes\n", r->kill_tree->processes_killed);
}

static int cmd_kill(const struct opts *o)
{
    RunningProcess__Daemon__V1__KillTreeRequest req =
        RUNNING_PROCESS__DAEMON__V1__KILL_TREE_REQUEST__INIT;
    if (need_pid(o, &req.pid) < 0)
        return 2;
    return ask(o, RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_KILL_TREE, &req.base,
               print_killed);
}

static void print_zombies(const struct opts *o, const RunningProcess__Daemon__V1__DaemonResponse *r)
{
    (void)o;
    for (size_t k = 0; k < r->kill_zombies->n_zombies; k++) {
        const RunningProcess__Daemon__V1__ZombieReport *z = r->kill_zombies->zombies[k];
        printf("%-8u %s%s\n", z->pid, z->reason, z->killed ? " (killed)" : "");
    }
    if (r->kill_zombies->n_zombies == 0)
        printf("no zombies\n");
}

static int cmd_kill_zombies(const struct opts *o)
{
    RunningProcess__Daemon__V1__KillZombiesRequest req =
        RUNNING_PROCESS__DAEMON__V1__KILL_ZOMBIES_REQUEST__INIT;
    req.dry_run = o->dry_run;
    return ask(o, RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_KILL_ZOMBIES, &req.base,
               print_zombies);
}

int compat_main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(const struct opts *o);
    } cmds[] = {
        {"start", start},   {"stop", cmd_stop},
        {"ping", cmd_ping}, {"status", cmd_status},
        {"list", cmd_list}, {"tree", cmd_tree},
        {"kill", cmd_kill}, {"kill-zombies", cmd_kill_zombies},
    };
    struct opts o = {0};

    log_set_ident("droverd");
    if (argc < 2)
        return usage();
    if (parse(argc, argv, &o) < 0)
        return 2;
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].run(&o);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage();
        return 0;
    }
    fprintf(stderr, "running-process-daemon: unknown command '%s'\n", argv[1]);
    return usage();
}
