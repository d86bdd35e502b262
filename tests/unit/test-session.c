/* Unit tests of src/base/ring.c (the byte ring with absolute positions) and src/session (the
 * session core on a real loop: spawn, output into rings, attachments as positions, missed
 * bytes, input waiters, terminate outcomes, tees). */
#include "unit.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/ring.h"
#include "proc/proc.h"
#include "base/time-util.h"
#include "session/session.h"

/* ---- ring ---- */

static void check_content(struct ring *r, uint64_t from, const uint8_t *expect, size_t n)
{
    uint8_t *got = malloc(n ? n : 1);
    ck_assert_uint_eq(ring_end(r) - from, n);
    ring_copy(r, from, got);
    ck_assert_mem_eq(got, expect, n);
    free(got);
}

START_TEST(ring_grows_wraps_and_drops_oldest)
{
    struct ring r;
    uint8_t data[20000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + i / 251);

    ring_init(&r, 5000); /* rounded up to 8192 */
    ck_assert_uint_eq(r.cap, 8192);
    ck_assert_ptr_null(r.data); /* nothing allocated before the first byte */
    ck_assert_int_eq(ring_write(&r, data, 100), 0);
    ck_assert_uint_eq(r.size, 4096);
    check_content(&r, 0, data, 100);
    ck_assert_int_eq(ring_write(&r, data + 100, 5000), 0); /* grows to 8192 */
    ck_assert_uint_eq(r.size, 8192);
    ck_assert_uint_eq(ring_start(&r), 0);
    check_content(&r, 0, data, 5100);
    ck_assert_int_eq(ring_write(&r, data + 5100, 5000), 0); /* wraps, drops the oldest */
    ck_assert_uint_eq(ring_end(&r), 10100);
    ck_assert_uint_eq(ring_start(&r), 10100 - 8192);
    check_content(&r, ring_start(&r), data + ring_start(&r), 8192);
    /* peek gives contiguous pieces that add up to the content */
    uint64_t pos = ring_start(&r);
    size_t total = 0;
    const uint8_t *p;
    for (size_t n; (n = ring_peek(&r, pos, &p)) > 0; pos += n) {
        ck_assert_mem_eq(p, data + pos, n);
        total += n;
    }
    ck_assert_uint_eq(total, 8192);
    ck_assert_uint_eq(ring_peek(&r, ring_start(&r) - 1, &p), 0); /* gone */
    /* A write larger than the ring keeps its tail only, and counts all of it. */
    ck_assert_int_eq(ring_write(&r, data, 20000), 0);
    ck_assert_uint_eq(ring_end(&r), 30100);
    ck_assert_uint_eq(ring_start(&r), 30100 - 8192);
    check_content(&r, ring_start(&r), data + 20000 - 8192, 8192);
    ring_done(&r);
}
END_TEST

START_TEST(ring_space_and_commit)
{
    struct ring r;
    uint8_t *p;
    size_t n;

    ring_init(&r, 4096);
    ck_assert_int_eq(ring_space(&r, 10000, &p, &n), 0);
    ck_assert_uint_eq(n, 4096);
    memset(p, 'a', 3000);
    ring_commit(&r, 3000);
    ck_assert_int_eq(ring_space(&r, 10000, &p, &n), 0);
    ck_assert_uint_eq(n, 1096); /* up to the end of the storage */
    memset(p, 'b', n);
    ring_commit(&r, n);
    ck_assert_int_eq(ring_space(&r, 10000, &p, &n), 0); /* at cap: overwrites the oldest */
    ck_assert_uint_eq(n, 4096);
    memset(p, 'c', 10);
    ring_commit(&r, 10);
    ck_assert_uint_eq(ring_start(&r), 10);
    uint8_t out[4096];
    ring_copy(&r, 10, out);
    ck_assert_int_eq(out[0], 'a');
    ck_assert_int_eq(out[2990], 'b');
    ck_assert_int_eq(out[4095], 'c');
    ring_done(&r);
}
END_TEST

/* ---- sessions ---- */

static uv_loop_t loop;
static struct proc_reaper *reaper;
static struct sess_mgr *mgr;

static void setup(void)
{
    struct sess_limits lim = {.backlog_bytes = 4096,
                              .max_sessions = 4,
                              .input_max = 1 << 20,
                              .tee_queue = 8,
                              .stall_ms = 50};
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(proc_reaper_new(&loop, &reaper), 0);
    ck_assert_int_eq(sess_mgr_new(&loop, reaper, &lim, &mgr), 0);
}

