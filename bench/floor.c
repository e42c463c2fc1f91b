/* SPDX-License-Identifier: MIT */
/* bench/floor.c -- the floor: the least a UDP DNS forwarder can do, for the bench to compare to
 *
 *   bench-floor LISTEN_IP:PORT BACKEND_IP:PORT
 *
 * One thread, one epoll loop, one listening socket and one socket connected to the backend,
 * recvmmsg/sendmmsg in batches of 64 (up to 8 batches per readiness, as dnsrouter reads).
 * A query gets the next backend-side ID from a shuffled sequence of all 65,536; the ID's slot
 * keeps the client's address and its own ID. An answer's ID finds its slot, gets the client's
 * ID back and goes to the client; the slot is cleared. Nothing is parsed beyond the 2-byte ID
 * and nothing is validated: no question check, no source check beyond the connected socket,
 * no timeouts (a slot still in use 65,536 queries later is overwritten). This is what a
 * router's CPU per query is measured against: the system calls and wake-ups every forwarder
 * pays, with next to no work of its own. Not for use outside the bench.
 *
 * Over TCP on the same port it relays bytes: each client connection gets its own connection
 * to the backend, and what one side sends is written to the other as it comes (TCP_NODELAY
 * on both), with no framing, no ID and no parsing at all: a read and a write each way per
 * query, the least any TCP forwarder does. A write the socket refuses waits for room.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define ROUNDS 8 /* batches per readable socket per loop turn */
#define QUERY_BUF 4096
#define ANSWER_BUF 65536
#define SOCK_BUF_BYTES (4 << 20) /* as dnsrouter asks for */
#define IDS 65536
#define MAX_FD 65536 /* TCP: the peer of each descriptor below this */

union addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct slot {
	union addr client;
	socklen_t len; /* 0: free */
	uint8_t id[2];
};

struct fwd {
	int ep, lfd, bfd, sigfd, tfd;
	union addr backend;
	socklen_t backend_len;
	int peer[MAX_FD]; /* TCP: the other side's descriptor + 1, or 0 */
	uint32_t next;    /* index into ids */
	uint16_t ids[IDS];
	struct slot slots[IDS];
	struct mmsghdr rx[BATCH];
	struct iovec rx_iov[BATCH];
	union addr rx_addr[BATCH];
	uint8_t *rx_buf; /* BATCH x ANSWER_BUF */
	struct mmsghdr tx[BATCH];
	struct iovec tx_iov[BATCH];
	unsigned long long queries, answers, unmatched;
};

/* "127.0.0.1:53" or "[::1]:53". */
static int parse_addr(const char *s, union addr *a, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	char *end;

	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(host)) {
		return -1;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || colon[1] == '\0' || port == 0 || port > 65535) {
		return -1;
	}
	memset(a, 0, sizeof(*a));
	size_t n = strlen(host);
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		host[n - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->in6.sin6_addr) != 1) {
			return -1;
		}
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)port);
		*len = sizeof(a->in6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &a->in.sin_addr) != 1) {
		return -1;
	}
	a->in.sin_family = AF_INET;
	a->in.sin_port = htons((uint16_t)port);
	*len = sizeof(a->in);
	return 0;
}

static int udp_socket(const union addr *a)
{
	int size = SOCK_BUF_BYTES;
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1) {
		perror("bench-floor: socket");
		return -1;
	}
	/* Best effort, as in dnsrouter: the kernel caps it at net.core.[rw]mem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	return fd;
}

static int fcntl_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL, 0);

	return flags == -1 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int watch(int ep, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		perror("bench-floor: epoll_ctl");
		return -1;
	}
	return 0;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* All 65,536 IDs in a random order (Fisher-Yates), walked in a cycle. */
static int shuffle_ids(struct fwd *f)
{
	uint64_t seed;

	while (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		if (errno != EINTR) {
			perror("bench-floor: getrandom");
			return -1;
		}
	}
	for (uint32_t i = 0; i < IDS; i++) {
		f->ids[i] = (uint16_t)i;
	}
	for (uint32_t i = IDS - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(splitmix64(&seed) % (i + 1));
		uint16_t t = f->ids[i];
		f->ids[i] = f->ids[j];
		f->ids[j] = t;
	}
	return 0;
}

static int tcp_listener(const union addr *a, socklen_t len)
{
	int one = 1;
	int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
	    bind(fd, &a->sa, len) == -1 || listen(fd, 1024) == -1) {
		perror("bench-floor: tcp listener");
		if (fd != -1) {
			close(fd);
		}
		return -1;
	}
	return fd;
}

static void tcp_close_pair(struct fwd *f, int fd)
{
	int other = f->peer[fd] - 1;

	f->peer[fd] = 0;
	close(fd);
	if (other >= 0) {
		f->peer[other] = 0;
		close(other);
	}
}

