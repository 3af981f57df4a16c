/*
 * mime.c - header parsing (ENV-07), RFC 2047 encoded-word decoding
 * (ENV-08) and the RFC 5322 header address parser (PROC-05); see
 * envelope.h for the API.
 *
 * Everything here runs on a worker over bytes a client sent, so every
 * loop is linear in its input: a header block of millions of lines or one
 * 10 MB line costs one pass and memory proportional to the data (the
 * number of fields kept is capped, MIME_MAX_FIELDS).  Never does I/O and
 * never logs; errors are returned as values.
 */
#include "compat.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "envelope.h"

/*
 * Fields kept per message.  Real mail has tens (a long relay path maybe a
 * few hundred Received lines); beyond this the rest of the block is
 * ignored and env_parse_headers reports it, so a hostile message of tiny
 * header lines cannot cost 40 bytes of bookkeeping per 3 bytes of data.
 */
#define MIME_MAX_FIELDS		10000
#define MIME_CHARSET_MAX	64	/* longer charset names are unknown */
#define MIME_NAME_MAX		1024	/* display-name bytes (PROC-05) */

/* ---- RFC 2047 (ENV-08) ---- */

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* b_decode - standard base64 with padding (as Go's StdEncoding: CR and LF
 * are ignored, anything else invalid).  Output fits in n bytes.  Returns
 * the decoded length or -1. */
static long
b_decode(const char *s, size_t n, unsigned char *out)
{
	unsigned acc = 0;
	size_t i, o = 0;
	int k = 0, pad = 0;

	for (i = 0; i < n; i++) {
		int v;
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=') {
			if (k < 2)
				return -1;
			pad++;
			k++;
			if (k == 4)
				k = 0;
			continue;
		}
		if (pad > 0 || (v = b64val((unsigned char)s[i])) < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		if (++k == 4) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
			k = 0;
		}
	}
	if (k != 0)
		return -1;
	if (pad == 1) {
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	} else if (pad == 2)
		out[o++] = (unsigned char)(acc >> 4);
	else if (pad > 2)
		return -1;
	return (long)o;
}

/* q_decode - RFC 2047 "Q": '_' is a space, =XX a byte, printable ASCII
 * and CR/LF/HT literal, anything else makes the word invalid (Go). */
static long
q_decode(const char *s, size_t n, unsigned char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '_')
			out[o++] = ' ';
		else if (c == '=') {
			int hi, lo;
			if (n - i < 3 || (hi = gd_hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = gd_hexval((unsigned char)s[i + 2])) < 0)
				return -1;
			out[o++] = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if ((c >= ' ' && c <= '~') || c == '\r' || c == '\n' ||
		    c == '\t')
			out[o++] = c;
		else
			return -1;
	}
	return (long)o;
}

enum cs { CS_UNKNOWN, CS_UTF8, CS_ASCII, CS_LATIN1 };

/*
 * charset_of - the built-in charsets.  Others (windows-1252, ISO-8859-15,
 * KOI8-R, ...) leave the word undecoded for now; the better design is an
 * optional iconv(3) build (ENV-08).  An RFC 2231 language suffix
 * ("utf-8*en") is ignored.
 */
static enum cs
charset_of(const char *s, size_t n)
{
	static const struct {
		const char	*name;
		enum cs		cs;
	} tab[] = {
		{ "utf-8", CS_UTF8 }, { "utf8", CS_UTF8 },
		{ "us-ascii", CS_ASCII }, { "ascii", CS_ASCII },
		{ "iso-8859-1", CS_LATIN1 }, { "iso8859-1", CS_LATIN1 },
		{ "latin1", CS_LATIN1 }, { "iso_8859-1", CS_LATIN1 }
	};
	const char *star = memchr(s, '*', n);
	size_t i;

	if (star != NULL)
		n = (size_t)(star - s);
	for (i = 0; i < NELEM(tab); i++)
		if (strlen(tab[i].name) == n &&
		    gd_strncasecmp(tab[i].name, s, n) == 0)
			return tab[i].cs;
	return CS_UNKNOWN;
}

