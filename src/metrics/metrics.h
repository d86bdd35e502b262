/* The metrics engine: the machine and every process, measured when someone asks.
 *
 * Nothing here runs on a timer. Each kind of measurement (system, processes, disks, network,
 * temperatures) is taken when a face asks for it and kept: a later request that accepts data as
 * old as the sample reuses it, so any number of clients share one reading. An idle daemon reads
 * nothing and wakes up for nothing.
 *
 * Rates come from differences between two samples: CPU usage of the machine and of each
 * process is the share of the interval since the previous sample (the "window"). Where there is
 * no previous sample (the first request, a process born since), the average since boot or since
 * the process started stands in, so a busy process never reads 0 % just because it was seen once.
 *
 * The readers take their roots from metrics_new ("/proc" and "/sys" in the daemon, fixtures in
 * tests). Parsers are pure functions over a buffer, for tests and fuzzers. Returned snapshots are
 * owned by the engine and valid until the next request of the same kind. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the machine ------------------------------------------------------------------------- */

enum metrics_cpu_mode {
    METRICS_CPU_USER,
    METRICS_CPU_NICE,
    METRICS_CPU_SYSTEM,
    METRICS_CPU_IDLE,
    METRICS_CPU_IOWAIT,
    METRICS_CPU_IRQ,
    METRICS_CPU_SOFTIRQ,
    METRICS_CPU_STEAL,
    METRICS_CPU_MODES,
};

struct metrics_cpu {
    int32_t id;                         /* N of "cpuN"; -1 for the machine's total */
    uint64_t ticks[METRICS_CPU_MODES];  /* time in each mode since boot, USER_HZ ticks */
    double usage_pct;                   /* busy (not idle, not iowait) over the window, 0-100 */
    double mode_pct[METRICS_CPU_MODES]; /* each mode's share of the window, 0-100 */
};

struct metrics_mem {
    uint64_t total;       /* MemTotal, bytes */
    uint64_t free;        /* MemFree */
    uint64_t available;   /* MemAvailable (estimated from free + reclaimable on old kernels) */
    uint64_t buffers;     /* Buffers */
    uint64_t cached;      /* Cached */
    uint64_t shared;      /* Shmem */
    uint64_t reclaimable; /* SReclaimable */
    uint64_t swap_total;  /* SwapTotal */
    uint64_t swap_free;   /* SwapFree */
    uint64_t swap_cached; /* SwapCached */
    uint64_t used;        /* total - available, as free(1) and socktop count it */
    uint64_t swap_used;   /* swap_total - swap_free */
};

/* The fields of struct metrics_mem that /proc/meminfo gives, by its names for them (which
 * node_exporter's memory metrics carry too): the parser and the Prometheus page share them. */
struct metrics_mem_field {
    const char *name; /* "MemTotal" */
    size_t off;       /* offsetof its uint64_t in struct metrics_mem */
};
#define METRICS_MEM_FIELDS 10
extern const struct metrics_mem_field metrics_mem_fields[METRICS_MEM_FIELDS];

struct metrics_system {
    uint64_t real_ms;          /* wall clock when sampled, ms since the epoch */
    uint64_t mono_ms;          /* monotonic clock when sampled */
    uint64_t window_ms;        /* the span usage figures cover; 0: averages since boot */
    struct metrics_cpu cpu;    /* all CPUs together */
    struct metrics_cpu *cores; /* one per online CPU, by id */
    size_t n_cores;            /* their number */
    struct metrics_mem mem;    /* memory and swap */
    double load[3];            /* load averages over 1, 5 and 15 minutes */
    uint32_t runnable;         /* loadavg: scheduling entities runnable now */
    uint32_t entities;         /* loadavg: scheduling entities that exist */
    uint32_t procs_running;    /* /proc/stat procs_running */
    uint32_t procs_blocked;    /* /proc/stat procs_blocked */
    uint64_t ctxt;             /* context switches since boot */
    uint64_t intr;             /* interrupts since boot */
    uint64_t forks;            /* processes created since boot */
    uint64_t boot_time_s;      /* btime: boot, seconds since the epoch */
    double uptime_s;           /* seconds since boot */
};

