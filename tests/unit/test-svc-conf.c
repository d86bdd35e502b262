/* Unit tests of src/supervise/conf*.c: services in YAML, in drover's keys and superviz's. Values
 * and defaults of every key, file:line errors for bad ones, the top-level logging mapping, a file
 * of services alone (drover start FILE), and the scalar forms of base/yaml.c they stand on. The
 * documents are read the way droverd's configuration reader reads them: base/yaml.c walks the
 * top-level keys and hands `services:`, `logging:` and `version:` to the services reader. */
#include "unit.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/yaml.h"
#include "supervise/supervise.h"

/* What the services reader sets from one document. */
struct doc {
    const char *dir;           /* for relative paths */
    struct svc_config *v;      /* the services */
    size_t n;                  /* their number */
    char *log_dir;             /* logging.base_dir */
    struct svc_log_defaults d; /* logging.defaults.rotation */
};

static int doc_key(struct yaml_reader *rd, const yaml_event_t *key, void *userdata)
{
    struct doc *d = userdata;
    const char *k = yaml_scalar(key);

    if (!strcmp(k, "services"))
        return svc_conf_read_services(rd, yaml_line(key), d->dir, &d->v, &d->n);
    if (!strcmp(k, "logging"))
        return svc_conf_read_logging(rd, d->dir, &d->log_dir, &d->d);
    if (!strcmp(k, "version"))
        return svc_conf_read_version(rd, yaml_line(key));
    return yaml_fail_at(rd, yaml_line(key), "not a key of the services reader: '%s'", k);
}

static char warned[YAML_ERROR_MAX]; /* the last warning */

static void warn(const char *msg)
{
    snprintf(warned, sizeof warned, "%s", msg);
}

/* Reads yaml as "t.yaml" in dir; on success the services have the file's log defaults. */
static int doc_load(struct doc *d, const char *yaml, const char *dir, char *err)
{
    struct yaml_reader rd = {.name = "t.yaml", .err = err, .warn = warn};

    *d = (struct doc){.dir = dir};
    int r = yaml_read_document(&rd, yaml, strlen(yaml), doc_key, d);
    if (r >= 0)
        svc_conf_apply_log_defaults(d->v, d->n, &d->d);
    return r;
}

static void doc_done(struct doc *d)
{
    svc_configs_free(d->v, d->n);
    free(d->log_dir);
    *d = (struct doc){0};
}

/* A document the reader refuses, and what its error says. */
struct bad_doc {
    const char *yaml;  /* the document */
    const char *error; /* a part of the error */
};

static void expect_errors(const struct bad_doc *v, size_t n)
{
    char err[YAML_ERROR_MAX];
    struct doc c;

    for (size_t i = 0; i < n; i++) {
        int r = doc_load(&c, v[i].yaml, "/", err);
        ck_assert_msg(r == -EINVAL && strstr(err, v[i].error), "case %zu: %d '%s'", i, r, err);
        doc_done(&c);
    }
}

/* Service a, whose next key a bad case adds. */
#define SVC_A "services:\n  - name: a\n    cmd: [x]\n    "

