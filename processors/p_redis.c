/*
 * p_redis.c - the Redis processor (PROC-15) and its RESP2 client, written
 * in-tree: on save, SETEX <hashes[0]> <redis_expire_seconds> <value>,
 * where value is the "zlib-compressor" bytes when Compressor ran before,
 * else the message text (delivery header + data).  queued id = hashes[0];
 * on success sets value "redis"="redis" and continues the chain.
 *
 * Config: redis_interface ("host:port", "[v6]:port"; required),
 * redis_expire_seconds (int, required, > 0), and the C extensions
 * redis_password (AUTH after connect) and redis_db (SELECT after connect;
 * 0 = leave the default database).
 *
 * One connection per instance (each worker owns its chain: no locks).
 * init connects, and a failure fails init ("redis cannot connect, check
 * your settings: <err>", as GG): a daemon will not start while Redis is
 * down; after start a down, slow or misbehaving Redis never stops it.
 * [DEV] Any error (connect, write, timeout, an error or malformed reply)
 * closes the connection and answers "451 4.3.0 Error: storage not
 * available" (GG: 554 and never reconnects); the next job reconnects.
 * A missing Hasher is a configuration error: 554 + "storage error".
 *
 * Timeouts: connect RD_CONNECT_MS; every wait for the socket RD_IO_MS
 * without progress (the save timeout bounds the whole job).  Replies are
 * parsed from a fixed RD_REPLY_MAX buffer by rd_resp_parse, which checks
 * the whole RESP2 grammar (+ - : $ *), nesting and sizes, and never
 * allocates.  Runs on a worker: blocking here is expected.
 *
 * Longer than most processors on purpose: the wire client lives here
 * because nothing else uses it, so whoever vendors this processor takes
 * one file.  Its only other external symbols are hooks for tests/t_store.c.
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

#include "backend.h"
#include "envelope.h"
#include "log.h"

#define RD_CONNECT_MS	5000
#define RD_IO_MS	5000
#define RD_REPLY_MAX	16384	/* one reply; ours are "+OK" */
#define RD_DEPTH_MAX	8	/* nested arrays */
#define RD_ELEMS_MAX	1024	/* elements of one array */
#define RD_LINE_MAX	1024	/* "+", "-", ":" lines and length headers */
#define RD_EXPIRE_MAX	2147483647LL

struct rd {
	struct gd_ctx	*ctx;
	char		host[256];
	char		port[16];
	long long	expire;
	const char	*password;	/* points into bcfg; NULL = no AUTH */
	long long	db;
	int		fd;		/* -1 = not connected */
	int		timedout;	/* the last error was a timeout */
	char		err[512];	/* the last error, for the log */
	char		buf[RD_REPLY_MAX];
	size_t		len;
};

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

/*
 * p_redis_resp_parse - rd_resp_parse for tests/t_store.c (declared there,
 * not in a header: nothing else should need it).  *type and *n as in
 * struct rd_reply.
 */
long	p_redis_resp_parse(const char *buf, size_t len, int *type,
	    long long *n);

long
p_redis_resp_parse(const char *buf, size_t len, int *type, long long *n)
{
	struct rd_reply r;
	long k = rd_resp_parse(buf, len, &r);

	*type = r.type;
	*n = r.n;
	return k;
}

/* ---- the connection ---- */

static void
rd_close(struct rd *r)
{
	if (r->fd >= 0)
		(void)close(r->fd);
	r->fd = -1;
	r->len = 0;
}

/* rd_wait - poll fd for ev up to ms; 0 ready, -1 timeout/error (r->err). */
static int
rd_wait(struct rd *r, short ev, int ms)
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
rd_dial(struct rd *r)
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
rd_send(struct rd *r, struct iovec *iov, int n)
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
rd_reply(struct rd *r, struct rd_reply *out)
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
rd_command(struct rd *r, int argc, const char *const *argv,
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
rd_stale(struct rd *r)
{
	struct pollfd pfd;

	pfd.fd = r->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) != 0;
}

/* rd_connect - dial, then AUTH and SELECT when configured. */
static int
rd_connect(struct rd *r)
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

/* ---- the processor ---- */

static void *
rd_create(struct gd_ctx *ctx, void *user)
{
	struct rd *r = calloc(1, sizeof(*r));

	(void)user;
	if (r != NULL) {
		r->ctx = ctx;
		r->fd = -1;
	}
	return r;
}

/* rd_split - "host:port" / "[v6]:port" into r->host, r->port. */
static int
rd_split(struct rd *r, const char *s)
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

static int
rd_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct rd *r = inst;
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

static void
rd_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct rd *r = inst;
	const char *argv[4], *tail = NULL;
	size_t alen[4], zl = 0, tlen = 0;
	const void *z;
	char exp[24];
	int try, fresh;

	if (task != GD_TASK_SAVE) {
		gd_next(next, e, task, res);
		return;
	}
	if (e->nhashes == 0) {
		gd_log(r->ctx, GD_LOG_ERROR, "Redis needs a Hasher() process "
		    "before it");
		gd_result_reply(res, "554 5.5.0 Error:");
		gd_result_error(res, "storage error");
		return;
	}
	gd_strlcpy(e->queued_id, e->hashes[0], sizeof(e->queued_id));
	snprintf(exp, sizeof(exp), "%lld", r->expire);
	argv[0] = "SETEX";
	argv[1] = e->hashes[0];
	argv[2] = exp;
	alen[0] = 5;
	alen[1] = strlen(e->hashes[0]);
	alen[2] = strlen(exp);
	if ((z = env_get_value(e, "zlib-compressor", &zl)) != NULL) {
		argv[3] = z;
		alen[3] = zl;
	} else {
		argv[3] = e->delivery_header != NULL ? e->delivery_header : "";
		alen[3] = strlen(argv[3]);
		tail = e->data;
		tlen = e->data != NULL ? e->data_len : 0;
	}
	/*
	 * A connection kept from an earlier job may have died since (Redis
	 * restarted): then retry once on a new one.  SETEX of the same key
	 * and value twice is harmless.  A timeout is not retried: Redis is
	 * there but slow, and the client has waited long enough.
	 */
	for (try = 0; try < 2; try++) {
		fresh = r->fd < 0 || rd_stale(r);
		r->timedout = 0;
		if (rd_connect(r) == 0 &&
		    rd_command(r, 4, argv, alen, tail, tlen) == 0)
			break;
		rd_close(r);
		if (fresh || r->timedout)
			try = 2;
	}
	if (try >= 2) {
		gd_log(r->ctx, GD_LOG_ERROR, "Redis: SETEX %s failed, "
		    "connection dropped: %s", e->hashes[0], r->err);
		gd_result_reply(res, "451 4.3.0 Error: storage not available");
		gd_result_error(res, "storage not available");
		return;
	}
	if (env_set_value(e, "redis", "redis", 5) != 0) {
		gd_result_reply(res, "451 4.3.0 Error: out of memory");
		gd_result_error(res, "Redis: out of memory");
		return;
	}
	gd_next(next, e, task, res);
}

static int
rd_shutdown(void *inst, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	rd_close(inst);
	return 0;
}

static void
rd_destroy(void *inst)
{
	if (inst != NULL)
		rd_close(inst);
	free(inst);
}

const struct gd_processor p_redis_processor = {
	"Redis", rd_create, rd_init, rd_process, rd_shutdown, rd_destroy,
	NULL, 0
};
