/*
 * json.c - the RFC 8259 parser and the small tree API of json.h (CFG-01).
 *
 * The parser is recursive descent over buf[0..len); it never reads past len
 * and does not need a terminating NUL (a NUL byte is an ordinary invalid
 * byte).  Recursion is bounded by JSON_MAX_DEPTH.  The first error stops the
 * parse, frees everything built so far and is the one reported, as
 * "<what> at line L column C" with both counted from 1 and the column in
 * bytes.  Line and column are computed lazily by where(), which walks
 * forward from the last position asked about, so the whole parse stays
 * linear in the input.  Numbers go through strtod/strtoll on a NUL-
 * terminated copy of their text; those are locale-sensitive, but guerrillad
 * never calls setlocale(), so the "C" locale (decimal point '.') applies.
 * Objects are arrays of members searched linearly: a duplicate key costs
 * O(n) and an object of n keys O(n^2) to build, which is fine for config
 * files; a hash would be the fix if JSON ever came from clients.  The tree
 * functions (json_free, json_clone) recurse too: parsed trees are at most
 * JSON_MAX_DEPTH deep, and built trees are as deep as their builder made
 * them.  Never does I/O; allocation failure is an error, never an abort.
 */
#include "compat.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct parser {
	const char	*buf;
	size_t		 len;
	size_t		 pos;		/* next byte to read; always <= len */
	int		 flags;
	int		 depth;		/* open arrays and objects */
	int		 failed;	/* an error has been written */
	char		*err;
	size_t		 errlen;
	/* where() cache: byte wpos is on line wline, which starts at wstart */
	size_t		 wpos;
	size_t		 wstart;
	int		 wline;
};

static struct json_value	*parse_value(struct parser *);

/* where - 1-based line and byte column of buf[at] (at may equal len). */
static void
where(struct parser *p, size_t at, int *line, int *col)
{
	size_t c;

	if (at < p->wpos) {
		p->wpos = 0;
		p->wstart = 0;
		p->wline = 1;
	}
	for (; p->wpos < at; p->wpos++) {
		if (p->buf[p->wpos] == '\n') {
			if (p->wline < INT_MAX)
				p->wline++;
			p->wstart = p->wpos + 1;
		}
	}
	c = at - p->wstart + 1;
	*line = p->wline;
	*col = c > INT_MAX ? INT_MAX : (int)c;
}

/*
 * fail - record the first error, positioned at buf[at].  A message cut
 * short by a small err buffer is still the best we can do, so truncation
 * is accepted here.
 */
static void
fail(struct parser *p, size_t at, const char *fmt, ...)
{
	char msg[128];
	va_list ap;
	int line, col;

	if (p->failed)
		return;
	p->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	where(p, at, &line, &col);
	if (p->err != NULL && p->errlen > 0)
		snprintf(p->err, p->errlen, "%s at line %d column %d", msg,
		    line, col);
}

/* fail_expect - "expected <what>" at the current byte, or at the end. */
static void
fail_expect(struct parser *p, const char *what)
{
	if (p->pos >= p->len)
		fail(p, p->pos, "unexpected end of input, expected %s", what);
	else
		fail(p, p->pos, "expected %s", what);
}

static void
fail_oom(struct parser *p)
{
	if (p->failed)
		return;
	p->failed = 1;
	if (p->err != NULL && p->errlen > 0)
		snprintf(p->err, p->errlen, "out of memory");
}

/*
 * skip_ws - skip whitespace and, with JSON_COMMENTS, comments.  -1 on an
 * unterminated block comment (reported where it opens, which is what the
 * reader needs to find) or a NUL byte inside a comment.
 */
