/*
 * fz_mime.c - libFuzzer target for mime.c: gd_env_parse_headers over the
 * input as message data, mime_decode_words over the input as one header
 * value, and mime_parse_address over it as an address header.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#define FZ_ASSERT(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gd_envelope e;
	struct gd_address a;
	char err[128], *s, *z;
	size_t i;

	/* headers */
	env_init(&e);
	if (env_data_append(&e, (const char *)data, size) == 0 &&
	    gd_env_parse_headers(&e, err, sizeof(err)) == 0) {
		FZ_ASSERT(e.headers_parsed);
		for (i = 0; i < e.nhdr; i++) {
			FZ_ASSERT(e.hdr[i].name != NULL &&
			    e.hdr[i].value != NULL);
			(void)strlen(e.hdr[i].name);
			(void)strlen(e.hdr[i].value);
			FZ_ASSERT(strchr(e.hdr[i].name, ':') == NULL);
			FZ_ASSERT(gd_env_header(&e, e.hdr[i].name) != NULL);
		}
		if (e.subject != NULL)
			(void)strlen(e.subject);
		FZ_ASSERT(gd_env_parse_headers(&e, err, sizeof(err)) != 0);
	}
	env_free(&e);

	/* RFC 2047 */
	if ((s = mime_decode_words((const char *)data, size)) != NULL) {
		(void)strlen(s);
		free(s);
	}

	/* address header (NUL-terminated copy) */
	if ((z = malloc(size + 1)) == NULL)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	memset(&a, 0, sizeof(a));
	if (mime_parse_address(z, &a) == 0) {
		char pr[600];

		FZ_ASSERT(strlen(a.local) <= ENV_LOCAL_MAX);
		FZ_ASSERT(strlen(a.domain) <= ENV_DOMAIN_MAX);
		if (a.display_name != NULL)
			(void)strlen(a.display_name);
		FZ_ASSERT(env_addr_print(&a, pr, sizeof(pr)) < sizeof(pr));
	}
	env_addr_clear(&a);
	mime_canonical_name(z);
	free(z);
	return 0;
}
