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
/* Names in tessera's TLS server certificate (--dns and --ip, each). */
#define LIMIT_SERVER_NAMES 16
/* PKCS#11 object and token labels (CK_UTF8CHAR[32] for tokens). */
#define LIMIT_LABEL_LEN 64
/* A PKCS#11 URI in the configuration. */
#define LIMIT_PKCS11_URI_LEN 512
/* Audit detail lines. */
#define LIMIT_AUDIT_DETAIL 1024
/* Profiles, key types and list entries in one policy file. */
#define LIMIT_POLICY_ENTRIES 64
/* Names in one policy list (profiles a role may enroll, ...). */
#define LIMIT_POLICY_NAMES 16
/* Roles and manufacturer authenticators in one policy. */
#define LIMIT_POLICY_ROLES 16
/* A regular expression in the policy. */
#define LIMIT_PATTERN_LEN 256
/* Jobs the store writer folds into one transaction (one fsync). */
#define LIMIT_GROUP_COMMIT 256

/* Request line and headers of one HTTP connection (MHD answers 431 beyond). */
#define LIMIT_HTTP_CONNECTION_MEMORY (16 * 1024)
/* Connections per listener per worker; two listeners stay under 1024 fds. */
#define LIMIT_HTTP_CONNECTIONS 480
/*
 * Connections from one address per listener per worker: room for a
 * factory NAT, yet eight addresses hold at most 256 of the 480 slots.
 */
#define LIMIT_HTTP_CONNECTIONS_PER_IP 32
/* Seconds a connection may stay idle or trickle a request (slowloris). */
#define LIMIT_HTTP_IDLE_SECONDS 30
/* TLS handshake and the first request's headers (clients that send
 * nothing, or half a handshake). */
#define LIMIT_HTTP_FIRST_REQUEST_SECONDS 5
/* A request, headers and body, must arrive within this (slow clients). */
#define LIMIT_HTTP_REQUEST_SECONDS 30
/* Certificates in a TLS client's chain (leaf, intermediates). */
#define LIMIT_PEER_CHAIN 8
/* CRL shards of the issuing CA (policy crl.shards, 1..this). */
#define LIMIT_CRL_SHARDS 64
/* A serial as an admin types it: 40 hex digits and leading zeros. */
#define LIMIT_SERIAL_INPUT 64
/* Headers of an API answer tessera admin reads (a few hundred bytes). */
#define LIMIT_HTTPS_HEADER (16 * 1024)
/* An API answer's body: a page of 1000 certificates is about 400 KB. */
#define LIMIT_HTTPS_BODY (8 * 1024 * 1024)
/* A path segment a route captures: device ids (64), serials (40), profiles
 * (64); longer ones name nothing, and are a 404 before any look-up. */
#define LIMIT_ROUTE_PARAM_LEN 128
/* The admin client configuration file (four paths and a URL). */
#define LIMIT_ADMIN_CONFIG (64 * 1024)
/* A CSV of devices for tessera admin secrets import, or a revoke list. */
#define LIMIT_ADMIN_LIST (64 * 1024 * 1024)

/* Bytes one signature covers: a CRL of a few million entries. */
#define LIMIT_SIGNER_TBS (256 * 1024 * 1024)
/* A signed object (certificate, CRL, OCSP response) assembled around it. */
#define LIMIT_SIGNED_DER (LIMIT_SIGNER_TBS + 64 * 1024)

#endif
