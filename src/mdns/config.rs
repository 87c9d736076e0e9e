use serde::{Deserialize, Serialize};

use super::MdnsError;

/// The DNS-SD service type peerdisc nodes publish and browse.
pub const DEFAULT_SERVICE_TYPE: &str = "_peerdisc._tcp.local.";

/// Settings of mDNS/DNS-SD discovery. Whether it runs at all is
/// [`NodeConfig::enable_mdns`](crate::node::NodeConfig::enable_mdns).
///
/// ```json
/// {"service_type": "_peerdisc._tcp.local.", "ipv4": true, "ipv6": false,
///  "interfaces": ["eth0"]}
/// ```
///
/// The interface and address-family filters are applied by mdns-sd after
/// its daemon starts: at start it joins the multicast group on every
/// interface that is up (see the [module docs](crate::mdns)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MdnsConfig {
    /// The DNS-SD service type, `_<name>._tcp.local.` or
    /// `_<name>._udp.local.` (name at most 15 bytes). Default
    /// `_peerdisc._tcp.local.`.
    pub service_type: String,
    /// Use IPv4 (multicast and published/dialled addresses). Default on.
    pub ipv4: bool,
    /// Use IPv6. Default on. IPv6 link-local addresses are learned but not
    /// dialled (a `ws://` URL cannot carry the interface scope); a service
    /// known only by one is dialled once its IPv4 or routable IPv6 address
    /// arrives.
    pub ipv6: bool,
    /// Names of the interfaces to use (e.g. `["eth0"]`); empty: every
    /// interface that is up, loopback included.
    pub interfaces: Vec<String>,
    /// How long a discovered service has to answer the `hello` before it
    /// is reported as failed. Default 3,000 ms.
    pub hello_timeout_ms: u64,
    /// Probe for name conflicts before announcing (RFC 6762 section 8.1),
    /// which delays the first announcement by about 750 ms. Default off:
    /// instance and host names are derived from the node id, which is
    /// unique (random by default), so a conflict means a misconfigured id;
    /// turn it on for strict RFC behaviour.
    pub probe: bool,
}

impl Default for MdnsConfig {
    fn default() -> Self {
        MdnsConfig {
            service_type: DEFAULT_SERVICE_TYPE.into(),
            ipv4: true,
            ipv6: true,
            interfaces: Vec::new(),
            hello_timeout_ms: 3_000,
            probe: false,
        }
    }
}

/// Longest service name label (`_peerdisc` without the underscore is 8),
/// as RFC 6335 section 5.1 allows.
const MAX_SERVICE_NAME_LEN: usize = 15;
/// Longest interface name Linux allows (IFNAMSIZ - 1).
const MAX_INTERFACE_NAME_LEN: usize = 15;

impl MdnsConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), MdnsError> {
        let bad = |m: String| Err(MdnsError::Config(m));
        let t = &self.service_type;
        let Some(name) = t
            .strip_suffix("._tcp.local.")
            .or_else(|| t.strip_suffix("._udp.local."))
        else {
            return bad(format!(
                "service_type {t:?} must end with \"._tcp.local.\" or \"._udp.local.\""
            ));
        };
        let Some(label) = name.strip_prefix('_') else {
            return bad(format!("service_type {t:?} must start with '_'"));
        };
        if label.is_empty()
            || label.len() > MAX_SERVICE_NAME_LEN
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return bad(format!(
                "service_type {t:?}: the service name must be 1 to 15 letters, digits or '-'"
            ));
        }
        if !self.ipv4 && !self.ipv6 {
            return bad("at least one of ipv4 and ipv6 must be on".into());
        }
        for i in &self.interfaces {
            if i.is_empty()
                || i.len() > MAX_INTERFACE_NAME_LEN
                || i.bytes()
                    .any(|b| b.is_ascii_whitespace() || b == b'/' || !b.is_ascii())
            {
                return bad(format!("interface name {i:?} is not a valid name"));
            }
        }
        if self.hello_timeout_ms == 0 || self.hello_timeout_ms > 60_000 {
            return bad("hello_timeout_ms must be 1 to 60,000".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        MdnsConfig::default().validate().unwrap();
    }

    #[test]
    fn json_round_trip_and_unknown_fields() {
        let c: MdnsConfig =
            serde_json::from_str(r#"{"ipv6": false, "interfaces": ["eth0"]}"#).unwrap();
        assert!(!c.ipv6 && c.ipv4);
        assert_eq!(c.service_type, DEFAULT_SERVICE_TYPE);
        assert!(serde_json::from_str::<MdnsConfig>(r#"{"ipv7": true}"#).is_err());
        let back: MdnsConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn bad_values_are_refused() {
        let with = |f: fn(&mut MdnsConfig)| {
            let mut c = MdnsConfig::default();
            f(&mut c);
            c.validate()
        };
        assert!(with(|c| c.service_type = "_peerdisc._tcp.local".into()).is_err());
        assert!(with(|c| c.service_type = "peerdisc._tcp.local.".into()).is_err());
        assert!(with(|c| c.service_type = "_a-very-long-service-name._tcp.local.".into()).is_err());
        assert!(with(|c| c.service_type = "_pd._udp.local.".into()).is_ok());
        assert!(with(|c| {
            c.ipv4 = false;
            c.ipv6 = false
        })
        .is_err());
        assert!(with(|c| c.interfaces = vec!["".into()]).is_err());
        assert!(with(|c| c.interfaces = vec!["eth 0".into()]).is_err());
        assert!(with(|c| c.hello_timeout_ms = 0).is_err());
    }
}
