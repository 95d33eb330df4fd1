//! `sensor replay`: the same workers on DPDK's `net_pcap` devices, no NIC, no hugepages.
//!
//! Prevention: `net_pcap_in` reads the capture (what it transmits, the sensor's own
//! replies, goes to `--reply-out`) and is bridged to `net_pcap_out`, which transmits to
//! `--out` (its rx side reads an empty capture). Detection: only `net_pcap_in`. The
//! capture's packets are counted up front, and the run ends when the workers have handled
//! that many (or the input stalls, which is reported as an error).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

use crate::config::{Config, Mode};
use crate::datapath::StopWhen;
use crate::error::SensorError;

/// The vdev that reads the capture.
pub const INPUT_PORT: &str = "net_pcap_in";
/// The vdev whose transmissions go to `--out`.
pub const OUTPUT_PORT: &str = "net_pcap_out";

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct ReplayRequest {
    /// The capture to replay.
    pub pcap: PathBuf,
    /// Where forwarded packets go (prevention).
    pub out: Option<PathBuf>,
    /// Where packets the sensor sends back toward a sender go.
    pub reply_out: Option<PathBuf>,
    /// Overrides the configured mode.
    pub mode: Option<Mode>,
}

/// A replay ready to run: the rewritten config, EAL arguments, and the stop condition.
#[derive(Debug)]
pub struct ReplayPlan {
    /// The configuration with replay's ports.
    pub config: Config,
    /// EAL arguments: `eal.replay_args` plus the pcap vdevs.
    pub eal_args: Vec<String>,
    /// Ends the run when the capture has been handled.
    pub stop_when: StopWhen,
    /// Holds the scratch files (empty input, discarded outputs) until the run ends.
    _scratch: tempfile::TempDir,
}

/// The largest frame DPDK 22.11's `net_pcap` reads whole: it keeps a received frame's
/// length in 16 bits, so a longer one comes in as a chain whose length is wrong, and its
/// transmit then runs past its buffer.
pub const MAX_READ_FRAME: usize = 65_535;

/// The largest frame `net_pcap` writes whole: it gathers a chained frame into a
/// 16,128-byte buffer (`RTE_ETH_PCAP_SNAPLEN`) and writes only that much of it.
pub const MAX_WRITTEN_FRAME: usize = 16_128;

/// Which of `net_pcap`'s frame limits a capture passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameLimit {
    /// [`MAX_READ_FRAME`]: longer frames are not read whole.
    Read,
    /// [`MAX_WRITTEN_FRAME`]: longer frames are not written whole (prevention).
    Written,
}

/// Why a replay cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The capture cannot be read as pcap or pcapng.
    #[error("{}: {reason}", capture.display())]
    Capture {
        /// The capture.
        capture: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A frame longer than `net_pcap` carries whole.
    #[error("{}: packet {number} is {len} bytes; {}", capture.display(), match limit {
        FrameLimit::Read => format!("DPDK's net_pcap reads frames of at most {MAX_READ_FRAME} bytes"),
        FrameLimit::Written => format!(
            "DPDK's net_pcap writes at most {MAX_WRITTEN_FRAME} bytes of a frame, so the bridge \
             could not forward it whole (replay it in detection mode, or capture without \
             receive offloads)"
        ),
    })]
    FrameTooLong {
        /// The capture.
        capture: PathBuf,
        /// The frame's number, from 1.
        number: u64,
        /// Its length.
        len: usize,
        /// The limit it passes.
        limit: FrameLimit,
    },
    /// A path `net_pcap` cannot take (its device arguments split at commas).
    #[error("{0}: paths given to net_pcap cannot contain a comma")]
    CommaInPath(String),
    /// `--out` or `--reply-out` cannot be written: no such directory, or not a file.
    #[error("{}: {reason}", path.display())]
    Output {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be written.
        reason: String,
    },
    /// Fewer whole frames reached an output than were sent to it (a full disk: `net_pcap`
    /// does not report a failed write).
    #[error("{}: {written} whole frames written of {sent} sent (a full disk?)", path.display())]
    Unwritten {
        /// The output.
        path: PathBuf,
        /// Whole frames in it.
        written: u64,
        /// Frames the sensor transmitted to it.
        sent: u64,
    },
    /// The scratch directory could not be made.
    #[error("creating a scratch directory: {0}")]
    Scratch(String),
    /// An output capture could not be written.
    #[error("{}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
}

