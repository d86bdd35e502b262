/* gzip members in and out of a struct buf, through zlib: gRPC messages (grpc-encoding: gzip), the
 * HTTP door's pages (Content-Encoding: gzip) and socktop's compressed replies. Inflation is
 * capped: a small compressed input cannot expand past max (a zip bomb fails with -EMSGSIZE). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Inflates a gzip member into out, failing with -EMSGSIZE past max bytes and -EBADMSG for data
 * that is not gzip. */
int gzip_inflate(const uint8_t *in, size_t len, size_t max, struct buf *out);
/* Compresses into out as one gzip member. */
int gzip_deflate(const uint8_t *in, size_t len, struct buf *out);
