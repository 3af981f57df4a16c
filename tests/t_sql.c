/*
 * t_sql.c - unit tests of the MySQL/MariaDB client (mysql_proto.c):
 * DSN parsing, packet framing on truncated and hostile bytes, handshake
 * and OK/ERR parsing, both auth scrambles against vectors computed
 * independently (python3 hashlib), binary parameter encoding of every
 * byte an injection would need, UTF-8 cleaning, and whole handshakes
 * against a scripted fake server on a unix socket (native password,
 * caching_sha2 fast path, auth switch, RSA full auth, ERR, hostile
 * server).  The real MariaDB runs in tests/integration/test_sql.py.
 */
#include "compat.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <bearssl.h>

#include "processors/mysql_proto.h"
#include "tests/t.h"

/* The handshake example of the MySQL protocol documentation (5.5.2-m2):
 * scramble "\"=NP)u9V" + ")d@R\\Uxz|!)K", no plugin name. */
static const unsigned char doc_hs[] = {
	0x0a, 0x35, 0x2e, 0x35, 0x2e, 0x32, 0x2d, 0x6d, 0x32, 0x00, 0x52, 0x00,
	0x00, 0x00, 0x22, 0x3d, 0x4e, 0x50, 0x29, 0x75, 0x39, 0x56, 0x00, 0xff,
	0xff, 0x08, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x29, 0x64, 0x40, 0x52, 0x5c, 0x55, 0x78,
	0x7a, 0x7c, 0x21, 0x29, 0x4b, 0x00
};
static const unsigned char doc_scramble[20] = "\"=NP)u9V)d@R\\Uxz|!)K";

/* python3: sha1(pw) ^ sha1(s + sha1(sha1(pw))), pw = "secret" */
static const char native_hex[] = "752e525287c381868e48f7c4a5070a2e4291c854";
/* python3: sha256(pw) ^ sha256(sha256(sha256(pw)) + s) */
static const char sha2_hex[] =
    "ebf4e4d14c751efb1f98f510a2e8413c2208693bb63caa685bc32b63536f40e6";

static const char rsa_priv[] =
	"-----BEGIN RSA PRIVATE KEY-----\n"
	"MIICWwIBAAKBgQCx6tdU930yNpEzOYVHOZ1JpEoJ5Rs6zdY5FSABbPJPn+CIRBrD\n"
	"D7JiW+p/YdLNM6q5ytewQfY8JNfdB++KnA6NLNSIIZ9IgjtNoCBNOxaC1I7Wu7Cx\n"
	"keA89G++eTzUse9ht259jBJXUCMKXG36MAiGVFhHE8CcX+KTDeAELVgy7QIDAQAB\n"
	"AoGAGFJRM3VNsRKSkN0ZIh53KP0DfgzKxyQiV9VSdb9t9IKXkCk3O1km+pk0GkvG\n"
	"JHUerp1TFO4/egNTWwzdqyYgOuOxiz69LypsXYk51UbAOnk0GIZuAw2YeGHlQrnp\n"
	"+ANtk+2UGpCcosxlLP+vCatfN0E25lVHJudGeQm5QQbB3qUCQQDsW46PFjKGaXCR\n"
	"CzjDzCQQAfjKg8UIDbKBWV6rWw2hY/d47OSxwMOYzBmhFWDcrGW3/BqDWLSi7P1I\n"
	"AEYeMy7zAkEAwLP7tRk4DkrZf68yc+AuNQhCic5FY1iVwTEo0lkqF8kgQpAb4CRj\n"
	"idl8jSsgaiprEF5b0kj7eJHLJQw2L8BOnwJAOUZCeGfvnGSmk289tSydvIdNy308\n"
	"3KO9Et0eNLXeyrIXwOTe0jgc7cTfnQo6K59XEstzfUqckzKMecsfMqhCgwJAXqIE\n"
	"olLYLGylkwa+iBk3l+OOiY46lScTo+Q4X9RZz4R9yzJp/hDgsPmVKN5c9MYP/eHY\n"
	"xdQBapxuXqs4kQqnkQJAECbQqNHnb9DRdEpGrnaDbwU7nLX1hf47sRsJ1RELip3L\n"
	"EyowevD8Ul+ML8xTd9/0oNNpCb8Gos//DmduGk2fkA==\n"
	"-----END RSA PRIVATE KEY-----\n";
