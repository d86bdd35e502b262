/* drover project create, ls, get, update, rm over stratavore.v1's ProjectService; and helpers
 * of the Stratavore commands (cmd-runners.c): subcommands, messages as JSON or text by their
 * descriptors, options into the fields they name. An update sends an update_mask of exactly the
 * fields its options name; droverd replaces such a field whole, so an option that changes one
 * limit (quota) or launch setting (config) reads the project first and sends its quota or
 * config with that one value changed. --env, --meta and --tag give the whole new set. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/macro.h"
#include "cli/cli.h"
#include "stratavore/v1/stratavore.pb-c.h"

#define PROJECTS "/stratavore.v1.ProjectService/"

/* ---- groups of subcommands ---- */

static void group_help(FILE *f, const struct cli_command *self, const struct cli_command *subs,
                       size_t n)
{
    fprintf(f, "Usage: drover %s COMMAND [ARGS]...\n%s\n\nCommands:\n", self->name, self->summary);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %s %s\n      %s\n", strchr(subs[i].name, ' ') + 1, subs[i].args,
                subs[i].summary);
    fprintf(f, "\n`drover %s COMMAND --help` shows a command's options; each takes --json.\n",
            self->name);
}

int cli_subcommand(struct cli *cli, const struct cli_command *self, const struct cli_command *subs,
                   size_t n_subs, int argc, char **argv)
{
    int i = 1;

    for (; i < argc && !strcmp(argv[i], "--json"); i++)
        cli->json = true;
    if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
        group_help(stdout, self, subs, n_subs);
        return 0;
    }
    if (i >= argc) {
        group_help(stderr, self, subs, n_subs);
        return EXIT_USAGE;
    }
    for (size_t k = 0; k < n_subs; k++)
        if (!strcmp(argv[i], strchr(subs[k].name, ' ') + 1))
            return subs[k].run(cli, &subs[k], argc - i, argv + i);
    cli_error("%s: unknown command '%s' (see drover %s --help)", self->name, argv[i], self->name);
    return EXIT_USAGE;
}

/* ---- messages as JSON, and as text ---- */

/* The layout of every map<string, string> entry. */
struct cli_kv {
    ProtobufCMessage base;
    char *key;
    char *value;
};

/* How to read a value of each field type ('i' signed, 'u' unsigned, 'f' floating, 'b' bool,
 * 'e' enum, 's' string, 'y' bytes, 'm' message), and its size as an array's element. */
#define KIND(t) ("iiiiiiuuuuffbesym"[t])
static const unsigned char sizes[] = {4,
                                      4,
                                      4,
                                      8,
                                      8,
                                      8,
                                      4,
                                      4,
                                      8,
                                      8,
                                      4,
                                      8,
                                      sizeof(protobuf_c_boolean),
                                      sizeof(int),
                                      sizeof(char *),
                                      sizeof(ProtobufCBinaryData),
                                      sizeof(void *)};

/* The payload types of RunnerEvent, to unpack an Any. */
static const ProtobufCMessageDescriptor *const any_types[] = {
    &stratavore__v1__runner_started_payload__descriptor,
    &stratavore__v1__runner_exit_payload__descriptor,
    &stratavore__v1__quota_exceeded_payload__descriptor,
    &stratavore__v1__resource_usage__descriptor,
    &stratavore__v1__runner__descriptor,
    &stratavore__v1__session__descriptor,
    &stratavore__v1__project__descriptor,
    &stratavore__v1__reconcile_response__descriptor,
};

static json_t *pb_json(const ProtobufCMessage *m, bool words);

static json_t *text_json(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("(not UTF-8)");
}

static json_t *bytes_json(const ProtobufCBinaryData *b)
{
    _cleanup_free_ char *s = malloc(base64_encoded_len(b->len) + 1);
    if (s)
        base64_encode(b->data, b->len, s);
    return s ? json_string(s) : NULL;
}

