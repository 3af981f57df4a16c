/*
 * config.c - loading, defaulting and validating the JSON config (SPEC 7),
 * plus the small matchers the rest of the daemon needs from it:
 * allowed_hosts (CFG-06), globs, durations (CFG-03), IPs and CIDR blocks.
 * The API is documented in config.h.
 *
 * Loading reads one file, bounded at CFG_FILE_MAX, and never touches the
 * network.  Every problem found is collected (CFG-12) and a config with any
 * error is freed whole: the caller gets a complete config or nothing.
 * Nothing here logs or exits; errors are values for the caller to print.
 * JSON null counts as an absent key, as in GG (Go's json leaves the field
 * alone).  Unknown keys are ignored.
 */
#include "compat.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "log.h"

#define CFG_FILE_MAX	(16L * 1024 * 1024)	/* a config is never this big */
#define CFG_MSG_MAX	1024	/* one error line; longer ones are cut */
#define CFG_QUOTE_MAX	80	/* user text quoted in an error, escaped */
/* timeout is seconds; capped so that timeout * 1000 ms still fits an int. */
#define CFG_TIMEOUT_MAX	(INT_MAX / 1000)

struct ctx {
	const char		*name;	/* file name or "name" for strings */
	struct cfg_errors	*errs;
	char			host[256];	/* system host name */
};

enum want { W_BOOL, W_INT, W_STR, W_ARR, W_OBJ };
static const char *const want_words[] = {
	"a boolean", "a number", "a string", "an array", "an object"
};

static const char *const auth_names[] = {
	"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
	"VerifyClientCertIfGiven", "RequireAndVerifyClientCert"
};

/* Backend keys that hold durations (BE-06 [DEV]: bad ones are errors). */
static const char *const be_durations[] = {
	"gw_save_timeout", "gw_val_rcpt_timeout", "sql_max_conn_lifetime",
	"redis_sql_batch_timeout"
};

/*
 * cfg_tls_supported - is TLS built in?  Yes: tls.c (BearSSL).  The files'
 * contents (PEM, key matching the certificate, suites) are checked by
 * tls_ctx_new when the servers start.
 */
int
cfg_tls_supported(void)
{
	return 1;
}

