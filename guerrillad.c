/*
 * guerrillad.c - the command line (OPS-01..05, OPS-08..11): parses
 * arguments, loads the config, starts the daemon and turns signals into
 * daemon calls.  The only file that calls exit().
 *
 * Signals are blocked in every thread (the mask is set before any thread
 * starts) and taken synchronously with sigwait() here, so no handler ever
 * runs in the middle of library code (OPS-11).
 */
#include "compat.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guerrilla.h"

#define EXIT_USAGE	2	/* OPS-04 [DEV] */
#define DEFAULT_PID	"/var/run/go-guerrilla.pid"

static const char usage_text[] =
"usage: guerrillad [-v] serve [-c FILE] [-p FILE]\n"
"       guerrillad [-v] check [-c FILE]\n"
"       guerrillad version\n"
"       guerrillad -h | --help\n";

static const char help_text[] =
"guerrillad - a small, fast SMTP receiving daemon (a C port of go-guerrilla)\n"
"\n"
"SYNOPSIS\n"
"    guerrillad [-v] serve [-c FILE] [-p FILE]\n"
"    guerrillad [-v] check [-c FILE]\n"
"    guerrillad version\n"
"\n"
"DESCRIPTION\n"
"    guerrillad accepts mail over SMTP, runs each message through the chain\n"
"    of processors named by backend_config.save_process (for example\n"
"    \"HeadersParser|Header|Hasher|MailDir\"), and answers 250 only once the\n"
"    chain has stored the message.  It never relays or sends mail.  It runs\n"
"    in the foreground; let systemd, rc.d or another supervisor manage it.\n"
"\n"
"COMMANDS\n"
"    serve     Load the config and serve until SIGTERM, SIGINT or SIGQUIT.\n"
"    check     Load and validate the config, print every error found, and\n"
"              exit 0 if it is valid, 1 if not.  Nothing is started.\n"
"    version   Print \"guerrillad <version>\" and exit.\n"
"\n"
"OPTIONS\n"
"    -c, --config FILE   The JSON config file (go-guerrilla's format; //\n"
"                        and block comments are allowed).  Default:\n"
"                        goguerrilla.conf in the working directory if it\n"
"                        exists, else goguerrilla.conf.json.\n"
"    -p, --pidFile FILE  Write the process id here (overrides pid_file in\n"
"                        the config; default " DEFAULT_PID ").\n"
"                        The file is removed on a clean exit.\n"
"    -v, --verbose       Log at debug level whatever log_level says.\n"
"    -h, --help          Show this text.\n"
"\n"
"SIGNALS\n"
"    SIGTERM, SIGINT, SIGQUIT\n"
"              Graceful shutdown: stop accepting, answer idle sessions\n"
"              with 421, let messages being received or saved finish, then\n"
"              stop the workers.  Gives up after 60 seconds (exit 1).\n"
"    SIGUSR1   Reopen every log file (for logrotate).\n"
"    SIGHUP    Re-read the config file and apply it without dropping\n"
"              connections: servers added, removed, enabled or disabled;\n"
"              allowed_hosts, timeouts, max_clients, logs and log levels;\n"
"              a changed backend_config starts a new backend, then drains\n"
"              the old.  A config with errors changes nothing (each error\n"
"              is logged).  TLS certificates whose files changed are\n"
"              reloaded for new sessions; a broken pair keeps the old.\n"
"              io_threads, user and group need a restart.\n"
"\n"
"EXIT STATUS\n"
"    0 after a clean shutdown or a valid check; 1 for config or start\n"
"    errors, or when the shutdown watchdog expired; 2 for usage errors.\n"
"\n"
"FILES\n"
"    sample.conf in the source tree documents every config key.\n";

static void
usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

/* default_config - OPS-02. */
static const char *
default_config(void)
{
	return access("goguerrilla.conf", F_OK) == 0 ? "goguerrilla.conf" :
	    "goguerrilla.conf.json";
}

