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

#include <stdlib.h>
#include <string.h>

#include "envelope.h"


/* env_init - an empty envelope; connection fields zero. */
void
env_init(struct gd_envelope *e)
{
	memset(e, 0, sizeof(*e));
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
	e->data_len = 0;
	if (e->data_cap > ENV_KEEP_DATA) {
		free(e->data);
		e->data = NULL;
		e->data_cap = 0;
	}
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
	free(e->data);
	memset(e, 0, sizeof(*e));
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

/* env_data_append - grow geometrically; the caller bounds the total by
 * max_size (SMTP-48), so this never grows without limit. */
int
env_data_append(struct gd_envelope *e, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > SIZE_MAX - e->data_len - 1)
		return -1;
	if (e->data_len + n + 1 > e->data_cap) {
		size_t cap = e->data_cap ? e->data_cap : 4096;
		char *d;
		while (cap < e->data_len + n + 1) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		if ((d = realloc(e->data, cap)) == NULL)
			return -1;
		e->data = d;
		e->data_cap = cap;
	}
	memcpy(e->data + e->data_len, p, n);
	e->data_len += n;
	e->data[e->data_len] = '\0';	/* convenience only: data may hold NULs */
	return 0;
}

int
env_set_delivery_header(struct gd_envelope *e, const char *h)
{
	char *d = gd_strdup(h);

	if (d == NULL)
		return -1;
	free(e->delivery_header);
	e->delivery_header = d;
	return 0;
}

int
env_add_hash(struct gd_envelope *e, const char *hash)
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
env_set_value(struct gd_envelope *e, const char *key, const void *data,
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
env_get_value(const struct gd_envelope *e, const char *key, size_t *len)
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

const char *
env_header_get(const struct gd_envelope *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nhdr; i++)
		if (gd_strcasecmp(e->hdr[i].name, name) == 0)
			return e->hdr[i].value;
	return NULL;
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
gd_env_data(const struct gd_envelope *e, size_t *len)
{
	*len = e->data_len;
	return e->data != NULL ? e->data : "";
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
