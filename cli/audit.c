#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "ca/audit.h"
#include "ca/authority.h"
#include "ca/config.h"
#include "ca/store.h"
#include "cli/cli.h"
#include "common/file.h"
#include "common/limits.h"

#define PUBLIC_KEY_FILE "ca/audit.pub.pem"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera audit verify [--data DIR] [--public-key FILE] "
	    "[--anchor SEQ:HASH]\n"
	    "       tessera audit checkpoint [--data DIR]\n\n"
	    "verify walks the audit chain in the store: every entry must "
	    "hold the hash of\nthe one before it and its own content, and "
	    "every checkpoint must cover the\nentry before it with a "
	    "signature by the audit key. Names the first entry\nthat does "
	    "not match and exits non-zero. Needs no HSM PIN: the public "
	    "key is\nDIR/" PUBLIC_KEY_FILE " unless --public-key names "
	    "a copy kept elsewhere.\nIt prints the anchor of the last "
	    "checkpoint; keep it outside the data\ndirectory, and give it "
	    "back with --anchor to also catch entries cut off the\nend of "
	    "the log, which the chain alone cannot show. Then it holds every "
	    "certificate,\ndevice and secret row against the audit history "
	    "and names each that disagrees\n(a revocation undone, a block "
	    "lifted, a secret reset, a profile changed).\n\n"
	    "checkpoint signs a checkpoint over the newest entry now (tessera "
	    "serve does\nevery minute and at shutdown, each command as it "
	    "exits), then verifies and\nprints the anchor: run it before a "
	    "backup. Needs the HSM PIN.\n");
}

