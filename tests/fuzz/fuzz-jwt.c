/* Fuzz target: the JWT verifier on arbitrary tokens, with an HS256 secret (so that seeds signed
 * with it reach the claims) and a P-256 key, at a fixed time. Also the scope-word parser. A
 * token accepted here must carry a name that fits and only known scope bits. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth-internal.h"
#include "base/ossl.h"
#include "fuzz.h"

#define FUZZ_SECRET "fuzz-secret-fuzz-secret-fuzz-secret!"
#define FUZZ_NOW    1800000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EVP_PKEY *key;
    struct auth_principal who;
    char err[256], words[64];
    unsigned scopes;

    if (!key && (ossl_load_crypto(err, sizeof err) < 0 || !(key = EVP_EC_gen("P-256"))))
        abort();
    struct jwt_keys k = {
        .secret = (const uint8_t *)FUZZ_SECRET,
        .secret_len = strlen(FUZZ_SECRET),
        .public_key = key,
        .issuer = "https://auth.test",
        .audience = "drover",
        .leeway_s = 60,
    };
    if (jwt_verify(&k, (const char *)data, size, FUZZ_NOW, &who, err, sizeof err) == 0 &&
        (strnlen(who.name, sizeof who.name) == sizeof who.name || (who.scopes & ~3u)))
        __builtin_trap();
    size_t n = size < sizeof words - 1 ? size : sizeof words - 1;
    memcpy(words, data, n);
    words[n] = '\0';
    if (auth_scopes_parse(words, &scopes, err, sizeof err) == 0 && (scopes & ~3u))
        __builtin_trap();
    return 0;
}
