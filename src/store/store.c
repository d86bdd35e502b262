/* The SQLite store. Writes are small and synchronous (WAL with synchronous=NORMAL: a commit is an
 * append to the log, durable across a crash of droverd, and across power loss up to the last
 * checkpoint), so they run on the loop without blocking it noticeably.
 *
 * Checkpoints are not: copying the log into the database ends in two fdatasyncs, tens of
 * milliseconds on a busy disk, which SQLite's automatic checkpoint would spend on the loop
 * every thousand pages. A thread of our own does them instead (PASSIVE, on its own connection,
 * so writers never wait for it), started the first time the log reaches CHECKPOINT_PAGES: an
 * idle droverd has no such thread.
 *
 * Migrations: migrations[i] brings a database from user_version i to i+1, inside one
 * transaction with the version bump. A database whose version is higher than ours was written by
 * a newer droverd: we refuse it rather than guess. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/time-util.h"

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
    /* 10: Stratavore's projects, runners and sessions (runner/db.c): one JSON document per
     * object, kind 'project', 'runner' or 'session'. */
    "CREATE TABLE stratavore (kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
    "  PRIMARY KEY (kind, id));",
    /* 11: images and containers (container/db.c): one JSON document per object, kind 'image'
     * or 'container'. */
    "CREATE TABLE containers (kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
    "  PRIMARY KEY (kind, id));",
    /* 12: a service's container (its image and limits) as JSON; "" for a plain program. */
    "ALTER TABLE services ADD COLUMN container TEXT NOT NULL DEFAULT '';",
    /* 13: the agent hub (agents/db.c): conversations and the like as JSON documents, and the
     * messages of conversations, in order. */
    "CREATE TABLE agents (kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
    "  PRIMARY KEY (kind, id));"
    "CREATE TABLE agent_messages (conv_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  id TEXT NOT NULL, ts_ns INTEGER NOT NULL, role INTEGER NOT NULL, content TEXT NOT NULL,"
    "  meta TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (conv_id, seq));"
    "CREATE UNIQUE INDEX agent_messages_id ON agent_messages (conv_id, id);",
};

#define CHECKPOINT_PAGES 1000 /* SQLite's own default for its automatic checkpoint */

/* The checkpoint thread and what it is asked. */
struct checkpointer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool started;  /* the thread runs (started on the first full log) */
    bool want;     /* a checkpoint is asked for */
    bool stop;     /* the store closes: the thread ends */
    uint64_t done; /* checkpoints made (under lock) */
};

