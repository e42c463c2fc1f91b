/* SPDX-License-Identifier: MIT */
/* tests/unit/test_curve_key.c -- key files, the public key, curvedns-keygen's three lines */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "curve/box.h"
#include "curve/key.h"
#include "curve_vectors.h"

struct dir {
	char path[64];
	char file[96];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (d == NULL || curve_box_init() != DR_EOK) {
		return -1;
	}
	strcpy(d->path, "/tmp/test_curve_key.XXXXXX");
	if (mkdtemp(d->path) == NULL) {
		return -1;
	}
	snprintf(d->file, sizeof(d->file), "%s/curve.key", d->path);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;

	unlink(d->file);
	rmdir(d->path);
	free(d);
	return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* What curvedns-keygen printed for a key it made (curve_capture.txt): our lines for its
 * secret must be its lines, byte for byte. */
static void test_keygen_vector(void **state)
{
	struct dir *d = *state;
	char text[256], want[256], err[256];
	uint8_t sk[32];

	snprintf(want, sizeof(want),
		 "DNS public key:\t%s\nHex public key:\t%s\nHex secret key:\t%s\n", cap_keygen_dns,
		 cap_keygen_pk_hex, cap_keygen_sk_hex);
	write_file(d->file, cap_keygen_sk_hex, 0600);
	assert_int_equal(curve_key_load(d->file, sk, err, sizeof(err)), DR_EOK);
	assert_int_equal(curve_key_format(sk, text, sizeof(text)), (int)strlen(want));
	assert_string_equal(text, want);
	assert_int_equal(curve_key_format(sk, text, strlen(want)), DR_ESPACE);
}

static void test_public(void **state)
{
	uint8_t pk[32];
	char name[CURVE_KEY_DNS_LEN + 1];

	(void)state;
	assert_int_equal(curve_key_public(v_server_sk, pk), DR_EOK);
	assert_memory_equal(pk, v_server_pk, 32);
	assert_int_equal(curve_key_dns_name(pk, name, sizeof(name)), CURVE_KEY_DNS_LEN);
	assert_string_equal(name, v_server_dns);
	assert_int_equal(curve_key_dns_name(pk, name, CURVE_KEY_DNS_LEN), DR_ESPACE);
	memset(pk, 0, sizeof(pk));
	assert_int_equal(curve_key_from_dns_name(v_server_dns, pk), DR_EOK);
	assert_memory_equal(pk, v_server_pk, 32);
	assert_int_equal(curve_key_from_dns_name("uz4"
						 "0000",
						 pk),
			 DR_EMALF);
}

static void test_load_forms(void **state)
{
	struct dir *d = *state;
	char text[160], err[256];
	uint8_t sk[32];

	snprintf(text, sizeof(text), "  %s\r\n\n", cap_keygen_sk_hex);
	write_file(d->file, text, 0400);
	assert_int_equal(curve_key_load(d->file, sk, err, sizeof(err)), DR_EOK);
	assert_int_equal(sk[0], 0xef);

	const char *bad[] = {
		"",
		"ef95",                                                               /* short */
		"zz9564579f6d5aada0deb810170f7c16f069787a81960f4d3ecb9b84141ff723",   /* not hex */
		"ef9564579f6d5aada0deb810170f7c16f069787a81960f4d3ecb9b84141ff72300", /* long */
		"ef9564579f6d5aada0deb810170f7c16f069787a81960f4d3ecb9b84141ff723 x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unlink(d->file);
		write_file(d->file, bad[i], 0600);
		memset(sk, 0xaa, sizeof(sk));
		assert_int_equal(curve_key_load(d->file, sk, err, sizeof(err)), DR_ECONF);
		assert_non_null(strstr(err, "not a key file"));
		assert_int_equal(sk[0] | sk[31], 0); /* wiped */
	}
}

static void test_load_refused(void **state)
{
	struct dir *d = *state;
	char err[256], want[160];
	uint8_t sk[32];

	write_file(d->file, cap_keygen_sk_hex, 0640);
	assert_int_equal(curve_key_load(d->file, sk, err, sizeof(err)), DR_ECONF);
	snprintf(want, sizeof(want),
		 "%s: the key file is open to group or others (mode 0640; chmod 600)", d->file);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));
	assert_int_equal(chmod(d->file, 0604), 0);
	assert_int_equal(curve_key_load(d->file, sk, err, sizeof(err)), DR_ECONF);
	assert_int_equal(chmod(d->file, 0620), 0); /* writable by others: not ours either */
	assert_int_equal(curve_key_load(d->file, sk, err, sizeof(err)), DR_ECONF);

	snprintf(want, sizeof(want), "%s/missing", d->path);
	assert_int_equal(curve_key_load(want, sk, err, sizeof(err)), DR_ECONF);
	assert_non_null(strstr(err, "cannot open the key file (No such file or directory)"));
	assert_int_equal(curve_key_load(d->path, sk, err, sizeof(err)), DR_ECONF);
}

static void test_generate(void **state)
{
	struct dir *d = *state;
	char err[256], text[256];
	uint8_t sk[32], back[32];
	struct stat st;
	mode_t old = umask(0277); /* leaves 0400: generate sets 0600 itself */

	assert_int_equal(curve_key_generate(d->file, sk, err, sizeof(err)), DR_EOK);
	umask(old);
	assert_int_equal(stat(d->file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(curve_key_load(d->file, back, err, sizeof(err)), DR_EOK);
	assert_memory_equal(sk, back, 32);
	assert_true(curve_key_format(sk, text, sizeof(text)) > 0);

	/* never over an existing file */
	assert_int_equal(curve_key_generate(d->file, back, err, sizeof(err)), DR_ECONF);
	assert_non_null(strstr(err, "cannot create the key file (File exists)"));
	assert_int_equal(curve_key_load(d->file, back, err, sizeof(err)), DR_EOK);
	assert_memory_equal(sk, back, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keygen_vector, setup, teardown),
		cmocka_unit_test(test_public),
		cmocka_unit_test_setup_teardown(test_load_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
