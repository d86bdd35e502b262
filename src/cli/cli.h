/* The drover CLI: one file per command group, a table of commands in main.c, and shared
 * helpers (option parsing, connection, calls, errors, JSON and human formatting) in output.c.
 * The session commands share the naming of sessions (cmd-sessions.c) with the attach loop
 * (cmd-attach.c).
 * Exit codes: 0 ok, 1 failure (including an RPC error or no daemon), 2 usage. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"

#define EXIT_USAGE 2

struct cli {
    const char *socket_path;      /* --socket, or the default; with --host, the host (to name) */
    struct drover_target target;  /* where to connect: the socket, or --host with TLS, token */
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

struct cli_simple;

struct cli_command {
    const char *name; /* as typed */
    int (*run)(struct cli *cli, const struct cli_command *self, int argc, char **argv);
    const char *args;              /* usage after the name */
    const char *summary;           /* one line for `drover --help` */
    const struct cli_simple *call; /* with run = cmd_simple: the one call it makes */
};

/* A command that is one call with an empty request, its answer shown: a row of the command
 * table (run = cmd_simple) rather than a function of its own. */
struct cli_simple {
    const char *path;                                           /* "/package.Service/Method" */
    const ProtobufCMessageDescriptor *req;                      /* its (empty) request */
    const ProtobufCMessageDescriptor *resp;                     /* its answer */
    int (*show)(struct cli *cli, const ProtobufCMessage *resp); /* prints the answer */
};
int cmd_simple(struct cli *cli, const struct cli_command *self, int argc, char **argv);
extern const struct cli_simple cli_status, cli_shutdown, cli_reload; /* cmd-admin.c */
extern const struct cli_simple cli_ls, cli_save, cli_resurrect;      /* cmd-services.c */

/* What the helpers below return, instead of a result, when the command is to stop: it then
 * returns cli_exit_code() of it. Each was already reported. */
#define CLI_HELP   (-1) /* --help was printed: exit 0 */
#define CLI_USAGE  (-2) /* a usage error: exit 2 */
#define CLI_FAILED (-3) /* a failure (no daemon, an RPC error, no such thing): exit 1 */

/* Parses the options every command takes (--json, --help) and checks there are at most
 * max_operands operands. Returns the index of the first operand, or CLI_HELP or CLI_USAGE. */
int cli_parse_common(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                     int max_operands);
/* The same with command options (a NULL-terminated table): each one found is passed to
 * on_option, whose negative return is a usage error it has already reported. max_operands < 0
 * means any number. */
int cli_parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
              int max_operands, const struct cli_option *opts,
              int (*on_option)(void *ctx, const struct cli_option *o, const char *value),
              void *ctx);
/* Passes i on if it is negative (a cli_parse result) or an operand is there (i < argc); else
 * prints "NAME: missing WHAT (HINT)", HINT by default "see drover NAME --help", and returns
 * CLI_USAGE. */
int cli_need_operand(const struct cli_command *cmd, int i, int argc, const char *what,
                     const char *hint);
/* The exit code for a negative result of the helpers here. */
static inline int cli_exit_code(int r)
{
    return r == CLI_HELP ? 0 : r == CLI_USAGE ? EXIT_USAGE : 1;
}

/* on_option callbacks for cli_parse: a flag sets the bool ctx points to; an option with a value
 * stores it in the const char * ctx points to. */
int cli_option_flag(void *ctx, const struct cli_option *o, const char *value);
int cli_option_value(void *ctx, const struct cli_option *o, const char *value);
/* An unsigned decimal between min and max, with no sign and nothing after it; -EINVAL or
 * -ERANGE otherwise, for the caller to report. */
int cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret);

/* Connects to droverd; on failure prints where it looked and how to start one, returns -errno. */
int cli_connect(struct cli *cli);
/* A unary call with a 10 s deadline; on failure prints "drover: NAME: STATUS: message" and
 * returns -1. */
int cli_unary(struct cli *cli, const char *path, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp, ProtobufCMessage **ret_resp);
/* A server stream: sends req on path and hands each answer (of type resp) to on_msg until the
 * call ends, or *stop turns true (on_msg sets it). 0 when it ended OK or was stopped; else
 * prints "NAME: STATUS: message" (or that the connection failed) and returns -1. */
int cli_follow(struct cli *cli, const char *path, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp, drover_message_fn on_msg, void *userdata,
               const bool *stop);
/* A command without operands or options of its own, whose call takes an empty request (of type
 * req): parses argv, makes the call, hands the answer to show and frees it. Returns the command's
 * exit code: show's, or that of a parse or call failure. */
int cli_call_show(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                  const char *path, const ProtobufCMessageDescriptor *req,
                  const ProtobufCMessageDescriptor *resp,
                  int (*show)(struct cli *cli, const ProtobufCMessage *resp));

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a JSON value on stdout and frees it. */
void cli_print_json(json_t *v);
/* Writes all of p, retrying after EINTR and short writes; -errno on failure. */
int cli_write_all(int fd, const void *p, size_t n);
/* "1.5 MiB", "3d 4h", "2026-11-21T06:15:24.861Z". */
void cli_format_bytes(uint64_t bytes, char *out, size_t len);
void cli_format_duration(uint64_t seconds, char *out, size_t len);
void cli_format_time(int64_t seconds, int32_t nanos, char *out, size_t len);

