/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AWS Signature Version 4, server side (check) and client side (sign).
 *
 * The checks run in the order AWS's front end (Coral) runs them, so that a
 * client sees the error AWS would give it:
 *
 *   Authorization absent or empty            MISSING
 *   Credential / Signature / SignedHeaders
 *   or both X-Amz-Date and Date absent       INCOMPLETE (the missing parts, listed)
 *   -- only with credentials configured --
 *   a parameter without '='                  INCOMPLETE
 *   date not ISO-8601 basic (or RFC 1123)    INCOMPLETE
 *   'host' (or ':authority') not signed      INVALID
 *   algorithm other than AWS4-HMAC-SHA256    INCOMPLETE
 *   Credential not 5 '/'-separated parts     INCOMPLETE
 *   bad terminator, scope date != the date   INVALID (region and service
 *                                            are whatever the client
 *                                            signed with: no list here)
 *   another access key                       UNRECOGNIZED
 *   signature differs                        INVALID
 *
 * The presence checks parse the header the way kinesalite does (its tests
 * were checked against AWS): split on ',' and ' ', drop the first token
 * (the algorithm), "key=value" for the rest. The messages are AWS's, as
 * captured by kinesalite and dynalite.
 *
 * The canonical request is the one botocore and the AWS SDKs build, computed
 * from what arrived on the wire: the raw path with dot segments and empty
 * segments removed, then percent-encoded once more (AWS signs the encoded
 * path of the URL, encoded again, for every service but S3); the query
 * pairs as sent, sorted; each signed header
 * with its values joined by ',' and its white space collapsed; the hex
 * SHA-256 of the body. Signatures are compared with CRYPTO_memcmp so that
 * the time taken says nothing about how much of a guess was right.
 *
 * This is a cold path per request (a few KiB of hashing plus the body's
 * SHA-256); it allocates one buffer for the canonical request.
 */
#include "sigv4.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler.h"

#define ALGORITHM    "AWS4-HMAC-SHA256"
#define TERMINATOR   "aws4_request"
#define SHA256_LEN   32
#define HEX_LEN      (2 * SHA256_LEN)
#define AMZ_DATE_LEN 16 /* YYYYMMDDTHHMMSSZ */

#define MSG_MISSING "Missing Authentication Token"
#define MSG_INVALID                                                                                \
	"The request signature we calculated does not match the signature you provided. Check "    \
	"your AWS Secret Access Key and signing method. Consult the service documentation for "    \
	"details."
#define MSG_UNRECOGNIZED "The security token included in the request is invalid."

static const char *const result_names[] = {
#define X(n, s) s,
        SL_SIGV4_RESULTS(X)
#undef X
};

const char *sl_sigv4_result_name(enum sl_sigv4_result r)
{
	if ((size_t)r >= SL_ARRAY_SIZE(result_names))
		return "";
	return result_names[r];
}

/* ---- small string helpers (no locale: header names are ASCII) ---- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool eq_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* First header named name (any case) with its value, NULL if none. */
static const char *header(const struct sl_sigv4_request *r, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->nheaders; i++) {
		const char *h = r->header_names[i];

		if (h && r->header_values[i] && eq_nocase(h, strlen(h), name, n))
			return r->header_values[i];
	}
	return NULL;
}

static bool nonempty(const char *s)
{
	return s && *s;
}

/* A growing buffer; after a failed allocation it only remembers that. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_put(struct buf *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void buf_putc(struct buf *b, char c)
{
	buf_put(b, &c, 1);
}

/* Appends to a caller's fixed message buffer, cutting what does not fit. */
static void msg_add(char *msg, size_t cap, const char *fmt, ...) SL_PRINTF(3, 4);

static void msg_add(char *msg, size_t cap, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (!msg || cap == 0)
		return;
	used = strnlen(msg, cap - 1);
	va_start(ap, fmt);
	vsnprintf(msg + used, cap - used, fmt, ap);
	va_end(ap);
}

static void msg_set(char *msg, size_t cap, const char *s)
{
	if (!msg || cap == 0)
		return;
	msg[0] = '\0';
	msg_add(msg, cap, "%s", s);
}

/* ---- hashing ---- */

