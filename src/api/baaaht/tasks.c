/* agent.v1's task RPCs: ExecuteTask, StreamTask, CancelTask, ListTasks, GetTaskStatus, on the
 * agent hub's tasks. StreamTask is a watcher of the task's log (its states, output and progress
 * from the start, then its completion) and, for an agent's task, the agent's way to report. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "api/msg.h"
#include "base/strv.h"
#include "base/time-util.h"
#include "base/utf8.h"

static uint64_t ts_in(const Google__Protobuf__Timestamp *t)
{
    return t && t->seconds > 0 ? (uint64_t)t->seconds * 1000000000ull + (uint64_t)t->nanos : 0;
}

static Agent__V1__TaskResult *result_out(struct api_arena *a, const struct ag_task_result *r)
{
    Agent__V1__TaskResult *o = arena_msg(a, &agent__v1__task_result__descriptor);
    o->exit_code = r->exit_code;
    o->output_data.data = r->output;
    o->output_data.len = r->output_len;
    o->output_text = bh_out(r->output_text);
    o->error_text = bh_out(r->error_text);
    o->metadata = (Agent__V1__TaskResult__MetadataEntry **)arena_map_out(
        a, &agent__v1__task_result__metadata_entry__descriptor, r->metadata, &o->n_metadata);
    o->completed_at = arena_ts(a, r->completed_ns);
    o->execution_duration_ns = r->duration_ns;
    return o;
}

static Agent__V1__TaskError *error_out(struct api_arena *a, const struct ag_task_error *e)
{
    Agent__V1__TaskError *o = arena_msg(a, &agent__v1__task_error__descriptor);
    o->code = bh_out(e->code);
    o->message = bh_out(e->message);
    o->details = e->details;
    o->n_details = strv_length(e->details);
    o->stack_trace = bh_out(e->stack_trace);
    o->occurred_at = arena_ts(a, e->at_ns);
    return o;
}

static Agent__V1__Task *task_out(struct api_arena *a, const struct ag_task *t)
{
    struct ag_task_info i;
    ag_task_info(t, &i);
    const struct ag_task_config *c = i.config;
    Agent__V1__Task *o = arena_msg(a, &agent__v1__task__descriptor);
    Agent__V1__TaskConfig *co = arena_msg(a, &agent__v1__task_config__descriptor);
    Agent__V1__TaskConstraints *k = arena_msg(a, &agent__v1__task_constraints__descriptor);
    o->id = (char *)i.id;
    o->name = (char *)i.name;
    o->session_id = (char *)i.session_id;
    o->type = (Agent__V1__TaskType)i.type;
    o->state = (Agent__V1__TaskState)i.state;
    o->priority = (Agent__V1__TaskPriority)i.priority;
    o->created_at = arena_ts(a, i.created_ns);
    o->started_at = arena_ts(a, i.started_ns);
    o->completed_at = arena_ts(a, i.completed_ns);
    o->expires_at = arena_ts(a, i.expires_ns);
    o->progress = i.progress;
    o->agent_id = (char *)i.agent_id;
    co->command = bh_out(c->command);
    co->arguments = c->arguments;
    co->n_arguments = strv_length(c->arguments);
    co->environment = (Agent__V1__TaskConfig__EnvironmentEntry **)arena_map_out(
        a, &agent__v1__task_config__environment_entry__descriptor, c->environment,
        &co->n_environment);
    co->working_directory = bh_out(c->working_directory);
    co->timeout_ns = c->timeout_ns;
    co->max_retries = c->max_retries;
    co->retry_on_failure = c->retry_on_failure;
    co->input_data.data = c->input;
    co->input_data.len = c->input_len;
    co->parameters = (Agent__V1__TaskConfig__ParametersEntry **)arena_map_out(
        a, &agent__v1__task_config__parameters_entry__descriptor, c->parameters, &co->n_parameters);
    k->max_memory_bytes = c->max_memory_bytes;
    k->max_cpu_ns = c->max_cpu_ns;
    k->max_execution_time_ns = c->max_execution_time_ns;
    k->allowed_operations = c->allowed_operations;
    k->n_allowed_operations = strv_length(c->allowed_operations);
    k->denied_operations = c->denied_operations;
    k->n_denied_operations = strv_length(c->denied_operations);
    co->constraints = k;
    o->config = co;
    if (i.result)
        o->result = result_out(a, i.result);
    if (i.error)
        o->error = error_out(a, i.error);
    return o;
}

static struct ag_task *need_task(struct grpc_call *call, struct ag_mgr *m, const char *id)
{
    struct ag_task *t = NULL;
    if (!id || !*id)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "task_id is required");
    else if (!(t = ag_task_find(m, id)))
        grpc_call_finish(call, GRPC_NOT_FOUND, "task not found");
    return t;
}

void bh_execute_task(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__ExecuteTaskRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_task_config c = {0};
    struct ag_task *t;
    char err[AG_ERR_MAX] = "";
    if (!m)
        return;
    if (q->config) {
        const Agent__V1__TaskConfig *x = q->config;
        c = (struct ag_task_config){
            .command = bh_in(x->command),
            .arguments = arena_strv_in(&a, x->arguments, x->n_arguments, true),
            .environment = arena_map_in(&a, (void *const *)x->environment, x->n_environment),
            .working_directory = bh_in(x->working_directory),
            .timeout_ns = x->timeout_ns,
            .max_retries = x->max_retries,
            .retry_on_failure = x->retry_on_failure,
            .input = x->input_data.data,
            .input_len = x->input_data.len,
            .parameters = arena_map_in(&a, (void *const *)x->parameters, x->n_parameters),
        };
        if (x->constraints) {
            c.max_memory_bytes = x->constraints->max_memory_bytes;
            c.max_cpu_ns = x->constraints->max_cpu_ns;
            c.max_execution_time_ns = x->constraints->max_execution_time_ns;
            c.allowed_operations = arena_strv_in(&a, x->constraints->allowed_operations,
                                                 x->constraints->n_allowed_operations, true);
            c.denied_operations = arena_strv_in(&a, x->constraints->denied_operations,
                                                x->constraints->n_denied_operations, true);
        }
    }
    struct ag_task_spec spec = {q->agent_id, q->session_id, (int)q->type, (int)q->priority,
                                q->config ? &c : NULL};
    int r = a.failed ? -ENOMEM : ag_task_execute(m, &spec, &t, err, sizeof err);
    if (r < 0)
        return arena_free(&a), bh_fail(call, r, err);
    Agent__V1__ExecuteTaskResponse *resp =
        arena_msg(&a, &agent__v1__execute_task_response__descriptor);
    resp->task = task_out(&a, t);
    resp->task_id = resp->task->id;
    arena_reply(call, &a, &resp->base);
}

void bh_cancel_task(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__CancelTaskRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct ag_task *t = m ? need_task(call, m, q->task_id) : NULL;
    char err[AG_ERR_MAX] = "";
    bool cancelled;
    if (!t)
        return;
    int r = ag_task_cancel(t, q->reason, q->force, &cancelled, err, sizeof err);
    if (r < 0)
        return bh_fail(call, r, err);
    struct ag_task_info i;
    ag_task_info(t, &i);
    Agent__V1__CancelTaskResponse resp = AGENT__V1__CANCEL_TASK_RESPONSE__INIT;
    resp.task_id = q->task_id;
    resp.state = (Agent__V1__TaskState)i.state;
    resp.cancelled = cancelled;
    grpc_call_reply(call, &resp.base);
}

void bh_list_tasks(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__ListTasksRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_task_filter f = {.agent_id = q->agent_id}; /* "": the tasks droverd runs */
    size_t n = 0, all;
    if (!m)
        return;
    if (q->filter) {
        f.state = (int)q->filter->state;
        f.type = (int)q->filter->type;
        f.priority = (int)q->filter->priority;
        f.session_id = q->filter->session_id;
        f.after_ns = ts_in(q->filter->created_after);
        f.before_ns = ts_in(q->filter->created_before);
    }
    all = ag_tasks_count(m, NULL);
    Agent__V1__ListTasksResponse *resp = arena_msg(&a, &agent__v1__list_tasks_response__descriptor);
    resp->tasks = all ? arena_alloc(&a, all * sizeof *resp->tasks) : NULL;
    for (struct ag_task *t = ag_task_next(m, NULL, &f); t && n < all; t = ag_task_next(m, t, &f))
        resp->tasks[n++] = task_out(&a, t);
    resp->n_tasks = n;
    resp->total_count = (int32_t)n;
    arena_reply(call, &a, &resp->base);
}

