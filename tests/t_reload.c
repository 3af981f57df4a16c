/* t_reload - hot reload through the embedding API (API-05, SPEC 8.4):
 * gd_reload_config_string on a running daemon, with a recorder subscribed
 * to every event, compared with the order of OPS-15 (go-guerrilla's
 * EmitChangeEvents):
 *
 *   config_change:backend_config, new_config, allowed_hosts, pid_file,
 *   log_file, log_level (each only if it changed), then for each server of
 *   the NEW config, in config order: an existing server emits
 *   update_config when anything in it changed, then start_server or
 *   stop_server when is_enabled changed (and nothing else for it),
 *   otherwise new_log_file when its log_file changed else reopen_log_file,
 *   then timeout, max_clients, tls_config (each only if changed); a new
 *   server emits new_server; finally remove_server for every server that
 *   is gone (old config order).
 *
 * Events must all have been delivered when gd_reload_config_string
 * returns (they run on the caller's thread, API-10).  Besides the events,
 * each case checks what a client sees: ports that greet, ports that
 * refuse, mail that lands in the new Maildir.  Uses only guerrilla.h. */
#define _POSIX_C_SOURCE 200809L

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guerrilla.h"
#include "t.h"

/* ---------------------------------------------------------------- events */

static const char *const all_events[] = {
	GD_EV_NEW_CONFIG, GD_EV_ALLOWED_HOSTS, GD_EV_PID_FILE, GD_EV_LOG_FILE,
	GD_EV_REOPEN_LOG_FILE, GD_EV_LOG_LEVEL, GD_EV_BACKEND_CONFIG,
	GD_EV_SERVER_NEW, GD_EV_SERVER_REMOVE, GD_EV_SERVER_UPDATE,
	GD_EV_SERVER_START, GD_EV_SERVER_STOP, GD_EV_SERVER_NEW_LOG_FILE,
	GD_EV_SERVER_REOPEN_LOG_FILE, GD_EV_SERVER_TIMEOUT,
	GD_EV_SERVER_MAX_CLIENTS, GD_EV_SERVER_TLS_CONFIG
};
#define N_EVENTS (sizeof(all_events) / sizeof(all_events[0]))

#define REC_MAX 32

struct rec {
	pthread_mutex_t	mu;
	char		seen[REC_MAX][48];
	char		what[REC_MAX][64];	/* from the payload */
	int		n;
	int		null_payloads;
	int		wrong_daemon;
	struct gd_daemon *d;
};

static void
record(struct gd_daemon *d, const char *ev, const void *payload, void *user)
{
	struct rec *r = user;

	pthread_mutex_lock(&r->mu);
	if (d != r->d)
		r->wrong_daemon++;
	/* OPS-15: app events carry the app config, server events the
	 * server's config; only gd_publish by a program passes NULL */
	if (payload == NULL)
		r->null_payloads++;
	if (r->n < REC_MAX) {
		size_t l = strlen(ev);

		if (l >= sizeof(r->seen[0]))
			l = sizeof(r->seen[0]) - 1;
		memcpy(r->seen[r->n], ev, l);
		r->seen[r->n][l] = '\0';
		/* the public payloads say which server, and the new config */
		r->what[r->n][0] = '\0';
		if (payload != NULL && strncmp(ev, "server_change:", 14) == 0)
			snprintf(r->what[r->n], sizeof(r->what[0]), "%s %s",
			    ((const struct gd_server_event *)payload)->
			    listen_interface,
			    ((const struct gd_server_event *)payload)->
			    host_name);
		else if (payload != NULL)
			snprintf(r->what[r->n], sizeof(r->what[0]),
			    "level %d, %zu servers",
			    ((const struct gd_config_event *)payload)->
			    log_level,
			    ((const struct gd_config_event *)payload)->
			    nservers);
	}
	r->n++;
	pthread_mutex_unlock(&r->mu);
}

static void
rec_init(struct rec *r, struct gd_daemon *d)
{
	memset(r->seen, 0, sizeof(r->seen));
	r->n = 0;
	r->null_payloads = 0;
	r->wrong_daemon = 0;
	r->d = d;
	pthread_mutex_init(&r->mu, NULL);
}

