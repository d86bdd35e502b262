/* proto3 JSON into a message, from its descriptor. The document is parsed by jansson (duplicate
 * keys refused, NUL in strings refused); the message is built as protobuf-c's unpack builds one
 * (every part malloc'd, counts set as elements are added), so protobuf_c_message_free_unpacked
 * frees it whole, and frees a half-built one after an error too. */
#include "grpc/json-internal.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/macro.h"

struct dec {
    const struct pbjson_types *types; /* for Any */
    char *err;                        /* the reason, when we fail */
    size_t size;                      /* its room */
    bool pathed;                      /* err begins with the path to the field at fault */
};

static int fail(struct dec *d, const char *fmt, ...) _printf_(2, 3);
static int fail(struct dec *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (d->size)
        vsnprintf(d->err, d->size, fmt, ap);
    va_end(ap);
    d->pathed = false;
    return -EINVAL;
}

/* Puts "name: " (or "name." before another field's name) in front of the reason, so that the
 * message names the whole path: "spec.restartDelayMs: want a number, got an object". */
static int within(struct dec *d, int r, const char *name)
{
    if (r != -EINVAL || !d->size)
        return r;
    const char *sep = !d->pathed ? ": " : d->err[0] == '[' ? "" : ".";
    size_t n = strlen(name), k = strlen(sep), len = strlen(d->err);
    if (n + k + len + 1 > d->size)
        return r;
    memmove(d->err + n + k, d->err, len + 1);
    memcpy(d->err, name, n);
    memcpy(d->err + n, sep, k);
    d->pathed = true;
    return r;
}

static const char *kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* An integer from a JSON number or a string holding one (exponent forms included), within
 * [lo, hi] (signed) or [0, uhi] (unsigned). */
static int get_integer(struct dec *d, const json_t *j, bool is_signed, int64_t lo, int64_t hi,
                       uint64_t uhi, void *ret64)
{
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (is_signed ? (v < lo || v > hi) : (v < 0 || (uint64_t)v > uhi))
            return fail(d, "%lld is out of range", (long long)v);
        if (is_signed)
            *(int64_t *)ret64 = v;
        else
            *(uint64_t *)ret64 = (uint64_t)v;
        return 0;
    }
    double x;
    if (json_is_real(j)) {
        x = json_real_value(j);
    } else if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end;
        size_t len = json_string_length(j);
        if (!len || strchr(" \t\n\r+", s[0]))
            return fail(d, "\"%s\" is not an integer", s);
        errno = 0;
        if (!strpbrk(s, ".eE")) { /* plain digits: exact, all 64 bits */
            if (is_signed) {
                long long v = strtoll(s, &end, 10);
                if (*end || errno || v < lo || v > hi)
                    return fail(d, "\"%s\" is not an integer in range", s);
                *(int64_t *)ret64 = v;
            } else {
                unsigned long long v = strtoull(s, &end, 10);
                if (*end || errno || s[0] == '-' || v > uhi)
                    return fail(d, "\"%s\" is not an integer in range", s);
                *(uint64_t *)ret64 = v;
            }
            return 0;
        }
        x = strtod(s, &end);
        if (*end || errno)
            return fail(d, "\"%s\" is not a number", s);
    } else {
        return fail(d, "want an integer, got %s", kind(j));
    }
    /* A fraction-less double within range; 2^63 and 2^64 are the first values past. */
    if (!isfinite(x) || x != floor(x))
        return fail(d, "%g is not an integer", x);
    if (is_signed ? (x < (double)lo || x >= 9223372036854775808.0 || x > (double)hi)
                  : (x < 0 || x >= 18446744073709551616.0 || x > (double)uhi))
        return fail(d, "%g is out of range", x);
    if (is_signed)
        *(int64_t *)ret64 = (int64_t)x;
    else
        *(uint64_t *)ret64 = (uint64_t)x;
    return 0;
}

static int get_double(struct dec *d, const json_t *j, bool single, double *ret)
{
    double x;
    if (json_is_number(j)) {
        x = json_number_value(j);
    } else if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end;
        if (!strcmp(s, "NaN")) {
            *ret = NAN;
            return 0;
        }
        if (!strcmp(s, "Infinity") || !strcmp(s, "-Infinity")) {
            *ret = s[0] == '-' ? -INFINITY : INFINITY;
            return 0;
        }
        errno = 0;
        x = strtod(s, &end);
        if (!*s || *end || errno || strchr(" \t\n\r+", s[0]) || !isfinite(x) ||
            strpbrk(s, "xXnNiI"))
            return fail(d, "\"%s\" is not a number", s);
    } else {
        return fail(d, "want a number, got %s", kind(j));
    }
    if (single && isfinite(x) && fabs(x) > FLT_MAX)
        return fail(d, "%g is out of a float's range", x);
    *ret = x;
    return 0;
}

