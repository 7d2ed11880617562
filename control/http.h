/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control plane's HTTP server: h2o (libh2o-evloop) on one event-loop
 * thread, HTTP/1.1 and cleartext HTTP/2 with prior knowledge on the same
 * listening socket. It knows nothing about Kinesis: it hands each complete
 * request to one handler and sends what the handler answers.
 *
 * Threads: everything here runs on the thread that calls sl_http_run(),
 * except sl_http_stop(), which any thread or a signal handler may call.
 *
 * Requests: the body is read completely (up to max_body_bytes; beyond it
 * the server answers 413 itself and the handler never sees the request)
 * before the handler runs. The handler answers at once or later (from a
 * timer or fd callback on the loop thread) with sl_http_respond(), exactly
 * once per request. When the client goes away first, the request stays
 * valid until it is answered; the answer is then dropped. Slow or
 * half-sent requests are closed after io_timeout_ms without progress.
 */
#ifndef SL_CONTROL_HTTP_H
#define SL_CONTROL_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct sl_http;
struct sl_http_req;

struct sl_http_config {
	const char *host;         /* address to listen on; default "127.0.0.1" */
	uint16_t port;            /* default 4567; 0: any free port (see sl_http_port) */
	size_t max_body_bytes;    /* default 16 MiB: a 10 MiB PutRecords in base64 JSON */
	uint32_t io_timeout_ms;   /* default 10000 */
	uint32_t max_connections; /* default 1024; beyond it new connections are closed */
	uint32_t max_pending;     /* requests handed to the handler and not yet answered;
	                           * beyond it the server answers 503 itself (default 4096) */
};

void sl_http_config_default(struct sl_http_config *c);

/* The handler: called on the loop thread for every complete request. */
typedef void (*sl_http_handler_fn)(void *arg, struct sl_http_req *req);

/* Binds and listens (errors carry sl_errmsg(): address in use, ...). */
int sl_http_create(const struct sl_http_config *c, sl_http_handler_fn handler, void *arg,
                   struct sl_http **ret);
void sl_http_free(struct sl_http *h); /* NULL-safe; closes connections */
uint16_t sl_http_port(const struct sl_http *h);

/* Runs the loop until sl_http_stop(). Before it returns it closes every
 * connection (requests not answered yet get a 503 from the server); their
 * sl_http_req stay valid, and sl_http_respond() on them once the loop has
 * stopped (before or after sl_http_free(), one thread at a time) only frees
 * them. Call sl_http_create() and sl_http_free() on the same thread. */
int sl_http_run(struct sl_http *h);
/* Any thread, async-signal-safe. */
void sl_http_stop(struct sl_http *h);

/* Calls cb on the loop thread whenever fd is readable (level-triggered; the
 * callback must drain it, e.g. read an eventfd). The server watches a
 * duplicate of fd, and the file becomes non-blocking. */
int sl_http_watch_fd(struct sl_http *h, int fd, void (*cb)(void *arg), void *arg);
/* Calls cb on the loop thread every interval_ms. */
int sl_http_every(struct sl_http *h, uint32_t interval_ms, void (*cb)(void *arg), void *arg);

/* ---- a request (valid until answered) ---- */

const char *sl_http_req_method(const struct sl_http_req *r, size_t *len);
const char *sl_http_req_path(const struct sl_http_req *r, size_t *len); /* with the query */
/* First header with that name (case-insensitive), NULL if none. */
const char *sl_http_req_header(const struct sl_http_req *r, const char *name, size_t *len);
/* Iterates headers: 0 .. while it returns 1. */
int sl_http_req_header_at(const struct sl_http_req *r, size_t i, const char **name, size_t *nlen,
                          const char **value, size_t *vlen);
const void *sl_http_req_body(const struct sl_http_req *r, size_t *len);
/* "HTTP/1.1" or "HTTP/2" ("HTTP/1.0" for such a client). */
const char *sl_http_req_version(const struct sl_http_req *r);
/* The client is gone: the answer will be dropped. (Over HTTP/1.1 a client
 * that leaves is only noticed when its answer is written.) */
int sl_http_req_gone(const struct sl_http_req *r);

/* Adds a response header before sl_http_respond(); name and value copied. */
void sl_http_add_header(struct sl_http_req *r, const char *name, const char *value);
/* Sends status, content type (NULL: none) and body (copied), and ends the
 * request. Exactly once per request. */
void sl_http_respond(struct sl_http_req *r, int status, const char *content_type, const void *body,
                     size_t len);

#endif
