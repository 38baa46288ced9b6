#include "livepcap.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define PCAP_BATCH 512

struct livepcap {
	pcap_t *pc;
	int dlt;
	char filter[512];
	struct livepcap_stats st;
	struct pipeline *p;
};

struct livepcap *livepcap_open(const struct config *cfg, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct livepcap *l = xcalloc(1, sizeof(*l));
	struct bpf_program prog;
	size_t o;

	l->pc = pcap_create("any", ebuf);
	if (!l->pc) {
		snprintf(err, errlen, "pcap: %s", ebuf);
		goto fail;
	}
	/* Whole segments; immediate delivery; a kernel ring of the configured
	 * size (TPACKET_V3 under libpcap). */
	pcap_set_snaplen(l->pc, 262144);
	pcap_set_immediate_mode(l->pc, 1);
	pcap_set_buffer_size(l->pc, (int)cfg->pcap_buffer);
	pcap_set_tstamp_precision(l->pc, PCAP_TSTAMP_PRECISION_MICRO);
	if (pcap_activate(l->pc) < 0) {
		snprintf(err, errlen, "pcap on any: %s%s", pcap_geterr(l->pc),
			 strstr(pcap_geterr(l->pc), "ermission") ? " (needs CAP_NET_RAW)" : "");
		goto fail;
	}
	/* Cooked v2 carries the packet type (outgoing or not) and the
	 * interface index; v1 at least the packet type. */
	if (pcap_set_datalink(l->pc, LINK_LINUX_SLL2) != 0)
		pcap_set_datalink(l->pc, LINK_LINUX_SLL);
	l->dlt = pcap_datalink(l->pc);
	o = (size_t)snprintf(l->filter, sizeof(l->filter), "tcp and (");
	for (size_t i = 0; i < cfg->nports; i++)
		o += (size_t)snprintf(l->filter + o, sizeof(l->filter) - o, "%sport %u",
				      i ? " or " : "", cfg->ports[i]);
	o += (size_t)snprintf(l->filter + o, sizeof(l->filter) - o, ")");
	if (strcmp(cfg->interface, "any") != 0) {
		unsigned idx = if_nametoindex(cfg->interface);

		if (!idx) {
			snprintf(err, errlen, "no interface named %s", cfg->interface);
			goto fail;
		}
		if (l->dlt != LINK_LINUX_SLL2) {
			snprintf(err, errlen, "interface = %s needs Linux cooked capture v2", cfg->interface);
			goto fail;
		}
		snprintf(l->filter + o, sizeof(l->filter) - o, " and ifindex %u", idx);
	}
	if (pcap_compile(l->pc, &prog, l->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "filter '%s': %s", l->filter, pcap_geterr(l->pc));
		goto fail;
	}
	if (pcap_setfilter(l->pc, &prog) < 0) {
		pcap_freecode(&prog);
		snprintf(err, errlen, "filter: %s", pcap_geterr(l->pc));
		goto fail;
	}
	pcap_freecode(&prog);
	if (pcap_setnonblock(l->pc, 1, ebuf) < 0) {
		snprintf(err, errlen, "pcap: %s", ebuf);
		goto fail;
	}
	return l;
fail:
	livepcap_close(l);
	return NULL;
}

int livepcap_fd(const struct livepcap *l)
{
	return pcap_get_selectable_fd(l->pc);
}

int livepcap_join_fanout(struct livepcap *l, uint16_t group, char *err, size_t errlen)
{
	/* Fragments reassembled first, so that they hash as their flow. */
	int arg = group | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);

	if (setsockopt(pcap_fileno(l->pc), SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0) {
		snprintf(err, errlen, "pcap: cannot join packet fanout group %u: %s", group, strerror(errno));
		return -1;
	}
	return 0;
}

const char *livepcap_filter(const struct livepcap *l)
{
	return l->filter;
}

static void on_frame(u_char *arg, const struct pcap_pkthdr *h, const u_char *d)
{
	struct livepcap *l = (struct livepcap *)arg;

	l->st.packets++;
	pipeline_frame(l->p, (usec_t)h->ts.tv_sec * USEC_PER_SEC + h->ts.tv_usec, l->dlt, d, h->caplen);
}

void livepcap_read(struct livepcap *l, struct pipeline *p)
{
	l->p = p;
	/* A bounded number of batches, so the loop stays responsive. */
	for (int i = 0; i < 8; i++)
		if (pcap_dispatch(l->pc, PCAP_BATCH, on_frame, (u_char *)l) < PCAP_BATCH)
			break;
	l->p = NULL;
}

uint64_t livepcap_poll_drops(struct livepcap *l)
{
	struct pcap_stat ps;
	uint64_t before = l->st.kernel_drops + l->st.interface_drops;

	if (pcap_stats(l->pc, &ps) == 0) {
		l->st.kernel_drops = ps.ps_drop;
		l->st.interface_drops = ps.ps_ifdrop;
	}
	return l->st.kernel_drops + l->st.interface_drops - before;
}

const struct livepcap_stats *livepcap_stats(const struct livepcap *l)
{
	return &l->st;
}

void livepcap_close(struct livepcap *l)
{
	if (!l)
		return;
	if (l->pc)
		pcap_close(l->pc);
	free(l);
}
