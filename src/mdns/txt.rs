//! The TXT record of a peerdisc DNS-SD service: building it within the size
//! limits and parsing it strictly.
//!
//! Entries (RFC 6763 section 6: `key=value`, keys case-insensitive):
//!
//! | key | value | example |
//! |---|---|---|
//! | `id` | the node id (1..128 bytes of `[A-Za-z0-9._:-]`) | `id=node-1f2e...` |
//! | `pv` | the wire protocol version, decimal | `pv=1` |
//! | `wsport` | the WebSocket port, decimal 1..65535 | `wsport=7400` |
//! | `path` | the WebSocket path, `/` then visible ASCII, at most 200 bytes | `path=/peerdisc` |
//! | `caps` | optional short capability summary (below) | `caps=a/planner,t/search,+3` |
//!
//! The capability summary lists `kind/name` items (`a` agent, `t` tool, `r`
//! resource, `p` prompt; the name percent-encoded except for letters,
//! digits and `-._~:@`), separated by commas, as many whole items as fit in
//! 200 bytes (less when the record would pass 400 bytes), then `+N` when N
//! items were left out. It is a hint for humans and other DNS-SD browsers;
//! the full capabilities travel over the protocol once the node is
//! confirmed.
//!
//! Each entry is at most 255 bytes (its length byte), the whole record at
//! most 400 bytes (RFC 6763 section 6.2 recommends keeping it small).
//! Unknown keys are kept (for later versions) but not interpreted.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::MdnsError;
use crate::model::limits::MAX_CAPABILITY_NAME_LEN;
use crate::model::{Capabilities, CapabilityKind, NodeId};

/// Key of the node id entry.
pub const KEY_ID: &str = "id";
/// Key of the protocol version entry.
pub const KEY_PROTOCOL_VERSION: &str = "pv";
/// Key of the WebSocket port entry.
pub const KEY_WS_PORT: &str = "wsport";
/// Key of the WebSocket path entry.
pub const KEY_PATH: &str = "path";
/// Key of the capability summary entry.
pub const KEY_CAPS: &str = "caps";

/// Longest TXT entry (`key=value`), set by its one length byte.
pub const MAX_ENTRY_BYTES: usize = 255;
/// Longest TXT record this crate publishes or accepts (length bytes
/// included).
pub const MAX_RECORD_BYTES: usize = 400;
/// Longest capability summary value.
pub const MAX_CAPS_BYTES: usize = 200;
/// Longest WebSocket path that can be published.
pub const MAX_PATH_BYTES: usize = 200;

/// What a peerdisc TXT record says, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTxt {
    /// The node id the service claims (the `hello` confirms it).
    pub node_id: NodeId,
    /// The wire protocol version it speaks.
    pub protocol_version: u32,
    /// Its WebSocket port.
    pub ws_port: u16,
    /// Its WebSocket path.
    pub path: String,
    /// Its capability summary, when given.
    pub caps: Option<CapsSummary>,
}

/// A parsed capability summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapsSummary {
    /// The listed capabilities, in order.
    pub items: Vec<(CapabilityKind, String)>,
    /// How many were left out for lack of room.
    pub omitted: usize,
}

/// Bytes a record of these entries takes on the wire (one length byte per
/// entry plus `key=value`).
pub fn record_bytes(entries: &[(String, String)]) -> usize {
    entries.iter().map(|(k, v)| 1 + entry_bytes(k, v)).sum()
}

fn entry_bytes(key: &str, value: &str) -> usize {
    key.len() + 1 + value.len()
}

/// Builds the TXT entries of this node, in publishing order. The
/// capability summary shrinks to keep the record within
/// [`MAX_RECORD_BYTES`]; everything else must fit or this fails.
pub fn build(
    node_id: &NodeId,
    protocol_version: u32,
    ws_port: u16,
    path: &str,
    caps: &Capabilities,
) -> Result<Vec<(String, String)>, MdnsError> {
    check_path(path)?;
    if ws_port == 0 {
        return Err(MdnsError::Txt {
            key: KEY_WS_PORT.into(),
            reason: "port 0 cannot be dialled".into(),
        });
    }
    let mut entries = vec![
        (KEY_ID.to_string(), node_id.as_str().to_string()),
        (
            KEY_PROTOCOL_VERSION.to_string(),
            protocol_version.to_string(),
        ),
        (KEY_WS_PORT.to_string(), ws_port.to_string()),
        (KEY_PATH.to_string(), path.to_string()),
    ];
    for (k, v) in &entries {
        if entry_bytes(k, v) > MAX_ENTRY_BYTES {
            return Err(MdnsError::TxtTooLarge(format!(
                "entry {k:?} is {} bytes (at most {MAX_ENTRY_BYTES})",
                entry_bytes(k, v)
            )));
        }
    }
    let used = record_bytes(&entries);
    // Room for "caps=" plus its length byte.
    let room = MAX_RECORD_BYTES
        .checked_sub(used + 1 + KEY_CAPS.len() + 1)
        .ok_or_else(|| {
            MdnsError::TxtTooLarge(format!(
                "the record is {used} bytes without capabilities (at most {MAX_RECORD_BYTES})"
            ))
        })?;
    if !caps.is_empty() {
        let summary = summarize_caps(caps, room.min(MAX_CAPS_BYTES));
        if !summary.is_empty() {
            entries.push((KEY_CAPS.to_string(), summary));
        }
    }
    debug_assert!(record_bytes(&entries) <= MAX_RECORD_BYTES);
    Ok(entries)
}

