//! What a run reports beyond scalars: `test_report.json` (confusion matrix and per-class
//! scores on the test split), `per_class.csv`, and the images logged to TensorBoard.

use std::path::Path;

use image::{Rgb, RgbImage};
use serde::Serialize;
use tch::{Kind, Tensor};

use crate::RunnerError;
use crate::metrics::{ClassScores, EpochStats};

pub const TEST_REPORT: &str = "test_report.json";
pub const PER_CLASS: &str = "per_class.csv";

#[derive(Debug, Serialize)]
pub struct TestReport<'a> {
    pub split: &'a str,
    pub checkpoint: &'a str,
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub top5_accuracy: f64,
    pub macro_f1: f64,
    pub classes: &'a [String],
    /// Row = true class, column = predicted.
    pub confusion_matrix: &'a [Vec<u64>],
    pub per_class: Vec<ClassScores>,
}

pub fn write_test_report(
    run: &Path,
    stats: &EpochStats,
    classes: &[String],
    epoch: usize,
) -> Result<(), RunnerError> {
    let report = TestReport {
        split: "test",
        checkpoint: "best",
        epoch,
        loss: stats.loss,
        accuracy: stats.accuracy,
        top5_accuracy: stats.top5_accuracy,
        macro_f1: stats.macro_f1(),
        classes,
        confusion_matrix: &stats.confusion,
        per_class: stats.per_class(classes),
    };
    let json = serde_json::to_vec_pretty(&report).map_err(|e| RunnerError::Encode {
        what: TEST_REPORT.into(),
        message: e.to_string(),
    })?;
    ronin_store::write_atomic(&run.join(TEST_REPORT), &json)?;
    Ok(())
}

/// Appends an epoch's per-class scores of one split to `per_class.csv`.
pub fn append_per_class(
    run: &Path,
    epoch: usize,
    split: &str,
    stats: &EpochStats,
    classes: &[String],
) -> Result<(), RunnerError> {
    use std::io::Write;
    let path = run.join(PER_CLASS);
    let io = |source| RunnerError::Io {
        path: path.clone(),
        source,
    };
    let new = !path.exists();
    let mut f = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    let mut text = String::new();
    if new {
        text.push_str("epoch,split,class,precision,recall,f1,support\n");
    }
    for s in stats.per_class(classes) {
        let class = s.class.replace([',', '\n', '"'], " ");
        text.push_str(&format!(
            "{epoch},{split},{class},{},{},{},{}\n",
            s.precision, s.recall, s.f1, s.support
        ));
    }
    f.write_all(text.as_bytes()).map_err(io)?;
    Ok(())
}

/// Keeps the rows of `per_class.csv` up to `epochs` (a resumed run rewrites later ones).
pub fn truncate_per_class(run: &Path, epochs: usize) -> Result<(), RunnerError> {
    let path = run.join(PER_CLASS);
    let Ok(text) = fs_err::read_to_string(&path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, line)| {
            *i == 0
                || line
                    .split(',')
                    .next()
                    .and_then(|e| e.parse::<usize>().ok())
                    .is_some_and(|e| e <= epochs)
        })
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    ronin_store::write_atomic(&path, kept.as_bytes())?;
    Ok(())
}