static int
skip_ws(struct parser *p)
{
	const char *b = p->buf;
	size_t open;

	while (p->pos < p->len) {
		switch (b[p->pos]) {
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			p->pos++;
			continue;
		case '/':
			break;
		default:
			return 0;
		}
		/* a '/' that does not open a comment is left to the caller */
		if (!(p->flags & JSON_COMMENTS) || p->pos + 1 >= p->len)
			return 0;
		open = p->pos;
		if (b[p->pos + 1] == '/') {
			for (p->pos += 2; p->pos < p->len && b[p->pos] != '\n';
			    p->pos++)
				if (b[p->pos] == '\0')
					goto nul;
		} else if (b[p->pos + 1] == '*') {
			for (p->pos += 2;; p->pos++) {
				if (p->pos + 1 >= p->len) {
					fail(p, open, "unterminated comment");
					return -1;
				}
				if (b[p->pos] == '\0')
					goto nul;
				if (b[p->pos] == '*' && b[p->pos + 1] == '/')
					break;
			}
			p->pos += 2;
		} else
			return 0;
	}
	return 0;
nul:
	fail(p, p->pos, "NUL byte in comment");
	return -1;
}

/* new_value - a zeroed value of type t that starts at buf[at]. */
static struct json_value *
new_value(struct parser *p, enum json_type t, size_t at)
{
	struct json_value *v;

	if ((v = calloc(1, sizeof(*v))) == NULL) {
		fail_oom(p);
		return NULL;
	}
	v->type = t;
	where(p, at, &v->line, &v->col);
	return v;
}

/*
 * utf8_seq - length of the valid UTF-8 sequence at buf[at], a byte >= 0x80
 * inside a string, or 0 after reporting why it is not one (the bounds are
 * those of Unicode Table 3-7: no overlongs, no surrogates, <= U+10FFFF).
 */
static size_t
utf8_seq(struct parser *p, size_t at)
{
	const unsigned char *b = (const unsigned char *)p->buf + at;
	size_t avail = p->len - at, k, j;
	unsigned c = b[0], lo = 0x80, hi = 0xBF;

	if (c < 0xC2 || c > 0xF4) {
		/* a bare continuation byte, an overlong lead, or too big */
		fail(p, at, "invalid UTF-8 byte 0x%02X", c);
		return 0;
	}
	if (c < 0xE0)
		k = 2;
	else if (c < 0xF0) {
		k = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else {
		k = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	}
	for (j = 1; j < k; j++) {
		if (j >= avail || b[j] < 0x80 || b[j] > 0xBF) {
			fail(p, at, "truncated UTF-8 sequence");
			return 0;
		}
	}
	if (b[1] < lo) {
		fail(p, at, "overlong UTF-8 sequence");
		return 0;
	}
	if (b[1] > hi) {
		fail(p, at, c == 0xED ? "UTF-8 encoded surrogate" :
		    "UTF-8 code point above U+10FFFF");
		return 0;
	}
	return k;
}

/* hex4 - the four hex digits at buf[at], or -1. */
static long
hex4(const struct parser *p, size_t at)
{
	long v = 0;
	size_t i;
	int c;

	if (p->len - at < 4)
		return -1;
	for (i = at; i < at + 4; i++) {
		c = (unsigned char)p->buf[i];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return -1;
		v = v * 16 + c;
	}
	return v;
}

/* utf8_put - encode code point cp (not a surrogate) at s; its length. */
static size_t
utf8_put(char *s, long cp)
{
	static const unsigned char lead[] = { 0, 0, 0xC0, 0xE0, 0xF0 };
	size_t n, i;

	if (cp < 0x80) {
		s[0] = (char)cp;
		return 1;
	}
	n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	for (i = n - 1; i > 0; i--) {
		s[i] = (char)(0x80 | (cp & 0x3F));
		cp >>= 6;
	}
	s[0] = (char)(lead[n] | cp);
	return n;
}

/*
 * escape - decode the escape at buf[*at] (a backslash) into s, advancing
 * *at past it.  Returns the number of bytes written, or -1.
 */
static int
escape(struct parser *p, size_t *at, char *s)
{
	static const char simple[] = "\"\\/bfnrt";	/* \x, and what */
	static const char decoded[] = "\"\\/\b\f\n\r\t";	/* it means */
	const char *b = p->buf, *q;
	size_t i = *at;
	long cp, lo;
	int c;

	if (i + 1 >= p->len) {
		fail(p, p->len, "unterminated string");
		return -1;
	}
	c = (unsigned char)b[i + 1];
	*at = i + 2;
	if (c != '\0' && (q = strchr(simple, c)) != NULL) {
		s[0] = decoded[q - simple];
		return 1;
	}
	if (c != 'u') {
		if (c > ' ' && c < 0x7F)
			fail(p, i, "invalid escape \\%c", c);
		else
			fail(p, i, "invalid escape: byte 0x%02X after \\", c);
		return -1;
	}
	if ((cp = hex4(p, i + 2)) < 0) {
		fail(p, i, "invalid \\u escape");
		return -1;
	}
	*at = i + 6;
	if (cp >= 0xD800 && cp <= 0xDBFF && p->len - *at >= 2 &&
	    b[i + 6] == '\\' && b[i + 7] == 'u') {
		if ((lo = hex4(p, i + 8)) < 0) {
			fail(p, i + 6, "invalid \\u escape");
			return -1;
		}
		if (lo >= 0xDC00 && lo <= 0xDFFF) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			*at = i + 12;
		}
	}
	if (cp >= 0xD800 && cp <= 0xDFFF) {
		fail(p, i, "lone surrogate \\u%04lX", cp);
		return -1;
	}
	return (int)utf8_put(s, cp);
}

