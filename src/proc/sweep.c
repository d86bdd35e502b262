/* The end of a PID namespace's init. When droverd is PID 1 (a container's entrypoint, `unshare
 * --pid`), every process of the namespace descends from it: orphans are re-parented to it, so
 * "no child left" (ECHILD) means "nobody left". When it exits the kernel SIGKILLs whatever is
 * left without a word; the sweep first gives them SIGTERM and a grace, as an init should, and
 * says how many had to be killed.
 *
 * It runs after the loop has ended (droverd's last act), so it blocks: SIGCHLD is blocked and
 * awaited with sigtimedwait, which cannot miss one that came before the wait. */
#include "proc/proc-internal.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/time-util.h"

#define KILL_WAIT_MS 5000 /* after SIGKILL: a process in uninterruptible sleep may take this */

/* Reaps every child that has exited; true when no child is left at all. */
static bool reap_all(unsigned *reaped)
{
    for (;;) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p > 0) {
            (*reaped)++;
            continue;
        }
        return p < 0 && errno == ECHILD;
    }
}

/* Reaps until no child is left or deadline_ms (mono_ms) passes; true when none is left. */
static bool reap_until(uint64_t deadline_ms, unsigned *reaped)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        if (reap_all(reaped))
            return true;
        uint64_t now = mono_ms();
        if (now >= deadline_ms)
            return false;
        uint64_t left = deadline_ms - now;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000),
                              .tv_nsec = (long)(left % 1000) * 1000000L};
        (void)sigtimedwait(&chld, NULL, &ts); /* a SIGCHLD, the deadline, or EINTR: look again */
    }
}

int proc_sweep_namespace(uint32_t grace_ms, unsigned *ret_killed)
{
    *ret_killed = 0;
    if (getpid() != 1)
        return -EPERM; /* kill(-1) would reach the whole host */
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    unsigned reaped = 0;
    int r = 0;
    if (!reap_all(&reaped)) {
        (void)kill(-1, SIGTERM); /* everyone but us */
        if (!reap_until(mono_ms() + grace_ms, &reaped)) {
            unsigned before = reaped;
            (void)kill(-1, SIGKILL);
            if (!reap_until(mono_ms() + KILL_WAIT_MS, &reaped))
                r = -ETIMEDOUT;
            *ret_killed = reaped - before;
            if (!*ret_killed)
                *ret_killed = 1; /* killed, though not yet reaped: still not a clean end */
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}
