/* Unit tests of src/auth: scope words, the tokens file, and the JWT verifier on tokens built
 * here with OpenSSL (HS256 and ES256), including each way a token must be refused. */
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth-internal.h"
#include "auth/auth.h"
#include "base/base64.h"
#define OSSL_NO_REDIRECT /* the test calls OpenSSL itself, linked; droverd's code loads it */
#include "base/ossl.h"
#include "unit.h"

#define NOW 1800000000LL

static const char secret[] = "0123456789abcdef0123456789abcdef";

/* header.payload, signed with HS256 under key. */
static char *hs256(const char *header, const char *payload, const char *key)
{
    static char tok[4096];
    char h[1024], p[2048], s[128];
    uint8_t mac[32];
    unsigned n = 0;

    base64url_encode((const uint8_t *)header, strlen(header), h);
    base64url_encode((const uint8_t *)payload, strlen(payload), p);
    snprintf(tok, sizeof tok, "%s.%s", h, p);
    HMAC(EVP_sha256(), key, (int)strlen(key), (const uint8_t *)tok, strlen(tok), mac, &n);
    base64url_encode((const uint8_t *)mac, n, s);
    strcat(tok, ".");
    strcat(tok, s);
    return tok;
}

static int verify(const struct jwt_keys *k, const char *tok, struct auth_principal *who, char *err)
{
    return jwt_verify(k, tok, strlen(tok), NOW, who, err, 256);
}

