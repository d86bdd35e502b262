/* Who a caller is and what it may do. Bearer credentials (static tokens from a file, JSON Web
 * Tokens) are verified here and become a principal: a name for audit lines and a set of scopes.
 * Which credential a door accepts, and which scope each method needs, is the doors' business
 * (api/authz.c); this module only verifies, and never logs.
 *
 * Secrets are handled with care: static tokens are stored as SHA-256 digests and compared in
 * constant time against every entry; an HS256 secret stays in this module's memory only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_scope {
    AUTH_READ = 1u << 0,    /* status, lists, metrics, logs */
    AUTH_CONTROL = 1u << 1, /* start, stop, spawn, kill, attach, shutdown (implies read) */
};
#define AUTH_SCOPES_ALL (AUTH_READ | AUTH_CONTROL)

struct auth_principal {
    char name[160];  /* "token:ci", "jwt:alice", "cert:CN=deployer", "uid:1000": for audit */
    unsigned scopes; /* enum auth_scope bits */
    int64_t expires; /* last second (epoch) the credential is good for, leeway included; 0: none */
};

struct auth_opts {
    const char *tokens_file;    /* lines "NAME SCOPES sha256:HEX", or NULL */
    const char *jwt_secret;     /* file holding the HS256 secret, or NULL */
    const char *jwt_public_key; /* PEM public key or certificate (RSA: RS256, P-256: ES256) */
    const char *jwt_issuer;     /* iss every token must carry, or NULL */
    const char *jwt_audience;   /* aud every token must name, or NULL */
    uint32_t jwt_leeway_s;      /* clock skew tolerated on exp and nbf */
};

struct auth;

/* Loads every configured source; -errno with err naming the file and the problem. */
int auth_new(const struct auth_opts *o, struct auth **ret, char *err, size_t err_size);
void auth_free(struct auth *a);
/* Whether any bearer credential can be verified at all. */
bool auth_has_bearer(const struct auth *a);
/* The lowercase hex SHA-256 of a token, as the tokens file stores it; -ENOENT with err when
 * libcrypto cannot be loaded. */
int auth_token_hash(const char *token, size_t len, char out[65], char *err, size_t err_size);
/* Verifies a bearer token at time now (seconds since the epoch): a JWT when it has the JWS
 * compact form and a JWT key is configured, a static token otherwise. -EACCES with err saying
 * why (never echoing the secret). A JWT that verified is remembered (by its SHA-256, until it
 * expires), so a client sending the same token with every call pays for the signature once. */
int auth_bearer(struct auth *a, const char *token, size_t len, int64_t now,
                struct auth_principal *ret, char *err, size_t err_size);

/* ---- words.c: shared with the CLI ----------------------------------------------------------- */

#define AUTH_TOKEN_NAME_MAX 64 /* a token's name in the tokens file */
#define AUTH_TOKEN_LEN      47 /* "drv_" and 32 random bytes in unpadded base64url */

/* "read", "control", "read,control", "none" → scope bits (control implies read). -EINVAL with
 * err naming the unknown word. */
int auth_scopes_parse(const char *s, unsigned *ret, char *err, size_t err_size);
/* "read,control", "read" or "none". */
const char *auth_scopes_name(unsigned scopes);
/* Letters, digits, '.', '_', '@', '-'; 1 to AUTH_TOKEN_NAME_MAX of them. */
bool auth_token_name_valid(const char *name);
/* 32 bytes as 64 lowercase hex digits. */
void auth_token_hex(const uint8_t digest[32], char out[65]);
/* A new token: "drv_" and 32 bytes from getrandom, base64url. -errno if none could be had. */
int auth_token_new(char out[AUTH_TOKEN_LEN + 1]);
