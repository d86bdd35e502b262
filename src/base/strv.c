/* NULL-terminated string vectors (see strv.h). */
#include "base/strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

size_t strv_length(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **strv_copy(char *const *v)
{
    size_t n = strv_length(v);
    char **c = calloc(n + 1, sizeof *c);
    for (size_t i = 0; c && i < n; i++)
        if (!(c[i] = strdup(v[i]))) {
            strv_free(c);
            return NULL;
        }
    return c;
}

int strv_push(char ***v, size_t *n, char *s)
{
    if (!s)
        return -ENOMEM;
    char **nv = reallocarray(*v, *n + 2, sizeof *nv);
    if (!nv) {
        free(s);
        return -ENOMEM;
    }
    nv[(*n)++] = s;
    nv[*n] = NULL;
    *v = nv;
    return 0;
}

bool strv_equal(char *const *a, char *const *b)
{
    size_t i = 0;
    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return (!a || !a[i]) && (!b || !b[i]);
}
