/* struct buf: see buf.h. Consumed space at the front is reclaimed by moving the live bytes down
 * before growing, so a buffer used as a queue stays as small as its peak contents. */
#include "base/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t cap)
{
    *b = (struct buf){.cap = cap ? cap : SIZE_MAX};
}

void buf_done(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->len = b->alloc = 0;
}

int buf_reserve(struct buf *b, size_t n, uint8_t **ret_tail)
{
    if (n > b->cap - b->len)
        return -ENOBUFS;
    if (n > SIZE_MAX - b->start - b->len)
        return -ENOMEM; /* more than an address space: start + len + n would wrap */
    if (b->start + b->len + n > b->alloc) {
        if (b->start > 0 && b->len + n <= b->alloc) {
            memmove(b->data, b->data + b->start, b->len);
            b->start = 0;
        } else {
            size_t want = b->len + n;
            size_t alloc = b->alloc ? b->alloc : 256;
            while (alloc < want)
                alloc = alloc > SIZE_MAX / 2 ? want : alloc * 2;
            uint8_t *d = malloc(alloc);
            if (!d)
                return -ENOMEM;
            if (b->len)
                memcpy(d, b->data + b->start, b->len);
            free(b->data);
            b->data = d;
            b->alloc = alloc;
            b->start = 0;
        }
    }
    if (ret_tail)
        *ret_tail = b->data + b->start + b->len;
    return 0;
}

void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    uint8_t *tail;
    int r;

    if (n == 0)
        return 0;
    r = buf_reserve(b, n, &tail);
    if (r < 0)
        return r;
    memcpy(tail, p, n);
    b->len += n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->start = b->len = 0;
        return;
    }
    b->start += n;
    b->len -= n;
}

void buf_reset(struct buf *b, size_t keep)
{
    b->start = b->len = 0;
    if (b->alloc > keep) {
        free(b->data);
        b->data = NULL;
        b->alloc = 0;
    }
}
