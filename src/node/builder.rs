use std::net::SocketAddr;

use super::{Node, NodeConfig, NodeError};
use crate::model::{Capability, CapabilityKind};
use crate::registry::PeerRegistry;

/// Builds and starts a [`Node`]. Every setting not given keeps the
/// [`NodeConfig`] default.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct NodeBuilder {
    config: NodeConfig,
    registry: Option<PeerRegistry>,
}

impl NodeBuilder {
    /// Starts from a whole configuration.
    pub fn from_config(config: NodeConfig) -> Self {
        NodeBuilder {
            config,
            registry: None,
        }
    }
    /// Sets the node id.
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.config.node_id = Some(id.into());
        self
    }
    /// Sets the listen address.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }
    /// Sets the advertised address.
    pub fn advertise(mut self, url: impl Into<String>) -> Self {
        self.config.advertise = Some(url.into());
        self
    }
    /// Adds a bootstrap node.
    pub fn bootstrap(mut self, url: impl Into<String>) -> Self {
        self.config.bootstrap.push(url.into());
        self
    }
    /// Turns mDNS on or off.
    pub fn mdns(mut self, on: bool) -> Self {
        self.config.enable_mdns = on;
        self
    }
    /// Turns gossip on or off.
    pub fn gossip(mut self, on: bool) -> Self {
        self.config.enable_gossip = on;
        self
    }
    /// Adds a capability.
    pub fn capability(mut self, kind: CapabilityKind, cap: Capability) -> Self {
        self.config.capabilities.of_mut(kind).push(cap);
        self
    }
    crate::capability_shortcuts!();
    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.metadata.insert(key.into(), value.into());
        self
    }
    /// Keeps the node's peers in this registry (the application's own,
    /// shared with other code) instead of a new one; see
    /// [`Node::with_registry`].
    pub fn registry(mut self, registry: PeerRegistry) -> Self {
        self.registry = Some(registry);
        self
    }
    /// Turns the seed-compatible mode on or off (see
    /// `MembershipConfig::seed_compatible`).
    pub fn seed_compatible(mut self, on: bool) -> Self {
        self.config.membership.seed_compatible = on;
        self
    }
    /// Changes the configuration in place.
    pub fn configure(mut self, f: impl FnOnce(&mut NodeConfig)) -> Self {
        f(&mut self.config);
        self
    }
    /// The configuration so far.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }
    /// Makes the node without starting it.
    pub fn build(self) -> Result<Node, NodeError> {
        match self.registry {
            Some(r) => Node::with_registry(self.config, r),
            None => Node::new(self.config),
        }
    }
    /// Makes and starts the node.
    pub fn start(self) -> Result<Node, NodeError> {
        let node = self.build()?;
        node.start()?;
        Ok(node)
    }
}