/* opt_value - "-c FILE", "--config FILE" or "--config=FILE". */
static const char *
opt_value(int argc, char **argv, int *i, const char *s, const char *l)
{
	const char *a = argv[*i];
	size_t ll = strlen(l);

	if (strcmp(a, s) == 0 || strcmp(a, l) == 0) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "guerrillad: %s needs a value\n", a);
			usage();
		}
		return argv[++*i];
	}
	if (strncmp(a, l, ll) == 0 && a[ll] == '=')
		return a + ll + 1;
	return NULL;
}

static struct gd_daemon *
load(const char *conf, int verbose)
{
	struct gd_daemon *d = gd_new();
	char *errs = NULL;

	if (d == NULL) {
		fprintf(stderr, "guerrillad: out of memory\n");
		exit(1);
	}
	gd_set_verbose(d, verbose);
	if (gd_load_config_file(d, conf, &errs) != 0) {
		fprintf(stderr, "Error while reading config:\n%s\n",
		    errs != NULL ? errs : "unknown error");
		free(errs);
		gd_free(d);
		return NULL;
	}
	return d;
}

static int
serve(const char *conf, const char *pidfile, int verbose)
{
	struct gd_daemon *d;
	sigset_t set;
	char *errs = NULL;
	int sig, rc = 0;

	/* Block before any thread exists so that every thread inherits it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((d = load(conf, verbose)) == NULL)
		return 1;
	/* OPS-02: -p, then pid_file, then the historical default */
	if (pidfile == NULL && gd_pid_file(d)[0] == '\0')
		pidfile = DEFAULT_PID;
	if (pidfile != NULL)
		gd_set_pid_file(d, pidfile);
	if (gd_start(d, &errs) != 0) {
		fprintf(stderr, "guerrillad: cannot start:\n%s\n",
		    errs != NULL ? errs : "unknown error");
		free(errs);
		gd_free(d);
		return 1;
	}
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			/* OPS-08: the file again; a bad one changes nothing
			 * (logged by the library).  Then TLS-07: certificate
			 * files changed under an unchanged config. */
			if (gd_reload_config_file(d, conf, &errs) == 0)
				(void)gd_reload_tls(d);
			free(errs);
			errs = NULL;
			continue;
		}
		if (sig == SIGUSR1) {
			gd_reopen_logs(d);
			continue;
		}
		break;	/* TERM, INT, QUIT */
	}
	gd_log_daemon(d, GD_LOG_INFO, "Shutdown signal caught");
	if (gd_shutdown(d) != 0) {
		/* watchdog (OPS-09): live threads may still use d; exit now */
		fprintf(stderr, "guerrillad: graceful shutdown timed out\n");
		_exit(1);
	}
	gd_log_daemon(d, GD_LOG_INFO, "Shutdown completed, exiting.");
	gd_free(d);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *pidfile = NULL, *cmd = NULL, *v;
	int verbose = 0, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
		    strcmp(a, "help") == 0) {
			fputs(help_text, stdout);
			return 0;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
			verbose = 1;
		else if ((v = opt_value(argc, argv, &i, "-c", "--config")))
			conf = v;
		else if ((v = opt_value(argc, argv, &i, "-p", "--pidFile")))
			pidfile = v;
		else if (a[0] == '-') {
			fprintf(stderr, "guerrillad: unknown option %s\n", a);
			usage();
		} else if (cmd == NULL)
			cmd = a;
		else {
			fprintf(stderr, "guerrillad: unexpected argument %s\n",
			    a);
			usage();
		}
	}
	if (cmd == NULL)
		usage();
	if (strcmp(cmd, "version") == 0) {
		printf("guerrillad %s\n", gd_version());
		return 0;
	}
	if (conf == NULL)
		conf = default_config();
	if (strcmp(cmd, "check") == 0) {
		struct gd_daemon *d = load(conf, verbose);
		if (d == NULL)
			return 1;
		printf("%s: config OK\n", conf);
		gd_free(d);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0) {
		return serve(conf, pidfile, verbose);
	}
	fprintf(stderr, "guerrillad: unknown command %s\n", cmd);
	usage();
	return EXIT_USAGE;
}
