/* socktop's agent protocol on the HTTP door's /ws: what the socktop TUI and scripts ask an agent,
 * answered from the metrics engine.
 *
 * Requests are the real client's text commands (get_metrics, get_disks, get_processes,
 * get_process_metrics:<pid>, get_journal_entries:<pid>) and the README's JSON form
 * ({"type":"metrics"|"disks"|"processes"}). Each request gets exactly one reply, in order, and
 * nothing is ever sent unasked: the TUI reads "the next frame" as the answer. JSON replies of at
 * most 768 bytes go as Text, larger ones gzipped as Binary; the process list is protobuf
 * (socktop.Processes), raw Binary up to 768 bytes, gzipped above. A request we do not
 * understand is answered {"error", "request"} (upstream stays silent, which leaves a strictly
 * sequential client waiting forever).
 *
 * Every figure comes from the engine's caches with socktop's own TTLs, so a TUI polling every
 * 500 ms and a hundred more share the same readings. Per-process details and journal replies
 * are cached per pid (64 entries) for their TTLs. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/web/web.h"
#include "api/web/socktop-internal.h"
#include "base/gzip.h"
#include "base/buf.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "grpc/wire.h"
#include "http1/http1.h"
#include "metrics/metrics.h"
#include "socktop/processes.pb-c.h"

#define GZIP_ABOVE       768   /* socktop's COMPRESSION_THRESHOLD */
#define MAX_REQUEST      4096  /* bytes of one request message */
#define CACHE_SLOTS      64    /* per-pid replies kept */
#define CACHE_MAX_AGE_MS 60000 /* and for at most this long */

struct cached {
    int kind;       /* 0 free, 1 details, 2 journal */
    pid_t pid;      /* whose */
    uint64_t at_ms; /* when built (monotonic) */
    char *text;     /* the reply, serialized */
};

struct socktop {
    struct api_host *host;            /* the engine */
    struct socktop_opts opt;          /* TTLs and switches */
    struct cached cache[CACHE_SLOTS]; /* per-pid replies */
    uint32_t clients;                 /* open WebSocket connections */
    /* The last get_processes reply as sent (protobuf, gzipped past GZIP_ABOVE), and the sample
     * it was made of: clients asking within one sample's life share one encoding. */
    struct buf procs_reply;
    uint64_t procs_mono_ms;
    size_t procs_n;
};

struct socktop *socktop_new(struct api_host *host, const struct socktop_opts *o)
{
    struct socktop *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->host = host;
    st->opt = *o;
    buf_init(&st->procs_reply, 0);
    return st;
}

void socktop_free(struct socktop *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        free(st->cache[i].text);
    buf_done(&st->procs_reply);
    free(st);
}

uint32_t socktop_clients(const struct socktop *st)
{
    return st->clients;
}

/* ---- replies ----------------------------------------------------------------------------------
 */

/* Text up to 768 bytes, gzipped Binary above: the rule socktop's client expects. */
static void send_text_or_gzip(struct ws_conn *ws, const char *text, size_t len)
{
    if (len <= GZIP_ABOVE) {
        (void)ws_send(ws, false, text, len);
        return;
    }
    struct buf gz;
    buf_init(&gz, 0);
    if (gzip_deflate((const uint8_t *)text, len, &gz) == 0)
        (void)ws_send(ws, true, buf_head(&gz), gz.len);
    else
        ws_close(ws, 1011, "out of memory");
    buf_done(&gz);
}

static void send_json(struct ws_conn *ws, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(v);
    if (!text)
        return ws_close(ws, 1011, "out of memory");
    send_text_or_gzip(ws, text, strlen(text));
    free(text);
}

static void send_error(struct ws_conn *ws, const char *request, json_t *pid, const char *fmt, ...)
    _printf_(4, 5);
static void send_error(struct ws_conn *ws, const char *request, json_t *pid, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *v = json_pack("{s:s, s:s%}", "error", msg, "request", request, strlen(request));
    if (v && pid)
        json_object_set_new(v, "pid", pid);
    else
        json_decref(pid);
    send_json(ws, v);
}

/* ---- get_metrics ------------------------------------------------------------------------------
 */

static json_t *gpus_json(struct socktop *st)
{
    const struct metrics_gpus *g;
    if (!st->opt.gpu || metrics_gpus(st->host->metrics, 1500, &g) < 0)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; a && i < g->n; i++)
        json_array_append_new(a, json_pack("{s:s, s:i, s:I, s:I}", "name", g->v[i].name,
                                           "utilization_gpu_pct", (int)g->v[i].util_pct,
                                           "mem_used_bytes", (json_int_t)g->v[i].mem_used,
                                           "mem_total_bytes", (json_int_t)g->v[i].mem_total));
    return a;
}