static int get_message(struct dec *d, const ProtobufCMessageDescriptor *md, const json_t *j,
                       ProtobufCMessage **ret, int depth);

/* One value of field f from j into p (storage of f's type). */
static int get_value(struct dec *d, const ProtobufCFieldDescriptor *f, const json_t *j, void *p,
                     int depth)
{
    int64_t v = 0;
    uint64_t u = 0;
    double x;
    int r;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((r = get_integer(d, j, true, INT32_MIN, INT32_MAX, 0, &v)) < 0)
            return r;
        *(int32_t *)p = (int32_t)v;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((r = get_integer(d, j, false, 0, 0, UINT32_MAX, &u)) < 0)
            return r;
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return get_integer(d, j, true, INT64_MIN, INT64_MAX, 0, p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return get_integer(d, j, false, 0, 0, UINT64_MAX, p);
    case PROTOBUF_C_TYPE_FLOAT:
        if ((r = get_double(d, j, true, &x)) < 0)
            return r;
        *(float *)p = (float)x;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return get_double(d, j, false, p);
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j))
            return fail(d, "want true or false, got %s", kind(j));
        *(protobuf_c_boolean *)p = json_is_true(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        if (json_is_string(j)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(j));
            if (!ev)
                return fail(d, "\"%s\" is not a value of %s", json_string_value(j),
                            ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
            *(int *)p = ev->value;
            return 0;
        }
        if ((r = get_integer(d, j, true, INT32_MIN, INT32_MAX, 0, &v)) < 0)
            return r;
        *(int *)p = (int)v;
        return 0;
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(j))
            return fail(d, "want a string, got %s", kind(j));
        char *s = strdup(json_string_value(j));
        if (!s)
            return -ENOMEM;
        *(char **)p = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(j))
            return fail(d, "want base64 in a string, got %s", kind(j));
        size_t n = json_string_length(j);
        char *in = strdup(json_string_value(j));
        uint8_t *out = n ? malloc(base64_decoded_max(n)) : NULL;
        if (!in || (n && !out)) {
            free(in);
            free(out);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) /* the URL-safe alphabet is read as well */
            in[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
        long k = n ? base64_decode(in, n, out) : 0;
        free(in);
        if (k < 0) {
            free(out);
            return fail(d, "not base64");
        }
        *(ProtobufCBinaryData *)p = (ProtobufCBinaryData){(size_t)k, k ? out : NULL};
        if (!k)
            free(out);
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return get_message(d, f->descriptor, j, (ProtobufCMessage **)p, depth + 1);
    }
    return fail(d, "unknown field type");
}

/* A map's key from the JSON object key s, for key field k. */
static int get_map_key(struct dec *d, const ProtobufCFieldDescriptor *k, const char *s, void *p)
{
    if (k->type == PROTOBUF_C_TYPE_STRING) {
        if (!(*(char **)p = strdup(s)))
            return -ENOMEM;
        return 0;
    }
    if (k->type == PROTOBUF_C_TYPE_BOOL) {
        if (strcmp(s, "true") && strcmp(s, "false"))
            return fail(d, "map key \"%s\" is not true or false", s);
        *(protobuf_c_boolean *)p = !strcmp(s, "true");
        return 0;
    }
    json_t *str = json_string(s); /* integers: as a string value would be read */
    if (!str)
        return -ENOMEM;
    int r = get_value(d, k, str, p, 0);
    json_decref(str);
    return r == -EINVAL ? fail(d, "map key \"%s\" is not a valid %s", s, "integer") : r;
}

static int get_map(struct dec *d, const ProtobufCFieldDescriptor *f, const json_t *j, void *p,
                   size_t *n, int depth)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    ProtobufCMessage **arr;
    const char *key;
    json_t *val;
    int r;

    if (!json_is_object(j))
        return fail(d, "want an object (a map), got %s", kind(j));
    if (!(arr = calloc(json_object_size(j) ? json_object_size(j) : 1, sizeof *arr)))
        return -ENOMEM;
    *(ProtobufCMessage ***)p = arr;
    json_object_foreach((json_t *)j, key, val)
    {
        ProtobufCMessage *entry = malloc(ed->sizeof_message);
        if (!entry)
            return -ENOMEM;
        protobuf_c_message_init(ed, entry);
        arr[(*n)++] = entry;
        if (json_is_null(val))
            return within(d, fail(d, "a map value may not be null"), key);
        if ((r = get_map_key(d, &ed->fields[0], key, PBJSON_MEMBER(entry, &ed->fields[0]))) < 0 ||
            (r = get_value(d, &ed->fields[1], val, PBJSON_MEMBER(entry, &ed->fields[1]), depth)) <
                0)
            return within(d, r, key);
    }
    return 0;
}

