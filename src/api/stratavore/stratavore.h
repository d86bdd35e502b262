/* Stratavore's gRPC API, stratavore.v1: RunnerService, ProjectService, SessionService and
 * DaemonService over the runner core (runner/runner.h). */
#pragma once

struct grpc_server;
struct api_host;
struct api_stratavore;

/* Registers the four services on s (before the core exists). */
int api_stratavore_register(struct grpc_server *s, struct api_host *host,
                            struct api_stratavore **ret);
/* The core is up (host->runners is set): events are recorded from now on, for replay. */
void api_stratavore_bind(struct api_stratavore *sv);
void api_stratavore_free(struct api_stratavore *sv);
