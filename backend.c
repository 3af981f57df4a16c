/*
 * backend.c - the gateway (SPEC 5): processor registry, chain instances,
 * the job queue and the worker threads (see backend.h).
 *
 * Invariants: a worker owns its chains and is the only thread that calls
 * their process hooks; init and shutdown hooks run on the thread that calls
 * be_new / be_shutdown.  Jobs are embedded in connections, so the queue
 * never allocates and is bounded by the number of connections.  The only
 * shared state is the two job lists below, each under its own mutex.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "envelope.h"
#include "json.h"
#include "log.h"
#include "processors/builtins.h"

/* ---- processor helpers (guerrilla.h) ---- */

time_t
gd_ctx_time(const struct gd_ctx *ctx)
{
	return (ctx != NULL && ctx->fixed_time != 0) ? ctx->fixed_time :
	    time(NULL);
}

long long
gd_ctx_time_ns(const struct gd_ctx *ctx)
{
	struct timespec now;
	long long ns;

	if (ctx != NULL && ctx->fixed_time != 0)
		ns = (long long)ctx->fixed_time * 1000000000LL;
	else {
		clock_gettime(CLOCK_REALTIME, &now);
		ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
	}
	return ns < 0 ? 0 : ns;	/* before 1970: not from a working clock */
}

const char *
gd_ctx_hostname(const struct gd_ctx *ctx)
{
	return ctx->hostname;
}

void *
gd_ctx_share(struct gd_ctx *ctx, const char *key, void *(*make)(void),
    void (*destroy)(void *obj))
{
	struct be_shared *s;

	for (s = ctx->shared; s != NULL; s = s->next) {
		if (strcmp(s->key, key) == 0) {
			s->holders++;
			return s->obj;
		}
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->key = gd_strdup(key)) == NULL || (s->obj = make()) == NULL) {
		free(s->key);
		free(s);
		return NULL;
	}
	s->destroy = destroy;
	s->holders = 1;
	s->next = ctx->shared;
	ctx->shared = s;
	return s->obj;
}

void
gd_ctx_unshare(struct gd_ctx *ctx, const char *key)
{
	struct be_shared **pp, *s;

	for (pp = &ctx->shared; (s = *pp) != NULL; pp = &s->next) {
		if (strcmp(s->key, key) != 0)
			continue;
		if (--s->holders > 0)
			return;
		*pp = s->next;
		if (s->destroy != NULL)
			s->destroy(s->obj);
		free(s->key);
		free(s);
		return;
	}
}

void
gd_log(struct gd_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	if (ctx == NULL || level < GD_LOG_DEBUG || level > GD_LOG_ERROR)
		return;
	va_start(ap, fmt);
	log_vmsg(ctx->log, (enum log_level)level, fmt, ap);
	va_end(ap);
}

