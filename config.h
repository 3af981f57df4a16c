/*
 * config.h - the daemon's configuration (SPEC section 7): loading a
 * go-guerrilla JSON config, filling defaults, validating, and matching
 * allowed_hosts.  config.c has its own file because loading and checking
 * every key is one idea apart from running the daemon (guerrilla.c).
 *
 * Nothing here does network I/O; loading reads one file.
 */
#ifndef GD_CONFIG_H
#define GD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct json_value;

#define CFG_DEFAULT_MAX_SIZE	10485760LL
#define CFG_DEFAULT_TIMEOUT	30
#define CFG_DEFAULT_MAX_CLIENTS	100
#define CFG_DEFAULT_IFACE	"127.0.0.1:2525"

enum cfg_client_auth {
	CFG_NO_CLIENT_CERT,
	CFG_REQUEST_CLIENT_CERT,
	CFG_REQUIRE_ANY_CLIENT_CERT,
	CFG_VERIFY_CLIENT_CERT_IF_GIVEN,
	CFG_REQUIRE_AND_VERIFY_CLIENT_CERT
};

enum cfg_bare_lf {
	CFG_BARE_LF_NORMALIZE,	/* default: a bare LF is an ordinary line end */
	CFG_BARE_LF_REJECT	/* 550 5.5.2 at end of data, nothing stored */
};

/* One CIDR block: family 4 or 6, address in network order, prefix bits. */
struct cfg_cidr {
	int		family;
	unsigned char	addr[16];
	int		bits;
};

/* TLS keys of 7.4, parsed and validated (TLS-01..05). */
struct cfg_tls {
	int			start_tls_on;
	int			tls_always_on;
	char			*private_key_file;	/* NULL when absent */
	char			*public_key_file;
	char			*root_cas_file;
	int			proto_min;	/* 0x0301 (tls1.0) .. 0x0303 (tls1.2); 0 = library default */
	int			proto_max;
	int			proto_clamped;	/* "tls1.3" max became tls1.2 (TLS-02) */
	char			**ciphers;	/* names as written, validated later by tls.c */
	size_t			nciphers;
	char			**curves;	/* P256 P384 P521 X25519 */
	size_t			ncurves;
	enum cfg_client_auth	client_auth;
	int			prefer_server_cipher_suites;
};

/* One element of "servers" (7.3, CFG-07a). */
struct cfg_server {
	int			is_enabled;
	char			*host_name;	/* never NULL after load */
	char			*listen_interface;
	long long		max_size;
	int			timeout;	/* seconds */
	int			max_clients;
	char			*log_file;	/* never NULL after load (app log_file) */
	int			xclient_on;
	int			proxyon;
	enum cfg_bare_lf	bare_lf;
	char			*greeting;	/* NULL = GG's form (SMTP-10) */
	struct cfg_cidr		*xclient_trusted;	/* default: loopback */
	size_t			nxclient_trusted;
	struct cfg_cidr		*proxy_trusted;
	size_t			nproxy_trusted;
	struct cfg_tls		tls;
};

/* The whole app config (7.2). */
struct cfg_app {
	struct cfg_server	*servers;
	size_t			nservers;
	char			**allowed_hosts;
	size_t			nallowed_hosts;
	char			*pid_file;	/* "" = none */
	char			*log_file;	/* never NULL: "stderr" default */
	int			log_level;	/* enum log_level, default info */
	int			io_threads;	/* 0 = online CPUs */
	char			*user;		/* NULL = keep */
	char			*group;
	/* backend_config with the defaults of CFG-09 filled in; owned. */
	struct json_value	*backend_config;
};

/* Collected errors (CFG-12): one message per line. */
struct cfg_errors {
	char	*text;		/* NUL-terminated, "\n"-separated; NULL when none */
	size_t	len;
	int	count;
};

