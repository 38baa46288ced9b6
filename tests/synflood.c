/* synflood IFACE DST_MAC SERVER6 COUNT: COUNT TCP SYNs to SERVER6 port 25,
 * each from its own spoofed source in fd00:5f::/32, sent as Ethernet
 * frames on IFACE (the client's side of the lab) toward DST_MAC. Prints
 * how many went out. No handshake ever completes: there is nothing to
 * count, and rcptguard must neither grow past its caps nor ban. */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pcapw.h"

int main(int argc, char **argv)
{
	struct sockaddr_ll sll = { 0 };
	unsigned m[6];
	long count, sent = 0;
	int fd;

	if (argc != 5 || sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6 ||
	    (count = atol(argv[4])) < 1) {
		fprintf(stderr, "usage: synflood IFACE DST_MAC SERVER6 COUNT\n");
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("synflood: socket");
		return 1;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IPV6);
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	sll.sll_halen = 6;
	for (int i = 0; i < 6; i++)
		sll.sll_addr[i] = (unsigned char)m[i];
	if (!sll.sll_ifindex) {
		fprintf(stderr, "synflood: no interface %s\n", argv[1]);
		return 1;
	}
	for (long i = 0; i < count; i++) {
		struct tcpsess s;
		uint8_t frame[512];
		char src[64];
		uint32_t len;

		snprintf(src, sizeof(src), "fd00:5f:%lx:%lx::1", (i >> 16) & 0xffff, i & 0xffff);
		sess_init(&s, NULL, NULL, PW_EN10MB, src, (uint16_t)(1024 + i % 60000), argv[3], 25,
			  (uint32_t)i * 2654435761u, 0);
		len = sess_build(&s, CLI, 0x02, s.seq[CLI], 0, NULL, 0, frame);
		for (int k = 0; k < 6; k++)
			frame[k] = (uint8_t)m[k];
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)len)
			sent++;
	}
	printf("sent=%ld\n", sent);
	close(fd);
	return 0;
}
