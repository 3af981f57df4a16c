/*
 * smtp.h - the SMTP protocol state machine (SPEC section 3), with no I/O.
 *
 * The caller (server.c, a unit test, a fuzzer) feeds received bytes with
 * smtp_input() and sends whatever appears in s->out.  When the protocol
 * needs the backend (validate a recipient, save a message) or the transport
 * (STARTTLS, close), smtp_input() stops and reports an event; the caller
 * acts and reports back with smtp_validate_done() / smtp_save_done() /
 * smtp_tls_started().  smtp.c never reads a socket, a clock or a file.
 *
 * Bounds: a command line is at most SMTP_LINE_MAX octets; the reply
 * buffer is fixed (smtp_input stops consuming while it is nearly full);
 * the message body is bounded by max_size (SMTP-48).
 *
 * Caller contract (server.c):
 *  - The input buffer must hold at least SMTP_LINE_MAX octets, or a long
 *    but legal command line can never be presented whole.
 *  - Unconsumed input is kept and presented again: after SMTP_EV_NONE
 *    (incomplete line, or s->out nearly full: flush first), and after
 *    SMTP_EV_VALIDATE / SMTP_EV_SAVE once the *_done call was made
 *    (pipelined commands after a RCPT or after the data terminator).
 *  - After SMTP_EV_STARTTLS the rest of the input buffer is discarded
 *    (SMTP-52); flush s->out in plaintext before the handshake.
 *  - Between SMTP_EV_VALIDATE/SMTP_EV_SAVE and the *_done call the worker
 *    owns s->env (ENV-10); smtp_timeout/eof/shutdown do not touch it then.
 *  - smtp_shutdown may be called any number of times; when a session comes
 *    back to command state with s->shutting_down set (after
 *    smtp_validate_done or smtp_tls_started), call it again so the idle
 *    session gets its 421 at once.  smtp_save_done does this itself.
 *  - Out of memory in env_* is our own temporary trouble: the reply is
 *    "451 4.3.0 Error: out of memory" and the session continues (for DATA
 *    the transaction is reset).
 */
#ifndef GD_SMTP_H
#define GD_SMTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cfg_server;
struct gd_envelope;
struct gd_address;

#define SMTP_LINE_MAX		1024	/* octets including CRLF (SMTP-12) */
#define SMTP_OUT_MAX		8192	/* reply buffer */
#define SMTP_OUT_ROOM		1024	/* stop consuming when less is free */
#define SMTP_MAX_RCPT		100	/* SMTP-27 */
#define SMTP_MAX_UNRECOGNIZED	5	/* SMTP-15 */
#define SMTP_DISCARD_EXTRA	1024000	/* SMTP-48: close once more than
					   max_size + this were discarded */
#define SMTP_REPLY_MAX		512	/* one reply line incl. CRLF (RFC 5321
					   4.5.3.1.5); longer text is cut */

enum smtp_state {
	SMTP_S_GREETING,	/* before smtp_greet */
	SMTP_S_COMMAND,
	SMTP_S_DATA,
	SMTP_S_WAIT_VALIDATE,	/* SMTP_EV_VALIDATE reported, awaiting result */
	SMTP_S_WAIT_SAVE,	/* SMTP_EV_SAVE reported, awaiting result */
	SMTP_S_STARTTLS,	/* SMTP_EV_STARTTLS reported */
	SMTP_S_CLOSING		/* SMTP_EV_CLOSE reported: flush and close */
};

enum smtp_event {
	SMTP_EV_NONE = 0,	/* consumed what it could: feed more or flush */
	SMTP_EV_VALIDATE,	/* validate env's last recipient, then smtp_validate_done */
	SMTP_EV_SAVE,		/* env holds a complete message: save it, then smtp_save_done */
	SMTP_EV_STARTTLS,	/* flush out, discard unread input, handshake, smtp_tls_started */
	SMTP_EV_CLOSE		/* flush out, then close the connection */
};

