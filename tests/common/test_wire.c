/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for common/wire.c against the format in <sluice/wire.h>: PUT, ACK,
 * RESOLVE and RESOLVED frames encoded with the codec and validated with
 * sl_wire_check(), then table-driven rejects, each checked for its drop
 * reason. Frames are checked from a heap copy of exactly their length so
 * the ASan build catches any read past the datagram.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define PRODUCER_ID 0x0123456789abcdefull
#define BATCH_SEQ   42
#define STREAM      7

static uint8_t buf[SL_WIRE_MAX_FRAME + 64];

/* sl_wire_check() on a copy of exactly len bytes. */
static int check_len(const uint8_t *frame, size_t len, struct sl_wire_hdr *ret_hdr)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	cr_assert(copy);
	memcpy(copy, frame, len);
	rc = sl_wire_check(copy, len, ret_hdr);
	free(copy);
	return rc;
}

/* Drop reason of a frame expected to be rejected (or -1 if accepted). */
static int drop_of(const uint8_t *frame, size_t len)
{
	struct sl_wire_hdr h;
	int rc = check_len(frame, len, &h);

	return rc == 0 ? -1 : (int)sl_wire_drop_of(rc);
}

static void rec_key(unsigned i, char key[32], uint16_t *ret_len)
{
	*ret_len = (uint16_t)snprintf(key, 32, "key-%u", i);
}

static uint8_t data_byte(unsigned rec, uint32_t i)
{
	return (uint8_t)(rec * 31 + i * 7 + 1);
}

/* A PUT of n records: record i has key "key-<i>" and i * 5 % 97 data bytes;
 * odd records carry an explicit hash key. Returns its length. */
static uint32_t build_put(uint8_t *b, unsigned n)
{
	uint32_t len =
	        sl_wire_begin(b, SL_WIRE_PUT, SL_WIRE_ACK_WRITTEN, PRODUCER_ID, BATCH_SEQ, STREAM);

	for (unsigned i = 0; i < n; i++) {
		uint8_t hash[16], data[97];
		uint32_t dlen = i * 5 % 97;
		uint16_t klen;
		char key[32];

		rec_key(i, key, &klen);
		for (uint32_t j = 0; j < dlen; j++)
			data[j] = data_byte(i, j);
		if (i & 1)
			memset(hash, (int)i, sizeof(hash));
		else
			sl_wire_hash_key(key, klen, hash);
		cr_assert_eq(
		        sl_wire_put_add(b, sizeof(buf), &len, key, klen, hash, i & 1, data, dlen),
		        0);
	}
	return sl_wire_finish(b, len, (uint16_t)n);
}

TestSuite(wire, .timeout = 30);

Test(wire, encodes_a_put_that_checks_and_decodes)
{
	struct sl_wire_hdr h;
	uint32_t len = build_put(buf, 5), off = SL_WIRE_HDR_BYTES;

	cr_assert_eq(check_len(buf, len, &h), 0);
	cr_expect_eq(h.magic, SL_WIRE_MAGIC);
	cr_expect_eq(memcmp(buf, "SLWP", 4), 0, "magic is \"SLWP\" in memory order");
	cr_expect_eq(h.length, len);
	cr_expect_eq(h.version, SL_WIRE_VERSION);
	cr_expect_eq(h.type, SL_WIRE_PUT);
	cr_expect_eq(h.flags, SL_WIRE_ACK_WRITTEN);
	cr_expect_eq(h.producer_id, PRODUCER_ID);
	cr_expect_eq(h.batch_seq, BATCH_SEQ);
	cr_expect_eq(h.stream, STREAM);
	cr_expect_eq(h.count, 5);
	cr_expect_eq(h.rsvd, 0);
	cr_expect_eq(h.crc, sl_le32(buf + SL_WIRE_OFF_CRC));
	/* Little-endian fields at their documented offsets. */
	cr_expect_eq(buf[SL_WIRE_OFF_PRODUCER], 0xef);
	cr_expect_eq(buf[SL_WIRE_OFF_PRODUCER + 7], 0x01);
	cr_expect_eq(buf[SL_WIRE_OFF_LENGTH], len & 0xff);

	for (unsigned i = 0; i < 5; i++) {
		struct sl_wire_rec r;
		uint8_t hash[16];
		uint16_t klen;
		char key[32];

		rec_key(i, key, &klen);
		sl_wire_rec_next(buf, &off, &r);
		cr_expect_eq(r.key_len, klen);
		cr_expect_eq(memcmp(r.key, key, klen), 0);
		cr_expect_eq(r.data_len, i * 5 % 97);
		for (uint32_t j = 0; j < r.data_len; j++)
			cr_expect_eq(r.data[j], data_byte(i, j));
		cr_expect_eq(r.flags, (i & 1) ? SL_WIRE_REC_EXPLICIT_HASH : 0);
		if (i & 1)
			memset(hash, (int)i, sizeof(hash));
		else
			sl_wire_hash_key(key, klen, hash);
		cr_expect_eq(memcmp(r.hash_key, hash, 16), 0);
	}
	cr_expect_eq(off, len, "records end exactly at length");
}