static json_t *any_json(const Google__Protobuf__Any *any, bool words)
{
    const char *name = strrchr(any->type_url, '/') ? strrchr(any->type_url, '/') + 1 : "";
    json_t *o = json_pack("{s:s}", "@type", any->type_url), *j = NULL;

    for (size_t i = 0; o && i < ARRAY_SIZE(any_types); i++) {
        ProtobufCMessage *m =
            strcmp(any_types[i]->name, name)
                ? NULL
                : protobuf_c_message_unpack(any_types[i], NULL, any->value.len, any->value.data);
        if (m) {
            j = pb_json(m, words);
            protobuf_c_message_free_unpacked(m, NULL);
        }
    }
    if (j)
        json_object_update(o, j);
    else
        json_object_set_new(o, "value", bytes_json(&any->value));
    json_decref(j);
    return o;
}

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p, bool words)
{
    bool four = sizes[f->type] == 4;
    char w[64];

    switch (KIND(f->type)) {
    case 'i':
        return json_integer(four ? *(const int32_t *)p : *(const int64_t *)p);
    case 'u':
        return json_integer(four ? *(const uint32_t *)p : (json_int_t) * (const uint64_t *)p);
    case 'f': {
        double v = four ? *(const float *)p : *(const double *)p;
        return isfinite(v) ? json_real(v)
                           : json_string(isnan(v) ? "NaN"
                                         : v > 0  ? "Infinity"
                                                  : "-Infinity");
    }
    case 'b':
        return json_boolean(*(const protobuf_c_boolean *)p);
    case 'e': {
        int v = *(const int *)p;
        const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return words ? json_string(cli_enum_word(f->descriptor, v, w, sizeof w))
               : e   ? json_string(e->name)
                     : json_integer(v);
    }
    case 's':
        return text_json(*(char *const *)p);
    case 'y':
        return bytes_json(p);
    default:
        return *(ProtobufCMessage *const *)p ? pb_json(*(ProtobufCMessage *const *)p, words)
                                             : json_null();
    }
}

/* A map<string, string> field is a repeated message of two fields, key and value. */
static bool is_map(const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    return f->type == PROTOBUF_C_TYPE_MESSAGE && d->n_fields == 2 &&
           !strcmp(d->fields[0].name, "key") && d->fields[0].type == PROTOBUF_C_TYPE_STRING &&
           !strcmp(d->fields[1].name, "value") && d->fields[1].type == PROTOBUF_C_TYPE_STRING;
}

/* words: enums as cli_enum_word gives them (for text). */
static json_t *pb_json(const ProtobufCMessage *m, bool words)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    char s[1024];

    if (d == &google__protobuf__timestamp__descriptor)
        return cli_format_ts((const void *)m, s, sizeof s), json_string(s);
    if (d == &google__protobuf__any__descriptor)
        return any_json((const void *)m, words);
    if (d == &google__protobuf__field_mask__descriptor) {
        const Google__Protobuf__FieldMask *fm = (const void *)m;
        s[0] = '\0';
        for (size_t i = 0, k = 0; i < fm->n_paths && k < sizeof s; i++)
            k += (size_t)snprintf(s + k, sizeof s - k, "%s%s", i ? "," : "", fm->paths[i]);
        return json_string(s);
    }
    json_t *o = json_object();
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *member = base + f->offset, *q = base + f->quantifier_offset;
        json_t *v;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            const char *arr = *(char *const *)member;
            bool map = is_map(f);
            v = map ? json_object() : json_array();
            for (size_t k = 0; v && k < *(const size_t *)q; k++) {
                const void *e = arr + k * sizes[f->type];
                const struct cli_kv *kv = *(const struct cli_kv *const *)e;
                if (map)
                    json_object_set_new(v, kv->key, text_json(kv->value));
                else
                    json_array_append_new(v, value_json(f, e, words));
            }
        } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ? *(const uint32_t *)q != f->id
                   : f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset
                       ? !*(const protobuf_c_boolean *)q
                       : f->type == PROTOBUF_C_TYPE_MESSAGE && !*(void *const *)member) {
            continue; /* not set */
        } else {
            v = value_json(f, member, words);
        }
        json_object_set_new(o, f->name, v);
    }
    return o;
}

