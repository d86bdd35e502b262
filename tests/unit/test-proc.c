/* Unit tests of src/proc: the statm parser on real and hostile input. */
#include "unit.h"
#include <errno.h>
#include <string.h>

#include "proc/proc.h"

START_TEST(statm)
{
    static const struct {
        const char *in;
        int r;
        uint64_t resident;
    } cases[] = {
        {"2745 640 512 27 0 190 0\n", 0, 640},
        {"1 2 3 4 5", 0, 2},
        {"1 2 3 4", -EINVAL, 0},
        {"", -EINVAL, 0},
        {"a b c d e f g", -EINVAL, 0},
        {"1 2x 3 4 5 6 7", -EINVAL, 0},
        {"99999999999999999999999 1 1 1 1", -ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proc_statm st = {0};
        int r = proc_statm_parse(cases[i].in, strlen(cases[i].in), &st);
        ck_assert_msg(r == cases[i].r, "'%s': %d", cases[i].in, r);
        if (r == 0)
            ck_assert_uint_eq(st.resident, cases[i].resident);
    }
    uint64_t rss = 0;
    ck_assert_int_eq(proc_rss_bytes(0, &rss), 0);
    ck_assert_uint_gt(rss, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");
    tcase_add_test(tc, statm);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
