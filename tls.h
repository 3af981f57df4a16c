/*
 * tls.h - BearSSL glue: PEM loading, per-server TLS contexts, and moving
 * TLS records between a non-blocking socket and a BearSSL engine
 * (SPEC 3.3, 3.12, 7.4).
 *
 * A server's struct tls_ctx is built once at start (tls_ctx_new) from its
 * cfg_tls; it holds the parsed certificate chain, private key, trust
 * anchors and suite list.  Each TLS session (struct tls_conn) takes a
 * reference on the material current when it starts, so a certificate
 * reload (tls_ctx_reload_if_changed, TLS-07) only affects new sessions.
 *
 * Nothing here blocks: tls_pump does non-blocking send/recv and reports
 * what it could do; the caller derives its poll events from tls_events.
 * Renegotiation is always off.
 *
 * Memory per TLS session: one allocation of about 30 KiB (the engine
 * context, the X.509 validator, a 16709-octet input record buffer and a
 * 4181-octet output record buffer); plain sessions pay nothing.  Each
 * server's material adds a 25.6 KiB session cache (256 resumable
 * sessions).
 */
#ifndef GD_TLS_H
#define GD_TLS_H

#include <stddef.h>

struct cfg_server;
struct logger;

struct tls_ctx;
struct tls_conn;

/* tls_ctx_new - load the key pair, CA file, protocols, suites and curves
 * of cfg->tls.  log (borrowed, may be NULL) receives warnings (TLS-02
 * clamp, TLS-03 skipped suites).  NULL on failure with err set to
 * "cannot use TLS config for [<listen_interface>], <reason>" (TLS-01).
 * cfg is borrowed and must outlive the context. */
struct tls_ctx	*tls_ctx_new(const struct cfg_server *cfg, struct logger *log,
		    char *err, size_t errlen);

/* tls_ctx_reload_if_changed - TLS-07: if the key, certificate or CA
 * file's modification time (or size) changed since the last load, build
 * new material for sessions started from now on.  Returns 0 when nothing
 * changed, 1 when reloaded, -1 when the new files cannot be used (err set
 * as for tls_ctx_new; the old material stays).  Thread-safe against
 * tls_conn_new / tls_conn_free on another thread. */
int		 tls_ctx_reload_if_changed(struct tls_ctx *ctx, char *err,
		    size_t errlen);

/* tls_ctx_hold - one more reference: a hot reload that keeps a server's
 * TLS settings shares its context, session cache included. */
struct tls_ctx	*tls_ctx_hold(struct tls_ctx *ctx);
/* tls_ctx_set_cfg - read file names from cfg from now on (an equal config
 * that replaced the one given to tls_ctx_new; it must outlive the
 * context's use by tls_ctx_reload_if_changed).  Control thread only. */
void		 tls_ctx_set_cfg(struct tls_ctx *ctx, const struct cfg_server *cfg);

/* tls_ctx_free - drop a reference; the last one frees the context.
 * Sessions still running keep the material they started with until
 * tls_conn_free. */
void		 tls_ctx_free(struct tls_ctx *ctx);

/* tls_conn_new - a server-side session on the current material, ready for
 * the ClientHello.  NULL (err set) when out of memory or the engine cannot
 * start. */
struct tls_conn	*tls_conn_new(struct tls_ctx *ctx, char *err, size_t errlen);
void		 tls_conn_free(struct tls_conn *t);

/* tls_pump - non-blocking socket I/O for the engine: send every pending
 * record until the socket would block; when rd is set and the engine
 * wants records (and holds no unread plaintext), receive until the socket
 * would block.  Returns TLS_CLOSED when the session is over (peer EOF,
 * close_notify, socket or protocol error: see tls_error), 1 when
 * something moved, 0 when nothing could. */
#define TLS_CLOSED	(-1)
int		 tls_pump(struct tls_conn *t, int fd, int rd);

/* tls_feed - give the engine ciphertext already read from the socket
 * (bytes after a PROXY header); returns how many it took. */
size_t		 tls_feed(struct tls_conn *t, const char *buf, size_t len);

/* tls_recvapp - copy up to len plaintext octets out of the engine (no
 * I/O); 0 when none is buffered. */
size_t		 tls_recvapp(struct tls_conn *t, char *buf, size_t len);

/* tls_sendapp - copy up to len plaintext octets into the engine and ask
 * it to make records (no I/O; tls_pump sends them); 0 when it cannot take
 * any now (handshake, or output records not yet sent). */
size_t		 tls_sendapp(struct tls_conn *t, const char *buf, size_t len);

/* tls_handshake_done - 1 once the handshake finished and the peer
 * passed the client-certificate policy, 0 while it runs, -1 when the
 * client certificate is refused (VerifyClientCertIfGiven, see tls.c). */
int		 tls_handshake_done(struct tls_conn *t);

/* tls_events - poll events the engine needs: POLLOUT while records wait
 * to be sent, POLLIN when it wants records and rd is set. */
short		 tls_events(struct tls_conn *t, int rd);

int		 tls_app_pending(struct tls_conn *t);	/* plaintext buffered */
int		 tls_out_pending(struct tls_conn *t);	/* records unsent */

/* tls_close - queue a close_notify (best effort; send it with
 * tls_pump). */
void		 tls_close(struct tls_conn *t);

/* tls_error - why the session ended or failed, for logs ("" if clean). */
const char	*tls_error(struct tls_conn *t);

/* tls_describe - "TLS1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" of an
 * established session, for logs. */
void		 tls_describe(struct tls_conn *t, char *buf, size_t len);

#endif
