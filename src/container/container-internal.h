/* What the files of src/container share: the manager, containers and images, tool commands
 * run on the loop, the OCI configuration and the rows. */
#pragma once

#include <jansson.h>

#include "base/list.h"
#include "container/container.h"
#include "proc/proc.h"

/* ---- commands (cmd.c): the runtime, skopeo and umoci, run without blocking the loop ---- */

struct ctr_cmd;
/* status: exit code, -signal; out: what it wrote on stdout and stderr (capped, terminated). */
typedef void (*ctr_cmd_fn)(int status, const char *out, void *userdata);
/* Runs argv with stdin on /dev/null and stdout and stderr into out_fd (>= 0), or captured for
 * done (-1). -errno when it cannot start. */
int ctr_cmd_run(struct ctr_mgr *m, char *const *argv, int out_fd, ctr_cmd_fn done, void *userdata,
                struct ctr_cmd **ret);
/* droverd's environment without NOTIFY_SOCKET, LISTEN_* and WATCHDOG_* (kept for the process's
 * life). */
char **ctr_tool_env(void);
/* done will not run; the program finishes unseen. */
void ctr_cmd_cancel(struct ctr_cmd *c);

/* ---- the runtime (runtime.c) ---- */

struct ctr_runtime {
    char name[16];   /* "crun", "runc"; "" when none can run here */
    char path[4096]; /* its program */
    char note[512];  /* why this one (or why none) */
    char root[4096]; /* its state directory (--root) */
};
/* Picks the runtime: want "auto"/NULL, a name or a path. */
void ctr_runtime_pick(const char *want, const char *state_dir, struct ctr_runtime *ret);
/* argv for one call: runtime --root R [--log F --log-format json] verb args... (a strv). */
char **ctr_runtime_argv(const struct ctr_runtime *rt, const char *log, const char *verb, ...);
/* The last error a runtime wrote to its --log file (JSON lines), or NULL (malloc'd). */
char *ctr_runtime_log_error(const char *path);

/* ---- images (image.c) ---- */

struct ctr_image {
    struct ctr_image *next;
    char *name, *id, *digest, *chain, *source; /* chain: the unpacked root's name */
    char **entrypoint, **cmd, **env, **labels;
    char *cwd, *user, *stop_signal, *architecture, *os;
    double imported_at;
    uint64_t size, unpacked_size;
    uint32_t layers;
    uint32_t users; /* containers made from it */
};
void ctr_image_free(struct ctr_image *img);
/* The unpacked root of an image (a path under the state directory; malloc'd). */
char *ctr_image_root(struct ctr_mgr *m, const struct ctr_image *img);
/* Cancels the imports waiting or running (the manager goes). */
void ctr_imports_free(struct ctr_mgr *m);
/* A stored image's configuration read from the OCI layout into img (name given). */
int ctr_image_load(struct ctr_mgr *m, const char *name, struct ctr_image *img, char *err,
                   size_t err_size);

/* ---- containers ---- */

struct container {
    struct ctr_mgr *m;
    struct container *next;
    char id[CTR_ID_LEN];
    struct ctr_spec spec; /* what it is made from (spec.name is its name) */
    char *image_id;       /* the image it was made from */
    char *lower;          /* its unpacked root: the overlay's lower layer */
    char *dir;            /* its directory: config.json, rootfs, upper, work, output.log */
    char *log_path;       /* dir/output.log */
    char *cgroup;         /* its cgroupsPath (relative) */
    enum ctr_state state;
    pid_t pid;               /* its init while it runs */
    uint64_t starttime;      /* the init's start time */
    struct proc_child *init; /* without a tty: the adopted init */
    struct session *sess;    /* with a tty: the session around it */
    char *session_id;
    struct ctr_cmd *cmd; /* the runtime call in flight */
    int console_fd;      /* listening console socket while creating, -1 */
    char *console_path;
    bool mounted; /* its overlay root is mounted */
    bool exited;  /* the init ended (state follows once the runtime let go) */
    bool exit_known;
    int exit_code;
    bool oom_killed;
    uint32_t restarts;
    double created_at, started_at, finished_at;
    char *error;                             /* why the last operation failed */
    bool want_start, want_remove, want_stop; /* what to do next, once nothing is in flight */
    bool force_kill;                         /* the stop timeout passed (or remove -f): SIGKILL */
    int stop_signal;                         /* the signal a stop sends */
    uint32_t stop_timeout_ms;
    uv_timer_t *timer;           /* the stop timeout */
    struct ctr_wait *waits_run;  /* for CREATED/RUNNING (create, start) */
    struct ctr_wait *waits_exit; /* for EXITED (stop, wait) */
    struct ctr_wait *waits_gone; /* for removal */
    bool gone;                   /* removed: freed once nothing refers to it */
};

