/* drover image import, ls, inspect, rm, prune: the OCI images containers run from
 * (drover.v1.Images). Imports read an OCI layout directory, an oci-archive or a docker-archive
 * on droverd's machine; nothing comes from a registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "cli/cli.h"
#include "drover/v1/containers.pb-c.h"

#define IMAGES "/drover.v1.Images/"

static int image_import(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--name", "NAME[:TAG]", "what to call it (default: the source's own name)"}, {0}};
    Drover__V1__ImportImageRequest q = DROVER__V1__IMPORT_IMAGE_REQUEST__INIT;
    Drover__V1__Image *img = NULL;
    const char *name = NULL;
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, 1, opts, cli_option_value,
                                             &name),
                             argc, "the SOURCE", "an OCI layout directory, oci-archive or "
                                                 "docker-archive file");
    if (i < 0)
        return cli_exit_code(i);
    /* DIR:REF keeps its ":REF"; a relative path is made absolute for droverd. */
    const char *src = argv[i], *colon = strrchr(src, ':');
    _cleanup_free_ char *abs = NULL;
    if (src[0] != '/' && !strchr(src, ':'))
        src = abs = cli_abs_path(src);
    else if (src[0] != '/' && colon && !strstr(src, "archive:") && strncmp(src, "oci:", 4)) {
        char *head = strndup(src, (size_t)(colon - src));
        char *a = head ? cli_abs_path(head) : NULL;
        if (a && asprintf(&abs, "%s%s", a, colon) < 0)
            abs = NULL;
        free(head);
        free(a);
        src = abs;
    }
    if (!src)
        return 1;
    q.source = (char *)src;
    q.name = (char *)(name ? name : "");
    cli->deadline_ms = 600000; /* a large image takes skopeo and umoci a while */
    if (cli_unary(cli, IMAGES "Import", &q.base, &drover__v1__image__descriptor,
                  (ProtobufCMessage **)&img) < 0)
        return 1;
    if (cli->json)
        cli_print_pb(&img->base, false);
    else
        printf("%s %s\n", img->name, img->id);
    protobuf_c_message_free_unpacked(&img->base, NULL);
    return 0;
}

static int image_ls(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__ListImagesRequest q = DROVER__V1__LIST_IMAGES_REQUEST__INIT;
    Drover__V1__ListImagesResponse *resp = NULL;
    int i = cli_parse_common(cli, self, argc, argv, 0);
    if (i < 0)
        return cli_exit_code(i);
    if (cli_unary(cli, IMAGES "List", &q.base, &drover__v1__list_images_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (cli->json) {
        json_t *a = json_array();
        for (size_t k = 0; k < resp->n_images; k++)
            json_array_append_new(a, cli_pb_json(&resp->images[k]->base));
        cli_print_json(a);
    } else {
        printf("%-32s %-12s %-10s %-10s %-10s %s\n", "NAME", "ID", "SIZE", "UNPACKED", "AGE",
               "CONTAINERS");
        for (size_t k = 0; k < resp->n_images; k++) {
            const Drover__V1__Image *m = resp->images[k];
            char size[32], unpacked[32], age[32];
            cli_format_bytes(m->size, size, sizeof size);
            cli_format_bytes(m->unpacked_size, unpacked, sizeof unpacked);
            cli_format_duration(cli_ts_age(m->imported_at), age, sizeof age);
            printf("%-32s %-12.12s %-10s %-10s %-10s %u\n", m->name,
                   strncmp(m->id, "sha256:", 7) ? m->id : m->id + 7, size, unpacked, age,
                   m->containers);
        }
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int image_inspect(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__ImageRef q = DROVER__V1__IMAGE_REF__INIT;
    Drover__V1__Image *img = NULL;
    int i = cli_need_operand(self, cli_parse_common(cli, self, argc, argv, 1), argc, "the IMAGE",
                             "a name or an id");
    if (i < 0)
        return cli_exit_code(i);
    q.image = argv[i];
    if (cli_unary(cli, IMAGES "Get", &q.base, &drover__v1__image__descriptor,
                  (ProtobufCMessage **)&img) < 0)
        return 1;
    cli_show_pb(cli, &img->base);
    protobuf_c_message_free_unpacked(&img->base, NULL);
    return 0;
}

static int image_rm(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"-f", NULL, "even if containers use it"}, {"--force", NULL, "the same"}, {0}};
    bool force = false;
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, 64, opts, cli_option_flag,
                                             &force),
                             argc, "the IMAGE", "a name or an id");
    int r = i < 0 ? cli_exit_code(i) : 0;
    for (; i >= 0 && i < argc; i++) {
        Drover__V1__RemoveImageRequest q = DROVER__V1__REMOVE_IMAGE_REQUEST__INIT;
        Drover__V1__RemoveImageResponse *resp = NULL;
        q.image = argv[i];
        q.force = force;
        if (cli_unary(cli, IMAGES "Remove", &q.base, &drover__v1__remove_image_response__descriptor,
                      (ProtobufCMessage **)&resp) < 0) {
            r = 1;
            continue;
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (!cli->json)
            printf("%s\n", argv[i]);
    }
    return r;
}

static int image_prune(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__PruneImagesRequest q = DROVER__V1__PRUNE_IMAGES_REQUEST__INIT;
    Drover__V1__PruneImagesResponse *resp = NULL;
    char b[32];
    int i = cli_parse_common(cli, self, argc, argv, 0);
    if (i < 0)
        return cli_exit_code(i);
    if (cli_unary(cli, IMAGES "Prune", &q.base, &drover__v1__prune_images_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    cli_format_bytes(resp->bytes_freed, b, sizeof b);
    if (cli->json)
        cli_print_pb(&resp->base, false);
    else
        printf("%s freed\n", b);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static const struct cli_command image_cmds[] = {
    {"image import", image_import, "[--name NAME[:TAG]] DIR[:REF]|FILE",
     "Import an OCI layout, an oci-archive or a docker-archive."},
    {"image ls", image_ls, "", "List images."},
    {"image inspect", image_inspect, "IMAGE", "Show an image's configuration."},
    {"image rm", image_rm, "[-f] IMAGE...", "Remove images."},
    {"image prune", image_prune, "", "Remove unpacked roots and blobs nothing uses."},
};

int cmd_image(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return cli_subcommand(cli, self, image_cmds, ARRAY_SIZE(image_cmds), argc, argv);
}
