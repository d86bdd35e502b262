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
 * LOG_INTERVAL_MS from one call site; the first line after a window that dropped some says how
 * many, as journald does. */
#define LOG_BURST       10
#define LOG_INTERVAL_MS 5000

struct log_ratelimit {
    uint64_t start_ms;   /* the window began */
    unsigned printed;    /* lines in it */
    unsigned suppressed; /* dropped in it */
};
/* Whether to log now; *ret_dropped is how many were dropped before (reported once). */
bool log_ratelimit_pass(struct log_ratelimit *rl, unsigned *ret_dropped);

#define log_warning_ratelimited(...)                                                               \
    do {                                                                                           \
        static struct log_ratelimit _rl;                                                           \
        unsigned _dropped;                                                                         \
        if (LOG_LEVEL_WARNING <= log_get_level() && log_ratelimit_pass(&_rl, &_dropped)) {         \
            if (_dropped)                                                                          \
                log_warning("(%u more like the next were not logged in %u s)", _dropped,           \
                            LOG_INTERVAL_MS / 1000);                                               \
            log_warning(__VA_ARGS__);                                                              \
        }                                                                                          \
    } while (0)

#define log_error_errno(e, ...)   log_full_errno(LOG_LEVEL_ERROR, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_LEVEL_DEBUG, (e), __VA_ARGS__)
