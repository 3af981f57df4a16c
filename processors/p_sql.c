/*
 * p_sql.c - the SQL processor (PROC-40): one row per recipient into a
 * MySQL/MariaDB table, over the in-tree client (stores.c, mysql_proto.c).
 *
 * Config: mail_table, sql_driver (must be "mysql"), sql_dsn
 * (go-sql-driver form), primary_mail_host (all required); sql_insert,
 * sql_values, sql_max_conn_lifetime (duration) optional.
 * sql_max_open_conns / sql_max_idle_conns are accepted and ignored: each
 * instance (one per worker, DESIGN rule 3) holds exactly one connection.
 *
 * Init connects, checks access with "SELECT mail_id FROM <table> LIMIT 1"
 * and prepares the insert; any failure fails init, as in GG (so a
 * database that is down at start stops the daemon from starting).
 * mail_table, sql_insert and sql_values are trusted config pasted into
 * SQL as GG does; envelope values only ever travel as bound parameters
 * of the prepared statement (no escaping, nothing to get wrong).
 *
 * Save: one INSERT per recipient, inside one transaction when there are
 * several.  Any failure (connection, protocol, or an error from the
 * server) answers "451 4.3.0 Error: storage not available" and stops the
 * chain; a broken connection is dropped and the next job reconnects.
 * [DEV] GG answers "554 Error: could not save email" (a 5xx for our own
 * trouble).  Strings are cut to 255 bytes at a UTF-8 boundary, and bytes
 * that are not UTF-8 become U+FFFD, since the columns are utf8mb4 and a
 * strict server would refuse the row forever (GG sends them raw).
 * The mail column travels in one statement: the server's
 * max_allowed_packet must exceed the largest max_size (MariaDB's default
 * is 16 MB), or such messages get 451 every time.
 * The connection, the access check, reconnecting and the transaction
 * live in stores.c (shared with GuerrillaDbRedis); this file chooses
 * the columns and values.  Runs on a worker thread: blocking I/O (with
 * deadlines) is expected.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guerrilla.h"
#include "processors/builtins.h"
#include "processors/stores.h"

#define SQ_NPARAMS	14	/* "?" in GG's default sql_values */

static const char sq_default_values[] =
    "(NOW(), ?, ?, ?, ? , ?, 0, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)";

struct sq {
	struct gd_ctx	*ctx;
	struct st_sql	 st;
	char		*host;		/* primary_mail_host */
};

static void *
sq_create(struct gd_ctx *ctx, void *user)
{
	struct sq *s = calloc(1, sizeof(*s));

	(void)user;
	if (s == NULL)
		return NULL;
	s->ctx = ctx;
	st_sql_init(&s->st);
	return s;
}

static void
sq_clear(struct sq *s)
{
	st_sql_clear(&s->st);
	free(s->host);
	s->host = NULL;
}

static int
sq_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct sq *s = inst;
	const char *host, *ins = NULL, *vals = NULL;
	char why[GD_ERROR_MAX];
	size_t n;

	sq_clear(s);	/* init may be retried after a failure (BE-11) */
	if (st_sql_config(&s->st, bcfg, err, errlen) != 0 ||
	    gd_config_str(bcfg, "primary_mail_host", 1, &host, err,
	    errlen) != 0 ||
	    gd_config_str(bcfg, "sql_insert", 0, &ins, err, errlen) < 0 ||
	    gd_config_str(bcfg, "sql_values", 0, &vals, err, errlen) < 0)
		return -1;
	if (vals == NULL || vals[0] == '\0')
		vals = sq_default_values;
	n = strlen(s->st.table) + strlen(vals) +
	    (ins != NULL ? strlen(ins) : 0) + 256;
	s->host = gd_strdup(host);
	s->st.insert = malloc(n);
	s->st.nparams = SQ_NPARAMS;
	if (s->host == NULL || s->st.insert == NULL) {
		snprintf(err, errlen, "sql: out of memory");
		return -1;
	}
	if (ins != NULL && ins[0] != '\0')
		snprintf(s->st.insert, n, "%s%s%s", ins,
		    ins[strlen(ins) - 1] == ' ' ? "" : " ", vals);
	else
		snprintf(s->st.insert, n, "INSERT INTO %s (`date`, `to`, "
		    "`from`, `subject`, `body`, `mail`, `spam_score`, `hash`, "
		    "`content_type`, `recipient`, `has_attach`, `ip_addr`, "
		    "`return_path`, `is_tls`, `message_id`, `reply_to`, "
		    "`sender`) VALUES %s", s->st.table, vals);
	if (st_sql_open(&s->st, 1, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "sql: %s", why);
		return -1;
	}
	return 0;
}

