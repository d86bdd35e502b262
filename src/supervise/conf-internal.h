/* Shared by the files of the services reader: conf.c (the list, the keys both dialects share,
 * dependency checks), conf-drover.c (drover's keys and the probe mapping every dialect uses) and
 * conf-superviz.c (superviz's keys and the top-level logging mapping). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/yaml.h"
#include "supervise/supervise.h"

#define CONF_UNSET_U32 UINT32_MAX /* log settings the file's defaults fill */
#define CONF_UNSET_U64 UINT64_MAX

/* One service being read. */
struct svc_reader {
    struct yaml_reader *rd; /* the file */
    const char *dir;        /* for relative paths */
    struct svc_config c;    /* the definition */
    size_t n_argv, n_env;   /* lengths of c.argv, c.env */
    size_t probes_cap;      /* room in c.probes */
    char **args;            /* superviz's args, appended to command */
    size_t n_args;          /* their number */
    bool rotation_set;      /* logging.stdout/stderr.rotation given (both must agree) */
};

/* Reads the value of key k of a mapping; path names it for errors ("probe.port"). */
typedef int (*conf_key_fn)(struct svc_reader *r, const yaml_event_t *k, const char *path,
                           void *ctx);
/* Takes the scalar value of key: -EINVAL for a bad value, -ENOENT for a key it does not know. */
typedef int (*conf_value_fn)(struct svc_reader *r, const char *key, const char *val, void *ctx);

/* ---- conf.c: reading ---- */

/* Appends a word (taken) to a vector, at most 1024 of them. */
int conf_push_word(char ***v, size_t *n, char *s);
/* Appends the words of a whitespace-separated command (superviz splits, no shell). */
int conf_push_split(char ***v, size_t *n, const char *text);
/* Replaces *dst with a copy of v. */
int conf_set_str(char **dst, const char *v);
/* A log rotation setting under the names a dialect gives the three (size, files kept, age):
 * -ENOENT for a key that is none of them. */
int conf_parse_rotation(const char *key, const char *const names[3], const char *val,
                        uint64_t *max_bytes, uint32_t *keep, uint32_t *max_age_s);
/* A TCP port, 1 to 65535. */
int conf_parse_port(const char *v, uint16_t *ret);
/* The next event, which must be a scalar (the value of key). */
int conf_want_scalar(struct svc_reader *r, const char *key, yaml_event_t *ev);
/* Takes the event that opens the value of key, which must be a collection of this type. */
int conf_open(struct svc_reader *r, const char *key, yaml_event_type_t type, const char *what);
/* The next item of an open collection: 1 with *ev (the caller deletes it), 0 once the
 * collection ends (its end event taken), or -errno. */
int conf_next_item(struct yaml_reader *rd, yaml_event_type_t end, yaml_event_t *ev);
/* Walks an open mapping (its start taken) key by key. */
int conf_walk_map(struct svc_reader *r, const char *prefix, conf_key_fn fn, void *ctx);
/* Reads k's scalar value and hands it to parse; -EINVAL and -ENOENT become file:line errors. */
int conf_scalar_value(struct svc_reader *r, const yaml_event_t *k, const char *path,
                      conf_value_fn parse, void *ctx);
/* A list of scalars appended to a vector (cmd, args). */
int conf_read_words(struct svc_reader *r, const char *key, char ***v, size_t *n);

/* ---- conf-drover.c: drover's keys, probes ---- */

/* One probe being read, from any of the three places. */
struct probe_reader {
    struct svc_probe p; /* the probe */
    size_t n_argv;      /* length of p.argv */
    char **args;        /* superviz's args, appended to command */
    size_t n_args;      /* their number */
    bool typed;         /* type given */
};

/* Reads a key of drover's that takes a list or a mapping (cmd, probe); -ENOENT, nothing read,
 * for another key. */
int conf_drover_key(struct svc_reader *r, const yaml_event_t *k);
/* A scalar key of drover's (conf_value_fn). */
int conf_drover_value(struct svc_reader *r, const char *key, const char *val, void *ctx);
/* Reads an open probe mapping into pr (defaults set by the caller); path names it. */
int conf_read_probe_map(struct svc_reader *r, const char *path, struct probe_reader *pr);
/* Checks a probe read at ev and moves it into the service's list (freeing it on failure). */
int conf_add_probe(struct svc_reader *r, const yaml_event_t *ev, const char *path,
                   struct probe_reader *pr);

/* ---- conf-superviz.c: superviz's keys ---- */

/* Reads a key of superviz's that is not a plain scalar setting (command, args, restart,
 * health_checks, listeners, logging); -ENOENT, nothing read, for another key. */
int conf_superviz_key(struct svc_reader *r, const yaml_event_t *k);
/* A probe's endpoint: "http://host[:port]/path" (host may be [v6]), or a path alone. */
int conf_parse_endpoint(const char *v, struct svc_probe *p);
