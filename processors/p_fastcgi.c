/*
 * p_fastcgi.c - the FastCGI processor (PROC-18; GG vendor
 * flashmob/fastcgi-processor) and its FastCGI client, written in-tree:
 * one responder request per job over a new connection (tcp or unix),
 * FCGI_BEGIN_REQUEST, FCGI_PARAMS (name-value pairs, 1- or 4-byte
 * lengths), FCGI_STDIN; then FCGI_STDOUT / FCGI_STDERR records until
 * FCGI_END_REQUEST.
 *
 * Config (all strings, required): fcgi_script_filename_save,
 * fcgi_script_filename_validate, fcgi_connection_type ("tcp" | "unix"),
 * fcgi_connection_address ("host:port" or a socket path).
 *
 * Params always: SCRIPT_FILENAME, SERVER_SOFTWARE=Go-guerrilla fastcgi,
 * REMOTE_ADDR=127.0.0.1, REQUEST_METHOD, SERVER_PROTOCOL=HTTP/1.1,
 * QUERY_STRING, CONTENT_LENGTH (and CONTENT_TYPE for POST).
 *
 * Validate: GET with QUERY_STRING=rcpt_to=<last recipient, URL-encoded>;
 * a body starting with PASSED (or the README's PASS) accepts, any other
 * body is "no such user", a transport failure "storage not available".
 * Save: POST application/x-www-form-urlencoded rcpt_to_0..n-1, remote_ip,
 * subject, tls_on, helo, mail_from, body (the message text); a body
 * starting with SAVED continues the chain, any other answers
 * "554 Error: could not save email for [<rcpt0>]".  [DEV] A transport
 * failure (connect, timeout, malformed records, FCGI status other than
 * request-complete, or a CGI "Status: 5xx") answers "451 4.3.0 Error:
 * fastcgi unavailable" and the request is sent once (GG posts once per
 * recipient and counts transport errors as saved).
 * Init sends a test GET and only logs a failure (GG).
 *
 * Bounds: connect FC_CONNECT_MS, every wait FC_IO_MS without progress;
 * the response is read record by record from a fixed buffer, keeping at
 * most FC_OUT_MAX bytes of stdout and FC_ERR_MAX of stderr, and at most
 * FC_RESP_MAX bytes in all.  Runs on a worker: blocking is expected.
 *
 * Longer than most processors on purpose: the wire client lives here
 * because nothing else uses it, so whoever vendors this processor takes
 * one file.  Its only other external symbols are hooks for tests/t_store.c.
 */
#include "compat.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guerrilla.h"
#include "log.h"
#include "processors/builtins.h"

#define FC_ADDR_MAX	(2 * 128 + 255 + 8)	/* a printed address */
#define FC_CONNECT_MS	5000
#define FC_PROBE_MS	2000	/* init's test GET: start-up stays quick */
#define FC_IO_MS	5000
#define FC_OUT_MAX	65536
#define FC_ERR_MAX	1024
#define FC_RESP_MAX	(16L * 1024 * 1024)
#define FC_REC_MAX	(8 + 65535 + 255)
#define FC_CHUNK	65528	/* record content: a multiple of 8 */

/* Record types (FastCGI 1.0, section 8). */
#define FCGI_BEGIN_REQUEST	1
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_STDERR		7
#define FCGI_RESPONDER		1
#define FC_REQ_ID		1

/* A growing byte buffer; every size is checked before it is added. */
struct fc_buf {
	char	*p;
	size_t	len, cap;
	int	oom;	/* latched: an append failed */
};

/* What the server said. */
struct fc_resp {
	char	out[FC_OUT_MAX];	/* stdout, cut at FC_OUT_MAX */
	size_t	outlen;
	char	err[FC_ERR_MAX];	/* stderr, cut */
	size_t	errlen;
	int	app_status;
};