void
cfg_errors_add(struct cfg_errors *e, const char *fmt, ...)
{
	va_list ap;
	int n;
	size_t need;
	char *t;

	e->count++;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* old text + "\n" + new text + NUL; on ENOMEM the count still says
	 * that something went wrong. */
	need = e->len + (e->len > 0) + (size_t)n + 1;
	if ((t = realloc(e->text, need)) == NULL)
		return;
	e->text = t;
	if (e->len > 0)
		t[e->len++] = '\n';
	va_start(ap, fmt);
	vsnprintf(t + e->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	e->len += (size_t)n;
}

void
cfg_errors_free(struct cfg_errors *e)
{
	free(e->text);
	e->text = NULL;
	e->len = 0;
	e->count = 0;
}

/* quote - s as a short, printable, quoted string for an error message
 * (\xNN for control and 8-bit bytes, "..." when cut).  Returns buf. */
static const char *
quote(char *buf, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	buf[o++] = '"';
	for (; *s != '\0' && o + 8 < size; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		} else
			buf[o++] = (char)ch;
	}
	if (*s != '\0') {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* cerr - add "<name>: <msg>[ at line L column C]" to the error list. */
static void	cerr(struct ctx *c, const struct json_value *at,
		    const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static void
cerr(struct ctx *c, const struct json_value *at, const char *fmt, ...)
{
	char msg[CFG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	/* a cut message is still a useful one */
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at != NULL && at->line > 0)	/* 0: built in memory (API-02) */
		cfg_errors_add(c->errs, "%s: %s at line %d column %d", c->name,
		    msg, at->line, at->col);
	else
		cfg_errors_add(c->errs, "%s: %s", c->name, msg);
}

/* dupstr - strdup that records ENOMEM as a load error. */
static char *
dupstr(struct ctx *c, const char *s)
{
	char *d = gd_strdup(s);

	if (d == NULL)
		cerr(c, NULL, "out of memory");
	return d;
}

static void
free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

/* member - obj[key] when present and not null; NULL otherwise. */
static const struct json_value *
member(const struct json_value *obj, const char *key)
{
	const struct json_value *v;

	if (obj == NULL)
		return NULL;
	v = json_get(obj, key);
	return (v == NULL || v->type == JSON_NULL) ? NULL : v;
}

/* typed - obj[key] when present with the wanted type; NULL when absent,
 * or when of the wrong type, which is recorded as an error (CFG-02). */
static const struct json_value *
typed(struct ctx *c, const struct json_value *obj, const char *key,
    enum want w)
{
	const struct json_value *v = member(obj, key);
	int ok;

	if (v == NULL)
		return NULL;
	ok = w == W_BOOL ? v->type == JSON_TRUE || v->type == JSON_FALSE :
	    w == W_INT ? v->type == JSON_NUMBER :
	    w == W_STR ? v->type == JSON_STRING :
	    w == W_ARR ? v->type == JSON_ARRAY : v->type == JSON_OBJECT;
	if (!ok) {
		cerr(c, v, "could not parse config file: \"%s\" must be %s", key,
		    want_words[w]);
		return NULL;
	}
	if (w == W_STR && strlen(v->u.str.s) != v->u.str.len) {
		cerr(c, v, "\"%s\" must not contain NUL characters", key);
		return NULL;
	}
	return v;
}

static void
get_bool(struct ctx *c, const struct json_value *obj, const char *key,
    int *dst)
{
	const struct json_value *v = typed(c, obj, key, W_BOOL);

	if (v != NULL)
		*dst = v->type == JSON_TRUE;
}

/* get_int - obj[key] as an integer in 0..max.  Returns 1 and sets *dst,
 * or 0 when absent or in error (recorded). */
static int
get_int(struct ctx *c, const struct json_value *obj, const char *key,
    long long max, long long *dst)
{
	const struct json_value *v = typed(c, obj, key, W_INT);

	if (v == NULL)
		return 0;
	if (!v->u.num.is_int) {
		if (v->u.num.d >= 9.2e18 || v->u.num.d <= -9.2e18)
			cerr(c, v, "\"%s\" is out of range", key);
		else
			cerr(c, v, "could not parse config file: \"%s\" must be "
			    "an integer", key);
		return 0;
	}
	if (v->u.num.i < 0) {
		cerr(c, v, "\"%s\" must not be negative (%lld)", key,
		    v->u.num.i);
		return 0;
	}
	if (v->u.num.i > max) {
		cerr(c, v, "\"%s\" is too large (%lld, at most %lld)", key,
		    v->u.num.i, max);
		return 0;
	}
	*dst = v->u.num.i;
	return 1;
}

/* get_str - obj[key] copied into *dst (replacing it).  Returns 1 when set,
 * 0 when absent or in error. */
static int
get_str(struct ctx *c, const struct json_value *obj, const char *key,
    char **dst)
{
	const struct json_value *v = typed(c, obj, key, W_STR);
	char *s;

	if (v == NULL || (s = dupstr(c, v->u.str.s)) == NULL)
		return 0;
	free(*dst);
	*dst = s;
	return 1;
}

/* set_default - make an absent or empty *dst a copy of dflt (or NULL). */
static void
set_default(struct ctx *c, char **dst, const char *dflt)
{
	if (*dst != NULL && **dst != '\0')
		return;
	free(*dst);
	*dst = dflt != NULL ? dupstr(c, dflt) : NULL;
}

/* get_strv - obj[key] as an array of strings, copied into *dst / *n.
 * Returns the array value, or NULL when absent or in error (tell them
 * apart with member()). */
static const struct json_value *
get_strv(struct ctx *c, const struct json_value *obj, const char *key,
    char ***dst, size_t *n)
{
	const struct json_value *v = typed(c, obj, key, W_ARR), *it;
	char **sv;
	size_t i, cnt;

	if (v == NULL)
		return NULL;
	cnt = v->u.arr.n;
	for (i = 0; i < cnt; i++) {
		it = v->u.arr.items[i];
		if (it->type != JSON_STRING) {
			cerr(c, it, "could not parse config file: \"%s\" must be "
			    "an array of strings", key);
			return NULL;
		}
		if (strlen(it->u.str.s) != it->u.str.len) {
			cerr(c, it, "\"%s\" must not contain NUL characters", key);
			return NULL;
		}
	}
	if ((sv = calloc(cnt > 0 ? cnt : 1, sizeof(*sv))) == NULL) {
		cerr(c, NULL, "out of memory");
		return NULL;
	}
	for (i = 0; i < cnt; i++) {
		if ((sv[i] = dupstr(c, v->u.arr.items[i]->u.str.s)) == NULL) {
			free_strv(sv, i);
			return NULL;
		}
	}
	*dst = sv;
	*n = cnt;
	return v;
}

/* level_parse - LOG-02 names, case-insensitive as logrus; -1 if unknown.
 * Kept here rather than calling log.c so config.c links on its own. */
static int
level_parse(const char *s)
{
	static const struct {
		const char	*name;
		int		level;
	} t[] = {
		{ "debug", LOGL_DEBUG }, { "info", LOGL_INFO },
		{ "warning", LOGL_WARN }, { "warn", LOGL_WARN },
		{ "error", LOGL_ERROR }, { "fatal", LOGL_FATAL },
		{ "panic", LOGL_PANIC }
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++)
		if (gd_strcasecmp(s, t[i].name) == 0)
			return t[i].level;
	return -1;
}

static int
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* iface_ok - "host:port", "[v6]:port" or ":port", port 0..65535. */
static int
iface_ok(const char *s)
{
	const char *colon, *p;
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char b[16];
	long port = 0;
	size_t hl;

	if (s[0] == '[') {
		if ((p = strchr(s, ']')) == NULL || p[1] != ':')
			return 0;
		hl = (size_t)(p - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return 0;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, b) != 1)
			return 0;
		colon = p + 1;
	} else {
		/* one colon only: a bare IPv6 address needs brackets */
		if ((colon = strchr(s, ':')) == NULL || strchr(colon + 1, ':'))
			return 0;
		for (p = s; p < colon; p++)
			if (!(is_digit(*p) || (*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') || *p == '.' || *p == '-' ||
			    *p == '_'))
				return 0;
	}
	p = colon + 1;
	if (*p == '\0' || strlen(p) > 5)
		return 0;
	for (; *p != '\0'; p++) {
		if (!is_digit(*p))
			return 0;
		port = port * 10 + (*p - '0');
	}
	return port <= 65535;
}

/* parse_cidr - "a.b.c.d/n", "v6/n" or a bare address (= one host).  An
 * IPv4-mapped IPv6 block of /96 or more becomes the IPv4 block. */
static int
parse_cidr(const char *s, struct cfg_cidr *out)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/'), *p;
	size_t l = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int bits = 0, maxbits, mapped, i;

	if (l == 0 || l >= sizeof(ip))
		return -1;
	memcpy(ip, s, l);
	ip[l] = '\0';
	if (cfg_parse_ip(ip, &out->family, out->addr) != 0)
		return -1;
	mapped = out->family == 4 && strchr(ip, ':') != NULL;
	maxbits = out->family == 4 && !mapped ? 32 : 128;
	if (slash == NULL)
		bits = maxbits;
	else {
		p = slash + 1;
		if (*p == '\0' || strlen(p) > 3)
			return -1;
		for (; *p != '\0'; p++) {
			if (!is_digit(*p))
				return -1;
			bits = bits * 10 + (*p - '0');
		}
		if (bits > maxbits)
			return -1;
	}
	if (mapped) {
		if (bits < 96)
			return -1;
		bits -= 96;
	}
	out->bits = bits;
	/* clear host bits, as Go's net.ParseCIDR does */
	for (i = 0; i < 16; i++) {
		int keep = bits - i * 8;
		if (keep >= 8)
			continue;
		out->addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
	return 0;
}

/* get_cidrs - obj[key] as CIDR blocks; absent = loopback only. */
static void
get_cidrs(struct ctx *c, const struct json_value *obj, const char *key,
    struct cfg_cidr **dst, size_t *n)
{
	char **sv = NULL, q[CFG_QUOTE_MAX];
	size_t ns = 0, i;
	const struct json_value *v = get_strv(c, obj, key, &sv, &ns);

	if (v == NULL) {
		if (member(obj, key) != NULL)
			return;
		if ((*dst = calloc(2, sizeof(**dst))) == NULL) {
			cerr(c, NULL, "out of memory");
			return;
		}
		(void)parse_cidr("127.0.0.0/8", &(*dst)[0]);
		(void)parse_cidr("::1/128", &(*dst)[1]);
		*n = 2;
		return;
	}
	if ((*dst = calloc(ns > 0 ? ns : 1, sizeof(**dst))) == NULL)
		cerr(c, NULL, "out of memory");
	else {
		for (i = 0; i < ns; i++)
			if (parse_cidr(sv[i], &(*dst)[i]) != 0)
				cerr(c, v->u.arr.items[i], "invalid CIDR %s in \"%s\" "
				    "(want a.b.c.d/n, ipv6/n or one address)",
				    quote(q, sizeof(q), sv[i]), key);
		*n = ns;
	}
	free_strv(sv, ns);
}

/* file_check - can the daemon open path for reading?  0, or -1 with a
 * Go-style reason ("open <path>: <why>"). */
static int
file_check(const char *path, char *why, size_t size)
{
	struct stat st;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY)) < 0) {
		(void)snprintf(why, size, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)snprintf(why, size, "open %s: not a regular file", path);
		r = -1;
	}
	(void)close(fd);
	return r;
}

