/* baaaht's gRPC API (seed 003: orchestrator.v1, agent.v1, gateway.v1) over the agent hub
 * (agents/) and the container core: one more face. */
#pragma once

struct grpc_server;
struct api_host;

/* Registers the services on s; their calls reach host's agent hub. */
int api_baaaht_register(struct grpc_server *s, struct api_host *host);
