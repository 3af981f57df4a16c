/*
 * mysql_proto.h - a small, exact MySQL/MariaDB client (PROC-40): DSN
 * parsing in go-sql-driver's form, packet framing, handshake v10 with
 * mysql_native_password and caching_sha2_password, COM_QUERY (result
 * discarded) and prepared statements with binary parameters.
 *
 * Kept apart from p_sql.c because the wire protocol is one idea and the
 * processor (which columns, which values) is another.  Pure functions
 * (my_dsn_parse, my_frame, my_parse_*, my_build_*, my_scramble_*) take
 * buffers and never do I/O, so tests/t_sql.c drives them on captured and
 * hostile bytes.  The my_conn functions block (with deadlines) and are
 * meant for a worker thread; one connection is used by one thread.
 */
#ifndef GD_MYSQL_PROTO_H
#define GD_MYSQL_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Limits, chosen on purpose: any server reply we need (handshake, OK,
 * ERR, result rows of "SELECT mail_id ... LIMIT 1", column definitions)
 * is far below MY_READ_MAX; a bigger packet is a protocol error. */
#define MY_READ_MAX	(1u << 20)
#define MY_PKT_MAX	0xffffffu	/* one wire packet's payload */
#define MY_NAME_MAX	128		/* user, database, plugin names */
#define MY_PASS_MAX	256
#define MY_HOST_MAX	256
#define MY_SCRAMBLE_LEN	20

/* Capability flags we use. */
#define MY_CLIENT_LONG_PASSWORD		0x00000001u
#define MY_CLIENT_LONG_FLAG		0x00000004u
#define MY_CLIENT_CONNECT_WITH_DB	0x00000008u
#define MY_CLIENT_PROTOCOL_41		0x00000200u
#define MY_CLIENT_TRANSACTIONS		0x00002000u
#define MY_CLIENT_SECURE_CONNECTION	0x00008000u
#define MY_CLIENT_MULTI_RESULTS		0x00020000u
#define MY_CLIENT_PLUGIN_AUTH		0x00080000u

#define MY_CHARSET_UTF8MB4	45	/* utf8mb4_general_ci */

/* go-sql-driver DSN: [user[:password]@][net[(addr)]]/dbname[?k=v&...] */
struct my_dsn {
	char	user[MY_NAME_MAX + 1];
	char	pass[MY_PASS_MAX + 1];
	char	db[MY_NAME_MAX + 1];
	char	host[MY_HOST_MAX + 1];	/* tcp: host name or IP */
	char	port[8];		/* tcp: decimal port */
	char	sock[MY_HOST_MAX + 1];	/* unix: socket path */
	int	is_unix;
	int64_t	connect_ms;		/* "timeout" param, default 5 s */
	int64_t	read_ms;		/* "readTimeout", default 30 s */
	int64_t	write_ms;		/* "writeTimeout", default 30 s */
};

/* my_dsn_parse - fill d from s.  0, or -1 with err (never containing the
 * password).  Unknown params are accepted and ignored (go-sql-driver has
 * many that only matter to Go); tls= anything but false is refused. */
int	my_dsn_parse(const char *s, struct my_dsn *d, char *err, size_t errlen);

/* my_frame - find one packet at the start of buf: 0 when more bytes are
 * needed, -1 when the header announces more than max, else the bytes the
 * packet takes (4 + payload) with *payload, *plen, *seq set. */
long	my_frame(const unsigned char *buf, size_t len, size_t max,
	    const unsigned char **payload, size_t *plen, unsigned *seq);

/* The initial handshake packet (protocol version 10). */
struct my_handshake {
	char		version[64];	/* truncated if longer */
	uint32_t	conn_id;
	uint32_t	caps;
	unsigned	charset;
	unsigned	status;
	unsigned char	scramble[MY_SCRAMBLE_LEN];
	char		plugin[MY_NAME_MAX + 1];	/* "" = none announced */
};

/* my_parse_handshake - 0, or -1 with err (an ERR packet's text, or what
 * is malformed). */
int	my_parse_handshake(const unsigned char *p, size_t n,
	    struct my_handshake *h, char *err, size_t errlen);

/* my_parse_ok - OK packet (first byte 0x00 or 0xfe as OK): status flags
 * into *status (may be NULL).  0 or -1. */
int	my_parse_ok(const unsigned char *p, size_t n, unsigned *status);
/* my_parse_err - ERR packet into "ERROR <code> (<state>): <message>"
 * with non-printable bytes escaped.  0, or -1 when not an ERR packet. */
int	my_parse_err(const unsigned char *p, size_t n, char *out,
	    size_t outlen);
