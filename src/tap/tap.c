/* SPDX-License-Identifier: MIT */
/* tap/tap.c -- dnstap: what the router sees and sends, to a file or a socket
 *
 * libfstrm does the Frame Streams part: a writer thread, fed by one single-producer queue per
 * worker, that writes to a file or to a unix socket (reconnecting when the reader goes). A
 * worker only encodes and queues; a full queue (a reader that stopped reading) is a dropped
 * message, never a wait. */
#include <errno.h>
#include <fcntl.h>
#include <fstrm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/version.h"
#include "tap/tap.h"

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"

struct tap {
	struct fstrm_iothr *iothr;
	struct fstrm_iothr_queue **queues; /* one per worker */
	unsigned nqueues;
	char identity[CONF_TEXT_MAX + 1];
	bool send_identity;
	bool queries, responses;
	uint32_t sample;
	char path[CONF_PATH_MAX]; /* the file, for tap_rotated; "" for a socket */
	dev_t dev;
	ino_t ino;
};

static struct fstrm_writer *file_writer(const char *path, struct fstrm_writer_options *wopt)
{
	struct fstrm_file_options *fopt = fstrm_file_options_init();
	struct fstrm_writer *w;

	fstrm_file_options_set_file_path(fopt, path);
	w = fstrm_file_writer_init(fopt, wopt);
	fstrm_file_options_destroy(&fopt);
	return w;
}

static struct fstrm_writer *socket_writer(const char *path, struct fstrm_writer_options *wopt)
{
	struct fstrm_unix_writer_options *uopt = fstrm_unix_writer_options_init();
	struct fstrm_writer *w;

	fstrm_unix_writer_options_set_socket_path(uopt, path);
	w = fstrm_unix_writer_init(uopt, wopt);
	fstrm_unix_writer_options_destroy(&uopt);
	return w;
}

static struct fstrm_iothr *start(const struct conf_dnstap *c, unsigned nqueues)
{
	struct fstrm_writer_options *wopt = fstrm_writer_options_init();
	struct fstrm_iothr_options *iopt = fstrm_iothr_options_init();
	struct fstrm_writer *w;
	struct fstrm_iothr *iothr = NULL;

	fstrm_writer_options_add_content_type(wopt, CONTENT_TYPE, strlen(CONTENT_TYPE));
	w = c->file[0] != '\0' ? file_writer(c->file, wopt) : socket_writer(c->socket, wopt);
	fstrm_writer_options_destroy(&wopt);
	if (w != NULL &&
	    fstrm_iothr_options_set_num_input_queues(iopt, nqueues) == fstrm_res_success &&
	    fstrm_iothr_options_set_queue_model(iopt, FSTRM_IOTHR_QUEUE_MODEL_SPSC) ==
		    fstrm_res_success &&
	    fstrm_iothr_options_set_input_queue_size(iopt, c->queue_size) == fstrm_res_success) {
		iothr = fstrm_iothr_init(iopt, &w); /* takes the writer */
	}
	if (iothr == NULL && w != NULL) {
		fstrm_writer_destroy(&w);
	}
	fstrm_iothr_options_destroy(&iopt);
	return iothr;
}

/* Create the file now (libfstrm opens it later, on its thread, truncating the same inode),
 * so that a path we cannot write is an error at once, and remember which file it is. */
static int note_file(struct tap *t, const char *path, char *err, size_t len)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);

	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(err, len, "dnstap file %s: %s", path, strerror(errno));
		if (fd != -1) {
			close(fd);
		}
		return -1;
	}
	close(fd);
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	return 0;
}

struct tap *tap_open(const struct conf_dnstap *c, const char *identity, unsigned nworkers,
		     char *err, size_t len)
{
	struct tap *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->queues = calloc(nworkers, sizeof(*t->queues))) == NULL) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	if (c->file[0] != '\0' && note_file(t, c->file, err, len) != 0) {
		goto fail;
	}
	t->iothr = start(c, nworkers);
	if (t->iothr == NULL) {
		snprintf(err, len, "dnstap: cannot write to %s", c->file[0] ? c->file : c->socket);
		goto fail;
	}
	for (unsigned i = 0; i < nworkers; i++) {
		t->queues[i] = fstrm_iothr_get_input_queue_idx(t->iothr, i);
	}
	t->nqueues = nworkers;
	snprintf(t->identity, sizeof(t->identity), "%s", identity);
	t->send_identity = c->identity;
	t->queries = c->queries;
	t->responses = c->responses;
	t->sample = c->sample ? c->sample : 1;
	return t;
fail:
	tap_close(t);
	return NULL;
}

void tap_close(struct tap *t)
{
	if (t == NULL) {
		return;
	}
	if (t->iothr != NULL) {
		fstrm_iothr_destroy(&t->iothr); /* flushes the queues and stops the thread */
	}
	free(t->queues);
	free(t);
}

bool tap_rotated(const struct tap *t)
{
	struct stat st;

	if (t->path[0] == '\0') {
		return false;
	}
	return stat(t->path, &st) != 0 || st.st_dev != t->dev || st.st_ino != t->ino;
}

bool tap_sampled(const struct tap *t, const union sockaddr_any *client, uint16_t id)
{
	uint8_t key[SOCKADDR_KEY_MAX + 2];
	size_t n;

	if (t->sample <= 1) {
		return true;
	}
	n = sockaddr_key(client, key);
	memcpy(key + n, &id, 2);
	return hash_bytes(key, n + 2, 0x7a9) % t->sample == 0;
}

bool tap_wants(const struct tap *t, enum tap_type type)
{
	return type == TAP_CLIENT_QUERY || type == TAP_FORWARDER_QUERY ? t->queries : t->responses;
}

bool tap_submit(struct tap *t, unsigned worker, struct tap_event *e)
{
	uint8_t *buf;
	size_t n;

	if (worker >= t->nqueues) {
		return false;
	}
	if (t->send_identity) {
		e->identity = t->identity;
		e->version = "dnsrouter " DNSROUTER_VERSION;
	}
	buf = malloc(tap_encode_max(e));
	if (buf == NULL) {
		return false;
	}
	n = tap_encode(e, buf);
	if (fstrm_iothr_submit(t->iothr, t->queues[worker], buf, n, fstrm_free_wrapper, NULL) !=
	    fstrm_res_success) {
		free(buf); /* not taken: still ours */
		return false;
	}
	return true;
}
