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

int api_kv_list(const ProtobufCMessageDescriptor *d, char *const *env, void *ret, size_t *ret_n)
{
    const ProtobufCFieldDescriptor *key = &d->fields[0], *value = &d->fields[1];
    size_t msg = (d->sizeof_message + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    size_t n = strv_length(env), names = 0,
           head = (n * sizeof(void *) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    void **v = NULL;

    if (d->n_fields < 2 || key->type != PROTOBUF_C_TYPE_STRING ||
        value->type != PROTOBUF_C_TYPE_STRING)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        names += strcspn(env[i], "=") + 1;
    if (n && !(v = malloc(head + n * msg + names)))
        return -ENOMEM;
    char *m = (char *)v + head, *name = m + n * msg;
    for (size_t i = 0; i < n; i++, m += msg) {
        size_t len = strcspn(env[i], "=");
        protobuf_c_message_init(d, m);
        memcpy(name, env[i], len);
        name[len] = '\0';
        *(char **)(m + key->offset) = name;
        *(const char **)(m + value->offset) = env[i][len] ? env[i] + len + 1 : "";
        name += len + 1;
        v[i] = m;
    }
    memcpy(ret, &v, sizeof v); /* ret points to some T **: set it without knowing T */
    *ret_n = n;
    return 0;
}
