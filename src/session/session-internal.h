/* Shared by session.c, attach.c, tee.c and handover.c: the structures behind struct session. */
#pragma once

#include "base/buf.h"
#include "base/list.h"
#include "base/ring.h"
#include "proc/proc.h"
#include "session/session.h"

struct proc_child;
struct tee;

/* A file descriptor droverd polls for a session. */
struct sess_fd {
    uv_poll_t poll;    /* readable (output) and, for the input fd, writable */
    int fd;            /* -1 once closed */
    int events;        /* events polled now */
    struct session *s; /* owner */
    bool handle_open;  /* poll was initialized and not yet closed */
};

/* An output stream. */
struct sess_out {
    struct ring ring;        /* the newest bytes */
    uint64_t mark;           /* the next attach's backlog starts here */
    uint64_t missed;         /* bytes dropped from the ring before an attach took them */
    struct sess_fd *src;     /* where it is read from (NULL: no such stream) */
    bool eof;                /* the source reached end of file */
    struct sess_attach *att; /* the one attachment, or NULL */
    struct tee *tees;        /* copies into files */
};

struct session {
    struct sess_mgr *m;               /* owner */
    DLIST_LINK(session) link;         /* in m's list, creation order */
    unsigned refs;                    /* the list, attachments, handles being closed */
    bool listed;                      /* in m's list (not purged) */
    char id[40];                      /* "pty-..." / "pipe-..." */
    enum sess_kind kind;              /* PTY or pipes */
    char *command;                    /* argv joined */
    char *cwd;                        /* as asked */
    char *originator;                 /* as given */
    pid_t pid;                        /* the program */
    struct proc_child *child;         /* while it runs */
    double created_at, exited_at;     /* epoch seconds */
    bool exited;                      /* reaped */
    int exit_code;                    /* code or -signal */
    bool terminating, hard_killed;    /* a terminate is under way; its grace ran out */
    uv_timer_t grace;                 /* the terminate's grace period */
    bool grace_open;                  /* grace was initialized and not closed */
    uv_timer_t stall;                 /* how long a client may take nothing before it is overrun */
    bool stall_open;                  /* stall was initialized and not closed */
    bool stall_confirm;               /* stall fired once; confirming after one I/O poll */
    uint16_t rows, cols;              /* PTY size */
    bool merge_stderr;                /* pipe: stderr into stdout */
    struct sess_fd fds[3];            /* PTY: [0] master; pipe: [0] stdout, [1] stderr, [2] stdin */
    struct sess_out out[2];           /* SESS_OUT, SESS_ERR */
    struct sess_fd *in;               /* where input goes: the master or stdin */
    struct buf input;                 /* queued input */
    uint64_t in_queued, in_written;   /* input bytes queued and written, ever */
    struct sess_write *writes;        /* waiting for their bytes to be written, in order */
    bool stdin_closing, stdin_closed; /* close stdin once input drains; done */
    struct tee *in_tees;              /* copies of the input */
    uint64_t next_tee;                /* the next tee handle */
    bool attached_is_tty;             /* the PTY client's self-description */
    char *attached_term;              /* its TERM */
    void *attached_caps;              /* its capability blob */
    size_t attached_caps_len;         /* bytes */
    const struct sess_owner_ops *owner; /* a core module that hears of the exit */
    bool has_res;                       /* the tree has a memory group (limits) */
    bool held;                          /* the descriptor holder keeps copies of its descriptors */
    struct proc_res_usage res_at_exit;  /* its figures when the program ended */
    void *owner_data;                   /* its argument */
};

struct sess_attach {
    struct session *s;                 /* referenced */
    enum sess_stream stream;           /* SESS_OUT or SESS_ERR */
    uint64_t pos;                      /* the next byte to send */
    const struct sess_attach_ops *ops; /* the face's */
    void *userdata;                    /* its state */
    enum sess_end end;                 /* terminal event, once known */
    bool end_now;                      /* send it before the bytes still unsent */
    int exit_code;                     /* with SESS_END_EXIT */
    bool lossy;                        /* stalled too long: the ring may overrun it */
    uint64_t stall_pos;                /* pos when the stall timer was armed */
};

struct sess_mgr {
    uv_loop_t *loop;               /* the daemon's */
    struct proc_reaper *reaper;    /* spawning and reaping */
    struct sess_limits lim;        /* limits */
    DQUEUE_HEAD(session) sessions; /* listed sessions, oldest first */
    size_t count;                  /* sessions listed */
    uint32_t counter;              /* for ids */
    int hold_fd;                   /* connection to the descriptor holder, or -1 */
    int (*hold_connect)(bool start, void *userdata); /* reaches it (sess_mgr_set_holder) */
    void *hold_data;                                 /* its argument */
    struct ev_bus *bus;                              /* where changes are told, or NULL */
};

