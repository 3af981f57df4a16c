/*
 * smtp.c - the SMTP protocol state machine (SPEC 3, see smtp.h): command
 * framing, the verb table, HELO/EHLO, MAIL/RCPT with the path grammar of
 * 3.8, the DATA decoder, and the replies of SPEC 9 that belong to a
 * session.
 *
 * Invariants: never reads a socket, a clock or a file (the caller passes
 * the time for the greeting); never runs str* functions over received
 * bytes, which stay (pointer, length) and may hold NULs; never overflows
 * s->out (a command starts only with SMTP_OUT_ROOM free, and no single
 * step queues more than that); never aborts on input - every failure is a
 * reply, at worst followed by SMTP_EV_CLOSE.
 */
#include "compat.h"

#include <sys/socket.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "envelope.h"
#include "smtp.h"

#define DATA_CHUNK	4096	/* decoded octets per env_data_append */

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/*
 * DATA decoder states (SMTP-45..47).  Only a line start reached through
 * CR LF (or the position right after the 354) can begin the terminator;
 * a line start reached through a bare LF is an ordinary line for
 * dot-unstuffing but never ends the data.  A lone "." followed by a bare
 * LF or a bare CR is not a stuffed dot: it is kept, so "\n.\n",
 * "\r\n.\n" and "\n.\r\n" are all stored as "\n.\n" (smuggling
 * attempts stay visible in the message instead of changing its shape).
 */
enum {
	D_BOL = 0,	/* line start after CR LF: "." CR LF may follow */
	D_BOL_LF,	/* line start after a bare LF */
	D_TEXT,		/* inside a line */
	D_CR,		/* inside a line, a CR not yet known to end it */
	D_DOT,		/* "." at D_BOL */
	D_DOT_LF,	/* "." at D_BOL_LF */
	D_DOTCR,	/* "." CR at D_BOL: LF ends the data */
	D_DOTCR_LF	/* "." CR at D_BOL_LF */
};

static const char R_SHUTDOWN[] =
    "421 4.3.0 Server is shutting down. Please try again later. Sayonara!";
static const char R_NOMEM[] = "451 4.3.0 Error: out of memory";
static const char R_PARAMS[] = "501 5.5.4 Syntax error in parameters";


/* ---- output ---- */

/* out_put - queue n octets of reply text plus CRLF.  The text is cut at
 * SMTP_REPLY_MAX; if s->out lacked room (callers keep SMTP_OUT_ROOM free,
 * so it cannot) the line would be dropped rather than overflow. */
static void
out_put(struct smtp_session *s, const char *p, size_t n)
{
	if (n > SMTP_REPLY_MAX - 2)
		n = SMTP_REPLY_MAX - 2;
	if (s->out == NULL || n + 2 > SMTP_OUT_MAX - s->outlen)
		return;
	if (s->trace != NULL)
		s->trace(s->trace_arg, 0, p, n);
	memcpy(s->out + s->outlen, p, n);
	s->out[s->outlen + n] = '\r';
	s->out[s->outlen + n + 1] = '\n';
	s->outlen += n + 2;
}

static void
reply(struct smtp_session *s, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void
reply_cat(struct smtp_session *s, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((__sentinel__))
#endif
    ;

/* reply_cat - queue one reply line: the strings that follow, up to a
 * (char *)NULL, concatenated (reply's "%s%s" without printf's cost, for
 * the greeting and EHLO that every connection gets). */
static void
reply_cat(struct smtp_session *s, ...)
{
	char line[SMTP_REPLY_MAX];
	va_list ap;
	size_t n;

	va_start(ap, s);
	n = gd_vcat(line, sizeof(line), ap);
	va_end(ap);
	out_put(s, line, n < sizeof(line) ? n : sizeof(line) - 1);
}

/* reply_str - queue one reply line given whole (reply's "%s"). */
static void
reply_str(struct smtp_session *s, const char *line)
{
	out_put(s, line, strlen(line));
}

/* reply - queue one formatted reply line.  Every %s argument is either
 * ours, already validated by a grammar, or passed through clean_copy. */
static void
reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[SMTP_REPLY_MAX];
	va_list ap;
	int n;

	if (strchr(fmt, '%') == NULL) {		/* most replies: a constant */
		reply_str(s, fmt);
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;	/* cut: a reply line has a hard limit */
	out_put(s, line, (size_t)n);
}

/* clean_copy - copy a C string without CR and LF (SMTP-57), cut to fit. */
static void
clean_copy(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	if (size == 0)
		return;
	for (; src != NULL && *src != '\0' && n + 1 < size; src++)
		if (*src != '\r' && *src != '\n')
			dst[n++] = *src;
	dst[n] = '\0';
}

static const char *
host(const struct smtp_session *s)
{
	return s->cfg->host_name != NULL ? s->cfg->host_name : "";
}

static unsigned long long
max_size(const struct smtp_session *s)
{
	return s->cfg->max_size > 0 ? (unsigned long long)s->cfg->max_size : 0;
}

/* ---- state ---- */

static void
set_state(struct smtp_session *s, enum smtp_state st)
{
	if (st == SMTP_S_DATA) {
		s->dstate = D_BOL;
		s->d_toobig = 0;
		s->d_bare_lf = 0;
		s->d_nomem = 0;
		s->d_size = 0;
		s->d_discarded = 0;
	}
	s->state = st;
}

static enum smtp_event
closing(struct smtp_session *s)
{
	set_state(s, SMTP_S_CLOSING);
	return SMTP_EV_CLOSE;
}

static void
tx_reset(struct smtp_session *s)
{
	env_reset(s->env);
	s->in_tx = 0;
}

/* ---- small byte helpers (no str* on network bytes) ---- */

/* ci_eq - p[0..n) equals the upper- or lower-case ASCII word w. */
static int
ci_eq(const char *p, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i] == '\0' || gd_toupper((unsigned char)p[i]) !=
		    gd_toupper((unsigned char)w[i]))
			return 0;
	return w[n] == '\0';
}

