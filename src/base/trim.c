/* See trim.h. /proc/self/smaps says which mappings hold no written (anonymous) page: only
 * those are unmapped, so nothing but a page's mapping is lost. smaps is made as it is read, so
 * it is read whole before anything changes. */
#include "base/trim.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "base/macro.h"
#include "base/vec.h"

struct mapping {
    unsigned long lo, hi; /* the range */
    bool clean_file;      /* private, not writable, backed by a file */
    long anon_kb;         /* its written pages (-1: not said) */
    long rss_kb;          /* its mapped pages */
};

static bool worth(const struct mapping *m)
{
    return m->clean_file && m->anon_kb == 0 && m->rss_kb > 0;
}

size_t trim_mappings(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/smaps", "re");
    _cleanup_free_ struct mapping *all = NULL;
    size_t n = 0, cap = 0, freed = 0;
    char line[512];

    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, inode;
        char perms[8], dev[16];
        long v;
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &off, dev, &inode) == 6) {
            if (VEC_RESERVE(all, cap, n + 1) < 0)
                break;
            all[n++] = (struct mapping){lo, hi, inode && perms[1] != 'w' && perms[3] == 'p', -1, 0};
        } else if (n && sscanf(line, "Rss: %ld", &v) == 1) {
            all[n - 1].rss_kb = v;
        } else if (n && sscanf(line, "Anonymous: %ld", &v) == 1) {
            all[n - 1].anon_kb = v;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (worth(&all[i]) && madvise((void *)all[i].lo, all[i].hi - all[i].lo, MADV_DONTNEED) == 0)
            freed += (size_t)all[i].rss_kb << 10;
    (void)malloc_trim(0);
    return freed;
}