/* The values of one message; rows differ only by recipient. */
struct sq_row {
	const struct sq		*s;
	const struct gd_envelope *e;
	char	to_h[ST_STR_MAX + 1], from[ST_STR_MAX + 1];
	char	subj[ST_STR_MAX + 1], hash[ST_STR_MAX + 1];
	char	ctype[ST_STR_MAX + 1], rcpt[ST_STR_MAX + 1];
	char	to[ST_STR_MAX + 1], mid_h[ST_STR_MAX + 1];
	char	mid[ST_STR_MAX + 1], reply_to[ST_STR_MAX + 1];
	char	sender[ST_STR_MAX + 1];
	const char *body;
	const void *mail;
	size_t	mail_len;
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
sq_fill(void *arg, size_t i, struct my_param *prm)
{
	struct sq_row *w = arg;
	const struct gd_envelope *e = w->e;
	char buf[1024];

	(void)gd_env_rcpt_print(e, i, buf, sizeof(buf));
	st_clean(buf, w->rcpt);
	memcpy(w->to, w->to_h[0] != '\0' ? w->to_h : w->rcpt, sizeof(w->to));
	if (w->mid_h[0] != '\0')
		memcpy(w->mid, w->mid_h, sizeof(w->mid));
	else {
		snprintf(buf, sizeof(buf), "%s.%s@%s",
		    gd_env_hash_count(e) > 0 ? gd_env_hash(e, 0) : "",
		    gd_env_rcpt_local(e, i), w->s->host);
		st_clean(buf, w->mid);
	}
	st_str_param(&prm[0], w->to);
	st_str_param(&prm[1], w->from);
	st_str_param(&prm[2], w->subj);
	st_str_param(&prm[3], w->body);
	prm[4].type = MY_P_BLOB;
	prm[4].p = w->mail;
	prm[4].len = w->mail_len;
	st_str_param(&prm[5], w->hash);
	st_str_param(&prm[6], w->ctype);
	st_str_param(&prm[7], w->rcpt);
	prm[8].type = MY_P_BLOB;
	prm[8].p = w->ip;
	prm[8].len = w->ip_len;
	st_str_param(&prm[9], w->from);	/* return_path */
	prm[10].type = MY_P_INT;
	prm[10].i = gd_env_tls(e) ? 1 : 0;
	st_str_param(&prm[11], w->mid);
	st_str_param(&prm[12], w->reply_to);
	st_str_param(&prm[13], w->sender);
}

/* message_text - delivery header ‖ body in one malloc'd buffer (the mail
 * column is one bound parameter), *len its length; NULL on failure. */
static char *
message_text(const struct gd_envelope *e, size_t *len)
{
	const char *h = gd_env_delivery_header(e), *p;
	uint64_t bs = gd_env_body_size(e), off = 0;
	size_t hl = strlen(h);
	ssize_t n;
	char *mail;

	if (bs > SIZE_MAX - 1 - hl || (mail = malloc(hl + bs + 1)) == NULL)
		return NULL;
	memcpy(mail, h, hl);
	while (off < bs && (n = gd_env_body_window(e, off, &p)) > 0) {
		if ((uint64_t)n > bs - off)
			n = (ssize_t)(bs - off);
		memcpy(mail + hl + off, p, (size_t)n);
		off += (uint64_t)n;
	}
	if (off != bs) {
		free(mail);
		return NULL;
	}
	*len = hl + (size_t)bs;
	return mail;
}

static void
sq_save(struct sq *s, struct gd_envelope *e, struct gd_next *next,
    struct gd_result *res)
{
	struct sq_row *w;
	char buf[1024], why[GD_ERROR_MAX];
	const void *z;
	char *mail = NULL;
	size_t zl = 0;

