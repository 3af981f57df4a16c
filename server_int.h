/*
 * server_int.h - what server.c (the I/O loops: connections, accepting,
 * buffers, deadlines) and server_ctl.c (the control thread: config
 * generations, listeners, the barrier, start, reload, shutdown) share.
 * Not part of the library's interface (server.h is).
 *
 * Invariants:
 * - A connection belongs to one loop (struct srv_loop) and only that
 *   loop's thread touches it.  Loop 0 polls the listeners, the other loops
 *   only while srv.spill is set (srv_spill); the accept counters are under
 *   amu.
 * - What the loops share (the listener array, each listener's config, the
 *   current generation, the backend pointer) changes only on the control
 *   thread while every loop waits at the barrier (srv_pause); between
 *   barriers the loops read it without locks.
 * - A generation (struct srv_gen) is one config and the TLS contexts
 *   built for it.  Listeners and connections hold references: a session
 *   keeps the config it was accepted under (host_name, max_size, ...)
 *   until it ends, while timeouts and allowed_hosts are read from the
 *   current config at each use (SPEC 8.4).
 * - A connection has at most one backend job at a time (the job struct is
 *   embedded in it); while the job runs the worker owns the envelope and
 *   the connection reads nothing (SMTP-60).  A connection is freed only
 *   when it has no job in flight.  Finished jobs come back through the
 *   loop's own done queue, whichever backend ran them.
 * - Input is a fixed buffer of SRV_IN_MAX bytes; it never grows.  Reading
 *   stops while smtp.c's reply buffer is nearly full (pipelining floods)
 *   or a job is in flight.  The input and reply buffers are lent from the
 *   loop's pool only while they hold something (conn_lend; the sweep
 *   gives them back), so an idle session costs no buffer at all.
 * - Deadlines use the monotonic clock (gd_now_ms).
 * - TLS (tls.c) sits between the socket and the buffers: once c->tls is
 *   set every byte in and out goes through the engine, and the poll events
 *   come from the engine's state (tls_events).  Plaintext the engine holds
 *   is invisible to poll, so the sweep pulls it.  After STARTTLS nothing
 *   is read until the 220 is flushed and the handshake is done, and what
 *   was already buffered is dropped (SMTP-52).  A handshake has the server
 *   timeout to finish; it never gets a reply, only a close.
 */
#ifndef GD_SERVER_INT_H
#define GD_SERVER_INT_H

#include <poll.h>
#include <pthread.h>
#include <stdint.h>

#include "backend.h"
#include "envelope.h"
#include "server.h"
#include "smtp.h"

#define SRV_IN_MAX	8192	/* per-connection input buffer (> SMTP_LINE_MAX) */
#define SRV_ACCEPT_BATCH 64	/* accepts per loop pass, for fairness */
#define SRV_BACKLOG	511
#define SRV_LOOPS_MAX	64	/* io_threads bound */
#define SRV_BUF		8192	/* pooled buffers: input and replies */
#define SRV_POOL_MAX	64	/* buffers a loop keeps for reuse */
#define SRV_WINDOW_US	100000	/* loops measure how busy they are per 100 ms */
#define SRV_SPILL_ON	900	/* srv_spill: loop 0 busy 90%: all accept */
#define SRV_SPILL_OFF	500	/* ... until all loops together are busy 50% */
#define SRV_SPILL_HOLD_US 1000000	/* ... and not before 1 s */

#if SRV_IN_MAX != SRV_BUF || SMTP_OUT_MAX != SRV_BUF
#error "the buffer pool lends one size for input and replies"
#endif

/* One config and the TLS contexts built for its servers. */
struct srv_gen {
	struct cfg_app		*app;	/* a reference (cfg_hold) */
	struct tls_ctx		**tls;	/* per app->servers index; NULL = none */
	long			refs;	/* under srv.amu */
};

