/*
 * guerrilla.h - the public interface of libguerrilla, the SMTP receiving
 * daemon that guerrillad runs and that other programs embed (SPEC 10).
 *
 * Threading (API-12): a processor's process() runs on a worker thread; each
 * processor instance is used by exactly one worker, so it needs no locks;
 * create/init/shutdown/destroy run on the control thread.  Envelope
 * pointers are valid only during the call that receives them.
 *
 * Nothing in the library keeps process-global mutable state (ARCH-01): two
 * daemons in one process each have their own registry, logs and backend.
 */
#ifndef GUERRILLA_H
#define GUERRILLA_H

#include <stddef.h>

struct gd_daemon;
struct gd_envelope;	/* see envelope.h for the fields built-ins use */
struct gd_ctx;		/* what a processor instance may call back into */
struct gd_next;		/* the rest of a processor chain */
struct json_value;	/* backend_config, read through gd_config_* */

/* The version string ("unknown" when the build did not inject one). */
const char	*gd_version(void);

/* ---- processors (SPEC 6.1) ---- */

enum gd_task {
	GD_TASK_SAVE = 1,	/* save a message (BE-05) */
	GD_TASK_VALIDATE = 2	/* validate the last recipient (BE-08) */
};

#define GD_REPLY_MAX	512
#define GD_ERROR_MAX	256

/* What a chain produced (BE-09).  reply: one SMTP reply line set by a
 * processor ("" = none); error: a short reason ("" = none); ok: the
 * chain's terminal step was reached; fault: a processor failed (BE-07). */
struct gd_result {
	char	reply[GD_REPLY_MAX];
	char	error[GD_ERROR_MAX];
	int	ok;
	int	fault;
};

/* A processor type: name (case-insensitive) plus callbacks (PROC-01).
 * create makes one instance (NULL = failure); init reads backend_config
 * and returns 0, or -1 with err filled; process either calls gd_next() to
 * continue the chain or fills res and returns (PROC-02); shutdown returns
 * 0 or -1 with err; destroy frees the instance.  Only process is required. */
struct gd_processor {
	const char	*name;
	void		*(*create)(struct gd_ctx *ctx, void *user);
	int		(*init)(void *inst, const struct json_value *bcfg,
			    char *err, size_t errlen);
	void		(*process)(void *inst, struct gd_envelope *e,
			    enum gd_task task, struct gd_next *next,
			    struct gd_result *res);
	int		(*shutdown)(void *inst, char *err, size_t errlen);
	void		(*destroy)(void *inst);
	void		*user;
};

/* gd_next - run the rest of the chain; its outcome lands in res. */
void	gd_next(struct gd_next *next, struct gd_envelope *e,
	    enum gd_task task, struct gd_result *res);

/* Result helpers: set res->reply / res->error (formatted, truncated). */
void	gd_result_reply(struct gd_result *res, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
void	gd_result_error(struct gd_result *res, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Logging from a processor (levels as LOG-02: 0 debug .. 3 error). */
#define GD_LOG_DEBUG	0
#define GD_LOG_INFO	1
#define GD_LOG_WARN	2
#define GD_LOG_ERROR	3
void	gd_log(struct gd_ctx *ctx, int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
/* gd_ctx_hostname - the system host name the daemon saw at start. */
const char	*gd_ctx_hostname(const struct gd_ctx *ctx);

/*
 * Config extraction (PROC-04).  Each returns 0 and sets *out, 1 when the
 * key is absent and not required (out untouched: keep your default), or -1
 * with err set to GG's message when a required key is missing or a key has
 * the wrong type.  Ints accept any JSON number (fraction truncated).
 * Strings returned point into bcfg (valid until the backend stops).
 */
int	gd_config_int(const struct json_value *bcfg, const char *key,
	    int required, long long *out, char *err, size_t errlen);
int	gd_config_str(const struct json_value *bcfg, const char *key,
	    int required, const char **out, char *err, size_t errlen);
int	gd_config_bool(const struct json_value *bcfg, const char *key,
	    int required, int *out, char *err, size_t errlen);

/* ---- the daemon (SPEC 10; grows with the embedding issue) ---- */

/* gd_new - an empty daemon with the built-in processors registered. */
struct gd_daemon	*gd_new(void);
/* gd_add_processor - register (or replace) a processor type by name;
 * before gd_start.  The struct is copied; name must stay valid. */
int	gd_add_processor(struct gd_daemon *d, const struct gd_processor *p);
/* gd_load_config_file - parse and validate; on error returns -1 and
 * *errs is a malloc'd "\n"-separated list of every problem (free it). */
int	gd_load_config_file(struct gd_daemon *d, const char *path, char **errs);
/* gd_load_config_string - the same from a JSON document in memory. */
int	gd_load_config_string(struct gd_daemon *d, const char *json,
	    size_t len, char **errs);
/* gd_set_verbose - force log level debug (the -v flag, OPS-01). */
void	gd_set_verbose(struct gd_daemon *d, int on);
/* gd_set_pid_file - override pid_file (the -p flag, OPS-02). */
void	gd_set_pid_file(struct gd_daemon *d, const char *path);
/* gd_pid_file - the pid file that gd_start will write ("" = none). */
const char *gd_pid_file(const struct gd_daemon *d);
/* gd_reopen_logs - close and reopen file logs (OPS-10, API-06). */
int	gd_reopen_logs(struct gd_daemon *d);
/* gd_start - open logs, start the backend, listeners and the I/O thread,
 * write the pid file; returns at once (API-03).  -1 with *errs on failure. */
int	gd_start(struct gd_daemon *d, char **errs);
/* gd_shutdown - graceful (SMTP-61, BE-10): stop accepting, let
 * transactions in data/backend finish, stop workers.  Blocks; idempotent.
 * Returns 0, or -1 when it had to give up (watchdog). */
int	gd_shutdown(struct gd_daemon *d);
/* gd_free - shut down if running and release everything. */
void	gd_free(struct gd_daemon *d);
/* gd_log_daemon - log through the daemon's main log. */
void	gd_log_daemon(struct gd_daemon *d, int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

#endif
