/* Unit tests of src/net/lenframe.c and src/net/framed.c: 4-byte big-endian length-prefixed
 * frames, as the running-process IPC frames every message, and the server of them, driven over
 * socketpairs on a real libuv loop by a small owner that echoes, holds, streams or closes as a
 * test asks. */
#include "unit.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/lenframe.h"
#include "net/net.h"

START_TEST(encode_decode)
{
    struct buf b;
    uint32_t n = 99;

    buf_init(&b, 0);
    ck_assert_int_eq(lenframe_append_header(&b, 12), 0);
    ck_assert_int_eq(buf_append(&b, "\x08\x01\x10\x28\x18\x01\x22\x01\x78\xc2\x02\x00", 12), 0);
    ck_assert_uint_eq(b.len, 16);
    ck_assert_mem_eq(buf_head(&b), "\x00\x00\x00\x0c", 4);
    /* Every prefix but the whole frame asks for more; the header alone tells the length. */
    for (size_t k = 0; k < b.len; k++) {
        n = 99;
        ck_assert_int_eq(lenframe_next(buf_head(&b), k, 1u << 22, &n), 0);
        ck_assert_uint_eq(n, k >= 4 ? 12 : 99);
    }
    ck_assert_int_eq(lenframe_next(buf_head(&b), b.len, 1u << 22, &n), 1);
    ck_assert_uint_eq(n, 12);
    /* More bytes behind a frame do not change it. */
    ck_assert_int_eq(buf_append(&b, "\x00\x00", 2), 0);
    ck_assert_int_eq(lenframe_next(buf_head(&b), b.len, 1u << 22, &n), 1);
    ck_assert_uint_eq(n, 12);
    buf_done(&b);

    buf_init(&b, 0);
    ck_assert_int_eq(lenframe_append_header(&b, 0x01020304), 0);
    ck_assert_mem_eq(buf_head(&b), "\x01\x02\x03\x04", 4);
    buf_done(&b);
}
END_TEST

START_TEST(caps)
{
    uint32_t n = 0;
    const uint8_t empty[] = {0, 0, 0, 0};
    const uint8_t at_cap[] = {0x00, 0x40, 0x00, 0x00};   /* 4 MiB */
    const uint8_t over_cap[] = {0x00, 0x40, 0x00, 0x01}; /* 4 MiB + 1 */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};

    ck_assert_int_eq(lenframe_next(empty, 4, 4u << 20, &n), 1); /* an empty message is a frame */
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(lenframe_next(at_cap, 4, 4u << 20, &n), 0);
    ck_assert_uint_eq(n, 4u << 20);
    ck_assert_int_eq(lenframe_next(over_cap, 4, 4u << 20, &n), -EMSGSIZE);
    ck_assert_uint_eq(n, (4u << 20) + 1);
    ck_assert_int_eq(lenframe_next(huge, 4, 4u << 20, &n), -EMSGSIZE);
    ck_assert_uint_eq(n, 0xffffffffu);
}
END_TEST

/* ---- the server ---------------------------------------------------------------------------- */

#define BIG (256u << 10) /* a reply far larger than a small socket buffer */

/* The owner: what it saw, and what it does with the next frames. */
struct owner {
    int opened, closed, refused, oversized, drains, shutdowns; /* callbacks seen */
    uint32_t oversize_len;                                     /* on_oversize's length */
    char frames[16][32];                                       /* payloads handed over */
    int n_frames;                                              /* their number */
    struct lenframe_conn *last;                                /* connection of the last frame */
    bool hold;                                                 /* hold after each frame */
    bool close;                                                /* close after each frame */
    bool stream;                                               /* stream from the first frame */
    size_t reply_size;                                         /* reply this much, not an echo */
    bool waited;                                               /* "wait" was left once */
};

static uv_loop_t loop;
static struct owner o;
static struct lenframe_server *srv;
static int clients[8], n_clients; /* the clients' ends, closed by stop() */
static struct buf got;            /* what the clients received, in order */