/* ci_prefix - p[0..n) starts with w (case-insensitive ASCII). */
static int
ci_prefix(const char *p, size_t n, const char *w, size_t wlen)
{
	return n >= wlen && ci_eq(p, wlen, w);
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* is_atext - RFC 5321 atext: letters, digits and !#$%&'*+-/=?^_`{|}~ */
static int
is_atext(int c)
{
	return is_alnum(c) || (c != '\0' && memchr("!#$%&'*+-/=?^_`{|}~",
	    c, 19) != NULL);
}

/* ---- address grammar (SPEC 3.8) ---- */

int
smtp_valid_domain(const char *s, size_t len)
{
	size_t i, lab = 0;	/* length of the current label */

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return 0;
			lab = 0;
		} else if (is_alnum(c) || (c == '-' && lab > 0)) {
			lab++;
		} else
			return 0;
	}
	return lab > 0 && s[len - 1] != '-';
}

/* parse_ipv4 - four snum (1*3DIGIT, 0..255) joined by dots. */
static int
parse_ipv4(const char *p, size_t n, unsigned char ip[4])
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;
		if (part > 0) {
			if (i >= n || p[i] != '.')
				return -1;
			i++;
		}
		while (i < n && digits < 3 && p[i] >= '0' && p[i] <= '9') {
			v = v * 10 + (unsigned)(p[i++] - '0');
			digits++;
		}
		if (digits == 0 || v > 255)
			return -1;
		ip[part] = (unsigned char)v;
	}
	return i == n ? 0 : -1;
}

/* parse_ip_text - an IPv4 dotted quad or IPv6 text (no brackets) through
 * inet_pton; canonical text into out (at least ENV_IP_MAX + 1 octets).
 * Returns the family (4 or 6) or -1.  An IPv4-mapped IPv6 address stays
 * family 6 unless map4 is set (SMTP-03 form for a remote IP). */
static int
parse_ip_text(const char *p, size_t n, int want, int map4,
    unsigned char ip[16], char *out)
{
	char tmp[ENV_IP_MAX + 1];
	size_t i;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	for (i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (!(is_alnum(c) || c == ':' || c == '.'))
			return -1;
		tmp[i] = (char)c;
	}
	tmp[n] = '\0';
	if (want != 6 && inet_pton(AF_INET, tmp, ip) == 1) {
		if (inet_ntop(AF_INET, ip, out, ENV_IP_MAX + 1) == NULL)
			return -1;
		return 4;
	}
	if (want != 4 && inet_pton(AF_INET6, tmp, ip) == 1) {
		static const unsigned char v4mapped[12] = {
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
		};
		if (map4 && memcmp(ip, v4mapped, 12) == 0) {
			memmove(ip, ip + 12, 4);
			if (inet_ntop(AF_INET, ip, out, ENV_IP_MAX + 1) == NULL)
				return -1;
			return 4;
		}
		if (inet_ntop(AF_INET6, ip, out, ENV_IP_MAX + 1) == NULL)
			return -1;
		return 6;
	}
	return -1;
}

/* parse_literal - "[d.d.d.d]" or "[IPv6:...]" exactly filling p[0..n);
 * on success fills a's domain (canonical text), ip and ip_family when a
 * is not NULL.  General literals ("[tag:...]") are refused (SMTP-34). */
static int
parse_literal(const char *p, size_t n, struct gd_address *a)
{
	struct gd_address tmp;

	if (a == NULL)
		a = &tmp;
	if (n < 3 || p[0] != '[' || p[n - 1] != ']')
		return -1;
	p++;
	n -= 2;
	memset(a->ip, 0, sizeof(a->ip));
	if (ci_prefix(p, n, "IPV6:", 5)) {
		if (parse_ip_text(p + 5, n - 5, 6, 0, a->ip, a->domain) != 6)
			return -1;
		a->ip_family = 6;
		return 0;
	}
	if (parse_ipv4(p, n, a->ip) != 0)
		return -1;
	snprintf(a->domain, sizeof(a->domain), "%u.%u.%u.%u", a->ip[0],
	    a->ip[1], a->ip[2], a->ip[3]);
	a->ip_family = 4;
	return 0;
}

/* path_end - the '>' closing the path that starts at p ('<'), skipping
 * quoted strings; NULL when there is none before end. */
static const char *
path_end(const char *p, const char *end)
{
	int inq = 0;

	for (p++; p < end; p++) {
		if (inq && *p == '\\') {
			if (++p == end)
				break;
		} else if (*p == '"')
			inq = !inq;
		else if (!inq && *p == '>')
			return p;
	}
	return NULL;
}

/* parse_local - dot-string or quoted-string at *pp (bounded by end) into
 * out (unquoted, NUL-terminated; size > any local part of a legal path).
 * Returns the stored length or -1.  As GG, *quoted is set only for a
 * quoted string holding a char that is not atext (so "a.b" is quoted,
 * a.b is not), and [DEV] for the empty quoted string. */
