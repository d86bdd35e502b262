/* Transcripts: what a conversation's runners wrote and were sent, one JSON line per message in
 * STATE/stratavore/sessions/<project>/<conversation>.jsonl:
 *
 *   {"seq":N,"ts":NS,"role":"assistant","stream":"stdout","runner_id":"…","content":"…"}
 *
 * Roles: the program's output (a PTY's, or stdout) is "assistant", stderr "system"/"stderr",
 * what clients send it "user"/"stdin", droverd's own notes "system"/"event". Bytes are cut into
 * messages at newlines; a line still open is flushed after 100 ms or at 4 KiB. A file over the
 * project's transcript_max_bytes moves to <file>.1 (replacing the older one) and the new file
 * starts with a "system" line saying so. Invalid UTF-8 becomes U+FFFD. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/paths.h"
#include "base/time-util.h"
#include "base/utf8.h"
#include "base/vec.h"
#include "runner/runner-internal.h"

#define LINE_MAX_BYTES 4096
#define FLUSH_MS       100

struct rn_tx {
    int fd;     /* the .jsonl, O_APPEND */
    char *path; /* its name */
    char conv_id[RN_ID_LEN];
    char runner_id[RN_ID_LEN];
    int64_t max_bytes; /* rotation threshold */
    struct {
        char *buf;         /* the open line, allocated while there is one */
        size_t len, cap;   /* its bytes, and the room at buf (up to LINE_MAX_BYTES) */
        uint64_t since_ns; /* when the open line started */
    } line[3];             /* SESS_OUT, SESS_ERR, SESS_IN */
};

static const char *const roles[3][2] = {
    {"assistant", "stdout"}, {"system", "stderr"}, {"user", "stdin"}};

char *rn_transcript_path(struct rn_mgr *m, const char *project, const char *conv_id)
{
    char *p = NULL;
    if (!m->state_dir ||
        asprintf(&p, "%s/stratavore/sessions/%s/%s.jsonl", m->state_dir, project, conv_id) < 0)
        return NULL;
    return p;
}

static json_t *text(const char *s, size_t n)
{
    size_t len;
    char *out = utf8_sanitize(s, n, &len);
    json_t *j = out ? json_stringn(out, len) : NULL;
    free(out);
    return j;
}

static void rotate(struct rn_mgr *m, struct rn_tx *t);

static void append(struct rn_mgr *m, struct rn_tx *t, const char *role, const char *stream,
                   const char *content, size_t n)
{
    struct rn_conv *c = rn_conv_find(m, t->conv_id);
    json_t *o = json_object();
    char *line;

    if (!o || !c)
        goto out;
    json_object_set_new(o, "seq", json_integer(c->messages + 1));
    json_object_set_new(o, "ts", json_integer((json_int_t)rn_now()));
    json_object_set_new(o, "role", json_string(role));
    json_object_set_new(o, "stream", json_string(stream));
    json_object_set_new(o, "runner_id", json_string(t->runner_id));
    json_object_set_new(o, "content", text(content, n));
    if (!(line = json_dumps(o, JSON_COMPACT)))
        goto out;
    size_t len = strlen(line);
    line[len] = '\n'; /* json_dumps's terminator becomes the newline */
    if (t->fd >= 0 && write(t->fd, line, len + 1) == (ssize_t)len + 1) {
        c->messages++;
        c->activity_ns = rn_now();
    }
    free(line);
    struct stat st;
    if (t->fd >= 0 && fstat(t->fd, &st) == 0 && st.st_size > t->max_bytes)
        rotate(m, t);
out:
    json_decref(o);
}

