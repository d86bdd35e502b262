/* gRPC server reflection, v1 and v1alpha (wire-identical, so one handler serves both names).
 *
 * The server's owner hands over a FileDescriptorSet of every .proto it serves, imports included
 * (droverd's is embedded at build time). On the first reflection call the set is split into its
 * files (kept as the exact serialized bytes that go back to clients) and each file is unpacked once
 * to know its name, dependencies and the symbols it declares. An idle daemon never pays for this.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/grpc.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"

struct proto_file {
    ProtobufCBinaryData bytes;                 /* serialized FileDescriptorProto, as sent */
    Google__Protobuf__FileDescriptorProto *fd; /* the same, unpacked */
};

struct reflection {
    struct grpc_server *srv;  /* for the list of services */
    const uint8_t *set;       /* the serialized FileDescriptorSet */
    size_t set_len;           /* its length */
    struct proto_file *files; /* every file of the set, NULL until first use */
    size_t n_files;           /* entries in files */
    size_t cap_files;         /* room in files */
};

/* Reads a protobuf varint; 0 on malformed input (the embedded set is ours, but still). */
static size_t varint(const uint8_t *p, size_t n, uint64_t *ret)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *ret = v;
            return i + 1;
        }
    }
    return 0;
}

static void unload(struct reflection *rf)
{
    for (size_t i = 0; i < rf->n_files; i++)
        google__protobuf__file_descriptor_proto__free_unpacked(rf->files[i].fd, NULL);
    free(rf->files);
    rf->files = NULL;
    rf->n_files = 0;
    rf->cap_files = 0;
}

static int load_set(struct reflection *rf)
{
    const uint8_t *p = rf->set, *end = p + rf->set_len;

    while (p < end) {
        uint64_t tag, len;
        size_t k = varint(p, (size_t)(end - p), &tag);
        if (!k || tag != (1 << 3 | 2))
            return -EBADMSG; /* FileDescriptorSet holds only `repeated FileDescriptorProto file = 1`
                              */
        p += k;
        k = varint(p, (size_t)(end - p), &len);
        if (!k || len > (uint64_t)(end - p - (ptrdiff_t)k))
            return -EBADMSG;
        p += k;
        if (VEC_RESERVE(rf->files, rf->cap_files, rf->n_files + 1) < 0)
            return -ENOMEM;
        struct proto_file *f = &rf->files[rf->n_files];
        f->bytes = (ProtobufCBinaryData){(size_t)len, (uint8_t *)p};
        f->fd = google__protobuf__file_descriptor_proto__unpack(NULL, (size_t)len, p);
        if (!f->fd)
            return -EBADMSG;
        rf->n_files++;
        p += len;
    }
    return 0;
}

/* Indexes the set on first use; all or nothing. */
static int load(struct reflection *rf)
{
    if (rf->files)
        return 0;
    int r = load_set(rf);
    if (r < 0)
        unload(rf);
    return r;
}

static const struct proto_file *file_by_name(const struct reflection *rf, const char *name)
{
    for (size_t i = 0; i < rf->n_files; i++)
        if (!strcmp(rf->files[i].fd->name, name))
            return &rf->files[i];
    return NULL;
}

/* Does "prefix.name" equal sym? */
static bool qualified_is(const char *prefix, const char *name, const char *sym)
{
    size_t n = strlen(prefix);
    if (n == 0)
        return !strcmp(name, sym);
    return !strncmp(sym, prefix, n) && sym[n] == '.' && !strcmp(sym + n + 1, name);
}

static bool message_declares(const Google__Protobuf__DescriptorProto *m, const char *scope,
                             const char *sym);

/* Does scope declare sym among these messages (or inside one of them) and enums? Files and
 * messages both hold the two kinds. */
static bool scope_declares(const char *scope, Google__Protobuf__DescriptorProto *const *msgs,
                           size_t n_msgs, Google__Protobuf__EnumDescriptorProto *const *enums,
                           size_t n_enums, const char *sym)
{
    for (size_t i = 0; i < n_msgs; i++)
        if (message_declares(msgs[i], scope, sym))
            return true;
    for (size_t i = 0; i < n_enums; i++)
        if (qualified_is(scope, enums[i]->name, sym))
            return true;
    return false;
}

