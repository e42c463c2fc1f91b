/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz.h -- what every fuzz target shares */
#ifndef DR_FUZZ_FUZZ_H
#define DR_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* An invariant the target checks: a violation is a crash the fuzzer reports. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
