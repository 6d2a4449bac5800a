//! Typed reads of the JSON that depthlab writes (probe reports, summaries, metric records). A
//! number that was not finite is written as `null` (JSON has no NaN); read back into an `f64`
//! field it is NaN again, while into an `Option<f64>` field it is `None`, as that field wrote
//! it. Anything else that does not fit the type (a missing or renamed field, a string where a
//! number belongs) is an error that names the field by its path (`layers[3].transform.mean`).

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;

/// What did not fit, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{what}", if field.is_empty() { String::new() } else { format!("field `{field}`: ") })]
pub struct ReadError {
    /// The path of the field ("" for the document itself).
    pub field: String,
    pub what: String,
}

/// `bytes` (one JSON document) as a `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ReadError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ReadError { field: String::new(), what: format!("not JSON: {e}") })?;
    from_value(&v)
}

/// A parsed JSON value as a `T`.
pub fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T, ReadError> {
    serde_path_to_error::deserialize(Nullable(v)).map_err(|e| {
        let field = e.path().to_string();
        ReadError { field: if field == "." { String::new() } else { field }, what: e.into_inner().to_string() }
    })
}

/// For a float field inside a `#[serde(flatten)]` struct, where serde reads the values before
/// it knows their types: null (a non-finite number) as NaN.
pub fn nan_if_null<'de, D: de::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    <Option<f64> as serde::Deserialize>::deserialize(d).map(|v| v.unwrap_or(f64::NAN))
}

/// A JSON value whose nulls read as NaN where a float is asked for.
struct Nullable<'a>(&'a Value);

#[derive(Debug)]
struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl<'de, 'a> de::Deserializer<'de> for Nullable<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    v.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    v.visit_i64(i)
                } else {
                    v.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => v.visit_str(s),
            Value::Array(a) => v.visit_seq(Seq(a.iter())),
            Value::Object(m) => v.visit_map(Map { it: m.iter(), value: None }),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_f64(f64::NAN),
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_f32(f32::NAN),
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => v.visit_enum(s.as_str().into_deserializer()),
            Value::Object(m) if m.len() == 1 => {
                let (k, val) = m.iter().next().expect("one entry");
                v.visit_enum(Enum { variant: k, value: val })
            }
            other => Err(de::Error::custom(format!("expected an enum variant, found {other}"))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de, 'a> SeqAccess<'de> for Seq<'a> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|v| seed.deserialize(Nullable(v))).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map<'a> {
    it: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'de, 'a> MapAccess<'de> for Map<'a> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.it.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Nullable(self.value.take().expect("a value after its key")))
    }
}

struct Enum<'a> {
    variant: &'a str,
    value: &'a Value,
}

impl<'de, 'a> de::EnumAccess<'de> for Enum<'a> {
    type Error = Error;
    type Variant = Nullable<'a>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Nullable<'a>), Error> {
        let name = seed.deserialize(self.variant.into_deserializer())?;
        Ok((name, Nullable(self.value)))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for Nullable<'a> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Layer {
        mean: f64,
        share: Option<f64>,
    }

    #[derive(Debug, Deserialize)]
    struct Report {
        name: String,
        layers: Vec<Layer>,
        pairs: Vec<(usize, f64)>,
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Flat,
        Deep { depth: usize },
    }

    #[test]
    fn nulls_are_nan_in_floats_and_none_in_options() {
        let r: Report = from_slice(
            br#"{"name": "x", "layers": [{"mean": null, "share": null}, {"mean": 2, "share": 0.5}], "pairs": [[1, null]], "kind": {"deep": {"depth": 3}}}"#,
        )
        .unwrap();
        assert!(r.layers[0].mean.is_nan() && r.layers[0].share.is_none());
        assert_eq!(r.layers[1], Layer { mean: 2.0, share: Some(0.5) });
        assert!(r.pairs[0].1.is_nan() && r.pairs[0].0 == 1 && r.name == "x");
        assert_eq!(r.kind, Kind::Deep { depth: 3 });
        let flat: Kind = from_slice(br#""flat""#).unwrap();
        assert_eq!(flat, Kind::Flat);
    }

    #[test]
    fn a_missing_or_mistyped_field_is_named_by_its_path() {
        let e = from_slice::<Report>(
            br#"{"name": "x", "layers": [{"mean": 1}, {"share": 1}], "pairs": [], "kind": "flat"}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "layers[1]");
        assert!(e.what.contains("missing field `mean`"), "{e}");
        let e = from_slice::<Report>(br#"{"name": "x", "layers": [{"mean": "a"}], "pairs": [], "kind": "flat"}"#)
            .unwrap_err();
        assert_eq!(e.field, "layers[0].mean");
        assert!(e.to_string().starts_with("field `layers[0].mean`: invalid type: string"), "{e}");
        let e = from_slice::<Report>(b"{\"name\": ").unwrap_err();
        assert!(e.field.is_empty() && e.what.starts_with("not JSON"), "{e}");
    }
}
