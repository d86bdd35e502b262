/* Unit tests of src/grpc/wire.h: framing and deframing (every split of the input), message caps,
 * percent-encoding, base64, grpc-timeout, gzip. */
#include "base/gzip.h"
#include "unit.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/wire.h"

struct collected {
    int n;              /* messages seen */
    size_t lens[16];    /* their lengths */
    uint8_t data[4096]; /* their bytes, concatenated */
    size_t used;        /* bytes in data */
};

static int collect(void *userdata, bool compressed, const uint8_t *msg, size_t len)
{
    struct collected *c = userdata;
    (void)compressed;
    if (c->n >= 16 || c->used + len > sizeof c->data)
        return -ENOBUFS;
    c->lens[c->n++] = len;
    memcpy(c->data + c->used, msg, len);
    c->used += len;
    return 0;
}

/* Three messages (one empty) framed back to back. */
static size_t three_frames(struct buf *b)
{
    buf_init(b, 0);
    ck_assert_int_eq(grpc_frame_append(b, false, (const uint8_t *)"hello", 5), 0);
    ck_assert_int_eq(grpc_frame_append(b, false, NULL, 0), 0);
    ck_assert_int_eq(grpc_frame_append(b, false, (const uint8_t *)"world!", 6), 0);
    return b->len;
}

START_TEST(deframe_every_split)
{
    struct buf b;
    size_t len = three_frames(&b);

    ck_assert_uint_eq(len, 5 + 5 + 5 + 0 + 5 + 6);
    /* Feed the stream in chunks of every size from 1 byte to all of it. */
    for (size_t chunk = 1; chunk <= len; chunk++) {
        struct grpc_deframer d;
        struct collected c = {0};
        grpc_deframer_init(&d, 1024);
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            ck_assert_int_eq(grpc_deframer_feed(&d, buf_head(&b) + off, n, collect, &c, NULL), 0);
        }
        ck_assert_int_eq(c.n, 3);
        ck_assert_uint_eq(c.lens[0], 5);
        ck_assert_uint_eq(c.lens[1], 0);
        ck_assert_uint_eq(c.lens[2], 6);
        ck_assert(memcmp(c.data, "helloworld!", 11) == 0);
        ck_assert_uint_eq(grpc_deframer_pending(&d), 0);
        grpc_deframer_done(&d);
    }
    buf_done(&b);
}
END_TEST

START_TEST(deframe_partial_is_pending)
{
    struct buf b;
    struct grpc_deframer d;
    struct collected c = {0};

    three_frames(&b);
    grpc_deframer_init(&d, 1024);
    ck_assert_int_eq(grpc_deframer_feed(&d, buf_head(&b), 7, collect, &c, NULL), 0);
    ck_assert_int_eq(c.n, 0);
    ck_assert_uint_eq(grpc_deframer_pending(&d), 7);
    grpc_deframer_done(&d);
    buf_done(&b);
}
END_TEST

START_TEST(deframe_oversized)
{
    const uint8_t hdr[] = {0, 0x00, 0x40, 0x00, 0x01}; /* 4 MiB + 1 */
    struct grpc_deframer d;
    struct collected c = {0};
    uint32_t size = 0;

    grpc_deframer_init(&d, GRPC_MAX_MESSAGE);
    ck_assert_int_eq(grpc_deframer_feed(&d, hdr, 3, collect, &c, &size), 0);
    ck_assert_int_eq(grpc_deframer_feed(&d, hdr + 3, 2, collect, &c, &size), -EMSGSIZE);
    ck_assert_uint_eq(size, GRPC_MAX_MESSAGE + 1);
    ck_assert_int_eq(c.n, 0);
    grpc_deframer_done(&d);
}
END_TEST

START_TEST(deframe_exact_cap_and_bad_flag)
{
    struct grpc_deframer d;
    struct collected c = {0};
    uint8_t msg[5 + 16] = {0, 0, 0, 0, 16};
    const uint8_t bad[] = {2, 0, 0, 0, 0};

    grpc_deframer_init(&d, 16);
    ck_assert_int_eq(grpc_deframer_feed(&d, msg, sizeof msg, collect, &c, NULL), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_int_eq(grpc_deframer_feed(&d, bad, sizeof bad, collect, &c, NULL), -EPROTO);
    grpc_deframer_done(&d);
}
END_TEST

START_TEST(percent_encoding)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"plain text", "plain text"},
        {"100%", "100%25"},
        {"line\nbreak", "line%0Abreak"},
        {"caf\xc3\xa9", "caf%C3%A9"},
        {"~ and \x7f", "~ and %7F"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = grpc_percent_encode(cases[i].in);
        ck_assert_str_eq(e, cases[i].out);
        char *d = grpc_percent_decode(e, strlen(e));
        ck_assert_str_eq(d, cases[i].in);
        free(e);
        free(d);
    }
    /* Malformed sequences pass through unchanged. */
    char *d = grpc_percent_decode("50% off %zz %4", 14);
    ck_assert_str_eq(d, "50% off %zz %4");
    free(d);
}
END_TEST

