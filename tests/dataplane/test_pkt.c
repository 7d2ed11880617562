/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for dataplane/pkt.c: classification of well-formed and malformed
 * frames (table-driven), truncation at every length and single bit flips
 * (each frame is classified from a heap copy of exactly its length, so the
 * ASan build catches any read past the end), the in-place reply builders,
 * and sl_pkt_udp_write -> sl_pkt_classify round trips.
 *
 * Frames are built here by hand, not with sl_pkt_udp_write(), and every
 * checksum is computed and verified with this file's own 16-bit-word
 * Internet checksum, so the parser is checked against an independent
 * implementation.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

/* The frame macros below (UDP4(), NS(), ...) set defaults that a case's own
 * designated initializers override. */
#pragma GCC diagnostic ignored "-Woverride-init"

/* ---- who is who ---- */

static const uint8_t self_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t self_ip4[4] = {10, 0, 0, 1};
static const uint8_t peer_ip4[4] = {10, 0, 0, 2};
static const uint8_t other_ip4[4] = {10, 0, 0, 3};
static const uint8_t self_ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,
                                     0,    0,    0,    0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t peer_ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
static const uint8_t other_ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                      0,    0,    0,    0,    0, 0, 0, 0x03};
/* ff02::1:ff33:4455, self_ip6's solicited-node group, and another's. */
static const uint8_t self_snm[16] = {0xff, 0x02, 0, 0,    0,    0,    0,    0,
                                     0,    0,    0, 0x01, 0xff, 0x33, 0x44, 0x55};
static const uint8_t other_snm[16] = {0xff, 0x02, 0, 0,    0,    0, 0, 0,
                                      0,    0,    0, 0x01, 0xff, 0, 0, 0x03};
static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
static const uint8_t unspec_ip6[16];

#define SELF_PORT 7447
#define PEER_PORT 40000
#define TCI0      0x0064 /* VLAN 100 */
#define TCI1      0xa0c8 /* PCP 5, VLAN 200 */

static struct sl_pkt_self self_both(void)
{
	struct sl_pkt_self s = {.has_ip4 = true, .has_ip6 = true, .udp_port = SELF_PORT};

	memcpy(s.mac, self_mac, 6);
	memcpy(s.ip4, self_ip4, 4);
	memcpy(s.ip6, self_ip6, 16);
	return s;
}

/* ---- an independent Internet checksum: 16-bit words, folded at the end ---- */

static uint32_t ck_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t ck_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Sum over an upper-layer packet of n bytes at l4 with its pseudo-header. */
static uint32_t ck_pseudo(const uint8_t *ip, int ipv, uint8_t proto, const uint8_t *l4, size_t n)
{
	uint32_t s = proto + (uint32_t)n;

	s = ipv == 4 ? ck_add(s, ip + 12, 8) : ck_add(s, ip + 8, 32);
	return ck_add(s, l4, n);
}

static bool ck_ok(uint32_t sum)
{
	return ck_fold(sum) == 0xffff;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* ---- frame builder ---- */

/* What to build; zero fields take the defaults in brackets. */
struct spec {
	uint8_t ipv;         /* 4, 6, or 0 for an ARP request */
	uint8_t vlans;       /* tags, outermost 0x88a8 when there are two or more */
	uint8_t proto;       /* 17 UDP, 1 ICMP, 58 ICMPv6, or any other [17] */
	uint8_t type;        /* ICMP type; ICMP header rest is id/seq for echo */
	uint8_t ip4_opt;     /* bytes of IPv4 options (NOPs), a multiple of 4 */
	uint8_t n_ext;       /* IPv6 extension headers ... */
	uint8_t ext[10];     /* ... their types in order ... */
	uint8_t units[10];   /* ... and hdr_ext_len fields */
	uint8_t hop;         /* TTL / hop limit [64] */
	uint8_t pad;         /* Ethernet padding after the IP packet */
	uint16_t dport;      /* [SELF_PORT] */
	uint16_t payload;    /* UDP payload / ICMP body bytes, a pattern */
	const uint8_t *body; /* or these bytes as the ICMP body / ARP target ip */
	const uint8_t *dst;  /* IP destination [self] */
	const uint8_t *src;  /* IP source [peer] */
};

struct frame {
	uint8_t b[2048];
	uint32_t len;
	uint32_t l3, l4, pay, pay_len;
	uint32_t l4_len; /* UDP / ICMP message bytes */
	int ipv;
	uint8_t proto;
};

static uint8_t pattern(uint32_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static void fix_csums(struct frame *f)
{
	uint8_t *ip = f->b + f->l3, *l4 = f->b + f->l4;
	uint32_t n = f->l4_len;

	if (f->ipv == 4) {
		uint32_t hl = (ip[0] & 0xfu) * 4;

		put16(ip + 10, 0);
		put16(ip + 10, (uint16_t)~ck_fold(ck_add(0, ip, hl)));
	}
	if (f->proto == 17) {
		n = be16(l4 + 4);
		if (n > sizeof(f->b) - f->l4)
			n = (uint32_t)sizeof(f->b) - f->l4;
		put16(l4 + 6, 0);
		uint16_t c = (uint16_t)~ck_fold(ck_pseudo(ip, f->ipv, 17, l4, n));
		put16(l4 + 6, c ? c : 0xffff);
	} else if (f->proto == 1) {
		put16(l4 + 2, 0);
		put16(l4 + 2, (uint16_t)~ck_fold(ck_add(0, l4, n)));
	} else if (f->proto == 58) {
		put16(l4 + 2, 0);
		put16(l4 + 2, (uint16_t)~ck_fold(ck_pseudo(ip, 6, 58, l4, n)));
	}
}

static void build(const struct spec *s, struct frame *f)
{
	uint8_t *p = f->b;
	uint8_t proto = s->proto ? s->proto : 17;
	uint32_t body = s->payload, hdr = proto == 17 ? 8u : proto == 1 || proto == 58 ? 8u : 0u;

	memset(f, 0, sizeof(*f));
	memcpy(p, self_mac, 6);
	memcpy(p + 6, peer_mac, 6);
	p += 12;
	for (unsigned i = 0; i < s->vlans; i++) {
		put16(p, s->vlans >= 2 && i == 0 ? 0x88a8 : 0x8100);
		put16(p + 2, i == 0 ? TCI0 : TCI1);
		p += 4;
	}
	f->ipv = s->ipv;
	f->proto = proto;
	if (s->ipv == 0) { /* ARP request: who has body (or self_ip4)? */
		put16(p, 0x0806);
		p += 2;
		f->l3 = (uint32_t)(p - f->b);
		put16(p, 1);
		put16(p + 2, 0x0800);
		p[4] = 6;
		p[5] = 4;
		put16(p + 6, 1);
		memcpy(p + 8, peer_mac, 6);
		memcpy(p + 14, peer_ip4, 4);
		memset(p + 18, 0, 6);
		memcpy(p + 24, s->body ? s->body : self_ip4, 4);
		f->l4 = f->pay = f->l3;
		f->pay_len = 28;
		f->len = f->l3 + 28 + s->pad;
		f->proto = 0;
		return;
	}
	put16(p, s->ipv == 4 ? 0x0800 : 0x86dd);
	p += 2;
	f->l3 = (uint32_t)(p - f->b);
	uint8_t *ip = p;
	f->l4_len = hdr + body;
	if (s->ipv == 4) {
		uint32_t hl = 20 + s->ip4_opt;

		ip[0] = (uint8_t)(0x40 | hl / 4);
		ip[1] = 0;
		put16(ip + 2, (uint16_t)(hl + f->l4_len));
		put16(ip + 4, 0x1234);
		put16(ip + 6, 0);
		ip[8] = s->hop ? s->hop : 64;
		ip[9] = proto;
		memcpy(ip + 12, s->src ? s->src : peer_ip4, 4);
		memcpy(ip + 16, s->dst ? s->dst : self_ip4, 4);
		memset(ip + 20, 1, s->ip4_opt);
		p = ip + hl;
	} else {
		uint32_t ext = 0;
		uint8_t *e = ip + 40;

		for (unsigned i = 0; i < s->n_ext; i++) {
			uint32_t elen = (s->units[i] + 1u) * 8;

			memset(e, 0, elen);
			e[0] = i + 1 < s->n_ext ? s->ext[i + 1] : proto;
			e[1] = s->units[i];
			e += elen;
			ext += elen;
		}
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(ext + f->l4_len));
		ip[6] = s->n_ext ? s->ext[0] : proto;
		ip[7] = s->hop ? s->hop : 64;
		memcpy(ip + 8, s->src ? s->src : peer_ip6, 16);
		memcpy(ip + 24, s->dst ? s->dst : self_ip6, 16);
		p = e;
	}
	f->l4 = (uint32_t)(p - f->b);
	if (proto == 17) {
		put16(p, PEER_PORT);
		put16(p + 2, s->dport ? s->dport : SELF_PORT);
		put16(p + 4, (uint16_t)(8 + body));
	} else if (hdr) {
		p[0] = s->type;
		p[1] = 0;
		if (s->type == 8 || s->type == 128) {
			put16(p + 4, 0xbeef);
			put16(p + 6, 1);
		}
	}
	f->pay = f->l4 + hdr;
	f->pay_len = body;
	for (uint32_t i = 0; i < body; i++)
		f->b[f->pay + i] = s->body ? s->body[i] : pattern(i);
	f->len = f->pay + body;
	memset(f->b + f->len, 0xee, s->pad);
	f->len += s->pad;
	fix_csums(f);
}

/* Classifies a heap copy of exactly f->len bytes (so ASan sees overreads). */
static enum sl_pkt_kind classify(const struct frame *f, uint32_t len,
                                 const struct sl_pkt_self *self, unsigned csum,
                                 struct sl_pkt_info *info, enum sl_pkt_drop *drop)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum sl_pkt_kind k;

	cr_assert(copy);
	memcpy(copy, f->b, len);
	k = sl_pkt_classify(copy, len, self, csum, info, drop);
	free(copy);
	return k;
}

