/*
 * compat.h - the one place for feature-test macros and portability shims.
 *
 * Every .c file of guerrillad includes this first, before any system header,
 * so that the whole tree sees the same POSIX.1-2008 environment.  Nothing
 * else in the tree may carry an OS #ifdef; replacements for functions some
 * libcs lack live in compat.c.
 */
#ifndef GD_COMPAT_H
#define GD_COMPAT_H

/* compat.c alone asks for the platform's whole libc (GD_COMPAT_FULL_LIBC)
 * because setgroups() is in no POSIX edition. */
#if defined(GD_COMPAT_FULL_LIBC)
#define _DEFAULT_SOURCE	1	/* glibc, musl; the BSDs show all by default */
#elif !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* send() flag that stops SIGPIPE on a dead peer (POSIX.1-2008); where it
 * is missing (macOS) gd_nosigpipe() sets SO_NOSIGPIPE on the socket. */
#ifdef MSG_NOSIGNAL
#define GD_MSG_NOSIGNAL	MSG_NOSIGNAL
#else
#define GD_MSG_NOSIGNAL	0
#endif

/* send() flag that holds a segment back for more (Linux): the last reply
 * before close() then leaves in one segment with the FIN.  0 elsewhere. */
#ifdef MSG_MORE
#define GD_MSG_MORE	MSG_MORE
#else
#define GD_MSG_MORE	0
#endif

/* Number of elements of a true array (never a pointer). */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* strlcpy-style copy: always NUL-terminates (when size > 0); returns
 * strlen(src) so the caller can detect truncation (result >= size).
 * After OpenBSD's strlcpy(3); written here because glibc lacks it. */
size_t	gd_strlcpy(char *dst, const char *src, size_t size);

/* gd_cat - buf = the strings that follow, up to a NULL, concatenated;
 * always NUL-terminated (when size > 0).  Returns the full length, so a
 * result >= size means it was cut (as gd_strlcpy).  For the per-message
 * paths, where snprintf("%s...") costs ten times as much. */
size_t	gd_cat(char *buf, size_t size, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((__sentinel__))
#endif
    ;

size_t	gd_vcat(char *buf, size_t size, va_list ap);	/* gd_cat's body */

/* gd_dec - v in decimal at p (at most 20 characters, no NUL); returns
 * the end. */
char	*gd_dec(char *p, unsigned long long v);

/* gd_hex - v in lower-case hex without leading zeros at p (at most 16
 * characters, no NUL); returns the end. */
char	*gd_hex(char *p, unsigned long long v);

/* Case-insensitive ASCII comparisons that ignore the locale. */
int	gd_strcasecmp(const char *a, const char *b);
int	gd_strncasecmp(const char *a, const char *b, size_t n);

/* inline: the SMTP parser calls them per byte of every command verb */
static inline int
gd_tolower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static inline int
gd_toupper(int c)
{
	return (c >= 'a' && c <= 'z') ? c - ('a' - 'A') : c;
}

/* gd_hexval - the value of one hex digit (either case), -1 if none. */
int	gd_hexval(int c);

/* malloc that returns NULL on overflow of n * size. */
void	*gd_reallocarray(void *p, size_t n, size_t size);

/* strdup / strndup wrappers (POSIX.1-2008 has both; kept for symmetry). */
char	*gd_strdup(const char *s);
char	*gd_memdup(const void *p, size_t n);	/* adds a NUL after n bytes */

/* Monotonic clock in milliseconds. */
int64_t	gd_now_ms(void);
int64_t	gd_now_us(void);	/* the same clock in microseconds */

/* gd_rfc3339 - t as local time "2006-01-02T15:04:05-07:00" ("Z" for
 * UTC; Go's time.RFC3339) into buf (GD_RFC3339_LEN bytes suffice).  The
 * last second formatted is kept (thread-safe; also keyed on tzname[],
 * so a tzset() to another zone shows), so greeting every connection and
 * logging every line format the time once a second. */
#define GD_RFC3339_LEN	32
void	gd_rfc3339(time_t t, char *buf, size_t size);

/* gd_ipv4_text - the 4 bytes at a as dotted decimal (inet_ntop's text,
 * without its sprintf) into buf of at least 16 bytes. */
void	gd_ipv4_text(const unsigned char *a, char *buf);

/* gd_accept_nb - accept(2) a connection that is non-blocking and
 * close-on-exec (accept4 where there is one).  -1 with errno as accept. */
struct sockaddr;
int	gd_accept_nb(int lfd, struct sockaddr *sa, socklen_t *sl);

/* gd_nosigpipe - make writes to a dead socket fail with EPIPE instead of
 * raising SIGPIPE, where the platform has a per-socket switch for it. */
void	gd_nosigpipe(int fd);

/* gd_drop_privileges - switch to user/group (either may be NULL) after the
 * listeners are bound: supplementary groups, gid, then uid, and check that
 * root cannot be regained.  0, or -1 with err filled. */
int	gd_drop_privileges(const char *user, const char *group, char *err,
	    size_t errlen);

/* System host name into buf ("localhost" if it cannot be had). */
void	gd_hostname(char *buf, size_t size);

#endif
