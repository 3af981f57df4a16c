/*
 * t_json.c - unit tests for json.c (CFG-01): every branch of the grammar,
 * exact error texts and positions, the tree API, and a deterministic
 * mutation loop that must never crash (run it under ASan: make test SAN=1).
 *
 * Every document is copied into a malloc'd buffer of exactly its length
 * before parsing, so ASan catches any read past len and the parser is
 * never handed a terminating NUL.
 */
#include "compat.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "t.h"

static char errbuf[256];

/* parse - json_parse on an exact-size copy of doc[0..len). */
static struct json_value *
parse(const char *doc, size_t len, int flags)
{
	struct json_value *v;
	char *copy;

	if ((copy = malloc(len ? len : 1)) == NULL)
		return NULL;
	memcpy(copy, doc, len);
	v = json_parse(copy, len, flags, errbuf, sizeof(errbuf));
	free(copy);	/* the tree must not point into the input */
	return v;
}

/* perr - the error text for doc, or "(parsed)" if it parsed. */
static const char *
perr(const char *doc, size_t len, int flags)
{
	struct json_value *v;

	if ((v = parse(doc, len, flags)) != NULL) {
		json_free(v);
		return "(parsed)";
	}
	return errbuf;
}

/* String literals only: sizeof keeps embedded NULs and drops the last. */
#define OK(lit)		parse((lit), sizeof(lit) - 1, 0)
#define OKC(lit)	parse((lit), sizeof(lit) - 1, JSON_COMMENTS)
#define ERR(lit, want)	CHECK_STR(perr((lit), sizeof(lit) - 1, 0), (want))
#define ERRC(lit, want)	\
	CHECK_STR(perr((lit), sizeof(lit) - 1, JSON_COMMENTS), (want))

static void
test_literals(void)
{
	struct json_value *v;

	CHECK((v = OK("true")) != NULL && v->type == JSON_TRUE);
	json_free(v);
	CHECK((v = OK("false")) != NULL && v->type == JSON_FALSE);
	json_free(v);
	CHECK((v = OK(" \t\r\nnull \n")) != NULL && v->type == JSON_NULL &&
	    v->line == 2 && v->col == 1);
	json_free(v);
	ERR("tru", "expected 'true' at line 1 column 1");
	ERR("True", "expected a value at line 1 column 1");
	ERR("fals", "expected 'false' at line 1 column 1");
	ERR("nul", "expected 'null' at line 1 column 1");
	ERR("nulL", "expected 'null' at line 1 column 1");
	ERR("truex", "unexpected data after the document at line 1 column 5");
	ERR("true false",
	    "unexpected data after the document at line 1 column 6");
	ERR("[tru]", "expected 'true' at line 1 column 2");
}

static void
test_empty_and_nul(void)
{
	ERR("", "expected a value at line 1 column 1");
	ERR("   \n  ", "expected a value at line 2 column 3");
	ERR("\0", "expected a value at line 1 column 1");
	ERR("1\0", "unexpected data after the document at line 1 column 2");
	ERR("[1,\0]", "expected a value at line 1 column 4");
	ERR("\"a\0b\"", "control character 0x00 in string at line 1 column 3");
	ERR("{\"a\":1}\0",
	    "unexpected data after the document at line 1 column 8");
	CHECK(json_parse(NULL, 0, 0, errbuf, sizeof(errbuf)) == NULL);
	CHECK_STR(errbuf, "expected a value at line 1 column 1");
	/* a tiny or absent error buffer is not written past */
	CHECK(json_parse("x", 1, 0, NULL, 0) == NULL);
	errbuf[5] = 'Z';
	CHECK(json_parse("x", 1, 0, errbuf, 5) == NULL);
	CHECK_STR(errbuf, "expe");
	CHECK(errbuf[5] == 'Z');
}

