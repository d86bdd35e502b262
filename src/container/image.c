/* Images: one OCI image layout under the state directory holds every image droverd knows (blobs
 * shared between images), each named by its org.opencontainers.image.ref.name. skopeo copies a
 * source into it (an OCI layout, an oci-archive or a docker-archive: no registry), then umoci
 * unpacks the image's root once into roots/<chain id>, which every container of any image with
 * the same layers shares as its overlay's lower layer. Unpacked roots are keyed by the chain of
 * the layers' diff_ids, not by a file's digest: a docker-archive round trip changes every digest
 * but not the layers' contents.
 *
 * Imports run one at a time (skopeo writes the layout's index.json); removal edits index.json
 * itself and collects the blobs no image refers to any more. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/errmsg.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/ossl.h"
#include "base/strv.h"
#include "container/container-internal.h"

#define REF_ANNOTATION "org.opencontainers.image.ref.name"

/* An import waiting for its turn or running. */
struct ctr_import {
    struct ctr_import *next;
    struct ctr_mgr *m;
    char *src;              /* skopeo's source reference */
    char *name;             /* what it will be called */
    struct ctr_wait *w;     /* the caller's (NULL once cancelled: see ctr_wait) */
    struct ctr_wait *waits; /* list holding w */
    struct ctr_cmd *cmd;
    char *tmp_root;        /* the unpack's target while it runs */
    struct ctr_image *img; /* loaded after the copy */
};

void ctr_image_free(struct ctr_image *img)
{
    if (!img)
        return;
    free(img->name);
    free(img->id);
    free(img->digest);
    free(img->chain);
    free(img->source);
    strv_free(img->entrypoint);
    strv_free(img->cmd);
    strv_free(img->env);
    strv_free(img->labels);
    free(img->cwd);
    free(img->user);
    free(img->stop_signal);
    free(img->architecture);
    free(img->os);
    free(img);
}

char *ctr_image_root(struct ctr_mgr *m, const struct ctr_image *img)
{
    char *p = NULL;
    if (!img->chain || asprintf(&p, "%s/%s/rootfs", m->roots_dir, img->chain) < 0)
        return NULL;
    return p;
}

/* "busybox" is "busybox:latest"; Docker's default registry prefixes go. NULL if not a name. */
static char *normalize_name(const char *in)
{
    static const char *const strip[] = {"docker.io/library/", "docker.io/"};
    for (size_t i = 0; i < ARRAY_SIZE(strip); i++)
        if (strncmp(in, strip[i], strlen(strip[i])) == 0) {
            in += strlen(strip[i]);
            break;
        }
    if (!*in || strlen(in) > 255 || in[0] == ':' || in[0] == '/' || in[0] == '-')
        return NULL;
    for (const char *p = in; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              strchr("._/:@-", *p)))
            return NULL;
    const char *slash = strrchr(in, '/'), *colon = strrchr(in, ':');
    char *out = NULL;
    if (colon && (!slash || colon > slash))
        return colon[1] ? strdup(in) : NULL;
    return asprintf(&out, "%s:latest", in) < 0 ? NULL : out;
}

/* ---- reading the layout ---- */

static json_t *read_blob(struct ctr_mgr *m, const char *digest)
{
    char p[PATH_MAX];
    const char *colon = digest ? strchr(digest, ':') : NULL;
    if (!colon || strchr(colon + 1, '/') || strchr(digest, '.'))
        return NULL;
    snprintf(p, sizeof p, "%s/blobs/%.*s/%s", m->layout_dir, (int)(colon - digest), digest,
             colon + 1);
    return json_load_file(p, 0, NULL);
}

static json_t *read_index(struct ctr_mgr *m)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/index.json", m->layout_dir);
    return json_load_file(p, 0, NULL);
}

static char *dup_json(json_t *j)
{
    return json_is_string(j) ? strdup(json_string_value(j)) : NULL;
}

