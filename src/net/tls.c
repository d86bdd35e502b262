/* TLS inside a connection: OpenSSL driven through memory BIOs on the libuv loop, so the
 * protocols above (HTTP/1.1, WebSocket, later HTTP/2) see plaintext and never block.
 *
 * Bytes from the socket go into the read BIO; SSL_read hands plaintext to the owner's on_read;
 * whatever OpenSSL wants sent (handshake records, alerts, application data) is drained from the
 * write BIO after every step and written to the socket, even when the owner has nothing to say
 * (a handshake in progress produces bytes on reads). Plaintext written before the handshake is
 * done waits in a queue (counted in net_conn_pending, so back-pressure still works).
 *
 * libssl is loaded (base/ossl.h) when the first door with TLS is made.
 *
 * Certificates: with `generate`, a missing pair is created once (ECDSA P-256, self-signed,
 * SANs from the caller, key 0600 written without a window where it is readable by others) and
 * then reused byte for byte, which is what clients that pin the certificate need. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/macro.h"
#include "base/ossl.h"
#include "base/paths.h"
#include "net/net-internal.h"

struct net_tls {
    SSL_CTX *ctx;        /* the server context */
    unsigned char *alpn; /* protocols offered, wire format, or NULL */
    size_t alpn_len;     /* its length */
};

struct tls_conn {
    SSL *ssl;         /* the session */
    BIO *rbio, *wbio; /* network side: what came in, what goes out */
    struct buf pre;   /* plaintext written before the handshake finished */
    bool failed;      /* a fatal error: nothing more is read or written */
};

/* ---- the context ------------------------------------------------------------------------ */

static int fail(char *err, size_t size, int r, const char *what)
{
    unsigned long e = ERR_get_error();
    char why[256] = "";
    if (e)
        ERR_error_string_n(e, why, sizeof why);
    snprintf(err, size, "%s%s%s", what, *why ? ": " : "", why);
    ERR_clear_error();
    return r;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    struct net_tls *t = arg;
    (void)ssl;
    if (SSL_select_next_proto((unsigned char **)out, outlen, t->alpn, (unsigned)t->alpn_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no protocol in common: refuse, as RFC 7301 says */
    return SSL_TLSEXT_ERR_OK;
}

/* Writes data to path, created with mode (and not replacing anything). */
static int write_new(const char *path, unsigned mode, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int r = -errno;
            close(fd);
            unlink(path);
            return r;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0)
        return -errno;
    return 0;
}

/* A PEM of an object, through a memory BIO. */
static int pem_of(int (*write_fn)(BIO *, void *), void *obj, char **ret, size_t *ret_len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    if (!b || !write_fn(b, obj)) {
        BIO_free(b);
        return -ENOMEM;
    }
    long n = BIO_get_mem_data(b, &data);
    *ret = malloc((size_t)n);
    if (*ret)
        memcpy(*ret, data, (size_t)n);
    *ret_len = (size_t)n;
    BIO_free(b);
    return *ret ? 0 : -ENOMEM;
}

static int write_key(BIO *b, void *k)
{
    return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *b, void *x)
{
    return PEM_write_bio_X509(b, x);
}

/* "DNS:name" or "IP:addr" for one subject alternative name. */
static void san_entry(const char *v, char *out, size_t size)
{
    struct in6_addr a6;
    struct in_addr a4;
    bool ip = inet_pton(AF_INET, v, &a4) == 1 || inet_pton(AF_INET6, v, &a6) == 1;
    snprintf(out, size, "%s:%s", ip ? "IP" : "DNS", v);
}

static int make_pair(const struct net_tls_opts *o, char *err, size_t size)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_EXTENSION *ext;
    char sans[4096] = "", one[300];
    unsigned char serial[16];
    int r = -ENOMEM;

    if (!key || !x)
        goto out;
    for (size_t i = 0; i < o->n_sans; i++) {
        san_entry(o->sans[i], one, sizeof one);
        if (strlen(sans) + strlen(one) + 2 >= sizeof sans)
            break;
        if (*sans)
            strcat(sans, ",");
        strcat(sans, one);
    }
    /* A random positive serial: clients that cache certificates by issuer and serial must
     * never see two different ones with the same pair. */
    if (RAND_bytes(serial, sizeof serial) != 1)
        goto out;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
        BN_free(bn);
        goto out;
    }
    BN_free(bn);
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -5 * 60);
    X509_gmtime_adj(X509_getm_notAfter(x), 397L * 24 * 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               (const unsigned char *)(o->n_sans ? o->sans[0] : "droverd"), -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    static const struct {
        int nid;
        const char *value;
    } exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(exts) + (*sans ? 1 : 0); i++) {
        bool is_san = i == ARRAY_SIZE(exts);
        ext = X509V3_EXT_conf_nid(NULL, &v3, is_san ? NID_subject_alt_name : exts[i].nid,
                                  is_san ? sans : exts[i].value);
        if (!ext || !X509_add_ext(x, ext, -1)) {
            X509_EXTENSION_free(ext);
            r = fail(err, size, -EINVAL, "cannot build the certificate's extensions");
            goto out;
        }
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(x, key, EVP_sha256())) {
        r = fail(err, size, -EINVAL, "cannot sign the certificate");
        goto out;
    }
    char *kp = NULL, *cp = NULL;
    size_t kl, cl;
    if ((r = pem_of(write_key, key, &kp, &kl)) < 0 || (r = pem_of(write_cert, x, &cp, &cl)) < 0) {
        free(kp);
        goto out;
    }
    (void)paths_mkdir_parent(o->key_path, 0700, false);
    (void)paths_mkdir_parent(o->cert_path, 0700, false);
    r = write_new(o->key_path, 0600, kp, kl);
    if (r == 0 && (r = write_new(o->cert_path, 0644, cp, cl)) < 0)
        unlink(o->key_path);
    if (r < 0)
        snprintf(err, size, "cannot write '%s' or '%s': %s", o->key_path, o->cert_path,
                 strerror(-r));
    OPENSSL_cleanse(kp, kl);
    free(kp);
    free(cp);