static int
parse_local(const char **pp, const char *end, char *out, size_t size,
    int *quoted)
{
	const char *p = *pp;
	size_t n = 0, i;

	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			unsigned char c = (unsigned char)*p;
			if (c == '\\' && ++p < end)
				c = (unsigned char)*p;
			else if (c == '\\')
				return -1;
			if (c < 32 || c > 126 || n + 1 >= size)
				return -1;
			out[n++] = (char)c;
		}
		if (p == end)
			return -1;
		p++;	/* closing quote */
		*quoted = (n == 0);	/* "" must print quoted */
		for (i = 0; i < n; i++)
			if (!is_atext((unsigned char)out[i]))
				*quoted = 1;
	} else {
		for (;;) {
			size_t atom = 0;
			while (p < end && is_atext((unsigned char)*p) &&
			    n + 1 < size) {
				out[n++] = *p++;
				atom++;
			}
			if (atom == 0)
				return -1;
			if (p == end || *p != '.')
				break;
			if (n + 1 >= size)
				return -1;
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	*pp = p;
	return (int)n;
}

/* valid_params - SMTP-21 grammar: keyword ["=" value] separated by spaces;
 * keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), value = 1*(%d33-60 /
 * %d62-126).  Runs of spaces between parameters are tolerated. */
static int
valid_params(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (p[i] == ' ') {
			i++;
			continue;
		}
		if (!is_alnum((unsigned char)p[i]))
			return 0;
		while (i < n && (is_alnum((unsigned char)p[i]) || p[i] == '-'))
			i++;
		if (i < n && p[i] == '=') {
			size_t v = ++i;
			while (i < n && p[i] > 32 && p[i] < 127 && p[i] != '=')
				i++;
			if (i == v)
				return 0;
		}
		if (i < n && p[i] != ' ')
			return 0;
	}
	return 1;
}

int
smtp_parse_path(const char *arg, size_t len, int is_rcpt,
    const char *host_name, struct gd_address *a)
{
	char local[ENV_PATH_MAX + 1];
	const char *p = arg, *end = arg + len, *close, *q, *adl = NULL;
	const char *par;
	size_t adllen = 0, parlen, dlen;
	int llen, quoted = 0;

	memset(a, 0, sizeof(*a));
	if (p < end && *p == ' ')
		p++;
	if (p == end || *p != '<')
		return SMTP_ADDR_INVALID;
	close = path_end(p, end);
	if ((size_t)((close != NULL ? close + 1 : end) - p) > ENV_PATH_MAX)
		return SMTP_ADDR_PATH_TOO_LONG;
	if (close == NULL)
		return SMTP_ADDR_INVALID;
	q = p + 1;

	if (q == close) {			/* "<>" */
		if (is_rcpt)
			return SMTP_ADDR_INVALID;
		a->null_path = 1;
		goto params;
	}
	if (is_rcpt && ci_eq(q, (size_t)(close - q), "postmaster")) {
		gd_strlcpy(a->local, "postmaster", sizeof(a->local));
		gd_strlcpy(a->domain, host_name != NULL ? host_name : "",
		    sizeof(a->domain));
		a->bare_postmaster = 1;
		goto params;
	}
	if (*q == '@') {			/* A-d-l ":" (source route) */
		adl = q;
		for (;;) {
			const char *d = ++q;
			while (q < close && *q != ',' && *q != ':')
				q++;
			if (q == close || !smtp_valid_domain(d, (size_t)(q - d)))
				return SMTP_ADDR_INVALID;
			if (*q == ':')
				break;
			if (++q == close || *q != '@')
				return SMTP_ADDR_INVALID;
		}
		adllen = (size_t)(q - adl);
		q++;
	}
	if ((llen = parse_local(&q, close, local, sizeof(local), &quoted)) < 0)
		return SMTP_ADDR_INVALID;
	if (q == close || *q != '@')
		return SMTP_ADDR_INVALID;
	q++;
	dlen = (size_t)(close - q);
	if (q < close && *q == '[') {
		if (parse_literal(q, dlen, a) != 0)
			return SMTP_ADDR_INVALID;
	} else if (!smtp_valid_domain(q, dlen))
		return SMTP_ADDR_INVALID;
	if ((size_t)llen > ENV_LOCAL_MAX)
		return SMTP_ADDR_LOCAL_TOO_LONG;
	if (dlen > ENV_DOMAIN_MAX)
		return SMTP_ADDR_DOMAIN_TOO_LONG;
	memcpy(a->local, local, (size_t)llen + 1);
	a->quoted = quoted;
	if (a->ip_family == 0) {
		memcpy(a->domain, q, dlen);
		a->domain[dlen] = '\0';
	}

params:
	par = close + 1;
	parlen = (size_t)(end - par);
	while (parlen > 0 && (par[parlen - 1] == ' ' || par[parlen - 1] == '\t'))
		parlen--;
	if (parlen > 0 && *par != ' ')
		return SMTP_ADDR_INVALID;
	while (parlen > 0 && *par == ' ') {
		par++;
		parlen--;
	}
	if (!valid_params(par, parlen))
		return SMTP_ADDR_PARAMS;
	if (parlen > 0 && (a->params = gd_memdup(par, parlen)) == NULL)
		goto nomem;
	if (adl != NULL && (a->adl = gd_memdup(adl, adllen)) == NULL)
		goto nomem;
	return SMTP_ADDR_OK;
nomem:
	env_addr_clear(a);
	return SMTP_ADDR_NOMEM;
}

/* addr_error - the reply for a smtp_parse_path error (SMTP-35). */
static void
addr_error(struct smtp_session *s, int err)
{
	switch (err) {
	case SMTP_ADDR_PATH_TOO_LONG:
		reply(s, "550 5.5.4 Path too long");
		break;
	case SMTP_ADDR_LOCAL_TOO_LONG:
		reply(s, "550 5.5.4 Local part too long, "
		    "cannot exceed 64 characters");
		break;
	case SMTP_ADDR_DOMAIN_TOO_LONG:
		reply(s, "550 5.5.4 Domain cannot exceed 255 characters");
		break;
	case SMTP_ADDR_NOMEM:
		reply_str(s, R_NOMEM);
		break;
	case SMTP_ADDR_PARAMS:
		reply_str(s, R_PARAMS);
		break;
	default:
		reply(s, "501 5.5.4 Invalid address");
		break;
	}
}

/* next_param - step through a parameter list that smtp_parse_path already
 * checked (printable ASCII, NUL-terminated).  0 at the end. */
