use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::limits::{
    MAX_CAPABILITIES_PER_KIND, MAX_CAPABILITY_METADATA_ENTRIES, MAX_CAPABILITY_NAME_LEN,
    MAX_METADATA_KEY_LEN, MAX_METADATA_VALUE_LEN,
};
use super::ModelError;

/// The four kinds of things a node offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityKind {
    Agent,
    Tool,
    Resource,
    Prompt,
}

impl CapabilityKind {
    /// All kinds, in their JSON order.
    pub const ALL: [CapabilityKind; 4] = [
        CapabilityKind::Agent,
        CapabilityKind::Tool,
        CapabilityKind::Resource,
        CapabilityKind::Prompt,
    ];

    /// The singular name: `agent`, `tool`, `resource`, `prompt`.
    pub fn as_str(self) -> &'static str {
        match self {
            CapabilityKind::Agent => "agent",
            CapabilityKind::Tool => "tool",
            CapabilityKind::Resource => "resource",
            CapabilityKind::Prompt => "prompt",
        }
    }
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for CapabilityKind {
    type Err = ModelError;
    /// Accepts the singular or plural name (`tool` or `tools`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "agent" | "agents" => CapabilityKind::Agent,
            "tool" | "tools" => CapabilityKind::Tool,
            "resource" | "resources" => CapabilityKind::Resource,
            "prompt" | "prompts" => CapabilityKind::Prompt,
            _ => {
                return Err(ModelError::Json(format!(
                    "unknown capability kind {s:?} (expected agent, tool, resource or prompt)"
                )))
            }
        })
    }
}

/// Adds `agent`, `tool`, `resource` and `prompt` shortcuts to a builder
/// that has `fn capability(self, CapabilityKind, Capability) -> Self`.
#[doc(hidden)]
#[macro_export]
macro_rules! capability_shortcuts {
    () => {
        /// Adds an agent.
        pub fn agent(self, name: impl Into<String>) -> Self {
            self.capability($crate::CapabilityKind::Agent, $crate::Capability::new(name))
        }
        /// Adds a tool.
        pub fn tool(self, name: impl Into<String>) -> Self {
            self.capability($crate::CapabilityKind::Tool, $crate::Capability::new(name))
        }
        /// Adds a resource.
        pub fn resource(self, name: impl Into<String>) -> Self {
            self.capability(
                $crate::CapabilityKind::Resource,
                $crate::Capability::new(name),
            )
        }
        /// Adds a prompt.
        pub fn prompt(self, name: impl Into<String>) -> Self {
            self.capability(
                $crate::CapabilityKind::Prompt,
                $crate::Capability::new(name),
            )
        }
    };
}

/// One named capability with optional small metadata (at most 16 entries).
///
/// In JSON a capability without metadata is a plain string (`"search"`); one
/// with metadata is `{"name": "search", "metadata": {"lang": "en"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Capability {
    // Shared: the registry points every peer's copy of a name at one string.
    name: Arc<str>,
    // Boxed so that a capability without metadata costs 24 bytes, not 40.
    #[allow(clippy::box_collection)]
    metadata: Option<Box<BTreeMap<String, String>>>,
}

impl Capability {
    /// A capability with no metadata. The name is checked when it is put
    /// into a record.
    pub fn new(name: impl Into<String>) -> Self {
        Capability {
            name: Arc::from(name.into()),
            metadata: None,
        }
    }

    /// Adds one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        self
    }

    /// The capability's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as a shared string.
    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// Points the name at an equal shared string.
    pub(crate) fn share_name(&mut self, name: Arc<str>) {
        debug_assert_eq!(*name, *self.name);
        self.name = name;
    }

    /// Its metadata (empty when none).
    pub fn metadata(&self) -> Option<&BTreeMap<String, String>> {
        self.metadata.as_deref()
    }

    pub(crate) fn validate(&self, kind: CapabilityKind) -> Result<(), ModelError> {
        let bad = |reason| ModelError::InvalidCapability {
            kind,
            name: self.name.chars().take(MAX_CAPABILITY_NAME_LEN).collect(),
            reason,
        };
        if self.name.is_empty() {
            return Err(bad("the name is empty"));
        }
        ModelError::too_long("capability name", self.name.len(), MAX_CAPABILITY_NAME_LEN)?;
        if self.name.chars().any(char::is_control) {
            return Err(bad("the name holds a control character"));
        }
        if let Some(meta) = &self.metadata {
            ModelError::too_many(
                "capability metadata",
                meta.len(),
                MAX_CAPABILITY_METADATA_ENTRIES,
            )?;
            for (k, v) in meta.iter() {
                ModelError::too_long("capability metadata key", k.len(), MAX_METADATA_KEY_LEN)?;
                ModelError::too_long("capability metadata value", v.len(), MAX_METADATA_VALUE_LEN)?;
            }
        }
        Ok(())
    }
}

impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.metadata {
            None => s.serialize_str(&self.name),
            Some(meta) => {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("Capability", 2)?;
                st.serialize_field("name", &*self.name)?;
                st.serialize_field("metadata", meta)?;
                st.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Capability {
    /// A name (`"search"`) or an object (`{"name": "search", "metadata":
    /// {...}}`); nothing else (an array is refused, see
    /// [`crate::strict_json`]).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            name: String,
            #[serde(default)]
            metadata: Option<BTreeMap<String, String>>,
        }
        struct NameOrObject;
        impl<'de> serde::de::Visitor<'de> for NameOrObject {
            type Value = Capability;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a capability name or a {\"name\", \"metadata\"} object")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Capability, E> {
                Ok(Capability::new(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Capability, A::Error> {
                let f = Full::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Capability {
                    name: Arc::from(f.name),
                    metadata: f.metadata.filter(|m| !m.is_empty()).map(Box::new),
                })
            }
        }
        d.deserialize_any(NameOrObject)
    }
}

/// What a node offers: agents, tools, resources and prompts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default)]
    pub agents: Vec<Capability>,
    #[serde(default)]
    pub tools: Vec<Capability>,
    #[serde(default)]
    pub resources: Vec<Capability>,
    #[serde(default)]
    pub prompts: Vec<Capability>,
}

impl Capabilities {
    /// No capabilities.
    pub fn new() -> Self {
        Self::default()
    }

    /// The list of one kind.
    pub fn of(&self, kind: CapabilityKind) -> &[Capability] {
        match kind {
            CapabilityKind::Agent => &self.agents,
            CapabilityKind::Tool => &self.tools,
            CapabilityKind::Resource => &self.resources,
            CapabilityKind::Prompt => &self.prompts,
        }
    }

    /// The mutable list of one kind.
    pub fn of_mut(&mut self, kind: CapabilityKind) -> &mut Vec<Capability> {
        match kind {
            CapabilityKind::Agent => &mut self.agents,
            CapabilityKind::Tool => &mut self.tools,
            CapabilityKind::Resource => &mut self.resources,
            CapabilityKind::Prompt => &mut self.prompts,
        }
    }

    /// Every (kind, name) pair.
    pub fn iter(&self) -> impl Iterator<Item = (CapabilityKind, &Capability)> {
        CapabilityKind::ALL
            .into_iter()
            .flat_map(move |k| self.of(k).iter().map(move |c| (k, c)))
    }

    /// Whether a capability of this kind and name is offered.
    pub fn contains(&self, kind: CapabilityKind, name: &str) -> bool {
        self.of(kind).iter().any(|c| c.name() == name)
    }

    /// Total number of capabilities.
    pub fn len(&self) -> usize {
        self.agents.len() + self.tools.len() + self.resources.len() + self.prompts.len()
    }

    /// Whether nothing is offered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks names, sizes and duplicates.
    pub fn validate(&self) -> Result<(), ModelError> {
        for kind in CapabilityKind::ALL {
            let list = self.of(kind);
            ModelError::too_many(
                match kind {
                    CapabilityKind::Agent => "agents",
                    CapabilityKind::Tool => "tools",
                    CapabilityKind::Resource => "resources",
                    CapabilityKind::Prompt => "prompts",
                },
                list.len(),
                MAX_CAPABILITIES_PER_KIND,
            )?;
            let mut seen = std::collections::HashSet::with_capacity(list.len());
            for cap in list {
                cap.validate(kind)?;
                if !seen.insert(cap.name()) {
                    return Err(ModelError::DuplicateCapability {
                        kind,
                        name: cap.name().to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}
