//! `threshold` and `detection_filter`.

use super::*;

pub(super) fn parse_threshold(v: &str, kind: Option<ThresholdKind>) -> Result<Threshold, String> {
    let mut kind = kind;
    let mut track = None;
    let mut count = None;
    let mut seconds = None;
    for part in v.split(',').map(str::trim) {
        let (k, val) = part
            .split_once(char::is_whitespace)
            .ok_or(format!("expected 'name value' in {part:?}"))?;
        let val = val.trim();
        match k {
            "type" => {
                kind = Some(match val {
                    "limit" => ThresholdKind::Limit,
                    "threshold" => ThresholdKind::Threshold,
                    "both" => ThresholdKind::Both,
                    other => return Err(format!("unsupported type {other:?}")),
                })
            }
            "track" => {
                track = Some(match val {
                    "by_src" => Track::BySrc,
                    "by_dst" => Track::ByDst,
                    "by_rule" => Track::ByRule,
                    "by_both" => Track::ByBoth,
                    other => return Err(format!("unsupported track {other:?}")),
                })
            }
            "count" => count = Some(val.parse().map_err(|_| format!("bad count {val:?}"))?),
            "seconds" => seconds = Some(val.parse().map_err(|_| format!("bad seconds {val:?}"))?),
            other => return Err(format!("unsupported option {other:?}")),
        }
    }
    Ok(Threshold {
        kind: kind.ok_or("missing type")?,
        track: track.ok_or("missing track")?,
        count: count.ok_or("missing count")?,
        seconds: seconds.ok_or("missing seconds")?,
    })
}
