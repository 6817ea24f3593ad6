/*
 * ca/crl: X.509 v2 certificate revocation lists (RFC 5280 §5), built from
 * revoked entries pulled through a callback, so that it knows nothing of
 * the store. The TBSCertList is written as DER directly (the OpenSSL
 * X509_REVOKED path takes over 5 s and 260 MB for a million entries); only
 * the one signature goes through the key, which may be a token handle.
 */
#ifndef TESSERA_CA_CRL_H
#define TESSERA_CA_CRL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/status.h"

struct signer_key;

/*
 * Entries in one CRL: the builder holds 32 bytes per entry while it sorts
 * them and ~50 bytes of DER each, so this caps it near 1.5 GB.
 */
#define CA_CRL_MAX_ENTRIES (16 * 1024 * 1024)

/* One revoked certificate, as the callback hands it over. */
struct ca_crl_entry {
	/* Hex serial, either case, at most 20 octets once leading zeros go
	 * (RFC 5280 §4.1.2.2). Borrowed: it need only live until the next
	 * call of the callback. */
	const char *serial_hex;
	int64_t revoked_at; /* revocationDate, seconds since the epoch */
	/* RFC 5280 §5.3.1 CRLReason; -1 = none. The reasonCode extension is
	 * written only for 1..6, 9, 10: none and unspecified(0) leave it out;
	 * 7 (unused) and removeFromCRL(8, delta CRLs only) are refused. */
	int reason;
};

/*
 * Pull the next entry: return 1 and fill *e, 0 at the end, -1 on error
 * (the builder then fails with ST_STORE; the callback may set the detail
 * line with status_fail first). Entries may come in any order; the builder
 * sorts them. A serial that comes twice fails the build (ST_CONFLICT).
 */
typedef int (*ca_crl_next_fn)(void *arg, struct ca_crl_entry *e);

struct ca_crl_params {
	/* The CA certificate: its subject is the CRL issuer, its SKI becomes
	 * the AKI keyIdentifier (an issuer without an SKI is refused). */
	X509 *issuer;
	/* The CA key, held by the signer (signer_key_find); EC or RSA
	 * (PKCS#1 v1.5). It must match the issuer's public key. */
	const struct signer_key *key;
	int64_t number; /* cRLNumber, >= 0, monotonic (the caller's job) */
	int64_t this_update, next_update; /* seconds; next > this */
	/* NULL for a full CRL; for a shard, the URI that shard's certificates
	 * name in their CRL distribution point: the CRL then carries a
	 * critical issuingDistributionPoint with it and onlyContainsUserCerts,
	 * and the callback must hand over only that shard's entries. */
	const char *idp_url;
	int md_nid; /* the key's: ca_key_md_nid (ca/issue.h) */
};

/*
 * Build and sign a CRL: pull every entry through next(arg, ...), sort them
 * by serial, write the DER and sign it once with p->key. Times are UTCTime
 * through 2049 and GeneralizedTime from 2050 (RFC 5280 §5.1.2.4).
 * ST_MALFORMED for a bad parameter or entry (the detail names it), ST_LIMIT
 * past CA_CRL_MAX_ENTRIES, ST_STORE when next fails, ST_UNAVAILABLE when
 * the key cannot sign. On success the caller frees *der with free().
 */
enum status ca_crl_build(const struct ca_crl_params *p, ca_crl_next_fn next,
    void *arg, uint8_t **der, size_t *der_len) MUST_CHECK;

/*
 * The PEM form ("X509 CRL", 64 columns) of a DER CRL, for nginx's ssl_crl.
 * Only the outer DER SEQUENCE is checked (it must span exactly len bytes).
 * *pem is NUL-terminated, *pem_len excludes the NUL; the caller frees *pem
 * with free().
 */
enum status ca_crl_pem(
    const uint8_t *der, size_t len, char **pem, size_t *pem_len) MUST_CHECK;

/*
 * The shard (0..shards-1) of a hex serial: its low 32 bits modulo shards,
 * so it never changes for a certificate. 0 when shards <= 1; -1 for a
 * serial that is NULL, empty or not hex.
 */
int ca_crl_shard(const char *serial_hex, int shards);

/* What an operator wants to know of a CRL without its entries. */
struct ca_crl_info {
	int64_t this_update; /* seconds since the epoch */
	int64_t next_update; /* 0: none */
	size_t entries; /* revoked certificates listed */
};

/*
 * Read a DER CRL's times and count its entries by walking the DER (no
 * entry is decoded, so a CRL of a million costs milliseconds).
 * ST_MALFORMED when it is not one DER CertificateList (RFC 5280 §5.1).
 */
enum status ca_crl_describe(
    const uint8_t *der, size_t len, struct ca_crl_info *out) MUST_CHECK;

#endif
