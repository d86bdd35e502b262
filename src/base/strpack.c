/* Several strings in one allocation (see strpack.h). The copies follow each other in src's
 * order, so the first one starts the block and is the pointer to free. */
#include "base/strpack.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strpack_copy(char **const dst[], const char *const src[], size_t n)
{
    size_t size = 0;

    assert(n > 0);
    for (size_t i = 0; i < n; i++)
        size += strlen(src[i] ? src[i] : "") + 1;
    char *block = malloc(size), *p = block;
    if (!block)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        *dst[i] = p;
        p = stpcpy(p, src[i] ? src[i] : "") + 1;
    }
    return 0;
}