static void
test_strings(void)
{
	struct json_value *v;

	v = OK("\"\"");
	CHECK(v != NULL && v->type == JSON_STRING && v->u.str.len == 0 &&
	    v->u.str.s[0] == '\0');
	json_free(v);
	v = OK("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"");
	CHECK(v != NULL && v->u.str.len == 15 &&
	    memcmp(v->u.str.s, "\" \\ / \b \f \n \r \t", 16) == 0);
	json_free(v);
	v = OK("\"\\u0041\\u00e9\\u20AC\\u0000x\"");
	CHECK(v != NULL && v->u.str.len == 8 &&
	    memcmp(v->u.str.s, "A\xC3\xA9\xE2\x82\xAC\0x", 9) == 0);
	json_free(v);
	v = OK("\"\\ud83d\\ude00\"");
	CHECK(v != NULL && v->u.str.len == 4 &&
	    memcmp(v->u.str.s, "\xF0\x9F\x98\x80", 5) == 0);
	json_free(v);
	v = OK("\"\\uDBFF\\uDFFF\\uD800\\uDC00\"");
	CHECK(v != NULL && v->u.str.len == 8 &&
	    memcmp(v->u.str.s, "\xF4\x8F\xBF\xBF\xF0\x90\x80\x80", 8) == 0);
	json_free(v);
	/* DEL and C1 controls are allowed raw; only < 0x20 is not */
	v = OK("\"\x7F\xC2\x80\"");
	CHECK(v != NULL && v->u.str.len == 3);
	json_free(v);

	ERR("\"abc", "unterminated string at line 1 column 5");
	ERR("\"abc\\", "unterminated string at line 1 column 6");
	ERR("\"abc\\\"", "unterminated string at line 1 column 7");
	ERR("\"a\nb\"", "control character 0x0A in string at line 1 column 3");
	ERR("\"a\tb\"", "control character 0x09 in string at line 1 column 3");
	ERR("\"\x1F\"", "control character 0x1F in string at line 1 column 2");
	ERR("\"\\q\"", "invalid escape \\q at line 1 column 2");
	ERR("\"ab\\x41\"", "invalid escape \\x at line 1 column 4");
	ERR("\"\\U0041\"", "invalid escape \\U at line 1 column 2");
	ERR("\"\\\x01\"",
	    "invalid escape: byte 0x01 after \\ at line 1 column 2");
	ERR("\"\\u12\"", "invalid \\u escape at line 1 column 2");
	ERR("\"\\u12G4\"", "invalid \\u escape at line 1 column 2");
	ERR("\"\\u", "invalid \\u escape at line 1 column 2");
	ERR("\"\\u004", "invalid \\u escape at line 1 column 2");
	ERR("\"\\u0041", "unterminated string at line 1 column 8");
	/* lone and mismatched surrogates */
	ERR("\"\\uD800\"", "lone surrogate \\uD800 at line 1 column 2");
	ERR("\"\\ud800\"", "lone surrogate \\uD800 at line 1 column 2");
	ERR("\"x\\uDC00\"", "lone surrogate \\uDC00 at line 1 column 3");
	ERR("\"\\uDBFFx\"", "lone surrogate \\uDBFF at line 1 column 2");
	ERR("\"\\uD800\\n\"", "lone surrogate \\uD800 at line 1 column 2");
	ERR("\"\\uD800\\u0041\"", "lone surrogate \\uD800 at line 1 column 2");
	ERR("\"\\uD800\\uD800\"", "lone surrogate \\uD800 at line 1 column 2");
	ERR("\"\\uDC00\\uD800\"", "lone surrogate \\uDC00 at line 1 column 2");
	ERR("\"\\uD800\\u12\"", "invalid \\u escape at line 1 column 8");
	ERR("\"\\uD800", "lone surrogate \\uD800 at line 1 column 2");
	ERR("\"\\uD800\\", "lone surrogate \\uD800 at line 1 column 2");
	ERR("\"\\uD800\\u", "invalid \\u escape at line 1 column 8");
}

static void
test_utf8(void)
{
	struct json_value *v;

	/* the edges of every valid range of Unicode Table 3-7 */
	v = OK("\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xE1\x80\x80\xEC\xBF\xBF"
	    "\xED\x80\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF"
	    "\xF0\x90\x80\x80\xF1\x80\x80\x80\xF3\xBF\xBF\xBF"
	    "\xF4\x8F\xBF\xBF\"");
	CHECK(v != NULL && v->u.str.len == 2 + 2 + 3 * 7 + 4 * 4);
	json_free(v);
	v = OK("{\"\xC3\xA9t\xC3\xA9\":\"\xE2\x82\xAC\"}");
	CHECK(json_get(v, "\xC3\xA9t\xC3\xA9") != NULL);
	json_free(v);

	/* bare continuation bytes and impossible lead bytes */
	ERR("\"\x80\"", "invalid UTF-8 byte 0x80 at line 1 column 2");
	ERR("\"a\xBF\"", "invalid UTF-8 byte 0xBF at line 1 column 3");
	ERR("\"\xC0\x80\"", "invalid UTF-8 byte 0xC0 at line 1 column 2");
	ERR("\"\xC1\xBF\"", "invalid UTF-8 byte 0xC1 at line 1 column 2");
	ERR("\"\xF5\x80\x80\x80\"",
	    "invalid UTF-8 byte 0xF5 at line 1 column 2");
	ERR("\"\xFF\"", "invalid UTF-8 byte 0xFF at line 1 column 2");
	/* overlong 3- and 4-byte forms */
	ERR("\"\xE0\x80\x80\"", "overlong UTF-8 sequence at line 1 column 2");
	ERR("\"\xE0\x9F\xBF\"", "overlong UTF-8 sequence at line 1 column 2");
	ERR("\"\xF0\x8F\xBF\xBF\"",
	    "overlong UTF-8 sequence at line 1 column 2");
	/* surrogates encoded in UTF-8 */
	ERR("\"\xED\xA0\x80\"", "UTF-8 encoded surrogate at line 1 column 2");
	ERR("\"\xED\xBF\xBF\"", "UTF-8 encoded surrogate at line 1 column 2");
	/* above U+10FFFF */
	ERR("\"\xF4\x90\x80\x80\"",
	    "UTF-8 code point above U+10FFFF at line 1 column 2");
	/* truncated sequences, inside the string and at the end of input */
	ERR("\"\xC3\"", "truncated UTF-8 sequence at line 1 column 2");
	ERR("\"\xE2\x82\"", "truncated UTF-8 sequence at line 1 column 2");
	ERR("\"\xF0\x9F\x98x\"", "truncated UTF-8 sequence at line 1 column 2");
	ERR("\"\xE2\x82", "truncated UTF-8 sequence at line 1 column 2");
	ERR("\"\xF0", "truncated UTF-8 sequence at line 1 column 2");
	ERR("\"\xC3\xC3\xA9\"", "truncated UTF-8 sequence at line 1 column 2");
	/* keys are validated the same way */
	ERR("{\"\x80\":1}", "invalid UTF-8 byte 0x80 at line 1 column 3");
	/* outside strings a high byte is simply unexpected */
	ERR("\xEF\xBB\xBF{}", "expected a value at line 1 column 1");
}

static void
test_numbers(void)
{
	struct json_value *v;

	CHECK((v = OK("0")) != NULL && v->type == JSON_NUMBER &&
	    v->u.num.is_int && v->u.num.i == 0 && v->u.num.d == 0);
	json_free(v);
	CHECK((v = OK("-0")) != NULL && v->u.num.is_int && v->u.num.i == 0 &&
	    v->u.num.d == 0 && signbit(v->u.num.d));
	json_free(v);
	CHECK((v = OK("-12")) != NULL && v->u.num.is_int &&
	    v->u.num.i == -12 && v->u.num.d == -12);
	json_free(v);
	CHECK((v = OK("1.5e3")) != NULL && !v->u.num.is_int &&
	    v->u.num.d == 1500);
	json_free(v);
	CHECK((v = OK("1.0")) != NULL && !v->u.num.is_int && v->u.num.d == 1);
	json_free(v);
	CHECK((v = OK("2E+2")) != NULL && !v->u.num.is_int &&
	    v->u.num.d == 200);
	json_free(v);
	CHECK((v = OK("25e-2")) != NULL && v->u.num.d == 0.25);
	json_free(v);
	CHECK((v = OK("-0.125")) != NULL && v->u.num.d == -0.125);
	json_free(v);
	CHECK((v = OK("0e0")) != NULL && !v->u.num.is_int && v->u.num.d == 0);
	json_free(v);
	CHECK((v = OK("9223372036854775807")) != NULL && v->u.num.is_int &&
	    v->u.num.i == LLONG_MAX);
	json_free(v);
	CHECK((v = OK("-9223372036854775808")) != NULL && v->u.num.is_int &&
	    v->u.num.i == LLONG_MIN);
	json_free(v);
	CHECK((v = OK("9223372036854775808")) != NULL && !v->u.num.is_int &&
	    v->u.num.d == 9223372036854775808.0);
	json_free(v);
	CHECK((v = OK("-9223372036854775809")) != NULL && !v->u.num.is_int);
	json_free(v);
	/* an integer past long long but within double is still a number */
	CHECK((v = OK("1000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000000000000000000"))
	    != NULL && !v->u.num.is_int && v->u.num.d > 9.9e113);
	json_free(v);
	/* underflow rounds towards zero and is not an error */
	CHECK((v = OK("1e-400")) != NULL && v->u.num.d >= 0 &&
	    v->u.num.d < DBL_MIN);
	json_free(v);
	CHECK((v = OK("[1,-2.5,3e1]")) != NULL && v->u.arr.n == 3 &&
	    v->u.arr.items[2]->u.num.d == 30 && v->u.arr.items[1]->col == 4);
	json_free(v);

	ERR("1e400", "number out of range at line 1 column 1");
	ERR("-1e400", "number out of range at line 1 column 1");
	ERR("[0, 1.7976931348623159e308]",
	    "number out of range at line 1 column 5");
	ERR("01", "invalid number at line 1 column 2");
	ERR("-01", "invalid number at line 1 column 3");
	ERR("00", "invalid number at line 1 column 2");
	ERR("1.", "invalid number at line 1 column 3");
	ERR("1.e5", "invalid number at line 1 column 3");
	ERR(".5", "invalid number at line 1 column 1");
	ERR("-", "invalid number at line 1 column 2");
	ERR("-a", "invalid number at line 1 column 2");
	ERR("- 1", "invalid number at line 1 column 2");
	ERR("+1", "invalid number at line 1 column 1");
	ERR("1e", "invalid number at line 1 column 3");
	ERR("1e+", "invalid number at line 1 column 4");
	ERR("1E-x", "invalid number at line 1 column 4");
	ERR("0x10", "unexpected data after the document at line 1 column 2");
	ERR("1.5.2", "unexpected data after the document at line 1 column 4");
	ERR("[1 2]", "expected ',' or ']' at line 1 column 4");
	ERR("NaN", "expected a value at line 1 column 1");
	ERR("-Infinity", "invalid number at line 1 column 2");
	{
		/* 1 followed by 309 zeros overflows a double */
		char big[311];

		big[0] = '1';
		memset(big + 1, '0', 309);
		big[310] = '\0';
		CHECK_STR(perr(big, 310, 0),
		    "number out of range at line 1 column 1");
	}
}

static void
test_structures(void)
{
	struct json_value *v;
	const struct json_value *a, *o;

	v = OK(" { \"a\" : [ 1 , { \"b\" : null } , [ ] , { } ] ,\n"
	    "\"c\":\"d\" } ");
	CHECK(v != NULL && v->type == JSON_OBJECT && v->u.obj.n == 2);
	CHECK(v != NULL && v->line == 1 && v->col == 2);
	a = json_get(v, "a");
	CHECK(a != NULL && a->type == JSON_ARRAY && a->u.arr.n == 4);
	if (a != NULL && a->u.arr.n == 4) {
		CHECK(a->line == 1 && a->col == 10);
		CHECK(a->u.arr.items[0]->u.num.i == 1);
		o = a->u.arr.items[1];
		CHECK(o->type == JSON_OBJECT && json_get(o, "b") != NULL &&
		    json_get(o, "b")->type == JSON_NULL);
		CHECK(json_get(o, "b")->col == 24);
		CHECK(a->u.arr.items[2]->type == JSON_ARRAY &&
		    a->u.arr.items[2]->u.arr.n == 0);
		CHECK(a->u.arr.items[3]->type == JSON_OBJECT &&
		    a->u.arr.items[3]->u.obj.n == 0);
	}
	o = json_get(v, "c");
	CHECK(o != NULL && o->type == JSON_STRING &&
	    strcmp(o->u.str.s, "d") == 0 && o->line == 2 && o->col == 5);
	CHECK(json_get(v, "d") == NULL);
	CHECK(json_get(a, "a") == NULL);
	CHECK(json_get(NULL, "a") == NULL);
	json_free(v);

	CHECK((v = OK("[]")) != NULL && v->u.arr.n == 0);
	json_free(v);
	CHECK((v = OK("{}")) != NULL && v->u.obj.n == 0);
	json_free(v);
	CHECK((v = OK("\"top\"")) != NULL && v->type == JSON_STRING);
	json_free(v);

	ERR("[", "unexpected end of input, expected a value "
	    "at line 1 column 2");
	ERR("[1", "unexpected end of input, expected ',' or ']' "
	    "at line 1 column 3");
	ERR("[1,", "unexpected end of input, expected a value "
	    "at line 1 column 4");
	ERR("[1,]", "expected a value at line 1 column 4");
	ERR("[,1]", "expected a value at line 1 column 2");
	ERR("[1;2]", "expected ',' or ']' at line 1 column 3");
	ERR("[1}", "expected ',' or ']' at line 1 column 3");
	ERR("]", "expected a value at line 1 column 1");
	ERR("{", "unexpected end of input, expected a string key "
	    "at line 1 column 2");
	ERR("{\"a\"", "unexpected end of input, expected ':' after object key "
	    "at line 1 column 5");
	ERR("{\"a\":", "unexpected end of input, expected a value "
	    "at line 1 column 6");
	ERR("{\"a\":1", "unexpected end of input, expected ',' or '}' "
	    "at line 1 column 7");
	ERR("{\"a\":1,", "unexpected end of input, expected a string key "
	    "at line 1 column 8");
	ERR("{\"a\":1,}", "expected a string key at line 1 column 8");
	ERR("{a:1}", "expected a string key at line 1 column 2");
	ERR("{1:1}", "expected a string key at line 1 column 2");
	ERR("{'a':1}", "expected a string key at line 1 column 2");
	ERR("{\"a\" 1}", "expected ':' after object key at line 1 column 6");
	ERR("{\"a\"=1}", "expected ':' after object key at line 1 column 5");
	ERR("{\"a\":}", "expected a value at line 1 column 6");
	ERR("{\"a\":1 \"b\":2}", "expected ',' or '}' at line 1 column 8");
	ERR("{\"a\":1]", "expected ',' or '}' at line 1 column 7");
	ERR("{\"a\":1}}",
	    "unexpected data after the document at line 1 column 8");
	ERR("[] []", "unexpected data after the document at line 1 column 4");
	ERR("{\"a\":\"\x80\"}", "invalid UTF-8 byte 0x80 at line 1 column 7");
}

static void
test_depth(void)
{
	char doc[2 * (JSON_MAX_DEPTH + 1) + 2];
	struct json_value *v;
	int d;
	size_t n;

	/* JSON_MAX_DEPTH nested arrays parse */
	for (n = 0, d = 0; d < JSON_MAX_DEPTH; d++)
		doc[n++] = '[';
	for (d = 0; d < JSON_MAX_DEPTH; d++)
		doc[n++] = ']';
	CHECK((v = parse(doc, n, 0)) != NULL);
	json_free(v);
	/* one more does not, and the error points at the extra bracket */
	for (n = 0, d = 0; d < JSON_MAX_DEPTH + 1; d++)
		doc[n++] = '[';
	for (d = 0; d < JSON_MAX_DEPTH + 1; d++)
		doc[n++] = ']';
	CHECK_STR(perr(doc, n, 0), JSON_MAX_DEPTH == 64 ?
	    "nesting too deep at line 1 column 65" : "(depth changed)");
	/* objects count too, mixed with arrays */
	{
		char *big = malloc(JSON_MAX_DEPTH * 8 + 16);
		size_t m = 0;

		CHECK(big != NULL);
		if (big == NULL)
			return;
		for (d = 0; d < JSON_MAX_DEPTH / 2; d++) {
			memcpy(big + m, "{\"k\":[", 6);
			m += 6;
		}
		for (d = 0; d < JSON_MAX_DEPTH / 2; d++) {
			memcpy(big + m, "]}", 2);
			m += 2;
		}
		CHECK((v = parse(big, m, 0)) != NULL);
		json_free(v);
		m = 0;
		for (d = 0; d < JSON_MAX_DEPTH / 2; d++) {
			memcpy(big + m, "{\"k\":[", 6);
			m += 6;
		}
		big[m++] = '{';
		CHECK(strstr(perr(big, m, 0), "nesting too deep") != NULL);
		free(big);
	}
}

static void
test_duplicates(void)
{
	struct json_value *v;
	const struct json_value *a;

	v = OK("{\"a\":1,\"b\":2,\"a\":{\"x\":[3]},\"c\":3,\"a\":\"last\"}");
	CHECK(v != NULL && v->u.obj.n == 3);
	if (v != NULL && v->u.obj.n == 3) {
		/* the first "a" keeps its place and takes the last value */
		CHECK(strcmp(v->u.obj.m[0].key, "a") == 0);
		CHECK(strcmp(v->u.obj.m[1].key, "b") == 0);
		CHECK(strcmp(v->u.obj.m[2].key, "c") == 0);
		a = json_get(v, "a");
		CHECK(a != NULL && a->type == JSON_STRING &&
		    strcmp(a->u.str.s, "last") == 0 && a->col == 38);
	}
	json_free(v);
	/* keys compare decoded, and "a\0b" is neither "a" nor "a\0c" */
	v = OK("{\"\\u0061\":1,\"a\":2,\"a\\u0000b\":3,\"a\\u0000c\":4}");
	CHECK(v != NULL && v->u.obj.n == 3);
	a = json_get(v, "a");
	CHECK(a != NULL && a->u.num.i == 2);
	if (v != NULL && v->u.obj.n == 3) {
		CHECK(v->u.obj.m[1].keylen == 3 &&
		    memcmp(v->u.obj.m[1].key, "a\0b", 4) == 0);
		CHECK(v->u.obj.m[2].val->u.num.i == 4);
	}
	json_free(v);
	v = OK("{\"a\\u0000\":1}");
	CHECK(v != NULL && json_get(v, "a") == NULL);
	json_free(v);
	v = OK("{\"\":5}");
	CHECK(v != NULL && json_get(v, "") != NULL);
	json_free(v);
}

static void
test_comments(void)
{
	struct json_value *v;
	const struct json_value *a;

	v = OKC("// leading\n/* block\n * comment */ {\n"
	    "\t\"a\" /* k */ : /**/ 1, // trailing, \"quoted\"\n"
	    "\t\"b\": [1 /* ] */, 2]//\n"
	    "} // no newline at the end");
	CHECK(v != NULL && v->type == JSON_OBJECT && v->u.obj.n == 2);
	a = json_get(v, "b");
	CHECK(a != NULL && a->type == JSON_ARRAY && a->u.arr.n == 2);
	CHECK(v != NULL && v->line == 3 && v->col == 15);
	a = json_get(v, "a");
	CHECK(a != NULL && a->line == 4 && a->col == 21);
	json_free(v);
	/* a comment is no comment inside a string */
	v = OKC("\"// /* x */\"");
	CHECK(v != NULL && v->u.str.len == 10);
	json_free(v);
	CHECK((v = OKC("1/**/")) != NULL);
	json_free(v);
	CHECK((v = OKC("/***/1")) != NULL);
	json_free(v);

	/* without the flag a '/' is what it is: unexpected */
	ERR("// c\n1", "expected a value at line 1 column 1");
	ERR("1 // c", "unexpected data after the document at line 1 column 3");
	ERR("[1, /* c */ 2]", "expected a value at line 1 column 5");
	ERR("{\"a\":1 /* c */}", "expected ',' or '}' at line 1 column 8");
	/* with it, broken comments */
	ERRC("/", "expected a value at line 1 column 1");
	ERRC("/x 1", "expected a value at line 1 column 1");
	ERRC("1 /", "unexpected data after the document at line 1 column 3");
	ERRC("[1 /x]", "expected ',' or ']' at line 1 column 4");
	ERRC("\n  /* never\nclosed *",
	    "unterminated comment at line 2 column 3");
	ERRC("{\"a\":1} /*/", "unterminated comment at line 1 column 9");
	ERRC("[1, /* x", "unterminated comment at line 1 column 5");
	ERRC("// only a comment", "expected a value at line 1 column 18");
	ERRC("/* only */\n", "expected a value at line 2 column 1");
	ERRC("1 // a\0b", "NUL byte in comment at line 1 column 7");
	ERRC("1 /* a\0b */", "NUL byte in comment at line 1 column 7");
}

static void
test_positions(void)
{
	/* an error on line 7, after tabs, comments and multi-byte text */
	ERRC("{\n"
	    "\t// the listener\n"
	    "\t\"servers\": [\n"
	    "\t\t{\n"
	    "\t\t\t\"host\": \"h\xC3\xA9llo\",\n"
	    "\t\t\t\"listen\": \"127.0.0.1:25\"\n"
	    "\t\t\t\"timeout\": 30\n"
	    "\t\t}\n"
	    "\t]\n"
	    "}\n",
	    "expected ',' or '}' at line 7 column 4");
	ERR("{\r\n\"a\": 1,\r\n\"b\": tru\r\n}",
	    "expected 'true' at line 3 column 6");
	ERR("[\n1,\n2,\n\n\n\n\n]", "expected a value at line 8 column 1");
	ERR("[\"x\",\n\"y\n\"]",
	    "control character 0x0A in string at line 2 column 3");
	ERR("{\"a\":\n\n  \"\xC3\xA9\\z\"}",
	    "invalid escape \\z at line 3 column 6");
	ERR("\n\n\n   ", "expected a value at line 4 column 4");
	ERR("[1,\n2", "unexpected end of input, expected ',' or ']' "
	    "at line 2 column 2");
	ERR("{\"a\":[1,\n 2,\n 3]\n}\n\n x",
	    "unexpected data after the document at line 6 column 2");
}

static void
test_truncation(void)
{
	static const char doc[] =
	    "{\"a\": [1, -2.5e+3, true, false, null, "
	    "\"s\\u00e9\\ud83d\\ude00\\n\"],"
	    " \"\xE2\x82\xAC\": {\"k\": {}}, \"z\": []}";
	static const char docc[] =
	    "/* c */ {\"a\": [1 /* x */, 2], // y\n"
	    " \"b\": \"\xF0\x9F\x98\x80\"}";
	struct json_value *v;
	size_t k;
	int crashed_or_parsed = 0;

	CHECK((v = parse(doc, sizeof(doc) - 1, 0)) != NULL);
	json_free(v);
	for (k = 0; k < sizeof(doc) - 1; k++) {
		if ((v = parse(doc, k, 0)) != NULL) {
			crashed_or_parsed++;
			json_free(v);
		}
		CHECK(strstr(errbuf, " at line 1 column ") != NULL);
	}
	CHECK(crashed_or_parsed == 0);
	CHECK((v = parse(docc, sizeof(docc) - 1, JSON_COMMENTS)) != NULL);
	json_free(v);
	for (k = 0; k < sizeof(docc) - 1; k++) {
		if ((v = parse(docc, k, JSON_COMMENTS)) != NULL) {
			crashed_or_parsed++;
			json_free(v);
		}
	}
	CHECK(crashed_or_parsed == 0);
}

static void
test_tree_api(void)
{
	struct json_value *o, *c, *v;
	const struct json_value *g;

	CHECK((o = json_new_object()) != NULL);
	if (o == NULL)
		return;
	CHECK(o->type == JSON_OBJECT && o->u.obj.n == 0);
	CHECK(json_set(o, "s", json_new_string("hello")) == 0);
	CHECK(json_set(o, "t", json_new_bool(1)) == 0);
	CHECK(json_set(o, "f", json_new_bool(0)) == 0);
	CHECK(json_set(o, "i", json_new_int(-42)) == 0);
	CHECK(json_set(o, "o", json_new_object()) == 0);
	CHECK(o->u.obj.n == 5);
	/* replacing keeps one member */
	CHECK(json_set(o, "i", json_new_int(LLONG_MAX)) == 0);
	CHECK(o->u.obj.n == 5);
	g = json_get(o, "i");
	CHECK(g != NULL && g->type == JSON_NUMBER && g->u.num.is_int &&
	    g->u.num.i == LLONG_MAX);
	g = json_get(o, "s");
	CHECK(g != NULL && g->u.str.len == 5 &&
	    strcmp(g->u.str.s, "hello") == 0);
	CHECK(json_get(o, "t")->type == JSON_TRUE);
	CHECK(json_get(o, "f")->type == JSON_FALSE);
	/* failures free val and leave the object alone */
	CHECK(json_set(o, NULL, json_new_int(1)) == -1);
	CHECK(json_set(NULL, "x", json_new_int(1)) == -1);
	CHECK(json_set(o, "x", NULL) == -1);
	v = json_new_string("str");
	CHECK(json_set(v, "x", json_new_int(1)) == -1);
	CHECK(o->u.obj.n == 5);
	/* a nested object filled through json_get's result (cast: defaults) */
	CHECK(json_set((struct json_value *)json_get(o, "o"), "deep",
	    json_new_string("")) == 0);
	/* many keys, to cross several reallocations */
	{
		char key[16];
		int i, ok = 1;

		for (i = 0; i < 100; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			ok &= json_set(o, key, json_new_int(i)) == 0;
		}
		CHECK(ok && o->u.obj.n == 105);
		CHECK(json_get(o, "k99") != NULL &&
		    json_get(o, "k99")->u.num.i == 99);
	}

	c = json_clone(o);
	CHECK(c != NULL && c != o && c->u.obj.n == o->u.obj.n);
	if (c != NULL) {
		g = json_get(json_get(c, "o"), "deep");
		CHECK(g != NULL && g->type == JSON_STRING && g->u.str.len == 0);
		CHECK(json_get(c, "s")->u.str.s != json_get(o, "s")->u.str.s);
		/* the clone is independent of the original */
		CHECK(json_set(c, "s", json_new_string("changed")) == 0);
		CHECK(strcmp(json_get(o, "s")->u.str.s, "hello") == 0);
	}
	json_free(c);
	json_free(o);
	json_free(v);

	/* cloning a parsed tree keeps values, positions, NULs in strings */
	v = OK("[{\"a\\u0000\":\"x\\u0000y\"}, 1.5, -3, [], {}, null, true]");
	c = json_clone(v);
	CHECK(c != NULL && c->type == JSON_ARRAY && c->u.arr.n == 7);
	if (c != NULL && c->u.arr.n == 7) {
		CHECK(c->u.arr.items[0]->u.obj.m[0].keylen == 2);
		CHECK(c->u.arr.items[0]->u.obj.m[0].val->u.str.len == 3 &&
		    memcmp(c->u.arr.items[0]->u.obj.m[0].val->u.str.s,
		    "x\0y", 4) == 0);
		CHECK(c->u.arr.items[1]->u.num.d == 1.5);
		CHECK(c->u.arr.items[2]->u.num.is_int &&
		    c->u.arr.items[2]->u.num.i == -3);
		CHECK(c->u.arr.items[1]->col == 26);
		CHECK(c->u.arr.items[6]->type == JSON_TRUE);
	}
	json_free(c);
	json_free(v);
	CHECK(json_clone(NULL) == NULL);
	json_free(NULL);

	CHECK_STR(json_type_name(JSON_NULL), "null");
	CHECK_STR(json_type_name(JSON_TRUE), "boolean");
	CHECK_STR(json_type_name(JSON_FALSE), "boolean");
	CHECK_STR(json_type_name(JSON_NUMBER), "number");
	CHECK_STR(json_type_name(JSON_STRING), "string");
	CHECK_STR(json_type_name(JSON_ARRAY), "array");
	CHECK_STR(json_type_name(JSON_OBJECT), "object");
	CHECK(json_new_string(NULL) == NULL);
}

/* rnd - a fixed LCG, so the mutation run is the same every time. */
static unsigned long rnd_state = 12345;

static unsigned
rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245UL + 12345UL;
	return (unsigned)((rnd_state >> 16) & 0x7FFF) % n;
}

