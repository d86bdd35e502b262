/* A hub for agents that call in (baaaht's model, served by api/baaaht/): conversations with
 * owners, labels, expiry and idle timers and a message history; agents that register, heartbeat
 * and hold a stream; messages routed to an agent by correlation id; tasks. (Stratavore's
 * runners, in runner/, are programs droverd launches; these programs call in.)
 *
 * A conversation is what baaaht calls a session ("session" is taken by drover's PTYs). Its
 * states and their numbers are baaaht's orchestrator.v1 SessionState, its status common.v1's
 * Status, so a face maps them one to one. Rows are written before memory changes (a client is
 * never told yes about what a crash would forget); what droverd does on its own (idle,
 * expiry) is written as it can. Changes are published on the event bus.
 *
 * Errors are -errno with a sentence in err (upstream's words where it has them):
 *   -EINVAL   a bad value                 -ENOENT  no such conversation
 *   -ESTALE   closed (FAILED_PRECONDITION) -EDQUOT  max_conversations reached
 *   -ENOSPC   the state disk is full */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct store;
struct ev_bus;
struct ag_mgr;
struct ag_conv;

#define AG_ERR_MAX 256
#define AG_ID_LEN  33 /* 32 hex digits */

enum ag_state {
    AG_INITIALIZING = 1,
    AG_ACTIVE = 2,
    AG_IDLE = 3,
    AG_CLOSING = 4,
    AG_CLOSED = 5,
};
const char *ag_state_word(enum ag_state s); /* "active" */

enum ag_status { /* common.v1 Status */
                 AG_ST_UNKNOWN = 1,
                 AG_ST_STARTING = 2,
                 AG_ST_RUNNING = 3,
                 AG_ST_STOPPING = 4,
                 AG_ST_STOPPED = 5,
                 AG_ST_ERROR = 6,
                 AG_ST_TERMINATED = 7,
};

enum ag_role { AG_USER = 1, AG_SYSTEM = 2, AG_ASSISTANT = 3, AG_TOOL = 4 };
const char *ag_role_word(int role); /* "user" */
/* A new id: 32 random lowercase hex digits (baaaht's form for every id a server makes). */
void ag_new_id(char id[AG_ID_LEN]);

/* Maps are NULL-terminated vectors of alternating keys and values. All owned (ag_*_done). */
struct ag_limits {
    int64_t nano_cpus, memory_bytes, memory_swap, pids_limit;
};

struct ag_meta {
    char *name, *description, *owner_id;
    char **labels; /* map */
    char **tags;
};

struct ag_config {
    int32_t max_containers;
    int64_t max_duration_ns, idle_timeout_ns;
    struct ag_limits limits;
    char **allowed_images;
    bool allow_network, allow_volume_mount, require_approval;
    char **allowed_networks, **allowed_paths;
};

struct ag_prefs {
    char *timezone, *language, *theme;
    bool notifications;
};

#define AG_MSG_ID_LEN 65 /* a client's own message ids may be longer (UUIDs): 64 bytes kept */

struct ag_msg {
    char id[AG_MSG_ID_LEN]; /* "" on input: one is made */
    uint64_t ts_ns;         /* 0 on input: now */
    int role;               /* enum ag_role (0 accepted as is) */
    char *content;
    char *container_id, *tool_name, *tool_call_id;
    char **extra;                 /* map */
    char reply_to[AG_MSG_ID_LEN]; /* an assistant's reply: the user message it answers */
};
void ag_msg_done(struct ag_msg *m);

struct ag_conv_info {
    const char *id;
    enum ag_state state;
    enum ag_status status;
    uint64_t created_ns, updated_ns, expires_ns, closed_ns; /* 0: none */
    const struct ag_meta *meta;
    const struct ag_config *config;
    const struct ag_prefs *prefs;
    const char *current_task_id;
    char *const *task_history, *const *container_ids;
};

