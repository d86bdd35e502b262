/* Agents' own tokens: droverd mints one ("bah1." and 32 random hex digits) for each container a
 * conversation starts, handed to it as BAAAHT_CONTAINER_TOKEN. It carries no scope: the agent
 * in that container registers with it (the token is then that agent's), and may then heartbeat,
 * hold its stream, report on its tasks and unregister, as that agent only. Tokens are rows, so
 * an adopted container keeps its own; one goes with its container. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents-internal.h"
#include "base/macro.h"

struct ag_token {
    struct ag_token *next;
    char token[AG_TOKEN_LEN];
    char agent_id[AG_ID_LEN]; /* "" until an agent registers with it */
    char container_id[16];
};

static json_t *doc(const struct ag_token *t)
{
    return json_pack("{s:s, s:s, s:s}", "token", t->token, "agent_id", t->agent_id, "container_id",
                     t->container_id);
}

int ag_token_load(struct ag_mgr *m, json_t *j)
{
    const char *tok = json_string_value(json_object_get(j, "token"));
    const char *agent = json_string_value(json_object_get(j, "agent_id"));
    const char *ctr = json_string_value(json_object_get(j, "container_id"));
    struct ag_token *t;
    if (!tok || strlen(tok) != AG_TOKEN_LEN - 1 || !agent || strlen(agent) >= AG_ID_LEN || !ctr ||
        strlen(ctr) >= sizeof t->container_id || !(t = calloc(1, sizeof *t)))
        return 0;
    memcpy(t->token, tok, AG_TOKEN_LEN);
    snprintf(t->agent_id, sizeof t->agent_id, "%s", agent);
    snprintf(t->container_id, sizeof t->container_id, "%s", ctr);
    t->next = m->tokens;
    m->tokens = t;
    return 0;
}

int ag_token_mint(struct ag_mgr *m, char out[AG_TOKEN_LEN])
{
    struct ag_token *t = calloc(1, sizeof *t);
    char raw[AG_ID_LEN];
    if (!t)
        return -ENOMEM;
    ag_new_id(raw);
    snprintf(t->token, sizeof t->token, "%s%s", AG_TOKEN_PREFIX, raw);
    t->next = m->tokens;
    m->tokens = t;
    memcpy(out, t->token, AG_TOKEN_LEN);
    return 0;
}

static struct ag_token *find(struct ag_mgr *m, const char *token);

int ag_token_attach(struct ag_mgr *m, const char *token, const char *container_id)
{
    struct ag_token *t = find(m, token);
    if (!t)
        return -ENOENT;
    snprintf(t->container_id, sizeof t->container_id, "%s", container_id);
    return ag_db_put_doc(m, "token", t->token + strlen(AG_TOKEN_PREFIX), doc(t), false);
}

void ag_token_drop(struct ag_mgr *m, const char *token)
{
    for (struct ag_token **pp = &m->tokens, *t; (t = *pp); pp = &t->next)
        if (!strcmp(t->token, token)) {
            (void)ag_db_delete(m, "token", t->token + strlen(AG_TOKEN_PREFIX));
            *pp = t->next;
            free(t);
            return;
        }
}

static struct ag_token *find(struct ag_mgr *m, const char *token)
{
    size_t n = token ? strlen(token) : 0;
    for (struct ag_token *t = m->tokens; t; t = t->next) {
        if (n == AG_TOKEN_LEN - 1 && mem_equal_ct(t->token, token, n))
            return t;
    }
    return NULL;
}

int ag_token_check(struct ag_mgr *m, const char *token, const char *agent_id)
{
    struct ag_token *t = find(m, token);
    if (!t)
        return -EACCES;
    if (agent_id && strcmp(t->agent_id, agent_id))
        return -EPERM;
    return 0;
}

void ag_token_bind(struct ag_mgr *m, const char *token, const char *agent_id)
{
    struct ag_token *t = find(m, token);
    if (!t)
        return;
    snprintf(t->agent_id, sizeof t->agent_id, "%s", agent_id);
    (void)ag_db_put_doc(m, "token", t->token + strlen(AG_TOKEN_PREFIX), doc(t), false);
}

void ag_tokens_container_gone(struct ag_mgr *m, const char *container_id)
{
    for (struct ag_token **pp = &m->tokens, *t; (t = *pp);) {
        if (strcmp(t->container_id, container_id)) {
            pp = &t->next;
            continue;
        }
        (void)ag_db_delete(m, "token", t->token + strlen(AG_TOKEN_PREFIX));
        *pp = t->next;
        free(t);
    }
}

void ag_tokens_free(struct ag_mgr *m)
{
    while (m->tokens) {
        struct ag_token *t = m->tokens;
        m->tokens = t->next;
        free(t);
    }
}
