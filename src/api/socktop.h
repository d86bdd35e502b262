/* socktop's agent face (socktop.c) and its per-process parts (socktop-detail.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct api_host;
struct http_request;
struct metrics;
typedef struct json_t json_t;

struct socktop_opts {
    uint32_t ttl_metrics_ms;   /* get_metrics (upstream 250) */
    uint32_t ttl_disks_ms;     /* get_disks (1000) */
    uint32_t ttl_processes_ms; /* get_processes (1500) */
    uint32_t ttl_details_ms;   /* get_process_metrics per pid (250) */
    uint32_t ttl_journal_ms;   /* get_journal_entries per pid (1000) */
    bool gpu;                  /* look for GPUs (NVML) */
    bool temp;                 /* report the CPU temperature */
};

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