static bool message_declares(const Google__Protobuf__DescriptorProto *m, const char *scope,
                             const char *sym)
{
    char inner[512];
    size_t n;

    if (qualified_is(scope, m->name, sym))
        return true;
    n = (size_t)snprintf(inner, sizeof inner, "%s%s%s", scope, *scope ? "." : "", m->name);
    /* Only a symbol under this message's name can be declared inside it. */
    if (n >= sizeof inner || strncmp(sym, inner, n) != 0 || sym[n] != '.')
        return false;
    if (scope_declares(inner, m->nested_type, m->n_nested_type, m->enum_type, m->n_enum_type, sym))
        return true;
    for (size_t i = 0; i < m->n_field; i++)
        if (qualified_is(inner, m->field[i]->name, sym))
            return true;
    return false;
}

static bool file_declares(const Google__Protobuf__FileDescriptorProto *fd, const char *sym)
{
    const char *pkg = fd->package ? fd->package : "";

    if (scope_declares(pkg, fd->message_type, fd->n_message_type, fd->enum_type, fd->n_enum_type,
                       sym))
        return true;
    for (size_t i = 0; i < fd->n_service; i++) {
        const Google__Protobuf__ServiceDescriptorProto *svc = fd->service[i];
        if (qualified_is(pkg, svc->name, sym))
            return true;
        for (size_t j = 0; j < svc->n_method; j++) {
            char full[512];
            snprintf(full, sizeof full, "%s%s%s", pkg, *pkg ? "." : "", svc->name);
            if (qualified_is(full, svc->method[j]->name, sym))
                return true;
        }
    }
    return false;
}

/* Appends f and, depth first, the files it imports, each once. */
static int collect(const struct reflection *rf, const struct proto_file *f,
                   const struct proto_file **out, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i] == f)
            return 0;
    if (*n >= rf->n_files)
        return -EINVAL;
    out[(*n)++] = f;
    for (size_t i = 0; i < f->fd->n_dependency; i++) {
        const struct proto_file *dep = file_by_name(rf, f->fd->dependency[i]);
        if (dep)
            collect(rf, dep, out, n);
    }
    return 0;
}

typedef Grpc__Reflection__V1alpha__ServerReflectionRequest Request;
typedef Grpc__Reflection__V1alpha__ServerReflectionResponse Response;

static void answer_files(const struct reflection *rf, const struct proto_file *f, Response *resp,
                         Grpc__Reflection__V1alpha__FileDescriptorResponse *fdr,
                         ProtobufCBinaryData *blobs, const struct proto_file **tmp)
{
    size_t n = 0;

    collect(rf, f, tmp, &n);
    for (size_t i = 0; i < n; i++)
        blobs[i] = tmp[i]->bytes;
    fdr->n_file_descriptor_proto = n;
    fdr->file_descriptor_proto = blobs;
    resp->message_response_case =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = fdr;
}

static const struct proto_file *file_for_symbol(const struct reflection *rf, const char *sym)
{
    if (sym[0] == '.')
        sym++;
    for (size_t i = 0; i < rf->n_files; i++)
        if (file_declares(rf->files[i].fd, sym))
            return &rf->files[i];
    return NULL;
}