json_t *cli_pb_json(const ProtobufCMessage *m)
{
    return pb_json(m, false);
}

void cli_print_pb(const ProtobufCMessage *m, bool line)
{
    json_t *j = cli_pb_json(m);
    if (!line) {
        cli_print_json(j);
        return;
    }
    _cleanup_free_ char *s =
        j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    printf("%s\n", s ? s : "null");
    fflush(stdout);
}

/* Indented "key: value" lines of a JSON tree, without what is empty: a list of scalars on one
 * line, a list of objects as key[0]:, key[1]: and so on. */
static void print_tree(const char *key, json_t *v, int depth)
{
    const char *k;
    json_t *x;
    size_t i;
    bool flat = true;
    char item[96];

    if (json_is_object(v)) {
        if (key && json_object_size(v))
            printf("%*s%s:\n", depth * 2, "", key);
        json_object_foreach(v, k, x) print_tree(k, x, depth + !!key);
    } else if (json_is_array(v) && json_array_size(v)) {
        json_array_foreach(v, i, x) flat &= !json_is_object(x) && !json_is_array(x);
        if (flat)
            printf("%*s%s:", depth * 2, "", key);
        json_array_foreach(v, i, x)
            print_tree(flat ? NULL : (snprintf(item, sizeof item, "%s[%zu]", key, i), item), x,
                       flat ? -1 : depth);
        if (flat)
            printf("\n");
    } else if (!json_is_array(v) && !json_is_null(v) &&
               !(json_is_string(v) && !json_string_length(v))) {
        _cleanup_free_ char *s = json_is_string(v)
                                     ? strdup(json_string_value(v))
                                     : json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
        if (depth < 0) /* an item of a flat list */
            printf(" %s", s);
        else
            printf("%*s%s: %s\n", depth * 2, "", key, s);
    }
}

void cli_show_pb(struct cli *cli, const ProtobufCMessage *m)
{
    if (cli->json) {
        cli_print_pb(m, false);
        return;
    }
    json_t *j = pb_json(m, true);
    print_tree(NULL, j, 0);
    json_decref(j);
}

/* ---- fields from options ---- */

/* The length of the enum's prefix: its UNSPECIFIED value's name is PREFIX_UNSPECIFIED. */
static size_t enum_prefix(const ProtobufCEnumDescriptor *d)
{
    const ProtobufCEnumValue *z = protobuf_c_enum_descriptor_get_value(d, 0);
    size_t n = z ? strlen(z->name) : 0;
    return n > 11 && !strcmp(z->name + n - 11, "UNSPECIFIED") ? n - 11 : 0;
}

const char *cli_enum_word(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t n)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    size_t k = 0;

    if (!v || !e)
        return v ? (snprintf(buf, n, "%d", v), buf) : "-";
    for (const char *s = e->name + enum_prefix(d); *s && k + 1 < n; s++)
        buf[k++] = *s == '_' ? '-' : (char)tolower((unsigned char)*s);
    buf[k] = '\0';
    return buf;
}

static int enum_option(const char *cmd, const char *opt, const ProtobufCEnumDescriptor *d,
                       const char *word, int *ret)
{
    char up[128], words[512], w[64];
    size_t k = 0, n = 0;

    for (; word[k] && k + 1 < sizeof up; k++)
        up[k] = word[k] == '-' ? '_' : (char)toupper((unsigned char)word[k]);
    up[k] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *e = &d->values[i];
        if (!e->value)
            continue;
        if (!strcmp(e->name, up) || !strcmp(e->name + enum_prefix(d), up))
            return *ret = e->value, 0;
        if (n < sizeof words)
            n += (size_t)snprintf(words + n, sizeof words - n, "%s%s", n ? ", " : "",
                                  cli_enum_word(d, e->value, w, sizeof w));
    }
    cli_error("%s: %s wants one of %s; not '%s'", cmd, opt, words, word);
    return -1;
}