void
gd_result_set(struct gd_result *res, enum gd_status status, const char *fmt,
    ...)
{
	va_list ap;

	res->status = status;
	res->text[0] = '\0';
	if (fmt == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
}

void
gd_result_detail(struct gd_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

/* cfg_lookup - PROC-04 common part: 1 absent-and-optional, -1 error,
 * 0 found with the expected type. */
static int
cfg_lookup(const struct json_value *bcfg, const char *key, int required,
    enum json_type want, const char *tname, const struct json_value **out,
    char *err, size_t errlen)
{
	const struct json_value *v = json_get(bcfg, key);
	int ok;

	if (v == NULL && !required)
		return 1;
	if (want == JSON_TRUE)
		ok = v != NULL && (v->type == JSON_TRUE || v->type == JSON_FALSE);
	else
		ok = v != NULL && v->type == want;
	if (!ok) {
		if (want == JSON_NUMBER)
			snprintf(err, errlen, "failed to load backend config "
			    "(property missing/invalid: '%s' of expected type: "
			    "int)", key);
		else
			snprintf(err, errlen, "failed to load backend config "
			    "(missing/invalid: '%s' of type: %s)", key, tname);
		return -1;
	}
	*out = v;
	return 0;
}

int
gd_config_int(const struct json_value *bcfg, const char *key, int required,
    long long *out, char *err, size_t errlen)
{
	const struct json_value *v;
	int r = cfg_lookup(bcfg, key, required, JSON_NUMBER, "int", &v, err,
	    errlen);

	if (r != 0)
		return r;
	if (v->u.num.is_int)
		*out = v->u.num.i;
	else if (v->u.num.d >= -9.2e18 && v->u.num.d <= 9.2e18)
		*out = (long long)v->u.num.d;	/* fraction truncated */
	else {
		snprintf(err, errlen, "failed to load backend config (property "
		    "missing/invalid: '%s' of expected type: int)", key);
		return -1;
	}
	return 0;
}

int
gd_config_str(const struct json_value *bcfg, const char *key, int required,
    const char **out, char *err, size_t errlen)
{
	const struct json_value *v;
	int r = cfg_lookup(bcfg, key, required, JSON_STRING, "string", &v, err,
	    errlen);

	if (r == 0)
		*out = v->u.str.s;
	return r;
}

int
gd_config_bool(const struct json_value *bcfg, const char *key, int required,
    int *out, char *err, size_t errlen)
{
	const struct json_value *v;
	int r = cfg_lookup(bcfg, key, required, JSON_TRUE, "bool", &v, err,
	    errlen);

	if (r == 0)
		*out = v->type == JSON_TRUE;
	return r;
}

/* ---- registry ---- */

int
be_registry_init(struct be_registry *r)
{
	size_t i;

	r->p = NULL;
	r->n = 0;
	for (i = 0; p_builtins[i] != NULL; i++)
		if (be_registry_add(r, p_builtins[i]) != 0)
			return -1;
	return 0;
}

/* be_registry_add - re-registering a name replaces it (API-08). */
int
be_registry_add(struct be_registry *r, const struct gd_processor *p)
{
	struct gd_processor *np;
	size_t i;

	if (p->name == NULL || p->process == NULL)
		return -1;
	for (i = 0; i < r->n; i++) {
		if (gd_strcasecmp(r->p[i].name, p->name) == 0) {
			r->p[i] = *p;
			return 0;
		}
	}
	if ((np = gd_reallocarray(r->p, r->n + 1, sizeof(*np))) == NULL)
		return -1;
	r->p = np;
	r->p[r->n++] = *p;
	return 0;
}

const struct gd_processor *
be_registry_find(const struct be_registry *r, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strlen(r->p[i].name) == len &&
		    gd_strncasecmp(r->p[i].name, name, len) == 0)
			return &r->p[i];
	return NULL;
}

void
be_registry_free(struct be_registry *r)
{
	free(r->p);
	r->p = NULL;
	r->n = 0;
}

/* ---- chains ---- */

struct be_step {
	struct gd_processor	proc;	/* a copy: the registry may change */
	void			*inst;
	int			init_ok;
	int			shut_ok;
};

struct be_chain {
	struct be_step	*steps;
	size_t		n;
};

/* The continuation handed to a processor: the chain and where we are. */
struct gd_next {
	struct be_chain	*chain;
	size_t		at;
};

void
gd_next(struct gd_next *next, struct gd_envelope *e, enum gd_task task,
    struct gd_result *res)
{
	struct gd_next rest;
	struct be_step *s;

	if (next->at >= next->chain->n) {
		/* the chain's end: OK unless a processor decided before */
		if (res->status == GD_STATUS_NONE)
			res->status = GD_STATUS_OK;
		return;
	}
	s = &next->chain->steps[next->at];
	rest.chain = next->chain;
	rest.at = next->at + 1;
	s->proc.process(s->inst, e, task, &rest, res);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct be_chain *
be_chain_new(const struct be_registry *r, const char *spec,
    struct gd_ctx *ctx, char *err, size_t errlen)
{
	struct be_chain *c;
	const char *p = spec, *end;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	while (*p != '\0') {
		const char *b, *e;
		const struct gd_processor *proc;
		struct be_step *ns;

		end = strchr(p, '|');
		if (end == NULL)
			end = p + strlen(p);
		for (b = p; b < end && is_space(*b); b++)
			;
		for (e = end; e > b && is_space(e[-1]); e--)
			;
		if (e == b && *end == '\0' && c->n == 0)
			break;		/* "" or blanks: no processors */
		if ((proc = be_registry_find(r, b, (size_t)(e - b))) == NULL) {
			snprintf(err, errlen, "processor [%.*s] not found",
			    (int)(e - b > 64 ? 64 : e - b), b);
			be_chain_free(c);
			return NULL;
		}
		ns = gd_reallocarray(c->steps, c->n + 1, sizeof(*ns));
		if (ns == NULL)
			goto nomem;
		c->steps = ns;
		memset(&ns[c->n], 0, sizeof(ns[c->n]));
		ns[c->n].proc = *proc;
		if (proc->create != NULL &&
		    (ns[c->n].inst = proc->create(ctx, proc->user)) == NULL) {
			snprintf(err, errlen, "processor [%s] could not be "
			    "created", proc->name);
			be_chain_free(c);
			return NULL;
		}
		c->n++;
		p = *end == '|' ? end + 1 : end;
	}
	return c;
nomem:
	snprintf(err, errlen, "out of memory");
	be_chain_free(c);
	return NULL;
}

size_t
be_chain_len(const struct be_chain *c)
{
	return c->n;
}

/* be_chain_nonblocking - asks each initialised instance (see
 * gd_processor.nonblocking): a chain may run inline only when all agree. */
int
be_chain_nonblocking(const struct be_chain *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		const struct be_step *s = &c->steps[i];
		if (!s->init_ok || s->proc.nonblocking == NULL ||
		    !s->proc.nonblocking(s->inst))
			return 0;
	}
	return 1;
}

int
be_chain_init(struct be_chain *c, const struct json_value *bcfg, char *err,
    size_t errlen)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct be_step *s = &c->steps[i];
		if (s->init_ok)
			continue;
		if (s->proc.init != NULL &&
		    s->proc.init(s->inst, bcfg, err, errlen) != 0)
			return -1;
		s->init_ok = 1;
	}
	return 0;
}

