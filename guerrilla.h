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

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* GD_PRINTF(f, a) - argument f is a printf format, its arguments start
 * at a (the compiler checks them; nothing where it cannot). */
#if defined(__GNUC__) || defined(__clang__)
#define GD_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#else
#define GD_PRINTF(f, a)
#endif

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

/*
 * What a chain produced: a status, plus optional text for the client and
 * a detail for the log.  The daemon alone turns it into the SMTP reply:
 *
 *   status     after DATA                          after RCPT
 *   OK         250 2.0.0 OK: queued as <id>        250 2.1.5 OK
 *   TEMPFAIL   451 4.3.0 Error: <text>             451 4.3.0 Error: <text>
 *   PERMFAIL   554 5.5.0 Error: <text>             550 5.1.1 User unknown in
 *                                                  local recipient table <text>
 *   NONE       554 5.5.0 Error: no response from   451 4.3.0 Error: storage
 *              backend - processor did not ...     error
 *
 * A text that is itself a whole reply - a three-digit code whose first
 * digit agrees with the status (2 OK, 4 TEMPFAIL, 5 PERMFAIL), then a
 * space or the end - is sent as it is ("554 Error: could not save email
 * for [bob]", as go-guerrilla's processors answer); any other text fills
 * the <text> above (OK: in place of "queued as <id>"), so a failure can
 * never be answered with a success code.  CR and LF are removed before
 * sending.  Without text TEMPFAIL says "storage not available", PERMFAIL
 * "storage failed" after DATA and "no such user" after RCPT.  detail is
 * logged with the client's id and never sent.
 *
 * The chain's end sets OK when nothing was set before it, so a processor
 * that calls gd_next() and then finds a problem may still set a failure.
 */
enum gd_status {
	GD_STATUS_NONE = 0,	/* nothing decided */
	GD_STATUS_OK,		/* saved / recipient accepted */
	GD_STATUS_TEMPFAIL,	/* ours or a store's trouble: retry later */
	GD_STATUS_PERMFAIL	/* refused for good */
};

struct gd_result {
	enum gd_status	status;
	char		text[GD_REPLY_MAX];	/* "" = the standard text */
	char		detail[GD_ERROR_MAX];	/* for the log; "" = none */
};

/*
 * A processor type: a name (case-insensitive), callbacks and the keys it
 * reads.  create makes one instance (NULL = failure); init reads
 * backend_config and returns 0, or -1 with err filled; process either
 * calls gd_next() to go on with the chain or sets res and returns;
 * shutdown returns 0 or -1 with err; destroy frees the instance.  Only
 * process is required.  Built with designated initializers:
 *
 *	static const char *const my_keys[] = { "my_path", NULL };
 *	const struct gd_processor my_processor = {
 *		.name = "Mine", .create = my_create, .init = my_init,
 *		.process = my_process, .destroy = my_destroy,
 *		.keys = my_keys
 *	};
 */
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
	/*
	 * nonblocking - asked once per instance, after its init succeeded:
	 * nonzero when this instance's process() only computes (no disk,
	 * network, locks or sleeping).  A chain whose instances all say so
	 * runs on the I/O loop that received the message (with instances of
	 * its own, one set per loop), which saves two thread hand-offs per
	 * message; gw_save_timeout / gw_val_rcpt_timeout bound it as they
	 * bound a worker's run.  NULL: always runs on a worker thread.
	 */
	int		(*nonblocking)(const void *inst);
	/* keys - the backend_config keys this type reads, NULL-terminated
	 * (NULL: none).  A backend_config key that no processor of the
	 * configured chains declares is reported as unknown (a warning). */
	const char *const *keys;
};

/* gd_next - run the rest of the chain; its outcome lands in res. */
void	gd_next(struct gd_next *next, struct gd_envelope *e,
	    enum gd_task task, struct gd_result *res);

/* gd_result_set - res->status = status and res->text = the formatted
 * text (fmt NULL: no text), cut to GD_REPLY_MAX - 1 bytes. */
void	gd_result_set(struct gd_result *res, enum gd_status status,
	    const char *fmt, ...) GD_PRINTF(3, 4);
/* gd_result_detail - res->detail = the formatted text, for the log. */
void	gd_result_detail(struct gd_result *res, const char *fmt, ...)
	    GD_PRINTF(2, 3);

/* ---- what a processor instance may ask of its daemon ---- */