Test(wire, accepts_the_limits)
{
	static uint8_t key[SL_WIRE_MAX_KEY], hash[16];
	static uint8_t data[UINT16_MAX];
	struct sl_wire_hdr h;
	uint32_t len;

	/* 500 records, the largest count. */
	len = build_put(buf, SL_WIRE_MAX_RECORDS);
	cr_expect_eq(check_len(buf, len, &h), 0);
	cr_expect_eq(h.count, SL_WIRE_MAX_RECORDS);

	/* A 256-byte key and a frame of exactly SL_WIRE_MAX_FRAME bytes. */
	len = sl_wire_begin(buf, SL_WIRE_PUT, 0, 1, 1, 1);
	cr_assert_eq(sl_wire_put_add(buf, sizeof(buf), &len, key, SL_WIRE_MAX_KEY, hash, true, data,
	                             SL_WIRE_MAX_FRAME - SL_WIRE_HDR_BYTES - SL_WIRE_REC_HDR_BYTES -
	                                     SL_WIRE_MAX_KEY),
	             0);
	cr_assert_eq(len, SL_WIRE_MAX_FRAME);
	sl_wire_finish(buf, len, 1);
	cr_expect_eq(check_len(buf, len, &h), 0);

	/* One byte more is not a datagram the engine accepts. */
	len = sl_wire_begin(buf, SL_WIRE_PUT, 0, 1, 1, 1);
	cr_assert_eq(sl_wire_put_add(buf, sizeof(buf), &len, key, SL_WIRE_MAX_KEY, hash, true, data,
	                             SL_WIRE_MAX_FRAME - SL_WIRE_HDR_BYTES - SL_WIRE_REC_HDR_BYTES -
	                                     SL_WIRE_MAX_KEY + 1),
	             0);
	sl_wire_finish(buf, len, 1);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_LENGTH);

	/* Empty data; explicit hash; every ack mode. */
	for (uint16_t mode = 0; mode <= SL_WIRE_FLAG_ACK_MASK; mode++) {
		len = sl_wire_begin(buf, SL_WIRE_PUT, mode, 1, 1, 1);
		cr_assert_eq(sl_wire_put_add(buf, sizeof(buf), &len, "k", 1, hash, false, NULL, 0),
		             0);
		sl_wire_finish(buf, len, 1);
		cr_expect_eq(check_len(buf, len, &h), 0, "ack mode %u", mode);
		cr_expect_eq(h.flags, mode);
	}
}

Test(wire, put_add_rejects_bad_sizes_and_overflow)
{
	static uint8_t key[SL_WIRE_MAX_KEY + 1], hash[16], data[UINT16_MAX + 1];
	uint8_t small[100];
	uint32_t len = sl_wire_begin(buf, SL_WIRE_PUT, 0, 1, 1, 1), before;

	cr_expect_eq(sl_wire_put_add(buf, sizeof(buf), &len, key, 0, hash, false, data, 1),
	             -EINVAL);
	cr_expect_eq(sl_wire_put_add(buf, sizeof(buf), &len, key, SL_WIRE_MAX_KEY + 1, hash, false,
	                             data, 1),
	             -EINVAL);
	cr_expect_eq(
	        sl_wire_put_add(buf, sizeof(buf), &len, key, 1, hash, false, data, UINT16_MAX + 1),
	        -EINVAL);
	cr_expect_eq(len, SL_WIRE_HDR_BYTES, "nothing appended");

	/* header + 20 + 1 + rest == 100 fits exactly; one more byte does not. */
	len = sl_wire_begin(small, SL_WIRE_PUT, 0, 1, 1, 1);
	before = len;
	cr_expect_eq(sl_wire_put_add(small, sizeof(small), &len, key, 1, hash, false, data,
	                             100 - SL_WIRE_HDR_BYTES - 20),
	             -EMSGSIZE);
	cr_expect_eq(len, before, "nothing appended");
	cr_expect_eq(sl_wire_put_add(small, sizeof(small), &len, key, 1, hash, false, data,
	                             100 - SL_WIRE_HDR_BYTES - 21),
	             0);
	cr_expect_eq(len, sizeof(small));
	cr_expect_eq(sl_wire_put_add(small, sizeof(small), &len, key, 1, hash, false, data, 0),
	             -EMSGSIZE);
}

