/* Detachable sessions: a program on a PTY or on pipes, owned by droverd, that clients attach
 * to, detach from and steal, like dtach and abduco but over an API.
 *
 * Each output stream (a PTY's output; a pipe session's stdout and stderr) is a ring of the
 * newest backlog_bytes bytes. An attachment is a position in that ring, not a queue: it pulls
 * what follows its position when its transport can take more (sess_attach_next), so a client
 * that never reads costs nothing but the ring, and one that falls more than a ring behind is
 * told how many bytes it missed. Input (a PTY's keyboard, a pipe's stdin) goes through one
 * bounded queue per session, written as the program reads it.
 *
 * The core knows no API: faces translate requests into these calls and attachments into
 * frames. Nothing here blocks the loop or logs above debug. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct proc_reaper;
struct proc_limits;
struct proc_res_usage;
struct sess_mgr;
struct session;
struct sess_attach;

enum sess_kind {
    SESS_PTY,  /* one terminal: output and input on the PTY master */
    SESS_PIPE, /* stdin, stdout and stderr pipes */
};

/* Streams, numbered as the tees name them. SESS_OUT is a PTY's output or a pipe's stdout. */
enum sess_stream {
    SESS_OUT = 0, /* PTY output, or stdout */
    SESS_ERR = 1, /* stderr (pipe sessions that do not merge it) */
    SESS_IN = 2,  /* input: what clients write (tees only) */
};

/* How a session ended; values as running-process's TerminationOutcome. */
enum sess_outcome {
    SESS_RUNNING = 0,     /* not exited yet */
    SESS_NATURAL = 1,     /* exited by itself, no terminate asked */
    SESS_SOFT_EXIT = 2,   /* exited within the grace period after a terminate */
    SESS_HARD_KILLED = 3, /* the grace period ran out: SIGKILLed */
};

/* Why an attachment ends. */
enum sess_end {
    SESS_END_NONE,       /* still streaming */
    SESS_END_EXIT,       /* the program exited (after the last bytes) */
    SESS_END_EOF,        /* the stream reached end of file (after the last bytes) */
    SESS_END_STOLEN,     /* another client attached with steal */
    SESS_END_DETACHED,   /* detached by request from elsewhere */
    SESS_END_TERMINATED, /* the session is being terminated by request */
    SESS_END_GONE,       /* droverd is shutting down */
};

struct sess_limits {
    size_t backlog_bytes;  /* ring per stream (rounded up to a power of two) */
    uint32_t max_sessions; /* sessions kept, exited ones included */
    size_t input_max;      /* bytes of input queued per session before writes are refused */
    uint32_t tee_queue;    /* a tee's default queue, in chunks */
    uint32_t stall_ms;     /* an attached client taking nothing this long stops holding the
                              program back (0: 1000) */
};

struct sess_spawn {
    enum sess_kind kind;              /* PTY or pipes */
    char *const *argv;                /* program and arguments (PATH lookup in envp's PATH) */
    const char *cwd;                  /* working directory, or NULL */
    char *const *envp;                /* the environment */
    uint16_t rows, cols;              /* PTY size; 0: 24x80 */
    bool merge_stderr;                /* pipe: stderr into the stdout stream */
    const char *originator;           /* tag for filtering */
    const char *slice;                /* a named slice its tree group goes in (proc_slice_limits) */
    const struct proc_limits *limits; /* cgroup limits of its tree, or NULL */
    bool hold;                        /* the descriptor holder keeps its terminal or pipes */
    uint32_t cpu_seconds;             /* RLIMIT_CPU (SIGXCPU, then SIGKILL a second later);
                                         0: none */
};

/* What a session looks like now; pointers valid until the session changes. */
struct sess_info {
    const char *id;            /* "pty-<ns>-<n>" or "pipe-<ns>-<n>" */
    enum sess_kind kind;       /* PTY or pipes */
    pid_t pid;                 /* the program */
    const char *command;       /* argv joined by spaces */
    const char *cwd;           /* as asked ("" for droverd's) */
    const char *originator;    /* as given */
    double created_at;         /* seconds since the epoch */
    bool exited;               /* the program was reaped */
    int exit_code;             /* its code, or -signal */
    double exited_at;          /* seconds since the epoch */
    enum sess_outcome outcome; /* how it ended */
    uint16_t rows, cols;       /* PTY size */
    bool merge_stderr;         /* pipe: stderr merged */
    bool stdin_closed;         /* pipe: stdin closed */
    bool attached[2];          /* an attachment on SESS_OUT / SESS_ERR */
    bool attached_is_tty;      /* what the PTY's attached client said of itself */
    const char *attached_term; /* its TERM, "" when none */
    const void *attached_caps; /* its opaque capability blob (the face's encoding) */
    size_t attached_caps_len;  /* bytes at attached_caps */
};