static json_t *cpu_temp(struct socktop *st)
{
    const struct metrics_temps *t;
    if (!st->opt.temp || metrics_temps(st->host->metrics, 1500, &t) < 0 || t->cpu < 0)
        return json_null();
    return json_real(t->v[t->cpu].celsius);
}

static void get_metrics(struct socktop *st, struct ws_conn *ws, const char *request)
{
    struct metrics *m = st->host->metrics;
    const struct metrics_system *s;
    const struct metrics_net *n;
    int r = metrics_system(m, st->opt.ttl_metrics_ms, &s);
    if (r < 0)
        return send_error(ws, request, NULL, "cannot read the system's metrics: %s", strerror(-r));
    json_t *cores = json_array(), *nets = json_array();
    for (size_t i = 0; cores && i < s->n_cores; i++)
        json_array_append_new(cores, json_real(s->cores[i].usage_pct));
    if (metrics_net(m, st->opt.ttl_metrics_ms, &n) == 0)
        for (size_t i = 0; nets && i < n->n; i++)
            json_array_append_new(nets, json_pack("{s:s, s:I, s:I}", "name", n->v[i].name,
                                                  "received", (json_int_t)n->v[i].rx_bytes,
                                                  "transmitted", (json_int_t)n->v[i].tx_bytes));
    send_json(ws,
              json_pack("{s:I, s:f, s:o, s:I, s:I, s:I, s:I, s:s, s:o, s:[], s:o, s:[], "
                        "s:o}",
                        "sampled_at_ms", (json_int_t)s->real_ms, "cpu_total", s->cpu.usage_pct,
                        "cpu_per_core", cores, "mem_total", (json_int_t)s->mem.total, "mem_used",
                        (json_int_t)s->mem.used, "swap_total", (json_int_t)s->mem.swap_total,
                        "swap_used", (json_int_t)s->mem.swap_used, "hostname",
                        metrics_host(m)->hostname, "cpu_temp_c", cpu_temp(st), "disks", "networks",
                        nets, "top_processes", "gpus", gpus_json(st)));
}

/* ---- get_disks --------------------------------------------------------------------------------
 */

/* One DiskInfo row. */
static json_t *disk_row(const char *name, uint64_t total, uint64_t avail, bool partition)
{
    return json_pack("{s:s, s:I, s:I, s:n, s:b}", "name", name, "total", (json_int_t)total,
                     "available", (json_int_t)avail, "temperature", "is_partition", partition);
}

/* Block-device file systems: a parent row adding up each disk's partitions, then its partitions;
 * a file system on a whole disk is one row. */
static void get_disks(struct socktop *st, struct ws_conn *ws, const char *request)
{
    struct metrics *m = st->host->metrics;
    const struct metrics_disks *d;
    int r = metrics_disks(m, st->opt.ttl_disks_ms, &d);
    if (r < 0)
        return send_error(ws, request, NULL, "cannot read the disks: %s", strerror(-r));
    json_t *rows = json_array();
    char(*parent)[64] = calloc(d->n_fs ? d->n_fs : 1, sizeof *parent);
    bool *done = calloc(d->n_fs ? d->n_fs : 1, sizeof *done);
    if (!rows || !parent || !done) {
        free(parent);
        free(done);
        json_decref(rows);
        return ws_close(ws, 1011, "out of memory");
    }
    for (size_t i = 0; i < d->n_fs; i++) {
        const char *dev = d->fs[i].device;
        if (strncmp(dev, "/dev/", 5) != 0)
            done[i] = true; /* not a disk */
        else if (metrics_block_parent(m, dev + 5, parent[i], sizeof parent[i]) < 0)
            parent[i][0] = '\0';
    }
    for (size_t i = 0; i < d->n_fs; i++) {
        if (done[i])
            continue;
        if (!parent[i][0]) {
            done[i] = true;
            json_array_append_new(
                rows, disk_row(d->fs[i].device + 5, d->fs[i].size, d->fs[i].avail, false));
            continue;
        }
        /* A disk: its row first (the sum of its mounted partitions), then each partition. */
        uint64_t total = 0, avail = 0;
        for (size_t k = i; k < d->n_fs; k++)
            if (!done[k] && !strcmp(parent[k], parent[i]))
                total += d->fs[k].size, avail += d->fs[k].avail;
        json_array_append_new(rows, disk_row(parent[i], total, avail, false));
        char disk[64];
        snprintf(disk, sizeof disk, "%s", parent[i]);
        for (size_t k = i; k < d->n_fs; k++) {
            if (done[k] || strcmp(parent[k], disk) != 0)
                continue;
            done[k] = true;
            json_array_append_new(
                rows, disk_row(d->fs[k].device + 5, d->fs[k].size, d->fs[k].avail, true));
        }
    }
    free(parent);
    free(done);
    send_json(ws, rows);
}

