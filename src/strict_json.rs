//! Strict JSON decoding: a struct is read only from a JSON object.
//!
//! serde's derived `Deserialize` also reads a struct from a JSON *array* of
//! its fields in declaration order (`[5]` as `{"capacity": 5}`), which no
//! documented schema of peerdisc allows. Every JSON input (the C ABI, the
//! wire decoder, snapshots, the CLI's `--config`) is decoded through
//! [`from_str`], [`from_slice`] or [`from_value`]: they wrap the
//! deserializer so that, at every depth, a struct (or a struct variant)
//! given as an array is refused with `invalid type: sequence, expected
//! struct ...`. Everything else is exactly serde_json's behaviour.
//!
//! Types that buffer their input before choosing a shape (`untagged` or
//! internally tagged enums, `flatten`) bypass the wrapper for what they
//! buffer; the crate's JSON inputs avoid them (`Capability` and
//! `AnnouncedPeer` have hand-written, object-only decoders).
//!
//! [`problem`] sorts a decoding error into malformed text, a wrong shape, or
//! a value that breaks its rule (the C ABI maps these to its statuses).

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde_json::Value;

/// Decodes `T` from JSON text, structs only from objects. Text that is not
/// JSON at all is reported as such (a syntax error), even when a shape
/// error comes earlier in it.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    from_slice(text.as_bytes())
}

/// Decodes `T` from JSON bytes, structs only from objects (see
/// [`from_str`]).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let decoded = T::deserialize(Strict(&mut de)).and_then(|v| de.end().map(|()| v));
    decoded.map_err(|e| match e.classify() {
        // Only on the error path: is the text JSON at all?
        serde_json::error::Category::Data => {
            match serde_json::from_slice::<de::IgnoredAny>(bytes) {
                Err(syntax) => syntax,
                Ok(_) => e,
            }
        }
        _ => e,
    })
}

/// Decodes `T` from a parsed JSON value, structs only from objects.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(Strict(value))
}

/// What is wrong with a JSON input, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Not JSON at all (a syntax error, cut short, trailing characters).
    Malformed,
    /// JSON of the wrong shape: a wrong type (an array or a scalar where an
    /// object is required, a string where a number is), an unknown, missing
    /// or repeated field, a list of the wrong length.
    Shape,
    /// Well-formed and well-typed, but a value breaks its rule: an invalid
    /// node id, an address or URL that does not parse, a number out of
    /// range, an unknown enum name.
    Value,
}

/// Sorts a decoding error into a [`Problem`]. serde reports type and field
/// errors with fixed wordings (`invalid type: ...`, `unknown field ...`,
/// `missing field ...`, `duplicate field ...`, `invalid length ...`);
/// everything else it reports while reading data is a value error.
pub fn problem(e: &serde_json::Error) -> Problem {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => Problem::Malformed,
        Category::Data => {
            let msg = e.to_string();
            const SHAPE: [&str; 5] = [
                "invalid type:",
                "unknown field",
                "missing field",
                "duplicate field",
                "invalid length",
            ];
            if SHAPE.iter().any(|p| msg.starts_with(p)) {
                Problem::Shape
            } else {
                Problem::Value
            }
        }
    }
}

/// A deserializer whose structs accept only maps.
struct Strict<D>(D);

/// A visitor forwarded with strict deserializers for what it nests;
/// `object_only` refuses a sequence (the visitor of a struct).
struct Wrap<V> {
    inner: V,
    object_only: bool,
}

fn wrap<V>(inner: V) -> Wrap<V> {
    Wrap {
        inner,
        object_only: false,
    }
}

struct Seed<S>(S);
struct Seq<A>(A);
struct Map<A>(A);
struct Enum<A>(A);
struct Variant<A>(A);

