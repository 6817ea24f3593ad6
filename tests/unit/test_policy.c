/*
 * policy: the shipped policies load with the expected values; every broken
 * sample in tests/data/policy/ fails with ST_MALFORMED and a detail naming
 * the file and the JSON path; truncated and over-limit input fail cleanly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/pattern.h"
#include "ca/policy.h"
#include "common/file.h"
#include "tests/unit/test.h"

static char source_dir[2048];

static void
source_path(char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", source_dir, rel);
}

static void
test_default(void)
{
	struct policy *pol = NULL;
	const struct policy_profile *p;
	char path[4096], keys[200];

	source_path(path, sizeof(path), "policies/default.json");
	CHECK_ST(policy_load(path, &pol), ST_OK);
	if (pol == NULL)
		return;
	CHECK(policy_profile_count(pol) == 3);
	CHECK(policy_profile_get(pol, "nosuch") == NULL);
	CHECK(policy_profile_at(pol, 3) == NULL);

	p = policy_profile_get(pol, "device");
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK(p == policy_profile_at(pol, 0));
		CHECK(strcmp(p->description, "IoT device client certificate") ==
		    0);
		CHECK(p->validity_seconds == 30 * 86400);
		CHECK(p->backdate_seconds == 300);
		CHECK(p->key_count == 3);
		CHECK(p->keys[0].kind == POLICY_KEY_EC &&
		    p->keys[0].curve_nid == NID_X9_62_prime256v1);
		CHECK(p->keys[1].kind == POLICY_KEY_EC &&
		    p->keys[1].curve_nid == NID_secp384r1);
		CHECK(p->keys[2].kind == POLICY_KEY_RSA &&
		    p->keys[2].min_bits == 3072);
		policy_profile_keys_describe(p, keys, sizeof(keys));
		CHECK(strcmp(keys, "ec:P-256, ec:P-384, rsa:3072..4096") == 0);
		CHECK(p->rsa_max_bits == 4096);
		CHECK(p->supersede_after_seconds == 3600);
		CHECK(!p->allow_reprovision);
		CHECK(p->sig_md_nid == NID_sha256);
		/* Names: CN from the id, one URN, nothing else. */
		CHECK(p->device_id == POLICY_DEVICE_ID_CN);
		CHECK(p->id_pattern == NULL);
		CHECK(p->subject_count == 1);
		CHECK(p->subject[0].nid == NID_commonName &&
		    p->subject[0].kind == POLICY_ATTR_ID &&
		    strcmp(p->subject[0].value, "{id}") == 0);
		CHECK(policy_subject_rule(p, NID_commonName) == &p->subject[0]);
		CHECK(policy_subject_rule(p, NID_organizationName) == NULL);
		CHECK(!p->subject_utf8);
		CHECK(p->dns_templates.count == 0);
		CHECK(p->uri_templates.count == 1 &&
		    strcmp(p->uri_templates.t[0], "urn:dev:{id}") == 0);
		CHECK(!p->allow_ip);
		CHECK(!p->is_server_auth);
		CHECK(p->san_max == 4);
		CHECK(p->key_usage == X509v3_KU_DIGITAL_SIGNATURE);
		CHECK(p->eku_count == 1 && p->eku_nids[0] == NID_client_auth);
	}

	p = policy_profile_get(pol, "gateway");
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK(p->validity_seconds == 90 * 86400);
		CHECK(p->key_count == 3);
		/* The reported attack: never localhost, never an IP. */
		CHECK(p->id_pattern != NULL);
		CHECK(pattern_match(p->id_pattern, "gw-1"));
		CHECK(!pattern_match(p->id_pattern, "gw.1"));
		CHECK(!pattern_match(p->id_pattern, "gw_1"));
		CHECK(p->subject_count == 1 &&
		    strcmp(p->subject[0].value, "{id}.gw.tessera.invalid") ==
		        0);
		CHECK(p->dns_templates.count == 1 &&
		    strcmp(p->dns_templates.t[0], "{id}.gw.tessera.invalid") ==
		        0);
		CHECK(p->uri_templates.count == 0);
		CHECK(!p->allow_ip);
		CHECK(p->is_server_auth);
		CHECK(p->san_max == 4);
		CHECK(p->eku_count == 2 && p->eku_nids[0] == NID_server_auth &&
		    p->eku_nids[1] == NID_client_auth);
	}

	p = policy_profile_get(pol, "station");
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK(p->validity_seconds == 365 * 86400);
		CHECK(p->key_count == 2);
		policy_profile_keys_describe(p, keys, sizeof(keys));
		CHECK(strcmp(keys, "ec:P-256, ec:P-384") == 0);
		CHECK(p->subject_count == 1 &&
		    p->subject[0].kind == POLICY_ATTR_ID);
		CHECK(p->san_max == 0);
		CHECK(p->dns_templates.count == 0 &&
		    p->uri_templates.count == 0 && !p->allow_ip);
		CHECK(p->eku_count == 1 && p->eku_nids[0] == NID_client_auth);
	}
	policy_free(pol);
}

