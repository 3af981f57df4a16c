/*
 * spec9_host - a daemon for tests/integration/test_spec9.py: the library
 * (guerrilla.h) serving a config file, with one extra processor "Spec9"
 * whose outcome is chosen by the recipient, so that the backend-outcome
 * rows of SPEC 3.13 / 9 that no shipped processor produces can be seen
 * over a socket.
 *
 *   spec9_host [...] serve -c FILE [-p PIDFILE]   (what the harness runs)
 *
 * Save task, by the first recipient's local part:
 *   digits  TEMPFAIL "451 4.7.1 Spec9: error text with its own code"
 *   text    PERMFAIL "disk on fire"
 *   none    no outcome at all
 *   reply   PERMFAIL "550 5.7.1 Spec9: own reply" (and a detail)
 *   inject  OK "250 2.0.0 OK\r\n250 injected" (CR LF must be removed)
 *   temp    TEMPFAIL without text
 *   perm    PERMFAIL without text
 *   fake    TEMPFAIL "250 2.0.0 OK" (a failure that claims success)
 *   done    OK "kept as 42" (a text, not a whole reply)
 *   spin    compute for SPIN_MS (on the I/O loop: Spec9 is nonblocking),
 *           then continue the chain
 *   other   continue the chain
 * Validate task, by the last recipient's local part:
 *   unknown PERMFAIL "no such user"
 *   busy    TEMPFAIL "storage too busy"
 *   refuse  PERMFAIL "553 5.7.1 Spec9: not here"
 *   vtemp   TEMPFAIL without text
 *   vperm   PERMFAIL without text
 *   vnone   no outcome at all
 *   other   continue the chain
 * Runs until SIGTERM or SIGINT, then shuts down and exits 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guerrilla.h"

#define SPIN_MS	1000

/* spin - keep the CPU busy for ms milliseconds. */
static void
spin(long ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000L +
	    (t.tv_nsec - t0.tv_nsec) / 1000000L < ms);
}

static int
local_is(const char *addr, const char *want)
{
	size_t n = strlen(want);

	return strncmp(addr, want, n) == 0 && addr[n] == '@';
}

static void
spec9_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	char a[320];
	size_t n = gd_env_rcpt_count(e);

	(void)inst;
	a[0] = '\0';
	if (n > 0)
		gd_env_rcpt_print(e, task == GD_TASK_SAVE ? 0 : n - 1, a,
		    sizeof(a));
	if (task == GD_TASK_SAVE) {
		if (local_is(a, "digits")) {
			gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.7.1 "
			    "Spec9: error text with its own code");
			return;
		}
		if (local_is(a, "text")) {
			gd_result_set(res, GD_STATUS_PERMFAIL, "disk on fire");
			return;
		}
		if (local_is(a, "none"))
			return;
		if (local_is(a, "reply")) {
			gd_result_set(res, GD_STATUS_PERMFAIL, "550 5.7.1 "
			    "Spec9: own reply");
			gd_result_detail(res, "refused by Spec9");
			return;
		}
		if (local_is(a, "inject")) {
			gd_result_set(res, GD_STATUS_OK, "250 2.0.0 OK\r\n"
			    "250 injected");
			return;
		}
		if (local_is(a, "temp")) {
			gd_result_set(res, GD_STATUS_TEMPFAIL, NULL);
			return;
		}
		if (local_is(a, "perm")) {
			gd_result_set(res, GD_STATUS_PERMFAIL, NULL);
			return;
		}
		if (local_is(a, "fake")) {
			gd_result_set(res, GD_STATUS_TEMPFAIL, "250 2.0.0 OK");
			return;
		}
		if (local_is(a, "done")) {
			gd_result_set(res, GD_STATUS_OK, "kept as 42");
			return;
		}
		if (local_is(a, "spin"))
			spin(SPIN_MS);
	} else {
		if (local_is(a, "unknown")) {
			gd_result_set(res, GD_STATUS_PERMFAIL, "no such user");
			return;
		}
		if (local_is(a, "busy")) {
			gd_result_set(res, GD_STATUS_TEMPFAIL,
			    "storage too busy");
			return;
		}
		if (local_is(a, "refuse")) {
			gd_result_set(res, GD_STATUS_PERMFAIL, "553 5.7.1 Spec9: "
			    "not here");
			return;
		}
		if (local_is(a, "vtemp")) {
			gd_result_set(res, GD_STATUS_TEMPFAIL, NULL);
			return;
		}
		if (local_is(a, "vperm")) {
			gd_result_set(res, GD_STATUS_PERMFAIL, NULL);
			return;
		}
		if (local_is(a, "vnone"))
			return;
	}
	gd_next(next, e, task, res);
}

static int
spec9_nonblocking(const void *inst)
{
	(void)inst;
	return 1;
}

int
main(int argc, char **argv)
{
	struct gd_processor p = {
		.name = "Spec9", .process = spec9_process,
		.nonblocking = spec9_nonblocking
	};
	struct gd_daemon *d;
	const char *conf = NULL;
	char *errs = NULL;
	sigset_t set;
	int i, sig = 0;

	for (i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-c") == 0)
			conf = argv[i + 1];
	if (conf == NULL) {
		fprintf(stderr, "usage: spec9_host serve -c FILE\n");
		return 2;
	}
	/* every thread the library starts inherits this mask */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((d = gd_new()) == NULL || gd_add_processor(d, &p) != 0 ||
	    gd_load_config_file(d, conf, &errs) != 0 ||
	    gd_start(d, &errs) != 0) {
		fprintf(stderr, "spec9_host: %s\n",
		    errs != NULL ? errs : "out of memory");
		free(errs);
		gd_free(d);
		return 1;
	}
	if (sigwait(&set, &sig) != 0)
		sig = 0;
	i = gd_shutdown(d) == 0 ? 0 : 1;
	gd_free(d);
	return i;
}