/// Checks that `path` can be published as the TXT `path` entry.
pub fn check_path(path: &str) -> Result<(), MdnsError> {
    let bad = |reason: &str| {
        Err(MdnsError::Txt {
            key: KEY_PATH.into(),
            reason: reason.into(),
        })
    };
    if !path.starts_with('/') {
        return bad("must start with '/'");
    }
    if path.len() > MAX_PATH_BYTES {
        return bad("longer than 200 bytes");
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) || path.contains(['?', '#', '%']) {
        return bad("only visible ASCII without '?', '#' or '%' is allowed");
    }
    Ok(())
}

fn kind_letter(k: CapabilityKind) -> char {
    match k {
        CapabilityKind::Agent => 'a',
        CapabilityKind::Tool => 't',
        CapabilityKind::Resource => 'r',
        CapabilityKind::Prompt => 'p',
    }
}

fn kind_of(letter: &str) -> Option<CapabilityKind> {
    Some(match letter {
        "a" => CapabilityKind::Agent,
        "t" => CapabilityKind::Tool,
        "r" => CapabilityKind::Resource,
        "p" => CapabilityKind::Prompt,
        _ => return None,
    })
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'@')
}

fn encode_name(name: &str, out: &mut String) {
    for b in name.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn decode_name(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
                out.push(hex);
                i += 3;
            }
            b if unreserved(b) => {
                out.push(b);
                i += 1;
            }
            b => return Err(format!("byte 0x{b:02x} must be percent-encoded in {s:?}")),
        }
    }
    let name = String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8"))?;
    if name.is_empty() || name.len() > MAX_CAPABILITY_NAME_LEN {
        return Err(format!("capability name of {} bytes", name.len()));
    }
    Ok(name)
}

/// The capability summary of `caps` in at most `budget` bytes: as many
/// whole `kind/name` items as fit, then `+N` for the rest. Empty when not
/// even the `+N` fits.
pub fn summarize_caps(caps: &Capabilities, budget: usize) -> String {
    let total = caps.len();
    let mut out = String::new();
    let mut listed = 0;
    let mut item = String::new();
    for (kind, cap) in caps.iter() {
        item.clear();
        item.push(kind_letter(kind));
        item.push('/');
        encode_name(cap.name(), &mut item);
        let sep = usize::from(!out.is_empty());
        let left = total - listed - 1;
        // Keep room for ",+N" if something would still be left out.
        let tail = if left > 0 {
            2 + left.to_string().len()
        } else {
            0
        };
        if out.len() + sep + item.len() + tail > budget {
            break;
        }
        if sep == 1 {
            out.push(',');
        }
        out.push_str(&item);
        listed += 1;
    }
    let omitted = total - listed;
    if omitted > 0 {
        let tail = format!("{}+{omitted}", if out.is_empty() { "" } else { "," });
        if out.len() + tail.len() <= budget {
            out.push_str(&tail);
        }
    }
    out
}

/// Parses a capability summary strictly.
pub fn parse_caps(s: &str) -> Result<CapsSummary, String> {
    let mut summary = CapsSummary::default();
    if s.is_empty() {
        return Ok(summary);
    }
    let parts: Vec<&str> = s.split(',').collect();
    for (i, part) in parts.iter().enumerate() {
        if let Some(n) = part.strip_prefix('+') {
            if i + 1 != parts.len() {
                return Err("\"+N\" must come last".into());
            }
            summary.omitted = parse_decimal(n)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("bad count {part:?}"))?;
            continue;
        }
        let (k, name) = part
            .split_once('/')
            .ok_or_else(|| format!("item {part:?} is not kind/name"))?;
        let kind = kind_of(k).ok_or_else(|| format!("unknown kind {k:?}"))?;
        summary.items.push((kind, decode_name(name)?));
    }
    Ok(summary)
}

