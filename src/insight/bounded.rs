//! Bounded rendering for what an insight keeps: compact JSON written straight from a caller's
//! `Serialize` (or from a captured [`Value`]) into a text that stops at its cap, so that the
//! whole text is never built, and the recursion stays bounded whatever the value's depth.
//!
//! Why not `capture` and then write the `Value`: a `Value`'s map sorts keys, so a struct's
//! fields would come out alphabetically and a deep or long field could push the ones a reader
//! looks for (`id`, `v`) past the cap; written straight from `Serialize`, fields keep their
//! order, and no whole copy of a large value is built on the way.
//!
//! The JSON is the one [`crate::capture::capture`] would give: subtrees deeper than
//! [`MAX_CAPTURE_DEPTH`] levels become [`DEPTH_CUT`], NaN and infinities become
//! [`NAN`]/[`INFINITY`]/[`NEG_INFINITY`] strings, and map keys must be strings, numbers,
//! booleans or unit variants.

use std::fmt::{self, Display, Write as _};

use serde::ser::{self, Impossible, Serialize};
use serde_json::Value;

use crate::capture::{non_finite_text, DEPTH_CUT, MAX_CAPTURE_DEPTH, MAX_ERROR_TEXT};
use crate::text::{capped_display, Bounded};

/// How many nested `Serialize` calls are followed (options and newtypes count, as in
/// [`crate::capture`], so a chain of `Option<Box<Node>>` is cut too).
const MAX_NESTING: usize = 2 * MAX_CAPTURE_DEPTH;

/// Compact JSON of `value`, at most `max` bytes (ending in `…` when cut), or the value's own
/// serialization error (capped).
pub(crate) fn json_of<T: Serialize + ?Sized>(value: &T, max: usize) -> Result<String, String> {
    let mut json = Json {
        out: Bounded::new(max),
        nesting: 0,
    };
    match value.serialize(&mut json) {
        Ok(()) | Err(Stop::Full) => Ok(json.out.finish()),
        Err(Stop::Failed(message)) => Err(message),
    }
}

/// Compact JSON of a captured value, at most `max` bytes, and whether it was cut.
pub(crate) fn json_of_value(value: &Value, max: usize) -> (String, bool) {
    let mut json = Json {
        out: Bounded::new(max),
        nesting: 0,
    };
    // A `Value` serializes without failing, and `json` stops at the cap.
    let _ = value.serialize(&mut json);
    let cut = json.out.is_cut();
    (json.out.finish(), cut)
}

/// Why serialization stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The cap was reached: what was written is kept.
    Full,
    /// The value's own error, capped.
    Failed(String),
}

impl Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Full => f.write_str("the text reached its cap"),
            Stop::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<M: Display>(message: M) -> Self {
        Stop::Failed(capped_display(message, MAX_ERROR_TEXT))
    }
}

fn failed(message: &str) -> Stop {
    Stop::Failed(message.to_owned())
}

/// A compact JSON serializer into a [`Bounded`] text.
struct Json {
    out: Bounded,
    nesting: usize,
}

impl Json {
    fn put(&mut self, text: &str) -> Result<(), Stop> {
        if self.out.put(text) {
            Ok(())
        } else {
            Err(Stop::Full)
        }
    }

    /// Writes `text` as a JSON string literal, stopping at the cap.
    fn string(&mut self, text: &str) -> Result<(), Stop> {
        self.put("\"")?;
        let mut start = 0;
        for (at, c) in text.char_indices() {
            let escaped = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\u{8}' => "\\b",
                '\u{c}' => "\\f",
                c if (c as u32) < 0x20 => "",
                _ => continue,
            };
            self.put(&text[start..at])?;
            if escaped.is_empty() {
                let mut code = String::with_capacity(6);
                let _ = write!(code, "\\u{:04x}", c as u32);
                self.put(&code)?;
            } else {
                self.put(escaped)?;
            }
            start = at + c.len_utf8();
        }
        self.put(&text[start..])?;
        self.put("\"")
    }

    fn display(&mut self, value: impl Display) -> Result<(), Stop> {
        let mut text = String::new();
        let _ = write!(text, "{value}");
        self.put(&text)
    }

    fn float(&mut self, value: f64) -> Result<(), Stop> {
        match serde_json::Number::from_f64(value) {
            Some(number) => self.display(number),
            None => self.string(non_finite_text(value).unwrap_or(crate::capture::NAN)),
        }
    }

    /// Serializes a nested value, or [`DEPTH_CUT`] past the nesting limit.
    fn nested<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        if self.nesting >= MAX_NESTING {
            return self.string(DEPTH_CUT);
        }
        self.nesting += 1;
        let result = value.serialize(&mut *self);
        self.nesting -= 1;
        result
    }

    fn open(&mut self, variant: Option<&str>, bracket: &str) -> Result<Compound<'_>, Stop> {
        let mut close = String::new();
        if let Some(variant) = variant {
            self.put("{")?;
            self.string(variant)?;
            self.put(":")?;
            close.push('}');
        }
        self.put(bracket)?;
        close.insert_str(0, if bracket == "[" { "]" } else { "}" });
        Ok(Compound {
            json: self,
            first: true,
            close,
        })
    }
}

/// An array or an object being written.
struct Compound<'j> {
    json: &'j mut Json,
    first: bool,
    close: String,
}

impl Compound<'_> {
    fn comma(&mut self) -> Result<(), Stop> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.json.put(",")
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.comma()?;
        self.json.nested(value)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Stop> {
        self.comma()?;
        self.json.string(key)?;
        self.json.put(":")?;
        self.json.nested(value)
    }

    fn end(self) -> Result<(), Stop> {
        self.json.put(&self.close)
    }
}

