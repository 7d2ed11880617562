/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The persisted stream list (see streams.h). Cold path: errors carry a
 * sentence through sl_err_set().
 */
#include "streams.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fs.h"

bool sl_stream_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SL_WIRE_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static uint32_t total_shards(const struct sl_stream_set *set)
{
	uint32_t t = 0;

	for (uint32_t i = 0; i < set->n; i++)
		t += set->s[i].shards;
	return t;
}

int sl_streams_add(struct sl_stream_set *set, const char *name, uint32_t shards)
{
	uint32_t max_id = 0;

	if (!sl_stream_name_valid(name))
		return sl_err_set(-EINVAL, "stream name '%s': 1 to %d of [A-Za-z0-9_.-]", name,
		                  SL_WIRE_MAX_NAME);
	if (shards == 0 || shards > SL_STREAMS_MAX_SHARDS)
		return sl_err_set(-EINVAL, "stream %s: shard count %u not in 1..%d", name, shards,
		                  SL_STREAMS_MAX_SHARDS);
	for (uint32_t i = 0; i < set->n; i++) {
		if (strcmp(set->s[i].name, name) == 0) {
			if (set->s[i].shards == shards)
				return 1;
			return sl_err_set(-EEXIST,
			                  "stream %s exists with %u shards, not %u (resharding is "
			                  "the control plane's)",
			                  name, set->s[i].shards, shards);
		}
		if (set->s[i].id > max_id)
			max_id = set->s[i].id;
	}
	if (set->n == SL_STREAMS_MAX)
		return sl_err_set(-ENOSPC, "at most %d streams", SL_STREAMS_MAX);
	if (max_id >= SL_STREAMS_MAX_ID)
		return sl_err_set(-ENOSPC, "stream ids used up to %d", SL_STREAMS_MAX_ID);
	if (total_shards(set) + shards > SL_STREAMS_MAX_SHARDS)
		return sl_err_set(-ENOSPC, "at most %d shards in all", SL_STREAMS_MAX_SHARDS);
	set->s[set->n].id = max_id + 1;
	set->s[set->n].shards = shards;
	snprintf(set->s[set->n].name, sizeof(set->s[set->n].name), "%s", name);
	set->n++;
	return 0;
}

int sl_streams_parse_arg(const char *arg, char name[SL_WIRE_MAX_NAME + 1], uint32_t *ret_shards)
{
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	unsigned long v = 1;

	if (n == 0 || n > SL_WIRE_MAX_NAME)
		return sl_err_set(-EINVAL, "--stream %s: expected NAME[:SHARDS]", arg);
	if (colon) {
		char *end;

		/* strtoul alone would take "+3", " 3" and "-18446744073709551615" (1). */
		errno = 0;
		v = strtoul(colon + 1, &end, 10);
		if (colon[1] < '0' || colon[1] > '9' || errno || *end || v == 0 ||
		    v > SL_STREAMS_MAX_SHARDS)
			return sl_err_set(-EINVAL, "--stream %s: shards must be 1..%d", arg,
			                  SL_STREAMS_MAX_SHARDS);
	}
	memcpy(name, arg, n);
	name[n] = 0;
	if (!sl_stream_name_valid(name))
		return sl_err_set(-EINVAL, "stream name '%s': 1 to %d of [A-Za-z0-9_.-]", name,
		                  SL_WIRE_MAX_NAME);
	*ret_shards = (uint32_t)v;
	return 0;
}

/* A decimal number of 1 to 10 digits, no sign or spaces, then sep. */
static int parse_u32(const char **p, char sep, uint32_t *ret)
{
	const char *q = *p;
	uint64_t v = 0;

	while (*q >= '0' && *q <= '9' && q - *p < 10)
		v = v * 10 + (uint64_t)(*q++ - '0');
	if (q == *p || *q != sep || v > UINT32_MAX)
		return -1;
	*ret = (uint32_t)v;
	*p = q + 1;
	return 0;
}

/* Exactly what sl_streams_save writes: "<id> <shards> <name>\n". A last
 * line without its newline is a torn write, and a line longer than the
 * buffer arrives without one too. */
static int parse_line(const char *line, struct sl_stream_def *ret)
{
	struct sl_stream_def def = {0};
	const char *p = line, *nl;

	if (parse_u32(&p, ' ', &def.id) < 0 || parse_u32(&p, ' ', &def.shards) < 0)
		return -1;
	nl = strchr(p, '\n');
	if (!nl || nl[1] || nl - p > SL_WIRE_MAX_NAME)
		return -1;
	memcpy(def.name, p, (size_t)(nl - p));
	if (def.id == 0 || def.id > SL_STREAMS_MAX_ID || def.shards == 0 ||
	    def.shards > SL_STREAMS_MAX_SHARDS || !sl_stream_name_valid(def.name))
		return -1;
	*ret = def;
	return 0;
}

int sl_streams_load(const char *dir, struct sl_stream_set *ret)
{
	char path[PATH_MAX], line[512];
	struct sl_stream_set *set;
	unsigned lineno = 0;
	FILE *f;
	int rc = 0;

	if (snprintf(path, sizeof(path), "%s/streams", dir) >= (int)sizeof(path))
		return sl_err_set(-ENAMETOOLONG, "%s: path too long", dir);
	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT) {
			rc = sl_err_set(-errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		*ret = *set;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		struct sl_stream_def def;

		lineno++;
		if (parse_line(line, &def) < 0 || set->n == SL_STREAMS_MAX ||
		    total_shards(set) + def.shards > SL_STREAMS_MAX_SHARDS) {
			rc = sl_err_set(-EBADMSG, "%s:%u: malformed stream line", path, lineno);
			break;
		}
		for (uint32_t i = 0; i < set->n; i++) {
			if (set->s[i].id == def.id || strcmp(set->s[i].name, def.name) == 0) {
				rc = sl_err_set(-EBADMSG, "%s:%u: duplicate stream", path, lineno);
				break;
			}
		}
		if (rc)
			break;
		set->s[set->n++] = def;
	}
	fclose(f);
	if (rc == 0)
		*ret = *set;
out:
	free(set);
	return rc;
}

int sl_streams_save(const char *dir, const struct sl_stream_set *set)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;
	int fd, rc = 0;

	rc = sl_mkdir_p(dir);
	if (rc < 0)
		return sl_err_set(rc, "%s: cannot create", dir);
	if (snprintf(path, sizeof(path), "%s/streams", dir) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/streams.tmp", dir) >= (int)sizeof(tmp))
		return sl_err_set(-ENAMETOOLONG, "%s: path too long", dir);
	f = fopen(tmp, "we");
	if (!f)
		return sl_err_set(-errno, "%s: %s", tmp, strerror(errno));
	for (uint32_t i = 0; i < set->n; i++)
		fprintf(f, "%u %u %s\n", set->s[i].id, set->s[i].shards, set->s[i].name);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = sl_err_set(-errno, "%s: %s", tmp, strerror(errno));
	if (fclose(f) != 0 && rc == 0)
		rc = sl_err_set(-errno, "%s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = sl_err_set(-errno, "rename %s: %s", path, strerror(errno));
	if (rc)
		return rc;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = sl_err_set(-errno, "%s: fsync: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}