static int get_repeated(struct dec *d, const ProtobufCMessageDescriptor *md,
                        const ProtobufCFieldDescriptor *f, const json_t *j, ProtobufCMessage *m,
                        int depth)
{
    void *p = PBJSON_MEMBER(m, f);
    size_t *n = PBJSON_QUANT(m, f), sz = pbjson_elem_size(f->type);
    char *arr;
    int r;

    if (pbjson_is_map(md, f))
        return get_map(d, f, j, p, n, depth);
    if (!json_is_array(j))
        return fail(d, "want an array, got %s", kind(j));
    if (!json_array_size(j))
        return 0;
    if (!(arr = calloc(json_array_size(j), sz)))
        return -ENOMEM;
    *(char **)p = arr;
    for (size_t i = 0; i < json_array_size(j); i++) {
        const json_t *el = json_array_get(j, i);
        char at[24];
        snprintf(at, sizeof at, "[%zu]", i);
        (*n)++; /* counted before it is set: a half-set element is freed with the rest */
        if (json_is_null(el))
            return within(d, fail(d, "an array element may not be null"), at);
        if ((r = get_value(d, f, el, arr + i * sz, depth)) < 0)
            return within(d, r, at);
    }
    return 0;
}

/* The field of md whose JSON or .proto name is key. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *md,
                                                  const char *key)
{
    size_t len = strlen(key);
    for (unsigned i = 0; i < md->n_fields; i++)
        if (pbjson_json_name_is(md->fields[i].name, key, len) || !strcmp(md->fields[i].name, key))
            return &md->fields[i];
    return NULL;
}

static int get_fields(struct dec *d, const ProtobufCMessageDescriptor *md, const json_t *j,
                      ProtobufCMessage *m, const char *skip, int depth)
{
    uint8_t *seen = calloc(md->n_fields ? md->n_fields : 1, 1);
    const char *key;
    json_t *val;
    int r = 0;

    if (!seen)
        return -ENOMEM;
    json_object_foreach((json_t *)j, key, val)
    {
        const ProtobufCFieldDescriptor *f = find_field(md, key);
        if (skip && !strcmp(key, skip))
            continue;
        if (!f) {
            r = fail(d, "unknown field \"%s\" in %s", key, md->name);
            break;
        }
        size_t i = (size_t)(f - md->fields);
        if (seen[i]++) {
            r = fail(d, "field %s is given twice", key);
            break;
        }
        if (json_is_null(val))
            continue; /* null: the default */
        void *q = PBJSON_QUANT(m, f);
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(uint32_t *)q) {
                r = fail(d, "%s: another member of its oneof is set", key);
                break;
            }
            *(uint32_t *)q = f->id;
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                   f->type != PROTOBUF_C_TYPE_MESSAGE) {
            *(protobuf_c_boolean *)q = 1;
        }
        r = f->label == PROTOBUF_C_LABEL_REPEATED
                ? get_repeated(d, md, f, val, m, depth)
                : get_value(d, f, val, PBJSON_MEMBER(m, f), depth);
        if (r < 0) {
            r = within(d, r, key);
            break;
        }
    }
    free(seen);
    return r;
}

static int get_mask(struct dec *d, const ProtobufCMessageDescriptor *md, const json_t *j,
                    ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f = &md->fields[0];
    if (!json_is_string(j))
        return fail(d, "want a field mask (\"a.b,c\"), got %s", kind(j));
    const char *s = json_string_value(j);
    size_t n = *s ? 1 : 0, *count = PBJSON_QUANT(m, f);
    for (const char *c = s; *c; c++)
        n += *c == ',';
    if (!n)
        return 0;
    char **paths = calloc(n, sizeof *paths);
    if (!paths)
        return -ENOMEM;
    *(char ***)PBJSON_MEMBER(m, f) = paths;
    for (const char *c = s;; c++) {
        const char *end = strchr(c, ',');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        int r = pbjson_mask_path_from_json(c, len, &paths[(*count)++]);
        if (r == -EINVAL)
            return fail(d, "field mask path \"%.*s\" is not lowerCamelCase", (int)len, c);
        if (r < 0)
            return r;
        if (!end)
            return 0;
        c = end;
    }
}

