/*
 * server.c - listeners, the poll loop, connection buffers, deadlines,
 * max_clients and the graceful drain (see server.h).
 *
 * Invariants:
 * - Only the I/O thread touches connections.  The control thread talks to
 *   it through one pipe (ctl) and two flags under mu.
 * - A connection has at most one backend job at a time (the job struct is
 *   embedded in it); while the job runs the worker owns the envelope and
 *   the connection reads nothing (SMTP-60).  A connection is freed only
 *   when it has no job in flight.
 * - Input is a fixed buffer of SRV_IN_MAX bytes; it never grows.  Reading
 *   stops while smtp.c's reply buffer is nearly full (pipelining floods)
 *   or a job is in flight.
 * - Deadlines use the monotonic clock (gd_now_ms).
 * - TLS (tls.c) sits between the socket and the buffers: once c->tls is
 *   set every byte in and out goes through the engine, and the poll events
 *   come from the engine's state (tls_events).  Plaintext the engine holds
 *   is invisible to poll, so the sweep pulls it.  After STARTTLS nothing
 *   is read until the 220 is flushed and the handshake is done, and what
 *   was already buffered is dropped (SMTP-52).  A handshake has the server
 *   timeout to finish; it never gets a reply, only a close.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "backend.h"
#include "config.h"
#include "envelope.h"
#include "log.h"
#include "proxy.h"
#include "server.h"
#include "smtp.h"
#include "tls.h"

#define SRV_IN_MAX	8192	/* per-connection input buffer (> SMTP_LINE_MAX) */
#define SRV_ACCEPT_BATCH 64	/* accepts per loop pass, for fairness */
#define SRV_BACKLOG	511

struct srv_listener {
	int			fd;
	const struct cfg_server	*cfg;
	struct logger		*log;		/* the server's log_file */
	int			own_log;	/* log is not the main log */
	uint64_t		next_id;	/* SMTP-02 */
	unsigned long		active;
	int64_t			paused_until;	/* EMFILE back-off */
	struct tls_ctx		*tls;		/* NULL unless a TLS mode is on */
};

struct srv_conn {
	int			fd;		/* -1 once the socket is closed */
	struct srv_listener	*l;
	struct logger		*log;		/* the server's log */
	int64_t			deadline;	/* 0 = none */
	int			job_busy;	/* job submitted, not yet back */
	int			closing;	/* close once output is flushed */
	int			eof;		/* peer closed its side */
	int			proxy_wait;	/* PROXY header expected (SMTP-05) */
	int			stalled;	/* input left, reply buffer full */
	int			tls_pending;	/* STARTTLS: flush 220, then handshake */
	int			tls_hs;		/* handshake running (SMTP-52, SMTP-09) */
	struct tls_conn		*tls;		/* NULL while plaintext */
	struct be_job		job;
	struct gd_envelope	env;
	size_t			inlen;
	char			in[SRV_IN_MAX];
	struct smtp_session	smtp;
};

struct srv {
	const struct cfg_app	*app;
	struct backend		*be;
	struct logger		*log;
	struct srv_listener	*ls;
	size_t			nls;
	struct srv_conn		**c;
	size_t			nc, capc;
	struct pollfd		*pfd;
	size_t			cappfd;
	uint64_t		msg_counter;	/* ENV-09 */
	int			ctl[2];		/* control thread -> loop */
	pthread_t		thread;
	int			started;
	int			stopping;	/* loop-local copy of the request */

	pthread_mutex_t		mu;		/* protects stop_req, finished */
	pthread_cond_t		cv;
	int			stop_req;
	int			finished;
};

/* ---- helpers ---- */

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

/* split_iface - "host:port", "[v6]:port", ":port" -> host (may be "")
 * and port.  -1 on a malformed interface. */
