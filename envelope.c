/*
 * envelope.c - the envelope and its message buffer (SPEC 4, see
 * envelope.h).  Header parsing and RFC 2047 live in mime.c.
 *
 * Memory: env_reset keeps the data buffer for the next transaction of the
 * same session unless it grew past ENV_KEEP_DATA, so a long session of
 * small messages allocates once while one big message does not pin
 * max_size bytes for the rest of the session.  Never does I/O.
 */
#include "compat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "envelope.h"


/* env_init - an empty envelope; connection fields zero. */
void
env_init(struct gd_envelope *e)
{
	memset(e, 0, sizeof(*e));
	buf_init(&e->data, SIZE_MAX);	/* smtp.c bounds it by max_size */
}

void
env_addr_clear(struct gd_address *a)
{
	free(a->adl);
	free(a->params);
	free(a->display_name);
	memset(a, 0, sizeof(*a));
}

static void
free_values(struct gd_envelope *e)
{
	size_t i;

	for (i = 0; i < e->nvalues; i++) {
		free(e->values[i].key);
		free(e->values[i].data);
	}
	free(e->values);
	e->values = NULL;
	e->nvalues = 0;
}

static void
free_headers(struct gd_envelope *e)
{
	size_t i;

	for (i = 0; i < e->nhdr; i++) {
		free(e->hdr[i].name);
		free(e->hdr[i].value);
	}
	free(e->hdr);
	e->hdr = NULL;
	e->nhdr = 0;
	e->headers_parsed = 0;
}

/* env_reset - clear the transaction fields (ENV-04). */
void
env_reset(struct gd_envelope *e)
{
	size_t i;

	env_addr_clear(&e->from);
	e->has_from = 0;
	for (i = 0; i < e->nrcpt; i++)
		env_addr_clear(&e->rcpt[i]);
	e->nrcpt = 0;
	if (e->rcpt_cap > 8) {
		free(e->rcpt);
		e->rcpt = NULL;
		e->rcpt_cap = 0;
	}
	if (e->data.cap > ENV_KEEP_DATA)
		buf_free(&e->data);
	else
		buf_clear(&e->data);
	free(e->delivery_header);
	e->delivery_header = NULL;
	free(e->subject);
	e->subject = NULL;
	free_headers(e);
	for (i = 0; i < e->nhashes; i++)
		free(e->hashes[i]);
	free(e->hashes);
	e->hashes = NULL;
	e->nhashes = 0;
	e->queued_id[0] = '\0';
	free_values(e);
}

void
env_free(struct gd_envelope *e)
{
	env_reset(e);
	free(e->rcpt);
	buf_free(&e->data);
	memset(e, 0, sizeof(*e));
	env_init(e);
}

/* env_addr_print - GG's address String(): local@domain with the local
 * part re-quoted when needed, IP literals in brackets, bare postmaster
 * alone, the null path empty. */
size_t
env_addr_print(const struct gd_address *a, char *buf, size_t size)
{
	char tmp[2 * ENV_LOCAL_MAX + ENV_DOMAIN_MAX + 8];
	size_t n = 0;
	const char *p;

	if (a->null_path) {
		tmp[0] = '\0';
	} else if (a->bare_postmaster) {
		n = gd_strlcpy(tmp, a->local, sizeof(tmp));
	} else {
		if (a->quoted) {
			tmp[n++] = '"';
			for (p = a->local; *p != '\0'; p++) {
				if (*p == '\\' || *p == '"')
					tmp[n++] = '\\';
				tmp[n++] = *p;
			}
			tmp[n++] = '"';
		} else {
			size_t l = strlen(a->local);
			memcpy(tmp + n, a->local, l);
			n += l;
		}
		if (a->domain[0] != '\0') {
			size_t l = strlen(a->domain);
			tmp[n++] = '@';
			if (a->ip_family != 0)
				tmp[n++] = '[';
			memcpy(tmp + n, a->domain, l);
			n += l;
			if (a->ip_family != 0)
				tmp[n++] = ']';
		}
		tmp[n] = '\0';
	}
	return gd_strlcpy(buf, tmp, size);
}

/* env_set_from - take ownership of *a's strings. */
int
env_set_from(struct gd_envelope *e, struct gd_address *a)
{
	env_addr_clear(&e->from);
	e->from = *a;
	memset(a, 0, sizeof(*a));
	e->has_from = 1;
	return 0;
}