/* ---- sessions: cmd-sessions.c names them, cmd-attach.c attaches to them ---- */

#define CLI_SESSIONS "/drover.v1.Sessions/"

/* A session found by its id or name. */
struct cli_session {
    char id[64]; /* the session id */
    bool pty;    /* its kind */
    bool exited; /* already exited */
    bool merged; /* pipe: stderr merged into stdout (no stderr stream) */
};

struct RunningProcess__Daemon__V1__GetSessionBacklogResponse;

/* Options, then one SESSION operand (an id, or the originator given at `run --name`), resolved
 * into *ret. Returns 0, or CLI_HELP, CLI_USAGE or CLI_FAILED (no such session). */
int cli_session_operand(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                        const struct cli_option *opts,
                        int (*on_option)(void *, const struct cli_option *, const char *),
                        void *ctx, struct cli_session *ret);
/* GetBacklog of one stream (stderr if err): on success *ret (free it with
 * protobuf_c_message_free_unpacked); -1 after the error was printed. */
int cli_session_backlog(struct cli *cli, const char *id, bool err,
                        struct RunningProcess__Daemon__V1__GetSessionBacklogResponse **ret);

int cmd_ping(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_events(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_upgrade(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_ps(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_tree(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_kill_tree(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_zombies(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_spawn(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_start(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_stop(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_restart(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_delete(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_describe(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_logs(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_flush(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_run(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_attach(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_sessions(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_send(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_backlog(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_kill(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_purge(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_metrics(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_top(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_token(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_startup(struct cli *cli, const struct cli_command *self, int argc, char **argv);

/* ---- Stratavore (stratavore.v1): cmd-projects.c and cmd-runners.c ---- */

/* drover project, drover runner: a group of subcommands, each a row of subs (named "project
 * create" and so on, for its help and errors); dispatches on argv[1]. */
int cli_subcommand(struct cli *cli, const struct cli_command *self, const struct cli_command *subs,
                   size_t n_subs, int argc, char **argv);
/* Any message as JSON, by its descriptor: proto field names, every field (an unset message or
 * optional scalar left out), enums by their value names, int64 as numbers, Timestamps as
 * RFC 3339, FieldMasks as "a,b", bytes as base64, maps as objects, a known Any unpacked with
 * "@type". */
json_t *cli_pb_json(const ProtobufCMessage *m);
/* Prints m as JSON (cli_print_json), or compact on one line if line. */
void cli_print_pb(const ProtobufCMessage *m, bool line);
/* With --json the same; else m as indented "field: value" lines, enums as words, without the
 * fields that are empty. */
void cli_show_pb(struct cli *cli, const ProtobufCMessage *m);
/* An enum value as a word: its name without the enum's prefix, lowercase, '-' for '_'
 * (RESTART_POLICY_ON_FAILURE: "on-failure"); "-" for UNSPECIFIED. */
const char *cli_enum_word(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t n);
/* Sets field NAME of m from the value of option OPT of command CMD: a number (int32 or int64, not
 * negative; a double), an enum's word (cli_enum_word, or the value's name, any case), a string
 * (v itself, not copied), or for a bool true (false for an option --no-...); a oneof's case too.
 * Returns the field's index in m's descriptor, or -1 after printing what is wrong. */
int cli_set_field(const char *cmd, const char *opt, ProtobufCMessage *m, const char *name,
                  const char *v);
/* A list call page by page: the request's limit and offset are set here, and fn gets each
 * message of the answer's repeated field ITEMS. -1 after the error was printed. */
int cli_list(struct cli *cli, const char *path, ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp, const char *items,
             void (*fn)(void *ctx, const ProtobufCMessage *item), void *ctx);
/* A Timestamp as cli_format_time does it; "-" when unset. */
struct Google__Protobuf__Timestamp;
void cli_format_ts(const struct Google__Protobuf__Timestamp *t, char *out, size_t len);
/* Seconds from t to now, 0 when unset. */
uint64_t cli_ts_age(const struct Google__Protobuf__Timestamp *t);
/* A map<string, string> being built from K=V options: entries of one entry descriptor. */
struct cli_map {
    const ProtobufCMessageDescriptor *entry; /* e.g. ..._metadata_entry__descriptor */
    size_t n;
    ProtobufCMessage **v; /* the entries (their key and value are copies) */
};
/* Adds K=V (a later K replaces an earlier one); "" adds nothing. Prints "CMD: OPT wants
 * KEY=VALUE" and returns -1 otherwise. */
int cli_map_add(struct cli_map *m, const char *cmd, const char *opt, const char *kv);
void cli_map_free(struct cli_map *m);
/* A path for droverd: dir made absolute from this process's cwd (free it). */
char *cli_abs_path(const char *dir);
/* A response's warnings, on stderr. */
void cli_warnings(char **w, size_t n);

int cmd_project(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_runner(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_transcript(struct cli *cli, const struct cli_command *self, int argc, char **argv);

/* ---- containers and images (drover.v1.Containers, Images): cmd-containers.c, cmd-images.c ---- */

int cmd_container(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_baaaht(struct cli *cli, const struct cli_command *self, int argc, char **argv);
int cmd_image(struct cli *cli, const struct cli_command *self, int argc, char **argv);
