/*
 * p_guerrilladbredis.c - GuerrillaDbRedis (PROC-41, registry name
 * "GuerrillaRedisDB"), Guerrilla Mail's all-in-one processor: the
 * message goes to Redis, and one row per recipient that points at it
 * goes to MySQL/MariaDB, in GG's table layout (processors/sql_schema.sql).
 *
 * On save, by itself (it needs no HeadersParser, Header or Hasher):
 *   to    = <rcpt0 local part, trimmed>@<primary_mail_host>
 *   hash  = MD5 hex of (to ‖ sender printed ‖ decoded subject ‖ unix time
 *           in ns), the queued id and the Redis key
 *   text  = GG's delivery header with CRLF line ends (PROC-41):
 *             Delivered-To: <to>
 *             Received: from <ip> ([<ip>])
 *             	by <rcpt0 domain> with <proto> id <hash>@<rcpt0 domain>;
 *             	<date>
 *           followed by the message data
 *   SETEX <hash> <redis_expire_seconds> zlib(text)      (level 1, as GG)
 *   INSERT one row per recipient: to = <rcpt local>@<primary_mail_host>
 *           (also `recipient`, as GG), from, subject, body "redis",
 *           charset 'UTF-8', mail "", hash, ip_addr (4 or 16 raw bytes),
 *           return_path, is_tls, plus content_type, message_id, reply_to
 *           and sender as the SQL processor fills them.
 * Redis is written first, so a row never points at a missing key.
 *
 * Config: mail_table, sql_driver, sql_dsn, redis_interface,
 * redis_expire_seconds, primary_mail_host (required); sql_max_conn_lifetime,
 * redis_password, redis_db (optional, as for SQL and Redis);
 * redis_sql_batch_timeout and save_workers_size are not read (no batcher).
 * Init connects to both stores and checks the table, like Redis and SQL.
 *
 * [DEV] GG's bugs are not reproduced (GAP-18).  GG answers 250 before the
 * row exists: rows go to asynchronous batchers (50 rows or 3 s), one set
 * per instance, whose errors are only logged, that re-run a failed batch
 * three more times even after a retry succeeded (duplicate rows) and read
 * redis_sql_batch_timeout as nanoseconds; its Redis connection never
 * reconnects; it leaves message_id unset (a NOT NULL column without
 * default: strict servers refuse every row); it stores most IPv6 client
 * addresses as an empty value and only the first recipient.  Here the
 * rows of a message are inserted (one transaction) before the chain goes
 * on; any Redis or SQL failure answers "451 4.3.0 Error: storage not
 * available" (GG falls back to a compressed row with body "gzencode" when
 * Redis fails; we let the sender retry instead), and the connection is
 * dropped and reopened by the next job (stores.c).  A key written before
 * an SQL failure is left to expire.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bearssl.h>

#include "guerrilla.h"
#include "processors/builtins.h"
#include "processors/stores.h"

#define GR_NPARAMS	12	/* "?" in the insert below */
#define GR_LOCAL_MAX	128	/* the longest local part RCPT accepts */
#define GR_DOMAIN_MAX	255
#define GR_IP_MAX	46	/* INET6_ADDRSTRLEN */

struct gr {
	struct gd_ctx	*ctx;
	struct st_redis	 rd;
	struct st_sql	 sql;
	char		 host[ST_STR_MAX + 1];	/* primary_mail_host */
};

static void *
gr_create(struct gd_ctx *ctx, void *user)
{
	struct gr *g = malloc(sizeof(*g));

	(void)user;
	if (g == NULL)
		return NULL;
	memset(g, 0, sizeof(*g));
	g->ctx = ctx;
	st_redis_init(&g->rd);
	st_sql_init(&g->sql);
	return g;
}

static int
gr_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct gr *g = inst;
	const char *host;
	char why[GD_ERROR_MAX];
	size_t n;

	st_sql_clear(&g->sql);	/* init may be retried (BE-11) */
	st_redis_close(&g->rd);
	if (gd_config_str(bcfg, "primary_mail_host", 1, &host, err,
	    errlen) != 0 ||
	    st_sql_config(&g->sql, bcfg, err, errlen) != 0)
		return -1;
	if (strlen(host) > ST_STR_MAX || strpbrk(host, "\r\n") != NULL) {
		snprintf(err, errlen, "primary_mail_host must be one line of "
		    "at most %d bytes", ST_STR_MAX);
		return -1;
	}
	gd_strlcpy(g->host, host, sizeof(g->host));
	n = strlen(g->sql.table) + 512;
	if ((g->sql.insert = malloc(n)) == NULL) {
		snprintf(err, errlen, "GuerrillaRedisDB: out of memory");
		return -1;
	}
	snprintf(g->sql.insert, n, "INSERT INTO %s (`date`, `to`, `from`, "
	    "`subject`, `body`, `charset`, `mail`, `spam_score`, `hash`, "
	    "`content_type`, `recipient`, `has_attach`, `ip_addr`, "
	    "`return_path`, `is_tls`, `message_id`, `reply_to`, `sender`) "
	    "VALUES (NOW(), ?, ?, ?, 'redis', 'UTF-8', '', 0, ?, ?, ?, 0, ?, "
	    "?, ?, ?, ?, ?)", g->sql.table);
	g->sql.nparams = GR_NPARAMS;
	if (st_redis_config(&g->rd, bcfg, err, errlen) != 0)
		return -1;
	if (st_sql_open(&g->sql, 1, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "GuerrillaRedisDB: sql: %s", why);
		st_redis_close(&g->rd);
		return -1;
	}
	return 0;
}

