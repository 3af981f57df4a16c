/*
 * tls.c - BearSSL glue (see tls.h): PEM loading, per-server contexts and
 * the record pump between a non-blocking socket and a BearSSL engine.
 *
 * Invariants:
 * - Material (chain, key, anchors, suites) is immutable once built and
 *   shared by reference count; tls_mu protects every refcount and every
 *   ctx->cur pointer, nothing else.
 * - The engine is driven only through its state bits: no br_sslio, no
 *   blocking call.  tls_pump never waits.
 * - Files are read only by tls_ctx_new / tls_ctx_reload_if_changed,
 *   which run at start (or on the control thread), never per session.
 *
 * What BearSSL cannot do, and what we do instead:
 * - TLS 1.3 (TLS-02): versions are clamped to 1.0..1.2 by config.c.
 * - curves: BearSSL has no per-engine curve list; the engine asks its EC
 *   implementation which curves it supports, so a copy of the default
 *   implementation with a narrowed supported_curves mask restricts the
 *   ECDHE curves offered (and thus which ECDHE suites can be chosen).
 * - client_auth_type: every mode is implemented by a thin X.509 wrapper
 *   around br_x509_minimal (see struct tls_x509).  For
 *   VerifyClientCertIfGiven BearSSL tolerates a failed chain rather than
 *   failing it, so we remember the failure and refuse the session right
 *   after the handshake (tls_handshake_done returns -1).
 *
 * Known limit: the handshake's public-key work (an RSA-2048 signature is
 * about a millisecond) runs on the I/O thread, so a burst of handshakes
 * delays other sessions' I/O by that much each.  The better design would
 * pump handshakes on a separate thread (the engine context is
 * self-contained, so a session can move between threads); not needed at
 * the loads we test (200 concurrent handshakes).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bearssl.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "tls.h"

#define TLS_FILE_MAX	(1024 * 1024)	/* a PEM file larger than this is refused */
#define TLS_OBUF	(4096 + 85)	/* output records up to 4 KiB of plaintext */
#define TLS_MAX_CERTS	16		/* chain length we send */
#define TLS_MAX_CAS	512		/* anchors in root_cas_file */
#define TLS_CACHE_SESSIONS 256		/* resumable sessions per server
					   (100 octets each in BearSSL's LRU) */

/* tls_mu protects material refcounts and tls_ctx.cur. */
static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;

/* Entropy when BearSSL has no system seeder (tls_conn_new injects 32
 * octets per session from this DRBG); drbg_mu protects it. */
static pthread_mutex_t drbg_mu = PTHREAD_MUTEX_INITIALIZER;
static br_hmac_drbg_context drbg;
static int drbg_ready;

/* Go-style suite names (TLS-03), BearSSL codes and the key they need. */
struct suite_name {
	const char	*name;
	uint16_t	 code;	/* 0 = known name BearSSL cannot do */
	int		 key;	/* BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
};

static const struct suite_name suite_names[] = {
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	  BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	  BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
	  BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	  BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
	  BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
	  BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
	  BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
	  BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
	  BR_TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA, BR_KEYTYPE_EC },
	{ "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	  BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, BR_KEYTYPE_RSA },
	{ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	  BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, BR_KEYTYPE_RSA },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
	  BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, BR_KEYTYPE_RSA },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	  BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, BR_KEYTYPE_RSA },
	{ "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
	  BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, BR_KEYTYPE_RSA },
	{ "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
	  BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, BR_KEYTYPE_RSA },
	{ "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	  BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, BR_KEYTYPE_RSA },
	{ "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	  BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, BR_KEYTYPE_RSA },
	{ "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
	  BR_TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, BR_KEYTYPE_RSA },
	{ "TLS_RSA_WITH_AES_128_GCM_SHA256",
	  BR_TLS_RSA_WITH_AES_128_GCM_SHA256, BR_KEYTYPE_RSA },
	{ "TLS_RSA_WITH_AES_256_GCM_SHA384",
	  BR_TLS_RSA_WITH_AES_256_GCM_SHA384, BR_KEYTYPE_RSA },
	{ "TLS_RSA_WITH_AES_128_CBC_SHA256",
	  BR_TLS_RSA_WITH_AES_128_CBC_SHA256, BR_KEYTYPE_RSA },
	{ "TLS_RSA_WITH_AES_256_CBC_SHA256",
	  BR_TLS_RSA_WITH_AES_256_CBC_SHA256, BR_KEYTYPE_RSA },
	{ "TLS_RSA_WITH_AES_128_CBC_SHA",
	  BR_TLS_RSA_WITH_AES_128_CBC_SHA, BR_KEYTYPE_RSA },
	{ "TLS_RSA_WITH_AES_256_CBC_SHA",
	  BR_TLS_RSA_WITH_AES_256_CBC_SHA, BR_KEYTYPE_RSA },
	{ "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
	  BR_TLS_RSA_WITH_3DES_EDE_CBC_SHA, BR_KEYTYPE_RSA },
	/* names Go knows that BearSSL does not do: warned and skipped */
	{ "TLS_RSA_WITH_RC4_128_SHA", 0, 0 },
	{ "TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0, 0 },
	{ "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0, 0 },
	{ "TLS_AES_128_GCM_SHA256", 0, 0 },
	{ "TLS_AES_256_GCM_SHA384", 0, 0 },
	{ "TLS_CHACHA20_POLY1305_SHA256", 0, 0 },
	{ "TLS_FALLBACK_SCSV", 0, 0 }
};

/* Session resumption cache: BearSSL's LRU behind a mutex (the LRU itself
 * is not thread-safe; today one I/O thread uses it, the lock keeps that
 * from being an invariant anyone must remember). */
struct tls_cache {
	const br_ssl_session_cache_class *vtable;
	pthread_mutex_t			 mu;	/* protects lru and store */
	br_ssl_session_cache_lru	 lru;
	unsigned char			 store[TLS_CACHE_SESSIONS * 100];
};

/* Immutable TLS material, shared by the sessions started on it (the
 * session cache is its one mutable part, under its own lock). */
struct tls_mat {
	int			 refs;		/* under tls_mu */
	br_x509_certificate	*chain;
	size_t			 nchain;
	int			 key_type;	/* BR_KEYTYPE_RSA / _EC */
	int			 issuer_key_type;
	br_skey_decoder_context	 skey;		/* holds the private key */
	br_x509_trust_anchor	*tas;
	size_t			 ntas;
	uint16_t		*suites;	/* NULL = engine default */
	size_t			 nsuites;
	int			 vmin, vmax;
	uint32_t		 flags;
	enum cfg_client_auth	 auth;
	int			 restrict_ec;
	br_ec_impl		 ec;		/* default impl, curves masked */
	struct tls_cache	 cache;
};

/* Modification times seen at the last load (TLS-07). */
struct tls_stamp {
	long long	mtime, mtime_ns, size;
};

struct tls_ctx {
	const struct cfg_server	*cfg;
	struct logger		*log;
	int			 refs;		/* under tls_mu */
	struct tls_mat		*cur;		/* under tls_mu */
	struct tls_stamp	 st[3];		/* cert, key, CAs */
};

/*
 * tls_x509 - the client-certificate policy in front of br_x509_minimal:
 * counts the certificates sent, keeps the leaf key for the modes that do
 * not verify (RequestClientCert, RequireAnyClientCert), and remembers a
 * failed validation for VerifyClientCertIfGiven.
 */
struct tls_x509 {
	const br_x509_class	*vtable;
	br_x509_minimal_context	 mini;
	br_x509_decoder_context	 leaf;
	enum cfg_client_auth	 auth;
	unsigned		 ncert;
	unsigned		 err;		/* from the minimal engine */
};

struct tls_conn {
	br_ssl_server_context	 sc;
	struct tls_x509		 x5;
	struct tls_mat		*mat;
	int			 done;		/* handshake finished */
	int			 dead;		/* socket error or EOF seen */
	char			 why[96];
	unsigned char		 ibuf[BR_SSL_BUFSIZE_INPUT];
	unsigned char		 obuf[TLS_OBUF];
};

/* ---- small helpers ---- */

/* wipe - clear key material in a way the compiler cannot drop as a dead
 * store before free (no explicit_bzero in POSIX.1-2008). */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

/* blob_append - BearSSL's destination callback: append to a struct buf
 * (a failure is latched in it and checked by the caller). */
static void
blob_append(void *ctx, const void *data, size_t len)
{
	(void)buf_add(ctx, data, len);
}

/* read_file - the whole file (at most TLS_FILE_MAX) into *out (malloc'd,
 * caller frees).  -1 with why set. */
static int
read_file(const char *path, struct buf *out, char *why, size_t wlen)
{
	unsigned char buf[4096];
	int fd;
	ssize_t r;

	buf_init(out, TLS_FILE_MAX);
	if ((fd = open(path, O_RDONLY)) < 0) {
		snprintf(why, wlen, "open %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		blob_append(out, buf, (size_t)r);
	}
	(void)close(fd);
	if (r < 0 || out->err != 0) {
		snprintf(why, wlen, "read %s: %s", path, r < 0 ?
		    strerror(errno) : out->err == E2BIG ? "file too large" :
		    "out of memory");
		wipe(out->p, out->len);	/* may hold a private key */
		buf_free(out);
		return -1;
	}
	return 0;
}

/* A decoded PEM object. */
struct pem_obj {
	char		 name[64];
	struct buf	 der;
};

static void
pem_free(struct pem_obj *o, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(o[i].der.p);
	free(o);
}

/* pem_decode - every object of a PEM file; *out malloc'd (pem_free).
 * Returns the count (0 when the file has no PEM object), -1 with why. */
static int
pem_decode(const char *path, struct pem_obj **out, char *why, size_t wlen)
{
	br_pem_decoder_context pc;
	struct buf file;
	struct pem_obj *objs = NULL;
	size_t n = 0, off = 0;
	int inobj = 0, extra = 1;

	*out = NULL;
	if (read_file(path, &file, why, wlen) != 0)
		return -1;
	br_pem_decoder_init(&pc);
	/* the final "\n" ends a last line that has none */
	while (off < file.len || extra) {
		const unsigned char *p;
		size_t len, used;

		if (off < file.len) {
			p = (const unsigned char *)file.p + off;
			len = file.len - off;
		} else {
			p = (const unsigned char *)"\n";
			len = 1;
			extra = 0;
		}
		used = br_pem_decoder_push(&pc, p, len);
		if (off < file.len)
			off += used;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ: {
			struct pem_obj *no = gd_reallocarray(objs, n + 1,
			    sizeof(*objs));
			if (no == NULL)
				goto oom;
			objs = no;
			memset(&objs[n], 0, sizeof(objs[n]));
			buf_init(&objs[n].der, TLS_FILE_MAX);
			gd_strlcpy(objs[n].name, br_pem_decoder_name(&pc),
			    sizeof(objs[n].name));
			br_pem_decoder_setdest(&pc, blob_append, &objs[n].der);
			n++;
			inobj = 1;
			break;
		}
		case BR_PEM_END_OBJ:
			if (inobj && objs[n - 1].der.err != 0)
				goto oom;
			inobj = 0;
			break;
		case BR_PEM_ERROR:
			snprintf(why, wlen, "%s: invalid PEM encoding", path);
			goto fail;
		default:
			break;
		}
	}
	if (inobj) {
		snprintf(why, wlen, "%s: unterminated PEM object", path);
		goto fail;
	}
	wipe(file.p, file.len);	/* may hold a private key */
	free(file.p);
	*out = objs;
	return (int)n;
oom:
	snprintf(why, wlen, "%s: out of memory", path);
fail:
	wipe(file.p, file.len);	/* may hold a private key */
	free(file.p);
	pem_free(objs, n);
	return -1;
}

static int
is_cert_name(const char *name)
{
	return strcmp(name, "CERTIFICATE") == 0 ||
	    strcmp(name, "X509 CERTIFICATE") == 0;
}

/* ---- material ---- */

static void
cache_save(const br_ssl_session_cache_class **ctx,
    br_ssl_server_context *sc, const br_ssl_session_parameters *params)
{
	struct tls_cache *c = (struct tls_cache *)(void *)ctx;

	pthread_mutex_lock(&c->mu);
	c->lru.vtable->save(&c->lru.vtable, sc, params);
	pthread_mutex_unlock(&c->mu);
}

static int
cache_load(const br_ssl_session_cache_class **ctx,
    br_ssl_server_context *sc, br_ssl_session_parameters *params)
{
	struct tls_cache *c = (struct tls_cache *)(void *)ctx;
	int r;

	pthread_mutex_lock(&c->mu);
	r = c->lru.vtable->load(&c->lru.vtable, sc, params);
	pthread_mutex_unlock(&c->mu);
	return r;
}

static const br_ssl_session_cache_class cache_vtable = {
	sizeof(struct tls_cache), cache_save, cache_load
};

static void
mat_free(struct tls_mat *m)
{
	size_t i;

	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->cache.mu);
	wipe(m->cache.store, sizeof(m->cache.store));	/* master secrets */
	for (i = 0; i < m->nchain; i++)
		free(m->chain[i].data);
	free(m->chain);
	for (i = 0; i < m->ntas; i++) {
		free(m->tas[i].dn.data);
		if (m->tas[i].pkey.key_type == BR_KEYTYPE_RSA) {
			free(m->tas[i].pkey.key.rsa.n);
			free(m->tas[i].pkey.key.rsa.e);
		} else
			free(m->tas[i].pkey.key.ec.q);
	}
	free(m->tas);
	free(m->suites);
	wipe(&m->skey, sizeof(m->skey));
	free(m);
}

/* load_chain - the certificate chain, leaf first. */
static int
load_chain(struct tls_mat *m, const char *path, char *why, size_t wlen)
{
	struct pem_obj *o;
	int n = pem_decode(path, &o, why, wlen), i;

	if (n < 0)
		return -1;
	if ((m->chain = calloc(TLS_MAX_CERTS, sizeof(*m->chain))) == NULL) {
		pem_free(o, (size_t)n);
		snprintf(why, wlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n && m->nchain < TLS_MAX_CERTS; i++) {
		if (!is_cert_name(o[i].name))
			continue;
		m->chain[m->nchain].data = (unsigned char *)o[i].der.p;
		m->chain[m->nchain].data_len = o[i].der.len;
		o[i].der.p = NULL;
		m->nchain++;
	}
	pem_free(o, (size_t)n);
	if (m->nchain == 0) {
		snprintf(why, wlen, "%s: no certificate found (want PEM "
		    "\"CERTIFICATE\" blocks)", path);
		return -1;
	}
	return 0;
}

/* load_key - the private key (RSA or EC, PKCS#1, SEC1 or PKCS#8). */
static int
load_key(struct tls_mat *m, const char *path, char *why, size_t wlen)
{
	struct pem_obj *o;
	int n = pem_decode(path, &o, why, wlen), i, err;

	if (n < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(o[i].name, "RSA PRIVATE KEY") == 0 ||
		    strcmp(o[i].name, "EC PRIVATE KEY") == 0 ||
		    strcmp(o[i].name, "PRIVATE KEY") == 0)
			break;
	if (i == n) {
		pem_free(o, (size_t)n);
		snprintf(why, wlen, "%s: no private key found (want PEM "
		    "\"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE "
		    "KEY\"; encrypted keys are not supported)", path);
		return -1;
	}
	br_skey_decoder_init(&m->skey);
	br_skey_decoder_push(&m->skey, o[i].der.p, o[i].der.len);
	wipe(o[i].der.p, o[i].der.len);
	pem_free(o, (size_t)n);
	if ((err = br_skey_decoder_last_error(&m->skey)) != 0) {
		snprintf(why, wlen, "%s: cannot decode the private key "
		    "(BearSSL error %d)", path, err);
		return -1;
	}
	m->key_type = br_skey_decoder_key_type(&m->skey);
	if (m->key_type != BR_KEYTYPE_RSA && m->key_type != BR_KEYTYPE_EC) {
		snprintf(why, wlen, "%s: unsupported private key type", path);
		return -1;
	}
	return 0;
}

/* trim - skip leading zero octets of a big-endian integer. */
static const unsigned char *
trim(const unsigned char *p, size_t *len)
{
	while (*len > 0 && *p == 0) {
		p++;
		(*len)--;
	}
	return p;
}

/* check_pair - the leaf's public key is the private key's (compare the
 * public halves). */
static int
check_pair(struct tls_mat *m, const char *cert, char *why, size_t wlen)
{
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	int same = 0;

	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, m->chain[0].data, m->chain[0].data_len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL) {
		snprintf(why, wlen, "%s: cannot decode the certificate "
		    "(BearSSL error %d)", cert, br_x509_decoder_last_error(&dc));
		return -1;
	}
	m->issuer_key_type = br_x509_decoder_get_signer_key_type(&dc);
	if (pk->key_type == BR_KEYTYPE_RSA && m->key_type == BR_KEYTYPE_RSA) {
		const br_rsa_private_key *sk = br_skey_decoder_get_rsa(&m->skey);
		br_rsa_compute_modulus mod = br_rsa_compute_modulus_get_default();
		unsigned char *n;
		size_t nlen = mod(NULL, sk), clen = pk->key.rsa.nlen;
		const unsigned char *a, *b;

		if (nlen > 0 && (n = malloc(nlen)) != NULL) {
			(void)mod(n, sk);
			a = trim(n, &nlen);
			b = trim(pk->key.rsa.n, &clen);
			/* the modulus alone identifies the pair
			 * (br_rsa_compute_pubexp gives 0 for some
			 * OpenSSL 3 keys, so e is not compared) */
			same = nlen == clen && memcmp(a, b, nlen) == 0;
			free(n);
		}
	} else if (pk->key_type == BR_KEYTYPE_EC &&
	    m->key_type == BR_KEYTYPE_EC) {
		const br_ec_private_key *sk = br_skey_decoder_get_ec(&m->skey);
		unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
		br_ec_public_key pub;
		size_t qlen = br_ec_compute_pub(br_ec_get_default(), &pub, q,
		    sk);

		same = qlen > 0 && pub.curve == pk->key.ec.curve &&
		    qlen == pk->key.ec.qlen &&
		    memcmp(q, pk->key.ec.q, qlen) == 0;
	}
	if (!same) {
		snprintf(why, wlen, "private key does not match public key");
		return -1;
	}
	return 0;
}

/* load_cas - root_cas_file as trust anchors for client certificates
 * (TLS-04). */
static int
load_cas(struct tls_mat *m, const char *path, char *why, size_t wlen)
{
	struct pem_obj *o;
	int n = pem_decode(path, &o, why, wlen), i;

	if (n < 0)
		return -1;
	if ((m->tas = calloc(TLS_MAX_CAS, sizeof(*m->tas))) == NULL)
		goto oom;
	for (i = 0; i < n && m->ntas < TLS_MAX_CAS; i++) {
		br_x509_decoder_context dc;
		const br_x509_pkey *pk;
		br_x509_trust_anchor *ta = &m->tas[m->ntas];
		struct buf dn;

		if (!is_cert_name(o[i].name))
			continue;
		buf_init(&dn, TLS_FILE_MAX);
		br_x509_decoder_init(&dc, blob_append, &dn);
		br_x509_decoder_push(&dc, o[i].der.p, o[i].der.len);
		if ((pk = br_x509_decoder_get_pkey(&dc)) == NULL || dn.err != 0) {
			free(dn.p);
			snprintf(why, wlen, "%s: cannot decode CA certificate "
			    "%d", path, i + 1);
			goto fail;
		}
		ta->dn.data = (unsigned char *)dn.p;
		ta->dn.len = dn.len;
		ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
		ta->pkey.key_type = pk->key_type;
		m->ntas++;
		if (pk->key_type == BR_KEYTYPE_RSA) {
			ta->pkey.key.rsa.n = (unsigned char *)gd_memdup(
			    pk->key.rsa.n, pk->key.rsa.nlen);
			ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
			ta->pkey.key.rsa.e = (unsigned char *)gd_memdup(
			    pk->key.rsa.e, pk->key.rsa.elen);
			ta->pkey.key.rsa.elen = pk->key.rsa.elen;
			if (ta->pkey.key.rsa.n == NULL ||
			    ta->pkey.key.rsa.e == NULL)
				goto oom;
		} else {
			ta->pkey.key.ec.curve = pk->key.ec.curve;
			ta->pkey.key.ec.q = (unsigned char *)gd_memdup(
			    pk->key.ec.q, pk->key.ec.qlen);
			ta->pkey.key.ec.qlen = pk->key.ec.qlen;
			if (ta->pkey.key.ec.q == NULL)
				goto oom;
		}
	}
	pem_free(o, (size_t)n);
	if (m->ntas == 0) {
		snprintf(why, wlen, "%s: no CA certificate found", path);
		return -1;
	}
	return 0;
oom:
	snprintf(why, wlen, "out of memory");
fail:
	pem_free(o, (size_t)n);
	return -1;
}

/* load_suites - TLS-03: configured names in order; unknown and
 * unsupported names are warned about and skipped; none left (or none
 * usable with the key) is an error. */
static int
load_suites(struct tls_mat *m, const struct cfg_tls *t, struct logger *log,
    const char *iface, char *why, size_t wlen)
{
	size_t i, j, usable = 0;

	if (t->nciphers == 0)
		return 0;
	if ((m->suites = calloc(t->nciphers, sizeof(*m->suites))) == NULL) {
		snprintf(why, wlen, "out of memory");
		return -1;
	}
	for (i = 0; i < t->nciphers; i++) {
		for (j = 0; j < NELEM(suite_names); j++)
			if (strcmp(t->ciphers[i], suite_names[j].name) == 0)
				break;
		if (j == NELEM(suite_names) || suite_names[j].code == 0) {
			if (log != NULL)
				log_warn(log, "[%s] TLS cipher suite %s %s, "
				    "skipped", iface, t->ciphers[i],
				    j == NELEM(suite_names) ? "is unknown" :
				    "is not supported by BearSSL");
			continue;
		}
		m->suites[m->nsuites++] = suite_names[j].code;
		if (suite_names[j].key == m->key_type)
			usable++;
	}
	if (m->nsuites == 0) {
		snprintf(why, wlen, "no usable cipher suite in \"ciphers\"");
		return -1;
	}
	if (usable == 0) {
		snprintf(why, wlen, "no cipher suite in \"ciphers\" works with "
		    "an %s key", m->key_type == BR_KEYTYPE_RSA ? "RSA" : "EC");
		return -1;
	}
	return 0;
}

/* load_curves - restrict the ECDHE curves (see the file comment). */
static void
load_curves(struct tls_mat *m, const struct cfg_tls *t)
{
	uint32_t mask = 0;
	size_t i;

	m->ec = *br_ec_get_default();
	if (t->ncurves == 0)
		return;
	for (i = 0; i < t->ncurves; i++) {
		if (strcmp(t->curves[i], "P256") == 0)
			mask |= (uint32_t)1 << BR_EC_secp256r1;
		else if (strcmp(t->curves[i], "P384") == 0)
			mask |= (uint32_t)1 << BR_EC_secp384r1;
		else if (strcmp(t->curves[i], "P521") == 0)
			mask |= (uint32_t)1 << BR_EC_secp521r1;
		else if (strcmp(t->curves[i], "X25519") == 0)
			mask |= (uint32_t)1 << BR_EC_curve25519;
	}
	m->ec.supported_curves &= mask;
	m->restrict_ec = 1;
}

/* seed_fallback - BearSSL seeds each engine from the system (getrandom,
 * /dev/urandom) by itself; where it has no seeder, seed one DRBG from
 * /dev/urandom here and inject 32 octets from it into every session.
 * Neither: TLS cannot start (an error, never a weak key). */
static int
seed_fallback(char *why, size_t wlen)
{
	const char *name;
	unsigned char seed[48];
	size_t got = 0;
	int fd, rc = 0;

	if (br_prng_seeder_system(&name) != 0)
		return 0;
	pthread_mutex_lock(&drbg_mu);
	if (!drbg_ready) {
		if ((fd = open("/dev/urandom", O_RDONLY)) >= 0) {
			while (got < sizeof(seed)) {
				ssize_t r = read(fd, seed + got,
				    sizeof(seed) - got);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				got += (size_t)r;
			}
			(void)close(fd);
		}
		if (got == sizeof(seed)) {
			br_hmac_drbg_init(&drbg, &br_sha256_vtable, seed,
			    sizeof(seed));
			drbg_ready = 1;
		} else {
			snprintf(why, wlen, "cannot seed the random generator "
			    "(no system seeder, no /dev/urandom)");
			rc = -1;
		}
		wipe(seed, sizeof(seed));
	}
	pthread_mutex_unlock(&drbg_mu);
	return rc;
}

/* mat_new - build material from cfg; NULL with why set. */
static struct tls_mat *
mat_new(const struct cfg_server *cfg, struct logger *log, char *why,
    size_t wlen)
{
	const struct cfg_tls *t = &cfg->tls;
	struct tls_mat *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		snprintf(why, wlen, "out of memory");
		return NULL;
	}
	m->refs = 1;
	m->cache.vtable = &cache_vtable;
	pthread_mutex_init(&m->cache.mu, NULL);
	br_ssl_session_cache_lru_init(&m->cache.lru, m->cache.store,
	    sizeof(m->cache.store));
	if (t->public_key_file == NULL || t->private_key_file == NULL) {
		snprintf(why, wlen, "public_key_file and private_key_file are "
		    "required");
		goto fail;
	}
	if (load_chain(m, t->public_key_file, why, wlen) != 0 ||
	    load_key(m, t->private_key_file, why, wlen) != 0 ||
	    check_pair(m, t->public_key_file, why, wlen) != 0 ||
	    load_suites(m, t, log, cfg->listen_interface, why, wlen) != 0 ||
	    seed_fallback(why, wlen) != 0)
		goto fail;
	m->auth = t->client_auth;
	if (t->root_cas_file != NULL && t->root_cas_file[0] != '\0' &&
	    load_cas(m, t->root_cas_file, why, wlen) != 0)
		goto fail;
	if ((m->auth == CFG_VERIFY_CLIENT_CERT_IF_GIVEN ||
	    m->auth == CFG_REQUIRE_AND_VERIFY_CLIENT_CERT) && m->ntas == 0) {
		snprintf(why, wlen, "client_auth_type needs root_cas_file");
		goto fail;
	}
	load_curves(m, t);
	m->vmin = t->proto_min ? t->proto_min : BR_TLS10;
	m->vmax = t->proto_max ? t->proto_max : BR_TLS12;
	if (m->vmax > BR_TLS12)
		m->vmax = BR_TLS12;
	m->flags = BR_OPT_NO_RENEGOTIATION;
	if (t->prefer_server_cipher_suites)
		m->flags |= BR_OPT_ENFORCE_SERVER_PREFERENCES;
	if (m->auth == CFG_REQUEST_CLIENT_CERT ||
	    m->auth == CFG_VERIFY_CLIENT_CERT_IF_GIVEN)
		m->flags |= BR_OPT_TOLERATE_NO_CLIENT_AUTH;
	return m;
fail:
	mat_free(m);
	return NULL;
}

static void
mat_unref(struct tls_mat *m)
{
	int last;

	if (m == NULL)
		return;
	pthread_mutex_lock(&tls_mu);
	last = --m->refs == 0;
	pthread_mutex_unlock(&tls_mu);
	if (last)
		mat_free(m);
}

static void
stamp(const struct cfg_tls *t, struct tls_stamp st[3])
{
	const char *f[3];
	struct stat sb;
	int i;

	f[0] = t->public_key_file;
	f[1] = t->private_key_file;
	f[2] = t->root_cas_file;
	for (i = 0; i < 3; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		if (f[i] == NULL || f[i][0] == '\0' || stat(f[i], &sb) != 0)
			continue;
		st[i].mtime = (long long)sb.st_mtime;
		st[i].mtime_ns = (long long)sb.st_mtim.tv_nsec;	/* POSIX.1-2008 */
		st[i].size = (long long)sb.st_size;
	}
}

/* ---- contexts ---- */

struct tls_ctx *
tls_ctx_new(const struct cfg_server *cfg, struct logger *log, char *err,
    size_t errlen)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
	char why[400];

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot use TLS config for [%s], out of "
		    "memory", cfg->listen_interface);
		return NULL;
	}
	ctx->cfg = cfg;
	ctx->log = log;
	ctx->refs = 1;
	if (cfg->tls.proto_clamped && log != NULL)
		log_warn(log, "[%s] TLS 1.3 is not available (BearSSL): "
		    "protocols max is tls1.2", cfg->listen_interface);
	stamp(&cfg->tls, ctx->st);
	if ((ctx->cur = mat_new(cfg, log, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "cannot use TLS config for [%s], %s",
		    cfg->listen_interface, why);
		free(ctx);
		return NULL;
	}
	return ctx;
}

