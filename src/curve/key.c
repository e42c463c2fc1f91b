/* SPDX-License-Identifier: MIT */
/* curve/key.c -- DNSCurve server key files and the lines curvedns-keygen prints */
#include "curve/key.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "curve/base32.h"

#define HEX_LEN (2 * CURVE_KEY_LEN)
#define FILE_MAX 256 /* the 64 digits and generous white space; more is not a key file */

/* The prefix of a key's name label: "uz" and the version, "5" (dnscurve). */
static const char dns_prefix[] = "uz5";

static int fail_errno(const char *path, const char *what, char *err, size_t len)
{
	snprintf(err, len, "%s: cannot %s (%s)", path, what, strerror(errno));
	return DR_ECONF;
}

/* Read the whole file <fd> (at most FILE_MAX - 1 bytes) into <buf>; returns the length or -1
 * with errno set (EFBIG when it is longer). */
static ssize_t read_small(int fd, char *buf)
{
	size_t n = 0;

	while (n < FILE_MAX) {
		ssize_t r = read(fd, buf + n, FILE_MAX - n);
		if (r == -1 && errno == EINTR) {
			continue;
		}
		if (r == -1) {
			return -1;
		}
		if (r == 0) {
			return (ssize_t)n;
		}
		n += (size_t)r;
	}
	errno = EFBIG;
	return -1;
}

/* Parse 64 hex digits with only white space around them. */
static int parse_hex(const char *buf, size_t n, uint8_t sk[CURVE_KEY_LEN])
{
	size_t i = 0, bin_len = 0;
	const char *end = NULL;

	while (i < n && strchr(" \t\r\n", buf[i]) != NULL) {
		i++;
	}
	if (n - i < HEX_LEN ||
	    sodium_hex2bin(sk, CURVE_KEY_LEN, buf + i, HEX_LEN, NULL, &bin_len, &end) != 0 ||
	    bin_len != CURVE_KEY_LEN) {
		return DR_EMALF;
	}
	for (i += HEX_LEN; i < n; i++) {
		if (strchr(" \t\r\n", buf[i]) == NULL) {
			return DR_EMALF;
		}
	}
	return DR_EOK;
}

int curve_key_load(const char *path, uint8_t sk[CURVE_KEY_LEN], char *err, size_t len)
{
	char buf[FILE_MAX];
	struct stat st;
	ssize_t n = -1;
	int rc = DR_ECONF;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd == -1) {
		rc = fail_errno(path, "open the key file", err, len);
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		rc = fail_errno(path, "stat the key file", err, len);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, len, "%s: the key file is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, len,
			 "%s: the key file is open to group or others (mode %04o; chmod 600)", path,
			 (unsigned)(st.st_mode & 07777));
		goto out;
	}
	n = read_small(fd, buf);
	if (n == -1) {
		rc = fail_errno(path, "read the key file", err, len);
		goto out;
	}
	if (parse_hex(buf, (size_t)n, sk) != DR_EOK) {
		snprintf(err, len, "%s: not a key file (64 hex digits expected)", path);
		goto out;
	}
	rc = DR_EOK;
out:
	sodium_memzero(buf, sizeof(buf));
	if (rc != DR_EOK) {
		sodium_memzero(sk, CURVE_KEY_LEN);
	}
	if (fd != -1) {
		close(fd);
	}
	return rc;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w == -1 && errno == EINTR) {
			continue;
		}
		if (w == -1) {
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int curve_key_generate(const char *path, uint8_t sk[CURVE_KEY_LEN], char *err, size_t len)
{
	char hex[HEX_LEN + 2];
	int rc = DR_ECONF;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);

	if (fd == -1) {
		/* nothing created, nothing to remove */
		return fail_errno(path, "create the key file", err, len);
	}
	randombytes_buf(sk, CURVE_KEY_LEN);
	sodium_bin2hex(hex, sizeof(hex), sk, CURVE_KEY_LEN);
	hex[HEX_LEN] = '\n';
	/* The umask may have taken bits off 0600; the owner must still read it back. */
	if (fchmod(fd, 0600) == -1) {
		rc = fail_errno(path, "set the key file's mode", err, len);
		goto out;
	}
	if (write_all(fd, hex, HEX_LEN + 1) == -1 || fsync(fd) == -1) {
		rc = fail_errno(path, "write the key file", err, len);
		goto out;
	}
	rc = DR_EOK;
out:
	sodium_memzero(hex, sizeof(hex));
	if (close(fd) == -1 && rc == DR_EOK) {
		rc = fail_errno(path, "write the key file", err, len);
	}
	if (rc != DR_EOK) {
		sodium_memzero(sk, CURVE_KEY_LEN);
		unlink(path);
	}
	return rc;
}

int curve_key_public(const uint8_t sk[CURVE_KEY_LEN], uint8_t pk[CURVE_KEY_LEN])
{
	return crypto_scalarmult_curve25519_base(pk, sk) == 0 ? DR_EOK : DR_EINVAL;
}

int curve_key_dns_name(const uint8_t pk[CURVE_KEY_LEN], char *out, size_t cap)
{
	const size_t pre = sizeof(dns_prefix) - 1;

	if (cap < CURVE_KEY_DNS_LEN + 1) {
		return DR_ESPACE;
	}
	memcpy(out, dns_prefix, pre);
	/* 32 bytes take 52 characters, the last one for bit 255 alone. That bit of a key is 0,
	 * so the last character is always '0' and the NUL replaces it: 51 characters. */
	if ((pk[CURVE_KEY_LEN - 1] & 0x80) != 0 ||
	    curve_base32_encode(pk, CURVE_KEY_LEN, out + pre, cap - pre) !=
		    CURVE_BASE32_KEY_LEN + 1) {
		return DR_EINVAL;
	}
	out[CURVE_KEY_DNS_LEN] = '\0';
	return CURVE_KEY_DNS_LEN;
}

int curve_key_from_dns_name(const char *in, uint8_t pk[CURVE_KEY_LEN])
{
	const size_t pre = sizeof(dns_prefix) - 1;

	if (strncasecmp(in, dns_prefix, pre) != 0) {
		return DR_EMALF;
	}
	return curve_base32_decode_key(in + pre, pk);
}

int curve_key_format(const uint8_t sk[CURVE_KEY_LEN], char *out, size_t cap)
{
	uint8_t pk[CURVE_KEY_LEN];
	char name[CURVE_KEY_DNS_LEN + 1], pk_hex[HEX_LEN + 1], sk_hex[HEX_LEN + 1];
	int n, rc = DR_EINVAL;

	if (curve_key_public(sk, pk) != DR_EOK || curve_key_dns_name(pk, name, sizeof(name)) < 0) {
		goto out;
	}
	sodium_bin2hex(pk_hex, sizeof(pk_hex), pk, CURVE_KEY_LEN);
	sodium_bin2hex(sk_hex, sizeof(sk_hex), sk, CURVE_KEY_LEN);
	/* Tabs, as curvedns-keygen 0.87 prints them. */
	n = snprintf(out, cap, "DNS public key:\t%s\nHex public key:\t%s\nHex secret key:\t%s\n",
		     name, pk_hex, sk_hex);
	rc = n < 0 || (size_t)n >= cap ? DR_ESPACE : n;
	if (rc == DR_ESPACE && cap > 0) {
		sodium_memzero(out, cap); /* no half-written secret left behind */
	}
out:
	sodium_memzero(sk_hex, sizeof(sk_hex));
	return rc;
}
