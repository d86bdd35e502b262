/* Environments for children, built in droverd before the fork (the child may only call
 * async-signal-safe functions, so everything is ready-made "NAME=value" strings).
 *
 * A policy gives the starting point: INHERIT copies droverd's environment, CLEAR starts empty,
 * USER_BASELINE rebuilds what a login would give (USER, LOGNAME, HOME, SHELL from the passwd entry,
 * a standard PATH) and carries over the locale, TZ, TMPDIR and XDG_RUNTIME_DIR (dropping the last
 * puts a client and its daemon on different sockets). Requests then layer their entries in order;
 * setting a name again replaces its value in place, so the last one wins. */
#include "proc/proc.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/vec.h"

#define BASELINE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool name_matches(const char *entry, const char *name, size_t nlen)
{
    return strncmp(entry, name, nlen) == 0 && entry[nlen] == '=';
}

static ssize_t find(const struct proc_env *e, const char *name, size_t nlen)
{
    for (size_t i = 0; i < e->n; i++)
        if (name_matches(e->v[i], name, nlen))
            return (ssize_t)i;
    return -1;
}

/* Adds or replaces an entry made of name (nlen bytes) and value. */
static int put(struct proc_env *e, const char *name, size_t nlen, const char *value)
{
    size_t vlen = strlen(value);
    char *s;

    if (nlen == 0 || memchr(name, '=', nlen))
        return -EINVAL;
    if (!(s = malloc(nlen + 1 + vlen + 1))) /* not asprintf: every spawn copies the whole env */
        return -ENOMEM;
    memcpy(s, name, nlen);
    s[nlen] = '=';
    memcpy(s + nlen + 1, value, vlen + 1);
    ssize_t i = find(e, name, nlen);
    if (i >= 0) {
        free(e->v[i]);
        e->v[i] = s;
        return 0;
    }
    if (VEC_RESERVE(e->v, e->cap, e->n + 2) < 0) {
        free(s);
        return -ENOMEM;
    }
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return 0;
}

int proc_env_set(struct proc_env *e, const char *name, const char *value)
{
    return put(e, name, strlen(name), value);
}

int proc_env_unset(struct proc_env *e, const char *name)
{
    ssize_t i = find(e, name, strlen(name));
    if (i < 0)
        return 0;
    free(e->v[i]);
    memmove(&e->v[i], &e->v[i + 1], (e->n - (size_t)i) * sizeof *e->v); /* terminator too */
    e->n--;
    return 0;
}

const char *proc_env_get(const struct proc_env *e, const char *name)
{
    size_t nlen = strlen(name);
    ssize_t i = find(e, name, nlen);
    return i >= 0 ? e->v[i] + nlen + 1 : NULL;
}

/* Copies "NAME=value" entries from base for which keep() says yes. */
static int copy_from(struct proc_env *e, char *const *base, bool (*keep)(const char *entry))
{
    for (size_t i = 0; base && base[i]; i++) {
        const char *eq = strchr(base[i], '=');
        if (!eq || eq == base[i] || (keep && !keep(base[i])))
            continue;
        int r = put(e, base[i], (size_t)(eq - base[i]), eq + 1);
        if (r < 0)
            return r;
    }
    return 0;
}

static bool baseline_keeps(const char *entry)
{
    static const char *const names[] = {"LANG", "LANGUAGE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (name_matches(entry, names[i], strlen(names[i])))
            return true;
    return strncmp(entry, "LC_", 3) == 0;
}

static int user_baseline(struct proc_env *e, char *const *base)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int r;

    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) != 0 || !res)
        return -ENOENT;
    if ((r = proc_env_set(e, "USER", pw.pw_name)) < 0 ||
        (r = proc_env_set(e, "LOGNAME", pw.pw_name)) < 0 ||
        (r = proc_env_set(e, "HOME", pw.pw_dir)) < 0 ||
        (r = proc_env_set(e, "SHELL", pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh")) < 0 ||
        (r = proc_env_set(e, "PATH", BASELINE_PATH)) < 0)
        return r;
    return copy_from(e, base, baseline_keeps);
}

int proc_env_init(struct proc_env *e, enum proc_env_policy policy, char *const *base)
{
    int r = 0;

    *e = (struct proc_env){0};
    e->v = calloc(16, sizeof *e->v);
    if (!e->v)
        return -ENOMEM;
    e->cap = 16;
    switch (policy) {
    case PROC_ENV_INHERIT:
        r = copy_from(e, base, NULL);
        break;
    case PROC_ENV_USER_BASELINE:
        r = user_baseline(e, base);
        break;
    case PROC_ENV_CLEAR:
        break;
    default:
        r = -EINVAL;
    }
    if (r < 0)
        proc_env_done(e);
    return r;
}

void proc_env_done(struct proc_env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
    *e = (struct proc_env){0};
}
