/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluiced's control plane (see control_plane.h): the Kinesis API's backend
 * on the engine, the HTTP glue, and /metrics.
 */
#include "control_plane.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "err.h"
#include "pkt.h"
#include "procmem.h"
#include "wire.h"

struct cp_put {
	struct sl_engine_put ep;
	struct sl_api_put *ap;
	struct cp_put *next; /* finished without reaching the engine */
};

#define MAX_HEADERS    128
#define MAX_WORKERS    16
#define PARSE_OFF_LOOP 1024 /* bodies at least this long go to a worker */

/* A request on its way through a parse worker: the API's view of it, with
 * the strings it points at. */
struct cp_job {
	struct sl_http_req *r;
	struct sl_api_request ar;
	const char *names[MAX_HEADERS];
	const char *values[MAX_HEADERS];
	char *own[2 * MAX_HEADERS + 2];
	unsigned nown;
	struct cp_job *next;
};

struct sl_cp {
	struct sl_cp_config c;
	/* parse workers: jobs in (FIFO), parsed jobs out (LIFO, reversed) */
	pthread_t workers[MAX_WORKERS];
	unsigned nworkers;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cp_job *todo, **todo_tail, *parsed;
	int parsed_fd;
	bool quit;
	struct sl_engine *e;
	struct sl_catalog *cat;
	struct sl_api *api;
	struct sl_http *http;
	pthread_t thread;
	bool started;
	struct cp_put *early; /* finished at submit: delivered from the loop */
	uint64_t http_requests;
};

/* ---- catalog -> engine ---- */

static int sync_one(struct sl_engine *e, const struct sl_cat_stream *s,
                    struct sl_api_shard_end *ends, uint32_t *ret_nends)
{
	struct sl_engine_shard *sh = calloc(s->nshards + 1, sizeof(*sh));
	struct sl_engine_shard_end *ee = calloc(s->nshards + 1, sizeof(*ee));
	uint32_t n = 0;
	int rc = -ENOMEM;

	*ret_nends = 0;
	if (sh && ee) {
		for (uint32_t i = 0; i < s->nshards; i++)
			sh[i] = (struct sl_engine_shard){.start = s->shards[i].start,
			                                 .id = s->shards[i].id,
			                                 .open = !s->shards[i].closed};
		rc = sl_engine_sync_stream(e, s->id, s->name, sh, s->nshards, ee, &n);
		for (uint32_t i = 0; i < n && ends; i++)
			ends[i] = (struct sl_api_shard_end){.shard_id = ee[i].shard_id,
			                                    .end_seq = ee[i].last_seq,
			                                    .empty = ee[i].last_seq == 0};
		*ret_nends = ends ? n : 0;
	}
	free(sh);
	free(ee);
	return rc;
}

int sl_cp_restore(struct sl_engine *e, struct sl_catalog *cat, FILE *out)
{
	uint32_t n = sl_catalog_nstreams(cat);
	char(*names)[SL_CATALOG_NAME_MAX + 1] = calloc(n + 1, sizeof(*names));
	int rc = 0;

	if (!names)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		snprintf(names[i], sizeof(names[i]), "%s", sl_catalog_stream_at(cat, i)->name);
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		const struct sl_cat_stream *s = sl_catalog_stream(cat, names[i]);
		struct sl_api_shard_end *ends;
		uint32_t nends = 0;

		if (!s)
			continue;
		if (s->status == SL_CATALOG_DELETING) {
			/* Deleted before the last stop: finish it. */
			(void)sl_engine_sync_stream(e, s->id, s->name, NULL, 0, NULL, &nends);
			(void)sl_engine_drop_stream(e, s->id);
			rc = sl_catalog_purge_stream(cat, names[i]);
			if (out)
				fprintf(out, "sluiced: stream %s: deletion finished\n", names[i]);
			continue;
		}
		ends = calloc(s->nshards + 1, sizeof(*ends));
		if (!ends) {
			rc = -ENOMEM;
			break;
		}
		rc = sync_one(e, s, ends, &nends);
		for (uint32_t k = 0; k < nends && rc == 0; k++) {
			const struct sl_cat_shard *sh = sl_catalog_shard(s, ends[k].shard_id);

			if (sh && !sh->end_seq_known) {
				rc = sl_catalog_set_end_seq(cat, names[i], ends[k].shard_id,
				                            ends[k].end_seq);
				s = sl_catalog_stream(cat, names[i]);
			}
		}
		free(ends);
		if (rc == 0 && s &&
		    (s->status == SL_CATALOG_CREATING || s->status == SL_CATALOG_UPDATING))
			rc = sl_catalog_set_active(cat, names[i]);
		s = sl_catalog_stream(cat, names[i]);
		if (out && s)
			fprintf(out, "sluiced: stream %s (id %u): %u open shards, %u in all, %s\n",
			        s->name, s->id, s->open_shards, s->nshards,
			        sl_catalog_status_name(s->status));
	}
	free(names);
	return rc;
}

