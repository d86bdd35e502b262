/* drover startup [--user]: droverd started at boot (or at login) by systemd, as `pm2 startup`
 * does for pm2. It writes droverd.service (deploy/systemd/, compiled in) with the droverd that
 * sits beside this drover (else the first on PATH), then runs `systemctl daemon-reload` and
 * `systemctl enable --now droverd.service`, --user for a user's own droverd. --print shows the
 * unit and does nothing; --no-enable writes it only. No daemon is needed for this command. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/paths.h"
#include "cli/cli.h"

extern const unsigned char drover_unit_system[], drover_unit_user[];
extern const size_t drover_unit_system_len, drover_unit_user_len;

#define UNIT_NAME "droverd.service"

struct startup_args {
    bool user, print, no_enable;
    const char *unit_dir; /* --unit-dir, or NULL: systemd's own */
};

static const struct cli_option startup_opts[] = {
    {"--user", NULL, "a unit for this user's systemd (droverd at login, or at boot with linger)"},
    {"--unit-dir", "DIR",
     "write the unit there (default: /etc/systemd/system, or with --user "
     "$XDG_CONFIG_HOME/systemd/user)"},
    {"--no-enable", NULL, "only write the unit: no systemctl"},
    {"--print", NULL, "print the unit and do nothing else"},
    {0},
};

static int startup_option(void *ctx, const struct cli_option *o, const char *value)
{
    struct startup_args *a = ctx;
    if (!strcmp(o->name, "--user"))
        a->user = true;
    else if (!strcmp(o->name, "--no-enable"))
        a->no_enable = true;
    else if (!strcmp(o->name, "--print"))
        a->print = true;
    else
        a->unit_dir = value;
    return 0;
}

/* droverd beside this program (an install puts both in one bindir), else the first on PATH. */
static int find_droverd(char out[PATH_MAX])
{
    if (paths_beside_self("droverd", out, PATH_MAX) == 0)
        return 0;
    const char *path = getenv("PATH");
    for (const char *p = path; p && *p;) {
        size_t len = strcspn(p, ":");
        if (len && snprintf(out, PATH_MAX, "%.*s/droverd", (int)len, p) < PATH_MAX &&
            out[0] == '/' && access(out, X_OK) == 0)
            return 0;
        p += len + (p[len] == ':');
    }
    return -ENOENT;
}

/* The unit's text with @DROVERD@ replaced; NULL when out of memory. */
static char *unit_text(bool user, const char *droverd)
{
    const char *t = (const char *)(user ? drover_unit_user : drover_unit_system);
    size_t len = user ? drover_unit_user_len : drover_unit_system_len;
    const char *mark = "@DROVERD@", *at = memmem(t, len, mark, strlen(mark));
    char *s;
    if (!at)
        return NULL;
    int r = asprintf(&s, "%.*s%s%.*s", (int)(at - t), t, droverd,
                     (int)(len - (size_t)(at - t) - strlen(mark)), at + strlen(mark));
    return r < 0 ? NULL : s;
}

/* Writes text to dir/droverd.service, whole or not at all (0644). */
static int write_unit(const char *dir, const char *text, char path[PATH_MAX])
{
    char tmp[PATH_MAX];
    if (snprintf(path, PATH_MAX, "%s/" UNIT_NAME, dir) >= PATH_MAX ||
        snprintf(tmp, sizeof tmp, "%s/." UNIT_NAME ".tmp", dir) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int r = paths_mkdir_p(dir, 0755, 0);
    return r < 0 ? r : paths_write_atomic(path, tmp, text, strlen(text), 0644);
}

/* Runs systemctl [--user] ARGS..., its output passed through; its exit status, or -errno. */
static int systemctl(bool user, const char *a, const char *b, const char *c)
{
    const char *argv[6] = {"systemctl"}, **p = argv + 1;
    if (user)
        *p++ = "--user";
    *p++ = a;
    if (b)
        *p++ = b;
    if (c)
        *p++ = c;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO); /* what it says goes with our messages */
        execvp("systemctl", (char **)argv);
        fprintf(stderr, "drover: cannot run systemctl: %s\n", strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int cmd_startup(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    struct startup_args a = {0};
    char droverd[PATH_MAX], path[PATH_MAX], dir[PATH_MAX];
    int i = cli_parse(cli, self, argc, argv, 0, startup_opts, startup_option, &a), r;

    if (i < 0)
        return cli_exit_code(i);
    if (find_droverd(droverd) < 0) {
        cli_error("startup: no droverd beside this drover nor on PATH");
        return 1;
    }
    char *text = unit_text(a.user, droverd);
    if (!text) {
        cli_error("startup: out of memory");
        return 1;
    }
    if (a.print) {
        fputs(text, stdout);
        free(text);
        return 0;
    }
    if (a.unit_dir) {
        snprintf(dir, sizeof dir, "%s", a.unit_dir);
    } else if (a.user) {
        const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        if (cfg && *cfg == '/')
            snprintf(dir, sizeof dir, "%s/systemd/user", cfg);
        else
            snprintf(dir, sizeof dir, "%s/.config/systemd/user", home ? home : "");
    } else {
        snprintf(dir, sizeof dir, "/etc/systemd/system");
        if (geteuid() != 0) {
            free(text);
            cli_error("startup: a unit for the whole machine needs root: sudo drover startup "
                      "(or drover startup --user for your own droverd)");
            return 1;
        }
    }
    r = write_unit(dir, text, path);
    free(text);
    if (r < 0) {
        cli_error("startup: cannot write %s/" UNIT_NAME ": %s", dir, strerror(-r));
        return 1;
    }
    int reload = 0, enable = 0;
    if (!a.no_enable) {
        reload = systemctl(a.user, "daemon-reload", NULL, NULL);
        enable = reload == 0 ? systemctl(a.user, "enable", "--now", UNIT_NAME) : -1;
    }
    bool ok = a.no_enable || (reload == 0 && enable == 0);
    if (cli->json) {
        cli_print_json(json_pack("{s:s, s:s, s:b, s:b}", "unit", path, "droverd", droverd, "user",
                                 a.user, "enabled", !a.no_enable && ok));
    } else {
        printf("wrote %s (droverd: %s)\n", path, droverd);
        if (a.no_enable)
            printf("enable it with: systemctl%s enable --now " UNIT_NAME "\n",
                   a.user ? " --user" : "");
        else if (ok)
            printf("enabled and started: systemctl%s status " UNIT_NAME "\n",
                   a.user ? " --user" : "");
        if (ok && a.user)
            printf("to keep it running without a login: loginctl enable-linger %s\n",
                   getenv("USER") ? getenv("USER") : "$USER");
    }
    if (!ok)
        cli_error("startup: systemctl%s %s failed (exit %d); the unit is written",
                  a.user ? " --user" : "", reload ? "daemon-reload" : "enable --now",
                  reload ? reload : enable);
    return ok ? 0 : 1;
}