int cli_set_field(const char *cmd, const char *opt, ProtobufCMessage *m, const char *name,
                  const char *v)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    char *p = (char *)m + f->offset, *end = NULL;
    bool four = sizes[f->type] == 4;
    long long x = -1;
    double d;
    int e;

    switch (KIND(f->type)) {
    case 'i':
    case 'u':
        errno = 0;
        x = isdigit((unsigned char)v[0]) ? strtoll(v, &end, 10) : -1;
        if (x < 0 || errno || *end || x > (four ? INT32_MAX : INT64_MAX))
            return cli_error("%s: %s wants a number from 0 to %lld, not '%s'", cmd, opt,
                             four ? (long long)INT32_MAX : (long long)INT64_MAX, v),
                   -1;
        if (four)
            *(int32_t *)p = (int32_t)x;
        else
            *(int64_t *)p = x;
        break;
    case 'f':
        d = strtod(v, &end);
        if (end == v || *end || !isfinite(d))
            return cli_error("%s: %s wants a number, not '%s'", cmd, opt, v), -1;
        if (four)
            *(float *)p = (float)d;
        else
            *(double *)p = d;
        break;
    case 'b':
        *(protobuf_c_boolean *)p = strncmp(opt, "--no-", 5) != 0;
        break;
    case 'e':
        if (enum_option(cmd, opt, f->descriptor, v, &e) < 0)
            return -1;
        *(int *)p = e;
        break;
    default:
        *(const char **)p = v;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
    return (int)(f - m->descriptor->fields);
}

int cli_map_add(struct cli_map *m, const char *cmd, const char *opt, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t k = 0, n = eq ? (size_t)(eq - kv) : 0;
    struct cli_kv *e = NULL;

    if (!*kv)
        return 0;
    if (!n)
        return cli_error("%s: %s wants KEY=VALUE, not '%s'", cmd, opt, kv), -1;
    while (k < m->n && (e = (struct cli_kv *)m->v[k], strncmp(e->key, kv, n) || e->key[n]))
        k++;
    if (k == m->n) { /* a new key */
        ProtobufCMessage **v = realloc(m->v, (m->n + 1) * sizeof *v);
        if (!v || m->entry->sizeof_message != sizeof *e || !(e = malloc(sizeof *e)))
            abort();
        (m->v = v)[m->n++] = &e->base;
        protobuf_c_message_init(m->entry, e);
    } else {
        free(e->key);
        free(e->value);
    }
    if (!(e->key = strndup(kv, n)) || !(e->value = strdup(eq + 1)))
        abort();
    return 0;
}

void cli_map_free(struct cli_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        struct cli_kv *e = (struct cli_kv *)m->v[i];
        free(e->key);
        free(e->value);
        free(e);
    }
    free(m->v);
    *m = (struct cli_map){.entry = m->entry};
}

/* ---- project options ---- */

/* The update_mask paths, in this order: bit i of project_args.paths is mask_paths[i]. */
static const char *const mask_paths[] = {"description", "path",     "quota",
                                         "config",      "metadata", "tags"};

