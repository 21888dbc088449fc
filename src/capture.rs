//! Serializing a caller's value into a [`serde_json::Value`] without unbounded recursion.
//!
//! `serde_json::to_value` recurses once per level of the value (and the caller's `Serialize`
//! recurses with it), so a linked structure 10,000 levels deep overflows any thread's stack.
//! [`capture`] builds the same `Value` but stops descending past [`MAX_CAPTURE_DEPTH`] levels:
//! the subtree there is replaced by [`DEPTH_CUT`] and the capture says it was cut. It never
//! calls a nested value's `Serialize` past the limit, so the recursion stays bounded whatever
//! the caller's type does.
//!
//! JSON has no NaN or infinities; `serde_json` turns them into `null`, which loses their
//! identity (`inf` and `-inf` would compare equal). Here they become the strings
//! [`NAN`], [`INFINITY`] and [`NEG_INFINITY`], which the diff treats as numbers.
//!
//! Error messages a `Serialize` implementation produces are cut to [`MAX_ERROR_TEXT`] bytes,
//! since they can quote the value.

use std::cell::Cell;
use std::fmt::{self, Display};

use serde::ser::{self, Serialize};
use serde_json::{Map, Number, Value};

use crate::text::capped_display;
#[cfg(test)]
use crate::text::CUT_MARKER;

/// How many levels of arrays and objects [`capture`] builds; deeper subtrees are cut.
pub const MAX_CAPTURE_DEPTH: usize = 128;

/// How many nested `Serialize` calls [`capture`] follows. Options and newtypes nest without
/// adding a JSON level, so they are counted here (a chain of `Option<Box<Node>>` is cut too).
const MAX_NESTING: usize = 2 * MAX_CAPTURE_DEPTH;

/// The string that replaces an array or object nested 128 levels deep
/// ([`MAX_DEPTH`](crate::diff::MAX_DEPTH)) in a captured or compared value: what lies
/// there is not compared.
pub const DEPTH_CUT: &str = "[cut: deeper than 128 levels]";

/// How `f64::NAN` (and `f32::NAN`) appears in a value serialized for a diff
/// (see [non-finite floats](crate::diff#non-finite-floats)).
pub const NAN: &str = "NaN";
/// How `f64::INFINITY` (and `f32::INFINITY`) appears in a value serialized for a diff
/// (see [non-finite floats](crate::diff#non-finite-floats)).
pub const INFINITY: &str = "Infinity";
/// How `f64::NEG_INFINITY` (and `f32::NEG_INFINITY`) appears in a value serialized for a diff
/// (see [non-finite floats](crate::diff#non-finite-floats)).
pub const NEG_INFINITY: &str = "-Infinity";

/// The longest error message (in bytes) that serializing a value for a diff keeps; longer
/// ones are cut and end in `…`.
pub const MAX_ERROR_TEXT: usize = 512;

/// A value serialized by [`capture`].
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    /// The value as JSON, with subtrees past the depth limit replaced by [`DEPTH_CUT`].
    pub value: Value,
    /// True when some subtree was replaced by [`DEPTH_CUT`].
    pub depth_cut: bool,
}

/// Serializes `value` into a [`Value`], at most [`MAX_CAPTURE_DEPTH`] levels deep.
///
/// # Errors
///
/// Returns the value's own serialization error (its message cut to [`MAX_ERROR_TEXT`]
/// bytes), or an error for a map key that is not a string, number, boolean or unit variant.
pub fn capture<T: Serialize + ?Sized>(value: &T) -> Result<Captured, CaptureError> {
    let cut = Cell::new(false);
    let value = value.serialize(Capturer {
        depth: 0,
        nesting: 0,
        cut: &cut,
    })?;
    Ok(Captured {
        value,
        depth_cut: cut.get(),
    })
}

/// The string a non-finite float is captured as, or `None` for a finite one.
pub fn non_finite_text(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some(NAN)
    } else if f == f64::INFINITY {
        Some(INFINITY)
    } else if f == f64::NEG_INFINITY {
        Some(NEG_INFINITY)
    } else {
        None
    }
}

