/*
 * Software offloads. A port opened with a virtio-net header (TAP IFF_VNET_HDR, AF_PACKET
 * PACKET_VNET_HDR) may receive GSO super-frames (up to 64 KiB, one TCP/UDP header for many segments)
 * and frames whose L4 checksum is left for the device (NEEDS_CSUM: the field holds the pseudo-header
 * sum, csum_start/csum_offset say where to finish). Between two such ports the header is passed
 * through and the kernel does the work. Towards a port that cannot take the header this file does it:
 * it completes checksums and cuts super-frames into MSS-sized frames (TCP over IPv4/IPv6, UDP
 * segmentation offload, and IPv4 UDP fragmentation offload), fixing lengths, IP ids, TCP sequence
 * numbers and flags, and every checksum.
 *
 * switch/offload.ts is the reference and the fallback (TypeScript, no addon); this is its accelerator,
 * about 3.5 times as fast, which the datapath uses while this addon is loaded (segmentInto in portio.c).
 * The two must produce the same bytes: test/switch/offload.test.ts compares them on random super-frames.
 * A change to one is a change to both.
 */
#include "gso.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

struct layout {
  size_t l3;       /* offset of the IP header */
  size_t l4;       /* offset of the TCP/UDP header */
  size_t payload;  /* offset of the L4 payload */
  int ipv6;
  uint8_t proto;
};

/* Finds the IP and L4 headers behind Ethernet and up to two VLAN tags. */
static int parse(const uint8_t *f, size_t len, struct layout *l) {
  size_t off = 12;
  if (len < 14) return -EINVAL;
  uint16_t et = rd16(f + off);
  for (int tags = 0; (et == 0x8100 || et == 0x88a8) && tags < 2; tags++) {
    off += 4;
    if (len < off + 2) return -EINVAL;
    et = rd16(f + off);
  }
  l->l3 = off + 2;
  if (et == 0x0800) {
    if (len < l->l3 + 20) return -EINVAL;
    size_t ihl = (size_t)(f[l->l3] & 0x0f) * 4;
    if (ihl < 20 || len < l->l3 + ihl) return -EINVAL;
    l->ipv6 = 0;
    l->proto = f[l->l3 + 9];
    l->l4 = l->l3 + ihl;
  } else if (et == 0x86dd) {
    if (len < l->l3 + 40) return -EINVAL;
    l->ipv6 = 1;
    l->proto = f[l->l3 + 6];
    l->l4 = l->l3 + 40;
  } else {
    return -EPROTONOSUPPORT;
  }
  if (l->proto == 6) {
    if (len < l->l4 + 20) return -EINVAL;
    size_t doff = (size_t)(f[l->l4 + 12] >> 4) * 4;
    if (doff < 20 || len < l->l4 + doff) return -EINVAL;
    l->payload = l->l4 + doff;
  } else if (l->proto == 17) {
    if (len < l->l4 + 8) return -EINVAL;
    l->payload = l->l4 + 8;
  } else {
    return -EPROTONOSUPPORT;
  }
  return 0;
}

/* Pseudo-header sum for an L4 segment of l4len bytes. */
static uint32_t pseudo(const uint8_t *f, const struct layout *l, size_t l4len) {
  uint32_t s = 0;
  if (l->ipv6) s = sum16(f + l->l3 + 8, 32, 0);
  else s = sum16(f + l->l3 + 12, 8, 0);
  s += l->proto;
  s += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff);
  return s;
}

static void ipv4_fix(uint8_t *f, const struct layout *l, size_t total, uint16_t id) {
  uint8_t *ip = f + l->l3;
  wr16(ip + 2, (uint16_t)total);
  wr16(ip + 4, id);
  wr16(ip + 10, 0);
  wr16(ip + 10, (uint16_t)~fold(sum16(ip, l->l4 - l->l3, 0)));
}

/* Computes the full L4 checksum of the segment at f (headers as in l, seglen bytes in all). */
static void l4_csum(uint8_t *f, const struct layout *l, size_t seglen) {
  size_t l4len = seglen - l->l4;
  size_t at = l->l4 + (l->proto == 6 ? 16 : 6);
  wr16(f + at, 0);
  uint16_t c = (uint16_t)~fold(sum16(f + l->l4, l4len, pseudo(f, l, l4len)));
  if (l->proto == 17 && c == 0) c = 0xffff;
  wr16(f + at, c);
}

static int complete_only(const uint8_t *frame, size_t len, const struct virtio_net_hdr *h, uint8_t *out,
                         size_t out_cap, uint32_t *seg_lens) {
  if (len > out_cap) return -ENOSPC;
  memcpy(out, frame, len);
  if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    size_t start = h->csum_start, at = (size_t)h->csum_start + h->csum_offset;
    if (start >= len || at + 2 > len) return -EINVAL;
    uint16_t c = (uint16_t)~fold(sum16(out + start, len - start, 0));
    /* UDP sends an all-zero result as 0xffff; TCP has no such rule but 0 and 0xffff are the same sum. */
    if (c == 0) c = 0xffff;
    wr16(out + at, c);
  }
  seg_lens[0] = (uint32_t)len;
  return 1;
}