static void hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int sha256_hex(const void *p, size_t n, char out[HEX_LEN + 1])
{
	uint8_t md[SHA256_LEN];
	unsigned mdlen = 0;

	if (!EVP_Digest(p ? p : "", n, md, &mdlen, EVP_sha256(), NULL) || mdlen != SHA256_LEN)
		return -EIO;
	hex(md, SHA256_LEN, out);
	return 0;
}

static int hmac(const void *key, size_t klen, const void *data, size_t n, uint8_t out[SHA256_LEN])
{
	unsigned outlen = 0;

	if (!HMAC(EVP_sha256(), key, (int)klen, data, n, out, &outlen) || outlen != SHA256_LEN)
		return -EIO;
	return 0;
}

/*
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"); the signature is HMAC(kSigning, string to sign) in hex.
 */
static int signature(const char *secret, const char *date, const char *region, const char *service,
                     const char *to_sign, char out[HEX_LEN + 1])
{
	uint8_t k[SHA256_LEN], sig[SHA256_LEN];
	size_t slen = strlen(secret);
	char *k0 = malloc(slen + 5);
	int rc;

	if (!k0)
		return -ENOMEM;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, secret, slen + 1);
	rc = hmac(k0, slen + 4, date, strlen(date), k);
	OPENSSL_cleanse(k0, slen + 4);
	free(k0);
	if (rc == 0)
		rc = hmac(k, SHA256_LEN, region, strlen(region), k);
	if (rc == 0)
		rc = hmac(k, SHA256_LEN, service, strlen(service), k);
	if (rc == 0)
		rc = hmac(k, SHA256_LEN, TERMINATOR, strlen(TERMINATOR), k);
	if (rc == 0)
		rc = hmac(k, SHA256_LEN, to_sign, strlen(to_sign), sig);
	OPENSSL_cleanse(k, sizeof(k));
	if (rc == 0)
		hex(sig, SHA256_LEN, out);
	return rc;
}

/* ---- the canonical request ---- */

static bool unreserved(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' ||
	       c == '_' || c == '.' || c == '~';
}

static void put_encoded(struct buf *b, const char *s, size_t n, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved((char)c) || (keep_slash && c == '/')) {
			buf_putc(b, (char)c);
		} else {
			char e[3] = {'%', digits[c >> 4], digits[c & 15]};

			buf_put(b, e, 3);
		}
	}
}

/*
 * The path as botocore signs it: segments that are empty or "." dropped,
 * ".." removes the one before, a leading and (if anything is left) a
 * trailing '/' kept; then percent-encoded with '/' kept. "" becomes "/".
 */
static void put_canonical_path(struct buf *b, const char *path, size_t n)
{
	size_t *starts, *lens, nseg = 0;
	bool lead, trail;

	if (n == 0) {
		buf_putc(b, '/');
		return;
	}
	lead = path[0] == '/';
	trail = path[n - 1] == '/';
	starts = malloc((n / 2 + 2) * sizeof(*starts));
	lens = malloc((n / 2 + 2) * sizeof(*lens));
	if (!starts || !lens) {
		b->oom = true;
		goto out;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && path[j] != '/')
			j++;
		if (j - i == 2 && path[i] == '.' && path[i + 1] == '.') {
			if (nseg)
				nseg--;
		} else if (j > i && !(j - i == 1 && path[i] == '.')) {
			starts[nseg] = i;
			lens[nseg++] = j - i;
		}
		i = j + 1;
	}
	if (lead)
		buf_putc(b, '/');
	for (size_t k = 0; k < nseg; k++) {
		if (k)
			buf_putc(b, '/');
		put_encoded(b, path + starts[k], lens[k], false);
	}
	if (trail && nseg)
		buf_putc(b, '/');
out:
	free(starts);
	free(lens);
}

struct qparam {
	const char *k, *v;
	size_t klen, vlen;
};

static int raw_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, SL_MIN(alen, blen));

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = raw_cmp(x->k, x->klen, y->k, y->klen);

	return c ? c : raw_cmp(x->v, x->vlen, y->v, y->vlen);
}

/*
 * "b=2&a=1&c" becomes "a=1&b=2&c=": the pairs as they came (already
 * encoded by the client), sorted by name, then value. This is botocore's
 * reading; the other SDKs send the query encoded the way they sign it, so
 * for them it is the same.
 */
