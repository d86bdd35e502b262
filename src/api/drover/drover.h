/* drover's own gRPC API, drover.v1: Admin, Services, Sessions, Processes and Metrics. */
#pragma once

struct grpc_server;
struct api_host;

/* Registers every drover.v1 service on s. */
int api_drover_register(struct grpc_server *s, struct api_host *host);