/* Logging from a processor, through the daemon's log. */
#define GD_LOG_DEBUG	0
#define GD_LOG_INFO	1
#define GD_LOG_WARN	2
#define GD_LOG_ERROR	3
void	gd_log(struct gd_ctx *ctx, int level, const char *fmt, ...)
	    GD_PRINTF(3, 4);
/* gd_ctx_hostname - the system host name the daemon saw at start. */
const char	*gd_ctx_hostname(const struct gd_ctx *ctx);
/* gd_ctx_time / gd_ctx_time_ns - the wall clock (seconds; nanoseconds
 * since 1970, 0 before it).  A test may pin it to one second; use these
 * rather than time() so that output stays reproducible then. */
time_t		 gd_ctx_time(const struct gd_ctx *ctx);
long long	 gd_ctx_time_ns(const struct gd_ctx *ctx);
/*
 * gd_ctx_share - the object that all instances of one processor type in
 * this daemon share (a counter, a lock, a table), under key (a string of
 * the type's own, e.g. its name): the first call makes it with make(),
 * each call counts one holder; NULL when make() failed.  gd_ctx_unshare
 * drops one holder, and the last one frees the object with destroy().
 * Call both from create and destroy, which run on the thread that builds
 * and frees backends, never during process(); the object itself is
 * shared by worker threads, so it carries its own lock.  Two daemons in
 * one process never share an object.
 */
void	*gd_ctx_share(struct gd_ctx *ctx, const char *key,
	    void *(*make)(void), void (*destroy)(void *obj));
void	 gd_ctx_unshare(struct gd_ctx *ctx, const char *key);

/* ---- the envelope, valid during process() only ---- */

/* The connection.  gd_env_esmtp: the client said EHLO (not HELO);
 * gd_env_tls: the session is encrypted (STARTTLS or SMTPS). */
const char	*gd_env_remote_ip(const struct gd_envelope *e);
const char	*gd_env_helo(const struct gd_envelope *e);
int		 gd_env_esmtp(const struct gd_envelope *e);
int		 gd_env_tls(const struct gd_envelope *e);
unsigned long long gd_env_client_id(const struct gd_envelope *e);

/*
 * Sender and recipients.  The *_print functions write an address in
 * go-guerrilla's printed form (local@domain, the local part quoted when it
 * must be, [ip] for address literals, "" for the null sender <>) and
 * return the length it needs, like snprintf.  The parts: the local part
 * unquoted; the domain, or for an address literal the IP text without
 * brackets.  i counts from 0 in the order RCPT accepted them.
 */
size_t		 gd_env_from_print(const struct gd_envelope *e, char *buf,
		    size_t size);
size_t		 gd_env_rcpt_count(const struct gd_envelope *e);
size_t		 gd_env_rcpt_print(const struct gd_envelope *e, size_t i,
		    char *buf, size_t size);
const char	*gd_env_rcpt_local(const struct gd_envelope *e, size_t i);
const char	*gd_env_rcpt_domain(const struct gd_envelope *e, size_t i);

/*
 * The message body: the message as received, after the end-of-data dot,
 * with dots unstuffed and CR LF line ends stored as LF.  It is read in
 * windows, so that a body that is not held in one piece of memory can be
 * read the same way:
 *
 *	const char *p;
 *	ssize_t n;
 *	uint64_t off = 0;
 *	while ((n = gd_env_body_window(e, off, &p)) > 0) {
 *		use(p, (size_t)n);
 *		off += (uint64_t)n;
 *	}
 *	if (n < 0)
 *		... the body could not be read: answer GD_STATUS_TEMPFAIL
 *
 * gd_env_body_window returns the length of the window that starts at
 * byte off (> 0), 0 at the end, -1 when it cannot be read; *p stays valid
 * until the next call on this envelope or the end of process().
 */
uint64_t	 gd_env_body_size(const struct gd_envelope *e);
ssize_t		 gd_env_body_window(const struct gd_envelope *e, uint64_t off,
		    const char **p);

/*
 * Headers of the message.  gd_env_parse_headers parses the header block
 * once (unfolded values, names in canonical case, the Subject decoded
 * from RFC 2047): 0, or -1 with err ("headers already parsed", "out of
 * memory").  HeadersParser calls it; until then there are no headers.
 * gd_env_header: the first value of the header name (compared without
 * case), NULL if absent; gd_env_header_at: the i-th header's name, with
 * *value set (NULL past the end).  gd_env_header_address prints the
 * first address of an address header (From, Reply-To, ...) into buf as
 * the *_print functions do; 0 when absent or unparsable.
 */