/// True if `text` is how [`capture`] writes a non-finite float.
pub fn is_non_finite_text(text: &str) -> bool {
    matches!(text, NAN | INFINITY | NEG_INFINITY)
}

/// Why a value could not be captured: its own `Serialize` failed, or a map key was not a
/// string. The message is cut to [`MAX_ERROR_TEXT`] bytes, since it can quote the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureError {
    message: String,
}

impl CaptureError {
    /// The (capped) message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CaptureError {}

impl ser::Error for CaptureError {
    fn custom<M: Display>(message: M) -> Self {
        capped_error(message)
    }
}

/// A [`CaptureError`] whose message is `message` cut to [`MAX_ERROR_TEXT`] bytes.
pub(crate) fn capped_error(message: impl Display) -> CaptureError {
    CaptureError {
        message: capped_display(message, MAX_ERROR_TEXT),
    }
}

/// The serializer: one per level, carrying how deep it is and where to note a cut.
#[derive(Clone, Copy)]
struct Capturer<'c> {
    /// JSON levels (arrays, objects) above the value being serialized.
    depth: usize,
    /// `Serialize` calls above the value being serialized.
    nesting: usize,
    cut: &'c Cell<bool>,
}

impl<'c> Capturer<'c> {
    /// The serializer for a value inside a container at this level, or `None` past a limit.
    fn element(self) -> Option<Capturer<'c>> {
        (self.depth < MAX_CAPTURE_DEPTH && self.nesting < MAX_NESTING).then_some(Capturer {
            depth: self.depth + 1,
            nesting: self.nesting + 1,
            cut: self.cut,
        })
    }

    /// The serializer for a value wrapped without a JSON level (`Some`, a newtype).
    fn wrapped(self) -> Option<Capturer<'c>> {
        (self.nesting < MAX_NESTING).then_some(Capturer {
            nesting: self.nesting + 1,
            ..self
        })
    }

    /// Serializes `value` as an element of a container at this level, or cuts it.
    fn nested<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, CaptureError> {
        match self.element() {
            Some(inner) => value.serialize(inner),
            None => Ok(self.cut_here()),
        }
    }

    fn cut_here(self) -> Value {
        self.cut.set(true);
        Value::String(DEPTH_CUT.to_owned())
    }
}

fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None => Value::String(non_finite_text(f).unwrap_or(NAN).to_owned()),
    }
}

impl<'c> ser::Serializer for Capturer<'c> {
    type Ok = Value;
    type Error = CaptureError;
    type SerializeSeq = SeqCapture<'c>;
    type SerializeTuple = SeqCapture<'c>;
    type SerializeTupleStruct = SeqCapture<'c>;
    type SerializeTupleVariant = VariantCapture<'c, SeqCapture<'c>>;
    type SerializeMap = MapCapture<'c>;
    type SerializeStruct = MapCapture<'c>;
    type SerializeStructVariant = VariantCapture<'c, MapCapture<'c>>;

