use std::path::Path;
use std::sync::Arc;

use image::{GrayImage, Rgb, RgbImage};
use ronin_spec::{DataSpec, TransformSpec};

use crate::{DataError, Dataset, Loader, LoaderOptions, Normalization, Part, build};

fn spec(text: &str) -> DataSpec {
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .expect("a valid data section")
}

fn mkdir(p: &Path) {
    fs_err::create_dir_all(p).expect("mkdir");
}

/// A grey PNG whose pixel (x, y) is `f(x, y)`.
fn gray_png(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> u8) {
    mkdir(path.parent().expect("a parent"));
    GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]))
        .save(path)
        .expect("write png");
}

/// A folder of `per_class` 4×3 grey images in each of `classes`, image k of class c
/// holding the bytes `10 * c + k + i` (i the pixel's index), and the same images as one
/// in-memory dataset, in the folder's (sorted) order.
fn gray_tree(root: &Path, classes: &[&str], per_class: usize) -> Dataset {
    let mut bytes = Vec::new();
    let mut labels = Vec::new();
    let mut sorted: Vec<&str> = classes.to_vec();
    sorted.sort();
    for (c, class) in sorted.iter().enumerate() {
        for k in 0..per_class {
            let base = (10 * c + k) as u32;
            let px = |x: u32, y: u32| (base + y * 4 + x) as u8;
            gray_png(&root.join(class).join(format!("{k:03}.png")), 4, 3, px);
            for y in 0..3 {
                for x in 0..4 {
                    bytes.push(px(x, y));
                }
            }
            labels.push(c as i64);
        }
    }
    let names = sorted.iter().map(|s| s.to_string()).collect();
    Dataset::new(bytes, [1, 3, 4], labels, names, "memory").expect("a dataset")
}

#[test]
fn a_folder_loads_exact_bytes_in_sorted_class_order() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("train");
    let memory = gray_tree(&root, &["dog", "cat", "c10", "c2"], 2);
    let s = spec(&format!(
        r#"(source: ImageFolder(root: "{}", color: Grayscale), split: (validation: 0.0), normalize: None)"#,
        root.display()
    ));
    let b = build(&s, 1)?;
    assert_eq!(b.classes, ["c10", "c2", "cat", "dog"]);
    assert_eq!(b.shape(), [1, 3, 4]);
    let ds = &b.train;
    assert_eq!(ds.labels, memory.labels);
    for i in 0..ds.len() {
        assert_eq!(ds.image(i)?, memory.image(i)?, "example {i}");
    }
    // Lazy: the dataset holds the file list, no pixels.
    assert!(ds.bytes().is_none());
    let files = ds.files().expect("a dataset of files");
    assert_eq!(files.len(), 8);
    assert!(files.path(0).ends_with("c10/000.png"));
    assert_eq!(files.original_sizes().get(&(3, 4)), Some(&8));
    Ok(())
}

#[test]
fn rgb_files_become_planes_and_grayscale_is_pil_luma() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("colours");
    mkdir(&root.join("a"));
    mkdir(&root.join("b"));
    let img = RgbImage::from_fn(3, 1, |x, _| match x {
        0 => Rgb([255, 0, 0]),
        1 => Rgb([0, 255, 0]),
        _ => Rgb([10, 20, 250]),
    });
    img.save(root.join("a/x.png")).expect("png");
    img.save(root.join("b/y.bmp")).expect("bmp");
    let rgb = build(
        &spec(&format!(
            r#"(source: ImageFolder(root: "{}"), split: (validation: 0.0), normalize: None)"#,
            root.display()
        )),
        1,
    )?;
    assert_eq!(rgb.shape(), [3, 1, 3]);
    let planes: &[u8] = &[255, 0, 10, 0, 255, 20, 0, 0, 250];
    assert_eq!(rgb.train.image(0)?.as_deref(), Some(planes));
    assert_eq!(
        rgb.train.image(1)?.as_deref(),
        Some(planes),
        "BMP reads the same"
    );

    let gray = build(
        &spec(&format!(
            r#"(source: ImageFolder(root: "{}", color: Grayscale), split: (validation: 0.0), normalize: None)"#,
            root.display()
        )),
        1,
    )?;
    // Pillow 12.0: Image.new("RGB", (3, 1)), putdata of these pixels, .convert("L").
    let luma: &[u8] = &[76, 150, 43];
    assert_eq!(gray.train.image(0)?.as_deref(), Some(luma));
    Ok(())
}

