/* Fuzz target: the YAML configuration in both dialects (drover's keys and superviz's), read the
 * two ways droverd reads it: as its whole configuration on top of the built-in defaults
 * (config_load_yaml, which hands `services:` and `logging:` to supervise/conf*.c), and as a file
 * of services alone (config_parse_services, for drover start FILE). Every input goes to both.
 *
 * A file that is refused must say so with its name first ("fuzz.yaml:LINE: ..."); a file that
 * is accepted must hold services the engine can take: a name, a command, env and depends_on
 * vectors, dependencies within the list, probes that say what to check. */
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "daemon/config.h"
#include "fuzz.h"

#define NAME "fuzz.yaml"

static void check_error(int r, const char *err)
{
    if (r == -EINVAL && strncmp(err, NAME ":", strlen(NAME ":")) != 0)
        __builtin_trap();
}

static bool listed(const struct svc_config *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return true;
    return false;
}

static void check_services(const struct svc_config *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct svc_config *s = &v[i];
        if (!s->name || !*s->name || !s->argv || !s->argv[0] || !s->env || !s->depends_on ||
            s->n_probes > 64)
            __builtin_trap();
        for (size_t j = 0; s->depends_on[j]; j++)
            if (!listed(v, n, s->depends_on[j]) || !strcmp(s->depends_on[j], s->name))
                __builtin_trap();
        for (size_t j = 0; j < s->n_probes; j++) {
            const struct svc_probe *p = &s->probes[j];
            if (p->kind == SVC_PROBE_EXEC ? !p->argv || !p->argv[0] : !p->port)
                __builtin_trap();
            if (!p->interval_ms || !p->timeout_ms || !p->failure_threshold)
                __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[CONFIG_ERROR_MAX] = "";
    struct svc_config *v = NULL;
    struct config c;
    size_t n = 0;
    int r;

    log_set_level(LOG_LEVEL_ERROR); /* timestamp_format warnings would flood the output */
    if (config_init(&c, err) < 0)
        __builtin_trap();
    r = config_load_yaml(&c, text, size, NAME, "/etc/drover", err);
    check_error(r, err);
    if (r >= 0)
        check_services(c.services, c.n_services);
    config_done(&c);

    err[0] = '\0';
    r = config_parse_services(text, size, NAME, "/srv", &v, &n, err);
    check_error(r, err);
    if (r >= 0) {
        if (!n)
            __builtin_trap();
        check_services(v, n);
        svc_configs_free(v, n);
    }
    return 0;
}