/* Each accepted client gets its own connection to the backend. */
static void tcp_accept(struct fwd *f)
{
	int one = 1;

	for (;;) {
		int c = accept4(f->tfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int b;
		if (c == -1) {
			return;
		}
		b = socket(f->backend.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (b == -1 || b >= MAX_FD || c >= MAX_FD ||
		    connect(b, &f->backend.sa, f->backend_len) == -1 ||
		    setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
		    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
		    fcntl_nonblock(b) == -1 || watch(f->ep, c) == -1 || watch(f->ep, b) == -1) {
			close(c);
			if (b != -1) {
				close(b);
			}
			continue;
		}
		f->peer[c] = b + 1;
		f->peer[b] = c + 1;
	}
}

/* Bytes readable on <fd> go to its peer as they are. */
static void tcp_relay(struct fwd *f, int fd)
{
	int to = f->peer[fd] - 1;
	ssize_t n = read(fd, f->rx_buf, ANSWER_BUF);

	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n <= 0) {
		tcp_close_pair(f, fd);
		return;
	}
	for (ssize_t done = 0; done < n;) {
		ssize_t w = write(to, f->rx_buf + done, (size_t)(n - done));
		if (w == -1 && errno == EAGAIN) {
			struct pollfd p = {.fd = to, .events = POLLOUT};
			(void)poll(&p, 1, 1000); /* a floor: waiting here is fine */
			continue;
		}
		if (w <= 0 && errno != EINTR) {
			tcp_close_pair(f, fd);
			return;
		}
		done += w > 0 ? w : 0;
	}
}

static int open_all(struct fwd *f, const union addr *listen_a, socklen_t llen,
		    const union addr *backend_a, socklen_t blen)
{
	sigset_t mask;

	f->ep = epoll_create1(EPOLL_CLOEXEC);
	if (f->ep == -1) {
		perror("bench-floor: epoll_create1");
		return -1;
	}
	f->lfd = udp_socket(listen_a);
	f->bfd = udp_socket(backend_a);
	if (f->lfd == -1 || f->bfd == -1) {
		return -1;
	}
	if (bind(f->lfd, &listen_a->sa, llen) == -1) {
		perror("bench-floor: bind");
		return -1;
	}
	if (connect(f->bfd, &backend_a->sa, blen) == -1) {
		perror("bench-floor: connect");
		return -1;
	}
	/* SIGTERM and SIGINT end the loop, so the counts are printed. */
	if (sigemptyset(&mask) == -1 || sigaddset(&mask, SIGTERM) == -1 ||
	    sigaddset(&mask, SIGINT) == -1 || sigprocmask(SIG_BLOCK, &mask, NULL) == -1) {
		perror("bench-floor: sigprocmask");
		return -1;
	}
	f->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (f->sigfd == -1) {
		perror("bench-floor: signalfd");
		return -1;
	}
	f->backend = *backend_a;
	f->backend_len = blen;
	f->tfd = tcp_listener(listen_a, llen);
	if (f->tfd == -1 || watch(f->ep, f->lfd) == -1 || watch(f->ep, f->bfd) == -1 ||
	    watch(f->ep, f->sigfd) == -1 || watch(f->ep, f->tfd) == -1) {
		return -1;
	}
	return 0;
}

/* One recvmmsg batch on <fd> into rx; <with_addr>: keep the senders. Returns the count, 0
 * when there is nothing to read. */
static int rx_batch(struct fwd *f, int fd, size_t buf_len, int with_addr)
{
	for (unsigned i = 0; i < BATCH; i++) {
		f->rx_iov[i].iov_base = f->rx_buf + (size_t)i * ANSWER_BUF;
		f->rx_iov[i].iov_len = buf_len;
		f->rx[i].msg_hdr = (struct msghdr){
			.msg_name = with_addr ? &f->rx_addr[i] : NULL,
			.msg_namelen = with_addr ? sizeof(f->rx_addr[i]) : 0,
			.msg_iov = &f->rx_iov[i],
			.msg_iovlen = 1,
		};
	}
	for (;;) {
		int n = recvmmsg(fd, f->rx, BATCH, MSG_DONTWAIT, NULL);
		if (n >= 0) {
			return n;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED) {
			perror("bench-floor: recvmmsg");
		}
		return 0;
	}
}

/* Send the <n> messages queued in tx on <fd>; what the socket refuses is dropped. */
static void tx_flush(struct fwd *f, int fd, unsigned n)
{
	unsigned done = 0;

	while (done < n) {
		int rc = sendmmsg(fd, f->tx + done, n - done, MSG_DONTWAIT);
		if (rc == -1) {
			if (errno == EINTR) {
				continue;
			}
			done++; /* skip the one that failed, as a router drops it */
			continue;
		}
		done += (unsigned)rc;
	}
}

static void queries_in(struct fwd *f)
{
	for (int round = 0; round < ROUNDS; round++) {
		int n = rx_batch(f, f->lfd, QUERY_BUF, 1);
		unsigned out = 0;

		for (int i = 0; i < n; i++) {
			uint8_t *msg = f->rx_iov[i].iov_base;
			if (f->rx[i].msg_len < 2) {
				continue;
			}
			uint16_t id = f->ids[f->next];
			f->next = (f->next + 1) % IDS;
			struct slot *s = &f->slots[id];
			memcpy(&s->client, &f->rx_addr[i], sizeof(s->client));
			s->len = f->rx[i].msg_hdr.msg_namelen;
			memcpy(s->id, msg, 2);
			msg[0] = (uint8_t)(id >> 8);
			msg[1] = (uint8_t)id;
			f->tx_iov[out] = (struct iovec){msg, f->rx[i].msg_len};
			f->tx[out].msg_hdr =
				(struct msghdr){.msg_iov = &f->tx_iov[out], .msg_iovlen = 1};
			out++;
		}
		f->queries += out;
		tx_flush(f, f->bfd, out);
		if (n < BATCH) {
			break;
		}
	}
}

static void answers_in(struct fwd *f)
{
	for (int round = 0; round < ROUNDS; round++) {
		int n = rx_batch(f, f->bfd, ANSWER_BUF, 0);
		unsigned out = 0;

		for (int i = 0; i < n; i++) {
			uint8_t *msg = f->rx_iov[i].iov_base;
			if (f->rx[i].msg_len < 2) {
				f->unmatched++;
				continue;
			}
			struct slot *s = &f->slots[(uint16_t)(msg[0] << 8 | msg[1])];
			if (s->len == 0) {
				f->unmatched++;
				continue;
			}
			memcpy(msg, s->id, 2);
			f->tx_iov[out] = (struct iovec){msg, f->rx[i].msg_len};
			f->tx[out].msg_hdr = (struct msghdr){.msg_name = &s->client,
							     .msg_namelen = s->len,
							     .msg_iov = &f->tx_iov[out],
							     .msg_iovlen = 1};
			s->len = 0; /* the address stays put until the sendmmsg below */
			out++;
		}
		f->answers += out;
		tx_flush(f, f->lfd, out);
		if (n < BATCH) {
			break;
		}
	}
}

static void run(struct fwd *f)
{
	struct epoll_event ev[64];

	for (;;) {
		int n = epoll_wait(f->ep, ev, 64, -1);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			perror("bench-floor: epoll_wait");
			return;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == f->lfd) {
				queries_in(f);
			} else if (ev[i].data.fd == f->bfd) {
				answers_in(f);
			} else if (ev[i].data.fd == f->tfd) {
				tcp_accept(f);
			} else if (ev[i].data.fd == f->sigfd) {
				return; /* SIGTERM or SIGINT */
			} else if (f->peer[ev[i].data.fd] != 0) {
				tcp_relay(f, ev[i].data.fd);
			}
		}
	}
}

