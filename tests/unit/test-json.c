/* Unit tests of the JSON codec (src/grpc/json.h) on unit/json_test.proto, which has every shape
 * the mapping has: each document is decoded, checked field by field where it matters, encoded
 * back to the canonical form, and sent through the binary encoding and back unchanged; every
 * class of bad input is refused with a message naming the field and the reason. */
#include "unit.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/duration.pb-c.h"
#include "grpc/json.h"
#include "json_test.pb-c.h"

static const ProtobufCMessageDescriptor *find_type(const char *name, void *userdata)
{
    static const ProtobufCMessageDescriptor *const known[] = {
        &drover__jsontest__scalars__descriptor,
        &drover__jsontest__everything__descriptor,
        &google__protobuf__duration__descriptor,
    };
    (void)userdata;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(known[i]->name, name))
            return known[i];
    return NULL;
}

static const struct pbjson_types types = {find_type, NULL};
static char err[512];

/* The message's JSON, NUL-terminated, malloc'd. */
static char *encode(const ProtobufCMessage *m)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_msg(pbjson_encode(m, &types, &b, err, sizeof err) == 0, "encode: %s", err);
    ck_assert_int_eq(buf_append(&b, "", 1), 0);
    char *s = strdup((const char *)buf_head(&b));
    buf_done(&b);
    return s;
}

static Drover__Jsontest__Everything *decode(const char *json)
{
    ProtobufCMessage *m = NULL;
    int r = pbjson_decode(&drover__jsontest__everything__descriptor, &types, json, strlen(json), &m,
                          err, sizeof err);
    ck_assert_msg(r == 0, "decode %s: %s", json, err);
    return (Drover__Jsontest__Everything *)m;
}

