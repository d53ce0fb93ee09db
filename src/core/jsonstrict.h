/*
 * jsonstrict.h - strict reading of JSON documents that come from outside
 * (annotations, vendor profile files), on top of cJSON.
 *
 * "Strict" means: the whole text is one JSON value with nothing after it;
 * no object anywhere holds the same key twice; every object is checked
 * against the list of fields its reader knows (an unknown field is an error,
 * not silently ignored); integers are integral and in range; strings fit the
 * buffer they go to. Every error names the path of the field and the value
 * that was found, e.g.
 *     devices[2].memoryMiB: expected a whole number in 1..1099511627776, got -5
 * Readers build the path as they descend (see vxpu_json_path). The helpers
 * never change their output arguments on failure.
 */
#ifndef VXPU_CORE_JSONSTRICT_H
#define VXPU_CORE_JSONSTRICT_H

#include <cjson/cJSON.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest integer a JSON number (an IEEE double) carries exactly. */
#define VXPU_JSON_MAX_EXACT ((uint64_t)9007199254740992ULL)

/* Deepest nesting of arrays and objects a document may have. */
#define VXPU_JSON_MAX_DEPTH 64

/*
 * 0 when text[0..len) is exactly one JSON value by the grammar of RFC 8259,
 * with optional white space around it, at most VXPU_JSON_MAX_DEPTH levels
 * of nesting, strings of well-formed UTF-8 (RFC 3629) and \u escapes of
 * UTF-16 surrogates only as high-low pairs (as cJSON requires); otherwise -1 (-2: nested too deep)
 * and *at is the offset of the first byte that breaks the grammar (or opens the level one too
 * deep). Builds nothing: run it before cJSON, which also takes "+1", "01", ".5", "1." and raw
 * control characters in strings.
 */
int vxpu_json_check_grammar(const char *text, size_t len, size_t *at);

/*
 * Runs vxpu_json_check_grammar and, when the text fails it, writes what is
 * wrong in the words every strict reader uses, into msg (cap bytes):
 *     invalid JSON at byte 10 near "1}"
 *     a UTF-8 byte-order mark at byte 0 (JSON text must not start with one)
 *     nested deeper than 64 levels at byte 130
 * The excerpt after "near" is at most 20 bytes from the offending one, with
 * every byte outside printable ASCII written as \xNN, so that a message
 * about a malformed document is itself plain text. Returns 0 (msg left
 * alone) when the grammar holds, -1 otherwise.
 */
int vxpu_json_grammar_problem(const char *text, size_t len, char *msg, size_t cap);

/*
 * Parses text into *root (caller frees with cJSON_Delete). Refuses an empty
 * text, anything outside the RFC 8259 grammar (vxpu_json_check_grammar),
 * trailing bytes, a root that is not an object and duplicate keys. what
 * names the document in messages ("allocation: ...").
 */
int vxpu_json_parse_object(const char *text, const char *what, cJSON **root, char *err,
                           size_t errlen);

/* Writes "parent.key" or "parent[index]" into buf ("" parent gives "key"). */
void vxpu_json_path(char *buf, size_t cap, const char *parent, const char *key);
void vxpu_json_path_index(char *buf, size_t cap, const char *parent, size_t index);

/* Fails when obj (an object) holds a key not in the NULL-terminated list. */
int vxpu_json_only_fields(const cJSON *obj, const char *path, const char *const *known, char *err,
                          size_t errlen);

/*
 * Field readers. A missing field is an error when required; otherwise the
 * reader returns 1 and leaves *out alone. Success returns 0; failure -1.
 */
int vxpu_json_string(const cJSON *obj, const char *path, const char *key, bool required, char *out,
                     size_t cap, char *err, size_t errlen);
int vxpu_json_uint(const cJSON *obj, const char *path, const char *key, bool required, uint64_t min,
                   uint64_t max, uint64_t *out, char *err, size_t errlen);
int vxpu_json_int(const cJSON *obj, const char *path, const char *key, bool required, int64_t min,
                  int64_t max, int64_t *out, char *err, size_t errlen);
int vxpu_json_bool(const cJSON *obj, const char *path, const char *key, bool required, bool *out,
                   char *err, size_t errlen);
int vxpu_json_number(const cJSON *obj, const char *path, const char *key, bool required, double min,
                     double max, double *out, char *err, size_t errlen);
/* Array or object child; *out points into obj. */
int vxpu_json_array(const cJSON *obj, const char *path, const char *key, bool required,
                    const cJSON **out, char *err, size_t errlen);
int vxpu_json_object(const cJSON *obj, const char *path, const char *key, bool required,
                     const cJSON **out, char *err, size_t errlen);

/* Formats "PATH: MESSAGE" into err and returns -1 (for readers' own checks). */
int vxpu_json_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Writes a short printable rendering of a JSON value (for messages). */
void vxpu_json_describe(const cJSON *item, char *buf, size_t cap);

#endif