/* ---- processes --------------------------------------------------------------------------- */

struct metrics_proc {
    pid_t pid;          /* process id */
    pid_t ppid;         /* parent */
    char comm[16];      /* the kernel's short name (truncated to 15 bytes as the kernel does) */
    char state;         /* stat's state letter */
    uint32_t threads;   /* threads */
    uint64_t starttime; /* start, ticks after boot: with pid, the process's identity */
    uint64_t utime;     /* CPU time in user mode, ticks */
    uint64_t stime;     /* CPU time in kernel mode, ticks */
    uint64_t vsize;     /* virtual memory, bytes */
    uint64_t rss;       /* resident memory, bytes */
    uint64_t shared;    /* resident file-backed and shared memory, bytes */
    float cpu_pct;      /* CPU over the window as a share of one core (100 = one core busy) */
};

struct metrics_procs {
    uint64_t real_ms;       /* wall clock when sampled */
    uint64_t mono_ms;       /* monotonic clock when sampled */
    uint64_t window_ms;     /* span of the usage figures; 0: each process's lifetime average */
    uint32_t n_cpus;        /* online CPUs: cpu_pct / n_cpus is the share of the machine */
    struct metrics_proc *v; /* sorted by pid; kernel threads included */
    size_t n;               /* entries */
};

/* A process's memory as /proc/PID/status breaks it down, bytes. */
struct metrics_proc_mem {
    uint64_t rss, vms, swap, shared, data, stack;
};

/* A set of processes (a service's tree) added up. */
struct metrics_tree {
    uint32_t processes;          /* live members */
    uint32_t threads;            /* their threads */
    uint64_t user_ns;            /* CPU time in user mode */
    uint64_t system_ns;          /* CPU time in kernel mode */
    double cpu_pct;              /* CPU over the window, share of one core (can exceed 100) */
    struct metrics_proc_mem mem; /* memory */
    uint32_t fds;                /* open file descriptors (those we may look at) */
    uint64_t read_bytes;         /* bytes read through read-like calls (rchar) */
    uint64_t write_bytes;        /* bytes written through write-like calls (wchar) */
};

/* ---- disks, network, temperatures, host ------------------------------------------------- */

struct metrics_fs {
    char *device;        /* what is mounted */
    char *mountpoint;    /* where */
    char *fstype;        /* file system type */
    bool readonly;       /* mounted read-only */
    uint64_t size;       /* bytes */
    uint64_t free;       /* bytes free, the root-reserved part included */
    uint64_t avail;      /* bytes free to unprivileged users */
    uint64_t files;      /* inodes */
    uint64_t files_free; /* free inodes */
};

struct metrics_diskio {
    char name[32];          /* sda, nvme0n1, dm-0 ... */
    uint64_t reads;         /* reads completed */
    uint64_t reads_merged;  /* reads merged */
    uint64_t read_bytes;    /* bytes read (sectors of 512) */
    uint64_t read_ms;       /* time spent reading */
    uint64_t writes;        /* writes completed */
    uint64_t writes_merged; /* writes merged */
    uint64_t written_bytes; /* bytes written */
    uint64_t write_ms;      /* time spent writing */
    uint64_t in_progress;   /* I/Os in flight now */
    uint64_t io_ms;         /* time spent doing I/O */
    uint64_t weighted_ms;   /* weighted time spent doing I/O */
};

struct metrics_disks {
    uint64_t mono_ms;          /* when sampled */
    struct metrics_fs *fs;     /* mounted file systems with storage, one per device */
    size_t n_fs;               /* their number */
    struct metrics_diskio *io; /* block devices (not partitions' parents only: all of diskstats) */
    size_t n_io;               /* their number */
};

