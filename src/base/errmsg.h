/* The error path of functions that explain their failures in a caller's buffer (configuration
 * loaders, resolvers): the message goes to the buffer, the -errno to the return value. */
#pragma once

#include <stddef.h>

#include "base/macro.h"

/* Formats a message into err (size bytes, truncated; nothing when err is NULL or size is 0) and
 * returns r, so that `return errmsg_fail(err, size, -EINVAL, "...", ...);` is the whole error
 * path. */
int errmsg_fail(char *err, size_t size, int r, const char *fmt, ...) _printf_(4, 5);
