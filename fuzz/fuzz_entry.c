/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_entry.c -- "-b ip:port,regexp" entries, validated, then routed through */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/err.h"
#include "conf/conf.h"
#include "common/regex.h"
#include "route/route.h"
#include "wire/wire.h"
#include "fuzz.h"

/* Names every route is tried against, besides one made of the pattern's own characters. */
static const char *const names[] = {
	".",
	"com.",
	"example.com.",
	"www.example.com.",
	"a.b.example.",
	"a\\.b.example.",
	"x\\032y.test.",
	"1.2.0.192.in-addr.arpa.",
};

/* route_lookup may skip regexps that cannot match; it must still agree with trying every
 * regexp of <s> in order. */
static void check_name(const struct snapshot *s, const uint8_t *name, int len,
		       struct regex_scratch *rs)
{
	uint8_t msg[WIRE_HDR_LEN + WIRE_NAME_MAX + 4] = {0, 1, 1, 0, 0, 1};
	char text[WIRE_NAME_TEXT_MAX];
	struct wire_question q;
	const struct route *want = NULL;
	int tlen;

	memcpy(msg + WIRE_HDR_LEN, name, (size_t)len);
	wire_write_u16(msg + WIRE_HDR_LEN + len, WIRE_TYPE_A);
	wire_write_u16(msg + WIRE_HDR_LEN + len + 2, WIRE_CLASS_IN);
	CHECK(wire_parse_query(msg, WIRE_HDR_LEN + (size_t)len + 4, &q) == DR_EOK);
	tlen = wire_name_to_text(q.name, text, sizeof(text));
	CHECK(tlen > 0);
	for (uint32_t i = 0; i < s->nregex && want == NULL; i++) {
		if (regex_match(s->regex[i]->re, text, (size_t)tlen, rs)) {
			want = s->regex[i];
		}
	}
	CHECK(route_lookup(s, &q, rs) == want);
}

static void route_through(const struct conf *c, const char *pattern)
{
	struct backend_registry reg;
	struct regex_scratch *rs = regex_scratch_new();
	struct snapshot *s;
	char err[CONF_ERR_LEN], text[WIRE_NAME_TEXT_MAX];
	uint8_t name[WIRE_NAME_MAX];
	size_t n = 0;
	int len;

	if (backend_registry_init(&reg, 1) != DR_EOK) {
		regex_scratch_free(rs);
		return;
	}
	s = snapshot_build(c, &reg, NULL, 1, err, sizeof(err));
	if (s != NULL && rs != NULL) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			len = wire_name_from_text(names[i], name);
			CHECK(len > 0);
			check_name(s, name, len, rs);
		}
		/* the pattern without its metacharacters is a name it likely matches */
		for (const char *p = pattern; *p != '\0' && n + 1 < sizeof(text); p++) {
			if (strchr("^$\\()[]{}*+?|", *p) == NULL) {
				text[n++] = *p;
			}
		}
		text[n] = '\0';
		len = wire_name_from_text(text, name);
		if (len > 0) {
			check_name(s, name, len, rs);
		}
	}
	snapshot_free(s);
	regex_scratch_free(rs);
	backend_registry_deinit(&reg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *entry = malloc(size + 1);
	char err[CONF_ERR_LEN];
	struct conf c;
	int rc;

	if (entry == NULL) {
		return 0;
	}
	memcpy(entry, data, size);
	entry[size] = '\0';
	CHECK(conf_init(&c) == DR_EOK);
	rc = conf_add_entry(&c, entry, err, sizeof(err));
	CHECK(rc == DR_EOK || rc == DR_ECONF || rc == DR_ENOMEM);
	if (rc == DR_EOK) {
		CHECK(c.nroutes == 1 && c.nbackends == 1 && c.routes[0].nbackends == 1);
		rc = conf_validate(&c, err, sizeof(err));
		CHECK(rc == DR_EOK || rc == DR_ECONF);
		if (rc == DR_EOK) {
			route_through(&c, c.routes[0].pattern);
		}
	}
	conf_deinit(&c);
	free(entry);
	return 0;
}
