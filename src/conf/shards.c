/* SPDX-License-Identifier: MIT */
/* conf/shards.c -- the checks and copies of a zone route served in shards */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf.h"

/* "FILE:LINE: " before a problem found at <line>. */
static int at(const struct conf *c, int line, char *err, size_t len)
{
	return snprintf(err, len, "%s:%d: ", c->file ? c->file : "-", line);
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