void sess_unref(struct session *s);
/* Tells the bus (if any) that s "started", "exited", "attached", "detached" or was "removed":
 * type "pty.<what>" or "pipe.<what>". attach.c */
void sess_publish(struct session *s, const char *what);
/* Reading resumes (a blocking tee made room). */
void sess_update_polls(struct session *s);

/* tee.c */
#define TEE_MAX_BYTES (8u << 20) /* a queue never holds more, whatever its chunk count */

struct tee_chunk {
    DLIST_LINK(tee_chunk) link; /* in the tee's queue */
    size_t len, off;            /* bytes, and how many are written */
    uint8_t data[];             /* the copy */
};

struct tee {
    DLIST_LINK(tee) link;          /* in the stream's list */
    struct session *s;             /* NULL once the session let go */
    uv_loop_t *loop;               /* for writes */
    uint64_t handle;               /* per-session id */
    enum sess_stream stream;       /* what it copies */
    int fd;                        /* the file, -1 once closed */
    bool block, markers;           /* back-pressure mode; write missed markers */
    uint32_t cap;                  /* chunks */
    uint32_t n;                    /* chunks queued */
    size_t bytes;                  /* bytes queued */
    DQUEUE_HEAD(tee_chunk) chunks; /* the queue, oldest first */
    uint64_t missed;               /* bytes dropped, ever */
    uint64_t unmarked;             /* dropped since the last marker written */
    bool busy;                     /* waiting for the file to take more (poll running) */
    bool closing;                  /* close once the queue is written */
    bool disconnected;             /* closed, or a write failed */
    uv_poll_t poll;                /* writability, for files that can be full */
    bool poll_open;                /* poll was initialized and not closed */
    char marker[80];               /* the marker being written */
    size_t marker_len, marker_off; /* its length and how much is written; 0 when none */
};

/* Writes what every tee of a list has queued (a tee handed over by the previous image). */
void tee_pump_all(struct tee *list);

/* Copies bytes into every tee of a list. */
void tee_feed(struct tee *list, const uint8_t *p, size_t n);
/* Whether a blocking tee of the list is full: the source must not be read now. */
bool tee_blocked(const struct tee *list);
/* Closes every tee of a list once its queue is written (or at once with now). */
void tee_close_all(struct tee **list, bool now);
/* Frees every tee (the session is being freed); a write in flight frees its tee when it ends. */
void sess_tees_release(struct session *s);

/* ---- between session.c and handover.c ---- */

/* A session not listed yet, its id given, nothing watched (NULL without memory). */
struct session *sess_alloc(struct sess_mgr *m, const struct sess_spawn *o);
/* Puts a session whose program and descriptors are set up on the list, watched (and held by
 * the descriptor holder with hold). */
void sess_enlist(struct session *s, bool hold);
/* Frees what sess_alloc made (and what it collected since). */
void sess_free(struct session *s);

/* Watches fd for the session (non-blocking, polled); the session holds a reference until the
 * handle is closed. */
int sess_fd_open(struct session *s, struct sess_fd *f, int fd);
/* Points each output stream and the input at their descriptors, as the kind wants. */
void sess_wire_streams(struct session *s);
/* The program ended (status: exit code, -signal, or PROC_EXIT_UNKNOWN); c may be NULL when no
 * child was ever watched (a program that ended while droverd re-executed itself). */
void sess_child_exited(struct proc_child *c, int status, void *userdata);
/* Starts the terminate's grace period: what is left of the tree is SIGKILLed after ms. */
int sess_arm_grace(struct session *s, uint64_t ms);

/* ---- hold.c ---- */

/* Asks the holder to keep copies of the session's descriptors; lets go at its end. */
void sess_hold_put(struct session *s);
void sess_hold_drop(struct session *s);

/* ---- between session.c and attach.c ---- */

/* Takes s off the manager's list (purge); the last reference frees it. */
void sess_unlist(struct session *s);
/* A stream holds the program back: its attached client is a ring behind. */
bool sess_held_back(const struct sess_out *o);
/* Arms the stall timer while a client holds a stream back. */
void sess_arm_stall(struct session *s);
/* Tells an attachment its stream ended (now: before the bytes it has not taken). */
void sess_end_attachment(struct sess_attach *a, enum sess_end why, bool now, int code);
/* Ends the attachment of a stream (a steal, a detach, a terminate). */
void sess_evict(struct session *s, enum sess_stream st, enum sess_end why);