int
tls_ctx_reload_if_changed(struct tls_ctx *ctx, char *err, size_t errlen)
{
	struct tls_stamp st[3];
	struct tls_mat *m, *old;
	char why[400];

	stamp(&ctx->cfg->tls, st);
	if (memcmp(st, ctx->st, sizeof(st)) == 0)
		return 0;
	if ((m = mat_new(ctx->cfg, ctx->log, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "cannot use TLS config for [%s], %s",
		    ctx->cfg->listen_interface, why);
		return -1;
	}
	memcpy(ctx->st, st, sizeof(st));
	pthread_mutex_lock(&tls_mu);
	old = ctx->cur;
	ctx->cur = m;
	pthread_mutex_unlock(&tls_mu);
	mat_unref(old);
	return 1;
}

struct tls_ctx *
tls_ctx_hold(struct tls_ctx *ctx)
{
	pthread_mutex_lock(&tls_mu);
	ctx->refs++;
	pthread_mutex_unlock(&tls_mu);
	return ctx;
}

void
tls_ctx_set_cfg(struct tls_ctx *ctx, const struct cfg_server *cfg)
{
	ctx->cfg = cfg;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	int last;

	if (ctx == NULL)
		return;
	pthread_mutex_lock(&tls_mu);
	last = --ctx->refs == 0;
	pthread_mutex_unlock(&tls_mu);
	if (!last)
		return;
	mat_unref(ctx->cur);
	free(ctx);
}

/* ---- the client-certificate policy (struct tls_x509) ---- */

static int
x5_verifies(const struct tls_x509 *x)
{
	return x->auth == CFG_VERIFY_CLIENT_CERT_IF_GIVEN ||
	    x->auth == CFG_REQUIRE_AND_VERIFY_CLIENT_CERT;
}

static void
x5_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	x->ncert = 0;
	x->err = 0;
	br_x509_decoder_init(&x->leaf, NULL, NULL);
	x->mini.vtable->start_chain(&x->mini.vtable, server_name);
}

