/* The drover CLI: one file per command group, a table of commands in main.c, and shared
 * helpers (connection, errors, JSON and human formatting) in output.c.
 * Exit codes: 0 ok, 1 failure (including an RPC error or no daemon), 2 usage. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"

#define EXIT_USAGE 2

struct cli {
    const char *socket_path;      /* --socket, or the default */
    bool json;                    /* --json: machine-readable output */
    bool default_socket;          /* socket_path is the default one */
    struct drover_client *client; /* connected on first use */
    uint32_t deadline_ms;         /* for cli_unary; 0: 10 s */
};

/* An option a command takes besides --json and --help. */
struct cli_option {
    const char *name; /* "--timeout" */
    const char *arg;  /* its value's name ("S"), or NULL for a flag */
    const char *help; /* one line for --help */
};

struct cli_command {
    const char *name; /* as typed */
    int (*run)(struct cli *cli, const struct cli_command *self, int argc, char **argv);
    const char *args;    /* usage after the name */
    const char *summary; /* one line for `drover --help` */
};

/* Parses the options every command takes (--json, --help) and checks there are at most
 * max_operands operands. Returns the index of the first operand, or a negative value after
 * printing help or a usage error: then the command returns cli_exit_code() of it. */
int cli_parse_common(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                     int max_operands);
/* The same with command options (a NULL-terminated table): each one found is passed to
 * on_option, whose negative return is a usage error it has already reported. max_operands < 0
 * means any number. */
int cli_parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
              int max_operands, const struct cli_option *opts,
              int (*on_option)(void *ctx, const struct cli_option *o, const char *value),
              void *ctx);
/* The exit code for a negative cli_parse_common result: 0 after --help, 2 after a usage error. */
static inline int cli_exit_code(int parse_result)
{
    return parse_result == -1 ? 0 : 2;
}

/* Connects to droverd; on failure prints where it looked and how to start one, returns -errno. */
int cli_connect(struct cli *cli);
/* A unary call with a 10 s deadline; on failure prints "drover: NAME: STATUS: message" and
 * returns -1. */
int cli_unary(struct cli *cli, const char *path, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp, ProtobufCMessage **ret_resp);

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a JSON value on stdout and frees it. */
void cli_print_json(json_t *v);
/* "1.5 MiB", "3d 4h", "2026-11-21T06:15:24.861Z". */
void cli_format_bytes(uint64_t bytes, char *out, size_t len);
void cli_format_duration(uint64_t seconds, char *out, size_t len);
void cli_format_time(int64_t seconds, int32_t nanos, char *out, size_t len);

int cmd_ping(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_status(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_shutdown(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_reload(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_ps(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_tree(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_kill_tree(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_zombies(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_spawn(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_start(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_stop(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_restart(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_delete(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_ls(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_describe(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_logs(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_flush(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_save(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_run(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_attach(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_sessions(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_send(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_backlog(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_kill(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_purge(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_resurrect(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_metrics(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_top(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_token(struct cli *cli, const struct cli_command *self, int argc, char **argv);