static void
test_mutations(void)
{
	static const char *seeds[] = {
		"{\"a\": [1, -2.5e+3, true, false, null], "
		    "\"b\": {\"c\": \"d\"}}",
		"/* c */ {\"s\": \"\\u00e9\\ud83d\\ude00\\\"\\n\", // x\n"
		    " \"n\": 0}",
		"[[[[{\"\xE2\x82\xAC\": [\"\xF0\x9F\x98\x80\", 1e5, -0.0]}]]]]",
	};
	static const char alphabet[] = "{}[]\":,\\/*-+.0123456789eEunlrtfx \n"
	    "\t\x80\xBF\xC0\xC3\xE0\xED\xF0\xF4\xFF";
	char buf[256];
	struct json_value *v, *c;
	const size_t na = sizeof(alphabet) - 1;
	size_t n, j;
	int iter, m, nmut, parsed = 0, bad = 0, flags;

	for (iter = 0; iter < 20000; iter++) {
		const char *s = seeds[rnd(NELEM(seeds))];

		n = strlen(s);
		memcpy(buf, s, n);
		nmut = 1 + rnd(4);
		for (m = 0; m < nmut; m++) {
			j = n ? rnd((unsigned)n) : 0;
			switch (rnd(5)) {
			case 0:		/* replace a byte */
				if (n)
					buf[j] = alphabet[rnd(na)];
				break;
			case 1:		/* random byte */
				if (n)
					buf[j] = (char)rnd(256);
				break;
			case 2:		/* insert */
				if (n < sizeof(buf)) {
					memmove(buf + j + 1, buf + j, n - j);
					buf[j] = alphabet[rnd(na)];
					n++;
				}
				break;
			case 3:		/* delete */
				if (n) {
					n--;
					memmove(buf + j, buf + j + 1, n - j);
				}
				break;
			default:	/* truncate */
				n = j;
				break;
			}
		}
		flags = rnd(2) ? JSON_COMMENTS : 0;
		if ((v = parse(buf, n, flags)) != NULL) {
			parsed++;
			c = json_clone(v);
			if (c == NULL || c->type != v->type)
				bad++;
			json_free(c);
			json_free(v);
		} else if (strstr(errbuf, " at line ") == NULL)
			bad++;
	}
	CHECK(bad == 0);
	CHECK(parsed > 0);	/* some mutations keep the document valid */
}

int
main(void)
{
	RUN(test_literals);
	RUN(test_empty_and_nul);
	RUN(test_strings);
	RUN(test_utf8);
	RUN(test_numbers);
	RUN(test_structures);
	RUN(test_depth);
	RUN(test_duplicates);
	RUN(test_comments);
	RUN(test_positions);
	RUN(test_truncation);
	RUN(test_tree_api);
	RUN(test_mutations);
	return T_DONE();
}