static void
test_factory(void)
{
	struct policy *pol = NULL;
	const struct policy_profile *p;
	char path[4096];

	source_path(path, sizeof(path), "policies/examples/factory.json");
	CHECK_ST(policy_load(path, &pol), ST_OK);
	p = policy_profile_get(pol, "device");
	CHECK(p != NULL);
	if (p != NULL) {
		const struct policy_subject_rule *r;

		CHECK(p->validity_seconds == 7 * 86400);
		CHECK(p->device_id == POLICY_DEVICE_ID_SERIALNUMBER);
		CHECK(p->subject_count == 4);
		r = policy_subject_rule(p, NID_serialNumber);
		CHECK(r != NULL && r->kind == POLICY_ATTR_ID);
		r = policy_subject_rule(p, NID_organizationName);
		CHECK(r != NULL && r->kind == POLICY_ATTR_FIXED &&
		    strcmp(r->value, "Acme Widgets") == 0);
		r = policy_subject_rule(p, NID_organizationalUnitName);
		CHECK(r != NULL && r->kind == POLICY_ATTR_PATTERN &&
		    !r->is_required && pattern_match(r->pattern, "Line 3") &&
		    !pattern_match(r->pattern, "Line\n3"));
		r = policy_subject_rule(p, NID_commonName);
		CHECK(r != NULL && r->kind == POLICY_ATTR_PATTERN);
		CHECK(pattern_match(p->id_pattern, "acme-12345678"));
		CHECK(!pattern_match(p->id_pattern, "ACME-12345678"));
	}
	policy_free(pol);
}

