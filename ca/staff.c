/*
 * Certificates for the people who operate tessera (the holders of admin,
 * operator and auditor roles), and the watch over tessera's own
 * certificates' expiry (the expiry watch part, ca/staff.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "ca/authority_internal.h"
#include "ca/deviceid.h"
#include "ca/issue.h"
#include "ca/service.h"
#include "ca/staff.h"
#include "common/log.h"

#define DAY (24 * 3600)
/* How often the expiry list is looked up again, and logged. */
#define EXPIRY_REFRESH 60
#define EXPIRY_LOG_EVERY DAY
/* Staff certificates looked at per profile: people, not devices. */
#define STAFF_LIST_LIMIT 1000

/* The role-holding profiles whose certificates tessera watches. */
static const char *const staff_profiles[] = {"admin", "operator", "auditor"};

/* tessera's certificates close to expiry, as found at one time. */
struct expiry_list {
	struct authority_expiry e[AUTHORITY_EXPIRY_MAX];
	size_t count;
};

/* The part's fields (ca/staff.h). */
struct expiry_watch {
	pthread_mutex_t mu;
	int has_mu;
	struct expiry_list list; /* [mu] as found at */
	int64_t at; /* [mu] 0: look again at the next call */
	int64_t logged; /* the tick's thread only */
};

enum status
expiry_watch_new(struct expiry_watch **out)
{
	struct expiry_watch *w;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return ST_NOMEM;
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		return ST_NOMEM;
	}
	w->has_mu = 1;
	*out = w;
	return ST_OK;
}

void
expiry_watch_free(struct expiry_watch *w)
{
	if (w == NULL)
		return;
	if (w->has_mu)
		pthread_mutex_destroy(&w->mu);
	free(w);
}

/* Look again at the next call (a certificate was just made or renewed). */
static void
expiry_watch_stale(struct expiry_watch *w)
{
	pthread_mutex_lock(&w->mu);
	w->at = 0;
	pthread_mutex_unlock(&w->mu);
}

enum status
authority_staff_issue(struct authority *a, const struct principal *who,
    const char *profile, const char *cn, X509 **cert, EVP_PKEY **key)
{
	static const int eku[] = {NID_client_auth};
	struct ca_service_spec spec;
	char actor[LIMIT_NAME_LEN * 2];
	EVP_PKEY *k = NULL;
	enum status st;

	*cert = NULL;
	*key = NULL;
	if (who->kind != PRINCIPAL_OPERATOR)
		return status_fail(ST_DENIED,
		    "certificates of roles are issued by the local operator "
		    "only (tessera issue)");
	if (policy_profile_get(a->policy, profile) != NULL)
		return status_fail(ST_MALFORMED,
		    "profile %s is an enrollment profile: its certificates "
		    "are issued for a CSR (give --csr)",
		    profile);
	if (policy_role_for_profile(a->policy, profile) == NULL)
		return status_fail(ST_NOTFOUND,
		    "no profile %s: neither an enrollment profile nor one a "
		    "role of the policy names in certificate_profiles",
		    profile);
	if ((st = ca_device_id_check(cn, NULL)) != ST_OK)
		return st;
	if ((st = issuing_ca_check(a)) != ST_OK)
		return st;
	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		return status_fail_ssl(ST_INTERNAL, "key generation failed");
	memset(&spec, 0, sizeof(spec));
	spec.cn = cn;
	spec.profile = profile;
	spec.pubkey = k;
	spec.days = 365;
	spec.pathlen = -1;
	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	spec.eku = eku;
	spec.eku_count = 1;
	spec.md_nid = NID_sha256;
	spec.issuer_gen = a->issuing_gen;
	principal_describe(who, actor, sizeof(actor));
	if ((st = ca_service_issue(a->store, a->cfg->name, actor,
	         (int64_t)time(NULL), &spec, a->issuing, a->issuing_key,
	         a->crl_url, a->ocsp_url, a->ca_issuers_url, cert)) != ST_OK) {
		EVP_PKEY_free(k);
		return st;
	}
	/* A new holder of a role may be due: look again. */
	expiry_watch_stale(a->expiry);
	*key = k;
	return ST_OK;
}