static int
split_iface(const char *iface, char *host, size_t hlen, char *port,
    size_t plen)
{
	const char *colon;
	size_t n;

	if (iface[0] == '[') {
		const char *rb = strchr(iface, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		n = (size_t)(rb - iface - 1);
		colon = rb + 1;
		if (n >= hlen)
			return -1;
		memcpy(host, iface + 1, n);
	} else {
		colon = strrchr(iface, ':');
		if (colon == NULL)
			return -1;
		n = (size_t)(colon - iface);
		if (n >= hlen)
			return -1;
		memcpy(host, iface, n);
	}
	host[n] = '\0';
	if (gd_strlcpy(port, colon + 1, plen) >= plen || port[0] == '\0')
		return -1;
	return 0;
}

static int
listen_on(const char *iface, char *err, size_t errlen)
{
	char host[256], port[16];
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, rc, one = 1;

	if (split_iface(iface, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(err, errlen, "[%s] Cannot listen on port: bad "
		    "interface", iface);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	hints.ai_family = host[0] == '\0' ? AF_INET6 : AF_UNSPEC;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0 && host[0] == '\0') {	/* no IPv6 here: all IPv4 */
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, port, &hints, &res);
	}
	if (rc != 0) {
		snprintf(err, errlen, "[%s] Cannot listen on port: %s", iface,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (ai->ai_family == AF_INET6 && host[0] == '\0') {
			int off = 0;	/* ":port" means IPv4 too */
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
			    sizeof(off));
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SRV_BACKLOG) == 0 && set_nonblock(fd) == 0)
			break;
		snprintf(err, errlen, "[%s] Cannot listen on port: %s", iface,
		    strerror(errno));
		(void)close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* peer_bin - family 4 or 6 and the address (IPv4-mapped as 4). */
static int
peer_bin(const struct sockaddr_storage *ss, unsigned char addr[16])
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)ss)->
		    sin_addr, 4);
		return 4;
	}
	if (ss->ss_family == AF_INET6) {
		const unsigned char *a = ((const struct sockaddr_in6 *)
		    (const void *)ss)->sin6_addr.s6_addr;
		if (memcmp(a, mapped, 12) == 0) {
			memcpy(addr, a + 12, 4);
			return 4;
		}
		memcpy(addr, a, 16);
		return 6;
	}
	return 0;
}

/* peer_text - SMTP-03: canonical text, IPv4-mapped IPv6 shown as IPv4. */
static void
peer_text(const struct sockaddr_storage *ss, char *ip, size_t iplen,
    int *port)
{
	unsigned char a[16];
	int fam = peer_bin(ss, a);

	*port = ss->ss_family == AF_INET6 ?
	    ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port) :
	    ss->ss_family == AF_INET ?
	    ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port) : 0;
	if (fam == 0 || inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, ip,
	    (socklen_t)iplen) == NULL)
		gd_strlcpy(ip, "unknown", iplen);
}

/* queued_id - ENV-09: last 6 bytes of SHA-256(hex time, hex client id,
 * hex message counter) as 12 lower-case hex characters. */
static void
queued_id(struct srv *s, struct srv_conn *c)
{
	static const char hex[] = "0123456789abcdef";
	br_sha256_context h;
	unsigned char out[32];
	char buf[64];
	int n, i;

	n = snprintf(buf, sizeof(buf), "%llx%llx%llx",
	    (unsigned long long)time(NULL),
	    (unsigned long long)c->env.client_id,
	    (unsigned long long)++s->msg_counter);
	br_sha256_init(&h);
	br_sha256_update(&h, buf, (size_t)n);
	br_sha256_out(&h, out);
	for (i = 0; i < 6; i++) {
		c->env.queued_id[2 * i] = hex[out[26 + i] >> 4];
		c->env.queued_id[2 * i + 1] = hex[out[26 + i] & 15];
	}
	c->env.queued_id[12] = '\0';
}

/* trace - LOG-04: every command and reply at debug level (log_msg
 * escapes the client's bytes, LOG-05). */
static void
trace(void *arg, int incoming, const char *p, size_t n)
{
	struct srv_conn *c = arg;

	log_debug(c->log, "%s: %.*s", incoming ? "Client sent" :
	    "Writing response to client", (int)(n > 1024 ? 1024 : n), p);
}

static int
relay_allowed(void *arg, const char *domain, int is_ip)
{
	const struct cfg_app *app = arg;

	return cfg_host_allowed(app->allowed_hosts, app->nallowed_hosts,
	    domain, is_ip);
}

/* ---- connections ---- */

static void
conn_touch(struct srv_conn *c)
{
	c->deadline = gd_now_ms() + (int64_t)c->l->cfg->timeout * 1000;
}

static void
conn_close_fd(struct srv_conn *c)
{
	if (c->fd >= 0) {
		(void)close(c->fd);
		c->fd = -1;
	}
}

static int start_tls(struct srv_conn *c, const char *pre, size_t prelen);

/* conn_flush_tls - hand smtp.c's replies to the engine and send the
 * records it makes until the socket would block. */
static int
conn_flush_tls(struct srv_conn *c)
{
	for (;;) {
		size_t n = 0;

		if (c->smtp.outlen > 0 && (n = tls_sendapp(c->tls, c->smtp.out,
		    c->smtp.outlen)) > 0)
			smtp_drain(&c->smtp, n);
		if (tls_pump(c->tls, c->fd, 0) == TLS_CLOSED)
			return -1;
		if (n == 0)
			return 0;
	}
}

/* conn_flush - write what smtp.c queued (through TLS when it is on); once
 * the 220 to STARTTLS is out, start the handshake.  -1 when the peer is
 * gone. */