void
be_chain_run(struct be_chain *c, struct gd_envelope *e, enum gd_task task,
    struct gd_result *res)
{
	struct gd_next start;

	memset(res, 0, sizeof(*res));
	start.chain = c;
	start.at = 0;
	gd_next(&start, e, task, res);
}

/* be_chain_shutdown - errors of several hooks are joined with "; ". */
int
be_chain_shutdown(struct be_chain *c, char *err, size_t errlen)
{
	size_t i, used = 0;
	int rc = 0;

	if (errlen > 0)
		err[0] = '\0';
	for (i = 0; i < c->n; i++) {
		struct be_step *s = &c->steps[i];
		char e1[256];
		if (s->shut_ok || !s->init_ok)
			continue;
		e1[0] = '\0';
		if (s->proc.shutdown != NULL &&
		    s->proc.shutdown(s->inst, e1, sizeof(e1)) != 0) {
			rc = -1;
			if (used < errlen) {
				int n = snprintf(err + used, errlen - used,
				    "%s%s", used ? "; " : "", e1);
				used += n > 0 ? (size_t)n : 0;
			}
			continue;
		}
		s->shut_ok = 1;
	}
	return rc;
}

void
be_chain_free(struct be_chain *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		if (c->steps[i].proc.destroy != NULL)
			c->steps[i].proc.destroy(c->steps[i].inst);
	free(c->steps);
	free(c);
}

/* ---- the gateway ---- */

enum be_state { BE_NEW, BE_RUNNING, BE_STOPPING, BE_SHUTTERED };

struct be_worker {
	struct backend		*b;
	pthread_t		thread;
	int			started;
	struct be_chain		*save;
	struct be_chain		*validate;
	int			id;
};