macro_rules! forward_deserialize {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_newtype_struct(name, wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple_struct(name, len, wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_struct(
            name,
            fields,
            Wrap {
                inner: visitor,
                object_only: true,
            },
        )
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Strict(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Strict(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if self.object_only {
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        }
        self.inner.visit_seq(Seq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(Map(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(Enum(data))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next_element_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        self.0.next_key_seed(Seed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        self.0.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Enum<A> {
    type Error = A::Error;
    type Variant = Variant<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), Self::Error> {
        let (v, variant) = self.0.variant_seed(Seed(seed))?;
        Ok((v, Variant(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        self.0.newtype_variant_seed(Seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.tuple_variant(len, wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.struct_variant(
            fields,
            Wrap {
                inner: visitor,
                object_only: true,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Inner,
        list: Vec<Inner>,
        opt: Option<Inner>,
        tuple: (u8, u8),
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Unit,
        Shaped { x: u8 },
    }

    const GOOD: &str = r#"{"inner": {"a": 1}, "list": [{"a": 2}], "opt": {"a": 3},
        "tuple": [4, 5], "kind": {"shaped": {"x": 6}}}"#;

    #[test]
    fn objects_decode_as_serde_json_does() {
        let v: Outer = from_str(GOOD).unwrap();
        assert_eq!(v, serde_json::from_str::<Outer>(GOOD).unwrap());
        let v: Outer = from_slice(GOOD.as_bytes()).unwrap();
        assert_eq!(v.tuple, (4, 5));
        let v: Outer = from_value(serde_json::from_str(GOOD).unwrap()).unwrap();
        assert_eq!(v.kind, Kind::Shaped { x: 6 });
        assert_eq!(from_str::<Kind>(r#""unit""#).unwrap(), Kind::Unit);
    }

    #[test]
    fn a_struct_from_an_array_is_refused_at_every_depth() {
        let cases = [
            r#"[{"a": 1}, [], null, [4, 5], "unit"]"#,
            r#"{"inner": [1], "list": [], "opt": null, "tuple": [4, 5], "kind": "unit"}"#,
            r#"{"inner": {"a": 1}, "list": [[2]], "opt": null, "tuple": [4, 5], "kind": "unit"}"#,
            r#"{"inner": {"a": 1}, "list": [], "opt": [3], "tuple": [4, 5], "kind": "unit"}"#,
            r#"{"inner": {"a": 1}, "list": [], "opt": null, "tuple": [4, 5], "kind": {"shaped": [6]}}"#,
        ];
        for text in cases {
            // Plain serde_json takes them all...
            assert!(serde_json::from_str::<Outer>(text).is_ok(), "{text}");
            // ...the strict decoder none.
            for e in [
                from_str::<Outer>(text).unwrap_err(),
                from_slice::<Outer>(text.as_bytes()).unwrap_err(),
                from_value::<Outer>(serde_json::from_str(text).unwrap()).unwrap_err(),
            ] {
                assert!(e.to_string().contains("sequence"), "{text}: {e}");
                assert_eq!(problem(&e), Problem::Shape, "{e}");
            }
        }
    }

    #[test]
    fn scalars_and_null_are_not_objects() {
        for text in ["5", "\"x\"", "null", "true"] {
            let e = from_str::<Inner>(text).unwrap_err();
            assert_eq!(problem(&e), Problem::Shape, "{text}: {e}");
        }
    }

    #[test]
    fn problems_are_sorted() {
        let p = |t: &str| problem(&from_str::<Outer>(t).unwrap_err());
        assert_eq!(p("{"), Problem::Malformed);
        assert_eq!(p("{} x"), Problem::Malformed);
        assert_eq!(p(""), Problem::Malformed);
        assert_eq!(p(r#"{"bogus": 1}"#), Problem::Shape);
        assert_eq!(p(r#"{"inner": {}}"#), Problem::Shape);
        assert_eq!(p(r#"{"inner": {"a": "1"}}"#), Problem::Shape);
        assert_eq!(
            p(r#"{"inner": {"a": 1}, "inner": {"a": 1}}"#),
            Problem::Shape
        );
        let neg =
            r#"{"inner": {"a": -1}, "list": [], "opt": null, "tuple": [1, 2], "kind": "unit"}"#;
        assert_eq!(p(neg), Problem::Value);
        let variant =
            r#"{"inner": {"a": 1}, "list": [], "opt": null, "tuple": [1, 2], "kind": "zombie"}"#;
        assert_eq!(p(variant), Problem::Value);
        let addr = from_str::<std::net::SocketAddr>(r#""not an address""#).unwrap_err();
        assert_eq!(problem(&addr), Problem::Value);
    }
}
