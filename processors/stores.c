/*
 * stores.c - the store connections the storage processors share
 * (stores.h): the Redis RESP2 client and the MySQL/MariaDB store with the
 * house failure policy.  Its own file since a second processor
 * (GuerrillaDbRedis, PROC-41) writes to both stores: the client code and
 * the policy are written once, and p_redis.c / p_sql.c keep only what
 * their processor does (which key, which columns, which values).
 *
 * Redis: one connection, connect RD_CONNECT_MS; every wait for the socket
 * RD_IO_MS without progress (the save timeout bounds the whole job).
 * Replies are parsed from a fixed buffer by rd_resp_parse, which checks
 * the whole RESP2 grammar (+ - : $ *), nesting and sizes, and never
 * allocates.  We never pipeline: bytes after a reply are an error.
 *
 * MySQL: mysql_proto.c speaks the wire; here are config reading, the
 * access check, the prepared insert, reconnecting, and the transaction
 * around the rows of one message.
 */
#include "compat.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "guerrilla.h"
#include "log.h"
#include "processors/stores.h"

#define RD_CONNECT_MS	5000
#define RD_IO_MS	5000
#define RD_REPLY_MAX	ST_RD_REPLY_MAX
#define RD_DEPTH_MAX	8	/* nested arrays */
#define RD_ELEMS_MAX	1024	/* elements of one array */
#define RD_LINE_MAX	1024	/* "+", "-", ":" lines and length headers */
#define RD_EXPIRE_MAX	2147483647LL

/* What rd_resp_parse found at the top level. */
struct rd_reply {
	int		type;		/* '+', '-', ':', '$', '*' */
	long long	n;		/* ':' value, '$' / '*' length (-1 nil) */
	const char	*s;		/* '+' / '-' text, '$' bytes (not NUL-ended) */
	size_t		slen;
};

/* rd_line - the CR LF-ended line at p: its length without CR LF, or -1
 * (incomplete: *more set) or -2 (bare CR/LF or too long). */
static long
rd_line(const char *p, size_t len, int *more)
{
	size_t i;

	for (i = 0; i < len && i <= RD_LINE_MAX; i++) {
		if (p[i] == '\n')
			return -2;
		if (p[i] == '\r') {
			if (i + 1 == len) {
				*more = 1;
				return -1;
			}
			return p[i + 1] == '\n' ? (long)i : -2;
		}
	}
	if (i > RD_LINE_MAX)
		return -2;
	*more = 1;
	return -1;
}

/* rd_number - a RESP integer line: optional '-', 1..19 digits, no more. */
static int
rd_number(const char *p, size_t n, long long *out)
{
	unsigned long long v = 0;
	size_t i = 0;
	int neg = 0;

	if (n > 0 && p[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == n || n - i > 18)
		return -1;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long long)(p[i] - '0');
	}
	*out = neg ? -(long long)v : (long long)v;
	return 0;
}

/* rd_value - one RESP2 value at buf[*off]; 1 complete (off advanced),
 * 0 incomplete, -1 malformed.  top (may be NULL) receives the value. */
static int
rd_value(const char *buf, size_t len, size_t *off, int depth,
    struct rd_reply *top)
{
	const char *p = buf + *off;
	size_t left = len - *off, body;
	long long n, i;
	long l;
	int more = 0, r;

	if (left == 0)
		return 0;
	if ((l = rd_line(p + 1, left - 1, &more)) < 0)
		return more ? 0 : -1;
	body = 1 + (size_t)l + 2;	/* type byte, line, CR LF */
	switch (p[0]) {
	case '+':
	case '-':
		if (top != NULL) {
			top->type = p[0];
			top->s = p + 1;
			top->slen = (size_t)l;
		}
		*off += body;
		return 1;
	case ':':
		if (rd_number(p + 1, (size_t)l, &n) != 0)
			return -1;
		break;
	case '$':
		if (rd_number(p + 1, (size_t)l, &n) != 0 || n < -1 ||
		    n > RD_REPLY_MAX)
			return -1;
		if (n >= 0) {
			if (left - body < (size_t)n + 2)
				return 0;
			if (p[body + (size_t)n] != '\r' ||
			    p[body + (size_t)n + 1] != '\n')
				return -1;
			if (top != NULL) {
				top->s = p + body;
				top->slen = (size_t)n;
			}
			body += (size_t)n + 2;
		}
		break;
	case '*':
		if (rd_number(p + 1, (size_t)l, &n) != 0 || n < -1 ||
		    n > RD_ELEMS_MAX || depth >= RD_DEPTH_MAX)
			return -1;
		*off += body;
		for (i = 0; i < n; i++)
			if ((r = rd_value(buf, len, off, depth + 1, NULL)) != 1)
				return r;
		if (top != NULL) {
			top->type = '*';
			top->n = n;
		}
		return 1;
	default:
		return -1;
	}
	if (top != NULL) {
		top->type = p[0];
		top->n = n;
	}
	*off += body;
	return 1;
}