Test(wire, rejects_truncation_at_every_length)
{
	uint32_t len = build_put(buf, 4);
	static uint8_t cut[1024];

	cr_assert_leq(len, sizeof(cut));
	for (uint32_t n = 0; n < len; n++)
		cr_expect_eq(drop_of(buf, n),
		             n < SL_WIRE_HDR_BYTES ? SL_WIRE_DROP_SHORT : SL_WIRE_DROP_LENGTH,
		             "cut to %u", n);
	/* Cut, then length and CRC made to agree: the records do not. */
	for (uint32_t n = SL_WIRE_HDR_BYTES; n < len; n++) {
		memcpy(cut, buf, n);
		sl_put_le32(cut + SL_WIRE_OFF_LENGTH, n);
		sl_wire_reseal(cut, n);
		cr_expect_eq(drop_of(cut, n), SL_WIRE_DROP_RECORD, "cut and resealed at %u", n);
	}
}

/* Every single-bit flip is caught, by the field it lands in or the CRC. */
Test(wire, rejects_every_single_bit_flip)
{
	uint32_t len = build_put(buf, 3);

	for (uint32_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			int want = i < SL_WIRE_OFF_CRC        ? SL_WIRE_DROP_MAGIC
			           : i < SL_WIRE_OFF_LENGTH   ? SL_WIRE_DROP_CRC
			           : i < SL_WIRE_OFF_VERSION  ? SL_WIRE_DROP_LENGTH
			           : i == SL_WIRE_OFF_VERSION ? SL_WIRE_DROP_VERSION
			                                      : SL_WIRE_DROP_CRC;
			struct sl_wire_hdr h;

			buf[i] ^= (uint8_t)(1u << bit);
			cr_expect_eq(drop_of(buf, len), want, "byte %u bit %u: %s", i, bit,
			             sl_wire_drop_name((enum sl_wire_drop)drop_of(buf, len)));
			/* The body checks alone still hold for a flipped data byte. */
			if (i >= len - 3)
				cr_expect_eq(sl_wire_check_nocrc(buf, len, &h), 0);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	cr_expect_eq(drop_of(buf, len), -1, "flipped back");
}

/* ---- table-driven rejects of well-sealed frames ---- */

struct reject {
	const char *name;
	/* Turns a good 3-record PUT of *len bytes into the bad frame. */
	void (*make)(uint8_t *b, uint32_t *len);
	bool reseal; /* recompute the CRC, so the rule under test is what fails */
	enum sl_wire_drop want;
};

static uint32_t rec_off(const uint8_t *b, unsigned i)
{
	uint32_t off = SL_WIRE_HDR_BYTES;
	struct sl_wire_rec r;

	while (i--)
		sl_wire_rec_next(b, &off, &r);
	return off;
}

static void set_len(uint8_t *b, uint32_t *len, uint32_t n)
{
	*len = n;
	sl_put_le32(b + SL_WIRE_OFF_LENGTH, n);
}

static void length_plus1(uint8_t *b, uint32_t *len)
{
	sl_put_le32(b + SL_WIRE_OFF_LENGTH, *len + 1);
}

static void length_minus1(uint8_t *b, uint32_t *len)
{
	sl_put_le32(b + SL_WIRE_OFF_LENGTH, *len - 1);
}

static void length_zero(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le32(b + SL_WIRE_OFF_LENGTH, 0);
}

static void magic_swapped(uint8_t *b, uint32_t *len)
{
	(void)len;
	memcpy(b, "PWLS", 4);
}

static void version_0(uint8_t *b, uint32_t *len)
{
	(void)len;
	b[SL_WIRE_OFF_VERSION] = 0;
}

static void version_2(uint8_t *b, uint32_t *len)
{
	(void)len;
	b[SL_WIRE_OFF_VERSION] = 2;
}

static void crc_off_by_one(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le32(b + SL_WIRE_OFF_CRC, sl_le32(b + SL_WIRE_OFF_CRC) + 1);
}

static void type_0(uint8_t *b, uint32_t *len)
{
	(void)len;
	b[SL_WIRE_OFF_TYPE] = 0;
}

static void type_5(uint8_t *b, uint32_t *len)
{
	(void)len;
	b[SL_WIRE_OFF_TYPE] = 5;
}

static void type_ack(uint8_t *b, uint32_t *len)
{
	/* A PUT body read as an ACK: 3 entries would be 60 bytes, not these. */
	(void)len;
	b[SL_WIRE_OFF_TYPE] = SL_WIRE_ACK;
}

static void flags_bit2(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le16(b + SL_WIRE_OFF_FLAGS, SL_WIRE_ACK_DURABLE | 0x4);
}

static void flags_bit15(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le16(b + SL_WIRE_OFF_FLAGS, 0x8000);
}

static void rsvd_set(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le16(b + SL_WIRE_OFF_RSVD, 1);
}

static void count_0(uint8_t *b, uint32_t *len)
{
	/* The header alone, count 0. */
	set_len(b, len, SL_WIRE_HDR_BYTES);
	sl_put_le16(b + SL_WIRE_OFF_COUNT, 0);
}

static void count_0_with_records(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le16(b + SL_WIRE_OFF_COUNT, 0);
}

static void count_501(uint8_t *b, uint32_t *len)
{
	*len = build_put(b, SL_WIRE_MAX_RECORDS + 1);
}

static void count_plus1(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le16(b + SL_WIRE_OFF_COUNT, 4);
}

static void count_minus1(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le16(b + SL_WIRE_OFF_COUNT, 2);
}

static void last_data_len_plus1(uint8_t *b, uint32_t *len)
{
	uint8_t *r = b + rec_off(b, 2);

	(void)len;
	sl_put_le16(r, (uint16_t)(sl_le16(r) + 1));
}

static void last_key_len_plus1(uint8_t *b, uint32_t *len)
{
	(void)len;
	b[rec_off(b, 2) + 2]++;
}

static void first_data_len_max(uint8_t *b, uint32_t *len)
{
	(void)len;
	sl_put_le16(b + rec_off(b, 0), UINT16_MAX);
}

static void first_key_len_max(uint8_t *b, uint32_t *len)
{
	(void)len;
	b[rec_off(b, 0) + 2] = 255;
}

static void trailing_byte(uint8_t *b, uint32_t *len)
{
	b[*len] = 0;
	set_len(b, len, *len + 1);
}

static void trailing_record_header(uint8_t *b, uint32_t *len)
{
	/* 20 zero bytes: a record header with nowhere for its key. */
	memset(b + *len, 0, SL_WIRE_REC_HDR_BYTES);
	set_len(b, len, *len + SL_WIRE_REC_HDR_BYTES);
}

static void rec_flag_bit1(uint8_t *b, uint32_t *len)
{
	(void)len;
	b[rec_off(b, 1) + 3] |= 0x2;
}

static void rec_flag_bit7(uint8_t *b, uint32_t *len)
{
	(void)len;
	b[rec_off(b, 2) + 3] = 0x80;
}

static const struct reject put_rejects[] = {
        {"length + 1", length_plus1, true, SL_WIRE_DROP_LENGTH},
        {"length - 1", length_minus1, true, SL_WIRE_DROP_LENGTH},
        {"length 0", length_zero, true, SL_WIRE_DROP_LENGTH},
        {"magic byte-swapped", magic_swapped, true, SL_WIRE_DROP_MAGIC},
        {"version 0", version_0, true, SL_WIRE_DROP_VERSION},
        {"version 2", version_2, true, SL_WIRE_DROP_VERSION},
        {"crc + 1", crc_off_by_one, false, SL_WIRE_DROP_CRC},
        {"type 0", type_0, true, SL_WIRE_DROP_TYPE},
        {"type 5", type_5, true, SL_WIRE_DROP_TYPE},
        {"put body as an ack", type_ack, true, SL_WIRE_DROP_TRAILING},
        {"flags bit 2", flags_bit2, true, SL_WIRE_DROP_FLAGS},
        {"flags bit 15", flags_bit15, true, SL_WIRE_DROP_FLAGS},
        {"reserved field", rsvd_set, true, SL_WIRE_DROP_FLAGS},
        {"count 0", count_0, true, SL_WIRE_DROP_NRECORDS},
        {"count 0 with records", count_0_with_records, true, SL_WIRE_DROP_NRECORDS},
        {"count 501", count_501, false, SL_WIRE_DROP_NRECORDS},
        {"count one more than records", count_plus1, true, SL_WIRE_DROP_RECORD},
        {"count one less than records", count_minus1, true, SL_WIRE_DROP_TRAILING},
        {"last data past the end", last_data_len_plus1, true, SL_WIRE_DROP_RECORD},
        {"last key past the end", last_key_len_plus1, true, SL_WIRE_DROP_RECORD},
        {"first data length 65535", first_data_len_max, true, SL_WIRE_DROP_RECORD},
        {"first key length 256", first_key_len_max, true, SL_WIRE_DROP_RECORD},
        {"one trailing byte", trailing_byte, true, SL_WIRE_DROP_TRAILING},
        {"trailing record header", trailing_record_header, true, SL_WIRE_DROP_TRAILING},
        {"record flag bit 1", rec_flag_bit1, true, SL_WIRE_DROP_RECORD},
        {"record flag bit 7", rec_flag_bit7, true, SL_WIRE_DROP_RECORD},
};

Test(wire, rejects_malformed_puts)
{
	for (size_t i = 0; i < sizeof(put_rejects) / sizeof(put_rejects[0]); i++) {
		const struct reject *c = &put_rejects[i];
		struct sl_wire_hdr h, untouched;
		uint32_t len = build_put(buf, 3);
		int rc;

		c->make(buf, &len);
		if (c->reseal)
			sl_wire_reseal(buf, len);
		memset(&h, 0xa5, sizeof(h));
		untouched = h;
		rc = check_len(buf, len, &h);
		cr_expect_lt(rc, 0, "%s: accepted", c->name);
		cr_expect_eq(sl_wire_drop_of(rc), c->want, "%s: %s, want %s", c->name,
		             sl_wire_drop_name(sl_wire_drop_of(rc)), sl_wire_drop_name(c->want));
		cr_expect_eq(memcmp(&h, &untouched, sizeof(h)), 0, "%s: header written", c->name);
	}
}

/* ---- RESOLVE / RESOLVED ---- */

static uint32_t build_resolve(uint8_t *b, const void *name, size_t n)
{
	uint32_t len = sl_wire_begin(b, SL_WIRE_RESOLVE, 0, PRODUCER_ID, 9, 0);

	memcpy(b + len, name, n);
	return sl_wire_finish(b, len + (uint32_t)n, 0);
}

Test(wire, checks_resolve_names)
{
	char name[SL_WIRE_MAX_NAME + 2];
	struct sl_wire_hdr h;
	uint32_t len;

	memset(name, 'n', sizeof(name));
	len = build_resolve(buf, "orders", 6);
	cr_expect_eq(check_len(buf, len, &h), 0);
	cr_expect_eq(h.type, SL_WIRE_RESOLVE);
	cr_expect_eq(memcmp(buf + SL_WIRE_HDR_BYTES, "orders", 6), 0);
	cr_expect_eq(check_len(buf, build_resolve(buf, name, 1), &h), 0);
	cr_expect_eq(check_len(buf, build_resolve(buf, name, SL_WIRE_MAX_NAME), &h), 0);

	cr_expect_eq(drop_of(buf, build_resolve(buf, name, 0)), SL_WIRE_DROP_NAME, "empty");
	cr_expect_eq(drop_of(buf, build_resolve(buf, name, SL_WIRE_MAX_NAME + 1)),
	             SL_WIRE_DROP_NAME, "129 bytes");
	cr_expect_eq(drop_of(buf, build_resolve(buf, "ord\0rs", 6)), SL_WIRE_DROP_NAME, "NUL");
	cr_expect_eq(drop_of(buf, build_resolve(buf, "orders", 7)), SL_WIRE_DROP_NAME,
	             "NUL-terminated");

	len = build_resolve(buf, "orders", 6);
	sl_put_le16(buf + SL_WIRE_OFF_FLAGS, 1);
	sl_wire_reseal(buf, len);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_FLAGS, "flags");
	len = build_resolve(buf, "orders", 6);
	sl_wire_finish(buf, len, 1);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_FLAGS, "count");
}