/* Each broken sample and a piece of the detail it must give. */
static const struct {
	const char *file;
	const char *detail;
} broken[] = {
    {"unknown_top_key.json", "$: unknown key \"profils\""},
    {"unknown_profile_key.json",
        "$.profiles.device: unknown key \"valdity_days\""},
    {"wrong_type.json",
        "$.profiles.device.validity_days: expected an "
        "integer, got a string"},
    {"bad_key_type.json",
        "$.profiles.device.keys[1]: unknown key type "
        "\"ec:P-521\" (expected ec:P-256, ec:P-384 or rsa:N with N >= "
        "2048)"},
    {"rsa_1024.json",
        "$.profiles.device.keys[0]: RSA modulus below 2048 "
        "bits in key type \"rsa:1024\""},
    /* serverkeygen makes keys of the rules' sizes: bounded. */
    {"rsa_above_max.json",
        "$.profiles.device.keys[1]: key type \"rsa:8192\" is above the "
        "profile's rsa_max_bits 4096"},
    {"rsa_max_range.json", "$.profiles.device.rsa_max_bits"},
    {"supersede_range.json",
        "$.profiles.device.renewal.supersede_after_seconds"},
    {"reprovision_type.json", "$.profiles.device.reprovision: expected"},
    {"bad_regex.json",
        "$.profiles.device.device_id_pattern: bad "
        "regular expression"},
    {"regex_too_complex.json",
        "$.profiles.device.device_id_pattern: "
        "regular expression too complex"},
    /* Found by fuzz_policy: glibc reads "{,255}" as 0 to 255. */
    {"regex_comma_bound.json",
        "$.profiles.device.device_id_pattern: "
        "regular expression too complex"},
    {"regex_backreference.json",
        "$.profiles.device.device_id_pattern: "
        "regular expression has a back-reference"},
    {"duplicate_key.json", "duplicate_key.json:6:"},
    {"not_json.json", "not_json.json:1:"},
    {"keycertsign.json",
        "$.profiles.device.key_usage[1]: keyCertSign is "
        "not allowed in a leaf profile"},
    {"unknown_eku.json",
        "$.profiles.device.extended_key_usage[0]: "
        "unknown extended key usage \"clientAuthentication\""},
    {"too_many_profiles.json", "$.profiles: 65 profiles, limit is 64"},
    {"bad_profile_name.json",
        "$.profiles: bad profile name "
        "\"Device!\""},
    {"bad_version.json", "$.version: unsupported version 2 (expected 1)"},
    {"validity_out_of_range.json",
        "$.profiles.device.validity_days: "
        "3651 is out of range (1..3650)"},
    {"missing_validity.json",
        "$.profiles.device: missing key "
        "\"validity_days\""},
    {"san_unknown_key.json",
        "$.profiles.device.san: unknown key "
        "\"maxx\""},
    {"bad_subject_attribute.json",
        "$.profiles.device.subject: unknown subject attribute "
        "\"noSuchAttr\" (expected C, ST, L, O, OU, serialNumber or CN)"},
    /* Names: every attribute has a rule, every name takes the id. */
    {"subject_rule_kind.json",
        "$.profiles.device.subject.O: a rule is a template with {id}, "
        "{\"value\": ...} or {\"pattern\": ...}"},
    {"subject_template_no_id.json",
        "$.profiles.device.subject.CN: \"fixed-name\" is not a template "
        "with one {id}"},
    {"subject_id_attr_fixed.json",
        "$.profiles.device.subject: CN holds the device id (device_id), "
        "so its rule must be a template with {id}"},
    {"subject_country.json",
        "$.profiles.device.subject.C.value: \"Germany\" is not two "
        "upper-case letters (ISO 3166)"},
    {"subject_value_control.json",
        "$.profiles.device.subject.O.value: \"Acme\\x07\" has a control "
        "character"},
    {"subject_value_homoglyph.json",
        "$.profiles.device.subject.O.value: \"\\xd0\\x90cme\" is not "
        "ASCII (set \"utf8\": true to allow it)"},
    {"subject_fixed_and_pattern.json",
        "$.profiles.device.subject.O: a fixed value takes no pattern or "
        "required"},
    {"subject_bad_pattern.json",
        "$.profiles.device.subject.OU.pattern: bad regular expression"},
    {"subject_serial_printable.json",
        "$.profiles.device.subject.serialNumber.value: \"SN_1\" has "
        "characters outside PrintableString"},
    {"san_dns_bare_id.json",
        "$.profiles.device.san.dns[0]: \"{id}\" must be \"{id}.\" "
        "followed by a DNS suffix"},
    {"san_dns_no_id.json",
        "$.profiles.device.san.dns[0]: \"localhost\" is not a template "
        "with one {id}"},
    {"san_dns_ip_suffix.json",
        "$.profiles.device.san.dns[0]: \"{id}.127.0.0.1\" has a suffix "
        "whose last label is numeric"},
    {"san_dns_upper.json",
        "$.profiles.device.san.dns[0]: \"{id}.GW.example\" has a suffix "
        "that is not lower-case"},
    {"san_uri_two_ids.json",
        "$.profiles.device.san.uri[0]: \"urn:{id}:{id}\" is not a "
        "template with one {id}"},
    {"san_uri_no_scheme.json",
        "$.profiles.device.san.uri[0]: \"{id}\" must start with a "
        "scheme"},
    {"serverauth_no_dns.json",
        "$.profiles.device.san: profile has extended key usage "
        "serverAuth, so it needs a DNS template (RFC 9525 §6"},
    {"serverauth_cn_not_san.json",
        "$.profiles.device.subject: profile has extended key usage "
        "serverAuth, so its CN must be one of its DNS templates (RFC 9525 "
        "§6)"},
    {"empty.json", "empty.json:1:"},
    {"role_unknown_key.json", "$.roles.station: unknown key \"alow\""},
    {"role_bad_cidr.json",
        "$.roles.station.allow[0]: \"10.0.0.0/33\" is not an address"},
    {"role_unknown_profile.json",
        "$.roles.station.enroll_profiles[0]: no profile named \"devices\""},
    {"role_no_pattern.json",
        "$.roles.station: enroll_profiles needs a device_pattern"},
    {"role_two_roles.json",
        "certificate profile station gives both role station and role "
        "device"},
    {"secret_unknown_profile.json",
        "$.authenticators.secret.profiles[0]: no profile named \"nope\""},
    {"secret_ttl_range.json",
        "$.authenticators.secret.default_ttl_seconds: 99999999 is out of "
        "range"},
    {"maker_missing_trust.json",
        "$.authenticators.manufacturers[0]: missing key \"trust\""},
    {"maker_no_pattern.json",
        "$.authenticators.manufacturers[0]: device_pattern is required: "
        "the device ids this manufacturer's IDevIDs may hold"},
    {"renewal_bad_days.json",
        "$.profiles.device.renewal.after_expiry_days: 400 is out of range"},
};

