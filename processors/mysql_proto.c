/*
 * mysql_proto.c - the MySQL/MariaDB client protocol (see mysql_proto.h).
 *
 * Invariants: every length read from the network is checked against the
 * bytes actually present before it is used; a packet is never bigger
 * than MY_READ_MAX on the way in; the client never asks for
 * CLIENT_MULTI_STATEMENTS or LOCAL INFILE, and values only ever travel as
 * bound parameters of a prepared statement, so no byte of an envelope can
 * become SQL.  Every read and write has a deadline (poll on a
 * non-blocking socket).  TLS to the database is not implemented, so
 * caching_sha2_password's full authentication (a cache miss on the
 * server) sends the password RSA-OAEP encrypted with the key the server
 * hands out over TCP, and in clear only over a unix socket (which the
 * server counts as secure, as libmysqlclient does).  A key is trusted as
 * sent: someone who can impersonate the server can learn the password,
 * the same trade-off as go-sql-driver's allowPublicKeyRetrieval.
 */
#include "compat.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bearssl.h>

#include "config.h"
#include "processors/mysql_proto.h"

#define COM_QUIT		0x01
#define COM_QUERY		0x03
#define COM_STMT_PREPARE	0x16
#define COM_STMT_EXECUTE	0x17
#define COM_STMT_CLOSE		0x19

#define T_LONGLONG	0x08
#define T_BLOB		0xfc
#define T_STRING	0xfe

#define MY_AUTH_ROUNDS	6	/* auth switch / more-data exchanges */
#define MY_RESULT_MAX	100000	/* packets in a discarded result set */

/* ---- small helpers ---- */

static uint32_t
le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
	return le16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* escape_into - printable copy of untrusted bytes (\xNN), capped. */
static void
escape_into(char *out, size_t outlen, const unsigned char *p, size_t n)
{
	size_t o = 0, i;

	if (outlen == 0)
		return;
	for (i = 0; i < n && o + 5 < outlen; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f)
			out[o++] = (char)p[i];
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x",
			    p[i]);
	}
	out[o] = '\0';
}

/* copy_dec - copy [s, e) into out, %XX-decoded when unesc ('+' stays:
 * go-sql-driver uses PathUnescape/QueryUnescape, '+' only matters for
 * the latter and never in values we use).  0 or -1 (too long/bad %). */
