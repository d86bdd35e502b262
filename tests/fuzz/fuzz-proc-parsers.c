/* Fuzz target: the /proc parsers (stat, status, statm, io, btime, cmdline) on arbitrary bytes.
 * The first byte picks the parser; the rest is the file. */
#include <string.h>

#include "fuzz.h"
#include "proc/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    union {
        struct proc_stat stat;
        struct proc_status status;
        struct proc_statm statm;
        struct proc_io io;
        uint64_t btime;
        char cmdline[256];
    } u;

    switch (data[0] % 6) {
    case 0:
        if (proc_stat_parse(buf, len, &u.stat) == 0 && strlen(u.stat.comm) >= PROC_COMM_MAX)
            __builtin_trap();
        break;
    case 1:
        (void)proc_status_parse(buf, len, &u.status);
        break;
    case 2:
        (void)proc_statm_parse(buf, len, &u.statm);
        break;
    case 3:
        (void)proc_io_parse(buf, len, &u.io);
        break;
    case 4:
        (void)proc_btime_parse(buf, len, &u.btime);
        break;
    default:
        if (proc_cmdline_join(buf, len, u.cmdline, sizeof u.cmdline) >= sizeof u.cmdline)
            __builtin_trap();
        break;
    }
    return 0;
}
