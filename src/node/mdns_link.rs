//! Starting and stopping a node's mDNS worker (feature `mdns`); without the
//! feature a node never has one (its configuration refuses `enable_mdns`).

use std::net::SocketAddr;

use crossbeam_channel::{never, Receiver};

use super::{NodeConfig, NodeError};
use crate::mdns::MdnsEvent;
use crate::model::{NodeId, PeerAddress};

/// A node's running mDNS worker.
#[derive(Debug)]
pub(crate) struct MdnsLink {
    #[cfg(feature = "mdns")]
    worker: crate::mdns::MdnsWorker,
    /// What the TXT record is built from, besides the capabilities.
    #[cfg(feature = "mdns")]
    txt_base: (NodeId, u16, String),
}

impl MdnsLink {
    /// Publishes a new capability summary.
    #[cfg_attr(not(feature = "mdns"), allow(unused_variables))]
    pub fn update_capabilities(&self, caps: &crate::model::Capabilities) {
        #[cfg(feature = "mdns")]
        {
            let (id, port, path) = &self.txt_base;
            let r = crate::mdns::txt::build(id, crate::wire::PROTOCOL_VERSION, *port, path, caps)
                .and_then(|txt| self.worker.update_txt(&txt));
            if let Err(e) = r {
                log::warn!("peerdisc: {id}: could not update the mDNS TXT record: {e}");
            }
        }
    }

    /// Stops the worker and waits for its threads; `graceful`: goodbye
    /// packets first.
    pub fn stop(self, graceful: bool) {
        #[cfg(feature = "mdns")]
        {
            let mut w = self.worker;
            w.stop(graceful);
        }
        #[cfg(not(feature = "mdns"))]
        let _ = graceful;
    }
}

/// Starts the mDNS worker when the configuration asks for it. `local` is
/// the transport's bound address, `address` the node's own WebSocket
/// address (its port and host are published when it was given as
/// `advertise`). Returns the worker and its event receiver (a receiver
/// that never yields when mDNS is off).
#[cfg_attr(not(feature = "mdns"), allow(unused_variables))]
pub(crate) fn start(
    cfg: &NodeConfig,
    node_id: &NodeId,
    local: SocketAddr,
    address: &PeerAddress,
) -> Result<(Option<MdnsLink>, Receiver<MdnsEvent>), NodeError> {
    if !cfg.enable_mdns {
        return Ok((None, never()));
    }
    #[cfg(feature = "mdns")]
    {
        use crate::mdns::{txt, LocalService, MdnsWorker};
        let config_err = |e: crate::mdns::MdnsError| NodeError::Config(e.to_string());
        // An advertised address names what others should dial: publish its
        // port (and its IP, when it is one); otherwise the listener's.
        let (listen, port) = match &cfg.advertise {
            Some(_) => (address.host().parse().unwrap_or(local.ip()), address.port()),
            None => (local.ip(), local.port()),
        };
        let txt = txt::build(
            node_id,
            crate::wire::PROTOCOL_VERSION,
            port,
            &cfg.ws_path,
            &cfg.capabilities,
        )
        .map_err(config_err)?;
        let local = LocalService {
            node_id: node_id.clone(),
            listen,
            ws_port: port,
            path: cfg.ws_path.clone(),
            txt,
        };
        let (worker, rx) = MdnsWorker::start(&cfg.mdns, local).map_err(config_err)?;
        let txt_base = (node_id.clone(), port, cfg.ws_path.clone());
        Ok((Some(MdnsLink { worker, txt_base }), rx))
    }
    #[cfg(not(feature = "mdns"))]
    Err(NodeError::Config(
        "enable_mdns is set but peerdisc was built without the `mdns` feature".into(),
    ))
}
