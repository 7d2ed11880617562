/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control plane's HTTP server on h2o 2.2 (libh2o-evloop): one epoll
 * loop, HTTP/1.1 and cleartext HTTP/2 on one socket. h2o's HTTP/1 parser
 * hands a connection that opens with "PRI * HTTP/2" to its HTTP/2 code, so
 * clients with prior knowledge (AWS SDK JS v3, Java SDK v2) need nothing
 * more; h2o also buffers each request body whole, up to
 * max_request_entity_size (= max_body_bytes): HTTP/1 gets its 413 from h2o,
 * an HTTP/2 stream that overflows is reset (REFUSED_STREAM), which is all
 * h2o 2.2 offers there.
 *
 * Requests: every complete request is copied into one malloc'd wrapper
 * (method, path, headers, body) before the handler sees it, because h2o
 * frees its own copy when the client goes away (an HTTP/2 stream's body
 * even before the request's memory pool), and the handler may answer much
 * later. The wrapper is counted twice: once for h2o, dropped by a dispose
 * callback on the request's pool (h2o_mem_alloc_shared), once for the
 * handler, dropped by sl_http_respond(). Whichever comes last frees it; an
 * answer to a request h2o has dropped is dropped too.
 *
 *   handler ref ── sl_http_respond() ──┐
 *                                      ├──> free when both are gone
 *   h2o ref ── req->pool cleared ──────┘   (req == NULL: client gone)
 *
 * Connections: each accepted socket gets a record (sock->on_close tells us
 * it closed) that counts max_connections and the requests it has pending.
 * A watchdog sweeps them every io_timeout_ms / 4 and shuts down (shutdown(2),
 * so that h2o sees EOF or EPIPE and closes through its own paths) those with
 * nothing pending whose kernel saw no data either way for io_timeout_ms
 * (TCP_INFO's last_data_recv / last_data_sent): a slow upload that keeps
 * moving lives on, a half-sent or idle one does not. h2o's own HTTP/1
 * request timeout is kept as a backstop at 10 x io_timeout_ms for a whole
 * request (a drip of one byte per interval); its HTTP/2 idle timeout is
 * io_timeout_ms.
 *
 * Threads: everything runs on the thread in sl_http_run(), except
 * sl_http_stop() (an atomic flag and an eventfd write). sl_http_run() closes
 * every connection before it returns, on the loop thread, so that h2o frees
 * its sockets' buffers where it made them (its allocators are per thread):
 * requests not answered by then get a 503 from the server and their
 * wrappers stay valid until sl_http_respond(), which then drops the answer.
 * sl_http_create() and sl_http_free() must run on the same thread (h2o's
 * idle sockets point at that thread's buffer prototype).
 *
 * Memory: a connection holds at most h2o's header limit (H2O_MAX_REQLEN,
 * ~400 KiB, then 400) plus a body of max_body_bytes per request being read
 * (HTTP/2: per open stream, up to HTTP2_MAX_STREAMS = 16); the handler holds at most
 * max_pending wrappers, beyond which the server answers 503.
 *
 * SIGPIPE: h2o writes with writev(), so the loop thread blocks SIGPIPE while
 * it runs and discards what is pending when it stops.
 */
#include "http.h"

/* libh2o-evloop's pkg-config file does not say which loop it was built for:
 * the epoll one, not libuv. */
#define H2O_USE_LIBUV 0

#define HTTP2_MAX_STREAMS 16

#include <errno.h>
#include <fcntl.h>
#include <h2o.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "err.h"

#define DEFAULT_HOST        "127.0.0.1"
#define DEFAULT_PORT        4567
#define DEFAULT_MAX_BODY    (16u << 20)
#define DEFAULT_IO_TIMEOUT  10000
#define DEFAULT_MAX_CONNS   1024
#define DEFAULT_MAX_PENDING 4096

#define REQ_TIMEOUT_FACTOR 10  /* h2o's whole-request HTTP/1 timeout, x io_timeout */
#define ACCEPT_BURST       64  /* accepts per wakeup of the listener */
#define ACCEPT_PAUSE_MS    100 /* out of fds: listener rests this long */
#define TEARDOWN_ROUNDS    500 /* loop turns (10 ms each at most) to close everything */

struct sl_http;

/* An accepted connection (HTTP/1 or HTTP/2: the same socket either way). */
struct conn {
	struct sl_http *h;
	h2o_socket_t *sock;
	struct conn *prev, *next;
	uint32_t pending; /* requests with the handler, client still there */
	bool killed;      /* shut down by the watchdog or at stop */
};

struct hdr {
	const char *name, *value; /* name in lower case; both NUL-terminated */
	size_t nlen, vlen;
};

struct sl_http_req {
	struct sl_http *h;               /* NULL after sl_http_free() */
	h2o_req_t *req;                  /* NULL once h2o dropped the request */
	struct conn *conn;               /* counts us in conn->pending while set */
	struct sl_http_req *prev, *next; /* h->reqs: not answered yet */
	unsigned refs;                   /* h2o's + the handler's */
	bool answered;                   /* sl_http_respond() was called */
	bool sent;                       /* a response went to h2o (ours or the server's 503) */
	const char *version;
	const char *method, *path;
	size_t method_len, path_len;
	size_t nhdrs;
	struct hdr *hdrs;
	const uint8_t *body;
	size_t body_len;
	/* hdrs[], then the strings and the body follow in the same block */
};

struct timer {
	struct sl_http *h;
	h2o_timeout_t to;
	h2o_timeout_entry_t entry;
	void (*cb)(void *arg);
	void *arg;
	struct timer *next;
};

struct watch {
	struct sl_http *h;
	h2o_socket_t *sock; /* on a dup of the caller's fd */
	void (*cb)(void *arg);
	void *arg;
	struct watch *next;
};

struct handler {
	h2o_handler_t super;
	struct sl_http *h;
};

struct sl_http {
	struct sl_http_config cfg;
	sl_http_handler_fn handler;
	void *arg;
	uint16_t port;

	h2o_globalconf_t config;
	h2o_hostconf_t *hostconf;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	h2o_loop_t *loop;
	bool ctx_inited;

	h2o_socket_t *listener;
	bool listener_paused;
	h2o_timeout_t pause_to;
	h2o_timeout_entry_t pause_entry;

	int stop_fd; /* eventfd: sl_http_stop() wakes the loop */
	h2o_socket_t *stop_sock;
	atomic_bool stop;

	struct timer watchdog; /* not in timers: internal */
	struct timer *timers;
	struct watch *watches;

	struct conn *conns;
	uint32_t nconns;
	struct sl_http_req *reqs;
	uint32_t pending;
	bool closing; /* sl_http_run() is closing everything */
	bool leaked;  /* connections outlived the teardown: h2o state is kept */
};

void sl_http_config_default(struct sl_http_config *c)
{
	*c = (struct sl_http_config){
	        .host = DEFAULT_HOST,
	        .port = DEFAULT_PORT,
	        .max_body_bytes = DEFAULT_MAX_BODY,
	        .io_timeout_ms = DEFAULT_IO_TIMEOUT,
	        .max_connections = DEFAULT_MAX_CONNS,
	        .max_pending = DEFAULT_MAX_PENDING,
	};
}

/* ---- requests ---- */

static void req_put(struct sl_http_req *r)
{
	if (--r->refs == 0)
		free(r);
}

static void req_unpend_conn(struct sl_http_req *r)
{
	if (r->conn) {
		r->conn->pending--;
		r->conn = NULL;
	}
}

/* h2o cleared the request's pool: the client is gone or the answer is out. */
static void on_pool_dispose(void *p)
{
	struct sl_http_req *r = *(struct sl_http_req **)p;

	r->req = NULL;
	req_unpend_conn(r);
	req_put(r);
}

static struct conn *conn_of(h2o_req_t *req);

static bool lc_eq(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen && b[i]; i++) {
		char x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (char)(y + 32);
		if (x != y)
			return false;
	}
	return i == alen && b[i] == '\0';
}

/*
 * The wrapper, with everything copied. h2o keeps Host and Content-Length
 * out of req->headers (Host becomes the authority, Content-Length drives
 * its body reader): they are put back, because a SigV4 signature may
 * cover them.
 */
static struct sl_http_req *req_wrap(struct sl_http *h, h2o_req_t *req)
{
	bool has_host = req->input.authority.base != NULL &&
	                req->input.authority.base != h->hostconf->authority.hostport.base;
	bool has_body = req->entity.base != NULL;
	size_t nh = req->headers.size + has_host + has_body;
	size_t strings = req->input.method.len + req->input.path.len + 2;
	char clen[24] = "";
	struct sl_http_req *r;
	struct hdr *hd;
	char *s;

	for (size_t i = 0; i < req->headers.size; i++)
		strings +=
		        req->headers.entries[i].name->len + req->headers.entries[i].value.len + 2;
	if (has_host)
		strings += sizeof("host") + req->input.authority.len + 1;
	if (has_body) {
		snprintf(clen, sizeof(clen), "%zu", req->entity.len);
		strings += sizeof("content-length") + strlen(clen) + 1;
	}
	r = malloc(sizeof(*r) + nh * sizeof(*hd) + strings + req->entity.len + 1);
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->h = h;
	r->req = req;
	r->refs = 2;
	r->version = req->version >= 0x200   ? "HTTP/2"
	             : req->version == 0x100 ? "HTTP/1.0"
	                                     : "HTTP/1.1";
	hd = (struct hdr *)(r + 1);
	s = (char *)(hd + nh);

#define COPY(dst, dlen, src, n)                                                                    \
	do {                                                                                       \
		memcpy(s, (src), (n));                                                             \
		s[(n)] = '\0';                                                                     \
		(dst) = s;                                                                         \
		(dlen) = (n);                                                                      \
		s += (n) + 1;                                                                      \
	} while (0)
	COPY(r->method, r->method_len, req->input.method.base, req->input.method.len);
	COPY(r->path, r->path_len, req->input.path.base, req->input.path.len);
	r->hdrs = hd;
	if (has_host) {
		COPY(hd->name, hd->nlen, "host", 4);
		COPY(hd->value, hd->vlen, req->input.authority.base, req->input.authority.len);
		hd++;
	}
	for (size_t i = 0; i < req->headers.size; i++) {
		const h2o_header_t *e = &req->headers.entries[i];

		COPY(hd->name, hd->nlen, e->name->base, e->name->len);
		COPY(hd->value, hd->vlen, e->value.base, e->value.len);
		hd++;
	}
	if (has_body) {
		COPY(hd->name, hd->nlen, "content-length", 14);
		COPY(hd->value, hd->vlen, clen, strlen(clen));
		hd++;
	}
	r->nhdrs = (size_t)(hd - r->hdrs);
	memcpy(s, req->entity.base ? req->entity.base : "", req->entity.len);
	s[req->entity.len] = '\0';
	r->body = (const uint8_t *)s;
	r->body_len = req->entity.len;
#undef COPY
	return r;
}

static void send_error(h2o_req_t *req, int status, const char *reason, const char *body)
{
	req->http1_is_persistent = 0;
	h2o_send_error_generic(req, status, reason, body, H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct sl_http *h = ((struct handler *)self)->h;
	struct sl_http_req *r, **slot;

	if (h->closing) {
		send_error(req, 503, "Service Unavailable", "server stopping\n");
		return 0;
	}
	if (h->pending >= h->cfg.max_pending) {
		h2o_send_error_503(req, "Service Unavailable", "too many requests in progress\n",
		                   0);
		return 0;
	}
	if (req->entity.len > h->cfg.max_body_bytes) { /* h2o checks; kept in case it did not */
		send_error(req, 413, "Request Entity Too Large", "request entity is too large\n");
		return 0;
	}
	r = req_wrap(h, req);
	slot = r ? h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_pool_dispose) : NULL;
	if (!slot) {
		free(r);
		h2o_send_error_503(req, "Service Unavailable", "out of memory\n", 0);
		return 0;
	}
	*slot = r;
	r->conn = conn_of(req);
	if (r->conn)
		r->conn->pending++;
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	h->pending++;
	h->handler(h->arg, r);
	return 0;
}

const char *sl_http_req_method(const struct sl_http_req *r, size_t *len)
{
	if (len)
		*len = r->method_len;
	return r->method;
}

const char *sl_http_req_path(const struct sl_http_req *r, size_t *len)
{
	if (len)
		*len = r->path_len;
	return r->path;
}

const char *sl_http_req_header(const struct sl_http_req *r, const char *name, size_t *len)
{
	for (size_t i = 0; i < r->nhdrs; i++) {
		if (lc_eq(r->hdrs[i].name, r->hdrs[i].nlen, name)) {
			if (len)
				*len = r->hdrs[i].vlen;
			return r->hdrs[i].value;
		}
	}
	return NULL;
}

int sl_http_req_header_at(const struct sl_http_req *r, size_t i, const char **name, size_t *nlen,
                          const char **value, size_t *vlen)
{
	if (i >= r->nhdrs)
		return 0;
	*name = r->hdrs[i].name;
	*nlen = r->hdrs[i].nlen;
	*value = r->hdrs[i].value;
	*vlen = r->hdrs[i].vlen;
	return 1;
}

const void *sl_http_req_body(const struct sl_http_req *r, size_t *len)
{
	if (len)
		*len = r->body_len;
	return r->body;
}

const char *sl_http_req_version(const struct sl_http_req *r)
{
	return r->version;
}

int sl_http_req_gone(const struct sl_http_req *r)
{
	return r->req == NULL || r->sent;
}

/* A header name is an HTTP token; a value has no CR, LF or NUL. */
static bool header_ok(const char *name, const char *value)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(tchar, *p)))
			return false;
	return strpbrk(value, "\r\n") == NULL;
}