/* One frame with payload p to c (or a reply of n bytes of 'x' when p is NULL). */
static void send_frame(struct lenframe_conn *c, const void *p, size_t n)
{
    struct buf b;
    uint8_t *tail;

    buf_init(&b, 0);
    ck_assert_int_eq(lenframe_append_header(&b, (uint32_t)n), 0);
    ck_assert_int_eq(buf_reserve(&b, n + 1, &tail), 0);
    if (p)
        memcpy(tail, p, n);
    else
        memset(tail, 'x', n);
    buf_commit(&b, n);
    ck_assert_int_eq(lenframe_conn_write(c, &b), 0);
    buf_done(&b);
}

static int on_open(struct lenframe_conn *c, void *userdata)
{
    ck_assert_ptr_eq(userdata, &o);
    o.opened++;
    o.refused += lenframe_conn_refused(c);
    return 0;
}

static int on_frame(struct lenframe_conn *c, const uint8_t *p, uint32_t len, void *data)
{
    ck_assert_ptr_eq(data, &o);
    if (len == 4 && !memcmp(p, "wait", 4) && !o.waited) {
        o.waited = true;
        lenframe_conn_pause(c);
        return LENFRAME_LATER;
    }
    ck_assert_int_lt(o.n_frames, 16);
    snprintf(o.frames[o.n_frames++], sizeof o.frames[0], "%.*s", (int)MIN(len, 31u), p);
    o.last = c;
    if (lenframe_conn_refused(c)) {
        send_frame(c, "busy", 4);
        lenframe_conn_close(c);
        return 0;
    }
    if (o.stream)
        lenframe_conn_stream(c);
    if (o.reply_size)
        send_frame(c, NULL, o.reply_size);
    else if (!o.hold)
        send_frame(c, p, len);
    if (o.hold)
        lenframe_conn_hold(c);
    if (o.close)
        lenframe_conn_close(c);
    return 0;
}

static void on_oversize(struct lenframe_conn *c, uint32_t len, void *data)
{
    (void)data;
    o.oversized++;
    o.oversize_len = len;
    send_frame(c, "too big", 7);
}

static void on_drain(struct lenframe_conn *c, void *data)
{
    (void)c, (void)data;
    o.drains++;
}

static void on_shutdown(struct lenframe_conn *c, void *data)
{
    (void)data;
    o.shutdowns++;
    send_frame(c, "bye", 3);
}

static void on_close(struct lenframe_conn *c, void *data)
{
    (void)data;
    o.closed++;
    if (o.last == c)
        o.last = NULL;
    /* Everything is a no-op on a closed connection. */
    lenframe_conn_close(c);
    lenframe_conn_release(c);
    ck_assert_int_eq(lenframe_conn_write(c, &(struct buf){0}), -EPIPE);
}

static const struct lenframe_handler handler = {on_open,  on_frame,    on_oversize,
                                                on_drain, on_shutdown, on_close};

static void start(uint32_t max_frame, uint32_t max_conns, uint32_t refused_idle_ms)
{
    const struct lenframe_limits lim = {.max_frame = max_frame,
                                        .max_connections = max_conns,
                                        .idle_timeout_ms = 0,
                                        .refused_idle_ms = refused_idle_ms,
                                        .out_high = 4096};
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    srv = lenframe_server_new(&loop, &lim, &handler, &o);
    ck_assert_ptr_nonnull(srv);
    buf_init(&got, 0);
}

static void stop(void)
{
    for (int i = 0; i < n_clients; i++)
        if (clients[i] >= 0)
            close(clients[i]);
    buf_done(&got);
    lenframe_server_free(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0); /* every handle went */
    ck_assert_int_eq(o.closed, o.opened);
}

/* A connection served by srv; returns the client's end (non-blocking). A small send buffer on
 * the server's end makes a large reply stay queued until the client reads. */
static int connect_pair(void)
{
    int sv[2], small = 4096;
    struct net_conn *conn;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(net_conn_from_fd(&loop, sv[0], &conn), 0);
    lenframe_server_accept(srv, conn);
    ck_assert_int_lt(n_clients, 8);
    return clients[n_clients++] = sv[1];
}

static void client_close(int fd)
{
    for (int i = 0; i < n_clients; i++)
        if (clients[i] == fd)
            clients[i] = -1;
    close(fd);
}

