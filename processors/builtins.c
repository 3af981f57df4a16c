/*
 * builtins.c - the table of built-in processors (builtins.h).  Adding a
 * processor to guerrillad: a new p_<name>.c, its extern in builtins.h,
 * its line here and its object in the Makefile; nothing else names it.
 */
#include "compat.h"

#include <stddef.h>

#include "processors/builtins.h"

const struct gd_processor *const p_builtins[] = {
	&p_headersparser_processor,
	&p_header_processor,
	&p_hasher_processor,
	&p_debugger_processor,
	&p_maildir_processor,
	&p_compressor_processor,
	&p_wildcard_processor,
	&p_redis_processor,
	&p_fastcgi_processor,
	&p_sql_processor,
	&p_guerrilladbredis_processor,
	NULL
};
