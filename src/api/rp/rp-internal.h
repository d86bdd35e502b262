/* Shared by the files of the running-process face (api/rp/). */
#pragma once

#include <stdint.h>

#include "session/session.h"

/* A PipeStreamKind (STDOUT, STDERR) as the session's stream; -EINVAL for any other. */
int rp_pipe_stream(uint32_t kind, enum sess_stream *ret);
