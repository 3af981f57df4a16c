/*
 * stores.h - the store connections that the storage processors share
 * (internal; not installed): Redis (p_redis.c, p_guerrilladbredis.c) and
 * MySQL/MariaDB (p_sql.c, p_guerrilladbredis.c).
 *
 * One idea: a single connection to a store, owned by one processor
 * instance (DESIGN rule 3: no locks), with the house failure policy
 * written once - any error drops the connection and the next job
 * reconnects; an idle connection that died since the last job is noticed
 * before use (Redis: retried once on a new connection); a caller turns a
 * failure into "451 4.3.0 Error: storage not available", never a 250.
 * The wire protocols live in stores.c (RESP2) and mysql_proto.c.
 * Everything here blocks (with deadlines) and runs on a worker thread.
 */
#ifndef GD_STORES_H
#define GD_STORES_H

#include <stddef.h>
#include <stdint.h>

#include "processors/mysql_proto.h"

struct json_value;
struct gd_envelope;

/* ---- Redis (RESP2) ---- */

#define ST_RD_REPLY_MAX	16384	/* one reply; ours are "+OK" */

struct st_redis {
	char		host[256];
	char		port[16];
	long long	expire;		/* redis_expire_seconds */
	const char	*password;	/* points into bcfg; NULL = no AUTH */
	long long	db;		/* 0 = no SELECT */
	int		fd;		/* -1 = not connected */
	int		timedout;	/* the last error was a timeout */
	char		err[512];	/* the last error, for the log */
	char		buf[ST_RD_REPLY_MAX];
	size_t		len;
};

void	st_redis_init(struct st_redis *r);
/* st_redis_config - read and check redis_interface, redis_expire_seconds
 * (both required), redis_password and redis_db (optional) from the flat
 * backend config (CFG-08), then connect: a failure is GG's "redis cannot
 * connect, check your settings: <err>".  0 or -1 with err. */
int	st_redis_config(struct st_redis *r, const struct json_value *bcfg,
	    char *err, size_t errlen);
/* st_redis_setex - SETEX key <expire> value, value being v[0..vl-1]
 * followed by tail[0..tlen-1] (so header + data need no copy).  Connects
 * when needed; a connection kept from an earlier job that turns out dead
 * is retried once on a fresh one (same key and value: harmless); a
 * timeout is not retried.  0, or -1 with r->err set and the connection
 * dropped (the next call reconnects). */
int	st_redis_setex(struct st_redis *r, const char *key, const void *v,
	    size_t vl, const void *tail, size_t tlen);
void	st_redis_close(struct st_redis *r);

/* st_resp_parse - one complete RESP2 reply at the start of buf: its
 * length (> 0), 0 when more bytes are needed, -1 when the bytes are not
 * RESP2 or break a limit.  *type is the top-level type byte, *n its
 * integer / length.  Never allocates (tests/t_store.c drives it). */
long	st_resp_parse(const char *buf, size_t len, int *type, long long *n);

/* ---- MySQL / MariaDB ---- */

#define ST_STR_MAX	255	/* GG's trimToLimit */

struct st_sql {
	struct my_dsn	 dsn;
	struct my_conn	 conn;
	char		*table;		/* mail_table */
	char		*insert;	/* the prepared statement (caller's) */
	unsigned	 nparams;	/* placeholders it must have */
	int64_t		 lifetime_ms;	/* 0 = forever */
	uint32_t	 stmt;
	int		 ready;		/* connected and prepared */
};

void	st_sql_init(struct st_sql *s);
/* st_sql_clear - close and free; s can be configured again. */
void	st_sql_clear(struct st_sql *s);
/* st_sql_config - read mail_table, sql_driver (must be "mysql"), sql_dsn
 * (required), sql_max_conn_lifetime (optional duration) and accept
 * sql_max_open_conns / sql_max_idle_conns (one connection per instance).
 * 0 or -1 with err. */
int	st_sql_config(struct st_sql *s, const struct json_value *bcfg,
	    char *err, size_t errlen);
/* st_sql_open - connect, check access with "SELECT mail_id FROM <table>
 * LIMIT 1" (when check), prepare s->insert and insist on s->nparams
 * placeholders.  s->insert (malloc'd, freed by st_sql_clear) and
 * s->nparams are set by the caller first.  0 or -1 with err. */
int	st_sql_open(struct st_sql *s, int check, char *err, size_t errlen);
/*
 * st_sql_rows - execute the prepared insert n times (inside one
 * transaction when n > 1), fill(arg, i, prm) binding row i's s->nparams
 * parameters.  Reconnects first when the idle connection died or
 * outlived sql_max_conn_lifetime.  0, or -1 with why: a server error
 * rolls back and keeps the connection; anything else drops it.
 */
int	st_sql_rows(struct st_sql *s, size_t n,
	    void (*fill)(void *arg, size_t i, struct my_param *prm),
	    void *arg, char *why, size_t whylen);
void	st_sql_close(struct st_sql *s);

/* Row helpers. */
/* st_clean - s (NULL = "") for a utf8mb4 VARCHAR(255): trimmed, invalid
 * UTF-8 replaced, cut at a character boundary.  out: ST_STR_MAX + 1. */
size_t	st_clean(const char *s, char *out);
/* st_ip_bytes - the client IP as 4 or 16 raw bytes (GG's ip_addr
 * column); returns the length, 0 when the text is not an address. */
size_t	st_ip_bytes(const char *ip, unsigned char out[16]);
void	st_str_param(struct my_param *p, const char *s);

#endif
