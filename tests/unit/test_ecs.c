/* SPDX-License-Identifier: MIT */
/* tests/unit/test_ecs.c -- adding an EDNS Client Subnet option to queries, undoing it on answers */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/err.h"
#include "wire/ecs.h"
#include "wire/wire.h"
#include "wire_fixtures.h"

/* Fixtures: whole messages in wire form, the presentation form in the comment. Built with
 * dnspython 2.3 (the TSIG one signed by it), read back by dns.message.from_wire. */

/* ;; id 0x1234, opcode QUERY, flags: rd; QUERY: 1
 * example.com.	IN	A */
static const uint8_t q_plain[] = {
	0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
};

/* ;; id 0x2345, opcode QUERY, flags: rd; QUERY: 1, ADDITIONAL: 1
 * example.com.	IN	AAAA
 * ;; OPT: udp 1232, version 0, flags: do */
static const uint8_t q_edns[] = {
	0x23, 0x45, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x1c, 0x00,
	0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
};

/* ;; id 0x3456, opcode QUERY, flags: rd; QUERY: 1, ADDITIONAL: 2
 * example.com.	IN	A
 * ;; OPT: udp 4096; COOKIE 0102030405060708
 * ns.example.com.	3600	IN	A	192.0.2.53	(after the OPT; owner "ns" + pointer to 12) */
static const uint8_t q_cookie_glue[] = {
	0x34, 0x56, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0x01,
	0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01, 0x00,
	0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35,
};

/* q_cookie_glue with ECS 198.51.103.0/24 scope 0 appended to the OPT */
static const uint8_t q_cookie_glue_ecs[] = {
	0x34, 0x56, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
	0x01, 0x00, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x0a,
	0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x08, 0x00, 0x07,
	0x00, 0x01, 0x18, 0x00, 0xc6, 0x33, 0x67, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01,
	0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35,
};

/* ;; id 0x4567, opcode QUERY, flags: rd; QUERY: 1, ADDITIONAL: 1
 * example.com.	IN	A
 * ;; OPT: udp 1232; ECS 203.0.113.0/24 scope 0; COOKIE 0102030405060708 */
static const uint8_t q_client_ecs[] = {
	0x45, 0x67, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07,
	0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x17, 0x00, 0x08, 0x00, 0x07, 0x00, 0x01, 0x18, 0x00, 0xcb, 0x00, 0x71, 0x00,
	0x0a, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
};

/* q_client_ecs with its ECS replaced by 2001:db8:1234:5600::/56 scope 0 (4 bytes longer) */
static const uint8_t q_client_ecs_v6[] = {
	0x45, 0x67, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
	0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1b, 0x00, 0x08,
	0x00, 0x0b, 0x00, 0x02, 0x38, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x00,
	0x0a, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
};

/* q_client_ecs with its ECS replaced by 0.0.0.0/0 scope 0 (3 bytes shorter) */
static const uint8_t q_client_ecs_v4_0[] = {
	0x45, 0x67, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x08, 0x00, 0x04, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
};

/* ;; id 0x5678, opcode QUERY, flags: rd; QUERY: 1, ADDITIONAL: 1
 * example.com.	IN	A
 * key.	0	ANY	TSIG	hmac-sha256. ... (signed by dnspython) */
static const uint8_t q_tsig[] = {
	0x56, 0x78, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x03,
	0x6b, 0x65, 0x79, 0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x0b,
	0x68, 0x6d, 0x61, 0x63, 0x2d, 0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x00, 0x00, 0x00, 0x6b,
	0x15, 0x2d, 0xcb, 0x01, 0x2c, 0x00, 0x20, 0x29, 0x7e, 0x5a, 0xa1, 0x24, 0xed, 0x86, 0xd3,
	0x5c, 0xb0, 0x86, 0x5e, 0x2e, 0xe6, 0xfe, 0x2e, 0x58, 0x2e, 0xd4, 0xa6, 0x83, 0xe6, 0x1c,
	0x65, 0xa2, 0x7d, 0x7d, 0x0a, 0xfc, 0xb4, 0xed, 0x9b, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00,
};

/* ;; id 0x6789, opcode QUERY, flags: rd; QUERY: 1, ADDITIONAL: 1
 * example.com.	IN	A
 * .	0	ANY	SIG	0 8 0 0 ... 4242 . <16 bytes>	(SIG(0), RFC 2931) */
static const uint8_t q_sig0[] = {
	0x67, 0x89, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x18, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x23, 0x00, 0x00, 0x08, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x65, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x10, 0x92, 0x00, 0x00,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};

/* ;; id 0x1234, opcode QUERY, rcode NOERROR, flags: qr aa rd ra; QUERY: 1, ANSWER: 1,
 * ;; AUTHORITY: 1, ADDITIONAL: 2
 * example.com.	IN	A
 * example.com.	300	IN	A	192.0.2.1		(owners: pointers to 12)
 * example.com.	3600	IN	NS	ns.example.com.
 * ;; OPT: udp 1232; COOKIE 0102030405060708; ECS 198.51.103.0/24 scope 20; EDE 0
 * ns.example.com.	3600	IN	A	192.0.2.53	(after the OPT) */
static const uint8_t r_ecs_glue[] = {
	0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
	0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 0xc0,
	0x00, 0x02, 0x01, 0xc0, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00,
	0x05, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x1d, 0x00, 0x0a, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x00, 0x08, 0x00, 0x07, 0x00, 0x01, 0x18, 0x14, 0xc6, 0x33, 0x67, 0x00, 0x0f,
	0x00, 0x02, 0x00, 0x00, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35,
};

/* r_ecs_glue without its OPT record, ADDITIONAL: 1 */
static const uint8_t r_ecs_glue_no_opt[] = {
	0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
	0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 0xc0,
	0x00, 0x02, 0x01, 0xc0, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00,
	0x05, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01, 0x00,
	0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35,
};