struct store {
    sqlite3 *db;               /* the connection */
    struct checkpointer ckpt;  /* checkpoints off the loop */
    char *path;                /* the database file */
    char *reserve_path;        /* emergency-reserve.bin beside it */
    const char *reserve_state; /* see store_reserve_state */
    uint64_t reserve_want;     /* the size asked for: the most the reserve takes */
    uint64_t reserve_bytes;    /* its size while armed, else 0 */
    uint64_t released_room;    /* the free space right after it was released */
    int last_error;            /* -errno of the last failed write, 0 if none failed */
    uint64_t last_error_ns;    /* when it failed (CLOCK_REALTIME) */
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

/* A write that failed, for store_get_stats; a constraint (a caller's mistake, not the disk's)
 * is not one. */
static int note(struct store *s, int r)
{
    if (r < 0 && r != -EEXIST) {
        s->last_error = r;
        s->last_error_ns = now_ns(CLOCK_REALTIME);
    }
    return r;
}

int store_commit(struct store *s)
{
    int r = note(s, exec(s, "COMMIT"));
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

uint64_t store_reserve_fit(uint64_t want, uint64_t avail)
{
    uint64_t fit = MIN(want, avail / 4);

    if (fit < want)
        fit -= fit % 4096; /* a cut size in whole pages, stable while the free space wobbles */
    return fit > 0 && fit >= MIN(want, (uint64_t)STORE_RESERVE_FLOOR) ? fit : 0;
}

/* The free space a reserve may take its share of: what the file system offers, plus what a
 * reserve file already holds (it is ours to resize). */
static int reserve_room(const struct store *s, uint64_t *ret)
{
    _cleanup_free_ char *dir = store_sibling_path(s, "");
    struct statvfs v;
    struct stat st;

    if (!dir)
        return -ENOMEM;
    if (statvfs(*dir ? dir : ".", &v) < 0)
        return -errno;
    uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
    if (lstat(s->reserve_path, &st) == 0 && S_ISREG(st.st_mode))
        avail += (uint64_t)st.st_blocks * 512;
    *ret = avail;
    return 0;
}

/* Writes zeros where the file system cannot allocate without them. */
static int fill_zeros(int fd, uint64_t bytes)
{
    static const char zeros[65536];

    for (uint64_t done = 0; done < bytes;) {
        ssize_t n = write(fd, zeros, MIN(sizeof zeros, bytes - done));
        if (n <= 0)
            return n < 0 ? -errno : -ENOSPC;
        done += (uint64_t)n;
    }
    return 0;
}

/* Makes the reserve file exactly bytes long, allocated for real (fallocate; zeros where the file
 * system lacks it) so that deleting it frees blocks. One of the right size is kept as it is. A
 * regular file this could not finish is deleted: no partial reserve stays behind to hold space
 * that nobody counts on. */
static int reserve_alloc(struct store *s, uint64_t bytes)
{
    struct stat st;
    _cleanup_close_ int fd = open(s->reserve_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    int r = 0;

    if (fd < 0 || fstat(fd, &st) < 0)
        return -errno; /* a symlink or a directory there is not ours to remove */
    if (!S_ISREG(st.st_mode))
        return -EEXIST;
    if ((uint64_t)st.st_size == bytes && st.st_blocks * 512 >= (off_t)bytes)
        return 0;
    if (ftruncate(fd, 0) < 0)
        r = -errno;
    else if (posix_fallocate(fd, 0, (off_t)bytes) != 0)
        r = fill_zeros(fd, bytes);
    if (r >= 0 && fdatasync(fd) < 0)
        r = -errno;
    if (r < 0)
        (void)unlink(s->reserve_path);
    return r;
}

/* Sets the reserve aside at the size that fits now; a reserve that does not fit is removed. */
static int reserve_arm(struct store *s)
{
    uint64_t room = 0, bytes;
    struct stat st;

    if (s->reserve_want == 0) {
        s->reserve_state = "disabled";
        return 0;
    }
    int r = reserve_room(s, &room);
    bytes = r < 0 ? 0 : store_reserve_fit(s->reserve_want, room);
    if (bytes == 0) {
        if (lstat(s->reserve_path, &st) == 0 && S_ISREG(st.st_mode))
            (void)unlink(s->reserve_path);
        return r < 0 ? r : -ENOSPC;
    }
    if ((r = reserve_alloc(s, bytes)) < 0)
        return r;
    s->reserve_bytes = bytes;
    s->reserve_state = "armed";
    return 0;
}

bool store_reserve_release(struct store *s)
{
    if (strcmp(s->reserve_state, "armed") != 0)
        return false;
    if (unlink(s->reserve_path) < 0 && errno != ENOENT)
        return false;
    s->reserve_state = "released";
    s->reserve_bytes = 0;
    if (reserve_room(s, &s->released_room) < 0)
        s->released_room = UINT64_MAX; /* unknown: it comes back at the next start */
    return true;
}

int store_reserve_rearm(struct store *s)
{
    uint64_t room;

    if (strcmp(s->reserve_state, "released") != 0 && strcmp(s->reserve_state, "degraded") != 0)
        return 0;
    /* Space has come back only when there is more than the reserve's release left: what it freed
     * is for the writes that needed it, not for setting a smaller reserve aside at once. */
    if (!strcmp(s->reserve_state, "released") &&
        (reserve_room(s, &room) < 0 || room <= s->released_room))
        return 0;
    return reserve_arm(s) == 0 ? 1 : 0;
}

static void *checkpointer_main(void *arg)
{
    struct store *s = arg;
    struct checkpointer *c = &s->ckpt;
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        db = NULL; /* the log grows until droverd restarts: SQLite checkpoints at close */
    }
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        if (!c->want) {
            pthread_cond_wait(&c->wake, &c->lock);
            continue;
        }
        c->want = false;
        pthread_mutex_unlock(&c->lock);
        int rc = db ? sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL)
                    : SQLITE_ERROR;
        pthread_mutex_lock(&c->lock);
        c->done += rc == SQLITE_OK;
    }
    pthread_mutex_unlock(&c->lock);
    sqlite3_close(db);
    return NULL;
}

