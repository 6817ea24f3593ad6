/*
 * api: helpers of the JSON admin API that its tests and fuzz target use.
 */
#ifndef TESSERA_ENROLL_API_H
#define TESSERA_ENROLL_API_H

#include <jansson.h>

#include "enroll/http.h"

/*
 * Parse a JSON request body strictly with the reader the policy and
 * tessera.json use (ca/jsonread.h, messages "body: $.key: reason"): at
 * most 16 KiB, an object, no duplicate keys, nesting at most 8 deep,
 * every key in known (NULL terminated). The caller frees *out with
 * jsonread_free.
 */
struct jsonread;
enum status api_body_parse(const uint8_t *body, size_t len,
    const char *const *known, struct jsonread **out) MUST_CHECK;

/*
 * Make resp the error code with the JSON object o as its body (o is
 * consumed; fallback is the text body when o cannot be written).
 */
void api_json_error(
    struct http_response *resp, int code, json_t *o, const char *fallback);

/*
 * Make resp code with the JSON object o as its body (o is consumed). The
 * text is wiped once copied: it may hold a one-time secret or a token.
 */
void api_send(struct http_response *resp, int code, json_t *o);

/* Make resp a JSON error: {"error": error, "detail": detail}. */
void api_error(struct http_response *resp, int code, const char *error,
    const char *detail);

#endif
