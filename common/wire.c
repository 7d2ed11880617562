/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Producer wire protocol codec (format: <sluice/wire.h>). The validator is
 * the engine's first line of defence: it trusts no length from the frame
 * until it has checked it against the datagram's length, and it checks
 * the whole frame (CRC and every record) before the caller reads any of it.
 */
#include "wire.h"

#include <errno.h>
#include <pthread.h>

#include <openssl/evp.h>

#include "crc32c.h"

static const char *const drop_names[] = {
#define SL_X_NAME(n, t) #n,
        SL_WIRE_DROPS(SL_X_NAME)
#undef SL_X_NAME
};

static const char *const status_names[] = {
#define SL_X_NAME(n, v, t) [v] = #n,
        SL_WIRE_STATUSES(SL_X_NAME)
#undef SL_X_NAME
};

static const char *const status_texts[] = {
#define SL_X_TEXT(n, v, t) [v] = t,
        SL_WIRE_STATUSES(SL_X_TEXT)
#undef SL_X_TEXT
};

const char *sl_wire_drop_name(enum sl_wire_drop d)
{
	return (unsigned)d < SL_WIRE_DROP_COUNT ? drop_names[d] : "?";
}

const char *sl_wire_status_name(enum sl_wire_status s)
{
	return (unsigned)s < SL_WIRE_STATUS_COUNT ? status_names[s] : "?";
}

const char *sl_wire_status_text(enum sl_wire_status s)
{
	return (unsigned)s < SL_WIRE_STATUS_COUNT ? status_texts[s] : "unknown status";
}

#define DROP(r) (-1 - (int)SL_WIRE_DROP_##r)

static int check_put(const uint8_t *p, uint32_t len, unsigned count)
{
	uint32_t off = SL_WIRE_HDR_BYTES;

	if (count == 0 || count > SL_WIRE_MAX_RECORDS)
		return DROP(NRECORDS);
	for (unsigned i = 0; i < count; i++) {
		uint32_t key_len, data_len;

		if (len - off < SL_WIRE_REC_HDR_BYTES)
			return DROP(RECORD);
		data_len = sl_le16(p + off);
		key_len = p[off + 2] + 1u;
		if (p[off + 3] & ~SL_WIRE_REC_EXPLICIT_HASH)
			return DROP(RECORD);
		off += SL_WIRE_REC_HDR_BYTES;
		/* off <= len here, and key_len + data_len < 2^17: no overflow. */
		if (len - off < key_len + data_len)
			return DROP(RECORD);
		off += key_len + data_len;
	}
	return off == len ? 0 : DROP(TRAILING);
}

static int check(const void *buf, size_t len, bool crc, struct sl_wire_hdr *ret_hdr)
{
	const uint8_t *p = buf;
	struct sl_wire_hdr h;
	int rc = 0;

	if (len < SL_WIRE_HDR_BYTES)
		return DROP(SHORT);
	h.magic = sl_le32(p + SL_WIRE_OFF_MAGIC);
	if (h.magic != SL_WIRE_MAGIC)
		return DROP(MAGIC);
	h.version = p[SL_WIRE_OFF_VERSION];
	if (h.version != SL_WIRE_VERSION)
		return DROP(VERSION);
	h.length = sl_le32(p + SL_WIRE_OFF_LENGTH);
	if (h.length != len || len > SL_WIRE_MAX_FRAME)
		return DROP(LENGTH);
	h.crc = sl_le32(p + SL_WIRE_OFF_CRC);
	if (crc && sl_crc32c(0, p + 8, len - 8) != h.crc)
		return DROP(CRC);
	h.type = p[SL_WIRE_OFF_TYPE];
	h.flags = sl_le16(p + SL_WIRE_OFF_FLAGS);
	h.producer_id = sl_le64(p + SL_WIRE_OFF_PRODUCER);
	h.batch_seq = sl_le64(p + SL_WIRE_OFF_BATCH_SEQ);
	h.stream = sl_le32(p + SL_WIRE_OFF_STREAM);
	h.count = sl_le16(p + SL_WIRE_OFF_COUNT);
	h.rsvd = sl_le16(p + SL_WIRE_OFF_RSVD);
	if (h.rsvd != 0)
		return DROP(FLAGS);
	h.floor = sl_le64(p + SL_WIRE_OFF_FLOOR);

	switch (h.type) {
	case SL_WIRE_PUT:
		if (h.flags & ~SL_WIRE_FLAG_ACK_MASK)
			return DROP(FLAGS);
		rc = check_put(p, (uint32_t)len, h.count);
		break;
	case SL_WIRE_ACK:
		if (h.flags & ~SL_WIRE_FLAG_ACK_MASK)
			return DROP(FLAGS);
		if (h.count == 0 || h.count > SL_WIRE_MAX_RECORDS)
			return DROP(NRECORDS);
		if (len != SL_WIRE_HDR_BYTES + (size_t)h.count * SL_WIRE_ACK_ENTRY_BYTES)
			return DROP(TRAILING);
		break;
	case SL_WIRE_RESOLVE:
		if (h.flags != 0 || h.count != 0)
			return DROP(FLAGS);
		if (len == SL_WIRE_HDR_BYTES || len - SL_WIRE_HDR_BYTES > SL_WIRE_MAX_NAME)
			return DROP(NAME);
		if (memchr(p + SL_WIRE_HDR_BYTES, 0, len - SL_WIRE_HDR_BYTES))
			return DROP(NAME);
		break;
	case SL_WIRE_RESOLVED:
		if (h.flags != 0)
			return DROP(FLAGS);
		if (len != SL_WIRE_HDR_BYTES)
			return DROP(TRAILING);
		break;
	default:
		return DROP(TYPE);
	}
	if (rc == 0 && (h.type == SL_WIRE_PUT ? h.floor > h.batch_seq : h.floor != 0))
		rc = DROP(FLOOR);
	if (rc == 0 && h.type == SL_WIRE_PUT && h.producer_id == 0)
		rc = DROP(PRODUCER);
	if (rc == 0)
		*ret_hdr = h;
	return rc;
}

