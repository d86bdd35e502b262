/* Unit tests of src/daemon/config.c: the built-in defaults, YAML documents good and bad (each
 * error names the file, line and key), and flags over files. */
#include "unit.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"

START_TEST(builtin_defaults)
{
    struct config c;
    char err[CONFIG_ERROR_MAX] = "";

    ck_assert_int_eq(config_init(&c, err), 0);
    ck_assert_int_eq(c.log_level, LOG_LEVEL_INFO);
    ck_assert_uint_eq(c.max_message_size, 4u << 20);
    ck_assert_uint_eq(c.max_concurrent_streams, 128);
    ck_assert_ptr_null(c.socket_path);
    setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
    ck_assert_int_eq(config_finish(&c), 0);
    ck_assert_str_eq(c.socket_path, "/run/user/1234/drover/drover.sock");
    config_done(&c);
}
END_TEST

static const struct {
    const char *yaml;  /* document */
    const char *error; /* expected substring of the error, NULL for success */
} docs[] = {
    {"", NULL},
    {"# only a comment\n", NULL},
    {"log_level: debug\nmax_connections: 10\n", NULL},
    {"socket: /tmp/x.sock\nstate_dir: ''\n", NULL},
    {"log_level: info\nbogus: 1\n", "t.yaml:2: unknown key 'bogus'"},
    {"log_level: loud\n", "t.yaml:1: 'log_level': expected error, warning"},
    {"max_connections: ten\n", "t.yaml:1: 'max_connections': expected a whole number, got 'ten'"},
    {"max_connections: 0\n", "t.yaml:1: 'max_connections': 0 is out of range"},
    {"max_connections: 99999999999999999999\n", "out of range"},
    {"max_connections: -5\n", "expected a whole number"},
    {"log_level: info\nlog_level: debug\n",
     "t.yaml:2: key 'log_level' given twice (first on line 1)"},
    {"log_level:\n  - debug\n", "t.yaml:1: key 'log_level' takes a single value"},
    {"log_level:\n", "t.yaml:1: key 'log_level' has no value"},
    {"- a\n- b\n", "t.yaml:1: expected a mapping"},
    {"log_level: [unclosed\n", "t.yaml:"},
    {"log_level: info\n---\nlog_level: debug\n", "t.yaml:2: expected one YAML document"},
    {"? [a, b]\n: c\n", "t.yaml:1: keys must be plain names"},
};

START_TEST(yaml_documents)
{
    struct config c;
    char err[CONFIG_ERROR_MAX];

    ck_assert_int_eq(config_init(&c, err), 0);
    err[0] = '\0';
    int r = config_load_yaml(&c, docs[_i].yaml, strlen(docs[_i].yaml), "t.yaml", "/etc", err);
    if (!docs[_i].error) {
        ck_assert_msg(r == 0, "doc %d: %s", _i, err);
    } else {
        ck_assert_msg(r == -EINVAL, "doc %d: expected an error, got %d", _i, r);
        ck_assert_msg(strstr(err, docs[_i].error), "doc %d: '%s' lacks '%s'", _i, err,
                      docs[_i].error);
    }
    config_done(&c);
}
END_TEST

START_TEST(values_and_relative_paths)
{
    struct config c;
    char err[CONFIG_ERROR_MAX];
    const char *y = "log_level: debug\nsocket: run/d.sock\nmax_message_size: 2048\n";

    ck_assert_int_eq(config_init(&c, err), 0);
    ck_assert_int_eq(config_load_yaml(&c, y, strlen(y), "t.yaml", "/etc/drover", err), 0);
    ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
    ck_assert_str_eq(c.socket_path, "/etc/drover/run/d.sock");
    ck_assert_uint_eq(c.max_message_size, 2048);
    config_done(&c);
}
END_TEST