/*
 * rd_resp_parse - one complete RESP2 reply at the start of buf: returns
 * its length (> 0) and fills *out (pointers into buf), 0 when more bytes
 * are needed, -1 when the bytes are not RESP2 or break a limit.
 */
static long
rd_resp_parse(const char *buf, size_t len, struct rd_reply *out)
{
	size_t off = 0;
	int r, capped = len > RD_REPLY_MAX;

	memset(out, 0, sizeof(*out));
	if (capped)
		len = RD_REPLY_MAX + 1;	/* never look further */
	r = rd_value(buf, len, &off, 0, out);
	if ((r == 1 && off > RD_REPLY_MAX) || (r == 0 && capped))
		return -1;	/* longer than any reply we accept */
	return r == 1 ? (long)off : r;
}


long
st_resp_parse(const char *buf, size_t len, int *type, long long *n)
{
	struct rd_reply r;
	long k = rd_resp_parse(buf, len, &r);

	*type = r.type;
	*n = r.n;
	return k;
}

/* ---- the connection ---- */

static void
rd_close(struct st_redis *r)
{
	if (r->fd >= 0)
		(void)close(r->fd);
	r->fd = -1;
	r->len = 0;
}

/* rd_wait - poll fd for ev up to ms; 0 ready, -1 timeout/error (r->err). */
static int
rd_wait(struct st_redis *r, short ev, int ms)
{
	struct pollfd pfd;
	int n;

	pfd.fd = r->fd;
	pfd.events = ev;
	pfd.revents = 0;
	do
		n = poll(&pfd, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		r->timedout = 1;
		snprintf(r->err, sizeof(r->err), "i/o timeout");
		return -1;
	}
	if (n < 0) {
		snprintf(r->err, sizeof(r->err), "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* rd_dial - non-blocking connect to every address of host:port in turn,
 * RD_CONNECT_MS each.  0 (r->fd set, non-blocking) or -1 (r->err). */
static int
rd_dial(struct st_redis *r)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rc, fd, soerr, one = 1;
	socklen_t sl;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(r->host, r->port, &hints, &res)) != 0) {
		snprintf(r->err, sizeof(r->err), "lookup %s: %s", r->host,
		    gai_strerror(rc));
		return -1;
	}
	snprintf(r->err, sizeof(r->err), "no address for %s", r->host);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) < 0) {
			snprintf(r->err, sizeof(r->err), "socket: %s",
			    strerror(errno));
			continue;
		}
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		gd_nosigpipe(fd);
		r->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			if (errno != EINPROGRESS && errno != EINTR) {
				snprintf(r->err, sizeof(r->err),
				    "dial tcp %s:%s: %s", r->host, r->port,
				    strerror(errno));
				rd_close(r);
				continue;
			}
			if (rd_wait(r, POLLOUT, RD_CONNECT_MS) != 0) {
				snprintf(r->err, sizeof(r->err),
				    "dial tcp %s:%s: connect timeout",
				    r->host, r->port);
				rd_close(r);
				continue;
			}
			soerr = 0;
			sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &sl) != 0 || soerr != 0) {
				snprintf(r->err, sizeof(r->err),
				    "dial tcp %s:%s: %s", r->host, r->port,
				    strerror(soerr != 0 ? soerr : errno));
				rd_close(r);
				continue;
			}
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	return -1;
}

