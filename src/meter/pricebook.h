/*
 * pricebook.h - the price of a device-hour per device model, for the cost
 * column of reports.
 *
 * The file is strict JSON (docs/metering.md):
 *   {
 *     "version": 1,
 *     "currency": "EUR",
 *     "default": 0.80,
 *     "models": {
 *       "NVIDIA A100-SXM4-80GB": 2.40,
 *       "NVIDIA H100 80GB HBM3": 4.10
 *     }
 *   }
 * version     required, 1;
 * currency    required, an ISO 4217 code (three upper-case letters);
 * models      required, device model (as the ledger records it, compared
 *             byte for byte) -> price of one whole device for one hour;
 * default     optional, the price of any model not listed.
 * Prices are finite numbers >= 0. Unknown or repeated keys, other types,
 * trailing text and files over 1 MiB are errors that name the file and the
 * field.
 */
#ifndef VXPU_METER_PRICEBOOK_H
#define VXPU_METER_PRICEBOOK_H

#include <stdbool.h>
#include <stddef.h>

#define VXPU_PRICE_BOOK_VERSION 1
#define VXPU_PRICE_BOOK_MAX_BYTES ((size_t)1024 * 1024)

struct vxpu_price_entry {
	char *model;
	double price;
};

struct vxpu_price_book {
	char source[512]; /* the file name, for messages */
	char currency[4];
	bool has_default;
	double default_price;
	size_t count;
	struct vxpu_price_entry *entries; /* sorted by model (strcmp) */
};

/* Reads and parses a file. 0 and *out, or -1 with a reason. */
int vxpu_price_book_load(const char *path, struct vxpu_price_book **out, char *err, size_t errlen);

/* Parses text of len bytes; source names it in messages. */
int vxpu_price_book_parse(const char *text, size_t len, const char *source,
                          struct vxpu_price_book **out, char *err, size_t errlen);

/* The price of model: 0 and *price (the listed or the default one), or -1
 * when the book has neither. */
int vxpu_price_book_lookup(const struct vxpu_price_book *book, const char *model, double *price);

void vxpu_price_book_free(struct vxpu_price_book *book);

#endif
