/* What the files of src/agents share. */
#pragma once

#include <jansson.h>

#include "agents/agents.h"
#include "base/list.h"

struct ag_conv {
    struct ag_mgr *m;
    DLIST_LINK(ag_conv) link; /* creation order */
    char id[AG_ID_LEN];
    enum ag_state state;
    enum ag_status status;
    uint64_t created_ns, updated_ns, expires_ns, closed_ns, activity_ns;
    struct ag_meta meta;
    struct ag_config config;
    struct ag_prefs prefs;
    char *current_task_id;
    char **task_history, **container_ids;
    struct ag_msg *msgs; /* the newest, oldest first; none once closed (they are on disk) */
    size_t n_msgs, cap_msgs;
    uint64_t next_seq;        /* of the next message row */
    struct ag_conv_sub *subs; /* its streams (route.c) */
    struct ag_wait *waits;    /* waits for one reply */
};

struct ag_agent {
    struct ag_mgr *m;
    DLIST_LINK(ag_agent) link;
    char id[AG_ID_LEN];
    struct ag_agent_spec spec;
    enum ag_agent_state state;
    enum ag_status status;
    uint64_t registered_ns, heartbeat_ns;
    const struct ag_agent_ops *ops; /* its bound stream, if any */
    void *ops_data;
    uint32_t n_routes; /* replies it owes */
};

struct ag_gw {
    struct ag_mgr *m;
    DLIST_LINK(ag_gw) link; /* creation order */
    char id[AG_ID_LEN], conv_id[AG_ID_LEN];
    uint64_t created_ns;
    struct ag_gw_meta meta;
    struct ag_gw_config config;
};

/* One entry of a task's log (tasklog.c). */
struct ag_titem {
    struct ag_titem *next;
    enum ag_pull_kind kind; /* STATUS, OUTPUT or PROGRESS */
    int a;                  /* STATUS: the state; OUTPUT: the stream */
    double percent;
    size_t len; /* data's bytes (a message: without its NUL) */
    uint8_t data[];
};

struct ag_task_watch {
    DLIST_LINK(ag_task_watch) link;
    struct ag_task *t;
    struct ag_titem *next; /* NULL: at the end, waiting for the next entry */
    uint64_t missed;
    bool done;
    void (*ready)(void *userdata);
    void *userdata;
};

struct ag_task {
    struct ag_mgr *m;
    DLIST_LINK(ag_task) link;     /* creation order */
    DLIST_LINK(ag_task) log_link; /* ended ones whose log is kept, oldest first */
    bool log_unwanted;            /* its log goes when its last watcher leaves */
    char id[AG_ID_LEN], agent_id[AG_ID_LEN];
    char *name, *session_id;
    int type, priority;
    enum ag_task_state state;
    uint64_t created_ns, started_ns, completed_ns, expires_ns;
    struct ag_task_config config;
    struct ag_task_result result;
    struct ag_task_error error;
    bool has_result, has_error;
    double progress;
    bool handed_out; /* an agent's: listed in a heartbeat's pending tasks once */
    bool closed;     /* its log is complete: watchers get the completion */
    /* droverd's own */
    struct session *sess;
    int pid;
    uv_timer_t *timer;         /* its timeout, then the purge of its session */
    enum ag_task_state end_as; /* a cancel or timeout asked: the state at exit */
    bool in_container;         /* its program is an OCI runtime's run */
    bool stop_held;            /* droverd's stop waits for its exit */
    size_t cap_out, cap_err;   /* result buffers' sizes */
    /* its log */
    struct ag_titem *log_first, *log_last;
    size_t log_bytes;
    uint64_t log_dropped; /* output bytes dropped from the front */
    struct ag_task_watch *watches;
};

