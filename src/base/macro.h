/* Small macros every module uses: cleanup attributes, ownership transfer, array sizes.
 * Header-only. The cleanup helpers follow systemd: a variable declared _cleanup_free_ is freed
 * when it leaves scope unless its value was taken with TAKE_PTR(). */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* sys/param.h (pulled in by some headers) defines these too, identically. */
#undef MIN
#undef MAX
#define MIN(a, b)      ((a) < (b) ? (a) : (b))
#define MAX(a, b)      ((a) > (b) ? (a) : (b))
#define unlikely(x)    __builtin_expect(!!(x), 0)
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

/* Recovers the enclosing struct from a pointer to one of its members. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void freep(void *p)
{
    free(*(void **)p);
}

static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Returns *p and sets it to NULL, so a _cleanup_ variable gives up ownership. */
static inline void *take_ptr(void *p)
{
    void **pp = p;
    void *v = *pp;
    *pp = NULL;
    return v;
}
#define TAKE_PTR(p) take_ptr(&(p))

static inline int take_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}
#define TAKE_FD(fd) take_fd(&(fd))

/* Whether n bytes at a and b are equal, in a time that depends on n only: for secrets, where
 * how much of a guess matched must not show in the answer's timing. */
static inline bool mem_equal_ct(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}