/// A strict unsigned decimal: digits only, no sign, no leading zeros
/// (except "0"), at most 10 digits.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Turns raw TXT entries (as received: key, optional value bytes) into a
/// map with lower-case keys. The first occurrence of a key wins (RFC 6763
/// section 6.4). Fails on a non-UTF-8 value of a known key, on an oversized
/// entry or record.
pub fn entries_to_map<'a>(
    raw: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> Result<BTreeMap<String, String>, MdnsError> {
    let mut map = BTreeMap::new();
    let mut total = 0;
    for (key, value) in raw {
        let len = key.len() + value.map_or(0, |v| v.len() + 1);
        if len > MAX_ENTRY_BYTES {
            return Err(MdnsError::TxtTooLarge(format!(
                "entry {key:?} is {len} bytes"
            )));
        }
        total += 1 + len;
        let key = key.to_ascii_lowercase();
        if map.contains_key(&key) {
            continue;
        }
        let value = match value {
            None => String::new(),
            Some(v) => match std::str::from_utf8(v) {
                Ok(s) => s.to_string(),
                Err(_) if !is_known_key(&key) => String::from_utf8_lossy(v).into_owned(),
                Err(_) => {
                    return Err(MdnsError::Txt {
                        key,
                        reason: "value is not UTF-8".into(),
                    })
                }
            },
        };
        map.insert(key, value);
    }
    // Senders may pad with other keys; refuse only what is far off.
    if total > 2 * MAX_RECORD_BYTES {
        return Err(MdnsError::TxtTooLarge(format!(
            "the record is {total} bytes"
        )));
    }
    Ok(map)
}

fn is_known_key(k: &str) -> bool {
    matches!(
        k,
        KEY_ID | KEY_PROTOCOL_VERSION | KEY_WS_PORT | KEY_PATH | KEY_CAPS
    )
}

