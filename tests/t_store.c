/*
 * t_store.c - the store processors' in-tree protocol code on hostile
 * bytes, without servers: the RESP2 reply parser (stores.c), FastCGI
 * name-value and record encoding and the record parser (p_fastcgi.c);
 * and Compressor and Wildcard through the chain API (PROC-13, PROC-17);
 * GuerrillaRedisDB's key layout and config errors (PROC-41).
 * The real servers are exercised by tests/integration/test_redis.py and
 * test_fastcgi.py.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <bearssl.h>

#include "backend.h"
#include "envelope.h"
#include "json.h"
#include "log.h"
#include "processors/stores.h"
#include "t.h"

/* Test hooks exported by the processors (no header on purpose). */
int	p_fastcgi_encode_param(const char *name, const char *v, size_t n,
	    char **out, size_t *outlen);
int	p_fastcgi_encode_stream(int type, const char *p, size_t n, char **out,
	    size_t *outlen);
void	p_guerrilladbredis_hash(const struct gd_ctx *ctx, const char *to,
	    const char *from, const char *subj, char *out);
long	p_fastcgi_parse_record(const unsigned char *buf, size_t len,
	    int *type, const unsigned char **content, size_t *clen);

static struct be_registry reg;
static struct gd_ctx ctx;

/* ---- RESP2 ---- */

struct resp_case {
	const char	*in;
	size_t		len;
	long		want;	/* return value */
	int		type;
	long long	n;
};

#define S(x)	x, sizeof(x) - 1

static const struct resp_case good[] = {
	{ S("+OK\r\n"), 5, '+', 0 },
	{ S("-ERR wrong\r\n"), 12, '-', 0 },
	{ S(":1234\r\n"), 7, ':', 1234 },
	{ S(":-7\r\n"), 5, ':', -7 },
	{ S("$3\r\na\0c\r\n"), 9, '$', 3 },
	{ S("$0\r\n\r\n"), 6, '$', 0 },
	{ S("$-1\r\n"), 5, '$', -1 },
	{ S("*-1\r\n"), 5, '*', -1 },
	{ S("*0\r\n"), 4, '*', 0 },
	{ S("*3\r\n$1\r\na\r\n:1\r\n*1\r\n+x\r\n"), 23, '*', 3 },
	{ S("+\r\n"), 3, '+', 0 },
};

static const struct resp_case bad[] = {
	{ S("$-5\r\n"), -1, 0, 0 },
	{ S("*99999999\r\n"), -1, 0, 0 },
	{ S("*-2\r\n"), -1, 0, 0 },
	{ S(":12x\r\n"), -1, 0, 0 },
	{ S(":\r\n"), -1, 0, 0 },
	{ S(":-\r\n"), -1, 0, 0 },
	{ S(":99999999999999999999\r\n"), -1, 0, 0 },
	{ S("+O\nK\r\n"), -1, 0, 0 },
	{ S("+OK\rX"), -1, 0, 0 },
	{ S("+OK\n"), -1, 0, 0 },
	{ S("?\r\n"), -1, 0, 0 },
	{ S("\r\n"), -1, 0, 0 },
	{ S("$3\r\nabcd\r\n"), -1, 0, 0 },
	{ S("$99999999\r\n"), -1, 0, 0 },
	{ S("$ 3\r\nabc\r\n"), -1, 0, 0 },
	{ S("*1\r\n?\r\n"), -1, 0, 0 },
	{ S("*2\r\n:1\r\n$2\r\nxyz\r\n"), -1, 0, 0 },
};

static void
resp_valid_replies(void)
{
	size_t i;
	int type;
	long long n;

	for (i = 0; i < NELEM(good); i++) {
		long r = st_resp_parse(good[i].in, good[i].len, &type, &n);
		CHECK(r == good[i].want);
		CHECK(type == good[i].type);
		if (type != '+' && type != '-')
			CHECK(n == good[i].n);
		if (r != good[i].want)
			printf("     case %zu: got %ld\n", i, r);
	}
}

