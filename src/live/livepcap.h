/* Live libpcap capture on the mail host: the "any" pseudo-interface in
 * Linux cooked mode v2, which tells each packet's direction and
 * interface, filtered in the kernel to the SMTP ports. */
#ifndef RCPTGUARD_LIVEPCAP_H
#define RCPTGUARD_LIVEPCAP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "pipeline.h"

struct livepcap_stats {
	uint64_t packets;
	uint64_t kernel_drops;		/* pcap_stats ps_drop */
	uint64_t interface_drops;	/* pcap_stats ps_ifdrop */
};

struct livepcap;

struct livepcap *livepcap_open(const struct config *cfg, char *err, size_t errlen);
int livepcap_fd(const struct livepcap *l);
/* Join the packet fanout group: the kernel hands each packet to one
 * member, by a hash of the flow that is the same both ways (the flow
 * dissector's symmetric hash, Linux 4.2 and later), so a worker sees
 * both directions of its sessions. 0, or -1 with the reason. */
int livepcap_join_fanout(struct livepcap *l, uint16_t group, char *err, size_t errlen);
void livepcap_read(struct livepcap *l, struct pipeline *p);
/* Refresh the kernel's drop counters; returns how many were added. */
uint64_t livepcap_poll_drops(struct livepcap *l);
const struct livepcap_stats *livepcap_stats(const struct livepcap *l);
const char *livepcap_filter(const struct livepcap *l);
void livepcap_close(struct livepcap *l);

#endif
