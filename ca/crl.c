/*
 * CRL building (RFC 5280 §5). The revoked entries are the whole cost at
 * scale, so they are parsed into fixed 32-byte records, sorted with one
 * memcmp per comparison and written as DER in a single exact-size buffer;
 * OpenSSL encodes the few fixed parts (issuer name, algorithm identifier,
 * extensions) and makes the one signature, which may run in a token.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/crl.h"
#include "ca/der.h"
#include "common/digest.h"
#include "ca/issue.h"
#include "common/limits.h"
#include "common/status.h"
#include "signer/signer.h"

/* RFC 5280 §4.1.2.2: serial numbers of at most 20 octets. */
#define SERIAL_MAX 20
/* Hex digits read from one serial, leading zeros included. */
#define SERIAL_HEX_MAX 64
/* Room before the TBSCertList for the outer SEQUENCE header (1 + 5). */
#define HEAD_ROOM 8

/*
 * One entry while sorting: the serial right-aligned big-endian and zero
 * padded, so that memcmp of the whole array is numeric order, which is
 * the order X509_CRL_sort gives (length of the magnitude, then bytes).
 */
struct crl_rec {
	uint8_t serial[SERIAL_MAX];
	uint8_t serial_len; /* bytes of magnitude; 0 for serial 0 */
	int8_t reason; /* -1 when no reasonCode is written */
	uint8_t pad[2];
	int64_t revoked_at;
};

/* Extensions{Extension{reasonCode, OCTET STRING{ENUMERATED r}}}. */
static const uint8_t reason_ext[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55,
    0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01};
#define REASON_EXT_LEN (sizeof(reason_ext) + 1)

/* Hex digit values plus one; 0 for every other byte. */
static const uint8_t hex_table[256] = {['0'] = 1,
    ['1'] = 2,
    ['2'] = 3,
    ['3'] = 4,
    ['4'] = 5,
    ['5'] = 6,
    ['6'] = 7,
    ['7'] = 8,
    ['8'] = 9,
    ['9'] = 10,
    ['A'] = 11,
    ['B'] = 12,
    ['C'] = 13,
    ['D'] = 14,
    ['E'] = 15,
    ['F'] = 16,
    ['a'] = 11,
    ['b'] = 12,
    ['c'] = 13,
    ['d'] = 14,
    ['e'] = 15,
    ['f'] = 16};

static int
hex_value(int c)
{
	return (int)hex_table[c & 0xff] - 1;
}

/*
 * Parse a hex serial into r; NULL on success, else what is wrong. One
 * pass from the end with a table: a million serials are a third of a CRL
 * build otherwise.
 */
