/*
 * EST, the API and publication at the handler level: real token, real
 * store, requests built by hand (no socket), so every branch is reachable.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ca/authority.h"
#include "ca/authority_internal.h"
#include "ca/certpolicy.h"
#include "ca/issue.h"
#include "ca/service.h"
#include "ca/setup.h"
#include "ca/store.h"
#include "common/secret.h"
#include "enroll/codec.h"
#include "enroll/enroll.h"
#include "tests/unit/test.h"
#include "tests/unit/testutil.h"

static struct authority *a;
static struct enroll *e;

struct req {
	struct http_request r;
	struct buf body;
	char auth[512];
};

static void
req_init(struct req *q, const char *method, const char *path)
{
	memset(q, 0, sizeof(*q));
	q->r.method = method;
	q->r.path = path;
	q->r.peer_address = "127.0.0.1";
	q->r.is_tls = 1;
	q->r.tls_version = 0x0303;
	buf_init(&q->body, 4 * 1024 * 1024);
}

static void
req_free(struct req *q)
{
	buf_free(&q->body);
	sk_X509_free(q->r.peer_chain);
}

/* Body = base64 of der, as a CSR post. */
static void
req_csr(struct req *q, const uint8_t *der, size_t len)
{
	q->r.content_type = "application/pkcs10";
	if (codec_b64_encode(&q->body, der, len, 1) != ST_OK)
		abort();
	q->r.body = q->body.data;
	q->r.body_len = q->body.len;
}

static void
req_basic(struct req *q, const char *user, const char *password)
{
	char plain[300];
	unsigned char b64[420];
	int n;

	n = snprintf(plain, sizeof(plain), "%s:%s", user, password);
	EVP_EncodeBlock(b64, (unsigned char *)plain, n);
	snprintf(q->auth, sizeof(q->auth), "Basic %s", b64);
	q->r.authorization = q->auth;
}

static void
req_cert(struct req *q, X509 *cert)
{
	q->r.peer_chain = sk_X509_new_null();
	sk_X509_push(q->r.peer_chain, cert);
}

static int
run_tls(struct req *q, struct http_response *resp)
{
	http_response_init(resp);
	enroll_handle_tls(e, &q->r, resp);
	return resp->status;
}

static char *
mint(const char *device, const char *profile)
{
	struct principal op;
	char *s = NULL;
	int64_t exp;

	memset(&op, 0, sizeof(op));
	op.kind = PRINCIPAL_OPERATOR;
	if (authority_secret_create(a, &op, device, profile, 0, &s, &exp) !=
	    ST_OK)
		return NULL;
	return s;
}

/* The one certificate of a base64 certs-only response. */
static X509 *
response_cert(const struct http_response *resp)
{
	uint8_t *der = NULL;
	size_t len;
	const unsigned char *p;
	PKCS7 *p7;
	X509 *cert = NULL;

	if (codec_b64_decode(
	        resp->body.data, resp->body.len, 65536, &der, &len) != ST_OK)
		return NULL;
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL &&
	    sk_X509_num(p7->d.sign->cert) == 1)
		cert = X509_dup(sk_X509_value(p7->d.sign->cert, 0));
	PKCS7_free(p7);
	free(der);
	return cert;
}

static int64_t
cert_count(void)
{
	int64_t n = -1;

	if (store_cert_count(authority_store(a), &n) != ST_OK)
		return -1;
	return n;
}

/* A CSR with a challengePassword attribute. */
static void
csr_challenge(EVP_PKEY *key, const char *cn, const char *challenge,
    uint8_t **der, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *p = NULL;
	int n;

	X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, key);
	X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	    MBSTRING_UTF8, (const unsigned char *)challenge, -1);
	X509_REQ_sign(req, key, EVP_sha256());
	n = i2d_X509_REQ(req, &p);
	*der = malloc((size_t)n);
	memcpy(*der, p, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(p);
	X509_NAME_free(name);
	X509_REQ_free(req);
}