/*
 * parse_string - the string whose opening quote is at buf[pos], decoded
 * into a new NUL-terminated *out (caller frees) of *outlen bytes.
 *
 * A first pass finds the closing quote, skipping the byte after each
 * backslash; the decoded text is never longer than the raw text (every
 * escape shrinks or keeps its size), so one allocation of that size is
 * enough.  The second pass consumes the same bytes as the first (escapes,
 * hex digits and UTF-8 continuation bytes are never a bare quote or
 * backslash), so it writes at most that many bytes or fails.
 */
static int
parse_string(struct parser *p, char **out, size_t *outlen)
{
	const unsigned char *b = (const unsigned char *)p->buf;
	size_t i = p->pos + 1, end, o = 0, k;
	char *s;
	int n;

	for (end = i; end < p->len && b[end] != '"'; end++)
		if (b[end] == '\\' && end + 1 < p->len)
			end++;
	if ((s = malloc(end - i + 1)) == NULL) {
		fail_oom(p);
		return -1;
	}
	for (;;) {
		if (i >= p->len) {
			fail(p, p->len, "unterminated string");
			goto fail;
		}
		if (b[i] == '"')
			break;
		if (b[i] < 0x20) {
			fail(p, i, "control character 0x%02X in string", b[i]);
			goto fail;
		}
		if (b[i] == '\\') {
			if ((n = escape(p, &i, s + o)) < 0)
				goto fail;
			o += (size_t)n;
		} else if (b[i] < 0x80)
			s[o++] = (char)b[i++];
		else {
			if ((k = utf8_seq(p, i)) == 0)
				goto fail;
			memcpy(s + o, b + i, k);
			o += k;
			i += k;
		}
	}
	s[o] = '\0';
	p->pos = i + 1;
	*out = s;
	*outlen = o;
	return 0;
fail:
	free(s);
	return -1;
}

static int
is_digit(const struct parser *p, size_t i)
{
	return i < p->len && p->buf[i] >= '0' && p->buf[i] <= '9';
}