static int
conn_flush(struct srv_conn *c)
{
	if (c->fd < 0)
		return 0;
	if (c->tls != NULL)
		return conn_flush_tls(c);
	while (c->smtp.outlen > 0 && c->fd >= 0) {
		ssize_t w = send(c->fd, c->smtp.out, c->smtp.outlen,
		    GD_MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		smtp_drain(&c->smtp, (size_t)w);
	}
	if (c->tls_pending && c->smtp.outlen == 0)
		return start_tls(c, NULL, 0);
	return 0;
}

/* conn_recv - like read(2): plaintext from the socket, or from the TLS
 * engine after moving records (0 = closed, -1 with EAGAIN = nothing). */
static ssize_t
conn_recv(struct srv_conn *c, char *buf, size_t len)
{
	if (c->tls == NULL)
		return read(c->fd, buf, len);
	for (;;) {
		size_t n = tls_recvapp(c->tls, buf, len);
		int rc;

		if (n > 0)
			return (ssize_t)n;
		if ((rc = tls_pump(c->tls, c->fd, 1)) == TLS_CLOSED)
			return 0;
		if (rc == 0) {
			errno = EAGAIN;
			return -1;
		}
	}
}

static void
submit(struct srv *s, struct srv_conn *c, enum gd_task task)
{
	c->job.task = task;
	c->job.env = &c->env;
	c->job.owner = c;
	if (task == GD_TASK_SAVE)
		queued_id(s, c);
	if (be_submit(s->be, &c->job) != 0) {
		/* [DEV] 451 instead of GG's 554 (GAP-06) */
		if (task == GD_TASK_SAVE) {
			if (smtp_save_done(&c->smtp, "451 4.3.0 Transaction "
			    "failed - backend not running") == SMTP_EV_CLOSE)
				c->closing = 1;
		} else
			smtp_validate_done(&c->smtp, "storage not available");
		return;
	}
	c->job_busy = 1;
	c->deadline = 0;	/* the backend timeout bounds the wait */
}

/* greet - the 220, and the per-line deadline starts (SMTP-10). */
static void
greet(struct srv_conn *c)
{
	log_info(c->log, "Handle client [%s], id: %llu", c->env.remote_ip,
	    (unsigned long long)c->env.client_id);
	smtp_greet(&c->smtp, c->l->active, time(NULL));
	conn_touch(c);
}

/* start_tls - begin the server handshake (STARTTLS once the 220 is out,
 * or SMTPS right after accept / the PROXY header).  pre holds ciphertext
 * already read (after a PROXY header).  The handshake must finish within
 * the server timeout.  -1 when the session cannot start. */
static int
start_tls(struct srv_conn *c, const char *pre, size_t prelen)
{
	char err[160];

	c->tls_pending = 0;
	if ((c->tls = tls_conn_new(c->l->tls, err, sizeof(err))) == NULL) {
		log_err(c->log, "[%s] cannot start TLS: %s", c->env.remote_ip,
		    err);
		return -1;
	}
	if (prelen > 0 && tls_feed(c->tls, pre, prelen) != prelen) {
		log_info(c->log, "[%s] TLS handshake failed: unexpected data",
		    c->env.remote_ip);
		return -1;
	}
	c->tls_hs = 1;
	conn_touch(c);
	return 0;
}

static void conn_read(struct srv *s, struct srv_conn *c);

/* conn_hs - drive the handshake.  Done: SMTPS greets now, STARTTLS tells
 * smtp.c (SMTP-53).  Failed: close without a reply (SMTP-09, SMTP-54). */
static void
conn_hs(struct srv *s, struct srv_conn *c)
{
	char d[96];
	int done = 0;

	if (tls_pump(c->tls, c->fd, 1) != TLS_CLOSED)
		done = tls_handshake_done(c->tls);
	else
		done = -1;
	if (done < 0) {
		log_info(c->log, "[%s] TLS handshake failed: %s",
		    c->env.remote_ip, tls_error(c->tls));
		conn_close_fd(c);
		return;
	}
	if (done == 0)
		return;
	c->tls_hs = 0;
	tls_describe(c->tls, d, sizeof(d));
	log_info(c->log, "[%s] TLS session: %s", c->env.remote_ip, d);
	if (c->smtp.state == SMTP_S_STARTTLS) {
		smtp_tls_started(&c->smtp);
		if (c->smtp.shutting_down &&
		    smtp_shutdown(&c->smtp) == SMTP_EV_CLOSE)
			c->closing = 1;
		conn_touch(c);
	} else {
		smtp_tls_started(&c->smtp);	/* SMTPS: the flag */
		greet(c);
	}
	if (conn_flush(c) != 0) {
		conn_close_fd(c);
		return;
	}
	if (tls_app_pending(c->tls))
		conn_read(s, c);
}

/* conn_run - feed buffered input to smtp.c until it needs more, needs a
 * flush, or waits for an event to complete. */
static void
conn_run(struct srv *s, struct srv_conn *c)
{
	c->stalled = 0;
	if (c->proxy_wait && c->inlen > 0 && !c->closing) {
		struct proxy_info pi;
		int n = proxy_parse(c->in, c->inlen, &pi);
		char esc[64];

		if (n == 0)
			return;		/* more bytes needed */
		if (n < 0) {	/* SMTP-07: close without a reply */
			log_escape(esc, sizeof(esc), c->in, c->inlen < 40 ?
			    c->inlen : 40);
			log_info(c->log, "[%s] invalid PROXY header: %s",
			    c->env.remote_ip, esc);
			c->closing = 1;
			c->inlen = 0;
			return;
		}
		if (!pi.unknown)	/* [DEV] UNKNOWN keeps the peer */
			gd_strlcpy(c->env.remote_ip, pi.src,
			    sizeof(c->env.remote_ip));
		memmove(c->in, c->in + n, c->inlen - (size_t)n);
		c->inlen -= (size_t)n;
		c->proxy_wait = 0;
		if (c->l->cfg->tls.tls_always_on) {	/* SMTP-09 */
			size_t pre = c->inlen;
			c->inlen = 0;
			if (start_tls(c, c->in, pre) != 0)
				conn_close_fd(c);
			return;
		}
		greet(c);
	}
	if (c->proxy_wait || c->tls_hs || c->tls_pending)
		return;
	while (!c->job_busy && !c->closing && c->inlen > 0 &&
	    SMTP_OUT_MAX - c->smtp.outlen >= SMTP_OUT_ROOM) {
		enum smtp_event ev = SMTP_EV_NONE;
		size_t used = smtp_input(&c->smtp, c->in, c->inlen, &ev);

		if (used > 0) {
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
		}
		if (c->smtp.line_done) {
			c->smtp.line_done = 0;
			conn_touch(c);
		}
		switch (ev) {
		case SMTP_EV_NONE:
			if (used == 0)
				return;
			break;
		case SMTP_EV_VALIDATE:
			submit(s, c, GD_TASK_VALIDATE);
			break;
		case SMTP_EV_SAVE:
			submit(s, c, GD_TASK_SAVE);
			break;
		case SMTP_EV_STARTTLS:
			/* SMTP-52: what follows the STARTTLS line in the
			 * buffer was sent before the handshake: never obey
			 * it (CVE-2011-0411).  conn_flush sends the 220 in
			 * plaintext, then starts the handshake. */
			c->inlen = 0;
			c->tls_pending = 1;
			return;
		case SMTP_EV_CLOSE:
			c->closing = 1;
			c->inlen = 0;
			return;
		}
	}
	c->stalled = c->inlen > 0 && !c->job_busy && !c->closing &&
	    SMTP_OUT_MAX - c->smtp.outlen < SMTP_OUT_ROOM;
}

/* conn_can_read - would the session take more input now? */
static int
conn_can_read(const struct srv_conn *c)
{
	return c->fd >= 0 && !c->job_busy && !c->closing && !c->eof &&
	    !c->tls_pending && !c->tls_hs && c->inlen < SRV_IN_MAX &&
	    SMTP_OUT_MAX - c->smtp.outlen >= SMTP_OUT_ROOM;
}

/* conn_out_left - replies or TLS records not yet on the wire. */
static int
conn_out_left(struct srv_conn *c)
{
	return c->smtp.outlen > 0 || (c->tls != NULL && tls_out_pending(c->tls));
}

static void
conn_free(struct srv *s, size_t i)
{
	struct srv_conn *c = s->c[i];

	if (c->tls != NULL) {
		if (c->fd >= 0 && !c->tls_hs) {	/* best effort close_notify */
			tls_close(c->tls);
			(void)tls_pump(c->tls, c->fd, 0);
		}
		tls_conn_free(c->tls);
	}
	conn_close_fd(c);
	c->l->active--;
	env_free(&c->env);
	free(c);
	s->c[i] = s->c[--s->nc];
}

static void
accept_clients(struct srv *s, struct srv_listener *l)
{
	int k;

	for (k = 0; k < SRV_ACCEPT_BATCH; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct srv_conn *c;
		int fd = accept(l->fd, (struct sockaddr *)&ss, &sl);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_err(l->log, "[%s] accept: %s",
				    l->cfg->listen_interface, strerror(errno));
				l->paused_until = gd_now_ms() + 100;
			}
			return;
		}
		if (set_nonblock(fd) != 0) {
			(void)close(fd);
			continue;
		}
		gd_nosigpipe(fd);
		l->next_id++;
		if (l->active >= (unsigned long)l->cfg->max_clients ||
		    s->stopping) {
			/* SMTP-04 [DEV]: answer instead of hanging */
			char msg[320];
			int n = s->stopping ?
			    snprintf(msg, sizeof(msg), "421 4.3.0 Server is "
			    "shutting down. Please try again later. "
			    "Sayonara!\r\n") :
			    snprintf(msg, sizeof(msg), "421 4.7.0 %s Error: "
			    "too many connections, try again later\r\n",
			    l->cfg->host_name);
			/* best effort: a full socket buffer just loses it */
			if (n > 0 && (size_t)n < sizeof(msg) &&
			    send(fd, msg, (size_t)n, GD_MSG_NOSIGNAL) < 0)
				n = 0;
			(void)close(fd);
			continue;
		}
		if (s->nc == s->capc) {
			size_t cap = s->capc ? s->capc * 2 : 16;
			struct srv_conn **nc = gd_reallocarray(s->c, cap,
			    sizeof(*nc));
			if (nc == NULL) {
				(void)close(fd);
				return;
			}
			s->c = nc;
			s->capc = cap;
		}
		if ((c = malloc(sizeof(*c))) == NULL) {
			(void)close(fd);
			return;
		}
		c->fd = fd;
		c->l = l;
		c->job_busy = c->closing = c->eof = c->stalled = 0;
		c->tls_pending = c->tls_hs = 0;
		c->tls = NULL;
		c->proxy_wait = l->cfg->proxyon;
		c->inlen = 0;
		memset(&c->job, 0, sizeof(c->job));
		env_init(&c->env);
		peer_text(&ss, c->env.remote_ip, sizeof(c->env.remote_ip),
		    &c->env.remote_port);
		c->env.client_id = l->next_id;
		c->env.server_iface = l->cfg->listen_interface;
		smtp_init(&c->smtp, l->cfg, &c->env, relay_allowed,
		    (void *)s->app, be_has_validate(s->be));
		c->smtp.version = gd_version();
		c->log = l->log;
		if (log_get_level(l->log) <= LOGL_DEBUG) {
			c->smtp.trace = trace;
			c->smtp.trace_arg = c;
		}
		if (l->cfg->xclient_on) {
			/* CFG-07a: XCLIENT only from the direct peer's
			 * trusted addresses (nginx's mail proxy) */
			unsigned char a[16];
			int fam = peer_bin(&ss, a);
			c->smtp.xclient_untrusted = !cfg_cidr_match(
			    l->cfg->xclient_trusted, l->cfg->nxclient_trusted,
			    fam, a);
		}
		l->active++;
		s->c[s->nc++] = c;
		if (c->proxy_wait) {
			unsigned char a[16];
			int fam = peer_bin(&ss, a);
			/* CFG-07a: only trusted balancers may send PROXY */
			if (!cfg_cidr_match(l->cfg->proxy_trusted,
			    l->cfg->nproxy_trusted, fam, a)) {
				log_info(l->log, "[%s] PROXY header from an "
				    "untrusted address refused",
				    c->env.remote_ip);
				conn_close_fd(c);
				continue;
			}
			conn_touch(c);	/* the header has one line's time */
			continue;
		}
		if (l->cfg->tls.tls_always_on) {	/* SMTP-09: greet later */
			if (start_tls(c, NULL, 0) != 0)
				conn_close_fd(c);
			continue;
		}
		greet(c);
		if (conn_flush(c) != 0)
			conn_close_fd(c);
	}
}

