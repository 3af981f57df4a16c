/* t_proxy - the PROXY v1 and v2 header parsers (SMTP-05..08). */
#include "../compat.h"

#include <string.h>

#include "proxy.h"
#include "t.h"

static int
parse(const char *s, struct proxy_info *pi)
{
	return proxy_parse_v1(s, strlen(s), pi);
}

static void
tcp4_ok(void)
{
	struct proxy_info pi;
	const char *h = "PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\nEHLO x\r\n";

	CHECK(parse(h, &pi) == 41);
	CHECK(pi.family == 4 && !pi.unknown);
	CHECK_STR(pi.src, "192.0.2.7");
	CHECK_STR(pi.dst, "127.0.0.1");
	CHECK(pi.sport == 40000 && pi.dport == 25);
}

static void
tcp6_ok(void)
{
	struct proxy_info pi;

	CHECK(parse("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", &pi) > 0);
	CHECK(pi.family == 6);
	CHECK_STR(pi.src, "2001:db8::1");
	CHECK(pi.sport == 65535 && pi.dport == 0);
}

static void
unknown_ok(void)
{
	struct proxy_info pi;

	CHECK(parse("PROXY UNKNOWN\r\n", &pi) == 15 && pi.unknown);
	CHECK(parse("PROXY UNKNOWN ffff:f::1 ffff::2 1 2\r\n", &pi) > 0 &&
	    pi.unknown);
}

static void
incomplete_needs_more(void)
{
	struct proxy_info pi;
	const char *h = "PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n";
	size_t i;

	for (i = 0; i < strlen(h); i++)
		CHECK(proxy_parse_v1(h, i, &pi) == 0);
	CHECK(proxy_parse_v1(h, strlen(h), &pi) > 0);
}

static void
malformed_refused(void)
{
	static const char *const bad[] = {
		"PROXY TCP4\r\n",			/* GAP-10 crash in GG */
		"PROXY TCP4 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",	/* bare LF */
		"PROXY TCP4 ::1 ::1 1 2\r\n",		/* family mismatch */
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",	/* not canonical */
		"PROXY TCP6 2001:DB8::1 ::1 1 2\r\n",
		"PROXY TCP6 2001:db8:0::1 ::1 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"EHLO example.com\r\n",
		"\r\n\r\n\0\r\nQUIT\n",			/* a v2 signature */
	};
	struct proxy_info pi;
	size_t i;

	for (i = 0; i < NELEM(bad); i++) {
		size_t len = strlen(bad[i]);
		if (i == NELEM(bad) - 1)
			len = 12;
		if (proxy_parse_v1(bad[i], len, &pi) != -1) {
			printf("     accepted: case %zu\n", i);
			CHECK(!"malformed header accepted");
		}
	}
}

static void
too_long_refused(void)
{
	char h[200];
	struct proxy_info pi;

	memset(h, 'x', sizeof(h));
	memcpy(h, "PROXY UNKNOWN ", 14);
	CHECK(proxy_parse_v1(h, PROXY_V1_MAX - 1, &pi) == 0);
	CHECK(proxy_parse_v1(h, PROXY_V1_MAX, &pi) == -1);
	h[PROXY_V1_MAX - 2] = '\r';	/* exactly 107 octets with CRLF */
	h[PROXY_V1_MAX - 1] = '\n';
	CHECK(proxy_parse_v1(h, sizeof(h), &pi) == PROXY_V1_MAX);
}

/* ---- v2 (binary) ---- */

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* v2 - build a header in h: signature, ver_cmd, fam, the length of body
 * (or len_override when >= 0), then body.  Returns the header's size. */
static size_t
v2(unsigned char *h, int ver_cmd, int fam, const void *body, size_t blen,
    long len_override)
{
	size_t l = len_override >= 0 ? (size_t)len_override : blen;

	memcpy(h, SIG, 12);
	h[12] = (unsigned char)ver_cmd;
	h[13] = (unsigned char)fam;
	h[14] = (unsigned char)(l >> 8);
	h[15] = (unsigned char)(l & 0xff);
	memcpy(h + 16, body, blen);
	return 16 + blen;
}