static void
x5_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	x->ncert++;
	x->mini.vtable->start_cert(&x->mini.vtable, length);
}

static void
x5_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x->ncert == 1)
		br_x509_decoder_push(&x->leaf, buf, len);
	x->mini.vtable->append(&x->mini.vtable, buf, len);
}

static void
x5_end_cert(const br_x509_class **ctx)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	x->mini.vtable->end_cert(&x->mini.vtable);
}

static unsigned
x5_end_chain(const br_x509_class **ctx)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	x->err = x->mini.vtable->end_chain(&x->mini.vtable);
	if (x->ncert == 0)
		return BR_ERR_X509_EMPTY_CHAIN;
	if (x5_verifies(x))
		return x->err;
	/* RequestClientCert / RequireAnyClientCert: any decodable leaf */
	if (br_x509_decoder_get_pkey(&x->leaf) == NULL)
		return BR_ERR_X509_NOT_TRUSTED;
	return 0;
}

static const br_x509_pkey *
x5_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x5_verifies(x))
		return x->mini.vtable->get_pkey(&x->mini.vtable, usages);
	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return br_x509_decoder_get_pkey(&x->leaf);
}

static const br_x509_class x5_vtable = {
	sizeof(struct tls_x509),
	x5_start_chain,
	x5_start_cert,
	x5_append,
	x5_end_cert,
	x5_end_chain,
	x5_get_pkey
};

