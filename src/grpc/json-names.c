/* The JSON codec's shared part: JSON names, which messages are well-known types or maps, how
 * values are stored, and the text forms of Timestamp, Duration and FieldMask. */
#include "grpc/json-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum pbjson_wkt pbjson_wkt(const ProtobufCMessageDescriptor *d)
{
    static const char prefix[] = "google.protobuf.";
    static const struct {
        const char *name;
        enum pbjson_wkt wkt;
    } known[] = {
        {"Timestamp", WKT_TIMESTAMP},  {"Duration", WKT_DURATION},
        {"FieldMask", WKT_FIELD_MASK}, {"Any", WKT_ANY},
        {"DoubleValue", WKT_WRAPPER},  {"FloatValue", WKT_WRAPPER},
        {"Int64Value", WKT_WRAPPER},   {"UInt64Value", WKT_WRAPPER},
        {"Int32Value", WKT_WRAPPER},   {"UInt32Value", WKT_WRAPPER},
        {"BoolValue", WKT_WRAPPER},    {"StringValue", WKT_WRAPPER},
        {"BytesValue", WKT_WRAPPER},   {"Struct", WKT_REFUSED},
        {"Value", WKT_REFUSED},        {"ListValue", WKT_REFUSED},
    };
    if (d->name[0] != 'g' || strncmp(d->name, prefix, sizeof prefix - 1) != 0)
        return WKT_NONE; /* asked of every message: most answer at the first letter */
    const char *name = d->name + sizeof prefix - 1;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].name[0] == name[0] && !strcmp(name, known[i].name))
            return known[i].wkt;
    return WKT_NONE;
}

/* The next character of a snake_case name in camelCase (at *p, advanced past it; '\0' at the
 * end): an underscore is dropped and makes the next letter upper case, as does *up at the start
 * (CamelCase). */
static char camel_next(const char **p, bool *up)
{
    while (**p == '_') {
        *up = true;
        (*p)++;
    }
    char c = **p;
    if (!c)
        return '\0';
    (*p)++;
    if (*up && c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    *up = false;
    return c;
}

/* The CamelCase protoc gives a map field's entry: "labels" → "Labels", "foo_bar" → "FooBar". */
static bool entry_name_is(const char *field, const char *entry)
{
    bool up = true;
    for (char c; (c = camel_next(&field, &up));)
        if (*entry++ != c)
            return false;
    return !strcmp(entry, "Entry");
}

bool pbjson_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *e = f->descriptor;
    size_t n = strlen(parent->name);

    return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
           e->n_fields == 2 && e->fields[0].id == 1 && !strcmp(e->fields[0].name, "key") &&
           e->fields[1].id == 2 && !strcmp(e->fields[1].name, "value") &&
           !strncmp(e->name, parent->name, n) && e->name[n] == '.' &&
           entry_name_is(f->name, e->short_name);
}

size_t pbjson_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default: /* the 32-bit integers, float, enum */
        return 4;
    }
}

bool pbjson_json_name_is(const char *proto_name, const char *key, size_t len)
{
    size_t i = 0;
    bool up = false;
    for (char c; (c = camel_next(&proto_name, &up));)
        if (i >= len || key[i++] != c)
            return false;
    return i == len;
}

size_t pbjson_json_name(const char *proto_name, char *buf, size_t size)
{
    size_t i = 0;
    bool up = false;
    for (char c; i + 1 < size && (c = camel_next(&proto_name, &up));)
        buf[i++] = c;
    if (size)
        buf[i] = '\0';
    return i;
}

/* ---- Timestamp and Duration ---- */

#define TS_MIN  (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TS_MAX  253402300799LL   /* 9999-12-31T23:59:59Z */
#define DUR_MAX 315576000000LL   /* 10,000 years */

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (eras of 400 years). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* v in n decimal digits (zeros first) at o; past them. By hand: timestamps come in every
 * service of a list, and snprintf costs more than the rest of the field. */
static char *put_digits(char *o, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + n;
}

/* ".123", ".123456" or ".123456789": as few groups of three as the nanoseconds need; past it. */
static char *fmt_fraction(uint32_t nanos, char *o)
{
    if (nanos == 0)
        return o;
    *o++ = '.';
    if (nanos % 1000000 == 0)
        return put_digits(o, nanos / 1000000, 3);
    if (nanos % 1000 == 0)
        return put_digits(o, nanos / 1000, 6);
    return put_digits(o, nanos, 9);
}

