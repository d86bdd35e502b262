/* Tasks and agents (see agents.h): which worker takes a task droverd was given without an
 * agent, the TASK_REQUEST pushed over an agent's stream, the pending tasks a heartbeat hands
 * out, and what an agent reports of its task (StreamTask's payloads, TASK_UPDATE messages).
 * The task's life itself is task.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents/agents-internal.h"
#include "base/errmsg.h"
#include "base/strv.h"

static const char *type_word(int type)
{
    static const char *const w[] = {"unspecified",     "code_execution",  "file_operation",
                                    "network_request", "data_processing", "container_operation",
                                    "tool_execution",  "custom"};
    return type >= 0 && (size_t)type < sizeof w / sizeof *w ? w[type] : "unspecified";
}

/* ---- an agent's ---- */

void ag_task_push(struct ag_task *t)
{
    struct ag_agent *a = ag_agent_find(t->m, t->agent_id);
    char mid[AG_ID_LEN];
    if (!a || !a->ops)
        return; /* it finds it in its heartbeat's pending tasks */
    ag_new_id(mid);
    struct ag_amsg am = {
        .id = mid,
        .type = AG_AMSG_TASK_REQUEST,
        .ts_ns = ag_now_ns(),
        .source_id = "orchestrator",
        .target_id = a->id,
        .payload = AG_PAY_TASK,
        .task = {.task_id = t->id, .session_id = t->session_id, .state = t->state},
        .correlation_id = t->id,
        .session_id = t->session_id,
    };
    (void)a->ops->deliver(a->ops_data, &am);
}

/* A live worker with a stream that takes this type: the least busy, then the lowest id. */
struct ag_agent *ag_task_worker_for(struct ag_mgr *m, int type)
{
    const char *want = type_word(type);
    struct ag_agent *best = NULL;
    size_t best_load = 0;
    for (struct ag_agent *a = m->agents; a; a = a->link.next) {
        bool takes = false;
        if (!a->ops || a->state == AG_AGENT_TERMINATED || a->spec.type != 3 /* WORKER */)
            continue;
        for (char **s = a->spec.supported_tasks; s && *s && !takes; s++)
            takes = !strcasecmp(*s, want);
        if (!takes)
            continue;
        size_t load = 0;
        for (struct ag_task *t = m->tasks.first; t; t = t->link.next)
            load += !strcmp(t->agent_id, a->id) && !ag_task_state_final(t->state);
        if (!best || load < best_load || (load == best_load && strcmp(a->id, best->id) < 0))
            best = a, best_load = load;
    }
    return best;
}

