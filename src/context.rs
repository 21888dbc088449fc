//! Per-call context: key/value pairs that describe one run (route, tenant, request id).

use std::borrow::Cow;
use std::fmt;

use smallvec::SmallVec;

use crate::text::{cut_point, CUT_MARKER};

/// One context value. Context goes to traces and logs only, never to metric attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum ContextValue {
    /// Text.
    Str(Cow<'static, str>),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// A flag.
    Bool(bool),
}

impl fmt::Display for ContextValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextValue::Str(text) => f.write_str(text),
            ContextValue::I64(n) => write!(f, "{n}"),
            ContextValue::U64(n) => write!(f, "{n}"),
            ContextValue::F64(n) => write!(f, "{n}"),
            ContextValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<&'static str> for ContextValue {
    fn from(text: &'static str) -> Self {
        ContextValue::Str(Cow::Borrowed(text))
    }
}

impl From<String> for ContextValue {
    fn from(text: String) -> Self {
        ContextValue::Str(Cow::Owned(text))
    }
}

impl From<Cow<'static, str>> for ContextValue {
    fn from(text: Cow<'static, str>) -> Self {
        ContextValue::Str(text)
    }
}

macro_rules! context_from_int {
    ($variant:ident, $wide:ty: $($narrow:ty),*) => {$(
        impl From<$narrow> for ContextValue {
            fn from(n: $narrow) -> Self {
                ContextValue::$variant(<$wide>::from(n))
            }
        }
    )*};
}
context_from_int!(I64, i64: i8, i16, i32, i64);
context_from_int!(U64, u64: u8, u16, u32, u64);

impl From<usize> for ContextValue {
    fn from(n: usize) -> Self {
        ContextValue::U64(n as u64)
    }
}

impl From<f64> for ContextValue {
    fn from(n: f64) -> Self {
        ContextValue::F64(n)
    }
}

impl From<bool> for ContextValue {
    fn from(b: bool) -> Self {
        ContextValue::Bool(b)
    }
}

/// The longest context key or text value kept, in bytes. Longer ones are cut at a character
/// boundary and end in `…`, so that a huge value cannot blow up a span or a log line.
pub const MAX_CONTEXT_TEXT: usize = 256;

/// The context of one run: ordered key/value pairs, keys unique.
///
/// Up to four entries are stored inline, so a sampled-out call that sets a little context
/// allocates nothing. Keys and text values are capped at [`MAX_CONTEXT_TEXT`] bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    entries: SmallVec<[(Cow<'static, str>, ContextValue); 4]>,
    /// A trial's input, captured when the run was sampled in; taken out when the result is
    /// prepared (so a published context never carries it).
    #[cfg(feature = "serde")]
    pub(crate) input: Option<Box<crate::capture::Captured>>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, replacing an earlier value of the same key.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<ContextValue>) {
        let key = bounded(key.into());
        let value = match value.into() {
            ContextValue::Str(text) => ContextValue::Str(bounded(text)),
            other => other,
        };
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The entries in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// This context laid over `defaults`: the defaults' entries first (where this one does
    /// not replace them), then this one's own; the captured input is this one's.
    pub(crate) fn over(self, defaults: &Context) -> Context {
        let mut merged = defaults.entries.clone();
        for (key, value) in self.entries {
            match merged.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => merged.push((key, value)),
            }
        }
        Context {
            entries: merged,
            #[cfg(feature = "serde")]
            input: self.input,
        }
    }

    /// Whether there are no entries and no captured input.
    pub(crate) fn is_blank(&self) -> bool {
        #[cfg(feature = "serde")]
        if self.input.is_some() {
            return false;
        }
        self.entries.is_empty()
    }
}

/// Cuts `text` to at most [`MAX_CONTEXT_TEXT`] bytes, marking the cut with `…`.
fn bounded(text: Cow<'static, str>) -> Cow<'static, str> {
    let Some(cut) = cut_point(&text, MAX_CONTEXT_TEXT) else {
        return text;
    };
    match text {
        Cow::Borrowed(text) => Cow::Owned(format!("{}{CUT_MARKER}", &text[..cut])),
        Cow::Owned(mut text) => {
            // Truncating leaves room for the marker: no reallocation.
            text.truncate(cut);
            text.push(CUT_MARKER);
            Cow::Owned(text)
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ContextValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ContextValue::Str(text) => serializer.serialize_str(text),
            ContextValue::I64(n) => serializer.serialize_i64(*n),
            ContextValue::U64(n) => serializer.serialize_u64(*n),
            ContextValue::F64(n) => serializer.serialize_f64(*n),
            ContextValue::Bool(b) => serializer.serialize_bool(*b),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Context {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key.as_ref(), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_and_values_are_capped_at_a_char_boundary() {
        let mut context = Context::new();
        let long = "é".repeat(300);
        context.insert(long.clone(), long.clone());
        context.insert("static", "x".repeat(1000));
        for (key, value) in context.iter() {
            assert!(key.len() <= MAX_CONTEXT_TEXT, "{}", key.len());
            let ContextValue::Str(text) = value else {
                panic!("text stays text")
            };
            assert!(text.len() <= MAX_CONTEXT_TEXT && text.ends_with('…'));
        }
        assert_eq!(
            context.get("static").unwrap().to_string().len(),
            MAX_CONTEXT_TEXT
        );
        context.insert("short", "kept as is");
        assert_eq!(context.get("short").unwrap().to_string(), "kept as is");
    }

    #[test]
    fn insert_replaces_and_keeps_first_position() {
        let mut context = Context::new();
        context.insert("route", "/a");
        context.insert("user", 7u32);
        context.insert("route", String::from("/b"));
        let entries: Vec<_> = context.iter().map(|(k, v)| (k, v.to_string())).collect();
        assert_eq!(
            entries,
            vec![("route", "/b".to_string()), ("user", "7".to_string())]
        );
        assert_eq!(context.get("user"), Some(&ContextValue::U64(7)));
        assert_eq!(context.get("missing"), None);
    }
}