/* r_ecs_glue without its ECS option */
static const uint8_t r_ecs_glue_no_ecs[] = {
	0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
	0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 0xc0,
	0x00, 0x02, 0x01, 0xc0, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00,
	0x05, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x12, 0x00, 0x0a, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x00, 0x0f, 0x00, 0x02, 0x00, 0x00, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01,
	0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35,
};

/* r_ecs_glue with the ECS of q_client_ecs, the answer's scope kept: 203.0.113.0/24 scope 20 */
static const uint8_t r_ecs_glue_client[] = {
	0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
	0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 0xc0,
	0x00, 0x02, 0x01, 0xc0, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00,
	0x05, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x1d, 0x00, 0x0a, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x00, 0x08, 0x00, 0x07, 0x00, 0x01, 0x18, 0x14, 0xcb, 0x00, 0x71, 0x00, 0x0f,
	0x00, 0x02, 0x00, 0x00, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35,
};

/* ;; id 0x1234, opcode QUERY, rcode FORMERR, flags: qr; ADDITIONAL: 1
 * ;; OPT: udp 1232 */
static const uint8_t r_formerr_opt[] = {
	0x12, 0x34, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* ;; id 0xabcd, opcode QUERY, flags: rd; QUERY: 1, ADDITIONAL: 4
 * example.com.	IN	A
 * ;; OPT: udp 1232
 * ns.example.com.	3600	IN	A	192.0.2.53	("ns" + pointer to 12, at offset 40)
 * ns.example.com.	3600	IN	AAAA	2001:db8::53	(owner: pointer to 40)
 * www.example.com.	3600	IN	CNAME	ns.example.com.	(RDATA: pointer to 40) */
static const uint8_t q_ptr_after[] = {
	0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x6e, 0x73, 0xc0, 0x0c,
	0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35, 0xc0,
	0x28, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x03, 0x77, 0x77,
	0x77, 0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x02, 0xc0, 0x28,
};

/* q_ptr_after with ECS 198.51.103.0/24 scope 0: the glue at 51, the pointers to it follow */
static const uint8_t q_ptr_after_ecs[] = {
	0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x08, 0x00, 0x07, 0x00,
	0x01, 0x18, 0x00, 0xc6, 0x33, 0x67, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01,
	0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35, 0xc0, 0x33, 0x00, 0x1c, 0x00,
	0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x03, 0x77, 0x77, 0x77, 0xc0, 0x0c, 0x00,
	0x05, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x02, 0xc0, 0x33,
};

/* q_ptr_after answered, flags: qr; the OPT holds ECS 198.51.103.0/24 scope 24 */
static const uint8_t r_ptr_after[] = {
	0xab, 0xcd, 0x81, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x08, 0x00, 0x07, 0x00,
	0x01, 0x18, 0x18, 0xc6, 0x33, 0x67, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01,
	0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x35, 0xc0, 0x33, 0x00, 0x1c, 0x00,
	0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x03, 0x77, 0x77, 0x77, 0xc0, 0x0c, 0x00,
	0x05, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x02, 0xc0, 0x33,
};

/* r_ptr_after without the OPT: the glue at 29, ADDITIONAL: 3 */
static const uint8_t r_ptr_after_no_opt[] = {
	0xab, 0xcd, 0x81, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
	0x01, 0x02, 0x6e, 0x73, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10,
	0x00, 0x04, 0xc0, 0x00, 0x02, 0x35, 0xc0, 0x1d, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00,
	0x0e, 0x10, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x03, 0x77, 0x77, 0x77, 0xc0, 0x0c, 0x00, 0x05,
	0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x02, 0xc0, 0x1d,
};

/* Helpers */

#include "unit_addr.h"

#define CLIENT4 "198.51.103.77"
#define CLIENT6 "2001:db8:1234:5678:9abc:def0:1234:5678"

/* ECS 203.0.113.0/24 scope 0, the option of q_client_ecs */
static const uint8_t client_ecs[] = {0x00, 0x08, 0x00, 0x07, 0x00, 0x01,
				     0x18, 0x00, 0xcb, 0x00, 0x71};

/* Run ecs_add on a copy of <msg> in a block of exactly <cap> bytes (ASan sees any write past
 * it), into <out> (at least <cap> bytes). Returns the code, the length in *<len>. */
static int add(const uint8_t *msg, size_t msg_len, size_t cap, const char *ip, unsigned v4_bits,
	       unsigned v6_bits, bool override, struct ecs_undo *undo, uint8_t *out, size_t *len)
{
	uint8_t *buf = malloc(cap);
	union sockaddr_any client = unit_addr(ip);
	int rc;

	assert_non_null(buf);
	assert_true(cap >= msg_len);
	memcpy(buf, msg, msg_len);
	*len = msg_len;
	memset(undo, 0xee, sizeof(*undo));
	rc = ecs_add(buf, len, cap, &client, v4_bits, v6_bits, override, undo);
	memcpy(out, buf, *len);
	free(buf);
	return rc;
}

/* The same for ecs_undo. */
static int undo_in(const uint8_t *msg, size_t msg_len, size_t cap, const struct ecs_undo *undo,
		   uint8_t *out, size_t *len)
{
	uint8_t *buf = malloc(cap);
	int rc;

	assert_non_null(buf);
	assert_true(cap >= msg_len);
	memcpy(buf, msg, msg_len);
	*len = msg_len;
	rc = ecs_undo(buf, len, cap, undo);
	memcpy(out, buf, *len);
	free(buf);
	return rc;
}

static struct ecs_undo undo_of(enum ecs_edit edit, const uint8_t *client, size_t client_len)
{
	struct ecs_undo u;

	memset(&u, 0, sizeof(u));
	u.edit = (uint8_t)edit;
	u.client_len = (uint8_t)client_len;
	if (client_len != 0) {
		memcpy(u.client_opt, client, client_len);
	}
	return u;
}

/* The message a client would get for <query> (<len> bytes): the same, QR and RA set. */
static void as_answer(uint8_t *msg)
{
	msg[WIRE_OFF_FLAGS1] |= WIRE_FLAG1_QR;
	msg[WIRE_OFF_FLAGS2] |= WIRE_FLAG2_RA;
}

/* The offset of the <n> bytes of <opt> in <msg>, which must hold them once. */
static size_t find(const uint8_t *msg, size_t len, const uint8_t *opt, size_t n)
{
	const uint8_t *p = memmem(msg, len, opt, n);

	assert_non_null(p);
	assert_null(memmem(p + 1, len - (size_t)(p + 1 - msg), opt, n));
	return (size_t)(p - msg);
}

/* Prefix lengths: what the option looks like for CLIENT4 (c6 33 67 4d) and CLIENT6 at each. */
struct prefix_case {
	const char *ip;
	unsigned bits;
	size_t len;
	uint8_t opt[ECS_OPTION_MAX];
};

static const struct prefix_case prefix_cases[] = {
	{CLIENT4, 0, 8, {0x00, 0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00}},
	{CLIENT4, 8, 9, {0x00, 0x08, 0x00, 0x05, 0x00, 0x01, 0x08, 0x00, 0xc6}},
	/* 22: 0x67 loses its two host bits */
	{CLIENT4, 22, 11, {0x00, 0x08, 0x00, 0x07, 0x00, 0x01, 0x16, 0x00, 0xc6, 0x33, 0x64}},
	{CLIENT4, 24, 11, {0x00, 0x08, 0x00, 0x07, 0x00, 0x01, 0x18, 0x00, 0xc6, 0x33, 0x67}},
	{CLIENT4, 32, 12, {0x00, 0x08, 0x00, 0x08, 0x00, 0x01, 0x20, 0x00, 0xc6, 0x33, 0x67, 0x4d}},
	{CLIENT6, 0, 8, {0x00, 0x08, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00}},
	{CLIENT6, 8, 9, {0x00, 0x08, 0x00, 0x05, 0x00, 0x02, 0x08, 0x00, 0x20}},
	/* 33: 0x12 keeps only its top bit, which is 0 */
	{CLIENT6,
	 33,
	 13,
	 {0x00, 0x08, 0x00, 0x09, 0x00, 0x02, 0x21, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00}},
	{CLIENT6,
	 56,
	 15,
	 {0x00, 0x08, 0x00, 0x0b, 0x00, 0x02, 0x38, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34,
	  0x56}},
	/* 57: 0x78 keeps only its top bit, which is 0 */
	{CLIENT6,
	 57,
	 16,
	 {0x00, 0x08, 0x00, 0x0c, 0x00, 0x02, 0x39, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56,
	  0x00}},
	{CLIENT6,
	 64,
	 16,
	 {0x00, 0x08, 0x00, 0x0c, 0x00, 0x02, 0x40, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56,
	  0x78}},
	{CLIENT6, 128, 24, {0x00, 0x08, 0x00, 0x14, 0x00, 0x02, 0x80, 0x00,
			    0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
			    0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78}},
	/* from a dual-stack socket: sent as IPv4, cut to the IPv4 length */
	{"::ffff:" CLIENT4,
	 22,
	 11,
	 {0x00, 0x08, 0x00, 0x07, 0x00, 0x01, 0x16, 0x00, 0xc6, 0x33, 0x64}},
};

#define NCASES (sizeof(prefix_cases) / sizeof(prefix_cases[0]))

/* Each case is run with the other family's length set to something else, so that the wrong
 * one would show. */
static unsigned v4_of(const struct prefix_case *c)
{
	return c->bits <= 32 ? c->bits : 24;
}

static unsigned v6_of(const struct prefix_case *c)
{
	return c->bits == 24 ? 56 : c->bits;
}

/* ecs_add */

/* No OPT: one is appended, udp 512, holding only the option. */
static void test_add_no_opt(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		const struct prefix_case *c = &prefix_cases[i];
		uint8_t out[512], want[512];
		struct ecs_undo u;
		size_t len, n = sizeof(q_plain);
		/* . 512 OPT, extended rcode, version, flags 0, RDLENGTH */
		const uint8_t opt_hdr[] = {0x00, 0x00, 0x29, 0x02, 0x00,           0x00,
					   0x00, 0x00, 0x00, 0x00, (uint8_t)c->len};

		memcpy(want, q_plain, n);
		want[WIRE_OFF_ARCOUNT + 1] = 1;
		memcpy(want + n, opt_hdr, sizeof(opt_hdr));
		memcpy(want + n + sizeof(opt_hdr), c->opt, c->len);
		n += sizeof(opt_hdr) + c->len;

		assert_int_equal(add(q_plain, sizeof(q_plain), sizeof(out), c->ip, v4_of(c),
				     v6_of(c), false, &u, out, &len),
				 DR_EOK);
		assert_int_equal(u.edit, ECS_ADDED_OPT);
		assert_int_equal(u.client_len, 0);
		assert_int_equal(len, n);
		assert_memory_equal(out, want, n);
	}
}