/* chain(L0) = diff_id(L0); chain(Ln) = sha256(chain(Ln-1) + " " + diff_id(Ln)), as hex. */
static char *chain_id(json_t *diff_ids)
{
    char chain[160] = "";
    size_t i;
    json_t *v;
    json_array_foreach(diff_ids, i, v)
    {
        const char *d = json_string_value(v);
        if (!d || strlen(d) >= 100)
            return NULL;
        if (i == 0) {
            snprintf(chain, sizeof chain, "%s", d);
            continue;
        }
        char buf[300];
        unsigned char md[32];
        unsigned int mdlen = 0;
        int n = snprintf(buf, sizeof buf, "%s %s", chain, d);
        if (!EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha256(), NULL))
            return NULL;
        strcpy(chain, "sha256:");
        for (unsigned k = 0; k < mdlen; k++)
            snprintf(chain + 7 + 2 * k, 3, "%02x", md[k]);
    }
    const char *colon = strchr(chain, ':');
    return colon ? strdup(colon + 1) : NULL;
}

int ctr_image_load(struct ctr_mgr *m, const char *name, struct ctr_image *img, char *err,
                   size_t err_size)
{
    json_t *index = read_index(m), *desc = NULL, *manifest = NULL, *config = NULL;
    size_t i;
    json_t *v;
    int r = 0;

    json_array_foreach(json_object_get(index, "manifests"), i, v)
    {
        const char *ref =
            json_string_value(json_object_get(json_object_get(v, "annotations"), REF_ANNOTATION));
        if (ref && strcmp(ref, name) == 0)
            desc = v;
    }
    const char *mdigest = json_string_value(json_object_get(desc, "digest"));
    if (!mdigest) {
        r = errmsg_fail(err, err_size, -ENOENT, "the image store has no image '%s'", name);
        goto out;
    }
    manifest = read_blob(m, mdigest);
    const char *cdigest =
        json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
    if (!cdigest || !(config = read_blob(m, cdigest))) {
        r = errmsg_fail(err, err_size, -EINVAL,
                        "the image '%s' is not a single-platform image droverd can read (no "
                        "manifest or configuration)",
                        name);
        goto out;
    }
    if (ossl_load_crypto(err, err_size) < 0) { /* for the chain id's SHA-256 */
        r = -ENOENT;
        goto out;
    }
    json_t *cc = json_object_get(config, "config");
    img->name = strdup(name);
    img->id = strdup(cdigest);
    img->digest = strdup(mdigest);
    img->chain = chain_id(json_object_get(json_object_get(config, "rootfs"), "diff_ids"));
    img->entrypoint = ctr_json_strv(json_object_get(cc, "Entrypoint"));
    img->cmd = ctr_json_strv(json_object_get(cc, "Cmd"));
    img->env = ctr_json_strv(json_object_get(cc, "Env"));
    img->cwd = dup_json(json_object_get(cc, "WorkingDir"));
    img->user = dup_json(json_object_get(cc, "User"));
    img->stop_signal = dup_json(json_object_get(cc, "StopSignal"));
    img->architecture = dup_json(json_object_get(config, "architecture"));
    img->os = dup_json(json_object_get(config, "os"));
    const char *key;
    char **labels = NULL;
    size_t nl = 0;
    json_object_foreach(json_object_get(cc, "Labels"), key, v) if (json_is_string(v))
    {
        (void)strv_push(&labels, &nl, strdup(key));
        (void)strv_push(&labels, &nl, strdup(json_string_value(v)));
    }
    img->labels = labels;
    json_array_foreach(json_object_get(manifest, "layers"), i, v)
    {
        img->size += (uint64_t)json_integer_value(json_object_get(v, "size"));
        img->layers++;
    }
    if (!img->chain)
        r = errmsg_fail(err, err_size, -EINVAL, "the image '%s' has no layers", name);
out:
    json_decref(config);
    json_decref(manifest);
    json_decref(index);
    return r;
}

/* ---- the store's own bookkeeping ---- */

static struct ctr_image **image_slot(struct ctr_mgr *m, const char *name)
{
    struct ctr_image **pp = &m->images;
    while (*pp && strcmp((*pp)->name, name) < 0)
        pp = &(*pp)->next;
    return pp;
}

struct ctr_image *ctr_image_find(struct ctr_mgr *m, const char *ref)
{
    char *name = ref ? normalize_name(ref) : NULL;
    struct ctr_image *hit = NULL;
    size_t n = 0;

