/* A growable byte buffer with a read offset: append at the end, consume from the front.
 * Every buffer has a cap; an append past it fails with -ENOBUFS, so a peer can never make one
 * grow without bound. Used for connection output, gRPC message assembly and replies. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data; /* heap storage, or NULL while empty */
    size_t start;  /* offset of the first unconsumed byte */
    size_t len;    /* unconsumed bytes from start */
    size_t alloc;  /* bytes allocated at data */
    size_t cap;    /* most bytes the buffer may hold; 0 means SIZE_MAX */
};

void buf_init(struct buf *b, size_t cap);
void buf_done(struct buf *b);

/* The first unconsumed byte; NULL while nothing was ever allocated (NULL + 0 is undefined). */
static inline uint8_t *buf_head(const struct buf *b)
{
    return b->data ? b->data + b->start : NULL;
}

/* Makes room for n more bytes and returns where they go (commit them with buf_commit). */
int buf_reserve(struct buf *b, size_t n, uint8_t **ret_tail);
void buf_commit(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
void buf_consume(struct buf *b, size_t n);
/* Drops the contents and, when the buffer held more than keep bytes of storage, frees it. */
void buf_reset(struct buf *b, size_t keep);
