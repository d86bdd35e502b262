/* The SQLite store. Writes are small and synchronous (WAL with synchronous=NORMAL: a commit is an
 * append to the log, durable across a crash of droverd, and across power loss up to the last
 * checkpoint), so they run on the loop without blocking it noticeably.
 *
 * Migrations: migrations[i] brings a database from user_version i to i+1, inside one
 * transaction with the version bump. A database whose version is higher than ours was written by
 * a newer droverd: we refuse it rather than guess. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"

static const char *const migrations[] = {
    /* 1: the registry of tracked processes. Columns up to registered_at are running-process's;
     * start_ticks, ppid and ppid_start_ticks are what droverd saw at registration, the identity
     * of the process and of its parent that liveness checks compare against. */
    "CREATE TABLE tracked_processes ("
    "  pid INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL DEFAULT '',"
    "  command TEXT NOT NULL,"
    "  cwd TEXT NOT NULL DEFAULT '',"
    "  originator TEXT NOT NULL DEFAULT '',"
    "  containment TEXT NOT NULL DEFAULT 'contained',"
    "  registered_at REAL NOT NULL,"
    "  start_ticks INTEGER NOT NULL DEFAULT 0,"
    "  ppid INTEGER NOT NULL DEFAULT 0,"
    "  ppid_start_ticks INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (pid, created_at_ms));",
    /* 2: services. Columns up to last_exit_code are running-process's (cmd a JSON array, env a
     * JSON array of [key, value]); the rest are drover's: the full restart policy, whether the
     * service starts with droverd, and the identity of the main process for crash recovery. */
    "CREATE TABLE services ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  cmd TEXT NOT NULL,"
    "  cwd TEXT NOT NULL DEFAULT '',"
    "  env TEXT NOT NULL DEFAULT '[]',"
    "  autorestart INTEGER NOT NULL DEFAULT 1,"
    "  max_restarts INTEGER NOT NULL DEFAULT 0,"
    "  restart_delay_ms INTEGER NOT NULL DEFAULT 500,"
    "  kill_timeout_ms INTEGER NOT NULL DEFAULT 3000,"
    "  min_uptime_ms INTEGER NOT NULL DEFAULT 2000,"
    "  status TEXT NOT NULL DEFAULT 'stopped',"
    "  pid INTEGER NOT NULL DEFAULT 0,"
    "  restart_count INTEGER NOT NULL DEFAULT 0,"
    "  last_started_at REAL NOT NULL DEFAULT 0,"
    "  last_exited_at REAL NOT NULL DEFAULT 0,"
    "  last_exit_code INTEGER NOT NULL DEFAULT 0,"
    "  restart_policy TEXT NOT NULL DEFAULT 'always',"
    "  restart_delay_max_ms INTEGER NOT NULL DEFAULT 30000,"
    "  clear_env INTEGER NOT NULL DEFAULT 0,"
    "  stop_signal INTEGER NOT NULL DEFAULT 15,"
    "  oneshot INTEGER NOT NULL DEFAULT 0,"
    "  autostart INTEGER NOT NULL DEFAULT 0,"
    "  start_ticks INTEGER NOT NULL DEFAULT 0);",
    /* 3: services defined by the YAML file, which a reload may change or remove. */
    "ALTER TABLE services ADD COLUMN from_config INTEGER NOT NULL DEFAULT 0;",
    /* 4: the services a service needs online first (a JSON array of names). */
    "ALTER TABLE services ADD COLUMN depends_on TEXT NOT NULL DEFAULT '[]';",
    /* 5: health probes (a JSON array, see supervise/probe-json.c). */
    "ALTER TABLE services ADD COLUMN probes TEXT NOT NULL DEFAULT '[]';",
    /* 6, 7: what the user wants (up or down), apart from what the service is doing: a crash
     * during a restore must not turn "wanted up, not yet started" into "stopped". */
    "ALTER TABLE services ADD COLUMN wanted INTEGER NOT NULL DEFAULT 0;",
    "UPDATE services SET wanted = status IN ('online', 'starting');",
    /* 8: the running instance's tree group, with pid and start_ticks its identity: the next
     * droverd adopts it instead of starting another. */
    "ALTER TABLE services ADD COLUMN cgroup TEXT NOT NULL DEFAULT '';",
    /* 9: what droverd keeps about itself (whether the last one stopped cleanly). */
    "CREATE TABLE daemon_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
};

struct store {
    sqlite3 *db;               /* the connection */
    char *path;                /* the database file */
    char *reserve_path;        /* emergency-reserve.bin beside it */
    const char *reserve_state; /* see store_reserve_state */
};

int store_schema_version(void)
{
    return (int)ARRAY_SIZE(migrations);
}

static int errno_from_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EBADMSG;
    default:
        return -EIO;
    }
}

