/*
 * The datapath's flow cache: decisions the OpenFlow pipeline (in JavaScript) made for a frame, kept here
 * so that the frames after it with the same headers are forwarded without JavaScript, as Open vSwitch's
 * datapath caches what ovs-vswitchd decided.
 *
 * A decision is cached under the frame's *signature*: the in port and the header bytes that
 * switch/key-extract.ts reads into the flow key. Two frames with the same signature have the same flow
 * key, so the pipeline would decide the same for both while the tables stay as they are (the datapath
 * flushes this cache on every change, switch/flow-cache.ts). To keep that promise simple, only frames
 * whose every key field is read whole get a signature: Ethernet with up to two VLAN tags, then ARP for
 * Ethernet/IPv4, IPv4 that is not a fragment, or IPv6 without extension headers, with the transport
 * header the key reads (TCP, UDP or SCTP ports; ICMP type and code) present in full. Anything else (MPLS,
 * PBB, 802.3 lengths, fragments, IPv6 extension headers, Neighbor Discovery, frames cut short) has no
 * signature and always goes to the pipeline. test/portio/flow-cache.test.ts checks the promise against
 * key-extract.ts on mutated frames.
 *
 * The table is open addressing over a power-of-two array with a short probe: an entry that finds no room
 * near its slot is not cached (the pipeline keeps handling it). A flush bumps the generation, which
 * retires every entry at once. Each entry counts its packets and bytes and its last use; a harvest hands
 * them to the datapath, which adds them to the flow entries and tables the decision went through. A
 * retired entry keeps its counts, and its slot, until the next harvest.
 */
#include "flowcache.h"

#include <stdlib.h>
#include <string.h>

#define PROBE 8

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

enum {
  ETH_VLAN = 0x8100, ETH_QINQ = 0x88a8, ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_ARP = 0x0806,
  P_ICMP = 1, P_TCP = 6, P_UDP = 17, P_SCTP = 132, P_ICMPV6 = 58,
};

/* The transport fields the key reads (key-extract.ts's extractL4), all of them or no signature. */
static int l4_sig(const uint8_t *f, size_t off, size_t end, uint8_t proto, uint8_t **s) {
  switch (proto) {
    case P_TCP:
    case P_UDP:
    case P_SCTP:
      if (off + 4 > end) return 0;
      memcpy(*s, f + off, 4);
      *s += 4;
      return 1;
    case P_ICMP:
      if (off + 2 > end) return 0;
      memcpy(*s, f + off, 2);
      *s += 2;
      return 1;
    case P_ICMPV6:
      if (off + 2 > end) return 0;
      /* Neighbor Discovery puts its target and link-layer options in the key: not cached */
      if (f[off] == 135 || f[off] == 136) return 0;
      memcpy(*s, f + off, 2);
      *s += 2;
      return 1;
    default:
      return 1; /* the key reads nothing past the IP header */
  }
}

int fc_signature(const uint8_t *f, size_t len, uint32_t in_no, uint8_t *sig) {
  uint8_t *s = sig;
  memcpy(s, &in_no, 4);
  s += 4;
  if (len < 14) return 0;
  size_t t = 12;
  uint16_t type = rd16(f + 12);
  for (int tags = 0; tags < 2 && (type == ETH_VLAN || type == ETH_QINQ); tags++) {
    if (t + 6 > len) return 0;
    t += 4;
    type = rd16(f + t);
  }
  if (type < 0x0600) return 0;
  size_t p = t + 2;
  /* addresses, tags and type: the priority bits of a tag are in the key, the rest of the TCI too */
  memcpy(s, f, p);
  s += p;
  switch (type) {
    case ETH_ARP:
      if (p + 28 > len) return 0;
      memcpy(s, f + p, 28);
      s += 28;
      break;
    case ETH_IPV4: {
      if (p + 20 > len) return 0;
      uint8_t vihl = f[p];
      size_t ihl = (size_t)(vihl & 15) * 4;
      if ((vihl >> 4) != 4 || ihl < 20 || p + ihl > len) return 0;
      size_t total = rd16(f + p + 2);
      if (total < ihl) return 0;
      if (rd16(f + p + 6) & 0x3fff) return 0; /* a fragment (more-fragments or an offset) */
      size_t end = p + total < len ? p + total : len;
      uint8_t proto = f[p + 9];
      *s++ = f[p + 1]; /* DSCP and ECN */
      *s++ = proto;
      memcpy(s, f + p + 12, 8); /* source and destination */
      s += 8;
      if (!l4_sig(f, p + ihl, end, proto, &s)) return 0;
      break;
    }
    case ETH_IPV6: {
      if (p + 40 > len || (f[p] >> 4) != 6) return 0;
      uint8_t nh = f[p + 6];
      /* extension headers (hop-by-hop, routing, fragment, ESP, AH, no next, destination options) */
      if (nh == 0 || nh == 43 || nh == 44 || nh == 50 || nh == 51 || nh == 59 || nh == 60) return 0;
      size_t payload = rd16(f + p + 4);
      size_t end = payload == 0 ? len : (p + 40 + payload < len ? p + 40 + payload : len);
      if (p + 40 > end) return 0;
      memcpy(s, f + p, 4); /* traffic class and flow label */
      s += 4;
      *s++ = nh;
      memcpy(s, f + p + 8, 32);
      s += 32;
      if (!l4_sig(f, p + 40, end, nh, &s)) return 0;
      break;
    }
    default:
      return 0;
  }
  return (int)(s - sig);
}

