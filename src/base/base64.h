/* Base64 (RFC 4648): the standard alphabet for gRPC -bin metadata, the URL-safe one for JSON Web
 * Tokens. Pure functions; inputs come straight from peers. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define base64_decoded_max(len) (((len) + 3) / 4 * 3)
#define base64_encoded_len(len) (((len) + 2) / 3 * 4)

/* Standard alphabet; padded and unpadded input are both accepted. Returns the decoded length, or
 * -EINVAL. out must hold base64_decoded_max(len) bytes. */
long base64_decode(const char *in, size_t len, uint8_t *out);
/* URL-safe alphabet ('-' and '_'), no padding, canonical (unused trailing bits zero), as JWS
 * uses it (RFC 7515 §2). Same contract. */
long base64url_decode(const char *in, size_t len, uint8_t *out);
/* Writes base64_encoded_len(len) characters and a NUL; standard alphabet, padded. */
void base64_encode(const uint8_t *in, size_t len, char *out);
/* The URL-safe alphabet without padding: at most base64_encoded_len(len) characters and a NUL. */
void base64url_encode(const uint8_t *in, size_t len, char *out);