/* json decodes, encodes as canonical, and survives the binary encoding unchanged. */
static void round_trip(const char *json, const char *canonical)
{
    Drover__Jsontest__Everything *m = decode(json);
    char *out = encode(&m->base);
    ck_assert_str_eq(out, canonical);

    size_t n = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *bytes = malloc(n + 1);
    protobuf_c_message_pack(&m->base, bytes);
    ProtobufCMessage *back =
        protobuf_c_message_unpack(&drover__jsontest__everything__descriptor, NULL, n, bytes);
    ck_assert_ptr_nonnull(back);
    char *again = encode(back);
    ck_assert_str_eq(again, canonical);
    free(again);
    protobuf_c_message_free_unpacked(back, NULL);
    free(bytes);
    free(out);
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

START_TEST(scalars_and_names)
{
    round_trip("{}", "{}");
    /* Defaults are left out; 64-bit integers are strings; names are lowerCamelCase. */
    round_trip("{\"one\":{\"i32\":0,\"i64\":\"0\",\"text\":\"\",\"flag\":false}}", "{\"one\":{}}");
    round_trip("{\"one\":{\"i32\":-2147483648,\"i64\":\"-9223372036854775808\","
               "\"u32\":4294967295,\"u64\":\"18446744073709551615\",\"s32\":-5,\"s64\":\"-6\","
               "\"f32\":7,\"f64\":\"8\",\"sf32\":-9,\"sf64\":\"-10\",\"flt\":1.5,\"dbl\":0.1,"
               "\"flag\":true,\"text\":\"h\\u00e9 \\\"q\\\"\\n\",\"blob\":\"AAEC/w==\","
               "\"color\":\"COLOR_GREEN\"}}",
               "{\"one\":{\"i32\":-2147483648,\"i64\":\"-9223372036854775808\","
               "\"u32\":4294967295,\"u64\":\"18446744073709551615\",\"s32\":-5,\"s64\":\"-6\","
               "\"f32\":7,\"f64\":\"8\",\"sf32\":-9,\"sf64\":\"-10\",\"flt\":1.5,\"dbl\":0.1,"
               "\"flag\":true,\"text\":\"h\xc3\xa9 \\\"q\\\"\\n\",\"blob\":\"AAEC/w==\","
               "\"color\":\"COLOR_GREEN\"}}");
    /* What is read besides: .proto names, integers as strings and in exponent form, 64-bit
     * integers as numbers, enums by number, URL-safe unpadded base64, the float specials. */
    round_trip("{\"snake_case_name\":\"x\",\"one\":{\"i32\":\"12\",\"u32\":1e3,\"i64\":42,"
               "\"color\":1,\"blob\":\"-_8\",\"dbl\":\"-Infinity\",\"flt\":\"NaN\"}}",
               "{\"one\":{\"i32\":12,\"i64\":\"42\",\"u32\":1000,\"flt\":\"NaN\","
               "\"dbl\":\"-Infinity\",\"blob\":\"+/8=\",\"color\":\"COLOR_RED\"},"
               "\"snakeCaseName\":\"x\"}");
    /* An enum value this build does not know stays a number; null is the default. */
    round_trip("{\"one\":{\"color\":7,\"text\":null},\"ints\":null}", "{\"one\":{\"color\":7}}");

    Drover__Jsontest__Everything *m = decode("{\"one\":{\"i64\":\"-3\",\"dbl\":2.5e-3}}");
    ck_assert_int_eq(m->one->i64, -3);
    ck_assert(fabs(m->one->dbl - 0.0025) < 1e-12);
    protobuf_c_message_free_unpacked(&m->base, NULL);
}
END_TEST

START_TEST(repeated_maps_oneofs)
{
    round_trip("{\"many\":[{\"i32\":1},{}],\"ints\":[1,-2],\"longs\":[\"3\",4],"
               "\"words\":[\"a\",\"\"],\"reals\":[0.5,\"Infinity\"],\"flags\":[true,false],"
               "\"blobs\":[\"\",\"YQ==\"],\"colors\":[\"COLOR_RED\",0]}",
               "{\"many\":[{\"i32\":1},{}],\"ints\":[1,-2],\"longs\":[\"3\",\"4\"],"
               "\"words\":[\"a\",\"\"],\"reals\":[0.5,\"Infinity\"],\"flags\":[true,false],"
               "\"blobs\":[\"\",\"YQ==\"],\"colors\":[\"COLOR_RED\",\"COLOR_UNSPECIFIED\"]}");
    round_trip(
        "{\"labels\":{\"k\":\"v\",\"\":\"e\"},\"byNumber\":{\"-4\":{\"text\":\"t\"}},"
        "\"by_flag\":{\"true\":\"COLOR_GREEN\"},\"byBig\":{\"18446744073709551615\":\"-1\"}}",
        "{\"labels\":{\"k\":\"v\",\"\":\"e\"},\"byNumber\":{\"-4\":{\"text\":\"t\"}},"
        "\"byFlag\":{\"true\":\"COLOR_GREEN\"},\"byBig\":{\"18446744073709551615\":\"-1\"}}");
    /* A oneof member is written when set, even to its default: presence is the point. */
    round_trip("{\"choiceNumber\":0,\"maybe\":0}", "{\"choiceNumber\":0,\"maybe\":0}");
    round_trip("{\"choiceMessage\":{}}", "{\"choiceMessage\":{}}");
    round_trip("{\"choice_text\":\"\"}", "{\"choiceText\":\"\"}");

    Drover__Jsontest__Everything *m = decode("{\"maybe\":5,\"choiceText\":\"z\"}");
    ck_assert_int_eq(m->_maybe_case, DROVER__JSONTEST__EVERYTHING___MAYBE_MAYBE);
    ck_assert_int_eq(m->maybe, 5);
    ck_assert_int_eq(m->choice_case, DROVER__JSONTEST__EVERYTHING__CHOICE_CHOICE_TEXT);
    ck_assert_str_eq(m->choice_text, "z");
    protobuf_c_message_free_unpacked(&m->base, NULL);
}
END_TEST

START_TEST(well_known_types)
{
    round_trip("{\"when\":\"1970-01-01T00:00:00Z\",\"howLong\":\"0s\"}",
               "{\"when\":\"1970-01-01T00:00:00Z\",\"howLong\":\"0s\"}");
    round_trip("{\"when\":\"2026-12-03T19:30:01.5+01:00\",\"howLong\":\"-1.000001s\","
               "\"times\":[\"0001-01-01T00:00:00Z\",\"9999-12-31T23:59:59.999999999z\","
               "\"1969-12-31T23:59:59.123456789Z\"]}",
               "{\"when\":\"2026-12-03T18:30:01.500Z\",\"howLong\":\"-1.000001s\","
               "\"times\":[\"0001-01-01T00:00:00Z\",\"9999-12-31T23:59:59.999999999Z\","
               "\"1969-12-31T23:59:59.123456789Z\"]}");
    round_trip("{\"mask\":\"one.text,snakeCaseName\"}", "{\"mask\":\"one.text,snakeCaseName\"}");
    round_trip("{\"mask\":\"\"}", "{\"mask\":\"\"}");
    round_trip("{\"smallWrapped\":0,\"bigWrapped\":\"5\",\"textWrapped\":\"\",\"flagWrapped\":"
               "false,\"nothing\":{}}",
               "{\"smallWrapped\":0,\"bigWrapped\":\"5\",\"textWrapped\":\"\",\"flagWrapped\":"
               "false,\"nothing\":{}}");
    round_trip("{\"anything\":{\"@type\":\"type.googleapis.com/drover.jsontest.Scalars\","
               "\"i32\":3}}",
               "{\"anything\":{\"@type\":\"type.googleapis.com/drover.jsontest.Scalars\","
               "\"i32\":3}}");
    round_trip("{\"anything\":{\"value\":\"1.5s\","
               "\"@type\":\"type.googleapis.com/google.protobuf.Duration\"}}",
               "{\"anything\":{\"@type\":\"type.googleapis.com/google.protobuf.Duration\","
               "\"value\":\"1.500s\"}}");

    Drover__Jsontest__Everything *m =
        decode("{\"when\":\"1970-01-02T00:00:01.25Z\",\"mask\":\"a.bC,d\"}");
    ck_assert_int_eq(m->when->seconds, 86401);
    ck_assert_int_eq(m->when->nanos, 250000000);
    ck_assert_uint_eq(m->mask->n_paths, 2);
    ck_assert_str_eq(m->mask->paths[0], "a.b_c");
    protobuf_c_message_free_unpacked(&m->base, NULL);
}
END_TEST

/* json is refused, and the message contains want. */
static void refused(const char *json, const char *want)
{
    ProtobufCMessage *m = NULL;
    err[0] = '\0';
    int r = pbjson_decode(&drover__jsontest__everything__descriptor, &types, json, strlen(json), &m,
                          err, sizeof err);
    ck_assert_msg(r == -EINVAL, "%s: accepted", json);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, want), "%s: said \"%s\", not \"%s\"", json, err, want);
}

