/* SPDX-License-Identifier: Apache-2.0 */
/* Standard base64 with padding (RFC 4648 section 4), as Kinesis JSON carries
 * blobs. */
#ifndef SL_CLI_BASE64_H
#define SL_CLI_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes sl_base64_encode() writes for n input bytes, NUL included. */
static inline size_t sl_base64_encoded_size(size_t n)
{
	return (n + 2) / 3 * 4 + 1;
}

/* Writes the encoding of src[0..n) and a NUL; returns its length. */
size_t sl_base64_encode(const void *src, size_t n, char *dst);

/* Decodes s[0..n) into dst (room for n / 4 * 3 bytes); returns the decoded
 * length, or -EINVAL for anything that is not padded standard base64. */
long sl_base64_decode(const char *s, size_t n, uint8_t *dst);

#endif