static int
next_param(const char **pp, const char **kw, size_t *kwlen,
    const char **val, size_t *vlen)
{
	const char *p = *pp;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	*kw = p;
	while (*p != '\0' && *p != ' ' && *p != '=')
		p++;
	*kwlen = (size_t)(p - *kw);
	*val = NULL;
	*vlen = 0;
	if (*p == '=') {
		*val = ++p;
		while (*p != '\0' && *p != ' ')
			p++;
		*vlen = (size_t)(p - *val);
	}
	*pp = p;
	return 1;
}

/* mail_params - SMTP-25 for MAIL FROM: 0, or -1 with the reply queued. */
static int
mail_params(struct smtp_session *s, const char *params)
{
	const char *kw, *val;
	size_t kl, vl, i;

	while (params != NULL && next_param(&params, &kw, &kl, &val, &vl)) {
		if (ci_eq(kw, kl, "SIZE")) {
			unsigned long long n = 0;
			int big = 0;
			if (val == NULL)
				goto syntax;
			for (i = 0; i < vl; i++) {
				unsigned d = (unsigned)(val[i] - '0');
				if (val[i] < '0' || val[i] > '9')
					goto syntax;
				if (n > (~0ULL - d) / 10)
					big = 1;	/* keep checking digits */
				else
					n = n * 10 + d;
			}
			if (big || n > max_size(s)) {
				reply(s, "552 5.3.4 Message size exceeds fixed "
				    "maximum message size");
				return -1;
			}
		} else if (ci_eq(kw, kl, "BODY")) {
			if (val == NULL || (!ci_eq(val, vl, "7BIT") &&
			    !ci_eq(val, vl, "8BITMIME")))
				goto syntax;
		} else if (!ci_eq(kw, kl, "AUTH")) {
			reply(s, "555 5.5.4 Unsupported option: %.*s", (int)kl, kw);
			return -1;
		}
	}
	return 0;
syntax:
	reply_str(s, R_PARAMS);
	return -1;
}

/* ---- commands ---- */

/* helo_arg - SMTP-17/18/19: one space, a domain (or, for EHLO, an
 * address literal), optional trailing spaces/tabs; copied into out. */
static int
helo_arg(const char *arg, size_t n, int ehlo, char *out, size_t size)
{
	if (n == 0 || arg[0] != ' ')
		return -1;
	arg++;
	n--;
	while (n > 0 && (arg[n - 1] == ' ' || arg[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= size)
		return -1;
	if (arg[0] == '[') {
		if (!ehlo || parse_literal(arg, n, NULL) != 0)
			return -1;
	} else if (!smtp_valid_domain(arg, n))
		return -1;
	memcpy(out, arg, n);
	out[n] = '\0';
	return 0;
}

/* hello - HELO and EHLO: success resets the transaction (SMTP-17/18). */
static enum smtp_event
hello(struct smtp_session *s, const char *arg, size_t n, int ehlo)
{
	char name[ENV_HELO_MAX + 1], size[24];

	if (helo_arg(arg, n, ehlo, name, sizeof(name)) != 0) {
		reply(s, "550 5.5.2 Syntax error");
		return SMTP_EV_NONE;
	}
	tx_reset(s);
	memcpy(s->env->helo, name, sizeof(name));
	s->env->esmtp = ehlo;
	if (!ehlo) {
		reply_cat(s, "250 ", host(s), " Hello", (char *)NULL);
		return SMTP_EV_NONE;
	}
	reply_cat(s, "250-", host(s), " Hello", (char *)NULL);
	*gd_dec(size, max_size(s)) = '\0';
	reply_cat(s, "250-SIZE ", size, (char *)NULL);
	reply(s, "250-PIPELINING");
	if (s->cfg->tls.start_tls_on && !s->tls_active)
		reply(s, "250-STARTTLS");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-8BITMIME");
	reply(s, "250 HELP");
	return SMTP_EV_NONE;
}

static enum smtp_event
h_helo(struct smtp_session *s, const char *arg, size_t n)
{
	return hello(s, arg, n, 0);
}

static enum smtp_event
h_ehlo(struct smtp_session *s, const char *arg, size_t n)
{
	return hello(s, arg, n, 1);
}

static enum smtp_event
h_help(struct smtp_session *s, const char *arg, size_t n)
{
	(void)arg;
	(void)n;
	reply(s, "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
	    "VRFY HELP%s%s",
	    s->cfg->tls.start_tls_on && !s->tls_active ? " STARTTLS" : "",
	    s->cfg->xclient_on ? " XCLIENT" : "");
	reply(s, "214 2.0.0 End of HELP info");
	return SMTP_EV_NONE;
}

/* xclient_unavailable - SMTP-41 placeholder values that are skipped. */
static int
xclient_unavailable(const char *v, size_t n)
{
	return ci_eq(v, n, "[UNAVAILABLE]") || ci_eq(v, n, "[TEMPUNAVAIL]");
}

/* h_xclient - SMTP-41/42: apply ADDR and HELO; anything malformed or
 * unknown is ignored.  Values are used raw (no xtext decoding), as GG. */
static enum smtp_event
h_xclient(struct smtp_session *s, const char *arg, size_t n)
{
	size_t i = 0;

	if (s->xclient_untrusted) {	/* CFG-07a: not from xclient_trusted */
		reply(s, "550 5.7.0 Error: insufficient authorization");
		return SMTP_EV_NONE;
	}
	if (s->in_tx) {
		reply(s, "503 5.5.1 Error: XCLIENT not allowed in a transaction");
		return SMTP_EV_NONE;
	}
	while (i < n) {
		const char *tok, *eq, *v;
		size_t tl, vl;

		while (i < n && arg[i] == ' ')
			i++;
		tok = arg + i;
		while (i < n && arg[i] != ' ')
			i++;
		tl = (size_t)(arg + i - tok);
		if (tl == 0 || (eq = memchr(tok, '=', tl)) == NULL)
			continue;
		v = eq + 1;
		vl = tl - (size_t)(v - tok);
		if (vl == 0 || xclient_unavailable(v, vl))
			continue;
		if (ci_eq(tok, (size_t)(eq - tok), "ADDR")) {
			char text[ENV_IP_MAX + 1];
			unsigned char ip[16];
			int want = 0;
			if (ci_prefix(v, vl, "IPV6:", 5)) {
				v += 5;
				vl -= 5;
				want = 6;
			}
			if (parse_ip_text(v, vl, want, 1, ip, text) > 0)
				memcpy(s->env->remote_ip, text, sizeof(text));
		} else if (ci_eq(tok, (size_t)(eq - tok), "HELO")) {
			size_t j;
			if (vl > ENV_HELO_MAX)
				continue;
			for (j = 0; j < vl; j++)
				if (v[j] <= 32 || v[j] >= 127)
					break;
			if (j < vl)
				continue;
			memcpy(s->env->helo, v, vl);
			s->env->helo[vl] = '\0';
		}
	}
	reply(s, "250 2.1.0 OK");
	return SMTP_EV_NONE;
}

static enum smtp_event
h_mail(struct smtp_session *s, const char *arg, size_t n)
{
	struct gd_address a;
	int err;

	if (s->in_tx) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return SMTP_EV_NONE;
	}
	if ((err = smtp_parse_path(arg, n, 0, host(s), &a)) != SMTP_ADDR_OK) {
		addr_error(s, err);
		return SMTP_EV_NONE;
	}
	if (mail_params(s, a.params) != 0) {
		env_addr_clear(&a);
		return SMTP_EV_NONE;
	}
	if (env_set_from(s->env, &a) != 0) {
		env_addr_clear(&a);
		reply_str(s, R_NOMEM);
		return SMTP_EV_NONE;
	}
	s->in_tx = 1;
	reply(s, "250 2.1.0 OK");
	return SMTP_EV_NONE;
}

/* h_rcpt - SMTP-26..32, in that order; parameters (555) before the relay
 * check.  s->allowed NULL means no relay check (tests, fuzzers). */
static enum smtp_event
h_rcpt(struct smtp_session *s, const char *arg, size_t n)
{
	struct gd_address a;
	const char *kw, *val, *pp;
	size_t kl, vl;
	int err;

	if (!s->in_tx) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return SMTP_EV_NONE;
	}
	if (s->env->nrcpt >= SMTP_MAX_RCPT) {
		reply(s, "452 4.5.3 Too many recipients");
		return SMTP_EV_NONE;
	}
	if ((err = smtp_parse_path(arg, n, 1, host(s), &a)) != SMTP_ADDR_OK) {
		addr_error(s, err);
		return SMTP_EV_NONE;
	}
	pp = a.params;
	if (pp != NULL && next_param(&pp, &kw, &kl, &val, &vl)) {
		reply(s, "555 5.5.4 Unsupported option: %.*s", (int)kl, kw);
		goto out;
	}
	if (!a.bare_postmaster && s->allowed != NULL &&
	    !s->allowed(s->allowed_arg, a.domain, a.ip_family != 0)) {
		reply(s, "454 4.1.1 Error: Relay access denied: %s", a.domain);
		goto out;
	}
	if (env_add_rcpt(s->env, &a) != 0) {
		reply_str(s, R_NOMEM);
		goto out;
	}
	if (s->have_validate) {
		set_state(s, SMTP_S_WAIT_VALIDATE);
		return SMTP_EV_VALIDATE;
	}
	reply(s, "250 2.1.5 OK");
	return SMTP_EV_NONE;
out:
	env_addr_clear(&a);
	return SMTP_EV_NONE;
}

