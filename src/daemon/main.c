/* droverd's entry point: the descriptor limit raised (children get the one we were given),
 * command line, configuration, then the daemon object.
 * Flags mirror configuration keys (state_dir is --state-dir), so a new setting needs no code
 * here. Exit codes: 0 after a graceful stop, 1 on a runtime or configuration error, 2 on a
 * usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "daemon/compat.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/upgrade.h"
#include "proc/proc.h"

#define MAX_FLAGS 64

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: droverd [OPTION]...\n"
        "The drover process supervisor daemon. Runs in the foreground.\n\n"
        "  -c, --config FILE         read FILE on top of the built-in configuration\n"
        "                            (default: $XDG_CONFIG_HOME/drover/drover.yaml if present)\n");
    for (size_t i = 0; config_option_at(i); i++) {
        const struct config_option *o = config_option_at(i);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s VALUE", o->key);
        for (char *p = flag; *p; p++)
            *p = *p == '_' ? '-' : *p;
        fprintf(f, "      %-24s %s\n", flag, o->help);
    }
    fprintf(f, "      --check-upgrade       load the configuration and the database's schema as a\n"
               "                            start would, print the version and exit (drover\n"
               "                            upgrade runs the new binary so before executing it)\n"
               "  -h, --help                show this help and exit\n"
               "  -V, --version             show the version and exit\n\n"
               "Every option can also be set in the YAML file under the same name with '_'.\n");
}

/* Splits "--name=value" or "--name value"; returns the index of the next argument, or -1. */
static int take_value(int argc, char **argv, int i, const char *arg, const char **ret)
{
    const char *eq = strchr(arg, '=');

    if (eq) {
        *ret = eq + 1;
        return i + 1;
    }
    if (i + 1 >= argc)
        return -1;
    *ret = argv[i + 1];
    return i + 2;
}

/* A supervisor holds a descriptor for every connection, child pipe and log it follows: it takes
 * all the hard limit allows, and its children get the soft limit it was given (proc_spawn). */
static void raise_nofile(void)
{
    struct rlimit old, now;
    int r = proc_raise_nofile(&old, &now);

    if (r < 0)
        log_warning_errno(r, "cannot raise the descriptor limit: %s", strerror(-r));
    else if (now.rlim_cur != old.rlim_cur)
        log_debug("descriptor limit raised from %llu to %llu; children get %llu",
                  (unsigned long long)old.rlim_cur, (unsigned long long)now.rlim_cur,
                  (unsigned long long)old.rlim_cur);
}

int main(int argc, char **argv)
{
    static struct config_flag flags[MAX_FLAGS];
    size_t n_flags = 0;
    const char *config_path = NULL;
    const char *base = strrchr(argv[0], '/');
    bool check_upgrade = false;

    raise_nofile();
    /* Installed (or linked) as running-process-daemon: speak its command line. */
    if (!strcmp(base ? base + 1 : argv[0], "running-process-daemon"))
        return compat_main(argc, argv);
    log_set_ident("droverd");
    for (int i = 1; i < argc;) {
        const char *a = argv[i], *value = NULL;
        char name[64];

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("droverd %s\n", DROVER_VERSION);
            return 0;
        }
        if (!strcmp(a, "--check-upgrade")) {
            check_upgrade = true;
            i++;
            continue;
        }
        if (!strcmp(a, "-c"))
            a = "--config";
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "droverd: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
        snprintf(name, sizeof name, "%.*s", (int)strcspn(a + 2, "="), a + 2);
        const struct config_option *o = config_option_find(name);
        if (!o && strcmp(name, "config") != 0) {
            fprintf(stderr, "droverd: unknown option '--%s' (see --help)\n", name);
            return 2;
        }
        /* A switch given bare is on: --grpc-tcp-plaintext-remote. */
        if (o && o->type == CONFIG_BOOL && !strchr(a, '='))
            value = "true", i++;
        else
            i = take_value(argc, argv, i, a, &value);
        if (i < 0) {
            fprintf(stderr, "droverd: option '--%s' needs a value\n", name);
            return 2;
        }
        if (!o)
            config_path = value;
        else if (n_flags < MAX_FLAGS)
            flags[n_flags++] = (struct config_flag){o, value};
    }

    if (check_upgrade)
        return upgrade_check_main(config_path, flags, n_flags);
    return daemon_main(config_path, flags, n_flags, NULL);
}