static int
copy_dec(const char *s, const char *e, char *out, size_t cap, int unesc)
{
	size_t o = 0;

	while (s < e) {
		int c = (unsigned char)*s++;
		if (unesc && c == '%') {
			int h, l;
			if (e - s < 2 || (h = gd_hexval((unsigned char)s[0])) < 0 ||
			    (l = gd_hexval((unsigned char)s[1])) < 0)
				return -1;
			c = h << 4 | l;
			s += 2;
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int
dsn_duration(const char *v, int64_t *ms)
{
	int64_t ns;

	if (cfg_duration(v, &ns) != 0)
		return -1;
	*ms = ns / 1000000;
	if (*ms <= 0)
		*ms = 1;
	return 0;
}

/* ---- DSN ---- */

static int
dsn_params(const char *s, struct my_dsn *d, char *err, size_t errlen)
{
	char key[64], val[256];

	while (*s != '\0') {
		const char *amp = strchr(s, '&'), *eq;

		if (amp == NULL)
			amp = s + strlen(s);
		eq = memchr(s, '=', (size_t)(amp - s));
		if (eq == NULL || copy_dec(s, eq, key, sizeof(key), 1) != 0 ||
		    copy_dec(eq + 1, amp, val, sizeof(val), 1) != 0) {
			snprintf(err, errlen, "sql_dsn: malformed parameter "
			    "'%.*s'", (int)(amp - s > 60 ? 60 : amp - s), s);
			return -1;
		}
		if ((strcmp(key, "timeout") == 0 &&
		    dsn_duration(val, &d->connect_ms) != 0) ||
		    (strcmp(key, "readTimeout") == 0 &&
		    dsn_duration(val, &d->read_ms) != 0) ||
		    (strcmp(key, "writeTimeout") == 0 &&
		    dsn_duration(val, &d->write_ms) != 0)) {
			snprintf(err, errlen, "sql_dsn: %s: invalid duration "
			    "'%.60s'", key, val);
			return -1;
		}
		if (strcmp(key, "tls") == 0 && strcmp(val, "false") != 0) {
			snprintf(err, errlen, "sql_dsn: tls=%.60s: TLS to the "
			    "database is not supported (use tls=false, or a "
			    "unix socket)", val);
			return -1;
		}
		s = *amp == '&' ? amp + 1 : amp;
	}
	return 0;
}

int
my_dsn_parse(const char *s, struct my_dsn *d, char *err, size_t errlen)
{
	const char *slash = strrchr(s, '/'), *at = NULL, *p, *net, *nete;
	const char *addr = NULL, *addre = NULL, *q, *colon;
	char netname[16];

	memset(d, 0, sizeof(*d));
	d->connect_ms = 5000;
	d->read_ms = 30000;
	d->write_ms = 30000;
	if (slash == NULL) {
		snprintf(err, errlen, "sql_dsn: missing '/' (want "
		    "user:password@tcp(host:port)/dbname)");
		return -1;
	}
	for (p = slash; p > s; p--)
		if (p[-1] == '@') {
			at = p - 1;
			break;
		}
	if (at != NULL) {
		colon = memchr(s, ':', (size_t)(at - s));
		if (copy_dec(s, colon != NULL ? colon : at, d->user,
		    sizeof(d->user), 0) != 0 || (colon != NULL &&
		    copy_dec(colon + 1, at, d->pass, sizeof(d->pass), 0) != 0)) {
			snprintf(err, errlen, "sql_dsn: user or password too "
			    "long");
			return -1;
		}
	}
	net = at != NULL ? at + 1 : s;
	nete = slash;
	/* net <= slash always (at precedes slash); said so for gcc's
	 * -Wstringop-overread */
	q = slash > net ? memchr(net, '(', (size_t)(slash - net)) : NULL;
	if (q != NULL) {
		if (slash[-1] != ')') {
			snprintf(err, errlen, "sql_dsn: invalid address "
			    "(missing ')')");
			return -1;
		}
		nete = q;
		addr = q + 1;
		addre = slash - 1;
	}
	if (copy_dec(net, nete, netname, sizeof(netname), 0) != 0)
		goto badnet;
	if (netname[0] == '\0')
		gd_strlcpy(netname, "tcp", sizeof(netname));
	if (strcmp(netname, "unix") == 0) {
		d->is_unix = 1;
		if (addr == NULL || addr == addre)
			gd_strlcpy(d->sock, "/tmp/mysql.sock", sizeof(d->sock));
		else if (copy_dec(addr, addre, d->sock, sizeof(d->sock), 0) !=
		    0 || (size_t)(addre - addr) >= sizeof(
		    ((struct sockaddr_un *)0)->sun_path)) {
			snprintf(err, errlen, "sql_dsn: socket path too long");
			return -1;
		}
	} else if (strcmp(netname, "tcp") == 0 ||
	    strcmp(netname, "tcp4") == 0 || strcmp(netname, "tcp6") == 0) {
		const char *h = addr, *he, *pp = NULL;

		if (addr == NULL || addr == addre) {
			h = "127.0.0.1";
			addre = h + strlen(h);
		}
		if (*h == '[') {	/* [v6]:port */
			he = memchr(h, ']', (size_t)(addre - h));
			if (he == NULL)
				goto badaddr;
			if (he + 1 < addre) {
				if (he[1] != ':')
					goto badaddr;
				pp = he + 2;
			}
			h++;
		} else {
			he = memchr(h, ':', (size_t)(addre - h));
			if (he != NULL)
				pp = he + 1;
			else
				he = addre;
		}
		if (he == h || copy_dec(h, he, d->host, sizeof(d->host), 0) != 0)
			goto badaddr;
		if (pp == NULL)
			gd_strlcpy(d->port, "3306", sizeof(d->port));
		else {
			size_t i, n = (size_t)(addre - pp);
			if (n == 0 || n > 5)
				goto badaddr;
			for (i = 0; i < n; i++)
				if (pp[i] < '0' || pp[i] > '9')
					goto badaddr;
			memcpy(d->port, pp, n);
			d->port[n] = '\0';
			if (strtol(d->port, NULL, 10) > 65535 ||
			    strtol(d->port, NULL, 10) == 0)
				goto badaddr;
		}
	} else
		goto badnet;
	q = strchr(slash + 1, '?');
	if (copy_dec(slash + 1, q != NULL ? q : slash + 1 + strlen(slash + 1),
	    d->db, sizeof(d->db), 1) != 0) {
		snprintf(err, errlen, "sql_dsn: bad database name");
		return -1;
	}
	if (q != NULL && dsn_params(q + 1, d, err, errlen) != 0)
		return -1;
	return 0;
badnet:
	snprintf(err, errlen, "sql_dsn: unsupported network '%.*s' (want tcp "
	    "or unix)", (int)(nete - net > 20 ? 20 : nete - net), net);
	return -1;
badaddr:
	snprintf(err, errlen, "sql_dsn: invalid address '%.*s' (want "
	    "host:port)", addr != NULL ? (int)(addre - addr > 80 ? 80 :
	    addre - addr) : 0, addr != NULL ? addr : "");
	return -1;
}

/* ---- packets ---- */

long
my_frame(const unsigned char *buf, size_t len, size_t max,
    const unsigned char **payload, size_t *plen, unsigned *seq)
{
	size_t n;

	if (len < 4)
		return 0;
	n = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16;
	if (n > max || n >= MY_PKT_MAX)	/* multi-packet replies: never ours */
		return -1;
	if (len - 4 < n)
		return 0;
	*payload = buf + 4;
	*plen = n;
	*seq = buf[3];
	return (long)(n + 4);
}

int
my_lenenc(const unsigned char *p, size_t n, size_t *off, uint64_t *v)
{
	size_t o = *off, w, i;

	if (o >= n)
		return -1;
	switch (p[o]) {
	case 0xfb:
	case 0xff:
		return -1;
	case 0xfc:
		w = 2;
		break;
	case 0xfd:
		w = 3;
		break;
	case 0xfe:
		w = 8;
		break;
	default:
		*v = p[o];
		*off = o + 1;
		return 0;
	}
	if (n - o - 1 < w)
		return -1;
	*v = 0;
	for (i = 0; i < w; i++)
		*v |= (uint64_t)p[o + 1 + i] << (8 * i);
	*off = o + 1 + w;
	return 0;
}

int
my_parse_err(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	char msg[300], state[32] = "HY000";
	size_t off = 3;

	if (n < 3 || p[0] != 0xff)
		return -1;
	if (n >= 9 && p[3] == '#') {
		escape_into(state, sizeof(state), p + 4, 5);
		off = 9;
	}
	escape_into(msg, sizeof(msg), p + off, n - off > 200 ? 200 : n - off);
	snprintf(out, outlen, "ERROR %u (%s): %s", (unsigned)le16(p + 1),
	    state, msg);
	return 0;
}

int
my_parse_ok(const unsigned char *p, size_t n, unsigned *status)
{
	size_t off = 1;
	uint64_t v;

	if (n < 7 || (p[0] != 0x00 && p[0] != 0xfe))
		return -1;
	if (my_lenenc(p, n, &off, &v) != 0 || my_lenenc(p, n, &off, &v) != 0 ||
	    n - off < 4)
		return -1;
	if (status != NULL)
		*status = le16(p + off);
	return 0;
}

int
my_is_eof(const unsigned char *p, size_t n)
{
	return n > 0 && n < 9 && p[0] == 0xfe;
}

int
my_parse_handshake(const unsigned char *p, size_t n, struct my_handshake *h,
    char *err, size_t errlen)
{
	const unsigned char *nul;
	size_t off, l;

	memset(h, 0, sizeof(*h));
	if (n > 0 && p[0] == 0xff) {
		if (my_parse_err(p, n, err, errlen) != 0)
			snprintf(err, errlen, "truncated error packet");
		return -1;
	}
	if (n < 1 || p[0] != 10) {
		snprintf(err, errlen, "unsupported protocol version %d",
		    n < 1 ? -1 : p[0]);
		return -1;
	}
	if ((nul = memchr(p + 1, 0, n - 1)) == NULL)
		goto trunc;
	l = (size_t)(nul - (p + 1));
	escape_into(h->version, sizeof(h->version), p + 1, l);
	off = 1 + l + 1;
	if (n - off < 4 + 8 + 1 + 2)
		goto trunc;
	h->conn_id = le32(p + off);
	memcpy(h->scramble, p + off + 4, 8);
	off += 13;
	h->caps = le16(p + off);
	off += 2;
	if (n - off < 1 + 2 + 2 + 1 + 10)
		goto trunc;	/* pre-4.1 servers: not supported */
	h->charset = p[off];
	h->status = le16(p + off + 1);
	h->caps |= le16(p + off + 3) << 16;
	off += 16;
	if (!(h->caps & MY_CLIENT_PROTOCOL_41) ||
	    !(h->caps & MY_CLIENT_SECURE_CONNECTION)) {
		snprintf(err, errlen, "server too old (no protocol 4.1 / "
		    "secure connection)");
		return -1;
	}
	/* the rest of the scramble: 12 bytes and a NUL */
	if (n - off < 12)
		goto trunc;
	memcpy(h->scramble + 8, p + off, 12);
	off += 12;
	if (off < n && p[off] == 0)
		off++;
	if ((h->caps & MY_CLIENT_PLUGIN_AUTH) && off < n) {
		/* some servers omit the final NUL */
		nul = memchr(p + off, 0, n - off);
		l = nul != NULL ? (size_t)(nul - (p + off)) : n - off;
		if (l > MY_NAME_MAX)
			goto trunc;
		memcpy(h->plugin, p + off, l);
		h->plugin[l] = '\0';
	}
	return 0;
trunc:
	snprintf(err, errlen, "malformed handshake packet");
	return -1;
}

/* ---- auth ---- */

void
my_scramble_native(const char *pw, const unsigned char *scramble,
    unsigned char out[20], size_t *outlen)
{
	br_sha1_context c;
	unsigned char h1[20], h2[20], h3[20];
	size_t i;

	*outlen = 0;
	if (pw[0] == '\0')
		return;
	br_sha1_init(&c);
	br_sha1_update(&c, pw, strlen(pw));
	br_sha1_out(&c, h1);
	br_sha1_init(&c);
	br_sha1_update(&c, h1, 20);
	br_sha1_out(&c, h2);
	br_sha1_init(&c);
	br_sha1_update(&c, scramble, MY_SCRAMBLE_LEN);
	br_sha1_update(&c, h2, 20);
	br_sha1_out(&c, h3);
	for (i = 0; i < 20; i++)
		out[i] = h1[i] ^ h3[i];
	*outlen = 20;
}

void
my_scramble_sha2(const char *pw, const unsigned char *scramble,
    unsigned char out[32], size_t *outlen)
{
	br_sha256_context c;
	unsigned char h1[32], h2[32], h3[32];
	size_t i;

	*outlen = 0;
	if (pw[0] == '\0')
		return;
	br_sha256_init(&c);
	br_sha256_update(&c, pw, strlen(pw));
	br_sha256_out(&c, h1);
	br_sha256_init(&c);
	br_sha256_update(&c, h1, 32);
	br_sha256_out(&c, h2);
	br_sha256_init(&c);
	br_sha256_update(&c, h2, 32);
	br_sha256_update(&c, scramble, MY_SCRAMBLE_LEN);
	br_sha256_out(&c, h3);
	for (i = 0; i < 32; i++)
		out[i] = h1[i] ^ h3[i];
	*outlen = 32;
}

int
my_auth_response(const char *plugin, const char *pw,
    const unsigned char *scramble, unsigned char out[32], size_t *outlen)
{
	if (plugin[0] == '\0' || strcmp(plugin, "mysql_native_password") == 0)
		my_scramble_native(pw, scramble, out, outlen);
	else if (strcmp(plugin, "caching_sha2_password") == 0)
		my_scramble_sha2(pw, scramble, out, outlen);
	else
		return -1;
	return 0;
}

size_t
my_build_handshake_response(const struct my_dsn *d,
    const struct my_handshake *h, const unsigned char *auth, size_t authlen,
    unsigned char *out, size_t cap)
{
	uint32_t caps = MY_CLIENT_LONG_PASSWORD | MY_CLIENT_LONG_FLAG |
	    MY_CLIENT_PROTOCOL_41 | MY_CLIENT_TRANSACTIONS |
	    MY_CLIENT_SECURE_CONNECTION | MY_CLIENT_MULTI_RESULTS;
	const char *plugin = h->plugin[0] != '\0' ? h->plugin :
	    "mysql_native_password";
	size_t ul = strlen(d->user), dl = strlen(d->db), pl = strlen(plugin);
	size_t need = 32 + ul + 1 + 1 + authlen + dl + 1 + pl + 1, o = 0;

	if (dl > 0)
		caps |= MY_CLIENT_CONNECT_WITH_DB;
	if (h->caps & MY_CLIENT_PLUGIN_AUTH)
		caps |= MY_CLIENT_PLUGIN_AUTH;
	caps &= h->caps | MY_CLIENT_LONG_PASSWORD;
	if (need > cap || authlen > 250)
		return 0;
	put32(out, caps);
	put32(out + 4, MY_PKT_MAX);
	out[8] = MY_CHARSET_UTF8MB4;
	memset(out + 9, 0, 23);
	o = 32;
	memcpy(out + o, d->user, ul + 1);
	o += ul + 1;
	out[o++] = (unsigned char)authlen;
	memcpy(out + o, auth, authlen);
	o += authlen;
	if (caps & MY_CLIENT_CONNECT_WITH_DB) {
		memcpy(out + o, d->db, dl + 1);
		o += dl + 1;
	}
	if (caps & MY_CLIENT_PLUGIN_AUTH) {
		memcpy(out + o, plugin, pl + 1);
		o += pl + 1;
	}
	return o;
}

/* der_int - the next INTEGER in [*p, e): its bytes without leading 0. */
static int
der_len(const unsigned char **p, const unsigned char *e, size_t *len)
{
	size_t n, i;

	if (*p >= e)
		return -1;
	n = *(*p)++;
	if (n < 0x80) {
		*len = n;
	} else {
		n &= 0x7f;
		if (n == 0 || n > 3 || (size_t)(e - *p) < n)
			return -1;
		for (*len = 0, i = 0; i < n; i++)
			*len = *len << 8 | *(*p)++;
	}
	return (size_t)(e - *p) < *len ? -1 : 0;
}

static int
der_tag(const unsigned char **p, const unsigned char *e, int tag,
    size_t *len)
{
	if (*p >= e || **p != tag)
		return -1;
	(*p)++;
	return der_len(p, e, len);
}

/* rsa_from_der - "PUBLIC KEY" (SubjectPublicKeyInfo) or "RSA PUBLIC KEY"
 * (PKCS#1) DER into pk (pointers into der). */
static int
rsa_from_der(const unsigned char *der, size_t n, br_rsa_public_key *pk)
{
	const unsigned char *p = der, *e = der + n;
	size_t l;

	if (der_tag(&p, e, 0x30, &l) != 0)
		return -1;
	e = p + l;
	if (p < e && *p == 0x30) {	/* SPKI: AlgorithmIdentifier, BIT STRING */
		if (der_tag(&p, e, 0x30, &l) != 0)
			return -1;
		p += l;
		if (der_tag(&p, e, 0x03, &l) != 0 || l < 1 || *p != 0)
			return -1;
		p++;
		if (der_tag(&p, e, 0x30, &l) != 0)
			return -1;
		e = p + l;
	}
	if (der_tag(&p, e, 0x02, &l) != 0)
		return -1;
	pk->n = (unsigned char *)(uintptr_t)p;
	pk->nlen = l;
	p += l;
	if (der_tag(&p, e, 0x02, &l) != 0)
		return -1;
	pk->e = (unsigned char *)(uintptr_t)p;
	pk->elen = l;
	while (pk->nlen > 0 && pk->n[0] == 0) {
		pk->n++;
		pk->nlen--;
	}
	while (pk->elen > 0 && pk->e[0] == 0) {
		pk->e++;
		pk->elen--;
	}
	return pk->nlen >= 64 && pk->nlen <= 512 && pk->elen > 0 ? 0 : -1;
}

struct derbuf {
	unsigned char	b[2048];
	size_t		n;
	int		over;
};

static void
der_append(void *ctx, const void *data, size_t len)
{
	struct derbuf *d = ctx;

	if (d->over || len > sizeof(d->b) - d->n) {
		d->over = 1;
		return;
	}
	memcpy(d->b + d->n, data, len);
	d->n += len;
}

size_t
my_sha2_rsa_encrypt(const char *pem, size_t pemlen, const char *pw,
    const unsigned char *scramble, unsigned char *out, size_t cap)
{
	br_pem_decoder_context pc;
	br_hmac_drbg_context rng;
	br_prng_seeder seeder;
	br_rsa_public_key pk;
	struct derbuf der;
	unsigned char msg[MY_PASS_MAX + 1];
	size_t off = 0, pl = strlen(pw), i, r = 0;
	int inobj = 0, done = 0;

	der.n = 0;
	der.over = 0;
	if (pl + 1 > sizeof(msg))
		return 0;
	br_pem_decoder_init(&pc);
	while (off < pemlen && !done) {
		off += br_pem_decoder_push(&pc, pem + off, pemlen - off);
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			inobj = strstr(br_pem_decoder_name(&pc), "PUBLIC KEY")
			    != NULL;
			br_pem_decoder_setdest(&pc, inobj ? der_append : NULL,
			    &der);
			break;
		case BR_PEM_END_OBJ:
			done = inobj;
			break;
		case BR_PEM_ERROR:
			return 0;
		default:
			break;
		}
	}
	if (!done || der.over || rsa_from_der(der.b, der.n, &pk) != 0)
		return 0;
	memcpy(msg, pw, pl + 1);
	for (i = 0; i <= pl; i++)
		msg[i] ^= scramble[i % MY_SCRAMBLE_LEN];
	br_hmac_drbg_init(&rng, &br_sha256_vtable, "guerrillad", 10);
	if ((seeder = br_prng_seeder_system(NULL)) == NULL ||
	    !seeder(&rng.vtable))
		goto out;
	r = br_rsa_oaep_encrypt_get_default()(&rng.vtable, &br_sha1_vtable,
	    NULL, 0, &pk, out, cap, msg, pl + 1);
out:
	memset(msg, 0, sizeof(msg));
	return r;
}

/* ---- executing ---- */

int
my_build_execute(uint32_t stmt, const struct my_param *prm, size_t n,
    unsigned char **out, size_t *outlen)
{
	size_t need = 1 + 4 + 1 + 4 + (n + 7) / 8 + 1 + 2 * n, i, o;
	unsigned char *b;

	for (i = 0; i < n; i++) {
		size_t add = prm[i].type == MY_P_INT ? 8 : 9 + prm[i].len;
		if (prm[i].type != MY_P_INT && prm[i].len > SIZE_MAX / 2)
			return -1;
		if (need > SIZE_MAX - add)
			return -1;
		need += add;
	}
	if ((b = malloc(need)) == NULL)
		return -1;
	b[0] = COM_STMT_EXECUTE;
	put32(b + 1, stmt);
	b[5] = 0;		/* no cursor */
	put32(b + 6, 1);	/* iteration count */
	o = 10;
	if (n > 0) {
		memset(b + o, 0, (n + 7) / 8);	/* no NULLs */
		o += (n + 7) / 8;
		b[o++] = 1;	/* types follow */
		for (i = 0; i < n; i++) {
			b[o++] = prm[i].type == MY_P_INT ? T_LONGLONG :
			    prm[i].type == MY_P_BLOB ? T_BLOB : T_STRING;
			b[o++] = 0;
		}
		for (i = 0; i < n; i++) {
			uint64_t v;
			int k;

			if (prm[i].type == MY_P_INT) {
				v = (uint64_t)prm[i].i;
				for (k = 0; k < 8; k++)
					b[o++] = (unsigned char)(v >> (8 * k));
				continue;
			}
			v = prm[i].len;
			if (v < 0xfb)
				b[o++] = (unsigned char)v;
			else if (v <= 0xffff) {
				b[o++] = 0xfc;
				b[o++] = (unsigned char)v;
				b[o++] = (unsigned char)(v >> 8);
			} else if (v <= 0xffffff) {
				b[o++] = 0xfd;
				for (k = 0; k < 3; k++)
					b[o++] = (unsigned char)(v >> (8 * k));
			} else {
				b[o++] = 0xfe;
				for (k = 0; k < 8; k++)
					b[o++] = (unsigned char)(v >> (8 * k));
			}
			if (prm[i].len > 0)
				memcpy(b + o, prm[i].p, prm[i].len);
			o += prm[i].len;
		}
	}
	*out = b;
	*outlen = o;
	return 0;
}

size_t
my_utf8_clean(const char *in, size_t n, char *out, size_t max)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0;

	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' ||
	    p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
	    p[i] == '\n'))
		i++;
	while (i < n) {
		unsigned c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
		    (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		size_t k;
		int ok = len > 0 && n - i >= len;

		for (k = 1; ok && k < len; k++)
			ok = (p[i + k] & 0xc0) == 0x80;
		if (ok && len > 1) {	/* no overlong forms, surrogates */
			unsigned v = len == 2 ? (c & 0x1f) << 6 | (p[i + 1] & 0x3f) :
			    len == 3 ? (c & 0x0f) << 12 | (p[i + 1] & 0x3f) << 6 |
			    (p[i + 2] & 0x3f) : (c & 0x07) << 18 |
			    (p[i + 1] & 0x3f) << 12 | (p[i + 2] & 0x3f) << 6 |
			    (p[i + 3] & 0x3f);
			ok = (len == 2 && v >= 0x80) || (len == 3 && v >= 0x800 &&
			    (v < 0xd800 || v > 0xdfff)) || (len == 4 &&
			    v >= 0x10000 && v <= 0x10ffff);
		}
		if (!ok) {
			if (o + 3 > max)
				break;
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		if (o + len > max)
			break;
		memcpy(out + o, p + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
	return o;
}

/* ---- the connection ---- */

void
my_conn_init(struct my_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void
drop(struct my_conn *c)
{
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
	c->inlen = 0;
	c->pkt = NULL;
	c->pktlen = 0;
}

void
my_close(struct my_conn *c)
{
	if (c->fd >= 0) {
		/* COM_QUIT, best effort: the server logs an abort otherwise */
		static const unsigned char quit[5] = { 1, 0, 0, 0, COM_QUIT };
		(void)send(c->fd, quit, sizeof(quit), GD_MSG_NOSIGNAL);
	}
	drop(c);
	free(c->in);
	c->in = NULL;
	c->incap = 0;
}

int
my_idle_ok(struct my_conn *c)
{
	struct pollfd pfd;
	int r;

	if (c->fd < 0)
		return 0;
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, 0);
	while (r < 0 && errno == EINTR);
	return r == 0;
}

/* wait_fd - poll for ev until the deadline.  0, or -1 (timeout/error). */
static int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd;

	for (;;) {
		int64_t left = deadline - gd_now_ms();
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int
write_all(struct my_conn *c, const unsigned char *p, size_t n)
{
	int64_t deadline = gd_now_ms() + c->write_ms;

	while (n > 0) {
		ssize_t w = send(c->fd, p, n, GD_MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(c->fd, POLLOUT, deadline) != 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* send_packet - payload as one or more wire packets (split at 2^24-1,
 * with an empty last packet when the length is a multiple of it). */
static int
send_packet(struct my_conn *c, const unsigned char *p, size_t n)
{
	for (;;) {
		size_t chunk = n < MY_PKT_MAX ? n : MY_PKT_MAX;
		unsigned char h[4];

		h[0] = (unsigned char)chunk;
		h[1] = (unsigned char)(chunk >> 8);
		h[2] = (unsigned char)(chunk >> 16);
		h[3] = (unsigned char)c->seq;
		c->seq = (c->seq + 1) & 0xff;
		if (write_all(c, h, 4) != 0 || write_all(c, p, chunk) != 0)
			return -1;
		p += chunk;
		n -= chunk;
		if (chunk < MY_PKT_MAX)
			return 0;
	}
}

/* read_packet - the next packet into c->pkt/pktlen.  0 or -1 (why). */
static int
read_packet(struct my_conn *c, char *why, size_t wlen)
{
	int64_t deadline = gd_now_ms() + c->read_ms;
	unsigned seq;
	long used;

	/* drop the previous packet from the buffer */
	if (c->pkt != NULL) {
		size_t consumed = (size_t)(c->pkt - c->in) + c->pktlen;
		memmove(c->in, c->in + consumed, c->inlen - consumed);
		c->inlen -= consumed;
		c->pkt = NULL;
	}
	for (;;) {
		ssize_t r;

		used = my_frame(c->in, c->inlen, MY_READ_MAX, &c->pkt,
		    &c->pktlen, &seq);
		if (used < 0) {
			snprintf(why, wlen, "oversized packet from server");
			return -1;
		}
		if (used > 0)
			break;
		if (c->incap - c->inlen < 4096) {
			size_t nc = c->incap == 0 ? 16384 : c->incap * 2;
			unsigned char *nb;
			if (nc > MY_READ_MAX + 4 + 16384)
				nc = MY_READ_MAX + 4 + 16384;
			if (nc <= c->incap || (nb = realloc(c->in, nc)) ==
			    NULL) {
				snprintf(why, wlen, "out of memory");
				return -1;
			}
			c->in = nb;
			c->incap = nc;
		}
		r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
		if (r > 0) {
			c->inlen += (size_t)r;
			continue;
		}
		if (r == 0) {
			snprintf(why, wlen, "connection closed by server");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(c->fd, POLLIN, deadline) == 0)
			continue;
		snprintf(why, wlen, "read: %s", strerror(errno));
		return -1;
	}
	if (seq != c->seq) {
		snprintf(why, wlen, "packet out of order (%u, want %u)", seq,
		    c->seq);
		c->pkt = NULL;
		return -1;
	}
	c->seq = (seq + 1) & 0xff;
	return 0;
}

static int
dial(const struct my_dsn *d, int64_t deadline, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un sun;
	int fd = -1, rc, soerr;
	socklen_t sl;

	if (d->is_unix) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		gd_strlcpy(sun.sun_path, d->sock, sizeof(sun.sun_path));
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			goto syserr;
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
			goto syserr;
		gd_nosigpipe(fd);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		if (errno != EINPROGRESS && errno != EAGAIN)
			goto syserr;
		if (wait_fd(fd, POLLOUT, deadline) != 0)
			goto syserr;
		return fd;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(d->host, d->port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", d->host,
		    gai_strerror(rc));
		return -1;
	}
	errno = ECONNREFUSED;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) < 0)
			continue;
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
			goto next;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) != 0)
			goto next;
		sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
		    soerr == 0)
			break;
		errno = soerr;
next:
		rc = errno;
		(void)close(fd);
		errno = rc;
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s:%s: %s", d->host,
		    d->port, strerror(errno));
		return -1;
	}
	gd_nosigpipe(fd);
	return fd;