static void
resp_truncated_needs_more(void)
{
	size_t i, k;
	int type;
	long long n;

	for (i = 0; i < NELEM(good); i++)
		for (k = 0; k < good[i].len; k++)
			CHECK(st_resp_parse(good[i].in, k, &type, &n) == 0);
}

static void
resp_malformed_refused(void)
{
	size_t i;
	int type;
	long long n;

	for (i = 0; i < NELEM(bad); i++) {
		long r = st_resp_parse(bad[i].in, bad[i].len, &type, &n);
		CHECK(r == -1);
		if (r != -1)
			printf("     case %zu: got %ld\n", i, r);
	}
}

static void
resp_limits(void)
{
	static char buf[40000];
	size_t i, o = 0;
	int type;
	long long n;

	/* nesting deeper than the limit */
	for (i = 0; i < 20; i++) {
		memcpy(buf + o, "*1\r\n", 4);
		o += 4;
	}
	memcpy(buf + o, ":1\r\n", 4);
	CHECK(st_resp_parse(buf, o + 4, &type, &n) == -1);
	/* a simple string line longer than the limit, with and without end */
	memset(buf, 'a', sizeof(buf));
	buf[0] = '+';
	CHECK(st_resp_parse(buf, sizeof(buf), &type, &n) == -1);
	memcpy(buf + 3000, "\r\n", 2);
	CHECK(st_resp_parse(buf, 3002, &type, &n) == -1);
	/* a bulk string larger than the reply buffer */
	CHECK(st_resp_parse(S("$20000\r\n"), &type, &n) == -1);
	/* an array of many small elements beyond the reply buffer */
	o = (size_t)snprintf(buf, sizeof(buf), "*1000\r\n");
	for (i = 0; i < 1000 && o + 30 < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "$15\r\nxxxxxxxxxxxxxxx\r\n");
	CHECK(st_resp_parse(buf, o, &type, &n) == -1);
}

static void
resp_random_bytes(void)
{
	static const char alpha[] = "+-:$*\r\n0123456789-x";
	char buf[64];
	unsigned long seed = 12345;
	size_t i, k, len;
	int type;
	long long n;
	long r;

	for (i = 0; i < 200000; i++) {
		len = (seed >> 8) % sizeof(buf);
		for (k = 0; k < len; k++) {
			seed = seed * 1103515245UL + 12345UL;
			buf[k] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		seed = seed * 1103515245UL + 12345UL;
		r = st_resp_parse(buf, len, &type, &n);
		CHECK(r >= -1 && r <= (long)len);
		if (r < -1 || r > (long)len)
			break;
	}
}

/* ---- FastCGI ---- */

static void
fcgi_param_lengths(void)
{
	static char v[70000];
	char *out = NULL;
	size_t n = 0;

	memset(v, 'v', sizeof(v));
	CHECK(p_fastcgi_encode_param("ABC", v, 127, &out, &n) == 0);
	CHECK(n == 2 + 3 + 127 && out[0] == 3 && out[1] == 127);
	CHECK(memcmp(out + 2, "ABC", 3) == 0);
	free(out);
	CHECK(p_fastcgi_encode_param("ABC", v, 128, &out, &n) == 0);
	CHECK(n == 1 + 4 + 3 + 128 && out[0] == 3);
	CHECK(memcmp(out + 1, "\x80\x00\x00\x80", 4) == 0);
	free(out);
	CHECK(p_fastcgi_encode_param("ABC", v, 70000, &out, &n) == 0);
	CHECK(n == 1 + 4 + 3 + 70000);
	CHECK(memcmp(out + 1, "\x80\x01\x11\x70", 4) == 0);
	free(out);
	CHECK(p_fastcgi_encode_param("Q", "", 0, &out, &n) == 0);
	CHECK(n == 3 && memcmp(out, "\x01\x00Q", 3) == 0);
	free(out);
}

static void
fcgi_stream_roundtrip(void)
{
	static char in[200000], back[200000];
	const unsigned char *c;
	char *out = NULL;
	size_t n = 0, o = 0, got = 0, clen, i;
	int type, ended = 0, nrec = 0;
	long r;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7);
	CHECK(p_fastcgi_encode_stream(5, in, sizeof(in), &out, &n) == 0);
	while (o < n && !ended) {
		r = p_fastcgi_parse_record((unsigned char *)out + o, n - o,
		    &type, &c, &clen);
		CHECK(r > 0);
		if (r <= 0)
			break;
		CHECK(type == 5 && out[o + 3] == 1 && clen <= 65535);
		if (clen == 0)
			ended = 1;
		else if (got + clen <= sizeof(back)) {
			memcpy(back + got, c, clen);
			got += clen;
		}
		o += (size_t)r;
		nrec++;
	}
	CHECK(ended && o == n && nrec == 5);
	CHECK(got == sizeof(in) && memcmp(in, back, got) == 0);
	free(out);
	/* an empty stream is one empty record */
	CHECK(p_fastcgi_encode_stream(4, NULL, 0, &out, &n) == 0);
	CHECK(n == 8 && memcmp(out, "\x01\x04\x00\x01\x00\x00\x00\x00", 8)
	    == 0);
	free(out);
}

