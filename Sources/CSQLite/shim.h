#ifndef DABBA_CSQLITE_SHIM_H
#define DABBA_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a cast macro that Swift cannot import.
static inline int dabba_sqlite3_bind_text_transient(sqlite3_stmt *s, int i, const char *text, int n) {
    return sqlite3_bind_text(s, i, text, n, SQLITE_TRANSIENT);
}
static inline int dabba_sqlite3_bind_blob_transient(sqlite3_stmt *s, int i, const void *data, int n) {
    return sqlite3_bind_blob(s, i, data, n, SQLITE_TRANSIENT);
}
static inline int dabba_sqlite_corrupt(void) { return SQLITE_CORRUPT; }
static inline int dabba_sqlite_notadb(void) { return SQLITE_NOTADB; }
static inline int dabba_sqlite_full(void) { return SQLITE_FULL; }
static inline int dabba_sqlite_busy(void) { return SQLITE_BUSY; }
static inline int dabba_sqlite_constraint_unique(void) { return SQLITE_CONSTRAINT_UNIQUE; }
static inline int dabba_sqlite_constraint_primarykey(void) { return SQLITE_CONSTRAINT_PRIMARYKEY; }
#endif
