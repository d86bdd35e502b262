/* drover metrics (one snapshot) and drover top (a live terminal view): drover.v1.Metrics.
 *
 * top draws with ncurses from a Watch stream. One poll(2) waits on the terminal and the
 * connection; SIGWINCH (ncurses turns it into KEY_RESIZE) and SIGINT/SIGTERM interrupt it.
 * Sorting is done here, on the whole list, so a key re-sorts at once without a new call. The
 * terminal is restored on every way out. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NCURSES_WIDECHAR 1
#include <ncurses.h>

#include "cli/cli.h"
#include "drover/v1/metrics.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "grpc/wire.h"

#define METRICS "/drover.v1.Metrics/"

static void pct_bytes(uint64_t used, uint64_t total, char *out, size_t len)
{
    char u[32], t[32];
    cli_format_bytes(used, u, sizeof u);
    cli_format_bytes(total, t, sizeof t);
    snprintf(out, len, "%s of %s (%.1f%%)", u, t, total ? 100.0 * (double)used / (double)total : 0);
}

static json_t *cpu_json(const Drover__V1__CpuUsage *c)
{
    return json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "id", c->id, "usage_percent",
                     c->usage_percent, "user_percent", c->user_percent, "system_percent",
                     c->system_percent, "iowait_percent", c->iowait_percent, "steal_percent",
                     c->steal_percent);
}

static json_t *snapshot_json(const Drover__V1__MetricsSnapshot *s)
{
    json_t *cores = json_array(), *svcs = json_array(), *ctrs = json_array(),
           *procs = json_array();
    for (size_t i = 0; i < s->n_cores; i++)
        json_array_append_new(cores, cpu_json(s->cores[i]));
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < (k ? s->n_containers : s->n_services); i++) {
            const Drover__V1__ServiceUsage *v = k ? s->containers[i] : s->services[i];
            json_array_append_new(k ? ctrs : svcs,
                                  json_pack("{s:s, s:s, s:i, s:f, s:I, s:i, s:i, s:b, s:f}",
                                            "name", v->name, "state", v->state, "pid", v->pid,
                                            "cpu_percent", v->cpu_percent, "rss_bytes",
                                            (json_int_t)v->rss_bytes, "processes", v->processes,
                                            "restarts", v->restarts, "healthy", v->healthy,
                                            "uptime_seconds", v->uptime_seconds));
        }
    for (size_t i = 0; i < s->n_processes; i++) {
        const Drover__V1__ProcessUsage *p = s->processes[i];
        json_array_append_new(procs, json_pack("{s:i, s:i, s:s, s:s, s:f, s:I, s:I, s:i}", "pid",
                                               p->pid, "ppid", p->ppid, "name", p->name, "state",
                                               p->state, "cpu_percent", p->cpu_percent, "rss_bytes",
                                               (json_int_t)p->rss_bytes, "vms_bytes",
                                               (json_int_t)p->vms_bytes, "threads", p->threads));
    }
    return json_pack(
        "{s:s, s:i, s:f, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:[f,f,f], "
        "s:i, s:i, s:o, s:o, s:o}",
        "hostname", s->hostname, "num_cpus", s->num_cpus, "uptime_seconds", s->uptime_seconds,
        "window_ms", (json_int_t)s->window_ms, "cpu", s->cpu ? cpu_json(s->cpu) : json_null(),
        "cores", cores, "memory", "total_bytes", (json_int_t)s->mem_total_bytes, "used_bytes",
        (json_int_t)s->mem_used_bytes, "available_bytes", (json_int_t)s->mem_available_bytes,
        "cached_bytes", (json_int_t)s->mem_cached_bytes, "buffers_bytes",
        (json_int_t)s->mem_buffers_bytes, "swap", "total_bytes", (json_int_t)s->swap_total_bytes,
        "used_bytes", (json_int_t)s->swap_used_bytes, "load", s->load1, s->load5, s->load15,
        "process_count", s->process_count, "running", s->running, "services", svcs, "containers",
        ctrs, "processes", procs);
}

/* Services' or containers' rows, for `drover metrics`. */
static void usage_table(const char *what, Drover__V1__ServiceUsage *const *v, size_t n)
{
    char mem[32];
    if (!n)
        return;
    printf("\n%-20s %-9s %8s %6s %9s %6s %8s\n", what, "STATE", "PID", "CPU%", "MEMORY", "PROCS",
           "RESTARTS");
    for (size_t i = 0; i < n; i++) {
        cli_format_bytes(v[i]->rss_bytes, mem, sizeof mem);
        printf("%-20s %-9s %8d %6.1f %9s %6u %8u\n", v[i]->name, v[i]->state, v[i]->pid,
               v[i]->cpu_percent, mem, v[i]->processes, v[i]->restarts);
    }
}

