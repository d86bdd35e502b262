/* droverd's SQLite database: one file in the state directory, WAL, schema migrations numbered by
 * PRAGMA user_version. Modules keep their own prepared statements on store_db(); the schema of
 * every module lives in store.c so that migrations stay in one ordered list.
 *
 * Beside the database sits an emergency reserve: a pre-allocated file deleted when a write fails
 * for lack of space, so the daemon can still record what it must (running-process's
 * emergency-reserve.bin). */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Opens (creating) the database at path and brings its schema up to date; up to reserve_bytes of
 * emergency reserve are allocated beside it (0: none), as store_reserve_fit allows. A database
 * newer than this droverd is -EPROTO. */
int store_open(const char *path, uint64_t reserve_bytes, struct store **ret);
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);
const char *store_path(const struct store *s);
/* A file beside the database (the reserve, services.snapshot.json); malloc'd, NULL on OOM. */
char *store_sibling_path(const struct store *s, const char *name);
/* "armed", "released", "degraded" (could not allocate, or too little room) or "disabled" (size
 * 0). */
const char *store_reserve_state(const struct store *s);
/* Steps a prepared write statement to completion and resets it. A full disk releases the reserve
 * and retries once. Returns 0 or -errno (-ENOSPC, -EIO...). */
int store_run(struct store *s, sqlite3_stmt *st);
/* The same without ever releasing the reserve: for a write the caller refuses to make rather than
 * spend the reserve on (what a client asks can be refused; what droverd does on its own cannot). */
int store_try(struct store *s, sqlite3_stmt *st);
/* A transaction around several writes: all of them or none. A failed commit rolls back. */
int store_begin(struct store *s);
int store_commit(struct store *s);
/* Releases the reserve (deletes its file) if it is armed: whether it was. For a transaction
 * that failed on a full disk and is worth a second try (store_run does this for one write). */
bool store_reserve_release(struct store *s);
void store_rollback(struct store *s);
/* Prepares a statement, -ENOMEM/-EINVAL on failure. */
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret);
/* The text of column i of the row a statement stands on, "" for NULL; valid until the statement
 * steps again. */
const char *store_column_text(sqlite3_stmt *st, int i);
/* A value droverd keeps about itself (the daemon_state table) into buf: -ENOENT if never set. */
int store_get_state(struct store *s, const char *key, char *buf, size_t size);
int store_set_state(struct store *s, const char *key, const char *value);
/* The schema version this droverd writes. */
int store_schema_version(void);

/* Below this a reserve smaller than asked for is not worth having (a few hundred row writes). */
#define STORE_RESERVE_FLOOR (1u << 20)
/* The size of a reserve of at most want bytes on a file system with avail bytes free (the reserve
 * itself counted): at most a quarter of avail, rounded down to 4 KiB when cut; 0 (no reserve)
 * when that is below want or STORE_RESERVE_FLOOR, whichever is smaller. */
uint64_t store_reserve_fit(uint64_t want, uint64_t avail);
/* Makes a released (or degraded) reserve again if it fits now, and (released) once the file
 * system has more free space than right after the release: 1 when it is armed again, 0 when not
 * (nothing to do, or still no room; no partial file is left). */
int store_reserve_rearm(struct store *s);

/* How the database stands on its disk (drover status). */
struct store_stats {
    uint64_t db_bytes;         /* the database file and its write-ahead log */
    const char *reserve_state; /* store_reserve_state */
    uint64_t reserve_bytes;    /* the reserve's size while armed, else 0 */
    int last_error;            /* -errno of the last failed write, 0 if none ever failed */
    uint64_t last_error_ns;    /* when it failed (CLOCK_REALTIME) */
    uint64_t checkpoints;      /* write-ahead log checkpoints made off the loop */
};
void store_get_stats(const struct store *s, struct store_stats *ret);
