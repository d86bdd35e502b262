/* -errno → gRPC status and running-process StatusCode (see status.h). */
#include "api/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/macro.h"
#include "grpc/grpc.h"

/* One row per errno the core returns; anything not listed is INTERNAL for both. */
static const struct {
    int err;
    enum grpc_status_code grpc;
    rp_status rp;
} table[] = {
    {EINVAL, GRPC_INVALID_ARGUMENT, RP_INVALID_ARGUMENT},
    {EBADMSG, GRPC_INVALID_ARGUMENT, RP_INVALID_ARGUMENT},
    {ENAMETOOLONG, GRPC_INVALID_ARGUMENT, RP_INVALID_ARGUMENT},
    {E2BIG, GRPC_INVALID_ARGUMENT, RP_INVALID_ARGUMENT},
    {ENOENT, GRPC_NOT_FOUND, RP_NOT_FOUND},
    {ESRCH, GRPC_NOT_FOUND, RP_NOT_FOUND},
    /* running-process has no ALREADY_EXISTS; upstream answers INVALID_ARGUMENT. */
    {EEXIST, GRPC_ALREADY_EXISTS, RP_INVALID_ARGUMENT},
    {EPERM, GRPC_PERMISSION_DENIED, RP_ERROR},
    {EACCES, GRPC_PERMISSION_DENIED, RP_ERROR},
    {ENOMEM, GRPC_RESOURCE_EXHAUSTED, RP_INTERNAL},
    {ENOBUFS, GRPC_RESOURCE_EXHAUSTED, RP_UNAVAILABLE},
    {EMSGSIZE, GRPC_RESOURCE_EXHAUSTED, RP_INVALID_ARGUMENT},
    {ENOSPC, GRPC_RESOURCE_EXHAUSTED, RP_INTERNAL},
    {EMFILE, GRPC_RESOURCE_EXHAUSTED, RP_UNAVAILABLE},
    {ENFILE, GRPC_RESOURCE_EXHAUSTED, RP_UNAVAILABLE},
    {EBUSY, GRPC_FAILED_PRECONDITION, RP_ERROR},
    {EALREADY, GRPC_FAILED_PRECONDITION, RP_ALREADY_ATTACHED},
    {ENOTEMPTY, GRPC_FAILED_PRECONDITION, RP_ERROR},
    {ENOTDIR, GRPC_FAILED_PRECONDITION, RP_INVALID_ARGUMENT},
    {ENOEXEC, GRPC_FAILED_PRECONDITION, RP_ERROR},
    {ESTALE, GRPC_FAILED_PRECONDITION, RP_ERROR},
    {ECHILD, GRPC_FAILED_PRECONDITION, RP_ERROR},
    {ENOTCONN, GRPC_FAILED_PRECONDITION, RP_ERROR},
    {EDQUOT, GRPC_RESOURCE_EXHAUSTED, RP_UNAVAILABLE},
    {ERANGE, GRPC_OUT_OF_RANGE, RP_INVALID_ARGUMENT},
    {ETIMEDOUT, GRPC_DEADLINE_EXCEEDED, RP_ERROR},
    {ECANCELED, GRPC_CANCELLED, RP_ERROR},
    {EOPNOTSUPP, GRPC_UNIMPLEMENTED, RP_UNIMPLEMENTED},
    {ENOSYS, GRPC_UNIMPLEMENTED, RP_UNIMPLEMENTED},
    {EAGAIN, GRPC_UNAVAILABLE, RP_UNAVAILABLE},
    {ESHUTDOWN, GRPC_UNAVAILABLE, RP_UNAVAILABLE},
    {ECONNREFUSED, GRPC_UNAVAILABLE, RP_UNAVAILABLE},
    {EPIPE, GRPC_UNAVAILABLE, RP_UNAVAILABLE},
};

static int row(int r)
{
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (table[i].err == -r)
            return (int)i;
    return -1;
}

enum grpc_status_code api_grpc_status(int r)
{
    int i = r < 0 ? row(r) : -1;
    return r >= 0 ? GRPC_OK : i < 0 ? GRPC_INTERNAL : table[i].grpc;
}

rp_status api_rp_status(int r)
{
    int i = r < 0 ? row(r) : -1;
    return r >= 0 ? RP_OK : i < 0 ? RP_INTERNAL : table[i].rp;
}

void api_finish_errno(struct grpc_call *call, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    grpc_call_finishv(call, api_grpc_status(r), fmt, ap);
    va_end(ap);
}

void api_reply_or_errno(struct grpc_call *call, int r, const ProtobufCMessage *msg, const char *fmt,
                        ...)
{
    va_list ap;

    if (r >= 0)
        return grpc_call_reply(call, msg);
    va_start(ap, fmt);
    grpc_call_finishv(call, api_grpc_status(r), fmt, ap);
    va_end(ap);
}