/* gr_to - "<local part, trimmed>@<primary_mail_host>", cleaned. */
static void
gr_to(const struct gr *g, const char *local, char *out)
{
	const char *lb, *le;
	char buf[GR_LOCAL_MAX + ST_STR_MAX + 2];

	for (lb = local; *lb == ' ' || *lb == '\t'; lb++)
		;
	for (le = lb + strlen(lb); le > lb && (le[-1] == ' ' ||
	    le[-1] == '\t'); le--)
		;
	snprintf(buf, sizeof(buf), "%.*s@%s", (int)(le - lb), lb, g->host);
	st_clean(buf, out);
}

/* The values of one message; rows differ only by recipient. */
struct gr_row {
	const struct gr		*g;
	const struct gd_envelope *e;
	char	from[ST_STR_MAX + 1], subj[ST_STR_MAX + 1];
	char	hash[2 * br_md5_SIZE + 1], ctype[ST_STR_MAX + 1];
	char	to[ST_STR_MAX + 1], mid_h[ST_STR_MAX + 1];
	char	mid[ST_STR_MAX + 1], reply_to[ST_STR_MAX + 1];
	char	sender[ST_STR_MAX + 1];
	unsigned char ip[16];
	size_t	ip_len;
};

/* header_addr - the first address of header name, printed, cleaned
 * for the column; "" when absent or unparsable. */
static void
header_addr(const struct gd_envelope *e, const char *name, char *out)
{
	char buf[1024];

	(void)gd_env_header_address(e, name, buf, sizeof(buf));
	st_clean(buf, out);
}

static void
gr_fill(void *arg, size_t i, struct my_param *prm)
{
	struct gr_row *w = arg;
	const struct gd_envelope *e = w->e;
	char buf[1024];

	gr_to(w->g, gd_env_rcpt_local(e, i), w->to);
	if (w->mid_h[0] != '\0')
		memcpy(w->mid, w->mid_h, sizeof(w->mid));
	else {
		snprintf(buf, sizeof(buf), "%s.%s@%s", w->hash,
		    gd_env_rcpt_local(e, i), w->g->host);
		st_clean(buf, w->mid);
	}
	st_str_param(&prm[0], w->to);
	st_str_param(&prm[1], w->from);
	st_str_param(&prm[2], w->subj);
	st_str_param(&prm[3], w->hash);
	st_str_param(&prm[4], w->ctype);
	st_str_param(&prm[5], w->to);		/* recipient, as GG */
	prm[6].type = MY_P_BLOB;
	prm[6].p = w->ip;
	prm[6].len = w->ip_len;
	st_str_param(&prm[7], w->from);		/* return_path */
	prm[8].type = MY_P_INT;
	prm[8].i = gd_env_tls(e) ? 1 : 0;
	st_str_param(&prm[9], w->mid);
	st_str_param(&prm[10], w->reply_to);
	st_str_param(&prm[11], w->sender);
}

/* gr_hash - MD5 hex of to ‖ from ‖ subject ‖ ns time (GG's layout);
 * the time is gd_ctx_time_ns(), pinned when a test pins the clock. */
static void
gr_hash(const struct gd_ctx *ctx, const char *to, const char *from,
    const char *subj, char *out)
{
	static const char hex[] = "0123456789abcdef";
	br_md5_context md;
	unsigned char sum[br_md5_SIZE];
	char ts[32];
	size_t k;
	int n;

	n = snprintf(ts, sizeof(ts), "%lld", gd_ctx_time_ns(ctx));
	br_md5_init(&md);
	br_md5_update(&md, to, strlen(to));
	br_md5_update(&md, from, strlen(from));
	br_md5_update(&md, subj, strlen(subj));
	br_md5_update(&md, ts, n > 0 ? (size_t)n : 0);
	br_md5_out(&md, sum);
	for (k = 0; k < sizeof(sum); k++) {
		out[2 * k] = hex[sum[k] >> 4];
		out[2 * k + 1] = hex[sum[k] & 15];
	}
	out[2 * k] = '\0';
}

/* p_guerrilladbredis_hash - gr_hash for tests/t_store.c (declared there,
 * not in a header: nothing else should need it). */
void	p_guerrilladbredis_hash(const struct gd_ctx *ctx, const char *to,
	    const char *from, const char *subj, char *out);

