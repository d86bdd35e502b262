/* Clocks. Monotonic time for durations and timers, real time only for timestamps shown to people
 * or sent over the wire. */
#pragma once

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ms(void)
{
    return now_ns(CLOCK_MONOTONIC) / 1000000u;
}