int
env_add_rcpt(struct gd_envelope *e, struct gd_address *a)
{
	if (e->nrcpt == e->rcpt_cap) {
		size_t cap = e->rcpt_cap ? e->rcpt_cap * 2 : 4;
		struct gd_address *r = gd_reallocarray(e->rcpt, cap, sizeof(*r));
		if (r == NULL)
			return -1;
		e->rcpt = r;
		e->rcpt_cap = cap;
	}
	e->rcpt[e->nrcpt++] = *a;
	memset(a, 0, sizeof(*a));
	return 0;
}

void
env_pop_rcpt(struct gd_envelope *e)
{
	if (e->nrcpt > 0)
		env_addr_clear(&e->rcpt[--e->nrcpt]);
}

/* env_data_append - the first append makes room for a typical message
 * (ENV_FIRST_DATA) at once rather than doubling up from buf.c's small
 * start; the caller bounds the total by max_size (SMTP-48). */
#define ENV_FIRST_DATA	4095	/* + the NUL: one 4 KiB block */
int
env_data_append(struct gd_envelope *e, const char *p, size_t n)
{
	if (e->data.cap == 0 && buf_reserve(&e->data, ENV_FIRST_DATA) != 0)
		return -1;
	if (buf_add(&e->data, p, n) != 0) {
		e->data.err = 0;	/* the caller refuses this message only */
		return -1;
	}
	return 0;
}

/* ---- spare buffers and queued ids (envelope.h) ---- */

void
env_spare_put(struct env_spares *sp, struct gd_envelope *e, int64_t now)
{
	if (e->data.cap <= ENV_KEEP_DATA || sp->n == ENV_SPARE_MAX ||
	    e->data.cap > ENV_SPARE_BYTES - sp->bytes)
		return;
	sp->buf[sp->n] = e->data.p;
	sp->cap[sp->n++] = e->data.cap;
	sp->bytes += e->data.cap;
	sp->used = now;
	buf_init(&e->data, e->data.max);
}

void
env_spare_lend(struct env_spares *sp, struct gd_envelope *e, int64_t now)
{
	if (sp->n == 0 || e->data.cap > ENV_KEEP_DATA)
		return;
	buf_free(&e->data);
	e->data.p = sp->buf[--sp->n];
	e->data.cap = sp->cap[sp->n];
	e->data.p[0] = '\0';
	sp->bytes -= e->data.cap;
	sp->used = now;
}

void
env_spare_trim(struct env_spares *sp, int64_t now)
{
	if (sp->n == 0 || now - sp->used < ENV_SPARE_IDLE)
		return;
	while (sp->n > 0)
		free(sp->buf[--sp->n]);
	sp->bytes = 0;
}

void
env_make_queued_id(struct gd_envelope *e, time_t now,
    unsigned long long counter, unsigned loop)
{
	static const char hex[] = "0123456789abcdef";
	br_sha256_context h;
	unsigned char out[32];
	char buf[64], *p = buf;
	int i;

	/* "%llx%llx%llx%x" without snprintf's cost */
	p = gd_hex(p, (unsigned long long)now);
	p = gd_hex(p, (unsigned long long)e->client_id);
	p = gd_hex(p, counter);
	p = gd_hex(p, (unsigned long long)loop);
	br_sha256_init(&h);
	br_sha256_update(&h, buf, (size_t)(p - buf));
	br_sha256_out(&h, out);
	for (i = 0; i < 6; i++) {
		e->queued_id[2 * i] = hex[out[26 + i] >> 4];
		e->queued_id[2 * i + 1] = hex[out[26 + i] & 15];
	}
	e->queued_id[12] = '\0';
}

/* ---- public accessors (guerrilla.h, API-11) ---- */

const char *
gd_env_remote_ip(const struct gd_envelope *e)
{
	return e->remote_ip;
}

const char *
gd_env_helo(const struct gd_envelope *e)
{
	return e->helo;
}

int
gd_env_tls(const struct gd_envelope *e)
{
	return e->tls;
}

size_t
gd_env_from_print(const struct gd_envelope *e, char *buf, size_t size)
{
	return env_addr_print(&e->from, buf, size);
}

size_t
gd_env_rcpt_count(const struct gd_envelope *e)
{
	return e->nrcpt;
}

size_t
gd_env_rcpt_print(const struct gd_envelope *e, size_t i, char *buf,
    size_t size)
{
	if (i >= e->nrcpt) {
		if (size > 0)
			buf[0] = '\0';
		return 0;
	}
	return env_addr_print(&e->rcpt[i], buf, size);
}

const char *
gd_env_subject(const struct gd_envelope *e)
{
	return e->subject;
}

