/* The logger's rate limit: LOG_BURST lines per window from one call site, and what a window
 * dropped said once, by the next window's first line or by log_ratelimit_flush. */
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

/* stderr into a temporary file while a test logs; read back by logged(). */
static FILE *capture;
static int saved_stderr = -1;

static void capture_start(void)
{
    capture = tmpfile();
    ck_assert_ptr_nonnull(capture);
    saved_stderr = dup(2);
    ck_assert_int_ge(dup2(fileno(capture), 2), 0);
}

/* Everything logged since capture_start; stderr is stderr again. */
static char *logged(void)
{
    static char text[65536];
    dup2(saved_stderr, 2);
    close(saved_stderr);
    rewind(capture);
    size_t n = fread(text, 1, sizeof text - 1, capture);
    text[n] = '\0';
    fclose(capture);
    return text;
}

static size_t count(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static unsigned hook_calls;

static void hook(void)
{
    hook_calls++;
}

START_TEST(burst_then_drops_reported_by_flush)
{
    struct log_ratelimit rl = {0};

    hook_calls = 0;
    log_set_ratelimit_hook(hook);
    capture_start();
    for (int i = 0; i < LOG_BURST + 15; i++)
        log_ratelimited(&rl, LOG_LEVEL_WARNING, "refusing connection %d", i);
    /* The window has not ended: nothing to say yet, and when to look again. */
    unsigned again = log_ratelimit_flush(false);
    ck_assert_uint_gt(again, 0);
    ck_assert_uint_le(again, LOG_INTERVAL_MS);
    /* Shutting down: every window is reported now. */
    ck_assert_uint_eq(log_ratelimit_flush(true), 0);
    ck_assert_uint_eq(log_ratelimit_flush(true), 0); /* once */
    char *text = logged();
    log_set_ratelimit_hook(NULL);

    ck_assert_uint_eq(count(text, "refusing connection "), LOG_BURST + 1);
    ck_assert_ptr_nonnull(strstr(text, "refusing connection 9\n"));
    ck_assert_ptr_null(strstr(text, "refusing connection 10\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "(15 more like \"refusing connection 9\" were not logged in 0 s)"));
    ck_assert_uint_eq(hook_calls, 1); /* when the window started dropping, not per line */
}
END_TEST

START_TEST(next_window_first_line_says_what_was_dropped)
{
    struct log_ratelimit rl = {0};

    capture_start();
    for (int i = 0; i < LOG_BURST + 3; i++)
        log_ratelimited(&rl, LOG_LEVEL_WARNING, "line %d", i);
    rl.start_ms -= LOG_INTERVAL_MS; /* the window is over */
    log_ratelimited(&rl, LOG_LEVEL_WARNING, "line after");
    ck_assert_uint_eq(log_ratelimit_flush(false), 0); /* nothing left to report */
    char *text = logged();

    const char *said = strstr(text, "(3 more like \"line 9\" were not logged in 5 s)");
    ck_assert_ptr_nonnull(said);
    ck_assert_ptr_nonnull(strstr(said, "line after"));
    ck_assert_uint_eq(count(text, "more like"), 1);
}
END_TEST

START_TEST(quiet_windows_say_nothing)
{
    struct log_ratelimit rl = {0};

    capture_start();
    for (int i = 0; i < LOG_BURST; i++)
        log_ratelimited(&rl, LOG_LEVEL_WARNING, "line %d", i);
    rl.start_ms -= LOG_INTERVAL_MS;
    log_ratelimited(&rl, LOG_LEVEL_WARNING, "one more");
    ck_assert_uint_eq(log_ratelimit_flush(true), 0);
    char *text = logged();

    ck_assert_uint_eq(count(text, "more like"), 0);
    ck_assert_uint_eq(count(text, "line "), LOG_BURST);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *rl = tcase_create("ratelimit");
    tcase_add_test(rl, burst_then_drops_reported_by_flush);
    tcase_add_test(rl, next_window_first_line_says_what_was_dropped);
    tcase_add_test(rl, quiet_windows_say_nothing);
    suite_add_tcase(s, rl);
    return unit_run(s);
}
