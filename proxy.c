/*
 * proxy.c - PROXY protocol v1 and v2 header parsers (see proxy.h).  Its
 * own file because it is a grammar of its own, fed from the network before
 * any SMTP happens, and a fuzz target.
 *
 * v1 grammar: "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP
 * dport CRLF, or "PROXY UNKNOWN" [anything] CRLF; at most 107 octets.
 * [DEV] (SMTP-06) the address family must match the keyword and addresses
 * must be written canonically (what inet_ntop prints), ports plain
 * decimals.
 *
 * v2 layout: 12-octet signature, ver_cmd (0x20 LOCAL, 0x21 PROXY), fam
 * (address family << 4 | transport), a 16-bit big-endian length of what
 * follows, then the address block (INET 12, INET6 36, UNIX 216 octets) and
 * type-length-value records up to that length.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <string.h>

#include "proxy.h"

/* field - next SP-terminated field of [*p, end) into out; -1 if empty or
 * too long. */
static int
field(const char **p, const char *end, char *out, size_t size)
{
	const char *b = *p;
	size_t n;

	while (*p < end && **p != ' ')
		(*p)++;
	n = (size_t)(*p - b);
	if (n == 0 || n >= size)
		return -1;
	memcpy(out, b, n);
	out[n] = '\0';
	if (*p < end)
		(*p)++;		/* the separating space */
	return 0;
}

/* canonical_ip - inet_pton, and the text must be what inet_ntop prints. */
static int
canonical_ip(const char *s, int family)
{
	unsigned char bin[16];
	char back[46];
	int af = family == 4 ? AF_INET : AF_INET6;

	if (inet_pton(af, s, bin) != 1 ||
	    inet_ntop(af, bin, back, sizeof(back)) == NULL)
		return -1;
	return strcmp(s, back) == 0 ? 0 : -1;
}

static int
port(const char *s)
{
	int v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? v : -1;
}

int
proxy_parse_v1(const char *buf, size_t len, struct proxy_info *out)
{
	const char *lf, *p, *end;
	char proto[8], sp[8], dp[8];
	size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	/* a v2 signature starts with CR LF: refused here like any other
	 * bad prefix (SMTP-07) */
	if (memcmp(buf, "PROXY ", len < 6 ? len : 6) != 0)
		return -1;
	if ((lf = memchr(buf, '\n', n)) == NULL)
		return len >= PROXY_V1_MAX ? -1 : 0;
	if (lf == buf || lf[-1] != '\r' || lf - buf < 7)
		return -1;
	memset(out, 0, sizeof(*out));
	p = buf + 6;
	end = lf - 1;		/* the CR */
	if (field(&p, end, proto, sizeof(proto)) != 0)
		return -1;
	if (strcmp(proto, "UNKNOWN") == 0) {
		out->unknown = 1;
		return (int)(lf - buf) + 1;
	}
	if (strcmp(proto, "TCP4") == 0)
		out->family = 4;
	else if (strcmp(proto, "TCP6") == 0)
		out->family = 6;
	else
		return -1;
	if (field(&p, end, out->src, sizeof(out->src)) != 0 ||
	    field(&p, end, out->dst, sizeof(out->dst)) != 0 ||
	    field(&p, end, sp, sizeof(sp)) != 0 ||
	    field(&p, end, dp, sizeof(dp)) != 0 || p != end ||
	    end[-1] == ' ')
		return -1;
	if (canonical_ip(out->src, out->family) != 0 ||
	    canonical_ip(out->dst, out->family) != 0 ||
	    (out->sport = port(sp)) < 0 || (out->dport = port(dp)) < 0)
		return -1;
	return (int)(lf - buf) + 1;
}

static const unsigned char v2sig[PROXY_V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* v2_addr - one address of the block as text; IPv4-mapped IPv6 is shown
 * as IPv4 like a socket peer (server.c peer_text).  Returns 4 or 6. */
static int
v2_addr(const unsigned char *a, int family, char *out, size_t size)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	if (family == 6 && memcmp(a, mapped, 12) == 0) {
		a += 12;
		family = 4;
	}
	if (inet_ntop(family == 4 ? AF_INET : AF_INET6, a, out,
	    (socklen_t)size) == NULL)
		out[0] = '\0';
	return family;
}

int
proxy_parse_v2(const char *buf, size_t len, struct proxy_info *out)
{
	const unsigned char *u = (const unsigned char *)buf;
	size_t total, alen, off;
	int cmd;

	if (memcmp(u, v2sig, len < PROXY_V2_SIG_LEN ? len :
	    PROXY_V2_SIG_LEN) != 0)
		return -1;
	if (len < 13)
		return 0;
	if ((u[12] >> 4) != 2)		/* version */
		return -1;
	if ((cmd = u[12] & 0x0f) > 1)	/* 0 LOCAL, 1 PROXY */
		return -1;
	if (len < 14)
		return 0;
	switch (u[13]) {
	case 0x00:		/* AF_UNSPEC */
		alen = 0;
		break;
	case 0x11:		/* AF_INET, STREAM */
		alen = 12;
		break;
	case 0x21:		/* AF_INET6, STREAM */
		alen = 36;
		break;
	case 0x31:		/* AF_UNIX, STREAM or DGRAM */
	case 0x32:
		alen = 216;
		break;
	default:		/* 0x12, 0x22: DGRAM over IP is no SMTP
				 * client; the rest is invalid by the spec */
		if (cmd == 0)	/* LOCAL: the family is ignored */
			alen = 0;
		else
			return -1;
		break;
	}
	if (len < 16)
		return 0;
	total = 16 + ((size_t)u[14] << 8 | u[15]);
	if (total > PROXY_V2_MAX)
		return -1;
	if (cmd == 0)		/* LOCAL: whatever follows is skipped */
		alen = 0;
	if (total < 16 + alen)	/* the length must cover the addresses */
		return -1;
	if (len < total)
		return 0;
	/* TLVs: type, 16-bit length, value; they must fill the rest */
	if (cmd == 1 && alen > 0)
		for (off = 16 + alen; off < total;
		    off += 3 + ((size_t)u[off + 1] << 8 | u[off + 2]))
			if (total - off < 3 || total - off - 3 <
			    ((size_t)u[off + 1] << 8 | u[off + 2]))
				return -1;
	memset(out, 0, sizeof(*out));
	if (cmd == 0 || u[13] == 0x00 || (u[13] >> 4) == 3) {
		out->unknown = 1;
		return (int)total;
	}
	if (u[13] == 0x11) {
		out->family = v2_addr(u + 16, 4, out->src, sizeof(out->src));
		(void)v2_addr(u + 20, 4, out->dst, sizeof(out->dst));
		off = 24;
	} else {
		out->family = v2_addr(u + 16, 6, out->src, sizeof(out->src));
		(void)v2_addr(u + 32, 6, out->dst, sizeof(out->dst));
		off = 48;
	}
	out->sport = u[off] << 8 | u[off + 1];
	out->dport = u[off + 2] << 8 | u[off + 3];
	return (int)total;
}

int
proxy_parse(const char *buf, size_t len, struct proxy_info *out)
{
	if (len == 0)
		return 0;
	if (buf[0] == 'P')
		return proxy_parse_v1(buf, len, out);
	return proxy_parse_v2(buf, len, out);
}
