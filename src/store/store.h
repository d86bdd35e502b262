/* droverd's SQLite database: one file in the state directory, WAL, schema migrations numbered by
 * PRAGMA user_version. Modules keep their own prepared statements on store_db(); the schema of
 * every module lives in store.c so that migrations stay in one ordered list.
 *
 * Beside the database sits an emergency reserve: a pre-allocated file deleted when a write fails
 * for lack of space, so the daemon can still record what it must (running-process's
 * emergency-reserve.bin). */
#pragma once

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Opens (creating) the database at path and brings its schema up to date; reserve_bytes of
 * emergency reserve are allocated beside it (0: none). A database newer than this droverd is
 * -EPROTO. */
int store_open(const char *path, uint64_t reserve_bytes, struct store **ret);
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);
const char *store_path(const struct store *s);
/* A file beside the database (the reserve, services.snapshot.json); malloc'd, NULL on OOM. */
char *store_sibling_path(const struct store *s, const char *name);
/* "armed", "released", "degraded" (could not allocate) or "disabled" (size 0). */
const char *store_reserve_state(const struct store *s);
/* Steps a prepared write statement to completion and resets it. A full disk releases the reserve
 * and retries once. Returns 0 or -errno (-ENOSPC, -EIO...). */
int store_run(struct store *s, sqlite3_stmt *st);
/* A transaction around several writes: all of them or none. A failed commit rolls back. */
int store_begin(struct store *s);
int store_commit(struct store *s);
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