static void
test_publish(void)
{
	struct req q;
	struct http_response resp;
	const unsigned char *p;
	X509 *root;

	req_init(&q, "GET", "/ca/root.crt");
	http_response_init(&resp);
	enroll_handle_publish(e, &q.r, &resp);
	CHECK(resp.status == 200);
	CHECK(strcmp(resp.content_type, "application/pkix-cert") == 0);
	p = resp.body.data;
	root = d2i_X509(NULL, &p, (long)resp.body.len);
	CHECK(root != NULL && X509_cmp(root, authority_get0_root(a)) == 0);
	X509_free(root);
	http_response_free(&resp);

	q.r.path = "/healthz";
	http_response_init(&resp);
	enroll_handle_publish(e, &q.r, &resp);
	CHECK(resp.status == 200);
	http_response_free(&resp);

	q.r.path = "/ca/root.crt";
	q.r.method = "POST";
	http_response_init(&resp);
	enroll_handle_publish(e, &q.r, &resp);
	CHECK(resp.status == 405);
	http_response_free(&resp);

	q.r.path = "/nope";
	q.r.method = "GET";
	http_response_init(&resp);
	enroll_handle_publish(e, &q.r, &resp);
	CHECK(resp.status == 404);
	http_response_free(&resp);
	req_free(&q);
}

static void
test_routes(void)
{
	static const struct {
		const char *method, *path;
		int code;
	} cases[] = {
	    {"GET", "/.well-known/est/cacerts", 200},
	    {"HEAD", "/.well-known/est/cacerts", 200},
	    {"GET", "/.well-known/est/gateway/cacerts", 200},
	    {"POST", "/.well-known/est/cacerts", 405},
	    {"GET", "/.well-known/est/simpleenroll", 405},
	    {"GET", "/.well-known/est/nolabel/cacerts", 404},
	    {"GET", "/.well-known/est/../api/v1/x", 404},
	    {"GET", "/.well-known/est/device/../cacerts", 404},
	    {"GET", "/.well-known/est//cacerts", 404},
	    {"GET", "/.well-known/est/device/cacerts/x", 404},
	    {"GET", "/.well-known/est/CACERTS", 404},
	    {"GET", "/.well-known/est/", 404},
	    {"POST", "/.well-known/est/fullcmc", 501},
	    {"GET", "/.well-known/est/csrattrs", 200},
	    {"GET", "/elsewhere", 404},
	};
	struct req q;
	struct http_response resp;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		req_init(&q, cases[i].method, cases[i].path);
		if (run_tls(&q, &resp) != cases[i].code)
			fprintf(stderr, "%s %s: %d, want %d\n", cases[i].method,
			    cases[i].path, resp.status, cases[i].code);
		CHECK(resp.status == cases[i].code);
		if (resp.status >= 400)
			CHECK(resp.body.len > 1 &&
			    resp.body.data[resp.body.len - 1] == '\n');
		http_response_free(&resp);
		req_free(&q);
	}
	req_init(&q, "GET", "/.well-known/est/cacerts");
	CHECK(run_tls(&q, &resp) == 200);
	CHECK(strcmp(resp.content_type, "application/pkcs7-mime") == 0);
	CHECK(http_response_header_get(&resp, "Content-Transfer-Encoding") !=
	    NULL);
	http_response_free(&resp);
	req_free(&q);
}