/* The newest messages of a conversation (history_in_reply at most), oldest first. */
struct ag_history {
    const struct ag_msg *msgs;
    size_t n;
    struct ag_msg *owned; /* read from the store (a closed conversation's), else NULL */
    size_t cap;
};

struct ag_filter {
    enum ag_state state;   /* 0: any */
    enum ag_status status; /* 0: any */
    const char *owner_id;  /* NULL or "": any */
    char *const *labels;   /* every pair must match; NULL: any */
};

/* ---- agents ---- */

enum ag_agent_state { /* agent.v1 AgentState */
                      AG_AGENT_IDLE = 3,
                      AG_AGENT_BUSY = 4,
                      AG_AGENT_TERMINATED = 6,
};

/* What an agent says of itself at Register. Owned (ag_agent_spec_done). */
struct ag_agent_spec {
    char *name;
    int type; /* agent.v1 AgentType */
    char *version, *description, *owner_id, *hostname, *pid;
    char **labels; /* map */
    char **tags;
    char **supported_tasks, **supported_tools, **supported_protocols;
    int32_t max_concurrent_tasks;
    struct ag_limits limits;
    bool supports_streaming, supports_cancellation;
};
void ag_agent_spec_done(struct ag_agent_spec *s);

struct ag_agent;
struct ag_agent_info {
    const char *id;
    enum ag_agent_state state;
    enum ag_status status;
    uint64_t registered_ns, heartbeat_ns;
    const struct ag_agent_spec *spec;
    bool streaming; /* it holds a stream (StreamAgent) */
};

/* A new agent (IDLE); -EINVAL "name is required". */
int ag_agent_register(struct ag_mgr *m, const struct ag_agent_spec *spec, struct ag_agent **ret,
                      char *err, size_t err_size);
/* Its TTL starts again; *ret_ns is now; *ret_pending (may be NULL; the caller frees it) the
 * ids of its tasks not handed out yet, which become QUEUED. -EINVAL "agent_id is required",
 * -ENOENT "agent not found" (unknown or terminated: it registers again). */
int ag_agent_heartbeat(struct ag_mgr *m, const char *id, uint64_t *ret_ns, char ***ret_pending,
                       char *err, size_t err_size);
int ag_agent_unregister(struct ag_mgr *m, const char *id, const char *reason, char *err,
                        size_t err_size);
/* By id (terminated ones too), and every one, newest first. */
struct ag_agent *ag_agent_find(struct ag_mgr *m, const char *id);
struct ag_agent *ag_agent_next(struct ag_mgr *m, struct ag_agent *prev);
void ag_agent_info(const struct ag_agent *a, struct ag_agent_info *ret);
/* Agents kept, and (*ret_live) not terminated. */
size_t ag_agents_count(const struct ag_mgr *m, size_t *ret_live);

struct ag_settings {
    uint32_t max_conversations; /* open (not CLOSED) at once; 0: 100 */
    uint64_t idle_timeout_ns;   /* ACTIVE to IDLE after this quiet; 0: 10 min */
    uint32_t history_in_reply;  /* messages a conversation shows; 0: 1000 */
    uint32_t message_max_bytes; /* content; 0: 1 MiB */
    uint32_t closed_keep;       /* closed ones kept; 0: 1000 */
    uint64_t agent_ttl_ns;      /* an agent silent this long is terminated; 0: 90 s */
    uint64_t route_timeout_ns;  /* a routed message's reply must come by then; 0: 30 s */
    uint32_t routes_max;        /* replies one agent may owe at once; 0: 1024 */
};

int ag_mgr_new(uv_loop_t *loop, struct store *store, struct ev_bus *bus,
               const struct ag_settings *set, struct ag_mgr **ret, char *err, size_t err_size);
/* Loads conversations and their newest messages; ACTIVE ones come back IDLE (nobody streams),
 * CLOSING ones finish closing, expiry is checked at once. */
int ag_mgr_restore(struct ag_mgr *m);
/* droverd stops: the tasks it runs are stopped (SIGTERM, SIGKILL 3 s later; FAILED "lost"),
 * done runs once every one has exited (and so let go of its container, if it had one). */
