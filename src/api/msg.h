/* Pieces of protobuf messages that several faces build the same way: well-known-type times, and
 * lists of key/value entries from "NAME=value" strings. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

/* A Timestamp (initialised) from nanoseconds since the epoch. */
void api_timestamp(Google__Protobuf__Timestamp *ts, uint64_t ns);
/* A Duration (initialised) from milliseconds. */
void api_duration_ms(Google__Protobuf__Duration *d, uint64_t ms);

/* n initialised messages of type d for a repeated field: an array of n pointers to them,
 * allocated with them in one block (free() it), with extra bytes after the last message for
 * what they may point to. NULL when out of memory. */
void **api_msg_list(const ProtobufCMessageDescriptor *d, size_t n, size_t extra);

/* The entries of a key/value message type d (its first two fields strings: the name, the value)
 * for each "NAME=value" string of the NULL-terminated env, as a repeated field: *ret (a pointer
 * to the field's T ** member) gets an array of pointers to initialised messages, allocated with
 * them and the names in one block (free() it; NULL when env is empty), *ret_n their number.
 * The values point into env. -ENOMEM. */
int api_kv_list(const ProtobufCMessageDescriptor *d, char *const *env, void *ret, size_t *ret_n);
