/* JSON Web Tokens (RFC 7519) in JWS compact form (RFC 7515), verified with OpenSSL.
 *
 * Order matters. The header is decoded first, only to learn the algorithm; the algorithm must
 * be one we were configured for (HS256 needs the secret, RS256 an RSA key, ES256 a P-256 key),
 * which closes the classic confusions ("alg": "none", or an RSA public key used as an HMAC
 * secret). The signature is checked over the encoded header and payload before a single claim
 * is believed. Only then are the claims read: exp is required, nbf honoured, both with a
 * bounded leeway; iss and aud must match when configured.
 *
 * Every input is hostile: the token's length is capped before decoding, each part is decoded
 * into a buffer sized from that cap, and JSON goes through jansson with its own limits. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth-internal.h"
#include "base/base64.h"
#include "base/macro.h"
#include "base/ossl.h"

enum alg { ALG_HS256, ALG_RS256, ALG_ES256 };

/* The three parts of a compact token, as they appear in it. */
struct parts {
    const char *s[3]; /* header, payload, signature (base64url) */
    size_t n[3];      /* their lengths */
};

static int refuse(char *err, size_t size, const char *fmt, ...) _printf_(3, 4);
static int refuse(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -EACCES;
}

static int split(const char *token, size_t len, struct parts *p)
{
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && token[i] != '.')
            continue;
        if (k == 3)
            return -EINVAL; /* a fourth part: JWE, or garbage */
        p->s[k] = token + start;
        p->n[k++] = i - start;
        start = i + 1;
    }
    return k == 3 && p->n[0] && p->n[1] ? 0 : -EINVAL;
}

/* Decodes one base64url part holding a JSON object. */
static json_t *decode_object(const char *s, size_t n)
{
    uint8_t buf[base64_decoded_max(JWT_MAX_LEN)];
    long m = base64url_decode(s, n, buf);
    if (m <= 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)m, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int header_alg(json_t *h, enum alg *ret, char *err, size_t size)
{
    const char *alg = json_string_value(json_object_get(h, "alg"));
    if (!alg)
        return refuse(err, size, "token header has no alg");
    if (json_object_get(h, "crit"))
        return refuse(err, size, "token header has critical extensions we do not understand");
    if (!strcmp(alg, "HS256"))
        *ret = ALG_HS256;
    else if (!strcmp(alg, "RS256"))
        *ret = ALG_RS256;
    else if (!strcmp(alg, "ES256"))
        *ret = ALG_ES256;
    else
        return refuse(err, size, "token algorithm '%.16s' is not accepted", alg);
    return 0;
}

/* JWS carries ES256 signatures as r || s, 32 bytes each; OpenSSL verifies DER. */
static int es256_der(const uint8_t *sig, size_t len, uint8_t **ret, size_t *ret_len)
{
    if (len != 64)
        return -EINVAL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return -ENOMEM;
    }
    unsigned char *der = NULL;
    int n = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return -ENOMEM;
    *ret = der;
    *ret_len = (size_t)n;
    return 0;
}

static bool verify_pkey(EVP_PKEY *key, enum alg alg, const char *data, size_t data_len,
                        const uint8_t *sig, size_t sig_len)
{
    uint8_t *der = NULL;
    bool ok = false;

    if (alg == ALG_ES256) {
        if (es256_der(sig, sig_len, &der, &sig_len) < 0)
            return false;
        sig = der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1)
        ok = EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *)data, data_len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

static int verify_signature(const struct jwt_keys *k, enum alg alg, const struct parts *p,
                            char *err, size_t size)
{
    uint8_t sig[base64_decoded_max(JWT_MAX_LEN)];
    long n = base64url_decode(p->s[2], p->n[2], sig);
    size_t signed_len = p->n[0] + 1 + p->n[1]; /* "header.payload" */
    bool ok = false;

    if (n <= 0)
        return refuse(err, size, "token signature is not base64url");
    switch (alg) {
    case ALG_HS256: {
        uint8_t mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        if (!k->secret)
            return refuse(err, size, "HS256 tokens are not accepted (no jwt_secret)");
        if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const uint8_t *)p->s[0], signed_len,
                  mac, &mac_len))
            return refuse(err, size, "cannot compute HMAC");
        ok = (size_t)n == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
        break;
    }
    case ALG_RS256:
    case ALG_ES256: {
        int want = alg == ALG_RS256 ? EVP_PKEY_RSA : EVP_PKEY_EC;
        if (!k->public_key || EVP_PKEY_get_base_id(k->public_key) != want)
            return refuse(err, size, "%s tokens are not accepted (no such jwt_public_key)",
                          alg == ALG_RS256 ? "RS256" : "ES256");
        ok = verify_pkey(k->public_key, alg, p->s[0], signed_len, sig, (size_t)n);
        break;
    }
    }
    return ok ? 0 : refuse(err, size, "token signature does not verify");
}