void ag_mgr_shutdown(struct ag_mgr *m, void (*done)(void *userdata), void *userdata);
void ag_mgr_free(struct ag_mgr *m);
/* Open conversations (not CLOSED), and all. */
size_t ag_mgr_count(const struct ag_mgr *m, size_t *ret_all);

/* ---- conversations ---- */

int ag_conv_create(struct ag_mgr *m, const struct ag_meta *meta, const struct ag_config *config,
                   struct ag_conv **ret, char *err, size_t err_size);
struct ag_conv *ag_conv_find(struct ag_mgr *m, const char *id);
/* Creation order; with a filter, only those that match. */
struct ag_conv *ag_conv_next(struct ag_mgr *m, struct ag_conv *prev, const struct ag_filter *f);
void ag_conv_info(const struct ag_conv *c, struct ag_conv_info *ret);
/* c's history into *ret: an open conversation's lent from memory (valid until c changes), a
 * closed one's read from the store. ag_history_done() in both cases; -errno. */
int ag_conv_history(const struct ag_conv *c, struct ag_history *ret);
void ag_history_done(struct ag_history *h);
/* Replaces the metadata (and, with prefs non-NULL, the preferences). -ESTALE when closed. */
int ag_conv_update(struct ag_conv *c, const struct ag_meta *meta, const struct ag_prefs *prefs,
                   char *err, size_t err_size);
/* Closes (stops its containers, cancels its tasks: the owners of those hear of it through the
 * bus); idempotent: a closed one answers 0 and publishes nothing. */
int ag_conv_close(struct ag_conv *c, const char *reason, char *err, size_t err_size);
/* Appends a message (written first, then kept): its id and time filled in when empty, an IDLE
 * conversation becomes ACTIVE. -ESTALE when closed. */
int ag_conv_append(struct ag_conv *c, const struct ag_msg *msg, struct ag_msg *ret, char *err,
                   size_t err_size);
/* Whether a stream may be bound to it (ACTIVE or IDLE, not expired); -ENOENT/-ESTALE with
 * upstream's words otherwise. */
int ag_conv_check_live(struct ag_mgr *m, const char *id, struct ag_conv **ret, char *err,
                       size_t err_size);

/* ---- routing (route.c) ----
 *
 * A user message said into a conversation goes to its assistant: the live agent with a bound
 * stream whose name is "assistant" or whose label role is "assistant" (case aside; the lowest
 * id of those). It is stored, sent as a DATA message carrying a new correlation id, and its
 * reply awaited for route_timeout. The reply (a DATA or ERROR message of that agent, with the
 * correlation and the conversation's id) becomes an ASSISTANT message, stored with reply_to
 * set, and goes to every subscriber of the conversation; past the timeout, or when the agent's
 * stream goes, the text "Timed out waiting for assistant response." does instead. */

/* agent.v1 AgentMessage as plain C; every pointer is borrowed for the call. */
enum ag_amsg_type {
    AG_AMSG_TASK_REQUEST = 1,
    AG_AMSG_TASK_RESPONSE = 2,
    AG_AMSG_TASK_UPDATE = 3,
    AG_AMSG_CONTROL = 4,
    AG_AMSG_DATA = 5,
    AG_AMSG_EVENT = 6,
    AG_AMSG_HEARTBEAT = 7,
    AG_AMSG_ERROR = 8,
};
enum ag_payload {
    AG_PAY_NONE = 0,
    AG_PAY_TASK = 6,
    AG_PAY_CONTROL = 7,
    AG_PAY_DATA = 8,
    AG_PAY_EVENT = 9
};
struct ag_amsg {
    const char *id, *source_id, *target_id;
    int type; /* enum ag_amsg_type */
    uint64_t ts_ns;
    int payload; /* enum ag_payload: which of the next four is set */
    struct {
        const char *task_id, *session_id, *status_message;
        int state;
        double progress;
        const uint8_t *output;
        size_t output_len;
    } task;
    struct {
        int command;
        char *const *params; /* map */
    } control;
    struct {
        const char *content_type;
        const uint8_t *data;
        size_t len;
        char *const *headers; /* map */
    } data;
    struct {
        const char *event_type, *source;
        char *const *data; /* map */
    } event;
    const char *correlation_id, *session_id; /* its metadata */
    char *const *headers;                    /* map */
    int priority;
};