/* parse_number - RFC 8259 section 6; starts at a '-', digit, '+' or '.'. */
static struct json_value *
parse_number(struct parser *p)
{
	struct json_value *v;
	const char *b = p->buf;
	size_t start = p->pos, i = p->pos, n;
	char tmp[64], *s, *end;
	double d;
	long long ll = 0;
	int is_int = 1, erange, bad_end;

	if (i < p->len && b[i] == '-')
		i++;
	if (i < p->len && b[i] == '0') {
		if (is_digit(p, ++i))
			goto bad;	/* leading zero */
	} else if (is_digit(p, i)) {
		while (is_digit(p, i))
			i++;
	} else
		goto bad;
	if (i < p->len && b[i] == '.') {
		is_int = 0;
		if (!is_digit(p, ++i))
			goto bad;
		while (is_digit(p, i))
			i++;
	}
	if (i < p->len && (b[i] == 'e' || b[i] == 'E')) {
		is_int = 0;
		i++;
		if (i < p->len && (b[i] == '+' || b[i] == '-'))
			i++;
		if (!is_digit(p, i))
			goto bad;
		while (is_digit(p, i))
			i++;
	}

	/* the text is valid; strtod and strtoll need it NUL-terminated */
	n = i - start;
	if (n < sizeof(tmp)) {
		memcpy(tmp, b + start, n);
		tmp[n] = '\0';
		s = tmp;
	} else if ((s = gd_memdup(b + start, n)) == NULL) {
		fail_oom(p);
		return NULL;
	}
	/*
	 * Both calls must consume all of it; strtod stopping early would mean
	 * someone set a locale whose decimal point is not '.'.  ERANGE with a
	 * tiny result is underflow, which rounds and is valid.
	 */
	errno = 0;
	d = strtod(s, &end);
	bad_end = end != s + n;
	erange = errno == ERANGE && (d > DBL_MAX || d < -DBL_MAX);
	if (is_int) {
		errno = 0;
		ll = strtoll(s, &end, 10);
		is_int = errno != ERANGE;
		bad_end |= end != s + n;
	}
	if (s != tmp)
		free(s);
	if (bad_end) {
		fail(p, start, "invalid number");
		return NULL;
	}
	if (erange) {
		fail(p, start, "number out of range");
		return NULL;
	}
	if ((v = new_value(p, JSON_NUMBER, start)) == NULL)
		return NULL;
	v->u.num.d = d;
	v->u.num.i = is_int ? ll : 0;
	v->u.num.is_int = is_int;
	p->pos = i;
	return v;
bad:
	fail(p, i, "invalid number");
	return NULL;
}

/* grow - make room for one more element in *arr (of *n used, *cap). */
static int
grow(void **arr, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *a;

	if (n < *cap)
		return 0;
	if (*cap > SIZE_MAX / 2 / size)
		return -1;
	ncap = *cap < 4 ? 4 : *cap * 2;
	if ((a = gd_reallocarray(*arr, ncap, size)) == NULL)
		return -1;
	*arr = a;
	*cap = ncap;
	return 0;
}

/*
 * members_put - obj[key] = val, taking ownership of both on success (a
 * replaced value and the now redundant key are freed).  *cap is the
 * capacity of the member array, which the tree itself does not record.
 */
static int
members_put(struct json_value *obj, size_t *cap, char *key, size_t keylen,
    struct json_value *val)
{
	struct json_member *m = obj->u.obj.m;
	size_t i, n = obj->u.obj.n;
	void *arr = m;

	for (i = 0; i < n; i++) {
		if (m[i].keylen == keylen &&
		    memcmp(m[i].key, key, keylen) == 0) {
			json_free(m[i].val);
			m[i].val = val;
			free(key);
			return 0;
		}
	}
	if (grow(&arr, n, cap, sizeof(*m)) == -1)
		return -1;
	m = obj->u.obj.m = arr;
	m[n].key = key;
	m[n].keylen = keylen;
	m[n].val = val;
	obj->u.obj.n++;
	return 0;
}