/* proto_code - TLS protocol name to version number; -1 if unknown. */
static int
proto_code(const char *s)
{
	static const char *const names[] = {
		"ssl3.0", "tls1.0", "tls1.1", "tls1.2", "tls1.3"
	};
	size_t i;

	for (i = 0; i < NELEM(names); i++)
		if (strcmp(s, names[i]) == 0)
			return 0x0300 + (int)i;
	return -1;
}

/* load_protocols - "protocols": [min] or [min, max] (TLS-02). */
static void
load_protocols(struct ctx *c, const struct json_value *obj, struct cfg_tls *t)
{
	const struct json_value *v, *it;
	char **sv = NULL, q[CFG_QUOTE_MAX];
	size_t n = 0, i;
	int code[2] = { 0, 0 };

	if ((v = get_strv(c, obj, "protocols", &sv, &n)) == NULL)
		return;
	if (n > 2) {
		cerr(c, v, "\"protocols\" must be [min, max]");
		free_strv(sv, n);
		return;
	}
	for (i = 0; i < n; i++) {
		it = v->u.arr.items[i];
		code[i] = proto_code(sv[i]);
		if (code[i] < 0)
			cerr(c, it, "unknown TLS protocol %s (want tls1.0, "
			    "tls1.1, tls1.2 or tls1.3)", quote(q, sizeof(q), sv[i]));
		else if (code[i] == 0x0300)
			cerr(c, it, "TLS protocol \"ssl3.0\" is not supported");
		else if (code[i] == 0x0304 && i == 0)
			cerr(c, it, "TLS protocol \"tls1.3\" cannot be the "
			    "minimum: only TLS 1.0 to 1.2 are implemented");
		else if (code[i] == 0x0304) {
			/* TLS-02: clamp to what BearSSL has; loading has no
			 * warning channel, so tls_ctx_new logs the warning */
			code[i] = 0x0303;
			t->proto_clamped = 1;
		}
		else
			continue;
		if (code[i] != 0x0303)
			code[i] = -1;
	}
	if (code[0] > 0 && code[1] > 0 && code[0] > code[1])
		cerr(c, v, "TLS protocol minimum %s is above the maximum",
		    quote(q, sizeof(q), sv[0]));
	else if (code[0] >= 0 && code[1] >= 0) {
		t->proto_min = code[0];
		t->proto_max = code[1];
	}
	free_strv(sv, n);
}

/* load_tls - the "tls" object of one server (7.4); obj may be NULL.
 * Types and names are checked for every server, disabled ones too (a bad
 * name is a typo either way); files and root CAs only by check_tls. */