/* Relay check callback (CFG-06): is this recipient domain allowed? */
typedef int (*smtp_allowed_fn)(void *arg, const char *domain, int is_ip);

/* Optional trace hook for debug logs (LOG-04): called with every command
 * line received (incoming = 1, line ending removed) and every reply line
 * queued (incoming = 0, without CRLF).  The bytes are raw client bytes:
 * escape them before logging. */
typedef void (*smtp_trace_fn)(void *arg, int incoming, const char *p,
    size_t n);

struct smtp_session {
	const struct cfg_server	*cfg;
	struct gd_envelope	*env;
	smtp_allowed_fn		 allowed;
	void			*allowed_arg;
	int			 have_validate;	/* a validate_process chain exists */
	const char		*version;	/* for the greeting */
	smtp_trace_fn		 trace;		/* NULL = none; set after smtp_init */
	void			*trace_arg;

	enum smtp_state		 state;
	int			 in_tx;		/* MAIL accepted (also for "<>") */
	int			 unrecognized;	/* SMTP-15, never reset */
	int			 shutting_down;
	int			 said_bye;	/* the close followed QUIT's 221 */
	int			 tls_active;
	int			 job_replied;	/* smtp_job_timeout answered */
	int			 xclient_untrusted; /* peer not in xclient_trusted:
					  * XCLIENT gets 550 5.7.0 (set by
					  * the caller after smtp_init) */
	int			 line_done;	/* set when a full line was consumed */
	uint64_t		 messages;	/* successful saves (SMTP-56) */

	/* DATA decoder (SMTP-45..48) */
	int			 dstate;
	int			 d_toobig;
	int			 d_bare_lf;
	int			 d_nomem;	/* env_data_append failed: 451 at the end */
	unsigned long long	 d_size;	/* decoded octets of this message */
	unsigned long long	 d_discarded;	/* decoded octets beyond max_size */

	/* The reply buffer, SMTP_OUT_MAX bytes, lent by the caller after
	 * smtp_init and before any call that may reply (server.c lends one
	 * only while there is something to say, so idle sessions cost no
	 * buffer).  NULL: replies are dropped. */
	char			*out;
	size_t			 outlen;
};

/* smtp_init - a fresh session for env (whose connection fields the caller
 * has filled).  cfg, env and allowed_arg are borrowed. */
void	smtp_init(struct smtp_session *s, const struct cfg_server *cfg,
	    struct gd_envelope *env, smtp_allowed_fn allowed, void *allowed_arg,
	    int have_validate);

/* smtp_greet - queue the 220 greeting (SMTP-10); active counts sessions
 * of this server including this one; now is wall-clock time. */
void	smtp_greet(struct smtp_session *s, unsigned long active, time_t now);

/*
 * smtp_input - process received bytes; returns how many were consumed.
 * In command state only whole lines are consumed (an incomplete line is
 * left for the caller to present again with more bytes; a line over
 * SMTP_LINE_MAX gets 554 and SMTP_EV_CLOSE).  Stops early, with *ev set,
 * at an event, and also (with SMTP_EV_NONE) when s->out has less than
 * SMTP_OUT_ROOM free, so the caller must flush and call again.  In data
 * state everything up to and including the terminator is consumed.  While
 * waiting (validate, save, STARTTLS) it consumes nothing; once closing it
 * consumes nothing and reports SMTP_EV_CLOSE again.
 */
size_t	smtp_input(struct smtp_session *s, const char *buf, size_t len,
	    enum smtp_event *ev);

/* smtp_validate_done - outcome of SMTP_EV_VALIDATE, as the reply that
 * guerrilla.h's table gives for r after RCPT: OK keeps the recipient,
 * anything else removes it again.  Ignored in any other state (e.g. after
 * smtp_timeout closed the session). */
void	smtp_validate_done(struct smtp_session *s, const struct gd_result *r);