/* The services list: drover's keys and superviz's, defaults, and file:line errors. */
START_TEST(services_list)
{
    struct doc c;
    char err[YAML_ERROR_MAX] = "";
    const char *y = "services:\n"
                    "  - name: web\n"
                    "    cmd: [python3, -m, http.server]\n"
                    "    cwd: site\n"
                    "    env: {PORT: \"8080\", MODE: prod}\n"
                    "    restart: on-failure\n"
                    "    max_restarts: 3\n"
                    "    restart_delay_ms: 0\n"
                    "    kill_timeout: 5s\n"
                    "    stop_signal: INT\n"
                    "    depends_on: [worker]\n"
                    "    probe: {type: http, port: 8080, path: /health, interval: 2s}\n"
                    "  - name: worker\n"
                    "    command: /usr/bin/worker --fast\n"
                    "    args: [--queue, jobs]\n"
                    "    working_dir: /srv\n"
                    "    environment: {A: b}\n"
                    "    restart: {policy: always, max_retries: 5, delay: 2s, delay_max: 1m, "
                    "stability_window: 30s}\n"
                    "    autostart: false\n"
                    "    probe: {command: worker ping, failure_threshold: 3}\n"
                    "    user: nobody\n"
                    "    log_max_size: 10M\n"
                    "    log_keep: 7\n"
                    "    umask: \"027\"\n";

    ck_assert_msg(doc_load(&c, y, "/etc/drover", err) == 0, "%s", err);
    ck_assert_uint_eq(c.n, 2);
    struct svc_config *w = &c.v[0], *k = &c.v[1];
    ck_assert_str_eq(w->name, "web");
    ck_assert_str_eq(w->argv[2], "http.server");
    ck_assert_ptr_null(w->argv[3]);
    ck_assert_str_eq(w->cwd, "/etc/drover/site");
    ck_assert_str_eq(w->env[0], "PORT=8080");
    ck_assert_str_eq(w->env[1], "MODE=prod");
    ck_assert_int_eq(w->restart, SVC_RESTART_ON_FAILURE);
    ck_assert_uint_eq(w->max_restarts, 3);
    ck_assert_uint_eq(w->restart_delay_ms, 0); /* an explicit 0 is 0 */
    ck_assert_uint_eq(w->kill_timeout_ms, 5000);
    ck_assert_uint_eq(w->min_uptime_ms, 2000); /* default */
    ck_assert_int_eq(w->stop_signal, SIGINT);
    ck_assert_str_eq(w->depends_on[0], "worker");
    ck_assert_ptr_null(w->depends_on[1]);
    ck_assert_ptr_null(k->depends_on[0]);
    ck_assert_uint_eq(w->n_probes, 1);
    ck_assert_int_eq(w->probes[0].kind, SVC_PROBE_HTTP);
    ck_assert_uint_eq(w->probes[0].port, 8080);
    ck_assert_str_eq(w->probes[0].path, "/health");
    ck_assert_uint_eq(w->probes[0].interval_ms, 2000);
    ck_assert_uint_eq(w->probes[0].timeout_ms, 5000);     /* default */
    ck_assert_uint_eq(w->probes[0].failure_threshold, 3); /* default */
    ck_assert_uint_eq(k->n_probes, 1);
    ck_assert_int_eq(k->probes[0].kind, SVC_PROBE_EXEC);
    ck_assert_str_eq(k->probes[0].argv[1], "ping");
    ck_assert(k->set_ids && !w->set_ids);
    ck_assert_uint_eq(k->uid, 65534);
    ck_assert(k->set_umask && !w->set_umask);
    ck_assert_uint_eq(k->umask, 027);
    ck_assert_uint_eq(k->log_max_bytes, 10u << 20);
    ck_assert_uint_eq(k->log_keep, 7);
    ck_assert_uint_eq(w->log_max_bytes, 0);
    ck_assert(w->autostart);
    ck_assert_str_eq(k->argv[0], "/usr/bin/worker");
    ck_assert_str_eq(k->argv[1], "--fast");
    ck_assert_str_eq(k->argv[3], "jobs");
    ck_assert_str_eq(k->cwd, "/srv");
    ck_assert_uint_eq(k->max_restarts, 5);
    ck_assert_uint_eq(k->restart_delay_ms, 2000);
    ck_assert_uint_eq(k->restart_delay_max_ms, 60000);
    ck_assert_uint_eq(k->min_uptime_ms, 30000);
    ck_assert(!k->autostart);
    doc_done(&c);

    static const struct bad_doc bad[] = {
        {"services: 3\n", "t.yaml:1: 'services' takes a list"},
        {"services:\n  - cmd: [x]\n", "needs a 'name'"},
        {"services:\n  - name: a\n", "service 'a' needs a 'cmd'"},
        {SVC_A "colour: red\n", "t.yaml:4: unknown service key 'colour'"},
        {SVC_A "user: no-such-user-here\n", "t.yaml:4: bad value 'no-such-user-here' for 'user'"},
        {SVC_A "umask: 999\n", "bad value '999' for 'umask'"},
        {SVC_A "log_max_size: 10Q\n", "bad value '10Q' for 'log_max_size'"},
        {SVC_A "logging: {stdout: {colour: red}}\n",
         "t.yaml:4: unknown key 'logging.stdout.colour'"},
        {SVC_A "logging: {stdin: {}}\n", "unknown key 'logging.stdin' (stdout or stderr)"},
        {SVC_A
         "logging:\n"
         "      stdout: {rotation: {max_size: 1M}}\n      stderr: {rotation: {max_size: 2M}}\n",
         "t.yaml:6: 'logging.stderr.rotation' differs"},
        {SVC_A "logging: {stdout: {rotation: {compress: "
               "true}}}\n",
         "'logging.stdout.rotation.compress: true' is not supported"},
        {SVC_A "listeners: [{name: web, probe: {type: "
               "tcp}}]\n",
         "t.yaml:4: a listener needs a 'port'"},
        {SVC_A "listeners:\n      - port: 53\n"
               "        probe: {type: grpc}\n",
         "t.yaml:6: 'listeners.probe.type': this probe type is not supported"},
        {SVC_A "health_checks: [{type: http, endpoint: "
               "https://x/}]\n",
         "bad value 'https://x/' for 'health_checks.endpoint'"},
        {SVC_A "health_checks: [{type: tcp, host: "
               "db.example, port: 5432}]\n",
         "host 'db.example' must be a numeric address or localhost"},
        {SVC_A "health_checks: [{type: command}]\n", "an exec probe needs a 'command'"},
        {SVC_A "probe: {port: 80, interval: 0}\n", "bad value '0' for 'probe.interval'"},
        {"logging: {daemon: {writers: []}}\n", "t.yaml:1: 'logging.daemon' is not supported"},
        {"logging: {base_dir: /x, colour: red}\n", "unknown key 'logging.colour'"},
        {"version: 2\n", "t.yaml:1: 'version' must be 1"},
        {SVC_A "depends_on: [b]\n", "service 'a' depends on 'b', which is not in the list"},
        {SVC_A "depends_on: [c]\n"
               "  - name: b\n    cmd: [x]\n    depends_on: [a]\n"
               "  - name: c\n    cmd: [x]\n    depends_on: [b]\n",
         "t.yaml:1: services depend on each other in a cycle"},
        {SVC_A "depends_on: [a]\n", "in a cycle"},
        {SVC_A "probe: {type: tcp}\n", "a tcp probe needs a 'port'"},
        {SVC_A "probe: {type: smoke, port: 1}\n", "bad value 'smoke' for 'probe.type'"},
        {SVC_A "probe: {port: 99999}\n", "bad value '99999' for 'probe.port'"},
        {SVC_A "probe: {port: 80, colour: red}\n", "unknown key 'probe.colour'"},
        {SVC_A "max_restarts: lots\n", "t.yaml:4: bad value 'lots' for 'max_restarts'"},
        {SVC_A "kill_timeout: 5 parsecs\n", "bad value '5 parsecs'"},
        {"services:\n  - name: a\n    cmd: [x]\n  - name: a\n    cmd: [y]\n",
         "t.yaml:4: service 'a' is defined twice"},
        {SVC_A "env: {\"A=B\": c}\n", "variable names"},
        {SVC_A "restart: {policy: sometimes}\n", "bad value 'sometimes' for 'restart.policy'"},
    };
    expect_errors(bad, sizeof bad / sizeof bad[0]);
}
END_TEST

