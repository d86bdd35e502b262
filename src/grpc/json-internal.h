/* What the JSON codec's files share (json-encode.c, json-decode.c, json-names.c): how a field is
 * stored in a protobuf-c message, names, the well-known types and their text forms. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "grpc/json.h"

enum pbjson_wkt {
    WKT_NONE,       /* an ordinary message: a JSON object of its fields */
    WKT_TIMESTAMP,  /* "1970-01-01T00:00:00Z" */
    WKT_DURATION,   /* "1.5s" */
    WKT_FIELD_MASK, /* "a.b,c" */
    WKT_WRAPPER,    /* its bare value */
    WKT_ANY,        /* {"@type": ..., ...} */
    WKT_REFUSED,    /* Struct, Value, ListValue: not supported */
};

enum pbjson_wkt pbjson_wkt(const ProtobufCMessageDescriptor *d);

/* Whether f (a field of parent) is a map: a repeated field of the nested <Name>Entry message
 * protoc makes for map<K, V> (fields key = 1, value = 2). */
bool pbjson_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f);

/* The bytes one value of type t takes in a message. */
size_t pbjson_elem_size(ProtobufCType t);

/* Where f lives in m, and its count, presence flag or oneof case. */
#define PBJSON_MEMBER(m, f) ((void *)((char *)(m) + (f)->offset))
#define PBJSON_QUANT(m, f)  ((void *)((char *)(m) + (f)->quantifier_offset))

/* Whether key (len bytes) is f's JSON name (lowerCamelCase of its name). */
bool pbjson_json_name_is(const char *proto_name, const char *key, size_t len);
/* f's JSON name into buf (truncated to size - 1), NUL-terminated; its length. */
size_t pbjson_json_name(const char *proto_name, char *buf, size_t size);

/* A finite double (or a float's value, with single) as a JSON number, the fewest digits that
 * read back as it, in %g's form (json-double.c): its length; no NUL is written. */
#define PBJSON_DOUBLE_MAX 32
size_t pbjson_fmt_double(double v, bool single, char *out);

/* The well-known types' text forms. Formatters write a NUL-terminated string (PBJSON_TIME_MAX
 * bytes at most) and return -EINVAL out of range; parsers take len bytes. */
#define PBJSON_TIME_MAX 64
int pbjson_fmt_timestamp(int64_t seconds, int32_t nanos, char *out);
int pbjson_parse_timestamp(const char *s, size_t len, int64_t *ret_seconds, int32_t *ret_nanos);
int pbjson_fmt_duration(int64_t seconds, int32_t nanos, char *out);
int pbjson_parse_duration(const char *s, size_t len, int64_t *ret_seconds, int32_t *ret_nanos);
/* A FieldMask path's JSON form (snake_case segments to lowerCamelCase) and back; -EINVAL for a
 * path that would not come back the same. The result is malloc'd (NULL: -ENOMEM). */
int pbjson_mask_path_to_json(const char *path, char **ret);
int pbjson_mask_path_from_json(const char *s, size_t len, char **ret);