/* parse_object - the object whose '{' is at buf[pos]. */
static struct json_value *
parse_object(struct parser *p)
{
	struct json_value *v, *val;
	size_t cap = 0, keylen;
	char *key;

	if ((v = new_value(p, JSON_OBJECT, p->pos)) == NULL)
		return NULL;
	p->pos++;
	if (skip_ws(p) == -1)
		goto fail;
	if (p->pos < p->len && p->buf[p->pos] == '}') {
		p->pos++;
		return v;
	}
	for (;;) {
		if (skip_ws(p) == -1)
			goto fail;
		if (p->pos >= p->len || p->buf[p->pos] != '"') {
			fail_expect(p, "a string key");
			goto fail;
		}
		if (parse_string(p, &key, &keylen) == -1)
			goto fail;
		if (skip_ws(p) == -1)
			goto fail_key;
		if (p->pos >= p->len || p->buf[p->pos] != ':') {
			fail_expect(p, "':' after object key");
			goto fail_key;
		}
		p->pos++;
		if (skip_ws(p) == -1 || (val = parse_value(p)) == NULL)
			goto fail_key;
		if (members_put(v, &cap, key, keylen, val) == -1) {
			json_free(val);
			fail_oom(p);
			goto fail_key;
		}
		if (skip_ws(p) == -1)
			goto fail;
		if (p->pos < p->len && p->buf[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->buf[p->pos] == '}') {
			p->pos++;
			return v;
		}
		fail_expect(p, "',' or '}'");
		goto fail;
	}
fail_key:
	free(key);
fail:
	json_free(v);
	return NULL;
}

/* parse_array - the array whose '[' is at buf[pos]. */
static struct json_value *
parse_array(struct parser *p)
{
	struct json_value *v, *item;
	size_t cap = 0;
	void *arr;

	if ((v = new_value(p, JSON_ARRAY, p->pos)) == NULL)
		return NULL;
	p->pos++;
	if (skip_ws(p) == -1)
		goto fail;
	if (p->pos < p->len && p->buf[p->pos] == ']') {
		p->pos++;
		return v;
	}
	for (;;) {
		if (skip_ws(p) == -1 || (item = parse_value(p)) == NULL)
			goto fail;
		arr = v->u.arr.items;
		if (grow(&arr, v->u.arr.n, &cap, sizeof(item)) == -1) {
			json_free(item);
			fail_oom(p);
			goto fail;
		}
		v->u.arr.items = arr;
		v->u.arr.items[v->u.arr.n++] = item;
		if (skip_ws(p) == -1)
			goto fail;
		if (p->pos < p->len && p->buf[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->buf[p->pos] == ']') {
			p->pos++;
			return v;
		}
		fail_expect(p, "',' or ']'");
		goto fail;
	}
fail:
	json_free(v);
	return NULL;
}

/* parse_literal - true, false or null at buf[pos]. */
static struct json_value *
parse_literal(struct parser *p, const char *word, enum json_type t)
{
	struct json_value *v;
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->buf + p->pos, word, n) != 0) {
		fail(p, p->pos, "expected '%s'", word);
		return NULL;
	}
	if ((v = new_value(p, t, p->pos)) != NULL)
		p->pos += n;
	return v;
}

/* parse_value - any value at buf[pos] (whitespace already skipped). */
static struct json_value *
parse_value(struct parser *p)
{
	struct json_value *v;
	size_t start = p->pos;
	struct json_value *ret;

	if (p->pos >= p->len) {
		fail_expect(p, "a value");
		return NULL;
	}
	switch (p->buf[p->pos]) {
	case '{':
	case '[':
		if (p->depth >= JSON_MAX_DEPTH) {
			fail(p, p->pos, "nesting too deep");
			return NULL;
		}
		p->depth++;
		ret = p->buf[p->pos] == '{' ? parse_object(p) : parse_array(p);
		p->depth--;
		return ret;
	case '"':
		if ((v = new_value(p, JSON_STRING, start)) == NULL)
			return NULL;
		if (parse_string(p, &v->u.str.s, &v->u.str.len) == -1) {
			free(v);
			return NULL;
		}
		return v;
	case 't':
		return parse_literal(p, "true", JSON_TRUE);
	case 'f':
		return parse_literal(p, "false", JSON_FALSE);
	case 'n':
		return parse_literal(p, "null", JSON_NULL);
	case '-':
	case '+':
	case '.':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_number(p);
	default:
		fail_expect(p, "a value");
		return NULL;
	}
}