static void put_canonical_query(struct buf *b, const char *q, size_t n)
{
	struct qparam *ps;
	size_t np = 0, max = 1;

	for (size_t i = 0; i < n; i++)
		max += q[i] == '&';
	ps = calloc(max, sizeof(*ps));
	if (!ps) {
		b->oom = true;
		return;
	}
	for (size_t i = 0; i <= n; i++) {
		size_t j = i, eq;

		while (j < n && q[j] != '&')
			j++;
		for (eq = i; eq < j && q[eq] != '='; eq++)
			;
		ps[np].k = q + i;
		ps[np].klen = eq - i;
		ps[np].v = q + eq + (eq < j);
		ps[np].vlen = j - eq - (eq < j);
		np++;
		i = j;
	}
	qsort(ps, np, sizeof(*ps), qparam_cmp);
	for (size_t i = 0; i < np; i++) {
		if (i)
			buf_putc(b, '&');
		buf_put(b, ps[i].k, ps[i].klen);
		buf_putc(b, '=');
		buf_put(b, ps[i].v, ps[i].vlen);
	}
	free(ps);
}

/* A header value with leading/trailing white space cut and runs of it
 * collapsed to one space (botocore: ' '.join(value.split())). */
static void put_trimmed(struct buf *b, const char *v)
{
	bool pending = false, any = false;

	for (; *v; v++) {
		if (is_space(*v)) {
			pending = any;
			continue;
		}
		if (pending)
			buf_putc(b, ' ');
		pending = false;
		any = true;
		buf_putc(b, *v);
	}
}

static bool has_header(const struct sl_sigv4_request *r, const char *name, size_t nlen)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *h = r->header_names[i];

		if (h && r->header_values[i] && eq_nocase(h, strlen(h), name, nlen))
			return true;
	}
	return false;
}

/*
 * "name:v1,v2\n" for every header in r called name (any case). Over HTTP/2
 * the AWS SDK for JS v3 signs ":authority" where HTTP/1 clients sign
 * "host": the two stand in for each other when only one arrived.
 */
static void put_canonical_header(struct buf *b, const struct sl_sigv4_request *r, const char *name,
                                 size_t nlen)
{
	const char *look = name;
	size_t looklen = nlen;
	bool first = true;

	if (!has_header(r, name, nlen)) {
		if (eq_nocase(name, nlen, ":authority", 10)) {
			look = "host";
			looklen = 4;
		} else if (eq_nocase(name, nlen, "host", 4)) {
			look = ":authority";
			looklen = 10;
		}
	}
	for (size_t i = 0; i < nlen; i++)
		buf_putc(b, lower(name[i]));
	buf_putc(b, ':');
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *h = r->header_names[i];

		if (!h || !r->header_values[i] || !eq_nocase(h, strlen(h), look, looklen))
			continue;
		if (!first)
			buf_putc(b, ',');
		first = false;
		put_trimmed(b, r->header_values[i]);
	}
	buf_putc(b, '\n');
}

/*
 * The canonical request, hashed: method, path, query, the headers listed in
 * signed (';'-separated, in that order), signed itself, body hash.
 */
static int canonical_hash(const struct sl_sigv4_request *r, const char *signed_hdrs,
                          char out[HEX_LEN + 1])
{
	const char *path = r->path ? r->path : "/";
	const char *q = strchr(path, '?');
	size_t plen = q ? (size_t)(q - path) : strlen(path);
	char body[HEX_LEN + 1];
	struct buf b = {0};
	int rc;

	rc = sha256_hex(r->body, r->body ? r->len : 0, body);
	if (rc < 0)
		return rc;
	buf_puts(&b, r->method ? r->method : "");
	buf_putc(&b, '\n');
	put_canonical_path(&b, path, plen);
	buf_putc(&b, '\n');
	if (q)
		put_canonical_query(&b, q + 1, strlen(q + 1));
	buf_putc(&b, '\n');
	for (const char *s = signed_hdrs; *s;) {
		size_t n = strcspn(s, ";");

		if (n)
			put_canonical_header(&b, r, s, n);
		s += n + (s[n] == ';');
	}
	buf_putc(&b, '\n');
	buf_puts(&b, signed_hdrs);
	buf_putc(&b, '\n');
	buf_puts(&b, body);
	rc = b.oom ? -ENOMEM : sha256_hex(b.p, b.len, out);
	free(b.p);
	return rc;
}