impl From<ReplayError> for SensorError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Scratch(_) | ReplayError::Write { .. } | ReplayError::Unwritten { .. } => {
                SensorError::Runtime(e.to_string())
            }
            _ => SensorError::Usage(e.to_string()),
        }
    }
}

/// Prepares a replay of `request` under `config`. A capture holding a frame `net_pcap`
/// cannot read whole, or (in prevention) cannot write whole to `--out`, is refused here
/// with the frame's number and length: a replay never reports as forwarded a frame it
/// did not carry as read.
pub fn plan(mut config: Config, request: &ReplayRequest) -> Result<ReplayPlan, ReplayError> {
    let capture = survey(&request.pcap)?;
    for out in [&request.out, &request.reply_out].into_iter().flatten() {
        writable_output(out)?;
    }
    let packets = capture.packets;
    if let Some(mode) = request.mode {
        config.mode = mode;
    }
    if let Some((number, len)) = capture.largest {
        let too_long = |limit| ReplayError::FrameTooLong {
            capture: request.pcap.clone(),
            number,
            len,
            limit,
        };
        if len > MAX_READ_FRAME {
            return Err(too_long(FrameLimit::Read));
        }
        if config.mode == Mode::Prevention && len > MAX_WRITTEN_FRAME {
            return Err(too_long(FrameLimit::Written));
        }
    }
    let scratch = tempfile::tempdir().map_err(|e| ReplayError::Scratch(e.to_string()))?;
    let empty = scratch.path().join("empty.pcap");
    write_empty_pcap(&empty)?;
    let reply = request
        .reply_out
        .clone()
        .unwrap_or_else(|| scratch.path().join("reply.pcap"));
    let out = request
        .out
        .clone()
        .unwrap_or_else(|| scratch.path().join("out.pcap"));

    config.ports.queues = 1;
    // A replay is faithful: baseline decisions see every earlier packet of the capture.
    config.baseline.lockstep = true;
    config.ports.mirror = None;
    config.workers.cores.truncate(1);
    let mut eal_args = config.eal.replay_args.clone();
    eal_args.push("--vdev".into());
    eal_args.push(format!(
        "{INPUT_PORT},rx_pcap={},tx_pcap={}",
        devarg_path(&request.pcap)?,
        devarg_path(&reply)?
    ));
    match config.mode {
        Mode::Prevention => {
            config.ports.span.clear();
            config.ports.bridge = vec![[INPUT_PORT.to_owned(), OUTPUT_PORT.to_owned()]];
            eal_args.push("--vdev".into());
            eal_args.push(format!(
                "{OUTPUT_PORT},rx_pcap={},tx_pcap={}",
                devarg_path(&empty)?,
                devarg_path(&out)?
            ));
        }
        Mode::Detection => {
            config.ports.bridge.clear();
            config.ports.span = vec![INPUT_PORT.to_owned()];
            // Nothing is forwarded in detection; an empty `--out` says so to tools.
            if request.out.is_some() {
                write_empty_pcap(&out)?;
            }
        }
    }
    Ok(ReplayPlan {
        config,
        eal_args,
        stop_when: StopWhen::InputConsumed {
            port: 0,
            packets,
            stall: Duration::from_secs(10),
        },
        _scratch: scratch,
    })
}

