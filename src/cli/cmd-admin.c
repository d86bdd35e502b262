/* drover ping, status, shutdown, reload, upgrade, events: the drover.v1.Admin calls. All but ping
 * (which times its call) and upgrade (which has an option, and waits for the new image to
 * answer) go through cli_call_show with a function that shows the answer. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "base/time-util.h"
#include "cli/cli.h"
#include "drover/v1/admin.pb-c.h"
#include "grpc/wire.h"

#define ADMIN "/drover.v1.Admin/"

int cmd_ping(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__PingRequest req = DROVER__V1__PING_REQUEST__INIT;
    Drover__V1__PingResponse *resp = NULL;
    char when[64] = "";
    int i = cli_parse_common(cli, self, argc, argv, 0);

    if (i < 0)
        return cli_exit_code(i);
    if (cli_connect(cli) < 0)
        return 1;
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    if (cli_unary(cli, ADMIN "Ping", &req.base, &drover__v1__ping_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    double ms = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
    if (resp->server_time)
        cli_format_time(resp->server_time->seconds, resp->server_time->nanos, when, sizeof when);
    if (cli->json)
        cli_print_json(json_pack("{s:s, s:f, s:s}", "socket", cli->socket_path, "rtt_ms", ms,
                                 "server_time", when));
    else
        printf("pong from droverd at %s in %.3f ms (server time %s)\n", cli->socket_path, ms, when);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

/* The state on disk, in JSON: added to the object o. */
static void state_json(json_t *o, const Drover__V1__StatusResponse *s, const char *error_at)
{
    json_object_set_new(o, "db_path", json_string(s->db_path));
    json_object_set_new(o, "db_bytes", json_integer((json_int_t)s->db_bytes));
    json_object_set_new(o, "emergency_reserve", json_string(s->emergency_reserve));
    json_object_set_new(o, "emergency_reserve_bytes",
                        json_integer((json_int_t)s->emergency_reserve_bytes));
    json_object_set_new(o, "unsynced_rows", json_integer(s->unsynced_rows));
    json_object_set_new(o, "last_write_error",
                        s->last_write_error[0] ? json_string(s->last_write_error) : json_null());
    json_object_set_new(o, "last_write_error_at", *error_at ? json_string(error_at) : json_null());
    json_object_set_new(o, "container_runtime", json_string(s->container_runtime));
    json_object_set_new(o, "container_runtime_path", json_string(s->container_runtime_path));
    json_object_set_new(o, "container_runtime_note", json_string(s->container_runtime_note));
    json_object_set_new(o, "containers", json_integer(s->containers));
    json_object_set_new(o, "containers_running", json_integer(s->containers_running));
}

/* The state on disk, for people. */
static void state_text(const Drover__V1__StatusResponse *s, const char *error_at)
{
    char db[32], reserve[32];

    cli_format_bytes(s->db_bytes, db, sizeof db);
    cli_format_bytes(s->emergency_reserve_bytes, reserve, sizeof reserve);
    printf("  database:     %s (%s)\n", s->db_path, db);
    if (!strcmp(s->emergency_reserve, "armed"))
        printf("  reserve:      armed, %s\n", reserve);
    else
        printf("  reserve:      %s\n", s->emergency_reserve);
    if (s->unsynced_rows)
        printf("  state:        %u row%s waiting to be written again\n", s->unsynced_rows,
               s->unsynced_rows == 1 ? "" : "s");
    else
        printf("  state:        in sync\n");
    if (s->last_write_error[0])
        printf("  last write error: %s at %s\n", s->last_write_error, error_at);
    if (s->container_runtime[0])
        printf("  containers:   %u, %u running; runtime %s (%s): %s\n", s->containers,
               s->containers_running, s->container_runtime, s->container_runtime_path,
               s->container_runtime_note);
    else
        printf("  containers:   none can run here: %s\n", s->container_runtime_note);
}