static const char *
serial_parse(const char *hex, struct crl_rec *r)
{
	const unsigned char *h = (const unsigned char *)hex, *s, *e;
	uint8_t *q;
	unsigned lo, hi;
	size_t n;

	if (hex == NULL || *hex == '\0')
		return "serial is empty";
	n = strnlen(hex, SERIAL_HEX_MAX + 1);
	if (n > SERIAL_HEX_MAX)
		return "serial is too long";
	for (s = h; *s == '0'; s++)
		;
	e = h + n;
	if ((size_t)(e - s) > 2 * SERIAL_MAX) {
		for (; s < e; s++)
			if (hex_table[*s] == 0)
				return "serial is not hex";
		return "serial is over 20 octets (RFC 5280 §4.1.2.2)";
	}
	memset(r->serial, 0, sizeof(r->serial));
	q = r->serial + SERIAL_MAX;
	while (e - s >= 2) {
		e -= 2;
		hi = hex_table[e[0]];
		lo = hex_table[e[1]];
		if (hi == 0 || lo == 0)
			return "serial is not hex";
		*--q = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	if (e > s) {
		if ((lo = hex_table[s[0]]) == 0)
			return "serial is not hex";
		*--q = (uint8_t)(lo - 1);
	}
	r->serial_len = (uint8_t)(r->serial + SERIAL_MAX - q);
	return NULL;
}

/* Content octets of the INTEGER: a 0x00 before a set top bit; 0 is 00. */
static size_t
serial_int_len(const struct crl_rec *r)
{
	if (r->serial_len == 0)
		return 1;
	return r->serial_len + (r->serial[SERIAL_MAX - r->serial_len] >> 7);
}

/* Content length of one revokedCertificates element (always < 128). */
static size_t
rec_content_len(const struct crl_rec *r)
{
	return 2 + serial_int_len(r) + ca_der_time_size(r->revoked_at) +
	    (r->reason >= 1 ? REASON_EXT_LEN : 0);
}

/* One revokedCertificates element; the room is taken once for all of it. */
static void
rec_put(struct ca_der_w *w, const struct crl_rec *r)
{
	size_t ilen = serial_int_len(r), clen = rec_content_len(r);
	uint8_t *p = ca_der_w_take(w, 2 + clen);

	if (p == NULL)
		return;
	*p++ = CA_DER_SEQUENCE;
	*p++ = (uint8_t)clen;
	*p++ = CA_DER_INTEGER;
	*p++ = (uint8_t)ilen;
	if (ilen > r->serial_len)
		*p++ = 0;
	memcpy(p, r->serial + SERIAL_MAX - r->serial_len, r->serial_len);
	p += r->serial_len;
	p = ca_der_time_write(p, r->revoked_at);
	if (r->reason >= 1) {
		memcpy(p, reason_ext, sizeof(reason_ext));
		p += sizeof(reason_ext);
		*p = (uint8_t)r->reason;
	}
}

static int
rec_cmp(const void *a, const void *b)
{
	return memcmp(((const struct crl_rec *)a)->serial,
	    ((const struct crl_rec *)b)->serial, SERIAL_MAX);
}

/* The 4 serial bytes from k (zeros past the end), as a sort key. */
static inline uint32_t
rec_key(const struct crl_rec *r, size_t k)
{
	uint32_t v = 0;
	size_t i;

	if (k + 4 <= SERIAL_MAX)
		return (uint32_t)r->serial[k] << 24 |
		    (uint32_t)r->serial[k + 1] << 16 |
		    (uint32_t)r->serial[k + 2] << 8 | r->serial[k + 3];
	for (i = k; i < k + 4; i++)
		v = v << 8 | (i < SERIAL_MAX ? r->serial[i] : 0);
	return v;
}

/* Stable counting sort of v into out by 16 bits of the key at shift. */
static void
radix_pass(const struct crl_rec *v, struct crl_rec *out, size_t count, size_t k,
    int shift, size_t *pos)
{
	size_t i, sum = 0, c;

	memset(pos, 0, 65536 * sizeof(*pos));
	for (i = 0; i < count; i++)
		pos[(rec_key(&v[i], k) >> shift) & 0xffff]++;
	for (i = 0; i < 65536; i++) {
		c = pos[i];
		pos[i] = sum;
		sum += c;
	}
	for (i = 0; i < count; i++)
		out[pos[(rec_key(&v[i], k) >> shift) & 0xffff]++] = v[i];
}

/*
 * Sort recs by serial (rec_cmp's order) in O(n): the bytes every serial
 * shares are skipped, the next 4 sort by two 16-bit radix passes, and a
 * run that shares them too (rare, or an adversary's) by qsort. qsort over
 * a million entries was a third of a CRL build.
 */
static enum status
recs_sort(struct crl_rec *recs, size_t count)
{
	uint8_t diff[SERIAL_MAX];
	struct crl_rec *tmp;
	size_t *pos, i, j, k;

	if (count < 64) {
		if (count > 1)
			qsort(recs, count, sizeof(*recs), rec_cmp);
		return ST_OK;
	}
	memset(diff, 0, sizeof(diff));
	for (i = 1; i < count; i++)
		for (j = 0; j < SERIAL_MAX; j++)
			diff[j] |= recs[i].serial[j] ^ recs[0].serial[j];
	for (k = 0; k < SERIAL_MAX && diff[k] == 0; k++)
		;
	if (k == SERIAL_MAX)
		return ST_OK; /* all one serial: the twin check says so */
	if ((tmp = malloc(count * sizeof(*tmp))) == NULL)
		return ST_NOMEM;
	if ((pos = malloc(65536 * sizeof(*pos))) == NULL) {
		free(tmp);
		return ST_NOMEM;
	}
	radix_pass(recs, tmp, count, k, 0, pos);
	radix_pass(tmp, recs, count, k, 16, pos);
	free(pos);
	free(tmp);
	/* Runs with the same 4 bytes: ordered by the rest of the serial. */
	for (i = 0; i < count; i = j) {
		uint32_t key = rec_key(&recs[i], k);

		for (j = i + 1; j < count && rec_key(&recs[j], k) == key; j++)
			;
		if (j - i > 1 && k + 4 < SERIAL_MAX)
			qsort(&recs[i], j - i, sizeof(*recs), rec_cmp);
	}
	return ST_OK;
}

/* The serial of r in hex for a detail line (buf of 2 * SERIAL_MAX + 2). */
static const char *
rec_hex(const struct crl_rec *r, char *buf)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i, n = 0;

	for (i = SERIAL_MAX - r->serial_len; i < SERIAL_MAX; i++) {
		buf[n++] = digits[r->serial[i] >> 4];
		buf[n++] = digits[r->serial[i] & 0xf];
	}
	if (n == 0)
		buf[n++] = '0';
	buf[n] = '\0';
	return buf;
}

