/* A byte ring with absolute positions: every byte ever written has a position (0, 1, 2, ...),
 * the ring keeps the newest ones, at most cap of them, and drops the oldest to make room.
 * Readers are positions, not copies: a reader that falls more than cap bytes behind finds its
 * position gone (below ring_start) and knows exactly how many bytes it missed. Storage grows
 * by doubling from a small size, so a quiet stream costs little, and never beyond cap.
 * Writers read(2) straight into ring_space and commit: no intermediate copy. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct ring {
    uint8_t *data;  /* storage: the byte at position p lives at data[p % size] */
    size_t size;    /* bytes allocated, a power of two, at most cap */
    size_t cap;     /* most bytes kept */
    uint64_t start; /* position of the oldest byte kept */
    uint64_t end;   /* position after the newest byte (bytes ever written) */
};

/* cap is rounded up to a power of two (at least 4 KiB). */
void ring_init(struct ring *r, size_t cap);
void ring_done(struct ring *r);

static inline uint64_t ring_start(const struct ring *r)
{
    return r->start;
}
static inline uint64_t ring_end(const struct ring *r)
{
    return r->end;
}

/* Contiguous room at the end for up to want bytes: where to put them, and how many fit there
 * (> 0). Growing first when the ring is full and below cap; at cap the room overwrites the
 * oldest bytes. -ENOMEM if storage cannot be allocated. */
int ring_space(struct ring *r, size_t want, uint8_t **ret_ptr, size_t *ret_len);
/* n bytes written at ring_space's pointer become part of the ring. */
void ring_commit(struct ring *r, size_t n);
/* Copies n bytes in (only their last cap bytes stay if n is larger). */
int ring_write(struct ring *r, const void *p, size_t n);
/* The contiguous bytes from position pos (ring_start <= pos <= ring_end): a pointer valid until
 * the next write, and their count (0 at the end). */
size_t ring_peek(const struct ring *r, uint64_t pos, const uint8_t **ret_ptr);
/* Copies the bytes from pos to the end into dst (room for ring_end - pos bytes). */
void ring_copy(const struct ring *r, uint64_t pos, uint8_t *dst);
