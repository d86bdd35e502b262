/* What the HTTP door's face shares between its files: the Connect protocol (connect.c) beside
 * the routes (routes.c). */
#pragma once

#include <stdbool.h>

#include "api/web/web.h"

struct grpc_server;
struct http_request;
struct pbjson_types;

/* The core the face answers from. */
struct api_host *connect_host(struct api_web *w);
/* The message types Any may hold, for the JSON codec (found once, at the first call). */
const struct pbjson_types *connect_types(struct api_web *w);

/* Whether a path names a method: /<package>.<Service>/<Method>. */
bool connect_path(const char *path);
/* Answers a Connect call (any method; refusals too). */
void connect_handle(struct api_web *w, struct http_request *req);

/* Whether given (a bearer token, or NULL) has scope on the HTTP door; if not, the refusal is
 * answered (401, or 403 for a token without it) and audited (routes.c). */
bool web_bearer_allows(struct api_host *host, struct http_request *req, const char *given,
                       unsigned scope);

/* GET /attach?session=ID: a PTY session over a WebSocket (attach.c). */
void attach_handle(struct api_host *host, struct http_request *req);

/* The web console's files (console.c). */
struct console;
struct console *console_new(void);
void console_free(struct console *c);
/* Whether path is one of the console's (or /, which says when it was not built). */
bool console_has(const char *path);
void console_serve(struct console *c, struct http_request *req);

/* Every message type the server's services use, by full name. */
struct connect_types;
struct connect_types *connect_types_new(struct grpc_server *s);
void connect_types_free(struct connect_types *t);
const struct pbjson_types *connect_types_of(const struct connect_types *t);