/* The sections beyond profiles, as default.json writes them. */
static void
test_roles(void)
{
	const struct policy_role *r;
	const struct policy_profile *p;
	struct policy *pol = NULL;
	char path[4096];

	source_path(path, sizeof(path), "policies/default.json");
	CHECK_ST(policy_load(path, &pol), ST_OK);
	if (pol == NULL)
		return;
	CHECK(policy_names_has(&policy_secrets(pol)->profiles, "device"));
	CHECK(!policy_names_has(&policy_secrets(pol)->profiles, "station"));
	CHECK(policy_secrets(pol)->default_ttl_seconds == 86400);
	r = policy_role_for_profile(pol, "admin");
	CHECK(r != NULL && strcmp(r->name, "admin") == 0);
	CHECK(r != NULL && r->may_mint_secrets);
	CHECK(r != NULL && policy_role_allows_address(r, "127.0.0.1"));
	CHECK(r != NULL && policy_role_allows_address(r, "::1"));
	CHECK(r != NULL && policy_role_allows_address(r, "::ffff:127.0.0.9"));
	CHECK(r != NULL && !policy_role_allows_address(r, "10.1.2.3"));
	CHECK(r != NULL && !policy_role_allows_address(r, "::2"));
	CHECK(r != NULL && !policy_role_allows_address(r, "not-an-ip"));
	CHECK(r != NULL && policy_role_allows_address(r, ""));
	r = policy_role_get(pol, "station");
	CHECK(r != NULL && policy_names_has(&r->enroll_profiles, "device"));
	CHECK(r != NULL && !policy_names_has(&r->enroll_profiles, "station"));
	CHECK(r != NULL && pattern_match(r->device_pattern, "dev-1"));
	CHECK(r != NULL && !pattern_match(r->device_pattern, "a b"));
	CHECK(r != NULL && policy_role_allows_address(r, "203.0.113.9"));
	CHECK(policy_role_for_profile(pol, "device") ==
	    policy_role_get(pol, "device"));
	CHECK(policy_role_for_profile(pol, "nope") == NULL);
	CHECK(policy_manufacturer_count(pol) == 0);
	p = policy_profile_get(pol, "device");
	CHECK(p != NULL && p->allow_reenroll);
	CHECK(p != NULL && p->renew_after_expiry_seconds == 7 * 86400);
	policy_free(pol);

	source_path(path, sizeof(path), "policies/examples/factory.json");
	CHECK_ST(policy_load(path, &pol), ST_OK);
	CHECK(pol != NULL && policy_manufacturer_count(pol) == 1);
	if (pol != NULL && policy_manufacturer_count(pol) == 1) {
		const struct policy_manufacturer *m =
		    policy_manufacturer_at(pol, 0);
		CHECK(strcmp(m->name, "acme-idevid") == 0);
		CHECK(m->device_id == POLICY_DEVICE_ID_SERIALNUMBER);
		CHECK(policy_names_has(&m->profiles, "device"));
		r = policy_role_get(pol, "station");
		CHECK(r != NULL && policy_role_allows_address(r, "10.20.3.4"));
		CHECK(r != NULL && !policy_role_allows_address(r, "10.21.3.4"));
		CHECK(r != NULL &&
		    pattern_match(r->device_pattern, "acme-12345678"));
		CHECK(r != NULL &&
		    !pattern_match(r->device_pattern, "acme-1234"));
	}
	policy_free(pol);
}