Test(wire, checks_resolved)
{
	struct sl_wire_hdr h;
	uint32_t len = sl_wire_begin(buf, SL_WIRE_RESOLVED, 0, PRODUCER_ID, 9, STREAM);

	sl_wire_finish(buf, len, 4);
	cr_expect_eq(check_len(buf, len, &h), 0);
	cr_expect_eq(h.stream, STREAM);
	cr_expect_eq(h.count, 4, "shard count");

	buf[len] = 'x';
	sl_wire_finish(buf, len + 1, 4);
	cr_expect_eq(drop_of(buf, len + 1), SL_WIRE_DROP_TRAILING);

	sl_put_le16(buf + SL_WIRE_OFF_FLAGS, 1);
	sl_wire_finish(buf, len, 4);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_FLAGS);
}

/* ---- ACK ---- */

static uint32_t build_ack(uint8_t *b, unsigned entries, uint16_t count)
{
	uint32_t len =
	        sl_wire_begin(b, SL_WIRE_ACK, SL_WIRE_ACK_DURABLE, PRODUCER_ID, BATCH_SEQ, STREAM);

	for (unsigned i = 0; i < entries; i++)
		sl_wire_ack_add(b, &len, i % 3 == 2 ? 0 : 1000 + 10ull * i, i * 3,
		                (uint16_t)(2 * i), 2, i % 3 == 2 ? SL_WIRE_THROTTLED : SL_WIRE_OK);
	return sl_wire_finish(b, len, count);
}

