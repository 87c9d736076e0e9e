//! Can multicast DNS run here? Checked before the mdns-sd daemon starts,
//! because the daemon itself only logs socket failures.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use super::MdnsConfig;

const MDNS_PORT: u16 = 5353;
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);

/// An interface address mdns-sd would use under this configuration.
#[derive(Debug, Clone)]
pub(crate) struct Selected {
    pub name: String,
    pub ip: IpAddr,
    pub index: u32,
}

/// The interface addresses that are up and selected by `config` (the same
/// rule as mdns-sd: operationally up, not point-to-point, loopback
/// included).
pub(crate) fn selected_interfaces(config: &MdnsConfig) -> Result<Vec<Selected>, String> {
    let all =
        if_addrs::get_if_addrs().map_err(|e| format!("cannot list network interfaces: {e}"))?;
    Ok(all
        .into_iter()
        .filter(|i| i.is_oper_up() && !i.is_p2p())
        .filter(|i| config.interfaces.is_empty() || config.interfaces.contains(&i.name))
        .filter(|i| (i.ip().is_ipv4() && config.ipv4) || (i.ip().is_ipv6() && config.ipv6))
        .map(|i| Selected {
            ip: i.ip(),
            index: i.index.unwrap_or(0),
            name: i.name,
        })
        .collect())
}

fn bind_v4(ip: Ipv4Addr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, MDNS_PORT)).into())?;
    s.join_multicast_v4(&GROUP_V4, &ip)?;
    Ok(s)
}

fn bind_v6(index: u32) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, MDNS_PORT)).into())?;
    s.join_multicast_v6(&GROUP_V6, index)?;
    Ok(s)
}

/// Checks that at least one selected interface is up and that the mDNS
/// socket can be bound and can join the group on it. Returns the selected
/// interfaces, or one line saying why multicast cannot be used.
pub(crate) fn check(config: &MdnsConfig) -> Result<Vec<Selected>, String> {
    let selected = selected_interfaces(config)?;
    if selected.is_empty() {
        let which = if config.interfaces.is_empty() {
            "no network interface is up".to_string()
        } else {
            format!("none of the interfaces {:?} is up", config.interfaces)
        };
        let fam = match (config.ipv4, config.ipv6) {
            (true, true) => "",
            (true, false) => " with an IPv4 address",
            _ => " with an IPv6 address",
        };
        return Err(format!("{which}{fam}"));
    }
    let mut errors = Vec::new();
    for s in &selected {
        let r = match s.ip {
            IpAddr::V4(ip) => bind_v4(ip).map(drop),
            IpAddr::V6(_) => bind_v6(s.index).map(drop),
        };
        match r {
            Ok(()) => return Ok(selected),
            Err(e) => errors.push(format!("{} ({}): {e}", s.name, s.ip)),
        }
    }
    Err(format!(
        "cannot bind the mDNS socket (UDP port {MDNS_PORT}) and join the multicast group: {}",
        errors.join("; ")
    ))
}

/// The addresses to publish for a node listening on `listen`: that
/// address, or for an unspecified one the selected interfaces' addresses
/// (IPv4 only for `0.0.0.0`).
pub(crate) fn published_addresses(listen: IpAddr, selected: &[Selected]) -> Vec<IpAddr> {
    if !listen.is_unspecified() {
        return vec![listen];
    }
    let mut out: Vec<IpAddr> = selected
        .iter()
        .map(|s| s.ip)
        .filter(|ip| listen.is_ipv6() || ip.is_ipv4())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_interface_is_reported() {
        let cfg = MdnsConfig {
            interfaces: vec!["nosuchif0".into()],
            ..MdnsConfig::default()
        };
        let e = check(&cfg).unwrap_err();
        assert!(e.contains("nosuchif0"), "{e}");
    }

    #[test]
    fn published_addresses_follow_the_listen_address() {
        let sel = vec![
            Selected {
                name: "lo".into(),
                ip: "127.0.0.1".parse().unwrap(),
                index: 1,
            },
            Selected {
                name: "eth0".into(),
                ip: "fe80::1".parse().unwrap(),
                index: 2,
            },
        ];
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(published_addresses(one, &sel), vec![one]);
        assert_eq!(
            published_addresses("0.0.0.0".parse().unwrap(), &sel),
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(published_addresses("::".parse().unwrap(), &sel).len(), 2);
    }
}
