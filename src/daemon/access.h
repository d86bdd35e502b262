/* The daemon's side of access control: turning configuration into the objects the doors use
 * (credential sources, the policy, TLS contexts) and giving the unix socket to a read group.
 * Every function logs what went wrong, naming the setting, and returns -errno. */
#pragma once

#include <stdbool.h>

#include "daemon/config.h"

struct authz;
struct net_tls;

/* The policy for every door, from the auth settings (tokens file, JWT keys, scopes). */
int access_authz_new(const struct config *c, struct authz **ret);
/* Re-reads the tokens file and the JWT keys into z (SIGHUP); z is unchanged on error. */
int access_authz_reload(struct authz *z, const struct config *c);
/* A TLS server context for a door: the certificate and key (made once, self-signed for this
 * host's name, localhost and the loopback addresses plus extra_sans, when generate is set),
 * ALPN protocols, and a client CA for mTLS (or NULL). key names the setting in errors. */
int access_tls_new(const char *key, const char *cert, const char *key_path, bool generate,
                   const char *extra_sans, const char *alpn, const char *client_ca,
                   struct net_tls **ret);
/* Hands the socket and its directory to socket_read_group (socket 0660, directory 0750), when
 * one is configured; the directory only if it is ours. */
int access_share_socket(const struct config *c);