static enum smtp_event
h_rset(struct smtp_session *s, const char *arg, size_t n)
{
	(void)arg;
	(void)n;
	tx_reset(s);
	reply(s, "250 2.1.0 OK");
	return SMTP_EV_NONE;
}

static enum smtp_event
h_vrfy(struct smtp_session *s, const char *arg, size_t n)
{
	(void)arg;
	(void)n;
	reply(s, "252 2.5.0 Cannot verify user");
	return SMTP_EV_NONE;
}

static enum smtp_event
h_noop(struct smtp_session *s, const char *arg, size_t n)
{
	(void)arg;
	(void)n;
	reply(s, "250 2.0.0 OK");
	return SMTP_EV_NONE;
}

static enum smtp_event
h_quit(struct smtp_session *s, const char *arg, size_t n)
{
	(void)arg;
	(void)n;
	reply(s, "221 2.0.0 Bye");
	s->said_bye = 1;
	return closing(s);
}

static enum smtp_event
h_data(struct smtp_session *s, const char *arg, size_t n)
{
	(void)arg;
	(void)n;
	if (!s->in_tx) {
		reply(s, "503 5.5.1 Error: No sender");
		return SMTP_EV_NONE;
	}
	if (s->env->nrcpt == 0) {
		reply(s, "503 5.5.1 Error: No recipients");
		return SMTP_EV_NONE;
	}
	reply(s, "354 Enter message, ending with '.' on a line by itself");
	set_state(s, SMTP_S_DATA);
	return SMTP_EV_NONE;
}