struct metrics_netif {
    char name[32];                                   /* interface */
    uint64_t rx_bytes, rx_packets, rx_errs, rx_drop; /* received, cumulative */
    uint64_t tx_bytes, tx_packets, tx_errs, tx_drop; /* sent, cumulative */
};

/* The counters of struct metrics_netif by /proc/net/dev's names for them ("receive_bytes": the
 * bytes column under Receive), which node_exporter's network metrics carry too: the parser and
 * the Prometheus page share them. */
struct metrics_netif_field {
    const char *name; /* "receive_bytes" */
    unsigned column;  /* its column in /proc/net/dev, 0 the first after the interface's name */
    size_t off;       /* offsetof its uint64_t in struct metrics_netif */
};
#define METRICS_NETIF_FIELDS 8
extern const struct metrics_netif_field metrics_netif_fields[METRICS_NETIF_FIELDS];

struct metrics_net {
    uint64_t mono_ms;        /* when sampled */
    struct metrics_netif *v; /* interfaces in /proc/net/dev order */
    size_t n;                /* their number */
};

struct metrics_temp {
    char chip[32];  /* hwmon "name" */
    char label[48]; /* tempN_label, else "tempN" */
    double celsius; /* tempN_input */
    double crit;    /* tempN_crit, or 0 when absent */
};

struct metrics_temps {
    uint64_t mono_ms;       /* when sampled */
    struct metrics_temp *v; /* every sensor with a reading */
    size_t n;               /* their number */
    int cpu;                /* index of the CPU's sensor (package, tctl, tdie, cpu), or -1 */
};

struct metrics_gpu {
    char name[96];      /* NVML's name */
    uint32_t util_pct;  /* busy, 0-100 */
    uint64_t mem_used;  /* bytes */
    uint64_t mem_total; /* bytes */
    double temp_c;      /* core temperature, or -1 when unknown */
};

struct metrics_gpus {
    uint64_t mono_ms;      /* when sampled */
    struct metrics_gpu *v; /* every GPU NVML sees */
    size_t n;              /* their number */
};

struct metrics_label {
    char *key, *value;
};

struct metrics_host {
    char hostname[256]; /* gethostname */
    char os[16];        /* "linux", as Go's GOOS names it (superviz speaks Go) */
    char arch[16];      /* GOARCH names: amd64, arm64, 386, arm, riscv64 ... */
    char kernel[65];    /* uname release */
    char os_name[128];  /* PRETTY_NAME of os-release, or "" */
    uint32_t n_cpus;    /* online CPUs */
    /* Kubernetes, from the downward API: environment and <podinfo>/labels. */
    bool in_kubernetes;                         /* POD_NAME is set or KUBERNETES_SERVICE_HOST is */
    char *pod_name, *pod_namespace, *node_name; /* NULL when unknown */
    struct metrics_label *labels;               /* pod labels */
    size_t n_labels;                            /* their number */
};

/* ---- the engine -------------------------------------------------------------------------- */

struct metrics;

struct metrics_roots {
    const char *proc;    /* "/proc" */
    const char *sys;     /* "/sys" */
    const char *etc;     /* "/etc": os-release */
    const char *podinfo; /* Kubernetes downward-API volume: "/etc/podinfo" (its labels file) */
};

/* NULL roots mean the real ones. */
struct metrics *metrics_new(const struct metrics_roots *roots);
void metrics_free(struct metrics *m);
struct uv_loop_s;
/* With a loop, the files a process sample keeps open are closed after release_ms without
 * another process sample (one timer firing once; nothing when idle). Without, they stay until
 * the engine is freed. */
int metrics_attach_loop(struct metrics *m, struct uv_loop_s *loop, uint32_t release_ms);

/* Each returns 0 and a snapshot no older than max_age_ms (taking a new one if needed), or
 * -errno when the source could not be read. */
