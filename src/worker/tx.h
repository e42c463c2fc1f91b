/* SPDX-License-Identifier: MIT */
/* worker/tx.h -- a loop turn's datagrams: received in batches, sent in batches grouped by
 * socket, for the client side and the backend side alike */
#ifndef DR_WORKER_TX_H
#define DR_WORKER_TX_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "worker/worker.h"

#define TX_MAX (2 * WORKER_BATCH)
#define TX_OWN WORKER_BATCH /* messages that outlive the receive batch: retries, SERVFAIL */
#define TX_CTL_LEN CMSG_SPACE(sizeof(struct in6_pktinfo))

/* Outgoing datagrams of one loop turn. Most point into the receive buffers, edited in place;
 * the ones made from timers live in <own>. */
struct tx_queue {
	struct mmsghdr msgs[TX_MAX];
	struct iovec iov[TX_MAX];
	union sockaddr_any addr[TX_MAX];
	uint8_t ctl[TX_MAX][TX_CTL_LEN] __attribute__((aligned(8)));
	int fd[TX_MAX];
	bool sent[TX_MAX];
	unsigned n;
	unsigned nown;
	uint8_t own[TX_OWN][WORKER_QUERY_BUF];
	/* receive side, reused for every batch */
	struct mmsghdr rx[WORKER_BATCH];
	struct iovec rx_iov[WORKER_BATCH];
	union sockaddr_any rx_addr[WORKER_BATCH];
	uint8_t rx_ctl[WORKER_BATCH][TX_CTL_LEN] __attribute__((aligned(8)));
};

/* Allocate the worker's queues. Returns DR_EOK or DR_ENOMEM. */
int tx_init(struct worker *w);
void tx_deinit(struct worker *w);

/* Ask for large socket buffers on <fd> (best effort: the kernel caps them). */
void tx_socket_buffers(int fd);

/* Queue <len> bytes at <buf> for <fd>, to <to> (NULL on a connected socket). <buf> must stay
 * valid until the next tx_flush: a receive buffer of this batch, or tx_own_buffer(). */
void tx_push(struct worker *w, int fd, const struct udp_peer *to, uint8_t *buf, size_t len);

/* A buffer of WORKER_QUERY_BUF bytes that stays valid until the next flush, for messages
 * built from timers. */
uint8_t *tx_own_buffer(struct worker *w);

/* Send everything queued, grouped by socket. Called once per batch and loop turn. */
void tx_flush(struct worker *w);

/* Receive up to WORKER_BATCH datagrams of up to <bufsize> bytes from <fd> into w->tx->rx,
 * with IP_PKTINFO when <pktinfo>. Returns how many, or -1. */
int tx_receive(struct worker *w, int fd, size_t bufsize, bool pktinfo);

/* The sender of datagram <i> of the last batch, with the local address it wrote to. */
void tx_peer(const struct tx_queue *tx, unsigned i, bool pktinfo, struct udp_peer *peer);

#endif