void sl_http_add_header(struct sl_http_req *r, const char *name, const char *value)
{
	h2o_req_t *req = r->req;
	size_t nlen, vlen;
	char *lc, *orig, *v;

	if (!req || r->sent || r->answered || !name || !value || !header_ok(name, value))
		return;
	nlen = strlen(name);
	vlen = strlen(value);
	lc = h2o_mem_alloc_pool(&req->pool, nlen + 1);
	orig = h2o_mem_alloc_pool(&req->pool, nlen + 1);
	v = h2o_mem_alloc_pool(&req->pool, vlen + 1);
	memcpy(orig, name, nlen + 1);
	memcpy(v, value, vlen + 1);
	/* HTTP/2 wants lower case; HTTP/1 prints orig_name. */
	for (size_t i = 0; i <= nlen; i++)
		lc[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	h2o_add_header_by_str(&req->pool, &req->res.headers, lc, nlen, 1, orig, v, vlen);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

static void send_response(struct sl_http_req *r, int status, const char *ctype, const void *body,
                          size_t len)
{
	static h2o_generator_t generator = {NULL, NULL};
	h2o_req_t *req = r->req;
	h2o_iovec_t buf = {NULL, 0};
	bool head = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;

	if (status < 100 || status > 999)
		status = 500;
	req->res.status = status;
	req->res.reason = reason(status);
	if (ctype && *ctype && !strpbrk(ctype, "\r\n")) {
		h2o_iovec_t v = h2o_strdup(&req->pool, ctype, SIZE_MAX);

		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
		               "Content-Type", v.base, v.len);
	}
	req->res.content_length = len;
	if (len && !head) {
		buf.base = h2o_mem_alloc_pool(&req->pool, len);
		memcpy(buf.base, body, len);
		buf.len = len;
	}
	r->sent = true;
	h2o_start_response(req, &generator);
	/* May clear req's pool at once (and run on_pool_dispose): r is held. */
	h2o_send(req, &buf, buf.len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

void sl_http_respond(struct sl_http_req *r, int status, const char *content_type, const void *body,
                     size_t len)
{
	if (!r || r->answered)
		return; /* exactly once: a second answer is ignored */
	r->answered = true;
	if (r->h) {
		r->h->pending--;
		if (r->prev)
			r->prev->next = r->next;
		else
			r->h->reqs = r->next;
		if (r->next)
			r->next->prev = r->prev;
		r->prev = r->next = NULL;
	}
	req_unpend_conn(r);
	if (r->req && !r->sent)
		send_response(r, status, content_type, body, len);
	req_put(r);
}

/* ---- connections ---- */

static void on_conn_close(void *arg)
{
	struct conn *c = arg;
	struct sl_http *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	free(c);
}

static struct conn *conn_of(h2o_req_t *req)
{
	h2o_socket_t *sock = req->conn && req->conn->callbacks->get_socket
	                             ? req->conn->callbacks->get_socket(req->conn)
	                             : NULL;

	if (!sock || sock->on_close.cb != on_conn_close)
		return NULL;
	return sock->on_close.data;
}

static void conn_kill(struct conn *c)
{
	if (c->killed)
		return;
	c->killed = true;
	/* h2o reads EOF or fails its next write, and closes the connection. */
	shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
}

static void listener_resume(h2o_timeout_entry_t *e);
static void on_accept(h2o_socket_t *listener, const char *err);

static void listener_pause(struct sl_http *h)
{
	if (h->listener_paused)
		return;
	h->listener_paused = true;
	h2o_socket_read_stop(h->listener);
	h2o_timeout_link(h->loop, &h->pause_to, &h->pause_entry);
}

static void listener_resume(h2o_timeout_entry_t *e)
{
	struct sl_http *h = H2O_STRUCT_FROM_MEMBER(struct sl_http, pause_entry, e);

	h->listener_paused = false;
	if (!h->closing)
		h2o_socket_read_start(h->listener, on_accept);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct sl_http *h = listener->data;

	if (err)
		return;
	for (int i = 0; i < ACCEPT_BURST && !h->closing; i++) {
		h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
		struct conn *c;

		if (!sock) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				listener_pause(h); /* or the loop spins on a readable listener */
			if (errno == EAGAIN || errno == EWOULDBLOCK || h->listener_paused)
				return;
			continue; /* ECONNABORTED and the like: the next one */
		}
		c = h->nconns < h->cfg.max_connections ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			h2o_socket_close(sock); /* beyond max_connections */
			continue;
		}
		c->h = h;
		c->sock = sock;
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		h->nconns++;
		sock->on_close.cb = on_conn_close;
		sock->on_close.data = c;
		h2o_accept(&h->accept_ctx, sock);
	}
}

/* Shuts down connections with nothing pending and no data either way for
 * io_timeout_ms. */
static void watchdog(void *arg)
{
	struct sl_http *h = arg;

	for (struct conn *c = h->conns; c; c = c->next) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (c->pending || c->killed)
			continue;
		if (getsockopt(h2o_socket_get_fd(c->sock), IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
			continue;
		if (ti.tcpi_last_data_recv >= h->cfg.io_timeout_ms &&
		    ti.tcpi_last_data_sent >= h->cfg.io_timeout_ms)
			conn_kill(c);
	}
}

/* ---- timers, fds, stop ---- */

static void on_timer(h2o_timeout_entry_t *e)
{
	struct timer *t = H2O_STRUCT_FROM_MEMBER(struct timer, entry, e);

	if (t->h->closing)
		return;
	h2o_timeout_link(t->h->loop, &t->to, &t->entry);
	t->cb(t->arg);
}

static void timer_init(struct sl_http *h, struct timer *t, uint32_t ms, void (*cb)(void *),
                       void *arg)
{
	t->h = h;
	t->cb = cb;
	t->arg = arg;
	/* 0 would make h2o run the entry again in the same turn, for ever. */
	h2o_timeout_init(h->loop, &t->to, ms ? ms : 1);
	t->entry.cb = on_timer;
}

static void timer_arm(struct timer *t)
{
	if (!h2o_timeout_is_linked(&t->entry))
		h2o_timeout_link(t->h->loop, &t->to, &t->entry);
}

static void timer_dispose(struct timer *t)
{
	h2o_timeout_unlink(&t->entry);
	h2o_timeout_dispose(t->h->loop, &t->to);
}

int sl_http_every(struct sl_http *h, uint32_t interval_ms, void (*cb)(void *arg), void *arg)
{
	struct timer *t;

	if (!cb)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	timer_init(h, t, interval_ms, cb, arg);
	t->next = h->timers;
	h->timers = t;
	if (!h->closing)
		timer_arm(t);
	return 0;
}

static void on_watch(h2o_socket_t *sock, const char *err)
{
	struct watch *w = sock->data;

	(void)err;
	if (w->h->closing) {
		h2o_socket_read_stop(sock); /* level-triggered: it would fire every turn */
		return;
	}
	w->cb(w->arg);
}

int sl_http_watch_fd(struct sl_http *h, int fd, void (*cb)(void *arg), void *arg)
{
	struct watch *w;
	int dup_fd;

	struct stat st;

	if (fd < 0 || !cb)
		return -EINVAL;
	/* epoll refuses files and directories, and h2o's loop would stop on it. */
	if (fstat(fd, &st) != 0)
		return -errno;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
		return sl_err_set(-EPERM, "http: fd %d is a file, epoll cannot watch it", fd);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	/* h2o closes the fd of a socket it disposes: give it a duplicate. */
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		int rc = -errno;

		free(w);
		return sl_err_set(rc, "http: dup of fd %d: %s", fd, strerror(-rc));
	}
	w->h = h;
	w->cb = cb;
	w->arg = arg;
	w->sock = h2o_evloop_socket_create(h->loop, dup_fd, H2O_SOCKET_FLAG_DONT_READ);
	w->sock->data = w;
	if (!h->closing)
		h2o_socket_read_start(w->sock, on_watch);
	w->next = h->watches;
	h->watches = w;
	return 0;
}

static void drain_stop_fd(struct sl_http *h)
{
	uint64_t v;

	while (read(h->stop_fd, &v, sizeof(v)) > 0)
		;
}

static void on_stop_readable(h2o_socket_t *sock, const char *err)
{
	struct sl_http *h = sock->data;

	(void)err;
	drain_stop_fd(h); /* the flag is what sl_http_run() looks at */
}

void sl_http_stop(struct sl_http *h)
{
	int saved = errno; /* may run in a signal handler */
	uint64_t one = 1;
	ssize_t rc;

	/* Release: the loop, woken by the eventfd, sees the flag. */
	atomic_store_explicit(&h->stop, true, memory_order_release);
	rc = write(h->stop_fd, &one, sizeof(one));
	(void)rc; /* EAGAIN: the counter is full, the loop is woken anyway */
	errno = saved;
}

/* ---- create, run, free ---- */

static int listen_on(struct sl_http *h)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8];
	int fd = -1, rc, err = 0, one = 1;

	snprintf(port, sizeof(port), "%u", (unsigned)h->cfg.port);
	rc = getaddrinfo(h->cfg.host, port, &hints, &res);
	if (rc != 0)
		return sl_err_set(-EINVAL, "http: address %s: %s", h->cfg.host, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		            ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return sl_err_set(-err, "http: listen on %s:%u: %s", h->cfg.host,
		                  (unsigned)h->cfg.port, strerror(err));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                         : ((struct sockaddr_in *)&ss)->sin_port);
	h->listener = h2o_evloop_socket_create(h->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	h->listener->data = h;
	return 0;
}

