/* gRPC wire helpers shared by the server (src/grpc) and the client library (src/client): message
 * framing, status names, percent-encoding and grpc-timeout.
 * Everything here is a pure function of its inputs, and each parser is fuzzed and unit-tested. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base64.h"
#include "base/buf.h"

enum grpc_status_code {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_ALREADY_EXISTS = 6,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_ABORTED = 10,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_DATA_LOSS = 15,
    GRPC_UNAUTHENTICATED = 16,
};

#define GRPC_FRAME_HEADER 5                  /* compressed flag + 4-byte big-endian length */
#define GRPC_MAX_MESSAGE  (4u * 1024 * 1024) /* default cap on one message, either way */

/* "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for a code outside the table. */
const char *grpc_status_name(int code);

/* Appends the 5-byte prefix and the message (already serialized) to out. */
int grpc_frame_append(struct buf *out, bool compressed, const uint8_t *msg, size_t len);

struct ProtobufCMessage;
/* Packs msg straight into out behind its prefix (no intermediate copy). */
int grpc_frame_append_message(struct buf *out, const struct ProtobufCMessage *msg);
/* The same, with the message's packed size already known (protobuf_c_message_get_packed_size). */
int grpc_frame_append_sized(struct buf *out, const struct ProtobufCMessage *msg, size_t len);

/* Splits a byte stream into messages. Bytes may arrive in any split; a message whole inside one
 * chunk is handed out without a copy. */
struct grpc_deframer {
    uint8_t hdr[GRPC_FRAME_HEADER]; /* prefix bytes collected so far */
    size_t hdr_len;                 /* how many of hdr are filled */
    uint32_t want;                  /* body length announced by the prefix */
    bool compressed;                /* the prefix's compressed flag */
    struct buf body;                /* partial body, when a message spans chunks */
    uint32_t max;                   /* largest body accepted */
};

/* Called once per complete message; a negative return stops grpc_deframer_feed with that value. */
typedef int (*grpc_deframer_fn)(void *userdata, bool compressed, const uint8_t *msg, size_t len);

void grpc_deframer_init(struct grpc_deframer *d, uint32_t max);
void grpc_deframer_done(struct grpc_deframer *d);
/* Returns 0, or -EMSGSIZE when a prefix announces more than max (its length in *ret_size),
 * -EPROTO for a flag byte other than 0 or 1, or the callback's error. */
int grpc_deframer_feed(struct grpc_deframer *d, const uint8_t *p, size_t n, grpc_deframer_fn cb,
                       void *userdata, uint32_t *ret_size);
/* Bytes held for a message not yet complete. */
size_t grpc_deframer_pending(const struct grpc_deframer *d);

/* grpc-message encoding: bytes outside 0x20..0x7e and '%' become %XX. Returns the encoded string
 * (malloc'd), or NULL on out-of-memory. */
char *grpc_percent_encode(const char *s);
/* Decodes %XX; malformed sequences are kept as they are, as the gRPC spec asks. */
char *grpc_percent_decode(const char *s, size_t len);

/* Parses a grpc-timeout value ("100m", "5S", "1H" ...) into milliseconds, rounding up.
 * Returns -EINVAL for anything the spec does not allow. */
int grpc_timeout_parse(const char *s, size_t len, uint64_t *ret_ms);
/* Formats ms as a grpc-timeout value into out (at least 16 bytes). */
void grpc_timeout_format(uint64_t ms, char *out);
