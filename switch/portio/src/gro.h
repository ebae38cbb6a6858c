/* Receive coalescing of TCP/IPv4 segments into GSO super-frames (see gro.c). */
#ifndef TINFLOW_GRO_H
#define TINFLOW_GRO_H
#include <stddef.h>
#include <stdint.h>
#include "gso.h"

/* Merges runs of consecutive segments among the n frames at base + offs[i] (lens[i] bytes each, a
 * virtio-net header just before each frame). A merged frame grows in place, so each frame must have
 * room for cap bytes from its start. Compacts offs/lens and returns the new number of frames. */
int gro_merge(uint8_t *base, uint32_t *offs, uint32_t *lens, int n, size_t cap);

#endif