struct fc {
	struct gd_ctx	*ctx;
	const char	*script_save;	/* these point into bcfg */
	const char	*script_validate;
	int		is_unix;
	char		host[256];
	char		port[16];
	char		path[108];	/* sun_path's common size */
	char		err[512];	/* the last transport error */
	char		rec[FC_REC_MAX];
	struct fc_resp	resp;
};

static void
fc_put(struct fc_buf *b, const void *p, size_t n)
{
	size_t ncap;
	char *np;

	if (b->oom || n == 0)
		return;
	if (n > (size_t)-1 / 2 - b->len) {
		b->oom = 1;
		return;
	}
	if (b->len + n > b->cap) {
		ncap = b->cap < 4096 ? 4096 : b->cap;
		while (ncap < b->len + n)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
fc_puts(struct fc_buf *b, const char *s)
{
	fc_put(b, s, strlen(s));
}

/* fc_urlenc - Go's url.QueryEscape: [A-Za-z0-9-_.~] kept, ' ' as '+',
 * everything else %XX. */
static void
fc_urlenc(struct fc_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char tmp[256];
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (k + 3 > sizeof(tmp)) {
			fc_put(b, tmp, k);
			k = 0;
		}
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			tmp[k++] = (char)c;
		else if (c == ' ')
			tmp[k++] = '+';
		else {
			tmp[k++] = '%';
			tmp[k++] = hex[c >> 4];
			tmp[k++] = hex[c & 15];
		}
	}
	fc_put(b, tmp, k);
}

/* fc_form - "&name=value" (no '&' for the first field). */
static void
fc_form(struct fc_buf *b, const char *name, const char *v, size_t n)
{
	if (b->len > 0)
		fc_put(b, "&", 1);
	fc_puts(b, name);
	fc_put(b, "=", 1);
	fc_urlenc(b, v, n);
}

/* fc_len - a name-value pair length: 1 byte below 128, else 4 bytes with
 * the top bit set (section 3.4). */
static void
fc_len(struct fc_buf *b, size_t n)
{
	unsigned char l[4];

	if (n < 128) {
		l[0] = (unsigned char)n;
		fc_put(b, l, 1);
		return;
	}
	if (n > 0x7fffffffUL) {
		b->oom = 1;
		return;
	}
	l[0] = (unsigned char)(0x80 | (n >> 24));
	l[1] = (unsigned char)(n >> 16);
	l[2] = (unsigned char)(n >> 8);
	l[3] = (unsigned char)n;
	fc_put(b, l, 4);
}

/* fc_encode_param - append one FastCGI name-value pair to b. */
static void
fc_encode_param(struct fc_buf *b, const char *name, const char *v, size_t n)
{
	fc_len(b, strlen(name));
	fc_len(b, n);
	fc_puts(b, name);
	fc_put(b, v, n);
}

/*
 * fc_records - append content as records of type (content at most
 * FC_CHUNK bytes each), then the empty record that ends the stream.
 */
static void
fc_records(struct fc_buf *b, int type, const char *p, size_t n)
{
	unsigned char h[8];
	size_t k;

	do {
		k = n > FC_CHUNK ? FC_CHUNK : n;
		h[0] = 1;
		h[1] = (unsigned char)type;
		h[2] = 0;
		h[3] = FC_REQ_ID;
		h[4] = (unsigned char)(k >> 8);
		h[5] = (unsigned char)k;
		h[6] = 0;	/* no padding */
		h[7] = 0;
		fc_put(b, h, 8);
		fc_put(b, p, k);
		p += k;
		n -= k;
	} while (k > 0);
}

/*
 * fc_parse_record - one record at the start of buf[0..len): returns its
 * total length (header + content + padding), 0 when more bytes are
 * needed, -1 when it is not a FastCGI 1 record.  Sets *type, *content,
 * *clen.
 */
static long
fc_parse_record(const unsigned char *buf, size_t len, int *type,
    const unsigned char **content, size_t *clen)
{
	size_t c, pad;

	if (len < 8)
		return 0;
	if (buf[0] != 1)
		return -1;
	c = (size_t)buf[4] << 8 | buf[5];
	pad = buf[6];
	if (len < 8 + c + pad)
		return 0;
	*type = buf[1];
	*content = buf + 8;
	*clen = c;
	return (long)(8 + c + pad);
}

/*
 * For tests/t_store.c (declared there, not in a header): the encoders
 * into a malloc'd buffer (*out; 0 or -1), and the record parser.
 */
int	p_fastcgi_encode_param(const char *name, const char *v, size_t n,
	    char **out, size_t *outlen);
int	p_fastcgi_encode_stream(int type, const char *p, size_t n, char **out,
	    size_t *outlen);
long	p_fastcgi_parse_record(const unsigned char *buf, size_t len,
	    int *type, const unsigned char **content, size_t *clen);

int
p_fastcgi_encode_param(const char *name, const char *v, size_t n,
    char **out, size_t *outlen)
{
	struct fc_buf b = { NULL, 0, 0, 0 };

	fc_encode_param(&b, name, v, n);
	*out = b.p;
	*outlen = b.len;
	return b.oom ? -1 : 0;
}

int
p_fastcgi_encode_stream(int type, const char *p, size_t n, char **out,
    size_t *outlen)
{
	struct fc_buf b = { NULL, 0, 0, 0 };

	fc_records(&b, type, p, n);
	*out = b.p;
	*outlen = b.len;
	return b.oom ? -1 : 0;
}

long
p_fastcgi_parse_record(const unsigned char *buf, size_t len, int *type,
    const unsigned char **content, size_t *clen)
{
	return fc_parse_record(buf, len, type, content, clen);
}

/* ---- transport ---- */

/* fc_wait - poll fd for ev up to ms: > 0 ready (revents), -1 (f->err). */
static int
fc_wait(struct fc *f, int fd, short ev, int ms)
{
	struct pollfd pfd;
	int n;

	pfd.fd = fd;
	pfd.events = ev;
	pfd.revents = 0;
	do
		n = poll(&pfd, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		snprintf(f->err, sizeof(f->err), "i/o timeout");
		return -1;
	}
	if (n < 0) {
		snprintf(f->err, sizeof(f->err), "poll: %s", strerror(errno));
		return -1;
	}
	return pfd.revents;
}

/* fc_connect1 - non-blocking connect of a new socket; fd or -1. */
static int
fc_connect1(struct fc *f, int family, const struct sockaddr *sa,
    socklen_t salen, int ms)
{
	int fd, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if ((fd = socket(family, SOCK_STREAM, 0)) < 0) {
		snprintf(f->err, sizeof(f->err), "socket: %s",
		    strerror(errno));
		return -1;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	gd_nosigpipe(fd);
	if (connect(fd, sa, salen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		snprintf(f->err, sizeof(f->err), "connect: %s",
		    strerror(errno));
		goto fail;
	}
	if (fc_wait(f, fd, POLLOUT, ms) < 0) {
		snprintf(f->err, sizeof(f->err), "connect timeout");
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
	    soerr != 0) {
		snprintf(f->err, sizeof(f->err), "connect: %s",
		    strerror(soerr != 0 ? soerr : errno));
		goto fail;
	}
	return fd;
fail:
	(void)close(fd);
	return -1;
}

/* fc_dial - a new connection to the configured address; fd or -1. */
static int
fc_dial(struct fc *f, int ms)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un sa_un;
	int fd = -1, rc;

	if (f->is_unix) {
		memset(&sa_un, 0, sizeof(sa_un));
		sa_un.sun_family = AF_UNIX;
		memcpy(sa_un.sun_path, f->path, strlen(f->path) + 1);
		return fc_connect1(f, AF_UNIX, (struct sockaddr *)&sa_un,
		    sizeof(sa_un), ms);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(f->host, f->port, &hints, &res)) != 0) {
		snprintf(f->err, sizeof(f->err), "lookup %s: %s", f->host,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = fc_connect1(f, ai->ai_family, ai->ai_addr,
		    ai->ai_addrlen, ms);
	freeaddrinfo(res);
	return fd;
}

/* fc_take - act on one complete record; 1 at FCGI_END_REQUEST, 0 to go
 * on, -1 on a protocol error. */
static int
fc_take(struct fc *f, int type, const unsigned char *c, size_t n)
{
	struct fc_resp *r = &f->resp;
	size_t k;

	switch (type) {
	case FCGI_STDOUT:
		k = n < sizeof(r->out) - r->outlen ? n :
		    sizeof(r->out) - r->outlen;
		memcpy(r->out + r->outlen, c, k);
		r->outlen += k;
		return 0;
	case FCGI_STDERR:
		k = n < sizeof(r->err) - r->errlen ? n :
		    sizeof(r->err) - r->errlen;
		memcpy(r->err + r->errlen, c, k);
		r->errlen += k;
		return 0;
	case FCGI_END_REQUEST:
		if (n < 8) {
			snprintf(f->err, sizeof(f->err), "short "
			    "FCGI_END_REQUEST");
			return -1;
		}
		r->app_status = (int)((unsigned long)c[0] << 24 |
		    (unsigned long)c[1] << 16 | (unsigned long)c[2] << 8 | c[3]);
		if (c[4] != 0) {
			snprintf(f->err, sizeof(f->err), "request not "
			    "completed (FastCGI protocol status %d)", c[4]);
			return -1;
		}
		return 1;
	default:
		return 0;	/* management records and the like */
	}
}

/* fc_exchange - send req, read the response into f->resp.  0 or -1
 * (f->err).  Reads while sending, so a server that answers early can
 * never deadlock us. */
static int
fc_exchange(struct fc *f, const struct fc_buf *req, int connect_ms)
{
	size_t sent = 0, have = 0;
	long total = 0, rl;
	ssize_t k;
	int fd, ev, type, done = 0, rc = -1;
	const unsigned char *content;
	size_t clen;

	f->resp.outlen = 0;
	f->resp.errlen = 0;
	f->resp.app_status = 0;
	if ((fd = fc_dial(f, connect_ms)) < 0)
		return -1;
	while (!done) {
		ev = fc_wait(f, fd, (short)(POLLIN | (sent < req->len ?
		    POLLOUT : 0)), FC_IO_MS);
		if (ev < 0)
			goto out;
		if ((ev & POLLOUT) && sent < req->len) {
			k = send(fd, req->p + sent, req->len - sent,
			    GD_MSG_NOSIGNAL);
			if (k > 0)
				sent += (size_t)k;
			else if (k < 0 && errno != EINTR && errno != EAGAIN &&
			    errno != EWOULDBLOCK) {
				snprintf(f->err, sizeof(f->err), "write: %s",
				    strerror(errno));
				goto out;
			}
		}
		if (!(ev & (POLLIN | POLLHUP | POLLERR)))
			continue;
		k = recv(fd, f->rec + have, sizeof(f->rec) - have, 0);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			snprintf(f->err, sizeof(f->err), "read: %s",
			    strerror(errno));
			goto out;
		}
		if (k == 0) {
			snprintf(f->err, sizeof(f->err), "connection closed "
			    "before FCGI_END_REQUEST");
			goto out;
		}
		have += (size_t)k;
		if ((total += k) > FC_RESP_MAX) {
			snprintf(f->err, sizeof(f->err), "response too long");
			goto out;
		}
		while ((rl = fc_parse_record((unsigned char *)f->rec, have,
		    &type, &content, &clen)) > 0) {
			if ((done = fc_take(f, type, content, clen)) < 0)
				goto out;
			memmove(f->rec, f->rec + rl, have - (size_t)rl);
			have -= (size_t)rl;
			if (done)
				break;
		}
		if (rl < 0) {
			snprintf(f->err, sizeof(f->err), "malformed record");
			goto out;
		}
	}
	rc = 0;
out:
	(void)close(fd);
	return rc;
}

/* fc_body - the response body: stdout after the CGI header block (the
 * whole of stdout when there is none).  *status = the CGI "Status:"
 * code, 200 without one. */
static const char *
fc_body(const struct fc_resp *r, size_t *n, int *status)
{
	const char *p = r->out, *end = r->out + r->outlen, *line, *nl;

	*status = 200;
	for (line = p; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			break;
		if (nl == line || (nl == line + 1 && line[0] == '\r')) {
			*n = (size_t)(end - nl - 1);
			return nl + 1;
		}
		if (nl - line >= 11 && gd_strncasecmp(line, "Status:", 7) == 0) {
			const char *s = line + 7;
			while (*s == ' ')
				s++;
			if (s + 3 <= nl && s[0] >= '1' && s[0] <= '5' &&
			    s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
			    s[2] <= '9')
				*status = (s[0] - '0') * 100 +
				    (s[1] - '0') * 10 + (s[2] - '0');
		}
	}
	*status = 200;
	*n = r->outlen;
	return r->out;
}

static int
fc_prefix(const char *p, size_t n, const char *word)
{
	size_t l = strlen(word);

	return n >= l && memcmp(p, word, l) == 0;
}

/* fc_request - run one request (method "GET" or "POST"; form is the
 * query string or the POST body).  Returns the body (in f->resp) or NULL
 * on a transport failure (f->err). */
static const char *
fc_request(struct fc *f, const char *script, const char *method,
    const struct fc_buf *form, size_t *blen, int connect_ms)
{
	struct fc_buf params = { NULL, 0, 0, 0 }, req = { NULL, 0, 0, 0 };
	static const unsigned char begin[8] = { 0, FCGI_RESPONDER, 0 };
	const char *body = NULL;
	int post = strcmp(method, "POST") == 0, status;
	char clen[24];

	snprintf(clen, sizeof(clen), "%zu", post ? form->len : (size_t)0);
	fc_encode_param(&params, "SCRIPT_FILENAME", script, strlen(script));
	fc_encode_param(&params, "SERVER_SOFTWARE", "Go-guerrilla fastcgi",
	    20);
	fc_encode_param(&params, "REMOTE_ADDR", "127.0.0.1", 9);
	fc_encode_param(&params, "REQUEST_METHOD", method, strlen(method));
	fc_encode_param(&params, "SERVER_PROTOCOL", "HTTP/1.1", 8);
	fc_encode_param(&params, "QUERY_STRING", post ? "" : form->p,
	    post ? 0 : form->len);
	fc_encode_param(&params, "CONTENT_LENGTH", clen, strlen(clen));
	if (post)
		fc_encode_param(&params, "CONTENT_TYPE",
		    "application/x-www-form-urlencoded", 33);
	{
		unsigned char h[8] = { 1, FCGI_BEGIN_REQUEST, 0, FC_REQ_ID,
		    0, 8, 0, 0 };
		fc_put(&req, h, 8);
		fc_put(&req, begin, 8);
	}
	fc_records(&req, FCGI_PARAMS, params.p, params.len);
	fc_records(&req, FCGI_STDIN, post ? form->p : NULL,
	    post ? form->len : 0);
	if (params.oom || req.oom) {
		snprintf(f->err, sizeof(f->err), "out of memory");
		goto out;
	}
	if (fc_exchange(f, &req, connect_ms) != 0)
		goto out;
	if (f->resp.errlen > 0)
		gd_log(f->ctx, GD_LOG_WARN, "FastCGI %s stderr: %.*s", script,
		    (int)f->resp.errlen, f->resp.err);
	body = fc_body(&f->resp, blen, &status);
	if (status >= 500) {
		snprintf(f->err, sizeof(f->err), "CGI status %d", status);
		body = NULL;
	}
out:
	free(params.p);
	free(req.p);
	return body;
}

/* ---- the processor ---- */

static void *
fc_create(struct gd_ctx *ctx, void *user)
{
	struct fc *f = calloc(1, sizeof(*f));

	(void)user;
	if (f != NULL)
		f->ctx = ctx;
	return f;
}

/* fc_validate - GET rcpt_to=<addr>: 1 pass, 0 refused, -1 transport. */
static int
fc_validate(struct fc *f, const char *addr, int connect_ms)
{
	struct fc_buf q = { NULL, 0, 0, 0 };
	const char *body;
	size_t n = 0;

	fc_form(&q, "rcpt_to", addr, strlen(addr));
	if (q.oom) {
		snprintf(f->err, sizeof(f->err), "out of memory");
		free(q.p);
		return -1;
	}
	body = fc_request(f, f->script_validate, "GET", &q, &n, connect_ms);
	free(q.p);
	if (body == NULL)
		return -1;
	return fc_prefix(body, n, "PASSED") || fc_prefix(body, n, "PASS");
}

static int
fc_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct fc *f = inst;
	const char *type, *addr, *colon;

	if (gd_config_str(bcfg, "fcgi_script_filename_save", 1,
	    &f->script_save, err, errlen) < 0 ||
	    gd_config_str(bcfg, "fcgi_script_filename_validate", 1,
	    &f->script_validate, err, errlen) < 0 ||
	    gd_config_str(bcfg, "fcgi_connection_type", 1, &type, err,
	    errlen) < 0 ||
	    gd_config_str(bcfg, "fcgi_connection_address", 1, &addr, err,
	    errlen) < 0)
		return -1;
	if (strcmp(type, "unix") == 0) {
		f->is_unix = 1;
		if (addr[0] == '\0' || strlen(addr) >= sizeof(f->path)) {
			snprintf(err, errlen, "fcgi_connection_address: unix "
			    "socket path empty or longer than %zu bytes",
			    sizeof(f->path) - 1);
			return -1;
		}
		gd_strlcpy(f->path, addr, sizeof(f->path));
	} else if (strcmp(type, "tcp") == 0) {
		f->is_unix = 0;
		colon = strrchr(addr, ':');
		if (colon == NULL || colon == addr || colon[1] == '\0' ||
		    strlen(colon + 1) >= sizeof(f->port) ||
		    (size_t)(colon - addr) >= sizeof(f->host)) {
			snprintf(err, errlen, "fcgi_connection_address: want "
			    "host:port, got '%.100s'", addr);
			return -1;
		}
		if (addr[0] == '[' && colon[-1] == ']' && colon - addr > 2) {
			memcpy(f->host, addr + 1, (size_t)(colon - addr - 2));
			f->host[colon - addr - 2] = '\0';
		} else {
			memcpy(f->host, addr, (size_t)(colon - addr));
			f->host[colon - addr] = '\0';
		}
		gd_strlcpy(f->port, colon + 1, sizeof(f->port));
	} else {
		snprintf(err, errlen, "fcgi_connection_type: want 'tcp' or "
		    "'unix', got '%.50s'", type);
		return -1;
	}
	if (fc_validate(f, "test@example.com", FC_PROBE_MS) < 0)
		gd_log(f->ctx, GD_LOG_WARN, "FastCGI: test request to %s "
		    "failed: %s", f->is_unix ? f->path : addr, f->err);
	return 0;
}

static void
fc_save(struct fc *f, struct gd_envelope *e, struct gd_next *next,
    struct gd_result *res)
{
	struct fc_buf form = { NULL, 0, 0, 0 };
	char a[FC_ADDR_MAX], name[32];
	const char *h = gd_env_delivery_header(e), *body, *p;
	const char *subject = gd_env_subject(e);
	size_t i, n = 0, hl = strlen(h), nrcpt = gd_env_rcpt_count(e);
	int tls = gd_env_tls(e);
	uint64_t off = 0;
	ssize_t k;

	for (i = 0; i < nrcpt; i++) {
		snprintf(name, sizeof(name), "rcpt_to_%zu", i);
		(void)gd_env_rcpt_print(e, i, a, sizeof(a));
		fc_form(&form, name, a, strlen(a));
	}
	fc_form(&form, "remote_ip", gd_env_remote_ip(e),
	    strlen(gd_env_remote_ip(e)));
	fc_form(&form, "subject", subject != NULL ? subject : "",
	    subject != NULL ? strlen(subject) : 0);
	fc_form(&form, "tls_on", tls ? "true" : "false", tls ? 4 : 5);
	fc_form(&form, "helo", gd_env_helo(e), strlen(gd_env_helo(e)));
	(void)gd_env_from_print(e, a, sizeof(a));
	fc_form(&form, "mail_from", a, strlen(a));
	fc_form(&form, "body", h, hl);
	while ((k = gd_env_body_window(e, off, &p)) > 0) {
		fc_urlenc(&form, p, (size_t)k);
		off += (uint64_t)k;
	}
	if (form.oom || k < 0) {
		free(form.p);
		gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: out "
		    "of memory");
		gd_result_detail(res, "FastCGI: out of memory");
		return;
	}
	body = fc_request(f, f->script_save, "POST", &form, &n, FC_CONNECT_MS);
	free(form.p);
	if (body == NULL) {
		gd_log(f->ctx, GD_LOG_ERROR, "FastCGI: save request to %s "
		    "failed: %s", f->script_save, f->err);
		gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: "
		    "fastcgi unavailable");
		gd_result_detail(res, "fastcgi unavailable");
		return;
	}
	if (!fc_prefix(body, n, "SAVED")) {
		/* the application refused it: its decision, permanent */
		(void)gd_env_rcpt_print(e, 0, a, sizeof(a));
		gd_log(f->ctx, GD_LOG_WARN, "FastCGI: %s did not answer SAVED:"
		    " %.*s", f->script_save, (int)(n > 100 ? 100 : n), body);
		gd_result_set(res, GD_STATUS_PERMFAIL, "554 Error: could not "
		    "save email for [%s]", a);
		return;
	}
	gd_next(next, e, GD_TASK_SAVE, res);
}