/* superviz's keys: health_checks and listener probes become probes with superviz's defaults,
 * logging files and rotation land on the service, the top-level logging gives defaults. */
START_TEST(superviz_keys)
{
    struct doc c;
    char err[YAML_ERROR_MAX];
    const char *y =
        "version: \"1\"\n"
        "services:\n"
        "  - name: api\n"
        "    command: /srv/api\n"
        "    health_checks:\n"
        "      - {name: live, type: http, endpoint: \"http://127.0.0.1:8080/healthz\"}\n"
        "      - {type: tcp, host: localhost, port: 5432, retries: 5}\n"
        "      - {type: command, command: pg_isready -q, interval: 1m}\n"
        "    listeners:\n"
        "      - name: web\n"
        "        probe: {type: http, path: /ready, method: HEAD, "
        "success_threshold: 2}\n"
        "        address: \"::1\"\n"
        "        port: 8443\n"
        "      - {name: metrics, port: 9100, exposed: false}\n"
        "    logging:\n"
        "      stdout: {file: api.log, timestamp_format: none, rotation: "
        "{max_size: 5MB, max_files: 3, max_age: 7d}}\n"
        "      stderr: {file: /var/log/api.err}\n"
        "  - name: plain\n"
        "    cmd: [x]\n"
        "logging:\n"
        "  base_dir: logs\n"
        "  defaults: {rotation: {max_size: 100MB, max_files: 10}}\n";

    ck_assert_msg(doc_load(&c, y, "/etc/drover", err) == 0, "%s", err);
    ck_assert_uint_eq(c.n, 2);
    const struct svc_config *a = &c.v[0], *p = &c.v[1];
    ck_assert_uint_eq(a->n_probes, 4); /* three checks, one listener with a probe */
    const struct svc_probe *h = &a->probes[0];
    ck_assert_int_eq(h->kind, SVC_PROBE_HTTP);
    ck_assert_str_eq(h->name, "live");
    ck_assert_str_eq(h->host, "127.0.0.1");
    ck_assert_uint_eq(h->port, 8080);
    ck_assert_str_eq(h->path, "/healthz");
    ck_assert_uint_eq(h->status, 200);        /* superviz's default */
    ck_assert_uint_eq(h->interval_ms, 30000); /* health_checks' default */
    ck_assert_int_eq(a->probes[1].kind, SVC_PROBE_TCP);
    ck_assert_uint_eq(a->probes[1].failure_threshold, 5);
    ck_assert_int_eq(a->probes[2].kind, SVC_PROBE_EXEC);
    ck_assert_str_eq(a->probes[2].argv[0], "pg_isready");
    ck_assert_uint_eq(a->probes[2].interval_ms, 60000);
    const struct svc_probe *l = &a->probes[3];
    ck_assert_str_eq(l->name, "web");
    ck_assert_str_eq(l->host, "::1"); /* the listener's address and port */
    ck_assert_uint_eq(l->port, 8443);
    ck_assert_str_eq(l->method, "HEAD");
    ck_assert_uint_eq(l->success_threshold, 2);
    ck_assert_uint_eq(l->interval_ms, 10000);
    ck_assert_str_eq(a->log_file[0], "api.log");
    ck_assert_str_eq(a->log_file[1], "/var/log/api.err");
    ck_assert_uint_eq(a->log_max_bytes, 5u << 20);
    ck_assert_uint_eq(a->log_keep, 3);
    ck_assert_uint_eq(a->log_max_age_s, 7 * 86400);
    /* plain takes the file's defaults, given after the services */
    ck_assert_uint_eq(p->n_probes, 0);
    ck_assert_ptr_null(p->log_file[0]);
    ck_assert_uint_eq(p->log_max_bytes, 100u << 20);
    ck_assert_uint_eq(p->log_keep, 10);
    ck_assert_uint_eq(p->log_max_age_s, 0);
    ck_assert_str_eq(c.log_dir, "/etc/drover/logs");
    doc_done(&c);
}
END_TEST