struct srv_listener {
	int			fd;		/* -1 once closed */
	char			*iface;		/* identity across reloads */
	const struct cfg_server	*cfg;		/* in gen */
	struct srv_gen		*gen;		/* a reference */
	struct tls_ctx		*tls;		/* gen's; NULL unless TLS is on */
	struct logger		*log;		/* the server's log_file */
	int			own_log;	/* log is not the main log */
	int			dead;		/* removed or disabled by reload */
	int			busy;		/* last session logging; amu */
	uint64_t		next_id;	/* SMTP-02; under srv.amu */
	unsigned long		active;		/* under srv.amu */
};

struct srv_loop;

struct srv_conn {
	int			fd;		/* -1 once the socket is closed */
	struct srv_listener	*l;
	struct srv_gen		*gen;		/* a reference: smtp.cfg is in it */
	struct logger		*log;		/* the server's log */
	int64_t			deadline;	/* 0 = none */
	int			job_busy;	/* job submitted, not yet back */
	int			closing;	/* close once output is flushed */
	int			eof;		/* peer closed its side */
	int			proxy_wait;	/* PROXY header expected (SMTP-05) */
	int			stalled;	/* input left, reply buffer full */
	int			tls_pending;	/* STARTTLS: flush 220, then handshake */
	int			tls_hs;		/* handshake running (SMTP-52, SMTP-09) */
	int			stopped;	/* SMTP-61 treatment given */
	int			dropped;	/* input after the last line obeyed */
	int			linger;		/* final reply out, FIN sent: reading
						 * and discarding until the peer
						 * closes (bounded by deadline) */
	unsigned long		nactive;	/* server's sessions at accept */
	struct tls_conn		*tls;		/* NULL while plaintext */
	struct tls_ctx		*tlsctx;	/* the server's, in gen */
	struct be_job		job;
	struct gd_envelope	env;
	struct srv_loop		*lp;
	size_t			inlen;
	char			*in;		/* SRV_IN_MAX, lent; NULL when empty */
	struct smtp_session	smtp;
};

struct srv;

struct srv_loop {
	struct srv		*s;
	int			idx;
	pthread_t		thread;
	int			started;
	int			ctl[2];		/* control thread -> this loop */
	struct be_doneq		dq;
	struct srv_conn		**c;
	size_t			nc, capc;
	struct pollfd		*pfd;
	size_t			cappfd;
	uint64_t		msg_counter;	/* for queued ids */
	char			*pool[SRV_POOL_MAX];	/* free buffers */
	int			npool;
	struct env_spares	spares;		/* big message buffers */
	int64_t			paused_until;	/* EMFILE back-off */
	int			stopping;	/* loop-local copy of stop_req */
	int			accepting;	/* polls the listeners: loop 0
						 * always, the others while
						 * srv.spill (srv_spill) */
	int			busy_pm;	/* last window's busy time, 1/1000;
						 * under srv.mu */
	int64_t			busy_at;	/* when that window ended, us */
};

struct srv {
	struct srv_gen		*cur;		/* the current generation */
	struct backend		*be;
	struct logger		*log;
	const char		*version;	/* for the greeting */
	struct srv_listener	**ls;		/* live listeners */
	size_t			nls;
	struct srv_listener	**dead;		/* closed, sessions may remain */
	size_t			ndead;
	struct srv_loop		*loops;
	int			nloops;

	pthread_mutex_t		amu;		/* accept counters, gen refs */

	pthread_mutex_t		mu;		/* the fields below */
	pthread_cond_t		cv;
	int			stop_req;
	int			pause_req;
	int			npaused;
	int			nfinished;
	unsigned long		pause_seq;	/* bumped by each barrier */
	int			spill;		/* every loop accepts (srv_spill) */
	int64_t			spill_at;	/* when spill last changed, us */
};

/* All in server.c: server_ctl.c calls down into the loops' file, and
 * server.c never calls server_ctl.c (no circle between the two). */
struct srv_gen	*srv_gen_hold(struct srv *s, struct srv_gen *g);
/* srv_gen_drop - the last reference frees it (on whichever thread). */
void		 srv_gen_drop(struct srv *s, struct srv_gen *g);
void		 srv_ctl_poke(struct srv_loop *lp);	/* wake: flags */
void		*srv_loop_main(void *arg);	/* a loop's thread */
void		 srv_loop_clear(struct srv *s, struct srv_loop *lp);

#endif
