/* A task's log: its states, output and progress in order, 1 MiB at most (the oldest entries go
 * first, their output bytes counted as missed by the watchers that had not read them). A
 * watcher is a position in the log, not a queue: it pulls while its transport takes more. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents-internal.h"

static void wake(struct ag_task *t)
{
    for (struct ag_task_watch *w = t->watches, *next; w; w = next) {
        next = w->link.next;
        if (!w->done)
            w->ready(w->userdata);
    }
}

static void drop_first(struct ag_task *t)
{
    struct ag_titem *it = t->log_first;
    for (struct ag_task_watch *w = t->watches; w; w = w->link.next)
        if (w->next == it) {
            w->next = it->next;
            if (it->kind == AG_PULL_OUTPUT)
                w->missed += it->len;
        }
    if (it->kind == AG_PULL_OUTPUT)
        t->log_dropped += it->len;
    t->log_first = it->next;
    if (!t->log_first)
        t->log_last = NULL;
    t->log_bytes -= it->len + sizeof *it;
    free(it);
}

void ag_tlog_add(struct ag_task *t, enum ag_pull_kind kind, int a, double percent, const void *data,
                 size_t len)
{
    if (len > AG_TASK_LOG_MAX / 2) /* one write that large: its tail is what matters */
        data = (const uint8_t *)data + (len - AG_TASK_LOG_MAX / 2), len = AG_TASK_LOG_MAX / 2;
    struct ag_titem *it = malloc(sizeof *it + len + 1);
    if (!it)
        return;
    *it = (struct ag_titem){.kind = kind, .a = a, .percent = percent, .len = len};
    if (len)
        memcpy(it->data, data, len);
    it->data[len] = '\0';
    t->log_bytes += len + sizeof *it;
    while (t->log_first && t->log_bytes > AG_TASK_LOG_MAX)
        drop_first(t);
    if (t->log_last)
        t->log_last->next = it;
    else
        t->log_first = it;
    t->log_last = it;
    for (struct ag_task_watch *w = t->watches; w; w = w->link.next)
        if (!w->next && !w->done)
            w->next = it; /* it was waiting at the end */
    wake(t);
}

void ag_tlog_close(struct ag_task *t)
{
    t->closed = true;
    wake(t);
}

void ag_tlog_free(struct ag_task *t)
{
    while (t->log_first)
        drop_first(t);
    t->log_dropped = 0;
}

int ag_task_watch(struct ag_task *t, void (*ready)(void *userdata), void *userdata,
                  struct ag_task_watch **ret)
{
    struct ag_task_watch *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->t = t;
    w->next = t->log_first;
    w->missed = t->log_dropped;
    w->ready = ready;
    w->userdata = userdata;
    DLIST_PREPEND(&t->watches, w, link);
    *ret = w;
    return 0;
}

int ag_task_pull(struct ag_task_watch *w, struct ag_task_pull *ret)
{
    *ret = (struct ag_task_pull){0};
    if (w->done)
        return 0;
    if (w->missed) {
        ret->kind = AG_PULL_MISSED;
        ret->missed = w->missed;
        w->missed = 0;
        return 1;
    }
    struct ag_titem *it = w->next;
    if (!it) {
        if (!w->t->closed)
            return 0;
        w->done = true;
        ret->kind = AG_PULL_COMPLETE;
        return 1;
    }
    w->next = it->next;
    ret->kind = it->kind;
    ret->state = it->kind == AG_PULL_STATUS ? it->a : 0;
    ret->stream = it->kind == AG_PULL_OUTPUT ? it->a : 0;
    ret->percent = it->percent;
    ret->data = it->data;
    ret->len = it->len;
    return 1;
}

void ag_task_unwatch(struct ag_task_watch *w)
{
    if (!w)
        return;
    struct ag_task *t = w->t;
    DLIST_REMOVE(w, link);
    free(w);
    if (t && !t->watches && t->sess && !t->config.input_len && !ag_task_state_final(t->state))
        ag_task_input(t, NULL, 0, true, NULL, 0); /* its last watcher left: no more input */
    if (t && !t->watches && t->log_unwanted) {
        t->log_unwanted = false;
        ag_tlog_free(t);
    }
}