static void
fcgi_parse_hostile(void)
{
	const unsigned char *c;
	size_t clen;
	int type;
	static const unsigned char rec[] =
	    "\x01\x06\x00\x01\x00\x05\x03\x00hello\x00\x00\x00";
	static const unsigned char v2[] = "\x02\x06\x00\x01\x00\x00\x00\x00";
	size_t k;

	CHECK(p_fastcgi_parse_record(rec, 16, &type, &c, &clen) == 16);
	CHECK(type == 6 && clen == 5 && memcmp(c, "hello", 5) == 0);
	for (k = 0; k < 16; k++)	/* truncated anywhere: need more */
		CHECK(p_fastcgi_parse_record(rec, k, &type, &c, &clen) == 0);
	CHECK(p_fastcgi_parse_record(v2, 8, &type, &c, &clen) == -1);
	CHECK(p_fastcgi_parse_record(v2, 3, &type, &c, &clen) == 0);
}

/* ---- Compressor and Wildcard through a chain ---- */

static struct be_chain *
chain(const char *spec, const char *json, struct json_value **cfg)
{
	char err[256];
	struct be_chain *c;

	*cfg = json_parse(json, strlen(json), 0, err, sizeof(err));
	CHECK(*cfg != NULL);
	if (*cfg == NULL)
		return NULL;
	c = be_chain_new(&reg, spec, &ctx, err, sizeof(err));
	CHECK(c != NULL);
	if (c != NULL && be_chain_init(c, *cfg, err, sizeof(err)) != 0) {
		printf("     init: %s\n", err);
		CHECK(!"init failed");
		be_chain_free(c);
		c = NULL;
	}
	return c;
}

static void
rcpt(struct gd_envelope *e, const char *local, const char *domain)
{
	struct gd_address a;

	memset(&a, 0, sizeof(a));
	gd_strlcpy(a.local, local, sizeof(a.local));
	gd_strlcpy(a.domain, domain, sizeof(a.domain));
	CHECK(env_add_rcpt(e, &a) == 0);
}