static void teardown(void)
{
    sess_mgr_free(mgr);
    proc_reaper_free(reaper);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_walk(&loop, (uv_walk_cb)(void (*)(void))uv_close, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static char *const env[] = {"PATH=/usr/bin:/bin", NULL};

static struct session *spawn(enum sess_kind kind, const char *script)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    struct sess_spawn o = {.kind = kind, .argv = argv, .envp = env, .originator = "t"};
    struct session *s;
    ck_assert_int_eq(sess_spawn(mgr, &o, &s), 0);
    return s;
}

static void run_until_exit(struct session *s)
{
    struct sess_info in;
    for (int i = 0; i < 100000; i++) {
        sess_info(s, &in);
        if (in.exited)
            return;
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_abort_msg("the session never exited");
}

START_TEST(pipe_output_exit_and_backlog)
{
    struct session *s = spawn(SESS_PIPE, "printf 'no newline'; printf err >&2; exit 4");
    struct sess_info in;
    uint8_t *b;
    size_t n;
    uint64_t missed;

    run_until_exit(s);
    sess_info(s, &in);
    ck_assert_int_eq(in.exit_code, 4);
    ck_assert_int_eq(in.outcome, SESS_NATURAL);
    ck_assert_str_eq(in.originator, "t");
    ck_assert_str_eq(in.command, "sh -c printf 'no newline'; printf err >&2; exit 4");
    ck_assert_int_eq(sess_backlog(s, SESS_OUT, &b, &n, &missed), 0);
    ck_assert_uint_eq(n, 10);
    ck_assert_mem_eq(b, "no newline", 10);
    free(b);
    ck_assert_int_eq(sess_backlog(s, SESS_ERR, &b, &n, &missed), 0);
    ck_assert_mem_eq(b, "err", 3);
    free(b);
    ck_assert_int_eq(sess_write(s, "x", 1, NULL), -EPIPE);
    ck_assert_int_eq(sess_resize(s, 1, 1), -EINVAL);
}
END_TEST

struct probe {
    int ready;    /* on_ready calls */
    uint64_t got; /* bytes pulled */
    uint64_t missed;
    enum sess_end end;
    int code;
};

static void probe_ready(struct sess_attach *a, void *userdata)
{
    (void)a;
    ((struct probe *)userdata)->ready++;
}

static const struct sess_attach_ops probe_ops = {probe_ready};

/* Pulls everything the attachment has now. */
static void drain(struct sess_attach *a, struct probe *p)
{
    for (;;) {
        struct sess_pull pl;
        sess_attach_next(a, 1000, &pl);
        p->missed += pl.missed;
        p->got += pl.len;
        sess_attach_consume(a, pl.len);
        if (!pl.missed && !pl.len) {
            p->end = pl.end;
            p->code = pl.exit_code;
            return;
        }
    }
}

START_TEST(slow_attachment_learns_what_it_missed)
{
    /* 10000 bytes through a 4096-byte ring while the attachment pulls nothing. */
    struct session *s = spawn(SESS_PIPE, "read x; head -c 10000 /dev/zero; exit 2");
    struct probe p = {0};
    struct sess_attach *a;
    uint8_t *b;
    size_t n;
    uint64_t missed;

    ck_assert_int_eq(sess_attach(s, SESS_OUT, false, &probe_ops, &p, &a, &b, &n, &missed), 0);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(sess_attach(s, SESS_OUT, false, &probe_ops, &p, &a, &b, &n, &missed),
                     -EALREADY);
    ck_assert_int_eq(sess_write(s, "go\n", 3, NULL), 0);
    /* The pipe holds the 10000 bytes, so the program exits at once; its output waits for the
     * client for stall_ms, then is read on and the ring drops. */
    run_until_exit(s);
    uint64_t t0 = mono_ms();
    while (mono_ms() - t0 < 300)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
    ck_assert_int_gt(p.ready, 0);
    while (drain(a, &p), p.end == SESS_END_NONE)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(p.got + p.missed, 10000);
    ck_assert_uint_gt(p.missed, 0);
    /* The exit was known before the stream ended: it comes after the stream's last byte. */
    ck_assert_int_eq(p.end, SESS_END_EXIT);
    ck_assert_int_eq(p.code, 2);
    sess_attach_close(a);
}
END_TEST

static void pull_ready(struct sess_attach *a, void *userdata)
{
    drain(a, userdata);
}

static const struct sess_attach_ops pull_ops = {pull_ready};

START_TEST(reading_client_loses_nothing)
{
    /* 1 MB through a 4096-byte ring to a client that takes what it is offered: the program
     * waits for it instead of the ring dropping anything. */
    struct session *s = spawn(SESS_PIPE, "head -c 1000000 /dev/zero; exit 3");
    struct probe p = {0};
    struct sess_attach *a;
    uint8_t *b;
    size_t n;
    uint64_t missed;

    ck_assert_int_eq(sess_attach(s, SESS_OUT, false, &pull_ops, &p, &a, &b, &n, &missed), 0);
    while (p.end == SESS_END_NONE)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_msg(p.got + n == 1000000 && p.missed == 0,
                  "got %zu + backlog %zu, missed %zu, end %d code %d", (size_t)p.got, n,
                  (size_t)p.missed, (int)p.end, p.code);
    free(b);
    sess_attach_close(a);
}
END_TEST

struct wdone {
    int calls, r;
};

static void on_written(struct sess_write *w, int r)
{
    struct wdone *d = (struct wdone *)(w + 1);
    d->calls++;
    d->r = r;
}

START_TEST(input_waiters_and_close)
{
    struct session *s = spawn(SESS_PIPE, "cat");
    struct {
        struct sess_write w;
        struct wdone d;
    } w = {.w.done = on_written};
    uint8_t *b;
    size_t n;
    uint64_t missed;

    ck_assert_int_eq(sess_write(s, "hello", 5, &w.w), 0);
    while (!w.d.calls)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(w.d.r, 0);
    ck_assert_int_eq(sess_close_stdin(s), 0);
    ck_assert_int_eq(sess_write(s, "more", 4, NULL), -EPIPE);
    run_until_exit(s);
    ck_assert_int_eq(sess_backlog(s, SESS_OUT, &b, &n, &missed), 0);
    ck_assert_mem_eq(b, "hello", 5);
    free(b);
}
END_TEST

START_TEST(terminate_soft_and_hard)
{
    struct session *soft = spawn(SESS_PTY, "exec sleep 30"); /* no shell to exit 143 first */
    struct session *hard = spawn(SESS_PIPE, "trap '' TERM; echo r; while :; do sleep 0.01; done");
    struct sess_info in;
    uint8_t *b = NULL;
    size_t n = 0;
    uint64_t missed;

    while (n == 0) { /* the trap is set once it spoke */
        free(b);
        uv_run(&loop, UV_RUN_ONCE);
        ck_assert_int_eq(sess_backlog(hard, SESS_OUT, &b, &n, &missed), 0);
    }
    free(b);
    ck_assert_int_eq(sess_terminate(soft, 10000, true), 0);
    ck_assert_int_eq(sess_terminate(hard, 50, true), 0);
    run_until_exit(soft);
    run_until_exit(hard);
    sess_info(soft, &in);
    ck_assert_int_eq(in.outcome, SESS_SOFT_EXIT);
    ck_assert_int_eq(in.exit_code, -SIGTERM);
    sess_info(hard, &in);
    ck_assert_int_eq(in.outcome, SESS_HARD_KILLED);
    ck_assert_int_eq(in.exit_code, -SIGKILL);
    sess_purge(soft);
    ck_assert_uint_eq(sess_mgr_count(mgr), 1);
}
END_TEST

START_TEST(limits)
{
    for (int i = 0; i < 4; i++)
        spawn(SESS_PIPE, "exit 0");
    char *argv[] = {"true", NULL};
    struct sess_spawn o = {.kind = SESS_PIPE, .argv = argv, .envp = env};
    struct session *s;
    ck_assert_int_eq(sess_spawn(mgr, &o, &s), -EMFILE);
    char *none[] = {NULL};
    o.argv = none;
    ck_assert_int_eq(sess_spawn(mgr, &o, &s), -EINVAL);
}
END_TEST

START_TEST(tee_copies_and_reports)
{
    char path[] = "/tmp/drover-tee-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    struct session *s = spawn(SESS_PIPE, "read x; echo out:$x");
    struct sess_tee_opts o = {.stream = SESS_OUT, .path = path, .truncate = true};
    struct sess_tee_status st;
    uint64_t h;

    ck_assert_int_eq(sess_tee_add(s, &o, &h), 0);
    ck_assert_uint_eq(h, 1);
    o.stream = SESS_IN;
    ck_assert_int_eq(sess_tee_add(s, &o, &h), 0); /* same file, truncated again: fine */
    ck_assert_int_eq(sess_tee_remove(s, h), 0);
    ck_assert_int_eq(sess_tee_remove(s, h), -ENOENT);
    ck_assert_int_eq(sess_write(s, "v\n", 2, NULL), 0);
    run_until_exit(s);
    ck_assert_int_eq(sess_tee_status(s, 1, &st), 0);
    while (!st.disconnected) { /* closed once its queue is written */
        uv_run(&loop, UV_RUN_ONCE);
        ck_assert_int_eq(sess_tee_status(s, 1, &st), 0);
    }
    ck_assert_uint_eq(st.missed, 0);
    FILE *f = fopen(path, "r");
    char line[64] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    unlink(path);
    ck_assert_str_eq(line, "out:v\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session");
    TCase *r = tcase_create("ring");
    tcase_add_test(r, ring_grows_wraps_and_drops_oldest);
    tcase_add_test(r, ring_space_and_commit);
    suite_add_tcase(s, r);
    TCase *t = tcase_create("sessions");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, pipe_output_exit_and_backlog);
    tcase_add_test(t, slow_attachment_learns_what_it_missed);
    tcase_add_test(t, reading_client_loses_nothing);
    tcase_add_test(t, input_waiters_and_close);
    tcase_add_test(t, terminate_soft_and_hard);
    tcase_add_test(t, limits);
    tcase_add_test(t, tee_copies_and_reports);
    suite_add_tcase(s, t);
    return unit_run(s);
}