syserr:
	snprintf(err, errlen, "cannot connect to %s: %s", d->sock,
	    strerror(errno));
	if (fd >= 0)
		(void)close(fd);
	return -1;
}

/* auth_loop - after the handshake response: OK, ERR, AuthSwitchRequest
 * (0xfe) or AuthMoreData (0x01, caching_sha2_password). */
static int
auth_loop(struct my_conn *c, const struct my_dsn *d,
    const struct my_handshake *h, char *err, size_t errlen)
{
	char plugin[MY_NAME_MAX + 1], why[128];
	unsigned char scramble[MY_SCRAMBLE_LEN], resp[512];
	size_t rl;
	int round;

	gd_strlcpy(plugin, h->plugin[0] != '\0' ? h->plugin :
	    "mysql_native_password", sizeof(plugin));
	memcpy(scramble, h->scramble, sizeof(scramble));
	for (round = 0; round < MY_AUTH_ROUNDS; round++) {
		const unsigned char *p;
		size_t n;

		if (read_packet(c, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "authentication: %s", why);
			return -1;
		}
		p = c->pkt;
		n = c->pktlen;
		if (n > 0 && p[0] == 0x00)
			return my_parse_ok(p, n, &c->status) == 0 ? 0 :
			    (snprintf(err, errlen, "malformed OK packet"), -1);
		if (n > 0 && p[0] == 0xff) {
			if (my_parse_err(p, n, err, errlen) != 0)
				snprintf(err, errlen, "malformed ERR packet");
			return -1;
		}
		if (n > 0 && p[0] == 0xfe) {	/* AuthSwitchRequest */
			const unsigned char *nul = memchr(p + 1, 0, n - 1);
			size_t l = nul != NULL ? (size_t)(nul - p - 1) : 0;

			if (nul == NULL || l > MY_NAME_MAX ||
			    n - (l + 2) < MY_SCRAMBLE_LEN)
				goto bad;
			memcpy(plugin, p + 1, l);
			plugin[l] = '\0';
			memcpy(scramble, nul + 1, MY_SCRAMBLE_LEN);
			if (my_auth_response(plugin, d->pass, scramble, resp,
			    &rl) != 0) {
				escape_into(plugin, sizeof(plugin), p + 1, l);
				snprintf(err, errlen, "authentication plugin "
				    "'%s' is not supported (use "
				    "mysql_native_password or "
				    "caching_sha2_password)", plugin);
				return -1;
			}
			if (send_packet(c, resp, rl) != 0)
				goto io;
			continue;
		}
		if (n == 2 && p[0] == 0x01 &&
		    strcmp(plugin, "caching_sha2_password") == 0) {
			if (p[1] == 0x03)	/* fast auth: OK follows */
				continue;
			if (p[1] != 0x04)
				goto bad;
			if (d->is_unix) {
				/* a unix socket counts as a secure transport:
				 * the server wants the password in clear */
				rl = strlen(d->pass) + 1;
				if (send_packet(c, (const unsigned char *)
				    d->pass, rl) != 0)
					goto io;
				continue;
			}
			/* full auth over plain TCP: ask for the RSA key */
			resp[0] = 0x02;
			if (send_packet(c, resp, 1) != 0)
				goto io;
			continue;
		}
		if (n > 1 && p[0] == 0x01 &&
		    strcmp(plugin, "caching_sha2_password") == 0) {
			/* the server's RSA public key (PEM) */
			rl = my_sha2_rsa_encrypt((const char *)p + 1, n - 1,
			    d->pass, scramble, resp, sizeof(resp));
			if (rl == 0) {
				snprintf(err, errlen, "caching_sha2_password: "
				    "cannot use the server's RSA key");
				return -1;
			}
			if (send_packet(c, resp, rl) != 0)
				goto io;
			continue;
		}
		goto bad;
	}
bad:
	snprintf(err, errlen, "unexpected packet during authentication");
	return -1;
io:
	snprintf(err, errlen, "authentication: write: %s", strerror(errno));
	return -1;
}