START_TEST(bad_input)
{
    refused("{", "bad JSON");
    refused("[]", "want an object (drover.jsontest.Everything), got an array");
    refused("{\"nope\":1}", "unknown field \"nope\" in drover.jsontest.Everything");
    refused("{\"one\":{\"nope\":1}}", "one: unknown field \"nope\" in drover.jsontest.Scalars");
    refused("{\"snakeCaseName\":\"a\",\"snake_case_name\":\"b\"}", "given twice");
    refused("{\"a\":1,\"a\":2}", "bad JSON");
    refused("{\"choiceText\":\"a\",\"choiceNumber\":1}", "another member of its oneof");
    refused("{\"one\":{\"i32\":2147483648}}", "one.i32: 2147483648 is out of range");
    refused("{\"one\":{\"i32\":1.5}}", "one.i32: 1.5 is not an integer");
    refused("{\"one\":{\"u32\":-1}}", "one.u32: -1 is out of range");
    refused("{\"one\":{\"u64\":\"-1\"}}", "is not an integer in range");
    refused("{\"one\":{\"i64\":\"9223372036854775808\"}}", "is not an integer in range");
    refused("{\"one\":{\"i32\":\" 1\"}}", "is not an integer");
    refused("{\"one\":{\"i32\":true}}", "want an integer, got a boolean");
    refused("{\"one\":{\"flt\":1e39}}", "out of a float's range");
    refused("{\"one\":{\"dbl\":\"0x10\"}}", "is not a number");
    refused("{\"one\":{\"flag\":1}}", "want true or false, got a number");
    refused("{\"one\":{\"text\":5}}", "want a string, got a number");
    refused("{\"one\":{\"text\":\"a\\u0000b\"}}", "bad JSON");
    refused("{\"one\":{\"blob\":\"***\"}}", "one.blob: not base64");
    refused("{\"one\":{\"color\":\"PURPLE\"}}",
            "\"PURPLE\" is not a value of drover.jsontest.Color");
    refused("{\"one\":[]}", "want an object (drover.jsontest.Scalars), got an array");
    refused("{\"many\":[{},{\"text\":1}]}", "many[1].text: want a string, got a number");
    refused("{\"ints\":[1,null]}", "ints[1]: an array element may not be null");
    refused("{\"ints\":{}}", "want an array, got an object");
    refused("{\"labels\":[]}", "want an object (a map), got an array");
    refused("{\"labels\":{\"k\":null}}", "labels.k: a map value may not be null");
    refused("{\"byNumber\":{\"x\":{}}}", "map key \"x\" is not a valid integer");
    refused("{\"byFlag\":{\"yes\":0}}", "map key \"yes\" is not true or false");
    refused("{\"when\":\"1970-01-01 00:00:00Z\"}", "is not a timestamp");
    refused("{\"when\":\"2023-02-29T00:00:00Z\"}", "is not a timestamp");
    refused("{\"when\":\"0000-12-31T23:59:59Z\"}", "is not a timestamp");
    refused("{\"when\":\"0001-01-01T00:30:00+01:00\"}", "is not a timestamp");
    refused("{\"when\":\"1970-01-01T00:00:00.1234567890Z\"}", "is not a timestamp");
    refused("{\"when\":1}", "want a timestamp (RFC 3339) in a string, got a number");
    refused("{\"howLong\":\"1\"}", "is not a duration");
    refused("{\"howLong\":\"315576000001s\"}", "is not a duration");
    refused("{\"howLong\":\"1.s\"}", "is not a duration");
    refused("{\"mask\":\"a_b\"}", "is not lowerCamelCase");
    refused("{\"smallWrapped\":-1}", "smallWrapped: -1 is out of range");
    refused("{\"anything\":{\"i32\":1}}", "an Any needs \"@type\"");
    refused("{\"anything\":{\"@type\":\"x/y.Z\"}}", "a type this server does not know");
    refused("{\"anything\":{\"@type\":\"a/drover.jsontest.Scalars\",\"bad\":1}}",
            "anything: unknown field \"bad\"");
    refused("{\"anything\":{\"@type\":\"a/google.protobuf.Duration\",\"value\":\"1s\",\"x\":1}}",
            "holds \"@type\" and \"value\" only");

    /* Nesting past the limit is refused, not followed down the stack. */
    char deep[8 * 80 + 64] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "{\"child\":");
    strcat(deep, "{}");
    for (int i = 0; i < 70; i++)
        strcat(deep, "}");
    refused(deep, "nested deeper than 64");
}
END_TEST

