/* gzip through zlib (see gzip.h). */
#include "base/gzip.h"

#include <errno.h>
#include <zlib.h>

#include "base/macro.h"

int gzip_inflate(const uint8_t *in, size_t len, size_t max, struct buf *out)
{
    z_stream z = {0};
    int r = 0, zr;

    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    do {
        uint8_t *tail;
        size_t room = MIN((size_t)64 * 1024, max - MIN(max, out->len) + 1);
        r = buf_reserve(out, room, &tail);
        if (r < 0)
            break;
        z.next_out = tail;
        z.avail_out = (uInt)room;
        zr = inflate(&z, Z_NO_FLUSH);
        buf_commit(out, room - z.avail_out);
        if (out->len > max) {
            r = -EMSGSIZE;
            break;
        }
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
            r = -EBADMSG;
            break;
        }
    } while (1);
    if (r == 0 && z.avail_in != 0)
        r = -EBADMSG; /* Trailing garbage after the gzip member. */
    inflateEnd(&z);
    return r;
}

int gzip_deflate(const uint8_t *in, size_t len, struct buf *out)
{
    z_stream z = {0};
    uint8_t *tail;
    int r;

    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t bound = deflateBound(&z, (uLong)len);
    r = buf_reserve(out, bound, &tail);
    if (r == 0) {
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = tail;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END)
            buf_commit(out, bound - z.avail_out);
        else
            r = -EIO;
    }
    deflateEnd(&z);
    return r;
}