static int exec(struct store *s, const char *sql)
{
    return errno_from_sqlite(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

int store_begin(struct store *s)
{
    return exec(s, "BEGIN IMMEDIATE");
}

int store_commit(struct store *s)
{
    int r = exec(s, "COMMIT");
    if (r < 0)
        (void)exec(s, "ROLLBACK");
    return r;
}

void store_rollback(struct store *s)
{
    (void)exec(s, "ROLLBACK");
}

static int user_version(struct store *s, int *ret)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return errno_from_sqlite(rc);
    rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : errno_from_sqlite(rc);
}

static int migrate(struct store *s)
{
    int v, r = user_version(s, &v);

    if (r < 0)
        return r;
    if (v > store_schema_version())
        return -EPROTO;
    for (; v < store_schema_version(); v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if ((r = exec(s, "BEGIN IMMEDIATE")) < 0)
            return r;
        if ((r = exec(s, migrations[v])) < 0 || (r = exec(s, bump)) < 0) {
            (void)exec(s, "ROLLBACK");
            return r;
        }
        if ((r = exec(s, "COMMIT")) < 0)
            return r;
    }
    return 0;
}

/* Allocates the reserve for real (fallocate; zeros where the file system lacks it) so that
 * deleting it frees blocks. An existing reserve of the right size is kept as it is. */
static void reserve_arm(struct store *s, uint64_t bytes)
{
    struct stat st;
    _cleanup_close_ int fd = -1;

    if (bytes == 0) {
        s->reserve_state = "disabled";
        return;
    }
    s->reserve_state = "degraded";
    fd = open(s->reserve_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fstat(fd, &st) < 0)
        return;
    if ((uint64_t)st.st_size != bytes || st.st_blocks * 512 < (off_t)bytes) {
        if (ftruncate(fd, 0) < 0)
            return;
        if (posix_fallocate(fd, 0, (off_t)bytes) != 0) {
            static const char zeros[65536];
            for (uint64_t done = 0; done < bytes;) {
                ssize_t n = write(fd, zeros, MIN(sizeof zeros, bytes - done));
                if (n <= 0)
                    return;
                done += (uint64_t)n;
            }
        }
        if (fdatasync(fd) < 0)
            return;
    }
    s->reserve_state = "armed";
}

static bool reserve_release(struct store *s)
{
    if (strcmp(s->reserve_state, "armed") != 0)
        return false;
    if (unlink(s->reserve_path) < 0 && errno != ENOENT)
        return false;
    s->reserve_state = "released";
    return true;
}

int store_open(const char *path, uint64_t reserve_bytes, struct store **ret)
{
    struct store *s = calloc(1, sizeof *s);
    int r;

    if (!s)
        return -ENOMEM;
    s->path = strdup(path);
    if (!s->path || !(s->reserve_path = store_sibling_path(s, "emergency-reserve.bin"))) {
        store_close(s);
        return -ENOMEM;
    }
    r = sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                            SQLITE_OPEN_EXRESCODE,
                        NULL);
    if (r != SQLITE_OK) {
        r = errno_from_sqlite(r);
        store_close(s);
        return r;
    }
    sqlite3_busy_timeout(s->db, 2000);
    if ((r = exec(s, "PRAGMA journal_mode = WAL")) < 0 ||
        (r = exec(s, "PRAGMA synchronous = NORMAL")) < 0 || (r = migrate(s)) < 0) {
        store_close(s);
        return r;
    }
    reserve_arm(s, reserve_bytes);
    *ret = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s->reserve_path);
    free(s);
}

sqlite3 *store_db(struct store *s)
{
    return s->db;
}

char *store_sibling_path(const struct store *s, const char *name)
{
    const char *slash = strrchr(s->path, '/');
    char *p;
    return asprintf(&p, "%.*s%s", slash ? (int)(slash - s->path + 1) : 0, s->path, name) < 0 ? NULL
                                                                                             : p;
}

const char *store_path(const struct store *s)
{
    return s->path;
}

const char *store_reserve_state(const struct store *s)
{
    return s->reserve_state;
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret)
{
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
    return rc == SQLITE_OK ? 0 : rc == SQLITE_NOMEM ? -ENOMEM : -EINVAL;
}

const char *store_column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

int store_run(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_FULL && reserve_release(s)) {
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    return errno_from_sqlite(rc);
}

int store_get_state(struct store *s, const char *key, char *buf, size_t size)
{
    sqlite3_stmt *q;
    int r = store_prepare(s, "SELECT value FROM daemon_state WHERE key = ?", &q);

    if (r < 0)
        return r;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        snprintf(buf, size, "%s", store_column_text(q, 0));
    r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
    sqlite3_finalize(q);
    return r;
}

int store_set_state(struct store *s, const char *key, const char *value)
{
    sqlite3_stmt *q;
    int r = store_prepare(s,
                          "INSERT INTO daemon_state (key, value) VALUES (?1, ?2)"
                          " ON CONFLICT(key) DO UPDATE SET value = ?2",
                          &q);

    if (r < 0)
        return r;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
    r = store_run(s, q);
    sqlite3_finalize(q);
    return r;
}