/* A stream an agent holds (StreamAgent). */
struct ag_agent_ops {
    /* A message for the agent; < 0 when its stream cannot take it now (full or gone). */
    int (*deliver)(void *userdata, const struct ag_amsg *msg);
    /* The binding is over: a newer stream replaced it, or the agent was terminated or
     * unregistered. The stream ends (UNAVAILABLE, why); ag_agent_unbind is not needed. */
    void (*ended)(void *userdata, const char *why);
};
/* Binds a stream to a live agent (one per agent: an older one ends). -ENOENT "agent not
 * found". */
int ag_agent_bind(struct ag_mgr *m, const char *id, const struct ag_agent_ops *ops, void *userdata,
                  struct ag_agent **ret, char *err, size_t err_size);
/* The stream went: the replies it owed end as timeouts. A no-op when userdata is not bound. */
void ag_agent_unbind(struct ag_agent *a, void *userdata);
/* Something the agent sent on its stream (NULL: a heartbeat): it counts as a heartbeat; a
 * reply is routed. */
void ag_agent_receive(struct ag_agent *a, const struct ag_amsg *msg);
/* A message for a live agent (SendMessage): -ENOENT "agent not found", -ENOTCONN "agent has no
 * stream", -ENOBUFS when its stream is full. */
int ag_agent_send(struct ag_mgr *m, const char *id, const struct ag_amsg *msg, char *err,
                  size_t err_size);

/* A stream on a conversation (StreamMessages). */
struct ag_conv_ops {
    void (*message)(void *userdata, const struct ag_msg *msg); /* a reply */
    /* A message could not be routed: r and why as ag_conv_say returned them. */
    void (*failed)(void *userdata, int r, const char *why);
    void (*heartbeat)(void *userdata);
    /* The conversation closed: the subscription is gone (no unsubscribe needed). */
    void (*closed)(void *userdata, const char *reason);
};
struct ag_conv_sub;
int ag_conv_subscribe(struct ag_conv *c, const struct ag_conv_ops *ops, void *userdata,
                      struct ag_conv_sub **ret);
void ag_conv_unsubscribe(struct ag_conv_sub *s);
/* A heartbeat to every subscriber of the conversation. */
void ag_conv_heartbeat(struct ag_conv *c);
/* Says a message into the conversation: a USER one is routed (above), others appended. Every
 * subscriber hears of a failure too. *ret: the stored message (borrowed).
 * -ENOENT "assistant agent not found", -ENOBUFS "assistant agent is overloaded", -ENOBUFS when
 * its stream is full, and ag_conv_append's errors. */
int ag_conv_say(struct ag_conv *c, const struct ag_msg *msg, struct ag_msg *ret, char *err,
                size_t err_size);

/* Waits for the reply to a user message: fn hears it (at once if it is there), or NULL with
 * why when none will come (the conversation closed). Once fn ran the wait is over.
 * -ENOENT "message not found: <id>", -ENOTCONN "message <id> was not routed to the assistant". */
struct ag_wait;
int ag_conv_wait_reply(struct ag_conv *c, const char *user_msg_id,
                       void (*fn)(void *userdata, const struct ag_msg *reply, const char *why),
                       void *userdata, struct ag_wait **ret, char *err, size_t err_size);
void ag_conv_unwait(struct ag_wait *w);
/* The newest user message that has or awaits a reply; NULL if none. */
const struct ag_msg *ag_conv_last_routed(const struct ag_conv *c);