static void
rec_reset(struct rec *r)
{
	pthread_mutex_lock(&r->mu);
	r->n = 0;
	r->null_payloads = 0;
	r->wrong_daemon = 0;
	pthread_mutex_unlock(&r->mu);
}

static void
subscribe_all(struct gd_daemon *d, struct rec *r)
{
	size_t i;

	for (i = 0; i < N_EVENTS; i++)
		CHECK(gd_subscribe(d, all_events[i], record, r) == 0);
}

static void
unsubscribe_all(struct gd_daemon *d, struct rec *r)
{
	size_t i;

	for (i = 0; i < N_EVENTS; i++)
		CHECK(gd_unsubscribe(d, all_events[i], record, r) == 0);
}

/* rec_list - the recorded names, one a line. */
static void
rec_list(struct rec *r, char *buf, size_t len)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->n && i < REC_MAX; i++) {
		int w = snprintf(buf + o, len - o, "%s%s", i ? "\n" : "",
		    r->seen[i]);

		if (w < 0 || (size_t)w >= len - o)
			break;
		o += (size_t)w;
	}
	if (r->n > REC_MAX && o + 8 < len)
		memcpy(buf + o, "\n...", 5);
	pthread_mutex_unlock(&r->mu);
}

/* want_list - the expected names (NULL-terminated), one a line. */
static void
want_list(const char *const *want, char *buf, size_t len)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; want[i] != NULL; i++) {
		int w = snprintf(buf + o, len - o, "%s%s", i ? "\n" : "",
		    want[i]);

		if (w < 0 || (size_t)w >= len - o)
			break;
		o += (size_t)w;
	}
}

#define CHECK_EVENTS(r, ...) do {					\
	static const char *const t_want[] = { __VA_ARGS__ };		\
	char t_got[2048], t_exp[2048];					\
	rec_list((r), t_got, sizeof(t_got));				\
	want_list(t_want, t_exp, sizeof(t_exp));			\
	CHECK_STR(t_got, t_exp);					\
	CHECK((r)->null_payloads == 0);					\
	CHECK((r)->wrong_daemon == 0);					\
} while (0)

/* ---------------------------------------------------------------- config */

struct srvc {
	int		port;
	int		enabled;
	int		timeout;
	int		max_clients;
	const char	*host;
	const char	*extra;	/* more keys: ", \"k\": v" */
};

struct appc {
	const char	*allowed;	/* JSON array text */
	const char	*log_level;
	const char	*maildir;	/* folder; "/[user]" is appended */
	const char	*save_process;
	struct srvc	s[4];
	int		n;
};

/* build - the JSON document for a; malloc'd (free it). */
static char *
build(const struct appc *a)
{
	size_t len = 8192, o = 0;
	char *buf = malloc(len);
	int i, w;

	if (buf == NULL)
		return NULL;
	w = snprintf(buf, len,
	    "{ \"log_file\": \"off\", \"log_level\": \"%s\",\n"
	    "  \"allowed_hosts\": %s,\n"
	    "  \"backend_config\": { \"save_workers_size\": 1,\n"
	    "    \"save_process\": \"%s\",\n"
	    "    \"primary_mail_host\": \"mx.test\",\n"
	    "    \"maildir_path\": \"%s/[user]\",\n"
	    "    \"maildir_user_map\": \"*=-1:-1\" },\n"
	    "  \"servers\": [",
	    a->log_level, a->allowed, a->save_process, a->maildir);
	if (w < 0 || (size_t)w >= len) {
		free(buf);
		return NULL;
	}
	o = (size_t)w;
	for (i = 0; i < a->n; i++) {
		const struct srvc *s = &a->s[i];

		w = snprintf(buf + o, len - o,
		    "%s\n    { \"is_enabled\": %s, \"host_name\": \"%s\","
		    " \"listen_interface\": \"127.0.0.1:%d\","
		    " \"timeout\": %d, \"max_clients\": %d%s }",
		    i ? "," : "", s->enabled ? "true" : "false", s->host,
		    s->port, s->timeout, s->max_clients,
		    s->extra != NULL ? s->extra : "");
		if (w < 0 || (size_t)w >= len - o) {
			free(buf);
			return NULL;
		}
		o += (size_t)w;
	}
	w = snprintf(buf + o, len - o, " ]\n}\n");
	if (w < 0 || (size_t)w >= len - o) {
		free(buf);
		return NULL;
	}
	return buf;
}

