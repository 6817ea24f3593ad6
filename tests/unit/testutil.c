#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/file.h"
#include "hsm/hsm.h"
#include "tests/unit/testutil.h"

char *
testutil_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];

	snprintf(
	    tmpl, sizeof(tmpl), "%s/tessera-test-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpl) == NULL)
		return NULL;
	return strdup(tmpl);
}

void
testutil_rmtree(const char *dir)
{
	char cmd[4200];

	if (dir == NULL || strncmp(dir, "/", 1) != 0 || strlen(dir) < 8)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

const char *
testutil_softhsm_module(void)
{
	return TESSERA_SOFTHSM_MODULE;
}

int
testutil_softhsm(const char *dir, const char *label, const char *pin)
{
	char conf[4096], tokens[4096], so[300];
	FILE *f;

	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(so, sizeof(so), "so-%s", pin);
	if (file_mkdir(tokens, 0700) != ST_OK)
		return -1;
	if ((f = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(f,
	    "directories.tokendir = %s\nobjectstore.backend = file\n"
	    "log.level = ERROR\nslots.removable = false\n",
	    tokens);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	if (hsm_token_init(testutil_softhsm_module(), label, so, pin) !=
	    ST_OK) {
		fprintf(stderr, "hsm_token_init: %s\n", status_detail());
		return -1;
	}
	return 0;
}

EVP_PKEY *
testutil_key(const char *spec)
{
	if (strncmp(spec, "ec:", 3) == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", spec + 3);
	if (strncmp(spec, "rsa:", 4) == 0)
		return EVP_PKEY_Q_keygen(
		    NULL, NULL, "RSA", (size_t)strtoul(spec + 4, NULL, 10));
	if (strcmp(spec, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return NULL;
}

int
testutil_csr(EVP_PKEY *key, const char *cn, const char *sans, uint8_t **der,
    size_t *der_len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	int rc = -1;

	*der = NULL;
	*der_len = 0;
	if (req == NULL || name == NULL)
		goto out;
	if (cn != NULL &&
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) || !X509_REQ_set_version(req, 0))
		goto out;
	if (sans != NULL) {
		exts = sk_X509_EXTENSION_new_null();
		ext =
		    X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
		if (exts == NULL || ext == NULL)
			goto out;
		sk_X509_EXTENSION_push(exts, ext);
		if (!X509_REQ_add_extensions(req, exts))
			goto out;
	}
	rc = testutil_req_sign(req, key, der, der_len);
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

int
testutil_req_sign(X509_REQ *req, EVP_PKEY *key, uint8_t **der, size_t *der_len)
{
	const EVP_MD *md;
	unsigned char *p = NULL;
	int len, rc = -1;

	*der = NULL;
	*der_len = 0;
	md = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
	if (!X509_REQ_sign(req, key, md))
		goto out;
	if ((len = i2d_X509_REQ(req, &p)) <= 0)
		goto out;
	if ((*der = malloc((size_t)len)) == NULL)
		goto out;
	memcpy(*der, p, (size_t)len);
	*der_len = (size_t)len;
	rc = 0;
out:
	OPENSSL_free(p);
	return rc;
}

/* One TLV of a strict walk: its tag, header length and content. */
struct der_tlv {
	uint8_t tag;
	const uint8_t *content;
	size_t len, total;
};

static int
der_tlv_read(const uint8_t *p, size_t avail, struct der_tlv *t)
{
	size_t n, i, len = 0;

	if (avail < 2 || (p[0] & 0x1f) == 0x1f)
		return 0; /* truncated, or a tag number over 30 */
	t->tag = p[0];
	if (p[1] < 0x80) {
		len = p[1];
		n = 0;
	} else {
		n = p[1] & 0x7f;
		/* §10.1: definite form; §8.1.3.5 minimal: no 0x00 lead, and
		 * the long form only from 128. */
		if (n == 0 || n > 4 || avail < 2 + n || p[2] == 0)
			return 0;
		for (i = 0; i < n; i++)
			len = len << 8 | p[2 + i];
		if (len < 0x80)
			return 0;
	}
	if (len > avail - 2 - n)
		return 0;
	t->content = p + 2 + n;
	t->len = len;
	t->total = 2 + n + len;
	return 1;
}

static int
der_digits(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

static const char *
der_primitive_check(const struct der_tlv *t)
{
	const uint8_t *c = t->content;
	size_t i;

	switch (t->tag) {
	case 0x01: /* BOOLEAN: X.690 §11.1 */
		if (t->len != 1 || (c[0] != 0x00 && c[0] != 0xff))
			return "BOOLEAN is not 0x00 or 0xFF (X.690 §11.1)";
		return NULL;
	case 0x02: /* INTEGER */
	case 0x0a: /* ENUMERATED: §8.3.2, §8.4 */
		if (t->len == 0)
			return "empty INTEGER";
		if (t->len > 1 &&
		    ((c[0] == 0x00 && c[1] < 0x80) ||
		        (c[0] == 0xff && c[1] >= 0x80)))
			return "INTEGER not in its shortest form (X.690 "
			       "§8.3.2)";
		return NULL;
	case 0x03: /* BIT STRING: §11.2 */
		if (t->len == 0 || c[0] > 7 || (t->len == 1 && c[0] != 0))
			return "BIT STRING unused-bits octet";
		if (t->len > 1 && (c[t->len - 1] & ((1u << c[0]) - 1)) != 0)
			return "BIT STRING padding bits are not zero (§11.2.1)";
		return NULL;
	case 0x05:
		return t->len == 0 ? NULL : "NULL with content";
	case 0x06: /* OBJECT IDENTIFIER: §8.19.2 */
		if (t->len == 0 || (c[t->len - 1] & 0x80) != 0)
			return "OID ends inside a subidentifier";
		for (i = 0; i < t->len; i++)
			if (c[i] == 0x80 && (i == 0 || (c[i - 1] & 0x80) == 0))
				return "OID subidentifier padded with 0x80";
		return NULL;
	case 0x17: /* UTCTime: §11.8, RFC 5280 §4.1.2.5.1 */
		if (t->len != 13 || !der_digits(c, 12) || c[12] != 'Z')
			return "UTCTime is not YYMMDDHHMMSSZ";
		return NULL;
	case 0x18: /* GeneralizedTime: §11.7, RFC 5280 §4.1.2.5.2 */
		if (t->len != 15 || !der_digits(c, 14) || c[14] != 'Z')
			return "GeneralizedTime is not YYYYMMDDHHMMSSZ";
		return NULL;
	case 0x16: /* IA5String */
		for (i = 0; i < t->len; i++)
			if (c[i] >= 0x80)
				return "IA5String with a byte over 0x7F";
		return NULL;
	default:
		return NULL;
	}
}

static int
der_walk(const uint8_t *p, size_t len, int depth, char *why, size_t cap)
{
	struct der_tlv t;
	const char *bad;
	size_t off = 0;

	if (depth > 32) {
		snprintf(why, cap, "nested over 32 deep");
		return 0;
	}
	while (off < len) {
		if (!der_tlv_read(p + off, len - off, &t)) {
			snprintf(why, cap,
			    "bad tag or length at offset %zu (X.690 §10.1, "
			    "§8.1.3)",
			    off);
			return 0;
		}
		if ((t.tag & 0x20) != 0) {
			if (!der_walk(t.content, t.len, depth + 1, why, cap))
				return 0;
		} else if ((bad = der_primitive_check(&t)) != NULL) {
			snprintf(why, cap, "%s (tag 0x%02x)", bad, t.tag);
			return 0;
		}
		off += t.total;
	}
	return 1;
}

/* A SET's elements in order (§11.6), checked at every SET in the tree. */
static int
der_sets_sorted(const uint8_t *p, size_t len, int is_set, char *why, size_t cap)
{
	struct der_tlv t, prev = {0, NULL, 0, 0};
	size_t off = 0, n;
	int has_prev = 0, c;

	while (off < len) {
		if (!der_tlv_read(p + off, len - off, &t))
			return 0;
		if (is_set && has_prev) {
			n = prev.total < t.total ? prev.total : t.total;
			c = memcmp(prev.content - (prev.total - prev.len),
			    t.content - (t.total - t.len), n);
			if (c > 0 || (c == 0 && prev.total > t.total)) {
				snprintf(why, cap,
				    "SET OF elements out of order (X.690 "
				    "§11.6)");
				return 0;
			}
		}
		if ((t.tag & 0x20) != 0 &&
		    !der_sets_sorted(t.content, t.len, t.tag == 0x31, why, cap))
			return 0;
		prev = t;
		has_prev = 1;
		off += t.total;
	}
	return 1;
}

int
testutil_der_strict(const uint8_t *der, size_t len, char *why, size_t why_cap)
{
	struct der_tlv t;

	snprintf(why, why_cap, "ok");
	if (der == NULL || !der_tlv_read(der, len, &t) || t.total != len) {
		snprintf(why, why_cap, "not exactly one TLV");
		return 0;
	}
	return der_walk(der, len, 0, why, why_cap) &&
	    der_sets_sorted(der, len, 0, why, why_cap);
}
