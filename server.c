/*
 * server.c - the I/O loops (server.h; server_int.h has the invariants):
 * accepting, reading, feeding smtp.c, writing replies, submitting jobs,
 * buffers, deadlines, TLS on the wire, the accept policy across loops.
 * The control thread's side - generations, listeners, the barrier,
 * start, reload, shutdown - is in server_ctl.c.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "envelope.h"
#include "log.h"
#include "proxy.h"
#include "server_int.h"
#include "smtp.h"
#include "tls.h"

/* ---- helpers ---- */

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
	if (fam == 4 && iplen >= 16)
		gd_ipv4_text(a, ip);
	else if (fam == 0 || inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, ip,
	    (socklen_t)iplen) == NULL)
		gd_strlcpy(ip, "unknown", iplen);
}


/* trace - LOG-04: every command and reply at debug level (log_msg
 * escapes the client's bytes, LOG-05).  The level is read each time: a
 * reload may change it under a live session. */
static void
trace(void *arg, int incoming, const char *p, size_t n)
{
	struct srv_conn *c = arg;

	if (log_get_level(c->l->log) > LOGL_DEBUG)
		return;
	log_debug(c->l->log, "%s: %.*s", incoming ? "Client sent" :
	    "Writing response to client", (int)(n > 1024 ? 1024 : n), p);
}

/* relay_allowed - the current allowed_hosts (a reload applies to the
 * next RCPT of live sessions, SPEC 8.4). */
static int
relay_allowed(void *arg, const char *domain, int is_ip)
{
	const struct srv *s = arg;
	const struct cfg_app *app = s->cur->app;

	return cfg_host_allowed(app->allowed_hosts, app->nallowed_hosts,
	    domain, is_ip);
}

/* ---- the buffer pool ---- */

static char *
pool_get(struct srv_loop *lp)
{
	if (lp->npool > 0)
		return lp->pool[--lp->npool];
	return malloc(SRV_BUF);
}

static void
pool_put(struct srv_loop *lp, char *b)
{
	if (b == NULL)
		return;
	if (lp->npool < SRV_POOL_MAX)
		lp->pool[lp->npool++] = b;
	else
		free(b);
}

/* ---- generations ---- */

static void
gen_free(struct srv_gen *g)
{
	size_t i;

	if (g == NULL)
		return;
	if (g->tls != NULL)
		for (i = 0; i < g->app->nservers; i++)
			tls_ctx_free(g->tls[i]);
	free(g->tls);
	cfg_drop(g->app);
	free(g);
}

struct srv_gen *
srv_gen_hold(struct srv *s, struct srv_gen *g)
{
	pthread_mutex_lock(&s->amu);
	g->refs++;
	pthread_mutex_unlock(&s->amu);
	return g;
}

/* srv_gen_drop - the last reference frees it (on whichever thread). */
void
srv_gen_drop(struct srv *s, struct srv_gen *g)
{
	long left;

	if (g == NULL)
		return;
	pthread_mutex_lock(&s->amu);
	left = --g->refs;
	pthread_mutex_unlock(&s->amu);
	if (left == 0)
		gen_free(g);
}

/* srv_ctl_poke - wake a loop so it reads the shared flags. */
void
srv_ctl_poke(struct srv_loop *lp)
{
	while (write(lp->ctl[1], "c", 1) < 0 && errno == EINTR)
		;
}

/* ---- connections ---- */

/* conn_lend - a reply buffer for smtp.c before anything that may reply;
 * -1 when memory is short (the caller closes the connection). */
static int
conn_lend(struct srv_conn *c)
{
	if (c->smtp.out == NULL && (c->smtp.out = pool_get(c->lp)) == NULL)
		return -1;
	return 0;
}

/* conn_give_back - return empty buffers to the pool (idle sessions). */
static void
conn_give_back(struct srv_conn *c)
{
	if (c->inlen == 0 && c->in != NULL) {
		pool_put(c->lp, c->in);
		c->in = NULL;
	}
	if (c->smtp.outlen == 0 && c->smtp.out != NULL) {
		pool_put(c->lp, c->smtp.out);
		c->smtp.out = NULL;
	}
}

