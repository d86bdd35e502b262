/* Error messages into a caller's buffer (see errmsg.h). */
#include "base/errmsg.h"

#include <stdarg.h>
#include <stdio.h>

int errmsg_fail(char *err, size_t size, int r, const char *fmt, ...)
{
    va_list ap;

    if (err && size) {
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
    }
    return r;
}
