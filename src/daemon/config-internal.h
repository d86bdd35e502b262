/* Shared by the files of the configuration reader (config.c, config-services.c). */
#pragma once

#include <stdbool.h>
#include <yaml.h>

#include "base/macro.h"
#include "daemon/config.h"

struct reader {
    yaml_parser_t parser; /* libyaml state */
    const char *name;     /* file name for errors */
    char *err;            /* error buffer */
    bool services_only;   /* a file of services (drover start FILE): no droverd settings */
};

/* Formats err (CONFIG_ERROR_MAX bytes); returns -EINVAL. */
int config_fail(char *err, const char *fmt, ...) _printf_(2, 3);
/* The next event; a libyaml syntax error becomes a file:line error. */
int config_next_event(struct reader *rd, yaml_event_t *ev);
/* A plain empty, ~ or null scalar. */
bool config_is_null(const yaml_event_t *ev);
/* An absolute path for v, relative ones taken from dir (NULL: the current directory). */
char *config_resolve_path(const char *v, const char *dir);
/* Reads the value of `services:` (a list of mappings) into c->services, replacing what an
 * earlier file set. */
int config_read_services(struct reader *rd, struct config *c, size_t line, const char *dir);
/* Reads the value of the top-level `logging:` (superviz's base_dir and defaults.rotation). */
int config_read_logging(struct reader *rd, struct config *c, const char *dir);
/* Gives the services of c the log settings they left to the file's defaults. */
void config_services_defaults(struct config *c);