/* The services list: drover's keys and superviz's, defaults, and file:line errors. */
START_TEST(services_list)
{
    struct config c;
    char err[CONFIG_ERROR_MAX] = "";
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

    ck_assert_int_eq(config_init(&c, err), 0);
    ck_assert_msg(config_load_yaml(&c, y, strlen(y), "t.yaml", "/etc/drover", err) == 0, "%s", err);
    ck_assert_uint_eq(c.n_services, 2);
    struct svc_config *w = &c.services[0], *k = &c.services[1];
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
    config_done(&c);

    static const struct {
        const char *yaml;  /* a bad document */
        const char *error; /* what the error says */
    } bad[] = {
        {"services: 3\n", "t.yaml:1: 'services' takes a list"},
        {"services:\n  - cmd: [x]\n", "needs a 'name'"},
        {"services:\n  - name: a\n", "service 'a' needs a 'cmd'"},
        {"services:\n  - name: a\n    cmd: [x]\n    colour: red\n",
         "t.yaml:4: unknown service key 'colour'"},
        {"services:\n  - name: a\n    cmd: [x]\n    user: no-such-user-here\n",
         "t.yaml:4: bad value 'no-such-user-here' for 'user'"},
        {"services:\n  - name: a\n    cmd: [x]\n    umask: 999\n", "bad value '999' for 'umask'"},
        {"services:\n  - name: a\n    cmd: [x]\n    log_max_size: 10Q\n",
         "bad value '10Q' for 'log_max_size'"},
        {"services:\n  - name: a\n    cmd: [x]\n    logging: {stdout: {colour: red}}\n",
         "t.yaml:4: unknown key 'logging.stdout.colour'"},
        {"services:\n  - name: a\n    cmd: [x]\n    logging: {stdin: {}}\n",
         "unknown key 'logging.stdin' (stdout or stderr)"},
        {"services:\n  - name: a\n    cmd: [x]\n    logging:\n"
         "      stdout: {rotation: {max_size: 1M}}\n      stderr: {rotation: {max_size: 2M}}\n",
         "t.yaml:6: 'logging.stderr.rotation' differs"},
        {"services:\n  - name: a\n    cmd: [x]\n    logging: {stdout: {rotation: {compress: "
         "true}}}\n",
         "'logging.stdout.rotation.compress: true' is not supported"},
        {"services:\n  - name: a\n    cmd: [x]\n    listeners: [{name: web, probe: {type: "
         "tcp}}]\n",
         "t.yaml:4: a listener needs a 'port'"},
        {"services:\n  - name: a\n    cmd: [x]\n    listeners:\n      - port: 53\n"
         "        probe: {type: grpc}\n",
         "t.yaml:6: 'listeners.probe.type': this probe type is not supported"},
        {"services:\n  - name: a\n    cmd: [x]\n    health_checks: [{type: http, endpoint: "
         "https://x/}]\n",
         "bad value 'https://x/' for 'health_checks.endpoint'"},
        {"services:\n  - name: a\n    cmd: [x]\n    health_checks: [{type: tcp, host: "
         "db.example, port: 5432}]\n",
         "host 'db.example' must be a numeric address or localhost"},
        {"services:\n  - name: a\n    cmd: [x]\n    health_checks: [{type: command}]\n",
         "an exec probe needs a 'command'"},
        {"services:\n  - name: a\n    cmd: [x]\n    probe: {port: 80, interval: 0}\n",
         "bad value '0' for 'probe.interval'"},
        {"logging: {daemon: {writers: []}}\n", "t.yaml:1: 'logging.daemon' is not supported"},
        {"logging: {base_dir: /x, colour: red}\n", "unknown key 'logging.colour'"},
        {"version: 2\n", "t.yaml:1: 'version' must be 1"},
        {"services:\n  - name: a\n    cmd: [x]\n    depends_on: [b]\n",
         "service 'a' depends on 'b', which is not in the list"},
        {"services:\n  - name: a\n    cmd: [x]\n    depends_on: [c]\n"
         "  - name: b\n    cmd: [x]\n    depends_on: [a]\n"
         "  - name: c\n    cmd: [x]\n    depends_on: [b]\n",
         "t.yaml:1: services depend on each other in a cycle"},
        {"services:\n  - name: a\n    cmd: [x]\n    depends_on: [a]\n", "in a cycle"},
        {"services:\n  - name: a\n    cmd: [x]\n    probe: {type: tcp}\n",
         "a tcp probe needs a 'port'"},
        {"services:\n  - name: a\n    cmd: [x]\n    probe: {type: smoke, port: 1}\n",
         "bad value 'smoke' for 'probe.type'"},
        {"services:\n  - name: a\n    cmd: [x]\n    probe: {port: 99999}\n",
         "bad value '99999' for 'probe.port'"},
        {"services:\n  - name: a\n    cmd: [x]\n    probe: {port: 80, colour: red}\n",
         "unknown key 'probe.colour'"},
        {"services:\n  - name: a\n    cmd: [x]\n    max_restarts: lots\n",
         "t.yaml:4: bad value 'lots' for 'max_restarts'"},
        {"services:\n  - name: a\n    cmd: [x]\n    kill_timeout: 5 parsecs\n",
         "bad value '5 parsecs'"},
        {"services:\n  - name: a\n    cmd: [x]\n  - name: a\n    cmd: [y]\n",
         "t.yaml:4: service 'a' is defined twice"},
        {"services:\n  - name: a\n    cmd: [x]\n    env: {\"A=B\": c}\n", "variable names"},
        {"services:\n  - name: a\n    cmd: [x]\n    restart: {policy: sometimes}\n",
         "bad value 'sometimes' for 'restart.policy'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(config_init(&c, err), 0);
        int r = config_load_yaml(&c, bad[i].yaml, strlen(bad[i].yaml), "t.yaml", "/", err);
        ck_assert_msg(r == -EINVAL && strstr(err, bad[i].error), "case %zu: %d '%s'", i, r, err);
        config_done(&c);
    }
}
END_TEST

/* superviz's keys: health_checks and listener probes become probes with superviz's defaults,
 * logging files and rotation land on the service, the top-level logging gives defaults. */
START_TEST(superviz_keys)
{
    struct config c;
    char err[CONFIG_ERROR_MAX];
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

    ck_assert_int_eq(config_init(&c, err), 0);
    ck_assert_msg(config_load_yaml(&c, y, strlen(y), "t.yaml", "/etc/drover", err) == 0, "%s", err);
    ck_assert_uint_eq(c.n_services, 2);
    const struct svc_config *a = &c.services[0], *p = &c.services[1];
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
    config_done(&c);
}
END_TEST

START_TEST(file_then_flags)
{
    char path[] = "/tmp/drover-test-config-XXXXXX";
    int fd = mkstemp(path);
    const char *y = "log_level: debug\nmax_connections: 7\n";
    struct config c;
    char err[CONFIG_ERROR_MAX] = "";

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, y, strlen(y)), (int)strlen(y));
    close(fd);
    struct config_flag flags[] = {{config_option_find("max-connections"), "9"}};
    ck_assert_ptr_nonnull(flags[0].opt);
    ck_assert_int_eq(config_load_all(&c, path, flags, 1, err), 0);
    ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG); /* from the file */
    ck_assert_uint_eq(c.max_connections, 9);        /* the flag wins */
    ck_assert_str_eq(c.config_path, path);
    config_done(&c);

    struct config_flag bad[] = {{config_option_find("log_level"), "shout"}};
    ck_assert_int_eq(config_load_all(&c, path, bad, 1, err), -EINVAL);
    ck_assert_msg(strstr(err, "--log-level: 'log_level': expected"), "%s", err);
    config_done(&c);

    unlink(path);
    ck_assert_int_eq(config_load_all(&c, path, NULL, 0, err), -ENOENT);
    ck_assert_msg(strstr(err, "No such file"), "%s", err);
    config_done(&c);
    ck_assert_ptr_null(config_option_find("no-such-option"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");

    tcase_add_test(tc, builtin_defaults);
    tcase_add_loop_test(tc, yaml_documents, 0, (int)(sizeof docs / sizeof docs[0]));
    tcase_add_test(tc, values_and_relative_paths);
    tcase_add_test(tc, file_then_flags);
    tcase_add_test(tc, services_list);
    tcase_add_test(tc, superviz_keys);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
