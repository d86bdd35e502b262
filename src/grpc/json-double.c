/* Doubles as JSON numbers: the fewest significant digits that read back as the same value, in
 * printf's %g form. The text is what printf's "%.15g", "%.16g" or "%.17g" gives, the first of
 * them that strtod reads back exactly, as the encoder always wrote; but for the doubles answers
 * are full of (seconds, fractions, percentages: 2^-13 to 2^53) it is made here, without printf
 * and strtod, whose round trips cost a Connect call more than all the rest of its JSON.
 *
 * How: v = m·2^e stands for the reals between the halfway points to its neighbours. Scaled by
 * 10^k so that v has 18 or 19 digits before the point, v and both halfway points are exact
 * fractions n/2^s with n within 128 bits; digits are dropped while the interval still holds a
 * number of the coarser scale, then v is rounded to the digits left (step 4 of Ryu, Ulf Adams,
 * PLDI 2018, here on exact integers rather than its tables). That is printf's text too: up to
 * 15 digits only one decimal reads back as v (a double holds 15.95 digits), and at 16 or 17 the
 * one nearest v, which printf's rounding gives, lies in the interval whenever any of its length
 * does, as the interval is symmetric. For a power of two it is not (the neighbour below is
 * nearer): those go to printf, with subnormals, floats and the rest of the range. */
#include "grpc/json-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

static const uint64_t pow10s[20] = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
    10000000000000000000ULL,
};

/* The shortest digits of v (positive) that read back as v, and the decimal exponent of the last
 * one; false where this method does not reach (printf then). */
static bool shortest(double v, uint64_t *ret_digits, int *ret_exp)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int be = (int)(bits >> 52 & 0x7ff);
    uint64_t frac = bits & ((1ULL << 52) - 1);
    if (be == 0 || frac == 0)
        return false; /* subnormal or zero; a power of two: its interval is lopsided */
    uint64_t m = frac | 1ULL << 52;
    int e = be - 1075; /* v = m·2^e */
    /* 2^(e+52) <= v < 2^(e+53): x, a power of ten at most v's, sets k so v·10^k lies in
     * [10^17, 2·10^18). Past e = 0, or below e = -65 (v < 2^-13: k > 21), the numerators no
     * longer fit. */
    if (e > 0 || e < -65)
        return false;
    int x = (int)((e + 52) * 78913L >> 18); /* floor(log10(2^(e+52))) for |e+52| < 1650 */
    unsigned k = (unsigned)(17 - x), s = (unsigned)(2 - e);
    u128 p10 = k < 20 ? (u128)pow10s[k] : (u128)pow10s[19] * pow10s[k - 19];
    u128 mask = ((u128)1 << s) - 1;
    /* v and its interval's ends, times 4 (so the halfway points are integers) and 10^k */
    u128 nr = (u128)(4 * m) * p10, np = (u128)(4 * m + 2) * p10, nm = (u128)(4 * m - 2) * p10;
    uint64_t vr = (uint64_t)(nr >> s), vp = (uint64_t)(np >> s), vm = (uint64_t)(nm >> s);
    bool vr_exact = !(nr & mask), vm_exact = !(nm & mask);
    bool accept = m % 2 == 0; /* a halfway point reads back as the even neighbour */
    if (!accept && !(np & mask))
        vp--; /* the upper end itself reads back as the next double */

    unsigned last = 0; /* the last digit dropped from vr */
    int dropped = 0;
    while (vp / 10 > vm / 10) {
        vm_exact &= vm % 10 == 0;
        vr_exact &= last == 0;
        last = (unsigned)(vr % 10);
        vr /= 10, vp /= 10, vm /= 10, dropped++;
    }
    if (vm_exact && accept) /* the lower end is a candidate: drop its zeros too */
        while (vm % 10 == 0) {
            vr_exact &= last == 0;
            last = (unsigned)(vr % 10);
            vr /= 10, vp /= 10, vm /= 10, dropped++;
        }
    if (vr_exact && last == 5 && vr % 2 == 0)
        last = 4; /* exactly halfway: to even */
    uint64_t out = vr + ((vr == vm && (!accept || !vm_exact)) || last >= 5);
    int exp = dropped - (int)k;
    while (out % 10 == 0 && out) /* rounding up may have made a zero */
        out /= 10, exp++;
    *ret_digits = out;
    *ret_exp = exp;
    return out && out < pow10s[17];
}

/* digits·10^exp in printf's "%.<prec>g" form (prec >= the digits' count), at o. */
static size_t fmt_g(uint64_t digits, int exp, int prec, char *o)
{
    char d[20] = "";
    int n = 0;
    for (uint64_t t = digits; t; t /= 10)
        n++;
    for (int i = n - 1; i >= 0; i--, digits /= 10)
        d[i] = (char)('0' + digits % 10);
    int x = exp + n - 1; /* the first digit's power of ten */
    char *start = o;

    if (x < -4 || x >= prec) {
        *o++ = d[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)n - 1);
            o += n - 1;
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        unsigned ax = (unsigned)abs(x);
        if (ax >= 100)
            *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
    } else if (x < 0) {
        memcpy(o, "0.", 2);
        o += 2;
        for (int i = -1; i > x; i--)
            *o++ = '0';
        memcpy(o, d, (size_t)n);
        o += n;
    } else if (n <= x + 1) {
        memcpy(o, d, (size_t)n);
        o += n;
        for (int i = n; i <= x; i++)
            *o++ = '0';
    } else {
        memcpy(o, d, (size_t)x + 1);
        o += x + 1;
        *o++ = '.';
        memcpy(o, d + x + 1, (size_t)(n - x - 1));
        o += n - x - 1;
    }
    return (size_t)(o - start);
}

size_t pbjson_fmt_double(double v, bool single, char *out)
{
    uint64_t digits;
    int exp;
    size_t sign = 0;

    if (!single) {
        if (v < 0) {
            out[sign++] = '-';
            v = -v;
        }
        if (v == 0) {
            out[sign] = '0';
            return sign + 1;
        }
        if (v < 1e15 && v == (double)(int64_t)v) /* an integer: %.15g writes all its digits */
            return sign + fmt_g((uint64_t)v, 0, 15, out + sign);
        if (shortest(v, &digits, &exp)) {
            int n = 0;
            for (uint64_t t = digits; t; t /= 10)
                n++;
            return sign + fmt_g(digits, exp, n < 15 ? 15 : n, out + sign);
        }
    }
    /* The rest: printf's own, the first precision that reads back */
    for (int prec = single ? 6 : 15; prec <= 17; prec++) {
        snprintf(out + sign, PBJSON_DOUBLE_MAX - sign, "%.*g", prec, v);
        double back = strtod(out + sign, NULL);
        if (single ? (float)back == (float)v : back == v)
            break;
    }
    return sign + strlen(out + sign);
}
