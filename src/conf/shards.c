/* SPDX-License-Identifier: MIT */
/* conf/shards.c -- the checks and copies of a zone route served in shards */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf.h"

/* "FILE:LINE: " before a problem found at <line>; nothing for a route from etcd (line 0). */
static int at(const struct conf *c, int line, char *err, size_t len)
{
	if (line <= 0) {
		err[0] = '\0';
		return 0;
	}
	return snprintf(err, len, "%s:%d: ", c->file ? c->file : "-", line);
}

static bool base32hex_prefix(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > CONF_SHARD_PREFIX_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'v') || (c >= 'A' && c <= 'V'))) {
			return false;
		}
	}
	return true;
}

/* `from` is read both ways, as the route's nsec3 key may come after its shards:
 * conf_validate then wants the one the route uses. */
int conf_shard_from(struct conf_shard *sh, const char *text)
{
	int n = wire_name_from_text(text, sh->from);

	sh->from_len = n > 0 ? (unsigned)n : 0;
	if (base32hex_prefix(text)) {
		for (size_t i = 0; text[i] != '\0'; i++) {
			char c = text[i];
			sh->prefix[i] = (char)(c >= 'A' && c <= 'V' ? c + ('a' - 'A') : c);
		}
	}
	return sh->from_len == 0 && sh->prefix[0] == '\0' ? DR_EINVAL : DR_EOK;
}

int conf_shard_probe(struct conf_shard *sh, const char *text)
{
	struct conf_health h;

	if (conf_parse_health_query(text, &h) != DR_EOK || h.qclass != WIRE_CLASS_IN) {
		return DR_EINVAL;
	}
	memcpy(sh->probe, h.qname, sizeof(sh->probe));
	sh->probe_type = h.qtype;
	return DR_EOK;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

int conf_nsec3_salt(struct conf_nsec3 *p, const char *text)
{
	size_t n = strcmp(text, "-") == 0 ? 0 : strlen(text);

	if (n % 2 != 0 || n / 2 > sizeof(p->salt)) {
		return DR_EINVAL;
	}
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			return DR_EINVAL;
		}
		p->salt[i] = (uint8_t)(hi << 4 | lo);
	}
	p->salt_len = (uint8_t)(n / 2);
	return DR_EOK;
}

static bool known_backend(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nbackends; i++) {
		if (strcmp(c->backends[i].name, name) == 0) {
			return true;
		}
	}
	return false;
}

/* <name> is <zone> or below it (both lower-cased wire names). */
static bool within(const uint8_t *name, unsigned len, const uint8_t *zone, unsigned zlen)
{
	unsigned pos = 0;

	while (len - pos > zlen) {
		pos += 1u + name[pos];
	}
	return len - pos == zlen && memcmp(name + pos, zone, zlen) == 0;
}

static int cmp_from(const struct conf_shard *a, const struct conf_shard *b)
{
	uint8_t aoff[WIRE_LABELS_MAX], boff[WIRE_LABELS_MAX];
	unsigned an = wire_name_labels(a->from, aoff), bn = wire_name_labels(b->from, boff);

	return wire_name_canonical_cmp(a->from, aoff, an, b->from, boff, bn);
}

static int check_start(const struct conf *c, const struct conf_route *r, size_t i, char *err,
		       size_t len)
{
	const struct conf_shard *sh = &r->shards[i];
	int n;

	if (r->nsec3) {
		if (sh->prefix[0] == '\0') {
			n = at(c, sh->line, err, len);
			snprintf(err + n, len - (size_t)n,
				 "an nsec3 shard starts at a base32hex prefix (0-9, a-v, at most "
				 "%d characters)",
				 CONF_SHARD_PREFIX_MAX);
			return DR_ECONF;
		}
		if (i > 0 && strcmp(r->shards[i - 1].prefix, sh->prefix) >= 0) {
			n = at(c, sh->line, err, len);
			snprintf(err + n, len - (size_t)n,
				 "shard from '%s' must come after '%s' (sorted, no repeats)",
				 sh->prefix, r->shards[i - 1].prefix);
			return DR_ECONF;
		}
		return DR_EOK;
	}
	if (sh->from_len == 0 || !within(sh->from, sh->from_len, r->zone, r->zone_len)) {
		n = at(c, sh->line, err, len);
		snprintf(err + n, len - (size_t)n, "shard from must be a name in zone '%s'",
			 r->pattern);
		return DR_ECONF;
	}
	if (i == 0 && (sh->from_len != r->zone_len || memcmp(sh->from, r->zone, r->zone_len))) {
		n = at(c, sh->line, err, len);
		snprintf(err + n, len - (size_t)n, "the first shard must start at the zone '%s'",
			 r->pattern);
		return DR_ECONF;
	}
	if (i > 0 && cmp_from(&r->shards[i - 1], sh) >= 0) {
		char prev[WIRE_NAME_TEXT_MAX], this[WIRE_NAME_TEXT_MAX];
		wire_name_to_text(r->shards[i - 1].from, prev, sizeof(prev));
		wire_name_to_text(sh->from, this, sizeof(this));
		n = at(c, sh->line, err, len);
		snprintf(err + n, len - (size_t)n,
			 "shard from '%s' must come after '%s' in canonical order (no repeats)",
			 this, prev);
		return DR_ECONF;
	}
	return DR_EOK;
}

