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
 *   digits  error "451 4.7.1 Spec9: error text with its own code"
 *   text    error "disk on fire"
 *   none    neither a result nor an error
 *   reply   reply "550 5.7.1 Spec9: own reply" (and an error)
 *   inject  reply "250 2.0.0 OK\r\n250 injected" (SMTP-57)
 *   other   continue the chain
 * Validate task, by the last recipient's local part:
 *   unknown error "no such user"
 *   busy    error "storage too busy"
 *   other   continue the chain
 * Runs until SIGTERM or SIGINT, then shuts down and exits 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guerrilla.h"

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
			gd_result_error(res, "451 4.7.1 Spec9: error text "
			    "with its own code");
			return;
		}
		if (local_is(a, "text")) {
			gd_result_error(res, "disk on fire");
			return;
		}
		if (local_is(a, "none"))
			return;
		if (local_is(a, "reply")) {
			gd_result_reply(res, "550 5.7.1 Spec9: own reply");
			gd_result_error(res, "refused by Spec9");
			return;
		}
		if (local_is(a, "inject")) {
			gd_result_reply(res, "250 2.0.0 OK\r\n250 injected");
			return;
		}
	} else {
		if (local_is(a, "unknown")) {
			gd_result_error(res, "no such user");
			return;
		}
		if (local_is(a, "busy")) {
			gd_result_error(res, "storage too busy");
			return;
		}
	}
	gd_next(next, e, task, res);
}

int
main(int argc, char **argv)
{
	struct gd_processor p = {
		"Spec9", NULL, NULL, spec9_process, NULL, NULL, NULL, 1
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
