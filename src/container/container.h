/* Containers: programs run from OCI images by an OCI runtime (crun or runc), with droverd as
 * their monitor, the part podman's conmon plays. droverd is a child subreaper, so the
 * container's init, left behind by `runtime create`, is droverd's own child: droverd reaps it
 * with its exit status, owns its stdio (a log file, or the PTY master the runtime sends over a
 * console socket, which becomes a drover session), reads its cgroup, and stops it.
 *
 * Images come from OCI layouts and archives (skopeo copies them into one OCI layout droverd
 * owns; umoci unpacks each once). A container's root is an overlay: the image's unpacked root,
 * shared and never written, under a writable layer of its own.
 *
 * The manager keeps images and containers with their rows in the database; a droverd that
 * starts again (after a crash or an upgrade in place) adopts the containers that still run.
 * It knows no API. Errors are -errno with a sentence in the caller's err buffer:
 *   -EINVAL     a bad value            -ENOENT   no such image or container
 *   -EEXIST     a name taken           -EBUSY    a running container (remove without force),
 *                                                an image containers use
 *   -EOPNOTSUPP no OCI runtime can run here (the sentence says why)
 *   -ENOEXEC    the runtime or a tool failed (its own words follow)
 *   -EALREADY   started or stopped already
 *   -ESHUTDOWN  droverd is stopping */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct proc_reaper;
struct sess_mgr;
struct session;
struct store;
struct ctr_mgr;
struct container;
struct ctr_image;

#define CTR_ERR_MAX 512 /* err buffers */
#define CTR_ID_LEN  13  /* 12 hex digits and the terminator */

enum ctr_mount_type {
    CTR_MOUNT_BIND = 0,   /* a host path */
    CTR_MOUNT_VOLUME = 1, /* a named volume: a directory droverd keeps under its state */
    CTR_MOUNT_TMPFS = 2,  /* memory; source unused */
};

struct ctr_mount {
    enum ctr_mount_type type;
    char *source;      /* host path or volume name */
    char *destination; /* absolute path inside */
    bool read_only;
};

struct ctr_resources {
    uint64_t memory;      /* bytes; 0: none */
    uint64_t memory_swap; /* memory + swap, bytes (the OCI meaning); 0: as much as memory */
    uint64_t cpu_quota_us, cpu_period_us; /* CFS bandwidth; 0: none (period 0: 100 ms) */
    uint64_t cpu_shares;                  /* relative weight; 0: the default */
    uint32_t pids;                        /* processes and threads; 0: none */
};

/* What a container is made from. Strings and vectors are owned (ctr_spec_done). */
struct ctr_spec {
    char *name;            /* unique; NULL: the id */
    char *image;           /* image name[:tag] or id (prefix) */
    char **entrypoint;     /* NULL: the image's */
    char **command;        /* NULL: the image's Cmd (none when an entrypoint is given) */
    char **env;            /* "NAME=value", over the image's */
    char *cwd;             /* NULL: the image's, else "/" */
    char *user;            /* "uid[:gid]" or a name in the image's /etc/passwd; NULL: image's */
    char *hostname;        /* NULL: the name */
    bool tty;              /* a PTY: the container is a drover session */
    uint16_t rows, cols;   /* its first window size (0: 24x80) */
    bool read_only;        /* read-only root (with a tmpfs on /tmp unless a mount is there) */
    struct ctr_mount *mounts;
    size_t n_mounts;
    struct ctr_resources res;
    char **cap_add;        /* capability names ("CAP_NET_RAW" or "net_raw"); "ALL" */
    char **cap_drop;       /* from the default set; "ALL" drops every one */
    bool new_privileges;   /* allow setuid programs to gain privileges (default: no) */
    bool host_network;     /* the host's network; default: a namespace with only lo */
    bool no_seccomp;       /* no system call filter even where a default profile exists */
    char **labels;         /* a map: "k1","v1",...,NULL */
    int stop_signal;       /* 0: the image's StopSignal, else SIGTERM */
    uint32_t stop_timeout_ms; /* before SIGKILL; 0: 10 s */
    bool auto_remove;      /* removed once it exits */
};
void ctr_spec_done(struct ctr_spec *s);
/* Deep copy; -ENOMEM. */
int ctr_spec_copy(struct ctr_spec *dst, const struct ctr_spec *src);