impl<'j> ser::Serializer for &'j mut Json {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'j>;
    type SerializeTuple = Compound<'j>;
    type SerializeTupleStruct = Compound<'j>;
    type SerializeTupleVariant = Compound<'j>;
    type SerializeMap = Compound<'j>;
    type SerializeStruct = Compound<'j>;
    type SerializeStructVariant = Compound<'j>;

    fn serialize_bool(self, v: bool) -> Result<(), Stop> {
        self.put(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Stop> {
        self.display(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Stop> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Stop> {
        let mut seq = self.open(None, "[")?;
        for byte in v {
            seq.comma()?;
            seq.json.display(byte)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Stop> {
        self.put("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        self.nested(value)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        self.put("null")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Stop> {
        self.put("null")
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Stop> {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.nested(value)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        let mut object = self.open(None, "{")?;
        object.field(variant, value)?;
        object.end()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'j>, Stop> {
        self.open(None, "[")
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'j>, Stop> {
        self.open(None, "[")
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'j>, Stop> {
        self.open(None, "[")
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'j>, Stop> {
        self.open(Some(variant), "[")
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'j>, Stop> {
        self.open(None, "{")
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'j>, Stop> {
        self.open(None, "{")
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'j>, Stop> {
        self.open(Some(variant), "{")
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Stop> {
        // Formatted into a capped buffer (never past what can still be kept), then escaped.
        let room = self.out.room();
        let text = capped_display(value, room.saturating_add(1));
        self.string(&text)
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        self.comma()?;
        key.serialize(Key(self.json))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.json.put(":")?;
        self.json.nested(value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Stop> {
        Compound::end(self)
    }
}

/// A map key: written as a JSON string, as `serde_json` does for strings, numbers, booleans
/// and unit variants; anything else is an error.
struct Key<'j>(&'j mut Json);

const KEY_ERROR: &str = "key must be a string";

impl Key<'_> {
    fn quoted(self, value: impl Display) -> Result<(), Stop> {
        let mut text = String::new();
        let _ = write!(text, "{value}");
        self.0.string(&text)
    }
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Impossible<(), Stop>;
    type SerializeTuple = Impossible<(), Stop>;
    type SerializeTupleStruct = Impossible<(), Stop>;
    type SerializeTupleVariant = Impossible<(), Stop>;
    type SerializeMap = Impossible<(), Stop>;
    type SerializeStruct = Impossible<(), Stop>;
    type SerializeStructVariant = Impossible<(), Stop>;

    fn serialize_bool(self, v: bool) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Stop> {
        self.quoted(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        match serde_json::Number::from_f64(v) {
            Some(number) => self.quoted(number),
            None => self
                .0
                .string(non_finite_text(v).unwrap_or(crate::capture::NAN)),
        }
    }
    fn serialize_char(self, v: char) -> Result<(), Stop> {
        self.0.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        self.0.string(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Stop> {
        self.0.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        // Newtypes nest once per wrapper; a key is never deep in practice, but stay bounded.
        if self.0.nesting >= MAX_NESTING {
            return Err(failed(KEY_ERROR));
        }
        self.0.nesting += 1;
        let json = &mut *self.0;
        let result = value.serialize(Key(json));
        json.nesting -= 1;
        result
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Stop> {
        Err(failed(KEY_ERROR))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(failed(KEY_ERROR))
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Stop> {
        let room = self.0.out.room();
        let text = capped_display(value, room.saturating_add(1));
        self.0.string(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn writes_what_serde_json_writes() {
        let value = json!({"a": [1, 2.5, "x\n\"y\"\u{1}"], "b": null, "c": {"d": true}});
        let expected = serde_json::to_string(&value).unwrap();
        assert_eq!(json_of(&value, 1000).unwrap(), expected);
        assert_eq!(json_of_value(&value, 1000), (expected, false));
        let map = BTreeMap::from([(1u32, 'c'), (2, 'd')]);
        assert_eq!(json_of(&map, 100).unwrap(), r#"{"1":"c","2":"d"}"#);
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(u8, u8),
            Struct { x: f64 },
        }
        let all = (
            E::Unit,
            E::New(1),
            E::Tuple(1, 2),
            E::Struct { x: f64::NAN },
            Some(()),
        );
        assert_eq!(
            json_of(&all, 200).unwrap(),
            r#"["Unit",{"New":1},{"Tuple":[1,2]},{"Struct":{"x":"NaN"}},null]"#
        );
    }

    #[test]
    fn stops_at_the_cap_with_a_marker() {
        let long = "é".repeat(10_000);
        let text = json_of(&long, 101).unwrap();
        assert!(text.len() <= 101);
        assert!(text.starts_with("\"éé"));
        assert!(text.ends_with('…'));
        assert!(text.capacity() <= 101);
    }

    #[test]
    fn deep_values_are_cut_without_recursing_further() {
        let mut value = json!(0);
        for _ in 0..1_000 {
            value = json!([value]);
        }
        let text = std::thread::spawn(move || {
            let text = json_of(&value, 1 << 20).unwrap();
            value_iteratively(value);
            text
        })
        .join()
        .unwrap();
        assert!(text.contains(DEPTH_CUT));
        assert!(text.len() < 2_000);
    }

    /// Drops a deep `Value` without recursion.
    fn value_iteratively(value: Value) {
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
    }

    #[test]
    fn bad_keys_are_errors() {
        let map = BTreeMap::from([(vec![1u8], 1)]);
        assert_eq!(json_of(&map, 100).unwrap_err(), KEY_ERROR);
    }
}
