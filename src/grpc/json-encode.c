/* A message as proto3 JSON, written straight into a buffer from its descriptor. */
#include "grpc/json-internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/errmsg.h"
#include "base/macro.h"
#include "base/utf8.h"

struct enc {
    struct buf *out;                  /* where the JSON goes */
    const struct pbjson_types *types; /* for Any */
    char *err;                        /* the reason, when we fail */
    size_t size;                      /* its room */
};

/* Room for n more bytes at out's end, committed with buf_commit: while the buffer has it, here,
 * without a call into buf.c, as nearly every piece of an answer is a few bytes. */
static inline int reserve(struct enc *e, size_t n, uint8_t **ret)
{
    struct buf *b = e->out;
    if (b->data && n <= b->alloc - b->start - b->len && n <= b->cap - b->len) {
        *ret = b->data + b->start + b->len;
        return 0;
    }
    return buf_reserve(b, n, ret);
}

static int put(struct enc *e, const void *p, size_t n)
{
    uint8_t *t;
    int r = reserve(e, n, &t);
    if (r < 0)
        return r;
    memcpy(t, p, n);
    buf_commit(e->out, n);
    return 0;
}

static int puts_(struct enc *e, const char *s)
{
    return put(e, s, strlen(s));
}

/* The reason into the caller's buffer; -EINVAL. */
#define fail(e, ...) errmsg_fail((e)->err, (e)->size, -EINVAL, __VA_ARGS__)

/* Bytes a JSON string holds as they are: printable ASCII but the quote and the backslash. */
static const bool plain[256] = {
    [' ' ... '!'] = true,
    ['#' ... '['] = true,  /* '"' (0x22) is not */
    [']' ... 0x7f] = true, /* '\\' (0x5c) is not */
};

/* A JSON string: quotes, backslashes and control characters escaped; bytes that are not UTF-8
 * written as U+FFFD, so the document stays valid whatever a program printed. Room is reserved
 * a chunk at a time (6 bytes per byte at worst: \u00XX), so a long string near the buffer's
 * cap is not refused for the worst case it does not reach. */
static int put_string(struct enc *e, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int r = put(e, "\"", 1);

    for (size_t i = 0; r >= 0 && i < n;) {
        size_t end = i + (n - i < 1024 ? n - i : 1024);
        uint8_t *t, *o;
        if ((r = reserve(e, (end - i) * 6 + 8, &t)) < 0)
            return r;
        for (o = t; i < end;) { /* a sequence may run 3 bytes past end: the 8 spare hold it */
            uint8_t c = (uint8_t)s[i];
            if (plain[c]) { /* nearly every byte: one test */
                *o++ = c;
                i++;
                continue;
            }
            if (c >= 0x80) {
                size_t k = utf8_seq_len((const uint8_t *)s + i, n - i);
                memcpy(o, k ? s + i : "\xef\xbf\xbd", k ? k : 3);
                o += k ? k : 3;
                i += k ? k : 1;
                continue;
            }
            i++;
            if (c == '"' || c == '\\') {
                *o++ = '\\';
                *o++ = c;
            } else if (c == '\n' || c == '\r' || c == '\t') {
                *o++ = '\\';
                *o++ = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            } else {
                memcpy(o, "\\u00", 4);
                o[4] = (uint8_t)hex[c >> 4];
                o[5] = (uint8_t)hex[c & 15];
                o += 6;
            }
        }
        buf_commit(e->out, (size_t)(o - t));
    }
    return r < 0 ? r : put(e, "\"", 1);
}

