/* A container's OCI runtime configuration (config.json), generated from its plain C spec and its
 * image's configuration: process (argv from entrypoint and command, environment, user, working
 * directory, capabilities, no_new_privileges), root (the overlay, read-only when asked), mounts
 * (the usual /proc, /dev, /sys set, tmpfs, binds, volumes), namespaces (a network namespace with
 * only lo unless the host's network is asked for), cgroup limits, and a system call filter. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/errmsg.h"
#include "base/macro.h"
#include "base/paths.h"
#include "base/strv.h"
#include "container/container-internal.h"

/* Every capability the kernel knows (capability(7)), without the CAP_ prefix. */
static const char *const all_caps[] = {
    "CHOWN",           "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER",          "FSETID",
    "KILL",            "SETGID",       "SETUID",          "SETPCAP",         "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",     "NET_RAW",         "IPC_LOCK",
    "IPC_OWNER",       "SYS_MODULE",   "SYS_RAWIO",       "SYS_CHROOT",      "SYS_PTRACE",
    "SYS_PACCT",       "SYS_ADMIN",    "SYS_BOOT",        "SYS_NICE",        "SYS_RESOURCE",
    "SYS_TIME",        "SYS_TTY_CONFIG", "MKNOD",         "LEASE",           "AUDIT_WRITE",
    "AUDIT_CONTROL",   "SETFCAP",      "MAC_OVERRIDE",    "MAC_ADMIN",       "SYSLOG",
    "WAKE_ALARM",      "BLOCK_SUSPEND", "AUDIT_READ",     "PERFMON",         "BPF",
    "CHECKPOINT_RESTORE",
};
/* The default set: podman's, what a program that manages its own files and identity needs. */
static const char *const default_caps[] = {
    "CHOWN",  "DAC_OVERRIDE", "FOWNER", "FSETID",  "KILL",       "NET_BIND_SERVICE",
    "SETFCAP", "SETGID",      "SETPCAP", "SETUID", "SYS_CHROOT",
};

/* The index of a capability name ("CAP_CHOWN", "chown"), -1 if unknown. */
static int cap_index(const char *name)
{
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    for (size_t i = 0; i < ARRAY_SIZE(all_caps); i++)
        if (strcasecmp(name, all_caps[i]) == 0)
            return (int)i;
    return -1;
}

static int caps_set(const struct ctr_spec *s, bool set[ARRAY_SIZE(all_caps)], char *err,
                    size_t err_size)
{
    memset(set, 0, sizeof(bool) * ARRAY_SIZE(all_caps));
    for (size_t i = 0; i < ARRAY_SIZE(default_caps); i++)
        set[cap_index(default_caps[i])] = true;
    for (size_t k = 0; k < 2; k++) {
        char *const *v = k == 0 ? s->cap_drop : s->cap_add;
        for (size_t i = 0; v && v[i]; i++) {
            if (strcasecmp(v[i], "ALL") == 0) {
                memset(set, k == 1, sizeof(bool) * ARRAY_SIZE(all_caps));
                continue;
            }
            int x = cap_index(v[i]);
            if (x < 0)
                return errmsg_fail(err, err_size, -EINVAL, "unknown capability '%s'", v[i]);
            set[x] = k == 1;
        }
    }
    return 0;
}

int ctr_signal_parse(const char *name)
{
    static const struct {
        const char *n;
        int sig;
    } sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"WINCH", SIGWINCH},
                {"PWR", SIGPWR},   {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"ALRM", SIGALRM}};
    if (!name || !*name)
        return 0;
    char *end;
    long n = strtol(name, &end, 10);
    if (*end == '\0')
        return n > 0 && n < NSIG ? (int)n : 0;
    if (strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        if (strcasecmp(name, sigs[i].n) == 0)
            return sigs[i].sig;
    return 0;
}

