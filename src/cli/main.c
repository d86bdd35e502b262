/* drover: the command-line client of droverd. Global options, then a command from the table
 * below; each command parses its own arguments and talks to droverd through libdrover-client. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/paths.h"
#include "cli/cli.h"

static const struct cli_command commands[] = {
    {"start", cmd_start, "[OPTION]... CMD [ARG]... | SERVICE | FILE.yaml",
     "Define a service and start it (or start a defined one, or a file's services); it is kept "
     "running."},
    {"stop", cmd_stop, "SERVICE|all", "Stop services: stop signal, then SIGKILL of the tree."},
    {"restart", cmd_restart, "SERVICE|all", "Stop and start services again."},
    {"delete", cmd_delete, "SERVICE|all", "Stop services and forget them."},
    {"ls", cmd_simple, "", "List services: status, pid, uptime, restarts, CPU, memory.", &cli_ls},
    {"describe", cmd_describe, "SERVICE", "Show everything about a service."},
    {"logs", cmd_logs, "[-n N] [-f] SERVICE", "Print a service's output; -f follows it."},
    {"flush", cmd_flush, "[SERVICE|all]", "Empty services' log files."},
    {"save", cmd_simple, "", "Write every service to services.snapshot.json.", &cli_save},
    {"resurrect", cmd_simple, "", "Bring back the services of the saved snapshot.", &cli_resurrect},
    {"run", cmd_run, "[--pty] [--name NAME] [--cwd DIR] [--detach] [--merge] -- CMD [ARG]...",
     "Run a command in a session droverd owns, attached (Ctrl-\\ detaches a --pty one)."},
    {"attach", cmd_attach, "[--steal] SESSION",
     "Attach to a session: a terminal in raw mode (Ctrl-\\ detaches), or a pipe's output."},
    {"sessions", cmd_sessions, "", "List sessions, running and exited."},
    {"send", cmd_send, "[--newline] [--close] SESSION TEXT|-",
     "Type TEXT (or stdin) into a session without attaching."},
    {"backlog", cmd_backlog, "[--stderr] SESSION",
     "Print what a session wrote since the last attach."},
    {"kill", cmd_kill, "[--grace MS] SESSION",
     "Terminate a session's tree: SIGTERM, SIGKILL after the grace period."},
    {"purge", cmd_purge, "[--originator O]", "Forget exited sessions."},
    {"top", cmd_top, "[--interval MS]",
     "A live view of CPUs, memory, services and processes (q quits)."},
    {"metrics", cmd_metrics, "[--top N]",
     "Print one snapshot of the machine, the services and the busiest processes."},
    {"token", cmd_token, "new NAME [--scopes read|control] [--file PATH]",
     "Make a bearer token; prints it once, stores only its digest."},
    {"startup", cmd_startup, "[--user] [--unit-dir DIR] [--no-enable] [--print]",
     "Have systemd start droverd at boot (or at login, --user): writes and enables its unit."},
    {"project", cmd_project, "create|ls|get|update|rm [ARGS]...",
     "Stratavore projects: create, ls, get, update, rm (drover project --help)."},
    {"runner", cmd_runner, "create|ls|get|stop|restart|rm|pause|resume|attach|events [ARGS]...",
     "Stratavore runners: create, ls, get, stop, restart, rm, pause, resume, attach, events."},
    {"transcript", cmd_transcript, "[--format text|markdown|json] [--offset N] [--limit N] SESSION",
     "Print a Stratavore session's transcript, rendered by droverd."},
    {"container", cmd_container,
     "run|create|start|stop|rm|ls|inspect|logs|exec|attach|stats|wait [ARGS]...",
     "Containers from OCI images, run by an OCI runtime (drover container --help)."},
    {"image", cmd_image, "import|ls|inspect|rm|prune [ARGS]...",
     "OCI images for containers: import, ls, inspect, rm, prune."},
    {"baaaht", cmd_baaaht, "sessions|agents|tasks|events [ARGS]...",
     "The agent hub behind baaaht's API: sessions, agents, tasks, events (read-only)."},
    {"ping", cmd_ping, "", "Check that droverd answers, and how fast."},
    {"events", cmd_events, "[--count N] [--after SEQ] [TYPE-PREFIX]...",
     "Follow droverd's events (sessions, tracked processes, the agent hub), by type prefix."},
    {"status", cmd_simple, "", "Show what droverd is and how it is doing.", &cli_status},
    {"shutdown", cmd_simple, "",
     "Stop droverd gracefully; returns once it has let go of the socket.", &cli_shutdown},
    {"reload", cmd_simple, "",
     "Re-read droverd's configuration: start added services, restart changed, stop removed.",
     &cli_reload},
    {"upgrade", cmd_upgrade, "[--binary PATH]",
     "Re-execute droverd in place (same pid, services, sessions and sockets); waits for it."},
    {"ps", cmd_ps, "[--originator TOOL]", "List tracked processes, checked against /proc now."},
    {"tree", cmd_tree, "PID", "Show a process and its descendants."},
    {"kill-tree", cmd_kill_tree, "[--timeout S] PID",
     "SIGKILL a process and all its descendants (and escaped orphans of trees droverd started)."},
    {"zombies", cmd_zombies, "[--kill]",
     "Find tracked processes that died, were orphaned or had their pid reused; --kill acts."},
    {"spawn", cmd_spawn, "[--cwd DIR] [--env K=V]... [--clear-env] [--originator O] -- CMD...",
     "Start a detached, tracked daemon process that outlives droverd."},
};

#define SYSTEM_SOCKET "/run/drover/drover.sock" /* deploy/systemd/droverd.service's */