/* The shortest decimal that reads back as the same value (json-double.c). */
static int put_double(struct enc *e, double v, bool single)
{
    char s[PBJSON_DOUBLE_MAX];

    if (isnan(v))
        return puts_(e, "\"NaN\"");
    if (isinf(v))
        return puts_(e, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    if (v == 0 && signbit(v)) /* "-0" would read back as the integer 0 */
        return puts_(e, "-0.0");
    return put(e, s, pbjson_fmt_double(v, single, s));
}

/* An integer in decimal, in quotes when quoted (64-bit ones are JSON strings): without
 * snprintf, which costs more than the rest of a field. */
static int put_int(struct enc *e, uint64_t magnitude, bool negative, bool quoted)
{
    char s[24], *o = s + sizeof s;
    uint8_t *t;
    int r;

    if (quoted)
        *--o = '"';
    do
        *--o = (char)('0' + magnitude % 10);
    while (magnitude /= 10);
    if (negative)
        *--o = '-';
    if (quoted)
        *--o = '"';
    size_t n = (size_t)(s + sizeof s - o);
    if ((r = reserve(e, n, &t)) < 0)
        return r;
    memcpy(t, o, n);
    buf_commit(e->out, n);
    return 0;
}

static int put_signed(struct enc *e, int64_t v, bool quoted)
{
    return put_int(e, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0, quoted);
}

static int put_message(struct enc *e, const ProtobufCMessage *m, int depth);

/* One value of field f stored at p. */
static int put_value(struct enc *e, const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return put_signed(e, *(const int32_t *)p, false);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return put_int(e, *(const uint32_t *)p, false, false);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return put_signed(e, *(const int64_t *)p, true);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return put_int(e, *(const uint64_t *)p, false, true);
    case PROTOBUF_C_TYPE_FLOAT:
        return put_double(e, *(const float *)p, true);
    case PROTOBUF_C_TYPE_DOUBLE:
        return put_double(e, *(const double *)p, false);
    case PROTOBUF_C_TYPE_BOOL:
        return puts_(e, *(const protobuf_c_boolean *)p ? "true" : "false");
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev)
            return put_string(e, ev->name, strlen(ev->name));
        return put_signed(e, v, false); /* a value this build does not know: its number */
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *str = *(const char *const *)p;
        return str ? put_string(e, str, strlen(str)) : puts_(e, "\"\"");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        uint8_t *t;
        int r = reserve(e, base64_encoded_len(b->len) + 3, &t);
        if (r < 0)
            return r;
        t[0] = '"';
        base64_encode(b->data, b->len, (char *)t + 1);
        t[1 + base64_encoded_len(b->len)] = '"';
        buf_commit(e->out, base64_encoded_len(b->len) + 2);
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
        return sub ? put_message(e, sub, depth + 1) : puts_(e, "{}");
    }
    }
    return fail(e, "field %s has an unknown type", f->name);
}

/* Whether f holds something to write: a default value without presence is left out. */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *p = PBJSON_MEMBER(m, f), *q = PBJSON_QUANT(m, f);
    bool pointer = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)q > 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)q == f->id && (!pointer || *(void *const *)p);
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (pointer)
            return *(void *const *)p && *(void *const *)p != f->default_value;
        return *(const protobuf_c_boolean *)q;
    }
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return !pointer || *(void *const *)p;
    switch (f->type) { /* proto3, no presence: only what is not the zero value */
    case PROTOBUF_C_TYPE_STRING:
        return *(const char *const *)p && **(const char *const *)p;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(void *const *)p != NULL;
    /* -0 too is left out: protobuf-c's binary encoding compares with 0 and drops it, and a
     * message must say the same in both encodings. */
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p != 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p != 0;
    default:
        return pbjson_elem_size(f->type) == 8 ? *(const uint64_t *)p != 0
                                              : *(const uint32_t *)p != 0;
    }
}

/* A map entry's key as a JSON object key (always a string). */
static int put_map_key(struct enc *e, const ProtobufCMessage *entry)
{
    const ProtobufCFieldDescriptor *k = &entry->descriptor->fields[0];
    const void *p = PBJSON_MEMBER(entry, k);

    switch (k->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *str = *(const char *const *)p;
        return put_string(e, str ? str : "", str ? strlen(str) : 0);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return puts_(e, *(const protobuf_c_boolean *)p ? "\"true\"" : "\"false\"");
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return put_value(e, k, p, 0); /* already a string */
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return put_int(e, *(const uint32_t *)p, false, true);
    default:
        return put_signed(e, *(const int32_t *)p, true);
    }
}

static int put_field(struct enc *e, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                     int depth)
{
    const void *p = PBJSON_MEMBER(m, f);
    int r;

    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return put_value(e, f, p, depth);
    size_t n = *(const size_t *)PBJSON_QUANT(m, f), sz = pbjson_elem_size(f->type);
    const char *arr = *(const char *const *)p;
    bool map = pbjson_is_map(m->descriptor, f);
    if ((r = put(e, map ? "{" : "[", 1)) < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (i && (r = put(e, ",", 1)) < 0)
            return r;
        if (map) {
            const ProtobufCMessage *entry = ((const ProtobufCMessage *const *)arr)[i];
            const ProtobufCFieldDescriptor *v = &entry->descriptor->fields[1];
            if ((r = put_map_key(e, entry)) < 0 || (r = put(e, ":", 1)) < 0 ||
                (r = put_value(e, v, PBJSON_MEMBER(entry, v), depth)) < 0)
                return r;
        } else if ((r = put_value(e, f, arr + i * sz, depth)) < 0) {
            return r;
        }
    }
    return put(e, map ? "}" : "]", 1);
}

/* The fields of m, each ",name:value" but the first when *first. */
static int put_fields(struct enc *e, const ProtobufCMessage *m, bool first, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    int r;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!present(m, f))
            continue;
        /* ,"jsonName": written in place: a name is letters, digits and underscores (protoc's
         * rule), nothing to escape, and its JSON form is never longer */
        size_t n = strlen(f->name);
        uint8_t *t, *o;
        if ((r = reserve(e, n + 3 + !first, &t)) < 0)
            return r;
        o = t;
        if (!first)
            *o++ = ',';
        *o++ = '"';
        o += pbjson_json_name(f->name, (char *)o, n + 1);
        *o++ = '"';
        *o++ = ':';
        buf_commit(e->out, (size_t)(o - t));
        if ((r = put_field(e, m, f, depth)) < 0)
            return r;
        first = false;
    }
    return 0;
}

