/*
 * migrate: move a data directory's store into PostgreSQL (tessera store
 * migrate). The SQLite file stays as it was; tessera.json names the new
 * store afterwards.
 */
#ifndef TESSERA_CA_MIGRATE_H
#define TESSERA_CA_MIGRATE_H

#include "ca/store.h"
#include "common/status.h"

/*
 * Copy the store of data_dir into the empty PostgreSQL database url
 * (store_copy), then write url into tessera.json. Refused when the store
 * is in PostgreSQL already, when url is not a postgresql:// URL or holds
 * a password, and while tessera serve runs on data_dir (its serve.lock):
 * a write during the copy would be lost. *counts says what was copied.
 */
enum status ca_store_migrate(const char *data_dir, const char *url,
    struct store_copy_counts *counts) MUST_CHECK;

#endif
