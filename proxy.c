/*
 * proxy.c - PROXY protocol v1 header parser (see proxy.h).  Its own file
 * because it is a grammar of its own, fed from the network before any SMTP
 * happens, and a fuzz target.
 *
 * Grammar: "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport
 * CRLF, or "PROXY UNKNOWN" [anything] CRLF; at most 107 octets.  [DEV]
 * (SMTP-06) the address family must match the keyword and addresses must
 * be written canonically (what inet_ntop prints), ports plain decimals.
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