static const char rsa_pub[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCx6tdU930yNpEzOYVHOZ1JpEoJ\n"
	"5Rs6zdY5FSABbPJPn+CIRBrDD7JiW+p/YdLNM6q5ytewQfY8JNfdB++KnA6NLNSI\n"
	"IZ9IgjtNoCBNOxaC1I7Wu7CxkeA89G++eTzUse9ht259jBJXUCMKXG36MAiGVFhH\n"
	"E8CcX+KTDeAELVgy7QIDAQAB\n"
	"-----END PUBLIC KEY-----\n";

static void
hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* ---- DSN ---- */

static void
dsn_tcp_full(void)
{
	struct my_dsn d;
	char err[256];

	CHECK(my_dsn_parse("gm:pa:ss@tcp(db.example:3307)/mail%5Fdb?"
	    "timeout=2s&readTimeout=1m&charset=utf8mb4&parseTime=true", &d,
	    err, sizeof(err)) == 0);
	CHECK_STR(d.user, "gm");
	CHECK_STR(d.pass, "pa:ss");
	CHECK_STR(d.host, "db.example");
	CHECK_STR(d.port, "3307");
	CHECK_STR(d.db, "mail_db");
	CHECK(!d.is_unix);
	CHECK(d.connect_ms == 2000);
	CHECK(d.read_ms == 60000);
	CHECK(d.write_ms == 30000);
}

static void
dsn_password_with_at_and_slash(void)
{
	struct my_dsn d;
	char err[256];

	CHECK(my_dsn_parse("u:p@ss/w(x)@tcp(127.0.0.1:3306)/db", &d, err,
	    sizeof(err)) == 0);
	CHECK_STR(d.user, "u");
	CHECK_STR(d.pass, "p@ss/w(x)");
	CHECK_STR(d.host, "127.0.0.1");
	CHECK_STR(d.db, "db");
}

static void
dsn_unix_socket(void)
{
	struct my_dsn d;
	char err[256];

	CHECK(my_dsn_parse("root@unix(/var/run/mysqld/mysqld.sock)/gmail?"
	    "writeTimeout=500ms", &d, err, sizeof(err)) == 0);
	CHECK(d.is_unix);
	CHECK_STR(d.sock, "/var/run/mysqld/mysqld.sock");
	CHECK_STR(d.user, "root");
	CHECK_STR(d.pass, "");
	CHECK_STR(d.db, "gmail");
	CHECK(d.write_ms == 500);
	CHECK(my_dsn_parse("u@unix/db", &d, err, sizeof(err)) == 0);
	CHECK_STR(d.sock, "/tmp/mysql.sock");
}

static void
dsn_defaults(void)
{
	struct my_dsn d;
	char err[256];

	CHECK(my_dsn_parse("/db", &d, err, sizeof(err)) == 0);
	CHECK_STR(d.host, "127.0.0.1");
	CHECK_STR(d.port, "3306");
	CHECK_STR(d.user, "");
	CHECK(d.connect_ms == 5000);
	CHECK(my_dsn_parse("u@tcp(mysql)/", &d, err, sizeof(err)) == 0);
	CHECK_STR(d.host, "mysql");
	CHECK_STR(d.port, "3306");
	CHECK_STR(d.db, "");
	CHECK(my_dsn_parse("u@tcp([::1]:3307)/db", &d, err, sizeof(err)) == 0);
	CHECK_STR(d.host, "::1");
	CHECK_STR(d.port, "3307");
	CHECK(my_dsn_parse("u@tcp([::1])/db", &d, err, sizeof(err)) == 0);
	CHECK_STR(d.port, "3306");
}

static void
dsn_rejected(void)
{
	static const char *const bad[] = {
		"", "noslash", "u@tcp(host:3306/db", "u@udp(x)/db",
		"u@tcp(h:99999)/db", "u@tcp(h:)/db", "u@tcp(h:0)/db",
		"u@tcp(h:3x)/db", "u@tcp([::1/db", "u@tcp([::1]x)/db",
		"/db?tls=true", "/db?tls=skip-verify", "/db?timeout=xyz",
		"/db?novalue", "/db?a=%zz", "/d%00b", "u@tcp(:3306)/db",
	};
	struct my_dsn d;
	char err[256];
	size_t i;

	for (i = 0; i < NELEM(bad); i++) {
		err[0] = '\0';
		if (my_dsn_parse(bad[i], &d, err, sizeof(err)) != -1) {
			printf("     accepted: [%s]\n", bad[i]);
			CHECK(!"bad DSN accepted");
		}
		CHECK(err[0] != '\0');
	}
	/* the password never shows in an error */
	CHECK(my_dsn_parse("u:hunter2@tcp(h:1x)/db", &d, err, sizeof(err)) ==
	    -1);
	CHECK(strstr(err, "hunter2") == NULL);
}

/* ---- framing and packets ---- */

static void
frame_truncated_and_oversized(void)
{
	unsigned char b[16] = { 5, 0, 0, 7, 'h', 'e', 'l', 'l', 'o', 0xee };
	const unsigned char *p;
	size_t n, i;
	unsigned seq;

	for (i = 0; i < 9; i++)
		CHECK(my_frame(b, i, 100, &p, &n, &seq) == 0);
	CHECK(my_frame(b, 10, 100, &p, &n, &seq) == 9);
	CHECK(n == 5 && seq == 7 && memcmp(p, "hello", 5) == 0);
	CHECK(my_frame(b, 9, 4, &p, &n, &seq) == -1);	/* over max */
	b[0] = b[1] = b[2] = 0xff;	/* a multi-packet: never accepted */
	CHECK(my_frame(b, 16, 0xffffff, &p, &n, &seq) == -1);
	b[0] = b[1] = b[2] = 0;
	CHECK(my_frame(b, 4, 100, &p, &n, &seq) == 4 && n == 0);
}

static void
handshake_doc_vector(void)
{
	struct my_handshake h;
	char err[256];

	CHECK(my_parse_handshake(doc_hs, sizeof(doc_hs), &h, err,
	    sizeof(err)) == 0);
	CHECK_STR(h.version, "5.5.2-m2");
	CHECK(h.conn_id == 0x52);
	CHECK(h.caps == 0xffff);
	CHECK(h.charset == 8);
	CHECK(h.status == 2);
	CHECK(memcmp(h.scramble, doc_scramble, 20) == 0);
	CHECK_STR(h.plugin, "");
}

static void
handshake_truncated_and_hostile(void)
{
	unsigned char b[sizeof(doc_hs)], junk[300];
	struct my_handshake h;
	char err[256];
	size_t i, j;
	unsigned x = 12345;

	/* every prefix that cuts the scramble short is refused */
	for (i = 0; i + 1 < sizeof(doc_hs); i++)
		CHECK(my_parse_handshake(doc_hs, i, &h, err, sizeof(err)) ==
		    -1);
	memcpy(b, doc_hs, sizeof(b));
	b[0] = 9;
	CHECK(my_parse_handshake(b, sizeof(b), &h, err, sizeof(err)) == -1);
	memcpy(b, doc_hs, sizeof(b));
	b[23] = 0;	/* no PROTOCOL_41 / SECURE_CONNECTION */
	b[24] = 0;
	CHECK(my_parse_handshake(b, sizeof(b), &h, err, sizeof(err)) == -1);
	/* a version string without its NUL */
	memset(junk, 'A', sizeof(junk));
	junk[0] = 10;
	CHECK(my_parse_handshake(junk, sizeof(junk), &h, err,
	    sizeof(err)) == -1);
	/* random bytes: no crash (ASan/UBSan watch), version printable */
	for (i = 0; i < 2000; i++) {
		size_t n = (x >> 3) % sizeof(junk);
		for (j = 0; j < n; j++) {
			x = x * 1103515245u + 12345u;
			junk[j] = (unsigned char)(x >> 16);
		}
		junk[0] = i & 1 ? 10 : junk[0];
		if (my_parse_handshake(junk, n, &h, err, sizeof(err)) == 0)
			for (j = 0; h.version[j] != '\0'; j++)
				CHECK(h.version[j] >= 0x20 &&
				    h.version[j] < 0x7f);
	}
	/* an ERR packet instead of a greeting */
	CHECK(my_parse_handshake((const unsigned char *)"\xff\x10\x04Too many "
	    "connections", 23, &h, err, sizeof(err)) == -1);
	CHECK_STR(err, "ERROR 1040 (HY000): Too many connections");
}

static void
ok_err_eof_parsing(void)
{
	static const unsigned char ok[] = { 0, 1, 0xfc, 0x10, 0x27, 0x22, 0,
	    0, 0 };
	static const unsigned char er[] = "\xff\x15\x04#28000Access denied "
	    "for user 'x'\x01";
	unsigned st = 0;
	char out[256];
	size_t i, off;
	uint64_t v;

	CHECK(my_parse_ok(ok, sizeof(ok), &st) == 0 && st == 0x22);
	for (i = 0; i < sizeof(ok); i++)
		CHECK(my_parse_ok(ok, i, &st) == -1);
	CHECK(my_parse_err(er, sizeof(er) - 1, out, sizeof(out)) == 0);
	CHECK_STR(out, "ERROR 1045 (28000): Access denied for user 'x'\\x01");
	CHECK(my_parse_err(er, 2, out, sizeof(out)) == -1);
	CHECK(my_parse_err(ok, sizeof(ok), out, sizeof(out)) == -1);
	CHECK(my_is_eof((const unsigned char *)"\xfe\0\0\2\0", 5));
	CHECK(!my_is_eof((const unsigned char *)"\xfe\0\0\2\0\0\0\0\0", 9));
	off = 0;
	CHECK(my_lenenc((const unsigned char *)"\xfd\1\2", 3, &off, &v) == -1);
	off = 0;
	CHECK(my_lenenc((const unsigned char *)"\xfd\1\2\3", 4, &off, &v) ==
	    0 && v == 0x030201 && off == 4);
	off = 0;
	CHECK(my_lenenc((const unsigned char *)"\xfb", 1, &off, &v) == -1);
}

/* ---- auth ---- */

static void
native_password_vector(void)
{
	unsigned char out[32];
	char h[80];
	size_t n;

	my_scramble_native("secret", doc_scramble, out, &n);
	CHECK(n == 20);
	hex(out, n, h);
	CHECK_STR(h, native_hex);
	my_scramble_native("", doc_scramble, out, &n);
	CHECK(n == 0);
}

static void
caching_sha2_vector(void)
{
	unsigned char out[32];
	char h[80];
	size_t n;

	my_scramble_sha2("secret", doc_scramble, out, &n);
	CHECK(n == 32);
	hex(out, n, h);
	CHECK_STR(h, sha2_hex);
	CHECK(my_auth_response("caching_sha2_password", "secret", doc_scramble,
	    out, &n) == 0 && n == 32);
	CHECK(my_auth_response("dialog", "secret", doc_scramble, out, &n) ==
	    -1);
}

static void
handshake_response_layout(void)
{
	struct my_dsn d;
	struct my_handshake h;
	unsigned char out[512], auth[32];
	char err[256];
	size_t n, al;
	uint32_t caps;

	CHECK(my_dsn_parse("gm:secret@tcp(h:1)/mail", &d, err,
	    sizeof(err)) == 0);
	CHECK(my_parse_handshake(doc_hs, sizeof(doc_hs), &h, err,
	    sizeof(err)) == 0);
	h.caps |= MY_CLIENT_PLUGIN_AUTH;
	gd_strlcpy(h.plugin, "mysql_native_password", sizeof(h.plugin));
	my_scramble_native(d.pass, h.scramble, auth, &al);
	n = my_build_handshake_response(&d, &h, auth, al, out, sizeof(out));
	CHECK(n == 32 + 3 + 1 + 20 + 5 + 22);
	caps = (uint32_t)out[0] | (uint32_t)out[1] << 8 |
	    (uint32_t)out[2] << 16 | (uint32_t)out[3] << 24;
	CHECK(caps & MY_CLIENT_PROTOCOL_41);
	CHECK(caps & MY_CLIENT_SECURE_CONNECTION);
	CHECK(caps & MY_CLIENT_CONNECT_WITH_DB);
	CHECK(caps & MY_CLIENT_PLUGIN_AUTH);
	CHECK(!(caps & 0x00010000u));	/* never MULTI_STATEMENTS */
	CHECK(!(caps & 0x00000080u));	/* never LOCAL_FILES */
	CHECK(out[8] == MY_CHARSET_UTF8MB4);
	CHECK(memcmp(out + 32, "gm\0\x14", 4) == 0);
	CHECK(memcmp(out + 36, auth, 20) == 0);
	CHECK(memcmp(out + 56, "mail\0mysql_native_password\0", 27) == 0);
	CHECK(my_build_handshake_response(&d, &h, auth, al, out, 40) == 0);
}

/* ---- parameters ---- */

static void
execute_binds_hostile_bytes_verbatim(void)
{
	static const char evil[] = "'); DROP TABLE new_mail; --\0\\\"\x1a\r\n"
	    "\xe2\x80\x99 ' OR 1=1 #";
	struct my_param p[3];
	unsigned char *b, big[70000];
	size_t n;

	p[0].type = MY_P_STRING;
	p[0].p = evil;
	p[0].len = sizeof(evil) - 1;
	p[1].type = MY_P_INT;
	p[1].i = 1;
	p[2].type = MY_P_BLOB;
	p[2].p = "\x7f\0\0\1";
	p[2].len = 4;
	CHECK(my_build_execute(0x01020304, p, 3, &b, &n) == 0);
	CHECK(n == 10 + 1 + 1 + 6 + 1 + p[0].len + 8 + 1 + 4);
	CHECK(memcmp(b, "\x17\x04\x03\x02\x01\0\1\0\0\0", 10) == 0);
	CHECK(b[10] == 0 && b[11] == 1);	/* no NULLs; types follow */
	CHECK(memcmp(b + 12, "\xfe\0\x08\0\xfc\0", 6) == 0);
	CHECK(b[18] == p[0].len);
	CHECK(memcmp(b + 19, evil, p[0].len) == 0);
	CHECK(memcmp(b + 19 + p[0].len, "\1\0\0\0\0\0\0\0\4\x7f\0\0\1",
	    13) == 0);
	free(b);
	/* longer values get 0xfc / 0xfd length prefixes */
	memset(big, '\'', sizeof(big));
	p[0].p = big;
	p[0].len = 300;
	CHECK(my_build_execute(1, p, 1, &b, &n) == 0);
	CHECK(n == 10 + 1 + 1 + 2 + 3 + 300);
	CHECK(memcmp(b + 14, "\xfc\x2c\x01", 3) == 0);
	free(b);
	p[0].len = sizeof(big);
	CHECK(my_build_execute(1, p, 1, &b, &n) == 0);
	CHECK(n == 10 + 1 + 1 + 2 + 4 + sizeof(big));
	CHECK(memcmp(b + 14, "\xfd\x70\x11\x01", 4) == 0);
	free(b);
}

static void
utf8_clean_and_cut(void)
{
	char out[300], in[600];
	size_t n;

	n = my_utf8_clean("  a\x01'\\\"\x1a b  ", 12, out, 255);
	CHECK_STR(out, "a\x01'\\\"\x1a b");
	CHECK(n == 8);
	n = my_utf8_clean("x\xffy\xc0\xafz\xed\xa0\x80", 9, out, 255);
	CHECK_STR(out, "x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbdz"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	memset(in, 'a', 254);
	memcpy(in + 254, "\xc3\xa9zz", 4);	/* é would end at 256 */
	n = my_utf8_clean(in, 258, out, 255);
	CHECK(n == 254);
	n = my_utf8_clean(in, 256, out, 256);
	CHECK(n == 256 && memcmp(out + 254, "\xc3\xa9", 2) == 0);
	n = my_utf8_clean("\xf0\x9f\x98\x80", 4, out, 255);	/* emoji */
	CHECK(n == 4);
}

/* ---- a scripted fake server ---- */

#define S_SCRAMBLE "ABCDEFGHIJKLMNOPQRST"

static char sockpath[128];

static int
srv_send(int fd, unsigned seq, const void *p, size_t n)
{
	unsigned char h[4] = { (unsigned char)n, (unsigned char)(n >> 8),
	    (unsigned char)(n >> 16), (unsigned char)seq };
	return write(fd, h, 4) == 4 && write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* SEND_LIT - a string literal as one packet (length from sizeof) */
#define SEND_LIT(fd, seq, lit)	srv_send((fd), (seq), (lit), sizeof(lit) - 1)

static int
read_full(int fd, unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* srv_recv - one packet; exits 3 when its sequence id is not want. */
static size_t
srv_recv(int fd, unsigned want, unsigned char *p, size_t cap)
{
	unsigned char h[4];
	size_t n;

	if (read_full(fd, h, 4) != 0)
		_exit(2);
	n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16;
	if (h[3] != want || n > cap || read_full(fd, p, n) != 0)
		_exit(3);
	return n;
}

static void
srv_handshake(int fd, const char *plugin, const char *scramble)
{
	unsigned char b[256];
	size_t o = 0, pl = strlen(plugin);

	b[o++] = 10;
	memcpy(b + o, "fake-1.0", 9);
	o += 9;
	memcpy(b + o, "\x2a\0\0\0", 4);
	o += 4;
	memcpy(b + o, scramble, 8);
	o += 8;
	b[o++] = 0;
	memcpy(b + o, "\xff\xf7\x2d\x02\x00\xff\x81\x15", 8);	/* caps... */
	o += 8;
	memset(b + o, 0, 10);
	o += 10;
	memcpy(b + o, scramble + 8, 12);
	o += 12;
	b[o++] = 0;
	memcpy(b + o, plugin, pl + 1);
	o += pl + 1;
	srv_send(fd, 0, b, o);
}

/* srv_auth - the client's auth response in the HandshakeResponse41 */
static size_t
srv_auth(const unsigned char *p, size_t n, const unsigned char **auth)
{
	const unsigned char *nul = memchr(p + 32, 0, n - 32);

	*auth = nul + 2;
	return nul[1];
}

static const unsigned char OK_PKT[] = { 0, 0, 0, 2, 0, 0, 0 };

static int
unhex_eq(const unsigned char *p, size_t n, const char *hx)
{
	char h[200];

	if (n * 2 != strlen(hx))
		return 0;
	hex(p, n, h);
	return strcmp(h, hx) == 0;
}

static void
srv_native(int fd)
{
	unsigned char b[1024];
	const unsigned char *a;
	size_t n;

	srv_handshake(fd, "mysql_native_password", (const char *)doc_scramble);
	n = srv_recv(fd, 1, b, sizeof(b));
	n = srv_auth(b, n, &a);
	if (!unhex_eq(a, n, native_hex))
		_exit(4);
	srv_send(fd, 2, OK_PKT, sizeof(OK_PKT));
	/* one query: ERR, then a result set */
	n = srv_recv(fd, 0, b, sizeof(b));
	if (n < 2 || b[0] != 3)
		_exit(5);
	SEND_LIT(fd, 1, "\xff\x7a\x04#42S02Table 'x' doesn't exist");
	srv_recv(fd, 0, b, sizeof(b));
	SEND_LIT(fd, 1, "\x01");
	SEND_LIT(fd, 2, "\x03" "def\0\0\0\x07mail_id\0\x0c\x3f\0\x14\0\0\0"
	    "\x08\x23\0\0\0\0");
	SEND_LIT(fd, 3, "\xfe\0\0\x02\0");
	SEND_LIT(fd, 4, "\x01" "7");
	SEND_LIT(fd, 5, "\xfe\0\0\x02\0");
	/* prepare: id 7, no columns, 2 parameters */
	n = srv_recv(fd, 0, b, sizeof(b));
	if (n < 1 || b[0] != 0x16 || memcmp(b + 1, "INSERT", 6) != 0)
		_exit(7);
	SEND_LIT(fd, 1, "\0\x07\0\0\0\0\0\x02\0\0\0\0");
	SEND_LIT(fd, 2, "\x03" "def\0\0\0\x01?\0\x0c\x3f\0\0\0\0\0"
	    "\xfd\x80\0\0\0\0");
	SEND_LIT(fd, 3, "\x03" "def\0\0\0\x01?\0\x0c\x3f\0\0\0\0\0"
	    "\xfd\x80\0\0\0\0");
	SEND_LIT(fd, 4, "\xfe\0\0\x02\0");
	/* execute: the hostile value arrives length-prefixed, verbatim */
	n = srv_recv(fd, 0, b, sizeof(b));
	if (n != 10 + 1 + 1 + 4 + 1 + 6 + 8 ||
	    memcmp(b, "\x17\x07\0\0\0\0\1\0\0\0\0\1\xfe\0\x08\0\x06", 17) ||
	    memcmp(b + 17, "'\0\\\"\x1a;", 6) != 0)
		_exit(8);
	SEND_LIT(fd, 1, "\0\1\x05\x02\0\0\0");
	srv_recv(fd, 0, b, sizeof(b));	/* COM_QUIT */
	_exit(b[0] == 1 ? 0 : 6);
}

static void
srv_sha2_fast(int fd)
{
	unsigned char b[1024];
	const unsigned char *a;
	size_t n;

	srv_handshake(fd, "caching_sha2_password", (const char *)doc_scramble);
	n = srv_recv(fd, 1, b, sizeof(b));
	n = srv_auth(b, n, &a);
	if (!unhex_eq(a, n, sha2_hex))
		_exit(4);
	SEND_LIT(fd, 2, "\x01\x03");
	srv_send(fd, 3, OK_PKT, sizeof(OK_PKT));
	_exit(0);
}

static void
srv_switch(int fd)
{
	unsigned char b[1024], sw[64];
	const unsigned char *a;
	size_t n;

	srv_handshake(fd, "caching_sha2_password", S_SCRAMBLE);
	srv_recv(fd, 1, b, sizeof(b));
	sw[0] = 0xfe;
	memcpy(sw + 1, "mysql_native_password", 22);
	memcpy(sw + 23, doc_scramble, 20);
	sw[43] = 0;
	srv_send(fd, 2, sw, 44);
	n = srv_recv(fd, 3, b, sizeof(b));
	a = b;
	if (!unhex_eq(a, n, native_hex))
		_exit(4);
	srv_send(fd, 4, OK_PKT, sizeof(OK_PKT));
	_exit(0);
}

static void
srv_rsa(int fd)
{
	br_pem_decoder_context pc;
	br_skey_decoder_context kc;
	const br_rsa_private_key *sk;
	unsigned char b[1024], want[16];
	size_t n, off = 0, i;
	int inobj = 0;

	srv_handshake(fd, "caching_sha2_password", S_SCRAMBLE);
	srv_recv(fd, 1, b, sizeof(b));
	SEND_LIT(fd, 2, "\x01\x04");
	n = srv_recv(fd, 3, b, sizeof(b));
	if (n != 1 || b[0] != 2)
		_exit(4);
	b[0] = 1;
	memcpy(b + 1, rsa_pub, strlen(rsa_pub));
	srv_send(fd, 4, b, 1 + strlen(rsa_pub));
	n = srv_recv(fd, 5, b, sizeof(b));
	br_skey_decoder_init(&kc);
	br_pem_decoder_init(&pc);
	while (off < sizeof(rsa_priv) - 1) {
		off += br_pem_decoder_push(&pc, rsa_priv + off,
		    sizeof(rsa_priv) - 1 - off);
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			inobj = 1;
			br_pem_decoder_setdest(&pc, (void (*)(void *,
			    const void *, size_t))br_skey_decoder_push, &kc);
			break;
		case BR_PEM_END_OBJ:
			off = sizeof(rsa_priv);
			break;
		case BR_PEM_ERROR:
			_exit(7);
		}
	}
	if (!inobj || (sk = br_skey_decoder_get_rsa(&kc)) == NULL)
		_exit(7);
	if (br_rsa_oaep_decrypt_get_default()(&br_sha1_vtable, NULL, 0, sk,
	    b, &n) != 1 || n != 7)
		_exit(8);
	memcpy(want, "secret", 7);
	for (i = 0; i < 7; i++)
		want[i] ^= (unsigned char)S_SCRAMBLE[i];
	if (memcmp(b, want, 7) != 0)
		_exit(9);
	srv_send(fd, 6, OK_PKT, sizeof(OK_PKT));
	_exit(0);
}

static void
srv_sha2_cleartext(int fd)
{
	unsigned char b[1024];
	size_t n;

	srv_handshake(fd, "caching_sha2_password", S_SCRAMBLE);
	srv_recv(fd, 1, b, sizeof(b));
	SEND_LIT(fd, 2, "\x01\x04");
	n = srv_recv(fd, 3, b, sizeof(b));
	if (n != 7 || memcmp(b, "secret", 7) != 0)
		_exit(4);
	srv_send(fd, 4, OK_PKT, sizeof(OK_PKT));
	_exit(0);
}

static void
srv_denied(int fd)
{
	unsigned char b[1024];

	srv_handshake(fd, "mysql_native_password", S_SCRAMBLE);
	srv_recv(fd, 1, b, sizeof(b));
	SEND_LIT(fd, 2, "\xff\x15\x04#28000Access denied for user 'gm'");
	_exit(0);
}

static void
srv_hangs_up(int fd)
{
	(void)fd;
	_exit(0);
}

static void
srv_huge(int fd)
{
	(void)write(fd, "\xff\xff\xff\0", 4);
	sleep(2);
	_exit(0);
}

static void
srv_unknown_plugin(int fd)
{
	unsigned char b[1024];

	srv_handshake(fd, "mysql_native_password", S_SCRAMBLE);
	srv_recv(fd, 1, b, sizeof(b));
	SEND_LIT(fd, 2, "\xfe" "dialog\0" S_SCRAMBLE "\0");
	sleep(2);
	_exit(0);
}

static void
srv_silent(int fd)
{
	(void)fd;
	sleep(3);
	_exit(0);
}

/* fake - run srv in a child serving one connection on sockpath (or on
 * a loopback TCP port when params starts with "tcp"); connect with dsn
 * extra params; returns my_connect's result, child status in *st.  For
 * srv_native the connection stays open in *c for the caller. */
static int
fake(void (*srv)(int), struct my_conn *c, const char *params, char *err,
    size_t errlen, int *st)
{
	struct sockaddr_un sa;
	struct sockaddr_in si;
	socklen_t sl = sizeof(si);
	struct my_dsn d;
	char dsn[300];
	pid_t pid;
	int lfd, rc, tcp = strncmp(params, "tcp", 3) == 0;

	if (tcp) {
		params += 3;
		memset(&si, 0, sizeof(si));
		si.sin_family = AF_INET;
		si.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&si,
		    sizeof(si)) != 0 || listen(lfd, 1) != 0 ||
		    getsockname(lfd, (struct sockaddr *)&si, &sl) != 0)
			return -2;
		snprintf(sockpath, sizeof(sockpath), "tcp(127.0.0.1:%d)",
		    ntohs(si.sin_port));
	} else {
		snprintf(sockpath, sizeof(sockpath), "/tmp/t_sql.%ld.sock",
		    (long)getpid());
		(void)unlink(sockpath);
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		gd_strlcpy(sa.sun_path, sockpath, sizeof(sa.sun_path));
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa,
		    sizeof(sa)) != 0 || listen(lfd, 1) != 0)
			return -2;
	}
	if ((pid = fork()) == 0) {
		int fd = accept(lfd, NULL, NULL);
		alarm(10);
		if (fd < 0)
			_exit(1);
		srv(fd);
		_exit(1);
	}
	(void)close(lfd);
	if (tcp)
		snprintf(dsn, sizeof(dsn), "gm:secret@%s/mail%s", sockpath,
		    params);
	else
		snprintf(dsn, sizeof(dsn), "gm:secret@unix(%s)/mail%s",
		    sockpath, params);
	if (my_dsn_parse(dsn, &d, err, errlen) != 0)
		return -2;
	my_conn_init(c);
	rc = my_connect(c, &d, err, errlen);
	if (srv == srv_native) {	/* the caller goes on talking */
		*st = (int)pid;
		return rc;
	}
	my_close(c);
	(void)waitpid(pid, st, 0);
	if (!tcp)
		(void)unlink(sockpath);
	return rc;
}

