//! The sizes and padding of the crop transforms, written as torchvision writes them.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::FillMode;

/// A crop's output size: `32` (square) or `(height, width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropSize {
    pub height: usize,
    pub width: usize,
}

/// Padding around the image before a crop: `4` (every side), `(4, 2)` (left and right,
/// top and bottom) or `(1, 2, 3, 4)` (left, top, right, bottom), as torchvision's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Padding {
    pub left: usize,
    pub top: usize,
    pub right: usize,
    pub bottom: usize,
}

/// What `RandomCrop`'s padding holds (torchvision's `padding_mode`), shown for a row
/// `a b c d` padded by 2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum PaddingMode {
    /// `k k | a b c d | k k` with `k = fill`.
    #[default]
    Constant,
    /// `a a | a b c d | d d`: the edge pixel (`fill_mode: Nearest`).
    #[serde(alias = "Replicate")]
    Edge,
    /// `c b | a b c d | c b`: mirrored, the edge pixel not repeated
    /// (`fill_mode: Mirror`).
    Reflect,
    /// `b a | a b c d | d c`: mirrored, the edge pixel repeated (`fill_mode: Reflect`,
    /// Keras' `reflect`).
    Symmetric,
}

impl PaddingMode {
    /// The [`FillMode`] that fills the same way.
    pub fn fill_mode(self) -> FillMode {
        match self {
            Self::Constant => FillMode::Constant,
            Self::Edge => FillMode::Nearest,
            Self::Reflect => FillMode::Mirror,
            Self::Symmetric => FillMode::Reflect,
        }
    }
}

impl Padding {
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// Whole numbers from `32` or `(a, b, …)`, for the visitors below.
struct Counts {
    expecting: &'static str,
}

impl<'de> Visitor<'de> for Counts {
    type Value = Vec<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        usize::try_from(v)
            .map(|v| vec![v])
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<usize>()? {
            out.push(v);
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for CropSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = "a size in pixels: one whole number or (height, width)";
        match d.deserialize_any(Counts { expecting })?.as_slice() {
            &[side] => Ok(Self {
                height: side,
                width: side,
            }),
            &[height, width] => Ok(Self { height, width }),
            other => Err(de::Error::invalid_length(other.len(), &expecting)),
        }
    }
}

impl Serialize for CropSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.height, self.width).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Padding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = "padding in pixels: one whole number, (left/right, top/bottom) or \
                         (left, top, right, bottom)";
        let (left, top, right, bottom) = match d.deserialize_any(Counts { expecting })?.as_slice() {
            &[all] => (all, all, all, all),
            &[x, y] => (x, y, x, y),
            &[left, top, right, bottom] => (left, top, right, bottom),
            other => return Err(de::Error::invalid_length(other.len(), &expecting)),
        };
        Ok(Self {
            left,
            top,
            right,
            bottom,
        })
    }
}

impl Serialize for Padding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.left, self.top, self.right, self.bottom).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padding(text: &str) -> Result<Padding, ron::error::SpannedError> {
        ron::from_str(text)
    }

    #[test]
    fn padding_reads_torchvisions_three_forms_and_round_trips() {
        let p = |left, top, right, bottom| Padding {
            left,
            top,
            right,
            bottom,
        };
        assert_eq!(padding("4").expect("one number"), p(4, 4, 4, 4));
        assert_eq!(padding("(4, 2)").expect("pair"), p(4, 2, 4, 2));
        assert_eq!(padding("[1, 2, 3, 4]").expect("list"), p(1, 2, 3, 4));
        let back = ron::to_string(&p(1, 2, 3, 4)).expect("serialises");
        assert_eq!(padding(&back).expect("reads back"), p(1, 2, 3, 4));
        for bad in ["(1, 2, 3)", "-1", "1.5", "\"4\""] {
            let e = padding(bad).expect_err(bad).to_string();
            assert!(e.contains("padding in pixels"), "{bad}: {e}");
        }
    }

    #[test]
    fn crop_size_reads_a_side_or_height_and_width() {
        let size = |t: &str| ron::from_str::<CropSize>(t);
        assert_eq!(
            size("32").expect("side"),
            CropSize {
                height: 32,
                width: 32
            }
        );
        assert_eq!(
            size("(24, 32)").expect("pair"),
            CropSize {
                height: 24,
                width: 32
            }
        );
        let e = size("(1, 2, 3)").expect_err("three").to_string();
        assert!(e.contains("(height, width)"), "{e}");
    }
}