/* ---- gateway sessions (gateway.c) ----
 *
 * A client's handle on a conversation of its own (baaaht's gateway sessions): created with one,
 * which takes its name, description, labels and tags, its user as owner, its timeout as
 * max_duration and its idle timeout. Its state and status are the conversation's. Closing it
 * closes the conversation and removes the handle; a conversation closed otherwise leaves it
 * CLOSED until the conversation itself is dropped. Messages said through it are checked against
 * its max_message_size and then said into the conversation (ag_conv_say). Rows, as
 * conversations. */
struct ag_gw;
struct ag_gw_meta {
    char *name, *description, *user_id, *client_type, *client_version;
    char **labels; /* map */
    char **tags;
};
struct ag_gw_config {
    int64_t timeout_ns, idle_timeout_ns;
    bool enable_streaming;
    int32_t max_message_size;
    int64_t chunk_size, chunk_delay_ns; /* how replies are streamed (StreamChat) */
    bool enable_delta;
    bool require_auth, enable_encryption;
    char **allowed_origins;
};
struct ag_gw_info {
    const char *id, *conv_id;
    struct ag_conv *conv; /* NULL once dropped (then CLOSED) */
    enum ag_state state;
    enum ag_status status;
    uint64_t created_ns, updated_ns, expires_ns, closed_ns;
    const struct ag_gw_meta *meta;
    const struct ag_gw_config *config;
};
struct ag_gw_filter {
    enum ag_state state;
    enum ag_status status;
    const char *user_id;
    char *const *labels;
};
int ag_gw_create(struct ag_mgr *m, const struct ag_gw_meta *meta, const struct ag_gw_config *config,
                 struct ag_gw **ret, char *err, size_t err_size);
struct ag_gw *ag_gw_find(struct ag_mgr *m, const char *id);
struct ag_gw *ag_gw_next(struct ag_mgr *m, struct ag_gw *prev, const struct ag_gw_filter *f);
void ag_gw_info(const struct ag_gw *g, struct ag_gw_info *ret);
/* Closes its conversation and removes it (g is gone on return). */
int ag_gw_close(struct ag_gw *g, const char *reason, char *err, size_t err_size);
/* ag_conv_say through it: -EINVAL past max_message_size, -ESTALE once its conversation went. */
int ag_gw_say(struct ag_gw *g, const struct ag_msg *msg, struct ag_msg *ret, char *err,
              size_t err_size);
/* Gateway sessions kept, and (*ret_open) whose conversation is ACTIVE or IDLE. */
size_t ag_gw_count(const struct ag_mgr *m, size_t *ret_open);
void ag_gw_meta_done(struct ag_gw_meta *m);
void ag_gw_config_done(struct ag_gw_config *c);

/* ---- tasks (task.c, tasklog.c) ----
 *
 * A task runs on an agent or on droverd. With an agent named it is that agent's: pushed over
 * its stream (a TASK_REQUEST message) and listed in its heartbeats' pending tasks, then driven
 * by what the agent reports (ag_task_report). With none named, a live worker with a stream
 * that lists the task's type among its supported tasks takes it (the least busy, then the
 * lowest id); failing that droverd runs it itself: the command and its arguments as a pipe
 * session (stdout and stderr apart), its environment added to droverd's baseline, its limits
 * (memory on its tree, CPU time as RLIMIT_CPU), its timeout (TIMEOUT: SIGTERM to the tree,
 * SIGKILL 3 s later). Exit 0 is COMPLETED, anything else FAILED; the result holds the exit
 * code and the first 1 MiB of each output stream. What a task did (its states, output and
 * progress) is a log of its own, 1 MiB, that watchers (StreamTask) read from the start: a
 * watcher that comes after the end still sees everything, then the completion. A task said to
 * belong to a conversation is in its history, and is cancelled when the conversation closes.
 * Tasks are rows; one that droverd was running when it stopped is FAILED "lost" on restore. */
