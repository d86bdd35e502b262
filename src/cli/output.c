/* Helpers shared by the CLI's commands: option parsing common to all (and the option callbacks
 * and number parsing several share), the connection to droverd with a helpful message when none
 * answers, RPC error reporting, the call of a command without operands, and formatting. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"
#include "cli/cli.h"
#include "grpc/wire.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("drover: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void print_help(const struct cli_command *cmd, const struct cli_option *opts)
{
    printf("Usage: drover %s%s%s\n%s\n\nOptions:\n", cmd->name, *cmd->args ? " " : "", cmd->args,
           cmd->summary);
    for (size_t k = 0; opts && opts[k].name; k++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", opts[k].name, opts[k].arg ? " " : "",
                 opts[k].arg ? opts[k].arg : "");
        printf("  %-20s %s\n", left, opts[k].help);
    }
    printf("  %-20s %s\n  %-20s %s\n", "--json", "print JSON instead of text", "-h, --help",
           "show this help");
}

/* The option of opts named by a ("--name" or "--name=value"), or NULL. */
static const struct cli_option *match(const struct cli_option *opts, const char *a)
{
    size_t n = strcspn(a, "=");
    for (size_t k = 0; opts && opts[k].name; k++)
        if (strlen(opts[k].name) == n && !strncmp(opts[k].name, a, n))
            return &opts[k];
    return NULL;
}

/* Options may come before or after operands (drover tree 42 --json), except for a command that
 * takes any number of operands (spawn): there the first operand starts the command line, as
 * "--" does everywhere. Operands are moved to the end of argv, in order. */
int cli_parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
              int max_operands, const struct cli_option *opts,
              int (*on_option)(void *ctx, const struct cli_option *o, const char *value), void *ctx)
{
    char *operands[64];
    int n_ops = 0, i = 1;

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(cmd, opts);
            return CLI_HELP;
        }
        if (!strcmp(a, "--json")) {
            cli->json = true;
            continue;
        }
        const struct cli_option *o = a[0] == '-' ? match(opts, a) : NULL;
        if (o) {
            const char *eq = strchr(a, '='), *value = NULL;
            if (o->arg && eq)
                value = eq + 1;
            else if (o->arg && i + 1 < argc)
                value = argv[++i];
            else if (o->arg || eq) {
                cli_error("%s: option '%s' %s (see drover %s --help)", cmd->name, o->name,
                          o->arg ? "needs a value" : "takes no value", cmd->name);
                return CLI_USAGE;
            }
            if (on_option(ctx, o, value) < 0)
                return CLI_USAGE;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            cli_error("%s: unknown option '%s' (see drover %s --help)", cmd->name, a, cmd->name);
            return CLI_USAGE;
        }
        if (max_operands < 0)
            break;
        if (n_ops == (int)ARRAY_SIZE(operands) || n_ops == max_operands) {
            cli_error("%s: unexpected argument '%s' (see drover %s --help)", cmd->name, a,
                      cmd->name);
            return CLI_USAGE;
        }
        operands[n_ops++] = argv[i];
    }
    if (max_operands >= 0 && n_ops + (argc - i) > max_operands) {
        cli_error("%s: unexpected argument '%s' (see drover %s --help)", cmd->name,
                  argv[i + max_operands - n_ops], cmd->name);
        return CLI_USAGE;
    }
    /* Operands found among the options go just before those after "--". */
    int first = i - n_ops;
    memmove(&argv[first + n_ops], &argv[i], (size_t)(argc - i) * sizeof *argv);
    memcpy(&argv[first], operands, (size_t)n_ops * sizeof *argv);
    return first;
}

int cli_parse_common(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                     int max_operands)
{
    return cli_parse(cli, cmd, argc, argv, max_operands, NULL, NULL, NULL);
}

int cli_need_operand(const struct cli_command *cmd, int i, int argc, const char *what,
                     const char *hint)
{
    if (i < 0 || i < argc)
        return i;
    if (hint)
        cli_error("%s: missing %s (%s)", cmd->name, what, hint);
    else
        cli_error("%s: missing %s (see drover %s --help)", cmd->name, what, cmd->name);
    return CLI_USAGE;
}

int cli_option_flag(void *ctx, const struct cli_option *o, const char *value)
{
    (void)o, (void)value;
    *(bool *)ctx = true;
    return 0;
}

int cli_option_value(void *ctx, const struct cli_option *o, const char *value)
{
    (void)o;
    *(const char **)ctx = value;
    return 0;
}

int cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *ret = (uint32_t)v;
    return 0;
}

int cli_connect(struct cli *cli)
{
    int r;

    if (cli->client)
        return 0;
    char err[512];
    r = drover_client_open(&cli->target, &cli->client, err, sizeof err);
    if (r < 0 && cli->target.host)
        cli_error("cannot reach droverd at %s: %s", cli->target.host, err);
    else if (r < 0)
        cli_error("no droverd answers at %s (%s); start one with: droverd%s%s", cli->socket_path,
                  err, cli->default_socket ? "" : " --socket ",
                  cli->default_socket ? "" : cli->socket_path);
    return r;
}

int cli_unary(struct cli *cli, const char *path, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp, ProtobufCMessage **ret_resp)
{
    struct drover_status st;
    const char *method = strrchr(path, '/') + 1;
    int r;

    if (cli_connect(cli) < 0)
        return -1;
    r = drover_client_unary(cli->client, path, req, resp, ret_resp, &st,
                            cli->deadline_ms ? cli->deadline_ms : 10000);
    if (r < 0) {
        cli_error("%s: connection to droverd at %s failed: %s", method, cli->socket_path,
                  strerror(-r));
        return -1;
    }
    if (st.code != GRPC_OK) {
        cli_error("%s: %s%s%s", method, grpc_status_name(st.code), st.message[0] ? ": " : "",
                  st.message);
        return -1;
    }
    return 0;
}

int cli_follow(struct cli *cli, const char *path, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp, drover_message_fn on_msg, void *userdata,
               const bool *stop)
{
    const char *method = strrchr(path, '/') + 1;
    if (cli_connect(cli) < 0)
        return -1;
    struct drover_call *call =
        drover_call_start(cli->client, path, resp, on_msg, NULL, userdata, 0);
    if (!call || drover_call_send(call, req) < 0 || drover_call_close_send(call) < 0) {
        drover_call_free(call);
        cli_error("%s: cannot reach droverd at %s", method, cli->socket_path);
        return -1;
    }
    while (!drover_call_done(call) && !*stop)
        if (drover_client_poll(cli->client, -1) < 0 && !drover_call_done(call))
            break;
    const struct drover_status *st = drover_call_done(call) ? drover_call_status(call) : NULL;
    int r = *stop || (st && st->code == GRPC_OK) ? 0 : -1;
    if (r)
        cli_error("%s: %s%s%s", method, st ? grpc_status_name(st->code) : "connection lost",
                  st && st->message[0] ? ": " : "", st ? st->message : "");
    drover_call_free(call);
    return r;
}

int cli_call_show(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                  const char *path, const ProtobufCMessageDescriptor *req,
                  const ProtobufCMessageDescriptor *resp,
                  int (*show)(struct cli *cli, const ProtobufCMessage *resp))
{
    ProtobufCMessage empty, *m = NULL;
    int i = cli_parse_common(cli, cmd, argc, argv, 0);

    /* A message without fields is its header alone. */
    assert(req->n_fields == 0 && req->sizeof_message == sizeof empty);
    protobuf_c_message_init(req, &empty);
    if (i < 0)
        return cli_exit_code(i);
    if (cli_unary(cli, path, &empty, resp, &m) < 0)
        return 1;
    int code = show(cli, m);
    protobuf_c_message_free_unpacked(m, NULL);
    return code;
}

void cli_print_json(json_t *v)
{
    if (!v) {
        cli_error("out of memory");
        return;
    }
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    fputc('\n', stdout);
    json_decref(v);
}

int cli_write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

void cli_format_bytes(uint64_t bytes, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;

    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, len, "%.1f %s", v, units[u]);
}

void cli_format_duration(uint64_t s, char *out, size_t len)
{
    if (s < 60)
        snprintf(out, len, "%llus", (unsigned long long)s);
    else if (s < 3600)
        snprintf(out, len, "%llum %llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400)
        snprintf(out, len, "%lluh %llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else
        snprintf(out, len, "%llud %lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
}

void cli_format_time(int64_t seconds, int32_t nanos, char *out, size_t len)
{
    time_t t = (time_t)seconds;
    struct tm tm;
    size_t n;

    gmtime_r(&t, &tm);
    n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03dZ", nanos / 1000000);
}

int cmd_simple(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    const struct cli_simple *c = self->call;
    return cli_call_show(cli, self, argc, argv, c->path, c->req, c->resp, c->show);
}
