/* Messages with file descriptors over unix sockets (SCM_RIGHTS): what the descriptor holder
 * and its clients exchange. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX 3 /* descriptors in one message */

/* Sends one message with n_fds (0..FDPASS_MAX) descriptors. 0 or -errno. */
int fdpass_send(int sock, const void *msg, size_t len, const int *fds, int n_fds);
/* Receives one message into buf; the descriptors that came with it (close-on-exec) in fds,
 * their number in *n_fds. Its length, 0 at end of stream, -EMSGSIZE for one cut short (its
 * descriptors closed), or -errno. */
ssize_t fdpass_recv(int sock, void *buf, size_t size, int fds[FDPASS_MAX], int *n_fds);