static enum smtp_event
h_starttls(struct smtp_session *s, const char *arg, size_t n)
{
	(void)arg;
	(void)n;
	if (s->tls_active) {
		reply(s, "503 5.5.1 Error: TLS already active");
		return SMTP_EV_NONE;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	set_state(s, SMTP_S_STARTTLS);
	return SMTP_EV_STARTTLS;
}

typedef enum smtp_event (*smtp_cmd_fn)(struct smtp_session *, const char *,
    size_t);

#define V_XCLIENT	1	/* only with xclient_on */
#define V_STARTTLS	2	/* only with tls.start_tls_on */
#define VERB(name, need, fn)	{ name, sizeof(name) - 1, need, fn }

/* The verbs in the order of SMTP-14 (names upper case: command() compares
 * the first letter before the rest); a line matches when it starts with
 * the verb text (case-insensitive, SMTP-13); the handler gets the rest. */
static const struct verb {
	const char	*name;
	size_t		 len;
	int		 need;
	smtp_cmd_fn	 fn;
} verbs[] = {
	VERB("HELO", 0, h_helo),
	VERB("EHLO", 0, h_ehlo),
	VERB("HELP", 0, h_help),
	VERB("XCLIENT", V_XCLIENT, h_xclient),
	VERB("MAIL FROM:", 0, h_mail),
	VERB("RCPT TO:", 0, h_rcpt),
	VERB("RSET", 0, h_rset),
	VERB("VRFY", 0, h_vrfy),
	VERB("NOOP", 0, h_noop),
	VERB("QUIT", 0, h_quit),
	VERB("DATA", 0, h_data),
	VERB("STARTTLS", V_STARTTLS, h_starttls)
};

/* command - dispatch one command line (line ending removed). */
static enum smtp_event
command(struct smtp_session *s, const char *line, size_t n)
{
	size_t i;

	if (s->trace != NULL)
		s->trace(s->trace_arg, 1, line, n);
	if (s->shutting_down) {
		reply_str(s, R_SHUTDOWN);
		return closing(s);
	}
	for (i = 0; i < NELEM(verbs); i++) {
		const struct verb *v = &verbs[i];
		if (n == 0 || gd_toupper((unsigned char)line[0]) != v->name[0] ||
		    (v->need == V_XCLIENT && !s->cfg->xclient_on) ||
		    (v->need == V_STARTTLS && !s->cfg->tls.start_tls_on))
			continue;
		if (ci_prefix(line, n, v->name, v->len))
			return v->fn(s, line + v->len, n - v->len);
	}
	if (++s->unrecognized >= SMTP_MAX_UNRECOGNIZED) {
		reply(s, "554 5.5.1 Too many unrecognized commands");
		return closing(s);
	}
	reply(s, "554 5.5.1 Unrecognized command");
	return SMTP_EV_NONE;
}

/* command_input - frame one command line (SMTP-11/12); 0 when the line
 * is not complete yet. */
static size_t
command_input(struct smtp_session *s, const char *buf, size_t len,
    enum smtp_event *ev)
{
	const char *lf;
	size_t n;

	lf = memchr(buf, '\n', len < SMTP_LINE_MAX ? len : SMTP_LINE_MAX);
	if (lf == NULL) {
		if (len < SMTP_LINE_MAX)
			return 0;
		reply(s, "554 5.5.1 Line too long.");
		*ev = closing(s);
		return len;
	}
	s->line_done = 1;
	n = (size_t)(lf - buf);
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	*ev = command(s, buf, n);
	return (size_t)(lf - buf) + 1;
}

/* ---- DATA ---- */

/* data_store - account for n decoded octets and keep them unless the
 * message is already refused (SMTP-48, bare LF policy, earlier ENOMEM).
 * Returns -1 when the discarded amount passed the limit (close). */
static int
data_store(struct smtp_session *s, const char *p, size_t n)
{
	unsigned long long max = max_size(s);

	if (n == 0)
		return 0;
	s->d_size += n;
	if (s->d_size > max) {
		s->d_toobig = 1;
		s->d_discarded = s->d_size - max;
		return s->d_discarded > max + SMTP_DISCARD_EXTRA ? -1 : 0;
	}
	if (s->d_nomem || (s->d_bare_lf &&
	    s->cfg->bare_lf == CFG_BARE_LF_REJECT))
		return 0;
	if (env_data_append(s->env, p, n) != 0)
		s->d_nomem = 1;
	return 0;
}

/* data_fail - after a refused message: reply, reset, carry on (or 421). */
static enum smtp_event
data_fail(struct smtp_session *s)
{
	tx_reset(s);
	set_state(s, SMTP_S_COMMAND);
	if (s->shutting_down) {
		reply_str(s, R_SHUTDOWN);
		return closing(s);
	}
	return SMTP_EV_NONE;
}

/* data_end - the terminator was seen: save, or the one refusal. */
static enum smtp_event
data_end(struct smtp_session *s)
{
	if (s->d_toobig)
		reply(s, "552 5.3.4 Error: maximum DATA size exceeded (%lld)",
		    (long long)max_size(s));
	else if (s->d_bare_lf && s->cfg->bare_lf == CFG_BARE_LF_REJECT)
		reply(s, "550 5.5.2 Error: bare <LF> received");
	else if (s->d_nomem)
		reply_str(s, R_NOMEM);
	else {
		set_state(s, SMTP_S_WAIT_SAVE);
		return SMTP_EV_SAVE;
	}
	return data_fail(s);
}

/* data_input - the byte-level decoder (states above).  Consumes up to and
 * including the terminator; what follows is left for after the save. */
static size_t
data_input(struct smtp_session *s, const char *buf, size_t len,
    enum smtp_event *ev)
{
	char tmp[DATA_CHUNK];
	size_t i, n = 0;
	int st = s->dstate;

#define EMIT(ch)	(tmp[n++] = (char)(ch))
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (n > sizeof(tmp) - 4) {	/* one byte emits at most 3 */
			if (data_store(s, tmp, n) != 0)
				goto overflow;
			n = 0;
		}
again:
		switch (st) {
		case D_BOL:
		case D_BOL_LF:
			if (c == '.') {
				st = st == D_BOL ? D_DOT : D_DOT_LF;
				break;
			}
			st = D_TEXT;
			goto again;
		case D_TEXT:
			if (c != '\r' && c != '\n') {
				/* Fast path: whole CRLF lines (most of a
				 * message body), one memchr and one copy
				 * each, the CRLF stored as LF; a CR inside a
				 * line stays, as the byte switch keeps it.
				 * It hands back to the switch at a line that
				 * starts with '.', CR or LF (st D_BOL) or one
				 * without its CRLF here. */
				const char *lf, *cr;
				size_t end;

				while ((lf = memchr(buf + i, '\n', len - i)) !=
				    NULL && lf[-1] == '\r') {
					size_t k = (size_t)(lf - buf) - 1 - i;

					if (k + 1 > sizeof(tmp) - 4 - n) {
						if (data_store(s, tmp, n) != 0)
							goto overflow;
						n = 0;
					}
					if (k + 1 > sizeof(tmp) - 4) {
						if (data_store(s, buf + i,
						    k) != 0)
							goto overflow;
					} else {
						memcpy(tmp + n, buf + i, k);
						n += k;
					}
					EMIT('\n');
					s->line_done = 1;
					i = (size_t)(lf - buf) + 1;
					if (i == len || buf[i] == '.' ||
					    buf[i] == '\r' || buf[i] == '\n')
						break;
				}
				if (lf != NULL && lf[-1] == '\r') {
					st = D_BOL;
					i--;	/* the loop's i++: next line */
					break;
				}
				/* a line without its CRLF here: the run up to
				 * the next CR or LF as it is */
				end = lf != NULL ? (size_t)(lf - buf) : len;
				cr = memchr(buf + i, '\r', end - i);

				if (cr != NULL)
					end = (size_t)(cr - buf);
				if (data_store(s, tmp, n) != 0 ||
				    data_store(s, buf + i, end - i) != 0)
					goto overflow;
				n = 0;
				i = end - 1;
				break;
			}
			if (c == '\r')
				st = D_CR;
			else if (c == '\n') {
				EMIT('\n');
				s->d_bare_lf = 1;
				s->line_done = 1;
				st = D_BOL_LF;
			} else
				EMIT(c);
			break;
		case D_CR:
			if (c == '\n') {
				EMIT('\n');
				s->line_done = 1;
				st = D_BOL;
			} else if (c == '\r')
				EMIT('\r');	/* the earlier CR was bare */
			else {
				EMIT('\r');
				EMIT(c);
				st = D_TEXT;
			}
			break;
		case D_DOT:
		case D_DOT_LF:
			if (c == '.') {		/* stuffed dot (SMTP-46) */
				EMIT('.');
				st = D_TEXT;
			} else if (c == '\r')
				st = st == D_DOT ? D_DOTCR : D_DOTCR_LF;
			else if (c == '\n') {	/* lone dot, bare LF: kept */
				EMIT('.');
				EMIT('\n');
				s->d_bare_lf = 1;
				s->line_done = 1;
				st = D_BOL_LF;
			} else {		/* ".x": RFC 5321 drops the dot */
				st = D_TEXT;
				goto again;
			}
			break;
		case D_DOTCR:
		case D_DOTCR_LF:
			if (c == '\n' && st == D_DOTCR) {
				s->line_done = 1;
				s->dstate = D_BOL;
				if (data_store(s, tmp, n) != 0)
					goto overflow;
				*ev = data_end(s);
				return i + 1;
			}
			EMIT('.');		/* lone dot, not a terminator */
			st = D_CR;
			goto again;
		}
	}
#undef EMIT
	s->dstate = st;
	if (data_store(s, tmp, n) != 0)
		goto overflow;
	return len;

overflow:
	reply(s, "552 5.3.4 Error: maximum DATA size exceeded (%lld)",
	    (long long)max_size(s));
	tx_reset(s);
	*ev = closing(s);
	return len;
}