    fn serialize_bool(self, v: bool) -> Result<Value, Self::Error> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Self::Error> {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Self::Error> {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Self::Error> {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Self::Error> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, Self::Error> {
        // As serde_json does without `arbitrary_precision`: exact when it fits, else an error.
        if let Ok(v) = i64::try_from(v) {
            Ok(Value::from(v))
        } else if let Ok(v) = u64::try_from(v) {
            Ok(Value::from(v))
        } else {
            Err(capped_error("number out of range"))
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Self::Error> {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Self::Error> {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Self::Error> {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Self::Error> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, Self::Error> {
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| capped_error("number out of range"))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Self::Error> {
        Ok(float(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Self::Error> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, Self::Error> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Self::Error> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Self::Error> {
        Ok(Value::Array(v.iter().map(|&b| Value::from(b)).collect()))
    }
    fn serialize_none(self) -> Result<Value, Self::Error> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Self::Error> {
        match self.wrapped() {
            Some(inner) => value.serialize(inner),
            None => Ok(self.cut_here()),
        }
    }
    fn serialize_unit(self) -> Result<Value, Self::Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Self::Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, Self::Error> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, Self::Error> {
        self.serialize_some(value)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Self::Error> {
        let mut map = Map::new();
        map.insert(variant.to_owned(), self.nested(value)?);
        Ok(Value::Object(map))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqCapture<'c>, Self::Error> {
        Ok(SeqCapture::new(self, len))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqCapture<'c>, Self::Error> {
        Ok(SeqCapture::new(self, Some(len)))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqCapture<'c>, Self::Error> {
        Ok(SeqCapture::new(self, Some(len)))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        Ok(VariantCapture::new(self, variant, |inner| {
            SeqCapture::new(inner, Some(len))
        }))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapCapture<'c>, Self::Error> {
        Ok(MapCapture::new(self))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<MapCapture<'c>, Self::Error> {
        Ok(MapCapture::new(self))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        Ok(VariantCapture::new(self, variant, MapCapture::new))
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<Value, Self::Error> {
        Ok(Value::String(value.to_string()))
    }
}

/// An array being captured; `None` elements when the array itself is past the limit.
struct SeqCapture<'c> {
    at: Capturer<'c>,
    items: Option<Vec<Value>>,
}

impl<'c> SeqCapture<'c> {
    fn new(at: Capturer<'c>, len: Option<usize>) -> Self {
        // The hint comes from the caller's type; cap it so a lying hint allocates nothing big.
        let capacity = len.unwrap_or(0).min(1024);
        let items = at.element().map(|_| Vec::with_capacity(capacity));
        SeqCapture { at, items }
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CaptureError> {
        if let Some(items) = &mut self.items {
            items.push(self.at.nested(value)?);
        }
        Ok(())
    }

    fn finish(self) -> Value {
        match self.items {
            Some(items) => Value::Array(items),
            None => self.at.cut_here(),
        }
    }
}

impl ser::SerializeSeq for SeqCapture<'_> {
    type Ok = Value;
    type Error = CaptureError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Self::Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqCapture<'_> {
    type Ok = Value;
    type Error = CaptureError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Self::Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqCapture<'_> {
    type Ok = Value;
    type Error = CaptureError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Self::Error> {
        Ok(self.finish())
    }
}

/// An object being captured; `None` members when the object itself is past the limit.
struct MapCapture<'c> {
    at: Capturer<'c>,
    members: Option<Map<String, Value>>,
    next_key: Option<String>,
}

impl<'c> MapCapture<'c> {
    fn new(at: Capturer<'c>) -> Self {
        let members = at.element().map(|_| Map::new());
        MapCapture {
            at,
            members,
            next_key: None,
        }
    }

    fn insert<T: Serialize + ?Sized>(
        &mut self,
        key: String,
        value: &T,
    ) -> Result<(), CaptureError> {
        if let Some(members) = &mut self.members {
            let value = self.at.nested(value)?;
            members.insert(key, value);
        }
        Ok(())
    }

    fn finish(self) -> Value {
        match self.members {
            Some(members) => Value::Object(members),
            None => self.at.cut_here(),
        }
    }
}

impl ser::SerializeMap for MapCapture<'_> {
    type Ok = Value;
    type Error = CaptureError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Self::Error> {
        if self.members.is_some() {
            self.next_key = Some(key.serialize(KeyCapture)?);
        }
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        if self.members.is_none() {
            return Ok(());
        }
        let key = self
            .next_key
            .take()
            .ok_or_else(|| capped_error("serialize_value called before serialize_key"))?;
        self.insert(key, value)
    }
    fn end(self) -> Result<Value, Self::Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapCapture<'_> {
    type Ok = Value;
    type Error = CaptureError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Value, Self::Error> {
        Ok(self.finish())
    }
}

/// An enum variant with contents, captured as `{"Variant": contents}`.
struct VariantCapture<'c, C> {
    at: Capturer<'c>,
    variant: &'static str,
    /// `None` when the wrapping object is past the limit.
    contents: Option<C>,
}

impl<'c, C> VariantCapture<'c, C> {
    fn new(
        at: Capturer<'c>,
        variant: &'static str,
        contents: impl FnOnce(Capturer<'c>) -> C,
    ) -> Self {
        VariantCapture {
            at,
            variant,
            contents: at.element().map(contents),
        }
    }

    fn finish(self, contents: impl FnOnce(C) -> Value) -> Value {
        match self.contents {
            Some(inner) => {
                let mut map = Map::new();
                map.insert(self.variant.to_owned(), contents(inner));
                Value::Object(map)
            }
            None => self.at.cut_here(),
        }
    }
}

impl ser::SerializeTupleVariant for VariantCapture<'_, SeqCapture<'_>> {
    type Ok = Value;
    type Error = CaptureError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        match &mut self.contents {
            Some(seq) => seq.push(value),
            None => Ok(()),
        }
    }
    fn end(self) -> Result<Value, Self::Error> {
        Ok(self.finish(SeqCapture::finish))
    }
}

impl ser::SerializeStructVariant for VariantCapture<'_, MapCapture<'_>> {
    type Ok = Value;
    type Error = CaptureError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        match &mut self.contents {
            Some(map) => map.insert(key.to_owned(), value),
            None => Ok(()),
        }
    }
    fn end(self) -> Result<Value, Self::Error> {
        Ok(self.finish(MapCapture::finish))
    }
}

/// Map keys, which JSON requires to be strings: strings, chars, numbers, booleans and unit
/// variants are accepted (as `serde_json` does), anything else is an error.
struct KeyCapture;

fn key_error() -> CaptureError {
    capped_error("key must be a string")
}

impl ser::Serializer for KeyCapture {
    type Ok = String;
    type Error = CaptureError;
    type SerializeSeq = ser::Impossible<String, CaptureError>;
    type SerializeTuple = ser::Impossible<String, CaptureError>;
    type SerializeTupleStruct = ser::Impossible<String, CaptureError>;
    type SerializeTupleVariant = ser::Impossible<String, CaptureError>;
    type SerializeMap = ser::Impossible<String, CaptureError>;
    type SerializeStruct = ser::Impossible<String, CaptureError>;
    type SerializeStructVariant = ser::Impossible<String, CaptureError>;

    fn serialize_bool(self, v: bool) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<String, Self::Error> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<String, Self::Error> {
        Ok(match non_finite_text(v) {
            Some(text) => text.to_owned(),
            None => v.to_string(),
        })
    }
    fn serialize_char(self, v: char) -> Result<String, Self::Error> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, Self::Error> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, Self::Error> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<String, Self::Error> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, Self::Error> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<String, Self::Error> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, Self::Error> {
        Err(key_error())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, Self::Error> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<String, Self::Error> {
        // Following the newtype would recurse into the caller's type without a bound.
        Err(key_error())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, Self::Error> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Self::Error> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Err(key_error())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        Err(key_error())
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<String, Self::Error> {
        Ok(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Node {
        v: u32,
        child: Option<Box<Node>>,
    }

    impl Drop for Node {
        // Iterative, so the test's own value can be dropped at any depth.
        fn drop(&mut self) {
            let mut next = self.child.take();
            while let Some(mut node) = next {
                next = node.child.take();
            }
        }
    }

    fn chain(depth: usize) -> Node {
        let mut node = Node { v: 0, child: None };
        for v in 1..depth {
            node = Node {
                v: v as u32,
                child: Some(Box::new(node)),
            };
        }
        node
    }

    fn json_depth(value: &Value) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(value, 0)];
        while let Some((value, depth)) = pending.pop() {
            deepest = deepest.max(depth);
            match value {
                Value::Array(items) => pending.extend(items.iter().map(|v| (v, depth + 1))),
                Value::Object(members) => pending.extend(members.values().map(|v| (v, depth + 1))),
                _ => {}
            }
        }
        deepest
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        New(u8),
        Tuple(u8, String),
        Named { x: i32, tags: Vec<&'static str> },
    }

    #[derive(Serialize)]
    struct Wrapper(u64);

    #[derive(Serialize)]
    struct Everything {
        unit: Shape,
        new: Shape,
        tuple: Shape,
        named: Shape,
        wrapper: Wrapper,
        pair: (bool, char),
        bytes: &'static [u8],
        none: Option<u8>,
        some: Option<i128>,
        big: u128,
        small: i8,
        float: f32,
        map: BTreeMap<u32, &'static str>,
        unit_value: (),
    }

    #[test]
    fn shallow_values_capture_exactly_as_serde_json() {
        let value = Everything {
            unit: Shape::Unit,
            new: Shape::New(3),
            tuple: Shape::Tuple(1, "x".into()),
            named: Shape::Named {
                x: -4,
                tags: vec!["a", "b"],
            },
            wrapper: Wrapper(u64::MAX),
            pair: (true, 'é'),
            bytes: &[1, 2, 255],
            none: None,
            some: Some(-7),
            big: 1 << 70,
            small: -8,
            float: 1.5,
            map: BTreeMap::from([(2, "two"), (10, "ten")]),
            unit_value: (),
        };
        let captured = capture(&value);
        // serde_json refuses the u128 beyond u64 too; compare the rest.
        assert!(captured.is_err());
        assert!(serde_json::to_value(&value).is_err());
        let value = Everything { big: 12, ..value };
        let captured = capture(&value).unwrap();
        assert_eq!(captured.value, serde_json::to_value(&value).unwrap());
        assert!(!captured.depth_cut);
    }

    #[test]
    fn deep_chains_are_cut_at_the_depth_limit_without_overflow() {
        for depth in [10_000, 100_000] {
            let node = chain(depth);
            // A 256 KiB stack: far less than the 2 MiB of a caller's thread.
            let captured = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || capture(&node).unwrap())
                .unwrap()
                .join()
                .unwrap();
            assert!(captured.depth_cut);
            assert!(json_depth(&captured.value) <= MAX_CAPTURE_DEPTH);
            assert!(captured.value.to_string().contains(DEPTH_CUT));
        }
    }

    #[test]
    fn nested_arrays_and_variants_are_cut_too() {
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = Value::Array(vec![deep]);
        }
        let captured = capture(&deep).unwrap();
        assert!(captured.depth_cut);
        assert_eq!(json_depth(&captured.value), MAX_CAPTURE_DEPTH);
        // Iterative drop of the test's own deep value is serde_json's business; 200 is fine.
        let shallow = json!([[1, 2], {"a": [3]}]);
        let captured = capture(&shallow).unwrap();
        assert_eq!(captured.value, shallow);
        assert!(!captured.depth_cut);
    }

    #[test]
    fn values_exactly_at_the_limit_are_not_cut() {
        let mut deep = json!(1);
        for _ in 0..MAX_CAPTURE_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        let captured = capture(&deep).unwrap();
        assert!(!captured.depth_cut, "{MAX_CAPTURE_DEPTH} levels fit");
        assert_eq!(captured.value, deep);
        let deeper = Value::Array(vec![deep]);
        assert!(capture(&deeper).unwrap().depth_cut);
    }

    #[test]
    fn non_finite_floats_keep_their_identity() {
        let captured = capture(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.0]).unwrap();
        assert_eq!(captured.value, json!(["NaN", "Infinity", "-Infinity", 2.0]));
        assert_eq!(capture(&f32::INFINITY).unwrap().value, json!("Infinity"));
        assert!(is_non_finite_text("NaN") && !is_non_finite_text("nan"));
        assert_eq!(non_finite_text(1.0), None);
        let keys = BTreeMap::from([(1, 2)]);
        assert_eq!(capture(&keys).unwrap().value, json!({"1": 2}));
    }

    #[test]
    fn keys_that_are_not_strings_are_errors() {
        let map = BTreeMap::from([(vec![1], 2)]);
        let error = capture(&map).unwrap_err().to_string();
        assert!(error.contains("key must be a string"), "{error}");
    }

    struct Failing(usize);
    impl Serialize for Failing {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("x".repeat(self.0)))
        }
    }

    #[test]
    fn serialize_errors_are_cut_to_the_cap() {
        let error = capture(&Failing(5 * 1024)).unwrap_err().to_string();
        assert!(error.len() <= MAX_ERROR_TEXT, "{} bytes", error.len());
        assert!(error.contains(CUT_MARKER));
        let error = capture(&Failing(10)).unwrap_err().to_string();
        assert!(error.contains("xxxxxxxxxx") && !error.contains(CUT_MARKER));
    }
}
