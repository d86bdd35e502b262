/* Credential sources: the static tokens file and the JWT keys (see auth.h).
 *
 * The tokens file is line-oriented, like authorized_keys:
 *
 *     # name    scopes         digest of the token
 *     ci        read sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 deploy
 * read,control   sha256:...
 *
 * Only digests are stored, so the file leaks nothing usable; tokens made by `drover token new`
 * are 32 random bytes, far beyond brute force of a digest. A presented token is hashed and
 * compared with every entry, in constant time and without stopping at the first match, so the
 * time taken says nothing about which entry (if any) matched.
 *
 * libcrypto is loaded (base/ossl.h) only when tokens or JWT keys are configured. */
#include "auth/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth-internal.h"
#include "base/errmsg.h"
#include "base/macro.h"
#include "base/ossl.h"
#include "base/vec.h"

#define MAX_TOKENS   4096
#define MAX_SECRET   4096 /* bytes of an HS256 secret file */
#define MIN_SECRET   32   /* RFC 7518 §3.2: a key at least as long as the hash */
#define MAX_LEEWAY_S 300
#define JWT_CACHE    64 /* verified JWTs remembered */

struct token {
    char name[AUTH_TOKEN_NAME_MAX + 1];   /* for audit lines */
    uint8_t digest[SHA256_DIGEST_LENGTH]; /* SHA-256 of the token */
    unsigned scopes;                      /* what it may do */
};

/* A JWT that verified: the same bytes again need no signature check until it expires. */
struct verified {
    uint8_t digest[SHA256_DIGEST_LENGTH]; /* SHA-256 of the whole token */
    struct auth_principal who;            /* what it said; who.expires bounds the entry */
};

struct auth {
    struct token *tokens; /* the tokens file, in file order */
    size_t n_tokens;      /* entries in tokens */
    uint8_t *secret;      /* HS256 secret, or NULL */
    size_t secret_len;    /* its length */
    struct jwt_keys jwt;  /* everything jwt_verify needs; points into this struct */
    char *issuer;         /* owned copies of the strings jwt points at */
    char *audience;
    bool has_jwt;                     /* a JWT key is configured */
    struct verified cache[JWT_CACHE]; /* recently verified JWTs */
    unsigned cache_next;              /* the entry replaced next (round robin) */
};

/* ---- the tokens file --------------------------------------------------------------------- */

static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
            return -EINVAL;
        out[i] = (uint8_t)v;
    }
    return s[2 * n] ? -EINVAL : 0;
}

static int parse_token_line(char *line, struct token *t, const char *path, unsigned lineno,
                            char *err, size_t size)
{
    char *save, *name = strtok_r(line, " \t", &save), *scopes = strtok_r(NULL, " \t", &save),
                *digest = strtok_r(NULL, " \t", &save), *extra = strtok_r(NULL, " \t", &save);
    char why[128];

    if (!digest || extra)
        return errmsg_fail(err, size, -EINVAL, "%s:%u: expected 'NAME SCOPES sha256:HEX'", path,
                           lineno);
    if (strlen(name) > AUTH_TOKEN_NAME_MAX)
        return errmsg_fail(err, size, -EINVAL, "%s:%u: name longer than %d characters", path,
                           lineno, AUTH_TOKEN_NAME_MAX);
    if (!auth_token_name_valid(name))
        return errmsg_fail(err, size, -EINVAL,
                           "%s:%u: name '%s' has a character other than "
                           "letters, digits, '.', '_', '@', '-'",
                           path, lineno, name);
    if (auth_scopes_parse(scopes, &t->scopes, why, sizeof why) < 0)
        return errmsg_fail(err, size, -EINVAL, "%s:%u: %s", path, lineno, why);
    if (strncmp(digest, "sha256:", 7) || unhex(digest + 7, t->digest, sizeof t->digest) < 0)
        return errmsg_fail(
            err, size, -EINVAL,
            "%s:%u: the digest must be 'sha256:' and 64 hex digits (drover token new "
            "makes one)",
            path, lineno);
    snprintf(t->name, sizeof t->name, "%s", name);
    return 0;
}

