/* Access control settings → objects (see access.h). The checks themselves live in api/authz.c
 * (who may call what) and auth/ (is this credential valid); this file only reads files and
 * names, once at start and again on SIGHUP. */
#include "daemon/access.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/authz.h"
#include "auth/auth.h"
#include "base/log.h"
#include "base/macro.h"
#include "net/net.h"

static int group_id(const char *name, gid_t *ret)
{
    char buf[4096];
    struct group g, *res = NULL;

    if (!name) {
        *ret = (gid_t)-1;
        return 0;
    }
    int r = getgrnam_r(name, &g, buf, sizeof buf, &res);
    if (r != 0 || !res)
        return log_error_errno(r ? -r : -ENOENT, "socket_read_group: no group '%s'", name);
    *ret = g.gr_gid;
    return 0;
}

static int auth_from(const struct config *c, struct auth **ret)
{
    char err[512] = "";
    int r = auth_new(&c->auth, ret, err, sizeof err);
    if (r < 0)
        return log_error_errno(r, "%s", err[0] ? err : "cannot load the credentials");
    return 0;
}

int access_authz_new(const struct config *c, struct authz **ret)
{
    struct authz_opts o = {
        .own_uid = geteuid(),
        .tcp_anonymous = c->grpc_tcp_anonymous,
        .http_anonymous = c->http_auth ? 0 : c->grpc_tcp_anonymous,
        .cert_scopes = c->grpc_tls_client_scopes,
        .audit_file = c->audit_file,
    };
    struct auth *auth = NULL;
    char err[512] = "";
    int r;

    o.baaaht_bearer = c->baaaht_auth && !strcmp(c->baaaht_auth, "bearer");
    if (c->baaaht_auth && strcmp(c->baaaht_auth, "peer") && !o.baaaht_bearer)
        return log_error_errno(-EINVAL, "baaaht_auth: 'peer' or 'bearer', not '%s'",
                               c->baaaht_auth);
    if ((r = group_id(c->socket_read_group, &o.read_group)) < 0 ||
        (r = group_id(c->baaaht_socket_group, &o.baaaht_group)) < 0 ||
        (r = auth_from(c, &auth)) < 0)
        return r;
    r = authz_new(&o, auth, ret, err, sizeof err);
    if (r < 0) {
        auth_free(auth);
        return log_error_errno(r, "%s", err[0] ? err : "cannot set up access control");
    }
    return 0;
}

int access_authz_reload(struct authz *z, const struct config *c)
{
    struct auth *auth;
    int r = auth_from(c, &auth);
    if (r < 0)
        return r;
    authz_set_auth(z, auth);
    return 0;
}

int access_tls_new(const char *key, const char *cert, const char *key_path, bool generate,
                   const char *extra_sans, const char *alpn, const char *client_ca,
                   struct net_tls **ret)
{
    char host[256] = "localhost", err[512], extra[1024];
    const char *sans[64];
    size_t n = 0;

    if (gethostname(host, sizeof host - 1) < 0)
        snprintf(host, sizeof host, "localhost");
    sans[n++] = host;
    sans[n++] = "localhost";
    sans[n++] = "127.0.0.1";
    sans[n++] = "::1";
    snprintf(extra, sizeof extra, "%s", extra_sans ? extra_sans : "");
    for (char *save, *tok = strtok_r(extra, ", ", &save); tok && n < ARRAY_SIZE(sans);
         tok = strtok_r(NULL, ", ", &save))
        sans[n++] = tok;
    struct net_tls_opts o = {
        .cert_path = cert,
        .key_path = key_path,
        .generate = generate,
        .sans = sans,
        .n_sans = n,
        .alpn = alpn,
        .client_ca = client_ca,
    };
    int r = net_tls_new(&o, ret, err, sizeof err);
    if (r < 0)
        return log_error_errno(r, "%s: %s", key, err);
    log_info("%s: certificate '%s'%s%s", key, cert, client_ca ? ", client CA " : "",
             client_ca ? client_ca : "");
    return 0;
}

int access_share_socket(const struct config *c)
{
    gid_t gid;
    struct stat st;
    int r = group_id(c->socket_read_group, &gid);

    if (r < 0 || gid == (gid_t)-1)
        return r;
    _cleanup_free_ char *dir = strdup(c->socket_path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (!slash)
        return -ENOMEM;
    *slash = '\0';
    if (chown(c->socket_path, (uid_t)-1, gid) < 0 || chmod(c->socket_path, 0660) < 0)
        return log_error_errno(-errno, "socket_read_group: cannot give '%s' to group '%s'",
                               c->socket_path, c->socket_read_group);
    if (*dir && stat(dir, &st) == 0 && st.st_uid == geteuid() &&
        (chown(dir, (uid_t)-1, gid) < 0 || chmod(dir, 0750) < 0))
        return log_error_errno(-errno, "socket_read_group: cannot open '%s' to group '%s'", dir,
                               c->socket_read_group);
    log_notice("group '%s' may make read calls on '%s'", c->socket_read_group, c->socket_path);
    return 0;
}