static void
test_secret_enroll(void)
{
	struct req q;
	struct http_response resp;
	EVP_PKEY *key = testutil_key("ec:P-256");
	uint8_t *der = NULL, *other = NULL;
	size_t len, other_len;
	char *secret = mint("dev-1", "device");
	int64_t before;
	X509 *cert, *renewed;

	CHECK(secret != NULL);
	testutil_csr(key, "dev-1", "URI:urn:dev:dev-1", &der, &len);
	testutil_csr(key, "dev-2", NULL, &other, &other_len);

	/* No credentials: 401 with a Basic challenge. */
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, der, len);
	CHECK(run_tls(&q, &resp) == 401);
	CHECK(http_response_header_get(&resp, "WWW-Authenticate") != NULL);
	http_response_free(&resp);
	req_free(&q);

	before = cert_count();
	/* The secret's device differs from the CSR's: 403, nothing stored. */
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, other, other_len);
	req_basic(&q, "dev-1", secret);
	CHECK(run_tls(&q, &resp) == 403);
	CHECK(strstr((char *)resp.body.data, "dev-2") != NULL);
	http_response_free(&resp);
	req_free(&q);
	/* Wrong content type, junk, too large: 400, 400, 413. */
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, der, len);
	req_basic(&q, "dev-1", secret);
	q.r.content_type = "application/json";
	CHECK(run_tls(&q, &resp) == 400);
	http_response_free(&resp);
	q.r.content_type = "application/pkcs10; charset=x";
	q.r.body = (const uint8_t *)"not base64!";
	q.r.body_len = 11;
	CHECK(run_tls(&q, &resp) == 400);
	http_response_free(&resp);
	q.r.body = (const uint8_t *)"AAAAAAAA";
	q.r.body_len = 8;
	CHECK(run_tls(&q, &resp) == 400);
	http_response_free(&resp);
	req_free(&q);
	CHECK(cert_count() == before);

	/* The right secret: 200 and a certificate for dev-1. */
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, der, len);
	req_basic(&q, "dev-1", secret);
	CHECK(run_tls(&q, &resp) == 200);
	CHECK(strcmp(resp.content_type,
	          "application/pkcs7-mime; smime-type=certs-only") == 0);
	CHECK(resp.body.data[resp.body.len - 1] == '\n');
	cert = response_cert(&resp);
	CHECK(cert != NULL);
	CHECK(cert_count() == before + 1);
	http_response_free(&resp);
	/* Used once: the second try is 401. */
	CHECK(run_tls(&q, &resp) == 401);
	CHECK(strstr((char *)resp.body.data, "already used") != NULL);
	http_response_free(&resp);
	req_free(&q);
	CHECK(cert_count() == before + 1);

	/* Renewal with the certificate: same names 200, other names 403. */
	req_init(&q, "POST", "/.well-known/est/simplereenroll");
	req_csr(&q, der, len);
	req_cert(&q, cert);
	req_basic(&q, "", "");
	CHECK(run_tls(&q, &resp) == 200);
	renewed = response_cert(&resp);
	CHECK(renewed != NULL);
	http_response_free(&resp);
	req_free(&q);
	/* The renewed certificate is superseded: no second renewal. */
	req_init(&q, "POST", "/.well-known/est/simplereenroll");
	req_csr(&q, der, len);
	req_cert(&q, cert);
	CHECK(run_tls(&q, &resp) == 403);
	CHECK(resp.body.data != NULL &&
	    strstr((char *)resp.body.data, "superseded") != NULL);
	http_response_free(&resp);
	req_free(&q);
	X509_free(cert);
	cert = renewed;
	req_init(&q, "POST", "/.well-known/est/simplereenroll");
	req_csr(&q, other, other_len);
	req_cert(&q, cert);
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	req_free(&q);
	/* Into another profile: 403. */
	req_init(&q, "POST", "/.well-known/est/gateway/simplereenroll");
	req_csr(&q, der, len);
	req_cert(&q, cert);
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	req_free(&q);
	/* A device may not enroll others. */
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, other, other_len);
	req_cert(&q, cert);
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	req_free(&q);
	/* Renewal without a certificate: 401. */
	req_init(&q, "POST", "/.well-known/est/simplereenroll");
	req_csr(&q, der, len);
	CHECK(run_tls(&q, &resp) == 401);
	http_response_free(&resp);
	req_free(&q);

	X509_free(cert);
	free(der);
	free(other);
	secret_free(secret);
	EVP_PKEY_free(key);
}