static void
load_tls(struct ctx *c, const struct json_value *obj, struct cfg_tls *t)
{
	static const char *const curves[] = { "P256", "P384", "P521", "X25519" };
	const struct json_value *v;
	char q[CFG_QUOTE_MAX];
	size_t i, j;

	t->client_auth = CFG_NO_CLIENT_CERT;	/* TLS-05 [DEV] */
	get_bool(c, obj, "start_tls_on", &t->start_tls_on);
	get_bool(c, obj, "tls_always_on", &t->tls_always_on);
	get_bool(c, obj, "prefer_server_cipher_suites",
	    &t->prefer_server_cipher_suites);
	get_str(c, obj, "private_key_file", &t->private_key_file);
	get_str(c, obj, "public_key_file", &t->public_key_file);
	get_str(c, obj, "root_cas_file", &t->root_cas_file);
	load_protocols(c, obj, t);
	(void)get_strv(c, obj, "ciphers", &t->ciphers, &t->nciphers);
	if ((v = get_strv(c, obj, "curves", &t->curves, &t->ncurves)) != NULL) {
		for (i = 0; i < t->ncurves; i++) {
			for (j = 0; j < NELEM(curves); j++)
				if (strcmp(t->curves[i], curves[j]) == 0)
					break;
			if (j == NELEM(curves))
				cerr(c, v->u.arr.items[i], "unknown curve %s (want "
				    "P256, P384, P521 or X25519)",
				    quote(q, sizeof(q), t->curves[i]));
		}
	}
	if ((v = typed(c, obj, "client_auth_type", W_STR)) != NULL) {
		for (i = 0; i < NELEM(auth_names); i++)
			if (strcmp(v->u.str.s, auth_names[i]) == 0)
				break;
		if (i < NELEM(auth_names))
			t->client_auth = (enum cfg_client_auth)i;
		else
			cerr(c, v, "unknown client_auth_type %s",
			    quote(q, sizeof(q), v->u.str.s));
	}
}

/* check_tls - TLS-01/TLS-04 for an enabled server with a TLS mode on:
 * the only servers whose keys are ever read, so the only ones checked. */
static void
check_tls(struct ctx *c, const struct cfg_server *s)
{
	const struct cfg_tls *t = &s->tls;
	const char *ifc = s->listen_interface != NULL ? s->listen_interface : "";
	char why[512];

	if (t->public_key_file == NULL || t->public_key_file[0] == '\0')
		cerr(c, NULL, "PublicKeyFile is empty");
	else if (file_check(t->public_key_file, why, sizeof(why)) != 0)
		cerr(c, NULL, "cannot use TLS config for [%s], %s", ifc, why);
	if (t->private_key_file == NULL || t->private_key_file[0] == '\0')
		cerr(c, NULL, "PrivateKeyFile is empty");
	else if (file_check(t->private_key_file, why, sizeof(why)) != 0)
		cerr(c, NULL, "cannot use TLS config for [%s], %s", ifc, why);
	if (t->root_cas_file != NULL && t->root_cas_file[0] != '\0') {
		if (file_check(t->root_cas_file, why, sizeof(why)) != 0)
			cerr(c, NULL, "cannot use TLS config for [%s], %s", ifc,
			    why);
	} else if (t->client_auth == CFG_VERIFY_CLIENT_CERT_IF_GIVEN ||
	    t->client_auth == CFG_REQUIRE_AND_VERIFY_CLIENT_CERT)
		cerr(c, NULL, "cannot use TLS config for [%s], client_auth_type "
		    "%s needs root_cas_file to verify client certificates", ifc,
		    auth_names[t->client_auth]);
	if (!cfg_tls_supported())
		cerr(c, NULL, "cannot use TLS config for [%s], TLS is not built "
		    "yet (STARTTLS/SMTPS arrive with the TLS work)", ifc);
}

/* load_server - one element of "servers" (7.3); obj NULL = the default
 * server used when "servers" is absent. */
static void
load_server(struct ctx *c, const struct json_value *obj, size_t idx,
    const struct cfg_app *a, struct cfg_server *s)
{
	const struct json_value *v;
	char q[CFG_QUOTE_MAX];
	long long ll;

	s->max_size = CFG_DEFAULT_MAX_SIZE;
	s->timeout = CFG_DEFAULT_TIMEOUT;
	s->max_clients = CFG_DEFAULT_MAX_CLIENTS;
	s->bare_lf = CFG_BARE_LF_NORMALIZE;
	if (obj == NULL) {
		s->is_enabled = 1;
		s->listen_interface = dupstr(c, CFG_DEFAULT_IFACE);
	}
	get_bool(c, obj, "is_enabled", &s->is_enabled);
	get_bool(c, obj, "xclient_on", &s->xclient_on);
	get_bool(c, obj, "proxyon", &s->proxyon);
	get_str(c, obj, "host_name", &s->host_name);
	set_default(c, &s->host_name, c->host);
	get_str(c, obj, "listen_interface", &s->listen_interface);
	get_str(c, obj, "log_file", &s->log_file);
	set_default(c, &s->log_file, a->log_file);
	get_str(c, obj, "greeting", &s->greeting);
	set_default(c, &s->greeting, NULL);
	if (get_int(c, obj, "max_size", LLONG_MAX, &ll) && ll > 0)
		s->max_size = ll;
	if (get_int(c, obj, "timeout", CFG_TIMEOUT_MAX, &ll) && ll > 0)
		s->timeout = (int)ll;
	if (get_int(c, obj, "max_clients", INT_MAX, &ll) && ll > 0)
		s->max_clients = (int)ll;
	if ((v = typed(c, obj, "bare_lf", W_STR)) != NULL) {
		if (strcmp(v->u.str.s, "reject") == 0)
			s->bare_lf = CFG_BARE_LF_REJECT;
		else if (strcmp(v->u.str.s, "normalize") != 0)
			cerr(c, v, "\"bare_lf\" must be \"normalize\" or "
			    "\"reject\", not %s", quote(q, sizeof(q), v->u.str.s));
	}
	get_cidrs(c, obj, "xclient_trusted", &s->xclient_trusted,
	    &s->nxclient_trusted);
	get_cidrs(c, obj, "proxy_trusted", &s->proxy_trusted,
	    &s->nproxy_trusted);
	v = typed(c, obj, "tls", W_OBJ);
	load_tls(c, v, &s->tls);

	v = member(obj, "listen_interface");
	if (s->listen_interface == NULL || s->listen_interface[0] == '\0') {
		if (v == NULL || v->type == JSON_STRING)
			cerr(c, NULL, "listen interface not specified for server "
			    "at index %zu", idx);
	} else if (!iface_ok(s->listen_interface))
		cerr(c, v, "invalid listen interface %s for server at index %zu "
		    "(want host:port, [ipv6]:port or :port)",
		    quote(q, sizeof(q), s->listen_interface), idx);
	if (s->is_enabled && (s->tls.start_tls_on || s->tls.tls_always_on))
		check_tls(c, s);
}