static const char *
plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* The PEM SubjectPublicKeyInfo in path. The caller frees *out. */
static enum status
load_public_key(const char *path, EVP_PKEY **out)
{
	uint8_t *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	enum status st;

	*out = NULL;
	/* A public key is smaller than a certificate. */
	if ((st = file_read(path, LIMIT_CERT_DER, &data, &len)) != ST_OK)
		goto out;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((*out = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL)
		st = status_fail_ssl(
		    ST_MALFORMED, "%s: not a PEM public key", path);
out:
	BIO_free(bio);
	free(data);
	return st;
}

/*
 * The audit public key: --public-key, else DIR/ca/audit.pub.pem. *out is
 * NULL (signatures unchecked) only for a data directory made before audit
 * keys, which has neither key nor file.
 */
static enum status
find_public_key(const struct ca_config *cfg, const char *given, EVP_PKEY **out)
{
	char *path = NULL;
	enum status st;

	*out = NULL;
	if (given != NULL)
		return load_public_key(given, out);
	if ((path = ca_config_path(cfg, PUBLIC_KEY_FILE)) == NULL)
		return ST_NOMEM;
	if (cfg->key_audit == NULL && !file_exists(path))
		st = ST_OK;
	else
		st = load_public_key(path, out);
	free(path);
	return st;
}

/* Print what r says; ST_CONFLICT when checkpoints could not be checked. */
static enum status
print_report(const struct audit_report *r, EVP_PKEY *pub)
{
	char anchor[AUDIT_ANCHOR_CAP];

	if (pub == NULL && r->checkpoint_count > 0)
		return status_fail(ST_CONFLICT,
		    "the log holds %lld signed %s, but this data directory "
		    "names no audit key to check them with: give --public-key",
		    (long long)r->checkpoint_count,
		    plural(r->checkpoint_count, "checkpoint", "checkpoints"));
	printf("audit chain verified: %lld %s", (long long)r->count,
	    plural(r->count, "entry", "entries"));
	if (pub == NULL)
		printf("; this data directory has no audit key, so there are "
		       "no signed checkpoints\n");
	else if (r->checkpoint > 0)
		printf(", last signed checkpoint at %lld (%lld %s after it)\n",
		    (long long)r->checkpoint, (long long)r->unsigned_count,
		    plural(r->unsigned_count, "entry", "entries"));
	else if (r->count > 0)
		printf(", no signed checkpoint yet: none of them is covered\n");
	else
		printf("\n");
	audit_anchor_format(r, anchor);
	if (anchor[0] != '\0')
		printf("anchor: %s\n", anchor);
	return ST_OK;
}

/* What reading the log takes: the config, the store, the public key. */
struct log_view {
	struct ca_config *cfg;
	struct store *store;
	EVP_PKEY *pub;
};

static enum status
log_open(
    const char *dir, const char *key_path, int needs_key, struct log_view *v)
{
	char *db = NULL;
	enum status st;

	memset(v, 0, sizeof(*v));
	if ((st = ca_config_load(dir, &v->cfg)) != ST_OK)
		return st;
	if (needs_key && v->cfg->key_audit == NULL)
		return status_fail(ST_NOTFOUND,
		    "tessera.json names no audit key (keys.audit): this data "
		    "directory cannot sign checkpoints");
	if ((st = find_public_key(v->cfg, key_path, &v->pub)) != ST_OK)
		return st;
	if ((db = ca_config_path(v->cfg, v->cfg->database)) == NULL)
		return ST_NOMEM;
	st = store_open(db, &v->store);
	free(db);
	return st;
}

static void
log_close(struct log_view *v)
{
	store_close(v->store);
	EVP_PKEY_free(v->pub);
	ca_config_free(v->cfg);
}

static void
print_finding(const char *line, void *arg)
{
	(void)arg;
	printf("%s\n", line);
}

static int
audit_verify_cmd(const char *dir, const char *key_path, const char *anchor)
{
	struct log_view v;
	struct audit_report r;
	size_t findings = 0;
	enum status st;
	int rc = 1;

	if ((st = log_open(dir, key_path, 0, &v)) != ST_OK ||
	    (st = audit_verify_report(v.store, v.pub, &r)) != ST_OK ||
	    (anchor != NULL &&
	        (st = audit_anchor_check(v.store, anchor)) != ST_OK) ||
	    (st = print_report(&r, v.pub)) != ST_OK) {
		rc = cli_fail("audit verify", st);
		goto out;
	}
	if (anchor != NULL)
		printf("anchor %s holds\n", anchor);
	/* The chain holds: now the rows against what it says. */
	if ((st = audit_state_check(v.store, print_finding, NULL, &findings)) !=
	    ST_OK) {
		rc = cli_fail("audit verify", st);
		goto out;
	}
	if (findings > 0) {
		rc = cli_fail("audit verify",
		    status_fail(ST_CONFLICT,
		        "%zu %s in the store disagree%s with the audit history "
		        "(listed above): changed outside tessera",
		        findings, findings == 1 ? "row" : "rows",
		        findings == 1 ? "s" : ""));
		goto out;
	}
	printf("store state agrees with the audit: certificates, devices "
	       "and secrets\n");
	rc = 0;
out:
	log_close(&v);
	return rc;
}

static int
audit_checkpoint_cmd(const char *dir)
{
	struct log_view v;
	struct authority *a = NULL;
	struct audit_report before, after;
	enum status st;
	int rc = 1, written = 0;

	/* Never sign over a chain that is broken already. */
	if ((st = log_open(dir, NULL, 1, &v)) != ST_OK ||
	    (st = audit_verify_report(v.store, v.pub, &before)) != ST_OK)
		goto fail;
	if ((st = authority_open(dir, &a)) != ST_OK ||
	    (st = authority_audit_checkpoint(a, &written)) != ST_OK)
		goto fail;
	authority_close(a);
	a = NULL;
	if ((st = audit_verify_report(v.store, v.pub, &after)) != ST_OK)
		goto fail;
	/* Entries may have come since (a running server): enough that the
	 * checkpoint covers all that was there before. */
	if (before.count > 0 && after.checkpoint < before.count) {
		st = status_fail(ST_UNAVAILABLE,
		    "no checkpoint was written over entry %lld",
		    (long long)before.count);
		goto fail;
	}
	if ((st = print_report(&after, v.pub)) != ST_OK)
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = cli_fail("audit checkpoint", st);
out:
	authority_close(a);
	log_close(&v);
	return rc;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"public-key", required_argument, NULL, 'k'},
	    {"anchor", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *key_path = NULL, *anchor = NULL;
	int is_verify, c;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 ||
	    (strcmp(argv[1], "verify") != 0 &&
	        strcmp(argv[1], "checkpoint") != 0)) {
		usage(stderr);
		return 2;
	}
	is_verify = strcmp(argv[1], "verify") == 0;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'a':
			anchor = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc ||
	    (!is_verify && (key_path != NULL || anchor != NULL))) {
		usage(stderr);
		return 2;
	}
	dir = cli_data_dir(dir);
	return is_verify ? audit_verify_cmd(dir, key_path, anchor)
	                 : audit_checkpoint_cmd(dir);
}