/* conn_read - read what the buffer has room for; then run smtp.c. */
static void
conn_read(struct srv *s, struct srv_conn *c)
{
	int rounds = 16;	/* then let other connections have a turn */

	if (c->tls_hs) {
		conn_hs(s, c);
		return;
	}
	while (c->inlen < SRV_IN_MAX && !c->closing && !c->job_busy &&
	    !c->tls_pending && !c->tls_hs && c->fd >= 0 && rounds-- > 0) {
		size_t want = SRV_IN_MAX - c->inlen;
		ssize_t r = conn_recv(c, c->in + c->inlen, want);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->eof = 1;
			break;
		}
		if (r == 0) {
			c->eof = 1;
			break;
		}
		c->inlen += (size_t)r;
		conn_run(s, c);
		if (c->smtp.state == SMTP_S_DATA && c->inlen == SRV_IN_MAX)
			conn_touch(c);
		/* A short plaintext read drained the socket: skip the read
		 * that would only say EAGAIN (poll is level-triggered, so
		 * later bytes wake us again). */
		if (c->tls == NULL && (size_t)r < want)
			break;
	}
	conn_run(s, c);
}

/* job_done - a worker finished: hand the outcome to smtp.c. */
static void
job_done(struct srv *s, struct srv_conn *c)
{
	char reply[GD_REPLY_MAX + 64];

	c->job_busy = 0;
	if (c->job.task == GD_TASK_SAVE) {
		be_save_reply(&c->job.res, c->env.queued_id, reply,
		    sizeof(reply));
		if (c->job.res.error[0] != '\0' && c->job.res.reply[0] != '\0')
			log_err(c->log, "save failed for client id %llu: %s",
			    (unsigned long long)c->env.client_id,
			    c->job.res.error);
		if (smtp_save_done(&c->smtp, reply) == SMTP_EV_CLOSE)
			c->closing = 1;
	} else {
		smtp_validate_done(&c->smtp, be_validate_reason(&c->job.res));
		/* shutdown began while we waited: idle now, so 421 at once */
		if (c->smtp.shutting_down &&
		    smtp_shutdown(&c->smtp) == SMTP_EV_CLOSE)
			c->closing = 1;
	}
	if (!c->closing && !c->eof)
		conn_touch(c);
	conn_run(s, c);
}