static const char H[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

START_TEST(scopes)
{
    unsigned s = 99;
    char err[128];

    ck_assert_int_eq(auth_scopes_parse("read", &s, err, sizeof err), 0);
    ck_assert_uint_eq(s, AUTH_READ);
    ck_assert_int_eq(auth_scopes_parse("control", &s, err, sizeof err), 0);
    ck_assert_uint_eq(s, AUTH_READ | AUTH_CONTROL); /* control implies read */
    ck_assert_int_eq(auth_scopes_parse("none", &s, err, sizeof err), 0);
    ck_assert_uint_eq(s, 0);
    ck_assert_int_eq(auth_scopes_parse("read,control", &s, err, sizeof err), 0);
    ck_assert_str_eq(auth_scopes_name(s), "read,control");
    ck_assert_int_eq(auth_scopes_parse("read,admin", &s, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "'admin'"));
    ck_assert_int_eq(auth_scopes_parse("reading", &s, NULL, 0), -EINVAL);
    ck_assert(auth_token_name_valid("ci-bot@host.x_1"));
    ck_assert(!auth_token_name_valid(""));
    ck_assert(!auth_token_name_valid("a b"));
    char tok[AUTH_TOKEN_LEN + 1], tok2[AUTH_TOKEN_LEN + 1];
    ck_assert_int_eq(auth_token_new(tok), 0);
    ck_assert_int_eq(auth_token_new(tok2), 0);
    ck_assert_uint_eq(strlen(tok), AUTH_TOKEN_LEN);
    ck_assert_str_ne(tok, tok2);
    ck_assert_uint_eq(strspn(tok + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_"),
                      AUTH_TOKEN_LEN - 4);
}
END_TEST

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test-auth-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(token_digest)
{
    char digest[65], err[256];
    ck_assert_int_eq(auth_token_hash("abc", 3, digest, err, sizeof err),
                     0); /* FIPS 180-2's first */
    ck_assert_str_eq(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(tokens_lookup)
{
    char digest[65], text[512], err[256];
    struct auth *a;
    struct auth_principal who;

    ck_assert_int_eq(auth_token_hash("drv_one", 7, digest, err, sizeof err), 0);
    snprintf(text, sizeof text, "# comment\n\n  ci   read  sha256:%s\n", digest);
    ck_assert_int_eq(auth_token_hash("drv_two", 7, digest, err, sizeof err), 0);
    snprintf(text + strlen(text), sizeof text - strlen(text), "deploy control sha256:%s\n", digest);
    char *path = write_tmp(text);
    ck_assert_int_eq(auth_new(&(struct auth_opts){.tokens_file = path}, &a, err, sizeof err), 0);
    ck_assert(auth_has_bearer(a));
    ck_assert_int_eq(auth_bearer(a, "drv_one", 7, NOW, &who, err, sizeof err), 0);
    ck_assert_str_eq(who.name, "token:ci");
    ck_assert_uint_eq(who.scopes, AUTH_READ);
    ck_assert_int_eq(auth_bearer(a, "drv_two", 7, NOW, &who, err, sizeof err), 0);
    ck_assert_str_eq(who.name, "token:deploy");
    ck_assert_uint_eq(who.scopes, AUTH_READ | AUTH_CONTROL);
    ck_assert_int_eq(auth_bearer(a, "drv_one ", 8, NOW, &who, err, sizeof err), -EACCES);
    ck_assert_int_eq(auth_bearer(a, "", 0, NOW, &who, err, sizeof err), -EACCES);
    ck_assert_str_eq(err, "unknown token");
    auth_free(a);
    unlink(path);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"ci read\n", ":1: expected"},
        {"ci read sha256:abc\n", ":1: the digest"},
        {"ci read md5:00\n", ":1: the digest"},
        {"ci admin sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
         "unknown scope 'admin'"},
        {"c/i read sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
         "has a character"},
        {"a read sha256:000000000000000000000000000000000000000000000000000000000000000g\n",
         "the digest"},
        {"a read sha256:0000000000000000000000000000000000000000000000000000000000000000\n"
         "b read sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
         ":2: the same token as 'a'"},
        {"a read sha256:0000000000000000000000000000000000000000000000000000000000000000 x\n",
         ":1: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        path = write_tmp(bad[i].text);
        err[0] = '\0';
        ck_assert_int_lt(auth_new(&(struct auth_opts){.tokens_file = path}, &a, err, sizeof err),
                         0);
        ck_assert_msg(strstr(err, bad[i].want), "case %zu: '%s'", i, err);
        unlink(path);
    }
    ck_assert_int_eq(
        auth_new(&(struct auth_opts){.tokens_file = "/nonexistent"}, &a, err, sizeof err), -ENOENT);
}
END_TEST

START_TEST(jwt_hs256)
{
    struct jwt_keys k = {.secret = (const uint8_t *)secret,
                         .secret_len = strlen(secret),
                         .issuer = "iss1",
                         .audience = "drover",
                         .leeway_s = 60};
    struct auth_principal who;
    char err[256], claims[512];

#define CLAIMS(extra)                                                                              \
    (snprintf(claims, sizeof claims,                                                               \
              "{\"sub\":\"alice\",\"iss\":\"iss1\",\"aud\":\"drover\",\"exp\":%lld%s}", NOW + 100, \
              extra),                                                                              \
     claims)

    ck_assert_int_eq(verify(&k, hs256(H, CLAIMS(",\"scope\":\"read control\""), secret), &who, err),
                     0);
    ck_assert_str_eq(who.name, "jwt:alice");
    ck_assert_uint_eq(who.scopes, AUTH_READ | AUTH_CONTROL);
    ck_assert_int_eq(
        verify(&k, hs256(H, CLAIMS(",\"scp\":[\"read\",\"bogus\"]"), secret), &who, err), 0);
    ck_assert_uint_eq(who.scopes, AUTH_READ);
    ck_assert_int_eq(verify(&k, hs256(H, CLAIMS(""), secret), &who, err), 0);
    ck_assert_uint_eq(who.scopes, 0);

    /* Refusals, each with its reason. */
    static const struct {
        const char *header, *payload, *want;
    } bad[] = {
        {H, "{\"iss\":\"iss1\",\"aud\":\"drover\"}", "no exp"},
        {H, "{\"iss\":\"iss1\",\"aud\":\"drover\",\"exp\":\"soon\"}", "exp is not a number"},
        {H, "{\"iss\":\"iss1\",\"aud\":\"drover\",\"exp\":1799999939}", "expired 61 s ago"},
        {H, "{\"iss\":\"iss1\",\"aud\":\"drover\",\"exp\":1800000100,\"nbf\":1800000061}",
         "not valid for another 61 s"},
        {H, "{\"iss\":\"iss2\",\"aud\":\"drover\",\"exp\":1800000100}", "issuer"},
        {H, "{\"aud\":\"drover\",\"exp\":1800000100}", "issuer"},
        {H, "{\"iss\":\"iss1\",\"aud\":[\"a\",\"b\"],\"exp\":1800000100}", "audience"},
        {H, "{\"iss\":\"iss1\",\"exp\":1800000100}", "audience"},
        {"{\"alg\":\"none\"}", "{}", "'none' is not accepted"},
        {"{\"alg\":\"HS512\"}", "{}", "'HS512' is not accepted"},
        {"{\"typ\":\"JWT\"}", "{}", "no alg"},
        {"{\"alg\":\"HS256\",\"crit\":[\"x\"]}", "{}", "critical"},
        {"[1]", "{}", "header is not"},
        {"{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}", "header is not"}, /* duplicate keys */
        {"{\"alg\":\"RS256\"}", "{}", "RS256 tokens are not accepted"},
        {"{\"alg\":\"ES256\"}", "{}", "ES256 tokens are not accepted"},
        {H, "not json", "claims are not"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        ck_assert_int_eq(verify(&k, hs256(bad[i].header, bad[i].payload, secret), &who, err),
                         -EACCES);
        ck_assert_msg(strstr(err, bad[i].want), "case %zu: '%s'", i, err);
    }
    /* Leeway: 60 s past exp still passes, and nbf 60 s ahead too. */
    ck_assert_int_eq(verify(&k,
                            hs256(H,
                                  "{\"iss\":\"iss1\",\"aud\":\"drover\",\"exp\":1799999940,"
                                  "\"nbf\":1800000060}",
                                  secret),
                            &who, err),
                     0);
    /* Another key; a flipped bit in the signature; structure. */
    ck_assert_int_eq(
        verify(&k, hs256(H, CLAIMS(""), "another secret another secret !!"), &who, err), -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "signature does not verify"));
    char *t = hs256(H, CLAIMS(""), secret);
    t[strlen(t) - 2] ^= 1;
    ck_assert_int_eq(verify(&k, t, &who, err), -EACCES);
    static const char *const junk[] = {"",        ".",        "..",       "a.b",
                                       "a.b.c.d", "!!.!!.!!", "e30.e30.", "e30..sig"};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        ck_assert_int_eq(verify(&k, junk[i], &who, err), -EACCES);
    char *huge = malloc(JWT_MAX_LEN + 2);
    memset(huge, 'a', JWT_MAX_LEN + 1);
    huge[JWT_MAX_LEN + 1] = '\0';
    ck_assert_int_eq(verify(&k, huge, &who, err), -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "longer than"));
    free(huge);
    /* Without a secret, HS256 is refused even when correctly signed. */
    k.secret = NULL;
    ck_assert_int_eq(verify(&k, hs256(H, CLAIMS(""), secret), &who, err), -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "no jwt_secret"));
#undef CLAIMS
}
END_TEST

/* ES256: sign with a fresh P-256 key, convert the DER signature to JWS's r||s. */
START_TEST(jwt_es256)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(key);
    struct jwt_keys k = {.public_key = key};
    struct auth_principal who;
    char err[256], h[256], p[512], tok[2048], s[256];
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"bob\",\"exp\":%lld,\"scope\":\"read\"}",
             NOW + 10);
    base64url_encode((const uint8_t *)"{\"alg\":\"ES256\"}", 15, h);
    base64url_encode((const uint8_t *)payload, strlen(payload), p);
    snprintf(tok, sizeof tok, "%s.%s", h, p);

    uint8_t der[128];
    size_t der_len = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    ck_assert_int_eq(EVP_DigestSign(ctx, der, &der_len, (uint8_t *)tok, strlen(tok)), 1);
    EVP_MD_CTX_free(ctx);
    const uint8_t *dp = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &dp, (long)der_len);
    uint8_t raw[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
    ECDSA_SIG_free(sig);
    base64url_encode((const uint8_t *)raw, 64, s);
    size_t base = strlen(tok);
    snprintf(tok + base, sizeof tok - base, ".%s", s);
    ck_assert_int_eq(verify(&k, tok, &who, err), 0);
    ck_assert_str_eq(who.name, "jwt:bob");
    ck_assert_uint_eq(who.scopes, AUTH_READ);
    /* The DER form, or a truncated one, is not JWS's: refused. */
    base64url_encode((const uint8_t *)der, der_len, s);
    snprintf(tok + base, sizeof tok - base, ".%s", s);
    ck_assert_int_eq(verify(&k, tok, &who, err), -EACCES);
    base64url_encode((const uint8_t *)raw, 63, s);
    snprintf(tok + base, sizeof tok - base, ".%s", s);
    ck_assert_int_eq(verify(&k, tok, &who, err), -EACCES);
    /* An EC key does not verify RS256 tokens. */
    ck_assert_int_eq(verify(&k, hs256("{\"alg\":\"RS256\"}", "{}", "x"), &who, err), -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "RS256 tokens are not accepted"));
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(key_files)
{
    struct auth *a;
    char err[256];

    /* A short HS256 secret is refused; one trailing newline is not part of the secret. */
    char *path = write_tmp("short\n");
    ck_assert_int_eq(auth_new(&(struct auth_opts){.jwt_secret = path}, &a, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "holds 5 bytes"));
    unlink(path);
    path = write_tmp("0123456789abcdef0123456789abcdef\n");
    ck_assert_int_eq(
        auth_new(&(struct auth_opts){.jwt_secret = path, .jwt_leeway_s = 10}, &a, err, sizeof err),
        0);
    struct auth_principal who;
    char claims[128];
    snprintf(claims, sizeof claims, "{\"exp\":%lld}", NOW);
    char *tok = hs256(H, claims, secret);
    ck_assert_int_eq(auth_bearer(a, tok, strlen(tok), NOW, &who, err, sizeof err), 0);
    ck_assert_str_eq(who.name, "jwt:?");
    ck_assert_int_eq(who.expires, NOW + 10);
    /* Remembered while it lasts (the cache), refused once it has expired, cached or not. */
    ck_assert_int_eq(auth_bearer(a, tok, strlen(tok), NOW + 10, &who, err, sizeof err), 0);
    ck_assert_int_eq(auth_bearer(a, tok, strlen(tok), NOW + 11, &who, err, sizeof err), -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "expired 11 s ago"));
    /* A token differing in one byte is not taken from the cache. */
    tok[strlen(tok) - 5] ^= 1;
    ck_assert_int_eq(auth_bearer(a, tok, strlen(tok), NOW, &who, err, sizeof err), -EACCES);
    /* Claims at the edges of int64 do not overflow. */
    char *far = hs256(H, "{\"exp\":9223372036854775807}", secret);
    ck_assert_int_eq(auth_bearer(a, far, strlen(far), NOW, &who, err, sizeof err), 0);
    ck_assert_int_eq(who.expires, INT64_MAX);
    far = hs256(H, "{\"exp\":-9223372036854775807}", secret);
    ck_assert_int_eq(auth_bearer(a, far, strlen(far), NOW, &who, err, sizeof err), -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "before 1970"));
    auth_free(a);
    unlink(path);
    /* Leeway is bounded; issuer without a key makes no sense; a P-384 key is refused. */
    ck_assert_int_eq(auth_new(&(struct auth_opts){.jwt_leeway_s = 301}, &a, err, sizeof err),
                     -EINVAL);
    ck_assert_int_eq(auth_new(&(struct auth_opts){.jwt_issuer = "x"}, &a, err, sizeof err),
                     -EINVAL);
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, p384);
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    char *text = strndup(pem, (size_t)n);
    path = write_tmp(text);
    ck_assert_int_eq(auth_new(&(struct auth_opts){.jwt_public_key = path}, &a, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "P-256"));
    unlink(path);
    free(text);
    BIO_free(b);
    EVP_PKEY_free(p384);
    path = write_tmp("not a key\n");
    ck_assert_int_eq(auth_new(&(struct auth_opts){.jwt_public_key = path}, &a, err, sizeof err),
                     -EINVAL);
    unlink(path);
    /* Nothing configured: no bearer at all. */
    ck_assert_int_eq(auth_new(&(struct auth_opts){0}, &a, err, sizeof err), 0);
    ck_assert(!auth_has_bearer(a));
    ck_assert_int_eq(auth_bearer(a, "x", 1, NOW, &who, err, sizeof err), -EACCES);
    auth_free(a);
}
END_TEST

START_TEST(base64url)
{
    uint8_t out[16];
    ck_assert_int_eq(base64url_decode("-_8", 3, out), 2);
    ck_assert_uint_eq(out[0], 0xfb);
    ck_assert_uint_eq(out[1], 0xff);
    ck_assert_int_eq(base64url_decode("+/8", 3, out), -EINVAL);
    ck_assert_int_eq(base64url_decode("AA==", 4, out), -EINVAL); /* no padding in JWS */
    ck_assert_int_eq(base64_decode("-_8", 3, out), -EINVAL);
    ck_assert_int_eq(base64url_decode("AB", 2, out), -EINVAL); /* non-canonical: bits left */
    ck_assert_int_eq(base64url_decode("AA", 2, out), 1);
}
END_TEST

int main(void)
{
    char err[256];
    if (ossl_load_crypto(err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, scopes);
    tcase_add_test(tc, token_digest);
    tcase_add_test(tc, tokens_lookup);
    tcase_add_test(tc, jwt_hs256);
    tcase_add_test(tc, jwt_es256);
    tcase_add_test(tc, key_files);
    tcase_add_test(tc, base64url);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