enum ag_task_state {
    AG_TASK_PENDING = 1,
    AG_TASK_QUEUED = 2,
    AG_TASK_RUNNING = 3,
    AG_TASK_PAUSED = 4,
    AG_TASK_COMPLETED = 5,
    AG_TASK_FAILED = 6,
    AG_TASK_CANCELLED = 7,
    AG_TASK_TIMEOUT = 8,
};
const char *ag_task_state_word(int state); /* "TASK_STATE_RUNNING" */

struct ag_task_config {
    char *command;
    char **arguments;
    char **environment; /* map */
    char *working_directory;
    int64_t timeout_ns, max_retries;
    bool retry_on_failure;
    uint8_t *input;
    size_t input_len;
    char **parameters; /* map */
    int64_t max_memory_bytes, max_cpu_ns, max_execution_time_ns;
    char **allowed_operations, **denied_operations;
};
struct ag_task_result {
    int32_t exit_code;
    uint8_t *output; /* stdout's first bytes */
    size_t output_len;
    char *output_text, *error_text;
    char **metadata; /* map */
    uint64_t completed_ns;
    int64_t duration_ns;
};
struct ag_task_error {
    char *code, *message;
    char **details;
    char *stack_trace;
    uint64_t at_ns;
};
struct ag_task_spec {
    const char *agent_id; /* NULL or "": droverd chooses */
    const char *session_id;
    int type, priority; /* agent.v1 TaskType and TaskPriority */
    const struct ag_task_config *config;
};
struct ag_task;
struct ag_task_info {
    const char *id, *name, *session_id, *agent_id; /* agent_id "": droverd runs it */
    int type, priority;
    enum ag_task_state state;
    uint64_t created_ns, started_ns, completed_ns, expires_ns;
    const struct ag_task_config *config;
    const struct ag_task_result *result; /* NULL: none yet */
    const struct ag_task_error *error;   /* NULL: none */
    double progress;                     /* percent */
    int pid;                             /* droverd's own, while it runs; else 0 */
};
struct ag_task_filter {
    const char *agent_id; /* NULL: any; "": droverd's own */
    int state, type, priority;
    const char *session_id;
    uint64_t after_ns, before_ns; /* created within, inclusive; 0: open */
};
/* A new task, dispatched at once. -EINVAL (session_id is required, config is required, no
 * command), -ENOENT "agent not found", -ENOSPC. A program that cannot start is not an error
 * here: the task is FAILED with error code "spawn". */
int ag_task_execute(struct ag_mgr *m, const struct ag_task_spec *spec, struct ag_task **ret,
                    char *err, size_t err_size);
struct ag_task *ag_task_find(struct ag_mgr *m, const char *id);
/* Creation order; with a filter, only those that match. */
struct ag_task *ag_task_next(struct ag_mgr *m, struct ag_task *prev,
                             const struct ag_task_filter *f);
void ag_task_info(const struct ag_task *t, struct ag_task_info *ret);
bool ag_task_state_final(int state);
/* Cancels (SIGTERM to its tree, SIGKILL 3 s later or now with force; an agent's gets a CONTROL
 * CANCEL message); *ret_cancelled false when it had already ended. */
int ag_task_cancel(struct ag_task *t, const char *reason, bool force, bool *ret_cancelled,
                   char *err, size_t err_size);
/* Bytes for its input (droverd's own: stdin; eof closes it; an agent's: a DATA message to the
 * agent). -ESTALE once it ended, -ENOBUFS when too much is queued. */
int ag_task_input(struct ag_task *t, const uint8_t *data, size_t n, bool eof, char *err,
                  size_t err_size);
/* What an agent reports of its task (StreamTask's payloads 5..9, or a TASK_UPDATE). */
enum ag_report_kind {
    AG_REPORT_PROGRESS,
    AG_REPORT_OUTPUT,
    AG_REPORT_STATUS,
    AG_REPORT_COMPLETE,
    AG_REPORT_ERROR
};
struct ag_task_report {
    enum ag_report_kind kind;
    double percent;      /* PROGRESS */
    const char *message; /* PROGRESS, STATUS */
    int state;           /* STATUS */
    int stream;          /* OUTPUT: 0 stdout, 1 stderr */
    const uint8_t *data; /* OUTPUT */
    size_t len;
    const struct ag_task_result *result; /* COMPLETE (may be NULL) */
    const struct ag_task_error *error;   /* ERROR */
};
/* -EPERM for a task droverd runs itself, -ESTALE once it ended (a late report is dropped). */
int ag_task_report(struct ag_task *t, const struct ag_task_report *r, char *err, size_t err_size);
/* Tasks kept, and (*ret_active) not ended. */
size_t ag_tasks_count(const struct ag_mgr *m, size_t *ret_active);