static void print_snapshot(const Drover__V1__MetricsSnapshot *s)
{
    char up[32], line[128];
    cli_format_duration((uint64_t)s->uptime_seconds, up, sizeof up);
    printf("%s: %u CPUs, up %s, load %.2f %.2f %.2f\n", s->hostname, s->num_cpus, up, s->load1,
           s->load5, s->load15);
    if (s->cpu)
        printf("cpu      %5.1f%% (user %.1f%%, system %.1f%%, iowait %.1f%%) %s\n",
               s->cpu->usage_percent, s->cpu->user_percent, s->cpu->system_percent,
               s->cpu->iowait_percent, s->window_ms ? "" : "since boot");
    for (size_t i = 0; i < s->n_cores; i++)
        printf("  cpu%-4d %5.1f%%\n", s->cores[i]->id, s->cores[i]->usage_percent);
    pct_bytes(s->mem_used_bytes, s->mem_total_bytes, line, sizeof line);
    printf("memory   %s used\n", line);
    pct_bytes(s->swap_used_bytes, s->swap_total_bytes, line, sizeof line);
    printf("swap     %s used\n", line);
    printf("processes %u, %u running\n", s->process_count, s->running);
    usage_table("SERVICE", s->services, s->n_services);
    usage_table("CONTAINER", s->containers, s->n_containers);
    if (s->n_processes) {
        printf("\n%8s %-16s %1s %6s %9s %7s\n", "PID", "NAME", "S", "CPU%", "MEMORY", "THREADS");
        for (size_t i = 0; i < s->n_processes; i++) {
            const Drover__V1__ProcessUsage *p = s->processes[i];
            cli_format_bytes(p->rss_bytes, line, sizeof line);
            printf("%8d %-16s %1s %6.1f %9s %7u\n", p->pid, p->name, p->state, p->cpu_percent, line,
                   p->threads);
        }
    }
}

struct metrics_opts {
    uint32_t top;      /* processes listed */
    uint32_t interval; /* top: ms between snapshots */
};

static int on_metrics_option(void *ctx, const struct cli_option *o, const char *value)
{
    struct metrics_opts *m = ctx;
    char *end;
    unsigned long v = strtoul(value, &end, 10);
    if (!*value || *end || v > 3600000) {
        cli_error("%s: expected a number, got '%s'", o->name, value);
        return -2;
    }
    if (!strcmp(o->name, "--top"))
        m->top = (uint32_t)v;
    else if (v < 100) {
        cli_error("--interval: at least 100 ms");
        return -2;
    } else
        m->interval = (uint32_t)v;
    return 0;
}

int cmd_metrics(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--top", "N", "list the N busiest processes (default 10, 0: none)"},
        {NULL, NULL, NULL},
    };
    struct metrics_opts mo = {.top = 10};
    Drover__V1__MetricsRequest req = DROVER__V1__METRICS_REQUEST__INIT;
    Drover__V1__MetricsSnapshot *s = NULL;
    int i = cli_parse(cli, self, argc, argv, 0, opts, on_metrics_option, &mo);

    if (i < 0)
        return cli_exit_code(i);
    req.processes = mo.top > 0;
    req.process_limit = mo.top;
    if (cli_unary(cli, METRICS "Get", &req.base, &drover__v1__metrics_snapshot__descriptor,
                  (ProtobufCMessage **)&s) < 0)
        return 1;
    if (cli->json)
        cli_print_json(snapshot_json(s));
    else
        print_snapshot(s);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return 0;
}

/* ---- top ------------------------------------------------------------------------------------ */

enum sort { SORT_CPU, SORT_MEM, SORT_PID };