/* An OPT without ECS: the option goes at the end of its RDATA. */
static void test_add_opt_no_ecs(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		const struct prefix_case *c = &prefix_cases[i];
		uint8_t out[512], want[512];
		struct ecs_undo u;
		size_t len, n = sizeof(q_edns);

		memcpy(want, q_edns, n);
		want[n - 1] = (uint8_t)c->len; /* RDLENGTH: the OPT ends the message */
		memcpy(want + n, c->opt, c->len);
		n += c->len;

		assert_int_equal(add(q_edns, sizeof(q_edns), sizeof(out), c->ip, v4_of(c), v6_of(c),
				     true, &u, out, &len),
				 DR_EOK);
		assert_int_equal(u.edit, ECS_ADDED_OPTION);
		assert_int_equal(len, n);
		assert_memory_equal(out, want, n);
	}
}

/* The option goes after the cookie, and the record after the OPT moves along. */
static void test_add_opt_records_after(void **state)
{
	uint8_t out[512];
	struct ecs_undo u;
	size_t len;

	(void)state;
	assert_int_equal(add(q_cookie_glue, sizeof(q_cookie_glue), sizeof(out), CLIENT4, 24, 56,
			     false, &u, out, &len),
			 DR_EOK);
	assert_int_equal(u.edit, ECS_ADDED_OPTION);
	assert_int_equal(len, sizeof(q_cookie_glue_ecs));
	assert_memory_equal(out, q_cookie_glue_ecs, len);
}