START_TEST(encode_edges)
{
    /* Bytes that are not UTF-8 become U+FFFD; control characters are escaped. */
    Drover__Jsontest__Scalars s = DROVER__JSONTEST__SCALARS__INIT;
    s.text = "a\xff\x01\x7f\xe2\x82";
    char *out = encode(&s.base);
    ck_assert_str_eq(out, "{\"text\":\"a\xef\xbf\xbd\\u0001\x7f\xef\xbf\xbd\xef\xbf\xbd\"}");
    free(out);
    s.text = "";
    s.dbl = -0.0; /* without presence, left out as the binary encoding leaves it out */
    s.flt = 3.4028235e38f;
    out = encode(&s.base);
    ck_assert_str_eq(out, "{\"flt\":3.4028235e+38}");
    free(out);
    /* Where it is written, -0 keeps its sign, and a point ("-0" would read back as 0). */
    double reals[] = {-0.0, 0.0};
    Drover__Jsontest__Everything ev = DROVER__JSONTEST__EVERYTHING__INIT;
    ev.reals = reals;
    ev.n_reals = 2;
    out = encode(&ev.base);
    ck_assert_str_eq(out, "{\"reals\":[-0.0,0]}");
    free(out);

    /* A timestamp JSON cannot say is an error, and leaves the buffer as it was. */
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Drover__Jsontest__Everything e = DROVER__JSONTEST__EVERYTHING__INIT;
    e.when = &ts;
    ts.seconds = 253402300800LL;
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_append(&b, "x", 1), 0);
    ck_assert_int_eq(pbjson_encode(&e.base, &types, &b, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "google.protobuf.Timestamp out of range"), "%s", err);
    ck_assert_uint_eq(b.len, 1);
    buf_done(&b);

    /* Past the buffer's cap: -ENOBUFS, nothing half-written. */
    e.when = NULL;
    e.snake_case_name = "0123456789012345678901234567890123456789";
    buf_init(&b, 16);
    ck_assert_int_eq(pbjson_encode(&e.base, &types, &b, err, sizeof err), -ENOBUFS);
    ck_assert_uint_eq(b.len, 0);
    buf_done(&b);

    /* An Any of a type nobody can resolve. */
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = "type.googleapis.com/no.Such";
    e.snake_case_name = "";
    e.anything = &any;
    buf_init(&b, 0);
    ck_assert_int_eq(pbjson_encode(&e.base, &types, &b, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "a type this server does not know"), "%s", err);
    buf_done(&b);
}
END_TEST