/* ---- get_processes ----------------------------------------------------------------------------
 */

static void get_processes(struct socktop *st, struct ws_conn *ws, const char *request)
{
    const struct metrics_procs *p;
    int r = metrics_procs(st->host->metrics, st->opt.ttl_processes_ms, &p);
    if (r < 0)
        return send_error(ws, request, NULL, "cannot list the processes: %s", strerror(-r));
    if (st->procs_reply.len && st->procs_mono_ms == p->mono_ms && st->procs_n == p->n) {
        (void)ws_send(ws, true, buf_head(&st->procs_reply), st->procs_reply.len);
        return;
    }
    Socktop__Processes msg = SOCKTOP__PROCESSES__INIT;
    Socktop__Process *rows = calloc(p->n ? p->n : 1, sizeof *rows);
    Socktop__Process **prow = calloc(p->n ? p->n : 1, sizeof *prow);
    struct buf pb, gz;
    buf_init(&pb, 0);
    buf_init(&gz, 0);
    uint8_t *tail;
    if (!rows || !prow)
        goto oom;
    for (size_t i = 0; i < p->n; i++) {
        rows[i] = (Socktop__Process)SOCKTOP__PROCESS__INIT;
        rows[i].pid = (uint32_t)p->v[i].pid;
        rows[i].name = (char *)p->v[i].comm;
        /* A share of the whole machine (all cores = 100), as the agent computes it. */
        rows[i].cpu_usage = p->n_cpus ? p->v[i].cpu_pct / (float)p->n_cpus : 0;
        rows[i].mem_bytes = p->v[i].rss;
        prow[i] = &rows[i];
    }
    msg.process_count = p->n;
    msg.n_rows = p->n;
    msg.rows = prow;
    size_t len = protobuf_c_message_get_packed_size(&msg.base);
    if (buf_reserve(&pb, len ? len : 1, &tail) < 0)
        goto oom;
    protobuf_c_message_pack(&msg.base, tail);
    buf_commit(&pb, len);
    if (len > GZIP_ABOVE && gzip_deflate(buf_head(&pb), len, &gz) < 0)
        goto oom;
    struct buf *reply = len <= GZIP_ABOVE ? &pb : &gz;
    (void)ws_send(ws, true, buf_head(reply), reply->len);
    buf_done(&st->procs_reply); /* kept for the next request of the same sample */
    st->procs_reply = *reply;
    buf_init(reply, 0);
    st->procs_mono_ms = p->mono_ms;
    st->procs_n = p->n;
    free(rows);
    free(prow);
    buf_done(&pb);
    buf_done(&gz);
    return;
oom:
    free(rows);
    free(prow);
    buf_done(&pb);
    buf_done(&gz);
    ws_close(ws, 1011, "out of memory");
}

/* ---- per-pid replies, cached --------------------------------------------------------------- */

static struct cached *cache_find(struct socktop *st, int kind, pid_t pid, uint32_t ttl)
{
    uint64_t now = mono_ms();
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct cached *c = &st->cache[i];
        if (c->kind && now - c->at_ms > CACHE_MAX_AGE_MS) {
            free(c->text);
            *c = (struct cached){0};
        }
        if (c->kind == kind && c->pid == pid && now - c->at_ms <= ttl)
            return c;
    }
    return NULL;
}

static void cache_put(struct socktop *st, int kind, pid_t pid, const char *text)
{
    struct cached *slot = &st->cache[0];
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct cached *c = &st->cache[i];
        if (!c->kind || (c->kind == kind && c->pid == pid)) {
            slot = c;
            break;
        }
        if (c->at_ms < slot->at_ms)
            slot = c; /* the oldest goes when all are taken */
    }
    char *copy = strdup(text);
    if (!copy)
        return;
    free(slot->text);
    *slot = (struct cached){.kind = kind, .pid = pid, .at_ms = mono_ms(), .text = copy};
}

/* Answers a per-pid request from the cache or by building it (build returns the reply, or NULL
 * after sending an error itself). */