void bh_get_task_status(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__GetTaskStatusRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct ag_task *t = m ? need_task(call, m, q->task_id) : NULL;
    struct api_arena a = {0};
    if (!t)
        return;
    Agent__V1__GetTaskStatusResponse *resp =
        arena_msg(&a, &agent__v1__get_task_status_response__descriptor);
    resp->task = task_out(&a, t);
    arena_reply(call, &a, &resp->base);
}

/* ---- StreamTask ---- */

struct task_stream {
    struct grpc_call *call;
    struct ag_mgr *m;
    char id[AG_ID_LEN];
    struct ag_task_watch *w;
};

static const char *const stream_names[] = {"stdout", "stderr"};

static int send_one(struct task_stream *s, const struct ag_task_pull *p)
{
    struct api_arena a = {0};
    Agent__V1__StreamTaskResponse *o = arena_msg(&a, &agent__v1__stream_task_response__descriptor);
    struct ag_task *t = ag_task_find(s->m, s->id);
    switch (p->kind) {
    case AG_PULL_OUTPUT: {
        Agent__V1__TaskOutput *x = arena_msg(&a, &agent__v1__task_output__descriptor);
        x->data.data = (uint8_t *)p->data;
        x->data.len = p->len;
        bool text = true;
        for (size_t i = 0, k; i < p->len && text; i += k)
            text = (k = utf8_seq_len(p->data + i, p->len - i)) > 0;
        if (text) {
            x->text = arena_alloc(&a, p->len + 1);
            memcpy(x->text, p->data, p->len);
        }
        x->stream_type = (char *)stream_names[p->stream ? 1 : 0];
        o->payload_case = AGENT__V1__STREAM_TASK_RESPONSE__PAYLOAD_OUTPUT;
        o->output = x;
        break;
    }
    case AG_PULL_STATUS:
    case AG_PULL_MISSED: {
        Agent__V1__TaskStatusUpdate *x = arena_msg(&a, &agent__v1__task_status_update__descriptor);
        struct ag_task_info i;
        if (t)
            ag_task_info(t, &i);
        x->state = (Agent__V1__TaskState)(p->kind == AG_PULL_STATUS ? p->state
                                          : t                       ? (int)i.state
                                                                    : 0);
        x->message = p->kind == AG_PULL_STATUS
                         ? (char *)p->data
                         : arena_printf(&a, "missed %llu bytes", (unsigned long long)p->missed);
        x->timestamp = arena_ts(&a, now_ns(CLOCK_REALTIME));
        o->payload_case = AGENT__V1__STREAM_TASK_RESPONSE__PAYLOAD_STATUS;
        o->status = x;
        break;
    }
    case AG_PULL_PROGRESS: {
        Agent__V1__TaskProgress *x = arena_msg(&a, &agent__v1__task_progress__descriptor);
        x->percent = p->percent;
        x->message = (char *)p->data;
        o->payload_case = AGENT__V1__STREAM_TASK_RESPONSE__PAYLOAD_PROGRESS;
        o->progress = x;
        break;
    }
    case AG_PULL_COMPLETE: {
        struct ag_task_info i;
        if (!t)
            break;
        ag_task_info(t, &i);
        if (i.error) { /* why it failed, then the completion */
            Agent__V1__StreamTaskResponse e = AGENT__V1__STREAM_TASK_RESPONSE__INIT;
            e.payload_case = AGENT__V1__STREAM_TASK_RESPONSE__PAYLOAD_ERROR;
            e.error = error_out(&a, i.error);
            if (!a.failed)
                (void)grpc_call_send(s->call, &e.base);
        }
        Agent__V1__TaskComplete *x = arena_msg(&a, &agent__v1__task_complete__descriptor);
        x->task_id = (char *)i.id;
        if (i.result)
            x->result = result_out(&a, i.result);
        x->completed_at = arena_ts(&a, i.completed_ns);
        o->payload_case = AGENT__V1__STREAM_TASK_RESPONSE__PAYLOAD_COMPLETE;
        o->complete = x;
        break;
    }
    default:
        break;
    }
    int r = a.failed ? -ENOMEM : o->payload_case ? grpc_call_send(s->call, &o->base) : 0;
    arena_free(&a);
    if (p->kind == AG_PULL_COMPLETE)
        grpc_call_finish(s->call, GRPC_OK, NULL);
    return r;
}