out:
    if (r == -ENOMEM && !*err)
        snprintf(err, size, "out of memory making a certificate");
    EVP_PKEY_free(key);
    X509_free(x);
    return r;
}

/* mTLS: the handshake fails unless the client shows a certificate one of these CAs signed. */
static int require_client_certs(struct net_tls *t, const char *ca, char *err, size_t size)
{
    char what[600];
    snprintf(what, sizeof what, "cannot use client CA file '%s'", ca);
    if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1)
        return fail(err, size, -EINVAL, what);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (!names)
        return fail(err, size, -EINVAL, what);
    SSL_CTX_set_client_CA_list(t->ctx, names); /* told to clients, so they pick the right one */
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* Resumed sessions keep the verified identity; OpenSSL refuses to resume without this. */
    SSL_CTX_set_session_id_context(t->ctx, (const unsigned char *)"drover", 6);
    return 0;
}

int net_tls_new(const struct net_tls_opts *o, struct net_tls **ret, char *err, size_t err_size)
{
    struct stat st;
    bool have_cert = stat(o->cert_path, &st) == 0, have_key = stat(o->key_path, &st) == 0;
    int r;

    err[0] = '\0';
    if (ossl_load_ssl(err, err_size) < 0)
        return -ENOENT;
    if (o->generate && !have_cert && !have_key && (r = make_pair(o, err, err_size)) < 0)
        return r;
    if (o->generate && have_cert != have_key) {
        snprintf(err, err_size, "'%s' exists without '%s': not replacing either",
                 have_cert ? o->cert_path : o->key_path, have_cert ? o->key_path : o->cert_path);
        return -EEXIST;
    }
    struct net_tls *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (!t->ctx) {
        free(t);
        return fail(err, err_size, -ENOMEM, "cannot make a TLS context");
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(t->ctx, o->key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(t->ctx) != 1) {
        char what[600];
        snprintf(what, sizeof what, "cannot use '%s' with '%s'", o->cert_path, o->key_path);
        net_tls_free(t);
        return fail(err, err_size, -EINVAL, what);
    }
    if (o->client_ca && (r = require_client_certs(t, o->client_ca, err, err_size)) < 0) {
        net_tls_free(t);
        return r;
    }
    if (o->alpn) {
        t->alpn_len = strlen(o->alpn);
        t->alpn = (unsigned char *)strdup(o->alpn);
        if (!t->alpn) {
            net_tls_free(t);
            return -ENOMEM;
        }
        SSL_CTX_set_alpn_select_cb(t->ctx, alpn_select, t);
    }
    *ret = t;
    return 0;
}

void net_tls_free(struct net_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t->alpn);
    free(t);
}