/// A grid of images (N, C, H, W), un-normalised with `mean`/`std`, 8 per row, with a
/// 2-pixel border coloured green (`ok`) or red per image when `ok` is given.
pub fn image_grid(
    images: &Tensor,
    mean: &[f32],
    std: &[f32],
    ok: Option<&[bool]>,
) -> Result<RgbImage, RunnerError> {
    let images = images
        .f_to_device(tch::Device::Cpu)?
        .f_to_kind(Kind::Float)?;
    let size = images.size();
    let (n, c, h, w) = match size.as_slice() {
        [n, c, h, w] => (*n as usize, *c as usize, *h as usize, *w as usize),
        _ => {
            return Err(RunnerError::Unsupported {
                what: format!("an image grid of a tensor of shape {size:?}"),
            });
        }
    };
    let values = Vec::<f32>::try_from(&images.f_contiguous()?.f_view([-1])?)?;
    let cols = n.clamp(1, 8);
    let rows = n.div_ceil(cols).max(1);
    let pad = 2;
    let mut grid = RgbImage::from_pixel(
        (cols * (w + pad) + pad) as u32,
        (rows * (h + pad) + pad) as u32,
        Rgb([40, 40, 40]),
    );
    for i in 0..n {
        let (gx, gy) = ((i % cols) * (w + pad) + pad, (i / cols) * (h + pad) + pad);
        if let Some(ok) = ok {
            let color = if ok.get(i).copied().unwrap_or(true) {
                Rgb([0, 170, 0])
            } else {
                Rgb([200, 0, 0])
            };
            for x in gx - 1..gx + w + 1 {
                grid.put_pixel(x as u32, (gy - 1) as u32, color);
                grid.put_pixel(x as u32, (gy + h) as u32, color);
            }
            for y in gy - 1..gy + h + 1 {
                grid.put_pixel((gx - 1) as u32, y as u32, color);
                grid.put_pixel((gx + w) as u32, y as u32, color);
            }
        }
        for y in 0..h {
            for x in 0..w {
                let px = |ch: usize| {
                    let v = values[((i * c + ch) * h + y) * w + x];
                    let m = mean.get(ch).or(mean.last()).copied().unwrap_or(0.0);
                    let s = std.get(ch).or(std.last()).copied().unwrap_or(1.0);
                    ((v * s + m).clamp(0.0, 1.0) * 255.0).round() as u8
                };
                let rgb = if c >= 3 {
                    [px(0), px(1), px(2)]
                } else {
                    let g = px(0);
                    [g, g, g]
                };
                grid.put_pixel((gx + x) as u32, (gy + y) as u32, Rgb(rgb));
            }
        }
    }
    Ok(grid)
}

/// The confusion matrix as a heat map: white (0) to dark blue (the row's total), one
/// square per cell, rows = true class, columns = predicted.
pub fn confusion_image(confusion: &[Vec<u64>]) -> RgbImage {
    let k = confusion.len().max(1);
    let cell = (320 / k).clamp(4, 32);
    let mut img = RgbImage::from_pixel((k * cell) as u32, (k * cell) as u32, Rgb([255, 255, 255]));
    for (r, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f64;
        for (c, v) in row.iter().enumerate() {
            let t = *v as f64 / total;
            let shade = |full: f64| (255.0 - (255.0 - full) * t).round() as u8;
            let color = Rgb([shade(8.0), shade(48.0), shade(107.0)]);
            for y in 0..cell {
                for x in 0..cell {
                    // A thin grid line keeps empty cells apart.
                    let line = x == cell - 1 || y == cell - 1;
                    let px = if line { Rgb([220, 220, 220]) } else { color };
                    img.put_pixel((c * cell + x) as u32, (r * cell + y) as u32, px);
                }
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_unnormalised_pixels() {
        // Two 1-channel 2×2 images; normalised with mean 0.5, std 0.5.
        let t =
            Tensor::from_slice(&[-1.0f32, 1.0, 0.0, -1.0, 1.0, 1.0, 1.0, 1.0]).view([2, 1, 2, 2]);
        let g = image_grid(&t, &[0.5], &[0.5], Some(&[true, false])).unwrap();
        assert_eq!((g.width(), g.height()), (2 * 4 + 2, 6));
        assert_eq!(g.get_pixel(2, 2), &Rgb([0, 0, 0]));
        assert_eq!(g.get_pixel(3, 2), &Rgb([255, 255, 255]));
        assert_eq!(g.get_pixel(2, 3), &Rgb([128, 128, 128]));
        // Borders: green around the first, red around the second.
        assert_eq!(g.get_pixel(1, 1), &Rgb([0, 170, 0]));
        assert_eq!(g.get_pixel(5, 1), &Rgb([200, 0, 0]));
    }

    #[test]
    fn confusion_cells_darken_with_their_share_of_the_row() {
        let img = confusion_image(&[vec![10, 0], vec![5, 5]]);
        let cell = 32;
        assert_eq!(img.get_pixel(1, 1), &Rgb([8, 48, 107]));
        assert_eq!(img.get_pixel(cell + 1, 1), &Rgb([255, 255, 255]));
        let half = img.get_pixel(1, cell + 1);
        assert!(half[0] > 8 && half[0] < 255);
    }
}
