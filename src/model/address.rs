use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tungstenite::http::Uri;

use super::limits::MAX_ADDRESS_LEN;
use super::ModelError;

/// The HTTP path of a node's WebSocket endpoint unless configured otherwise
/// (`NodeConfig::ws_path`), and the path a seed URL without one means.
pub const DEFAULT_WS_PATH: &str = "/peerdisc";

/// An address of a peer: a WebSocket address, `ws://host:port[/path]` or
/// `wss://...`, or the address of its datagram path, `udp://host:port`
/// (PROTOCOL.md, "Datagrams"; see [`is_datagram`](Self::is_datagram)).
///
/// The port defaults to 80 (`ws`) or 443 (`wss`) when the URL omits it; a
/// `udp` address must name its port and has no path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddress(Box<str>);

impl PeerAddress {
    /// Validates `url` and makes an address of it.
    pub fn new(url: impl AsRef<str>) -> Result<Self, ModelError> {
        let url = url.as_ref();
        let bad = |reason: &str| ModelError::InvalidAddress {
            address: url.chars().take(MAX_ADDRESS_LEN).collect(),
            reason: reason.to_string(),
        };
        if url.len() > MAX_ADDRESS_LEN {
            return Err(bad("it is longer than 512 bytes"));
        }
        let uri: Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        match uri.scheme_str() {
            Some("ws") | Some("wss") => {}
            Some("udp") => {
                if uri.port_u16().is_none() {
                    return Err(bad("a udp address must name its port"));
                }
                if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
                    return Err(bad("a udp address has no path"));
                }
            }
            Some(other) => return Err(bad(&format!("scheme {other:?} is not ws, wss or udp"))),
            None => return Err(bad("it has no scheme (expected ws:// or wss://)")),
        }
        match uri.host() {
            Some(h) if !h.is_empty() => {}
            _ => return Err(bad("it has no host")),
        }
        if uri.port_u16() == Some(0) {
            return Err(bad("port 0 is not a reachable port"));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(bad("user information is not allowed"));
        }
        Ok(PeerAddress(url.into()))
    }

    /// Like [`new`](Self::new), for a URL typed by a person or carried over
    /// from the seed system: a URL without any path (`ws://host:port`, as
    /// in `ws://bootstrap1:8000`) means `default_path` (normally
    /// [`DEFAULT_WS_PATH`]). A URL with a path, even `/`, is kept as it is.
    ///
    /// ```
    /// use peerdisc::PeerAddress;
    /// let a = PeerAddress::with_default_path("ws://127.0.0.1:7400", "/peerdisc").unwrap();
    /// assert_eq!(a.as_str(), "ws://127.0.0.1:7400/peerdisc");
    /// let b = PeerAddress::with_default_path("ws://127.0.0.1:7400/", "/peerdisc").unwrap();
    /// assert_eq!(b.as_str(), "ws://127.0.0.1:7400/");
    /// ```
    pub fn with_default_path(url: impl AsRef<str>, default_path: &str) -> Result<Self, ModelError> {
        let url = url.as_ref().trim();
        let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
        let has_path = after_scheme.contains(['/', '?', '#']);
        if after_scheme.is_empty() || has_path {
            return Self::new(url);
        }
        Self::new(format!("{url}{default_path}"))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn uri(&self) -> Uri {
        // Validated in `new`, so parsing again cannot fail.
        self.0.parse().expect("validated address")
    }

    /// The host part (without brackets for IPv6).
    pub fn host(&self) -> String {
        let uri = self.uri();
        let host = uri.host().unwrap_or_default();
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string()
    }

    /// The port, or the scheme's default.
    pub fn port(&self) -> u16 {
        let uri = self.uri();
        uri.port_u16()
            .unwrap_or(if self.is_secure() { 443 } else { 80 })
    }

    /// The path (`/` when empty).
    pub fn path(&self) -> String {
        let p = self.uri().path().to_string();
        if p.is_empty() {
            "/".into()
        } else {
            p
        }
    }

    /// Whether this is a datagram (`udp://`) address rather than a
    /// WebSocket one.
    pub fn is_datagram(&self) -> bool {
        self.0.starts_with("udp:")
    }

    /// The socket address of a `udp://` address whose host is an IP
    /// literal (`None` for WebSocket addresses and host names: a datagram
    /// path is only taken to addresses that need no name lookup).
    pub fn datagram_socket_addr(&self) -> Option<std::net::SocketAddr> {
        if !self.is_datagram() {
            return None;
        }
        let ip: std::net::IpAddr = self.host().parse().ok()?;
        Some(std::net::SocketAddr::new(ip, self.port()))
    }

    /// The `udp://` address of `addr`.
    pub fn datagram(addr: std::net::SocketAddr) -> Self {
        PeerAddress(format!("udp://{addr}").into())
    }

    /// Whether the scheme is `wss`.
    pub fn is_secure(&self) -> bool {
        self.0.starts_with("wss:")
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl fmt::Debug for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerAddress({:?})", &*self.0)
    }
}

impl std::str::FromStr for PeerAddress {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeerAddress::new(s)
    }
}

impl Serialize for PeerAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PeerAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        PeerAddress::new(&*s).map_err(serde::de::Error::custom)
    }
}
