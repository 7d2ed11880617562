/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AWS Signature Version 4 for the Kinesis API: parsing the Authorization
 * header (always, for the presence checks Kinesis makes) and, when the
 * server has credentials configured, recomputing the signature with
 * OpenSSL (SHA-256, HMAC) and comparing it in constant time.
 */
#ifndef SL_CONTROL_SIGV4_H
#define SL_CONTROL_SIGV4_H

#include <stddef.h>

/* What the check found; the HTTP status is 400 for all but NONE. */
#define SL_SIGV4_RESULTS(X)                                                                        \
	X(OK, "")                                                                                  \
	X(MISSING, "MissingAuthenticationTokenException")                                          \
	X(INCOMPLETE, "IncompleteSignatureException")                                              \
	X(INVALID, "InvalidSignatureException")                                                    \
	X(UNRECOGNIZED, "UnrecognizedClientException")

enum sl_sigv4_result {
#define X(n, s) SL_SIGV4_##n,
	SL_SIGV4_RESULTS(X)
#undef X
};

const char *sl_sigv4_result_name(enum sl_sigv4_result r);

struct sl_sigv4_request {
	const char *method;
	const char *path; /* with the query string */
	size_t nheaders;
	const char *const *header_names; /* any case */
	const char *const *header_values;
	const void *body;
	size_t len;
};

/* Scope parsed from "Credential=<key>/<date>/<region>/<service>/aws4_request". */
struct sl_sigv4_scope {
	char access_key[129];
	char date[9];
	char region[33];
	char service[33];
};

/*
 * Checks r. access_key/secret_key NULL: only the presence checks (an
 * Authorization header with Credential, SignedHeaders and Signature, and an
 * X-Amz-Date or Date header). Otherwise also: the access key must be
 * access_key (UNRECOGNIZED) and the signature must match (INVALID).
 * msg (cap bytes) gets Kinesis's message for anything but OK; scope (may be
 * NULL) gets the credential scope when it parsed.
 */
enum sl_sigv4_result sl_sigv4_check(const struct sl_sigv4_request *r, const char *access_key,
                                    const char *secret_key, struct sl_sigv4_scope *scope, char *msg,
                                    size_t cap);

/* Signs r as a client would (tests, sluicectl): returns the Authorization
 * header value in buf. amz_date is "YYYYMMDDTHHMMSSZ"; r must already carry
 * the X-Amz-Date header among its headers, and every header in r is signed. */
int sl_sigv4_sign(const struct sl_sigv4_request *r, const char *access_key, const char *secret_key,
                  const char *region, const char *service, const char *amz_date, char *buf,
                  size_t cap);

#endif
