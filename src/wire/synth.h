/* SPDX-License-Identifier: MIT */
/* wire/synth.h -- answers the router writes itself */
#ifndef DR_WIRE_SYNTH_H
#define DR_WIRE_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

/* Turn the query in <msg> (<len> bytes, buffer of <cap> bytes) into a reply in place: QR set,
 * header and question kept, RCODE <rcode>. With <txt> non-NULL, one answer record
 * "<qname> 0 <qclass> TXT <txt>" is added (<txt> at most 255 bytes). When the query carried
 * EDNS, the reply does too, with an RFC 8914 Extended DNS Error <ede> unless it is
 * WIRE_EDE_NONE. Returns the reply length, or DR_ESPACE when it would not fit <cap>. */
int synth_reply(uint8_t *msg, size_t len, size_t cap, const struct wire_question *q, int rcode,
		int ede, const char *txt);

/* As synth_reply, with one TXT answer record for each of the <n> strings <txts>. */
int synth_reply_txts(uint8_t *msg, size_t len, size_t cap, const struct wire_question *q, int rcode,
		     int ede, const char *const *txts, size_t n);

/* Turn a query whose question could not be parsed into a header-only FORMERR, keeping ID,
 * OPCODE and RD. <len> must be at least WIRE_HDR_LEN. Returns the reply length. */
int synth_formerr(uint8_t *msg, size_t len);

#endif