/* ---- the table ---- */

enum { SELF_BOTH, SELF_V4_ONLY, SELF_V6_ONLY };

struct pcase {
	const char *name;
	struct spec spec;
	void (*mutate)(struct frame *f);
	bool refix; /* recompute the checksums after mutate */
	unsigned csum;
	enum sl_pkt_kind kind;
	enum sl_pkt_drop drop;
	int self;
};

static const char *kind_name(enum sl_pkt_kind k)
{
	static const char *const names[] = {"OTHER",     "DROP",       "PRODUCER",  "ARP_REQUEST",
	                                    "ICMP_ECHO", "ICMP6_ECHO", "ND_SOLICIT"};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static void run_cases(const struct pcase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct pcase *c = &cases[i];
		struct sl_pkt_self self = self_both();
		struct sl_pkt_info info, untouched;
		enum sl_pkt_drop drop = SL_PKT_DROP_COUNT;
		struct frame f;
		enum sl_pkt_kind k;

		if (c->self == SELF_V4_ONLY)
			self.has_ip6 = false;
		if (c->self == SELF_V6_ONLY)
			self.has_ip4 = false;
		build(&c->spec, &f);
		if (c->mutate)
			c->mutate(&f);
		if (c->refix)
			fix_csums(&f);
		memset(&info, 0x5a, sizeof(info));
		untouched = info;
		k = classify(&f, f.len, &self, c->csum, &info, &drop);
		cr_expect_eq(k, c->kind, "%s: got %s, want %s (drop %s)", c->name, kind_name(k),
		             kind_name(c->kind), k == SL_PKT_DROP ? sl_pkt_drop_name(drop) : "-");
		if (k != c->kind)
			continue;
		if (k == SL_PKT_DROP) {
			cr_expect_eq(drop, c->drop, "%s: drop %s, want %s", c->name,
			             sl_pkt_drop_name(drop), sl_pkt_drop_name(c->drop));
			cr_expect_eq(memcmp(&info, &untouched, sizeof(info)), 0,
			             "%s: info written on DROP", c->name);
			continue;
		}
		cr_expect_eq(drop, SL_PKT_DROP_COUNT, "%s: drop written", c->name);
		if (k == SL_PKT_OTHER) {
			cr_expect_eq(memcmp(&info, &untouched, sizeof(info)), 0,
			             "%s: info written on OTHER", c->name);
			continue;
		}
		cr_expect_eq(info.vlans, c->spec.vlans, "%s: vlans %u", c->name, info.vlans);
		if (c->spec.vlans >= 1)
			cr_expect_eq(info.vlan_tci[0], TCI0, "%s: outer tci", c->name);
		if (c->spec.vlans >= 2)
			cr_expect_eq(info.vlan_tci[1], TCI1, "%s: inner tci", c->name);
		cr_expect_eq(info.l2_len, f.l3, "%s: l2_len %u", c->name, info.l2_len);
		cr_expect_eq(info.l3_off, f.l3, "%s: l3_off %u", c->name, info.l3_off);
		cr_expect_eq(info.l4_off, f.l4, "%s: l4_off %u, want %u", c->name, info.l4_off,
		             f.l4);
		cr_expect_eq(info.ip_version, c->spec.ipv, "%s: ip_version", c->name);
		cr_expect_eq(info.payload_off, f.pay, "%s: payload_off %u, want %u", c->name,
		             info.payload_off, f.pay);
		cr_expect_eq(info.payload_len, f.pay_len, "%s: payload_len %u, want %u", c->name,
		             info.payload_len, f.pay_len);
		if (k == SL_PKT_PRODUCER)
			cr_expect_eq(info.src_port, PEER_PORT, "%s: src_port", c->name);
	}
}

/* ---- mutations ---- */

static uint8_t *ip_of(struct frame *f)
{
	return f->b + f->l3;
}

static void ip4_tot_plus1(struct frame *f)
{
	put16(ip_of(f) + 2, (uint16_t)(be16(ip_of(f) + 2) + 1));
}

static void ip4_tot_minus1(struct frame *f)
{
	put16(ip_of(f) + 2, (uint16_t)(be16(ip_of(f) + 2) - 1));
}

