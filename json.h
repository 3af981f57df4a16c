/*
 * json.h - a small RFC 8259 JSON parser with line:column errors (CFG-01).
 *
 * The parser reads a whole document from a buffer and builds a tree of
 * struct json_value.  It validates UTF-8, decodes every escape (including
 * \u surrogate pairs), detects number overflow, bounds nesting depth, and
 * with JSON_COMMENTS also skips // and block comments.  Duplicate object
 * keys: the last one wins (the earlier member is replaced in place).
 * Every value remembers where it started so that config errors can say
 * "line L column C".  The tree is owned by the caller: json_free().
 */
#ifndef GD_JSON_H
#define GD_JSON_H

#include <stddef.h>

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

#define JSON_MAX_DEPTH	64	/* nesting limit; CFG-01 asks for >= 32 */

/* flags for json_parse */
#define JSON_COMMENTS	0x1	/* allow // line and block comments */

struct json_member;

struct json_value {
	enum json_type	type;
	int		line;		/* 1-based position of the value's first byte */
	int		col;		/* 1-based, counted in bytes */
	union {
		struct {
			double		d;	/* always set */
			long long	i;	/* set when is_int */
			int		is_int;	/* integer literal that fits long long */
		} num;
		struct {
			char	*s;	/* NUL-terminated; may hold embedded NULs */
			size_t	len;
		} str;
		struct {
			struct json_value	**items;
			size_t			n;
		} arr;
		struct {
			struct json_member	*m;
			size_t			n;
		} obj;
	} u;
};

struct json_member {
	char			*key;	/* NUL-terminated, decoded */
	size_t			keylen;
	struct json_value	*val;
};

/*
 * json_parse - parse buf[0..len) as one JSON document.
 * Returns the root value, or NULL with err filled as
 * "<what was expected> at line L column C" (or "out of memory").
 */
struct json_value	*json_parse(const char *buf, size_t len, int flags,
			    char *err, size_t errlen);
void			 json_free(struct json_value *v);

/* json_get - member of an object by exact key, NULL if absent or v is not
 * an object.  The returned pointer is owned by the tree. */
const struct json_value	*json_get(const struct json_value *v, const char *key);

/* Constructors, for filling defaults into a parsed tree.  NULL on ENOMEM. */
struct json_value	*json_new_string(const char *s);
struct json_value	*json_new_bool(int b);
struct json_value	*json_new_int(long long i);
struct json_value	*json_new_object(void);
struct json_value	*json_new_array(void);
/* json_push - append val to an array; takes ownership of val (freed on
 * failure).  0, or -1 if arr is not an array or on ENOMEM. */
int			 json_push(struct json_value *arr, struct json_value *val);
/* json_set - add or replace obj[key]; takes ownership of val (freed on
 * failure).  Returns 0, or -1 if obj is not an object or on ENOMEM. */
int			 json_set(struct json_value *obj, const char *key,
			    struct json_value *val);
/* json_clone - deep copy; NULL on ENOMEM. */
struct json_value	*json_clone(const struct json_value *v);

/* json_type_name - "string", "number", "object", ... for error messages. */
const char		*json_type_name(enum json_type t);
/* json_equal - same value (positions ignored; object members in any
 * order; numbers by value).  NULL equals only NULL. */
int			 json_equal(const struct json_value *a,
			    const struct json_value *b);

#endif