/* The client's own ECS: kept unless told otherwise. */
static void test_add_keep(void **state)
{
	uint8_t out[512];
	struct ecs_undo u;
	size_t len;

	(void)state;
	assert_int_equal(add(q_client_ecs, sizeof(q_client_ecs), sizeof(out), CLIENT6, 24, 56,
			     false, &u, out, &len),
			 DR_EOK);
	assert_int_equal(u.edit, ECS_KEPT);
	assert_int_equal(len, sizeof(q_client_ecs));
	assert_memory_equal(out, q_client_ecs, len);
}

/* With override, by a longer and by a shorter option; the cookie after it moves. */
static void test_add_replace(void **state)
{
	uint8_t out[512];
	struct ecs_undo u;
	size_t len;

	(void)state;
	assert_int_equal(add(q_client_ecs, sizeof(q_client_ecs), sizeof(out), CLIENT6, 24, 56, true,
			     &u, out, &len),
			 DR_EOK);
	assert_int_equal(u.edit, ECS_REPLACED);
	assert_int_equal(u.client_len, sizeof(client_ecs));
	assert_memory_equal(u.client_opt, client_ecs, sizeof(client_ecs));
	assert_int_equal(len, sizeof(q_client_ecs_v6));
	assert_memory_equal(out, q_client_ecs_v6, len);

	assert_int_equal(add(q_client_ecs, sizeof(q_client_ecs), sizeof(out), CLIENT4, 0, 56, true,
			     &u, out, &len),
			 DR_EOK);
	assert_int_equal(u.edit, ECS_REPLACED);
	assert_int_equal(u.client_len, sizeof(client_ecs));
	assert_memory_equal(u.client_opt, client_ecs, sizeof(client_ecs));
	assert_int_equal(len, sizeof(q_client_ecs_v4_0));
	assert_memory_equal(out, q_client_ecs_v4_0, len);
}

/* A buffer one byte short changes nothing; the exact size is enough. A shorter option needs
 * no room at all. */
static void test_add_space(void **state)
{
	static const struct {
		const uint8_t *msg;
		size_t len, grow;
		const char *ip;
		enum ecs_edit edit;
	} cases[] = {
		{q_plain, sizeof(q_plain), 11 + 11, CLIENT4, ECS_ADDED_OPT},
		{q_plain, sizeof(q_plain), 11 + 24, CLIENT6, ECS_ADDED_OPT},
		{q_cookie_glue, sizeof(q_cookie_glue), 11, CLIENT4, ECS_ADDED_OPTION},
		{q_client_ecs, sizeof(q_client_ecs), 24 - 11, CLIENT6, ECS_REPLACED},
	};
	uint8_t out[512];
	struct ecs_undo u;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t cap = cases[i].len + cases[i].grow;

		assert_int_equal(add(cases[i].msg, cases[i].len, cap - 1, cases[i].ip, 24, 128,
				     true, &u, out, &len),
				 DR_ESPACE);
		assert_int_equal(u.edit, ECS_NONE);
		assert_int_equal(len, cases[i].len);
		assert_memory_equal(out, cases[i].msg, len);

		assert_int_equal(add(cases[i].msg, cases[i].len, cap, cases[i].ip, 24, 128, true,
				     &u, out, &len),
				 DR_EOK);
		assert_int_equal(u.edit, cases[i].edit);
		assert_int_equal(len, cap);
	}

	assert_int_equal(add(q_client_ecs, sizeof(q_client_ecs), sizeof(q_client_ecs), CLIENT4, 0,
			     56, true, &u, out, &len),
			 DR_EOK);
	assert_int_equal(u.edit, ECS_REPLACED);
	assert_int_equal(len, sizeof(q_client_ecs_v4_0));
}

/* A signed query is left alone: DR_EOK, nothing to undo. */
static void test_add_signed(void **state)
{
	uint8_t out[512];
	struct ecs_undo u;
	size_t len;

	(void)state;
	for (int override = 0; override <= 1; override++) {
		assert_int_equal(add(q_tsig, sizeof(q_tsig), sizeof(out), CLIENT4, 24, 56, override,
				     &u, out, &len),
				 DR_EOK);
		assert_int_equal(u.edit, ECS_NONE);
		assert_int_equal(len, sizeof(q_tsig));
		assert_memory_equal(out, q_tsig, len);

		assert_int_equal(add(q_sig0, sizeof(q_sig0), sizeof(out), CLIENT6, 24, 56, override,
				     &u, out, &len),
				 DR_EOK);
		assert_int_equal(u.edit, ECS_NONE);
		assert_int_equal(len, sizeof(q_sig0));
		assert_memory_equal(out, q_sig0, len);
	}
}

/* Out of range lengths, a family that has no ECS. */
static void test_add_einval(void **state)
{
	uint8_t buf[512];
	struct ecs_undo u;
	union sockaddr_any unix_client;
	size_t len;

	(void)state;
	assert_int_equal(
		add(q_plain, sizeof(q_plain), sizeof(buf), CLIENT4, 33, 56, false, &u, buf, &len),
		DR_EINVAL);
	assert_int_equal(u.edit, ECS_NONE);
	assert_int_equal(
		add(q_plain, sizeof(q_plain), sizeof(buf), CLIENT6, 24, 129, false, &u, buf, &len),
		DR_EINVAL);
	assert_int_equal(len, sizeof(q_plain));
	assert_memory_equal(buf, q_plain, len);

	memset(&unix_client, 0, sizeof(unix_client));
	unix_client.sa.sa_family = AF_UNIX;
	memcpy(buf, q_plain, sizeof(q_plain));
	len = sizeof(q_plain);
	assert_int_equal(ecs_add(buf, &len, sizeof(buf), &unix_client, 24, 56, false, &u),
			 DR_EINVAL);
	assert_int_equal(u.edit, ECS_NONE);
	assert_int_equal(len, sizeof(q_plain));
}

