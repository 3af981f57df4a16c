/*
 * backend.h - the gateway (SPEC section 5): processor registry, chains built
 * from "A|B|C", a bounded job queue and the worker threads that run jobs.
 *
 * Rule of the house: a worker owns its chains (one instance of the save
 * chain and one of the validate chain per worker, BE-02), so processors need
 * no locks.  The I/O thread submits jobs and learns of their completion
 * through its done queue's wake-up pipe; it never waits for a worker.
 */
#ifndef GD_BACKEND_H
#define GD_BACKEND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "guerrilla.h"

struct json_value;
struct logger;

/* One object that the instances of a processor type share
 * (gd_ctx_share). */
struct be_shared {
	struct be_shared	*next;
	char			*key;
	void			*obj;
	void			(*destroy)(void *obj);
	unsigned long		 holders;
};

/* What a processor instance may call back into (guerrilla.h). */
struct gd_ctx {
	struct logger	*log;
	char		hostname[256];
	time_t		fixed_time;	/* != 0: tests pin the clock */
	/* The objects shared per processor type (gd_ctx_share); NULL when
	 * none.  Only create/destroy hooks touch the list, and they run on
	 * the thread that builds and frees backends, so it has no lock. */
	struct be_shared *shared;
};

/* ---- registry ---- */

struct be_registry {
	struct gd_processor	*p;
	size_t			n;
};

/* be_registry_init - empty, then every built-in processor registered. */
int	be_registry_init(struct be_registry *r);
int	be_registry_add(struct be_registry *r, const struct gd_processor *p);
const struct gd_processor *be_registry_find(const struct be_registry *r,
	    const char *name, size_t len);
void	be_registry_free(struct be_registry *r);

/* ---- one chain instance ---- */

struct be_chain;

/* be_chain_new - create one instance of each processor named in spec
 * ("A|B|C", trimmed, case-insensitive; "" = no processors).  NULL with err
 * "processor [<name>] not found" (BE-03) or a create failure. */
struct be_chain	*be_chain_new(const struct be_registry *r, const char *spec,
		    struct gd_ctx *ctx, char *err, size_t errlen);
size_t		 be_chain_len(const struct be_chain *c);
/* be_chain_nonblocking - every processor of c is nonblocking. */
int		 be_chain_nonblocking(const struct be_chain *c);
/* be_chain_init - call init hooks not yet successful (BE-11). */
int		 be_chain_init(struct be_chain *c, const struct json_value *bcfg,
		    char *err, size_t errlen);
/* be_chain_run - run the chain; res is cleared first.  The chain's end
 * sets GD_STATUS_OK when no processor decided otherwise. */
void		 be_chain_run(struct be_chain *c, struct gd_envelope *e,
		    enum gd_task task, struct gd_result *res);
/* be_chain_shutdown - call shutdown hooks (failed ones are retried on the
 * next call, BE-10). */
int		 be_chain_shutdown(struct be_chain *c, char *err, size_t errlen);
void		 be_chain_free(struct be_chain *c);

/* ---- the gateway ---- */

/* A job: embedded in the connection that submits it (at most one job per
 * connection), so the queue is bounded by the number of connections and
 * submitting never allocates or fails for lack of room. */
struct be_doneq;

struct be_job {
	struct be_job		*next;		/* queue link (owned by the backend) */
	struct be_doneq		*doneq;		/* where the finished job goes */
	enum gd_task		 task;
	struct gd_envelope	*env;		/* owned by the worker until done */
	void			*owner;		/* the connection */
	int64_t			 deadline_ms;	/* monotonic; set by be_submit */
	int			 timed_out;	/* I/O thread already answered */
	struct gd_result	 res;		/* filled by the worker */
};

/* A done queue: workers push finished jobs, the I/O loop that submitted
 * them is woken through a pipe and takes them.  It belongs to the loop,
 * not to a backend, so jobs of an old backend that drains after a hot
 * reload come home the same way (SPEC 8.4). */
struct be_doneq {
	pthread_mutex_t		mu;	/* protects list, signalled */
	struct be_job		*list;
	int			signalled;
	int			wake[2];
};

int		 be_doneq_init(struct be_doneq *q, char *err, size_t errlen);
void		 be_doneq_destroy(struct be_doneq *q);
/* be_doneq_fd - readable when finished jobs wait. */
int		 be_doneq_fd(const struct be_doneq *q);
/* be_doneq_take - the finished jobs (linked by ->next), or NULL; drains
 * the wake-up pipe. */
struct be_job	*be_doneq_take(struct be_doneq *q);

struct backend;

/* be_new - build save_workers_size workers each with its own save and
 * validate chain instances and run every init hook (BE-02, BE-11); when
 * a chain is made only of nonblocking processors, also one set of
 * instances per I/O loop (nloops) for be_run_inline.  On failure NULL
 * and err "error while initializing the backend: ...". */
struct backend	*be_new(struct gd_ctx *ctx, const struct be_registry *r,
		    const struct json_value *bcfg, int nloops, char *err,
		    size_t errlen);
int		 be_start(struct backend *b, char *err, size_t errlen);
/* be_has_validate - validate_process is not empty. */
int		 be_has_validate(const struct backend *b);
int64_t		 be_save_timeout_ms(const struct backend *b);
int64_t		 be_validate_timeout_ms(const struct backend *b);
/* be_run_inline - when the job's chain is nonblocking, run it now on the
 * calling I/O loop (number loop, its own instances) and return 1: the
 * result is in job->res, and job->timed_out says that the run took longer
 * than the job's timeout (the caller then answers as for a worker's job
 * that overran).  0: submit it instead. */
int		 be_run_inline(struct backend *b, int loop, struct be_job *job);
/* be_submit - queue a job (sets deadline_ms); job->doneq must be set.
 * -1 when the backend is not running (then the caller answers "backend
 * not running"). */
int		 be_submit(struct backend *b, struct be_job *job);
/* be_shutdown - stop taking jobs, finish queued ones, join workers, run
 * shutdown hooks (BE-10).  Idempotent. */
int		 be_shutdown(struct backend *b, char *err, size_t errlen);
void		 be_free(struct backend *b);

#endif
