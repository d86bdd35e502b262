/* Unit tests of src/net/lenframe.c: 4-byte big-endian length-prefixed frames, as the
 * running-process IPC frames every message. */
#include "unit.h"
#include <errno.h>
#include <string.h>

#include "net/lenframe.h"

START_TEST(encode_decode)
{
    struct buf b;
    uint32_t n = 99;

    buf_init(&b, 0);
    ck_assert_int_eq(lenframe_append_header(&b, 12), 0);
    ck_assert_int_eq(buf_append(&b, "\x08\x01\x10\x28\x18\x01\x22\x01\x78\xc2\x02\x00", 12), 0);
    ck_assert_uint_eq(b.len, 16);
    ck_assert_mem_eq(buf_head(&b), "\x00\x00\x00\x0c", 4);
    /* Every prefix but the whole frame asks for more; the header alone tells the length. */
    for (size_t k = 0; k < b.len; k++) {
        n = 99;
        ck_assert_int_eq(lenframe_next(buf_head(&b), k, 1u << 22, &n), 0);
        ck_assert_uint_eq(n, k >= 4 ? 12 : 99);
    }
    ck_assert_int_eq(lenframe_next(buf_head(&b), b.len, 1u << 22, &n), 1);
    ck_assert_uint_eq(n, 12);
    /* More bytes behind a frame do not change it. */
    ck_assert_int_eq(buf_append(&b, "\x00\x00", 2), 0);
    ck_assert_int_eq(lenframe_next(buf_head(&b), b.len, 1u << 22, &n), 1);
    ck_assert_uint_eq(n, 12);
    buf_done(&b);

    buf_init(&b, 0);
    ck_assert_int_eq(lenframe_append_header(&b, 0x01020304), 0);
    ck_assert_mem_eq(buf_head(&b), "\x01\x02\x03\x04", 4);
    buf_done(&b);
}
END_TEST

START_TEST(caps)
{
    uint32_t n = 0;
    const uint8_t empty[] = {0, 0, 0, 0};
    const uint8_t at_cap[] = {0x00, 0x40, 0x00, 0x00};   /* 4 MiB */
    const uint8_t over_cap[] = {0x00, 0x40, 0x00, 0x01}; /* 4 MiB + 1 */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};

    ck_assert_int_eq(lenframe_next(empty, 4, 4u << 20, &n), 1); /* an empty message is a frame */
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(lenframe_next(at_cap, 4, 4u << 20, &n), 0);
    ck_assert_uint_eq(n, 4u << 20);
    ck_assert_int_eq(lenframe_next(over_cap, 4, 4u << 20, &n), -EMSGSIZE);
    ck_assert_uint_eq(n, (4u << 20) + 1);
    ck_assert_int_eq(lenframe_next(huge, 4, 4u << 20, &n), -EMSGSIZE);
    ck_assert_uint_eq(n, 0xffffffffu);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lenframe");
    TCase *tc = tcase_create("lenframe");
    tcase_add_test(tc, encode_decode);
    tcase_add_test(tc, caps);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
