/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks of the on-disk batch format (<sluice/log_format.h>). Everything read
 * from a file is untrusted: lengths are bounded by what remains of the
 * segment before they are used, and a batch is accepted only if its records
 * fill it exactly.
 */
#include <errno.h>
#include <string.h>

#include "crc32c.h"
#include "internal.h"

int sl_batch_hdr_check(const struct sl_batch_hdr *h, uint64_t room)
{
	uint64_t min_body;

	if (h->magic != SL_BATCH_MAGIC || h->version != SL_FORMAT_VERSION)
		return -EBADMSG;
	if (h->length <= SL_BATCH_HDR_BYTES || h->length % 8 != 0 || h->length > room)
		return -EBADMSG;
	if (h->count == 0 || h->first_ts_ns > h->last_ts_ns)
		return -EBADMSG;
	/* Each record takes at least a header and a one-byte key, padded. */
	min_body = (uint64_t)h->count * sl_record_disk_bytes(1, 0);
	if (min_body > h->length - SL_BATCH_HDR_BYTES)
		return -EBADMSG;
	if (h->base_seq == 0 || h->base_seq + h->count < h->base_seq)
		return -EBADMSG;
	return 0;
}

int sl_batch_body_check(const void *batch, uint32_t length)
{
	const uint8_t *b = batch;
	struct sl_batch_hdr h;
	uint32_t off = SL_BATCH_HDR_BYTES;

	memcpy(&h, b, sizeof(h));
	if (sl_crc32c(0, b + 8, length - 8) != h.crc)
		return -EBADMSG;
	for (uint32_t i = 0; i < h.count; i++) {
		struct sl_record_hdr r;
		uint32_t sz;

		if (length - off < SL_RECORD_HDR_BYTES)
			return -EBADMSG;
		memcpy(&r, b + off, sizeof(r));
		if (r.key_len == 0 || r.key_len > SL_MAX_KEY_BYTES ||
		    r.data_len > SL_MAX_RECORD_BYTES_LIMIT)
			return -EBADMSG;
		if (r.arrival_ns < h.first_ts_ns || r.arrival_ns > h.last_ts_ns)
			return -EBADMSG;
		sz = sl_record_disk_bytes(r.key_len, r.data_len);
		if (sz > length - off)
			return -EBADMSG;
		off += sz;
	}
	return off == length ? 0 : -EBADMSG;
}

void sl_batch_record_at(const uint8_t *batch, uint32_t *off, struct sl_record_hdr *ret_hdr,
                        const uint8_t **ret_key, const uint8_t **ret_data)
{
	memcpy(ret_hdr, batch + *off, sizeof(*ret_hdr));
	*ret_key = batch + *off + SL_RECORD_HDR_BYTES;
	*ret_data = *ret_key + ret_hdr->key_len;
	*off += sl_record_disk_bytes(ret_hdr->key_len, ret_hdr->data_len);
}

uint32_t sl_idx_entry_crc(const struct sl_idx_entry *e)
{
	return sl_crc32c(0, e, offsetof(struct sl_idx_entry, entry_crc));
}

uint32_t sl_tix_entry_crc(const struct sl_tix_entry *e)
{
	return sl_crc32c(0, e, offsetof(struct sl_tix_entry, entry_crc));
}
