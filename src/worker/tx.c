/* SPDX-License-Identifier: MIT */
/* worker/tx.c -- a loop turn's datagrams: received in batches, sent in batches grouped by
 * socket, for the client side and the backend side alike */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"
#include "worker/tx.h"

#define SOCK_BUF_BYTES (4 << 20)

int tx_init(struct worker *w)
{
	w->tx = calloc(1, sizeof(*w->tx));
	return w->tx ? DR_EOK : DR_ENOMEM;
}

void tx_deinit(struct worker *w)
{
	free(w->tx);
	w->tx = NULL;
}

void tx_socket_buffers(int fd)
{
	int size = SOCK_BUF_BYTES;

	/* Best effort: the kernel caps it at net.core.[rw]mem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* Ask the kernel to send from <to>'s local address (ipi_spec_dst / ipi6_addr). */
static void set_source(struct msghdr *h, uint8_t *ctl, const struct udp_peer *to)
{
	struct cmsghdr *c;

	memset(ctl, 0, TX_CTL_LEN);
	h->msg_control = ctl;
	c = (struct cmsghdr *)ctl;
	if (to->local_family == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst = to->local.v4};
		h->msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = {.ipi6_addr = to->local.v6};
		h->msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
}

/* Queue <len> bytes at <buf> for <fd>, to <to> (NULL on a connected socket). */
void tx_push(struct worker *w, int fd, const struct udp_peer *to, uint8_t *buf, size_t len)
{
	struct tx_queue *tx = w->tx;
	unsigned i;

	if (tx->n == TX_MAX) {
		tx_flush(w);
	}
	i = tx->n++;
	tx->fd[i] = fd;
	tx->iov[i].iov_base = buf;
	tx->iov[i].iov_len = len;
	memset(&tx->msgs[i].msg_hdr, 0, sizeof(tx->msgs[i].msg_hdr));
	tx->msgs[i].msg_hdr.msg_iov = &tx->iov[i];
	tx->msgs[i].msg_hdr.msg_iovlen = 1;
	if (to != NULL) {
		tx->addr[i] = to->remote;
		tx->msgs[i].msg_hdr.msg_name = &tx->addr[i];
		tx->msgs[i].msg_hdr.msg_namelen = sockaddr_len(&to->remote);
		if (to->local_family != 0) {
			set_source(&tx->msgs[i].msg_hdr, tx->ctl[i], to);
		}
	}
}

/* A buffer that stays valid until the next flush, for messages built from timers. */
uint8_t *tx_own_buffer(struct worker *w)
{
	if (w->tx->nown == TX_OWN || w->tx->n == TX_MAX) {
		tx_flush(w);
	}
	return w->tx->own[w->tx->nown++];
}

static void send_group(struct worker *w, int fd, struct mmsghdr *msgs, unsigned n)
{
	unsigned done = 0;
	bool retried = false;

	while (done < n) {
		int rc = sendmmsg(fd, msgs + done, n - done, MSG_DONTWAIT);
		if (rc == -1) {
			if (errno == EINTR) {
				continue;
			}
			/* An ICMP error that arrived for an earlier datagram fails the next send
			 * and is gone with it: this datagram was not the one refused. */
			if (!retried && (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
					 errno == ENETUNREACH)) {
				retried = true;
				continue;
			}
			/* Full socket buffer or an ICMP error for an earlier datagram: UDP may
			 * lose this one, the client retries. Skip it and go on. */
			STAT_INC(w, ST_DROP_SEND);
			done++;
			continue;
		}
		done += (unsigned)rc;
	}
}

void tx_flush(struct worker *w)
{
	struct tx_queue *tx = w->tx;
	struct mmsghdr group[TX_MAX];

	memset(tx->sent, 0, tx->n * sizeof(tx->sent[0]));
	/* Group by socket, keeping order within a socket: one sendmmsg per socket. */
	for (unsigned i = 0; i < tx->n; i++) {
		unsigned n = 0;
		if (tx->sent[i]) {
			continue;
		}
		for (unsigned j = i; j < tx->n; j++) {
			if (!tx->sent[j] && tx->fd[j] == tx->fd[i]) {
				group[n++] = tx->msgs[j];
				tx->sent[j] = true;
			}
		}
		send_group(w, tx->fd[i], group, n);
	}
	tx->n = 0;
	tx->nown = 0;
}

int tx_receive(struct worker *w, int fd, size_t bufsize, bool pktinfo)
{
	struct tx_queue *tx = w->tx;
	int n;

	for (unsigned i = 0; i < WORKER_BATCH; i++) {
		tx->rx_iov[i].iov_base = w->rxbuf + (size_t)i * WORKER_RESP_BUF;
		tx->rx_iov[i].iov_len = bufsize;
		memset(&tx->rx[i].msg_hdr, 0, sizeof(tx->rx[i].msg_hdr));
		tx->rx[i].msg_hdr.msg_iov = &tx->rx_iov[i];
		tx->rx[i].msg_hdr.msg_iovlen = 1;
		tx->rx[i].msg_hdr.msg_name = &tx->rx_addr[i];
		tx->rx[i].msg_hdr.msg_namelen = sizeof(tx->rx_addr[i]);
		if (pktinfo) {
			tx->rx[i].msg_hdr.msg_control = tx->rx_ctl[i];
			tx->rx[i].msg_hdr.msg_controllen = TX_CTL_LEN;
		}
	}
	do {
		n = recvmmsg(fd, tx->rx, WORKER_BATCH, MSG_DONTWAIT, NULL);
	} while (n == -1 && errno == EINTR);
	return n;
}

/* The client of datagram <i> of the last batch, with the local address it wrote to. */
void tx_peer(const struct tx_queue *tx, unsigned i, bool pktinfo, struct udp_peer *peer)
{
	const struct msghdr *h = &tx->rx[i].msg_hdr;

	peer->remote = tx->rx_addr[i];
	peer->local_family = 0;
	if (!pktinfo) {
		return;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL;
	     c = CMSG_NXTHDR((struct msghdr *)h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			peer->local.v4 = pi.ipi_addr;
			peer->local_family = AF_INET;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			peer->local.v6 = pi.ipi6_addr;
			peer->local_family = AF_INET6;
		}
	}
}