static void per_pid(struct socktop *st, struct ws_conn *ws, int kind, pid_t pid, uint32_t ttl,
                    json_t *(*build)(struct socktop *st, struct ws_conn *ws, pid_t pid))
{
    struct cached *c = cache_find(st, kind, pid, ttl);
    if (c)
        return send_text_or_gzip(ws, c->text, strlen(c->text));
    json_t *v = build(st, ws, pid);
    if (!v)
        return;
    char *text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(v);
    if (!text)
        return ws_close(ws, 1011, "out of memory");
    cache_put(st, kind, pid, text);
    send_text_or_gzip(ws, text, strlen(text));
    free(text);
}

static json_t *build_details(struct socktop *st, struct ws_conn *ws, pid_t pid)
{
    json_t *v = socktop_process_details(st->host->metrics, pid);
    if (!v)
        send_error(ws, "get_process_metrics", json_integer(pid), "Process %d not found", (int)pid);
    return v;
}

static json_t *build_journal(struct socktop *st, struct ws_conn *ws, pid_t pid)
{
    (void)st;
    json_t *v = socktop_journal(pid);
    if (!v)
        send_error(ws, "get_journal_entries", json_integer(pid), "cannot read the journal");
    return v;
}

/* "<prefix><pid>": the pid, or -1 when the rest is not a number. */
static long pid_after(const char *text, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (len <= n || len - n > 10 || memcmp(text, prefix, n) != 0)
        return -1;
    long v = 0;
    for (size_t i = n; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    return v > 0 && v <= INT32_MAX ? v : -1;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static void request(struct socktop *st, struct ws_conn *ws, const char *text, size_t len)
{
    char name[64];
    long pid;

    snprintf(name, sizeof name, "%.*s", (int)MIN(len, sizeof name - 1), text);
    if (len == 11 && !memcmp(text, "get_metrics", 11))
        return get_metrics(st, ws, "get_metrics");
    if (len == 9 && !memcmp(text, "get_disks", 9))
        return get_disks(st, ws, "get_disks");
    if (len == 13 && !memcmp(text, "get_processes", 13))
        return get_processes(st, ws, "get_processes");
    if ((pid = pid_after(text, len, "get_process_metrics:")) > 0)
        return per_pid(st, ws, 1, (pid_t)pid, st->opt.ttl_details_ms, build_details);
    if ((pid = pid_after(text, len, "get_journal_entries:")) > 0)
        return per_pid(st, ws, 2, (pid_t)pid, st->opt.ttl_journal_ms, build_journal);
    if (!strncmp(name, "get_process_metrics:", 20) || !strncmp(name, "get_journal_entries:", 20)) {
        name[19] = '\0';
        return send_error(ws, name, json_null(), "'%.*s' is not a process id",
                          (int)MIN(len - 20, (size_t)32), text + 20);
    }
    /* The README's JSON form. */
    if (len && text[0] == '{') {
        json_error_t err;
        json_t *v = json_loadb(text, len, 0, &err);
        const char *type = json_string_value(json_object_get(v, "type"));
        void (*fn)(struct socktop *, struct ws_conn *, const char *) =
            !type                        ? NULL
            : !strcmp(type, "metrics")   ? get_metrics
            : !strcmp(type, "disks")     ? get_disks
            : !strcmp(type, "processes") ? get_processes
                                         : NULL;
        if (fn)
            fn(st, ws, type);
        else if (!v)
            send_error(ws, "json", NULL, "not valid JSON: %s", err.text);
        else
            send_error(ws, type ? type : "json", NULL,
                       "unknown request type (metrics, disks or processes)");
        json_decref(v);
        return;
    }
    send_error(ws, name, NULL,
               "unknown request (get_metrics, get_disks, get_processes, "
               "get_process_metrics:PID, get_journal_entries:PID)");
}

static void on_message(struct ws_conn *ws, bool binary, const uint8_t *data, size_t len,
                       void *userdata)
{
    struct socktop *st = userdata;
    if (binary)
        return send_error(ws, "binary", NULL, "requests are text frames");
    request(st, ws, (const char *)data, len);
}

static void on_close(struct ws_conn *ws, void *userdata)
{
    struct socktop *st = userdata;
    (void)ws;
    st->clients--;
}

static const struct ws_handler handler = {on_message, on_close};

void socktop_upgrade(struct socktop *st, struct http_request *req)
{
    if (http_upgrade_websocket(req, &handler, st, MAX_REQUEST) == 0)
        st->clients++;
}