int
my_connect(struct my_conn *c, const struct my_dsn *d, char *err,
    size_t errlen)
{
	struct my_handshake h;
	unsigned char auth[32], resp[64 + MY_NAME_MAX * 3 + 64];
	char why[160];
	size_t al, rl;

	drop(c);
	c->read_ms = d->read_ms;
	c->write_ms = d->write_ms;
	c->sql_error = 0;
	c->seq = 0;
	if ((c->fd = dial(d, gd_now_ms() + d->connect_ms, err, errlen)) < 0)
		return -1;
	c->read_ms = d->connect_ms;	/* the greeting is part of connecting */
	if (read_packet(c, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "handshake: %s", why);
		goto fail;
	}
	c->read_ms = d->read_ms;
	if (my_parse_handshake(c->pkt, c->pktlen, &h, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "handshake: %s", why);
		goto fail;
	}
	if (my_auth_response(h.plugin, d->pass, h.scramble, auth, &al) != 0) {
		/* unknown default plugin: answer native, the server switches */
		my_scramble_native(d->pass, h.scramble, auth, &al);
		gd_strlcpy(h.plugin, "mysql_native_password", sizeof(h.plugin));
	}
	rl = my_build_handshake_response(d, &h, auth, al, resp, sizeof(resp));
	if (rl == 0) {
		snprintf(err, errlen, "handshake response too long");
		goto fail;
	}
	if (send_packet(c, resp, rl) != 0) {
		snprintf(err, errlen, "handshake: write: %s", strerror(errno));
		goto fail;
	}
	if (auth_loop(c, d, &h, err, errlen) != 0)
		goto fail;
	c->born_ms = gd_now_ms();
	return 0;
fail:
	drop(c);
	return -1;
}

