/* An arena for building answers: a protobuf message is many small pieces (strings, timestamps,
 * map entries, sub-messages), allocated here and freed together once the answer is sent. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/arena.h"
#include "api/msg.h"
#include "base/macro.h"
#include "base/strv.h"

#define CHUNK (16u << 10)

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    max_align_t data[];
};

/* Where allocations go once memory ran out: the answer is never sent, so what is written here
 * is never read. Requests are bounded (list pages of at most 1000), so no one allocation is
 * larger. */
static max_align_t scratch[(64u << 10) / sizeof(max_align_t)];

void *arena_alloc(struct api_arena *a, size_t size)
{
    struct arena_chunk *c = a->head;
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!c || c->size - c->used < size) {
        size_t cap = MAX(CHUNK, size);
        c = a->failed ? NULL : malloc(sizeof *c + cap);
        if (!c || size > sizeof scratch) {
            free(c);
            a->failed = true;
            memset(scratch, 0, MIN(size, sizeof scratch));
            return scratch;
        }
        c->used = 0;
        c->size = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strdup(struct api_arena *a, const char *s)
{
    size_t n = strlen(s ? s : "");
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s ? s : "", n);
    p[n] = '\0';
    return p;
}

char *arena_printf(struct api_arena *a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return arena_strdup(a, buf);
}

void arena_free(struct api_arena *a)
{
    for (struct arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    *a = (struct api_arena){0};
}

void *arena_msg(struct api_arena *a, const ProtobufCMessageDescriptor *d)
{
    void *m = arena_alloc(a, d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}

Google__Protobuf__Timestamp *arena_ts(struct api_arena *a, uint64_t ns)
{
    if (!ns)
        return NULL;
    Google__Protobuf__Timestamp *t = arena_alloc(a, sizeof *t);
    api_timestamp(t, ns);
    return t;
}

void **arena_map_out(struct api_arena *a, const ProtobufCMessageDescriptor *d, char *const *map,
                  size_t *ret_n)
{
    size_t n = strv_length(map) / 2;
    void **v = n ? arena_alloc(a, n * sizeof *v) : NULL;
    for (size_t i = 0; i < n; i++) {
        char *e = arena_msg(a, d);
        *(char **)(e + d->fields[0].offset) = map[2 * i];     /* key */
        *(char **)(e + d->fields[1].offset) = map[2 * i + 1]; /* value */
        v[i] = e;
    }
    *ret_n = n;
    return v;
}

/* A key given twice keeps its last value (protobuf's rule for map fields). */
char **arena_map_in(struct api_arena *a, void *const *entries, size_t n)
{
    char **v = arena_alloc(a, (2 * n + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *e = entries[i];
        const ProtobufCMessageDescriptor *d = e->descriptor;
        char *key = *(char **)((char *)e + d->fields[0].offset);
        char *value = *(char **)((char *)e + d->fields[1].offset);
        size_t j = 0;
        while (j < k && strcmp(v[j], key) != 0)
            j += 2;
        v[j] = key;
        v[j + 1] = value;
        if (j == k)
            k += 2;
    }
    return v;
}

char **arena_strv_in(struct api_arena *a, char *const *in, size_t n, bool keep_null)
{
    if (!n && keep_null)
        return NULL;
    char **v = arena_alloc(a, (n + 1) * sizeof *v);
    if (n)
        memcpy(v, in, n * sizeof *v);
    return v;
}

void arena_reply(struct grpc_call *call, struct api_arena *a, const ProtobufCMessage *msg)
{
    if (a->failed)
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory building the answer");
    else
        grpc_call_reply(call, msg);
    arena_free(a);
}