/* Warn from this much before cert's end: AUTHORITY_EXPIRY_WARN, or a
 * third of a shorter life (renewed by itself at that point). */
static int64_t
warn_window(int64_t not_before, int64_t not_after)
{
	int64_t third = (not_after - not_before) / 3;

	return third < AUTHORITY_EXPIRY_WARN ? third : AUTHORITY_EXPIRY_WARN;
}

static void
expiry_add(struct expiry_list *l, const char *what, X509 *cert,
    const char *remedy, int64_t now)
{
	struct authority_expiry *e;
	int64_t nb, na;
	char *subject;

	if (cert == NULL || l->count == AUTHORITY_EXPIRY_MAX)
		return;
	nb = ca_time_unix(X509_get0_notBefore(cert));
	na = ca_time_unix(X509_get0_notAfter(cert));
	if (na - now >= warn_window(nb, na))
		return;
	e = &l->e[l->count];
	memset(e, 0, sizeof(*e));
	snprintf(e->what, sizeof(e->what), "%s", what);
	if ((subject = ca_name_string(X509_get_subject_name(cert))) != NULL)
		snprintf(e->subject, sizeof(e->subject), "%s", subject);
	free(subject);
	if (ca_cert_serial_hex(cert, e->serial) != ST_OK)
		e->serial[0] = '\0';
	e->not_after = na;
	snprintf(e->remedy, sizeof(e->remedy), "%s", remedy);
	l->count++;
}

/* The newest valid certificate of each holder (subject) of a profile. */
struct staff_scan {
	struct {
		char subject[LIMIT_NAME_LEN + 1];
		char serial[41];
		int64_t not_before, not_after;
	} holders[AUTHORITY_EXPIRY_MAX];
	size_t count;
	int64_t now;
};

static int
staff_row(const struct store_cert *c, void *arg)
{
	struct staff_scan *s = arg;
	size_t i;

	if (c->not_after <= s->now)
		return 0;
	for (i = 0; i < s->count; i++)
		if (strcmp(s->holders[i].subject, c->subject) == 0)
			break;
	if (i == s->count) {
		if (s->count == AUTHORITY_EXPIRY_MAX)
			return 0;
		s->count++;
	} else if (s->holders[i].not_after >= c->not_after)
		return 0;
	snprintf(s->holders[i].subject, sizeof(s->holders[i].subject), "%s",
	    c->subject);
	snprintf(s->holders[i].serial, sizeof(s->holders[i].serial), "%s",
	    c->serial);
	s->holders[i].not_before = c->not_before;
	s->holders[i].not_after = c->not_after;
	return 0;
}

static enum status
staff_expiring(struct authority *a, struct expiry_list *l, const char *profile,
    int64_t now)
{
	struct store_cert_filter f;
	struct staff_scan *s;
	struct authority_expiry *e;
	size_t i;
	enum status st;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ST_NOMEM;
	s->now = now;
	memset(&f, 0, sizeof(f));
	f.status = STORE_CERT_VALID;
	f.profile = profile;
	f.limit = STAFF_LIST_LIMIT;
	if ((st = store_cert_list(a->store, &f, staff_row, s)) != ST_OK)
		goto out;
	for (i = 0; i < s->count && l->count < AUTHORITY_EXPIRY_MAX; i++) {
		if (s->holders[i].not_after - now >=
		    warn_window(
		        s->holders[i].not_before, s->holders[i].not_after))
			continue;
		e = &l->e[l->count++];
		memset(e, 0, sizeof(*e));
		snprintf(e->what, sizeof(e->what), "%s", profile);
		snprintf(e->subject, sizeof(e->subject), "%s",
		    s->holders[i].subject);
		snprintf(
		    e->serial, sizeof(e->serial), "%s", s->holders[i].serial);
		e->not_after = s->holders[i].not_after;
		snprintf(e->remedy, sizeof(e->remedy),
		    "%stessera issue --profile %s --name <holder> again",
		    strcmp(profile, "admin") == 0
		        ? "tessera renew admin (the first admin) or "
		        : "",
		    profile);
	}
out:
	free(s);
	return st;
}

