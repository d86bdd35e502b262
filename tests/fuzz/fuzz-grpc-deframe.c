/* Fuzz target: the gRPC deframer, fed the input in chunks whose sizes the input chooses, with
 * each message decoded as a request (and inflated when its flag says gzip). */
#include <errno.h>
#include <protobuf-c/protobuf-c.h>

#include "base/gzip.h"
#include "drover/v1/admin.pb-c.h"
#include "fuzz.h"
#include "grpc/wire.h"

static int on_message(void *userdata, bool compressed, const uint8_t *msg, size_t len)
{
    struct buf plain;
    (void)userdata;

    buf_init(&plain, 0);
    if (compressed) {
        if (gzip_inflate(msg, len, 1 << 16, &plain) < 0) {
            buf_done(&plain);
            return 0;
        }
        msg = buf_head(&plain);
        len = plain.len;
    }
    ProtobufCMessage *m =
        protobuf_c_message_unpack(&drover__v1__ping_stream_request__descriptor, NULL, len, msg);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    buf_done(&plain);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grpc_deframer d;
    size_t chunk;

    if (size < 1)
        return 0;
    chunk = data[0] % 16 + 1;
    data++, size--;
    grpc_deframer_init(&d, 1 << 16);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (grpc_deframer_feed(&d, data + off, n, on_message, NULL, NULL) < 0)
            break;
    }
    grpc_deframer_done(&d);
    return 0;
}
