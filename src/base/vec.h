/* Growable arrays: one rule for every array that grows by appending (capacity doubles from 8),
 * instead of a hand-written realloc at each site.
 *
 *     struct item *v = NULL;
 *     size_t n = 0, cap = 0;
 *     if (VEC_RESERVE(v, cap, n + 1) < 0)
 *         return -ENOMEM;       // v, n and cap are as they were
 *     v[n++] = item;
 */
#pragma once

#include <stddef.h>

/* Makes room for at least want elements of size in the array *vp (a pointer to the array
 * pointer) whose capacity is *cap. -ENOMEM (the array untouched) when memory or size_t runs
 * out. */
int vec_reserve(void *vp, size_t *cap, size_t want, size_t size);

#define VEC_RESERVE(v, cap, want) vec_reserve(&(v), &(cap), (want), sizeof *(v))