static int put_any(struct enc *e, const ProtobufCMessage *m, int depth)
{
    const ProtobufCFieldDescriptor *fu = protobuf_c_message_descriptor_get_field_by_name(
                                       m->descriptor, "type_url"),
                                   *fv = protobuf_c_message_descriptor_get_field_by_name(
                                       m->descriptor, "value");
    const char *url = *(const char *const *)PBJSON_MEMBER(m, fu);
    const ProtobufCBinaryData *val = PBJSON_MEMBER(m, fv);
    const char *slash = url ? strrchr(url, '/') : NULL;
    const ProtobufCMessageDescriptor *d = NULL;
    int r;

    if (!url || !*url)
        return puts_(e, "{}");
    if (slash && e->types && e->types->find)
        d = e->types->find(slash + 1, e->types->userdata);
    if (!d)
        return fail(e, "Any holds %s, a type this server does not know", url);
    ProtobufCMessage *sub = protobuf_c_message_unpack(d, NULL, val->len, val->data);
    if (!sub)
        return fail(e, "Any holds a %s that does not decode", d->name);
    if ((r = puts_(e, "{\"@type\":")) < 0 || (r = put_string(e, url, strlen(url))) < 0)
        goto out;
    if (pbjson_wkt(d) != WKT_NONE) { /* its JSON is no object: it goes under "value" */
        if ((r = puts_(e, ",\"value\":")) < 0 || (r = put_message(e, sub, depth + 1)) < 0)
            goto out;
    } else if ((r = put_fields(e, sub, false, depth + 1)) < 0) {
        goto out;
    }
    r = put(e, "}", 1);
out:
    protobuf_c_message_free_unpacked(sub, NULL);
    return r;
}

static int put_mask(struct enc *e, const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
    size_t n = *(const size_t *)PBJSON_QUANT(m, f);
    char *const *paths = *(char *const *const *)PBJSON_MEMBER(m, f);
    struct buf joined;
    int r = 0;

    buf_init(&joined, 0);
    for (size_t i = 0; i < n && r >= 0; i++) {
        char *p = NULL;
        if ((r = pbjson_mask_path_to_json(paths[i], &p)) == -EINVAL)
            r = fail(e, "field mask path \"%s\" has no JSON form", paths[i]);
        if (r >= 0 && i)
            r = buf_append(&joined, ",", 1);
        if (r >= 0)
            r = buf_append(&joined, p, strlen(p));
        free(p);
    }
    if (r >= 0)
        r = put_string(e, (const char *)buf_head(&joined), joined.len);
    buf_done(&joined);
    return r;
}

static int put_message(struct enc *e, const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char s[PBJSON_TIME_MAX + 2];
    int r;

    if (depth > PBJSON_MAX_DEPTH)
        return fail(e, "messages nested deeper than %d", PBJSON_MAX_DEPTH);
    switch (pbjson_wkt(d)) {
    case WKT_TIMESTAMP:
    case WKT_DURATION: {
        int64_t sec = *(const int64_t *)PBJSON_MEMBER(m, &d->fields[0]);
        int32_t ns = *(const int32_t *)PBJSON_MEMBER(m, &d->fields[1]);
        bool ts = pbjson_wkt(d) == WKT_TIMESTAMP;
        s[0] = '"';
        if ((ts ? pbjson_fmt_timestamp(sec, ns, s + 1) : pbjson_fmt_duration(sec, ns, s + 1)) < 0)
            return fail(e, "%s out of range (%lld s, %d ns)", d->name, (long long)sec, (int)ns);
        size_t n = strlen(s);
        s[n] = '"';
        return put(e, s, n + 1);
    }
    case WKT_FIELD_MASK:
        return put_mask(e, m);
    case WKT_WRAPPER:
        return put_value(e, &d->fields[0], PBJSON_MEMBER(m, &d->fields[0]), depth);
    case WKT_ANY:
        return put_any(e, m, depth);
    case WKT_REFUSED:
        return fail(e, "%s is not supported", d->name);
    case WKT_NONE:
        break;
    }
    if ((r = put(e, "{", 1)) < 0 || (r = put_fields(e, m, true, depth)) < 0)
        return r;
    return put(e, "}", 1);
}

int pbjson_encode(const ProtobufCMessage *m, const struct pbjson_types *types, struct buf *out,
                  char *err, size_t size)
{
    struct enc e = {out, types, err, size};
    size_t before = out->len;
    int r = put_message(&e, m, 0);

    if (r < 0 && out->len > before) /* nothing half-written stays */
        out->len = before;
    if (r == -ENOBUFS && size)
        snprintf(err, size, "the answer is larger than %zu bytes", out->cap);
    return r;
}
