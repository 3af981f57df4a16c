/*
 * fz_proxy.c - libFuzzer target for proxy_parse, the v1 and v2 PROXY
 * header parsers (SMTP-05..07): the result never exceeds the input or the
 * version's maximum, an accepted v1 header ends in CR LF, a v2 header
 * starts with the signature and is exactly 16 + its declared length, the
 * fields are sane, and every shorter prefix of an accepted header asks for
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
	int r, k, v1 = size > 0 && data[0] == 'P';
	size_t i;

	memset(&pi, 0xa5, sizeof(pi));
	r = proxy_parse(buf, size, &pi);
	FZ_ASSERT(r >= -1 && (size_t)(r < 0 ? 0 : r) <= size);
	FZ_ASSERT(r <= (v1 ? PROXY_V1_MAX : PROXY_V2_MAX));
	if (v1)		/* the entry point only dispatches */
		FZ_ASSERT(proxy_parse_v1(buf, size, &pj) == r);
	else if (size > 0)
		FZ_ASSERT(proxy_parse_v2(buf, size, &pj) == r);
	if (r <= 0)
		return 0;
	if (v1) {
		FZ_ASSERT(r >= 2 && buf[r - 2] == '\r' && buf[r - 1] == '\n');
		FZ_ASSERT(memcmp(buf, "PROXY ", 6) == 0);
	} else {
		FZ_ASSERT(r >= 16 && memcmp(buf, "\r\n\r\n\0\r\nQUIT\n", 12)
		    == 0);
		FZ_ASSERT((data[12] & 0xf0) == 0x20 && (data[12] & 0x0f) <= 1);
		FZ_ASSERT((size_t)r == 16 + ((size_t)data[14] << 8 |
		    data[15]));
	}
	if (!pi.unknown) {
		FZ_ASSERT(pi.family == 4 || pi.family == 6);
		FZ_ASSERT(memchr(pi.src, '\0', sizeof(pi.src)) != NULL);
		FZ_ASSERT(memchr(pi.dst, '\0', sizeof(pi.dst)) != NULL);
		FZ_ASSERT(pi.src[0] != '\0' && pi.dst[0] != '\0');
		FZ_ASSERT(pi.sport >= 0 && pi.sport <= 65535);
		FZ_ASSERT(pi.dport >= 0 && pi.dport <= 65535);
	}
	FZ_ASSERT(proxy_parse(buf, (size_t)r, &pj) == r);
	for (i = 0; i < (size_t)r; i++) {
		k = proxy_parse(buf, i, &pj);
		if (k != 0) {
			fprintf(stderr, "prefix %zu of an accepted header: %d\n",
			    i, k);
			abort();
		}
	}
	return 0;
}