const char *
gd_env_queued_id(const struct gd_envelope *e)
{
	return e->queued_id;
}

int
gd_env_esmtp(const struct gd_envelope *e)
{
	return e->esmtp;
}

unsigned long long
gd_env_client_id(const struct gd_envelope *e)
{
	return (unsigned long long)e->client_id;
}

const char *
gd_env_rcpt_local(const struct gd_envelope *e, size_t i)
{
	return i < e->nrcpt ? e->rcpt[i].local : "";
}

const char *
gd_env_rcpt_domain(const struct gd_envelope *e, size_t i)
{
	return i < e->nrcpt ? e->rcpt[i].domain : "";
}

/* ---- the body: today one window, the whole buffer ---- */

uint64_t
gd_env_body_size(const struct gd_envelope *e)
{
	return (uint64_t)e->data.len;
}

ssize_t
gd_env_body_window(const struct gd_envelope *e, uint64_t off,
    const char **p)
{
	size_t n;

	*p = "";
	if (off >= (uint64_t)e->data.len)
		return 0;
	n = e->data.len - (size_t)off;
	if (n > (size_t)SSIZE_MAX)
		n = (size_t)SSIZE_MAX;
	*p = e->data.p + off;
	return (ssize_t)n;
}

/* ---- headers (parsed by mime.c) ---- */

int
gd_env_headers_parsed(const struct gd_envelope *e)
{
	return e->headers_parsed;
}

size_t
gd_env_header_count(const struct gd_envelope *e)
{
	return e->nhdr;
}

const char *
gd_env_header_at(const struct gd_envelope *e, size_t i, const char **value)
{
	if (i >= e->nhdr) {
		*value = NULL;
		return NULL;
	}
	*value = e->hdr[i].value;
	return e->hdr[i].name;
}

const char *
gd_env_header(const struct gd_envelope *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nhdr; i++)
		if (gd_strcasecmp(e->hdr[i].name, name) == 0)
			return e->hdr[i].value;
	return NULL;
}

/* ---- what processors leave for each other ---- */

size_t
gd_env_hash_count(const struct gd_envelope *e)
{
	return e->nhashes;
}

const char *
gd_env_hash(const struct gd_envelope *e, size_t i)
{
	return i < e->nhashes ? e->hashes[i] : NULL;
}

const char *
gd_env_delivery_header(const struct gd_envelope *e)
{
	return e->delivery_header != NULL ? e->delivery_header : "";
}

int
gd_env_set_queued_id(struct gd_envelope *e, const char *id)
{
	gd_strlcpy(e->queued_id, id, sizeof(e->queued_id));
	return 0;
}

int
gd_env_set_delivery_header(struct gd_envelope *e, const char *h)
{
	char *d = gd_strdup(h);

	if (d == NULL)
		return -1;
	free(e->delivery_header);
	e->delivery_header = d;
	return 0;
}

int
gd_env_add_hash(struct gd_envelope *e, const char *hash)
{
	char **h;
	char *d;

	if ((d = gd_strdup(hash)) == NULL)
		return -1;
	h = gd_reallocarray(e->hashes, e->nhashes + 1, sizeof(*h));
	if (h == NULL) {
		free(d);
		return -1;
	}
	e->hashes = h;
	e->hashes[e->nhashes++] = d;
	return 0;
}

int
gd_env_set_value(struct gd_envelope *e, const char *key, const void *data,
    size_t len)
{
	struct env_value *v;
	void *copy;
	size_t i;

	if ((copy = gd_memdup(data, len)) == NULL)
		return -1;
	for (i = 0; i < e->nvalues; i++) {
		if (strcmp(e->values[i].key, key) == 0) {
			free(e->values[i].data);
			e->values[i].data = copy;
			e->values[i].len = len;
			return 0;
		}
	}
	v = gd_reallocarray(e->values, e->nvalues + 1, sizeof(*v));
	if (v == NULL) {
		free(copy);
		return -1;
	}
	e->values = v;
	if ((v[e->nvalues].key = gd_strdup(key)) == NULL) {
		free(copy);
		return -1;
	}
	v[e->nvalues].data = copy;
	v[e->nvalues].len = len;
	e->nvalues++;
	return 0;
}

const void *
gd_env_value(const struct gd_envelope *e, const char *key, size_t *len)
{
	size_t i;

	for (i = 0; i < e->nvalues; i++) {
		if (strcmp(e->values[i].key, key) == 0) {
			if (len != NULL)
				*len = e->values[i].len;
			return e->values[i].data;
		}
	}
	return NULL;
}
