/* Unit tests of src/store: opening (WAL, the schema brought up to date), durability of a commit
 * across a crash, migrations from every older layout by PRAGMA user_version (one transaction
 * each), refusing a database written by a newer schema, the emergency reserve beside the
 * database (armed, kept, resized, disabled, degraded, released by a full database or a full
 * disk, sized to what a small disk can spare, made again when space returns), sibling paths and
 * the errno mapping of prepare and run. Every case works in its own
 * mkdtemp directory. */
#include "unit.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/macro.h"
#include "store/store.h"

static char dir[] = "/tmp/drover-store-XXXXXX"; /* this case's directory */
static char db[64];                             /* the database in it */
static char reserve[64];                        /* the reserve beside it */

static void setup(void)
{
    strcpy(dir, "/tmp/drover-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/drover.db", dir);
    snprintf(reserve, sizeof reserve, "%s/emergency-reserve.bin", dir);
}

static void teardown(void)
{
    char cmd[128];
    umount(dir); /* the full-disk case mounts a tmpfs here; elsewhere this fails harmlessly */
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- SQLite behind the store's back ---- */

static void raw(const char *sql)
{
    sqlite3 *h;
    char *err = NULL;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(h, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err);
    sqlite3_close(h);
}

/* The first column of the first row of sql, as an integer, on any connection. */
static long long query_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st;
    ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK, "%s", sql);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static long long raw_int(const char *sql)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    long long v = query_int(h, sql);
    sqlite3_close(h);
    return v;
}

static bool has_column(sqlite3 *h, const char *table, const char *column)
{
    char sql[128];
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "SELECT %s FROM %s", column, table);
    int rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    sqlite3_finalize(st);
    return rc == SQLITE_OK;
}

static struct store *open_ok(uint64_t reserve_bytes)
{
    struct store *s = NULL;
    int r = store_open(db, reserve_bytes, &s);
    ck_assert_msg(r == 0, "store_open: %s", strerror(-r));
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Inserts a service named name through the store. */
static int add_service(struct store *s, const char *name)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(store_prepare(s, "INSERT INTO services (name, cmd) VALUES (?, '[]')", &st), 0);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = store_run(s, st);
    sqlite3_finalize(st);
    return r;
}

/* ---- opening and migrations ---- */

START_TEST(open_fresh_database)
{
    static const char *const columns[][2] = {
        {"tracked_processes", "pid"},
        {"tracked_processes", "created_at_ms"},
        {"tracked_processes", "start_ticks"},
        {"tracked_processes", "ppid_start_ticks"},
        {"services", "name"},
        {"services", "start_ticks"},
        {"services", "from_config"},
        {"services", "depends_on"},
        {"services", "probes"},
    };
    struct store *s = open_ok(0);

    ck_assert_str_eq(store_path(s), db);
    ck_assert_ptr_ne(store_path(s), db); /* a copy */
    ck_assert_int_ge(store_schema_version(), 5);
    sqlite3 *h = store_db(s);
    ck_assert_int_eq(query_int(h, "PRAGMA user_version"), store_schema_version());
    ck_assert_int_eq(query_int(h, "PRAGMA synchronous"), 1); /* NORMAL */
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++)
        ck_assert_msg(has_column(h, columns[i][0], columns[i][1]), "%s.%s", columns[i][0],
                      columns[i][1]);
    ck_assert_str_eq(store_reserve_state(s), "disabled");
    ck_assert_int_eq(access(reserve, F_OK), -1); /* size 0: no file */
    ck_assert_int_eq(add_service(s, "web"), 0);
    store_close(s);
    store_close(NULL);

    /* Opened again: nothing to migrate, the row is there. */
    s = open_ok(0);
    ck_assert_int_eq(query_int(store_db(s), "SELECT count(*) FROM services WHERE name = 'web'"), 1);
    ck_assert_int_eq(query_int(store_db(s), "PRAGMA user_version"), store_schema_version());
    store_close(s);
}
END_TEST

