#include <rte_config.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_cycles.h>
#include <stdio.h>
#include <rte_log.h>
#include <rte_mbuf_dyn.h>
#include "shim.h"

uint16_t shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
void shim_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
void shim_pktmbuf_refcnt_update(struct rte_mbuf *m, int16_t delta) { rte_pktmbuf_refcnt_update(m, delta); }
uint16_t shim_mbuf_refcnt_read(const struct rte_mbuf *m) { return rte_mbuf_refcnt_read(m); }
char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
unsigned int shim_lcore_id(void) { return rte_lcore_id(); }
int shim_errno(void) { return rte_errno; }
uint64_t shim_rdtsc(void) { return rte_rdtsc(); }
void shim_log_to_stderr(void) { rte_openlog_stream(stderr); }

uint64_t shim_rss_ip(void) { return RTE_ETH_RSS_IP; }
uint64_t shim_rss_tcp(void) { return RTE_ETH_RSS_TCP; }
uint64_t shim_rss_udp(void) { return RTE_ETH_RSS_UDP; }
uint64_t shim_mbuf_fast_free_offload(void) { return RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE; }
uint64_t shim_rx_offload_timestamp(void) { return RTE_ETH_RX_OFFLOAD_TIMESTAMP; }