struct ag_mgr {
    uv_loop_t *loop;
    struct store *store;
    struct ev_bus *bus;
    struct ag_settings set;
    struct ag_conv *convs, *last; /* creation order: first and last */
    struct ag_agent *agents;      /* newest first */
    DQUEUE_HEAD(ag_gw) gws;       /* gateway sessions, oldest first */
    DQUEUE_HEAD(ag_task) tasks;   /* oldest first */
    DQUEUE_HEAD(ag_task) logged;  /* ended tasks whose log is kept, oldest first */
    size_t n_tasks, n_ended, n_logged;
    struct sess_mgr *sessions;         /* what droverd's own tasks run on */
    struct ctr_mgr *containers;        /* and conversations' containers */
    struct ag_ctr_seen *ctr_seen;      /* containers' last states published (ctr.c) */
    struct ag_token *tokens;           /* agents' own tokens (token.c) */
    void (*stop_done)(void *userdata); /* ag_mgr_shutdown's */
    void *stop_data;
    size_t stop_left;
    size_t n_open, n_all;
    uv_timer_t *timer;            /* the nearest idle or expiry deadline */
    DQUEUE_HEAD(ag_route) routes; /* replies owed, oldest (nearest deadline) first */
    uv_timer_t *route_timer;
};

uint64_t ag_now_ns(void);
/* Publishes session.<what> for c, with data pairs (a map) added to session_id and name. */
void ag_publish_conv(struct ag_conv *c, const char *what, const char *const *data);

/* Rows (db.c). */
int ag_db_put_conv(struct ag_mgr *m, const struct ag_conv *c, bool try);
int ag_db_put_msg(struct ag_mgr *m, const struct ag_conv *c, uint64_t seq,
                  const struct ag_msg *msg);
int ag_db_delete_conv(struct ag_mgr *m, const char *id);
/* The seq of conversation conv_id's next message row (0 with none). */
uint64_t ag_db_next_seq(struct ag_mgr *m, const char *conv_id);
/* Calls fn with each of the newest messages of conversation conv_id, oldest first (borrowed
 * for the call); fn returns 0, or -errno to stop with it. */
int ag_db_each_msg(struct ag_mgr *m, const char *conv_id, size_t newest,
                   int (*fn)(void *userdata, const struct ag_msg *msg), void *userdata);
json_t *ag_conv_json(const struct ag_conv *c);
int ag_conv_from_json(struct ag_conv *c, json_t *j);

/* A copy of a string or vector that may be NULL; -ENOMEM. */
int ag_dup_s(char **dst, const char *src);
int ag_dup_v(char ***dst, char *const *src);
/* Deep copies; -ENOMEM. */
int ag_meta_copy(struct ag_meta *dst, const struct ag_meta *src);
int ag_config_copy(struct ag_config *dst, const struct ag_config *src);
int ag_prefs_copy(struct ag_prefs *dst, const struct ag_prefs *src);
int ag_msg_copy(struct ag_msg *dst, const struct ag_msg *src);
void ag_conv_free(struct ag_conv *c);
/* Keeps msg (a copy) as the newest in memory, dropping the oldest past history_in_reply. */
int ag_conv_keep(struct ag_conv *c, const struct ag_msg *msg);
/* Re-arms the manager's timer for the nearest deadline. */
void ag_arm(struct ag_mgr *m);

/* route.c */
int ag_routes_init(struct ag_mgr *m);
void ag_routes_free(struct ag_mgr *m);
/* A closing conversation: its routes and waits dropped, its subscribers told and freed. */
void ag_routes_conv_closed(struct ag_conv *c, const char *reason);
/* An agent terminated or unregistered: its stream ends with why, its routes time out. */
void ag_agent_gone(struct ag_agent *a, const char *why);

/* Whether every pair of want is in have (maps; NULL want: yes). */
bool ag_labels_match(char *const *have, char *const *want);

/* gateway.c */
void ag_gws_free(struct ag_mgr *m);
/* A conversation is dropped: the gateway sessions that wrap it go too. */
void ag_gws_conv_dropped(struct ag_mgr *m, const char *conv_id);
int ag_gw_load(struct ag_mgr *m, json_t *doc);
json_t *ag_gw_json(const struct ag_gw *g);
int ag_db_load_kind(struct ag_mgr *m, const char *kind, int (*fn)(struct ag_mgr *m, json_t *doc));
int ag_db_put_doc(struct ag_mgr *m, const char *kind, const char *id, json_t *doc, bool try);
/* JSON of string vectors and maps (db.c), and of the fields of documents: a string (a copy,
 * NULL for none or ""), an integer, a boolean. */
json_t *ag_json_strv(char *const *v);
char **ag_strv_json(json_t *a);
char *ag_json_str(json_t *o, const char *k);
#define AG_JI64(o, k) ((int64_t)json_integer_value(json_object_get(o, k)))
#define AG_JB(o, k)   json_is_true(json_object_get(o, k))

