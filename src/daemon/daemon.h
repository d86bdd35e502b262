/* droverd as an object: the loop, the doors, the faces and their lifecycle. main.c parses the
 * command line and the configuration; everything after that happens here. */
#pragma once

#include "daemon/config.h"

struct daemon;

/* Takes over cfg (left zeroed); flags are kept to re-apply them on SIGHUP. */
int daemon_new(struct config *cfg, const struct config_flag *flags, size_t n_flags,
               struct daemon **ret);
/* Creates the directories, takes the socket, installs signal handlers and reports readiness.
 * Logs why it failed. */
int daemon_start(struct daemon *d);
/* A stop that had to SIGKILL something (a kill_timeout or shutdown_grace_ms ran out, or, as
 * PID 1, a process left in the namespace ignored SIGTERM). */
#define EXIT_FORCED 3

/* Serves until shut down; returns the process exit code: 0 after a clean stop, EXIT_FORCED, or
 * 1 (a second stop signal, an error). */
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);
/* Loads the configuration (files, then flags; flags must outlive the daemon: SIGHUP re-applies
 * them), then sets up, starts and runs droverd; returns the exit code. scope is the
 * running-process scope reported by STATUS (NULL: global). */
int daemon_main(const char *config_path, const struct config_flag *flags, size_t n_flags,
                const char *scope);
