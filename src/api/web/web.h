/* The HTTP door's face: /healthz, /metrics (Prometheus), and socktop's agent WebSocket on /ws. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct api_host;
struct buf;
struct http_request;

/* socktop's agent: cache lifetimes and switches. */
struct socktop_opts {
    uint32_t ttl_metrics_ms;   /* get_metrics (upstream 250) */
    uint32_t ttl_disks_ms;     /* get_disks (1000) */
    uint32_t ttl_processes_ms; /* get_processes (1500) */
    uint32_t ttl_details_ms;   /* get_process_metrics per pid (250) */
    uint32_t ttl_journal_ms;   /* get_journal_entries per pid (1000) */
    bool gpu;                  /* look for GPUs (NVML) */
    bool temp;                 /* report the CPU temperature */
};

struct api_web;
struct api_web_opts {
    struct socktop_opts socktop; /* /ws: TTLs and switches */
    const char *socktop_token;   /* /ws accepts ?token= this too (socktop's scheme), or NULL */
    bool require_token;          /* /metrics and /ws need a bearer token with scope read */
};
struct api_web *api_web_new(struct api_host *host, const struct api_web_opts *o);
void api_web_free(struct api_web *w);
/* The HTTP door's request handler; userdata is the api_web. */
void api_http_handle(struct http_request *req, void *userdata);
/* The Prometheus text page of the machine, the services and droverd. */
int api_prometheus_render(struct api_host *h, struct buf *out);
