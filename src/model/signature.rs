use std::fmt;

use data_encoding::HEXLOWER;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of an Ed25519 signature in bytes.
pub const SIGNATURE_BYTES: usize = 64;

/// The owner's Ed25519 signature of a [`PeerRecord`](super::PeerRecord),
/// carried inside the record (field `signature`) so that relays pass it on
/// with the record. JSON: 128 lowercase hex digits; anything else is refused
/// when decoding. Held boxed: an unsigned record pays one pointer.
///
/// What the signature covers and how it is checked: `peerdisc::identity`
/// and PROTOCOL.md ("Signed peer records").
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RecordSignature(Box<[u8; SIGNATURE_BYTES]>);

impl RecordSignature {
    /// A signature of these bytes.
    pub fn from_bytes(bytes: [u8; SIGNATURE_BYTES]) -> Self {
        RecordSignature(Box::new(bytes))
    }

    /// Parses 128 lowercase hex digits.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        if text.len() != 2 * SIGNATURE_BYTES {
            return Err(format!(
                "expected {} hex digits, found {}",
                2 * SIGNATURE_BYTES,
                text.len()
            ));
        }
        let mut bytes = [0u8; SIGNATURE_BYTES];
        HEXLOWER
            .decode_mut(text.as_bytes(), &mut bytes)
            .map_err(|_| "not lowercase hex".to_string())?;
        Ok(RecordSignature::from_bytes(bytes))
    }

    /// The 64 signature bytes.
    pub fn as_bytes(&self) -> &[u8; SIGNATURE_BYTES] {
        &self.0
    }

    /// The 128 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        HEXLOWER.encode(&self.0[..])
    }
}

impl fmt::Debug for RecordSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        write!(f, "RecordSignature({}…)", &hex[..16])
    }
}

impl Serialize for RecordSignature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for RecordSignature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        RecordSignature::from_hex(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid signature: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let s = RecordSignature::from_bytes([0xab; 64]);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json.len(), 130);
        let back: RecordSignature = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let upper = json.to_uppercase();
        assert!(serde_json::from_str::<RecordSignature>(&upper).is_err());
        assert!(serde_json::from_str::<RecordSignature>("\"abcd\"").is_err());
        assert!(serde_json::from_str::<RecordSignature>("12").is_err());
    }
}
