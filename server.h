/*
 * server.h - the listeners and the poll loops (SPEC 3.1, 3.14, 3.15, 8.4).
 *
 * io_threads loops each run poll() over their own connections and the
 * listeners (loop 0 always, the others while loop 0 is busy: srv_spill):
 * they accept, read, feed smtp.c, write replies, submit jobs to the
 * backend and pick up results from their own done queue.  They never
 * block: no disk, no DNS, no fsync.  The control thread (the caller of
 * these functions) changes what the loops share - listeners, the current
 * config, the backend - only while every loop is paused at a barrier, so
 * the loops read shared state without locks.
 */
#ifndef GD_SERVER_H
#define GD_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct cfg_app;
struct backend;
struct logger;

struct srv;

/* srv_new - bind a listener for every enabled server of app, before
 * privileges are dropped.  app is a shared config (cfg_share); the srv
 * takes a reference.  log and version (the greeting's) are borrowed and
 * must outlive the srv.  NULL with every error in err ("\n"-separated)
 * when one cannot listen. */
struct srv	*srv_new(struct cfg_app *app, struct logger *log,
		    const char *version, char *err, size_t errlen);
/* srv_start - run the poll loops (app io_threads, 0 = online CPUs) on new
 * threads, feeding backend b (borrowed; it must outlive its use: see
 * srv_reload). */
int		 srv_start(struct srv *s, struct backend *b, char *err,
		    size_t errlen);
/* srv_nloops - how many I/O loops srv_start will run (io_threads). */
int		 srv_nloops(const struct srv *s);
/* srv_spill - with io_threads > 1, who accepts (exposed for its test).
 * Loop 0 takes every new connection while it has time to spare: spreading
 * light traffic over loops on several CPUs costs more CPU per message than
 * the work itself (cross-CPU wake-ups: +20% in make bench d on 2 cores).
 * Once loop 0 was busy - outside poll() or on a CPU, whichever is more -
 * for 90% of a 100 ms window (busy0_pm >= 900 per mille), every loop
 * accepts ("spill", 1).  That lasts at least a second (since_us: time in
 * this state), and until all the loops together were busy for at most
 * half of one loop's window (total_pm <= 500): a loop that just began to
 * accept has not reported its share yet.  Returns the next spill state. */
int		 srv_spill(int spill, int busy0_pm, int total_pm,
		    int64_t since_us);
/* srv_reload - hot reload (SPEC 8.4): bind listeners for servers that are
 * new or newly enabled and build TLS contexts for the new config first;
 * if any of that fails nothing changes (-1, every error in err).  Then,
 * with the loops paused: the new config becomes current (allowed_hosts
 * and per-server timeouts apply to live sessions from their next use;
 * host_name, max_size and the rest to new sessions), listeners of
 * removed or disabled servers close and their sessions get the shutdown
 * treatment of SMTP-61, server logs are re-pointed or reopened, log
 * levels set, and nb (when not NULL) replaces the backend for new jobs;
 * jobs already with the old backend come home as before, so the caller
 * may drain and free the old backend once this returns.  app: shared
 * config, the srv takes a reference. */
int		 srv_reload(struct srv *s, struct cfg_app *app,
		    struct backend *nb, int level, char *err, size_t errlen);
/* srv_shutdown - stop accepting, send 421 to idle sessions, let sessions
 * in data or waiting for the backend finish, wait up to timeout_ms for
 * the loops to end (SMTP-61).  Returns 0, or -1 if time ran out. */
int		 srv_shutdown(struct srv *s, long timeout_ms);
/* srv_reopen_logs - reopen the servers' own log files (OPS-10); called
 * on the control thread (log_reopen swaps the fd under the log's lock). */
int		 srv_reopen_logs(struct srv *s);
/* srv_tls_reload - TLS-07: reload the certificate/key of every TLS
 * server whose files changed on disk (for new sessions; live ones keep
 * theirs).  Failures are logged and keep the old files; -1 if any.  Safe
 * on the control thread while the loops run. */
int		 srv_tls_reload(struct srv *s);
void		 srv_free(struct srv *s);

#endif
