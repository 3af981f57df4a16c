/*
 * proxy.h - the PROXY protocol header that HAProxy and other balancers
 * send before the SMTP greeting (SMTP-05..08): version 1 (text) and
 * version 2 (binary), as HAProxy's proxy-protocol.txt describes them.
 * proxy_parse tells the two apart by their first bytes.
 *
 * The parsers are pure: bytes in, a result out, no allocation, no I/O.
 */
#ifndef GD_PROXY_H
#define GD_PROXY_H

#include <stddef.h>

#define PROXY_V1_MAX	107	/* octets including CRLF (SMTP-05) */
#define PROXY_V2_SIG_LEN 12	/* "\r\n\r\n\0\r\nQUIT\n" */
#define PROXY_V2_MAX	1024	/* whole v2 header: 16 fixed octets, the
				 * address block and TLVs; larger is refused.
				 * HAProxy's own headers (addresses, ALPN,
				 * authority, SSL and unique-id TLVs) fit. */

struct proxy_info {
	int	unknown;	/* keep the socket peer: v1 "PROXY UNKNOWN";
				 * v2 LOCAL, or PROXY over AF_UNSPEC/AF_UNIX */
	int	family;		/* 4 or 6 (v2: IPv4-mapped IPv6 gives 4) */
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

/* proxy_parse_v2 - the same for one binary v2 header: version 2 only;
 * command LOCAL keeps the peer; command PROXY with AF_INET/AF_INET6 over
 * STREAM gives the source address and port, AF_UNSPEC and AF_UNIX keep the
 * peer; other families and DGRAM over INET/INET6 are refused.  The
 * declared length must cover the address block, the TLVs after it must
 * fill the rest exactly (their contents are skipped), and the whole header
 * must fit in PROXY_V2_MAX octets. */
int	proxy_parse_v2(const char *buf, size_t len, struct proxy_info *out);

/* proxy_parse - "PROXY " starts a v1 header, the 12-octet signature a v2
 * one; a prefix of either (even a partial signature) needs more bytes (0),
 * anything else is -1.  Returns as the two above. */
int	proxy_parse(const char *buf, size_t len, struct proxy_info *out);

#endif
