/* Unit tests of src/base/errmsg.c: the message lands in the caller's buffer, truncated to it,
 * and the error comes back as the return value. */
#include "unit.h"
#include <errno.h>
#include <string.h>

#include "base/errmsg.h"

START_TEST(message_and_error)
{
    char err[64] = "stale";

    ck_assert_int_eq(errmsg_fail(err, sizeof err, -EINVAL, "%s:%u: bad", "file", 7u), -EINVAL);
    ck_assert_str_eq(err, "file:7: bad");
    /* A success code passes through as it is. */
    ck_assert_int_eq(errmsg_fail(err, sizeof err, 0, "fine"), 0);
    ck_assert_str_eq(err, "fine");
}
END_TEST

START_TEST(truncated_or_no_buffer)
{
    char err[8];

    ck_assert_int_eq(errmsg_fail(err, sizeof err, -E2BIG, "%s", "a longer message"), -E2BIG);
    ck_assert_str_eq(err, "a longe");
    /* No buffer, or one of no size: only the error. */
    ck_assert_int_eq(errmsg_fail(NULL, 0, -ENOENT, "%s", "unseen"), -ENOENT);
    memcpy(err, "kept", 5);
    ck_assert_int_eq(errmsg_fail(err, 0, -EACCES, "%s", "unseen"), -EACCES);
    ck_assert_str_eq(err, "kept");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("base-errmsg");
    TCase *tc = tcase_create("errmsg");
    tcase_add_test(tc, message_and_error);
    tcase_add_test(tc, truncated_or_no_buffer);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
