/* The default system call filter. Neither runc nor crun has one built in; podman's comes with
 * Debian's containers-common as /usr/share/containers/seccomp.json, in Docker's format (rules
 * that apply only for some architectures or capabilities). This turns it into the OCI form for
 * this machine's architecture and the container's capabilities, as podman does. Without the
 * file there is no filter, and the container's inspection says so. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/macro.h"
#include "container/container-internal.h"

#define PROFILE "/usr/share/containers/seccomp.json"

/* Go's names for architectures (the profile's "arches"), from uname's machine. */
static const char *go_arch(void)
{
    static const char *const map[][2] = {
        {"x86_64", "amd64"}, {"aarch64", "arm64"}, {"i686", "386"},     {"armv7l", "arm"},
        {"ppc64le", "ppc64le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
    };
    struct utsname u;
    if (uname(&u) == 0)
        for (size_t i = 0; i < ARRAY_SIZE(map); i++)
            if (strcmp(u.machine, map[i][0]) == 0)
                return map[i][1];
    return "";
}

/* libseccomp's name for ours ("SCMP_ARCH_X86_64"). */
static const char *scmp_arch(void)
{
    static const char *const map[][2] = {
        {"amd64", "SCMP_ARCH_X86_64"}, {"arm64", "SCMP_ARCH_AARCH64"},
        {"386", "SCMP_ARCH_X86"},      {"arm", "SCMP_ARCH_ARM"},
        {"ppc64le", "SCMP_ARCH_PPC64LE"}, {"s390x", "SCMP_ARCH_S390X"},
        {"riscv64", "SCMP_ARCH_RISCV64"},
    };
    const char *a = go_arch();
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (strcmp(a, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static bool in_strings(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
        return true;
    return false;
}

/* Whether a rule applies: every capability it includes is held, none it excludes is; our
 * architecture among those it includes (if any), not among those it excludes. */
static bool applies(json_t *rule, json_t *caps, const char *arch)
{
    json_t *inc = json_object_get(rule, "includes"), *exc = json_object_get(rule, "excludes");
    size_t i;
    json_t *v;
    json_t *arches = json_object_get(inc, "arches");
    if (json_array_size(arches) && !in_strings(arches, arch))
        return false;
    if (in_strings(json_object_get(exc, "arches"), arch))
        return false;
    json_array_foreach(json_object_get(inc, "caps"), i, v)
        if (!json_is_string(v) || !in_strings(caps, json_string_value(v)))
            return false;
    json_array_foreach(json_object_get(exc, "caps"), i, v)
        if (json_is_string(v) && in_strings(caps, json_string_value(v)))
            return false;
    return true;
}

json_t *ctr_seccomp_default(json_t *caps)
{
    const char *arch = go_arch(), *sarch = scmp_arch();
    json_t *p = sarch ? json_load_file(PROFILE, 0, NULL) : NULL;
    json_t *rules = json_object_get(p, "syscalls");

    if (!json_is_array(rules)) {
        json_decref(p);
        return NULL;
    }
    json_t *archs = json_array();
    json_array_append_new(archs, json_string(sarch));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(p, "archMap"), i, v)
    {
        const char *a = json_string_value(json_object_get(v, "architecture"));
        if (a && strcmp(a, sarch) == 0)
            json_array_extend(archs, json_object_get(v, "subArchitectures"));
    }
    json_t *out = json_array();
    json_array_foreach(rules, i, v)
    {
        json_t *names = json_object_get(v, "names"), *action = json_object_get(v, "action");
        if (!json_array_size(names) || !json_is_string(action) || !applies(v, caps, arch))
            continue;
        json_t *r = json_pack("{s:O, s:O}", "names", names, "action", action);
        json_t *eret = json_object_get(v, "errnoRet");
        if (json_is_integer(eret))
            json_object_set(r, "errnoRet", eret);
        json_t *args = json_object_get(v, "args");
        if (json_array_size(args))
            json_object_set(r, "args", args);
        json_array_append_new(out, r);
    }
    json_t *doc = json_pack("{s:O, s:o, s:o}", "defaultAction",
                            json_object_get(p, "defaultAction"), "architectures", archs,
                            "syscalls", out);
    json_t *dret = json_object_get(p, "defaultErrnoRet");
    if (doc && json_is_integer(dret))
        json_object_set(doc, "defaultErrnoRet", dret);
    json_decref(p);
    return doc;
}