/* ---- sessions ---- */

struct tls_conn *
tls_conn_new(struct tls_ctx *ctx, char *err, size_t errlen)
{
	/* BearSSL requests a certificate only with at least one CA name:
	 * without root_cas_file, name the empty DN (SEQUENCE {}) */
	static unsigned char empty_dn[2] = { 0x30, 0x00 };
	static const br_x500_name no_names[1] = { { empty_dn, 2 } };
	struct tls_conn *t = malloc(sizeof(*t));
	br_ssl_engine_context *eng;
	struct tls_mat *m;

	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&tls_mu);
	m = ctx->cur;
	m->refs++;
	pthread_mutex_unlock(&tls_mu);
	t->mat = m;
	t->done = t->dead = 0;
	t->why[0] = '\0';
	if (m->key_type == BR_KEYTYPE_RSA)
		br_ssl_server_init_full_rsa(&t->sc, m->chain, m->nchain,
		    br_skey_decoder_get_rsa(&m->skey));
	else
		br_ssl_server_init_full_ec(&t->sc, m->chain, m->nchain,
		    (unsigned)m->issuer_key_type,
		    br_skey_decoder_get_ec(&m->skey));
	eng = &t->sc.eng;
	br_ssl_engine_set_versions(eng, (unsigned)m->vmin, (unsigned)m->vmax);
	if (m->nsuites > 0)
		br_ssl_engine_set_suites(eng, m->suites, m->nsuites);
	if (m->restrict_ec)
		br_ssl_engine_set_ec(eng, &m->ec);
	br_ssl_engine_set_all_flags(eng, m->flags);
	br_ssl_server_set_cache(&t->sc, &m->cache.vtable);
	if (m->auth != CFG_NO_CLIENT_CERT) {
		memset(&t->x5, 0, sizeof(t->x5));
		t->x5.vtable = &x5_vtable;
		t->x5.auth = m->auth;
		br_x509_minimal_init_full(&t->x5.mini, m->ntas ? m->tas : NULL,
		    m->ntas);
		if (m->ntas > 0)
			br_ssl_server_set_trust_anchor_names_alt(&t->sc,
			    m->tas, m->ntas);
		else
			br_ssl_server_set_trust_anchor_names(&t->sc, no_names,
			    1);
		br_ssl_engine_set_x509(eng, &t->x5.vtable);
		/* CertificateVerify: the server "full" inits leave these
		 * unset (the handshake then fails with "bad signature") */
		br_ssl_engine_set_default_rsavrfy(eng);
		br_ssl_engine_set_default_ecdsa(eng);
	}
	br_ssl_engine_set_buffers_bidi(eng, t->ibuf, sizeof(t->ibuf), t->obuf,
	    sizeof(t->obuf));
	pthread_mutex_lock(&drbg_mu);
	if (drbg_ready) {	/* no system seeder: see seed_fallback */
		unsigned char seed[32];
		br_hmac_drbg_generate(&drbg, seed, sizeof(seed));
		br_ssl_engine_inject_entropy(eng, seed, sizeof(seed));
		wipe(seed, sizeof(seed));
	}
	pthread_mutex_unlock(&drbg_mu);
	if (!br_ssl_server_reset(&t->sc)) {
		snprintf(err, errlen, "TLS engine reset failed (BearSSL error "
		    "%d)", br_ssl_engine_last_error(eng));
		tls_conn_free(t);
		return NULL;
	}
	return t;
}