/* RFC 5280 §5.3.1: which reasons may appear, and which are written. */
static enum status
reason_check(int reason, size_t i, int8_t *out)
{
	if (reason == -1 || reason == 0) {
		/* unspecified(0) SHOULD NOT be written (§5.3.1). */
		*out = -1;
		return ST_OK;
	}
	if ((reason >= 1 && reason <= 6) || reason == 9 || reason == 10) {
		*out = (int8_t)reason;
		return ST_OK;
	}
	return status_fail(ST_MALFORMED,
	    "CRL entry %zu: reason %d is not a CRLReason for a full CRL "
	    "(RFC 5280 §5.3.1)",
	    i, reason);
}

/* Pull every entry into *out (caller frees), validated but unsorted. */
static enum status
recs_collect(
    ca_crl_next_fn next, void *arg, struct crl_rec **out, size_t *count)
{
	struct crl_rec *v = NULL, *nv, *r;
	struct ca_crl_entry e;
	size_t n = 0, cap = 0;
	const char *why;
	enum status st = ST_MALFORMED;
	int got;

	*out = NULL;
	*count = 0;
	for (;;) {
		e.serial_hex = NULL;
		e.revoked_at = 0;
		e.reason = -1;
		if ((got = next(arg, &e)) == 0)
			break;
		if (got != 1) {
			if (*status_detail() == '\0')
				status_fail(ST_STORE,
				    "CRL entry %zu: the "
				    "source failed",
				    n);
			st = ST_STORE;
			goto out;
		}
		if (n == CA_CRL_MAX_ENTRIES) {
			st = status_fail(ST_LIMIT, "over %d CRL entries",
			    CA_CRL_MAX_ENTRIES);
			goto out;
		}
		if (n == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				st = ST_NOMEM;
				goto out;
			}
			v = nv;
		}
		r = &v[n];
		if ((why = serial_parse(e.serial_hex, r)) != NULL) {
			st = status_fail(
			    ST_MALFORMED, "CRL entry %zu: %s", n, why);
			goto out;
		}
		if (!ca_der_time_ok(e.revoked_at)) {
			st = status_fail(ST_MALFORMED,
			    "CRL entry %zu: revocationDate %lld is out of "
			    "range",
			    n, (long long)e.revoked_at);
			goto out;
		}
		if ((st = reason_check(e.reason, n, &r->reason)) != ST_OK)
			goto out;
		r->pad[0] = r->pad[1] = 0;
		r->revoked_at = e.revoked_at;
		n++;
	}
	*out = v;
	*count = n;
	v = NULL;
	st = ST_OK;
out:
	free(v);
	return st;
}

/* RFC 5280 §5.2.5: an IA5String URI, printable ASCII, bounded. */
static int
idp_url_ok(const char *url)
{
	size_t n = strnlen(url, LIMIT_NAME_LEN + 1), i;

	if (n == 0 || n > LIMIT_NAME_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f)
			return 0;
	return 1;
}