/* A commit is durable when store_run returns, even if droverd dies before closing. */
START_TEST(commit_survives_a_crash)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct store *s;
        if (store_open(db, 0, &s) < 0 || add_service(s, "before-crash") < 0)
            _exit(1);
        _exit(0); /* no store_close */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct store *s = open_ok(0);
    ck_assert_int_eq(
        query_int(store_db(s), "SELECT count(*) FROM services WHERE name = 'before-crash'"), 1);
    store_close(s);
}
END_TEST

/* The column each migration from 3 on adds to services (7 fills one in and adds none); a
 * database at version v lacks those of migrations v+1 and later. */
static const char *const added_by[] = {
    [3] = "from_config", [4] = "depends_on", [5] = "probes", [6] = "wanted",
    [7] = NULL,          [8] = "cgroup",     [9] = NULL,     [10] = NULL,
    [11] = NULL,         [12] = "container", [13] = NULL};
#define LAST_MIGRATION 13

/* Rewinds the database to the layout of version v (v >= 2): the later columns dropped. */
static void rewind_to(int v, const char *keep_column)
{
    char sql[128];
    for (int m = v + 1; m <= LAST_MIGRATION; m++) {
        if (!added_by[m] || (keep_column && strcmp(added_by[m], keep_column) == 0))
            continue;
        snprintf(sql, sizeof sql, "ALTER TABLE services DROP COLUMN %s", added_by[m]);
        raw(sql);
    }
    if (v < 9)
        raw("DROP TABLE daemon_state"); /* migration 9 made it */
    if (v < 10)
        raw("DROP TABLE stratavore"); /* migration 10 made it */
    if (v < 11)
        raw("DROP TABLE containers"); /* migration 11 made it */
    if (v < 13)
        raw("DROP TABLE agents; DROP TABLE agent_messages"); /* migration 13 made them */
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    raw(sql);
}

START_TEST(migrates_each_older_layout)
{
    int from = _i; /* 2 ... LAST_MIGRATION - 1 */
    struct store *s = open_ok(0);

    /* added_by covers every migration */
    ck_assert_int_eq(store_schema_version(), LAST_MIGRATION);
    ck_assert_int_eq(add_service(s, "old"), 0);
    ck_assert_int_eq(add_service(s, "was-online"), 0);
    store_close(s);
    rewind_to(from, NULL);
    raw("UPDATE services SET status = 'online' WHERE name = 'was-online'");
    ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_table_info('services') WHERE name IN "
                             "('from_config', 'depends_on', 'probes', 'wanted', 'cgroup', "
                             "'container')"),
                     MIN(from, 6) - 2 + (from >= 8) + (from >= 12));

    s = open_ok(0);
    sqlite3 *h = store_db(s);
    ck_assert_int_eq(query_int(h, "PRAGMA user_version"), LAST_MIGRATION);
    /* The old rows are kept and take each new column's default... */
    ck_assert_int_eq(query_int(h, "SELECT count(*) FROM services WHERE name = 'old' AND "
                                  "from_config = 0 AND depends_on = '[]' AND probes = '[]' AND "
                                  "wanted = 0 AND cgroup = '' AND container = ''"),
                     1);
    /* ...and a service that was online when the layout was older is wanted up (migration 7),
     * unless the database already had the column (then it says for itself). */
    ck_assert_int_eq(query_int(h, "SELECT wanted FROM services WHERE name = 'was-online'"),
                     from < 7);
    store_close(s);
}
END_TEST

/* Version 0 is any SQLite file droverd has not touched: what is in it stays. */
START_TEST(migrates_from_version_zero)
{
    raw("CREATE TABLE unrelated (x INTEGER); INSERT INTO unrelated VALUES (42)");
    struct store *s = open_ok(0);
    sqlite3 *h = store_db(s);
    ck_assert_int_eq(query_int(h, "PRAGMA user_version"), store_schema_version());
    ck_assert_int_eq(query_int(h, "SELECT x FROM unrelated"), 42);
    ck_assert(has_column(h, "services", "probes"));
    store_close(s);
}
END_TEST

/* Each migration is its own transaction: one that fails is rolled back whole, the ones before
 * it stay committed, and the database is left usable. */
