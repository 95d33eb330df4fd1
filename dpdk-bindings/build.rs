//! Generates bindings against the installed DPDK and compiles the C shim.
//!
//! DPDK is found with pkg-config (`libdpdk` >= 22.11, Debian 12 ships 22.11). Only the
//! functions and types named in the allowlist below are bound; everything the safe layer
//! uses from a `static inline` function goes through `csrc/shim.c`.

// A build script reports a failure by panicking with the reason: cargo shows it.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// DPDK libraries the safe layer calls into directly. Poll-mode drivers are not linked:
/// EAL loads them as plugins from Debian's PMD directory at start-up.
const LIBS: &[&str] = &[
    "rte_ethdev",
    "rte_mbuf",
    "rte_mempool",
    "rte_ring",
    "rte_net",
    "rte_eal",
    "rte_kvargs",
];

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=csrc/wrapper.h");

    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(false)
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            panic!(
                "DPDK >= 22.11 not found through pkg-config ({e}); install Debian's \
                 dpdk-dev and libdpdk-dev (scripts/setup.sh does)"
            )
        });
    for path in &lib.link_paths {
        println!("cargo:rustc-link-search=native={}", path.display());
    }
    for name in LIBS {
        println!("cargo:rustc-link-lib=dylib={name}");
    }

    let cflags = raw_cflags();

    let mut build = cc::Build::new();
    build.file("csrc/shim.c").opt_level(3).warnings(false);
    for flag in &cflags {
        build.flag(flag);
    }
    build.compile("sensor_dpdk_shim");

    let mut bindings = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_args(cflags.iter().filter(|f| !f.starts_with("-march")))
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .derive_default(true)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false);
    for function in FUNCTIONS {
        bindings = bindings.allowlist_function(function);
    }
    for ty in TYPES {
        bindings = bindings.allowlist_type(ty);
    }
    for var in VARS {
        bindings = bindings.allowlist_var(var);
    }
    let bindings = bindings
        .generate()
        .expect("bindgen failed on DPDK's headers");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("writing bindings.rs");
}

/// `pkg-config --cflags libdpdk`, split into words (it carries `-include rte_config.h`
/// and `-march=...`, which the pkg-config crate does not expose).
fn raw_cflags() -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("running pkg-config");
    assert!(out.status.success(), "pkg-config --cflags libdpdk failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

const FUNCTIONS: &[&str] = &[
    "shim_.*",
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_strerror",
    "rte_socket_id",
    "rte_thread_register",
    "rte_thread_unregister",
    "rte_get_tsc_hz",
    "rte_pktmbuf_pool_create",
    "rte_pktmbuf_free_bulk",
    "rte_mbuf_dynfield_lookup",
    "rte_mbuf_dynflag_lookup",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_mempool_free",
    "rte_eth_dev_count_avail",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_info_get",
    "rte_eth_dev_socket_id",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_promiscuous_enable",
    "rte_eth_link_get_nowait",
    "rte_eth_stats_get",
    "rte_eth_xstats_get",
    "rte_eth_xstats_get_names",
    "rte_eth_macaddr_get",
];

const TYPES: &[&str] = &[
    "rte_mbuf",
    "rte_mempool",
    "rte_eth_conf",
    "rte_eth_dev_info",
    "rte_eth_rxconf",
    "rte_eth_txconf",
    "rte_eth_link",
    "rte_eth_stats",
    "rte_eth_xstat",
    "rte_eth_xstat_name",
    "rte_ether_addr",
    "rte_eth_rx_mq_mode",
    "rte_eth_tx_mq_mode",
];

const VARS: &[&str] = &[
    "RTE_MBUF_DEFAULT_BUF_SIZE",
    "RTE_PKTMBUF_HEADROOM",
    "RTE_ETHDEV_QUEUE_STAT_CNTRS",
    "RTE_ETH_NAME_MAX_LEN",
    "RTE_ETH_LINK_UP",
    "RTE_ETH_XSTATS_NAME_SIZE",
    "SOCKET_ID_ANY",
    "RTE_MAX_ETHPORTS",
];