struct json_value *
json_parse(const char *buf, size_t len, int flags, char *err, size_t errlen)
{
	struct parser p;
	struct json_value *v;

	memset(&p, 0, sizeof(p));
	p.buf = buf;
	p.len = buf == NULL ? 0 : len;
	p.flags = flags;
	p.err = err;
	p.errlen = errlen;
	p.wline = 1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	if (skip_ws(&p) == -1)
		return NULL;
	if (p.pos >= p.len) {
		/* an empty document reads better without "end of input" */
		fail(&p, p.pos, "expected a value");
		return NULL;
	}
	if ((v = parse_value(&p)) == NULL)
		return NULL;
	if (skip_ws(&p) == -1)
		goto fail;
	if (p.pos < p.len) {
		fail(&p, p.pos, "unexpected data after the document");
		goto fail;
	}
	return v;
fail:
	json_free(v);
	return NULL;
}

void
json_free(struct json_value *v)
{
	size_t i;

	if (v == NULL)
		return;
	switch (v->type) {
	case JSON_STRING:
		free(v->u.str.s);
		break;
	case JSON_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			json_free(v->u.arr.items[i]);
		free(v->u.arr.items);
		break;
	case JSON_OBJECT:
		for (i = 0; i < v->u.obj.n; i++) {
			free(v->u.obj.m[i].key);
			json_free(v->u.obj.m[i].val);
		}
		free(v->u.obj.m);
		break;
	default:
		break;
	}
	free(v);
}

const struct json_value *
json_get(const struct json_value *v, const char *key)
{
	size_t i, n;

	if (v == NULL || v->type != JSON_OBJECT || key == NULL)
		return NULL;
	n = strlen(key);
	for (i = 0; i < v->u.obj.n; i++)
		if (v->u.obj.m[i].keylen == n &&
		    memcmp(v->u.obj.m[i].key, key, n) == 0)
			return v->u.obj.m[i].val;
	return NULL;
}

/* make - a bare value of type t with no position (line and column 0). */
static struct json_value *
make(enum json_type t)
{
	struct json_value *v;

	if ((v = calloc(1, sizeof(*v))) != NULL)
		v->type = t;
	return v;
}

struct json_value *
json_new_string(const char *s)
{
	struct json_value *v;

	if (s == NULL || (v = make(JSON_STRING)) == NULL)
		return NULL;
	v->u.str.len = strlen(s);
	if ((v->u.str.s = gd_memdup(s, v->u.str.len)) == NULL) {
		free(v);
		return NULL;
	}
	return v;
}

struct json_value *
json_new_bool(int b)
{
	return make(b ? JSON_TRUE : JSON_FALSE);
}

struct json_value *
json_new_int(long long i)
{
	struct json_value *v;

	if ((v = make(JSON_NUMBER)) != NULL) {
		v->u.num.d = (double)i;
		v->u.num.i = i;
		v->u.num.is_int = 1;
	}
	return v;
}

struct json_value *
json_new_object(void)
{
	return make(JSON_OBJECT);
}

struct json_value *
json_new_array(void)
{
	return make(JSON_ARRAY);
}

int
json_push(struct json_value *arr, struct json_value *val)
{
	struct json_value **items;

	if (arr == NULL || arr->type != JSON_ARRAY || val == NULL ||
	    (items = gd_reallocarray(arr->u.arr.items, arr->u.arr.n + 1,
	    sizeof(*items))) == NULL) {
		json_free(val);
		return -1;
	}
	items[arr->u.arr.n++] = val;
	arr->u.arr.items = items;
	return 0;
}

