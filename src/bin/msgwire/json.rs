//! One JSON object on one line, written by hand (the program has no JSON
//! dependency): strings escaped per RFC 8259, numbers that are not finite
//! written as `null`.

use std::fmt::Write;

/// A JSON object being written, its members in the order they are added.
pub struct Object {
    out: String,
}

impl Object {
    pub fn new() -> Object {
        Object {
            out: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        string(&mut self.out, key);
        self.out.push(':');
    }

    pub fn str(mut self, key: &str, value: &str) -> Object {
        self.key(key);
        string(&mut self.out, value);
        self
    }

    pub fn uint(mut self, key: &str, value: u64) -> Object {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    pub fn bool(mut self, key: &str, value: bool) -> Object {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// A number with `decimals` digits after the point; `null` when it is
    /// not finite (JSON has no NaN or infinity).
    pub fn float(mut self, key: &str, value: f64, decimals: usize) -> Object {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.out, "{value:.decimals$}");
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// A string, or `null`.
    pub fn opt_str(self, key: &str, value: Option<&str>) -> Object {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    /// A number, or `null`.
    pub fn opt_float(self, key: &str, value: Option<f64>, decimals: usize) -> Object {
        match value {
            Some(v) => self.float(key, v, decimals),
            None => self.null(key),
        }
    }

    pub fn null(mut self, key: &str) -> Object {
        self.key(key);
        self.out.push_str("null");
        self
    }

    /// The object's text, without a newline.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Appends `s` as a JSON string: quotes, backslashes and control
/// characters escaped; everything else, non-ASCII included, as it is.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_survive_a_json_parser() {
        let nasty = "a\"b\\c\nd\re\tf\u{0}g\u{1f}h\u{7f}é☃\u{1F600}\u{8}\u{c}/";
        let text = Object::new().str("s", nasty).str(nasty, "key").finish();
        let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(v["s"], nasty);
        assert_eq!(v[nasty], "key");
    }

    #[test]
    fn numbers_and_nulls() {
        let text = Object::new()
            .uint("n", u64::MAX)
            .float("f", 1.23456, 3)
            .float("nan", f64::NAN, 3)
            .float("inf", f64::INFINITY, 1)
            .opt_float("none", None, 1)
            .opt_str("s", None)
            .bool("t", true)
            .finish();
        let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(v["n"], u64::MAX);
        assert_eq!(v["f"], 1.235);
        assert!(v["nan"].is_null() && v["inf"].is_null() && v["none"].is_null());
        assert!(v["s"].is_null());
        assert_eq!(v["t"], true);
        assert_eq!(Object::new().finish(), "{}");
    }
}