/* my_is_eof - a 0xfe packet shorter than 9 bytes. */
int	my_is_eof(const unsigned char *p, size_t n);
/* my_lenenc - read a length-encoded integer at *off (advanced).  0 or -1
 * (truncated, or the NULL marker 0xfb). */
int	my_lenenc(const unsigned char *p, size_t n, size_t *off, uint64_t *v);

/* Auth scrambles.  Empty password = empty response (*outlen 0). */
void	my_scramble_native(const char *pw, const unsigned char *scramble,
	    unsigned char out[20], size_t *outlen);
void	my_scramble_sha2(const char *pw, const unsigned char *scramble,
	    unsigned char out[32], size_t *outlen);

/* my_auth_response - the response for plugin ("" = native).  0, or -1
 * for a plugin we do not speak. */
int	my_auth_response(const char *plugin, const char *pw,
	    const unsigned char *scramble, unsigned char out[32],
	    size_t *outlen);

/* my_build_handshake_response - HandshakeResponse41 payload into out.
 * Returns its length, or 0 when cap is too small. */
size_t	my_build_handshake_response(const struct my_dsn *d,
	    const struct my_handshake *h, const unsigned char *auth,
	    size_t authlen, unsigned char *out, size_t cap);

/* A bound parameter of a prepared statement. */
enum my_ptype { MY_P_STRING, MY_P_BLOB, MY_P_INT };
struct my_param {
	enum my_ptype	 type;
	const void	*p;	/* STRING, BLOB: bytes (any, NULs included) */
	size_t		 len;
	int64_t		 i;	/* INT */
};

/* my_build_execute - COM_STMT_EXECUTE payload (malloc'd into *out, its
 * length in *outlen).  0 or -1 (ENOMEM or overflow). */
int	my_build_execute(uint32_t stmt, const struct my_param *prm, size_t n,
	    unsigned char **out, size_t *outlen);

/* RSA public key (PEM "PUBLIC KEY" / "RSA PUBLIC KEY") encryption of
 * (pw NUL) XOR scramble with OAEP/SHA-1, as caching_sha2_password's full
 * authentication over plain TCP wants.  Returns the length, or 0. */
size_t	my_sha2_rsa_encrypt(const char *pem, size_t pemlen, const char *pw,
	    const unsigned char *scramble, unsigned char *out, size_t cap);

/* my_utf8_clean - a copy of in for a utf8mb4 column: blanks trimmed at
 * both ends, bytes that are not UTF-8 (overlong forms and surrogates
 * included) replaced by U+FFFD, cut to at most max bytes at a character
 * boundary.  out holds max + 1 bytes.  Returns the length. */
size_t	my_utf8_clean(const char *in, size_t n, char *out, size_t max);

/* ---- a connection (blocking, with deadlines) ---- */

struct my_conn {
	int		 fd;		/* -1 = closed */
	unsigned	 seq;		/* next sequence id to send */
	unsigned	 status;	/* server status flags, last OK */
	int64_t		 read_ms, write_ms;
	int64_t		 born_ms;	/* monotonic time of connect */
	unsigned char	*in;		/* read buffer */
	size_t		 inlen, incap;
	const unsigned char *pkt;	/* last packet's payload (in `in`) */
	size_t		 pktlen;
	int		 sql_error;	/* last failure was an ERR packet: the
					 * connection itself is fine */
};

void	my_conn_init(struct my_conn *c);
/* my_connect - connect, authenticate, select the database.  0, or -1
 * with err; c is closed on failure. */
int	my_connect(struct my_conn *c, const struct my_dsn *d, char *err,
	    size_t errlen);
/* my_query - COM_QUERY; any result set is read and discarded.  0 or -1
 * (err; c->sql_error tells a server ERR from a broken connection). */
int	my_query(struct my_conn *c, const char *sql, char *err,
	    size_t errlen);
/* my_prepare - COM_STMT_PREPARE.  0 with *id and *nparams, or -1. */
int	my_prepare(struct my_conn *c, const char *sql, uint32_t *id,
	    unsigned *nparams, char *err, size_t errlen);
/* my_execute - COM_STMT_EXECUTE with binary parameters; result
 * discarded.  0 or -1 as my_query. */
int	my_execute(struct my_conn *c, uint32_t id, const struct my_param *prm,
	    size_t n, char *err, size_t errlen);
/* my_idle_ok - 1 when an idle connection has nothing to read (a closed
 * or timed-out connection shows EOF or an error packet), else 0. */
int	my_idle_ok(struct my_conn *c);
/* my_close - send COM_QUIT when possible, close, free buffers. */
void	my_close(struct my_conn *c);

#endif
