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
	/* nonblocking: process() only computes - no disk, network, locks or
	 * sleeping.  A chain made only of such processors runs on the I/O
	 * thread that received the message (its own instances, one per
	 * loop), which saves two thread hand-offs per message. */
	int		nonblocking;
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

/* Envelope accessors (API-11), valid during process() only.  Printed
 * addresses use GG's form (SPEC 3.8); the *_print functions return the
 * length needed, like snprintf. */
const char	*gd_env_remote_ip(const struct gd_envelope *e);
const char	*gd_env_helo(const struct gd_envelope *e);
int		 gd_env_tls(const struct gd_envelope *e);
size_t		 gd_env_from_print(const struct gd_envelope *e, char *buf,
		    size_t size);
size_t		 gd_env_rcpt_count(const struct gd_envelope *e);
size_t		 gd_env_rcpt_print(const struct gd_envelope *e, size_t i,
		    char *buf, size_t size);
/* gd_env_data - the message as received, in storage form (SMTP-47). */
const char	*gd_env_data(const struct gd_envelope *e, size_t *len);
/* gd_env_subject - the decoded Subject (after HeadersParser), or NULL. */
const char	*gd_env_subject(const struct gd_envelope *e);
const char	*gd_env_queued_id(const struct gd_envelope *e);

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
/* gd_reload_config_file / gd_reload_config_string - hot reload (API-05,
 * SPEC 8.4).  The new config is parsed and validated, new listeners are
 * bound, TLS contexts and (when backend_config changed) the new backend
 * are built and started, all before anything changes; if any of that
 * fails nothing changes, "Could not reload config" and every error are
 * logged, and -1 is returned with *errs.  Otherwise the new config is
 * applied at once: sessions on kept servers go on (they use the new
 * timeout from their next wait), removed servers stop accepting and their
 * sessions finish, the old backend drains in the background; then the
 * events of OPS-15 are published in order.  Before gd_start these are
 * gd_load_config_* (no events).  The -v and -p overrides stay in force. */
int	gd_reload_config_file(struct gd_daemon *d, const char *path,
	    char **errs);
int	gd_reload_config_string(struct gd_daemon *d, const char *json,
	    size_t len, char **errs);
/*
 * Config from a structure (API-02), for programs that do not keep a JSON
 * file: start from gd_config_new() (every key at its SPEC 7 default) and
 * set keys by path, the JSON names joined by dots, array elements by
 * index; index n of an n-element array appends one:
 *	gd_config_set_str(c, "servers.0.listen_interface", "127.0.0.1:2525");
 *	gd_config_set_bool(c, "servers.0.tls.start_tls_on", 1);
 *	gd_config_set_str(c, "backend_config.save_process", "HeadersParser|MailDir");
 *	gd_config_add_str(c, "allowed_hosts", "example.com");
 * The setters return 0, or -1 for a malformed path or ENOMEM; the values
 * are checked by gd_set_config with the same rules and messages as a file
 * (named "config").
 */
struct gd_config;
struct gd_config	*gd_config_new(void);
int	gd_config_set_str(struct gd_config *c, const char *path,
	    const char *value);
int	gd_config_set_int(struct gd_config *c, const char *path,
	    long long value);
int	gd_config_set_bool(struct gd_config *c, const char *path, int value);
/* gd_config_add_str - append to the string list at path (created). */
int	gd_config_add_str(struct gd_config *c, const char *path,
	    const char *value);
void	gd_config_free(struct gd_config *c);
/* gd_set_config - validate c and use it: before gd_start like
 * gd_load_config_*, on a running daemon a hot reload as
 * gd_reload_config_*.  c stays the caller's. */
int	gd_set_config(struct gd_daemon *d, const struct gd_config *c,
	    char **errs);

/* gd_set_verbose - force log level debug (the -v flag, OPS-01). */
void	gd_set_verbose(struct gd_daemon *d, int on);
/* gd_set_pid_file - override pid_file (the -p flag, OPS-02). */
void	gd_set_pid_file(struct gd_daemon *d, const char *path);
/* gd_pid_file - the pid file that gd_start will write ("" = none). */
const char *gd_pid_file(const struct gd_daemon *d);
/* gd_reload_tls - TLS-07: reload certificates whose files changed on
 * disk, for new sessions; a broken pair keeps the old one (logged).
 * Returns 0, or -1 when a pair could not be loaded. */
int	gd_reload_tls(struct gd_daemon *d);
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
/* ---- log hook (API-07) ---- */

/* Called for every log entry at or above the configured level, on the
 * thread that logs (the I/O thread, a worker, or the caller's); msg is
 * already escaped (LOG-05).  Must not call back into the daemon. */
typedef void (*gd_log_hook_fn)(void *user, int level, const char *msg);
/* gd_set_log_hook - install (fn) or remove (NULL) the hook; with
 * also_files = 0 entries go only to the hook.  Before gd_start. */
void	gd_set_log_hook(struct gd_daemon *d, gd_log_hook_fn fn, void *user,
	    int also_files);

/* ---- events (OPS-13..15, API-10) ---- */

/* The wire-stable event names. */
#define GD_EV_NEW_CONFIG		"config_change:new_config"
#define GD_EV_ALLOWED_HOSTS		"config_change:allowed_hosts"
#define GD_EV_PID_FILE			"config_change:pid_file"
#define GD_EV_LOG_FILE			"config_change:log_file"
#define GD_EV_REOPEN_LOG_FILE		"config_change:reopen_log_file"
#define GD_EV_LOG_LEVEL			"config_change:log_level"
#define GD_EV_BACKEND_CONFIG		"config_change:backend_config"
#define GD_EV_SERVER_NEW		"server_change:new_server"
#define GD_EV_SERVER_REMOVE		"server_change:remove_server"
#define GD_EV_SERVER_UPDATE		"server_change:update_config"
#define GD_EV_SERVER_START		"server_change:start_server"
#define GD_EV_SERVER_STOP		"server_change:stop_server"
#define GD_EV_SERVER_NEW_LOG_FILE	"server_change:new_log_file"
#define GD_EV_SERVER_REOPEN_LOG_FILE	"server_change:reopen_log_file"
#define GD_EV_SERVER_TIMEOUT		"server_change:timeout"
#define GD_EV_SERVER_MAX_CLIENTS	"server_change:max_clients"
#define GD_EV_SERVER_TLS_CONFIG		"server_change:tls_config"

/* An event callback.  payload: for config_change events the app config,
 * for server_change events the server's config (opaque here; NULL when
 * published by the program with no payload).  Runs on the thread that
 * publishes: the daemon's control path (the caller of gd_reopen_logs,
 * gd_start, ...), never a worker. */
typedef void (*gd_event_fn)(struct gd_daemon *d, const char *event,
    const void *payload, void *user);
/* gd_subscribe - call fn(user) for event; subscriptions made before
 * gd_start stay in force.  0, or -1 on ENOMEM. */
int	gd_subscribe(struct gd_daemon *d, const char *event, gd_event_fn fn,
	    void *user);
/* gd_unsubscribe - remove the subscription with this event, fn and
 * user; 0, or -1 when there was none. */
int	gd_unsubscribe(struct gd_daemon *d, const char *event, gd_event_fn fn,
	    void *user);
/* gd_publish - call every subscriber of event, in subscription order. */
void	gd_publish(struct gd_daemon *d, const char *event, const void *payload);

/* gd_log_daemon - log through the daemon's main log. */
void	gd_log_daemon(struct gd_daemon *d, int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

#endif
