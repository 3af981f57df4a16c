/*
 * server_ctl.c - the control thread's side of server.h: config
 * generations, listeners, the barrier that pauses every I/O loop while
 * what they share changes, and start, hot reload, shutdown and free.
 * The loops themselves are in server.c; server_int.h has the invariants.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "server_int.h"
#include "tls.h"

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

/* errs_add - append one line to a "\n"-separated error list. */
static void
errs_add(char *err, size_t errlen, size_t *used, const char *msg)
{
	int n;

	if (*used >= errlen)
		return;
	n = snprintf(err + *used, errlen - *used, "%s%s", *used ? "\n" : "",
	    msg);
	if (n > 0)
		*used += (size_t)n < errlen - *used ? (size_t)n :
		    errlen - *used - 1;
}

/* gen_new - a generation for app (one reference, the caller's): TLS-01,
 * the key pairs of enabled TLS servers are read here.  NULL with the
 * errors added to err. */
static struct srv_gen *
gen_new(struct srv *s, struct cfg_app *app, char *err, size_t errlen,
    size_t *used)
{
	struct srv_gen *g = calloc(1, sizeof(*g));
	size_t i;
	int failed = 0;

	if (g == NULL || (g->tls = calloc(app->nservers ? app->nservers : 1,
	    sizeof(*g->tls))) == NULL) {
		free(g);
		errs_add(err, errlen, used, "out of memory");
		return NULL;
	}
	g->app = cfg_hold(app);
	g->refs = 1;
	for (i = 0; i < app->nservers; i++) {
		const struct cfg_server *cfg = &app->servers[i];
		char e1[512];

		const struct srv_listener *l;
		size_t k;

		if (!cfg->is_enabled ||
		    !(cfg->tls.start_tls_on || cfg->tls.tls_always_on))
			continue;
		/* a kept server with the same TLS keys keeps its context
		 * (and session cache); changed files: srv_tls_reload */
		for (k = 0, l = NULL; k < s->nls && l == NULL; k++)
			if (strcmp(s->ls[k]->iface,
			    cfg->listen_interface) == 0)
				l = s->ls[k];
		if (l != NULL && l->tls != NULL &&
		    cfg_tls_equal(&l->cfg->tls, &cfg->tls)) {
			g->tls[i] = tls_ctx_hold(l->tls);
			continue;
		}
		if ((g->tls[i] = tls_ctx_new(cfg, s->log, e1,
		    sizeof(e1))) == NULL) {
			errs_add(err, errlen, used, e1);
			failed = 1;
		}
	}
	if (failed) {
		srv_gen_drop(s, g);	/* the only reference: frees it */
		return NULL;
	}
	return g;
}

/* ---- listeners ---- */

static void
listener_free(struct srv *s, struct srv_listener *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0)
		(void)close(l->fd);
	if (l->own_log)
		log_close(l->log);
	srv_gen_drop(s, l->gen);
	free(l->iface);
	free(l);
}

/* server_log - the logger for a server whose log_file is dest: the main
 * log when it writes there, else a new one (*own = 1).  NULL with err. */
static struct logger *
server_log(struct srv *s, const char *dest, int *own, char *err,
    size_t errlen)
{
	*own = 0;
	if (strcmp(dest, log_dest(s->log)) == 0)
		return s->log;
	*own = 1;
	return log_open(dest, log_get_level(s->log), err, errlen);
}

/* listener_new - bind cfg's interface and open its log.  NULL with the
 * errors added to err (CFG-11: cannot listen, unwritable log file). */
static struct srv_listener *
listener_new(struct srv *s, const struct cfg_server *cfg, char *err,
    size_t errlen, size_t *used)
{
	struct srv_listener *l = calloc(1, sizeof(*l));
	char e1[512];

	if (l == NULL || (l->iface = gd_strdup(cfg->listen_interface)) ==
	    NULL) {
		free(l);
		errs_add(err, errlen, used, "out of memory");
		return NULL;
	}
	l->fd = listen_on(cfg->listen_interface, e1, sizeof(e1));
	if (l->fd < 0)
		errs_add(err, errlen, used, e1);
	if ((l->log = server_log(s, cfg->log_file, &l->own_log, e1,
	    sizeof(e1))) == NULL) {
		l->own_log = 0;
		errs_add(err, errlen, used, e1);
	}
	if (l->fd < 0 || l->log == NULL) {
		listener_free(s, l);
		return NULL;
	}
	l->cfg = cfg;
	return l;
}