void
tls_conn_free(struct tls_conn *t)
{
	if (t == NULL)
		return;
	mat_unref(t->mat);
	wipe(&t->sc, sizeof(t->sc));	/* session keys */
	free(t);
}

static void
set_why(struct tls_conn *t, const char *what)
{
	int e = br_ssl_engine_last_error(&t->sc.eng);

	if (t->why[0] != '\0')
		return;
	if (e == BR_ERR_OK)
		snprintf(t->why, sizeof(t->why), "%s", what);
	else if (e >= BR_ERR_SEND_FATAL_ALERT)
		snprintf(t->why, sizeof(t->why), "sent alert %d",
		    e - BR_ERR_SEND_FATAL_ALERT);
	else if (e >= BR_ERR_RECV_FATAL_ALERT)
		snprintf(t->why, sizeof(t->why), "received alert %d",
		    e - BR_ERR_RECV_FATAL_ALERT);
	else
		snprintf(t->why, sizeof(t->why), "BearSSL error %d", e);
}

int
tls_pump(struct tls_conn *t, int fd, int rd)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	int moved = 0, wblocked = 0;

	if (t->dead)
		return TLS_CLOSED;
	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		unsigned char *buf;
		size_t len;
		ssize_t n;

		if (st & BR_SSL_CLOSED) {
			set_why(t, "closed by peer");
			return TLS_CLOSED;
		}
		if ((st & BR_SSL_SENDREC) && !wblocked) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			n = send(fd, buf, len, GD_MSG_NOSIGNAL);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				moved = 1;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				wblocked = 1;
				continue;
			}
			snprintf(t->why, sizeof(t->why), "send: %s",
			    strerror(errno));
			t->dead = 1;
			return TLS_CLOSED;
		}
		if (rd && (st & BR_SSL_RECVREC) && !(st & BR_SSL_RECVAPP)) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			n = recv(fd, buf, len, 0);
			if (n > 0) {
				br_ssl_engine_recvrec_ack(eng, (size_t)n);
				moved = 1;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n == 0)
				snprintf(t->why, sizeof(t->why), "%s",
				    t->done ? "connection closed" :
				    "connection closed during handshake");
			else
				snprintf(t->why, sizeof(t->why), "recv: %s",
				    strerror(errno));
			t->dead = 1;
			return TLS_CLOSED;
		}
		break;
	}
	return moved;
}