/* fill - obj[key] = val unless obj has a non-null key; takes val. */
static void
fill(struct ctx *c, struct json_value *obj, const char *key,
    struct json_value *val)
{
	if (member(obj, key) != NULL) {
		json_free(val);
		return;
	}
	if (val == NULL || json_set(obj, key, val) != 0)
		cerr(c, NULL, "out of memory");
}

/* load_backend - copy backend_config and fill CFG-09 defaults. */
static void
load_backend(struct ctx *c, const struct json_value *root, struct cfg_app *a)
{
	const struct json_value *v = typed(c, root, "backend_config", W_OBJ);
	const struct json_value *d;
	struct json_value *b;
	char q[CFG_QUOTE_MAX];
	int64_t ns;
	size_t i;

	if (v == NULL && member(root, "backend_config") != NULL)
		return;	/* wrong type, already reported */
	for (i = 0; v != NULL && i < NELEM(be_durations); i++) {
		d = typed(c, v, be_durations[i], W_STR);
		if (d != NULL && cfg_duration(d->u.str.s, &ns) != 0)
			cerr(c, d, "invalid duration %s for \"%s\" (want e.g. "
			    "\"30s\", \"1m30s\", \"500ms\")",
			    quote(q, sizeof(q), d->u.str.s), be_durations[i]);
	}
	b = v != NULL ? json_clone(v) : json_new_object();
	if (b == NULL) {
		cerr(c, NULL, "out of memory");
		return;
	}
	a->backend_config = b;
	fill(c, b, "save_process",
	    json_new_string("HeadersParser|Header|Debugger"));
	fill(c, b, "primary_mail_host", json_new_string(c->host));
	fill(c, b, "save_workers_size", json_new_int(1));
	/* true only when backend_config was absent or empty (CFG-09) */
	fill(c, b, "log_received_mails",
	    json_new_bool(v == NULL || v->u.obj.n == 0));
	fill(c, b, "gw_save_timeout", json_new_string("30s"));
	fill(c, b, "gw_val_rcpt_timeout", json_new_string("5s"));
}

/* load_app - the whole document (7.2) into a. */
static void
load_app(struct ctx *c, const struct json_value *root, struct cfg_app *a)
{
	const struct json_value *v;
	char q[CFG_QUOTE_MAX];
	long long ll;
	size_t i, j;
	int lvl;

	if (root->type != JSON_OBJECT) {
		cerr(c, root, "could not parse config file: the config must be "
		    "an object");
		return;
	}
	a->log_level = LOGL_INFO;	/* [DEV] CFG-05: GG applies debug */
	get_str(c, root, "log_file", &a->log_file);
	set_default(c, &a->log_file, "stderr");
	get_str(c, root, "pid_file", &a->pid_file);
	if (a->pid_file == NULL)
		a->pid_file = dupstr(c, "");
	if ((v = typed(c, root, "log_level", W_STR)) != NULL &&
	    v->u.str.s[0] != '\0') {
		if ((lvl = level_parse(v->u.str.s)) < 0)
			cerr(c, v, "unknown log_level %s (want debug, info, "
			    "warning, error, fatal or panic)",
			    quote(q, sizeof(q), v->u.str.s));
		else
			a->log_level = lvl;
	}
	if (get_int(c, root, "io_threads", INT_MAX, &ll))
		a->io_threads = (int)ll;
	get_str(c, root, "user", &a->user);
	set_default(c, &a->user, NULL);
	get_str(c, root, "group", &a->group);
	set_default(c, &a->group, NULL);

	if (get_strv(c, root, "allowed_hosts", &a->allowed_hosts,
	    &a->nallowed_hosts) == NULL && member(root, "allowed_hosts") == NULL) {
		if ((a->allowed_hosts = calloc(1, sizeof(char *))) == NULL)
			cerr(c, NULL, "out of memory");
		else if ((a->allowed_hosts[0] = dupstr(c, c->host)) != NULL)
			a->nallowed_hosts = 1;
	}

	v = typed(c, root, "servers", W_ARR);
	if (v == NULL && member(root, "servers") == NULL) {
		if ((a->servers = calloc(1, sizeof(*a->servers))) == NULL)
			cerr(c, NULL, "out of memory");
		else {
			a->nservers = 1;
			load_server(c, NULL, 0, a, &a->servers[0]);
		}
	} else if (v != NULL) {
		a->servers = calloc(v->u.arr.n > 0 ? v->u.arr.n : 1,
		    sizeof(*a->servers));
		if (a->servers == NULL)
			cerr(c, NULL, "out of memory");
		else
			a->nservers = v->u.arr.n;
		for (i = 0; i < a->nservers; i++) {
			if (v->u.arr.items[i]->type != JSON_OBJECT)
				cerr(c, v->u.arr.items[i], "could not parse config "
				    "file: \"servers\" must be an array of objects");
			else
				load_server(c, v->u.arr.items[i], i, a,
				    &a->servers[i]);
		}
	}
	/* CFG-07 [DEV]: duplicate listen interfaces (GG keeps the last) */
	for (i = 0; i < a->nservers; i++) {
		const char *li = a->servers[i].listen_interface;
		for (j = i + 1; li != NULL && li[0] != '\0' && j < a->nservers;
		    j++) {
			if (a->servers[j].listen_interface != NULL &&
			    strcmp(li, a->servers[j].listen_interface) == 0) {
				cerr(c, NULL, "duplicate listen interface %s for "
				    "servers at index %zu and %zu",
				    quote(q, sizeof(q), li), i, j);
				break;
			}
		}
	}
	load_backend(c, root, a);
}

