/*
 * p_sql.c - the SQL processor (PROC-40): one row per recipient into a
 * MySQL/MariaDB table, over the in-tree client in mysql_proto.c.
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
 * Runs on a worker thread: blocking I/O (with deadlines) is expected.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "envelope.h"
#include "processors/mysql_proto.h"

#define SQ_STR_MAX	255	/* GG's trimToLimit */
#define SQ_NPARAMS	14	/* "?" in GG's default sql_values */
#define SQ_SQL_MAX	8192

static const char sq_default_values[] =
    "(NOW(), ?, ?, ?, ? , ?, 0, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)";

struct sq {
	struct gd_ctx	*ctx;
	struct my_dsn	 dsn;
	struct my_conn	 conn;
	char		*table;
	char		*host;		/* primary_mail_host */
	char		*insert;	/* the whole INSERT statement */
	int64_t		 lifetime_ms;	/* 0 = forever */
	uint32_t	 stmt;
	int		 ready;		/* connected and prepared */
};

static void *
sq_create(struct gd_ctx *ctx, void *user)
{
	struct sq *s = calloc(1, sizeof(*s));

	(void)user;
	if (s == NULL)
		return NULL;
	s->ctx = ctx;
	my_conn_init(&s->conn);
	return s;
}

static void
sq_clear(struct sq *s)
{
	my_close(&s->conn);
	my_conn_init(&s->conn);
	free(s->table);
	free(s->host);
	free(s->insert);
	s->table = s->host = s->insert = NULL;
	s->ready = 0;
}

/* sq_open - connect and prepare the insert.  0, or -1 with err. */
static int
sq_open(struct sq *s, int check, char *err, size_t errlen)
{
	char why[GD_ERROR_MAX], q[SQ_SQL_MAX];
	unsigned np;

	s->ready = 0;
	my_close(&s->conn);
	if (my_connect(&s->conn, &s->dsn, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot connect to database: %.150s",
		    why);
		return -1;
	}
	if (check) {
		int n = snprintf(q, sizeof(q), "SELECT mail_id FROM %s LIMIT 1",
		    s->table);
		if (n < 0 || (size_t)n >= sizeof(q)) {
			snprintf(err, errlen, "mail_table too long");
			goto fail;
		}
		if (my_query(&s->conn, q, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "cannot read table %.60s: "
			    "%.150s", s->table, why);
			goto fail;
		}
	}
	if (my_prepare(&s->conn, s->insert, &s->stmt, &np, why,
	    sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot prepare the insert: %.150s",
		    why);
		goto fail;
	}
	if (np != SQ_NPARAMS) {
		snprintf(err, errlen, "the insert has %u placeholders, "
		    "want %d (check sql_values)", np, SQ_NPARAMS);
		goto fail;
	}
	s->ready = 1;
	return 0;
fail:
	my_close(&s->conn);
	return -1;
}