static const unsigned char inet4[12] = {
	192, 0, 2, 7,  127, 0, 0, 1,  0x9c, 0x40,  0, 25	/* 40000, 25 */
};

static const unsigned char inet6[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0xff, 0xff,  0x01, 0xbb				/* 65535, 443 */
};

static int
p2(const unsigned char *h, size_t n, struct proxy_info *pi)
{
	return proxy_parse((const char *)h, n, pi);
}

static void
v2_ipv4(void)
{
	unsigned char h[64];
	struct proxy_info pi;
	size_t n = v2(h, 0x21, 0x11, inet4, sizeof(inet4), -1);

	CHECK(n == 28);
	memset(&pi, 0x5a, sizeof(pi));
	CHECK(p2(h, n, &pi) == 28);
	CHECK(!pi.unknown && pi.family == 4);
	CHECK_STR(pi.src, "192.0.2.7");
	CHECK_STR(pi.dst, "127.0.0.1");
	CHECK(pi.sport == 40000 && pi.dport == 25);
	CHECK(proxy_parse_v2((const char *)h, n, &pi) == 28);
}

static void
v2_ipv6(void)
{
	unsigned char h[64], b[36];
	struct proxy_info pi;
	size_t n = v2(h, 0x21, 0x21, inet6, sizeof(inet6), -1);

	CHECK(p2(h, n, &pi) == 52);
	CHECK(!pi.unknown && pi.family == 6);
	CHECK_STR(pi.src, "2001:db8::1");
	CHECK_STR(pi.dst, "::1");
	CHECK(pi.sport == 65535 && pi.dport == 443);
	/* IPv4-mapped source: shown as IPv4, like a socket peer */
	memcpy(b, inet6, sizeof(b));
	memset(b, 0, 16);
	b[10] = b[11] = 0xff;
	b[12] = 198; b[13] = 51; b[14] = 100; b[15] = 9;
	n = v2(h, 0x21, 0x21, b, sizeof(b), -1);
	CHECK(p2(h, n, &pi) == 52);
	CHECK(pi.family == 4);
	CHECK_STR(pi.src, "198.51.100.9");
	CHECK_STR(pi.dst, "::1");
}

static void
v2_local_unspec_unix(void)
{
	unsigned char h[400], u[216];
	struct proxy_info pi;
	size_t n;

	/* LOCAL (HAProxy's health checks): keep the peer, whatever the
	 * family and the bytes that follow */
	n = v2(h, 0x20, 0x00, "", 0, -1);
	CHECK(p2(h, n, &pi) == 16 && pi.unknown);
	n = v2(h, 0x20, 0x11, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == 28 && pi.unknown);
	n = v2(h, 0x20, 0xff, "xy", 2, -1);
	CHECK(p2(h, n, &pi) == 18 && pi.unknown);
	/* PROXY over AF_UNSPEC: keep the peer, skip what follows */
	n = v2(h, 0x21, 0x00, "", 0, -1);
	CHECK(p2(h, n, &pi) == 16 && pi.unknown);
	n = v2(h, 0x21, 0x00, "abcde", 5, -1);
	CHECK(p2(h, n, &pi) == 21 && pi.unknown);
	/* AF_UNIX: keep the peer; the block is 216 octets */
	memset(u, 0, sizeof(u));
	memcpy(u, "/run/a.sock", 11);
	n = v2(h, 0x21, 0x31, u, sizeof(u), -1);
	CHECK(p2(h, n, &pi) == 232 && pi.unknown);
	n = v2(h, 0x21, 0x32, u, sizeof(u), -1);
	CHECK(p2(h, n, &pi) == 232 && pi.unknown);
	n = v2(h, 0x21, 0x31, u, 200, -1);	/* too short a block */
	CHECK(p2(h, n, &pi) == -1);
}

