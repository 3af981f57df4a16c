/*
 * proxy.h - the PROXY protocol header that HAProxy and other balancers
 * send before the SMTP greeting (SMTP-05..08).  Version 1 (text) only;
 * a version 2 (binary) signature is recognised and refused.
 *
 * The parser is pure: bytes in, a result out, no allocation, no I/O.
 */
#ifndef GD_PROXY_H
#define GD_PROXY_H

#include <stddef.h>

#define PROXY_V1_MAX	107	/* octets including CRLF (SMTP-05) */

struct proxy_info {
	int	unknown;	/* "PROXY UNKNOWN": keep the socket peer */
	int	family;		/* 4 or 6 */
	char	src[46];	/* canonical text of the source address */
	char	dst[46];
	int	sport;
	int	dport;
};

/* proxy_parse_v1 - look for one complete v1 header at the start of buf.
 * Returns the header's length (consume it), 0 when more bytes are needed,
 * or -1 when the header is malformed, too long, of another version, or
 * names an address that is not in canonical form (SMTP-06/07). */
int	proxy_parse_v1(const char *buf, size_t len, struct proxy_info *out);

#endif