START_TEST(failed_migration_keeps_earlier_ones)
{
    struct store *s = open_ok(0);
    store_close(s);
    rewind_to(2, "depends_on"); /* migration 4 will find its column already there */

    s = (struct store *)&s;
    ck_assert_int_lt(store_open(db, 0, &s), 0);
    ck_assert_ptr_eq(s, (struct store *)&s); /* ret untouched on failure */
    ck_assert_int_eq(raw_int("PRAGMA user_version"), 3);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_table_info('services') WHERE name = "
                             "'from_config'"),
                     1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_table_info('services') WHERE name = "
                             "'probes'"),
                     0);
    raw("BEGIN IMMEDIATE; INSERT INTO services (name, cmd) VALUES ('x', '[]'); COMMIT");
}
END_TEST

START_TEST(refuses_newer_schema)
{
    static const int ahead[] = {1, 2, 1000};
    for (size_t i = 0; i < sizeof ahead / sizeof ahead[0]; i++) {
        struct store *s = open_ok(0);
        store_close(s);
        char sql[64];
        int v = store_schema_version() + ahead[i];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
        raw(sql);
        s = (struct store *)&s;
        ck_assert_int_eq(store_open(db, 0, &s), -EPROTO);
        ck_assert_ptr_eq(s, (struct store *)&s);
        ck_assert_int_eq(raw_int("PRAGMA user_version"), v); /* not touched */
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", store_schema_version());
        raw(sql);
    }
    /* The version droverd writes is not "newer". */
    store_close(open_ok(0));
}
END_TEST

START_TEST(open_errors)
{
    struct store *s = (struct store *)&s;
    char path[128];

    snprintf(path, sizeof path, "%s/missing/drover.db", dir);
    ck_assert_int_eq(store_open(path, 0, &s), -ENOENT);
    int fd = open(db, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    char junk[4096];
    memset(junk, 'j', sizeof junk);
    ck_assert_int_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    ck_assert_int_eq(store_open(db, 0, &s), -EBADMSG);
    ck_assert_ptr_eq(s, (struct store *)&s);
}
END_TEST

START_TEST(sibling_paths)
{
    struct store *s = open_ok(0);
    char want[128], *p;

    snprintf(want, sizeof want, "%s/services.snapshot.json", dir);
    p = store_sibling_path(s, "services.snapshot.json");
    ck_assert_str_eq(p, want);
    free(p);
    snprintf(want, sizeof want, "%s/", dir);
    p = store_sibling_path(s, "");
    ck_assert_str_eq(p, want);
    free(p);
    store_close(s);

    /* Relative: a bare name has the current directory for a parent. */
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(store_open("bare.db", 0, &s), 0);
    p = store_sibling_path(s, "x");
    ck_assert_str_eq(p, "x");
    free(p);
    store_close(s);
    ck_assert_int_eq(mkdir("sub", 0700), 0);
    ck_assert_int_eq(store_open("sub/in.db", 64 << 10, &s), 0);
    p = store_sibling_path(s, "x");
    ck_assert_str_eq(p, "sub/x");
    free(p);
    ck_assert_int_eq(access("sub/emergency-reserve.bin", F_OK), 0); /* beside it, not here */
    ck_assert_int_eq(access("emergency-reserve.bin", F_OK), -1);
    store_close(s);
}
END_TEST

/* ---- the emergency reserve ---- */

static struct stat reserve_stat(void)
{
    struct stat st;
    ck_assert_msg(lstat(reserve, &st) == 0, "%s: %s", reserve, strerror(errno));
    return st;
}

START_TEST(reserve_armed_kept_resized_disabled)
{
    struct store *s = open_ok(1 << 20);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    store_close(s);
    struct stat st = reserve_stat();
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, 1 << 20);
    ck_assert_int_ge(st.st_blocks * 512, 1 << 20); /* allocated, not sparse */

    /* The right size already: kept as it is. */
    s = open_ok(1 << 20);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    store_close(s);
    struct stat again = reserve_stat();
    ck_assert_uint_eq(again.st_ino, st.st_ino);
    ck_assert_int_eq(again.st_mtim.tv_sec, st.st_mtim.tv_sec);
    ck_assert_int_eq(again.st_mtim.tv_nsec, st.st_mtim.tv_nsec);

    /* Another size: made that size. */
    s = open_ok(300 << 10);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    store_close(s);
    st = reserve_stat();
    ck_assert_int_eq(st.st_size, 300 << 10);
    ck_assert_int_ge(st.st_blocks * 512, 300 << 10);

    /* A sparse file of the right size is not a reserve: deleting it would free nothing. */
    ck_assert_int_eq(truncate(reserve, 0), 0);
    ck_assert_int_eq(truncate(reserve, 300 << 10), 0);
    ck_assert_int_lt(reserve_stat().st_blocks * 512, 300 << 10);
    s = open_ok(300 << 10);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    store_close(s);
    ck_assert_int_ge(reserve_stat().st_blocks * 512, 300 << 10);

    s = open_ok(0);
    ck_assert_str_eq(store_reserve_state(s), "disabled");
    store_close(s);
}
END_TEST