static int load_tokens(struct auth *a, const char *path, char *err, size_t size)
{
    FILE *f = fopen(path, "re");
    char line[512];
    unsigned lineno = 0;
    size_t cap = 0;
    int r = 0;

    if (!f)
        return errmsg_fail(err, size, -errno, "cannot open tokens file '%s': %s", path,
                           strerror(errno));
    while (r == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line + strspn(line, " \t");
        if (!*p || *p == '#')
            continue;
        if (a->n_tokens == MAX_TOKENS) {
            r = errmsg_fail(err, size, -E2BIG, "%s: more than %d tokens", path, MAX_TOKENS);
            break;
        }
        if (VEC_RESERVE(a->tokens, cap, a->n_tokens + 1) < 0) {
            r = -ENOMEM;
            break;
        }
        struct token *t = a->tokens;
        r = parse_token_line(p, &t[a->n_tokens], path, lineno, err, size);
        for (size_t i = 0; r == 0 && i < a->n_tokens; i++)
            if (!memcmp(t[i].digest, t[a->n_tokens].digest, sizeof t[i].digest))
                r = errmsg_fail(err, size, -EINVAL, "%s:%u: the same token as '%s'", path, lineno,
                                t[i].name);
        if (r == 0)
            a->n_tokens++;
    }
    if (r == 0 && ferror(f))
        r = errmsg_fail(err, size, -EIO, "cannot read '%s'", path);
    fclose(f);
    return r;
}

/* ---- JWT keys ---------------------------------------------------------------------------- */

static int load_secret(struct auth *a, const char *path, char *err, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return errmsg_fail(err, size, -errno, "cannot open jwt_secret '%s': %s", path,
                           strerror(errno));
    a->secret = malloc(MAX_SECRET + 1);
    size_t n = a->secret ? fread(a->secret, 1, MAX_SECRET + 1, f) : 0;
    fclose(f);
    if (!a->secret)
        return -ENOMEM;
    if (n > MAX_SECRET)
        return errmsg_fail(err, size, -EINVAL, "jwt_secret '%s' is larger than %d bytes", path,
                           MAX_SECRET);
    /* One line ending is the file's, not the secret's (echo secret > file). */
    if (n && a->secret[n - 1] == '\n')
        n--;
    if (n && a->secret[n - 1] == '\r')
        n--;
    if (n < MIN_SECRET)
        return errmsg_fail(err, size, -EINVAL,
                           "jwt_secret '%s' holds %zu bytes; HS256 needs at least %d", path, n,
                           MIN_SECRET);
    a->secret_len = n;
    return 0;
}

static int check_key(EVP_PKEY *k, const char *path, char *err, size_t size)
{
    char group[64] = "";
    size_t glen = 0;

    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(k) < 2048)
            return errmsg_fail(err, size, -EINVAL,
                               "jwt_public_key '%s': RSA keys need 2048 bits or more", path);
        return 0;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(k, group, sizeof group, &glen) != 1 ||
            strcmp(group, "prime256v1"))
            return errmsg_fail(err, size, -EINVAL,
                               "jwt_public_key '%s': EC keys must be on P-256 (ES256), not '%s'",
                               path, group);
        return 0;
    default:
        return errmsg_fail(err, size, -EINVAL,
                           "jwt_public_key '%s': only RSA (RS256) and P-256 "
                           "(ES256) keys are supported",
                           path);
    }
}

