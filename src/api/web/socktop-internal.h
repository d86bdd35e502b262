/* socktop's agent (socktop.c) and its per-process parts (socktop-detail.c): private to the web
 * face. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct api_host;
struct http_request;
struct metrics;
typedef struct json_t json_t;
struct socktop_opts;

struct socktop;
struct socktop *socktop_new(struct api_host *host, const struct socktop_opts *o);
void socktop_free(struct socktop *st);
/* GET /ws, once the HTTP face let it through: speaks socktop on the WebSocket. */
void socktop_upgrade(struct socktop *st, struct http_request *req);
uint32_t socktop_clients(const struct socktop *st);

/* ProcessMetricsResponse {process: DetailedProcessInfo, cached_at}, or NULL when pid is not a
 * running process. */
json_t *socktop_process_details(struct metrics *m, pid_t pid);
/* JournalResponse {entries, total_count, truncated, cached_at, notice?}: the newest 100 entries
 * of pid from the systemd journal (libsystemd loaded at run time), or none with a notice. */
json_t *socktop_journal(pid_t pid);