/* ---- the API's backend ---- */

static int be_sync(void *arg, const struct sl_cat_stream *s, struct sl_api_shard_end *ends,
                   uint32_t *ret_nends)
{
	struct sl_cp *cp = arg;

	return sync_one(cp->e, s, ends, ret_nends);
}

static int be_drop(void *arg, uint32_t stream_id, const char *name)
{
	struct sl_cp *cp = arg;

	(void)name;
	return sl_engine_drop_stream(cp->e, stream_id);
}

static void wake(struct sl_cp *cp)
{
	uint64_t one = 1;

	if (write(sl_engine_put_fd(cp->e), &one, sizeof(one)) < 0) {
		/* saturated: already readable */
	}
}

static int be_put(void *arg, struct sl_api_put *ap)
{
	struct sl_cp *cp = arg;
	struct cp_put *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -EAGAIN;
	p->ap = ap;
	p->ep = (struct sl_engine_put){.stream_id = ap->stream_id,
	                               .shard_id = ap->shard_id,
	                               .n = ap->n,
	                               .level = cp->c.ack_level,
	                               .recs = ap->recs,
	                               .seqs = ap->seqs,
	                               .user = p};
	ap->be_priv = p;
	rc = sl_engine_put(cp->e, &p->ep);
	if (rc == -EAGAIN) {
		free(p);
		return -EAGAIN;
	}
	if (rc < 0) {
		/* Answered from the loop, never from inside this call. */
		p->ep.status = rc;
		p->next = cp->early;
		cp->early = p;
		wake(cp);
	}
	return 0;
}

static struct sl_log *be_log(void *arg, uint32_t stream_id, uint32_t shard_id)
{
	struct sl_cp *cp = arg;

	return sl_engine_log(cp->e, stream_id, shard_id);
}

static void finish(struct sl_cp *cp, struct cp_put *p)
{
	struct sl_api_put *ap = p->ap;

	ap->status = p->ep.status;
	free(p);
	sl_api_put_done(cp->api, ap);
}