static void pump(struct task_stream *s)
{
    struct ag_task_pull p;
    while (s->w && !grpc_call_finished(s->call) && grpc_call_writable(s->call) &&
           ag_task_pull(s->w, &p) == 1)
        if (send_one(s, &p) < 0)
            return;
}

static void on_ready(void *userdata)
{
    pump(userdata);
}

static void report(struct grpc_call *call, struct task_stream *s,
                   const Agent__V1__StreamTaskRequest *q)
{
    struct ag_task *t = ag_task_find(s->m, s->id);
    struct api_arena a = {0};
    struct ag_task_result res;
    struct ag_task_error er;
    struct ag_task_report r = {0};
    char err[AG_ERR_MAX] = "";
    if (!t)
        return;
    switch (q->payload_case) {
    case AGENT__V1__STREAM_TASK_REQUEST__PAYLOAD_PROGRESS:
        r = (struct ag_task_report){.kind = AG_REPORT_PROGRESS,
                                    .percent = q->progress->percent,
                                    .message = q->progress->message};
        break;
    case AGENT__V1__STREAM_TASK_REQUEST__PAYLOAD_OUTPUT:
        r = (struct ag_task_report){.kind = AG_REPORT_OUTPUT,
                                    .data = q->output->data.data,
                                    .len = q->output->data.len,
                                    .stream = !strcmp(q->output->stream_type, "stderr")};
        break;
    case AGENT__V1__STREAM_TASK_REQUEST__PAYLOAD_STATUS:
        r = (struct ag_task_report){.kind = AG_REPORT_STATUS,
                                    .state = (int)q->status->state,
                                    .message = q->status->message};
        break;
    case AGENT__V1__STREAM_TASK_REQUEST__PAYLOAD_COMPLETE: {
        const Agent__V1__TaskResult *x = q->complete->result;
        r = (struct ag_task_report){.kind = AG_REPORT_COMPLETE, .result = x ? &res : NULL};
        if (x)
            res = (struct ag_task_result){
                .exit_code = x->exit_code,
                .output = x->output_data.data,
                .output_len = x->output_data.len,
                .output_text = bh_in(x->output_text),
                .error_text = bh_in(x->error_text),
                .metadata = arena_map_in(&a, (void *const *)x->metadata, x->n_metadata),
                .completed_ns = ts_in(x->completed_at),
                .duration_ns = x->execution_duration_ns};
        break;
    }
    default: { /* ERROR_MSG */
        const Agent__V1__TaskError *x = q->error_msg;
        er = (struct ag_task_error){.code = bh_in(x->code),
                                    .message = bh_in(x->message),
                                    .details = arena_strv_in(&a, x->details, x->n_details, true),
                                    .stack_trace = bh_in(x->stack_trace),
                                    .at_ns = ts_in(x->occurred_at)};
        r = (struct ag_task_report){.kind = AG_REPORT_ERROR, .error = &er};
        break;
    }
    }
    int x = a.failed ? -ENOMEM : ag_task_report(t, &r, err, sizeof err);
    arena_free(&a);
    if (x < 0 && x != -ESTALE) /* a late report is dropped */
        bh_fail(call, x, err);
}

