/* Logging for droverd and its tools: one line per message on stderr, with a level.
 * Only daemon/ and api/ log above debug; lower layers return -errno and let callers decide. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/macro.h"

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_NOTICE,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "notice", "info" or "debug"; returns -EINVAL otherwise. */
int log_level_from_string(const char *s, enum log_level *ret_level);
const char *log_level_to_string(enum log_level level);
/* Prefixes every line with this name (e.g. "droverd"); the string must outlive the logger. */
void log_set_ident(const char *ident);

/* Logs and returns error (a -errno value, or 0), with strerror appended when error < 0. */
int log_internal(enum log_level level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...)                                                          \
    ({                                                                                             \
        int _l = (level), _e = (error);                                                            \
        (_l <= (int)log_get_level()) ? log_internal(_l, _e, __VA_ARGS__) : _e;                     \
    })

#define log_error(...)   ((void)log_full_errno(LOG_LEVEL_ERROR, 0, __VA_ARGS__))
#define log_warning(...) ((void)log_full_errno(LOG_LEVEL_WARNING, 0, __VA_ARGS__))
#define log_notice(...)  ((void)log_full_errno(LOG_LEVEL_NOTICE, 0, __VA_ARGS__))
#define log_info(...)    ((void)log_full_errno(LOG_LEVEL_INFO, 0, __VA_ARGS__))
#define log_debug(...)   ((void)log_full_errno(LOG_LEVEL_DEBUG, 0, __VA_ARGS__))

/* A message a flood can repeat (a refused connection per connect): at most LOG_BURST lines per
 * LOG_INTERVAL_MS from one call site. What a window dropped is said once it ends, as journald
 * does: by the first line of the next window, or, when the flood has stopped, by
 * log_ratelimit_flush, which the process runs when its hook asks (see below). */
#define LOG_BURST       10
#define LOG_INTERVAL_MS 5000

struct log_ratelimit {
    uint64_t start_ms;          /* the window began */
    unsigned printed;           /* lines in it */
    unsigned suppressed;        /* dropped in it */
    enum log_level level;       /* its lines' */
    bool queued;                /* on the list log_ratelimit_flush reports from */
    struct log_ratelimit *next; /* on it */
    char last[160];             /* the last line logged, to name what was dropped */
};
/* Logs a line through rl's window (with what the previous window dropped first, if any). */
void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
    _printf_(3, 4);
/* Says what the windows that have ended (all: every window) dropped; returns the ms until the
 * next window with drops ends (run it again then), or 0 when none is left. */
unsigned log_ratelimit_flush(bool all);
/* Called when a window starts dropping (the process arms a timer for log_ratelimit_flush). */
void log_set_ratelimit_hook(void (*hook)(void));

#define log_warning_ratelimited(...)                                                               \
    do {                                                                                           \
        static struct log_ratelimit _rl;                                                           \
        if (LOG_LEVEL_WARNING <= log_get_level())                                                  \
            log_ratelimited(&_rl, LOG_LEVEL_WARNING, __VA_ARGS__);                                 \
    } while (0)

#define log_error_errno(e, ...)   log_full_errno(LOG_LEVEL_ERROR, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_LEVEL_DEBUG, (e), __VA_ARGS__)