/* After every commit (SQLite's WAL hook, on the loop): a log of CHECKPOINT_PAGES or more is
 * handed to the checkpoint thread. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store *s = arg;
    struct checkpointer *c = &s->ckpt;
    (void)db;
    (void)name;

    if (pages < CHECKPOINT_PAGES)
        return SQLITE_OK;
    if (!c->started) {
        sigset_t all, old;
        sigfillset(&all); /* signals are the loop's */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        c->started = pthread_create(&c->thread, NULL, checkpointer_main, s) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!c->started) { /* no thread: the loop does it, as SQLite would have */
            (void)sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            return SQLITE_OK;
        }
    }
    pthread_mutex_lock(&c->lock);
    c->want = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    return SQLITE_OK;
}

static void checkpointer_stop(struct store *s)
{
    struct checkpointer *c = &s->ckpt;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        c->started = false;
    }
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
}

int store_open(const char *path, uint64_t reserve_bytes, struct store **ret)
{
    struct store *s = calloc(1, sizeof *s);
    int r;

    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->ckpt.lock, NULL);
    pthread_cond_init(&s->ckpt.wake, NULL);
    s->path = strdup(path);
    if (!s->path || !(s->reserve_path = store_sibling_path(s, "emergency-reserve.bin"))) {
        store_close(s);
        return -ENOMEM;
    }
    /* The reserve first: on a disk that filled up while droverd was away, the space of one that
     * no longer fits is what lets the database open. */
    s->reserve_want = reserve_bytes;
    s->reserve_state = "degraded";
    (void)reserve_arm(s); /* the store works without one; the state says so */
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
    sqlite3_wal_hook(s->db, on_wal_commit, s); /* replaces SQLite's automatic checkpoint */
    *ret = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    checkpointer_stop(s);
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

static int run(struct store *s, sqlite3_stmt *st, bool may_release)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_FULL && may_release && store_reserve_release(s)) {
        (void)note(s, -ENOSPC); /* saved by the reserve, but the disk was full */
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    return note(s, errno_from_sqlite(rc));
}

int store_run(struct store *s, sqlite3_stmt *st)
{
    return run(s, st, true);
}

int store_try(struct store *s, sqlite3_stmt *st)
{
    return run(s, st, false);
}

/* The size of a file beside the database, 0 when it is not there. */
static uint64_t file_bytes(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

void store_get_stats(const struct store *s, struct store_stats *ret)
{
    _cleanup_free_ char *wal = NULL;

    if (asprintf(&wal, "%s-wal", s->path) < 0)
        wal = NULL;
    *ret = (struct store_stats){
        .db_bytes = file_bytes(s->path) + file_bytes(wal),
        .reserve_state = s->reserve_state,
        .reserve_bytes = s->reserve_bytes,
        .last_error = s->last_error,
        .last_error_ns = s->last_error_ns,
    };
    struct checkpointer *c = (struct checkpointer *)&s->ckpt;
    pthread_mutex_lock(&c->lock);
    ret->checkpoints = c->done;
    pthread_mutex_unlock(&c->lock);
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