static struct srvc
srv(int port)
{
	struct srvc s;

	s.port = port;
	s.enabled = 1;
	s.timeout = 30;
	s.max_clients = 100;
	s.host = "mx.test";
	s.extra = NULL;
	return s;
}

/* ---------------------------------------------------------------- net */

/* free_ports - n distinct free loopback ports (all held while picking). */
static int
free_ports(int *ports, int n)
{
	int fds[8], i, rc = 0;

	if (n > 8)
		return -1;
	for (i = 0; i < n; i++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);

		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = 0;
		if (fds[i] < 0 ||
		    bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&sa, &sl) != 0) {
			rc = -1;
			ports[i] = 0;
		} else
			ports[i] = ntohs(sa.sin_port);
	}
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

/* dial - a connected socket with 5 s send/receive timeouts, or -1 (errno
 * kept, ECONNREFUSED when nobody listens). */
static int
dial(int port)
{
	struct sockaddr_in sa;
	struct timeval tv;
	int fd = socket(AF_INET, SOCK_STREAM, 0), e;

	if (fd < 0)
		return -1;
	tv.tv_sec = 5;
	tv.tv_usec = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* read_reply - the last line of one (possibly multi-line) reply into
 * line; returns its code, or -1 on EOF/timeout/garbage. */
static int
read_reply(int fd, char *line, size_t len)
{
	size_t o = 0;
	char ch;

	line[0] = '\0';
	for (;;) {
		ssize_t n = read(fd, &ch, 1);

		if (n != 1)
			return -1;
		if (ch == '\n') {
			if (o > 0 && line[o - 1] == '\r')
				o--;
			line[o] = '\0';
			if (o >= 4 && line[3] == '-') {
				o = 0;	/* a continuation line */
				continue;
			}
			if (o < 3)
				return -1;
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			    (line[2] - '0');
		}
		if (o + 1 < len)
			line[o++] = ch;
	}
}

static int
cmd(int fd, const char *c, char *line, size_t len)
{
	size_t n = strlen(c);

	if (write(fd, c, n) != (ssize_t)n)
		return -1;
	return read_reply(fd, line, len);
}

/* greets - a new session on port gets a 220 whose text starts with host
 * (NULL: any); 1 or 0. */
static int
greets(int port, const char *host)
{
	char line[512];
	int fd = dial(port), ok;

	if (fd < 0)
		return 0;
	ok = read_reply(fd, line, sizeof(line)) == 220 &&
	    (host == NULL || strncmp(line + 4, host, strlen(host)) == 0);
	(void)cmd(fd, "QUIT\r\n", line, sizeof(line));
	close(fd);
	return ok;
}

static void
pause_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* refused_soon - within 3 s a connect to port is refused. */
static int
refused_soon(int port)
{
	int i;

	for (i = 0; i < 60; i++) {
		int fd = dial(port);

		if (fd < 0 && errno == ECONNREFUSED)
			return 1;
		if (fd >= 0)
			close(fd);
		pause_ms(50);
	}
	return 0;
}

/* send_mail - one message to test@example.com; the final reply code. */
static int
send_mail(int port, const char *subject)
{
	char line[512], body[256];
	int fd = dial(port), code = -1;

	if (fd < 0)
		return -1;
	if (read_reply(fd, line, sizeof(line)) != 220 ||
	    cmd(fd, "EHLO t.example\r\n", line, sizeof(line)) != 250 ||
	    cmd(fd, "MAIL FROM:<a@b.c>\r\n", line, sizeof(line)) != 250 ||
	    cmd(fd, "RCPT TO:<test@example.com>\r\n", line,
	    sizeof(line)) != 250 ||
	    cmd(fd, "DATA\r\n", line, sizeof(line)) != 354)
		goto out;
	(void)snprintf(body, sizeof(body), "Subject: %s\r\n\r\nhello\r\n.\r\n",
	    subject);
	code = cmd(fd, body, line, sizeof(line));
	(void)cmd(fd, "QUIT\r\n", line, sizeof(line));
out:
	close(fd);
	return code;
}

/* ---------------------------------------------------------------- files */

static int
count_files(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (dp == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(dp);
	return n;
}

static void
rm_rf(const char *path)
{
	struct stat st;
	DIR *dp;
	struct dirent *de;
	char sub[1024];

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode) && (dp = opendir(path)) != NULL) {
		while ((de = readdir(dp)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (snprintf(sub, sizeof(sub), "%s/%s", path,
			    de->d_name) < (int)sizeof(sub))
				rm_rf(sub);
		}
		closedir(dp);
		(void)rmdir(path);
	} else
		(void)unlink(path);
}

/* ---------------------------------------------------------------- fixture */

static char tmpdir[256];

static struct appc
base(int n, const int *ports)
{
	struct appc a;
	int i;

	memset(&a, 0, sizeof(a));
	a.allowed = "[\"example.com\"]";
	a.log_level = "info";
	a.maildir = tmpdir;
	a.save_process = "HeadersParser|MailDir";
	a.n = n;
	for (i = 0; i < n; i++)
		a.s[i] = srv(ports[i]);
	return a;
}

/* started - a running daemon on config a, or NULL. */
static struct gd_daemon *
started(const struct appc *a)
{
	struct gd_daemon *d = gd_new();
	char *errs = NULL, *json = build(a);
	int ok = 0;

	CHECK(d != NULL && json != NULL);
	if (d != NULL && json != NULL) {
		CHECK(gd_load_config_string(d, json, strlen(json), &errs) == 0);
		if (errs != NULL)
			printf("     load: %s\n", errs);
		free(errs);
		errs = NULL;
		ok = gd_start(d, &errs) == 0;
		CHECK(ok);
		if (errs != NULL)
			printf("     start: %s\n", errs);
		free(errs);
	}
	free(json);
	if (!ok) {
		gd_free(d);
		return NULL;
	}
	return d;
}

/* reload - gd_reload_config_string with a; returns its result and prints
 * the errors when it was expected to work. */
static int
reload(struct gd_daemon *d, const struct appc *a, int want)
{
	char *errs = NULL, *json = build(a);
	int rc;

	CHECK(json != NULL);
	if (json == NULL)
		return -2;
	rc = gd_reload_config_string(d, json, strlen(json), &errs);
	if (rc != want && errs != NULL)
		printf("     reload errors: %s\n", errs);
	free(errs);
	free(json);
	return rc;
}

static void
finish(struct gd_daemon *d, struct rec *r)
{
	unsubscribe_all(d, r);
	CHECK(gd_shutdown(d) == 0);
	gd_free(d);
	pthread_mutex_destroy(&r->mu);
}

/* ---------------------------------------------------------------- tests */

/* (1) only allowed_hosts: new_config, allowed_hosts, then each existing
 * server (unchanged) reopens its log. */
static void
allowed_hosts_only(void)
{
	int p[2];
	struct appc a;
	struct gd_daemon *d;
	struct rec r;

	CHECK(free_ports(p, 2) == 0);
	a = base(2, p);
	if ((d = started(&a)) == NULL)
		return;
	rec_init(&r, d);
	subscribe_all(d, &r);
	a.allowed = "[\"example.com\", \"example.org\"]";
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, GD_EV_NEW_CONFIG, GD_EV_ALLOWED_HOSTS,
	    GD_EV_SERVER_REOPEN_LOG_FILE, GD_EV_SERVER_REOPEN_LOG_FILE, NULL);
	CHECK(greets(p[0], "mx.test"));
	CHECK(greets(p[1], "mx.test"));
	finish(d, &r);
}