/* ---- the interface (smtp.h) ---- */

void
smtp_init(struct smtp_session *s, const struct cfg_server *cfg,
    struct gd_envelope *env, smtp_allowed_fn allowed, void *allowed_arg,
    int have_validate)
{
	memset(s, 0, sizeof(*s));	/* out is lent afterwards */
	s->cfg = cfg;
	s->env = env;
	s->allowed = allowed;
	s->allowed_arg = allowed_arg;
	s->have_validate = have_validate;
	set_state(s, SMTP_S_GREETING);
}

void
smtp_greet(struct smtp_session *s, unsigned long active, time_t now)
{
	char line[SMTP_REPLY_MAX], ts[GD_RFC3339_LEN], id[24], act[24];
	const char *g = s->cfg->greeting;
	size_t n;

	if (g != NULL) {	/* GAP-03: "%h" host name, "%%" percent */
		char text[SMTP_REPLY_MAX];
		clean_copy(text, sizeof(text), g);
		memcpy(line, "220 ", 4);
		n = 4;
		for (g = text; *g != '\0' && n < sizeof(line); g++) {
			if (g[0] == '%' && (g[1] == 'h' || g[1] == '%')) {
				if (*++g == 'h')
					n += gd_strlcpy(line + n, host(s),
					    sizeof(line) - n);
				else
					line[n++] = '%';
			} else
				line[n++] = *g;
		}
		out_put(s, line, n < sizeof(line) ? n : sizeof(line));
	} else {
		gd_rfc3339(now, ts, sizeof(ts));
		*gd_dec(id, (unsigned long long)s->env->client_id) = '\0';
		*gd_dec(act, active) = '\0';
		reply_cat(s, "220 ", host(s), " SMTP Guerrilla(",
		    s->version != NULL ? s->version : "unknown", ") #", id,
		    " (", act, ") ", ts, (char *)NULL);
	}
	set_state(s, SMTP_S_COMMAND);
}

size_t
smtp_input(struct smtp_session *s, const char *buf, size_t len,
    enum smtp_event *ev)
{
	size_t off = 0, n;

	*ev = SMTP_EV_NONE;
	if (s->state == SMTP_S_CLOSING) {
		*ev = SMTP_EV_CLOSE;
		return 0;
	}
	while (off < len) {
		if (s->state == SMTP_S_COMMAND) {
			if (SMTP_OUT_MAX - s->outlen < SMTP_OUT_ROOM)
				break;
			n = command_input(s, buf + off, len - off, ev);
			if (n == 0)
				break;
		} else if (s->state == SMTP_S_DATA)
			n = data_input(s, buf + off, len - off, ev);
		else
			break;	/* waiting for the caller: consume nothing */
		off += n;
		if (*ev != SMTP_EV_NONE)
			break;
	}
	return off;
}