/* put_text - append decoded bytes converted to UTF-8.  NUL bytes are
 * dropped: the result is a C string. */
static void
put_text(struct buf *b, enum cs cs, const unsigned char *s, size_t n)
{
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c != 0 && (c < 0x80 || cs == CS_UTF8))
			continue;
		(void)buf_add(b, s + run, i - run);
		run = i + 1;
		if (c == 0)
			continue;
		if (cs == CS_LATIN1) {
			unsigned char u[2];
			u[0] = (unsigned char)(0xc0 | (c >> 6));
			u[1] = (unsigned char)(0x80 | (c & 0x3f));
			(void)buf_add(b, u, 2);
		} else
			(void)buf_add(b, "\xef\xbf\xbd", 3);	/* U+FFFD, as Go */
	}
	(void)buf_add(b, s + run, n - run);
}

/* find2 - first index >= from of the pair c1 c2 in s[0..n), or n. */
static size_t
find2(const char *s, size_t from, size_t n, char c1, char c2)
{
	while (from + 1 < n) {
		const char *q = memchr(s + from, c1, n - from - 1);
		if (q == NULL)
			return n;
		from = (size_t)(q - s);
		if (s[from + 1] == c2)
			return from;
		from++;
	}
	return n;
}

static int
all_space(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n')
			return 0;
	return 1;
}

/*
 * mime_decode_words - Go's WordDecoder.DecodeHeader, with per-word
 * failure: a word with bad base64/Q text or an unknown charset is copied
 * literally (and so is the space before it), then scanning resumes after
 * its "=?".  The search for the closing "?=" is cached so that a run of
 * broken words before one far "?=" stays linear.
 */
char *
mime_decode_words(const char *in, size_t len)
{
	struct buf b = BUF_INIT(SIZE_MAX);
	unsigned char *tmp;
	size_t pos = 0, qfrom = 0, qat = 0;
	int between = 0, have_q = 0;

	if (find2(in, 0, len, '=', '?') == len && memchr(in, '\0', len) == NULL)
		return gd_memdup(in, len);
	if ((tmp = malloc(len)) == NULL)
		return NULL;
	for (;;) {
		size_t start, cs, csend, cur, end;
		enum cs set;
		long n;
		char enc;

		if ((start = find2(in, pos, len, '=', '?')) == len)
			break;
		cs = start + 2;
		{
			const char *q = memchr(in + cs, '?', len - cs);
			if (q == NULL)
				break;
			csend = (size_t)(q - in);
		}
		cur = csend + 1;
		if (len - cur < 4)		/* e.g. "Q" "?" "" "?=" */
			break;
		enc = in[cur];
		if (in[cur + 1] != '?')
			break;
		cur += 2;
		if (have_q && cur >= qfrom && cur <= qat)
			end = qat;
		else {
			end = find2(in, cur, len, '?', '=');
			qfrom = cur;
			qat = end;
			have_q = 1;
		}
		if (end == len)
			break;
		set = csend - cs <= MIME_CHARSET_MAX ?
		    charset_of(in + cs, csend - cs) : CS_UNKNOWN;
		if (enc == 'B' || enc == 'b')
			n = b_decode(in + cur, end - cur, tmp);
		else if (enc == 'Q' || enc == 'q')
			n = q_decode(in + cur, end - cur, tmp);
		else
			n = -1;
		if (n < 0 || set == CS_UNKNOWN) {
			put_text(&b, CS_UTF8, (const unsigned char *)in + pos,
			    start + 2 - pos);
			pos = start + 2;
			between = 0;
			continue;
		}
		if (start > pos && (!between || !all_space(in + pos, start - pos)))
			put_text(&b, CS_UTF8, (const unsigned char *)in + pos,
			    start - pos);
		put_text(&b, set, tmp, (size_t)n);
		pos = end + 2;
		between = 1;
	}
	put_text(&b, CS_UTF8, (const unsigned char *)in + pos, len - pos);
	free(tmp);
	return buf_take(&b);
}