int
cfg_load_string(const char *json, size_t len, const char *name,
    struct cfg_app *out, struct cfg_errors *errs)
{
	struct cfg_errors mine = { NULL, 0, 0 };
	struct json_value *root;
	char jerr[256];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (errs == NULL)
		errs = &mine;
	if (name == NULL)
		name = "config";
	root = json_parse(json, len, JSON_COMMENTS, jerr, sizeof(jerr));
	if (root == NULL)
		cfg_errors_add(errs, "%s: could not parse config file: %s",
		    name, jerr);
	else {
		rc = cfg_load_json(root, name, out, errs);
		json_free(root);
	}
	cfg_errors_free(&mine);
	return rc;
}

int
cfg_load_json(const struct json_value *root, const char *name,
    struct cfg_app *out, struct cfg_errors *errs)
{
	struct cfg_errors mine = { NULL, 0, 0 };
	struct cfg_app a;
	struct ctx c;
	int before, rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	if (errs == NULL)
		errs = &mine;
	before = errs->count;
	c.name = name != NULL ? name : "config";
	c.errs = errs;
	gd_hostname(c.host, sizeof(c.host));
	load_app(&c, root, &a);
	if (errs->count != before) {
		cfg_free(&a);
		goto done;
	}
	*out = a;
	rc = 0;
done:
	cfg_errors_free(&mine);
	return rc;
}

int
cfg_load_file(const char *path, struct cfg_app *out, struct cfg_errors *errs)
{
	struct cfg_errors mine = { NULL, 0, 0 };
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;
	FILE *f;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (errs == NULL)
		errs = &mine;
	if ((f = fopen(path, "rb")) == NULL) {
		cfg_errors_add(errs, "%s: could not read config file: %s", path,
		    strerror(errno));
		goto done;
	}
	/* Read in growing chunks rather than trusting st_size, so pipes and
	 * files that change under us are bounded the same way. */
	for (;;) {
		if (len == cap) {
			if (cap > (size_t)CFG_FILE_MAX) {
				cfg_errors_add(errs, "%s: config file is too large "
				    "(more than %ld bytes)", path, CFG_FILE_MAX);
				goto close;
			}
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > (size_t)CFG_FILE_MAX + 1)
				cap = (size_t)CFG_FILE_MAX + 1;
			if ((nb = realloc(buf, cap)) == NULL) {
				cfg_errors_add(errs, "%s: out of memory", path);
				goto close;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		cfg_errors_add(errs, "%s: could not read config file: %s", path,
		    strerror(errno));
		goto close;
	}
	rc = cfg_load_string(buf, len, path, out, errs);
close:
	(void)fclose(f);
done:
	free(buf);
	cfg_errors_free(&mine);
	return rc;
}

int
cfg_default(struct cfg_app *out, struct cfg_errors *errs)
{
	/* The defaults of 7.2 are what an empty document gives. */
	return cfg_load_string("{}", 2, "default config", out, errs);
}

static void
free_server(struct cfg_server *s)
{
	free(s->host_name);
	free(s->listen_interface);
	free(s->log_file);
	free(s->greeting);
	free(s->xclient_trusted);
	free(s->proxy_trusted);
	free(s->tls.private_key_file);
	free(s->tls.public_key_file);
	free(s->tls.root_cas_file);
	free_strv(s->tls.ciphers, s->tls.nciphers);
	free_strv(s->tls.curves, s->tls.ncurves);
}

void
cfg_free(struct cfg_app *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nservers; i++)
		free_server(&c->servers[i]);
	free(c->servers);
	free_strv(c->allowed_hosts, c->nallowed_hosts);
	free(c->pid_file);
	free(c->log_file);
	free(c->user);
	free(c->group);
	if (c->backend_config != NULL)
		json_free(c->backend_config);
	memset(c, 0, sizeof(*c));
}

int
cfg_str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int
cfg_strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (!cfg_str_equal(a[i], b[i]))
			return 0;
	return 1;
}