/* ---- connections ------------------------------------------------------------------------ */

struct tls_conn *tls_conn_new(struct net_tls *t)
{
    struct tls_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ssl = SSL_new(t->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        free(c);
        return NULL;
    }
    BIO_set_mem_eof_return(c->rbio, -1);   /* empty means "wait", not end of stream */
    SSL_set_bio(c->ssl, c->rbio, c->wbio); /* the session owns both now */
    SSL_set_accept_state(c->ssl);
    buf_init(&c->pre, 16u << 20);
    return c;
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    buf_done(&t->pre);
    free(t);
}

/* Sends whatever OpenSSL produced. */
static int flush(struct net_conn *c)
{
    struct tls_conn *t = c->tls;
    while (BIO_ctrl_pending(t->wbio) > 0) {
        size_t n = BIO_ctrl_pending(t->wbio);
        struct buf b;
        uint8_t *tail;
        buf_init(&b, 0);
        if (buf_reserve(&b, n, &tail) < 0)
            return -ENOMEM;
        int k = BIO_read(t->wbio, tail, (int)n);
        if (k <= 0) {
            buf_done(&b);
            break;
        }
        buf_commit(&b, (size_t)k);
        int r = net_raw_write(c, &b);
        buf_done(&b);
        if (r < 0)
            return r;
    }
    return 0;
}

static int write_plain(struct net_conn *c, const uint8_t *p, size_t len)
{
    struct tls_conn *t = c->tls;
    while (len) {
        int n = SSL_write(t->ssl, p, (int)MIN(len, (size_t)INT32_MAX));
        if (n <= 0) {
            t->failed = true;
            ERR_clear_error();
            return -EPROTO;
        }
        p += n;
        len -= (size_t)n;
    }
    return flush(c);
}

int tls_conn_recv(struct net_conn *c, const uint8_t *data, size_t len)
{
    struct tls_conn *t = c->tls;
    uint8_t plain[16384];

    if (t->failed)
        return -EPROTO;
    if (BIO_write(t->rbio, data, (int)len) != (int)len)
        return -ENOMEM;
    if (!SSL_is_init_finished(t->ssl)) {
        int r = SSL_do_handshake(t->ssl);
        int fr = flush(c); /* handshake records (or an alert) go out either way */
        if (r <= 0) {
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return fr;
            t->failed = true;
            ERR_clear_error();
            return -EPROTO;
        }
        if (fr < 0)
            return fr;
        /* What the owner wrote meanwhile goes out now. */
        if (t->pre.len) {
            int w = write_plain(c, buf_head(&t->pre), t->pre.len);
            buf_reset(&t->pre, 0);
            if (w < 0)
                return w;
        }
    }
    for (;;) {
        int n = SSL_read(t->ssl, plain, sizeof plain);
        if (n > 0) {
            if (!c->handler)
                return 0; /* closed by the owner meanwhile */
            c->handler->on_read(c, plain, (size_t)n, c->userdata);
            if (!c->handler || c->tls != t)
                return 0;
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        int fr = flush(c);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return fr;
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: the peer is done */
            if (c->handler)
                c->handler->on_end(c, 0, c->userdata);
            return 0;
        }
        t->failed = true;
        ERR_clear_error();
        return -EPROTO;
    }
}

int tls_conn_send(struct net_conn *c, struct buf *b)
{
    struct tls_conn *t = c->tls;
    int r;
    if (t->failed)
        return -EPIPE;
    if (!SSL_is_init_finished(t->ssl))
        r = buf_append(&t->pre, buf_head(b), b->len);
    else
        r = write_plain(c, buf_head(b), b->len);
    buf_done(b);
    return r;
}

size_t tls_conn_queued(const struct net_conn *c)
{
    return c->tls->pre.len;
}

void tls_conn_shutdown(struct net_conn *c)
{
    struct tls_conn *t = c->tls;
    if (t->failed || !SSL_is_init_finished(t->ssl))
        return;
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
    (void)flush(c);
}

int tls_conn_subject(const struct tls_conn *t, char *out, size_t size)
{
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    if (!x || SSL_get_verify_result(t->ssl) != X509_V_OK || size == 0)
        return 0;
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    if (!b || X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(b);
        return 0;
    }
    long n = BIO_get_mem_data(b, &data);
    snprintf(out, size, "%.*s", (int)MIN((size_t)n, size - 1), data);
    BIO_free(b);
    return 1;
}
