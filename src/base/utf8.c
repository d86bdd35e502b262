/* UTF-8 checks and repair (see utf8.h). */
#include "base/utf8.h"

#include <stdlib.h>
#include <string.h>

size_t utf8_seq_len(const uint8_t *p, size_t n)
{
    if (!n)
        return 0;
    size_t k = p[0] < 0x80             ? 1
               : (p[0] & 0xe0) == 0xc0 ? 2
               : (p[0] & 0xf0) == 0xe0 ? 3
               : (p[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (!k || k > n || (k == 2 && p[0] < 0xc2))
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if (k == 3) { /* overlong forms and UTF-16 surrogates are not UTF-8 */
        uint32_t c = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
        if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))
            return 0;
    } else if (k == 4) {
        uint32_t c = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) |
                     (p[3] & 0x3fu);
        if (c < 0x10000 || c > 0x10ffff)
            return 0;
    }
    return k;
}

char *utf8_sanitize(const void *p, size_t n, size_t *ret_len)
{
    const uint8_t *s = p;
    char *out = malloc(n * 3 + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(s + i, n - i);
        if (!k) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    if (ret_len)
        *ret_len = o;
    return out;
}

size_t utf8_cut(const char *s, size_t n, size_t max)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(p + i, n - i);
        if (!k)
            k = 1; /* a stray byte is a piece of its own */
        if (i + k > max && i > 0)
            break;
        i += k;
        if (i >= max)
            break;
    }
    return i;
}