/* ---- outcomes of the backend (the table in guerrilla.h) ---- */

/* is_reply_for - text is a whole reply of status st: three digits, the
 * first one st's (2, 4 or 5), then a space or the end. */
static int
is_reply_for(const char *t, enum gd_status st)
{
	char want = st == GD_STATUS_OK ? '2' : st == GD_STATUS_TEMPFAIL ?
	    '4' : st == GD_STATUS_PERMFAIL ? '5' : 0;

	return want != 0 && t[0] == want && t[1] >= '0' && t[1] <= '9' &&
	    t[2] >= '0' && t[2] <= '9' && (t[3] == ' ' || t[3] == '\0');
}

/* outcome - queue the reply for r after RCPT (rcpt set) or DATA. */
static void
outcome(struct smtp_session *s, const struct gd_result *r, int rcpt)
{
	char t[SMTP_REPLY_MAX];

	clean_copy(t, sizeof(t), r->text);
	if (is_reply_for(t, r->status)) {
		reply_str(s, t);
		return;
	}
	switch (r->status) {
	case GD_STATUS_OK:
		if (rcpt)
			reply(s, "250 2.1.5 OK");
		else if (t[0] != '\0')
			reply(s, "250 2.0.0 OK: %s", t);
		else
			reply_cat(s, "250 2.0.0 OK: queued as ",
			    s->env->queued_id, (char *)NULL);
		break;
	case GD_STATUS_TEMPFAIL:
		reply(s, "451 4.3.0 Error: %s", t[0] != '\0' ? t :
		    "storage not available");
		break;
	case GD_STATUS_PERMFAIL:
		if (rcpt)
			reply(s, "550 5.1.1 User unknown in local recipient "
			    "table %s", t[0] != '\0' ? t : "no such user");
		else
			reply(s, "554 5.5.0 Error: %s", t[0] != '\0' ? t :
			    "storage failed");
		break;
	default:
		if (rcpt)
			reply(s, "451 4.3.0 Error: storage error");
		else
			reply(s, "554 5.5.0 Error: no response from backend - "
			    "processor did not return a result or an error");
		break;
	}
}

void
smtp_validate_done(struct smtp_session *s, const struct gd_result *r)
{
	if (s->state != SMTP_S_WAIT_VALIDATE)
		return;
	set_state(s, SMTP_S_COMMAND);
	if (s->job_replied) {	/* smtp_job_timeout answered already */
		s->job_replied = 0;
		env_pop_rcpt(s->env);
		return;
	}
	outcome(s, r, 1);
	if (r->status != GD_STATUS_OK)
		env_pop_rcpt(s->env);
}

enum smtp_event
smtp_save_done(struct smtp_session *s, const struct gd_result *r)
{
	if (s->state != SMTP_S_WAIT_SAVE)
		return SMTP_EV_NONE;
	if (s->job_replied) {	/* smtp_job_timeout answered already */
		s->job_replied = 0;
		return data_fail(s);
	}
	outcome(s, r, 0);
	if (r->status == GD_STATUS_OK)
		s->messages++;
	return data_fail(s);	/* reset; the 421 when shutting down */
}

void
smtp_tls_started(struct smtp_session *s)
{
	tx_reset(s);
	s->env->helo[0] = '\0';
	s->env->esmtp = 0;
	s->env->tls = 1;
	s->tls_active = 1;
	set_state(s, SMTP_S_COMMAND);
}

/* smtp_job_timeout - BE-06 [DEV]: answer a job that overran its timeout
 * now; the envelope stays the worker's until the *_done call. */
void
smtp_job_timeout(struct smtp_session *s)
{
	if (s->job_replied)
		return;
	if (s->state == SMTP_S_WAIT_SAVE)
		reply(s, "451 4.3.0 Error: transaction timeout");
	else if (s->state == SMTP_S_WAIT_VALIDATE)
		reply(s, "451 4.3.0 Error: storage timeout");
	else
		return;
	s->job_replied = 1;
}

enum smtp_event
smtp_timeout(struct smtp_session *s)
{
	if (s->state == SMTP_S_COMMAND)
		reply(s, "421 4.4.2 %s Error: timeout exceeded", host(s));
	else if (s->state == SMTP_S_DATA) {
		/* SMTP-49: a timeout is a read error in DATA; nothing is
		 * stored (SMTP-59) and the client is told why */
		reply(s, "451 4.3.0 Error: timeout exceeded");
		tx_reset(s);
	}
	return closing(s);
}

enum smtp_event
smtp_shutdown(struct smtp_session *s)
{
	s->shutting_down = 1;
	switch (s->state) {
	case SMTP_S_GREETING:
	case SMTP_S_COMMAND:
		reply_str(s, R_SHUTDOWN);
		return closing(s);
	case SMTP_S_CLOSING:
		return SMTP_EV_CLOSE;
	default:
		return SMTP_EV_NONE;	/* finishes first (SMTP-61) */
	}
}

enum smtp_event
smtp_eof(struct smtp_session *s, const char *reason)
{
	char r[SMTP_REPLY_MAX];

	if (s->state == SMTP_S_DATA) {
		clean_copy(r, sizeof(r), reason);
		reply(s, "451 4.3.0 Error: %s", r[0] != '\0' ? r :
		    "connection closed");
		tx_reset(s);
	}
	return closing(s);
}

void
smtp_drain(struct smtp_session *s, size_t n)
{
	if (n >= s->outlen) {
		s->outlen = 0;
		return;
	}
	memmove(s->out, s->out + n, s->outlen - n);
	s->outlen -= n;
}
