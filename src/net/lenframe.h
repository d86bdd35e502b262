/* Length-prefixed frames: a 4-byte big-endian payload length, then the payload. The
 * running-process IPC frames every message this way. Pure code, shared by droverd's door, the
 * compatibility client and the fuzzers. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/buf.h"

#define LENFRAME_HEADER 4

/* Looks at the bytes at p: 1 when a whole frame (header + *ret_len payload bytes) is there, 0
 * when more bytes are needed, -EMSGSIZE when the announced length is over max (the stream cannot
 * be resynchronised after that). *ret_len is set whenever the header is complete. */
int lenframe_next(const uint8_t *p, size_t len, uint32_t max, uint32_t *ret_len);
/* Appends the header for a payload of len bytes. */
int lenframe_append_header(struct buf *b, uint32_t len);
/* Appends a whole frame: the header, then msg packed. -EMSGSIZE past 4 GiB, -ENOBUFS/-ENOMEM
 * when b cannot take it (b is then as it was). */
int lenframe_append_message(struct buf *b, const ProtobufCMessage *msg);