/* The issuingDistributionPoint of a shard: fullName URI, user certs. */
static X509_EXTENSION *
idp_ext(const char *url)
{
	ISSUING_DIST_POINT *idp = NULL;
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *uri = NULL;
	X509_EXTENSION *ext = NULL;

	if ((idp = ISSUING_DIST_POINT_new()) == NULL ||
	    (idp->distpoint = DIST_POINT_NAME_new()) == NULL ||
	    (idp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL ||
	    (gn = GENERAL_NAME_new()) == NULL ||
	    (uri = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(uri, url, -1))
		goto out;
	idp->distpoint->type = 0; /* fullName */
	GENERAL_NAME_set0_value(gn, GEN_URI, uri);
	uri = NULL;
	if (!sk_GENERAL_NAME_push(idp->distpoint->name.fullname, gn))
		goto out;
	gn = NULL;
	/* X.690 §11.1: DER writes TRUE as 0xFF. OpenSSL writes the int it
	 * holds as the content octet, so 1 would come out as 0x01, which
	 * strict decoders (Python's cryptography, Go) refuse. */
	idp->onlyuser = 0xff;
	/* §5.2.5: the extension is critical. */
	ext = X509V3_EXT_i2d(NID_issuing_distribution_point, 1, idp);
out:
	ASN1_IA5STRING_free(uri);
	GENERAL_NAME_free(gn);
	ISSUING_DIST_POINT_free(idp);
	return ext;
}

/* crlExtensions (AKI, cRLNumber, IDP for a shard), DER (OPENSSL_free). */
static enum status
exts_der(const struct ca_crl_params *p, uint8_t **out, size_t *out_len)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	const ASN1_OCTET_STRING *ski;
	AUTHORITY_KEYID *akid = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *ext = NULL;
	enum status st = ST_NOMEM;
	int len;

	*out = NULL;
	if ((ski = X509_get0_subject_key_id(p->issuer)) == NULL)
		return status_fail(ST_MALFORMED,
		    "the CRL issuer has no subjectKeyIdentifier for the AKI "
		    "(RFC 5280 §5.2.1)");
	if ((exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    (akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(ski)) == NULL ||
	    (num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_int64(num, p->number))
		goto out;
	/* §5.2.1 AKI and §5.2.3 cRLNumber: both non-critical. */
	if ((ext = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid)) ==
	        NULL ||
	    !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	if ((ext = X509V3_EXT_i2d(NID_crl_number, 0, num)) == NULL ||
	    !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	if (p->idp_url != NULL &&
	    ((ext = idp_ext(p->idp_url)) == NULL ||
	        !sk_X509_EXTENSION_push(exts, ext)))
		goto out;
	ext = NULL;
	if ((len = i2d_X509_EXTENSIONS(exts, out)) <= 0) {
		st = status_fail_ssl(ST_INTERNAL, "CRL extensions");
		goto out;
	}
	*out_len = (size_t)len;
	st = ST_OK;
out:
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	return st;
}

static enum status
params_check(const struct ca_crl_params *p)
{
	EVP_PKEY *pub;
	int eq;

	if (p == NULL || p->issuer == NULL || p->key == NULL)
		return status_fail(ST_MALFORMED, "CRL without issuer or key");
	if (p->number < 0)
		return status_fail(ST_MALFORMED,
		    "cRLNumber %lld is negative (RFC 5280 §5.2.3)",
		    (long long)p->number);
	if (!ca_der_time_ok(p->this_update) || !ca_der_time_ok(p->next_update))
		return status_fail(
		    ST_MALFORMED, "CRL update time out of range");
	if (p->next_update <= p->this_update)
		return status_fail(ST_MALFORMED,
		    "nextUpdate is not after thisUpdate (RFC 5280 §5.1.2.5)");
	if (p->idp_url != NULL && !idp_url_ok(p->idp_url))
		return status_fail(ST_MALFORMED,
		    "CRL distribution point URI is empty, over %d bytes or "
		    "not printable ASCII",
		    LIMIT_NAME_LEN);
	if (EVP_get_digestbynid(p->md_nid) == NULL)
		return status_fail(
		    ST_MALFORMED, "CRL digest %d is unknown", p->md_nid);
	/* A CRL signed by another key would be refused by every relying
	 * party; say so here. -2 (cannot compare) lets the signature try. */
	if ((pub = X509_get0_pubkey(p->issuer)) == NULL)
		return status_fail(
		    ST_MALFORMED, "the CRL issuer has no usable public key");
	if ((eq = EVP_PKEY_eq(pub, signer_key_get0_public(p->key))) == 0 ||
	    eq == -1)
		return status_fail(ST_MALFORMED,
		    "the CRL key does not match the issuer certificate");
	return ST_OK;
}

enum status
ca_crl_build(const struct ca_crl_params *p, ca_crl_next_fn next, void *arg,
    uint8_t **der, size_t *der_len)
{
	static const uint8_t version_v2[] = {CA_DER_INTEGER, 1, 1};
	struct crl_rec *recs = NULL;
	struct ca_der_w w;
	uint8_t alg[DIGEST_SIGALG_DER_MAX];
	uint8_t *name = NULL, *exts = NULL, *sig = NULL, *buf = NULL, *nbuf;
	size_t count = 0, i, alg_len = 0, name_len, exts_len = 0, sig_len = 0;
	size_t rev_len = 0, tbs_body, tbs_len, bits_len, outer, head;
	char hex[2 * SERIAL_MAX + 2];
	enum status st;
	int len;

	*der = NULL;
	*der_len = 0;
	status_clear();
	if ((st = params_check(p)) != ST_OK)
		return st;
	if (next == NULL)
		return status_fail(ST_MALFORMED, "CRL without an entry source");
	if ((st = digest_sigalg_der(
	         EVP_PKEY_get_base_id(signer_key_get0_public(p->key)),
	         p->md_nid, alg, sizeof(alg), &alg_len)) != ST_OK ||
	    (st = exts_der(p, &exts, &exts_len)) != ST_OK)
		goto out;
	if ((len = i2d_X509_NAME(X509_get_subject_name(p->issuer), &name)) <=
	    0) {
		st = status_fail_ssl(ST_INTERNAL, "CRL issuer name");
		goto out;
	}
	name_len = (size_t)len;
	if ((st = recs_collect(next, arg, &recs, &count)) != ST_OK)
		goto out;

	/* §5.1.2.6: ascending serial order is not required, but X509_CRL_sort
	 * gives it, lookups in relying parties expect it, and a duplicate
	 * serial shows up next to its twin. */
	if ((st = recs_sort(recs, count)) != ST_OK)
		goto out;
	for (i = 0; i < count; i++) {
		if (i > 0 && rec_cmp(&recs[i - 1], &recs[i]) == 0) {
			st = status_fail(ST_CONFLICT,
			    "serial %s is in the CRL twice",
			    rec_hex(&recs[i], hex));
			goto out;
		}
		rev_len += 2 + rec_content_len(&recs[i]);
	}

	/* TBSCertList (§5.1.2): version v2(1), signature, issuer,
	 * thisUpdate, nextUpdate, revokedCertificates (omitted when empty,
	 * §5.1.2.6), [0] EXPLICIT crlExtensions. */
	tbs_body = sizeof(version_v2) + alg_len + name_len +
	    ca_der_time_size(p->this_update) +
	    ca_der_time_size(p->next_update) +
	    (count > 0 ? ca_der_tlv_size(rev_len) : 0) +
	    ca_der_tlv_size(exts_len);
	tbs_len = ca_der_tlv_size(tbs_body);
	if (tbs_len > UINT32_MAX / 2) {
		st = status_fail(ST_LIMIT, "CRL of %zu bytes", tbs_len);
		goto out;
	}
	if ((buf = malloc(HEAD_ROOM + tbs_len)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	ca_der_w_init(&w, buf + HEAD_ROOM, tbs_len);
	ca_der_put_hdr(&w, CA_DER_SEQUENCE, tbs_body);
	ca_der_put(&w, version_v2, sizeof(version_v2));
	ca_der_put(&w, alg, alg_len);
	ca_der_put(&w, name, name_len);
	ca_der_put_time(&w, p->this_update);
	ca_der_put_time(&w, p->next_update);
	if (count > 0) {
		ca_der_put_hdr(&w, CA_DER_SEQUENCE, rev_len);
		for (i = 0; i < count; i++)
			rec_put(&w, &recs[i]);
	}
	ca_der_put_tlv(&w, CA_DER_CTX_CONS(0), exts, exts_len);
	if (!ca_der_w_done(&w, buf + HEAD_ROOM + tbs_len)) {
		st = status_fail(ST_INTERNAL, "CRL length mismatch");
		goto out;
	}
	free(recs);
	recs = NULL;

	/* The one operation on the key: in a token, one PKCS#11 C_Sign. */
	if ((st = signer_sign(p->key, SIGNER_PURPOSE_CRL, p->md_nid,
	         buf + HEAD_ROOM, tbs_len, &sig, &sig_len)) != ST_OK)
		goto out;

	/* CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm,
	 * signatureValue BIT STRING } (§5.1.1), around the TBS in place: a
	 * million entries are 50 MB not to copy. */
	bits_len = ca_der_tlv_size(1 + sig_len);
	outer = tbs_len + alg_len + bits_len;
	head = 1 + ca_der_len_size(outer);
	if ((nbuf = realloc(buf, HEAD_ROOM + outer)) == NULL) {
		st = ST_NOMEM;
		goto out;
	}
	buf = nbuf;
	ca_der_w_init(&w, buf + HEAD_ROOM + tbs_len, alg_len + bits_len);
	ca_der_put(&w, alg, alg_len);
	ca_der_put_hdr(&w, CA_DER_BIT_STRING, 1 + sig_len);
	ca_der_put_u8(&w, 0); /* no unused bits */
	ca_der_put(&w, sig, sig_len);
	if (!ca_der_w_done(&w, buf + HEAD_ROOM + outer)) {
		st = status_fail(ST_INTERNAL, "CRL length mismatch");
		goto out;
	}
	ca_der_w_init(&w, buf + HEAD_ROOM - head, head);
	ca_der_put_hdr(&w, CA_DER_SEQUENCE, outer);
	memmove(buf, buf + HEAD_ROOM - head, head + outer);
	*der = buf;
	*der_len = head + outer;
	buf = NULL;
	st = ST_OK;
out:
	free(buf);
	free(recs);
	OPENSSL_free(sig);
	OPENSSL_free(exts);
	OPENSSL_free(name);
	return st;
}

enum status
ca_crl_pem(const uint8_t *der, size_t len, char **pem, size_t *pem_len)
{
	static const char begin[] = "-----BEGIN X509 CRL-----\n";
	static const char end[] = "-----END X509 CRL-----\n";
	size_t lines, cap, hdr, body, off = 0, i, n;
	char *out;

	*pem = NULL;
	*pem_len = 0;
	/* The outer SEQUENCE must span exactly len bytes (definite DER
	 * lengths of up to 4 octets). */
	if (der == NULL || len < 2 || der[0] != 0x30)
		return status_fail(ST_MALFORMED, "not a DER CRL");
	if (der[1] < 0x80) {
		hdr = 2;
		body = der[1];
	} else {
		n = der[1] & 0x7f;
		if (n == 0 || n > 4 || len < 2 + n)
			return status_fail(ST_MALFORMED, "not a DER CRL");
		for (body = 0, i = 0; i < n; i++)
			body = body << 8 | der[2 + i];
		hdr = 2 + n;
	}
	if (body != len - hdr)
		return status_fail(
		    ST_MALFORMED, "DER CRL length does not match its header");
	lines = (len + 47) / 48;
	cap = sizeof(begin) - 1 + lines * 65 + sizeof(end);
	if ((out = malloc(cap)) == NULL)
		return ST_NOMEM;
	memcpy(out, begin, sizeof(begin) - 1);
	off = sizeof(begin) - 1;
	for (i = 0; i < len; i += 48) {
		n = len - i < 48 ? len - i : 48;
		off += (size_t)EVP_EncodeBlock(
		    (unsigned char *)out + off, der + i, (int)n);
		out[off++] = '\n';
	}
	memcpy(out + off, end, sizeof(end));
	off += sizeof(end) - 1;
	*pem = out;
	*pem_len = off;
	return ST_OK;
}

int
ca_crl_shard(const char *serial_hex, int shards)
{
	uint32_t low = 0;
	size_t n, i;
	int v;

	if (serial_hex == NULL || *serial_hex == '\0')
		return -1;
	n = strnlen(serial_hex, SERIAL_HEX_MAX + 1);
	if (n > SERIAL_HEX_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = hex_value((unsigned char)serial_hex[i])) < 0)
			return -1;
		low = low << 4 | (uint32_t)v;
	}
	if (shards <= 1)
		return 0;
	return (int)(low % (uint32_t)shards);
}

/*
 * The next DER element at *p (before end): its tag, class and content
 * length; *p moves to its content. -1 when it does not fit.
 */
static int
der_next(const uint8_t **p, const uint8_t *end, int *tag, int *cls,
    long *content_len)
{
	int rc;

	if (*p >= end)
		return -1;
	rc = ASN1_get_object(p, content_len, tag, cls, (long)(end - *p));
	if ((rc & 0x80) != 0 || (rc & 0x01) != 0 || *content_len > end - *p)
		return -1;
	return 0;
}

/* A UTCTime or GeneralizedTime element (tag, content at p) as time_t. */
static int
der_time(int tag, const uint8_t *p, long len, int64_t *out)
{
	ASN1_TIME *t = NULL;
	int rc = -1;

	if ((tag != V_ASN1_UTCTIME && tag != V_ASN1_GENERALIZEDTIME) ||
	    len < 1 || len > 32)
		return -1;
	if ((t = ASN1_STRING_type_new(tag)) == NULL)
		return -1;
	if (ASN1_STRING_set(t, p, (int)len) == 1 && ASN1_TIME_check(t) == 1 &&
	    (*out = ca_time_unix(t)) >= 0)
		rc = 0;
	ASN1_STRING_free(t);
	return rc;
}

enum status
ca_crl_describe(const uint8_t *der, size_t len, struct ca_crl_info *out)
{
	const uint8_t *p = der, *end = der + len, *tbs_end, *list_end;
	long n;
	int tag, cls;

	memset(out, 0, sizeof(*out));
	/* CertificateList ::= SEQUENCE { tbsCertList, ... } */
	if (len == 0 || der_next(&p, end, &tag, &cls, &n) != 0 ||
	    tag != V_ASN1_SEQUENCE || p + n != end ||
	    der_next(&p, end, &tag, &cls, &n) != 0 || tag != V_ASN1_SEQUENCE)
		goto bad;
	tbs_end = p + n;
	/* version INTEGER OPTIONAL, signature AlgorithmIdentifier */
	if (der_next(&p, tbs_end, &tag, &cls, &n) != 0)
		goto bad;
	if (tag == V_ASN1_INTEGER) {
		p += n;
		if (der_next(&p, tbs_end, &tag, &cls, &n) != 0)
			goto bad;
	}
	if (tag != V_ASN1_SEQUENCE)
		goto bad;
	p += n;
	/* issuer Name */
	if (der_next(&p, tbs_end, &tag, &cls, &n) != 0 ||
	    tag != V_ASN1_SEQUENCE)
		goto bad;
	p += n;
	/* thisUpdate Time */
	if (der_next(&p, tbs_end, &tag, &cls, &n) != 0 ||
	    der_time(tag, p, n, &out->this_update) != 0)
		goto bad;
	p += n;
	if (p == tbs_end)
		return ST_OK;
	/* nextUpdate Time OPTIONAL */
	if (der_next(&p, tbs_end, &tag, &cls, &n) != 0)
		goto bad;
	if (cls == V_ASN1_UNIVERSAL &&
	    (tag == V_ASN1_UTCTIME || tag == V_ASN1_GENERALIZEDTIME)) {
		if (der_time(tag, p, n, &out->next_update) != 0)
			goto bad;
		p += n;
		if (p == tbs_end)
			return ST_OK;
		if (der_next(&p, tbs_end, &tag, &cls, &n) != 0)
			goto bad;
	}
	/* revokedCertificates SEQUENCE OF SEQUENCE OPTIONAL */
	if (cls != V_ASN1_UNIVERSAL || tag != V_ASN1_SEQUENCE)
		return ST_OK; /* [0] crlExtensions: no entries */
	list_end = p + n;
	while (p < list_end) {
		if (der_next(&p, list_end, &tag, &cls, &n) != 0 ||
		    tag != V_ASN1_SEQUENCE)
			goto bad;
		p += n;
		out->entries++;
	}
	return ST_OK;
bad:
	memset(out, 0, sizeof(*out));
	return status_fail(
	    ST_MALFORMED, "not a DER CertificateList (RFC 5280 5.1)");
}
