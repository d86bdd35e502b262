/* OpenSSL loaded on first use: see ossl.h. */
#define OSSL_NO_REDIRECT
#include "base/ossl.h"

#include <dlfcn.h>
#include <stdio.h>

#define LIBCRYPTO "libcrypto.so.3"
#define LIBSSL    "libssl.so.3"

struct ossl_functions ossl_fn;

static void *crypto_lib, *ssl_lib;

/* dlopen(name), or NULL with the reason in err. */
static void *open_lib(const char *name, char *err, size_t size)
{
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        snprintf(err, size, "cannot load %s (Debian package libssl3): %s", name, dlerror());
    return lib;
}

static int missing(void *lib, const char *lib_name, const char *fn, char *err, size_t size)
{
    snprintf(err, size, "%s has no %s: OpenSSL 3 is needed", lib_name, fn);
    dlclose(lib);
    return -1;
}

int ossl_load_crypto(char *err, size_t size)
{
    if (crypto_lib)
        return 0;
    void *lib = open_lib(LIBCRYPTO, err, size);
    if (!lib)
        return -1;
    struct ossl_functions f = ossl_fn;
#define LOOKUP(name)                                                                               \
    if (!(*(void **)&f.name = dlsym(lib, #name)))                                                  \
        return missing(lib, LIBCRYPTO, #name, err, size);
    OSSL_CRYPTO_FUNCTIONS(LOOKUP)
    ossl_fn = f;
    crypto_lib = lib;
    return 0;
}

int ossl_load_ssl(char *err, size_t size)
{
    if (ssl_lib)
        return 0;
    if (ossl_load_crypto(err, size) < 0)
        return -1;
    void *lib = open_lib(LIBSSL, err, size);
    if (!lib)
        return -1;
    struct ossl_functions f = ossl_fn;
    OSSL_SSL_FUNCTIONS(LOOKUP)
#undef LOOKUP
    ossl_fn = f;
    ssl_lib = lib;
    return 0;
}
