/* t_api - the embedding API (SPEC 10): events, the log hook, two daemons
 * in one process, start/shutdown idempotence; with an embedder's processor,
 * which I/O loop accepts (io_threads 2, server.h srv_spill). */
#include "../compat.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "guerrilla.h"
#include "t.h"

static const char conf[] =
    "{ \"log_file\": \"off\", \"allowed_hosts\": [\"example.com\"],"
    "  \"servers\": [ { \"is_enabled\": true,"
    "    \"listen_interface\": \"127.0.0.1:0\" } ],"
    "  \"backend_config\": { \"save_process\": \"HeadersParser\" } }";

struct rec {
	char	seen[16][64];
	int	n;
};

static void
record(struct gd_daemon *d, const char *ev, const void *payload, void *user)
{
	struct rec *r = user;

	(void)d;
	(void)payload;
	if (r->n < 16)
		gd_strlcpy(r->seen[r->n++], ev, sizeof(r->seen[0]));
}

static void
once(struct gd_daemon *d, const char *ev, const void *payload, void *user)
{
	record(d, ev, payload, user);
	CHECK(gd_unsubscribe(d, ev, once, user) == 0);
}

static struct gd_daemon *
started(void)
{
	struct gd_daemon *d = gd_new();
	char *errs = NULL;

	CHECK(d != NULL);
	if (d == NULL)
		return NULL;
	CHECK(gd_load_config_string(d, conf, strlen(conf), &errs) == 0);
	if (errs != NULL)
		printf("     %s\n", errs);
	free(errs);
	errs = NULL;
	CHECK(gd_start(d, &errs) == 0);
	if (errs != NULL)
		printf("     %s\n", errs);
	free(errs);
	return d;
}

static void
reopen_events_in_order(void)
{
	struct rec r = { { { 0 } }, 0 }, r2 = { { { 0 } }, 0 };
	struct gd_daemon *d = gd_new();

	/* subscriptions made before start stay in force (API-10) */
	CHECK(gd_subscribe(d, GD_EV_REOPEN_LOG_FILE, record, &r) == 0);
	CHECK(gd_subscribe(d, GD_EV_SERVER_REOPEN_LOG_FILE, record, &r) == 0);
	CHECK(gd_subscribe(d, GD_EV_REOPEN_LOG_FILE, once, &r2) == 0);
	gd_free(d);
	d = started();
	if (d == NULL)
		return;
	CHECK(gd_subscribe(d, GD_EV_REOPEN_LOG_FILE, record, &r) == 0);
	CHECK(gd_subscribe(d, GD_EV_SERVER_REOPEN_LOG_FILE, record, &r) == 0);
	CHECK(gd_subscribe(d, GD_EV_REOPEN_LOG_FILE, once, &r2) == 0);
	CHECK(gd_reopen_logs(d) == 0);
	CHECK(gd_reopen_logs(d) == 0);
	/* OPS-15: config_change:reopen_log_file, then one per server */
	CHECK(r.n == 4);
	CHECK_STR(r.seen[0], "config_change:reopen_log_file");
	CHECK_STR(r.seen[1], "server_change:reopen_log_file");
	CHECK_STR(r.seen[2], "config_change:reopen_log_file");
	CHECK_STR(r.seen[3], "server_change:reopen_log_file");
	CHECK(r2.n == 1);	/* it unsubscribed itself during the call */
	CHECK(gd_unsubscribe(d, GD_EV_REOPEN_LOG_FILE, record, &r) == 0);
	CHECK(gd_unsubscribe(d, GD_EV_REOPEN_LOG_FILE, record, &r) == -1);
	gd_publish(d, GD_EV_SERVER_REOPEN_LOG_FILE, NULL);
	CHECK(r.n == 5);
	CHECK(gd_shutdown(d) == 0);
	CHECK(gd_shutdown(d) == 0);	/* idempotent (API-04) */
	gd_free(d);
}

struct hooked {
	int	n;
	int	saw_version;
};

static void
hook(void *user, int level, const char *msg)
{
	struct hooked *h = user;

	h->n++;
	if (level == GD_LOG_INFO && strncmp(msg, "guerrillad ", 11) == 0)
		h->saw_version = 1;
}

