/* Reading YAML configuration with libyaml's event stream: a reader that turns every problem into
 * a "FILE:LINE: ..." error, a walker for the one document of a file (a mapping of plain keys, or
 * nothing), and the scalar forms configuration values take (durations, sizes, booleans, counts,
 * paths). libyaml's own API is yaml_parser_* and yaml_event_*; what is declared here is drover's.
 * Its own small library (yaml_lib), so that what links base alone does not link libyaml. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "base/macro.h"

#define YAML_ERROR_MAX 512

/* Receives a warning about something accepted but ignored (the file's name is in msg). */
typedef void (*yaml_warn_fn)(const char *msg);

struct yaml_reader {
    yaml_parser_t parser; /* libyaml state */
    const char *name;     /* file name for errors */
    char *err;            /* error buffer of YAML_ERROR_MAX bytes */
    yaml_warn_fn warn;    /* where warnings go; NULL drops them */
};

/* Receives one key of the document's mapping; it must take the key's whole value. */
typedef int (*yaml_key_fn)(struct yaml_reader *rd, const yaml_event_t *key, void *userdata);

/* Reads text as one YAML document whose root is a mapping of plain keys (an empty document has
 * none), calling fn for each key. rd holds name, err and warn; the parser is set up and torn down
 * here. -EINVAL with rd->err filled for a bad document, -ENOMEM, or what fn returned. */
int yaml_read_document(struct yaml_reader *rd, const char *text, size_t len, yaml_key_fn fn,
                       void *userdata);

/* Formats err (YAML_ERROR_MAX bytes); returns -EINVAL. */
int yaml_fail(char *err, const char *fmt, ...) _printf_(2, 3);
/* The same in rd->err, prefixed with "NAME:LINE: ". */
int yaml_fail_at(struct yaml_reader *rd, size_t line, const char *fmt, ...) _printf_(3, 4);
/* Hands a formatted warning to rd->warn, if there is one. */
void yaml_warn(struct yaml_reader *rd, const char *fmt, ...) _printf_(2, 3);

/* The next event; a libyaml syntax error becomes a file:line error. */
int yaml_next(struct yaml_reader *rd, yaml_event_t *ev);

static inline const char *yaml_scalar(const yaml_event_t *ev)
{
    return (const char *)ev->data.scalar.value;
}

/* The 1-based line an event starts on. */
static inline size_t yaml_line(const yaml_event_t *ev)
{
    return ev->start_mark.line + 1;
}

/* A plain empty, ~ or null scalar. */
bool yaml_is_null(const yaml_event_t *ev);
/* An absolute path for v: "~/" is $HOME's, relative ones are taken from dir (NULL: the current
 * directory). NULL only on out-of-memory. */
char *yaml_resolve_path(const char *v, const char *dir);

/* The scalar forms. Each returns -EINVAL for text that is not one, leaving *ret alone. */

/* true, yes, on; false, no, off. */
int yaml_parse_bool(const char *v, bool *ret);
/* A duration in units of unit_ms: a bare number counts units ("250" with unit_ms 1 is 250 ms),
 * or a number with a unit: "500ms", "5s", "2m", "1h", "7d". */
int yaml_parse_duration(const char *v, double unit_ms, uint32_t *ret);
/* Bytes: "1048576", "512K", "10M", "1G" (KB, MB, GB alike: powers of 1024). */
int yaml_parse_size(const char *v, uint64_t *ret);
/* A whole number up to UINT32_MAX. */
int yaml_parse_count(const char *v, uint32_t *ret);
