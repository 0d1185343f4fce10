//! The receptive field of every node: how many input pixels (height × width) one output
//! position sees, with the standard recurrence (Araujo et al., "Computing receptive fields
//! of convolutional neural networks", Distill 2019): through a layer of kernel k, stride s
//! and dilation d, `r_out = r_in + d·(k − 1)·j_in` and `j_out = j_in·s`, where j is the
//! distance in input pixels between neighbouring output positions. Element-wise layers keep
//! both; a sum or a concatenation takes the largest of its inputs; after `Flatten`, a
//! `Linear` or a global pooling every output sees the whole input.

use crate::graph::{ModelGraph, Source};
use crate::layer::Op;

/// A node's receptive field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `size` input pixels (height, width), output positions `jump` pixels apart.
    Window { size: [usize; 2], jump: [usize; 2] },
    /// Every pixel of the input.
    Whole,
}

impl Field {
    const PIXEL: Self = Self::Window {
        size: [1, 1],
        jump: [1, 1],
    };

    fn through(self, kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2]) -> Self {
        match self {
            Self::Window { size, jump } => Self::Window {
                size: [0, 1].map(|a| size[a] + dilation[a] * (kernel[a].max(1) - 1) * jump[a]),
                jump: [0, 1].map(|a| jump[a] * stride[a]),
            },
            Self::Whole => Self::Whole,
        }
    }

    fn widest(self, other: Self) -> Self {
        match (self, other) {
            (Self::Window { size: a, jump: ja }, Self::Window { size: b, jump: jb }) => {
                Self::Window {
                    size: [a[0].max(b[0]), a[1].max(b[1])],
                    jump: [ja[0].max(jb[0]), ja[1].max(jb[1])],
                }
            }
            _ => Self::Whole,
        }
    }

    /// (height, width) in input pixels; `None` for the whole input.
    pub fn size(self) -> Option<[usize; 2]> {
        match self {
            Self::Window { size, .. } => Some(size),
            Self::Whole => None,
        }
    }

    /// `3×3`; `all` for the whole input.
    pub fn describe(self) -> String {
        match self {
            Self::Window { size, .. } => format!("{}×{}", size[0], size[1]),
            Self::Whole => "all".into(),
        }
    }
}

/// Each node's receptive field as (height, width), `None` where it is the whole input:
/// what `ronin check --json` reports.
pub fn receptive_sizes(graph: &ModelGraph) -> Vec<Option<[usize; 2]>> {
    receptive_fields(graph)
        .into_iter()
        .map(Field::size)
        .collect()
}

/// The receptive field of each node of `graph`, in node order.
pub fn receptive_fields(graph: &ModelGraph) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let of = |s: &Source| match s {
            Source::Input => Field::PIXEL,
            Source::Node(i) => fields[*i],
        };
        let input = node
            .inputs
            .iter()
            .map(of)
            .reduce(Field::widest)
            .unwrap_or(Field::PIXEL);
        let field = match &node.op {
            Op::Conv2d {
                kernel,
                stride,
                dilation,
                ..
            } => input.through(*kernel, *stride, *dilation),
            Op::MaxPool2d { kernel, stride, .. } | Op::AvgPool2d { kernel, stride, .. } => {
                input.through(*kernel, *stride, [1, 1])
            }
            Op::AdaptiveAvgPool2d { output } => {
                // PyTorch's windows: start ⌊i·H/out⌋, end ⌈(i+1)·H/out⌉; the widest is
                // ⌈H/out⌉ (+1 when out does not divide H), the step ⌊H/out⌋ on average.
                let h = &node.input_shape;
                let (ih, iw) = (h.get(1).copied().unwrap_or(1), h.get(2).copied().unwrap_or(1));
                if output[0] == 1 && output[1] == 1 {
                    Field::Whole
                } else {
                    let window = |n: usize, o: usize| {
                        let o = o.max(1);
                        n.div_ceil(o) + usize::from(!n.is_multiple_of(o))
                    };
                    input.through(
                        [window(ih, output[0]), window(iw, output[1])],
                        [(ih / output[0].max(1)).max(1), (iw / output[1].max(1)).max(1)],
                        [1, 1],
                    )
                }
            }
            Op::GlobalAvgPool2d | Op::Flatten | Op::Linear { .. } => Field::Whole,
            Op::LayerNorm { .. } | Op::InstanceNorm2d { .. } | Op::GroupNorm { .. } => {
                // Statistics over the whole image: every output depends on every pixel.
                Field::Whole
            }
            Op::LocalResponseNorm { .. } // across channels only
            | Op::Dropout { .. }
            | Op::Dropout2d { .. }
            | Op::BatchNorm { .. }
            | Op::Activation(_)
            | Op::Softmax
            | Op::Add
            | Op::Concat => input,
        };
        fields.push(field);
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pipeline;

    fn sizes(layers: &str, input: &str) -> Vec<String> {
        let text = format!(
            "(epochs: 1, data: (source: Idx(images: \"/dev/null\", labels: \"/dev/null\"), classes: [\"a\", \"b\"]), model: (input: {input}, layers: {layers}), optimizer: Adam(lr: 0.001))"
        );
        let p = Pipeline::from_str_named(&text, "rf", None).unwrap_or_else(|e| panic!("{e}"));
        receptive_fields(&p.graph)
            .into_iter()
            .map(Field::describe)
            .collect()
    }

    #[test]
    fn the_seed_cnn_sees_10_by_10_pixels_before_its_dense_layers() {
        let rf = sizes(
            "[Conv2d(filters: 4, kernel_size: 3, padding: Same), ReLU, MaxPool2d(kernel_size: 2), Conv2d(filters: 4, kernel_size: 3, padding: Same), ReLU, MaxPool2d(kernel_size: 2), Flatten, Linear(units: 2)]",
            "(channels: 1, height: 28, width: 28)",
        );
        assert_eq!(
            rf,
            ["3×3", "3×3", "4×4", "8×8", "8×8", "10×10", "all", "all"]
        );
    }

    #[test]
    fn strides_and_dilations_widen_the_field() {
        // 7×7 s2 → 7; 3×3 s2 pool → 7 + 2·2 = 11; 3×3 dilation 2 → 11 + 2·2·4 = 27.
        let rf = sizes(
            "[Conv2d(filters: 4, kernel_size: 7, stride: 2, padding: Explicit(3)), MaxPool2d(kernel_size: 3, stride: 2, padding: Explicit(1)), Conv2d(filters: 4, kernel_size: 3, dilation: 2, padding: Explicit(2)), AdaptiveAvgPool2d(output_size: 1), Flatten, Linear(units: 2)]",
            "(channels: 1, height: 64, width: 64)",
        );
        assert_eq!(rf, ["7×7", "11×11", "27×27", "all", "all", "all"]);
    }
}
