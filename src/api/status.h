/* The one table from -errno to what a caller is told: a gRPC status for the gRPC faces, a
 * running-process StatusCode for its door. Every face maps the core's -errno through it, so one
 * mistake means the same thing whichever door it came in by (a running service started again is
 * ALREADY_EXISTS over gRPC and INVALID_ARGUMENT, running-process's nearest code, on its socket). */
#pragma once

#include "grpc/wire.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

typedef RunningProcess__Daemon__V1__StatusCode rp_status;

/* Shorter names for the running-process codes. */
#define RP_OK               RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_OK
#define RP_ERROR            RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_ERROR
#define RP_UNKNOWN_REQUEST  RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_UNKNOWN_REQUEST
#define RP_INVALID_ARGUMENT RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_INVALID_ARGUMENT
#define RP_NOT_FOUND        RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_NOT_FOUND
#define RP_INTERNAL         RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_INTERNAL
#define RP_UNAVAILABLE      RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE
#define RP_UNIMPLEMENTED    RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_UNIMPLEMENTED
#define RP_ALREADY_ATTACHED RUNNING_PROCESS__DAEMON__V1__STATUS_CODE__STATUS_CODE_ALREADY_ATTACHED

/* The gRPC status for -errno r (GRPC_OK for r >= 0; INTERNAL for an errno not in the table). */
enum grpc_status_code api_grpc_status(int r);
/* The running-process StatusCode for -errno r, from the same row. */
rp_status api_rp_status(int r);

struct grpc_call;
/* Ends a gRPC call with the status for -errno r and a printf-style message. */
void api_finish_errno(struct grpc_call *call, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A unary answer: msg when r >= 0, else r's status with the message. */
struct ProtobufCMessage;
void api_reply_or_errno(struct grpc_call *call, int r, const struct ProtobufCMessage *msg,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