#define EXITED0(st) (WIFEXITED(st) && WEXITSTATUS(st) == 0)

static void
fake_native_and_queries(void)
{
	struct my_conn c;
	struct my_param p[2];
	char err[256];
	int st, ws;
	uint32_t id = 0;
	unsigned np = 0;

	CHECK(fake(srv_native, &c, "", err, sizeof(err), &st) == 0);
	CHECK(my_query(&c, "SELECT mail_id FROM x LIMIT 1", err,
	    sizeof(err)) == -1);
	CHECK(c.sql_error == 1 && c.fd >= 0);
	CHECK_STR(err, "ERROR 1146 (42S02): Table 'x' doesn't exist");
	CHECK(my_query(&c, "SELECT mail_id FROM new_mail LIMIT 1", err,
	    sizeof(err)) == 0);
	CHECK(my_idle_ok(&c) == 1);
	p[0].type = MY_P_STRING;
	p[0].p = "'\0\\\"\x1a;";
	p[0].len = 6;
	p[1].type = MY_P_INT;
	p[1].i = 42;
	CHECK(my_prepare(&c, "INSERT INTO t VALUES (?, ?)", &id, &np, err,
	    sizeof(err)) == 0);
	CHECK(id == 7 && np == 2);
	CHECK(my_execute(&c, id, p, 2, err, sizeof(err)) == 0);
	CHECK(c.status == 2);
	my_close(&c);
	(void)waitpid((pid_t)st, &ws, 0);
	CHECK(EXITED0(ws));
	(void)unlink(sockpath);
}

