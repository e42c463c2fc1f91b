/* SPDX-License-Identifier: MIT */
/* admin/guard.h -- who may ask the admin endpoint: the Host, the Origin and the admin key */
#ifndef DR_ADMIN_GUARD_H
#define DR_ADMIN_GUARD_H

#include <stdbool.h>

#include "common/sockaddr.h"

/* True when <host>, a Host header value ("name", "name:port", "[v6]" or "[v6]:port"), names
 * the endpoint listening on <listen>: "localhost", the address it listens on, 127.0.0.1 or
 * [::1] when that is a loopback address, and any address literal when it is a wildcard (an
 * address literal cannot be rebound). DNS rebinding needs a name the attacker's DNS answers,
 * so every other name is refused. The port is not compared: what a rebinding forges is the
 * name, and a forwarded port (ssh -L) keeps working. NULL, no Host header (HTTP/1.0), is
 * accepted: browsers always send one. */
bool guard_host_ok(const char *host, const union sockaddr_any *listen);

/* True when <origin>, an Origin header value (NULL when absent), is the endpoint's own origin:
 * "http://" or "https://" and then exactly the request's <host> (NULL when absent), which must
 * itself pass guard_host_ok. A browser sends Origin with every cross-origin request and with
 * same-origin POSTs, so a page elsewhere ("null" included) is refused. */
bool guard_origin_ok(const char *origin, const char *host, const union sockaddr_any *listen);

/* True when <authorization> ("Bearer KEY", scheme in any case) or <api_key> (an X-API-Key
 * value) is <key>; either may be NULL. The comparison takes a time that depends on the
 * length of <key> only, not on how much of it a guess got right. <key> is not empty. */
bool guard_key_ok(const char *authorization, const char *api_key, const char *key);

#endif
