/* The services of the drover.v1 face, one file each; drover.c registers them together, each with
 * the daemon's struct api_host as its service data. */
#pragma once

#include "grpc/grpc.h"

extern const struct grpc_service api_drover_admin;      /* admin.c */
extern const struct grpc_service api_drover_services;   /* services.c */
extern const struct grpc_service api_drover_sessions;   /* sessions.c */
extern const struct grpc_service api_drover_processes;  /* processes.c */
extern const struct grpc_service api_drover_metrics;    /* metrics.c */
extern const struct grpc_service api_drover_containers; /* containers.c */
extern const struct grpc_service api_drover_images;     /* containers.c */
extern const struct grpc_service api_drover_agents;     /* agents.c */

/* Admin/Events (events.c): its handler, on_ready and on_close, in admin.c's table. */
void api_drover_events(struct grpc_call *call, const ProtobufCMessage *msg);
void api_drover_events_ready(struct grpc_call *call);
void api_drover_events_close(struct grpc_call *call);