static int
sq_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct sq *s = inst;
	const char *table, *driver, *dsn, *host, *ins = NULL, *vals = NULL;
	const char *life = NULL;
	char why[GD_ERROR_MAX];
	long long ignored;
	int64_t ns;
	size_t n;

	sq_clear(s);	/* init may be retried after a failure (BE-11) */
	if (gd_config_str(bcfg, "mail_table", 1, &table, err, errlen) != 0 ||
	    gd_config_str(bcfg, "sql_driver", 1, &driver, err, errlen) != 0 ||
	    gd_config_str(bcfg, "sql_dsn", 1, &dsn, err, errlen) != 0 ||
	    gd_config_str(bcfg, "primary_mail_host", 1, &host, err,
	    errlen) != 0 ||
	    gd_config_str(bcfg, "sql_insert", 0, &ins, err, errlen) < 0 ||
	    gd_config_str(bcfg, "sql_values", 0, &vals, err, errlen) < 0 ||
	    gd_config_str(bcfg, "sql_max_conn_lifetime", 0, &life, err,
	    errlen) < 0 ||
	    gd_config_int(bcfg, "sql_max_open_conns", 0, &ignored, err,
	    errlen) < 0 ||
	    gd_config_int(bcfg, "sql_max_idle_conns", 0, &ignored, err,
	    errlen) < 0)
		return -1;
	if (strcmp(driver, "mysql") != 0) {
		snprintf(err, errlen, "sql: sql_driver '%.60s' is not "
		    "supported (only \"mysql\", which also serves MariaDB)",
		    driver);
		return -1;
	}
	if (my_dsn_parse(dsn, &s->dsn, err, errlen) != 0)
		return -1;
	s->lifetime_ms = 0;
	if (life != NULL && life[0] != '\0') {
		if (cfg_duration(life, &ns) != 0) {
			snprintf(err, errlen, "sql_max_conn_lifetime: invalid "
			    "duration '%.60s'", life);
			return -1;
		}
		s->lifetime_ms = ns / 1000000;
	}
	if (vals == NULL || vals[0] == '\0')
		vals = sq_default_values;
	n = strlen(table) + strlen(vals) + (ins != NULL ? strlen(ins) : 0) +
	    256;
	s->table = gd_strdup(table);
	s->host = gd_strdup(host);
	s->insert = malloc(n);
	if (s->table == NULL || s->host == NULL || s->insert == NULL) {
		snprintf(err, errlen, "sql: out of memory");
		return -1;
	}
	if (ins != NULL && ins[0] != '\0')
		snprintf(s->insert, n, "%s%s%s", ins,
		    ins[strlen(ins) - 1] == ' ' ? "" : " ", vals);
	else
		snprintf(s->insert, n, "INSERT INTO %s (`date`, `to`, `from`, "
		    "`subject`, `body`, `mail`, `spam_score`, `hash`, "
		    "`content_type`, `recipient`, `has_attach`, `ip_addr`, "
		    "`return_path`, `is_tls`, `message_id`, `reply_to`, "
		    "`sender`) VALUES %s", table, vals);
	if (sq_open(s, 1, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "sql: %s", why);
		return -1;
	}
	return 0;
}

static size_t
clean_str(const char *s, char *out)
{
	return my_utf8_clean(s != NULL ? s : "", s != NULL ? strlen(s) : 0, out,
	    SQ_STR_MAX);
}

/* header_addr - the first address of header name, printed as GG's
 * Address.String() does; "" when absent or unparsable. */
static void
header_addr(const struct gd_envelope *e, const char *name, char *out)
{
	const char *v = env_header_get(e, name);
	struct gd_address a;
	char buf[1024];

	out[0] = '\0';
	if (v == NULL)
		return;
	memset(&a, 0, sizeof(a));
	if (mime_parse_address(v, &a) == 0) {
		env_addr_print(&a, buf, sizeof(buf));
		clean_str(buf, out);
	}
	env_addr_clear(&a);
}

static void
str_param(struct my_param *p, const char *s)
{
	p->type = MY_P_STRING;
	p->p = s;
	p->len = strlen(s);
}

/* sq_alive - is the idle connection still usable?  Anything readable
 * while idle (EOF, or an error packet such as a wait_timeout notice)
 * means it is not: drop it rather than learn it from a failed insert. */
static int
sq_alive(struct sq *s)
{
	if (!s->ready || s->conn.fd < 0)
		return 0;
	if (s->lifetime_ms > 0 &&
	    gd_now_ms() - s->conn.born_ms >= s->lifetime_ms)
		return 0;
	return my_idle_ok(&s->conn);
}

static void
sq_save(struct sq *s, struct gd_envelope *e, struct gd_next *next,
    struct gd_result *res)
{
	char to_h[SQ_STR_MAX + 1], from[SQ_STR_MAX + 1], subj[SQ_STR_MAX + 1];
	char hash[SQ_STR_MAX + 1], ctype[SQ_STR_MAX + 1], rcpt[SQ_STR_MAX + 1];
	char to[SQ_STR_MAX + 1], mid_h[SQ_STR_MAX + 1], mid[SQ_STR_MAX + 1];
	char reply_to[SQ_STR_MAX + 1], sender[SQ_STR_MAX + 1];
	char buf[1024], why[GD_ERROR_MAX];
	struct my_param prm[SQ_NPARAMS];
	const char *body = "";
	const void *z;
	unsigned char ip[16];
	char *mail = NULL;
	size_t zl = 0, i;
	int fam = 0, txn = e->nrcpt > 1;