struct backend {
	struct gd_ctx		*ctx;
	struct be_worker	*w;
	int			nworkers;
	struct be_worker	*inl;		/* one per I/O loop, no thread */
	int			ninl;
	int			save_inline;	/* chains that run on the loops */
	int			val_inline;
	int			have_validate;
	int64_t			save_timeout_ms;
	int64_t			val_timeout_ms;

	pthread_mutex_t		qmu;	/* protects state, qhead, qtail */
	pthread_cond_t		qcv;
	enum be_state		state;
	struct be_job		*qhead, *qtail;
};

static int64_t
duration_ms(const struct json_value *bcfg, const char *key, int64_t def)
{
	const struct json_value *v = json_get(bcfg, key);
	int64_t ns;

	if (v == NULL || v->type != JSON_STRING ||
	    cfg_duration(v->u.str.s, &ns) != 0)
		return def;
	return ns / 1000000;
}

static void *
worker_main(void *arg)
{
	struct be_worker *w = arg;
	struct backend *b = w->b;

	log_info(b->ctx->log, "processing worker started (#%d)", w->id);
	for (;;) {
		struct be_job *job;
		struct be_doneq *q;

		pthread_mutex_lock(&b->qmu);
		while (b->qhead == NULL && b->state == BE_RUNNING)
			pthread_cond_wait(&b->qcv, &b->qmu);
		job = b->qhead;
		if (job != NULL) {
			b->qhead = job->next;
			if (b->qhead == NULL)
				b->qtail = NULL;
		}
		pthread_mutex_unlock(&b->qmu);
		if (job == NULL)
			break;		/* stopping and the queue is empty */

		be_chain_run(job->task == GD_TASK_SAVE ? w->save : w->validate,
		    job->env, job->task, &job->res);

		q = job->doneq;
		pthread_mutex_lock(&q->mu);
		job->next = q->list;
		q->list = job;
		if (!q->signalled) {
			q->signalled = 1;
			/* non-blocking; one byte is enough to wake the loop */
			while (write(q->wake[1], "x", 1) < 0 && errno == EINTR)
				;
		}
		pthread_mutex_unlock(&q->mu);
	}
	return NULL;
}

/* worker_build - a worker's own save and validate chain instances, with
 * their init hooks run (BE-02, BE-11). */
static int
worker_build(struct backend *b, struct be_worker *w,
    const struct be_registry *r, const char *save, const char *val,
    const struct json_value *bcfg, char *err, size_t errlen)
{
	w->b = b;
	if ((w->save = be_chain_new(r, save, b->ctx, err, errlen)) == NULL ||
	    (w->validate = be_chain_new(r, val, b->ctx, err, errlen)) ==
	    NULL)
		return -1;
	if (be_chain_init(w->save, bcfg, err, errlen) != 0 ||
	    be_chain_init(w->validate, bcfg, err, errlen) != 0)
		return -1;
	return 0;
}

/* worker_shutdown - the shutdown hooks of w's chains; errors are
 * appended to err (used so far: *used).  -1 if any failed. */
static int
worker_shutdown(struct be_worker *w, char *err, size_t errlen, size_t *used)
{
	struct be_chain *c[2];
	int k, rc = 0;

	c[0] = w->save;
	c[1] = w->validate;
	for (k = 0; k < 2; k++) {
		char e1[512];
		if (c[k] == NULL || be_chain_shutdown(c[k], e1,
		    sizeof(e1)) == 0)
			continue;
		rc = -1;
		if (used != NULL && *used < errlen) {
			int n = snprintf(err + *used, errlen - *used, "%s%s",
			    *used ? "\n" : "", e1);
			*used += n > 0 ? (size_t)n : 0;
			if (*used >= errlen)
				*used = errlen - 1;
		}
	}
	return rc;
}