static int show_status(struct cli *cli, const ProtobufCMessage *m)
{
    const Drover__V1__StatusResponse *s = (const void *)m;
    char started[64] = "", up[32] = "", rss[32], error_at[64] = "";
    uint64_t up_s = s->uptime ? (uint64_t)s->uptime->seconds : 0;
    double up_exact = s->uptime ? (double)s->uptime->seconds + s->uptime->nanos / 1e9 : 0;
    if (s->started_at)
        cli_format_time(s->started_at->seconds, s->started_at->nanos, started, sizeof started);
    cli_format_duration(up_s, up, sizeof up);
    cli_format_bytes(s->rss_bytes, rss, sizeof rss);
    if (s->last_write_error_at)
        cli_format_time(s->last_write_error_at->seconds, s->last_write_error_at->nanos, error_at,
                        sizeof error_at);

    if (cli->json) {
        json_t *o =
            json_pack("{s:s, s:i, s:s, s:f, s:s, s:s, s:s?, s:i, s:i, s:I, s:I}", "version",
                      s->version, "pid", s->pid, "started_at", started, "uptime_seconds", up_exact,
                      "socket_path", s->socket_path, "state_dir", s->state_dir, "config_path",
                      s->config_path[0] ? s->config_path : NULL, "open_connections",
                      s->open_connections, "active_calls", s->active_calls, "calls_total",
                      (json_int_t)s->calls_total, "rss_bytes", (json_int_t)s->rss_bytes);
        if (o)
            state_json(o, s, error_at);
        cli_print_json(o);
    } else {
        printf("droverd %s (pid %d), up %s since %s\n", s->version, s->pid, up, started);
        printf("  socket:       %s\n", s->socket_path);
        printf("  state dir:    %s\n", s->state_dir);
        printf("  config:       %s\n", s->config_path[0] ? s->config_path : "built-in");
        printf("  connections:  %u\n", s->open_connections);
        printf("  calls:        %u active, %llu since start\n", s->active_calls,
               (unsigned long long)s->calls_total);
        printf("  memory:       %s resident\n", rss);
        state_text(s, error_at);
    }
    return 0;
}

const struct cli_simple cli_status = {ADMIN "Status", &drover__v1__status_request__descriptor,
                                      &drover__v1__status_response__descriptor, show_status};

/* Whether a flock(2) is held on path now, read from /proc/locks (taking the lock to find out
 * would make a droverd starting at that moment fail). false when it cannot be told. */
static bool lock_held(const char *path)
{
    struct stat st;
    char line[256], want[64];
    bool held = false;
    if (stat(path, &st) < 0)
        return false;
    snprintf(want, sizeof want, "%02x:%02x:%llu ", major(st.st_dev), minor(st.st_dev),
             (unsigned long long)st.st_ino);
    FILE *f = fopen("/proc/locks", "re");
    while (f && !held && fgets(line, sizeof line, f))
        held = strstr(line, " FLOCK ") && strstr(line, want);
    if (f)
        fclose(f);
    return held;
}

static int show_shutdown(struct cli *cli, const ProtobufCMessage *m)
{
    int pid = ((const Drover__V1__ShutdownResponse *)(const void *)m)->pid;
    char lock[4096];

    /* droverd closes our connection when its graceful shutdown is over; it has exited once its
     * lock on <socket>.lock is gone (then a droverd started next finds the socket free). */
    uint64_t deadline = mono_ms() + 30000;
    bool gone = false;
    while (!gone && mono_ms() < deadline)
        gone = drover_client_poll(cli->client, 200) < 0;
    snprintf(lock, sizeof lock, "%s.lock", cli->socket_path);
    while (gone && !cli->target.host && lock_held(lock) && mono_ms() < deadline)
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    gone = gone && (cli->target.host || !lock_held(lock)); /* remote: its connection ended */
    if (cli->json)
        cli_print_json(json_pack("{s:i, s:b}", "pid", pid, "stopped", gone));
    else if (gone)
        printf("droverd (pid %d) has shut down\n", pid);
    else
        printf("droverd (pid %d) is still shutting down\n", pid);
    return 0;
}

