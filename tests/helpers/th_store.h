/*
 * th_store.h - the history store's schema (docs/store.md, version 1)
 * written out in plain SQL, for tests that build a store by hand so that
 * reports are checked against data the store module did not write.
 */
#ifndef TH_STORE_H
#define TH_STORE_H

/* Creates the tables and indexes, sets WAL, application_id and
 * user_version; for sqlite3_exec on an empty database. */
extern const char th_store_schema[];

#endif