void	cfg_errors_add(struct cfg_errors *e, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
void	cfg_errors_free(struct cfg_errors *e);

/*
 * cfg_load_file / cfg_load_string - parse, fill defaults, validate.
 * Returns 0 and fills *out, or -1 with every problem found added to errs
 * (nothing is left in *out).  Each message names the file (or "name" for
 * strings), and for JSON and type errors the line and column, e.g.
 *   "conf.json: could not parse config file: expected ',' or '}' at line 7 column 3"
 *   "conf.json: could not parse config file: \"max_size\" must be a number at line 9 column 17"
 * TLS files are checked to exist and be readable for enabled TLS servers;
 * their content is tls.c's business.
 */
int	cfg_load_file(const char *path, struct cfg_app *out, struct cfg_errors *errs);
/* cfg_load_json - the same from a parsed document (API-02's struct
 * config); values without a position (line 0) are named without one. */
int	cfg_load_json(const struct json_value *root, const char *name,
	    struct cfg_app *out, struct cfg_errors *errs);
int	cfg_load_string(const char *json, size_t len, const char *name,
	    struct cfg_app *out, struct cfg_errors *errs);
/* cfg_tls_supported - 1: TLS is built in (tls.c).  When 0, an enabled
 * server with start_tls_on or tls_always_on is a load error. */
int	cfg_tls_supported(void);
/* cfg_default - the embedded default config (7.2 defaults: one enabled
 * server on 127.0.0.1:2525). */
int	cfg_default(struct cfg_app *out, struct cfg_errors *errs);
void	cfg_free(struct cfg_app *c);
/* Comparisons for hot reload (SPEC 8.4, OPS-15): 1 when equal.
 * cfg_server_equal compares every key of 7.3 but tls; cfg_tls_equal the
 * keys of 7.4; cfg_strv_equal a string list (allowed_hosts). */
int	cfg_server_equal(const struct cfg_server *a, const struct cfg_server *b);
int	cfg_tls_equal(const struct cfg_tls *a, const struct cfg_tls *b);
int	cfg_strv_equal(char *const *a, size_t na, char *const *b, size_t nb);
/* cfg_str_equal - strcmp that lets NULL equal only NULL. */
int	cfg_str_equal(const char *a, const char *b);

/* Shared configs (hot reload, SPEC 8.4): the daemon, the servers'
 * generations and the sessions made under a config hold references; the
 * last drop frees it.  cfg_share moves *c into a new shared config with
 * one reference (*c is left empty); NULL when out of memory (*c kept).
 * hold/drop may run on any thread. */
struct cfg_app	*cfg_share(struct cfg_app *c);
struct cfg_app	*cfg_hold(struct cfg_app *c);
void		 cfg_drop(struct cfg_app *c);

/*
 * cfg_host_allowed - CFG-06 relay check for one recipient domain.
 * domain is as stored on the address: a name, or for address literals the
 * IP text without brackets with is_ip set.  Case-insensitive.
 */
int	cfg_host_allowed(char *const *hosts, size_t n, const char *domain, int is_ip);

/* cfg_glob - case-insensitive glob: '*' any run (dots too), '?' one char,
 * '[...]' class (with '!' or '^' negation and ranges). */
int	cfg_glob(const char *pat, const char *s);

/* cfg_duration - CFG-03: "1h30m", "2.5s", "300ms", "10us", "5µs", "7ns".
 * Go's time.ParseDuration without a sign (timeouts are never negative);
 * "0" is the one number allowed without a unit.
 * Returns 0 and nanoseconds in *ns, or -1 when malformed or overflowing. */
int	cfg_duration(const char *s, int64_t *ns);

/* cfg_parse_ip - canonical text IPv4/IPv6 to binary (family 4 or 6);
 * an IPv4-mapped IPv6 address is returned as family 4.  0 or -1. */
int	cfg_parse_ip(const char *s, int *family, unsigned char addr[16]);

/* cfg_cidr_match - does the address fall into one of the blocks? */
int	cfg_cidr_match(const struct cfg_cidr *c, size_t n, int family,
	    const unsigned char addr[16]);

#endif
