/* Reading YAML configuration (see yaml.h): the event reader and its file:line errors, the walk
 * over a file's one document, and the scalar forms values take. The droverd settings reader
 * (daemon/config.c) and the services reader (supervise/conf*.c) both stand on it, so a file
 * says the same thing the same way wherever it is read.
 *
 * Every error names the file and the line, and libyaml's own syntax errors too. Events are
 * never skipped: a reader that meets a value of a shape it does not take says so, which keeps
 * nesting depth out of the picture. */
#include "base/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int yaml_fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, YAML_ERROR_MAX, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int yaml_fail_at(struct yaml_reader *rd, size_t line, const char *fmt, ...)
{
    int n = snprintf(rd->err, YAML_ERROR_MAX, "%s:%zu: ", rd->name, line);

    if (n >= 0 && n < YAML_ERROR_MAX) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rd->err + n, YAML_ERROR_MAX - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

void yaml_warn(struct yaml_reader *rd, const char *fmt, ...)
{
    char msg[YAML_ERROR_MAX];
    va_list ap;

    if (!rd->warn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rd->warn(msg);
}

int yaml_next(struct yaml_reader *rd, yaml_event_t *ev)
{
    if (yaml_parser_parse(&rd->parser, ev))
        return 0;
    return yaml_fail_at(rd, rd->parser.problem_mark.line + 1, "%s",
                        rd->parser.problem ? rd->parser.problem : "invalid YAML");
}

bool yaml_is_null(const yaml_event_t *ev)
{
    const char *v = yaml_scalar(ev);

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* The root mapping, its start taken: each key goes to fn. */
static int read_keys(struct yaml_reader *rd, yaml_key_fn fn, void *userdata)
{
    yaml_event_t ev;
    int r;

    for (;;) {
        r = yaml_next(rd, &ev);
        if (r < 0)
            return r;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        if (ev.type != YAML_SCALAR_EVENT)
            r = yaml_fail_at(rd, yaml_line(&ev), "keys must be plain names");
        else
            r = fn(rd, &ev, userdata);
        yaml_event_delete(&ev);
        if (r < 0)
            return r;
    }
}

/* A document, its start taken: nothing, or a mapping. */
static int read_root(struct yaml_reader *rd, yaml_key_fn fn, void *userdata)
{
    yaml_event_t ev;
    int r = yaml_next(rd, &ev);

    if (r < 0)
        return r;
    if (ev.type == YAML_SCALAR_EVENT && yaml_is_null(&ev))
        r = 0; /* A document with nothing in it sets nothing. */
    else if (ev.type != YAML_MAPPING_START_EVENT)
        r = yaml_fail_at(rd, yaml_line(&ev), "expected a mapping of settings (key: value)");
    else
        r = 1;
    yaml_event_delete(&ev);
    return r > 0 ? read_keys(rd, fn, userdata) : r;
}

int yaml_read_document(struct yaml_reader *rd, const char *text, size_t len, yaml_key_fn fn,
                       void *userdata)
{
    yaml_event_t ev;
    int r, docs = 0;

    if (!yaml_parser_initialize(&rd->parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&rd->parser, (const unsigned char *)text, len);
    for (;;) {
        r = yaml_next(rd, &ev);
        if (r < 0)
            break;
        yaml_event_type_t t = ev.type;
        size_t line = yaml_line(&ev);
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            break;
        if (t != YAML_DOCUMENT_START_EVENT)
            continue;
        if (++docs > 1) {
            r = yaml_fail_at(rd, line, "expected one YAML document, found more");
            break;
        }
        r = read_root(rd, fn, userdata);
        if (r < 0)
            break;
    }
    yaml_parser_delete(&rd->parser);
    return r;
}

char *yaml_resolve_path(const char *v, const char *dir)
{
    char *s;
    const char *home = getenv("HOME");

    if (v[0] == '~' && (v[1] == '/' || v[1] == '\0') && home && home[0] == '/')
        return asprintf(&s, "%s%s", home, v + 1) < 0 ? NULL : s;
    if (v[0] == '/' || !dir)
        return strdup(v);
    return asprintf(&s, "%s/%s", dir, v) < 0 ? NULL : s;
}

int yaml_parse_bool(const char *v, bool *ret)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
        *ret = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) {
        *ret = false;
        return 0;
    }
    return -EINVAL;
}

int yaml_parse_duration(const char *v, double unit_ms, uint32_t *ret)
{
    char *end;
    double x = strtod(v, &end);
    double mult = !*end                ? unit_ms
                  : !strcmp(end, "ms") ? 1
                  : !strcmp(end, "s")  ? 1000
                  : !strcmp(end, "m")  ? 60000
                  : !strcmp(end, "h")  ? 3600000
                  : !strcmp(end, "d")  ? 86400000
                                       : -1;
    if (end == v || mult < 0 || !(x >= 0) || x * mult / unit_ms > UINT32_MAX)
        return -EINVAL;
    *ret = (uint32_t)(x * mult / unit_ms);
    return 0;
}

int yaml_parse_size(const char *v, uint64_t *ret)
{
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    /* K, KB, KiB (any case), the same for M and G: powers of 1024, as docker-compose's. */
    static const char units[] = "KMG";
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    uint64_t mult = !*end ? 1 : u ? 1ull << (10 * (u - units + 1)) : 0;
    if (u && end[1] && strcasecmp(end + 1, "B") && strcasecmp(end + 1, "iB"))
        mult = 0;
    if (end == v || v[0] == '-' || !mult || x > UINT64_MAX / mult)
        return -EINVAL;
    *ret = x * mult;
    return 0;
}

int yaml_parse_count(const char *v, uint32_t *ret)
{
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (!*v || *end || v[0] == '-' || x > UINT32_MAX)
        return -EINVAL;
    *ret = (uint32_t)x;
    return 0;
}