static void usage(FILE *f)
{
    fprintf(f, "Usage: drover [--socket PATH | --host HOST:PORT ...] [--json] COMMAND [ARGS]...\n"
               "Control droverd, the drover process supervisor.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nOptions:\n"
            "  --socket PATH      droverd's socket (default: $XDG_RUNTIME_DIR/drover/drover.sock,\n"
            "                     else /tmp/drover-$UID/drover.sock; also $DROVER_SOCKET;\n"
            "                     with none there, the machine's " SYSTEM_SOCKET ")\n"
            "  --host HOST:PORT   a droverd's TCP door instead (grpc_tcp), over TLS; also\n"
            "                     $DROVER_HOST\n"
            "  --tls-ca FILE      the CAs (or the pinned certificate) the server's certificate\n"
            "                     must chain to (default: the system's; also $DROVER_TLS_CA)\n"
            "  --cert FILE        a client certificate, for a door with grpc_tls_client_ca\n"
            "  --key FILE         its key (default: in the certificate's file)\n"
            "  --token T          a bearer token (drover token new); also $DROVER_TOKEN\n"
            "  --token-file FILE  the token's first line is read from FILE\n"
            "  --plaintext        no TLS (a loopback door with grpc_tcp_plaintext)\n"
            "  --json             print JSON instead of text\n"
            "  -h, --help         show this help; `drover COMMAND --help` for a command\n"
            "  -V, --version      show the version\n");
}

/* The token in path: its first line, without surrounding blanks. NULL (said why) on failure. */
static char *read_token_file(const char *path)
{
    char line[1024];
    FILE *f = fopen(path, "re");
    if (!f) {
        cli_error("cannot read the token file %s: %s", path, strerror(errno));
        return NULL;
    }
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char *t = line;
    while (got && (*t == ' ' || *t == '\t'))
        t++;
    size_t n = got ? strcspn(t, " \t\r\n") : 0;
    if (!n) {
        cli_error("the token file %s holds no token", path);
        return NULL;
    }
    t[n] = 0;
    return strdup(t);
}

/* A global option with a value: "--name VALUE" or "--name=VALUE". */
static bool option_value(const char *name, int argc, char **argv, int *i, const char **ret)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return false;
    if (argv[*i][n] == '=') {
        *ret = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] || *i + 1 >= argc)
        return false;
    *ret = argv[++*i];
    return true;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    struct drover_target *t = &cli.target;
    char *default_socket = NULL, *file_token = NULL;
    const char *token_file = NULL;
    int i = 1, r;

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("drover %s\n", DROVER_VERSION);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            cli.json = true;
        } else if (!strcmp(a, "--plaintext")) {
            t->plaintext = true;
        } else if (!option_value("--socket", argc, argv, &i, &cli.socket_path) &&
                   !option_value("--host", argc, argv, &i, &t->host) &&
                   !option_value("--tls-ca", argc, argv, &i, &t->tls_ca) &&
                   !option_value("--cert", argc, argv, &i, &t->cert) &&
                   !option_value("--key", argc, argv, &i, &t->key) &&
                   !option_value("--token", argc, argv, &i, &t->token) &&
                   !option_value("--token-file", argc, argv, &i, &token_file)) {
            cli_error("unknown option '%s' (see drover --help)", a);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!t->host && !cli.socket_path && getenv("DROVER_HOST") && *getenv("DROVER_HOST"))
        t->host = getenv("DROVER_HOST");
    if (t->host && cli.socket_path) {
        cli_error("--socket and --host name two droverds: give one");
        return EXIT_USAGE;
    }
    if (!t->host && (t->plaintext || t->tls_ca || t->cert || t->key)) {
        cli_error("--plaintext, --tls-ca, --cert and --key go with --host HOST:PORT");
        return EXIT_USAGE;
    }
    if (t->plaintext && (t->tls_ca || t->cert)) {
        cli_error("--plaintext has no TLS: --tls-ca and --cert need it");
        return EXIT_USAGE;
    }
    if (t->key && !t->cert) {
        cli_error("--key goes with --cert");
        return EXIT_USAGE;
    }
    if (token_file && t->token) {
        cli_error("--token and --token-file: give one");
        return EXIT_USAGE;
    }
    if (token_file && !(t->token = file_token = read_token_file(token_file)))
        return EXIT_USAGE;
    if (!t->token)
        t->token = getenv("DROVER_TOKEN");
    if (t->host && !t->tls_ca && !t->plaintext)
        t->tls_ca = getenv("DROVER_TLS_CA");
    if (t->host) {
        cli.socket_path = t->host; /* what messages name */
    } else {
        if (!cli.socket_path)
            cli.socket_path = getenv("DROVER_SOCKET");
        if (!cli.socket_path || !*cli.socket_path) {
            default_socket = paths_default_socket();
            if (!default_socket)
                abort();
            cli.socket_path = default_socket;
            cli.default_socket = true;
            /* None of our own: the machine's droverd (its unit's socket), when there is one. */
            if (access(default_socket, F_OK) < 0 && access(SYSTEM_SOCKET, F_OK) == 0)
                cli.socket_path = SYSTEM_SOCKET;
        }
        t->socket_path = cli.socket_path;
    }

    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (!strcmp(argv[i], commands[k].name)) {
            r = commands[k].run(&cli, &commands[k], argc - i, argv + i);
            drover_client_free(cli.client);
            free(default_socket);
            free(file_token);
            return r;
        }
    cli_error("unknown command '%s' (see drover --help)", argv[i]);
    free(default_socket);
    free(file_token);
    return EXIT_USAGE;
}