static int get_any(struct dec *d, const ProtobufCMessageDescriptor *md, const json_t *j,
                   ProtobufCMessage *m, int depth)
{
    const json_t *t = json_object_get(j, "@type");
    const ProtobufCMessageDescriptor *sd = NULL;
    ProtobufCMessage *sub = NULL;
    int r;

    if (!json_object_size(j))
        return 0; /* {}: an empty Any */
    if (!json_is_string(t))
        return fail(d, "an Any needs \"@type\" (a string)");
    const char *url = json_string_value(t), *slash = strrchr(url, '/');
    if (slash && d->types && d->types->find)
        sd = d->types->find(slash + 1, d->types->userdata);
    if (!sd)
        return fail(d, "\"@type\": %s is a type this server does not know", url);
    if (pbjson_wkt(sd) != WKT_NONE) {
        const json_t *v = json_object_get(j, "value");
        if (json_object_size(j) != 2 || !v)
            return fail(d, "an Any of %s holds \"@type\" and \"value\" only", sd->name);
        r = get_message(d, sd, v, &sub, depth + 1);
    } else {
        if (!(sub = malloc(sd->sizeof_message)))
            return -ENOMEM;
        protobuf_c_message_init(sd, sub);
        r = get_fields(d, sd, j, sub, "@type", depth + 1);
    }
    if (r >= 0) {
        const ProtobufCFieldDescriptor *fu = protobuf_c_message_descriptor_get_field_by_name(
                                           md, "type_url"),
                                       *fv = protobuf_c_message_descriptor_get_field_by_name(
                                           md, "value");
        ProtobufCBinaryData *b = PBJSON_MEMBER(m, fv);
        size_t n = protobuf_c_message_get_packed_size(sub);
        char *u = strdup(url);
        uint8_t *bytes = malloc(n ? n : 1);
        if (!u || !bytes) {
            free(u);
            free(bytes);
            r = -ENOMEM;
        } else {
            *(char **)PBJSON_MEMBER(m, fu) = u;
            *b = (ProtobufCBinaryData){protobuf_c_message_pack(sub, bytes), bytes};
        }
    }
    if (sub)
        protobuf_c_message_free_unpacked(sub, NULL);
    return r;
}

static int get_message(struct dec *d, const ProtobufCMessageDescriptor *md, const json_t *j,
                       ProtobufCMessage **ret, int depth)
{
    enum pbjson_wkt w = pbjson_wkt(md);
    ProtobufCMessage *m;

    if (depth > PBJSON_MAX_DEPTH)
        return fail(d, "messages nested deeper than %d", PBJSON_MAX_DEPTH);
    if (w == WKT_REFUSED)
        return fail(d, "%s is not supported", md->name);
    if ((w == WKT_NONE || w == WKT_ANY) && !json_is_object(j))
        return fail(d, "want an object (%s), got %s", md->name, kind(j));
    if (!(m = malloc(md->sizeof_message)))
        return -ENOMEM;
    protobuf_c_message_init(md, m);
    *ret = m; /* the caller's, half-built or not: it frees it with the rest */
    switch (w) {
    case WKT_TIMESTAMP:
    case WKT_DURATION: {
        int64_t *sec = PBJSON_MEMBER(m, &md->fields[0]);
        int32_t *ns = PBJSON_MEMBER(m, &md->fields[1]);
        if (!json_is_string(j))
            return fail(d, "want a %s in a string, got %s",
                        w == WKT_TIMESTAMP ? "timestamp (RFC 3339)" : "duration (\"1.5s\")",
                        kind(j));
        const char *s = json_string_value(j);
        size_t len = json_string_length(j);
        if ((w == WKT_TIMESTAMP ? pbjson_parse_timestamp(s, len, sec, ns)
                                : pbjson_parse_duration(s, len, sec, ns)) < 0)
            return fail(d, "\"%s\" is not a %s", s,
                        w == WKT_TIMESTAMP ? "timestamp (RFC 3339, years 1 to 9999)"
                                           : "duration (\"1.5s\", up to 10,000 years)");
        return 0;
    }
    case WKT_FIELD_MASK:
        return get_mask(d, md, j, m);
    case WKT_WRAPPER:
        return get_value(d, &md->fields[0], j, PBJSON_MEMBER(m, &md->fields[0]), depth);
    case WKT_ANY:
        return get_any(d, md, j, m, depth);
    default:
        return get_fields(d, md, j, m, NULL, depth);
    }
}

int pbjson_decode(const ProtobufCMessageDescriptor *md, const struct pbjson_types *types,
                  const char *json, size_t len, ProtobufCMessage **ret, char *err, size_t size)
{
    struct dec d = {types, err, size, false};
    json_error_t je;
    ProtobufCMessage *m = NULL;
    json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    int r;

    if (!j) {
        if (size)
            snprintf(err, size, "bad JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return -EINVAL;
    }
    r = get_message(&d, md, j, &m, 0);
    json_decref(j);
    if (r < 0) {
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        return r;
    }
    *ret = m;
    return 0;
}