/// Parses a TXT map (lower-case keys, see [`entries_to_map`]) strictly:
/// `id`, `pv`, `wsport` and `path` are required and must be well formed;
/// `caps`, when present, too.
pub fn parse(map: &BTreeMap<String, String>) -> Result<ServiceTxt, MdnsError> {
    let get = |key: &str| {
        map.get(key).ok_or_else(|| MdnsError::Txt {
            key: key.into(),
            reason: "missing".into(),
        })
    };
    let bad = |key: &str, reason: String| MdnsError::Txt {
        key: key.into(),
        reason,
    };
    let node_id = NodeId::new(get(KEY_ID)?).map_err(|e| bad(KEY_ID, e.to_string()))?;
    let pv = get(KEY_PROTOCOL_VERSION)?;
    let protocol_version = parse_decimal(pv)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad(KEY_PROTOCOL_VERSION, format!("{pv:?} is not a version")))?;
    let port = get(KEY_WS_PORT)?;
    let ws_port = parse_decimal(port)
        .and_then(|v| u16::try_from(v).ok())
        .filter(|&p| p != 0)
        .ok_or_else(|| bad(KEY_WS_PORT, format!("{port:?} is not a port 1..65535")))?;
    let path = get(KEY_PATH)?.clone();
    check_path(&path)?;
    let caps = match map.get(KEY_CAPS) {
        None => None,
        Some(c) => Some(parse_caps(c).map_err(|e| bad(KEY_CAPS, e))?),
    };
    Ok(ServiceTxt {
        node_id,
        protocol_version,
        ws_port,
        path,
        caps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Capability;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    fn caps(n: usize, name_len: usize) -> Capabilities {
        let mut c = Capabilities::default();
        for i in 0..n {
            let name = format!("{i:0>width$}", width = name_len);
            c.tools.push(Capability::new(name));
        }
        c
    }

    fn map(entries: &[(String, String)]) -> BTreeMap<String, String> {
        entries.iter().cloned().collect()
    }

    #[test]
    fn build_then_parse_round_trips() {
        let mut c = Capabilities::default();
        c.agents.push(Capability::new("planner"));
        c.tools.push(Capability::new("web search, fast"));
        c.prompts.push(Capability::new("résumé"));
        let e = build(&id("node-1"), 1, 7400, "/peerdisc", &c).unwrap();
        let t = parse(&map(&e)).unwrap();
        assert_eq!(t.node_id, id("node-1"));
        assert_eq!((t.protocol_version, t.ws_port), (1, 7400));
        assert_eq!(t.path, "/peerdisc");
        let s = t.caps.unwrap();
        assert_eq!(s.omitted, 0);
        assert_eq!(
            s.items,
            vec![
                (CapabilityKind::Agent, "planner".into()),
                (CapabilityKind::Tool, "web search, fast".into()),
                (CapabilityKind::Prompt, "résumé".into()),
            ]
        );
        assert!(e
            .iter()
            .any(|(k, v)| k == "caps" && v.contains("web%20search%2C%20fast")));
    }

    #[test]
    fn no_caps_means_no_entry() {
        let e = build(&id("n"), 1, 1, "/", &Capabilities::default()).unwrap();
        assert!(!e.iter().any(|(k, _)| k == KEY_CAPS));
        assert_eq!(parse(&map(&e)).unwrap().caps, None);
    }

    #[test]
    fn limits_hold_for_the_largest_inputs() {
        let long_id = "x".repeat(128);
        let long_path = format!("/{}", "p".repeat(MAX_PATH_BYTES - 1));
        for n in [1, 5, 50, 4096] {
            for len in [1, 20, 128] {
                let e = build(&id(&long_id), 1, 65535, &long_path, &caps(n, len)).unwrap();
                assert!(record_bytes(&e) <= MAX_RECORD_BYTES, "{n} x {len}");
                for (k, v) in &e {
                    assert!(entry_bytes(k, v) <= MAX_ENTRY_BYTES);
                }
                let t = parse(&map(&e)).unwrap();
                if let Some(s) = t.caps {
                    assert_eq!(s.items.len() + s.omitted, n);
                }
                let e = build(&id("n"), 1, 7400, "/peerdisc", &caps(n, len)).unwrap();
                let caps_len = e.iter().find(|(k, _)| k == KEY_CAPS).map(|(_, v)| v.len());
                assert!(caps_len.unwrap_or(0) <= MAX_CAPS_BYTES);
                let s = parse(&map(&e)).unwrap().caps.unwrap();
                assert_eq!(s.items.len() + s.omitted, n, "{n} x {len}");
            }
        }
    }

    #[test]
    fn summary_counts_what_it_leaves_out() {
        let s = summarize_caps(&caps(100, 10), 60);
        assert!(s.len() <= 60, "{s}");
        let p = parse_caps(&s).unwrap();
        assert_eq!(p.items.len() + p.omitted, 100);
        assert!(p.omitted > 0);
        // Not even "+N" fits.
        assert_eq!(summarize_caps(&caps(100, 10), 2), "");
        assert_eq!(parse_caps("+4").unwrap().omitted, 4);
    }

    #[test]
    fn bad_paths_and_ports_are_refused_at_build() {
        let c = Capabilities::default();
        assert!(build(&id("n"), 1, 7400, "peerdisc", &c).is_err());
        assert!(build(&id("n"), 1, 7400, "/a b", &c).is_err());
        assert!(build(&id("n"), 1, 7400, "/a?b", &c).is_err());
        assert!(build(&id("n"), 1, 7400, &format!("/{}", "p".repeat(200)), &c).is_err());
        assert!(build(&id("n"), 1, 0, "/", &c).is_err());
    }

    #[test]
    fn parse_is_strict() {
        let good = map(&build(&id("n"), 1, 7400, "/p", &caps(2, 3)).unwrap());
        parse(&good).unwrap();
        let with = |k: &str, v: Option<&str>| {
            let mut m = good.clone();
            match v {
                Some(v) => m.insert(k.into(), v.into()),
                None => m.remove(k),
            };
            parse(&m)
        };
        for key in [KEY_ID, KEY_PROTOCOL_VERSION, KEY_WS_PORT, KEY_PATH] {
            assert!(with(key, None).is_err(), "{key} missing");
        }
        assert!(with(KEY_CAPS, None).is_ok());
        for bad in ["", "0", "65536", "+80", "080", "8o", " 80", "99999999999"] {
            assert!(with(KEY_WS_PORT, Some(bad)).is_err(), "port {bad:?}");
        }
        for bad in ["", "1.0", "-1", "01", "4294967296"] {
            assert!(with(KEY_PROTOCOL_VERSION, Some(bad)).is_err(), "pv {bad:?}");
        }
        for bad in ["", "a b", "é", &"x".repeat(129)] {
            assert!(with(KEY_ID, Some(bad)).is_err(), "id {bad:?}");
        }
        for bad in [
            "x/a", "t", "t/", "t/a b", "t/%zz", "t/%", "+1,t/a", "+0", "t/%FF",
        ] {
            assert!(with(KEY_CAPS, Some(bad)).is_err(), "caps {bad:?}");
        }
        // Unknown keys are kept but do not matter.
        assert!(with("future", Some("x")).is_ok());
    }

    #[test]
    fn raw_entries_first_key_wins_and_limits() {
        let raw: Vec<(&str, Option<&[u8]>)> = vec![
            ("ID", Some(b"first")),
            ("id", Some(b"second")),
            ("flag", None),
            ("other", Some(&[0xff, 0xfe])),
        ];
        let m = entries_to_map(raw).unwrap();
        assert_eq!(m["id"], "first");
        assert_eq!(m["flag"], "");
        assert!(m.contains_key("other"));
        let bad: Vec<(&str, Option<&[u8]>)> = vec![("pv", Some(&[0xff]))];
        assert!(entries_to_map(bad).is_err());
        let big = vec![b'x'; 300];
        let huge: Vec<(&str, Option<&[u8]>)> = vec![("k", Some(&big))];
        assert!(entries_to_map(huge).is_err());
    }
}