static int compute(const struct sl_sigv4_request *r, const char *secret, const char *amz_date,
                   const char *date, const char *region, const char *service,
                   const char *signed_hdrs, char out[HEX_LEN + 1])
{
	char creq[HEX_LEN + 1];
	struct buf s = {0};
	int rc;

	rc = canonical_hash(r, signed_hdrs, creq);
	if (rc < 0)
		return rc;
	buf_puts(&s, ALGORITHM "\n");
	buf_puts(&s, amz_date);
	buf_putc(&s, '\n');
	buf_puts(&s, date);
	buf_putc(&s, '/');
	buf_puts(&s, region);
	buf_putc(&s, '/');
	buf_puts(&s, service);
	buf_puts(&s, "/" TERMINATOR "\n");
	buf_puts(&s, creq);
	rc = s.oom ? -ENOMEM : signature(secret, date, region, service, s.p, out);
	free(s.p);
	return rc;
}

/* ---- the Authorization header ---- */

enum { P_CREDENTIAL, P_SIGNATURE, P_SIGNED_HEADERS, P_COUNT };

static const char *const param_names[P_COUNT] = {"Credential", "Signature", "SignedHeaders"};

struct auth {
	char *copy;               /* the header, cut into NUL-terminated tokens */
	const char *alg;          /* first token */
	const char *val[P_COUNT]; /* NULL or "" when absent */
	const char *bad_pair;     /* first token without '=', if any */
};

static bool is_sep(char c)
{
	return c == ',' || c == ' ';
}

/*
 * kinesalite: header.split(/,| /).slice(1).filter(Boolean), then for each
 * token "key=value" (value up to a second '=', if any). Later keys win.
 */
static int auth_parse(const char *hdr, struct auth *a)
{
	char *p;
	bool first = true;

	memset(a, 0, sizeof(*a));
	a->copy = strdup(hdr);
	if (!a->copy)
		return -ENOMEM;
	a->alg = "";
	for (p = a->copy;;) {
		char *tok = p, *eq, *eq2;
		bool end;

		while (*p && !is_sep(*p))
			p++;
		end = *p == '\0';
		*p = '\0';
		if (first) {
			a->alg = tok;
			first = false;
		} else if (*tok) {
			eq = strchr(tok, '=');
			if (!eq) {
				if (!a->bad_pair)
					a->bad_pair = tok;
			} else {
				*eq = '\0';
				eq2 = strchr(eq + 1, '=');
				if (eq2)
					*eq2 = '\0';
				for (int i = 0; i < P_COUNT; i++)
					if (strcmp(tok, param_names[i]) == 0)
						a->val[i] = eq + 1;
			}
		}
		if (end)
			break;
		p++;
	}
	return 0;
}

/* "key/date/region/service/term" (trailing '/' ignored) cut into five. */
static bool split_credential(const char *cred, char *buf, size_t cap, const char *part[5])
{
	size_t n = strlen(cred), k = 0;

	while (n && cred[n - 1] == '/')
		n--;
	if (n >= cap)
		return false;
	memcpy(buf, cred, n);
	buf[n] = '\0';
	part[k++] = buf;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '/')
			continue;
		if (k == 5)
			return false;
		buf[i] = '\0';
		part[k++] = buf + i + 1;
	}
	return k == 5;
}

static bool fill_scope(const char *const part[5], struct sl_sigv4_scope *s)
{
	struct sl_sigv4_scope t;

	if (strlen(part[0]) >= sizeof(t.access_key) || strlen(part[1]) >= sizeof(t.date) ||
	    strlen(part[2]) >= sizeof(t.region) || strlen(part[3]) >= sizeof(t.service))
		return false;
	strcpy(t.access_key, part[0]);
	strcpy(t.date, part[1]);
	strcpy(t.region, part[2]);
	strcpy(t.service, part[3]);
	if (s)
		*s = t;
	return true;
}

