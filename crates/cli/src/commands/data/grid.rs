//! A grid of images, each with its label written under it in a 3×5 pixel font.

use image::{Rgb, RgbImage};
use ndarray::Array3;

/// Pixels between tiles and around the grid.
const PAD: usize = 2;
/// Height of the label strip under each image: the 5-pixel font and a pixel above and below.
const STRIP: usize = 7;
/// Tiles per row.
const COLUMNS: usize = 8;

/// How much each image is enlarged: to about 64 pixels on its longer side, 1× to 4×.
pub fn scale(h: usize, w: usize) -> usize {
    (64 / h.max(w).max(1)).clamp(1, 4)
}

/// The size of the grid of `n` images of `h`×`w`: (width, height) in pixels.
pub fn grid_size(n: usize, h: usize, w: usize) -> (u32, u32) {
    let s = scale(h, w);
    let cols = n.clamp(1, COLUMNS);
    let rows = n.div_ceil(cols).max(1);
    (
        (cols * (w * s + PAD) + PAD) as u32,
        (rows * (h * s + STRIP + PAD) + PAD) as u32,
    )
}

/// Images un-normalised with `mean`/`std` (per channel), `COLUMNS` per row, each
/// enlarged by [`scale`] and labelled under it with `labels[i]` in capitals (cut to the
/// tile's width). One channel is shown in grey, three or more as RGB of the first three.
///
/// # Shapes
/// Each image is `[C, H, W]`, all of one shape; `labels` has one entry per image.
pub fn labelled_grid(
    images: &[Array3<f32>],
    labels: &[String],
    mean: &[f32],
    std: &[f32],
) -> RgbImage {
    let (c, h, w) = images.first().map_or((1, 1, 1), |i| i.dim());
    let s = scale(h, w);
    let (gw, gh) = grid_size(images.len(), h, w);
    let mut grid = RgbImage::from_pixel(gw, gh, Rgb([40, 40, 40]));
    let cols = images.len().clamp(1, COLUMNS);
    for (i, (image, label)) in images.iter().zip(labels).enumerate() {
        let gx = (i % cols) * (w * s + PAD) + PAD;
        let gy = (i / cols) * (h * s + STRIP + PAD) + PAD;
        let px = |ch: usize, y: usize, x: usize| {
            let m = mean.get(ch).or(mean.last()).copied().unwrap_or(0.0);
            let sd = std.get(ch).or(std.last()).copied().unwrap_or(1.0);
            ((image[[ch, y, x]] * sd + m).clamp(0.0, 1.0) * 255.0).round() as u8
        };
        for y in 0..h * s {
            for x in 0..w * s {
                let (sy, sx) = (y / s, x / s);
                let rgb = if c >= 3 {
                    [px(0, sy, sx), px(1, sy, sx), px(2, sy, sx)]
                } else {
                    let g = px(0, sy, sx);
                    [g, g, g]
                };
                grid.put_pixel((gx + x) as u32, (gy + y) as u32, Rgb(rgb));
            }
        }
        let max_chars = (w * s + 1) / 4;
        let text: String = label.to_uppercase().chars().take(max_chars).collect();
        write_text(&mut grid, &text, gx, gy + h * s + 1, Rgb([255, 255, 255]));
    }
    grid
}

/// Writes `text` with its top-left corner at (`x`, `y`), 4 pixels per character.
fn write_text(img: &mut RgbImage, text: &str, x: usize, y: usize, color: Rgb<u8>) {
    for (k, ch) in text.chars().enumerate() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    let (px, py) = ((x + 4 * k + col) as u32, (y + row) as u32);
                    if px < img.width() && py < img.height() {
                        img.put_pixel(px, py, color);
                    }
                }
            }
        }
    }
}

/// Five rows of three bits (the high bit is the left pixel); `?` for what the font lacks.
fn glyph(ch: char) -> [u8; 5] {
    match ch {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b001, 0b001],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'O' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'P' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'Q' => [0b010, 0b101, 0b101, 0b110, 0b011],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '_' => [0b000, 0b000, 0b000, 0b000, 0b111],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        ' ' => [0; 5],
        _ => [0b111, 0b001, 0b010, 0b000, 0b010],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_enlarged_unnormalised_and_labelled() {
        // Two 1-channel 2×2 images normalised with mean 0.5, std 0.5: scale 4 (to 8×8).
        let a = Array3::from_shape_vec((1, 2, 2), vec![-1.0, 1.0, 0.0, -1.0]).unwrap();
        let b = Array3::from_elem((1, 2, 2), 1.0);
        let g = labelled_grid(&[a, b], &["1".into(), "b".into()], &[0.5], &[0.5]);
        assert_eq!(scale(2, 2), 4);
        assert_eq!((g.width(), g.height()), grid_size(2, 2, 2));
        assert_eq!((g.width(), g.height()), (2 * (8 + 2) + 2, 8 + 7 + 2 + 2));
        // Pixel (0, 0) of image 0 is black over its 4×4 block, (0, 1) white, (1, 0) grey.
        assert_eq!(g.get_pixel(2, 2), &Rgb([0, 0, 0]));
        assert_eq!(g.get_pixel(5, 5), &Rgb([0, 0, 0]));
        assert_eq!(g.get_pixel(6, 2), &Rgb([255, 255, 255]));
        assert_eq!(g.get_pixel(2, 6), &Rgb([128, 128, 128]));
        // "1" under image 0: its top row is 010, so only the middle pixel is lit.
        let top = 2 + 8 + 1u32;
        assert_eq!(g.get_pixel(2, top), &Rgb([40, 40, 40]));
        assert_eq!(g.get_pixel(3, top), &Rgb([255, 255, 255]));
        // "B" under image 1, capitalised: top row 110.
        let x = 2 + 10u32;
        assert_eq!(g.get_pixel(x, top), &Rgb([255, 255, 255]));
        assert_eq!(g.get_pixel(x + 2, top), &Rgb([40, 40, 40]));
    }

    #[test]
    fn grid_size_follows_the_layout() {
        // 64 MNIST digits: 28 px enlarged twice, 8 × 8 tiles.
        assert_eq!(grid_size(64, 28, 28), (8 * 58 + 2, 8 * 65 + 2));
        // 10 CIFAR images: 2 rows of 8 columns.
        assert_eq!(grid_size(10, 32, 32), (8 * 66 + 2, 2 * 73 + 2));
        assert_eq!(scale(224, 224), 1);
    }
}