const struct cli_simple cli_shutdown = {ADMIN "Shutdown", &drover__v1__shutdown_request__descriptor,
                                        &drover__v1__shutdown_response__descriptor, show_shutdown};

static int show_reload(struct cli *cli, const ProtobufCMessage *m)
{
    const Drover__V1__ReloadResponse *r = (const void *)m;

    if (cli->json)
        cli_print_json(json_pack(
            "{s:s?, s:i, s:i, s:i, s:i}", "config_path", r->config_path[0] ? r->config_path : NULL,
            "added", (int)r->services_added, "changed", (int)r->services_changed, "removed",
            (int)r->services_removed, "unchanged", (int)r->services_unchanged));
    else
        printf("reloaded %s: services %u added, %u changed, %u removed, %u unchanged\n",
               r->config_path[0] ? r->config_path : "the built-in configuration", r->services_added,
               r->services_changed, r->services_removed, r->services_unchanged);
    return 0;
}

const struct cli_simple cli_reload = {ADMIN "Reload", &drover__v1__reload_request__descriptor,
                                      &drover__v1__reload_response__descriptor, show_reload};

/* ---- upgrade ---- */

#define UPGRADE_WAIT_MS 120000 /* how long the new image may take to answer */

static const struct cli_option upgrade_opts[] = {
    {"--binary", "PATH", "the droverd to run (default: the installed one)"},
    {0},
};

/* Status from whichever droverd answers now, on a connection of its own (the drain closed the
 * one the upgrade was asked on); NULL while none answers. */
static Drover__V1__StatusResponse *fresh_status(const struct drover_target *t)
{
    Drover__V1__StatusRequest req = DROVER__V1__STATUS_REQUEST__INIT;
    struct drover_client *c = NULL;
    ProtobufCMessage *resp = NULL;
    struct drover_status st;

    if (drover_client_open(t, &c, NULL, 0) < 0)
        return NULL;
    if (drover_client_unary(c, ADMIN "Status", &req.base, &drover__v1__status_response__descriptor,
                            &resp, &st, 10000) < 0 ||
        st.code != GRPC_OK)
        resp = NULL;
    drover_client_free(c);
    return (Drover__V1__StatusResponse *)resp;
}

static bool started_later(const Google__Protobuf__Timestamp *a,
                          const Google__Protobuf__Timestamp *b)
{
    return a && b && (a->seconds > b->seconds || (a->seconds == b->seconds && a->nanos > b->nanos));
}

/* Waits for the new image: the same pid, started after the one that answered the upgrade. */
static Drover__V1__StatusResponse *wait_new_image(const struct drover_target *t,
                                                  const Drover__V1__UpgradeResponse *u)
{
    uint64_t deadline = mono_ms() + UPGRADE_WAIT_MS;

    while (mono_ms() < deadline) {
        Drover__V1__StatusResponse *s = fresh_status(t);
        if (s && s->pid == u->pid && started_later(s->started_at, u->started_at))
            return s;
        if (s)
            protobuf_c_message_free_unpacked(&s->base, NULL);
        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000}, NULL);
    }
    return NULL;
}

static int show_upgrade(struct cli *cli, const Drover__V1__UpgradeResponse *u,
                        const Drover__V1__StatusResponse *s)
{
    bool ok = s && !strcmp(s->version, u->new_version);

    if (cli->json)
        cli_print_json(json_pack("{s:i, s:s, s:s, s:s, s:s?, s:b}", "pid", u->pid, "binary",
                                 u->binary, "from", u->version, "to", u->new_version, "running",
                                 s ? s->version : NULL, "upgraded", ok));
    else if (ok)
        printf("droverd upgraded in place (pid %d): %s -> %s ('%s')\n", u->pid, u->version,
               u->new_version, u->binary);
    else if (s)
        cli_error("upgrade: droverd came back as %s, not %s: executing '%s' failed (see "
                  "droverd's log)",
                  s->version, u->new_version, u->binary);
    else
        cli_error("upgrade: droverd (pid %d) did not answer as the new image within %d s", u->pid,
                  UPGRADE_WAIT_MS / 1000);
    return ok ? 0 : 1;
}