static bool basic_date(const char *d)
{
	if (strlen(d) != AMZ_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !is_digit(d[i]))
			return false;
	return true;
}

/* The request's date in ISO-8601 basic format: X-Amz-Date as it is, or an
 * RFC 1123 Date header converted. */
static bool request_date(const char *v, char out[AMZ_DATE_LEN + 1])
{
	struct tm tm;
	const char *end;

	if (basic_date(v)) {
		memcpy(out, v, AMZ_DATE_LEN + 1);
		return true;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return false;
	return strftime(out, AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) == AMZ_DATE_LEN;
}

static bool signed_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *s = list; *s;) {
		size_t k = strcspn(s, ";");

		if (eq_nocase(s, k, name, n))
			return true;
		s += k + (s[k] == ';');
	}
	return false;
}

/* The verification proper, after the presence checks passed. */
static enum sl_sigv4_result verify(const struct sl_sigv4_request *r, const char *hdr,
                                   const struct auth *a, const char *date_hdr,
                                   const char *access_key, const char *secret_key, char *msg,
                                   size_t cap)
{
	const char *cred = a->val[P_CREDENTIAL], *sig = a->val[P_SIGNATURE];
	const char *sh = a->val[P_SIGNED_HEADERS];
	char amz_date[AMZ_DATE_LEN + 1], want[HEX_LEN + 1];
	const char *part[5];
	size_t clen = strlen(cred) + 1;
	char *cbuf = malloc(clen);
	enum sl_sigv4_result res;
	bool bad = false;

	if (!cbuf) {
		msg_set(msg, cap, MSG_INVALID);
		return SL_SIGV4_INVALID;
	}
	if (a->bad_pair) {
		msg_add(msg, cap,
		        "'%s' not a valid key=value pair (missing equal-sign) in Authorization "
		        "header: '%s'.",
		        a->bad_pair, hdr);
		res = SL_SIGV4_INCOMPLETE;
		goto out;
	}
	if (!request_date(date_hdr, amz_date)) {
		msg_add(msg, cap,
		        "Date must be in ISO-8601 'basic format'. Got '%s'. See "
		        "http://en.wikipedia.org/wiki/ISO_8601",
		        date_hdr);
		res = SL_SIGV4_INCOMPLETE;
		goto out;
	}
	if (!signed_has(sh, "host") && !signed_has(sh, ":authority")) {
		msg_add(msg, cap, "'Host' must be a 'SignedHeader' in the AWS Authorization.");
		res = SL_SIGV4_INVALID;
		goto out;
	}
	if (strcmp(a->alg, ALGORITHM) != 0) {
		msg_add(msg, cap,
		        "Unsupported AWS 'algorithm': '%s' (only " ALGORITHM " for now). ", a->alg);
		res = SL_SIGV4_INCOMPLETE;
		goto out;
	}
	if (!split_credential(cred, cbuf, clen, part)) {
		msg_add(msg, cap,
		        "Credential must have exactly 5 slash-delimited elements, e.g. "
		        "keyid/date/region/service/term, got '%s'",
		        cred);
		res = SL_SIGV4_INCOMPLETE;
		goto out;
	}
	if (strcmp(part[4], TERMINATOR) != 0) {
		msg_add(msg, cap,
		        "Credential should be scoped with a valid terminator: '" TERMINATOR
		        "', not '%s'.",
		        part[4]);
		bad = true;
	}
	if (strlen(part[1]) != 8 || memcmp(part[1], amz_date, 8) != 0) {
		msg_add(msg, cap,
		        "%sDate in Credential scope does not match YYYYMMDD from ISO-8601 version "
		        "of "
		        "date from HTTP: '%s' != '%.8s', from '%s'.",
		        bad ? " " : "", part[1], amz_date, amz_date);
		bad = true;
	}
	if (bad) {
		res = SL_SIGV4_INVALID;
		goto out;
	}
	if (strcmp(part[0], access_key) != 0) {
		msg_set(msg, cap, MSG_UNRECOGNIZED);
		res = SL_SIGV4_UNRECOGNIZED;
		goto out;
	}
	if (compute(r, secret_key, amz_date, part[1], part[2], part[3], sh, want) < 0 ||
	    strlen(sig) != HEX_LEN || CRYPTO_memcmp(sig, want, HEX_LEN) != 0) {
		msg_set(msg, cap, MSG_INVALID);
		res = SL_SIGV4_INVALID;
		goto out;
	}
	res = SL_SIGV4_OK;
out:
	free(cbuf);
	return res;
}