static int load_public_key(struct auth *a, const char *path, char *err, size_t size)
{
    BIO *b = BIO_new_file(path, "r");
    if (!b)
        return errmsg_fail(err, size, -ENOENT, "cannot open jwt_public_key '%s'", path);
    EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    if (!k) { /* a certificate holding the key will do too */
        (void)BIO_reset(b);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        k = x ? X509_get_pubkey(x) : NULL;
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error();
    if (!k)
        return errmsg_fail(err, size, -EINVAL,
                           "jwt_public_key '%s' holds no PEM public key or certificate", path);
    int r = check_key(k, path, err, size);
    if (r < 0) {
        EVP_PKEY_free(k);
        return r;
    }
    a->jwt.public_key = k;
    return 0;
}

static int load_jwt(struct auth *a, const struct auth_opts *o, char *err, size_t size)
{
    int r;
    if (o->jwt_leeway_s > MAX_LEEWAY_S)
        return errmsg_fail(err, size, -EINVAL, "jwt_leeway_s: at most %d seconds", MAX_LEEWAY_S);
    if (o->jwt_secret && (r = load_secret(a, o->jwt_secret, err, size)) < 0)
        return r;
    if (o->jwt_public_key && (r = load_public_key(a, o->jwt_public_key, err, size)) < 0)
        return r;
    a->has_jwt = a->secret || a->jwt.public_key;
    if (!a->has_jwt && (o->jwt_issuer || o->jwt_audience))
        return errmsg_fail(err, size, -EINVAL,
                           "jwt_issuer/jwt_audience need jwt_secret or "
                           "jwt_public_key");
    if ((o->jwt_issuer && !(a->issuer = strdup(o->jwt_issuer))) ||
        (o->jwt_audience && !(a->audience = strdup(o->jwt_audience))))
        return -ENOMEM;
    a->jwt.secret = a->secret;
    a->jwt.secret_len = a->secret_len;
    a->jwt.issuer = a->issuer;
    a->jwt.audience = a->audience;
    a->jwt.leeway_s = o->jwt_leeway_s;
    return 0;
}

/* ---- the object -------------------------------------------------------------------------- */

int auth_new(const struct auth_opts *o, struct auth **ret, char *err, size_t err_size)
{
    struct auth *a = calloc(1, sizeof *a);
    int r = a ? 0 : -ENOMEM;

    if (r == 0 && (o->tokens_file || o->jwt_secret || o->jwt_public_key))
        r = ossl_load_crypto(err, err_size) < 0 ? -ENOENT : 0;
    if (r == 0 && o->tokens_file)
        r = load_tokens(a, o->tokens_file, err, err_size);
    if (r == 0)
        r = load_jwt(a, o, err, err_size);
    if (r < 0) {
        auth_free(a);
        return r;
    }
    *ret = a;
    return 0;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    if (a->tokens)
        OPENSSL_cleanse(a->tokens, a->n_tokens * sizeof *a->tokens);
    free(a->tokens);
    if (a->secret)
        OPENSSL_cleanse(a->secret, a->secret_len);
    free(a->secret);
    if (a->jwt.public_key)
        EVP_PKEY_free(a->jwt.public_key);
    free(a->issuer);
    free(a->audience);
    free(a);
}

int auth_token_hash(const char *token, size_t len, char out[65], char *err, size_t err_size)
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    if (ossl_load_crypto(err, err_size) < 0)
        return -ENOENT;
    SHA256((const uint8_t *)token, len, d);
    auth_token_hex(d, out);
    return 0;
}

bool auth_has_bearer(const struct auth *a)
{
    return a && (a->n_tokens || a->has_jwt);
}

static bool looks_like_jws(const char *t, size_t len)
{
    size_t dots = 0;
    for (size_t i = 0; i < len; i++)
        dots += t[i] == '.';
    return dots == 2;
}

/* A JWT through the cache: a hit that has not expired is as good as a verification, since
 * equal digests mean equal tokens; nbf, once passed, stays passed. */
static int bearer_jwt(struct auth *a, const char *token, size_t len, int64_t now,
                      struct auth_principal *ret, char *err, size_t err_size)
{
    uint8_t d[SHA256_DIGEST_LENGTH];

    if (len > JWT_MAX_LEN)
        return jwt_verify(&a->jwt, token, len, now, ret, err, err_size);
    SHA256((const uint8_t *)token, len, d);
    for (size_t i = 0; i < JWT_CACHE; i++) {
        const struct verified *v = &a->cache[i];
        if (v->who.expires && now <= v->who.expires && !memcmp(v->digest, d, sizeof d)) {
            *ret = v->who;
            return 0;
        }
    }
    int r = jwt_verify(&a->jwt, token, len, now, ret, err, err_size);
    if (r == 0) {
        struct verified *v = &a->cache[a->cache_next++ % JWT_CACHE];
        memcpy(v->digest, d, sizeof d);
        v->who = *ret;
    }
    return r;
}

int auth_bearer(struct auth *a, const char *token, size_t len, int64_t now,
                struct auth_principal *ret, char *err, size_t err_size)
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    const struct token *hit = NULL;

    if (!auth_has_bearer(a))
        return errmsg_fail(err, err_size, -EACCES, "bearer tokens are not configured");
    if (a->has_jwt && looks_like_jws(token, len))
        return bearer_jwt(a, token, len, now, ret, err, err_size);
    SHA256((const uint8_t *)token, len, d);
    for (size_t i = 0; i < a->n_tokens; i++) {
        bool eq = CRYPTO_memcmp(d, a->tokens[i].digest, sizeof d) == 0;
        hit = eq ? &a->tokens[i] : hit; /* no early exit: every entry costs the same */
    }
    if (!hit)
        return errmsg_fail(err, err_size, -EACCES, "unknown token");
    snprintf(ret->name, sizeof ret->name, "token:%s", hit->name);
    ret->scopes = hit->scopes;
    ret->expires = 0;
    return 0;
}
