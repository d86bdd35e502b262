/* Spawning: our own fork/exec, because we need what uv_spawn does not give (PTYs, sessions,
 * cgroups, identity, rlimits) and an exec failure reported as an error, not as a child that
 * exits 127.
 *
 * Everything that can fail ordinarily is done before the fork: the program is looked up in the
 * child's PATH (a missing program is -ENOENT without forking), stdio is opened, the cgroup made.
 * The child is a clone sharing our memory until it execs (see fork_exec). Signals are blocked
 * around it so the child cannot run droverd's handlers (libuv's would write into the loop's
 * signal pipe). The child then uses only async-signal-safe calls: default
 * dispositions, an empty mask, session or group, cgroup, stdio, cwd, umask, rlimits, identity,
 * execve. If a step fails it writes {step, errno} to a CLOEXEC pipe and _exits; the parent reads
 * the pipe, which closes empty when execve succeeds. Every fd droverd opens is CLOEXEC, so the
 * child inherits only its three stdio descriptors. */
#include "proc/proc-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/macro.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

enum step {
    STEP_CGROUP = 1, /* joining the cgroup failed: retried without cgroups */
    STEP_SETUP,      /* session, terminal, stdio, cwd, limits or identity */
    STEP_EXEC,       /* execve */
    STEP_LIMITS,     /* joining a controller's group failed (an error, never a tree unlimited) */
};

struct child_error {
    int step; /* enum step */
    int err;  /* errno */
};

/* What the child needs, all prepared by the parent. */
struct prep {
    char path[4096];     /* the program, resolved */
    int child_fd[3];     /* the fds to become 0, 1 and 2 (-1: leave droverd's) */
    int parent_fd[3];    /* droverd's ends */
    int pty_slave;       /* with a PTY: the slave, to become the controlling terminal */
    int cgroup_fd;       /* cgroup.procs of the tree's group, or -1 */
    int cgroup_dir;      /* v2: the group's directory, for clone3(CLONE_INTO_CGROUP), or -1 */
    int err_pipe[2];     /* exec-error pipe */
    struct res_leaf res; /* leaves in separate v1 controller hierarchies (limits) */
};

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Looks argv0 up in PATH the way execvp would, in the parent. */
static int resolve(const char *argv0, char *const *envp, char *out, size_t size)
{
    const char *path = DEFAULT_PATH;
    int r = -ENOENT;

    if (!argv0 || !*argv0)
        return -EINVAL;
    if (strchr(argv0, '/')) {
        if ((size_t)snprintf(out, size, "%s", argv0) >= size)
            return -ENAMETOOLONG;
        return 0; /* execve reports what is wrong with it */
    }
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            path = envp[i] + 5;
    while (*path) {
        size_t n = strcspn(path, ":");
        int k = n ? snprintf(out, size, "%.*s/%s", (int)n, path, argv0)
                  : snprintf(out, size, "./%s", argv0);
        if (k > 0 && (size_t)k < size) {
            if (executable(out))
                return 0;
            if (access(out, F_OK) == 0)
                r = -EACCES; /* exists but cannot run: remember, keep looking */
        }
        path += n + (path[n] == ':');
    }
    return r;
}

static int open_pty(const struct proc_spawn_opts *o, struct prep *p)
{
    char name[128];
    struct winsize ws = {.ws_row = o->rows ? o->rows : 24, .ws_col = o->cols ? o->cols : 80};
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (master < 0)
        return -errno;
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof name)) {
        int r = -errno;
        close(master);
        return r;
    }
    (void)ioctl(master, TIOCSWINSZ, &ws);
    p->pty_slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (p->pty_slave < 0) {
        int r = -errno;
        close(master);
        return r;
    }
    p->parent_fd[0] = master;
    for (int i = 0; i < 3; i++)
        p->child_fd[i] = p->pty_slave;
    return 0;
}