static int
cidrs_equal(const struct cfg_cidr *a, size_t na, const struct cfg_cidr *b,
    size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (a[i].family != b[i].family || a[i].bits != b[i].bits ||
		    memcmp(a[i].addr, b[i].addr, sizeof(a[i].addr)) != 0)
			return 0;
	return 1;
}

int
cfg_tls_equal(const struct cfg_tls *a, const struct cfg_tls *b)
{
	return a->start_tls_on == b->start_tls_on &&
	    a->tls_always_on == b->tls_always_on &&
	    cfg_str_equal(a->private_key_file, b->private_key_file) &&
	    cfg_str_equal(a->public_key_file, b->public_key_file) &&
	    cfg_str_equal(a->root_cas_file, b->root_cas_file) &&
	    a->proto_min == b->proto_min && a->proto_max == b->proto_max &&
	    a->proto_clamped == b->proto_clamped &&
	    cfg_strv_equal(a->ciphers, a->nciphers, b->ciphers, b->nciphers) &&
	    cfg_strv_equal(a->curves, a->ncurves, b->curves, b->ncurves) &&
	    a->client_auth == b->client_auth &&
	    a->prefer_server_cipher_suites == b->prefer_server_cipher_suites;
}

int
cfg_server_equal(const struct cfg_server *a, const struct cfg_server *b)
{
	return a->is_enabled == b->is_enabled &&
	    cfg_str_equal(a->host_name, b->host_name) &&
	    cfg_str_equal(a->listen_interface, b->listen_interface) &&
	    a->max_size == b->max_size && a->timeout == b->timeout &&
	    a->max_clients == b->max_clients &&
	    cfg_str_equal(a->log_file, b->log_file) &&
	    a->xclient_on == b->xclient_on && a->proxyon == b->proxyon &&
	    a->bare_lf == b->bare_lf &&
	    cfg_str_equal(a->greeting, b->greeting) &&
	    cidrs_equal(a->xclient_trusted, a->nxclient_trusted,
	    b->xclient_trusted, b->nxclient_trusted) &&
	    cidrs_equal(a->proxy_trusted, a->nproxy_trusted,
	    b->proxy_trusted, b->nproxy_trusted);
}

struct cfg_box {
	struct cfg_app	app;	/* first: &box->app == box */
	pthread_mutex_t	mu;
	long		refs;
};

struct cfg_app *
cfg_share(struct cfg_app *c)
{
	struct cfg_box *b = malloc(sizeof(*b));

	if (b == NULL)
		return NULL;
	b->app = *c;
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&b->mu, NULL);
	b->refs = 1;
	return &b->app;
}

struct cfg_app *
cfg_hold(struct cfg_app *c)
{
	struct cfg_box *b = (struct cfg_box *)(void *)c;

	pthread_mutex_lock(&b->mu);
	b->refs++;
	pthread_mutex_unlock(&b->mu);
	return c;
}

void
cfg_drop(struct cfg_app *c)
{
	struct cfg_box *b = (struct cfg_box *)(void *)c;
	long left;

	if (c == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	left = --b->refs;
	pthread_mutex_unlock(&b->mu);
	if (left > 0)
		return;
	cfg_free(&b->app);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* ip_shaped - is h written "[...]" and longer than 5 bytes?  GG treats
 * such an entry as an IP literal and drops it when it does not parse; a
 * shorter one ("[::1]") stays an ordinary name. */
static int
ip_shaped(const char *h)
{
	size_t hl = strlen(h);

	return hl > 5 && h[0] == '[' && h[hl - 1] == ']';
}

/* ip_entry - the address of an ip_shaped entry; -1 if it does not parse. */
static int
ip_entry(const char *h, int *fam, unsigned char addr[16])
{
	char buf[INET6_ADDRSTRLEN + 1];
	size_t hl = strlen(h);

	if (!ip_shaped(h) || hl - 2 >= sizeof(buf))
		return -1;
	memcpy(buf, h + 1, hl - 2);
	buf[hl - 2] = '\0';
	return cfg_parse_ip(buf, fam, addr);
}

int
cfg_host_allowed(char *const *hosts, size_t n, const char *domain, int is_ip)
{
	unsigned char a[16], ea[16];
	size_t i, plain = 0, dots = 0;
	int fam = 0, efam, have_ip;

	/* (a) GG keeps non-wildcard entries in a map and allows everything
	 * when that map holds only "." (unparsable IP entries are not in it). */
	for (i = 0; i < n; i++) {
		if (strchr(hosts[i], '*') != NULL)
			continue;
		if (ip_shaped(hosts[i])) {
			if (ip_entry(hosts[i], &efam, ea) == 0)
				plain++;
			continue;
		}
		plain++;
		if (strcmp(hosts[i], ".") == 0)
			dots++;
	}
	if (plain > 0 && dots == plain)
		return 1;
	have_ip = is_ip && cfg_parse_ip(domain, &fam, a) == 0;
	for (i = 0; i < n; i++) {
		if (strchr(hosts[i], '*') != NULL) {
			if (cfg_glob(hosts[i], domain))	/* (c) */
				return 1;
		} else if (ip_shaped(hosts[i])) {
			/* (d) address literals only, mapped v6 == v4 */
			if (have_ip && ip_entry(hosts[i], &efam, ea) == 0 &&
			    efam == fam && memcmp(a, ea, fam == 4 ? 4 : 16) == 0)
				return 1;
		} else if (!is_ip && gd_strcasecmp(hosts[i], domain) == 0)
			return 1;	/* (b) */
	}
	return 0;
}

/* class_match - does ch match the class that starts after '[' at p?
 * 1 or 0 with *end just past the closing ']', or -1 when the class is
 * malformed (Go's filepath.Match says ErrBadPattern: GG never matches). */
static int
class_match(const char *p, int ch, const char **end)
{
	int neg = 0, hit = 0, n, lo, hi;

	ch = gd_tolower(ch);
	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	for (n = 0; *p != ']' || n == 0; n++) {
		if (*p == '\0' || *p == ']' || *p == '-')
			return -1;
		if (*p == '\\' && *++p == '\0')
			return -1;
		lo = hi = gd_tolower((unsigned char)*p++);
		if (*p == '-') {
			p++;
			if (*p == '\0' || *p == ']' || *p == '-')
				return -1;
			if (*p == '\\' && *++p == '\0')
				return -1;
			hi = gd_tolower((unsigned char)*p++);
		}
		if (lo <= ch && ch <= hi)
			hit = 1;
	}
	*end = p + 1;
	return hit != neg;
}

int
cfg_glob(const char *pat, const char *s)
{
	const char *p = pat, *star_p = NULL, *star_s = NULL, *end;
	int pc, r;

	/*
	 * Iterative matcher: on a mismatch the last '*' eats one more byte.
	 * A malformed class or trailing '\' can never be passed, so it
	 * never matches, as in Go (a match consumes the whole pattern).
	 */
	for (;;) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			star_p = p;
			star_s = s;
			continue;
		}
		if (*s == '\0')
			return *p == '\0';
		if (*p == '?') {
			/* one character, as Go: skip a whole UTF-8 sequence */
			p++;
			s++;
			while (((unsigned char)*s & 0xc0) == 0x80)
				s++;
			continue;
		}
		if (*p == '[') {
			if ((r = class_match(p + 1, (unsigned char)*s, &end)) < 0)
				return 0;
			if (r == 1) {
				p = end;
				s++;
				continue;
			}
		} else if (*p != '\0') {
			if (*p == '\\' && p[1] == '\0')
				return 0;
			pc = (unsigned char)(*p == '\\' ? p[1] : *p);
			if (gd_tolower(pc) == gd_tolower((unsigned char)*s)) {
				p += *p == '\\' ? 2 : 1;
				s++;
				continue;
			}
		}
		if (star_p == NULL)
			return 0;
		p = star_p;
		s = ++star_s;
	}
}

