//! Acting on verified matches: action order (pass before drop before alert), flowbits,
//! thresholds, the verdict, rejects and the EVE record of each alert.

use super::*;

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn act(
        &mut self,
        ruleset: &Arc<Ruleset>,
        matched: &mut [u32],
        facts: &PacketFacts,
        slot: usize,
        b: &Buffers<'_>,
        ctx: &PacketContext,
        dns: Option<&DnsMeta>,
    ) -> Decision {
        let alerted = self.flows.at(slot).alerted;
        if matched.is_empty() {
            return Decision {
                verdict: Verdict::Pass,
                mirror: alerted && self.config.mirror_alerted_flows,
            };
        }
        matched.sort_by_key(|&r| (ruleset.rules[r as usize].action, r));
        let first = ruleset.rules[matched[0] as usize].action;
        if first == Action::Pass {
            let passing = matched.iter().map(|&r| r as usize);
            passing
                .take_while(|&r| ruleset.rules[r].action == Action::Pass)
                .filter_map(|r| ruleset.hits.get(r))
                .for_each(|h| {
                    h.fetch_add(1, Ordering::Relaxed);
                });
            self.flows.at(slot).verdict = FlowVerdict::Pass;
            self.counters.pass_verdicts += 1;
            return Decision::PASS;
        }
        let mut blocking = false;
        let (flow_id, is_http) = {
            let f = self.flows.at(slot);
            (f.id, f.is_http)
        };
        for &r in matched.iter() {
            let rule = &ruleset.rules[r as usize];
            if let Some(h) = ruleset.hits.get(r as usize) {
                h.fetch_add(1, Ordering::Relaxed);
            }
            {
                let f = self.flows.at(slot);
                for fb in &rule.flowbits {
                    let value = match fb.op {
                        FlowbitOp::Set => Some(true),
                        FlowbitOp::Unset => Some(false),
                        FlowbitOp::Toggle => None,
                        FlowbitOp::IsSet | FlowbitOp::IsNotSet => continue,
                    };
                    fb.bits.iter().for_each(|&bit| f.set_bit(bit, value));
                }
                for fi in &rule.flowints {
                    match fi.op {
                        FlowintOp::Set(n) => f.update_int(&fi.name, |_| n),
                        FlowintOp::Add(n) => {
                            f.update_int(&fi.name, |v| v.unwrap_or(0).saturating_add(n))
                        }
                        FlowintOp::Sub(n) => {
                            f.update_int(&fi.name, |v| v.unwrap_or(0).saturating_sub(n))
                        }
                        _ => {}
                    }
                }

                if !rule.noalert {
                    f.alerted = true;
                }
            }
            blocking |= matches!(rule.action, Action::Drop | Action::Reject);
            if rule.action == Action::Reject && self.config.mode == Mode::Prevention {
                self.reject_pending = true;
            }
            if rule.noalert || !self.threshold_allows(r, rule, facts, ctx.ts_us) {
                continue;
            }
            self.counters.alerts += 1;
            if let Some(eve) = &self.eve {
                let prevention = self.config.mode == Mode::Prevention;
                let blocked = prevention && matches!(rule.action, Action::Drop | Action::Reject);
                eve.push(EveEvent::Alert(AlertEvent {
                    packet: packet_fields(facts, flow_id, ctx),
                    app_proto: if is_http {
                        Some("http")
                    } else if b.tls.is_some() {
                        Some("tls")
                    } else if dns.is_some() {
                        Some("dns")
                    } else {
                        None
                    },
                    source: AlertSource::Rule(r, Arc::clone(ruleset) as _),
                    action: AlertAction::of(blocked),
                    http: http_meta(b),
                    tls: b.tls.map(tls_meta),
                    dns: dns.map(|d| Box::new(d.clone())),
                }));
            }
        }
        if blocking {
            if self.config.mode == Mode::Prevention {
                self.flows.at(slot).verdict = FlowVerdict::Drop;
                self.counters.verdict_drops += 1;
            }
            let alerted = self.flows.at(slot).alerted;
            return self.drop_decision(alerted);
        }
        Decision {
            verdict: Verdict::Pass,
            mirror: self.config.mirror_alerted_flows && self.flows.at(slot).alerted,
        }
    }

    /// Applies `threshold` and `detection_filter`: whether this match may alert.
    fn threshold_allows(&mut self, r: u32, rule: &Rule, facts: &PacketFacts, now_us: u64) -> bool {
        let Some(t) = rule.threshold.or(rule.detection_filter) else {
            return true;
        };
        let unspecified = IpAddr::from([0, 0, 0, 0]);
        let key = match t.track {
            Track::BySrc => (r, facts.src.0, unspecified),
            Track::ByDst => (r, facts.dst.0, unspecified),
            Track::ByRule => (r, unspecified, unspecified),
            Track::ByBoth => (r, facts.src.0, facts.dst.0),
        };
        if self.thresholds.len() > 65_536 {
            self.thresholds.clear();
        }
        let window = u64::from(t.seconds) * 1_000_000;
        let entry = self.thresholds.entry(key).or_insert((now_us, 0));
        if now_us.saturating_sub(entry.0) >= window {
            *entry = (now_us, 0);
        }
        entry.1 += 1;
        let n = entry.1;
        match t.kind {
            ThresholdKind::Limit => n <= t.count,
            ThresholdKind::Threshold => n.is_multiple_of(t.count.max(1)),
            ThresholdKind::Both => n == t.count,
            ThresholdKind::DetectionFilter => n > t.count,
        }
    }
}

