/* th_store.c - see th_store.h. */
#include "th_store.h"

const char th_store_schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE clinic (id INTEGER PRIMARY KEY, hsa_id TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, municipality TEXT NOT NULL, operator TEXT NOT NULL,"
    " has_booking INTEGER NOT NULL, first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL, last_ok INTEGER);"
    "CREATE TABLE poll (id INTEGER PRIMARY KEY, clinic_id INTEGER NOT NULL"
    " REFERENCES clinic(id), t_first INTEGER NOT NULL, t_last INTEGER NOT"
    " NULL, n INTEGER NOT NULL, interval_s INTEGER NOT NULL, local_day"
    " INTEGER NOT NULL, deadline_day INTEGER NOT NULL, status INTEGER NOT"
    " NULL, web INTEGER NOT NULL, err_class TEXT, first_free INTEGER,"
    " within_guarantee INTEGER, free_slots INTEGER, free_within INTEGER);"
    "CREATE INDEX poll_clinic_t ON poll(clinic_id, t_first);"
    "CREATE TABLE slot (id INTEGER PRIMARY KEY, clinic_id INTEGER NOT NULL"
    " REFERENCES clinic(id), start INTEGER NOT NULL, end INTEGER NOT NULL,"
    " practitioner TEXT, service TEXT, first_seen INTEGER NOT NULL,"
    " last_seen INTEGER, gone_at INTEGER, gone_reason TEXT,"
    " within_at_gone INTEGER);"
    "CREATE INDEX slot_clinic_start ON slot(clinic_id, start);"
    "PRAGMA application_id = 1397509972;" /* 0x534c4f54 "SLOT" */
    "PRAGMA user_version = 1;";