static void rotate(struct rn_mgr *m, struct rn_tx *t)
{
    char old[PATH_MAX], note[PATH_MAX + 64];
    snprintf(old, sizeof old, "%s.1", t->path);
    if (rename(t->path, old) < 0)
        return;
    close(t->fd);
    t->fd = open(t->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int n = snprintf(note, sizeof note, "transcript rotated: earlier messages are in %s", old);
    append(m, t, "system", "event", note, (size_t)n);
}

void rn_transcript_note(struct rn_mgr *m, struct rn_runner *r, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    if (!r->tx)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    append(m, r->tx, "system", "event", msg, (size_t)MIN(n, (int)sizeof msg - 1));
}

static void flush_line(struct rn_mgr *m, struct rn_tx *t, int st)
{
    size_t n = t->line[st].len;
    while (n && (t->line[st].buf[n - 1] == '\r' || t->line[st].buf[n - 1] == '\n'))
        n--;
    append(m, t, roles[st][0], roles[st][1], t->line[st].buf, n);
    t->line[st].len = 0;
    struct rn_runner *r = st == 0 ? rn_runner_find(m, t->runner_id) : NULL;
    if (r)
        rn_usage_line(m, r, t->line[st].buf, n);
    /* An idle runner holds no line buffer: what it costs is what it says. */
    free(t->line[st].buf);
    t->line[st].buf = NULL;
    t->line[st].cap = 0;
}

/* Room for one more byte of the open line; false when memory runs out (the byte is lost). */
static bool line_room(struct rn_tx *t, int st)
{
    if (t->line[st].len < t->line[st].cap)
        return true;
    size_t cap = t->line[st].cap ? t->line[st].cap * 2 : 128;
    char *p = realloc(t->line[st].buf, MIN(cap, (size_t)LINE_MAX_BYTES));
    if (!p)
        return false;
    t->line[st].buf = p;
    t->line[st].cap = MIN(cap, (size_t)LINE_MAX_BYTES);
    return true;
}

static bool pending(const struct rn_mgr *m)
{
    for (struct rn_runner *r = m->runners.first; r; r = r->link.next)
        for (int i = 0; r->tx && i < 3; i++)
            if (r->tx->line[i].len)
                return true;
    return false;
}

static void on_flush(uv_timer_t *timer)
{
    struct rn_mgr *m = timer->data;
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    for (struct rn_runner *r = m->runners.first; r; r = r->link.next)
        for (int i = 0; r->tx && i < 3; i++)
            if (r->tx->line[i].len && now - r->tx->line[i].since_ns >= FLUSH_MS * 1000000ull)
                flush_line(m, r->tx, i);
    if (pending(m))
        uv_timer_start(&m->tx_timer, on_flush, FLUSH_MS, 0);
}

void rn_transcript_data(struct rn_mgr *m, struct rn_runner *r, int st, const uint8_t *p, size_t n)
{
    struct rn_tx *t = r->tx;
    if (!t || st < 0 || st > 2)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!t->line[st].len)
            t->line[st].since_ns = now_ns(CLOCK_MONOTONIC);
        if (!line_room(t, st))
            continue;
        t->line[st].buf[t->line[st].len++] = (char)p[i];
        if (p[i] == '\n' || t->line[st].len == LINE_MAX_BYTES)
            flush_line(m, t, st);
    }
    if (t->line[st].len && !uv_is_active((uv_handle_t *)&m->tx_timer))
        uv_timer_start(&m->tx_timer, on_flush, FLUSH_MS, 0);
}

int rn_transcript_open(struct rn_mgr *m, struct rn_runner *r)
{
    struct rn_project *p = rn_project_find(m, r->project);
    struct rn_tx *t;

    rn_transcript_close(m, r);
    if (!m->state_dir || !p)
        return 0;
    if (!(t = calloc(1, sizeof *t)))
        return -ENOMEM;
    t->fd = -1;
    snprintf(t->conv_id, sizeof t->conv_id, "%s", r->conv_id);
    snprintf(t->runner_id, sizeof t->runner_id, "%s", r->id);
    t->max_bytes = p->launch.transcript_max > 0 ? p->launch.transcript_max : RN_DEF_TRANSCRIPT;
    if (!(t->path = rn_transcript_path(m, r->project, r->conv_id))) {
        free(t);
        return -ENOMEM;
    }
    int x = paths_mkdir_parent(t->path, 0700, 0);
    if (x >= 0)
        t->fd = open(t->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (t->fd < 0) {
        x = x < 0 ? x : -errno;
        log_warning("stratavore: no transcript for runner %s: %s", r->id, strerror(-x));
        free(t->path);
        free(t);
        return x;
    }
    r->tx = t;
    return 0;
}

void rn_transcript_close(struct rn_mgr *m, struct rn_runner *r)
{
    struct rn_tx *t = r->tx;
    if (!t)
        return;
    for (int i = 0; i < 3; i++) {
        if (t->line[i].len)
            flush_line(m, t, i);
        free(t->line[i].buf);
    }
    if (t->fd >= 0)
        close(t->fd);
    free(t->path);
    free(t);
    r->tx = NULL;
    struct rn_conv *c = rn_conv_find(m, r->conv_id);
    if (c)
        rn_db_put_conv(m, c);
}

/* ---- reading ---- */

void rn_tmsgs_free(struct rn_tmsg *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].role);
        free(v[i].stream);
        free(v[i].runner_id);
        free(v[i].content);
    }
    free(v);
}