size_t
tls_feed(struct tls_conn *t, const char *in, size_t inlen)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	size_t used = 0;

	while (used < inlen) {
		unsigned char *buf;
		size_t len;

		if (!(br_ssl_engine_current_state(eng) & BR_SSL_RECVREC))
			break;
		buf = br_ssl_engine_recvrec_buf(eng, &len);
		if (len > inlen - used)
			len = inlen - used;
		memcpy(buf, in + used, len);
		br_ssl_engine_recvrec_ack(eng, len);
		used += len;
	}
	return used;
}

size_t
tls_recvapp(struct tls_conn *t, char *out, size_t outlen)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	unsigned char *buf;
	size_t len;

	if (!(br_ssl_engine_current_state(eng) & BR_SSL_RECVAPP))
		return 0;
	buf = br_ssl_engine_recvapp_buf(eng, &len);
	if (len > outlen)
		len = outlen;
	memcpy(out, buf, len);
	br_ssl_engine_recvapp_ack(eng, len);
	return len;
}

size_t
tls_sendapp(struct tls_conn *t, const char *in, size_t inlen)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	unsigned char *buf;
	size_t len;

	if (!(br_ssl_engine_current_state(eng) & BR_SSL_SENDAPP))
		return 0;
	buf = br_ssl_engine_sendapp_buf(eng, &len);
	if (len > inlen)
		len = inlen;
	memcpy(buf, in, len);
	br_ssl_engine_sendapp_ack(eng, len);
	br_ssl_engine_flush(eng, 0);
	return len;
}

