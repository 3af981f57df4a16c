/*
 * server.h - the listeners and the poll loop (SPEC 3.1, 3.14, 3.15).
 *
 * One I/O thread runs the loop: it accepts, reads, feeds smtp.c, writes
 * replies, submits jobs to the backend and picks up their results from the
 * backend's wake-up pipe.  It never blocks: no disk, no DNS, no fsync.
 */
#ifndef GD_SERVER_H
#define GD_SERVER_H

#include <stddef.h>

struct cfg_app;
struct backend;
struct logger;

struct srv;

/* srv_new - bind a listener for every enabled server of app (SMTP-01),
 * before privileges are dropped.  app and log are borrowed and must
 * outlive the srv.  NULL with every error in err ("\n"-separated) when one
 * cannot listen (CFG-11). */
struct srv	*srv_new(const struct cfg_app *app, struct logger *log,
		    char *err, size_t errlen);
/* srv_start - run the poll loop on a new thread, feeding backend b
 * (borrowed; it must outlive the loop). */
int		 srv_start(struct srv *s, struct backend *b, char *err,
		    size_t errlen);
/* srv_shutdown - stop accepting, send 421 to idle sessions, let sessions
 * in data or waiting for the backend finish, wait up to timeout_ms for
 * the loop to end (SMTP-61).  Returns 0, or -1 if time ran out. */
int		 srv_shutdown(struct srv *s, long timeout_ms);
/* srv_reopen_logs - reopen the servers' own log files (OPS-10); called
 * on the control thread (log_reopen swaps the fd under the log's lock). */
int		 srv_reopen_logs(struct srv *s);
/* srv_tls_reload - TLS-07: reload the certificate/key of every TLS
 * server whose files changed on disk (for new sessions; live ones keep
 * theirs).  Failures are logged and keep the old files; -1 if any.  Safe
 * on the control thread while the loop runs. */
int		 srv_tls_reload(struct srv *s);
void		 srv_free(struct srv *s);

#endif
