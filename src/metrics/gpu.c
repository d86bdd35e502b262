/* GPUs through NVIDIA's NVML, loaded at run time: droverd neither links nor requires it. The
 * library is looked for on the first request only; when it is absent or fails to start, that
 * answer is kept (no second probe: NVML's init costs ~20 ms, socktop learned to cache it too). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/time-util.h"
#include "metrics/metrics-internal.h"

/* The few NVML entry points used, with their C types (nvml.h is not in Debian's main). */
typedef struct nvml_device *nvml_device_t;
struct nvml_util {
    unsigned gpu, memory;
};
struct nvml_mem {
    unsigned long long total, free, used;
};

struct nvml {
    void *lib;
    int (*init)(void);
    int (*count)(unsigned *n);
    int (*handle)(unsigned i, nvml_device_t *d);
    int (*name)(nvml_device_t d, char *name, unsigned len);
    int (*util)(nvml_device_t d, struct nvml_util *u);
    int (*mem)(nvml_device_t d, struct nvml_mem *m);
    int (*temp)(nvml_device_t d, int sensor, unsigned *t);
};

static int nvml_open(struct nvml *n)
{
    n->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!n->lib)
        return -ENODEV;
    n->init = (int (*)(void))dlsym(n->lib, "nvmlInit_v2");
    n->count = (int (*)(unsigned *))dlsym(n->lib, "nvmlDeviceGetCount_v2");
    n->handle = (int (*)(unsigned, nvml_device_t *))dlsym(n->lib, "nvmlDeviceGetHandleByIndex_v2");
    n->name = (int (*)(nvml_device_t, char *, unsigned))dlsym(n->lib, "nvmlDeviceGetName");
    n->util =
        (int (*)(nvml_device_t, struct nvml_util *))dlsym(n->lib, "nvmlDeviceGetUtilizationRates");
    n->mem = (int (*)(nvml_device_t, struct nvml_mem *))dlsym(n->lib, "nvmlDeviceGetMemoryInfo");
    n->temp = (int (*)(nvml_device_t, int, unsigned *))dlsym(n->lib, "nvmlDeviceGetTemperature");
    if (!n->init || !n->count || !n->handle || !n->name || !n->util || !n->mem || n->init() != 0) {
        dlclose(n->lib);
        n->lib = NULL;
        return -ENODEV;
    }
    return 0;
}

static struct nvml nvml; /* one library per process, like the driver it talks to */

/* Looks for NVML on the first sample (-ENODEV then and ever after when it is missing), then reads
 * every GPU. */
static int sample_gpus(struct metrics *m)
{
    struct nvml *n = &nvml;
    unsigned count = 0;
    if (m->gpu_state == 0)
        m->gpu_state = n->lib || nvml_open(n) == 0 ? 1 : -1;
    if (m->gpu_state < 0)
        return -ENODEV;
    if (n->count(&count) != 0)
        return -EIO;
    struct metrics_gpu *v = calloc(count ? count : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    size_t k = 0;
    for (unsigned i = 0; i < count && i < 64; i++) {
        nvml_device_t d;
        struct nvml_util u = {0};
        struct nvml_mem mem = {0};
        unsigned t = 0;
        if (n->handle(i, &d) != 0)
            continue;
        if (n->name(d, v[k].name, sizeof v[k].name) != 0)
            snprintf(v[k].name, sizeof v[k].name, "gpu%u", i);
        (void)n->util(d, &u);
        (void)n->mem(d, &mem);
        v[k].util_pct = u.gpu;
        v[k].mem_used = mem.used;
        v[k].mem_total = mem.total;
        v[k].temp_c = n->temp && n->temp(d, 0, &t) == 0 ? (double)t : -1;
        k++;
    }
    free(m->gpus.v);
    m->gpus = (struct metrics_gpus){.mono_ms = mono_ms(), .v = v, .n = k};
    return 0;
}

METRICS_GETTER(metrics_gpus, struct metrics_gpus, gpus, sample_gpus)
