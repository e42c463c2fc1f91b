/* SPDX-License-Identifier: MIT */
/* worker/steer.c -- send each client prefix to one worker (SO_REUSEPORT with a BPF program)
 *
 * The kernel picks the socket of a reuseport group by a hash of the 4-tuple, so a client
 * that uses many source ports reaches every worker. Limits kept per client prefix would
 * then see a fraction of its traffic each. A classic BPF program attached to the group
 * instead returns hash(source prefix) % nworkers: the index of the socket in the group,
 * which is the worker's, as worker N binds its sockets N-th. The program reads the source
 * address below the transport header (SKF_NET_OFF), the same way for UDP and TCP. */
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/err.h"
#include "worker/steer.h"

#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

#define IP4_SRC 12 /* offset of the source address in an IPv4 header */
#define IP6_SRC 8  /* and in an IPv6 header */
#define GOLDEN 0x9e3779b1u

static uint32_t mask32(unsigned bits)
{
	return bits == 0 ? 0 : bits >= 32 ? 0xffffffffu : ~0u << (32 - bits);
}

/* A = A * GOLDEN; A ^= A >> 16: spread the prefix over the low bits the modulo keeps. */
#define MIX                                                                                        \
	BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, GOLDEN), BPF_STMT(BPF_MISC | BPF_TAX, 0),              \
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16), BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0)

int steer_socket(int fd, sa_family_t family, unsigned nworkers, unsigned v4_bits, unsigned v6_bits,
		 bool on)
{
	unsigned hi = v6_bits > 32 ? 32 : v6_bits, lo = v6_bits > 32 ? v6_bits - 32 : 0;
	struct sock_filter v4[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + IP4_SRC)),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask32(v4_bits)),
		MIX,
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, nworkers),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_filter v6[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + IP6_SRC)),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask32(hi)),
		MIX,
		BPF_STMT(BPF_ST, 0), /* M[0] = mixed first word */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + IP6_SRC + 4)),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask32(lo)),
		BPF_STMT(BPF_LDX | BPF_MEM, 0),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		MIX,
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, nworkers),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog = {
		.len = family == AF_INET ? sizeof(v4) / sizeof(v4[0]) : sizeof(v6) / sizeof(v6[0]),
		.filter = family == AF_INET ? v4 : v6,
	};
	int unused = 0;

	if (nworkers == 0) {
		return DR_EINVAL;
	}
	if (!on) {
		/* ENOENT: nothing was attached, which is what we want. */
		if (setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof(unused)) ==
			    -1 &&
		    errno != ENOENT) {
			return -errno;
		}
		return DR_EOK;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) == -1) {
		return -errno;
	}
	return DR_EOK;
}
