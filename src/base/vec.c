/* Growable arrays (see vec.h). */
#include "base/vec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int vec_reserve(void *vp, size_t *cap, size_t want, size_t size)
{
    void *v, *nv;
    size_t nc = *cap ? *cap : 8;

    if (want <= *cap)
        return 0;
    while (nc < want) {
        if (nc > SIZE_MAX / 2)
            return -ENOMEM;
        nc *= 2;
    }
    memcpy(&v, vp, sizeof v); /* vp points to some T *: read it without knowing T */
    if (!(nv = reallocarray(v, nc, size)))
        return -ENOMEM;
    memcpy(vp, &nv, sizeof nv);
    *cap = nc;
    return 0;
}