struct backend *
be_new(struct gd_ctx *ctx, const struct be_registry *r,
    const struct json_value *bcfg, int nloops, char *err, size_t errlen)
{
	struct backend *b;
	const char *save = "", *val = "";
	long long nw = 1;
	char e1[512];
	int i;

	e1[0] = '\0';
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->ctx = ctx;
	pthread_mutex_init(&b->qmu, NULL);
	pthread_cond_init(&b->qcv, NULL);
	if (gd_config_str(bcfg, "save_process", 0, &save, e1, sizeof(e1)) < 0 ||
	    gd_config_str(bcfg, "validate_process", 0, &val, e1,
	    sizeof(e1)) < 0 ||
	    gd_config_int(bcfg, "save_workers_size", 0, &nw, e1,
	    sizeof(e1)) < 0)
		goto fail;
	if (nw <= 0)
		nw = 1;
	if (nw > 1024)
		nw = 1024;	/* a bound on purpose: threads are not free */
	b->save_timeout_ms = duration_ms(bcfg, "gw_save_timeout", 30000);
	b->val_timeout_ms = duration_ms(bcfg, "gw_val_rcpt_timeout", 5000);
	if ((b->w = calloc((size_t)nw, sizeof(*b->w))) == NULL) {
		snprintf(e1, sizeof(e1), "out of memory");
		goto fail;
	}
	b->nworkers = (int)nw;
	for (i = 0; i < b->nworkers; i++) {
		b->w[i].id = i + 1;
		if (worker_build(b, &b->w[i], r, save, val, bcfg, e1,
		    sizeof(e1)) != 0)
			goto fail;
	}
	b->have_validate = be_chain_len(b->w[0].validate) > 0;
	b->save_inline = be_chain_nonblocking(b->w[0].save);
	b->val_inline = be_chain_nonblocking(b->w[0].validate);
	if ((b->save_inline || b->val_inline) && nloops > 0) {
		if ((b->inl = calloc((size_t)nloops, sizeof(*b->inl))) ==
		    NULL) {
			snprintf(e1, sizeof(e1), "out of memory");
			goto fail;
		}
		b->ninl = nloops;
		for (i = 0; i < nloops; i++)
			if (worker_build(b, &b->inl[i], r, save, val, bcfg, e1,
			    sizeof(e1)) != 0)
				goto fail;
	}
	b->state = BE_NEW;
	return b;
fail:
	snprintf(err, errlen, "error while initializing the backend: %s", e1);
	for (i = 0; b->w != NULL && i < b->nworkers; i++)
		worker_shutdown(&b->w[i], NULL, 0, NULL);
	for (i = 0; i < b->ninl; i++)
		worker_shutdown(&b->inl[i], NULL, 0, NULL);
	b->state = BE_SHUTTERED;
	be_free(b);
	return NULL;
}

int
be_start(struct backend *b, char *err, size_t errlen)
{
	int i;

	pthread_mutex_lock(&b->qmu);
	b->state = BE_RUNNING;
	pthread_mutex_unlock(&b->qmu);
	for (i = 0; i < b->nworkers; i++) {
		int rc = pthread_create(&b->w[i].thread, NULL, worker_main,
		    &b->w[i]);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start worker: %s",
			    strerror(rc));
			return -1;
		}
		b->w[i].started = 1;
	}
	return 0;
}

int
be_has_validate(const struct backend *b)
{
	return b->have_validate;
}

int64_t
be_save_timeout_ms(const struct backend *b)
{
	return b->save_timeout_ms;
}

int64_t
be_validate_timeout_ms(const struct backend *b)
{
	return b->val_timeout_ms;
}

int
be_run_inline(struct backend *b, int loop, struct be_job *job)
{
	struct be_worker *w;

	if (loop < 0 || loop >= b->ninl || !(job->task == GD_TASK_SAVE ?
	    b->save_inline : b->val_inline))
		return 0;
	w = &b->inl[loop];
	job->next = NULL;
	job->deadline_ms = gd_now_ms() + (job->task == GD_TASK_SAVE ?
	    b->save_timeout_ms : b->val_timeout_ms);
	be_chain_run(job->task == GD_TASK_SAVE ? w->save : w->validate,
	    job->env, job->task, &job->res);
	/* the same bound as a worker's run: too late is a timeout, whatever
	 * the chain said (it cannot be cut short on this thread) */
	job->timed_out = gd_now_ms() >= job->deadline_ms;
	return 1;
}