int
tls_handshake_done(struct tls_conn *t)
{
	unsigned st;

	if (t->done)
		return 1;
	st = br_ssl_engine_current_state(&t->sc.eng);
	if ((st & BR_SSL_CLOSED) || !(st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)))
		return 0;
	if (t->mat->auth == CFG_VERIFY_CLIENT_CERT_IF_GIVEN &&
	    t->x5.ncert > 0 && t->x5.err != 0) {
		snprintf(t->why, sizeof(t->why), "client certificate not "
		    "trusted (X.509 error %u)", t->x5.err);
		return -1;
	}
	t->done = 1;
	return 1;
}

short
tls_events(struct tls_conn *t, int rd)
{
	unsigned st = br_ssl_engine_current_state(&t->sc.eng);
	short ev = 0;

	if ((st & BR_SSL_CLOSED) || t->dead)
		return 0;
	if (st & BR_SSL_SENDREC)
		ev |= POLLOUT;
	if (rd && (st & BR_SSL_RECVREC) && !(st & BR_SSL_RECVAPP))
		ev |= POLLIN;
	return ev;
}

int
tls_app_pending(struct tls_conn *t)
{
	return (br_ssl_engine_current_state(&t->sc.eng) & BR_SSL_RECVAPP) != 0;
}

int
tls_out_pending(struct tls_conn *t)
{
	unsigned st = br_ssl_engine_current_state(&t->sc.eng);

	return !t->dead && !(st & BR_SSL_CLOSED) && (st & BR_SSL_SENDREC) != 0;
}

void
tls_close(struct tls_conn *t)
{
	br_ssl_engine_close(&t->sc.eng);
}

const char *
tls_error(struct tls_conn *t)
{
	if (t->why[0] == '\0')
		set_why(t, "");
	return t->why;
}

void
tls_describe(struct tls_conn *t, char *buf, size_t len)
{
	const br_ssl_session_parameters *p = &t->sc.eng.session;
	const char *name = NULL;
	size_t i;

	for (i = 0; i < NELEM(suite_names); i++)
		if (suite_names[i].code == p->cipher_suite) {
			name = suite_names[i].name;
			break;
		}
	if (name != NULL)
		snprintf(buf, len, "TLS1.%d %s", (int)(p->version & 0xff) - 1,
		    name);
	else
		snprintf(buf, len, "TLS1.%d suite 0x%04x",
		    (int)(p->version & 0xff) - 1, (unsigned)p->cipher_suite);
}
