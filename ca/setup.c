#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/audit.h"
#include "ca/ceremony.h"
#include "ca/config.h"
#include "ca/issue.h"
#include "ca/service.h"
#include "ca/setup.h"
#include "ca/store.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/secret.h"
#include "signer/local.h"

extern const char policy_default_json[];
extern const size_t policy_default_json_len;

#define EMBEDDED_TOKEN "tessera"

/* The keys tessera keeps in the token, found again by label: the
 * configured prefix, a dash and the role. */
enum init_key {
	KEY_ROOT,
	KEY_ISSUING,
	KEY_OCSP,
	KEY_TOKEN,
	KEY_AUDIT,
	KEY_MAX
};

static const struct {
	const char *role;
	enum signer_key_type type;
	enum signer_role signs_as;
} init_keys[KEY_MAX] = {
    [KEY_ROOT] = {"root-ca", SIGNER_KEY_EC_P384, SIGNER_ROLE_ROOT},
    [KEY_ISSUING] = {"issuing-ca", SIGNER_KEY_EC_P256, SIGNER_ROLE_ISSUING},
    [KEY_OCSP] = {"ocsp-responder", SIGNER_KEY_EC_P256, SIGNER_ROLE_OCSP},
    [KEY_TOKEN] = {"token-signing", SIGNER_KEY_EC_P256, SIGNER_ROLE_TOKEN},
    [KEY_AUDIT] = {"audit-signing", SIGNER_KEY_EC_P256, SIGNER_ROLE_AUDIT},
};