/* "uid[:gid]", or a name looked up in the image's /etc/passwd (and /etc/group). */
static int resolve_user(const char *root, const char *user, uid_t *uid, gid_t *gid, char **home,
                        char *err, size_t err_size)
{
    char name[256], group[256] = "";
    *uid = 0;
    *gid = 0;
    *home = NULL;
    if (!user || !*user)
        user = "0";
    snprintf(name, sizeof name, "%s", user);
    char *colon = strchr(name, ':');
    if (colon) {
        snprintf(group, sizeof group, "%s", colon + 1);
        *colon = '\0';
    }
    char *end;
    unsigned long n = strtoul(name, &end, 10);
    bool numeric = *name && *end == '\0';
    bool found = numeric;
    if (numeric)
        *uid = (uid_t)n;
    char path[PATH_MAX], line[1024];
    snprintf(path, sizeof path, "%s/etc/passwd", root);
    FILE *f = fopen(path, "re");
    while (f && fgets(line, sizeof line, f)) {
        char *fld[7] = {0}, *save = NULL, *p = line;
        line[strcspn(line, "\n")] = '\0';
        for (int i = 0; i < 7; i++) {
            fld[i] = p;
            p = strchr(p, ':');
            if (!p)
                break;
            *p++ = '\0';
        }
        (void)save;
        if (!fld[5] || !fld[2] || !fld[3])
            continue;
        bool match = numeric ? strtoul(fld[2], NULL, 10) == *uid : strcmp(fld[0], name) == 0;
        if (match) {
            *uid = (uid_t)strtoul(fld[2], NULL, 10);
            *gid = (gid_t)strtoul(fld[3], NULL, 10);
            *home = strdup(fld[5]);
            found = true;
            break;
        }
    }
    if (f)
        fclose(f);
    if (!found)
        return errmsg_fail(err, err_size, -EINVAL, "user '%s' is not in the image's /etc/passwd",
                      name);
    if (*group) {
        n = strtoul(group, &end, 10);
        if (*end == '\0') {
            *gid = (gid_t)n;
            return 0;
        }
        snprintf(path, sizeof path, "%s/etc/group", root);
        f = fopen(path, "re");
        found = false;
        while (f && fgets(line, sizeof line, f)) {
            char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (!c2)
                continue;
            *c1 = '\0';
            if (strcmp(line, group) == 0) {
                *gid = (gid_t)strtoul(c2 + 1, NULL, 10);
                found = true;
                break;
            }
        }
        if (f)
            fclose(f);
        if (!found)
            return errmsg_fail(err, err_size, -EINVAL, "group '%s' is not in the image's /etc/group",
                          group);
    }
    return 0;
}

static json_t *mount_json(const char *dst, const char *type, const char *src, const char *opts)
{
    json_t *o = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", opts);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(o, json_string(t));
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type, "source", src,
                     "options", o);
}

static bool has_mount(const struct ctr_spec *s, const char *dst)
{
    for (size_t i = 0; i < s->n_mounts; i++)
        if (strcmp(s->mounts[i].destination, dst) == 0)
            return true;
    return false;
}