int cmd_upgrade(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__UpgradeRequest req = DROVER__V1__UPGRADE_REQUEST__INIT;
    Drover__V1__UpgradeResponse *resp = NULL;
    const char *binary = NULL;
    char cwd[4096], path[8192];
    int i = cli_parse(cli, self, argc, argv, 0, upgrade_opts, cli_option_value, &binary);

    if (i < 0)
        return cli_exit_code(i);
    /* droverd's working directory is not ours: a relative path is made absolute here. */
    if (binary && binary[0] != '/' && getcwd(cwd, sizeof cwd)) {
        snprintf(path, sizeof path, "%s/%s", cwd, binary);
        binary = path;
    }
    req.binary = (char *)(binary ? binary : "");
    cli->deadline_ms = 60000; /* the new binary's check runs before the answer */
    if (cli_unary(cli, ADMIN "Upgrade", &req.base, &drover__v1__upgrade_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    Drover__V1__StatusResponse *s = wait_new_image(&cli->target, resp);
    int code = show_upgrade(cli, resp, s);
    if (s)
        protobuf_c_message_free_unpacked(&s->base, NULL);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return code;
}

/* ---- events: the daemon's event bus (Admin.Events), followed until interrupted ---- */

struct events_run {
    uint32_t left; /* events still to print; 0: no limit */
    uint32_t after;
    bool json, stop;
};

static void on_event(struct drover_call *call, const ProtobufCMessage *msg, void *userdata)
{
    const Drover__V1__Event *e = (const Drover__V1__Event *)msg;
    struct events_run *run = userdata;
    (void)call;
    if (run->stop)
        return;
    if (run->json) {
        cli_print_pb(msg, true);
    } else {
        char when[64];
        cli_format_time(e->time ? e->time->seconds : 0, e->time ? e->time->nanos : 0, when,
                        sizeof when);
        printf("%s %6llu %-22s %-10s %s", when, (unsigned long long)e->seq, e->type, e->source,
               e->subject[0] ? e->subject : "-");
        for (size_t k = 0; k < e->n_data; k++)
            printf(" %s=%s", e->data[k]->key, e->data[k]->value);
        printf("\n");
    }
    fflush(stdout);
    if (run->left && --run->left == 0)
        run->stop = true;
}

static int events_option(void *ctx, const struct cli_option *o, const char *v)
{
    struct events_run *run = ctx;
    bool count = !strcmp(o->name, "--count");
    if (cli_parse_u32(v, count ? 1 : 0, UINT32_MAX, count ? &run->left : &run->after) == 0)
        return 0;
    cli_error("events: %s wants a number, not '%s'", o->name, v);
    return -1;
}

int cmd_events(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--count", "N", "stop after N events (default: follow until interrupted)"},
        {"--after", "SEQ", "begin just after event SEQ, if droverd still keeps it"},
        {0}};
    Drover__V1__EventsRequest q = DROVER__V1__EVENTS_REQUEST__INIT;
    struct events_run run = {0};
    int i = cli_parse(cli, self, argc, argv, -1, opts, events_option, &run);
    if (i < 0)
        return cli_exit_code(i);
    run.json = cli->json;
    q.types = argv + i; /* type prefixes */
    q.n_types = (size_t)(argc - i);
    q.after_seq = run.after;
    signal(SIGPIPE, SIG_IGN);
    return cli_follow(cli, ADMIN "Events", &q.base, &drover__v1__event__descriptor, on_event, &run,
                      &run.stop) < 0;
}