static void
test_binding(void)
{
	static const uint8_t binding[12] = "0123456789ab";
	unsigned char b64[32];
	struct req q;
	struct http_response resp;
	EVP_PKEY *key = testutil_key("ec:P-256");
	uint8_t *der = NULL;
	size_t len;
	char *secret;

	EVP_EncodeBlock(b64, binding, sizeof(binding));
	/* Matching tls-unique: 200. */
	secret = mint("dev-pop", "device");
	csr_challenge(key, "dev-pop", (char *)b64, &der, &len);
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, der, len);
	req_basic(&q, "dev-pop", secret);
	memcpy(q.r.channel_binding, binding, sizeof(binding));
	q.r.channel_binding_len = sizeof(binding);
	CHECK(run_tls(&q, &resp) == 200);
	http_response_free(&resp);
	req_free(&q);
	free(der);
	secret_free(secret);
	/* Another connection's binding: 403, and the secret is not used. */
	secret = mint("dev-pop2", "device");
	csr_challenge(key, "dev-pop2", "MDEyMzQ1Njc4OWFj", &der, &len);
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, der, len);
	req_basic(&q, "dev-pop2", secret);
	memcpy(q.r.channel_binding, binding, sizeof(binding));
	q.r.channel_binding_len = sizeof(binding);
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	/* No binding on the connection at all: 403 as well. */
	q.r.channel_binding_len = 0;
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	req_free(&q);
	free(der);
	secret_free(secret);
	/*
	 * TLS 1.2 without extended master secret: the right tls-unique all
	 * the same is refused (RFC 9266 §3), the secret stays unused.
	 */
	secret = mint("dev-pop3", "device");
	csr_challenge(key, "dev-pop3", (char *)b64, &der, &len);
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, der, len);
	req_basic(&q, "dev-pop3", secret);
	q.r.is_binding_unsafe = 1;
	CHECK(run_tls(&q, &resp) == 403);
	CHECK(resp.body.data != NULL &&
	    strstr((char *)resp.body.data, "extended master secret") != NULL);
	http_response_free(&resp);
	/* The same secret over a session with it: 200. */
	q.r.is_binding_unsafe = 0;
	memcpy(q.r.channel_binding, binding, sizeof(binding));
	q.r.channel_binding_len = sizeof(binding);
	CHECK(run_tls(&q, &resp) == 200);
	http_response_free(&resp);
	req_free(&q);
	free(der);
	secret_free(secret);
	EVP_PKEY_free(key);
}

static void
test_serverkeygen(void)
{
	static const char *const specs[] = {"ec:P-384", "rsa:3072", "rsa:1024"};
	/* The CSR's family: its curve for EC, the profile's smallest size
	 * for any RSA CSR (some clients take RSA only), never the CSR's own
	 * RSA size. */
	static const int want[] = {EVP_PKEY_EC, EVP_PKEY_RSA, EVP_PKEY_RSA};
	static const int want_bits[] = {384, 3072, 3072};
	struct req q;
	struct http_response resp;
	char device[32], *secret, *body;
	uint8_t *der;
	size_t len, i;

	for (i = 0; i < 3; i++) {
		EVP_PKEY *key = testutil_key(specs[i]);

		snprintf(device, sizeof(device), "keygen-%zu", i);
		secret = mint(device, "device");
		testutil_csr(key, device, NULL, &der, &len);
		req_init(&q, "POST", "/.well-known/est/serverkeygen");
		req_csr(&q, der, len);
		req_basic(&q, device, secret);
		CHECK(run_tls(&q, &resp) == 200);
		body = (char *)resp.body.data;
		CHECK(
		    body != NULL && strstr(body, "application/pkcs8") != NULL);
		CHECK(body != NULL && strstr(body, "smime-type=certs-only"));
		CHECK(strncmp(http_response_header_get(&resp, "Content-Type"),
		          "multipart/mixed", 15) == 0);
		/* The key part: PKCS#8. */
		if (body != NULL) {
			char *start = strstr(body, "\r\n\r\n") + 4;
			char *end = strstr(start, "--");
			uint8_t *p8der = NULL;
			size_t p8len;
			const unsigned char *p;
			EVP_PKEY *got = NULL;

			if (codec_b64_decode((uint8_t *)start,
			        (size_t)(end - start), 65536, &p8der,
			        &p8len) == ST_OK) {
				p = p8der;
				got = d2i_AutoPrivateKey(NULL, &p, (long)p8len);
			}
			CHECK(got != NULL &&
			    EVP_PKEY_get_base_id(got) == want[i] &&
			    EVP_PKEY_get_bits(got) == want_bits[i]);
			EVP_PKEY_free(got);
			OPENSSL_cleanse(p8der, p8len);
			free(p8der);
		}
		http_response_free(&resp);
		req_free(&q);
		free(der);
		secret_free(secret);
		EVP_PKEY_free(key);
	}
}

struct row_job {
	struct store_cert *row;
};

static enum status
row_commit(struct store_txn *txn, void *arg)
{
	return store_txn_cert_insert(txn, ((struct row_job *)arg)->row);
}

/*
 * A device certificate of cn valid from days_ago + 30 days ago to days_ago
 * days ago (negative: still valid), naming cert_profile in its policy OID
 * (NULL: none), stored with row_profile as its row's profile.
 */