static void spin(void)
{
    for (int i = 0; i < 8; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
}

static void client_write(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

static void client_frame(int fd, const char *payload)
{
    uint8_t h[LENFRAME_HEADER] = {0, 0, 0, (uint8_t)strlen(payload)};
    client_write(fd, h, sizeof h);
    client_write(fd, payload, strlen(payload));
}

/* Runs the loop and appends what the server sent to fd to got; true at end of file. */
static bool client_read(int fd)
{
    uint8_t chunk[65536];

    uv_run(&loop, UV_RUN_NOWAIT);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n == 0)
            return true;
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            return false;
        }
        ck_assert_int_eq(buf_append(&got, chunk, (size_t)n), 0);
    }
}

/* Keeps the loop and the client going until got holds n bytes (false) or end of file (true). */
static bool client_wait(int fd, size_t n)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    for (;;) {
        if (client_read(fd))
            return true;
        if (got.len >= n)
            return false;
        (void)poll(&p, 1, 10);
    }
}

/* Takes the next whole frame from got, as a string; false when there is none. */
static bool client_next(char *out, size_t size)
{
    uint32_t n;

    out[0] = '\0';
    if (lenframe_next(buf_head(&got), got.len, UINT32_MAX, &n) != 1)
        return false;
    snprintf(out, size, "%.*s", (int)MIN(n, size - 1), buf_head(&got) + LENFRAME_HEADER);
    buf_consume(&got, LENFRAME_HEADER + n);
    return true;
}

static void expect_reply(const char *want)
{
    char frame[64];
    ck_assert(client_next(frame, sizeof frame));
    ck_assert_str_eq(frame, want);
}