/* A reserve that cannot be made leaves the store working, "degraded"; a symlink in its place is
 * never followed. */
START_TEST(reserve_degraded)
{
    char target[128];
    snprintf(target, sizeof target, "%s/precious", dir);
    FILE *f = fopen(target, "w");
    ck_assert_ptr_nonnull(f);
    fputs("precious", f);
    fclose(f);
    ck_assert_int_eq(symlink(target, reserve), 0);
    struct store *s = open_ok(1 << 20);
    ck_assert_str_eq(store_reserve_state(s), "degraded");
    ck_assert_int_eq(add_service(s, "works"), 0);
    store_close(s);
    struct stat st;
    ck_assert_int_eq(stat(target, &st), 0);
    ck_assert_int_eq(st.st_size, 8); /* untouched */

    ck_assert_int_eq(unlink(reserve), 0);
    ck_assert_int_eq(mkdir(reserve, 0700), 0);
    s = open_ok(1 << 20);
    ck_assert_str_eq(store_reserve_state(s), "degraded");
    ck_assert_int_eq(add_service(s, "still works"), 0);
    store_close(s);
}
END_TEST

/* A statement inserting a row of n bytes into tracked_processes. */
static sqlite3_stmt *big_insert(struct store *s, size_t n)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(store_prepare(s,
                                   "INSERT INTO tracked_processes (pid, created_at_ms, command,"
                                   " registered_at) VALUES (?, 0, ?, 0)",
                                   &st),
                     0);
    char *cmd = malloc(n + 1);
    memset(cmd, 'c', n);
    cmd[n] = '\0';
    sqlite3_bind_text(st, 2, cmd, (int)n, SQLITE_TRANSIENT);
    free(cmd);
    return st;
}

/* A database at its page limit is full the way a disk is: the reserve goes, the write is
 * retried once, and it still fails with -ENOSPC; only an armed reserve is ever released. */
START_TEST(reserve_released_when_database_full)
{
    struct store *s = open_ok(64 << 10);
    sqlite3 *h = store_db(s);
    sqlite3_stmt *st = big_insert(s, 32 << 10);
    char sql[64];

    ck_assert_str_eq(store_reserve_state(s), "armed");
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", query_int(h, "PRAGMA page_count"));
    query_int(h, sql);
    sqlite3_bind_int(st, 1, 1);
    ck_assert_int_eq(store_run(s, st), -ENOSPC);
    ck_assert_str_eq(store_reserve_state(s), "released");
    ck_assert_int_eq(access(reserve, F_OK), -1);
    sqlite3_bind_int(st, 1, 2);
    ck_assert_int_eq(store_run(s, st), -ENOSPC); /* nothing left to release */
    ck_assert_str_eq(store_reserve_state(s), "released");
    query_int(h, "PRAGMA max_page_count = 1000000");
    ck_assert_int_eq(store_run(s, st), 0); /* the statement was reset: usable again */
    ck_assert_int_eq(query_int(h, "SELECT count(*) FROM tracked_processes"), 1);
    sqlite3_finalize(st);
    store_close(s);

    /* Disabled: a full database releases nothing. */
    s = open_ok(0);
    h = store_db(s);
    st = big_insert(s, 32 << 10);
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", query_int(h, "PRAGMA page_count"));
    query_int(h, sql);
    sqlite3_bind_int(st, 1, 3);
    ck_assert_int_eq(store_run(s, st), -ENOSPC);
    ck_assert_str_eq(store_reserve_state(s), "disabled");
    sqlite3_finalize(st);
    store_close(s);
}
END_TEST

