/*
 * log.h - levelled, one-line-per-entry logging (LOG-01..05).
 *
 * A struct logger belongs to a daemon (ARCH-01: no process-global logger);
 * each server may have its own.  An entry is formatted into a stack buffer
 * and written with a single write(2) (LOG-03: no fsync), so concurrent
 * writers from worker threads never interleave inside a line.
 */
#ifndef GD_LOG_H
#define GD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOGL_DEBUG,
	LOGL_INFO,
	LOGL_WARN,
	LOGL_ERROR,
	LOGL_FATAL,
	LOGL_PANIC
};

#define LOG_LINE_MAX	4096	/* longer entries are truncated, marked "..." */

struct logger;

/* log_open - dest is "stderr", "stdout", "off", "" (= stderr) or a path
 * (opened O_APPEND|O_CREAT, mode 0644).  NULL with err filled on failure. */
struct logger	*log_open(const char *dest, enum log_level level,
		    char *err, size_t errlen);
/* log_reopen - close and reopen a file destination by name (OPS-10). */
int		 log_reopen(struct logger *lg, char *err, size_t errlen);
/* log_retarget - write to dest from now on (hot reload of log_file);
 * the logger object stays, so pointers to it stay valid.  On error the
 * old destination is kept.  Control thread only (log_dest readers). */
int		 log_retarget(struct logger *lg, const char *dest, char *err,
		    size_t errlen);
void		 log_close(struct logger *lg);
void		 log_set_level(struct logger *lg, enum log_level level);
/* log_set_hook - also (or, with also_dest = 0, only) hand each entry's
 * level and escaped text to fn (API-07).  NULL removes it. */
void		 log_set_hook(struct logger *lg,
		    void (*fn)(void *user, int level, const char *msg),
		    void *user, int also_dest);
enum log_level	 log_get_level(const struct logger *lg);
const char	*log_dest(const struct logger *lg);
/* log_parse_level - "debug" "info" "warning"/"warn" "error" "fatal" "panic";
 * -1 if unknown. */
int		 log_parse_level(const char *name);

/* log_msg - one entry.  fmt builds msg="..."; the text is escaped (quotes,
 * backslashes, control and 8-bit bytes as \xNN: LOG-05).  A NULL logger
 * drops the entry. */
void	log_msg(struct logger *lg, enum log_level level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
void	log_vmsg(struct logger *lg, enum log_level level, const char *fmt,
	    va_list ap);

#define log_debug(lg, ...)	log_msg((lg), LOGL_DEBUG, __VA_ARGS__)
#define log_info(lg, ...)	log_msg((lg), LOGL_INFO, __VA_ARGS__)
#define log_warn(lg, ...)	log_msg((lg), LOGL_WARN, __VA_ARGS__)
#define log_err(lg, ...)	log_msg((lg), LOGL_ERROR, __VA_ARGS__)

/* log_escape - copy n client bytes into dst as printable text: \r \n \t \"
 * \\ and \xNN for other non-printables; truncated to dstlen-1 with "..."
 * when longer.  Returns dst. */
char	*log_escape(char *dst, size_t dstlen, const char *src, size_t n);

#endif
