/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl stats: GET /metrics from the endpoint's host and a readable
 * summary of the Prometheus text format (version 0.0.4): one row per
 * sample with its labels, its value (integers without exponent; *_bytes
 * also in KiB/MiB/GiB) and the family's HELP on its first row. Histogram
 * buckets are left out of the summary (their _sum and _count stay).
 * --raw prints the text as served; --json the samples as
 * {"metrics":[{"name","labels":{...},"value"}]} (NaN and infinities as
 * strings).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "table.h"

struct stats {
	struct sl_table *t;
	json_t *samples;
	char family[256]; /* of the last # HELP or # TYPE */
	char help[512];
	char type[32];
	bool help_shown;
	unsigned malformed;
};

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* "# HELP name text" and "# TYPE name type": the family that follows. */
static void on_comment(struct stats *st, const char *line, size_t len)
{
	bool help = len > 7 && memcmp(line, "# HELP ", 7) == 0;
	bool type = len > 7 && memcmp(line, "# TYPE ", 7) == 0;
	const char *name = line + 7, *sp;
	size_t nl;

	if (!help && !type)
		return;
	sp = memchr(name, ' ', len - 7);
	nl = sp ? (size_t)(sp - name) : len - 7;
	if (nl >= sizeof(st->family))
		return;
	if (nl != strlen(st->family) || memcmp(st->family, name, nl) != 0) {
		memcpy(st->family, name, nl);
		st->family[nl] = '\0';
		st->help[0] = st->type[0] = '\0';
		st->help_shown = false;
	}
	if (sp) {
		size_t vl = len - 7 - nl - 1;
		char *dst = help ? st->help : st->type;
		size_t cap = help ? sizeof(st->help) : sizeof(st->type);

		if (vl >= cap)
			vl = cap - 1;
		memcpy(dst, sp + 1, vl);
		dst[vl] = '\0';
	}
}

/* Parses the label set at *p ('{' ... '}') into obj; false if malformed. */
static bool parse_labels(const char **p, const char *end, json_t *obj)
{
	const char *s = *p + 1;

	for (;;) {
		const char *k;
		char key[256], val[1024];
		size_t kl, vl = 0;
		json_t *jv;

		while (s < end && (*s == ' ' || *s == ','))
			s++;
		if (s < end && *s == '}') {
			*p = s + 1;
			return true;
		}
		k = s;
		while (s < end && name_char(*s, s == k))
			s++;
		kl = (size_t)(s - k);
		if (!kl || s + 1 >= end || s[0] != '=' || s[1] != '"')
			return false;
		for (s += 2; s < end && *s != '"'; s++) {
			char c = *s;

			if (c == '\\' && s + 1 < end) {
				c = *++s;
				if (c == 'n')
					c = '\n';
			}
			if (vl < sizeof(val) - 1)
				val[vl++] = c;
		}
		if (s >= end || kl >= sizeof(key))
			return false;
		s++;
		val[vl] = '\0';
		memcpy(key, k, kl);
		key[kl] = '\0';
		jv = json_string(val); /* NULL when not UTF-8 */
		json_object_set_new(obj, key, jv ? jv : json_null());
	}
}

static void format_value(const char *name, size_t nl, double v, char *buf, size_t cap)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};

	if (isnan(v)) {
		snprintf(buf, cap, "NaN");
	} else if (isinf(v)) {
		snprintf(buf, cap, "%sInf", v > 0 ? "+" : "-");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		int n = snprintf(buf, cap, "%.0f", v);

		if (ends_with(name, nl, "_bytes") && v >= 1024 && n > 0 && (size_t)n < cap) {
			double x = v / 1024;
			unsigned u = 0;

			while (x >= 1024 && u + 1 < SL_ARRAY_SIZE(units))
				x /= 1024, u++;
			snprintf(buf + n, cap - (size_t)n, " (%.1f %s)", x, units[u]);
		}
	} else {
		snprintf(buf, cap, "%.6g", v);
	}
}

