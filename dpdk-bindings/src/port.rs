//! Ethernet ports as a typestate: [`ConfiguredPort`] (queues set up) -> [`StartedPort`]
//! (running; hands out queue handles once) -> stopped and closed.
//!
//! [`PortId`] is a copyable name for a port that only reads: info, link, stats. It is what
//! a stats thread holds while workers own the queues.

use std::ffi::{CStr, CString};
use std::marker::PhantomData;

use crate::eal::Eal;
use crate::error::DpdkError;
use crate::mempool::Mempool;
use crate::queue::{RxQueue, TxQueue};
use crate::sys;

/// The symmetric RSS key (0x6D5A repeated): both directions of a flow hash alike.
pub static SYMMETRIC_RSS_KEY: [u8; 52] = {
    let mut key = [0u8; 52];
    let mut i = 0;
    while i < 52 {
        key[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    key
};

/// A port number known to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortId(u16);

/// What the driver says about a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Driver name, e.g. `net_pcap`.
    pub driver: String,
    /// Maximum rx queues.
    pub max_rx_queues: u16,
    /// Maximum tx queues.
    pub max_tx_queues: u16,
    /// RSS hash types the device supports (0: no RSS).
    pub rss_offloads: u64,
    /// RSS key length the device takes.
    pub rss_key_size: u8,
    /// NUMA socket (`None` when unknown).
    pub socket: Option<i32>,
    /// The device can stamp received packets with their time.
    pub rx_timestamp: bool,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mbit/s (0 when unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Basic counters kept by the driver (`rte_eth_stats`), with per-queue counts for the
/// queues the port has (up to DPDK's 16 per-queue counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the hardware dropped because no rx descriptor was free.
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Receives that failed for want of an mbuf.
    pub rx_nombuf: u64,
    /// Packets received per queue.
    pub q_ipackets: Vec<u64>,
    /// Packets sent per queue.
    pub q_opackets: Vec<u64>,
}

impl PortId {
    /// Looks a port up by its name: a PCI address (`0000:01:00.0`) or a vdev name
    /// (`net_pcap0`).
    pub fn by_name(_eal: &Eal, name: &str) -> Result<PortId, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::PortNotFound(name.to_owned()))?;
        let mut id = 0u16;
        // SAFETY: valid C string and out-pointer.
        let ret = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if ret < 0 {
            return Err(DpdkError::PortNotFound(name.to_owned()));
        }
        Ok(PortId(id))
    }

    /// Every port EAL probed, in port-number order.
    pub fn all(_eal: &Eal) -> Vec<PortId> {
        (0..sys::RTE_MAX_ETHPORTS as u16)
            // SAFETY: a validity check on any number is allowed.
            .filter(|&p| unsafe { sys::rte_eth_dev_is_valid_port(p) } != 0)
            .map(PortId)
            .collect()
    }

    /// The raw port number.
    pub fn raw(self) -> u16 {
        self.0
    }

    /// The port's name as EAL knows it.
    pub fn name(self) -> String {
        let mut buf = [0 as std::os::raw::c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: buffer of the size DPDK documents.
        let ret = unsafe { sys::rte_eth_dev_get_name_by_port(self.0, buf.as_mut_ptr()) };
        if ret < 0 {
            return format!("port{}", self.0);
        }
        // SAFETY: DPDK wrote a NUL-terminated name.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Driver capabilities.
    pub fn info(self) -> Result<PortInfo, DpdkError> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid out-pointer.
        let ret = unsafe { sys::rte_eth_dev_info_get(self.0, &mut info) };
        if ret < 0 {
            return Err(DpdkError::port(self.0, "rte_eth_dev_info_get", ret));
        }
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static C string.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: plain getter.
        let socket = unsafe { sys::rte_eth_dev_socket_id(self.0) };
        Ok(PortInfo {
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rss_offloads: info.flow_type_rss_offloads,
            rss_key_size: info.hash_key_size,
            socket: (socket >= 0).then_some(socket),
            // SAFETY: returns a constant.
            rx_timestamp: info.rx_offload_capa & unsafe { sys::shim_rx_offload_timestamp() } != 0,
        })
    }

    /// Link state, without waiting for autonegotiation.
    pub fn link(self) -> Result<LinkStatus, DpdkError> {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: valid out-pointer.
        let ret = unsafe { sys::rte_eth_link_get_nowait(self.0, &mut link) };
        if ret < 0 {
            return Err(DpdkError::port(self.0, "rte_eth_link_get_nowait", ret));
        }
        Ok(LinkStatus {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
            full_duplex: link.link_duplex() != 0,
        })
    }

    /// Basic counters. `queues` limits the per-queue vectors to the queues in use.
    pub fn stats(self, queues: u16) -> Result<PortStats, DpdkError> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid out-pointer.
        let ret = unsafe { sys::rte_eth_stats_get(self.0, &mut s) };
        if ret < 0 {
            return Err(DpdkError::port(self.0, "rte_eth_stats_get", ret));
        }
        let nq = usize::from(queues).min(sys::RTE_ETHDEV_QUEUE_STAT_CNTRS as usize);
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
            q_ipackets: s.q_ipackets[..nq].to_vec(),
            q_opackets: s.q_opackets[..nq].to_vec(),
        })
    }

    /// Extended counters as (name, value) pairs, in the driver's order.
    pub fn xstats(self) -> Result<Vec<(String, u64)>, DpdkError> {
        // SAFETY: a null buffer with size 0 asks for the count.
        let n = unsafe { sys::rte_eth_xstats_get_names(self.0, std::ptr::null_mut(), 0) };
        if n < 0 {
            return Err(DpdkError::port(self.0, "rte_eth_xstats_get_names", n));
        }
        let n_usize = n as usize;
        let mut names = vec![sys::rte_eth_xstat_name::default(); n_usize];
        let mut values = vec![sys::rte_eth_xstat::default(); n_usize];
        // SAFETY: buffers of n entries each.
        let got_names =
            unsafe { sys::rte_eth_xstats_get_names(self.0, names.as_mut_ptr(), n as u32) };
        // SAFETY: as above.
        let got_values = unsafe { sys::rte_eth_xstats_get(self.0, values.as_mut_ptr(), n as u32) };
        if got_names < 0 || got_values < 0 {
            return Err(DpdkError::port(
                self.0,
                "rte_eth_xstats_get",
                got_names.min(got_values),
            ));
        }
        let count = (got_names.min(got_values)) as usize;
        Ok(values[..count]
            .iter()
            .filter_map(|v| {
                let name = names.get(v.id as usize)?;
                // SAFETY: DPDK writes NUL-terminated names of at most RTE_ETH_XSTATS_NAME_SIZE.
                let name = unsafe { CStr::from_ptr(name.name.as_ptr()) }
                    .to_string_lossy()
                    .into_owned();
                Some((name, v.value))
            })
            .collect())
    }
}

