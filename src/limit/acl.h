/* SPDX-License-Identifier: MIT */
/* limit/acl.h -- access rules compiled for a lookup per query */
#ifndef DR_LIMIT_ACL_H
#define DR_LIMIT_ACL_H

#include <stddef.h>

#include "common/sockaddr.h"
#include "conf/conf.h"

/* An ordered rule list compiled into one hash table per prefix length that the list uses, so
 * that a lookup costs a probe per distinct length (a few), not a comparison per rule. First
 * match wins, as in the list. Immutable once built: workers share it through the snapshot. */
struct acl;

/* Compile <n> rules (n >= 1; 0 gives a list that allows everyone). Rules of another family
 * than AF_INET/AF_INET6, or longer than it, never match. Returns NULL when out of memory. */
struct acl *acl_new(const struct conf_acl_rule *rules, size_t n);
void acl_free(struct acl *a);

/* The action of the first rule whose prefix holds the address of <client> (port ignored);
 * CONF_ACL_ALLOW when none does or when <a> is NULL. */
enum conf_acl_action acl_check(const struct acl *a, const union sockaddr_any *client);

#endif
