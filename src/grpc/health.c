/* grpc.health.v1.Health: Check and Watch, as the gRPC health checking protocol specifies.
 * Check of an unknown service is NOT_FOUND; Watch of one reports SERVICE_UNKNOWN and stays open.
 * The server is SERVING until shutdown begins; then watchers see NOT_SERVING and their streams
 * end, so that a graceful shutdown is not held up by streams that never finish by themselves. */
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc-internal.h"
#include "grpc/health/v1/health.pb-c.h"

struct watcher {
    struct grpc_call *call;   /* the Watch stream */
    char *service;            /* the service it watches */
    DLIST_LINK(watcher) link; /* in health's list */
};

struct alias {
    char *name, *service; /* a short name health answers for, and the service it stands for */
};

struct health {
    struct grpc_server *srv;  /* registered services are the known ones */
    struct watcher *watchers; /* open Watch streams */
    bool serving;             /* false once shutdown began */
    struct alias *aliases;    /* grpc_health_alias */
    size_t n_aliases;
};

int grpc_health_alias(struct health *h, const char *name, const char *service)
{
    struct alias *v = realloc(h->aliases, (h->n_aliases + 1) * sizeof *v);
    if (!v)
        return -1;
    h->aliases = v;
    v[h->n_aliases] = (struct alias){strdup(name), strdup(service)};
    if (!v[h->n_aliases].name || !v[h->n_aliases].service) {
        free(v[h->n_aliases].name);
        free(v[h->n_aliases].service);
        return -1;
    }
    h->n_aliases++;
    return 0;
}

/* The service a name stands for: itself, or what an alias says. */
static const char *resolve(const struct health *h, const char *name)
{
    for (size_t i = 0; i < h->n_aliases; i++)
        if (strcmp(h->aliases[i].name, name) == 0)
            return h->aliases[i].service;
    return name;
}

static Grpc__Health__V1__HealthCheckResponse__ServingStatus status_of(const struct health *h,
                                                                      const char *service)
{
    if (service[0] && !grpc_server_has_service(h->srv, resolve(h, service)))
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return h->serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static int send_status(struct grpc_call *call,
                       Grpc__Health__V1__HealthCheckResponse__ServingStatus st)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

    resp.status = st;
    return grpc_call_send(call, &resp.base);
}

static void check(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    struct health *h = grpc_call_service_data(call);
    Grpc__Health__V1__HealthCheckResponse__ServingStatus st = status_of(h, req->service);

    if (st == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN)
        return grpc_call_finish(call, GRPC_NOT_FOUND, "unknown service '%s'", req->service);
    if (send_status(call, st) < 0)
        return grpc_call_finish(call, GRPC_INTERNAL, "could not queue the response");
    grpc_call_finish(call, GRPC_OK, NULL);
}

static void watch(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    struct health *h = grpc_call_service_data(call);
    struct watcher *w = calloc(1, sizeof *w);

    if (!w || !(w->service = strdup(req->service))) {
        free(w);
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    w->call = call;
    DLIST_PREPEND(&h->watchers, w, link);
    grpc_call_set_data(call, w);
    send_status(call, status_of(h, req->service));
    if (!h->serving)
        grpc_call_finish(call, GRPC_UNAVAILABLE, "droverd is shutting down");
}

static void watch_close(struct grpc_call *call)
{
    struct watcher *w = grpc_call_get_data(call);

    if (!w)
        return;
    DLIST_REMOVE(w, link);
    free(w->service);
    free(w);
}

static const struct grpc_method methods[] = {
    {"Check", GRPC_UNARY, &grpc__health__v1__health_check_request__descriptor, check},
    {"Watch", GRPC_SERVER_STREAM, &grpc__health__v1__health_check_request__descriptor, watch,
     .on_close = watch_close},
};

static const struct grpc_service service = {"grpc.health.v1.Health", methods, ARRAY_SIZE(methods),
                                            &grpc__health__v1__health__descriptor};

struct health *grpc_health_new(struct grpc_server *s)
{
    struct health *h = calloc(1, sizeof *h);

    if (!h)
        return NULL;
    h->srv = s;
    h->serving = true;
    return h;
}

int grpc_health_register(struct grpc_server *s, struct health *h)
{
    return grpc_server_add_service(s, &service, h);
}

void grpc_health_shutdown(struct health *h)
{
    if (!h || !h->serving)
        return;
    h->serving = false;
    /* Finishing a call does not close it at once (on_close comes later), so the list is stable
     * while we walk it. */
    for (struct watcher *w = h->watchers; w; w = w->link.next) {
        send_status(w->call, status_of(h, w->service));
        grpc_call_finish(w->call, GRPC_UNAVAILABLE, "droverd is shutting down");
    }
}

void grpc_health_free(struct health *h)
{
    for (size_t i = 0; h && i < h->n_aliases; i++) {
        free(h->aliases[i].name);
        free(h->aliases[i].service);
    }
    if (h)
        free(h->aliases);
    free(h);
}
