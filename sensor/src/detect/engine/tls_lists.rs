//! Domain lists on TLS: a ClientHello whose server name is on a list is handled by the
//! list's action as a query for it would be. There is no DNS answer to forge, so in
//! prevention the blocking actions (`drop`, `nxdomain`, `nodata`, `sinkhole`) reset the
//! connection; the alert names the list and entry; the server's address joins the
//! answer watchlist, as an answer for the name would have. This closes the hole of
//! clients that resolve with a hard-coded resolver or over DNS over HTTPS.

use std::sync::Arc;

use super::dns_inspect::{sids, Builtin, DnsState};
use super::*;
use crate::names::domain_lists::ListAction;

impl Engine {
    /// Applies the domain lists to the server name of `handshake`'s ClientHello (which
    /// this packet completed) and returns the packet's decision.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sni_lists(
        &mut self,
        ruleset: &Ruleset,
        dns: &mut DnsState,
        handshake: &crate::proto::tls::Handshake,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
        decision: Decision,
    ) -> Decision {
        let Some(dotted) = handshake
            .client
            .as_ref()
            .and_then(|c| c.dotted_sni.as_ref())
        else {
            return decision;
        };
        let mut name = dotted.to_ascii_lowercase();
        if name.ends_with(b".") {
            name.pop();
        }
        let Some(hit) = ruleset.lists.lookup(&name) else {
            return decision;
        };
        if hit.entry.action == ListAction::Allow {
            self.counters.tls.sni_list_allowed += 1;
            return decision;
        }
        self.counters.tls.sni_list_hits += 1;
        let list = &ruleset.lists.lists[usize::from(hit.entry.list)];
        let acts = list.acts(hit.entry.action, self.config.mode == Mode::Prevention);
        let action = hit.entry.action.as_str();
        let entry = String::from_utf8_lossy(&name[hit.start + 1..]).into_owned();
        let server = String::from_utf8_lossy(&name[1..]).into_owned();
        if self.config.dns.watch {
            let item = WatchItem {
                addr: facts.dst.0,
                expires_us: ctx.ts_us + u64::from(self.config.dns.watch_max_secs) * 1_000_000,
                name: server.as_str().into(),
                origin: Arc::clone(&list.origin),
            };
            let bus = self.config.watch_bus.clone();
            dns.watch_address(
                item,
                bus.as_deref(),
                self.config.dns.watch_capacity,
                ctx.ts_us,
            );
            self.counters.watched_addresses += 1;
        }
        self.builtin_alert(facts, slot, ctx, || Builtin {
            sid: sids::SNI_LIST,
            signature: format!(
                "SENSOR TLS server name on list {}: {server} ({action})",
                list.name
            ),
            detail_key: "dns_list",
            detail: {
                let mut d = list.hit_detail(&entry, hit.entry.action);
                d["seen_in"] = "tls.sni".into();
                d
            },
            blocked: acts,
            dns: None,
            tls: Some(act::tls_meta(handshake)),
        });
        if !acts {
            return decision;
        }
        self.counters.verdict_drops += 1;
        self.reject_pending = true;
        self.flows.at(slot).verdict = FlowVerdict::Drop;
        Decision {
            verdict: Verdict::Drop,
            mirror: false,
        }
    }
}