/* drover's keys the lists above leave out: the other spellings of the times, autorestart,
 * oneshot, autostart, numeric ids, log_max_age, and a probe's every key. */
START_TEST(drover_keys)
{
    struct doc c;
    char err[YAML_ERROR_MAX] = "";
    const char *y = "services:\n"
                    "  - name: a\n"
                    "    cmd: [x]\n"
                    "    autorestart: false\n"
                    "    restart_delay: 1s\n"
                    "    restart_delay_max_ms: 9000\n"
                    "    min_uptime: 1.5s\n"
                    "    kill_timeout_ms: 250\n"
                    "    oneshot: yes\n"
                    "    autostart: off\n"
                    "    user: \"54321\"\n"
                    "    log_max_age: 2d\n"
                    "    probe: {type: http, name: ready, host: 127.0.0.1, port: 80, path: /r, "
                    "method: POST, status_code: 204, timeout: 2s, success_threshold: 2, "
                    "failure_threshold: 4}\n"
                    "  - name: b\n"
                    "    cmd: [y]\n"
                    "    restart: unless-stopped\n"
                    "    restart_delay_max: 1m\n"
                    "    min_uptime_ms: 10\n"
                    "    group: \"0\"\n"
                    "    probe: {cmd: [check, -q], args: [--fast]}\n"
                    "  - name: c\n"
                    "    cmd: [z]\n"
                    "    restart: \"no\"\n"
                    "    probe: {type: exec, command: check  --all}\n";

    ck_assert_msg(doc_load(&c, y, "/", err) == 0, "%s", err);
    ck_assert_uint_eq(c.n, 3);
    const struct svc_config *a = &c.v[0], *b = &c.v[1];
    ck_assert_int_eq(a->restart, SVC_RESTART_NEVER);
    ck_assert_uint_eq(a->restart_delay_ms, 1000);
    ck_assert_uint_eq(a->restart_delay_max_ms, 9000);
    ck_assert_uint_eq(a->min_uptime_ms, 1500);
    ck_assert_uint_eq(a->kill_timeout_ms, 250);
    ck_assert(a->oneshot && !a->autostart);
    ck_assert(a->set_ids);
    ck_assert_uint_eq(a->uid, 54321); /* not in passwd: the group is the same number */
    ck_assert_uint_eq(a->gid, 54321);
    ck_assert_uint_eq(a->log_max_age_s, 2 * 86400);
    ck_assert_uint_eq(a->log_max_bytes, 0); /* no defaults in the file */
    const struct svc_probe *p = &a->probes[0];
    ck_assert_str_eq(p->name, "ready");
    ck_assert_str_eq(p->host, "127.0.0.1");
    ck_assert_str_eq(p->method, "POST");
    ck_assert_uint_eq(p->status, 204);
    ck_assert_uint_eq(p->timeout_ms, 2000);
    ck_assert_uint_eq(p->success_threshold, 2);
    ck_assert_uint_eq(p->failure_threshold, 4);
    ck_assert_int_eq(b->restart, SVC_RESTART_ALWAYS);
    ck_assert_uint_eq(b->restart_delay_max_ms, 60000);
    ck_assert_uint_eq(b->min_uptime_ms, 10);
    ck_assert(b->set_ids);
    ck_assert_uint_eq(b->gid, 0);
    ck_assert_uint_eq(b->uid, getuid());                 /* a group alone keeps the user */
    ck_assert_int_eq(b->probes[0].kind, SVC_PROBE_EXEC); /* no type: a command is exec */
    ck_assert_str_eq(b->probes[0].argv[0], "check");
    ck_assert_str_eq(b->probes[0].argv[2], "--fast");
    ck_assert_uint_eq(b->probes[0].status, 0); /* only http has one */
    ck_assert_int_eq(c.v[2].restart, SVC_RESTART_NEVER);
    ck_assert_str_eq(c.v[2].probes[0].argv[1], "--all");
    ck_assert_ptr_null(c.v[2].probes[0].argv[2]);
    doc_done(&c);

    static const struct bad_doc bad[] = {
        {SVC_A "autorestart: maybe\n", "t.yaml:4: bad value 'maybe' for 'autorestart'"},
        {SVC_A "oneshot: 1\n", "bad value '1' for 'oneshot'"},
        {SVC_A "autostart: True\n", "bad value 'True' for 'autostart'"},
        {SVC_A "group: no-such-group-here\n", "bad value 'no-such-group-here' for 'group'"},
        {SVC_A "stop_signal: LOUD\n", "bad value 'LOUD' for 'stop_signal'"},
        {SVC_A "log_max_age: 3 weeks\n", "bad value '3 weeks' for 'log_max_age'"},
        {SVC_A "min_uptime: -1s\n", "bad value '-1s' for 'min_uptime'"},
        {SVC_A "restart_delay: soon\n", "bad value 'soon' for 'restart_delay'"},
        {SVC_A "restart_delay_ms: 50d\n", "bad value '50d'"},
        {SVC_A "log_keep: -1\n", "bad value '-1' for 'log_keep'"},
        {SVC_A "cmd: x\n", "t.yaml:4: service key 'cmd' takes a list"},
        {SVC_A "cmd: [[x]]\n", "t.yaml:4: 'cmd' holds words, not lists or mappings"},
        {SVC_A "name: [a]\n", "t.yaml:4: service key 'name' takes a single value"},
        {SVC_A "probe: {port: 80, method: get}\n", "bad value 'get' for 'probe.method'"},
        {SVC_A "probe: {port: 80, timeout: 0}\n", "bad value '0' for 'probe.timeout'"},
        {SVC_A "probe: {port: 80, success_threshold: 0}\n",
         "bad value '0' for 'probe.success_threshold'"},
        {SVC_A "probe: {port: 80, failure_threshold: 0}\n",
         "bad value '0' for 'probe.failure_threshold'"},
        {SVC_A "probe: {port: 80, status_code: ok}\n", "bad value 'ok' for 'probe.status_code'"},
        {SVC_A "probe: {type: http, host: example.com, port: 80}\n", "host 'example.com' must be"},
        {SVC_A "probe: {type: udp, port: 53}\n", "'probe.type': this probe type is not supported"},
        {SVC_A "probe: [80]\n", "t.yaml:4: service key 'probe' takes a mapping"},
        {SVC_A "probe: {[a]: b}\n", "t.yaml:4: keys of 'probe' must be plain names"},
    };
    expect_errors(bad, sizeof bad / sizeof bad[0]);
}
END_TEST