/* task-db.c */
int ag_task_config_copy(struct ag_task_config *dst, const struct ag_task_config *src);
int ag_task_result_copy(struct ag_task_result *dst, const struct ag_task_result *src);
int ag_task_error_copy(struct ag_task_error *dst, const struct ag_task_error *src);

/* tasklog.c */
#define AG_TASK_LOG_MAX (1u << 20) /* bytes of a task's log */
/* Appends to the task's log (dropping the oldest past AG_TASK_LOG_MAX) and wakes its watchers;
 * text NUL-terminated for STATUS and PROGRESS. */
void ag_tlog_add(struct ag_task *t, enum ag_pull_kind kind, int a, double percent, const void *data,
                 size_t len);
/* The log is complete: watchers get the completion once they have read it. */
void ag_tlog_close(struct ag_task *t);
void ag_tlog_free(struct ag_task *t);

/* task.c */
void ag_tasks_free(struct ag_mgr *m);
/* A new state: written, logged for watchers, published (and the conversation told). */
void ag_task_set_state(struct ag_task *t, enum ag_task_state st, const char *message);
void ag_task_set_error(struct ag_task *t, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The log is complete: watchers get their completion (once); old ended tasks go. */
void ag_task_close_log(struct ag_task *t);
/* Appends to a result buffer, 1 MiB at most. */
void ag_task_keep_bytes(char **buf, size_t *len, size_t *cap, const uint8_t *p, size_t n);

/* task-agent.c */
/* The task's TASK_REQUEST to its agent, when the agent holds a stream. */
void ag_task_push(struct ag_task *t);
/* A live worker with a stream whose supported tasks have this type, or NULL. */
struct ag_agent *ag_task_worker_for(struct ag_mgr *m, int type);
/* Its tasks fail: the agent went (why: "agent_terminated" or "agent_unregistered"). */
void ag_tasks_agent_gone(struct ag_mgr *m, const char *agent_id, const char *code,
                         const char *message);
/* A conversation closed: its running tasks are cancelled. */
void ag_tasks_conv_closed(struct ag_mgr *m, const char *conv_id);
/* A TASK_UPDATE or TASK_RESPONSE from agent a. */
void ag_tasks_agent_update(struct ag_agent *a, const struct ag_amsg *msg);
/* The agent's PENDING tasks not handed out yet, now QUEUED (ids, *ret freed by the caller). */
int ag_agent_take_pending(struct ag_mgr *m, const char *agent_id, char ***ret);
/* Whether agent id has tasks not ended. */
bool ag_tasks_agent_busy(const struct ag_mgr *m, const char *agent_id);
int ag_task_load(struct ag_mgr *m, json_t *doc);
json_t *ag_task_json(const struct ag_task *t);

/* ctr.c */
void ag_ctrs_free(struct ag_mgr *m);
/* A conversation closed: its running containers are stopped. */
void ag_ctrs_conv_closed(struct ag_mgr *m, struct ag_conv *c);
/* A container was removed: it leaves its conversation's list. */
void ag_ctr_forget(struct ag_mgr *m, const struct ctr_info *i);

/* token.c */
/* A new token (not a row until attached to its container, or dropped). */
int ag_token_mint(struct ag_mgr *m, char out[AG_TOKEN_LEN]);
int ag_token_attach(struct ag_mgr *m, const char *token, const char *container_id);
void ag_token_drop(struct ag_mgr *m, const char *token);
int ag_token_load(struct ag_mgr *m, json_t *doc);
void ag_tokens_container_gone(struct ag_mgr *m, const char *container_id);
void ag_tokens_free(struct ag_mgr *m);

/* agent.c */
int ag_agent_spec_copy(struct ag_agent_spec *dst, const struct ag_agent_spec *src);
uint64_t ag_agent_deadline(const struct ag_agent *a);
/* Terminates the agents whose TTL passed. */
void ag_agents_expire(struct ag_mgr *m, uint64_t now);
void ag_agents_free(struct ag_mgr *m);
int ag_db_put_agent(struct ag_mgr *m, const struct ag_agent *a, bool try);
int ag_db_delete(struct ag_mgr *m, const char *kind, const char *id);
int ag_db_load_agents(struct ag_mgr *m);