struct top {
    Drover__V1__MetricsSnapshot *snap; /* the latest snapshot, or NULL */
    enum sort sort;                    /* the process list's order */
    bool done;                         /* the stream ended */
    struct drover_status status;       /* why */
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_snapshot(struct drover_call *call, const ProtobufCMessage *msg, void *userdata)
{
    struct top *t = userdata;
    (void)call;
    /* The message is freed after we return: keep a copy. */
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    protobuf_c_message_pack(msg, buf);
    Drover__V1__MetricsSnapshot *s = drover__v1__metrics_snapshot__unpack(NULL, len, buf);
    free(buf);
    if (!s)
        return;
    if (t->snap)
        protobuf_c_message_free_unpacked(&t->snap->base, NULL);
    t->snap = s;
}

static void on_done(struct drover_call *call, const struct drover_status *st, void *userdata)
{
    struct top *t = userdata;
    (void)call;
    t->done = true;
    t->status = *st;
}

static enum sort sort_key;

static int cmp_procs(const void *a, const void *b)
{
    const Drover__V1__ProcessUsage *x = *(Drover__V1__ProcessUsage *const *)a;
    const Drover__V1__ProcessUsage *y = *(Drover__V1__ProcessUsage *const *)b;
    if (sort_key == SORT_CPU && x->cpu_percent != y->cpu_percent)
        return x->cpu_percent < y->cpu_percent ? 1 : -1;
    if (sort_key != SORT_PID && x->rss_bytes != y->rss_bytes)
        return x->rss_bytes < y->rss_bytes ? 1 : -1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* A bar of width w: "cpu0 [|||||     23.4%]", the figure always readable at its right end. */
static void bar(int y, int x, int w, const char *label, double pct, const char *text)
{
    char cells[512];
    int inner = w - (int)strlen(label) - 3, tl = (int)strlen(text);
    if (inner < tl || inner >= (int)sizeof cells)
        return;
    int fill = (int)(pct / 100.0 * inner + 0.5);
    fill = fill < 0 ? 0 : fill > inner ? inner : fill;
    memset(cells, ' ', (size_t)inner);
    memset(cells, '|', (size_t)fill);
    memcpy(cells + inner - tl, text, (size_t)tl);
    cells[inner] = '\0';
    mvprintw(y, x, "%s [", label);
    attron(A_BOLD);
    printw("%.*s", fill < inner - tl ? fill : inner - tl, cells);
    attroff(A_BOLD);
    printw("%s]", cells + (fill < inner - tl ? fill : inner - tl));
}

/* Services' or containers' rows on top's screen from line y; the line after them. */
static int usage_screen(int y, int rows, const char *what, Drover__V1__ServiceUsage *const *v,
                        size_t n)
{
    char mem[32];
    if (!n || y >= rows - 2)
        return y;
    attron(A_REVERSE);
    mvprintw(y++, 0, "%-20s %-9s %8s %6s %9s %6s %8s", what, "STATE", "PID", "CPU%", "MEMORY",
             "PROCS", "RESTARTS");
    attroff(A_REVERSE);
    for (size_t i = 0; i < n && y < rows - 2; i++) {
        cli_format_bytes(v[i]->rss_bytes, mem, sizeof mem);
        mvprintw(y++, 0, "%-20.20s %-9s %8d %6.1f %9s %6u %8u", v[i]->name, v[i]->state,
                 v[i]->pid, v[i]->cpu_percent, mem, v[i]->processes, v[i]->restarts);
    }
    return y + 1;
}

static void draw(struct top *t)
{
    const Drover__V1__MetricsSnapshot *s = t->snap;
    char a[32], b[32], text[64];
    int rows, cols, y = 0;

    getmaxyx(stdscr, rows, cols);
    erase();
    if (!s) {
        mvprintw(0, 0, "drover top: waiting for droverd...");
        refresh();
        return;
    }
    cli_format_duration((uint64_t)s->uptime_seconds, a, sizeof a);
    mvprintw(y++, 0, "drover top - %s, %u CPUs, up %s, load %.2f %.2f %.2f", s->hostname,
             s->num_cpus, a, s->load1, s->load5, s->load15);
    /* CPUs two to a line when there is room. */
    int per_line = cols >= 80 ? 2 : 1, w = cols / per_line - 1;
    for (size_t i = 0; i < s->n_cores; i++) {
        char label[16];
        snprintf(label, sizeof label, "cpu%-3d", s->cores[i]->id);
        snprintf(text, sizeof text, "%.1f%%", s->cores[i]->usage_percent);
        bar(y, (int)(i % (size_t)per_line) * (w + 1), w, label, s->cores[i]->usage_percent, text);
        if (i % (size_t)per_line == (size_t)per_line - 1 || i + 1 == s->n_cores)
            y++;
    }
    cli_format_bytes(s->mem_used_bytes, a, sizeof a);
    cli_format_bytes(s->mem_total_bytes, b, sizeof b);
    snprintf(text, sizeof text, "%s/%s", a, b);
    bar(y, 0, w, "mem   ",
        s->mem_total_bytes ? 100.0 * (double)s->mem_used_bytes / (double)s->mem_total_bytes : 0,
        text);
    cli_format_bytes(s->swap_used_bytes, a, sizeof a);
    cli_format_bytes(s->swap_total_bytes, b, sizeof b);
    snprintf(text, sizeof text, "%s/%s", a, b);
    bar(per_line == 2 ? y : y + 1, per_line == 2 ? w + 1 : 0, w, "swap  ",
        s->swap_total_bytes ? 100.0 * (double)s->swap_used_bytes / (double)s->swap_total_bytes : 0,
        text);
    y += per_line == 2 ? 1 : 2;
    mvprintw(y++, 0, "processes %u, running %u; cpu %.1f%% (user %.1f%%, system %.1f%%)",
             s->process_count, s->running, s->cpu ? s->cpu->usage_percent : 0,
             s->cpu ? s->cpu->user_percent : 0, s->cpu ? s->cpu->system_percent : 0);
    y++;
    y = usage_screen(y, rows, "SERVICE", s->services, s->n_services);
    y = usage_screen(y, rows, "CONTAINER", s->containers, s->n_containers);
    if (y < rows - 2) {
        static const char *const names[] = {"CPU", "memory", "pid"};
        attron(A_REVERSE);
        mvprintw(y++, 0, "%8s %-16s %1s %6s %9s %7s  (by %s)", "PID", "NAME", "S", "CPU%", "MEMORY",
                 "THREADS", names[t->sort]);
        attroff(A_REVERSE);
        sort_key = t->sort;
        qsort(s->processes, s->n_processes, sizeof *s->processes, cmp_procs);
        for (size_t i = 0; i < s->n_processes && y < rows - 1; i++) {
            const Drover__V1__ProcessUsage *p = s->processes[i];
            cli_format_bytes(p->rss_bytes, a, sizeof a);
            mvprintw(y++, 0, "%8d %-16.16s %1s %6.1f %9s %7u", p->pid, p->name, p->state,
                     p->cpu_percent, a, p->threads);
        }
    }
    attron(A_REVERSE);
    mvprintw(rows - 1, 0, "q quit  c sort by CPU  m sort by memory  p sort by pid");
    attroff(A_REVERSE);
    refresh();
}

/* Keys waiting on the terminal; returns false when it is time to quit. */
static bool keys(struct top *t)
{
    for (int ch; (ch = getch()) != ERR;) {
        switch (ch) {
        case 'q':
        case 'Q':
        case 3: /* Ctrl-C in raw mode */
            return false;
        case 'c':
        case 'C':
        case 'P': /* htop's key for CPU */
            t->sort = SORT_CPU;
            break;
        case 'm':
        case 'M':
            t->sort = SORT_MEM;
            break;
        case 'p':
            t->sort = SORT_PID;
            break;
        case KEY_RESIZE:
        default:
            break;
        }
    }
    return true;
}

static void restore_terminal(void)
{
    if (!isendwin())
        endwin();
}

int cmd_top(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--interval", "MS", "between updates (default 1000, at least 100)"},
        {NULL, NULL, NULL},
    };
    struct metrics_opts mo = {.interval = 1000};
    Drover__V1__MetricsRequest req = DROVER__V1__METRICS_REQUEST__INIT;
    Google__Protobuf__Duration interval = GOOGLE__PROTOBUF__DURATION__INIT;
    struct top t = {0};
    int i = cli_parse(cli, self, argc, argv, 0, opts, on_metrics_option, &mo);

    if (i < 0)
        return cli_exit_code(i);
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        cli_error("top: needs a terminal (use `drover metrics` for one snapshot)");
        return 1;
    }
    if (cli_connect(cli) < 0)
        return 1;
    interval.seconds = mo.interval / 1000;
    interval.nanos = (int32_t)(mo.interval % 1000) * 1000000;
    req.interval = &interval;
    req.processes = true;
    struct drover_call *call =
        drover_call_start(cli->client, METRICS "Watch", &drover__v1__metrics_snapshot__descriptor,
                          on_snapshot, on_done, &t, 0);
    if (!call || drover_call_send(call, &req.base) < 0 || drover_call_close_send(call) < 0) {
        cli_error("top: the connection to droverd at %s failed", cli->socket_path);
        return 1;
    }

    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    atexit(restore_terminal);
    initscr();
    cbreak();
    noecho();
    nodelay(stdscr, TRUE);
    keypad(stdscr, TRUE);
    curs_set(0);

    bool quit = false, lost = false;
    while (!stop_requested && !t.done && !quit && !lost) {
        struct pollfd pf[2] = {{.fd = STDIN_FILENO, .events = POLLIN}};
        if (drover_client_pollfd(cli->client, &pf[1]) < 0) {
            lost = true;
            break;
        }
        draw(&t);
        int n = poll(pf, 2, -1);
        if (n < 0 && errno != EINTR)
            lost = true;
        quit = !keys(&t);
        if (n > 0 && pf[1].revents && drover_client_ready(cli->client, pf[1].revents) < 0)
            lost = true;
    }
    restore_terminal();
    int code = 0;
    if (t.done && t.status.code != 0) {
        cli_error("Watch: %s%s%s", grpc_status_name(t.status.code), t.status.message[0] ? ": " : "",
                  t.status.message);
        code = 1;
    } else if (lost || (t.done && !quit)) {
        cli_error("top: droverd at %s went away", cli->socket_path);
        code = 1;
    }
    drover_call_free(call);
    if (t.snap)
        protobuf_c_message_free_unpacked(&t.snap->base, NULL);
    return code;
}