static int on_sample(struct stats *st, const char *line, size_t len)
{
	const char *p = line, *end = line + len, *name = line;
	json_t *labels = json_object(), *s;
	char nbuf[256], lbuf[1024], vbuf[64], *vend;
	size_t nl, vl;
	double v;
	int rc = 0;

	if (!labels)
		return -ENOMEM;
	while (p < end && name_char(*p, p == line))
		p++;
	nl = (size_t)(p - name);
	if (!nl || nl >= sizeof(nbuf))
		goto malformed;
	memcpy(nbuf, name, nl);
	nbuf[nl] = '\0';
	lbuf[0] = '\0';
	if (p < end && *p == '{') {
		const char *l0 = p;

		if (!parse_labels(&p, end, labels))
			goto malformed;
		snprintf(lbuf, sizeof(lbuf), "%.*s", (int)(p - l0 - 2), l0 + 1);
	}
	while (p < end && *p == ' ')
		p++;
	vl = 0;
	while (p + vl < end && p[vl] != ' ')
		vl++;
	if (!vl || vl >= sizeof(vbuf))
		goto malformed;
	memcpy(vbuf, p, vl);
	vbuf[vl] = '\0';
	v = strtod(vbuf, &vend);
	if (*vend)
		goto malformed;

	if (st->samples) {
		json_t *val = isfinite(v) ? json_real(v) : json_string(vbuf);

		if (isfinite(v) && v == floor(v) && fabs(v) < 9e15) {
			json_decref(val);
			val = json_integer((json_int_t)v);
		}
		s = json_pack("{s:s, s:O, s:o}", "name", nbuf, "labels", labels, "value", val);
		if (!s || json_array_append_new(st->samples, s) < 0)
			rc = -ENOMEM;
	} else if (!(strcmp(st->type, "histogram") == 0 && ends_with(nbuf, nl, "_bucket") &&
	             strncmp(nbuf, st->family, strlen(st->family)) == 0)) {
		bool ours = strncmp(nbuf, st->family, strlen(st->family)) == 0 && st->family[0];
		const char *cells[4] = {nbuf, lbuf[0] ? lbuf : "", vbuf, ""};

		format_value(nbuf, nl, v, vbuf, sizeof(vbuf));
		if (ours && !st->help_shown) {
			cells[3] = st->help;
			st->help_shown = true;
		}
		rc = sl_table_add(st->t, cells);
	}
	json_decref(labels);
	return rc;
malformed:
	st->malformed++;
	json_decref(labels);
	return 0;
}

int sl_ctl_stats(struct sl_ctl *ctl, const struct sl_ctl_args *a)
{
	static const char *const head[] = {"METRIC", "LABELS", "VALUE", "HELP"};
	struct stats st = {0};
	const char *body, *line;
	size_t len;
	int rc;

	rc = sl_kinesis_get(ctl->k, "/metrics");
	if (rc < 0)
		return sl_ctl_fail(ctl, rc);
	body = sl_kinesis_body(ctl->k, &len);
	if (sl_ctl_opt(a, OPT_RAW)) {
		fwrite(body, 1, len, stdout);
		return 0;
	}
	if (ctl->json)
		st.samples = json_array();
	else if (sl_table_create(4, head, &st.t) < 0)
		st.t = NULL;
	if (!st.samples && !st.t)
		return sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	for (line = body; !rc && line < body + len;) {
		const char *nl = memchr(line, '\n', (size_t)(body + len - line));
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(body + len - line);

		if (ll && line[ll - 1] == '\r')
			ll--;
		if (ll && line[0] == '#')
			on_comment(&st, line, ll);
		else if (ll)
			rc = on_sample(&st, line, ll);
		line = nl ? nl + 1 : body + len;
	}
	if (rc) {
		rc = sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
	} else if (st.samples) {
		json_t *o = json_pack("{s:O}", "metrics", st.samples);
		char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(16)) : NULL;

		if (txt)
			puts(txt);
		else
			rc = sl_ctl_error(ctl, SL_CTL_EXIT_SERVICE, "out of memory");
		free(txt);
		json_decref(o);
	} else {
		sl_table_print(st.t, stdout);
	}
	if (st.malformed)
		fprintf(stderr, "sluicectl stats: %u lines not in the Prometheus text format\n",
		        st.malformed);
	json_decref(st.samples);
	sl_table_free(st.t);
	return rc;
}