    for (struct ctr_image *i = m->images; i && name; i = i->next)
        if (strcmp(i->name, name) == 0) {
            free(name);
            return i;
        }
    free(name);
    /* An id, or a unique prefix of one (with or without "sha256:"). */
    const char *hex = ref && strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
    if (!hex || strlen(hex) < 3 || strspn(hex, "0123456789abcdef") != strlen(hex))
        return NULL;
    for (struct ctr_image *i = m->images; i; i = i->next)
        if (strncmp(i->id + 7, hex, strlen(hex)) == 0 && (!hit || strcmp(hit->id, i->id)))
            hit = i, n++;
    return n == 1 ? hit : NULL;
}

struct ctr_image *ctr_image_next(struct ctr_mgr *m, struct ctr_image *prev)
{
    return prev ? prev->next : m->images;
}

void ctr_image_info(const struct ctr_image *img, struct ctr_image_info *ret)
{
    *ret = (struct ctr_image_info){
        .name = img->name,
        .id = img->id,
        .digest = img->digest,
        .source = img->source ? img->source : "",
        .imported_at = img->imported_at,
        .size = img->size,
        .unpacked_size = img->unpacked_size,
        .layers = img->layers,
        .entrypoint = img->entrypoint,
        .cmd = img->cmd,
        .env = img->env,
        .labels = img->labels,
        .cwd = img->cwd ? img->cwd : "",
        .user = img->user ? img->user : "",
        .stop_signal = img->stop_signal ? img->stop_signal : "",
        .architecture = img->architecture ? img->architecture : "",
        .os = img->os ? img->os : "",
        .containers = img->users,
    };
}

static uint64_t tree_bytes;
static int add_size(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p;
    (void)f;
    if (flag == FTW_F)
        tree_bytes += (uint64_t)st->st_size;
    return 0;
}

static uint64_t du(const char *dir)
{
    tree_bytes = 0;
    (void)nftw(dir, add_size, 16, FTW_PHYS);
    return tree_bytes;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if (flag == FTW_DP)
        (void)rmdir(p);
    else
        (void)unlink(p);
    return 0;
}

int ctr_rm_rf(const char *dir)
{
    return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT ? -errno
                                                                                          : 0;
}

/* ---- import ---- */

static void import_next(struct ctr_mgr *m);

static void import_end(struct ctr_import *im, int r, const char *err)
{
    struct ctr_mgr *m = im->m;
    struct ctr_import **pp = &m->imports;
    while (*pp && *pp != im)
        pp = &(*pp)->next;
    if (*pp)
        *pp = im->next;
    if (im->tmp_root) {
        (void)ctr_rm_rf(im->tmp_root);
        free(im->tmp_root);
    }
    ctr_image_free(im->img);
    ctr_wait_finish(&im->waits, r, err);
    free(im->src);
    free(im->name);
    free(im);
    import_next(m);
}

/* The image is in the layout and unpacked: it replaces any of the same name. */
static void import_commit(struct ctr_import *im)
{
    struct ctr_mgr *m = im->m;
    struct ctr_image *img = im->img, **pp = image_slot(m, img->name);
    char *root = ctr_image_root(m, img);

    im->img = NULL;
    img->source = strdup(im->src);
    img->imported_at = (double)time(NULL);
    img->unpacked_size = root ? du(root) : 0;
    free(root);
    if (*pp && strcmp((*pp)->name, img->name) == 0) {
        struct ctr_image *old = *pp;
        img->next = old->next;
        ctr_image_free(old);
    } else
        img->next = *pp;
    *pp = img;
    (void)ctr_db_put_image(m, img);
    log_info("image %s (%s) imported from %s", img->name, img->id, img->source);
    import_end(im, 0, NULL);
}

static void on_unpacked(int status, const char *out, void *userdata)
{
    struct ctr_import *im = userdata;
    char err[CTR_ERR_MAX], final[PATH_MAX];

    im->cmd = NULL;
    if (status != 0) {
        snprintf(err, sizeof err, "umoci could not unpack the image '%s': %s", im->name,
                 *out ? out : "(no message)");
        return import_end(im, -ENOEXEC, err);
    }
    snprintf(final, sizeof final, "%s/%s", im->m->roots_dir, im->img->chain);
    if (rename(im->tmp_root, final) < 0 && errno != ENOTEMPTY && errno != EEXIST) {
        snprintf(err, sizeof err, "cannot move the unpacked root into place: %s", strerror(errno));
        return import_end(im, -errno, err);
    }
    import_commit(im);
}