Test(wire, encodes_and_decodes_acks)
{
	struct sl_wire_hdr h;
	uint32_t len = build_ack(buf, 3, 3);

	cr_assert_eq(len, SL_WIRE_HDR_BYTES + 3 * SL_WIRE_ACK_ENTRY_BYTES);
	cr_assert_eq(check_len(buf, len, &h), 0);
	cr_expect_eq(h.type, SL_WIRE_ACK);
	cr_expect_eq(h.flags, SL_WIRE_ACK_DURABLE);
	cr_expect_eq(h.count, 3);
	for (unsigned i = 0; i < 3; i++) {
		struct sl_wire_ack_entry e;

		sl_wire_ack_entry(buf, i, &e);
		cr_expect_eq(e.first_seq, i == 2 ? 0 : 1000 + 10ull * i);
		cr_expect_eq(e.shard, i * 3);
		cr_expect_eq(e.index, 2 * i);
		cr_expect_eq(e.nrec, 2);
		cr_expect_eq(e.status, i == 2 ? SL_WIRE_THROTTLED : SL_WIRE_OK);
		cr_expect_eq(e.rsvd, 0);
	}
	/* Entry 1 on the wire: first_seq 1010 little-endian at +0, shard 3 at +8. */
	cr_expect_eq(buf[SL_WIRE_HDR_BYTES + 20], 1010 & 0xff);
	cr_expect_eq(buf[SL_WIRE_HDR_BYTES + 21], 1010 >> 8);
	cr_expect_eq(buf[SL_WIRE_HDR_BYTES + 28], 3);

	len = build_ack(buf, SL_WIRE_MAX_RECORDS, SL_WIRE_MAX_RECORDS);
	cr_expect_eq(check_len(buf, len, &h), 0, "500 entries");
}