/* check_timers - client deadlines (SMTP-59) and job deadlines (BE-06). */
static void
check_timers(struct srv *s, int64_t now)
{
	size_t i;

	for (i = 0; i < s->nc; i++) {
		struct srv_conn *c = s->c[i];

		if (c->job_busy) {
			if (!c->job.timed_out && now >= c->job.deadline_ms) {
				c->job.timed_out = 1;
				smtp_job_timeout(&c->smtp);
			}
			continue;
		}
		if (c->deadline != 0 && now >= c->deadline && c->fd >= 0) {
			if (c->tls_hs) {	/* no reply possible mid-handshake */
				log_info(c->log, "[%s] TLS handshake timeout",
				    c->env.remote_ip);
				conn_close_fd(c);
				continue;
			}
			if (c->closing) {	/* a peer that does not read */
				conn_close_fd(c);
				continue;
			}
			(void)smtp_timeout(&c->smtp);
			c->closing = 1;
			c->inlen = 0;
			c->deadline = now + 5000;	/* bound the last write */
		}
	}
}

static void
begin_stop(struct srv *s)
{
	size_t i;

	s->stopping = 1;
	for (i = 0; i < s->nls; i++) {
		if (s->ls[i].fd >= 0) {
			(void)close(s->ls[i].fd);
			s->ls[i].fd = -1;
			log_info(s->ls[i].log, "Server [%s] has stopped accepting "
			    "new clients", s->ls[i].cfg->listen_interface);
		}
	}
	for (i = 0; i < s->nc; i++) {
		struct srv_conn *c = s->c[i];
		if (c->tls_hs) {	/* nobody to say 421 to yet */
			conn_close_fd(c);
			continue;
		}
		/* An idle session mid-line is idle too: drop its partial line. */
		if (smtp_shutdown(&c->smtp) == SMTP_EV_CLOSE) {
			c->closing = 1;
			c->inlen = 0;
		}
	}
}