static X509 *
stored_cert(const char *cn, EVP_PKEY *key, int days_ago,
    const char *cert_profile, const char *row_profile)
{
	static const int eku[] = {NID_client_auth};
	struct ca_template t;
	struct store_cert row;
	struct row_job job;
	X509_NAME *name = X509_NAME_new();
	X509 *cert = NULL;
	char serial[41];
	int64_t now = (int64_t)time(NULL);

	X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	memset(&t, 0, sizeof(t));
	t.subject = name;
	t.pubkey = key;
	t.not_before = now - (int64_t)(days_ago + 30) * 86400;
	t.not_after = now - (int64_t)days_ago * 86400;
	t.pathlen = -1;
	t.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	t.eku_nids = eku;
	t.eku_count = 1;
	t.md_nid = NID_sha256;
	t.profile = cert_profile;
	if (ca_cert_sign(&t, a->issuing, a->issuing_key, &cert, serial) !=
	        ST_OK ||
	    ca_row_from_cert(cert, cn, row_profile, now, &row) != ST_OK)
		abort();
	job.row = &row;
	if (store_write(a->store, row_commit, &job) != ST_OK)
		abort();
	ca_row_clear(&row);
	X509_NAME_free(name);
	return cert;
}

/* A device certificate that expired days_ago days ago, stored as issued. */
static X509 *
expired_cert(const char *cn, EVP_PKEY *key, int days_ago)
{
	return stored_cert(cn, key, days_ago, "device", "device");
}

/*
 * The role comes from the profile the certificate names (its policy
 * OID), never from the row: a row raised to admin raises nothing, and a
 * certificate naming no profile is refused.
 */
static void
test_role_from_cert(void)
{
	static const struct {
		const char *cn, *cert_profile, *row_profile, *path;
		int want;
		const char *says;
	} cases[] = {
	    {"role-ok", "device", "device", "/api/v1/revocations", 200, NULL},
	    {"role-ok2", "device", "device", "/api/v1/audit", 403, "may not"},
	    {"role-raised", "device", "admin", "/api/v1/audit", 403,
	        "store says otherwise"},
	    {"role-raised2", "device", "admin", "/api/v1/revocations", 403,
	        "store says otherwise"},
	    {"role-none", NULL, "admin", "/api/v1/audit", 403,
	        "names no tessera profile"},
	};
	struct req q;
	struct http_response resp;
	EVP_PKEY *key = testutil_key("ec:P-256");
	char profile[LIMIT_LABEL_LEN + 1];
	X509 *cert;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cert = stored_cert(cases[i].cn, key, -10, cases[i].cert_profile,
		    cases[i].row_profile);
		if (cases[i].cert_profile != NULL) {
			CHECK_ST(ca_certpolicy_get(cert, profile), ST_OK);
			CHECK(strcmp(profile, cases[i].cert_profile) == 0);
		} else
			CHECK_ST(ca_certpolicy_get(cert, profile), ST_NOTFOUND);
		req_init(&q, "GET", cases[i].path);
		req_cert(&q, cert);
		CHECK(run_tls(&q, &resp) == cases[i].want);
		CHECK(cases[i].says == NULL ||
		    (resp.body.data != NULL &&
		        strstr((char *)resp.body.data, cases[i].says) != NULL));
		http_response_free(&resp);
		req_free(&q);
		X509_free(cert);
	}
	EVP_PKEY_free(key);
}

