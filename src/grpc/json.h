/* Protocol Buffers' JSON mapping (proto3), for any message, from protobuf-c's descriptors: one
 * codec, not one per message. What the Connect protocol's application/json carries.
 *
 * Field names are written lowerCamelCase and read in either that form or the .proto's own;
 * enums are names (numbers are read too); 64-bit integers are strings (numbers are read too);
 * bytes are base64; float NaN and infinities are the strings "NaN", "Infinity" and
 * "-Infinity". Fields that hold their default (without presence) are left out. The well-known
 * types have their own forms: Timestamp (RFC 3339, UTC, "Z"), Duration ("1.5s"), FieldMask
 * ("a.b,cD"), the wrappers (their bare value), Empty ({}), Any ({"@type": URL, ...}, its type
 * found through pbjson_types). Struct, Value and ListValue are refused.
 *
 * Decoding rejects what the mapping rejects: unknown fields, a field given twice (under both
 * its names), two members of one oneof, a value of the wrong kind, an integer out of its
 * type's range or with a fraction, an unknown enum name, bad base64, a timestamp or duration
 * out of range, nesting deeper than PBJSON_MAX_DEPTH. The message says which field and why.
 * Numbers use the C locale's decimal point (droverd never sets another). */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "base/buf.h"

#define PBJSON_MAX_DEPTH 64 /* messages within messages */

/* Finds a message type by its full name ("drover.v1.Service"), for Any; NULL: unknown. */
struct pbjson_types {
    const ProtobufCMessageDescriptor *(*find)(const char *full_name, void *userdata);
    void *userdata; /* find's */
};

/* Appends m as JSON to out. -EINVAL when m holds what JSON cannot say (a timestamp out of
 * range, an Any of an unknown type: err says), -ENOBUFS past out's cap, -ENOMEM. types may be
 * NULL (then every Any is refused). */
int pbjson_encode(const ProtobufCMessage *m, const struct pbjson_types *types, struct buf *out,
                  char *err, size_t size);

/* Reads len bytes of JSON into a new message of type d, freed with
 * protobuf_c_message_free_unpacked(msg, NULL). -EINVAL with a message in err for anything the
 * mapping rejects; -ENOMEM. */
int pbjson_decode(const ProtobufCMessageDescriptor *d, const struct pbjson_types *types,
                  const char *json, size_t len, ProtobufCMessage **ret, char *err, size_t size);
