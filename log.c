/*
 * log.c - levelled logging (LOG-01..05): one line per entry in the form
 *   time="2024-06-06T12:00:00+02:00" level=info msg="text"
 * written with a single write(2) so lines from worker threads never mix.
 *
 * The fd is swapped under a mutex on reopen (OPS-10); writers take the
 * mutex only to read the fd, never while formatting.  No fsync (LOG-03).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct logger {
	pthread_mutex_t	mu;	/* protects fd during reopen */
	int		fd;	/* -1 = off */
	int		own;	/* fd is a file we opened */
	enum log_level	level;
	char		*dest;
	void		(*hook)(void *, int, const char *);
	void		*hook_user;
	int		hook_also_dest;
};

static const char *const level_names[] = {
	"debug", "info", "warning", "error", "fatal", "panic"
};

int
log_parse_level(const char *name)
{
	size_t i;

	if (gd_strcasecmp(name, "warn") == 0)
		return LOGL_WARN;
	for (i = 0; i < NELEM(level_names); i++)
		if (gd_strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

static int
open_dest(const char *dest, int *own, char *err, size_t errlen)
{
	int fd;

	*own = 0;
	if (dest[0] == '\0' || strcmp(dest, "stderr") == 0)
		return STDERR_FILENO;
	if (strcmp(dest, "stdout") == 0)
		return STDOUT_FILENO;
	if (strcmp(dest, "off") == 0)
		return -1;
	fd = open(dest, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open log file %s: %s", dest,
		    strerror(errno));
		return -2;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	*own = 1;
	return fd;
}

struct logger *
log_open(const char *dest, enum log_level level, char *err, size_t errlen)
{
	struct logger *lg;

	if ((lg = calloc(1, sizeof(*lg))) == NULL ||
	    (lg->dest = gd_strdup(dest ? dest : "stderr")) == NULL) {
		free(lg);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	lg->fd = open_dest(lg->dest, &lg->own, err, errlen);
	if (lg->fd == -2) {
		free(lg->dest);
		free(lg);
		return NULL;
	}
	lg->level = level;
	pthread_mutex_init(&lg->mu, NULL);
	return lg;
}

int
log_reopen(struct logger *lg, char *err, size_t errlen)
{
	int own, fd, old, oldown;

	if (lg == NULL)
		return 0;
	fd = open_dest(lg->dest, &own, err, errlen);
	if (fd == -2)
		return -1;
	pthread_mutex_lock(&lg->mu);
	old = lg->fd;
	oldown = lg->own;
	lg->fd = fd;
	lg->own = own;
	pthread_mutex_unlock(&lg->mu);
	if (oldown)
		(void)close(old);
	return 0;
}

int
log_retarget(struct logger *lg, const char *dest, char *err, size_t errlen)
{
	int own, fd, old, oldown;
	char *nd, *od;

	if (lg == NULL)
		return 0;
	if ((nd = gd_strdup(dest)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fd = open_dest(nd, &own, err, errlen);
	if (fd == -2) {
		free(nd);
		return -1;
	}
	pthread_mutex_lock(&lg->mu);
	old = lg->fd;
	oldown = lg->own;
	od = lg->dest;
	lg->fd = fd;
	lg->own = own;
	lg->dest = nd;
	pthread_mutex_unlock(&lg->mu);
	if (oldown)
		(void)close(old);
	free(od);
	return 0;
}

void
log_close(struct logger *lg)
{
	if (lg == NULL)
		return;
	if (lg->own)
		(void)close(lg->fd);
	pthread_mutex_destroy(&lg->mu);
	free(lg->dest);
	free(lg);
}

/* The level, fd and hook change while other threads log (reload, reopen):
 * every access is under mu. */
void
log_set_level(struct logger *lg, enum log_level level)
{
	if (lg == NULL)
		return;
	pthread_mutex_lock(&lg->mu);
	lg->level = level;
	pthread_mutex_unlock(&lg->mu);
}

void
log_set_hook(struct logger *lg, void (*fn)(void *, int, const char *),
    void *user, int also_dest)
{
	if (lg == NULL)
		return;
	pthread_mutex_lock(&lg->mu);
	lg->hook = fn;
	lg->hook_user = user;
	lg->hook_also_dest = also_dest;
	pthread_mutex_unlock(&lg->mu);
}

enum log_level
log_get_level(const struct logger *lg)
{
	struct logger *l = (struct logger *)(uintptr_t)lg;	/* mu only */
	enum log_level v;

	if (l == NULL)
		return LOGL_INFO;
	pthread_mutex_lock(&l->mu);
	v = l->level;
	pthread_mutex_unlock(&l->mu);
	return v;
}

const char *
log_dest(const struct logger *lg)
{
	return lg != NULL ? lg->dest : "off";
}

/* log_escape - see log.h.  Always leaves room for the "..." marker. */
char *
log_escape(char *dst, size_t dstlen, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (dstlen == 0)
		return dst;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		char tmp[4];
		size_t k = 0;

		switch (c) {
		case '\r': tmp[k++] = '\\'; tmp[k++] = 'r'; break;
		case '\n': tmp[k++] = '\\'; tmp[k++] = 'n'; break;
		case '\t': tmp[k++] = '\\'; tmp[k++] = 't'; break;
		case '"': tmp[k++] = '\\'; tmp[k++] = '"'; break;
		case '\\': tmp[k++] = '\\'; tmp[k++] = '\\'; break;
		default:
			if (c < 0x20 || c >= 0x7f) {
				tmp[k++] = '\\';
				tmp[k++] = 'x';
				tmp[k++] = hex[c >> 4];
				tmp[k++] = hex[c & 15];
			} else
				tmp[k++] = (char)c;
		}
		if (o + k + 4 > dstlen) {
			if (dstlen >= 4) {
				o = o + 3 < dstlen ? o : dstlen - 4;
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, tmp, k);
		o += k;
	}
	dst[o < dstlen ? o : dstlen - 1] = '\0';
	return dst;
}

void
log_vmsg(struct logger *lg, enum log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], esc[LOG_LINE_MAX], line[LOG_LINE_MAX + 128];
	char ts[GD_RFC3339_LEN];
	int n, fd, to_dest;
	void (*hook)(void *, int, const char *);
	void *hook_user;

	if (lg == NULL)
		return;
	pthread_mutex_lock(&lg->mu);
	hook = lg->hook;
	hook_user = lg->hook_user;
	to_dest = lg->fd >= 0 && (hook == NULL || lg->hook_also_dest);
	n = level >= lg->level && (to_dest || hook != NULL);
	pthread_mutex_unlock(&lg->mu);
	if (!n)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	log_escape(esc, sizeof(esc), msg,
	    (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	if (hook != NULL)
		hook(hook_user, (int)level, esc);
	if (!to_dest)
		return;
	gd_rfc3339(time(NULL), ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "time=\"%s\" level=%s msg=\"%s\"\n",
	    ts, level_names[level], esc);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	pthread_mutex_lock(&lg->mu);
	fd = lg->fd;
	{
		const char *p = line;
		size_t left = (size_t)n;
		while (left > 0) {
			ssize_t w = write(fd, p, left);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			p += w;
			left -= (size_t)w;
		}
	}
	pthread_mutex_unlock(&lg->mu);
}

void
log_msg(struct logger *lg, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lg, level, fmt, ap);
	va_end(ap);
}