int
gd_glob(const char *pat, const char *s)
{
	return cfg_glob(pat, s);
}

int
cfg_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char	*u;
		uint64_t	mul;
	} units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
		{ "\xce\xbcs", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
		{ "m", 60000000000ULL }, { "h", 3600000000000ULL }
	};
	const uint64_t lim = INT64_MAX;
	uint64_t total = 0, v, f, unit;
	double scale, add;
	size_t ul, k;
	int pre, post, over;

	/* Go's time.ParseDuration without the sign: timeouts are never
	 * negative, so "-5s" (and "+5s") are refused. */
	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	while (*s != '\0') {
		v = f = 0;
		scale = 1;
		pre = post = over = 0;
		if (*s != '.' && !is_digit(*s))
			return -1;
		for (; is_digit(*s); s++, pre = 1) {
			if (v > lim / 10)
				return -1;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > lim)
				return -1;
		}
		if (*s == '.') {
			/* digits past what fits are dropped, as Go does */
			for (s++; is_digit(*s); s++, post = 1) {
				if (over || f > lim / 10) {
					over = 1;
					continue;
				}
				f = f * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (!pre && !post)
			return -1;
		for (ul = 0; s[ul] != '\0' && s[ul] != '.' && !is_digit(s[ul]);
		    ul++)
			;
		for (k = 0; k < NELEM(units); k++)
			if (strlen(units[k].u) == ul &&
			    memcmp(s, units[k].u, ul) == 0)
				break;
		if (ul == 0 || k == NELEM(units))
			return -1;
		s += ul;
		unit = units[k].mul;
		if (v > lim / unit)
			return -1;
		v *= unit;
		if (f > 0) {
			add = (double)f * ((double)unit / scale);
			if (add >= 9.2e18)
				return -1;
			v += (uint64_t)add;
			if (v > lim)
				return -1;
		}
		if (total > lim - v)
			return -1;
		total += v;
	}
	*ns = (int64_t)total;
	return 0;
}

int
cfg_parse_ip(const char *s, int *family, unsigned char addr[16])
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	unsigned char b[16];

	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, b) == 1) {
		memcpy(addr, b, 4);
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, b) != 1)
		return -1;
	if (memcmp(b, mapped, sizeof(mapped)) == 0) {
		memcpy(addr, b + 12, 4);
		*family = 4;
	} else {
		memcpy(addr, b, 16);
		*family = 6;
	}
	return 0;
}

int
cfg_cidr_match(const struct cfg_cidr *c, size_t n, int family,
    const unsigned char addr[16])
{
	size_t i, full;
	unsigned mask;

	for (i = 0; i < n; i++) {
		if (c[i].family != family || c[i].bits < 0 ||
		    c[i].bits > (family == 4 ? 32 : 128))
			continue;
		full = (size_t)c[i].bits / 8;
		if (memcmp(c[i].addr, addr, full) != 0)
			continue;
		mask = (0xffu << (8 - c[i].bits % 8)) & 0xffu;
		if (c[i].bits % 8 == 0 || ((c[i].addr[full] ^ addr[full]) & mask) == 0)
			return 1;
	}
	return 0;
}
