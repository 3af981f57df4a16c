/*
 * compat.c - small replacements for libc functions that are not everywhere
 * (see compat.h).  Each is written here from its manual page; none blocks.
 */
#define GD_COMPAT_FULL_LIBC	/* see compat.h: setgroups() */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE	1	/* glibc declares accept4() only with it */
#endif
#include "compat.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* gd_strlcpy - as OpenBSD strlcpy(3). */
size_t
gd_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

size_t
gd_cat(char *buf, size_t size, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, size);
	n = gd_vcat(buf, size, ap);
	va_end(ap);
	return n;
}

size_t
gd_vcat(char *buf, size_t size, va_list ap)
{
	const char *s;
	size_t n = 0;

	while ((s = va_arg(ap, const char *)) != NULL) {
		size_t k = strlen(s);
		if (n < size) {
			size_t c = k < size - n ? k : size - n;
			memcpy(buf + n, s, c);
		}
		n += k;
	}
	if (size > 0)
		buf[n < size ? n : size - 1] = '\0';
	return n;
}

/* digits - v in base 10 or 16 (lower case) at p, no NUL; the end.  The
 * callers pass the base as a constant, so each gets its own division. */
static inline char *
digits(char *p, unsigned long long v, unsigned base)
{
	static const char d[] = "0123456789abcdef";
	char t[20];	/* 2^64 - 1 has 20 decimal digits */
	int n = 0;

	do {
		t[n++] = d[v % base];
		v /= base;
	} while (v != 0);
	while (n > 0)
		*p++ = t[--n];
	return p;
}

char *
gd_dec(char *p, unsigned long long v)
{
	return digits(p, v, 10);
}

void
gd_ipv4_text(const unsigned char *a, char *buf)
{
	int i;

	for (i = 0; i < 4; i++) {
		buf = gd_dec(buf, a[i]);
		*buf++ = i < 3 ? '.' : '\0';
	}
}

/* two digits of v (0..99) at p */
static char *
dec2(char *p, int v)
{
	*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* rfc3339_fmt - format t for gd_rfc3339 (which calls it once a second). */
static void
rfc3339_fmt(time_t t, char *out)
{
	struct tm tm;
	char z[16], *p = out;

	if (localtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900) {
		gd_strlcpy(out, "1970-01-01T00:00:00Z", GD_RFC3339_LEN);
		return;
	}
	p = dec2(p, (tm.tm_year + 1900) / 100);
	p = dec2(p, (tm.tm_year + 1900) % 100);
	*p++ = '-';
	p = dec2(p, tm.tm_mon + 1);
	*p++ = '-';
	p = dec2(p, tm.tm_mday);
	*p++ = 'T';
	p = dec2(p, tm.tm_hour);
	*p++ = ':';
	p = dec2(p, tm.tm_min);
	*p++ = ':';
	p = dec2(p, tm.tm_sec);
	/* "%z" is +hhmm or -hhmm; Go writes Z for a zero offset */
	if (strftime(z, sizeof(z), "%z", &tm) != 5 ||
	    memcmp(z + 1, "0000", 4) == 0)
		*p++ = 'Z';
	else {
		*p++ = z[0];
		*p++ = z[1];
		*p++ = z[2];
		*p++ = ':';
		*p++ = z[3];
		*p++ = z[4];
	}
	*p = '\0';
}

void
gd_rfc3339(time_t t, char *buf, size_t size)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static time_t last_t;
	static char last[GD_RFC3339_LEN], zone[2][16];
	int i, same;

	pthread_mutex_lock(&mu);
	/* keyed on the zone's names too: a program that embeds us and
	 * calls tzset() for another TZ sees the change within the second */
	same = t == last_t && last[0] != '\0';
	for (i = 0; i < 2; i++) {
		const char *z = tzname[i] != NULL ? tzname[i] : "";
		if (strncmp(zone[i], z, sizeof(zone[i]) - 1) != 0) {
			gd_strlcpy(zone[i], z, sizeof(zone[i]));
			same = 0;
		}
	}
	if (!same) {
		rfc3339_fmt(t, last);
		last_t = t;
	}
	gd_strlcpy(buf, last, size);
	pthread_mutex_unlock(&mu);
}

char *
gd_hex(char *p, unsigned long long v)
{
	return digits(p, v, 16);
}

int
gd_strncasecmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; n--, a++, b++) {
		int ca = gd_tolower((unsigned char)*a);
		int cb = gd_tolower((unsigned char)*b);
		if (ca != cb)
			return ca - cb;
		if (ca == 0)
			return 0;
	}
	return 0;
}

int
gd_strcasecmp(const char *a, const char *b)
{
	return gd_strncasecmp(a, b, (size_t)-1);
}

int
gd_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = gd_tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* gd_reallocarray - as OpenBSD reallocarray(3). */
void *
gd_reallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	return realloc(p, n * size);
}

char *
gd_strdup(const char *s)
{
	return gd_memdup(s, strlen(s));
}

char *
gd_memdup(const void *p, size_t n)
{
	char *d;

	if (n == SIZE_MAX || (d = malloc(n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

int64_t
gd_now_ms(void)
{
	return gd_now_us() / 1000;
}

int64_t
gd_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
gd_hostname(char *buf, size_t size)
{
	if (size == 0)
		return;
	if (gethostname(buf, size) != 0 || buf[0] == '\0')
		gd_strlcpy(buf, "localhost", size);
	buf[size - 1] = '\0';
}

void
gd_nosigpipe(int fd)
{
#ifdef SO_NOSIGPIPE
	int one = 1;

	(void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
	(void)fd;
#endif
}

int
gd_drop_privileges(const char *user, const char *group, char *err,
    size_t errlen)
{
	struct passwd *pw = NULL;
	struct group *gr;
	gid_t gid;

	if (user == NULL && group == NULL)
		return 0;
	if (user != NULL && (pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "unknown user \"%s\"", user);
		return -1;
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, errlen, "unknown group \"%s\"", group);
			return -1;
		}
		gid = gr->gr_gid;
	} else
		gid = pw->pw_gid;
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0) {
		snprintf(err, errlen, "cannot switch to group %ld: %s",
		    (long)gid, strerror(errno));
		return -1;
	}
	if (pw != NULL) {
		if (setuid(pw->pw_uid) != 0) {
			snprintf(err, errlen, "cannot switch to user %s: %s",
			    user, strerror(errno));
			return -1;
		}
		if (pw->pw_uid != 0 && setuid(0) == 0) {
			snprintf(err, errlen, "could regain root after "
			    "switching to %s", user);
			return -1;
		}
	}
	return 0;
}

int
gd_accept_nb(int lfd, struct sockaddr *sa, socklen_t *sl)
{
	int fd;

#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
	/* Linux and the BSDs: one call instead of three more */
	fd = accept4(lfd, sa, sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0 || errno != ENOSYS)
		return fd;
#endif
	if ((fd = accept(lfd, sa, sl)) < 0)
		return -1;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {	/* a fresh socket: no
							 * other status flags */
		int e = errno;
		(void)close(fd);
		errno = e;
		return -1;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}
