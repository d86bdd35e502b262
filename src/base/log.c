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

static struct log_ratelimit *rl_queue; /* windows that dropped lines, not yet reported */
static void (*rl_hook)(void);

void log_set_ratelimit_hook(void (*hook)(void))
{
    rl_hook = hook;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    return ms ? ms : 1;
}

static void rl_dequeue(struct log_ratelimit *rl)
{
    for (struct log_ratelimit **p = &rl_queue; *p; p = &(*p)->next)
        if (*p == rl) {
            *p = rl->next;
            break;
        }
    rl->queued = false;
}

/* Says what rl's ended window dropped, and starts it afresh. */
static void rl_report(struct log_ratelimit *rl, uint64_t now)
{
    if (rl->suppressed)
        log_internal(rl->level, 0, "(%u more like \"%s\" were not logged in %u s)", rl->suppressed,
                     rl->last, (unsigned)((now - rl->start_ms + 500) / 1000));
    if (rl->queued)
        rl_dequeue(rl);
    rl->start_ms = now;
    rl->printed = rl->suppressed = 0;
}

void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
    uint64_t now = now_ms();
    va_list ap;

    if (!rl->start_ms || now - rl->start_ms >= LOG_INTERVAL_MS)
        rl_report(rl, now);
    rl->level = level;
    if (rl->printed >= LOG_BURST) {
        if (rl->suppressed++ == 0 && !rl->queued) {
            rl->queued = true;
            rl->next = rl_queue;
            rl_queue = rl;
            if (rl_hook)
                rl_hook();
        }
        return;
    }
    rl->printed++;
    va_start(ap, fmt);
    vsnprintf(rl->last, sizeof rl->last, fmt, ap);
    va_end(ap);
    log_internal(level, 0, "%s", rl->last);
}

unsigned log_ratelimit_flush(bool all)
{
    uint64_t now = now_ms(), next = 0;

    for (struct log_ratelimit *rl = rl_queue, *n; rl; rl = n) {
        n = rl->next;
        uint64_t end = rl->start_ms + LOG_INTERVAL_MS;
        if (all || now >= end)
            rl_report(rl, now);
        else if (!next || end - now < next)
            next = end - now;
    }
    return (unsigned)next;
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