/* A double's JSON as the encoder writes it into out (NUL-terminated). */
static void encode_double(double v, struct buf *b, char *out, size_t size)
{
    Drover__Jsontest__Scalars s = DROVER__JSONTEST__SCALARS__INIT;
    s.dbl = v;
    buf_reset(b, 4096);
    ck_assert_int_eq(pbjson_encode(&s.base, &types, b, err, sizeof err), 0);
    const char *p = (const char *)buf_head(b);
    ck_assert_msg(b->len > 8 && !memcmp(p, "{\"dbl\":", 7) && p[b->len - 1] == '}', "%a", v);
    ck_assert_uint_lt(b->len - 8, size);
    memcpy(out, p + 7, b->len - 8);
    out[b->len - 8] = '\0';
}

/* What the encoder wrote before it made doubles itself: printf's %.15g, %.16g or %.17g, the
 * first that strtod reads back exactly. */
static void printf_double(double v, char *out, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
}

static uint64_t next_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

START_TEST(doubles)
{
    static const struct {
        double v;
        const char *json;
    } cases[] = {
        /* the fewest digits that read back: no more than it takes */
        {0.1, "0.1"},
        {0.0025, "0.0025"},
        {123.456, "123.456"},
        {1.0 / 3, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {-2.5, "-2.5"},
        {1764784123.4567891, "1764784123.456789"},
        /* integers whole; %g's exponents past 15 digits and below 1e-4 */
        {3, "3"},
        {-100, "-100"},
        {999999999999999, "999999999999999"},
        {1e15, "1e+15"},
        {9007199254740992, "9007199254740992"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1.5e-300, "1.5e-300"},
        {0.5, "0.5"},
        {5e-324, "4.94065645841247e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
    };
    char got[64], want[64];
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        encode_double(cases[i].v, &b, got, sizeof got);
        ck_assert_msg(!strcmp(got, cases[i].json), "%a: %s, not %s", cases[i].v, got,
                      cases[i].json);
        ck_assert(strtod(got, NULL) == cases[i].v);
    }
    /* The same text as printf's, for any double: bit patterns at random, and the values
     * services' figures have (seconds, fractions, a clock's reading), written without it. */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next_random(&x);
        double v;
        switch (i % 5) {
        case 0:
            memcpy(&v, &r, sizeof v);
            break;
        case 1: /* exponents from 2^-66 to 2^4 */
            r = (r & 0x800fffffffffffffULL) | (uint64_t)(1009 + next_random(&x) % 70) << 52;
            memcpy(&v, &r, sizeof v);
            break;
        case 2:
            v = (double)(r % 100000000) / 1000.0;
            break;
        case 3:
            v = (double)(r % 4000000000000000000ULL) / 1e9;
            break;
        default:
            v = ldexp((double)(r % 7 + 1), (int)(r >> 8) % 200 - 100);
            break;
        }
        if (!isfinite(v) || v == 0)
            continue;
        encode_double(v, &b, got, sizeof got);
        printf_double(v, want, sizeof want);
        ck_assert_msg(!strcmp(got, want), "%a: %s, not %s", v, got, want);
    }
    buf_done(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, scalars_and_names);
    tcase_add_test(tc, repeated_maps_oneofs);
    tcase_add_test(tc, well_known_types);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, encode_edges);
    tcase_add_test(tc, doubles);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
