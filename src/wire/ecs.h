/* SPDX-License-Identifier: MIT */
/* wire/ecs.h -- add an EDNS Client Subnet option (RFC 7871) to a query, undo it on the answer */
#ifndef DR_WIRE_ECS_H
#define DR_WIRE_ECS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"

#define ECS_OPTION_CODE 8
#define ECS_OPTION_MAX 24 /* code, length, family, source, scope and 16 address bytes */

/* What ecs_add did to a query, so that ecs_undo can take it back from the answer. */
enum ecs_edit {
	ECS_NONE = 0,         /* nothing: signed, malformed, or no room */
	ECS_ADDED_OPT = 1,    /* the query had no OPT record: one was appended */
	ECS_ADDED_OPTION = 2, /* the query's OPT had no ECS option: ours was appended to it */
	ECS_REPLACED = 3,     /* the client's ECS option was replaced by ours (override) */
	ECS_KEPT = 4,         /* the client's ECS option was left in place */
};

/* What the answer needs undone. Plain bytes: it lives in the router's in-flight slot. */
struct ecs_undo {
	uint8_t edit;                       /* enum ecs_edit */
	uint8_t client_len;                 /* ECS_REPLACED: bytes of the client's own option */
	uint8_t client_opt[ECS_OPTION_MAX]; /* the client's option, code to address, to give back */
};

/* Add an ECS option for <client> to the query in <msg> of <*len> bytes, in place, in a buffer
 * of <cap> bytes, and say in <undo> what was done. The option carries the client's network:
 * its address cut to <v4_bits> (0..32) or <v6_bits> (0..128), host bits zeroed and only
 * ceil(bits / 8) address bytes sent (RFC 7871 §6), SCOPE PREFIX-LENGTH 0. An IPv4-mapped IPv6
 * client (::ffff:a.b.c.d, from a dual-stack socket) is sent as IPv4 with <v4_bits>.
 *  - no OPT record: one is appended (root owner, UDP payload size 512, extended RCODE,
 *    version and flags 0) holding only the option, ARCOUNT + 1: ECS_ADDED_OPT. 512 because a
 *    client without EDNS accepts no more, so the backend truncates as it would for the client.
 *  - an OPT without ECS: the option is appended to the OPT's RDATA, the records after the OPT
 *    moved along, RDLENGTH fixed: ECS_ADDED_OPTION.
 *  - an OPT with an ECS option: left alone (ECS_KEPT) unless <override>; with <override>,
 *    replaced by ours and the client's option saved in <undo> (ECS_REPLACED).
 *  - a TSIG or SIG(0) record in the additional section: the query is signed and an edit would
 *    break the signature, so it is left alone: DR_EOK with ECS_NONE.
 * The query is checked whole on the way: every record must lie within the message and end it
 * exactly, an OPT record must be the only one, in the additional section with the root as
 * owner, and its options must fill its RDATA exactly, with at most one ECS option. Records
 * after the OPT move, and so do the targets of the compression pointers among them that point
 * past it: those pointers are fixed. For that, names (owners, questions, and the RDATA names
 * of the RFC 1035 types) must point backwards (RFC 1035 §4.1.4, "a prior occurrence") and not
 * into the OPT record.
 * Updates *<len>. Returns DR_EOK; DR_EINVAL when <client> is neither IPv4 nor IPv6 or a
 * prefix length is out of range; DR_ESPACE when the edited query would not fit <cap> (or
 * 65535 bytes, or a moved pointer would point beyond 16383); DR_EMALF when the query is malformed as above, or when with <override> the
 * client's ECS option is longer than ECS_OPTION_MAX (it could not be given back). On every
 * error <msg> and *<len> are unchanged and undo->edit is ECS_NONE: the caller forwards the
 * query as it is (or counts and refuses it, for DR_EMALF, as it likes). */
int ecs_add(uint8_t *msg, size_t *len, size_t cap, const union sockaddr_any *client,
	    unsigned v4_bits, unsigned v6_bits, bool override, struct ecs_undo *undo);

/* Undo on the backend's answer in <msg> of <*len> bytes (buffer of <cap> bytes) what ecs_add
 * did to its query, as <undo> says, so the client sees what it would have seen without the
 * router:
 *  - ECS_ADDED_OPT: the answer's OPT record is removed, ARCOUNT - 1, what follows it (a TSIG,
 *    say) moved back. Its extended RCODE bits go with it: only EDNS features the client did
 *    not use (version, cookies) answer with an RCODE above 15.
 *  - ECS_ADDED_OPTION: the ECS option, if the answer's OPT has one, is removed.
 *  - ECS_REPLACED: the answer's ECS option, if it has one, is replaced by the client's own
 *    (RFC 7871 §7.3: a resolver drops an answer whose ECS does not match its query's), with
 *    the answer's SCOPE PREFIX-LENGTH: the client's query said 0, and 0 in an answer means
 *    "good for every address" (§7.2.1), which an answer made for one network is not. When
 *    the answer was made for the other family (an IPv6 client that sent an IPv4 option), the
 *    scope is the client's own source prefix length.
 *  - ECS_NONE, ECS_KEPT: nothing, and the answer is not read.
 * An answer without OPT (a bare error header, say) is left as it is; pointers after the OPT are
 * fixed as in ecs_add. Updates *<len>. Returns DR_EOK; DR_ESPACE when the client's option
 * does not fit <cap> (or a moved pointer would point beyond 16383); DR_EINVAL when <undo>
 * holds an edit ecs_add does not write; DR_EMALF when the answer is malformed in any of the
 * ways ecs_add checks (its question section may hold any number of questions). On error
 * <msg> and *<len> are unchanged: the caller relays the answer as the backend sent it, as a
 * router that edits nothing would, and counts it. */
int ecs_undo(uint8_t *msg, size_t *len, size_t cap, const struct ecs_undo *undo);

#endif