static void on_copied(int status, const char *out, void *userdata)
{
    struct ctr_import *im = userdata;
    struct ctr_mgr *m = im->m;
    char err[CTR_ERR_MAX], dir[PATH_MAX], src[PATH_MAX];

    im->cmd = NULL;
    if (status != 0) {
        snprintf(err, sizeof err, "skopeo could not import '%s': %s", im->src,
                 *out ? out : "(no message)");
        return import_end(im, -ENOEXEC, err);
    }
    im->img = calloc(1, sizeof *im->img);
    int r = im->img ? ctr_image_load(m, im->name, im->img, err, sizeof err) : -ENOMEM;
    if (r < 0)
        return import_end(im, r, err);
    snprintf(dir, sizeof dir, "%s/%s", m->roots_dir, im->img->chain);
    if (access(dir, F_OK) == 0)
        return import_commit(im);
    /* umoci unpacks into a fresh directory, renamed into place once whole. */
    if (asprintf(&im->tmp_root, "%s.tmp-%d", dir, (int)getpid()) < 0) {
        im->tmp_root = NULL;
        return import_end(im, -ENOMEM, "out of memory");
    }
    (void)ctr_rm_rf(im->tmp_root);
    snprintf(src, sizeof src, "%s:%s", m->layout_dir, im->name);
    char rootfs[PATH_MAX];
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", im->tmp_root);
    (void)mkdir(im->tmp_root, 0755);
    char *argv[] = {"umoci",
                    "raw",
                    "unpack",
                    "--image",
                    src,
                    geteuid() ? "--rootless" : rootfs,
                    geteuid() ? rootfs : NULL,
                    NULL};
    r = ctr_cmd_run(m, argv, -1, on_unpacked, im, &im->cmd);
    if (r < 0) {
        snprintf(err, sizeof err, "cannot run umoci (Debian package umoci): %s", strerror(-r));
        return import_end(im, r, err);
    }
}

static void import_next(struct ctr_mgr *m)
{
    struct ctr_import *im = m->imports;
    if (!im || im->cmd || im->img)
        return;
    char dst[PATH_MAX], err[CTR_ERR_MAX];
    snprintf(dst, sizeof dst, "oci:%s:%s", im->m->layout_dir, im->name);
    char *argv[] = {"skopeo", "copy", "-q", im->src, dst, NULL};
    int r = ctr_cmd_run(im->m, argv, -1, on_copied, im, &im->cmd);
    if (r < 0) {
        snprintf(err, sizeof err, "cannot run skopeo (Debian package skopeo): %s", strerror(-r));
        import_end(im, r, err);
    }
}

/* Reads one member of an uncompressed tar (oci-archive and docker-archive are): malloc'd. */
static char *tar_member(const char *file, const char *want)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    unsigned char h[512];
    char *out = NULL;

    while (fd >= 0 && read(fd, h, sizeof h) == (ssize_t)sizeof h && h[0]) {
        char name[320];
        snprintf(name, sizeof name, "%.155s%s%.100s", (char *)h + 345, h[345] ? "/" : "",
                 (char *)h);
        unsigned long long size = strtoull((char *)h + 124, NULL, 8);
        const char *n = strncmp(name, "./", 2) == 0 ? name + 2 : name;
        if (strcmp(n, want) == 0 && size < (1u << 20)) {
            out = calloc(1, size + 1);
            if (out && read(fd, out, size) != (ssize_t)size) {
                free(out);
                out = NULL;
            }
            break;
        }
        if (lseek(fd, (off_t)((size + 511) / 512 * 512), SEEK_CUR) < 0)
            break;
    }
    if (fd >= 0)
        close(fd);
    return out;
}

/* The name a source gives its image (the ref of its only manifest, a docker-archive's first
 * tag), or NULL. */
