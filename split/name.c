/* SPDX-License-Identifier: MIT */
/* split/name.c -- wire names: canonical order (RFC 4034 §6.1), ancestry, text form */
#include <ctype.h>
#include <string.h>

#include <libknot/libknot.h>

#include "split.h"

size_t name_len(const uint8_t *n)
{
	size_t len = 0;

	while (n[len] != 0) {
		len += (size_t)n[len] + 1;
	}
	return len + 1;
}

int name_labels(const uint8_t *n)
{
	int count = 0;

	for (; *n != 0; n += *n + 1) {
		count++;
	}
	return count;
}

void name_lower(uint8_t *dst, const uint8_t *src)
{
	size_t len = name_len(src);

	for (size_t i = 0; i < len;) {
		uint8_t l = src[i];
		dst[i++] = l;
		for (uint8_t k = 0; k < l; k++, i++) {
			dst[i] = (uint8_t)tolower(src[i]);
		}
	}
}

static int label_offsets(const uint8_t *n, const uint8_t **lab)
{
	int count = 0;

	for (; *n != 0 && count < SPLIT_LABELS_MAX; n += *n + 1) {
		lab[count++] = n;
	}
	return count;
}

/* Both names are lower-cased already: label by label from the root, each label as an octet
 * string, a proper prefix first (RFC 4034 §6.1). */
int name_cmp(const uint8_t *a, const uint8_t *b)
{
	const uint8_t *la[SPLIT_LABELS_MAX], *lb[SPLIT_LABELS_MAX];
	int na = label_offsets(a, la), nb = label_offsets(b, lb);

	while (na > 0 && nb > 0) {
		const uint8_t *x = la[--na], *y = lb[--nb];
		size_t min = x[0] < y[0] ? x[0] : y[0];
		int d = memcmp(x + 1, y + 1, min);
		if (d != 0) {
			return d < 0 ? -1 : 1;
		}
		if (x[0] != y[0]) {
			return x[0] < y[0] ? -1 : 1;
		}
	}
	return na == nb ? 0 : (na < nb ? -1 : 1);
}

int name_is_below(const uint8_t *n, const uint8_t *anc)
{
	size_t nl = name_len(n), al = name_len(anc);

	while (nl > al) {
		nl -= (size_t)*n + 1;
		n += *n + 1;
	}
	return nl == al && memcmp(n, anc, al) == 0;
}

const uint8_t *name_parent(const uint8_t *n)
{
	return *n == 0 ? NULL : n + *n + 1;
}

int name_to_text(const uint8_t *n, char *dst, size_t len)
{
	return knot_dname_to_str(dst, n, len) == NULL ? -1 : 0;
}

int name_from_text(const char *txt, uint8_t *dst)
{
	size_t l = strlen(txt);

	if (l == 0 || txt[l - 1] != '.') {
		return -1;
	}
	if (knot_dname_from_str(dst, txt, SPLIT_NAME_MAX) == NULL) {
		return -1;
	}
	name_lower(dst, dst);
	return 0;
}