static const struct cli_option project_opts[] = {
    {"--description", "TEXT", "what the project is"},
    {"--path", "DIR", "the project's directory, the runners' default cwd (create: required)"},
    {"--max-runners", "N", "runners live at once (default 5; 0: no limit)"},
    {"--max-memory-mb", "N", "memory of its runners together, MiB (0: no limit)"},
    {"--max-cpu-percent", "N", "CPU of its runners together, percent of one CPU (0: no limit)"},
    {"--max-tokens-per-day", "N", "token budget per UTC day (0: no limit)"},
    {"--command", "'CMD ARGS'",
     "runners' command: words at blanks, quotes group (default: droverd's runner command)"},
    {"--pipes", NULL, "run runners on pipes instead of a terminal"},
    {"--no-pipes", NULL, "run runners on a terminal (the default)"},
    {"--restart", "POLICY", "never (default), on-failure or always"},
    {"--max-restarts", "N", "automatic restarts in a row (0: 3)"},
    {"--env", "K=V", "runners' environment (repeatable; update: the whole new set, '' for none)"},
    {"--meta", "K=V", "metadata (repeatable; update: the whole new set, '' for none)"},
    {"--tag", "T", "a tag (repeatable; update: the whole new set, '' for none)"},
    {0},
};
/* What each option sets, word k for option k: a field of the quota (q:) or of the config (c:),
 * else a mask path. */
static const char project_fields[] =
    "description path q:max_concurrent_runners q:max_memory_mb q:max_cpu_percent "
    "q:max_tokens_per_day c:command c:use_pipes c:use_pipes c:restart_policy "
    "c:max_restart_attempts c:environment metadata tags";

struct project_args {
    const char *cmd;                /* "project create", for errors */
    unsigned paths;                 /* bits of mask_paths the options name */
    const char *description, *path; /* --description, --path */
    Stratavore__V1__ResourceQuota quota;
    Stratavore__V1__ProjectConfig config;
    uint32_t quota_set, config_set; /* fields of those given: bits of their descriptors' indexes */
    char *words;                    /* the words of --command */
    struct cli_map env, meta;       /* --env, --meta */
    char **tags;                    /* --tag */
    size_t n_tags;
};

static int field_index(const ProtobufCMessage *m, const char *name)
{
    return (int)(protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name) -
                 m->descriptor->fields);
}

/* --command: s split at blanks into words in a->words; '...' and "..." group, \ escapes. */
static int split_command(struct project_args *a, const char *s)
{
    size_t n = 0;
    char *o = a->words = realloc(a->words, strlen(s) + 1), quote = 0;
    char **w = a->config.command = realloc(a->config.command, (strlen(s) / 2 + 2) * sizeof *w);

    if (!o || !w)
        abort();
    while (*s) {
        if (!*(s += strspn(s, " \t")))
            break;
        for (w[n++] = o; *s && (quote || (*s != ' ' && *s != '\t')); s++) {
            if (quote && *s == quote)
                quote = 0;
            else if (!quote && (*s == '\'' || *s == '"'))
                quote = *s;
            else
                *o++ = *s == '\\' && quote != '\'' && s[1] ? *++s : *s;
        }
        *o++ = '\0';
    }
    a->config.n_command = n;
    if (!quote && n)
        return 0;
    cli_error("%s: --command wants words and balanced quotes", a->cmd);
    return -1;
}

static int project_option(void *ctx, const struct cli_option *o, const char *v)
{
    struct project_args *a = ctx;
    const char *n = o->name, *w = project_fields;
    char f[64];
    for (long k = o - project_opts; k > 0; k--)
        w = strchr(w, ' ') + 1;
    snprintf(f, sizeof f, "%.*s", (int)strcspn(w, " "), w);
    ProtobufCMessage *m = f[1] != ':' ? NULL : f[0] == 'q' ? &a->quota.base : &a->config.base;
    const char *path = !m ? f : f[0] == 'q' ? "quota" : "config";
    int k = 0;

    for (size_t b = 0; b < ARRAY_SIZE(mask_paths); b++)
        a->paths |= !strcmp(mask_paths[b], path) ? 1u << b : 0;
    if (!strcmp(n, "--description") || !strcmp(n, "--path"))
        *(!strcmp(n, "--path") ? &a->path : &a->description) = v;
    else if (!strcmp(n, "--meta"))
        k = cli_map_add(&a->meta, a->cmd, n, v);
    else if (!strcmp(n, "--tag") && *v) {
        if (!(a->tags = realloc(a->tags, (a->n_tags + 1) * sizeof *a->tags)))
            abort();
        a->tags[a->n_tags++] = (char *)v;
    } else if (m) {
        if (!strcmp(n, "--env") || !strcmp(n, "--command"))
            k = (!strcmp(n, "--env") ? cli_map_add(&a->env, a->cmd, n, v) : split_command(a, v))
                    ?: field_index(m, f + 2);
        else
            k = cli_set_field(a->cmd, n, m, f + 2, v);
        if (k >= 0)
            *(m == &a->quota.base ? &a->quota_set : &a->config_set) |= 1u << k;
    }
    return k < 0 ? -1 : 0;
}

