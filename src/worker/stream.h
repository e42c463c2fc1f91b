/* SPDX-License-Identifier: MIT */
/* worker/stream.h -- TCP streams: connecting, buffers that grow, non-blocking writes */
#ifndef DR_WORKER_STREAM_H
#define DR_WORKER_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"

/* Grow <*buf> (of <*cap> bytes) to hold at least <need>, doubling, never past <limit>.
 * Returns DR_EOK, DR_ESPACE when <need> is over <limit>, or DR_ENOMEM. */
int stream_reserve(uint8_t **buf, size_t *cap, size_t need, size_t limit);

/* Move the unsent bytes <buf>[*off, *len) to the front, so that a buffer limit counts only
 * what is still to be written, not what already went out. */
void stream_compact(uint8_t *buf, size_t *off, size_t *len);

/* Write <buf>[*off, *len) to the non-blocking <fd> until done or the socket is full; once all
 * is written both go back to 0. False when the connection failed. */
bool stream_flush(int fd, const uint8_t *buf, size_t *off, size_t *len);

/* Buffers of a client connection, mapped apart from the heap: only the pages a connection
 * writes count towards the process's memory, and a buffer given back is given back to the
 * system, which freed heap memory between live allocations is not. A worker keeps a few
 * for reuse so that a connection that needs one briefly costs no system call. */
#define STREAM_BUF_SIZE (80u << 10) /* a whole 65,537-byte frame and a read's worth more */
#define STREAM_POOL_KEEP 32u        /* buffers a worker keeps: at most 2.5 MB */

struct stream_pool {
	uint8_t *free[STREAM_POOL_KEEP];
	unsigned n;
};

/* A buffer of STREAM_BUF_SIZE bytes from <p>, or a new one; NULL when out of memory. */
uint8_t *stream_buf_get(struct stream_pool *p);

/* Grow <*buf> (of <*cap> bytes, from stream_buf_get) to at least <need>, doubling, never past
 * <limit>. Returns DR_EOK, DR_ESPACE when <need> is over <limit>, or DR_ENOMEM. */
int stream_buf_grow(uint8_t **buf, size_t *cap, size_t need, size_t limit);

/* Give back <buf> of <cap> bytes: to <p> when it is of the first size and <p> has room,
 * else to the system. <buf> may be NULL. */
void stream_buf_put(struct stream_pool *p, uint8_t *buf, size_t cap);

/* Give every buffer <p> keeps back to the system. */
void stream_pool_deinit(struct stream_pool *p);

/* Start a non-blocking TCP connection to <to> (TCP_NODELAY: queries go out at once), from
 * the address <from> the host does not own (common/transparent.h), or from one of ours when
 * <from> is NULL. Returns the fd, connecting or connected, or -1. */
int stream_connect(const union sockaddr_any *to, const union sockaddr_any *from);

/* After the first EPOLLOUT or error on a connecting <fd>: true when it connected. */
bool stream_connected(int fd);

/* How long what was read on a stream may wait for bytes going back to carry its ACK before
 * stream_ack sends one alone. A peer that writes without TCP_NODELAY (a backend's answers, a
 * client's pipelined queries) holds its next message until the last is acknowledged, and
 * Linux would delay the ACK up to 40 ms. An ACK per message, though, makes the peer send
 * each message in a segment of its own: two packets more per query for both ends. Waiting
 * this long lets a busy connection's own traffic carry the ACK, and what the peer held
 * meanwhile comes in one segment. */
#define STREAM_ACK_DELAY_US 200u

/* An ACK owed on <fd> since <*owed_us> (clock_now_us; 0: none): once it has waited
 * STREAM_ACK_DELAY_US it is sent alone, staying in delayed-ACK mode, and <*owed_us> goes back
 * to 0. Returns when it falls due while it is still owed, else 0. <*now> is read from the
 * clock when 0, so that a turn's end reads it once for all its connections. */
uint64_t stream_ack_due(int fd, uint64_t *owed_us, uint64_t *now);

#endif