static void
test_broken(void)
{
	struct policy *pol;
	char path[4096], rel[256];
	size_t i;

	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		snprintf(
		    rel, sizeof(rel), "tests/data/policy/%s", broken[i].file);
		source_path(path, sizeof(path), rel);
		pol = (struct policy *)&pol; /* must be cleared */
		CHECK_ST(policy_load(path, &pol), ST_MALFORMED);
		CHECK(pol == NULL);
		CHECK_DETAIL(broken[i].detail);
		/* Every detail names the file. */
		CHECK_DETAIL(broken[i].file);
	}
	CHECK_ST(policy_parse("", 0, "empty.json", &pol), ST_MALFORMED);
	CHECK_DETAIL("empty.json:");
	CHECK(pol == NULL);
	CHECK_ST(policy_load("/nonexistent/policy.json", &pol), ST_NOTFOUND);
	CHECK(pol == NULL);
}

static void
test_parse_inline(void)
{
	static const char good[] =
	    "{\"version\":1,\"profiles\":{\"x\":{"
	    "\"validity_days\":1,\"keys\":[\"rsa:4096\",\"ec:P-384\"],"
	    "\"signature_hash\":\"sha384\",\"backdate_seconds\":0,"
	    "\"subject\":{\"serialNumber\":\"{id}\",\"utf8\":true,"
	    "\"CN\":\"{id}.example.net\",\"L\":{\"pattern\":\"^.+$\","
	    "\"required\":true},\"C\":{\"value\":\"DE\"},"
	    "\"O\":{\"value\":\"M\u00fcller\"}},\"device_id\":\"serialNumber\","
	    "\"san\":{\"dns\":[\"{id}.example.net\"],\"ip\":true,\"max\":2},"
	    "\"key_usage\":[\"digitalSignature\",\"keyAgreement\"],"
	    "\"extended_key_usage\":[\"1.3.6.1.4.1.55555.1.2\","
	    "\"serverAuth\"]}}}";
	static const char bad_eku_dup[] =
	    "{\"version\":1,\"profiles\":{\"x\":{"
	    "\"validity_days\":1,\"keys\":[\"ec:P-256\"],"
	    "\"subject\":{\"CN\":\"{id}\"},"
	    "\"key_usage\":[\"digitalSignature\"],"
	    "\"extended_key_usage\":[\"clientAuth\",\"1.3.6.1.5.5.7.3.2\"]}}}";
	static const char bad_ctl[] = "{\"version\":1,\"profiles\":{\"x\":"
	                              "{\"k\\u0001ey\":1}}}";
	static const char not_object[] = "[1, 2]";
	static const char real_days[] = "{\"version\":1,\"profiles\":{\"x\":{"
	                                "\"validity_days\":1.5}}}";
	struct policy *pol = NULL;
	const struct policy_profile *p;
	char keys[100];

	CHECK_ST(policy_parse(good, sizeof(good) - 1, "inline", &pol), ST_OK);
	p = policy_profile_get(pol, "x");
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK(p->validity_seconds == 86400);
		CHECK(p->backdate_seconds == 0);
		CHECK(p->sig_md_nid == NID_sha384);
		CHECK(p->device_id == POLICY_DEVICE_ID_SERIALNUMBER);
		CHECK(p->subject_utf8 && p->subject_count == 5);
		CHECK(p->is_server_auth);
		CHECK(policy_subject_rule(p, NID_localityName) != NULL &&
		    policy_subject_rule(p, NID_localityName)->is_required);
		CHECK(policy_subject_rule(p, NID_organizationName) != NULL &&
		    strcmp(policy_subject_rule(p, NID_organizationName)->value,
		        "M\xc3\xbcller") == 0);
		CHECK(policy_template_expand(p->dns_templates.t[0], "sn-1",
		          keys, sizeof(keys)) == 0 &&
		    strcmp(keys, "sn-1.example.net") == 0);
		CHECK(policy_template_expand(
		          p->dns_templates.t[0], "sn-1", keys, 10) == -1);
		CHECK(p->allow_ip && p->san_max == 2);
		CHECK(p->key_usage ==
		    (X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_KEY_AGREEMENT));
		CHECK(p->eku_count == 2 && p->eku_nids[0] != NID_undef &&
		    p->eku_nids[1] == NID_server_auth);
		CHECK(p->description[0] == '\0');
		policy_profile_keys_describe(p, keys, sizeof(keys));
		CHECK(strcmp(keys, "rsa:4096..4096, ec:P-384") == 0);
		/* A short buffer is cut, never overrun. */
		policy_profile_keys_describe(p, keys, 6);
		CHECK(strcmp(keys, "rsa:4") == 0);
	}
	policy_free(pol);
	policy_free(NULL);

	CHECK_ST(
	    policy_parse(bad_eku_dup, sizeof(bad_eku_dup) - 1, "inline", &pol),
	    ST_MALFORMED);
	CHECK_DETAIL("inline: $.profiles.x.extended_key_usage[1]: duplicate "
	             "extended key usage");
	CHECK_ST(policy_parse(bad_ctl, sizeof(bad_ctl) - 1, "inline", &pol),
	    ST_MALFORMED);
	CHECK_DETAIL("$.profiles.x: unknown key \"k\\x01ey\"");
	CHECK_ST(policy_parse(not_object, sizeof(not_object) - 1, NULL, &pol),
	    ST_MALFORMED);
	CHECK_DETAIL("policy: $: expected an object, got an array");
	CHECK_ST(policy_parse(real_days, sizeof(real_days) - 1, "inline", &pol),
	    ST_MALFORMED);
	CHECK_DETAIL("$.profiles.x.validity_days: expected an integer, got a "
	             "real number");
	CHECK(pol == NULL);
}