Test(wire, rejects_bad_ack_entry_counts)
{
	uint32_t len;

	len = build_ack(buf, 0, 0);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_NRECORDS, "no entries");
	len = build_ack(buf, 3, 0);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_NRECORDS, "count 0 with entries");
	len = build_ack(buf, SL_WIRE_MAX_RECORDS + 1, SL_WIRE_MAX_RECORDS + 1);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_NRECORDS, "501 entries");
	len = build_ack(buf, 3, 2);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_TRAILING, "count short of entries");
	len = build_ack(buf, 3, 4);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_TRAILING, "count past entries");
	len = build_ack(buf, 3, 3);
	memset(buf + len, 0, 5);
	sl_wire_finish(buf, len + 5, 3);
	cr_expect_eq(drop_of(buf, len + 5), SL_WIRE_DROP_TRAILING, "part of an entry");
	len = build_ack(buf, 3, 3);
	sl_put_le16(buf + SL_WIRE_OFF_FLAGS, 0x10);
	sl_wire_reseal(buf, len);
	cr_expect_eq(drop_of(buf, len), SL_WIRE_DROP_FLAGS, "flags");
}

/* ---- hash keys and names ---- */

Test(wire, hash_key_is_md5_big_endian)
{
	static const uint8_t md5_a[16] = {0x0c, 0xc1, 0x75, 0xb9, 0xc0, 0xf1, 0xb6, 0xa8,
	                                  0x31, 0xc3, 0x99, 0xe2, 0x69, 0x77, 0x26, 0x61};
	static const uint8_t md5_empty[16] = {0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
	                                      0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e};
	static const uint8_t md5_fox[16] = {0x9e, 0x10, 0x7d, 0x9d, 0x37, 0x2b, 0xb6, 0x82,
	                                    0x6b, 0xd8, 0x1d, 0x35, 0x42, 0xa4, 0x19, 0xd6};
	const char *fox = "The quick brown fox jumps over the lazy dog";
	uint8_t h[16];

	sl_wire_hash_key("a", 1, h);
	cr_expect_eq(memcmp(h, md5_a, 16), 0, "md5(\"a\")");
	sl_wire_hash_key("", 0, h);
	cr_expect_eq(memcmp(h, md5_empty, 16), 0, "md5(\"\")");
	sl_wire_hash_key(fox, strlen(fox), h);
	cr_expect_eq(memcmp(h, md5_fox, 16), 0, "md5(fox)");
	sl_wire_hash_key("a", 1, h);
	cr_expect_eq(memcmp(h, md5_a, 16), 0, "again, same context");
}

