/*
 * fz_data.c - libFuzzer target for the DATA decoder of smtp.c
 * (SMTP-45..48), checked against a tiny reference decoder written here.
 *
 * The session is put into DATA mode with a fixed transaction, then the
 * input (after one flags byte) is fed in chunks whose sizes come from the
 * flags and the data.  The reference says where the message ends (the
 * first CR LF "." CR LF, the position after the 354 counting as a line
 * start), what is stored (CR LF -> LF, other CRs and LFs kept, a leading
 * dot removed unless it is followed by CR or LF - smtp.c keeps such lone
 * dots so smuggling attempts stay visible) and whether the message is
 * refused (too big, bare LF with bare_lf reject).  The decoder must agree
 * octet for octet, never store more than max_size, and end the message
 * only where the terminator is.  "No CR LF in stored data" holds except
 * for a bare CR right before a line's CR LF ("\r\r\n" is stored as
 * "\r\n", as SMTP-47 says); that exception is checked exactly.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "smtp.h"

#define FZ_ASSERT(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

static char hostname[] = "mx.test";

static int
allow(void *arg, const char *domain, int is_ip)
{
	(void)arg;
	(void)is_ip;
	return strcmp(domain, "example.com") == 0;
}

/*
 * ref_decode - the reference: returns the offset just past the terminator
 * (0 when there is none), fills out/outlen with the stored form and
 * *bare_lf when an LF not preceded by CR occurred before the terminator.
 */
static size_t
ref_decode(const unsigned char *in, size_t len, unsigned char *out,
    size_t *outlen, int *bare_lf)
{
	size_t i, end = 0, body = 0, o = 0;
	int found = 0, bol = 1;

	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0) {
		found = 1;
		body = 0;
		end = 3;
	}
	for (i = 0; !found && i + 5 <= len; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0) {
			found = 1;
			body = i + 2;
			end = i + 5;
		}
	if (!found)
		body = len;
	*bare_lf = 0;
	for (i = 0; i < body; i++) {
		unsigned char c = in[i];

		/* the LF of "DATA\r\n" precedes the first octet */
		if (c == '\n' && (i == 0 || in[i - 1] != '\r'))
			*bare_lf = 1;
		if (bol && c == '.' && i + 1 < body && in[i + 1] != '\r' &&
		    in[i + 1] != '\n') {
			bol = 0;
			continue;	/* stuffed dot or ".x" (SMTP-46) */
		}
		bol = c == '\n';
		if (c == '\r' && i + 1 < body && in[i + 1] == '\n')
			continue;	/* CR LF -> LF (SMTP-47) */
		out[o++] = c;
	}
	*outlen = o;
	return found ? end : 0;
}

/* count - occurrences of the k-octet pattern pat in p[0..n). */
static size_t
count(const void *p, size_t n, const char *pat, size_t k)
{
	size_t i, c = 0;

	for (i = 0; i + k <= n; i++)
		if (memcmp((const char *)p + i, pat, k) == 0)
			c++;
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tx[] = "MAIL FROM:<a@example.com>\r\n"
	    "RCPT TO:<b@example.com>\r\nDATA\r\n";
	static const long long sizes[] = { 2000, 0, 1, 64 };
	struct cfg_server cfg;
	struct gd_envelope env;
	struct gd_result res;
	struct smtp_session s;
	static char outbuf[SMTP_OUT_MAX];
	unsigned char *want;
	size_t wantlen, end, pos = 0, n, k, chunk;
	enum smtp_event ev;
	unsigned flags;
	int bare_lf, saved = 0, refused = 0;

	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;

	memset(&cfg, 0, sizeof(cfg));
	cfg.host_name = hostname;
	cfg.max_size = sizes[flags & 3];
	cfg.bare_lf = (flags >> 2) & 1 ? CFG_BARE_LF_REJECT :
	    CFG_BARE_LF_NORMALIZE;
	chunk = (flags >> 3) + 1;	/* 1..32; 32 = everything at once */
	env_init(&env);
	smtp_init(&s, &cfg, &env, allow, NULL, 0);
	s.out = outbuf;
	smtp_greet(&s, 1, 0);
	smtp_drain(&s, s.outlen);
	n = smtp_input(&s, tx, sizeof(tx) - 1, &ev);
	FZ_ASSERT(n == sizeof(tx) - 1 && ev == SMTP_EV_NONE);
	FZ_ASSERT(s.state == SMTP_S_DATA);
	smtp_drain(&s, s.outlen);

	if ((want = malloc(size + 1)) == NULL)
		return 0;
	end = ref_decode(data, size, want, &wantlen, &bare_lf);

	while (pos < size) {
		k = size - pos;
		if (chunk < 32) {
			/* vary the piece size with the data itself */
			size_t c = chunk + data[pos] % 7;
			if (k > c)
				k = c;
		}
		n = smtp_input(&s, (const char *)data + pos, k, &ev);
		FZ_ASSERT(n <= k);
		/* no stored CR LF, never more than max_size */
		FZ_ASSERT(env.data.len <= (size_t)cfg.max_size);
		if (ev == SMTP_EV_SAVE) {
			FZ_ASSERT(pos + n == end);
			FZ_ASSERT(s.state == SMTP_S_WAIT_SAVE);
			FZ_ASSERT(env.data.len == wantlen);
			FZ_ASSERT(wantlen == 0 ||
			    memcmp(env.data.p, want, wantlen) == 0);
			/* a stored CR LF only ever comes from a bare CR
			 * before a line's CR LF (SMTP-47 keeps bare CRs) */
			FZ_ASSERT(count(env.data.p, env.data.len, "\r\n", 2) ==
			    count(data, end, "\r\r\n", 3));
			saved = 1;
			memset(&res, 0, sizeof(res));
			res.status = GD_STATUS_OK;
			(void)smtp_save_done(&s, &res);
			break;
		}
		if (s.state != SMTP_S_DATA) {
			/* refused: 552 or 550, back to commands (or closing) */
			FZ_ASSERT(s.outlen >= 4);
			if (memcmp(s.out, "552", 3) == 0)
				FZ_ASSERT(wantlen > (size_t)cfg.max_size);
			else {
				FZ_ASSERT(memcmp(s.out, "550", 3) == 0);
				FZ_ASSERT(bare_lf && wantlen <=
				    (size_t)cfg.max_size);
			}
			/* back in command state the rest of the chunk may
			 * have been read as pipelined commands */
			if (s.state == SMTP_S_COMMAND)
				FZ_ASSERT(end > pos && end <= pos + n);
			refused = 1;
			break;
		}
		FZ_ASSERT(n == k);	/* data state consumes all */
		FZ_ASSERT(ev == SMTP_EV_NONE);
		smtp_drain(&s, s.outlen);
		pos += n;
	}
	if (end == 0)
		FZ_ASSERT(!saved && (!refused || s.state == SMTP_S_CLOSING));
	else if (!refused) {
		FZ_ASSERT(saved);
		FZ_ASSERT(wantlen <= (size_t)cfg.max_size);
		FZ_ASSERT(!(bare_lf && cfg.bare_lf == CFG_BARE_LF_REJECT));
	}
	free(want);
	env_free(&env);
	return 0;
}
