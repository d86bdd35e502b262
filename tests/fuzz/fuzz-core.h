/* What the fuzz targets over a face and a real core share: every call authorized (with every
 * scope, or the bits an "x-fuzz-scopes" header names), a host that neither stops, reloads nor
 * upgrades, whether a session still runs, and a state directory emptied after each input. */
#pragma once

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/api.h"
#include "base/time-util.h"

#include "auth/auth.h"
#include "grpc/grpc.h"
#include "session/session.h"

static inline enum grpc_status_code fuzz_authorize(struct grpc_call *call, const char *service,
                                                   const char *method, char *msg, size_t size,
                                                   void *userdata)
{
    const char *v = grpc_call_metadata(call, "x-fuzz-scopes", NULL);
    (void)service, (void)method, (void)msg, (void)size, (void)userdata;

    grpc_call_set_scopes(call,
                         v ? (unsigned)strtoul(v, NULL, 10) & AUTH_SCOPES_ALL : AUTH_SCOPES_ALL);
    grpc_call_set_principal(call, "fuzz");
    return GRPC_OK;
}

static inline void fuzz_no_shutdown(struct api_host *host, const char *why)
{
    (void)host, (void)why;
}

static inline int fuzz_no_reload(struct api_host *host, struct svc_apply_counts *ret, char *err,
                                 size_t err_size)
{
    (void)host, (void)ret;
    snprintf(err, err_size, "no configuration in the fuzzer");
    return -EOPNOTSUPP;
}

static inline void fuzz_no_upgrade(struct api_host *host, const char *binary,
                                   void (*done)(int r, const char *binary, const char *version,
                                                const char *error, void *userdata),
                                   void *userdata)
{
    (void)host;
    done(-EOPNOTSUPP, binary, NULL, "no upgrade in the fuzzer", userdata);
}

/* Limits small enough for an input to reach them: the gRPC server's and the sessions'. */
#define FUZZ_GRPC_LIMITS ((struct grpc_server_limits){16, 32, 8192, 1 << 16, 100})
#define FUZZ_SESS_LIMITS                                                                           \
    ((struct sess_limits){.backlog_bytes = 4096,                                                   \
                          .max_sessions = 8,                                                       \
                          .input_max = 4096,                                                       \
                          .tee_queue = 4,                                                          \
                          .stall_ms = 100})

/* Empty directories made once per process, removed at exit (fuzz_temp_dir). */
static char *fuzz_made_dirs[4] __attribute__((unused));
static size_t fuzz_n_made_dirs __attribute__((unused));

static inline void fuzz_remove_made_dirs(void)
{
    for (size_t i = 0; i < fuzz_n_made_dirs; i++)
        (void)rmdir(fuzz_made_dirs[i]);
}

/* tmpl (ending in XXXXXX) made into an empty directory, the first time; removed at exit. */
static inline const char *fuzz_temp_dir(char *tmpl)
{
    for (size_t i = 0; i < fuzz_n_made_dirs; i++)
        if (fuzz_made_dirs[i] == tmpl)
            return tmpl;
    if (fuzz_n_made_dirs == 4 || !mkdtemp(tmpl))
        abort();
    if (fuzz_n_made_dirs == 0)
        atexit(fuzz_remove_made_dirs);
    fuzz_made_dirs[fuzz_n_made_dirs++] = tmpl;
    return tmpl;
}

/* A host as droverd's, with what every target gives it: the loop, the gRPC server (may be
 * NULL), start times, and hooks that neither stop, reload nor upgrade. The target adds its core
 * (store, services, sessions, ...). */
static inline struct api_host fuzz_host(uv_loop_t *loop, struct grpc_server *srv)
{
    return (struct api_host){.loop = loop,
                             .version = "fuzz",
                             .socket_path = "-",
                             .state_dir = "-",
                             .started_real_ns = now_ns(CLOCK_REALTIME),
                             .started_mono_ns = now_ns(CLOCK_MONOTONIC),
                             .grpc = srv,
                             .metrics_ttl_ms = 1000,
                             .shutdown = fuzz_no_shutdown,
                             .reload = fuzz_no_reload,
                             .upgrade = fuzz_no_upgrade};
}

/* Whether a program of the session manager has not exited yet. */
static inline bool fuzz_any_live(struct sess_mgr *sessions)
{
    for (struct session *s = NULL; (s = sess_next(sessions, s));) {
        struct sess_info si;
        sess_info(s, &si);
        if (!si.exited)
            return true;
    }
    return false;
}

static inline int fuzz_remove_below(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
    (void)st, (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

/* Removes everything in dir, not dir itself. */
static inline void fuzz_empty_dir(const char *dir)
{
    nftw(dir, fuzz_remove_below, 16, FTW_DEPTH | FTW_PHYS);
}