/* read_result - after a command: OK, ERR, or a result set that is read
 * to its end and discarded. */
static int
read_result(struct my_conn *c, char *err, size_t errlen)
{
	char why[160];
	int eofs = 0;
	long i;

	if (read_packet(c, why, sizeof(why)) != 0)
		goto io;
	if (c->pktlen > 0 && c->pkt[0] == 0x00) {
		if (my_parse_ok(c->pkt, c->pktlen, &c->status) != 0)
			goto bad;
		return 0;
	}
	if (c->pktlen > 0 && c->pkt[0] == 0xff)
		goto sqlerr;
	if (c->pktlen == 0 || c->pkt[0] == 0xfb)	/* LOCAL INFILE: never */
		goto bad;
	for (i = 0; i < MY_RESULT_MAX; i++) {
		if (read_packet(c, why, sizeof(why)) != 0)
			goto io;
		if (c->pktlen > 0 && c->pkt[0] == 0xff)
			goto sqlerr;
		if (my_is_eof(c->pkt, c->pktlen) && ++eofs == 2)
			return 0;
	}
bad:
	snprintf(err, errlen, "malformed reply from server");
	drop(c);
	return -1;
sqlerr:
	if (my_parse_err(c->pkt, c->pktlen, err, errlen) != 0)
		goto bad;
	c->sql_error = 1;
	return -1;
io:
	snprintf(err, errlen, "%s", why);
	drop(c);
	return -1;
}

