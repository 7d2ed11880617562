/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing table helpers (see route.h). The lookup itself is inline: a
 * binary search over at most a few thousand 16-byte starts, a handful of
 * cache lines per record.
 */
#include "route.h"

#include <stdlib.h>

void sl_routes_free(struct sl_routes *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nstreams; i++)
		free(r->streams[i].shards);
	free(r->streams);
	free(r->by_id);
	free(r);
}