/// How to configure a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive queues.
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
    /// Descriptors per receive queue (adjusted to the driver's limits).
    pub rx_descriptors: u16,
    /// Descriptors per transmit queue (adjusted to the driver's limits).
    pub tx_descriptors: u16,
    /// Accept every frame, not only those addressed to the port.
    pub promiscuous: bool,
}

/// How RSS was set up on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RssMode {
    /// One rx queue: no RSS needed.
    SingleQueue,
    /// Symmetric RSS with the 0x6D5A key over these hash types.
    Symmetric(u64),
    /// Several queues, but the device has no RSS: the driver spreads packets its own way.
    Unsupported,
}

/// A port whose queues are set up, not yet started.
#[derive(Debug)]
pub struct ConfiguredPort {
    id: PortId,
    rx_queues: u16,
    tx_queues: u16,
    rss: RssMode,
}

impl ConfiguredPort {
    /// Configures `id` with `config`: queues, symmetric RSS when there is more than one rx
    /// queue and the device supports it, and rx buffers from `pool`.
    pub fn configure(
        id: PortId,
        config: &PortConfig,
        pool: &Mempool,
    ) -> Result<ConfiguredPort, DpdkError> {
        let info = id.info()?;
        let port = id.raw();
        let mut conf = sys::rte_eth_conf::default();
        if info.rx_timestamp {
            // SAFETY: returns a constant.
            conf.rxmode.offloads |= unsafe { sys::shim_rx_offload_timestamp() };
        }
        // SAFETY: each returns a constant.
        let wanted_rss = unsafe { sys::shim_rss_ip() | sys::shim_rss_tcp() | sys::shim_rss_udp() };
        let rss = if config.rx_queues <= 1 {
            RssMode::SingleQueue
        } else if info.rss_offloads & wanted_rss != 0 {
            let hf = info.rss_offloads & wanted_rss;
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = SYMMETRIC_RSS_KEY.as_ptr() as *mut u8;
            conf.rx_adv_conf.rss_conf.rss_key_len = if info.rss_key_size == 0 {
                40
            } else {
                info.rss_key_size.min(SYMMETRIC_RSS_KEY.len() as u8)
            };
            conf.rx_adv_conf.rss_conf.rss_hf = hf;
            RssMode::Symmetric(hf)
        } else {
            RssMode::Unsupported
        };
        // SAFETY: conf is fully initialised; DPDK copies it (the key is static).
        let ret =
            unsafe { sys::rte_eth_dev_configure(port, config.rx_queues, config.tx_queues, &conf) };
        if ret < 0 {
            return Err(DpdkError::port(port, "rte_eth_dev_configure", ret));
        }
        let mut rx_desc = config.rx_descriptors;
        let mut tx_desc = config.tx_descriptors;
        // SAFETY: valid out-pointers.
        let ret =
            unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut rx_desc, &mut tx_desc) };
        if ret < 0 {
            return Err(DpdkError::port(
                port,
                "rte_eth_dev_adjust_nb_rx_tx_desc",
                ret,
            ));
        }
        let socket = info.socket.map_or(sys::SOCKET_ID_ANY as u32, |s| s as u32);
        for q in 0..config.rx_queues {
            // SAFETY: configured port; null rxconf means driver defaults; the pool lives forever.
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(
                    port,
                    q,
                    rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if ret < 0 {
                return Err(DpdkError::port(port, "rte_eth_rx_queue_setup", ret));
            }
        }
        for q in 0..config.tx_queues {
            // SAFETY: configured port; null txconf means driver defaults (no MBUF_FAST_FREE,
            // which would ignore the refcounts mirroring relies on).
            let ret =
                unsafe { sys::rte_eth_tx_queue_setup(port, q, tx_desc, socket, std::ptr::null()) };
            if ret < 0 {
                return Err(DpdkError::port(port, "rte_eth_tx_queue_setup", ret));
            }
        }
        if config.promiscuous {
            // SAFETY: configured port. Some virtual devices cannot change it; that is fine.
            let _ = unsafe { sys::rte_eth_promiscuous_enable(port) };
        }
        Ok(ConfiguredPort {
            id,
            rx_queues: config.rx_queues,
            tx_queues: config.tx_queues,
            rss,
        })
    }

    /// The port.
    pub fn id(&self) -> PortId {
        self.id
    }

    /// How RSS was set up.
    pub fn rss(&self) -> RssMode {
        self.rss
    }

    /// Starts the port.
    pub fn start(self) -> Result<StartedPort, DpdkError> {
        // SAFETY: configured port with all queues set up.
        let ret = unsafe { sys::rte_eth_dev_start(self.id.raw()) };
        if ret < 0 {
            return Err(DpdkError::port(self.id.raw(), "rte_eth_dev_start", ret));
        }
        Ok(StartedPort { port: self })
    }

    /// Releases the port (its queues and whatever buffers the driver still holds).
    pub fn close(self) -> Result<(), DpdkError> {
        // SAFETY: the port is stopped (this type exists only before start or after stop).
        let ret = unsafe { sys::rte_eth_dev_close(self.id.raw()) };
        if ret < 0 {
            return Err(DpdkError::port(self.id.raw(), "rte_eth_dev_close", ret));
        }
        Ok(())
    }
}

