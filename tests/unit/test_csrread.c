/*
 * csrread: tessera's own PKCS#10 reader against the reference
 * (d2i_X509_REQ and what OpenSSL decodes), over a corpus made by
 * `openssl req` with every key type, digest, subject form, extension and
 * attribute tessera meets, a few built here (compressed point, BMP and
 * UniversalString values, hostile characters), and mutations of them:
 * truncated, bytes flipped, and the CertificationRequestInfo mutated and
 * signed again so that the checks after the proof of possession run.
 *
 * For every input: ca_csr_parse gives the reference's verdict and message;
 * what the own reader takes, the reference takes too, with the same
 * fields (ca_csr_same) and the same outcome of every profile check and
 * name build; the requests devices send are taken by the own reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/csr.h"
#include "ca/der.h"
#include "ca/policy.h"
#include "common/limits.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

static struct policy *policy;
static char *dir;
static size_t n_inputs, n_own, n_ref_only, n_refused;

/* A whole file into *der (free()). */
static int
slurp(const char *path, uint8_t **der, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[LIMIT_CSR_DER + 1];
	size_t n;

	*der = NULL;
	*len = 0;
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0 || n > LIMIT_CSR_DER || (*der = malloc(n)) == NULL)
		return -1;
	memcpy(*der, buf, n);
	*len = n;
	return 0;
}

static int
run(const char *cmd)
{
	char full[4096];

	snprintf(full, sizeof(full), "cd '%s' && %s >/dev/null 2>&1", dir, cmd);
	return system(full);
}

/* The encoding of an X509_NAME or GENERAL_NAMES, for comparing. */
static int
same_names(X509_NAME *a, X509_NAME *b, GENERAL_NAMES *sa, GENERAL_NAMES *sb)
{
	unsigned char *da = NULL, *db = NULL, *ea = NULL, *eb = NULL;
	int la = i2d_X509_NAME(a, &da), lb = i2d_X509_NAME(b, &db);
	int ka = i2d_GENERAL_NAMES(sa, &ea), kb = i2d_GENERAL_NAMES(sb, &eb);
	int same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0 &&
	    ka > 0 && ka == kb && memcmp(ea, eb, (size_t)ka) == 0;

	OPENSSL_free(da);
	OPENSSL_free(db);
	OPENSSL_free(ea);
	OPENSSL_free(eb);
	return same;
}

/* Every profile decides the same about both readers' results. */
static void
same_decisions(
    const struct ca_csr *own, const struct ca_csr *ref, const char *name)
{
	const struct policy_profile *p;
	X509_NAME *s1 = NULL, *s2 = NULL;
	GENERAL_NAMES *n1 = NULL, *n2 = NULL;
	struct policy_key_rule k1, k2;
	char d1[512];
	const char *i1, *i2;
	enum status a, b;
	size_t i;

	for (i = 0; (p = policy_profile_at(policy, i)) != NULL; i++) {
		a = ca_csr_check(own, p);
		snprintf(d1, sizeof(d1), "%s", status_detail());
		b = ca_csr_check(ref, p);
		if (a != b ||
		    (a != ST_OK && strcmp(d1, status_detail()) != 0)) {
			fprintf(stderr,
			    "%s: profile %s: check %s \"%s\" vs %s \"%s\"\n",
			    name, p->name, status_name(a), d1, status_name(b),
			    status_detail());
			CHECK(0);
		}
		a = ca_csr_names_build(own, p, &s1, &n1);
		snprintf(d1, sizeof(d1), "%s", status_detail());
		b = ca_csr_names_build(ref, p, &s2, &n2);
		CHECK(a == b);
		if (a == ST_OK && b == ST_OK)
			CHECK(same_names(s1, s2, n1, n2));
		else if (a != ST_OK && b != ST_OK)
			CHECK(strcmp(d1, status_detail()) == 0);
		X509_NAME_free(s1);
		X509_NAME_free(s2);
		GENERAL_NAMES_free(n1);
		GENERAL_NAMES_free(n2);
		s1 = s2 = NULL;
		n1 = n2 = NULL;
		ca_csr_keygen_rule(own, p, &k1);
		ca_csr_keygen_rule(ref, p, &k2);
		CHECK(k1.kind == k2.kind && k1.curve_nid == k2.curve_nid &&
		    k1.min_bits == k2.min_bits);
		i1 = ca_csr_device_id(own, p);
		i2 = ca_csr_device_id(ref, p);
		CHECK((i1 == NULL && i2 == NULL) ||
		    (i1 != NULL && i2 != NULL && strcmp(i1, i2) == 0));
	}
}

