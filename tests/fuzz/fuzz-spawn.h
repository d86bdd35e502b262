/* Nothing an input names runs, for the targets linked with -Wl,--wrap=sess_spawn (include in one
 * file of such a target): every session's program is /bin/true in "/", with every other option
 * as asked (pipes, environment, limits, input), so sessions' real lives (spawn, output, exit,
 * cancel, timeout) are exercised. */
#pragma once

#include "session/session.h"

int __real_sess_spawn(struct sess_mgr *m, const struct sess_spawn *o, struct session **ret);
int __wrap_sess_spawn(struct sess_mgr *m, const struct sess_spawn *o, struct session **ret);

int __wrap_sess_spawn(struct sess_mgr *m, const struct sess_spawn *o, struct session **ret)
{
    static char *const argv[] = {"/bin/true", NULL};
    struct sess_spawn safe = *o;

    safe.argv = argv;
    safe.cwd = "/";
    return __real_sess_spawn(m, &safe, ret);
}