/* Malformed messages, built from the fixtures. */
#define BAD_MAX 24

struct bad {
	const char *what;
	uint8_t msg[160];
	size_t len;
};

static void put(struct bad *b, const uint8_t *msg, size_t len)
{
	assert_true(b->len + len <= sizeof(b->msg));
	memcpy(b->msg + b->len, msg, len);
	b->len += len;
}

static size_t bad_cases(struct bad *b)
{
	static const uint8_t zero[2], opt_cut[] = {0x00, 0x02, 0x00, 0x08};
	static const uint8_t opt_over[] = {0x00, 0x04, 0x00, 0x08, 0x00, 0x01};
	static const uint8_t ptr[] = {0xc0, 0x0c}, label10[] = {0x81, 'a'};
	const size_t qend = sizeof(q_plain); /* q_edns's question ends there too */
	size_t n = 0;

	memset(b, 0, BAD_MAX * sizeof(*b));
	b[n].what = "header cut short";
	put(&b[n++], q_plain, WIRE_HDR_LEN - 1);
	b[n].what = "question cut short";
	put(&b[n++], q_plain, sizeof(q_plain) - 1);
	b[n].what = "OPT cut short";
	put(&b[n++], q_edns, sizeof(q_edns) - 1);
	b[n].what = "trailing byte";
	put(&b[n], q_plain, sizeof(q_plain));
	put(&b[n++], zero, 1);
	b[n].what = "ARCOUNT 2, one record";
	put(&b[n], q_edns, sizeof(q_edns));
	b[n++].msg[WIRE_OFF_ARCOUNT + 1] = 2;
	b[n].what = "two OPT records";
	put(&b[n], q_edns, sizeof(q_edns));
	put(&b[n], q_edns + qend, sizeof(q_edns) - qend);
	b[n++].msg[WIRE_OFF_ARCOUNT + 1] = 2;
	b[n].what = "OPT in the answer section";
	put(&b[n], q_edns, sizeof(q_edns));
	b[n].msg[WIRE_OFF_ANCOUNT + 1] = 1;
	b[n++].msg[WIRE_OFF_ARCOUNT + 1] = 0;
	b[n].what = "OPT owned by example.com (a pointer)";
	put(&b[n], q_edns, qend);
	put(&b[n], ptr, sizeof(ptr));
	put(&b[n++], q_edns + qend + 1, sizeof(q_edns) - qend - 1);
	b[n].what = "OPT owner with a reserved label type";
	put(&b[n], q_edns, qend);
	put(&b[n], label10, sizeof(label10));
	put(&b[n++], q_edns + qend + 1, sizeof(q_edns) - qend - 1);
	b[n].what = "option header cut by RDLENGTH";
	put(&b[n], q_edns, sizeof(q_edns) - 2);
	put(&b[n++], opt_cut, sizeof(opt_cut));
	b[n].what = "option longer than the RDATA";
	put(&b[n], q_edns, sizeof(q_edns) - 2);
	put(&b[n++], opt_over, sizeof(opt_over));
	b[n].what = "two ECS options";
	put(&b[n], q_client_ecs, sizeof(q_client_ecs));
	b[n].msg[sizeof(q_client_ecs) - 12 + 1] = ECS_OPTION_CODE; /* the cookie's code */
	n++;
	b[n].what = "pointer to itself";
	put(&b[n], q_cookie_glue, sizeof(q_cookie_glue));
	b[n++].msg[sizeof(q_cookie_glue) - 15] = (uint8_t)(sizeof(q_cookie_glue) - 16);
	b[n].what = "pointer forward";
	put(&b[n], q_cookie_glue, sizeof(q_cookie_glue));
	b[n++].msg[sizeof(q_cookie_glue) - 15] = (uint8_t)(sizeof(q_cookie_glue) - 4);
	b[n].what = "pointer into the OPT record";
	put(&b[n], q_cookie_glue, sizeof(q_cookie_glue));
	b[n++].msg[sizeof(q_cookie_glue) - 15] = (uint8_t)qend;
	b[n].what = "CNAME RDATA pointing at itself";
	put(&b[n], q_ptr_after, sizeof(q_ptr_after));
	b[n++].msg[sizeof(q_ptr_after) - 1] = (uint8_t)(sizeof(q_ptr_after) - 2);
	b[n].what = "NS RDATA name past its RDLENGTH"; /* the AAAA made an NS */
	put(&b[n], q_ptr_after, sizeof(q_ptr_after));
	b[n++].msg[62] = 2;
	b[n].what = "RDLENGTH past the end";
	put(&b[n], q_edns, sizeof(q_edns));
	b[n++].msg[sizeof(q_edns) - 1] = 1;
	assert_true(n <= BAD_MAX);
	return n;
}

static void test_add_malformed(void **state)
{
	struct bad b[BAD_MAX];
	size_t n = bad_cases(b);
	uint8_t out[512];
	struct ecs_undo u;
	size_t len;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (int override = 0; override <= 1; override++) {
			int rc = add(b[i].msg, b[i].len, sizeof(out), CLIENT4, 24, 56, override, &u,
				     out, &len);
			if (rc != DR_EMALF) {
				fail_msg("%s: %d", b[i].what, rc);
			}
			assert_int_equal(u.edit, ECS_NONE);
			assert_int_equal(len, b[i].len);
			assert_memory_equal(out, b[i].msg, len);
		}
	}
}

