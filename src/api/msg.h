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

/* The entries of a key/value message type d (its first two fields strings: the name, the value)
 * for each of the n "NAME=value" strings in env: an array of n pointers to initialised messages,
 * allocated with them and the names in one block (free() it); the values point into env. NULL
 * when out of memory (or for n == 0). */
void **api_kv_list(const ProtobufCMessageDescriptor *d, char *const *env, size_t n);
