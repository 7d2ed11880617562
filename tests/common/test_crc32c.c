/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for common/crc32c.c: known answers and chaining. */
#include <criterion/criterion.h>
#include <string.h>

#include "crc32c.h"

Test(crc32c, matches_known_answers)
{
	uint8_t zeros[32] = {0}, ones[32];

	memset(ones, 0xff, sizeof(ones));
	cr_assert_eq(sl_crc32c(0, "123456789", 9), 0xE3069283u);
	/* RFC 3720 B.4 test vectors. */
	cr_assert_eq(sl_crc32c(0, zeros, 32), 0x8A9136AAu);
	cr_assert_eq(sl_crc32c(0, ones, 32), 0x62A8AB43u);
	cr_assert_eq(sl_crc32c(0, "", 0), 0u);
}

Test(crc32c, chains_across_pieces)
{
	const char *s = "the quick brown fox jumps over the lazy dog";
	size_t n = strlen(s);

	for (size_t cut = 0; cut <= n; cut++)
		cr_assert_eq(sl_crc32c(sl_crc32c(0, s, cut), s + cut, n - cut), sl_crc32c(0, s, n));
}
