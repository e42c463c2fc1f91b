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

/* Start a non-blocking TCP connection to <to> (TCP_NODELAY: queries go out at once).
 * Returns the fd, connecting or connected, or -1. */
int stream_connect(const union sockaddr_any *to);

/* After the first EPOLLOUT or error on a connecting <fd>: true when it connected. */
bool stream_connected(int fd);

#endif
