/* Base64 codecs: see base64.h. One decoder serves both alphabets; which characters mean 62
 * and 63, and whether padding may appear, is all that differs. */
#include "base/base64.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A character's value: its place in the alphabet encode() writes with, or -1 (NUL too, which
 * strchr would find at the end). */
static int b64val(unsigned char c, bool url)
{
    const char *abc = url ? b64url : b64, *p = c ? strchr(abc, c) : NULL;
    return p ? (int)(p - abc) : -1;
}

static long decode(const char *in, size_t len, uint8_t *out, bool url)
{
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;

    /* Padding, when allowed and present, must make the length a multiple of 4 and sit only at
     * the end. */
    size_t pad = 0;
    while (!url && len > 0 && in[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad && (len + pad) % 4 != 0)
        return -EINVAL;
    if (len % 4 == 1)
        return -EINVAL;

    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i], url);
        if (v < 0)
            return -EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* The bits left over must be zero in the URL-safe form: one value, one encoding, so a
     * signature cannot be spelled two ways (RFC 4648 §3.5). */
    if (url && bits && (acc & ((1u << bits) - 1)))
        return -EINVAL;
    return (long)o;
}

long base64_decode(const char *in, size_t len, uint8_t *out)
{
    return decode(in, len, out, false);
}

long base64url_decode(const char *in, size_t len, uint8_t *out)
{
    return decode(in, len, out, true);
}

static void encode(const uint8_t *in, size_t len, char *out, bool url)
{
    const char *abc = url ? b64url : b64;
    size_t i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = abc[v >> 18];
        *out++ = abc[(v >> 12) & 63];
        *out++ = abc[(v >> 6) & 63];
        *out++ = abc[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = abc[v >> 18];
        *out++ = abc[(v >> 12) & 63];
        if (i + 1 < len)
            *out++ = abc[(v >> 6) & 63];
        else if (!url)
            *out++ = '=';
        if (!url)
            *out++ = '=';
    }
    *out = '\0';
}

void base64_encode(const uint8_t *in, size_t len, char *out)
{
    encode(in, len, out, false);
}

void base64url_encode(const uint8_t *in, size_t len, char *out)
{
    encode(in, len, out, true);
}