/// A running port. Queue handles borrow it mutably, so it cannot be stopped while a worker
/// still holds one.
#[derive(Debug)]
pub struct StartedPort {
    port: ConfiguredPort,
}

impl StartedPort {
    /// The port.
    pub fn id(&self) -> PortId {
        self.port.id
    }

    /// How RSS was set up.
    pub fn rss(&self) -> RssMode {
        self.port.rss
    }

    /// Number of rx queues.
    pub fn rx_queue_count(&self) -> u16 {
        self.port.rx_queues
    }

    /// Number of tx queues.
    pub fn tx_queue_count(&self) -> u16 {
        self.port.tx_queues
    }

    /// One handle per rx queue and one per tx queue. The handles borrow the port, so each
    /// queue has exactly one user while they live and the port outlives them.
    pub fn queues(&mut self) -> (Vec<RxQueue<'_>>, Vec<TxQueue<'_>>) {
        let port = self.port.id.raw();
        let rx = (0..self.port.rx_queues)
            .map(|q| RxQueue::new(port, q, PhantomData))
            .collect();
        let tx = (0..self.port.tx_queues)
            .map(|q| TxQueue::new(port, q, PhantomData))
            .collect();
        (rx, tx)
    }

    /// Stops the port; it can be closed afterwards.
    pub fn stop(self) -> Result<ConfiguredPort, DpdkError> {
        // SAFETY: started port and no queue handle is alive (they borrow `self`).
        let ret = unsafe { sys::rte_eth_dev_stop(self.port.id.raw()) };
        if ret < 0 {
            return Err(DpdkError::port(self.port.id.raw(), "rte_eth_dev_stop", ret));
        }
        Ok(self.port)
    }
}