/* rd_send - write every byte of iov[0..n-1] (iov is consumed). */
static int
rd_send(struct st_redis *r, struct iovec *iov, int n)
{
	struct msghdr m;
	ssize_t w;

	while (n > 0) {
		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		memset(&m, 0, sizeof(m));
		m.msg_iov = iov;
		m.msg_iovlen = n;
		w = sendmsg(r->fd, &m, GD_MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (rd_wait(r, POLLOUT, RD_IO_MS) != 0)
					return -1;
				continue;
			}
			snprintf(r->err, sizeof(r->err), "write: %s",
			    strerror(errno));
			return -1;
		}
		while (w > 0 && n > 0) {
			size_t k = (size_t)w < iov->iov_len ? (size_t)w :
			    iov->iov_len;
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= k;
			w -= (ssize_t)k;
			if (iov->iov_len == 0) {
				iov++;
				n--;
			}
		}
	}
	return 0;
}

/* rd_reply - read one reply into r->buf; 0 with *out (pointing into
 * r->buf) or -1 (r->err).  Bytes after the reply are a protocol error:
 * we never pipeline. */
static int
rd_reply(struct st_redis *r, struct rd_reply *out)
{
	long n;
	ssize_t k;

	r->len = 0;
	for (;;) {
		if (r->len > 0) {
			n = rd_resp_parse(r->buf, r->len, out);
			if (n < 0 || (n > 0 && (size_t)n != r->len)) {
				snprintf(r->err, sizeof(r->err),
				    "malformed reply");
				return -1;
			}
			if (n > 0)
				return 0;
		}
		if (r->len == sizeof(r->buf)) {
			snprintf(r->err, sizeof(r->err), "reply too long");
			return -1;
		}
		k = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		if (k > 0) {
			r->len += (size_t)k;
			continue;
		}
		if (k == 0) {
			snprintf(r->err, sizeof(r->err),
			    "connection closed by redis");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(r->err, sizeof(r->err), "read: %s",
			    strerror(errno));
			return -1;
		}
		if (rd_wait(r, POLLIN, RD_IO_MS) != 0)
			return -1;
	}
}

/* rd_command - send argv[0..argc-1] (at most 4) as a RESP array of bulk
 * strings, the last one followed by tail[0..tlen-1] (so header ‖ data
 * need no copy), and expect "+OK".  0 or -1 (r->err). */
static int
rd_command(struct st_redis *r, int argc, const char *const *argv,
    const size_t *alen, const char *tail, size_t tlen)
{
	char hdr[5][32];
	struct iovec iov[4 * 3 + 2];
	struct rd_reply rep;
	size_t l;
	int i, n = 0;

	snprintf(hdr[0], sizeof(hdr[0]), "*%d\r\n", argc);
	iov[n].iov_base = hdr[0];
	iov[n++].iov_len = strlen(hdr[0]);
	for (i = 0; i < argc && i < 4; i++) {
		l = alen[i] + (i == argc - 1 ? tlen : 0);
		snprintf(hdr[i + 1], sizeof(hdr[i + 1]), "$%zu\r\n", l);
		iov[n].iov_base = hdr[i + 1];
		iov[n++].iov_len = strlen(hdr[i + 1]);
		iov[n].iov_base = (void *)(uintptr_t)argv[i];
		iov[n++].iov_len = alen[i];
		if (i == argc - 1 && tlen > 0) {
			iov[n].iov_base = (void *)(uintptr_t)tail;
			iov[n++].iov_len = tlen;
		}
		iov[n].iov_base = (void *)(uintptr_t)"\r\n";
		iov[n++].iov_len = 2;
	}
	if (rd_send(r, iov, n) != 0 || rd_reply(r, &rep) != 0)
		return -1;
	if (rep.type == '+' && rep.slen == 2 && memcmp(rep.s, "OK", 2) == 0)
		return 0;
	if (rep.type == '-' || rep.type == '+') {
		char esc[96];
		log_escape(esc, sizeof(esc), rep.s, rep.slen);
		snprintf(r->err, sizeof(r->err), "%s: %s", argv[0], esc);
	} else
		snprintf(r->err, sizeof(r->err), "%s: unexpected reply "
		    "type '%c'", argv[0], rep.type);
	return -1;
}

/* rd_stale - the idle connection has been closed by the peer (or holds
 * bytes nobody asked for): either way it cannot be used. */
static int
rd_stale(struct st_redis *r)
{
	struct pollfd pfd;

	pfd.fd = r->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) != 0;
}