START_TEST(frames_split_across_reads)
{
    const uint8_t hello[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    const uint8_t more[] = {0, 0, 0, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 2, 'b', 'c', 0, 0};

    start(64, 8, 0);
    int fd = connect_pair();
    for (size_t i = 0; i < sizeof hello; i++) { /* one byte per read */
        ck_assert_int_eq(o.n_frames, 0);
        client_write(fd, &hello[i], 1);
        spin();
    }
    ck_assert_int_eq(o.n_frames, 1);
    /* Three frames (one empty) and a header's first half in one read, the rest in another. */
    client_write(fd, more, sizeof more);
    spin();
    ck_assert_int_eq(o.n_frames, 4);
    client_write(fd, "\0\3def", 5);
    spin();
    ck_assert_int_eq(o.n_frames, 5);
    const char *want[] = {"hello", "a", "", "bc", "def"};
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(o.frames[i], want[i]);
    client_wait(fd, 9 + 5 + 4 + 6 + 7);
    for (int i = 0; i < 5; i++)
        expect_reply(want[i]);
    ck_assert_int_eq(o.closed, 0);
    stop();
}
END_TEST

START_TEST(frame_over_the_cap)
{
    start(16, 8, 0);
    int fd = connect_pair();
    client_frame(fd, "ok");
    client_write(fd, "\0\0\0\21", 4); /* 17 bytes announced */
    client_write(fd, "0123456789abcdefg", 17);
    ck_assert(client_wait(fd, SIZE_MAX)); /* answered, then closed */
    ck_assert_int_eq(o.n_frames, 1);
    ck_assert_int_eq(o.oversized, 1);
    ck_assert_uint_eq(o.oversize_len, 17);
    expect_reply("ok");
    expect_reply("too big");
    ck_assert_uint_eq(got.len, 0);
    ck_assert_int_eq(o.closed, 1);
    stop();
}
END_TEST

START_TEST(busy_then_released)
{
    start(64, 8, 0);
    int fd = connect_pair();
    o.hold = true;
    client_frame(fd, "one");
    client_frame(fd, "two");
    client_frame(fd, "three");
    spin();
    ck_assert_int_eq(o.n_frames, 1); /* held: the next frames wait */
    struct lenframe_conn *c = o.last;
    ck_assert_ptr_nonnull(c);
    /* A close asked for while held waits for the answer, which goes out first. */
    lenframe_conn_close(c);
    spin();
    ck_assert_int_eq(o.closed, 0);
    send_frame(c, "answer", 6);
    lenframe_conn_release(c); /* outside any callback: acts now */
    ck_assert_int_eq(o.closed, 1);
    ck_assert_int_eq(o.n_frames, 1); /* closing: the rest is not handed over */
    ck_assert(client_wait(fd, SIZE_MAX));
    expect_reply("answer");
    ck_assert_uint_eq(got.len, 0);

    /* Released from outside, the next frame is handed over at once; a half close still gets
     * its answers before the close. */
    fd = connect_pair();
    client_frame(fd, "four");
    client_frame(fd, "five");
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    spin();
    ck_assert_int_eq(o.n_frames, 2);
    send_frame(o.last, "4", 1);
    lenframe_conn_release(o.last);
    ck_assert_int_eq(o.n_frames, 3);
    ck_assert_str_eq(o.frames[2], "five");
    ck_assert_int_eq(o.closed, 1);
    send_frame(o.last, "5", 1);
    lenframe_conn_release(o.last);
    ck_assert_int_eq(o.closed, 2);
    ck_assert(client_wait(fd, SIZE_MAX));
    expect_reply("4");
    expect_reply("5");
    stop();
}
END_TEST

START_TEST(output_mark_pauses)
{
    char frame[64];

    start(64, 8, 0);
    int fd = connect_pair();
    o.reply_size = BIG;
    for (int i = 0; i < 4; i++)
        client_frame(fd, "q");
    spin();
    /* The first reply waits for a client that does not read: the other frames wait too. */
    ck_assert_int_eq(o.n_frames, 1);
    spin();
    ck_assert_int_eq(o.n_frames, 1);
    ck_assert_uint_ge(lenframe_conn_pending(o.last), 4096);
    /* Reading the replies lets the next frames through, in order. */
    ck_assert(!client_wait(fd, 4 * (LENFRAME_HEADER + BIG)));
    ck_assert_int_eq(o.n_frames, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert(client_next(frame, sizeof frame));
        ck_assert_uint_eq(strlen(frame), sizeof frame - 1);
    }
    stop();
}
END_TEST

START_TEST(refused_connection)
{
    start(64, 1, 60000);
    int first = connect_pair();
    int second = connect_pair();
    ck_assert_int_eq(o.opened, 2);
    ck_assert_int_eq(o.refused, 1);
    /* The refused one is answered once, then closed. */
    client_frame(second, "hi");
    ck_assert(client_wait(second, SIZE_MAX));
    expect_reply("busy");
    ck_assert_uint_eq(got.len, 0);
    /* The first is served as usual. */
    client_frame(first, "hi");
    ck_assert(!client_wait(first, LENFRAME_HEADER + 2));
    expect_reply("hi");
    /* Once the first is gone, its slot is free again. */
    client_close(first);
    while (o.closed < 2)
        uv_run(&loop, UV_RUN_ONCE);
    (void)connect_pair();
    ck_assert_int_eq(o.refused, 1);
    stop();
}
END_TEST

START_TEST(refused_connection_idle)
{
    start(64, 1, 1);
    (void)connect_pair();
    /* A refused connection that asks nothing goes after refused_idle_ms; the counted one has
     * no idle timeout here and stays. */
    int second = connect_pair();
    ck_assert_int_eq(o.refused, 1);
    ck_assert(client_wait(second, SIZE_MAX));
    ck_assert_uint_eq(got.len, 0);
    ck_assert_int_eq(o.closed, 1);
    stop();
}
END_TEST

START_TEST(close_after_flush)
{
    uint32_t n;

    start(64, 8, 0);
    int fd = connect_pair();
    o.reply_size = BIG;
    o.close = true; /* from inside on_frame */
    client_frame(fd, "last");
    client_frame(fd, "never");
    spin();
    ck_assert_int_eq(o.n_frames, 1);
    ck_assert(client_wait(fd, SIZE_MAX)); /* every byte, then end of file */
    ck_assert_int_eq(lenframe_next(buf_head(&got), got.len, UINT32_MAX, &n), 1);
    ck_assert_uint_eq(n, BIG);
    ck_assert_uint_eq(got.len, LENFRAME_HEADER + BIG);
    ck_assert_int_eq(o.n_frames, 1);
    ck_assert_int_eq(o.closed, 1);
    stop();
}
END_TEST

/* The same close to a client that never reads: its output is dropped after the linger time,
 * and the connection (its descriptor, its memory) goes. */
START_TEST(close_after_flush_lingers_at_most)
{
    uint8_t chunk[65536];

    net_set_linger_ms(50);
    start(64, 8, 0);
    int fd = connect_pair();
    o.reply_size = BIG;
    o.close = true;
    client_frame(fd, "last");
    spin();
    ck_assert_int_eq(o.closed, 1); /* for its owner at once */
    /* The loop ends only once every handle is closed: the socket, after the linger. */
    lenframe_server_free(srv);
    srv = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    ssize_t n;
    size_t total = 0;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        total += (size_t)n;
    ck_assert(n == 0 || errno == ECONNRESET); /* the end, not EAGAIN */
    ck_assert_uint_lt(total, LENFRAME_HEADER + BIG); /* cut short */
    net_set_linger_ms(10000);
    stop();
}
END_TEST

START_TEST(streaming)
{
    start(64, 8, 0);
    int fd = connect_pair();
    o.stream = true;
    o.reply_size = BIG;
    client_frame(fd, "s1");
    client_frame(fd, "s2");
    spin();
    /* A stream's frames keep coming whatever waits for the client. */
    ck_assert_int_eq(o.n_frames, 2);
    o.reply_size = 0;
    o.stream = false;
    /* A frame the owner cannot take yet stays, and so does what follows it. */
    client_frame(fd, "wait");
    client_frame(fd, "s3");
    spin();
    ck_assert_int_eq(o.n_frames, 2);
    ck_assert(o.waited);
    lenframe_conn_resume(o.last);
    ck_assert_int_eq(o.n_frames, 4);
    ck_assert_str_eq(o.frames[2], "wait");
    ck_assert_str_eq(o.frames[3], "s3");
    /* Output going out is reported, so the owner can pull more. */
    client_wait(fd, 2 * (LENFRAME_HEADER + BIG));
    ck_assert_int_gt(o.drains, 0);
    stop();
}
END_TEST

static int done_calls;

static void on_done(void *userdata)
{
    ck_assert_ptr_eq(userdata, &o);
    done_calls++;
}

START_TEST(listen_and_shutdown)
{
    char dir[] = "/tmp/test-lenframe-XXXXXX", sub[64], path[80], err[256];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const struct lenframe_listen_opts lo = {.mode = 0600, .private_dir = true, .what = "test"};
    struct stat st;

    start(64, 8, 0);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(lenframe_server_listen(srv, "sock", &lo, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "test 'sock' needs a directory of its own");
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/sock", sub);
    ck_assert_int_eq(lenframe_server_listen(srv, path, &lo, err, sizeof err), 0);
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700); /* made private */
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    client_frame(fd, "hi");
    ck_assert(!client_wait(fd, LENFRAME_HEADER + 2));
    expect_reply("hi");
    int idle = fd;
    /* A held connection finishes its answer before shutdown closes it. */
    o.hold = true;
    int busy = connect_pair();
    client_frame(busy, "slow");
    spin();
    ck_assert_int_eq(o.n_frames, 2);
    struct lenframe_conn *c = o.last;
    lenframe_server_shutdown(srv, on_done, &o);
    ck_assert_int_eq(o.shutdowns, 2);
    ck_assert_int_eq(stat(path, &st), -1); /* the socket file went */
    ck_assert(client_wait(idle, SIZE_MAX));
    expect_reply("bye");
    ck_assert_int_eq(done_calls, 0);
    send_frame(c, "done", 4);
    lenframe_conn_release(c);
    ck_assert_int_eq(done_calls, 1);
    ck_assert(client_wait(busy, SIZE_MAX));
    expect_reply("bye");
    expect_reply("done");
    rmdir(sub);
    rmdir(dir);
    stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lenframe");
    TCase *tc = tcase_create("lenframe");
    tcase_add_test(tc, encode_decode);
    tcase_add_test(tc, caps);
    tcase_add_test(tc, frames_split_across_reads);
    tcase_add_test(tc, frame_over_the_cap);
    tcase_add_test(tc, busy_then_released);
    tcase_add_test(tc, output_mark_pauses);
    tcase_add_test(tc, refused_connection);
    tcase_add_test(tc, refused_connection_idle);
    tcase_add_test(tc, close_after_flush);
    tcase_add_test(tc, close_after_flush_lingers_at_most);
    tcase_add_test(tc, streaming);
    tcase_add_test(tc, listen_and_shutdown);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