int sl_http_create(const struct sl_http_config *c, sl_http_handler_fn handler, void *arg,
                   struct sl_http **ret)
{
	struct sl_http *h;
	struct handler *hd;
	uint64_t req_timeout;
	int rc;

	if (!c || !handler || !ret)
		return -EINVAL;
	if (c->io_timeout_ms == 0 || c->max_connections == 0 || c->max_pending == 0)
		return sl_err_set(-EINVAL, "http: io_timeout_ms, max_connections and max_pending "
		                           "must be above 0");
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *c;
	if (!h->cfg.host)
		h->cfg.host = DEFAULT_HOST;
	h->handler = handler;
	h->arg = arg;
	h->stop_fd = -1;
	atomic_init(&h->stop, false);

	h2o_config_init(&h->config);
	h->config.server_name = h2o_iovec_init(H2O_STRLIT("sluice"));
	h->config.max_request_entity_size = h->cfg.max_body_bytes;
	req_timeout = (uint64_t)h->cfg.io_timeout_ms * REQ_TIMEOUT_FACTOR;
	h->config.http1.req_timeout = req_timeout;
	h->config.http1.upgrade_to_http2 = 1; /* also what routes "PRI * HTTP/2" to HTTP/2 */
	h->config.http2.idle_timeout = h->cfg.io_timeout_ms;
	/* Each open stream may buffer a whole body: 16 per connection (h2o's
	 * default is 100) keeps a connection's worst case at 16 bodies. */
	h->config.http2.max_concurrent_requests_per_connection = HTTP2_MAX_STREAMS;
	h->hostconf =
	        h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	/* Every path, "*" and "x" included, reaches the handler. */
	hd = (struct handler *)h2o_create_handler(&h->hostconf->fallback_path, sizeof(*hd));
	hd->super.on_req = on_req;
	hd->h = h;