static int add_mounts(struct ctr_mgr *m, const struct ctr_spec *s, json_t *mounts, char *err,
                      size_t err_size)
{
    json_array_append_new(mounts, mount_json("/proc", "proc", "proc", "nosuid,noexec,nodev"));
    json_array_append_new(mounts, mount_json("/dev", "tmpfs", "tmpfs",
                                             "nosuid,strictatime,mode=755,size=65536k"));
    json_array_append_new(mounts, mount_json("/dev/pts", "devpts", "devpts",
                                             "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"));
    json_array_append_new(mounts, mount_json("/dev/shm", "tmpfs", "shm",
                                             "nosuid,noexec,nodev,mode=1777,size=65536k"));
    json_array_append_new(mounts, mount_json("/dev/mqueue", "mqueue", "mqueue",
                                             "nosuid,noexec,nodev"));
    if (s->host_network) /* sysfs needs a network namespace of its own: the host's, read-only */
        json_array_append_new(mounts, mount_json("/sys", "bind", "/sys",
                                                 "rbind,nosuid,noexec,nodev,ro"));
    else
        json_array_append_new(mounts, mount_json("/sys", "sysfs", "sysfs",
                                                 "nosuid,noexec,nodev,ro"));
    json_array_append_new(mounts, mount_json("/sys/fs/cgroup", "cgroup", "cgroup",
                                             "nosuid,noexec,nodev,relatime,ro"));
    if (s->host_network)
        for (size_t i = 0; i < 2; i++) {
            const char *f = i ? "/etc/hosts" : "/etc/resolv.conf";
            if (access(f, R_OK) == 0 && !has_mount(s, f))
                json_array_append_new(mounts, mount_json(f, "bind", f, "rbind,ro"));
        }
    if (s->read_only && !has_mount(s, "/tmp"))
        json_array_append_new(mounts, mount_json("/tmp", "tmpfs", "tmpfs",
                                                 "nosuid,nodev,mode=1777,size=65536k"));
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct ctr_mount *x = &s->mounts[i];
        char src[PATH_MAX], opts[64];
        if (!x->destination || x->destination[0] != '/')
            return errmsg_fail(err, err_size, -EINVAL, "a mount's destination must be an absolute "
                          "path, not '%s'", x->destination ? x->destination : "");
        if (x->type == CTR_MOUNT_TMPFS) {
            json_array_append_new(mounts, mount_json(x->destination, "tmpfs", "tmpfs",
                                                     x->read_only ? "nosuid,nodev,ro,mode=1777"
                                                                  : "nosuid,nodev,mode=1777"));
            continue;
        }
        if (x->type == CTR_MOUNT_VOLUME) {
            snprintf(src, sizeof src, "%s/%s/_data", m->volumes_dir, x->source);
            int r = paths_mkdir_p(src, 0755, false);
            if (r < 0)
                return errmsg_fail(err, err_size, r, "cannot create the volume '%s': %s", x->source,
                              strerror(-r));
        } else {
            struct stat st;
            if (!x->source || x->source[0] != '/')
                return errmsg_fail(err, err_size, -EINVAL, "a bind mount's source must be an "
                                   "absolute host path, not '%s'", x->source ? x->source : "");
            if (stat(x->source, &st) < 0)
                return errmsg_fail(err, err_size, -ENOENT, "the bind mount's source '%s' does not "
                              "exist", x->source ? x->source : "");
            snprintf(src, sizeof src, "%s", x->source);
        }
        snprintf(opts, sizeof opts, "rbind,%s", x->read_only ? "ro" : "rw");
        json_array_append_new(mounts, mount_json(x->destination, "bind", src, opts));
    }
    return 0;
}

static json_t *resources_json(const struct ctr_resources *res)
{
    json_t *r = json_object();
    json_object_set_new(r, "devices", json_pack("[{s:b, s:s}]", "allow", 0, "access", "rwm"));
    if (res->memory) {
        uint64_t swap = res->memory_swap ? res->memory_swap : res->memory;
        json_object_set_new(r, "memory", json_pack("{s:I, s:I}", "limit", (json_int_t)res->memory,
                                                   "swap", (json_int_t)swap));
    }
    if (res->cpu_quota_us || res->cpu_shares) {
        json_t *cpu = json_object();
        if (res->cpu_quota_us) {
            json_object_set_new(cpu, "quota", json_integer((json_int_t)res->cpu_quota_us));
            json_object_set_new(cpu, "period", json_integer((json_int_t)(res->cpu_period_us
                                                                             ? res->cpu_period_us
                                                                             : 100000)));
        }
        if (res->cpu_shares)
            json_object_set_new(cpu, "shares", json_integer((json_int_t)res->cpu_shares));
        json_object_set_new(r, "cpu", cpu);
    }
    if (res->pids)
        json_object_set_new(r, "pids", json_pack("{s:I}", "limit", (json_int_t)res->pids));
    return r;
}

/* The environment: the image's, then the spec's (a name given again takes the new value). */
static json_t *env_json(const struct ctr_spec *s, const struct ctr_image *img, const char *home)
{
    char **env = NULL;
    size_t n = 0;
    char *const *layers[2] = {img->env, s->env};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; layers[k] && layers[k][i]; i++) {
            const char *e = layers[k][i];
            size_t nl = strcspn(e, "=");
            size_t j = 0;
            for (; j < n; j++)
                if (strncmp(env[j], e, nl) == 0 && env[j][nl] == '=')
                    break;
            if (j < n) {
                free(env[j]);
                env[j] = strdup(e);
            } else
                (void)strv_push(&env, &n, strdup(e));
        }
    static const char *const dflt[][2] = {
        {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        {"HOME", NULL}, {"TERM", "xterm"}, {"HOSTNAME", NULL}};
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(env[i] ? env[i] : ""));
    for (size_t d = 0; d < ARRAY_SIZE(dflt); d++) {
        const char *name = dflt[d][0], *value = dflt[d][1];
        bool have = false;
        for (size_t i = 0; i < n && !have; i++)
            have = env[i] && strncmp(env[i], name, strlen(name)) == 0 &&
                   env[i][strlen(name)] == '=';
        if (d == 1)
            value = home ? home : "/";
        if (d == 2 && !s->tty)
            continue;
        if (d == 3)
            value = s->hostname ? s->hostname : s->name;
        if (!have && value) {
            char buf[4096];
            snprintf(buf, sizeof buf, "%s=%s", name, value);
            json_array_append_new(a, json_string(buf));
        }
    }
    strv_free(env);
    return a;
}

