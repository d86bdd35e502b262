/* Default locations, shared by droverd and the drover CLI so both agree without configuration:
 * XDG directories when set, else the fallbacks in DESIGN.md. Each returns a malloc'd string or
 * NULL on out-of-memory. */
#pragma once

#include <stddef.h>

char *paths_default_socket(void);    /* $XDG_RUNTIME_DIR/drover/drover.sock */
char *paths_default_state_dir(void); /* $XDG_STATE_HOME/drover */
char *paths_default_config(void);    /* $XDG_CONFIG_HOME/drover/drover.yaml */
/* running-process's own locations, for compatibility: the socket in
 * $XDG_RUNTIME_DIR/running-process/ (else /tmp/running-process-$UID/), daemon.sock or
 * daemon-SCOPE.sock; the database in $XDG_STATE_HOME/running-process/ (else
 * ~/.local/state/running-process/), tracked-pids.sqlite3 or tracked-pids-SCOPE.sqlite3. */
char *paths_rp_socket(const char *scope);
char *paths_rp_db(const char *scope);
/* mkdir -p with mode for every directory it creates; an existing last component keeps its mode
 * unless exact_mode is set, in which case it is chmod'ed to mode (only if we own it). */
int paths_mkdir_p(const char *path, unsigned mode, int exact_mode);
/* paths_mkdir_p for the directory path lives in ("a/b/sock" → "a/b"); nothing for a bare name. */
int paths_mkdir_parent(const char *path, unsigned mode, int exact_mode);
/* The program name in the directory this program runs from (/proc/self/exe), into out: 0 when it
 * is there and executable, else -ENOENT (or -ENAMETOOLONG). */
int paths_beside_self(const char *name, char *out, size_t size);
/* Writes path whole or not at all: data to tmp (created with mode), fsync, rename over path. */
int paths_write_atomic(const char *path, const char *tmp, const void *data, size_t len,
                       unsigned mode);