	h->loop = h2o_evloop_create();
	h2o_context_init(&h->ctx, h->loop, &h->config);
	h->ctx_inited = true;
	h->accept_ctx.ctx = &h->ctx;
	h->accept_ctx.hosts = h->config.hosts;
	h2o_timeout_init(h->loop, &h->pause_to, ACCEPT_PAUSE_MS);
	h->pause_entry.cb = listener_resume;
	timer_init(h, &h->watchdog, SL_MAX(h->cfg.io_timeout_ms / 4, 1), watchdog, h);

	h->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->stop_fd < 0) {
		rc = sl_err_set(-errno, "http: eventfd: %s", strerror(errno));
		goto fail;
	}
	h->stop_sock = h2o_evloop_socket_create(h->loop, h->stop_fd, H2O_SOCKET_FLAG_DONT_READ);
	h->stop_sock->data = h;
	h2o_socket_read_start(h->stop_sock, on_stop_readable);

	rc = listen_on(h);
	if (rc < 0)
		goto fail;
	*ret = h;
	return 0;
fail:
	sl_http_free(h);
	return rc;
}

uint16_t sl_http_port(const struct sl_http *h)
{
	return h->port;
}

static void start(struct sl_http *h)
{
	h->closing = false;
	if (!h->listener_paused)
		h2o_socket_read_start(h->listener, on_accept);
	for (struct timer *t = h->timers; t; t = t->next)
		timer_arm(t);
	timer_arm(&h->watchdog);
	for (struct watch *w = h->watches; w; w = w->next)
		h2o_socket_read_start(w->sock, on_watch);
}