#[test]
fn size_resizes_and_without_it_sizes_must_agree() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("sizes");
    gray_png(&root.join("a/1.png"), 8, 6, |_, _| 200);
    gray_png(
        &root.join("b/2.png"),
        4,
        4,
        |x, _| if x < 2 { 0 } else { 255 },
    );
    let msg = build(
        &spec(&format!(
            r#"(source: ImageFolder(root: "{}", color: Grayscale))"#,
            root.display()
        )),
        1,
    )
    .expect_err("two sizes")
    .to_string();
    assert!(
        msg.contains("2.png: the image is 4×4 (height×width) but"),
        "{msg}"
    );
    assert!(msg.contains("1.png is 6×8"), "{msg}");
    assert!(msg.contains("give the source a size: (6, 8)"), "{msg}");

    let b = build(
        &spec(&format!(
            r#"(source: ImageFolder(root: "{}", color: Grayscale, size: (2, 2)), split: (validation: 0.0), normalize: None)"#,
            root.display()
        )),
        1,
    )?;
    assert_eq!(b.shape(), [1, 2, 2]);
    assert_eq!(b.train.image(0)?.as_deref(), Some(&[200u8; 4][..]));
    // Left half black, right half white. Pillow 12.0 gives the same for
    // Image.resize((2, 2), Image.BILINEAR): the filter widens to 4 source pixels.
    assert_eq!(
        b.train.image(1)?.as_deref(),
        Some(&[36u8, 219, 36, 219][..])
    );
    let files = b.train.files().expect("files");
    assert_eq!(files.original_sizes().len(), 2);
    Ok(())
}

#[test]
fn csv_labels_by_name_and_by_index() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("imgs");
    let memory = gray_tree(&root, &["cat", "dog"], 2);
    let csv = dir.path().join("labels.csv");
    fs_err::write(
        &csv,
        "path,label\nimgs/cat/000.png,cat\nimgs/cat/001.png,cat\nimgs/dog/000.png,dog\nimgs/dog/001.png,dog\n",
    )?;
    let by_name = build(
        &spec(&format!(
            r#"(source: Csv(file: "{}", color: Grayscale), split: (validation: 0.0), normalize: None)"#,
            csv.display()
        )),
        1,
    )?;
    assert_eq!(by_name.classes, ["cat", "dog"]);
    assert_eq!(by_name.train.labels, memory.labels);
    assert_eq!(by_name.train.image(3)?, memory.image(3)?);

    // Indices with a root and other column names; data.classes names them.
    let idx = dir.path().join("idx.csv");
    fs_err::write(&idx, "file,y\ncat/000.png,1\ndog/001.png,0\n")?;
    let b = build(
        &spec(&format!(
            r#"(source: Csv(file: "{}", root: "{}", path_column: "file", label_column: "y", color: Grayscale),
                classes: ["dog", "cat"], split: (validation: 0.0), normalize: None)"#,
            idx.display(),
            root.display()
        )),
        1,
    )?;
    assert_eq!(b.classes, ["dog", "cat"]);
    assert_eq!(&b.train.labels[..], &[1, 0]);
    assert_eq!(b.train.image(1)?, memory.image(3)?);
    Ok(())
}