struct ctr_mgr {
    uv_loop_t *loop;
    struct proc_reaper *reaper;
    struct sess_mgr *sessions;
    struct store *store;
    struct ctr_runtime rt;
    char *state_dir, *images_dir, *layout_dir, *roots_dir, *containers_dir, *volumes_dir;
    char *console_dir;
    struct container *containers; /* newest first */
    struct ctr_image *images;     /* by name */
    struct ctr_import *imports;   /* the running import first, then those waiting */
    struct fg *fg;                /* services' runs being let go of (run.c) */
    void (*watch)(struct container *c, void *userdata);
    void *watch_data;
    bool stopping;
    void (*shutdown_done)(void *userdata);
    void *shutdown_data;
    uint32_t shutdown_left;
    struct ctr_wait *shutdown_waits; /* one per container being stopped */
    size_t n_shutdown_waits;
};

/* Links w on a waiting list. */
void ctr_wait_push(struct ctr_wait **list, struct ctr_wait *w);
/* One thing droverd's stop waited for is done (mgr.c). */
void ctr_shutdown_step(struct ctr_mgr *m);
/* Marks the runs being let go of as waited for by the stop; how many (run.c). */
size_t ctr_foreground_hold(struct ctr_mgr *m);

/* Runs and unlinks every wait of a list. */
void ctr_wait_finish(struct ctr_wait **list, int r, const char *err);

/* The OCI configuration of c from its spec and image (spec.c): a JSON document. */
int ctr_oci_config(struct ctr_mgr *m, const struct container *c, const struct ctr_image *img,
                   const char *rootfs, json_t **ret, char *err, size_t err_size);
/* The default system call filter (containers-common's profile, converted to the OCI form for
 * this architecture and these capabilities: an array of "CAP_..."), or NULL where the host has
 * no profile (seccomp.c). */
json_t *ctr_seccomp_default(json_t *caps);

/* Rows (db.c): one JSON document per image and container. */
int ctr_db_put_container(struct ctr_mgr *m, const struct container *c);
int ctr_db_delete(struct ctr_mgr *m, const char *kind, const char *id);
int ctr_db_put_image(struct ctr_mgr *m, const struct ctr_image *img);
/* Calls fn for each row of kind with its document. */
int ctr_db_each(struct ctr_mgr *m, const char *kind,
                int (*fn)(struct ctr_mgr *m, json_t *doc, void *userdata), void *userdata);
json_t *ctr_spec_to_json(const struct ctr_spec *s);
int ctr_spec_from_json(json_t *j, struct ctr_spec *s);

/* The container's life (ctr.c) and what the manager calls of it. */
void ctr_changed(struct container *c); /* persist and tell the observer */
void ctr_advance(struct container *c); /* does what is wanted next */
void ctr_unref_free(struct container *c);
/* Adopts a container recorded live (mgr restore). */
void ctr_adopt(struct container *c);
/* Seconds since the epoch; a file in the container's directory (malloc'd); the runtime's
 * create of c (CREATING; ctr.c's on_created goes on from there). */
double ctr_now(void);
char *ctr_path(const struct container *c, const char *name);
int ctr_run_create(struct container *c, char *err, size_t err_size);
/* Its overlay root mounted on dir/rootfs (lower: c->lower), and unmounted. */
int ctr_mount_root(struct container *c, char *err, size_t err_size);
void ctr_unmount_root(struct container *c);
/* Finishes the services' cleanups in flight at once (the manager goes). */
void ctr_foreground_free(struct ctr_mgr *m);
/* Removes the layers of services' runs the runtime no longer knows (a droverd that died). */
void ctr_foreground_sweep(struct ctr_mgr *m);
/* Its timer and paths (dir, log, cgroup) from its id. */
int ctr_setup_paths(struct container *c);
struct container *ctr_find_name(struct ctr_mgr *m, const char *name);
/* rm -rf, not crossing mount points. */
int ctr_rm_rf(const char *dir);

/* strv helpers with JSON. */
json_t *ctr_strv_json(char *const *v);
char **ctr_json_strv(json_t *a);
