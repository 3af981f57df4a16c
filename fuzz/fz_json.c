/*
 * fz_json.c - libFuzzer target for json_parse, with and without
 * JSON_COMMENTS (the first input byte picks).  On success the tree is
 * walked (strings NUL-terminated at len, positions sane) and json_clone
 * must give an equal tree; on failure the error text must be set.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define FZ_ASSERT(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

/* equal - deep equality, checking each node's invariants on the way. */
static int
equal(const struct json_value *a, const struct json_value *b, int depth)
{
	size_t i;

	FZ_ASSERT(depth <= JSON_MAX_DEPTH + 1);
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case JSON_NULL:
	case JSON_FALSE:
	case JSON_TRUE:
		return 1;
	case JSON_NUMBER:
		if (a->u.num.is_int != b->u.num.is_int)
			return 0;
		if (a->u.num.is_int && a->u.num.i != b->u.num.i)
			return 0;
		return memcmp(&a->u.num.d, &b->u.num.d, sizeof(double)) == 0;
	case JSON_STRING:
		FZ_ASSERT(a->u.str.s[a->u.str.len] == '\0');
		return a->u.str.len == b->u.str.len &&
		    memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
	case JSON_ARRAY:
		if (a->u.arr.n != b->u.arr.n)
			return 0;
		for (i = 0; i < a->u.arr.n; i++)
			if (!equal(a->u.arr.items[i], b->u.arr.items[i],
			    depth + 1))
				return 0;
		return 1;
	case JSON_OBJECT:
		if (a->u.obj.n != b->u.obj.n)
			return 0;
		for (i = 0; i < a->u.obj.n; i++) {
			const struct json_member *x = &a->u.obj.m[i];
			const struct json_member *y = &b->u.obj.m[i];

			FZ_ASSERT(x->key[x->keylen] == '\0');
			if (x->keylen != y->keylen ||
			    memcmp(x->key, y->key, x->keylen) != 0 ||
			    !equal(x->val, y->val, depth + 1))
				return 0;
			/* duplicates: the last one won, so keys are unique */
			if (memchr(x->key, '\0', x->keylen) == NULL)
				FZ_ASSERT(json_get(a, x->key) == x->val);
		}
		return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_value *v, *c;
	char err[256];
	int flags;

	if (size < 1)
		return 0;
	flags = data[0] & 1 ? JSON_COMMENTS : 0;
	data++;
	size--;
	err[0] = '\0';
	v = json_parse((const char *)data, size, flags, err, sizeof(err));
	if (v == NULL) {
		FZ_ASSERT(err[0] != '\0');
		FZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	FZ_ASSERT(v->line >= 1 && v->col >= 1);
	if ((c = json_clone(v)) != NULL) {
		FZ_ASSERT(equal(v, c, 0));
		json_free(c);
	}
	json_free(v);
	return 0;
}