/*
 * json_set - the tree does not keep the member array's capacity, so each
 * new key reallocates; fine for filling in a handful of defaults.
 */
int
json_set(struct json_value *obj, const char *key, struct json_value *val)
{
	size_t cap, keylen;
	char *k;

	if (obj == NULL || obj->type != JSON_OBJECT || key == NULL ||
	    val == NULL)
		goto fail;
	keylen = strlen(key);
	if ((k = gd_memdup(key, keylen)) == NULL)
		goto fail;
	cap = obj->u.obj.n;
	if (members_put(obj, &cap, k, keylen, val) == -1) {
		free(k);
		goto fail;
	}
	return 0;
fail:
	json_free(val);
	return -1;
}

struct json_value *
json_clone(const struct json_value *v)
{
	struct json_value *c;
	size_t i, n;

	if (v == NULL || (c = make(v->type)) == NULL)
		return NULL;
	c->line = v->line;
	c->col = v->col;
	switch (v->type) {
	case JSON_NUMBER:
		c->u.num = v->u.num;
		break;
	case JSON_STRING:
		if ((c->u.str.s = gd_memdup(v->u.str.s, v->u.str.len)) == NULL)
			goto fail;
		c->u.str.len = v->u.str.len;
		break;
	case JSON_ARRAY:
		if ((n = v->u.arr.n) == 0)
			break;
		if ((c->u.arr.items = gd_reallocarray(NULL, n,
		    sizeof(*c->u.arr.items))) == NULL)
			goto fail;
		/* n counts what is built so far, so json_free can undo it */
		for (i = 0; i < n; i++) {
			if ((c->u.arr.items[i] = json_clone(v->u.arr.items[i]))
			    == NULL)
				goto fail;
			c->u.arr.n++;
		}
		break;
	case JSON_OBJECT:
		if ((n = v->u.obj.n) == 0)
			break;
		if ((c->u.obj.m = gd_reallocarray(NULL, n, sizeof(*c->u.obj.m)))
		    == NULL)
			goto fail;
		for (i = 0; i < n; i++) {
			struct json_member *m = &c->u.obj.m[i];

			m->keylen = v->u.obj.m[i].keylen;
			m->key = gd_memdup(v->u.obj.m[i].key, m->keylen);
			if (m->key == NULL)
				goto fail;
			if ((m->val = json_clone(v->u.obj.m[i].val)) == NULL) {
				free(m->key);
				goto fail;
			}
			c->u.obj.n++;
		}
		break;
	default:
		break;
	}
	return c;
fail:
	json_free(c);
	return NULL;
}

const char *
json_type_name(enum json_type t)
{
	/* indexed by enum json_type, in json.h's order */
	static const char *const names[] = { "null", "boolean", "boolean",
	    "number", "string", "array", "object" };

	return (size_t)t < NELEM(names) ? names[t] : "unknown";
}

int
json_equal(const struct json_value *a, const struct json_value *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case JSON_NUMBER:
		if (a->u.num.is_int && b->u.num.is_int)
			return a->u.num.i == b->u.num.i;
		return a->u.num.d == b->u.num.d;
	case JSON_STRING:
		return a->u.str.len == b->u.str.len &&
		    memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
	case JSON_ARRAY:
		if (a->u.arr.n != b->u.arr.n)
			return 0;
		for (i = 0; i < a->u.arr.n; i++)
			if (!json_equal(a->u.arr.items[i], b->u.arr.items[i]))
				return 0;
		return 1;
	case JSON_OBJECT:
		if (a->u.obj.n != b->u.obj.n)
			return 0;
		for (i = 0; i < a->u.obj.n; i++)
			if (!json_equal(a->u.obj.m[i].val,
			    json_get(b, a->u.obj.m[i].key)))
				return 0;
		return 1;
	default:	/* null, true, false: the type says it all */
		return 1;
	}
}
