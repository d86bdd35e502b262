/* The vocabulary droverd and the CLI share: scope names, token names, digests in hex, new
 * tokens. Kept apart from auth.c, and free of OpenSSL: linking libcrypto statically into the CLI
 * made every `drover` command start 0.46 ms slower (0.93 → 1.39 ms). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "auth/auth.h"
#include "base/base64.h"
#include "base/macro.h"

int auth_scopes_parse(const char *s, unsigned *ret, char *err, size_t err_size)
{
    unsigned bits = 0;
    size_t n;

    for (const char *p = s; *p; p += n + (p[n] == ',')) {
        n = strcspn(p, ",");
        if (n == 4 && !strncmp(p, "read", 4)) {
            bits |= AUTH_READ;
        } else if (n == 7 && !strncmp(p, "control", 7)) {
            bits |= AUTH_CONTROL | AUTH_READ;
        } else if (!(n == 4 && !strncmp(p, "none", 4))) {
            if (err && err_size)
                snprintf(err, err_size, "unknown scope '%.*s' (known: read, control, none)",
                         (int)MIN(n, 32), p);
            return -EINVAL;
        }
    }
    *ret = bits;
    return 0;
}

const char *auth_scopes_name(unsigned scopes)
{
    if (scopes & AUTH_CONTROL)
        return "read,control";
    return scopes & AUTH_READ ? "read" : "none";
}

bool auth_token_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > AUTH_TOKEN_NAME_MAX)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") == n;
}

void auth_token_hex(const uint8_t digest[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

int auth_token_new(char out[AUTH_TOKEN_LEN + 1])
{
    uint8_t raw[32];
    char b64[base64_encoded_len(sizeof raw) + 1];

    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -errno;
    /* URL-safe and unpadded, so it fits in ?token= and shell arguments as it is: 43 characters. */
    base64url_encode(raw, sizeof raw, b64);
    memcpy(out, "drv_", 4);
    memcpy(out + 4, b64, AUTH_TOKEN_LEN - 4);
    out[AUTH_TOKEN_LEN] = '\0';
    return 0;
}
