use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A greeting's challenge: 16 random bytes as 32 lowercase hex digits,
/// fresh for each connection. The other side proves it holds its key by
/// signing it (see PROTOCOL.md, "Greeting").
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Nonce(String);

impl Nonce {
    /// Length of the text form.
    pub const HEX_LEN: usize = 32;

    /// A fresh random nonce.
    pub fn random() -> Self {
        let bytes: [u8; 16] = rand::random();
        Nonce(data_encoding::HEXLOWER.encode(&bytes))
    }

    /// Parses 32 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() != Self::HEX_LEN {
            return Err(format!(
                "a nonce is {} hex digits, found {}",
                Self::HEX_LEN,
                text.len()
            ));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("a nonce is lowercase hex".into());
        }
        Ok(Nonce(text.to_string()))
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", self.0)
    }
}

impl Serialize for Nonce {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Nonce::parse(&text).map_err(serde::de::Error::custom)
    }
}
