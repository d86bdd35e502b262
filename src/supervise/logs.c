/* Reading service log files back: the last lines of a file, read from its end, whatever its
 * size. Used by LOGS (running-process) and drover.v1 Services.Logs. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"
#include "supervise/supervise.h"

char *svc_log_tail(const char *path, uint32_t lines, size_t max, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    *ret_len = 0;
    if (fd < 0 || fstat(fd, &st) < 0)
        return NULL;
    return svc_log_tail_fd(fd, (uint64_t)st.st_size, lines, max, ret_len);
}

char *svc_log_tail_fd(int fd, uint64_t end, uint32_t lines, size_t max, size_t *ret_len)
{
    size_t size = (size_t)end, want = MIN(size, max);

    *ret_len = 0;
    char *buf = malloc(want + 1);
    if (!buf || pread(fd, buf, want, (off_t)(size - want)) != (ssize_t)want) {
        free(buf);
        return NULL;
    }
    size_t start = want, seen = 0;
    if (start && buf[start - 1] == '\n')
        start--; /* the final newline ends the last line; it does not start another */
    while (start > 0 && seen < lines) {
        if (buf[start - 1] == '\n' && ++seen == lines)
            break;
        start--;
    }
    memmove(buf, buf + start, want - start);
    *ret_len = want - start;
    return buf;
}
