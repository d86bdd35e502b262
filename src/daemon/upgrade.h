/* Upgrade in place (upgrade.c): droverd re-executes its binary keeping its pid, its children,
 * its listening sockets and its sessions' descriptors, and hands the rest of its state over.
 * daemon.c calls both sides: the old image's (upgrade_start, from Admin.Upgrade and SIGUSR2)
 * and the new image's (upgrade_new first, then upgrade_take_lock and upgrade_listen in place of
 * locking and binding anew, and upgrade_restore_sessions once the core is up). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "daemon/config.h"
#include "net/net.h"

struct upgrade;
struct proc_reaper;
struct sess_mgr;

/* The listening sockets handed over, by door. */
enum upgrade_door {
    UPGRADE_GRPC, /* the gRPC unix socket */
    UPGRADE_TCP,  /* gRPC over TCP */
    UPGRADE_HTTP, /* the HTTP door */
    UPGRADE_RP,   /* the running-process socket */
    UPGRADE_N_DOORS,
};

/* What the daemon does for an upgrade (its userdata is given to upgrade_new). */
struct upgrade_ops {
    /* Writes every service's row, which the next image adopts from; -errno refuses. */
    int (*save)(void *userdata);
    /* The doors stop for the exec: each hands its listener over (upgrade_keep_listener), closes
     * its connections gracefully and calls upgrade_door_done once its last one is gone; session
     * clients are detached. Returns how many doors will call upgrade_door_done. */
    unsigned (*drain)(void *userdata);
    /* Neither exec worked and the doors are gone: droverd ends (its services run on, and the
     * next droverd adopts them). */
    void (*abandon)(void *userdata);
};

/* What an upgrade works with. */
struct upgrade_env {
    struct proc_reaper *reaper;      /* runs the new binary's check */
    struct sess_mgr *sessions;       /* handed over */
    const char *config_path;         /* the check loads droverd's configuration: this file */
    const struct config_flag *flags; /* and these flags */
    size_t n_flags;                  /* how many */
    int lock_fd;                     /* the socket's lock, kept across the exec */
};

/* How an upgrade request ends, once: r >= 0 with the binary about to run and the version its
 * check printed (the exec follows once the doors are drained), or -errno with why in error
 * (nothing changed). */
typedef void (*upgrade_answer_fn)(int r, const char *binary, const char *version, const char *error,
                                  void *userdata);

/* Takes what a previous image handed over, if droverd was started by an upgrade (the
 * environment says so; the variables are removed, and session programs that ended during the
 * exec have their status peeked at now, before the reaper's first pass). Whatever cannot be
 * read is logged and left out. */
int upgrade_new(uv_loop_t *loop, const struct upgrade_ops *ops, void *userdata,
                struct upgrade **ret);
/* Closes what was handed over and not taken; call before the loop's last run. */
void upgrade_free(struct upgrade *u);
/* The previous image's version when droverd was started by an upgrade, else NULL. */
const char *upgrade_from(const struct upgrade *u);
/* The inherited lock on the socket, or -1. */
int upgrade_take_lock(struct upgrade *u);
/* Listens on the door's socket from before the upgrade when there is one bound where address
 * (a unix socket's path, or TCP "HOST:PORT") says: 1 then, 0 when there is none (the caller
 * binds one; a socket bound elsewhere is closed). */
int upgrade_listen(struct upgrade *u, enum upgrade_door door, const char *address,
                   net_accept_fn on_accept, void *userdata, struct net_listener **ret);
/* The sessions handed over, into m (logged). */
void upgrade_restore_sessions(struct upgrade *u, struct sess_mgr *m);
/* The signal handlers are in place: signals that arrived during the exec are delivered now. */
void upgrade_signals_ready(struct upgrade *u);

/* Starts an upgrade to binary (NULL: the installed droverd, what /proc/self/exe names): the
 * binary is checked (`BINARY --check-upgrade` with droverd's settings), then answer runs, then
 * the doors drain and droverd executes it. answer (NULL: none; refusals are logged anyway) runs
 * exactly once, possibly before this returns. */
void upgrade_start(struct upgrade *u, const struct upgrade_env *env, const char *binary,
                   upgrade_answer_fn answer, void *userdata);
/* A door's listener is about to close: its socket goes to the next image. */
void upgrade_keep_listener(struct upgrade *u, enum upgrade_door door, struct net_listener *l);
/* A door has closed its last connection (userdata: the upgrade). */
void upgrade_door_done(void *userdata);
/* droverd is stopping: a check under way is killed and its request answered -ESHUTDOWN, and
 * later requests are refused so. */
void upgrade_cancel(struct upgrade *u);

/* `droverd --check-upgrade`: loads the configuration and checks the database's schema as a
 * start would, prints the version and the handover format it reads, and returns the exit code. */
int upgrade_check_main(const char *config_path, const struct config_flag *flags, size_t n_flags);