static int project_args_parse(struct cli *cli, const struct cli_command *self, int argc,
                              char **argv, bool create, struct project_args *a)
{
    *a = (struct project_args){.cmd = self->name};
    stratavore__v1__resource_quota__init(&a->quota);
    stratavore__v1__project_config__init(&a->config);
    a->env.entry = &stratavore__v1__project_config__environment_entry__descriptor;
    a->meta.entry = create ? &stratavore__v1__create_project_request__metadata_entry__descriptor
                           : &stratavore__v1__update_project_request__metadata_entry__descriptor;
    int i =
        cli_need_operand(self, cli_parse(cli, self, argc, argv, 1, project_opts, project_option, a),
                         argc, "the project's NAME", NULL);
    a->config.environment = (Stratavore__V1__ProjectConfig__EnvironmentEntry **)a->env.v;
    a->config.n_environment = a->env.n;
    return i;
}

static void project_args_done(struct project_args *a)
{
    free(a->words);
    free(a->config.command);
    free(a->tags);
    cli_map_free(&a->env);
    cli_map_free(&a->meta);
}

/* Copies the fields of `from` that set names into `to`, a message of its type: their values,
 * and their counts or oneof cases. */
static void copy_fields(ProtobufCMessage *to, const ProtobufCMessage *from, uint32_t set)
{
    for (unsigned k = 0; k < to->descriptor->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &to->descriptor->fields[k];
        bool rep = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (!(set & (1u << k)))
            continue;
        memcpy((char *)to + f->offset, (const char *)from + f->offset,
               rep ? sizeof(void *) : sizes[f->type]);
        if (f->quantifier_offset)
            memcpy((char *)to + f->quantifier_offset, (const char *)from + f->quantifier_offset,
                   rep ? sizeof(size_t) : sizeof(uint32_t));
    }
}

/* ---- create, update ---- */

static int get_project(struct cli *cli, const char *name, bool stats,
                       Stratavore__V1__GetProjectResponse **ret)
{
    Stratavore__V1__GetProjectRequest req = STRATAVORE__V1__GET_PROJECT_REQUEST__INIT;
    req.name = (char *)name;
    req.include_stats = stats;
    return cli_unary(cli, PROJECTS "GetProject", &req.base,
                     &stratavore__v1__get_project_response__descriptor, (ProtobufCMessage **)ret);
}

/* The two requests have the same fields but the mask; so have their answers (asserted). */
_Static_assert(sizeof(Stratavore__V1__CreateProjectResponse) ==
                   sizeof(Stratavore__V1__UpdateProjectResponse),
               "CreateProjectResponse and UpdateProjectResponse have one layout");
#define FILL(q)                                                                                    \
    ((q).name = argv[i], (q).description = (char *)(a.description ? a.description : ""),           \
     (q).path = path ? path : "", (q).quota = a.quota_set ? &quota : NULL,                         \
     (q).config = a.config_set ? &config : NULL, (q).metadata = (void *)a.meta.v,                  \
     (q).n_metadata = a.meta.n, (q).tags = a.tags, (q).n_tags = a.n_tags)

