/* The process snapshot's cost: CPU time per metrics_procs sample (stat + statm of every process,
 * CPU % from deltas) against a bare scan that only opens and reads each /proc/PID/stat, both in
 * this process, interleaved round by round. Prints figures; never fails.
 *   metrics-bench [ROUNDS] [SAMPLES_PER_ROUND] */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics/metrics-internal.h"

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* What any /proc-based tool must do at least: every pid's stat, read once. */
static size_t bare_scan(void)
{
    char path[300], buf[1024];
    size_t n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        n += read(fd, buf, sizeof buf) > 0;
        close(fd);
    }
    if (d)
        closedir(d);
    return n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 7, per = argc > 2 ? atoi(argv[2]) : 50;
    struct metrics *m = metrics_new(NULL);
    const struct metrics_procs *p;
    double eng[64], bare[64];
    size_t procs = 0;

    if (rounds > 64)
        rounds = 64;
    metrics_procs(m, 0, &p);
    for (int r = 0; r < rounds; r++) {
        double t0 = cpu_s();
        for (int i = 0; i < per; i++)
            procs += bare_scan() * 0;
        double t1 = cpu_s();
        for (int i = 0; i < per; i++) {
            metrics_procs_sample(m); /* a new sample every time, whatever the cache holds */
            procs = m->procs.n;
        }
        double t2 = cpu_s();
        bare[r] = (t1 - t0) / per * 1e3;
        eng[r] = (t2 - t1) / per * 1e3;
    }
    printf("processes: %zu\n", procs);
    printf("%-34s %8s %8s %8s\n", "per snapshot (CPU ms)", "median", "min", "max");
    qsort(bare, (size_t)rounds, sizeof *bare, cmp);
    qsort(eng, (size_t)rounds, sizeof *eng, cmp);
    printf("%-34s %8.3f %8.3f %8.3f\n", "bare /proc/PID/stat scan", bare[rounds / 2], bare[0],
           bare[rounds - 1]);
    printf("%-34s %8.3f %8.3f %8.3f\n", "drover snapshot (stat+statm, CPU%)", eng[rounds / 2],
           eng[0], eng[rounds - 1]);
    printf("ratio drover / bare scan: %.2f\n", eng[rounds / 2] / bare[rounds / 2]);
    metrics_free(m);
    return 0;
}