static void on_puts(void *arg)
{
	struct sl_cp *cp = arg;
	struct sl_engine_put *done[64];
	uint64_t v;
	unsigned n;

	if (read(sl_engine_put_fd(cp->e), &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to reset */
	}
	while ((n = sl_engine_put_poll(cp->e, done, 64)) > 0)
		for (unsigned i = 0; i < n; i++)
			finish(cp, done[i]->user);
	while (cp->early) {
		struct cp_put *p = cp->early;

		cp->early = p->next;
		finish(cp, p);
	}
}

static void on_tick(void *arg)
{
	struct sl_cp *cp = arg;

	sl_api_tick(cp->api, sl_wall_ns() / 1000000);
}

/* ---- /metrics ---- */

static void metrics_engine(struct sl_cp *cp, FILE *f)
{
	static const char *const names[] = {
#define SL_X_NAME(n, d) #n,
	        SL_ENGINE_COUNTERS(SL_X_NAME)
#undef SL_X_NAME
	};
	static const char *const docs[] = {
#define SL_X_DOC(n, d) d,
	        SL_ENGINE_COUNTERS(SL_X_DOC)
#undef SL_X_DOC
	};
	struct sl_engine_stats s;

	sl_engine_stats(cp->e, &s);
	for (unsigned k = 0; k < SL_EC_COUNT; k++)
		fprintf(f,
		        "# HELP sluice_engine_%s_total %s\n# TYPE sluice_engine_%s_total counter\n"
		        "sluice_engine_%s_total %" PRIu64 "\n",
		        names[k], docs[k], names[k], names[k], s.c[k]);
	fprintf(f, "# HELP sluice_drops_total Packets and frames dropped, by reason\n"
	           "# TYPE sluice_drops_total counter\n");
	for (unsigned k = 0; k < SL_PKT_DROP_COUNT; k++)
		fprintf(f, "sluice_drops_total{layer=\"packet\",reason=\"%s\"} %" PRIu64 "\n",
		        sl_pkt_drop_name(k), s.pkt_drops[k]);
	for (unsigned k = 0; k < SL_WIRE_DROP_COUNT; k++)
		fprintf(f, "sluice_drops_total{layer=\"frame\",reason=\"%s\"} %" PRIu64 "\n",
		        sl_wire_drop_name(k), s.wire_drops[k]);
	fprintf(f,
	        "# HELP sluice_throttled_total Records answered throttled, by cause\n"
	        "# TYPE sluice_throttled_total counter\n"
	        "sluice_throttled_total{cause=\"ring\"} %" PRIu64 "\n"
	        "sluice_throttled_total{cause=\"storage\"} %" PRIu64 "\n"
	        "sluice_throttled_total{cause=\"acks\"} %" PRIu64 "\n"
	        "sluice_throttled_total{cause=\"route_moved\"} %" PRIu64 "\n"
	        "sluice_throttled_total{cause=\"retry_memory\"} %" PRIu64 "\n",
	        s.c[SL_EC_throttled_ring], s.c[SL_EC_throttled_store], s.c[SL_EC_throttled_acks],
	        s.c[SL_EC_route_moved], s.c[SL_EC_throttled_dedup]);
	{
		struct sl_engine_lcore_stats ls[SL_ENGINE_MAX_LCORES];
		unsigned n = sl_engine_lcore_stats(cp->e, ls, SL_ENGINE_MAX_LCORES);

		fprintf(f, "# HELP sluice_lcore_busy_ratio Share of loop time spent on work "
		           "(since start)\n# TYPE sluice_lcore_busy_ratio gauge\n");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "sluice_lcore_busy_ratio{lcore=\"%u\",roles=\"%s\"} %.4f\n",
			        ls[i].lcore_id, ls[i].roles,
			        ls[i].total_tsc ? (double)ls[i].busy_tsc / (double)ls[i].total_tsc
			                        : 0.0);
		fprintf(f, "# HELP sluice_lcore_ring_frames Frames waiting in the rings into a "
		           "shard lcore\n# TYPE sluice_lcore_ring_frames gauge\n");
		for (unsigned i = 0; i < n; i++)
			if (ls[i].ring_capacity)
				fprintf(f, "sluice_lcore_ring_frames{lcore=\"%u\"} %u\n",
				        ls[i].lcore_id, ls[i].ring_used);
		fprintf(f, "# HELP sluice_lcore_ring_capacity Frames the rings into a shard lcore "
		           "hold\n# TYPE sluice_lcore_ring_capacity gauge\n");
		for (unsigned i = 0; i < n; i++)
			if (ls[i].ring_capacity)
				fprintf(f, "sluice_lcore_ring_capacity{lcore=\"%u\"} %u\n",
				        ls[i].lcore_id, ls[i].ring_capacity);
	}
}

/* Process and DPDK memory. The pool counts are approximate while the
 * lcores run (see sl_engine_mem_stats()). */