static void
v2_tlvs(void)
{
	unsigned char b[200], h[300];
	struct proxy_info pi;
	size_t bl = sizeof(inet4), n;

	memcpy(b, inet4, bl);
	/* PP2_TYPE_ALPN "smtp", PP2_TYPE_NOOP empty, PP2_TYPE_UNIQUE_ID */
	memcpy(b + bl, "\x01\x00\x04smtp", 7);
	bl += 7;
	memcpy(b + bl, "\x04\x00\x00", 3);
	bl += 3;
	memcpy(b + bl, "\x05\x00\x03id1", 6);
	bl += 6;
	n = v2(h, 0x21, 0x11, b, bl, -1);
	CHECK(p2(h, n, &pi) == (int)n && n == 44);
	CHECK_STR(pi.src, "192.0.2.7");
	/* a TLV running past the declared length */
	n = v2(h, 0x21, 0x11, b, bl, (long)bl - 1);
	CHECK(p2(h, n, &pi) == -1);
	/* a TLV header cut short (two octets left over) */
	n = v2(h, 0x21, 0x11, b, sizeof(inet4) + 2, -1);
	CHECK(p2(h, n, &pi) == -1);
	/* a TLV value declared longer than the rest */
	memcpy(b + sizeof(inet4), "\x01\x00\x09smtp", 7);
	n = v2(h, 0x21, 0x11, b, sizeof(inet4) + 7, -1);
	CHECK(p2(h, n, &pi) == -1);
}

static void
v2_byte_by_byte(void)
{
	unsigned char b[100], h[200];
	struct proxy_info pi;
	size_t n, i;

	memcpy(b, inet6, sizeof(inet6));
	memcpy(b + sizeof(inet6), "\x02\x00\x0b" "example.com", 14);
	n = v2(h, 0x21, 0x21, b, sizeof(inet6) + 14, -1);
	for (i = 0; i < n; i++)
		if (p2(h, i, &pi) != 0) {
			printf("     prefix %zu: not 0\n", i);
			CHECK(!"a prefix was not 'need more'");
			break;
		}
	CHECK(p2(h, n, &pi) == (int)n);
	CHECK_STR(pi.src, "2001:db8::1");
}

static void
v2_then_smtp(void)
{
	unsigned char h[100];
	struct proxy_info pi;
	size_t n = v2(h, 0x21, 0x11, inet4, sizeof(inet4), -1);

	memcpy(h + n, "EHLO x\r\nQUIT\r\n", 14);
	CHECK(p2(h, n + 14, &pi) == (int)n);
	CHECK(memcmp(h + n, "EHLO", 4) == 0);
	CHECK_STR(pi.src, "192.0.2.7");
	/* a header that is followed by another v2 signature: one only */
	memcpy(h + n, SIG, 12);
	CHECK(p2(h, n + 12, &pi) == (int)n);
}