/* conn_touch - the per-line deadline, from the server's current timeout
 * (a reload applies from the next wait). */
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
	int flags = GD_MSG_NOSIGNAL;

	if (c->fd < 0)
		return 0;
	if (c->tls != NULL)
		return conn_flush_tls(c);
	/* the 221 to QUIT: the socket closes right after it (conn_linger),
	 * so let the reply and the FIN share one segment */
	if (c->closing && c->smtp.said_bye && !c->dropped)
		flags |= GD_MSG_MORE;
	while (c->smtp.outlen > 0 && c->fd >= 0) {
		ssize_t w = send(c->fd, c->smtp.out, c->smtp.outlen, flags);
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

static void job_finish(struct srv_conn *c);

static void
submit(struct srv_loop *lp, struct srv_conn *c, enum gd_task task)
{
	c->job.task = task;
	c->job.env = &c->env;
	c->job.owner = c;
	c->job.doneq = &lp->dq;
	if (task == GD_TASK_SAVE)
		env_make_queued_id(&c->env, time(NULL), ++lp->msg_counter,
		    (unsigned)lp->idx);
	if (be_run_inline(lp->s->be, lp->idx, &c->job)) {
		/* a nonblocking chain ran right here */
		if (c->job.timed_out)
			smtp_job_timeout(&c->smtp);
		job_finish(c);
		return;
	}
	if (be_submit(lp->s->be, &c->job) != 0) {
		/* our trouble, so temporary (go-guerrilla answers 554) */
		struct gd_result *r = &c->job.res;
		if (task == GD_TASK_SAVE) {
			gd_result_set(r, GD_STATUS_TEMPFAIL, "451 4.3.0 "
			    "Transaction failed - backend not running");
			if (smtp_save_done(&c->smtp, r) == SMTP_EV_CLOSE)
				c->closing = 1;
		} else {
			gd_result_set(r, GD_STATUS_TEMPFAIL, NULL);
			smtp_validate_done(&c->smtp, r);
		}
		return;
	}
	c->job_busy = 1;
	c->deadline = 0;	/* the backend timeout bounds the wait */
}

/* greet - the 220, and the per-line deadline starts (SMTP-10). */
static void
greet(struct srv_conn *c)
{
	log_info(c->l->log, "Handle client [%s], id: %llu", c->env.remote_ip,
	    (unsigned long long)c->env.client_id);
	if (conn_lend(c) != 0) {
		conn_close_fd(c);
		return;
	}
	smtp_greet(&c->smtp, c->nactive, time(NULL));
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
	if ((c->tls = tls_conn_new(c->tlsctx, err, sizeof(err))) == NULL) {
		log_err(c->l->log, "[%s] cannot start TLS: %s", c->env.remote_ip,
		    err);
		return -1;
	}
	if (prelen > 0 && tls_feed(c->tls, pre, prelen) != prelen) {
		log_info(c->l->log, "[%s] TLS handshake failed: unexpected data",
		    c->env.remote_ip);
		return -1;
	}
	c->tls_hs = 1;
	conn_touch(c);
	return 0;
}

static void conn_read(struct srv_loop *lp, struct srv_conn *c);

/* conn_hs - drive the handshake.  Done: SMTPS greets now, STARTTLS tells
 * smtp.c (SMTP-53).  Failed: close without a reply (SMTP-09, SMTP-54). */
static void
conn_hs(struct srv_loop *lp, struct srv_conn *c)
{
	char d[96];
	int done = 0;

	if (tls_pump(c->tls, c->fd, 1) != TLS_CLOSED)
		done = tls_handshake_done(c->tls);
	else
		done = -1;
	if (done < 0) {
		log_info(c->l->log, "[%s] TLS handshake failed: %s",
		    c->env.remote_ip, tls_error(c->tls));
		conn_close_fd(c);
		return;
	}
	if (done == 0)
		return;
	c->tls_hs = 0;
	tls_describe(c->tls, d, sizeof(d));
	log_info(c->l->log, "[%s] TLS session: %s", c->env.remote_ip, d);
	if (conn_lend(c) != 0) {
		conn_close_fd(c);
		return;
	}
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
		conn_read(lp, c);
}

/* conn_proxy - SMTP-05..08: the PROXY header first.  0 when the session
 * may go on, -1 when it waits for more or ended. */
static int
conn_proxy(struct srv_conn *c)
{
	struct proxy_info pi;
	int n = proxy_parse(c->in, c->inlen, &pi);
	char esc[64];

	if (n == 0)
		return -1;		/* more bytes needed */
	if (n < 0) {	/* SMTP-07: close without a reply */
		log_escape(esc, sizeof(esc), c->in, c->inlen < 40 ?
		    c->inlen : 40);
		log_info(c->l->log, "[%s] invalid PROXY header: %s",
		    c->env.remote_ip, esc);
		c->closing = 1;
		c->inlen = 0;
		return -1;
	}
	if (!pi.unknown) {	/* [DEV] UNKNOWN keeps the peer */
		gd_strlcpy(c->env.remote_ip, pi.src, sizeof(c->env.remote_ip));
		c->env.remote_port = pi.sport;
	}
	memmove(c->in, c->in + n, c->inlen - (size_t)n);
	c->inlen -= (size_t)n;
	c->proxy_wait = 0;
	if (c->l->cfg->tls.tls_always_on) {	/* SMTP-09 */
		size_t pre = c->inlen;
		c->inlen = 0;
		if (start_tls(c, c->in, pre) != 0)
			conn_close_fd(c);
		return -1;
	}
	greet(c);
	return 0;
}

/* conn_run - feed buffered input to smtp.c until it needs more, needs a
 * flush, or waits for an event to complete.  What smtp.c consumed is
 * dropped from the buffer once, at the end (off). */
static void
conn_run(struct srv_loop *lp, struct srv_conn *c)
{
	size_t off = 0;

	c->stalled = 0;
	if (c->inlen == 0 || c->closing)
		return;
	if (conn_lend(c) != 0) {
		conn_close_fd(c);
		return;
	}
	if (c->proxy_wait && conn_proxy(c) != 0)
		return;
	if (c->proxy_wait || c->tls_hs || c->tls_pending || c->fd < 0)
		return;
	while (!c->job_busy && !c->closing && off < c->inlen &&
	    SMTP_OUT_MAX - c->smtp.outlen >= SMTP_OUT_ROOM) {
		enum smtp_event ev = SMTP_EV_NONE;
		size_t used = smtp_input(&c->smtp, c->in + off, c->inlen - off,
		    &ev);

		off += used;
		if (c->smtp.state == SMTP_S_DATA && c->env.data.len == 0)
			env_spare_lend(&lp->spares, &c->env, gd_now_ms());
		if (c->smtp.line_done) {
			c->smtp.line_done = 0;
			conn_touch(c);
		}
		if (ev == SMTP_EV_NONE && used == 0)
			break;
		if (ev == SMTP_EV_VALIDATE)
			submit(lp, c, GD_TASK_VALIDATE);
		else if (ev == SMTP_EV_SAVE)
			submit(lp, c, GD_TASK_SAVE);
		else if (ev == SMTP_EV_STARTTLS) {
			/* SMTP-52: what follows the STARTTLS line in the
			 * buffer was sent before the handshake: never obey
			 * it (CVE-2011-0411).  conn_flush sends the 220 in
			 * plaintext, then starts the handshake. */
			off = c->inlen;
			c->tls_pending = 1;
			break;
		} else if (ev == SMTP_EV_CLOSE) {
			c->closing = 1;
			c->dropped |= off < c->inlen;
			off = c->inlen;
			break;
		}
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
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

/* conn_end_tls - best effort close_notify, then the TLS engine goes; the
 * socket stays open. */
static void
conn_end_tls(struct srv_conn *c)
{
	if (c->tls == NULL)
		return;
	if (c->fd >= 0 && !c->tls_hs) {
		tls_close(c->tls);
		(void)tls_pump(c->tls, c->fd, 0);
	}
	tls_conn_free(c->tls);
	c->tls = NULL;
	c->tls_hs = 0;
}

/* Lingering close: closing a socket whose receive queue holds unread
 * bytes makes the kernel send RST, and an RST can destroy the final reply
 * (421, 500 ...) before the client reads it.  So a session that ends for
 * any reason but a plain QUIT half-closes (FIN after the reply), reads and
 * discards what the peer still sends, and closes on its EOF or after
 * SRV_LINGER_MS.  A QUIT with nothing after it closes at once: the queue
 * is empty, and it costs no extra syscalls on the hot path. */
#define SRV_LINGER_MS	2000

/* linger_read - discard what has arrived; close on EOF or error. */
static void
linger_read(struct srv_conn *c)
{
	char buf[2048];
	int rounds = 8;

	while (c->fd >= 0 && rounds-- > 0) {
		ssize_t r = read(c->fd, buf, sizeof(buf));
		if (r > 0)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_close_fd(c);
	}
}

/* conn_linger - the session's last reply is on the wire: close now, or
 * start lingering.  1 when the connection is to be freed now. */
static int
conn_linger(struct srv_conn *c, int64_t now)
{
	if (c->fd < 0 || c->eof || (c->smtp.said_bye && !c->dropped))
		return 1;
	conn_end_tls(c);
	(void)shutdown(c->fd, SHUT_WR);
	c->linger = 1;
	c->inlen = 0;
	conn_give_back(c);
	c->deadline = now + SRV_LINGER_MS;
	linger_read(c);
	return c->fd < 0;
}

static void
conn_free(struct srv_loop *lp, size_t i)
{
	struct srv_conn *c = lp->c[i];
	struct srv *s = lp->s;
	int last;

	conn_end_tls(c);
	conn_close_fd(c);
	pool_put(lp, c->in);
	pool_put(lp, c->smtp.out);
	pthread_mutex_lock(&s->amu);
	last = --c->l->active == 0 && c->l->dead;
	c->l->busy = last;	/* free_dead must wait for the line below */
	pthread_mutex_unlock(&s->amu);
	if (last) {		/* a server removed by reload is done (LOG-04) */
		log_info(c->l->log, "shutdown completed for [%s]",
		    c->l->iface);
		pthread_mutex_lock(&s->amu);
		c->l->busy = 0;
		pthread_mutex_unlock(&s->amu);
	}
	srv_gen_drop(s, c->gen);
	env_free(&c->env);
	free(c);
	lp->c[i] = lp->c[--lp->nc];
}

/* conn_stop - SMTP-61 for one session: idle ones get 421 and close, one
 * mid-line is idle too (its partial line is dropped); one in DATA or
 * waiting for the backend finishes first (smtp.c remembers). */
static void
conn_stop(struct srv_conn *c)
{
	c->stopped = 1;
	if (c->fd < 0 || c->linger)
		return;
	if (c->tls_hs || conn_lend(c) != 0) {	/* nobody to say 421 to */
		conn_close_fd(c);
		return;
	}
	if (smtp_shutdown(&c->smtp) == SMTP_EV_CLOSE) {
		c->closing = 1;
		c->inlen = 0;
	}
}

static void
accept_clients(struct srv_loop *lp, struct srv_listener *l)
{
	struct srv *s = lp->s;
	int k;

	for (k = 0; k < SRV_ACCEPT_BATCH; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct srv_conn *c;
		uint64_t id;
		unsigned long nactive;
		int full, fd = gd_accept_nb(l->fd, (struct sockaddr *)&ss,
		    &sl);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_err(l->log, "[%s] accept: %s",
				    l->cfg->listen_interface, strerror(errno));
				lp->paused_until = gd_now_ms() + 100;
			}
			return;
		}
		gd_nosigpipe(fd);
		pthread_mutex_lock(&s->amu);
		id = ++l->next_id;
		full = l->active >= (unsigned long)l->cfg->max_clients;
		if (!full && !lp->stopping)
			l->active++;
		nactive = l->active;
		pthread_mutex_unlock(&s->amu);
		if (full || lp->stopping) {
			/* SMTP-04 [DEV]: answer instead of hanging */
			char msg[320];
			int n = lp->stopping ?
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
		c = NULL;
		if (lp->nc == lp->capc) {
			size_t cap = lp->capc ? lp->capc * 2 : 16;
			struct srv_conn **nc = gd_reallocarray(lp->c, cap,
			    sizeof(*nc));
			if (nc != NULL) {
				lp->c = nc;
				lp->capc = cap;
			}
		}
		if (lp->nc == lp->capc || (c = malloc(sizeof(*c))) == NULL) {
			pthread_mutex_lock(&s->amu);
			l->active--;
			pthread_mutex_unlock(&s->amu);
			(void)close(fd);
			return;
		}
		c->fd = fd;
		c->l = l;
		c->gen = srv_gen_hold(s, l->gen);
		c->tlsctx = l->tls;	/* c->gen keeps it */
		c->job_busy = c->closing = c->eof = c->stalled = 0;
		c->tls_pending = c->tls_hs = c->stopped = 0;
		c->dropped = c->linger = 0;
		c->nactive = nactive;
		c->tls = NULL;
		c->proxy_wait = l->cfg->proxyon;
		c->lp = lp;
		c->in = NULL;
		c->inlen = 0;
		memset(&c->job, 0, sizeof(c->job));
		env_init(&c->env);
		peer_text(&ss, c->env.remote_ip, sizeof(c->env.remote_ip),
		    &c->env.remote_port);
		c->env.client_id = id;
		c->env.server_iface = l->cfg->listen_interface;
		smtp_init(&c->smtp, l->cfg, &c->env, relay_allowed, s,
		    be_has_validate(s->be));
		c->smtp.version = s->version;
		c->smtp.trace = trace;
		c->smtp.trace_arg = c;
		if (l->cfg->xclient_on) {
			/* CFG-07a: XCLIENT only from the direct peer's
			 * trusted addresses (nginx's mail proxy) */
			unsigned char a[16];
			int fam = peer_bin(&ss, a);
			c->smtp.xclient_untrusted = !cfg_cidr_match(
			    l->cfg->xclient_trusted, l->cfg->nxclient_trusted,
			    fam, a);
		}
		lp->c[lp->nc++] = c;
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
conn_read(struct srv_loop *lp, struct srv_conn *c)
{
	int rounds = 16;	/* then let other connections have a turn */

	if (c->tls_hs) {
		conn_hs(lp, c);
		return;
	}
	if (c->in == NULL && (c->in = pool_get(lp)) == NULL) {
		conn_close_fd(c);
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
		conn_run(lp, c);
		if (c->smtp.state == SMTP_S_DATA && c->inlen == SRV_IN_MAX)
			conn_touch(c);
		/* A short plaintext read drained the socket: skip the read
		 * that would only say EAGAIN (poll is level-triggered, so
		 * later bytes wake us again). */
		if (c->tls == NULL && (size_t)r < want)
			break;
	}
	conn_run(lp, c);
}

/* job_finish - hand a job's outcome to smtp.c. */
static void
job_finish(struct srv_conn *c)
{
	const struct gd_result *r = &c->job.res;

	c->job_busy = 0;
	if (conn_lend(c) != 0) {	/* the outcome cannot be told */
		conn_close_fd(c);
		return;
	}
	if (c->job.task == GD_TASK_SAVE) {
		if (r->status != GD_STATUS_OK && r->detail[0] != '\0')
			log_err(c->l->log, "save failed for client id %llu: %s",
			    (unsigned long long)c->env.client_id, r->detail);
		env_spare_put(&c->lp->spares, &c->env, gd_now_ms());	/* saved: done with it */
		if (smtp_save_done(&c->smtp, r) == SMTP_EV_CLOSE)
			c->closing = 1;
	} else {
		smtp_validate_done(&c->smtp, r);
		/* shutdown began while we waited: idle now, so 421 at once */
		if (c->smtp.shutting_down &&
		    smtp_shutdown(&c->smtp) == SMTP_EV_CLOSE)
			c->closing = 1;
	}
	if (!c->closing && !c->eof)
		conn_touch(c);
}

/* job_done - a worker finished: the outcome, then go on reading. */
static void
job_done(struct srv_loop *lp, struct srv_conn *c)
{
	job_finish(c);
	conn_run(lp, c);
}

/* check_timers - client deadlines (SMTP-59) and job deadlines (BE-06). */
static void
check_timers(struct srv_loop *lp, int64_t now)
{
	size_t i;

	for (i = 0; i < lp->nc; i++) {
		struct srv_conn *c = lp->c[i];

		if (c->job_busy) {
			if (!c->job.timed_out && now >= c->job.deadline_ms) {
				c->job.timed_out = 1;
				if (conn_lend(c) == 0)
					smtp_job_timeout(&c->smtp);
				else
					conn_close_fd(c);
			}
			continue;
		}
		if (c->deadline != 0 && now >= c->deadline && c->fd >= 0) {
			if (c->tls_hs) {	/* no reply possible mid-handshake */
				log_info(c->l->log, "[%s] TLS handshake timeout",
				    c->env.remote_ip);
				conn_close_fd(c);
				continue;
			}
			if (c->closing || conn_lend(c) != 0) {
				conn_close_fd(c);	/* a peer that does not read */
				continue;
			}
			(void)smtp_timeout(&c->smtp);
			c->closing = 1;
			c->inlen = 0;
			c->deadline = now + 5000;	/* bound the last write */
		}
	}
}

/* begin_stop - this loop's part of SMTP-61 (the control thread closed
 * the listeners). */
static void
begin_stop(struct srv_loop *lp)
{
	size_t i;

	lp->stopping = 1;
	for (i = 0; i < lp->nc; i++)
		conn_stop(lp->c[i]);
}

/* loop_ctl - the control thread poked us: wait at the barrier while it
 * changes shared state, then give sessions of closed listeners the
 * SMTP-61 treatment and start stopping if asked.  Returns 1 when there
 * was a barrier (the listener array may have changed). */
static int
loop_ctl(struct srv_loop *lp)
{
	struct srv *s = lp->s;
	char buf[16];
	int paused = 0, stop;
	size_t i;

	while (read(lp->ctl[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&s->mu);
	if (s->pause_req) {
		unsigned long seq = s->pause_seq;
		s->npaused++;
		pthread_cond_broadcast(&s->cv);
		while (s->pause_req && s->pause_seq == seq)
			pthread_cond_wait(&s->cv, &s->mu);
		paused = 1;
	}
	stop = s->stop_req;
	lp->accepting = lp->idx == 0 || s->spill;
	pthread_mutex_unlock(&s->mu);
	if (stop && !lp->stopping)
		begin_stop(lp);
	for (i = 0; paused && i < lp->nc; i++)
		if (lp->c[i]->l->dead && !lp->c[i]->stopped)
			conn_stop(lp->c[i]);
	return paused;
}

/* loop_sweep - go on with input left behind a full reply buffer, flush,
 * pull plaintext the TLS engine holds, finish half-closed sessions, free
 * finished connections.  Lowers *next when there is more to do now. */
static void
loop_sweep(struct srv_loop *lp, int64_t now, int64_t *next)
{
	size_t i;

	for (i = 0; i < lp->nc; ) {
		struct srv_conn *c = lp->c[i];
		if (c->fd >= 0 && c->stalled &&
		    SMTP_OUT_MAX - c->smtp.outlen >= SMTP_OUT_ROOM)
			conn_run(lp, c);
		if (c->fd >= 0 && conn_out_left(c) && !c->tls_hs &&
		    conn_flush(c) != 0)
			conn_close_fd(c);
		/* plaintext the engine holds: poll cannot see it */
		if (c->tls != NULL && !c->tls_hs && conn_can_read(c) &&
		    tls_app_pending(c->tls)) {
			conn_read(lp, c);
			if (c->fd >= 0 && conn_out_left(c) &&
			    conn_flush(c) != 0)
				conn_close_fd(c);
			if (c->tls != NULL && conn_can_read(c) &&
			    tls_app_pending(c->tls))
				*next = now;
		}
		if (c->fd >= 0 && c->stalled &&
		    SMTP_OUT_MAX - c->smtp.outlen >= SMTP_OUT_ROOM)
			*next = now;	/* more to do: do not sleep */
		if (c->fd >= 0 && c->eof && !c->job_busy && !c->closing) {
			conn_run(lp, c);
			/* what is left is an unfinished line or unfinished
			 * data, unless the replies must be flushed first */
			if (!c->job_busy && !c->closing && c->fd >= 0 &&
			    SMTP_OUT_MAX - c->smtp.outlen >= SMTP_OUT_ROOM &&
			    conn_lend(c) == 0) {
				(void)smtp_eof(&c->smtp, "connection closed");
				c->closing = 1;
				(void)conn_flush(c);
			}
		}
		if (!c->job_busy && (c->fd < 0 || (c->closing &&
		    !c->linger && !conn_out_left(c) && conn_linger(c, now)))) {
			conn_free(lp, i);
			continue;
		}
		conn_give_back(c);
		i++;
	}
}

/* loop_events - what poll reported on the connections; the first n of
 * lp->c were polled (accepts only append). */
static void
loop_events(struct srv_loop *lp, const struct pollfd *pfd, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct srv_conn *c = lp->c[i];
		short re = pfd[i].revents;

		if (re == 0 || c->fd < 0)
			continue;
		if (re & (POLLERR | POLLNVAL)) {
			conn_close_fd(c);
			continue;
		}
		if (c->linger) {
			linger_read(c);
			continue;
		}
		if (c->tls_hs) {
			conn_hs(lp, c);
			continue;
		}
		if ((re & POLLOUT) && conn_flush(c) != 0) {
			conn_close_fd(c);
			continue;
		}
		if (c->stalled && SMTP_OUT_MAX - c->smtp.outlen >=
		    SMTP_OUT_ROOM)
			conn_run(lp, c);
		if (re & (POLLIN | POLLHUP))
			conn_read(lp, c);
		if (conn_out_left(c) && conn_flush(c) != 0)
			conn_close_fd(c);
	}
}

/* thread_cpu_us - the calling thread's CPU time (user and system), or -1
 * where there is no thread CPU clock. */
static int64_t
thread_cpu_us(void)
{
#ifdef CLOCK_THREAD_CPUTIME_ID
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
#endif
	return -1;
}

int
srv_spill(int spill, int busy0_pm, int total_pm, int64_t since_us)
{
	if (!spill)
		return busy0_pm >= SRV_SPILL_ON;
	return total_pm > SRV_SPILL_OFF || since_us < SRV_SPILL_HOLD_US;
}

/* loop_window - a loop's busy share of the window that ended at t (us).
 * Loop 0 decides from it whether the others accept too (srv_spill) and
 * wakes them when that changes.  A loop that has not reported for two
 * windows slept through them: it counts as idle. */
static void
loop_window(struct srv_loop *lp, int pm, int64_t t)
{
	struct srv *s = lp->s;
	int i, total = 0, was, on;

	if (s->nloops < 2)
		return;
	pthread_mutex_lock(&s->mu);
	lp->busy_pm = pm;
	lp->busy_at = t;
	if (lp->idx != 0) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	for (i = 0; i < s->nloops; i++)
		if (t - s->loops[i].busy_at <= 2 * SRV_WINDOW_US)
			total += s->loops[i].busy_pm;
	was = s->spill;
	on = s->spill = srv_spill(was, pm, total, t - s->spill_at);
	if (on != was)
		s->spill_at = t;
	pthread_mutex_unlock(&s->mu);
	if (on == was)
		return;
	log_debug(s->log, "I/O loop 0 busy %d.%d%%, all loops %d.%d%%: %s",
	    pm / 10, pm % 10, total / 10, total % 10, on ?
	    "every loop takes new connections" :
	    "loop 0 takes the new connections");
	for (i = 1; i < s->nloops; i++)
		srv_ctl_poke(&s->loops[i]);
}

void *
srv_loop_main(void *arg)
{
	struct srv_loop *lp = arg;
	struct srv *s = lp->s;
	size_t i;
	int64_t woke = gd_now_us(), win = woke, busy = 0;
	int64_t cpu0 = thread_cpu_us();

	for (;;) {
		size_t n = 0, nfixed, nls;
		int64_t now = gd_now_ms(), next = now + 1000;
		int timeout, rc, polls_ls;

		loop_sweep(lp, now, &next);
		env_spare_trim(&lp->spares, now);
		if (lp->stopping && lp->nc == 0)
			break;

		nls = lp->stopping ? 0 : s->nls;
		if (lp->cappfd < lp->nc + nls + 2) {
			size_t cap = lp->nc + nls + 64;
			struct pollfd *p = gd_reallocarray(lp->pfd, cap,
			    sizeof(*p));
			if (p == NULL) {
				struct timespec ts = { 0, 10000000 };
				nanosleep(&ts, NULL);
				continue;
			}
			lp->pfd = p;
			lp->cappfd = cap;
		}
		lp->pfd[n].fd = lp->ctl[0];
		lp->pfd[n++].events = POLLIN;
		lp->pfd[n].fd = be_doneq_fd(&lp->dq);
		lp->pfd[n++].events = POLLIN;
		polls_ls = lp->accepting && lp->paused_until <= now;
		if (lp->accepting && !polls_ls && lp->paused_until < next)
			next = lp->paused_until;
		for (i = 0; i < nls; i++) {
			lp->pfd[n].fd = polls_ls ? s->ls[i]->fd : -1;
			lp->pfd[n++].events = POLLIN;
		}
		nfixed = n;
		for (i = 0; i < lp->nc; i++) {
			struct srv_conn *c = lp->c[i];
			short ev = 0;
			if (c->fd >= 0 && c->tls != NULL)
				ev = tls_events(c->tls, c->tls_hs ||
				    conn_can_read(c));
			else {
				if (conn_can_read(c) || (c->linger && c->fd >= 0))
					ev |= POLLIN;
				if (c->fd >= 0 && c->smtp.outlen > 0)
					ev |= POLLOUT;
			}
			lp->pfd[n].fd = ev ? c->fd : -1;
			lp->pfd[n].events = ev;
			lp->pfd[n].revents = 0;
			n++;
			if (c->job_busy && !c->job.timed_out &&
			    c->job.deadline_ms < next)
				next = c->job.deadline_ms;
			if (!c->job_busy && c->deadline != 0 &&
			    c->deadline < next)
				next = c->deadline;
		}
		timeout = next <= now ? 0 : (int)(next - now);
		busy += gd_now_us() - woke;
		rc = poll(lp->pfd, (nfds_t)n, timeout);
		woke = gd_now_us();
		if (woke - win >= SRV_WINDOW_US) {
			/* busy: the time outside poll() (it counts waiting
			 * for a CPU) or on a CPU (it counts poll()'s own work
			 * on many descriptors), whichever is more */
			int64_t cpu = thread_cpu_us();
			if (cpu >= 0 && cpu0 >= 0 && cpu - cpu0 > busy)
				busy = cpu - cpu0;
			if (busy > woke - win)
				busy = woke - win;
			loop_window(lp, (int)(busy * 1000 / (woke - win)),
			    woke);
			busy = 0;
			win = woke;
			cpu0 = cpu;
		}
		if (rc < 0 && errno != EINTR) {
			log_err(s->log, "poll: %s", strerror(errno));
			continue;
		}
		now = woke / 1000;
		if (rc > 0) {
			int paused = 0;
			if (lp->pfd[0].revents & POLLIN)
				paused = loop_ctl(lp);
			if (lp->pfd[1].revents & POLLIN) {
				struct be_job *j = be_doneq_take(&lp->dq);
				while (j != NULL) {
					struct be_job *nx = j->next;
					job_done(lp, j->owner);
					j = nx;
				}
			}
			/* after a barrier the listener array may differ from
			 * the one polled: poll again first */
			for (i = 0; !paused && !lp->stopping && i < nls; i++)
				if (s->ls[i]->fd >= 0 &&
				    (lp->pfd[2 + i].revents & POLLIN))
					accept_clients(lp, s->ls[i]);
			loop_events(lp, lp->pfd + nfixed, n - nfixed);
		}
		check_timers(lp, now);
	}
	pthread_mutex_lock(&s->mu);
	s->nfinished++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* srv_loop_clear - free what a stopped (or never started) loop holds: its
 * connections, buffers, control pipe and done queue (srv_free). */
void
srv_loop_clear(struct srv *s, struct srv_loop *lp)
{
	size_t i;

	for (i = 0; i < lp->nc; i++) {
		struct srv_conn *c = lp->c[i];
		conn_close_fd(c);
		tls_conn_free(c->tls);
		env_free(&c->env);
		srv_gen_drop(s, c->gen);
		free(c->in);
		free(c->smtp.out);
		free(c);
	}
	while (lp->npool > 0)
		free(lp->pool[--lp->npool]);
	env_spare_trim(&lp->spares, INT64_MAX);
	free(lp->c);
	free(lp->pfd);
	if (lp->ctl[0] >= 0) {
		(void)close(lp->ctl[0]);
		(void)close(lp->ctl[1]);
	}
	be_doneq_destroy(&lp->dq);
}