/* smtp_save_done - outcome of SMTP_EV_SAVE, as the reply that
 * guerrilla.h's table gives for r after DATA (queued as the envelope's
 * queued_id); only OK counts as a message received.  Resets the
 * transaction.  Returns SMTP_EV_CLOSE when the session must now end
 * (shutdown), else NONE.  Ignored (NONE) in any other state. */
enum smtp_event smtp_save_done(struct smtp_session *s,
		    const struct gd_result *r);

/* smtp_job_timeout - the backend job overran its timeout (BE-06 [DEV]):
 * queue "451 4.3.0 Error: transaction timeout" (save) or "451 4.3.0
 * Error: storage timeout" (validate) now.  The session keeps waiting; the
 * later smtp_save_done / smtp_validate_done then only resets (the recipient
 * is dropped) and sends nothing more. */
void	smtp_job_timeout(struct smtp_session *s);

/* smtp_tls_started - handshake done: forget HELO/ESMTP/transaction
 * (SMTP-53), set the TLS flag. */
void	smtp_tls_started(struct smtp_session *s);

/* smtp_timeout - the per-line deadline passed (SMTP-59): in command state
 * queue 421 4.4.2; in data close without storing (transaction reset, no
 * reply).  Returns SMTP_EV_CLOSE. */
enum smtp_event smtp_timeout(struct smtp_session *s);

/* smtp_shutdown - the server is stopping (SMTP-61).  An idle session in
 * command state (or not yet greeted) gets the 421 at once (returns
 * SMTP_EV_CLOSE); one in data or waiting for the backend finishes and gets
 * the 421 after its reply.  Safe to call again (see the caller contract). */
enum smtp_event smtp_shutdown(struct smtp_session *s);

/* smtp_eof - the peer closed or the read failed: in data queue
 * "451 4.3.0 Error: <reason>" (SMTP-49; reason NULL or "" reads
 * "connection closed") and reset the transaction; no reply in other
 * states.  Returns SMTP_EV_CLOSE. */
enum smtp_event smtp_eof(struct smtp_session *s, const char *reason);

/* smtp_drain - n bytes of s->out were sent. */
void	smtp_drain(struct smtp_session *s, size_t n);

/* ---- parsers, exposed for tests and fuzzers ---- */

/* Address errors (SMTP-35), in the order they are checked. */
enum smtp_addr_err {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_PATH_TOO_LONG = -1,	/* 550 5.5.4 Path too long */
	SMTP_ADDR_INVALID = -2,		/* 501 5.5.4 Invalid address */
	SMTP_ADDR_LOCAL_TOO_LONG = -3,	/* 550 5.5.4 Local part too long ... */
	SMTP_ADDR_DOMAIN_TOO_LONG = -4,	/* 550 5.5.4 Domain cannot exceed ... */
	SMTP_ADDR_NOMEM = -5,		/* 451 4.3.0 Error: out of memory */
	SMTP_ADDR_PARAMS = -6		/* 501 5.5.4 Syntax error in parameters */
};

/*
 * smtp_parse_path - parse the argument of MAIL FROM: / RCPT TO: (without
 * the verb, one leading space allowed): "<path>" then optional parameters.
 * is_rcpt enables "<postmaster>" (domain := host_name).  On success *a is
 * filled (its params/adl owned by it); on failure *a owns nothing.
 * Returns an enum smtp_addr_err.
 * The parameter list grammar (SMTP-21: keyword ["=" value] separated by
 * spaces) is checked here (SMTP_ADDR_PARAMS) after the address limits;
 * what the keywords mean (SIZE, BODY, unknown ones: SMTP-25) is the
 * command handlers' business, done on a->params.
 */
int	smtp_parse_path(const char *arg, size_t len, int is_rcpt,
	    const char *host_name, struct gd_address *a);

/* smtp_valid_domain - SMTP-17 domain syntax (sub-domains), no literal;
 * 1 when valid, else 0. */
int	smtp_valid_domain(const char *s, size_t len);

#endif
