/*
 * Receive coalescing (what Linux calls GRO) for ports opened with a virtio-net header.
 *
 * Hosts whose checksum offload is off (as Open vSwitch's userspace datapath needs) send TCP as
 * MTU-sized frames with full checksums. Forwarded one by one, each frame costs the receiving host a
 * whole trip up its network stack, and that trip runs in the switch's context when it writes into a
 * veth. Consecutive segments of one TCP/IPv4 flow in a receive batch are therefore merged into one GSO
 * super-frame (gso_type TCPV4, gso_size = the segment size, checksum left partial), which the kernel
 * takes as one unit; a port without the header gets the segments back from gso.c.
 *
 * Segments are merged only when nothing is lost by it, on Linux's GRO rules: IPv4 without options or
 * fragments, the same addresses, ports, TOS, TTL, DF, TCP header length, options and ack; contiguous
 * sequence numbers; every segment but the last exactly the first one's size; only ACK set (PSH allowed
 * on the last); each segment's IPv4 and TCP checksums verified first (a corrupt segment is passed on
 * alone, for its receiver to drop).
 */
#include "gro.h"

#include <string.h>

#include "wire.h"

#define ETH_LEN 14
#define IP_LEN 20
#define TCP_ACK 0x10
#define TCP_PSH 0x08
/* Bits that end a run or forbid merging: FIN, SYN, RST, URG, ECE, CWR (and the NS bit in byte 12). */
#define TCP_STOP 0xe7

/* A TCP/IPv4 segment this file can merge, or 0. On success fills *thlen and *plen. */
static int candidate(const uint8_t *f, size_t len, const struct virtio_net_hdr *h, size_t *thlen, size_t *plen) {
  if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE || (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return 0;
  if (len < ETH_LEN + IP_LEN + 20 || rd16(f + 12) != 0x0800) return 0;
  const uint8_t *ip = f + ETH_LEN;
  if (ip[0] != 0x45 || ip[9] != 6) return 0;
  if ((rd16(ip + 6) & 0x3fff) != 0) return 0; /* MF or a fragment offset */
  size_t tot = rd16(ip + 2);
  if (tot != len - ETH_LEN) return 0; /* padding or truncation: leave it alone */
  const uint8_t *th = ip + IP_LEN;
  size_t doff = (size_t)(th[12] >> 4) * 4;
  if (doff < 20 || IP_LEN + doff >= tot) return 0; /* no payload: nothing to merge */
  if ((th[12] & 0x01) || (th[13] & TCP_STOP) || !(th[13] & TCP_ACK)) return 0;
  if (fold(sum16(ip, IP_LEN, 0)) != 0xffff) return 0;
  if (!(h->flags & VIRTIO_NET_HDR_F_DATA_VALID)) {
    size_t l4 = tot - IP_LEN;
    uint32_t ps = sum16(ip + 12, 8, 0) + 6 + (uint32_t)l4;
    if (fold(sum16(th, l4, ps)) != 0xffff) return 0;
  }
  *thlen = doff;
  *plen = tot - IP_LEN - doff;
  return 1;
}

/* Whether segment b continues the run whose first segment is a (ignoring sequence and length). */
static int same_flow(const uint8_t *a, const uint8_t *b, size_t thlen) {
  const uint8_t *ia = a + ETH_LEN, *ib = b + ETH_LEN;
  if (memcmp(a, b, 12) != 0) return 0;                 /* MAC addresses */
  if (ia[1] != ib[1] || ia[8] != ib[8]) return 0;      /* TOS, TTL */
  if ((ia[6] ^ ib[6]) & 0x40) return 0;                /* DF */
  if (memcmp(ia + 12, ib + 12, 8) != 0) return 0;      /* addresses */
  const uint8_t *ta = ia + IP_LEN, *tb = ib + IP_LEN;
  if (memcmp(ta, tb, 4) != 0) return 0;                /* ports */
  if (memcmp(ta + 8, tb + 8, 4) != 0) return 0;        /* ack */
  if (ta[12] != tb[12]) return 0;                      /* header length */
  if ((ta[13] ^ tb[13]) & (uint8_t)~TCP_PSH) return 0; /* flags, PSH aside */
  return memcmp(ta + 20, tb + 20, thlen - 20) == 0;    /* options (timestamps included) */
}

int gro_merge(uint8_t *base, uint32_t *offs, uint32_t *lens, int n, size_t cap) {
  int out = 0;
  /* A frame that ended a run was checked there; it heads the next run without checking it again. */
  int known = -1, known_ok = 0;
  size_t known_thlen = 0, known_plen = 0;
  for (int i = 0; i < n;) {
    uint8_t *f = base + offs[i];
    struct virtio_net_hdr *h = (struct virtio_net_hdr *)(f - VNET_HDR_LEN);
    size_t thlen = known_thlen, mss = known_plen;
    int ok = i == known ? known_ok : candidate(f, lens[i], h, &thlen, &mss);
    int j = i + 1;
    if (ok && !(f[ETH_LEN + IP_LEN + 13] & TCP_PSH)) {
      size_t len = lens[i];
      size_t hl = ETH_LEN + IP_LEN + thlen;
      uint32_t next = rd32(f + ETH_LEN + IP_LEN + 4) + (uint32_t)mss;
      size_t last = mss;
      uint8_t psh = 0;
      while (j < n && last == mss && !psh) {
        uint8_t *g = base + offs[j];
        struct virtio_net_hdr *gh = (struct virtio_net_hdr *)(g - VNET_HDR_LEN);
        size_t gthl = 0, gpl = 0;
        known = j;
        known_ok = candidate(g, lens[j], gh, &gthl, &gpl);
        known_thlen = gthl;
        known_plen = gpl;
        if (!known_ok || gthl != thlen || gpl > mss || !same_flow(f, g, thlen)) break;
        if (rd32(g + ETH_LEN + IP_LEN + 4) != next) break;
        if (len + gpl > cap || len + gpl - ETH_LEN > 0xffff) break;
        memmove(f + len, g + hl, gpl);
        len += gpl;
        next += (uint32_t)gpl;
        last = gpl;
        psh = g[ETH_LEN + IP_LEN + 13] & TCP_PSH;
        j++;
      }
      if (j > i + 1) {
        uint8_t *ip = f + ETH_LEN, *th = ip + IP_LEN;
        size_t tot = len - ETH_LEN;
        wr16(ip + 2, (uint16_t)tot);
        wr16(ip + 10, 0);
        wr16(ip + 10, (uint16_t)~fold(sum16(ip, IP_LEN, 0)));
        th[13] |= psh;
        /* The checksum is left partial: the field holds the pseudo-header sum, as a device expects. */
        size_t l4 = tot - IP_LEN;
        wr16(th + 16, fold(sum16(ip + 12, 8, 0) + 6 + (uint32_t)l4));
        memset(h, 0, sizeof *h);
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        h->hdr_len = (uint16_t)hl;
        h->gso_size = (uint16_t)mss;
        h->csum_start = ETH_LEN + IP_LEN;
        h->csum_offset = 16;
        lens[i] = (uint32_t)len;
      }
    }
    offs[out] = offs[i];
    lens[out] = lens[i];
    out++;
    i = j;
  }
  return out;
}
