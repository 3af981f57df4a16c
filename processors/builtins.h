/*
 * builtins.h - the processors that come with guerrillad (private: not
 * installed).  Each p_*.c defines one of them, written against the public
 * guerrilla.h alone, as an embedder's processor would be; builtins.c
 * lists them for the registry, which every daemon starts with.
 */
#ifndef GD_PROCESSORS_BUILTINS_H
#define GD_PROCESSORS_BUILTINS_H

#include "guerrilla.h"

extern const struct gd_processor p_headersparser_processor;
extern const struct gd_processor p_header_processor;
extern const struct gd_processor p_hasher_processor;
extern const struct gd_processor p_debugger_processor;
extern const struct gd_processor p_maildir_processor;
extern const struct gd_processor p_compressor_processor;
extern const struct gd_processor p_wildcard_processor;
extern const struct gd_processor p_redis_processor;
extern const struct gd_processor p_sql_processor;
extern const struct gd_processor p_fastcgi_processor;
extern const struct gd_processor p_guerrilladbredis_processor;

/* p_builtins - every built-in processor, in registry order; NULL ends it. */
extern const struct gd_processor *const p_builtins[];

#endif
