/* superviz's gRPC API, daemon.v1: DaemonService and MetricsService. */
#pragma once

struct grpc_server;
struct api_host;

int api_superviz_register(struct grpc_server *s, struct api_host *host);