int ag_task_report(struct ag_task *t, const struct ag_task_report *r, char *err, size_t err_size)
{
    if (!t->agent_id[0])
        return errmsg_fail(err, err_size, -EPERM, "task %s is run by droverd, not an agent", t->id);
    if (ag_task_state_final(t->state))
        return errmsg_fail(err, err_size, -ESTALE, "task has ended");
    switch (r->kind) {
    case AG_REPORT_PROGRESS:
        t->progress = r->percent;
        ag_tlog_add(t, AG_PULL_PROGRESS, 0, r->percent, r->message ? r->message : "",
                    r->message ? strlen(r->message) : 0);
        break;
    case AG_REPORT_OUTPUT:
        if (r->stream == 0)
            ag_task_keep_bytes((char **)&t->result.output, &t->result.output_len, &t->cap_out,
                               r->data, r->len);
        ag_tlog_add(t, AG_PULL_OUTPUT, r->stream, 0, r->data, r->len);
        break;
    case AG_REPORT_STATUS:
        if (r->state < AG_TASK_PENDING || r->state > AG_TASK_TIMEOUT)
            return errmsg_fail(err, err_size, -EINVAL, "unknown task state %d", r->state);
        ag_task_set_state(t, (enum ag_task_state)r->state, r->message);
        if (ag_task_state_final(t->state))
            ag_task_close_log(t);
        break;
    case AG_REPORT_COMPLETE:
        if (r->result) {
            struct ag_task_result res;
            if (ag_task_result_copy(&res, r->result) < 0)
                return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
            if (!res.output_len) { /* what it reported as output stands for it */
                res.output = t->result.output;
                res.output_len = t->result.output_len;
                t->result.output = NULL;
            }
            ag_task_result_done(&t->result);
            t->result = res;
        }
        t->has_result = true;
        if (!t->result.completed_ns)
            t->result.completed_ns = ag_now_ns();
        if (t->result.exit_code)
            ag_task_set_error(t, "exit", "exited with code %d", t->result.exit_code);
        ag_task_set_state(t, t->result.exit_code ? AG_TASK_FAILED : AG_TASK_COMPLETED, "completed");
        ag_task_close_log(t);
        break;
    case AG_REPORT_ERROR: {
        struct ag_task_error e;
        if (ag_task_error_copy(&e, r->error) < 0)
            return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
        ag_task_error_done(&t->error);
        t->error = e;
        if (!t->error.at_ns)
            t->error.at_ns = ag_now_ns();
        t->has_error = true;
        ag_task_set_state(t, AG_TASK_FAILED, t->error.message);
        ag_task_close_log(t);
        break;
    }
    }
    return 0;
}

bool ag_tasks_agent_busy(const struct ag_mgr *m, const char *agent_id)
{
    for (const struct ag_task *t = m->tasks.first; t; t = t->link.next)
        if (!ag_task_state_final(t->state) && !strcmp(t->agent_id, agent_id))
            return true;
    return false;
}

int ag_agent_take_pending(struct ag_mgr *m, const char *agent_id, char ***ret)
{
    char **v = NULL;
    size_t n = 0;
    for (struct ag_task *t = m->tasks.first; t; t = t->link.next) {
        if (t->state != AG_TASK_PENDING || t->handed_out || strcmp(t->agent_id, agent_id))
            continue;
        if (strv_push(&v, &n, strdup(t->id)) < 0) {
            strv_free(v);
            return -ENOMEM;
        }
        t->handed_out = true;
        ag_task_set_state(t, AG_TASK_QUEUED, "handed out");
    }
    *ret = v;
    return 0;
}

void ag_tasks_agent_update(struct ag_agent *a, const struct ag_amsg *msg)
{
    struct ag_task *t = ag_task_find(a->m, msg->task.task_id);
    char err[AG_ERR_MAX];
    if (!t || strcmp(t->agent_id, a->id))
        return;
    if (msg->task.progress > 0) {
        struct ag_task_report r = {.kind = AG_REPORT_PROGRESS,
                                   .percent = msg->task.progress,
                                   .message = msg->task.status_message};
        (void)ag_task_report(t, &r, err, sizeof err);
    }
    if (msg->task.output_len) {
        struct ag_task_report r = {
            .kind = AG_REPORT_OUTPUT, .data = msg->task.output, .len = msg->task.output_len};
        (void)ag_task_report(t, &r, err, sizeof err);
    }
    if (msg->task.state && msg->task.state != (int)t->state) {
        struct ag_task_report r = {.kind = AG_REPORT_STATUS,
                                   .state = msg->task.state,
                                   .message = msg->task.status_message};
        (void)ag_task_report(t, &r, err, sizeof err);
    }
}

void ag_tasks_agent_gone(struct ag_mgr *m, const char *agent_id, const char *code,
                         const char *message)
{
    for (struct ag_task *t = m->tasks.first, *next; t; t = next) {
        next = t->link.next;
        if (ag_task_state_final(t->state) || strcmp(t->agent_id, agent_id))
            continue;
        ag_task_set_error(t, code, "%s", message);
        ag_task_set_state(t, AG_TASK_FAILED, message);
        ag_task_close_log(t);
    }
}