/* certificatePolicies that name no profile, or two: refused. */
static void
test_certpolicy(void)
{
	char profile[LIMIT_LABEL_LEN + 1];
	CERTIFICATEPOLICIES *cp;
	POLICYINFO *pi;
	X509 *x = X509_new();
	int i;

	CHECK_ST(ca_certpolicy_add(x, "Bad Name"), ST_MALFORMED);
	CHECK_ST(ca_certpolicy_add(x, ""), ST_MALFORMED);
	CHECK_ST(ca_certpolicy_get(x, profile), ST_NOTFOUND);
	CHECK_ST(ca_certpolicy_add(x, "station"), ST_OK);
	CHECK_ST(ca_certpolicy_get(x, profile), ST_OK);
	CHECK(strcmp(profile, "station") == 0);
	X509_free(x);
	/* Two tessera profiles in one extension: which role? Refused. */
	x = X509_new();
	cp = sk_POLICYINFO_new_null();
	for (i = 0; i < 2; i++) {
		pi = POLICYINFO_new();
		ASN1_OBJECT_free(pi->policyid);
		pi->policyid = OBJ_txt2obj(i == 0
		        ? CA_POLICY_PROFILES_ARC ".100.101.118.105.99.101"
		        : CA_POLICY_PROFILES_ARC ".97.100.109.105.110",
		    1);
		sk_POLICYINFO_push(cp, pi);
	}
	CHECK(X509_add1_ext_i2d(
	          x, NID_certificate_policies, cp, 0, X509V3_ADD_DEFAULT) == 1);
	CERTIFICATEPOLICIES_free(cp);
	CHECK_ST(ca_certpolicy_get(x, profile), ST_MALFORMED);
	CHECK_DETAIL("more than one");
	CHECK(profile[0] == '\0');
	X509_free(x);
	/* An arc in tessera's that is no profile name (upper case "A"):
	 * refused, not ignored. */
	x = X509_new();
	cp = sk_POLICYINFO_new_null();
	pi = POLICYINFO_new();
	ASN1_OBJECT_free(pi->policyid);
	pi->policyid = OBJ_txt2obj(CA_POLICY_PROFILES_ARC ".65", 1);
	sk_POLICYINFO_push(cp, pi);
	CHECK(X509_add1_ext_i2d(
	          x, NID_certificate_policies, cp, 0, X509V3_ADD_DEFAULT) == 1);
	CERTIFICATEPOLICIES_free(cp);
	CHECK_ST(ca_certpolicy_get(x, profile), ST_MALFORMED);
	X509_free(x);
}

/* The device profile renews up to 7 days after expiry, not later. */
static void
test_expired_renewal(void)
{
	struct req q;
	struct http_response resp;
	EVP_PKEY *key = testutil_key("ec:P-256");
	uint8_t *der = NULL, *late_der = NULL, *other = NULL;
	size_t len, late_len, other_len;
	X509 *recent = expired_cert("dev-offline", key, 2);
	X509 *old = expired_cert("dev-gone", key, 9);

	testutil_csr(key, "dev-offline", NULL, &der, &len);
	testutil_csr(key, "dev-gone", NULL, &late_der, &late_len);
	testutil_csr(key, "dev-other", NULL, &other, &other_len);
	req_init(&q, "POST", "/.well-known/est/simplereenroll");
	req_csr(&q, der, len);
	req_cert(&q, recent);
	CHECK(run_tls(&q, &resp) == 200);
	http_response_free(&resp);
	req_free(&q);
	/* Expired: good for renewing itself only. */
	req_init(&q, "POST", "/.well-known/est/simpleenroll");
	req_csr(&q, other, other_len);
	req_cert(&q, recent);
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	req_free(&q);
	req_init(&q, "POST", "/.well-known/est/simplereenroll");
	req_csr(&q, late_der, late_len);
	req_cert(&q, old);
	CHECK(run_tls(&q, &resp) == 401);
	CHECK(strstr((char *)resp.body.data, "renewal grace") != NULL);
	http_response_free(&resp);
	req_free(&q);
	X509_free(recent);
	X509_free(old);
	free(der);
	free(late_der);
	free(other);
	EVP_PKEY_free(key);
}