/// What EVE records say of the packet `facts` of flow `flow_id`.
pub(super) fn packet_fields(
    facts: &PacketFacts,
    flow_id: u64,
    ctx: &PacketContext,
) -> PacketFields {
    PacketFields {
        ts_us: ctx.ts_us,
        flow_id,
        port: ctx.port,
        src: facts.src,
        dst: facts.dst,
        proto: facts.proto,
        pcap_cnt: ctx.pcap_cnt,
    }
}

/// The EVE `tls` object of an alert on a flow whose handshake is `h`.
pub(super) fn tls_meta(h: &crate::proto::tls::Handshake) -> Box<TlsMeta> {
    use crate::events::{civil_time, HashAndString};
    use crate::proto::tls::hello::version_name;
    let cert = h.cert.as_ref();
    let fp = |f: &crate::proto::tls::Fingerprint| HashAndString {
        hash: f.hash.clone(),
        string: f.string.clone(),
    };
    let version = h
        .server
        .as_ref()
        .map(|s| s.version)
        .or(h.client.as_ref().map(|c| c.version));
    Box::new(TlsMeta {
        subject: cert.map(|c| c.subject.clone()),
        issuerdn: cert.map(|c| c.issuer.clone()),
        serial: cert.map(|c| c.serial.clone()),
        fingerprint: cert.map(|c| c.fingerprint.clone()),
        sni: h
            .client
            .as_ref()
            .and_then(|c| c.sni())
            .map(|s| String::from_utf8_lossy(s).into_owned()),
        version: version.map(version_name),
        notbefore: cert.map(|c| civil_time(c.not_before)),
        notafter: cert.map(|c| civil_time(c.not_after)),
        ja3: h.client.as_ref().map(|c| fp(&c.ja3)),
        ja3s: h.server.as_ref().map(|s| fp(&s.ja3s)),
        ja4: h.client.as_ref().map(|c| c.ja4.clone()),
    })
}

/// The EVE `http` object of an alert on buffers `b`, when they hold an HTTP message.
fn http_meta(b: &Buffers<'_>) -> Option<Box<HttpMeta>> {
    let req = b.request.or(b.tx_request);
    let resp = b.response;
    if req.is_none() && resp.is_none() {
        return None;
    }
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let protocol = resp.map(|s| s.protocol).or(req.map(|r| r.protocol));
    Some(Box::new(HttpMeta {
        hostname: req
            .and_then(|r| r.host)
            .map(|h| text(&h.to_ascii_lowercase())),
        url: req.map(|r| text(r.uri)),
        http_user_agent: req.and_then(|r| r.user_agent).map(text),
        http_content_type: resp
            .and_then(|s| s.content_type)
            .or(req.and_then(|r| r.content_type))
            .map(text),
        http_refer: req.and_then(|r| r.referer).map(text),
        http_method: req.map(|r| text(r.method)),
        protocol: protocol.filter(|p| !p.is_empty()).map(text),
        status: resp.and_then(|s| std::str::from_utf8(s.stat_code).ok()?.parse().ok()),
        length: resp.map(|_| b.body.map_or(0, <[u8]>::len)),
    }))
}