/* (2) server 1: timeout + max_clients; server 2 new (listed first in the
 * new config, so config order is visible); server 3 removed; log_level. */
static void
servers_added_changed_removed(void)
{
	char want[64];
	int p[3];
	struct appc a;
	struct gd_daemon *d;
	struct rec r;

	CHECK(free_ports(p, 3) == 0);
	a = base(2, p);
	a.s[1] = srv(p[2]);		/* old: [1, 3] */
	if ((d = started(&a)) == NULL)
		return;
	CHECK(greets(p[2], NULL));
	rec_init(&r, d);
	subscribe_all(d, &r);
	a.log_level = "debug";
	a.s[1] = srv(p[0]);		/* new: [2, 1'] */
	a.s[1].timeout = 10;
	a.s[1].max_clients = 5;
	a.s[0] = srv(p[1]);
	a.s[0].host = "mx2.test";
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, GD_EV_NEW_CONFIG, GD_EV_LOG_LEVEL,
	    GD_EV_SERVER_NEW,
	    GD_EV_SERVER_UPDATE, GD_EV_SERVER_REOPEN_LOG_FILE,
	    GD_EV_SERVER_TIMEOUT, GD_EV_SERVER_MAX_CLIENTS,
	    GD_EV_SERVER_REMOVE, NULL);
	/* the payloads: the new config, and which server each event is of */
	snprintf(want, sizeof(want), "level %d, 2 servers", GD_LOG_DEBUG);
	CHECK_STR(r.what[1], want);
	snprintf(want, sizeof(want), "127.0.0.1:%d mx2.test", p[1]);
	CHECK_STR(r.what[2], want);
	snprintf(want, sizeof(want), "127.0.0.1:%d mx.test", p[0]);
	CHECK_STR(r.what[3], want);
	snprintf(want, sizeof(want), "127.0.0.1:%d mx.test", p[2]);
	CHECK_STR(r.what[7], want);
	CHECK(greets(p[1], "mx2.test"));	/* the new server */
	CHECK(greets(p[0], "mx.test"));		/* the kept one */
	CHECK(refused_soon(p[2]));		/* the removed one */
	finish(d, &r);
}