static void
test_api(const char *dir)
{
	static const char good[] = "{\"device\":\"api-1\",\"ttl\":600}";
	static const char unknown[] = "{\"device\":\"api-1\",\"tll\":600}";
	struct req q;
	struct http_response resp;
	char *path;
	FILE *f;
	X509 *admin;

	path = malloc(strlen(dir) + 32);
	snprintf(path, strlen(dir) + 32, "%s/admin/admin.pem", dir);
	f = fopen(path, "r");
	admin = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	free(path);
	CHECK(admin != NULL);

	req_init(&q, "POST", "/api/v1/enrollment-secrets");
	q.r.content_type = "application/json";
	q.r.body = (const uint8_t *)good;
	q.r.body_len = strlen(good);
	CHECK(run_tls(&q, &resp) == 401);
	http_response_free(&resp);
	req_cert(&q, admin);
	CHECK(run_tls(&q, &resp) == 201);
	CHECK(strstr((char *)resp.body.data, "\"secret\"") != NULL);
	http_response_free(&resp);
	q.r.body = (const uint8_t *)unknown;
	q.r.body_len = strlen(unknown);
	CHECK(run_tls(&q, &resp) == 400);
	CHECK(strstr((char *)resp.body.data, "tll") != NULL);
	http_response_free(&resp);
	/* The listing: who, what, when; never the secret or its hash. */
	q.r.method = "GET";
	q.r.body = NULL;
	q.r.body_len = 0;
	q.r.content_type = NULL;
	CHECK(run_tls(&q, &resp) == 200);
	CHECK(resp.body.data != NULL &&
	    strstr((char *)resp.body.data, "\"api-1\"") != NULL &&
	    strstr((char *)resp.body.data, "\"secret\"") == NULL &&
	    strstr((char *)resp.body.data, "hash") == NULL);
	http_response_free(&resp);
	/* One resource, two methods: a 405 names both (GET takes HEAD). */
	q.r.method = "DELETE";
	CHECK(run_tls(&q, &resp) == 405);
	CHECK(http_response_header_get(&resp, "Allow") != NULL &&
	    strcmp(http_response_header_get(&resp, "Allow"),
	        "POST, GET, HEAD") == 0);
	http_response_free(&resp);
	q.r.method = "POST";
	q.r.content_type = "application/json";
	/* Cross-site writes: refused before anything acts. */
	q.r.body = (const uint8_t *)good;
	q.r.body_len = strlen(good);
	q.r.origin = "https://evil.example";
	CHECK(run_tls(&q, &resp) == 403);
	CHECK(strstr((char *)resp.body.data, "Origin") != NULL);
	http_response_free(&resp);
	q.r.origin = "null";
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	q.r.origin = "https://localhost:8443";
	q.r.sec_fetch_site = "same-site";
	CHECK(run_tls(&q, &resp) == 403);
	CHECK(strstr((char *)resp.body.data, "Sec-Fetch-Site") != NULL);
	http_response_free(&resp);
	q.r.sec_fetch_site = "same-origin";
	CHECK(run_tls(&q, &resp) == 201);
	http_response_free(&resp);
	/* The origin the browser sent the request to is ours too. */
	q.r.origin = "https://ca.example:9443";
	q.r.host = "ca.example:9443";
	CHECK(run_tls(&q, &resp) == 201);
	http_response_free(&resp);
	q.r.host = "other.example:9443";
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	q.r.host = NULL;
	q.r.origin = q.r.sec_fetch_site = NULL;
	/* What navigator.sendBeacon sends: no type, no body. */
	req_free(&q);
	req_init(&q, "POST", "/api/v1/token-keys");
	req_cert(&q, admin);
	CHECK(run_tls(&q, &resp) == 415);
	http_response_free(&resp);
	q.r.content_type = "application/json";
	CHECK(run_tls(&q, &resp) == 400);
	http_response_free(&resp);
	q.r.body = (const uint8_t *)"{\"x\":1}";
	q.r.body_len = 7;
	CHECK(run_tls(&q, &resp) == 400);
	http_response_free(&resp);
	q.r.body = (const uint8_t *)"{}";
	q.r.body_len = 2;
	CHECK(run_tls(&q, &resp) == 201);
	http_response_free(&resp);
	/* Not from loopback: the admin role's allow-list refuses. */
	q.r.path = "/api/v1/enrollment-secrets";
	q.r.peer_address = "192.0.2.7";
	q.r.body = (const uint8_t *)good;
	q.r.body_len = strlen(good);
	CHECK(run_tls(&q, &resp) == 403);
	http_response_free(&resp);
	req_free(&q);
	X509_free(admin);
}

int
main(void)
{
	struct ca_setup s;
	char *dir = testutil_tmpdir(), *data;

	data = malloc(strlen(dir) + 8);
	snprintf(data, strlen(dir) + 8, "%s/var", dir);
	memset(&s, 0, sizeof(s));
	s.data_dir = data;
	CHECK_ST(ca_setup_run(&s), ST_OK);
	CHECK_ST(authority_open(data, &a), ST_OK);
	CHECK_ST(enroll_new(a, &e), ST_OK);
	if (e != NULL) {
		test_publish();
		test_routes();
		test_secret_enroll();
		test_binding();
		test_serverkeygen();
		test_expired_renewal();
		test_role_from_cert();
		test_certpolicy();
		test_api(data);
	}
	enroll_free(e);
	authority_close(a);
	testutil_rmtree(dir);
	free(data);
	free(dir);
	TEST_END();
}
