//! The geometric stage: one affine map per image, an optional displacement field, and one
//! bilinear sampling.

use std::sync::LazyLock;

use ronin_spec::FillMode;

/// A 2×3 affine map in coordinates centred on the image centre (x right, y down, pixel
/// centres at integers): `p' = [[a, b], [c, d]] · p + [tx, ty]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Affine {
    pub m: [[f64; 3]; 2],
}

impl Affine {
    pub const IDENTITY: Self = Self {
        m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
    };

    /// Counter-clockwise (as displayed) rotation by `degrees`.
    pub fn rotation(degrees: f64) -> Self {
        let (s, c) = degrees.to_radians().sin_cos();
        Self {
            m: [[c, s, 0.0], [-s, c, 0.0]],
        }
    }

    /// torchvision's `RandomAffine` map: `shift ∘ rotate ∘ shear_x ∘ scale`.
    pub fn compose(degrees: f64, shift: (f64, f64), scale: f64, shear: f64) -> Self {
        let k = shear.to_radians().tan();
        let rss = Self::rotation(degrees)
            .after(&Self {
                m: [[1.0, k, 0.0], [0.0, 1.0, 0.0]],
            })
            .after(&Self {
                m: [[scale, 0.0, 0.0], [0.0, scale, 0.0]],
            });
        Self {
            m: [
                [rss.m[0][0], rss.m[0][1], shift.0],
                [rss.m[1][0], rss.m[1][1], shift.1],
            ],
        }
    }

    /// Scaling of x by `sx` and y by `sy` about the centre, then a shift by `(tx, ty)`.
    pub fn scale_shift(sx: f64, sy: f64, tx: f64, ty: f64) -> Self {
        Self {
            m: [[sx, 0.0, tx], [0.0, sy, ty]],
        }
    }

    /// Mirror of x (horizontal flip) or y (vertical flip) about the centre.
    pub fn flip(horizontal: bool) -> Self {
        let (sx, sy) = if horizontal { (-1.0, 1.0) } else { (1.0, -1.0) };
        Self::scale_shift(sx, sy, 0.0, 0.0)
    }

    /// `self ∘ first`: `first` is applied, then `self`.
    pub fn after(&self, first: &Self) -> Self {
        let (a, b) = (&self.m, &first.m);
        let mut m = [[0.0; 3]; 2];
        for r in 0..2 {
            m[r][0] = a[r][0] * b[0][0] + a[r][1] * b[1][0];
            m[r][1] = a[r][0] * b[0][1] + a[r][1] * b[1][1];
            m[r][2] = a[r][0] * b[0][2] + a[r][1] * b[1][2] + a[r][2];
        }
        Self { m }
    }

    /// The inverse map, or `None` when the linear part is singular.
    pub fn inverse(&self) -> Option<Self> {
        let [[a, b, tx], [c, d, ty]] = self.m;
        let det = a * d - b * c;
        if !(det.abs() > 1e-12 && det.is_finite()) {
            return None;
        }
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Some(Self {
            m: [
                [ia, ib, -(ia * tx + ib * ty)],
                [ic, id, -(ic * tx + id * ty)],
            ],
        })
    }

    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let [[a, b, tx], [c, d, ty]] = self.m;
        (a * x + b * y + tx, c * x + d * y + ty)
    }
}

/// Where the pixels outside the image come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fill {
    pub mode: FillMode,
    pub value: f32,
}

impl Fill {
    /// The in-image index that index `i` of an axis of length `n` (≥ 1) reads, or `None`
    /// for the constant fill.
    pub fn index(self, i: i64, n: usize) -> Option<usize> {
        let n = n as i64;
        if (0..n).contains(&i) {
            return Some(i as usize);
        }
        let j = match self.mode {
            FillMode::Constant => return None,
            FillMode::Nearest => i.clamp(0, n - 1),
            FillMode::Wrap => i.rem_euclid(n),
            FillMode::Reflect => {
                let m = i.rem_euclid(2 * n);
                if m < n { m } else { 2 * n - 1 - m }
            }
            FillMode::Mirror => mirror(i, n as usize) as i64,
        };
        Some(j as usize)
    }
}

/// Index `i` of an axis of length `n` (≥ 1) mirrored about the edge pixels, which are not
/// repeated (numpy's and torch's `reflect`): `… 2 1 | 0 1 … n-1 | n-2 …`.
pub(crate) fn mirror(i: i64, n: usize) -> usize {
    let n = n as i64;
    if n == 1 {
        return 0;
    }
    let m = i.rem_euclid(2 * n - 2);
    (if m < n { m } else { 2 * n - 2 - m }) as usize
}

/// A box of the frame some map puts the source in, in pixel indices (inclusive): sample
/// points that fall within half a pixel of it are clamped onto it, as torchvision's
/// resize clamps to the image it resizes (`RandomResizedCrop`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Clamp {
    /// Source → frame, centred coordinates (the map of the transforms before the crop).
    pub frame: Affine,
    /// (left, top, right, bottom) pixel indices of the box.
    pub rect: [f64; 4],
}

/// Per output pixel displacement in pixels (`ElasticTransform`): output `(x, y)` reads
/// `map⁻¹(x + dx, y + dy)`.
///
/// # Shapes
/// `dx` and `dy` are `[H * W]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub dx: Vec<f32>,
    pub dy: Vec<f32>,
}