#[test]
fn csv_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    gray_png(&dir.path().join("a.png"), 2, 2, |_, _| 1);
    let csv = dir.path().join("labels.csv");
    let data = |classes: &str| {
        spec(&format!(
            r#"(source: Csv(file: "{}", size: (2, 2)), classes: {classes})"#,
            csv.display()
        ))
    };
    fs_err::write(&csv, "path,label\na.png,cat\nmissing.png,dog\n").expect("write");
    let msg = build(&data("None"), 1)
        .expect_err("missing file")
        .to_string();
    assert!(
        msg.contains("labels.csv, line 3:") && msg.contains("missing.png does not exist"),
        "{msg}"
    );
    fs_err::write(&csv, "path,label\na.png,cat\na.png,dgo\n").expect("write");
    let msg = build(&data(r#"Some(["cat", "dog"])"#), 1)
        .expect_err("unknown label")
        .to_string();
    assert!(
        msg.contains("labels.csv, line 3: label 'dgo' is not one of the 2 classes"),
        "{msg}"
    );
}

#[test]
fn folder_errors_name_the_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("r");
    gray_png(&root.join("loose.png"), 2, 2, |_, _| 1);
    let s = spec(&format!(
        r#"(source: ImageFolder(root: "{}"))"#,
        root.display()
    ));
    let msg = build(&s, 1).expect_err("no class folders").to_string();
    assert!(msg.contains("r: no class folders"), "{msg}");
    gray_png(&root.join("cat/1.png"), 2, 2, |_, _| 1);
    mkdir(&root.join("dog"));
    let msg = build(&s, 1).expect_err("empty class").to_string();
    assert!(
        msg.contains("dog: no PNG, JPEG or BMP file in the folder of class 'dog'"),
        "{msg}"
    );
}

/// A tree with one good image per class, `bad.png` that is no image at all and
/// `half.png` whose header reads but whose pixels are cut off.
fn corrupt_tree(root: &Path) {
    for (class, k) in [("a", 0u8), ("b", 1)] {
        for n in 0..3 {
            gray_png(
                &root.join(class).join(format!("{n}.png")),
                16,
                16,
                move |x, y| (u32::from(k) * 100 + x * 7 + y * 13) as u8,
            );
        }
    }
    fs_err::write(root.join("a/bad.png"), b"not an image").expect("write");
    let noise = root.join("b/half.png");
    gray_png(&noise, 16, 16, |x, y| ((x * 31 + y * 17) * 97 % 251) as u8);
    let bytes = fs_err::read(&noise).expect("read");
    fs_err::write(&noise, &bytes[..bytes.len() - 40]).expect("truncate");
}

#[test]
fn corrupt_files_fail_or_are_skipped() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("r");
    corrupt_tree(&root);
    let data = |policy: &str| {
        spec(&format!(
            r#"(source: ImageFolder(root: "{}", color: Grayscale, on_corrupt: {policy}), split: (validation: 0.0), normalize: None, batch_size: 8, shuffle: false)"#,
            root.display()
        ))
    };
    // The header scan finds the file that is not an image.
    let msg = build(&data("Fail"), 1).expect_err("bad.png").to_string();
    assert!(
        msg.contains("bad.png: not a readable PNG, JPEG or BMP image"),
        "{msg}"
    );

    // Skip leaves it out at the scan; the cut-off file passes the scan (7 files)...
    let s = data("Skip");
    let b = build(&s, 1)?;
    assert_eq!(b.train.len(), 7);
    // ...and is left out of its batch when it does not decode.
    let loader = b.loader(Part::Train, &s, &[], 1)?;
    let batches: Vec<_> = loader.epoch(0).collect::<Result<_, _>>()?;
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].len(), 6);
    let half = (0..7).find(|&i| {
        b.train
            .files()
            .is_some_and(|f| f.path(i).ends_with("half.png"))
    });
    assert!(half.is_some_and(|h| !batches[0].indices.contains(&h)));
    assert_eq!(b.train.files().map(|f| f.skipped()), half.map(|h| vec![h]));

    // Under Fail a file that fails mid-epoch ends the epoch with an error naming it.
    fs_err::remove_file(root.join("a/bad.png"))?;
    let s = data("Fail");
    let b = build(&s, 1)?;
    let loader = b.loader(Part::Train, &s, &[], 1)?;
    let mut epoch = loader.epoch(0);
    let msg = epoch
        .next()
        .expect("one batch")
        .expect_err("half.png")
        .to_string();
    assert!(msg.contains("half.png: cannot decode the image"), "{msg}");
    assert!(epoch.next().is_none());
    // Computed normalisation decodes the training split: the same error, up front.
    let computed = spec(&format!(
        r#"(source: ImageFolder(root: "{}", color: Grayscale), split: (validation: 0.0))"#,
        root.display()
    ));
    let msg = build(&computed, 1).expect_err("half.png").to_string();
    assert!(msg.contains("half.png: cannot decode the image"), "{msg}");
    Ok(())
}