static void metrics_memory(struct sl_cp *cp, FILE *f)
{
	struct sl_engine_mem m;
	struct sl_procmem pm;

	if (sl_procmem_read(&pm) == 0)
		fprintf(f,
		        "# HELP sluice_process_resident_memory_bytes Resident set size (VmRSS)\n"
		        "# TYPE sluice_process_resident_memory_bytes gauge\n"
		        "sluice_process_resident_memory_bytes %" PRIu64 "\n"
		        "# HELP sluice_process_resident_memory_peak_bytes Highest resident set "
		        "size since start (VmHWM)\n"
		        "# TYPE sluice_process_resident_memory_peak_bytes gauge\n"
		        "sluice_process_resident_memory_peak_bytes %" PRIu64 "\n",
		        pm.rss_bytes, pm.rss_peak_bytes);
	sl_engine_mem_stats(cp->e, &m);
	fprintf(f,
	        "# HELP sluice_dpdk_heap_bytes DPDK heap (mempools, rings, tables), every socket\n"
	        "# TYPE sluice_dpdk_heap_bytes gauge\n"
	        "sluice_dpdk_heap_bytes{state=\"allocated\"} %" PRIu64 "\n"
	        "sluice_dpdk_heap_bytes{state=\"total\"} %" PRIu64 "\n"
	        "# HELP sluice_store_ring_bytes Staging rings of the open shard logs\n"
	        "# TYPE sluice_store_ring_bytes gauge\n"
	        "sluice_store_ring_bytes %" PRIu64 "\n",
	        m.heap_alloc_bytes, m.heap_total_bytes, m.store_ring_bytes);
	fprintf(f, "# HELP sluice_mempool_objects Mempool objects, by state (objects in lcore "
	           "caches count as available)\n# TYPE sluice_mempool_objects gauge\n");
	for (unsigned i = 0; i < m.npools; i++)
		fprintf(f,
		        "sluice_mempool_objects{pool=\"%s\",state=\"in_use\"} %u\n"
		        "sluice_mempool_objects{pool=\"%s\",state=\"available\"} %u\n",
		        m.pool[i].name, m.pool[i].in_use, m.pool[i].name, m.pool[i].available);
	fprintf(f, "# HELP sluice_mempool_size Objects a mempool holds\n"
	           "# TYPE sluice_mempool_size gauge\n");
	for (unsigned i = 0; i < m.npools; i++)
		fprintf(f, "sluice_mempool_size{pool=\"%s\"} %u\n", m.pool[i].name, m.pool[i].size);
	fprintf(f, "# HELP sluice_mempool_bytes Memory reserved for a mempool's objects\n"
	           "# TYPE sluice_mempool_bytes gauge\n");
	for (unsigned i = 0; i < m.npools; i++)
		fprintf(f, "sluice_mempool_bytes{pool=\"%s\"} %" PRIu64 "\n", m.pool[i].name,
		        m.pool[i].total_bytes);
}

static void metrics_shards(struct sl_cp *cp, FILE *f)
{
	uint32_t n = sl_catalog_nstreams(cp->cat);
	static const char *const fam[][3] = {
	        {"sluice_shard_records_total", "counter", "Records appended to the shard"},
	        {"sluice_shard_bytes_total", "counter", "Bytes of records appended to the shard"},
	        {"sluice_shard_batches_total", "counter", "Storage batches appended"},
	        {"sluice_shard_fdatasyncs_total", "counter", "fdatasync calls on the shard's log"},
	        {"sluice_shard_throttled_total", "counter", "Appends refused for back-pressure"},
	        {"sluice_shard_open", "gauge", "1 while the shard takes records"},
	};

	for (unsigned m = 0; m < SL_ARRAY_SIZE(fam); m++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam[m][0], fam[m][2], fam[m][0],
		        fam[m][1]);
		for (uint32_t i = 0; i < n; i++) {
			const struct sl_cat_stream *s = sl_catalog_stream_at(cp->cat, i);

			for (uint32_t k = 0; k < s->nshards; k++) {
				const struct sl_cat_shard *sh = &s->shards[k];
				struct sl_log_stats ls;
				char id[SL_CATALOG_SHARD_ID_BUF];
				uint64_t v;

				if (sl_engine_shard_stats(cp->e, s->id, sh->id, &ls) < 0)
					continue;
				sl_catalog_shard_id_format(sh->id, id);
				v = m == 0   ? ls.appended_records
				    : m == 1 ? ls.appended_bytes
				    : m == 2 ? ls.appended_batches
				    : m == 3 ? ls.fdatasyncs
				    : m == 4 ? ls.throttled
				             : (uint64_t)!sh->closed;
				fprintf(f, "%s{stream=\"%s\",shard=\"%s\"} %" PRIu64 "\n",
				        fam[m][0], s->name, id, v);
			}
		}
	}
}

