/* Bringing the services back when droverd starts: each row of the services table is reconciled
 * with what runs now, and nothing a row says is rewritten before that.
 *
 * A row records what the user wants (wanted) apart from what the service was doing (state, pid,
 * start time, tree group). The instance a row records is adopted when it still runs (same pid,
 * same start time, still in its group): droverd crashing or being killed restarts no service. A
 * row wanted up whose instance is gone is started once every row is in (dependencies are found in
 * any order); a row wanted down whose instance still runs (droverd died during a stop) is
 * stopped. Processes that run in a dead droverd's tree groups and that no row claims (spawned
 * but not yet recorded when droverd died) are killed afterwards by the daemon
 * (proc_reaper_kill_strays). */
#include <errno.h>
#include <signal.h>

#include "proc/proc.h"
#include "supervise/supervise-internal.h"

int svc_restore(struct svc_engine *e, const struct svc_db_row *row, struct svc **ret,
                bool *ret_start)
{
    struct svc *s;
    int r = svc_add(e, row->id, &row->cfg, &s);

    if (r < 0)
        return r;
    /* What the row remembers of the past carries over; the state is found again. */
    s->st.restarts = row->st.restarts;
    s->st.last_started_at = row->st.last_started_at;
    s->st.last_exited_at = row->st.last_exited_at;
    s->st.last_exit = row->st.last_exit;
    *ret = s;
    *ret_start = false;
    if (row->st.pid > 1) {
        r = svc_adopt(s, &row->st, *row->cgroup ? row->cgroup : NULL);
        if (r == -EXDEV) {
            /* The recorded process runs, but outside its group: not a tree droverd can keep
             * whole. It goes, rather than run beside a new one. */
            (void)kill(-row->st.pid, SIGKILL);
            (void)kill(row->st.pid, SIGKILL);
        } else if (r >= 0) {
            if (!row->st.wanted)
                svc_stop(s); /* droverd died during its stop: finish it */
            return 0;
        }
    }
    *ret_start = row->st.wanted;
    return 0;
}
