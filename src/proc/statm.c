/* /proc/PID/statm: seven page counts on one line ("size resident shared text lib data dt").
 * The parser reads the first five it needs and rejects anything that is not a number. */
#include "proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "base/macro.h"

static int next_number(const char **p, const char *end, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;

    while (s < end && *s == ' ')
        s++;
    if (s == end || *s < '0' || *s > '9')
        return -EINVAL;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (s < end && *s != ' ' && *s != '\n')
        return -EINVAL;
    *p = s;
    *ret = v;
    return 0;
}

int proc_statm_parse(const char *buf, size_t len, struct proc_statm *ret)
{
    const char *p = buf, *end = buf + len;
    uint64_t v[5];

    for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
        int r = next_number(&p, end, &v[i]);
        if (r < 0)
            return r;
    }
    *ret = (struct proc_statm){v[0], v[1], v[2], v[3], v[4]};
    return 0;
}

int proc_rss_bytes(pid_t pid, uint64_t *ret_bytes)
{
    char path[64], buf[256];
    struct proc_statm st;
    _cleanup_close_ int fd = -1;
    ssize_t n;
    int r;

    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/statm");
    else
        snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof buf);
    if (n < 0)
        return -errno;
    r = proc_statm_parse(buf, (size_t)n, &st);
    if (r < 0)
        return r;
    *ret_bytes = st.resident * (uint64_t)sysconf(_SC_PAGESIZE);
    return 0;
}