/* ---- header block (ENV-07) ---- */

void
mime_canonical_name(char *name)
{
	int up = 1;

	for (; *name != '\0'; name++) {
		*name = (char)(up ? gd_toupper((unsigned char)*name) :
		    gd_tolower((unsigned char)*name));
		up = *name == '-';
	}
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* line_end - end of the line at p (before LF, and before CR if CR LF);
 * *next gets the start of the following line. */
static const char *
line_end(const char *p, const char *end, const char **next)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	const char *le = lf != NULL ? lf : end;

	*next = lf != NULL ? lf + 1 : end;
	if (le > p && le[-1] == '\r')
		le--;
	return le;
}

/* trim - strip SP, HT and CR from both ends of [*b, *e). */
static void
trim(const char **b, const char **e)
{
	while (*b < *e && is_wsp(**b))
		(*b)++;
	while (*e > *b && is_wsp((*e)[-1]))
		(*e)--;
}

/* copy_nonul - append [b, e) to v, dropping NUL bytes. */
static char *
copy_nonul(char *v, const char *b, const char *e)
{
	for (; b < e; b++)
		if (*b != '\0')
			*v++ = *b;
	return v;
}

/* cont_lines - walk the continuation lines [q, fend) of a field: adds
 * their trimmed length (plus a joining space each) to *n, or, when v is
 * not NULL, copies them there.  Returns the new end of v. */
static char *
cont_lines(const char *q, const char *fend, size_t *n, char *v)
{
	const char *b, *e, *next;

	for (; q < fend; q = next) {
		b = q;
		e = line_end(q, fend, &next);
		trim(&b, &e);
		if (e == b)
			continue;
		if (v != NULL) {
			*v++ = ' ';
			v = copy_nonul(v, b, e);
		} else
			*n += 1 + (size_t)(e - b);
	}
	return v;
}

/* add_field - one field: the name line [p, le) with its colon at colon,
 * its continuation lines in [next, fend).  0 or -1 (ENOMEM). */
static int
add_field(struct env_header *h, const char *p, const char *colon,
    const char *le, const char *next, const char *fend)
{
	const char *b = colon + 1, *e = le;
	size_t n;
	char *v;

	trim(&b, &e);
	n = (size_t)(e - b);
	(void)cont_lines(next, fend, &n, NULL);
	while (colon > p && is_wsp(colon[-1]))
		colon--;
	h->name = gd_memdup(p, (size_t)(colon - p));
	h->value = malloc(n + 1);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return -1;
	}
	mime_canonical_name(h->name);
	v = copy_nonul(h->value, b, e);
	v = cont_lines(next, fend, &n, v);
	*v = '\0';
	return 0;
}

/* valid_name - field-name = 1*(%d33-126 except ":"), optionally followed
 * by obsolete white space before the colon. */
static int
valid_name(const char *p, const char *colon)
{
	while (colon > p && is_wsp(colon[-1]))
		colon--;
	if (colon == p)
		return 0;
	for (; p < colon; p++)
		if ((unsigned char)*p < 33 || (unsigned char)*p > 126)
			return 0;
	return 1;
}

/*
 * gd_env_parse_headers - one pass over the block, in the body's first
 * window (today the whole body is one window).  A line that is not a
 * "Name: value" field (no colon, an empty or non-printable name such as an
 * mbox "From " line, or a continuation with nothing to continue) is
 * skipped together with its own continuation lines; the rest of the block
 * is still parsed.  NUL bytes in values are dropped.  Past MIME_MAX_FIELDS
 * the remaining fields are ignored and -1 is returned with the fields kept
 * so far (HeadersParser logs it and carries on).
 */
