/* gRPC status names and the -errno to status mapping every face uses. */
#include "grpc/wire.h"

#include <errno.h>

#include "base/macro.h"

static const char *const names[] = {
    "OK",        "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",       "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *grpc_status_name(int code)
{
    return code >= 0 && (size_t)code < ARRAY_SIZE(names) ? names[code] : "UNKNOWN";
}

static const struct {
    int err;
    enum grpc_status_code code;
} errno_map[] = {
    {EINVAL, GRPC_INVALID_ARGUMENT},   {EBADMSG, GRPC_INVALID_ARGUMENT},
    {ENAMETOOLONG, GRPC_INVALID_ARGUMENT}, {E2BIG, GRPC_INVALID_ARGUMENT},
    {ENOENT, GRPC_NOT_FOUND},          {ESRCH, GRPC_NOT_FOUND},
    {EEXIST, GRPC_ALREADY_EXISTS},     {EPERM, GRPC_PERMISSION_DENIED},
    {EACCES, GRPC_PERMISSION_DENIED},  {ENOMEM, GRPC_RESOURCE_EXHAUSTED},
    {ENOBUFS, GRPC_RESOURCE_EXHAUSTED}, {EMSGSIZE, GRPC_RESOURCE_EXHAUSTED},
    {ENOSPC, GRPC_RESOURCE_EXHAUSTED}, {EMFILE, GRPC_RESOURCE_EXHAUSTED},
    {ENFILE, GRPC_RESOURCE_EXHAUSTED}, {EBUSY, GRPC_FAILED_PRECONDITION},
    {ENOTEMPTY, GRPC_FAILED_PRECONDITION}, {ERANGE, GRPC_OUT_OF_RANGE},
    {ETIMEDOUT, GRPC_DEADLINE_EXCEEDED}, {ECANCELED, GRPC_CANCELLED},
    {EOPNOTSUPP, GRPC_UNIMPLEMENTED},  {ENOSYS, GRPC_UNIMPLEMENTED},
    {EAGAIN, GRPC_UNAVAILABLE},        {ESHUTDOWN, GRPC_UNAVAILABLE},
    {ECONNREFUSED, GRPC_UNAVAILABLE},  {EPIPE, GRPC_UNAVAILABLE},
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
