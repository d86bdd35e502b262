/* Process facts from /proc. Parsers are pure (buffer in, struct out) so they can be fuzzed and
 * tested on hostile input; readers open the file and call them. Issue 3 grows this module into
 * the full process core (spawn, reap, kill-tree). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_statm {
    uint64_t size;     /* total program size, pages */
    uint64_t resident; /* resident set, pages */
    uint64_t shared;   /* resident shared (file-backed) pages */
    uint64_t text;     /* code pages */
    uint64_t data;     /* data + stack pages */
};

/* Parses /proc/PID/statm. -EINVAL unless it holds at least five numbers. */
int proc_statm_parse(const char *buf, size_t len, struct proc_statm *ret);
/* Resident set size of pid (0: ourselves) in bytes. */
int proc_rss_bytes(pid_t pid, uint64_t *ret_bytes);
