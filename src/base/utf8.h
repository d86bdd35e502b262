/* UTF-8: what protobuf's string fields and JSON demand of bytes that came from programs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The length of the valid UTF-8 sequence at p (1..4), or 0 when none starts there. */
size_t utf8_seq_len(const uint8_t *p, size_t n);
/* A NUL-terminated copy of n bytes with each byte that starts no valid sequence replaced by
 * U+FFFD; its length in *ret_len (may be NULL). NULL without memory. */
char *utf8_sanitize(const void *p, size_t n, size_t *ret_len);
/* The longest prefix of s[0..n) no longer than max that ends on a sequence boundary (at least
 * one sequence when max > 0 and n > 0, so that a piecewise walk always moves). */
size_t utf8_cut(const char *s, size_t n, size_t max);