enum sl_sigv4_result sl_sigv4_check(const struct sl_sigv4_request *r, const char *access_key,
                                    const char *secret_key, struct sl_sigv4_scope *scope, char *msg,
                                    size_t cap)
{
	const char *hdr = header(r, "authorization");
	const char *date_hdr = header(r, "x-amz-date");
	enum sl_sigv4_result res = SL_SIGV4_OK;
	const char *part[5];
	struct auth a;
	char *cbuf;

	if (msg && cap)
		msg[0] = '\0';
	if (!nonempty(hdr)) {
		msg_set(msg, cap, MSG_MISSING);
		return SL_SIGV4_MISSING;
	}
	if (!nonempty(date_hdr))
		date_hdr = header(r, "date");
	if (auth_parse(hdr, &a) < 0) {
		/* Out of memory: refuse rather than let an unchecked request in. */
		msg_set(msg, cap, MSG_INVALID);
		return SL_SIGV4_INVALID;
	}
	for (int i = 0; i < P_COUNT; i++) {
		if (!nonempty(a.val[i])) {
			msg_add(msg, cap, "Authorization header requires '%s' parameter. ",
			        param_names[i]);
			res = SL_SIGV4_INCOMPLETE;
		}
	}
	if (!nonempty(date_hdr)) {
		msg_add(msg, cap,
		        "Authorization header requires existence of either a 'X-Amz-Date' "
		        "or a 'Date' header. ");
		res = SL_SIGV4_INCOMPLETE;
	}
	if (res != SL_SIGV4_OK) {
		msg_add(msg, cap, "Authorization=%s", hdr);
		goto out;
	}
	cbuf = malloc(strlen(a.val[P_CREDENTIAL]) + 1);
	if (cbuf &&
	    split_credential(a.val[P_CREDENTIAL], cbuf, strlen(a.val[P_CREDENTIAL]) + 1, part))
		fill_scope(part, scope);
	free(cbuf);
	if (access_key && secret_key)
		res = verify(r, hdr, &a, date_hdr, access_key, secret_key, msg, cap);
out:
	free(a.copy);
	return res;
}

/* ---- signing ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sl_sigv4_sign(const struct sl_sigv4_request *r, const char *access_key, const char *secret_key,
                  const char *region, const char *service, const char *amz_date, char *buf,
                  size_t cap)
{
	char sig[HEX_LEN + 1], date[9];
	char **names = NULL;
	struct buf sh = {0};
	size_t n = 0;
	int rc, len;

	if (!r || !access_key || !secret_key || !region || !service || !amz_date ||
	    !basic_date(amz_date) || !buf)
		return -EINVAL;
	memcpy(date, amz_date, 8);
	date[8] = '\0';
	names = calloc(r->nheaders ? r->nheaders : 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *h = r->header_names[i];

		if (!h || !r->header_values[i] || !*h)
			continue;
		names[n] = strdup(h);
		if (!names[n]) {
			rc = -ENOMEM;
			goto out;
		}
		for (char *p = names[n]; *p; p++)
			*p = lower(*p);
		n++;
	}
	/* SignedHeaders: every name once, lower case, sorted. */
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(names[i], names[i - 1]) == 0)
			continue;
		if (sh.len)
			buf_putc(&sh, ';');
		buf_puts(&sh, names[i]);
	}
	buf_put(&sh, "", 0);
	if (sh.oom) {
		rc = -ENOMEM;
		goto out;
	}
	rc = compute(r, secret_key, amz_date, date, region, service, sh.p, sig);
	if (rc < 0)
		goto out;
	len = snprintf(buf, cap,
	               ALGORITHM " Credential=%s/%s/%s/%s/" TERMINATOR
	                         ", SignedHeaders=%s, Signature=%s",
	               access_key, date, region, service, sh.p, sig);
	rc = len < 0 || (size_t)len >= cap ? -ENOSPC : 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(sh.p);
	return rc;
}