/* Each backend serves one shard: a server holds one part of the zone. */
static int check_backends(const struct conf *c, const struct conf_route *r, size_t i, char *err,
			  size_t len)
{
	const struct conf_shard *sh = &r->shards[i];
	int n;

	if (sh->nbackends == 0) {
		n = at(c, sh->line, err, len);
		snprintf(err + n, len - (size_t)n, "a shard needs backends");
		return DR_ECONF;
	}
	for (size_t b = 0; b < sh->nbackends; b++) {
		if (!known_backend(c, sh->backends[b])) {
			n = at(c, sh->line, err, len);
			snprintf(err + n, len - (size_t)n, "shard names unknown backend '%s'",
				 sh->backends[b]);
			return DR_ECONF;
		}
		for (size_t j = 0; j < i; j++) {
			for (size_t k = 0; k < r->shards[j].nbackends; k++) {
				if (strcmp(r->shards[j].backends[k], sh->backends[b]) == 0) {
					n = at(c, sh->line, err, len);
					snprintf(err + n, len - (size_t)n,
						 "backend '%s' serves two shards of '%s'",
						 sh->backends[b], r->pattern);
					return DR_ECONF;
				}
			}
		}
	}
	return DR_EOK;
}

int conf_shards_check_starts(const struct conf *c, const struct conf_route *r, char *err,
			     size_t len)
{
	for (size_t i = 0; i < r->nshards; i++) {
		int rc = check_start(c, r, i, err, len);
		if (rc != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}

int conf_shard_add_backend(struct conf_shard *sh, const char *name)
{
	return conf_names_append(&sh->backends, &sh->nbackends, name);
}

int conf_validate_shards(const struct conf *c, const struct conf_route *r, char *err, size_t len)
{
	int n, rc;

	if (r->nshards == 0) {
		if (r->nsec3 || r->full_zone[0] != '\0' || r->serial_pinned) {
			n = at(c, r->line, err, len);
			snprintf(err + n, len - (size_t)n, "%s needs shards",
				 r->nsec3           ? "nsec3"
				 : r->serial_pinned ? "serial"
						    : "full-zone");
			return DR_ECONF;
		}
		return DR_EOK;
	}
	if (r->kind != CONF_ROUTE_ZONE || r->nbackends > 0) {
		n = at(c, r->line, err, len);
		snprintf(err + n, len - (size_t)n,
			 "shards belong to a zone route without backends of its own");
		return DR_ECONF;
	}
	if (r->full_zone[0] != '\0' && !known_backend(c, r->full_zone)) {
		n = at(c, r->line, err, len);
		snprintf(err + n, len - (size_t)n, "full-zone names unknown backend '%s'",
			 r->full_zone);
		return DR_ECONF;
	}
	for (size_t i = 0; i < r->nshards; i++) {
		if ((rc = check_start(c, r, i, err, len)) != DR_EOK ||
		    (rc = check_backends(c, r, i, err, len)) != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}

void conf_shards_free(struct conf_route *r)
{
	for (size_t i = 0; i < r->nshards; i++) {
		free(r->shards[i].backends);
	}
	free(r->shards);
	r->shards = NULL;
	r->nshards = 0;
}

int conf_shards_copy(struct conf_route *dst, const struct conf_route *src)
{
	dst->shards = NULL;
	dst->nshards = 0;
	if (src->nshards == 0) {
		return DR_EOK;
	}
	dst->shards = calloc(src->nshards, sizeof(*dst->shards));
	if (dst->shards == NULL) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < src->nshards; i++) {
		const struct conf_shard *s = &src->shards[i];
		struct conf_shard *d = &dst->shards[i];
		*d = *s;
		d->backends = NULL;
		dst->nshards++;
		if (s->nbackends > 0) {
			d->backends = malloc(s->nbackends * sizeof(*d->backends));
			if (d->backends == NULL) {
				d->nbackends = 0;
				return DR_ENOMEM;
			}
			memcpy(d->backends, s->backends, s->nbackends * sizeof(*d->backends));
		}
	}
	return DR_EOK;
}
