/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's stream list until the control plane's catalog exists: names,
 * ids and shard counts given on sluiced's command line, persisted in
 * <data_dir>/streams so they survive a restart. Written crash-safely
 * (temporary file, fsync, rename, directory fsync): a crash leaves the old
 * list or the new one.
 *
 * File format, one stream per line: "<id> <shards> <name>\n", exactly (one
 * space, unsigned decimals, every line ends in a newline), ids unique and in
 * 1..SL_STREAMS_MAX_ID, shards within the limits below, names unique and as
 * Kinesis allows them ([A-Za-z0-9_.-], 1 to 128 bytes).
 */
#ifndef SL_DATAPLANE_STREAMS_H
#define SL_DATAPLANE_STREAMS_H

#include <stdbool.h>
#include <stdint.h>

#include <sluice/wire.h>

#define SL_STREAMS_MAX        256   /* streams per engine */
#define SL_STREAMS_MAX_SHARDS 4096  /* shards per stream and in total */
#define SL_STREAMS_MAX_ID     65535 /* ids index the engine's by-id table */

struct sl_stream_def {
	uint32_t id;
	uint32_t shards;
	char name[SL_WIRE_MAX_NAME + 1];
};

struct sl_stream_set {
	uint32_t n;
	struct sl_stream_def s[SL_STREAMS_MAX];
};

bool sl_stream_name_valid(const char *name);

/* Reads <dir>/streams; a missing file is an empty set. -EBADMSG (with
 * sl_errmsg()) for a malformed file. */
int sl_streams_load(const char *dir, struct sl_stream_set *ret);
int sl_streams_save(const char *dir, const struct sl_stream_set *set);

/* Adds name with shards shards (new id = highest + 1). 0 if added, 1 if it
 * already exists with that shard count, -EEXIST if with another, -EINVAL
 * for a bad name or count, -ENOSPC over the limits. */
int sl_streams_add(struct sl_stream_set *set, const char *name, uint32_t shards);

/* Parses "name:shards" (shards default 1 when ":shards" is absent). */
int sl_streams_parse_arg(const char *arg, char name[SL_WIRE_MAX_NAME + 1], uint32_t *ret_shards);

#endif