/* listener_attach - point l at server i of generation g. */
static void
listener_attach(struct srv *s, struct srv_listener *l, struct srv_gen *g,
    size_t i)
{
	struct srv_gen *old = l->gen;

	l->gen = srv_gen_hold(s, g);
	l->cfg = &g->app->servers[i];
	l->tls = g->tls[i];
	srv_gen_drop(s, old);
}

/* ---- the barrier ---- */

/* deadline_in - now + ms on the clock pthread_cond_timedwait uses. */
static void
deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* srv_pause - stop every loop at a safe point (loop_ctl) so the control
 * thread may change what they share; -1 when a loop did not come within
 * ms (then nothing is paused). */
static int
srv_pause(struct srv *s, long ms)
{
	struct timespec until;
	int i, rc = 0, want = 0;

	deadline_in(&until, ms);
	pthread_mutex_lock(&s->mu);
	s->pause_req = 1;
	s->npaused = 0;
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < s->nloops; i++)
		if (s->loops[i].started) {
			srv_ctl_poke(&s->loops[i]);
			want++;
		}
	pthread_mutex_lock(&s->mu);
	while (s->npaused < want && rc == 0)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0)
			rc = -1;
	if (rc != 0) {
		s->pause_req = 0;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void
srv_resume(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->pause_req = 0;
	s->pause_seq++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- lifecycle ---- */

struct srv *
srv_new(struct cfg_app *app, struct logger *log, const char *version,
    char *err, size_t errlen)
{
	struct srv *s;
	size_t i, used = 0;
	int failed = 0;

	err[0] = '\0';
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ls = calloc(app->nservers ? app->nservers : 1,
	    sizeof(*s->ls))) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->log = log;
	s->version = version;
	pthread_mutex_init(&s->amu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((s->cur = gen_new(s, app, err, errlen, &used)) == NULL)
		failed = 1;
	for (i = 0; i < app->nservers; i++) {
		const struct cfg_server *cfg = &app->servers[i];
		struct srv_listener *l;

		if (!cfg->is_enabled)
			continue;
		if ((l = listener_new(s, cfg, err, errlen, &used)) == NULL) {
			failed = 1;
			continue;
		}
		s->ls[s->nls++] = l;
		if (s->cur != NULL)
			listener_attach(s, l, s->cur, i);
	}
	if (!failed && s->nls == 0) {
		snprintf(err, errlen, "there are no servers that can start, "
		    "please check your config");
		failed = 1;
	}
	if (failed) {
		srv_free(s);
		return NULL;
	}
	return s;
}

/* online_cpus - io_threads 0 (OPS [DEV]): one loop per online CPU. */
static int
online_cpus(void)
{
#ifdef _SC_NPROCESSORS_ONLN
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n > 0)
		return n > SRV_LOOPS_MAX ? SRV_LOOPS_MAX : (int)n;
#endif
	return 1;
}

int
srv_nloops(const struct srv *s)
{
	int n = s->cur->app->io_threads;

	if (n <= 0)
		n = online_cpus();
	return n > SRV_LOOPS_MAX ? SRV_LOOPS_MAX : n;
}

int
srv_start(struct srv *s, struct backend *b, char *err, size_t errlen)
{
	int i, n = srv_nloops(s);

	if ((s->loops = calloc((size_t)n, sizeof(*s->loops))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->be = b;
	s->nloops = n;
	for (i = 0; i < n; i++) {
		struct srv_loop *lp = &s->loops[i];
		lp->s = s;
		lp->idx = i;
		lp->accepting = i == 0;
		lp->ctl[0] = lp->ctl[1] = -1;
		lp->dq.wake[0] = lp->dq.wake[1] = -1;
	}
	/* every pipe before any thread: loop 0 pokes the others (spill) */
	for (i = 0; i < n; i++) {
		struct srv_loop *lp = &s->loops[i];

		if (pipe(lp->ctl) != 0) {
			lp->ctl[0] = lp->ctl[1] = -1;
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			goto fail;
		}
		(void)set_nonblock(lp->ctl[0]);
		(void)set_nonblock(lp->ctl[1]);
		if (be_doneq_init(&lp->dq, err, errlen) != 0)
			goto fail;
	}
	for (i = 0; i < n; i++) {
		struct srv_loop *lp = &s->loops[i];
		int rc;

		if ((rc = pthread_create(&lp->thread, NULL, srv_loop_main,
		    lp)) != 0) {
			snprintf(err, errlen, "cannot start I/O thread: %s",
			    strerror(rc));
			goto fail;
		}
		lp->started = 1;
	}
	log_debug(s->log, "%d I/O thread%s", n, n == 1 ? "" : "s");
	/* after the backend and the loops are up, as GG logs it: a client
	 * that waits for this line finds the server serving */
	for (i = 0; i < (int)s->nls; i++)
		log_info(s->ls[i]->log, "Listening on TCP %s", s->ls[i]->iface);
	return 0;
fail:
	/* the loops started so far stop; srv_free frees the rest */
	(void)srv_shutdown(s, 5000);
	return -1;
}

/* close_listener - stop accepting on l (SMTP-61; reload removal). */
static void
close_listener(struct srv_listener *l)
{
	if (l->fd < 0)
		return;
	(void)close(l->fd);
	l->fd = -1;
	log_info(l->log, "Server [%s] has stopped accepting new clients",
	    l->iface);
}

int
srv_shutdown(struct srv *s, long timeout_ms)
{
	struct timespec until;
	size_t k;
	int i, rc = 0, started = 0;

	for (i = 0; i < s->nloops; i++)
		started += s->loops[i].started;
	if (started == 0)
		return 0;
	/* the listeners close while every loop waits at the barrier, so no
	 * loop is inside accept() on a descriptor being closed */
	if (srv_pause(s, timeout_ms) != 0)
		return -1;
	for (k = 0; k < s->nls; k++)
		close_listener(s->ls[k]);
	pthread_mutex_lock(&s->mu);
	s->stop_req = 1;
	pthread_mutex_unlock(&s->mu);
	srv_resume(s);
	deadline_in(&until, timeout_ms);
	pthread_mutex_lock(&s->mu);
	while (s->nfinished < started && rc == 0)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0)
			rc = -1;
	pthread_mutex_unlock(&s->mu);
	if (rc != 0)
		return -1;	/* loops still run: do not join or free */
	for (i = 0; i < s->nloops; i++)
		if (s->loops[i].started) {
			pthread_join(s->loops[i].thread, NULL);
			s->loops[i].started = 0;
		}
	s->nfinished = 0;
	for (k = 0; k < s->nls; k++)
		log_info(s->ls[k]->log, "shutdown completed for [%s]",
		    s->ls[k]->iface);
	return 0;
}

/* free_dead - listeners closed by a reload whose sessions are all gone. */
static void
free_dead(struct srv *s)
{
	size_t i;

	for (i = 0; i < s->ndead; ) {
		struct srv_listener *l = s->dead[i];
		unsigned long active;

		pthread_mutex_lock(&s->amu);
		active = l->active + (unsigned long)l->busy;
		pthread_mutex_unlock(&s->amu);
		if (active == 0) {
			listener_free(s, l);
			s->dead[i] = s->dead[--s->ndead];
			continue;
		}
		i++;
	}
}

/* find_listener - the live listener for iface, or NULL. */
static struct srv_listener *
find_listener(struct srv *s, const char *iface)
{
	size_t i;

	for (i = 0; i < s->nls; i++)
		if (strcmp(s->ls[i]->iface, iface) == 0)
			return s->ls[i];
	return NULL;
}

/* What a reload does to one enabled server of the new config. */
struct srv_plan {
	struct srv_listener	*l;		/* kept or new */
	int			is_new;
	struct logger		*newlog;	/* kept: log to switch to */
	int			newlog_own;
	int			reopen;		/* kept: same own log file */
};

int
srv_reload(struct srv *s, struct cfg_app *app, struct backend *nb,
    int level, char *err, size_t errlen)
{
	struct srv_plan *plan;
	struct srv_listener **nls = NULL, **dead = NULL;
	struct srv_gen *gen, *oldgen;
	size_t i, k, used = 0, nnls = 0;
	int failed = 0;
	char e1[512];

	err[0] = '\0';
	free_dead(s);
	if ((plan = calloc(app->nservers ? app->nservers : 1,
	    sizeof(*plan))) == NULL ||
	    (nls = calloc(app->nservers + s->nls + 1, sizeof(*nls))) == NULL ||
	    (dead = gd_reallocarray(s->dead, s->ndead + s->nls + 1,
	    sizeof(*dead))) == NULL) {
		free(plan);
		free(nls);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->dead = dead;
	/* 1. everything that can fail, before anything changes */
	gen = gen_new(s, app, err, errlen, &used);
	failed = gen == NULL;
	for (i = 0; i < app->nservers; i++) {
		const struct cfg_server *cfg = &app->servers[i];
		struct srv_plan *p = &plan[i];

		if (!cfg->is_enabled)
			continue;
		if ((p->l = find_listener(s, cfg->listen_interface)) == NULL) {
			p->is_new = 1;
			if ((p->l = listener_new(s, cfg, err, errlen,
			    &used)) == NULL)
				failed = 1;
			continue;
		}
		if (strcmp(cfg->log_file, log_dest(p->l->log)) == 0) {
			p->reopen = p->l->own_log;
			continue;
		}
		if ((p->newlog = server_log(s, cfg->log_file, &p->newlog_own,
		    e1, sizeof(e1))) == NULL) {
			errs_add(err, errlen, &used, e1);
			failed = 1;
		}
	}
	if (!failed && srv_pause(s, 10000) != 0) {
		errs_add(err, errlen, &used, "the I/O threads did not pause "
		    "within 10 s");
		failed = 1;
	}
	if (failed) {
		for (i = 0; i < app->nservers; i++) {
			if (plan[i].is_new)
				listener_free(s, plan[i].l);
			if (plan[i].newlog_own)
				log_close(plan[i].newlog);
		}
		srv_gen_drop(s, gen);	/* ours was the last reference */
		free(plan);
		free(nls);
		return -1;
	}

	/* 2. with every loop paused: switch */
	oldgen = s->cur;
	s->cur = gen;
	for (i = 0; i < app->nservers; i++) {
		struct srv_plan *p = &plan[i];
		struct logger *ol;
		int oown;

		if (p->l == NULL)
			continue;
		listener_attach(s, p->l, gen, i);
		nls[nnls++] = p->l;
		if (p->newlog != NULL) {
			ol = p->l->log;
			oown = p->l->own_log;
			p->l->log = p->newlog;
			p->l->own_log = p->newlog_own;
			p->newlog = oown ? ol : NULL;	/* closed below */
			p->newlog_own = oown;
		}
	}
	for (k = 0; k < s->nls; k++) {
		struct srv_listener *l = s->ls[k];
		for (i = 0; i < nnls && nls[i] != l; i++)
			;
		if (i < nnls)
			continue;
		close_listener(l);
		l->dead = 1;
		s->dead[s->ndead++] = l;
		if (l->active == 0)	/* no session: done now (loops wait) */
			log_info(l->log, "shutdown completed for [%s]",
			    l->iface);
	}
	free(s->ls);
	s->ls = nls;
	s->nls = nnls;
	if (nb != NULL)
		s->be = nb;
	for (k = 0; k < s->nls; k++)
		if (s->ls[k]->own_log)
			log_set_level(s->ls[k]->log, (enum log_level)level);
	srv_resume(s);

	/* 3. after: old logs, old generation, what changed */
	for (i = 0; i < app->nservers; i++) {
		struct srv_plan *p = &plan[i];

		if (gen->tls[i] != NULL)
			tls_ctx_set_cfg(gen->tls[i], &app->servers[i]);
		if (p->newlog_own)
			log_close(p->newlog);
		if (p->reopen && log_reopen(p->l->log, e1, sizeof(e1)) != 0)
			log_err(s->log, "%s", e1);
		if (p->is_new)
			log_info(p->l->log, "Listening on TCP %s", p->l->iface);
	}
	srv_gen_drop(s, oldgen);
	free_dead(s);
	free(plan);
	return 0;
}

int
srv_reopen_logs(struct srv *s)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < s->nls; i++) {
		char err[512];
		if (s->ls[i]->own_log &&
		    log_reopen(s->ls[i]->log, err, sizeof(err)) != 0) {
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
		struct srv_listener *l = s->ls[i];
		char err[512];
		int r;

		if (l->tls == NULL)
			continue;
		r = tls_ctx_reload_if_changed(l->tls, err, sizeof(err));
		if (r < 0) {
			log_err(l->log, "%s (keeping the old certificate)", err);
			rc = -1;
		} else if (r > 0)
			log_info(l->log, "[%s] TLS certificate reloaded",
			    l->iface);
	}
	return rc;
}

void
srv_free(struct srv *s)
{
	size_t i;
	int k;

	if (s == NULL)
		return;
	for (k = 0; k < s->nloops; k++)
		srv_loop_clear(s, &s->loops[k]);
	free(s->loops);
	for (i = 0; i < s->nls; i++)
		listener_free(s, s->ls[i]);
	for (i = 0; i < s->ndead; i++)
		listener_free(s, s->dead[i]);
	srv_gen_drop(s, s->cur);
	pthread_mutex_destroy(&s->amu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->ls);
	free(s->dead);
	free(s);
}
