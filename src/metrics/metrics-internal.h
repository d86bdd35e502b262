/* What the files of src/metrics share: the engine struct and the file reader. */
#pragma once

#include <uv.h>

#include "metrics/metrics.h"

/* What the engine keeps beside the latest sample of each kind. */
struct metrics_cache {
    bool have;      /* a sample was taken */
    uint64_t taken; /* how many were (metrics_get_counters) */
};

struct metrics {
    char *proc_root;   /* "/proc" or a fixture; the block that holds the three roots below too */
    char *sys_root;    /* "/sys" or a fixture */
    char *etc_root;    /* "/etc" or a fixture */
    char *podinfo_dir; /* downward-API volume */
    int proc_fd;       /* the proc root, opened once (O_PATH) for openat */
    char *buf;         /* scratch for whole files, grown as needed */
    size_t buf_cap;    /* its size */
    unsigned hz;       /* USER_HZ */
    uint64_t page;     /* page size */

    struct metrics_system sys;      /* the latest system sample */
    struct metrics_cache sys_cache; /* its bookkeeping */
    struct metrics_system sys_base; /* the one before: CPU baseline when sys is too recent */
    bool have_sys_base;             /* sys_base holds one */

    struct metrics_fd *fds;     /* open stat/statm files of processes seen, by pid */
    size_t n_fds;               /* their number */
    size_t fd_budget;           /* processes whose files may stay open, plus one (0: unknown) */
    uv_timer_t *release;        /* closes the kept files after a quiet spell, or NULL */
    uint32_t release_ms;        /* the spell */
    struct metrics_procs procs; /* the latest process sample */
    struct metrics_proc *prev;  /* the one before, for CPU deltas (sorted by pid) */
    size_t n_prev;              /* its entries */
    uint64_t prev_mono_ms;      /* when it was taken */
    struct metrics_cache procs_cache; /* procs' bookkeeping */

    struct metrics_disks disks;       /* the latest disk sample */
    struct metrics_cache disks_cache; /* its bookkeeping */
    struct metrics_net net;           /* the latest network sample */
    struct metrics_cache net_cache;   /* its bookkeeping */
    struct metrics_temps temps;       /* the latest temperature sample */
    struct metrics_cache temps_cache; /* its bookkeeping */
    struct metrics_gpus gpus;         /* the latest GPU sample */
    struct metrics_cache gpus_cache;  /* its bookkeeping */
    int gpu_state;                    /* 0: not probed, 1: NVML works, -1: none */
    struct metrics_host host;         /* host facts */
    bool have_host;                   /* host is filled (all but the hostname, re-read each time) */
};

/* Reads dir/path (dir: a root fd, or AT_FDCWD with an absolute path) whole into m->buf, up to
 * 4 MiB. Returns the length, -ESRCH for a missing file, or -errno. */
ssize_t metrics_read(struct metrics *m, int dir, const char *path);
/* The same for a path relative to the proc root ("stat", "123/status"). */
ssize_t metrics_read_proc(struct metrics *m, const char *path);
/* The proc root's descriptor (opened on first use), or -errno. */
int metrics_proc_fd(struct metrics *m);

/* Takes a new sample with sample() unless the latest of its kind (c, taken at at_ms) is no older
 * than max_age_ms, and counts it: the TTL rule every kind of measurement follows. sample()
 * replaces the latest sample only when it succeeds. */
int metrics_refresh(struct metrics *m, struct metrics_cache *c, uint64_t at_ms, uint32_t max_age_ms,
                    int (*sample)(struct metrics *m));
/* Defines the public getter `name` (see metrics.h) of the kind of sample kept in m->field, with
 * its bookkeeping in m->field_cache: metrics_refresh with sample, then the latest sample. */
#define METRICS_GETTER(name, type, field, sample)                                                  \
    int name(struct metrics *m, uint32_t max_age_ms, const type **ret)                             \
    {                                                                                              \
        int r = metrics_refresh(m, &m->field##_cache, m->field.mono_ms, max_age_ms, sample);       \
        if (r >= 0)                                                                                \
            *ret = &m->field;                                                                      \
        return r;                                                                                  \
    }

/* Usage figures over windows shorter than this keep the older baseline: clock ticks are 10 ms,
 * and a window of a few ticks makes usage jump between 0 and 100 %. */
#define METRICS_MIN_WINDOW_MS 100

/* A process's procfs files, kept open between passes: pread at offset 0 renders them again,
 * which costs half of opening and closing them each time. */
struct metrics_fd {
    pid_t pid; /* whose */
    int stat;  /* <pid>/stat */
    int statm; /* <pid>/statm, or -1 (a kernel thread has no memory to read) */
};

/* procs.c */
/* Closes every kept file. */
void metrics_procs_release(struct metrics *m);
/* (Re)starts the quiet-spell timer after a process sample. */
void metrics_arm_release(struct metrics *m);
int metrics_procs_sample(struct metrics *m);
void metrics_procs_done(struct metrics *m);
