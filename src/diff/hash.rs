//! Hashing JSON values consistently with the walk's equality, for matching the elements of
//! arrays compared as multisets.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::Value;

use super::DEPTH_CUT;

/// How deep element hashing (for multiset matching) looks.
const HASH_DEPTH: usize = 32;

/// A hash consistent with exact element equality, including multiset
/// comparison of nested arrays (array and object contents are combined
/// order-independently) and the depth limit (an array or object
/// `levels_to_cut` levels down hashes as the string [`DEPTH_CUT`]). Only
/// looks `HASH_DEPTH` levels deep.
pub(super) fn hash_value(value: &Value, levels_to_cut: usize) -> u64 {
    let mut hasher = DefaultHasher::new();
    feed_hash(value, &mut hasher, HASH_DEPTH, levels_to_cut);
    hasher.finish()
}

fn feed_hash(value: &Value, hasher: &mut DefaultHasher, depth: usize, levels_to_cut: usize) {
    match value {
        Value::Array(_) | Value::Object(_) if levels_to_cut == 0 => {
            hasher.write_u8(3);
            DEPTH_CUT.hash(hasher);
        }
        Value::Null => hasher.write_u8(0),
        Value::Bool(b) => {
            hasher.write_u8(1);
            b.hash(hasher);
        }
        Value::Number(n) => {
            hasher.write_u8(2);
            // Equal numbers have equal f64 values; fold -0.0 into 0.0.
            let f = n.as_f64().unwrap_or(0.0);
            hasher.write_u64(if f == 0.0 { 0 } else { f.to_bits() });
        }
        Value::String(s) => {
            // Non-finite floats are strings here, equal only to themselves.
            hasher.write_u8(3);
            s.as_str().hash(hasher);
        }
        Value::Array(items) => {
            hasher.write_u8(4);
            hasher.write_usize(items.len());
            if let Some(depth) = depth.checked_sub(1) {
                let mut sum = 0u64;
                for item in items {
                    let mut sub = DefaultHasher::new();
                    feed_hash(item, &mut sub, depth, levels_to_cut - 1);
                    sum = sum.wrapping_add(sub.finish());
                }
                hasher.write_u64(sum);
            }
        }
        Value::Object(members) => {
            hasher.write_u8(5);
            hasher.write_usize(members.len());
            if let Some(depth) = depth.checked_sub(1) {
                let mut sum = 0u64;
                for (key, item) in members {
                    let mut sub = DefaultHasher::new();
                    key.hash(&mut sub);
                    feed_hash(item, &mut sub, depth, levels_to_cut - 1);
                    sum = sum.wrapping_add(sub.finish());
                }
                hasher.write_u64(sum);
            }
        }
    }
}