	if (e->nrcpt == 0) {
		gd_next(next, e, GD_TASK_SAVE, res);
		return;
	}
	if (!sq_alive(s) && sq_open(s, 0, why, sizeof(why)) != 0)
		goto fail;
	env_addr_print(&e->from, buf, sizeof(buf));
	clean_str(buf, from);
	clean_str(e->subject, subj);
	clean_str(e->nhashes > 0 ? e->hashes[0] : "", hash);
	clean_str(env_header_get(e, "Content-Type"), ctype);
	header_addr(e, "To", to_h);
	header_addr(e, "Message-Id", mid_h);
	header_addr(e, "Reply-To", reply_to);
	header_addr(e, "Sender", sender);
	if (cfg_parse_ip(e->remote_ip, &fam, ip) != 0)
		fam = 0;
	if ((z = env_get_value(e, "zlib-compressor", &zl)) != NULL)
		body = "gzip";
	if (env_get_value(e, "redis", NULL) != NULL) {
		body = "redis";
		z = "";
		zl = 0;
	}
	if (z == NULL) {	/* the message text: delivery header + data */
		size_t hl = e->delivery_header != NULL ?
		    strlen(e->delivery_header) : 0;
		if ((mail = malloc(hl + e->data_len + 1)) == NULL) {
			snprintf(why, sizeof(why), "out of memory");
			goto fail;
		}
		if (hl > 0)
			memcpy(mail, e->delivery_header, hl);
		if (e->data_len > 0)
			memcpy(mail + hl, e->data, e->data_len);
		z = mail;
		zl = hl + e->data_len;
	}
	if (txn && my_query(&s->conn, "START TRANSACTION", why,
	    sizeof(why)) != 0)
		goto fail;
	for (i = 0; i < e->nrcpt; i++) {
		env_addr_print(&e->rcpt[i], buf, sizeof(buf));
		clean_str(buf, rcpt);
		memcpy(to, to_h[0] != '\0' ? to_h : rcpt, sizeof(to));
		if (mid_h[0] != '\0')
			memcpy(mid, mid_h, sizeof(mid));
		else {
			snprintf(buf, sizeof(buf), "%s.%s@%s",
			    e->nhashes > 0 ? e->hashes[0] : "",
			    e->rcpt[i].local, s->host);
			clean_str(buf, mid);
		}
		str_param(&prm[0], to);
		str_param(&prm[1], from);
		str_param(&prm[2], subj);
		str_param(&prm[3], body);
		prm[4].type = MY_P_BLOB;
		prm[4].p = z;
		prm[4].len = zl;
		str_param(&prm[5], hash);
		str_param(&prm[6], ctype);
		str_param(&prm[7], rcpt);
		prm[8].type = MY_P_BLOB;
		prm[8].p = ip;
		prm[8].len = fam == 4 ? 4 : fam == 6 ? 16 : 0;
		str_param(&prm[9], from);	/* return_path */
		prm[10].type = MY_P_INT;
		prm[10].i = e->tls ? 1 : 0;
		str_param(&prm[11], mid);
		str_param(&prm[12], reply_to);
		str_param(&prm[13], sender);
		if (my_execute(&s->conn, s->stmt, prm, SQ_NPARAMS, why,
		    sizeof(why)) != 0)
			goto fail;
	}
	if (txn && my_query(&s->conn, "COMMIT", why, sizeof(why)) != 0)
		goto fail;
	free(mail);
	gd_next(next, e, GD_TASK_SAVE, res);
	return;
fail:
	free(mail);
	gd_log(s->ctx, GD_LOG_ERROR, "sql: %s", why);
	if (s->conn.fd >= 0 && s->conn.sql_error && txn) {
		char w2[GD_ERROR_MAX];
		if (my_query(&s->conn, "ROLLBACK", w2, sizeof(w2)) != 0)
			s->ready = 0;
	}
	if (s->conn.fd < 0 || !s->conn.sql_error) {
		my_close(&s->conn);	/* the next job reconnects */
		s->ready = 0;
	}
	gd_result_reply(res, "451 4.3.0 Error: storage not available");
	gd_result_error(res, "storage not available");
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
	if (task == GD_TASK_VALIDATE && e->nrcpt > 0 &&
	    strlen(e->rcpt[e->nrcpt - 1].local) > SQ_STR_MAX) {
		gd_result_error(res, "no such user");
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
	my_close(&s->conn);
	s->ready = 0;
	return 0;
}

static void
sq_destroy(void *inst)
{
	if (inst != NULL)
		sq_clear(inst);
	free(inst);
}

const struct gd_processor p_sql_processor = {
	"sql", sq_create, sq_init, sq_process, sq_shutdown, sq_destroy, NULL, 0
};
