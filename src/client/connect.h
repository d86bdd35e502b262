/* The client library's sockets (connect.c). */
#pragma once

#include <stddef.h>

#include "base/macro.h"

#define CONNECT_TIMEOUT_MS 10000                        /* a TCP connect, and a TLS handshake */
#define LOST_MESSAGE       "connection to droverd lost" /* the status of calls on a dead one */

/* Fills err (when not NULL) with the message and returns r. */
int client_errf(char *err, size_t size, int r, const char *fmt, ...) _printf_(4, 5);
/* A connected non-blocking socket to the unix socket path; -errno with err saying why. */
int client_connect_unix(const char *path, char *err, size_t err_size);
/* "HOST:PORT" or "[V6]:PORT" into name and *port (pointing into hp); -EINVAL for neither. */
int client_split_host(const char *hp, char *name, size_t size, const char **port);
/* A connected non-blocking TCP socket (TCP_NODELAY) to name:port, each address tried in turn,
 * each within CONNECT_TIMEOUT_MS; -errno with err saying why. */
int client_connect_tcp(const char *name, const char *port, char *err, size_t err_size);