static void
fc_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct fc *f = inst;
	char a[FC_ADDR_MAX];
	size_t nrcpt = gd_env_rcpt_count(e);
	int r;

	if (task == GD_TASK_SAVE) {
		fc_save(f, e, next, res);
		return;
	}
	if (task != GD_TASK_VALIDATE || nrcpt == 0) {
		gd_next(next, e, task, res);
		return;
	}
	(void)gd_env_rcpt_print(e, nrcpt - 1, a, sizeof(a));
	r = fc_validate(f, a, FC_CONNECT_MS);
	if (r < 0) {
		gd_log(f->ctx, GD_LOG_ERROR, "FastCGI: validate request to %s "
		    "failed: %s", f->script_validate, f->err);
		gd_result_set(res, GD_STATUS_TEMPFAIL, "storage not available");
		return;
	}
	if (r == 0) {
		gd_result_set(res, GD_STATUS_PERMFAIL, "no such user");
		return;
	}
	gd_next(next, e, task, res);
}

static void
fc_destroy(void *inst)
{
	free(inst);
}

static const char *const fc_keys[] = {
	"fcgi_script_filename_save", "fcgi_script_filename_validate",
	"fcgi_connection_type", "fcgi_connection_address", NULL
};

const struct gd_processor p_fastcgi_processor = {
	.name = "FastCGI",
	.create = fc_create,
	.init = fc_init,
	.process = fc_process,
	.destroy = fc_destroy,
	.keys = fc_keys
};