int metrics_system(struct metrics *m, uint32_t max_age_ms, const struct metrics_system **ret);
int metrics_procs(struct metrics *m, uint32_t max_age_ms, const struct metrics_procs **ret);
int metrics_disks(struct metrics *m, uint32_t max_age_ms, const struct metrics_disks **ret);
int metrics_net(struct metrics *m, uint32_t max_age_ms, const struct metrics_net **ret);
int metrics_temps(struct metrics *m, uint32_t max_age_ms, const struct metrics_temps **ret);
/* NVIDIA GPUs through NVML, loaded at run time; -ENODEV (for good) when there is none. */
int metrics_gpus(struct metrics *m, uint32_t max_age_ms, const struct metrics_gpus **ret);
/* The disk a block device (a partition) belongs to: "nvme0n1" for "nvme0n1p2", from sysfs.
 * -ENOENT for a device that is not a partition. */
int metrics_block_parent(struct metrics *m, const char *dev, char *out, size_t size);
/* Host and Kubernetes facts; the hostname is read again on every call. */
const struct metrics_host *metrics_host(struct metrics *m);

/* A process of the latest process snapshot, or NULL. */
const struct metrics_proc *metrics_proc_find(const struct metrics_procs *p, pid_t pid);
/* One process's memory breakdown (status). */
int metrics_proc_mem(struct metrics *m, pid_t pid, struct metrics_proc_mem *ret);
/* Adds up pids (a service's tree): CPU times, memory, descriptors and I/O read now. With
 * usage, cpu_pct comes from the process snapshot (taken if older than max_age_ms); without, it
 * is 0 and no snapshot is taken (counters alone are cheap). Processes that vanished are left
 * out. */
int metrics_tree(struct metrics *m, const pid_t *pids, size_t n, bool usage, uint32_t max_age_ms,
                 struct metrics_tree *ret);

/* How many samples of each kind were taken (tests check that caches are shared and that an idle
 * engine reads nothing). */
struct metrics_counters {
    uint64_t system, procs, disks, net, temps;
};
void metrics_get_counters(const struct metrics *m, struct metrics_counters *ret);

/* ---- parsers (parse.c): pure, for tests and fuzzers ---------------------------------------- */

/* /proc/stat: the total and per-CPU lines and the counters. ret->cores is allocated (freed by the
 * caller) and ret->cpu.usage_pct is left 0. */
int metrics_parse_stat(const char *buf, size_t len, struct metrics_system *ret);
int metrics_parse_meminfo(const char *buf, size_t len, struct metrics_mem *ret);
int metrics_parse_loadavg(const char *buf, size_t len, struct metrics_system *ret);
int metrics_parse_uptime(const char *buf, size_t len, double *ret);
/* /proc/net/dev; *ret allocated. */
int metrics_parse_netdev(const char *buf, size_t len, struct metrics_netif **ret, size_t *ret_n);
/* /proc/diskstats; *ret allocated. */
int metrics_parse_diskstats(const char *buf, size_t len, struct metrics_diskio **ret,
                            size_t *ret_n);
/* /proc/self/mounts: the file systems worth measuring (pseudo and network ones left out, one
 * entry per device); sizes are left 0. *ret allocated, free with metrics_fs_free. */
int metrics_parse_mounts(const char *buf, size_t len, struct metrics_fs **ret, size_t *ret_n);
void metrics_fs_free(struct metrics_fs *v, size_t n);
/* Downward-API labels file: key="value" lines with Go-style escapes. */
int metrics_parse_labels(const char *buf, size_t len, struct metrics_label **ret, size_t *ret_n);
void metrics_labels_free(struct metrics_label *v, size_t n);
/* os-release: PRETTY_NAME (unquoted) into out, "" if absent. */
void metrics_parse_os_release(const char *buf, size_t len, char *out, size_t out_size);