static void
v2_refused(void)
{
	unsigned char h[2048], big[1100];
	struct proxy_info pi;
	size_t n;

	/* bad version (1, 3, 0) with a valid command */
	n = v2(h, 0x11, 0x11, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == -1);
	CHECK(p2(h, 13, &pi) == -1);	/* known from the 13th octet */
	n = v2(h, 0x31, 0x11, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == -1);
	n = v2(h, 0x01, 0x11, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == -1);
	/* bad command */
	n = v2(h, 0x22, 0x11, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == -1);
	n = v2(h, 0x2f, 0x11, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == -1);
	/* bad family / transport with PROXY */
	n = v2(h, 0x21, 0x41, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == -1);
	CHECK(p2(h, 14, &pi) == -1);	/* known from the 14th octet */
	n = v2(h, 0x21, 0x10, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == -1);
	n = v2(h, 0x21, 0x13, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n, &pi) == -1);
	n = v2(h, 0x21, 0x12, inet4, sizeof(inet4), -1);	/* UDP */
	CHECK(p2(h, n, &pi) == -1);
	n = v2(h, 0x21, 0x22, inet6, sizeof(inet6), -1);
	CHECK(p2(h, n, &pi) == -1);
	n = v2(h, 0x21, 0x01, "", 0, -1);
	CHECK(p2(h, n, &pi) == -1);
	/* the length does not cover the address block */
	n = v2(h, 0x21, 0x11, inet4, 11, -1);
	CHECK(p2(h, n, &pi) == -1);
	CHECK(p2(h, 16, &pi) == -1);	/* known from the length field */
	n = v2(h, 0x21, 0x21, inet6, sizeof(inet6), 12);
	CHECK(p2(h, n, &pi) == -1);
	/* truncated: the declared length has not arrived (need more) and
	 * never will be more than PROXY_V2_MAX */
	n = v2(h, 0x21, 0x11, inet4, sizeof(inet4), -1);
	CHECK(p2(h, n - 1, &pi) == 0);
	/* oversize: refused as soon as the length is read */
	memset(big, 0, sizeof(big));
	memcpy(big, inet4, sizeof(inet4));
	big[12] = 4;				/* NOOP TLV filling the rest */
	big[13] = (unsigned char)((PROXY_V2_MAX - 16 - 12 - 3) >> 8);
	big[14] = (unsigned char)((PROXY_V2_MAX - 16 - 12 - 3) & 0xff);
	n = v2(h, 0x21, 0x11, big, PROXY_V2_MAX - 16, -1);
	CHECK(n == PROXY_V2_MAX && p2(h, n, &pi) == PROXY_V2_MAX);
	big[14]++;
	n = v2(h, 0x21, 0x11, big, PROXY_V2_MAX - 15, -1);
	CHECK(p2(h, n, &pi) == -1);
	CHECK(p2(h, 16, &pi) == -1);
	n = v2(h, 0x21, 0x11, big, 0, 0xffff);
	CHECK(p2(h, 16, &pi) == -1);
	/* a broken signature, at any octet */
	for (n = 0; n < 12; n++) {
		v2(h, 0x21, 0x11, inet4, sizeof(inet4), -1);
		h[n] ^= 0x20;
		if (p2(h, 28, &pi) != -1 || p2(h, n + 1, &pi) != -1) {
			printf("     signature octet %zu\n", n);
			CHECK(!"broken signature accepted");
		}
	}
	/* neither version */
	CHECK(proxy_parse("EHLO x\r\n", 8, &pi) == -1);
	CHECK(proxy_parse("\r\n\r\nQUIT\r\n", 10, &pi) == -1);
	CHECK(proxy_parse("\n", 1, &pi) == -1);
	/* the v1 parser alone still refuses a v2 header */
	n = v2(h, 0x21, 0x11, inet4, sizeof(inet4), -1);
	CHECK(proxy_parse_v1((const char *)h, n, &pi) == -1);
}

static void
dispatch_partial(void)
{
	struct proxy_info pi;
	size_t i;

	/* a partial signature or "PROXY " prefix needs more bytes */
	CHECK(proxy_parse("", 0, &pi) == 0);
	for (i = 1; i <= 12; i++)
		CHECK(proxy_parse(SIG, i, &pi) == 0);
	for (i = 1; i <= 6; i++)
		CHECK(proxy_parse("PROXY ", i, &pi) == 0);
	/* v1 through the one entry point */
	CHECK(proxy_parse("PROXY TCP4 192.0.2.7 127.0.0.1 1 2\r\nEHLO",
	    40, &pi) == 36);
	CHECK_STR(pi.src, "192.0.2.7");
	CHECK(proxy_parse("PROXY UNKNOWN\r\n", 15, &pi) == 15 && pi.unknown);
	CHECK(proxy_parse("PROXY TCP4\r\n", 12, &pi) == -1);
}

int
main(void)
{
	RUN(tcp4_ok);
	RUN(tcp6_ok);
	RUN(unknown_ok);
	RUN(incomplete_needs_more);
	RUN(malformed_refused);
	RUN(too_long_refused);
	RUN(v2_ipv4);
	RUN(v2_ipv6);
	RUN(v2_local_unspec_unix);
	RUN(v2_tlvs);
	RUN(v2_byte_by_byte);
	RUN(v2_then_smtp);
	RUN(v2_refused);
	RUN(dispatch_partial);
	return T_DONE();
}