static void
log_hook_gets_entries(void)
{
	struct hooked h = { 0, 0 };
	struct gd_daemon *d = gd_new();
	char *errs = NULL;

	gd_set_log_hook(d, hook, &h, 0);
	CHECK(gd_load_config_string(d, conf, strlen(conf), &errs) == 0);
	CHECK(gd_start(d, &errs) == 0);
	free(errs);
	CHECK(gd_shutdown(d) == 0);
	gd_free(d);
	CHECK(h.saw_version);
	CHECK(h.n >= 3);	/* version, worker started, listening, ... */
}

static void
two_daemons_one_process(void)
{
	struct gd_daemon *a = started(), *b = started();

	CHECK(a != NULL && b != NULL);
	CHECK(gd_shutdown(a) == 0);
	CHECK(gd_shutdown(b) == 0);
	gd_free(a);
	gd_free(b);
}

static void
bad_config_is_an_error_list(void)
{
	struct gd_daemon *d = gd_new();
	char *errs = NULL;
	static const char bad[] = "{ \"servers\": [ { \"is_enabled\": true },"
	    " { \"is_enabled\": true, \"listen_interface\": \"x\","
	    "   \"max_clients\": -1 } ] }";

	CHECK(gd_load_config_string(d, bad, strlen(bad), &errs) == -1);
	CHECK(errs != NULL && strstr(errs, "listen interface not specified "
	    "for server at index 0") != NULL);
	CHECK(errs != NULL && strchr(errs, '\n') != NULL);	/* CFG-12 */
	free(errs);
	gd_free(d);
}

/* free_port - a loopback port nobody listens on right now. */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		(void)close(fd);
	return port;
}


/* cli_open - a client socket on port with 10 s receive timeouts. */
static int
cli_open(int port)
{
	struct sockaddr_in a;
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) != 0 || connect(fd, (struct sockaddr *)&a,
	    sizeof(a)) != 0)) {
		(void)close(fd);
		fd = -1;
	}
	return fd;
}

/* greeting - the first reply line on port, "" if none. */
static void
greeting(int port, char *buf, size_t len)
{
	int fd = cli_open(port);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		(void)close(fd);
}

static void
config_from_struct(void)
{
	struct gd_config *c = gd_config_new();
	struct gd_daemon *d = gd_new();
	char iface[64], buf[256], *errs = NULL;
	int port = free_port();

	snprintf(iface, sizeof(iface), "127.0.0.1:%d", port);
	CHECK(c != NULL && d != NULL && port > 0);
	CHECK(gd_config_set_str(c, "log_file", "off") == 0);
	CHECK(gd_config_add_str(c, "allowed_hosts", "example.com") == 0);
	CHECK(gd_config_set_bool(c, "servers.0.is_enabled", 1) == 0);
	CHECK(gd_config_set_str(c, "servers.0.listen_interface", iface) == 0);
	CHECK(gd_config_set_str(c, "servers.0.host_name", "struct.test") == 0);
	CHECK(gd_config_set_int(c, "servers.0.max_clients", 5) == 0);
	CHECK(gd_config_set_str(c, "backend_config.save_process",
	    "HeadersParser") == 0);
	/* malformed paths: a name where an index belongs, a gap */
	CHECK(gd_config_set_int(c, "servers.x.timeout", 5) == -1);
	CHECK(gd_config_set_int(c, "servers.3.timeout", 5) == -1);
	CHECK(gd_set_config(d, c, &errs) == 0);
	free(errs);
	errs = NULL;
	CHECK(gd_start(d, &errs) == 0);
	free(errs);
	errs = NULL;
	greeting(port, buf, sizeof(buf));
	CHECK(strncmp(buf, "220 struct.test ", 16) == 0);
	/* the same checks as a file, without positions */
	CHECK(gd_config_set_str(c, "servers.0.max_clients", "many") == 0);
	CHECK(gd_set_config(d, c, &errs) == -1);	/* running: reload */
	CHECK(errs != NULL && strstr(errs, "max_clients") != NULL &&
	    strstr(errs, "line") == NULL);
	free(errs);
	greeting(port, buf, sizeof(buf));
	CHECK(strncmp(buf, "220 struct.test ", 16) == 0);	/* unchanged */
	CHECK(gd_shutdown(d) == 0);
	gd_free(d);
	gd_config_free(c);
}

/* ---- who accepts: a busy first loop spills to the second ---- */

#define SPIN_MS	1500	/* the Spin processor's work per message */

