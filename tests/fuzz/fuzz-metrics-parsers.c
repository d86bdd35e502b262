/* Fuzz target: the metrics engine's parsers (/proc/stat, meminfo, loadavg, uptime, net/dev,
 * diskstats, mounts, downward-API labels, os-release) on arbitrary bytes. The first byte picks
 * the parser; the rest is the file. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "metrics/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1, n = 0;
    struct metrics_system s = {0};
    struct metrics_mem mem;
    double up;
    char os[64];
    void *v = NULL;

    switch (data[0] % 9) {
    case 0:
        if (metrics_parse_stat(buf, len, &s) == 0)
            for (size_t i = 0; i < s.n_cores; i++)
                if (s.cores[i].id < 0)
                    __builtin_trap();
        free(s.cores);
        break;
    case 1:
        if (metrics_parse_meminfo(buf, len, &mem) == 0 && mem.used > mem.total)
            __builtin_trap();
        break;
    case 2:
        (void)metrics_parse_loadavg(buf, len, &s);
        break;
    case 3:
        (void)metrics_parse_uptime(buf, len, &up);
        break;
    case 4:
        if (metrics_parse_netdev(buf, len, (struct metrics_netif **)&v, &n) == 0)
            for (size_t i = 0; i < n; i++)
                if (strlen(((struct metrics_netif *)v)[i].name) >= 32)
                    __builtin_trap();
        free(v);
        break;
    case 5:
        if (metrics_parse_diskstats(buf, len, (struct metrics_diskio **)&v, &n) == 0)
            free(v);
        break;
    case 6:
        if (metrics_parse_mounts(buf, len, (struct metrics_fs **)&v, &n) == 0)
            metrics_fs_free(v, n);
        break;
    case 7:
        if (metrics_parse_labels(buf, len, (struct metrics_label **)&v, &n) == 0)
            metrics_labels_free(v, n);
        break;
    default:
        metrics_parse_os_release(buf, len, os, sizeof os);
        if (strlen(os) >= sizeof os)
            __builtin_trap();
        break;
    }
    return 0;
}
