/* SPDX-License-Identifier: MIT */
/* limit/acl.c -- access rules: first match wins */
#include <stdlib.h>
#include <string.h>

#include "limit/acl.h"

struct acl {
	size_t n;
	struct conf_acl_rule rules[];
};

struct acl *acl_new(const struct conf_acl_rule *rules, size_t n)
{
	struct acl *a = malloc(sizeof(*a) + n * sizeof(a->rules[0]));

	if (a == NULL) {
		return NULL;
	}
	a->n = n;
	memcpy(a->rules, rules, n * sizeof(a->rules[0]));
	return a;
}

void acl_free(struct acl *a)
{
	free(a);
}

enum conf_acl_action acl_check(const struct acl *a, const union sockaddr_any *client)
{
	for (size_t i = 0; a != NULL && i < a->n; i++) {
		if (prefix_contains(&a->rules[i].from, client)) {
			return a->rules[i].action;
		}
	}
	return CONF_ACL_ALLOW;
}