int
gd_env_parse_headers(struct gd_envelope *e, char *err, size_t errlen)
{
	const char *p, *end, *le, *next, *fend;
	size_t cap = e->nhdr;
	int rc = 0;

	if (e->headers_parsed) {
		snprintf(err, errlen, "headers already parsed");
		return -1;
	}
	{
		ssize_t n = gd_env_body_window(e, 0, &p);
		end = p + (n > 0 ? (size_t)n : 0);
	}
	while (p < end) {
		const char *colon;

		le = line_end(p, end, &next);
		if (le == p)
			break;			/* the empty line */
		/* the field runs until a line that does not start with WSP */
		for (fend = next; fend < end && (*fend == ' ' || *fend == '\t');)
			line_end(fend, end, &fend);
		colon = memchr(p, ':', (size_t)(le - p));
		if (*p == ' ' || *p == '\t' || colon == NULL ||
		    !valid_name(p, colon)) {
			p = fend;
			continue;
		}
		if (e->nhdr >= MIME_MAX_FIELDS) {
			snprintf(err, errlen, "too many header fields (kept the "
			    "first %d)", MIME_MAX_FIELDS);
			rc = -1;
			break;
		}
		if (e->nhdr == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct env_header *h = gd_reallocarray(e->hdr, nc,
			    sizeof(*h));
			if (h == NULL)
				goto nomem;
			e->hdr = h;
			cap = nc;
		}
		if (add_field(&e->hdr[e->nhdr], p, colon, le, next, fend) != 0)
			goto nomem;
		e->nhdr++;
		p = fend;
	}
	e->headers_parsed = 1;
	{
		const char *s = gd_env_header(e, "Subject");
		if (s != NULL) {
			free(e->subject);
			if ((e->subject = mime_decode_words(s, strlen(s))) == NULL)
				goto nomem;
		}
	}
	return rc;
nomem:
	e->headers_parsed = 1;
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* ---- RFC 5322 addresses (PROC-05) ---- */

struct ap {
	const char	*s;
	size_t		i;
	size_t		n;
};

static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

/* skip_cfws - white space and (nested) comments.  When cm is not NULL and
 * still empty, the first comment's text is kept there (truncated). */
static void
skip_cfws(struct ap *p, char *cm, size_t cmlen)
{
	while (p->i < p->n) {
		char c = p->s[p->i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			p->i++;
		} else if (c == '(') {
			int depth = 0, keep = cm != NULL && cm[0] == '\0';
			size_t o = 0;
			do {
				c = p->s[p->i++];
				if (c == '\\' && p->i < p->n)
					c = p->s[p->i++];
				else if (c == '(' && depth++ == 0)
					continue;
				else if (c == ')' && --depth == 0)
					break;
				if (keep && o + 1 < cmlen)
					cm[o++] = c;
			} while (p->i < p->n);
			if (keep) {
				while (o > 0 && is_wsp(cm[o - 1]))
					o--;
				cm[o] = '\0';
			}
		} else
			break;
	}
}

/* word - a quoted string or an atom (dots allowed) into buf; *quoted says
 * which.  Returns the length, or -1 when none is there or it is too long. */
static long
word(struct ap *p, char *buf, size_t size, int *quoted)
{
	size_t o = 0;

	*quoted = 0;
	if (p->i < p->n && p->s[p->i] == '"') {
		*quoted = 1;
		for (p->i++; p->i < p->n && p->s[p->i] != '"'; p->i++) {
			if (p->s[p->i] == '\\' && p->i + 1 < p->n)
				p->i++;
			if (o + 1 >= size)
				return -1;
			buf[o++] = p->s[p->i];
		}
		if (p->i >= p->n)
			return -1;		/* unterminated */
		p->i++;
	} else {
		while (p->i < p->n && is_atext((unsigned char)p->s[p->i])) {
			if (o + 1 >= size)
				return -1;
			buf[o++] = p->s[p->i++];
		}
		if (o == 0)
			return -1;
	}
	buf[o] = '\0';
	return (long)o;
}

/* needs_quoting - a local part that is not a dot-atom. */
static int
needs_quoting(const char *l)
{
	size_t i, n = strlen(l);

	if (n == 0 || l[0] == '.' || l[n - 1] == '.')
		return 1;
	for (i = 0; i < n; i++)
		if (!is_atext((unsigned char)l[i]) ||
		    (l[i] == '.' && l[i + 1] == '.'))
			return 1;
	return 0;
}

/* domain - after '@': a dot-atom or an address literal [1.2.3.4] /
 * [IPv6:...] (stored without brackets, IPv6 canonical). */
static int
domain(struct ap *p, struct gd_address *a)
{
	char lit[ENV_DOMAIN_MAX + 1];
	size_t o = 0;
	int q;

	skip_cfws(p, NULL, 0);
	if (p->i < p->n && p->s[p->i] == '[') {
		const char *v;
		for (p->i++; p->i < p->n && p->s[p->i] != ']'; p->i++) {
			if (o + 1 >= sizeof(lit))
				return -1;
			lit[o++] = p->s[p->i];
		}
		if (p->i++ >= p->n)
			return -1;
		lit[o] = '\0';
		v = lit;
		a->ip_family = 4;
		if (gd_strncasecmp(lit, "IPv6:", 5) == 0) {
			v += 5;
			a->ip_family = 6;
		}
		if (inet_pton(a->ip_family == 4 ? AF_INET : AF_INET6, v,
		    a->ip) != 1)
			return -1;
		if (inet_ntop(a->ip_family == 4 ? AF_INET : AF_INET6, a->ip,
		    a->domain, sizeof(a->domain)) == NULL)
			return -1;
		return 0;
	}
	if (word(p, a->domain, sizeof(a->domain), &q) < 0 || q ||
	    a->domain[0] == '.' || strstr(a->domain, "..") != NULL ||
	    a->domain[strlen(a->domain) - 1] == '.')
		return -1;
	return 0;
}

/* addr_spec - local@domain at p (CFWS already skipped). */
static int
addr_spec(struct ap *p, struct gd_address *a)
{
	int q;

	if (word(p, a->local, sizeof(a->local), &q) < 0)
		return -1;
	a->quoted = needs_quoting(a->local);
	skip_cfws(p, NULL, 0);
	if (p->i >= p->n || p->s[p->i] != '@')
		return -1;
	p->i++;
	return domain(p, a);
}

/* angle_addr - "<" [obs-route ":"] addr-spec ">", or "<>" (null path). */
static int
angle_addr(struct ap *p, struct gd_address *a)
{
	p->i++;
	skip_cfws(p, NULL, 0);
	if (p->i < p->n && p->s[p->i] == '>') {
		a->null_path = 1;
		return 0;
	}
	if (p->i < p->n && p->s[p->i] == '@') {
		const char *c = memchr(p->s + p->i, ':', p->n - p->i);
		if (c == NULL)
			return -1;
		p->i = (size_t)(c - p->s) + 1;
		skip_cfws(p, NULL, 0);
	}
	if (addr_spec(p, a) != 0)
		return -1;
	skip_cfws(p, NULL, 0);
	return (p->i < p->n && p->s[p->i] == '>') ? 0 : -1;
}

/* add_name_word - append one phrase word to the display name; encoded
 * atoms are decoded, and adjacent encoded words join without a space. */
static int
add_name_word(char *name, size_t *o, const char *w, int quoted, int *prev_enc)
{
	size_t wl = strlen(w), l;
	char *d = NULL;
	int enc = 0;

	if (!quoted && wl > 4 && w[0] == '=' && w[1] == '?' &&
	    w[wl - 2] == '?' && w[wl - 1] == '=') {
		if ((d = mime_decode_words(w, wl)) == NULL)
			return -1;
		enc = strcmp(d, w) != 0;
		w = d;
	}
	l = strlen(w);
	if (*o > 0 && !(enc && *prev_enc)) {
		if (*o + 1 >= MIME_NAME_MAX)
			goto toolong;
		name[(*o)++] = ' ';
	}
	if (*o + l >= MIME_NAME_MAX)
		goto toolong;
	memcpy(name + *o, w, l);
	*o += l;
	name[*o] = '\0';
	*prev_enc = enc;
	free(d);
	return 0;
toolong:
	free(d);
	return -1;
}

/*
 * mime_parse_address - see envelope.h.  Lenient where real mail is
 * (obsolete CFWS, dots in phrases, 8-bit names), strict on the address
 * itself.  In a group ("Team: a@b, c@d;") the group name is dropped and
 * the first member is returned.  "user@host (Name)" takes the comment as
 * the display name (as Go's net/mail).  *out is overwritten on success
 * without being freed; on failure it is untouched.
 */
int
mime_parse_address(const char *in, struct gd_address *out)
{
	struct ap p;
	struct gd_address a;
	char name[MIME_NAME_MAX], w[MIME_NAME_MAX];
	size_t o, wstart, lastw = 0;
	int nwords, q, prev_enc, name_quoted, in_group = 0;

	p.s = in;
	p.i = 0;
	p.n = strlen(in);
	memset(&a, 0, sizeof(a));
	for (;;) {
		skip_cfws(&p, NULL, 0);
		if (p.i >= p.n)
			return -1;
		if (p.s[p.i] == ',' || (p.s[p.i] == ';' && in_group)) {
			in_group &= p.s[p.i] != ';';
			p.i++;
			continue;	/* empty list element or empty group */
		}
		if (p.s[p.i] == '<')
			break;
		o = 0;
		name[0] = '\0';
		nwords = prev_enc = name_quoted = 0;
		for (;;) {
			skip_cfws(&p, NULL, 0);
			wstart = p.i;
			if (word(&p, w, sizeof(w), &q) < 0) {
				p.i = wstart;
				break;
			}
			lastw = wstart;
			nwords++;
			name_quoted |= q;
			if (add_name_word(name, &o, w, q, &prev_enc) != 0)
				return -1;
		}
		if (p.i >= p.n || nwords == 0)
			return -1;
		if (p.s[p.i] == ':' && !in_group) {
			in_group = 1;	/* the group's name is not kept */
			p.i++;
			continue;
		}
		if (p.s[p.i] == '<') {
			if ((a.display_name = gd_strdup(name)) == NULL)
				return -1;
			a.display_quoted = name_quoted;
			break;
		}
		if (p.s[p.i] != '@' || nwords != 1)
			return -1;
		/* a bare addr-spec: re-read its one word as the local part */
		p.i = lastw;
		if (addr_spec(&p, &a) != 0)
			return -1;
		name[0] = '\0';
		skip_cfws(&p, name, sizeof(name));
		if (name[0] != '\0' &&
		    (a.display_name = gd_strdup(name)) == NULL)
			return -1;
		*out = a;
		return 0;
	}
	if (angle_addr(&p, &a) != 0) {
		free(a.display_name);
		return -1;
	}
	*out = a;
	return 0;
}

size_t
gd_env_header_address(const struct gd_envelope *e, const char *name,
    char *buf, size_t size)
{
	const char *v = gd_env_header(e, name);
	struct gd_address a;
	size_t n = 0;

	if (size > 0)
		buf[0] = '\0';
	if (v == NULL)
		return 0;
	memset(&a, 0, sizeof(a));
	if (mime_parse_address(v, &a) == 0)
		n = env_addr_print(&a, buf, size);
	env_addr_clear(&a);
	return n;
}

/* ---- formatting header lines ---- */

/* gd_rfc1123z - day and month names come from our own tables, not %a/%b,
 * so that an embedding program's setlocale() cannot change the header. */
void
gd_rfc1123z(time_t t, char *buf, size_t len)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char mons[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm tm;
	char z[16];

	if (localtime_r(&t, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
		gd_strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 +0000", len);
		return;
	}
	if (strftime(z, sizeof(z), "%z", &tm) == 0)
		gd_strlcpy(z, "+0000", sizeof(z));
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d %s",
	    days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, z);
}

void
gd_one_line(char *buf, size_t size, const char *s)
{
	char *p;

	gd_strlcpy(buf, s, size);
	for (p = buf; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
}