struct init_state {
	const struct ca_setup *s;
	struct ca_config cfg;
	struct signer *signer; /* set-up mode: CA certificates, every key */
	struct signer_key *keys[KEY_MAX];
	struct store *store;
	int store_was_empty; /* --store: the database held no CA */
	enum signer_key_type root_type; /* --root-curve */
	X509 *certs[5];
	size_t cert_count;
	int64_t now;
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Undo a failed init: only what init creates, and the directory itself
 * if init created it. */
static void
remove_created(const char *dir, int existed)
{
	static const char *const created[] = {"hsm", "ca", "tls", "admin",
	    "crl", "tessera.db", "tessera.db-wal", "tessera.db-shm",
	    "tessera.db-writer", "policy.json", "tessera.json"};
	char *path;
	size_t i;

	for (i = 0; i < sizeof(created) / sizeof(created[0]); i++) {
		if ((path = file_join(dir, created[i])) == NULL)
			continue;
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(path);
	}
	if (!existed)
		rmdir(dir);
}

static enum status
write_in(
    const char *dir, const char *rel, const void *data, size_t len, mode_t mode)
{
	char *path = file_join(dir, rel);
	enum status st;

	if (path == NULL)
		return ST_NOMEM;
	st = file_write_new(path, data, len, mode);
	free(path);
	return st;
}

/* PEM of certs (then of key, when given) into DIR/rel, a new file. */
static enum status
write_pem(const char *dir, const char *rel, X509 *const *certs, size_t n,
    EVP_PKEY *key)
{
	char *pem = NULL;
	size_t len = 0;
	enum status st;

	if ((st = ca_pem_encode(certs, n, key, &pem, &len)) != ST_OK)
		return st;
	st = write_in(dir, rel, pem, len, key != NULL ? 0600 : 0644);
	ca_pem_free(pem, len);
	return st;
}

/* The PEM SubjectPublicKeyInfo of pub into DIR/rel, a new file (0644). */
static enum status
write_pubkey(const char *dir, const char *rel, EVP_PKEY *pub)
{
	BIO *bio = NULL;
	char *pem = NULL;
	long len;
	enum status st = ST_NOMEM;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (PEM_write_bio_PUBKEY(bio, pub) != 1) {
		st = status_fail_ssl(ST_INTERNAL, "%s: cannot encode", rel);
		goto out;
	}
	if ((len = BIO_get_mem_data(bio, &pem)) <= 0) {
		st = status_fail(ST_INTERNAL, "%s: empty PEM", rel);
		goto out;
	}
	st = write_in(dir, rel, pem, (size_t)len, 0644);
out:
	BIO_free(bio);
	return st;
}

/*
 * The audit key's public half for auditors without the token, and a first
 * checkpoint over init's own entries.
 */
static enum status
audit_start(struct init_state *is)
{
	enum status st;

	if ((st = write_pubkey(is->s->data_dir, "ca/audit.pub.pem",
	         signer_key_get0_public(is->keys[KEY_AUDIT]))) != ST_OK)
		return st;
	return audit_checkpoint(is->store, is->keys[KEY_AUDIT], is->now, NULL);
}

enum status
ca_setup_softhsm_conf(const char *dir)
{
	char *conf = NULL, *tokens = NULL, *text = NULL;
	size_t len;
	enum status st = ST_NOMEM;

	if ((tokens = file_join(dir, "hsm/tokens")) == NULL ||
	    (conf = file_join(dir, "hsm/softhsm2.conf")) == NULL)
		goto out;
	if ((st = file_mkdir(tokens, 0700)) != ST_OK)
		goto out;
	len = strlen(tokens) + 128;
	if ((text = malloc(len)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	snprintf(text, len,
	    "directories.tokendir = %s\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n"
	    "slots.removable = false\n",
	    tokens);
	if ((st = file_write_new(conf, text, strlen(text), 0600)) != ST_OK)
		goto out;
	setenv("SOFTHSM2_CONF", conf, 1);
out:
	free(text);
	free(conf);
	free(tokens);
	return st;
}

static enum status
embedded_token(struct init_state *is, char **pin)
{
	const char *dir = is->s->data_dir;
	char *so = NULL;
	enum status st;

	*pin = NULL;
	if ((st = ca_setup_softhsm_conf(dir)) != ST_OK)
		goto out;
	if ((st = secret_random_hex(16, &so)) != ST_OK ||
	    (st = secret_random_hex(16, pin)) != ST_OK)
		goto out;
	if ((st = write_in(dir, "hsm/so.pin", so, strlen(so), 0600)) != ST_OK ||
	    (st = write_in(dir, "hsm/user.pin", *pin, strlen(*pin), 0600)) !=
	        ST_OK)
		goto out;
	st = signer_token_init(is->cfg.hsm_module, is->cfg.hsm_token, so, *pin);
out:
	if (st != ST_OK) {
		secret_free(*pin);
		*pin = NULL;
	}
	secret_free(so);
	return st;
}

static char *
key_uri(const char *token, const char *label)
{
	size_t len = strlen(token) + strlen(label) + 32;
	char *s = malloc(len);

	if (s != NULL)
		snprintf(s, len, "pkcs11:token=%s;object=%s", token, label);
	return s;
}

static char *
url_join(const char *base, const char *path)
{
	size_t len = strlen(base) + strlen(path) + 1;
	char *s = malloc(len);

	if (s != NULL)
		snprintf(s, len, "%s%s", base, path);
	return s;
}

static enum status
check_fresh(const char *dir)
{
	static const char *const marks[] = {
	    "tessera.json", "tessera.db", "hsm", "ca"};
	char *path;
	size_t i;
	int exists;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		if ((path = file_join(dir, marks[i])) == NULL)
			return ST_NOMEM;
		exists = file_exists(path);
		free(path);
		if (exists)
			return status_fail(ST_CONFLICT,
			    "%s is already a tessera data directory (%s "
			    "exists); refusing to touch it",
			    dir, marks[i]);
	}
	return ST_OK;
}

static enum status
make_dirs(const char *dir)
{
	static const char *const subdirs[] = {
	    "hsm", "ca", "tls", "admin", "crl"};
	char *path;
	size_t i;
	enum status st;

	if ((st = file_mkdir(dir, 0700)) != ST_OK)
		return st;
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		if ((path = file_join(dir, subdirs[i])) == NULL)
			return ST_NOMEM;
		st = file_mkdir(path, subdirs[i][0] == 'c' ? 0755 : 0700);
		free(path);
		if (st != ST_OK)
			return st;
	}
	return ST_OK;
}

/* The root and issuing CA certificates, both keys in the token. */
static enum status
issue_cas(struct init_state *is, X509 **root_out, X509 **issuing_out)
{
	char cn[LIMIT_NAME_LEN];
	char *root_crl = NULL, *root_crt = NULL, *ocsp_url = NULL;
	X509 *root = NULL, *issuing = NULL;
	enum status st = ST_NOMEM;
	struct ca_service_spec spec;
	/* Both certificates are the root key's signatures. */
	int root_md = ca_key_md_nid(signer_key_get0_public(is->keys[KEY_ROOT]));

	*root_out = *issuing_out = NULL;
	root_crl = url_join(is->cfg.publish_url, "/crl/root.crl");
	root_crt = url_join(is->cfg.publish_url, "/ca/root.crt");
	ocsp_url = url_join(is->cfg.publish_url, "/ocsp");
	if (!root_crl || !root_crt || !ocsp_url)
		goto out;
	memset(&spec, 0, sizeof(spec));
	snprintf(cn, sizeof(cn), "%s Root CA", is->cfg.name);
	spec = (struct ca_service_spec){.cn = cn,
	    .profile = "root-ca",
	    .pubkey = signer_key_get0_public(is->keys[KEY_ROOT]),
	    .days = 3650,
	    .is_ca = 1,
	    .pathlen = -1,
	    .key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN,
	    .md_nid = root_md};
	if ((st = ca_service_issue(is->store, is->cfg.name,
	         "operator id=\"init\"", is->now, &spec, NULL,
	         is->keys[KEY_ROOT], NULL, NULL, NULL, &root)) != ST_OK)
		goto out;

	snprintf(cn, sizeof(cn), "%s Issuing CA", is->cfg.name);
	spec = (struct ca_service_spec){.cn = cn,
	    .profile = "issuing-ca",
	    .pubkey = signer_key_get0_public(is->keys[KEY_ISSUING]),
	    .days = 5 * 365,
	    .is_ca = 1,
	    .pathlen = 0,
	    .key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN,
	    .md_nid = root_md};
	if ((st = ca_service_issue(is->store, is->cfg.name,
	         "operator id=\"init\"", is->now, &spec, root,
	         is->keys[KEY_ROOT], root_crl, ocsp_url, root_crt, &issuing)) !=
	    ST_OK)
		goto out;
	*root_out = root;
	*issuing_out = issuing;
	root = issuing = NULL;
	st = ST_OK;
out:
	X509_free(root);
	X509_free(issuing);
	free(root_crl);
	free(root_crt);
	free(ocsp_url);
	return st;
}

/*
 * Under the issuing CA: the OCSP responder, the TLS server and the first
 * admin; then the files of the chain and of each (new files: a data
 * directory that has them is not set up again).
 */
static enum status
issue_services(struct init_state *is, X509 *root, X509 *issuing)
{
	static const int eku_ocsp[] = {NID_OCSP_sign};
	static const int eku_server[] = {NID_server_auth};
	static const int eku_client[] = {NID_client_auth};
	const char *dir = is->s->data_dir;
	char cn[LIMIT_NAME_LEN];
	char *crl = NULL, *crt = NULL, *ocsp_url = NULL, *san = NULL;
	EVP_PKEY *tls_key = NULL, *admin_key = NULL;
	X509 *ocsp = NULL, *tls = NULL, *admin = NULL;
	X509 *chain[3];
	enum status st = ST_NOMEM;
	struct ca_service_spec spec;

	crl = url_join(is->cfg.publish_url, "/crl/issuing.crl");
	crt = url_join(is->cfg.publish_url, "/ca/issuing.crt");
	ocsp_url = url_join(is->cfg.publish_url, "/ocsp");
	tls_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	admin_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	san = ca_config_san(&is->cfg);
	if (!crl || !crt || !ocsp_url || !tls_key || !admin_key || !san)
		goto out;

	/* RFC 6960 §4.2.2.2: a delegated responder, short-lived. */
	snprintf(cn, sizeof(cn), "%s OCSP Responder", is->cfg.name);
	spec = (struct ca_service_spec){.cn = cn,
	    .profile = "ocsp-responder",
	    .pubkey = signer_key_get0_public(is->keys[KEY_OCSP]),
	    .days = 30,
	    .pathlen = -1,
	    .key_usage = X509v3_KU_DIGITAL_SIGNATURE,
	    .eku = eku_ocsp,
	    .eku_count = 1,
	    .ocsp_nocheck = 1,
	    .md_nid = NID_sha256};
	if ((st = ca_service_issue(is->store, is->cfg.name,
	         "operator id=\"init\"", is->now, &spec, issuing,
	         is->keys[KEY_ISSUING], NULL, ocsp_url, crt, &ocsp)) != ST_OK)
		goto out;

	/* The CN repeats the first name; clients match the SAN (RFC 9525). */
	spec = (struct ca_service_spec){
	    .cn = is->cfg.dns_count > 0 ? is->cfg.dns[0] : is->cfg.ip[0],
	    .profile = "tls-server",
	    .pubkey = tls_key,
	    .days = 90,
	    .pathlen = -1,
	    .key_usage = X509v3_KU_DIGITAL_SIGNATURE,
	    .eku = eku_server,
	    .eku_count = 1,
	    .san = san,
	    .md_nid = NID_sha256};
	if ((st = ca_service_issue(is->store, is->cfg.name,
	         "operator id=\"init\"", is->now, &spec, issuing,
	         is->keys[KEY_ISSUING], crl, ocsp_url, crt, &tls)) != ST_OK)
		goto out;

	spec = (struct ca_service_spec){.cn = "admin",
	    .profile = "admin",
	    .pubkey = admin_key,
	    .days = 365,
	    .pathlen = -1,
	    .key_usage = X509v3_KU_DIGITAL_SIGNATURE,
	    .eku = eku_client,
	    .eku_count = 1,
	    .md_nid = NID_sha256};
	if ((st = ca_service_issue(is->store, is->cfg.name,
	         "operator id=\"init\"", is->now, &spec, issuing,
	         is->keys[KEY_ISSUING], crl, ocsp_url, crt, &admin)) != ST_OK)
		goto out;

	/* Rows are committed; now the files. */
	chain[0] = issuing;
	chain[1] = root;
	if ((st = write_pem(dir, "ca/root.pem", &root, 1, NULL)) != ST_OK ||
	    (st = write_pem(dir, "ca/issuing.pem", &issuing, 1, NULL)) !=
	        ST_OK ||
	    (st = write_pem(dir, "ca/chain.pem", chain, 2, NULL)) != ST_OK ||
	    (st = write_pem(dir, "ca/ocsp.pem", &ocsp, 1, NULL)) != ST_OK)
		goto out;
	chain[0] = tls;
	chain[1] = issuing;
	if ((st = write_pem(dir, "tls/server.pem", chain, 2, NULL)) != ST_OK ||
	    (st = write_pem(dir, "tls/server.key", NULL, 0, tls_key)) != ST_OK)
		goto out;
	if ((st = write_pem(dir, "admin/admin.pem", &admin, 1, NULL)) !=
	        ST_OK ||
	    (st = write_pem(dir, "admin/admin.key", NULL, 0, admin_key)) !=
	        ST_OK)
		goto out;
	st = ST_OK;
out:
	X509_free(ocsp);
	X509_free(tls);
	X509_free(admin);
	EVP_PKEY_free(tls_key);
	EVP_PKEY_free(admin_key);
	free(crl);
	free(ocsp_url);
	free(crt);
	free(san);
	return st;
}

static enum status
issue_all(struct init_state *is)
{
	X509 *root = NULL, *issuing = NULL;
	enum status st;

	if ((st = issue_cas(is, &root, &issuing)) == ST_OK)
		st = issue_services(is, root, issuing);
	X509_free(root);
	X509_free(issuing);
	return st;
}

/*
 * Before any key is made: none of init's labels may be in the token
 * already (another instance with this prefix, or a failed init's keys),
 * so that nothing of another instance is used or shadowed.
 */
static enum status
labels_free(struct init_state *is, char labels[KEY_MAX][LIMIT_LABEL_LEN + 1])
{
	struct signer_key *key = NULL;
	int i;
	enum status st;

	for (i = 0; i < KEY_MAX; i++) {
		if (i == KEY_ROOT && is->s->offline_root)
			continue;
		st = signer_key_find(is->signer, labels[i], &key);
		signer_key_free(key);
		key = NULL;
		if (st == ST_OK)
			return status_fail(ST_CONFLICT,
			    "token %s already holds a key labelled %s: key "
			    "prefix \"%s\" is taken (another tessera "
			    "instance, or keys left by a failed init); give "
			    "another --key-prefix, or remove those keys with "
			    "the HSM's tools",
			    is->cfg.hsm_token, labels[i], is->cfg.key_prefix);
		if (st != ST_NOTFOUND)
			return st;
	}
	return ST_OK;
}

/* The token's user PIN: TESSERA_HSM_PIN, else pin_file. */
static enum status
token_pin(const char *pin_file, char **pin)
{
	enum status st;

	st = secret_read_env("TESSERA_HSM_PIN", LIMIT_PIN_LEN, pin);
	if (st == ST_NOTFOUND && pin_file != NULL)
		st = secret_read_file(pin_file, LIMIT_PIN_LEN, pin);
	else if (st == ST_NOTFOUND)
		st = status_fail(ST_UNAUTHENTICATED,
		    "no HSM PIN: give --hsm-pin-file or set TESSERA_HSM_PIN");
	return st;
}

/* An extension of the request: nid with value in OpenSSL's syntax. */
static int
csr_ext_add(STACK_OF(X509_EXTENSION) * exts, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

	if (ext == NULL)
		return 0;
	if (!sk_X509_EXTENSION_push(exts, ext)) {
		X509_EXTENSION_free(ext);
		return 0;
	}
	return 1;
}

/*
 * Have req signed by the issuing key (the signer's CA request purpose:
 * its CertificationRequestInfo, SHA-256) into *out (X509_REQ_free).
 */
static enum status
csr_sign(const struct signer_key *key, X509_REQ *req, X509_REQ **out)
{
	uint8_t *tbs = NULL, *alg = NULL, *sig = NULL, *der = NULL;
	size_t alg_len = 0, sig_len = 0, der_len = 0;
	const unsigned char *p;
	int tbs_len;
	enum status st;

	*out = NULL;
	if ((tbs_len = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0)
		return status_fail_ssl(ST_INTERNAL, "the request's info");
	if ((st = signer_sigalg_der(key, NID_sha256, &alg, &alg_len)) !=
	        ST_OK ||
	    (st = signer_sign(key, SIGNER_PURPOSE_CA_CSR, NID_sha256, tbs,
	         (size_t)tbs_len, &sig, &sig_len)) != ST_OK ||
	    (st = signer_signed_der(tbs, (size_t)tbs_len, alg, alg_len, sig,
	         sig_len, NULL, 0, &der, &der_len)) != ST_OK)
		goto out;
	p = der;
	if ((*out = d2i_X509_REQ(NULL, &p, (long)der_len)) == NULL ||
	    p != der + der_len) {
		X509_REQ_free(*out);
		*out = NULL;
		st = status_fail_ssl(ST_INTERNAL, "the signed request");
	}
out:
	OPENSSL_free(der);
	OPENSSL_free(sig);
	OPENSSL_free(alg);
	OPENSSL_free(tbs);
	return st;
}

/*
 * The offline root's part: a PKCS#10 request for the issuing CA (O=org,
 * CN="org Issuing CA", the issuing key of the token, signed by it), asking
 * for the profile ca import checks, in DIR/ca/issuing.csr.
 */
static enum status
csr_write(struct init_state *is)
{
	char cn[LIMIT_NAME_LEN];
	X509_REQ *req = NULL, *signed_req = NULL;
	X509_NAME *name = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	long len;
	enum status st = ST_NOMEM;

	snprintf(cn, sizeof(cn), "%s Issuing CA", is->cfg.name);
	if ((req = X509_REQ_new()) == NULL ||
	    (name = X509_NAME_new()) == NULL ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	        (const unsigned char *)is->cfg.name, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(
	        req, signer_key_get0_public(is->keys[KEY_ISSUING])) ||
	    !csr_ext_add(exts, NID_basic_constraints,
	        "critical,CA:TRUE,"
	        "pathlen:0") ||
	    !csr_ext_add(exts, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !X509_REQ_add_extensions(req, exts))
		goto out;
	if ((st = csr_sign(is->keys[KEY_ISSUING], req, &signed_req)) != ST_OK)
		goto out;
	st = ST_NOMEM;
	if (!PEM_write_bio_X509_REQ(bio, signed_req) ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0)
		goto out;
	st =
	    write_in(is->s->data_dir, "ca/issuing.csr", pem, (size_t)len, 0644);
out:
	BIO_free(bio);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	X509_REQ_free(signed_req);
	return st;
}

/*
 * The PostgreSQL store of --store: its URL holds no password, and its
 * database no CA yet (init makes a new one; a second node copies the
 * first node's data directory instead).
 */
static enum status
remote_store_open(struct init_state *is)
{
	const char *url = is->s->store;
	int64_t count = 0;
	enum status st;

	if (!store_target_is_url(url))
		return status_fail(ST_MALFORMED,
		    "--store takes a postgresql://USER@HOST/DB URL");
	if ((st = store_target_check(url)) != ST_OK)
		return st;
	if ((st = store_open(url, &is->store)) != ST_OK)
		return st;
	if ((st = store_cert_count(is->store, &count)) != ST_OK)
		return st;
	if (count > 0)
		return status_fail(ST_CONFLICT,
		    "the store holds %lld certificates already: init needs an "
		    "empty database (another node copies the data directory "
		    "of the first one)",
		    (long long)count);
	is->store_was_empty = 1;
	return ST_OK;
}

static enum status
run(struct init_state *is)
{
	const struct ca_setup *s = is->s;
	struct signer_local_config sc;
	char *pin = NULL, *db = NULL, *uris[KEY_MAX] = {NULL};
	char labels[KEY_MAX][LIMIT_LABEL_LEN + 1];
	int i;
	enum status st;

	for (i = 0; i < KEY_MAX; i++)
		if ((st = ca_config_key_label(&is->cfg, init_keys[i].role,
		         labels[i], sizeof(labels[i]))) != ST_OK)
			return st;

	if ((st = make_dirs(s->data_dir)) != ST_OK)
		return st;
	/* A remote store first: refused before any key is made. */
	if (s->store != NULL && (st = remote_store_open(is)) != ST_OK)
		return st;
	if (s->hsm_module == NULL) {
		if ((st = embedded_token(is, &pin)) != ST_OK)
			goto out;
	} else if ((st = token_pin(s->hsm_pin_file, &pin)) != ST_OK)
		goto out;
	/* The signer in set-up mode: it signs the CA certificates and makes
	 * every key; each key's role is the one its label names. */
	memset(&sc, 0, sizeof(sc));
	for (i = 0; i < KEY_MAX; i++) {
		/* An offline root's key is never in the token. */
		if (i == KEY_ROOT && s->offline_root)
			continue;
		if ((uris[i] = key_uri(is->cfg.hsm_token, labels[i])) == NULL) {
			st = ST_NOMEM;
			goto out;
		}
		sc.key_uri[init_keys[i].signs_as] = uris[i];
	}
	sc.module = is->cfg.hsm_module;
	sc.token = is->cfg.hsm_token;
	sc.pin = pin;
	sc.is_setup = 1;
	sc.open_tries = 1;
	st = signer_local_open(&sc, &is->signer);
	secret_free(pin);
	pin = NULL;
	if (st != ST_OK)
		goto out;
	if ((st = labels_free(is, labels)) != ST_OK)
		goto out;
	for (i = 0; i < KEY_MAX; i++) {
		/* An offline root's key is never in the token. */
		if (i == KEY_ROOT && s->offline_root)
			continue;
		if ((st = signer_key_generate(is->signer, labels[i],
		         i == KEY_ROOT ? is->root_type : init_keys[i].type,
		         &is->keys[i])) != ST_OK)
			goto out;
	}
	is->cfg.key_root = uris[KEY_ROOT];
	is->cfg.key_issuing = uris[KEY_ISSUING];
	is->cfg.key_ocsp = uris[KEY_OCSP];
	is->cfg.key_token = uris[KEY_TOKEN];
	is->cfg.key_audit = uris[KEY_AUDIT];
	if (is->store == NULL &&
	    (db = file_join(s->data_dir, is->cfg.database)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if (is->store == NULL && (st = store_open(db, &is->store)) != ST_OK)
		goto out;
	if ((st = s->offline_root ? csr_write(is) : issue_all(is)) != ST_OK)
		goto out;
	if ((st = audit_start(is)) != ST_OK)
		goto out;
	if ((st = write_in(s->data_dir, is->cfg.policy, policy_default_json,
	         policy_default_json_len, 0644)) != ST_OK)
		goto out;
	/* Last: tessera.json marks the directory as complete. */
	st = ca_config_save(&is->cfg);
out:
	for (i = 0; i < KEY_MAX; i++)
		free(uris[i]);
	is->cfg.key_root = is->cfg.key_issuing = NULL;
	is->cfg.key_ocsp = is->cfg.key_token = is->cfg.key_audit = NULL;
	free(db);
	secret_free(pin);
	return st;
}

/* ADDR:PORT of a listener: 127.0.0.1 and the port of url. */
static enum status
listener_default(const char *url, char *out, size_t cap)
{
	int port = ca_config_url_port(url);

	if (port == 0)
		return status_fail(
		    ST_MALFORMED, "%.100s: no valid port in the URL", url);
	snprintf(out, cap, "127.0.0.1:%d", port);
	return ST_OK;
}

enum status
ca_setup_run(const struct ca_setup *s)
{
	struct init_state is;
	char abs_dir[4096], listen[64], publish[64];
	int existed, i, made = 0;
	enum status st;

	memset(&is, 0, sizeof(is));
	is.s = s;
	is.now = (int64_t)time(NULL);
	/* RFC 5280 §4.2.1.13 and nginx: CRL and OCSP over plain http (an
	 * https responder in AIA makes nginx refuse every client). */
	if (s->publish_url != NULL &&
	    strncmp(s->publish_url, "http://", 7) != 0)
		return status_fail(ST_MALFORMED,
		    "--publish-url must be an http:// URL (CRL and "
		    "OCSP are "
		    "fetched without TLS), not %.100s",
		    s->publish_url);
	if (s->url != NULL && strncmp(s->url, "https://", 8) != 0)
		return status_fail(ST_MALFORMED,
		    "--url must be an https:// URL, not %.100s", s->url);
	is.cfg.url = (char *)(s->url ? s->url : "https://localhost:8443");
	is.cfg.publish_url =
	    (char *)(s->publish_url ? s->publish_url : "http://127.0.0.1:8080");
	if ((st = listener_default(is.cfg.url, listen, sizeof(listen))) !=
	        ST_OK ||
	    (st = listener_default(
	         is.cfg.publish_url, publish, sizeof(publish))) != ST_OK)
		return st;
	is.cfg.listen = (char *)(s->listen ? s->listen : listen);
	is.cfg.publish = (char *)(s->publish ? s->publish : publish);
	if ((st = check_fresh(s->data_dir)) != ST_OK)
		return st;
	is.cfg.key_prefix =
	    (char *)(s->key_prefix ? s->key_prefix : CA_CONFIG_KEY_PREFIX);
	if ((st = ca_config_key_prefix_check(is.cfg.key_prefix)) != ST_OK)
		return st;
	is.root_type = SIGNER_KEY_EC_P384;
	if (s->root_curve != NULL && s->offline_root)
		return status_fail(ST_MALFORMED,
		    "--root-curve names the curve of a root key init makes; "
		    "with --offline-root no root key is made here");
	if (s->root_curve != NULL && strcmp(s->root_curve, "P-256") == 0)
		is.root_type = SIGNER_KEY_EC_P256;
	else if (s->root_curve != NULL && strcmp(s->root_curve, "P-384") != 0)
		return status_fail(ST_MALFORMED,
		    "--root-curve takes P-256 or P-384, not %.40s",
		    s->root_curve);
	/* Checked before anything is created. */
	if ((st = ca_config_names_set(
	         &is.cfg, s->dns, s->dns_count, s->ip, s->ip_count)) != ST_OK)
		return st;
	existed = file_exists(s->data_dir);
	if ((st = file_mkdir(s->data_dir, 0700)) != ST_OK) {
		ca_config_names_clear(&is.cfg);
		return st;
	}
	if (realpath(s->data_dir, abs_dir) == NULL) {
		ca_config_names_clear(&is.cfg);
		return status_fail(
		    ST_UNAVAILABLE, "%s: %s", s->data_dir, strerror(errno));
	}
	is.cfg.data_dir = abs_dir;
	is.cfg.name = (char *)(s->name ? s->name : "tessera");
	is.cfg.hsm_module =
	    (char *)(s->hsm_module ? s->hsm_module : TESSERA_SOFTHSM_MODULE);
	is.cfg.hsm_token =
	    (char *)(s->hsm_token ? s->hsm_token : EMBEDDED_TOKEN);
	is.cfg.hsm_pin_file =
	    (char *)(s->hsm_module ? s->hsm_pin_file : "hsm/user.pin");
	is.cfg.softhsm_conf = s->hsm_module ? NULL : "hsm/softhsm2.conf";
	is.cfg.policy = "policy.json";
	is.cfg.database = (char *)(s->store != NULL ? s->store : "tessera.db");
	st = run(&is);
	ca_config_names_clear(&is.cfg);
	/* A database init found empty is left empty: a failed init's rows
	 * would make the next one refuse it. The reason is kept. */
	if (st != ST_OK && is.store_was_empty) {
		char detail[512];

		snprintf(detail, sizeof(detail), "%s", status_detail());
		if (store_empty(is.store) != ST_OK)
			log_warn("the rows init wrote before the failure stay "
			         "in the store: %s",
			    status_detail());
		status_fail(st, "%s", detail);
	}
	store_close(is.store);
	for (i = 0; i < KEY_MAX; i++) {
		made += is.keys[i] != NULL;
		signer_key_free(is.keys[i]);
	}
	signer_close(is.signer);
	if (st != ST_OK) {
		char detail[512];

		/* Keep the reason across the clean-up. */
		snprintf(detail, sizeof(detail), "%s", status_detail());
		remove_created(abs_dir, existed);
		if (s->hsm_module != NULL && made > 0)
			log_warn("keys generated in token %s before the "
			         "failure stay there",
			    is.cfg.hsm_token);
		return status_fail(st, "%s", detail);
	}
	return ST_OK;
}

struct import_job {
	X509 *certs[2]; /* the root, the issuing CA */
	const char *profiles[2];
	int64_t now;
};

/* The rows of the imported CAs (each once: a retried import finds them),
 * with the audit entries that say where they came from. */
static enum status
import_commit(struct store_txn *txn, void *arg)
{
	const struct import_job *job = arg;
	struct store_cert row;
	char detail[LIMIT_AUDIT_DETAIL];
	size_t i;
	enum status st = ST_OK;

	for (i = 0; i < 2 && st == ST_OK; i++) {
		if ((st = ca_row_from_cert(job->certs[i], NULL,
		         job->profiles[i], job->now, &row)) != ST_OK)
			break;
		row.shard = STORE_CRL_SHARD_ROOT;
		st = store_txn_cert_insert(txn, &row);
		if (st == ST_CONFLICT) {
			st = ST_OK;
		} else if (st == ST_OK) {
			snprintf(detail, sizeof(detail),
			    "profile=%s subject=%s (signed by the "
			    "offline "
			    "root)",
			    job->profiles[i], row.subject);
			st = audit_append(txn, job->now,
			    "operator id=\"ca import\"", "import", row.serial,
			    detail);
		}
		ca_row_clear(&row);
	}
	return st;
}

/* What import writes, removed when it fails after writing some. */
static void
import_undo(const char *dir)
{
	static const char *const written[] = {"ca/root.pem", "ca/issuing.pem",
	    "ca/chain.pem", "ca/ocsp.pem", "tls/server.pem", "tls/server.key",
	    "admin/admin.pem", "admin/admin.key"};
	char *path;
	size_t i;

	for (i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
		if ((path = file_join(dir, written[i])) == NULL)
			continue;
		unlink(path);
		free(path);
	}
}

/*
 * The signer on the configured token (tessera.json's module, token, PIN,
 * keys), its CA names those of the certificates being imported.
 */
static enum status
import_token_open(struct init_state *is, const struct ca_config *cfg,
    X509 *root, X509 *issuing)
{
	struct signer_local_config sc;
	char *conf = NULL, *pin_file = NULL, *pin = NULL;
	enum status st;

	if (cfg->softhsm_conf != NULL) {
		if ((conf = ca_config_path(cfg, cfg->softhsm_conf)) == NULL)
			return ST_NOMEM;
		setenv("SOFTHSM2_CONF", conf, 1);
		free(conf);
	}
	if (cfg->hsm_pin_file != NULL &&
	    (pin_file = ca_config_path(cfg, cfg->hsm_pin_file)) == NULL)
		return ST_NOMEM;
	st = token_pin(pin_file, &pin);
	free(pin_file);
	if (st != ST_OK)
		return st;
	memset(&sc, 0, sizeof(sc));
	sc.module = cfg->hsm_module;
	sc.token = cfg->hsm_token;
	sc.pin = pin;
	sc.key_uri[SIGNER_ROLE_ISSUING] = cfg->key_issuing;
	sc.key_uri[SIGNER_ROLE_OCSP] = cfg->key_ocsp;
	sc.key_uri[SIGNER_ROLE_TOKEN] = cfg->key_token;
	sc.key_uri[SIGNER_ROLE_AUDIT] = cfg->key_audit;
	sc.root = root;
	sc.issuing = issuing;
	sc.open_tries = 1;
	st = signer_local_open(&sc, &is->signer);
	secret_free(pin);
	return st;
}

enum status
ca_setup_import(
    const char *data_dir, const char *cert_path, const char *chain_path)
{
	struct ca_setup s;
	struct init_state is;
	struct ca_config *cfg = NULL;
	struct import_job job;
	X509 *issuing = NULL, *root = NULL;
	char *path = NULL, *db = NULL, detail[512];
	int files_written = 0;
	enum status st;

	memset(&s, 0, sizeof(s));
	memset(&is, 0, sizeof(is));
	s.data_dir = data_dir;
	is.s = &s;
	is.now = (int64_t)time(NULL);
	if ((st = ca_config_load(data_dir, &cfg)) != ST_OK)
		return st;
	if (cfg->key_root != NULL) {
		st = status_fail(ST_CONFLICT,
		    "%s keeps its root key in the token (it was not "
		    "made with "
		    "init --offline-root): there is no CA certificate "
		    "to "
		    "import",
		    data_dir);
		goto out;
	}
	if ((path = file_join(data_dir, "ca/issuing.pem")) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if (file_exists(path)) {
		st = status_fail(ST_CONFLICT,
		    "%s has its issuing CA certificate already "
		    "(ca/issuing.pem); nothing to complete",
		    data_dir);
		goto out;
	}
	if ((st = ca_ceremony_cert_read(cert_path, &issuing)) != ST_OK ||
	    (st = ca_ceremony_cert_read(chain_path, &root)) != ST_OK)
		goto out;
	if ((st = import_token_open(&is, cfg, root, issuing)) != ST_OK ||
	    (st = signer_key_find(is.signer, cfg->key_issuing,
	         &is.keys[KEY_ISSUING])) != ST_OK ||
	    (st = signer_key_find(
	         is.signer, cfg->key_ocsp, &is.keys[KEY_OCSP])) != ST_OK)
		goto out;
	if ((st = ca_ceremony_issuing_check(issuing, root,
	         signer_key_get0_public(is.keys[KEY_ISSUING]), is.now)) !=
	    ST_OK)
		goto out;
	/* The configuration as init_state holds it (borrowed from cfg). */
	is.cfg = *cfg;
	if ((db = ca_config_path(cfg, cfg->database)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	if ((st = store_open(db, &is.store)) != ST_OK)
		goto out;
	job.certs[0] = root;
	job.certs[1] = issuing;
	job.profiles[0] = "root-ca";
	job.profiles[1] = "issuing-ca";
	job.now = is.now;
	if ((st = store_write(is.store, import_commit, &job)) != ST_OK)
		goto out;
	files_written = 1;
	st = issue_services(&is, root, issuing);
out:
	if (st != ST_OK && files_written) {
		snprintf(detail, sizeof(detail), "%s", status_detail());
		import_undo(data_dir);
		status_fail(st, "%s", detail);
	}
	memset(&is.cfg, 0, sizeof(is.cfg));
	store_close(is.store);
	signer_key_free(is.keys[KEY_ISSUING]);
	signer_key_free(is.keys[KEY_OCSP]);
	signer_close(is.signer);
	X509_free(issuing);
	X509_free(root);
	free(db);
	free(path);
	ca_config_free(cfg);
	return st;
}