/* command - send one command packet (sequence restarts at 0). */
static int
command(struct my_conn *c, const unsigned char *p, size_t n, char *err,
    size_t errlen)
{
	c->sql_error = 0;
	c->seq = 0;
	if (c->fd < 0) {
		snprintf(err, errlen, "not connected");
		return -1;
	}
	if (send_packet(c, p, n) != 0) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		drop(c);
		return -1;
	}
	return 0;
}

int
my_query(struct my_conn *c, const char *sql, char *err, size_t errlen)
{
	size_t n = strlen(sql);
	unsigned char *b = malloc(n + 1);
	int rc;

	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b[0] = COM_QUERY;
	memcpy(b + 1, sql, n);
	rc = command(c, b, n + 1, err, errlen);
	free(b);
	return rc != 0 ? -1 : read_result(c, err, errlen);
}

int
my_prepare(struct my_conn *c, const char *sql, uint32_t *id,
    unsigned *nparams, char *err, size_t errlen)
{
	size_t n = strlen(sql);
	unsigned char *b = malloc(n + 1);
	unsigned ncols, np, k;
	char why[160];
	int rc;

	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b[0] = COM_STMT_PREPARE;
	memcpy(b + 1, sql, n);
	rc = command(c, b, n + 1, err, errlen);
	free(b);
	if (rc != 0)
		return -1;
	if (read_packet(c, why, sizeof(why)) != 0)
		goto io;
	if (c->pktlen > 0 && c->pkt[0] == 0xff) {
		if (my_parse_err(c->pkt, c->pktlen, err, errlen) != 0)
			goto bad;
		c->sql_error = 1;
		return -1;
	}
	if (c->pktlen < 12 || c->pkt[0] != 0x00)
		goto bad;
	*id = le32(c->pkt + 1);
	ncols = le16(c->pkt + 5);
	np = le16(c->pkt + 7);
	*nparams = np;
	/* parameter definitions, EOF; column definitions, EOF */
	for (k = 0; k < (np > 0) + np + (ncols > 0) + ncols; k++)
		if (read_packet(c, why, sizeof(why)) != 0)
			goto io;
	return 0;
bad:
	snprintf(err, errlen, "malformed reply to prepare");
	drop(c);
	return -1;
io:
	snprintf(err, errlen, "%s", why);
	drop(c);
	return -1;
}

int
my_execute(struct my_conn *c, uint32_t id, const struct my_param *prm,
    size_t n, char *err, size_t errlen)
{
	unsigned char *b;
	size_t bl;
	int rc;

	if (my_build_execute(id, prm, n, &b, &bl) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = command(c, b, bl, err, errlen);
	free(b);
	return rc != 0 ? -1 : read_result(c, err, errlen);
}