/* (3) an invalid config: -1, errors, no event, nothing changed. */
static void
invalid_config_changes_nothing(void)
{
	static const char broken[] = "{ \"allowed_hosts\": [\"x.test\"],\n"
	    "  \"servers\": [ { \"is_enabled\": true,\n"
	    "    \"listen_interface\": \"127.0.0.1:1\" \"oops\" } ] }";
	int p[2];
	struct appc a;
	struct gd_daemon *d;
	struct rec r;
	char *errs = NULL, *json;

	CHECK(free_ports(p, 2) == 0);
	a = base(1, p);
	if ((d = started(&a)) == NULL)
		return;
	rec_init(&r, d);
	subscribe_all(d, &r);
	/* JSON syntax error */
	CHECK(gd_reload_config_string(d, broken, strlen(broken), &errs) == -1);
	CHECK(errs != NULL && errs[0] != '\0');
	CHECK(errs != NULL && strstr(errs, "could not parse config file") !=
	    NULL);
	CHECK(errs != NULL && strstr(errs, "line 3 column") != NULL);
	free(errs);
	errs = NULL;
	/* valid JSON, invalid values, plus changes that must not apply */
	a.s[0].host = "changed.test";
	a.s[0].max_clients = -1;		/* CFG-07 */
	a.s[1] = srv(p[1]);
	a.n = 2;
	a.allowed = "[\"changed.test\"]";
	json = build(&a);
	CHECK(json != NULL);
	if (json != NULL) {
		CHECK(gd_reload_config_string(d, json, strlen(json), &errs) ==
		    -1);
		CHECK(errs != NULL && errs[0] != '\0');
		free(errs);
		errs = NULL;
		free(json);
	}
	/* a listen_interface that cannot be bound (a start error, CFG-11):
	 * still nothing changes */
	a = base(1, p);
	a.s[0].host = "changed.test";
	a.s[1] = srv(p[1]);
	a.s[1].port = 0;
	a.n = 2;
	json = build(&a);
	if (json != NULL) {
		char *at = strstr(json, "127.0.0.1:0\"");

		/* an address of another host: bind fails (EADDRNOTAVAIL) */
		if (at != NULL)
			memcpy(at, "192.0.2.1:1", 11);
		CHECK(gd_reload_config_string(d, json, strlen(json), &errs) ==
		    -1);
		CHECK(errs != NULL && strstr(errs, "192.0.2.1:1") != NULL);
		free(errs);
		errs = NULL;
		free(json);
	}
	CHECK_EVENTS(&r, NULL);
	CHECK(r.n == 0);
	CHECK(greets(p[0], "mx.test"));		/* old host_name */
	CHECK(refused_soon(p[1]));
	/* and the errors did not break later reloads */
	a = base(1, p);
	a.s[0].host = "changed.test";
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, GD_EV_NEW_CONFIG, GD_EV_SERVER_UPDATE,
	    GD_EV_SERVER_REOPEN_LOG_FILE, NULL);
	CHECK(greets(p[0], "changed.test"));
	finish(d, &r);
}