static void ip4_tot_19(struct frame *f)
{
	put16(ip_of(f) + 2, 19);
}

static void ip4_ihl_4(struct frame *f)
{
	ip_of(f)[0] = 0x44;
}

static void ip4_ihl_15(struct frame *f)
{
	ip_of(f)[0] = 0x4f;
}

static void ip_version_5(struct frame *f)
{
	ip_of(f)[0] = (uint8_t)(0x50 | (ip_of(f)[0] & 0xf));
}

static void ip6_version_4(struct frame *f)
{
	ip_of(f)[0] = 0x40;
}

static void ip4_csum_flip(struct frame *f)
{
	ip_of(f)[11] ^= 0x01;
}

static void ip4_mf(struct frame *f)
{
	put16(ip_of(f) + 6, 0x2000);
}

static void ip4_frag_off(struct frame *f)
{
	put16(ip_of(f) + 6, 0x0001);
}

static void ip4_df(struct frame *f)
{
	put16(ip_of(f) + 6, 0x4000);
}

static void ip4_reserved_and_df(struct frame *f)
{
	put16(ip_of(f) + 6, 0xc000);
}

static void ip6_pl_plus1(struct frame *f)
{
	put16(ip_of(f) + 4, (uint16_t)(be16(ip_of(f) + 4) + 1));
}

static void ip6_pl_minus1(struct frame *f)
{
	put16(ip_of(f) + 4, (uint16_t)(be16(ip_of(f) + 4) - 1));
}

static void ip6_pl_4(struct frame *f)
{
	put16(ip_of(f) + 4, 4);
}

static void ip6_pl_12(struct frame *f)
{
	put16(ip_of(f) + 4, 12);
}

static void ip6_ext_units_200(struct frame *f)
{
	f->b[f->l3 + 41] = 200;
}

static void ip6_routing_segments_left(struct frame *f)
{
	f->b[f->l3 + 40 + 3] = 1;
}

static void payload_flip(struct frame *f)
{
	f->b[f->pay + 3] ^= 0x10;
}

static void udp_csum_zero(struct frame *f)
{
	put16(f->b + f->l4 + 6, 0);
}

static void udp_len_7(struct frame *f)
{
	put16(f->b + f->l4 + 4, 7);
}

static void udp_len_plus1(struct frame *f)
{
	put16(f->b + f->l4 + 4, (uint16_t)(be16(f->b + f->l4 + 4) + 1));
}

/* A UDP length short of the IP payload: the rest is ignored. */
static void udp_len_minus1(struct frame *f)
{
	put16(f->b + f->l4 + 4, (uint16_t)(be16(f->b + f->l4 + 4) - 1));
	f->pay_len--;
}

static void ip4_tot_udp_only(struct frame *f)
{
	/* IP payload of 4 bytes: a UDP header cannot fit. */
	put16(ip_of(f) + 2, (uint16_t)((ip_of(f)[0] & 0xf) * 4 + 4));
}

static void ethertype_lldp(struct frame *f)
{
	put16(f->b + f->l3 - 2, 0x88cc);
}

static void third_vlan_tag(struct frame *f)
{
	/* Turn the inner tag's next type into another tag. */
	put16(f->b + f->l3 - 2, 0x8100);
}

static void arp_htype(struct frame *f)
{
	put16(f->b + f->l3, 6);
}

static void arp_ptype(struct frame *f)
{
	put16(f->b + f->l3 + 2, 0x86dd);
}

static void arp_hlen(struct frame *f)
{
	f->b[f->l3 + 4] = 8;
}

static void arp_plen(struct frame *f)
{
	f->b[f->l3 + 5] = 16;
}

static void arp_op_reply(struct frame *f)
{
	put16(f->b + f->l3 + 6, 2);
}

static void arp_op_3(struct frame *f)
{
	put16(f->b + f->l3 + 6, 3);
}

static void arp_short(struct frame *f)
{
	f->len--;
}

static void icmp_code_1(struct frame *f)
{
	f->b[f->l4 + 1] = 1;
}

static void icmp_csum_flip(struct frame *f)
{
	f->b[f->l4 + 2] ^= 0x40;
}

/* An ICMP message of 4 bytes: shorter than any ICMP header. */
static void ip4_icmp_4(struct frame *f)
{
	put16(ip_of(f) + 2, (uint16_t)((ip_of(f)[0] & 0xf) * 4 + 4));
	f->l4_len = 4;
}

static void ip6_icmp_4(struct frame *f)
{
	put16(ip_of(f) + 4, 4);
	f->l4_len = 4;
}

/* NS options: make the option's length zero. */
static void ns_opt_len0(struct frame *f)
{
	f->b[f->pay + 17] = 0;
}

/* NS option length running past the end. */
static void ns_opt_len2(struct frame *f)
{
	f->b[f->pay + 17] = 2;
}

/* An NS of 20 bytes: shorter than the 24 a solicitation needs. */
static void ns_short(struct frame *f)
{
	put16(ip_of(f) + 4, 20);
	f->l4_len = 20;
}

/* NS bodies: target (and a source link-layer address option). */
static const uint8_t ns_body_opt[24] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0, 0, 0, 0, 0x11,
                                        0x22, 0x33, 0x44, 0x55, 1, 1, 0x02, 0, 0, 0, 0, 0x02};
static const uint8_t ns_body_other[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                          0,    0,    0,    0,    0, 0, 0, 0x03};

/* Frame kinds with their defaults, and cases; one line each reads better than
 * clang-format's brace layout. */
/* clang-format off */
#define UDP4(...)  {.ipv = 4, .payload = 100, __VA_ARGS__}
#define UDP6(...)  {.ipv = 6, .payload = 100, __VA_ARGS__}
#define ECHO4(...) {.ipv = 4, .proto = 1, .type = 8, .payload = 56, __VA_ARGS__}
#define ECHO6(...) {.ipv = 6, .proto = 58, .type = 128, .payload = 56, __VA_ARGS__}
#define NS(...)    {.ipv = 6, .proto = 58, .type = 135, .hop = 255, .payload = 24, \
                    .body = ns_body_opt, .dst = self_snm, __VA_ARGS__}
#define ARP(...)   {.ipv = 0, __VA_ARGS__}

/* CASE(name, spec, kind, [.mutate, .refix, .csum, .self]) */
#define CASE(n, sp, k, ...)    {.name = n, .spec = sp, .kind = SL_PKT_##k, __VA_ARGS__}
#define PRODUCER(n, sp, ...)   {.name = n, .spec = sp, .kind = SL_PKT_PRODUCER, __VA_ARGS__}
#define OTHER(n, sp, ...)      {.name = n, .spec = sp, .kind = SL_PKT_OTHER, __VA_ARGS__}
#define DROPS(n, sp, why, ...) {.name = n, .spec = sp, .kind = SL_PKT_DROP, \
                                .drop = SL_PKT_DROP_##why, __VA_ARGS__}
/* clang-format on */

TestSuite(pkt, .timeout = 30);