static void *
loop_main(void *arg)
{
	struct srv *s = arg;
	size_t i;

	for (;;) {
		size_t n = 0, nfixed;
		int64_t now = gd_now_ms(), next = now + 1000;
		int timeout, rc;

		/* sweep: go on with input left behind a full reply buffer,
		 * flush, close finished connections */
		for (i = 0; i < s->nc; ) {
			struct srv_conn *c = s->c[i];
			if (c->fd >= 0 && c->stalled &&
			    SMTP_OUT_MAX - c->smtp.outlen >= SMTP_OUT_ROOM)
				conn_run(s, c);
			if (c->fd >= 0 && conn_out_left(c) && !c->tls_hs &&
			    conn_flush(c) != 0)
				conn_close_fd(c);
			/* plaintext the engine holds: poll cannot see it */
			if (c->tls != NULL && !c->tls_hs && conn_can_read(c) &&
			    tls_app_pending(c->tls)) {
				conn_read(s, c);
				if (c->fd >= 0 && conn_out_left(c) &&
				    conn_flush(c) != 0)
					conn_close_fd(c);
				if (c->tls != NULL && conn_can_read(c) &&
				    tls_app_pending(c->tls))
					next = now;
			}
			if (c->fd >= 0 && c->stalled &&
			    SMTP_OUT_MAX - c->smtp.outlen >= SMTP_OUT_ROOM)
				next = now;	/* more to do: do not sleep */
			if (c->fd >= 0 && c->eof && !c->job_busy &&
			    !c->closing) {
				conn_run(s, c);
				/* what is left is an unfinished line or
				 * unfinished data, unless the replies must be
				 * flushed first */
				if (!c->job_busy && !c->closing &&
				    SMTP_OUT_MAX - c->smtp.outlen >=
				    SMTP_OUT_ROOM) {
					(void)smtp_eof(&c->smtp,
					    "connection closed");
					c->closing = 1;
					(void)conn_flush(c);
				}
			}
			if (!c->job_busy && (c->fd < 0 ||
			    (c->closing && !conn_out_left(c)))) {
				conn_free(s, i);
				continue;
			}
			i++;
		}
		if (s->stopping && s->nc == 0)
			break;

		if (s->cappfd < s->nc + s->nls + 2) {
			size_t cap = s->nc + s->nls + 64;
			struct pollfd *p = gd_reallocarray(s->pfd, cap,
			    sizeof(*p));
			if (p == NULL) {
				struct timespec ts = { 0, 10000000 };
				nanosleep(&ts, NULL);
				continue;
			}
			s->pfd = p;
			s->cappfd = cap;
		}
		s->pfd[n].fd = s->ctl[0];
		s->pfd[n++].events = POLLIN;
		s->pfd[n].fd = be_wake_fd(s->be);
		s->pfd[n++].events = POLLIN;
		for (i = 0; i < s->nls; i++) {
			struct srv_listener *l = &s->ls[i];
			s->pfd[n].fd = (l->fd >= 0 && l->paused_until <= now) ?
			    l->fd : -1;
			s->pfd[n++].events = POLLIN;
			if (l->paused_until > now && l->paused_until < next)
				next = l->paused_until;
		}
		nfixed = n;
		for (i = 0; i < s->nc; i++) {
			struct srv_conn *c = s->c[i];
			short ev = 0;
			if (c->fd >= 0 && c->tls != NULL)
				ev = tls_events(c->tls, c->tls_hs ||
				    conn_can_read(c));
			else {
				if (conn_can_read(c))
					ev |= POLLIN;
				if (c->fd >= 0 && c->smtp.outlen > 0)
					ev |= POLLOUT;
			}
			s->pfd[n].fd = ev ? c->fd : -1;
			s->pfd[n].events = ev;
			s->pfd[n].revents = 0;
			n++;
			if (c->job_busy && !c->job.timed_out &&
			    c->job.deadline_ms < next)
				next = c->job.deadline_ms;
			if (!c->job_busy && c->deadline != 0 &&
			    c->deadline < next)
				next = c->deadline;
		}
		timeout = next <= now ? 0 : (int)(next - now);
		rc = poll(s->pfd, (nfds_t)n, timeout);
		if (rc < 0 && errno != EINTR) {
			log_err(s->log, "poll: %s", strerror(errno));
			continue;
		}
		now = gd_now_ms();
		if (rc > 0) {
			if (s->pfd[0].revents & POLLIN) {
				char buf[16];
				while (read(s->ctl[0], buf, sizeof(buf)) > 0)
					;
				pthread_mutex_lock(&s->mu);
				if (s->stop_req && !s->stopping)
					begin_stop(s);
				pthread_mutex_unlock(&s->mu);
			}
			if (s->pfd[1].revents & POLLIN) {
				struct be_job *j = be_take_done(s->be);
				while (j != NULL) {
					struct be_job *nx = j->next;
					job_done(s, j->owner);
					j = nx;
				}
			}
			for (i = 0; i < s->nls; i++)
				if (s->ls[i].fd >= 0 &&
				    (s->pfd[2 + i].revents & POLLIN))
					accept_clients(s, &s->ls[i]);
			/* connections polled are the first (n - nfixed) of
			 * s->c; accepts above only appended to it */
			for (i = 0; i < n - nfixed; i++) {
				struct srv_conn *c = s->c[i];
				short re = s->pfd[nfixed + i].revents;
				if (re == 0 || c->fd < 0)
					continue;
				if (re & (POLLERR | POLLNVAL)) {
					conn_close_fd(c);
					continue;
				}
				if (c->tls_hs) {
					conn_hs(s, c);
					continue;
				}
				if ((re & POLLOUT) && conn_flush(c) != 0) {
					conn_close_fd(c);
					continue;
				}
				if (c->stalled && SMTP_OUT_MAX -
				    c->smtp.outlen >= SMTP_OUT_ROOM)
					conn_run(s, c);
				if (re & (POLLIN | POLLHUP))
					conn_read(s, c);
				if (conn_out_left(c) && conn_flush(c) != 0)
					conn_close_fd(c);
			}
		}
		check_timers(s, now);
	}
	pthread_mutex_lock(&s->mu);
	s->finished = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < s->nls; i++)
		log_info(s->ls[i].log, "shutdown completed for [%s]",
		    s->ls[i].cfg->listen_interface);
	return NULL;
}

