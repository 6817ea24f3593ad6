/*
 * libFuzzer target: what audit verification reads from a store whose
 * rows someone else may have written. The input is "ANCHOR\nOBJECT\nDETAIL":
 * the log is reset to one ordinary entry and a checkpoint entry with that
 * object ("seq:N") and detail ("hash=... sig=..."), chained correctly so
 * that the checkpoint's fields are what gets parsed; then the log is
 * verified (with and without the public key) and ANCHOR checked against
 * it. One store in a temporary directory serves every run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "ca/audit.h"
#include "ca/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static sqlite3 *db;
static EVP_PKEY *pub;

struct fields {
	const char *object;
	const char *detail;
};

static enum status
write_log(struct store_txn *txn, void *arg)
{
	const struct fields *f = arg;
	struct store_audit e;
	enum status st;

	if ((st = audit_append(txn, 1, "cert:x", "issue", "0A", "d")) != ST_OK)
		return st;
	memset(&e, 0, sizeof(e));
	if ((st = store_txn_audit_last(txn, &e.seq, e.prev_hash)) != ST_OK)
		return st;
	e.seq++;
	e.time = 2;
	e.actor = (char *)"tessera";
	e.action = (char *)"checkpoint";
	e.object = (char *)f->object;
	e.detail = (char *)f->detail;
	audit_entry_hash(&e, e.hash);
	return store_txn_audit_insert(txn, &e);
}

static int
setup(void)
{
	char dir[] = "/tmp/tessera-fuzz-audit-XXXXXX", path[64];

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/tessera.db", dir);
	if (store_open(path, &store) != ST_OK ||
	    sqlite3_open(path, &db) != SQLITE_OK ||
	    (pub = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		return -1;
	sqlite3_busy_timeout(db, 5000);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_report r;
	struct fields f;
	char *text, *nl1, *nl2;
	int64_t count, bad;

	if (store == NULL && setup() != 0)
		abort();
	if (size > 4096)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if ((nl1 = strchr(text, '\n')) == NULL ||
	    (nl2 = strchr(nl1 + 1, '\n')) == NULL) {
		free(text);
		return 0;
	}
	*nl1 = *nl2 = '\0';
	f.object = nl1 + 1;
	f.detail = nl2 + 1;
	if (sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL) !=
	        SQLITE_OK ||
	    store_write(store, write_log, &f) != ST_OK)
		abort();
	if (audit_verify_report(store, pub, &r) == ST_OK &&
	    (r.count != 2 || r.first_bad != 0))
		abort();
	if (audit_verify(store, &count, &bad) == ST_OK && bad != 0)
		abort();
	if (audit_anchor_check(store, text) == ST_OK && text[0] == '\0')
		abort();
	free(text);
	return 0;
}