/*
 * One input through the three entry points. expect_own: 1 the own
 * reader must take it, 0 it must not, -1 either.
 */
static void
differ(const uint8_t *der, size_t len, const char *name, int expect_own)
{
	struct ca_csr *ref = NULL, *own = NULL, *prod = NULL;
	enum status st_ref, st_own, st_prod;
	char d_ref[512], why[128];

	n_inputs++;
	st_ref = ca_csr_parse_reference(der, len, &ref);
	snprintf(d_ref, sizeof(d_ref), "%s", status_detail());
	st_own = ca_csr_parse_own(der, len, &own);
	st_prod = ca_csr_parse(der, len, &prod);
	/* ca_csr_parse: the reference's verdict, and its message. */
	if (st_prod != st_ref ||
	    (st_ref != ST_OK && strcmp(d_ref, status_detail()) != 0)) {
		fprintf(stderr,
		    "%s: ca_csr_parse %s \"%s\", reference %s \"%s\"\n", name,
		    status_name(st_prod), status_detail(), status_name(st_ref),
		    d_ref);
		CHECK(0);
	}
	CHECK((st_own == ST_OK) == (own != NULL));
	if (st_own == ST_OK) {
		n_own++;
		if (st_ref != ST_OK) {
			fprintf(stderr,
			    "%s: own reader took what the reference refuses "
			    "(%s)\n",
			    name, d_ref);
			CHECK(0);
		} else if (!ca_csr_same(own, ref, why, sizeof(why))) {
			fprintf(stderr, "%s: readers differ: %s\n", name, why);
			CHECK(0);
		} else {
			same_decisions(own, ref, name);
		}
	} else if (st_ref == ST_OK) {
		n_ref_only++;
		if (getenv("TEST_CSRREAD_SHOW") != NULL)
			fprintf(stderr, "reference alone: %s\n", name);
	} else {
		n_refused++;
	}
	if (expect_own >= 0 && (st_own == ST_OK) != (expect_own == 1)) {
		fprintf(stderr,
		    "%s: own reader %s, expected %s (reference: %s)\n", name,
		    st_own == ST_OK ? "took it" : "did not take it",
		    expect_own ? "to take it" : "not to", d_ref);
		CHECK(0);
	}
	ca_csr_free(ref);
	ca_csr_free(own);
	ca_csr_free(prod);
	ERR_clear_error();
}