/* rd_connect - dial, then AUTH and SELECT when configured. */
static int
rd_connect(struct st_redis *r)
{
	const char *argv[2];
	size_t alen[2];
	char db[24];

	if (r->fd >= 0 && !rd_stale(r))
		return 0;
	rd_close(r);
	if (rd_dial(r) != 0)
		return -1;
	if (r->password != NULL) {
		argv[0] = "AUTH";
		argv[1] = r->password;
		alen[0] = 4;
		alen[1] = strlen(r->password);
		if (rd_command(r, 2, argv, alen, NULL, 0) != 0)
			goto fail;
	}
	if (r->db != 0) {
		snprintf(db, sizeof(db), "%lld", r->db);
		argv[0] = "SELECT";
		argv[1] = db;
		alen[0] = 6;
		alen[1] = strlen(db);
		if (rd_command(r, 2, argv, alen, NULL, 0) != 0)
			goto fail;
	}
	return 0;
fail:
	rd_close(r);
	return -1;
}

/* rd_split - "host:port" / "[v6]:port" into r->host, r->port. */
static int
rd_split(struct st_redis *r, const char *s)
{
	const char *colon = strrchr(s, ':'), *h = s, *he;

	if (colon == NULL || colon[1] == '\0' ||
	    strlen(colon + 1) >= sizeof(r->port))
		return -1;
	he = colon;
	if (*h == '[') {
		if (he == h + 1 || he[-1] != ']')
			return -1;
		h++;
		he--;
	}
	if (he == h) {		/* ":6379": Go dials the local host */
		h = "127.0.0.1";
		he = h + strlen(h);
	}
	if ((size_t)(he - h) >= sizeof(r->host))
		return -1;
	memcpy(r->host, h, (size_t)(he - h));
	r->host[he - h] = '\0';
	gd_strlcpy(r->port, colon + 1, sizeof(r->port));
	return 0;
}

/* ---- Redis: the API ---- */