#[test]
fn folder_batches_equal_idx_batches_with_the_same_seed() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("train");
    let memory = Arc::new(gray_tree(&root, &["a", "b", "c"], 7));
    let s = spec(&format!(
        r#"(source: ImageFolder(root: "{}", color: Grayscale), split: (validation: 0.0), normalize: None)"#,
        root.display()
    ));
    let files = build(&s, 1)?.train;
    let augment: Vec<TransformSpec> =
        ron::from_str("[RandomAffine(degrees: 15, translate: (0.2, 0.1)), HorizontalFlip()]")
            .expect("transforms");
    let options = LoaderOptions {
        batch_size: 5,
        shuffle: true,
        drop_last: false,
        seed: 9,
        workers: 2,
        prefetch: 2,
    };
    let norm = Normalization::compute(&memory, &(0..21).collect::<Vec<_>>())?;
    assert_eq!(
        Normalization::compute(&files, &(0..21).collect::<Vec<_>>())?,
        norm
    );
    let batches = |ds: Arc<Dataset>| -> Result<Vec<crate::Batch>, DataError> {
        let l = Loader::with_augment(
            ds,
            (0..21).collect(),
            options.clone(),
            norm.clone(),
            augment.clone(),
        )?;
        (0..2).flat_map(|e| l.epoch(e)).collect()
    };
    assert_eq!(batches(files)?, batches(memory)?);
    Ok(())
}

#[test]
fn a_test_folder_and_keep_classes() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    gray_tree(&dir.path().join("train"), &["a", "b", "c"], 3);
    gray_tree(&dir.path().join("test"), &["b", "c"], 2);
    let s = spec(&format!(
        r#"(source: ImageFolder(root: "{0}/train", test: "{0}/test", color: Grayscale), keep_classes: [2, 1], normalize: None)"#,
        dir.path().display()
    ));
    let b = build(&s, 1)?;
    assert_eq!(b.classes, ["c", "b"]);
    assert_eq!(b.train.len(), 6);
    assert_eq!(b.test.len(), 4);
    // Test folder "b" is class 1 of the training folder, kept as label 1.
    assert_eq!(b.class_counts(Part::Test), [2, 2]);

    gray_tree(&dir.path().join("test"), &["z"], 1);
    let msg = build(&s, 1).expect_err("z is no class").to_string();
    assert!(
        msg.contains("the folder 'z' is not one of the classes"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn computed_normalization_of_a_folder_is_kept_between_runs() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("train");
    let memory = gray_tree(&root, &["a", "b"], 3);
    let s = spec(&format!(
        r#"(source: ImageFolder(root: "{}", color: Grayscale), split: (validation: 0.0), normalize: None)"#,
        root.display()
    ));
    let files = build(&s, 1)?.train;
    let all: Vec<usize> = (0..6).collect();
    let cache = dir.path().join("cache");
    let exact = Normalization::compute(&memory, &all)?;
    assert_eq!(Normalization::compute_cached(&files, &all, &cache)?, exact);
    let entries: Vec<_> = fs_err::read_dir(&cache)?.collect::<Result<_, _>>()?;
    assert_eq!(entries.len(), 1, "one entry per (files, split)");
    // The next run reads the entry instead of decoding: an edited entry shows through.
    let entry = entries[0].path();
    fs_err::write(&entry, r#"{"mean": [0.5], "std": [0.25]}"#)?;
    let cached = Normalization::compute_cached(&files, &all, &cache)?;
    assert_eq!((cached.mean, cached.std), (vec![0.5], vec![0.25]));
    // Another split is another key.
    let first_four = Normalization::compute_cached(&files, &all[..4], &cache)?;
    assert_eq!(first_four, Normalization::compute(&memory, &all[..4])?);
    // A rewritten file (new length and time) is another key: computed afresh.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let rewritten = root.join("a").join("000.png");
    GrayImage::from_fn(4, 3, |_, _| image::Luma([200]))
        .save_with_format(&rewritten, image::ImageFormat::Png)
        .expect("rewrite png");
    let fresh = Normalization::compute_cached(&files, &all, &cache)?;
    assert_ne!(fresh.mean, vec![0.5]);
    assert_eq!(fresh, Normalization::compute(&files, &all)?);
    Ok(())
}