static char *source_name(const char *transport, const char *path, const char *ref)
{
    json_t *j = NULL;
    char *name = NULL;
    if (ref && *ref)
        return strdup(ref);
    if (strcmp(transport, "docker-archive") == 0) {
        char *t = tar_member(path, "manifest.json");
        j = t ? json_loads(t, 0, NULL) : NULL;
        free(t);
        name = dup_json(json_array_get(json_object_get(json_array_get(j, 0), "RepoTags"), 0));
    } else {
        char p[PATH_MAX + 16], *t = NULL;
        snprintf(p, sizeof p, "%s/index.json", path);
        if (strcmp(transport, "oci-archive") == 0)
            t = tar_member(path, "index.json");
        j = t ? json_loads(t, 0, NULL) : json_load_file(p, 0, NULL);
        free(t);
        json_t *ms = json_object_get(j, "manifests");
        if (json_array_size(ms) == 1)
            name = dup_json(json_object_get(json_object_get(json_array_get(ms, 0), "annotations"),
                                            REF_ANNOTATION));
    }
    json_decref(j);
    return name;
}

int ctr_image_import(struct ctr_mgr *m, const char *src, const char *name, struct ctr_wait *w,
                     char **ret_name, char *err, size_t err_size)
{
    static const char *const transports[] = {"oci-archive", "docker-archive", "oci"};
    const char *transport = NULL;
    char path[PATH_MAX], ref[512] = "";
    struct stat st;

    if (m->stopping)
        return errmsg_fail(err, err_size, -ESHUTDOWN, "droverd is stopping");
    if (!src || !*src)
        return errmsg_fail(err, err_size, -EINVAL, "no source to import from");
    for (size_t i = 0; i < ARRAY_SIZE(transports) && !transport; i++)
        if (strncmp(src, transports[i], strlen(transports[i])) == 0 &&
            src[strlen(transports[i])] == ':') {
            transport = transports[i];
            src += strlen(transports[i]) + 1;
        }
    snprintf(path, sizeof path, "%s", src);
    if (path[0] != '/')
        return errmsg_fail(err, err_size, -EINVAL, "'%s' is not an absolute path", src);
    if (stat(path, &st) < 0) { /* DIR:REF or FILE:REF */
        char *colon = strrchr(path, ':');
        if (colon && colon > strrchr(path, '/')) {
            snprintf(ref, sizeof ref, "%s", colon + 1);
            *colon = '\0';
        }
        if (stat(path, &st) < 0)
            return errmsg_fail(err, err_size, -ENOENT, "'%s' does not exist", path);
    }
    if (!transport) {
        char *t = S_ISDIR(st.st_mode) ? NULL : tar_member(path, "oci-layout");
        transport = S_ISDIR(st.st_mode) ? "oci" : t ? "oci-archive" : "docker-archive";
        free(t);
        if (!S_ISDIR(st.st_mode) && strcmp(transport, "docker-archive") == 0) {
            char *mf = tar_member(path, "manifest.json");
            if (!mf)
                return errmsg_fail(err, err_size, -EINVAL,
                                   "'%s' is neither an OCI layout nor "
                                   "an oci-archive or docker-archive tar file",
                                   path);
            free(mf);
        }
    }
    char *own = source_name(transport, path, ref);
    char *final = name && *name ? normalize_name(name) : own ? normalize_name(own) : NULL;
    free(own);
    if (!final)
        return errmsg_fail(err, err_size, -EINVAL,
                           name && *name ? "'%s' is not an image name"
                                         : "'%s' names no single image: "
                                           "give it a name",
                           name && *name ? name : src);
    struct ctr_import *im = calloc(1, sizeof *im);
    if (!im || asprintf(&im->src, "%s:%s%s%s", transport, path, *ref ? ":" : "", ref) < 0) {
        free(im);
        free(final);
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    im->m = m;
    im->name = final;
    ctr_wait_push(&im->waits, w);
    struct ctr_import **pp = &m->imports;
    while (*pp)
        pp = &(*pp)->next;
    *pp = im;
    *ret_name = strdup(final);
    import_next(m);
    return 0;
}

/* ---- removal and collection ---- */

/* Rewrites index.json without the manifests named name. */
static int index_drop(struct ctr_mgr *m, const char *name)
{
    json_t *index = read_index(m), *keep = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(index, "manifests"), i, v)
    {
        const char *ref =
            json_string_value(json_object_get(json_object_get(v, "annotations"), REF_ANNOTATION));
        if (!ref || strcmp(ref, name) != 0)
            json_array_append(keep, v);
    }
    int r = -EIO;
    if (index) {
        char p[PATH_MAX], tmp[PATH_MAX + 8];
        json_object_set_new(index, "manifests", keep);
        keep = NULL;
        snprintf(p, sizeof p, "%s/index.json", m->layout_dir);
        snprintf(tmp, sizeof tmp, "%s.tmp", p);
        r = json_dump_file(index, tmp, JSON_COMPACT) == 0 && rename(tmp, p) == 0 ? 0 : -errno;
    }
    json_decref(keep);
    json_decref(index);
    return r;
}

