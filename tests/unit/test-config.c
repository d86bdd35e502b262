/* Unit tests of src/daemon/config.c: the built-in defaults, YAML documents good and bad (each
 * error names the file, line and key), flags over files, and the hand-over of `services:` and
 * `logging:` to the services reader (whose keys test-svc-conf.c covers). */
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
    ck_assert_uint_eq(c.grpc.max_message_size, 4u << 20);
    ck_assert_uint_eq(c.grpc.max_concurrent_streams, 128);
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
    ck_assert_uint_eq(c.grpc.max_message_size, 2048);
    config_done(&c);
}
END_TEST

/* services:, logging: and version: go to the services reader (tests/unit/test-svc-conf.c has
 * its keys); a later file's list replaces the earlier one, the file's log defaults reach the
 * services whichever comes first, and a file of services alone takes no droverd setting. */
START_TEST(services_keys)
{
    struct config c;
    char err[CONFIG_ERROR_MAX] = "";
    const char *y1 = "services: [{name: old, cmd: [x]}]\n";
    const char *y2 = "services:\n"
                     "  - {name: a, cmd: [x], cwd: w}\n"
                     "  - {name: b, cmd: [y], log_max_size: 1K}\n"
                     "log_level: debug\n"
                     "version: 1\n"
                     "logging: {base_dir: logs, defaults: {rotation: {max_size: 2K, max_files: "
                     "4}}}\n";

    ck_assert_int_eq(config_init(&c, err), 0);
    ck_assert_msg(config_load_yaml(&c, y1, strlen(y1), "t1.yaml", "/", err) == 0, "%s", err);
    ck_assert_uint_eq(c.n_services, 1);
    ck_assert_msg(config_load_yaml(&c, y2, strlen(y2), "t.yaml", "/etc/drover", err) == 0, "%s",
                  err);
    ck_assert_uint_eq(c.n_services, 2);
    ck_assert_str_eq(c.services[0].name, "a");
    ck_assert_str_eq(c.services[0].cwd, "/etc/drover/w");
    ck_assert_uint_eq(c.services[0].log_max_bytes, 2048);
    ck_assert_uint_eq(c.services[0].log_keep, 4);
    ck_assert_uint_eq(c.services[1].log_max_bytes, 1024); /* its own */
    ck_assert_uint_eq(c.services[1].log_keep, 4);
    ck_assert_str_eq(c.log_dir, "/etc/drover/logs");
    ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
    config_done(&c);

    static const struct {
        const char *yaml;  /* a bad document */
        const char *error; /* what the error says */
    } bad[] = {
        {"log_level: info\nservices:\n  - name: a\n    colour: red\n",
         "t.yaml:4: unknown service key 'colour'"},
        {"logging: {daemon: {}}\n", "t.yaml:1: 'logging.daemon' is not supported"},
        {"version: 2\n", "t.yaml:1: 'version' must be 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(config_init(&c, err), 0);
        int r = config_load_yaml(&c, bad[i].yaml, strlen(bad[i].yaml), "t.yaml", "/", err);
        ck_assert_msg(r == -EINVAL && strstr(err, bad[i].error), "case %zu: %d '%s'", i, r, err);
        config_done(&c);
    }

    struct svc_config *v;
    size_t n;
    const char *s = "version: 1\nservices: [{name: a, cmd: [x]}]\n";
    ck_assert_msg(config_parse_services(s, strlen(s), "s.yaml", "/", &v, &n, err) == 0, "%s", err);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(v[0].log_keep, 0);
    svc_configs_free(v, n);
    s = "socket: /x\nservices: [{name: a, cmd: [x]}]\n";
    ck_assert_int_eq(config_parse_services(s, strlen(s), "s.yaml", "/", &v, &n, err), -EINVAL);
    ck_assert_msg(strstr(err, "s.yaml:1: 'socket' is a droverd setting"), "%s", err);
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
    ck_assert_uint_eq(c.grpc.max_connections, 9);        /* the flag wins */
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
    tcase_add_test(tc, services_keys);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
