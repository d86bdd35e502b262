/* Text codecs of the gRPC wire: grpc-message percent-encoding and grpc-timeout values
 * (base64 for -bin metadata is base/base64.c). Pure functions; inputs come straight from peers. */
#include "grpc/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hex[] = "0123456789ABCDEF";

char *grpc_percent_encode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    char *o = out;

    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '%') {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *grpc_percent_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < len && (h = hexval(s[i + 1])) >= 0 &&
            (l = hexval(s[i + 2])) >= 0) {
            out[o++] = (char)(h << 4 | l);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

int grpc_timeout_parse(const char *s, size_t len, uint64_t *ret_ms)
{
    uint64_t v = 0;

    /* TimeoutValue is 1 to 8 ASCII digits; TimeoutUnit one of H M S m u n. */
    if (len < 2 || len > 9)
        return -EINVAL;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    switch (s[len - 1]) {
    case 'H':
        v *= 3600000u;
        break;
    case 'M':
        v *= 60000u;
        break;
    case 'S':
        v *= 1000u;
        break;
    case 'm':
        break;
    case 'u':
        v = (v + 999u) / 1000u;
        break;
    case 'n':
        v = (v + 999999u) / 1000000u;
        break;
    default:
        return -EINVAL;
    }
    *ret_ms = v;
    return 0;
}

void grpc_timeout_format(uint64_t ms, char *out)
{
    /* Eight digits at most: fall back to coarser units as the value grows. */
    if (ms < 100000000u)
        snprintf(out, 16, "%llum", (unsigned long long)ms);
    else if (ms / 1000u < 100000000u)
        snprintf(out, 16, "%lluS", (unsigned long long)(ms / 1000u));
    else
        snprintf(out, 16, "%lluH",
                 (unsigned long long)(ms / 3600000u < 99999999u ? ms / 3600000u : 99999999u));
}
