/* The libFuzzer entry point every target defines. Built two ways: with -fsanitize=fuzzer
 * (meson -Dfuzz=true, clang) for fuzzing, and with replay.c as an ordinary program that runs
 * the committed corpus as a test. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Set (to 1) by replay.c: the corpus replayed as a test, not libFuzzer. */
extern int fuzz_replaying __attribute__((weak));

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

/* Reads and drops whatever the server sent (fd is non-blocking). */
static inline void fuzz_drain(int fd)
{
    char buf[65536];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

/* Feeds data to the server on the other end of fd in two halves, running the loop between and
 * after as a network would split it; then before_hangup (may be NULL) runs, and it hangs up. */
static inline void fuzz_feed_then(uv_loop_t *loop, int fd, const uint8_t *data, size_t size,
                                  void (*before_hangup)(void *arg), void *arg)
{
    size_t half = size / 2;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    if (write(fd, data, half) < 0) {
    }
    for (int i = 0; i < 4; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        fuzz_drain(fd);
    }
    if (write(fd, data + half, size - half) < 0) {
    }
    for (int i = 0; i < 8; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        fuzz_drain(fd);
    }
    if (before_hangup)
        before_hangup(arg);
    close(fd);
    uv_run(loop, UV_RUN_NOWAIT);
}

static inline void fuzz_feed(uv_loop_t *loop, int fd, const uint8_t *data, size_t size)
{
    fuzz_feed_then(loop, fd, data, size, NULL, NULL);
}