/* TCP (TSO) and UDP (USO): every segment carries the full headers and gso_size bytes of payload. */
static int segment_l4(const uint8_t *frame, size_t len, const struct virtio_net_hdr *h, const struct layout *l,
                      uint8_t *out, size_t out_cap, uint32_t *seg_lens, int max_segs) {
  size_t mss = h->gso_size, hl = l->payload, pl = len - hl;
  if (mss == 0) return -EINVAL;
  size_t nseg = (pl + mss - 1) / mss;
  if (nseg == 0) nseg = 1;
  if ((int)nseg > max_segs || nseg * hl + pl > out_cap) return -ENOSPC;
  uint16_t id = l->ipv6 ? 0 : rd16(frame + l->l3 + 4);
  uint32_t seq = l->proto == 6 ? rd32(frame + l->l4 + 4) : 0;
  uint8_t flags = l->proto == 6 ? frame[l->l4 + 13] : 0;
  size_t o = 0;
  for (size_t i = 0; i < nseg; i++) {
    size_t chunk = i + 1 < nseg ? mss : pl - i * mss;
    uint8_t *s = out + o;
    memcpy(s, frame, hl);
    memcpy(s + hl, frame + hl + i * mss, chunk);
    size_t seglen = hl + chunk;
    if (l->ipv6) wr16(s + l->l3 + 4, (uint16_t)(seglen - l->l3 - 40));
    else ipv4_fix(s, l, seglen - l->l3, (uint16_t)(id + i));
    if (l->proto == 6) {
      wr32(s + l->l4 + 4, seq + (uint32_t)(i * mss));
      uint8_t f = flags;
      if (i + 1 < nseg) f &= (uint8_t)~(0x01 | 0x08); /* FIN and PSH only on the last segment */
      if (i > 0) f &= (uint8_t)~0x80;                  /* CWR only on the first */
      s[l->l4 + 13] = f;
    } else {
      wr16(s + l->l4 + 4, (uint16_t)(seglen - l->l4));
    }
    l4_csum(s, l, seglen);
    seg_lens[i] = (uint32_t)seglen;
    o += seglen;
  }
  return (int)nseg;
}

/* UFO over IPv4: the UDP datagram (checksum completed) is cut into IP fragments of gso_size bytes. */
static int fragment_udp4(const uint8_t *frame, size_t len, const struct virtio_net_hdr *h, const struct layout *l,
                         uint8_t *out, size_t out_cap, uint32_t *seg_lens, int max_segs) {
  size_t frag = (size_t)h->gso_size & ~(size_t)7, hl = l->l4, dl = len - hl;
  if (frag == 0) return -EINVAL;
  size_t n = (dl + frag - 1) / frag;
  if ((int)n > max_segs || n * hl + dl + len > out_cap) return -ENOSPC;
  /* complete the UDP checksum over the whole datagram first, in a copy at the end of out */
  uint8_t *whole = out + out_cap - len;
  memcpy(whole, frame, len);
  wr16(whole + l->l4 + 4, (uint16_t)(len - l->l4));
  l4_csum(whole, l, len);
  uint16_t id = rd16(frame + l->l3 + 4);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    size_t chunk = i + 1 < n ? frag : dl - i * frag;
    uint8_t *s = out + o;
    memcpy(s, whole, hl);
    memcpy(s + hl, whole + hl + i * frag, chunk);
    uint16_t fo = (uint16_t)((i * frag) / 8) | (uint16_t)(i + 1 < n ? 0x2000 : 0);
    wr16(s + l->l3 + 6, fo);
    ipv4_fix(s, l, hl - l->l3 + chunk, id);
    seg_lens[i] = (uint32_t)(hl + chunk);
    o += hl + chunk;
  }
  return (int)n;
}

int gso_to_frames(const uint8_t *frame, size_t len, const struct virtio_net_hdr *h, uint8_t *out, size_t out_cap,
                  uint32_t *seg_lens, int max_segs) {
  if (max_segs < 1) return -ENOSPC;
  uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  if (type == VIRTIO_NET_HDR_GSO_NONE) return complete_only(frame, len, h, out, out_cap, seg_lens);
  struct layout l;
  int rc = parse(frame, len, &l);
  if (rc) return rc;
  switch (type) {
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6:
      if (l.proto != 6 || l.ipv6 != (type == VIRTIO_NET_HDR_GSO_TCPV6)) return -EINVAL;
      return segment_l4(frame, len, h, &l, out, out_cap, seg_lens, max_segs);
    case VIRTIO_NET_HDR_GSO_UDP_L4:
      if (l.proto != 17) return -EINVAL;
      return segment_l4(frame, len, h, &l, out, out_cap, seg_lens, max_segs);
    case VIRTIO_NET_HDR_GSO_UDP:
      if (l.proto != 17) return -EINVAL;
      if (l.ipv6) return -EPROTONOSUPPORT;
      return fragment_udp4(frame, len, h, &l, out, out_cap, seg_lens, max_segs);
    default:
      return -EPROTONOSUPPORT;
  }
}
