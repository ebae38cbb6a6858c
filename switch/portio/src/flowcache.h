/* The datapath's flow cache in C (see flowcache.c): frame signatures and the table of cached decisions. */
#ifndef TINFLOW_FLOWCACHE_H
#define TINFLOW_FLOWCACHE_H
#include <stddef.h>
#include <stdint.h>

/* Bytes of a signature at most: in port 4, Ethernet with two tags 22, IPv6 37, transport 4. */
#define FC_SIG_MAX 72
/* Outputs one cached decision holds at most (a flood on a bigger bridge is not cached). */
#define FC_MAX_OUT 16

/* The signature of a frame entering by port in_no, into sig (FC_SIG_MAX bytes): its length, or 0 when
 * the frame is not one the cache takes (see flowcache.c for which, and why equal signatures mean equal
 * flow keys). */
int fc_signature(const uint8_t *frame, size_t len, uint32_t in_no, uint8_t *sig);

typedef struct fc_entry {
  uint32_t gen;           /* live while equal to the table's generation */
  uint32_t hash;
  uint32_t id;            /* the datapath's name for the decision, returned by harvests */
  uint16_t sig_len;
  uint8_t n_out;
  uint8_t dirty;          /* on the dirty list: counted since the last harvest */
  uint8_t sig[FC_SIG_MAX];
  void *out[FC_MAX_OUT];  /* the output ports, in order (portio.c's port_t) */
  uint64_t packets, bytes; /* since the last harvest */
  uint64_t used_ms;       /* CLOCK_MONOTONIC milliseconds of the last hit */
} fc_entry_t;

typedef struct fc_table {
  uint32_t gen;
  uint32_t mask;          /* slots - 1 (a power of two) */
  uint32_t live;          /* entries installed in this generation */
  fc_entry_t *slots;
  uint32_t *dirty;        /* slots hit since the last harvest */
  uint32_t n_dirty;
  double hits, misses, installs, refused, flushes;
} fc_table_t;

/* A table of `slots` entries (rounded up to a power of two); 0 when out of memory. */
int fc_init(fc_table_t *t, uint32_t slots);
void fc_free(fc_table_t *t);
/* The live entry for a signature, or NULL. */
fc_entry_t *fc_lookup(fc_table_t *t, const uint8_t *sig, int sig_len);
/* Caches a decision; replaces the entry of the same signature. 0 when its neighbourhood is full. */
int fc_install(fc_table_t *t, const uint8_t *sig, int sig_len, void *const *out, int n_out, uint32_t id);
/* Counts a hit of frame length len at now_ms. */
void fc_hit(fc_table_t *t, fc_entry_t *e, size_t len, uint64_t now_ms);
/* Retires every entry; those with counts keep them for the next harvest. */
void fc_flush(fc_table_t *t);
/* Takes up to max counted entries' (id, packets, bytes, used_ms), zeroing their counts. Returns how many. */
int fc_harvest(fc_table_t *t, uint32_t *ids, double *packets, double *bytes, double *used_ms, int max);
#endif