static void
compressor_caches_zlib_of_text(void)
{
	static const char data[] = "Subject: hi\n\nbody body body body\n";
	struct json_value *cfg;
	struct be_chain *c = chain("Compressor|Compressor", "{}", &cfg);
	struct gd_envelope e;
	struct gd_result res;
	const void *z;
	unsigned char out[256];
	uLongf outlen = sizeof(out);
	size_t zl = 0;
	char err[64];

	if (c == NULL)
		return;
	env_init(&e);
	CHECK(env_data_append(&e, data, strlen(data)) == 0);
	CHECK(gd_env_set_delivery_header(&e, "Delivered-To: x@y\n") == 0);
	be_chain_run(c, &e, GD_TASK_SAVE, &res);
	CHECK(res.status == GD_STATUS_OK && res.text[0] == '\0');
	z = gd_env_value(&e, "zlib-compressor", &zl);
	CHECK(z != NULL && zl > 2 && ((const unsigned char *)z)[0] == 0x78);
	CHECK(z != NULL && uncompress(out, &outlen, z, (uLong)zl) == Z_OK);
	CHECK(outlen == 18 + strlen(data));
	CHECK(memcmp(out, "Delivered-To: x@y\n", 18) == 0);
	CHECK(memcmp(out + 18, data, strlen(data)) == 0);
	/* the data buffer is untouched */
	CHECK(e.data.len == strlen(data) && memcmp(e.data.p, data,
	    e.data.len) == 0);
	env_free(&e);
	CHECK(be_chain_shutdown(c, err, sizeof(err)) == 0);
	be_chain_free(c);
	json_free(cfg);
}

static void
wildcard_every_recipient(void)
{
	struct json_value *cfg;
	struct be_chain *c = chain("Wildcard",
	    "{\"wildcard_hosts\": \" a.test ,*.B.test, c?.test,[xy].test\"}",
	    &cfg);
	struct gd_envelope e;
	struct gd_result res;
	char err[64];

	if (c == NULL)
		return;
	env_init(&e);
	rcpt(&e, "u", "A.TEST");
	be_chain_run(c, &e, GD_TASK_VALIDATE, &res);
	CHECK(res.status == GD_STATUS_OK && res.text[0] == '\0');
	rcpt(&e, "u", "q.b.test");
	rcpt(&e, "u", "c1.test");
	rcpt(&e, "u", "y.test");
	be_chain_run(c, &e, GD_TASK_VALIDATE, &res);
	CHECK(res.status == GD_STATUS_OK && res.text[0] == '\0');
	rcpt(&e, "u", "b.test");
	be_chain_run(c, &e, GD_TASK_VALIDATE, &res);
	CHECK(res.status != GD_STATUS_OK && strcmp(res.text, "no such user") == 0);
	env_pop_rcpt(&e);
	rcpt(&e, "u", "z.test");
	be_chain_run(c, &e, GD_TASK_VALIDATE, &res);
	CHECK(res.status != GD_STATUS_OK && strcmp(res.text, "no such user") == 0);
	/* save is not its business */
	be_chain_run(c, &e, GD_TASK_SAVE, &res);
	CHECK(res.status == GD_STATUS_OK);
	env_free(&e);
	CHECK(be_chain_shutdown(c, err, sizeof(err)) == 0);
	be_chain_free(c);
	json_free(cfg);
}

/* ---- GuerrillaRedisDB ---- */

static void
dbredis_hash_layout(void)
{
	static const char hex[] = "0123456789abcdef";
	static const char msg[] = "bob@mx.test" "alice@example.net"
	    "Hi there" "1700000000000000000";
	struct gd_ctx c = ctx;
	br_md5_context md;
	unsigned char sum[16];
	char want[33], got[33];
	size_t k;

	c.fixed_time = 1700000000;
	br_md5_init(&md);
	br_md5_update(&md, msg, strlen(msg));
	br_md5_out(&md, sum);
	for (k = 0; k < 16; k++) {
		want[2 * k] = hex[sum[k] >> 4];
		want[2 * k + 1] = hex[sum[k] & 15];
	}
	want[32] = '\0';
	p_guerrilladbredis_hash(&c, "bob@mx.test", "alice@example.net",
	    "Hi there", got);
	CHECK(strcmp(got, want) == 0);
	/* the real clock (not 2023) gives another key */
	p_guerrilladbredis_hash(&ctx, "bob@mx.test", "alice@example.net",
	    "Hi there", got);
	CHECK(strlen(got) == 32 && strcmp(got, want) != 0);
}

