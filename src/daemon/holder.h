/* The descriptor holder (see holder.c): runners' terminals outlive a droverd that dies. */
#pragma once

/* The holder's loop (`droverd --fd-holder PATH [FD]`: FD is the socket already listening at
 * PATH, else it makes one): returns the exit code. */
int holder_main(const char *path, int listen_fd);
#include <stdbool.h>

/* A connection to the holder at path (SOCK_SEQPACKET, close-on-exec); with start, one is
 * started first when none runs. -errno when it cannot be reached. */
int holder_connect(const char *path, bool start);
