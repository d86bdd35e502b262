/* Tasks as rows (kind 'task' in `agents`: a JSON document, bytes in base64) and the deep copies
 * of their parts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents-internal.h"
#include "base/base64.h"
#include "base/log.h"
#include "base/strv.h"

void ag_task_config_done(struct ag_task_config *c)
{
    free(c->command);
    strv_free(c->arguments);
    strv_free(c->environment);
    free(c->working_directory);
    free(c->input);
    strv_free(c->parameters);
    strv_free(c->allowed_operations);
    strv_free(c->denied_operations);
    *c = (struct ag_task_config){0};
}

static int dup_bytes(uint8_t **dst, const uint8_t *src, size_t n)
{
    *dst = NULL;
    if (!n)
        return 0;
    if (!(*dst = malloc(n)))
        return -ENOMEM;
    memcpy(*dst, src, n);
    return 0;
}

int ag_task_config_copy(struct ag_task_config *d, const struct ag_task_config *s)
{
    *d = *s;
    d->command = d->working_directory = NULL;
    d->arguments = d->environment = d->parameters = d->allowed_operations = d->denied_operations =
        NULL;
    d->input = NULL;
    int r = ag_dup_s(&d->command, s->command) | ag_dup_v(&d->arguments, s->arguments) |
            ag_dup_v(&d->environment, s->environment) |
            ag_dup_s(&d->working_directory, s->working_directory) |
            dup_bytes(&d->input, s->input, s->input_len) | ag_dup_v(&d->parameters, s->parameters) |
            ag_dup_v(&d->allowed_operations, s->allowed_operations) |
            ag_dup_v(&d->denied_operations, s->denied_operations);
    if (r)
        ag_task_config_done(d);
    return r ? -ENOMEM : 0;
}

void ag_task_result_done(struct ag_task_result *r)
{
    free(r->output);
    free(r->output_text);
    free(r->error_text);
    strv_free(r->metadata);
    *r = (struct ag_task_result){0};
}

int ag_task_result_copy(struct ag_task_result *d, const struct ag_task_result *s)
{
    *d = *s;
    d->output = NULL;
    d->output_text = d->error_text = NULL;
    d->metadata = NULL;
    int r = dup_bytes(&d->output, s->output, s->output_len) |
            ag_dup_s(&d->output_text, s->output_text) | ag_dup_s(&d->error_text, s->error_text) |
            ag_dup_v(&d->metadata, s->metadata);
    if (r)
        ag_task_result_done(d);
    return r ? -ENOMEM : 0;
}

void ag_task_error_done(struct ag_task_error *e)
{
    free(e->code);
    free(e->message);
    strv_free(e->details);
    free(e->stack_trace);
    *e = (struct ag_task_error){0};
}

int ag_task_error_copy(struct ag_task_error *d, const struct ag_task_error *s)
{
    *d = *s;
    d->code = d->message = d->stack_trace = NULL;
    d->details = NULL;
    int r = ag_dup_s(&d->code, s->code) | ag_dup_s(&d->message, s->message) |
            ag_dup_v(&d->details, s->details) | ag_dup_s(&d->stack_trace, s->stack_trace);
    if (r)
        ag_task_error_done(d);
    return r ? -ENOMEM : 0;
}

/* ---- JSON ---- */

static json_t *b64(const uint8_t *p, size_t n)
{
    char *s = malloc(base64_encoded_len(n) + 1);
    json_t *j;
    if (!s)
        return json_null();
    base64_encode(p, n, s);
    j = json_string(s);
    free(s);
    return j;
}

static uint8_t *unb64(json_t *j, size_t *ret_len)
{
    const char *s = json_string_value(j);
    size_t n = s ? strlen(s) : 0;
    uint8_t *out = n ? malloc(base64_decoded_max(n)) : NULL;
    long len = out ? base64_decode(s, n, out) : -1;
    if (len <= 0) {
        free(out);
        *ret_len = 0;
        return NULL;
    }
    *ret_len = (size_t)len;
    return out;
}

json_t *ag_task_json(const struct ag_task *t)
{
    const struct ag_task_config *c = &t->config;
    const struct ag_task_result *r = &t->result;
    const struct ag_task_error *e = &t->error;
    json_t *j = json_pack(
        "{s:s, s:s, s:s?, s:s?, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:f, s:b,"
        " s:{s:s?, s:o, s:o, s:s?, s:I, s:I, s:b, s:o, s:o, s:I, s:I, s:I, s:o, s:o}}",
        "id", t->id, "agent_id", t->agent_id, "name", t->name, "session_id", t->session_id, "type",
        t->type, "priority", t->priority, "state", t->state, "created_ns",
        (json_int_t)t->created_ns, "started_ns", (json_int_t)t->started_ns, "completed_ns",
        (json_int_t)t->completed_ns, "expires_ns", (json_int_t)t->expires_ns, "progress",
        t->progress, "handed_out", t->handed_out, "config", "command", c->command, "arguments",
        ag_json_strv(c->arguments), "environment", ag_json_strv(c->environment),
        "working_directory", c->working_directory, "timeout_ns", (json_int_t)c->timeout_ns,
        "max_retries", (json_int_t)c->max_retries, "retry_on_failure", c->retry_on_failure, "input",
        b64(c->input, c->input_len), "parameters", ag_json_strv(c->parameters), "max_memory_bytes",
        (json_int_t)c->max_memory_bytes, "max_cpu_ns", (json_int_t)c->max_cpu_ns,
        "max_execution_time_ns", (json_int_t)c->max_execution_time_ns, "allowed_operations",
        ag_json_strv(c->allowed_operations), "denied_operations",
        ag_json_strv(c->denied_operations));
    if (j && t->has_result)
        json_object_set_new(
            j, "result",
            json_pack("{s:i, s:o, s:s?, s:s?, s:o, s:I, s:I}", "exit_code", r->exit_code, "output",
                      b64(r->output, r->output_len), "output_text", r->output_text, "error_text",
                      r->error_text, "metadata", ag_json_strv(r->metadata), "completed_ns",
                      (json_int_t)r->completed_ns, "duration_ns", (json_int_t)r->duration_ns));
    if (j && t->has_error)
        json_object_set_new(j, "error",
                            json_pack("{s:s?, s:s?, s:o, s:s?, s:I}", "code", e->code, "message",
                                      e->message, "details", ag_json_strv(e->details),
                                      "stack_trace", e->stack_trace, "at_ns",
                                      (json_int_t)e->at_ns));
    return j;
}

