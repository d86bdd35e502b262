/* The client's TLS (see tls.h), with the system's libssl loaded on first use (base/ossl.h):
 * linked into the CLI it would slow the start of every command, remote or not. */
#include "client/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/macro.h"
#include "base/ossl.h"
#include "base/time-util.h"
#include "client/connect.h"

struct drover_tls {
    SSL_CTX *ctx;
    SSL *ssl;
    char why[256];       /* OpenSSL's reason for the last failed read or write */
    char said[384];      /* drover_tls_why's answer, when it says more than why */
    bool cert_requested; /* the server asked for a client certificate and had none */
};

/* Called only when the server asks for a certificate and none is configured. */
static int no_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
    (void)x509;
    (void)pkey;
    struct drover_tls *t = SSL_get_ex_data(ssl, 0);
    if (t)
        t->cert_requested = true;
    return 0; /* go on without: the server may take a token instead */
}

/* OpenSSL's reason for the last failure, or "" (its queue emptied). */
static const char *ssl_reason(char *buf, size_t size)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()))
        last = e;
    buf[0] = 0;
    if (last)
        ERR_error_string_n(last, buf, size);
    return buf;
}

/* Waits for fd to be ready for what the handshake wants, until deadline_ms. */
static int wait_fd(int fd, int want, uint64_t deadline_ms)
{
    uint64_t now = mono_ms();
    if (now >= deadline_ms)
        return -ETIMEDOUT;
    struct pollfd p = {.fd = fd, .events = want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
    int r = poll(&p, 1, (int)(deadline_ms - now));
    return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

static int configure(struct drover_tls *t, const struct drover_tls_opts *o, char *err, size_t size)
{
    char why[256];
    static const unsigned char h2[] = "\x02h2";

    if (!(t->ctx = SSL_CTX_new(TLS_client_method())))
        return client_errf(err, size, -ENOMEM, "TLS: %s", ssl_reason(why, sizeof why));
    SSL_CTX_ctrl(t->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    SSL_CTX_ctrl(t->ctx, SSL_CTRL_MODE,
                 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
    if (o->ca) {
        if (SSL_CTX_load_verify_locations(t->ctx, o->ca, NULL) != 1)
            return client_errf(err, size, -EINVAL, "cannot read the CA file %s: %s", o->ca,
                               ssl_reason(why, sizeof why));
        /* The file may hold the server's own (self-signed) certificate: pinned, not a CA. */
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(t->ctx), X509_V_FLAG_PARTIAL_CHAIN);
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        return client_errf(err, size, -EINVAL, "cannot load the system's CA certificates: %s",
                           ssl_reason(why, sizeof why));
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (o->cert) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert) != 1)
            return client_errf(err, size, -EINVAL, "cannot read the client certificate %s: %s",
                               o->cert, ssl_reason(why, sizeof why));
        const char *key = o->key ? o->key : o->cert;
        if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 &&
            !strstr(ssl_reason(why, sizeof why), "key values mismatch"))
            return client_errf(err, size, -EINVAL, "cannot read the client key %s: %s", key, why);
        if (SSL_CTX_check_private_key(t->ctx) != 1)
            return client_errf(err, size, -EINVAL, "the key %s does not match the certificate %s",
                               key, o->cert);
    }
    if (SSL_CTX_set_alpn_protos(t->ctx, h2, sizeof h2 - 1) != 0)
        return client_errf(err, size, -ENOMEM, "TLS: cannot offer h2");
    SSL_CTX_set_client_cert_cb(t->ctx, no_client_cert);
    if (!(t->ssl = SSL_new(t->ctx)))
        return client_errf(err, size, -ENOMEM, "TLS: %s", ssl_reason(why, sizeof why));
    SSL_set_ex_data(t->ssl, 0, t);
    /* The name checked against the certificate: an address against its IP SANs. */
    unsigned char addr[16];
    bool ip = inet_pton(AF_INET, o->name, addr) == 1 || inet_pton(AF_INET6, o->name, addr) == 1;
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), o->name) != 1
           : SSL_set1_host(t->ssl, o->name) != 1 ||
                 SSL_ctrl(t->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                          (void *)o->name) != 1)
        return client_errf(err, size, -EINVAL, "TLS: cannot check the server's name %s", o->name);
    return 0;
}

