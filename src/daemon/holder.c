/* The descriptor holder's client side: starting it (holder-main.c is the holder itself). The
 * holder is a small process, `droverd-holder PATH FD` installed beside droverd, that
 * keeps copies of the descriptors of the sessions droverd asks it to hold (runners' PTY
 * masters and pipes). When droverd dies, those programs keep their terminal (no hangup, no
 * broken pipe) and the next droverd takes the descriptors back and adopts the programs.
 *
 * Protocol, on a SOCK_SEQPACKET unix socket (one message per record, descriptors with
 * SCM_RIGHTS):
 *   'P' ID '\0' BLOB  + 1..3 fds   hold (replacing what was held under ID)
 *   'D' ID                         let go
 *   'L'                            answered by 'H' ID '\0' BLOB + fds per entry, then 'E'
 *   'Q'                            let go of everything and exit
 * The blob is the session's own record (session/hold.c); the holder never reads it. It serves
 * one client at a time (the newest: an upgraded droverd connects again); when its client goes
 * while it holds nothing, it exits. */
#include "daemon/holder.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/fdpass.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/paths.h"

/* A listening socket at path (replacing a stale one). */
static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int l;

    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    if ((l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    (void)unlink(path);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 4) < 0) {
        int e = -errno;
        close(l);
        return e;
    }
    return l;
}

static int try_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    if (strlen(path) >= sizeof sa.sun_path) {
        close(fd);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int holder_connect(const char *path, bool start)
{
    int fd = try_connect(path);
    if (fd >= 0 || !start)
        return fd;
    /* None runs: listen here, and start one that serves this very socket, out of our process
     * group and session (a terminal's ^C or hangup must not reach it). Our connection waits in
     * the socket's backlog until it accepts: nothing here waits for it. */
    char prog[PATH_MAX];
    if (paths_beside_self("droverd-holder", prog, sizeof prog) < 0) /* installed beside droverd */
        return -ENOENT;
    int l = listen_at(path);
    if (l < 0)
        return l;
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        close(l);
        (void)unlink(path);
        return e;
    }
    if (pid == 0) {
        char num[16];
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        int keep = fcntl(l, F_DUPFD, 3); /* without close-on-exec, for the holder */
        snprintf(num, sizeof num, "%d", keep);
        execl(prog, "droverd-holder", path, num, (char *)NULL);
        _exit(127);
    }
    fd = try_connect(path);
    close(l);
    return fd;
}