/* A watcher reads the task's log from the start: pull with ag_task_pull while the transport
 * takes more; ready runs when there is more. After AG_PULL_COMPLETE the watch is over (unwatch
 * it all the same). */
enum ag_pull_kind {
    AG_PULL_NONE,
    AG_PULL_STATUS,
    AG_PULL_OUTPUT,
    AG_PULL_PROGRESS,
    AG_PULL_MISSED,
    AG_PULL_COMPLETE
};
struct ag_task_pull {
    enum ag_pull_kind kind;
    int state;           /* STATUS */
    int stream;          /* OUTPUT: 0 stdout, 1 stderr */
    double percent;      /* PROGRESS */
    const uint8_t *data; /* OUTPUT bytes; STATUS and PROGRESS message (NUL-terminated) */
    size_t len;
    uint64_t missed; /* MISSED: bytes of output that fell off the log */
};
struct ag_task_watch;
int ag_task_watch(struct ag_task *t, void (*ready)(void *userdata), void *userdata,
                  struct ag_task_watch **ret);
/* 1 with *ret filled (valid until the next call), 0 when nothing is there now. */
int ag_task_pull(struct ag_task_watch *w, struct ag_task_pull *ret);
void ag_task_unwatch(struct ag_task_watch *w);

void ag_task_config_done(struct ag_task_config *c);
void ag_task_result_done(struct ag_task_result *r);
void ag_task_error_done(struct ag_task_error *e);

/* The cores tasks and containers run on (sessions for droverd's own tasks; NULL: every one is
 * FAILED "spawn"; containers for conversations' containers and tasks with an image, NULL: none).
 * The hub watches the container core from then on: every container's changes are events. */
struct sess_mgr;
struct ctr_mgr;
void ag_mgr_use(struct ag_mgr *m, struct sess_mgr *sessions, struct ctr_mgr *containers);

/* ---- conversations' containers (ctr.c) ---- */

struct ctr_spec;
struct ctr_wait;
struct container;
struct ctr_info;
/* Creates and starts a container for conversation conv_id (w as ctr_create's), after its
 * checks: -ENOENT "session not found: <id>", -ESTALE "cannot add container to closed
 * session", -EDQUOT "maximum containers limit reached: <n>", -EACCES for what its policy
 * refuses (image not allowed, host network, mounts, paths; a policy.violation event too),
 * -EOPNOTSUPP without containers; then ctr_create's errors. */
int ag_ctr_create(struct ag_mgr *m, const char *conv_id, const struct ctr_spec *spec,
                  struct ctr_wait *w, struct container **ret, char *err, size_t err_size);
/* ---- agents' own tokens (token.c) ---- */

#define AG_TOKEN_PREFIX "bah1."
#define AG_TOKEN_LEN    (5 + 32 + 1)
/* Whether token is one droverd minted (-EACCES otherwise) and, with agent_id, that agent's
 * (-EPERM otherwise; NULL: any). */
int ag_token_check(struct ag_mgr *m, const char *token, const char *agent_id);
/* The token is agent_id's from now on (its agent registered with it). */
void ag_token_bind(struct ag_mgr *m, const char *token, const char *agent_id);

/* The conversation a container belongs to (its baaaht.session_id label), or NULL. */
const char *ag_ctr_session(const struct container *c);

void ag_meta_done(struct ag_meta *m);
void ag_config_done(struct ag_config *c);
void ag_prefs_done(struct ag_prefs *p);
