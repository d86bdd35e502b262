/* TLS for the client library's TCP connections (tls.c): a blocking handshake that checks the
 * server's certificate and name and that it speaks h2 (ALPN), then non-blocking reads and writes
 * with the socket calls' conventions. libssl is loaded on first use. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct drover_tls;

struct drover_tls_opts {
    const char *name;    /* the server's name or address, checked against its certificate */
    const char *ca;      /* PEM file of CAs (or the server's pinned certificate); NULL: the
                            system's */
    const char *cert;    /* client certificate chain (mTLS), or NULL */
    const char *key;     /* its key (NULL: in the certificate's file) */
    uint32_t timeout_ms; /* for the handshake */
};

/* Handshake on the connected socket fd (non-blocking). -errno with err saying why: a file that
 * cannot be read, an untrusted certificate, no h2, a server that closed or said nothing. */
int drover_tls_connect(int fd, const struct drover_tls_opts *o, struct drover_tls **ret, char *err,
                       size_t err_size);
/* As send(2)/recv(2) on a non-blocking socket: bytes, 0 (recv: closed), -EAGAIN, -errno. */
ssize_t drover_tls_send(struct drover_tls *t, const void *data, size_t len);
ssize_t drover_tls_recv(struct drover_tls *t, void *data, size_t len);
/* Why the connection failed, as far as TLS knows: that the server asked for a client certificate
 * and got none (with its alert, if read), else OpenSSL's reason for the last read or write that
 * failed with -EPROTO (a TLS alert), else "". Valid until the next call. */
const char *drover_tls_why(struct drover_tls *t);
/* The server has answered at the HTTP/2 level: it took the connection, so a request for a
 * client certificate that got none was not what ended it, whatever ends it later. */
void drover_tls_accepted(struct drover_tls *t);
void drover_tls_free(struct drover_tls *t);
