//! Candidate rules for a packet: the prefilter groups of its protocol, direction and
//! ports scanned over each of its buffers, plus the address-indexed rules of its hosts.

use super::*;

impl Engine {
    /// Gathers the candidate rules for the buffers `b` of a packet going to the server
    /// (`to_server`) or the client; `later` (the second and later DNS or HTTP messages of
    /// one segment) limits the scan to the message's own buffers.
    pub(super) fn collect_candidates(
        &mut self,
        ruleset: &Ruleset,
        facts: &PacketFacts,
        to_server: bool,
        b: &Buffers<'_>,
        later: bool,
    ) {
        self.candidates.clear();
        let transport = match facts.proto {
            IpProto::TCP => Transport::Tcp,
            IpProto::UDP => Transport::Udp,
            _ => Transport::Other,
        };
        // Nothing indexed for this packet's kind: no candidate, and no cache line of the
        // indexes touched.
        if (later || ruleset.by_address.is_empty()) && !ruleset.groups.has(transport, to_server) {
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamps.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        let (gen, stamps, cands) = (self.generation, &mut self.stamps, &mut self.candidates);
        let scratch = self.scratch.as_ref();
        let mut add = |r: u32| {
            let s = &mut stamps[r as usize];
            if *s != gen {
                *s = gen;
                cands.push(r);
            }
        };
        if !later {
            for ip in [&facts.src.0, &facts.dst.0] {
                ruleset.address_rules(*ip).iter().for_each(|&r| add(r));
            }
        }
        // A message's header buffers are scanned when its head completed in this packet;
        // its body whenever the packet added to it.
        let head = b.head_new && (b.request.is_some() || b.response.is_some());
        let ports = facts.has_ports.then_some((facts.src.1, facts.dst.1));
        for buffer in ruleset.groups.buffers(transport, to_server) {
            // Which buffers this packet can have, decided before touching their groups.
            let possible = match buffer {
                Buffer::DnsQuery | Buffer::DnsQueryDotted => b.dns.is_some(),
                Buffer::Payload => !later,
                Buffer::HttpRequestBody | Buffer::HttpResponseBody | Buffer::FileData => {
                    b.body.is_some()
                }
                // The handshake's buffers, when a part of it completed in this packet.
                other if other.tls_parts() != 0 => b.tls_new != 0,
                _ => head,
            };
            if !possible {
                continue;
            }
            // The group table first: resolving a buffer costs more than an empty lookup.
            let Some(port_groups) = ruleset.groups.get(transport, to_server, buffer) else {
                continue;
            };
            // Ciphertext: the payload's rules without a pattern still run (those that read
            // it fail verification), its matcher does not. A buffer with several
            // instances (certificates, names) is scanned one instance at a time.
            let one;
            let several: Vec<&[u8]>;
            let instances: &[&[u8]] = match buffer {
                Buffer::TlsCerts | Buffer::TlsSubjectAltName => {
                    several = {
                        let mut v = Vec::new();
                        b.any(buffer, |d| {
                            v.push(d);
                            false
                        });
                        v
                    };
                    &several
                }
                _ => match b.get(buffer) {
                    Some(data) => {
                        one = [data];
                        &one
                    }
                    None if buffer == Buffer::Payload => &[&[]],
                    None => continue,
                },
            };
            let min_end = match buffer {
                Buffer::Payload => b.seen,
                Buffer::HttpRequestBody | Buffer::HttpResponseBody | Buffer::FileData => {
                    b.body_seen
                }
                _ => 0,
            };
            let by_port = |p: u16| {
                if facts.has_ports && !port_groups.by_port.is_empty() {
                    port_groups.by_port.get(&p)
                } else {
                    None
                }
            };
            let same_port = facts.src.1 == facts.dst.1;
            let groups = [
                port_groups.any.as_ref(),
                by_port(facts.dst.1),
                if same_port {
                    None
                } else {
                    by_port(facts.src.1)
                },
            ];
            for &data in instances {
                for group in groups.into_iter().flatten() {
                    group.always.iter().for_each(|&r| add(r));
                    if let Some(names) = &group.names {
                        // `dns.query` is the dotted name without its dot: the same hashes, one on.
                        let hashes = match buffer {
                            Buffer::DnsQuery => b.dns_hashes.get(1..).unwrap_or(&[]),
                            _ => b.dns_hashes,
                        };
                        let add_all = |v: u32, _| {
                            group.name_rules[v as usize].iter().for_each(|&r| add(r));
                        };
                        if hashes.len() == data.len() {
                            names.for_each_match_hashed(data, hashes, add_all);
                        } else {
                            names.for_each_match(data, add_all);
                        }
                    }
                    // No new bytes (an empty segment, ciphertext): nothing for a matcher to find.
                    if data.len() <= min_end {
                        continue;
                    }
                    let on_port =
                        |p: u16| facts.has_ports && (p == facts.dst.1 || p == facts.src.1);
                    let mut hit = |pattern: usize| {
                        for &(r, port) in &group.pattern_rules[pattern] {
                            match port {
                                PortKey::Any => add(r),
                                PortKey::Port(p) if on_port(p) => add(r),
                                PortKey::Port(_) => {}
                            }
                        }
                    };
                    if let Some((matcher, ids)) = group.matcher_for(ports) {
                        // Of the stream bytes inspected before, only those a content ending in
                        // the new ones can start in are scanned again (long contents apart).
                        let from = min_end.saturating_sub(group.reach.saturating_sub(1));
                        let scanned = matcher.scan(&data[from..], scratch, |pattern, end| {
                            if from + end > min_end {
                                hit(match ids {
                                    Some(ids) => ids[pattern] as usize,
                                    None => pattern,
                                });
                            }
                        });
                        if !scanned {
                            self.counters.prefilter_failures += 1;
                        }
                    }
                    // Long contents that start further back and end in the new bytes.
                    if let Some(long) = group.long.as_deref() {
                        if let Some(w) = long.window(min_end, data.len()) {
                            let from = w.start;
                            let scanned = long.sub.matcher.scan(&data[w], scratch, |i, end| {
                                if from + end + long.extra[i] as usize > min_end {
                                    hit(long.sub.ids[i] as usize);
                                }
                            });
                            if !scanned {
                                self.counters.prefilter_failures += 1;
                            }
                        }
                    }
                }
            }
        }
    }
}