/* ---- lifecycle ---- */

struct srv *
srv_new(const struct cfg_app *app, struct logger *log, char *err,
    size_t errlen)
{
	struct srv *s;
	size_t i, used = 0;
	int failed = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ls = calloc(app->nservers ? app->nservers : 1,
	    sizeof(*s->ls))) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->app = app;
	s->log = log;
	s->ctl[0] = s->ctl[1] = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	err[0] = '\0';
	for (i = 0; i < app->nservers; i++) {
		const struct cfg_server *cfg = &app->servers[i];
		char e1[512];
		int fd;

		if (!cfg->is_enabled)
			continue;
		if ((fd = listen_on(cfg->listen_interface, e1,
		    sizeof(e1))) < 0) {
			int n = snprintf(err + used, errlen - used, "%s%s",
			    used ? "\n" : "", e1);
			if (n > 0 && (size_t)n < errlen - used)
				used += (size_t)n;
			failed = 1;
			continue;
		}
		s->ls[s->nls].fd = fd;
		s->ls[s->nls].cfg = cfg;
		s->ls[s->nls].log = log;
		if (strcmp(cfg->log_file, log_dest(log)) != 0) {
			struct logger *sl = log_open(cfg->log_file,
			    log_get_level(log), e1, sizeof(e1));
			if (sl == NULL) {	/* CFG-11: unwritable log file */
				int n = snprintf(err + used, errlen - used,
				    "%s%s", used ? "\n" : "", e1);
				if (n > 0 && (size_t)n < errlen - used)
					used += (size_t)n;
				failed = 1;
			} else {
				s->ls[s->nls].log = sl;
				s->ls[s->nls].own_log = 1;
			}
		}
		if (cfg->tls.start_tls_on || cfg->tls.tls_always_on) {
			/* TLS-01: the key pair is read once, here */
			s->ls[s->nls].tls = tls_ctx_new(cfg, s->ls[s->nls].log,
			    e1, sizeof(e1));
			if (s->ls[s->nls].tls == NULL) {
				int n = snprintf(err + used, errlen - used,
				    "%s%s", used ? "\n" : "", e1);
				if (n > 0 && (size_t)n < errlen - used)
					used += (size_t)n;
				failed = 1;
			}
		}
		if (!failed)
			log_info(s->ls[s->nls].log, "Listening on TCP %s",
			    cfg->listen_interface);
		s->nls++;
	}
	if (!failed && s->nls == 0) {
		snprintf(err, errlen, "there are no servers that can start, "
		    "please check your config");
		failed = 1;
	}
	if (!failed && pipe(s->ctl) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		failed = 1;
	}
	if (failed) {
		srv_free(s);
		return NULL;
	}
	(void)set_nonblock(s->ctl[0]);
	(void)set_nonblock(s->ctl[1]);
	return s;
}