/* (4) is_enabled false: update_config then stop_server and nothing else
 * for that server; true again: update_config, start_server. */
static void
disable_enable(void)
{
	int p[2];
	struct appc a;
	struct gd_daemon *d;
	struct rec r;

	CHECK(free_ports(p, 2) == 0);
	a = base(2, p);
	if ((d = started(&a)) == NULL)
		return;
	rec_init(&r, d);
	subscribe_all(d, &r);
	a.s[1].enabled = 0;
	a.s[1].timeout = 5;	/* also changed: no timeout event for it */
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, GD_EV_NEW_CONFIG, GD_EV_SERVER_REOPEN_LOG_FILE,
	    GD_EV_SERVER_UPDATE, GD_EV_SERVER_STOP, NULL);
	CHECK(refused_soon(p[1]));
	CHECK(greets(p[0], NULL));
	rec_reset(&r);
	a.s[1].enabled = 1;
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, GD_EV_NEW_CONFIG, GD_EV_SERVER_REOPEN_LOG_FILE,
	    GD_EV_SERVER_UPDATE, GD_EV_SERVER_START, NULL);
	CHECK(greets(p[1], NULL));
	finish(d, &r);
}

/* (5) the same config again: no new_config, no update_config; every
 * existing server reopens its log ("since config file has not changed,
 * we reload it"), including a disabled one. */
static void
unchanged_config_reopens_only(void)
{
	int p[3];
	struct appc a;
	struct gd_daemon *d;
	struct rec r;

	CHECK(free_ports(p, 3) == 0);
	a = base(3, p);
	a.s[2].enabled = 0;
	if ((d = started(&a)) == NULL)
		return;
	rec_init(&r, d);
	subscribe_all(d, &r);
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, GD_EV_SERVER_REOPEN_LOG_FILE,
	    GD_EV_SERVER_REOPEN_LOG_FILE, GD_EV_SERVER_REOPEN_LOG_FILE, NULL);
	CHECK(greets(p[0], NULL));
	CHECK(greets(p[1], NULL));
	CHECK(refused_soon(p[2]));
	finish(d, &r);
}

/* (6) backend_config changed: backend_config comes first, before
 * new_config; the next message goes through the new backend (the new
 * maildir_path). */
static void
backend_config_first_and_applied(void)
{
	int p[1];
	struct appc a;
	struct gd_daemon *d;
	struct rec r;
	char dir1[300], dir2[300], new1[340], new2[340];

	CHECK(free_ports(p, 1) == 0);
	(void)snprintf(dir1, sizeof(dir1), "%s/one", tmpdir);
	(void)snprintf(dir2, sizeof(dir2), "%s/two", tmpdir);
	(void)snprintf(new1, sizeof(new1), "%s/test/new", dir1);
	(void)snprintf(new2, sizeof(new2), "%s/test/new", dir2);
	a = base(1, p);
	a.maildir = dir1;
	if ((d = started(&a)) == NULL)
		return;
	CHECK(send_mail(p[0], "one") == 250);
	CHECK(count_files(new1) == 1);
	rec_init(&r, d);
	subscribe_all(d, &r);
	a.maildir = dir2;
	a.save_process = "HeadersParser|Hasher|MailDir";
	a.allowed = "[\"example.com\", \"example.net\"]";
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, GD_EV_BACKEND_CONFIG, GD_EV_NEW_CONFIG,
	    GD_EV_ALLOWED_HOSTS, GD_EV_SERVER_REOPEN_LOG_FILE, NULL);
	CHECK(send_mail(p[0], "two") == 250);
	CHECK(count_files(new1) == 1);
	CHECK(count_files(new2) == 1);
	finish(d, &r);
}