/* Keys made with `openssl genpkey`, by file name. */
static const struct {
	const char *file;
	const char *args;
} keys[] = {
    {"p256", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"},
    {"p384", "-algorithm EC -pkeyopt ec_paramgen_curve:P-384"},
    {"p521", "-algorithm EC -pkeyopt ec_paramgen_curve:P-521"},
    {"k256", "-algorithm EC -pkeyopt ec_paramgen_curve:secp256k1"},
    {"p256x",
        "-algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
        "-pkeyopt ec_param_enc:explicit"},
    {"rsa2048", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"},
    {"rsa3072", "-algorithm RSA -pkeyopt rsa_keygen_bits:3072"},
    {"rsa1024", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024"},
    {"rsae3",
        "-algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
        "-pkeyopt rsa_keygen_pubexp:3"},
    {"ed25519", "-algorithm ED25519"},
    {"ed448", "-algorithm ED448"},
    {"rsapss", "-algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048"},
};

/*
 * openssl.cnf variants: the string mask and the attributes, which
 * `openssl req` writes only without -subj (the subject is then CN=dev-0001).
 */
static const struct {
	const char *file;
	const char *mask;
	const char *attrs;
} confs[] = {
    {"plain.cnf", "utf8only", ""},
    {"chal.cnf", "utf8only", "challengePassword = s3cret-1\n"},
    {"unstr.cnf", "utf8only", "unstructuredName = acme\n"},
    {"any.cnf", "default", "challengePassword = s3cret-1\n"},
    {"both.cnf", "utf8only",
        "challengePassword = s3cret-1\nunstructuredName = acme\n"},
};

/* The requests: key, config, `openssl req` arguments, own reader takes. */
static const struct {
	const char *key;
	const char *conf;
	const char *args;
	int own;
} reqs[] = {
    {"p256", "plain.cnf", "-subj /CN=dev-0001 -sha256", 1},
    {"p256", "plain.cnf", "-subj /CN=dev-0001 -sha384", 1},
    {"p256", "plain.cnf", "-subj /CN=dev-0001 -sha512", 0},
    {"p256", "plain.cnf", "-subj /CN=dev-0001 -sha1", 0},
    {"p384", "plain.cnf", "-subj /CN=dev-0001 -sha384", 1},
    {"p384", "plain.cnf", "-subj /CN=dev-0001 -sha256", 1},
    {"p521", "plain.cnf", "-subj /CN=dev-0001 -sha512", 0},
    {"k256", "plain.cnf", "-subj /CN=dev-0001 -sha256", 0},
    {"p256x", "plain.cnf", "-subj /CN=dev-0001 -sha256", 0},
    {"rsa2048", "plain.cnf", "-subj /CN=dev-0001 -sha256", 1},
    {"rsa2048", "plain.cnf", "-subj /CN=dev-0001 -sha384", 1},
    {"rsa2048", "plain.cnf", "-subj /CN=dev-0001 -sha512", 0},
    {"rsa2048", "plain.cnf", "-subj /CN=dev-0001 -sha1", 0},
    {"rsa3072", "chal.cnf",
        "-sha256 -addext subjectAltName=URI:urn:dev:dev-0001", 1},
    {"rsa1024", "plain.cnf", "-subj /CN=dev-0001 -sha256", 1},
    {"rsae3", "plain.cnf", "-subj /CN=dev-0001 -sha256", 0},
    {"ed25519", "plain.cnf", "-subj /CN=dev-0001", 0},
    {"ed448", "plain.cnf", "-subj /CN=dev-0001", 0},
    {"rsapss", "plain.cnf", "-subj /CN=dev-0001 -sha256", 0},
    {"p256", "plain.cnf",
        "-subj '/CN=dev-0001/O=Acme/OU=Line 1/serialNumber=ABC-1/L=Berlin/"
        "C=DE'",
        1},
    {"p256", "plain.cnf", "-utf8 -subj '/serialNumber=gw-1/L=M\xc3\xbcnich'",
        1},
    {"p256", "any.cnf", "-utf8 -subj '/serialNumber=gw-1/L=M\xc3\xbcnich'", 0},
    {"p256", "any.cnf",
        "-utf8 -subj '/serialNumber=GW-1/L=\xe6\x9d\xb1\xe4\xba\xac'", 1},
    {"p256", "any.cnf", "-subj '/CN=dev-0001/O=Acme'", 1},
    {"p256", "plain.cnf", "-multivalue-rdn -subj '/CN=dev-0001+O=Acme'", 0},
    {"p256", "plain.cnf", "-subj '/CN=a/CN=b'", 0},
    {"p256", "plain.cnf", "-subj '/DC=example/CN=dev-0001'", 1},
    {"p256", "plain.cnf",
        "-subj '/CN=a/O=b/OU=c/L=d/ST=e/C=DE/serialNumber=1/title=t/"
        "street=s'",
        0},
    {"p256", "plain.cnf",
        "-subj /CN=gw-1.gw.example.net -addext "
        "'subjectAltName=DNS:gw-1.gw.example.net,URI:urn:dev:x,"
        "IP:192.0.2.1,IP:2001:db8::1,email:a@b.example'",
        1},
    {"p256", "plain.cnf",
        "-subj /CN=dev-0001 -addext 'subjectAltName=IP:127.0.0.1'", 1},
    {"p256", "plain.cnf",
        "-subj /CN=dev-0001 -addext 'subjectAltName=DNS:a b.example'", 0},
    {"p256", "plain.cnf",
        "-subj /CN=dev-0001 -addext "
        "'subjectAltName=otherName:1.2.3.4;UTF8:x,RID:1.2.3'",
        1},
    {"p256", "plain.cnf",
        "-subj /CN=dev-0001 -addext basicConstraints=critical,CA:FALSE "
        "-addext keyUsage=critical,digitalSignature "
        "-addext extendedKeyUsage=critical,clientAuth",
        1},
    {"p256", "plain.cnf", "-subj /CN=dev-0001 -addext 1.2.3.4=DER:05:00", 1},
    {"p256", "plain.cnf",
        "-subj /CN=dev-0001 -addext 1.2.3.4=critical,DER:05:00", 0},
    {"p256", "plain.cnf",
        "-subj /CN=dev-0001 -addext certificatePolicies=critical,1.2.3.4", 0},
    {"p256", "chal.cnf", "-addext subjectAltName=URI:urn:dev:dev-0001", 1},
    {"p256", "unstr.cnf", "", 0},
    {"p256", "both.cnf", "", 0},
    {"p256", "any.cnf", "-utf8", 1},
    {"p256", "plain.cnf", "-subj /", 1},
};

static int
make_corpus(void)
{
	char cmd[2048], f[64];
	FILE *c;
	size_t i;

	for (i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s/%s", dir, confs[i].file);
		if ((c = fopen(cmd, "w")) == NULL)
			return -1;
		fprintf(c,
		    "[req]\nprompt = no\ndistinguished_name = dn\n"
		    "attributes = attrs\nstring_mask = %s\n"
		    "[dn]\nCN = dev-0001\n[attrs]\n%s",
		    confs[i].mask, confs[i].attrs);
		fclose(c);
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(cmd, sizeof(cmd), "openssl genpkey %s -out %s.key",
		    keys[i].args, keys[i].file);
		if (run(cmd) != 0) {
			fprintf(
			    stderr, "could not make key %s\n", keys[i].file);
			return -1;
		}
	}
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		snprintf(f, sizeof(f), "req%02zu.der", i);
		snprintf(cmd, sizeof(cmd),
		    "openssl req -new -key %s.key -config %s %s -outform DER "
		    "-out %s",
		    reqs[i].key, reqs[i].conf, reqs[i].args, f);
		if (run(cmd) != 0) {
			fprintf(stderr, "could not make %s: %s\n", f, cmd);
			return -1;
		}
	}
	return 0;
}

static EVP_PKEY *
key_load(const char *name)
{
	char path[4096];
	EVP_PKEY *k = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/*
 * info signed by key with md (NULL for none) under the AlgorithmIdentifier
 * alg, wrapped as a CertificationRequest: DER to *out (free()).
 */
static int
wrap_signed(const uint8_t *info, size_t info_len, const uint8_t *alg,
    size_t alg_len, EVP_PKEY *key, const EVP_MD *md, uint8_t **out,
    size_t *out_len)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t sig[1024], *buf = NULL;
	size_t sig_len = sizeof(sig), content, total;
	struct ca_der_w w;
	int rc = -1;

	*out = NULL;
	if (m == NULL || EVP_DigestSignInit(m, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(m, sig, &sig_len, info, info_len) != 1)
		goto out;
	content = info_len + alg_len + ca_der_tlv_size(sig_len + 1);
	total = ca_der_tlv_size(content);
	if ((buf = malloc(total)) == NULL)
		goto out;
	ca_der_w_init(&w, buf, total);
	ca_der_put_hdr(&w, CA_DER_SEQUENCE, content);
	ca_der_put(&w, info, info_len);
	ca_der_put(&w, alg, alg_len);
	ca_der_put_hdr(&w, CA_DER_BIT_STRING, sig_len + 1);
	ca_der_put_u8(&w, 0);
	ca_der_put(&w, sig, sig_len);
	if (!ca_der_w_done(&w, buf + total))
		goto out;
	*out = buf;
	*out_len = total;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	EVP_MD_CTX_free(m);
	return rc;
}

/* The CertificationRequestInfo and signature algorithm TLVs of der. */
static int
split(const uint8_t *der, size_t len, const uint8_t **info, size_t *info_len,
    const uint8_t **alg, size_t *alg_len)
{
	struct ca_der_r r, req, in;

	ca_der_r_init(&r, der, len);
	return ca_der_r_get(&r, CA_DER_SEQUENCE, &req, NULL, NULL) &&
	    ca_der_r_get(&req, CA_DER_SEQUENCE, &in, info, info_len) &&
	    ca_der_r_get(&req, CA_DER_SEQUENCE, &in, alg, alg_len);
}

/*
 * The mutations of one base request: every truncation, a byte more, each
 * byte flipped (the signature then fails), and the request info with each
 * byte changed or dropped, signed again by key.
 */
static void
mutate(const uint8_t *der, size_t len, const char *name, EVP_PKEY *key,
    const EVP_MD *md)
{
	static const uint8_t flips[] = {0x01, 0x80, 0xff};
	const uint8_t *info, *alg;
	uint8_t *buf = NULL, *signed_der = NULL;
	size_t info_len, alg_len, i, j, signed_len;
	char what[128];

	if ((buf = malloc(len + 1)) == NULL)
		return;
	for (i = 0; i <= len; i++) {
		memcpy(buf, der, len);
		buf[len] = 0;
		snprintf(what, sizeof(what), "%s cut at %zu", name, i);
		differ(buf, i == len ? len + 1 : i, what, -1);
	}
	for (i = 0; i < len; i += 3) {
		memcpy(buf, der, len);
		buf[i] ^= 0x01;
		snprintf(what, sizeof(what), "%s byte %zu flipped", name, i);
		differ(buf, len, what, 0);
	}
	free(buf);
	buf = NULL;
	CHECK(split(der, len, &info, &info_len, &alg, &alg_len));
	if (!split(der, len, &info, &info_len, &alg, &alg_len) ||
	    (buf = malloc(info_len)) == NULL)
		return;
	for (i = 0; i < info_len; i++) {
		for (j = 0; j <= sizeof(flips); j++) {
			memcpy(buf, info, info_len);
			if (j < sizeof(flips)) {
				buf[i] ^= flips[j];
			} else {
				/* Dropped: the rest moves up one. */
				memmove(buf + i, buf + i + 1, info_len - i - 1);
			}
			if (wrap_signed(buf,
			        j < sizeof(flips) ? info_len : info_len - 1,
			        alg, alg_len, key, md, &signed_der,
			        &signed_len) != 0)
				continue;
			snprintf(what, sizeof(what), "%s info byte %zu %s%02x",
			    name, i, j < sizeof(flips) ? "^" : "dropped ",
			    j < sizeof(flips) ? flips[j] : 0);
			differ(signed_der, signed_len, what, -1);
			free(signed_der);
			signed_der = NULL;
		}
	}
	free(buf);
}

/* Requests built here: forms `openssl req` does not write. */
static void
built(EVP_PKEY *p256)
{
	static const struct {
		const char *type;
		int asn1;
		const char *value;
		int len;
		int own;
	} vals[] = {
	    {"CN", V_ASN1_BMPSTRING, "\0d\0e\0v\0-\0\x31", 10, 1},
	    {"CN", V_ASN1_UNIVERSALSTRING, "\0\0\0d\0\0\0e\0\0\0v", 12, 1},
	    {"CN", V_ASN1_UTF8STRING, "dev\x01", 4, 0},
	    {"CN", V_ASN1_UTF8STRING, "dev\xe2\x80\xae", 6, 0},
	    {"CN", V_ASN1_UTF8STRING, "d\0ev", 4, 0},
	    {"CN", V_ASN1_PRINTABLESTRING, "dev_1", 5, 0},
	    {"CN", V_ASN1_IA5STRING, "dev\xe9", 4, 0},
	    {"CN", V_ASN1_T61STRING, "dev", 3, 0},
	    {"CN", V_ASN1_NUMERICSTRING, "123", 3, 0},
	};
	X509_REQ *req;
	X509_NAME *name;
	EVP_PKEY *comp = NULL;
	uint8_t *der = NULL;
	size_t len = 0, i;
	char what[64];

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		req = X509_REQ_new();
		name = X509_NAME_new();
		CHECK(req != NULL && name != NULL &&
		    X509_NAME_add_entry_by_txt(name, vals[i].type, vals[i].asn1,
		        (const unsigned char *)vals[i].value, vals[i].len, -1,
		        0) == 1 &&
		    X509_REQ_set_subject_name(req, name) == 1 &&
		    X509_REQ_set_pubkey(req, p256) == 1 &&
		    testutil_req_sign(req, p256, &der, &len) == 0);
		snprintf(what, sizeof(what), "built value %zu", i);
		if (der == NULL)
			fprintf(stderr, "%s: not built\n", what);
		if (der != NULL)
			differ(der, len, what, vals[i].own);
		free(der);
		der = NULL;
		X509_NAME_free(name);
		X509_REQ_free(req);
	}
	/* The point compressed: the reference's, whole. */
	comp = EVP_PKEY_dup(p256);
	CHECK(comp != NULL &&
	    EVP_PKEY_set_utf8_string_param(comp,
	        OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
	        OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED) == 1 &&
	    testutil_csr(comp, "dev-0001", NULL, &der, &len) == 0);
	if (der != NULL)
		differ(der, len, "compressed point", 0);
	free(der);
	EVP_PKEY_free(comp);
}

int
main(void)
{
	EVP_PKEY *p256 = NULL, *rsa = NULL, *p384 = NULL;
	uint8_t *der = NULL;
	size_t len, i;
	char path[4096], name[64];

	CHECK_ST(policy_parse(testutil_csr_policy, strlen(testutil_csr_policy),
	             "diff", &policy),
	    ST_OK);
	CHECK((dir = testutil_tmpdir()) != NULL);
	if (policy == NULL || dir == NULL || make_corpus() != 0) {
		CHECK(0);
		goto out;
	}
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		snprintf(path, sizeof(path), "%s/req%02zu.der", dir, i);
		snprintf(name, sizeof(name), "req%02zu (%s)", i, reqs[i].key);
		CHECK(slurp(path, &der, &len) == 0);
		if (der != NULL)
			differ(der, len, name, reqs[i].own);
		free(der);
		der = NULL;
	}
	p256 = key_load("p256");
	p384 = key_load("p384");
	rsa = key_load("rsa2048");
	CHECK(p256 != NULL && p384 != NULL && rsa != NULL);
	if (p256 == NULL || p384 == NULL || rsa == NULL)
		goto out;
	built(p256);
	/* SANs, challengePassword: the fullest request, mutated. */
	snprintf(path, sizeof(path), "%s/req%02d.der", dir, 28);
	if (slurp(path, &der, &len) == 0)
		mutate(der, len, "p256 SANs", p256, EVP_sha256());
	free(der);
	snprintf(path, sizeof(path), "%s/req%02d.der", dir, 36);
	if (slurp(path, &der, &len) == 0)
		mutate(der, len, "p256 challenge", p256, EVP_sha256());
	free(der);
	snprintf(path, sizeof(path), "%s/req%02d.der", dir, 19);
	if (slurp(path, &der, &len) == 0)
		mutate(der, len, "p256 subject", p256, EVP_sha256());
	free(der);
	snprintf(path, sizeof(path), "%s/req%02d.der", dir, 9);
	if (slurp(path, &der, &len) == 0)
		mutate(der, len, "rsa2048", rsa, EVP_sha256());
	free(der);
	snprintf(path, sizeof(path), "%s/req%02d.der", dir, 4);
	if (slurp(path, &der, &len) == 0)
		mutate(der, len, "p384", p384, EVP_sha384());
	free(der);
	der = NULL;
	printf("%zu inputs: %zu taken by the own reader, %zu by the reference "
	       "alone, %zu refused\n",
	    n_inputs, n_own, n_ref_only, n_refused);
	/* The mutations reach past the proof of possession both ways. */
	CHECK(n_own > 200 && n_ref_only > 50 && n_refused > 1000);
out:
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	policy_free(policy);
	if (dir != NULL)
		testutil_rmtree(dir);
	free(dir);
	TEST_END();
}