int main(int argc, char **argv)
{
	union addr listen_a, backend_a;
	socklen_t llen, blen;
	struct fwd *f;
	int ret = 1;

	if (argc != 3 || parse_addr(argv[1], &listen_a, &llen) == -1 ||
	    parse_addr(argv[2], &backend_a, &blen) == -1) {
		fprintf(stderr, "usage: bench-floor LISTEN_IP:PORT BACKEND_IP:PORT\n");
		return 2;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		perror("bench-floor: calloc");
		return 1;
	}
	f->ep = f->lfd = f->bfd = f->sigfd = f->tfd = -1;
	f->rx_buf = malloc((size_t)BATCH * ANSWER_BUF);
	if (f->rx_buf == NULL) {
		perror("bench-floor: malloc");
		goto out;
	}
	if (shuffle_ids(f) == -1 || open_all(f, &listen_a, llen, &backend_a, blen) == -1) {
		goto out;
	}
	run(f);
	fprintf(stderr, "bench-floor: %llu queries, %llu answers, %llu unmatched\n", f->queries,
		f->answers, f->unmatched);
	ret = 0;
out:
	if (f->sigfd != -1) {
		close(f->sigfd);
	}
	if (f->bfd != -1) {
		close(f->bfd);
	}
	if (f->lfd != -1) {
		close(f->lfd);
	}
	if (f->tfd != -1) {
		close(f->tfd);
	}
	if (f->ep != -1) {
		close(f->ep);
	}
	free(f->rx_buf);
	free(f);
	return ret;
}
