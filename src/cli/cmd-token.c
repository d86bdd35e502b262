/* drover token new: a bearer token for droverd's tokens file (the auth_tokens setting).
 *
 * The token is made here from 32 random bytes and printed once; droverd only ever stores its
 * SHA-256 digest, in a line "NAME SCOPES sha256:HEX". With --file the line is appended to the
 * file (created 0600); without, it is printed for the operator to place. droverd reads the file
 * again on SIGHUP (`drover reload`). No daemon is needed for this command.
 *
 * SHA-256 comes from the system's libcrypto, loaded only here (base/ossl.h): linked into the CLI
 * it would slow every other command's start. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/ossl.h"
#include "cli/cli.h"

struct token_args {
    const char *scopes; /* --scopes */
    const char *file;   /* --file, or NULL */
};

static const struct cli_option token_opts[] = {
    {"--scopes", "S", "read, control or read,control (default: read)"},
    {"--file", "PATH", "append the line to this tokens file (created 0600)"},
    {0},
};

static int token_option(void *ctx, const struct cli_option *o, const char *value)
{
    struct token_args *a = ctx;
    if (!strcmp(o->name, "--scopes"))
        a->scopes = value;
    else
        a->file = value;
    return 0;
}

/* The token's SHA-256 in hex, with libcrypto's one-shot SHA256(). */
static int digest_of(const char *token, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    char err[256];

    if (ossl_load_crypto(err, sizeof err) < 0) {
        cli_error("%s", err);
        return -ENOENT;
    }
    SHA256((const unsigned char *)token, strlen(token), d);
    auth_token_hex(d, out);
    return 0;
}

static int append_line(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    size_t n = strlen(line);
    int r = write(fd, line, n) == (ssize_t)n ? 0 : -EIO;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}

int cmd_token(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    struct token_args a = {.scopes = "read"};
    char token[AUTH_TOKEN_LEN + 1], digest[65], line[256], why[128];
    unsigned scopes;
    int i = cli_parse(cli, self, argc, argv, 2, token_opts, token_option, &a), r;

    if (i < 0)
        return cli_exit_code(i);
    if (i + 2 != argc || strcmp(argv[i], "new")) {
        cli_error("usage: drover token %s", self->args);
        return EXIT_USAGE;
    }
    const char *name = argv[i + 1];
    if (!auth_token_name_valid(name)) {
        cli_error("token name '%s': use 1 to %d letters, digits, '.', '_', '@' or '-'", name,
                  AUTH_TOKEN_NAME_MAX);
        return EXIT_USAGE;
    }
    if (auth_scopes_parse(a.scopes, &scopes, why, sizeof why) < 0) {
        cli_error("--scopes: %s", why);
        return EXIT_USAGE;
    }
    if ((r = auth_token_new(token)) < 0) {
        cli_error("cannot get random bytes: %s", strerror(-r));
        return 1;
    }
    if (digest_of(token, digest) < 0)
        return 1;
    snprintf(line, sizeof line, "%s %s sha256:%s\n", name, auth_scopes_name(scopes), digest);
    if (a.file && (r = append_line(a.file, line)) < 0) {
        cli_error("cannot append to '%s': %s", a.file, strerror(-r));
        return 1;
    }
    if (cli->json) {
        cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s?}", "name", name, "scopes",
                                 auth_scopes_name(scopes), "token", token, "digest", digest, "file",
                                 a.file));
        return 0;
    }
    printf("%s\n", token);
    if (a.file)
        fprintf(stderr, "added '%s' (%s) to %s; `drover reload` makes droverd read it\n", name,
                auth_scopes_name(scopes), a.file);
    else
        fprintf(stderr, "add this line to droverd's auth_tokens file:\n%s", line);
    return 0;
}