int pbjson_fmt_timestamp(int64_t seconds, int32_t nanos, char *out)
{
    if (seconds < TS_MIN || seconds > TS_MAX || nanos < 0 || nanos > 999999999)
        return -EINVAL;
    int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    int64_t rem = seconds - days * 86400, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char *o = put_digits(out, (uint64_t)y, 4); /* 0001 to 9999 */
    *o++ = '-';
    o = put_digits(o, m, 2);
    *o++ = '-';
    o = put_digits(o, d, 2);
    *o++ = 'T';
    o = put_digits(o, (uint64_t)(rem / 3600), 2);
    *o++ = ':';
    o = put_digits(o, (uint64_t)(rem / 60 % 60), 2);
    *o++ = ':';
    o = put_digits(o, (uint64_t)(rem % 60), 2);
    o = fmt_fraction((uint32_t)nanos, o);
    memcpy(o, "Z", 2);
    return 0;
}

/* n decimal digits at s into *ret; false unless all are digits. */
static bool digits(const char *s, size_t n, unsigned *ret)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *ret = v;
    return true;
}

/* "." and 1 to 9 digits at *s (advanced past them) as nanoseconds; 0 when no '.' is there. */
static bool parse_fraction(const char **s, const char *end, int32_t *ret)
{
    unsigned v = 0, n = 0;
    *ret = 0;
    if (*s == end || **s != '.')
        return true;
    for ((*s)++; *s < end && **s >= '0' && **s <= '9'; (*s)++, n++)
        if (n < 9)
            v = v * 10 + (unsigned)(**s - '0');
    if (n == 0 || n > 9)
        return false;
    for (; n < 9; n++)
        v *= 10;
    *ret = (int32_t)v;
    return true;
}

int pbjson_parse_timestamp(const char *s, size_t len, int64_t *ret_seconds, int32_t *ret_nanos)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *end = s + len;
    unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
    int32_t nanos;

    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return -EINVAL;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 59)
        return -EINVAL;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -EINVAL;
    s += 19;
    if (!parse_fraction(&s, end, &nanos) || s == end)
        return -EINVAL;
    int sign = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s == '+' ? 1 : -1;
        if (end - s != 6 || s[3] != ':' || !digits(s + 1, 2, &oh) || !digits(s + 4, 2, &om) ||
            oh > 23 || om > 59)
            return -EINVAL;
        s += 6;
    }
    if (s != end)
        return -EINVAL;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    t -= sign * (int64_t)(oh * 3600 + om * 60);
    if (t < TS_MIN || t > TS_MAX)
        return -EINVAL;
    *ret_seconds = t;
    *ret_nanos = nanos;
    return 0;
}

int pbjson_fmt_duration(int64_t seconds, int32_t nanos, char *out)
{
    if (seconds < -DUR_MAX || seconds > DUR_MAX || nanos < -999999999 || nanos > 999999999 ||
        (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0))
        return -EINVAL;
    uint64_t sec = (uint64_t)(seconds < 0 ? -seconds : seconds);
    int n = 1;
    for (uint64_t t = sec; t >= 10; t /= 10)
        n++;
    if (seconds < 0 || nanos < 0)
        *out++ = '-';
    out = put_digits(out, sec, n);
    out = fmt_fraction((uint32_t)(nanos < 0 ? -nanos : nanos), out);
    memcpy(out, "s", 2);
    return 0;
}

int pbjson_parse_duration(const char *s, size_t len, int64_t *ret_seconds, int32_t *ret_nanos)
{
    const char *end = s + len;
    bool neg = false;
    int64_t v = 0;
    int32_t nanos;
    size_t n = 0;

    if (s < end && *s == '-') {
        neg = true;
        s++;
    }
    for (; s < end && *s >= '0' && *s <= '9'; s++, n++) {
        v = v * 10 + (*s - '0');
        if (v > DUR_MAX)
            return -EINVAL;
    }
    if (n == 0 || !parse_fraction(&s, end, &nanos) || end - s != 1 || *s != 's')
        return -EINVAL;
    *ret_seconds = neg ? -v : v;
    *ret_nanos = neg ? -nanos : nanos;
    return 0;
}

/* ---- FieldMask paths ---- */

int pbjson_mask_path_to_json(const char *path, char **ret)
{
    char *out = malloc(strlen(path) + 1), *o = out;
    if (!out)
        return -ENOMEM;
    for (const char *p = path; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            free(out);
            return -EINVAL; /* would come back as "_x" */
        }
        if (*p == '_') {
            if (p[1] < 'a' || p[1] > 'z') {
                free(out);
                return -EINVAL;
            }
            *o++ = (char)(*++p - 'a' + 'A');
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *ret = out;
    return 0;
}

int pbjson_mask_path_from_json(const char *s, size_t len, char **ret)
{
    char *out = malloc(2 * len + 1), *o = out;
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '_' || s[i] == '\0') {
            free(out);
            return -EINVAL; /* a JSON path is lowerCamelCase */
        }
        if (s[i] >= 'A' && s[i] <= 'Z') {
            *o++ = '_';
            *o++ = (char)(s[i] - 'A' + 'a');
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    *ret = out;
    return 0;
}