enum ctr_state {
    CTR_CREATING = 1, /* the runtime is creating it */
    CTR_CREATED = 2,  /* created, its program not started */
    CTR_STARTING = 3, /* the runtime is starting it */
    CTR_RUNNING = 4,
    CTR_STOPPING = 5, /* its stop signal was sent; SIGKILL after the timeout */
    CTR_EXITED = 6,   /* its program ended; the runtime has let go of it */
    CTR_REMOVING = 7, /* being removed */
};
const char *ctr_state_name(enum ctr_state s);
/* Signal numbers from names ("SIGTERM", "TERM", "15"); 0 when unknown. */
int ctr_signal_parse(const char *name);

struct ctr_info {
    const char *id, *name;
    const char *image, *image_id; /* as asked, and the image's id (sha256:...) */
    enum ctr_state state;
    pid_t pid;                    /* its init, while it runs */
    bool exit_known;              /* false: it ended while no droverd was its parent */
    int exit_code;                /* exit code, or -signal */
    bool oom_killed;              /* the OOM killer took a process of its group */
    double created_at, started_at, finished_at; /* seconds since the epoch; 0: not yet */
    uint32_t restarts;            /* times started again after exiting */
    const char *session_id;       /* with a tty: its session, else "" */
    const char *error;            /* why the last operation failed, or "" */
    const char *log_path;         /* its output */
    const char *runtime;          /* the runtime that runs it */
    const struct ctr_spec *spec;
};

struct ctr_stats {
    struct {
        bool has_memory, has_cpu, has_pids;
        uint64_t memory_current, memory_peak, memory_max, oom_kills;
        uint64_t cpu_usage_ns;
        uint64_t pids_current, pids_max;
    } g;                   /* what its cgroup says (zero once it exited) */
    uint64_t rss_bytes;    /* its processes' resident memory, summed */
    uint32_t processes;    /* its processes */
};

struct ctr_image_info {
    const char *name;       /* "busybox:latest" */
    const char *id;         /* "sha256:..." of the image's configuration */
    const char *digest;     /* the manifest's */
    const char *source;     /* what it was imported from */
    double imported_at;
    uint64_t size;          /* its layers, as stored (compressed) */
    uint64_t unpacked_size; /* its unpacked root */
    uint32_t layers;
    char *const *entrypoint, *const *cmd, *const *env, *const *labels; /* labels: a map */
    const char *cwd, *user, *stop_signal, *architecture, *os;
    uint32_t containers;    /* containers made from it */
};

/* An operation that ends later. The caller owns it (often inside its own call struct), sets
 * done, and cancels it if it leaves first; done runs once, from the loop, with 0 or -errno and
 * the sentence (NULL when none). */
struct ctr_wait {
    void (*done)(struct ctr_wait *w, int r, const char *err);
    void *userdata;
    struct ctr_wait **prev_next; /* linked on a waiting list while pending (NULL otherwise) */
    struct ctr_wait *next;
};
void ctr_wait_cancel(struct ctr_wait *w);

struct ctr_config {
    const char *state_dir;   /* images/, containers/, volumes/, runtime/ go under it */
    const char *runtime;     /* "auto" (NULL), "crun", "runc", or a path */
    const char *console_dir; /* short directory for console sockets (sun_path is 108 bytes) */
};

int ctr_mgr_new(uv_loop_t *loop, struct proc_reaper *reaper, struct sess_mgr *sessions,
                struct store *store, const struct ctr_config *cfg, struct ctr_mgr **ret,
                char *err, size_t err_size);
/* Loads images and containers; containers recorded live are adopted when they still run (by
 * pid and start time; with a tty, bound to their session if the holder kept it), else cleaned
 * up as exited with their status unknown. Call after the held sessions were taken back. */
int ctr_mgr_restore(struct ctr_mgr *m);
/* droverd stops: every live container is stopped (its signal, its timeout, SIGKILL), then done
 * runs once. */
void ctr_mgr_shutdown(struct ctr_mgr *m, void (*done)(void *userdata), void *userdata);
/* Frees the manager; containers still running are left running (a next droverd adopts them). */
void ctr_mgr_free(struct ctr_mgr *m);

/* The runtime in use ("runc", "crun"; NULL: none), its path, and a sentence on the choice. */
const char *ctr_mgr_runtime(const struct ctr_mgr *m, const char **ret_path, const char **ret_note);
size_t ctr_mgr_count(const struct ctr_mgr *m, size_t *ret_running);

/* ---- containers ---- */