/* A small tmpfs of size in this case's directory, in a mount namespace of the test's own; false
 * (nothing to check) as an ordinary user, who cannot mount. */
static bool small_disk(const char *size)
{
    char opts[32];

    if (geteuid() != 0)
        return false;
    snprintf(opts, sizeof opts, "size=%s", size);
    ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
    ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    ck_assert_int_eq(mount("tmpfs", dir, "tmpfs", 0, opts), 0);
    return true;
}

/* Fills what is left of the disk with the file name in this case's directory. */
static void fill_disk(const char *name)
{
    static const char block[4096];
    char path[128];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    while (write(fd, block, sizeof block) > 0)
        ;
    ck_assert_int_eq(errno, ENOSPC);
    close(fd);
}

static uint64_t disk_free(void)
{
    struct statvfs v;
    ck_assert_int_eq(statvfs(dir, &v), 0);
    return (uint64_t)v.f_bavail * v.f_frsize;
}

/* A full disk, for real. Deleting the reserve frees enough for the retried write to succeed. */
START_TEST(reserve_saves_a_write_on_full_disk)
{
    if (!small_disk("4m"))
        return;
    struct store *s = open_ok(512 << 10);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    sqlite3_stmt *st = big_insert(s, 16 << 10);
    sqlite3_bind_int(st, 1, 1);
    ck_assert_int_eq(store_run(s, st), 0);
    fill_disk("filler");

    sqlite3_bind_int(st, 1, 2);
    ck_assert_int_eq(store_run(s, st), 0); /* full, released, retried, written */
    ck_assert_str_eq(store_reserve_state(s), "released");
    ck_assert_int_eq(access(reserve, F_OK), -1);
    ck_assert_int_eq(query_int(store_db(s), "SELECT count(*) FROM tracked_processes"), 2);
    sqlite3_finalize(st);
    store_close(s);
}
END_TEST

/* The reserve's size: what was asked for, cut to a quarter of the free space, and none when the
 * cut leaves too little to be worth having. */