int
be_submit(struct backend *b, struct be_job *job)
{
	int rc = -1;

	job->next = NULL;
	job->timed_out = 0;
	memset(&job->res, 0, sizeof(job->res));
	job->deadline_ms = gd_now_ms() + (job->task == GD_TASK_SAVE ?
	    b->save_timeout_ms : b->val_timeout_ms);
	pthread_mutex_lock(&b->qmu);
	if (b->state == BE_RUNNING) {
		if (b->qtail != NULL)
			b->qtail->next = job;
		else
			b->qhead = job;
		b->qtail = job;
		pthread_cond_signal(&b->qcv);
		rc = 0;
	}
	pthread_mutex_unlock(&b->qmu);
	return rc;
}

int
be_doneq_init(struct be_doneq *q, char *err, size_t errlen)
{
	int i;

	q->list = NULL;
	q->signalled = 0;
	if (pipe(q->wake) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		q->wake[0] = q->wake[1] = -1;
		return -1;
	}
	for (i = 0; i < 2; i++) {
		(void)fcntl(q->wake[i], F_SETFL,
		    fcntl(q->wake[i], F_GETFL) | O_NONBLOCK);
		(void)fcntl(q->wake[i], F_SETFD, FD_CLOEXEC);
	}
	pthread_mutex_init(&q->mu, NULL);
	return 0;
}

void
be_doneq_destroy(struct be_doneq *q)
{
	int i;

	if (q->wake[0] < 0)
		return;
	for (i = 0; i < 2; i++)
		(void)close(q->wake[i]);
	q->wake[0] = q->wake[1] = -1;
	pthread_mutex_destroy(&q->mu);
}

int
be_doneq_fd(const struct be_doneq *q)
{
	return q->wake[0];
}

struct be_job *
be_doneq_take(struct be_doneq *q)
{
	struct be_job *list;
	char buf[64];

	pthread_mutex_lock(&q->mu);
	while (read(q->wake[0], buf, sizeof(buf)) > 0)
		;
	list = q->list;
	q->list = NULL;
	q->signalled = 0;
	pthread_mutex_unlock(&q->mu);
	return list;
}

int
be_shutdown(struct backend *b, char *err, size_t errlen)
{
	int i, rc = 0;
	size_t used = 0;

	if (errlen > 0)
		err[0] = '\0';
	pthread_mutex_lock(&b->qmu);
	if (b->state == BE_RUNNING)
		b->state = BE_STOPPING;
	pthread_cond_broadcast(&b->qcv);
	pthread_mutex_unlock(&b->qmu);
	for (i = 0; i < b->nworkers; i++) {
		if (b->w[i].started) {
			pthread_join(b->w[i].thread, NULL);
			b->w[i].started = 0;
		}
	}
	for (i = 0; i < b->nworkers; i++)
		if (worker_shutdown(&b->w[i], err, errlen, &used) != 0)
			rc = -1;
	for (i = 0; i < b->ninl; i++)
		if (worker_shutdown(&b->inl[i], err, errlen, &used) != 0)
			rc = -1;
	pthread_mutex_lock(&b->qmu);
	b->state = BE_SHUTTERED;
	pthread_mutex_unlock(&b->qmu);
	if (rc == 0)
		log_info(b->ctx->log, "Backend shutdown completed");
	return rc;
}

void
be_free(struct backend *b)
{
	int i;

	if (b == NULL)
		return;
	if (b->state != BE_SHUTTERED) {
		char e[256];
		(void)be_shutdown(b, e, sizeof(e));
	}
	for (i = 0; i < b->nworkers; i++) {
		be_chain_free(b->w[i].save);
		be_chain_free(b->w[i].validate);
	}
	for (i = 0; i < b->ninl; i++) {
		be_chain_free(b->inl[i].save);
		be_chain_free(b->inl[i].validate);
	}
	free(b->inl);
	free(b->w);
	pthread_mutex_destroy(&b->qmu);
	pthread_cond_destroy(&b->qcv);
	free(b);
}