static void metrics(struct sl_cp *cp, struct sl_http_req *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct sl_api_stats as;

	if (!f) {
		sl_http_respond(r, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	metrics_engine(cp, f);
	metrics_memory(cp, f);
	metrics_shards(cp, f);
	sl_api_stats(cp->api, &as);
	fprintf(f,
	        "# HELP sluice_api_requests_total Kinesis API requests\n"
	        "# TYPE sluice_api_requests_total counter\nsluice_api_requests_total %" PRIu64 "\n"
	        "# HELP sluice_api_errors_total Kinesis API error answers, by class\n"
	        "# TYPE sluice_api_errors_total counter\n"
	        "sluice_api_errors_total{class=\"4xx\"} %" PRIu64 "\n"
	        "sluice_api_errors_total{class=\"5xx\"} %" PRIu64 "\n"
	        "# HELP sluice_api_put_records_total Records put through the API\n"
	        "# TYPE sluice_api_put_records_total counter\n"
	        "sluice_api_put_records_total %" PRIu64 "\n"
	        "# HELP sluice_api_put_throttled_total API records answered throttled\n"
	        "# TYPE sluice_api_put_throttled_total counter\n"
	        "sluice_api_put_throttled_total %" PRIu64 "\n"
	        "# HELP sluice_api_get_records_total Records returned by GetRecords\n"
	        "# TYPE sluice_api_get_records_total counter\n"
	        "sluice_api_get_records_total %" PRIu64 "\n"
	        "# HELP sluice_api_inflight Requests waiting for their acks\n"
	        "# TYPE sluice_api_inflight gauge\nsluice_api_inflight %" PRIu64 "\n"
	        "# HELP sluice_streams Streams in the catalog\n# TYPE sluice_streams gauge\n"
	        "sluice_streams %u\n",
	        as.requests, as.errors_4xx, as.errors_5xx, as.put_records, as.put_throttled,
	        as.get_records, as.inflight, sl_catalog_nstreams(cp->cat));
	{
		struct sl_engine_fsync_hist h;

		sl_engine_fsync_hist(cp->e, &h);
		fprintf(f, "# HELP sluice_fdatasync_seconds fdatasync latency on the shard logs\n"
		           "# TYPE sluice_fdatasync_seconds histogram\n");
		for (unsigned b = 0; b + 1 < SL_ENGINE_FSYNC_BUCKETS; b++)
			fprintf(f, "sluice_fdatasync_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			        (double)sl_engine_fsync_bucket_us(b) / 1e6, h.cum[b]);
		fprintf(f,
		        "sluice_fdatasync_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
		        "sluice_fdatasync_seconds_sum %.6f\n"
		        "sluice_fdatasync_seconds_count %" PRIu64 "\n",
		        h.count, (double)h.sum_ns / 1e9, h.count);
	}
	fclose(f);
	sl_http_respond(r, 200, "text/plain; version=0.0.4", buf, len);
	free(buf);
}

/* ---- HTTP glue ---- */

static void api_answer(void *req, const struct sl_api_answer *a)
{
	struct sl_http_req *r = req;

	if (a->request_id)
		sl_http_add_header(r, "x-amzn-RequestId", a->request_id);
	if (a->error_type)
		sl_http_add_header(r, "x-amzn-ErrorType", a->error_type);
	sl_http_respond(r, a->status, a->content_type, a->body, a->len);
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

static void job_free(struct cp_job *j)
{
	for (unsigned i = 0; i < j->nown; i++)
		free(j->own[i]);
	free(j);
}

/* The API's view of r, its strings copied (h2o's are not NUL-terminated). */
static struct cp_job *job_new(struct sl_http_req *r)
{
	struct cp_job *j = calloc(1, sizeof(*j));
	size_t mlen, plen, nh = 0;
	const char *m, *path;

	if (!j)
		return NULL;
	j->r = r;
	m = sl_http_req_method(r, &mlen);
	path = sl_http_req_path(r, &plen);
	for (size_t i = 0; nh < MAX_HEADERS; i++) {
		const char *n, *v;
		size_t nl, vl;
		char *nc, *vc;

		if (!sl_http_req_header_at(r, i, &n, &nl, &v, &vl))
			break;
		nc = dupn(n, nl);
		vc = dupn(v, vl);
		if (!nc || !vc) {
			free(nc);
			free(vc);
			break;
		}
		for (char *p = nc; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		j->own[j->nown++] = nc;
		j->own[j->nown++] = vc;
		j->names[nh] = nc;
		j->values[nh++] = vc;
	}
	j->ar.method = j->own[j->nown] = dupn(m, mlen);
	j->nown += j->own[j->nown] != NULL;
	j->ar.path = j->own[j->nown] = dupn(path, plen);
	j->nown += j->own[j->nown] != NULL;
	for (size_t i = 0; i < nh; i++) {
		if (!j->ar.target && strcmp(j->names[i], "x-amz-target") == 0)
			j->ar.target = j->values[i];
		else if (!j->ar.content_type && strcmp(j->names[i], "content-type") == 0)
			j->ar.content_type = j->values[i];
		else if (!j->ar.authorization && strcmp(j->names[i], "authorization") == 0)
			j->ar.authorization = j->values[i];
		else if (strcmp(j->names[i], "x-amz-date") == 0 ||
		         (!j->ar.amz_date && strcmp(j->names[i], "date") == 0))
			j->ar.amz_date = j->values[i];
	}
	if (!j->ar.method)
		j->ar.method = "";
	if (!j->ar.path)
		j->ar.path = "/";
	j->ar.body = sl_http_req_body(r, &j->ar.len);
	j->ar.nheaders = nh;
	j->ar.header_names = j->names;
	j->ar.header_values = j->values;
	return j;
}

/*
 * Parse workers: jansson's parser is most of what a PutRecords record costs
 * the loop thread (4.6 of ~6.5 us at 100-byte records), so bodies of any
 * size go to a worker and come back parsed; the loop keeps the rest (auth,
 * validation, routing, puts, answers).
 */
static void *worker_main(void *arg)
{
	struct sl_cp *cp = arg;

	pthread_mutex_lock(&cp->mu);
	for (;;) {
		struct cp_job *j;
		uint64_t one = 1;

		while (!cp->todo && !cp->quit)
			pthread_cond_wait(&cp->cv, &cp->mu);
		if (cp->quit)
			break;
		j = cp->todo;
		cp->todo = j->next;
		if (!cp->todo)
			cp->todo_tail = &cp->todo;
		pthread_mutex_unlock(&cp->mu);

		j->ar.parsed_body = sl_api_parse_body(j->ar.body, j->ar.len);
		j->ar.parsed = j->ar.parsed_body ? 1 : -1;

		pthread_mutex_lock(&cp->mu);
		j->next = cp->parsed;
		cp->parsed = j;
		if (write(cp->parsed_fd, &one, sizeof(one)) < 0) {
			/* saturated: readable anyway */
		}
	}
	pthread_mutex_unlock(&cp->mu);
	return NULL;
}

static void on_parsed(void *arg)
{
	struct sl_cp *cp = arg;
	struct cp_job *list, *fifo = NULL;
	uint64_t v;

	if (read(cp->parsed_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to reset */
	}
	pthread_mutex_lock(&cp->mu);
	list = cp->parsed;
	cp->parsed = NULL;
	pthread_mutex_unlock(&cp->mu);
	while (list) { /* back to arrival order */
		struct cp_job *n = list->next;

		list->next = fifo;
		fifo = list;
		list = n;
	}
	while (fifo) {
		struct cp_job *j = fifo;

		fifo = j->next;
		sl_api_handle(cp->api, &j->ar, api_answer, j->r);
		job_free(j);
	}
}

static void on_request(void *arg, struct sl_http_req *r)
{
	struct sl_cp *cp = arg;
	size_t mlen, plen;
	const char *m = sl_http_req_method(r, &mlen), *path = sl_http_req_path(r, &plen);
	struct cp_job *j;

	cp->http_requests++;
	if (mlen == 3 && memcmp(m, "GET", 3) == 0) {
		if (plen >= 8 && memcmp(path, "/healthz", 8) == 0 &&
		    (plen == 8 || path[8] == '?')) {
			sl_http_respond(r, 200, "text/plain", "ok\n", 3);
			return;
		}
		if (plen >= 8 && memcmp(path, "/metrics", 8) == 0 &&
		    (plen == 8 || path[8] == '?')) {
			metrics(cp, r);
			return;
		}
	}
	j = job_new(r);
	if (!j) {
		sl_http_respond(r, 503, "text/plain", "out of memory\n", 14);
		return;
	}
	if (cp->nworkers && j->ar.len >= PARSE_OFF_LOOP && strcmp(j->ar.method, "POST") == 0) {
		pthread_mutex_lock(&cp->mu);
		*cp->todo_tail = j;
		cp->todo_tail = &j->next;
		pthread_cond_signal(&cp->cv);
		pthread_mutex_unlock(&cp->mu);
		return;
	}
	sl_api_handle(cp->api, &j->ar, api_answer, r);
	job_free(j);
}

int sl_cp_create(const struct sl_cp_config *c, struct sl_engine *e, struct sl_catalog *cat,
                 struct sl_cp **ret)
{
	struct sl_cp *cp = calloc(1, sizeof(*cp));
	struct sl_api_backend be;
	int rc;

	if (!cp)
		return -ENOMEM;
	cp->c = *c;
	cp->e = e;
	cp->cat = cat;
	cp->parsed_fd = -1;
	pthread_mutex_init(&cp->mu, NULL);
	pthread_cond_init(&cp->cv, NULL);
	cp->todo_tail = &cp->todo;
	be = (struct sl_api_backend){.arg = cp,
	                             .sync_stream = be_sync,
	                             .drop_stream = be_drop,
	                             .put = be_put,
	                             .log = be_log};
	rc = sl_api_create(&c->api_c, cat, &be, &cp->api);
	if (rc < 0)
		goto fail;
	if (c->parse_workers > MAX_WORKERS) {
		rc = sl_err_set(-EINVAL, "at most %d parse workers", MAX_WORKERS);
		goto fail;
	}
	rc = sl_http_create(&c->http_c, on_request, cp, &cp->http);
	if (rc < 0)
		goto fail;
	rc = sl_http_watch_fd(cp->http, sl_engine_put_fd(e), on_puts, cp);
	if (rc == 0)
		rc = sl_http_every(cp->http, 100, on_tick, cp);
	if (rc == 0 && c->parse_workers) {
		cp->parsed_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		rc = cp->parsed_fd < 0 ? sl_err_set(-errno, "eventfd: %s", strerror(errno))
		                       : sl_http_watch_fd(cp->http, cp->parsed_fd, on_parsed, cp);
	}
	if (rc < 0)
		goto fail;
	*ret = cp;
	return 0;
fail:
	sl_http_free(cp->http);
	sl_api_free(cp->api);
	if (cp->parsed_fd >= 0)
		close(cp->parsed_fd);
	free(cp);
	return rc;
}

static void *cp_main(void *arg)
{
	struct sl_cp *cp = arg;

	(void)sl_http_run(cp->http);
	return NULL;
}

/* Off the lcores' CPUs: threads created here inherit the main lcore's
 * single CPU, which a busy-polling lcore keeps to itself (measured: the
 * API's thread got half a core while the other CPU idled a third). */
static void move_off_lcores(struct sl_cp *cp, pthread_t t)
{
	cpu_set_t set;

	sl_engine_helper_cpus(cp->e, &set);
	(void)pthread_setaffinity_np(t, sizeof(set), &set);
}

int sl_cp_start(struct sl_cp *cp)
{
	int rc;

	for (unsigned i = 0; i < cp->c.parse_workers; i++) {
		rc = pthread_create(&cp->workers[i], NULL, worker_main, cp);
		if (rc != 0)
			return sl_err_set(-rc, "parse worker: %s", strerror(rc));
		move_off_lcores(cp, cp->workers[i]);
		cp->nworkers++;
	}
	rc = pthread_create(&cp->thread, NULL, cp_main, cp);
	if (rc == 0)
		move_off_lcores(cp, cp->thread);

	if (rc != 0)
		return sl_err_set(-rc, "control thread: %s", strerror(rc));
	cp->started = true;
	return 0;
}

uint16_t sl_cp_port(const struct sl_cp *cp)
{
	return sl_http_port(cp->http);
}

void sl_cp_free(struct sl_cp *cp)
{
	if (!cp)
		return;
	if (cp->started) {
		sl_http_stop(cp->http);
		pthread_join(cp->thread, NULL);
	}
	pthread_mutex_lock(&cp->mu);
	cp->quit = true;
	pthread_cond_broadcast(&cp->cv);
	pthread_mutex_unlock(&cp->mu);
	for (unsigned i = 0; i < cp->nworkers; i++)
		pthread_join(cp->workers[i], NULL);
	/* Requests still with the workers: released (the server has
	 * stopped, so the answers go nowhere). */
	for (struct cp_job *lists[2] = {cp->todo, cp->parsed}, **l = lists; l < lists + 2; l++) {
		while (*l) {
			struct cp_job *j = *l;

			*l = j->next;
			if (j->ar.parsed > 0)
				json_decref(j->ar.parsed_body);
			sl_http_respond(j->r, 503, "text/plain", "stopping\n", 9);
			job_free(j);
		}
	}
	if (cp->parsed_fd >= 0)
		close(cp->parsed_fd);
	/* Requests waiting for puts are answered by the API's free. */
	sl_api_free(cp->api);
	sl_http_free(cp->http);
	while (cp->early) {
		struct cp_put *p = cp->early;

		cp->early = p->next;
		free(p);
	}
	free(cp);
}
