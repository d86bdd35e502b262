/* Unit tests of src/events: events copied in whole, read in order by several subscribers at
 * their own pace, a subscriber that falls a ring behind told what it missed, a waiting one told
 * once of the next event, replay from a seq the ring still holds. */
#include <stdio.h>
#include <string.h>

#include "events/events.h"
#include "unit.h"

static int readies;
static void on_ready(struct ev_sub *s, void *userdata)
{
    (void)s;
    (void)userdata;
    readies++;
}

START_TEST(copies_and_order)
{
    struct ev_bus *b;
    ck_assert_int_eq(ev_bus_new(16, &b), 0);
    struct ev_sub *s1 = ev_subscribe(b, 0, on_ready, NULL), *s2 = ev_subscribe(b, 0, NULL, NULL);
    char type[32] = "session.created", v[] = "v";
    char *labels[] = {"k", v, NULL}, *data[] = {"a", "1", "b", "2", NULL};
    struct ev e = {.type = type, .source = "test", .session_id = "s1", .labels = labels,
                   .data = data, .priority = 3};
    uint64_t seq;
    readies = 0;
    ck_assert_int_eq(ev_publish(b, &e, &seq), 0);
    ck_assert_int_eq(seq, 1);
    ck_assert_int_eq(readies, 1); /* s1 was waiting: told once */
    strcpy(type, "changed");      /* the bus has its own copy */
    v[0] = 'x';
    e.type = "second";
    ck_assert_int_eq(ev_publish(b, &e, NULL), 0);
    ck_assert_int_eq(readies, 1); /* s1 has not read yet: not told again */
    const struct ev *got;
    uint64_t missed;
    ck_assert_int_eq(ev_next(s1, &got, &missed), 1);
    ck_assert_str_eq(got->type, "session.created");
    ck_assert_str_eq(got->labels[1], "v");
    ck_assert_str_eq(got->data[2], "b");
    ck_assert_ptr_null(got->data[4]);
    ck_assert_str_eq(got->container_id, "");
    ck_assert_int_eq(strlen(got->id), 32);
    ck_assert_int_eq(got->priority, 3);
    ck_assert_int_eq(ev_next(s1, &got, &missed), 1);
    ck_assert_str_eq(got->type, "second");
    ck_assert_int_eq(ev_next(s1, &got, &missed), 0); /* read all: waiting again */
    ck_assert_int_eq(ev_next(s2, &got, &missed), 1);  /* s2 at its own pace */
    ck_assert_int_eq(got->seq, 1);
    ck_assert_int_eq(ev_bus_subscribers(b), 2);
    ev_unsubscribe(s2);
    ck_assert_int_eq(ev_bus_subscribers(b), 1);
    ev_bus_free(b); /* takes the remaining subscriber too */
}
END_TEST

START_TEST(overrun_and_replay)
{
    struct ev_bus *b;
    ck_assert_int_eq(ev_bus_new(16, &b), 0);
    struct ev_sub *slow = ev_subscribe(b, 0, NULL, NULL);
    char n[16];
    for (int i = 1; i <= 40; i++) {
        snprintf(n, sizeof n, "%d", i);
        struct ev e = {.type = "t", .session_id = n};
        ck_assert_int_eq(ev_publish(b, &e, NULL), 0);
    }
    const struct ev *got;
    uint64_t missed;
    ck_assert_int_eq(ev_next(slow, &got, &missed), 1);
    ck_assert_int_eq(missed, 24); /* 40 published, 16 kept */
    ck_assert_str_eq(got->session_id, "25");
    ck_assert_int_eq(ev_bus_last(b), 40);
    struct ev_sub *r = ev_subscribe(b, 30, NULL, NULL); /* replay from one still held */
    ck_assert_int_eq(ev_next(r, &got, &missed), 1);
    ck_assert_int_eq(missed, 0);
    ck_assert_str_eq(got->session_id, "30");
    ev_bus_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, copies_and_order);
    tcase_add_test(tc, overrun_and_replay);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