/* crl.cache_seconds, ocsp.cache_seconds: defaults, values, bounds. */
static void
test_cache_seconds(void)
{
	static const char set[] =
	    "{\"version\":1,\"profiles\":{},\"crl\":{\"cache_seconds\":42},"
	    "\"ocsp\":{\"cache_seconds\":0}}";
	static const char none[] = "{\"version\":1,\"profiles\":{}}";
	static const char over[] = "{\"version\":1,\"profiles\":{},"
	                           "\"ocsp\":{\"cache_seconds\":86401}}";
	static const char neg[] = "{\"version\":1,\"profiles\":{},"
	                          "\"crl\":{\"cache_seconds\":-1}}";
	struct policy *pol = NULL;

	CHECK_ST(policy_parse(none, sizeof(none) - 1, "inline", &pol), ST_OK);
	if (pol != NULL) {
		CHECK(policy_crl(pol)->cache_seconds == 300);
		CHECK(policy_ocsp(pol)->cache_seconds == 300);
	}
	policy_free(pol);
	CHECK_ST(policy_parse(set, sizeof(set) - 1, "inline", &pol), ST_OK);
	if (pol != NULL) {
		CHECK(policy_crl(pol)->cache_seconds == 42);
		CHECK(policy_ocsp(pol)->cache_seconds == 0);
	}
	policy_free(pol);
	CHECK_ST(
	    policy_parse(over, sizeof(over) - 1, "inline", &pol), ST_MALFORMED);
	CHECK_DETAIL("$.ocsp.cache_seconds");
	CHECK_ST(
	    policy_parse(neg, sizeof(neg) - 1, "inline", &pol), ST_MALFORMED);
	CHECK_DETAIL("$.crl.cache_seconds");
	CHECK(pol == NULL);
}

/*
 * metrics.allow: loopback by default; a list replaces it; [] lets nobody
 * read /metrics; a bad entry or an unknown key names its path.
 */