static int open_stdio(const struct proc_spawn_opts *o, struct prep *p)
{
    if (o->stdio[0] == PROC_STDIO_PTY || o->stdio[1] == PROC_STDIO_PTY ||
        o->stdio[2] == PROC_STDIO_PTY)
        return open_pty(o, p);
    for (int i = 0; i < 3; i++) {
        int fds[2];
        switch (o->stdio[i]) {
        case PROC_STDIO_NULL:
            p->child_fd[i] = open("/dev/null", (i ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
            if (p->child_fd[i] < 0)
                return -errno;
            break;
        case PROC_STDIO_PIPE:
            if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
            p->child_fd[i] = fds[i ? 1 : 0];
            p->parent_fd[i] = fds[i ? 0 : 1];
            break;
        case PROC_STDIO_FD:
            p->child_fd[i] = fcntl(o->fd[i], F_DUPFD_CLOEXEC, 3);
            if (p->child_fd[i] < 0)
                return -errno;
            break;
        case PROC_STDIO_INHERIT:
            break;
        case PROC_STDIO_MERGE:
            if (i != 2 || o->stdio[1] == PROC_STDIO_INHERIT)
                return -EINVAL;
            p->child_fd[2] = fcntl(p->child_fd[1], F_DUPFD_CLOEXEC, 3);
            if (p->child_fd[2] < 0)
                return -errno;
            break;
        default:
            return -EINVAL;
        }
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void prep_done(struct prep *p, bool keep_parent_fds)
{
    for (int i = 0; i < 3; i++) {
        if (p->child_fd[i] != p->pty_slave)
            close_fd(&p->child_fd[i]);
        if (!keep_parent_fds)
            close_fd(&p->parent_fd[i]);
    }
    close_fd(&p->pty_slave);
    close_fd(&p->cgroup_fd);
    close_fd(&p->cgroup_dir);
    close_fd(&p->err_pipe[0]);
    close_fd(&p->err_pipe[1]);
    res_leaf_done(&p->res, false);
}

static _Noreturn void child_fail(const struct prep *p, int step)
{
    struct child_error e = {step, errno};
    ssize_t _unused_ n = write(p->err_pipe[1], &e, sizeof e);
    _exit(127);
}

/* The kernel's struct sigaction (x86-64, arm64 and the other SA_RESTORER layouts). glibc's
 * sigaction() refuses the two real-time signals it keeps for itself, so an ignored SIGRTMIN
 * inherited from whoever started droverd would reach the child; the system call resets them. */
struct kernel_sigaction {
    void (*handler)(int);   /* SIG_DFL */
    unsigned long flags;    /* none */
    void (*restorer)(void); /* unused for SIG_DFL */
    uint64_t mask;          /* empty */
};

static void default_dispositions(void)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    struct kernel_sigaction kdfl = {.handler = SIG_DFL};

    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP && sigaction(s, &dfl, NULL) < 0)
            (void)syscall(SYS_rt_sigaction, s, &kdfl, NULL, sizeof kdfl.mask);
}

/* RLIMIT_NOFILE's soft limit as droverd found it, before proc_raise_nofile: every child gets it
 * back (below its opts' own rlimits). A property of the process, as the limit itself is; 0 while
 * not raised. */
static struct rlimit child_nofile;

int proc_raise_nofile(struct rlimit *ret_old, struct rlimit *ret_new)
{
    struct rlimit old, rl;

    if (getrlimit(RLIMIT_NOFILE, &old) < 0)
        return -errno;
    rl = (struct rlimit){old.rlim_max, old.rlim_max};
    if (old.rlim_cur < old.rlim_max) {
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -errno;
        child_nofile = old;
    }
    *ret_old = old;
    *ret_new = rl; /* the soft limit never exceeds the hard one: rl is old when not raised */
    return 0;
}

/* In the child: only async-signal-safe calls from here to execve. */
static _Noreturn void child(const struct proc_spawn_opts *o, struct prep *p, bool born_in_group)
{
    struct rlimit nofile;
    sigset_t empty;
    int fd[3];

    default_dispositions();
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);

    if ((o->group == PROC_GROUP_SESSION || p->pty_slave >= 0) && setsid() < 0)
        child_fail(p, STEP_SETUP);
    if (o->group == PROC_GROUP_PGRP && p->pty_slave < 0 && setpgid(0, 0) < 0)
        child_fail(p, STEP_SETUP);
    if (!born_in_group && p->cgroup_fd >= 0 && write(p->cgroup_fd, "0", 1) != 1)
        child_fail(p, STEP_CGROUP);
    for (int i = 0; i < RES_N; i++)
        if (p->res.fd[i] >= 0 && write(p->res.fd[i], "0", 1) != 1)
            child_fail(p, STEP_LIMITS);
    if (p->pty_slave >= 0 && ioctl(p->pty_slave, TIOCSCTTY, 0) < 0)
        child_fail(p, STEP_SETUP);

    /* Move sources out of 0..2 first, so that a dup2 cannot overwrite one still needed. */
    for (int i = 0; i < 3; i++) {
        fd[i] = p->child_fd[i];
        if (fd[i] >= 0 && fd[i] < 3 && (fd[i] = fcntl(fd[i], F_DUPFD_CLOEXEC, 3)) < 0)
            child_fail(p, STEP_SETUP);
    }
    for (int i = 0; i < 3; i++)
        if (fd[i] >= 0 && dup2(fd[i], i) < 0)
            child_fail(p, STEP_SETUP);

    /* Whatever a library opened without O_CLOEXEC does not reach the program either. */
    (void)close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
    if (o->cwd && *o->cwd && chdir(o->cwd) < 0)
        child_fail(p, STEP_SETUP);
    if (o->umask >= 0)
        umask((mode_t)o->umask);
    if (child_nofile.rlim_cur && getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
        nofile.rlim_cur > child_nofile.rlim_cur) {
        nofile.rlim_cur = child_nofile.rlim_cur;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }
    for (size_t i = 0; i < o->n_rlimits; i++)
        if (setrlimit(o->rlimits[i].resource, &o->rlimits[i].lim) < 0)
            child_fail(p, STEP_SETUP);
    /* The system calls themselves: glibc's setuid and friends would ask droverd's other
     * threads to change theirs too (setxid), which a child in our memory must not do. The
     * kernel's change the calling thread, which is the whole child. */
    if (o->set_ids && (syscall(SYS_setgroups, 1, &o->gid) < 0 ||
                       syscall(SYS_setresgid, o->gid, o->gid, o->gid) < 0 ||
                       syscall(SYS_setresuid, o->uid, o->uid, o->uid) < 0))
        child_fail(p, STEP_SETUP);
    static char *const no_env[] = {NULL};
    execve(p->path, o->argv, o->envp ? o->envp : no_env);
    child_fail(p, STEP_EXEC);
}

/* Forks; returns the pid, or -errno with the child's report. */
/* AddressSanitizer keeps per-thread state (stack bounds, fake stacks) that a child running in our
 * memory on another stack would trample: sanitized builds fork instead. */
#if defined(__SANITIZE_ADDRESS__)
#define SPAWN_WITH_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAWN_WITH_FORK 1
#endif
#endif

/* The child runs on this stack, in droverd's memory, while droverd waits for it to exec or exit
 * (CLONE_VM | CLONE_VFORK, as posix_spawn does): no page tables are copied, and neither the
 * child (before its exec) nor droverd (after) takes a page fault for it. On this kind of VM a
 * copy of droverd's page tables and the faults that follow cost 2.5 ms per spawn. One spawn
 * runs at a time (one thread, and the parent is suspended), so one stack serves them all. The
 * child writes nothing of ours but its stack and errno. */
#ifndef SPAWN_WITH_FORK
#define CHILD_STACK_SIZE (128u << 10)
static uint8_t child_stack[CHILD_STACK_SIZE] __attribute__((aligned(64)));
#endif

struct child_args {
    const struct proc_spawn_opts *o; /* what to run */
    struct prep *p;                  /* what the parent prepared */
    bool born_in_group;              /* clone3 made it in its group: cgroup.procs is not written */
};

static int child_main(void *arg)
{
    struct child_args *a = arg;
    child(a->o, a->p, a->born_in_group);
}

/* Moving a process into a cgroup (writing cgroup.procs) waits for an RCU grace period in the
 * kernel: milliseconds, most of a restart's latency. A v2 child born in its group costs
 * nothing of the kind: clone3(CLONE_INTO_CGROUP). Cleared for good when the kernel does not
 * have it. */
static bool clone_into_cgroup_works = true;

#if !defined(SPAWN_WITH_FORK) && defined(__x86_64__)
/* clone3 with the child on child_stack, sharing our memory. glibc 2.36 has no clone3 wrapper,
 * and the raw syscall returns in the child on the new, empty stack, where no C code can
 * return to: this returns the pid (or -errno) in the parent; the child calls fn(arg) and exits
 * with its result. The kernel preserves r8 and r9 across the syscall, and starts the child
 * with rsp at stack + stack_size (16-byte aligned, so the call is ABI-aligned). Other
 * architectures fork a copy instead. */
#define CLONE3_VM 1
long drover_clone3_vm(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(".text\n"
        ".globl drover_clone3_vm\n"
        ".hidden drover_clone3_vm\n"
        ".type drover_clone3_vm, @function\n"
        "drover_clone3_vm:\n"
        "    endbr64\n"
        "    mov %rdx, %r9\n"  /* fn */
        "    mov %rcx, %r8\n"  /* arg */
        "    mov $435, %eax\n" /* SYS_clone3 */
        "    syscall\n"
        "    test %rax, %rax\n"
        "    jnz 1f\n"
        "    xor %ebp, %ebp\n" /* the child: no frame above this one */
        "    mov %r8, %rdi\n"
        "    call *%r9\n"
        "    mov %eax, %edi\n"
        "    mov $60, %eax\n" /* SYS_exit */
        "    syscall\n"
        "    hlt\n"
        "1:  ret\n"
        ".size drover_clone3_vm, .-drover_clone3_vm\n");
#endif

/* A child born in the group of directory dir; -1 with errno when clone3 refuses. */
static pid_t clone_into_cgroup(int dir, struct child_args *args)
{
    struct clone_args a = {
        .flags = CLONE_VFORK | CLONE_INTO_CGROUP,
        .exit_signal = SIGCHLD,
        .cgroup = (uint64_t)dir,
    };
    args->born_in_group = true;
#ifdef CLONE3_VM
    a.flags |= CLONE_VM;
    a.stack = (uint64_t)(uintptr_t)child_stack;
    a.stack_size = sizeof child_stack;
    long r = drover_clone3_vm(&a, sizeof a, child_main, args);
    if (r < 0) {
        args->born_in_group = false;
        errno = (int)-r;
        return -1;
    }
    return (pid_t)r;
#else
    pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
    if (pid == 0)
        child_main(args);
    if (pid < 0)
        args->born_in_group = false;
    return pid;
#endif
}

static pid_t fork_exec(const struct proc_spawn_opts *o, struct prep *p, struct child_error *ce)
{
    struct child_args args = {o, p, false};
    sigset_t all, old;
    pid_t pid = -1;
    ssize_t n;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (p->cgroup_dir >= 0) {
        pid = clone_into_cgroup(p->cgroup_dir, &args);
        if (pid < 0 && (errno == ENOSYS || errno == EINVAL || errno == E2BIG ||
                        errno == EOPNOTSUPP || errno == EBADF))
            clone_into_cgroup_works = false; /* an older kernel: join by cgroup.procs */
    }
    if (pid < 0 && (p->cgroup_dir < 0 || !clone_into_cgroup_works)) {
#ifdef SPAWN_WITH_FORK
        pid = fork();
        if (pid == 0)
            child_main(&args);
#else
        pid = clone(child_main, child_stack + sizeof child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                    &args);
#endif
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return -fork_errno;

    close_fd(&p->err_pipe[1]);
    do
        n = read(p->err_pipe[0], ce, sizeof *ce);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof *ce) {
        /* It exits at once; wait here so the reaper never sees a child it does not know. */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return -(ce->err ? ce->err : EIO);
    }
    return pid;
}

static int prep_init(struct proc_reaper *r, const struct proc_spawn_opts *o, struct prep *p,
                     char **ret_cgroup)
{
    int e;

    *p = (struct prep){.child_fd = {-1, -1, -1},
                       .parent_fd = {-1, -1, -1},
                       .pty_slave = -1,
                       .cgroup_fd = -1,
                       .cgroup_dir = -1,
                       .err_pipe = {-1, -1},
                       .res.fd = {-1, -1, -1}};
    if (!o->argv || !o->argv[0])
        return -EINVAL;
    e = resolve(o->argv[0], o->envp, p->path, sizeof p->path);
    if (e < 0)
        return e;
    if ((e = open_stdio(o, p)) < 0)
        return e;
    if (pipe2(p->err_pipe, O_CLOEXEC) < 0)
        return -errno;
    _cleanup_free_ char *dir = NULL;
    if (o->cgroup && (o->slice || o->limits)) {
        if (r->cg.mode == CGROUP_NONE)
            return o->limits ? -EOPNOTSUPP : 0 /* a slice without cgroups: no group at all */;
        if ((e = res_prepare(r, o->slice, o->limits, &dir, &p->res)) < 0)
            return e;
    }
    if (o->cgroup && r->cg.mode != CGROUP_NONE &&
        (e = cgroup_create(&r->cg, dir, ret_cgroup, &p->cgroup_fd)) < 0) {
        *ret_cgroup = NULL; /* a tree without a group is still a tree: sessions stand in */
        if (o->limits)      /* but limits need one */
            return e;
    }
    /* Controllers in the tree hierarchy take their limits in the tree's own group. */
    if (*ret_cgroup && o->limits) {
        struct proc_child tmp = {.reaper = r, .cgroup = *ret_cgroup};
        memcpy(tmp.res, p->res.path, sizeof tmp.res);
        if ((e = proc_child_set_limits(&tmp, o->limits)) < 0)
            return e;
    }
    if (*ret_cgroup && r->cg.mode == CGROUP_V2 && clone_into_cgroup_works)
        p->cgroup_dir = open(*ret_cgroup, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    return 0;
}

static int spawn_once(struct proc_reaper *r, const struct proc_spawn_opts *o, bool *retry,
                      struct proc_spawn_io *ret_io, struct proc_child **ret)
{
    struct prep p;
    struct child_error ce = {0};
    _cleanup_free_ char *cg = NULL;
    struct proc_child *c;
    pid_t pid;
    int e;

    e = prep_init(r, o, &p, &cg);
    if (e >= 0)
        e = pid = fork_exec(o, &p, &ce);
    if (e < 0) {
        if (ce.step == STEP_CGROUP) {
            /* The kernel refuses to move processes here: stop using cgroups for good. */
            cgroup_root_done(&r->cg);
            *retry = true;
        }
        if (cg)
            (void)cgroup_remove(cg);
        res_leaf_done(&p.res, true);
        prep_done(&p, false);
        return e;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        /* The child runs; without a record it is reaped silently as an orphan would be. */
        prep_done(&p, false);
        return -ENOMEM;
    }
    struct proc_stat st;
    *c = (struct proc_child){
        .reaper = r,
        .pid = pid,
        .pidfd = pidfd_open(pid, 0),
        .starttime = proc_read_stat(pid, &st) == 0 ? st.starttime : 0,
        .session = o->group == PROC_GROUP_SESSION || p.pty_slave >= 0 ? pid : 0,
        .cgroup = TAKE_PTR(cg),
    };
    for (int i = 0; i < RES_N; i++)
        c->res[i] = TAKE_PTR(p.res.path[i]);
    reaper_insert(r, c);
    if (ret_io)
        memcpy(ret_io->fd, p.parent_fd, sizeof ret_io->fd);
    prep_done(&p, ret_io != NULL);
    *ret = c;
    return 0;
}

int proc_spawn(struct proc_reaper *r, const struct proc_spawn_opts *o, proc_exit_fn on_exit,
               void *userdata, struct proc_spawn_io *ret_io, struct proc_child **ret)
{
    struct proc_child *c = NULL;
    bool retry = false;
    int e = spawn_once(r, o, &retry, ret_io, &c);

    if (e < 0 && retry)
        e = spawn_once(r, o, &retry, ret_io, &c);
    if (e < 0)
        return e;
    c->on_exit = on_exit;
    c->userdata = userdata;
    if (ret)
        *ret = c;
    return 0;
}
