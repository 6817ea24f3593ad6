/*
 * Every size an outsider can influence, one line each with the reason.
 */
#ifndef TESSERA_COMMON_LIMITS_H
#define TESSERA_COMMON_LIMITS_H

/* A P-256 CSR is ~212 bytes DER, RSA-4096 ~1.1 KB; 16 KiB leaves room. */
#define LIMIT_CSR_DER (16 * 1024)
/* A certificate we accept from a client (chains are a few of these). */
#define LIMIT_CERT_DER (16 * 1024)
/* Policy files are written by operators but read strictly all the same. */
#define LIMIT_POLICY_JSON (1024 * 1024)
/* tessera.json: a few hundred bytes in practice. */
#define LIMIT_CONFIG_JSON (64 * 1024)
/* PKCS#11 PINs; generous, but a file is not read without bound. */
#define LIMIT_PIN_LEN 256
/* Device ids name rows and appear in certificates (CN ub-common-name 64). */
#define LIMIT_DEVICE_ID_LEN 64
/* Subject attributes in a CSR; a device needs two or three. */
#define LIMIT_SUBJECT_ATTRS 8
/* Subject alternative names in one CSR (a CSR with 1000 SANs is hostile). */
#define LIMIT_SAN_COUNT 16
/* One name (DNS, URI, attribute value) inside a certificate. */
#define LIMIT_NAME_LEN 256
/* PKCS#11 object and token labels (CK_UTF8CHAR[32] for tokens). */
#define LIMIT_LABEL_LEN 64
/* A PKCS#11 URI in the configuration. */
#define LIMIT_PKCS11_URI_LEN 512
/* Audit detail lines. */
#define LIMIT_AUDIT_DETAIL 1024
/* Profiles, key types and list entries in one policy file. */
#define LIMIT_POLICY_ENTRIES 64
/* A regular expression in the policy. */
#define LIMIT_PATTERN_LEN 256
/* Jobs the store writer folds into one transaction (one fsync). */
#define LIMIT_GROUP_COMMIT 256

#endif