Test(pkt, classifies_udp_producer_frames)
{
	static const struct pcase cases[] = {
	        PRODUCER("udp4", UDP4()),
	        PRODUCER("udp6", UDP6()),
	        PRODUCER("udp4 empty payload", UDP4(.payload = 0)),
	        PRODUCER("udp6 odd payload", UDP6(.payload = 101)),
	        PRODUCER("udp4 one vlan", UDP4(.vlans = 1)),
	        PRODUCER("udp4 two vlans", UDP4(.vlans = 2)),
	        PRODUCER("udp6 one vlan", UDP6(.vlans = 1)),
	        PRODUCER("udp6 two vlans", UDP6(.vlans = 2)),
	        PRODUCER("udp4 options 4", UDP4(.ip4_opt = 4)),
	        PRODUCER("udp4 options 12 two vlans", UDP4(.ip4_opt = 12, .vlans = 2)),
	        PRODUCER("udp4 options 40", UDP4(.ip4_opt = 40)),
	        PRODUCER("udp4 ethernet padding", UDP4(.payload = 2, .pad = 12)),
	        PRODUCER("udp6 ethernet padding", UDP6(.payload = 2, .pad = 6)),
	        PRODUCER("udp4 zero checksum means none", UDP4(), .mutate = udp_csum_zero),
	        PRODUCER("udp4 DF", UDP4(), .mutate = ip4_df, .refix = true),
	        PRODUCER("udp4 reserved flag and DF", UDP4(), .mutate = ip4_reserved_and_df,
	                 .refix = true),
	        PRODUCER("udp4 udp length short of ip payload", UDP4(), .mutate = udp_len_minus1,
	                 .refix = true),
	        PRODUCER("udp6 udp length short of ip payload", UDP6(), .mutate = udp_len_minus1,
	                 .refix = true),
	        PRODUCER("udp4 v4-only self", UDP4(), .self = SELF_V4_ONLY),
	        PRODUCER("udp6 v6-only self", UDP6(), .self = SELF_V6_ONLY),
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(pkt, classifies_ip_layer_problems)
{
	static const struct pcase cases[] = {
	        DROPS("ip4 total length past frame", UDP4(), IP_LEN, .mutate = ip4_tot_plus1,
	              .refix = true),
	        DROPS("ip4 total length short of udp length", UDP4(), UDP_LEN,
	              .mutate = ip4_tot_minus1, .refix = true),
	        DROPS("ip4 total length under header", UDP4(), IP_LEN, .mutate = ip4_tot_19,
	              .refix = true),
	        DROPS("ip4 ip payload shorter than udp header", UDP4(), UDP_LEN,
	              .mutate = ip4_tot_udp_only, .refix = true),
	        DROPS("ip4 ihl 4", UDP4(), IP_HDR, .mutate = ip4_ihl_4),
	        DROPS("ip4 ihl past frame", UDP4(.payload = 10), IP_HDR, .mutate = ip4_ihl_15),
	        DROPS("ip4 version 5", UDP4(), IP_HDR, .mutate = ip_version_5),
	        DROPS("ip6 version 4", UDP6(), IP_HDR, .mutate = ip6_version_4),
	        DROPS("ip6 payload length past frame", UDP6(), IP_LEN, .mutate = ip6_pl_plus1),
	        DROPS("ip6 payload length short of udp length", UDP6(), UDP_LEN,
	              .mutate = ip6_pl_minus1),
	        DROPS("ip4 bad header checksum", UDP4(), IP_CSUM, .mutate = ip4_csum_flip),
	        DROPS("ip4 bad header checksum with options", UDP4(.ip4_opt = 8), IP_CSUM,
	              .mutate = ip4_csum_flip),
	        PRODUCER("ip4 bad header checksum, NIC says good", UDP4(), .mutate = ip4_csum_flip,
	                 .csum = SL_PKT_CSUM_IP_GOOD),
	        DROPS("ip4 good header checksum, NIC says bad", UDP4(), IP_CSUM,
	              .csum = SL_PKT_CSUM_IP_BAD | SL_PKT_CSUM_L4_GOOD),
	        DROPS("ip4 MF", UDP4(), FRAGMENT, .mutate = ip4_mf, .refix = true),
	        DROPS("ip4 fragment offset", UDP4(), FRAGMENT, .mutate = ip4_frag_off,
	              .refix = true),
	        DROPS("ip6 fragment header", UDP6(.n_ext = 1, .ext = {44}), FRAGMENT),
	        DROPS("ip6 fragment header after dest options", UDP6(.n_ext = 2, .ext = {60, 44}),
	              FRAGMENT),
	        DROPS("three vlan tags", UDP4(.vlans = 2), VLAN, .mutate = third_vlan_tag),
	        OTHER("ip4 to another address", UDP4(.dst = other_ip4)),
	        OTHER("ip4 fragment to another address", UDP4(.dst = other_ip4), .mutate = ip4_mf,
	              .refix = true),
	        OTHER("ip6 to another address", UDP6(.dst = other_ip6)),
	        OTHER("ip6 udp to our solicited-node group", UDP6(.dst = self_snm)),
	        OTHER("ip6 udp to all-nodes", UDP6(.dst = all_nodes)),
	        OTHER("ip4 when self has no ip4", UDP4(), .self = SELF_V6_ONLY),
	        OTHER("ip6 when self has no ip6", UDP6(), .self = SELF_V4_ONLY),
	        OTHER("ip4 tcp", UDP4(.proto = 6)),
	        OTHER("ethertype lldp", UDP4(), .mutate = ethertype_lldp),
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(pkt, classifies_udp_layer_problems)
{
	static const struct pcase cases[] = {
	        DROPS("udp4 bad checksum", UDP4(), UDP_CSUM, .mutate = payload_flip),
	        DROPS("udp6 bad checksum", UDP6(), UDP_CSUM, .mutate = payload_flip),
	        DROPS("udp6 bad checksum after ext headers", UDP6(.n_ext = 1, .ext = {60}),
	              UDP_CSUM, .mutate = payload_flip),
	        DROPS("udp6 zero checksum", UDP6(), UDP_CSUM, .mutate = udp_csum_zero),
	        DROPS("udp6 zero checksum, NIC says good", UDP6(), UDP_CSUM,
	              .mutate = udp_csum_zero, .csum = SL_PKT_CSUM_L4_GOOD),
	        PRODUCER("udp4 bad checksum, NIC says good", UDP4(), .mutate = payload_flip,
	                 .csum = SL_PKT_CSUM_IP_GOOD | SL_PKT_CSUM_L4_GOOD),
	        PRODUCER("udp6 bad checksum, NIC says good", UDP6(), .mutate = payload_flip,
	                 .csum = SL_PKT_CSUM_L4_GOOD),
	        DROPS("udp4 good checksum, NIC says bad", UDP4(), UDP_CSUM,
	              .csum = SL_PKT_CSUM_IP_GOOD | SL_PKT_CSUM_L4_BAD),
	        DROPS("udp6 good checksum, NIC says bad", UDP6(), UDP_CSUM,
	              .csum = SL_PKT_CSUM_L4_BAD),
	        DROPS("udp4 zero checksum, NIC says bad", UDP4(), UDP_CSUM, .mutate = udp_csum_zero,
	              .csum = SL_PKT_CSUM_L4_BAD),
	        DROPS("udp4 length 7", UDP4(), UDP_LEN, .mutate = udp_len_7),
	        DROPS("udp4 length past ip payload", UDP4(), UDP_LEN, .mutate = udp_len_plus1),
	        DROPS("udp6 length past ip payload", UDP6(), UDP_LEN, .mutate = udp_len_plus1),
	        OTHER("udp4 to another port", UDP4(.dport = 53)),
	        OTHER("udp6 to another port", UDP6(.dport = SELF_PORT + 1)),
	        OTHER("udp4 bad checksum to another port", UDP4(.dport = 53),
	              .mutate = payload_flip),
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(pkt, walks_ipv6_extension_headers)
{
	static const struct pcase cases[] = {
	        PRODUCER("hop-by-hop", UDP6(.n_ext = 1, .ext = {0})),
	        PRODUCER("hop-by-hop + dest options",
	                 UDP6(.n_ext = 2, .ext = {0, 60}, .units = {0, 1})),
	        PRODUCER("hop-by-hop + routing + dest options + vlan",
	                 UDP6(.n_ext = 3, .ext = {0, 43, 60}, .units = {2, 0, 3}, .vlans = 1)),
	        PRODUCER("eight headers",
	                 UDP6(.n_ext = 8, .ext = {60, 60, 60, 60, 60, 60, 60, 60})),
	        DROPS("nine headers", UDP6(.n_ext = 9, .ext = {60, 60, 60, 60, 60, 60, 60, 60, 60}),
	              IP6_EXT),
	        DROPS("hop-by-hop not first", UDP6(.n_ext = 2, .ext = {60, 0}), IP6_EXT),
	        DROPS("ext header longer than payload", UDP6(.n_ext = 1, .ext = {60}), IP6_EXT,
	              .mutate = ip6_ext_units_200),
	        DROPS("payload shorter than an ext header", UDP6(.n_ext = 1, .ext = {0}), IP6_EXT,
	              .mutate = ip6_pl_4),
	        DROPS("ext header runs past payload length",
	              UDP6(.n_ext = 1, .ext = {60}, .units = {1}), IP6_EXT, .mutate = ip6_pl_12),
	        OTHER("routing header with segments left", UDP6(.n_ext = 1, .ext = {43}),
	              .mutate = ip6_routing_segments_left),
	        OTHER("esp", UDP6(.proto = 50, .payload = 32)),
	        OTHER("ah after hop-by-hop",
	              UDP6(.proto = 51, .payload = 32, .n_ext = 1, .ext = {0})),
	        OTHER("no next header", UDP6(.proto = 59, .payload = 0)),
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(pkt, classifies_arp)
{
	static const struct pcase cases[] = {
	        CASE("request for us", ARP(), ARP_REQUEST),
	        CASE("request for us, padded, vlan", ARP(.pad = 18, .vlans = 1), ARP_REQUEST),
	        CASE("request for us, two vlans", ARP(.vlans = 2), ARP_REQUEST),
	        OTHER("request for another", ARP(.body = other_ip4)),
	        OTHER("reply", ARP(), .mutate = arp_op_reply),
	        OTHER("request when self has no ip4", ARP(), .self = SELF_V6_ONLY),
	        DROPS("htype", ARP(), ARP, .mutate = arp_htype),
	        DROPS("ptype", ARP(), ARP, .mutate = arp_ptype),
	        DROPS("hlen", ARP(), ARP, .mutate = arp_hlen),
	        DROPS("plen", ARP(), ARP, .mutate = arp_plen),
	        DROPS("op 3", ARP(), ARP, .mutate = arp_op_3),
	        DROPS("27 bytes", ARP(), ARP, .mutate = arp_short),
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(pkt, classifies_icmp)
{
	static const struct pcase cases[] = {
	        CASE("echo", ECHO4(), ICMP_ECHO),
	        CASE("echo odd length, options, vlans",
	             ECHO4(.payload = 33, .ip4_opt = 8, .vlans = 2), ICMP_ECHO),
	        CASE("echo padded", ECHO4(.payload = 4, .pad = 10), ICMP_ECHO),
	        DROPS("echo bad checksum", ECHO4(), ICMP, .mutate = icmp_csum_flip),
	        DROPS("echo bad checksum, NIC says good (ICMP is checked anyway)", ECHO4(), ICMP,
	              .mutate = icmp_csum_flip, .csum = SL_PKT_CSUM_IP_GOOD | SL_PKT_CSUM_L4_GOOD),
	        DROPS("4-byte icmp", ECHO4(), ICMP, .mutate = ip4_icmp_4, .refix = true),
	        DROPS("echo fragment", ECHO4(), FRAGMENT, .mutate = ip4_mf, .refix = true),
	        OTHER("echo reply", ECHO4(.type = 0)),
	        OTHER("dest unreachable", ECHO4(.type = 3)),
	        OTHER("echo to another", ECHO4(.dst = other_ip4)),
	        CASE("echo6", ECHO6(), ICMP6_ECHO),
	        CASE("echo6 after hop-by-hop, vlan", ECHO6(.n_ext = 1, .ext = {0}, .vlans = 1),
	             ICMP6_ECHO),
	        CASE("echo6 padded", ECHO6(.payload = 3, .pad = 7), ICMP6_ECHO),
	        DROPS("echo6 bad checksum", ECHO6(), ICMP, .mutate = icmp_csum_flip),
	        DROPS("4-byte icmp6", ECHO6(), ICMP, .mutate = ip6_icmp_4, .refix = true),
	        OTHER("echo6 to our solicited-node group", ECHO6(.dst = self_snm)),
	        OTHER("echo6 to all-nodes", ECHO6(.dst = all_nodes)),
	        OTHER("echo6 reply", ECHO6(.type = 129)),
	        OTHER("router advertisement", ECHO6(.type = 134, .hop = 255)),
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(pkt, classifies_neighbour_solicitations)
{
	static const struct pcase cases[] = {
	        CASE("ns to solicited-node group", NS(), ND_SOLICIT),
	        CASE("ns to our address (unreachability detection)", NS(.dst = self_ip6),
	             ND_SOLICIT),
	        CASE("ns without options, two vlans", NS(.payload = 16, .vlans = 2), ND_SOLICIT),
	        CASE("ns for duplicate address detection", NS(.payload = 16, .src = unspec_ip6),
	             ND_SOLICIT),
	        DROPS("dad with a source link-layer option", NS(.src = unspec_ip6), ICMP),
	        DROPS("dad to a unicast address",
	              NS(.payload = 16, .src = unspec_ip6, .dst = self_ip6), ICMP),
	        DROPS("hop limit 254", NS(.hop = 254), ICMP),
	        DROPS("code 1", NS(), ICMP, .mutate = icmp_code_1, .refix = true),
	        DROPS("bad checksum", NS(), ICMP, .mutate = icmp_csum_flip),
	        DROPS("option of length zero", NS(), ICMP, .mutate = ns_opt_len0, .refix = true),
	        DROPS("option past the end", NS(), ICMP, .mutate = ns_opt_len2, .refix = true),
	        DROPS("20 bytes", NS(), ICMP, .mutate = ns_short, .refix = true),
	        OTHER("target another", NS(.payload = 16, .body = ns_body_other)),
	        OTHER("to another's solicited-node group", NS(.dst = other_snm)),
	        OTHER("to another unicast address", NS(.dst = other_ip6)),
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- truncation and bit flips ---- */

static void expect_drop_at_every_shorter_length(const struct spec *s, const char *what)
{
	struct sl_pkt_self self = self_both();
	struct frame f;

	build(s, &f);
	for (uint32_t len = 0; len < f.len; len++) {
		struct sl_pkt_info info;
		enum sl_pkt_drop drop = SL_PKT_DROP_COUNT;
		enum sl_pkt_kind k = classify(&f, len, &self, 0, &info, &drop);

		cr_expect_eq(k, SL_PKT_DROP, "%s cut to %u of %u: %s", what, len, f.len,
		             kind_name(k));
		cr_expect_lt(drop, SL_PKT_DROP_COUNT, "%s cut to %u: no reason", what, len);
		/* NIC verdicts must not make a truncated frame acceptable. */
		k = classify(&f, len, &self, SL_PKT_CSUM_IP_GOOD | SL_PKT_CSUM_L4_GOOD, &info,
		             &drop);
		cr_expect_neq(k, SL_PKT_PRODUCER, "%s cut to %u with good flags", what, len);
	}
}

Test(pkt, drops_truncated_frames_at_every_length)
{
	static const struct {
		const char *what;
		struct spec s;
	} frames[] = {
	        {"udp4", UDP4(.payload = 64)},
	        {"udp4 options, two vlans", UDP4(.payload = 9, .ip4_opt = 16, .vlans = 2)},
	        {"udp6", UDP6(.payload = 64)},
	        {"udp6 ext headers, one vlan",
	         UDP6(.payload = 9, .n_ext = 2, .ext = {0, 60}, .units = {1, 0}, .vlans = 1)},
	        {"arp", ARP(.vlans = 1)},
	        {"icmp echo", ECHO4()},
	        {"icmp6 echo", ECHO6()},
	        {"ns", NS()},
	};
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++)
		expect_drop_at_every_shorter_length(&frames[i].s, frames[i].what);
}

/* Whatever a single flipped bit turns a frame into, classification stays
 * inside the frame and any info it returns describes bytes inside it. */
Test(pkt, survives_every_single_bit_flip)
{
	static const struct spec specs[] = {
	        UDP4(.payload = 20, .ip4_opt = 4, .vlans = 1),
	        UDP6(.payload = 20, .n_ext = 2, .ext = {0, 43}),
	        ARP(),
	        ECHO4(.payload = 8),
	        ECHO6(.payload = 8),
	        NS(),
	};
	struct sl_pkt_self self = self_both();

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct frame f;

		build(&specs[i], &f);
		for (uint32_t bit = 0; bit < f.len * 8; bit++) {
			struct sl_pkt_info info;
			enum sl_pkt_drop drop = SL_PKT_DROP_COUNT;
			enum sl_pkt_kind k;

			f.b[bit / 8] ^= (uint8_t)(1u << bit % 8);
			for (unsigned csum = 0; csum <= SL_PKT_CSUM_L4_GOOD;
			     csum += SL_PKT_CSUM_L4_GOOD) {
				k = classify(&f, f.len, &self, csum, &info, &drop);
				if (k == SL_PKT_DROP)
					cr_expect_lt(drop, SL_PKT_DROP_COUNT);
				else if (k != SL_PKT_OTHER)
					cr_expect_leq((uint32_t)info.payload_off + info.payload_len,
					              f.len, "spec %zu bit %u", i, bit);
			}
			f.b[bit / 8] ^= (uint8_t)(1u << bit % 8);
		}
	}
}

Test(pkt, names_every_drop_reason)
{
	for (int d = 0; d < SL_PKT_DROP_COUNT; d++)
		cr_expect_str_neq(sl_pkt_drop_name((enum sl_pkt_drop)d), "?");
	cr_expect_str_eq(sl_pkt_drop_name(SL_PKT_DROP_IP6_EXT), "IP6_EXT");
	cr_expect_str_eq(sl_pkt_drop_name(SL_PKT_DROP_COUNT), "?");
}

/* ---- reply builders ---- */

/* Classifies f (expecting kind) and returns its info. */
static struct sl_pkt_info classify_ok(const struct frame *f, enum sl_pkt_kind kind)
{
	struct sl_pkt_self self = self_both();
	struct sl_pkt_info info;
	enum sl_pkt_drop drop;

	cr_assert_eq(sl_pkt_classify(f->b, f->len, &self, 0, &info, &drop), kind);
	return info;
}

/* The reply kept the request's VLAN tags. */
static void expect_vlans(const uint8_t *r, unsigned vlans, uint16_t ethertype)
{
	const uint8_t *p = r + 12;

	for (unsigned i = 0; i < vlans; i++, p += 4) {
		cr_expect_eq(be16(p), vlans == 2 && i == 0 ? 0x88a8 : 0x8100);
		cr_expect_eq(be16(p + 2), i == 0 ? TCI0 : TCI1);
	}
	cr_expect_eq(be16(p), ethertype);
}

Test(pkt, builds_arp_reply)
{
	for (unsigned vlans = 0; vlans <= 2; vlans++) {
		struct sl_pkt_self self = self_both();
		struct spec s = ARP(.vlans = vlans, .pad = 10);
		struct frame f;
		struct sl_pkt_info info;
		uint32_t rlen;
		const uint8_t *a;

		build(&s, &f);
		info = classify_ok(&f, SL_PKT_ARP_REQUEST);
		cr_expect_eq(sl_pkt_arp_reply(f.b, f.len, f.l3 + 27, &info, &self), 0,
		             "fits in one byte less than the reply");
		rlen = sl_pkt_arp_reply(f.b, f.len, f.len, &info, &self);
		cr_assert_eq(rlen, f.l3 + 28);
		a = f.b + f.l3;
		cr_expect_arr_eq(f.b, peer_mac, 6);
		cr_expect_arr_eq(f.b + 6, self_mac, 6);
		expect_vlans(f.b, vlans, 0x0806);
		cr_expect_eq(be16(a), 1);
		cr_expect_eq(be16(a + 2), 0x0800);
		cr_expect_eq(a[4], 6);
		cr_expect_eq(a[5], 4);
		cr_expect_eq(be16(a + 6), 2);
		cr_expect_arr_eq(a + 8, self_mac, 6);
		cr_expect_arr_eq(a + 14, self_ip4, 4);
		cr_expect_arr_eq(a + 18, peer_mac, 6);
		cr_expect_arr_eq(a + 24, peer_ip4, 4);
	}
}

Test(pkt, builds_icmp_echo_reply)
{
	static const struct spec specs[] = {
	        ECHO4(),
	        ECHO4(.payload = 33, .vlans = 1),
	        ECHO4(.payload = 0, .vlans = 2, .ip4_opt = 8, .pad = 14),
	};

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct sl_pkt_self self = self_both();
		struct frame f;
		struct sl_pkt_info info;
		uint32_t rlen, n = 8u + specs[i].payload;
		const uint8_t *ip, *m;

		build(&specs[i], &f);
		info = classify_ok(&f, SL_PKT_ICMP_ECHO);
		cr_expect_eq(info.payload_off, f.pay);
		cr_expect_eq(info.payload_len, specs[i].payload);
		rlen = sl_pkt_icmp_echo_reply(f.b, f.len, f.len, &info, &self);
		cr_assert_eq(rlen, f.l3 + 20 + n, "case %zu: %u", i, rlen);
		ip = f.b + f.l3;
		m = ip + 20;
		cr_expect_arr_eq(f.b, peer_mac, 6);
		cr_expect_arr_eq(f.b + 6, self_mac, 6);
		expect_vlans(f.b, specs[i].vlans, 0x0800);
		cr_expect_eq(ip[0], 0x45, "options dropped");
		cr_expect_eq(be16(ip + 2), 20 + n);
		cr_expect_eq(be16(ip + 6) & 0x3fff, 0);
		cr_expect_gt(ip[8], 0);
		cr_expect_eq(ip[9], 1);
		cr_expect_arr_eq(ip + 12, self_ip4, 4);
		cr_expect_arr_eq(ip + 16, peer_ip4, 4);
		cr_expect(ck_ok(ck_add(0, ip, 20)), "case %zu: ip header checksum", i);
		cr_expect_eq(m[0], 0);
		cr_expect_eq(m[1], 0);
		cr_expect_eq(be16(m + 4), 0xbeef);
		cr_expect_eq(be16(m + 6), 1);
		for (uint32_t j = 0; j < specs[i].payload; j++)
			cr_expect_eq(m[8 + j], pattern(j), "case %zu: payload byte %u", i, j);
		cr_expect(ck_ok(ck_add(0, m, n)), "case %zu: icmp checksum", i);
	}
}

Test(pkt, builds_icmp6_echo_reply)
{
	static const struct spec specs[] = {
	        ECHO6(),
	        ECHO6(.payload = 33, .vlans = 2),
	        ECHO6(.payload = 5, .vlans = 1, .n_ext = 2, .ext = {0, 60}, .units = {1, 0},
	              .pad = 3),
	};

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct sl_pkt_self self = self_both();
		struct frame f;
		struct sl_pkt_info info;
		uint32_t rlen, n = 8u + specs[i].payload;
		const uint8_t *ip, *m;

		build(&specs[i], &f);
		info = classify_ok(&f, SL_PKT_ICMP6_ECHO);
		rlen = sl_pkt_icmp6_echo_reply(f.b, f.len, f.len, &info, &self);
		cr_assert_eq(rlen, f.l3 + 40 + n, "case %zu: %u", i, rlen);
		ip = f.b + f.l3;
		m = ip + 40;
		cr_expect_arr_eq(f.b, peer_mac, 6);
		cr_expect_arr_eq(f.b + 6, self_mac, 6);
		expect_vlans(f.b, specs[i].vlans, 0x86dd);
		cr_expect_eq(ip[0] >> 4, 6);
		cr_expect_eq(be16(ip + 4), n);
		cr_expect_eq(ip[6], 58, "extension headers dropped");
		cr_expect_gt(ip[7], 0);
		cr_expect_arr_eq(ip + 8, self_ip6, 16);
		cr_expect_arr_eq(ip + 24, peer_ip6, 16);
		cr_expect_eq(m[0], 129);
		cr_expect_eq(m[1], 0);
		cr_expect_eq(be16(m + 4), 0xbeef);
		for (uint32_t j = 0; j < specs[i].payload; j++)
			cr_expect_eq(m[8 + j], pattern(j), "case %zu: payload byte %u", i, j);
		cr_expect(ck_ok(ck_pseudo(ip, 6, 58, m, n)), "case %zu: icmp6 checksum", i);
	}
}

static void expect_nd_advert(const struct spec *s, bool dad)
{
	struct sl_pkt_self self = self_both();
	struct frame f;
	struct sl_pkt_info info;
	uint32_t rlen, want = 0;
	const uint8_t *ip, *m;
	static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};

	build(s, &f);
	info = classify_ok(&f, SL_PKT_ND_SOLICIT);
	want = f.l3 + 40 + 32;
	cr_expect_eq(sl_pkt_nd_advert(f.b, f.len, want - 1, &info, &self), 0,
	             "fits in one byte less than the advert");
	rlen = sl_pkt_nd_advert(f.b, f.len, want, &info, &self);
	cr_assert_eq(rlen, want);
	ip = f.b + f.l3;
	m = ip + 40;
	cr_expect_arr_eq(f.b, dad ? all_nodes_mac : peer_mac, 6);
	cr_expect_arr_eq(f.b + 6, self_mac, 6);
	expect_vlans(f.b, s->vlans, 0x86dd);
	cr_expect_eq(ip[0] >> 4, 6);
	cr_expect_eq(be16(ip + 4), 32);
	cr_expect_eq(ip[6], 58);
	cr_expect_eq(ip[7], 255);
	cr_expect_arr_eq(ip + 8, self_ip6, 16);
	cr_expect_arr_eq(ip + 24, dad ? all_nodes : peer_ip6, 16);
	cr_expect_eq(m[0], 136);
	cr_expect_eq(m[1], 0);
	/* Solicited and override; RFC 4861 7.2.4: not solicited when answering DAD. */
	cr_expect_eq(m[4], dad ? 0x20 : 0x60);
	cr_expect_eq(m[5] | m[6] | m[7], 0);
	cr_expect_arr_eq(m + 8, self_ip6, 16);
	cr_expect_eq(m[24], 2, "target link-layer address option");
	cr_expect_eq(m[25], 1);
	cr_expect_arr_eq(m + 26, self_mac, 6);
	cr_expect(ck_ok(ck_pseudo(ip, 6, 58, m, 32)), "icmp6 checksum");
}

Test(pkt, builds_neighbour_advertisement)
{
	static const struct spec ns_opt = NS(), ns_vlans = NS(.vlans = 2, .payload = 16),
	                         ns_unicast_ext = NS(.dst = self_ip6, .vlans = 1, .n_ext = 1,
	                                             .ext = {0}, .units = {2});

	expect_nd_advert(&ns_opt, false);
	expect_nd_advert(&ns_vlans, false);
	expect_nd_advert(&ns_unicast_ext, false);
}

Test(pkt, answers_duplicate_address_detection_to_all_nodes)
{
	static const struct spec dad = NS(.payload = 16, .src = unspec_ip6, .vlans = 1);

	expect_nd_advert(&dad, true);
}

Test(pkt, reply_builders_refuse_what_does_not_fit)
{
	struct sl_pkt_self self = self_both();
	struct spec s4 = ECHO4(.payload = 0), s6 = ECHO6(.payload = 0), ns = NS(.payload = 16);
	struct frame f;
	struct sl_pkt_info info;

	build(&s4, &f);
	info = classify_ok(&f, SL_PKT_ICMP_ECHO);
	cr_expect_eq(sl_pkt_icmp_echo_reply(f.b, f.len, f.len - 1, &info, &self), 0);
	build(&s6, &f);
	info = classify_ok(&f, SL_PKT_ICMP6_ECHO);
	cr_expect_eq(sl_pkt_icmp6_echo_reply(f.b, f.len, f.len - 1, &info, &self), 0);
	/* A solicitation without options is 8 bytes shorter than the advert. */
	build(&ns, &f);
	info = classify_ok(&f, SL_PKT_ND_SOLICIT);
	cr_expect_eq(sl_pkt_nd_advert(f.b, f.len, f.len, &info, &self), 0);
	cr_expect_eq(sl_pkt_nd_advert(f.b, f.len, f.len + 8, &info, &self), f.len + 8);
}

/* ---- sl_pkt_udp_write round trips ---- */

static struct sl_pkt_reply reply_to_self(int ipv, unsigned vlans)
{
	struct sl_pkt_reply r = {.vlans = (uint8_t)vlans,
	                         .ip_version = (uint8_t)ipv,
	                         .vlan_tci = {TCI0, TCI1},
	                         .dst_port = SELF_PORT,
	                         .src_port = PEER_PORT};

	memcpy(r.dst_mac, self_mac, 6);
	memcpy(r.src_mac, peer_mac, 6);
	memcpy(r.dst_ip, ipv == 4 ? self_ip4 : self_ip6, ipv == 4 ? 4 : 16);
	memcpy(r.src_ip, ipv == 4 ? peer_ip4 : peer_ip6, ipv == 4 ? 4 : 16);
	return r;
}

Test(pkt, udp_write_round_trips_through_classify)
{
	static const uint32_t sizes[] = {0, 1, 40, 1471, 1472};

	for (int ipv = 4; ipv <= 6; ipv += 2) {
		for (unsigned vlans = 0; vlans <= 2; vlans++) {
			for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
				struct sl_pkt_reply r = reply_to_self(ipv, vlans), back;
				struct sl_pkt_self self = self_both();
				uint32_t hl = sl_pkt_udp_hdr_len(&r), n = sizes[si], len;
				uint32_t l3 = 14 + 4 * vlans;
				struct sl_pkt_info info;
				enum sl_pkt_drop drop;
				uint8_t buf[2048];
				const uint8_t *ip = buf + l3, *u = buf + hl - 8;

				cr_assert_eq(hl, l3 + (ipv == 4 ? 20 : 40) + 8);
				for (uint32_t i = 0; i < n; i++)
					buf[hl + i] = pattern(i);
				len = sl_pkt_udp_write(buf, &r, n);
				cr_assert_eq(len, hl + n);
				expect_vlans(buf, vlans, ipv == 4 ? 0x0800 : 0x86dd);
				if (ipv == 4) {
					cr_expect_eq(ip[0], 0x45);
					cr_expect_eq(be16(ip + 2), 28 + n);
					cr_expect_eq(be16(ip + 4), 0, "id 0");
					cr_expect_eq(be16(ip + 6), 0x4000, "DF");
					cr_expect_eq(ip[8], 64);
					cr_expect(ck_ok(ck_add(0, ip, 20)), "ip header checksum");
				} else {
					cr_expect_eq(ip[0] >> 4, 6);
					cr_expect_eq(be16(ip + 4), 8 + n);
					cr_expect_eq(ip[7], 64);
				}
				cr_expect_neq(be16(u + 6), 0);
				cr_expect(ck_ok(ck_pseudo(ip, ipv, 17, u, 8 + n)),
				          "ipv%d vlans %u size %u: udp checksum", ipv, vlans, n);

				cr_assert_eq(sl_pkt_classify(buf, len, &self, 0, &info, &drop),
				             SL_PKT_PRODUCER, "ipv%d vlans %u size %u", ipv, vlans,
				             n);
				cr_expect_eq(info.payload_off, hl);
				cr_expect_eq(info.payload_len, n);
				cr_expect_eq(info.src_port, PEER_PORT);
				cr_expect_eq(info.vlans, vlans);
				for (uint32_t i = 0; i < n; i++)
					cr_expect_eq(buf[info.payload_off + i], pattern(i));

				/* The reply path is the same one reversed. */
				sl_pkt_reply_from(buf, &info, &back);
				cr_expect_arr_eq(back.dst_mac, peer_mac, 6);
				cr_expect_arr_eq(back.src_mac, self_mac, 6);
				cr_expect_eq(back.vlans, vlans);
				for (unsigned v = 0; v < vlans; v++)
					cr_expect_eq(back.vlan_tci[v], r.vlan_tci[v]);
				cr_expect_eq(back.ip_version, ipv);
				cr_expect_arr_eq(back.dst_ip, r.src_ip, 16);
				cr_expect_arr_eq(back.src_ip, r.dst_ip, 16);
				cr_expect_eq(back.dst_port, PEER_PORT);
				cr_expect_eq(back.src_port, SELF_PORT);
			}
		}
	}
}

/* A datagram whose checksum computes to 0 is sent with 0xffff (RFC 768),
 * which still verifies, and over IPv6 is not mistaken for "no checksum". */
Test(pkt, udp_write_sends_zero_checksum_as_ffff)
{
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		struct sl_pkt_reply r = reply_to_self(ipv, 1);
		struct sl_pkt_self self = self_both();
		uint32_t hl = sl_pkt_udp_hdr_len(&r), n = 10, len;
		struct sl_pkt_info info;
		enum sl_pkt_drop drop;
		uint8_t buf[256];
		uint8_t *u = buf + hl - 8;

		memset(buf + hl, 0x11, n);
		buf[hl + n - 2] = buf[hl + n - 1] = 0;
		sl_pkt_udp_write(buf, &r, n);
		/* Adding the first checksum as the last payload word makes the
		 * sum 0xffff, so the computed checksum becomes 0. */
		memcpy(buf + hl + n - 2, u + 6, 2);
		len = sl_pkt_udp_write(buf, &r, n);
		cr_expect_eq(be16(u + 6), 0xffff, "ipv%d", ipv);
		cr_expect(ck_ok(ck_pseudo(buf + 18, ipv, 17, u, 8 + n)));
		cr_expect_eq(sl_pkt_classify(buf, len, &self, 0, &info, &drop), SL_PKT_PRODUCER);
	}
}

Test(pkt, udp_write_refuses_payload_past_a_datagram)
{
	struct sl_pkt_reply r4 = reply_to_self(4, 0), r6 = reply_to_self(6, 0);
	static uint8_t buf[70000];

	cr_expect_eq(sl_pkt_udp_write(buf, &r4, 65536 - 28), 0);
	cr_expect_eq(sl_pkt_udp_write(buf, &r4, 65535 - 28), 14 + 65535);
	cr_expect_eq(sl_pkt_udp_write(buf, &r6, 65536 - 8), 0);
	cr_expect_eq(sl_pkt_udp_write(buf, &r6, 65535 - 8), 14 + 40 + 65535);
}