/* An ECS option too long to save: kept without override, refused with it. */
static void test_add_client_too_long(void **state)
{
	static const uint8_t long_ecs[] = {
		0x00, 0x08, 0x00, 0x15, 0x00, 0x02, 0x80, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	}; /* 17 address bytes */
	uint8_t msg[128], out[512];
	size_t n = sizeof(q_edns) - 2, len;
	struct ecs_undo u;

	(void)state;
	memcpy(msg, q_edns, n);
	msg[n++] = 0;
	msg[n++] = sizeof(long_ecs);
	memcpy(msg + n, long_ecs, sizeof(long_ecs));
	n += sizeof(long_ecs);

	assert_int_equal(add(msg, n, sizeof(out), CLIENT4, 24, 56, false, &u, out, &len), DR_EOK);
	assert_int_equal(u.edit, ECS_KEPT);
	assert_int_equal(add(msg, n, sizeof(out), CLIENT4, 24, 56, true, &u, out, &len), DR_EMALF);
	assert_int_equal(u.edit, ECS_NONE);
	assert_int_equal(len, n);
	assert_memory_equal(out, msg, n);
}

/* Names after the OPT that point to names after it: their pointers move with them. */
static void test_add_pointers_after(void **state)
{
	uint8_t out[512];
	struct ecs_undo u;
	size_t len;

	(void)state;
	assert_int_equal(add(q_ptr_after, sizeof(q_ptr_after), sizeof(out), CLIENT4, 24, 56, false,
			     &u, out, &len),
			 DR_EOK);
	assert_int_equal(u.edit, ECS_ADDED_OPTION);
	assert_int_equal(len, sizeof(q_ptr_after_ecs));
	assert_memory_equal(out, q_ptr_after_ecs, len);
}

