/* The byte ring (see ring.h). Positions are 64-bit and never wrap in practice (16 EiB); the
 * storage index of a position is p & (size - 1). Growth re-lays the kept bytes out at their new
 * indices, so positions stay valid across it. */
#include "base/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"

#define RING_MIN (4u << 10)

void ring_init(struct ring *r, size_t cap)
{
    size_t c = RING_MIN;
    while (c < cap && c < (SIZE_MAX >> 1))
        c <<= 1;
    *r = (struct ring){.cap = c};
}

void ring_done(struct ring *r)
{
    free(r->data);
    r->data = NULL;
    r->size = 0;
}

static int grow(struct ring *r)
{
    size_t size = r->size ? r->size * 2 : RING_MIN;
    uint8_t *d = malloc(size);

    if (!d)
        return -ENOMEM;
    /* Copy the kept bytes to their indices in the larger storage, one contiguous piece at a
     * time. */
    for (uint64_t p = r->start; p < r->end;) {
        const uint8_t *src;
        size_t n = ring_peek(r, p, &src);
        size_t at = (size_t)(p & (size - 1));
        size_t first = MIN(n, size - at);
        memcpy(d + at, src, first);
        memcpy(d, src + first, n - first);
        p += n;
    }
    free(r->data);
    r->data = d;
    r->size = size;
    return 0;
}

int ring_space(struct ring *r, size_t want, uint8_t **ret_ptr, size_t *ret_len)
{
    if (want == 0)
        want = 1;
    while (r->size < r->cap && r->end - r->start + want > r->size) {
        int k = grow(r);
        if (k < 0) {
            if (r->size)
                break; /* keep going in what we have, dropping the oldest */
            return k;
        }
    }
    size_t at = (size_t)(r->end & (r->size - 1));
    *ret_ptr = r->data + at;
    *ret_len = MIN(want, r->size - at);
    return 0;
}

void ring_commit(struct ring *r, size_t n)
{
    r->end += n;
    if (r->end - r->start > r->size)
        r->start = r->end - r->size;
}

int ring_write(struct ring *r, const void *p, size_t n)
{
    const uint8_t *s = p;

    if (n > r->cap) { /* only the tail can stay: skip the rest, but count it */
        r->end += n - r->cap;
        r->start = r->end; /* everything kept before is older than what follows */
        s += n - r->cap;
        n = r->cap;
    }
    while (n) {
        uint8_t *dst;
        size_t room;
        int k = ring_space(r, n, &dst, &room);
        if (k < 0)
            return k;
        memcpy(dst, s, room);
        ring_commit(r, room);
        s += room;
        n -= room;
    }
    return 0;
}

size_t ring_peek(const struct ring *r, uint64_t pos, const uint8_t **ret_ptr)
{
    if (pos < r->start || pos >= r->end || !r->size) {
        *ret_ptr = r->data;
        return 0;
    }
    size_t at = (size_t)(pos & (r->size - 1));
    *ret_ptr = r->data + at;
    return (size_t)MIN(r->end - pos, (uint64_t)(r->size - at));
}

void ring_copy(const struct ring *r, uint64_t pos, uint8_t *dst)
{
    while (pos < r->end) {
        const uint8_t *src;
        size_t n = ring_peek(r, pos, &src);
        if (!n)
            break;
        memcpy(dst, src, n);
        dst += n;
        pos += n;
    }
}
