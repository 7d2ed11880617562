/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluiced's control plane: the catalog brought into the engine at start,
 * and one thread (not an lcore) running the HTTP server with the Kinesis
 * API, /metrics and /healthz. Every catalog change and every engine
 * control call happens on that thread.
 */
#ifndef SL_DAEMON_CONTROL_PLANE_H
#define SL_DAEMON_CONTROL_PLANE_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "catalog.h"
#include "engine.h"
#include "http.h"

struct sl_cp_config {
	bool http; /* serve the API (default true) */
	struct sl_http_config http_c;
	struct sl_api_config api_c;
	uint8_t ack_level;      /* level API puts wait for (SL_WIRE_ACK_DURABLE) */
	unsigned parse_workers; /* threads parsing request bodies off the loop (1; 0: none) */
};

struct sl_cp;

/*
 * Before the engine runs: syncs every catalog stream into the engine
 * (DELETING ones are dropped and purged, CREATING/UPDATING ones finish and
 * go ACTIVE, closed shards get their last sequence numbers). Prints one
 * line per stream to out when out is not NULL.
 */
int sl_cp_restore(struct sl_engine *e, struct sl_catalog *cat, FILE *out);

/* Creates the API and binds the HTTP port (errors: sl_errmsg()). */
int sl_cp_create(const struct sl_cp_config *c, struct sl_engine *e, struct sl_catalog *cat,
                 struct sl_cp **ret);
/* Starts the control thread (after the engine's lcores are up or about to
 * be: API puts wait for them). */
int sl_cp_start(struct sl_cp *cp);
/* Stops the thread (any thread; waits for it), then frees. NULL-safe. */
void sl_cp_free(struct sl_cp *cp);
uint16_t sl_cp_port(const struct sl_cp *cp);

#endif