/* FNV-1a over the signature, then a final mix so that nearby signatures spread over the table. */
static uint32_t sig_hash(const uint8_t *sig, int n) {
  uint32_t h = 2166136261u;
  for (int i = 0; i < n; i++) h = (h ^ sig[i]) * 16777619u;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  return h;
}

int fc_init(fc_table_t *t, uint32_t slots) {
  uint32_t n = 64;
  while (n < slots && n < (1u << 20)) n <<= 1;
  memset(t, 0, sizeof *t);
  t->slots = calloc(n, sizeof *t->slots);
  t->dirty = calloc(n, sizeof *t->dirty);
  if (!t->slots || !t->dirty) {
    fc_free(t);
    return 0;
  }
  t->mask = n - 1;
  t->gen = 1; /* calloc'd slots have generation 0: none is live */
  return 1;
}

void fc_free(fc_table_t *t) {
  free(t->slots);
  free(t->dirty);
  t->slots = NULL;
  t->dirty = NULL;
}

fc_entry_t *fc_lookup(fc_table_t *t, const uint8_t *sig, int sig_len) {
  if (t->live == 0) return NULL;
  uint32_t h = sig_hash(sig, sig_len);
  for (uint32_t i = 0; i < PROBE; i++) {
    fc_entry_t *e = &t->slots[(h + i) & t->mask];
    if (e->gen == t->gen && e->hash == h && e->sig_len == sig_len && memcmp(e->sig, sig, (size_t)sig_len) == 0) return e;
  }
  return NULL;
}

int fc_install(fc_table_t *t, const uint8_t *sig, int sig_len, void *const *out, int n_out, uint32_t id) {
  if (sig_len <= 0 || sig_len > FC_SIG_MAX || n_out < 0 || n_out > FC_MAX_OUT) return 0;
  uint32_t h = sig_hash(sig, sig_len);
  fc_entry_t *free_slot = NULL;
  for (uint32_t i = 0; i < PROBE; i++) {
    fc_entry_t *e = &t->slots[(h + i) & t->mask];
    if (e->gen != t->gen) {
      if (!free_slot && !e->dirty) free_slot = e;
      continue;
    }
    if (e->hash == h && e->sig_len == sig_len && memcmp(e->sig, sig, (size_t)sig_len) == 0) {
      /* the same frame headers decided again (another frame of the batch that cached it): keep the counts
       * under the old id, which the datapath still knows until its next flush */
      return 1;
    }
  }
  if (!free_slot) {
    t->refused += 1;
    return 0;
  }
  free_slot->gen = t->gen;
  free_slot->hash = h;
  free_slot->id = id;
  free_slot->sig_len = (uint16_t)sig_len;
  memcpy(free_slot->sig, sig, (size_t)sig_len);
  free_slot->n_out = (uint8_t)n_out;
  for (int i = 0; i < n_out; i++) free_slot->out[i] = out[i];
  free_slot->packets = 0;
  free_slot->bytes = 0;
  free_slot->used_ms = 0;
  t->live += 1;
  t->installs += 1;
  return 1;
}

void fc_hit(fc_table_t *t, fc_entry_t *e, size_t len, uint64_t now_ms) {
  if (!e->dirty) {
    e->dirty = 1;
    t->dirty[t->n_dirty++] = (uint32_t)(e - t->slots);
  }
  e->packets += 1;
  e->bytes += len;
  e->used_ms = now_ms;
  t->hits += 1;
}

void fc_flush(fc_table_t *t) {
  /* counted entries keep their counts (and their slots) until the next harvest: a port that closes
   * flushes before the datapath has synced */
  t->live = 0;
  t->flushes += 1;
  if (++t->gen == 0) {
    /* after 2^32 flushes: start again with every slot retired by hand */
    for (uint32_t i = 0; i <= t->mask; i++) t->slots[i].gen = 0;
    t->gen = 1;
  }
}

int fc_harvest(fc_table_t *t, uint32_t *ids, double *packets, double *bytes, double *used_ms, int max) {
  int k = 0;
  while (t->n_dirty > 0 && k < max) {
    fc_entry_t *e = &t->slots[t->dirty[--t->n_dirty]];
    e->dirty = 0;
    ids[k] = e->id;
    packets[k] = (double)e->packets;
    bytes[k] = (double)e->bytes;
    used_ms[k] = (double)e->used_ms;
    e->packets = 0;
    e->bytes = 0;
    k++;
  }
  return k;
}
