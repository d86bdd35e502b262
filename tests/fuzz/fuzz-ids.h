/* Ids an input can name, for the targets over Stratavore's runners and baaaht's agent hub:
 * every id the core makes is numbered in the order it is asked for, afresh for each input
 * (fuzz_ids_reset), instead of random. Define FUZZ_IDS_RUNNERS and/or FUZZ_IDS_AGENTS before
 * including this, in one file of a target linked with the matching --wrap options:
 *
 *   runners  -Wl,--wrap=rn_uuid                       00000000-0000-4000-8000-000000000001, ...
 *   agents   -Wl,--wrap=ag_new_id -Wl,--wrap=getrandom 00000000000000000000000000000001, ...
 *
 * --wrap reaches only calls from other object files than the one defining ag_new_id
 * (agents/conv.c); conversations' and messages' ids are made inside it, so getrandom is wrapped
 * too: a request of 16 bytes from droverd's code, which only ag_new_id makes, gets the next
 * number in the agents' count, and the real ag_new_id prints it as the same 32 digits. One count
 * for the agents: ids come out in the order they are made, whoever makes them.
 *
 * With agents, the database also gets two agent tokens (fuzz_agent_tokens), as a conversation's
 * containers would have left them: FUZZ_TOKEN_FREE, which no agent has registered with yet, and
 * FUZZ_TOKEN_BOUND, agent 00000000000000000000000000000001's. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#ifdef FUZZ_IDS_RUNNERS
#include "runner/runner.h"

static unsigned fuzz_runner_ids;

void __wrap_rn_uuid(char out[RN_ID_LEN]);

void __wrap_rn_uuid(char out[RN_ID_LEN])
{
    snprintf(out, RN_ID_LEN, "00000000-0000-4000-8000-%012x", ++fuzz_runner_ids);
}
#endif

#ifdef FUZZ_IDS_AGENTS
#include "agents/agents.h"
#include "store/store.h"

#define FUZZ_TOKEN_FREE  "bah1.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
#define FUZZ_TOKEN_BOUND "bah1.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"

static unsigned fuzz_agent_ids;

/* The hub's limits, small enough for an input to reach them: conversations, closed ones kept,
 * history and message size, replies owed; a route's timeout the settling may see pass. */
#define FUZZ_AGENT_SETTINGS                                                                        \
    ((struct ag_settings){.max_conversations = 8,                                                  \
                          .history_in_reply = 16,                                                  \
                          .message_max_bytes = 4096,                                               \
                          .closed_keep = 4,                                                        \
                          .route_timeout_ns = 25000000u,                                           \
                          .routes_max = 4})

void __wrap_ag_new_id(char id[AG_ID_LEN]);
ssize_t __real_getrandom(void *buf, size_t n, unsigned flags);
ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags);

void __wrap_ag_new_id(char id[AG_ID_LEN])
{
    snprintf(id, AG_ID_LEN, "%032x", ++fuzz_agent_ids);
}

/* ag_new_id's own 16 bytes (the calls inside agents/conv.c); anything else is random. */
ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags)
{
    unsigned char *b = buf;
    unsigned id;

    if (n != 16)
        return __real_getrandom(buf, n, flags);
    id = ++fuzz_agent_ids;
    memset(b, 0, n);
    for (size_t i = 0; i < sizeof id; i++)
        b[n - 1 - i] = (unsigned char)(id >> (8 * i));
    return (ssize_t)n;
}

/* The two tokens, after the hub's rows were emptied. */
static inline int fuzz_agent_tokens(struct store *st)
{
    return sqlite3_exec(store_db(st),
                        "INSERT INTO agents (kind, id, doc) VALUES"
                        " ('token', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1',"
                        "  '{\"token\":\"" FUZZ_TOKEN_FREE "\",\"agent_id\":\"\","
                        "\"container_id\":\"fuzzctr1\"}'),"
                        " ('token', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2',"
                        "  '{\"token\":\"" FUZZ_TOKEN_BOUND "\","
                        "\"agent_id\":\"00000000000000000000000000000001\","
                        "\"container_id\":\"fuzzctr2\"}');",
                        NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -EIO;
}
#endif

/* Numbers start again from 1. */
static inline void fuzz_ids_reset(void)
{
#ifdef FUZZ_IDS_RUNNERS
    fuzz_runner_ids = 0;
#endif
#ifdef FUZZ_IDS_AGENTS
    fuzz_agent_ids = 0;
#endif
}