/* init_err - init GuerrillaRedisDB with json; the error ("" = none). */
static void
init_err(const char *json, char *err, size_t errlen)
{
	struct json_value *cfg;
	struct be_chain *c;

	err[0] = '\0';
	cfg = json_parse(json, strlen(json), 0, err, errlen);
	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	c = be_chain_new(&reg, "guerrillaredisdb", &ctx, err, errlen);
	CHECK(c != NULL);
	if (c != NULL) {
		if (be_chain_init(c, cfg, err, errlen) == 0)
			err[0] = '\0';
		(void)be_chain_shutdown(c, err + strlen(err),
		    errlen - strlen(err));
		be_chain_free(c);
	}
	json_free(cfg);
}

#define GR_BASE	"\"primary_mail_host\": \"mx.test\", " \
	"\"mail_table\": \"new_mail\", \"sql_driver\": \"mysql\", " \
	"\"sql_dsn\": \"u:p@tcp(127.0.0.1:1)/db\", "

static void
dbredis_config_errors(void)
{
	char err[512];

	init_err("{}", err, sizeof(err));
	CHECK(strstr(err, "'primary_mail_host' of type: string") != NULL);
	init_err("{\"primary_mail_host\": \"mx.test\"}", err, sizeof(err));
	CHECK(strstr(err, "'mail_table' of type: string") != NULL);
	init_err("{" GR_BASE "\"sql_driver\": \"postgres\"}", err,
	    sizeof(err));
	CHECK(strstr(err, "sql_driver 'postgres' is not supported") != NULL);
	init_err("{" GR_BASE "\"redis_expire_seconds\": 60}", err,
	    sizeof(err));
	CHECK(strstr(err, "'redis_interface' of type: string") != NULL);
	init_err("{" GR_BASE "\"redis_interface\": \"127.0.0.1:1\"}", err,
	    sizeof(err));
	CHECK(strstr(err, "'redis_expire_seconds' of expected type: int")
	    != NULL);
	init_err("{" GR_BASE "\"redis_interface\": \"nocolon\", "
	    "\"redis_expire_seconds\": 60}", err, sizeof(err));
	CHECK(strstr(err, "redis_interface: want host:port") != NULL);
	init_err("{" GR_BASE "\"redis_interface\": \"127.0.0.1:1\", "
	    "\"redis_expire_seconds\": 0}", err, sizeof(err));
	CHECK(strstr(err, "redis_expire_seconds: must be") != NULL);
	/* nothing listens on port 1: Redis is tried first, as a config
	 * error naming the cause */
	init_err("{" GR_BASE "\"redis_interface\": \"127.0.0.1:1\", "
	    "\"redis_expire_seconds\": 60}", err, sizeof(err));
	CHECK(strstr(err, "redis cannot connect, check your settings: ")
	    != NULL);
}

int
main(void)
{
	char err[128];

	if (be_registry_init(&reg) != 0)
		return 1;
	gd_strlcpy(ctx.hostname, "mx.test", sizeof(ctx.hostname));
	ctx.log = log_open("off", LOGL_ERROR, err, sizeof(err));
	RUN(resp_valid_replies);
	RUN(resp_truncated_needs_more);
	RUN(resp_malformed_refused);
	RUN(resp_limits);
	RUN(resp_random_bytes);
	RUN(fcgi_param_lengths);
	RUN(fcgi_stream_roundtrip);
	RUN(fcgi_parse_hostile);
	RUN(compressor_caches_zlib_of_text);
	RUN(wildcard_every_recipient);
	RUN(dbredis_hash_layout);
	RUN(dbredis_config_errors);
	log_close(ctx.log);
	be_registry_free(&reg);
	return T_DONE();
}
