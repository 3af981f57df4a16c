/*
 * fz_path.c - libFuzzer target for smtp_parse_path (SPEC 3.8) and
 * env_addr_print.  On success the local part fits ENV_LOCAL_MAX, the
 * domain ENV_DOMAIN_MAX, and the printed form, put back in angle brackets
 * (IPv6 literals with their "IPv6:" tag), parses to the same address.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "smtp.h"

#define FZ_ASSERT(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gd_address a, b;
	char pr[600], again[700];
	size_t n, m;
	int r, is_rcpt;

	if (size < 1)
		return 0;
	is_rcpt = data[0] & 1;
	data++;
	size--;
	r = smtp_parse_path((const char *)data, size, is_rcpt, "mx.test", &a);
	FZ_ASSERT(r <= 0 && r >= SMTP_ADDR_PARAMS);
	if (r != SMTP_ADDR_OK) {
		FZ_ASSERT(a.params == NULL && a.adl == NULL);
		return 0;
	}
	FZ_ASSERT(strlen(a.local) <= ENV_LOCAL_MAX);
	FZ_ASSERT(strlen(a.domain) <= ENV_DOMAIN_MAX);
	FZ_ASSERT(!a.null_path || (a.local[0] == '\0' && a.domain[0] == '\0'));
	FZ_ASSERT(a.ip_family == 0 || a.ip_family == 4 || a.ip_family == 6);
	n = env_addr_print(&a, pr, sizeof(pr));
	FZ_ASSERT(n < sizeof(pr));
	FZ_ASSERT(strlen(pr) == n);

	/* re-parse the printed form */
	if (a.ip_family == 6) {
		char *at = strrchr(pr, '@');

		FZ_ASSERT(at != NULL && at[1] == '[');
		m = (size_t)snprintf(again, sizeof(again), "<%.*s@[IPv6:%s",
		    (int)(at - pr), pr, at + 2);
	} else
		m = (size_t)snprintf(again, sizeof(again), "<%s>", pr);
	FZ_ASSERT(m < sizeof(again));
	if (a.ip_family == 6)
		again[m++] = '>', again[m] = '\0';
	if (a.null_path || a.bare_postmaster) {
		/* "<>" and "<postmaster>" print as "" and "postmaster" */
		env_addr_clear(&a);
		return 0;
	}
	r = smtp_parse_path(again, m, is_rcpt, "mx.test", &b);
	if (r != SMTP_ADDR_OK || strcmp(a.local, b.local) != 0 ||
	    strcmp(a.domain, b.domain) != 0 || a.ip_family != b.ip_family ||
	    memcmp(a.ip, b.ip, sizeof(a.ip)) != 0) {
		fprintf(stderr, "round trip: [%s] -> %d [%s]@[%s]\n", again,
		    r, b.local, b.domain);
		abort();
	}
	env_addr_clear(&a);
	env_addr_clear(&b);
	return 0;
}
