/* Service log files: reading them back (the last lines, read from the end, whatever the size;
 * LOGS and Services.Logs) and rotating them by size. The service writes its file itself, so a
 * rotation cannot swap the file under it: the live file keeps its inode and loses its beginning
 * instead (see svc_log_rotate). */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* path.N */
static char *numbered(const char *path, uint32_t n)
{
    char *p;
    return asprintf(&p, "%s.%u", path, n) < 0 ? NULL : p;
}

/* Copies [0, len) of fd into a new file at dst. */
static int copy_prefix(int fd, const char *dst, uint64_t len)
{
    _cleanup_close_ int out =
        open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    loff_t in_off = 0;

    if (out < 0)
        return -errno;
    while ((uint64_t)in_off < len) {
        ssize_t n = copy_file_range(fd, &in_off, out, NULL, (size_t)(len - (uint64_t)in_off), 0);
        if (n < 0) {
            /* Older kernels and some file systems: read and write. */
            char buf[65536];
            ssize_t k = pread(fd, buf, MIN(sizeof buf, (size_t)(len - (uint64_t)in_off)), in_off);
            if (k <= 0 || write(out, buf, (size_t)k) != k)
                return k < 0 ? -errno : -EIO;
            in_off += k;
        } else if (n == 0) {
            break;
        }
    }
    return fsync(out) < 0 ? -errno : 0;
}

int svc_log_rotate(const char *path, uint64_t max, uint32_t keep)
{
    _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    int r;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (max == 0 || (uint64_t)st.st_size <= max)
        return 0;
    /* path.keep goes; path.N becomes path.N+1. */
    for (uint32_t i = MAX(keep, 1u); i > 1; i--) {
        _cleanup_free_ char *from = numbered(path, i - 1), *to = numbered(path, i);
        if (!from || !to)
            return -ENOMEM;
        if (rename(from, to) < 0 && errno != ENOENT)
            return -errno;
    }
    _cleanup_free_ char *first = numbered(path, 1);
    if (!first)
        return -ENOMEM;
    /* Lossless where the file system can collapse a range: move whole blocks out of the live
     * file, which the service keeps appending to; the unaligned rest stays for next time. */
    uint64_t bs = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
    uint64_t len = (uint64_t)st.st_size / bs * bs;
    if (len == (uint64_t)st.st_size)
        len -= bs; /* a collapse may not reach the end of the file */
    if (len > 0) {
        if ((r = copy_prefix(fd, first, len)) < 0)
            return r;
        if (fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, (off_t)len) == 0)
            return 1;
    }
    /* Elsewhere (tmpfs...), copy then truncate: bytes appended between the last copy and the
     * truncation are lost. The copy is repeated until it has caught up, so the window is the
     * few microseconds between a final fstat and ftruncate. */
    for (int round = 0; round < 8; round++) {
        if (fstat(fd, &st) < 0)
            return -errno;
        if ((r = copy_prefix(fd, first, (uint64_t)st.st_size)) < 0)
            return r;
        struct stat again;
        if (fstat(fd, &again) < 0)
            return -errno;
        if (again.st_size == st.st_size)
            break;
    }
    return ftruncate(fd, 0) < 0 ? -errno : 1;
}

void svc_log_prune(const char *path, uint32_t keep, uint32_t max_age_s)
{
    time_t now = time(NULL);
    struct stat st;

    for (uint32_t i = 1; i <= MAX(keep, 1u); i++) {
        _cleanup_free_ char *old = numbered(path, i);
        if (old && stat(old, &st) == 0 && now - st.st_mtime > (time_t)max_age_s)
            (void)unlink(old);
    }
}