/* Creates a container from spec (copied), and starts it with start. *ret is the container at
 * once (CREATING); w's done runs once it is CREATED (RUNNING with start) or failed (the
 * container is gone then). */
int ctr_create(struct ctr_mgr *m, const struct ctr_spec *spec, bool start, struct ctr_wait *w,
               struct container **ret, char *err, size_t err_size);
/* Starts a CREATED or EXITED container (an exited one is created anew over its own layer);
 * w's done runs once it runs. -EALREADY when it runs. */
int ctr_start(struct container *c, struct ctr_wait *w, char *err, size_t err_size);
/* Sends signal (0: its stop signal), SIGKILL after timeout_ms (UINT32_MAX: its own timeout);
 * w's done runs once it exited and the runtime let go. Stopping a stopped one is done at once. */
int ctr_stop(struct container *c, int signal, uint32_t timeout_ms, struct ctr_wait *w, char *err,
             size_t err_size);
/* Removes it and its files; a live one only with force (SIGKILL first). w's done runs once it
 * is gone. */
int ctr_remove(struct container *c, bool force, struct ctr_wait *w, char *err, size_t err_size);
/* By id, id prefix (unique, 3 or more digits) or name. */
struct container *ctr_find(struct ctr_mgr *m, const char *ref);
struct container *ctr_next(struct ctr_mgr *m, struct container *prev);
void ctr_info(const struct container *c, struct ctr_info *ret);
const char *ctr_id(const struct container *c);
int ctr_get_stats(struct container *c, struct ctr_stats *ret);
/* The processes of a live container (its cgroup's); the caller frees *ret. -ESRCH once it
 * exited. */
int ctr_members(struct container *c, pid_t **ret, size_t *ret_n);
/* Its session (a tty container while it runs), or NULL. */
struct session *ctr_session(struct container *c);
/* Runs argv inside a running container as a session (a PTY with tty, else pipes): the
 * runtime's exec, in the container's namespaces and cgroup. */
int ctr_exec(struct container *c, char *const *argv, char *const *env, bool tty, uint16_t rows,
             uint16_t cols, struct session **ret, char *err, size_t err_size);
/* Waits for the container to exit (done at once if it has). */
void ctr_wait_exit(struct container *c, struct ctr_wait *w);

/* Hears of every container's state changes (one observer; NULL stops). */
void ctr_mgr_watch(struct ctr_mgr *m, void (*fn)(struct container *c, void *userdata),
                   void *userdata);

/* ---- services in containers (run.c) ---- */

/* Builds a run of a service's container under key (a fresh writable layer over the image, its
 * configuration) and gives the command that runs it in the foreground: the runtime's `run`,
 * which passes signals on to the container's init and ends with its status. -EAGAIN while the
 * previous run of key is still being let go of. */
int ctr_foreground_prepare(struct ctr_mgr *m, const char *key, const struct ctr_spec *spec,
                           char ***ret_argv, char *err, size_t err_size);
/* That command ended: the runtime lets go of the container, its layer goes. */
void ctr_foreground_release(struct ctr_mgr *m, const char *key);

/* ---- images ---- */

/* Imports src: an OCI layout directory ("DIR" or "DIR:REF"), an oci-archive or docker-archive
 * tar file, or any of these with skopeo's transport prefix. name ("name[:tag]", NULL: the
 * source's own name) is what it is called here; an image of that name is replaced. w's done
 * runs once it is stored and unpacked; *ret_name (malloc'd) is its name. */
int ctr_image_import(struct ctr_mgr *m, const char *src, const char *name, struct ctr_wait *w,
                     char **ret_name, char *err, size_t err_size);
/* By name ("busybox" means "busybox:latest") or id (prefix of 3 or more hex digits). */
struct ctr_image *ctr_image_find(struct ctr_mgr *m, const char *ref);
struct ctr_image *ctr_image_next(struct ctr_mgr *m, struct ctr_image *prev);
void ctr_image_info(const struct ctr_image *img, struct ctr_image_info *ret);
/* Forgets the name; the blobs and the unpacked root go once nothing uses them. -EBUSY when
 * containers use it, unless force. */
int ctr_image_remove(struct ctr_mgr *m, struct ctr_image *img, bool force, char *err,
                     size_t err_size);
/* Removes unpacked roots and blobs no image or container uses; returns the bytes freed. */
int64_t ctr_image_prune(struct ctr_mgr *m);