static int handshake(struct drover_tls *t, int fd, const struct drover_tls_opts *o, char *err,
                     size_t size)
{
    char why[256];
    uint64_t deadline = mono_ms() + o->timeout_ms;

    if (SSL_set_fd(t->ssl, fd) != 1)
        return client_errf(err, size, -EINVAL, "TLS: %s", ssl_reason(why, sizeof why));
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(t->ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int w = wait_fd(fd, e, deadline);
            if (w < 0)
                return client_errf(err, size, w, "TLS handshake with %s: %s", o->name,
                                   w == -ETIMEDOUT ? "no answer (is it a TLS door?)"
                                                   : strerror(-w));
            continue;
        }
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK)
            return client_errf(err, size, -EPERM,
                               "the server's certificate is not trusted: %s (give its CA with "
                               "--tls-ca FILE)",
                               X509_verify_cert_error_string(v));
        const char *reason = ssl_reason(why, sizeof why);
        if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN || !*reason)
            return client_errf(
                err, size, -ECONNRESET,
                "TLS handshake with %s: the server closed the connection (a plaintext "
                "door? try --plaintext; a client certificate needed? --cert, --key)",
                o->name);
        if (strstr(reason, "wrong version number")) /* its first bytes were not TLS */
            return client_errf(
                err, size, -EPROTO,
                "TLS handshake with %s: the server does not speak TLS (a plaintext door? "
                "try --plaintext)",
                o->name);
        return client_errf(err, size, -EPROTO, "TLS handshake with %s failed: %s", o->name, reason);
    }
    const unsigned char *proto = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(t->ssl, &proto, &len);
    if (len != 2 || memcmp(proto, "h2", 2) != 0)
        return client_errf(err, size, -EPROTO, "%s does not speak HTTP/2 over TLS (ALPN h2)",
                           o->name);
    return 0;
}

int drover_tls_connect(int fd, const struct drover_tls_opts *o, struct drover_tls **ret, char *err,
                       size_t err_size)
{
    if (ossl_load_ssl(err, err_size) < 0)
        return -ENOENT;
    struct drover_tls *t = calloc(1, sizeof *t);
    if (!t)
        return client_errf(err, err_size, -ENOMEM, "out of memory");
    int r = configure(t, o, err, err_size);
    if (r == 0)
        r = handshake(t, fd, o, err, err_size);
    if (r < 0) {
        drover_tls_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

/* An SSL_read or SSL_write's result as the socket calls' would be. */
static ssize_t io_result(struct drover_tls *t, int r)
{
    if (r > 0)
        return r;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_SYSCALL) { /* errno 0: the peer closed without a close_notify */
        int saved = errno;
        ERR_clear_error();
        return saved ? -saved : 0;
    }
    ssl_reason(t->why, sizeof t->why); /* a TLS alert: "certificate required", ... */
    return -EPROTO;
}

/* libssl writes with write(2): a peer that has gone would raise SIGPIPE, which a library must
 * not let kill its caller. It is blocked around the write, and one it raised is taken back. */
ssize_t drover_tls_send(struct drover_tls *t, const void *data, size_t len)
{
    sigset_t pipe, old, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    ERR_clear_error();
    ssize_t n = io_result(t, SSL_write(t->ssl, data, (int)MIN(len, (size_t)INT32_MAX)));
    if (n == -EPIPE && !was_pending)
        (void)sigtimedwait(&pipe, NULL, &(struct timespec){0, 0});
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return n;
}

void drover_tls_accepted(struct drover_tls *t)
{
    t->cert_requested = false;
}

const char *drover_tls_why(struct drover_tls *t)
{
    if (!t->cert_requested)
        return t->why;
    /* Whichever came first, the failed write or the server's alert, the cause is the same. */
    snprintf(t->said, sizeof t->said,
             "droverd asked for a client certificate and none was given (--cert, --key)%s%s",
             *t->why ? ": " : "", t->why);
    return t->said;
}

ssize_t drover_tls_recv(struct drover_tls *t, void *data, size_t len)
{
    ERR_clear_error();
    return io_result(t, SSL_read(t->ssl, data, (int)MIN(len, (size_t)INT32_MAX)));
}

void drover_tls_free(struct drover_tls *t)
{
    if (!t)
        return;
    if (t->ssl)
        SSL_free(t->ssl);
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    free(t);
}