int sess_mgr_new(uv_loop_t *loop, struct proc_reaper *reaper, const struct sess_limits *lim,
                 struct sess_mgr **ret);
/* SIGKILLs every live session's tree and frees them all. Attachments must be closed first. */
void sess_mgr_free(struct sess_mgr *m);
/* SIGKILLs every live session's tree (droverd is stopping): their exits end the attachments.
 * Sessions with an owner (sess_set_owner) are left to it. */
void sess_mgr_kill_all(struct sess_mgr *m);
/* Changes are told on bus from now on (sess_publish's types, source "sessions", session_id the
 * session's id, data its pid and originator, and exit_code once exited); NULL stops. */
struct ev_bus;
void sess_mgr_set_bus(struct sess_mgr *m, struct ev_bus *bus);
/* Sessions kept (live and exited). */
size_t sess_mgr_count(const struct sess_mgr *m);

/* Starts a program. -ENOENT/-EACCES... when it cannot run, -EMFILE at max_sessions. */
int sess_spawn(struct sess_mgr *m, const struct sess_spawn *o, struct session **ret);
/* A PTY session around a program droverd did not start itself but is the parent of (an OCI
 * runtime's container init, left to droverd as subreaper, whose terminal came over a console
 * socket). The program is adopted by pid and start time, so its exit status is collected; the
 * master is taken (closed on error). -ESRCH when the program is gone, -EMFILE at max_sessions. */
struct sess_adopt {
    int master_fd;          /* the PTY master */
    pid_t pid;              /* the program */
    uint64_t starttime;     /* its /proc start time */
    const char *command;    /* for listings */
    const char *originator; /* tag for filtering */
    uint16_t rows, cols;    /* the window size set on the master */
    bool hold;              /* the descriptor holder keeps the master */
};
int sess_adopt(struct sess_mgr *m, const struct sess_adopt *o, struct session **ret);
struct session *sess_find(struct sess_mgr *m, const char *id);
/* Iterates in creation order: sess_next(m, NULL) is the oldest. */
struct session *sess_next(struct sess_mgr *m, struct session *prev);
void sess_info(const struct session *s, struct sess_info *ret);

/* An owner in the core (runners) hears of the program's exit, after every attachment was told;
 * the session is still listed then. ops NULL lets go. Owners are not handed over by an upgrade
 * in place: the new image's owner binds again by session id. */
struct sess_owner_ops {
    void (*on_exit)(struct session *s, int status, void *userdata); /* code, -signal or
                                                                       PROC_EXIT_UNKNOWN */
    /* Optional: bytes the program wrote (SESS_OUT, SESS_ERR) or a client queued for it (SESS_IN),
     * as they come; the owner must not change the session from here. */
    void (*on_data)(struct session *s, enum sess_stream st, const uint8_t *p, size_t n,
                    void *userdata);
};
void sess_set_owner(struct session *s, const struct sess_owner_ops *ops, void *userdata);
/* The program's /proc start time (0 once it exited). */
uint64_t sess_starttime(const struct session *s);
/* The processes of the program's tree (see proc_child_members); the caller frees *ret. -ESRCH
 * once exited. */
int sess_members(struct session *s, pid_t **ret, size_t *ret_n);
/* New cgroup limits for the program's tree (see proc_child_set_limits). -ESRCH once exited. */
int sess_set_limits(struct session *s, const struct proc_limits *l);
/* Its memory group's figures (see proc_child_usage); after the exit, the last ones read then. */
int sess_res_usage(struct session *s, struct proc_res_usage *ret);
/* Freezes or thaws the program's tree (see proc_child_freeze). -ESRCH once exited. */
int sess_freeze(struct session *s, bool frozen, bool *ret_freezer);

/* A write request: done runs once the bytes queued with it (and all before) reached the
 * program, or failed (-EPIPE when the program went or stdin closed). Owned by the caller;
 * cancel it if the caller leaves first. */