int
srv_start(struct srv *s, struct backend *b, char *err, size_t errlen)
{
	int rc;

	s->be = b;
	rc = pthread_create(&s->thread, NULL, loop_main, s);

	if (rc != 0) {
		snprintf(err, errlen, "cannot start I/O thread: %s",
		    strerror(rc));
		return -1;
	}
	s->started = 1;
	return 0;
}

int
srv_shutdown(struct srv *s, long timeout_ms)
{
	struct timespec until;
	int rc = 0;

	if (!s->started)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	s->stop_req = 1;
	while (write(s->ctl[1], "s", 1) < 0 && errno == EINTR)
		;
	while (!s->finished && rc == 0)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0)
			rc = -1;
	pthread_mutex_unlock(&s->mu);
	if (rc != 0)
		return -1;	/* the loop still runs: do not join or free */
	pthread_join(s->thread, NULL);
	s->started = 0;
	return 0;
}

int
srv_reopen_logs(struct srv *s)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < s->nls; i++) {
		char err[512];
		if (s->ls[i].own_log &&
		    log_reopen(s->ls[i].log, err, sizeof(err)) != 0) {
			log_err(s->log, "%s", err);
			rc = -1;
		}
	}
	return rc;
}

int
srv_tls_reload(struct srv *s)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < s->nls; i++) {
		char err[512];
		int r;

		if (s->ls[i].tls == NULL)
			continue;
		r = tls_ctx_reload_if_changed(s->ls[i].tls, err, sizeof(err));
		if (r < 0) {
			log_err(s->ls[i].log, "%s (keeping the old certificate)",
			    err);
			rc = -1;
		} else if (r > 0)
			log_info(s->ls[i].log, "[%s] TLS certificate reloaded",
			    s->ls[i].cfg->listen_interface);
	}
	return rc;
}

void
srv_free(struct srv *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nc; i++) {
		conn_close_fd(s->c[i]);
		tls_conn_free(s->c[i]->tls);
		env_free(&s->c[i]->env);
		free(s->c[i]);
	}
	for (i = 0; i < s->nls; i++) {
		if (s->ls[i].fd >= 0)
			(void)close(s->ls[i].fd);
		if (s->ls[i].own_log)
			log_close(s->ls[i].log);
		tls_ctx_free(s->ls[i].tls);
	}
	for (i = 0; i < 2; i++)
		if (s->ctl[i] >= 0)
			(void)close(s->ctl[i]);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->ls);
	free(s->c);
	free(s->pfd);
	free(s);
}