int ctr_image_remove(struct ctr_mgr *m, struct ctr_image *img, bool force, char *err,
                     size_t err_size)
{
    if (m->imports)
        return errmsg_fail(err, err_size, -EAGAIN,
                           "an import is running; try again when it "
                           "has finished");
    if (img->users && !force)
        return errmsg_fail(err, err_size, -EBUSY,
                           "%u containers use the image '%s' (remove "
                           "them first, or force)",
                           img->users, img->name);
    int r = index_drop(m, img->name);
    if (r < 0)
        return errmsg_fail(err, err_size, r, "cannot rewrite the image index: %s", strerror(-r));
    (void)ctr_db_delete(m, "image", img->name);
    struct ctr_image **pp = &m->images;
    while (*pp != img)
        pp = &(*pp)->next;
    *pp = img->next;
    log_info("image %s removed", img->name);
    ctr_image_free(img);
    (void)ctr_image_prune(m);
    return 0;
}

static void mark_digest(json_t *set, const char *d)
{
    const char *colon = d ? strchr(d, ':') : NULL;
    if (colon)
        json_object_set_new(set, colon + 1, json_true());
}

int64_t ctr_image_prune(struct ctr_mgr *m)
{
    json_t *used = json_object(), *index = read_index(m);
    size_t i, k;
    json_t *v, *l;
    int64_t freed = 0;
    char p[PATH_MAX];

    if (m->imports)
        return 0;
    json_array_foreach(json_object_get(index, "manifests"), i, v)
    {
        const char *d = json_string_value(json_object_get(v, "digest"));
        json_t *mf = read_blob(m, d);
        mark_digest(used, d);
        mark_digest(used,
                    json_string_value(json_object_get(json_object_get(mf, "config"), "digest")));
        json_array_foreach(json_object_get(mf, "layers"), k, l)
            mark_digest(used, json_string_value(json_object_get(l, "digest")));
        json_decref(mf);
    }
    json_decref(index);
    snprintf(p, sizeof p, "%s/blobs/sha256", m->layout_dir);
    DIR *d = opendir(p);
    for (struct dirent *de; d && (de = readdir(d));) {
        char f[PATH_MAX + 256];
        struct stat st;
        if (de->d_name[0] == '.' || json_object_get(used, de->d_name))
            continue;
        snprintf(f, sizeof f, "%s/%s", p, de->d_name);
        if (stat(f, &st) == 0 && unlink(f) == 0)
            freed += st.st_size;
    }
    if (d)
        closedir(d);
    json_decref(used);
    /* Unpacked roots no image and no container uses. */
    d = opendir(m->roots_dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        bool busy = de->d_name[0] == '.';
        for (struct ctr_image *img = m->images; img && !busy; img = img->next)
            busy = img->chain && strcmp(img->chain, de->d_name) == 0;
        for (struct container *c = m->containers; c && !busy; c = c->next)
            busy = c->lower && strstr(c->lower, de->d_name);
        if (busy)
            continue;
        char f[PATH_MAX];
        snprintf(f, sizeof f, "%s/%s", m->roots_dir, de->d_name);
        freed += (int64_t)du(f);
        (void)ctr_rm_rf(f);
    }
    if (d)
        closedir(d);
    return freed;
}

void ctr_imports_free(struct ctr_mgr *m)
{
    while (m->imports) {
        struct ctr_import *im = m->imports;
        m->imports = im->next;
        ctr_cmd_cancel(im->cmd);
        ctr_wait_finish(&im->waits, -ESHUTDOWN, "droverd is stopping");
        if (im->tmp_root)
            (void)ctr_rm_rf(im->tmp_root);
        free(im->tmp_root);
        ctr_image_free(im->img);
        free(im->src);
        free(im->name);
        free(im);
    }
}
