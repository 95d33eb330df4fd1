/*
 * Out-of-line wrappers for DPDK's `static inline` functions and for flag macros
 * built with RTE_BIT64, which bindgen cannot see. Each is a one-line forward.
 */
#ifndef SENSOR_DPDK_SHIM_H
#define SENSOR_DPDK_SHIM_H
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

uint16_t shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *mp);
void shim_pktmbuf_free(struct rte_mbuf *m);
void shim_pktmbuf_refcnt_update(struct rte_mbuf *m, int16_t delta);
uint16_t shim_mbuf_refcnt_read(const struct rte_mbuf *m);
char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
unsigned int shim_lcore_id(void);
int shim_errno(void);
uint64_t shim_rdtsc(void);
void shim_log_to_stderr(void);

uint64_t shim_rss_ip(void);
uint64_t shim_rss_tcp(void);
uint64_t shim_rss_udp(void);
uint64_t shim_mbuf_fast_free_offload(void);
uint64_t shim_rx_offload_timestamp(void);
#endif