static void on_request(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct reflection *rf = grpc_call_service_data(call);
    const Request *req = (const Request *)msg;
    Response resp = GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__FileDescriptorResponse fdr =
        GRPC__REFLECTION__V1ALPHA__FILE_DESCRIPTOR_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__ListServiceResponse lsr =
        GRPC__REFLECTION__V1ALPHA__LIST_SERVICE_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__ExtensionNumberResponse enr =
        GRPC__REFLECTION__V1ALPHA__EXTENSION_NUMBER_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__ErrorResponse err = GRPC__REFLECTION__V1ALPHA__ERROR_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__ServiceResponse svcs[32], *svcp[32];
    ProtobufCBinaryData *blobs = NULL;
    const struct proto_file **tmp = NULL;
    const struct proto_file *f = NULL;
    char errmsg[600];
    int r;

    r = load(rf);
    if (r < 0)
        return grpc_call_finish(call, r == -ENOMEM ? GRPC_RESOURCE_EXHAUSTED : GRPC_INTERNAL,
                                "the embedded descriptor set is unreadable: %s", strerror(-r));
    blobs = calloc(rf->n_files, sizeof *blobs);
    tmp = calloc(rf->n_files, sizeof *tmp);
    if (!blobs || !tmp) {
        free(blobs);
        free(tmp);
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }

    resp.valid_host = req->host;
    resp.original_request = (Request *)req;
    errmsg[0] = '\0';
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        f = file_by_name(rf, req->file_by_filename);
        if (!f)
            snprintf(errmsg, sizeof errmsg, "unknown file '%s'", req->file_by_filename);
        break;
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        f = file_for_symbol(rf, req->file_containing_symbol);
        if (!f)
            snprintf(errmsg, sizeof errmsg, "unknown symbol '%s'", req->file_containing_symbol);
        break;
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        /* None of our files declares an extension. */
        snprintf(errmsg, sizeof errmsg, "no extension %d of '%s'",
                 req->file_containing_extension->extension_number,
                 req->file_containing_extension->containing_type);
        break;
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        if (!file_for_symbol(rf, req->all_extension_numbers_of_type)) {
            snprintf(errmsg, sizeof errmsg, "unknown type '%s'",
                     req->all_extension_numbers_of_type);
            break;
        }
        enr.base_type_name = req->all_extension_numbers_of_type;
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
        resp.all_extension_numbers_response = &enr;
        break;
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES: {
        const char *name;
        for (size_t i = 0; i < ARRAY_SIZE(svcs) && (name = grpc_server_service_name(rf->srv, i));
             i++) {
            svcs[i] = (Grpc__Reflection__V1alpha__ServiceResponse)
                GRPC__REFLECTION__V1ALPHA__SERVICE_RESPONSE__INIT;
            svcs[i].name = (char *)name;
            svcp[i] = &svcs[i];
            lsr.n_service = i + 1;
        }
        lsr.service = svcp;
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
        resp.list_services_response = &lsr;
        break;
    }
    default:
        err.error_code = GRPC_INVALID_ARGUMENT;
        err.error_message = "the request names no question";
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp.error_response = &err;
        break;
    }
    if (f)
        answer_files(rf, f, &resp, &fdr, blobs, tmp);
    else if (errmsg[0]) {
        err.error_code = GRPC_NOT_FOUND;
        err.error_message = errmsg;
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp.error_response = &err;
    }

    r = grpc_call_send(call, &resp.base);
    if (r == -ENOBUFS)
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED,
                         "too many reflection requests without reading the answers");
    else if (r < 0 && r != -EPIPE)
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "could not queue the answer: %s",
                         strerror(-r));
    free(blobs);
    free(tmp);
}

static void on_half_close(struct grpc_call *call)
{
    grpc_call_finish(call, GRPC_OK, NULL);
}

static const struct grpc_method methods[] = {
    {"ServerReflectionInfo", GRPC_BIDI,
     &grpc__reflection__v1alpha__server_reflection_request__descriptor, on_request,
     .on_half_close = on_half_close},
};

static const struct grpc_service service_v1 = {"grpc.reflection.v1.ServerReflection", methods,
                                               ARRAY_SIZE(methods)};
static const struct grpc_service service_v1alpha = {"grpc.reflection.v1alpha.ServerReflection",
                                                    methods, ARRAY_SIZE(methods)};

struct reflection *grpc_reflection_new(struct grpc_server *s, const uint8_t *set, size_t len)
{
    struct reflection *rf = calloc(1, sizeof *rf);

    if (rf) {
        rf->srv = s;
        rf->set = set;
        rf->set_len = len;
    }
    return rf;
}

int grpc_reflection_register(struct grpc_server *s, struct reflection *rf)
{
    int r = grpc_server_add_service(s, &service_v1, rf);
    return r < 0 ? r : grpc_server_add_service(s, &service_v1alpha, rf);
}

void grpc_reflection_free(struct reflection *rf)
{
    if (!rf)
        return;
    unload(rf);
    free(rf);
}
