/* gRPC status names and the -errno to status mapping every face uses. */
#include "grpc/wire.h"

#include <errno.h>

#include "base/macro.h"

static const char *const names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *grpc_status_name(int code)
{
    return code >= 0 && (size_t)code < ARRAY_SIZE(names) ? names[code] : "UNKNOWN";
}

/* The one table from -errno to a status: gRPC's, and running-process's StatusCode (seed values:
 * 1 ERROR, 3 INVALID_ARGUMENT, 4 NOT_FOUND, 5 INTERNAL, 6 UNAVAILABLE, 9 UNIMPLEMENTED,
 * 10 ALREADY_ATTACHED). Anything not listed is INTERNAL for both. */
static const struct {
    int err;
    enum grpc_status_code code;
    int rp;
} errno_map[] = {
    {EINVAL, GRPC_INVALID_ARGUMENT, 3},
    {EBADMSG, GRPC_INVALID_ARGUMENT, 3},
    {ENAMETOOLONG, GRPC_INVALID_ARGUMENT, 3},
    {E2BIG, GRPC_INVALID_ARGUMENT, 3},
    {ENOENT, GRPC_NOT_FOUND, 4},
    {ESRCH, GRPC_NOT_FOUND, 4},
    {EEXIST, GRPC_ALREADY_EXISTS, 1},
    {EPERM, GRPC_PERMISSION_DENIED, 1},
    {EACCES, GRPC_PERMISSION_DENIED, 1},
    {ENOMEM, GRPC_RESOURCE_EXHAUSTED, 5},
    {ENOBUFS, GRPC_RESOURCE_EXHAUSTED, 6},
    {EMSGSIZE, GRPC_RESOURCE_EXHAUSTED, 3},
    {ENOSPC, GRPC_RESOURCE_EXHAUSTED, 5},
    {EMFILE, GRPC_RESOURCE_EXHAUSTED, 6},
    {ENFILE, GRPC_RESOURCE_EXHAUSTED, 6},
    {EBUSY, GRPC_FAILED_PRECONDITION, 1},
    {EALREADY, GRPC_FAILED_PRECONDITION, 10},
    {ENOTEMPTY, GRPC_FAILED_PRECONDITION, 1},
    {ERANGE, GRPC_OUT_OF_RANGE, 3},
    {ETIMEDOUT, GRPC_DEADLINE_EXCEEDED, 1},
    {ECANCELED, GRPC_CANCELLED, 1},
    {EOPNOTSUPP, GRPC_UNIMPLEMENTED, 9},
    {ENOSYS, GRPC_UNIMPLEMENTED, 9},
    {EAGAIN, GRPC_UNAVAILABLE, 6},
    {ESHUTDOWN, GRPC_UNAVAILABLE, 6},
    {ECONNREFUSED, GRPC_UNAVAILABLE, 6},
    {EPIPE, GRPC_UNAVAILABLE, 6},
};

enum grpc_status_code grpc_status_from_errno(int r)
{
    if (r >= 0)
        return GRPC_OK;
    for (size_t i = 0; i < ARRAY_SIZE(errno_map); i++)
        if (errno_map[i].err == -r)
            return errno_map[i].code;
    return GRPC_INTERNAL;
}

int rp_status_from_errno(int r)
{
    if (r >= 0)
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(errno_map); i++)
        if (errno_map[i].err == -r)
            return errno_map[i].rp;
    return 5;
}
