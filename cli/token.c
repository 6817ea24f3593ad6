#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "ca/authority.h"
#include "ca/token.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tessera token rotate [--data DIR]\n"
	    "       tessera token verify --jwks FILE --issuer URL "
	    "--audience AUD\n"
	    "                            [--cert PEM] [--leeway SECONDS] "
	    "TOKEN\n\n"
	    "rotate  generates a new token-signing key in the token; new "
	    "device tokens are\n"
	    "        signed with it at once. The old key stays in the JWKS "
	    "until every\n"
	    "        token it signed has expired (the policy's longest "
	    "tokens ttl plus its\n"
	    "        leeway), then leaves. Prints the new key's kid.\n"
	    "verify  checks a device token as a gateway does: ES256 "
	    "signature by a key of\n"
	    "        the JWK Set in FILE (as served at "
	    "/.well-known/jwks.json), iss, aud,\n"
	    "        exp and nbf (default leeway 60 s) and, with --cert, "
	    "that the token is\n"
	    "        bound to that certificate (cnf.x5t#S256). TOKEN - "
	    "reads it from stdin.\n"
	    "        Prints the claims.\n");
}

static int
rotate(const char *dir)
{
	struct authority *a = NULL;
	struct principal op;
	char kid[TOKEN_THUMBPRINT_LEN + 1];
	enum status st;
	int rc;

	cli_operator(&op);
	if ((st = authority_open(dir, &a)) == ST_OK &&
	    (st = authority_token_rotate(a, &op, kid)) == ST_OK)
		printf("new token-signing key: kid %s\n", kid);
	rc = st == ST_OK ? 0 : cli_fail("token rotate", st);
	authority_close(a);
	return rc;
}

/* The token from argv, or its first line on stdin for "-". */
static char *
token_text(const char *arg)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (strcmp(arg, "-") != 0)
		return strdup(arg);
	if ((n = getline(&line, &cap, stdin)) < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

struct verify_args {
	const char *jwks, *issuer, *audience, *cert, *token;
	long leeway;
};

static int
verify(const struct verify_args *v)
{
	json_t *jwks = NULL, *claims = NULL;
	json_error_t err;
	X509 *cert = NULL;
	char *token = NULL, *text = NULL;
	enum status st;
	int rc = 1;

	if ((jwks = json_load_file(v->jwks, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		fprintf(stderr, "tessera token verify: %s: %s\n", v->jwks,
		    err.text);
		goto out;
	}
	if (v->cert != NULL && (cert = read_cert(v->cert)) == NULL) {
		fprintf(stderr,
		    "tessera token verify: %s: not a PEM certificate\n",
		    v->cert);
		goto out;
	}
	if ((token = token_text(v->token)) == NULL) {
		fprintf(stderr, "tessera token verify: no token on stdin\n");
		goto out;
	}
	if ((st = token_verify(token, strlen(token), jwks, &claims)) != ST_OK ||
	    (st = token_check_claims(claims, v->issuer, v->audience,
	         (int64_t)time(NULL), v->leeway, cert)) != ST_OK) {
		rc = cli_fail("token verify", st);
		goto out;
	}
	if ((text = json_dumps(claims, JSON_INDENT(2) | JSON_SORT_KEYS)) !=
	    NULL)
		printf("%s\n", text);
	rc = 0;
out:
	free(text);
	free(token);
	X509_free(cert);
	json_decref(claims);
	json_decref(jwks);
	return rc;
}

int
cmd_token(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"jwks", required_argument, NULL, 'j'},
	    {"issuer", required_argument, NULL, 'i'},
	    {"audience", required_argument, NULL, 'a'},
	    {"cert", required_argument, NULL, 'c'},
	    {"leeway", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct verify_args v;
	const char *dir = NULL, *what;
	char *end;
	int c;

	memset(&v, 0, sizeof(v));
	v.leeway = 60;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'j':
			v.jwks = optarg;
			break;
		case 'i':
			v.issuer = optarg;
			break;
		case 'a':
			v.audience = optarg;
			break;
		case 'c':
			v.cert = optarg;
			break;
		case 'l':
			v.leeway = strtol(optarg, &end, 10);
			if (*end != '\0' || v.leeway < 0 || v.leeway > 3600) {
				fprintf(stderr,
				    "tessera token: --leeway takes 0..3600 "
				    "seconds\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	what = optind < argc ? argv[optind++] : "";
	if (strcmp(what, "rotate") == 0 && optind == argc)
		return rotate(cli_data_dir(dir));
	if (strcmp(what, "verify") == 0 && optind + 1 == argc &&
	    v.jwks != NULL && v.issuer != NULL && v.audience != NULL) {
		v.token = argv[optind];
		return verify(&v);
	}
	usage(stderr);
	return 2;
}
