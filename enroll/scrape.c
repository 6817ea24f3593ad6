/*
 * /metrics: the shared pool's counters (common/metrics), then what is read
 * when scraped: the version, the token's state, the CA certificates'
 * expiry and each published CRL's age and size. Any worker answers for
 * the whole service, since the pool is shared by all of them.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/log.h"
#include "common/metrics.h"
#include "enroll/handlers.h"

/* The Prometheus text format's media type (exposition format 0.0.4). */
#define SCRAPE_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* tessera_build_info, tessera_hsm_up and the CA certificates' expiry
 * (root, issuing, and after a rollover retiring until it retires). */
static enum status
service_render(struct enroll *e, struct buf *out)
{
	const char *version[] = {"version", TESSERA_VERSION, NULL};
	const char *ca[] = {"ca", NULL, NULL};
	int64_t not_after[2], until;
	int is_up = authority_health(e->a) == ST_OK;
	enum status st;
	int i;

	status_clear();
	if ((st = metrics_family(out, "tessera_build_info", "gauge",
	         "Always 1; the version is in the label.")) != ST_OK ||
	    (st = metrics_sample(out, "tessera_build_info", version, 1)) !=
	        ST_OK ||
	    (st = metrics_family(out, "tessera_hsm_up", "gauge",
	         "1 when the token answers (a signature can be made), else "
	         "0.")) != ST_OK ||
	    (st = metrics_sample(out, "tessera_hsm_up", NULL, is_up)) !=
	        ST_OK ||
	    (st = metrics_family(out,
	         "tessera_ca_cert_expiry_timestamp_seconds", "gauge",
	         "When a CA certificate of tessera's expires (notAfter, Unix "
	         "time).")) != ST_OK)
		return st;
	authority_ca_not_after(e->a, &not_after[0], &not_after[1]);
	for (i = 0; i < 2; i++) {
		ca[1] = i == 0 ? "root" : "issuing";
		if ((st = metrics_sample(out,
		         "tessera_ca_cert_expiry_timestamp_seconds", ca,
		         (double)not_after[i])) != ST_OK)
			return st;
	}
	/* After a rollover, until it retires. */
	if (authority_retiring_not_after(e->a, &not_after[0], &until)) {
		ca[1] = "retiring";
		if ((st = metrics_sample(out,
		         "tessera_ca_cert_expiry_timestamp_seconds", ca,
		         (double)not_after[0])) != ST_OK)
			return st;
	}
	return ST_OK;
}

/* Each published CRL: its age, its nextUpdate, its entries and bytes. */
static enum status
crls_render(struct enroll *e, struct buf *out)
{
	static const struct {
		const char *name, *help;
	} families[] = {
	    {"tessera_crl_age_seconds",
	        "Seconds since the CRL's thisUpdate (how old the published "
	        "one is)."},
	    {"tessera_crl_next_update_timestamp_seconds",
	        "The CRL's nextUpdate (Unix time); relying parties refuse it "
	        "after."},
	    {"tessera_crl_entries", "Revoked certificates the CRL lists."},
	    {"tessera_crl_size_bytes", "The CRL's size (DER)."},
	};
	struct authority_crl_state crls[AUTHORITY_CRLS_MAX];
	const char *labels[] = {"crl", NULL, NULL};
	int64_t now = (int64_t)time(NULL);
	size_t count = 0, f, i;
	double v;
	enum status st;

	if (authority_crl_states(e->a, crls, AUTHORITY_CRLS_MAX, &count) !=
	    ST_OK) {
		/* The counters are still worth having: say it, go on. */
		log_warn("/metrics: CRLs: %s", status_detail());
		count = 0;
	}
	for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		if ((st = metrics_family(out, families[f].name, "gauge",
		         families[f].help)) != ST_OK)
			return st;
		for (i = 0; i < count; i++) {
			labels[1] = crls[i].name;
			v = f == 0   ? (double)(now - crls[i].this_update)
			    : f == 1 ? (double)crls[i].next_update
			    : f == 2 ? (double)crls[i].entries
			             : (double)crls[i].der_len;
			if ((st = metrics_sample(
			         out, families[f].name, labels, v)) != ST_OK)
				return st;
		}
	}
	return ST_OK;
}

void
scrape_handle(struct enroll *e, const struct http_request *req,
    const struct route_match *m, struct http_response *resp)
{
	char q[80];
	enum status st;

	(void)m;
	/*
	 * The counters tell an outsider how busy the CA is and how its
	 * enrollments fare: the policy says who may read them.
	 */
	if (!authority_metrics_allows(e->a, req->peer_address)) {
		http_response_error(resp, 403,
		    "/metrics is not served to %s: the policy's metrics.allow "
		    "does not list it",
		    log_quote(req->peer_address ? req->peer_address : "", q,
		        sizeof(q)));
		return;
	}
	if (e->metrics == NULL) {
		http_response_error(resp, 404,
		    "no metrics in this process (only tessera serve has them)");
		return;
	}
	if ((st = metrics_render(e->metrics, &resp->body)) != ST_OK ||
	    (st = service_render(e, &resp->body)) != ST_OK ||
	    (st = crls_render(e, &resp->body)) != ST_OK) {
		http_response_error(resp, 500, "/metrics: %s", status_name(st));
		return;
	}
	resp->status = 200;
	resp->content_type = SCRAPE_CONTENT_TYPE;
	if (http_response_header(resp, "Cache-Control", "no-store") != ST_OK)
		resp->header_count = 0;
}