static void
test_metrics_allow(void)
{
	static const char none[] = "{\"version\":1,\"profiles\":{}}";
	static const char set[] = "{\"version\":1,\"profiles\":{},"
	                          "\"metrics\":{\"allow\":[\"10.0.5.0/24\"]}}";
	static const char empty[] = "{\"version\":1,\"profiles\":{},"
	                            "\"metrics\":{\"allow\":[]}}";
	static const char bad[] = "{\"version\":1,\"profiles\":{},"
	                          "\"metrics\":{\"allow\":[\"10.0.0.0/33\"]}}";
	static const char unknown[] = "{\"version\":1,\"profiles\":{},"
	                              "\"metrics\":{\"deny\":[]}}";
	struct policy *pol = NULL;

	CHECK_ST(policy_parse(none, sizeof(none) - 1, "inline", &pol), ST_OK);
	if (pol != NULL) {
		CHECK(policy_metrics_allows(pol, "127.0.0.1"));
		CHECK(policy_metrics_allows(pol, "127.9.8.7"));
		CHECK(policy_metrics_allows(pol, "::1"));
		CHECK(!policy_metrics_allows(pol, "10.0.5.1"));
		CHECK(!policy_metrics_allows(pol, "::2"));
		CHECK(!policy_metrics_allows(pol, ""));
		CHECK(!policy_metrics_allows(pol, NULL));
	}
	policy_free(pol);
	CHECK_ST(policy_parse(set, sizeof(set) - 1, "inline", &pol), ST_OK);
	if (pol != NULL) {
		CHECK(policy_metrics_allows(pol, "10.0.5.200"));
		CHECK(!policy_metrics_allows(pol, "10.0.6.1"));
		/* The list replaces the default: loopback is not in it. */
		CHECK(!policy_metrics_allows(pol, "127.0.0.1"));
	}
	policy_free(pol);
	CHECK_ST(policy_parse(empty, sizeof(empty) - 1, "inline", &pol), ST_OK);
	if (pol != NULL) {
		CHECK(!policy_metrics_allows(pol, "127.0.0.1"));
		CHECK(!policy_metrics_allows(pol, "::1"));
	}
	policy_free(pol);
	CHECK_ST(
	    policy_parse(bad, sizeof(bad) - 1, "inline", &pol), ST_MALFORMED);
	CHECK_DETAIL("$.metrics.allow[0]");
	CHECK_ST(policy_parse(unknown, sizeof(unknown) - 1, "inline", &pol),
	    ST_MALFORMED);
	CHECK_DETAIL("deny");
	CHECK(pol == NULL);
}

/* Every proper prefix of the default policy fails, and leaks nothing. */
static void
test_truncated(void)
{
	struct policy *pol;
	uint8_t *data = NULL;
	size_t len = 0, i, end, bad = 0;
	char path[4096];

	source_path(path, sizeof(path), "policies/default.json");
	CHECK_ST(file_read(path, LIMIT_POLICY_JSON, &data, &len), ST_OK);
	if (data == NULL)
		return;
	end = len;
	while (end > 0 && (data[end - 1] == '\n' || data[end - 1] == ' '))
		end--;
	for (i = 0; i < end; i++) {
		if (policy_parse((const char *)data, i, "cut", &pol) !=
		        ST_MALFORMED ||
		    pol != NULL) {
			bad++;
			policy_free(pol);
		}
	}
	CHECK(bad == 0);
	CHECK_ST(policy_parse((const char *)data, len, "whole", &pol), ST_OK);
	policy_free(pol);
	free(data);
}

static void
test_over_limit(void)
{
	struct policy *pol = NULL;
	size_t len = 2 * 1024 * 1024;
	char *big;

	if ((big = malloc(len)) == NULL) {
		CHECK(0);
		return;
	}
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	CHECK_ST(policy_parse(big, len, "big.json", &pol), ST_LIMIT);
	CHECK(pol == NULL);
	CHECK_DETAIL("big.json: 2097152 bytes, limit is 1048576");
	CHECK_ST(policy_parse(big, LIMIT_POLICY_JSON + 1, "big.json", &pol),
	    ST_LIMIT);
	free(big);
}

int
main(void)
{
	const char *src = getenv("TESSERA_SOURCE");

	snprintf(source_dir, sizeof(source_dir), "%s",
	    src != NULL && src[0] != '\0' ? src : ".");
	test_default();
	test_factory();
	test_broken();
	test_roles();
	test_parse_inline();
	test_cache_seconds();
	test_metrics_allow();
	test_truncated();
	test_over_limit();
	TEST_END();
}
