/*
 * fz_proxy.c - libFuzzer target for proxy_parse_v1 (SMTP-05..07): the
 * result never exceeds the input or PROXY_V1_MAX, an accepted header ends
 * in CR LF, its fields are sane, and every shorter prefix of it asks for
 * more bytes (0) - so a header split over reads is never refused.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define FZ_ASSERT(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct proxy_info pi, pj;
	int r, k;
	size_t i;

	memset(&pi, 0xa5, sizeof(pi));
	r = proxy_parse_v1(buf, size, &pi);
	FZ_ASSERT(r >= -1 && r <= PROXY_V1_MAX && (size_t)(r < 0 ? 0 : r) <= size);
	if (r <= 0)
		return 0;
	FZ_ASSERT(r >= 2 && buf[r - 2] == '\r' && buf[r - 1] == '\n');
	FZ_ASSERT(memcmp(buf, "PROXY ", 6) == 0);
	if (!pi.unknown) {
		FZ_ASSERT(pi.family == 4 || pi.family == 6);
		FZ_ASSERT(memchr(pi.src, '\0', sizeof(pi.src)) != NULL);
		FZ_ASSERT(memchr(pi.dst, '\0', sizeof(pi.dst)) != NULL);
		FZ_ASSERT(pi.sport >= 0 && pi.sport <= 65535);
		FZ_ASSERT(pi.dport >= 0 && pi.dport <= 65535);
	}
	FZ_ASSERT(proxy_parse_v1(buf, (size_t)r, &pj) == r);
	for (i = 0; i < (size_t)r; i++) {
		k = proxy_parse_v1(buf, i, &pj);
		if (k != 0) {
			fprintf(stderr, "prefix %zu of an accepted header: %d\n",
			    i, k);
			abort();
		}
	}
	return 0;
}