enum status
authority_expiring(struct authority *a, int64_t now,
    struct authority_expiry out[AUTHORITY_EXPIRY_MAX], size_t *count)
{
	struct expiry_watch *w = a->expiry;
	struct expiry_list *l = NULL;
	X509 *tls = NULL, *ocsp = NULL;
	size_t i;
	enum status st = ST_OK;

	*count = 0;
	pthread_mutex_lock(&w->mu);
	if (w->at != 0 && now - w->at < EXPIRY_REFRESH && now >= w->at) {
		memcpy(out, w->list.e,
		    w->list.count * sizeof(struct authority_expiry));
		*count = w->list.count;
		pthread_mutex_unlock(&w->mu);
		return ST_OK;
	}
	pthread_mutex_unlock(&w->mu);
	/* Found without the lock (files, the store); kept with it. */
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return ST_NOMEM;
	expiry_add(l, "root CA", a->root,
	    "a new root, distributed to every trust store", now);
	expiry_add(l, "issuing CA", a->issuing,
	    "a new issuing CA (tessera init in a new data directory)", now);
	/* The files, which renewals replace, not what this process holds. */
	if (authority_file_cert_load(a->cfg, "ca/ocsp.pem", &ocsp) == ST_OK)
		expiry_add(l, "OCSP responder", ocsp,
		    "tessera renew ocsp; the automatic renewal is failing",
		    now);
	X509_free(ocsp);
	if (authority_file_cert_load(a->cfg, "tls/server.pem", &tls) == ST_OK)
		expiry_add(l, "TLS server", tls,
		    "tessera renew tls; the automatic renewal is failing", now);
	X509_free(tls);
	for (i = 0; i < sizeof(staff_profiles) / sizeof(staff_profiles[0]); i++)
		if ((st = staff_expiring(a, l, staff_profiles[i], now)) !=
		    ST_OK)
			goto out;
	pthread_mutex_lock(&w->mu);
	w->list = *l;
	w->at = now;
	pthread_mutex_unlock(&w->mu);
	memcpy(out, l->e, l->count * sizeof(struct authority_expiry));
	*count = l->count;
out:
	free(l);
	return st;
}

void
expiry_tick(struct authority *a, int64_t now)
{
	struct authority_expiry *e;
	size_t i, n;

	if (a->expiry->logged != 0 &&
	    now - a->expiry->logged < EXPIRY_LOG_EVERY)
		return;
	/* Just renewed (TLS, OCSP): look again rather than at the cache. */
	expiry_watch_stale(a->expiry);
	if ((e = calloc(AUTHORITY_EXPIRY_MAX, sizeof(*e))) == NULL)
		return;
	if (authority_expiring(a, now, e, &n) != ST_OK) {
		log_warn("expiry check: %s", status_detail());
		free(e);
		return;
	}
	a->expiry->logged = now;
	for (i = 0; i < n; i++)
		if (e[i].not_after > now)
			log_warn("the %s certificate %s (serial %s) expires "
			         "in %lld days; renew it: %s",
			    e[i].what, e[i].subject, e[i].serial,
			    (long long)((e[i].not_after - now) / DAY),
			    e[i].remedy);
		else
			log_warn("the %s certificate %s (serial %s) has "
			         "expired; renew it: %s",
			    e[i].what, e[i].subject, e[i].serial, e[i].remedy);
	free(e);
}