#define V(o, k) ag_strv_json(json_object_get(o, k))

int ag_task_load(struct ag_mgr *m, json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *agent = json_string_value(json_object_get(j, "agent_id"));
    json_t *c = json_object_get(j, "config"), *r = json_object_get(j, "result"),
           *e = json_object_get(j, "error");
    if (!id || strlen(id) != AG_ID_LEN - 1 || !agent || strlen(agent) >= AG_ID_LEN)
        return 0;
    struct ag_task *t = calloc(1, sizeof *t);
    if (!t || !(t->timer = malloc(sizeof *t->timer))) {
        free(t);
        return -ENOMEM;
    }
    t->m = m;
    memcpy(t->id, id, AG_ID_LEN);
    snprintf(t->agent_id, sizeof t->agent_id, "%s", agent);
    t->name = ag_json_str(j, "name");
    t->session_id = ag_json_str(j, "session_id");
    t->type = (int)AG_JI64(j, "type");
    t->priority = (int)AG_JI64(j, "priority");
    t->state = (enum ag_task_state)AG_JI64(j, "state");
    t->created_ns = (uint64_t)AG_JI64(j, "created_ns");
    t->started_ns = (uint64_t)AG_JI64(j, "started_ns");
    t->completed_ns = (uint64_t)AG_JI64(j, "completed_ns");
    t->expires_ns = (uint64_t)AG_JI64(j, "expires_ns");
    t->progress = json_real_value(json_object_get(j, "progress"));
    t->handed_out = json_is_true(json_object_get(j, "handed_out"));
    t->config = (struct ag_task_config){
        .command = ag_json_str(c, "command"),
        .arguments = V(c, "arguments"),
        .environment = V(c, "environment"),
        .working_directory = ag_json_str(c, "working_directory"),
        .timeout_ns = AG_JI64(c, "timeout_ns"),
        .max_retries = AG_JI64(c, "max_retries"),
        .retry_on_failure = json_is_true(json_object_get(c, "retry_on_failure")),
        .parameters = V(c, "parameters"),
        .max_memory_bytes = AG_JI64(c, "max_memory_bytes"),
        .max_cpu_ns = AG_JI64(c, "max_cpu_ns"),
        .max_execution_time_ns = AG_JI64(c, "max_execution_time_ns"),
        .allowed_operations = V(c, "allowed_operations"),
        .denied_operations = V(c, "denied_operations"),
    };
    t->config.input = unb64(json_object_get(c, "input"), &t->config.input_len);
    if (json_is_object(r)) {
        t->has_result = true;
        t->result = (struct ag_task_result){
            .exit_code = (int32_t)AG_JI64(r, "exit_code"),
            .output_text = ag_json_str(r, "output_text"),
            .error_text = ag_json_str(r, "error_text"),
            .metadata = V(r, "metadata"),
            .completed_ns = (uint64_t)AG_JI64(r, "completed_ns"),
            .duration_ns = AG_JI64(r, "duration_ns"),
        };
        t->result.output = unb64(json_object_get(r, "output"), &t->result.output_len);
    }
    if (json_is_object(e)) {
        t->has_error = true;
        t->error = (struct ag_task_error){.code = ag_json_str(e, "code"),
                                          .message = ag_json_str(e, "message"),
                                          .details = V(e, "details"),
                                          .stack_trace = ag_json_str(e, "stack_trace"),
                                          .at_ns = (uint64_t)AG_JI64(e, "at_ns")};
    }
    uv_timer_init(m->loop, t->timer);
    t->timer->data = t;
    t->closed = ag_task_state_final(t->state);
    DQUEUE_APPEND(&m->tasks, t, link);
    m->n_tasks++;
    if (!t->closed && !t->agent_id[0]) { /* its program went with the droverd that ran it */
        t->has_error = true;
        ag_task_error_done(&t->error);
        t->error.code = strdup("lost");
        t->error.message = strdup("droverd stopped while the task ran");
        t->error.at_ns = ag_now_ns();
        t->state = AG_TASK_FAILED;
        t->completed_ns = t->error.at_ns;
        t->closed = true;
        (void)ag_db_put_doc(m, "task", t->id, ag_task_json(t), false);
        log_info("task %s was running when droverd stopped: failed", t->id);
    }
    m->n_ended += t->closed;
    return 0;
}