void
st_redis_init(struct st_redis *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void
st_redis_close(struct st_redis *r)
{
	rd_close(r);
}

int
st_redis_config(struct st_redis *r, const struct json_value *bcfg,
    char *err, size_t errlen)
{
	const char *iface, *pw = NULL;
	long long db = 0;

	if (gd_config_str(bcfg, "redis_interface", 1, &iface, err,
	    errlen) < 0 ||
	    gd_config_int(bcfg, "redis_expire_seconds", 1, &r->expire, err,
	    errlen) < 0 ||
	    gd_config_str(bcfg, "redis_password", 0, &pw, err, errlen) < 0 ||
	    gd_config_int(bcfg, "redis_db", 0, &db, err, errlen) < 0)
		return -1;
	if (rd_split(r, iface) != 0) {
		snprintf(err, errlen, "redis_interface: want host:port, got "
		    "'%.100s'", iface);
		return -1;
	}
	if (r->expire <= 0 || r->expire > RD_EXPIRE_MAX) {
		snprintf(err, errlen, "redis_expire_seconds: must be 1 .. %lld",
		    RD_EXPIRE_MAX);
		return -1;
	}
	if (db < 0 || db > 65535) {
		snprintf(err, errlen, "redis_db: must be 0 .. 65535");
		return -1;
	}
	r->password = pw != NULL && pw[0] != '\0' ? pw : NULL;
	r->db = db;
	rd_close(r);
	if (rd_connect(r) != 0) {
		snprintf(err, errlen, "redis cannot connect, check your "
		    "settings: %s", r->err);
		return -1;
	}
	return 0;
}

int
st_redis_setex(struct st_redis *r, const char *key, const void *v,
    size_t vl, const void *tail, size_t tlen)
{
	const char *argv[4];
	size_t alen[4];
	char exp[24];
	int try, fresh;

	snprintf(exp, sizeof(exp), "%lld", r->expire);
	argv[0] = "SETEX";
	argv[1] = key;
	argv[2] = exp;
	argv[3] = v != NULL ? v : "";
	alen[0] = 5;
	alen[1] = strlen(key);
	alen[2] = strlen(exp);
	alen[3] = v != NULL ? vl : 0;
	/*
	 * A connection kept from an earlier job may have died since (Redis
	 * restarted): then retry once on a new one.  SETEX of the same key
	 * and value twice is harmless.  A timeout is not retried: Redis is
	 * there but slow, and the client has waited long enough.
	 */
	for (try = 0; try < 2; try++) {
		fresh = r->fd < 0 || rd_stale(r);
		r->timedout = 0;
		if (rd_connect(r) == 0 && rd_command(r, 4, argv, alen, tail,
		    tail != NULL ? tlen : 0) == 0)
			return 0;
		rd_close(r);
		if (fresh || r->timedout)
			break;
	}
	return -1;
}

/* ---- MySQL / MariaDB ---- */

void
st_sql_init(struct st_sql *s)
{
	memset(s, 0, sizeof(*s));
	my_conn_init(&s->conn);
}

void
st_sql_close(struct st_sql *s)
{
	my_close(&s->conn);
	s->ready = 0;
}

void
st_sql_clear(struct st_sql *s)
{
	my_close(&s->conn);
	free(s->table);
	free(s->insert);
	st_sql_init(s);
}

int
st_sql_config(struct st_sql *s, const struct json_value *bcfg, char *err,
    size_t errlen)
{
	const char *table, *driver, *dsn, *life = NULL;
	long long ignored;
	int64_t ns;

	if (gd_config_str(bcfg, "mail_table", 1, &table, err, errlen) != 0 ||
	    gd_config_str(bcfg, "sql_driver", 1, &driver, err, errlen) != 0 ||
	    gd_config_str(bcfg, "sql_dsn", 1, &dsn, err, errlen) != 0 ||
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
	free(s->table);
	if ((s->table = gd_strdup(table)) == NULL) {
		snprintf(err, errlen, "sql: out of memory");
		return -1;
	}
	return 0;
}

int
st_sql_open(struct st_sql *s, int check, char *err, size_t errlen)
{
	char why[GD_ERROR_MAX], q[8192];
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
	if (np != s->nparams) {
		snprintf(err, errlen, "the insert has %u placeholders, "
		    "want %u (check sql_values)", np, s->nparams);
		goto fail;
	}
	s->ready = 1;
	return 0;
fail:
	my_close(&s->conn);
	return -1;
}

/* sq_alive - is the idle connection still usable?  Anything readable
 * while idle (EOF, or an error packet such as a wait_timeout notice)
 * means it is not: drop it rather than learn it from a failed insert. */
static int
sq_alive(struct st_sql *s)
{
	if (!s->ready || s->conn.fd < 0)
		return 0;
	if (s->lifetime_ms > 0 &&
	    gd_now_ms() - s->conn.born_ms >= s->lifetime_ms)
		return 0;
	return my_idle_ok(&s->conn);
}

int
st_sql_rows(struct st_sql *s, size_t n,
    void (*fill)(void *arg, size_t i, struct my_param *prm), void *arg,
    char *why, size_t whylen)
{
	struct my_param *prm;
	size_t i;
	int txn = n > 1;

	if (n == 0)
		return 0;
	if ((prm = calloc(s->nparams, sizeof(*prm))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (!sq_alive(s) && st_sql_open(s, 0, why, whylen) != 0)
		goto fail;
	if (txn && my_query(&s->conn, "START TRANSACTION", why, whylen) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		fill(arg, i, prm);
		if (my_execute(&s->conn, s->stmt, prm, s->nparams, why,
		    whylen) != 0)
			goto fail;
	}
	if (txn && my_query(&s->conn, "COMMIT", why, whylen) != 0)
		goto fail;
	free(prm);
	return 0;
fail:
	free(prm);
	if (s->conn.fd >= 0 && s->conn.sql_error && txn) {
		char w2[GD_ERROR_MAX];
		if (my_query(&s->conn, "ROLLBACK", w2, sizeof(w2)) != 0)
			s->ready = 0;
	}
	if (s->conn.fd < 0 || !s->conn.sql_error || !s->ready)
		st_sql_close(s);	/* the next job reconnects */
	return -1;
}

/* ---- row helpers ---- */

size_t
st_clean(const char *s, char *out)
{
	return my_utf8_clean(s != NULL ? s : "", s != NULL ? strlen(s) : 0, out,
	    ST_STR_MAX);
}

size_t
st_ip_bytes(const char *ip, unsigned char out[16])
{
	int fam = 0;

	if (cfg_parse_ip(ip, &fam, out) != 0)
		return 0;
	return fam == 4 ? 4 : fam == 6 ? 16 : 0;
}

void
st_str_param(struct my_param *p, const char *s)
{
	p->type = MY_P_STRING;
	p->p = s;
	p->len = strlen(s);
}