void bh_stream_task(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__StreamTaskRequest *q = (const void *)msg;
    struct ag_mgr *m = grpc_call_finished(call) ? NULL : bh_hub(call);
    struct task_stream *s = m ? bh_call_state(call, sizeof *s) : NULL;
    char err[AG_ERR_MAX] = "";
    if (!s)
        return;
    s->m = m;
    if (q->payload_case == AGENT__V1__STREAM_TASK_REQUEST__PAYLOAD_HEARTBEAT) {
        Agent__V1__StreamTaskResponse o = AGENT__V1__STREAM_TASK_RESPONSE__INIT;
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
        o.payload_case = AGENT__V1__STREAM_TASK_RESPONSE__PAYLOAD_HEARTBEAT;
        o.heartbeat = &e;
        (void)grpc_call_send(call, &o.base);
        return;
    }
    if (!s->w) {
        if (!*q->task_id)
            return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                    "first message must contain task_id");
        struct ag_task *t = ag_task_find(m, q->task_id);
        if (!t)
            return grpc_call_finish(call, GRPC_NOT_FOUND, "task not found");
        struct ag_task_info ti;
        ag_task_info(t, &ti);
        if (bh_own_token(call) && !*ti.agent_id)
            return grpc_call_finish(call, GRPC_PERMISSION_DENIED,
                                    "an agent's token reaches its own tasks only");
        if (!bh_agent_allowed(call, m, ti.agent_id))
            return;
        snprintf(s->id, sizeof s->id, "%s", q->task_id);
        if (ag_task_watch(t, on_ready, s, &s->w) < 0)
            return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        (void)grpc_call_send_headers(call);
    }
    struct ag_task *t = ag_task_find(m, s->id);
    if (!t)
        return;
    switch (q->payload_case) {
    case AGENT__V1__STREAM_TASK_REQUEST__PAYLOAD__NOT_SET:
        break;
    case AGENT__V1__STREAM_TASK_REQUEST__PAYLOAD_INPUT: {
        bool eof = false;
        for (size_t i = 0; i < q->input->n_metadata; i++)
            eof |= !strcmp(q->input->metadata[i]->key, "eof") &&
                   !strcmp(q->input->metadata[i]->value, "true");
        int r = ag_task_input(t, q->input->data.data, q->input->data.len, eof, err, sizeof err);
        if (r < 0 && r != -ESTALE)
            return bh_fail(call, r, err);
        break;
    }
    case AGENT__V1__STREAM_TASK_REQUEST__PAYLOAD_CANCEL: {
        bool cancelled;
        (void)ag_task_cancel(t, q->cancel->reason, q->cancel->force, &cancelled, err, sizeof err);
        break; /* the stream ends with the completion */
    }
    default:
        report(call, s, q);
        break;
    }
    pump(s);
}

void bh_stream_task_ready(struct grpc_call *call)
{
    struct task_stream *s = grpc_call_get_data(call);
    if (s)
        pump(s);
}

void bh_stream_task_half_close(struct grpc_call *call)
{
    struct task_stream *s = grpc_call_get_data(call);
    if (!s || !s->w) /* never bound: nothing to watch */
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "first message must contain task_id");
    /* else: the stream ends with the task's completion */
}

void bh_stream_task_close(struct grpc_call *call)
{
    struct task_stream *s = grpc_call_get_data(call);
    if (!s)
        return;
    ag_task_unwatch(s->w);
    free(s);
    grpc_call_set_data(call, NULL);
}
