/* How a runner is launched: its argv from the command templates and its environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/strv.h"
#include "proc/proc.h"
#include "runner/runner-internal.h"

/* ---- launching ---- */

/* s with {placeholders} expanded into out; false when one it names is empty (the argument is
 * dropped then) or unknown placeholders are kept as they are. */
static bool expand(const struct rn_runner *r, const struct rn_project *p, const char *s, char *out,
                   size_t size)
{
    char temp[32] = "", maxt[16] = "";
    size_t o = 0;
    bool empty = false;

    if (r->has_temperature)
        snprintf(temp, sizeof temp, "%g", r->temperature);
    if (r->has_max_tokens)
        snprintf(maxt, sizeof maxt, "%d", r->max_tokens);
    const char *names[][2] = {
        {"project_path", p->path},  {"project_name", p->name}, {"runner_id", r->id},
        {"session_id", r->conv_id}, {"model", r->model},       {"temperature", temp},
        {"max_tokens", maxt},
    };
    while (*s && o + 1 < size) {
        const char *v = NULL;
        size_t nl = 0;
        if (*s == '{')
            for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                nl = strlen(names[i][0]);
                if (strncmp(s + 1, names[i][0], nl) == 0 && s[1 + nl] == '}') {
                    v = names[i][1];
                    break;
                }
            }
        if (!v) {
            out[o++] = *s++;
            continue;
        }
        empty |= !*v;
        o += (size_t)snprintf(out + o, size - o, "%s", v);
        o = MIN(o, size - 1);
        s += nl + 2;
    }
    out[o] = '\0';
    return !empty;
}

static char *const default_command[] = {"claude", "--project", "{project_path}", NULL};
static char *const default_continue[] = {"--continue", NULL};
static char *const default_resume[] = {"--resume", "{session_id}", NULL};

static int add_args(char ***v, size_t *n, const struct rn_runner *r, const struct rn_project *p,
                    char *const *args, bool literal)
{
    char buf[4096];
    for (size_t i = 0; args && args[i]; i++) {
        if (!literal && (!expand(r, p, args[i], buf, sizeof buf) || !buf[0]))
            continue; /* an empty placeholder, or an empty argument ("" disables a default) */
        if (strv_push(v, n, strdup(literal ? args[i] : buf)) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* The argv: the command (the request's, the project's, the daemon's), the flags, and the
 * conversation mode's arguments. */
int rn_build_argv(struct rn_mgr *m, struct rn_runner *r, const struct rn_project *p,
                  char *const *asked, char ***ret)
{
    char **v = NULL;
    size_t n = 0;
    char *const *cmd = asked && asked[0]   ? asked
                       : p->launch.command ? p->launch.command
                       : m->command        ? m->command
                                           : default_command;
    char *const *mode_args =
        r->mode == RN_MODE_CONTINUE
            ? (p->launch.continue_args ? p->launch.continue_args : default_continue)
        : r->mode == RN_MODE_RESUME
            ? (p->launch.resume_args ? p->launch.resume_args : default_resume)
            : NULL;
    if (add_args(&v, &n, r, p, cmd, false) < 0 || add_args(&v, &n, r, p, p->launch.flags, true) ||
        add_args(&v, &n, r, p, r->flags, true) < 0 || add_args(&v, &n, r, p, mode_args, false)) {
        strv_free(v);
        return -ENOMEM;
    }
    if (!v || !v[0]) {
        strv_free(v);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

int rn_build_env(struct rn_mgr *m, struct rn_runner *r, const struct rn_project *p,
                 struct proc_env *e)
{
    extern char **environ;
    char num[32];
    int x = proc_env_init(e, PROC_ENV_USER_BASELINE, environ);

    if (x < 0)
        return x;
    if (!p->launch.use_pipes)
        x |= proc_env_set(e, "TERM", "xterm-256color");
    for (size_t i = 0; p->launch.env && p->launch.env[i] && p->launch.env[i + 1]; i += 2)
        x |= proc_env_set(e, p->launch.env[i], p->launch.env[i + 1]);
    for (size_t i = 0; r->env && r->env[i] && r->env[i + 1]; i += 2)
        x |= proc_env_set(e, r->env[i], r->env[i + 1]);
    x |= proc_env_set(e, "STRATAVORE_RUNNER_ID", r->id);
    x |= proc_env_set(e, "STRATAVORE_PROJECT_NAME", p->name);
    x |= proc_env_set(e, "STRATAVORE_PROJECT_PATH", p->path);
    x |= proc_env_set(e, "STRATAVORE_SESSION_ID", r->conv_id);
    x |= proc_env_set(e, "STRATAVORE_CONVERSATION_MODE",
                      r->mode == RN_MODE_CONTINUE ? "continue"
                      : r->mode == RN_MODE_RESUME ? "resume"
                                                  : "new");
    if (r->model && *r->model)
        x |= proc_env_set(e, "STRATAVORE_MODEL", r->model);
    if (r->has_temperature) {
        snprintf(num, sizeof num, "%g", r->temperature);
        x |= proc_env_set(e, "STRATAVORE_TEMPERATURE", num);
    }
    if (r->has_max_tokens) {
        snprintf(num, sizeof num, "%d", r->max_tokens);
        x |= proc_env_set(e, "STRATAVORE_MAX_TOKENS", num);
    }
    if (m->socket_path)
        x |= proc_env_set(e, "STRATAVORE_API_SOCKET", m->socket_path);
    x |= proc_env_set(e, "STRATAVORE_RUNNER_TOKEN", r->token);
    snprintf(num, sizeof num, "%u", m->heartbeat_s);
    x |= proc_env_set(e, "STRATAVORE_HEARTBEAT_INTERVAL", num);
    if (x) {
        proc_env_done(e);
        return -ENOMEM;
    }
    return 0;
}
