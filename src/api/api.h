/* The faces: each file in api/ maps one API onto the core. This header is what the daemon hands
 * them (struct api_host) and the registration call of each face. Faces do not include daemon/
 * headers: the host is all they know of the process around them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct grpc_server;

struct api_host {
    struct uv_loop_s *loop;    /* the daemon's loop, for timers */
    const char *version;       /* droverd's version */
    const char *socket_path;   /* the gRPC unix socket */
    const char *state_dir;     /* state directory */
    const char *config_path;   /* YAML read, or NULL for the built-in default */
    uint64_t started_real_ns;  /* wall clock at start */
    uint64_t started_mono_ns;  /* monotonic clock at start */
    struct grpc_server *grpc;  /* for connection and call counters */
    /* Begins a graceful shutdown; returns at once. */
    void (*shutdown)(struct api_host *host, const char *why);
};

struct health;

/* drover.v1.Admin. */
int api_admin_register(struct grpc_server *s, struct api_host *host);

/* grpc.health.v1.Health. Every registered service, and "" for the whole server, is SERVING
 * until health_shutdown. */
struct health *api_health_new(struct grpc_server *s);
int api_health_register(struct grpc_server *s, struct health *h);
/* NOT_SERVING to every watcher, then their streams end (UNAVAILABLE). */
void api_health_shutdown(struct health *h);
void api_health_free(struct health *h);

struct reflection;

/* grpc.reflection.v1 and v1alpha ServerReflection, answering from the descriptor set embedded at
 * build time. */
struct reflection *api_reflection_new(struct grpc_server *s);
int api_reflection_register(struct grpc_server *s, struct reflection *rf);
void api_reflection_free(struct reflection *rf);
