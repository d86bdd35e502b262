/* Message pieces the faces share (see msg.h). */
#include "api/msg.h"

#include "base/strv.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

void api_timestamp(Google__Protobuf__Timestamp *ts, uint64_t ns)
{
    google__protobuf__timestamp__init(ts);
    ts->seconds = (int64_t)(ns / 1000000000u);
    ts->nanos = (int32_t)(ns % 1000000000u);
}

void api_duration_ms(Google__Protobuf__Duration *d, uint64_t ms)
{
    google__protobuf__duration__init(d);
    d->seconds = (int64_t)(ms / 1000);
    d->nanos = (int32_t)(ms % 1000) * 1000000;
}

#define ALIGNED(n) (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

void **api_msg_list(const ProtobufCMessageDescriptor *d, size_t n, size_t extra)
{
    size_t head = ALIGNED(n * sizeof(void *)), msg = ALIGNED(d->sizeof_message);
    void **v = malloc(head + n * msg + extra + 1); /* + 1: never malloc(0) */

    for (size_t i = 0; v && i < n; i++) {
        v[i] = (char *)v + head + i * msg;
        protobuf_c_message_init(d, v[i]);
    }
    return v;
}

int api_kv_list(const ProtobufCMessageDescriptor *d, char *const *env, void *ret, size_t *ret_n)
{
    const ProtobufCFieldDescriptor *key = &d->fields[0], *value = &d->fields[1];
    size_t n = strv_length(env), names = 0;
    void **v = NULL;

    if (d->n_fields < 2 || key->type != PROTOBUF_C_TYPE_STRING ||
        value->type != PROTOBUF_C_TYPE_STRING)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        names += strcspn(env[i], "=") + 1;
    if (n && !(v = api_msg_list(d, n, names)))
        return -ENOMEM;
    /* The names go after the last message. */
    char *name =
        n ? (char *)v + ALIGNED(n * sizeof(void *)) + n * ALIGNED(d->sizeof_message) : NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(env[i], "=");
        memcpy(name, env[i], len);
        name[len] = '\0';
        *(char **)((char *)v[i] + key->offset) = name;
        *(const char **)((char *)v[i] + value->offset) = env[i][len] ? env[i] + len + 1 : "";
        name += len + 1;
    }
    memcpy(ret, &v, sizeof v); /* ret points to some T **: set it without knowing T */
    *ret_n = n;
    return 0;
}