/* superviz's keys the lists above leave out: the whole restart mapping, listener protocols,
 * endpoints, compress: false, timestamp formats (a warning), errors of each. */
START_TEST(superviz_more_keys)
{
    struct doc c;
    char err[YAML_ERROR_MAX] = "";
    const char *y = "version: 1\n"
                    "services:\n"
                    "  - name: a\n"
                    "    command: \"run\\tthe  thing\"\n"
                    "    working_dir: srv\n"
                    "    restart: {policy: on-failure, max_retries: 2, delay: 100, "
                    "delay_max: 2s, stability_window: 1m}\n"
                    "    listeners:\n"
                    "      - {name: dns, port: 53, protocol: udp, exposed: true}\n"
                    "      - {port: 8080, protocol: tcp, probe: {port: 8081}}\n"
                    "    health_checks:\n"
                    "      - {type: http, endpoint: \"http://[::1]:9000/h\"}\n"
                    "      - {type: http, endpoint: \"http://localhost\", method: GET}\n"
                    "      - {type: http, endpoint: /up, port: 7000}\n"
                    "    logging:\n"
                    "      stdout: {timestamp_format: rfc3339, rotation: {max_size: 1M, "
                    "compress: false}}\n"
                    "      stderr: {rotation: {max_size: 1M}}\n"
                    "logging:\n"
                    "  defaults: {timestamp_format: none, rotation: {max_age: 1h}}\n";

    warned[0] = '\0';
    ck_assert_msg(doc_load(&c, y, "/etc/drover", err) == 0, "%s", err);
    const struct svc_config *a = &c.v[0];
    ck_assert_str_eq(a->argv[0], "run");
    ck_assert_str_eq(a->argv[2], "thing");
    ck_assert_ptr_null(a->argv[3]);
    ck_assert_str_eq(a->cwd, "/etc/drover/srv");
    ck_assert_int_eq(a->restart, SVC_RESTART_ON_FAILURE);
    ck_assert_uint_eq(a->max_restarts, 2);
    ck_assert_uint_eq(a->restart_delay_ms, 100);
    ck_assert_uint_eq(a->restart_delay_max_ms, 2000);
    ck_assert_uint_eq(a->min_uptime_ms, 60000);
    ck_assert_uint_eq(a->n_probes, 4); /* one listener probe, three checks */
    ck_assert_int_eq(a->probes[0].kind, SVC_PROBE_TCP);
    ck_assert_uint_eq(a->probes[0].port, 8081); /* its own port wins */
    ck_assert_ptr_null(a->probes[0].host);      /* no address: localhost */
    ck_assert_str_eq(a->probes[1].host, "::1");
    ck_assert_uint_eq(a->probes[1].port, 9000);
    ck_assert_str_eq(a->probes[1].path, "/h");
    ck_assert_str_eq(a->probes[2].host, "localhost");
    ck_assert_uint_eq(a->probes[2].port, 80);
    ck_assert_str_eq(a->probes[2].path, "/");
    ck_assert_str_eq(a->probes[2].method, "GET");
    ck_assert_ptr_null(a->probes[3].host);
    ck_assert_uint_eq(a->probes[3].port, 7000);
    ck_assert_str_eq(a->probes[3].path, "/up");
    ck_assert_uint_eq(a->log_max_bytes, 1u << 20);
    ck_assert_uint_eq(a->log_keep, 0);         /* nor a count, and neither has the file */
    ck_assert_uint_eq(a->log_max_age_s, 3600); /* rotation set no age: the file's default */
    ck_assert_ptr_nonnull(strstr(warned, "t.yaml: timestamp_format 'rfc3339' is ignored"));
    doc_done(&c);

    static const struct bad_doc bad[] = {
        {SVC_A "restart: {colour: red}\n", "t.yaml:4: unknown key 'restart.colour'"},
        {SVC_A "restart: {delay: soon}\n", "bad value 'soon' for 'restart.delay'"},
        {SVC_A "restart: [always]\n", "t.yaml:4: 'restart' wants always, on-failure or never"},
        {SVC_A "restart: sometimes\n", "'restart' wants always, on-failure or never"},
        {"services:\n  - name: a\n    command: [x]\n",
         "service key 'command' takes a single value"},
        {SVC_A "args: x\n", "service key 'args' takes a list"},
        {SVC_A "environment: [A]\n", "service key 'environment' takes a mapping of NAME: value"},
        {SVC_A "listeners: [{port: 1, protocol: sctp}]\n",
         "bad value 'sctp' for 'listeners.protocol'"},
        {SVC_A "listeners: [{port: 1, exposed: maybe}]\n",
         "bad value 'maybe' for 'listeners.exposed'"},
        {SVC_A "listeners: [80]\n", "t.yaml:4: each of 'listeners' is a mapping"},
        {SVC_A "listeners: {port: 80}\n", "service key 'listeners' takes a list of listeners"},
        {SVC_A "health_checks: [tcp]\n", "each of 'health_checks' is a mapping"},
        {SVC_A "health_checks: {type: tcp}\n",
         "service key 'health_checks' takes a list of checks"},
        {SVC_A "health_checks: [{endpoint: "
               "\"http://[::1/\"}]\n",
         "bad value 'http://[::1/' for 'health_checks.endpoint'"},
        {SVC_A "health_checks: [{endpoint: \"http://h:0/\"}]\n", "bad value 'http://h:0/'"},
        {SVC_A "logging: {stdout: {file: \"\"}}\n", "bad value '' for 'logging.stdout.file'"},
        {SVC_A "logging: [stdout]\n", "service key 'logging' takes a mapping (stdout, stderr)"},
        {SVC_A "logging: {stdout: {rotation: {max_files: "
               "many}}}\n",
         "bad value 'many' for 'logging.stdout.rotation.max_files'"},
        {"logging: {base_dir: \"\"}\n", "t.yaml:1: 'logging.base_dir' must not be empty"},
        {"logging: {defaults: {colour: red}}\n", "unknown key 'logging.defaults.colour'"},
        {"logging: {defaults: {rotation: {compress: true}}}\n",
         "'logging.defaults.rotation.compress: true' is not supported"},
        {"logging: [a]\n", "t.yaml:1: service key 'logging' takes a mapping"},
        {"version: [1]\n", "t.yaml:1: 'version' must be 1"},
        {"services:\n  - a\n", "t.yaml:2: each service is a mapping"},
        {SVC_A "[k]: v\n", "service keys must be plain names"},
    };
    expect_errors(bad, sizeof bad / sizeof bad[0]);
}
END_TEST

