//! Builds the node configuration from a file, `--set` overrides and flags.

use peerdisc::node::NodeConfig;
use peerdisc::{Capability, CapabilityKind};
use serde_json::Value;

use crate::args::NodeArgs;
use crate::Failure;

pub fn build(a: &NodeArgs) -> Result<NodeConfig, Failure> {
    let mut value = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::config(format!("cannot read {}: {e}", path.display())))?;
            let cfg = NodeConfig::from_json(&text)
                .map_err(|e| Failure::config(format!("{}: {e}", path.display())))?;
            serde_json::to_value(cfg).expect("config serializes")
        }
        None => serde_json::to_value(NodeConfig::default()).expect("config serializes"),
    };
    for item in &a.set {
        let (path, raw) = item
            .split_once('=')
            .ok_or_else(|| Failure::config(format!("--set {item:?}: expected PATH=VALUE")))?;
        let new = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        set_path(&mut value, path, new)
            .map_err(|e| Failure::config(format!("--set {item:?}: {e}")))?;
    }
    let mut cfg: NodeConfig = peerdisc::strict_json::from_value(value)
        .map_err(|e| Failure::config(format!("invalid configuration: {e}")))?;
    if let Some(v) = &a.node_id {
        cfg.node_id = Some(v.clone());
    }
    if let Some(v) = &a.identity {
        cfg.identity_path = Some(v.clone());
    }
    if let Some(v) = &a.snapshot {
        cfg.snapshot_path = Some(v.clone());
    }
    if let Some(v) = a.listen {
        cfg.listen = v;
    }
    if let Some(v) = &a.advertise {
        cfg.advertise = Some(v.clone());
    }
    if let Some(v) = &a.ws_path {
        cfg.ws_path = v.clone();
    }
    cfg.bootstrap.extend(a.bootstrap.iter().cloned());
    for (kind, names) in [
        (CapabilityKind::Agent, &a.agent),
        (CapabilityKind::Tool, &a.tool),
        (CapabilityKind::Resource, &a.resource),
        (CapabilityKind::Prompt, &a.prompt),
    ] {
        for n in names {
            cfg.capabilities
                .of_mut(kind)
                .push(Capability::new(n.clone()));
        }
    }
    for m in &a.metadata {
        let (k, v) = m
            .split_once('=')
            .ok_or_else(|| Failure::config(format!("--metadata {m:?}: expected KEY=VALUE")))?;
        cfg.metadata.insert(k.into(), v.into());
    }
    if a.mdns {
        cfg.enable_mdns = true;
    }
    if a.no_mdns {
        cfg.enable_mdns = false;
    }
    cfg.cluster_keys.extend(a.cluster_key.iter().cloned());
    if a.no_gossip {
        cfg.enable_gossip = false;
    }
    a.node.apply(&mut cfg);
    a.membership.apply(&mut cfg.membership);
    a.transport.apply(&mut cfg.transport);
    a.datagram.apply(&mut cfg.datagram);
    a.registry.apply(&mut cfg.registry);
    a.mdns_settings.apply(&mut cfg.mdns);
    Ok(cfg)
}

fn set_path(root: &mut Value, path: &str, new: Value) -> Result<(), String> {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("{} is not an object", parts[..i].join(".")))?;
        if !obj.contains_key(*part) {
            return Err(format!("no configuration item {path:?}"));
        }
        if i + 1 == parts.len() {
            obj.insert((*part).to_string(), new);
            return Ok(());
        }
        cur = obj.get_mut(*part).expect("checked");
    }
    Err("empty path".into())
}
