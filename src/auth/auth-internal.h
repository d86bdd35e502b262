/* The JWT verifier, shared by auth.c, its unit test and its fuzzer. */
#pragma once

#include <openssl/evp.h>

#include "auth/auth.h"

#define JWT_MAX_LEN 8192 /* bytes of a whole token; larger ones are refused unread */

struct jwt_keys {
    const uint8_t *secret; /* HS256 secret, or NULL */
    size_t secret_len;     /* its length */
    EVP_PKEY *public_key;  /* RS256 (RSA) or ES256 (EC P-256) key, or NULL */
    const char *issuer;    /* required iss, or NULL */
    const char *audience;  /* required aud, or NULL */
    uint32_t leeway_s;     /* clock skew tolerated on exp and nbf */
};

/* Verifies a JWS compact serialization: the header's alg must match a configured key (so a
 * public key is never used as an HMAC secret), the signature, then exp (required), nbf, iss and
 * aud. On success fills the principal ("jwt:<sub>") and scopes from "scope" (space-separated)
 * or "scp"/"scopes" (arrays). -EACCES with err otherwise. */
int jwt_verify(const struct jwt_keys *k, const char *token, size_t len, int64_t now,
               struct auth_principal *ret, char *err, size_t err_size);