/* (7) a server's log_file, timeout and a TLS key changed (TLS off, so
 * no files are read, TLS-01): update_config, new_log_file instead of
 * reopen_log_file, timeout, tls_config; the other server only reopens. */
static void
log_file_timeout_tls(void)
{
	int p[2];
	struct appc a;
	struct gd_daemon *d;
	struct rec r;
	char ex1[600], ex2[600], log1[300], log2[300];

	CHECK(free_ports(p, 2) == 0);
	(void)snprintf(log1, sizeof(log1), "%s/s1.log", tmpdir);
	(void)snprintf(log2, sizeof(log2), "%s/s2.log", tmpdir);
	(void)snprintf(ex1, sizeof(ex1), ", \"log_file\": \"%s\", \"tls\": {"
	    " \"start_tls_on\": false,"
	    " \"client_auth_type\": \"NoClientCert\" }", log1);
	(void)snprintf(ex2, sizeof(ex2), ", \"log_file\": \"%s\", \"tls\": {"
	    " \"start_tls_on\": false, \"client_auth_type\":"
	    " \"RequestClientCert\" }", log2);
	a = base(2, p);
	a.s[1].extra = ex1;
	if ((d = started(&a)) == NULL)
		return;
	rec_init(&r, d);
	subscribe_all(d, &r);
	a.s[1].extra = ex2;
	a.s[1].timeout = 7;
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, GD_EV_NEW_CONFIG, GD_EV_SERVER_REOPEN_LOG_FILE,
	    GD_EV_SERVER_UPDATE, GD_EV_SERVER_NEW_LOG_FILE,
	    GD_EV_SERVER_TIMEOUT, GD_EV_SERVER_TLS_CONFIG, NULL);
	CHECK(greets(p[1], "mx.test"));
	finish(d, &r);
	/* the session after the reload was logged in the new file */
	{
		char buf[4096];
		FILE *f = fopen(log2, "r");
		size_t n = 0;

		CHECK(f != NULL);
		if (f != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[n] = '\0';
		CHECK(strstr(buf, "Handle client") != NULL);
	}
}

/* gd_reload_* before gd_start is gd_load_* (no events); gd_start then
 * runs the reloaded config. */
static void
reload_before_start_is_load(void)
{
	int p[2];
	struct appc a;
	struct gd_daemon *d = gd_new();
	struct rec r;
	char *errs = NULL, *json;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	rec_init(&r, d);
	subscribe_all(d, &r);
	CHECK(free_ports(p, 2) == 0);
	a = base(1, p);
	json = build(&a);
	CHECK(json != NULL && gd_load_config_string(d, json, strlen(json),
	    &errs) == 0);
	free(json);
	free(errs);
	errs = NULL;
	a.s[0] = srv(p[1]);
	a.s[0].host = "reloaded.test";
	a.allowed = "[\"example.org\"]";
	CHECK(reload(d, &a, 0) == 0);
	CHECK_EVENTS(&r, NULL);
	/* a broken one is refused as gd_load would refuse it */
	CHECK(gd_reload_config_string(d, "{", 1, &errs) == -1);
	CHECK(errs != NULL && errs[0] != '\0');
	free(errs);
	errs = NULL;
	CHECK(r.n == 0);
	CHECK(gd_start(d, &errs) == 0);
	if (errs != NULL)
		printf("     start: %s\n", errs);
	free(errs);
	CHECK(greets(p[1], "reloaded.test"));
	CHECK(refused_soon(p[0]));
	finish(d, &r);
}

int
main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/t_reload.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		printf("FAIL t_reload: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN(allowed_hosts_only);
	RUN(servers_added_changed_removed);
	RUN(invalid_config_changes_nothing);
	RUN(disable_enable);
	RUN(unchanged_config_reopens_only);
	RUN(backend_config_first_and_applied);
	RUN(log_file_timeout_tls);
	RUN(reload_before_start_is_load);
	rm_rf(tmpdir);
	return T_DONE();
}