struct sess_write {
    struct sess_write *next;                   /* in the session's list */
    struct session *s;                         /* while queued */
    uint64_t target;                           /* done when this many bytes were written */
    void (*done)(struct sess_write *w, int r); /* 0 or -errno */
};
/* Queues bytes for the program's input (the PTY, or stdin); w may be NULL (no notification)
 * and data may be empty (w fires when everything queued so far is written). -ENOBUFS over
 * input_max, -EPIPE after stdin closed or exit. */
int sess_write(struct session *s, const void *data, size_t n, struct sess_write *w);
void sess_write_cancel(struct sess_write *w);
/* Bytes queued and not yet written. */
size_t sess_input_pending(const struct session *s);
/* Pipe sessions: closes stdin once the queued input is written. -EINVAL on a PTY. */
int sess_close_stdin(struct session *s);
/* PTY: new window size (0 keeps a dimension). -EINVAL on pipes, -ESRCH after exit. */
int sess_resize(struct session *s, uint16_t rows, uint16_t cols);
/* PTY: SIGINT to the terminal's foreground process group. */
int sess_interrupt(struct session *s);
/* SIGTERM to the session's tree, SIGKILL to what is left after grace_ms. Returns at once;
 * notify ends attachments with SESS_END_TERMINATED now. 0 also when already exited. */
int sess_terminate(struct session *s, uint32_t grace_ms, bool notify);
/* SIGKILL to the session's tree now (a terminate that will not wait). 0 also when exited. */
int sess_kill(struct session *s);
/* Ends the stream's attachment with SESS_END_DETACHED (nothing attached: nothing happens). */
void sess_detach(struct session *s, enum sess_stream st);
/* Drops an exited session from the list (attachments still draining keep it alive). */
void sess_purge(struct session *s);

/* The stream's backlog since the last attach (not consumed): a malloc'd copy in *ret (NULL if
 * empty) and the bytes dropped before anyone saw them, cumulative. */
int sess_backlog(struct session *s, enum sess_stream st, uint8_t **ret, size_t *ret_len,
                 uint64_t *ret_missed);

/* ---- attachments -------------------------------------------------------------------------- */

struct sess_attach_ops {
    /* Something to pull: bytes, a missed count, or the end. Pull with sess_attach_next until
     * the transport is full or nothing is left. May close the attachment. */
    void (*on_ready)(struct sess_attach *a, void *userdata);
};

/* One step of an attachment's stream. */
struct sess_pull {
    const uint8_t *data; /* bytes to send, valid until the session reads more */
    size_t len;          /* their count; consume them with sess_attach_consume */
    uint64_t missed;     /* > 0: bytes the client will never see (send a marker first) */
    enum sess_end end;   /* != NONE (with len 0): the terminal event; close after it */
    int exit_code;       /* with SESS_END_EXIT */
};

/* Attaches to a stream. The backlog (bytes since the previous attach, consumed now) comes back
 * as a malloc'd copy in *ret_backlog, with the cumulative missed count. -ESRCH once exited,
 * -EALREADY if attached and not steal (steal ends the other with SESS_END_STOLEN), -EINVAL for
 * a stream the session does not have (stderr when merged). */
int sess_attach(struct session *s, enum sess_stream st, bool steal,
                const struct sess_attach_ops *ops, void *userdata, struct sess_attach **ret,
                uint8_t **ret_backlog, size_t *ret_backlog_len, uint64_t *ret_missed);
/* Attaches from an absolute position of the stream instead of with the backlog: a client that
 * resumes where it left off (after an upgrade in place, say). The attachment pulls from from
 * on; a position the ring no longer holds comes out as a missed count first (as for a stalled
 * client). A session that exited meanwhile is attached too: the attachment gets the rest of
 * its output, then its end. -ERANGE for a position past the stream's end; otherwise as
 * sess_attach. */
int sess_attach_from(struct session *s, enum sess_stream st, bool steal, uint64_t from,
                     const struct sess_attach_ops *ops, void *userdata, struct sess_attach **ret);
/* The position of the next byte the attachment pulls: right after sess_attach, that just past
 * the backlog it returned. */
uint64_t sess_attach_pos(const struct sess_attach *a);
/* What the PTY's client says of itself, for listings. caps is copied. */
int sess_attach_describe(struct sess_attach *a, bool is_tty, const char *term, const void *caps,
                         size_t caps_len);