START_TEST(base64_codec)
{
    static const struct {
        const char *plain, *enc;
    } cases[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char enc[64];
        uint8_t dec[64];
        size_t n = strlen(cases[i].plain);
        base64_encode((const uint8_t *)cases[i].plain, n, enc);
        ck_assert_str_eq(enc, cases[i].enc);
        ck_assert_int_eq(base64_decode(enc, strlen(enc), dec), (long)n);
        ck_assert(memcmp(dec, cases[i].plain, n) == 0);
        /* gRPC peers may leave the padding out. */
        size_t unpadded = strcspn(enc, "=");
        ck_assert_int_eq(base64_decode(enc, unpadded, dec), (long)n);
    }
    uint8_t dec[64];
    ck_assert_int_eq(base64_decode("Zm9v!", 5, dec), -EINVAL);
    ck_assert_int_eq(base64_decode("Z", 1, dec), -EINVAL);
    ck_assert_int_eq(base64_decode("Zg=", 3, dec), -EINVAL);
    ck_assert_int_eq(base64_decode("Zg=a", 4, dec), -EINVAL);
}
END_TEST

START_TEST(timeout_parse)
{
    static const struct {
        const char *in;
        int r;
        uint64_t ms;
    } cases[] = {
        {"1S", 0, 1000},     {"100m", 0, 100},
        {"2M", 0, 120000},   {"1H", 0, 3600000},
        {"1500u", 0, 2},     {"1n", 0, 1},
        {"0m", 0, 0},        {"99999999S", 0, 99999999000ull},
        {"", -EINVAL, 0},    {"S", -EINVAL, 0},
        {"10", -EINVAL, 0},  {"10x", -EINVAL, 0},
        {"-1S", -EINVAL, 0}, {"123456789S", -EINVAL, 0},
        {"1 S", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ms = 42;
        int r = grpc_timeout_parse(cases[i].in, strlen(cases[i].in), &ms);
        ck_assert_msg(r == cases[i].r, "'%s': got %d", cases[i].in, r);
        if (r == 0)
            ck_assert_msg(ms == cases[i].ms, "'%s': got %llu", cases[i].in, (unsigned long long)ms);
    }
    char out[16];
    uint64_t back;
    grpc_timeout_format(1500, out);
    ck_assert_int_eq(grpc_timeout_parse(out, strlen(out), &back), 0);
    ck_assert_uint_eq(back, 1500);
}
END_TEST

START_TEST(gzip_roundtrip_and_bomb)
{
    struct buf z, plain;
    uint8_t *big = calloc(1, 1 << 20);

    buf_init(&z, 0);
    buf_init(&plain, 0);
    ck_assert_int_eq(gzip_deflate(big, 1 << 20, &z), 0);
    ck_assert_uint_lt(z.len, 8192); /* zeros compress well */
    ck_assert_int_eq(gzip_inflate(buf_head(&z), z.len, 1 << 20, &plain), 0);
    ck_assert_uint_eq(plain.len, 1 << 20);
    buf_reset(&plain, 0);
    /* The same member must not inflate past a smaller cap. */
    ck_assert_int_eq(gzip_inflate(buf_head(&z), z.len, 4096, &plain), -EMSGSIZE);
    buf_reset(&plain, 0);
    ck_assert_int_eq(gzip_inflate((const uint8_t *)"not gzip", 8, 4096, &plain), -EBADMSG);
    buf_done(&z);
    buf_done(&plain);
    free(big);
}
END_TEST

START_TEST(status_names)
{
    ck_assert_str_eq(grpc_status_name(GRPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
    ck_assert_str_eq(grpc_status_name(99), "UNKNOWN");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grpc-wire");
    TCase *tc = tcase_create("wire");

    tcase_add_test(tc, deframe_every_split);
    tcase_add_test(tc, deframe_partial_is_pending);
    tcase_add_test(tc, deframe_oversized);
    tcase_add_test(tc, deframe_exact_cap_and_bad_flag);
    tcase_add_test(tc, percent_encoding);
    tcase_add_test(tc, base64_codec);
    tcase_add_test(tc, timeout_parse);
    tcase_add_test(tc, gzip_roundtrip_and_bomb);
    tcase_add_test(tc, status_names);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
