/* Fuzz target: the proto3 JSON codec (src/grpc/json.h) on arbitrary documents, read as
 * unit/json_test.proto's Everything, which holds every shape the mapping has. What it accepts
 * must encode, and the encoding is canonical: read back and written again it is the same
 * text, and so it is after a trip through the binary encoding. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "google/protobuf/duration.pb-c.h"
#include "grpc/json.h"
#include "json_test.pb-c.h"

static const ProtobufCMessageDescriptor *find_type(const char *name, void *userdata)
{
    (void)userdata;
    if (!strcmp(name, drover__jsontest__scalars__descriptor.name))
        return &drover__jsontest__scalars__descriptor;
    if (!strcmp(name, google__protobuf__duration__descriptor.name))
        return &google__protobuf__duration__descriptor;
    return NULL;
}

static const struct pbjson_types types = {find_type, NULL};

/* m's JSON into b (emptied first); traps when it cannot be written. */
static void encode(const ProtobufCMessage *m, struct buf *b)
{
    char err[256];
    buf_reset(b, 0);
    if (pbjson_encode(m, &types, b, err, sizeof err) < 0)
        __builtin_trap();
}

static ProtobufCMessage *decode(const void *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    char err[256];
    if (pbjson_decode(&drover__jsontest__everything__descriptor, &types, p, n, &m, err,
                      sizeof err) < 0)
        return NULL;
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ProtobufCMessage *m = decode(data, size);
    struct buf first, second;

    if (!m)
        return 0;
    buf_init(&first, 0);
    buf_init(&second, 0);
    encode(m, &first);
    ProtobufCMessage *again = decode(buf_head(&first), first.len);
    if (!again)
        __builtin_trap();
    encode(again, &second);
    if (first.len != second.len || memcmp(buf_head(&first), buf_head(&second), first.len))
        __builtin_trap();
    protobuf_c_message_free_unpacked(again, NULL);

    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *bytes = malloc(n ? n : 1);
    protobuf_c_message_pack(m, bytes);
    ProtobufCMessage *back =
        protobuf_c_message_unpack(&drover__jsontest__everything__descriptor, NULL, n, bytes);
    if (!back)
        __builtin_trap();
    encode(back, &second);
    if (first.len != second.len || memcmp(buf_head(&first), buf_head(&second), first.len))
        __builtin_trap();
    protobuf_c_message_free_unpacked(back, NULL);
    free(bytes);
    buf_done(&first);
    buf_done(&second);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
