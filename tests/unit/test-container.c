/* Unit tests of src/container without a runtime: specs kept whole through their rows, signal
 * names, the runtime's command lines and its error log, the OCI configuration generated from a
 * spec and an image (process, capabilities, user from the image's passwd, mounts, namespaces,
 * limits, seccomp), and the choice of runtime. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strv.h"
#include "container/container-internal.h"
#include "unit.h"

static char *v0[] = {NULL};

START_TEST(spec_survives_its_row)
{
    char *cmd[] = {"sh", "-c", "echo hi", NULL}, *env[] = {"A=1", "B=2", NULL};
    char *labels[] = {"k", "v", NULL}, *caps[] = {"NET_RAW", NULL};
    struct ctr_mount mounts[] = {{CTR_MOUNT_VOLUME, "data", "/data", false},
                                 {CTR_MOUNT_TMPFS, NULL, "/scratch", true}};
    struct ctr_spec s = {.name = "n", .image = "busybox", .entrypoint = v0, .command = cmd,
                         .env = env, .cwd = "/w", .user = "1:2", .tty = true, .rows = 30,
                         .cols = 100, .read_only = true, .mounts = mounts, .n_mounts = 2,
                         .res = {.memory = 1 << 26, .memory_swap = 1 << 27, .cpu_quota_us = 50000,
                                 .cpu_period_us = 100000, .cpu_shares = 512, .pids = 64},
                         .cap_add = caps, .cap_drop = v0, .host_network = true, .labels = labels,
                         .stop_signal = SIGINT, .stop_timeout_ms = 1500, .auto_remove = true};
    struct ctr_spec c;
    ck_assert_int_eq(ctr_spec_copy(&c, &s), 0);
    ck_assert_str_eq(c.name, "n");
    ck_assert_ptr_nonnull(c.entrypoint); /* an empty entrypoint is not "the image's" */
    ck_assert_ptr_null(c.entrypoint[0]);
    ck_assert(strv_equal(c.command, cmd) && strv_equal(c.env, env) && strv_equal(c.labels, labels));
    ck_assert(c.tty && c.read_only && c.host_network && c.auto_remove && !c.no_seccomp);
    ck_assert_int_eq(c.rows, 30);
    ck_assert_int_eq(c.n_mounts, 2);
    ck_assert_int_eq(c.mounts[0].type, CTR_MOUNT_VOLUME);
    ck_assert_str_eq(c.mounts[1].destination, "/scratch");
    ck_assert(c.mounts[1].read_only);
    ck_assert_int_eq(c.res.memory_swap, 1 << 27);
    ck_assert_int_eq(c.res.pids, 64);
    ck_assert_int_eq(c.stop_signal, SIGINT);
    ck_assert_int_eq(c.stop_timeout_ms, 1500);
    ctr_spec_done(&c);
}
END_TEST

START_TEST(signal_names)
{
    ck_assert_int_eq(ctr_signal_parse("SIGTERM"), SIGTERM);
    ck_assert_int_eq(ctr_signal_parse("int"), SIGINT);
    ck_assert_int_eq(ctr_signal_parse("9"), SIGKILL);
    ck_assert_int_eq(ctr_signal_parse("SIGNOPE"), 0);
    ck_assert_int_eq(ctr_signal_parse("999"), 0);
    ck_assert_int_eq(ctr_signal_parse(""), 0);
}
END_TEST

START_TEST(runtime_lines_and_errors)
{
    struct ctr_runtime rt = {.name = "runc", .path = "/usr/sbin/runc", .root = "/s/runtime"};
    char **a = ctr_runtime_argv(&rt, "/s/log", "create", "--bundle", "/b", "id1", NULL);
    char *want[] = {"/usr/sbin/runc", "--root", "/s/runtime", "--log", "/s/log",
                    "--log-format", "json", "create", "--bundle", "/b", "id1", NULL};
    ck_assert(strv_equal(a, want));
    strv_free(a);
    char path[] = "/tmp/drover-test-log-XXXXXX";
    int fd = mkstemp(path);
    const char *log = "{\"level\":\"warning\",\"msg\":\"meh\"}\nnot json\n"
                      "{\"level\":\"error\",\"msg\":\"exec: \\\"/x\\\": no such file\"}\n"
                      "{\"level\":\"info\",\"msg\":\"later\"}\n";
    ck_assert_int_eq(write(fd, log, strlen(log)), (ssize_t)strlen(log));
    close(fd);
    char *e = ctr_runtime_log_error(path);
    ck_assert_str_eq(e, "exec: \"/x\": no such file");
    free(e);
    unlink(path);
    ck_assert_ptr_null(ctr_runtime_log_error("/nonexistent/log"));
}
END_TEST

static json_t *find_mount(json_t *mounts, const char *dst)
{
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m) if (!strcmp(json_string_value(json_object_get(m, "destination")), dst))
        return m;
    return NULL;
}

static bool has_string(json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (!strcmp(json_string_value(v), s)) return true;
    return false;
}

