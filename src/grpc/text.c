/* Text codecs of the gRPC wire: grpc-message percent-encoding, base64 for -bin metadata, and
 * grpc-timeout values. Pure functions; inputs come straight from peers. */
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

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long base64_decode(const char *in, size_t len, uint8_t *out)
{
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;

    /* Padding, when present, must make the length a multiple of 4 and sit only at the end. */
    size_t pad = 0;
    while (len > 0 && in[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad && (len + pad) % 4 != 0)
        return -EINVAL;
    if (len % 4 == 1)
        return -EINVAL;

    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

void base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = b64[v >> 18];
        *out++ = b64[(v >> 12) & 63];
        *out++ = b64[(v >> 6) & 63];
        *out++ = b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = b64[v >> 18];
        *out++ = b64[(v >> 12) & 63];
        *out++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
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
