/* The logger: formats one line into a stack buffer and writes it with a single write(2), so lines
 * from droverd and its children never interleave mid-line. When stderr is the journal
 * (JOURNAL_STREAM set) the line carries a <N> syslog priority instead of a timestamp. */
#include "base/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level max_level = LOG_LEVEL_INFO;
static const char *log_ident = "drover";

static const char *const level_names[] = {
    [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
    [LOG_LEVEL_INFO] = "info",   [LOG_LEVEL_DEBUG] = "debug",
};

/* syslog priorities, for the journal's <N> prefix. */
static const int level_prio[] = {3, 4, 5, 6, 7};

void log_set_level(enum log_level level)
{
    max_level = level;
}

enum log_level log_get_level(void)
{
    return max_level;
}

void log_set_ident(const char *ident)
{
    log_ident = ident;
}

int log_level_from_string(const char *s, enum log_level *ret_level)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
        if (strcmp(s, level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return 0;
        }
    return -EINVAL;
}

const char *log_level_to_string(enum log_level level)
{
    return (size_t)level < ARRAY_SIZE(level_names) ? level_names[level] : "unknown";
}

bool log_ratelimit_pass(struct log_ratelimit *rl, unsigned *ret_dropped)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;

    *ret_dropped = 0;
    if (!rl->start_ms || now - rl->start_ms >= LOG_INTERVAL_MS) {
        *ret_dropped = rl->suppressed;
        *rl = (struct log_ratelimit){.start_ms = now ? now : 1};
    }
    if (rl->printed >= LOG_BURST) {
        rl->suppressed++;
        return false;
    }
    rl->printed++;
    return true;
}

int log_internal(enum log_level level, int error, const char *fmt, ...)
{
    static int journal = -1;
    char line[2048];
    size_t n = 0;
    int saved = errno;

    if (journal < 0)
        journal = getenv("JOURNAL_STREAM") != NULL;
    if (journal) {
        n = (size_t)snprintf(line, sizeof line, "<%d>", level_prio[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n +=
            (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s[%d] %s: ", ts.tv_nsec / 1000000,
                             log_ident, (int)getpid(), level_names[level]);
    }

    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    n = w < 0 ? n : MIN(n + (size_t)w, sizeof line - 1);
    if (error < 0 && n < sizeof line - 1)
        n += (size_t)snprintf(line + n, sizeof line - n, ": %s", strerror(-error));
    n = MIN(n, sizeof line - 2);
    line[n++] = '\n';

    ssize_t r = write(STDERR_FILENO, line, n);
    (void)r; /* Nowhere to report a failing stderr. */
    errno = saved;
    return error;
}
