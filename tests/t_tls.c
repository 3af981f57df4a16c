/*
 * t_tls.c - tls.c without sockets: loading key pairs (TLS-01), errors,
 * suites (TLS-03), and the certificate reload hook with reference-counted
 * material (TLS-07).  Keys are made at test time with the openssl
 * command in a temporary folder.
 */
#include "compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "tls.h"

#include "t.h"

static char dir[64];

static int
sh(const char *fmt, const char *a, const char *b)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, dir, a, dir, b);
	return system(cmd);
}

/* pair - make dir/<name>.key and dir/<name>.crt (kind "rsa" or "ec"). */
static int
pair(const char *name, const char *kind)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey %s -nodes "
	    "-keyout %s/%s.key -out %s/%s.crt -days 2 -subj /CN=mx.test "
	    ">/dev/null 2>&1", strcmp(kind, "rsa") == 0 ? "rsa:2048" :
	    "ec -pkeyopt ec_paramgen_curve:P-256", dir, name, dir, name);
	return system(cmd);
}

static char *
path(const char *name)
{
	static char buf[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void
server(struct cfg_server *s, const char *key, const char *crt)
{
	memset(s, 0, sizeof(*s));
	s->listen_interface = "127.0.0.1:465";
	s->host_name = "mx.test";
	s->tls.tls_always_on = 1;
	s->tls.private_key_file = path(key);
	s->tls.public_key_file = path(crt);
	s->tls.client_auth = CFG_NO_CLIENT_CERT;
}

static void
test_load_pairs(void)
{
	struct cfg_server s;
	struct tls_ctx *c;
	struct tls_conn *t;
	char err[512];

	server(&s, "rsa.key", "rsa.crt");
	c = tls_ctx_new(&s, NULL, err, sizeof(err));
	CHECK(c != NULL);
	t = c ? tls_conn_new(c, err, sizeof(err)) : NULL;
	CHECK(t != NULL);
	if (t != NULL) {
		CHECK(tls_handshake_done(t) == 0);
		CHECK(tls_app_pending(t) == 0);
	}
	tls_ctx_free(c);
	tls_conn_free(t);	/* the session outlives the context */

	server(&s, "ec.key", "ec.crt");
	c = tls_ctx_new(&s, NULL, err, sizeof(err));
	CHECK(c != NULL);
	tls_ctx_free(c);
}

static void
test_errors(void)
{
	struct cfg_server s;
	char err[512];

	server(&s, "ec.key", "rsa.crt");
	CHECK(tls_ctx_new(&s, NULL, err, sizeof(err)) == NULL);
	CHECK_STR(err, "cannot use TLS config for [127.0.0.1:465], private "
	    "key does not match public key");
	server(&s, "rsa.key", "rsa.key");
	CHECK(tls_ctx_new(&s, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no certificate found") != NULL);
	server(&s, "rsa.crt", "rsa.crt");
	CHECK(tls_ctx_new(&s, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no private key found") != NULL);
	server(&s, "missing.key", "rsa.crt");
	CHECK(tls_ctx_new(&s, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "cannot use TLS config for [127.0.0.1:465], open ")
	    != NULL && strstr(err, "missing.key: No such file") != NULL);
}

static void
test_suites(void)
{
	static char *ok[] = { "TLS_FALLBACK_SCSV",
	    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" };
	static char *none[] = { "TLS_AES_128_GCM_SHA256", "bogus" };
	static char *ec_only[] = { "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" };
	struct cfg_server s;
	struct tls_ctx *c;
	char err[512];

	server(&s, "rsa.key", "rsa.crt");
	s.tls.ciphers = ok;
	s.tls.nciphers = 2;
	c = tls_ctx_new(&s, NULL, err, sizeof(err));
	CHECK(c != NULL);
	tls_ctx_free(c);
	s.tls.ciphers = none;
	CHECK(tls_ctx_new(&s, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no usable cipher suite") != NULL);
	s.tls.ciphers = ec_only;
	s.tls.nciphers = 1;
	CHECK(tls_ctx_new(&s, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "works with an RSA key") != NULL);
}

/* touch_later - make sure the next write gets a different mtime even on
 * file systems with one-second timestamps. */
static void
touch_later(const char *name)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec += 5;
	ts[1] = ts[0];
	(void)utimensat(AT_FDCWD, path(name), ts, 0);
}

static void
test_reload(void)
{
	struct cfg_server s;
	struct tls_ctx *c;
	struct tls_conn *old, *nw;
	char err[512];

	CHECK(sh("cp %s/%s %s/%s", "rsa.key", "cur.key") == 0);
	CHECK(sh("cp %s/%s %s/%s", "rsa.crt", "cur.crt") == 0);
	server(&s, "cur.key", "cur.crt");
	c = tls_ctx_new(&s, NULL, err, sizeof(err));
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(tls_ctx_reload_if_changed(c, err, sizeof(err)) == 0);
	old = tls_conn_new(c, err, sizeof(err));
	CHECK(old != NULL);

	/* a new pair (EC this time): reloaded for new sessions */
	CHECK(sh("cp %s/%s %s/%s", "ec.key", "cur.key") == 0);
	CHECK(sh("cp %s/%s %s/%s", "ec.crt", "cur.crt") == 0);
	touch_later("cur.key");
	CHECK(tls_ctx_reload_if_changed(c, err, sizeof(err)) == 1);
	CHECK(tls_ctx_reload_if_changed(c, err, sizeof(err)) == 0);
	nw = tls_conn_new(c, err, sizeof(err));
	CHECK(nw != NULL);

	/* a half-replaced pair fails and keeps the EC material */
	CHECK(sh("cp %s/%s %s/%s", "rsa.key", "cur.key") == 0);
	touch_later("cur.crt");
	CHECK(tls_ctx_reload_if_changed(c, err, sizeof(err)) == -1);
	CHECK_STR(err, "cannot use TLS config for [127.0.0.1:465], private "
	    "key does not match public key");
	tls_conn_free(nw);
	nw = tls_conn_new(c, err, sizeof(err));
	CHECK(nw != NULL);
	/* the old session (RSA material) is still intact after two swaps */
	tls_conn_free(old);
	tls_ctx_free(c);
	tls_conn_free(nw);
}

int
main(void)
{
	char cmd[128];

	gd_strlcpy(dir, "/tmp/t_tls.XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL || pair("rsa", "rsa") != 0 ||
	    pair("ec", "ec") != 0) {
		printf("FAIL t_tls_setup: cannot make keys with the openssl "
		    "command (apt-get install openssl)\n");
		return 1;
	}
	RUN(test_load_pairs);
	RUN(test_errors);
	RUN(test_suites);
	RUN(test_reload);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return T_DONE();
}