static int project_save(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    bool create = !strcmp(self->name, "project create");
    Stratavore__V1__CreateProjectRequest cq = STRATAVORE__V1__CREATE_PROJECT_REQUEST__INIT;
    Stratavore__V1__UpdateProjectRequest uq = STRATAVORE__V1__UPDATE_PROJECT_REQUEST__INIT;
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    Stratavore__V1__ResourceQuota quota = STRATAVORE__V1__RESOURCE_QUOTA__INIT;
    Stratavore__V1__ProjectConfig config = STRATAVORE__V1__PROJECT_CONFIG__INIT;
    Stratavore__V1__GetProjectResponse *cur = NULL;
    Stratavore__V1__CreateProjectResponse *resp = NULL;
    char *paths[ARRAY_SIZE(mask_paths)], changed[128] = "";
    struct project_args a;
    _cleanup_free_ char *path = NULL;
    int i = project_args_parse(cli, self, argc, argv, create, &a), r = 1;

    if (i >= 0 && (create ? !a.path : !a.paths)) {
        cli_error("%s: %s (see drover %s --help)", self->name,
                  create ? "--path DIR is required" : "nothing to change", self->name);
        i = CLI_USAGE;
    }
    if (i < 0) {
        r = cli_exit_code(i);
        goto out;
    }
    /* A quota or a config is replaced whole: an update sends the project's own, changed. */
    if (!create && (a.quota_set || a.config_set) && get_project(cli, argv[i], false, &cur) < 0)
        goto out;
    if (cur && cur->project->quota)
        quota = *cur->project->quota;
    if (cur && cur->project->config)
        config = *cur->project->config;
    if (create) /* droverd's default, for a quota that names other limits only */
        quota.max_concurrent_runners = 5;
    copy_fields(&quota.base, &a.quota.base, a.quota_set);
    copy_fields(&config.base, &a.config.base, a.config_set);
    if (a.path && !(path = cli_abs_path(a.path)))
        goto out;
    for (size_t b = 0, k = 0; b < ARRAY_SIZE(mask_paths); b++)
        if (a.paths & (1u << b)) {
            paths[mask.n_paths++] = (char *)mask_paths[b];
            k += (size_t)snprintf(changed + k, sizeof changed - k, "%s%s", k ? ", " : "",
                                  mask_paths[b]);
        }
    mask.paths = paths;
    uq.update_mask = &mask;
    FILL(cq);
    FILL(uq);
    if (cli_unary(cli, create ? PROJECTS "CreateProject" : PROJECTS "UpdateProject",
                  create ? &cq.base : &uq.base,
                  create ? &stratavore__v1__create_project_response__descriptor
                         : &stratavore__v1__update_project_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        goto out;
    if (cli->json)
        cli_print_pb(&resp->base, false);
    else if (create)
        printf("created project %s (%s)\n", resp->project->name, resp->project->path);
    else
        printf("updated project %s: %s\n", resp->project->name, changed);
    cli_warnings(resp->warnings, resp->n_warnings);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    r = 0;
out:
    if (cur)
        protobuf_c_message_free_unpacked(&cur->base, NULL);
    project_args_done(&a);
    return r;
}

/* ---- ls, get, rm ---- */

#define PROJECT_ROW "%-20s %-9s %-8s %-8s %-12s %s\n"

struct ls_run {
    json_t *all; /* --json: the projects */
    size_t n;
};

static void ls_one(void *ctx, const ProtobufCMessage *m)
{
    const Stratavore__V1__Project *p = (const void *)m;
    const Stratavore__V1__ProjectStatistics *s = p->statistics;
    struct ls_run *l = ctx;
    char w[32], runners[32], sessions[32], tokens[32];

    if (l->all) {
        json_array_append_new(l->all, cli_pb_json(m));
        l->n++;
        return;
    }
    if (!l->n++)
        printf(PROJECT_ROW, "NAME", "STATUS", "RUNNERS", "SESSIONS", "TOKENS-TODAY", "PATH");
    snprintf(runners, sizeof runners, "%d/%d", s ? s->active_runners : 0, s ? s->total_runners : 0);
    snprintf(sessions, sizeof sessions, "%lld", s ? (long long)s->total_sessions : 0);
    snprintf(tokens, sizeof tokens, "%lld", s ? (long long)s->tokens_used_today : 0);
    printf(PROJECT_ROW, p->name,
           cli_enum_word(&stratavore__v1__project_status__descriptor, p->status, w, sizeof w),
           runners, sessions, tokens, p->path);
}

/* An option that sets the request field of its name. */
static int field_option(void *ctx, const struct cli_option *o, const char *v)
{
    return cli_set_field("project", o->name, ctx, o->name + 2, v);
}

static int project_ls(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--status", "S", "only projects that are active, idle or archived"}, {0}};
    Stratavore__V1__ListProjectsRequest req = STRATAVORE__V1__LIST_PROJECTS_REQUEST__INIT;
    struct ls_run l = {0};
    int i = cli_parse(cli, self, argc, argv, 0, opts, field_option, &req);

    if (i < 0)
        return cli_exit_code(i);
    req.include_stats = true;
    if ((cli->json && !(l.all = json_array())) ||
        cli_list(cli, PROJECTS "ListProjects", &req.base,
                 &stratavore__v1__list_projects_response__descriptor, "projects", ls_one, &l) < 0) {
        json_decref(l.all);
        return 1;
    }
    if (cli->json)
        cli_print_json(json_pack("{s:o, s:i, s:b}", "projects", l.all, "total_count", (int)l.n,
                                 "has_more", false));
    else if (!l.n)
        printf("no projects (create one with: drover project create NAME --path DIR)\n");
    return 0;
}

static int project_get(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Stratavore__V1__GetProjectResponse *resp = NULL;
    int i = cli_need_operand(self, cli_parse_common(cli, self, argc, argv, 1), argc,
                             "the project's NAME", NULL);

    if (i < 0)
        return cli_exit_code(i);
    if (get_project(cli, argv[i], true, &resp) < 0)
        return 1;
    cli_show_pb(cli, &resp->base);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int project_rm(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--archive", NULL, "archive it instead (kept, but refuses new runners)"},
        {"--force", NULL, "stop its live runners first (else they make it fail)"},
        {0},
    };
    Stratavore__V1__DeleteProjectRequest req = STRATAVORE__V1__DELETE_PROJECT_REQUEST__INIT;
    Stratavore__V1__DeleteProjectResponse *resp = NULL;
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, 1, opts, field_option, &req),
                             argc, "the project's NAME", NULL);

    if (i < 0)
        return cli_exit_code(i);
    req.name = argv[i];
    cli->deadline_ms = 300000; /* --force waits for the runners' stop timeouts */
    if (cli_unary(cli, PROJECTS "DeleteProject", &req.base,
                  &stratavore__v1__delete_project_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (cli->json)
        cli_print_pb(&resp->base, false);
    else
        printf("%s project %s (%d runner%s stopped)\n", resp->archived ? "archived" : "deleted",
               argv[i], resp->stopped_runners, resp->stopped_runners == 1 ? "" : "s");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static const struct cli_command project_cmds[] = {
    {"project create", project_save, "NAME --path DIR [OPTION]...",
     "Create a project: a named directory, its quota and its runners' launch settings."},
    {"project ls", project_ls, "[--status active|idle|archived]",
     "List projects: status, live/all runners, sessions, tokens today, path."},
    {"project get", project_get, "NAME", "Show everything about a project, statistics included."},
    {"project update", project_save, "NAME [OPTION]...",
     "Change what the options name (those of create); only those fields are sent."},
    {"project rm", project_rm, "[--archive] [--force] NAME",
     "Delete a project (--archive: archive it); live runners need --force."},
};

int cmd_project(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return cli_subcommand(cli, self, project_cmds, ARRAY_SIZE(project_cmds), argc, argv);
}
