/* The services of the drover.v1 face, one file each; drover.c registers them together. */
#pragma once

struct grpc_server;
struct api_host;

int api_admin_register(struct grpc_server *s, struct api_host *host);     /* admin.c */
int api_services_register(struct grpc_server *s, struct api_host *host);  /* services.c */
int api_sessions_register(struct grpc_server *s, struct api_host *host);  /* sessions.c */
int api_processes_register(struct grpc_server *s, struct api_host *host); /* processes.c */
int api_metrics_register(struct grpc_server *s, struct api_host *host);   /* metrics.c */