Test(wire, names_drops_and_statuses)
{
	for (int d = 0; d < SL_WIRE_DROP_COUNT; d++) {
		cr_expect_str_neq(sl_wire_drop_name((enum sl_wire_drop)d), "?");
		cr_expect_eq(sl_wire_drop_of(-1 - d), (enum sl_wire_drop)d);
	}
	cr_expect_str_eq(sl_wire_drop_name(SL_WIRE_DROP_NRECORDS), "NRECORDS");
	cr_expect_str_eq(sl_wire_drop_name(SL_WIRE_DROP_COUNT), "?");
	for (int s = 0; s < SL_WIRE_STATUS_COUNT; s++)
		cr_expect_str_neq(sl_wire_status_name((enum sl_wire_status)s), "?");
	cr_expect_str_eq(sl_wire_status_name(SL_WIRE_PENDING), "PENDING");
	cr_expect_str_eq(sl_wire_status_text(SL_WIRE_OK), "ok");
	cr_expect_str_eq(sl_wire_status_text(SL_WIRE_STATUS_COUNT), "unknown status");
}

Test(wire, floor_is_checked)
{
	uint8_t buf[256], key = 'k', hash[16] = {0}, data = 1;
	struct sl_wire_hdr h;
	uint32_t len = sl_wire_begin(buf, SL_WIRE_PUT, 0, 1, 10, 1);

	cr_assert_eq(sl_wire_put_add(buf, sizeof(buf), &len, &key, 1, hash, false, &data, 1), 0);
	sl_wire_set_floor(buf, 10);
	sl_wire_finish(buf, len, 1);
	cr_assert_eq(sl_wire_check(buf, len, &h), 0);
	cr_assert_eq(h.floor, 10);
	sl_wire_set_floor(buf, 11); /* above its own batch_seq */
	sl_wire_reseal(buf, len);
	cr_assert_eq(sl_wire_drop_of(sl_wire_check(buf, len, &h)), SL_WIRE_DROP_FLOOR);

	len = sl_wire_begin(buf, SL_WIRE_RESOLVE, 0, 1, 0, 0);
	memcpy(buf + len, "s", 1);
	sl_wire_set_floor(buf, 1); /* only a PUT has one */
	len = sl_wire_finish(buf, len + 1, 0);
	cr_assert_eq(sl_wire_drop_of(sl_wire_check(buf, len, &h)), SL_WIRE_DROP_FLOOR);
}

Test(wire, put_from_producer_zero_is_dropped)
{
	uint8_t buf[256], key = 'k', hash[16] = {0}, data = 1;
	struct sl_wire_hdr h;
	uint32_t len = sl_wire_begin(buf, SL_WIRE_PUT, 0, 0, 1, 1);

	cr_assert_eq(sl_wire_put_add(buf, sizeof(buf), &len, &key, 1, hash, false, &data, 1), 0);
	len = sl_wire_finish(buf, len, 1);
	cr_assert_eq(sl_wire_drop_of(sl_wire_check(buf, len, &h)), SL_WIRE_DROP_PRODUCER);
}
