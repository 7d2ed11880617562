/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encoder and validator of the producer wire protocol (<sluice/wire.h>),
 * shared by the engine and the producer client. DPDK-free, allocation-free:
 * every function works on a caller's buffer.
 *
 * Validation is complete before anything is trusted: sl_wire_check() walks
 * every length in the frame against the datagram's own length, so a frame
 * it accepts can be walked with sl_wire_rec_next() without further bounds
 * checks.
 */
#ifndef SL_COMMON_WIRE_H
#define SL_COMMON_WIRE_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sluice/wire.h>

static inline uint16_t sl_le16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}

static inline uint32_t sl_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t sl_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline void sl_put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static inline void sl_put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline void sl_put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* sl_wire_check() result: 0, or -1 - (enum sl_wire_drop). */
static inline enum sl_wire_drop sl_wire_drop_of(int rc)
{
	return (enum sl_wire_drop)(-1 - rc);
}

const char *sl_wire_drop_name(enum sl_wire_drop d);
const char *sl_wire_status_name(enum sl_wire_status s);
const char *sl_wire_status_text(enum sl_wire_status s);

/*
 * Validates a whole frame of len bytes (the UDP payload): header, CRC, and
 * the body of its type (every record's bounds and header for a PUT, entry
 * count for an ACK, name for a RESOLVE). Returns 0 and fills *ret_hdr
 * (host byte order), or -1 - the drop reason.
 */
int sl_wire_check(const void *buf, size_t len, struct sl_wire_hdr *ret_hdr);

/* Same without the CRC (for engines whose caller checked it, and tests). */
int sl_wire_check_nocrc(const void *buf, size_t len, struct sl_wire_hdr *ret_hdr);

/*
 * Decodes the record at *off of a PUT that passed sl_wire_check() and moves
 * *off past it. Start with *off = SL_WIRE_HDR_BYTES.
 */
static inline void sl_wire_rec_next(const uint8_t *frame, uint32_t *off, struct sl_wire_rec *r)
{
	const uint8_t *p = frame + *off;

	r->data_len = sl_le16(p);
	r->key_len = (uint16_t)(p[2] + 1u);
	r->flags = p[3];
	r->hash_key = p + 4;
	r->key = p + SL_WIRE_REC_HDR_BYTES;
	r->data = r->key + r->key_len;
	*off += SL_WIRE_REC_HDR_BYTES + r->key_len + r->data_len;
}

/* ---- encoding ---- */

/* Starts a frame of the given type in buf (cap bytes, >= the header).
 * Returns the header length; the body goes after it. */
uint32_t sl_wire_begin(uint8_t *buf, enum sl_wire_type type, uint16_t flags, uint64_t producer_id,
                       uint64_t batch_seq, uint32_t stream);

/* Sets a PUT's floor (before sl_wire_finish(); see <sluice/wire.h>). */
void sl_wire_set_floor(uint8_t *buf, uint64_t floor);

/* Bytes a PUT record takes on the wire. */
static inline uint32_t sl_wire_rec_bytes(uint16_t key_len, uint32_t data_len)
{
	return SL_WIRE_REC_HDR_BYTES + key_len + data_len;
}

/*
 * Appends one PUT record at buf + *len if it fits in cap and the key and
 * data sizes are legal. Returns 0, -EINVAL (key length not 1..256, data over
 * 65535) or -EMSGSIZE (does not fit cap).
 */
int sl_wire_put_add(uint8_t *buf, uint32_t cap, uint32_t *len, const void *key, uint16_t key_len,
                    const uint8_t hash_key[16], bool explicit_hash, const void *data,
                    uint32_t data_len);

/* Appends one ACK entry at buf + *len (the caller sized buf). */
static inline void sl_wire_ack_add(uint8_t *buf, uint32_t *len, uint64_t first_seq, uint32_t shard,
                                   uint16_t index, uint16_t nrec, enum sl_wire_status status)
{
	uint8_t *p = buf + *len;

	sl_put_le64(p, first_seq);
	sl_put_le32(p + 8, shard);
	sl_put_le16(p + 12, index);
	sl_put_le16(p + 14, nrec);
	sl_put_le16(p + 16, (uint16_t)status);
	sl_put_le16(p + 18, 0);
	*len += SL_WIRE_ACK_ENTRY_BYTES;
}

/* Reads ACK entry i of a frame that passed sl_wire_check(). */
static inline void sl_wire_ack_entry(const uint8_t *frame, unsigned i, struct sl_wire_ack_entry *e)
{
	const uint8_t *p = frame + SL_WIRE_HDR_BYTES + (size_t)i * SL_WIRE_ACK_ENTRY_BYTES;

	e->first_seq = sl_le64(p);
	e->shard = sl_le32(p + 8);
	e->index = sl_le16(p + 12);
	e->nrec = sl_le16(p + 14);
	e->status = sl_le16(p + 16);
	e->rsvd = 0;
}

/* Sets length, count and CRC of the frame of len bytes in buf. Returns len. */
uint32_t sl_wire_finish(uint8_t *buf, uint32_t len, uint16_t count);

/* Recomputes only the CRC (after patching a finished frame). */
void sl_wire_reseal(uint8_t *buf, uint32_t len);

/* MD5 of a partition key as a big-endian 128-bit hash key (OpenSSL). */
void sl_wire_hash_key(const void *key, size_t key_len, uint8_t ret_hash[16]);

#endif