static int read_file(const char *path, size_t offset, size_t limit, struct rn_tmsg **v, size_t *n,
                     size_t *cap, int64_t *total)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t lsize = 0;
    ssize_t len;

    if (!f)
        return errno == ENOENT ? 0 : -errno;
    while ((len = getline(&line, &lsize, f)) > 0) {
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        if (!json_is_object(o)) {
            json_decref(o);
            continue;
        }
        if ((size_t)(*total)++ >= offset && *n < limit) {
            if (*n == *cap && VEC_RESERVE(*v, *cap, *n + 1) < 0) {
                json_decref(o);
                break;
            }
            struct rn_tmsg *t = &(*v)[(*n)++];
            *t = (struct rn_tmsg){
                .seq = json_integer_value(json_object_get(o, "seq")),
                .ns = (uint64_t)json_integer_value(json_object_get(o, "ts")),
            };
            const char *k[] = {"role", "stream", "runner_id", "content"};
            char **dst[] = {&t->role, &t->stream, &t->runner_id, &t->content};
            for (size_t i = 0; i < ARRAY_SIZE(k); i++) {
                json_t *s = json_object_get(o, k[i]);
                *dst[i] = json_is_string(s) ? strndup(json_string_value(s), json_string_length(s))
                                            : strdup("");
            }
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
}

int rn_transcript_read(struct rn_mgr *m, const struct rn_conv *c, size_t offset, size_t limit,
                       struct rn_tmsg **ret, size_t *ret_n, int64_t *ret_total)
{
    struct rn_tmsg *v = NULL;
    size_t n = 0, cap = 0;
    char *path = rn_transcript_path(m, c->project, c->id), old[PATH_MAX];
    int x;

    *ret_total = 0;
    if (!path)
        return m->state_dir ? -ENOMEM : 0;
    /* Flush what the conversation's live runner holds, so a reader sees every byte so far. */
    for (struct rn_runner *r = m->runners.first; r; r = r->link.next)
        if (r->tx && strcmp(r->tx->conv_id, c->id) == 0)
            for (int i = 0; i < 3; i++)
                if (r->tx->line[i].len)
                    flush_line(m, r->tx, i);
    snprintf(old, sizeof old, "%s.1", path);
    if ((x = read_file(old, offset, limit, &v, &n, &cap, ret_total)) < 0 ||
        (x = read_file(path, offset, limit, &v, &n, &cap, ret_total)) < 0) {
        free(path);
        rn_tmsgs_free(v, n);
        return x;
    }
    free(path);
    *ret = v;
    *ret_n = n;
    return 0;
}

int64_t rn_transcript_size(struct rn_mgr *m, const struct rn_conv *c)
{
    char *path = rn_transcript_path(m, c->project, c->id);
    struct stat st;
    int64_t n = path && stat(path, &st) == 0 ? st.st_size : 0;
    free(path);
    return n;
}

void rn_transcript_purge(struct rn_mgr *m, const struct rn_conv *c)
{
    char *path = rn_transcript_path(m, c->project, c->id), old[PATH_MAX];
    if (!path)
        return;
    snprintf(old, sizeof old, "%s.1", path);
    (void)unlink(path);
    (void)unlink(old);
    free(path);
}