/// What [`survey`] found in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureSurvey {
    /// Packets in the file.
    pub packets: u64,
    /// The first of the longest frames: its number (from 1) and its captured length.
    pub largest: Option<(u64, usize)>,
}

impl CaptureSurvey {
    fn add(&mut self, len: usize) {
        self.packets += 1;
        if !matches!(self.largest, Some((_, longest)) if longest >= len) {
            self.largest = Some((self.packets, len));
        }
    }
}

/// Reads a pcap or pcapng file through: how many packets it holds and the longest.
pub fn survey(path: &Path) -> Result<CaptureSurvey, ReplayError> {
    let unreadable = |reason: String| ReplayError::Capture {
        capture: path.to_path_buf(),
        reason,
    };
    crate::files::regular(path).map_err(|e| unreadable(e.to_string()))?;
    let mut file = BufReader::new(File::open(path).map_err(|e| unreadable(e.to_string()))?);
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|_| unreadable("not a capture file (too short)".into()))?;
    let file = BufReader::new(File::open(path).map_err(|e| unreadable(e.to_string()))?);
    let mut found = CaptureSurvey::default();
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut reader = PcapNgReader::new(file).map_err(|e| unreadable(e.to_string()))?;
        while let Some(block) = reader.next_block() {
            match block.map_err(|e| unreadable(e.to_string()))? {
                Block::EnhancedPacket(p) => found.add(p.data.len()),
                Block::SimplePacket(p) => found.add(p.data.len()),
                Block::Packet(p) => found.add(p.data.len()),
                _ => {}
            }
        }
    } else {
        let mut reader = PcapReader::new(file).map_err(|e| unreadable(e.to_string()))?;
        // Raw records: a short snap length (original length above it) is a valid capture.
        while let Some(packet) = reader.next_raw_packet() {
            let packet = packet.map_err(|e| {
                let why = match e {
                    pcap_file::PcapError::IoError(io)
                        if io.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        "the file ends inside this record (a truncated capture)".to_owned()
                    }
                    other => other.to_string(),
                };
                unreadable(format!("packet {}: {why}", found.packets + 1))
            })?;
            found.add(packet.data.len());
        }
    }
    Ok(found)
}

/// Writes a pcap file with a header and no packets (Ethernet link type).
pub fn write_empty_pcap(path: &Path) -> Result<(), ReplayError> {
    let failed = |reason: String| ReplayError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::create(path).map_err(|e| failed(e.to_string()))?;
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    PcapWriter::with_header(file, header)
        .map(|_| ())
        .map_err(|e| failed(e.to_string()))
}

/// Checks after a replay that the capture `path` holds the `sent` frames whole.
pub fn check_written(path: &Path, sent: u64) -> Result<(), ReplayError> {
    let mut written = 0;
    if let Ok(mut reader) = File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|f| PcapReader::new(BufReader::new(f)).map_err(|e| e.to_string()))
    {
        while let Some(Ok(_)) = reader.next_raw_packet() {
            written += 1;
        }
    }
    if written == sent {
        Ok(())
    } else {
        Err(ReplayError::Unwritten {
            path: path.to_path_buf(),
            written,
            sent,
        })
    }
}

/// Checks before EAL that `net_pcap` will be able to create `path`: its directory exists
/// and nothing but a regular file is there (else the port fails to start with a message
/// about the port, not the path).
fn writable_output(path: &Path) -> Result<(), ReplayError> {
    let refused = |reason: String| ReplayError::Output {
        path: path.to_path_buf(),
        reason,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(refused(format!("no directory {}", dir.display())));
    }
    crate::files::regular_or_absent(path).map_err(|e| refused(e.to_string()))
}

/// A path as a device argument: DPDK splits device arguments at commas.
fn devarg_path(path: &Path) -> Result<String, ReplayError> {
    let s = path.to_string_lossy().into_owned();
    if s.contains(',') {
        return Err(ReplayError::CommaInPath(s));
    }
    Ok(s)
}
