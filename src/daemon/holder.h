/* The descriptor holder (see holder.c): runners' terminals outlive a droverd that dies. */
#pragma once

#include <stdbool.h>

/* A connection to the holder at path (SOCK_SEQPACKET, close-on-exec); with start, one is
 * started first when none runs. -errno when it cannot be reached. */
int holder_connect(const char *path, bool start);