struct session *sess_attach_session(struct sess_attach *a);
/* The next step, at most max bytes. */
void sess_attach_next(struct sess_attach *a, size_t max, struct sess_pull *ret);
void sess_attach_consume(struct sess_attach *a, size_t n);
/* The client is done (it left, or got its terminal event). a is freed. */
void sess_attach_close(struct sess_attach *a);

/* ---- tees: copies of a stream into a file ------------------------------------------------- */

struct sess_tee_opts {
    enum sess_stream stream; /* which stream (SESS_IN: what clients write) */
    const char *path;        /* the file */
    bool truncate;           /* else append */
    uint32_t queue_chunks;   /* 0: the default */
    bool block;              /* a full queue stops reading the program instead of dropping */
    bool suppress_markers;   /* no "[... missed N bytes]" lines in the file */
};

struct sess_tee_status {
    enum sess_stream stream; /* as registered */
    uint64_t missed;         /* bytes dropped because the file fell behind */
    bool disconnected;       /* a write failed: the tee stopped */
};

/* Handles count from 1 per session. -EINVAL for a stream the session lacks, -errno from open. */
int sess_tee_add(struct session *s, const struct sess_tee_opts *o, uint64_t *ret_handle);
int sess_tee_remove(struct session *s, uint64_t handle);
int sess_tee_status(struct session *s, uint64_t handle, struct sess_tee_status *ret);

/* ---- the descriptor holder (hold.c) ------------------------------------------------------- */

/* A process (daemon/holder.c) keeps copies of the descriptors of sessions spawned with hold, so
 * that their programs keep their terminal when droverd dies, and the next droverd takes them
 * back. connect returns a connected SOCK_SEQPACKET socket to it (starting it first when asked
 * to) or -errno; the manager calls it when it first needs the holder. */
void sess_mgr_set_holder(struct sess_mgr *m, int (*connect)(bool start, void *userdata),
                         void *userdata);
/* Takes back what a holder that already runs keeps: sessions that are not here already (an
 * upgrade in place handed those over) are adopted, with an empty backlog (their program's
 * unread output is still in the terminal). Returns how many were adopted. */
int sess_hold_restore(struct sess_mgr *m);
/* A graceful stop: the holder lets go of everything and exits. */
void sess_mgr_hold_quit(struct sess_mgr *m);

/* What the holder keeps of a session besides its descriptors (handover.c builds it back). */
struct sess_held {
    enum sess_kind kind;
    bool merge_stderr;
    pid_t pid;
    uint64_t starttime;
    uint16_t rows, cols;
    double created_at;
    const char *cgroup, *command, *cwd, *originator;
};
struct sess_handover;
/* Adds a held session to *h (made when NULL); fds are its descriptors as the kind has them
 * ([0] the master or stdout, [1] stderr, [2] stdin; -1 when absent), taken. */
int sess_handover_add_held(struct sess_handover **h, const char *id, size_t backlog,
                           const struct sess_held *e, const int fds[3]);

/* ---- upgrade in place (handover.c) -------------------------------------------------------- */

struct sess_handover;

/* Ends every attachment with SESS_END_GONE: droverd is about to re-execute itself, and clients
 * attach again to the next image. */
void sess_mgr_detach_all(struct sess_mgr *m);
/* Writes every listed session to fd (state, output rings and positions, queued input, tees with
 * their queues, the program's pid, start time and group) and clears FD_CLOEXEC on the
 * descriptors the next image takes over, listed in *ret_fds (malloc'd; the next image closes
 * them if it cannot read the stream): call it last, right before exec. -errno when the write
 * fails. */
int sess_handover_save(struct sess_mgr *m, int fd, int **ret_fds, size_t *ret_n);
/* Reads what sess_handover_save wrote (in the next image, before the reaper's first pass: the
 * exit status of a program that ended meanwhile is peeked at now). -EBADMSG when anything does
 * not check out: nothing is kept then, and the descriptors read so far are closed. */
int sess_handover_load(const void *p, size_t len, struct sess_handover **ret);
/* Puts the sessions in m: their descriptors watched, their programs adopted (or ended with the
 * status seen, when they ended during the exec). Returns how many sessions came back. */
int sess_handover_restore(struct sess_mgr *m, struct sess_handover *h);
/* Frees what restore did not take, closing its descriptors. */
void sess_handover_free(struct sess_handover *h);