void
p_guerrilladbredis_hash(const struct gd_ctx *ctx, const char *to,
    const char *from, const char *subj, char *out)
{
	gr_hash(ctx, to, from, subj, out);
}

static void
gr_save(struct gr *g, struct gd_envelope *e, struct gd_next *next,
    struct gd_result *res)
{
	struct gr_row *w = NULL;
	char buf[1024], why[GD_ERROR_MAX], head[2048], to0[ST_STR_MAX + 1];
	char ip[GR_IP_MAX + 1], dom[GR_DOMAIN_MAX + 1], date[64];
	char proto[8], to_h[ST_STR_MAX + 1];
	unsigned char *z = NULL;
	size_t zl = 0;
	int n;

	if (gd_env_rcpt_count(e) == 0) {	/* only through the API */
		gd_next(next, e, GD_TASK_SAVE, res);
		return;
	}
	if (!gd_env_headers_parsed(e) &&
	    gd_env_parse_headers(e, why, sizeof(why)) != 0)
		gd_log(g->ctx, GD_LOG_ERROR, "GuerrillaRedisDB: failed to "
		    "parse headers: %s", why);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto oom;
	w->g = g;
	w->e = e;
	(void)gd_env_from_print(e, buf, sizeof(buf));
	st_clean(buf, w->from);
	st_clean(gd_env_subject(e), w->subj);
	gr_to(g, gd_env_rcpt_local(e, 0), to0);
	gr_hash(g->ctx, to0, w->from, w->subj, w->hash);
	(void)gd_env_set_queued_id(e, w->hash);
	st_clean(gd_env_header(e, "Content-Type"), w->ctype);
	header_addr(e, "Message-Id", w->mid_h);
	header_addr(e, "Reply-To", w->reply_to);
	header_addr(e, "Sender", w->sender);
	w->ip_len = st_ip_bytes(gd_env_remote_ip(e), w->ip);

	snprintf(proto, sizeof(proto), "%sSMTP%s", gd_env_esmtp(e) ? "E" : "",
	    gd_env_tls(e) ? "S" : "");
	gd_one_line(to_h, sizeof(to_h), to0);
	gd_one_line(ip, sizeof(ip), gd_env_remote_ip(e));
	gd_one_line(dom, sizeof(dom), gd_env_rcpt_domain(e, 0));
	gd_rfc1123z(gd_ctx_time(g->ctx), date, sizeof(date));
	n = snprintf(head, sizeof(head), "Delivered-To: %s\r\n"
	    "Received: from %s ([%s])\r\n"
	    "\tby %s with %s id %s@%s;\r\n\t%s\r\n",
	    to_h, ip, ip, dom, proto, w->hash, dom, date);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    gd_env_deflate(e, head, (size_t)n, &z, &zl) != 0)
		goto oom;
	if (st_redis_setex(&g->rd, w->hash, z, zl, NULL, 0) != 0) {
		gd_log(g->ctx, GD_LOG_ERROR, "GuerrillaRedisDB: SETEX %s "
		    "failed, connection dropped: %s", w->hash, g->rd.err);
		goto fail;
	}
	if (st_sql_rows(&g->sql, gd_env_rcpt_count(e), gr_fill, w, why,
	    sizeof(why)) != 0) {
		gd_log(g->ctx, GD_LOG_ERROR, "GuerrillaRedisDB: sql: %s "
		    "(redis key %s left to expire)", why, w->hash);
		goto fail;
	}
	free(z);
	free(w);
	gd_next(next, e, GD_TASK_SAVE, res);
	return;
fail:
	free(z);
	free(w);
	gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: storage not "
	    "available");
	gd_result_detail(res, "storage not available");
	return;
oom:
	free(z);
	free(w);
	gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: out of "
	    "memory");
	gd_result_detail(res, "GuerrillaRedisDB: out of memory");
}

static void
gr_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	if (task == GD_TASK_SAVE) {
		gr_save(inst, e, next, res);
		return;
	}
	gd_next(next, e, task, res);
}

static int
gr_shutdown(void *inst, char *err, size_t errlen)
{
	struct gr *g = inst;

	(void)err;
	(void)errlen;
	st_redis_close(&g->rd);
	st_sql_close(&g->sql);
	return 0;
}

static void
gr_destroy(void *inst)
{
	struct gr *g = inst;

	if (g != NULL) {
		st_redis_close(&g->rd);
		st_sql_clear(&g->sql);
	}
	free(g);
}

static const char *const gr_keys[] = {
	"mail_table", "sql_driver", "sql_dsn", "sql_max_conn_lifetime",
	"sql_max_open_conns", "sql_max_idle_conns", "redis_interface",
	"redis_expire_seconds", "redis_password", "redis_db",
	"primary_mail_host", "redis_sql_batch_timeout", NULL
};

const struct gd_processor p_guerrilladbredis_processor = {
	.name = "GuerrillaRedisDB",
	.create = gr_create,
	.init = gr_init,
	.process = gr_process,
	.shutdown = gr_shutdown,
	.destroy = gr_destroy,
	.keys = gr_keys
};