static void test_undo_pointers_after(void **state)
{
	struct ecs_undo opt = undo_of(ECS_ADDED_OPT, NULL, 0);
	struct ecs_undo option = undo_of(ECS_ADDED_OPTION, NULL, 0);
	uint8_t out[512], want[sizeof(q_ptr_after)];
	size_t len;

	(void)state;
	assert_int_equal(
		undo_in(r_ptr_after, sizeof(r_ptr_after), sizeof(r_ptr_after), &opt, out, &len),
		DR_EOK);
	assert_int_equal(len, sizeof(r_ptr_after_no_opt));
	assert_memory_equal(out, r_ptr_after_no_opt, len);

	memcpy(want, q_ptr_after, sizeof(want));
	want[WIRE_OFF_FLAGS1] = WIRE_FLAG1_QR | WIRE_FLAG1_RD;
	assert_int_equal(
		undo_in(r_ptr_after, sizeof(r_ptr_after), sizeof(r_ptr_after), &option, out, &len),
		DR_EOK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(out, want, len);
}

/* A moved pointer must still reach its target in 14 bits (RFC 1035 §4.1.4). The message: the
 * question, an empty OPT, a record of <fill> bytes of RDATA, "a.example.com. A" and a record
 * whose owner points to it. */
static size_t far_message(uint8_t *msg, size_t fill)
{
	static const uint8_t opt[] = {0x00, 0x00, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0x00, 0x00};
	static const uint8_t big[] = {0x00, 0xff, 0x00, 0x00, 0x01, 0, 0, 0, 0};
	static const uint8_t a[] = {0x01, 'a', 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0,
				    0,    0,   0,    0x00, 0x04, 192,  0,    2,    1};
	static const uint8_t a2[] = {0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x04, 192, 0, 2, 2};
	size_t n = sizeof(q_plain), target;

	memcpy(msg, q_plain, n);
	msg[WIRE_OFF_ARCOUNT + 1] = 4;
	memcpy(msg + n, opt, sizeof(opt));
	n += sizeof(opt);
	memcpy(msg + n, big, sizeof(big)); /* . TYPE65280 (0xff00) CLASS1, TTL 0 */
	n += sizeof(big);
	wire_write_u16(msg + n, (uint16_t)fill);
	n += 2;
	memset(msg + n, 0, fill);
	n += fill;
	target = n;
	memcpy(msg + n, a, sizeof(a));
	n += sizeof(a);
	wire_write_u16(msg + n, (uint16_t)(0xc000 | target));
	n += 2;
	memcpy(msg + n, a2, sizeof(a2));
	return n + sizeof(a2);
}

static void test_pointer_range(void **state)
{
	const size_t grow = 11; /* CLIENT4 at /24 */
	static uint8_t msg[17000], out[17000];
	struct ecs_undo u;
	size_t n, len, fill;

	(void)state;
	/* the target lands on 16383 exactly */
	fill = 16383 - grow - (sizeof(q_plain) + 11 + 11);
	n = far_message(msg, fill);
	assert_int_equal(add(msg, n, sizeof(out), CLIENT4, 24, 56, false, &u, out, &len), DR_EOK);
	assert_int_equal(u.edit, ECS_ADDED_OPTION);
	assert_int_equal(wire_read_u16(out + len - 16), 0xc000 | 16383);

	/* one further: it would not */
	n = far_message(msg, fill + 1);
	assert_int_equal(wire_read_u16(msg + n - 16), 0xc000 | (16383 - grow + 1));
	assert_int_equal(add(msg, n, sizeof(out), CLIENT4, 24, 56, false, &u, out, &len),
			 DR_ESPACE);
	assert_int_equal(u.edit, ECS_NONE);
	assert_int_equal(len, n);
	assert_memory_equal(out, msg, n);
}

/* ecs_undo */

static void test_undo_added_opt(void **state)
{
	struct ecs_undo u = undo_of(ECS_ADDED_OPT, NULL, 0);
	uint8_t out[512];
	size_t len;

	(void)state;
	assert_int_equal(undo_in(r_ecs_glue, sizeof(r_ecs_glue), sizeof(r_ecs_glue), &u, out, &len),
			 DR_EOK);
	assert_int_equal(len, sizeof(r_ecs_glue_no_opt));
	assert_memory_equal(out, r_ecs_glue_no_opt, len);

	/* no OPT in the answer: nothing to do */
	assert_int_equal(undo_in(r_ecs_glue_no_opt, sizeof(r_ecs_glue_no_opt),
				 sizeof(r_ecs_glue_no_opt), &u, out, &len),
			 DR_EOK);
	assert_int_equal(len, sizeof(r_ecs_glue_no_opt));
	assert_memory_equal(out, r_ecs_glue_no_opt, len);
}

/* A TSIG after the OPT moves back with the rest. */
static void test_undo_added_opt_tsig(void **state)
{
	static const uint8_t opt[] = {0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00,
				      0x00, 0x00, 0x0b, 0x00, 0x08, 0x00, 0x07, 0x00,
				      0x01, 0x18, 0x18, 0xc6, 0x33, 0x67};
	const size_t qend = sizeof(q_plain); /* where q_tsig's TSIG starts */
	struct ecs_undo u = undo_of(ECS_ADDED_OPT, NULL, 0);
	uint8_t msg[256], want[256], out[256];
	size_t n = 0, len;

	(void)state;
	memcpy(msg, q_tsig, qend);
	n = qend;
	memcpy(msg + n, opt, sizeof(opt));
	n += sizeof(opt);
	memcpy(msg + n, q_tsig + qend, sizeof(q_tsig) - qend);
	n += sizeof(q_tsig) - qend;
	msg[WIRE_OFF_ARCOUNT + 1] = 2;
	as_answer(msg);
	memcpy(want, q_tsig, sizeof(q_tsig));
	as_answer(want);

	assert_int_equal(undo_in(msg, n, n, &u, out, &len), DR_EOK);
	assert_int_equal(len, sizeof(q_tsig));
	assert_memory_equal(out, want, len);
}

static void test_undo_added_option(void **state)
{
	struct ecs_undo u = undo_of(ECS_ADDED_OPTION, NULL, 0);
	uint8_t out[512];
	size_t len;

	(void)state;
	assert_int_equal(undo_in(r_ecs_glue, sizeof(r_ecs_glue), sizeof(r_ecs_glue), &u, out, &len),
			 DR_EOK);
	assert_int_equal(len, sizeof(r_ecs_glue_no_ecs));
	assert_memory_equal(out, r_ecs_glue_no_ecs, len);

	/* OPT without ECS, or no OPT: nothing to do */
	assert_int_equal(undo_in(r_ecs_glue_no_ecs, sizeof(r_ecs_glue_no_ecs),
				 sizeof(r_ecs_glue_no_ecs), &u, out, &len),
			 DR_EOK);
	assert_memory_equal(out, r_ecs_glue_no_ecs, sizeof(r_ecs_glue_no_ecs));
	assert_int_equal(undo_in(r_ecs_glue_no_opt, sizeof(r_ecs_glue_no_opt),
				 sizeof(r_ecs_glue_no_opt), &u, out, &len),
			 DR_EOK);
	assert_memory_equal(out, r_ecs_glue_no_opt, sizeof(r_ecs_glue_no_opt));
}

/* The client's option comes back with the answer's scope. */
static void test_undo_replaced(void **state)
{
	struct ecs_undo u = undo_of(ECS_REPLACED, client_ecs, sizeof(client_ecs));
	uint8_t out[512];
	size_t len;

	(void)state;
	assert_int_equal(undo_in(r_ecs_glue, sizeof(r_ecs_glue), sizeof(r_ecs_glue), &u, out, &len),
			 DR_EOK);
	assert_int_equal(len, sizeof(r_ecs_glue_client));
	assert_memory_equal(out, r_ecs_glue_client, len);

	/* an answer with an OPT but no ECS is left as it is */
	assert_int_equal(undo_in(r_ecs_glue_no_ecs, sizeof(r_ecs_glue_no_ecs),
				 sizeof(r_ecs_glue_no_ecs), &u, out, &len),
			 DR_EOK);
	assert_int_equal(len, sizeof(r_ecs_glue_no_ecs));
	assert_memory_equal(out, r_ecs_glue_no_ecs, len);
	assert_int_equal(undo_in(r_ecs_glue_no_opt, sizeof(r_ecs_glue_no_opt),
				 sizeof(r_ecs_glue_no_opt), &u, out, &len),
			 DR_EOK);
	assert_memory_equal(out, r_ecs_glue_no_opt, sizeof(r_ecs_glue_no_opt));
}

/* A client option longer than the answer's needs room: none, then exactly enough. */
static void test_undo_space(void **state)
{
	const struct prefix_case *v6_128 = &prefix_cases[11];
	struct ecs_undo u = undo_of(ECS_REPLACED, v6_128->opt, v6_128->len);
	size_t cap = sizeof(r_ecs_glue) + v6_128->len - 11;
	uint8_t out[512];
	size_t len;

	(void)state;
	assert_int_equal(v6_128->bits, 128);
	assert_int_equal(undo_in(r_ecs_glue, sizeof(r_ecs_glue), cap - 1, &u, out, &len),
			 DR_ESPACE);
	assert_int_equal(len, sizeof(r_ecs_glue));
	assert_memory_equal(out, r_ecs_glue, len);
	assert_int_equal(undo_in(r_ecs_glue, sizeof(r_ecs_glue), cap, &u, out, &len), DR_EOK);
	assert_int_equal(len, cap);
	/* the answer's option is IPv4, the client's IPv6: the scope is the client's source */
	assert_int_equal(out[find(out, len, v6_128->opt, 7) + 7], 128);
}

/* ECS_NONE and ECS_KEPT do not read the answer at all. */
static void test_undo_nothing(void **state)
{
	struct ecs_undo none = undo_of(ECS_NONE, NULL, 0), kept = undo_of(ECS_KEPT, NULL, 0);
	struct ecs_undo bogus = undo_of((enum ecs_edit)9, NULL, 0);
	uint8_t out[512];
	size_t len;

	(void)state;
	assert_int_equal(
		undo_in(r_ecs_glue, sizeof(r_ecs_glue), sizeof(r_ecs_glue), &none, out, &len),
		DR_EOK);
	assert_memory_equal(out, r_ecs_glue, sizeof(r_ecs_glue));
	assert_int_equal(
		undo_in(r_ecs_glue, sizeof(r_ecs_glue), sizeof(r_ecs_glue), &kept, out, &len),
		DR_EOK);
	assert_int_equal(len, sizeof(r_ecs_glue));
	assert_memory_equal(out, r_ecs_glue, sizeof(r_ecs_glue));
	assert_int_equal(undo_in(q_plain, 3, 3, &kept, out, &len), DR_EOK);
	assert_int_equal(
		undo_in(r_ecs_glue, sizeof(r_ecs_glue), sizeof(r_ecs_glue), &bogus, out, &len),
		DR_EINVAL);
	assert_memory_equal(out, r_ecs_glue, sizeof(r_ecs_glue));
}

/* A bare error header is left as it is; one with an OPT loses it when the client had none. */
static void test_undo_bare_error(void **state)
{
	struct ecs_undo u = undo_of(ECS_ADDED_OPT, NULL, 0);
	uint8_t out[512], want[WIRE_HDR_LEN];
	size_t len;

	(void)state;
	memcpy(want, r_formerr_opt, WIRE_HDR_LEN);
	want[WIRE_OFF_ARCOUNT + 1] = 0;
	assert_int_equal(undo_in(want, sizeof(want), sizeof(want), &u, out, &len), DR_EOK);
	assert_int_equal(len, WIRE_HDR_LEN);
	assert_memory_equal(out, want, len);

	assert_int_equal(
		undo_in(r_formerr_opt, sizeof(r_formerr_opt), sizeof(r_formerr_opt), &u, out, &len),
		DR_EOK);
	assert_int_equal(len, WIRE_HDR_LEN);
	assert_memory_equal(out, want, len);
}

/* A malformed answer is left as it is, whatever the edit. */
static void test_undo_malformed(void **state)
{
	static const enum ecs_edit edits[] = {ECS_ADDED_OPT, ECS_ADDED_OPTION, ECS_REPLACED};
	struct bad b[BAD_MAX];
	size_t n = bad_cases(b);
	uint8_t out[512];
	size_t len;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
			struct ecs_undo u = undo_of(edits[e], client_ecs, sizeof(client_ecs));

			as_answer(b[i].msg);
			int rc = undo_in(b[i].msg, b[i].len, sizeof(out), &u, out, &len);
			if (rc != DR_EMALF) {
				fail_msg("%s: %d", b[i].what, rc);
			}
			assert_int_equal(len, b[i].len);
			assert_memory_equal(out, b[i].msg, len);
		}
	}
}