/* More than 64 probes on one service is an error at the 65th. */
START_TEST(probe_limit)
{
    char doc[8192], err[YAML_ERROR_MAX] = "";
    int n = snprintf(doc, sizeof doc, "services:\n  - name: a\n    cmd: [x]\n    health_checks:\n");
    struct doc c;

    for (int i = 0; i < 65; i++)
        n += snprintf(doc + n, sizeof doc - (size_t)n, "      - {port: %d}\n", i + 1);
    ck_assert_int_eq(doc_load(&c, doc, "/", err), -EINVAL);
    ck_assert_msg(strstr(err, "t.yaml:69: 'health_checks': more than 64 probes"), "%s", err);
    doc_done(&c);
}
END_TEST

/* A file of services alone, as `drover start FILE` reads it: services and version, nothing of
 * droverd's, at least one service, no log defaults. */
START_TEST(services_file)
{
    char err[YAML_ERROR_MAX] = "";
    struct yaml_reader rd = {.name = "s.yaml", .err = err};
    struct svc_config *v = NULL;
    size_t n = 0;
    const char *y = "version: \"1\"\nservices:\n  - {name: a, cmd: [x], logging: {stdout: "
                    "{rotation: {max_files: 2}}}}\n  - {name: b, command: y, cwd: w}\n";

    ck_assert_msg(svc_conf_parse(&rd, y, strlen(y), "/srv", &v, &n) == 0, "%s", err);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(v[0].log_keep, 2);
    ck_assert_uint_eq(v[0].log_max_bytes, 0);
    ck_assert_uint_eq(v[1].log_keep, 0);
    ck_assert_str_eq(v[1].cwd, "/srv/w");
    svc_configs_free(v, n);

    static const struct {
        const char *yaml;  /* a bad file */
        const char *error; /* what the error says */
    } bad[] = {
        {"", "s.yaml: no services in it (a 'services:' list)"},
        {"services:\n", "s.yaml: no services in it"},
        {"log_level: debug\nservices: [{name: a, cmd: [x]}]\n",
         "s.yaml:1: 'log_level' is a droverd setting: a file of services holds 'services' (and "
         "'version')"},
        {"services: [{name: a, cmd: [x]}]\nlogging: {base_dir: /x}\n",
         "s.yaml:2: 'logging' is a droverd setting"},
        {"- a\n", "s.yaml:1: expected a mapping"},
        {"services: [{name: a, cmd: [x]}]\n---\nservices: []\n",
         "s.yaml:2: expected one YAML document, found more"},
        {"services: [{name: a, cmd: [x], depends_on: [b]}]\n", "depends on 'b'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = NULL;
        int r = svc_conf_parse(&rd, bad[i].yaml, strlen(bad[i].yaml), "/", &v, &n);
        ck_assert_msg(r == -EINVAL && strstr(err, bad[i].error), "case %zu: %d '%s'", i, r, err);
        ck_assert_ptr_null(v);
    }
}
END_TEST

/* The scalar forms of base/yaml.c. */
START_TEST(scalars)
{
    static const struct {
        const char *v; /* text */
        double unit;   /* what a bare number counts */
        int64_t want;  /* the value, or -1 for -EINVAL */
    } durations[] = {
        {"250", 1, 250},       {"500ms", 1, 500},
        {"5s", 1, 5000},       {"2m", 1, 120000},
        {"1h", 1, 3600000},    {"7d", 1, 604800000},
        {"1.5s", 1, 1500},     {"7d", 1000, 604800},
        {"90", 1000, 90},      {"-1", 1, -1},
        {"5 s", 1, -1},        {"x", 1, -1},
        {"", 1, -1},           {"50d", 1, -1},
        {"nan", 1, -1},        {"4294967295", 1, 4294967295},
        {"4294967296", 1, -1}, {"1w", 1, -1},
    };
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        uint32_t got = 7;
        int r = yaml_parse_duration(durations[i].v, durations[i].unit, &got);
        if (durations[i].want < 0)
            ck_assert_msg(r == -EINVAL && got == 7, "duration '%s'", durations[i].v);
        else
            ck_assert_msg(r == 0 && got == durations[i].want, "duration '%s': %u", durations[i].v,
                          got);
    }

    static const struct {
        const char *v; /* text */
        uint64_t want; /* the value, or UINT64_MAX for -EINVAL */
    } sizes[] = {
        {"1048576", 1048576}, {"512K", 512 << 10},          {"512KB", 512 << 10}, {"10M", 10 << 20},
        {"10MB", 10 << 20},   {"1G", 1ull << 30},           {"2GB", 2ull << 30},  {"0", 0},
        {"1T", UINT64_MAX},   {"-1", UINT64_MAX},           {"", UINT64_MAX},     {"k", UINT64_MAX},
        {"10m", 10 << 20},    {"10MiB", 10 << 20},        {"3gb", 3ull << 30},  {"10Mx", UINT64_MAX},
        {"99999999999G", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t got = 7;
        int r = yaml_parse_size(sizes[i].v, &got);
        if (sizes[i].want == UINT64_MAX)
            ck_assert_msg(r == -EINVAL && got == 7, "size '%s'", sizes[i].v);
        else
            ck_assert_msg(r == 0 && got == sizes[i].want, "size '%s'", sizes[i].v);
    }

    static const struct {
        const char *v; /* text */
        int64_t want;  /* the value, or -1 for -EINVAL */
    } counts[] = {
        {"0", 0},           {"42", 42},   {"4294967295", 4294967295},
        {"4294967296", -1}, {"-1", -1},   {"", -1},
        {"1x", -1},         {"0x10", -1},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        uint32_t got = 7;
        int r = yaml_parse_count(counts[i].v, &got);
        if (counts[i].want < 0)
            ck_assert_msg(r == -EINVAL && got == 7, "count '%s'", counts[i].v);
        else
            ck_assert_msg(r == 0 && got == counts[i].want, "count '%s'", counts[i].v);
    }

    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"},
                             *const neither[] = {"True", "1", "0", "", "y"};
    bool b;
    for (size_t i = 0; i < 3; i++) {
        ck_assert(yaml_parse_bool(yes[i], &b) == 0 && b);
        ck_assert(yaml_parse_bool(no[i], &b) == 0 && !b);
    }
    for (size_t i = 0; i < sizeof neither / sizeof neither[0]; i++)
        ck_assert_int_eq(yaml_parse_bool(neither[i], &b), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("svc-conf");
    TCase *tc = tcase_create("svc-conf");

    tcase_add_test(tc, services_list);
    tcase_add_test(tc, superviz_keys);
    tcase_add_test(tc, drover_keys);
    tcase_add_test(tc, superviz_more_keys);
    tcase_add_test(tc, probe_limit);
    tcase_add_test(tc, services_file);
    tcase_add_test(tc, scalars);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
