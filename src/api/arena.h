/* An arena for building answers (arena.c): every piece of one message, freed at once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "grpc/grpc.h"

struct arena_chunk;
struct api_arena {
    struct arena_chunk *head;
    bool failed; /* an allocation failed: the answer must not be sent */
};
/* Zeroed memory; never NULL (on failure: a scratch area, and failed is set). */
void *arena_alloc(struct api_arena *a, size_t size);
char *arena_strdup(struct api_arena *a, const char *s);
char *arena_printf(struct api_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(struct api_arena *a);
/* An initialised message of type d in the arena. */
void *arena_msg(struct api_arena *a, const ProtobufCMessageDescriptor *d);
/* A Timestamp from nanoseconds since the epoch; NULL for 0. */
Google__Protobuf__Timestamp *arena_ts(struct api_arena *a, uint64_t ns);

/* Map entries (key/value string messages of type d) from a core map, and back. */
void **arena_map_out(struct api_arena *a, const ProtobufCMessageDescriptor *d, char *const *map,
                     size_t *ret_n);
char **arena_map_in(struct api_arena *a, void *const *entries, size_t n);
/* A NULL-terminated copy of a repeated string field (NULL when n is 0 and keep_null). */
char **arena_strv_in(struct api_arena *a, char *const *v, size_t n, bool keep_null);

/* Packs msg as the reply and frees the arena; RESOURCE_EXHAUSTED if the arena ran out. */
void arena_reply(struct grpc_call *call, struct api_arena *a, const ProtobufCMessage *msg);