int ctr_oci_config(struct ctr_mgr *m, const struct container *c, const struct ctr_image *img,
                   const char *rootfs, json_t **ret, char *err, size_t err_size)
{
    const struct ctr_spec *s = &c->spec;
    bool caps[ARRAY_SIZE(all_caps)];
    uid_t uid;
    gid_t gid;
    char *home = NULL, *image_root = ctr_image_root(m, img);
    int r = caps_set(s, caps, err, err_size);

    if (r == 0)
        r = resolve_user(image_root ? image_root : rootfs, s->user ? s->user : img->user, &uid,
                         &gid, &home, err, err_size);
    free(image_root);
    if (r < 0)
        return r;

    json_t *args = json_array();
    char *const *ep = s->entrypoint ? s->entrypoint : img->entrypoint;
    char *const *cmd = s->command ? s->command : s->entrypoint ? NULL : img->cmd;
    for (size_t i = 0; ep && ep[i]; i++)
        json_array_append_new(args, json_string(ep[i]));
    for (size_t i = 0; cmd && cmd[i]; i++)
        json_array_append_new(args, json_string(cmd[i]));
    if (json_array_size(args) == 0) {
        json_decref(args);
        free(home);
        return errmsg_fail(err, err_size, -EINVAL, "no command: the image '%s' has none and none "
                      "was given", s->image);
    }
    json_t *capv = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(all_caps); i++)
        if (caps[i]) {
            char name[64];
            snprintf(name, sizeof name, "CAP_%s", all_caps[i]);
            json_array_append_new(capv, json_string(name));
        }
    const char *cwd = s->cwd && *s->cwd ? s->cwd : img->cwd && *img->cwd ? img->cwd : "/";
    json_t *process = json_pack(
        "{s:b, s:{s:i, s:i}, s:{s:I, s:I}, s:o, s:o, s:s, s:{s:O, s:O, s:O, s:[], s:[]}, s:b}",
        "terminal", s->tty, "consoleSize", "height", s->rows ? s->rows : 24, "width",
        s->cols ? s->cols : 80, "user", "uid", (json_int_t)uid, "gid", (json_int_t)gid, "args",
        args, "env", env_json(s, img, home), "cwd", cwd, "capabilities", "bounding", capv,
        "effective", capv, "permitted", capv, "inheritable", "ambient", "noNewPrivileges",
        !s->new_privileges);
    free(home);

    json_t *mounts = json_array();
    r = add_mounts(m, s, mounts, err, err_size);
    json_t *ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "ipc", "type",
                           "uts", "type", "mount");
    if (!s->host_network)
        json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
    json_t *linux_ = json_pack(
        "{s:o, s:o, s:s, s:[sssssssssss], s:[ssssss]}", "namespaces", ns, "resources",
        resources_json(&s->res), "cgroupsPath", c->cgroup, "maskedPaths", "/proc/acpi",
        "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/fs/selinux", "readonlyPaths", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
        "/proc/sysrq-trigger", "/sys/dev");
    if (!s->no_seccomp) {
        json_t *sc = ctr_seccomp_default(capv);
        if (sc)
            json_object_set_new(linux_, "seccomp", sc);
    }
    json_decref(capv);
    json_t *annotations = json_object();
    for (size_t i = 0; s->labels && s->labels[i] && s->labels[i + 1]; i += 2)
        json_object_set_new(annotations, s->labels[i], json_string(s->labels[i + 1]));
    json_t *doc = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o, s:o}", "ociVersion", "1.0.2",
                            "process", process, "root", "path", rootfs, "readonly", s->read_only,
                            "hostname", s->hostname ? s->hostname : s->name, "mounts", mounts,
                            "linux", linux_, "annotations", annotations);
    if (r < 0 || !doc) {
        json_decref(doc);
        return r < 0 ? r : errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    *ret = doc;
    return 0;
}
