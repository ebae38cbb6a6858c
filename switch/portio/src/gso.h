/* Software fallbacks for offloads: checksum completion and segmentation of GSO super-frames, for
 * output ports that cannot take a virtio-net header (see gso.c). */
#ifndef TINFLOW_GSO_H
#define TINFLOW_GSO_H
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_net.h>

#define VNET_HDR_LEN ((int)sizeof(struct virtio_net_hdr))
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* USO; older headers lack the name, kernels >= 6.2 use it */
#endif

/* Writes the frame described by (frame, len, hdr) as plain frames into out: one when it only needs its
 * checksum completed, several when it is a GSO super-frame. Returns the number of frames (their lengths
 * in seg_lens), or a negative errno: -EPROTONOSUPPORT for a layout it does not handle, -ENOSPC when out or
 * max_segs is too small, -EINVAL for inconsistent headers. */
int gso_to_frames(const uint8_t *frame, size_t len, const struct virtio_net_hdr *hdr, uint8_t *out, size_t out_cap,
                  uint32_t *seg_lens, int max_segs);

/* True when hdr asks for nothing (no GSO, no checksum to complete). */
static inline int vnet_hdr_is_plain(const struct virtio_net_hdr *hdr) {
  return hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE && !(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
}

#endif
