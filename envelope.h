/*
 * envelope.h - the envelope (SPEC 4): connection fields that live as long
 * as the session, and transaction fields that RSET clears (ENV-01..10).
 *
 * Ownership: one envelope per session, reused across transactions.  While
 * a job runs the worker owns it (ENV-10); the session touches it again
 * only after the job's completion has been delivered.  Addresses are
 * fixed-size so that parsing a command allocates nothing.
 */
#ifndef GD_ENVELOPE_H
#define GD_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "guerrilla.h"

#define ENV_LOCAL_MAX	128	/* octets, GG's limit (SMTP-35) */
#define ENV_DOMAIN_MAX	255
#define ENV_PATH_MAX	256	/* "<...>" including the brackets */
#define ENV_HELO_MAX	255
#define ENV_IP_MAX	46	/* INET6_ADDRSTRLEN */

/* ENV-05 */
struct gd_address {
	char		local[ENV_LOCAL_MAX + 1];	/* unquoted form */
	char		domain[ENV_DOMAIN_MAX + 1];	/* IP literal: IP text, no brackets */
	int		ip_family;	/* 0 = domain name, 4 or 6 = address literal */
	unsigned char	ip[16];
	int		null_path;	/* "<>" */
	int		quoted;		/* local part needs quoting when printed */
	int		bare_postmaster;/* "<postmaster>" (domain = host_name) */
	char		*adl;		/* source route as received, or NULL (owned) */
	char		*params;	/* ESMTP parameters as received, or NULL (owned) */
	char		*display_name;	/* only from header addresses, or NULL (owned) */
	int		display_quoted;
};

/* One parsed header field (ENV-07): canonical name, unfolded value. */
struct env_header {
	char	*name;
	char	*value;
};

/* A named value shared between processors (ENV-03 "values"). */
struct env_value {
	char	*key;
	void	*data;
	size_t	len;
};

/* data capacity env_reset keeps for the session's next transaction; a
 * bigger buffer is freed (or given back to the I/O loop's spares) */
#define ENV_KEEP_DATA	(64 * 1024)

struct gd_envelope {
	/* connection fields (ENV-02): survive RSET */
	char			remote_ip[ENV_IP_MAX + 1];
	int			remote_port;
	char			helo[ENV_HELO_MAX + 1];
	int			esmtp;
	int			tls;
	uint64_t		client_id;
	const char		*server_iface;	/* borrowed from the server config */

	/* transaction fields (ENV-03): cleared by env_reset */
	int			has_from;
	struct gd_address	from;
	struct gd_address	*rcpt;
	size_t			nrcpt;
	size_t			rcpt_cap;
	struct buf		data;		/* storage form (SMTP-47) */
	char			*delivery_header;	/* NULL = none */
	char			*subject;	/* decoded (ENV-08), NULL = none */
	struct env_header	*hdr;
	size_t			nhdr;
	int			headers_parsed;
	char			**hashes;
	size_t			nhashes;
	char			queued_id[65];
	struct env_value	*values;
	size_t			nvalues;
};

/*
 * Spare message buffers.  A message bigger than ENV_KEEP_DATA grows its
 * own buffer, which env_reset frees after the transaction; the allocator
 * then hands the pages back, and the next big message faults every page
 * in again and grows by doubling copies (together about half the CPU of a
 * flood of 1 MiB messages).  So each I/O loop keeps the buffers of saved
 * messages as spares, bounded in number and bytes, lends one to each
 * session that starts DATA, and frees them all once none was used for
 * ENV_SPARE_IDLE ms: a burst reuses its memory, an idle daemon does not
 * hold it.  A set belongs to one loop and is used by its thread alone.
 */
#define ENV_SPARE_MAX	8		/* buffers a set keeps ... */
#define ENV_SPARE_BYTES	(4u << 20)	/* ... at most this much of them ... */
#define ENV_SPARE_IDLE	5000		/* ... freed after this many ms unused */

struct env_spares {
	char	*buf[ENV_SPARE_MAX];
	size_t	 cap[ENV_SPARE_MAX];
	int	 n;
	size_t	 bytes;
	int64_t	 used;		/* last lend or put, ms (monotonic) */
};

/* env_spare_put - keep the saved message's big buffer (e's body is then
 * empty); env_spare_lend - a session starts DATA: give it a spare, if any;
 * env_spare_trim - free them all once unused for ENV_SPARE_IDLE (now =
 * INT64_MAX: at exit). */
void	env_spare_put(struct env_spares *sp, struct gd_envelope *e,
	    int64_t now);
void	env_spare_lend(struct env_spares *sp, struct gd_envelope *e,
	    int64_t now);
void	env_spare_trim(struct env_spares *sp, int64_t now);

/* env_make_queued_id - e->queued_id = the last 6 bytes of SHA-256 over
 * the hex text of now, the client id, counter and loop, as 12 lower-case
 * hex characters: unique enough to find a message in the logs, cheap
 * enough for every message. */
void	env_make_queued_id(struct gd_envelope *e, time_t now,
	    unsigned long long counter, unsigned loop);

void	env_init(struct gd_envelope *e);
/* env_reset - clear the transaction (ENV-04); keeps buffers' capacity
 * up to a small bound so that a pooled envelope stays small. */
void	env_reset(struct gd_envelope *e);
void	env_free(struct gd_envelope *e);

void	env_addr_clear(struct gd_address *a);	/* frees adl/params/display */
/* env_addr_print - GG's String() form (3.8 "Address printing"): returns
 * the length it needed (snprintf-like; truncated if >= size). */
size_t	env_addr_print(const struct gd_address *a, char *buf, size_t size);

/* env_set_from / env_add_rcpt - move *a into the envelope (a is cleared,
 * its owned strings now belong to the envelope).  0 or -1 (ENOMEM). */
int	env_set_from(struct gd_envelope *e, struct gd_address *a);
int	env_add_rcpt(struct gd_envelope *e, struct gd_address *a);
void	env_pop_rcpt(struct gd_envelope *e);

/* env_data_append - add decoded message bytes.  0 or -1 (ENOMEM). */
int	env_data_append(struct gd_envelope *e, const char *p, size_t n);

/* The rest of the envelope is read and written through guerrilla.h's
 * gd_env_* functions, by the built-in processors as by anyone's. */

/* ---- mime.c: header parsing and RFC 2047 (ENV-07/08, PROC-05) ---- */

/* mime_decode_words - ENV-08 decoding of a header value; returns a
 * malloc'd NUL-terminated string (NULL on ENOMEM). */
char	*mime_decode_words(const char *in, size_t len);
/* mime_canonical_name - "content-TYPE" -> "Content-Type" in place. */
void	mime_canonical_name(char *name);
/* mime_parse_address - PROC-05: first address of an RFC 5322 address
 * header ("Name <user@host>", "user@host", groups).  0 or -1. */
int	mime_parse_address(const char *in, struct gd_address *out);

#endif