START_TEST(reserve_fit_sizes)
{
    static const struct {
        uint64_t want, avail, fit;
    } cases[] = {
        {0, 1ull << 30, 0},                             /* disabled */
        {32 << 20, 1ull << 30, 32 << 20},               /* room enough: as asked */
        {32 << 20, 8 << 20, 2 << 20},                   /* a quarter of the free space */
        {32 << 20, (8 << 20) - 100000, 2072576 - 4096}, /* cut to whole pages */
        {32 << 20, 4 << 20, 1 << 20},                   /* the floor exactly */
        {32 << 20, (4 << 20) - 4096, 0},                /* below it: none */
        {32 << 20, 0, 0},                               /* a full disk */
        {64 << 10, 1ull << 30, 64 << 10},               /* smaller than the floor, as asked */
        {64 << 10, 256 << 10, 64 << 10},                /* ... when it fits */
        {64 << 10, 200 << 10, 0},                       /* and never cut */
        {1000, 1 << 20, 1000},                          /* an odd size is kept as it is */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        ck_assert_msg(store_reserve_fit(cases[i].want, cases[i].avail) == cases[i].fit,
                      "case %zu: fit(%llu, %llu) = %llu, not %llu", i,
                      (unsigned long long)cases[i].want, (unsigned long long)cases[i].avail,
                      (unsigned long long)store_reserve_fit(cases[i].want, cases[i].avail),
                      (unsigned long long)cases[i].fit);
}
END_TEST

static struct store_stats stats(struct store *s)
{
    struct store_stats st;
    store_get_stats(s, &st);
    return st;
}

/* A reserve far larger than the disk takes a quarter of it, whole; one that no longer fits is
 * removed rather than left to hold the space; none that cannot be made is left partial. */
START_TEST(reserve_fits_a_small_disk)
{
    if (!small_disk("8m"))
        return;
    struct store *s = open_ok(32 << 20);
    struct store_stats st = stats(s);
    ck_assert_str_eq(st.reserve_state, "armed");
    ck_assert_uint_ge(st.reserve_bytes, STORE_RESERVE_FLOOR);
    ck_assert_uint_le(st.reserve_bytes, 2 << 20);
    ck_assert_int_eq(reserve_stat().st_size, st.reserve_bytes);
    ck_assert_int_ge(reserve_stat().st_blocks * 512, st.reserve_bytes);
    ck_assert_uint_ge(disk_free(), 3 * st.reserve_bytes - 512 * 1024); /* room left, plenty */
    ck_assert_uint_gt(st.db_bytes, 0);
    ck_assert_int_eq(st.last_error, 0);
    store_close(s);

    /* The disk filled up while droverd was away: the old reserve no longer fits, and goes. */
    fill_disk("filler");
    s = open_ok(32 << 20);
    ck_assert_str_eq(store_reserve_state(s), "degraded");
    ck_assert_uint_eq(stats(s).reserve_bytes, 0);
    ck_assert_int_eq(access(reserve, F_OK), -1);
    ck_assert_uint_ge(disk_free(), STORE_RESERVE_FLOOR); /* what it held is free again */
    store_close(s);
}
END_TEST

/* A store that wants a 32 MiB reserve on a tmpfs of size, the rest of which is then filled (the
 * file "filler"), and *ret_insert a statement inserting a 16 KiB row; NULL as an ordinary user. */
static struct store *full_store(const char *size, sqlite3_stmt **ret_insert)
{
    if (!small_disk(size))
        return NULL;
    struct store *s = open_ok(32 << 20);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    *ret_insert = big_insert(s, 16 << 10);
    fill_disk("filler");
    return s;
}

static void remove_file(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(unlink(path), 0);
}

/* On a full disk a write that may be refused (store_try) leaves the reserve alone; store_run
 * spends it; the last error is kept with its time; once space returns the reserve is made
 * again, and not before. */
START_TEST(reserve_rearmed_when_space_returns)
{
    sqlite3_stmt *st;
    struct store *s = full_store("8m", &st);
    if (!s)
        return;
    uint64_t size = stats(s).reserve_bytes;
    ck_assert_int_eq(store_reserve_rearm(s), 0); /* armed: nothing to do */

    sqlite3_bind_int(st, 1, 1);
    ck_assert_int_eq(store_try(s, st), -ENOSPC);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    struct store_stats full = stats(s);
    ck_assert_int_eq(full.last_error, -ENOSPC);
    ck_assert_uint_gt(full.last_error_ns, 0);
    ck_assert_int_eq(store_run(s, st), 0);
    ck_assert_str_eq(store_reserve_state(s), "released");
    ck_assert_int_eq(access(reserve, F_OK), -1);
    fill_disk("filler2");
    ck_assert_int_eq(store_reserve_rearm(s), 0); /* no room: still released, no file */
    ck_assert_str_eq(store_reserve_state(s), "released");
    ck_assert_int_eq(access(reserve, F_OK), -1);

    remove_file("filler");
    ck_assert_int_eq(store_reserve_rearm(s), 1);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    ck_assert_uint_ge(stats(s).reserve_bytes, STORE_RESERVE_FLOOR);
    ck_assert_uint_le(stats(s).reserve_bytes, size);
    ck_assert_int_ge(reserve_stat().st_blocks * 512, stats(s).reserve_bytes);
    ck_assert_int_eq(stats(s).last_error, -ENOSPC); /* the last error stays known */
    sqlite3_finalize(st);
    store_close(s);
}
END_TEST

/* The space a released reserve frees is for the writes that needed it: a quarter of it would
 * fit, but the reserve waits until space has really come back. */
START_TEST(reserve_waits_for_space_to_return)
{
    sqlite3_stmt *st;
    struct store *s = full_store("32m", &st);
    if (!s)
        return;
    sqlite3_bind_int(st, 1, 1);
    ck_assert_int_eq(store_run(s, st), 0);
    ck_assert_str_eq(store_reserve_state(s), "released");
    ck_assert_uint_ge(store_reserve_fit(32 << 20, disk_free()), STORE_RESERVE_FLOOR);
    ck_assert_int_eq(store_reserve_rearm(s), 0);
    ck_assert_str_eq(store_reserve_state(s), "released");
    ck_assert_int_eq(access(reserve, F_OK), -1);
    remove_file("filler");
    ck_assert_int_eq(store_reserve_rearm(s), 1);
    ck_assert_str_eq(store_reserve_state(s), "armed");
    sqlite3_finalize(st);
    store_close(s);
}
END_TEST

/* ---- prepare and run ---- */

START_TEST(prepare_and_run_errors)
{
    struct store *s = open_ok(0);
    sqlite3_stmt *st = (sqlite3_stmt *)&st;

    ck_assert_int_eq(store_prepare(s, "SELEKT nonsense", &st), -EINVAL);
    ck_assert_int_eq(store_prepare(s, "SELECT * FROM no_such_table", &st), -EINVAL);
    ck_assert_int_eq(add_service(s, "one"), 0);
    ck_assert_int_eq(add_service(s, "one"), -EEXIST); /* UNIQUE */
    ck_assert_int_eq(add_service(s, "two"), 0);

    /* NOT NULL; then the same statement, reset by store_run, runs again. */
    ck_assert_int_eq(store_prepare(s, "INSERT INTO services (name, cmd) VALUES ('three', ?)", &st),
                     0);
    ck_assert_int_eq(store_run(s, st), -EEXIST);
    sqlite3_bind_text(st, 1, "[]", -1, SQLITE_STATIC);
    ck_assert_int_eq(store_run(s, st), 0);
    sqlite3_finalize(st);

    /* A statement that yields rows runs to its first and is reset. */
    ck_assert_int_eq(store_prepare(s, "SELECT name FROM services", &st), 0);
    ck_assert_int_eq(store_run(s, st), 0);
    ck_assert_int_eq(store_run(s, st), 0);
    sqlite3_finalize(st);
    ck_assert_int_eq(query_int(store_db(s), "SELECT count(*) FROM services"), 3);
    store_close(s);
}
END_TEST

/* Once the log holds a thousand pages, a thread of the store's checkpoints it: not the caller,
 * whose commits go on meanwhile. */
START_TEST(checkpoints_off_the_caller)
{
    struct store *s = open_ok(0);
    struct store_stats st;
    char name[32];

    store_get_stats(s, &st);
    ck_assert_uint_eq(st.checkpoints, 0);
    for (int i = 0; i < 1500; i++) { /* a page or more each */
        snprintf(name, sizeof name, "svc-%d", i);
        ck_assert_int_eq(add_service(s, name), 0);
    }
    for (int i = 0; i < 3000 && (store_get_stats(s, &st), st.checkpoints == 0); i++)
        usleep(10 * 1000);
    ck_assert_uint_ge(st.checkpoints, 1);
    store_close(s); /* joins the thread */
    s = open_ok(0);
    ck_assert_int_eq(query_int(store_db(s), "SELECT count(*) FROM services"), 1500);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, open_fresh_database);
    tcase_add_test(tc, commit_survives_a_crash);
    tcase_add_loop_test(tc, migrates_each_older_layout, 2, LAST_MIGRATION);
    tcase_add_test(tc, migrates_from_version_zero);
    tcase_add_test(tc, failed_migration_keeps_earlier_ones);
    tcase_add_test(tc, refuses_newer_schema);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, sibling_paths);
    tcase_add_test(tc, reserve_armed_kept_resized_disabled);
    tcase_add_test(tc, reserve_degraded);
    tcase_add_test(tc, reserve_released_when_database_full);
    tcase_add_test(tc, reserve_saves_a_write_on_full_disk);
    tcase_add_test(tc, reserve_fit_sizes);
    tcase_add_test(tc, reserve_fits_a_small_disk);
    tcase_add_test(tc, reserve_rearmed_when_space_returns);
    tcase_add_test(tc, reserve_waits_for_space_to_return);
    tcase_add_test(tc, prepare_and_run_errors);
    tcase_add_test(tc, checkpoints_off_the_caller);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