	if (gd_env_rcpt_count(e) == 0) {
		gd_next(next, e, GD_TASK_SAVE, res);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	w->s = s;
	w->e = e;
	w->body = "";
	(void)gd_env_from_print(e, buf, sizeof(buf));
	st_clean(buf, w->from);
	st_clean(gd_env_subject(e), w->subj);
	st_clean(gd_env_hash_count(e) > 0 ? gd_env_hash(e, 0) : "", w->hash);
	st_clean(gd_env_header(e, "Content-Type"), w->ctype);
	header_addr(e, "To", w->to_h);
	header_addr(e, "Message-Id", w->mid_h);
	header_addr(e, "Reply-To", w->reply_to);
	header_addr(e, "Sender", w->sender);
	w->ip_len = st_ip_bytes(gd_env_remote_ip(e), w->ip);
	if ((z = gd_env_value(e, "zlib-compressor", &zl)) != NULL)
		w->body = "gzip";
	if (gd_env_value(e, "redis", NULL) != NULL) {
		w->body = "redis";
		z = "";
		zl = 0;
	}
	if (z == NULL) {	/* the message text: delivery header + body */
		if ((mail = message_text(e, &zl)) == NULL) {
			snprintf(why, sizeof(why), "out of memory, or the "
			    "body could not be read");
			goto fail;
		}
		z = mail;
	}
	w->mail = z;
	w->mail_len = zl;
	if (st_sql_rows(&s->st, gd_env_rcpt_count(e), sq_fill, w, why,
	    sizeof(why)) != 0)
		goto fail;
	free(mail);
	free(w);
	gd_next(next, e, GD_TASK_SAVE, res);
	return;
fail:
	free(mail);
	free(w);
	gd_log(s->ctx, GD_LOG_ERROR, "sql: %s", why);
	gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: storage not "
	    "available");
	gd_result_detail(res, "storage not available");
}

static void
sq_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct sq *s = inst;

	if (task == GD_TASK_SAVE) {
		sq_save(s, e, next, res);
		return;
	}
	if (task == GD_TASK_VALIDATE && gd_env_rcpt_count(e) > 0 &&
	    strlen(gd_env_rcpt_local(e, gd_env_rcpt_count(e) - 1)) >
	    ST_STR_MAX) {
		gd_result_set(res, GD_STATUS_PERMFAIL, "no such user");
		return;
	}
	gd_next(next, e, task, res);
}

static int
sq_shutdown(void *inst, char *err, size_t errlen)
{
	struct sq *s = inst;

	(void)err;
	(void)errlen;
	st_sql_close(&s->st);
	return 0;
}

static void
sq_destroy(void *inst)
{
	if (inst != NULL)
		sq_clear(inst);
	free(inst);
}

static const char *const sq_keys[] = {
	"mail_table", "sql_driver", "sql_dsn", "primary_mail_host",
	"sql_insert", "sql_values", "sql_max_conn_lifetime",
	"sql_max_open_conns", "sql_max_idle_conns", NULL
};

const struct gd_processor p_sql_processor = {
	.name = "sql",
	.create = sq_create,
	.init = sq_init,
	.process = sq_process,
	.shutdown = sq_shutdown,
	.destroy = sq_destroy,
	.keys = sq_keys
};