int sl_wire_check(const void *buf, size_t len, struct sl_wire_hdr *ret_hdr)
{
	return check(buf, len, true, ret_hdr);
}

int sl_wire_check_nocrc(const void *buf, size_t len, struct sl_wire_hdr *ret_hdr)
{
	return check(buf, len, false, ret_hdr);
}

uint32_t sl_wire_begin(uint8_t *buf, enum sl_wire_type type, uint16_t flags, uint64_t producer_id,
                       uint64_t batch_seq, uint32_t stream)
{
	memset(buf, 0, SL_WIRE_HDR_BYTES);
	sl_put_le32(buf + SL_WIRE_OFF_MAGIC, SL_WIRE_MAGIC);
	buf[SL_WIRE_OFF_VERSION] = SL_WIRE_VERSION;
	buf[SL_WIRE_OFF_TYPE] = (uint8_t)type;
	sl_put_le16(buf + SL_WIRE_OFF_FLAGS, flags);
	sl_put_le64(buf + SL_WIRE_OFF_PRODUCER, producer_id);
	sl_put_le64(buf + SL_WIRE_OFF_BATCH_SEQ, batch_seq);
	sl_put_le32(buf + SL_WIRE_OFF_STREAM, stream);
	return SL_WIRE_HDR_BYTES;
}

int sl_wire_put_add(uint8_t *buf, uint32_t cap, uint32_t *len, const void *key, uint16_t key_len,
                    const uint8_t hash_key[16], bool explicit_hash, const void *data,
                    uint32_t data_len)
{
	uint8_t *p;

	if (key_len == 0 || key_len > SL_WIRE_MAX_KEY || data_len > UINT16_MAX)
		return -EINVAL;
	if (*len > cap || cap - *len < sl_wire_rec_bytes(key_len, data_len))
		return -EMSGSIZE;
	p = buf + *len;
	sl_put_le16(p, (uint16_t)data_len);
	p[2] = (uint8_t)(key_len - 1);
	p[3] = explicit_hash ? SL_WIRE_REC_EXPLICIT_HASH : 0;
	memcpy(p + 4, hash_key, 16);
	memcpy(p + SL_WIRE_REC_HDR_BYTES, key, key_len);
	if (data_len)
		memcpy(p + SL_WIRE_REC_HDR_BYTES + key_len, data, data_len);
	*len += sl_wire_rec_bytes(key_len, data_len);
	return 0;
}

void sl_wire_set_floor(uint8_t *buf, uint64_t floor)
{
	sl_put_le64(buf + SL_WIRE_OFF_FLOOR, floor);
}

void sl_wire_reseal(uint8_t *buf, uint32_t len)
{
	sl_put_le32(buf + SL_WIRE_OFF_CRC, sl_crc32c(0, buf + 8, len - 8));
}

uint32_t sl_wire_finish(uint8_t *buf, uint32_t len, uint16_t count)
{
	sl_put_le32(buf + SL_WIRE_OFF_LENGTH, len);
	sl_put_le16(buf + SL_WIRE_OFF_COUNT, count);
	sl_wire_reseal(buf, len);
	return len;
}

/* One MD5 implementation fetched once per process, one context per thread:
 * OpenSSL 3's EVP_md5() would fetch the implementation on every call. */
static EVP_MD *md5_md;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;
static pthread_key_t md5_key; /* frees a thread's context when it exits */
static _Thread_local EVP_MD_CTX *md5_ctx;

static void md5_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void md5_init(void)
{
	md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
	if (pthread_key_create(&md5_key, md5_ctx_free) != 0)
		md5_md = NULL; /* hash keys become zero: see below */
}

void sl_wire_hash_key(const void *key, size_t key_len, uint8_t ret_hash[16])
{
	unsigned int n = 16;

	pthread_once(&md5_once, md5_init);
	if (!md5_ctx && md5_md) {
		md5_ctx = EVP_MD_CTX_new();
		if (md5_ctx)
			pthread_setspecific(md5_key, md5_ctx);
	}
	/* Only allocation failure can make these fail; a zero key then
	 * routes the record to the first shard rather than crashing. */
	if (!md5_md || !md5_ctx || !EVP_DigestInit_ex(md5_ctx, md5_md, NULL) ||
	    !EVP_DigestUpdate(md5_ctx, key, key_len) || !EVP_DigestFinal_ex(md5_ctx, ret_hash, &n))
		memset(ret_hash, 0, 16);
}