START_TEST(oci_config_from_spec_and_image)
{
    char dir[] = "/tmp/drover-test-ctr-XXXXXX", p[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct ctr_mgr m = {0};
    char roots[256], vols[256];
    snprintf(roots, sizeof roots, "%s/roots", dir);
    snprintf(vols, sizeof vols, "%s/volumes", dir);
    m.roots_dir = roots;
    m.volumes_dir = vols;
    snprintf(p, sizeof p, "mkdir -p %s/roots/abc/rootfs/etc && printf 'root:x:0:0::/root:/bin/sh\\n"
             "app:x:1000:1001::/home/app:/bin/sh\\n' > %s/roots/abc/rootfs/etc/passwd", dir, dir);
    ck_assert_int_eq(system(p), 0);
    char *icmd[] = {"/bin/sh", NULL}, *ienv[] = {"PATH=/bin", "A=image", NULL};
    struct ctr_image img = {.chain = "abc", .cmd = icmd, .env = ienv, .cwd = "/srv"};
    char *env[] = {"A=spec", NULL}, *drop[] = {"CHOWN", NULL}, *add[] = {"net_raw", NULL};
    struct ctr_mount mounts[] = {{CTR_MOUNT_VOLUME, "v1", "/data", true}};
    struct container c = {.m = &m, .cgroup = "drover-ctr.x/id"};
    c.spec = (struct ctr_spec){.name = "web", .image = "busybox", .env = env, .user = "app",
                               .read_only = true, .cap_drop = drop, .cap_add = add,
                               .mounts = mounts, .n_mounts = 1,
                               .res = {.memory = 1 << 25, .cpu_quota_us = 50000, .pids = 10}};
    json_t *doc = NULL;
    char err[CTR_ERR_MAX] = "";
    ck_assert_msg(ctr_oci_config(&m, &c, &img, "/r", &doc, err, sizeof err) == 0, "%s", err);
    json_t *pr = json_object_get(doc, "process");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(pr, "args"), 0)), "/bin/sh");
    ck_assert_str_eq(json_string_value(json_object_get(pr, "cwd")), "/srv");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(pr, "user"), "uid")), 1000);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(pr, "user"), "gid")), 1001);
    json_t *envj = json_object_get(pr, "env");
    ck_assert(has_string(envj, "A=spec") && !has_string(envj, "A=image"));
    ck_assert(has_string(envj, "HOME=/home/app") && has_string(envj, "HOSTNAME=web"));
    json_t *bounding = json_object_get(json_object_get(pr, "capabilities"), "bounding");
    ck_assert(has_string(bounding, "CAP_NET_RAW") && has_string(bounding, "CAP_KILL"));
    ck_assert(!has_string(bounding, "CAP_CHOWN"));
    ck_assert(json_is_true(json_object_get(pr, "noNewPrivileges")));
    ck_assert(json_is_true(json_object_get(json_object_get(doc, "root"), "readonly")));
    json_t *mj = json_object_get(doc, "mounts");
    ck_assert_ptr_nonnull(find_mount(mj, "/tmp")); /* read-only root: /tmp is a tmpfs */
    json_t *data = find_mount(mj, "/data");
    ck_assert_ptr_nonnull(data);
    ck_assert(has_string(json_object_get(data, "options"), "ro"));
    snprintf(p, sizeof p, "%s/volumes/v1/_data", dir);
    ck_assert_int_eq(access(p, F_OK), 0); /* the volume was made */
    json_t *lx = json_object_get(doc, "linux");
    ck_assert_str_eq(json_string_value(json_object_get(lx, "cgroupsPath")), "drover-ctr.x/id");
    json_t *res = json_object_get(lx, "resources");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
                     1 << 25);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(res, "memory"), "swap")),
                     1 << 25); /* no swap unless asked */
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(res, "cpu"), "period")),
                     100000);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), 10);
    size_t i;
    json_t *ns;
    bool net = false;
    json_array_foreach(json_object_get(lx, "namespaces"), i, ns)
        net |= !strcmp(json_string_value(json_object_get(ns, "type")), "network");
    ck_assert(net);
    if (access("/usr/share/containers/seccomp.json", R_OK) == 0) {
        json_t *sc = json_object_get(lx, "seccomp");
        ck_assert_ptr_nonnull(sc);
        ck_assert_int_gt(json_array_size(json_object_get(sc, "syscalls")), 5);
    }
    json_decref(doc);

    /* Errors name the problem. */
    c.spec.user = "nobody-here";
    ck_assert_int_eq(ctr_oci_config(&m, &c, &img, "/r", &doc, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "nobody-here"));
    c.spec.user = NULL;
    char *bad[] = {"CAP_FLY", NULL};
    c.spec.cap_add = bad;
    ck_assert_int_eq(ctr_oci_config(&m, &c, &img, "/r", &doc, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "CAP_FLY"));
    c.spec.cap_add = NULL;
    img.cmd = NULL;
    ck_assert_int_eq(ctr_oci_config(&m, &c, &img, "/r", &doc, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "no command"));
    snprintf(p, sizeof p, "rm -rf %s", dir);
    ck_assert_int_eq(system(p), 0);
}
END_TEST

START_TEST(runtime_choice)
{
    struct ctr_runtime rt;
    ctr_runtime_pick("/no/such/runtime", "/s", &rt);
    ck_assert_str_eq(rt.name, "");
    ck_assert_ptr_nonnull(strstr(rt.note, geteuid() ? "root" : "not found"));
    ck_assert_str_eq(rt.root, "/s/runtime");
    ctr_runtime_pick("auto", "/s", &rt);
    ck_assert(rt.note[0]); /* always a sentence on the choice */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("container");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, spec_survives_its_row);
    tcase_add_test(tc, signal_names);
    tcase_add_test(tc, runtime_lines_and_errors);
    tcase_add_test(tc, oci_config_from_spec_and_image);
    tcase_add_test(tc, runtime_choice);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