static void
fake_caching_sha2_fast_path(void)
{
	struct my_conn c;
	char err[256];
	int st;

	CHECK(fake(srv_sha2_fast, &c, "", err, sizeof(err), &st) == 0);
	CHECK(EXITED0(st));
}

static void
fake_auth_switch_to_native(void)
{
	struct my_conn c;
	char err[256];
	int st;

	CHECK(fake(srv_switch, &c, "", err, sizeof(err), &st) == 0);
	CHECK(EXITED0(st));
}

static void
fake_caching_sha2_rsa_full_auth(void)
{
	struct my_conn c;
	char err[256];
	int st;

	CHECK(fake(srv_rsa, &c, "tcp", err, sizeof(err), &st) == 0);
	CHECK(EXITED0(st));
}

static void
fake_caching_sha2_unix_cleartext(void)
{
	struct my_conn c;
	char err[256];
	int st;

	CHECK(fake(srv_sha2_cleartext, &c, "", err, sizeof(err), &st) == 0);
	CHECK(EXITED0(st));
}

static void
fake_failures_are_errors(void)
{
	struct my_conn c;
	char err[256];
	int st;

	CHECK(fake(srv_denied, &c, "", err, sizeof(err), &st) == -1);
	CHECK_STR(err, "ERROR 1045 (28000): Access denied for user 'gm'");
	CHECK(fake(srv_hangs_up, &c, "", err, sizeof(err), &st) == -1);
	CHECK(strstr(err, "closed") != NULL);
	CHECK(fake(srv_huge, &c, "", err, sizeof(err), &st) == -1);
	CHECK(strstr(err, "oversized") != NULL);
	CHECK(fake(srv_unknown_plugin, &c, "", err, sizeof(err), &st) == -1);
	CHECK(strstr(err, "'dialog' is not supported") != NULL);
	CHECK(fake(srv_silent, &c, "tcp?timeout=300ms", err, sizeof(err),
	    &st) == -1);
	CHECK(strstr(err, "timed out") != NULL);
	CHECK(c.fd == -1);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(dsn_tcp_full);
	RUN(dsn_password_with_at_and_slash);
	RUN(dsn_unix_socket);
	RUN(dsn_defaults);
	RUN(dsn_rejected);
	RUN(frame_truncated_and_oversized);
	RUN(handshake_doc_vector);
	RUN(handshake_truncated_and_hostile);
	RUN(ok_err_eof_parsing);
	RUN(native_password_vector);
	RUN(caching_sha2_vector);
	RUN(handshake_response_layout);
	RUN(execute_binds_hostile_bytes_verbatim);
	RUN(utf8_clean_and_cut);
	RUN(fake_native_and_queries);
	RUN(fake_caching_sha2_fast_path);
	RUN(fake_auth_switch_to_native);
	RUN(fake_caching_sha2_rsa_full_auth);
	RUN(fake_caching_sha2_unix_cleartext);
	RUN(fake_failures_are_errors);
	return T_DONE();
}