/* Round trips: add, answer (QR and RA set, the option echoed with a scope), undo: the client
 * gets its query's bytes back as an answer. */
static void round_trip(const uint8_t *query, size_t qlen, const struct prefix_case *c,
		       enum ecs_edit edit)
{
	uint8_t msg[512], back[512], want[512];
	struct ecs_undo u;
	size_t len, blen;

	assert_int_equal(
		add(query, qlen, sizeof(msg), c->ip, v4_of(c), v6_of(c), false, &u, msg, &len),
		DR_EOK);
	assert_int_equal(u.edit, edit);
	as_answer(msg);
	msg[find(msg, len, c->opt, c->len) + 7] = (uint8_t)c->bits; /* SCOPE = SOURCE */
	assert_int_equal(undo_in(msg, len, len, &u, back, &blen), DR_EOK);

	memcpy(want, query, qlen);
	as_answer(want);
	assert_int_equal(blen, qlen);
	assert_memory_equal(back, want, qlen);
}

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		round_trip(q_plain, sizeof(q_plain), &prefix_cases[i], ECS_ADDED_OPT);
		round_trip(q_edns, sizeof(q_edns), &prefix_cases[i], ECS_ADDED_OPTION);
		round_trip(q_cookie_glue, sizeof(q_cookie_glue), &prefix_cases[i],
			   ECS_ADDED_OPTION);
	}
}

/* With override the client gets its own option back, with the answer's scope (or its own
 * source prefix, when the answer was made for the other family). */
static void test_round_trip_override(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		const struct prefix_case *c = &prefix_cases[i];
		uint8_t msg[512], back[512], want[512];
		struct ecs_undo u;
		size_t len, blen;

		assert_int_equal(add(q_client_ecs, sizeof(q_client_ecs), sizeof(msg), c->ip,
				     v4_of(c), v6_of(c), true, &u, msg, &len),
				 DR_EOK);
		assert_int_equal(u.edit, ECS_REPLACED);
		as_answer(msg);
		msg[find(msg, len, c->opt, c->len) + 7] = 16;
		assert_int_equal(undo_in(msg, len, len + 16, &u, back, &blen), DR_EOK);

		memcpy(want, q_client_ecs, sizeof(q_client_ecs));
		as_answer(want);
		/* The answer's scope where the families agree (the client's option is IPv4 /24);
		 * for an answer made for IPv6, the client's own source prefix. */
		want[find(want, sizeof(q_client_ecs), client_ecs, sizeof(client_ecs)) + 7] =
			c->opt[5] == 1 ? 16 : 24;
		assert_int_equal(blen, sizeof(q_client_ecs));
		assert_memory_equal(back, want, blen);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_no_opt),
		cmocka_unit_test(test_add_opt_no_ecs),
		cmocka_unit_test(test_add_opt_records_after),
		cmocka_unit_test(test_add_keep),
		cmocka_unit_test(test_add_replace),
		cmocka_unit_test(test_add_space),
		cmocka_unit_test(test_add_signed),
		cmocka_unit_test(test_add_einval),
		cmocka_unit_test(test_add_malformed),
		cmocka_unit_test(test_add_client_too_long),
		cmocka_unit_test(test_add_pointers_after),
		cmocka_unit_test(test_pointer_range),
		cmocka_unit_test(test_undo_added_opt),
		cmocka_unit_test(test_undo_added_opt_tsig),
		cmocka_unit_test(test_undo_added_option),
		cmocka_unit_test(test_undo_replaced),
		cmocka_unit_test(test_undo_pointers_after),
		cmocka_unit_test(test_undo_space),
		cmocka_unit_test(test_undo_nothing),
		cmocka_unit_test(test_undo_bare_error),
		cmocka_unit_test(test_undo_malformed),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_override),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