/*
 * On the loop thread, before sl_http_run() returns: no more accepts or
 * callbacks; requests still with the handler get a 503 (h2o must finish
 * them to free their connection); every socket is shut down so that h2o
 * closes it; the loop turns until they are all gone.
 */
static void close_all(struct sl_http *h)
{
	h->closing = true;
	h2o_socket_read_stop(h->listener);
	for (struct timer *t = h->timers; t; t = t->next)
		h2o_timeout_unlink(&t->entry);
	h2o_timeout_unlink(&h->watchdog.entry);
	for (struct watch *w = h->watches; w; w = w->next)
		h2o_socket_read_stop(w->sock);
	for (struct conn *c = h->conns; c; c = c->next)
		conn_kill(c);
	for (struct sl_http_req *r = h->reqs; r; r = r->next) {
		if (r->req && !r->sent) {
			r->sent = true;
			send_error(r->req, 503, "Service Unavailable", "server stopping\n");
		}
	}
	for (int i = 0; i < TEARDOWN_ROUNDS && h->nconns; i++)
		if (h2o_evloop_run(h->loop, 10) != 0 && errno != EINTR)
			break;
	if (h->nconns)
		h->leaked = true; /* h2o still holds them: keep its state, never touch it again */
}

int sl_http_run(struct sl_http *h)
{
	struct timespec zero = {0, 0};
	sigset_t pipe_set, old;
	int rc = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	if (!h->leaked) {
		start(h);
		/* Acquire: pairs with sl_http_stop()'s release. */
		while (!atomic_load_explicit(&h->stop, memory_order_acquire)) {
			if (h2o_evloop_run(h->loop, INT32_MAX) != 0 && errno != EINTR) {
				rc = sl_err_set(-errno, "http: event loop: %s", strerror(errno));
				break;
			}
		}
		close_all(h);
	}
	atomic_store_explicit(&h->stop, false, memory_order_relaxed);
	drain_stop_fd(h);
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

void sl_http_free(struct sl_http *h)
{
	if (!h)
		return;
	/* Requests the handler still holds: their answers will be dropped. */
	for (struct sl_http_req *r = h->reqs, *next; r; r = next) {
		next = r->next;
		r->h = NULL;
		r->prev = r->next = NULL;
		r->sent = true;
		r->conn = NULL;
	}
	h->reqs = NULL;
	if (h->leaked) {
		/* h2o's connections are still there: leave all of h2o alone. */
		free(h);
		return;
	}
	while (h->timers) {
		struct timer *t = h->timers;

		h->timers = t->next;
		timer_dispose(t);
		free(t);
	}
	while (h->watches) {
		struct watch *w = h->watches;

		h->watches = w->next;
		h2o_socket_close(w->sock);
		free(w);
	}
	if (h->listener)
		h2o_socket_close(h->listener);
	if (h->stop_sock)
		h2o_socket_close(h->stop_sock); /* closes stop_fd */
	else if (h->stop_fd >= 0)
		close(h->stop_fd);
	if (h->ctx_inited) {
		timer_dispose(&h->watchdog);
		h2o_timeout_unlink(&h->pause_entry);
		h2o_timeout_dispose(h->loop, &h->pause_to);
		h2o_context_dispose(&h->ctx);
		h2o_evloop_destroy(h->loop);
	}
	h2o_config_dispose(&h->config);
	free(h);
}
