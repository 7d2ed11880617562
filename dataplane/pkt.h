/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet classification and reply construction for the dataplane: parses
 * Ethernet (with up to two VLAN tags), IPv4 (with options) and IPv6 (with
 * extension headers), UDP, ARP, ICMP echo, ICMPv6 echo and neighbour
 * solicitation, on a plain byte buffer. DPDK-free, so the unit suite tests
 * it table-driven without EAL; the rx lcore calls it on each mbuf's data.
 *
 * Nothing from the wire is trusted: every length is checked against the
 * frame's length before it is used. A frame the engine should act on is
 * classified; a frame that is not for it (other hosts, other protocols,
 * multicast chatter) is SL_PKT_OTHER; a malformed one is SL_PKT_DROP with a
 * reason, counted by the caller.
 *
 * All multi-byte fields in struct sl_pkt_self are in network byte order
 * except udp_port (host order).
 */
#ifndef SL_DATAPLANE_PKT_H
#define SL_DATAPLANE_PKT_H

#include <stdbool.h>
#include <stdint.h>

/* Who the engine is on this port. */
struct sl_pkt_self {
	uint8_t mac[6];
	bool has_ip4;
	bool has_ip6;
	uint8_t ip4[4];    /* network order */
	uint8_t ip6[16];   /* network order */
	uint16_t udp_port; /* host order */
};

enum sl_pkt_kind {
	SL_PKT_OTHER = 0,   /* not for us, or a protocol we ignore: count, free */
	SL_PKT_DROP,        /* malformed: *ret_drop says why */
	SL_PKT_PRODUCER,    /* UDP to our address and port: payload is a frame */
	SL_PKT_ARP_REQUEST, /* ARP request for our IPv4 address */
	SL_PKT_ICMP_ECHO,   /* ICMP echo request to our IPv4 address */
	SL_PKT_ICMP6_ECHO,  /* ICMPv6 echo request to our IPv6 address */
	SL_PKT_ND_SOLICIT,  /* neighbour solicitation for our IPv6 address */
};

/* X(name, text) */
#define SL_PKT_DROPS(X)                                                                            \
	X(ETH_SHORT, "shorter than an Ethernet header")                                            \
	X(VLAN, "truncated VLAN tag or more than two tags")                                        \
	X(ARP, "malformed ARP")                                                                    \
	X(IP_HDR, "IP header truncated or bad version/IHL")                                        \
	X(IP_LEN, "IP total/payload length disagrees with the frame")                              \
	X(IP_CSUM, "bad IPv4 header checksum")                                                     \
	X(FRAGMENT, "IP fragment")                                                                 \
	X(IP6_EXT, "IPv6 extension header truncated or unsupported")                               \
	X(UDP_LEN, "UDP length disagrees with the IP payload")                                     \
	X(UDP_CSUM, "bad UDP checksum (or zero over IPv6)")                                        \
	X(ICMP, "malformed or bad-checksum ICMP/ICMPv6")

enum sl_pkt_drop {
#define SL_X_ENUM(n, t) SL_PKT_DROP_##n,
	SL_PKT_DROPS(SL_X_ENUM)
#undef SL_X_ENUM
	        SL_PKT_DROP_COUNT
};

const char *sl_pkt_drop_name(enum sl_pkt_drop d);

/* Checksum verdicts the NIC may already have (from mbuf ol_flags). A
 * verdict of neither GOOD nor BAD means the parser verifies in software. */
enum {
	SL_PKT_CSUM_IP_GOOD = 1u << 0,
	SL_PKT_CSUM_IP_BAD = 1u << 1,
	SL_PKT_CSUM_L4_GOOD = 1u << 2,
	SL_PKT_CSUM_L4_BAD = 1u << 3,
};

/* Where things are in a classified frame (offsets from the frame start). */
struct sl_pkt_info {
	uint16_t l2_len;      /* Ethernet header + VLAN tags */
	uint16_t l3_off;      /* == l2_len */
	uint16_t l4_off;      /* UDP/ICMP header (after IPv4 options / IPv6 ext headers) */
	uint16_t payload_off; /* UDP payload (SL_PKT_PRODUCER), ICMP body otherwise */
	uint16_t payload_len;
	uint16_t vlan_tci[2]; /* outer first */
	uint8_t vlans;        /* 0, 1 or 2 */
	uint8_t ip_version;   /* 4 or 6 (0 for ARP) */
	uint16_t src_port;    /* host order, UDP */
};

/*
 * Classifies the frame of len bytes. csum is a mask of SL_PKT_CSUM_*.
 * Returns the kind; fills *ret_info for every kind but OTHER and DROP, and
 * *ret_drop for DROP. Never reads outside [frame, frame + len).
 */
enum sl_pkt_kind sl_pkt_classify(const uint8_t *frame, uint32_t len, const struct sl_pkt_self *self,
                                 unsigned csum, struct sl_pkt_info *ret_info,
                                 enum sl_pkt_drop *ret_drop);

/*
 * In-place replies: turn the classified request in frame (len bytes, cap
 * bytes of room) into its answer, from self, back to the requester (same
 * VLAN tags). Return the reply's length, or 0 if it does not fit cap.
 */
uint32_t sl_pkt_arp_reply(uint8_t *frame, uint32_t len, uint32_t cap,
                          const struct sl_pkt_info *info, const struct sl_pkt_self *self);
uint32_t sl_pkt_icmp_echo_reply(uint8_t *frame, uint32_t len, uint32_t cap,
                                const struct sl_pkt_info *info, const struct sl_pkt_self *self);
uint32_t sl_pkt_icmp6_echo_reply(uint8_t *frame, uint32_t len, uint32_t cap,
                                 const struct sl_pkt_info *info, const struct sl_pkt_self *self);
/* Neighbour advertisement (solicited, override, with the target link-layer
 * address option) answering a neighbour solicitation. */
uint32_t sl_pkt_nd_advert(uint8_t *frame, uint32_t len, uint32_t cap,
                          const struct sl_pkt_info *info, const struct sl_pkt_self *self);

/* Everything needed to send a UDP datagram back to a producer later,
 * captured from its frame (addresses in network order, ports host order). */
struct sl_pkt_reply {
	uint8_t dst_mac[6]; /* the producer's (or its router's) MAC */
	uint8_t src_mac[6]; /* ours */
	uint16_t vlan_tci[2];
	uint8_t vlans;
	uint8_t ip_version;
	uint8_t dst_ip[16]; /* the producer: IPv4 in the first 4 bytes */
	uint8_t src_ip[16]; /* ours */
	uint16_t dst_port;
	uint16_t src_port;
};

/* Captures the reply path of a SL_PKT_PRODUCER frame. */
void sl_pkt_reply_from(const uint8_t *frame, const struct sl_pkt_info *info,
                       struct sl_pkt_reply *ret);

/* Bytes of Ethernet + VLAN + IP + UDP headers sl_pkt_udp_write() writes. */
uint32_t sl_pkt_udp_hdr_len(const struct sl_pkt_reply *r);

/*
 * Writes the Ethernet/VLAN/IP/UDP headers for r at buf, in front of
 * payload_len bytes of payload the caller has put (or will put, before
 * calling) at buf + sl_pkt_udp_hdr_len(r). Fills the IPv4 header checksum
 * and the UDP checksum (over the payload, so the payload must be in
 * place). Returns the frame length. Also used to build producer frames
 * (load generators, tests): fill r by hand.
 */
uint32_t sl_pkt_udp_write(uint8_t *buf, const struct sl_pkt_reply *r, uint32_t payload_len);

#endif