/// Everything the geometric stage does to one image.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Geometry {
    /// Source → output, the composed map of every geometric transform that fired.
    pub map: Affine,
    pub clamp: Option<Clamp>,
    pub displacement: Option<Field>,
}

impl Geometry {
    pub fn map(map: Affine) -> Self {
        Self {
            map,
            clamp: None,
            displacement: None,
        }
    }

    pub fn is_identity(&self) -> bool {
        self.map == Affine::IDENTITY && self.clamp.is_none() && self.displacement.is_none()
    }
}

/// `byte / 255` for every byte, as [`copy`] and the normalisation table compute it.
static UNIT: LazyLock<[f32; 256]> = LazyLock::new(|| std::array::from_fn(|b| b as f32 / 255.0));

/// Writes into `out` the image `src` (bytes) moved by `geometry`, in [0, 1] pixel units:
/// every output pixel reads its source position with bilinear interpolation, taps outside
/// the image read as `fill` says. A singular map leaves the image unmoved.
///
/// # Shapes
/// `src` and `out` are `[C * H * W]` for `shape` `[C, H, W]`.
pub(crate) fn warp(
    src: &[u8],
    shape: [usize; 3],
    geometry: &Geometry,
    fill: Fill,
    out: &mut [f32],
) {
    let [_, h, w] = shape;
    let plane = h * w;
    let Some(inv) = geometry.map.inverse() else {
        return copy(src, out);
    };
    // Clamping works in the frame: its map, its inverse and the box's half-pixel margin.
    let clamp = geometry.clamp.and_then(|c| {
        let back = c.frame.inverse()?;
        let [l, t, r, b] = c.rect;
        Some((
            c.frame,
            back,
            [l, t, r, b],
            [l - 0.5, t - 0.5, r + 0.5, b + 0.5],
        ))
    });
    let unit = &*UNIT;
    let channels = src.len().min(out.len()) / plane.max(1);
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    for y in 0..h {
        for x in 0..w {
            let at = y * w + x;
            let (mut px, mut py) = (x as f64 - cx, y as f64 - cy);
            if let Some(f) = &geometry.displacement {
                px += f64::from(f.dx[at]);
                py += f64::from(f.dy[at]);
            }
            let (mut sx, mut sy) = inv.apply(px, py);
            if let Some((frame, back, [l, t, r, b], [ol, ot, or, ob])) = clamp {
                let (fx, fy) = frame.apply(sx, sy);
                let (fx, fy) = (fx + cx, fy + cy);
                if (ol..=or).contains(&fx) && (ot..=ob).contains(&fy) {
                    (sx, sy) = back.apply(fx.clamp(l, r) - cx, fy.clamp(t, b) - cy);
                }
            }
            let (x0, fx) = split(sx + cx);
            let (y0, fy) = split(sy + cy);
            let weights = [
                (1.0 - fx) * (1.0 - fy),
                fx * (1.0 - fy),
                (1.0 - fx) * fy,
                fx * fy,
            ];
            if x0 >= 0 && y0 >= 0 && (x0 as usize) + 1 < w && (y0 as usize) + 1 < h {
                // All four taps inside: the common case, without fill lookups.
                let i = y0 as usize * w + x0 as usize;
                for ch in 0..channels {
                    let (src, base) = (&src[ch * plane..(ch + 1) * plane], ch * plane);
                    let tap = |j: usize| unit[usize::from(src[j])];
                    out[base + at] = weights[0] * tap(i)
                        + weights[1] * tap(i + 1)
                        + weights[2] * tap(i + w)
                        + weights[3] * tap(i + w + 1);
                }
                continue;
            }
            let xs = [fill.index(x0, w), fill.index(x0 + 1, w)];
            let ys = [fill.index(y0, h), fill.index(y0 + 1, h)];
            let taps = [
                (ys[0], xs[0]),
                (ys[0], xs[1]),
                (ys[1], xs[0]),
                (ys[1], xs[1]),
            ];
            for ch in 0..channels {
                let src = &src[ch * plane..(ch + 1) * plane];
                let mut v = 0.0;
                for (&(ty, tx), &wt) in taps.iter().zip(&weights) {
                    if wt != 0.0 {
                        let p = match (ty, tx) {
                            (Some(ty), Some(tx)) => unit[usize::from(src[ty * w + tx])],
                            _ => fill.value,
                        };
                        v += wt * p;
                    }
                }
                out[ch * plane + at] = v;
            }
        }
    }
}

/// Bytes to [0, 1], unmoved: `byte as f32 / 255`, as the normalisation table computes it.
pub(crate) fn copy(src: &[u8], out: &mut [f32]) {
    for (d, &s) in out.iter_mut().zip(src) {
        *d = f32::from(s) / 255.0;
    }
}

/// The pixel index at or left of `v` and the fraction beyond it, with coordinates within
/// 1e-9 of a pixel centre put on it, so exact maps (flips, right angles, whole-pixel
/// shifts) copy pixels exactly instead of blending in rounding noise. By casts:
/// `f64::floor` is a libm call on the baseline x86-64 target (no SSE4.1). Saturates far
/// outside the image.
fn split(v: f64) -> (i64, f32) {
    let t = v + 0.5;
    let near = t as i64 - i64::from(((t as i64) as f64) > t);
    let d = v - near as f64;
    if d.abs() < 1e-9 {
        (near, 0.0)
    } else if d < 0.0 {
        (near - 1, (d + 1.0) as f32)
    } else {
        (near, d as f32)
    }
}