/* A NumericDate: a JSON number of seconds, integer or not. */
static bool numeric_date(json_t *v, int64_t *ret)
{
    if (json_is_integer(v)) {
        *ret = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -9.0e15 && d < 9.0e15))
            return false;
        *ret = (int64_t)d;
        return true;
    }
    return false;
}

static bool aud_matches(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return !strcmp(json_string_value(aud), want);
    size_t i;
    json_t *v;
    json_array_foreach(aud, i,
                       v) if (json_is_string(v) && !strcmp(json_string_value(v), want)) return true;
    return false;
}

static int check_times(const struct jwt_keys *k, json_t *c, int64_t now, int64_t *ret_expires,
                       char *err, size_t size)
{
    int64_t exp, nbf, leeway = k->leeway_s;
    json_t *v = json_object_get(c, "exp");
    if (!v)
        return refuse(err, size, "token has no exp");
    if (!numeric_date(v, &exp))
        return refuse(err, size, "token exp is not a number");
    /* Written so that no claim, however large or small, can overflow the arithmetic. */
    if (exp < now - leeway)
        return exp < 0 ? refuse(err, size, "token expired before 1970")
                       : refuse(err, size, "token expired %lld s ago", (long long)(now - exp));
    v = json_object_get(c, "nbf");
    if (v && !numeric_date(v, &nbf))
        return refuse(err, size, "token nbf is not a number");
    if (v && now + leeway < nbf)
        return refuse(err, size, "token is not valid for another %lld s", (long long)(nbf - now));
    *ret_expires = exp > INT64_MAX - leeway ? INT64_MAX : exp + leeway;
    return 0;
}

/* Scope words from "scope" ("read control"), or the arrays "scp" / "scopes". */
static unsigned scopes_of(json_t *c)
{
    unsigned bits = 0, b;
    const char *s = json_string_value(json_object_get(c, "scope"));
    char word[32];

    for (const char *p = s; p && *p;) {
        size_t n = strcspn(p, " ");
        if (n && n < sizeof word) {
            memcpy(word, p, n);
            word[n] = '\0';
            if (auth_scopes_parse(word, &b, NULL, 0) == 0)
                bits |= b;
        }
        p += n + (p[n] == ' ');
    }
    for (int i = 0; i < 2; i++) {
        json_t *a = json_object_get(c, i ? "scopes" : "scp"), *v;
        size_t j;
        json_array_foreach(a, j, v) if (json_is_string(v) &&
                                        auth_scopes_parse(json_string_value(v), &b, NULL, 0) == 0)
            bits |= b;
    }
    return bits;
}

/* The subject as it goes into audit lines: printable ASCII only, bounded. */
static void principal_name(json_t *c, char *out, size_t size)
{
    const char *sub = json_string_value(json_object_get(c, "sub"));
    size_t o = (size_t)snprintf(out, size, "jwt:");
    for (const char *p = sub ? sub : "?"; *p && o + 1 < size; p++)
        out[o++] = *p > 0x20 && *p < 0x7f ? *p : '_';
    out[o] = '\0';
}

static int check_claims(const struct jwt_keys *k, json_t *c, int64_t now,
                        struct auth_principal *ret, char *err, size_t size)
{
    int r = check_times(k, c, now, &ret->expires, err, size);
    if (r < 0)
        return r;
    if (k->issuer) {
        const char *iss = json_string_value(json_object_get(c, "iss"));
        if (!iss || strcmp(iss, k->issuer))
            return refuse(err, size, "token issuer is not '%s'", k->issuer);
    }
    if (k->audience && !aud_matches(json_object_get(c, "aud"), k->audience))
        return refuse(err, size, "token audience does not include '%s'", k->audience);
    principal_name(c, ret->name, sizeof ret->name);
    ret->scopes = scopes_of(c);
    return 0;
}

int jwt_verify(const struct jwt_keys *k, const char *token, size_t len, int64_t now,
               struct auth_principal *ret, char *err, size_t err_size)
{
    struct parts p;
    enum alg alg = ALG_HS256;
    struct auth_principal who = {.scopes = 0};

    if (len > JWT_MAX_LEN)
        return refuse(err, err_size, "token longer than %d bytes", JWT_MAX_LEN);
    if (split(token, len, &p) < 0)
        return refuse(err, err_size, "token is not a JWS compact serialization");
    json_t *h = decode_object(p.s[0], p.n[0]);
    if (!h)
        return refuse(err, err_size, "token header is not a base64url JSON object");
    int r = header_alg(h, &alg, err, err_size);
    json_decref(h);
    if (r < 0 || (r = verify_signature(k, alg, &p, err, err_size)) < 0)
        return r;
    json_t *c = decode_object(p.s[1], p.n[1]);
    if (!c)
        return refuse(err, err_size, "token claims are not a base64url JSON object");
    r = check_claims(k, c, now, &who, err, err_size);
    json_decref(c);
    if (r == 0)
        *ret = who;
    return r;
}