static void *
spin_create(struct gd_ctx *ctx, void *user)
{
	static int instance;	/* Spin keeps no state: any non-NULL will do */

	(void)ctx;
	(void)user;
	return &instance;
}

/* spin_process - a nonblocking processor that computes for SPIN_MS: its
 * chain runs on the I/O loop that received the message, which is busy
 * all that time. */
static void
spin_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	(void)inst;
	if (task == GD_TASK_SAVE) {
		int64_t until = gd_now_ms() + SPIN_MS;
		while (gd_now_ms() < until)
			;
	}
	gd_next(next, e, task, res);
}

static int
spin_nonblocking(const void *inst)
{
	(void)inst;
	return 1;
}

static void
ms_sleep(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* cli_reply - send line (unless NULL), then read one reply line; its
 * code, or -1. */
static int
cli_reply(int fd, const char *line)
{
	char buf[512];
	size_t n = 0;

	if (fd < 0 || (line != NULL &&
	    write(fd, line, strlen(line)) != (ssize_t)strlen(line)))
		return -1;
	while (n < sizeof(buf) - 1 && (n < 2 || buf[n - 1] != '\n')) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		n++;
	}
	buf[n] = '\0';
	return n >= 4 ? atoi(buf) : -1;
}

/* replied - the server's reply is already there to read. */
static int
replied(int fd)
{
	struct pollfd p;

	p.fd = fd;
	p.events = POLLIN;
	return poll(&p, 1, 0) == 1;
}

/* a_message - client a sends a message up to its final dot. */
static int
a_message(int a)
{
	static const char body[] = "Subject: spin\r\n\r\nx\r\n.\r\n";

	return cli_reply(a, "MAIL FROM:<s@example.com>\r\n") == 250 &&
	    cli_reply(a, "RCPT TO:<r@example.com>\r\n") == 250 &&
	    cli_reply(a, "DATA\r\n") == 354 &&
	    write(a, body, sizeof(body) - 1) == (ssize_t)sizeof(body) - 1;
}

static void
busy_loop_spills_to_the_next(void)
{
	struct gd_processor p = {
		.name = "Spin", .create = spin_create, .process = spin_process,
		.nonblocking = spin_nonblocking
	};
	struct gd_daemon *d = gd_new();
	char json[512], *errs = NULL;
	int port = free_port(), a, b1, b2;

	snprintf(json, sizeof(json), "{ \"log_file\": \"off\", \"io_threads\": 2,"
	    " \"allowed_hosts\": [\"example.com\"], \"servers\": ["
	    " { \"is_enabled\": true, \"listen_interface\": \"127.0.0.1:%d\" } ],"
	    " \"backend_config\": { \"save_process\": \"Spin\" } }", port);
	CHECK(d != NULL && port > 0 && gd_add_processor(d, &p) == 0);
	CHECK(gd_load_config_string(d, json, strlen(json), &errs) == 0);
	CHECK(gd_start(d, &errs) == 0);
	if (errs != NULL)
		printf("     %s\n", errs);
	free(errs);
	a = cli_open(port);
	CHECK(cli_reply(a, NULL) == 220 && cli_reply(a, "HELO t\r\n") == 250);
	/* loop 0 (it took a: only it accepts while it has time to spare)
	 * computes a's first message; b1 waits until that is done */
	CHECK(a_message(a));
	ms_sleep(300);
	b1 = cli_open(port);
	CHECK(cli_reply(b1, NULL) == 220);
	CHECK(replied(a));		/* a's 250 came first */
	CHECK(cli_reply(a, NULL) == 250);
	/* loop 0 was busy for all of its last window: now both accept, and
	 * b2 is greeted by loop 1 while loop 0 computes a's second one */
	CHECK(a_message(a));
	ms_sleep(300);
	b2 = cli_open(port);
	CHECK(cli_reply(b2, NULL) == 220);
	CHECK(!replied(a));
	CHECK(cli_reply(a, NULL) == 250);
	CHECK(cli_reply(a, "QUIT\r\n") == 221);
	(void)close(a);
	(void)close(b1);
	(void)close(b2);
	CHECK(gd_shutdown(d) == 0);
	gd_free(d);
}

int
main(void)
{
	RUN(reopen_events_in_order);
	RUN(log_hook_gets_entries);
	RUN(two_daemons_one_process);
	RUN(bad_config_is_an_error_list);
	RUN(config_from_struct);
	RUN(busy_loop_spills_to_the_next);
	return T_DONE();
}