int		 gd_env_parse_headers(struct gd_envelope *e, char *err,
		    size_t errlen);
int		 gd_env_headers_parsed(const struct gd_envelope *e);
size_t		 gd_env_header_count(const struct gd_envelope *e);
const char	*gd_env_header_at(const struct gd_envelope *e, size_t i,
		    const char **value);
const char	*gd_env_header(const struct gd_envelope *e, const char *name);
size_t		 gd_env_header_address(const struct gd_envelope *e,
		    const char *name, char *buf, size_t size);
/* gd_env_subject - the decoded Subject, or NULL (before HeadersParser). */
const char	*gd_env_subject(const struct gd_envelope *e);

/*
 * What processors leave for the ones after them.  Hashes: ids, one per
 * recipient as Hasher makes them.  Values: named bytes (Compressor leaves
 * "zlib-compressor"), copied in, replaced by a later set of the same key.
 * The delivery header: the lines (LF-ended) that stores write before the
 * body (Header sets Delivered-To and Received); "" when none.  The queued
 * id: what "250 2.0.0 OK: queued as <id>" shows (at most 64 bytes; a
 * store whose key names the message may set it).  The setters copy and
 * return 0, or -1 when out of memory.
 */
size_t		 gd_env_hash_count(const struct gd_envelope *e);
const char	*gd_env_hash(const struct gd_envelope *e, size_t i);
int		 gd_env_add_hash(struct gd_envelope *e, const char *hash);
int		 gd_env_set_value(struct gd_envelope *e, const char *key,
		    const void *data, size_t len);
const void	*gd_env_value(const struct gd_envelope *e, const char *key,
		    size_t *len);
int		 gd_env_set_delivery_header(struct gd_envelope *e,
		    const char *h);
const char	*gd_env_delivery_header(const struct gd_envelope *e);
const char	*gd_env_queued_id(const struct gd_envelope *e);
int		 gd_env_set_queued_id(struct gd_envelope *e, const char *id);

/* ---- helpers for processors that write messages ---- */

/* gd_rfc1123z - t as "Mon, 02 Jan 2006 15:04:05 -0700" in local time,
 * with English names whatever the locale (the Received date). */
void	gd_rfc1123z(time_t t, char *buf, size_t size);
/* gd_one_line - copy s into buf (size bytes, cut) with CR and LF made
 * spaces, so a value can never split a header line. */
void	gd_one_line(char *buf, size_t size, const char *s);
/* gd_glob - s matches the pattern pat, compared without case, as
 * allowed_hosts matches: '*' any run (dots too), '?' one character,
 * '[...]' a class (with '!' or '^' for "not", and ranges). */
int	gd_glob(const char *pat, const char *s);
/* gd_env_deflate - zlib (RFC 1950, level 1: fastest) of head[0..hl-1]
 * followed by the body, into a malloc'd *out (*outlen) that the caller
 * frees.  0, or -1 (out of memory, or the body could not be read). */
int	gd_env_deflate(const struct gd_envelope *e, const char *head,
	    size_t hl, unsigned char **out, size_t *outlen);

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

/* The payload of the daemon's config_change events: the config it runs
 * with from now on.  Valid during the callback only. */
struct gd_config_event {
	const char		*log_file;	/* "stderr", "off", a path */
	int			 log_level;	/* GD_LOG_DEBUG .. GD_LOG_ERROR */
	const char		*pid_file;	/* "" = none */
	const char *const	*allowed_hosts;
	size_t			 nallowed_hosts;
	size_t			 nservers;
};

/* The payload of the daemon's server_change events: the server concerned
 * (for remove_server, as it was).  Valid during the callback only. */
struct gd_server_event {
	const char	*listen_interface;	/* what names the server */
	const char	*host_name;
	int		 is_enabled;
	long long	 max_size;
	int		 timeout;		/* seconds */
	int		 max_clients;
	const char	*log_file;
	int		 start_tls_on;
	int		 tls_always_on;
};

/* An event callback.  payload: a struct gd_config_event for the daemon's
 * config_change events, a struct gd_server_event for its server_change
 * events, and whatever gd_publish was given for a program's own (NULL
 * when none).  Runs on the thread that publishes: the daemon's control
 * path (the caller of gd_reopen_logs, gd_start, ...), never a worker. */
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
	    GD_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif

#endif
